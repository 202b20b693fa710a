//! The dry-run overlay of collections: a dry run's creates, updates and
//! deletes are remembered in the plan (fact `collection.<Name>` = the
//! definition, or null when deleted), and the schema reads apply them on top
//! of what the real cluster says.

use super::any_node;
use crate::base::error::HostResult;
use crate::clients::weaviate::{self as wv, WeaviateClient};
use crate::host::Host;
use serde_json::{json, Map, Value};
use std::future::Future;

/// Plan fact listing the collections a dry run changed (the plan cannot be iterated).
const SIMULATED: &str = "collections.simulated";

fn fact_key(class: &str) -> String {
    format!("collection.{class}")
}

/// The simulated state of a collection in this dry run: Some(def), Some(null)
/// when deleted, None when the run did not touch it (or is not a dry run).
pub fn simulated(host: &Host, class: &str) -> Option<Value> {
    if !host.dry_run {
        return None;
    }
    host.plan.fact(&fact_key(class))
}

pub fn set_simulated(host: &Host, class: &str, def: Value) {
    let mut names: Vec<Value> = host
        .plan
        .fact(SIMULATED)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if !names.iter().any(|n| n == class) {
        names.push(json!(class));
        host.plan.set_fact(SIMULATED, Value::Array(names));
    }
    host.plan.set_fact(&fact_key(class), def);
}

/// Every collection this dry run changed, with its simulated definition (null = deleted).
pub(super) fn simulated_all(host: &Host) -> Vec<(String, Value)> {
    if !host.dry_run {
        return Vec::new();
    }
    host.plan
        .fact(SIMULATED)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|n| {
            (
                n.to_string(),
                host.plan.fact(&fact_key(n)).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Apply simulated creates, updates and deletes to a `/v1/schema` answer,
/// and list the classes by name: Weaviate's order changes from call to
/// call, and two runs of one report must print the same.
pub fn overlay_schema(schema: Value, sims: &[(String, Value)]) -> Value {
    let mut obj = match schema {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut classes = obj
        .get("classes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (name, def) in sims {
        let pos = classes
            .iter()
            .position(|c| c.get("class").and_then(Value::as_str) == Some(name.as_str()));
        match (pos, def.is_null()) {
            (Some(i), true) => {
                classes.remove(i);
            }
            (Some(i), false) => classes[i] = def.clone(),
            (None, false) => classes.push(def.clone()),
            (None, true) => {}
        }
    }
    classes.sort_by(|a, b| {
        a.get("class")
            .and_then(Value::as_str)
            .cmp(&b.get("class").and_then(Value::as_str))
    });
    obj.insert("classes".into(), Value::Array(classes));
    Value::Object(obj)
}

/// Whether a collection exists as far as a dry-run plan can tell: the
/// simulated state first, else the real cluster; None when nobody answers.
pub(super) fn exists_for_plan(host: &Host, class: &str) -> Option<bool> {
    if let Some(f) = simulated(host, class) {
        return Some(!f.is_null());
    }
    let c = class.to_string();
    any_node(host, move |cl| {
        let c = c.clone();
        async move { cl.class_exists(&c).await }
    })
    .ok()
}

/// A read about one collection, honouring the dry-run state: a simulated
/// delete makes it missing; a simulated create that the cluster does not know
/// yet reads as `empty`.
pub(super) fn collection_read<F, Fut>(
    host: &Host,
    name: &str,
    empty: Value,
    f: F,
) -> HostResult<Value>
where
    F: Fn(WeaviateClient, String) -> Fut,
    Fut: Future<Output = HostResult<Value>>,
{
    let class = wv::class_name(name)?;
    let sim = simulated(host, &class);
    if sim.as_ref().is_some_and(Value::is_null) {
        return Err(wv::no_such_collection(&class));
    }
    let real = any_node(host, |c| f(c, class.clone()));
    match (real, sim) {
        (Err(e), Some(_)) if wv::is_no_such_collection(&e) => Ok(empty),
        (r, _) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_applies_creates_updates_and_deletes() {
        let real = json!({"classes": [
            {"class": "Article", "replicationConfig": {"factor": 1}},
            {"class": "Old"}]});
        let sims = vec![
            ("Old".to_string(), Value::Null),
            (
                "Article".to_string(),
                json!({"class": "Article", "replicationConfig": {"factor": 3}}),
            ),
            ("New".to_string(), json!({"class": "New"})),
            ("Never".to_string(), Value::Null),
        ];
        let v = overlay_schema(real.clone(), &sims);
        assert_eq!(wv::class_names_of(&v), vec!["Article", "New"]);
        assert_eq!(v["classes"][0]["replicationConfig"]["factor"], 3);
        assert_eq!(overlay_schema(real.clone(), &[]), real);
        assert_eq!(
            wv::class_names_of(&overlay_schema(json!({"classes": null}), &sims)),
            vec!["Article", "New"]
        );
    }

    #[test]
    fn collections_are_listed_by_name_whatever_the_server_order() {
        let real = json!({"classes": [{"class": "Echo"}, {"class": "Alpha"}, {"class": "Delta"}]});
        assert_eq!(wv::class_names_of(&real), ["Alpha", "Delta", "Echo"]);
        let v = overlay_schema(real.clone(), &[]);
        assert_eq!(v["classes"][0]["class"], "Alpha", "{v}");
        let sims = vec![("Bravo".to_string(), json!({"class": "Bravo"}))];
        let v = overlay_schema(real, &sims);
        let order: Vec<&Value> = v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["class"])
            .collect();
        assert_eq!(order, ["Alpha", "Bravo", "Delta", "Echo"]);
    }
}
