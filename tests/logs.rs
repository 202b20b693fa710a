//! `logs` on the real stack, in both runtimes, one cluster for every check:
//! the merged timeline of three nodes and Elysia, the level and regex
//! filters, a follow that sees a line written after it began and goes on
//! across a node restart, the export (no secret in it), and the `logs` host
//! module from a playbook.

mod common;

use common::{docker_available, elysia_venv, require, weaviate_binary, Stack};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SECRET: &str = "sk-logs-test-secret-7731";

fn ndjson(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn with_secret(s: &Stack) {
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("[elysia]\n", &format!("[elysia]\napi_key = \"{SECRET}\"\n")),
    )
    .unwrap();
}

fn checks(s: &Stack) {
    s.run(&["start", "--timeout", "240"]).ok();
    config_diff_against_the_running_stack(s);
    config_apply_and_rollback(s);

    // One timeline: every node and Elysia, in time order, each line tagged.
    let r = s.run(&["logs", "--all", "--since", "15m", "--json"]).ok();
    let entries = ndjson(&r.stdout);
    for source in ["weaviate-0", "weaviate-1", "weaviate-2", "elysia"] {
        assert!(
            entries.iter().any(|e| e["source"] == source),
            "no line from {source}:\n{}",
            r.stdout
        );
    }
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "not in time order");
    // Weaviate's JSON is parsed: a level and a message of its own, the rest as fields.
    let node_line = entries
        .iter()
        .find(|e| e["source"] == "weaviate-0")
        .unwrap();
    assert!(node_line["level"].is_string(), "{node_line}");
    assert!(
        !node_line["message"].as_str().unwrap().starts_with('{'),
        "{node_line}"
    );

    // --level keeps that level and above; --search is a regular expression.
    let r = s
        .run(&["logs", "weaviate", "--level", "warn", "--json", "-n", "500"])
        .ok();
    for e in ndjson(&r.stdout) {
        assert!(
            ["warn", "error", "fatal"].contains(&e["level"].as_str().unwrap_or("info")),
            "{e}"
        );
    }
    let wanted = node_line["message"].as_str().unwrap();
    let pattern = format!("^.*{}", regex::escape(wanted));
    let r = s
        .run(&[
            "logs", "weaviate", "--node", "0", "--search", &pattern, "--json",
        ])
        .ok();
    let found = ndjson(&r.stdout);
    assert!(!found.is_empty(), "{pattern} found nothing");
    assert!(found
        .iter()
        .all(|e| e["message"] == wanted && e["source"] == "weaviate-0"));
    let r = s.run(&["logs", "--search", "(unclosed"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not a regular expression"),
        "{}",
        r.stderr
    );
    // Piped: no colour.
    let r = s.run(&["logs", "--all", "-n", "20"]).ok();
    assert!(
        !r.stdout.contains('\x1b') && r.stdout.lines().count() == 20,
        "{}",
        r.stdout
    );

    // --follow: a line written after it began, and on across a node restart.
    let mut child = s
        .command(&[
            "logs", "weaviate", "--node", "1", "--follow", "--json", "-n", "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    // The tail of one line comes first: the follow has begun after it.
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the initial line");
    let restarted_at = chrono::Utc::now();
    s.run(&["weaviate", "stop", "--node", "1"]).ok();
    s.run(&["weaviate", "start", "--timeout", "240"]).ok();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut after = Vec::new();
    while Instant::now() < deadline {
        let Ok(e) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        let t = chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).unwrap();
        if t > restarted_at {
            after.push(e);
        }
        // Lines of the restarted node: it started again and said so.
        if after.iter().any(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("elysiactl: started") || m.contains("Serving weaviate"))
        }) && after.len() >= 3
        {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        after.len() >= 3,
        "the follow showed no lines after the restart: {after:?}"
    );
    assert!(after.iter().all(|e| e["source"] == "weaviate-1"));

    // The export: one file per source and a manifest, no secret anywhere.
    let bundle = s.dir.path().join("bug.tar.gz");
    let r = s
        .run(&[
            "logs",
            "--all",
            "--since",
            "1h",
            "--export",
            bundle.to_str().unwrap(),
        ])
        .ok();
    assert!(r.stdout.contains("lines from"), "{}", r.stdout);
    let out = s.dir.path().join("bundle");
    std::fs::create_dir_all(&out).unwrap();
    let st = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["config"]["elysia"]["api_key"], "***",
        "{manifest:#}"
    );
    assert!(manifest["filters"]["since"].is_string(), "{manifest:#}");
    assert_eq!(manifest["runtime"], s.runtime);
    for f in [
        "weaviate-0.log",
        "weaviate-1.log",
        "weaviate-2.log",
        "elysia.log",
        "daemon.log",
    ] {
        assert!(out.join(f).exists(), "{f} missing from the bundle");
    }
    for e in std::fs::read_dir(&out).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            !text.contains(SECRET),
            "{} holds the secret",
            e.path().display()
        );
    }

    // The host module from a playbook: "node 2 logged no panic", in Rhai and Lua.
    let rhai = s.dir.path().join("no-panic.rhai");
    std::fs::write(
        &rhai,
        "let found = logs::read(#{services: [\"weaviate\"], node: 2, search: \"panic:\", since: \"1h\"});\n\
         let all = logs::read(#{services: [\"weaviate\"], node: 2, since: \"1h\"});\n\
         out::line(`${found.len()} ${all.len() > 0}`);\n",
    )
    .unwrap();
    let r = s.run(&["run", rhai.to_str().unwrap()]).ok();
    assert_eq!(r.stdout.trim(), "0 true");
    let lua = s.dir.path().join("levels.lua");
    std::fs::write(
        &lua,
        "local e = logs.read({services = {\"elysia\"}, lines = 3})\nout.line(#e)\n",
    )
    .unwrap();
    let r = s.run(&["run", lua.to_str().unwrap()]).ok();
    assert_eq!(r.stdout.trim(), "3");

    // follow with a callback: Elysia's access lines for requests made while
    // the playbook follows, until the callback has seen two of them.
    let follow = s.dir.path().join("follow.rhai");
    std::fs::write(
        &follow,
        "let hits = [];
         let r = logs::follow(#{services: [\"elysia\"], timeout: \"60s\"}, |e| {
             if e.message.contains(\"GET /api/health\") { hits.push(e.source); }
             hits.len() < 2
         });
         out::line(`${r.stopped} ${hits}`);
",
    )
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let knocker = {
        let (stop, port) = (stop.clone(), s.elysia_port);
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::panic::catch_unwind(|| common::http(port, "GET", "/api/health", None));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let r = s.run(&["run", follow.to_str().unwrap()]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    knocker.join().unwrap();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.trim(), "callback [\"elysia\", \"elysia\"]");
}

