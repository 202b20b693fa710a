//! Health: whether the services are reachable and ready, whether the
//! cluster is whole (membership, RAFT, replication of every collection), and
//! whether the replicas hold the same data. One report with a stable JSON
//! schema (docs/commands.md and docs/health-and-repair.md) and one verdict: healthy (exit 0), degraded (1)
//! or down (2).

pub mod cluster;
pub mod data;
pub mod watch;

use crate::base::config::NodeSpec;
use crate::base::context::Context;
use crate::base::error::HostResult;
use crate::clients::elysia as elysia_client;
use crate::clients::weaviate::{Cluster, WeaviateClient};
use crate::services::readiness::{cluster_readiness_within, ClusterReadiness};
use crate::services::weaviate as weaviate_service;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Membership, RAFT and replication of collections.
    pub cluster: bool,
    /// Per-node details: gRPC, counts, CPU, memory, PID.
    pub verbose: bool,
    /// With `cluster`: skip object counts.
    pub quick: bool,
    pub collection: Option<String>,
    /// Compare sampled objects across replicas and probe replication lag.
    pub data: bool,
    /// With `data`: time replication by writing to a scratch collection. The
    /// host turns it off under --dry-run, where nothing may be written.
    pub probe_lag: bool,
    pub sample_size: usize,
    /// The most recent error lines of each service's log.
    pub last_errors: usize,
}

/// How bad a problem is; the worst one decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Degraded,
    Down,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Degraded => "degraded",
            Severity::Down => "down",
        }
    }
}

/// Problems found so far, each with what to do about it.
#[derive(Default)]
pub struct Problems(Vec<Value>);

impl Problems {
    pub fn add(&mut self, severity: Severity, check: &str, message: String, hint: &str) {
        self.0.push(json!({
            "severity": severity.as_str(), "check": check, "message": message, "hint": hint,
        }));
    }

    fn worst(&self) -> Option<Severity> {
        self.0
            .iter()
            .map(|p| {
                if p["severity"] == "down" {
                    Severity::Down
                } else {
                    Severity::Degraded
                }
            })
            .max()
    }
}

/// The configured nodes that answered the readiness probe as ready: the
/// ones worth asking cluster-wide questions.
pub fn ready_nodes(ctx: &Context, r: &ClusterReadiness) -> Cluster {
    Cluster::new(
        ctx.config
            .weaviate
            .node_specs()
            .iter()
            .filter(|s| r.nodes.iter().any(|n| n.ready && n.name == s.name))
            .map(|s| client(ctx, s))
            .collect(),
    )
}

pub fn client(ctx: &Context, spec: &NodeSpec) -> WeaviateClient {
    WeaviateClient::in_context(ctx, spec).with_timeout(Duration::from_secs(5))
}

/// The whole health report.
/// How long any call may take once a node is known to be down, frozen or
/// cut off: the others' cluster-wide answers stall on it, and the verdict
/// is already "degraded", so it comes within a second rather than after the
/// usual timeouts (Kubernetes' default probe timeout is one second too).
pub const KNOWN_FAULT_BUDGET: Duration = Duration::from_millis(600);

/// What is known about a node without asking it: what is wrong, and what to do.
struct Signal {
    message: String,
    hint: &'static str,
}

/// What is known about each node without asking it, in milliseconds: the
/// runtime's view of its process or container (not running, paused) and
/// the chaos registry's partitions. None for a node with nothing known.
fn runtime_signals(ctx: &Context) -> Vec<Option<Signal>> {
    let n = ctx.config.weaviate.nodes;
    let mut signals: Vec<Option<Signal>> = (0..n).map(|_| None).collect();
    let Ok(rt) = weaviate_service::runtime_for(ctx) else {
        return signals;
    };
    // A remote cluster's processes are not this machine's to see.
    if rt.kind() == crate::base::config::RuntimeKind::Remote {
        return signals;
    }
    for (i, signal) in signals.iter_mut().enumerate() {
        let Ok(st) = rt.node_state(i) else { continue };
        // A node never started refuses connections at once anyway.
        let never_started = st.detail.starts_with("not started");
        let what = if st.container.is_some() {
            "container"
        } else {
            "process"
        };
        if !st.running && !never_started {
            *signal = Some(Signal {
                message: format!("its {what} is not running: {}", st.detail),
                hint: "`elysiactl weaviate start` starts it; `elysiactl logs weaviate --node N` shows why it stopped",
            });
        } else if st.running && st.detail.contains("paused") {
            *signal = Some(Signal {
                message: format!("its {what} is {}", st.detail),
                hint: "`elysiactl chaos reset` resumes a node a chaos fault froze; otherwise `kill -CONT PID` or `docker unpause`",
            });
        }
    }
    for f in crate::chaos::active().unwrap_or_default() {
        let what = match f.action {
            crate::chaos::NodeAction::Partition => "it is cut off from the others".to_string(),
            crate::chaos::NodeAction::PacketLoss => {
                format!("it loses {}% of its packets", f.percent.unwrap_or_default())
            }
            crate::chaos::NodeAction::Bandwidth => {
                format!("its bandwidth is limited ({})", f.target)
            }
            crate::chaos::NodeAction::Latency => {
                format!("clients through its proxy are delayed ({})", f.target)
            }
            _ => continue,
        };
        if f.index < n {
            signals[f.index].get_or_insert_with(|| Signal {
                message: format!("{what} by chaos fault {} until {}", f.id, f.until),
                hint:
                    "`elysiactl chaos reset` undoes it now; the fault undoes itself at its deadline",
            });
        }
    }
    signals
}

