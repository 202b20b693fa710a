//! The process runtime: each node a local `weaviate-server` process on
//! loopback, with its own data folder, PID file and log file.

use super::{common_node_env, NodeState, WeaviateRuntime};
use crate::base::config::{node_name, NodeSpec, RuntimeKind, WeaviateConfig, MAX_NODES};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState, SpawnSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the cgroup-v1 `cpu` controller is mounted (Debian's hybrid layout).
static CPU_CGROUP_ROOT: std::sync::LazyLock<PathBuf> =
    std::sync::LazyLock::new(|| PathBuf::from("/sys/fs/cgroup/cpu"));

static MEMORY_CGROUP_ROOT: std::sync::LazyLock<PathBuf> =
    std::sync::LazyLock::new(|| PathBuf::from("/sys/fs/cgroup/memory"));

/// The process's group in the cgroup-v1 hierarchy that has `controller`,
/// or None when no hierarchy has it.
fn v1_group_of(pid: u32, controller: &str) -> HostResult<Option<String>> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| HostError::io(format!("cannot read {path}"), e))?;
    Ok(group_in(&text, controller))
}

/// The process's group in the cgroup-v1 hierarchy with the `memory` controller.
fn memory_cgroup_of(pid: u32) -> HostResult<String> {
    v1_group_of(pid, "memory")?.ok_or_else(|| {
        HostError::validation("this machine has no cgroup-v1 memory controller for memory pressure")
            .with_hint("the process runtime limits memory through /sys/fs/cgroup/memory")
    })
}

/// The group of the hierarchy that has `controller`, in /proc/PID/cgroup's
/// lines ("1:cpu:/" or "4:cpu,cpuacct:/x").
fn group_in(proc_cgroup: &str, controller: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, group) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| group.to_string())
    })
}

