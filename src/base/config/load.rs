//! Loading: defaults, then the TOML file, then the environment variables
//! the seed's deployment named. A bad value's error names the line to fix,
//! and never quotes a secret back.

use super::check::{line_of_key, Invalid};
use super::{Config, RuntimeKind, Secret};
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use std::path::{Path, PathBuf};

/// The value written on `line` (1-based) when its key names a secret: a
/// parse error quotes the value it could not take, and must not show a key.
fn secret_value_on_line(text: &str, line: usize) -> Option<&str> {
    let (key, value) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim().trim_matches(['"', '\'']);
    let value = value.split(" #").next().unwrap_or(value).trim();
    let value = value.trim_matches(['"', '\'']);
    (crate::base::redact::is_secret_name(key) && !value.is_empty()).then_some(value)
}

impl Config {
    /// The config file this configuration was loaded from, or would be.
    pub fn file_path(&self) -> PathBuf {
        self.file.clone().unwrap_or_else(paths::config_file)
    }

    /// Where the config file is read from: `--config`, else (in the
    /// `default` environment) `ELYSIACTL_CONFIG`, else the active
    /// environment's file. Needs no file to exist. `ELYSIACTL_CONFIG` stands
    /// for config.toml only: `--env staging` must read staging's file.
    pub fn path(explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| {
                (paths::active_env() == paths::DEFAULT_ENV)
                    .then(|| std::env::var_os("ELYSIACTL_CONFIG").map(PathBuf::from))
                    .flatten()
            })
            .unwrap_or_else(paths::config_file)
    }

    /// Load the effective configuration: file (if any), then environment.
    pub fn load(explicit: Option<&Path>) -> HostResult<Config> {
        Config::load_with_env_files(explicit, &[])
    }

    /// `load`, with the original tool's env files (`--env-file`) read after
    /// the environment, in the order given.
    pub fn load_with_env_files(
        explicit: Option<&Path>,
        env_files: &[PathBuf],
    ) -> HostResult<Config> {
        let path = Config::path(explicit);
        Config::load_from(&path, explicit.is_some(), env_files, &paths::active_env())
    }

    /// The effective configuration of environment `env` (its file, then
    /// the environment variables), whichever environment is active.
    pub fn load_env(env: &str) -> HostResult<Config> {
        Config::load_from(&paths::env_config_file(env), false, &[], env)
    }

    fn load_from(
        path: &Path,
        explicit: bool,
        env_files: &[PathBuf],
        env: &str,
    ) -> HostResult<Config> {
        let path = path.to_path_buf();
        let mut text = None;
        let mut own_keys = super::layers::Origins::new();
        let mut cfg = if path.exists() {
            let text = text.insert(
                std::fs::read_to_string(&path)
                    .map_err(|e| HostError::io(format!("cannot read {}", path.display()), e))?,
            );
            let mut cfg = Config::parse_file(text, Some(&path)).map_err(|e| {
                HostError::validation(format!("{}: {}", path.display(), e.message))
                    .with_hint(e.hint)
            })?;
            let (table, origins) = super::layers::resolve(text, &path, env)?;
            if let Some(base) = cfg.extends.clone() {
                cfg = super::layers::merged(table, &path, &base)?;
            }
            let own = format!("file {}", path.display());
            own_keys = origins
                .iter()
                .filter(|(_, o)| **o == own)
                .map(|(k, o)| (k.clone(), o.clone()))
                .collect();
            cfg.origins = origins;
            cfg.sources.push(format!("file {}", path.display()));
            cfg
        } else if explicit {
            return Err(
                HostError::fs(format!("config file {} does not exist", path.display()))
                    .with_hint("check the path given to --config"),
            );
        } else {
            let mut cfg = Config::default();
            cfg.sources.push("defaults".into());
            cfg
        };
        // Two environments on one Docker engine must not share containers,
        // a network or volumes: one that names none of its own gets its own.
        if env != paths::DEFAULT_ENV && !own_keys.contains_key("weaviate.cluster_name") {
            cfg.weaviate.cluster_name = format!("elysiactl-{env}");
            cfg.origins.insert(
                "weaviate.cluster_name".into(),
                format!("environment name {env}"),
            );
        }
        cfg.apply_env(|k| std::env::var(k).ok())?;
        for f in env_files {
            cfg.apply_env_file(f)?;
        }
        cfg.remember_secrets();
        cfg.check_loaded(text.as_deref(), &path)?;
        cfg.file = Some(path);
        Ok(cfg)
    }

    /// `validate` as `load` does it: a bad setting also names its line in
    /// `text`, the file at `path`, when the file set it (an environment
    /// variable may have).
    pub fn check_loaded(&self, text: Option<&str>, path: &Path) -> HostResult<()> {
        let Err(Invalid { keys, mut error }) = self.check() else {
            return Ok(());
        };
        let line = text.and_then(|t| keys.iter().find_map(|k| line_of_key(t, k)));
        if let Some(line) = line {
            error.message = format!("{} (line {line} of {})", error.message, path.display());
        }
        Err(error)
    }

    pub fn parse(text: &str) -> HostResult<Config> {
        Config::parse_file(text, None)
    }

    /// Parse the text of `file`; an error names the line to fix (serde's
    /// message already lists the keys a table takes).
    pub fn parse_file(text: &str, file: Option<&Path>) -> HostResult<Config> {
        toml::from_str(text).map_err(|e| {
            let mut message = e.message().trim().to_string();
            let of_file = file
                .map(|f| format!(" of {}", f.display()))
                .unwrap_or_default();
            let hint = match e.span() {
                Some(span) => {
                    let start = span.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    if let Some(value) = secret_value_on_line(text, line) {
                        message = message.replace(value, crate::base::redact::MASK);
                    }
                    format!("fix line {line}{of_file}")
                }
                None => format!("fix the config file{of_file}"),
            };
            HostError::validation(format!("invalid config: {message}")).with_hint(hint)
        })
    }

    /// Environment overrides, named as the seed's deployment named them.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> HostResult<()> {
        self.apply_vars("environment", get)
    }

    /// The variables elysiactl reads, from `origin` ("environment", or an
    /// env file), each recorded in `sources` with the setting it set, so
    /// `config show` says where a value came from. Where two names set one
    /// setting (an alias of the original tool's), the later one here wins.
    pub fn apply_vars(
        &mut self,
        origin: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> HostResult<()> {
        let mut applied: Vec<String> = Vec::new();
        // A bad value says where it came from when that was not the environment.
        let from = if origin == "environment" {
            String::new()
        } else {
            format!(" (from {origin})")
        };
        let port = |name: &str, v: String| -> HostResult<u16> {
            v.trim().parse().map_err(|_| {
                HostError::validation(format!("{name}={v} is not a port number{from}"))
                    .with_hint(format!("set {name} to a number between 1 and 65535"))
            })
        };
        let number = |name: &str, v: String| -> HostResult<u64> {
            v.trim().parse().map_err(|_| {
                HostError::validation(format!("{name}={v} is not a whole number{from}"))
                    .with_hint(format!("set {name} to a number such as 10"))
            })
        };
        let origins = &mut self.origins;
        let mut set = |name: &str, key: &str| {
            origins.insert(key.to_string(), format!("{origin} {name}"));
            applied.push(format!("{name} -> {key}"))
        };
        // The original tool's ELYSIA_CONTROL_* names first: ELYSIA_HOST and
        // ELYSIA_PORT, elysiactl's own, win when both are set.
        for name in ["ELYSIA_CONTROL_HOST", "ELYSIA_HOST"] {
            if let Some(v) = get(name) {
                self.elysia.host = v;
                set(name, "elysia.host");
            }
        }
        for name in ["ELYSIA_CONTROL_PORT", "ELYSIA_PORT"] {
            if let Some(v) = get(name) {
                self.elysia.port = port(name, v)?;
                set(name, "elysia.port");
            }
        }
        // ELYSIA_API_KEY: the model provider's key (Elysia has no API key of
        // its own for a client to send); ELYSIA_MODEL_API_KEY says so plainly.
        for name in ["ELYSIA_API_KEY", "ELYSIA_MODEL_API_KEY"] {
            if let Some(v) = get(name) {
                self.elysia.api_key = Secret::new(v);
                set(name, "elysia.api_key");
            }
        }
        if let Some(v) = get("ELYSIA_VENV") {
            self.elysia.venv = v;
            set("ELYSIA_VENV", "elysia.venv");
        }
        if let Some(v) = get("ELYSIACTL_EMBEDDING_API_KEY") {
            self.index.embedding_api_key = Secret::new(v);
            set("ELYSIACTL_EMBEDDING_API_KEY", "index.embedding_api_key");
        }
        if let Some(v) = get("WEAVIATE_API_KEY") {
            self.weaviate.api_key = Secret::new(v);
            set("WEAVIATE_API_KEY", "weaviate.api_key");
        }
        if let Some(v) = get("WEAVIATE_HOST") {
            self.weaviate.host = v;
            set("WEAVIATE_HOST", "weaviate.host");
        }
        if let Some(v) = get("WEAVIATE_PORT") {
            self.weaviate.rest_port = port("WEAVIATE_PORT", v)?;
            set("WEAVIATE_PORT", "weaviate.rest_port");
        }
        if let Some(v) = get("WEAVIATE_GRPC_PORT") {
            self.weaviate.grpc_port = port("WEAVIATE_GRPC_PORT", v)?;
            set("WEAVIATE_GRPC_PORT", "weaviate.grpc_port");
        }
        if let Some(v) = get("ELYSIACTL_RUNTIME") {
            self.weaviate.runtime = Some(RuntimeKind::parse(&v)?);
            set("ELYSIACTL_RUNTIME", "weaviate.runtime");
        }
        if let Some(v) = get("ELYSIACTL_WEAVIATE_BINARY") {
            self.weaviate.binary = v;
            set("ELYSIACTL_WEAVIATE_BINARY", "weaviate.binary");
        }
        if let Some(v) = get("ELYSIACTL_INDEX_EMBEDDER") {
            self.index.embedder = v;
            set("ELYSIACTL_INDEX_EMBEDDER", "index.embedder");
        }
        if let Some(v) = get("ELYSIACTL_INDEX_VECTOR_INDEX") {
            self.index.vector_index = v;
            set("ELYSIACTL_INDEX_VECTOR_INDEX", "index.vector_index");
        }
        if let Some(v) = get("ELYSIACTL_INDEX_TRANSPORT") {
            self.index.transport = v;
            set("ELYSIACTL_INDEX_TRANSPORT", "index.transport");
        }
        // The original tool's README names the list MGIT_REPOS_LIST, its
        // env files MGIT_REPOS_FILE: both mean repos.file, the latter wins.
        for name in ["MGIT_REPOS_LIST", "MGIT_REPOS_FILE"] {
            if let Some(v) = get(name) {
                self.repos.file = v;
                set(name, "repos.file");
            }
        }
        if let Some(v) = get("MGIT_INDEX_PATH") {
            self.repos.workdir = v;
            set("MGIT_INDEX_PATH", "repos.workdir");
        }
        if let Some(v) = get("MGIT_BRANCH") {
            self.repos.branch = v.trim().to_string();
            set("MGIT_BRANCH", "repos.branch");
        }
        if let Some(v) = get("MGIT_MAX_REPOS") {
            self.repos.max_repos = number("MGIT_MAX_REPOS", v)? as usize;
            set("MGIT_MAX_REPOS", "repos.max_repos");
        }
        if let Some(v) = get("MGIT_UPDATE_INTERVAL") {
            self.repos.update_interval = number("MGIT_UPDATE_INTERVAL", v)?;
            set("MGIT_UPDATE_INTERVAL", "repos.update_interval");
        }
        if let Some(v) = get("MGIT_CLONE_DEPTH") {
            self.repos.clone_depth = number("MGIT_CLONE_DEPTH", v)? as u32;
            set("MGIT_CLONE_DEPTH", "repos.clone_depth");
        }
        if let Some(v) = get("MGIT_MAX_CONCURRENT") {
            self.repos.max_concurrent = number("MGIT_MAX_CONCURRENT", v)?.max(1) as usize;
            set("MGIT_MAX_CONCURRENT", "repos.max_concurrent");
        }
        // The original's meaning (docs/configuration.md): all repositories'
        // changed files together, more than N. elysiactl's per-repository
        // "at least N" has its own name.
        if let Some(v) = get("ELYSIA_DIFF_THRESHOLD") {
            self.repos.total_diff_threshold = Some(number("ELYSIA_DIFF_THRESHOLD", v)? as usize);
            set("ELYSIA_DIFF_THRESHOLD", "repos.total_diff_threshold");
        }
        if let Some(v) = get("ELYSIACTL_REPO_DIFF_THRESHOLD") {
            self.repos.diff_threshold = number("ELYSIACTL_REPO_DIFF_THRESHOLD", v)? as usize;
            set("ELYSIACTL_REPO_DIFF_THRESHOLD", "repos.diff_threshold");
        }
        for name in ["ELYSIA_BATCH_SIZE", "ELYSIA_INGEST_BATCH_SIZE"] {
            if let Some(v) = get(name) {
                self.index.batch_size = number(name, v)?.max(1) as usize;
                set(name, "index.batch_size");
            }
        }
        if let Some(v) = get("ELYSIA_TIMEOUT") {
            self.index.request_timeout = number("ELYSIA_TIMEOUT", v)?;
            set("ELYSIA_TIMEOUT", "index.request_timeout");
        }
        if let Some(v) = get("ELYSIA_RETRY_ATTEMPTS") {
            self.index.retry_attempts = number("ELYSIA_RETRY_ATTEMPTS", v)? as usize;
            set("ELYSIA_RETRY_ATTEMPTS", "index.retry_attempts");
        }
        if !applied.is_empty() {
            // "environment NAME -> key, …" as before env files; "env file F: …".
            let sep = if origin == "environment" { " " } else { ": " };
            self.sources
                .push(format!("{origin}{sep}{}", applied.join(", ")));
        }
        Ok(())
    }

    /// Read an env file of the original tool (`config/*.env`): `NAME=value`
    /// lines, `export ` allowed, `#` comments, values in quotes or not; the
    /// names elysiactl reads apply over the environment (as `source F` did
    /// in the original's scripts), the others are listed in `sources` as
    /// ignored. A secret's value never appears in an error.
    pub fn apply_env_file(&mut self, path: &Path) -> HostResult<()> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HostError::io(format!("cannot read the env file {}", path.display()), e)
                .with_hint("check the path given to --env-file")
        })?;
        let mut vars = std::collections::BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let Some((name, value)) = line.split_once('=') else {
                return Err(HostError::validation(format!(
                    "line {} of {} is not NAME=value",
                    i + 1,
                    path.display()
                ))
                .with_hint("write one NAME=value per line, # for comments"));
            };
            let name = name.trim();
            let value = value.trim();
            let value = match value.chars().next() {
                Some(q @ ('"' | '\'')) if value.len() >= 2 && value.ends_with(q) => {
                    value[1..value.len() - 1].to_string()
                }
                // An unquoted value ends where a comment starts, as in a shell.
                _ => value.split(" #").next().unwrap_or("").trim().to_string(),
            };
            vars.insert(name.to_string(), value);
        }
        let origin = format!("env file {}", path.display());
        self.apply_vars(&origin, |k| vars.get(k).cloned())?;
        let ignored: Vec<&str> = vars
            .keys()
            .map(String::as_str)
            .filter(|k| !VARIABLES.contains(k))
            .collect();
        if !ignored.is_empty() {
            self.sources.push(format!(
                "{origin}: ignored (not read by elysiactl): {}",
                ignored.join(", ")
            ));
        }
        Ok(())
    }
}

