//! The pipeline of one sync: a walker finds the files to look at, chunk
//! workers read (through memory maps), hash and split them, embed workers
//! (when an embedder is configured) attach vectors, and uploaders
//! batch-upsert the chunks under deterministic IDs and only then record the
//! file as done. Stages are threads joined by bounded channels (crossbeam),
//! so memory stays bounded whatever the size of the trees.

use super::changes::{fits_now, Changes, RepoRun, Seen};
use super::error_log;
use super::perf;
use super::schema::chunk_id;
use super::store::{FileRecord, Skipped, Store};
use super::{chunk, git, upload, walk};
use crate::base::context::Context;
use crate::base::error::{Category, HostError, HostResult};
use crate::embed::Embedder;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One file that needs (re)uploading.
struct Prepared {
    repo: usize,
    rel: String,
    record: FileRecord,
    objects: Vec<Value>,
    old_chunks: usize,
}

/// An uploader's files whose chunks are not all sent yet, in order.
#[derive(Default)]
struct Outbox {
    files: std::collections::VecDeque<Queued>,
    /// Objects of those files not sent yet.
    unsent: usize,
}

struct Queued {
    /// Its objects not sent yet (the sent ones are drained from the front).
    file: Prepared,
    /// Why Weaviate refused one of its objects, if it did.
    refused: Option<String>,
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

/// A record to write: (repository index, path, Some(record) or None to forget).
pub(super) type RecordUpdate = (usize, String, Option<FileRecord>);

#[derive(Default)]
pub(super) struct Counters {
    pub(super) files_seen: AtomicUsize,
    pub(super) files_changed: AtomicUsize,
    pub(super) files_same: AtomicUsize,
    pub(super) chunks: AtomicUsize,
    pub(super) skipped: AtomicUsize,
    /// The repository the walker is in, for the live figures.
    pub(super) walking: AtomicUsize,
    /// Files sent to the chunkers, and whether the walk is over (then that
    /// is the run's total, and the progress bar can show an ETA).
    pub(super) queued: AtomicUsize,
    pub(super) walked: AtomicBool,
    /// Files through the pipeline, whatever became of them.
    pub(super) files_done: AtomicUsize,
    /// Objects Weaviate refused, and the files they belong to (retried next run).
    pub(super) objects_refused: AtomicUsize,
    pub(super) files_refused: AtomicUsize,
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
    let entry = error_log::entry(kind.category(), &r.key, rel, &format!("{why}: {kept}"));
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
    let fail = |c: Category, m: String| error_log::entry(c.as_str(), &r.key, &f.rel, &m);
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

/// Where a run's chunks and records go: usually one name, two while
/// `index sync --rebuild` fills a new collection under the old one's records.
pub(super) struct Destination<'a> {
    /// The collection the chunks go to.
    pub(super) class: &'a str,
    /// The name the store keeps this collection's records under.
    pub(super) store_key: &'a str,
}

/// Everything the pipeline's threads share.
pub(super) struct Pipeline<'a> {
    pub(super) ctx: &'a Context,
    /// The collection the chunks go to.
    class: &'a str,
    /// The name the store keeps this collection's records under.
    store_key: &'a str,
    pub(super) repos: &'a [RepoRun],
    store: &'a Store,
    pub(super) uploader: &'a upload::Uploader,
    pub(super) embedder: Option<&'a Embedder>,
    /// Milliseconds to embed one file's chunks.
    embed_latency: Mutex<hdrhistogram::Histogram<u64>>,
    pub(super) totals: Counters,
    /// Entries for the error log: files that failed (retried next run).
    pub(super) errors: Mutex<Vec<Value>>,
    /// Files left out as too big or binary, for the error log (not errors:
    /// the run succeeded, and they are not retried).
    pub(super) skips: Mutex<Vec<Value>>,
    /// The run's progress bar.
    pub(super) bar: i64,
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(
        ctx: &'a Context,
        to: Destination<'a>,
        repos: &'a [RepoRun],
        store: &'a Store,
        uploader: &'a upload::Uploader,
        embedder: Option<&'a Embedder>,
        bar: i64,
    ) -> Pipeline<'a> {
        Pipeline {
            ctx,
            class: to.class,
            store_key: to.store_key,
            repos,
            store,
            uploader,
            embedder,
            embed_latency: Mutex::new(upload::histogram()),
            totals: Counters::default(),
            errors: Mutex::new(Vec::new()),
            skips: Mutex::new(Vec::new()),
            bar,
        }
    }

    /// Runs every stage to its end, with the reporter of live figures beside
    /// them: what the walker saw of each repository, and the errors that
    /// stopped a stage (an endpoint or Weaviate failing past its retries).
    pub(super) fn run(
        &self,
        max_files: Option<usize>,
        t0: Instant,
    ) -> HostResult<(Vec<Seen>, Vec<HostError>)> {
        let cfg = &self.ctx.config.index;
        let done = AtomicBool::new(false);
        // The reporter lives in an outer scope: it stops once the pipeline's scope has joined.
        std::thread::scope(|outer| {
            // Live figures are a convenience: without a thread for them the run goes on.
            let _ = spawn_stage(outer, std::thread::Builder::new(), "reporter", || {
                perf::report_live(self, t0, &done)
            });
            let joined = std::thread::scope(|s| -> HostResult<(Vec<Seen>, Vec<HostError>)> {
                let (task_tx, task_rx) = crossbeam_channel::bounded::<Task>(512);
                let (work_tx, work_rx) = crossbeam_channel::bounded::<Work>(64);
                let p = self;
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
        })
    }

    pub(super) fn put_records(&self, items: &[RecordUpdate]) -> HostResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.store.put_files(
            self.store_key,
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
                            Err((p, e)) => self.errors.lock().unwrap().push(error_log::entry(
                                Category::FileSystem.as_str(),
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
            match prepare(self.ctx, &self.repos[t.repo], t.repo, self.class, &t.found) {
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

    pub(super) fn figures(&self) -> Value {
        let mut f = self.uploader.figures();
        if self.embedder.is_some() {
            f["embed_latency_ms"] =
                upload::percentiles(&self.embed_latency.lock().unwrap(), 1000.0);
        }
        f
    }

    /// Uploader: requests of exactly index.batch_size objects, a file's
    /// chunks spanning two when they must, and each file recorded only once
    /// all its chunks are written. (Whole files per request left a small
    /// remainder request at every flush, and each request costs every
    /// replica a round of coordination: 19% more server CPU per chunk than
    /// the Python client's fixed-size batches, bench/ingest_cost.py.)
    fn upload(&self, work: crossbeam_channel::Receiver<Work>) -> HostResult<()> {
        let mut outbox = Outbox::default();
        let mut records: Vec<RecordUpdate> = Vec::new();
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
                    outbox.unsent += p.objects.len();
                    outbox.files.push_back(Queued {
                        file: p,
                        refused: None,
                    });
                }
            }
            // Records of unchanged files go with each request, as before.
            let request = outbox.unsent >= self.ctx.config.index.batch_size.max(1);
            if request || records.len() >= 1000 {
                self.put_records(&records)?;
                records.clear();
            }
            if request {
                self.send(&mut outbox, true)?;
            }
        }
        self.put_records(&records)?;
        self.send(&mut outbox, false)
    }

    /// Sends the outbox's objects in requests of index.batch_size (with
    /// `full_only`, a last part smaller than that waits for more), then
    /// completes the files whose chunks have all gone.
    fn send(&self, outbox: &mut Outbox, full_only: bool) -> HostResult<()> {
        let size = self.ctx.config.index.batch_size.max(1);
        while outbox.unsent > 0 && (outbox.unsent >= size || !full_only) {
            let mut part = Vec::with_capacity(size.min(outbox.unsent));
            let mut owner = Vec::with_capacity(part.capacity());
            for (i, q) in outbox.files.iter_mut().enumerate() {
                let take = (size - part.len()).min(q.file.objects.len());
                part.extend(q.file.objects.drain(..take));
                owner.extend(std::iter::repeat_n(i, take));
                if part.len() == size {
                    break;
                }
            }
            outbox.unsent -= part.len();
            for (k, msg) in self.uploader.upsert(self.ctx, &part)? {
                self.totals.objects_refused.fetch_add(1, Ordering::Relaxed);
                outbox.files[owner[k]].refused.get_or_insert(msg);
            }
            // Files are sent in order: those at the front with nothing left are done.
            let mut done = Vec::new();
            while outbox
                .files
                .front()
                .is_some_and(|q| q.file.objects.is_empty())
            {
                let q = outbox.files.pop_front().expect("a front file");
                if let Some(d) = self.complete(q)? {
                    done.push(d);
                }
            }
            self.put_records(&done)?;
        }
        Ok(())
    }

    /// A file whose chunks have all been sent: its record, or an error entry
    /// when Weaviate refused some (not recorded as done: the next run tries it again).
    fn complete(&self, q: Queued) -> HostResult<Option<RecordUpdate>> {
        let p = q.file;
        self.totals.files_done.fetch_add(1, Ordering::Relaxed);
        let r = &self.repos[p.repo];
        if let Some(msg) = q.refused {
            self.totals.files_refused.fetch_add(1, Ordering::Relaxed);
            self.errors.lock().unwrap().push(error_log::entry(
                Category::Weaviate.as_str(),
                &r.key,
                &p.rel,
                &format!("objects were refused: {msg}"),
            ));
            return Ok(None);
        }
        // Chunks past the new end belonged to the old version.
        if p.old_chunks > p.record.chunks {
            let stale: Vec<String> = (p.record.chunks..p.old_chunks)
                .map(|i| chunk_id(&r.key, &p.rel, i))
                .collect();
            self.uploader.delete(self.ctx, self.class, &stale)?;
        }
        self.totals
            .chunks
            .fetch_add(p.record.chunks, Ordering::Relaxed);
        self.totals.files_changed.fetch_add(1, Ordering::Relaxed);
        Ok(Some((p.repo, p.rel, Some(p.record))))
    }
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
}
