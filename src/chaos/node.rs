//! Faults on one node: kill (SIGKILL, `docker kill`), stop (graceful:
//! SIGTERM, then SIGKILL after weaviate.stop_timeout), pause (SIGSTOP,
//! `docker pause`), a CPU limit (a cgroup-v1 CFS quota, `docker update`)
//! and memory pressure (a cgroup-v1 memory limit; process runtime only),
//! each undone by starting, resuming or unlimiting it.

use super::{
    apply_grace, ensure_reaper, fault_duration, journal, mark_applied, now_ms, rfc3339_ms, Fault,
    Registry,
};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::services::weaviate::runtime_for;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeAction {
    Kill,
    Stop,
    Pause,
    #[serde(rename = "cpu-limit")]
    CpuLimit,
    #[serde(rename = "memory-pressure")]
    MemoryPressure,
    Partition,
    #[serde(rename = "packet-loss")]
    PacketLoss,
    Bandwidth,
    Latency,
}

impl NodeAction {
    /// The faults `chaos.node` puts; the CPU limit has its own function.
    pub const NAMES: [&'static str; 3] = ["kill", "stop", "pause"];

    pub fn parse(s: &str) -> HostResult<NodeAction> {
        match s {
            "kill" => Ok(NodeAction::Kill),
            "stop" => Ok(NodeAction::Stop),
            "pause" => Ok(NodeAction::Pause),
            "cpu-limit" => Ok(NodeAction::CpuLimit),
            "memory-pressure" => Ok(NodeAction::MemoryPressure),
            other => Err(
                HostError::validation(format!("unknown node fault {other:?}"))
                    .with_hint("the node faults are \"kill\", \"stop\" and \"pause\""),
            ),
        }
    }

    /// How the fault is made, for plans and messages: "SIGKILL".
    pub fn how(self, runtime: &str) -> &'static str {
        match (self, runtime) {
            (NodeAction::Kill, "docker") => "docker kill, SIGKILL",
            (NodeAction::Kill, _) => "SIGKILL",
            (NodeAction::Stop, "docker") => {
                "docker stop: SIGTERM, then SIGKILL after weaviate.stop_timeout"
            }
            (NodeAction::Stop, _) => "SIGTERM, then SIGKILL after weaviate.stop_timeout",
            (NodeAction::Pause, "docker") => "docker pause: the cgroup freezer",
            (NodeAction::Pause, _) => "SIGSTOP",
            (NodeAction::CpuLimit, "docker") => "docker update --cpu-quota",
            (NodeAction::CpuLimit, _) => "a cgroup-v1 cpu quota",
            (NodeAction::MemoryPressure, _) => "a cgroup-v1 memory limit",
            (NodeAction::Partition, "docker") => "iptables DROP both ways",
            (NodeAction::Partition, _) => {
                "iptables DROP both ways, matched by cgroup-v2 group and port"
            }
            (NodeAction::PacketLoss, _) => "iptables statistic random DROP",
            (NodeAction::Bandwidth, _) => "a tbf qdisc",
            (NodeAction::Latency, _) => "a Toxiproxy latency toxic",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeAction::Kill => "kill",
            NodeAction::Stop => "stop",
            NodeAction::Pause => "pause",
            NodeAction::CpuLimit => "cpu-limit",
            NodeAction::MemoryPressure => "memory-pressure",
            NodeAction::Partition => "partition",
            NodeAction::PacketLoss => "packet-loss",
            NodeAction::Bandwidth => "bandwidth",
            NodeAction::Latency => "latency",
        }
    }

