//! `weaviate scale --nodes N` checked from outside: grow 3 → 5 with data,
//! shrink 5 → 3, and the refusals, with the counts, every object's content,
//! each shard's replicas and RAFT's membership read from the cluster itself.
//! Every runtime's test runs the same round trip.

use super::{http, Stack};
use serde_json::Value;

/// A 3-node stack whose port blocks have room for 5 nodes (Stack::new sizes
/// them by the node count it is given).
pub fn stack_with_room(runtime: &'static str) -> Stack {
    let mut s = Stack::new(runtime, 5, false, "");
    let file = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("nodes = 5\n", "nodes = 3\n")).unwrap();
    s.nodes = 3;
    s
}

fn configured_nodes(s: &Stack) -> String {
    let text = std::fs::read_to_string(s.dir.path().join("config/elysiactl/config.toml")).unwrap();
    text.lines()
        .find(|l| l.starts_with("nodes"))
        .unwrap()
        .to_string()
}

/// Shard → replicas, as node 0 reports them, sorted (Weaviate's order is a
/// map's).
fn placement(s: &Stack, class: &str) -> Vec<(String, Vec<String>)> {
    let (code, body) = http(
        s.rest_port,
        "GET",
        &format!("/v1/replication/sharding-state?collection={class}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut shards = v["shardingState"]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sh| {
            let mut r: Vec<String> = sh["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            r.sort();
            (sh["shard"].as_str().unwrap().to_string(), r)
        })
        .collect::<Vec<_>>();
    shards.sort();
    shards
}

/// RAFT's servers as the leader has them: (node, voter).
fn raft(s: &Stack) -> Vec<(String, bool)> {
    let (code, body) = http(s.rest_port, "GET", "/v1/cluster/statistics", None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let leader = v["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["raft"]["state"] == "Leader")
        .unwrap_or_else(|| panic!("no leader: {body}"));
    let mut m: Vec<(String, bool)> = leader["raft"]["latestConfiguration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["suffrage"].as_i64().unwrap_or(0) == 0,
            )
        })
        .collect();
    m.sort();
    m
}

fn members(s: &Stack) -> Vec<String> {
    let (code, body) = http(s.rest_port, "GET", "/v1/nodes", None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("weaviate-{i}")).collect()
}

pub fn scale_round_trip(s: &Stack) {
    s.run(&["start", "--timeout", "240"]).ok();
    // Every object is checked against the content it was written with.
    assert_eq!(s.generate("ScaleDocs", "documents", "300")["written"], 300);
    s.make_collections(&["ScaleOne:1:150"]);
    assert_eq!(s.validate("ScaleDocs")["ok"], true);
    let before = placement(s, "ScaleDocs");

    // A shrink below a collection's factor is refused, naming it, and
    // changes nothing.
    let r = s.run(&["weaviate", "scale", "--nodes", "2", "--force"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("ScaleDocs (factor 3)"), "{}", r.stderr);
    assert_eq!(configured_nodes(s), "nodes = 3");
    assert_eq!(placement(s, "ScaleDocs"), before);

    // --dry-run lists the moves and changes nothing.
    let r = s
        .run(&["weaviate", "scale", "--nodes", "5", "--dry-run", "--json"])
        .ok();
    let planned = r.json();
    assert_eq!(planned["dry_run"], true, "{planned}");
    assert_eq!(
        planned["added"],
        serde_json::json!(["weaviate-3", "weaviate-4"])
    );
    let planned_moves = planned["planned_moves"].as_array().unwrap().len();
    assert!(planned_moves > 0, "{planned}");
    assert_eq!(configured_nodes(s), "nodes = 3");
    assert_eq!(members(s), names(3));

    // Grow.
    let r = s.run(&["weaviate", "scale", "--nodes", "5", "--json"]).ok();
    let grown = r.json();
    eprintln!(
        "TIMING scale 3 -> 5 ({} moves): {}s",
        grown["moves"], grown["seconds"]
    );
    assert_eq!(configured_nodes(s), "nodes = 5");
    assert_eq!(members(s), names(5));
    let voters: Vec<(String, bool)> = names(5)
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, i < 3))
        .collect();
    assert_eq!(raft(s), voters, "two non-voters added");
    let after = placement(s, "ScaleDocs");
    let mut per_node = std::collections::BTreeMap::new();
    for (_, r) in &after {
        assert_eq!(r.len(), 3, "factor kept: {after:?}");
        for n in r {
            *per_node.entry(n.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        per_node.len(),
        5,
        "replicas spread onto the new nodes: {after:?}"
    );
    assert_eq!(s.count_of("ScaleDocs"), 300);
    assert_eq!(s.count_of("ScaleOne"), 150);
    let v = s.validate("ScaleDocs");
    assert_eq!(v["ok"], true, "{v}");
    let st = s.run(&["status", "--json"]).json();
    assert_eq!(st["weaviate"]["nodes"].as_array().unwrap().len(), 5, "{st}");
    assert_eq!(st["weaviate"]["up"], true, "{st}");

    // Shrink back: without a terminal and without --force it is refused.
    let r = s.run(&["weaviate", "scale", "--nodes", "3"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(configured_nodes(s), "nodes = 5");
    let r = s
        .run(&["weaviate", "scale", "--nodes", "3", "--force", "--json"])
        .ok();
    let shrunk = r.json();
    eprintln!(
        "TIMING scale 5 -> 3 ({} moves): {}s",
        shrunk["moves"], shrunk["seconds"]
    );
    assert_eq!(configured_nodes(s), "nodes = 3");
    assert_eq!(members(s), names(3));
    assert_eq!(
        raft(s),
        names(3).into_iter().map(|n| (n, true)).collect::<Vec<_>>()
    );
    for (shard, r) in placement(s, "ScaleDocs") {
        assert_eq!(r, names(3), "shard {shard}");
    }
    assert_eq!(s.count_of("ScaleDocs"), 300);
    assert_eq!(s.count_of("ScaleOne"), 150);
    let v = s.validate("ScaleDocs");
    assert_eq!(v["ok"], true, "{v}");

    s.run(&["stop"]).ok();
}
