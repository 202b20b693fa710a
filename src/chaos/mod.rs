//! Chaos: faults put into the running cluster on purpose, each with a
//! deadline, and undone at that deadline whatever happens to the process
//! that put them there.
//!
//! * The registry (`<state>/chaos/faults.json`) holds the active faults:
//!   what, where, since, until and how to undo. Every invocation, the
//!   reaper and the daemon share it; a writer holds `faults.lock`, and the
//!   file is replaced by rename, so a reader never sees half of it.
//! * A fault is registered *before* it is applied: a crash between the two
//!   leaves an entry whose undo is harmless, never an unrecorded fault.
//! * The reaper is a detached `elysiactl chaos reap`, started by whichever
//!   invocation registers a fault while none runs. It undoes each fault at
//!   its deadline and exits when the registry is empty. Each invocation of a
//!   chaos command also undoes what is overdue, so a reaper that was killed
//!   is caught up with on the next call.
//! * The journal (`<state>/chaos/journal.jsonl`) is append-only: one line
//!   per injection, undo, failure and reset, with its time and outcome.

pub mod latency;
pub mod network;
pub mod node;
pub mod scenario;
pub mod snapshot;

use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub use node::NodeAction;

/// An undo that failed is tried again this much later, at most this often.
const UNDO_RETRY: Duration = Duration::from_secs(2);
const UNDO_ATTEMPTS: u32 = 5;

pub fn dir() -> PathBuf {
    paths::state_dir().join("chaos")
}

fn registry_file() -> PathBuf {
    dir().join("faults.json")
}

fn lock_file() -> PathBuf {
    dir().join("faults.lock")
}

pub fn journal_file() -> PathBuf {
    dir().join("journal.jsonl")
}

pub fn reaper_pid_file() -> PathBuf {
    paths::run_dir().join("chaos-reaper.pid")
}

pub fn reaper_log_file() -> PathBuf {
    paths::log_dir().join("chaos-reaper.log")
}

/// One active fault, as the registry keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub id: String,
    /// "node", "resource" or "network".
    pub kind: String,
    pub action: NodeAction,
    pub node: String,
    pub index: usize,
    pub runtime: String,
    /// What the fault acts on: "PID 1234" or "container NAME".
    pub target: String,
    /// RFC 3339, UTC.
    pub since: String,
    pub until: String,
    /// The deadline in milliseconds since the epoch, what the reaper compares.
    pub until_ms: i64,
    /// How it is undone, in words: "start weaviate-1".
    pub undo: String,
    /// The PID of the elysiactl that injected it.
    pub injected_by: u32,
    /// The seed of a random choice of nodes, to repeat it.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Failed undo attempts so far.
    #[serde(default)]
    pub undo_failures: u32,
    /// A CPU limit: percent of one CPU.
    #[serde(default)]
    pub percent: Option<f64>,
    /// What the undo puts back (the previous cgroup or CPU quota), once the
    /// fault is applied.
    #[serde(default)]
    pub restore: Option<String>,
    /// Memory pressure: the limit, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

impl Fault {
    pub fn remaining(&self) -> Duration {
        Duration::from_millis((self.until_ms - now_ms()).max(0) as u64)
    }

    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["remaining_seconds"] = json!((self.remaining().as_secs_f64() * 10.0).round() / 10.0);
        v
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    faults: Vec<Fault>,
}

/// The registry while its writers' lock is held (released on drop).
pub struct Registry {
    _lock: std::fs::File,
    pub faults: Vec<Fault>,
}

