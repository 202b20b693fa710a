//! Effective configuration: defaults, then the TOML file, then the seed's
//! environment variables, then command-line flags. Secrets live in `Secret`,
//! which never prints its value, so logs, `--json` and errors cannot leak it.

use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_WEAVIATE_VERSION: &str = "1.38.11";

/// An API key or similar. Serializes and prints as `***` (or empty when unset).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
    pub fn redacted(&self) -> &'static str {
        if self.is_set() {
            "***"
        } else {
            ""
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.redacted())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.redacted())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Docker,
    Process,
}

impl RuntimeKind {
    pub fn parse(s: &str) -> HostResult<RuntimeKind> {
        match s {
            "docker" => Ok(RuntimeKind::Docker),
            "process" => Ok(RuntimeKind::Process),
            other => Err(HostError::validation(format!("unknown runtime '{other}'"))
                .with_hint("use `docker` or `process`")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Process => "process",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeaviateConfig {
    /// `docker` or `process`; unset means: docker when an engine answers and the image exists, else process.
    pub runtime: Option<RuntimeKind>,
    /// Names what this cluster owns in Docker: `<name>-weaviate-0` containers, the `<name>` network, volumes.
    pub cluster_name: String,
    pub version: String,
    pub nodes: usize,
    /// Address clients use to reach the nodes.
    pub host: String,
    /// REST port of node 0; node i listens on rest_port + i.
    pub rest_port: u16,
    /// gRPC port of node 0; node i listens on grpc_port + i.
    pub grpc_port: u16,
    /// Memberlist port of node 0 (process runtime); node i uses gossip_port + 2i and the data port one above.
    pub gossip_port: u16,
    /// RAFT port of node 0 (process runtime); node i uses raft_port + 2i and the RPC port one above.
    pub raft_port: u16,
    /// Prometheus port of node 0; node i uses metrics_port + i.
    pub metrics_port: u16,
    /// Weaviate API key; when set, nodes start with API-key authentication and clients send it.
    pub api_key: Secret,
    /// Path to the weaviate-server binary; empty means the one `elysiactl install weaviate` builds.
    pub binary: String,
    /// Docker image for the docker runtime; empty means `elysiactl/weaviate:<version>`.
    pub image: String,
    /// Seconds to wait after SIGTERM before SIGKILL.
    pub stop_timeout: u64,
    /// Seconds `start` waits for the cluster to be ready.
    pub ready_timeout: u64,
    /// Replication factor every collection should have (health, repair); 0 means the node count, capped at 3.
    pub replication_factor: usize,
    /// Extra environment for every node (overrides the defaults elysiactl sets).
    pub env: BTreeMap<String, String>,
}

impl Default for WeaviateConfig {
    fn default() -> Self {
        WeaviateConfig {
            runtime: None,
            cluster_name: "elysiactl".into(),
            version: DEFAULT_WEAVIATE_VERSION.into(),
            nodes: 3,
            host: "127.0.0.1".into(),
            rest_port: 8080,
            grpc_port: 50051,
            gossip_port: 7100,
            raft_port: 8300,
            metrics_port: 2112,
            api_key: Secret::default(),
            binary: String::new(),
            image: String::new(),
            stop_timeout: 30,
            ready_timeout: 180,
            replication_factor: 0,
            env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElysiaConfig {
    /// Whether `start`/`stop`/`status` manage Elysia at all.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Python used to create the venv.
    pub python: String,
    /// The venv; empty means `$XDG_DATA_HOME/elysiactl/elysia-venv`.
    pub venv: String,
    /// A named conda environment to use instead of a venv (created by `install elysia`).
    pub conda_env: String,
    pub version: String,
    /// Key for Elysia's model provider, passed to Elysia as the variable named by `api_key_env`.
    pub api_key: Secret,
    pub api_key_env: String,
    pub stop_timeout: u64,
    pub ready_timeout: u64,
    /// Extra environment for Elysia (models, providers, timeouts).
    pub env: BTreeMap<String, String>,
}

impl Default for ElysiaConfig {
    fn default() -> Self {
        ElysiaConfig {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 8000,
            python: "python3".into(),
            venv: String::new(),
            conda_env: String::new(),
            version: "0.2.8".into(),
            api_key: Secret::default(),
            api_key_env: "OPENAI_API_KEY".into(),
            stop_timeout: 15,
            ready_timeout: 120,
            env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptConfig {
    /// Most Rhai operations / Lua instructions a script may run; 0 means no
    /// limit (the wall-clock limit, `timeout`, still applies).
    pub max_operations: u64,
    /// Wall-clock limit for one script, e.g. "10m".
    pub timeout: String,
}

impl Default for ScriptConfig {
    fn default() -> Self {
        ScriptConfig {
            max_operations: 50_000_000,
            timeout: "30m".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub weaviate: WeaviateConfig,
    pub elysia: ElysiaConfig,
    pub script: ScriptConfig,
    pub index: IndexConfig,
    pub repos: ReposConfig,
    /// Scheduled jobs (`elysiactl schedule`, `elysiactl daemon`).
    pub jobs: Vec<JobConfig>,
    /// Where the values came from, for `config show`.
    #[serde(skip_deserializing)]
    pub sources: Vec<String>,
    /// The config file this was loaded from (or would be).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// `index sync`: where chunks go and how the pipeline is sized.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// The collection chunks are written to unless --collection says otherwise.
    pub collection: String,
    /// Objects per batch upsert.
    pub batch_size: usize,
    /// Batch requests in flight at once.
    pub upload_concurrency: usize,
    /// Threads reading, hashing and chunking files.
    pub chunk_workers: usize,
    /// Files larger than this are skipped (and recorded).
    pub max_file_bytes: u64,
    /// Most lines in one chunk; windows overlap by `overlap_lines`.
    pub chunk_lines: usize,
    pub overlap_lines: usize,
    /// "none" (keyword search only), "static" (a token table distilled from
    /// all-MiniLM-L6-v2: fast), "minilm" (the transformer itself: better, slow
    /// on few cores) or "openai" (an OpenAI-compatible endpoint, below). The
    /// local ones need `elysiactl install model`.
    pub embedder: String,
    /// For "openai": the API's base URL (POST {url}/embeddings), e.g.
    /// "https://api.openai.com/v1" or "http://127.0.0.1:8090/v1".
    pub embedding_url: String,
    /// For "openai": the model the endpoint embeds with.
    pub embedding_model: String,
    /// For "openai": the bearer token; env ELYSIACTL_EMBEDDING_API_KEY.
    pub embedding_api_key: Secret,
    /// For "openai": seconds one request may take.
    pub embedding_timeout_s: u64,
    /// Threads embedding chunks (a stage of its own between chunkers and uploaders).
    pub embed_workers: usize,
    /// How batches travel: "grpc" (what the official clients use; the server
    /// answers with errors only) or "rest" (/v1/batch/objects).
    pub transport: String,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            collection: "CodeChunks".into(),
            batch_size: 200,
            upload_concurrency: 4,
            chunk_workers: 2,
            max_file_bytes: 1 << 20,
            chunk_lines: 60,
            overlap_lines: 8,
            embedder: "none".into(),
            embedding_url: String::new(),
            embedding_model: String::new(),
            embedding_api_key: Secret::default(),
            embedding_timeout_s: 60,
            embed_workers: 2,
            transport: "grpc".into(),
        }
    }
}

/// What turns chunks into vectors (`index.embedder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedderKind {
    /// No vectors: keyword search only.
    None,
    /// The token table distilled from all-MiniLM-L6-v2: fast.
    Static,
    /// all-MiniLM-L6-v2 itself: better, slow on few cores.
    Minilm,
    /// An OpenAI-compatible endpoint (`index.embedding_url`, `index.embedding_model`).
    Openai,
}

impl EmbedderKind {
    pub const ALL: [EmbedderKind; 4] = [
        EmbedderKind::None,
        EmbedderKind::Static,
        EmbedderKind::Minilm,
        EmbedderKind::Openai,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmbedderKind::None => "none",
            EmbedderKind::Static => "static",
            EmbedderKind::Minilm => "minilm",
            EmbedderKind::Openai => "openai",
        }
    }

    pub fn parse(s: &str) -> HostResult<EmbedderKind> {
        EmbedderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| unknown_embedder(s))
    }
}

pub fn unknown_embedder(kind: &str) -> HostError {
    HostError::validation(format!("index.embedder = {kind:?} is not an embedder")).with_hint(
        "use \"none\" (keyword search), \"static\" (fast, distilled), \"minilm\" \
         (all-MiniLM-L6-v2; slow on few cores) or \"openai\" (an OpenAI-compatible endpoint: \
         index.embedding_url, index.embedding_model); the local ones need `elysiactl install model`",
    )
}

/// What the endpoint embedder and the config's validation say when the
/// endpoint's URL or model is not set.
pub fn embedding_endpoint_missing() -> HostError {
    HostError::validation(
        "index.embedder = \"openai\" needs index.embedding_url and index.embedding_model",
    )
    .with_hint(
        "e.g. embedding_url = \"https://api.openai.com/v1\", embedding_model = \
         \"text-embedding-3-small\" under [index], and the key in \
         ELYSIACTL_EMBEDDING_API_KEY (or index.embedding_api_key)",
    )
}

/// How index batches travel (`index.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// What the official clients use; the server answers with errors only.
    Grpc,
    /// `/v1/batch/objects`.
    Rest,
}

impl Transport {
    pub fn parse(s: &str) -> HostResult<Transport> {
        match s {
            "grpc" => Ok(Transport::Grpc),
            "rest" => Ok(Transport::Rest),
            other => Err(HostError::validation(format!(
                "index.transport = {other:?} is not a transport"
            ))
            .with_hint("use \"grpc\" (the default) or \"rest\"")),
        }
    }
}

impl IndexConfig {
    /// `embedder`, which the loaded configuration has already checked.
    pub fn embedder_kind(&self) -> HostResult<EmbedderKind> {
        EmbedderKind::parse(&self.embedder)
    }

    /// `transport`, which the loaded configuration has already checked.
    pub fn transport_kind(&self) -> HostResult<Transport> {
        Transport::parse(&self.transport)
    }
}

/// `index repos`: the repository list the scheduled sync keeps indexed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReposConfig {
    /// One repository per line (path or URL), `#` comments; env MGIT_REPOS_FILE.
    pub file: String,
    /// Where URLs are cloned; empty means `$XDG_DATA_HOME/elysiactl/repos`.
    pub workdir: String,
    /// Shallow clone depth, 0 for full history; env MGIT_CLONE_DEPTH.
    pub clone_depth: u32,
    /// Repositories fetched at once; env MGIT_MAX_CONCURRENT.
    pub max_concurrent: usize,
    /// Changed files a repository needs before it is re-indexed; env ELYSIA_DIFF_THRESHOLD.
    pub diff_threshold: usize,
}

impl Default for ReposConfig {
    fn default() -> Self {
        ReposConfig {
            file: String::new(),
            workdir: String::new(),
            clone_depth: 1,
            max_concurrent: 4,
            diff_threshold: 1,
        }
    }
}

/// One scheduled job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub name: String,
    /// Five fields (minute first) or six (second first).
    pub cron: String,
    /// A command with its arguments, e.g. ["index", "repos"].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Or a playbook file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub playbook: String,
    /// How long a run may take, e.g. "10m".
    #[serde(default = "default_job_timeout")]
    pub timeout: String,
    /// "skip" (default): no second run while one runs; "allow".
    #[serde(default = "default_skip")]
    pub overlap: String,
    /// A run missed while the daemon was down: "skip" (default) or "once" (run at start).
    #[serde(default = "default_skip")]
    pub missed: String,
    /// Random delay up to this much, e.g. "30s".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jitter: String,
    /// "local" (default), "UTC" or an IANA name such as "Europe/Berlin".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timezone: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_job_timeout() -> String {
    "1h".into()
}
fn default_skip() -> String {
    "skip".into()
}
fn default_true() -> bool {
    true
}

/// Per-node addresses, derived from the port bases so they are declared once.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSpec {
    pub index: usize,
    pub name: String,
    pub host: String,
    pub rest_port: u16,
    pub grpc_port: u16,
    pub gossip_port: u16,
    pub data_port: u16,
    pub raft_port: u16,
    pub raft_rpc_port: u16,
    pub metrics_port: u16,
}

impl NodeSpec {
    pub fn rest_url(&self) -> String {
        format!("http://{}:{}", self.host, self.rest_port)
    }
}

impl WeaviateConfig {
    pub fn node(&self, i: usize) -> NodeSpec {
        let i16 = i as u16;
        NodeSpec {
            index: i,
            name: format!("weaviate-{i}"),
            host: self.host.clone(),
            rest_port: self.rest_port + i16,
            grpc_port: self.grpc_port + i16,
            gossip_port: self.gossip_port + 2 * i16,
            data_port: self.gossip_port + 2 * i16 + 1,
            raft_port: self.raft_port + 2 * i16,
            raft_rpc_port: self.raft_port + 2 * i16 + 1,
            metrics_port: self.metrics_port + i16,
        }
    }

    pub fn node_specs(&self) -> Vec<NodeSpec> {
        (0..self.nodes).map(|i| self.node(i)).collect()
    }

    pub fn binary_path(&self) -> PathBuf {
        if self.binary.is_empty() {
            paths::data_dir()
                .join("bin")
                .join(format!("weaviate-server-{}", self.version))
        } else {
            PathBuf::from(&self.binary)
        }
    }

    pub fn image_name(&self) -> String {
        if self.image.is_empty() {
            format!("elysiactl/weaviate:{}", self.version)
        } else {
            self.image.clone()
        }
    }

    /// Replication factor collections are expected to have: the configured
    /// one, else the node count capped at 3; never more than the nodes.
    pub fn expected_replication_factor(&self) -> usize {
        match self.replication_factor {
            0 => self.nodes.clamp(1, 3),
            n => n.clamp(1, self.nodes.max(1)),
        }
    }
}

impl ElysiaConfig {
    pub fn venv_path(&self) -> PathBuf {
        if self.venv.is_empty() {
            paths::data_dir().join("elysia-venv")
        } else {
            PathBuf::from(&self.venv)
        }
    }
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// How long a writer waits for another to finish with the config file.
const CONFIG_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `name` with `suffix` appended to its file name (`config.toml.lock`).
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    file.with_file_name(name)
}

/// Hold the writers' lock of a config file: an exclusive lock on
/// `config.toml.lock` beside it (released when the handle drops). The lock
/// file is never removed: removing it would let two writers lock two files.
fn lock_config(config_file: &Path) -> HostResult<std::fs::File> {
    let lock_path = beside(config_file, ".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            HostError::io(
                format!("cannot open the lock file {}", lock_path.display()),
                e,
            )
        })?;
    let deadline = std::time::Instant::now() + CONFIG_LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(HostError::timeout(format!(
                    "another process has held {} for {}s",
                    lock_path.display(),
                    CONFIG_LOCK_WAIT.as_secs()
                ))
                .with_hint(
                    "another elysiactl is writing the config file; try again when it is done",
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(HostError::io(
                    format!("cannot lock {}", lock_path.display()),
                    e,
                ))
            }
        }
    }
}

