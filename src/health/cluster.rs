//! `health --cluster`: membership as every node sees it, RAFT, and the
//! replication of every collection (factor, Elysia's system collections,
//! CHUNKED copies inheriting their parent's factor, where the replicas are,
//! and whether replica object counts agree).

use super::{client, Options, Problems, Severity};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::NodesStatus;
use crate::services::readiness::ClusterReadiness;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The collections Elysia keeps its own state in.
pub const SYSTEM_COLLECTIONS: &[&str] =
    &["ELYSIA_CONFIG__", "ELYSIA_FEEDBACK__", "ELYSIA_METADATA__"];

/// `ELYSIA_CHUNKED_<parent>__` → `<parent>`.
pub fn chunked_parent(name: &str) -> Option<&str> {
    name.strip_prefix("ELYSIA_CHUNKED_")
        .and_then(|r| r.strip_suffix("__"))
        .filter(|p| !p.is_empty())
}

/// The factor a collection should have: the configured one (default: the
/// node count capped at 3), never more than there are nodes.
pub fn expected_factor(ctx: &Context) -> u64 {
    ctx.config.weaviate.expected_replication_factor() as u64
}

pub fn factor_of(class: &Value) -> u64 {
    class["replicationConfig"]["factor"].as_u64().unwrap_or(1)
}

/// `views`: every configured node's `/v1/nodes`, asked while readiness was probed.
pub fn check(
    ctx: &Context,
    o: &Options,
    r: &ClusterReadiness,
    views: Vec<HostResult<NodesStatus>>,
    problems: &mut Problems,
) -> HostResult<Value> {
    let specs = ctx.config.weaviate.node_specs();
    let configured: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();

    // Membership: what each reachable node says about every configured node.
    let mut seen_by = serde_json::Map::new();
    let mut membership_ok = true;
    for (spec, view) in specs.iter().zip(&views) {
        match view {
            Ok(v) => {
                let statuses: BTreeMap<String, String> = v
                    .nodes
                    .iter()
                    .map(|n| (n.name.clone(), n.status.clone()))
                    .collect();
                for name in &configured {
                    match statuses.get(name).map(String::as_str) {
                        Some("HEALTHY") => {}
                        other => {
                            membership_ok = false;
                            problems.add(
                                Severity::Degraded,
                                "membership",
                                format!(
                                    "{} sees {name} as {}",
                                    spec.name,
                                    other.unwrap_or(
                                        "absent (a stopped node drops out of /v1/nodes)"
                                    )
                                ),
                                "start the node (`elysiactl weaviate start`) or check its log",
                            );
                        }
                    }
                }
                seen_by.insert(spec.name.clone(), json!(statuses));
            }
            Err(e) => {
                membership_ok = false;
                problems.add(
                    Severity::Degraded,
                    "membership",
                    format!("{} did not say which nodes it sees: {}", spec.name, e.message),
                    "a node that hangs or waits on a hung peer; `elysiactl health -v` shows each node's process",
                );
                seen_by.insert(spec.name.clone(), json!({"error": e.message}));
            }
        }
    }
    let synchronized = match r.synchronized {
        Some(false) => settle_synchronized(ctx, r),
        other => other,
    };
    let voters = crate::base::config::voters_for(specs.len());
    let raft_ok = r.leader.is_some() && r.voters == voters && synchronized != Some(false);
    if r.leader.is_some() && !raft_ok {
        problems.add(
            Severity::Degraded,
            "raft",
            format!("RAFT is not whole: {}", r.summary()),
            "every configured node must run, and the first ones (up to three) vote; see `elysiactl status`",
        );
    }

    let collections = match collections_check(ctx, o, r, problems) {
        Ok(c) => c,
        Err(e) if r.ready_count == 0 => json!({"error": e.message}),
        Err(e) => return Err(e),
    };
    Ok(json!({
        "membership": {"ok": membership_ok, "configured": configured, "seen_by": seen_by},
        "raft": {"ok": raft_ok, "leader": r.leader, "voters": r.voters, "synchronized": synchronized},
        "expected_factor": expected_factor(ctx),
        "collections": collections["collections"].clone(),
        "system_collections": collections["system_collections"].clone(),
        "notes": collections["notes"].clone(),
    }))
}

