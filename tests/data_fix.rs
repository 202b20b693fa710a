//! `health --data --fix` on a real three-node cluster whose replicas are made
//! to diverge on purpose: a node is stopped while objects are written and
//! updated at consistency ONE. Async replication is off server-wide, so only
//! the fix can bring the replicas together. Every object is then read back
//! from every node's own replica through Weaviate's REST API. On the same
//! cluster, `health --watch` samples each node's disk and the replication lag.

mod common;

use common::{http, require_weaviate, Stack};
use serde_json::{json, Value};

const CLASS: &str = "Diverged";

fn id(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// Each node's own copy of object `i` (`node_name`: no repair on the way).
fn copies(s: &Stack, i: u32) -> Vec<Option<String>> {
    (0..s.nodes as u16)
        .map(|n| {
            let (code, body) = http(
                s.rest_port + n,
                "GET",
                &format!("/v1/objects/{CLASS}/{}?node_name=weaviate-{n}", id(i)),
                None,
            );
            (code == 200).then(|| {
                let v: Value = serde_json::from_str(&body).unwrap();
                v["properties"]["v"].as_str().unwrap().to_string()
            })
        })
        .collect()
}

fn write(s: &Stack, method: &str, i: u32, value: &str) {
    let path = match method {
        "POST" => "/v1/objects?consistency_level=ONE".to_string(),
        _ => format!("/v1/objects/{CLASS}/{}?consistency_level=ONE", id(i)),
    };
    let body = json!({"class": CLASS, "id": id(i), "properties": {"v": value}});
    let (code, reply) = http(s.rest_port, method, &path, Some(&body));
    assert_eq!(code, 200, "{method} {i}: {reply}");
}

#[test]
fn health_data_fix_repairs_replicas_that_diverged() {
    if !require_weaviate() {
        return;
    }
    let s = Stack::new(
        "process",
        3,
        false,
        "\n[weaviate.env]\nASYNC_REPLICATION_DISABLED = \"true\"\n",
    );
    s.run(&["start"]).ok();
    let def = json!({"class": CLASS, "vectorizer": "none", "replicationConfig": {"factor": 3},
                     "properties": [{"name": "v", "dataType": ["text"]}]});
    let (code, body) = http(s.rest_port, "POST", "/v1/schema", Some(&def));
    assert_eq!(code, 200, "{body}");
    for i in 1..=4 {
        write(&s, "POST", i, "old");
    }
    // Node 2 misses an update of 1 and 2 and the creation of 5 to 7.
    s.run(&["weaviate", "stop", "--node", "2"]).ok();
    write(&s, "PUT", 1, "new");
    write(&s, "PUT", 2, "new");
    for i in 5..=7 {
        write(&s, "POST", i, "new");
    }
    s.run(&["weaviate", "start", "--node", "2"]).ok();
    let diverged: Vec<u32> = (1..=7)
        .filter(|&i| {
            copies(&s, i)
                .iter()
                .any(|c| c.as_deref() != Some(expected(i)))
        })
        .collect();
    assert_eq!(diverged, [1, 2, 5, 6, 7], "the divergence the test made");

    let v = s.run(&["health", "--data", "--json"]).json();
    assert_eq!(v["status"], "degraded", "{v:#}");

    // --dry-run lists exactly those objects and repairs nothing.
    let r = s
        .run(&["--dry-run", "health", "--data", "--fix", "--json"])
        .ok();
    let plan = r.json();
    let c = &plan["collections"][0];
    assert_eq!(c["name"], CLASS, "{plan:#}");
    let mut planned: Vec<&str> = c["would_read_at_all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    planned.sort();
    let want: Vec<String> = [1, 2, 5, 6, 7].iter().map(|&i| id(i)).collect();
    assert_eq!(planned, want, "{plan:#}");
    assert_eq!(copies(&s, 5)[2], None, "dry-run repaired object 5");
    assert_eq!(
        copies(&s, 1)[2].as_deref(),
        Some("old"),
        "dry-run repaired object 1"
    );

    // The fix, then every object read back from every node.
    let r = s.run(&["health", "--data", "--fix", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let fixed = r.json();
    assert_eq!(fixed["touched"], 5, "{fixed:#}");
    assert_eq!(fixed["fixed"], 5, "{fixed:#}");
    assert_eq!(fixed["remaining"], 0, "{fixed:#}");
    assert!(
        fixed["collections"][0]["async_replication"]
            .as_str()
            .unwrap()
            .starts_with("off"),
        "{fixed:#}"
    );
    for i in 1..=7 {
        let c = copies(&s, i);
        assert!(
            c.iter().all(|x| x.as_deref() == Some(expected(i))),
            "object {i} after the fix: {c:?}"
        );
    }
    let v = s.run(&["health", "--data", "--json"]).ok().json();
    assert_eq!(v["status"], "healthy", "{v:#}");
    let r = s.run(&["health", "--data", "--fix"]).ok();
    assert!(r.stdout.contains("no divergent replicas"), "{}", r.stdout);
    // --fix alone is refused with the form that works.
    let r = s.run(&["health", "--fix"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("health --data --fix"), "{}", r.stderr);

    watch_samples_disk_and_replication_lag(&s);
}

/// `health --watch`: each node's data size and free space, the replication
/// lag measured every N samples (carried in between), alerts at the
/// thresholds, and Elysia's row.
fn watch_samples_disk_and_replication_lag(s: &Stack) {
    let r = s
        .run(&[
            "health",
            "--watch",
            "--json",
            "--count",
            "3",
            "--interval",
            "0.5",
            "--lag-every",
            "2",
            "--lag-alert",
            "0",
            "--disk-alert",
            "1",
        ])
        .ok();
    let samples: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(samples.len(), 3, "{}", r.stdout);
    let data_home = s.dir.path().join("data");
    for (i, x) in samples.iter().enumerate() {
        for n in x["nodes"].as_array().unwrap() {
            let d = &n["disk"];
            assert!(d["used_bytes"].as_u64().unwrap() > 0, "{x:#}");
            assert!(d["free_bytes"].as_u64().unwrap() > 0, "{x:#}");
            assert!(
                d["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(data_home.to_str().unwrap()),
                "{x:#}"
            );
        }
        assert_eq!(x["lag_measured"], i % 2 == 0, "sample {i}: {x:#}");
        assert!(
            x["replication_lag_ms"].as_f64().unwrap() > 0.0,
            "sample {i}: {x:#}"
        );
    }
    let alerts: Vec<&str> = samples[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        alerts.iter().any(|a| a.starts_with("replication lag")),
        "{alerts:?}"
    );
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.contains("data filesystem"))
            .count(),
        3,
        "{alerts:?}"
    );
    // Carried, not measured: no new lag alert.
    assert!(
        !samples[1]["alerts"].to_string().contains("replication lag"),
        "{:#}",
        samples[1]
    );
    // No scratch collection is left behind by the probes.
    let (_, schema) = http(s.rest_port, "GET", "/v1/schema", None);
    assert!(!schema.contains("ElysiactlProbe"), "{schema}");
    let text = s
        .run(&["health", "--watch", "--count", "1", "--lag-every", "0"])
        .ok()
        .stdout;
    assert!(
        text.contains("| elysia off |") && text.contains("| data "),
        "{text}"
    );
}

fn expected(i: u32) -> &'static str {
    if i == 1 || i == 2 || i >= 5 {
        "new"
    } else {
        "old"
    }
}
