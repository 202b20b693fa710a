//! Latency with jitter, through Toxiproxy. This kernel has no `sch_netem`,
//! so there is no `tc netem` delay between the nodes; what the tool can
//! delay is the paths it controls: a client pointed at a proxy in front of
//! a node's REST port. The fault starts Toxiproxy's server when none runs
//! (PID file `run/toxiproxy.pid`, its API on a free port kept in
//! `run/toxiproxy.port`), makes the proxy `CLUSTER-NODE` on a free port of
//! 127.0.0.1 with a `latency` toxic (every chunk of the node's answers
//! delayed), and returns the proxy's address. The undo deletes the proxy,
//! and stops the server when no latency fault is left; `chaos reset` also
//! deletes this cluster's proxies a crash left behind.

use super::network::Applied;
use super::{
    ensure_reaper, fault_duration, journal, mark_applied, now_ms, rfc3339_ms, Fault, NodeAction,
    Registry,
};
use crate::base::config::RuntimeKind;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// A proxy a latency fault made, kept in the registry for its undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    pub name: String,
    /// Where clients connect: "127.0.0.1:PORT".
    pub listen: String,
    /// The node's REST address it forwards to.
    pub upstream: String,
    pub latency_ms: u64,
    pub jitter_ms: u64,
}

fn pid_file() -> PathBuf {
    paths::run_dir().join("toxiproxy.pid")
}

fn port_file() -> PathBuf {
    paths::run_dir().join("toxiproxy.port")
}

fn free_port() -> HostResult<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| HostError::io("cannot find a free port on 127.0.0.1", e))
}

/// The running server's API address, if one runs.
fn running_api() -> Option<String> {
    match proc::pid_state(&pid_file()).ok()? {
        PidState::Running { .. } => {}
        _ => return None,
    }
    let port = std::fs::read_to_string(port_file()).ok()?;
    Some(format!("127.0.0.1:{}", port.trim()))
}

