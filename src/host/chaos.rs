//! Script access to chaos: node faults with a deadline, the shared fault
//! registry, reset, the journal. See `crate::chaos` for how every fault is
//! undone even when its injector is killed.
//!
//! Faults a script injects are its own: when the script ends, however it
//! ends (success, error, Ctrl-C, SIGTERM), [`rollback_run`] undoes those
//! still active, unless they were injected with `detach`.

use super::cluster::resolve_node;
use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::HostResult;
use crate::chaos::{self, NodeAction};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether this process has injected faults its rollback must undo: the
/// SIGTERM handler asks, to stop the script instead of exiting at once.
static ROLLBACK_PENDING: AtomicBool = AtomicBool::new(false);

/// From the first fault a run must roll back, SIGTERM (a service manager,
/// `kill`, a CI timeout) stops the script the way the first Ctrl-C does, so
/// the rollback runs before the process exits; a second SIGTERM, or one
/// with nothing left to roll back, exits at once. Installed only then:
/// other commands keep SIGTERM's default, or their own handling (`serve
/// embeddings` stops gracefully on it).
fn stop_script_on_sigterm(host: &Host) {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered here rather than in the task: a SIGTERM before the task's
    // first poll would otherwise find the default disposition and kill us
    // with the fault still on.
    let Ok(mut sigterm) = host.block_on(async { signal(SignalKind::terminate()) }) else {
        return;
    };
    host.rt.spawn(async move {
        while sigterm.recv().await.is_some() {
            if !ROLLBACK_PENDING.load(Ordering::SeqCst) || crate::base::cancel::interrupted() {
                std::process::exit(143);
            }
            crate::base::cancel::interrupt();
        }
    });
}

fn node_index(host: &Host, v: &Value) -> HostResult<usize> {
    Ok(resolve_node(&host.config.weaviate.node_specs(), v)?.index)
}

fn seed_of(o: &super::args::Opts) -> HostResult<Option<u64>> {
    Ok(o.int("seed")?.map(|s| s.max(0) as u64))
}

fn node_fault(host: &Host, a: &Args) -> HostResult<Value> {
    let action = NodeAction::parse(&a.str(0)?)?;
    let index = node_index(host, &a.value(1))?;
    let o = a.opts(2)?;
    chaos::catch_up(host)?;
    let fault = chaos::node::inject(
        host,
        action,
        index,
        o.duration("duration")?,
        seed_of(&o)?,
        None,
        None,
    )?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(fault.to_json())
}

/// A fault of this run is rolled back when the script ends, unless detached.
fn remember(host: &Host, fault: &chaos::Fault, detach: bool) {
    if !detach {
        host.chaos_faults.lock().unwrap().push(fault.id.clone());
        if !ROLLBACK_PENDING.swap(true, Ordering::SeqCst) {
            stop_script_on_sigterm(host);
        }
    }
    host.out.status(&NodeAction::describe(fault));
}

/// A percentage written 50, 50.5, "50" or "50%"; None when it is none
/// of these.
fn percent_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// A CPU share: a percentage above 0 (more than 100 is more than one CPU).
fn percent_of(a: &Args, i: usize) -> HostResult<f64> {
    let v = a.value(i);
    percent_value(&v)
        .filter(|p| *p > 0.0 && p.is_finite())
        .ok_or_else(|| {
            crate::base::error::HostError::validation(format!(
                "a CPU limit must be a percentage above 0, got {v}"
            ))
            .with_hint("e.g. 50% (half of one CPU) or 150% (one and a half)")
        })
}

fn cpu_limit(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let percent = percent_of(a, 1)?;
    let o = a.opts(2)?;
    chaos::catch_up(host)?;
    let fault = chaos::node::inject(
        host,
        NodeAction::CpuLimit,
        index,
        o.duration("duration")?,
        None,
        Some(percent),
        None,
    )?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(fault.to_json())
}

/// A memory-pressure call's node, options and opts.limit (a size like
/// "300MiB", or bytes; None: the default).
fn memory_args(host: &Host, a: &Args) -> HostResult<(usize, super::args::Opts, Option<u64>)> {
    let index = node_index(host, &a.value(0))?;
    let o = a.opts(1)?;
    let limit = o
        .str("limit")?
        .map(|l| crate::base::units::parse_bytes(&l))
        .transpose()?;
    Ok((index, o, limit))
}

