//! `index sync`: source repositories into a Weaviate collection, as a
//! pipeline of bounded channels (crossbeam): a walker finds files that
//! changed since the last run (in a git checkout, among the paths git says
//! may have changed; elsewhere among all files; size and mtime first, then
//! the content hash),
//! chunk workers read them through memory maps and split them, embed workers
//! (when an embedder is configured) attach vectors, uploaders batch-upsert
//! the chunks under deterministic IDs and only then record the file as done. Running it twice never duplicates anything; killed at any
//! point, the next run finishes the job.

pub mod chunk;
pub mod git;
pub mod repos;
pub mod search;
pub mod store;
pub mod tune;
pub mod upload;
pub mod walk;

use crate::base::context::Context;
use crate::base::error::{Category, HostError, HostResult};
use crate::base::paths;
use crate::embed::Embedder;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use store::{FileRecord, Skipped, Store};

pub fn store_path() -> PathBuf {
    paths::data_dir().join("index.redb")
}

/// Figures of the run in progress, rewritten every half second for `index perf`.
pub fn live_path() -> PathBuf {
    paths::state_dir().join("index-live.json")
}

/// (resident, peak resident) bytes of this process.
fn memory() -> (u64, u64) {
    let status = procfs::process::Process::myself().and_then(|p| p.status());
    let bytes = |kib: Option<u64>| kib.unwrap_or(0) * 1024;
    status.map_or((0, 0), |s| (bytes(s.vmrss), bytes(s.vmhwm)))
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
    /// What was synced; `store_path()` but for trials.
    pub store: PathBuf,
    /// Index at most this many changed files, and delete nothing (a trial's sample).
    pub max_files: Option<usize>,
    /// Walk every file, even in a git checkout that git could tell about.
    pub rescan: bool,
}

impl SyncOptions {
    pub fn new(paths: Vec<PathBuf>, collection: String) -> SyncOptions {
        SyncOptions {
            paths,
            collection,
            store: store_path(),
            max_files: None,
            rescan: false,
        }
    }
}

/// One file that needs (re)uploading.
struct Prepared {
    repo: usize,
    rel: String,
    record: FileRecord,
    objects: Vec<Value>,
    old_chunks: usize,
}

enum Work {
    /// Changed: chunks to upload.
    Upload(Prepared),
    /// Touched but the same content, or skipped (too big or binary,
    /// remembered so it is not read again, but not indexed): only the
    /// record changes, and a skip is logged.
    Record {
        repo: usize,
        rel: String,
        record: FileRecord,
        same: bool,
        skip: Option<Value>,
    },
}

/// A file found by the walker, with the repository it belongs to.
struct Task {
    repo: usize,
    found: walk::Found,
}

/// One repository of a run: what it is and what the store knew of it.
struct RepoRun {
    path: PathBuf,
    /// The store's key: the canonical path.
    key: String,
    name: String,
    commit: String,
    known: HashMap<String, FileRecord>,
    changes: Changes,
    /// Paths that differed from `commit` in the working tree when the run
    /// started: the next run looks at them again even if git then says
    /// nothing (an edit undone leaves no trace in git). None when git could
    /// not tell, and then the next run cannot start from this one.
    dirty: Option<BTreeSet<String>>,
}

/// How a run finds the changed files of a repository.
enum Changes {
    /// Every file, by walking the tree; why git could not tell.
    Scan { reason: String },
    /// Only these paths may differ from what the last run recorded.
    Git { candidates: BTreeSet<String> },
}

/// What the walker saw of a repository, to tell which known files are gone.
enum Seen {
    /// A scan: every file there is.
    All(HashSet<String>),
    /// From git: the paths looked at that are no longer files to index.
    Gone(HashSet<String>),
}

impl Seen {
    fn of(changes: &Changes) -> Seen {
        match changes {
            Changes::Scan { .. } => Seen::All(HashSet::new()),
            Changes::Git { .. } => Seen::Gone(HashSet::new()),
        }
    }

    fn present(&mut self, rel: &str) {
        if let Seen::All(s) = self {
            s.insert(rel.to_string());
        }
    }

    fn absent(&mut self, rel: &str) {
        if let Seen::Gone(s) = self {
            s.insert(rel.to_string());
        }
    }

    fn is_gone(&self, rel: &str) -> bool {
        match self {
            Seen::All(s) => !s.contains(rel),
            Seen::Gone(s) => s.contains(rel),
        }
    }
}

/// Decide how to find a repository's changes: git's answer when it has a
/// complete one since the last finished sync, else a scan.
fn detect(
    root: &Path,
    commit: &str,
    previous: Option<&Value>,
    rescan: bool,
) -> (Changes, Option<BTreeSet<String>>) {
    let scan = |reason: &str| Changes::Scan {
        reason: reason.to_string(),
    };
    if commit.is_empty() {
        return (scan("not a git checkout"), None);
    }
    let dirty = match git::dirty(root) {
        Ok(d) => d,
        Err(e) => return (scan(&e), None),
    };
    // Runs before git change detection recorded no recheck list.
    let base = previous.filter(|p| p["recheck"].is_array() && p["commit"] != "");
    let changes = match base {
        _ if rescan => scan("--rescan"),
        None => scan("no finished sync of this checkout to start from"),
        Some(p) => match git::diff(root, p["commit"].as_str().unwrap_or_default(), commit) {
            Err(e) => scan(&e),
            Ok(mut candidates) => {
                candidates.extend(dirty.iter().cloned());
                candidates.extend(
                    p["recheck"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(String::from)),
                );
                Changes::Git { candidates }
            }
        },
    };
    (changes, Some(dirty))
}

