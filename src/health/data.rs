//! `health --data`: read a sample of objects from every replica (a
//! node-targeted read, which is consistency ONE on that node) and compare
//! them; then measure replication lag with a write into a scratch collection
//! that is removed afterwards.

use super::cluster::{expected_factor, factor_of};
use super::{client, Options, Problems, Severity};
use crate::base::context::Context;
use crate::base::error::HostResult;
use crate::clients::weaviate::Consistency;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub fn check(ctx: &Context, o: &Options, problems: &mut Problems) -> HostResult<Value> {
    let specs = ctx.config.weaviate.node_specs();
    let c0 = client(ctx, &specs[0]);
    let schema = ctx.block_on(c0.schema())?;
    let mut collections = Vec::new();
    for class in schema["classes"].as_array().into_iter().flatten() {
        let name = class["class"].as_str().unwrap_or("").to_string();
        if o.collection.as_ref().is_some_and(|w| *w != name)
            || class["multiTenancyConfig"]["enabled"] == true
        {
            continue;
        }
        collections.push(compare_collection(
            ctx,
            &name,
            factor_of(class),
            o.sample_size,
            problems,
        )?);
    }
    let lag = if o.probe_lag {
        replication_lag(ctx, problems)
    } else {
        json!({"skipped": "writes are off (dry-run)"})
    };
    Ok(json!({"sample_size": o.sample_size, "collections": collections, "replication_lag": lag}))
}

/// A comparable fingerprint of one copy of an object.
fn fingerprint(obj: &Value) -> Value {
    json!({"properties": obj["properties"], "lastUpdateTimeUnix": obj["lastUpdateTimeUnix"]})
}

fn compare_collection(
    ctx: &Context,
    name: &str,
    factor: u64,
    sample: usize,
    problems: &mut Problems,
) -> HostResult<Value> {
    let specs = ctx.config.weaviate.node_specs();
    let c0 = client(ctx, &specs[0]);
    let objects = ctx.block_on(c0.list_objects(name, sample as u64, None))?;
    let ids: Vec<String> = objects
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    // Every (object, node) pair at once: the sample is small and reads are cheap.
    let reads = ctx.block_on(futures_util::future::join_all(ids.iter().flat_map(|id| {
        specs.iter().map(move |s| {
            let c = client(ctx, s);
            let (id, node) = (id.clone(), s.name.clone());
            async move {
                (
                    id.clone(),
                    node.clone(),
                    c.object(name, &id, Some(&node), None).await,
                )
            }
        })
    })));
    let mut copies: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (id, node, r) in reads {
        match r {
            Ok(Some(obj)) => {
                copies
                    .entry(id)
                    .or_default()
                    .insert(node, fingerprint(&obj));
            }
            Ok(None) => {
                copies.entry(id).or_default();
            }
            Err(e) => errors.push(format!("{node}: {}", e.message)),
        }
    }
    let mut missing = Vec::new();
    let mut differing = Vec::new();
    for (id, by_node) in &copies {
        if (by_node.len() as u64) < factor {
            let absent: Vec<&str> = specs
                .iter()
                .map(|s| s.name.as_str())
                .filter(|n| !by_node.contains_key(*n))
                .collect();
            missing.push(json!({"id": id, "copies": by_node.len(), "absent_on": absent}));
        }
        let mut versions: Vec<&Value> = by_node.values().collect();
        versions.dedup();
        if versions.len() > 1 {
            differing.push(json!({"id": id, "copies": by_node}));
        }
    }
    if !missing.is_empty() {
        problems.add(
            Severity::Degraded,
            "data",
            format!(
                "{name}: {} of {} sampled objects have fewer than {factor} copies",
                missing.len(),
                ids.len()
            ),
            "async replication repairs this over time; a QUORUM read of each object repairs it now",
        );
    }
    if !differing.is_empty() {
        problems.add(
            Severity::Degraded,
            "data",
            format!("{name}: {} of {} sampled objects differ between replicas", differing.len(), ids.len()),
            "a QUORUM or ALL read repairs divergent replicas; check the node logs for failed writes",
        );
    }
    if !errors.is_empty() {
        problems.add(
            Severity::Degraded,
            "data",
            format!(
                "{name}: {} replica reads failed, e.g. {}",
                errors.len(),
                errors[0]
            ),
            "check that every node is up (`elysiactl health -v`)",
        );
    }
    Ok(json!({
        "name": name, "factor": factor, "sampled": ids.len(),
        "missing": missing, "differing": differing, "read_errors": errors.len(),
    }))
}

