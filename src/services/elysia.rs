//! Elysia as a managed process: started from its Python environment with its
//! settings as environment variables, tracked by PID file, and called ready
//! only when it really reaches Weaviate (its `/api/health` is a constant).

use crate::base::config::{Config, ElysiaConfig};
use crate::base::context::Context;
use crate::base::error::{Category, HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState, SpawnSpec};
use crate::clients::elysia::{self as client, Probe};
use crate::services::elysia_workers;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn pid_file() -> PathBuf {
    paths::run_dir().join("elysia.pid")
}

/// The user the last successful probe made, so the next check costs one
/// cheap request instead of creating another user in Elysia.
fn probe_user_file() -> PathBuf {
    paths::state_dir().join("elysia-probe-user")
}

/// Whether Elysia answers and really reaches Weaviate (see
/// `clients::elysia::probe`), reusing the probe user of an earlier check.
pub async fn probe(http: &reqwest::Client, cfg: &ElysiaConfig) -> Probe {
    probe_at(http, cfg, &probe_user_file()).await
}

/// `probe`, remembering its user in `file` (a worker's user exists in that worker only).
pub async fn probe_at(http: &reqwest::Client, cfg: &ElysiaConfig, file: &Path) -> Probe {
    let known = std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let (p, keep) = client::probe(http, cfg, known.as_deref()).await;
    if keep != known {
        // Losing this file only costs the next check a new user.
        let _ = match keep {
            Some(user) => std::fs::create_dir_all(paths::state_dir())
                .and_then(|()| std::fs::write(file, user)),
            None => std::fs::remove_file(file),
        };
    }
    p
}

pub fn log_file() -> PathBuf {
    paths::log_dir().join("elysia.log")
}

/// Elysia's working directory: it writes `.env` and other files into it.
pub fn work_dir() -> PathBuf {
    paths::state_dir().join("elysia")
}

/// The Python environment's prefix: the venv, or the named conda environment.
pub fn prefix(cfg: &ElysiaConfig) -> HostResult<PathBuf> {
    if cfg.conda_env.is_empty() {
        return Ok(cfg.venv_path());
    }
    conda_prefix(&cfg.conda_env)?.ok_or_else(|| {
        HostError::fs(format!(
            "the conda environment {:?} does not exist",
            cfg.conda_env
        ))
        .with_hint(
            "run `elysiactl install elysia` to create it, or fix elysia.conda_env in the config",
        )
    })
}

