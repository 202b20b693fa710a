//! `index sync`: source repositories into a Weaviate collection. Each run
//! finds what changed since the last one (changes.rs), runs it through a
//! pipeline of threads (pipeline.rs) into a collection of its own kind
//! (schema.rs), and records what it did: the files in the store, failures
//! in the error log (error_log.rs), its figures live and at the end
//! (perf.rs). Running it twice never duplicates anything; killed at any
//! point, the next run finishes the job.

mod changes;
pub mod chunk;
mod error_log;
pub mod git;
mod perf;
mod pipeline;
mod rebuild;
pub mod repos;
mod schema;
pub mod search;
pub mod store;
pub mod tune;
pub mod upload;
mod vector_queue;
pub mod walk;

pub use error_log::{errors, reset_errors};
pub use perf::{live_path, perf};
pub use schema::{chunk_id, collection_embedder};

use crate::base::context::Context;
use crate::base::error::HostResult;
use crate::base::paths;
use crate::embed::Embedder;
use changes::{repo_runs, Changes};
use pipeline::{Destination, Pipeline, RecordUpdate};
use schema::ensure_collection;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;
use store::Store;

pub fn store_path() -> PathBuf {
    paths::env_data_dir().join("index.redb")
}

pub struct SyncOptions {
    pub paths: Vec<PathBuf>,
    pub collection: String,
    /// What was synced; `store_path()` but for trials.
    pub store: PathBuf,
    /// Index at most this many changed files, and delete nothing (a trial's sample).
    pub max_files: Option<usize>,
    /// Walk every file, even in a git checkout that git could tell about.
    pub rescan: bool,
    /// Re-create the collection the current way beside the old one, fill
    /// it, and switch the name over through an alias (rebuild.rs).
    pub rebuild: bool,
}

impl SyncOptions {
    pub fn new(paths: Vec<PathBuf>, collection: String) -> SyncOptions {
        SyncOptions {
            paths,
            collection,
            store: store_path(),
            max_files: None,
            rescan: false,
            rebuild: false,
        }
    }
}

pub(crate) fn node0_client(ctx: &Context) -> crate::clients::weaviate::WeaviateClient {
    crate::clients::weaviate::WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0))
}

/// One pipeline over every repository: a walker, chunk workers and
/// uploaders joined by bounded channels, so memory stays bounded and many
/// small repositories fill batches as well as one big one does.
pub fn sync(ctx: &Context, o: &SyncOptions) -> HostResult<Value> {
    let class = crate::clients::weaviate::class_name(&o.collection)?;
    crate::migrate::refuse_system_collection(&class, "index sync")?;
    if o.rebuild {
        return rebuild::rebuild(ctx, o, &class);
    }
    sync_into(ctx, o, &class)
}

