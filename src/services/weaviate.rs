//! The Weaviate cluster's lifecycle over whichever runtime runs it: start
//! and wait for readiness (every node ready, a RAFT leader, the voters),
//! graceful stop, rolling restart, status.

use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::WeaviateClient;
use crate::runtime::{self, WeaviateRuntime};
use crate::services::readiness::{cluster_readiness, ClusterReadiness};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn runtime_for(ctx: &Context) -> HostResult<Box<dyn WeaviateRuntime>> {
    runtime::select(&ctx.config, &ctx.rt)
}

fn all_nodes(ctx: &Context) -> Vec<usize> {
    (0..ctx.config.weaviate.nodes).collect()
}

pub fn readiness(ctx: &Context) -> ClusterReadiness {
    let nodes = ctx.config.weaviate.node_specs();
    ctx.block_on(cluster_readiness(
        &ctx.http,
        &nodes,
        &ctx.config.weaviate.api_key,
    ))
}

/// Poll until the cluster is ready, failing early when a node's process or
/// container has died (with its last log lines), or at the timeout.
pub fn wait_ready(
    ctx: &Context,
    rt: &dyn WeaviateRuntime,
    timeout: Duration,
) -> HostResult<ClusterReadiness> {
    let started = Instant::now();
    let bar = ctx.out.progress_start("weaviate", None);
    let expected = ctx.config.weaviate.nodes;
    let result = loop {
        if let Err(e) = crate::base::cancel::check_interrupt() {
            break Err(e);
        }
        let r = readiness(ctx);
        ctx.out.progress_set(bar, None, Some(&r.summary()));
        if r.is_ready(expected) {
            break Ok(r);
        }
        if let Some(dead) = (0..expected).find(|&i| {
            rt.node_state(i)
                .map(|s| !s.running && !s.detail.is_empty() && s.detail != "not started")
                .unwrap_or(false)
        }) {
            let st = rt.node_state(dead).unwrap_or_default();
            let tail = rt.log_tail(dead, 8).join("\n    ");
            break Err(HostError::weaviate(format!(
                "{} stopped while the cluster was starting ({})\n  last log lines:\n    {tail}",
                st.node, st.detail
            ))
            .with_hint("read the log lines above; `elysiactl status` shows every node"));
        }
        if started.elapsed() > timeout {
            break Err(HostError::timeout(format!(
                "the cluster was not ready after {}s: {}",
                timeout.as_secs(),
                r.summary()
            ))
            .with_hint("check the node logs (`elysiactl weaviate logs`) or raise --timeout"));
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    ctx.out.progress_done(bar, None);
    result
}

pub fn start(
    ctx: &Context,
    nodes: Option<Vec<usize>>,
    wait: bool,
    timeout: Duration,
) -> HostResult<Value> {
    let rt = runtime_for(ctx)?;
    let nodes = nodes.unwrap_or_else(|| all_nodes(ctx));
    rt.preflight(&nodes)?;
    let t0 = Instant::now();
    // The store first: versitygw needs the bucket before the first backup, and a
    // store that cannot start stops the start before a node points at nothing.
    let backup_store = if ctx.config.backup.enabled {
        Some(start_backup_store(ctx, rt.kind(), timeout)?)
    } else {
        None
    };
    // Start every node before waiting: readiness needs RAFT quorum, so no
    // node is ready until enough voters are up.
    for &i in &nodes {
        rt.start_node(i)?;
    }
    runtime::remember(Some(rt.kind()));
    let readiness = if wait {
        Some(wait_ready(ctx, rt.as_ref(), timeout)?)
    } else {
        None
    };
    Ok(json!({
        "service": "weaviate",
        "runtime": rt.kind().as_str(),
        "started": nodes.iter().map(|&i| ctx.config.weaviate.node(i).name).collect::<Vec<_>>(),
        "ready": readiness.as_ref().map(|r| r.is_ready(ctx.config.weaviate.nodes)),
        "seconds": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "readiness": readiness,
        "backup_store": backup_store,
    }))
}

/// The backup store, listening where the runtime's nodes reach it.
fn start_backup_store(
    ctx: &Context,
    kind: crate::base::config::RuntimeKind,
    timeout: Duration,
) -> HostResult<Value> {
    let also = match kind {
        crate::base::config::RuntimeKind::Process | crate::base::config::RuntimeKind::Remote => {
            None
        }
        crate::base::config::RuntimeKind::Swarm => {
            return Err(HostError::validation(
                "backups ([backup] enabled) are not built for the swarm runtime: its nodes may run on other hosts, which the local backup store does not serve",
            )
            .with_hint("set backup.enabled = false for this cluster, or run it with weaviate.runtime = \"docker\""));
        }
        crate::base::config::RuntimeKind::Docker => {
            let gateway = ctx.block_on(async {
                let d = crate::clients::docker::connect().await?;
                crate::clients::docker::default_bridge_gateway(&d).await
            })?;
            Some(format!("{gateway}:{}", ctx.config.backup.port))
        }
    };
    crate::backup::store::start(ctx, timeout, also)
}

pub fn stop(ctx: &Context, nodes: Option<Vec<usize>>, timeout: Duration) -> HostResult<Value> {
    let rt = runtime_for(ctx)?;
    let whole = nodes.is_none();
    let nodes = nodes.unwrap_or_else(|| all_nodes(ctx));
    let outcomes: Vec<HostResult<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|&i| {
                let rt = rt.as_ref();
                s.spawn(move || rt.stop_node(i, timeout))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(HostError::unknown("stop panicked")))
            })
            .collect()
    });
    let mut result = serde_json::Map::new();
    for (i, o) in nodes.iter().zip(outcomes) {
        result.insert(ctx.config.weaviate.node(*i).name, json!(o?));
    }
    if whole {
        rt.cleanup(false)?;
        runtime::remember(None);
        // Stopped with the nodes, whether or not backups are still enabled:
        // the store a config change disabled must not outlive the stack.
        let store = crate::backup::store::stop(timeout)?;
        if store != "not running" {
            result.insert("backup-store".into(), json!(store));
        }
    }
    Ok(json!({"service": "weaviate", "runtime": rt.kind().as_str(), "stopped": result}))
}

