//! The lifecycle verbs for scripts: `service.start("weaviate")`,
//! `service.stop("elysia")`, `service.restart("weaviate", #{rolling: true})`,
//! `service.status()`. Built-in commands are thin scripts over these.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::services::{elysia, scale, weaviate};
use serde_json::{json, Value};
use std::time::Duration;

/// The managed services, as scripts name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Weaviate,
    Elysia,
}

impl Service {
    const NAMES: [&'static str; 2] = ["weaviate", "elysia"];

    fn name(self) -> &'static str {
        match self {
            Service::Weaviate => "weaviate",
            Service::Elysia => "elysia",
        }
    }

    /// Argument `i`, which the declaration has checked is a service name.
    fn of(a: &Args, i: usize) -> HostResult<Service> {
        match a.str(i)?.as_str() {
            "weaviate" => Ok(Service::Weaviate),
            "elysia" => Ok(Service::Elysia),
            other => Err(HostError::validation(format!("unknown service {other:?}"))
                .with_hint("the services are \"weaviate\" and \"elysia\"")),
        }
    }

    fn ty() -> Ty {
        Ty::one_of(Service::NAMES)
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
    let o = a.opts(1)?;
    match Service::of(a, 0)? {
        Service::Weaviate => {
            let nodes = node_indexes(host, o.int_list("nodes")?)?;
            let timeout = secs(&o, "timeout", host.config.weaviate.ready_timeout)?;
            weaviate::start(host, nodes, o.bool("wait", true)?, timeout)
        }
        Service::Elysia => {
            let timeout = secs(&o, "timeout", host.config.elysia.ready_timeout)?;
            elysia::start(
                host,
                timeout,
                o.bool("wait", true)?,
                elysia_workers(host, &o)?,
            )
        }
    }
}

/// How many Elysia processes a start runs: opts.workers, else elysia.workers.
fn elysia_workers(host: &Host, o: &super::args::Opts) -> HostResult<u32> {
    match o.int("workers")? {
        Some(n) => crate::services::elysia_workers::check_count(n),
        None => Ok(host.config.elysia.workers),
    }
}

fn stop(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    match Service::of(a, 0)? {
        Service::Weaviate => {
            let nodes = node_indexes(host, o.int_list("nodes")?)?;
            weaviate::stop(
                host,
                nodes,
                secs(&o, "timeout", host.config.weaviate.stop_timeout)?,
            )
        }
        Service::Elysia => {
            elysia::stop(host, secs(&o, "timeout", host.config.elysia.stop_timeout)?)
        }
    }
}

fn restart(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    match Service::of(a, 0)? {
        Service::Weaviate => weaviate::restart(
            host,
            o.bool("rolling", false)?,
            secs(&o, "timeout", host.config.weaviate.ready_timeout)?,
            Duration::from_secs(host.config.weaviate.stop_timeout),
        ),
        Service::Elysia => {
            let timeout = secs(&o, "timeout", host.config.elysia.ready_timeout)?;
            let stop_timeout = if o.bool("graceful", false)? {
                timeout
            } else {
                Duration::from_secs(host.config.elysia.stop_timeout)
            };
            // A restart keeps the number of workers that ran.
            let workers = elysia::running_workers() as u32;
            elysia::stop(host, stop_timeout)?;
            elysia::start(host, timeout, true, workers)
        }
    }
}

// ---- dry run -----------------------------------------------------------------
//
// Each simulation answers in the shape the real call has for that service,
// with what can be known without doing it (which nodes, the runtime, what a
// stop would find), and remembers the service's planned state for status().

fn plan_state(host: &Host, service: Service, state: &str) {
    host.plan
        .set_fact(&format!("service.{}", service.name()), json!(state));
}

fn planned_weaviate_start(host: &Host, nodes: Option<Vec<usize>>) -> HostResult<Value> {
    let rt = weaviate::runtime_for(host)?;
    let nodes = nodes.unwrap_or_else(|| (0..host.config.weaviate.nodes).collect());
    Ok(json!({
        "service": "weaviate", "runtime": rt.kind().as_str(),
        "started": nodes.iter().map(|&i| host.config.weaviate.node(i).name).collect::<Vec<_>>(),
        "ready": null, "seconds": null, "readiness": null, "dry_run": true,
    }))
}

fn planned_elysia_start(host: &Host) -> Value {
    json!({
        "service": "elysia", "pid": null, "url": host.config.elysia.url(), "ready": null,
        "seconds": null, "dry_run": true,
    })
}

/// What stopping a node or Elysia would find: "terminated" for one that runs.
fn planned_stop(running: bool) -> &'static str {
    if running {
        "terminated"
    } else {
        "not running"
    }
}

