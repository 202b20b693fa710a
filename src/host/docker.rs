//! Script access to the Docker engine, through its API (never the `docker`
//! command). Reads see everything the engine shows; writes (stop, start,
//! pause, unpause, remove) are limited to containers elysiactl created, i.e.
//! those labelled `io.elysiactl.owned=true` (together with the
//! `io.elysiactl.config` fingerprint elysiactl sets at creation, since a
//! container inherits its image's labels and elysiactl's image carries the
//! owned label too): a script cannot stop or delete someone else's container.
//!
//! Under `--dry-run` the writes only say what they would do (the container's
//! current state, the state it would end in) and remember that state, so a
//! later `docker.inspect()` or `docker.containers()` in the same run sees it.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::clients::docker::{
    self as dk, ContainerDetails, Docker, CLUSTER_LABEL, CONFIG_LABEL, OWNED_LABEL,
};
use serde_json::{json, Value};
use std::time::Duration;

fn connect(host: &Host) -> HostResult<Docker> {
    host.block_on(dk::connect())
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Key of a simulated container state in the dry-run plan (by short ID, as lists show it).
fn fact_key(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    format!("docker.container.{}", &id[..id.len().min(12)])
}

/// Under `--dry-run`, the state an earlier simulated write left the container in.
fn simulated_state(host: &Host, id: &str) -> Option<String> {
    if !host.dry_run {
        return None;
    }
    host.plan
        .fact(&fact_key(id))
        .and_then(|v| v.as_str().map(str::to_string))
}

/// A container a script may change: it exists and carries `io.elysiactl.owned=true`.
fn owned_container(
    host: &Host,
    docker: &Docker,
    function: &str,
    name: &str,
) -> HostResult<ContainerDetails> {
    if name.trim().is_empty() {
        return Err(HostError::validation(format!(
            "docker.{function}(): the container name is empty"
        ))
        .with_hint("pass a container name or ID, e.g. \"elysiactl-weaviate-0\""));
    }
    let c = host.block_on(dk::inspect(docker, name))?;
    if !c.owned {
        return Err(HostError::validation(format!(
            "docker.{function}(): container {} is not managed by elysiactl (elysiactl marks the containers it creates with {OWNED_LABEL}=true and {CONFIG_LABEL}; a label inherited from an image does not count); scripts may only change containers elysiactl created",
            c.name
        ))
        .with_hint(
            "docker.containers(#{owned: true, all: true}) lists the containers a script may change; manage others with Docker's own tools",
        ));
    }
    if simulated_state(host, &c.id).as_deref() == Some("removed") {
        return Err(HostError::validation(format!(
            "docker.{function}(): container {} was removed earlier in this dry run",
            c.name
        )));
    }
    Ok(c)
}

/// The state a container is in, taking earlier simulated writes into account.
fn current_state(host: &Host, c: &ContainerDetails) -> String {
    simulated_state(host, &c.id).unwrap_or_else(|| c.state.clone())
}

// --- reads -----------------------------------------------------------------

fn available(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.block_on(dk::available())))
}

fn info(host: &Host, _: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    Ok(to_value(&host.block_on(dk::info(&docker))?))
}

fn containers(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let all = o.bool("all", false)?;
    let only_owned = o.bool("owned", false)?;
    let cluster = o.str("cluster")?;
    let mut labels: Vec<(&str, &str)> = Vec::new();
    if only_owned {
        labels.extend(dk::OWNED_CONTAINER_FILTER);
    }
    if let Some(c) = cluster.as_deref() {
        labels.push((CLUSTER_LABEL, c));
    }
    let docker = connect(host)?;
    let list = host.block_on(dk::list_containers(&docker, all || host.dry_run, &labels))?;
    let mut rows = Vec::new();
    for c in list {
        let mut row = to_value(&c);
        if host.dry_run {
            match simulated_state(host, &c.id).as_deref() {
                Some("removed") => continue,
                Some(state) => row["state"] = json!(state),
                None => {}
            }
            let state = row["state"].as_str().unwrap_or_default().to_string();
            if !all && state != "running" && state != "paused" {
                continue;
            }
        }
        rows.push(row);
    }
    Ok(Value::Array(rows))
}

