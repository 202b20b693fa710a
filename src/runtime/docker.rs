//! The docker runtime: each node a container of the `FROM scratch` image that
//! `elysiactl install weaviate` builds, on one bridge network per cluster.
//!
//! Layout for `weaviate.cluster_name = C` (OPS-API §11):
//! * network `C` (bridge); every node joins it with its node name as alias,
//!   so peers find each other as `weaviate-0`, `weaviate-1`, … ;
//! * volume `C-weaviate-N-data` mounted at /var/lib/weaviate (kept by `stop`,
//!   removed only by `cleanup(purge_data)`);
//! * container `C-weaviate-N`, hostname `weaviate-N`, publishing REST (8080),
//!   gRPC (50051) and metrics (2112) on the configured host address.
//!
//! Each container has its own IP, so the internal ports are the same on every
//! node and `CLUSTER_IN_LOCALHOST` stays unset. Everything carries the labels
//! `io.elysiactl.owned=true` and `io.elysiactl.cluster=C` (containers also
//! `io.elysiactl.node=N`), which is how `cleanup` finds it again.

use super::{common_node_env, NodeState, WeaviateRuntime};
use crate::base::config::{NodeSpec, RuntimeKind, WeaviateConfig};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::process as proc;
use crate::clients::docker::{
    self as dk, ContainerDetails, ContainerSpec, Docker, PortSpec, CLUSTER_LABEL, CONFIG_LABEL,
    NODE_LABEL, OWNED_LABEL,
};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::Handle;

/// Ports inside every container (the same on each: every node has its own IP).
pub const REST_PORT: u16 = 8080;
pub const GRPC_PORT: u16 = 50051;
pub const METRICS_PORT: u16 = 2112;
pub const GOSSIP_PORT: u16 = 7100;
pub const DATA_PORT: u16 = 7101;
pub const RAFT_PORT: u16 = 8300;
pub const RAFT_RPC_PORT: u16 = 8301;
pub const DATA_PATH: &str = "/var/lib/weaviate";
/// The name a node reaches the host by (services such as the backup store).
pub const HOST_GATEWAY_NAME: &str = "host.docker.internal";

pub struct DockerRuntime {
    cfg: WeaviateConfig,
    rt: Handle,
    /// Connected on first use, so building the runtime never needs the engine.
    docker: Mutex<Option<Docker>>,
    /// Last CPU reading per container: (CPU seconds used, wall-clock seconds),
    /// so repeated `node_state` calls report CPU use since the previous call
    /// without waiting for the engine to sample twice.
    cpu_seen: Mutex<HashMap<String, (f64, f64)>>,
    /// Wall-clock origin of the readings above.
    epoch: std::time::Instant,
    rotation: Option<crate::base::logfile::Rotation>,
}

/// Run a future to completion from synchronous code. From a thread that is
/// itself inside a runtime (where `Handle::block_on` would panic) the future
/// runs on a helper thread instead.
pub(super) fn block_on<F>(rt: &Handle, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| rt.block_on(fut))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        rt.block_on(fut)
    }
}

/// Whether a Docker engine answers and has `image` (false on any error).
pub fn image_available(rt: &Handle, image: &str) -> bool {
    block_on(rt, async {
        match dk::connect().await {
            Ok(d) => dk::image_exists(&d, image).await,
            Err(_) => false,
        }
    })
}

/// /proc facts of a container's server process, when that PID is visible
/// here and really is weaviate-server (not when dockerd runs in another PID
/// namespace, e.g. in a VM).
pub(super) fn server_process(pid: u32) -> Option<proc::ProcStats> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    // comm is cut at 15 characters: "weaviate-server" fits exactly.
    if comm.trim() != "weaviate-server" {
        return None;
    }
    proc::stats(pid)
}

