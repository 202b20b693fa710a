//! Elysia's own verbs beyond the lifecycle: `elysia.workers(4)` runs four
//! Elysia processes behind nginx, each user kept on one of them
//! (services/elysia_workers.rs says why processes and not uvicorn workers).

use super::{opt, write, Args, Host, HostFn, Ty};
use crate::base::error::HostResult;
use crate::services::{elysia, elysia_workers};
use serde_json::{json, Value};
use std::time::Duration;

fn timeout(host: &Host, a: &Args) -> HostResult<Duration> {
    Ok(a.opts(1)?
        .duration("timeout")?
        .unwrap_or(Duration::from_secs(host.config.elysia.ready_timeout)))
}

fn workers(host: &Host, a: &Args) -> HostResult<Value> {
    let count = elysia_workers::check_count(a.int(0)?)?;
    if count > 1 {
        // Refused before anything stops or starts.
        elysia_workers::nginx_program(&host.config.elysia)?;
    }
    elysia_workers::scale(host, count, timeout(host, a)?)
}

/// What a scale would start and stop, from the workers that run now.
fn simulate_workers(host: &Host, a: &Args) -> HostResult<Value> {
    let count = elysia_workers::check_count(a.int(0)?)?;
    if count > 1 {
        elysia_workers::nginx_program(&host.config.elysia)?;
    }
    timeout(host, a)?;
    let before = if elysia::runs()? {
        elysia::running_workers()
    } else {
        0
    };
    let count = count as usize;
    let (started, stopped): (Vec<usize>, Vec<usize>) = if before == count {
        (vec![], vec![])
    } else if count == 1 || before <= 1 {
        // Between one plain Elysia and workers behind nginx, all change.
        ((0..count).collect(), (0..before).collect())
    } else if count > before {
        ((before..count).collect(), vec![])
    } else {
        (vec![], (count..before).collect())
    };
    Ok(json!({
        "service": "elysia", "workers": count, "before": before, "started": started,
        "stopped": stopped, "url": host.config.elysia.url(), "seconds": null, "dry_run": true,
    }))
}

pub fn functions() -> Vec<HostFn> {
    vec![write("elysia", "workers", workers, simulate_workers)
        .param("count", Ty::Int)
        .opts(vec![opt("timeout", Ty::Duration)])
        .returns(Ty::record(&["service", "workers", "before", "started", "stopped", "url", "seconds"]))
        .doc("Run `count` Elysia processes (1 to 16). More than one run on free loopback ports behind nginx, which listens on elysia.port and keeps each user on one worker (hash on the user id in the path, docs/elysia-workers.md); 1 is a plain Elysia without nginx. Changes a running Elysia (starts it when none runs): new workers are ready before nginx sends users to them; removed ones stop after nginx stops sending. opts: timeout (readiness, default elysia.ready_timeout). Returns the counts before and after and the worker indexes started and stopped.")]
}
