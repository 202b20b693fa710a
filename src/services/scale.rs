//! `weaviate scale --nodes N`: grow or shrink the cluster without losing an
//! object.
//!
//! The voters stay the first nodes (at most three, `config::voters_for`), so
//! the nodes added or removed here are non-voters and the quorum never
//! changes under a running cluster. Growing starts the new nodes, waits until
//! every node sees them, then moves replicas onto them with Weaviate's
//! replication API (`MOVE` keeps every shard at its factor throughout) until
//! each collection's replicas are spread as evenly as its shards allow.
//! Shrinking first moves every replica off the nodes that go, stops them
//! (they leave the membership gracefully), takes them out of RAFT and removes
//! their data, and refuses when a collection's factor needs more nodes than
//! would remain. Either way the object counts are read before and after and
//! must be equal.

use crate::base::config::{node_name, Config, MAX_NODES};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::{Cluster, WeaviateClient};
use crate::runtime::{self, WeaviateRuntime};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One replica to move: `MOVE` from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    pub collection: String,
    pub shard: String,
    pub from: String,
    pub to: String,
}

/// What a collection is before the change.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionState {
    pub collection: String,
    pub factor: usize,
    pub shards: usize,
    /// None when it could not be counted (a multi-tenant collection).
    pub objects: Option<u64>,
}

/// The change, computed from the running cluster; executing it changes
/// nothing that is not here.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub from: usize,
    pub to: usize,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub moves: Vec<Move>,
    pub collections: Vec<CollectionState>,
}

/// Replica moves for one collection: first every replica off a node outside
/// `keep`, each to the kept node with the fewest replicas that lacks that
/// shard; then from the fullest kept node to the emptiest until they differ
/// by at most one. Err names the shard that has nowhere to go.
pub fn moves_for(
    collection: &str,
    shards: &[(String, BTreeSet<String>)],
    keep: &[String],
) -> Result<Vec<Move>, String> {
    let mut placement = shards.to_vec();
    let mut load: BTreeMap<String, usize> = keep.iter().map(|n| (n.clone(), 0)).collect();
    for (_, replicas) in &placement {
        for n in replicas {
            if let Some(l) = load.get_mut(n) {
                *l += 1;
            }
        }
    }
    let mut moves = Vec::new();
    let emptiest_without = |load: &BTreeMap<String, usize>, replicas: &BTreeSet<String>| {
        load.iter()
            .filter(|(n, _)| !replicas.contains(*n))
            .min_by_key(|(n, l)| (**l, (*n).clone()))
            .map(|(n, _)| n.clone())
    };
    for (shard, replicas) in placement.iter_mut() {
        let leaving: Vec<String> = replicas
            .iter()
            .filter(|n| !load.contains_key(*n))
            .cloned()
            .collect();
        for from in leaving {
            let to = emptiest_without(&load, replicas).ok_or_else(|| {
                format!(
                    "{collection}: shard {shard} has {} replicas and only {} node(s) would remain",
                    replicas.len(),
                    keep.len()
                )
            })?;
            replicas.remove(&from);
            replicas.insert(to.clone());
            *load.get_mut(&to).expect("a kept node") += 1;
            moves.push(Move {
                collection: collection.into(),
                shard: shard.clone(),
                from,
                to,
            });
        }
    }
    // Each move narrows the gap by two, so this ends; the bound is a guard.
    for _ in 0..placement.iter().map(|(_, r)| r.len()).sum::<usize>() {
        let fullest = load
            .iter()
            .max_by_key(|(n, l)| (**l, std::cmp::Reverse((*n).clone())));
        let emptiest = load.iter().min_by_key(|(n, l)| (**l, (*n).clone()));
        let (Some((hi, &hi_n)), Some((lo, &lo_n))) = (fullest, emptiest) else {
            break;
        };
        if hi_n <= lo_n + 1 {
            break;
        }
        let (hi, lo) = (hi.clone(), lo.clone());
        let Some((shard, replicas)) = placement
            .iter_mut()
            .find(|(_, r)| r.contains(&hi) && !r.contains(&lo))
        else {
            break;
        };
        replicas.remove(&hi);
        replicas.insert(lo.clone());
        *load.get_mut(&hi).expect("a kept node") -= 1;
        *load.get_mut(&lo).expect("a kept node") += 1;
        moves.push(Move {
            collection: collection.into(),
            shard: shard.clone(),
            from: hi,
            to: lo,
        });
    }
    Ok(moves)
}

