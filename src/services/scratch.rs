//! A throwaway Weaviate cluster beside the stack, for `backup verify
//! --deep`: process-runtime nodes on free ports, with PID files, logs and
//! data in a folder of their own, the backup-s3 module pointed at the same
//! store. Weaviate 1.38 cannot restore a collection under another name, so
//! a backup cannot be restored into the live cluster while its collections
//! exist there; a second cluster can take it whole.
//!
//! Dropping the cluster stops every node by its PID and removes the folder,
//! on success, on error and on Ctrl-C alike; what a run killed outright left
//! is stopped and removed by the next one.

use crate::base::config::{Config, RuntimeKind, Secret};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, port_in_use};
use crate::runtime::process::ProcessRuntime;
use crate::runtime::{weaviate_for, WeaviateRuntime};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where scratch clusters live while they run (each in a folder of its own).
fn scratch_root() -> PathBuf {
    paths::env_data_dir().join("scratch")
}

/// Ports a scratch cluster of `nodes` nodes takes from its base: REST,
/// gRPC and metrics one per node, gossip and RAFT two per node.
fn span(nodes: usize) -> u16 {
    7 * nodes as u16
}

/// The first base below Linux's ephemeral range (32768 and up, where an
/// outgoing connection can take a port before a node binds it) whose whole
/// span is free, searching from a point that differs per process.
fn free_ports(nodes: usize) -> HostResult<u16> {
    let span = span(nodes);
    let (low, high) = (20_000u16, 32_000u16);
    let start = low + (std::process::id() % 100) as u16 * 100;
    let bases = (start..high - span)
        .chain(low..start)
        .step_by(span as usize + 1);
    for base in bases {
        if (base..base + span).all(|p| !port_in_use("127.0.0.1", p)) {
            return Ok(base);
        }
    }
    Err(HostError::validation(format!(
        "no {span} free ports for a scratch cluster between {low} and {high}"
    ))
    .with_hint("stop what holds the ports there, or verify without --deep"))
}

/// The scratch cluster's configuration: the stack's (the same Weaviate
/// version, modules and store), on its own ports and with anonymous access,
/// its addressing and data settings from [weaviate.env] left out.
fn scratch_config(config: &Config, nodes: usize, base: u16) -> Config {
    let mut c = config.clone();
    let n = nodes as u16;
    let w = &mut c.weaviate;
    w.runtime = Some(RuntimeKind::Process);
    w.urls.clear();
    w.host = "127.0.0.1".into();
    w.nodes = nodes;
    w.cluster_name = format!("elysiactl-scratch-{}", std::process::id());
    w.rest_port = base;
    w.grpc_port = base + n;
    w.gossip_port = base + 2 * n;
    w.raft_port = base + 4 * n;
    w.metrics_port = base + 6 * n;
    w.api_key = Secret::default();
    w.replication_factor = 0;
    w.env.retain(|k, _| {
        !(k.starts_with("CLUSTER_")
            || k.starts_with("RAFT_")
            || k.starts_with("PERSISTENCE_")
            || k.starts_with("AUTHENTICATION_")
            || k.starts_with("AUTHORIZATION_")
            || k == "GRPC_PORT"
            || k == "PROMETHEUS_MONITORING_PORT")
    });
    c
}

