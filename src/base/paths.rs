//! Where elysiactl keeps things on disk. Everything follows the XDG base
//! directories so that a test (or a second environment) can isolate itself by
//! setting `XDG_CONFIG_HOME`, `XDG_DATA_HOME` and `XDG_STATE_HOME`.

use crate::base::error::{HostError, HostResult};
use std::path::{Path, PathBuf};

const APP: &str = "elysiactl";

fn xdg(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => dirs::home_dir()
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join(fallback),
    }
}

/// `$XDG_CONFIG_HOME/elysiactl`: config.toml and user command scripts.
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join(APP)
}

/// `$XDG_DATA_HOME/elysiactl`: installed binaries, the Elysia venv, node data.
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join(APP)
}

/// `$XDG_STATE_HOME/elysiactl`: PID files, logs, REPL history, backups.
pub fn state_dir() -> PathBuf {
    xdg("XDG_STATE_HOME", ".local/state").join(APP)
}

pub fn config_file() -> PathBuf {
    config_dir().join("config.toml")
}

pub fn user_scripts_dir() -> PathBuf {
    config_dir().join("scripts")
}

pub fn run_dir() -> PathBuf {
    state_dir().join("run")
}

pub fn log_dir() -> PathBuf {
    state_dir().join("logs")
}

pub fn history_file() -> PathBuf {
    state_dir().join("repl_history")
}

/// Trees of the kernel, devices and runtime state: their files are process
/// memory and environments, devices and sockets, mounted secrets; never a
/// source tree or a list of repositories, whatever a script names.
const SYSTEM_TREES: &[&str] = &["/proc", "/sys", "/dev", "/run"];

/// Refuse a path (canonical: symlinks resolved) inside a system tree, for a
/// host function that reads `what` (e.g. "repository list").
pub fn refuse_system_tree(canonical: &Path, what: &str) -> HostResult<()> {
    match SYSTEM_TREES.iter().find(|t| canonical.starts_with(t)) {
        Some(tree) => Err(HostError::validation(format!(
            "{} is under {tree}: not a {what}",
            canonical.display()
        ))
        .with_hint(format!("give a {what} of your own"))),
        None => Ok(()),
    }
}

/// Write a file so that a reader (or a crash) sees the old content or the
/// new, never a part: written beside it, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> HostResult<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string());
    let Some(name) = name else {
        return Err(
            HostError::validation(format!("{} names no file", path.display()))
                .with_hint("give a file path, e.g. data.ndjson"),
        );
    };
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            HostError::io(format!("cannot write {}", path.display()), e)
        })
}