/// A number a cgroup file holds (0 when it cannot be read).
fn cgroup_number(group: &std::path::Path, file: &str) -> u64 {
    std::fs::read_to_string(group.join(file))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// The process's group in the cgroup-v1 hierarchy that has the `cpu`
/// controller ("1:cpu:/" or "4:cpu,cpuacct:/x" in /proc/PID/cgroup).
fn cpu_cgroup_of(pid: u32) -> HostResult<String> {
    v1_group_of(pid, "cpu")?.ok_or_else(|| {
        HostError::validation("this machine has no cgroup-v1 cpu controller for a CPU limit")
            .with_hint("the process runtime limits CPU through /sys/fs/cgroup/cpu; use the docker runtime instead")
    })
}

pub struct ProcessRuntime {
    cfg: WeaviateConfig,
    rotation: crate::base::logfile::Rotation,
    /// Where PID files, logs and data go instead of the environment's
    /// folders: a scratch cluster beside the stack (`backup verify --deep`).
    root: Option<PathBuf>,
}

impl ProcessRuntime {
    pub fn new(cfg: WeaviateConfig) -> ProcessRuntime {
        ProcessRuntime {
            cfg,
            rotation: Default::default(),
            root: None,
        }
    }

    /// Keep PID files (`run/`), logs (`logs/`) and data (`weaviate/`) under
    /// `root`, apart from the environment's own cluster.
    pub fn under(mut self, root: PathBuf) -> ProcessRuntime {
        self.root = Some(root);
        self
    }

    /// When a node's log is rotated at its start (`[logs]` in the config).
    pub fn with_rotation(mut self, rotation: crate::base::logfile::Rotation) -> ProcessRuntime {
        self.rotation = rotation;
        self
    }

    fn node(&self, index: usize) -> HostResult<NodeSpec> {
        if index >= self.cfg.nodes {
            return Err(HostError::validation(format!(
                "there is no node {index}: the cluster has {} nodes (0..{})",
                self.cfg.nodes,
                self.cfg.nodes - 1
            )));
        }
        Ok(self.cfg.node(index))
    }

    pub fn pid_file(&self, node: &NodeSpec) -> PathBuf {
        let run = match &self.root {
            Some(r) => r.join("run"),
            None => paths::run_dir(),
        };
        run.join(format!("{}.pid", node.name))
    }

    pub fn log_file(&self, node: &NodeSpec) -> PathBuf {
        let logs = match &self.root {
            Some(r) => r.join("logs"),
            None => paths::log_dir(),
        };
        logs.join(format!("{}.log", node.name))
    }

    pub fn data_dir(&self, node: &NodeSpec) -> PathBuf {
        let data = match &self.root {
            Some(r) => r.clone(),
            None => paths::env_data_dir(),
        };
        data.join("weaviate").join(&node.name)
    }

    /// Environment for one node: the common settings plus loopback addresses
    /// (see OPS-API §10: localhost mode, RAFT join by node name and port).
    pub fn node_env(&self, node: &NodeSpec) -> BTreeMap<String, String> {
        let mut env = common_node_env(&self.cfg, node);
        let specs = self.cfg.node_specs();
        let mut set = |k: &str, v: String| {
            env.entry(k.to_string()).or_insert(v);
        };
        set("CLUSTER_IN_LOCALHOST", "true".into());
        set("CLUSTER_ADVERTISE_ADDR", "127.0.0.1".into());
        set("CLUSTER_BIND_ADDR", "127.0.0.1".into());
        set("CLUSTER_GOSSIP_BIND_PORT", node.gossip_port.to_string());
        set("CLUSTER_DATA_BIND_PORT", node.data_port.to_string());
        set("RAFT_PORT", node.raft_port.to_string());
        set("RAFT_INTERNAL_RPC_PORT", node.raft_rpc_port.to_string());
        // Every node the cluster could grow to, not only the configured
        // ones: in localhost mode a node learns a peer's RAFT port only from
        // its own RAFT_JOIN, read once at start, so a node `weaviate scale`
        // adds later must be listed already.
        set(
            "RAFT_JOIN",
            (0..MAX_NODES)
                .filter_map(|i| {
                    let port = self.cfg.raft_port.checked_add(2 * i as u16)?;
                    Some(format!("{}:{port}", node_name(i)))
                })
                .collect::<Vec<_>>()
                .join(","),
        );
        if node.index > 0 {
            set(
                "CLUSTER_JOIN",
                format!("127.0.0.1:{}", specs[0].gossip_port),
            );
        }
        set("GRPC_PORT", node.grpc_port.to_string());
        set("PROMETHEUS_MONITORING_PORT", node.metrics_port.to_string());
        set(
            "PERSISTENCE_DATA_PATH",
            self.data_dir(node).display().to_string(),
        );
        env
    }

    /// The cgroup-v1 `cpu` group a CPU-limit fault moves the node into.
    pub fn chaos_cgroup(&self, node: &NodeSpec) -> PathBuf {
        CPU_CGROUP_ROOT.join(format!(
            "elysiactl-chaos-{}-{}",
            self.cfg.cluster_name, node.name
        ))
    }

    /// The memory group a memory-pressure fault moves the node into.
    pub fn memory_cgroup(&self, node: &NodeSpec) -> PathBuf {
        MEMORY_CGROUP_ROOT.join(format!(
            "elysiactl-chaos-{}-{}",
            self.cfg.cluster_name, node.name
        ))
    }

    /// The PID of a node that runs; a fault on one that does not is refused.
    fn running_pid(&self, index: usize) -> HostResult<u32> {
        let node = self.node(index)?;
        match proc::pid_state(&self.pid_file(&node))? {
            PidState::Running { pid } => Ok(pid),
            _ => Err(
                HostError::validation(format!("{} is not running", node.name)).with_hint(
                    "`elysiactl status` shows the nodes; `elysiactl weaviate start` starts them",
                ),
            ),
        }
    }

    fn ports(node: &NodeSpec) -> [(&'static str, u16); 7] {
        [
            ("REST", node.rest_port),
            ("gRPC", node.grpc_port),
            ("gossip", node.gossip_port),
            ("cluster data", node.data_port),
            ("RAFT", node.raft_port),
            ("RAFT RPC", node.raft_rpc_port),
            ("metrics", node.metrics_port),
        ]
    }
}

impl WeaviateRuntime for ProcessRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Process
    }

    fn data_path(&self, index: usize) -> HostResult<Option<PathBuf>> {
        let dir = self.data_dir(&self.cfg.node(index));
        Ok(dir.exists().then_some(dir))
    }

    fn preflight(&self, nodes: &[usize]) -> HostResult<()> {
        let binary = self.cfg.binary_path();
        if !binary.exists() {
            return Err(HostError::fs(format!(
                "the Weaviate server binary {} is missing",
                binary.display()
            ))
            .with_hint("run `elysiactl install weaviate`, or set weaviate.binary in the config"));
        }
        for &i in nodes {
            let node = self.node(i)?;
            if let PidState::Running { .. } = proc::pid_state(&self.pid_file(&node))? {
                continue; // ours, already up: start leaves it be
            }
            for (what, port) in Self::ports(&node) {
                if proc::port_in_use("127.0.0.1", port) {
                    let owner = proc::port_owner(port)
                        .map(|(pid, name)| format!(" by {name} (PID {pid})"))
                        .unwrap_or_default();
                    return Err(HostError::validation(format!(
                        "port {port} ({what} port of {}) is already taken{owner}",
                        node.name
                    ))
                    .with_hint(
                        "stop whatever holds it, or move the cluster: set weaviate.rest_port / grpc_port / gossip_port / raft_port / metrics_port in the config",
                    ));
                }
            }
        }
        Ok(())
    }

    fn start_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        let pid_file = self.pid_file(&node);
        match proc::pid_state(&pid_file)? {
            PidState::Running { .. } => return Ok(()),
            PidState::Stale { pid } => {
                tracing::info!("{}: removing stale PID file (PID {pid} is gone)", node.name);
                let _ = std::fs::remove_file(&pid_file);
            }
            PidState::Absent => {}
        }
        let data = self.data_dir(&node);
        std::fs::create_dir_all(&data)
            .map_err(|e| HostError::io(format!("cannot create {}", data.display()), e))?;
        proc::spawn(&SpawnSpec {
            program: self.cfg.binary_path(),
            args: vec![
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                node.rest_port.to_string(),
                "--scheme".into(),
                "http".into(),
            ],
            env: self.node_env(&node),
            // The server reads ./weaviate.conf.json if present: run it where none is.
            cwd: Some(data),
            pid_file,
            log_file: self.log_file(&node),
            rotation: self.rotation,
            ..Default::default()
        })?;
        Ok(())
    }

    fn stop_node(&self, index: usize, timeout: Duration) -> HostResult<String> {
        let node = self.node(index)?;
        let pid_file = self.pid_file(&node);
        let outcome = match proc::read_pid_file(&pid_file)? {
            None => "not running".to_string(),
            Some(rec) => proc::terminate(rec, timeout)?.to_string(),
        };
        let _ = std::fs::remove_file(&pid_file);
        Ok(outcome)
    }

    fn node_state(&self, index: usize) -> HostResult<NodeState> {
        let node = self.node(index)?;
        let mut st = NodeState {
            node: node.name.clone(),
            index,
            runtime: "process".into(),
            rest_port: node.rest_port,
            grpc_port: node.grpc_port,
            ..Default::default()
        };
        match proc::pid_state(&self.pid_file(&node))? {
            PidState::Absent => st.detail = "not started".into(),
            PidState::Stale { pid } => {
                st.pid = Some(pid);
                st.detail = format!("crashed or killed: PID file names PID {pid}, which is gone");
            }
            PidState::Running { pid } => {
                st.pid = Some(pid);
                st.running = true;
                if let Some(s) = proc::stats(pid) {
                    st.cpu_percent = Some(s.cpu_percent);
                    st.cpu_seconds = Some(s.cpu_seconds);
                    st.memory_bytes = Some(s.rss_bytes);
                    st.uptime_seconds = Some(s.uptime_seconds);
                    if s.state == "T" {
                        st.detail = "paused (SIGSTOP)".into();
                    }
                }
            }
        }
        Ok(st)
    }

    fn log_location(&self, index: usize) -> HostResult<super::LogLocation> {
        Ok(super::LogLocation::File(self.log_file(&self.node(index)?)))
    }

    fn fault_target(&self, index: usize) -> HostResult<String> {
        Ok(format!("PID {}", self.running_pid(index)?))
    }

    fn kill_node(&self, index: usize) -> HostResult<()> {
        proc::signal(self.running_pid(index)?, proc::Signal::SIGKILL)
    }

    fn pause_node(&self, index: usize) -> HostResult<()> {
        proc::signal(self.running_pid(index)?, proc::Signal::SIGSTOP)
    }

    fn resume_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        match proc::pid_state(&self.pid_file(&node))? {
            PidState::Running { pid } => proc::signal(pid, proc::Signal::SIGCONT),
            _ => Ok(()),
        }
    }

    fn limit_cpu(&self, index: usize, percent: f64) -> HostResult<String> {
        let pid = self.running_pid(index)?;
        let node = self.node(index)?;
        let previous = cpu_cgroup_of(pid)?;
        let group = self.chaos_cgroup(&node);
        let io = |what: &str, e| HostError::io(format!("cannot {what} {}", group.display()), e);
        std::fs::create_dir_all(&group).map_err(|e| io("create", e))?;
        std::fs::write(group.join("cpu.cfs_period_us"), "100000")
            .map_err(|e| io("set the period of", e))?;
        std::fs::write(
            group.join("cpu.cfs_quota_us"),
            super::cfs_quota(percent).to_string(),
        )
        .map_err(|e| io("set the quota of", e))?;
        // cgroup.procs moves every thread of the process.
        std::fs::write(group.join("cgroup.procs"), pid.to_string())
            .map_err(|e| io("move the node into", e))?;
        Ok(previous)
    }

    fn restore_cpu(&self, index: usize, previous: Option<&str>) -> HostResult<()> {
        let node = self.node(index)?;
        let group = self.chaos_cgroup(&node);
        if let PidState::Running { pid } = proc::pid_state(&self.pid_file(&node))? {
            let back = CPU_CGROUP_ROOT.join(previous.unwrap_or("/").trim_start_matches('/'));
            std::fs::write(back.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                HostError::io(
                    format!("cannot move {} back to {}", node.name, back.display()),
                    e,
                )
            })?;
        }
        // Empty now (or the node died in it): the group goes.
        match std::fs::remove_dir(&group) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HostError::io(
                format!("cannot remove {}", group.display()),
                e,
            )),
            _ => Ok(()),
        }
    }

    fn cpu_limited(&self, index: usize) -> HostResult<bool> {
        let node = self.node(index)?;
        Ok(match proc::pid_state(&self.pid_file(&node))? {
            PidState::Running { pid } => cpu_cgroup_of(pid)
                .map(|g| g.contains("elysiactl-chaos-"))
                .unwrap_or(false),
            _ => self.chaos_cgroup(&node).exists(),
        })
    }

    fn limit_memory(&self, index: usize, bytes: u64) -> HostResult<String> {
        let pid = self.running_pid(index)?;
        let node = self.node(index)?;
        let previous = memory_cgroup_of(pid)?;
        let group = self.memory_cgroup(&node);
        let io = |what: &str, e| HostError::io(format!("cannot {what} {}", group.display()), e);
        std::fs::create_dir_all(&group).map_err(|e| io("create", e))?;
        // The pages it holds stay charged where they are (kernels since 6.x
        // refuse memory.move_charge_at_immigrate): the limit bounds what the
        // node takes from now on.
        let put = std::fs::write(group.join("memory.limit_in_bytes"), bytes.to_string())
            .map_err(|e| io("set the limit of", e))
            .and_then(|_| {
                std::fs::write(group.join("cgroup.procs"), pid.to_string())
                    .map_err(|e| io("move the node into", e))
            });
        if let Err(e) = put {
            let _ = std::fs::remove_dir(&group);
            return Err(e);
        }
        Ok(previous)
    }

    fn restore_memory(&self, index: usize, previous: Option<&str>) -> HostResult<String> {
        use crate::base::units::format_bytes;
        let node = self.node(index)?;
        let group = self.memory_cgroup(&node);
        if !group.exists() {
            return Ok("nothing to restore".into());
        }
        let limit = cgroup_number(&group, "memory.limit_in_bytes");
        let peak = cgroup_number(&group, "memory.max_usage_in_bytes");
        let failcnt = cgroup_number(&group, "memory.failcnt");
        let oom_kills = std::fs::read_to_string(group.join("memory.oom_control"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        let running = match proc::pid_state(&self.pid_file(&node))? {
            PidState::Running { pid } => {
                let back = MEMORY_CGROUP_ROOT.join(previous.unwrap_or("/").trim_start_matches('/'));
                std::fs::write(back.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                    HostError::io(
                        format!("cannot move {} back to {}", node.name, back.display()),
                        e,
                    )
                })?;
                true
            }
            _ => false,
        };
        // Empty now (or the node died in it): the group goes, its charges
        // move to the parent.
        match std::fs::remove_dir(&group) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(HostError::io(
                    format!("cannot remove {}", group.display()),
                    e,
                ))
            }
            _ => {}
        }
        let seen = format!(
            "peak {} of a {} limit, hit the limit {failcnt} times, {oom_kills} OOM kills",
            format_bytes(peak),
            format_bytes(limit)
        );
        Ok(if running {
            format!("unlimited ({seen})")
        } else {
            format!(
                "{} is gone, OOM-killed or crashed under the limit ({seen}); not restarted: bring it back with `elysiactl start`",
                node.name
            )
        })
    }

    fn memory_limited(&self, index: usize) -> HostResult<bool> {
        let node = self.node(index)?;
        Ok(match proc::pid_state(&self.pid_file(&node))? {
            PidState::Running { pid } => memory_cgroup_of(pid)
                .map(|g| g.contains("elysiactl-chaos-"))
                .unwrap_or(false),
            _ => self.memory_cgroup(&node).exists(),
        })
    }

    fn log_tail(&self, index: usize, lines: usize) -> Vec<String> {
        self.node(index)
            .map(|n| proc::tail_lines(&self.log_file(&n), lines))
            .unwrap_or_default()
    }

    fn remove_from_raft(&self, ctx: &Context, via: usize, node: &str) -> HostResult<()> {
        let address = format!("127.0.0.1:{}", self.node(via)?.data_port);
        super::remove_through_cluster_api(ctx, &address, node)
    }

    fn forget_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        if let PidState::Running { pid } = proc::pid_state(&self.pid_file(&node))? {
            return Err(HostError::validation(format!(
                "{} still runs (PID {pid}); only a stopped node is removed",
                node.name
            ))
            .with_hint("stop it first: `elysiactl weaviate stop --nodes N`"));
        }
        let _ = std::fs::remove_file(self.pid_file(&node));
        let d = self.data_dir(&node);
        if d.exists() {
            std::fs::remove_dir_all(&d)
                .map_err(|e| HostError::io(format!("cannot remove {}", d.display()), e))?;
        }
        Ok(())
    }

    fn cleanup(&self, purge_data: bool) -> HostResult<()> {
        for node in self.cfg.node_specs() {
            let _ = std::fs::remove_file(self.pid_file(&node));
            if purge_data {
                let d = self.data_dir(&node);
                if d.exists() {
                    std::fs::remove_dir_all(&d)
                        .map_err(|e| HostError::io(format!("cannot remove {}", d.display()), e))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_env_follows_the_localhost_layout() {
        let rt = ProcessRuntime::new(WeaviateConfig::default());
        let env = rt.node_env(&rt.cfg.node(1));
        assert!(
            env["RAFT_JOIN"]
                .starts_with("weaviate-0:8300,weaviate-1:8302,weaviate-2:8304,weaviate-3:8306"),
            "{}",
            env["RAFT_JOIN"]
        );
        assert_eq!(env["RAFT_JOIN"].split(',').count(), MAX_NODES);
        assert_eq!(env["RAFT_BOOTSTRAP_EXPECT"], "3");
        assert_eq!(env["CLUSTER_JOIN"], "127.0.0.1:7100");
        assert_eq!(env["RAFT_INTERNAL_RPC_PORT"], "8303");
        assert_eq!(env["REPLICA_MOVEMENT_ENABLED"], "true");
        assert_eq!(env["ENABLE_MODULES"], "text2vec-openai");
        assert!(!rt.node_env(&rt.cfg.node(0)).contains_key("CLUSTER_JOIN"));
    }

    #[test]
    fn the_cpu_group_is_found_in_separate_and_joined_hierarchies() {
        assert_eq!(
            group_in("2:cpuacct:/\n1:cpu:/x\n0::/", "cpu").as_deref(),
            Some("/x")
        );
        assert_eq!(
            group_in("4:cpu,cpuacct:/a/b\n", "cpu").as_deref(),
            Some("/a/b")
        );
        assert_eq!(group_in("3:cpuset:/\n0::/user.slice", "cpu"), None);
        assert_eq!(super::super::cfs_quota(50.0), 50_000);
        assert_eq!(super::super::cfs_quota(0.1), 1_000, "the kernel's minimum");
    }

    #[test]
    fn api_key_enables_key_auth_without_anonymous_access() {
        let cfg = WeaviateConfig {
            api_key: crate::base::config::Secret::new("k1"),
            ..Default::default()
        };
        let rt = ProcessRuntime::new(cfg);
        let env = rt.node_env(&rt.cfg.node(0));
        assert_eq!(env["AUTHENTICATION_APIKEY_ENABLED"], "true");
        assert_eq!(env["AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"], "false");
    }
}
