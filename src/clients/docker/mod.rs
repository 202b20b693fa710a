//! The Docker engine over its API (bollard), with every failure turned into a
//! `HostError` that says what to do. Nothing here shells out to the `docker`
//! command; everything goes through the engine's socket.
//!
//! Objects elysiactl creates carry the label `io.elysiactl.owned=true`, and the
//! Weaviate containers, network and volumes also `io.elysiactl.cluster=<name>`
//! and (containers) `io.elysiactl.node=<index>`. Those labels are how the
//! runtime finds its own things again, and how scripts are kept away from
//! everything else.
//!
//! Here the connection, the engine's facts and the labels; the calls by
//! object in containers.rs, stats.rs, images.rs, networks.rs and volumes.rs;
//! their types in models.rs; the errors in errors.rs.

use crate::base::error::{HostError, HostResult};
use errors::engine_error;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

mod containers;
mod errors;
mod images;
mod models;
mod networks;
mod services;
mod stats;
mod volumes;

pub use bollard::Docker;
pub use containers::{
    cpu_quota, create_container, exec, find_container, inspect, kill_container, list_containers,
    logs_between, logs_tail, pause_container, remove_container, set_cpu_quota, start_container,
    stop_container, unpause_container,
};
pub use images::{build_context, build_image, image_exists, image_id, list_images, ContextEntry};
pub use models::{
    fingerprint, ContainerDetails, ContainerInfo, ContainerSpec, ContainerStats, EngineInfo,
    ImageInfo, NetworkAttachment, NetworkInfo, PortMapping, PortSpec, ServiceInfo, SwarmState,
    VolumeInfo,
};
pub use networks::{
    default_bridge_gateway, ensure_network, ensure_overlay_network, list_networks, remove_network,
};
pub use services::{
    create_service, find_service, force_new_task, list_services, remove_service, require_manager,
    swarm_state, update_service, wait_update_done, ServiceDefinition, ServicePort,
    SERVICE_NAME_LABEL, SWARM_HINT,
};
pub use stats::{stats, stats_now};
pub use volumes::{ensure_volume, list_volumes, remove_volume};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::Category;

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
}
