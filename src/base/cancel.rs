//! Cancellation: Ctrl-C and the script's wall-clock limit. Long work at any
//! layer checks it between steps, so it lives at the bottom, where the
//! domain can reach it without knowing about scripts.

use super::error::{Category, HostError, HostResult};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// Mark the running script as interrupted (Ctrl-C). It stops at its next
/// operation or host call.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn clear_interrupt() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Called by long host functions between steps, and by the engines'
/// progress hooks: fails once the script is interrupted or out of time.
pub fn check_interrupt() -> HostResult<()> {
    if interrupted() {
        return Err(HostError::new(Category::Timeout, "interrupted (Ctrl-C)")
            .with_hint("nothing further was changed after the interruption; re-run to continue")
            .with_exit_code(130));
    }
    let over = DEADLINE
        .with(|d| d.get())
        .and_then(|(deadline, limit)| (Instant::now() > deadline).then_some(limit));
    if let Some(limit) = over {
        return Err(HostError::timeout(format!(
            "the script ran longer than its limit of {}",
            humantime::format_duration(limit)
        ))
        .with_hint("raise script.timeout in the config, or pass --script-timeout")
        .with_exit_code(124));
    }
    Ok(())
}

/// Starts the script's time limit over, for host functions that run a
/// service until told to stop (the daemon, the embedding server): how long
/// they served is not time the script spent, so its last steps still run.
pub fn restart_deadline() {
    DEADLINE.with(|d| {
        if let Some((_, limit)) = d.get() {
            d.set(Some((super::units::deadline_after(limit), limit)));
        }
    });
}

/// Sets the wall-clock deadline for scripts run on this thread until dropped.
pub struct DeadlineGuard;

impl DeadlineGuard {
    pub fn set(limit: Duration) -> DeadlineGuard {
        DEADLINE.with(|d| d.set(Some((super::units::deadline_after(limit), limit))));
        DeadlineGuard
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}
