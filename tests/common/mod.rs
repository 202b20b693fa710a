//! Shared fixture for the integration tests: an isolated elysiactl home
//! (XDG folders in a temp dir), free ports, the real Weaviate binary and
//! Elysia venv that `.ci/prepare` installed, and clean-up by PID and label.

#![allow(dead_code)]

pub mod scaling;
pub mod scenario;

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_elysiactl"))
}

pub fn default_data_home() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or("/root".into())).join(".local/share")
        })
        .join("elysiactl")
}

/// The installed Weaviate server (`elysiactl install weaviate`).
pub fn weaviate_binary() -> PathBuf {
    std::env::var_os("ELYSIACTL_WEAVIATE_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_data_home().join("bin/weaviate-server-1.38.11"))
}

/// The installed Elysia venv (`elysiactl install elysia`).
pub fn elysia_venv() -> PathBuf {
    std::env::var_os("ELYSIA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_data_home().join("elysia-venv"))
}

/// In CI every prerequisite must be there; elsewhere a missing one skips the test loudly.
pub fn require(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("ELYSIACTL_TEST_REQUIRE_ALL").is_some()
    {
        panic!("{what} is missing; run .ci/prepare");
    }
    eprintln!("SKIPPED: {what} is missing (run .ci/prepare to install it)");
    false
}

fn port_free(p: u16) -> bool {
    TcpListener::bind(("127.0.0.1", p)).is_ok()
}

static NEXT_BASE: AtomicU16 = AtomicU16::new(0);

/// A block of `span` consecutive free ports, below Linux's ephemeral range
/// (32768 and up): a port found free there can be taken by any outgoing
/// connection before the node binds it.
pub fn free_block(span: u16) -> u16 {
    if NEXT_BASE.load(Ordering::SeqCst) == 0 {
        let seed = (std::process::id() as u16 % 100) * 100;
        let _ = NEXT_BASE.compare_exchange(0, 20000 + seed, Ordering::SeqCst, Ordering::SeqCst);
    }
    loop {
        let base = NEXT_BASE.fetch_add(span + 1, Ordering::SeqCst);
        assert!(
            base + span < 32768,
            "ran out of ports below the ephemeral range"
        );
        if (base..base + span).all(port_free) {
            return base;
        }
    }
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub runtime: &'static str,
    pub cluster_name: String,
    pub rest_port: u16,
    pub grpc_port: u16,
    pub elysia_port: u16,
    pub nodes: usize,
    /// Nodes the port blocks (and the clean-up of docker volumes) are sized
    /// for: `nodes`, or more for a test that scales the cluster.
    pub node_room: usize,
    pub extra_env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl Stack {
    /// A fresh home with a config for `nodes` Weaviate nodes on free ports.
    pub fn new(runtime: &'static str, nodes: usize, elysia: bool, config_extra: &str) -> Stack {
        let dir = tempfile::Builder::new()
            .prefix("elysiactl-test-")
            .tempdir()
            .unwrap();
        let rest_port = free_block(nodes as u16);
        let grpc_port = free_block(nodes as u16);
        let gossip_port = free_block(2 * nodes as u16);
        let raft_port = free_block(2 * nodes as u16);
        let metrics_port = free_block(nodes as u16);
        let elysia_port = free_block(1);
        let cluster_name = format!("elysiactl-test-{}-{rest_port}", std::process::id());
        let config = format!(
            "[weaviate]\nruntime = \"{runtime}\"\ncluster_name = \"{cluster_name}\"\nnodes = {nodes}\n\
             rest_port = {rest_port}\ngrpc_port = {grpc_port}\ngossip_port = {gossip_port}\n\
             raft_port = {raft_port}\nmetrics_port = {metrics_port}\nbinary = \"{}\"\nstop_timeout = 20\n\
             {config_extra}\n\n[elysia]\nenabled = {elysia}\nport = {elysia_port}\nvenv = \"{}\"\n",
            weaviate_binary().display(),
            elysia_venv().display()
        );
        let cfg_dir = dir.path().join("config/elysiactl");
        std::fs::create_dir_all(&cfg_dir).unwrap();
        std::fs::write(cfg_dir.join("config.toml"), config).unwrap();
        Stack {
            dir,
            runtime,
            cluster_name,
            rest_port,
            grpc_port,
            elysia_port,
            nodes,
            node_room: nodes,
            extra_env: Vec::new(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("WEAVIATE_API_KEY")
            .env_remove("ELYSIA_PORT")
            .env_remove("ELYSIA_HOST")
            .env_remove("ELYSIACTL_RUNTIME")
            .env_remove("ELYSIACTL_CONFIG")
            .env_remove("ELYSIACTL_ENV");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let t0 = Instant::now();
        let Output {
            status,
            stdout,
            stderr,
        } = c.output().expect("run elysiactl");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            seconds: t0.elapsed().as_secs_f64(),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/elysiactl")
    }

    pub fn rest_url(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.rest_port + node as u16)
    }

    /// PIDs recorded in this home's PID files that still run.
    pub fn live_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.state_dir().join("run")) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "pid") {
                    if let Some(pid) = std::fs::read_to_string(e.path())
                        .ok()
                        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
                    {
                        if Path::new(&format!("/proc/{pid}")).exists() {
                            pids.push(pid);
                        }
                    }
                }
            }
        }
        pids
    }

    /// Containers labelled with this stack's cluster name, via the Engine API socket.
    pub fn containers(&self) -> Vec<String> {
        docker_get(&format!(
            "/containers/json?all=true&filters=%7B%22label%22%3A%5B%22io.elysiactl.cluster%3D{}%22%5D%7D",
            self.cluster_name
        ))
        .and_then(|v| v.as_array().cloned())
        .map(|a| a.iter().filter_map(|c| c["Id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
    }
}

/// A request to the Docker Engine API over its Unix socket (tests only: they
/// check what the tool did without going through the tool). Returns the
/// status line and the body.
pub fn docker_request(method: &str, path: &str) -> Option<(String, String)> {
    docker_request_with(method, path, None)
}

/// `docker_request` with a JSON body.
pub fn docker_request_with(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

pub fn docker_get(path: &str) -> Option<Value> {
    serde_json::from_str(&docker_request("GET", path)?.1).ok()
}

pub fn docker_available() -> bool {
    docker_request("GET", "/_ping").is_some_and(|(status, _)| status.contains("200"))
}

impl Drop for Stack {
    /// Whatever a test did, leave nothing running: stop through the tool,
    /// then kill any recorded PID that survived, and remove labelled containers.
    fn drop(&mut self) {
        let _ = self.run(&["stop", "--timeout", "10"]);
        for pid in self.live_pids() {
            unsafe_kill(pid);
        }
        for id in self.containers() {
            docker_request("DELETE", &format!("/containers/{id}?force=true&v=true"));
        }
        if self.runtime == "swarm" {
            for i in 0..self.node_room {
                docker_request(
                    "DELETE",
                    &format!("/services/{}-weaviate-{i}", self.cluster_name),
                );
            }
            // Swarm removes a service's task containers a moment later.
            let t0 = Instant::now();
            while !self.containers().is_empty() && t0.elapsed().as_secs() < 30 {
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        }
        if self.runtime == "docker" || self.runtime == "swarm" {
            // Data volumes outlive `stop` on purpose; a test's are thrown away.
            for i in 0..self.nodes {
                docker_request(
                    "DELETE",
                    &format!("/volumes/{}-weaviate-{i}-data", self.cluster_name),
                );
            }
            docker_request("DELETE", &format!("/networks/{}", self.cluster_name));
        }
    }
}

fn unsafe_kill(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// Python from the Elysia venv, which carries the official weaviate-client.
pub fn python() -> PathBuf {
    elysia_venv().join("bin/python")
}

/// A plain HTTP/1.0 request to a Weaviate node, so tests check the cluster
/// without going through the tool. Returns the status code and the body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    http_with_key(port, method, path, body, None)
}

/// `http`, with an API key as a bearer token when one is given.
pub fn http_with_key(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

impl Stack {
    /// A collection's replication factor, read from the node's REST API.
    pub fn factor_of(&self, class: &str) -> u64 {
        let (code, body) = http(self.rest_port, "GET", &format!("/v1/schema/{class}"), None);
        assert_eq!(code, 200, "{class}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["replicationConfig"]["factor"].as_u64().unwrap_or(1)
    }

    /// The exact object count (GraphQL Aggregate), from the node's REST API.
    pub fn count_of(&self, class: &str) -> u64 {
        let q = serde_json::json!({"query": format!("{{ Aggregate {{ {class} {{ meta {{ count }} }} }} }}")});
        let (code, body) = http(self.rest_port, "POST", "/v1/graphql", Some(&q));
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["Aggregate"][class][0]["meta"]["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("no count for {class}: {body}"))
    }

    /// `test-data generate` of `records` objects of `pattern` at factor 3.
    pub fn generate(&self, collection: &str, pattern: &str, records: &str) -> Value {
        self.run(&[
            "test-data",
            "generate",
            "--collection",
            collection,
            "--pattern",
            pattern,
            "--records",
            records,
            "--replication-factor",
            "3",
            "--json",
        ])
        .ok()
        .json()
    }

    /// `test-data validate` of one collection: every object against its seed.
    pub fn validate(&self, collection: &str) -> Value {
        self.run(&[
            "test-data",
            "validate",
            "--collection",
            collection,
            "--json",
        ])
        .ok()
        .json()[0]
            .clone()
    }

    /// Create collections through the official Python client: "NAME:FACTOR:OBJECTS".
    pub fn make_collections(&self, specs: &[&str]) {
        let root = env!("CARGO_MANIFEST_DIR");
        let out = Command::new(python())
            .arg(format!("{root}/tests/py/make_collections.py"))
            .args([
                "127.0.0.1",
                &self.rest_port.to_string(),
                &self.grpc_port.to_string(),
            ])
            .args(specs)
            .output()
            .expect("python with weaviate-client");
        assert!(
            out.status.success(),
            "make_collections failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The PID recorded for a process-runtime node.
    pub fn node_pid(&self, node: usize) -> u32 {
        std::fs::read_to_string(self.state_dir().join(format!("run/weaviate-{node}.pid")))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// The installed embedding model (`elysiactl install model`).
pub fn models_dir() -> PathBuf {
    default_data_home().join("models")
}

/// The model and its static table are there (or, outside CI, the test is skipped).
pub fn require_models() -> bool {
    require(
        "the embedding model (elysiactl install model)",
        models_dir()
            .join("all-MiniLM-L6-v2/model.safetensors")
            .exists()
            && models_dir().join("static-minilm.bin").exists(),
    )
}

impl Stack {
    /// Lets this isolated home use the installed models (90 MB: linked, not copied).
    pub fn link_models(&self) {
        let data = self.dir.path().join("data/elysiactl");
        std::fs::create_dir_all(&data).unwrap();
        let link = data.join("models");
        if !link.exists() {
            std::os::unix::fs::symlink(models_dir(), link).unwrap();
        }
    }
}

/// The Weaviate binary is there (or, outside CI, the test is skipped).
pub fn require_weaviate() -> bool {
    require(
        "the Weaviate binary (elysiactl install weaviate)",
        weaviate_binary().exists(),
    )
}

/// Run git in a repository, as a fixed author; panics on failure.
pub fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .status()
        .unwrap();
    assert!(ok.success(), "git {args:?}");
}
