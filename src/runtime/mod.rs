//! Where Weaviate nodes run. One trait; `process`, `docker` and `swarm`
//! (Docker Swarm services, nodes on several hosts) implement it, and
//! `remote` (a cluster run elsewhere) whose process operations refuse;
//! everything above this module (services, scripts) is the same for all,
//! and a runtime difference ends here.

pub mod docker;
pub mod process;
pub mod remote;
pub mod swarm;
mod swarm_image;

use crate::base::config::{Config, NodeSpec, RuntimeKind, WeaviateConfig};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the runtime knows of one node (the cluster's own view comes from its API).
#[derive(Debug, Clone, Serialize, Default)]
pub struct NodeState {
    pub node: String,
    pub index: usize,
    pub runtime: String,
    pub running: bool,
    pub pid: Option<u32>,
    pub container: Option<String>,
    pub rest_port: u16,
    pub grpc_port: u16,
    pub cpu_percent: Option<f64>,
    /// CPU time the node's server has used since it started (user and
    /// system), for rates over an interval of one's own choosing.
    #[serde(skip)]
    pub cpu_seconds: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub uptime_seconds: Option<f64>,
    pub restarts: Option<u64>,
    /// The host the node runs on, where that is not simply this machine
    /// (the swarm runtime: the swarm node its service is placed on).
    pub host: Option<String>,
    /// Anything unusual: "stale PID file", "exited with 137", "paused".
    pub detail: String,
}

/// Where a node's log can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    File(std::path::PathBuf),
    Container(String),
}

pub trait WeaviateRuntime: Send + Sync {
    fn kind(&self) -> RuntimeKind;
    /// Refuse to start when something is missing or in the way (binary or
    /// image, a port held by another program), naming the fix.
    fn preflight(&self, nodes: &[usize]) -> HostResult<()>;
    /// Launch one node and return without waiting for readiness.
    fn start_node(&self, index: usize) -> HostResult<()>;
    /// Stop one node gracefully (SIGTERM, then SIGKILL after `timeout`).
    /// Returns how it ended ("terminated", "killed", "not running").
    fn stop_node(&self, index: usize, timeout: Duration) -> HostResult<String>;
    /// Restart one node for a rolling restart, returning how it went down:
    /// a stop and a start, unless the runtime has a way of its own (Swarm's
    /// service update). Returns without waiting for readiness.
    fn restart_node(&self, index: usize, stop_timeout: Duration) -> HostResult<String> {
        let how = self.stop_node(index, stop_timeout)?;
        self.start_node(index)?;
        Ok(how)
    }
    fn node_state(&self, index: usize) -> HostResult<NodeState>;
    /// What a fault on the node acts on, for plans and the fault registry:
    /// "PID 1234" or "container NAME".
    fn fault_target(&self, index: usize) -> HostResult<String>;
    /// SIGKILL the node's process (`docker kill`): no shutdown, as a crash.
    fn kill_node(&self, index: usize) -> HostResult<()>;
    /// Freeze the node (SIGSTOP, `docker pause`): it keeps its sockets but
    /// answers nothing, as a node stalled by the OS or a long GC pause.
    fn pause_node(&self, index: usize) -> HostResult<()>;
    /// Undo `pause_node`; a node that is not paused is left as it is.
    fn resume_node(&self, index: usize) -> HostResult<()>;
    /// Limit the node to `percent` of one CPU (CFS quota per 100 ms). Returns
    /// what `restore_cpu` needs to put the previous setting back.
    fn limit_cpu(&self, index: usize, percent: f64) -> HostResult<String>;
    /// Undo `limit_cpu` with what it returned; None when that was lost (a
    /// crash between the two): then the limit is removed.
    fn restore_cpu(&self, index: usize, previous: Option<&str>) -> HostResult<()>;
    /// Whether the node runs under a CPU limit this tool set (for `chaos
    /// reset` to find one a crash left without a registry entry).
    fn cpu_limited(&self, index: usize) -> HostResult<bool>;
    /// Squeeze the node: what it allocates from now on limited to `bytes`
    /// (a cgroup-v1 memory group). Returns what `restore_memory` needs to put it back. Built for
    /// the process runtime only; the others refuse.
    fn limit_memory(&self, _index: usize, _bytes: u64) -> HostResult<String> {
        Err(HostError::validation(format!(
            "memory pressure is not built yet for the {} runtime",
            self.kind().as_str()
        ))
        .with_hint("it works with the process runtime (docs/chaos.md lists what is missing)"))
    }
    /// Undo `limit_memory` (None: what it returned was lost, the node goes
    /// back to the root group). Returns what the node did under the limit,
    /// in words: its peak, the limit hits, whether it was OOM-killed.
    fn restore_memory(&self, _index: usize, _previous: Option<&str>) -> HostResult<String> {
        Ok("nothing to restore".into())
    }
    /// Whether the node runs under a memory limit this tool set.
    fn memory_limited(&self, _index: usize) -> HostResult<bool> {
        Ok(false)
    }
    /// The last lines of the node's log.
    fn log_tail(&self, index: usize, lines: usize) -> Vec<String>;
    /// Where the node's data is on this machine (its folder, or its Docker
    /// volume's mount point), for disk usage; None when there is none yet.
    fn data_path(&self, index: usize) -> HostResult<Option<std::path::PathBuf>>;
    /// Where the node's log is: a file, or a container's output.
    fn log_location(&self, index: usize) -> HostResult<LogLocation>;
    /// Take `node` out of the RAFT configuration through node `via`'s
    /// internal cluster API (its data port; any node forwards to the leader).
    fn remove_from_raft(&self, ctx: &Context, via: usize, node: &str) -> HostResult<()>;
    /// Remove a stopped node that left the cluster for good (`weaviate
    /// scale` down): its container and its data, so a node of that name
    /// added later starts empty instead of with a RAFT state it was removed
    /// from.
    fn forget_node(&self, index: usize) -> HostResult<()>;
    /// Remove what `stop` leaves on purpose (containers, network; never data
    /// volumes or folders unless `purge_data`).
    fn cleanup(&self, purge_data: bool) -> HostResult<()>;
}