/// Where a named conda environment lives, from `conda env list --json`.
pub fn conda_prefix(name: &str) -> HostResult<Option<PathBuf>> {
    let out = std::process::Command::new(conda_program())
        .args(["env", "list", "--json"])
        .output()
        .map_err(|e| {
            HostError::io("cannot run conda", e)
                .with_hint("install conda, or leave elysia.conda_env empty to use a venv")
        })?;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    Ok(list["envs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(PathBuf::from)
        .find(|p| p.file_name().is_some_and(|n| n == name)))
}

pub fn conda_program() -> String {
    std::env::var("CONDA_EXE").unwrap_or_else(|_| "conda".into())
}

/// The installed elysia-ai version, read from the package metadata folder.
pub fn installed_version(prefix: &Path) -> Option<String> {
    let lib = std::fs::read_dir(prefix.join("lib")).ok()?;
    for py in lib.flatten() {
        let site = py.path().join("site-packages");
        let Ok(entries) = std::fs::read_dir(&site) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(rest) = name.strip_prefix("elysia_ai-") {
                if let Some(v) = rest.strip_suffix(".dist-info") {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// A `.env` file in any parent folder of the environment overrides what we
/// pass (Elysia calls `load_dotenv(override=True)` from its package folder).
pub fn shadowing_dotenv(prefix: &Path) -> Option<PathBuf> {
    prefix
        .ancestors()
        .map(|d| d.join(".env"))
        .find(|f| f.is_file())
}

/// One Fernet key for the life of the installation, so API keys Elysia
/// encrypts stay readable across restarts.
fn fernet_key(dir: &Path) -> HostResult<String> {
    let path = dir.join("elysia-fernet.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim();
        if k.len() == 44 {
            return Ok(k.to_string());
        }
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| HostError::unknown(format!("no randomness: {e}")))?;
    use base64::Engine;
    let key = base64::engine::general_purpose::URL_SAFE.encode(raw);
    std::fs::create_dir_all(dir)
        .and_then(|_| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            f.write_all(key.as_bytes())
        })
        .map_err(|e| HostError::io(format!("cannot write {}", path.display()), e))?;
    Ok(key)
}

/// The environment Elysia starts with: where Weaviate is, and its own settings.
pub fn environment(cfg: &Config) -> HostResult<BTreeMap<String, String>> {
    environment_with_key(cfg, fernet_key(&paths::state_dir())?)
}

fn environment_with_key(cfg: &Config, fernet: String) -> HostResult<BTreeMap<String, String>> {
    let w = &cfg.weaviate;
    let node0 = w.node(0);
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    if w.runtime == Some(crate::base::config::RuntimeKind::Remote) {
        // A cluster run elsewhere: Elysia's "custom" connection, which takes
        // the host, ports and TLS of REST and gRPC apart (its "local" one
        // assumes plain HTTP, its "cloud" one Weaviate Cloud's gRPC host).
        let secure = if node0.scheme == "https" {
            "True"
        } else {
            "False"
        };
        set("WEAVIATE_IS_LOCAL", "False".into());
        set("WEAVIATE_IS_CUSTOM", "True".into());
        set("CUSTOM_HTTP_HOST", node0.host.clone());
        set("CUSTOM_HTTP_PORT", node0.rest_port.to_string());
        set("CUSTOM_HTTP_SECURE", secure.into());
        set("CUSTOM_GRPC_HOST", node0.host.clone());
        set("CUSTOM_GRPC_PORT", node0.grpc_port.to_string());
        set("CUSTOM_GRPC_SECURE", secure.into());
    } else {
        set("WEAVIATE_IS_LOCAL", "True".into());
    }
    set("WCD_URL", node0.rest_url());
    set("LOCAL_WEAVIATE_PORT", node0.rest_port.to_string());
    set("LOCAL_WEAVIATE_GRPC_PORT", node0.grpc_port.to_string());
    // Set, so Elysia does not write a `.env` to remember its first start.
    set("FIRST_START_ELYSIA", "False".into());
    set("FERNET_KEY", fernet);
    if w.api_key.is_set() {
        set("WEAVIATE_API_KEY", w.api_key.expose().to_string());
        set("WCD_API_KEY", w.api_key.expose().to_string());
    }
    if cfg.elysia.api_key.is_set() && !cfg.elysia.api_key_env.is_empty() {
        set(
            &cfg.elysia.api_key_env,
            cfg.elysia.api_key.expose().to_string(),
        );
    }
    for (k, v) in &cfg.elysia.env {
        set(k, v.clone());
    }
    Ok(env)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn program(cfg: &ElysiaConfig) -> HostResult<PathBuf> {
    let prefix = prefix(cfg)?;
    let program = prefix.join("bin").join("elysia");
    if !program.exists() {
        return Err(HostError::fs(format!(
            "Elysia is not installed: {} is missing",
            program.display()
        ))
        .with_hint("run `elysiactl install elysia`"));
    }
    Ok(program)
}

pub fn preflight(ctx: &Context) -> HostResult<PathBuf> {
    let cfg = &ctx.config.elysia;
    let program = program(cfg)?;
    if let Some(env_file) = shadowing_dotenv(&prefix(cfg)?) {
        ctx.out.warn(&format!(
            "{} overrides the settings elysiactl passes to Elysia (it calls load_dotenv(override=True)); move or remove it",
            env_file.display()
        ));
    }
    if proc::port_in_use(&cfg.host, cfg.port) {
        return Err(port_taken(cfg.port));
    }
    Ok(program)
}

pub fn port_taken(port: u16) -> HostError {
    let owner = proc::port_owner(port)
        .map(|(pid, name)| format!(" by {name} (PID {pid})"))
        .unwrap_or_default();
    HostError::validation(format!("port {port} (Elysia) is already taken{owner}"))
        .with_hint("stop whatever holds it, or set elysia.port in the config (or ELYSIA_PORT)")
}

/// `elysia start`'s arguments for one process on host:port.
pub fn start_args(host: &str, port: u16) -> Vec<String> {
    // --reload False: its reloader would be a parent process we do not track.
    [
        "start",
        "--host",
        host,
        "--port",
        &port.to_string(),
        "--reload",
        "False",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Variables of the caller's shell that would point Elysia elsewhere.
pub const ENV_REMOVE: [&str; 4] = [
    "WEAVIATE_IS_CUSTOM",
    "WEAVIATE_URL",
    "CUSTOM_HTTP_HOST",
    "CUSTOM_GRPC_HOST",
];

/// Whether Elysia runs: the plain process, or nginx in front of workers.
pub fn runs() -> HostResult<bool> {
    let running = |f: &Path| -> HostResult<bool> {
        Ok(matches!(proc::pid_state(f)?, PidState::Running { .. }))
    };
    Ok(running(&pid_file())? || running(&elysia_workers::proxy_pid_file())?)
}

/// The number of Elysia processes that run now: the recorded workers, or
/// one plain Elysia (also when none runs).
pub fn running_workers() -> usize {
    elysia_workers::read_set().map_or(1, |s| s.ports.len())
}

/// Start Elysia as `workers` processes (one: plain, more: behind nginx).
pub fn start(ctx: &Context, timeout: Duration, wait: bool, workers: u32) -> HostResult<Value> {
    if let Some(set) = elysia_workers::read_set() {
        if let PidState::Running { pid } = proc::pid_state(&elysia_workers::proxy_pid_file())? {
            ctx.out.status(&format!(
                "elysia already runs ({} workers behind nginx, PID {pid}); `elysiactl elysia workers --count N` changes the count",
                set.ports.len()
            ));
            let ready = if wait {
                Some(wait_ready(ctx, timeout)?.ready())
            } else {
                None
            };
            return Ok(json!({
                "service": "elysia", "pid": pid, "url": ctx.config.elysia.url(),
                "ready": ready, "seconds": 0.0, "workers": set.ports.len(),
            }));
        }
        // A set left from a crash: clear it before starting afresh.
        elysia_workers::stop(Duration::from_secs(ctx.config.elysia.stop_timeout))?;
    }
    if workers > 1 && !matches!(proc::pid_state(&pid_file())?, PidState::Running { .. }) {
        return elysia_workers::start(ctx, workers, timeout, wait);
    }
    start_single(ctx, timeout, wait)
}

/// Start one plain Elysia on elysia.port.
pub fn start_single(ctx: &Context, timeout: Duration, wait: bool) -> HostResult<Value> {
    let cfg = &ctx.config.elysia;
    let t0 = Instant::now();
    let pid = match proc::pid_state(&pid_file())? {
        PidState::Running { pid } => {
            ctx.out.status(&format!("elysia already runs (PID {pid})"));
            pid
        }
        state => {
            if let PidState::Stale { pid } = state {
                tracing::info!("elysia: removing stale PID file (PID {pid} is gone)");
                let _ = std::fs::remove_file(pid_file());
            }
            let program = preflight(ctx)?;
            proc::spawn(&SpawnSpec {
                program,
                args: start_args(&cfg.host, cfg.port),
                env: environment(&ctx.config)?,
                env_remove: ENV_REMOVE.iter().map(|s| s.to_string()).collect(),
                cwd: Some(work_dir()),
                pid_file: pid_file(),
                log_file: log_file(),
                rotation: ctx.config.logs,
            })?
            .pid
        }
    };
    let probe = if wait {
        Some(wait_ready(ctx, timeout)?)
    } else {
        None
    };
    Ok(json!({
        "service": "elysia",
        "pid": pid,
        "url": cfg.url(),
        "ready": probe.as_ref().map(Probe::ready),
        "seconds": round1(t0.elapsed().as_secs_f64()),
    }))
}

/// Poll until Elysia answers and reaches Weaviate; fail early with its last
/// log lines when the process dies.
pub fn wait_ready(ctx: &Context, timeout: Duration) -> HostResult<Probe> {
    let started = Instant::now();
    let bar = ctx.out.progress_start("elysia", None);
    let result = loop {
        if let Err(e) = crate::base::cancel::check_interrupt() {
            break Err(e);
        }
        let p = ctx.block_on(probe(&ctx.http, &ctx.config.elysia));
        let msg = if p.up {
            if p.weaviate_connected {
                "ready".to_string()
            } else {
                p.detail.clone()
            }
        } else {
            "starting (Python imports take 10-30 s)".to_string()
        };
        ctx.out.progress_set(bar, None, Some(&msg));
        if p.ready() {
            break Ok(p);
        }
        if let PidState::Stale { pid } = proc::pid_state(&pid_file())? {
            let tail = proc::tail_lines(&log_file(), 10).join("\n    ");
            break Err(HostError::new(
                Category::Unknown,
                format!("Elysia (PID {pid}) exited while starting\n  last log lines:\n    {tail}"),
            )
            .with_hint(format!(
                "read {}; `elysiactl install elysia` repairs a broken environment",
                log_file().display()
            )));
        }
        if started.elapsed() > timeout {
            break Err(HostError::timeout(format!(
                "Elysia was not ready after {}s: {}",
                timeout.as_secs(),
                if p.detail.is_empty() { "no answer" } else { &p.detail }
            ))
            .with_hint(if p.up {
                "Elysia runs but cannot reach Weaviate: check `elysiactl status`, then `elysiactl elysia restart`"
            } else {
                "check the log (`elysiactl elysia logs`) or raise --timeout"
            }));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    ctx.out.progress_done(bar, None);
    result
}

/// Stop Elysia: nginx and every worker when several run, and the plain one.
pub fn stop(ctx: &Context, timeout: Duration) -> HostResult<Value> {
    let _ = ctx;
    let several = elysia_workers::read_set().is_some() || elysia_workers::proxy_pid_file().exists();
    let mut outcome = stop_single(timeout)?;
    let mut result = json!({"service": "elysia"});
    if several {
        let w = elysia_workers::stop(timeout)?;
        // Stopped if anything was: the plain one is usually absent then.
        if outcome == "not running" {
            outcome = w["proxy"].as_str().unwrap_or("not running").to_string();
        }
        result["workers"] = w["workers"].clone();
        result["proxy"] = w["proxy"].clone();
    }
    result["stopped"] = json!(outcome);
    Ok(result)
}

/// Stop the plain Elysia (by its PID file): what its stop ended with.
pub fn stop_single(timeout: Duration) -> HostResult<String> {
    let outcome = match proc::read_pid_file(&pid_file())? {
        None => "not running".to_string(),
        Some(rec) => proc::terminate(rec, timeout)?.to_string(),
    };
    let _ = std::fs::remove_file(pid_file());
    Ok(outcome)
}

/// The documented status schema of Elysia (docs/commands.md).
pub fn status(ctx: &Context) -> HostResult<Value> {
    let cfg = &ctx.config.elysia;
    let set = elysia_workers::read_set();
    // With several workers, the process clients talk to is nginx.
    let front = if set.is_some() {
        elysia_workers::proxy_pid_file()
    } else {
        pid_file()
    };
    let state = proc::pid_state(&front)?;
    let (running, pid, detail) = match state {
        PidState::Absent => (false, None, "not started".to_string()),
        PidState::Stale { pid } => (
            false,
            Some(pid),
            format!("crashed or killed: PID file names PID {pid}, which is gone"),
        ),
        PidState::Running { pid } => (true, Some(pid), String::new()),
    };
    let stats = pid.filter(|_| running).and_then(proc::stats);
    let p = if running {
        ctx.block_on(probe(&ctx.http, cfg))
    } else {
        Probe::default()
    };
    let detail = if detail.is_empty() {
        p.detail.clone()
    } else {
        detail
    };
    let (workers, proxy) = match &set {
        Some(set) => {
            let (rows, proxy) = elysia_workers::status(ctx, set)?;
            (rows, proxy)
        }
        None => (
            vec![json!({
                "index": 0, "port": cfg.port, "pid": pid, "running": running, "up": running && p.up,
                "memory_bytes": stats.as_ref().map(|s| s.rss_bytes),
            })],
            Value::Null,
        ),
    };
    let all_workers_up = workers.iter().all(|w| w["up"] == json!(true));
    let detail = if running && !all_workers_up && detail.is_empty() {
        let down: Vec<String> = workers
            .iter()
            .filter(|w| w["up"] != json!(true))
            .map(|w| w["index"].to_string())
            .collect();
        format!("workers {} do not answer", down.join(", "))
    } else {
        detail
    };
    let up = running && p.ready() && all_workers_up;
    Ok(json!({
        "workers": workers,
        "proxy": proxy,
        "service": "elysia",
        "up": up,
        "running": running,
        "ready": running && p.up,
        "weaviate_connected": running && p.weaviate_connected,
        "pid": pid,
        "port": cfg.port,
        "url": cfg.url(),
        "version": prefix(cfg).ok().and_then(|p| installed_version(&p)),
        "latency_ms": p.latency_ms,
        "uptime_seconds": stats.as_ref().map(|s| s.uptime_seconds),
        "cpu_percent": stats.as_ref().map(|s| s.cpu_percent),
        "memory_bytes": stats.as_ref().map(|s| s.rss_bytes),
        "detail": detail,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_points_elysia_at_node_zero_and_hides_nothing_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.weaviate.rest_port = 9080;
        cfg.weaviate.grpc_port = 9051;
        cfg.weaviate.api_key = crate::base::config::Secret::new("wk");
        let key = fernet_key(dir.path()).unwrap();
        let env = environment_with_key(&cfg, key).unwrap();
        assert_eq!(env["WEAVIATE_IS_LOCAL"], "True");
        assert_eq!(env["WCD_URL"], "http://127.0.0.1:9080");
        assert_eq!(env["LOCAL_WEAVIATE_GRPC_PORT"], "9051");
        assert_eq!(env["WEAVIATE_API_KEY"], "wk");
        assert_eq!(env["FERNET_KEY"].len(), 44);
        // The key is kept: a second start passes the same one.
        assert_eq!(fernet_key(dir.path()).unwrap(), env["FERNET_KEY"]);
    }

    #[test]
    fn elysia_reaches_a_remote_cluster_by_its_url_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.weaviate.runtime = Some(crate::base::config::RuntimeKind::Remote);
        cfg.weaviate.urls = vec!["https://w.example.com".into()];
        cfg.weaviate.grpc_port = 443;
        cfg.weaviate.api_key = crate::base::config::Secret::new("rk");
        let env = environment_with_key(&cfg, fernet_key(dir.path()).unwrap()).unwrap();
        assert_eq!(env["WEAVIATE_IS_LOCAL"], "False");
        assert_eq!(env["WEAVIATE_IS_CUSTOM"], "True");
        assert_eq!(env["CUSTOM_HTTP_HOST"], "w.example.com");
        assert_eq!(env["CUSTOM_HTTP_PORT"], "443");
        assert_eq!(env["CUSTOM_HTTP_SECURE"], "True");
        assert_eq!(env["CUSTOM_GRPC_PORT"], "443");
        assert_eq!(env["WCD_URL"], "https://w.example.com:443");
        assert_eq!(env["WCD_API_KEY"], "rk");
    }

    #[test]
    fn a_dotenv_above_the_environment_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("a/b/venv");
        std::fs::create_dir_all(&venv).unwrap();
        assert_eq!(shadowing_dotenv(&venv), None);
        std::fs::write(dir.path().join("a/.env"), "X=1").unwrap();
        assert_eq!(shadowing_dotenv(&venv), Some(dir.path().join("a/.env")));
    }
}