    /// "would kill weaviate-1 (PID 12, SIGKILL) for 30s, then start weaviate-1"
    pub fn describe(f: &Fault) -> String {
        let what = match (f.action, f.percent) {
            (NodeAction::MemoryPressure, _) => format!(
                "let {} take at most {} more memory",
                f.node,
                crate::base::units::format_bytes(f.limit_bytes.unwrap_or_default())
            ),
            (NodeAction::PacketLoss, p) => {
                format!(
                    "drop {}% of the packets of {}",
                    p.unwrap_or_default(),
                    f.node
                )
            }
            (NodeAction::Bandwidth, _) => format!("limit the bandwidth of {}", f.node),
            (NodeAction::Latency, _) => format!("delay the answers of {}", f.node),
            (_, Some(p)) => format!("limit {} to {p}% of a CPU", f.node),
            (NodeAction::Partition, _) => format!("partition {}", f.node),
            _ => format!("{} {}", f.action.as_str(), f.node),
        };
        format!(
            "{what} ({}, {}) for {}, then {}",
            f.target,
            f.action.how(&f.runtime),
            crate::base::units::format_duration(f.remaining()),
            f.undo
        )
    }

    pub fn undo_words(self, node: &str) -> String {
        match self {
            NodeAction::Kill | NodeAction::Stop => format!("start {node}"),
            NodeAction::Pause => format!("resume {node} (SIGCONT / docker unpause)"),
            NodeAction::CpuLimit => format!("lift the CPU limit of {node}"),
            NodeAction::MemoryPressure => {
                format!("lift the memory limit of {node} (if it was OOM-killed: `elysiactl start`)")
            }
            NodeAction::Partition => format!("heal {node}"),
            NodeAction::PacketLoss => format!("end the packet loss of {node}"),
            NodeAction::Bandwidth => format!("lift the bandwidth limit of {node}"),
            NodeAction::Latency => format!("delete the latency proxy of {node}"),
        }
    }
}

/// The memory a squeezed node may take beyond what it holds, by default.
pub const DEFAULT_MEMORY_MARGIN: u64 = 32 << 20;

/// What an injection would do, without doing it: the plan a dry run shows
/// and the record the registry would hold.
pub fn plan(
    ctx: &Context,
    action: NodeAction,
    index: usize,
    duration: Option<Duration>,
    seed: Option<u64>,
    percent: Option<f64>,
    limit: Option<u64>,
) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    let rt = runtime_for(ctx)?;
    let percent = match (action, percent) {
        (NodeAction::CpuLimit, Some(p)) if p > 0.0 && p.is_finite() => Some(p),
        (NodeAction::CpuLimit, _) => {
            return Err(
                HostError::validation("a CPU limit needs a percentage above 0")
                    .with_hint("give e.g. 50 (half of one CPU) or 150 (one and a half)"),
            )
        }
        (
            NodeAction::Partition
            | NodeAction::PacketLoss
            | NodeAction::Bandwidth
            | NodeAction::Latency,
            _,
        ) => {
            return Err(HostError::validation(format!(
                "{} is a network fault, not a node fault",
                action.as_str()
            ))
            .with_hint("use chaos.partition, chaos.packet_loss, chaos.bandwidth or chaos.latency"))
        }
        _ => None,
    };
    if action == NodeAction::MemoryPressure && rt.kind().as_str() != "process" {
        // Docker cannot lift a memory limit again (`docker update -m 0` keeps
        // it: moby#22516), so an undo would leave the container limited.
        return Err(HostError::validation(format!(
            "memory pressure is not built yet for the {} runtime",
            rt.kind().as_str()
        ))
        .with_hint("it works with the process runtime (docs/chaos.md lists what is missing)"));
    }
    let limit_bytes = match action {
        // What it may take beyond what it holds: a small margin by default.
        NodeAction::MemoryPressure => Some(limit.unwrap_or(DEFAULT_MEMORY_MARGIN)),
        _ => None,
    };
    let node = ctx.config.weaviate.node(index).name;
    let target = rt.fault_target(index)?;
    let since = now_ms();
    let until = since + duration.as_millis() as i64;
    Ok(Fault {
        id: String::new(),
        kind: if percent.is_some() || limit_bytes.is_some() {
            "resource"
        } else {
            "node"
        }
        .into(),
        action,
        node: node.clone(),
        index,
        runtime: rt.kind().as_str().into(),
        target,
        since: rfc3339_ms(since),
        until: rfc3339_ms(until),
        until_ms: until,
        undo: action.undo_words(&node),
        injected_by: std::process::id(),
        seed,
        undo_failures: 0,
        percent,
        restore: None,
        limit_bytes,
    })
}