/// Docker object names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl DockerRuntime {
    pub fn new(cfg: WeaviateConfig, rt: Handle) -> HostResult<DockerRuntime> {
        if !valid_name(&cfg.cluster_name) {
            return Err(HostError::validation(format!(
                "weaviate.cluster_name = {:?} cannot name Docker containers, networks and volumes",
                cfg.cluster_name
            ))
            .with_hint("use letters, digits, '-', '_' or '.', starting with a letter or digit"));
        }
        Ok(DockerRuntime {
            cfg,
            rt,
            docker: Mutex::new(None),
            cpu_seen: Mutex::new(HashMap::new()),
            epoch: std::time::Instant::now(),
            rotation: None,
        })
    }

    /// The engine rotates the nodes' logs by these limits (`[logs]`).
    pub fn with_rotation(mut self, rotation: crate::base::logfile::Rotation) -> DockerRuntime {
        self.rotation = Some(rotation);
        self
    }

    pub(super) fn block<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        block_on(&self.rt, fut)
    }

    /// The engine connection, made (ping + version negotiation) on first use.
    pub(super) fn docker(&self) -> HostResult<Docker> {
        let mut guard = self.docker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = guard.as_ref() {
            return Ok(d.clone());
        }
        let d = self.block(dk::connect())?;
        *guard = Some(d.clone());
        Ok(d)
    }

    pub(super) fn node(&self, index: usize) -> HostResult<NodeSpec> {
        if index >= self.cfg.nodes {
            return Err(HostError::validation(format!(
                "there is no node {index}: the cluster has {} nodes (0..{})",
                self.cfg.nodes,
                self.cfg.nodes.saturating_sub(1)
            )));
        }
        Ok(self.cfg.node(index))
    }

    pub fn network_name(&self) -> String {
        self.cfg.cluster_name.clone()
    }

    pub fn container_name(&self, node: &NodeSpec) -> String {
        format!("{}-{}", self.cfg.cluster_name, node.name)
    }

    pub fn volume_name(&self, node: &NodeSpec) -> String {
        format!("{}-{}-data", self.cfg.cluster_name, node.name)
    }

    /// The address ports are published on: `weaviate.host` when it is an IP,
    /// 127.0.0.1 for "localhost", else what the name resolves to.
    pub fn host_ip(&self) -> String {
        use std::net::{IpAddr, ToSocketAddrs};
        let host = self.cfg.host.trim();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return ip.to_string();
        }
        if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
            return "127.0.0.1".into();
        }
        (host, 0u16)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.find(|s| s.is_ipv4()))
            .map(|s| s.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".into())
    }

    pub(super) fn labels(&self, node: Option<&NodeSpec>) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (OWNED_LABEL.to_string(), "true".to_string()),
            (CLUSTER_LABEL.to_string(), self.cfg.cluster_name.clone()),
        ]);
        if let Some(n) = node {
            l.insert(NODE_LABEL.into(), n.index.to_string());
        }
        l
    }

    /// Environment of one node's container (OPS-API §11).
    pub fn node_env(&self, node: &NodeSpec) -> BTreeMap<String, String> {
        let mut env = common_node_env(&self.cfg, node);
        let names: Vec<String> = self.cfg.node_specs().into_iter().map(|n| n.name).collect();
        let mut set = |k: &str, v: String| {
            env.entry(k.to_string()).or_insert(v);
        };
        set("PERSISTENCE_DATA_PATH", DATA_PATH.into());
        set("CLUSTER_GOSSIP_BIND_PORT", GOSSIP_PORT.to_string());
        set("CLUSTER_DATA_BIND_PORT", DATA_PORT.to_string());
        set("RAFT_PORT", RAFT_PORT.to_string());
        set("RAFT_INTERNAL_RPC_PORT", RAFT_RPC_PORT.to_string());
        set("RAFT_JOIN", names.join(","));
        if node.index > 0 {
            set("CLUSTER_JOIN", format!("{}:{GOSSIP_PORT}", names[0]));
        }
        set("GRPC_PORT", GRPC_PORT.to_string());
        set("PROMETHEUS_MONITORING_PORT", METRICS_PORT.to_string());
        env
    }

    /// Refuse a host port another program holds, naming the program.
    pub(super) fn port_free(
        host_ip: &str,
        port: u16,
        what: &str,
        node: &NodeSpec,
    ) -> HostResult<()> {
        if !proc::port_in_use(host_ip, port) {
            return Ok(());
        }
        let owner = proc::port_owner(port)
            .map(|(pid, prog)| format!(" by {prog} (PID {pid})"))
            .unwrap_or_default();
        Err(HostError::validation(format!(
            "port {port} ({what} port of {}) on {host_ip} is already taken{owner}",
            node.name
        ))
        .with_hint(
            "stop whatever holds it, or move the cluster: set weaviate.rest_port / grpc_port / metrics_port in the config",
        ))
    }

    /// Host ports of a node: (what, host port, container port).
    pub(super) fn published(node: &NodeSpec) -> [(&'static str, u16, u16); 3] {
        [
            ("REST", node.rest_port, REST_PORT),
            ("gRPC", node.grpc_port, GRPC_PORT),
            ("metrics", node.metrics_port, METRICS_PORT),
        ]
    }

    /// Everything the node's container is created with.
    pub fn container_spec(&self, node: &NodeSpec) -> ContainerSpec {
        let host_ip = self.host_ip();
        ContainerSpec {
            name: self.container_name(node),
            image: self.cfg.image_name(),
            hostname: node.name.clone(),
            env: self.node_env(node),
            labels: self.labels(Some(node)),
            cmd: Vec::new(),
            network: Some(self.network_name()),
            aliases: vec![node.name.clone()],
            ports: Self::published(node)
                .into_iter()
                .map(|(_, host_port, container_port)| PortSpec {
                    host_ip: host_ip.clone(),
                    host_port,
                    container_port,
                })
                .collect(),
            volumes: vec![(self.volume_name(node), DATA_PATH.into())],
            stop_timeout: Some(self.cfg.stop_timeout as i64),
            log_rotation: self.rotation,
            // Only a node that talks to a host service needs the host's name.
            extra_hosts: if self.cfg.env.contains_key("BACKUP_S3_ENDPOINT") {
                vec![format!("{HOST_GATEWAY_NAME}:host-gateway")]
            } else {
                Vec::new()
            },
        }
    }

    /// Refuse a container of our name that elysiactl (this cluster) did not create.
    fn check_ours(&self, c: &ContainerDetails) -> HostResult<()> {
        let cluster = c.labels.get(CLUSTER_LABEL).map(String::as_str);
        if !c.owned || cluster != Some(self.cfg.cluster_name.as_str()) {
            return Err(HostError::validation(format!(
                "a container named {} exists that this cluster did not create (labels: {})",
                c.name,
                if c.labels.is_empty() {
                    "none".to_string()
                } else {
                    c.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
            .with_hint(format!(
                "remove or rename it (`docker rm -f {}`), or choose another weaviate.cluster_name",
                c.name
            )));
        }
        Ok(())
    }

    /// What differs between a container and what it should be, if anything.
    fn drift(&self, c: &ContainerDetails, spec: &ContainerSpec, image_id: &str) -> Option<String> {
        if c.labels.get(CONFIG_LABEL).map(String::as_str) != Some(spec.fingerprint().as_str()) {
            return Some("its settings changed".into());
        }
        if !image_id.is_empty() && c.image_id != image_id {
            return Some(format!("image {} was rebuilt", spec.image));
        }
        None
    }

    pub(super) async fn require_image(&self, docker: &Docker) -> HostResult<String> {
        let image = self.cfg.image_name();
        dk::image_id(docker, &image).await?.ok_or_else(|| {
            HostError::validation(format!("the Docker image {image} does not exist"))
                .with_hint("build it with `elysiactl install weaviate`, or set weaviate.image to an existing image")
        })
    }

    async fn preflight_async(&self, docker: &Docker, nodes: &[NodeSpec]) -> HostResult<()> {
        self.require_image(docker).await?;
        let running = dk::list_containers(docker, false, &[]).await?;
        let host_ip = self.host_ip();
        for node in nodes {
            let name = self.container_name(node);
            if let Some(c) = dk::find_container(docker, &name).await? {
                self.check_ours(&c)?;
            }
            for (what, port, _) in Self::published(node) {
                if let Some(holder) = running.iter().find(|c| c.host_ports.contains(&port)) {
                    if holder.name == name {
                        continue; // our own node, already up
                    }
                    return Err(HostError::validation(format!(
                        "port {port} ({what} port of {}) is already published by Docker container {} ({})",
                        node.name, holder.name, holder.image
                    ))
                    .with_hint(
                        "stop that container, or move the cluster: set weaviate.rest_port / grpc_port / metrics_port in the config",
                    ));
                }
                Self::port_free(&host_ip, port, what, node)?;
            }
        }
        Ok(())
    }

    async fn start_async(&self, docker: &Docker, node: &NodeSpec) -> HostResult<()> {
        let image_id = self.require_image(docker).await?;
        dk::ensure_network(docker, &self.network_name(), &self.labels(None)).await?;
        dk::ensure_volume(docker, &self.volume_name(node), &self.labels(Some(node))).await?;
        let spec = self.container_spec(node);
        if let Some(c) = dk::find_container(docker, &spec.name).await? {
            self.check_ours(&c)?;
            match self.drift(&c, &spec, &image_id) {
                None if c.paused => return dk::unpause_container(docker, &spec.name).await,
                None if c.running => return Ok(()),
                None => return dk::start_container(docker, &spec.name).await,
                Some(why) => {
                    tracing::info!("{}: recreating container {} ({why})", node.name, spec.name);
                    dk::stop_container(
                        docker,
                        &spec.name,
                        Duration::from_secs(self.cfg.stop_timeout),
                    )
                    .await?;
                    dk::remove_container(docker, &spec.name, true, false).await?;
                }
            }
        }
        dk::create_container(docker, &spec).await?;
        dk::start_container(docker, &spec.name).await
    }

    /// The node's address on the cluster's network, which node-to-node
    /// traffic uses (and a partition's iptables rules match).
    pub fn node_ip(&self, index: usize) -> HostResult<String> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(async {
            let name = self.running_container(&docker, &node).await?;
            let c = dk::inspect(&docker, &name).await?;
            c.networks
                .get(&self.network_name())
                .map(|n| n.ip_address.clone())
                .filter(|ip| !ip.is_empty())
                .ok_or_else(|| {
                    HostError::validation(format!(
                        "container {name} has no address on the network {}",
                        self.network_name()
                    ))
                    .with_hint("restart the node: `elysiactl weaviate restart`")
                })
        })
    }

    /// The node's container, ours and running; a fault on one that is not is refused.
    async fn running_container(&self, docker: &Docker, node: &NodeSpec) -> HostResult<String> {
        let name = self.container_name(node);
        match dk::find_container(docker, &name).await? {
            Some(c) if c.running => {
                self.check_ours(&c)?;
                Ok(name)
            }
            _ => Err(HostError::validation(format!(
                "{} is not running (no running container {name})",
                node.name
            ))
            .with_hint(
                "`elysiactl status` shows the nodes; `elysiactl weaviate start` starts them",
            )),
        }
    }

    async fn stop_async(
        &self,
        docker: &Docker,
        node: &NodeSpec,
        timeout: Duration,
    ) -> HostResult<String> {
        let name = self.container_name(node);
        let Some(c) = dk::find_container(docker, &name).await? else {
            return Ok("not running".into());
        };
        self.check_ours(&c)?;
        let outcome = dk::stop_container(docker, &name, timeout).await?;
        dk::remove_container(docker, &name, true, false).await?;
        Ok(outcome)
    }

    async fn state_async(&self, docker: &Docker, node: &NodeSpec) -> HostResult<NodeState> {
        let mut st = NodeState {
            node: node.name.clone(),
            index: node.index,
            runtime: "docker".into(),
            rest_port: node.rest_port,
            grpc_port: node.grpc_port,
            ..Default::default()
        };
        let name = self.container_name(node);
        let Some(c) = dk::find_container(docker, &name).await? else {
            st.detail = "not started (no container)".into();
            return Ok(st);
        };
        st.container = Some(c.short_id.clone());
        st.pid = c.pid;
        st.restarts = Some(c.restart_count.max(0) as u64);
        st.running = c.running;
        let mut detail = Vec::new();
        if c.running {
            st.uptime_seconds = c.uptime_seconds;
            if let Err(e) = self.read_usage(docker, &c, &mut st).await {
                detail.push(format!("no stats: {}", e.message));
            }
            if c.paused {
                detail.insert(0, "paused".to_string());
            }
        } else {
            detail.extend(Self::ended(&c));
        }
        if !c.owned {
            detail.push("not created by elysiactl".into());
        } else if let Ok(Some(image_id)) = dk::image_id(docker, &self.cfg.image_name()).await {
            if let Some(why) = self.drift(&c, &self.container_spec(node), &image_id) {
                detail.push(format!("{why}: the next start recreates it"));
            }
        }
        st.detail = detail.join("; ");
        Ok(st)
    }

    /// CPU and memory use of a running container's server into `st`.
    pub(super) async fn read_usage(
        &self,
        docker: &Docker,
        c: &ContainerDetails,
        st: &mut NodeState,
    ) -> HostResult<()> {
        // The server is the container's only process. When its PID is
        // visible here (dockerd on this machine), /proc answers at once;
        // the engine's stats take up to a second per container.
        match c.pid.and_then(server_process) {
            Some(p) => {
                let now = self.epoch.elapsed().as_secs_f64();
                st.cpu_percent = self
                    .cpu_since_last(&format!("proc:{}", c.id), p.cpu_seconds, now)
                    .or(Some(p.cpu_percent));
                st.cpu_seconds = Some(p.cpu_seconds);
                st.memory_bytes = Some(p.rss_bytes);
            }
            None => {
                let s = dk::stats_now(docker, &c.name).await?;
                let cpu = s.cpu_total_ns as f64 / 1e9;
                let wall = s.system_cpu_ns as f64 / 1e9 / s.online_cpus.max(1) as f64;
                st.cpu_percent = self
                    .cpu_since_last(&format!("engine:{}", c.id), cpu, wall)
                    .or_else(|| {
                        // First reading: the average since the container started.
                        let up = c.uptime_seconds.filter(|u| *u > 0.0)?;
                        Some((cpu / up * 100.0 * 10.0).round() / 10.0)
                    });
                st.cpu_seconds = Some(cpu);
                st.memory_bytes = Some(s.memory_bytes);
            }
        }
        Ok(())
    }

    /// How a container that is not running ended, for a node's detail.
    pub(super) fn ended(c: &ContainerDetails) -> Vec<String> {
        let mut detail = Vec::new();
        match c.state.as_str() {
            "created" => detail.push("created, not started".to_string()),
            "exited" | "dead" => {
                let code = c.exit_code.unwrap_or(0);
                let mut d = format!("{} with {code}", c.state);
                if c.oom_killed {
                    d.push_str(" (out of memory)");
                } else if code == 137 {
                    d.push_str(" (killed)");
                }
                detail.push(d);
            }
            other => detail.push(other.to_string()),
        }
        if !c.error.is_empty() {
            detail.push(c.error.clone());
        }
        detail
    }

    /// CPU use in percent of one core since this runtime's previous reading
    /// under `key`; None on the first reading. Remembers this one.
    pub(super) fn cpu_since_last(
        &self,
        key: &str,
        cpu_seconds: f64,
        wall_seconds: f64,
    ) -> Option<f64> {
        let previous = self
            .cpu_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), (cpu_seconds, wall_seconds));
        let (cpu0, wall0) = previous?;
        if wall_seconds <= wall0 || cpu_seconds < cpu0 {
            return None;
        }
        Some(((cpu_seconds - cpu0) / (wall_seconds - wall0) * 100.0 * 10.0).round() / 10.0)
    }

    async fn cleanup_async(&self, docker: &Docker, purge_data: bool) -> HostResult<()> {
        let ours = [
            (OWNED_LABEL, "true"),
            (CLUSTER_LABEL, self.cfg.cluster_name.as_str()),
        ];
        let timeout = Duration::from_secs(self.cfg.stop_timeout);
        for c in dk::list_containers(docker, true, &ours).await? {
            if c.state == "running" || c.state == "paused" {
                dk::stop_container(docker, &c.name, timeout).await?;
            }
            dk::remove_container(docker, &c.name, true, false).await?;
        }
        for n in dk::list_networks(docker, &ours).await? {
            dk::remove_network(docker, &n.name).await?;
        }
        if purge_data {
            for v in dk::list_volumes(docker, &ours).await? {
                dk::remove_volume(docker, &v.name).await?;
            }
        }
        Ok(())
    }
}