/// Stop and remove what a verify that was killed outright (no drop ran)
/// left: a folder whose creating process is gone, its nodes stopped by the
/// PID files in it (a recorded start time guards against recycled PIDs).
fn reap_leftovers(stop_timeout: Duration) {
    let Ok(entries) = std::fs::read_dir(scratch_root()) else {
        return;
    };
    for dir in entries.flatten().map(|e| e.path()) {
        let owner = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("verify-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        let Some(owner) = owner else { continue };
        if owner == std::process::id() || proc::is_alive(owner) {
            continue;
        }
        for pid_file in std::fs::read_dir(dir.join("run"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pid"))
        {
            if let Ok(Some(rec)) = proc::read_pid_file(&pid_file) {
                let _ = proc::terminate(rec, stop_timeout);
            }
        }
        tracing::info!(
            "removing the scratch cluster left by PID {owner}: {}",
            dir.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

pub struct ScratchCluster {
    ctx: Context,
    runtime: ProcessRuntime,
    dir: PathBuf,
    stop_timeout: Duration,
}

impl ScratchCluster {
    /// Start `nodes` nodes (named weaviate-0 … as the stack's) and wait
    /// until they form a ready cluster. On a failure the nodes started so
    /// far are stopped and the folder removed (by the drop).
    pub fn start(ctx: &Context, nodes: usize, timeout: Duration) -> HostResult<ScratchCluster> {
        reap_leftovers(Duration::from_secs(10));
        let base = free_ports(nodes)?;
        let config = scratch_config(&ctx.config, nodes, base);
        let dir = scratch_root().join(format!("verify-{}-{base}", std::process::id()));
        // A folder left by a run of this PID that died: nothing in it runs
        // (its PID is ours), so it goes.
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = ProcessRuntime::new(weaviate_for(&config, RuntimeKind::Process))
            .with_rotation(config.logs)
            .under(dir.clone());
        let stop_timeout = Duration::from_secs(config.weaviate.stop_timeout.clamp(1, 30));
        let scratch = ScratchCluster {
            ctx: Context::new(config, ctx.rt.clone()),
            runtime,
            dir,
            stop_timeout,
        };
        let all: Vec<usize> = (0..nodes).collect();
        scratch.runtime.preflight(&all)?;
        ctx.out.status(&format!(
            "starting a scratch cluster of {nodes} node(s) on ports {base}-{} (data in {})",
            base + span(nodes) - 1,
            scratch.dir.display()
        ));
        for &i in &all {
            scratch.runtime.start_node(i)?;
        }
        super::weaviate::wait_ready(&scratch.ctx, &scratch.runtime, timeout)?;
        Ok(scratch)
    }

    /// The context whose configuration is the scratch cluster.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The running nodes' PIDs (for a report and a test that checks they end).
    pub fn pids(&self) -> Vec<u32> {
        (0..self.ctx.config.weaviate.nodes)
            .filter_map(|i| self.runtime.node_state(i).ok()?.pid)
            .collect()
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        for i in 0..self.ctx.config.weaviate.nodes {
            if let Err(e) = self.runtime.stop_node(i, self.stop_timeout) {
                tracing::warn!("scratch cluster: cannot stop node {i}: {}", e.message);
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", self.dir.display());
            }
        }
    }
}

/// `backup verify ID --deep`, the deep part: restore the backup into a
/// scratch cluster of as many nodes as the backup has, and compare each
/// collection's count and content fingerprint with what was recorded when
/// the backup was made. The scratch cluster is always stopped and removed.
pub fn deep_verify(ctx: &Context, id: &str, timeout: Duration) -> HostResult<Value> {
    let t0 = Instant::now();
    let recorded = match crate::backup::recorded_collections(ctx, id)? {
        Ok(r) => r,
        Err(why) => {
            return Ok(json!({"available": false, "ok": false, "problems": [why],
                             "collections": [], "seconds": 0.0}))
        }
    };
    let backup_nodes = crate::backup::backup_nodes(ctx, id)?;
    let nodes = backup_nodes.len().max(1);
    let started = Instant::now();
    let scratch = ScratchCluster::start(ctx, nodes, timeout)?;
    let start_seconds = started.elapsed().as_secs_f64();
    let names: Vec<String> = scratch
        .context()
        .config
        .weaviate
        .node_specs()
        .into_iter()
        .map(|s| s.name)
        .collect();
    let mapping = crate::backup::node_mapping(&backup_nodes, &names);
    ctx.out.status(&format!(
        "restoring backup {id} ({} collection(s)) into the scratch cluster",
        recorded.len()
    ));
    let pids = scratch.pids();
    let report = crate::backup::deep_compare(scratch.context(), id, &recorded, &mapping, timeout);
    ctx.out.status("stopping and removing the scratch cluster");
    drop(scratch);
    let mut report = report?;
    report["scratch"] = json!({"nodes": nodes, "pids": pids, "node_mapping": mapping,
                               "start_seconds": (start_seconds * 10.0).round() / 10.0});
    report["seconds"] = json!((t0.elapsed().as_secs_f64() * 10.0).round() / 10.0);
    Ok(report)
}
