//! The swarm runtime: each node a Swarm service of one replica, so the
//! nodes of one cluster can live on several hosts of a Docker swarm.
//!
//! Layout for `weaviate.cluster_name = C`, the docker runtime's names:
//! * overlay network `C` (attachable), every task on it with its node name
//!   as alias; endpoint mode DNS round robin, so `weaviate-1` resolves to
//!   the task's own address as memberlist and RAFT need;
//! * service `C-weaviate-N`, hostname `weaviate-N`, placed by a
//!   `node.hostname==H` constraint on `weaviate.swarm_hosts[N % len]` (the
//!   engine's own host when that is empty), publishing REST, gRPC and
//!   metrics in host mode on that host (Swarm binds them on every address);
//! * volume `C-weaviate-N-data` on that host, made by Swarm with the labels;
//! * the image the docker runtime uses: on a one-host swarm the local one;
//!   on several hosts every host needs it (docs/environments.md).
//!
//! The environment is the docker runtime's (`DockerRuntime::node_env`):
//! inside a task the ports are the same as in a container. A stopped or
//! killed task is not restarted by Swarm (restart condition none): as in the
//! docker runtime, elysiactl decides when a node comes back.
//!
//! bollard 0.18 has no tasks API: a task is seen through its container on
//! this machine. For a node on another host, `status` has what the service
//! says (running or not, where), and chaos faults are refused.

use super::docker::DockerRuntime;
use super::{LogLocation, NodeState, WeaviateRuntime};
use crate::base::config::{NodeSpec, RuntimeKind, WeaviateConfig};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::docker::{
    self as dk, ContainerDetails, Docker, ServiceDefinition, ServiceInfo, ServicePort,
    CLUSTER_LABEL, OWNED_LABEL, SERVICE_NAME_LABEL,
};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How long a new task may take to be running (placed, container started);
/// Weaviate's readiness is waited for above this layer.
const TASK_START_TIMEOUT: Duration = Duration::from_secs(90);

pub struct SwarmRuntime {
    /// Names, environment, engine connection and CPU readings are the
    /// docker runtime's: a task is a container of the same image.
    docker: DockerRuntime,
    cfg: WeaviateConfig,
    rotation: Option<crate::base::logfile::Rotation>,
}

impl SwarmRuntime {
    pub fn new(cfg: WeaviateConfig, rt: Handle) -> HostResult<SwarmRuntime> {
        Ok(SwarmRuntime {
            docker: DockerRuntime::new(cfg.clone(), rt)?,
            cfg,
            rotation: None,
        })
    }

    /// Swarm's json-file driver rotates the tasks' logs by these limits (`[logs]`).
    pub fn with_rotation(mut self, rotation: crate::base::logfile::Rotation) -> SwarmRuntime {
        self.rotation = Some(rotation);
        self
    }

    pub fn service_name(&self, node: &NodeSpec) -> String {
        self.docker.container_name(node)
    }

    pub fn network_name(&self) -> String {
        self.docker.network_name()
    }

    pub fn node_env(&self, node: &NodeSpec) -> std::collections::BTreeMap<String, String> {
        self.docker.node_env(node)
    }

    /// The swarm host a node is placed on: configured, else this engine's.
    fn placement_host(&self, node: &NodeSpec, local_host: &str) -> String {
        let hosts = &self.cfg.swarm_hosts;
        if hosts.is_empty() {
            local_host.to_string()
        } else {
            hosts[node.index % hosts.len()].clone()
        }
    }

    /// The image the tasks run: the Weaviate image with the helper that
    /// advertises the task's overlay address (swarm_image.rs), named after
    /// the Weaviate image's ID and the helper's version, so a rebuilt
    /// image or a changed helper gets a new swarm image.
    pub fn swarm_image(base_image_id: &str) -> String {
        let id = base_image_id
            .strip_prefix("sha256:")
            .unwrap_or(base_image_id);
        format!(
            "elysiactl/weaviate-swarm:{}-{}",
            &id[..id.len().min(12)],
            super::swarm_image::swarm_helper_digest()
        )
    }

