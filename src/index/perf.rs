//! Live figures: while a sync runs, a reporter thread moves the progress bar
//! and rewrites the run's figures every half second to a file, which `index
//! perf` reads (from another process) beside the past runs in the store.

use super::error_log::now_rfc3339;
use super::pipeline::Pipeline;
use super::store::Store;
use super::store_path;
use crate::base::error::HostResult;
use crate::base::paths;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Figures of the run in progress, rewritten every half second for `index perf`.
pub fn live_path() -> PathBuf {
    paths::state_dir().join("index-live.json")
}

/// (resident, peak resident) bytes of this process.
pub(super) fn memory() -> (u64, u64) {
    let status = procfs::process::Process::myself().and_then(|p| p.status());
    let bytes = |kib: Option<u64>| kib.unwrap_or(0) * 1024;
    status.map_or((0, 0), |s| (bytes(s.vmrss), bytes(s.vmhwm)))
}

/// Per second over `secs`, to one decimal.
pub(super) fn per_second(count: usize, secs: f64) -> f64 {
    ((count as f64 / secs.max(0.001)) * 10.0).round() / 10.0
}

/// Writes the live figures for `index perf` every half second until `done`.
pub(super) fn report_live(p: &Pipeline, t0: Instant, done: &AtomicBool) {
    let (ctx, repos, totals, uploader) = (p.ctx, p.repos, &p.totals, p.uploader);
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
            "chunks_uploaded": chunks, "files_per_s": per_second(files, secs),
            "chunks_per_s": per_second(chunks, secs),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_this_process_resident_set_and_its_peak() {
        let (rss, peak) = memory();
        assert!(rss > 1024 * 1024 && peak >= rss, "{rss} {peak}");
    }

    #[test]
    fn per_second_has_one_decimal_and_survive_no_time() {
        assert_eq!(per_second(10, 4.0), 2.5);
        assert_eq!(per_second(1, 3.0), 0.3);
        assert_eq!(per_second(5, 0.0), 5000.0);
    }
}
