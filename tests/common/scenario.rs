//! The lifecycle scenario both runtimes must pass, on one real stack:
//! start, status, playbooks in both languages, a crashed node, a rolling
//! restart under load from the official Python client, dry-run, stop.

use super::{python, Stack};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn wait_for_file(path: &std::path::Path, timeout: Duration) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < timeout, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn full(s: &Stack, with_elysia: bool) {
    // start waits for readiness itself.
    let r = s.run(&["start", "--timeout", "240"]).ok();
    eprintln!("TIMING {} start-to-ready: {:.1}s", s.runtime, r.seconds);

    // status: exit code and the documented JSON schema.
    let r = s.run(&["status"]).ok();
    eprintln!("TIMING {} status: {:.2}s", s.runtime, r.seconds);
    for i in 0..s.nodes {
        assert!(r.stdout.contains(&format!("weaviate-{i}")), "{}", r.stdout);
    }
    let v = s.run(&["status", "--json"]).ok().json();
    assert_eq!(v["up"], true, "{v:#}");
    let w = &v["weaviate"];
    assert_eq!(w["runtime"], s.runtime);
    assert_eq!(w["voters"], s.nodes as u64, "{w:#}");
    assert!(
        w["leader"]
            .as_str()
            .is_some_and(|l| l.starts_with("weaviate-")),
        "{w:#}"
    );
    let nodes = w["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), s.nodes);
    // On swarm, where each node runs: the swarm host its service is placed on.
    if s.runtime == "swarm" {
        for n in nodes {
            assert!(n["host"].as_str().is_some_and(|h| !h.is_empty()), "{n:#}");
        }
        let text = s.run(&["weaviate", "status"]).ok();
        assert!(text.stdout.contains("HOST"), "{}", text.stdout);
    }
    for n in nodes {
        assert_eq!(n["ready"], true, "{n:#}");
        assert_eq!(n["running"], true, "{n:#}");
        assert_eq!(n["version"], "1.38.11", "{n:#}");
        assert!(n["pid"].is_u64() || n["container"].is_string(), "{n:#}");
        assert!(n["memory_bytes"].as_u64().unwrap_or(0) > 10 << 20, "{n:#}");
    }
    if with_elysia {
        let e = &v["elysia"];
        assert_eq!(e["ready"], true, "{e:#}");
        assert_eq!(e["weaviate_connected"], true, "{e:#}");
        assert!(e["pid"].is_u64(), "{e:#}");
    }

    // One service at a time: the same tables, each service alone.
    let r = s.run(&["weaviate", "status"]).ok();
    assert!(
        r.stdout.contains(&format!(
            "Weaviate ({}): {n}/{n} ready",
            s.runtime,
            n = s.nodes
        )),
        "{}",
        r.stdout
    );
    for i in 0..s.nodes {
        assert!(r.stdout.contains(&format!("weaviate-{i}")), "{}", r.stdout);
    }
    assert!(!r.stdout.contains("Elysia"), "{}", r.stdout);
    if with_elysia {
        let r = s.run(&["elysia", "status"]).ok();
        assert!(r.stdout.contains("Elysia: ready"), "{}", r.stdout);
        assert!(!r.stdout.contains("weaviate-0"), "{}", r.stdout);
    }
    if with_elysia && s.runtime == "process" {
        elysia_probe_is_cheap_and_truthful(s);
    }
    // Every node's log, a header and the last lines each; none with --lines 0.
    let r = s.run(&["weaviate", "logs", "--lines", "2"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3 * s.nodes, "{}", r.stdout);
    for i in 0..s.nodes {
        assert_eq!(
            lines[3 * i],
            format!("==> weaviate-{i} <=="),
            "{}",
            r.stdout
        );
    }
    let r = s.run(&["weaviate", "logs", "--lines", "0"]).ok();
    assert_eq!(r.stdout, "");

    // The same report from Rhai and Lua, over enough collections that an
    // unsorted listing (Weaviate's order changes between calls) would show.
    s.make_collections(&[
        "ReportEcho:3:2",
        "ReportAlpha:3:0",
        "ReportDelta:3:5",
        "ReportBravo:3:1",
        "ReportFoxtrot:3:3",
        "ReportCharlie:3:4",
    ]);
    let root = env!("CARGO_MANIFEST_DIR");
    let rhai = s
        .run(&["run", &format!("{root}/playbooks/cluster-report.rhai")])
        .ok();
    let lua = s
        .run(&["run", &format!("{root}/playbooks/cluster-report.lua")])
        .ok();
    assert_eq!(rhai.stdout, lua.stdout, "text reports differ");
    assert!(
        rhai.stdout
            .contains(&format!("members: {n}/{n}", n = s.nodes)),
        "{}",
        rhai.stdout
    );
    let rj = s
        .run(&[
            "run",
            &format!("{root}/playbooks/cluster-report.rhai"),
            "--json",
        ])
        .ok()
        .json();
    let lj = s
        .run(&[
            "run",
            &format!("{root}/playbooks/cluster-report.lua"),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(rj, lj, "JSON reports differ");
    assert_eq!(rj["voters"], s.nodes as u64);
    let listed: Vec<&str> = rj["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["collection"].as_str().unwrap())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "collections are listed by name");
    assert!(listed.len() >= 6, "{listed:?}");

    // A rolling restart while the official client reads and writes.
    let work = s.dir.path();
    let (ready, stop) = (work.join("load.ready"), work.join("load.stop"));
    let child = std::process::Command::new(python())
        .arg(format!("{root}/tests/py/client_load.py"))
        .args([
            "127.0.0.1",
            &s.rest_port.to_string(),
            &s.grpc_port.to_string(),
            &s.nodes.to_string(),
            "RollingProbe",
            stop.to_str().unwrap(),
            ready.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with weaviate-client");
    wait_for_file(&ready, Duration::from_secs(60));
    let r = s.run(&["weaviate", "restart", "--rolling", "--json"]).ok();
    eprintln!("TIMING {} rolling restart: {:.1}s", s.runtime, r.seconds);
    let steps = r.json()["nodes"].as_array().unwrap().len();
    assert_eq!(steps, s.nodes);
    std::fs::write(&stop, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    eprintln!("client during rolling restart: {summary}");
    assert!(summary["written"].as_u64().unwrap() >= 20, "{summary}");
    assert_eq!(summary["failure_count"], 0, "{summary}");
    assert_eq!(summary["missing_count"], 0, "{summary}");

    // After the rolling restart the whole stack is up again, Elysia included
    // (a fresh probe user must reach Weaviate), and Elysia restarts on its own.
    let v = s.run(&["status", "--json"]).ok().json();
    assert_eq!(v["up"], true, "{v:#}");
    if with_elysia {
        let before = v["elysia"]["pid"].as_u64().unwrap();
        let r = s
            .run(&[
                "elysia",
                "restart",
                "--graceful",
                "--timeout",
                "120",
                "--json",
            ])
            .ok();
        eprintln!("TIMING {} elysia restart: {:.1}s", s.runtime, r.seconds);
        let e = r.json();
        assert_eq!(e["ready"], true, "{e:#}");
        assert_ne!(e["pid"].as_u64().unwrap(), before, "a new process: {e:#}");
        // The original tool's form: stopped by SIGTERM within the timeout.
        let r = s
            .run(&["elysia", "stop", "--graceful", "--timeout", "30", "--json"])
            .ok();
        assert_eq!(r.json()["stopped"], "terminated", "{}", r.stdout);
        let r = s.run(&["elysia", "status"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stdout.contains("Elysia: down"), "{}", r.stdout);
    }

    // Dry-run: the plan is printed, nothing stops.
    let r = s.run(&["--dry-run", "stop"]).ok();
    assert!(
        r.stderr.contains("would service.stop(\"weaviate\""),
        "{}",
        r.stderr
    );
    s.run(&["weaviate", "status"]).ok();

    // stop leaves nothing behind.
    s.run(&["stop"]).ok();
    assert!(
        s.live_pids().is_empty(),
        "processes left: {:?}",
        s.live_pids()
    );
    assert!(
        s.containers().is_empty(),
        "containers left: {:?}",
        s.containers()
    );
    for i in 0..s.nodes as u16 {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", s.rest_port + i)).is_ok(),
            "port {} still taken",
            s.rest_port + i
        );
    }
    let r = s.run(&["status"]);
    assert_eq!(r.code, 1, "status must say the stack is down: {}", r.stdout);
    let r = s.run(&["weaviate", "status"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("Weaviate ({}): 0/{} ready", s.runtime, s.nodes)),
        "{}",
        r.stdout
    );
    if with_elysia {
        let r = s.run(&["elysia", "status"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stdout.contains("Elysia: down"), "{}", r.stdout);
    }
}

/// `health` reuses the Elysia probe user an earlier check made (one cheap
/// request instead of creating a user), and is still truthful: with Weaviate
/// stopped, Elysia is reported as unable to reach it; once Weaviate is back,
/// Elysia is reported connected again (through a fresh user where the old
/// one stayed disconnected).
fn elysia_probe_is_cheap_and_truthful(s: &Stack) {
    let user_file = s.state_dir().join("elysia-probe-user");
    let healthy = |what: &str| {
        let v = s.run(&["health", "--json"]).ok().json();
        assert_eq!(v["status"], "healthy", "{what}: {v:#}");
        assert_eq!(v["elysia"]["weaviate_connected"], true, "{what}: {v:#}");
    };
    healthy("first check");
    let user = std::fs::read_to_string(&user_file).expect("the probe user is kept");
    healthy("second check");
    assert_eq!(
        std::fs::read_to_string(&user_file).unwrap(),
        user,
        "a second check reuses the probe user"
    );
    let r = s.run(&["health", "--json"]);
    eprintln!("TIMING {} health: {:.3}s", s.runtime, r.seconds);

    s.run(&["weaviate", "stop"]).ok();
    let r = s.run(&["health", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    let e = &r.json()["elysia"];
    assert_eq!(e["up"], true, "{e:#}");
    assert_eq!(e["weaviate_connected"], false, "{e:#}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("cannot reach Weaviate"),
        "{e:#}"
    );
    s.run(&["weaviate", "start", "--timeout", "240"]).ok();
    healthy("after Weaviate came back");
}
