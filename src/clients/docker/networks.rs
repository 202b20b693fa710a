//! Networks: list, create if missing (refusing one that is not ours), remove.

use super::errors::{engine_error, is_not_found};
use super::models::NetworkInfo;
use super::{label_filters, owned, short_id, sorted, Docker};
use crate::base::error::{HostError, HostResult};
use bollard::errors::Error as BollardError;
use bollard::network::{CreateNetworkOptions, ListNetworksOptions};
use std::collections::BTreeMap;

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

/// Create a bridge network unless one of that name exists. Returns true when
/// it was created. An existing network that does not carry `io.elysiactl.owned`
/// is refused: it belongs to someone else.
pub async fn ensure_network(
    docker: &Docker,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> HostResult<bool> {
    ensure_network_of(docker, name, "bridge", labels).await
}

/// Create an attachable overlay network (Swarm services on every host of
/// the swarm join it) unless one of that name exists; as `ensure_network`.
pub async fn ensure_overlay_network(
    docker: &Docker,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> HostResult<bool> {
    ensure_network_of(docker, name, "overlay", labels).await
}

async fn ensure_network_of(
    docker: &Docker,
    name: &str,
    driver: &str,
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
        if n.driver != driver {
            return Err(HostError::validation(format!(
                "the Docker network {name} is a {} network, and this runtime needs a {driver} one",
                n.driver
            ))
            .with_hint(format!(
                "stop the cluster that the other runtime started (`elysiactl stop --runtime {}`), which removes it",
                if driver == "overlay" { "docker" } else { "swarm" }
            )));
        }
        return Ok(false);
    }
    match docker
        .create_network(CreateNetworkOptions::<String> {
            name: name.to_string(),
            check_duplicate: true,
            driver: driver.into(),
            attachable: driver == "overlay",
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

/// The gateway address of Docker's default bridge: what `host-gateway` in
/// a container's extra hosts resolves to, so where a host service must
/// listen for containers to reach it.
pub async fn default_bridge_gateway(docker: &Docker) -> HostResult<String> {
    let n = docker
        .inspect_network::<String>("bridge", None)
        .await
        .map_err(|e| engine_error("cannot inspect Docker's bridge network", e))?;
    n.ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| c.gateway)
        .ok_or_else(|| {
            HostError::validation("Docker's bridge network has no gateway address")
                .with_hint("check `docker network inspect bridge`")
        })
}
