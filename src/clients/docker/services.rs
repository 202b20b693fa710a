//! Swarm: whether this engine is a manager of one, and services (one
//! replica each) created, inspected, updated, forced to a new task and
//! removed. bollard 0.18 has no tasks or nodes API, so where a task runs is
//! read from the service's placement constraint, and the task itself from
//! its container on this machine (labelled by Swarm with the service name).

use super::errors::{engine_error, is_not_found};
use super::models::{ServiceInfo, SwarmState};
use super::{label_filters, sorted, Docker, CONFIG_LABEL};
use crate::base::error::{HostError, HostResult};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, LocalNodeState, Mount, MountTypeEnum, MountVolumeOptions,
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, ServiceUpdateStatusStateEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use bollard::service::{InspectServiceOptions, ListServicesOptions, UpdateServiceOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The label Swarm puts on a task's container: the service's name.
pub const SERVICE_NAME_LABEL: &str = "com.docker.swarm.service.name";

/// What to do when this engine is not a Swarm manager.
pub const SWARM_HINT: &str = "make this engine a Swarm manager: `docker swarm init --advertise-addr 127.0.0.1` (one host), or run elysiactl on a manager of the swarm; or set weaviate.runtime = \"docker\"";

/// This engine's place in a swarm (from `GET /info`).
pub async fn swarm_state(docker: &Docker) -> HostResult<SwarmState> {
    let i = docker
        .info()
        .await
        .map_err(|e| engine_error("cannot read the Docker engine's info", e))?;
    let s = i.swarm.unwrap_or_default();
    let state = s.local_node_state.unwrap_or(LocalNodeState::EMPTY);
    Ok(SwarmState {
        active: state == LocalNodeState::ACTIVE,
        state: state.to_string(),
        manager: s.control_available.unwrap_or(false),
        node_id: s.node_id.unwrap_or_default(),
        hostname: i.name.unwrap_or_default(),
        nodes: s.nodes.unwrap_or(0),
    })
}

/// The swarm state, refused unless this engine is an active manager
/// (services can only be created and changed through a manager).
pub async fn require_manager(docker: &Docker) -> HostResult<SwarmState> {
    let s = swarm_state(docker).await?;
    if !s.active {
        return Err(HostError::validation(format!(
            "the swarm runtime needs Docker in Swarm mode, and this engine's swarm state is {:?}",
            if s.state.is_empty() {
                "inactive"
            } else {
                &s.state
            }
        ))
        .with_hint(SWARM_HINT));
    }
    if !s.manager {
        return Err(HostError::validation(
            "this Docker engine is a Swarm worker: services are created and changed through a manager",
        )
        .with_hint(SWARM_HINT));
    }
    Ok(s)
}

/// A port a service publishes in host mode: (host port, container port).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServicePort {
    pub published: u16,
    pub target: u16,
}

/// Everything a one-replica service is created with. Its `fingerprint()`
/// goes into the service's `io.elysiactl.config` label, so a changed
/// setting (or a rebuilt image, through `image_id`) is noticed later.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServiceDefinition {
    pub name: String,
    pub image: String,
    /// The local image's ID when the service was defined: Swarm resolves
    /// the tag when it makes a task, so a rebuilt image needs a new task.
    pub image_id: String,
    pub hostname: String,
    pub env: BTreeMap<String, String>,
    /// On the service and on its task's container.
    pub labels: BTreeMap<String, String>,
    /// Attachable overlay network, with these DNS aliases on it.
    pub network: String,
    pub aliases: Vec<String>,
    pub ports: Vec<ServicePort>,
    /// (volume name, path in the container); the volume is created with the
    /// labels on whichever host the task lands.
    pub volumes: Vec<(String, String)>,
    pub constraints: Vec<String>,
    pub stop_grace_seconds: u64,
    pub log_rotation: Option<crate::base::logfile::Rotation>,
}

impl ServiceDefinition {
    pub fn fingerprint(&self) -> String {
        let mut d = self.clone();
        d.labels.remove(CONFIG_LABEL);
        super::models::fingerprint(&d)
    }