fn networks(host: &Host, _: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    Ok(to_value(&host.block_on(dk::list_networks(&docker, &[]))?))
}

fn images(host: &Host, _: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    Ok(to_value(&host.block_on(dk::list_images(&docker))?))
}

fn volumes(host: &Host, _: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    Ok(to_value(&host.block_on(dk::list_volumes(&docker, &[]))?))
}

fn stats(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    let docker = connect(host)?;
    Ok(to_value(&host.block_on(dk::stats(&docker, &name))?))
}

fn logs(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    let o = a.opts(1)?;
    let tail = o.int("tail")?.unwrap_or(50);
    if !(1..=10_000).contains(&tail) {
        return Err(HostError::validation(format!(
            "docker.logs(): option `tail` must be between 1 and 10000, got {tail}"
        )));
    }
    let docker = connect(host)?;
    Ok(json!(host.block_on(dk::logs_tail(
        &docker,
        &name,
        tail as usize
    ))?))
}

fn inspect(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    let docker = connect(host)?;
    let c = host.block_on(dk::inspect(&docker, &name))?;
    let mut v = to_value(&c);
    if let Some(state) = simulated_state(host, &c.id) {
        if state == "removed" {
            return Err(HostError::validation(format!(
                "there is no container named {name} (removed earlier in this dry run)"
            )));
        }
        v["running"] = json!(state == "running" || state == "paused");
        v["paused"] = json!(state == "paused");
        v["state"] = json!(state);
    }
    Ok(v)
}

// --- writes ----------------------------------------------------------------

fn stop_timeout(host: &Host, a: &Args) -> HostResult<Duration> {
    let o = a.opts(1)?;
    Ok(o.duration("timeout")?
        .unwrap_or(Duration::from_secs(host.config.weaviate.stop_timeout)))
}

fn stop(host: &Host, a: &Args) -> HostResult<Value> {
    let timeout = stop_timeout(host, a)?;
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "stop", &a.str(0)?)?;
    let outcome = host.block_on(dk::stop_container(&docker, &c.id, timeout))?;
    let after = host.block_on(dk::inspect(&docker, &c.id))?;
    Ok(json!({
        "container": c.name,
        "outcome": outcome,
        "state": after.state,
        "exit_code": after.exit_code,
    }))
}

fn simulate_stop(host: &Host, a: &Args) -> HostResult<Value> {
    let timeout = stop_timeout(host, a)?;
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "stop", &a.str(0)?)?;
    let before = current_state(host, &c);
    let running = before == "running" || before == "paused";
    let after = if running { "exited" } else { before.as_str() };
    host.plan.set_fact(&fact_key(&c.id), json!(after));
    Ok(json!({
        "dry_run": true,
        "container": c.name,
        "would": if running {
            format!("send SIGTERM, then SIGKILL after {} s", timeout.as_secs().max(1))
        } else {
            "nothing: it is not running".to_string()
        },
        "state_before": before,
        "state": after,
        "outcome": if running { "terminated" } else { "not running" },
        // Known once it has stopped; a stopped one keeps the code it has.
        "exit_code": if running { None } else { c.exit_code },
    }))
}

fn start(host: &Host, a: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "start", &a.str(0)?)?;
    if c.paused {
        return Err(HostError::validation(format!(
            "docker.start(): container {} is paused",
            c.name
        ))
        .with_hint("use docker.unpause() to let it continue"));
    }
    if !c.running {
        host.block_on(dk::start_container(&docker, &c.id))?;
    }
    let after = host.block_on(dk::inspect(&docker, &c.id))?;
    Ok(json!({
        "container": c.name,
        "state": after.state,
        "was_running": c.running,
        "pid": after.pid,
    }))
}

fn simulate_start(host: &Host, a: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "start", &a.str(0)?)?;
    let before = current_state(host, &c);
    if before == "paused" {
        return Err(HostError::validation(format!(
            "docker.start(): container {} is paused",
            c.name
        ))
        .with_hint("use docker.unpause() to let it continue"));
    }
    host.plan.set_fact(&fact_key(&c.id), json!("running"));
    Ok(json!({
        "dry_run": true,
        "container": c.name,
        "would": if before == "running" { "nothing: it already runs" } else { "start it" },
        "state_before": before,
        "state": "running",
        "was_running": before == "running",
        "pid": if before == "running" { c.pid } else { None },
    }))
}