/// `POST /v1/cluster/remove` at `address` (`host:port` of a node's data
/// port, reachable from here): how the process and docker runtimes take a
/// node out of RAFT.
pub fn remove_through_cluster_api(ctx: &Context, address: &str, node: &str) -> HostResult<()> {
    let c = crate::clients::weaviate::WeaviateClient::new(
        ctx.http.clone(),
        format!("http://{address}"),
        &Default::default(),
    );
    ctx.block_on(c.remove_raft_peer(node))
}

/// Microseconds per 100 ms CFS period for `percent` of one CPU; at least
/// 1 ms, the kernel's minimum quota.
pub fn cfs_quota(percent: f64) -> i64 {
    ((percent / 100.0 * 100_000.0).round() as i64).max(1_000)
}

/// Environment every node gets, whatever the runtime. The runtime adds the
/// addresses that differ (ports, data path, localhost mode).
pub fn common_node_env(w: &WeaviateConfig, node: &NodeSpec) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("CLUSTER_HOSTNAME", node.name.clone());
    // The first `voters` names of RAFT_JOIN vote; a node beyond them joins
    // the leader as a non-voter (OPS-API §3).
    set("RAFT_BOOTSTRAP_EXPECT", w.voters().to_string());
    set("DEFAULT_VECTORIZER_MODULE", "none".into());
    // text2vec-openai: Elysia's feedback collection cannot be created without it;
    // it needs no key until used.
    set("ENABLE_MODULES", DEFAULT_MODULES.into());
    // The replication API (/v1/replication/*) answers 501 without it; repair needs it.
    set("REPLICA_MOVEMENT_ENABLED", "true".into());
    set("PROMETHEUS_MONITORING_ENABLED", "true".into());
    set("DISABLE_TELEMETRY", "true".into());
    set("GO_PROFILING_DISABLE", "true".into());
    set("LOG_LEVEL", "info".into());
    set("QUERY_DEFAULTS_LIMIT", "25".into());
    set("MEMBERLIST_FAST_FAILURE_DETECTION", "true".into());
    if w.api_key.is_set() {
        set("AUTHENTICATION_APIKEY_ENABLED", "true".into());
        set(
            "AUTHENTICATION_APIKEY_ALLOWED_KEYS",
            w.api_key.expose().to_string(),
        );
        set("AUTHENTICATION_APIKEY_USERS", "elysiactl".into());
        set("AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED", "false".into());
    } else {
        set("AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED", "true".into());
    }
    for (k, v) in &w.env {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// The Weaviate settings the nodes run with: the configured ones, plus,
/// when backups are enabled, the `backup-s3` module pointed at the store
/// (as the runtime's nodes reach it). A variable set in weaviate.env wins.
pub fn weaviate_for(config: &Config, kind: RuntimeKind) -> WeaviateConfig {
    let mut w = config.weaviate.clone();
    let b = &config.backup;
    if !b.enabled {
        return w;
    }
    let endpoint = match kind {
        RuntimeKind::Process => b.endpoint(),
        RuntimeKind::Docker => format!("{}:{}", docker::HOST_GATEWAY_NAME, b.port),
        // A remote cluster's nodes are configured by whoever runs them; the
        // swarm runtime has no backup store (its start refuses `[backup]`).
        RuntimeKind::Remote | RuntimeKind::Swarm => return w,
    };
    for (k, v) in crate::backup::store::node_env(b, &endpoint) {
        w.env.entry(k.to_string()).or_insert(v);
    }
    let modules = w
        .env
        .get("ENABLE_MODULES")
        .cloned()
        .unwrap_or_else(|| DEFAULT_MODULES.to_string());
    if !modules.split(',').any(|m| m.trim() == "backup-s3") {
        w.env
            .insert("ENABLE_MODULES".into(), format!("{modules},backup-s3"));
    }
    w
}

/// The modules every node loads (see `common_node_env`).
const DEFAULT_MODULES: &str = "text2vec-openai";

/// The runtime to use: configured, else the one the running cluster was
/// started with, else docker when an engine answers and the image exists,
/// else process.
pub fn select(
    config: &Config,
    rt: &tokio::runtime::Handle,
) -> HostResult<Box<dyn WeaviateRuntime>> {
    let kind = match config.weaviate.runtime {
        Some(k) => k,
        None => detect(config, rt),
    };
    Ok(match kind {
        RuntimeKind::Process => Box::new(
            process::ProcessRuntime::new(weaviate_for(config, kind)).with_rotation(config.logs),
        ),
        RuntimeKind::Docker => Box::new(
            docker::DockerRuntime::new(weaviate_for(config, kind), rt.clone())?
                .with_rotation(config.logs),
        ),
        RuntimeKind::Swarm => Box::new(
            swarm::SwarmRuntime::new(weaviate_for(config, kind), rt.clone())?
                .with_rotation(config.logs),
        ),
        RuntimeKind::Remote => Box::new(remote::RemoteRuntime::new(config.weaviate.clone())),
    })
}

fn detect(config: &Config, rt: &tokio::runtime::Handle) -> RuntimeKind {
    if let Some(k) = last_used() {
        return k;
    }
    if docker::image_available(rt, &config.weaviate.image_name()) {
        RuntimeKind::Docker
    } else {
        RuntimeKind::Process
    }
}

fn marker() -> std::path::PathBuf {
    crate::base::paths::run_dir().join("weaviate.runtime")
}

/// The runtime the cluster was last started with, while it may still run.
pub fn last_used() -> Option<RuntimeKind> {
    let text = std::fs::read_to_string(marker()).ok()?;
    RuntimeKind::parse(text.trim()).ok()
}

pub fn remember(kind: Option<RuntimeKind>) {
    let path = marker();
    match kind {
        Some(k) => {
            let _ = std::fs::create_dir_all(crate::base::paths::run_dir());
            let _ = std::fs::write(path, k.as_str());
        }
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}