fn memory_pressure(host: &Host, a: &Args) -> HostResult<Value> {
    let (index, o, limit) = memory_args(host, a)?;
    chaos::catch_up(host)?;
    let fault = chaos::node::inject(
        host,
        NodeAction::MemoryPressure,
        index,
        o.duration("duration")?,
        None,
        None,
        limit,
    )?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(fault.to_json())
}

fn simulate_memory_pressure(host: &Host, a: &Args) -> HostResult<Value> {
    let (index, o, limit) = memory_args(host, a)?;
    let fault = chaos::node::plan(
        host,
        NodeAction::MemoryPressure,
        index,
        o.duration("duration")?,
        None,
        None,
        limit,
    )?;
    Ok(planned(host, &fault))
}

/// A fault as a dry run answers: the plan line printed, the fault in the
/// shape the real call returns, with no registry ID.
fn planned(host: &Host, fault: &chaos::Fault) -> Value {
    host.out
        .plan_line(&format!("would {}", NodeAction::describe(fault)));
    let mut v = fault.to_json();
    v["id"] = Value::Null;
    v["dry_run"] = json!(true);
    v
}

fn simulate_cpu_limit(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let percent = percent_of(a, 1)?;
    let o = a.opts(2)?;
    let fault = chaos::node::plan(
        host,
        NodeAction::CpuLimit,
        index,
        o.duration("duration")?,
        None,
        Some(percent),
        None,
    )?;
    Ok(planned(host, &fault))
}

/// The exact plan: which process or container, what signal, for how long.
fn simulate_node_fault(host: &Host, a: &Args) -> HostResult<Value> {
    let action = NodeAction::parse(&a.str(0)?)?;
    let index = node_index(host, &a.value(1))?;
    let o = a.opts(2)?;
    let fault = chaos::node::plan(
        host,
        action,
        index,
        o.duration("duration")?,
        seed_of(&o)?,
        None,
        None,
    )?;
    Ok(planned(host, &fault))
}

/// Node indexes from a list of names or indexes (or one of them).
fn node_indexes(host: &Host, v: &Value) -> HostResult<Vec<usize>> {
    match v {
        Value::Array(items) => items.iter().map(|x| node_index(host, x)).collect(),
        Value::Object(m) if m.is_empty() => Ok(Vec::new()),
        one => Ok(vec![node_index(host, one)?]),
    }
}

/// The two sides: the group, and the others given or every other node.
fn sides(host: &Host, a: &Args) -> HostResult<(Vec<usize>, Vec<usize>)> {
    let group = node_indexes(host, &a.value(0))?;
    let others = match a.get(1) {
        Some(v) => node_indexes(host, v)?,
        None => (0..host.config.weaviate.nodes)
            .filter(|i| !group.contains(i))
            .collect(),
    };
    Ok((group, others))
}

fn partition(host: &Host, a: &Args) -> HostResult<Value> {
    let (group, others) = sides(host, a)?;
    let o = a.opts(2)?;
    chaos::catch_up(host)?;
    let fault = chaos::network::partition(host, &group, &others, o.duration("duration")?)?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(fault.to_json())
}

fn simulate_partition(host: &Host, a: &Args) -> HostResult<Value> {
    let (group, others) = sides(host, a)?;
    let o = a.opts(2)?;
    let fault = chaos::network::plan(host, &group, &others, o.duration("duration")?)?;
    Ok(planned_network(host, &fault))
}

/// A percentage of packets: 10, 0.5, "10" or "10%".
fn loss_percent(a: &Args, i: usize) -> HostResult<f64> {
    let v = a.value(i);
    percent_value(&v)
        .filter(|p| *p > 0.0 && *p <= 100.0)
        .ok_or_else(|| {
            crate::base::error::HostError::validation(format!(
                "packet loss must be a percentage above 0 and at most 100, got {v}"
            ))
            .with_hint("e.g. 10% (one packet in ten dropped, each at random)")
        })
}