fn simulate_start(host: &Host, a: &Args) -> HostResult<Value> {
    let service = Service::of(a, 0)?;
    let o = a.opts(1)?;
    let planned = match service {
        Service::Weaviate => {
            planned_weaviate_start(host, node_indexes(host, o.int_list("nodes")?)?)?
        }
        Service::Elysia => {
            elysia_workers(host, &o)?;
            planned_elysia_start(host)
        }
    };
    plan_state(host, service, "running");
    Ok(planned)
}

fn simulate_stop(host: &Host, a: &Args) -> HostResult<Value> {
    let service = Service::of(a, 0)?;
    let o = a.opts(1)?;
    let planned = match service {
        Service::Weaviate => {
            let rt = weaviate::runtime_for(host)?;
            let nodes = node_indexes(host, o.int_list("nodes")?)?
                .unwrap_or_else(|| (0..host.config.weaviate.nodes).collect());
            let mut stopped = serde_json::Map::new();
            for i in nodes {
                let st = rt.node_state(i)?;
                stopped.insert(st.node, json!(planned_stop(st.running)));
            }
            json!({"service": "weaviate", "runtime": rt.kind().as_str(), "stopped": stopped, "dry_run": true})
        }
        Service::Elysia => {
            json!({"service": "elysia", "stopped": planned_stop(elysia::runs()?), "dry_run": true})
        }
    };
    plan_state(host, service, "stopped");
    Ok(planned)
}

fn simulate_restart(host: &Host, a: &Args) -> HostResult<Value> {
    let service = Service::of(a, 0)?;
    let o = a.opts(1)?;
    let planned = match service {
        Service::Weaviate if o.bool("rolling", false)? => {
            weaviate::can_roll(host)?;
            let rt = weaviate::runtime_for(host)?;
            let steps = (0..host.config.weaviate.nodes)
                .map(|i| {
                    let st = rt.node_state(i)?;
                    Ok(json!({"node": st.node, "stop": planned_stop(st.running), "seconds": null}))
                })
                .collect::<HostResult<Vec<_>>>()?;
            json!({"service": "weaviate", "rolling": true, "nodes": steps, "dry_run": true})
        }
        Service::Weaviate => planned_weaviate_start(host, None)?,
        Service::Elysia => planned_elysia_start(host),
    };
    plan_state(host, service, "running");
    Ok(planned)
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
            all["environment"] = json!(crate::base::paths::active_env());
            Ok(all)
        }
    }
}

fn status(host: &Host, a: &Args) -> HostResult<Value> {
    let service = match a.get(0) {
        Some(_) => Some(Service::of(a, 0)?),
        None => None,
    };
    status_of(host, service.map(Service::name))
}

fn logs(host: &Host, a: &Args) -> HostResult<Value> {
    let service = Service::of(a, 0)?;
    let o = a.opts(1)?;
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
    match service {
        Service::Weaviate => {
            let rt = weaviate::runtime_for(host)?;
            // Where a node logs, or a refusal (a remote cluster's logs are where it runs).
            rt.log_location(node)?;
            Ok(json!(rt.log_tail(node, lines)))
        }
        Service::Elysia => Ok(json!(crate::base::process::tail_lines(
            &crate::base::paths::log_dir().join("elysia.log"),
            lines
        ))),
    }
}

/// The node count to scale to: argument 1, a count of at least one.
fn scale_target(a: &Args) -> HostResult<usize> {
    match a.int(1)? {
        n if n >= 1 => Ok(n as usize),
        n => Err(HostError::validation(format!("cannot scale to {n} nodes"))
            .with_hint("give the node count the cluster should have, e.g. --nodes 5")),
    }
}

fn scale_plan(host: &Host, a: &Args) -> HostResult<Value> {
    Service::of(a, 0)?;
    Ok(serde_json::to_value(scale::plan(host, scale_target(a)?)?).unwrap_or_default())
}

fn scale(host: &Host, a: &Args) -> HostResult<Value> {
    Service::of(a, 0)?;
    let o = a.opts(2)?;
    let plan = scale::plan(host, scale_target(a)?)?;
    scale::execute(host, &plan, secs(&o, "timeout", 600)?)
}