/// A file skipped as too big under a lower limit, that the limit now
/// admits: read again even if unchanged.
fn fits_now(k: &FileRecord, max_file_bytes: u64) -> bool {
    k.skipped == Some(Skipped::Size) && k.size <= max_file_bytes
}

/// A record to write: (repository index, path, Some(record) or None to forget).
type RecordUpdate = (usize, String, Option<FileRecord>);

#[derive(Default)]
struct Counters {
    files_seen: AtomicUsize,
    files_changed: AtomicUsize,
    files_same: AtomicUsize,
    chunks: AtomicUsize,
    skipped: AtomicUsize,
    /// The repository the walker is in, for the live figures.
    walking: AtomicUsize,
    /// Files sent to the chunkers, and whether the walk is over (then that
    /// is the run's total, and the progress bar can show an ETA).
    queued: AtomicUsize,
    walked: AtomicBool,
    /// Files through the pipeline, whatever became of them.
    files_done: AtomicUsize,
    /// Objects Weaviate refused, and the files they belong to (retried next run).
    objects_refused: AtomicUsize,
    files_refused: AtomicUsize,
}

const DESCRIPTION: &str = "Source code chunks written by elysiactl index sync";

/// The properties of an index collection and their types: with the
/// description, what tells an index collection from anyone else's.
const PROPERTIES: [(&str, &str); 9] = [
    ("content", "text"),
    ("repository", "text"),
    ("path", "text"),
    ("language", "text"),
    ("chunk_index", "int"),
    ("start_line", "int"),
    ("end_line", "int"),
    ("commit", "text"),
    ("content_hash", "text"),
];

/// Why a collection definition is not one `index sync` made (and may write
/// to), or None when it is: the description it writes, and exactly its
/// properties. Anything else is someone's data, where chunks would mix with
/// their objects and Weaviate's auto-schema would add properties.
fn not_index_collection(class: &Value) -> Option<String> {
    let description = class["description"].as_str().unwrap_or_default();
    if !description.starts_with(DESCRIPTION) {
        return Some("index sync did not create it".into());
    }
    let have: BTreeSet<(String, String)> = class["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["dataType"][0].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = PROPERTIES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let list = |set: Vec<&(String, String)>| {
        set.iter()
            .map(|(n, t)| format!("{n} ({t})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (extra, missing): (Vec<_>, Vec<_>) = (
        have.difference(&want).collect(),
        want.difference(&have).collect(),
    );
    match (extra.is_empty(), missing.is_empty()) {
        (true, true) => None,
        (false, _) => Some(format!(
            "it has properties index sync does not write: {}",
            list(extra)
        )),
        (true, false) => Some(format!(
            "it lacks properties index sync writes: {}",
            list(missing)
        )),
    }
}

/// The embedder a collection's vectors come from, as its description
/// records it ("none" for a collection made before embedders existed);
/// None when the collection does not exist. A collection that is not an
/// index collection is refused: nothing of the index belongs in it.
pub fn collection_embedder(ctx: &Context, collection: &str) -> HostResult<Option<String>> {
    let class = match ctx.block_on(node0_client(ctx).get_class(collection)) {
        Ok(class) => class,
        Err(e) if crate::clients::weaviate::is_no_such_collection(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let name = class["class"].as_str().unwrap_or(collection);
    if let Some(why) = not_index_collection(&class) {
        return Err(HostError::validation(format!(
            "collection {name} is not an index collection: {why}"
        ))
        .with_hint(format!(
            "index into a collection of its own, which index sync creates: --collection {name}Code \
             (or set index.collection); any name no other collection has will do"
        )));
    }
    let description = class["description"].as_str().unwrap_or_default();
    Ok(Some(
        description
            .split("embedder: ")
            .nth(1)
            .map(|rest| rest.trim_end_matches(')').to_string())
            .unwrap_or_else(|| "none".into()),
    ))
}

pub(crate) fn node0_client(ctx: &Context) -> crate::clients::weaviate::WeaviateClient {
    crate::clients::weaviate::WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0))
}

/// The chunk collection: keyword-searchable text plus metadata and the
/// embedder's vectors, at the replication factor the cluster expects. One
/// collection holds one embedder's vectors: mixed, a search would compare
/// vectors from different spaces (or miss the chunks that have none).
/// True when this call created the collection.
fn ensure_collection(ctx: &Context, collection: &str, embedder: &str) -> HostResult<bool> {
    match collection_embedder(ctx, collection)? {
        Some(had) if had == embedder => Ok(false),
        Some(had) => Err(HostError::validation(format!(
            "collection {collection} holds chunks embedded with {had:?}; this run would embed with {embedder:?}"
        ))
        .with_hint(format!(
            "index into another collection (--collection {collection}{}), or set index.embedder = {had:?}",
            capitalized(embedder)
        ))),
        None => ctx
            .block_on(node0_client(ctx).create_class(&collection_schema(
                collection,
                ctx.config.weaviate.expected_replication_factor(),
                embedder,
            )))
            .map(|_| true),
    }
}

/// "openai:text-embedding-3-small" → "OpenaiTextEmbedding3Small": a name
/// fit to end a collection name with.
fn capitalized(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        })
        .collect()
}

