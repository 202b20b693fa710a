//! The lifecycle verbs for scripts: `service.start("weaviate")`,
//! `service.stop("elysia")`, `service.restart("weaviate", #{rolling: true})`,
//! `service.status()`. Built-in commands are thin scripts over these.

use super::{read, write, Args, Host, HostFn};
use crate::base::error::{HostError, HostResult};
use crate::services::{elysia, weaviate};
use serde_json::{json, Value};
use std::time::Duration;

const SERVICES: &[&str] = &["weaviate", "elysia"];

fn service_name(a: &Args, i: usize) -> HostResult<String> {
    let name = a.str(i)?;
    if SERVICES.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(HostError::validation(format!("unknown service {name:?}"))
            .with_hint("the services are \"weaviate\" and \"elysia\""))
    }
}

fn node_indexes(host: &Host, list: Option<Vec<i64>>) -> HostResult<Option<Vec<usize>>> {
    let n = host.config.weaviate.nodes as i64;
    list.map(|l| {
        l.into_iter()
            .map(|i| {
                if (0..n).contains(&i) {
                    Ok(i as usize)
                } else {
                    Err(HostError::validation(format!("there is no node {i}"))
                        .with_hint(format!("nodes are numbered 0 to {}", n - 1)))
                }
            })
            .collect()
    })
    .transpose()
}

fn secs(o: &super::args::Opts, key: &str, default: u64) -> HostResult<Duration> {
    Ok(o.duration(key)?.unwrap_or(Duration::from_secs(default)))
}

fn start(host: &Host, a: &Args) -> HostResult<Value> {
    let name = service_name(a, 0)?;
    let o = a.opts(1)?;
    match name.as_str() {
        "weaviate" => {
            o.only(&["nodes", "wait", "timeout"])?;
            let nodes = node_indexes(host, o.int_list("nodes")?)?;
            let timeout = secs(&o, "timeout", host.config.weaviate.ready_timeout)?;
            weaviate::start(host, nodes, o.bool("wait", true)?, timeout)
        }
        _ => {
            o.only(&["timeout", "wait"])?;
            let timeout = secs(&o, "timeout", host.config.elysia.ready_timeout)?;
            elysia::start(host, timeout, o.bool("wait", true)?)
        }
    }
}

fn stop(host: &Host, a: &Args) -> HostResult<Value> {
    let name = service_name(a, 0)?;
    let o = a.opts(1)?;
    match name.as_str() {
        "weaviate" => {
            o.only(&["nodes", "timeout"])?;
            let nodes = node_indexes(host, o.int_list("nodes")?)?;
            weaviate::stop(
                host,
                nodes,
                secs(&o, "timeout", host.config.weaviate.stop_timeout)?,
            )
        }
        _ => {
            o.only(&["timeout"])?;
            elysia::stop(host, secs(&o, "timeout", host.config.elysia.stop_timeout)?)
        }
    }
}

fn restart(host: &Host, a: &Args) -> HostResult<Value> {
    let name = service_name(a, 0)?;
    let o = a.opts(1)?;
    match name.as_str() {
        "weaviate" => {
            o.only(&["rolling", "timeout"])?;
            weaviate::restart(
                host,
                o.bool("rolling", false)?,
                secs(&o, "timeout", host.config.weaviate.ready_timeout)?,
                Duration::from_secs(host.config.weaviate.stop_timeout),
            )
        }
        _ => {
            o.only(&["graceful", "timeout"])?;
            let timeout = secs(&o, "timeout", host.config.elysia.ready_timeout)?;
            let stop_timeout = if o.bool("graceful", false)? {
                timeout
            } else {
                Duration::from_secs(host.config.elysia.stop_timeout)
            };
            elysia::stop(host, stop_timeout)?;
            elysia::start(host, timeout, true)
        }
    }
}

fn simulate(host: &Host, a: &Args, state: &str) -> HostResult<Value> {
    let name = service_name(a, 0)?;
    host.plan.set_fact(&format!("service.{name}"), json!(state));
    Ok(json!({"service": name, "dry_run": true, "would_be": state}))
}

fn simulate_start(host: &Host, a: &Args) -> HostResult<Value> {
    simulate(host, a, "running")
}

fn simulate_stop(host: &Host, a: &Args) -> HostResult<Value> {
    simulate(host, a, "stopped")
}

fn simulate_restart(host: &Host, a: &Args) -> HostResult<Value> {
    simulate(host, a, "running")
}