fn pause(host: &Host, a: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "pause", &a.str(0)?)?;
    if !c.running {
        return Err(not_running("pause", &c));
    }
    if !c.paused {
        host.block_on(dk::pause_container(&docker, &c.id))?;
    }
    Ok(json!({"container": c.name, "state": "paused", "was_paused": c.paused}))
}

fn not_running(function: &str, c: &ContainerDetails) -> HostError {
    HostError::validation(format!(
        "docker.{function}(): container {} is not running (state {})",
        c.name, c.state
    ))
    .with_hint(format!("start it first with docker.start(\"{}\")", c.name))
}

fn simulate_pause(host: &Host, a: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "pause", &a.str(0)?)?;
    let before = current_state(host, &c);
    if before != "running" && before != "paused" {
        return Err(not_running("pause", &c));
    }
    host.plan.set_fact(&fact_key(&c.id), json!("paused"));
    Ok(json!({
        "dry_run": true,
        "container": c.name,
        "would": "freeze all its processes (cgroup freezer); it keeps its memory and ports",
        "state_before": before,
        "state": "paused",
        "was_paused": before == "paused",
    }))
}

fn unpause(host: &Host, a: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "unpause", &a.str(0)?)?;
    if c.paused {
        host.block_on(dk::unpause_container(&docker, &c.id))?;
    }
    let after = host.block_on(dk::inspect(&docker, &c.id))?;
    Ok(json!({"container": c.name, "state": after.state, "was_paused": c.paused}))
}

fn simulate_unpause(host: &Host, a: &Args) -> HostResult<Value> {
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "unpause", &a.str(0)?)?;
    let before = current_state(host, &c);
    let after = if before == "paused" {
        "running"
    } else {
        before.as_str()
    };
    host.plan.set_fact(&fact_key(&c.id), json!(after));
    Ok(json!({
        "dry_run": true,
        "container": c.name,
        "would": if before == "paused" { "let its processes continue" } else { "nothing: it is not paused" },
        "state_before": before,
        "state": after,
        "was_paused": before == "paused",
    }))
}

struct RemoveOpts {
    force: bool,
    volumes: bool,
}

fn remove_opts(a: &Args) -> HostResult<RemoveOpts> {
    let o = a.opts(1)?;
    Ok(RemoveOpts {
        force: o.bool("force", false)?,
        volumes: o.bool("volumes", false)?,
    })
}

fn refuse_running(c: &ContainerDetails, state: &str) -> HostResult<()> {
    if state == "running" || state == "paused" {
        return Err(HostError::validation(format!(
            "docker.remove(): container {} is {state}",
            c.name
        ))
        .with_hint(format!(
            "stop it first with docker.stop(\"{}\"), or pass #{{force: true}} to kill and remove it",
            c.name
        )));
    }
    Ok(())
}

fn remove(host: &Host, a: &Args) -> HostResult<Value> {
    let opts = remove_opts(a)?;
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "remove", &a.str(0)?)?;
    if !opts.force {
        refuse_running(&c, &c.state)?;
    }
    host.block_on(dk::remove_container(
        &docker,
        &c.id,
        opts.force,
        opts.volumes,
    ))?;
    Ok(json!({"container": c.name, "removed": true, "state_before": c.state}))
}

fn simulate_remove(host: &Host, a: &Args) -> HostResult<Value> {
    let opts = remove_opts(a)?;
    let docker = connect(host)?;
    let c = owned_container(host, &docker, "remove", &a.str(0)?)?;
    let before = current_state(host, &c);
    if !opts.force {
        refuse_running(&c, &before)?;
    }
    host.plan.set_fact(&fact_key(&c.id), json!("removed"));
    let mut would = String::new();
    if before == "running" || before == "paused" {
        would.push_str("kill it (SIGKILL), then ");
    }
    would.push_str("delete the container");
    if opts.volumes {
        would.push_str(" and its anonymous volumes");
    }
    would.push_str("; named volumes (node data) stay");
    Ok(json!({
        "dry_run": true,
        "container": c.name,
        "would": would,
        "state_before": before,
        "state": "removed",
        "removed": true,
    }))
}