/// Followers apply each RAFT entry a moment after the leader, so a single
/// "not synchronized" right after a schema change is normal: look again for
/// up to two seconds before calling it a problem.
fn settle_synchronized(ctx: &Context, r: &ClusterReadiness) -> Option<bool> {
    let spec = ctx
        .config
        .weaviate
        .node_specs()
        .into_iter()
        .find(|s| Some(&s.name) == r.asked.as_ref())?;
    let c = client(ctx, &spec);
    let t0 = std::time::Instant::now();
    loop {
        match ctx.block_on(c.raft_statistics()) {
            Ok(st) if st.synchronized => return Some(true),
            Ok(_) if t0.elapsed() < std::time::Duration::from_secs(2) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Ok(_) => return Some(false),
            Err(_) => return Some(false),
        }
    }
}

/// The schema and the verbose node status, from the first node that answers.
fn cluster_view(ctx: &Context, r: &ClusterReadiness) -> HostResult<(Value, NodesStatus)> {
    ctx.block_on(
        super::ready_nodes(ctx, r)
            .any_node(|c| async move { tokio::try_join!(c.schema(), c.nodes_status(true)) }),
    )
}

fn collections_check(
    ctx: &Context,
    o: &Options,
    r: &ClusterReadiness,
    problems: &mut Problems,
) -> HostResult<Value> {
    let expected = expected_factor(ctx);
    let (schema, nodes) = cluster_view(ctx, r)?;
    let classes: Vec<Value> = schema["classes"].as_array().cloned().unwrap_or_default();
    let by_name: BTreeMap<String, Value> = classes
        .iter()
        .filter_map(|c| Some((c["class"].as_str()?.to_string(), c.clone())))
        .collect();
    if let Some(want) = &o.collection {
        if !by_name.contains_key(want) {
            return Err(
                HostError::validation(format!("there is no collection {want:?}")).with_hint(
                    format!(
                        "the collections are: {}",
                        by_name.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ),
            );
        }
    }
    // shard → node → objectCount, per collection, as the nodes report it.
    let mut held: BTreeMap<String, BTreeMap<String, BTreeMap<String, i64>>> = BTreeMap::new();
    for n in &nodes.nodes {
        for s in &n.shards {
            held.entry(s.class.clone())
                .or_default()
                .entry(s.name.clone())
                .or_default()
                .insert(n.name.clone(), s.object_count);
        }
    }
    let names: Vec<String> = by_name
        .keys()
        .filter(|n| o.collection.as_ref().is_none_or(|w| w == *n))
        .cloned()
        .collect();
    // Placement from the replication API: which nodes should hold each shard.
    let placements: Vec<HostResult<Value>> = {
        let spec = ctx.config.weaviate.node_specs();
        let first_ready = r.nodes.iter().position(|n| n.ready).unwrap_or(0);
        let c = client(ctx, &spec[first_ready]);
        ctx.block_on(futures_util::future::join_all(names.iter().map(|n| {
            let c = c.clone();
            async move { c.sharding_state(n).await }
        })))
    };
    let mut out = Vec::new();
    let mut count_notes = Vec::new();
    for (name, placement) in names.iter().zip(placements) {
        let class = &by_name[name];
        let factor = factor_of(class);
        let parent = chunked_parent(name);
        let mut row_problems: Vec<String> = Vec::new();
        let want = match parent.and_then(|p| by_name.get(p)) {
            Some(p) => factor_of(p).max(expected),
            None => expected,
        };
        if factor != want {
            row_problems.push(format!("replication factor {factor}, expected {want}"));
        }
        if let Some(p) = parent.and_then(|p| by_name.get(p)) {
            if factor_of(p) != factor {
                row_problems.push(format!(
                    "factor {factor} differs from its parent {}'s {}",
                    parent.unwrap_or_default(),
                    factor_of(p)
                ));
            }
        }
        let reported = held.get(name).cloned().unwrap_or_default();
        let mut shards = Vec::new();
        match placement {
            Ok(v) => {
                let mut list: Vec<Value> = v["shardingState"]["shards"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                list.sort_by(|a, b| a["shard"].as_str().cmp(&b["shard"].as_str()));
                for s in list {
                    let shard = s["shard"].as_str().unwrap_or("").to_string();
                    let replicas: BTreeSet<String> = s["replicas"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    if (replicas.len() as u64) < factor {
                        row_problems.push(format!(
                            "shard {shard} has {} replica(s), fewer than its factor {factor}",
                            replicas.len()
                        ));
                    }
                    let counts = reported.get(&shard).cloned().unwrap_or_default();
                    let mut row = json!({"shard": shard, "replicas": replicas});
                    if !o.quick {
                        row["object_counts"] = json!(counts);
                        let distinct: BTreeSet<i64> = replicas
                            .iter()
                            .filter_map(|r| counts.get(r).copied())
                            .collect();
                        if distinct.len() > 1 {
                            // Node-reported counts cover flushed segments only, so
                            // replicas differ for a while after writes: a note, and
                            // `--data` is the exact comparison.
                            count_notes.push(format!(
                                "{name}: replicas of shard {shard} report different object counts ({}); these counts lag recent writes, `elysiactl health --data --collection {name}` compares the objects",
                                counts.iter().map(|(n, c)| format!("{n}: {c}")).collect::<Vec<_>>().join(", ")
                            ));
                        }
                    }
                    shards.push(row);
                }
            }
            Err(e) => row_problems.push(format!("placement unknown: {}", e.message)),
        }
        let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
        for s in &shards {
            for r in s["replicas"].as_array().into_iter().flatten() {
                *per_node
                    .entry(r.as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        for p in &row_problems {
            problems.add(
                Severity::Degraded,
                "replication",
                format!("{name}: {p}"),
                "`elysiactl repair config-replication --dry-run` shows the fix",
            );
        }
        out.push(json!({
            "name": name,
            "factor": factor,
            "expected_factor": want,
            "system": SYSTEM_COLLECTIONS.contains(&name.as_str())
                || crate::migrate::is_system_collection(name),
            "parent": parent,
            "ok": row_problems.is_empty(),
            "replicas_per_node": per_node,
            "shards": shards,
            "problems": row_problems,
        }));
    }
    let mut notes = count_notes;
    let mut system = Vec::new();
    for s in SYSTEM_COLLECTIONS {
        if o.collection.as_ref().is_some_and(|w| w != s) {
            continue;
        }
        let present = by_name.get(*s);
        if present.is_none() {
            notes.push(format!(
                "{s} is absent: Elysia creates it on first use; check again after"
            ));
        }
        system.push(json!({
            "name": s, "present": present.is_some(),
            "factor": present.map(factor_of), "expected_factor": expected,
        }));
    }
    Ok(json!({"collections": out, "system_collections": system, "notes": notes}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_collections_name_their_parent() {
        assert_eq!(
            chunked_parent("ELYSIA_CHUNKED_Articles__"),
            Some("Articles")
        );
        assert_eq!(chunked_parent("ELYSIA_CHUNKED___"), None);
        assert_eq!(chunked_parent("Articles"), None);
    }

    #[test]
    fn a_class_without_replication_config_has_factor_one() {
        assert_eq!(factor_of(&json!({"class": "A"})), 1);
        assert_eq!(factor_of(&json!({"replicationConfig": {"factor": 3}})), 3);
    }
}
