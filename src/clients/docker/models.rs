//! What the client returns and takes: containers, networks, images,
//! volumes and the engine as elysiactl shows them (serializable, secrets
//! such as a container's environment left out), and the specification a
//! container is created from.

use super::CONFIG_LABEL;
use serde::Serialize;
use std::collections::BTreeMap;

/// The engine's facts that matter for running a cluster.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EngineInfo {
    pub name: String,
    pub server_version: String,
    pub api_version: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpus: i64,
    pub memory_bytes: i64,
    pub storage_driver: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub docker_root_dir: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub bridge_nf_iptables: bool,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
}

/// One container as `docker ps` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    /// Docker's own summary, e.g. "Up 3 minutes" or "Exited (137) 5 seconds ago".
    pub status: String,
    /// Unix seconds.
    pub created: i64,
    /// "127.0.0.1:8080->8080/tcp" style.
    pub ports: Vec<String>,
    /// Host ports it publishes.
    pub host_ports: Vec<u16>,
    pub networks: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Created by elysiactl (see `container_owned`).
    pub owned: bool,
    pub cluster: Option<String>,
    pub node: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub scope: String,
    pub internal: bool,
    pub subnets: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub owned: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
    /// Unix seconds.
    pub created: i64,
    pub labels: BTreeMap<String, String>,
    pub owned: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub labels: BTreeMap<String, String>,
    pub owned: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortMapping {
    pub container_port: String,
    pub host_ip: String,
    pub host_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkAttachment {
    pub ip_address: String,
    pub aliases: Vec<String>,
}

/// What `inspect` tells about one container. The environment is left out on
/// purpose: it may hold API keys.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerDetails {
    pub id: String,
    pub short_id: String,
    pub name: String,
    /// The image as configured (a tag such as `elysiactl/weaviate:1.38.11`).
    pub image: String,
    /// The image ID the container was created from.
    pub image_id: String,
    pub hostname: String,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub exit_code: Option<i64>,
    /// The engine's error for the last start, if any.
    pub error: String,
    pub pid: Option<u32>,
    /// RFC 3339; empty when never started.
    pub started_at: String,
    pub finished_at: String,
    pub uptime_seconds: Option<f64>,
    pub restart_count: i64,
    pub labels: BTreeMap<String, String>,
    /// Created by elysiactl (see `container_owned`).
    pub owned: bool,
    pub ports: Vec<PortMapping>,
    pub networks: BTreeMap<String, NetworkAttachment>,
    /// "volume <name> -> /var/lib/weaviate" style.
    pub mounts: Vec<String>,
}

/// Resource use of one running container.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ContainerStats {
    /// CPU use over the engine's last sampling interval (about a second), in
    /// percent of one core (200 = two cores busy). None when the engine gave
    /// no previous sample.
    pub cpu_percent: Option<f64>,
    /// Memory in use without reclaimable page cache (what `docker stats` shows).
    pub memory_bytes: u64,
    /// Raw cgroup memory usage, page cache included.
    pub memory_usage_bytes: u64,
    pub memory_limit_bytes: u64,
    pub memory_percent: Option<f64>,
    pub pids: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub online_cpus: u64,
    /// Cumulative CPU time of the container, nanoseconds (for deltas between readings).
    pub cpu_total_ns: u64,
    /// Cumulative CPU time of the host, nanoseconds (same clock as `cpu_total_ns` deltas).
    pub system_cpu_ns: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortSpec {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// Everything a container is created with. `fingerprint()` of it goes into
/// the `io.elysiactl.config` label, so a changed setting is noticed later.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub hostname: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Empty: the image's CMD.
    pub cmd: Vec<String>,
    /// Network to attach to, with these DNS aliases on it.
    pub network: Option<String>,
    pub aliases: Vec<String>,
    pub ports: Vec<PortSpec>,
    /// (volume name, path in the container).
    pub volumes: Vec<(String, String)>,
    /// Seconds the engine waits after SIGTERM on a plain `stop`.
    pub stop_timeout: Option<i64>,
    /// Size-based rotation of the container's log by the engine (json-file
    /// driver), as the tool rotates the logs it writes itself.
    pub log_rotation: Option<crate::base::logfile::Rotation>,
    /// `name:address` lines for /etc/hosts (`host-gateway` is the host).
    /// Left out of the fingerprint when empty, so older containers match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
}

impl ContainerSpec {
    /// A stable hash of every setting (FNV-1a over its JSON form), hex.
    pub fn fingerprint(&self) -> String {
        let mut spec = self.clone();
        spec.labels.remove(CONFIG_LABEL);
        fingerprint(&spec)
    }
}

/// A stable hash (FNV-1a over the JSON form), hex: what a label records of
/// the settings an object was created with.
pub fn fingerprint(value: &impl Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// This engine's place in a swarm.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SwarmState {
    /// Swarm mode on (`docker swarm init` or `join` done).
    pub active: bool,
    /// The engine's word for it: inactive, pending, active, error, locked.
    pub state: String,
    /// A manager: services can be created and changed through it.
    pub manager: bool,
    pub node_id: String,
    /// The engine's host name (what `node.hostname` constraints match).
    pub hostname: String,
    /// Nodes in the swarm (known to managers only).
    pub nodes: i64,
}

/// One Swarm service as `docker service ls` shows it, with what the
/// runtime needs of its definition.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServiceInfo {
    pub id: String,
    pub name: String,
    /// The object version an update must name.
    pub version: u64,
    pub labels: BTreeMap<String, String>,
    /// Created by elysiactl (owned label and a settings fingerprint).
    pub owned: bool,
    /// Placement constraints, e.g. "node.hostname==host-a".
    pub constraints: Vec<String>,
    /// Incremented to force a new task.
    pub force_update: i64,
    pub running_tasks: Option<u64>,
    pub desired_tasks: Option<u64>,
    /// The last update: updating, paused, completed, rollback_…; empty when never updated.
    pub update_state: String,
    pub update_started: String,
    pub update_message: String,
    pub published_ports: Vec<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_settings_only() {
        let mut a = ContainerSpec {
            name: "c".into(),
            image: "i".into(),
            ..Default::default()
        };
        a.env.insert("A".into(), "1".into());
        let fp = a.fingerprint();
        assert_eq!(fp, a.clone().fingerprint());
        let mut b = a.clone();
        b.labels.insert(CONFIG_LABEL.into(), "whatever".into());
        assert_eq!(fp, b.fingerprint());
        b.env.insert("A".into(), "2".into());
        assert_ne!(fp, b.fingerprint());
    }
}
