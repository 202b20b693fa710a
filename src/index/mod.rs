//! `index sync`: source repositories into a Weaviate collection, as a
//! pipeline of bounded channels (crossbeam): a walker finds files that
//! changed since the last run (size and mtime first, then the content hash),
//! chunk workers read them through memory maps and split them, uploaders
//! batch-upsert the chunks under deterministic IDs and only then record the
//! file as done. Running it twice never duplicates anything; killed at any
//! point, the next run finishes the job.

pub mod chunk;
pub mod repos;
pub mod store;
pub mod upload;
pub mod walk;

use crate::error::{Category, HostError, HostResult};
use crate::host::Host;
use crate::paths;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use store::{FileRecord, Store};

pub fn store_path() -> PathBuf {
    paths::data_dir().join("index.redb")
}

/// Figures of the run in progress, rewritten every half second for `index perf`.
pub fn live_path() -> PathBuf {
    paths::state_dir().join("index-live.json")
}

/// (resident, peak resident) bytes of this process.
fn memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// The object ID of chunk `i` of a file: the same input, the same ID.
pub fn chunk_id(repo: &str, path: &str, i: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("elysiactl-index:{repo}:{path}:{i}").as_bytes(),
    )
    .to_string()
}

pub struct SyncOptions {
    pub paths: Vec<PathBuf>,
    pub collection: String,
}

/// One file that needs (re)uploading.
struct Prepared {
    rel: String,
    record: FileRecord,
    objects: Vec<Value>,
    old_chunks: usize,
}

enum Work {
    /// Changed: chunks to upload.
    Upload(Prepared),
    /// Touched but the same content: only the record changes.
    Same(String, FileRecord),
    /// Binary: remembered (so it is not read again) but not indexed.
    Skip(String, FileRecord),
}

#[derive(Default)]
struct Counters {
    files_seen: AtomicUsize,
    files_changed: AtomicUsize,
    files_same: AtomicUsize,
    chunks: AtomicUsize,
    skipped: AtomicUsize,
}

