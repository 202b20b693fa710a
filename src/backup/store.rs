//! The backup store: versitygw serving S3 over a local folder, run as a
//! process of its own beside the nodes (whatever runtime runs them), with a
//! PID file and a log like every service this tool starts. The keys reach
//! it through its environment, never its command line (which `ps` shows).

use crate::base::config::BackupConfig;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState, SpawnSpec};
use crate::clients::s3::S3Client;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn pid_file() -> PathBuf {
    paths::run_dir().join("backup-store.pid")
}

pub fn log_file() -> PathBuf {
    paths::log_dir().join("backup-store.log")
}

/// A client of the configured store and bucket.
pub fn client(ctx: &Context) -> S3Client {
    client_for(ctx.http.clone(), &ctx.config.backup)
}

pub fn client_for(http: reqwest::Client, b: &BackupConfig) -> S3Client {
    S3Client::new(http, &b.url(), &b.bucket, &b.access_key, &b.secret_key)
}

/// The refusal when a backup command runs without a store configured.
pub fn not_configured() -> HostError {
    HostError::validation("backups are not configured: [backup] enabled is not true").with_hint(
        "set enabled = true and secret_key under [backup] in the config, run `elysiactl install backup-store`, then restart the stack (`elysiactl stop && elysiactl start`) so the nodes load the backup-s3 module",
    )
}

pub fn require_enabled(ctx: &Context) -> HostResult<()> {
    if ctx.config.backup.enabled {
        Ok(())
    } else {
        Err(not_configured())
    }
}

/// Whether the store's process runs, and where.
pub fn status(ctx: &Context) -> HostResult<Value> {
    let b = &ctx.config.backup;
    let state = proc::pid_state(&pid_file())?;
    let (running, pid) = match state {
        PidState::Running { pid } => (true, Some(pid)),
        PidState::Stale { pid } => (false, Some(pid)),
        PidState::Absent => (false, None),
    };
    Ok(json!({
        "enabled": b.enabled, "running": running, "pid": pid,
        "endpoint": b.url(), "bucket": b.bucket, "dir": b.dir_path().display().to_string(),
        "binary": b.binary_path().display().to_string(),
    }))
}

/// Start the store (when it does not run already), wait until it answers,
/// and create the bucket, which versitygw needs before the first write.
/// `also_listen` is a second address (`ip:port`) for nodes that reach the
/// host elsewhere than backup.host (containers: the bridge's gateway).
pub fn start(ctx: &Context, timeout: Duration, also_listen: Option<String>) -> HostResult<Value> {
    let b = &ctx.config.backup;
    require_enabled(ctx)?;
    let binary = b.binary_path();
    if !binary.exists() {
        return Err(HostError::fs(format!(
            "the backup store's binary {} is not there",
            binary.display()
        ))
        .with_hint("run `elysiactl install backup-store` (or set backup.binary)"));
    }
    let pid_file = pid_file();
    let mut action = "present";
    match proc::pid_state(&pid_file)? {
        PidState::Running { .. } => {}
        _ if proc::port_in_use(&b.host, b.port) && answers(ctx) => {
            // Another stack's store with these keys (a second cluster sharing
            // the store, to restore one's backups into the other): used as it
            // is, and left to the stack that started it.
            action = "shared";
        }
        state => {
            if let PidState::Stale { .. } = state {
                let _ = std::fs::remove_file(&pid_file);
            }
            if proc::port_in_use(&b.host, b.port) {
                return Err(HostError::validation(format!(
                    "the backup store's port {}:{} is taken by another program",
                    b.host, b.port
                ))
                .with_hint("stop it, or set backup.port to a free port"));
            }
            let dir = b.dir_path();
            std::fs::create_dir_all(&dir)
                .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
            let mut args = vec!["--port".to_string(), b.endpoint()];
            if let Some(addr) = also_listen {
                args.extend(["--port".to_string(), addr]);
            }
            args.extend(["--quiet".into(), "posix".into(), dir.display().to_string()]);
            proc::spawn(&SpawnSpec {
                program: binary,
                args,
                env: [
                    ("ROOT_ACCESS_KEY_ID".to_string(), b.access_key.clone()),
                    (
                        "ROOT_SECRET_ACCESS_KEY".to_string(),
                        b.secret_key.expose().to_string(),
                    ),
                ]
                .into(),
                cwd: Some(dir),
                pid_file: pid_file.clone(),
                log_file: log_file(),
                rotation: ctx.config.logs,
                ..Default::default()
            })?;
            action = "started";
        }
    }
    let t0 = Instant::now();
    let s3 = client(ctx);
    let created = loop {
        match ctx.block_on(s3.ensure_bucket()) {
            Ok(created) => break created,
            Err(e) if t0.elapsed() < timeout && proc::pid_state(&pid_file)? != PidState::Absent => {
                if let PidState::Stale { .. } = proc::pid_state(&pid_file)? {
                    let tail = proc::tail_lines(&log_file(), 8).join("\n    ");
                    return Err(HostError::unknown(format!(
                        "the backup store stopped at start\n  last log lines:\n    {tail}"
                    ))
                    .with_hint(format!("its log is {}", log_file().display())));
                }
                tracing::debug!("backup store not answering yet: {}", e.message);
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    };
    Ok(
        json!({"service": "backup-store", "action": action, "endpoint": b.url(),
              "bucket": b.bucket, "bucket_created": created}),
    )
}

/// Whether a store answers at the configured address with the configured
/// keys (ours or another stack's).
pub fn answers(ctx: &Context) -> bool {
    ctx.block_on(client(ctx).probe()).is_ok()
}

/// Whether the store this stack uses runs: its own, or another stack's
/// that answers with these keys.
pub fn running(ctx: &Context) -> HostResult<bool> {
    Ok(matches!(proc::pid_state(&pid_file())?, PidState::Running { .. }) || answers(ctx))
}

/// Stop the store if it runs.
pub fn stop(timeout: Duration) -> HostResult<String> {
    let pid_file = pid_file();
    let outcome = match proc::read_pid_file(&pid_file)? {
        None => "not running".to_string(),
        Some(rec) => proc::terminate(rec, timeout)?.to_string(),
    };
    let _ = std::fs::remove_file(&pid_file);
    Ok(outcome)
}

/// The environment that points a node's backup-s3 module at the store, for
/// an endpoint as the node reaches it.
pub fn node_env(b: &BackupConfig, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BACKUP_S3_ENDPOINT", endpoint.to_string()),
        ("BACKUP_S3_BUCKET", b.bucket.clone()),
        ("BACKUP_S3_USE_SSL", "false".into()),
        ("AWS_ACCESS_KEY_ID", b.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", b.secret_key.expose().to_string()),
        // minio-go would ask the store for the bucket's region without it.
        ("AWS_REGION", "us-east-1".into()),
    ]
}
