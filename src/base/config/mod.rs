//! Effective configuration: defaults, then the TOML file, then the seed's
//! environment variables, then command-line flags. Secrets live in `Secret`,
//! which never prints its value, so logs, `--json` and errors cannot leak it.
//!
//! This file holds the types and their defaults; load.rs reads the file and
//! the environment, check.rs validates (naming the line of a bad value), and
//! edit.rs is the one locked, atomic writer of the config file.

mod check;
mod edit;
mod layers;
mod load;
pub mod validate;

pub use check::{MAX_ELYSIA_WORKERS, MAX_WORKERS};
pub use edit::{edit_file, set_values};

use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const DEFAULT_WEAVIATE_VERSION: &str = "1.38.11";

/// An API key or similar. Serializes and prints as `***` (or empty when unset).
/// In the file it is the value, or a reference to it: `env:NAME` (an
/// environment variable) or `file:PATH` (a file only its owner can read).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = String::deserialize(d)?;
        Secret::resolve(&written).map_err(serde::de::Error::custom)
    }
}

impl Secret {
    /// The secret `written` means: itself, or what its `env:`/`file:`
    /// reference points at. An error never quotes a secret.
    pub fn resolve(written: &str) -> Result<Secret, String> {
        if let Some(name) = written.strip_prefix("env:") {
            return std::env::var(name).map(Secret).map_err(|_| {
                format!("the environment variable {name} this secret refers to is not set (export it, or write the value instead of the reference)")
            });
        }
        if let Some(path) = written.strip_prefix("file:") {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("the secret file {path} cannot be read: {e}"))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "the secret file {path} can be read by others (mode {mode:o}): `chmod 600 {path}`"
                ));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("the secret file {path} cannot be read: {e}"))?;
            return Ok(Secret(text.trim_end_matches(['\n', '\r']).to_string()));
        }
        Ok(Secret(written.to_string()))
    }

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
    /// Docker's cluster mode: each node a one-replica Swarm service, so the
    /// nodes of one cluster can live on several hosts.
    Swarm,
    /// A cluster someone else runs (Kubernetes, Weaviate Cloud, hosts of
    /// their own), reached at `weaviate.urls`: its API only, no processes.
    Remote,
}

