//! Volumes: list, create if missing (refusing one that is not ours), remove.

use super::errors::{engine_error, is_not_found};
use super::models::VolumeInfo;
use super::{label_filters, owned, Docker, OWNED_LABEL};
use crate::base::error::{HostError, HostResult};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use std::collections::BTreeMap;

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