pub fn functions() -> Vec<HostFn> {
    let container = || Ty::Str;
    vec![
        read("docker", "available", available)
            .returns(Ty::Bool)
            .doc("Whether a Docker engine answers on its socket (DOCKER_HOST=unix://… or /var/run/docker.sock). Check it before other docker.* calls to fall back gracefully: `if !docker.available() { out.warn(\"no Docker here\"); return; }`."),
        read("docker", "info", info)
            .returns(Ty::Map)
            .doc("Facts about the engine: server_version, api_version, os, kernel, cpus, memory_bytes, storage_driver, cgroup_version, containers / containers_running / containers_paused / containers_stopped, images, warnings."),
        read("docker", "containers", containers)
            .opts(vec![
                opt("all", Ty::Bool),
                opt("owned", Ty::Bool),
                opt("cluster", Ty::Str),
            ])
            .returns(Ty::array(Ty::Map))
            .doc("Containers, like `docker ps`. opts: all (also stopped ones, default false), owned (only those elysiactl created, default false), cluster (only that weaviate.cluster_name). Each row: id, name, image, state (running, paused, exited, …), status, ports, host_ports, networks, labels, owned, cluster, node. Example: docker.containers(#{owned: true, all: true})."),
        read("docker", "networks", networks)
            .returns(Ty::array(Ty::Map))
            .doc("Networks: id, name, driver, scope, internal, subnets, labels, owned. The cluster's bridge network is named after weaviate.cluster_name."),
        read("docker", "images", images)
            .returns(Ty::array(Ty::Map))
            .doc("Local images: id, tags, size_bytes, created (Unix seconds), labels, owned. `elysiactl install weaviate` builds elysiactl/weaviate:<version>."),
        read("docker", "volumes", volumes)
            .returns(Ty::array(Ty::Map))
            .doc("Volumes: name, driver, mountpoint, labels, owned. Node data lives in <cluster_name>-weaviate-N-data."),
        read("docker", "stats", stats)
            .param("container", container())
            .returns(Ty::Map)
            .doc("Resource use of a running container: cpu_percent (over about a second, percent of one core: 200 = two cores busy), memory_bytes (without page cache, as `docker stats`), memory_limit_bytes, memory_percent, pids, net_rx_bytes, net_tx_bytes. Takes about a second: the engine samples twice."),
        read("docker", "logs", logs)
            .param("container", container())
            .opts(vec![opt("tail", Ty::Int)])
            .returns(Ty::array(Ty::Str))
            .doc("The last lines of a container's output, stdout and stderr merged in order. opts: tail (lines, default 50, at most 10000). Example: for l in docker.logs(\"elysiactl-weaviate-0\", #{tail: 20}) { out.line(l) }."),
        read("docker", "inspect", inspect)
            .param("container", container())
            .returns(Ty::Map)
            .doc("One container in detail: id, short_id, name, image, image_id, hostname, state, running, paused, exit_code, oom_killed, error, pid, started_at, uptime_seconds, restart_count, labels, owned, ports, networks, mounts. The environment is left out (it may hold API keys)."),
        write("docker", "stop", stop, simulate_stop)
            .param("container", container())
            .opts(vec![opt("timeout", Ty::Duration)])
            .returns(Ty::record(&["container", "outcome", "state", "exit_code"]))
            .doc("Stop a container elysiactl created: SIGTERM, then SIGKILL after opts.timeout (seconds or \"30s\"; default weaviate.stop_timeout). A paused container is unpaused first. Returns container, outcome (\"terminated\", \"killed\" or \"not running\"), state, exit_code. Containers without io.elysiactl.owned=true are refused."),
        write("docker", "start", start, simulate_start)
            .param("container", container())
            .returns(Ty::record(&["container", "state", "was_running", "pid"]))
            .doc("Start a stopped container elysiactl created (no-op when it runs; a paused one needs docker.unpause). Returns container, state, was_running, pid. Containers without io.elysiactl.owned=true are refused."),
        write("docker", "pause", pause, simulate_pause)
            .param("container", container())
            .returns(Ty::record(&["container", "state", "was_paused"]))
            .doc("Freeze every process of a running container elysiactl created (it keeps memory and ports but answers nothing): a way to simulate a hung node. Undo with docker.unpause. Containers without io.elysiactl.owned=true are refused."),
        write("docker", "unpause", unpause, simulate_unpause)
            .param("container", container())
            .returns(Ty::record(&["container", "state", "was_paused"]))
            .doc("Let a paused container continue. Returns container, state, was_paused. Containers without io.elysiactl.owned=true are refused."),
        write("docker", "remove", remove, simulate_remove)
            .param("container", container())
            .opts(vec![opt("force", Ty::Bool), opt("volumes", Ty::Bool)])
            .returns(Ty::record(&["container", "removed", "state_before"]))
            .doc("Delete a container elysiactl created. A running one is refused unless opts.force (then it is killed). opts.volumes also deletes its anonymous volumes; named volumes (node data) always stay. Containers without io.elysiactl.owned=true are refused."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_the_container_changes_and_say_whose_containers() {
        let fns = functions();
        for f in &fns {
            assert_eq!(f.module, "docker");
            let planned = f.simulation_for(&[json!("c")]).is_some();
            assert_eq!(
                planned,
                f.effect == super::super::Effect::Write,
                "{}",
                f.name
            );
            if planned {
                assert!(f.doc.contains("io.elysiactl.owned"), "{}", f.name);
            }
        }
        for name in ["stop", "start", "pause", "unpause", "remove"] {
            let f = fns.iter().find(|f| f.name == name).unwrap();
            assert_eq!(f.effect, super::super::Effect::Write, "{name}");
        }
    }

    fn host(dry_run: bool) -> (tokio::runtime::Runtime, std::sync::Arc<Host>) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let h = Host::new(
            crate::base::config::Config::default(),
            rt.handle().clone(),
            dry_run,
        );
        (rt, h)
    }

    fn call(h: &Host, name: &str, args: Vec<Value>) -> HostResult<Value> {
        let f = super::super::find(&format!("docker.{name}")).expect("registered");
        h.call(f, args)
    }

    #[test]
    fn bad_options_are_refused_before_the_engine_is_asked() {
        let (_rt, h) = host(false);
        let e = call(&h, "logs", vec![json!("x"), json!({"tial": 5})]).unwrap_err();
        assert!(e.message.contains("tial") && e.hint.contains("tail"), "{e}");
        let e = call(&h, "logs", vec![json!("x"), json!({"tail": 0})]).unwrap_err();
        assert!(e.message.contains("tail"), "{e}");
        let e = call(&h, "containers", vec![json!({"all": "yes"})]).unwrap_err();
        assert!(e.message.contains("all"), "{e}");
        let e = call(&h, "remove", vec![json!("x"), json!({"forse": true})]).unwrap_err();
        assert!(e.message.contains("forse"), "{e}");
    }

    #[test]
    fn fact_keys_match_short_ids() {
        assert_eq!(fact_key("3a1c6b3130ba0123456789"), fact_key("3a1c6b3130ba"));
    }

    /// The sandbox rule against a real engine: a container without the owned
    /// label cannot be stopped, started, paused or removed by a script, in a
    /// real run or a dry run; an owned one can be, and dry runs remember it.
    /// Needs dockerd and the image `elysiactl install weaviate` builds
    /// (skipped without them, except under CI, where they must be there).
    #[test]
    fn scripts_cannot_touch_foreign_containers() {
        let (rt, h) = host(false);
        let (_rt2, dry) = host(true);
        use crate::base::testing::require;
        let Ok(docker) = rt.block_on(dk::connect()) else {
            require("a Docker engine", false, "apt-get install docker.io");
            return;
        };
        let image = crate::base::config::WeaviateConfig::default().image_name();
        if !require(
            &format!("the image {image}"),
            rt.block_on(dk::image_exists(&docker, &image)),
            "elysiactl install weaviate",
        ) {
            return;
        }
        // Names of this process's own: two test runs must not share containers.
        let owned = format!("elysiactl-sandbox-owned-{}", std::process::id());
        let mut mine = dk::ContainerSpec {
            name: owned.clone(),
            image: image.clone(),
            ..Default::default()
        };
        mine.labels.insert(OWNED_LABEL.into(), "true".into());
        // Someone else's container, made from elysiactl's image (so it inherits
        // the image's owned label) and even labelled owned explicitly.
        let foreign = dk::ContainerSpec {
            name: format!("elysiactl-sandbox-foreign-{}", std::process::id()),
            ..mine.clone()
        };
        // Removed however the test ends.
        struct Cleanup<'a>(&'a tokio::runtime::Runtime, &'a Docker, [String; 2]);
        impl Drop for Cleanup<'_> {
            fn drop(&mut self) {
                for name in &self.2 {
                    let _ = self
                        .0
                        .block_on(dk::remove_container(self.1, name, true, false));
                }
            }
        }
        let _cleanup = Cleanup(&rt, &docker, [foreign.name.clone(), mine.name.clone()]);
        rt.block_on(dk::create_container(&docker, &mine)).unwrap();
        rt.block_on(docker.create_container(
            Some(bollard::container::CreateContainerOptions {
                name: foreign.name.clone(),
                platform: None,
            }),
            bollard::container::Config {
                image: Some(image.clone()),
                labels: Some(std::collections::HashMap::from([(
                    OWNED_LABEL.to_string(),
                    "true".to_string(),
                )])),
                ..Default::default()
            },
        ))
        .unwrap();
        for host in [&h, &dry] {
            for f in ["stop", "start", "pause", "unpause", "remove"] {
                let e = call(host, f, vec![json!(foreign.name)]).unwrap_err();
                assert_eq!(e.category, crate::base::error::Category::Validation);
                assert!(e.message.contains("not managed by elysiactl"), "{f}: {e}");
            }
        }
        // Dry run: the plan remembers the simulated removal.
        let v = call(&dry, "remove", vec![json!(mine.name)]).unwrap();
        assert_eq!(v["dry_run"], json!(true));
        assert!(call(&dry, "inspect", vec![json!(mine.name)]).is_err());
        let listed = call(
            &dry,
            "containers",
            vec![json!({"all": true, "owned": true})],
        )
        .unwrap();
        assert!(!listed.to_string().contains(&owned), "{listed}");
        // Real run: it still exists, and an owned container may be driven.
        let v = call(&h, "inspect", vec![json!(mine.name)]).unwrap();
        assert_eq!(v["state"], json!("created"));
        assert_eq!(v["owned"], json!(true));
        let name = json!(mine.name);
        let v = call(&h, "start", vec![name.clone()]).unwrap();
        assert_eq!(v["state"], json!("running"), "{v}");
        let listed = call(&h, "containers", vec![json!({"owned": true})]).unwrap();
        assert!(listed.to_string().contains(&owned), "{listed}");
        assert!(!listed.to_string().contains(&foreign.name), "{listed}");
        let st = call(&h, "stats", vec![name.clone()]).unwrap();
        assert!(st["memory_bytes"].as_u64().unwrap_or(0) > 0, "{st}");
        let v = call(&h, "pause", vec![name.clone()]).unwrap();
        assert_eq!(v["state"], json!("paused"));
        let v = call(&h, "unpause", vec![name.clone()]).unwrap();
        assert_eq!(v["state"], json!("running"));
        let e = call(&h, "remove", vec![name.clone()]).unwrap_err();
        assert!(e.hint.contains("force"), "{e}");
        // Dry-run stop says what would happen and changes nothing (a new dry
        // run: the first one already simulated the removal of this container).
        let (_rt3, dry) = host(true);
        let v = call(&dry, "stop", vec![name.clone(), json!({"timeout": "5s"})]).unwrap();
        assert_eq!(v["state_before"], json!("running"), "{v}");
        assert_eq!(
            call(&h, "inspect", vec![name.clone()]).unwrap()["state"],
            json!("running")
        );
        let v = call(&h, "stop", vec![name.clone(), json!({"timeout": 10})]).unwrap();
        assert_eq!(v["outcome"], json!("terminated"), "{v}");
        let logs = call(&h, "logs", vec![name.clone(), json!({"tail": 3})]).unwrap();
        assert!(
            !logs.as_array().unwrap().is_empty() && logs.as_array().unwrap().len() <= 3,
            "{logs}"
        );
        let v = call(&h, "remove", vec![name.clone()]).unwrap();
        assert_eq!(v["removed"], json!(true));
    }
}