/// `config diff [FILE]` reads the running side back from the processes:
/// the file in use matches; a changed copy shows each change, secrets masked.
fn config_diff_against_the_running_stack(s: &Stack) {
    let r = s.run(&["config", "diff"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("no differences"), "{}", r.stdout);
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let changed = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(SECRET, "sk-another-secret-8842")
        + "\n[weaviate.env]\nQUERY_DEFAULTS_LIMIT = \"50\"\n";
    let new = s.dir.path().join("new.toml");
    std::fs::write(&new, changed).unwrap();
    let r = s.run(&["config", "diff", new.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains(SECRET) && !r.stdout.contains("sk-another-secret-8842"));
    let v = r.json();
    let changes = v["changes"].as_array().unwrap();
    let find = |key: &str| changes.iter().find(|c| c["key"] == key).cloned();
    let limit = find("weaviate.env.QUERY_DEFAULTS_LIMIT").unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(
        (limit["a"].as_str(), limit["b"].as_str()),
        (Some("50"), Some("25"))
    );
    let key = find("elysia.api_key").unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(key["b"], "*** (differs)");
    assert_eq!(changes.len(), 2, "nothing else differs: {v:#}");
}

/// QUERY_DEFAULTS_LIMIT as each node applies it, read back from Weaviate
/// itself: how many objects a listing without a limit returns from a
/// collection of 60 (GraphQL has a default of its own).
fn default_limits(s: &Stack) -> Vec<usize> {
    (0..s.nodes as u16)
        .map(|i| {
            let path = "/v1/objects?class=LimitProbe";
            let (code, body) = common::http(s.rest_port + i, "GET", path, None);
            assert_eq!(code, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            v["objects"]
                .as_array()
                .unwrap_or_else(|| panic!("node {i}: {body}"))
                .len()
        })
        .collect()
}

fn node_pids(s: &Stack) -> Vec<u64> {
    let v = s.run(&["status", "--json"]).ok().json();
    v["weaviate"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap_or(0))
        .collect()
}

/// `config apply`: a node setting is planned as one rolling restart, done
/// while the official client keeps reading and writing, read back, and
/// recorded; `config rollback` restores the earlier value the same way;
/// --dry-run and a refused change leave everything as it was.
fn config_apply_and_rollback(s: &Stack) {
    let in_use = s.dir.path().join("config/elysiactl/config.toml");
    let before = std::fs::read_to_string(&in_use).unwrap();
    let target = s.dir.path().join("apply.toml");
    std::fs::write(
        &target,
        format!("{before}\n[weaviate.env]\nQUERY_DEFAULTS_LIMIT = \"40\"\n"),
    )
    .unwrap();
    let target = target.to_str().unwrap();
    s.run(&[
        "test-data",
        "generate",
        "--records",
        "60",
        "--collection",
        "LimitProbe",
        // One replica: any node's listing is routed to it, so every node
        // sees all 60 at once (with three, a lagging replica answered 14).
        "--replication-factor",
        "1",
    ])
    .ok();
    assert_eq!(default_limits(s), vec![25; s.nodes], "the default before");

    let pids = node_pids(s);
    let r = s
        .run(&["--dry-run", "config", "apply", target, "--json"])
        .ok();
    let plan = r.json();
    assert_eq!(plan["rolling_restart"], true, "{plan:#}");
    assert_eq!(plan["elysia_restart"], false, "{plan:#}");
    assert_eq!(
        std::fs::read_to_string(&in_use).unwrap(),
        before,
        "dry run wrote the file"
    );
    assert_eq!(node_pids(s), pids, "dry run restarted a node");
    assert_eq!(s.run(&["config", "diff", target]).code, 1);

    // Refused: the node count cannot change live; nothing is touched.
    let refused = s.dir.path().join("refused.toml");
    std::fs::write(&refused, before.replace("nodes = 3", "nodes = 2")).unwrap();
    let r = s.run(&["config", "apply", refused.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("weaviate.nodes") && r.stderr.contains("RAFT"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&in_use).unwrap(), before);

    // Applied while the official client reads and writes.
    let root = env!("CARGO_MANIFEST_DIR");
    let work = s.dir.path();
    let (ready, stop) = (work.join("apply.ready"), work.join("apply.stop"));
    let child = std::process::Command::new(common::python())
        .arg(format!("{root}/tests/py/client_load.py"))
        .args([
            "127.0.0.1",
            &s.rest_port.to_string(),
            &s.grpc_port.to_string(),
            &s.nodes.to_string(),
            "ApplyProbe",
            stop.to_str().unwrap(),
            ready.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with weaviate-client");
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the client never got ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = s.run(&["config", "apply", target, "--yes", "--json"]).ok();
    std::fs::write(&stop, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let load: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(load["failure_count"], 0, "{load}");
    let applied = r.json();
    assert_eq!(
        applied["done"],
        serde_json::json!(["rolling restart of the nodes"]),
        "{applied:#}"
    );
    assert_eq!(applied["verified"], true, "{applied:#}");
    assert_eq!(
        applied["version"], 2,
        "version 1 is the file before: {applied:#}"
    );
    let after = node_pids(s);
    assert!(
        after.iter().zip(&pids).all(|(a, b)| a != b),
        "every node restarted: {pids:?} {after:?}"
    );
    // Read back from the nodes: they run with the file now, and Weaviate
    // itself answers with the new limit on every node.
    s.run(&["config", "diff"]).ok();
    assert_eq!(
        default_limits(s),
        vec![40; s.nodes],
        "read back from Weaviate"
    );

    let r = s.run(&["config", "history", "--json"]).ok();
    let versions = r.json();
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions:#}");
    assert!(versions[1]["summary"]
        .as_str()
        .unwrap()
        .contains("weaviate.env.QUERY_DEFAULTS_LIMIT"));
    for e in std::fs::read_dir(s.state_dir().join("config-history"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            !text.contains(SECRET),
            "{} holds the secret",
            e.path().display()
        );
    }

    // Rollback: the earlier value, the same way, the secret in use kept.
    let r = s.run(&["config", "rollback", "--yes", "--json"]).ok();
    let back = r.json();
    assert_eq!(back["rolled_back_to"], 1, "{back:#}");
    assert_eq!(back["verified"], true, "{back:#}");
    let now = std::fs::read_to_string(&in_use).unwrap();
    assert!(
        !now.contains("QUERY_DEFAULTS_LIMIT") && now.contains(SECRET),
        "{now}"
    );
    s.run(&["config", "diff"]).ok();
    assert_eq!(
        default_limits(s),
        vec![25; s.nodes],
        "rolled back in Weaviate"
    );
    assert_eq!(s.run(&["config", "diff", target]).code, 1);
}

#[test]
fn logs_process_runtime() {
    if !require("the Weaviate binary", weaviate_binary().exists())
        || !require("the Elysia venv", elysia_venv().join("bin/elysia").exists())
    {
        return;
    }
    let s = Stack::new("process", 3, true, "");
    with_secret(&s);
    checks(&s);
}

#[test]
fn logs_docker_runtime() {
    if !require("a Docker engine", docker_available())
        || !require("the Elysia venv", elysia_venv().join("bin/elysia").exists())
    {
        return;
    }
    let s = Stack::new("docker", 3, true, "");
    with_secret(&s);
    checks(&s);
}