    /// The swarm image for the current Weaviate image, built when missing.
    async fn ensure_image(&self, docker: &Docker) -> HostResult<(String, String)> {
        let base_id = self.docker.require_image(docker).await?;
        let image = Self::swarm_image(&base_id);
        let id = match dk::image_id(docker, &image).await? {
            Some(id) => id,
            None => {
                tracing::info!("building {image} from {}", self.cfg.image_name());
                super::swarm_image::build_swarm_image(docker, &self.cfg.image_name(), &image)
                    .await?;
                dk::image_id(docker, &image).await?.unwrap_or_default()
            }
        };
        Ok((image, id))
    }

    /// The overlay network's subnet, which the helper finds the task's address in.
    async fn overlay_subnet(&self, docker: &Docker) -> HostResult<Option<String>> {
        let name = self.network_name();
        Ok(dk::list_networks(docker, &[])
            .await?
            .into_iter()
            .find(|n| n.name == name)
            .and_then(|n| n.subnets.into_iter().next()))
    }

    /// Everything the node's service is created with.
    pub fn definition(
        &self,
        node: &NodeSpec,
        (image, image_id): (&str, &str),
        subnet: &str,
        host: &str,
    ) -> ServiceDefinition {
        let mut env = self.node_env(node);
        env.insert("ELYSIACTL_OVERLAY_SUBNET".into(), subnet.to_string());
        ServiceDefinition {
            name: self.service_name(node),
            image: image.to_string(),
            image_id: image_id.to_string(),
            hostname: node.name.clone(),
            env,
            labels: self.docker.labels(Some(node)),
            network: self.network_name(),
            aliases: vec![node.name.clone()],
            ports: DockerRuntime::published(node)
                .into_iter()
                .map(|(_, published, target)| ServicePort { published, target })
                .collect(),
            volumes: vec![(
                self.docker.volume_name(node),
                super::docker::DATA_PATH.into(),
            )],
            constraints: vec![format!("node.hostname=={host}")],
            stop_grace_seconds: self.cfg.stop_timeout,
            log_rotation: self.rotation,
        }
    }

    fn check_ours(&self, s: &ServiceInfo) -> HostResult<()> {
        if !s.owned || s.labels.get(CLUSTER_LABEL) != Some(&self.cfg.cluster_name) {
            return Err(HostError::validation(format!(
                "a Swarm service named {} exists that this cluster did not create",
                s.name
            ))
            .with_hint(format!(
                "remove it (`docker service rm {}`), or choose another weaviate.cluster_name",
                s.name
            )));
        }
        Ok(())
    }

    /// The host a service's constraint places it on.
    fn host_of(s: &ServiceInfo) -> Option<String> {
        s.constraints.iter().find_map(|c| {
            let (key, value) = c.split_once("==")?;
            (key.trim() == "node.hostname").then(|| value.trim().to_string())
        })
    }

    /// The container of the service's newest task on this machine, if any.
    async fn task_container(
        &self,
        docker: &Docker,
        service: &str,
    ) -> HostResult<Option<ContainerDetails>> {
        let Some(newest) = dk::list_containers(docker, true, &[(SERVICE_NAME_LABEL, service)])
            .await?
            .into_iter()
            .max_by_key(|c| c.created)
        else {
            return Ok(None);
        };
        dk::find_container(docker, &newest.name).await
    }