fn git_head(repo: &Path) -> Option<String> {
    if !repo.join(".git").exists() {
        return None;
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The chunk collection: keyword-searchable text plus metadata, at the
/// replication factor the cluster expects.
fn ensure_collection(host: &Host, collection: &str) -> HostResult<()> {
    let spec = host.config.weaviate.node(0);
    let c = crate::clients::weaviate::WeaviateClient::for_node(
        host.http.clone(),
        &spec,
        &host.config.weaviate.api_key,
    );
    if host.block_on(c.class_exists(collection))? {
        return Ok(());
    }
    let text = |n: &str| json!({"name": n, "dataType": ["text"]});
    let int = |n: &str| json!({"name": n, "dataType": ["int"]});
    let def = json!({
        "class": collection,
        "description": "Source code chunks written by elysiactl index sync",
        "vectorizer": "none",
        "replicationConfig": {"factor": host.config.weaviate.expected_replication_factor()},
        "properties": [text("content"), text("repository"), text("path"), text("language"),
                       int("chunk_index"), int("start_line"), int("end_line"), text("commit"), text("content_hash")],
    });
    host.block_on(c.create_class(&def)).map(|_| ())
}

fn error_record(category: Category, repo: &str, file: &str, message: &str) -> Value {
    json!({
        "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "category": category.as_str(), "repository": repo, "file": file, "message": message,
    })
}

/// Read, hash and chunk one file. Err is a recorded, skipped file.
fn prepare(
    host: &Host,
    repo: &str,
    repo_name: &str,
    commit: &str,
    collection: &str,
    f: &walk::Found,
    old: Option<&FileRecord>,
) -> Result<Work, Value> {
    let cfg = &host.config.index;
    let file = std::fs::File::open(&f.abs)
        .map_err(|e| error_record(Category::FileSystem, repo, &f.rel, &e.to_string()))?;
    // An empty file cannot be mapped; it has no chunks either.
    let bytes: Vec<u8>;
    let map;
    let data: &[u8] = if f.size == 0 {
        bytes = Vec::new();
        &bytes
    } else {
        // SAFETY: the map is read-only and dropped before this returns; a file
        // truncated meanwhile by someone else is the documented risk of mmap,
        // accepted for read speed (the content hash catches changed content).
        map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| error_record(Category::FileSystem, repo, &f.rel, &e.to_string()))?;
        &map[..]
    };
    let hash = blake3::hash(data).to_hex().to_string();
    let record = |chunks| FileRecord {
        size: f.size,
        mtime_ns: f.mtime_ns,
        hash: hash.clone(),
        chunks,
    };
    if let Some(o) = old {
        if o.hash == hash {
            return Ok(Work::Same(f.rel.clone(), record(o.chunks)));
        }
    }
    if walk::looks_binary(data) {
        return Ok(match old.map(|o| o.chunks).unwrap_or(0) {
            // It was text before: its old chunks must go.
            n if n > 0 => Work::Upload(Prepared {
                rel: f.rel.clone(),
                record: record(0),
                objects: Vec::new(),
                old_chunks: n,
            }),
            _ => Work::Skip(f.rel.clone(), record(0)),
        });
    }
    let text = std::str::from_utf8(data)
        .map_err(|e| error_record(Category::Encoding, repo, &f.rel, &format!("not UTF-8: {e}")))?;
    let language = walk::language(&f.rel);
    let chunks = chunk::chunk(text, cfg.chunk_lines, cfg.overlap_lines);
    let objects = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "class": collection,
                "id": chunk_id(repo, &f.rel, i),
                "properties": {
                    "content": c.text, "repository": repo_name, "path": f.rel, "language": language,
                    "chunk_index": i, "start_line": c.start_line, "end_line": c.end_line,
                    "commit": commit, "content_hash": hash,
                },
            })
        })
        .collect::<Vec<_>>();
    Ok(Work::Upload(Prepared {
        rel: f.rel.clone(),
        record: record(objects.len()),
        objects,
        old_chunks: old.map(|o| o.chunks).unwrap_or(0),
    }))
}