/// The class definition `index sync` creates.
fn collection_schema(collection: &str, factor: usize, embedder: &str) -> Value {
    let properties: Vec<Value> = PROPERTIES
        .iter()
        .map(|(name, data_type)| json!({"name": name, "dataType": [data_type]}))
        .collect();
    json!({
        "class": collection,
        "description": format!("{DESCRIPTION} (embedder: {embedder})"),
        "vectorizer": "none",
        "vectorIndexConfig": {"distance": "cosine"},
        "replicationConfig": {"factor": factor},
        "properties": properties,
    })
}

fn error_record(category: Category, repo: &str, file: &str, message: &str) -> Value {
    json!({
        "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "category": category.as_str(), "repository": repo, "file": file, "message": message,
    })
}

/// A file left out of the index, and its entry in the error log. Its
/// chunks from the last version indexed stay (the record keeps their
/// count): a lowered limit or a file turned binary must not empty the
/// index, and they go when the file is deleted or indexed again.
fn skip(r: &RepoRun, repo: usize, rel: &str, record: FileRecord, why: &str) -> Work {
    let kind = record.skipped.expect("a skip record says why");
    let kept = match record.chunks {
        0 => "not indexed".to_string(),
        n => format!("not indexed; the {n} chunks of its last indexed version are kept"),
    };
    let entry = json!({
        "time": now_rfc3339(), "category": kind.category(), "repository": r.key,
        "file": rel, "message": format!("{why}: {kept}"),
    });
    Work::Record {
        repo,
        rel: rel.to_string(),
        record,
        same: false,
        skip: Some(entry),
    }
}

/// Read, hash and chunk one file. Err is a recorded, skipped file.
fn prepare(
    ctx: &Context,
    r: &RepoRun,
    repo: usize,
    collection: &str,
    f: &walk::Found,
) -> Result<Work, Value> {
    let cfg = &ctx.config.index;
    let old = r.known.get(&f.rel);
    let fail = |c: Category, m: String| error_record(c, &r.key, &f.rel, &m);
    if f.size > cfg.max_file_bytes {
        // Not read, so the hash is still that of what the kept chunks hold.
        let record = FileRecord {
            size: f.size,
            mtime_ns: f.mtime_ns,
            hash: old.map(|o| o.hash.clone()).unwrap_or_default(),
            chunks: old.map_or(0, |o| o.chunks),
            skipped: Some(Skipped::Size),
        };
        let why = format!(
            "{} bytes, over index.max_file_bytes = {}",
            f.size, cfg.max_file_bytes
        );
        return Ok(skip(r, repo, &f.rel, record, &why));
    }
    let file =
        std::fs::File::open(&f.abs).map_err(|e| fail(Category::FileSystem, e.to_string()))?;
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
            .map_err(|e| fail(Category::FileSystem, e.to_string()))?;
        &map[..]
    };
    let hash = blake3::hash(data).to_hex().to_string();
    let record = |chunks, skipped| FileRecord {
        size: f.size,
        mtime_ns: f.mtime_ns,
        hash: hash.clone(),
        chunks,
        skipped,
    };
    if let Some(o) = old {
        if o.hash == hash {
            // The chunks hold this content: indexed, unless it is binary
            // (a size skip recorded the hash of what it kept, which is this).
            let skipped = o.skipped.filter(|s| *s == Skipped::Binary);
            return Ok(Work::Record {
                repo,
                rel: f.rel.clone(),
                record: record(o.chunks, skipped),
                same: true,
                skip: None,
            });
        }
    }
    if walk::looks_binary(data) {
        let record = record(old.map_or(0, |o| o.chunks), Some(Skipped::Binary));
        let why = "binary (a NUL byte in its first 8 KiB)";
        return Ok(skip(r, repo, &f.rel, record, why));
    }
    let text = std::str::from_utf8(data)
        .map_err(|e| fail(Category::Encoding, format!("not UTF-8: {e}")))?;
    let language = walk::language(&f.rel);
    let chunks = chunk::chunk(text, cfg.chunk_lines, cfg.overlap_lines);
    let objects = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "class": collection,
                "id": chunk_id(&r.key, &f.rel, i),
                "properties": {
                    "content": c.text, "repository": r.name, "path": f.rel, "language": language,
                    "chunk_index": i, "start_line": c.start_line, "end_line": c.end_line,
                    "commit": r.commit, "content_hash": hash,
                },
            })
        })
        .collect::<Vec<_>>();
    Ok(Work::Upload(Prepared {
        repo,
        rel: f.rel.clone(),
        record: record(objects.len(), None),
        objects,
        old_chunks: old.map(|o| o.chunks).unwrap_or(0),
    }))
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The repositories of a run, canonical and each once, with what the store knew.
fn repo_runs(
    paths: &[PathBuf],
    store: &Store,
    collection: &str,
    rescan: bool,
    max_file_bytes: u64,
) -> HostResult<Vec<RepoRun>> {
    let mut runs: Vec<RepoRun> = Vec::new();
    for p in paths {
        let canon = std::fs::canonicalize(p).map_err(|e| {
            HostError::io(format!("cannot index {}", p.display()), e)
                .with_hint("give the folder of a repository (a git checkout or any source tree)")
        })?;
        paths::refuse_system_tree(&canon, "source tree")?;
        if !canon.is_dir() {
            return Err(
                HostError::validation(format!("{} is not a folder", p.display()))
                    .with_hint("give the folder of a repository, not a file"),
            );
        }
        let key = canon.display().to_string();
        if runs.iter().any(|r| r.key == key) {
            continue;
        }
        let commit = git::head(&canon).unwrap_or_default();
        let (mut changes, dirty) = detect(
            &canon,
            &commit,
            store.repo(collection, &key)?.as_ref(),
            rescan,
        );
        let known = store.files(collection, &key)?;
        if let Changes::Git { candidates } = &mut changes {
            // Git sees no change in a file skipped as too big that a raised limit now admits.
            candidates.extend(
                known
                    .iter()
                    .filter(|(_, k)| fits_now(k, max_file_bytes))
                    .map(|(path, _)| path.clone()),
            );
        }
        runs.push(RepoRun {
            name: canon
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or(key.clone()),
            commit,
            known,
            changes,
            dirty,
            key,
            path: canon,
        });
    }
    Ok(runs)
}