impl RuntimeKind {
    pub fn parse(s: &str) -> HostResult<RuntimeKind> {
        match s {
            "docker" => Ok(RuntimeKind::Docker),
            "process" => Ok(RuntimeKind::Process),
            "swarm" => Ok(RuntimeKind::Swarm),
            "remote" => Ok(RuntimeKind::Remote),
            other => Err(HostError::validation(format!("unknown runtime '{other}'"))
                .with_hint("use `docker`, `process`, `swarm` (Docker Swarm services), or `remote` (a cluster run elsewhere, at weaviate.urls)")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Process => "process",
            RuntimeKind::Swarm => "swarm",
            RuntimeKind::Remote => "remote",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeaviateConfig {
    /// `docker`, `process`, `swarm` or `remote`; unset means: docker when an engine answers and the image exists, else process.
    pub runtime: Option<RuntimeKind>,
    /// REST URLs the cluster is reached at (e.g. a remote cluster's
    /// `https://weaviate.example.com`); node i uses `urls[i % len]`. Empty
    /// means `http://host:rest_port+i`.
    pub urls: Vec<String>,
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
    /// Swarm runtime: host names of the swarm nodes the Weaviate nodes are
    /// placed on, node i on `swarm_hosts[i % len]`; empty means the host of
    /// the engine elysiactl talks to.
    pub swarm_hosts: Vec<String>,
    /// Extra environment for every node (overrides the defaults elysiactl sets).
    pub env: BTreeMap<String, String>,
}

impl Default for WeaviateConfig {
    fn default() -> Self {
        WeaviateConfig {
            runtime: None,
            urls: Vec::new(),
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
            swarm_hosts: Vec::new(),
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
    /// Elysia processes to run. Elysia keeps each user's sessions in the memory of
    /// one process, so more than one runs behind nginx, which keeps every user on
    /// one of them (docs/elysia-workers.md).
    pub workers: u32,
    /// The nginx in front of several workers; empty means `nginx` on the PATH or in /usr/sbin.
    pub nginx: String,
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
            workers: 1,
            nginx: String::new(),
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

/// `chaos`: how long an injected fault lasts before it is undone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    /// A fault given no duration lasts this long.
    pub default_duration: String,
    /// No fault may last longer: a forgotten fault must not outlive a
    /// working day's attention.
    pub max_duration: String,
    /// Toxiproxy's server for latency faults; empty means the one
    /// `install toxiproxy` builds.
    pub toxiproxy_binary: String,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            default_duration: "30s".into(),
            max_duration: "10m".into(),
            toxiproxy_binary: String::new(),
        }
    }
}

pub const DEFAULT_VERSITYGW_VERSION: &str = "1.8.0";

/// `backup`: the S3 store Weaviate's `backup-s3` module writes to. The store
/// is versitygw (S3 over a local folder), which `install backup-store` builds
/// and `start`/`stop` run with the nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Whether the stack runs the store and the nodes the `backup-s3` module.
    pub enabled: bool,
    /// versitygw release `install backup-store` builds.
    pub version: String,
    /// Path to a versitygw binary; empty means the one `install backup-store` builds.
    pub binary: String,
    /// Address the store listens on and clients use.
    pub host: String,
    pub port: u16,
    /// The bucket every backup goes into (created at start).
    pub bucket: String,
    /// The folder versitygw serves; empty means `$XDG_DATA_HOME/elysiactl/backup-store`.
    pub dir: String,
    pub access_key: String,
    /// The store's secret key (the nodes get it as AWS_SECRET_ACCESS_KEY).
    pub secret_key: Secret,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: false,
            version: DEFAULT_VERSITYGW_VERSION.into(),
            binary: String::new(),
            host: "127.0.0.1".into(),
            port: 7070,
            bucket: "elysiactl-backups".into(),
            dir: String::new(),
            access_key: "elysiactl".into(),
            secret_key: Secret::default(),
        }
    }
}

/// `migrate`: where the versioned schema migrations are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MigrateConfig {
    /// The migrations folder; relative to the working directory.
    pub dir: String,
}

impl Default for MigrateConfig {
    fn default() -> Self {
        MigrateConfig {
            dir: "migrations".into(),
        }
    }
}

impl BackupConfig {
    pub fn binary_path(&self) -> PathBuf {
        if self.binary.is_empty() {
            paths::data_dir()
                .join("bin")
                .join(format!("versitygw-{}", self.version))
        } else {
            PathBuf::from(&self.binary)
        }
    }

    pub fn dir_path(&self) -> PathBuf {
        if self.dir.is_empty() {
            paths::data_dir().join("backup-store")
        } else {
            PathBuf::from(&self.dir)
        }
    }