    /// The running task container of a node, for a fault; refused when the
    /// node does not run, or runs on another host (its container is that
    /// host's engine's).
    async fn running_task(&self, docker: &Docker, node: &NodeSpec) -> HostResult<String> {
        let name = self.service_name(node);
        let service = dk::find_service(docker, &name).await?;
        if let Some(s) = &service {
            self.check_ours(s)?;
        }
        match self.task_container(docker, &name).await? {
            Some(c) if c.running => Ok(c.name),
            _ => {
                let elsewhere = service
                    .as_ref()
                    .filter(|s| s.running_tasks.unwrap_or(0) > 0)
                    .and_then(Self::host_of);
                Err(match elsewhere {
                    Some(host) => HostError::validation(format!(
                        "{} runs on swarm host {host}, not on this machine: a fault acts on the task's container through the engine of its host",
                        node.name
                    ))
                    .with_hint(format!(
                        "run the chaos command with elysiactl on {host} (DOCKER_HOST pointing at its engine)"
                    )),
                    None => HostError::validation(format!(
                        "{} is not running (no running task of service {name})",
                        node.name
                    ))
                    .with_hint(
                        "`elysiactl status` shows the nodes; `elysiactl weaviate start` starts them",
                    ),
                })
            }
        }
    }

    /// Wait until the service has a running task.
    async fn wait_running(&self, docker: &Docker, name: &str) -> HostResult<()> {
        let started = Instant::now();
        loop {
            crate::base::cancel::check_interrupt()?;
            if let Some(s) = dk::find_service(docker, name).await? {
                if s.running_tasks.unwrap_or(0) > 0 {
                    return Ok(());
                }
            }
            if started.elapsed() > TASK_START_TIMEOUT {
                return Err(HostError::timeout(format!(
                    "Swarm service {name} has no running task after {} s",
                    TASK_START_TIMEOUT.as_secs()
                ))
                .with_hint(format!(
                    "`docker service ps {name} --no-trunc` says why (an image missing on the host, a constraint no host meets, a port taken)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Wait (a while, not failing) until no container of the service is
    /// left on this machine: Swarm removes them after the service, and an
    /// overlay network cannot go while a container is attached.
    async fn wait_containers_gone(&self, docker: &Docker, labels: &[(&str, &str)]) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            match dk::list_containers(docker, true, labels).await {
                Ok(left) if left.is_empty() => return,
                Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    async fn preflight_async(&self, docker: &Docker, nodes: &[NodeSpec]) -> HostResult<()> {
        let swarm = dk::require_manager(docker).await?;
        self.docker.require_image(docker).await?;
        let services = dk::list_services(docker, &[]).await?;
        let host_ip = self.docker.host_ip();
        for node in nodes {
            let name = self.service_name(node);
            if let Some(s) = services.iter().find(|s| s.name == name) {
                self.check_ours(s)?;
                if s.running_tasks.unwrap_or(0) > 0 {
                    continue; // our own node, already up
                }
            }
            // Ports are checked here only for nodes placed on this host.
            if self.placement_host(node, &swarm.hostname) != swarm.hostname {
                continue;
            }
            for (what, port, _) in DockerRuntime::published(node) {
                if let Some(holder) = services
                    .iter()
                    .find(|s| s.name != name && s.published_ports.contains(&port))
                {
                    return Err(HostError::validation(format!(
                        "port {port} ({what} port of {}) is already published by Swarm service {}",
                        node.name, holder.name
                    ))
                    .with_hint(
                        "remove that service, or move the cluster: set weaviate.rest_port / grpc_port / metrics_port in the config",
                    ));
                }
                DockerRuntime::port_free(&host_ip, port, what, node)?;
            }
        }
        Ok(())
    }

    async fn start_async(&self, docker: &Docker, node: &NodeSpec) -> HostResult<()> {
        let swarm = dk::require_manager(docker).await?;
        let (image, image_id) = self.ensure_image(docker).await?;
        dk::ensure_overlay_network(docker, &self.network_name(), &self.docker.labels(None)).await?;
        // Swarm's allocator gives a new overlay network its subnet a moment
        // after the network is created.
        let asked = Instant::now();
        let subnet = loop {
            if let Some(subnet) = self.overlay_subnet(docker).await? {
                break subnet;
            }
            if asked.elapsed() > Duration::from_secs(20) {
                return Err(HostError::unknown(format!(
                    "the overlay network {} has no subnet after 20 s",
                    self.network_name()
                ))
                .with_hint(
                    "`docker network inspect` it; `elysiactl stop` removes it for a fresh start",
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let host = self.placement_host(node, &swarm.hostname);
        let def = self.definition(node, (&image, &image_id), &subnet, &host);
        let Some(s) = dk::find_service(docker, &def.name).await? else {
            dk::create_service(docker, &def).await?;
            return self.wait_running(docker, &def.name).await;
        };
        self.check_ours(&s)?;
        let changed = s.labels.get(dk::CONFIG_LABEL) != Some(&def.fingerprint());
        if changed {
            tracing::info!(
                "{}: updating service {} (its settings changed)",
                node.name,
                def.name
            );
            dk::update_service(docker, &def).await?;
        } else if s.running_tasks.unwrap_or(0) > 0 {
            if let Some(c) = self.task_container(docker, &def.name).await? {
                if c.paused {
                    dk::unpause_container(docker, &c.name).await?;
                }
            }
            return Ok(());
        } else {
            // A task that exited (stopped, killed) is not restarted by
            // Swarm's restart policy: a new one is asked for.
            dk::force_new_task(docker, &def.name).await?;
        }
        dk::wait_update_done(docker, &def.name, &s.update_started, TASK_START_TIMEOUT).await?;
        self.wait_running(docker, &def.name).await
    }

    async fn stop_async(
        &self,
        docker: &Docker,
        node: &NodeSpec,
        timeout: Duration,
    ) -> HostResult<String> {
        let name = self.service_name(node);
        let Some(s) = dk::find_service(docker, &name).await? else {
            return Ok("not running".into());
        };
        self.check_ours(&s)?;
        // Stopped through its container where it is here, to give the
        // caller's timeout and learn whether it ended by SIGTERM; elsewhere
        // removing the service stops it within the service's grace period.
        let outcome = match self.task_container(docker, &name).await? {
            Some(c) if c.running => dk::stop_container(docker, &c.name, timeout).await?,
            _ if s.running_tasks.unwrap_or(0) > 0 => "removed".to_string(),
            _ => "not running".to_string(),
        };
        dk::remove_service(docker, &name).await?;
        self.wait_containers_gone(docker, &[(SERVICE_NAME_LABEL, name.as_str())])
            .await;
        Ok(outcome)
    }

    async fn restart_async(
        &self,
        docker: &Docker,
        node: &NodeSpec,
        stop_timeout: Duration,
    ) -> HostResult<String> {
        let name = self.service_name(node);
        let service = dk::find_service(docker, &name).await?;
        match service {
            Some(s) if s.running_tasks.unwrap_or(0) > 0 => {
                self.check_ours(&s)?;
                dk::force_new_task(docker, &name).await?;
                dk::wait_update_done(
                    docker,
                    &name,
                    &s.update_started,
                    stop_timeout + TASK_START_TIMEOUT,
                )
                .await?;
                self.wait_running(docker, &name).await?;
                Ok("task replaced by a service update".into())
            }
            // Nothing running to update: start it as `start` would.
            _ => {
                self.start_async(docker, node).await?;
                Ok("not running".into())
            }
        }
    }

    async fn state_async(&self, docker: &Docker, node: &NodeSpec) -> HostResult<NodeState> {
        let mut st = NodeState {
            node: node.name.clone(),
            index: node.index,
            runtime: "swarm".into(),
            rest_port: node.rest_port,
            grpc_port: node.grpc_port,
            ..Default::default()
        };
        let name = self.service_name(node);
        let Some(s) = dk::find_service(docker, &name).await? else {
            st.detail = "not started (no service)".into();
            return Ok(st);
        };
        st.host = Self::host_of(&s);
        st.running = s.running_tasks.unwrap_or(0) > 0;
        let mut detail = Vec::new();
        match self.task_container(docker, &name).await? {
            Some(c) => {
                st.container = Some(c.short_id.clone());
                st.pid = c.pid;
                if c.running {
                    st.uptime_seconds = c.uptime_seconds;
                    if let Err(e) = self.docker.read_usage(docker, &c, &mut st).await {
                        detail.push(format!("no stats: {}", e.message));
                    }
                    if c.paused {
                        detail.insert(0, "paused".to_string());
                    }
                } else if !st.running {
                    detail.extend(DockerRuntime::ended(&c));
                }
            }
            // Its task runs on another host, or has no container yet.
            None if !st.running && s.update_state == "paused" => {
                detail.push(format!("update paused: {}", s.update_message));
            }
            None => {}
        }
        if !s.owned {
            detail.push("not created by elysiactl".into());
        } else if let (Ok(Some(base_id)), Ok(Some(subnet))) = (
            dk::image_id(docker, &self.cfg.image_name()).await,
            self.overlay_subnet(docker).await,
        ) {
            let image = Self::swarm_image(&base_id);
            let image_id = dk::image_id(docker, &image).await.ok().flatten();
            let host = st.host.clone().unwrap_or_default();
            let want = image_id.map(|id| {
                self.definition(node, (&image, &id), &subnet, &host)
                    .fingerprint()
            });
            if want.is_none() || s.labels.get(dk::CONFIG_LABEL) != want.as_ref() {
                detail.push("its settings changed: the next start updates the service".into());
            }
        }
        st.detail = detail.join("; ");
        Ok(st)
    }

    async fn cleanup_async(&self, docker: &Docker, purge_data: bool) -> HostResult<()> {
        let ours = [
            (OWNED_LABEL, "true"),
            (CLUSTER_LABEL, self.cfg.cluster_name.as_str()),
        ];
        let timeout = Duration::from_secs(self.cfg.stop_timeout);
        // Not a manager (swarm left, a worker): there are no services to
        // remove through this engine; the containers and volumes still are.
        if dk::require_manager(docker).await.is_ok() {
            for s in dk::list_services(docker, &ours).await? {
                if let Some(c) = self.task_container(docker, &s.name).await? {
                    if c.running {
                        dk::stop_container(docker, &c.name, timeout).await?;
                    }
                }
                dk::remove_service(docker, &s.name).await?;
            }
        }
        self.wait_containers_gone(docker, &ours).await;
        // An overlay network goes once the endpoints of its removed tasks
        // are released, which lags the containers by a moment.
        let started = Instant::now();
        for n in dk::list_networks(docker, &ours).await? {
            loop {
                match dk::remove_network(docker, &n.name).await {
                    Ok(_) => break,
                    Err(e) if started.elapsed() < Duration::from_secs(30) => {
                        tracing::debug!("network {} not removed yet: {}", n.name, e.message);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if purge_data {
            for v in dk::list_volumes(docker, &ours).await? {
                dk::remove_volume(docker, &v.name).await?;
            }
        }
        Ok(())
    }
}

impl WeaviateRuntime for SwarmRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Swarm
    }

    fn preflight(&self, nodes: &[usize]) -> HostResult<()> {
        let specs = nodes
            .iter()
            .map(|&i| self.docker.node(i))
            .collect::<HostResult<Vec<_>>>()?;
        let docker = self.docker.docker()?;
        self.docker.block(self.preflight_async(&docker, &specs))
    }

    fn start_node(&self, index: usize) -> HostResult<()> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker.block(self.start_async(&docker, &node))
    }

    fn stop_node(&self, index: usize, timeout: Duration) -> HostResult<String> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker.block(self.stop_async(&docker, &node, timeout))
    }

    /// Swarm's own update mechanism: the service is forced to a new task
    /// (stop first, then start, on the same host and volume).
    fn restart_node(&self, index: usize, stop_timeout: Duration) -> HostResult<String> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker
            .block(self.restart_async(&docker, &node, stop_timeout))
    }

    fn node_state(&self, index: usize) -> HostResult<NodeState> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker.block(self.state_async(&docker, &node))
    }

    fn fault_target(&self, index: usize) -> HostResult<String> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        let name = self.docker.block(self.running_task(&docker, &node))?;
        Ok(format!("container {name}"))
    }

    /// SIGKILL to the task's container: the task fails, and stays down
    /// (restart condition none) until the fault is undone by a start.
    fn kill_node(&self, index: usize) -> HostResult<()> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker.block(async {
            let name = self.running_task(&docker, &node).await?;
            dk::kill_container(&docker, &name).await
        })
    }

    /// Swarm does not watch a container's paused state: the task stays
    /// "running" to it while the container is frozen.
    fn pause_node(&self, index: usize) -> HostResult<()> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker.block(async {
            let name = self.running_task(&docker, &node).await?;
            dk::pause_container(&docker, &name).await
        })
    }

    fn resume_node(&self, index: usize) -> HostResult<()> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        let name = self.service_name(&node);
        self.docker.block(async {
            match self.task_container(&docker, &name).await? {
                Some(c) if c.paused => dk::unpause_container(&docker, &c.name).await,
                _ => Ok(()),
            }
        })
    }

    /// On the task's container (`docker update`), not the service's
    /// resources: a service update would replace the task, a restart the
    /// fault is not meant to be.
    fn limit_cpu(&self, index: usize, percent: f64) -> HostResult<String> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        self.docker.block(async {
            let name = self.running_task(&docker, &node).await?;
            let previous = dk::cpu_quota(&docker, &name).await?;
            dk::set_cpu_quota(&docker, &name, super::cfs_quota(percent)).await?;
            Ok(previous.to_string())
        })
    }

    fn restore_cpu(&self, index: usize, previous: Option<&str>) -> HostResult<()> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        let name = self.service_name(&node);
        let quota = previous
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|q| *q > 0)
            .unwrap_or(-1);
        self.docker.block(async {
            match self.task_container(&docker, &name).await? {
                Some(c) => dk::set_cpu_quota(&docker, &c.name, quota).await,
                None => Ok(()),
            }
        })
    }

    /// Tasks are created without a CPU quota, so any is a fault's.
    fn cpu_limited(&self, index: usize) -> HostResult<bool> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        let name = self.service_name(&node);
        self.docker.block(async {
            match self.task_container(&docker, &name).await? {
                Some(c) => Ok(dk::cpu_quota(&docker, &c.name).await? > 0),
                None => Ok(false),
            }
        })
    }

    fn log_tail(&self, index: usize, lines: usize) -> Vec<String> {
        let Ok(node) = self.docker.node(index) else {
            return Vec::new();
        };
        let Ok(docker) = self.docker.docker() else {
            return Vec::new();
        };
        let name = self.service_name(&node);
        self.docker
            .block(async {
                match self.task_container(&docker, &name).await? {
                    Some(c) => dk::logs_tail(&docker, &c.name, lines).await,
                    None => Ok(Vec::new()),
                }
            })
            .unwrap_or_default()
    }

    fn data_path(&self, index: usize) -> HostResult<Option<std::path::PathBuf>> {
        self.docker.data_path(index)
    }

    /// The newest task's container here; the service's name when there is
    /// none (a node on another host, or stopped), which reads as no log.
    fn log_location(&self, index: usize) -> HostResult<LogLocation> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        let name = self.service_name(&node);
        let container = self
            .docker
            .block(self.task_container(&docker, &name))?
            .map(|c| c.name)
            .unwrap_or(name);
        Ok(LogLocation::Container(container))
    }