impl Registry {
    /// Take the writers' lock and read the registry.
    pub fn lock() -> HostResult<Registry> {
        std::fs::create_dir_all(dir())
            .map_err(|e| HostError::io(format!("cannot create {}", dir().display()), e))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_file())
            .map_err(|e| HostError::io(format!("cannot open {}", lock_file().display()), e))?;
        lock.lock()
            .map_err(|e| HostError::io(format!("cannot lock {}", lock_file().display()), e))?;
        Ok(Registry {
            _lock: lock,
            faults: read_faults()?,
        })
    }

    pub fn save(&self) -> HostResult<()> {
        let path = registry_file();
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&RegistryFile {
            faults: self.faults.clone(),
        })
        .unwrap_or_default();
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| HostError::io(format!("cannot write {}", path.display()), e))
    }

    /// Take a fault out of the registry: the caller now owns its undo, and no
    /// other process will undo it too.
    pub fn claim(&mut self, id: &str) -> HostResult<Option<Fault>> {
        let Some(i) = self.faults.iter().position(|f| f.id == id) else {
            return Ok(None);
        };
        let f = self.faults.remove(i);
        self.save()?;
        Ok(Some(f))
    }
}

fn read_faults() -> HostResult<Vec<Fault>> {
    let path = registry_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<RegistryFile>(&text)
            .map(|r| r.faults)
            .map_err(|e| {
                HostError::validation(format!("the fault registry {} is unreadable: {e}", path.display()))
                    .with_hint("`elysiactl chaos reset` undoes what it can find on the nodes; then remove the file")
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(HostError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// The active faults, without taking the lock (the file is replaced whole).
pub fn active() -> HostResult<Vec<Fault>> {
    read_faults()
}

/// Append one event to the journal, stamped with the time and this PID.
/// The journal is a record, not a control path: a failure to write it is
/// logged and does not stop an undo.
pub fn journal(event: &str, mut entry: Value) {
    entry["time"] = json!(rfc3339_ms(now_ms()));
    entry["event"] = json!(event);
    entry["pid"] = json!(std::process::id());
    let line = format!("{entry}\n");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir())?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal_file())?;
        // One write of one line: appends of concurrent writers do not interleave.
        f.write_all(line.as_bytes())
    };
    if let Err(e) = write() {
        tracing::warn!("cannot append to {}: {e}", journal_file().display());
    }
}

/// The journal's entries, oldest first; the last `limit` when given.
pub fn history(limit: Option<usize>) -> HostResult<Vec<Value>> {
    let path = journal_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HostError::io(format!("cannot read {}", path.display()), e)),
    };
    Ok(parse_history(&text, limit))
}

/// A line torn by a crash mid-append is skipped: the rest stays readable.
fn parse_history(text: &str, limit: Option<usize>) -> Vec<Value> {
    let entries: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = limit.map_or(0, |n| entries.len().saturating_sub(n));
    entries.into_iter().skip(skip).collect()
}

/// The duration a fault gets: the one asked for, else the configured
/// default; longer than the configured maximum is refused.
pub fn fault_duration(ctx: &Context, asked: Option<Duration>) -> HostResult<Duration> {
    let c = &ctx.config.chaos;
    let default = crate::base::units::parse_positive_duration(&c.default_duration)?;
    let max = crate::base::units::parse_positive_duration(&c.max_duration)?;
    let d = asked.unwrap_or(default);
    if d.is_zero() {
        return Err(
            HostError::validation("a fault needs a duration longer than zero")
                .with_hint("give --duration such as 30s; every fault is undone when it runs out"),
        );
    }
    if d > max {
        return Err(HostError::validation(format!(
            "a duration of {} is longer than chaos.max_duration ({})",
            crate::base::units::format_duration(d),
            c.max_duration
        ))
        .with_hint("give a shorter --duration, or raise chaos.max_duration in the config"));
    }
    Ok(d)
}

/// How long an injector may take to apply a fault before the reaper counts
/// it as crashed mid-way and undoes it anyway: the deadline given at
/// registration is the duration plus this, and becomes the duration alone,
/// counted from then, once the fault has taken.
pub fn apply_grace(ctx: &Context, action: NodeAction) -> Duration {
    let stop = match action {
        NodeAction::Stop => Duration::from_secs(ctx.config.weaviate.stop_timeout),
        _ => Duration::ZERO,
    };
    stop + Duration::from_secs(5)
}

