//! Validation: every setting within what the tool can act on, else the
//! first that is not, by its dotted name so that the loader can point at its
//! line in the file.

use super::{embedding_endpoint_missing, Config, EmbedderKind, Transport};
use crate::base::error::{HostError, HostResult};

/// Most threads one stage of the index pipeline (or the repository
/// fetcher) may run: far beyond what helps on any machine this runs on, and
/// far below where spawning fails.
pub const MAX_WORKERS: u64 = 64;
/// Elysia processes at most: each holds about 380 MB and imports for ~10 s.
pub const MAX_ELYSIA_WORKERS: u64 = 16;

/// A setting that fails `Config::check`.
pub(super) struct Invalid {
    /// Dotted, e.g. `index.batch_size`; where two settings clash, both, the
    /// one to name first.
    pub(super) keys: Vec<String>,
    pub(super) error: HostError,
}

/// The line (1-based) where a dotted key is set in a config file's text.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let start = item.span()?.start;
    Some(text.get(..start)?.matches('\n').count() + 1)
}

/// A host as URLs are built from it (`http://{host}:{port}`): a DNS name,
/// an IPv4 address, or an IPv6 address in brackets.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("it is empty");
    }
    if host.contains("://") {
        return Err("it has a scheme");
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "what is in brackets is not an IPv6 address");
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err("an IPv6 address needs brackets, e.g. [::1]");
    }
    if host.contains('/') {
        return Err("it has a path");
    }
    if host.contains(':') {
        return Err("it has a port");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if host.len() > 253 || !host.trim_end_matches('.').split('.').all(label_ok) {
        return Err("a host name is letters, digits, - and _ in dot-separated parts");
    }
    Ok(())
}

impl Config {
    pub fn validate(&self) -> HostResult<()> {
        self.check().map_err(|bad| bad.error)
    }

