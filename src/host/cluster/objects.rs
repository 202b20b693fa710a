//! A collection's objects for scripts: pages of them in ID order, and
//! batches written (a migration's data, a copy into a new collection).

use super::simulated::{collection_read, exists_for_plan};
use super::{any_node_write, simulated};
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::{self as wv, Consistency};
use crate::host::{opt, read, write, Args, Host, HostFn, Ty};
use serde_json::{json, Map, Value};

fn objects(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    let limit = o.int_in("limit", 100, 1, 10_000)? as u64;
    let after = o.str("after")?;
    collection_read(host, &a.str(0)?, json!([]), |c, class| {
        let after = after.clone();
        async move {
            c.list_objects(&class, limit, after.as_deref())
                .await
                .map(Value::Array)
        }
    })
}

/// The objects to write: an item with a `properties` map is an object
/// (`id` and `vector` kept), any other map is the properties themselves.
fn batch(class: &str, items: &Value) -> HostResult<Vec<Value>> {
    let list = items.as_array().cloned().unwrap_or_default();
    list.into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(m) = item else {
                return Err(HostError::validation(format!(
                    "cluster.insert_objects(): item {} is not a map",
                    i + 1
                ))
                .with_hint("give maps of properties, or objects #{id, properties, vector}"));
            };
            let mut object = match m.get("properties") {
                Some(Value::Object(_)) => m,
                _ => {
                    let mut o = Map::new();
                    o.insert("properties".into(), Value::Object(m));
                    o
                }
            };
            object.insert("class".into(), json!(class));
            Ok(Value::Object(object))
        })
        .collect()
}

fn insert_objects(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let all = batch(&class, &a.value(1))?;
    let mut inserted = 0;
    for chunk in all.chunks(100) {
        crate::base::cancel::check_interrupt()?;
        let errors = any_node_write(host, |c| async move {
            c.batch_objects(chunk, Consistency::Quorum).await
        })?;
        let failed: Vec<String> = errors.into_iter().flatten().collect();
        if let Some(first) = failed.first() {
            return Err(HostError::validation(format!(
                "cluster.insert_objects(): {} of {} objects into {class} failed after {inserted} were written, e.g. {first}",
                failed.len(),
                chunk.len()
            ))
            .with_hint("check the properties against the collection's definition (cluster.collection(name))"));
        }
        inserted += chunk.len();
    }
    Ok(json!({"inserted": inserted}))
}

fn simulate_insert(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let all = batch(&class, &a.value(1))?;
    if exists_for_plan(host, &class) == Some(false) {
        return Err(wv::no_such_collection(&class));
    }
    Ok(json!({"inserted": all.len()}))
}

/// The consistency level argument (ONE, QUORUM or ALL).
fn level(a: &Args, i: usize) -> HostResult<Consistency> {
    let name = a.str(i)?;
    Consistency::parse(&name).ok_or_else(|| {
        HostError::validation(format!("unknown consistency level {name:?}"))
            .with_hint("use ONE, QUORUM or ALL")
    })
}

/// Object IDs: each item an ID, an object with an `id` (so the list given
/// to cluster.insert_at can be given again), or a list of them (so a
/// scenario can join two such lists).
fn ids_of(what: &str, v: &Value) -> HostResult<Vec<String>> {
    let list: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|item| match item {
            Value::Array(inner) => inner.clone(),
            other => vec![other.clone()],
        })
        .collect();
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .or_else(|| item["id"].as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    HostError::validation(format!(
                        "{what}(): item {} is neither an ID nor an object with an id",
                        i + 1
                    ))
                    .with_hint("give IDs (\"6f1c…\"), the objects given to cluster.insert_at, or lists of them")
                })
        })
        .collect()
}

/// At most this many error messages kept in a result.
const KEPT_ERRORS: usize = 3;

fn keep_error(errors: &mut Vec<String>, e: String) {
    if errors.len() < KEPT_ERRORS && !errors.contains(&e) {
        errors.push(e);
    }
}

/// The node asked (opts.node), or any node: a write goes elsewhere only
/// when the first node was not reached.
fn at_node<T, F, Fut>(
    host: &Host,
    node: &Option<crate::base::config::NodeSpec>,
    write: bool,
    f: F,
) -> HostResult<T>
where
    F: Fn(wv::WeaviateClient) -> Fut,
    Fut: std::future::Future<Output = HostResult<T>>,
{
    match node {
        Some(spec) => {
            crate::base::cancel::check_interrupt()?;
            host.block_on(f(super::client(host, spec)))
        }
        None if write => any_node_write(host, f),
        None => super::any_node(host, f),
    }
}