/// A rolling restart keeps clients served only if the cluster is ready
/// before it starts.
pub fn can_roll(ctx: &Context) -> HostResult<()> {
    let before = readiness(ctx);
    if !before.is_ready(ctx.config.weaviate.nodes) {
        return Err(HostError::weaviate(format!(
            "a rolling restart needs a ready cluster first: {}",
            before.summary()
        ))
        .with_hint("fix the cluster (`elysiactl status`), or restart without --rolling"));
    }
    Ok(())
}

/// Restart every node; `rolling` does one node at a time and waits for the
/// whole cluster to be ready in between, so clients keep being served.
pub fn restart(
    ctx: &Context,
    rolling: bool,
    timeout: Duration,
    stop_timeout: Duration,
) -> HostResult<Value> {
    if ctx.config.weaviate.runtime == Some(crate::base::config::RuntimeKind::Remote) {
        return Err(crate::runtime::remote::managed_elsewhere(
            &ctx.config.weaviate,
            "restart it",
        ));
    }
    if !rolling {
        stop(ctx, None, stop_timeout)?;
        return start(ctx, None, true, timeout);
    }
    let rt = runtime_for(ctx)?;
    let expected = ctx.config.weaviate.nodes;
    can_roll(ctx)?;
    let mut steps = Vec::new();
    for i in 0..expected {
        let name = ctx.config.weaviate.node(i).name;
        ctx.out
            .status(&format!("restarting {name} ({}/{expected})", i + 1));
        let t0 = Instant::now();
        let how = rt.restart_node(i, stop_timeout)?;
        wait_ready(ctx, rt.as_ref(), timeout)?;
        wait_settled(ctx, timeout)?;
        steps.push(json!({"node": name, "stop": how, "seconds": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0}));
    }
    Ok(json!({"service": "weaviate", "rolling": true, "nodes": steps}))
}

/// After a node returns, ready is not enough to take the next one down:
/// wait until every node sees every configured node HEALTHY and reports all
/// its shards loaded, so the replicas that will serve while the next node is
/// away are all reachable.
pub fn wait_settled(ctx: &Context, timeout: Duration) -> HostResult<()> {
    let started = Instant::now();
    let specs = ctx.config.weaviate.node_specs();
    loop {
        crate::base::cancel::check_interrupt()?;
        let views = ctx.block_on(futures_util::future::join_all(specs.iter().map(|s| {
            let c = WeaviateClient::for_node(ctx.http.clone(), s, &ctx.config.weaviate.api_key)
                .with_timeout(Duration::from_secs(5));
            async move { c.nodes_status(true).await }
        })));
        let mut waiting = Vec::new();
        for (spec, view) in specs.iter().zip(views) {
            match view {
                Err(e) => waiting.push(format!("{}: {}", spec.name, e.message)),
                Ok(v) => {
                    for other in &specs {
                        match v.nodes.iter().find(|n| n.name == other.name) {
                            None => {
                                waiting.push(format!("{} does not see {}", spec.name, other.name))
                            }
                            Some(n) if n.status != "HEALTHY" => waiting
                                .push(format!("{} sees {} {}", spec.name, other.name, n.status)),
                            Some(n) if n.shards.iter().any(|sh| !sh.loaded) => {
                                waiting.push(format!("{} has shards loading", other.name))
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(HostError::timeout(format!(
                "the cluster did not settle after {}s: {}",
                timeout.as_secs(),
                waiting.join("; ")
            ))
            .with_hint("check `elysiactl status` and the node logs; the restart stopped here"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Per node: what the runtime knows joined with what the node's API says.
pub fn status(ctx: &Context) -> HostResult<Value> {
    let rt = runtime_for(ctx)?;
    let r = readiness(ctx);
    let mut nodes = Vec::new();
    let all_up = r.is_ready(ctx.config.weaviate.nodes);
    for i in 0..ctx.config.weaviate.nodes {
        let st = rt.node_state(i)?;
        let api = r.nodes.get(i);
        let mut row = serde_json::to_value(&st).unwrap_or_default();
        row["ready"] = json!(api.map(|a| a.ready).unwrap_or(false));
        row["live"] = json!(api.map(|a| a.live).unwrap_or(false));
        row["version"] = json!(api.and_then(|a| a.version.clone()));
        row["latency_ms"] = json!(api.and_then(|a| a.latency_ms));
        nodes.push(row);
    }
    Ok(json!({
        "service": "weaviate",
        "runtime": rt.kind().as_str(),
        "up": all_up,
        "summary": r.summary(),
        "problems": r.problems,
        "leader": r.leader,
        "voters": r.voters,
        "synchronized": r.synchronized,
        "nodes": nodes,
    }))
}