    /// The data port listens on the overlay network, which the host cannot
    /// reach: the task's own helper makes the call from inside it (an exec
    /// in its container, so `via` must run on this host).
    fn remove_from_raft(&self, _ctx: &Context, via: usize, node: &str) -> HostResult<()> {
        let via = self.docker.node(via)?;
        let docker = self.docker.docker()?;
        self.docker.block(async {
            let container = self.running_task(&docker, &via).await?;
            let (code, printed) = dk::exec(
                &docker,
                &container,
                &[super::swarm_image::HELPER_PATH, "--raft-remove", node],
            )
            .await?;
            if code == 0 {
                return Ok(());
            }
            Err(HostError::weaviate(format!(
                "{} could not take {node} out of RAFT: {}",
                via.name,
                printed.trim()
            ))
            .with_hint("check `elysiactl status`; run the scale again once the cluster is ready"))
        })
    }

    fn forget_node(&self, index: usize) -> HostResult<()> {
        let node = self.docker.node(index)?;
        let docker = self.docker.docker()?;
        let service = self.service_name(&node);
        self.docker.block(async {
            if dk::find_service(&docker, &service).await?.is_some() {
                return Err(HostError::validation(format!(
                    "{} still has its service {service}; only a stopped node is removed",
                    node.name
                ))
                .with_hint("stop it first: `elysiactl weaviate stop --nodes N`"));
            }
            dk::remove_volume(&docker, &self.docker.volume_name(&node)).await?;
            Ok(())
        })
    }