/// Write objects at a consistency level and say which were acknowledged;
/// a refusal is a result, not an error, so a scenario can say which levels
/// a degraded cluster takes.
fn insert_at(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let all = batch(&class, &a.value(1))?;
    let consistency = level(a, 2)?;
    let node = super::node_opt(host, a.opts(3)?.get("node"))?;
    let (mut ids, mut refused, mut errors) = (Vec::new(), 0, Vec::new());
    for chunk in all.chunks(100) {
        match at_node(host, &node, true, |c| async move {
            c.batch_objects(chunk, consistency).await
        }) {
            Ok(results) => {
                for (o, r) in chunk.iter().zip(results) {
                    match r {
                        None => ids.push(o["id"].as_str().unwrap_or_default().to_string()),
                        Some(e) => {
                            refused += 1;
                            keep_error(&mut errors, e);
                        }
                    }
                }
            }
            Err(e) => {
                refused += chunk.len();
                keep_error(&mut errors, e.message);
            }
        }
    }
    Ok(
        json!({"consistency": consistency.as_str(), "sent": all.len(),
              "acknowledged": ids.len(), "refused": refused, "ids": ids, "errors": errors}),
    )
}

fn simulate_insert_at(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let all = batch(&class, &a.value(1))?;
    let consistency = level(a, 2)?;
    super::node_opt(host, a.opts(3)?.get("node"))?;
    if exists_for_plan(host, &class) == Some(false) {
        return Err(wv::no_such_collection(&class));
    }
    let ids: Vec<Value> = all.iter().map(|o| o["id"].clone()).collect();
    Ok(
        json!({"consistency": consistency.as_str(), "sent": all.len(),
              "acknowledged": all.len(), "refused": 0, "ids": ids, "errors": [], "simulated": true}),
    )
}

/// Read objects by ID at a consistency level: which are there, which are
/// not, and which could not be read (the level not reached).
fn get_at(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let ids = ids_of("cluster.get_at", &a.value(1))?;
    let consistency = level(a, 2)?;
    let node = super::node_opt(host, a.opts(3)?.get("node"))?;
    let (mut found, mut missing, mut failed, mut errors) = (Vec::new(), Vec::new(), 0, Vec::new());
    for id in &ids {
        let r = at_node(host, &node, false, |c| {
            let (class, id) = (class.clone(), id.clone());
            async move { c.object(&class, &id, None, Some(consistency)).await }
        });
        match r {
            Ok(Some(_)) => found.push(id.clone()),
            Ok(None) => missing.push(id.clone()),
            Err(e) => {
                failed += 1;
                keep_error(&mut errors, e.message);
            }
        }
    }
    Ok(
        json!({"consistency": consistency.as_str(), "asked": ids.len(),
              "found": found.len(), "missing": missing.len(), "failed": failed,
              "found_ids": found, "missing_ids": missing, "errors": errors}),
    )
}

/// Delete objects by ID at a consistency level: how many were deleted,
/// were not there, or were refused (the level not reached).
fn delete_at(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let ids = ids_of("cluster.delete_at", &a.value(1))?;
    let consistency = level(a, 2)?;
    let node = super::node_opt(host, a.opts(3)?.get("node"))?;
    let (mut deleted, mut absent, mut refused, mut errors) = (0, 0, 0, Vec::new());
    for id in &ids {
        let r = at_node(host, &node, true, |c| {
            let (class, id) = (class.clone(), id.clone());
            async move { c.delete_object_at(&class, &id, consistency).await }
        });
        match r {
            Ok(true) => deleted += 1,
            Ok(false) => absent += 1,
            Err(e) => {
                refused += 1;
                keep_error(&mut errors, e.message);
            }
        }
    }
    Ok(
        json!({"consistency": consistency.as_str(), "sent": ids.len(),
              "deleted": deleted, "absent": absent, "refused": refused, "errors": errors}),
    )
}

fn simulate_delete_at(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    if exists_for_plan(host, &class) == Some(false) {
        return Err(wv::no_such_collection(&class));
    }
    let ids = ids_of("cluster.delete_at", &a.value(1))?;
    let consistency = level(a, 2)?;
    super::node_opt(host, a.opts(3)?.get("node"))?;
    Ok(
        json!({"consistency": consistency.as_str(), "sent": ids.len(),
              "deleted": ids.len(), "absent": 0, "refused": 0, "errors": [], "simulated": true}),
    )
}

