//! The repository list for scripts: `repos.list()`, `repos.update(entries)`,
//! `repos.changed(path, since)`, `repos.last_synced(path, collection)`.

use super::{read, write, Args, Host, HostFn, Ty};
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
    Ok(json!(capped(host, repos::read_list(Path::new(&file))?)))
}

/// The first repos.max_repos entries (MGIT_MAX_REPOS), saying so when the
/// list is longer.
fn capped(host: &Host, mut entries: Vec<String>) -> Vec<String> {
    let max = host.config.repos.max_repos;
    if max > 0 && entries.len() > max {
        host.out.warn(&format!(
            "the list has {} repositories; repos.max_repos (MGIT_MAX_REPOS) = {max}: the first {max} are used",
            entries.len()
        ));
        entries.truncate(max);
    }
    entries
}

/// The folders of the configured list, for the commands that take folders
/// and were given none (as the original tool's `index sync` did).
fn local_paths(host: &Host, _: &Args) -> HostResult<Value> {
    let file = &host.config.repos.file;
    if file.is_empty() {
        return Err(HostError::validation(
            "no folders given, and no repository list is configured to take them from",
        )
        .with_hint("name the folders (e.g. `elysiactl index sync ~/src/myrepo`), or set repos.file in the config or MGIT_REPOS_FILE (MGIT_REPOS_LIST) to a list"));
    }
    let (mut present, mut missing) = (Vec::new(), Vec::new());
    for entry in capped(host, repos::read_list(Path::new(file))?) {
        let path = repos::local_path(&host.config.repos, &entry);
        match std::fs::canonicalize(&path) {
            Ok(p) if p.is_dir() => present.push(json!(p)),
            _ => missing.push(json!(entry)),
        }
    }
    Ok(json!({"file": file, "present": present, "missing": missing}))
}

fn update(host: &Host, a: &Args) -> HostResult<Value> {
    let entries = entries(a);
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

fn entries(a: &Args) -> Vec<String> {
    match a.value(0) {
        Value::Array(v) => v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s],
        _ => Vec::new(),
    }
}

/// Plan fact: a folder this dry run would have cloned (it does not exist yet).
fn planned_clone_key(path: &Value) -> String {
    format!("repos.planned_clone.{}", path.as_str().unwrap_or_default())
}

/// Each entry's answer as the update would give it, nothing fetched.
fn simulate_update(host: &Host, a: &Args) -> HostResult<Value> {
    let rows: Vec<Value> = entries(a)
        .iter()
        .map(|e| {
            let mut row = repos::plan_update(&host.config.repos, e);
            if row["action"] == "cloned" {
                host.plan
                    .set_fact(&planned_clone_key(&row["path"]), json!(true));
            }
            row["dry_run"] = json!(true);
            row
        })
        .collect();
    Ok(json!(rows))
}

fn changed(_: &Host, a: &Args) -> HostResult<Value> {
    let path = PathBuf::from(a.str(0)?);
    Ok(json!(repos::changed_files(&path, a.opt_str(1)?.as_deref())))
}

fn last_synced(host: &Host, a: &Args) -> HostResult<Value> {
    let given = a.str(0)?;
    if host.dry_run && host.plan.fact(&planned_clone_key(&json!(given))).is_some() {
        // Cloned only in this dry run: never synced.
        return Ok(Value::Null);
    }
    let path = std::fs::canonicalize(&given).map_err(|e| HostError::io("repository path", e))?;
    let collection = a
        .opt_str(1)?
        .unwrap_or_else(|| host.config.index.collection.clone());
    // Opening the store creates it: with none there, nothing was synced.
    if !store_path().exists() {
        return Ok(Value::Null);
    }
    let store = Store::open(&store_path())?;
    Ok(store
        .repo(&collection, &path.display().to_string())?
        .map(|v| v["commit"].clone())
        .unwrap_or(Value::Null))
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("repos", "list", list)
            .optional("file", Ty::Str)
            .returns(Ty::array(Ty::Str))
            .doc("The repository list: one entry (a path, a URL or user@host:path) per line, # comments; default repos.file (MGIT_REPOS_FILE). Anything else (a file under /proc, /sys, /dev or /run, not a regular text file, over 1 MiB, or with a line that is no repository) is refused without showing its content."),
        read("repos", "local_paths", local_paths)
            .returns(Ty::record(&["file", "present", "missing"]))
            .doc("The folders of the configured repository list (repos.file): {file, present: [folders there now], missing: [entries not cloned yet]}. Refused when no list is configured."),
        write("repos", "update", update, simulate_update)
            .param("entries", Ty::list_of(Ty::Str))
            .returns(Ty::array(Ty::Either(vec![
                Ty::record(&["entry", "name", "path", "action", "head"]),
                Ty::record(&["entry", "error"]),
            ])))
            .doc("Clone or fast-forward each repository (repos.clone_depth, repos.max_concurrent at once; a local working tree is used in place): [{entry, name, path, action, head} or {entry, error}]. In a dry run nothing is fetched: action says what would be done, head is the commit now."),
        read("repos", "changed", changed)
            .param("path", Ty::Str)
            .optional("since", Ty::Str)
            .returns(Ty::Int.or_null())
            .doc("Files changed between commit `since` and HEAD (git diff --name-only); null when `since` is unknown, which means everything."),
        read("repos", "last_synced", last_synced)
            .param("path", Ty::Str)
            .optional("collection", Ty::Str)
            .returns(Ty::Str.or_null())
            .doc("The commit index sync last recorded for this repository and collection, or null."),
    ]
}