fn packet_loss(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let percent = loss_percent(a, 1)?;
    let o = a.opts(2)?;
    chaos::catch_up(host)?;
    let fault = chaos::network::packet_loss(host, index, percent, o.duration("duration")?)?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(fault.to_json())
}

fn simulate_packet_loss(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let percent = loss_percent(a, 1)?;
    let o = a.opts(2)?;
    let fault = chaos::network::plan_loss(host, index, percent, o.duration("duration")?)?;
    Ok(planned_network(host, &fault))
}

fn bandwidth(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let rate = a.str(1)?;
    let o = a.opts(2)?;
    chaos::catch_up(host)?;
    let fault = chaos::network::bandwidth(host, index, &rate, o.duration("duration")?)?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(fault.to_json())
}

fn simulate_bandwidth(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let rate = a.str(1)?;
    let o = a.opts(2)?;
    let fault = chaos::network::plan_bandwidth(host, index, &rate, o.duration("duration")?)?;
    Ok(planned_network(host, &fault))
}

/// The latency and jitter asked for: durations, the jitter 0 when not given.
fn latency_args(a: &Args) -> HostResult<(Duration, Duration, super::args::Opts)> {
    let latency = crate::base::units::parse_duration(&a.str(1)?)?;
    let o = a.opts(2)?;
    let jitter = match o.str("jitter")? {
        Some(j) => crate::base::units::parse_duration(&j)?,
        None => Duration::ZERO,
    };
    Ok((latency, jitter, o))
}

fn latency(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let (latency, jitter, o) = latency_args(a)?;
    chaos::catch_up(host)?;
    let fault = chaos::latency::inject(host, index, latency, jitter, o.duration("duration")?)?;
    remember(host, &fault, o.bool("detach", false)?);
    Ok(proxy_json(&fault))
}

fn simulate_latency(host: &Host, a: &Args) -> HostResult<Value> {
    let index = node_index(host, &a.value(0))?;
    let (latency, jitter, o) = latency_args(a)?;
    let fault = chaos::latency::plan(host, index, latency, jitter, o.duration("duration")?)?;
    let mut v = planned(host, &fault);
    v["proxy"] = proxy_json(&fault)["proxy"].clone();
    Ok(v)
}

/// The fault with the proxy's address at the top, where clients are pointed.
fn proxy_json(fault: &chaos::Fault) -> Value {
    let mut v = fault.to_json();
    v["proxy"] = chaos::network::Applied::of(fault)
        .proxy
        .map(|p| json!(p.listen))
        .unwrap_or(Value::Null);
    v
}

/// A network fault's plan: the fault, then every rule and group move it
/// would make, exactly.
fn planned_network(host: &Host, fault: &chaos::Fault) -> Value {
    let v = planned(host, fault);
    let applied = chaos::network::Applied::of(fault);
    for m in &applied.cgroups {
        host.out.plan_line(&format!(
            "would move {} (PID {}) into the cgroup-v2 group {}",
            m.node, m.pid, m.group
        ));
    }
    for r in &applied.rules {
        host.out.plan_line(&format!("would run {}", r.command()));
    }
    for q in &applied.qdiscs {
        host.out.plan_line(&format!("would run {}", q.command()));
    }
    v
}

fn undo(host: &Host, a: &Args) -> HostResult<Value> {
    Ok(chaos::undo(host, &a.str(0)?, "requested")?.unwrap_or(Value::Null))
}

fn simulate_undo(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.str(0)?;
    Ok(match chaos::active()?.into_iter().find(|f| f.id == id) {
        Some(f) => {
            host.out
                .plan_line(&format!("would {} (fault {})", f.undo, f.id));
            json!({"id": f.id, "node": f.node, "action": f.action, "undo": f.undo,
                   "reason": "requested", "outcome": null, "dry_run": true})
        }
        None => Value::Null,
    })
}