pub fn check(ctx: &Context, o: &Options) -> HostResult<Value> {
    let t0 = Instant::now();
    let mut problems = Problems::default();
    let specs = ctx.config.weaviate.node_specs();
    let signals = runtime_signals(ctx);
    let budget = signals
        .iter()
        .any(Option::is_some)
        .then_some(KNOWN_FAULT_BUDGET);
    for (spec, signal) in specs.iter().zip(&signals) {
        if let Some(s) = signal {
            problems.add(
                Severity::Degraded,
                "process",
                format!("node {}: {}", spec.name, s.message),
                s.hint,
            );
        }
    }
    // Everything that may wait on a hung node runs at once, so a paused node
    // costs one timeout, not one per check.
    let grpc_probes = async {
        if o.verbose {
            futures_util::future::join_all(
                specs
                    .iter()
                    .map(|s| grpc_health(&ctx.config.weaviate.host, s.grpc_port, budget)),
            )
            .await
        } else {
            Vec::new()
        }
    };
    let membership = async {
        if o.cluster {
            futures_util::future::join_all(specs.iter().map(|s| {
                let c = client(ctx, s)
                    .with_timeout(budget.unwrap_or(crate::clients::weaviate::PROBE_TIMEOUT));
                async move { c.nodes_status(false).await }
            }))
            .await
        } else {
            Vec::new()
        }
    };
    // Elysia's probe too: it is independent of the Weaviate checks.
    let elysia_probe = async {
        if ctx.config.elysia.enabled {
            Some(crate::services::elysia::probe(&ctx.http, &ctx.config.elysia).await)
        } else {
            None
        }
    };
    let (readiness, grpc, views, elysia) = ctx.block_on(async {
        tokio::join!(
            cluster_readiness_within(&ctx.http, &specs, &ctx.config.weaviate.api_key, budget),
            grpc_probes,
            membership,
            elysia_probe
        )
    });
    let mut report = json!({});
    report["weaviate"] = weaviate_section(ctx, o, &readiness, &grpc, budget, &mut problems)?;
    if let Some(p) = elysia {
        report["elysia"] = elysia_section(ctx, o, p, &mut problems);
    }
    if o.cluster {
        report["cluster"] = cluster::check(ctx, o, &readiness, views, &mut problems)?;
    }
    if o.data {
        report["data"] = data::check(ctx, o, &mut problems)?;
    }
    let worst = problems.worst();
    let (status, code) = match worst {
        None => ("healthy", 0),
        Some(Severity::Degraded) => ("degraded", 1),
        Some(Severity::Down) => ("down", 2),
    };
    let mut out = json!({
        "environment": crate::base::paths::active_env(),
        "status": status,
        "exit_code": code,
        "checked_at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    });
    let map = out.as_object_mut().expect("an object");
    for (k, v) in report.as_object().cloned().unwrap_or_default() {
        map.insert(k, v);
    }
    map.insert("problems".into(), Value::Array(problems.0));
    map.insert("seconds".into(), json!(round3(t0.elapsed().as_secs_f64())));
    Ok(out)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn weaviate_section(
    ctx: &Context,
    o: &Options,
    r: &ClusterReadiness,
    grpc: &[Value],
    budget: Option<Duration>,
    problems: &mut Problems,
) -> HostResult<Value> {
    let n = ctx.config.weaviate.nodes;
    if r.ready_count == 0 {
        problems.add(
            Severity::Down,
            "weaviate",
            format!("no Weaviate node is ready ({})", r.summary()),
            "start it with `elysiactl start`; `elysiactl status` shows each node",
        );
    } else {
        if let Some(p) = r.problems.iter().find(|p| p.contains("API key")) {
            problems.add(
                Severity::Down,
                "auth",
                p.clone(),
                "set the right key in WEAVIATE_API_KEY or weaviate.api_key",
            );
        } else if r.asked.is_none() {
            problems.add(
                Severity::Degraded,
                "raft",
                format!(
                    "RAFT state unknown: no node answered its statistics ({})",
                    r.stats_error.clone().unwrap_or_default()
                ),
                "a hung node can stall the others' answers; `elysiactl health -v` shows each node's process",
            );
        } else if r.leader.is_none() {
            problems.add(
                Severity::Down,
                "raft",
                format!("the cluster has no RAFT leader ({})", r.summary()),
                "a majority of the nodes must run; start the missing ones with `elysiactl weaviate start`",
            );
        }
        for node in r.nodes.iter().filter(|x| !x.ready) {
            problems.add(
                Severity::Degraded,
                "weaviate",
                format!(
                    "node {} is not ready: {}",
                    node.name,
                    node.error.clone().unwrap_or_else(|| "no answer".into())
                ),
                "`elysiactl weaviate start` starts missing nodes; `elysiactl weaviate logs --node N` shows why one stopped",
            );
        }
    }
    let runtime = if o.verbose {
        weaviate_service::runtime_for(ctx).ok()
    } else {
        None
    };
    let counts = if o.verbose {
        per_node_counts(ctx, r, budget)
    } else {
        Default::default()
    };
    let mut nodes = Vec::new();
    for (i, node) in r.nodes.iter().enumerate() {
        let spec = ctx.config.weaviate.node(i);
        let mut row = json!({
            "node": node.name,
            "rest": {"reachable": node.live, "ready": node.ready, "latency_ms": node.latency_ms},
            "version": node.version,
            "raft_state": node.raft_state,
            "voter": node.is_voter,
        });
        if o.verbose {
            row["grpc"] = grpc.get(i).cloned().unwrap_or(Value::Null);
            if node.ready && row["grpc"]["serving"] != true {
                problems.add(
                    Severity::Degraded,
                    "grpc",
                    format!(
                        "node {} answers REST but not gRPC on port {}",
                        node.name, spec.grpc_port
                    ),
                    "check weaviate.grpc_port and the node log; clients such as Elysia use gRPC",
                );
            }
            if let Some((objects, shards)) = counts.get(&node.name) {
                row["objects"] = json!(objects);
                row["shards"] = json!(shards);
            }
            if let Some(st) = runtime.as_ref().and_then(|rt| rt.node_state(i).ok()) {
                row["process"] = json!({
                    "runtime": st.runtime, "running": st.running, "pid": st.pid,
                    "container": st.container, "cpu_percent": st.cpu_percent,
                    "memory_bytes": st.memory_bytes, "uptime_seconds": st.uptime_seconds,
                    "restarts": st.restarts, "detail": st.detail,
                });
            }
            row["ports"] = json!({"rest": spec.rest_port, "grpc": spec.grpc_port});
        }
        if o.last_errors > 0 {
            let lines = runtime
                .as_ref()
                .map(|rt| rt.log_tail(i, 2000))
                .unwrap_or_else(|| {
                    weaviate_service::runtime_for(ctx)
                        .map(|rt| rt.log_tail(i, 2000))
                        .unwrap_or_default()
                });
            row["last_errors"] = json!(weaviate_errors(&lines, o.last_errors));
        }
        nodes.push(row);
    }
    Ok(json!({
        "ready": r.is_ready(n),
        "summary": r.summary(),
        "leader": r.leader,
        "voters": r.voters,
        "nodes": nodes,
    }))
}

/// Per node: (objects, shards) from `/v1/nodes?output=verbose`.
fn per_node_counts(
    ctx: &Context,
    r: &ClusterReadiness,
    budget: Option<Duration>,
) -> std::collections::BTreeMap<String, (i64, usize)> {
    let view = ctx.block_on(ready_nodes(ctx, r).any_node(|c| async move {
        match budget {
            Some(b) => c.with_timeout(b).nodes_status(true).await,
            None => c.nodes_status(true).await,
        }
    }));
    let mut out = std::collections::BTreeMap::new();
    for n in view.map(|st| st.nodes).unwrap_or_default() {
        let objects = n.shards.iter().map(|s| s.object_count).sum();
        out.insert(n.name, (objects, n.shards.len()));
    }
    out
}

/// The last `n` error lines of a Weaviate log: its lines are JSON with a
/// `level`; error, fatal and panic count.
pub fn weaviate_errors(lines: &[String], n: usize) -> Vec<Value> {
    let mut found: Vec<Value> = lines
        .iter()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l.trim()).ok()?;
            let level = v["level"].as_str()?.to_ascii_lowercase();
            ["error", "fatal", "panic"]
                .contains(&level.as_str())
                .then(|| {
                    json!({
                        "time": v["time"], "level": level,
                        "message": v["msg"].as_str().or(v["message"].as_str()).unwrap_or(""),
                        "action": v["action"],
                    })
                })
        })
        .collect();
    let skip = found.len().saturating_sub(n);
    found.drain(..skip);
    found
}

