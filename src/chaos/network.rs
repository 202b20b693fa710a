//! Network partition in the docker runtime: iptables DROP rules in Docker's
//! `DOCKER-USER` chain between the two groups' container addresses, both
//! directions. Docker sends bridged container-to-container traffic through
//! FORWARD (bridge-nf-call-iptables), and DOCKER-USER comes before its own
//! accept of established connections, so open connections stall too.
//!
//! Every rule carries the comment `elysiactl-chaos:<fault id>` (the id names
//! the cluster), so `chaos reset` finds and deletes this cluster's rules a
//! crash left without a registry entry.
//! The process runtime (every node on 127.0.0.1) would need the nodes in
//! cgroup-v2 groups matched by `-m cgroup --path`: not built.

use super::{
    ensure_reaper, fault_duration, journal, mark_applied, now_ms, rfc3339_ms, Fault, NodeAction,
    Registry,
};
use crate::base::config::RuntimeKind;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::runtime::docker::DockerRuntime;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const CHAIN: &str = "DOCKER-USER";
const TAG: &str = "elysiactl-chaos:";

/// One DROP rule: traffic from `src` to `dst`, tagged with the fault id
/// (which names the cluster, so a reset leaves other clusters' rules alone).
fn rule(src: &str, dst: &str, id: &str) -> Vec<String> {
    [
        "-s",
        src,
        "-d",
        dst,
        "-m",
        "comment",
        "--comment",
        &format!("{TAG}{id}"),
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn iptables(args: &[String]) -> HostResult<String> {
    let out = Command::new("iptables").args(args).output().map_err(|e| {
        HostError::io("cannot run iptables", e)
            .with_hint("a partition needs iptables and root (Debian: apt-get install iptables)")
    })?;
    if !out.status.success() {
        return Err(HostError::validation(format!(
            "iptables {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint("a partition needs root and Docker's DOCKER-USER chain"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn docker_runtime(ctx: &Context) -> HostResult<DockerRuntime> {
    let rt = crate::services::weaviate::runtime_for(ctx)?;
    if rt.kind() == RuntimeKind::Remote {
        return Err(crate::runtime::remote::managed_elsewhere(
            &ctx.config.weaviate,
            "partition its network",
        ));
    }
    match rt.kind() {
        RuntimeKind::Docker => {}
        RuntimeKind::Swarm => {
            return Err(HostError::validation(
                "a network partition in the swarm runtime is not built: its nodes' traffic crosses the overlay network (VXLAN between hosts), which the iptables rules for Docker's bridge do not match",
            )
            .with_hint("partition a cluster in the docker runtime (weaviate.runtime = \"docker\"); on swarm, kill, pause and CPU limits work"));
        }
        _ => {
            return Err(HostError::validation(
                "a network partition in the process runtime is not built yet",
            )
            .with_hint("run the cluster in Docker (weaviate.runtime = \"docker\"); in the process runtime every node is on 127.0.0.1"));
        }
    }
    DockerRuntime::new(
        crate::runtime::weaviate_for(&ctx.config, RuntimeKind::Docker),
        ctx.rt.clone(),
    )
}

/// The fault a partition would be, with the addresses it would cut between.
pub fn plan(
    ctx: &Context,
    group: &[usize],
    others: &[usize],
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    if group.is_empty() || others.is_empty() || group.iter().any(|i| others.contains(i)) {
        return Err(HostError::validation(
            "a partition needs two groups of nodes that do not overlap",
        )
        .with_hint("e.g. --partition 1,2 from 0, or --partition 2 (from every other node)"));
    }
    let rt = docker_runtime(ctx)?;
    let ips = |nodes: &[usize]| -> HostResult<Vec<String>> {
        nodes.iter().map(|&i| rt.node_ip(i)).collect()
    };
    let (a, b) = (ips(group)?, ips(others)?);
    let names = |nodes: &[usize]| {
        nodes
            .iter()
            .map(|&i| ctx.config.weaviate.node(i).name)
            .collect::<Vec<_>>()
            .join(",")
    };
    let since = now_ms();
    let until = since + duration.as_millis() as i64;
    let description = format!("{} from {}", names(group), names(others));
    Ok(Fault {
        id: String::new(),
        kind: "network".into(),
        action: NodeAction::Partition,
        node: description.clone(),
        index: group[0],
        runtime: "docker".into(),
        target: format!("iptables {CHAIN}: {} <-> {}", a.join(","), b.join(",")),
        since: rfc3339_ms(since),
        until: rfc3339_ms(until),
        until_ms: until,
        undo: format!("heal {description} (delete the DROP rules)"),
        injected_by: std::process::id(),
        seed: None,
        undo_failures: 0,
        percent: None,
        restore: Some(json!({"a": a, "b": b}).to_string()),
    })
}

fn rules_of(fault: &Fault) -> Vec<Vec<String>> {
    let v: Value = fault
        .restore
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (list("a"), list("b"));
    let mut rules = Vec::new();
    for x in &a {
        for y in &b {
            rules.push(rule(x, y, &fault.id));
            rules.push(rule(y, x, &fault.id));
        }
    }
    rules
}

/// Register the partition, make sure a reaper will heal it, then cut.
pub fn partition(
    ctx: &Context,
    group: &[usize],
    others: &[usize],
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let mut fault = plan(ctx, group, others, duration)?;
    let duration = fault_duration(ctx, duration)?;
    {
        let mut reg = Registry::lock()?;
        fault.id = format!(
            "{}-partition-{}",
            ctx.config.weaviate.cluster_name,
            now_ms()
        );
        reg.faults.push(fault.clone());
        reg.save()?;
        ensure_reaper(ctx, &reg)?;
    }
    for r in rules_of(&fault) {
        let mut args = vec!["-I".to_string(), CHAIN.to_string()];
        args.extend(r);
        if let Err(e) = iptables(&args) {
            let _ = heal(&fault);
            let _ = Registry::lock().and_then(|mut reg| reg.claim(&fault.id));
            journal(
                "inject_failed",
                json!({"fault": fault.id, "node": fault.node, "action": fault.action, "error": e.message}),
            );
            return Err(e);
        }
    }
    mark_applied(&mut fault, duration, None)?;
    journal(
        "inject",
        json!({"fault": fault.id, "node": fault.node, "action": fault.action, "target": fault.target,
               "runtime": fault.runtime, "until": fault.until}),
    );
    Ok(fault)
}

/// Delete the partition's rules; a rule already gone is fine.
pub fn heal(fault: &Fault) -> HostResult<String> {
    let mut deleted = 0;
    for r in rules_of(fault) {
        let mut args = vec!["-D".to_string(), CHAIN.to_string()];
        args.extend(r);
        if iptables(&args).is_ok() {
            deleted += 1;
        }
    }
    Ok(format!("healed ({deleted} rules deleted)"))
}

/// Rules of this cluster's faults left in DOCKER-USER without a registry
/// entry: deleted.
pub fn delete_leftovers(cluster: &str, active_ids: &[String]) -> Vec<Value> {
    let ours = format!("{TAG}{cluster}-partition-");
    let Ok(listing) = iptables(&["-S".to_string(), CHAIN.to_string()]) else {
        return Vec::new(); // no iptables or no Docker chain: nothing of ours
    };
    let mut found = Vec::new();
    for line in listing.lines().filter(|l| l.contains(&ours)) {
        if active_ids
            .iter()
            .any(|id| line.contains(&format!("{TAG}{id}")))
        {
            continue;
        }
        let Some(spec) = line.strip_prefix(&format!("-A {CHAIN} ")) else {
            continue;
        };
        // `iptables -S` quotes nothing here: addresses, flags and a tag without spaces.
        let mut args = vec!["-D".to_string(), CHAIN.to_string()];
        args.extend(
            spec.split_whitespace()
                .map(|w| w.trim_matches('"').to_string()),
        );
        if iptables(&args).is_ok() {
            journal("delete_leftover_rule", json!({"rule": line}));
            found.push(json!({"node": "network", "was": line, "now": "deleted"}));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_drops_both_directions_between_every_pair() {
        let mut f = super::super::node::tests::fault("partition-1");
        f.restore = Some(json!({"a": ["10.0.0.2"], "b": ["10.0.0.3", "10.0.0.4"]}).to_string());
        let rules = rules_of(&f);
        assert_eq!(rules.len(), 4);
        let joined: Vec<String> = rules.iter().map(|r| r.join(" ")).collect();
        assert!(joined.contains(
            &"-s 10.0.0.2 -d 10.0.0.3 -m comment --comment elysiactl-chaos:partition-1 -j DROP"
                .to_string()
        ));
        assert!(joined
            .iter()
            .any(|r| r.starts_with("-s 10.0.0.4 -d 10.0.0.2 ")));
    }
}