    /// `host:port`, as Weaviate's BACKUP_S3_ENDPOINT wants it (no scheme).
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.endpoint())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The environment whose configuration this one's keys override
    /// (`extends = "staging"`); docs/environments.md.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    pub weaviate: WeaviateConfig,
    pub elysia: ElysiaConfig,
    pub script: ScriptConfig,
    pub chaos: ChaosConfig,
    pub backup: BackupConfig,
    pub migrate: MigrateConfig,
    pub index: IndexConfig,
    pub repos: ReposConfig,
    /// Scheduled jobs (`elysiactl schedule`, `elysiactl daemon`).
    pub jobs: Vec<JobConfig>,
    /// Rotation of the log files the tool writes (services' output, the daemon's).
    pub logs: crate::base::logfile::Rotation,
    /// Where the values came from, for `config show`.
    #[serde(skip_deserializing)]
    pub sources: Vec<String>,
    /// The config file this was loaded from (or would be).
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// Where each set key's value came from (dotted key: a file, a
    /// variable, a flag); a key not here has its default.
    #[serde(skip)]
    pub origins: BTreeMap<String, String>,
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
    /// The vector index of collections index sync creates: "flat" (exact
    /// search over every vector: about a third less server CPU per chunk
    /// written, and search time that grows with the collection: 8 ms at
    /// 18000 chunks here), "hnsw" (an approximate graph: 3 ms there, and
    /// slow growth; for collections past about 100000 chunks) or "dynamic"
    /// (flat, then HNSW past 10000 objects; Weaviate allows it only with
    /// ASYNC_INDEXING on). docs/benchmarks/indexing.md has the figures.
    pub vector_index: String,
    /// How batches travel: "grpc" (what the official clients use; the server
    /// answers with errors only) or "rest" (/v1/batch/objects).
    pub transport: String,
    /// Seconds one batch upload may take; env ELYSIA_TIMEOUT.
    pub request_timeout: u64,
    /// Tries of a batch Weaviate refused for a passing reason; env ELYSIA_RETRY_ATTEMPTS.
    pub retry_attempts: usize,
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
            vector_index: "flat".into(),
            transport: "grpc".into(),
            request_timeout: 60,
            retry_attempts: 6,
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
    /// One repository per line (path or URL), `#` comments; env MGIT_REPOS_FILE
    /// or MGIT_REPOS_LIST.
    pub file: String,
    /// Where URLs are cloned; empty means `$XDG_DATA_HOME/elysiactl/repos`; env MGIT_INDEX_PATH.
    pub workdir: String,
    /// The branch cloned and fetched; empty means the remote's default; env MGIT_BRANCH.
    pub branch: String,
    /// The most repositories of the list synced, the first ones; 0 means all; env MGIT_MAX_REPOS.
    pub max_repos: usize,
    /// Seconds between runs of the repo-sync job `schedule add repo-sync` makes
    /// without --cron; env MGIT_UPDATE_INTERVAL.
    pub update_interval: u64,
    /// The original tool's rule: re-index only when the changed files of all
    /// repositories together are more than this; unset means no such rule;
    /// env ELYSIA_DIFF_THRESHOLD.
    pub total_diff_threshold: Option<usize>,
    /// Shallow clone depth, 0 for full history; env MGIT_CLONE_DEPTH.
    pub clone_depth: u32,
    /// Repositories fetched at once; env MGIT_MAX_CONCURRENT.
    pub max_concurrent: usize,
    /// Changed files a repository needs before it is re-indexed (at least
    /// this many); env ELYSIACTL_REPO_DIFF_THRESHOLD.
    pub diff_threshold: usize,
}