/// The moves in rounds: a shard appears at most once per round, since
/// Weaviate refuses a second operation on a replica still being moved.
pub fn rounds(moves: &[Move]) -> Vec<Vec<Move>> {
    let mut rounds: Vec<Vec<Move>> = Vec::new();
    for m in moves {
        let shard_of = |r: &Vec<Move>| {
            r.iter()
                .any(|o| o.collection == m.collection && o.shard == m.shard)
        };
        // After the last round that already moves this shard.
        let after = rounds.iter().rposition(shard_of).map_or(0, |i| i + 1);
        if after == rounds.len() {
            rounds.push(Vec::new());
        }
        rounds[after].push(m.clone());
    }
    rounds
}

/// A remote cluster is scaled where it runs.
fn refuse_remote(ctx: &Context) -> HostResult<()> {
    if runtime::select(&ctx.config, &ctx.rt)?.kind() == crate::base::config::RuntimeKind::Remote {
        return Err(runtime::remote::managed_elsewhere(
            &ctx.config.weaviate,
            "add or remove its nodes",
        ));
    }
    Ok(())
}

/// The configuration with `to` nodes, checked (ports, limits) before
/// anything is done.
fn resized(ctx: &Context, to: usize) -> HostResult<Config> {
    if to == 0 || to > MAX_NODES {
        return Err(HostError::validation(format!("cannot scale to {to} nodes"))
            .with_hint(format!("give --nodes between 1 and {MAX_NODES}")));
    }
    let mut cfg = ctx.config.clone();
    cfg.weaviate.nodes = to;
    cfg.validate()?;
    Ok(cfg)
}

fn count(ctx: &Context, c: &WeaviateClient, def: &Value) -> HostResult<Option<u64>> {
    if def["multiTenancyConfig"]["enabled"].as_bool() == Some(true) {
        return Ok(None);
    }
    let class = def["class"].as_str().unwrap_or_default();
    ctx.block_on(c.count(class)).map(Some)
}

fn client(ctx: &Context) -> HostResult<WeaviateClient> {
    let specs = ctx.config.weaviate.node_specs();
    ctx.block_on(Cluster::in_context(ctx, &specs).first_ready())
}

/// The plan to go from the configured node count to `to`: which nodes come
/// and go, which replicas move, and each collection as it is now. Reads
/// only; refuses what cannot be done safely.
pub fn plan(ctx: &Context, to: usize) -> HostResult<Plan> {
    refuse_remote(ctx)?;
    resized(ctx, to)?;
    let from = ctx.config.weaviate.nodes;
    let ready = super::weaviate::readiness(ctx);
    if !ready.is_ready(from) {
        return Err(HostError::weaviate(format!(
            "scaling needs a ready cluster first: {}",
            ready.summary()
        ))
        .with_hint("fix the cluster first (`elysiactl status`, `elysiactl health --cluster`)"));
    }
    let c = client(ctx)?;
    let keep: Vec<String> = (0..to).map(node_name).collect();
    let schema = ctx.block_on(c.schema())?;
    let mut collections = Vec::new();
    let mut moves = Vec::new();
    let mut too_big = Vec::new();
    for def in schema["classes"].as_array().into_iter().flatten() {
        let class = def["class"].as_str().unwrap_or_default().to_string();
        let factor = def["replicationConfig"]["factor"].as_u64().unwrap_or(1) as usize;
        if factor > to {
            too_big.push(format!("{class} (factor {factor})"));
            continue;
        }
        let shards = ctx.block_on(c.shard_replicas(&class))?;
        moves.extend(moves_for(&class, &shards, &keep).map_err(|why| {
            HostError::validation(why)
                .with_hint("lower the collection's factor first, or keep more nodes")
        })?);
        collections.push(CollectionState {
            objects: count(ctx, &c, def)?,
            collection: class,
            factor,
            shards: shards.len(),
        });
    }
    if !too_big.is_empty() {
        return Err(HostError::validation(format!(
            "{to} node(s) cannot hold every replica: {} need(s) more",
            too_big.join(", ")
        ))
        .with_hint("keep at least as many nodes as the largest replication factor, or lower that factor first"));
    }
    Ok(Plan {
        from,
        to,
        add: (from..to).map(node_name).collect(),
        remove: (to..from).map(node_name).collect(),
        moves,
        collections,
    })
}

