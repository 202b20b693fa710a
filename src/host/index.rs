//! Indexing from scripts: `index.ingest(["/src/repo"], #{collection: "Code"})`,
//! `index.errors(#{recent: 20})`, `index.reset_errors()`.

use super::{opt, read, refused, write, Args, Host, HostFn, Ty};
use crate::base::config::EmbedderKind;
use crate::base::error::{HostError, HostResult};
use crate::index::{self, SyncOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn paths_arg(a: &Args) -> HostResult<Vec<PathBuf>> {
    let list: Vec<PathBuf> = match a.value(0) {
        Value::String(s) => vec![PathBuf::from(s)],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(PathBuf::from))
            .collect(),
        _ => Vec::new(),
    };
    if list.is_empty() {
        return Err(
            HostError::validation("index.ingest() needs one or more repository folders")
                .with_hint("e.g. index.ingest([\"/src/my-repo\"])"),
        );
    }
    Ok(list)
}

fn sync(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    let mut options = SyncOptions::new(
        paths_arg(a)?,
        o.str("collection")?
            .unwrap_or_else(|| host.config.index.collection.clone()),
    );
    options.rescan = o.bool("rescan", false)?;
    options.rebuild = o.bool("rebuild", false)?;
    index::sync(host, &options)
}

fn collection_of(host: &Host, a: &Args) -> HostResult<String> {
    Ok(a.opts(1)?
        .str("collection")?
        .unwrap_or_else(|| host.config.index.collection.clone()))
}

/// The repositories as a run would take them: folders that exist.
fn existing_folders(a: &Args) -> HostResult<Vec<PathBuf>> {
    paths_arg(a)?
        .iter()
        .map(|p| {
            std::fs::canonicalize(p).map_err(|e| {
                HostError::io(format!("repository {}", p.display()), e).with_hint(
                    "give the folder of a repository (a git checkout or any source tree)",
                )
            })
        })
        .collect()
}

fn embedder_name(host: &Host) -> &'static str {
    host.config
        .index
        .embedder_kind()
        .map_or("none", EmbedderKind::as_str)
}

/// A run's figures with nothing done: what a dry run of a sync reports.
fn simulate_sync(host: &Host, a: &Args) -> HostResult<Value> {
    let collection = collection_of(host, a)?;
    crate::clients::weaviate::class_name(&collection)?;
    let repositories: Vec<Value> = existing_folders(a)?
        .iter()
        .map(|p| json!({"repository": p, "commit": null, "errors": 0}))
        .collect();
    Ok(json!({
        "collection": collection, "repositories": repositories, "files_seen": 0,
        "files_indexed": 0, "files_unchanged_content": 0, "files_skipped": 0,
        "files_deleted": 0, "chunks_uploaded": 0, "chunks_deleted": 0, "errors": 0,
        "files_refused": 0, "objects_refused": 0, "retries": 0, "seconds": 0.0,
        "embedder": embedder_name(host), "dry_run": true,
        "rebuild": a.opts(1)?.bool("rebuild", false)?,
    }))
}

/// The recorded errors without opening the store: opening creates it, and
/// a read (or a dry run) must leave the disk as it found it.
fn recorded_errors(limit: usize) -> HostResult<Vec<Value>> {
    if !index::store_path().exists() {
        return Ok(Vec::new());
    }
    index::errors(limit)
}

fn errors(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let recent = o.int_in("recent", 20, 1, 100_000)? as usize;
    if o.bool("summary", false)? {
        let all = recorded_errors(1_000_000)?;
        let mut by: BTreeMap<String, u64> = BTreeMap::new();
        for e in &all {
            *by.entry(e["category"].as_str().unwrap_or("unknown").to_string())
                .or_default() += 1;
        }
        return Ok(json!({"total": all.len(), "by_category": by}));
    }
    Ok(json!(recorded_errors(recent)?))
}

fn reset_errors(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"removed": index::reset_errors()?}))
}

fn simulate_reset_errors(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"dry_run": true, "removed": 0, "would_remove": recorded_errors(usize::MAX)?.len()}))
}

fn search(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    index::search::search(
        host,
        &index::search::SearchOptions {
            query: a.str(0)?,
            collection: o
                .str("collection")?
                .unwrap_or_else(|| host.config.index.collection.clone()),
            limit: o.int_in("limit", 10, 1, 1000)? as usize,
            mode: o.str("mode")?.unwrap_or_else(|| "auto".into()),
            alpha: o.float("alpha")?.unwrap_or(0.5),
            content: o.bool("content", false)?,
        },
    )
}

fn trial(host: &Host, a: &Args) -> HostResult<Value> {
    index::tune::trial(host, paths_arg(a)?, &trial_settings(host, a)?)
}

fn trial_settings(host: &Host, a: &Args) -> HostResult<index::tune::Trial> {
    let o = a.opts(1)?;
    let cfg = &host.config.index;
    let int = |k: &str, default: usize| -> HostResult<usize> {
        Ok(o.int(k)?.map_or(default, |v| v.clamp(0, 100_000) as usize))
    };
    Ok(index::tune::Trial {
        batch_size: int("batch_size", cfg.batch_size)?,
        upload_concurrency: int("upload_concurrency", cfg.upload_concurrency)?,
        embed_workers: int("embed_workers", cfg.embed_workers)?,
        files: int("files", 400)?,
    })
}

