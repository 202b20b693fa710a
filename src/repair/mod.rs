//! Changing a collection's replication factor without losing data.
//!
//! With data: Weaviate's own replica movement copies every shard to the
//! nodes that lack it (`/v1/replication/scale`), the copies are polled until
//! READY, and only then is the new factor written with a full GET-edit-PUT of
//! the class (a PUT without `replicationConfig` would reset it). Empty: the
//! schema is backed up to a file, and the class is recreated with the factor.

use crate::base::context::Context;
use crate::base::error::{Category, HostError, HostResult};
use crate::base::paths;
use crate::clients::weaviate::WeaviateClient;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Whether the server can copy replicas at all, read from a failed call.
fn explain_unsupported(e: HostError) -> HostError {
    let m = e.message.clone();
    if m.contains("501") || m.contains("404") && m.contains("replication") {
        return HostError::weaviate(format!(
            "this Weaviate cannot copy replicas, so the factor of a collection with data cannot be raised in place ({m})"
        ))
        .with_hint(
            "run the nodes with REPLICA_MOVEMENT_ENABLED=true on Weaviate 1.32 or newer (elysiactl starts them so); otherwise export the data, recreate the collection with the right factor and import it again",
        );
    }
    e
}

/// The leader's plan to give every shard `factor` replicas, and whether it
/// is safe: it must only add replicas, each copied from an existing one.
pub fn plan(
    c: &WeaviateClient,
    ctx: &Context,
    class: &str,
    factor: u64,
) -> HostResult<(Value, Vec<String>)> {
    let plan = ctx
        .block_on(c.scale_plan(class, factor))
        .map_err(explain_unsupported)?;
    let mut unsafe_reasons = Vec::new();
    for (shard, action) in plan["shardScaleActions"].as_object().into_iter().flatten() {
        if action["removeNodes"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            unsafe_reasons.push(format!(
                "shard {shard} would lose replicas {}",
                action["removeNodes"]
            ));
        }
        for (node, source) in action["addNodes"].as_object().into_iter().flatten() {
            if source.as_str().is_none_or(str::is_empty) {
                unsafe_reasons.push(format!(
                    "shard {shard} would get an empty replica on {node} (no source)"
                ));
            }
        }
    }
    Ok((plan, unsafe_reasons))
}

/// A scale only raises a factor.
pub fn check_raise(class: &str, from: u64, factor: u64) -> HostResult<()> {
    if factor <= from {
        return Err(HostError::validation(format!(
            "{class} has factor {from}; scaling up to {factor} would not raise it"
        ))
        .with_hint("use update_collection to lower a factor"));
    }
    Ok(())
}

/// A plan that would lose a replica or copy from nowhere is refused.
pub fn check_plan_is_safe(class: &str, unsafe_reasons: &[String]) -> HostResult<()> {
    if !unsafe_reasons.is_empty() {
        return Err(HostError::weaviate(format!(
            "refusing the scale plan for {class}: {}",
            unsafe_reasons.join("; ")
        ))
        .with_hint(
            "check `elysiactl health --cluster`: every shard needs a live replica to copy from",
        ));
    }
    Ok(())
}

/// Only an empty collection is ever recreated.
pub fn check_empty(class: &str, objects: u64) -> HostResult<()> {
    if objects > 0 {
        return Err(HostError::validation(format!(
            "{class} holds {objects} object(s): a collection with data is never recreated"
        ))
        .with_hint("raise its factor with replication.scale instead, which keeps the data"));
    }
    Ok(())
}