/// Wait out a fault, then undo it; Ctrl-C or SIGTERM ends the wait early
/// and the script's rollback undoes it.
fn hold(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.str(0)?;
    loop {
        let Some(f) = chaos::active()?.into_iter().find(|f| f.id == id) else {
            // Undone meanwhile (by the reaper at its deadline, or a reset).
            return Ok(Value::Null);
        };
        let left = f.remaining();
        if left.is_zero() {
            break;
        }
        crate::base::cancel::check_interrupt()?;
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    Ok(chaos::undo(host, &id, "expired")?.unwrap_or(Value::Null))
}

fn status(host: &Host, _: &Args) -> HostResult<Value> {
    if !host.dry_run {
        chaos::catch_up(host)?;
    }
    Ok(json!(chaos::active()?
        .iter()
        .map(chaos::Fault::to_json)
        .collect::<Vec<_>>()))
}

fn reset(host: &Host, _: &Args) -> HostResult<Value> {
    let r = chaos::reset(host)?;
    host.chaos_faults.lock().unwrap().clear();
    Ok(r)
}

fn simulate_reset(host: &Host, _: &Args) -> HostResult<Value> {
    let undone: Vec<Value> = chaos::active()?
        .into_iter()
        .map(|f| {
            host.out
                .plan_line(&format!("would {} (fault {})", f.undo, f.id));
            json!({"id": f.id, "node": f.node, "action": f.action, "undo": f.undo,
                   "reason": "reset", "outcome": null})
        })
        .collect();
    Ok(json!({"undone": undone, "leftovers": [], "failed": [], "dry_run": true}))
}

fn history(_: &Host, a: &Args) -> HostResult<Value> {
    let limit = a.opts(0)?.int("limit")?.map(|n| n.max(0) as usize);
    Ok(json!(chaos::history(limit)?))
}

fn pick(host: &Host, a: &Args) -> HostResult<Value> {
    let count = a.int(0)?.max(0) as usize;
    let (seed, nodes) =
        chaos::node::pick(host.config.weaviate.nodes, count, seed_of(&a.opts(1)?)?)?;
    Ok(json!({"seed": seed, "nodes": nodes,
              "names": nodes.iter().map(|&i| host.config.weaviate.node(i).name).collect::<Vec<_>>()}))
}

fn reap(host: &Host, _: &Args) -> HostResult<Value> {
    chaos::reap(host)
}

fn simulate_reap(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"undone": 0, "detail": "dry run: nothing undone", "dry_run": true}))
}

/// Undo what this run injected and is still active: called by the CLI when
/// a script ends, whatever the way. Errors are reported, not raised: the
/// script's own outcome is what the exit code says.
pub fn rollback_run(host: &Host) -> Vec<Value> {
    let ids: Vec<String> = std::mem::take(&mut *host.chaos_faults.lock().unwrap());
    let mut done = Vec::new();
    for id in ids {
        match chaos::undo(host, &id, "rollback") {
            Ok(Some(v)) => {
                host.out.status(&format!(
                    "rolled back: {}",
                    v["undo"].as_str().unwrap_or_default()
                ));
                done.push(v);
            }
            Ok(None) => {}
            Err(e) => host.out.warn(&format!(
                "could not roll back fault {id}: {} (the reaper tries again; `elysiactl chaos reset` forces it)",
                e.message
            )),
        }
    }
    ROLLBACK_PENDING.store(false, Ordering::SeqCst);
    done
}