/// Carry out a plan from [`plan`]; see the module comment for the order.
pub fn execute(ctx: &Context, p: &Plan, timeout: Duration) -> HostResult<Value> {
    let t0 = Instant::now();
    let resized_cfg = resized(ctx, p.to)?;
    let after = ctx.with_config(resized_cfg.clone());
    let rt = runtime::select(&ctx.config, &ctx.rt)?;
    if p.to > p.from {
        grow(ctx, &after, p, timeout)?;
    }
    run_moves(&after, &p.moves, timeout)?;
    if p.to < p.from {
        shrink(ctx, &after, rt.as_ref(), p)?;
    }
    super::weaviate::wait_ready(
        &after,
        runtime::select(&after.config, &after.rt)?.as_ref(),
        timeout,
    )?;
    let verified = verify(&after, p)?;
    Ok(json!({
        "service": "weaviate", "from": p.from, "to": p.to, "added": p.add, "removed": p.remove,
        "moves": p.moves.len(), "verified": verified,
        "seconds": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }))
}

fn set_node_count(ctx: &Context, n: usize) -> HostResult<()> {
    let mut values = serde_json::Map::new();
    values.insert("nodes".into(), json!(n));
    crate::base::config::set_values(&ctx.config.file_path(), "weaviate", &values)
}

/// Start the new nodes under the grown configuration and wait until every
/// node sees every other; on failure stop them again and put the node count
/// back, so the cluster is as it was.
fn grow(ctx: &Context, after: &Context, p: &Plan, timeout: Duration) -> HostResult<()> {
    let rt = runtime::select(&after.config, &after.rt)?;
    let new: Vec<usize> = (p.from..p.to).collect();
    rt.preflight(&new)?;
    // Written first: a crash while they start must not leave nodes running
    // that `stop` does not know of.
    set_node_count(ctx, p.to)?;
    let started = (|| {
        for &i in &new {
            ctx.out.status(&format!("starting {}", node_name(i)));
            rt.start_node(i)?;
        }
        super::weaviate::wait_ready(after, rt.as_ref(), timeout)?;
        super::weaviate::wait_settled(after, timeout)
    })();
    if let Err(e) = started {
        ctx.out
            .warn("the new nodes did not join; stopping them again");
        for &i in &new {
            let _ = rt.stop_node(i, Duration::from_secs(ctx.config.weaviate.stop_timeout));
            let _ = rt.remove_from_raft(ctx, 0, &node_name(i));
            let _ = rt.forget_node(i);
        }
        set_node_count(ctx, p.from)?;
        return Err(e);
    }
    Ok(())
}

fn run_moves(after: &Context, moves: &[Move], timeout: Duration) -> HostResult<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let c = client(after)?;
    let rounds = rounds(moves);
    for (n, round) in rounds.iter().enumerate() {
        after.out.status(&format!(
            "moving {} replica(s) (round {}/{})",
            round.len(),
            n + 1,
            rounds.len()
        ));
        let mut ids = Vec::new();
        for m in round {
            ids.push(after.block_on(c.replicate(
                &m.collection,
                &m.shard,
                &m.from,
                &m.to,
                "MOVE",
            ))?);
        }
        crate::repair::wait_for_ops(
            after,
            &c,
            "replicas",
            &ids,
            timeout,
            "the replicas not yet moved stay where they were; every shard keeps its factor",
        )?;
    }
    Ok(())
}