impl Default for ReposConfig {
    fn default() -> Self {
        ReposConfig {
            file: String::new(),
            workdir: String::new(),
            branch: String::new(),
            max_repos: 0,
            update_interval: 1800,
            total_diff_threshold: None,
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

impl JobConfig {
    /// A job running `command` on `cron`, every other setting as a config
    /// file that leaves it out would have it.
    pub fn new(name: &str, cron: &str, command: &[&str]) -> JobConfig {
        JobConfig {
            name: name.into(),
            cron: cron.into(),
            command: command.iter().map(|c| c.to_string()).collect(),
            playbook: String::new(),
            timeout: default_job_timeout(),
            overlap: default_skip(),
            missed: default_skip(),
            jitter: String::new(),
            timezone: String::new(),
            enabled: default_true(),
        }
    }
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
    /// "http", or "https" for a remote cluster's URL that says so.
    #[serde(skip)]
    pub scheme: &'static str,
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
        format!("{}://{}:{}", self.scheme, self.host, self.rest_port)
    }
}

impl WeaviateConfig {
    pub fn node(&self, i: usize) -> NodeSpec {
        let i16 = i as u16;
        // A node reached at one of `urls` (behind a load balancer, several
        // nodes share one) has its address there, and the gRPC port of them all.
        let (scheme, host, rest_port, grpc_port) = match self.url_of(i) {
            Some(u) => (u.scheme, u.host, u.port, self.grpc_port),
            None => (
                "http",
                self.host.clone(),
                self.rest_port + i16,
                self.grpc_port + i16,
            ),
        };
        NodeSpec {
            index: i,
            name: node_name(i),
            scheme,
            host,
            rest_port,
            grpc_port,
            gossip_port: self.gossip_port + 2 * i16,
            data_port: self.gossip_port + 2 * i16 + 1,
            raft_port: self.raft_port + 2 * i16,
            raft_rpc_port: self.raft_port + 2 * i16 + 1,
            metrics_port: self.metrics_port + i16,
        }
    }

    /// Node i's entry of `urls`, taken apart; None when `urls` is empty
    /// (check.rs refuses a URL this cannot read).
    fn url_of(&self, i: usize) -> Option<ParsedUrl> {
        let url = self.urls.get(i % self.urls.len().max(1))?;
        parse_url(url).ok()
    }

    pub fn node_specs(&self) -> Vec<NodeSpec> {
        (0..self.nodes).map(|i| self.node(i)).collect()
    }

    /// How many nodes vote in RAFT: the first ones, at most three (see
    /// [`voters_for`]).
    pub fn voters(&self) -> usize {
        voters_for(self.nodes)
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

/// Node `i`'s name in the cluster (CLUSTER_HOSTNAME).
pub fn node_name(i: usize) -> String {
    format!("weaviate-{i}")
}

/// The most nodes a cluster may have (ports are laid out for them).
pub const MAX_NODES: usize = 9;

/// RAFT voters of a cluster of `nodes`: the first nodes, at most three.
/// More voters make every schema change wait for more acks without making a
/// cluster safer, and a fixed voter set lets `weaviate scale` add and remove
/// the nodes beyond it as non-voters without ever changing the quorum.
pub fn voters_for(nodes: usize) -> usize {
    nodes.clamp(1, 3)
}

/// A REST URL of `weaviate.urls`, taken apart.
pub struct ParsedUrl {
    pub scheme: &'static str,
    pub host: String,
    pub port: u16,
}

/// `http(s)://HOST[:PORT][/]`: what a node's REST API is reached at. The
/// port defaults to the scheme's; a path is refused (Weaviate's API is at
/// the root).
pub fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let (scheme, rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        ("http", r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        ("https", r, 443)
    } else {
        return Err(format!("{url:?} does not start with http:// or https://"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('@') || rest.is_empty() {
        return Err(format!(
            "{url:?} is not scheme://host[:port] (no path, no user)"
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("{url:?} has a port that is not a number"))?,
        ),
        _ => (rest.to_string(), default_port),
    };
    Ok(ParsedUrl { scheme, host, port })
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

impl Config {
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
            &self.backup.secret_key,
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
    fn secrets_can_be_references_to_a_variable_or_an_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-a-file-77\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!("[weaviate]\napi_key = \"file:{}\"\n", file.display());
        let cfg = Config::parse(&text).unwrap();
        assert_eq!(cfg.weaviate.api_key.expose(), "from-a-file-77");
        // Readable by others: refused, with the fix, at its line.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Config::parse(&text).unwrap_err();
        assert!(err.message.contains("chmod 600"), "{}", err.message);
        assert!(err.hint.contains("line 2"), "{}", err.hint);
        std::env::set_var("ELYSIACTL_TEST_SECRET_REF_71", "from-env-71");
        let cfg =
            Config::parse("[elysia]\napi_key = \"env:ELYSIACTL_TEST_SECRET_REF_71\"\n").unwrap();
        assert_eq!(cfg.elysia.api_key.expose(), "from-env-71");
        let err =
            Config::parse("[elysia]\napi_key = \"env:ELYSIACTL_TEST_UNSET_72\"\n").unwrap_err();
        assert!(
            err.message
                .contains("ELYSIACTL_TEST_UNSET_72 this secret refers to is not set"),
            "{}",
            err.message
        );
    }

    #[test]
    fn nodes_of_a_remote_cluster_are_reached_at_its_urls() {
        let w = WeaviateConfig {
            urls: vec![
                "https://w.example.com".into(),
                "http://10.0.0.5:8080/".into(),
            ],
            nodes: 3,
            grpc_port: 50051,
            ..Default::default()
        };
        assert_eq!(w.node(0).rest_url(), "https://w.example.com:443");
        assert_eq!(w.node(1).rest_url(), "http://10.0.0.5:8080");
        // More nodes than URLs: behind a load balancer, they share them.
        assert_eq!(w.node(2).rest_url(), "https://w.example.com:443");
        assert_eq!(w.node(2).grpc_port, 50051);
        for bad in [
            "w.example.com",
            "http://h/v1",
            "ftp://h",
            "http://u@h",
            "http://h:x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let remote = "[weaviate]\nruntime = \"remote\"\n";
        let err = Config::parse(remote).unwrap().validate().unwrap_err();
        assert!(
            err.message.contains("needs weaviate.urls"),
            "{}",
            err.message
        );
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