/// The fault has taken: its deadline now counts from this moment, and what
/// its undo needs (`restore`) is recorded with it.
pub fn mark_applied(
    fault: &mut Fault,
    duration: Duration,
    restore: Option<String>,
) -> HostResult<()> {
    fault.until_ms = now_ms() + duration.as_millis() as i64;
    fault.until = rfc3339_ms(fault.until_ms);
    if restore.is_some() {
        fault.restore = restore;
    }
    let mut reg = Registry::lock()?;
    if let Some(f) = reg.faults.iter_mut().find(|f| f.id == fault.id) {
        f.until_ms = fault.until_ms;
        f.until = fault.until.clone();
        f.restore = fault.restore.clone();
    }
    reg.save()
}

/// Undo one fault by id, if it is still active. `reason` goes to the
/// journal: "expired", "requested", "rollback", "reset". An undo that fails
/// is put back with a later deadline, so the reaper tries again.
pub fn undo(ctx: &Context, id: &str, reason: &str) -> HostResult<Option<Value>> {
    let Some(fault) = Registry::lock()?.claim(id)? else {
        return Ok(None);
    };
    let t0 = std::time::Instant::now();
    let outcome = node::undo(ctx, &fault);
    let seconds = (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    match outcome {
        Ok(how) => {
            journal(
                "undo",
                json!({"fault": fault.id, "node": fault.node, "action": fault.action,
                       "target": fault.target, "reason": reason, "outcome": how, "seconds": seconds}),
            );
            Ok(Some(
                json!({"id": fault.id, "node": fault.node, "action": fault.action,
                           "undo": fault.undo, "reason": reason, "outcome": how}),
            ))
        }
        Err(e) => {
            let mut again = fault.clone();
            again.undo_failures += 1;
            let abandoned = again.undo_failures >= UNDO_ATTEMPTS;
            journal(
                if abandoned {
                    "undo_abandoned"
                } else {
                    "undo_failed"
                },
                json!({"fault": fault.id, "node": fault.node, "action": fault.action,
                       "reason": reason, "error": e.message, "attempt": again.undo_failures}),
            );
            if !abandoned {
                again.until_ms = now_ms() + UNDO_RETRY.as_millis() as i64;
                let mut reg = Registry::lock()?;
                reg.faults.push(again);
                reg.save()?;
            }
            Err(e)
        }
    }
}

/// Undo every fault whose deadline has passed; returns what was undone.
/// Failures are journalled and retried, not raised: one node that will not
/// come back must not keep the others down.
pub fn expire_due(ctx: &Context) -> HostResult<Vec<Value>> {
    let now = now_ms();
    let due: Vec<String> = active()?
        .into_iter()
        .filter(|f| f.until_ms <= now)
        .map(|f| f.id)
        .collect();
    let mut undone = Vec::new();
    for id in due {
        match undo(ctx, &id, "expired") {
            Ok(Some(v)) => undone.push(v),
            Ok(None) => {}
            Err(e) => tracing::warn!("undoing fault {id}: {}", e.message),
        }
    }
    Ok(undone)
}

/// Undo every active fault now, and what a crash may have left on the nodes
/// without a registry entry (a paused node). Idempotent: a second reset
/// finds nothing to do.
pub fn reset(ctx: &Context) -> HostResult<Value> {
    let mut undone = Vec::new();
    let mut failed = Vec::new();
    for f in active()? {
        match undo(ctx, &f.id, "reset") {
            Ok(Some(v)) => undone.push(v),
            Ok(None) => {}
            Err(e) => failed.push(json!({"id": f.id, "node": f.node, "error": e.message})),
        }
    }
    let mut leftovers = node::resume_leftovers(ctx)?;
    let still = active()?;
    leftovers.extend(network::delete_leftovers(
        &ctx.config.weaviate.cluster_name,
        &still,
    ));
    leftovers.extend(network::delete_leftover_qdiscs(ctx, &still));
    leftovers.extend(latency::delete_leftovers(ctx, &still));
    journal(
        "reset",
        json!({"undone": undone.len(), "leftovers": leftovers, "failed": failed}),
    );
    Ok(json!({"undone": undone, "leftovers": leftovers, "failed": failed}))
}

/// Make sure a reaper runs while faults are registered. Called with the
/// registry locked, so the reaper cannot be deciding to exit meanwhile.
fn ensure_reaper(ctx: &Context, _held: &Registry) -> HostResult<()> {
    if let PidState::Running { .. } = proc::pid_state(&reaper_pid_file())? {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| HostError::io("cannot find this program", e))?;
    let mut args: Vec<String> = Vec::new();
    if let Some(f) = ctx.config.file.clone().filter(|f| f.exists()) {
        args.push("--config".into());
        args.push(f.display().to_string());
    }
    args.extend(["chaos".into(), "reap".into()]);
    let _ = std::fs::remove_file(reaper_pid_file());
    proc::spawn(&proc::SpawnSpec {
        program: exe,
        args,
        pid_file: reaper_pid_file(),
        log_file: reaper_log_file(),
        ..Default::default()
    })?;
    Ok(())
}

/// Catch up at the start of a chaos command: undo what is overdue, and
/// start a reaper when faults remain and none runs (it was killed).
pub fn catch_up(ctx: &Context) -> HostResult<Vec<Value>> {
    let undone = expire_due(ctx)?;
    let reg = Registry::lock()?;
    if !reg.faults.is_empty() {
        ensure_reaper(ctx, &reg)?;
    }
    Ok(undone)
}

/// The reaper's loop: undo each fault at its deadline; return when none is
/// left (or on SIGTERM/Ctrl-C, leaving the registry for the next caller).
pub fn reap(ctx: &Context) -> HostResult<Value> {
    let me = std::process::id();
    match proc::pid_state(&reaper_pid_file())? {
        PidState::Running { pid } if pid != me => {
            return Ok(
                json!({"undone": 0, "detail": format!("a reaper already runs as PID {pid}")}),
            )
        }
        PidState::Running { .. } => {}
        _ => {
            if let Some(start_ticks) = proc::start_ticks_of(me) {
                proc::write_pid_file(
                    &reaper_pid_file(),
                    proc::PidRecord {
                        pid: me,
                        start_ticks,
                    },
                )?;
            }
        }
    }
    let mut undone = 0;
    loop {
        crate::base::cancel::restart_deadline();
        if crate::base::cancel::interrupted() {
            return Ok(
                json!({"undone": undone, "detail": "interrupted; the next chaos command catches up"}),
            );
        }
        undone += expire_due(ctx)?.len();
        let reg = Registry::lock()?;
        let Some(next) = reg.faults.iter().map(|f| f.until_ms).min() else {
            if let Ok(Some(rec)) = proc::read_pid_file(&reaper_pid_file()) {
                if rec.pid == me {
                    let _ = std::fs::remove_file(reaper_pid_file());
                }
            }
            return Ok(json!({"undone": undone, "detail": "no fault left"}));
        };
        drop(reg);
        let wait = (next - now_ms()).clamp(20, 250) as u64;
        std::thread::sleep(Duration::from_millis(wait));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_last_entries_in_order() {
        let text =
            "{\"event\":\"inject\"}\nnot json\n{\"event\":\"undo\"}\n{\"event\":\"reset\"}\n";
        let all = parse_history(text, None);
        assert_eq!(all.len(), 3, "a torn line is skipped, not fatal");
        let last = parse_history(text, Some(2));
        assert_eq!(last[0]["event"], "undo");
        assert_eq!(last[1]["event"], "reset");
    }

    #[test]
    fn remaining_time_counts_down_to_zero() {
        let mut f = node::tests::fault("f1");
        f.until_ms = now_ms() + 5_000;
        assert!(f.remaining() > Duration::from_secs(4));
        f.until_ms = now_ms() - 5_000;
        assert_eq!(f.remaining(), Duration::ZERO);
        assert_eq!(f.to_json()["remaining_seconds"], 0.0);
    }
}