/// Stop the nodes that go, once no replica is left on them; take them out
/// of RAFT; remove their data; write the smaller node count.
fn shrink(ctx: &Context, after: &Context, rt: &dyn WeaviateRuntime, p: &Plan) -> HostResult<()> {
    let c = client(after)?;
    for col in &p.collections {
        let left: Vec<String> = after
            .block_on(c.shard_replicas(&col.collection))?
            .into_iter()
            .filter(|(_, r)| r.iter().any(|n| p.remove.contains(n)))
            .map(|(s, _)| s)
            .collect();
        if !left.is_empty() {
            return Err(HostError::weaviate(format!(
                "{}: shard(s) {} still have a replica on a node to remove; no node was stopped",
                col.collection,
                left.join(", ")
            ))
            .with_hint("run the scale again; `elysiactl health --cluster` shows the placement"));
        }
    }
    let stop_timeout = Duration::from_secs(ctx.config.weaviate.stop_timeout);
    for i in p.to..p.from {
        let name = node_name(i);
        ctx.out.status(&format!("removing {name}"));
        rt.stop_node(i, stop_timeout)?;
        if let Err(e) = rt.remove_from_raft(ctx, 0, &name) {
            // Already out (a scale that stopped half-way, run again).
            if raft_members(after)?.iter().any(|(id, _)| *id == name) {
                return Err(e);
            }
        }
        rt.forget_node(i)?;
    }
    set_node_count(ctx, p.to)
}

/// The RAFT configuration as the leader has it: (node, votes).
fn raft_members(ctx: &Context) -> HostResult<Vec<(String, bool)>> {
    let c = client(ctx)?;
    let stats = ctx.block_on(c.raft_statistics())?;
    let leader = stats
        .statistics
        .iter()
        .find(|s| s.raft.state == "Leader")
        .or(stats.statistics.first())
        .ok_or_else(|| HostError::weaviate("no node answered the RAFT statistics"))?;
    Ok(leader
        .raft
        .latest_configuration
        .iter()
        .map(|s| (s.id.clone(), s.suffrage == 0))
        .collect())
}

