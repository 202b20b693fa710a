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

    /// Where the config file is read from: `--config`, else
    /// `ELYSIACTL_CONFIG`, else the XDG default. Needs no file to exist.
    pub fn path(explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ELYSIACTL_CONFIG").map(PathBuf::from))
            .unwrap_or_else(paths::config_file)
    }

    /// Load the effective configuration: file (if any), then environment.
    pub fn load(explicit: Option<&Path>) -> HostResult<Config> {
        let path = Config::path(explicit);
        let mut text = None;
        let mut cfg = if path.exists() {
            let text = text.insert(
                std::fs::read_to_string(&path)
                    .map_err(|e| HostError::io(format!("cannot read {}", path.display()), e))?,
            );
            let mut cfg = Config::parse_file(text, Some(&path)).map_err(|e| {
                HostError::validation(format!("{}: {}", path.display(), e.message))
                    .with_hint(e.hint)
            })?;
            cfg.sources.push(format!("file {}", path.display()));
            cfg
        } else if explicit.is_some() {
            return Err(
                HostError::fs(format!("config file {} does not exist", path.display()))
                    .with_hint("check the path given to --config"),
            );
        } else {
            let mut cfg = Config::default();
            cfg.sources.push("defaults".into());
            cfg
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
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
        let mut applied = Vec::new();
        let port = |name: &str, v: String| -> HostResult<u16> {
            v.parse().map_err(|_| {
                HostError::validation(format!("{name}={v} is not a port number"))
                    .with_hint(format!("set {name} to a number between 1 and 65535"))
            })
        };
        if let Some(v) = get("ELYSIA_HOST") {
            self.elysia.host = v;
            applied.push("ELYSIA_HOST");
        }
        if let Some(v) = get("ELYSIA_PORT") {
            self.elysia.port = port("ELYSIA_PORT", v)?;
            applied.push("ELYSIA_PORT");
        }
        if let Some(v) = get("ELYSIA_API_KEY") {
            self.elysia.api_key = Secret::new(v);
            applied.push("ELYSIA_API_KEY");
        }
        if let Some(v) = get("ELYSIA_VENV") {
            self.elysia.venv = v;
            applied.push("ELYSIA_VENV");
        }
        if let Some(v) = get("ELYSIACTL_EMBEDDING_API_KEY") {
            self.index.embedding_api_key = Secret::new(v);
            applied.push("ELYSIACTL_EMBEDDING_API_KEY");
        }
        if let Some(v) = get("WEAVIATE_API_KEY") {
            self.weaviate.api_key = Secret::new(v);
            applied.push("WEAVIATE_API_KEY");
        }
        if let Some(v) = get("WEAVIATE_HOST") {
            self.weaviate.host = v;
            applied.push("WEAVIATE_HOST");
        }
        if let Some(v) = get("WEAVIATE_PORT") {
            self.weaviate.rest_port = port("WEAVIATE_PORT", v)?;
            applied.push("WEAVIATE_PORT");
        }
        if let Some(v) = get("WEAVIATE_GRPC_PORT") {
            self.weaviate.grpc_port = port("WEAVIATE_GRPC_PORT", v)?;
            applied.push("WEAVIATE_GRPC_PORT");
        }
        if let Some(v) = get("ELYSIACTL_RUNTIME") {
            self.weaviate.runtime = Some(RuntimeKind::parse(&v)?);
            applied.push("ELYSIACTL_RUNTIME");
        }
        if let Some(v) = get("ELYSIACTL_WEAVIATE_BINARY") {
            self.weaviate.binary = v;
            applied.push("ELYSIACTL_WEAVIATE_BINARY");
        }
        if let Some(v) = get("ELYSIACTL_INDEX_EMBEDDER") {
            self.index.embedder = v;
            applied.push("ELYSIACTL_INDEX_EMBEDDER");
        }
        if let Some(v) = get("ELYSIACTL_INDEX_TRANSPORT") {
            self.index.transport = v;
            applied.push("ELYSIACTL_INDEX_TRANSPORT");
        }
        let number = |name: &str, v: String| -> HostResult<u64> {
            v.trim().parse().map_err(|_| {
                HostError::validation(format!("{name}={v} is not a whole number"))
                    .with_hint(format!("set {name} to a number such as 10"))
            })
        };
        // The original tool's README names the list MGIT_REPOS_LIST, its
        // env files MGIT_REPOS_FILE: both mean repos.file, the latter wins.
        for name in ["MGIT_REPOS_LIST", "MGIT_REPOS_FILE"] {
            if let Some(v) = get(name) {
                self.repos.file = v;
                applied.push(name);
            }
        }
        if let Some(v) = get("MGIT_CLONE_DEPTH") {
            self.repos.clone_depth = number("MGIT_CLONE_DEPTH", v)? as u32;
            applied.push("MGIT_CLONE_DEPTH");
        }
        if let Some(v) = get("MGIT_MAX_CONCURRENT") {
            self.repos.max_concurrent = number("MGIT_MAX_CONCURRENT", v)?.max(1) as usize;
            applied.push("MGIT_MAX_CONCURRENT");
        }
        if let Some(v) = get("ELYSIA_DIFF_THRESHOLD") {
            self.repos.diff_threshold = number("ELYSIA_DIFF_THRESHOLD", v)? as usize;
            applied.push("ELYSIA_DIFF_THRESHOLD");
        }
        if let Some(v) = get("ELYSIA_BATCH_SIZE") {
            self.index.batch_size = number("ELYSIA_BATCH_SIZE", v)?.max(1) as usize;
            applied.push("ELYSIA_BATCH_SIZE");
        }
        if !applied.is_empty() {
            self.sources
                .push(format!("environment {}", applied.join(", ")));
        }
        Ok(())
    }
}

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
