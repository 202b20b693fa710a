//! `health` and `repair config-replication` on a real three-node cluster
//! that the test breaks on purpose: collections at factor 1 with and without
//! data, a missing system collection, an interrupted repair, a stopped node
//! and a paused process. Object counts and factors are read back from
//! Weaviate's REST API, not from the tool.

mod common;

use common::{require_weaviate, signal, Stack};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn problems(v: &Value) -> String {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["severity"].as_str().unwrap(),
                p["message"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Start `repair` with data to copy, and press Ctrl-C once the copies run.
fn interrupted_repair(s: &Stack) {
    let before = s.count_of("Big");
    let mut child = s
        .command(&[
            "repair",
            "config-replication",
            "--force",
            "--collection",
            "Big",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let t0 = Instant::now();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains("copying shards") {
            signal(child.id(), "INT");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{seen}");
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    seen.push_str(&rest);
    let status = child.wait().unwrap();
    assert!(
        seen.contains("copying shards"),
        "the copy never started: {seen}"
    );
    // The copies may all finish before the signal lands; then the repair is
    // simply done. Otherwise it must stop, say so, and leave the factor.
    if status.code() == Some(0) {
        eprintln!("NOTE: the copies finished before Ctrl-C arrived");
        assert_eq!(s.factor_of("Big"), 3);
    } else {
        assert_eq!(status.code(), Some(130), "{seen}");
        assert!(seen.contains("interrupted"), "{seen}");
        assert!(seen.contains("cancelled"), "{seen}");
        assert_eq!(
            s.factor_of("Big"),
            1,
            "an interrupted repair must not write the factor"
        );
    }
    assert_eq!(s.count_of("Big"), before, "no data may change");
}

#[test]
fn health_and_repair_on_a_broken_cluster() {
    if !require_weaviate() {
        return;
    }
    let s = Stack::new("process", 3, false, "");
    s.run(&["start"]).ok();

    // Healthy and empty.
    let r = s.run(&["health"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("HEALTHY"), "{}", r.stdout);
    let v = s.run(&["health", "--cluster", "--json"]).ok().json();
    assert_eq!(v["status"], "healthy", "{v:#}");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["cluster"]["raft"]["voters"], 3);
    assert_eq!(v["cluster"]["membership"]["ok"], true);
    for n in v["weaviate"]["nodes"].as_array().unwrap() {
        assert!(n["rest"]["latency_ms"].as_f64().is_some(), "{n:#}");
    }

    // Broken on purpose: factor 1 with and without data, a system
    // collection at the server default, a CHUNKED copy below its parent.
    s.make_collections(&[
        "Articles:1:300",
        "Big:1:3000",
        "ELYSIA_CONFIG__:0:0",
        "ELYSIA_CHUNKED_Articles__:1:0",
        "Fine:3:40",
    ]);
    let counts: Vec<(&str, u64)> = [
        "Articles",
        "Big",
        "ELYSIA_CONFIG__",
        "ELYSIA_CHUNKED_Articles__",
        "Fine",
    ]
    .iter()
    .map(|c| (*c, s.count_of(c)))
    .collect();
    assert_eq!(counts[0].1, 300);
    let r = s.run(&["health", "--cluster", "--json"]);
    assert_eq!(
        r.code, 1,
        "wrong factors make health --cluster fail: {}",
        r.stdout
    );
    let v = r.json();
    let text = problems(&v);
    assert!(
        text.contains("Articles: replication factor 1, expected 3"),
        "{text}"
    );
    assert!(
        text.contains("ELYSIA_CONFIG__: replication factor 1, expected 3"),
        "{text}"
    );
    assert!(!text.contains("Fine:"), "{text}");
    let feedback = v["cluster"]["system_collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ELYSIA_FEEDBACK__")
        .unwrap();
    assert_eq!(
        feedback["present"], false,
        "the missing system collection is reported"
    );
    let fine = v["cluster"]["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Fine")
        .unwrap();
    assert_eq!(fine["shards"].as_array().unwrap().len(), 3);
    assert!(
        fine["shards"][0]["replicas"].as_array().unwrap().len() == 3,
        "{fine:#}"
    );

    // Bad input: an unknown collection.
    let r = s.run(&["health", "--cluster", "--collection", "Nope"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("there is no collection \"Nope\""),
        "{}",
        r.stderr
    );

    // Dry-run: the plan, and nothing changes.
    let r = s
        .run(&["--dry-run", "repair", "config-replication", "--json"])
        .ok();
    let plan = r.json();
    let methods: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["collection"].as_str().unwrap().to_string(),
                c["method"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        methods.contains(&("Articles".into(), "scale".into())),
        "{methods:?}"
    );
    assert!(
        methods.contains(&("ELYSIA_CONFIG__".into(), "recreate".into())),
        "{methods:?}"
    );
    assert!(
        r.stderr.contains("would replication.scale(\"Articles\""),
        "{}",
        r.stderr
    );
    assert_eq!(s.factor_of("Articles"), 1);
    assert_eq!(s.factor_of("ELYSIA_CONFIG__"), 1);

    // Without a terminal and without --force nothing is changed.
    let r = s.run(&["repair", "config-replication"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("pass --force"), "{}", r.stderr);
    assert_eq!(s.factor_of("Articles"), 1);

    // Ctrl-C in the middle of copying replicas.
    interrupted_repair(&s);

    // The repair: every change verified, every count unchanged.
    let r = s
        .run(&["repair", "config-replication", "--force", "--json"])
        .ok();
    let done = r.json();
    assert_eq!(done["left"], 0, "{done:#}");
    for c in done["changes"].as_array().unwrap() {
        assert_eq!(c["outcome"], "repaired", "{c:#}");
        if c["method"] == "recreate" {
            let backup = c["backup"].as_str().unwrap();
            let saved: Value =
                serde_json::from_str(&std::fs::read_to_string(backup).unwrap()).unwrap();
            assert_eq!(saved["class"], c["collection"], "the backup is the schema");
        }
    }
    for (class, before) in &counts {
        assert_eq!(s.factor_of(class), 3, "{class}");
        assert_eq!(s.count_of(class), *before, "{class}: object count changed");
    }
    let v = s.run(&["health", "--cluster", "--json"]).ok().json();
    assert_eq!(v["status"], "healthy", "{}", problems(&v));
    let v = s
        .run(&[
            "health",
            "--data",
            "--collection",
            "Articles",
            "--sample-size",
            "300",
            "--json",
        ])
        .ok()
        .json();
    let articles = &v["data"]["collections"][0];
    assert_eq!(articles["sampled"], 300, "{v:#}");
    assert_eq!(articles["missing"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(articles["differing"].as_array().unwrap().len(), 0, "{v:#}");
    assert!(
        v["data"]["replication_lag"]["visible_after_ms"]["weaviate-2"].is_number(),
        "{v:#}"
    );
    assert!(
        !s.run(&["health", "--cluster", "--json"]).json()["cluster"]["collections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("ElysiactlProbe")),
        "the lag probe's scratch collection is removed"
    );
    // Nothing left to do.
    let r = s.run(&["repair", "config-replication"]).ok();
    assert!(
        r.stdout
            .contains("Every collection has the expected replication factor (3)"),
        "{}",
        r.stdout
    );

    // A stopped node: degraded, named, and the membership says who is missing.
    s.run(&["weaviate", "stop", "--node", "2"]).ok();
    let r = s.run(&["health", "--cluster", "--json"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let v = r.json();
    assert_eq!(v["cluster"]["membership"]["ok"], false);
    assert!(
        problems(&v).contains("node weaviate-2 is not ready"),
        "{}",
        problems(&v)
    );
    assert!(
        problems(&v).contains("sees weaviate-2 as absent"),
        "{}",
        problems(&v)
    );
    s.run(&["weaviate", "start"]).ok();
    assert_eq!(s.run(&["health"]).code, 0);

    // A paused process: degraded, and found within a few seconds.
    let pid = s.node_pid(1);
    signal(pid, "STOP");
    let r = s.run(&["health", "-v", "--json"]);
    signal(pid, "CONT");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let v = r.json();
    assert!(
        problems(&v).contains("node weaviate-1: its process is paused"),
        "{}",
        problems(&v)
    );
    assert!(v["seconds"].as_f64().unwrap() < 15.0, "{v:#}");
    let nodes = v["weaviate"]["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["grpc"]["serving"], true, "{:#}", nodes[0]);
    assert!(nodes[0]["process"]["pid"].is_u64(), "{:#}", nodes[0]);
    // A resumed node answers again once its queued requests drain.
    let t0 = std::time::Instant::now();
    loop {
        let r = s.run(&["health"]);
        if r.code == 0 {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 30,
            "still unhealthy 30 s after SIGCONT:\n{}",
            r.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // --watch notices a killed node within two intervals, alerts, and exports.
    watch_sees_a_killed_node(&s);
}

fn watch_sees_a_killed_node(s: &Stack) {
    let export = s.dir.path().join("watch.ndjson");
    let mut child = s
        .command(&[
            "health",
            "--watch",
            "--interval",
            "1",
            "--json",
            "--count",
            "12",
            "--export",
            export.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut after_kill = None;
    let mut seen = Vec::new();
    for (i, line) in lines.enumerate() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if i == 1 {
            signal(s.node_pid(2), "KILL");
            after_kill = Some(0);
        } else if let Some(n) = after_kill.as_mut() {
            *n += 1;
            let down = v["nodes"][2]["ready"] == false;
            seen.push(v.clone());
            if down {
                assert!(*n <= 2, "noticed only after {n} samples");
                let alerts = v["alerts"].to_string();
                assert!(
                    alerts.contains("weaviate-2 stopped being ready"),
                    "{alerts}"
                );
                assert_eq!(v["status"], "degraded");
                break;
            }
            assert!(
                *n <= 2,
                "the killed node was not noticed within two intervals: {seen:?}"
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(after_kill.is_some_and(|n| n >= 1), "watch stopped early");
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(exported.lines().count() >= 3, "{exported}");
    assert!(exported
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[test]
fn health_of_a_stack_that_is_down_exits_2() {
    let s = Stack::new("process", 3, false, "");
    let r = s.run(&["health", "--cluster", "--json"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "down");
    assert!(
        problems(&v).contains("no Weaviate node is ready"),
        "{}",
        problems(&v)
    );
}

#[test]
fn repair_refuses_where_the_server_cannot_copy_replicas() {
    if !require_weaviate() {
        return;
    }
    // The replication API answers 501 without replica movement.
    let s = Stack::new(
        "process",
        3,
        false,
        "[weaviate.env]\nREPLICA_MOVEMENT_ENABLED = \"false\"",
    );
    s.run(&["start"]).ok();
    s.make_collections(&["Articles:1:50"]);
    let r = s.run(&["repair", "config-replication", "--force"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("cannot copy replicas"), "{}", r.stderr);
    assert!(
        r.stderr.contains("REPLICA_MOVEMENT_ENABLED=true"),
        "{}",
        r.stderr
    );
    assert_eq!(s.factor_of("Articles"), 1);
    assert_eq!(s.count_of("Articles"), 50);
}