impl WeaviateRuntime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn data_path(&self, index: usize) -> HostResult<Option<std::path::PathBuf>> {
        let name = self.volume_name(&self.node(index)?);
        let docker = self.docker()?;
        let volumes = self.block(dk::list_volumes(&docker, &[]))?;
        Ok(volumes
            .into_iter()
            .find(|v| v.name == name && !v.mountpoint.is_empty())
            .map(|v| std::path::PathBuf::from(v.mountpoint)))
    }

    fn preflight(&self, nodes: &[usize]) -> HostResult<()> {
        let specs = nodes
            .iter()
            .map(|&i| self.node(i))
            .collect::<HostResult<Vec<_>>>()?;
        let docker = self.docker()?;
        self.block(self.preflight_async(&docker, &specs))
    }

    fn start_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(self.start_async(&docker, &node))
    }

    fn stop_node(&self, index: usize, timeout: Duration) -> HostResult<String> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(self.stop_async(&docker, &node, timeout))
    }

    fn node_state(&self, index: usize) -> HostResult<NodeState> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(self.state_async(&docker, &node))
    }

    fn log_location(&self, index: usize) -> HostResult<super::LogLocation> {
        Ok(super::LogLocation::Container(
            self.container_name(&self.node(index)?),
        ))
    }

    fn fault_target(&self, index: usize) -> HostResult<String> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        let name = self.container_name(&node);
        self.block(self.running_container(&docker, &node))?;
        Ok(format!("container {name}"))
    }

    fn kill_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(async {
            let name = self.running_container(&docker, &node).await?;
            dk::kill_container(&docker, &name).await
        })
    }

    fn pause_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(async {
            let name = self.running_container(&docker, &node).await?;
            dk::pause_container(&docker, &name).await
        })
    }

    fn resume_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        let name = self.container_name(&node);
        self.block(async {
            match dk::find_container(&docker, &name).await? {
                Some(c) if c.paused => dk::unpause_container(&docker, &name).await,
                _ => Ok(()),
            }
        })
    }

    fn limit_cpu(&self, index: usize, percent: f64) -> HostResult<String> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(async {
            let name = self.running_container(&docker, &node).await?;
            let previous = dk::cpu_quota(&docker, &name).await?;
            dk::set_cpu_quota(&docker, &name, super::cfs_quota(percent)).await?;
            Ok(previous.to_string())
        })
    }

    fn restore_cpu(&self, index: usize, previous: Option<&str>) -> HostResult<()> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        let name = self.container_name(&node);
        let quota = previous
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|q| *q > 0)
            .unwrap_or(-1);
        self.block(async {
            match dk::find_container(&docker, &name).await? {
                Some(_) => dk::set_cpu_quota(&docker, &name, quota).await,
                None => Ok(()),
            }
        })
    }

    /// The containers are created without a CPU quota, so any is a fault's.
    fn cpu_limited(&self, index: usize) -> HostResult<bool> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        let name = self.container_name(&node);
        self.block(async {
            match dk::find_container(&docker, &name).await? {
                Some(_) => Ok(dk::cpu_quota(&docker, &name).await? > 0),
                None => Ok(false),
            }
        })
    }

    fn log_tail(&self, index: usize, lines: usize) -> Vec<String> {
        let Ok(node) = self.node(index) else {
            return Vec::new();
        };
        let Ok(docker) = self.docker() else {
            return Vec::new();
        };
        let name = self.container_name(&node);
        self.block(dk::logs_tail(&docker, &name, lines))
            .unwrap_or_default()
    }

    /// Through the node's address on the cluster's bridge network, which
    /// the host reaches.
    fn remove_from_raft(&self, ctx: &Context, via: usize, node: &str) -> HostResult<()> {
        let address = format!("{}:{DATA_PORT}", self.node_ip(via)?);
        super::remove_through_cluster_api(ctx, &address, node)
    }

    fn forget_node(&self, index: usize) -> HostResult<()> {
        let node = self.node(index)?;
        let docker = self.docker()?;
        self.block(async {
            let name = self.container_name(&node);
            if let Some(c) = dk::find_container(&docker, &name).await? {
                self.check_ours(&c)?;
                if c.running {
                    return Err(HostError::validation(format!(
                        "{} still runs (container {name}); only a stopped node is removed",
                        node.name
                    ))
                    .with_hint("stop it first: `elysiactl weaviate stop --nodes N`"));
                }
                dk::remove_container(&docker, &name, true, false).await?;
            }
            dk::remove_volume(&docker, &self.volume_name(&node)).await?;
            Ok(())
        })
    }

    fn cleanup(&self, purge_data: bool) -> HostResult<()> {
        let docker = self.docker()?;
        self.block(self.cleanup_async(&docker, purge_data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(cfg: WeaviateConfig) -> DockerRuntime {
        // Building the runtime never touches the engine.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        DockerRuntime::new(cfg, rt.handle().clone()).unwrap()
    }

    #[test]
    fn node_env_follows_the_compose_layout() {
        let r = runtime(WeaviateConfig::default());
        let n1 = r.cfg.node(1);
        let env = r.node_env(&n1);
        assert_eq!(env["RAFT_JOIN"], "weaviate-0,weaviate-1,weaviate-2");
        assert_eq!(env["CLUSTER_JOIN"], "weaviate-0:7100");
        assert_eq!(env["CLUSTER_HOSTNAME"], "weaviate-1");
        assert_eq!(env["PERSISTENCE_DATA_PATH"], "/var/lib/weaviate");
        assert_eq!(env["RAFT_PORT"], "8300");
        assert_eq!(env["RAFT_INTERNAL_RPC_PORT"], "8301");
        assert_eq!(env["GRPC_PORT"], "50051");
        assert_eq!(env["PROMETHEUS_MONITORING_PORT"], "2112");
        assert!(!env.contains_key("CLUSTER_IN_LOCALHOST"));
        assert!(!r.node_env(&r.cfg.node(0)).contains_key("CLUSTER_JOIN"));
    }

    #[test]
    fn names_ports_and_labels_follow_cluster_name() {
        let cfg = WeaviateConfig {
            cluster_name: "demo".into(),
            rest_port: 18080,
            grpc_port: 18051,
            metrics_port: 18112,
            ..Default::default()
        };
        let r = runtime(cfg);
        let n2 = r.cfg.node(2);
        let spec = r.container_spec(&n2);
        assert_eq!(spec.name, "demo-weaviate-2");
        assert_eq!(spec.hostname, "weaviate-2");
        assert_eq!(spec.network.as_deref(), Some("demo"));
        assert_eq!(spec.aliases, vec!["weaviate-2".to_string()]);
        assert_eq!(
            spec.volumes,
            vec![(
                "demo-weaviate-2-data".to_string(),
                "/var/lib/weaviate".to_string()
            )]
        );
        let ports: Vec<(u16, u16)> = spec
            .ports
            .iter()
            .map(|p| (p.host_port, p.container_port))
            .collect();
        assert_eq!(ports, vec![(18082, 8080), (18053, 50051), (18114, 2112)]);
        assert!(spec.ports.iter().all(|p| p.host_ip == "127.0.0.1"));
        assert_eq!(spec.labels[OWNED_LABEL], "true");
        assert_eq!(spec.labels[CLUSTER_LABEL], "demo");
        assert_eq!(spec.labels[NODE_LABEL], "2");
    }

    #[test]
    fn cpu_use_is_measured_between_readings() {
        let r = runtime(WeaviateConfig::default());
        assert_eq!(r.cpu_since_last("c", 1.0, 10.0), None);
        // 0.5 s of CPU in 2 s of wall-clock time: 25 %.
        assert_eq!(r.cpu_since_last("c", 1.5, 12.0), Some(25.0));
        // A restarted container (counter went back): no figure, then a fresh start.
        assert_eq!(r.cpu_since_last("c", 0.1, 13.0), None);
        assert_eq!(r.cpu_since_last("c", 2.1, 14.0), Some(200.0));
    }

    #[test]
    fn bad_cluster_names_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for bad in ["", "-x", "a b", "a/b"] {
            let cfg = WeaviateConfig {
                cluster_name: bad.into(),
                ..Default::default()
            };
            let err = DockerRuntime::new(cfg, rt.handle().clone())
                .err()
                .expect("refused");
            assert!(!err.hint.is_empty());
        }
    }
}