/// Register the fault, make sure a reaper will undo it, then apply it.
pub fn inject(
    ctx: &Context,
    action: NodeAction,
    index: usize,
    duration: Option<Duration>,
    seed: Option<u64>,
    percent: Option<f64>,
    limit: Option<u64>,
) -> HostResult<Fault> {
    let mut fault = plan(ctx, action, index, duration, seed, percent, limit)?;
    let duration = fault_duration(ctx, duration)?;
    {
        let mut reg = Registry::lock()?;
        if let Some(other) = reg
            .faults
            .iter()
            .find(|f| f.index == index && f.kind != "network")
        {
            return Err(HostError::validation(format!(
                "{} already has an active fault ({} {}, until {})",
                other.node,
                other.action.how(&other.runtime),
                other.id,
                other.until
            ))
            .with_hint(format!(
                "one fault per node at a time: `elysiactl chaos reset` undoes it (or wait until {})",
                other.until
            )));
        }
        fault.id = format!("{}-{}-{}", fault.node, fault.action.as_str(), now_ms());
        // Until it has taken (a graceful stop can take weaviate.stop_timeout),
        // the reaper must not undo it: a provisional deadline covers that.
        fault.until_ms += apply_grace(ctx, action).as_millis() as i64;
        fault.until = rfc3339_ms(fault.until_ms);
        reg.faults.push(fault.clone());
        reg.save()?;
        ensure_reaper(ctx, &reg)?;
    }
    let rt = runtime_for(ctx)?;
    let applied = match action {
        NodeAction::Kill => rt.kill_node(index).map(|_| None),
        NodeAction::Stop => rt
            .stop_node(index, Duration::from_secs(ctx.config.weaviate.stop_timeout))
            .map(|_| None),
        NodeAction::Pause => rt.pause_node(index).map(|_| None),
        // plan() refuses them before anything is registered.
        NodeAction::Partition
        | NodeAction::PacketLoss
        | NodeAction::Bandwidth
        | NodeAction::Latency => Ok(None),
        NodeAction::CpuLimit => rt.limit_cpu(index, percent.unwrap_or(100.0)).map(Some),
        NodeAction::MemoryPressure => rt
            .limit_memory(index, fault.limit_bytes.unwrap_or_default())
            .map(Some),
    };
    let restore = match applied {
        Ok(restore) => restore,
        Err(e) => {
            // Nothing to undo: the fault never took. Out of the registry with it.
            let _ = Registry::lock().and_then(|mut r| r.claim(&fault.id));
            journal(
                "inject_failed",
                json!({"fault": fault.id, "node": fault.node, "action": action, "error": e.message}),
            );
            return Err(e);
        }
    };
    // Taken: should recording that fail, the provisional deadline still holds.
    mark_applied(&mut fault, duration, restore)?;
    journal(
        "inject",
        json!({"fault": fault.id, "node": fault.node, "action": action, "target": fault.target,
               "runtime": fault.runtime, "until": fault.until, "seed": seed, "percent": percent,
               "limit_bytes": fault.limit_bytes}),
    );
    Ok(fault)
}

/// Undo a node fault: start a killed or stopped node, resume a paused one.
/// Each is harmless on a node that is already back. Returns what was done.
pub fn undo(ctx: &Context, fault: &Fault) -> HostResult<String> {
    let rt = runtime_for(ctx)?;
    match fault.action {
        NodeAction::Kill | NodeAction::Stop => {
            let was = rt.node_state(fault.index)?;
            if was.running && !was.detail.contains("paused") {
                return Ok("already running".into());
            }
            rt.start_node(fault.index)?;
            Ok("started".into())
        }
        NodeAction::Pause => {
            rt.resume_node(fault.index)?;
            Ok("resumed".into())
        }
        NodeAction::CpuLimit => {
            rt.restore_cpu(fault.index, fault.restore.as_deref())?;
            Ok("unlimited".into())
        }
        NodeAction::MemoryPressure => rt.restore_memory(fault.index, fault.restore.as_deref()),
        NodeAction::Partition | NodeAction::PacketLoss | NodeAction::Bandwidth => {
            super::network::undo(fault)
        }
        NodeAction::Latency => super::latency::undo(ctx, fault),
    }
}

