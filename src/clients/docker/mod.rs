//! The Docker engine over its API (bollard), with every failure turned into a
//! `HostError` that says what to do. Nothing here shells out to the `docker`
//! command; everything goes through the engine's socket.
//!
//! Objects elysiactl creates carry the label `io.elysiactl.owned=true`, and the
//! Weaviate containers, network and volumes also `io.elysiactl.cluster=<name>`
//! and (containers) `io.elysiactl.node=<index>`. Those labels are how the
//! runtime finds its own things again, and how scripts are kept away from
//! everything else.

use crate::base::error::{Category, HostError, HostResult};
use bollard::container::{
    Config, CreateContainerOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
    NetworkingConfig, RemoveContainerOptions, StartContainerOptions, Stats, StatsOptions,
    StopContainerOptions,
};
use bollard::errors::Error as BollardError;
use bollard::image::{BuildImageOptions, BuilderVersion, ListImagesOptions};
use bollard::models::{
    ContainerInspectResponse, EndpointSettings, HostConfig, Mount, MountTypeEnum, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::network::{CreateNetworkOptions, ListNetworksOptions};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

pub use bollard::Docker;

/// Label every object elysiactl creates carries.
pub const OWNED_LABEL: &str = "io.elysiactl.owned";
/// Label naming the cluster (`weaviate.cluster_name`) a container, network or volume belongs to.
pub const CLUSTER_LABEL: &str = "io.elysiactl.cluster";
/// Label holding a Weaviate container's node index.
pub const NODE_LABEL: &str = "io.elysiactl.node";
/// Label holding the fingerprint of the settings a container was created with.
pub const CONFIG_LABEL: &str = "io.elysiactl.config";

/// What to do when the engine does not answer.
pub const ENGINE_HINT: &str =
    "start dockerd (e.g. `dockerd &` as root) or set weaviate.runtime = \"process\"";

/// How long `connect` waits for the engine to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The error and its causes on one line ("client error (Connect): No such file or directory").
fn chain(e: &BollardError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Turn a bollard error into a `HostError` with a category and a hint.
/// `context` says what was being done ("cannot stop container x").
pub fn engine_error(context: &str, e: BollardError) -> HostError {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => server_error(context, status_code, &message),
        BollardError::RequestTimeoutError => HostError::timeout(format!(
            "{context}: the Docker engine did not answer in time"
        ))
        .with_hint("check that dockerd is healthy (not overloaded or stuck); try again"),
        BollardError::JsonDataError { .. } | BollardError::JsonSerdeError { .. } => HostError::new(
            Category::Encoding,
            format!(
                "{context}: unreadable answer from the Docker engine: {}",
                chain(&e)
            ),
        )
        .with_hint("elysiactl expects Docker Engine 20.10 or newer (API 1.41+)"),
        BollardError::DockerStreamError { error } => {
            HostError::unknown(format!("{context}: {error}"))
                .with_hint("see the Docker daemon's log for details")
        }
        BollardError::APIVersionParseError {} => HostError::new(
            Category::Encoding,
            format!("{context}: the Docker engine reported an API version elysiactl cannot read"),
        )
        .with_hint("elysiactl expects Docker Engine 20.10 or newer (API 1.41+)"),
        other => {
            let text = chain(&other);
            if text.contains("Permission denied") || text.contains("os error 13") {
                HostError::network(format!(
                    "{context}: no permission to use the Docker socket ({text})"
                ))
                .with_hint("run as root or as a member of the `docker` group, or set weaviate.runtime = \"process\"")
            } else {
                HostError::network(format!(
                    "{context}: the Docker engine is unreachable ({text})"
                ))
                .with_hint(ENGINE_HINT)
            }
        }
    }
}

fn server_error(context: &str, status: u16, message: &str) -> HostError {
    let msg = format!("{context}: {}", message.trim());
    let lower = message.to_ascii_lowercase();
    if lower.contains("port is already allocated") || lower.contains("address already in use") {
        return HostError::validation(msg).with_hint(
            "another container or program holds that host port: free it, or move the cluster with weaviate.rest_port / grpc_port / metrics_port",
        );
    }
    match status {
        404 => HostError::validation(msg).with_hint(
            "nothing by that name exists in Docker; docker.containers(#{all: true}), docker.images() and docker.networks() list what does",
        ),
        409 => HostError::validation(msg)
            .with_hint("the object is in use or in the wrong state: stop or remove what holds it first"),
        400 => HostError::validation(msg)
            .with_hint("the engine refused the request as invalid; check the values given (names, ports, image)"),
        401 | 403 => HostError::validation(msg)
            .with_hint("the engine refused the operation; check dockerd's authorization plugins"),
        _ => HostError::unknown(msg)
            .with_hint("the Docker engine failed; its log (dockerd's stderr or `journalctl -u docker`) has details"),
    }
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

// ---------------------------------------------------------------------------
// Connection and engine facts
// ---------------------------------------------------------------------------

/// Connect to the local engine (`DOCKER_HOST=unix://…` or /var/run/docker.sock),
/// check that it answers, and settle on the API version both sides speak.
pub async fn connect() -> HostResult<Docker> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| engine_error("cannot reach Docker", e))?;
    settle(docker).await
}