/// Raise a collection with data to `factor` replicas per shard, then write
/// the factor. On Ctrl-C or timeout the copy operations are cancelled.
pub fn scale_up(
    ctx: &Context,
    c: &WeaviateClient,
    class: &str,
    factor: u64,
    timeout: Duration,
) -> HostResult<Value> {
    let t0 = Instant::now();
    let def = ctx.block_on(c.get_class(class))?;
    let from = def["replicationConfig"]["factor"].as_u64().unwrap_or(1);
    check_raise(class, from, factor)?;
    let (plan, unsafe_reasons) = plan(c, ctx, class, factor)?;
    check_plan_is_safe(class, &unsafe_reasons)?;
    let mut op_ids: Vec<String> = Vec::new();
    if plan["shardScaleActions"]
        .as_object()
        .is_some_and(|a| !a.is_empty())
    {
        ctx.out.status(&format!(
            "{class}: copying shards to reach {factor} replicas"
        ));
        let applied = ctx
            .block_on(c.apply_scale_plan(&plan))
            .map_err(explain_unsupported)?;
        op_ids = applied["operationIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        wait_for_ops(ctx, c, class, &op_ids, timeout, "the factor is unchanged")?;
    }
    // Every shard must now have the replicas, or the PUT is refused.
    let shards = ctx.block_on(c.shard_replicas(class))?;
    if let Some((s, r)) = shards.iter().find(|(_, r)| (r.len() as u64) < factor) {
        return Err(HostError::weaviate(format!(
            "{class}: shard {s} has {} replicas after copying, not {factor}",
            r.len()
        ))
        .with_hint("run the repair again; `elysiactl health --cluster` shows the placement"));
    }
    let mut new_def = ctx.block_on(c.get_class(class))?;
    new_def["replicationConfig"]["factor"] = json!(factor);
    ctx.block_on(c.update_class(class, &new_def))?;
    Ok(json!({
        "collection": class, "method": "scale", "from": from, "to": factor,
        "operations": op_ids.len(), "seconds": round1(t0.elapsed().as_secs_f64()),
    }))
}

/// Wait until every replica operation is READY, showing progress; on
/// Ctrl-C, a cancelled operation or the timeout, cancel them all and say so,
/// with `unchanged`: what the caller leaves as it was.
pub fn wait_for_ops(
    ctx: &Context,
    c: &WeaviateClient,
    class: &str,
    ids: &[String],
    timeout: Duration,
    unchanged: &str,
) -> HostResult<()> {
    let t0 = Instant::now();
    let bar = ctx.out.progress_start(class, Some(ids.len() as u64));
    let cancel_all = |why: HostError| -> HostError {
        for id in ids {
            let _ = ctx.block_on(c.cancel_replication_op(id));
        }
        let mut e = why;
        e.message = format!(
            "{}; the {} replica operation(s) were cancelled and {unchanged}",
            e.message,
            ids.len()
        );
        e
    };
    let result = loop {
        if let Err(e) = crate::base::cancel::check_interrupt() {
            break Err(cancel_all(e));
        }
        let states: Vec<HostResult<Value>> = ctx.block_on(futures_util::future::join_all(
            ids.iter().map(|id| c.replication_op(id)),
        ));
        let mut ready = 0;
        let mut failed = None;
        for (id, s) in ids.iter().zip(states) {
            match s {
                Ok(v) => match v["status"]["state"].as_str() {
                    Some("READY") => ready += 1,
                    Some("CANCELLED") => {
                        failed = Some(format!(
                            "operation {id} was cancelled: {}",
                            v["status"]["errors"]
                        ))
                    }
                    _ => {}
                },
                Err(e) if e.category == Category::Network || e.category == Category::Timeout => {}
                Err(e) => failed = Some(e.message),
            }
        }
        ctx.out
            .progress_set(bar, Some(ready as u64), Some("copying"));
        if let Some(f) = failed {
            break Err(cancel_all(HostError::weaviate(format!("{class}: {f}"))));
        }
        if ready == ids.len() {
            break Ok(());
        }
        if t0.elapsed() > timeout {
            break Err(cancel_all(HostError::timeout(format!(
                "{class}: the replica operations were not done after {}s ({ready}/{} ready)",
                timeout.as_secs(),
                ids.len()
            ))));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    ctx.out.progress_done(bar, None);
    result
}

/// Where schema backups go: `$XDG_STATE_HOME/elysiactl/backups/`.
pub fn backup_dir() -> PathBuf {
    paths::state_dir().join("backups")
}

/// Write a class definition to a timestamped file and return its path.
/// Where a backup of `class`'s schema made now goes (a dry run names it too).
pub fn backup_path(class: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now())
        .to_string()
        .replace([':', '.'], "-");
    backup_dir().join(format!("schema-{class}-{stamp}.json"))
}

pub fn backup_schema(class: &str, def: &Value) -> HostResult<PathBuf> {
    let dir = backup_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    let path = backup_path(class);
    let text = serde_json::to_string_pretty(def).unwrap_or_default();
    std::fs::write(&path, text)
        .map_err(|e| HostError::io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

/// Server-set fields a create must not carry.
fn creatable(def: &Value) -> Value {
    let mut d = def.clone();
    if let Some(s) = d.get_mut("shardingConfig").and_then(Value::as_object_mut) {
        for k in ["actualCount", "actualVirtualCount"] {
            s.remove(k);
        }
    }
    d
}

/// Recreate an EMPTY collection with `factor`, after backing its schema up.
/// Refuses if the collection holds any object when checked.
pub fn recreate_empty(
    ctx: &Context,
    c: &WeaviateClient,
    class: &str,
    factor: u64,
) -> HostResult<Value> {
    let def = ctx.block_on(c.get_class(class))?;
    let from = def["replicationConfig"]["factor"].as_u64().unwrap_or(1);
    let count = ctx.block_on(c.count(class))?;
    let listed = ctx.block_on(c.list_objects(class, 1, None))?;
    check_empty(class, count.max(listed.len() as u64))?;
    let backup = backup_schema(class, &def)?;
    let mut new_def = creatable(&def);
    new_def["replicationConfig"]["factor"] = json!(factor);
    ctx.block_on(c.delete_class(class))?;
    if let Err(e) = ctx.block_on(c.create_class(&new_def)) {
        // Put the original back: the backup is the last resort, not the plan.
        let restored = ctx.block_on(c.create_class(&creatable(&def))).is_ok();
        return Err(HostError::weaviate(format!(
            "{class} could not be recreated with factor {factor}: {}; the original definition was {}",
            e.message,
            if restored { "restored" } else { "NOT restored" }
        ))
        .with_hint(format!("the schema backup is {}", backup.display())));
    }
    Ok(json!({
        "collection": class, "method": "recreate", "from": from, "to": factor,
        "backup": backup.display().to_string(),
    }))
}
