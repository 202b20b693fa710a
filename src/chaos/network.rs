//! Network faults: a partition between two groups of nodes, and packet
//! loss on one node's traffic, in both runtimes, as iptables DROP rules.
//!
//! * Docker: rules in Docker's `DOCKER-USER` chain between the containers'
//!   addresses. Docker sends bridged container-to-container traffic through
//!   FORWARD (bridge-nf-call-iptables), and DOCKER-USER comes before its own
//!   accept of established connections, so open connections stall too.
//!   Packet loss also puts rules in OUTPUT and INPUT, for the host's own
//!   traffic to the container (published ports, clients on this machine).
//! * Process: every node listens on 127.0.0.1, so an address says nothing
//!   about which node sent a packet. Each node the fault touches is moved
//!   into its own cgroup-v2 group (`elysiactl-chaos-CLUSTER-NODE` under the
//!   unified hierarchy), and OUTPUT rules match `-m cgroup --path` that
//!   group. A socket keeps the group it was created in, so a move covers the
//!   connections the node opens afterwards, not its listening sockets nor
//!   connections already open: those are matched by port instead (the UDP
//!   gossip socket by its bound port on both ends, each open TCP connection
//!   between the nodes by its own two ports, found in /proc after the move).
//!
//! Every rule carries the comment `elysiactl-chaos:<fault id>` (the id names
//! the cluster), so `chaos reset` finds and deletes this cluster's rules a
//! crash left without a registry entry; a group of this cluster with no
//! active fault is emptied and removed the same way.

use super::{
    ensure_reaper, fault_duration, journal, mark_applied, now_ms, rfc3339_ms, Fault, NodeAction,
    Registry,
};
use crate::base::config::{NodeSpec, RuntimeKind};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::runtime::docker::DockerRuntime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const DOCKER_CHAIN: &str = "DOCKER-USER";
const LOCAL_CHAIN: &str = "OUTPUT";
/// Chains `chaos reset` looks in for tagged rules.
const CHAINS: [&str; 3] = [DOCKER_CHAIN, LOCAL_CHAIN, "INPUT"];
const TAG: &str = "elysiactl-chaos:";
const LOOPBACK: &str = "127.0.0.1";
/// The fault kinds whose ids (and so rule tags) this module makes.
const ID_KINDS: [&str; 4] = ["partition", "packet-loss", "bandwidth", "latency"];

/// One iptables rule: its chain and its match and target, as `-S` prints it
/// after `-A CHAIN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub chain: String,
    pub spec: Vec<String>,
}

impl Rule {
    fn new(chain: &str, spec: &[&str], id: &str, target: &str) -> Rule {
        let mut v: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
        v.extend(
            [
                "-m",
                "comment",
                "--comment",
                &format!("{TAG}{id}"),
                "-j",
                target,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        Rule {
            chain: chain.into(),
            spec: v,
        }
    }

    fn args(&self, op: &str) -> Vec<String> {
        let mut a = vec![op.to_string(), self.chain.clone()];
        a.extend(self.spec.iter().cloned());
        a
    }

    /// The command that inserts it, for plans: "iptables -I OUTPUT ...".
    pub fn command(&self) -> String {
        format!("iptables {}", self.args("-I").join(" "))
    }
}

/// A node moved into a cgroup-v2 group for the fault, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moved {
    pub node: String,
    pub pid: u32,
    /// The group, relative to the unified hierarchy's root: what `--path` matches.
    pub group: String,
    /// The group it was in ("/" when unknown), where the undo puts it back.
    #[serde(default)]
    pub previous: Option<String>,
}

/// A tbf qdisc a bandwidth limit puts at the root of an interface: the
/// container's host-side veth (what goes to the container) or its own eth0,
/// in its network namespace (what leaves it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qdisc {
    pub dev: String,
    /// The container's PID, whose network namespace `dev` is in; None: the host's.
    #[serde(default)]
    pub netns_pid: Option<u32>,
    /// tbf's parameters: "rate 1000000bit burst 16384 latency 400ms".
    pub params: String,
}

/// The handle of elysiactl's tbf qdiscs, so that reset tells them apart.
const QDISC_HANDLE: &str = "e1a5:";

impl Qdisc {
    fn args(&self, op: &str) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if let Some(pid) = self.netns_pid {
            a.extend(["nsenter".into(), "-t".into(), pid.to_string(), "-n".into()]);
        }
        a.extend(["tc", "qdisc", op, "dev", &self.dev, "root"].map(String::from));
        if op == "add" {
            a.extend(["handle", QDISC_HANDLE, "tbf"].map(String::from));
            a.extend(self.params.split_whitespace().map(String::from));
        }
        a
    }

    /// The command that adds it, for plans.
    pub fn command(&self) -> String {
        self.args("add").join(" ")
    }
}