/// Connect to the engine on a given Unix socket (tests, unusual setups).
pub async fn connect_to(socket: &str) -> HostResult<Docker> {
    let docker = Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION)
        .map_err(|e| engine_error("cannot reach Docker", e))?;
    settle(docker).await
}

async fn settle(docker: Docker) -> HostResult<Docker> {
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Err(_) => {
            return Err(HostError::network(format!(
                "the Docker engine did not answer a ping within {} s",
                PING_TIMEOUT.as_secs()
            ))
            .with_hint(ENGINE_HINT))
        }
        Ok(Err(e)) => return Err(engine_error("cannot reach Docker", e)),
        Ok(Ok(_)) => {}
    }
    docker
        .negotiate_version()
        .await
        .map_err(|e| engine_error("cannot agree on a Docker API version", e))
}

/// Whether the engine answers.
pub async fn available() -> bool {
    connect().await.is_ok()
}

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

pub async fn info(docker: &Docker) -> HostResult<EngineInfo> {
    let i = docker
        .info()
        .await
        .map_err(|e| engine_error("cannot read the Docker engine's info", e))?;
    let v = docker.client_version();
    let s = |o: Option<String>| o.unwrap_or_default();
    Ok(EngineInfo {
        name: s(i.name),
        server_version: s(i.server_version),
        api_version: format!("{}.{}", v.major_version, v.minor_version),
        os: s(i.operating_system),
        kernel: s(i.kernel_version),
        arch: s(i.architecture),
        cpus: i.ncpu.unwrap_or(0),
        memory_bytes: i.mem_total.unwrap_or(0),
        storage_driver: s(i.driver),
        logging_driver: s(i.logging_driver),
        cgroup_driver: i.cgroup_driver.map(|c| c.to_string()).unwrap_or_default(),
        cgroup_version: i.cgroup_version.map(|c| c.to_string()).unwrap_or_default(),
        docker_root_dir: s(i.docker_root_dir),
        containers: i.containers.unwrap_or(0),
        containers_running: i.containers_running.unwrap_or(0),
        containers_paused: i.containers_paused.unwrap_or(0),
        containers_stopped: i.containers_stopped.unwrap_or(0),
        images: i.images.unwrap_or(0),
        bridge_nf_iptables: i.bridge_nf_iptables.unwrap_or(false),
        security_options: i.security_options.unwrap_or_default(),
        warnings: i.warnings.unwrap_or_default(),
    })
}

fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

fn sorted(labels: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    labels.unwrap_or_default().into_iter().collect()
}

fn owned(labels: &BTreeMap<String, String>) -> bool {
    labels.get(OWNED_LABEL).map(String::as_str) == Some("true")
}

/// Whether a container is elysiactl's: `io.elysiactl.owned=true` *and* the
/// `io.elysiactl.config` fingerprint that only `create_container` sets. The
/// owned label alone is not enough, because a container inherits its image's
/// labels and the Weaviate image carries `io.elysiactl.owned=true`: anyone's
/// `docker run elysiactl/weaviate:…` would otherwise pass as ours.
pub fn container_owned(labels: &BTreeMap<String, String>) -> bool {
    owned(labels) && labels.contains_key(CONFIG_LABEL)
}

