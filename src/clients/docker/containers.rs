//! Containers: list, inspect, create, start, stop, remove, pause, and the
//! tail of their output.

use super::errors::{engine_error, is_not_found};
use super::models::{
    ContainerDetails, ContainerInfo, ContainerSpec, NetworkAttachment, PortMapping,
};
use super::{
    container_owned, label_filters, short_id, sorted, Docker, CLUSTER_LABEL, CONFIG_LABEL,
    NODE_LABEL,
};
use crate::base::error::{HostError, HostResult};
use bollard::container::{
    Config, CreateContainerOptions, InspectContainerOptions, KillContainerOptions,
    ListContainersOptions, LogsOptions, NetworkingConfig, RemoveContainerOptions,
    StartContainerOptions, StopContainerOptions, UpdateContainerOptions,
};
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, EndpointSettings, HostConfig, HostConfigLogConfig, Mount,
    MountTypeEnum, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

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

/// A container's output between `since` and `until` (Unix seconds, 0 for
/// no bound), each line with the time the engine stamped it (RFC 3339 with
/// nanoseconds); `tail` keeps only the last lines. The engine's bounds are
/// whole seconds: the caller trims to finer ones.
pub async fn logs_between(
    docker: &Docker,
    name: &str,
    since: i64,
    until: i64,
    tail: Option<usize>,
) -> HostResult<Vec<(String, String)>> {
    let mut stream = docker.logs(
        name,
        Some(LogsOptions::<String> {
            follow: false,
            stdout: true,
            stderr: true,
            timestamps: true,
            since,
            until,
            tail: tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
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
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((stamp, line)) => (stamp.to_string(), line.to_string()),
            None => (String::new(), l.to_string()),
        })
        .collect())
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
            extra_hosts: (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.clone()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            log_config: spec.log_rotation.filter(|r| r.max_bytes > 0).map(|r| {
                HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    // The current file counts among json-file's max-file.
                    config: Some(HashMap::from([
                        ("max-size".to_string(), r.max_bytes.to_string()),
                        ("max-file".to_string(), (r.keep + 1).to_string()),
                    ])),
                }
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

/// SIGKILL the container's process at once (`docker kill`): no grace
/// period, the container stays, exited with 137.
pub async fn kill_container(docker: &Docker, name: &str) -> HostResult<()> {
    docker
        .kill_container(name, Some(KillContainerOptions { signal: "SIGKILL" }))
        .await
        .map_err(|e| {
            if is_not_found(&e) {
                no_such_container(name)
            } else {
                engine_error(&format!("cannot kill container {name}"), e)
            }
        })
}

/// The container's CFS quota in microseconds per period (0 or -1: none).
pub async fn cpu_quota(docker: &Docker, name: &str) -> HostResult<i64> {
    let c = docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map_err(|e| {
            if is_not_found(&e) {
                no_such_container(name)
            } else {
                engine_error(&format!("cannot inspect container {name}"), e)
            }
        })?;
    Ok(c.host_config.and_then(|h| h.cpu_quota).unwrap_or(0))
}

/// Set the container's CFS quota per 100 ms period (`docker update
/// --cpu-quota`); -1 removes the limit (0 would mean "unchanged" to the engine).
pub async fn set_cpu_quota(docker: &Docker, name: &str, quota: i64) -> HostResult<()> {
    docker
        .update_container(
            name,
            UpdateContainerOptions::<String> {
                cpu_period: Some(100_000),
                cpu_quota: Some(quota),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            if is_not_found(&e) {
                no_such_container(name)
            } else {
                engine_error(
                    &format!("cannot update the CPU quota of container {name}"),
                    e,
                )
            }
        })
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

/// Run `cmd` inside a running container (`docker exec`) and wait for it:
/// its exit code and what it printed (stdout and stderr together).
pub async fn exec(docker: &Docker, name: &str, cmd: &[&str]) -> HostResult<(i64, String)> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let created = docker
        .create_exec(
            name,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| engine_error(&format!("cannot run {} in {name}", cmd.join(" ")), e))?;
    let mut printed = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(|e| engine_error(&format!("cannot run {} in {name}", cmd.join(" ")), e))?
    {
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(c) => printed.push_str(&String::from_utf8_lossy(&c.into_bytes())),
                Err(e) => return Err(engine_error(&format!("reading {} in {name}", cmd[0]), e)),
            }
        }
    }
    let inspected = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| engine_error(&format!("cannot read how {} ended in {name}", cmd[0]), e))?;
    Ok((inspected.exit_code.unwrap_or(-1), printed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_since_ignores_zero_time() {
        assert_eq!(seconds_since("0001-01-01T00:00:00Z"), None);
        assert_eq!(seconds_since(""), None);
        assert!(seconds_since("2020-01-01T00:00:00.123456789Z").unwrap() > 1e7);
    }
}
