//! Whether the cluster can serve: each node's liveness and readiness, the
//! whole cluster's readiness (leader, voters, membership), and waiting for it.

use super::{client, node_arg, specs};
use crate::base::config::NodeSpec;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::WeaviateClient;
use crate::host::{opt, read, Args, Host, HostFn, Ty};
use crate::services::readiness::{cluster_readiness, ClusterReadiness};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// live or ready of every configured node, concurrently; unreachable = false.
fn probe_all(host: &Host, ready: bool) -> Value {
    let clients: Vec<WeaviateClient> = specs(host).iter().map(|s| client(host, s)).collect();
    let results = host.block_on(futures_util::future::join_all(clients.iter().map(
        |c| async move {
            let r = if ready {
                c.ready().await
            } else {
                c.live().await
            };
            (c.node_name().to_string(), r.unwrap_or(false))
        },
    )));
    Value::Object(results.into_iter().map(|(n, b)| (n, json!(b))).collect())
}

fn probe_one(host: &Host, spec: &NodeSpec, ready: bool) -> Value {
    let c = client(host, spec);
    let r = host.block_on(async {
        if ready {
            c.ready().await
        } else {
            c.live().await
        }
    });
    json!(r.unwrap_or(false))
}

fn live(host: &Host, a: &Args) -> HostResult<Value> {
    Ok(match node_arg(host, a, 0)? {
        Some(spec) => probe_one(host, &spec, false),
        None => probe_all(host, false),
    })
}

fn ready(host: &Host, a: &Args) -> HostResult<Value> {
    Ok(match node_arg(host, a, 0)? {
        Some(spec) => probe_one(host, &spec, true),
        None => probe_all(host, true),
    })
}

/// The cluster's readiness now (every configured node probed concurrently).
pub fn readiness_now(host: &Host) -> ClusterReadiness {
    host.block_on(cluster_readiness(
        &host.http,
        &specs(host),
        &host.config.weaviate.api_key,
    ))
}

fn readiness(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(readiness_now(host).to_json())
}

/// Poll readiness until the cluster is ready (every configured node ready, one
/// leader, the voters) or `timeout` passes (Timeout error naming what
/// is still missing). Prints the summary to stderr when it changes unless
/// `quiet`. Under dry-run it checks once and returns what it saw.
pub fn wait_ready(
    host: &Host,
    timeout: Duration,
    interval: Duration,
    quiet: bool,
) -> HostResult<ClusterReadiness> {
    let expected = specs(host).len();
    let started = Instant::now();
    let deadline = crate::base::units::deadline_after(timeout);
    let mut last = String::new();
    loop {
        crate::base::cancel::check_interrupt()?;
        let r = readiness_now(host);
        if r.is_ready(expected) {
            if !quiet && !last.is_empty() {
                host.out.status(&format!("Weaviate ready: {}", r.summary));
            }
            return Ok(r);
        }
        if host.dry_run {
            host.out.plan_line(&format!(
                "would wait up to {} for Weaviate to be ready (now: {})",
                crate::base::units::format_duration(timeout),
                r.summary
            ));
            return Ok(r);
        }
        if Instant::now() >= deadline {
            return Err(HostError::timeout(format!(
                "Weaviate was not ready after {}: {}",
                crate::base::units::format_duration(started.elapsed()),
                r.problems.join("; ")
            ))
            .with_hint(
                "see each node with `elysiactl status` and its log with `elysiactl weaviate logs`; wait longer with opts.timeout or weaviate.ready_timeout",
            ));
        }
        if !quiet && r.summary != last {
            host.out
                .status(&format!("waiting for Weaviate: {}", r.summary));
        }
        last = r.summary;
        let next = crate::base::units::deadline_after(interval).min(deadline);
        while Instant::now() < next {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
            crate::base::cancel::check_interrupt()?;
        }
    }
}

fn wait_ready_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let timeout = o
        .duration("timeout")?
        .unwrap_or(Duration::from_secs(host.config.weaviate.ready_timeout));
    let interval = o
        .duration("interval")?
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let quiet = o.bool("quiet", false)?;
    let r = wait_ready(host, timeout, interval, quiet)?;
    let mut v = r.to_json();
    if host.dry_run && !r.ready {
        v["simulated"] = json!(true);
    }
    Ok(v)
}

pub(super) fn functions() -> Vec<HostFn> {
    let node_or_all = Ty::Either(vec![Ty::Bool, Ty::Map]);
    vec![
        read("cluster", "live", live)
            .optional("node", Ty::Node)
            .returns(node_or_all.clone())
            .doc("Whether a node's HTTP listener is up (GET /v1/.well-known/live). With a node (\"weaviate-1\" or 1): true/false; without: a map node name -> bool for every configured node. Unreachable counts as false."),
        read("cluster", "ready", ready)
            .optional("node", Ty::Node)
            .returns(node_or_all)
            .doc("Whether a node serves requests (GET /v1/.well-known/ready: RAFT open with a leader, data loaded). A live node can be unready, e.g. while starting or after losing RAFT quorum (2 of 3 voters down). With a node: true/false; without: a map node name -> bool."),
        read("cluster", "readiness", readiness)
            .returns(Ty::record(&["ready", "summary", "problems", "nodes"]))
            .doc("The whole cluster at a glance, every node probed at once: ready (bool), summary (\"2/3 ready, leader weaviate-0, 3 voters\"), problems (what stands between the cluster and ready), leader, leaders, voters, synchronized, members, missing (configured nodes absent from the membership: a killed node drops out instead of showing UNAVAILABLE), and nodes [{name, url, live, ready, latency_ms, version, member, status, raft_state, is_voter, leader_id, error}]."),
        read("cluster", "wait_ready", wait_ready_fn)
            .opts(vec![
                opt("timeout", Ty::Duration),
                opt("interval", Ty::Duration),
                opt("quiet", Ty::Bool),
            ])
            .returns(Ty::record(&["ready", "summary", "problems", "nodes"]))
            .doc("Wait until every configured node is ready, there is one RAFT leader and the first nodes (up to three) vote; returns readiness(). Fails with a timeout error naming what is still missing. opts: timeout (seconds or \"3m\"; default weaviate.ready_timeout), interval = \"1s\", quiet = false (otherwise the summary is printed to stderr when it changes). In a dry run it checks once."),
    ]
}