/// Copy every object of `from` into `to`, page by page with vectors, each
/// through the script's `transform` when one is given: it gets the object
/// ({id, properties, vector(s)}) and returns the object to write, or null to
/// leave it out. IDs are kept, so a second copy replaces rather than doubles.
fn copy_objects(host: &Host, a: &Args) -> HostResult<Value> {
    let from = wv::class_name(&a.str(0)?)?;
    let to = wv::class_name(&a.str(1)?)?;
    if from == to {
        return Err(HostError::validation(format!(
            "cluster.copy_objects(): {from} is both source and target"
        ))
        .with_hint("copy into a new collection"));
    }
    let transform = a.has_function(2);
    let (mut copied, mut skipped) = (0u64, 0u64);
    let mut after: Option<String> = None;
    loop {
        crate::base::cancel::check_interrupt()?;
        let page = super::any_node(host, |c| {
            let (from, after) = (from.clone(), after.clone());
            async move {
                c.list_objects_with_vectors(&from, 100, after.as_deref())
                    .await
            }
        })?;
        let Some(last) = page.last() else { break };
        after = last["id"].as_str().map(str::to_string);
        let full = page.len() == 100;
        let mut out = Vec::with_capacity(page.len());
        for o in page {
            let mut object = serde_json::Map::new();
            for k in ["id", "properties", "vector", "vectors", "tenant"] {
                if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
                    object.insert(k.into(), v.clone());
                }
            }
            let object = Value::Object(object);
            let object = if transform {
                a.call_function(2, object)?.unwrap_or(Value::Null)
            } else {
                object
            };
            match object {
                Value::Null => skipped += 1,
                Value::Object(mut m) => {
                    m.insert("class".into(), json!(to));
                    out.push(Value::Object(m));
                }
                other => {
                    return Err(HostError::validation(format!(
                        "cluster.copy_objects(): the transform returned {}, not an object or null",
                        crate::base::error::type_name(&other)
                    ))
                    .with_hint(
                        "return the object (a map with properties), or null to leave it out",
                    ))
                }
            }
        }
        let errors = any_node_write(host, |c| {
            let out = out.clone();
            async move { c.batch_objects(&out, Consistency::Quorum).await }
        })?;
        let failed: Vec<String> = errors.into_iter().flatten().collect();
        if let Some(first) = failed.first() {
            return Err(HostError::validation(format!(
                "cluster.copy_objects(): {} objects were refused by {to} after {copied} were copied, e.g. {first}",
                failed.len()
            ))
            .with_hint("check what the transform returns against the new collection's properties"));
        }
        copied += out.len() as u64;
        if !full {
            break;
        }
    }
    Ok(json!({"copied": copied, "skipped": skipped}))
}

fn simulate_copy(host: &Host, a: &Args) -> HostResult<Value> {
    let from = wv::class_name(&a.str(0)?)?;
    let to = wv::class_name(&a.str(1)?)?;
    for class in [&from, &to] {
        if exists_for_plan(host, class) == Some(false) {
            return Err(wv::no_such_collection(class));
        }
    }
    let n = collection_read(host, &from, json!(0), |c, class| async move {
        c.count(&class).await.map(|n| json!(n))
    })?;
    Ok(json!({"copied": n, "skipped": 0}))
}

fn add_property(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let property = a.value(1);
    any_node_write(host, |c| {
        let (class, property) = (class.clone(), property.clone());
        async move { c.add_property(&class, &property).await }
    })
}

fn simulate_add_property(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let property = a.value(1);
    let def = match simulated(host, &class) {
        Some(Value::Null) => return Err(wv::no_such_collection(&class)),
        Some(def) => def,
        None => super::any_node(host, |c| {
            let class = class.clone();
            async move { c.get_class(&class).await }
        })?,
    };
    let mut def = def;
    let name = property["name"].as_str().unwrap_or_default();
    let props = def["properties"].as_array().cloned().unwrap_or_default();
    if props.iter().any(|p| p["name"].as_str() == Some(name)) {
        return Err(HostError::validation(format!(
            "{class} has a property {name} already, so adding it would fail"
        ))
        .with_hint("pick another name; Weaviate cannot change a property's type in place"));
    }
    let mut props = props;
    props.push(property.clone());
    def["properties"] = Value::Array(props);
    super::set_simulated(host, &class, def);
    Ok(property)
}