/// After the change: every collection's count as before, every shard at
/// its factor, no replica on a removed node, RAFT holding exactly the nodes.
fn verify(after: &Context, p: &Plan) -> HostResult<Value> {
    let c = client(after)?;
    let schema = after.block_on(c.schema())?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for col in &p.collections {
        let def = schema["classes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["class"] == col.collection.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        let objects = count(after, &c, &def)?;
        let shards = after.block_on(c.shard_replicas(&col.collection))?;
        let short: Vec<&str> = shards
            .iter()
            .filter(|(_, r)| r.len() < col.factor)
            .map(|(s, _)| s.as_str())
            .collect();
        for (_, r) in &shards {
            for n in r {
                *per_node.entry(n.clone()).or_default() += 1;
            }
        }
        if objects != col.objects {
            problems.push(format!(
                "{}: {:?} objects before, {:?} after",
                col.collection, col.objects, objects
            ));
        }
        if !short.is_empty() {
            problems.push(format!(
                "{}: shard(s) {} below factor {}",
                col.collection,
                short.join(", "),
                col.factor
            ));
        }
        rows.push(json!({"collection": col.collection, "factor": col.factor,
                         "objects_before": col.objects, "objects_after": objects,
                         "shards_below_factor": short}));
    }
    let members = raft_members(after)?;
    let expected: BTreeSet<String> = (0..p.to).map(node_name).collect();
    let present: BTreeSet<String> = members.iter().map(|(n, _)| n.clone()).collect();
    if present != expected {
        problems.push(format!(
            "RAFT has {} but the cluster is {}",
            present.iter().cloned().collect::<Vec<_>>().join(", "),
            expected.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(HostError::weaviate(format!(
            "the cluster has {} nodes now, but: {}",
            p.to,
            problems.join("; ")
        ))
        .with_hint("check `elysiactl health --cluster`; no data was deleted by the scale"));
    }
    Ok(json!({
        "collections": rows,
        "replicas_per_node": per_node,
        "raft": members.iter().map(|(n, v)| json!({"node": n, "voter": v})).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(layout: &[(&str, &[&str])]) -> Vec<(String, BTreeSet<String>)> {
        layout
            .iter()
            .map(|(s, r)| (s.to_string(), r.iter().map(|n| n.to_string()).collect()))
            .collect()
    }

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(node_name).collect()
    }

    /// Replicas per node after the moves, and every shard still at `factor`
    /// distinct nodes.
    fn after(
        start: &[(String, BTreeSet<String>)],
        moves: &[Move],
        factor: usize,
    ) -> BTreeMap<String, usize> {
        let mut placement = start.to_vec();
        for m in moves {
            let (_, r) = placement.iter_mut().find(|(s, _)| *s == m.shard).unwrap();
            assert!(r.remove(&m.from), "{m:?} moves a replica that is not there");
            assert!(
                r.insert(m.to.clone()),
                "{m:?} moves onto a node that has the shard"
            );
        }
        let mut load = BTreeMap::new();
        for (_, r) in &placement {
            assert_eq!(r.len(), factor);
            for n in r {
                *load.entry(n.clone()).or_insert(0) += 1;
            }
        }
        load
    }

    #[test]
    fn growing_spreads_three_shards_of_factor_three_over_five_nodes() {
        let all = ["weaviate-0", "weaviate-1", "weaviate-2"];
        let start = shards(&[("a", &all), ("b", &all), ("c", &all)]);
        let moves = moves_for("Docs", &start, &nodes(5)).unwrap();
        let load = after(&start, &moves, 3);
        assert_eq!(load.len(), 5, "{load:?}");
        let (lo, hi) = (load.values().min().unwrap(), load.values().max().unwrap());
        assert!(hi - lo <= 1, "{load:?}");
        assert_eq!(
            moves.len(),
            3,
            "3,3,3,0,0 to 2,2,2,2,1: one from each old node"
        );
    }

    #[test]
    fn a_single_shard_that_is_already_even_does_not_move() {
        let start = shards(&[("a", &["weaviate-0", "weaviate-1", "weaviate-2"])]);
        assert!(moves_for("Docs", &start, &nodes(5)).unwrap().is_empty());
    }

    #[test]
    fn shrinking_takes_every_replica_off_the_nodes_that_go() {
        let start = shards(&[
            ("a", &["weaviate-0", "weaviate-3", "weaviate-4"]),
            ("b", &["weaviate-1", "weaviate-2", "weaviate-3"]),
            ("c", &["weaviate-0", "weaviate-2", "weaviate-4"]),
        ]);
        let moves = moves_for("Docs", &start, &nodes(3)).unwrap();
        let load = after(&start, &moves, 3);
        assert_eq!(load.keys().cloned().collect::<Vec<_>>(), nodes(3));
        assert!(load.values().all(|&l| l == 3), "{load:?}");
    }

    #[test]
    fn a_factor_above_the_remaining_nodes_is_refused_with_the_shard() {
        let start = shards(&[("a", &["weaviate-0", "weaviate-1", "weaviate-2"])]);
        let err = moves_for("Docs", &start, &nodes(2)).unwrap_err();
        assert!(
            err.contains("Docs: shard a has 3 replicas and only 2 node(s)"),
            "{err}"
        );
    }

    #[test]
    fn rounds_never_move_one_shard_twice_at_once() {
        let m = |shard: &str, from: &str, to: &str| Move {
            collection: "C".into(),
            shard: shard.into(),
            from: from.into(),
            to: to.into(),
        };
        let moves = vec![
            m("a", "x", "y"),
            m("b", "x", "z"),
            m("a", "y", "w"),
            m("c", "x", "y"),
        ];
        let r = rounds(&moves);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            vec![m("a", "x", "y"), m("b", "x", "z"), m("c", "x", "y")]
        );
        assert_eq!(r[1], vec![m("a", "y", "w")]);
    }
}