/// Label filters selecting elysiactl's own containers (see `container_owned`).
pub const OWNED_CONTAINER_FILTER: [(&str, &str); 2] = [(OWNED_LABEL, "true"), (CONFIG_LABEL, "")];

/// Label filters for list calls: `[("io.elysiactl.owned", "true")]` → `label=k=v`;
/// an empty value only asks for the label to be present.
fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let mut filters = HashMap::new();
    if !labels.is_empty() {
        filters.insert(
            "label".to_string(),
            labels
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect(),
        );
    }
    filters
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

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

/// Containers (running only unless `all`), filtered by labels (`[(key, value)]`, all must match).
pub async fn list_containers(
    docker: &Docker,
    all: bool,
    labels: &[(&str, &str)],
) -> HostResult<Vec<ContainerInfo>> {
    let list = docker
        .list_containers(Some(ListContainersOptions::<String> {
            all,
            filters: label_filters(labels),
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error("cannot list containers", e))?;
    let mut out: Vec<ContainerInfo> = list
        .into_iter()
        .map(|c| {
            let labels = sorted(c.labels);
            let published = c.ports.unwrap_or_default();
            let mut host_ports: Vec<u16> = published.iter().filter_map(|p| p.public_port).collect();
            host_ports.sort_unstable();
            host_ports.dedup();
            let mut ports: Vec<String> = published
                .into_iter()
                .map(|p| {
                    let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
                    match p.public_port {
                        Some(public) => format!(
                            "{}:{public}->{}/{proto}",
                            p.ip.unwrap_or_else(|| "0.0.0.0".into()),
                            p.private_port
                        ),
                        None => format!("{}/{proto}", p.private_port),
                    }
                })
                .collect();
            ports.sort();
            ports.dedup();
            let mut networks: Vec<String> = c
                .network_settings
                .and_then(|n| n.networks)
                .map(|n| n.into_keys().collect())
                .unwrap_or_default();
            networks.sort();
            ContainerInfo {
                id: short_id(&c.id.unwrap_or_default()),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                state: c.state.unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                created: c.created.unwrap_or(0),
                ports,
                host_ports,
                networks,
                owned: container_owned(&labels),
                cluster: labels.get(CLUSTER_LABEL).cloned(),
                node: labels.get(NODE_LABEL).and_then(|n| n.parse().ok()),
                labels,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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

pub async fn list_networks(
    docker: &Docker,
    labels: &[(&str, &str)],
) -> HostResult<Vec<NetworkInfo>> {
    let list = docker
        .list_networks(Some(ListNetworksOptions::<String> {
            filters: label_filters(labels),
        }))
        .await
        .map_err(|e| engine_error("cannot list networks", e))?;
    let mut out: Vec<NetworkInfo> = list
        .into_iter()
        .map(|n| {
            let labels = sorted(n.labels);
            NetworkInfo {
                id: short_id(&n.id.unwrap_or_default()),
                name: n.name.unwrap_or_default(),
                driver: n.driver.unwrap_or_default(),
                scope: n.scope.unwrap_or_default(),
                internal: n.internal.unwrap_or(false),
                subnets: n
                    .ipam
                    .and_then(|i| i.config)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| c.subnet)
                    .collect(),
                owned: owned(&labels),
                labels,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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

pub async fn list_images(docker: &Docker) -> HostResult<Vec<ImageInfo>> {
    let list = docker
        .list_images(Some(ListImagesOptions::<String> {
            all: false,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error("cannot list images", e))?;
    let mut out: Vec<ImageInfo> = list
        .into_iter()
        .map(|i| {
            let labels: BTreeMap<String, String> = i.labels.into_iter().collect();
            ImageInfo {
                id: short_id(&i.id),
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                size_bytes: i.size,
                created: i.created,
                owned: owned(&labels),
                labels,
            }
        })
        .collect();
    out.sort_by(|a, b| a.tags.cmp(&b.tags));
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub labels: BTreeMap<String, String>,
    pub owned: bool,
}

pub async fn list_volumes(docker: &Docker, labels: &[(&str, &str)]) -> HostResult<Vec<VolumeInfo>> {
    let list = docker
        .list_volumes(Some(ListVolumesOptions::<String> {
            filters: label_filters(labels),
        }))
        .await
        .map_err(|e| engine_error("cannot list volumes", e))?;
    let mut out: Vec<VolumeInfo> = list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let labels: BTreeMap<String, String> = v.labels.into_iter().collect();
            VolumeInfo {
                name: v.name,
                driver: v.driver,
                mountpoint: v.mountpoint,
                owned: owned(&labels),
                labels,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

// ---------------------------------------------------------------------------
// One container: inspect, stats, logs
// ---------------------------------------------------------------------------

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

/// Seconds since an RFC 3339 time, or None for Docker's zero time.
fn seconds_since(rfc3339: &str) -> Option<f64> {
    if rfc3339.is_empty() || rfc3339.starts_with("0001-") {
        return None;
    }
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    let secs = SystemTime::now()
        .duration_since(t)
        .unwrap_or_default()
        .as_secs_f64();
    Some((secs * 10.0).round() / 10.0)
}

fn details(c: ContainerInspectResponse) -> ContainerDetails {
    let state = c.state.unwrap_or_default();
    let config = c.config.unwrap_or_default();
    let labels = sorted(config.labels);
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let started_at = state.started_at.unwrap_or_default();
    let mut ports: Vec<PortMapping> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.clone())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(cport, bindings)| {
            bindings
                .unwrap_or_default()
                .into_iter()
                .map(move |b| PortMapping {
                    container_port: cport.clone(),
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port: b.host_port.and_then(|p| p.parse().ok()).unwrap_or_default(),
                })
        })
        .collect();
    ports.sort_by(|a, b| (a.host_port, &a.host_ip).cmp(&(b.host_port, &b.host_ip)));
    let networks = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ep)| {
            (
                name,
                NetworkAttachment {
                    ip_address: ep.ip_address.unwrap_or_default(),
                    aliases: ep.aliases.unwrap_or_default(),
                },
            )
        })
        .collect();
    let mounts = c
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            format!(
                "{} {} -> {}",
                m.typ.map(|t| t.to_string()).unwrap_or_default(),
                m.name.or(m.source).unwrap_or_default(),
                m.destination.unwrap_or_default()
            )
        })
        .collect();
    let id = c.id.unwrap_or_default();
    ContainerDetails {
        short_id: short_id(&id),
        id,
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
        hostname: config.hostname.unwrap_or_default(),
        state: status,
        running,
        paused: state.paused.unwrap_or(false),
        restarting: state.restarting.unwrap_or(false),
        oom_killed: state.oom_killed.unwrap_or(false),
        exit_code: state.exit_code,
        error: state.error.unwrap_or_default(),
        pid: state.pid.filter(|p| *p > 0).map(|p| p as u32),
        uptime_seconds: if running {
            seconds_since(&started_at)
        } else {
            None
        },
        started_at,
        finished_at: state.finished_at.unwrap_or_default(),
        restart_count: c.restart_count.unwrap_or(0),
        owned: container_owned(&labels),
        labels,
        ports,
        networks,
        mounts,
    }
}

/// Inspect a container by name or ID; `None` when there is none.
pub async fn find_container(docker: &Docker, name: &str) -> HostResult<Option<ContainerDetails>> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => Ok(Some(details(c))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(engine_error(&format!("cannot inspect container {name}"), e)),
    }
}

/// Inspect a container by name or ID; an error naming it when there is none.
pub async fn inspect(docker: &Docker, name: &str) -> HostResult<ContainerDetails> {
    find_container(docker, name)
        .await?
        .ok_or_else(|| no_such_container(name))
}

fn no_such_container(name: &str) -> HostError {
    HostError::validation(format!("there is no container named {name}"))
        .with_hint("docker.containers(#{all: true}) lists the containers that exist")
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

/// CPU percent from two samples, the way `docker stats` computes it.
pub fn cpu_percent(s: &Stats) -> Option<f64> {
    let total = s.cpu_stats.cpu_usage.total_usage;
    let pre_total = s.precpu_stats.cpu_usage.total_usage;
    let system = s.cpu_stats.system_cpu_usage?;
    let pre_system = s.precpu_stats.system_cpu_usage?;
    if pre_system == 0 || system <= pre_system {
        return None;
    }
    let cpus = s
        .cpu_stats
        .online_cpus
        .filter(|n| *n > 0)
        .or_else(|| {
            s.cpu_stats
                .cpu_usage
                .percpu_usage
                .as_ref()
                .map(|v| v.len() as u64)
                .filter(|n| *n > 0)
        })
        .unwrap_or(1);
    let cpu_delta = total.saturating_sub(pre_total) as f64;
    let system_delta = (system - pre_system) as f64;
    Some((cpu_delta / system_delta * cpus as f64 * 100.0 * 10.0).round() / 10.0)
}

/// Memory without the inactive page cache, as `docker stats` reports it.
pub fn memory_in_use(s: &Stats) -> u64 {
    use bollard::container::MemoryStatsStats;
    let usage = s.memory_stats.usage.unwrap_or(0);
    let cache = match s.memory_stats.stats {
        Some(MemoryStatsStats::V1(v1)) => v1.total_inactive_file,
        Some(MemoryStatsStats::V2(v2)) => v2.inactive_file,
        None => 0,
    };
    if cache < usage {
        usage - cache
    } else {
        usage
    }
}

fn to_container_stats(s: &Stats) -> ContainerStats {
    let memory_bytes = memory_in_use(s);
    let limit = s.memory_stats.limit.unwrap_or(0);
    let (rx, tx) = s
        .networks
        .as_ref()
        .map(|n| {
            n.values()
                .fold((0, 0), |(r, t), v| (r + v.rx_bytes, t + v.tx_bytes))
        })
        .unwrap_or((0, 0));
    ContainerStats {
        cpu_percent: cpu_percent(s),
        memory_bytes,
        memory_usage_bytes: s.memory_stats.usage.unwrap_or(0),
        memory_limit_bytes: limit,
        memory_percent: (limit > 0)
            .then(|| (memory_bytes as f64 / limit as f64 * 100.0 * 10.0).round() / 10.0),
        pids: s.pids_stats.current.unwrap_or(0),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        online_cpus: s.cpu_stats.online_cpus.unwrap_or(0),
        cpu_total_ns: s.cpu_stats.cpu_usage.total_usage,
        system_cpu_ns: s.cpu_stats.system_cpu_usage.unwrap_or(0),
    }
}

/// One stats sample of a running (or paused) container. The engine takes two
/// readings about a second apart, so this takes that long; the CPU percent is
/// computed from the difference.
pub async fn stats(docker: &Docker, name: &str) -> HostResult<ContainerStats> {
    read_stats(docker, name, false).await
}

/// One reading without the engine's second sample, so `cpu_percent` is None:
/// for callers that compute CPU use from their own earlier reading
/// (`cpu_total_ns`, `system_cpu_ns`). Docker 20.10 still answers on its next
/// collection tick, so a call can take up to a second while the engine's
/// stats collector is busy (instant when it is idle).
pub async fn stats_now(docker: &Docker, name: &str) -> HostResult<ContainerStats> {
    read_stats(docker, name, true).await
}

async fn read_stats(docker: &Docker, name: &str, one_shot: bool) -> HostResult<ContainerStats> {
    let c = inspect(docker, name).await?;
    if !c.running {
        return Err(HostError::validation(format!(
            "container {name} is not running (state {})",
            c.state
        ))
        .with_hint("stats need a running container; start it first"));
    }
    let mut stream = docker.stats(
        name,
        Some(StatsOptions {
            stream: false,
            one_shot,
        }),
    );
    match stream.next().await {
        Some(Ok(s)) => Ok(to_container_stats(&s)),
        Some(Err(e)) => Err(engine_error(&format!("cannot read stats of {name}"), e)),
        None => Err(
            HostError::unknown(format!("the Docker engine sent no stats for {name}"))
                .with_hint("try again; if it persists, check dockerd's log"),
        ),
    }
}

/// The last `lines` lines of a container's output, stdout and stderr merged in
/// the order they were written.
pub async fn logs_tail(docker: &Docker, name: &str, lines: usize) -> HostResult<Vec<String>> {
    let mut stream = docker.logs(
        name,
        Some(LogsOptions::<String> {
            follow: false,
            stdout: true,
            stderr: true,
            timestamps: false,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut text = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => text.extend_from_slice(chunk.as_ref()),
            Err(e) if is_not_found(&e) => return Err(no_such_container(name)),
            Err(e) => return Err(engine_error(&format!("cannot read the log of {name}"), e)),
        }
    }
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| l.to_string())
        .collect())
}

// ---------------------------------------------------------------------------
// Networks, volumes
// ---------------------------------------------------------------------------

/// Create a bridge network unless one of that name exists. Returns true when
/// it was created. An existing network that does not carry `io.elysiactl.owned`
/// is refused: it belongs to someone else.
pub async fn ensure_network(
    docker: &Docker,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> HostResult<bool> {
    if let Some(n) = list_networks(docker, &[])
        .await?
        .into_iter()
        .find(|n| n.name == name)
    {
        if !n.owned {
            return Err(HostError::validation(format!(
                "a Docker network named {name} exists and was not created by elysiactl"
            ))
            .with_hint(format!(
                "remove it (`docker network rm {name}`) or choose another weaviate.cluster_name"
            )));
        }
        return Ok(false);
    }
    match docker
        .create_network(CreateNetworkOptions::<String> {
            name: name.to_string(),
            check_duplicate: true,
            driver: "bridge".into(),
            labels: labels.clone().into_iter().collect(),
            ..Default::default()
        })
        .await
    {
        Ok(_) => Ok(true),
        // Created meanwhile by a concurrent start of another node.
        Err(BollardError::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(false),
        Err(e) => Err(engine_error(&format!("cannot create network {name}"), e)),
    }
}

pub async fn remove_network(docker: &Docker, name: &str) -> HostResult<bool> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(engine_error(&format!("cannot remove network {name}"), e)),
    }
}

/// Create a named local volume unless it exists. Returns true when created. An
/// existing volume without `io.elysiactl.owned` is refused (it may hold someone
/// else's data).
pub async fn ensure_volume(
    docker: &Docker,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> HostResult<bool> {
    match docker.inspect_volume(name).await {
        Ok(v) => {
            if v.labels.get(OWNED_LABEL).map(String::as_str) != Some("true") {
                return Err(HostError::validation(format!(
                    "a Docker volume named {name} exists and was not created by elysiactl"
                ))
                .with_hint(format!(
                    "if its data is not needed remove it (`docker volume rm {name}`), or choose another weaviate.cluster_name"
                )));
            }
            Ok(false)
        }
        Err(e) if is_not_found(&e) => {
            docker
                .create_volume(CreateVolumeOptions::<String> {
                    name: name.to_string(),
                    driver: "local".into(),
                    labels: labels.clone().into_iter().collect(),
                    ..Default::default()
                })
                .await
                .map_err(|e| engine_error(&format!("cannot create volume {name}"), e))?;
            Ok(true)
        }
        Err(e) => Err(engine_error(&format!("cannot inspect volume {name}"), e)),
    }
}

pub async fn remove_volume(docker: &Docker, name: &str) -> HostResult<bool> {
    match docker
        .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(engine_error(&format!("cannot remove volume {name}"), e)),
    }
}

// ---------------------------------------------------------------------------
// Container lifecycle
// ---------------------------------------------------------------------------

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
}

impl ContainerSpec {
    /// A stable hash of every setting (FNV-1a over its JSON form), hex.
    pub fn fingerprint(&self) -> String {
        let mut spec = self.clone();
        spec.labels.remove(CONFIG_LABEL);
        let text = serde_json::to_string(&spec).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.as_bytes() {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Create (not start) a container; returns its ID.
pub async fn create_container(docker: &Docker, spec: &ContainerSpec) -> HostResult<String> {
    let mut labels = spec.labels.clone();
    labels.insert(CONFIG_LABEL.into(), spec.fingerprint());
    let mut exposed: HashMap<String, HashMap<(), ()>> = HashMap::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let key = format!("{}/tcp", p.container_port);
        exposed.insert(key.clone(), HashMap::new());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    let mounts: Vec<Mount> = spec
        .volumes
        .iter()
        .map(|(volume, target)| Mount {
            typ: Some(MountTypeEnum::VOLUME),
            source: Some(volume.clone()),
            target: Some(target.clone()),
            read_only: Some(false),
            ..Default::default()
        })
        .collect();
    let networking_config = spec.network.as_ref().map(|net| NetworkingConfig {
        endpoints_config: HashMap::from([(
            net.clone(),
            EndpointSettings {
                aliases: Some(spec.aliases.clone()),
                ..Default::default()
            },
        )]),
    });
    let config = Config::<String> {
        hostname: (!spec.hostname.is_empty()).then(|| spec.hostname.clone()),
        image: Some(spec.image.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        labels: Some(labels.into_iter().collect()),
        exposed_ports: Some(exposed),
        stop_timeout: spec.stop_timeout,
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            mounts: Some(mounts),
            network_mode: spec.network.clone(),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        networking_config,
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: spec.name.clone(),
                platform: None,
            }),
            config,
        )
        .await
        .map_err(|e| match e {
            BollardError::DockerResponseServerError {
                status_code: 404, ..
            } => HostError::validation(format!(
                "cannot create container {}: image {} does not exist",
                spec.name, spec.image
            ))
            .with_hint("build it with `elysiactl install weaviate`"),
            BollardError::DockerResponseServerError {
                status_code: 409,
                message,
            } => HostError::validation(format!("cannot create container {}: {message}", spec.name))
                .with_hint("a container of that name exists; remove it first"),
            other => engine_error(&format!("cannot create container {}", spec.name), other),
        })?;
    Ok(created.id)
}

pub async fn start_container(docker: &Docker, name: &str) -> HostResult<()> {
    match docker
        .start_container(name, None::<StartContainerOptions<String>>)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Err(no_such_container(name)),
        Err(e) => Err(engine_error(&format!("cannot start container {name}"), e)),
    }
}

/// Stop gracefully: SIGTERM (the image's stop signal), then SIGKILL after
/// `timeout`. A paused container is unpaused first so it can act on SIGTERM.
/// Returns "terminated", "killed" or "not running".
pub async fn stop_container(docker: &Docker, name: &str, timeout: Duration) -> HostResult<String> {
    let c = inspect(docker, name).await?;
    if !c.running {
        return Ok("not running".into());
    }
    if c.paused {
        unpause_container(docker, name).await?;
    }
    let secs = timeout.as_secs().max(1);
    // The engine answers only once the container is gone: wait longer than it does.
    let patient = docker
        .clone()
        .with_timeout(Duration::from_secs(secs.saturating_add(60)));
    patient
        .stop_container(name, Some(StopContainerOptions { t: secs as i64 }))
        .await
        .map_err(|e| engine_error(&format!("cannot stop container {name}"), e))?;
    let after = inspect(docker, name).await?;
    Ok(if after.exit_code == Some(137) && !after.oom_killed {
        "killed".into()
    } else {
        "terminated".into()
    })
}

/// Remove a container. Without `force` a running container is refused by the
/// engine. `anonymous_volumes` also removes its unnamed volumes (named volumes
/// always stay). Returns false when there was none.
pub async fn remove_container(
    docker: &Docker,
    name: &str,
    force: bool,
    anonymous_volumes: bool,
) -> HostResult<bool> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                v: anonymous_volumes,
                force,
                link: false,
            }),
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(BollardError::DockerResponseServerError {
            status_code: 409,
            message,
        }) => Err(
            HostError::validation(format!("cannot remove container {name}: {message}"))
                .with_hint("stop it first, or remove with force"),
        ),
        Err(e) => Err(engine_error(&format!("cannot remove container {name}"), e)),
    }
}

pub async fn pause_container(docker: &Docker, name: &str) -> HostResult<()> {
    docker.pause_container(name).await.map_err(|e| {
        if is_not_found(&e) {
            no_such_container(name)
        } else {
            engine_error(&format!("cannot pause container {name}"), e)
        }
    })
}

pub async fn unpause_container(docker: &Docker, name: &str) -> HostResult<()> {
    docker.unpause_container(name).await.map_err(|e| {
        if is_not_found(&e) {
            no_such_container(name)
        } else {
            engine_error(&format!("cannot unpause container {name}"), e)
        }
    })
}

// ---------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------

/// The image's ID, or None when it does not exist.
pub async fn image_id(docker: &Docker, image: &str) -> HostResult<Option<String>> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(i.id),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(engine_error(&format!("cannot inspect image {image}"), e)),
    }
}