pub fn sync(host: &Host, o: &SyncOptions) -> HostResult<Value> {
    let t0 = Instant::now();
    if host.config.index.embedder != "none" {
        return Err(HostError::validation(format!(
            "index.embedder = {:?} is not built yet; only \"none\" (keyword search) is",
            host.config.index.embedder
        ))
        .with_hint("set index.embedder = \"none\" in the config"));
    }
    let mut repos = Vec::new();
    for p in &o.paths {
        let canon = std::fs::canonicalize(p).map_err(|e| {
            HostError::io(format!("cannot index {}", p.display()), e)
                .with_hint("give the folder of a repository (a git checkout or any source tree)")
        })?;
        if !canon.is_dir() {
            return Err(
                HostError::validation(format!("{} is not a folder", p.display()))
                    .with_hint("give the folder of a repository, not a file"),
            );
        }
        repos.push(canon);
    }
    crate::clients::weaviate::class_name(&o.collection)?;
    ensure_collection(host, &o.collection)?;
    let store = Store::open(&store_path())?;
    let uploader = upload::Uploader::new(host);
    let mut per_repo = Vec::new();
    let mut all_errors = 0usize;
    let totals = Counters::default();
    let mut deleted_files = 0usize;
    let mut deleted_chunks = 0usize;
    let bar = host.out.progress_start("index", None);
    for repo_path in &repos {
        let repo = repo_path.display().to_string();
        let repo_name = repo_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or(repo.clone());
        let commit = git_head(repo_path).unwrap_or_default();
        let known = store.files(&o.collection, &repo)?;
        let seen: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        let errors: Mutex<Vec<Value>> = Mutex::new(Vec::new());
        let failed: Mutex<Option<HostError>> = Mutex::new(None);
        let cfg = &host.config.index;
        let (task_tx, task_rx) = crossbeam_channel::bounded::<walk::Found>(512);
        let (work_tx, work_rx) = crossbeam_channel::bounded::<Work>(64);
        // The threads share these by reference (and own their channel ends).
        let (totals, seen_r, errors_r, failed_r, known_r) =
            (&totals, &seen, &errors, &failed, &known);
        let (repo_r, repo_name_r, commit_r, store_r, uploader_r) =
            (&repo, &repo_name, &commit, &store, &uploader);
        let done = std::sync::atomic::AtomicBool::new(false);
        let done_r = &done;
        // The reporter lives in an outer scope: it stops when the pipeline's scope has joined.
        std::thread::scope(|outer| {
            // Reporter: the live figures `index perf` shows while this runs.
            outer.spawn(move || {
                let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
                while !done_r.load(Ordering::Relaxed) {
                    let secs = t0.elapsed().as_secs_f64().max(0.001);
                    let (files, chunks) =
                        (totals.files_changed.load(Ordering::Relaxed), totals.chunks.load(Ordering::Relaxed));
                    let (rss, peak) = memory();
                    let mut live = json!({
                        "pid": std::process::id(), "started": started, "repository": repo_r,
                        "files_seen": totals.files_seen.load(Ordering::Relaxed), "files_indexed": files,
                        "chunks_uploaded": chunks, "files_per_s": (files as f64 / secs * 10.0).round() / 10.0,
                        "chunks_per_s": (chunks as f64 / secs * 10.0).round() / 10.0,
                        "rss_bytes": rss, "peak_rss_bytes": peak, "retries": uploader_r.retries.load(Ordering::Relaxed),
                        "breakers": uploader_r.breaker_states().into_iter().collect::<HashMap<_, _>>(),
                        "open_connections": host.config.index.upload_concurrency,
                    });
                    if let (Some(m), Value::Object(f)) = (live.as_object_mut(), uploader_r.figures()) {
                        m.extend(f);
                    }
                    let tmp = live_path().with_extension("json.tmp");
                    if std::fs::write(&tmp, live.to_string()).is_ok() {
                        let _ = std::fs::rename(&tmp, live_path());
                    }
                    for _ in 0..10 {
                        if done_r.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                }
            });
            std::thread::scope(|s| {
                // Walker: unchanged size and mtime means unchanged; no read.
                s.spawn(move || {
                    let (seen, errors, known, repo) = (seen_r, errors_r, known_r, repo_r);
                    for item in walk::walk(repo_path) {
                        match item {
                            Ok(f) => {
                                totals.files_seen.fetch_add(1, Ordering::Relaxed);
                                seen.lock().unwrap().insert(f.rel.clone());
                                // Too big to be source: left out by design, not an error.
                                if f.size > cfg.max_file_bytes {
                                    totals.skipped.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                                if let Some(k) = known.get(&f.rel) {
                                    if k.size == f.size && k.mtime_ns == f.mtime_ns {
                                        continue;
                                    }
                                }
                                if task_tx.send(f).is_err() {
                                    return;
                                }
                            }
                            Err((p, e)) => errors.lock().unwrap().push(error_record(
                                Category::FileSystem,
                                repo,
                                &p.display().to_string(),
                                &e,
                            )),
                        }
                    }
                    drop(task_tx);
                });
                // Chunkers.
                for _ in 0..cfg.chunk_workers.max(1) {
                    let task_rx = task_rx.clone();
                    let work_tx = work_tx.clone();
                    let (known, errors, repo, repo_name, commit) =
                        (known_r, errors_r, repo_r, repo_name_r, commit_r);
                    s.spawn(move || {
                        for f in task_rx {
                            match prepare(
                                host,
                                repo,
                                repo_name,
                                commit,
                                &o.collection,
                                &f,
                                known.get(&f.rel),
                            ) {
                                Ok(w) => {
                                    if work_tx.send(w).is_err() {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    totals.skipped.fetch_add(1, Ordering::Relaxed);
                                    errors.lock().unwrap().push(e);
                                }
                            }
                        }
                    });
                }
                drop(task_rx);
                drop(work_tx);
                // Uploaders: whole files per batch, recorded only once written.
                for _ in 0..cfg.upload_concurrency.max(1) {
                    let work_rx = work_rx.clone();
                    let (store, uploader, errors, failed, repo) =
                        (store_r, uploader_r, errors_r, failed_r, repo_r);
                    s.spawn(move || {
                        let mut batch: Vec<Prepared> = Vec::new();
                        let mut same: Vec<(String, Option<FileRecord>)> = Vec::new();
                        let flush = |batch: &mut Vec<Prepared>,
                                     same: &mut Vec<(String, Option<FileRecord>)>|
                         -> HostResult<()> {
                            if !same.is_empty() {
                                store.put_files(&o.collection, repo, same)?;
                                same.clear();
                            }
                            if batch.is_empty() {
                                return Ok(());
                            }
                            let objects: Vec<Value> = batch
                                .iter()
                                .flat_map(|p| p.objects.iter().cloned())
                                .collect();
                            // Which file each object belongs to, to blame the right one.
                            let owner: Vec<usize> = batch
                                .iter()
                                .enumerate()
                                .flat_map(|(i, p)| std::iter::repeat_n(i, p.objects.len()))
                                .collect();
                            let mut refused: HashMap<usize, String> = HashMap::new();
                            let size = cfg.batch_size.max(1);
                            for (k, part) in objects.chunks(size).enumerate() {
                                for (i, msg) in uploader.upsert(host, part)? {
                                    refused.entry(owner[k * size + i]).or_insert(msg);
                                }
                            }
                            let mut done = Vec::new();
                            for (i, p) in batch.drain(..).enumerate() {
                                if let Some(msg) = refused.get(&i) {
                                    // Not recorded as done: the next run tries it again.
                                    errors.lock().unwrap().push(error_record(
                                        Category::Weaviate,
                                        repo,
                                        &p.rel,
                                        &format!("objects were refused: {msg}"),
                                    ));
                                    continue;
                                }
                                // Chunks past the new end belonged to the old version.
                                if p.old_chunks > p.record.chunks {
                                    let stale: Vec<String> = (p.record.chunks..p.old_chunks)
                                        .map(|i| chunk_id(repo, &p.rel, i))
                                        .collect();
                                    uploader.delete(host, &o.collection, &stale)?;
                                }
                                totals.chunks.fetch_add(p.objects.len(), Ordering::Relaxed);
                                totals.files_changed.fetch_add(1, Ordering::Relaxed);
                                done.push((p.rel, Some(p.record)));
                            }
                            store.put_files(&o.collection, repo, &done)?;
                            let n = totals.files_changed.load(Ordering::Relaxed);
                            let c = totals.chunks.load(Ordering::Relaxed);
                            let secs = t0.elapsed().as_secs_f64().max(0.001);
                            host.out.progress_set(
                                bar,
                                None,
                                Some(&format!(
                                    "{n} files, {c} chunks, {:.0} files/s",
                                    n as f64 / secs
                                )),
                            );
                            Ok(())
                        };
                        let mut pending = 0;
                        for w in work_rx {
                            match w {
                                Work::Same(rel, rec) => {
                                    totals.files_same.fetch_add(1, Ordering::Relaxed);
                                    same.push((rel, Some(rec)));
                                }
                                Work::Skip(rel, rec) => {
                                    totals.skipped.fetch_add(1, Ordering::Relaxed);
                                    same.push((rel, Some(rec)));
                                }
                                Work::Upload(p) => {
                                    pending += p.objects.len();
                                    batch.push(p);
                                }
                            }
                            if pending >= cfg.batch_size || same.len() >= 1000 {
                                if let Err(e) = flush(&mut batch, &mut same) {
                                    *failed.lock().unwrap() = Some(e);
                                    return;
                                }
                                pending = 0;
                            }
                        }
                        if let Err(e) = flush(&mut batch, &mut same) {
                            *failed.lock().unwrap() = Some(e);
                        }
                    });
                }
                drop(work_rx);
            });
            done.store(true, Ordering::Relaxed);
        });
        if let Some(e) = failed.into_inner().unwrap() {
            host.out.progress_done(bar, None);
            store.add_errors(&errors.into_inner().unwrap())?;
            return Err(e);
        }
        // Files gone since the last run: their chunks go too.
        let seen = seen.into_inner().unwrap();
        let gone: Vec<(&String, &FileRecord)> =
            known.iter().filter(|(p, _)| !seen.contains(*p)).collect();
        let mut forget = Vec::new();
        for (path, rec) in gone {
            let ids: Vec<String> = (0..rec.chunks).map(|i| chunk_id(&repo, path, i)).collect();
            deleted_chunks += uploader.delete(host, &o.collection, &ids)?;
            deleted_files += 1;
            forget.push((path.clone(), None));
        }
        store.put_files(&o.collection, &repo, &forget)?;
        let errors = errors.into_inner().unwrap();
        all_errors += errors.len();
        store.add_errors(&errors)?;
        store.put_repo(
            &o.collection,
            &repo,
            &json!({"commit": commit, "synced_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()}),
        )?;
        per_repo.push(json!({"repository": repo, "commit": commit, "errors": errors.len()}));
    }
    host.out.progress_done(bar, None);
    let secs = t0.elapsed().as_secs_f64();
    let changed = totals.files_changed.load(Ordering::Relaxed);
    let chunks = totals.chunks.load(Ordering::Relaxed);
    let summary = json!({
        "collection": o.collection,
        "repositories": per_repo,
        "files_seen": totals.files_seen.load(Ordering::Relaxed),
        "files_indexed": changed,
        "files_unchanged_content": totals.files_same.load(Ordering::Relaxed),
        "files_skipped": totals.skipped.load(Ordering::Relaxed),
        "files_deleted": deleted_files,
        "chunks_uploaded": chunks,
        "chunks_deleted": deleted_chunks,
        "errors": all_errors,
        "retries": uploader.retries.load(Ordering::Relaxed),
        "breakers": uploader.breaker_states().into_iter().collect::<HashMap<_, _>>(),
        "seconds": (secs * 1000.0).round() / 1000.0,
        "files_per_s": ((changed as f64 / secs.max(0.001)) * 10.0).round() / 10.0,
        "chunks_per_s": ((chunks as f64 / secs.max(0.001)) * 10.0).round() / 10.0,
        "peak_rss_bytes": memory().1,
        "finished": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    });
    let mut summary = summary;
    if let (Some(m), Value::Object(f)) = (summary.as_object_mut(), uploader.figures()) {
        m.extend(f);
    }
    let _ = std::fs::remove_file(live_path());
    store.add_run(&summary)?;
    Ok(summary)
}

/// The run in progress (if its process still runs) and the last runs.
pub fn perf(runs: usize) -> HostResult<Value> {
    let live = std::fs::read_to_string(live_path())
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(|v| {
            v["pid"]
                .as_u64()
                .is_some_and(|p| crate::sys::process::is_alive(p as u32))
        });
    // A running sync holds the store: the past runs can wait, the live figures cannot.
    let (past, note) = match Store::open(&store_path()).and_then(|s| s.runs(runs)) {
        Ok(r) => (r, Value::Null),
        Err(e) if live.is_some() => (
            Vec::new(),
            json!(format!(
                "past runs unavailable while a sync runs: {}",
                e.message
            )),
        ),
        Err(e) => return Err(e),
    };
    Ok(json!({"live": live, "runs": past, "note": note}))
}

/// The recorded errors: newest first, or counted by category.
pub fn errors(limit: usize) -> HostResult<Vec<Value>> {
    Store::open(&store_path())?.errors(limit)
}

pub fn reset_errors() -> HostResult<u64> {
    Store::open(&store_path())?.reset_errors()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_deterministic_and_distinct() {
        assert_eq!(chunk_id("/r", "a.rs", 0), chunk_id("/r", "a.rs", 0));
        assert_ne!(chunk_id("/r", "a.rs", 0), chunk_id("/r", "a.rs", 1));
        assert_ne!(chunk_id("/r", "a.rs", 0), chunk_id("/s", "a.rs", 0));
    }
}