const LEVELS: [&str; 3] = ["ONE", "QUORUM", "ALL"];

/// IDs, objects with an id, or lists of them.
fn ids_ty() -> Ty {
    let one = Ty::Either(vec![Ty::Str, Ty::Map]);
    Ty::array(Ty::Either(vec![one.clone(), Ty::array(one)]))
}

pub(super) fn functions() -> Vec<HostFn> {
    vec![
        read("cluster", "objects", objects)
            .param("name", Ty::Str)
            .opts(vec![opt("limit", Ty::Int), opt("after", Ty::Str)])
            .returns(Ty::array(Ty::Map))
            .doc("A page of a collection's objects in ID order, without vectors: [{id, class, properties, …}]. opts: limit (default 100, at most 10000), after = the last ID of the previous page."),
        write("cluster", "insert_objects", insert_objects, simulate_insert)
            .param("name", Ty::Str)
            .param("objects", Ty::array(Ty::Map))
            .returns(Ty::record(&["inserted"]))
            .doc("Write objects into a collection in batches of 100 (an object with the same id is replaced). Each item is a map of properties, or an object #{id, properties, vector}. Fails naming the first refused object."),
        write("cluster", "insert_at", insert_at, simulate_insert_at)
            .param("name", Ty::Str)
            .param("objects", Ty::array(Ty::Map))
            .param("consistency", Ty::one_of(LEVELS))
            .opts(vec![opt("node", Ty::Node)])
            .returns(Ty::record(&["consistency", "acknowledged", "refused", "ids"]))
            .doc("Write objects (as cluster.insert_objects takes them; give each an id to find it again) in one batch at a consistency level, through opts.node or any node, and say which the cluster acknowledged. A refusal (the level not reached) is a result, not an error, so a chaos scenario can require it: {consistency, sent, acknowledged, refused, ids (acknowledged), errors (the first few)}. Weaviate counts the level against the replicas its membership lists: a node that has left or been declared dead is not counted, so ALL with a stopped node is acknowledged by the rest."),
        read("cluster", "get_at", get_at)
            .param("name", Ty::Str)
            .param("ids", ids_ty())
            .param("consistency", Ty::one_of(LEVELS))
            .opts(vec![opt("node", Ty::Node)])
            .returns(Ty::record(&["consistency", "found", "missing", "failed"]))
            .doc("Read objects by ID (IDs, objects with an id, or lists of them) at a consistency level, through opts.node or any node: {consistency, asked, found, missing, failed (not read: the level not reached), found_ids, missing_ids, errors}. At ALL every replica in the membership answers, and Weaviate repairs one that differs."),
        write("cluster", "delete_at", delete_at, simulate_delete_at)
            .param("name", Ty::Str)
            .param("ids", ids_ty())
            .param("consistency", Ty::one_of(LEVELS))
            .opts(vec![opt("node", Ty::Node)])
            .returns(Ty::record(&["consistency", "deleted", "absent", "refused"]))
            .doc("Delete objects by ID (IDs, objects with an id, or lists of them) at a consistency level, through opts.node or any node: {consistency, sent, deleted, absent (not there), refused (the level not reached), errors}. A refusal is a result, not an error."),
        write("cluster", "copy_objects", copy_objects, simulate_copy)
            .param("from", Ty::Str)
            .param("to", Ty::Str)
            .optional("transform", Ty::Function)
            .returns(Ty::record(&["copied", "skipped"]))
            .doc("Copy every object of collection `from` into the existing collection `to` (IDs and vectors kept, 100 per batch), each through transform(object) when given: it returns the object to write (change its properties, e.g. a type) or null to leave it out. Returns {copied, skipped}. For a change Weaviate cannot make in place: see stdlib/migrate."),
        write("cluster", "add_property", add_property, simulate_add_property)
            .param("name", Ty::Str)
            .param("property", Ty::record(&["name", "dataType"]))
            .returns(Ty::record(&["name"]))
            .doc("Add a property to a collection (POST /v1/schema/{name}/properties), e.g. #{name: \"year\", dataType: [\"int\"]}. Weaviate cannot remove or retype a property afterwards: a change of type goes through a new collection and an alias (docs/migrations.md)."),
    ]
}