/// Writes the live figures for `index perf` every half second until `done`.
/// Start one thread of the pipeline. A refusal (memory, a thread limit) is
/// an error the run reports, not the panic of `Scope::spawn` that aborts the
/// whole process.
fn spawn_stage<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    builder: std::thread::Builder,
    what: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> HostResult<std::thread::ScopedJoinHandle<'scope, T>> {
    builder.spawn_scoped(scope, f).map_err(|e| {
        HostError::new(
            Category::Memory,
            format!("cannot start an index {what} thread: {e}"),
        )
        .with_hint(
            "lower index.upload_concurrency, index.chunk_workers or index.embed_workers, \
             or free memory and processes",
        )
    })
}

fn report_live(
    ctx: &Context,
    t0: Instant,
    repos: &[RepoRun],
    totals: &Counters,
    p: &Pipeline,
    done: &AtomicBool,
) {
    let uploader = p.uploader;
    let started = now_rfc3339();
    let mut total_shown = false;
    while !done.load(Ordering::Relaxed) {
        let secs = t0.elapsed().as_secs_f64().max(0.001);
        if !total_shown && totals.walked.load(Ordering::Relaxed) {
            let queued = totals.queued.load(Ordering::Relaxed) as u64;
            ctx.out.progress_total(p.bar, queued);
            total_shown = true;
        }
        let (files, chunks, files_done) = (
            totals.files_changed.load(Ordering::Relaxed),
            totals.chunks.load(Ordering::Relaxed),
            totals.files_done.load(Ordering::Relaxed),
        );
        let rate = chunks as f64 / secs;
        let msg = if total_shown {
            format!("files · {chunks} chunks · {rate:.0}/s")
        } else {
            format!("{files_done} files · {chunks} chunks · {rate:.0}/s, walking")
        };
        ctx.out
            .progress_set(p.bar, Some(files_done as u64), Some(&msg));
        let (rss, peak) = memory();
        let walking = repos
            .get(totals.walking.load(Ordering::Relaxed))
            .map(|r| r.key.as_str());
        let mut live = json!({
            "pid": std::process::id(), "started": started, "repository": walking,
            "repositories": repos.len(),
            "files_seen": totals.files_seen.load(Ordering::Relaxed), "files_indexed": files,
            "chunks_uploaded": chunks, "files_per_s": (files as f64 / secs * 10.0).round() / 10.0,
            "chunks_per_s": (chunks as f64 / secs * 10.0).round() / 10.0,
            "rss_bytes": rss, "peak_rss_bytes": peak, "retries": uploader.retries.load(Ordering::Relaxed),
            "breakers": uploader.breaker_states().into_iter().collect::<HashMap<_, _>>(),
            "open_connections": ctx.config.index.upload_concurrency,
            "embedder": p.embedder.map_or("none", |e| e.name()),
        });
        if let (Some(m), Value::Object(f)) = (live.as_object_mut(), p.figures()) {
            m.extend(f);
        }
        let tmp = live_path().with_extension("json.tmp");
        if std::fs::write(&tmp, live.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, live_path());
        }
        for _ in 0..10 {
            if done.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Everything the pipeline's threads share.
struct Pipeline<'a> {
    ctx: &'a Context,
    collection: &'a str,
    repos: &'a [RepoRun],
    store: &'a Store,
    uploader: &'a upload::Uploader,
    embedder: Option<&'a Embedder>,
    /// Milliseconds to embed one file's chunks.
    embed_latency: Mutex<hdrhistogram::Histogram<u64>>,
    totals: &'a Counters,
    errors: &'a Mutex<Vec<Value>>,
    /// Files left out as too big or binary, for the error log (not errors:
    /// the run succeeded, and they are not retried).
    skips: Mutex<Vec<Value>>,
    bar: i64,
}

impl Pipeline<'_> {
    fn put_records(&self, items: &[RecordUpdate]) -> HostResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.store.put_files(
            self.collection,
            items
                .iter()
                .map(|(r, path, rec)| (self.repos[*r].key.as_str(), path.as_str(), rec.as_ref())),
        )
    }

    /// Walker: every repository in turn, every file of it or only those
    /// git names; unchanged size and mtime means unchanged, without a read.
    fn walk(&self, tasks: crossbeam_channel::Sender<Task>, max_files: Option<usize>) -> Vec<Seen> {
        let mut seen: Vec<Seen> = self.repos.iter().map(|r| Seen::of(&r.changes)).collect();
        let mut sent = 0usize;
        for (i, r) in self.repos.iter().enumerate() {
            self.totals.walking.store(i, Ordering::Relaxed);
            match &r.changes {
                Changes::Scan { .. } => {
                    for item in walk::walk(&r.path) {
                        match item {
                            Ok(f) => {
                                if !self.offer(i, f, &mut seen[i], &tasks, &mut sent, max_files) {
                                    return seen;
                                }
                            }
                            Err((p, e)) => self.errors.lock().unwrap().push(error_record(
                                Category::FileSystem,
                                &r.key,
                                &p.display().to_string(),
                                &e,
                            )),
                        }
                    }
                }
                Changes::Git { candidates } => {
                    let mut rules = git::Eligibility::new(&r.path);
                    for rel in candidates {
                        let abs = r.path.join(rel);
                        let file = std::fs::symlink_metadata(&abs)
                            .ok()
                            .filter(|m| m.is_file() && rules.eligible(rel));
                        match file {
                            Some(m) => {
                                let f = walk::Found::new(rel.clone(), abs, &m);
                                if !self.offer(i, f, &mut seen[i], &tasks, &mut sent, max_files) {
                                    return seen;
                                }
                            }
                            None => seen[i].absent(rel),
                        }
                    }
                }
            }
        }
        seen
    }

    /// A file the walker found: sent to the chunkers unless its size and
    /// mtime are those recorded. False when the walk must stop.
    fn offer(
        &self,
        i: usize,
        f: walk::Found,
        seen: &mut Seen,
        tasks: &crossbeam_channel::Sender<Task>,
        sent: &mut usize,
        max_files: Option<usize>,
    ) -> bool {
        self.totals.files_seen.fetch_add(1, Ordering::Relaxed);
        // Still there, even if too big or binary: its chunks are not deleted.
        seen.present(&f.rel);
        if let Some(k) = self.repos[i].known.get(&f.rel) {
            let unchanged = k.size == f.size && k.mtime_ns == f.mtime_ns;
            if unchanged && !fits_now(k, self.ctx.config.index.max_file_bytes) {
                return true;
            }
        }
        if tasks.send(Task { repo: i, found: f }).is_err() {
            return false;
        }
        self.totals.queued.fetch_add(1, Ordering::Relaxed);
        *sent += 1;
        max_files.is_none_or(|m| *sent < m)
    }

    fn chunk(
        &self,
        tasks: crossbeam_channel::Receiver<Task>,
        work: crossbeam_channel::Sender<Work>,
    ) {
        for t in tasks {
            match prepare(
                self.ctx,
                &self.repos[t.repo],
                t.repo,
                self.collection,
                &t.found,
            ) {
                Ok(w) => {
                    if work.send(w).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    self.totals.skipped.fetch_add(1, Ordering::Relaxed);
                    self.totals.files_done.fetch_add(1, Ordering::Relaxed);
                    self.errors.lock().unwrap().push(e);
                }
            }
        }
    }

    /// Embed worker: vectors for every chunk of a file, in small batches so
    /// the encoder's activations stay small whatever the file's size. An
    /// endpoint that still fails after its retries ends the run: every
    /// other file would fail the same way.
    fn embed(
        &self,
        embedder: &Embedder,
        work_in: crossbeam_channel::Receiver<Work>,
        work_out: crossbeam_channel::Sender<Work>,
    ) -> HostResult<()> {
        for mut w in work_in {
            if let Work::Upload(p) = &mut w {
                let t = Instant::now();
                for part in p.objects.chunks_mut(16) {
                    let texts: Vec<&str> = part
                        .iter()
                        .map(|o| o["properties"]["content"].as_str().unwrap_or_default())
                        .collect();
                    let vectors = embedder.embed(&texts)?;
                    for (o, v) in part.iter_mut().zip(vectors) {
                        o["vector"] = json!(v);
                    }
                }
                if !p.objects.is_empty() {
                    let _ = self
                        .embed_latency
                        .lock()
                        .unwrap()
                        .record(t.elapsed().as_micros() as u64);
                }
            }
            if work_out.send(w).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn figures(&self) -> Value {
        let mut f = self.uploader.figures();
        if self.embedder.is_some() {
            f["embed_latency_ms"] =
                upload::percentiles(&self.embed_latency.lock().unwrap(), 1000.0);
        }
        f
    }

    /// Uploader: whole files per batch, each recorded only once written.
    fn upload(&self, work: crossbeam_channel::Receiver<Work>) -> HostResult<()> {
        let cfg = &self.ctx.config.index;
        let mut batch: Vec<Prepared> = Vec::new();
        let mut records: Vec<RecordUpdate> = Vec::new();
        let mut pending = 0;
        for w in work {
            match w {
                Work::Record {
                    repo,
                    rel,
                    record,
                    same,
                    skip,
                } => {
                    let counter = if same {
                        &self.totals.files_same
                    } else {
                        &self.totals.skipped
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    self.skips.lock().unwrap().extend(skip);
                    self.totals.files_done.fetch_add(1, Ordering::Relaxed);
                    records.push((repo, rel, Some(record)));
                }
                Work::Upload(p) => {
                    pending += p.objects.len();
                    batch.push(p);
                }
            }
            if pending >= cfg.batch_size || records.len() >= 1000 {
                self.flush(&mut batch, &mut records)?;
                pending = 0;
            }
        }
        self.flush(&mut batch, &mut records)
    }

    fn flush(&self, batch: &mut Vec<Prepared>, records: &mut Vec<RecordUpdate>) -> HostResult<()> {
        self.put_records(records)?;
        records.clear();
        if batch.is_empty() {
            return Ok(());
        }
        // Which file each object belongs to, to blame the right one.
        let owner: Vec<usize> = batch
            .iter()
            .enumerate()
            .flat_map(|(i, p)| std::iter::repeat_n(i, p.objects.len()))
            .collect();
        let objects: Vec<Value> = batch
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.objects))
            .collect();
        let mut refused: HashMap<usize, String> = HashMap::new();
        let size = self.ctx.config.index.batch_size.max(1);
        for (k, part) in objects.chunks(size).enumerate() {
            for (i, msg) in self.uploader.upsert(self.ctx, part)? {
                self.totals.objects_refused.fetch_add(1, Ordering::Relaxed);
                refused.entry(owner[k * size + i]).or_insert(msg);
            }
        }
        self.totals
            .files_refused
            .fetch_add(refused.len(), Ordering::Relaxed);
        let mut done = Vec::new();
        for (i, p) in batch.drain(..).enumerate() {
            self.totals.files_done.fetch_add(1, Ordering::Relaxed);
            let r = &self.repos[p.repo];
            if let Some(msg) = refused.get(&i) {
                // Not recorded as done: the next run tries it again.
                self.errors.lock().unwrap().push(error_record(
                    Category::Weaviate,
                    &r.key,
                    &p.rel,
                    &format!("objects were refused: {msg}"),
                ));
                continue;
            }
            // Chunks past the new end belonged to the old version.
            if p.old_chunks > p.record.chunks {
                let stale: Vec<String> = (p.record.chunks..p.old_chunks)
                    .map(|i| chunk_id(&r.key, &p.rel, i))
                    .collect();
                self.uploader.delete(self.ctx, self.collection, &stale)?;
            }
            self.totals
                .chunks
                .fetch_add(p.record.chunks, Ordering::Relaxed);
            self.totals.files_changed.fetch_add(1, Ordering::Relaxed);
            done.push((p.repo, p.rel, Some(p.record)));
        }
        self.put_records(&done)?;
        Ok(())
    }
}