/// One sync whose records the store keeps under `key` (the name the user
/// gives; a rebuild's new collection while it fills).
fn sync_into(ctx: &Context, o: &SyncOptions, key: &str) -> HostResult<Value> {
    let t0 = Instant::now();
    let embedder = Embedder::load(&ctx.config.index, &ctx.config.index.embedder, &ctx.rt)?;
    let embedder_name = embedder.as_ref().map_or("none", |e| e.name());
    let store = Store::open(&o.store)?;
    let mut repos = repo_runs(
        &o.paths,
        &store,
        key,
        o.rescan,
        ctx.config.index.max_file_bytes,
    )?;
    let uploader = upload::Uploader::new(ctx)?;
    let target = ensure_collection(ctx, key, embedder_name)?;
    if target.created {
        // A new collection holds nothing the store remembers (it may have
        // been deleted since): every file is uploaded again.
        store.forget_collection(key)?;
        for r in &mut repos {
            r.known.clear();
            r.changes = Changes::Scan {
                reason: "the collection was created by this run".into(),
            };
        }
    }
    let bar = ctx.out.progress_start("index", None);
    let p = Pipeline::new(
        ctx,
        Destination {
            class: &target.class,
            store_key: key,
        },
        &repos,
        &store,
        &uploader,
        embedder.as_ref(),
        bar,
    );
    let (seen, failures) = match p.run(o.max_files, t0) {
        Ok(j) => j,
        Err(e) => {
            ctx.out.progress_done(bar, None);
            return Err(e);
        }
    };
    let totals = &p.totals;
    let errors = std::mem::take(&mut *p.errors.lock().unwrap());
    let skips = std::mem::take(&mut *p.skips.lock().unwrap());
    if let Some(e) = failures.into_iter().next() {
        ctx.out.progress_done(bar, None);
        store.add_errors(&errors)?;
        store.add_errors(&skips)?;
        return Err(e);
    }
    // Files gone since the last run: their chunks go too. A sample walked
    // only part of the tree, so it knows of no deletion.
    let mut forget: Vec<RecordUpdate> = Vec::new();
    let (mut deleted_files, mut deleted_chunks) = (0usize, 0usize);
    for (i, r) in repos.iter().enumerate().filter(|_| o.max_files.is_none()) {
        for (path, rec) in r.known.iter().filter(|(path, _)| seen[i].is_gone(path)) {
            let ids: Vec<String> = (0..rec.chunks).map(|k| chunk_id(&r.key, path, k)).collect();
            deleted_chunks += uploader.delete(ctx, &target.class, &ids)?;
            deleted_files += 1;
            forget.push((i, path.clone(), None));
        }
    }
    p.put_records(&forget)?;
    store.add_errors(&skips)?;
    store.add_errors(&errors)?;
    // What git change detection starts from next time; a sample is not a finished sync.
    let synced_at = error_log::now_rfc3339();
    if o.max_files.is_none() {
        store.put_repos(
            key,
            repos
                .iter()
                .map(|r| (r.key.as_str(), r.next_state(&errors, &synced_at))),
        )?;
    }
    ctx.out.progress_done(bar, None);
    // Without vectors there is no queue; with them, "searchable" waits for it.
    let vector_queue = match embedder {
        Some(_) => vector_queue::drain(ctx, &target.class),
        None => Value::Null,
    };
    let per_repo: Vec<Value> = repos
        .iter()
        .map(|r| {
            let n = error_log::of_repo(&errors, &r.key).count();
            let mut v = json!({"repository": r.key, "commit": r.commit, "errors": n});
            r.describe_changes(&mut v);
            v
        })
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    let changed = totals.files_changed.load(Ordering::Relaxed);
    let chunks = totals.chunks.load(Ordering::Relaxed);
    let mut summary = json!({
        "collection": key,
        "class": target.class,
        "schema_outdated": target.outdated,
        "repositories": per_repo,
        "files_seen": totals.files_seen.load(Ordering::Relaxed),
        "files_indexed": changed,
        "files_unchanged_content": totals.files_same.load(Ordering::Relaxed),
        "files_skipped": totals.skipped.load(Ordering::Relaxed),
        "files_deleted": deleted_files,
        "chunks_uploaded": chunks,
        "chunks_deleted": deleted_chunks,
        "errors": errors.len(),
        "files_refused": totals.files_refused.load(Ordering::Relaxed),
        "objects_refused": totals.objects_refused.load(Ordering::Relaxed),
        "retries": uploader.retries.load(Ordering::Relaxed),
        "breakers": uploader.breaker_states().into_iter().collect::<HashMap<_, _>>(),
        "seconds": (secs * 1000.0).round() / 1000.0,
        "files_per_s": perf::per_second(changed, secs),
        "chunks_per_s": perf::per_second(chunks, secs),
        "peak_rss_bytes": perf::memory().1,
        "embedder": embedder_name,
        "vector_queue": vector_queue,
        "finished": error_log::now_rfc3339(),
    });
    if let (Some(m), Value::Object(f)) = (summary.as_object_mut(), p.figures()) {
        m.extend(f);
    }
    let _ = std::fs::remove_file(live_path());
    store.add_run(&summary)?;
    Ok(summary)
}