/// The result a scale would have, from the plan (the moves listed, nothing
/// verified).
fn simulate_scale(host: &Host, a: &Args) -> HostResult<Value> {
    Service::of(a, 0)?;
    let plan = scale::plan(host, scale_target(a)?)?;
    Ok(json!({
        "service": "weaviate", "from": plan.from, "to": plan.to, "added": plan.add,
        "removed": plan.remove, "moves": plan.moves.len(), "planned_moves": plan.moves,
        "verified": null, "seconds": null, "dry_run": true,
    }))
}

fn names(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(Service::NAMES))
}

pub fn functions() -> Vec<HostFn> {
    let weaviate_start = || {
        Ty::record(&[
            "service",
            "runtime",
            "started",
            "ready",
            "seconds",
            "readiness",
        ])
    };
    let elysia_start = || Ty::record(&["service", "pid", "url", "ready", "seconds"]);
    let nodes = || opt("nodes", Ty::list_of(Ty::Int)).only_for("weaviate");
    vec![
        write("service", "start", start, simulate_start)
            .param("name", Service::ty())
            .opts(vec![
                nodes(),
                opt("wait", Ty::Bool),
                opt("timeout", Ty::Duration),
                opt("workers", Ty::Int).only_for("elysia"),
            ])
            .returns(Ty::Either(vec![weaviate_start(), elysia_start()]))
            .doc("Start \"weaviate\" or \"elysia\" and wait until ready. Weaviate opts: nodes (indexes), wait (true), timeout (seconds or \"3m\"); Elysia opts: timeout, wait, workers (default elysia.workers; more than 1 run behind nginx, each user kept on one)."),
        write("service", "stop", stop, simulate_stop)
            .param("name", Service::ty())
            .opts(vec![nodes(), opt("timeout", Ty::Duration)])
            .returns(Ty::Either(vec![
                Ty::Record(vec![("service", Ty::Str), ("runtime", Ty::Str), ("stopped", Ty::Map)]),
                Ty::Record(vec![("service", Ty::Str), ("stopped", Ty::Str)]),
            ]))
            .doc("Stop a service gracefully: SIGTERM (docker stop), SIGKILL after opts.timeout. Weaviate opts: nodes. Returns what each stop ended with (\"terminated\", \"killed\", \"not running\")."),
        write("service", "restart", restart, simulate_restart)
            .param("name", Service::ty())
            .opts(vec![
                opt("rolling", Ty::Bool).only_for("weaviate"),
                opt("graceful", Ty::Bool).only_for("elysia"),
                opt("timeout", Ty::Duration),
            ])
            .returns(Ty::Either(vec![
                Ty::record(&["service", "rolling", "nodes"]),
                weaviate_start(),
                elysia_start(),
            ]))
            .doc("Restart a service. Weaviate opts: rolling (one node at a time, waiting for readiness between), timeout; Elysia opts: graceful, timeout."),
        read("service", "scale_plan", scale_plan)
            .param("name", Ty::one_of(["weaviate"]))
            .param("nodes", Ty::Int)
            .returns(Ty::record(&["from", "to", "add", "remove", "moves", "collections"]))
            .doc("What scaling Weaviate to `nodes` nodes would do, read from the running cluster: the nodes added and removed, each replica move {collection, shard, from, to}, and each collection {collection, factor, shards, objects}. Refuses a cluster that is not ready, a remote one, and a node count below a collection's factor."),
        write("service", "scale", scale, simulate_scale)
            .param("name", Ty::one_of(["weaviate"]))
            .param("nodes", Ty::Int)
            .opts(vec![opt("timeout", Ty::Duration)])
            .returns(Ty::record(&["service", "from", "to", "added", "removed", "moves", "verified", "seconds"]))
            .doc("Grow or shrink Weaviate to `nodes` nodes without losing an object: new nodes join as non-voters and replicas move onto them; nodes that go are emptied by replica moves first, stopped, taken out of RAFT and their data removed. Verified afterwards (counts equal, every shard at its factor, RAFT holding exactly the nodes). opts: timeout for each wait (600 s)."),
        read("service", "status", status)
            .optional("name", Service::ty())
            .returns(Ty::record(&["up"]))
            .doc("Status of one service, or of all with an overall `up` (docs/commands.md has the schema)."),
        read("service", "logs", logs)
            .param("name", Service::ty())
            .opts(vec![opt("node", Ty::Int), opt("lines", Ty::Int)])
            .returns(Ty::array(Ty::Str))
            .doc("The last log lines of a service (opts: node for Weaviate, lines = 20, at most 10000; 0 gives none, a negative count is refused)."),
        read("service", "names", names)
            .returns(Ty::array(Ty::Str))
            .doc("The managed services: [\"weaviate\", \"elysia\"]."),
    ]
}