/// A service's status as the plan left it: under --dry-run, a service an
/// earlier step would have stopped reads as stopped.
fn planned_status(host: &Host, service: &str, mut status: Value) -> Value {
    if host.plan.fact(&format!("service.{service}")) != Some(json!("stopped")) {
        return status;
    }
    let stopped = |row: &mut Value| {
        for key in ["running", "ready", "weaviate_connected"] {
            if row.get(key).is_some() {
                row[key] = json!(false);
            }
        }
        row["detail"] = json!("stopped (dry-run)");
    };
    status["up"] = json!(false);
    match status.get_mut("nodes").and_then(Value::as_array_mut) {
        Some(nodes) => nodes.iter_mut().for_each(stopped),
        None => stopped(&mut status),
    }
    status
}

fn weaviate_status(host: &Host) -> HostResult<Value> {
    Ok(planned_status(host, "weaviate", weaviate::status(host)?))
}

fn elysia_status(host: &Host) -> HostResult<Value> {
    Ok(planned_status(host, "elysia", elysia::status(host)?))
}

/// Status of one service, or of all with an overall `up`.
pub fn status_of(host: &Host, name: Option<&str>) -> HostResult<Value> {
    let elysia_on = host.config.elysia.enabled;
    match name {
        Some("weaviate") => weaviate_status(host),
        Some(_) => elysia_status(host),
        None => {
            let w = weaviate_status(host)?;
            let mut up = w["up"].as_bool().unwrap_or(false);
            let mut all = json!({"weaviate": w});
            if elysia_on {
                let e = elysia_status(host)?;
                up = up && e["up"].as_bool().unwrap_or(false);
                all["elysia"] = e;
            }
            all["up"] = json!(up);
            Ok(all)
        }
    }
}

fn status(host: &Host, a: &Args) -> HostResult<Value> {
    let name = match a.get(0) {
        Some(_) => Some(service_name(a, 0)?),
        None => None,
    };
    status_of(host, name.as_deref())
}

fn logs(host: &Host, a: &Args) -> HostResult<Value> {
    let name = service_name(a, 0)?;
    let o = a.opts(1)?;
    o.only(&["node", "lines"])?;
    let node = node_indexes(host, o.int("node")?.map(|n| vec![n]))?
        .and_then(|v| v.first().copied())
        .unwrap_or(0);
    let lines = match o.int("lines")?.unwrap_or(20) {
        n if n < 0 => {
            return Err(HostError::validation(format!("cannot show {n} log lines"))
                .with_hint("give a count of 0 or more, e.g. --lines 50"))
        }
        // Zero lines need no read of the log (nor a Docker call).
        0 => return Ok(json!([])),
        n => n.min(10_000) as usize,
    };
    match name.as_str() {
        "weaviate" => Ok(json!(weaviate::runtime_for(host)?.log_tail(node, lines))),
        _ => Ok(json!(crate::base::process::tail_lines(
            &crate::base::paths::log_dir().join("elysia.log"),
            lines
        ))),
    }
}

fn names(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(SERVICES))
}

pub fn functions() -> Vec<HostFn> {
    vec![
        write("service", "start", "start(name: string, opts?: map) -> map",
            "Start \"weaviate\" or \"elysia\" and wait until ready. Weaviate opts: nodes (indexes), wait (true), timeout (seconds or \"3m\"); Elysia opts: timeout, wait.",
            start, Some(simulate_start)),
        write("service", "stop", "stop(name: string, opts?: map) -> map",
            "Stop a service gracefully: SIGTERM (docker stop), SIGKILL after opts.timeout. Weaviate opts: nodes.",
            stop, Some(simulate_stop)),
        write("service", "restart", "restart(name: string, opts?: map) -> map",
            "Restart a service. Weaviate opts: rolling (one node at a time, waiting for readiness between), timeout; Elysia opts: graceful, timeout.",
            restart, Some(simulate_restart)),
        read("service", "status", "status(name?: string) -> map",
            "Status of one service, or of all with an overall `up` (see the README for the schema).", status),
        read("service", "logs", "logs(name: string, opts?: map) -> array",
            "The last log lines of a service (opts: node for Weaviate, lines = 20, at most 10000; 0 gives none, a negative count is refused).", logs),
        read("service", "names", "names() -> array", "The managed services: [\"weaviate\", \"elysia\"].", names),
    ]
}
