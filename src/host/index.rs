//! Indexing from scripts: `index.ingest(["/src/repo"], #{collection: "Code"})`,
//! `index.errors(#{recent: 20})`, `index.reset_errors()`.

use super::{read, write, Args, Host, HostFn};
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
    o.only(&["collection", "rescan"])?;
    let mut options = SyncOptions::new(
        paths_arg(a)?,
        o.str("collection")?
            .unwrap_or_else(|| host.config.index.collection.clone()),
    );
    options.rescan = o.bool("rescan", false)?;
    index::sync(host, &options)
}

fn simulate_sync(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    Ok(json!({
        "dry_run": true,
        "collection": o.str("collection")?.unwrap_or_else(|| host.config.index.collection.clone()),
        "repositories": paths_arg(a)?,
    }))
}

fn errors(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    if o.get("reset").is_some() {
        // Removing is a write, so that --dry-run can intercept it.
        return Err(
            HostError::validation("index.errors() only reads the recorded errors")
                .with_hint("remove them with index.reset_errors()"),
        );
    }
    o.only(&["recent", "summary"])?;
    let recent = o.int_in("recent", 20, 1, 100_000)? as usize;
    if o.bool("summary", false)? {
        let all = index::errors(1_000_000)?;
        let mut by: BTreeMap<String, u64> = BTreeMap::new();
        for e in &all {
            *by.entry(e["category"].as_str().unwrap_or("unknown").to_string())
                .or_default() += 1;
        }
        return Ok(json!({"total": all.len(), "by_category": by}));
    }
    Ok(json!(index::errors(recent)?))
}

fn reset_errors(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"removed": index::reset_errors()?}))
}

fn simulate_reset_errors(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"dry_run": true, "removed": 0, "would_remove": index::errors(usize::MAX)?.len()}))
}

fn search(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    o.only(&["collection", "limit", "mode", "alpha", "content"])?;
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
    let o = a.opts(1)?;
    o.only(&["batch_size", "upload_concurrency", "embed_workers", "files"])?;
    let cfg = &host.config.index;
    let int = |k: &str, default: usize| -> HostResult<usize> {
        Ok(o.int(k)?.map_or(default, |v| v.clamp(0, 100_000) as usize))
    };
    index::tune::trial(
        host,
        paths_arg(a)?,
        &index::tune::Trial {
            batch_size: int("batch_size", cfg.batch_size)?,
            upload_concurrency: int("upload_concurrency", cfg.upload_concurrency)?,
            embed_workers: int("embed_workers", cfg.embed_workers)?,
            files: int("files", 400)?,
        },
    )
}

fn simulate_trial(_: &Host, a: &Args) -> HostResult<Value> {
    Ok(json!({"dry_run": true, "repositories": paths_arg(a)?}))
}

fn perf(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["runs"])?;
    index::perf(o.int_in("runs", 10, 1, 1000)? as usize)
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("index", "perf", "perf(opts?: map) -> map",
            "{live, runs}: the figures of a sync running now (files/s, chunks/s, upload latency and batch size percentiles, memory, retries, breaker states, open connections), or null; and the summaries of the last opts.runs = 10 runs, newest first.",
            perf),
        write("index", "ingest", "ingest(repositories: array|string, opts?: map) -> map",
            "Index repository folders into a collection (opts.collection, default index.collection): files that git would not ignore, read through memory maps, split along definitions with overlapping windows, upserted under deterministic IDs; a later run looks only at the files git says may have changed since the last finished sync (in a git checkout; every file elsewhere, or with opts.rescan = true), reads only those whose size or mtime changed and uploads only those whose content hash differs, and deletes the chunks of deleted or shrunk files. Files over index.max_file_bytes and binary files are skipped and logged once (index.errors: skipped_size, skipped_binary), keeping the chunks of a version indexed before. Only a collection index.ingest made is written to; any other is refused. Chunks get vectors from index.embedder (\"none\", \"static\" or \"minilm\"). Returns the run's figures, among them files_refused and objects_refused (objects Weaviate refused, logged and retried by the next run).",
            sync, Some(simulate_sync)),
        read("index", "search", "search(query: string, opts?: map) -> map",
            "Search an indexed collection (opts.collection, default index.collection): {collection, mode, embedder, hits: [{rank, repository, path, start_line, end_line, score, snippet, content?}]}. opts.mode: auto (hybrid where the chunks have vectors, else bm25), bm25, vector, hybrid (opts.alpha = 0.5 weighs the vector side); opts.limit = 10; opts.content = true adds each chunk's text. The query is embedded by the embedder the collection was indexed with.",
            search),
        write("index", "trial", "trial(repositories: array|string, opts?: map) -> map",
            "One trial sync for `index tune`: the first opts.files = 400 files of the repositories, through the whole pipeline with opts.batch_size, opts.upload_concurrency and opts.embed_workers (default: the config's), into a scratch collection at the cluster's replication factor and a store of its own, both removed afterwards. Returns {batch_size, upload_concurrency, embed_workers, embedder, files, chunks, seconds, chunks_per_s, upload_latency_ms, embed_latency_ms, retries}.",
            trial, Some(simulate_trial)),
        read("index", "errors", "errors(opts?: map) -> array|map",
            "Errors recorded by index runs, newest first (opts.recent = 20, 1 to 100000), and the files they skipped (too big: category skipped_size; binary: skipped_binary); opts.summary = true counts them by category. index.reset_errors() removes them.",
            errors),
        write("index", "reset_errors", "reset_errors() -> map",
            "Remove every recorded index error: {removed}. In a dry run nothing is removed: {dry_run, removed: 0, would_remove}.",
            reset_errors, Some(simulate_reset_errors)),
    ]
}