/// Write one object at consistency ONE through the first node and time how
/// long until each other node holds it. The scratch collection is always removed.
pub(super) fn replication_lag(ctx: &Context, problems: &mut Problems) -> Value {
    let specs = ctx.config.weaviate.node_specs();
    let factor = expected_factor(ctx).min(specs.len() as u64);
    let name = format!("ElysiactlProbe{}", std::process::id());
    let c0 = client(ctx, &specs[0]);
    let def = json!({
        "class": name, "vectorizer": "none",
        "replicationConfig": {"factor": factor},
        "properties": [{"name": "probe", "dataType": ["text"]}],
    });
    let result = (|| -> HostResult<Value> {
        ctx.block_on(c0.create_class(&def))?;
        let id = "00000000-0000-4000-8000-00000000e1c7";
        let t0 = Instant::now();
        ctx.block_on(c0.insert_object(
            &json!({"class": name, "id": id, "properties": {"probe": "lag"}}),
            Consistency::One,
        ))?;
        let acked_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let mut per_node = serde_json::Map::new();
        for s in &specs {
            let c = client(ctx, s);
            let start = Instant::now();
            let lag = loop {
                match ctx.block_on(c.object(&name, id, Some(&s.name), None)) {
                    Ok(Some(_)) => break Some(t0.elapsed().as_secs_f64() * 1000.0),
                    _ if start.elapsed() > Duration::from_secs(10) => break None,
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            };
            per_node.insert(
                s.name.clone(),
                json!(lag.map(|l| (l * 10.0).round() / 10.0)),
            );
        }
        Ok(
            json!({"collection_factor": factor, "write_ack_ms": (acked_ms * 10.0).round() / 10.0, "visible_after_ms": per_node}),
        )
    })();
    let _ = ctx.block_on(c0.delete_class(&name));
    match result {
        Ok(v) => {
            let late: Vec<String> = v["visible_after_ms"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, ms)| ms.is_null())
                .map(|(n, _)| n.clone())
                .collect();
            // With factor < nodes a node may rightly never hold the probe.
            if !late.is_empty() && factor as usize == specs.len() {
                problems.add(
                    Severity::Degraded,
                    "data",
                    format!("a write was not visible on {} within 10 s", late.join(", ")),
                    "check those nodes' logs and `elysiactl health --cluster`",
                );
            }
            v
        }
        Err(e) => {
            problems.add(
                Severity::Degraded,
                "data",
                format!("the replication-lag probe failed: {}", e.message),
                &e.hint,
            );
            json!({"error": e.message})
        }
    }
}

/// What `health --data --fix` does.
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    pub collection: Option<String>,
    pub sample_size: usize,
    /// Turn async replication on for a collection with divergent replicas
    /// where it is off (the user agreed to it with a flag).
    pub enable_async_replication: bool,
    /// Only find and say what would be touched (dry-run).
    pub plan_only: bool,
}

