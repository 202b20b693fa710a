//! More than one Elysia process, behind nginx.
//!
//! Elysia keeps every user's state (its tree manager, conversations, client
//! manager and frontend config) in a dictionary of one process
//! (`elysia/api/services/user.py`, `UserManager.users`, a module-level
//! singleton in `elysia/api/dependencies/common.py`), so uvicorn workers
//! would split a user's session. Instead each worker is its own `elysia
//! start` on a free loopback port, and nginx listens on `elysia.port` and
//! sends every request of one user to one worker (`hash $elysia_user
//! consistent`, the user id taken from the path). docs/elysia-workers.md has
//! the routes and what a client of the body-carried routes must add.
//!
//! Which workers run is recorded in `elysia-workers.json` in the state
//! folder; its absence means a plain single Elysia (`elysia.pid`).

use super::elysia;
use crate::base::config::{ElysiaConfig, MAX_ELYSIA_WORKERS};
use crate::base::context::Context;
use crate::base::error::{Category, HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState, Signal, SpawnSpec};
use crate::clients::elysia::Probe;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The running worker set: worker i listens on `ports[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSet {
    pub ports: Vec<u16>,
}

fn set_file() -> PathBuf {
    paths::state_dir().join("elysia-workers.json")
}

pub fn read_set() -> Option<WorkerSet> {
    let text = std::fs::read_to_string(set_file()).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_set(set: &WorkerSet) -> HostResult<()> {
    paths::write_atomic(
        &set_file(),
        &serde_json::to_vec_pretty(set).unwrap_or_default(),
    )
}

pub fn worker_pid_file(i: usize) -> PathBuf {
    paths::run_dir().join(format!("elysia-worker-{i}.pid"))
}

pub fn worker_log_file(i: usize) -> PathBuf {
    paths::log_dir().join(format!("elysia-worker-{i}.log"))
}

/// Each worker its own working directory: Elysia writes files into it.
fn worker_dir(i: usize) -> PathBuf {
    elysia::work_dir().join(format!("worker-{i}"))
}

/// nginx's generated config, its own PID file and temporary folders.
pub fn proxy_dir() -> PathBuf {
    paths::state_dir().join("elysia-proxy")
}

pub fn proxy_conf_file() -> PathBuf {
    proxy_dir().join("nginx.conf")
}

pub fn proxy_pid_file() -> PathBuf {
    paths::run_dir().join("elysia-proxy.pid")
}

pub fn proxy_log_file() -> PathBuf {
    paths::log_dir().join("elysia-proxy.log")
}

/// One line per request: the user it was hashed on and the worker it went to.
pub fn proxy_access_log() -> PathBuf {
    paths::log_dir().join("elysia-proxy-access.log")
}

/// A worker count within what the tool runs.
pub fn check_count(count: i64) -> HostResult<u32> {
    if count < 1 || count > MAX_ELYSIA_WORKERS as i64 {
        return Err(HostError::validation(format!(
            "cannot run {count} Elysia workers"
        ))
        .with_hint(format!(
            "give 1 to {MAX_ELYSIA_WORKERS} (each worker is a whole Elysia of about 380 MB; 1 runs it without nginx)"
        )));
    }
    Ok(count as u32)
}

/// The nginx binary: elysia.nginx, else on the PATH or where Debian's package puts it.
pub fn nginx_program(cfg: &ElysiaConfig) -> HostResult<PathBuf> {
    let hint = "install Debian's nginx (`apt-get install nginx`; `.ci/prepare` does it), \
                or run one worker (elysia.workers = 1), which needs no proxy";
    if !cfg.nginx.is_empty() {
        let p = PathBuf::from(&cfg.nginx);
        if p.is_file() {
            return Ok(p);
        }
        return Err(HostError::fs(format!(
            "nginx is not installed: elysia.nginx names {}, which does not exist (more than one Elysia worker runs behind nginx)",
            p.display()
        ))
        .with_hint(format!("{hint}; or leave elysia.nginx empty to find it on the PATH")));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            HostError::fs("nginx is not installed: more than one Elysia worker runs behind it")
                .with_hint(hint)
        })
}

/// The nginx config that spreads users over `ports` (workers on 127.0.0.1)
/// and listens on `listen_host:listen_port`. Everything nginx writes goes
/// under `dir` and the two log files, so it runs unprivileged beside us.
pub fn render_nginx_conf(
    listen_host: &str,
    listen_port: u16,
    ports: &[u16],
    dir: &Path,
    error_log: &Path,
    access_log: &Path,
) -> String {
    let d = dir.display();
    let servers: String = ports
        .iter()
        .map(|p| format!("        server 127.0.0.1:{p};\n"))
        .collect();
    format!(
        r#"# Generated by elysiactl (elysia workers); rewritten on every change of the count.
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {err} notice;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    # The user a request belongs to, from the routes that carry it in the path
    # (Elysia's routers in elysia/api/app.py and elysia/api/routes/*.py).
    map $uri $elysia_path_user {{
        ~^/(?:init/user|init/tree|collections|user/config/frontend_config|user/config|tree/config|feedback/metadata|tools|db)/([^/]+) $1;
        default "";
    }}
    # Routes that carry it in the body or in websocket messages (/ws/query,
    # /ws/process_collection, /util/*, /feedback/add|remove) need the client
    # to repeat it as ?user_id= or an X-Elysia-User header; what has no user
    # at all (health, the web app's files) stays with one client address.
    map $elysia_path_user $elysia_query_user {{
        "" $arg_user_id;
        default $elysia_path_user;
    }}
    map $elysia_query_user $elysia_header_user {{
        "" $http_x_elysia_user;
        default $elysia_query_user;
    }}
    map $elysia_header_user $elysia_user {{
        "" $remote_addr;
        default $elysia_header_user;
    }}
    map $http_upgrade $elysia_connection {{
        default upgrade;
        "" "";
    }}

    log_format elysia '$time_iso8601 user=$elysia_user upstream=$upstream_addr status=$status "$request"';
    access_log {acc} elysia;

    upstream elysia_workers {{
        hash $elysia_user consistent;
{servers}    }}

    server {{
        listen {listen_host}:{listen_port};
        location / {{
            proxy_pass http://elysia_workers;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $elysia_connection;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # Elysia streams answers over websockets for minutes.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }}
    }}
}}
"#,
        err = error_log.display(),
        acc = access_log.display(),
    )
}

/// A free loopback port for a worker (the OS picks; nothing holds it after).
fn free_port(taken: &[u16]) -> HostResult<u16> {
    for _ in 0..20 {
        let l = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HostError::io("cannot find a free port for an Elysia worker", e))?;
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        if port != 0 && !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(HostError::unknown("no free port for an Elysia worker"))
}

/// The Elysia config a worker runs with: the same, on its own loopback port.
fn worker_config(cfg: &ElysiaConfig, port: u16) -> ElysiaConfig {
    ElysiaConfig {
        host: "127.0.0.1".into(),
        port,
        ..cfg.clone()
    }
}

fn spawn_worker(ctx: &Context, i: usize, port: u16) -> HostResult<u32> {
    let program = elysia::program(&ctx.config.elysia)?;
    if let PidState::Stale { .. } = proc::pid_state(&worker_pid_file(i))? {
        let _ = std::fs::remove_file(worker_pid_file(i));
    }
    let rec = proc::spawn(&SpawnSpec {
        program,
        args: elysia::start_args("127.0.0.1", port),
        env: elysia::environment(&ctx.config)?,
        env_remove: elysia::ENV_REMOVE.iter().map(|s| s.to_string()).collect(),
        cwd: Some(worker_dir(i)),
        pid_file: worker_pid_file(i),
        log_file: worker_log_file(i),
        rotation: ctx.config.logs,
    })?;
    Ok(rec.pid)
}

/// Wait until every worker in `indexes` answers and reaches Weaviate.
fn wait_workers(
    ctx: &Context,
    set: &WorkerSet,
    indexes: &[usize],
    timeout: Duration,
) -> HostResult<()> {
    let started = Instant::now();
    let bar = ctx
        .out
        .progress_start("elysia workers", Some(indexes.len() as u64));
    let mut pending: Vec<usize> = indexes.to_vec();
    let result = loop {
        if let Err(e) = crate::base::cancel::check_interrupt() {
            break Err(e);
        }
        let mut still = Vec::new();
        let mut failure = None;
        for &i in &pending {
            let port = set.ports[i];
            let p = ctx.block_on(elysia::probe_at(
                &ctx.http,
                &worker_config(&ctx.config.elysia, port),
                &probe_user_file(port),
            ));
            if p.ready() {
                continue;
            }
            if let PidState::Stale { pid } = stale_or_absent(i)? {
                let tail = proc::tail_lines(&worker_log_file(i), 10).join("\n    ");
                failure = Some(
                    HostError::new(
                        Category::Unknown,
                        format!("Elysia worker {i} (PID {pid}, port {port}) exited while starting\n  last log lines:\n    {tail}"),
                    )
                    .with_hint(format!("read {}", worker_log_file(i).display())),
                );
                break;
            }
            still.push(i);
        }
        if let Some(e) = failure {
            break Err(e);
        }
        pending = still;
        ctx.out.progress_set(
            bar,
            Some((indexes.len() - pending.len()) as u64),
            Some("starting (Python imports take 10-30 s)"),
        );
        if pending.is_empty() {
            break Ok(());
        }
        if started.elapsed() > timeout {
            break Err(HostError::timeout(format!(
                "Elysia workers {pending:?} were not ready after {}s",
                timeout.as_secs()
            ))
            .with_hint(
                "read their logs (elysia-worker-N.log in the log folder) or raise --timeout",
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    ctx.out.progress_done(bar, None);
    result
}

/// A worker whose process is gone, as a Stale state naming its last PID.
fn stale_or_absent(i: usize) -> HostResult<PidState> {
    Ok(match proc::pid_state(&worker_pid_file(i))? {
        PidState::Absent => PidState::Stale { pid: 0 },
        other => other,
    })
}

/// Each worker's probe user lives in that worker only.
fn probe_user_file(port: u16) -> PathBuf {
    paths::state_dir().join(format!("elysia-probe-user-{port}"))
}

fn write_proxy_conf(ctx: &Context, set: &WorkerSet) -> HostResult<()> {
    let cfg = &ctx.config.elysia;
    let dir = proxy_dir();
    std::fs::create_dir_all(dir.join("tmp"))
        .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    std::fs::create_dir_all(paths::log_dir())
        .map_err(|e| HostError::io("cannot create the log folder", e))?;
    let conf = render_nginx_conf(
        &cfg.host,
        cfg.port,
        &set.ports,
        &dir,
        &proxy_log_file(),
        &proxy_access_log(),
    );
    paths::write_atomic(&proxy_conf_file(), conf.as_bytes())?;
    // nginx's own check, so a config it would refuse never reaches it.
    let out = std::process::Command::new(nginx_program(&ctx.config.elysia)?)
        .args(nginx_args())
        .arg("-t")
        .output()
        .map_err(|e| HostError::io("cannot run nginx -t", e))?;
    if !out.status.success() {
        return Err(HostError::validation(format!(
            "nginx refuses the generated config {}: {}",
            proxy_conf_file().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint(
            "this is a defect of elysiactl's nginx template: please report it with that message",
        ));
    }
    Ok(())
}

/// nginx with our config, prefix and error log (`-e`: so it never touches
/// /var/log/nginx, which an unprivileged user cannot write).
fn nginx_args() -> Vec<String> {
    vec![
        "-p".into(),
        proxy_dir().display().to_string(),
        "-c".into(),
        proxy_conf_file().display().to_string(),
        "-e".into(),
        proxy_log_file().display().to_string(),
    ]
}

fn spawn_proxy(ctx: &Context) -> HostResult<u32> {
    let cfg = &ctx.config.elysia;
    if proc::port_in_use(&cfg.host, cfg.port) {
        return Err(elysia::port_taken(cfg.port));
    }
    if let PidState::Stale { .. } = proc::pid_state(&proxy_pid_file())? {
        let _ = std::fs::remove_file(proxy_pid_file());
    }
    let rec = proc::spawn(&SpawnSpec {
        program: nginx_program(&ctx.config.elysia)?,
        args: nginx_args(),
        env: Default::default(),
        env_remove: vec![],
        cwd: Some(proxy_dir()),
        pid_file: proxy_pid_file(),
        log_file: proxy_log_file(),
        rotation: ctx.config.logs,
    })?;
    Ok(rec.pid)
}

/// Wait until nginx answers on Elysia's port and a user reaches Weaviate through it.
fn wait_proxy(ctx: &Context, timeout: Duration) -> HostResult<Probe> {
    let started = Instant::now();
    loop {
        let p = ctx.block_on(elysia::probe(&ctx.http, &ctx.config.elysia));
        if p.ready() {
            return Ok(p);
        }
        if !matches!(
            proc::pid_state(&proxy_pid_file())?,
            PidState::Running { .. }
        ) {
            let tail = proc::tail_lines(&proxy_log_file(), 10).join("\n    ");
            return Err(HostError::new(
                Category::Unknown,
                format!(
                    "nginx (Elysia's proxy) exited while starting\n  last log lines:\n    {tail}"
                ),
            )
            .with_hint(format!("read {}", proxy_log_file().display())));
        }
        if started.elapsed() > timeout {
            return Err(HostError::timeout(format!(
                "Elysia was not ready through nginx after {}s: {}",
                timeout.as_secs(),
                p.detail
            ))
            .with_hint("check `elysiactl elysia status`, which shows every worker"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn stop_pid_file(file: &Path, timeout: Duration) -> HostResult<String> {
    let outcome = match proc::read_pid_file(file)? {
        None => "not running".to_string(),
        Some(rec) => proc::terminate(rec, timeout)?.to_string(),
    };
    let _ = std::fs::remove_file(file);
    Ok(outcome)
}

/// Start `count` (> 1) workers and nginx in front of them; nothing of Elysia may run.
pub fn start(ctx: &Context, count: u32, timeout: Duration, wait: bool) -> HostResult<Value> {
    let t0 = Instant::now();
    nginx_program(&ctx.config.elysia)?;
    let cfg = &ctx.config.elysia;
    elysia::preflight(ctx)?;
    let mut ports = Vec::new();
    for _ in 0..count {
        ports.push(free_port(&ports)?);
    }
    let set = WorkerSet { ports };
    write_set(&set)?;
    for (i, &port) in set.ports.iter().enumerate() {
        spawn_worker(ctx, i, port)?;
    }
    write_proxy_conf(ctx, &set)?;
    let pid = spawn_proxy(ctx)?;
    let ready = if wait {
        let all: Vec<usize> = (0..set.ports.len()).collect();
        wait_workers(ctx, &set, &all, timeout)?;
        Some(wait_proxy(ctx, timeout)?.ready())
    } else {
        None
    };
    Ok(json!({
        "service": "elysia",
        "pid": pid,
        "url": cfg.url(),
        "ready": ready,
        "seconds": round1(t0.elapsed().as_secs_f64()),
        "workers": set.ports.len(),
    }))
}

/// Stop nginx and every worker of the recorded set; the record goes.
pub fn stop(timeout: Duration) -> HostResult<Value> {
    let proxy = stop_pid_file(&proxy_pid_file(), timeout)?;
    let mut workers = Vec::new();
    let count = read_set().map(|s| s.ports.len()).unwrap_or(0);
    // Also any worker PID file beyond the record (a scale that failed half-way).
    for i in 0..count.max(MAX_ELYSIA_WORKERS as usize) {
        if i >= count && !worker_pid_file(i).exists() {
            continue;
        }
        workers.push(json!(stop_pid_file(&worker_pid_file(i), timeout)?));
    }
    let _ = std::fs::remove_file(set_file());
    Ok(json!({"proxy": proxy, "workers": workers}))
}

/// Change the number of workers of a running Elysia (or start it with that many).
pub fn scale(ctx: &Context, count: u32, timeout: Duration) -> HostResult<Value> {
    let t0 = Instant::now();
    let stop_timeout = Duration::from_secs(ctx.config.elysia.stop_timeout);
    let current = read_set();
    let single_runs = matches!(
        proc::pid_state(&elysia::pid_file())?,
        PidState::Running { .. }
    );
    let before = match &current {
        Some(s) => s.ports.len(),
        None if single_runs => 1,
        None => 0,
    };
    let mut started = Vec::new();
    let mut stopped = Vec::new();
    if before == count as usize {
        // Nothing to change.
    } else if count == 1 {
        // Back to a plain Elysia on its own port: nginx must free it first.
        if current.is_some() {
            let s = stop(stop_timeout)?;
            stopped = (0..s["workers"].as_array().map_or(0, Vec::len)).collect();
        }
        elysia::start_single(ctx, timeout, true)?;
        started.push(0);
    } else if before == 0 {
        start(ctx, count, timeout, true)?;
        started = (0..count as usize).collect();
    } else if current.is_none() {
        // From one plain Elysia: workers first, then the port changes hands.
        nginx_program(&ctx.config.elysia)?;
        let mut ports = Vec::new();
        for _ in 0..count {
            ports.push(free_port(&ports)?);
        }
        let set = WorkerSet { ports };
        for (i, &port) in set.ports.iter().enumerate() {
            spawn_worker(ctx, i, port)?;
        }
        write_set(&set)?;
        let all: Vec<usize> = (0..set.ports.len()).collect();
        wait_workers(ctx, &set, &all, timeout)?;
        write_proxy_conf(ctx, &set)?;
        elysia::stop_single(stop_timeout)?;
        spawn_proxy(ctx)?;
        wait_proxy(ctx, timeout)?;
        started = all;
        stopped.push(usize::MAX);
    } else {
        let mut set = current.clone().unwrap_or(WorkerSet { ports: vec![] });
        let proxy = match proc::pid_state(&proxy_pid_file())? {
            PidState::Running { pid } => pid,
            _ => {
                return Err(HostError::validation(
                    "Elysia's workers are recorded but nginx, in front of them, does not run",
                )
                .with_hint("run `elysiactl elysia restart`, or stop and start it"))
            }
        };
        if count as usize > set.ports.len() {
            let new: Vec<usize> = (set.ports.len()..count as usize).collect();
            for &i in &new {
                let port = free_port(&set.ports)?;
                set.ports.push(port);
                spawn_worker(ctx, i, port)?;
            }
            write_set(&set)?;
            wait_workers(ctx, &set, &new, timeout)?;
            write_proxy_conf(ctx, &set)?;
            // SIGHUP: nginx re-reads its config; old connections finish on the old one.
            proc::signal(proxy, Signal::SIGHUP)?;
            started = new;
        } else {
            let gone: Vec<usize> = (count as usize..set.ports.len()).collect();
            set.ports.truncate(count as usize);
            write_proxy_conf(ctx, &set)?;
            proc::signal(proxy, Signal::SIGHUP)?;
            write_set(&set)?;
            for &i in &gone {
                stop_pid_file(&worker_pid_file(i), stop_timeout)?;
            }
            stopped = gone;
        }
        wait_proxy(ctx, timeout)?;
    }
    Ok(json!({
        "service": "elysia",
        "workers": count,
        "before": before,
        "started": started,
        "stopped": stopped.iter().map(|&i| if i == usize::MAX { json!("single") } else { json!(i) }).collect::<Vec<_>>(),
        "url": ctx.config.elysia.url(),
        "seconds": round1(t0.elapsed().as_secs_f64()),
    }))
}

/// One row per worker (index, port, pid, running, up) and nginx's row.
pub fn status(ctx: &Context, set: &WorkerSet) -> HostResult<(Vec<Value>, Value)> {
    let mut rows = Vec::new();
    for (i, &port) in set.ports.iter().enumerate() {
        let state = proc::pid_state(&worker_pid_file(i))?;
        let (running, pid) = match state {
            PidState::Running { pid } => (true, Some(pid)),
            PidState::Stale { pid } => (false, Some(pid)),
            PidState::Absent => (false, None),
        };
        let up = running && ctx.block_on(health(&ctx.http, port));
        rows.push(json!({
            "index": i, "port": port, "pid": pid, "running": running, "up": up,
            "memory_bytes": pid.filter(|_| running).and_then(proc::stats).map(|s| s.rss_bytes),
        }));
    }
    let (running, pid) = match proc::pid_state(&proxy_pid_file())? {
        PidState::Running { pid } => (true, Some(pid)),
        PidState::Stale { pid } => (false, Some(pid)),
        PidState::Absent => (false, None),
    };
    let proxy = json!({
        "program": "nginx", "pid": pid, "running": running, "port": ctx.config.elysia.port,
        "config": proxy_conf_file(), "access_log": proxy_access_log(),
    });
    Ok((rows, proxy))
}

async fn health(http: &reqwest::Client, port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{port}/api/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_hashes_on_the_user_in_the_path_and_lists_every_worker() {
        let conf = render_nginx_conf(
            "127.0.0.1",
            8000,
            &[9001, 9002, 9003],
            Path::new("/s/proxy"),
            Path::new("/l/err.log"),
            Path::new("/l/acc.log"),
        );
        assert!(conf.contains("hash $elysia_user consistent;"), "{conf}");
        for p in [9001, 9002, 9003] {
            assert!(conf.contains(&format!("server 127.0.0.1:{p};")), "{conf}");
        }
        assert!(conf.contains("listen 127.0.0.1:8000;"));
        assert!(conf.contains("pid /s/proxy/nginx.pid;"));
        assert!(conf.contains("daemon off;"));
        assert!(conf.contains("proxy_set_header Upgrade $http_upgrade;"));
    }

    #[test]
    fn counts_outside_one_to_the_limit_are_refused_with_the_range() {
        for bad in [0, -1, MAX_ELYSIA_WORKERS as i64 + 1] {
            let e = check_count(bad).unwrap_err();
            assert!(e.hint.contains("1 to"), "{e:?}");
        }
        assert_eq!(check_count(4).unwrap(), 4);
    }
}