/// The last `n` error lines of Elysia's log (Python logging and tracebacks).
pub fn elysia_errors(lines: &[String], n: usize) -> Vec<Value> {
    let mut found: Vec<Value> = lines
        .iter()
        .filter(|l| l.contains("ERROR") || l.contains("CRITICAL") || l.starts_with("Traceback"))
        .map(|l| json!({"message": l.trim()}))
        .collect();
    let skip = found.len().saturating_sub(n);
    found.drain(..skip);
    found
}

/// A gRPC health check (`grpc.health.v1.Health/Check`) over HTTP/2 without
/// TLS: reachable when something answers on the port, serving when it says
/// SERVING.
pub async fn grpc_health(host: &str, port: u16, budget: Option<Duration>) -> Value {
    let t0 = Instant::now();
    let Ok(client) = reqwest::Client::builder()
        .http2_prior_knowledge()
        .connect_timeout(Duration::from_secs(2).min(budget.unwrap_or(Duration::MAX)))
        .timeout(budget.unwrap_or(Duration::from_secs(3)))
        .build()
    else {
        return json!({"reachable": false, "serving": false, "latency_ms": null, "error": "no HTTP/2 client"});
    };
    // An empty HealthCheckRequest: the 5-byte gRPC frame header, no payload.
    let reply = client
        .post(format!("http://{host}:{port}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8; 5])
        .send()
        .await;
    let latency = (t0.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    match reply {
        Err(e) => json!({"reachable": false, "serving": false, "latency_ms": null,
                         "error": if e.is_connect() { "connection refused".to_string() } else { e.to_string() }}),
        Ok(r) => {
            let grpc = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/grpc"));
            let body = r.bytes().await.unwrap_or_default();
            // HealthCheckResponse { status = 1 (SERVING) } is field 1, varint 1.
            let serving = grpc && body.len() >= 7 && body[5..7] == [0x08, 0x01];
            json!({"reachable": true, "serving": serving, "latency_ms": latency,
                   "error": if grpc { Value::Null } else { json!("the port does not speak gRPC") }})
        }
    }
}

fn elysia_section(
    ctx: &Context,
    o: &Options,
    p: elysia_client::Probe,
    problems: &mut Problems,
) -> Value {
    let cfg = &ctx.config.elysia;
    if !p.up {
        problems.add(
            Severity::Down,
            "elysia",
            format!("Elysia does not answer at {}: {}", cfg.url(), p.detail),
            "start it with `elysiactl elysia start`; `elysiactl elysia status` shows its state",
        );
    } else if !p.weaviate_connected {
        problems.add(
            Severity::Degraded,
            "elysia",
            format!("Elysia answers but cannot use Weaviate: {}", p.detail),
            "make Weaviate healthy, then `elysiactl elysia restart` (a user created while Weaviate was down stays disconnected)",
        );
    }
    let mut row = json!({
        "up": p.up, "weaviate_connected": p.weaviate_connected,
        "latency_ms": p.latency_ms, "url": cfg.url(), "detail": p.detail,
    });
    if o.verbose {
        if let Ok(st) = crate::services::elysia::status(ctx) {
            for k in [
                "pid",
                "port",
                "version",
                "uptime_seconds",
                "cpu_percent",
                "memory_bytes",
            ] {
                row[k] = st[k].clone();
            }
        }
    }
    if o.last_errors > 0 {
        let lines = crate::base::process::tail_lines(&crate::services::elysia::log_file(), 2000);
        row["last_errors"] = json!(elysia_errors(&lines, o.last_errors));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weaviate_log_errors_are_found_by_level() {
        let lines: Vec<String> = [
            r#"{"level":"info","msg":"started","time":"t1"}"#,
            r#"{"level":"error","msg":"disk full","time":"t2","action":"lsm"}"#,
            "not json at all",
            r#"{"level":"warning","msg":"slow","time":"t3"}"#,
            r#"{"level":"fatal","msg":"gone","time":"t4"}"#,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let all = weaviate_errors(&lines, 10);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["message"], "disk full");
        let last = weaviate_errors(&lines, 1);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0]["message"], "gone");
    }

    #[test]
    fn the_worst_problem_decides() {
        let mut p = Problems::default();
        assert_eq!(p.worst(), None);
        p.add(Severity::Degraded, "x", "a".into(), "h");
        assert_eq!(p.worst(), Some(Severity::Degraded));
        p.add(Severity::Down, "y", "b".into(), "h");
        assert_eq!(p.worst(), Some(Severity::Down));
    }
}