    fn spec(&self, force_update: i64) -> ServiceSpec {
        let mut labels = self.labels.clone();
        labels.insert(CONFIG_LABEL.into(), self.fingerprint());
        let mounts = self
            .volumes
            .iter()
            .map(|(volume, target)| Mount {
                typ: Some(MountTypeEnum::VOLUME),
                source: Some(volume.clone()),
                target: Some(target.clone()),
                read_only: Some(false),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(self.labels.clone().into_iter().collect()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        ServiceSpec {
            name: Some(self.name.clone()),
            labels: Some(labels.clone().into_iter().collect()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(self.image.clone()),
                    labels: Some(self.labels.clone().into_iter().collect()),
                    hostname: Some(self.hostname.clone()),
                    env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    mounts: Some(mounts),
                    stop_grace_period: Some(
                        Duration::from_secs(self.stop_grace_seconds).as_nanos() as i64,
                    ),
                    ..Default::default()
                }),
                // As the docker runtime's `restart: no`: whether a stopped or
                // killed node comes back is elysiactl's decision (a chaos
                // fault lasts its duration), not the orchestrator's.
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(self.constraints.clone()),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some(self.network.clone()),
                    aliases: Some(self.aliases.clone()),
                    ..Default::default()
                }]),
                log_driver: self.log_rotation.filter(|r| r.max_bytes > 0).map(|r| {
                    TaskSpecLogDriver {
                        name: Some("json-file".into()),
                        options: Some(HashMap::from([
                            ("max-size".to_string(), r.max_bytes.to_string()),
                            ("max-file".to_string(), (r.keep + 1).to_string()),
                        ])),
                    }
                }),
                force_update: Some(force_update),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            // One replica: the old task goes before the new one starts, as
            // the port and the data volume can be held by one task only.
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(1),
                order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
                failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
                monitor: Some(Duration::from_secs(1).as_nanos() as i64),
                ..Default::default()
            }),
            // DNS round robin: a node's name resolves to its task's own
            // address (no virtual IP), which memberlist and RAFT need, and
            // host-mode ports need no ingress routing mesh.
            endpoint_spec: Some(EndpointSpec {
                mode: Some(EndpointSpecModeEnum::DNSRR),
                ports: Some(
                    self.ports
                        .iter()
                        .map(|p| EndpointPortConfig {
                            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                            target_port: Some(p.target as i64),
                            published_port: Some(p.published as i64),
                            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }
}

fn info_of(s: bollard::models::Service) -> ServiceInfo {
    let spec = s.spec.unwrap_or_default();
    let task = spec.task_template.unwrap_or_default();
    let status = s.service_status.unwrap_or_default();
    let update = s.update_status.unwrap_or_default();
    let labels = sorted(spec.labels);
    ServiceInfo {
        id: s.id.unwrap_or_default(),
        name: spec.name.unwrap_or_default(),
        version: s.version.and_then(|v| v.index).unwrap_or(0),
        owned: labels.contains_key(CONFIG_LABEL) && super::owned(&labels),
        labels,
        constraints: task
            .placement
            .and_then(|p| p.constraints)
            .unwrap_or_default(),
        force_update: task.force_update.unwrap_or(0),
        running_tasks: status.running_tasks,
        desired_tasks: status.desired_tasks,
        update_state: update.state.map(|s| s.to_string()).unwrap_or_default(),
        update_started: update.started_at.map(|t| t.to_string()).unwrap_or_default(),
        update_message: update.message.unwrap_or_default(),
        published_ports: spec
            .endpoint_spec
            .and_then(|e| e.ports)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.published_port.map(|p| p as u16))
            .collect(),
    }
}

/// Services, with their task counts, filtered by labels (all must match).
pub async fn list_services(
    docker: &Docker,
    labels: &[(&str, &str)],
) -> HostResult<Vec<ServiceInfo>> {
    let list = docker
        .list_services(Some(ListServicesOptions::<String> {
            filters: label_filters(labels),
            status: true,
        }))
        .await
        .map_err(|e| engine_error("cannot list Swarm services", e))?;
    let mut out: Vec<ServiceInfo> = list.into_iter().map(info_of).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The service of exactly this name, with its task counts; None when there is none.
pub async fn find_service(docker: &Docker, name: &str) -> HostResult<Option<ServiceInfo>> {
    // The engine's name filter matches prefixes: keep the exact name only.
    let list = docker
        .list_services(Some(ListServicesOptions::<String> {
            filters: HashMap::from([("name".to_string(), vec![name.to_string()])]),
            status: true,
        }))
        .await
        .map_err(|e| engine_error(&format!("cannot look up Swarm service {name}"), e))?;
    Ok(list.into_iter().map(info_of).find(|s| s.name == name))
}

pub async fn create_service(docker: &Docker, def: &ServiceDefinition) -> HostResult<String> {
    let created = docker
        .create_service(def.spec(0), None)
        .await
        .map_err(|e| engine_error(&format!("cannot create Swarm service {}", def.name), e))?;
    Ok(created.id.unwrap_or_default())
}

async fn current(docker: &Docker, name: &str) -> HostResult<(u64, ServiceSpec)> {
    let s = docker
        .inspect_service(name, None::<InspectServiceOptions>)
        .await
        .map_err(|e| engine_error(&format!("cannot inspect Swarm service {name}"), e))?;
    Ok((
        s.version.and_then(|v| v.index).unwrap_or(0),
        s.spec.unwrap_or_default(),
    ))
}

/// Replace the service's definition; Swarm replaces its task when that changed it.
pub async fn update_service(docker: &Docker, def: &ServiceDefinition) -> HostResult<()> {
    let (version, spec) = current(docker, &def.name).await?;
    let force = spec.task_template.and_then(|t| t.force_update).unwrap_or(0);
    docker
        .update_service(
            &def.name,
            def.spec(force),
            UpdateServiceOptions {
                version,
                ..Default::default()
            },
            None,
        )
        .await
        .map_err(|e| engine_error(&format!("cannot update Swarm service {}", def.name), e))?;
    Ok(())
}

/// A new task for the service with nothing else changed (`docker service
/// update --force`): Swarm's own way to restart a service's task.
pub async fn force_new_task(docker: &Docker, name: &str) -> HostResult<()> {
    let (version, mut spec) = current(docker, name).await?;
    let task = spec.task_template.get_or_insert_with(Default::default);
    task.force_update = Some(task.force_update.unwrap_or(0) + 1);
    docker
        .update_service(
            name,
            spec,
            UpdateServiceOptions {
                version,
                ..Default::default()
            },
            None,
        )
        .await
        .map_err(|e| engine_error(&format!("cannot update Swarm service {name}"), e))?;
    Ok(())
}

/// Wait until an update begun after `before` (the service's update start
/// time then) has completed; an update Swarm paused or rolled back is an
/// error with its message.
pub async fn wait_update_done(
    docker: &Docker,
    name: &str,
    before: &str,
    timeout: Duration,
) -> HostResult<()> {
    let started = std::time::Instant::now();
    loop {
        crate::base::cancel::check_interrupt()?;
        if let Some(s) = find_service(docker, name).await? {
            if s.update_started != before {
                let completed = ServiceUpdateStatusStateEnum::COMPLETED.to_string();
                let updating = ServiceUpdateStatusStateEnum::UPDATING.to_string();
                if s.update_state == completed {
                    return Ok(());
                }
                if s.update_state != updating && !s.update_state.is_empty() {
                    return Err(HostError::weaviate(format!(
                        "the update of Swarm service {name} ended {}: {}",
                        s.update_state, s.update_message
                    ))
                    .with_hint(format!(
                        "`docker service ps {name} --no-trunc` shows why its task failed"
                    )));
                }
            }
        }
        if started.elapsed() > timeout {
            return Err(HostError::timeout(format!(
                "the update of Swarm service {name} did not complete within {} s",
                timeout.as_secs()
            ))
            .with_hint(format!(
                "`docker service ps {name} --no-trunc` shows its tasks"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Remove a service (its task gets SIGTERM, then SIGKILL after the stop
/// grace period). Returns false when there was none.
pub async fn remove_service(docker: &Docker, name: &str) -> HostResult<bool> {
    match docker.delete_service(name).await {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(engine_error(
            &format!("cannot remove Swarm service {name}"),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_service_is_one_pinned_task_that_swarm_never_restarts_by_itself() {
        let def = ServiceDefinition {
            name: "c-weaviate-0".into(),
            image: "elysiactl/weaviate-swarm:x".into(),
            hostname: "weaviate-0".into(),
            network: "c".into(),
            aliases: vec!["weaviate-0".into()],
            ports: vec![ServicePort {
                published: 18080,
                target: 8080,
            }],
            volumes: vec![("c-weaviate-0-data".into(), "/var/lib/weaviate".into())],
            constraints: vec!["node.hostname==h".into()],
            stop_grace_seconds: 30,
            ..Default::default()
        };
        let spec = def.spec(4);
        let task = spec.task_template.as_ref().unwrap();
        assert_eq!(task.force_update, Some(4));
        assert_eq!(
            task.restart_policy.as_ref().unwrap().condition,
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        let c = task.container_spec.as_ref().unwrap();
        assert_eq!(c.stop_grace_period, Some(30_000_000_000));
        assert_eq!(c.hostname.as_deref(), Some("weaviate-0"));
        let endpoint = spec.endpoint_spec.as_ref().unwrap();
        assert_eq!(endpoint.mode, Some(EndpointSpecModeEnum::DNSRR));
        let port = &endpoint.ports.as_ref().unwrap()[0];
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(
            (port.published_port, port.target_port),
            (Some(18080), Some(8080))
        );
        assert_eq!(
            spec.update_config.as_ref().unwrap().order,
            Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST)
        );
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(1));
        // The settings fingerprint is on the service, and ignores itself.
        let labels = spec.labels.unwrap();
        assert_eq!(labels[CONFIG_LABEL], def.fingerprint());
        let mut again = def.clone();
        again.labels.insert(CONFIG_LABEL.into(), "old".into());
        assert_eq!(again.fingerprint(), def.fingerprint());
    }
}