/// The trial's settings, and no measurements: nothing ran.
fn simulate_trial(host: &Host, a: &Args) -> HostResult<Value> {
    existing_folders(a)?;
    let t = trial_settings(host, a)?;
    Ok(json!({
        "batch_size": t.batch_size, "upload_concurrency": t.upload_concurrency,
        "embed_workers": t.embed_workers, "embedder": embedder_name(host), "files": 0,
        "chunks": 0, "seconds": 0.0, "chunks_per_s": 0.0, "upload_latency_ms": null,
        "embed_latency_ms": null, "retries": 0, "dry_run": true,
    }))
}

fn perf(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    index::perf(o.int_in("runs", 10, 1, 1000)? as usize)
}

pub fn functions() -> Vec<HostFn> {
    let repositories = || Ty::list_of(Ty::Str);
    let run = || {
        Ty::record(&[
            "collection",
            "repositories",
            "files_seen",
            "files_indexed",
            "files_deleted",
            "chunks_uploaded",
            "chunks_deleted",
            "errors",
            "seconds",
            "embedder",
        ])
    };
    vec![
        read("index", "perf", perf)
            .opts(vec![opt("runs", Ty::Int)])
            .returns(Ty::record(&["live", "runs"]))
            .doc("{live, runs}: the figures of a sync running now (files/s, chunks/s, upload latency and batch size percentiles, memory, retries, breaker states, open connections), or null; and the summaries of the last opts.runs = 10 runs, newest first."),
        write("index", "ingest", sync, simulate_sync)
            .param("repositories", repositories())
            .opts(vec![
                opt("collection", Ty::Str),
                opt("rescan", Ty::Bool),
                opt("rebuild", Ty::Bool),
            ])
            .returns(run())
            .doc("Index repository folders into a collection (opts.collection, default index.collection): files that git would not ignore, read through memory maps, split along definitions with overlapping windows, upserted under deterministic IDs; a later run looks only at the files git says may have changed since the last finished sync (in a git checkout; every file elsewhere, or with opts.rescan = true), reads only those whose size or mtime changed and uploads only those whose content hash differs, and deletes the chunks of deleted or shrunk files. Files over index.max_file_bytes and binary files are skipped and logged once (index.errors: skipped_size, skipped_binary), keeping the chunks of a version indexed before. Only a collection index.ingest made is written to; any other is refused. Chunks get vectors from index.embedder (\"none\", \"static\" or \"minilm\"). Returns the run's figures, among them files_refused and objects_refused (objects Weaviate refused, logged and retried by the next run), class (the collection written, an alias's target), schema_outdated (why an existing collection's indexing is not what index sync creates now, or null) and, with opts.rebuild = true, rebuilt: the collection is re-created the current way beside the old one under a versioned name (Code_v2, …), filled from every file, and the name switched to it through an alias, so searches by that name never stop answering ({from, to, was_outdated, swap, swap_ms}; the old collection is dropped after the switch)."),
        read("index", "search", search)
            .param("query", Ty::Str)
            .opts(vec![
                opt("collection", Ty::Str),
                opt("limit", Ty::Int),
                opt("mode", Ty::one_of(["auto", "bm25", "vector", "hybrid"])),
                opt("alpha", Ty::Number),
                opt("content", Ty::Bool),
            ])
            .returns(Ty::record(&["collection", "mode", "embedder", "hits"]))
            .doc("Search an indexed collection (opts.collection, default index.collection): {collection, mode, embedder, hits: [{rank, repository, path, start_line, end_line, score, snippet, content?}]}. opts.mode: auto (hybrid where the chunks have vectors, else bm25), bm25, vector, hybrid (opts.alpha = 0.5 weighs the vector side); opts.limit = 10; opts.content = true adds each chunk's text. The query is embedded by the embedder the collection was indexed with."),
        write("index", "trial", trial, simulate_trial)
            .param("repositories", repositories())
            .opts(vec![
                opt("batch_size", Ty::Int),
                opt("upload_concurrency", Ty::Int),
                opt("embed_workers", Ty::Int),
                opt("files", Ty::Int),
            ])
            .returns(Ty::record(&[
                "batch_size", "upload_concurrency", "embed_workers", "embedder", "files",
                "chunks", "seconds", "chunks_per_s", "upload_latency_ms", "embed_latency_ms",
                "retries",
            ]))
            .doc("One trial sync for `index tune`: the first opts.files = 400 files of the repositories, through the whole pipeline with opts.batch_size, opts.upload_concurrency and opts.embed_workers (default: the config's), into a scratch collection at the cluster's replication factor and a store of its own, both removed afterwards. Returns {batch_size, upload_concurrency, embed_workers, embedder, files, chunks, seconds, chunks_per_s, upload_latency_ms, embed_latency_ms, retries}."),
        read("index", "errors", errors)
            .opts(vec![
                opt("recent", Ty::Int),
                opt("summary", Ty::Bool),
                // Removing is a write, which a read cannot do.
                refused("reset", "remove them with index.reset_errors()"),
            ])
            .returns(Ty::Either(vec![
                Ty::array(Ty::Map),
                Ty::record(&["total", "by_category"]),
            ]))
            .doc("Errors recorded by index runs, newest first (opts.recent = 20, 1 to 100000), and the files they skipped (too big: category skipped_size; binary: skipped_binary); opts.summary = true counts them by category. index.reset_errors() removes them."),
        write("index", "reset_errors", reset_errors, simulate_reset_errors)
            .returns(Ty::record(&["removed"]))
            .doc("Remove every recorded index error: {removed}. In a dry run nothing is removed: {dry_run, removed: 0, would_remove}."),
    ]
}