/// Whether the image exists locally (false also when the engine does not answer).
pub async fn image_exists(docker: &Docker, image: &str) -> bool {
    matches!(image_id(docker, image).await, Ok(Some(_)))
}

/// Build `image` from a build context (a tar holding the Dockerfile and
/// what it copies), with the classic builder and no registry, the labels on
/// the image. When the build itself fails, the error quotes its last output
/// lines and carries `failed_hint`.
pub async fn build_image(
    docker: &Docker,
    context: Vec<u8>,
    image: &str,
    labels: &BTreeMap<String, String>,
    failed_hint: &str,
) -> HostResult<()> {
    let options = BuildImageOptions::<String> {
        dockerfile: "Dockerfile".into(),
        t: image.to_string(),
        rm: true,
        forcerm: true,
        pull: false,
        labels: labels.clone().into_iter().collect(),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    // Sending a context of a few hundred MB and committing the layer can
    // outlast the default 2 minutes.
    let patient = docker.clone().with_timeout(Duration::from_secs(900));
    let mut stream = patient.build_image(options, None, Some(context.into()));
    let mut last: Vec<String> = Vec::new();
    let mut remember = |line: &str| {
        for l in line.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            tracing::debug!("docker build: {l}");
            last.push(l.to_string());
            if last.len() > 15 {
                last.remove(0);
            }
        }
    };
    let failed = |last: &[String]| {
        HostError::unknown(format!(
            "building image {image} failed; last output:\n  {}",
            last.join("\n  ")
        ))
        .with_hint(failed_hint)
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.stream.as_deref().or(info.status.as_deref()) {
                    remember(s);
                }
                if let Some(err) = info.error {
                    remember(&err);
                    return Err(failed(&last));
                }
            }
            Err(BollardError::DockerStreamError { error }) => {
                remember(&error);
                return Err(failed(&last));
            }
            Err(e) => {
                let mut err = engine_error(&format!("cannot build image {image}"), e);
                if !last.is_empty() {
                    err.message
                        .push_str(&format!("\nlast build output:\n  {}", last.join("\n  ")));
                }
                return Err(err);
            }
        }
    }
    if image_id(docker, image).await?.is_none() {
        return Err(failed(&last));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_engine_says_how_to_fix_it() {
        let e = engine_error(
            "cannot reach Docker",
            BollardError::SocketNotFoundError("/var/run/docker.sock".into()),
        );
        assert_eq!(e.category, Category::Network);
        assert!(e.hint.contains("dockerd"), "{}", e.hint);
        assert!(e.hint.contains("weaviate.runtime"), "{}", e.hint);
        let nf = engine_error(
            "x",
            BollardError::DockerResponseServerError {
                status_code: 404,
                message: "No such container: y".into(),
            },
        );
        assert_eq!(nf.category, Category::Validation);
        assert!(!nf.hint.is_empty());
        let port = engine_error(
            "x",
            BollardError::DockerResponseServerError {
                status_code: 500,
                message: "Bind for 127.0.0.1:8080 failed: port is already allocated".into(),
            },
        );
        assert!(port.hint.contains("rest_port"), "{}", port.hint);
    }

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

    #[test]
    fn missing_socket_is_a_network_error_with_the_fix() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(connect_to("/nonexistent/elysiactl-test.sock"))
            .expect_err("no engine there");
        assert_eq!(e.category, Category::Network, "{e}");
        assert_eq!(e.hint, ENGINE_HINT);
    }

    #[test]
    fn image_labels_alone_do_not_make_a_container_ours() {
        let inherited = BTreeMap::from([(OWNED_LABEL.to_string(), "true".to_string())]);
        assert!(!container_owned(&inherited));
        let mut ours = inherited.clone();
        ours.insert(CONFIG_LABEL.into(), "0123".into());
        assert!(container_owned(&ours));
        let filters = label_filters(&OWNED_CONTAINER_FILTER);
        assert_eq!(
            filters["label"],
            vec![format!("{OWNED_LABEL}=true"), CONFIG_LABEL.to_string()]
        );
    }

    #[test]
    fn seconds_since_ignores_zero_time() {
        assert_eq!(seconds_since("0001-01-01T00:00:00Z"), None);
        assert_eq!(seconds_since(""), None);
        assert!(seconds_since("2020-01-01T00:00:00.123456789Z").unwrap() > 1e7);
    }
}