/// Run a command (tc, nsenter, ip) and return its output, or an error with its stderr.
fn run(args: &[String]) -> HostResult<String> {
    let out = Command::new(&args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| {
            HostError::io(format!("cannot run {}", args[0]), e).with_hint(
                "a bandwidth limit needs tc and nsenter (Debian: iproute2, util-linux) and root",
            )
        })?;
    if !out.status.success() {
        return Err(HostError::validation(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint("a bandwidth limit needs root and the tbf qdisc"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A rate as tc takes it, in bits a second: "1mbit", "500kbit", "2mbps" (bytes), "100000bit".
pub fn parse_rate(text: &str) -> HostResult<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let factor: f64 = match unit.trim() {
        "bit" | "" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => f64::NAN,
    };
    let bits = num.parse::<f64>().unwrap_or(f64::NAN) * factor;
    if !(bits >= 8_000.0 && bits.is_finite()) {
        return Err(HostError::validation(format!(
            "a bandwidth must be a rate of at least 8kbit, such as 1mbit, 500kbit or 2mbps, got {text:?}"
        ))
        .with_hint("units as tc's: bit, kbit, mbit, gbit (bits a second), bps, kbps, mbps (bytes)"));
    }
    Ok(bits as u64)
}

/// tbf's parameters for a rate: a burst of a tenth of a second of it (at
/// least 16 KiB, above one full-size packet and the kernel's minimum for the
/// timer), and packets waiting longer than 400 ms dropped.
fn tbf_params(bits: u64) -> String {
    let burst = (bits / 8 / 10).max(16 * 1024);
    format!("rate {bits}bit burst {burst} latency 400ms")
}

/// The host-side end of the container's eth0 veth pair.
fn host_veth(pid: u32) -> HostResult<String> {
    // "12: eth0@if13: <...>": 13 is the peer's index on the host.
    let inside = run(&[
        "nsenter",
        "-t",
        &pid.to_string(),
        "-n",
        "ip",
        "-o",
        "link",
        "show",
        "eth0",
    ]
    .map(String::from))?;
    let peer = inside
        .split_once("@if")
        .and_then(|(_, r)| r.split(':').next())
        .and_then(|n| n.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            HostError::validation(format!(
                "cannot tell the veth peer of the container's eth0 from {inside:?}"
            ))
        })?;
    let host = run(&["ip", "-o", "link"].map(String::from))?;
    host.lines()
        .find_map(|l| {
            let (idx, rest) = l.split_once(": ")?;
            (idx.trim().parse::<u32>().ok()? == peer).then(|| {
                rest.split(['@', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .ok_or_else(|| {
            HostError::validation(format!(
                "no interface with index {peer} on the host (the container's veth)"
            ))
        })
}

/// What a network fault changed, kept in the registry (`Fault::restore`)
/// so that any process can undo it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// Every node the fault touches: a second network fault on one is refused.
    #[serde(default)]
    pub nodes: Vec<usize>,
    /// A partition's two sides.
    #[serde(default)]
    pub sides: Option<(Vec<usize>, Vec<usize>)>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub cgroups: Vec<Moved>,
    #[serde(default)]
    pub qdiscs: Vec<Qdisc>,
    /// A latency fault's Toxiproxy proxy.
    #[serde(default)]
    pub proxy: Option<super::latency::Proxy>,
    /// Partitions recorded before the rules were kept: the two sides' addresses.
    #[serde(default)]
    pub(crate) a: Vec<String>,
    #[serde(default)]
    pub(crate) b: Vec<String>,
}

impl Applied {
    pub fn of(fault: &Fault) -> Applied {
        let mut applied: Applied = fault
            .restore
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default();
        if applied.rules.is_empty() && !applied.a.is_empty() {
            applied.rules = docker_partition_rules(&applied.a, &applied.b, &fault.id);
        }
        if applied.nodes.is_empty() {
            applied.nodes = vec![fault.index];
        }
        applied
    }

    fn to_restore(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }
}

fn iptables(args: &[String]) -> HostResult<String> {
    let out = Command::new("iptables").args(args).output().map_err(|e| {
        HostError::io("cannot run iptables", e)
            .with_hint("network faults need iptables and root (Debian: apt-get install iptables)")
    })?;
    if !out.status.success() {
        return Err(HostError::validation(format!(
            "iptables {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint("network faults need root; in the docker runtime, Docker's DOCKER-USER chain"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---- cgroup v2 ----

/// The cgroup-v2 hierarchy `-m cgroup --path` matches against: the unified
/// mount of a hybrid layout (Debian 11/12 with cgroup v1), else the root of
/// a pure v2 one.
fn unified_root() -> HostResult<PathBuf> {
    let hybrid = PathBuf::from("/sys/fs/cgroup/unified");
    if hybrid.join("cgroup.procs").exists() {
        return Ok(hybrid);
    }
    let pure = PathBuf::from("/sys/fs/cgroup");
    if pure.join("cgroup.controllers").exists() {
        return Ok(pure);
    }
    Err(HostError::validation(
        "this machine has no cgroup-v2 hierarchy for a network fault in the process runtime",
    )
    .with_hint("the process runtime tells the nodes' traffic apart by cgroup-v2 group (/sys/fs/cgroup/unified); use the docker runtime instead"))
}

fn group_name(cluster: &str, node: &str) -> String {
    format!("elysiactl-chaos-{cluster}-{node}")
}

/// The process's cgroup-v2 group: the "0::/path" line of /proc/PID/cgroup.
fn group_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

fn move_into(root: &std::path::Path, group: &str, pid: u32) -> HostResult<()> {
    let dir = root.join(group.trim_start_matches('/'));
    std::fs::write(dir.join("cgroup.procs"), pid.to_string())
        .map_err(|e| HostError::io(format!("cannot move PID {pid} into {}", dir.display()), e))
}

/// Empty a group (its processes back to `previous`, or the root) and remove it.
fn release(root: &std::path::Path, group: &str, previous: Option<&str>) -> HostResult<usize> {
    let dir = root.join(group);
    let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(HostError::io(format!("cannot read {}", dir.display()), e)),
    };
    let mut moved = 0;
    for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        // A previous group that went meanwhile: the root takes any process.
        if move_into(root, previous.unwrap_or("/"), pid).is_err() {
            move_into(root, "/", pid)?;
        }
        moved += 1;
    }
    match std::fs::remove_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(HostError::io(format!("cannot remove {}", dir.display()), e))
        }
        _ => Ok(moved),
    }
}

// ---- open connections ----

/// A TCP connection seen in /proc/net/tcp: its two ports on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Conn {
    local: u16,
    remote: u16,
    inode: u64,
}

/// Loopback TCP connections in /proc/net/tcp's format.
fn parse_proc_net_tcp(text: &str) -> Vec<Conn> {
    let port_of = |addr: &str| -> Option<(String, u16)> {
        let (ip, port) = addr.split_once(':')?;
        Some((ip.to_string(), u16::from_str_radix(port, 16).ok()?))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (lip, local) = port_of(f.get(1)?)?;
            let (rip, remote) = port_of(f.get(2)?)?;
            // 127.0.0.1 as the kernel prints it (little-endian hex).
            (lip == "0100007F" && rip == "0100007F" && remote != 0).then_some(Conn {
                local,
                remote,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let link = std::fs::read_link(e.ok()?.path()).ok()?;
        let s = link.to_str()?;
        s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    })
    .collect()
}

/// The open connections `pid` dialed to one of `ports`, as (its port, theirs).
fn dialed(pid: u32, ports: &[u16], conns: &[Conn]) -> Vec<(u16, u16)> {
    let mine = socket_inodes(pid);
    let mut v: Vec<(u16, u16)> = conns
        .iter()
        .filter(|c| mine.contains(&c.inode) && ports.contains(&c.remote))
        .map(|c| (c.local, c.remote))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn open_connections() -> Vec<Conn> {
    std::fs::read_to_string("/proc/net/tcp")
        .map(|t| parse_proc_net_tcp(&t))
        .unwrap_or_default()
}

// ---- rules ----

fn ports_of(n: &NodeSpec) -> Vec<u16> {
    vec![
        n.rest_port,
        n.grpc_port,
        n.gossip_port,
        n.data_port,
        n.raft_port,
        n.raft_rpc_port,
        n.metrics_port,
    ]
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn docker_partition_rules(a: &[String], b: &[String], id: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    for x in a {
        for y in b {
            rules.push(Rule::new(DOCKER_CHAIN, &["-s", x, "-d", y], id, "DROP"));
            rules.push(Rule::new(DOCKER_CHAIN, &["-s", y, "-d", x], id, "DROP"));
        }
    }
    rules
}

/// One side of a process-runtime partition: a node, its group and its PID.
struct Member<'a> {
    spec: &'a NodeSpec,
    group: String,
    pid: u32,
}

/// The rules that cut `from` off from `to` in the process runtime, one
/// direction (the caller asks for both): what `from` sends to `to`'s ports
/// from sockets made in its group, gossip between the two bound UDP ports,
/// and each connection `from` has open to `to`, both ways.
fn process_partition_rules(from: &Member, to: &Member, conns: &[Conn], id: &str) -> Vec<Rule> {
    let to_ports = ports_of(to.spec);
    let list = port_list(&to_ports);
    let (from_gossip, to_gossip) = (
        from.spec.gossip_port.to_string(),
        to.spec.gossip_port.to_string(),
    );
    let mut rules = vec![
        Rule::new(
            LOCAL_CHAIN,
            &[
                "-d",
                LOOPBACK,
                "-p",
                "tcp",
                "-m",
                "cgroup",
                "--path",
                &from.group,
                "-m",
                "multiport",
                "--dports",
                &list,
            ],
            id,
            "DROP",
        ),
        Rule::new(
            LOCAL_CHAIN,
            &[
                "-d",
                LOOPBACK,
                "-p",
                "udp",
                "-m",
                "cgroup",
                "--path",
                &from.group,
                "-m",
                "multiport",
                "--dports",
                &list,
            ],
            id,
            "DROP",
        ),
        Rule::new(
            LOCAL_CHAIN,
            &[
                "-s",
                LOOPBACK,
                "-d",
                LOOPBACK,
                "-p",
                "udp",
                "--sport",
                &from_gossip,
                "--dport",
                &to_gossip,
            ],
            id,
            "DROP",
        ),
    ];
    for (mine, theirs) in dialed(from.pid, &to_ports, conns) {
        let (mine, theirs) = (mine.to_string(), theirs.to_string());
        for (s, d) in [(&mine, &theirs), (&theirs, &mine)] {
            rules.push(Rule::new(
                LOCAL_CHAIN,
                &[
                    "-s", LOOPBACK, "-d", LOOPBACK, "-p", "tcp", "--sport", s, "--dport", d,
                ],
                id,
                "DROP",
            ));
        }
    }
    rules
}

/// `--probability` as iptables takes it: a fraction with up to 4 decimals.
fn probability(percent: f64) -> String {
    let p = (percent / 100.0).clamp(0.0, 1.0);
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn loss_rules_docker(ip: &str, percent: f64, id: &str) -> Vec<Rule> {
    let p = probability(percent);
    let random = ["-m", "statistic", "--mode", "random", "--probability", &p];
    let with = |chain: &str, side: &str| {
        let mut spec = vec![side, ip];
        spec.extend(random);
        Rule::new(chain, &spec, id, "DROP")
    };
    vec![
        with(DOCKER_CHAIN, "-s"),
        with(DOCKER_CHAIN, "-d"),
        // The host's own traffic with the container (published ports go
        // through the host): not forwarded, so not in DOCKER-USER.
        with(LOCAL_CHAIN, "-d"),
        with("INPUT", "-s"),
    ]
}

fn loss_rules_process(
    m: &Member,
    conns: &[Conn],
    percent: f64,
    id: &str,
    all: &[NodeSpec],
) -> Vec<Rule> {
    let p = probability(percent);
    let list = port_list(&ports_of(m.spec));
    let gossip = m.spec.gossip_port.to_string();
    let random = [
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        p.as_str(),
    ];
    let with = |head: &[&str]| {
        let mut spec: Vec<&str> = head.to_vec();
        spec.extend(random);
        Rule::new(LOCAL_CHAIN, &spec, id, "DROP")
    };
    let mut rules = vec![
        // Everything sent to the node's ports and by its listening sockets:
        // every connection to it, whoever made it.
        with(&[
            "-d",
            LOOPBACK,
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            &list,
        ]),
        with(&[
            "-s",
            LOOPBACK,
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--sports",
            &list,
        ]),
        with(&["-d", LOOPBACK, "-p", "udp", "--dport", &gossip]),
        with(&["-s", LOOPBACK, "-p", "udp", "--sport", &gossip]),
        // What the node sends on connections it opens from now on.
        with(&["-m", "cgroup", "--path", &m.group]),
    ];
    // Connections it opened before (to the other nodes): by their ports.
    let peers: Vec<u16> = all
        .iter()
        .filter(|n| n.index != m.spec.index)
        .flat_map(ports_of)
        .collect();
    for (mine, _) in dialed(m.pid, &peers, conns) {
        let mine = mine.to_string();
        rules.push(with(&["-s", LOOPBACK, "-p", "tcp", "--sport", &mine]));
        rules.push(with(&["-d", LOOPBACK, "-p", "tcp", "--dport", &mine]));
    }
    rules
}

// ---- plans ----

fn check_runtime(ctx: &Context, what: &str) -> HostResult<RuntimeKind> {
    let rt = crate::services::weaviate::runtime_for(ctx)?;
    match rt.kind() {
        RuntimeKind::Remote => Err(crate::runtime::remote::managed_elsewhere(
            &ctx.config.weaviate,
            what,
        )),
        RuntimeKind::Swarm => Err(HostError::validation(format!(
            "cannot {what} in the swarm runtime: its nodes' traffic crosses the overlay network (VXLAN between hosts), which these iptables and tc rules do not match"
        ))
        .with_hint("network faults work in the docker and process runtimes; on swarm, kill, pause and CPU limits work")),
        k => Ok(k),
    }
}

fn docker_runtime(ctx: &Context) -> HostResult<DockerRuntime> {
    DockerRuntime::new(
        crate::runtime::weaviate_for(&ctx.config, RuntimeKind::Docker),
        ctx.rt.clone(),
    )
}

/// The running node's PID in the process runtime; a fault on a node that
/// does not run is refused.
fn running_pid(ctx: &Context, index: usize) -> HostResult<u32> {
    let rt = crate::services::weaviate::runtime_for(ctx)?;
    let st = rt.node_state(index)?;
    match st.pid.filter(|_| st.running) {
        Some(pid) => Ok(pid),
        None => Err(
            HostError::validation(format!("{} is not running", st.node)).with_hint(
                "`elysiactl status` shows the nodes; `elysiactl weaviate start` starts them",
            ),
        ),
    }
}

fn names(ctx: &Context, nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|&i| ctx.config.weaviate.node(i).name)
        .collect::<Vec<_>>()
        .join(",")
}

/// What the undo of a fault with these rules and groups does, in words.
fn undo_words(what: &str, applied: &Applied) -> String {
    let mut s = format!("{what} (delete its iptables rules");
    if !applied.cgroups.is_empty() {
        s.push_str(&format!(
            ", move {} back and remove {}",
            applied
                .cgroups
                .iter()
                .map(|m| m.node.as_str())
                .collect::<Vec<_>>()
                .join(","),
            if applied.cgroups.len() == 1 {
                "its group"
            } else {
                "their groups"
            }
        ));
    }
    s.push(')');
    s
}

#[allow(clippy::too_many_arguments)]
fn fault_of(
    action: NodeAction,
    node: String,
    index: usize,
    runtime: RuntimeKind,
    target: String,
    undo: String,
    duration: Duration,
    percent: Option<f64>,
    applied: &Applied,
) -> Fault {
    let since = now_ms();
    let until = since + duration.as_millis() as i64;
    Fault {
        id: String::new(),
        kind: "network".into(),
        action,
        node,
        index,
        runtime: runtime.as_str().into(),
        target,
        since: rfc3339_ms(since),
        until: rfc3339_ms(until),
        until_ms: until,
        undo,
        injected_by: std::process::id(),
        seed: None,
        undo_failures: 0,
        percent,
        restore: applied.to_restore(),
        limit_bytes: None,
    }
}

/// The id a new fault of this kind gets: it names the cluster, so the rule
/// tags say whose they are.
fn new_id(ctx: &Context, action: NodeAction) -> String {
    format!(
        "{}-{}-{}",
        ctx.config.weaviate.cluster_name,
        action.as_str(),
        now_ms()
    )
}

/// The rules of a plan carry the id they will have once registered.
fn retag(applied: &mut Applied, id: &str) {
    for r in &mut applied.rules {
        for w in &mut r.spec {
            if w.starts_with(TAG) {
                *w = format!("{TAG}{id}");
            }
        }
    }
}

/// Members of a process-runtime fault: each node with its PID and the
/// group it is (or will be) in.
fn members<'a>(
    ctx: &Context,
    specs: &'a [NodeSpec],
    nodes: &[usize],
) -> HostResult<Vec<Member<'a>>> {
    nodes
        .iter()
        .map(|&i| {
            Ok(Member {
                spec: &specs[i],
                group: group_name(&ctx.config.weaviate.cluster_name, &specs[i].name),
                pid: running_pid(ctx, i)?,
            })
        })
        .collect()
}

fn check_nodes(ctx: &Context, nodes: &[usize]) -> HostResult<()> {
    let n = ctx.config.weaviate.nodes;
    if let Some(bad) = nodes.iter().find(|&&i| i >= n) {
        return Err(HostError::validation(format!(
            "there is no node {bad}: the cluster has {n} nodes (0..{})",
            n - 1
        )));
    }
    Ok(())
}

/// The fault a partition would be, with the exact rules it would add (and,
/// in the process runtime, the nodes it would move into groups).
pub fn plan(
    ctx: &Context,
    group: &[usize],
    others: &[usize],
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    if group.is_empty() || others.is_empty() || group.iter().any(|i| others.contains(i)) {
        return Err(HostError::validation(
            "a partition needs two groups of nodes that do not overlap",
        )
        .with_hint("e.g. --partition 1,2 from 0, or --partition 2 (from every other node)"));
    }
    check_nodes(ctx, group)?;
    check_nodes(ctx, others)?;
    let runtime = check_runtime(ctx, "partition its network")?;
    let description = format!("{} from {}", names(ctx, group), names(ctx, others));
    let id = new_id(ctx, NodeAction::Partition);
    let mut applied = Applied {
        nodes: group.iter().chain(others).copied().collect(),
        sides: Some((group.to_vec(), others.to_vec())),
        ..Default::default()
    };
    let target = if runtime == RuntimeKind::Docker {
        let rt = docker_runtime(ctx)?;
        let ips = |nodes: &[usize]| -> HostResult<Vec<String>> {
            nodes.iter().map(|&i| rt.node_ip(i)).collect()
        };
        let (a, b) = (ips(group)?, ips(others)?);
        applied.rules = docker_partition_rules(&a, &b, &id);
        format!(
            "iptables {DOCKER_CHAIN}: {} <-> {}",
            a.join(","),
            b.join(",")
        )
    } else {
        unified_root()?;
        let specs = ctx.config.weaviate.node_specs();
        let (ga, gb) = (members(ctx, &specs, group)?, members(ctx, &specs, others)?);
        let conns = open_connections();
        for (from, to) in [(&ga, &gb), (&gb, &ga)] {
            for x in from.iter() {
                for y in to.iter() {
                    applied
                        .rules
                        .extend(process_partition_rules(x, y, &conns, &id));
                }
            }
        }
        applied.cgroups = ga
            .iter()
            .chain(&gb)
            .map(|m| Moved {
                node: m.spec.name.clone(),
                pid: m.pid,
                group: m.group.clone(),
                previous: group_of(m.pid),
            })
            .collect();
        format!(
            "iptables {LOCAL_CHAIN} -m cgroup: {} <-> {} (each node in its own cgroup-v2 group)",
            ga.iter()
                .map(|m| format!("{} PID {}", m.spec.name, m.pid))
                .collect::<Vec<_>>()
                .join(","),
            gb.iter()
                .map(|m| format!("{} PID {}", m.spec.name, m.pid))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let undo = undo_words(&format!("heal {description}"), &applied);
    let mut f = fault_of(
        NodeAction::Partition,
        description,
        group[0],
        runtime,
        target,
        undo,
        duration,
        None,
        &applied,
    );
    f.id = id;
    Ok(f)
}

/// The fault packet loss on one node would be, with its exact rules.
pub fn plan_loss(
    ctx: &Context,
    index: usize,
    percent: f64,
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(HostError::validation(format!(
            "packet loss must be a percentage above 0 and at most 100, got {percent}"
        ))
        .with_hint("e.g. --packet-loss 10%"));
    }
    check_nodes(ctx, &[index])?;
    let runtime = check_runtime(ctx, "drop its packets")?;
    let node = ctx.config.weaviate.node(index).name;
    let id = new_id(ctx, NodeAction::PacketLoss);
    let mut applied = Applied {
        nodes: vec![index],
        ..Default::default()
    };
    let target = if runtime == RuntimeKind::Docker {
        let ip = docker_runtime(ctx)?.node_ip(index)?;
        applied.rules = loss_rules_docker(&ip, percent, &id);
        format!("iptables {DOCKER_CHAIN}, {LOCAL_CHAIN}, INPUT: {ip}")
    } else {
        unified_root()?;
        let specs = ctx.config.weaviate.node_specs();
        let m = members(ctx, &specs, &[index])?.remove(0);
        applied.rules = loss_rules_process(&m, &open_connections(), percent, &id, &specs);
        applied.cgroups = vec![Moved {
            node: node.clone(),
            pid: m.pid,
            group: m.group.clone(),
            previous: group_of(m.pid),
        }];
        format!(
            "iptables {LOCAL_CHAIN}: ports {} and cgroup {} (PID {})",
            port_list(&ports_of(m.spec)),
            m.group,
            m.pid
        )
    };
    let undo = undo_words(&format!("end the packet loss of {node}"), &applied);
    let mut f = fault_of(
        NodeAction::PacketLoss,
        node,
        index,
        runtime,
        target,
        undo,
        duration,
        Some(percent),
        &applied,
    );
    f.id = id;
    Ok(f)
}

/// The fault a bandwidth limit on one node would be: tbf qdiscs on both
/// ends of its container's veth. The process runtime refuses it.
pub fn plan_bandwidth(
    ctx: &Context,
    index: usize,
    rate: &str,
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    let bits = parse_rate(rate)?;
    check_nodes(ctx, &[index])?;
    let runtime = check_runtime(ctx, "limit its bandwidth")?;
    if runtime != RuntimeKind::Docker {
        return Err(HostError::validation(
            "a per-node bandwidth limit is not possible in the process runtime: every node's traffic is on the loopback interface, and tc shapes an interface, not a process",
        )
        .with_hint("run the cluster in Docker (weaviate.runtime = \"docker\"), where each node has its own veth; --packet-loss and --partition work in the process runtime (classifying by process would need the net_cls cgroup controller, which is not mounted here)"));
    }
    let node = ctx.config.weaviate.node(index).name;
    let pid = running_pid(ctx, index)?;
    let veth = host_veth(pid)?;
    let params = tbf_params(bits);
    let applied = Applied {
        nodes: vec![index],
        qdiscs: vec![
            Qdisc {
                dev: veth.clone(),
                netns_pid: None,
                params: params.clone(),
            },
            Qdisc {
                dev: "eth0".into(),
                netns_pid: Some(pid),
                params,
            },
        ],
        ..Default::default()
    };
    let mut f = fault_of(
        NodeAction::Bandwidth,
        node.clone(),
        index,
        runtime,
        format!(
            "tbf {rate} on {veth} (to the container) and eth0 in PID {pid}'s namespace (from it)"
        ),
        format!("lift the bandwidth limit of {node} (delete both qdiscs)"),
        duration,
        None,
        &applied,
    );
    f.id = new_id(ctx, NodeAction::Bandwidth);
    Ok(f)
}

// ---- inject and undo ----

/// Register a planned network fault, apply it (groups first, then rules),
/// and start its deadline. In the process runtime the open connections are
/// read again after the move: every socket made since is in the group, so
/// none falls between the two.
fn inject(ctx: &Context, mut fault: Fault, duration: Option<Duration>) -> HostResult<Fault> {
    let duration = fault_duration(ctx, duration)?;
    let mut applied = Applied::of(&fault);
    {
        let mut reg = Registry::lock()?;
        if let Some(other) = reg.faults.iter().find(|f| {
            f.kind == "network"
                && Applied::of(f)
                    .nodes
                    .iter()
                    .any(|n| applied.nodes.contains(n))
        }) {
            return Err(HostError::validation(format!(
                "{} already has an active network fault ({}, until {})",
                other.node, other.id, other.until
            ))
            .with_hint(format!(
                "one network fault per node at a time: `elysiactl chaos reset` undoes it (or wait until {})",
                other.until
            )));
        }
        fault.id = new_id(ctx, fault.action);
        retag(&mut applied, &fault.id);
        fault.restore = applied.to_restore();
        fault.until_ms += super::apply_grace(ctx, fault.action).as_millis() as i64;
        fault.until = rfc3339_ms(fault.until_ms);
        reg.faults.push(fault.clone());
        reg.save()?;
        ensure_reaper(ctx, &reg)?;
    }
    let result = apply(ctx, &mut fault, &mut applied);
    if let Err(e) = result {
        let _ = undo(&fault);
        let _ = Registry::lock().and_then(|mut reg| reg.claim(&fault.id));
        journal(
            "inject_failed",
            json!({"fault": fault.id, "node": fault.node, "action": fault.action, "error": e.message}),
        );
        return Err(e);
    }
    mark_applied(&mut fault, duration, applied.to_restore())?;
    journal(
        "inject",
        json!({"fault": fault.id, "node": fault.node, "action": fault.action, "target": fault.target,
               "runtime": fault.runtime, "until": fault.until, "percent": fault.percent,
               "rules": applied.rules.len(), "cgroups": applied.cgroups.iter().map(|m| &m.group).collect::<Vec<_>>()}),
    );
    Ok(fault)
}

fn apply(ctx: &Context, fault: &mut Fault, applied: &mut Applied) -> HostResult<()> {
    if !applied.cgroups.is_empty() {
        let root = unified_root()?;
        for m in &mut applied.cgroups {
            let dir = root.join(&m.group);
            std::fs::create_dir_all(&dir)
                .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
            m.previous = group_of(m.pid);
            move_into(&root, &m.group, m.pid)?;
        }
        // Now the connections opened before the move, which the group does not match.
        let fresh = match fault.action {
            NodeAction::Partition => {
                let (a, b) = applied.sides.clone().unwrap_or_default();
                plan(ctx, &a, &b, Some(Duration::from_secs(1)))?
            }
            _ => plan_loss(
                ctx,
                fault.index,
                fault.percent.unwrap_or_default(),
                Some(Duration::from_secs(1)),
            )?,
        };
        let mut fresh = Applied::of(&fresh);
        retag(&mut fresh, &fault.id);
        applied.rules = fresh.rules;
        // Recorded before the rules go in: an undo after a crash deletes them all.
        fault.restore = applied.to_restore();
        let mut reg = Registry::lock()?;
        if let Some(f) = reg.faults.iter_mut().find(|f| f.id == fault.id) {
            f.restore = fault.restore.clone();
        }
        reg.save()?;
    }
    for r in &applied.rules {
        iptables(&r.args("-I"))?;
    }
    for q in &applied.qdiscs {
        run(&q.args("add"))?;
    }
    Ok(())
}

/// Register and limit one node's bandwidth; lifted at the deadline.
pub fn bandwidth(
    ctx: &Context,
    index: usize,
    rate: &str,
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let fault = plan_bandwidth(ctx, index, rate, duration)?;
    inject(ctx, fault, duration)
}

/// Register and cut a partition; the reaper heals it at the deadline.
pub fn partition(
    ctx: &Context,
    group: &[usize],
    others: &[usize],
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let fault = plan(ctx, group, others, duration)?;
    inject(ctx, fault, duration)
}

/// Register and start packet loss on one node; ended at the deadline.
pub fn packet_loss(
    ctx: &Context,
    index: usize,
    percent: f64,
    duration: Option<Duration>,
) -> HostResult<Fault> {
    let fault = plan_loss(ctx, index, percent, duration)?;
    inject(ctx, fault, duration)
}

/// Undo a network fault: delete its rules (one already gone is fine), then
/// put the nodes back in their groups and remove the fault's groups.
pub fn undo(fault: &Fault) -> HostResult<String> {
    let applied = Applied::of(fault);
    let mut deleted = 0;
    for r in &applied.rules {
        if iptables(&r.args("-D")).is_ok() {
            deleted += 1;
        }
    }
    let mut released = 0;
    if !applied.cgroups.is_empty() {
        let root = unified_root()?;
        for m in &applied.cgroups {
            released += release(&root, &m.group, m.previous.as_deref())?;
        }
    }
    // A qdisc already gone (the container restarted, so its veth is new) is fine.
    let lifted = applied
        .qdiscs
        .iter()
        .filter(|q| run(&q.args("del")).is_ok())
        .count();
    Ok(match fault.action {
        NodeAction::Bandwidth => format!("lifted ({lifted} qdiscs deleted)"),
        NodeAction::Partition => {
            format!("healed ({deleted} rules deleted{})", moved_words(released))
        }
        _ => format!("ended ({deleted} rules deleted{})", moved_words(released)),
    })
}

fn moved_words(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => ", 1 node moved back".into(),
        n => format!(", {n} nodes moved back"),
    }
}

/// The fault id a rule is tagged with, as `iptables -S` prints it (the
/// nf_tables backend quotes the comment, the legacy one does not).
fn tag_of(line: &str) -> Option<&str> {
    let at = line.find(TAG)? + TAG.len();
    line[at..]
        .split(|c: char| c == '"' || c.is_whitespace())
        .next()
}

/// tbf qdiscs of elysiactl's (by their handle) left on this cluster's
/// containers without a registry entry: deleted.
pub fn delete_leftover_qdiscs(ctx: &Context, active: &[Fault]) -> Vec<Value> {
    let Ok(rt) = crate::services::weaviate::runtime_for(ctx) else {
        return Vec::new();
    };
    if rt.kind() != RuntimeKind::Docker {
        return Vec::new();
    }
    let held: Vec<usize> = active
        .iter()
        .filter(|f| f.action == NodeAction::Bandwidth)
        .map(|f| f.index)
        .collect();
    let mut found = Vec::new();
    for i in (0..ctx.config.weaviate.nodes).filter(|i| !held.contains(i)) {
        let Ok(st) = rt.node_state(i) else { continue };
        let Some(pid) = st.pid.filter(|_| st.running) else {
            continue;
        };
        let mut ends = vec![Qdisc {
            dev: "eth0".into(),
            netns_pid: Some(pid),
            params: String::new(),
        }];
        if let Ok(veth) = host_veth(pid) {
            ends.push(Qdisc {
                dev: veth,
                netns_pid: None,
                params: String::new(),
            });
        }
        for q in ends {
            let mut show = q.args("show");
            show.retain(|a| a != "root");
            let ours = run(&show)
                .map(|o| o.contains(&format!("qdisc tbf {QDISC_HANDLE} root")))
                .unwrap_or(false);
            if ours && run(&q.args("del")).is_ok() {
                journal(
                    "delete_leftover_qdisc",
                    json!({"node": st.node, "dev": q.dev}),
                );
                found.push(json!({"node": st.node, "was": format!("tbf qdisc on {}", q.dev), "now": "deleted"}));
            }
        }
    }
    found
}

/// Whether an `iptables -S` line is a rule of one of this cluster's faults.
fn is_ours(line: &str, cluster: &str) -> bool {
    ID_KINDS
        .iter()
        .any(|k| line.contains(&format!("{TAG}{cluster}-{k}-")))
}

/// What a crash left without a registry entry: this cluster's tagged rules
/// in DOCKER-USER, OUTPUT and INPUT, and its cgroup-v2 groups; deleted (the
/// groups' processes moved to the root group first).
pub fn delete_leftovers(cluster: &str, active: &[Fault]) -> Vec<Value> {
    let active_ids: Vec<&str> = active.iter().map(|f| f.id.as_str()).collect();
    let mut found = Vec::new();
    for chain in CHAINS {
        let Ok(listing) = iptables(&["-S".to_string(), chain.to_string()]) else {
            continue; // no iptables, or no Docker chain: nothing of ours
        };
        for line in listing.lines().filter(|l| is_ours(l, cluster)) {
            if tag_of(line).is_some_and(|t| active_ids.contains(&t)) {
                continue;
            }
            let Some(spec) = line.strip_prefix(&format!("-A {chain} ")) else {
                continue;
            };
            // `iptables -S` quotes nothing here: addresses, ports, flags, a tag without spaces.
            let mut args = vec!["-D".to_string(), chain.to_string()];
            args.extend(
                spec.split_whitespace()
                    .map(|w| w.trim_matches('"').to_string()),
            );
            if iptables(&args).is_ok() {
                journal("delete_leftover_rule", json!({"rule": line}));
                found.push(json!({"node": "network", "was": line, "now": "deleted"}));
            }
        }
    }
    let in_use: Vec<String> = active
        .iter()
        .flat_map(|f| Applied::of(f).cgroups.into_iter().map(|m| m.group))
        .collect();
    if let Ok(root) = unified_root() {
        let prefix = group_name(cluster, "weaviate-");
        let groups: Vec<String> = std::fs::read_dir(&root)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&prefix) && !in_use.contains(n))
                    .collect()
            })
            .unwrap_or_default();
        for g in groups {
            if let Ok(moved) = release(&root, &g, None) {
                journal(
                    "remove_leftover_cgroup",
                    json!({"group": g, "moved": moved}),
                );
                found.push(json!({"node": g, "was": format!("cgroup-v2 group with {moved} processes"), "now": "removed"}));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_partition_drops_both_directions_between_every_pair() {
        let mut f = super::super::node::tests::fault("partition-1");
        // The form registries written before the rules were kept still undo.
        f.restore = Some(json!({"a": ["10.0.0.2"], "b": ["10.0.0.3", "10.0.0.4"]}).to_string());
        let rules = Applied::of(&f).rules;
        assert_eq!(rules.len(), 4);
        let joined: Vec<String> = rules.iter().map(|r| r.spec.join(" ")).collect();
        assert!(joined.contains(
            &"-s 10.0.0.2 -d 10.0.0.3 -m comment --comment elysiactl-chaos:partition-1 -j DROP"
                .to_string()
        ));
        assert!(joined
            .iter()
            .any(|r| r.starts_with("-s 10.0.0.4 -d 10.0.0.2 ")));
    }

    #[test]
    fn loopback_connections_are_read_from_proc_net_tcp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n\
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1\n\
   2: 0A000002:C351 0A000003:1F90 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1\n";
        let c = parse_proc_net_tcp(text);
        assert_eq!(
            c,
            vec![Conn {
                local: 0xC350,
                remote: 8080,
                inode: 222
            }],
            "listeners and other addresses are left out"
        );
    }

    #[test]
    fn a_process_partition_matches_the_group_the_gossip_ports_and_open_connections() {
        let cfg = crate::base::config::WeaviateConfig::default();
        let specs = cfg.node_specs();
        let (x, y) = (
            Member {
                spec: &specs[2],
                group: "elysiactl-chaos-c-weaviate-2".into(),
                pid: std::process::id(),
            },
            Member {
                spec: &specs[0],
                group: "elysiactl-chaos-c-weaviate-0".into(),
                pid: 1,
            },
        );
        let rules = process_partition_rules(&x, &y, &[], "c-partition-1");
        let lines: Vec<String> = rules.iter().map(|r| r.args("-A").join(" ")).collect();
        let y_ports = port_list(&ports_of(&specs[0]));
        assert!(lines.contains(&format!(
            "-A OUTPUT -d 127.0.0.1 -p tcp -m cgroup --path elysiactl-chaos-c-weaviate-2 -m multiport --dports {y_ports} -m comment --comment elysiactl-chaos:c-partition-1 -j DROP"
        )), "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains(&format!(
            "-p udp --sport {} --dport {}",
            specs[2].gossip_port, specs[0].gossip_port
        ))));
        assert_eq!(rules.len(), 3, "no open connection in this test process");
    }

    #[test]
    fn rates_are_read_as_tc_reads_them() {
        assert_eq!(parse_rate("1mbit").unwrap(), 1_000_000);
        assert_eq!(parse_rate("500kbit").unwrap(), 500_000);
        assert_eq!(parse_rate("2mbps").unwrap(), 16_000_000);
        assert_eq!(parse_rate(" 1.5MBit ").unwrap(), 1_500_000);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("1mb").is_err());
        assert!(parse_rate("100bit").is_err(), "below 8kbit");
        assert_eq!(
            tbf_params(1_000_000),
            "rate 1000000bit burst 16384 latency 400ms"
        );
        let q = Qdisc {
            dev: "eth0".into(),
            netns_pid: Some(42),
            params: tbf_params(1_000_000),
        };
        assert_eq!(
            q.command(),
            "nsenter -t 42 -n tc qdisc add dev eth0 root handle e1a5: tbf rate 1000000bit burst 16384 latency 400ms"
        );
    }

    #[test]
    fn loss_probability_is_a_fraction_iptables_takes() {
        assert_eq!(probability(10.0), "0.1");
        assert_eq!(probability(0.5), "0.005");
        assert_eq!(probability(100.0), "1");
        assert_eq!(probability(33.333), "0.3333");
    }

    #[test]
    fn leftovers_are_told_apart_by_cluster() {
        let line =
            "-A OUTPUT -p udp -m comment --comment elysiactl-chaos:test-packet-loss-17 -j DROP";
        assert!(is_ours(line, "test"));
        assert!(!is_ours(line, "tes"));
        assert!(!is_ours(line, "test-2"));
        assert_eq!(tag_of(line), Some("test-packet-loss-17"));
        let quoted = "-A OUTPUT -m comment --comment \"elysiactl-chaos:test-partition-1\" -j DROP";
        assert_eq!(tag_of(quoted), Some("test-partition-1"));
    }
}
