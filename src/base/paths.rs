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

/// `$XDG_CONFIG_HOME/elysiactl`: config.toml, the other environments'
/// configs (envs/) and user command scripts.
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join(APP)
}

/// `$XDG_DATA_HOME/elysiactl`: what every environment shares (installed
/// binaries, the Elysia venv, the embedding model).
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join(APP)
}

/// The environment this run acts on. The command line pins it in
/// `ELYSIACTL_ENV` (from `--env`, the variable itself, or `env switch`'s
/// choice) before anything reads a path, so every path below, and every
/// process the tool starts, agrees on it.
pub fn active_env() -> String {
    std::env::var(ENV_VAR)
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| DEFAULT_ENV.to_string())
}

/// The variable that names the active environment.
pub const ENV_VAR: &str = "ELYSIACTL_ENV";

/// The environment of a single-stack set-up: today's config.toml and
/// folders, unchanged.
pub const DEFAULT_ENV: &str = "default";

/// An environment's name ends up in file names and Docker names: a letter
/// or digit, then letters, digits, `-` or `_`, at most 40.
pub fn check_env_name(name: &str) -> HostResult<()> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(
            HostError::validation(format!("{name:?} cannot name an environment"))
                .with_hint("use letters, digits, - and _ (at most 40), e.g. staging or local-2"),
        )
    }
}

/// `$XDG_CONFIG_HOME/elysiactl/envs`: one NAME.toml per environment besides `default`.
pub fn envs_dir() -> PathBuf {
    config_dir().join("envs")
}

/// The config file of environment `env`: config.toml for `default`, else envs/NAME.toml.
pub fn env_config_file(env: &str) -> PathBuf {
    if env == DEFAULT_ENV {
        config_dir().join("config.toml")
    } else {
        envs_dir().join(format!("{env}.toml"))
    }
}

/// Where `env switch` records the environment a bare command acts on.
pub fn current_env_file() -> PathBuf {
    config_dir().join("current-env")
}

/// Below a root folder, the part that belongs to environment `env`: the
/// root itself for `default` (today's layout), else `envs/NAME` in it.
fn scoped(root: PathBuf, env: &str) -> PathBuf {
    if env == DEFAULT_ENV {
        root
    } else {
        root.join("envs").join(env)
    }
}

/// The state folder of environment `env` (see `state_dir`).
pub fn state_dir_of(env: &str) -> PathBuf {
    scoped(xdg("XDG_STATE_HOME", ".local/state").join(APP), env)
}

/// The data folder of environment `env` (see `env_data_dir`).
pub fn env_data_dir_of(env: &str) -> PathBuf {
    scoped(data_dir(), env)
}

/// The active environment's state: PID files, logs, REPL history, fault
/// registry, config history, backups. `$XDG_STATE_HOME/elysiactl` for
/// `default`, `…/elysiactl/envs/NAME` for another.
pub fn state_dir() -> PathBuf {
    state_dir_of(&active_env())
}

/// The active environment's data: node data, index stores, benchmark
/// baselines, cloned repositories. `$XDG_DATA_HOME/elysiactl` for
/// `default`, `…/elysiactl/envs/NAME` for another.
pub fn env_data_dir() -> PathBuf {
    env_data_dir_of(&active_env())
}

/// The active environment's config file.
pub fn config_file() -> PathBuf {
    env_config_file(&active_env())
}

pub fn user_scripts_dir() -> PathBuf {
    config_dir().join("scripts")
}

pub fn run_dir() -> PathBuf {
    state_dir().join("run")
}

/// The run folder (PID files, the runtime marker) of environment `env`.
pub fn run_dir_of(env: &str) -> PathBuf {
    state_dir_of(env).join("run")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_environment_keeps_todays_folders_and_another_gets_its_own() {
        let root = state_dir_of(DEFAULT_ENV);
        assert!(root.ends_with("elysiactl"), "{}", root.display());
        assert_eq!(state_dir_of("staging"), root.join("envs/staging"));
        assert_eq!(env_data_dir_of("staging"), data_dir().join("envs/staging"));
        assert_eq!(env_data_dir_of(DEFAULT_ENV), data_dir());
        assert!(env_config_file(DEFAULT_ENV).ends_with("elysiactl/config.toml"));
        assert!(env_config_file("staging").ends_with("elysiactl/envs/staging.toml"));
    }

    #[test]
    fn an_environment_name_cannot_leave_its_folder() {
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", &"x".repeat(41)] {
            assert!(check_env_name(bad).is_err(), "{bad:?}");
        }
        for good in ["default", "staging", "local-2", "prod_eu"] {
            assert!(check_env_name(good).is_ok(), "{good:?}");
        }
    }
}