async fn call(
    ctx: &Context,
    method: reqwest::Method,
    api: &str,
    path: &str,
    body: Option<Value>,
) -> HostResult<Value> {
    let mut req = ctx
        .http
        .request(method.clone(), format!("http://{api}{path}"))
        .timeout(Duration::from_secs(5));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.map_err(|e| {
        HostError::network(format!(
            "Toxiproxy at {api} did not answer {method} {path}: {e}"
        ))
    })?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(HostError::validation(format!(
            "Toxiproxy answered {method} {path} with {status}: {}",
            text.trim()
        )));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Start Toxiproxy's server when none runs, and wait for its API.
fn ensure_server(ctx: &Context) -> HostResult<String> {
    if let Some(api) = running_api() {
        return Ok(api);
    }
    let binary = match ctx.config.chaos.toxiproxy_binary.as_str() {
        "" => crate::install::toxiproxy_binary(),
        path => PathBuf::from(path),
    };
    if !binary.exists() {
        return Err(HostError::fs(format!(
            "Toxiproxy's server {} is missing; latency goes through it (this kernel has no sch_netem for tc netem)",
            binary.display()
        ))
        .with_hint("run `elysiactl install toxiproxy`, or set chaos.toxiproxy_binary in the config"));
    }
    let port = free_port()?;
    std::fs::create_dir_all(paths::run_dir())
        .map_err(|e| HostError::io("cannot create the run folder", e))?;
    std::fs::write(port_file(), port.to_string())
        .map_err(|e| HostError::io(format!("cannot write {}", port_file().display()), e))?;
    proc::spawn(&proc::SpawnSpec {
        program: binary,
        args: vec![
            "-host".into(),
            "127.0.0.1".into(),
            "-port".into(),
            port.to_string(),
        ],
        pid_file: pid_file(),
        log_file: paths::log_dir().join("toxiproxy.log"),
        ..Default::default()
    })?;
    let api = format!("127.0.0.1:{port}");
    let t0 = std::time::Instant::now();
    loop {
        if ctx
            .block_on(call(ctx, reqwest::Method::GET, &api, "/version", None))
            .is_ok()
        {
            return Ok(api);
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(HostError::network(format!(
                "Toxiproxy's server did not answer on {api} within 10 s"
            ))
            .with_hint("its log is logs/toxiproxy.log in the state folder"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop the server this tool started, when no latency fault needs it.
fn stop_server_if_idle(active: &[Fault]) -> bool {
    if active.iter().any(|f| f.action == NodeAction::Latency) {
        return false;
    }
    let Ok(Some(rec)) = proc::read_pid_file(&pid_file()) else {
        return false;
    };
    let stopped = proc::terminate(rec, Duration::from_secs(5)).is_ok();
    let _ = std::fs::remove_file(pid_file());
    let _ = std::fs::remove_file(port_file());
    stopped
}

pub fn proxy_name(cluster: &str, node: &str) -> String {
    format!("{cluster}-{node}")
}

/// The fault a latency would be: a proxy on a free port in front of the
/// node's REST port, with a latency toxic.
pub fn plan(
    ctx: &Context,
    index: usize,
    latency: Duration,
    jitter: Duration,
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    if latency.is_zero() || latency > Duration::from_secs(60) || jitter > latency {
        return Err(HostError::validation(format!(
            "a latency must be above 0 and at most 60s, with a jitter no larger than it; got {} ± {}",
            crate::base::units::format_duration(latency),
            crate::base::units::format_duration(jitter)
        ))
        .with_hint("e.g. --latency 500ms --jitter 50ms"));
    }
    let n = ctx.config.weaviate.nodes;
    if index >= n {
        return Err(HostError::validation(format!(
            "there is no node {index}: the cluster has {n} nodes"
        )));
    }
    let rt = crate::services::weaviate::runtime_for(ctx)?;
    if rt.kind() == RuntimeKind::Remote {
        return Err(crate::runtime::remote::managed_elsewhere(
            &ctx.config.weaviate,
            "delay its traffic",
        ));
    }
    let spec = ctx.config.weaviate.node(index);
    if !rt.node_state(index)?.running {
        return Err(
            HostError::validation(format!("{} is not running", spec.name)).with_hint(
                "`elysiactl status` shows the nodes; `elysiactl weaviate start` starts them",
            ),
        );
    }
    let proxy = Proxy {
        name: proxy_name(&ctx.config.weaviate.cluster_name, &spec.name),
        listen: format!("127.0.0.1:{}", free_port()?),
        upstream: format!("127.0.0.1:{}", spec.rest_port),
        latency_ms: latency.as_millis() as u64,
        jitter_ms: jitter.as_millis() as u64,
    };
    let applied = Applied {
        nodes: vec![index],
        proxy: Some(proxy.clone()),
        ..Default::default()
    };
    let since = now_ms();
    let until = since + duration.as_millis() as i64;
    Ok(Fault {
        id: String::new(),
        kind: "network".into(),
        action: NodeAction::Latency,
        node: spec.name.clone(),
        index,
        runtime: rt.kind().as_str().into(),
        target: format!(
            "Toxiproxy proxy {} on {} -> {} ({} ms ± {} ms)",
            proxy.name, proxy.listen, proxy.upstream, proxy.latency_ms, proxy.jitter_ms
        ),
        since: rfc3339_ms(since),
        until: rfc3339_ms(until),
        until_ms: until,
        undo: format!(
            "delete the proxy {} (clients pointed at {} are refused after)",
            proxy.name, proxy.listen
        ),
        injected_by: std::process::id(),
        seed: None,
        undo_failures: 0,
        percent: None,
        restore: serde_json::to_string(&applied).ok(),
        limit_bytes: None,
    })
}

/// Register, start the server if needed, make the proxy and its toxic.
pub fn inject(
    ctx: &Context,
    index: usize,
    latency: Duration,
    jitter: Duration,
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let mut fault = plan(ctx, index, latency, jitter, duration)?;
    let duration = fault_duration(ctx, duration)?;
    let applied = Applied::of(&fault);
    let proxy = applied.proxy.clone().unwrap_or_else(|| unreachable!());
    {
        let mut reg = Registry::lock()?;
        if let Some(other) = reg
            .faults
            .iter()
            .find(|f| f.kind == "network" && Applied::of(f).nodes.contains(&index))
        {
            return Err(HostError::validation(format!(
                "{} already has an active network fault ({}, until {})",
                other.node, other.id, other.until
            ))
            .with_hint("one network fault per node at a time: `elysiactl chaos reset` undoes it"));
        }
        fault.id = format!("{}-latency-{}", ctx.config.weaviate.cluster_name, now_ms());
        fault.until_ms += Duration::from_secs(15).as_millis() as i64;
        fault.until = rfc3339_ms(fault.until_ms);
        reg.faults.push(fault.clone());
        reg.save()?;
        ensure_reaper(ctx, &reg)?;
    }
    let made = (|| -> HostResult<()> {
        let api = ensure_server(ctx)?;
        ctx.block_on(call(
            ctx,
            reqwest::Method::POST,
            &api,
            "/proxies",
            Some(json!({"name": proxy.name, "listen": proxy.listen, "upstream": proxy.upstream, "enabled": true})),
        ))?;
        ctx.block_on(call(
            ctx,
            reqwest::Method::POST,
            &api,
            &format!("/proxies/{}/toxics", proxy.name),
            Some(json!({"name": "latency", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                        "attributes": {"latency": proxy.latency_ms, "jitter": proxy.jitter_ms}})),
        ))?;
        Ok(())
    })();
    if let Err(e) = made {
        let _ = undo(ctx, &fault);
        let _ = Registry::lock().and_then(|mut reg| reg.claim(&fault.id));
        journal(
            "inject_failed",
            json!({"fault": fault.id, "node": fault.node, "action": fault.action, "error": e.message}),
        );
        return Err(e);
    }
    mark_applied(&mut fault, duration, None)?;
    journal(
        "inject",
        json!({"fault": fault.id, "node": fault.node, "action": fault.action, "target": fault.target,
               "runtime": fault.runtime, "until": fault.until, "proxy": proxy.listen}),
    );
    Ok(fault)
}

/// Delete the fault's proxy (one already gone is fine), and stop the
/// server when no latency fault is left.
pub fn undo(ctx: &Context, fault: &Fault) -> HostResult<String> {
    let Some(proxy) = Applied::of(fault).proxy else {
        return Ok("no proxy recorded".into());
    };
    let mut outcome = "proxy already gone".to_string();
    if let Some(api) = running_api() {
        if ctx
            .block_on(call(
                ctx,
                reqwest::Method::DELETE,
                &api,
                &format!("/proxies/{}", proxy.name),
                None,
            ))
            .is_ok()
        {
            outcome = format!("proxy {} deleted", proxy.name);
        }
    }
    let others: Vec<Fault> = super::active()?
        .into_iter()
        .filter(|f| f.id != fault.id)
        .collect();
    if stop_server_if_idle(&others) {
        outcome.push_str(", Toxiproxy stopped");
    }
    Ok(outcome)
}

/// This cluster's proxies a crash left without a registry entry: deleted;
/// then the server is stopped when no latency fault needs it.
pub fn delete_leftovers(ctx: &Context, active: &[Fault]) -> Vec<Value> {
    let Some(api) = running_api() else {
        return Vec::new();
    };
    let held: Vec<String> = active
        .iter()
        .filter_map(|f| Applied::of(f).proxy.map(|p| p.name))
        .collect();
    let prefix = format!("{}-weaviate-", ctx.config.weaviate.cluster_name);
    let mut found = Vec::new();
    if let Ok(Value::Object(proxies)) =
        ctx.block_on(call(ctx, reqwest::Method::GET, &api, "/proxies", None))
    {
        for name in proxies.keys() {
            if name.starts_with(&prefix)
                && !held.contains(name)
                && ctx
                    .block_on(call(
                        ctx,
                        reqwest::Method::DELETE,
                        &api,
                        &format!("/proxies/{name}"),
                        None,
                    ))
                    .is_ok()
            {
                journal("delete_leftover_proxy", json!({"proxy": name}));
                found.push(json!({"node": name, "was": "Toxiproxy proxy", "now": "deleted"}));
            }
        }
    }
    if stop_server_if_idle(active) {
        found.push(json!({"node": "toxiproxy", "was": "running", "now": "stopped"}));
    }
    found
}
