//! What a chaos experiment must not lose, recorded before it runs and
//! compared afterwards (`chaos validate`): each collection's schema (its
//! properties and replication factor), its exact object count, and a
//! content fingerprint of a sample (the first SAMPLE objects in ID order:
//! IDs and properties). Multi-tenant collections keep their schema only.

use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::json::ObjectsFingerprint;
use crate::clients::weaviate::Cluster;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Objects per collection in the fingerprinted sample.
pub const SAMPLE: u64 = 200;

pub fn file() -> PathBuf {
    super::dir().join("snapshot.json")
}

fn cluster(ctx: &Context) -> Cluster {
    Cluster::in_context(ctx, &ctx.config.weaviate.node_specs())
}

/// The snapshot of the data as it is now.
pub fn take(ctx: &Context) -> HostResult<Value> {
    let cluster = cluster(ctx);
    let schema = ctx.block_on(cluster.any_node(|c| async move { c.schema().await }))?;
    let mut collections = Map::new();
    for class in schema["classes"].as_array().into_iter().flatten() {
        let Some(name) = class["class"].as_str() else {
            continue;
        };
        let mut properties: Vec<String> = class["properties"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{}: {}", p["name"].as_str().unwrap_or(""), p["dataType"]))
            .collect();
        properties.sort();
        let mut entry = json!({
            "factor": class["replicationConfig"]["factor"].as_u64().unwrap_or(1),
            "properties": properties,
        });
        if class["multiTenancyConfig"]["enabled"] != true {
            let n = name.to_string();
            let (count, sample) = ctx.block_on(cluster.any_node(|c| {
                let n = n.clone();
                async move {
                    let count = c.count(&n).await?;
                    let sample = c.list_objects(&n, SAMPLE, None).await?;
                    Ok((count, sample))
                }
            }))?;
            let mut fingerprint = ObjectsFingerprint::default();
            sample.iter().for_each(|o| fingerprint.add(o));
            entry["count"] = json!(count);
            entry["sampled"] = json!(sample.len());
            entry["fingerprint"] = json!(fingerprint.finish());
        }
        collections.insert(name.to_string(), entry);
    }
    Ok(json!({
        "taken_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "collections": collections,
    }))
}

pub fn save(snapshot: &Value) -> HostResult<()> {
    let path = file();
    std::fs::create_dir_all(super::dir())
        .and_then(|_| {
            let tmp = path.with_extension("json.tmp");
            std::fs::write(
                &tmp,
                serde_json::to_string_pretty(snapshot).unwrap_or_default(),
            )?;
            std::fs::rename(&tmp, &path)
        })
        .map_err(|e| HostError::fs(format!("cannot write {}: {e}", path.display())))
}

pub fn load() -> HostResult<Option<Value>> {
    let path = file();
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            HostError::validation(format!("{} is not a snapshot: {e}", path.display()))
                .with_hint("take a new one with `elysiactl chaos snapshot`")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HostError::fs(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// What changed between two snapshots: one line a difference.
pub fn differences(before: &Value, now: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let empty = Map::new();
    let b = before["collections"].as_object().unwrap_or(&empty);
    let n = now["collections"].as_object().unwrap_or(&empty);
    for (name, was) in b {
        let Some(is) = n.get(name) else {
            out.push(json!({"collection": name, "what": "collection", "before": "present", "now": "missing"}));
            continue;
        };
        for key in ["factor", "properties", "count", "fingerprint"] {
            if was.get(key) != is.get(key) {
                out.push(
                    json!({"collection": name, "what": key, "before": was[key], "now": is[key]}),
                );
            }
        }
    }
    for name in n.keys().filter(|k| !b.contains_key(*k)) {
        out.push(
            json!({"collection": name, "what": "collection", "before": "absent", "now": "present"}),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_collection_and_what_changed() {
        let before = json!({"collections": {
            "A": {"factor": 3, "properties": ["t: [\"text\"]"], "count": 10, "fingerprint": "x"},
            "B": {"factor": 1, "properties": [], "count": 1, "fingerprint": "y"},
        }});
        let now = json!({"collections": {
            "A": {"factor": 3, "properties": ["t: [\"text\"]"], "count": 9, "fingerprint": "z"},
            "C": {"factor": 1, "properties": [], "count": 0, "fingerprint": "w"},
        }});
        let d = differences(&before, &now);
        let what: Vec<String> = d
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x["collection"].as_str().unwrap(),
                    x["what"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            what,
            ["A count", "A fingerprint", "B collection", "C collection"]
        );
        assert!(differences(&before, &before).is_empty());
    }
}