    fn cleanup(&self, purge_data: bool) -> HostResult<()> {
        let docker = self.docker.docker()?;
        self.docker.block(self.cleanup_async(&docker, purge_data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(cfg: WeaviateConfig) -> SwarmRuntime {
        // Building the runtime never touches the engine.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        SwarmRuntime::new(cfg, rt.handle().clone()).unwrap()
    }

    #[test]
    fn services_follow_the_docker_layout_and_are_placed_by_host() {
        let cfg = WeaviateConfig {
            cluster_name: "demo".into(),
            rest_port: 18080,
            swarm_hosts: vec!["host-a".into(), "host-b".into()],
            ..Default::default()
        };
        let r = runtime(cfg);
        let n2 = r.cfg.node(2);
        let host = r.placement_host(&n2, "local");
        assert_eq!(host, "host-a", "node 2 of 2 hosts wraps to the first");
        assert_eq!(r.placement_host(&r.cfg.node(1), "local"), "host-b");
        let image = SwarmRuntime::swarm_image("sha256:0123456789abcdef");
        assert!(
            image.starts_with("elysiactl/weaviate-swarm:0123456789ab-"),
            "{image}"
        );
        let def = r.definition(&n2, (&image, "sha256:1"), "10.0.9.0/24", &host);
        assert_eq!(def.env["ELYSIACTL_OVERLAY_SUBNET"], "10.0.9.0/24");
        assert_eq!(def.name, "demo-weaviate-2");
        assert_eq!(def.hostname, "weaviate-2");
        assert_eq!(def.network, "demo");
        assert_eq!(def.aliases, vec!["weaviate-2".to_string()]);
        assert_eq!(def.constraints, vec!["node.hostname==host-a".to_string()]);
        assert_eq!(
            def.ports[0],
            ServicePort {
                published: 18082,
                target: 8080
            }
        );
        assert_eq!(def.env["RAFT_JOIN"], "weaviate-0,weaviate-1,weaviate-2");
        assert_eq!(def.env["CLUSTER_JOIN"], "weaviate-0:7100");
        assert_eq!(def.labels[CLUSTER_LABEL], "demo");
        // A rebuilt image (another ID) is a changed service.
        assert_ne!(
            def.fingerprint(),
            r.definition(&n2, (&image, "sha256:2"), "10.0.9.0/24", &host)
                .fingerprint()
        );
        let info = ServiceInfo {
            constraints: def.constraints.clone(),
            ..Default::default()
        };
        assert_eq!(SwarmRuntime::host_of(&info).as_deref(), Some("host-a"));
    }

    #[test]
    fn one_host_places_every_node_on_the_engine_host() {
        let r = runtime(WeaviateConfig::default());
        for i in 0..3 {
            assert_eq!(r.placement_host(&r.cfg.node(i), "this-host"), "this-host");
        }
    }
}