/// Every variable `apply_vars` reads.
pub const VARIABLES: &[&str] = &[
    "ELYSIA_CONTROL_HOST",
    "ELYSIA_HOST",
    "ELYSIA_CONTROL_PORT",
    "ELYSIA_PORT",
    "ELYSIA_API_KEY",
    "ELYSIA_MODEL_API_KEY",
    "ELYSIA_VENV",
    "ELYSIACTL_EMBEDDING_API_KEY",
    "WEAVIATE_API_KEY",
    "WEAVIATE_HOST",
    "WEAVIATE_PORT",
    "WEAVIATE_GRPC_PORT",
    "ELYSIACTL_RUNTIME",
    "ELYSIACTL_WEAVIATE_BINARY",
    "ELYSIACTL_INDEX_EMBEDDER",
    "ELYSIACTL_INDEX_TRANSPORT",
    "MGIT_REPOS_LIST",
    "MGIT_REPOS_FILE",
    "MGIT_INDEX_PATH",
    "MGIT_BRANCH",
    "MGIT_MAX_REPOS",
    "MGIT_UPDATE_INTERVAL",
    "MGIT_CLONE_DEPTH",
    "MGIT_MAX_CONCURRENT",
    "ELYSIA_DIFF_THRESHOLD",
    "ELYSIACTL_REPO_DIFF_THRESHOLD",
    "ELYSIA_BATCH_SIZE",
    "ELYSIA_INGEST_BATCH_SIZE",
    "ELYSIA_TIMEOUT",
    "ELYSIA_RETRY_ATTEMPTS",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let mut cfg = Config::parse("[elysia]\nport = 9000\n").unwrap();
        cfg.apply_env(|k| match k {
            "ELYSIA_PORT" => Some("8123".into()),
            "WEAVIATE_API_KEY" => Some("k".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.elysia.port, 8123);
        assert_eq!(cfg.weaviate.api_key.expose(), "k");
    }

    #[test]
    fn bad_port_in_env_names_the_variable() {
        let mut cfg = Config::default();
        let err = cfg
            .apply_env(|k| (k == "ELYSIA_PORT").then(|| "eighty".to_string()))
            .unwrap_err();
        assert!(
            err.message.contains("ELYSIA_PORT=eighty"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_quoted_back() {
        let err = Config::parse("[weaviate]\napi_key = 123456789\n").unwrap_err();
        assert!(!err.message.contains("123456789"), "{}", err.message);
        assert!(err.message.contains("expected a string"), "{}", err.message);
        assert!(err.hint.contains("line 2"), "{}", err.hint);
    }

    #[test]
    fn unknown_key_is_refused_with_line() {
        let err = Config::parse("[weaviate]\nnodes = 3\nrest_prot = 1\n").unwrap_err();
        assert!(err.message.contains("rest_prot"), "{}", err.message);
        assert!(err.hint.contains("line 3"), "{}", err.hint);
    }
}
