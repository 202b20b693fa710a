//! The repository list for scripts: `repos.list()`, `repos.update(entries)`,
//! `repos.changed(path, since)`, `repos.last_synced(path, collection)`.

use super::{read, write, Args, Host, HostFn};
use crate::base::error::{HostError, HostResult};
use crate::index::{repos, store::Store, store_path};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn list(host: &Host, a: &Args) -> HostResult<Value> {
    let file = match a.opt_str(0)? {
        Some(f) => f,
        None if !host.config.repos.file.is_empty() => host.config.repos.file.clone(),
        None => {
            return Err(HostError::validation("no repository list is configured")
                .with_hint("set repos.file in the config or MGIT_REPOS_FILE, or pass --file"))
        }
    };
    Ok(json!(repos::read_list(Path::new(&file))?))
}

fn update(host: &Host, a: &Args) -> HostResult<Value> {
    let entries: Vec<String> = match a.value(0) {
        Value::Array(v) => v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s],
        _ => Vec::new(),
    };
    let cfg = &host.config.repos;
    let width = cfg.max_concurrent.max(1);
    let mut out = Vec::new();
    for group in entries.chunks(width) {
        crate::base::cancel::check_interrupt()?;
        let results: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|e| s.spawn(move || repos::update(cfg, e)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Value::Null))
                .collect()
        });
        out.extend(results);
    }
    Ok(json!(out))
}

fn simulate_update(_: &Host, a: &Args) -> HostResult<Value> {
    Ok(json!({"dry_run": true, "entries": a.value(0)}))
}

fn changed(_: &Host, a: &Args) -> HostResult<Value> {
    let path = PathBuf::from(a.str(0)?);
    Ok(json!(repos::changed_files(&path, a.opt_str(1)?.as_deref())))
}

fn last_synced(host: &Host, a: &Args) -> HostResult<Value> {
    let path = std::fs::canonicalize(a.str(0)?).map_err(|e| HostError::io("repository path", e))?;
    let collection = a
        .opt_str(1)?
        .unwrap_or_else(|| host.config.index.collection.clone());
    let store = Store::open(&store_path())?;
    Ok(store
        .repo(&collection, &path.display().to_string())?
        .map(|v| v["commit"].clone())
        .unwrap_or(Value::Null))
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("repos", "list", "list(file?: string) -> array",
            "The repository list: one entry (a path, a URL or user@host:path) per line, # comments; default repos.file (MGIT_REPOS_FILE). Anything else (a file under /proc, /sys, /dev or /run, not a regular text file, over 1 MiB, or with a line that is no repository) is refused without showing its content.", list),
        write("repos", "update", "update(entries: array) -> array",
            "Clone or fast-forward each repository (repos.clone_depth, repos.max_concurrent at once; a local working tree is used in place): [{entry, name, path, action, head} or {entry, error}].",
            update, Some(simulate_update)),
        read("repos", "changed", "changed(path: string, since?: string) -> int",
            "Files changed between commit `since` and HEAD (git diff --name-only); null when `since` is unknown, which means everything.", changed),
        read("repos", "last_synced", "last_synced(path: string, collection?: string) -> string",
            "The commit index sync last recorded for this repository and collection, or null.", last_synced),
    ]
}