/// One pipeline over every repository: a walker, chunk workers and
/// uploaders joined by bounded channels, so memory stays bounded and many
/// small repositories fill batches as well as one big one does.
pub fn sync(ctx: &Context, o: &SyncOptions) -> HostResult<Value> {
    let t0 = Instant::now();
    crate::clients::weaviate::class_name(&o.collection)?;
    let embedder = Embedder::load(&ctx.config.index, &ctx.config.index.embedder, &ctx.rt)?;
    let embedder_name = embedder.as_ref().map_or("none", |e| e.name());
    let store = Store::open(&o.store)?;
    let mut repos = repo_runs(
        &o.paths,
        &store,
        &o.collection,
        o.rescan,
        ctx.config.index.max_file_bytes,
    )?;
    let uploader = upload::Uploader::new(ctx)?;
    if ensure_collection(ctx, &o.collection, embedder_name)? {
        // A new collection holds nothing the store remembers (it may have
        // been deleted since): every file is uploaded again.
        store.forget_collection(&o.collection)?;
        for r in &mut repos {
            r.known.clear();
            r.changes = Changes::Scan {
                reason: "the collection was created by this run".into(),
            };
        }
    }
    let totals = Counters::default();
    let errors: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    let bar = ctx.out.progress_start("index", None);
    let p = Pipeline {
        ctx,
        collection: &o.collection,
        repos: &repos,
        store: &store,
        uploader: &uploader,
        embedder: embedder.as_ref(),
        embed_latency: Mutex::new(upload::histogram()),
        totals: &totals,
        errors: &errors,
        skips: Mutex::new(Vec::new()),
        bar,
    };
    let cfg = &ctx.config.index;
    let done = AtomicBool::new(false);
    // The reporter lives in an outer scope: it stops once the pipeline's scope has joined.
    let joined = std::thread::scope(|outer| {
        // Live figures are a convenience: without a thread for them the run goes on.
        let _ = spawn_stage(outer, std::thread::Builder::new(), "reporter", || {
            report_live(ctx, t0, &repos, &totals, &p, &done)
        });
        let joined = std::thread::scope(|s| -> HostResult<(Vec<Seen>, Vec<HostError>)> {
            let (task_tx, task_rx) = crossbeam_channel::bounded::<Task>(512);
            let (work_tx, work_rx) = crossbeam_channel::bounded::<Work>(64);
            let p = &p;
            let max_files = o.max_files;
            let stage = |what| std::thread::Builder::new().name(format!("index {what}"));
            // Consumers first, the walker last: should a thread fail to start,
            // this closure returns, the senders it holds drop, and every stage
            // already started ends with nothing done.
            let uploaders = (0..cfg.upload_concurrency.max(1))
                .map(|_| {
                    let rx = work_rx.clone();
                    spawn_stage(s, stage("uploader"), "uploader", move || p.upload(rx))
                })
                .collect::<HostResult<Vec<_>>>()?;
            drop(work_rx);
            // With an embedder, chunkers feed the embed workers, which feed the uploaders.
            let mut embedders = Vec::new();
            let chunked_tx = match p.embedder {
                Some(e) => {
                    let (chunked_tx, chunked_rx) = crossbeam_channel::bounded::<Work>(64);
                    for _ in 0..cfg.embed_workers.max(1) {
                        let (rx, tx) = (chunked_rx.clone(), work_tx.clone());
                        embedders.push(spawn_stage(
                            s,
                            stage("embedder"),
                            "embed worker",
                            move || p.embed(e, rx, tx),
                        )?);
                    }
                    chunked_tx
                }
                None => work_tx.clone(),
            };
            for _ in 0..cfg.chunk_workers.max(1) {
                let (rx, tx) = (task_rx.clone(), chunked_tx.clone());
                spawn_stage(s, stage("chunker"), "chunker", move || p.chunk(rx, tx))?;
            }
            drop((task_rx, work_tx, chunked_tx));
            let walker = spawn_stage(s, stage("walker"), "walker", move || {
                let seen = p.walk(task_tx, max_files);
                p.totals.walked.store(true, Ordering::Relaxed);
                seen
            })?;
            let failures: Vec<HostError> = embedders
                .into_iter()
                .map(|e| e.join().expect("an embed worker panicked"))
                .chain(
                    uploaders
                        .into_iter()
                        .map(|u| u.join().expect("an uploader panicked")),
                )
                .filter_map(Result::err)
                .collect();
            Ok((walker.join().expect("the walker panicked"), failures))
        });
        done.store(true, Ordering::Relaxed);
        joined
    });
    let (seen, failures) = match joined {
        Ok(j) => j,
        Err(e) => {
            ctx.out.progress_done(bar, None);
            return Err(e);
        }
    };
    let errors = std::mem::take(&mut *errors.lock().unwrap());
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
            deleted_chunks += uploader.delete(ctx, &o.collection, &ids)?;
            deleted_files += 1;
            forget.push((i, path.clone(), None));
        }
    }
    p.put_records(&forget)?;
    store.add_errors(&skips)?;
    store.add_errors(&errors)?;
    // What git change detection starts from next time; a sample is not a finished sync.
    let synced_at = now_rfc3339();
    if o.max_files.is_none() {
        store.put_repos(
            &o.collection,
            repos.iter().map(|r| {
                let failed = errors
                    .iter()
                    .filter(|e| e["repository"].as_str() == Some(r.key.as_str()))
                    .filter_map(|e| e["file"].as_str())
                    .filter(|f| !f.starts_with('/'))
                    .map(String::from);
                let mut state = json!({"commit": r.commit, "synced_at": synced_at});
                if let Some(dirty) = &r.dirty {
                    let recheck: BTreeSet<String> = dirty.iter().cloned().chain(failed).collect();
                    state["recheck"] = json!(recheck);
                }
                (r.key.as_str(), state)
            }),
        )?;
    }
    ctx.out.progress_done(bar, None);
    let per_repo: Vec<Value> = repos
        .iter()
        .map(|r| {
            let n = errors
                .iter()
                .filter(|e| e["repository"].as_str() == Some(r.key.as_str()))
                .count();
            let mut v = json!({"repository": r.key, "commit": r.commit, "errors": n});
            match &r.changes {
                Changes::Git { candidates } => {
                    v["change_detection"] = json!("git");
                    v["paths_from_git"] = json!(candidates.len());
                }
                Changes::Scan { reason } => {
                    v["change_detection"] = json!("scan");
                    v["scan_reason"] = json!(reason);
                }
            }
            v
        })
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    let changed = totals.files_changed.load(Ordering::Relaxed);
    let chunks = totals.chunks.load(Ordering::Relaxed);
    let mut summary = json!({
        "collection": o.collection,
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
        "files_per_s": ((changed as f64 / secs.max(0.001)) * 10.0).round() / 10.0,
        "chunks_per_s": ((chunks as f64 / secs.max(0.001)) * 10.0).round() / 10.0,
        "peak_rss_bytes": memory().1,
        "embedder": embedder_name,
        "finished": now_rfc3339(),
    });
    if let (Some(m), Value::Object(f)) = (summary.as_object_mut(), p.figures()) {
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
                .is_some_and(|p| crate::base::process::is_alive(p as u32))
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
    fn a_thread_that_cannot_start_is_an_error_not_an_abort() {
        // No machine has a stack of usize::MAX bytes to give: the spawn is refused.
        let err = std::thread::scope(|s| {
            spawn_stage(
                s,
                std::thread::Builder::new().stack_size(usize::MAX),
                "uploader",
                || (),
            )
            .map(|_| ())
        })
        .unwrap_err();
        assert!(
            err.message
                .contains("cannot start an index uploader thread"),
            "{}",
            err.message
        );
        assert!(
            err.hint.contains("index.upload_concurrency"),
            "{}",
            err.hint
        );
    }

    #[test]
    fn memory_is_this_process_resident_set_and_its_peak() {
        let (rss, peak) = memory();
        assert!(rss > 1024 * 1024 && peak >= rss, "{rss} {peak}");
    }

    #[test]
    fn chunk_ids_are_deterministic_and_distinct() {
        assert_eq!(chunk_id("/r", "a.rs", 0), chunk_id("/r", "a.rs", 0));
        assert_ne!(chunk_id("/r", "a.rs", 0), chunk_id("/r", "a.rs", 1));
        assert_ne!(chunk_id("/r", "a.rs", 0), chunk_id("/s", "a.rs", 0));
    }

    #[test]
    fn git_answers_only_where_it_can_answer_completely() {
        let git = git::tests::sh_git;
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let reason = |c: &Changes| match c {
            Changes::Scan { reason } => reason.clone(),
            Changes::Git { .. } => "git".into(),
        };
        let (c, dirty) = detect(root, "", None, false);
        assert_eq!(
            (reason(&c), dirty),
            ("not a git checkout".to_string(), None)
        );
        git(root, &["init", "-q"]);
        std::fs::write(root.join("a.rs"), "fn a() {}\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "one"]);
        let first = git::head(root).unwrap();
        std::fs::write(root.join("b.rs"), "fn b() {}\n").unwrap();
        let (c, dirty) = detect(root, &first, None, false);
        assert!(reason(&c).contains("no finished sync"), "{}", reason(&c));
        assert_eq!(dirty.unwrap().into_iter().collect::<Vec<_>>(), ["b.rs"]);
        // Runs from before git detection recorded no recheck list.
        let old = json!({"commit": first});
        assert!(reason(&detect(root, &first, Some(&old), false).0).contains("no finished sync"));
        let previous = json!({"commit": first, "recheck": ["failed.rs"]});
        assert_eq!(
            reason(&detect(root, &first, Some(&previous), true).0),
            "--rescan"
        );
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "two"]);
        let second = git::head(root).unwrap();
        std::fs::write(root.join("c.rs"), "fn c() {}\n").unwrap();
        match detect(root, &second, Some(&previous), false).0 {
            Changes::Git { candidates } => assert_eq!(
                candidates.into_iter().collect::<Vec<_>>(),
                ["b.rs", "c.rs", "failed.rs"],
                "the diff, the working tree and the recheck list"
            ),
            c => panic!("{}", reason(&c)),
        }
        let gone = json!({"commit": "0123456789abcdef0123456789abcdef01234567", "recheck": []});
        assert!(reason(&detect(root, &second, Some(&gone), false).0).contains("cannot be compared"));
        // Where git cannot list every changed file, no recheck list is kept
        // either, so the next run cannot start from this one.
        std::fs::write(root.join(".gitmodules"), "").unwrap();
        let (c, dirty) = detect(root, &second, Some(&previous), false);
        assert!(reason(&c).contains("submodules"), "{}", reason(&c));
        assert!(dirty.is_none());
    }

    #[test]
    fn only_what_index_sync_made_is_an_index_collection() {
        let mine = collection_schema("Code", 3, "static");
        assert_eq!(not_index_collection(&mine), None);
        let mut older = mine.clone();
        older["description"] = json!(DESCRIPTION);
        assert_eq!(not_index_collection(&older), None, "made before embedders");
        let mut foreign = mine.clone();
        foreign.as_object_mut().unwrap().remove("description");
        assert!(not_index_collection(&foreign)
            .unwrap()
            .contains("did not create"));
        let mut extra = mine.clone();
        extra["properties"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "title", "dataType": ["text"]}));
        let why = not_index_collection(&extra).unwrap();
        assert!(why.contains("title (text)"), "{why}");
        let mut retyped = mine.clone();
        retyped["properties"][4]["dataType"] = json!(["text"]);
        let why = not_index_collection(&retyped).unwrap();
        assert!(why.contains("chunk_index (text)"), "{why}");
        let mut fewer = mine;
        fewer["properties"].as_array_mut().unwrap().pop();
        let why = not_index_collection(&fewer).unwrap();
        assert!(
            why.contains("lacks") && why.contains("content_hash"),
            "{why}"
        );
    }

    #[test]
    fn embedder_names_end_collection_names() {
        assert_eq!(capitalized("static"), "Static");
        assert_eq!(
            capitalized("openai:text-embedding-3-small"),
            "OpenaiTextEmbedding3Small"
        );
    }
}