/// The sampled objects that are missing or differ, per collection (with its factor).
fn divergent(ctx: &Context, o: &RepairOptions) -> HostResult<Vec<(String, u64, Vec<String>)>> {
    let report = check(
        ctx,
        &Options {
            data: true,
            probe_lag: false,
            collection: o.collection.clone(),
            sample_size: o.sample_size,
            ..Default::default()
        },
        &mut Problems::default(),
    )?;
    let mut out = Vec::new();
    for c in report["collections"].as_array().into_iter().flatten() {
        let mut ids: Vec<String> = ["missing", "differing"]
            .iter()
            .flat_map(|k| c[*k].as_array().into_iter().flatten())
            .filter_map(|x| x["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            out.push((
                c["name"].as_str().unwrap_or_default().to_string(),
                c["factor"].as_u64().unwrap_or(1),
                ids,
            ));
        }
    }
    Ok(out)
}

/// Whether every replica of `id` is there (at least `factor` copies) and alike.
fn consistent(ctx: &Context, name: &str, id: &str, factor: u64) -> bool {
    let specs = ctx.config.weaviate.node_specs();
    let copies: Vec<Value> = specs
        .iter()
        .filter_map(|s| {
            ctx.block_on(client(ctx, s).object(name, id, Some(&s.name), None))
                .ok()
                .flatten()
                .map(|obj| fingerprint(&obj))
        })
        .collect();
    copies.len() as u64 >= factor && copies.windows(2).all(|w| w[0] == w[1])
}

/// `health --data --fix`: find the sampled objects whose replicas are
/// missing or differ, read each at consistency ALL (Weaviate's read repair
/// writes the newest version to the replicas that lack it), optionally turn
/// async replication on for those collections, and read every replica again
/// to say what is fixed.
pub fn repair(ctx: &Context, o: &RepairOptions) -> HostResult<Value> {
    let specs = ctx.config.weaviate.node_specs();
    let mut collections = Vec::new();
    let (mut touched, mut fixed_total, mut remaining_total) = (0usize, 0usize, 0usize);
    for (name, factor, ids) in divergent(ctx, o)? {
        let c0 = client(ctx, &specs[0]);
        let class = ctx.block_on(c0.get_class(&name))?;
        let async_on = class["replicationConfig"]["asyncEnabled"] == true;
        let async_replication = match (async_on, o.enable_async_replication, o.plan_only) {
            (true, _, _) => "on",
            (false, true, true) => "would enable",
            (false, true, false) => {
                let mut def = class.clone();
                def["replicationConfig"]["asyncEnabled"] = json!(true);
                ctx.block_on(c0.update_class(&name, &def))?;
                // Weaviate 1.38 decides it per server (factor > 1 and no
                // ASYNC_REPLICATION_DISABLED) and ignores the field: say so
                // rather than claim it was turned on.
                let now = ctx.block_on(c0.get_class(&name))?;
                if now["replicationConfig"]["asyncEnabled"] == true {
                    "enabled"
                } else {
                    "off server-wide (ASYNC_REPLICATION_DISABLED in weaviate.env)"
                }
            }
            (false, false, _) => "off",
        };
        touched += ids.len();
        if o.plan_only {
            collections.push(json!({
                "name": name, "factor": factor, "would_read_at_all": ids,
                "async_replication": async_replication,
            }));
            continue;
        }
        let mut read_errors = Vec::new();
        for id in &ids {
            crate::base::cancel::check_interrupt()?;
            if let Err(e) = ctx.block_on(c0.object(&name, id, None, Some(Consistency::All))) {
                read_errors.push(json!({"id": id, "error": e.message}));
            }
        }
        let (fixed, remaining): (Vec<String>, Vec<String>) = ids
            .iter()
            .cloned()
            .partition(|id| consistent(ctx, &name, id, factor));
        fixed_total += fixed.len();
        remaining_total += remaining.len();
        collections.push(json!({
            "name": name, "factor": factor, "read_at_all": ids, "fixed": fixed,
            "remaining": remaining, "read_errors": read_errors,
            "async_replication": async_replication,
        }));
    }
    let mut out = json!({"collections": collections, "touched": touched});
    if o.plan_only {
        out["dry_run"] = json!(true);
    } else {
        out["fixed"] = json!(fixed_total);
        out["remaining"] = json!(remaining_total);
    }
    Ok(out)
}