    /// Every setting within what the tool can act on, else the first that
    /// is not, by its dotted name (so a loader can find its line).
    pub(super) fn check(&self) -> Result<(), Invalid> {
        let bad = |key: &str, error: HostError| Invalid {
            keys: key.split(',').map(str::to_string).collect(),
            error,
        };
        let i = &self.index;
        let embedder = EmbedderKind::parse(&i.embedder).map_err(|e| bad("index.embedder", e))?;
        if embedder == EmbedderKind::Openai
            && (i.embedding_url.is_empty() || i.embedding_model.is_empty())
        {
            return Err(bad("index.embedder", embedding_endpoint_missing()));
        }
        Transport::parse(&i.transport).map_err(|e| bad("index.transport", e))?;
        if !["hnsw", "flat", "dynamic"].contains(&i.vector_index.as_str()) {
            return Err(bad(
                "index.vector_index",
                HostError::validation(format!(
                    "index.vector_index = {:?} is not a vector index",
                    i.vector_index
                ))
                .with_hint("use \"hnsw\", \"flat\" or \"dynamic\" (docs/indexing.md)"),
            ));
        }
        // Sizes the index pipeline is built from: threads are spawned per
        // worker and a batch is held in memory, so each has a ceiling.
        for (key, value, min, max, what) in [
            ("index.batch_size", i.batch_size as u64, 1, 10_000, "objects per batch request"),
            ("index.upload_concurrency", i.upload_concurrency as u64, 1, MAX_WORKERS, "uploader threads, each with a request in flight"),
            ("index.chunk_workers", i.chunk_workers as u64, 1, MAX_WORKERS, "threads reading and chunking files"),
            ("index.embed_workers", i.embed_workers as u64, 1, MAX_WORKERS, "threads embedding chunks"),
            ("index.max_file_bytes", i.max_file_bytes, 1, 1 << 30, "the largest file indexed, in bytes (0 would leave every file out and delete what was indexed)"),
            ("index.chunk_lines", i.chunk_lines as u64, 1, 100_000, "the most lines in one chunk"),
            ("index.embedding_timeout_s", i.embedding_timeout_s, 1, 3600, "seconds one embedding request may take"),
            ("repos.max_concurrent", self.repos.max_concurrent as u64, 1, MAX_WORKERS, "repositories fetched at once, a thread each"),
            ("index.request_timeout", i.request_timeout, 1, 3600, "seconds one batch upload may take"),
            ("index.retry_attempts", i.retry_attempts as u64, 1, 100, "tries of one batch, the first included"),
            ("repos.update_interval", self.repos.update_interval, 1, 7 * 86_400, "seconds between repo-sync runs"),
            ("elysia.workers", self.elysia.workers as u64, 1, MAX_ELYSIA_WORKERS, "Elysia processes (about 380 MB each); more than one run behind nginx"),
        ] {
            if !(min..=max).contains(&value) {
                return Err(bad(
                    key,
                    HostError::validation(format!("{key} = {value} is out of range"))
                        .with_hint(format!("use {min} to {max}: {what}")),
                ));
            }
        }
        if i.overlap_lines >= i.chunk_lines {
            return Err(bad(
                "index.overlap_lines,index.chunk_lines",
                HostError::validation(format!(
                    "index.overlap_lines = {} must be less than index.chunk_lines = {}",
                    i.overlap_lines, i.chunk_lines
                ))
                .with_hint("windows move on by chunk_lines - overlap_lines lines; e.g. chunk_lines = 60, overlap_lines = 8"),
            ));
        }
        for (key, host) in [
            ("weaviate.host", &self.weaviate.host),
            ("elysia.host", &self.elysia.host),
            ("backup.host", &self.backup.host),
        ] {
            if let Err(why) = check_host(host) {
                let port = match key {
                    "weaviate.host" => "weaviate.rest_port (node i listens on rest_port + i)",
                    "backup.host" => "backup.port",
                    _ => "elysia.port",
                };
                return Err(bad(
                    key,
                    HostError::validation(format!(
                        "{key} = {host:?} is not a host name or IP address: {why}"
                    ))
                    .with_hint(format!(
                        "write only the host, e.g. \"127.0.0.1\" or \"weaviate.internal\"; \
                         the port goes in {port}, and there is no scheme or path"
                    )),
                ));
            }
        }
        let w = &self.weaviate;
        if w.nodes == 0 || w.nodes > super::MAX_NODES {
            return Err(bad(
                "weaviate.nodes",
                HostError::validation(format!("weaviate.nodes = {} is out of range", w.nodes))
                    .with_hint(format!("use between 1 and {} nodes", super::MAX_NODES)),
            ));
        }
        for url in &w.urls {
            if let Err(why) = super::parse_url(url) {
                return Err(bad(
                    "weaviate.urls",
                    HostError::validation(format!("weaviate.urls: {why}"))
                        .with_hint("write each node's (or the load balancer's) REST URL, e.g. \"https://weaviate.example.com\" or \"http://10.0.0.5:8080\""),
                ));
            }
        }
        if w.runtime == Some(super::RuntimeKind::Remote) && w.urls.is_empty() {
            return Err(bad(
                "weaviate.runtime",
                HostError::validation("weaviate.runtime = \"remote\" needs weaviate.urls")
                    .with_hint("add urls = [\"https://…\"] under [weaviate]: where the cluster someone else runs answers"),
            ));
        }
        let top = |base: u16, span: usize| base as usize + span;
        for (name, base, span) in [
            ("rest_port", w.rest_port, w.nodes),
            ("grpc_port", w.grpc_port, w.nodes),
            ("gossip_port", w.gossip_port, 2 * w.nodes),
            ("raft_port", w.raft_port, 2 * w.nodes),
            ("metrics_port", w.metrics_port, w.nodes),
        ] {
            if base == 0 || top(base, span) > 65535 {
                return Err(bad(
                    &format!("weaviate.{name}"),
                    HostError::validation(format!(
                        "weaviate.{name} = {base} leaves no room for {} nodes",
                        w.nodes
                    ))
                    .with_hint("pick a base port between 1024 and 60000"),
                ));
            }
        }
        // The same parser as --script-timeout, so "90" means 90 seconds in both.
        crate::base::units::parse_duration(&self.script.timeout).map_err(|e| {
            bad(
                "script.timeout",
                HostError::validation(format!(
                    "script.timeout = {:?}: {}",
                    self.script.timeout, e.message
                ))
                .with_hint("write a duration such as \"30s\", \"10m\" or \"1h\""),
            )
        })?;
        if self.backup.enabled && !self.backup.secret_key.is_set() {
            return Err(bad(
                "backup.enabled",
                HostError::validation("backup.enabled = true needs backup.secret_key").with_hint(
                    "set backup.secret_key under [backup] (a value, \"env:NAME\" or \"file:PATH\")",
                ),
            ));
        }
        if self.backup.bucket.len() < 3
            || self.backup.bucket.len() > 63
            || !self
                .backup
                .bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(bad(
                "backup.bucket",
                HostError::validation(format!(
                    "backup.bucket = {:?} is not an S3 bucket name",
                    self.backup.bucket
                ))
                .with_hint("use 3 to 63 lowercase letters, digits, '-' or '.'"),
            ));
        }
        let mut chaos = Vec::new();
        for (key, text) in [
            ("chaos.default_duration", &self.chaos.default_duration),
            ("chaos.max_duration", &self.chaos.max_duration),
        ] {
            let d = crate::base::units::parse_positive_duration(text).map_err(|e| {
                bad(
                    key,
                    HostError::validation(format!("{key} = {text:?}: {}", e.message))
                        .with_hint("write a duration such as \"30s\" or \"10m\""),
                )
            })?;
            chaos.push(d);
        }
        if chaos[0] > chaos[1] {
            return Err(bad(
                "chaos.default_duration",
                HostError::validation(format!(
                    "chaos.default_duration = {:?} is longer than chaos.max_duration = {:?}",
                    self.chaos.default_duration, self.chaos.max_duration
                ))
                .with_hint("lower chaos.default_duration or raise chaos.max_duration"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_enabled_need_a_secret_a_bucket_name_and_a_host() {
        let check = |text: &str| Config::parse(text).unwrap().validate();
        let ok = "[backup]\nenabled = true\nsecret_key = \"s3cr3t-key-1\"\n";
        assert!(check(ok).is_ok());
        let err = check("[backup]\nenabled = true\n").unwrap_err();
        assert!(err.message.contains("backup.secret_key"), "{}", err.message);
        let err = check(&format!("{ok}bucket = \"Has_Upper\"\n")).unwrap_err();
        assert!(
            err.message.contains("not an S3 bucket name"),
            "{}",
            err.message
        );
        let err = check(&format!("{ok}host = \"127.0.0.1:7070\"\n")).unwrap_err();
        assert!(err.message.contains("backup.host"), "{}", err.message);
        assert!(err.hint.contains("backup.port"), "{}", err.hint);
        // Not enabled: no secret needed.
        assert!(check("[backup]\nport = 9000\n").is_ok());
    }

    #[test]
    fn index_transport_is_grpc_rest_or_refused() {
        let mut cfg = Config::parse("[index]\ntransport = \"rest\"\n").unwrap();
        assert!(cfg.validate().is_ok());
        cfg.apply_env(|k| (k == "ELYSIACTL_INDEX_TRANSPORT").then(|| "carrier-pigeon".into()))
            .unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.message.contains("carrier-pigeon"), "{}", err.message);
        assert!(err.hint.contains("grpc"), "{}", err.hint);
    }

    #[test]
    fn index_vector_index_is_one_weaviate_has() {
        let mut cfg = Config::parse("[index]\nvector_index = \"flat\"\n").unwrap();
        assert!(cfg.validate().is_ok());
        cfg.apply_env(|k| (k == "ELYSIACTL_INDEX_VECTOR_INDEX").then(|| "hnsw".into()))
            .unwrap();
        assert_eq!(cfg.index.vector_index, "hnsw");
        cfg.index.vector_index = "annoy".into();
        let err = cfg.validate().unwrap_err();
        assert!(
            err.message.contains("index.vector_index"),
            "{}",
            err.message
        );
        assert!(err.hint.contains("dynamic"), "{}", err.hint);
    }

    #[test]
    fn index_embedder_is_one_of_the_built_ones() {
        let mut cfg = Config::parse("[index]\nembedder = \"static\"\n").unwrap();
        assert!(cfg.validate().is_ok());
        cfg.apply_env(|k| (k == "ELYSIACTL_INDEX_EMBEDDER").then(|| "gpt".into()))
            .unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.message.contains("\"gpt\""), "{}", err.message);
        assert!(err.hint.contains("minilm"), "{}", err.hint);
        cfg.index.embedder = "openai".into();
        let err = cfg.validate().unwrap_err();
        assert!(err.message.contains("embedding_url"), "{}", err.message);
        cfg.index.embedding_url = "http://127.0.0.1:1/v1".into();
        cfg.index.embedding_model = "m".into();
        cfg.apply_env(|k| (k == "ELYSIACTL_EMBEDDING_API_KEY").then(|| "sk-x".into()))
            .unwrap();
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.index.embedding_api_key.expose(), "sk-x");
        assert!(!serde_json::to_string(&cfg).unwrap().contains("sk-x"));
    }

    #[test]
    fn hosts_are_names_or_addresses_without_port_scheme_or_path() {
        for good in [
            "127.0.0.1",
            "localhost",
            "weaviate-0.svc.cluster.local",
            "[::1]",
            "db_1",
        ] {
            assert!(check_host(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("127.0.0.1:8080/v1", "path"),
            ("127.0.0.1:8080", "port"),
            ("http://h", "scheme"),
            ("::1", "brackets"),
            ("", "empty"),
            ("a b", "letters"),
            ("a..b", "letters"),
        ] {
            assert!(check_host(bad).unwrap_err().contains(why), "{bad}");
        }
    }
}