pub fn functions() -> Vec<HostFn> {
    let fault = || {
        Ty::record(&[
            "id",
            "kind",
            "action",
            "node",
            "runtime",
            "target",
            "since",
            "until",
            "undo",
            "remaining_seconds",
        ])
    };
    let undone = || Ty::record(&["id", "node", "action", "undo", "reason", "outcome"]);
    vec![
        write("chaos", "node", node_fault, simulate_node_fault)
            .param("action", Ty::one_of(NodeAction::NAMES))
            .param("node", Ty::Node)
            .opts(vec![
                opt("duration", Ty::Duration),
                opt("seed", Ty::Int),
                opt("detach", Ty::Bool),
            ])
            .returns(fault())
            .doc("Put a fault on a node and return its registry record {id, kind, action, node, index, runtime, target, since, until, undo, remaining_seconds, seed}. action: \"kill\" (SIGKILL / docker kill), \"stop\" (SIGTERM then SIGKILL after weaviate.stop_timeout / docker stop), \"pause\" (SIGSTOP / docker pause). opts: duration (default chaos.default_duration, at most chaos.max_duration): at its end the fault is undone (the node started or resumed) by a detached reaper, even if this process was killed; seed: recorded with the fault; detach = false: when false the fault is also undone when the script ends. One fault per node at a time."),
        write("chaos", "cpu_limit", cpu_limit, simulate_cpu_limit)
            .param("node", Ty::Node)
            .param("percent", Ty::Either(vec![Ty::Number, Ty::Str]))
            .opts(vec![opt("duration", Ty::Duration), opt("detach", Ty::Bool)])
            .returns(fault())
            .doc("Limit a node to a percentage of one CPU (50 or \"50%\": half a core; 150: one and a half) and return the fault's registry record (kind \"resource\", action \"cpu-limit\", percent). Process runtime: the node is moved into a cgroup-v1 cpu group with that CFS quota; docker: `docker update --cpu-quota`. Undone (the node moved back, the quota restored) at the end of opts.duration like chaos.node, and when the script ends unless opts.detach."),
        write("chaos", "memory_pressure", memory_pressure, simulate_memory_pressure)
            .param("node", Ty::Node)
            .opts(vec![
                opt("limit", Ty::Str),
                opt("duration", Ty::Duration),
                opt("detach", Ty::Bool),
            ])
            .returns(fault())
            .doc("Squeeze a node's memory and return the fault's registry record (kind \"resource\", action \"memory-pressure\", limit_bytes). opts.limit: how much more memory the node may take, a size like \"64MiB\" (default 32 MiB). Process runtime only: the node is moved into a cgroup-v1 memory group with that memory.limit_in_bytes (the pages it already holds stay charged where they were: this kernel has no move_charge_at_immigrate), so what it allocates from then on is reclaimed or OOM-killed beyond the limit; other runtimes are not built yet and refuse. Undone at the end of opts.duration like chaos.node, and when the script ends unless opts.detach: the node is moved back and the group removed; the undo's outcome (in the journal and what chaos.undo / chaos.reset return) says the peak usage, how often the limit was hit, the OOM kills, and whether the node is gone: an OOM-killed node is not restarted (`elysiactl start` brings it back)."),
        write("chaos", "partition", partition, simulate_partition)
            .param("group", Ty::list_of(Ty::Node))
            .optional("others", Ty::list_of(Ty::Node))
            .opts(vec![opt("duration", Ty::Duration), opt("detach", Ty::Bool)])
            .returns(fault())
            .doc("Cut the network between two groups of nodes, both directions, open connections included. Docker: iptables DROP rules in DOCKER-USER between the containers' addresses. Process runtime (every node on 127.0.0.1): each node of both groups is moved into its own cgroup-v2 group (elysiactl-chaos-CLUSTER-NODE) and OUTPUT rules drop what one side sends to the other's ports (`-m cgroup --path`), gossip between their UDP ports, and each TCP connection open between them; healing deletes the rules and moves the nodes back. others defaults to every node not in group. Returns the fault's registry record (kind \"network\", action \"partition\", node \"weaviate-1,weaviate-2 from weaviate-0\", restore: the rules and groups as JSON). Healed at the end of opts.duration like chaos.node, and when the script ends unless opts.detach. One network fault per node at a time."),
        write("chaos", "packet_loss", packet_loss, simulate_packet_loss)
            .param("node", Ty::Node)
            .param("percent", Ty::Either(vec![Ty::Number, Ty::Str]))
            .opts(vec![opt("duration", Ty::Duration), opt("detach", Ty::Bool)])
            .returns(fault())
            .doc("Drop percent (10 or \"10%\") of a node's packets at random, each packet on its own (iptables `-m statistic --mode random`), and return the fault's registry record (kind \"network\", action \"packet-loss\", percent). Docker: rules on the container's address in DOCKER-USER (the other nodes' traffic) and in OUTPUT and INPUT (this machine's). Process runtime: OUTPUT rules on what goes to and from the node's ports, and what it sends on connections it opens (its cgroup-v2 group, as chaos.partition). Ended at the end of opts.duration like chaos.node, and when the script ends unless opts.detach."),
        write("chaos", "bandwidth", bandwidth, simulate_bandwidth)
            .param("node", Ty::Node)
            .param("rate", Ty::Str)
            .opts(vec![opt("duration", Ty::Duration), opt("detach", Ty::Bool)])
            .returns(fault())
            .doc("Limit a node's bandwidth to rate (tc units: \"1mbit\", \"500kbit\", \"2mbps\" in bytes) each way and return the fault's registry record (kind \"network\", action \"bandwidth\"). Docker only: a tbf qdisc (handle e1a5:) on the container's host-side veth (traffic to it) and on eth0 in its network namespace (traffic from it); packets waiting more than 400 ms are dropped. The process runtime refuses it: every node's traffic is on loopback, and tc shapes an interface, not a process. Lifted at the end of opts.duration like chaos.node, and when the script ends unless opts.detach."),
        write("chaos", "latency", latency, simulate_latency)
            .param("node", Ty::Node)
            .param("latency", Ty::Duration)
            .opts(vec![
                opt("jitter", Ty::Duration),
                opt("duration", Ty::Duration),
                opt("detach", Ty::Bool),
            ])
            .returns(Ty::record(&[
                "id",
                "kind",
                "action",
                "node",
                "runtime",
                "target",
                "since",
                "until",
                "undo",
                "remaining_seconds",
                "proxy",
            ]))
            .doc("Delay a node's answers by latency (\"500ms\") ± opts.jitter for clients pointed through a proxy, and return the fault's registry record with proxy: \"127.0.0.1:PORT\", the address to point a client (an elysiactl env's weaviate.url, Elysia's WEAVIATE_URL) at instead of the node's REST port. There is no tc netem on this kernel (no sch_netem), so node-to-node traffic is not delayed: the proxy is Toxiproxy's server (`elysiactl install toxiproxy`), started when none runs, with a latency toxic on the node's answers. The undo deletes the proxy (its port is refused after) and stops the server when no latency fault is left. Both runtimes. Undone at the end of opts.duration like chaos.node, and when the script ends unless opts.detach."),
        write("chaos", "undo", undo, simulate_undo)
            .param("id", Ty::Str)
            .returns(undone().or_null())
            .doc("Undo one active fault now. Returns {id, node, action, undo, reason, outcome}, or null when no such fault is active (already undone)."),
        write("chaos", "hold", hold, simulate_undo)
            .param("id", Ty::Str)
            .returns(undone().or_null())
            .doc("Wait until the fault's deadline, then undo it (as chaos.undo). Ctrl-C and SIGTERM end the wait; the script's rollback then undoes the fault. null when it was undone meanwhile."),
        read("chaos", "status", status)
            .returns(Ty::array(fault()))
            .doc("The active faults, from the registry every invocation shares. Undoes overdue faults first (and starts a reaper if one is needed), except in a dry run."),
        write("chaos", "reset", reset, simulate_reset)
            .returns(Ty::record(&["undone", "leftovers", "failed"]))
            .doc("Undo every active fault now, and resume nodes left paused without a registry entry. Idempotent: a second reset finds nothing. Returns {undone: [...], leftovers: [...], failed: [...]}."),
        read("chaos", "history", history)
            .opts(vec![opt("limit", Ty::Int)])
            .returns(Ty::array(Ty::Map))
            .doc("The append-only chaos journal, oldest first: {time, event (inject, inject_failed, undo, undo_failed, undo_abandoned, reset, resume_leftover), pid, fault, node, action, target, reason, outcome, seed, ...}. opts.limit: only the last N entries."),
        read("chaos", "pick", pick)
            .param("count", Ty::Int)
            .opts(vec![opt("seed", Ty::Int)])
            .returns(Ty::record(&["seed", "nodes", "names"]))
            .doc("Choose count distinct nodes at random: {seed, nodes: [index], names: [name]}. The same seed gives the same nodes; without one a seed is drawn and returned, to repeat the choice."),
        write("chaos", "reap", reap, simulate_reap)
            .returns(Ty::record(&["undone", "detail"]))
            .doc("The reaper's loop (`elysiactl chaos reap`, started detached by chaos.node): undo each fault at its deadline; return when none is left."),
    ]
}