/// Nodes left paused, CPU- or memory-limited with no fault registered (a registry
/// lost with a crash, or a pause made by hand): neither is ever wanted, so
/// `reset` undoes them. Stopped nodes are only reported: one may be stopped
/// on purpose.
pub fn resume_leftovers(ctx: &Context) -> HostResult<Vec<Value>> {
    let rt = runtime_for(ctx)?;
    let mut found = Vec::new();
    for i in 0..ctx.config.weaviate.nodes {
        let Ok(st) = rt.node_state(i) else { continue };
        if st.running && st.detail.contains("paused") {
            rt.resume_node(i)?;
            journal("resume_leftover", json!({"node": st.node}));
            found.push(json!({"node": st.node, "was": "paused", "now": "resumed"}));
        }
        if rt.cpu_limited(i).unwrap_or(false) {
            rt.restore_cpu(i, None)?;
            journal("unlimit_leftover", json!({"node": st.node}));
            found.push(json!({"node": st.node, "was": "CPU-limited", "now": "unlimited"}));
        }
        if rt.memory_limited(i).unwrap_or(false) {
            let seen = rt.restore_memory(i, None)?;
            journal(
                "unlimit_memory_leftover",
                json!({"node": st.node, "outcome": seen}),
            );
            found.push(json!({"node": st.node, "was": "memory-limited", "now": seen}));
        }
    }
    Ok(found)
}

/// `count` distinct node indexes chosen with `seed` (a fresh one when none
/// is given): the same seed picks the same nodes, so a run can be repeated.
pub fn pick(nodes: usize, count: usize, seed: Option<u64>) -> HostResult<(u64, Vec<usize>)> {
    if count == 0 || count > nodes {
        return Err(
            HostError::validation(format!("cannot choose {count} of {nodes} nodes"))
                .with_hint(format!("give a count from 1 to {nodes}")),
        );
    }
    let seed = match seed {
        Some(s) => s,
        None => {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b)
                .map_err(|e| HostError::unknown(format!("no randomness from the OS: {e}")))?;
            // Seeds are shown and typed back: keep them short enough to retype.
            u64::from_le_bytes(b) % 1_000_000
        }
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut all: Vec<usize> = (0..nodes).collect();
    all.shuffle(&mut rng);
    all.truncate(count);
    all.sort_unstable();
    Ok((seed, all))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fault(id: &str) -> Fault {
        Fault {
            id: id.into(),
            kind: "node".into(),
            action: NodeAction::Pause,
            node: "weaviate-1".into(),
            index: 1,
            runtime: "process".into(),
            target: "PID 1".into(),
            since: rfc3339_ms(0),
            until: rfc3339_ms(1000),
            until_ms: 1000,
            undo: NodeAction::Pause.undo_words("weaviate-1"),
            injected_by: 1,
            seed: None,
            undo_failures: 0,
            percent: None,
            restore: None,
            limit_bytes: None,
        }
    }

    #[test]
    fn the_same_seed_picks_the_same_nodes() {
        let (s, a) = pick(5, 2, Some(42)).unwrap();
        assert_eq!(s, 42);
        assert_eq!(pick(5, 2, Some(42)).unwrap().1, a);
        assert_eq!(a.len(), 2);
        assert!(a[0] < a[1] && a[1] < 5);
        let picks: std::collections::BTreeSet<_> =
            (0..20).map(|s| pick(5, 2, Some(s)).unwrap().1).collect();
        assert!(picks.len() > 3, "seeds must change the choice: {picks:?}");
        assert!(pick(3, 4, None).is_err());
        assert!(pick(3, 0, None).is_err());
    }

    #[test]
    fn faults_round_trip_through_the_registry_format() {
        let f = fault("x");
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains("\"action\":\"pause\""), "{text}");
        assert_eq!(serde_json::from_str::<Fault>(&text).unwrap(), f);
    }
}