/// Replace `file` with `text` so that a reader sees the old file or the new
/// one, never half of either: written aside, flushed to disk, renamed over,
/// and the folder flushed so the rename itself survives a crash. The new
/// file keeps the old one's permissions (it may hold keys).
fn replace_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = beside(file, ".tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(file) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Edit the config file, keeping everything `edit` does not touch (comments
/// included) as the user wrote it. The result must still be a valid config,
/// else nothing is written. This is the one way the tool writes a config
/// file: under the writers' lock, `edit` sees the file as it is now (not as
/// this process loaded it), so concurrent read-modify-writes (thirty
/// `schedule add`s at once) each keep the others' changes; and the file is
/// replaced atomically. An error means nothing was written.
pub fn edit_file<T>(
    config_file: &Path,
    edit: impl FnOnce(&mut toml_edit::DocumentMut) -> HostResult<T>,
) -> HostResult<T> {
    // Write where a symlinked config file really lives, not over the link.
    let config_file =
        &std::fs::canonicalize(config_file).unwrap_or_else(|_| config_file.to_path_buf());
    if let Some(dir) = config_file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let _lock = lock_config(config_file)?;
    let text = match std::fs::read_to_string(config_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        // Not "empty": writing would replace a file we could not read.
        Err(e) => {
            return Err(HostError::io(
                format!("cannot read {}", config_file.display()),
                e,
            ))
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        HostError::validation(format!("{} does not parse: {e}", config_file.display()))
            .with_hint("fix the config file first; the message names the line")
    })?;
    let result = edit(&mut doc)?;
    let new_text = doc.to_string();
    Config::parse(&new_text)
        .and_then(|c| c.validate())
        .map_err(|e| {
            HostError::validation(format!(
                "the change would make {} invalid: {}",
                config_file.display(),
                e.message
            ))
            .with_hint(e.hint)
        })?;
    replace_atomically(config_file, &new_text)
        .map_err(|e| HostError::io(format!("cannot write {}", config_file.display()), e))?;
    Ok(result)
}

/// Set `values` in the `[section]` of the config file.
pub fn set_values(
    config_file: &Path,
    section: &str,
    values: &serde_json::Map<String, serde_json::Value>,
) -> HostResult<()> {
    edit_file(config_file, |doc| {
        let table = doc
            .entry(section)
            .or_insert(toml_edit::table())
            .as_table_mut()
            .ok_or_else(|| {
                HostError::validation(format!("{section} is not a table in the config file"))
            })?;
        for (k, v) in values {
            let item = match v {
                serde_json::Value::Bool(b) => toml_edit::value(*b),
                serde_json::Value::Number(n) if n.is_i64() => {
                    toml_edit::value(n.as_i64().unwrap_or_default())
                }
                serde_json::Value::Number(n) => toml_edit::value(n.as_f64().unwrap_or_default()),
                serde_json::Value::String(s) => toml_edit::value(s.as_str()),
                other => {
                    return Err(HostError::validation(format!(
                    "{section}.{k} = {other}: only numbers, strings and booleans are set this way"
                ))
                    .with_hint("edit the config file by hand for tables and lists"))
                }
            };
            table.insert(k, item);
        }
        Ok(())
    })
}

/// Most threads one stage of the index pipeline (or the repository
/// fetcher) may run: far beyond what helps on any machine this runs on, and
/// far below where spawning fails.
pub const MAX_WORKERS: u64 = 64;

/// A setting that fails `Config::check`.
struct Invalid {
    /// Dotted, e.g. `index.batch_size`; where two settings clash, both, the
    /// one to name first.
    keys: Vec<String>,
    error: HostError,
}

/// The line (1-based) where a dotted key is set in a config file's text.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
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
        if let Err(Invalid { keys, mut error }) = cfg.check() {
            // Name the line when the file set it (an environment variable may have).
            let line = text
                .as_deref()
                .and_then(|t| keys.iter().find_map(|k| line_of_key(t, k)));
            if let Some(line) = line {
                error.message = format!("{} (line {line} of {})", error.message, path.display());
            }
            return Err(error);
        }
        cfg.file = Some(path);
        Ok(cfg)
    }

    pub fn parse(text: &str) -> HostResult<Config> {
        Config::parse_file(text, None)
    }

    /// Parse the text of `file`; an error names the line to fix (serde's
    /// message already lists the keys a table takes).
    fn parse_file(text: &str, file: Option<&Path>) -> HostResult<Config> {
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
        if let Some(v) = get("MGIT_REPOS_FILE") {
            self.repos.file = v;
            applied.push("MGIT_REPOS_FILE");
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

    pub fn validate(&self) -> HostResult<()> {
        self.check().map_err(|bad| bad.error)
    }

    /// Every setting within what the tool can act on, else the first that
    /// is not, by its dotted name (so a loader can find its line).
    fn check(&self) -> Result<(), Invalid> {
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
        ] {
            if let Err(why) = check_host(host) {
                let port = if key == "weaviate.host" {
                    "weaviate.rest_port (node i listens on rest_port + i)"
                } else {
                    "elysia.port"
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
        if w.nodes == 0 || w.nodes > 9 {
            return Err(bad(
                "weaviate.nodes",
                HostError::validation(format!("weaviate.nodes = {} is out of range", w.nodes))
                    .with_hint("use between 1 and 9 nodes"),
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
        Ok(())
    }

    /// The effective configuration as JSON, secrets redacted.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        crate::base::redact::json(&mut v);
        v
    }

    /// Tell the redaction every secret this configuration holds, so that one
    /// echoed back anywhere (a server's error, a log line) is masked too.
    pub fn remember_secrets(&self) {
        for key in [
            &self.weaviate.api_key,
            &self.elysia.api_key,
            &self.index.embedding_api_key,
        ] {
            crate::base::redact::remember(key.expose());
        }
        for (name, value) in self.weaviate.env.iter().chain(&self.elysia.env) {
            if crate::base::redact::is_secret_name(name) {
                crate::base::redact::remember(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_serialize() {
        let mut cfg = Config::default();
        cfg.weaviate.api_key = Secret::new("super-secret-key");
        let text = serde_json::to_string(&cfg.redacted_json()).unwrap();
        assert!(!text.contains("super-secret-key"));
        assert!(text.contains("***"));
        assert!(!format!("{cfg:?}").contains("super-secret-key"));
    }

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
    fn set_values_keeps_comments_and_refuses_what_would_not_load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.toml");
        std::fs::write(&f, "# mine\n[index]\nbatch_size = 200 # tuned later\n").unwrap();
        let mut values = serde_json::Map::new();
        values.insert("batch_size".into(), serde_json::json!(500));
        values.insert("upload_concurrency".into(), serde_json::json!(8));
        set_values(&f, "index", &values).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("# mine"), "{text}");
        let cfg = Config::parse(&text).unwrap();
        assert_eq!(
            (cfg.index.batch_size, cfg.index.upload_concurrency),
            (500, 8)
        );
        let mut bad = serde_json::Map::new();
        bad.insert("batch_sise".into(), serde_json::json!(1));
        let err = set_values(&f, "index", &bad).unwrap_err();
        assert!(err.message.contains("batch_sise"), "{}", err.message);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            text,
            "nothing written"
        );
    }

    #[test]
    fn edits_keep_the_file_private_and_leave_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.toml");
        std::fs::write(&f, "[weaviate]\napi_key = \"k\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut values = serde_json::Map::new();
        values.insert("nodes".into(), serde_json::json!(1));
        set_values(&f, "weaviate", &values).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
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
    fn a_secret_of_the_wrong_type_is_not_quoted_back() {
        let err = Config::parse("[weaviate]\napi_key = 123456789\n").unwrap_err();
        assert!(!err.message.contains("123456789"), "{}", err.message);
        assert!(err.message.contains("expected a string"), "{}", err.message);
        assert!(err.hint.contains("line 2"), "{}", err.hint);
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

    #[test]
    fn unknown_key_is_refused_with_line() {
        let err = Config::parse("[weaviate]\nnodes = 3\nrest_prot = 1\n").unwrap_err();
        assert!(err.message.contains("rest_prot"), "{}", err.message);
        assert!(err.hint.contains("line 3"), "{}", err.hint);
    }

    #[test]
    fn node_ports_follow_the_documented_layout() {
        let w = WeaviateConfig::default();
        let n2 = w.node(2);
        assert_eq!(
            (
                n2.rest_port,
                n2.grpc_port,
                n2.gossip_port,
                n2.data_port,
                n2.raft_port,
                n2.raft_rpc_port
            ),
            (8082, 50053, 7104, 7105, 8304, 8305)
        );
    }
}
