//! The schema: the collections and their definitions, read with this dry
//! run's simulated changes applied, and created, replaced and deleted.

use super::simulated::{exists_for_plan, overlay_schema, set_simulated, simulated_all};
use super::{any_node, any_node_write, simulated};
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate as wv;
use crate::host::{read, write, Args, Host, HostFn, Ty};
use serde_json::{json, Value};

/// The schema, with this dry run's simulated changes applied.
pub fn schema_now(host: &Host) -> HostResult<Value> {
    let real = any_node(host, |c| async move { c.schema().await })?;
    Ok(overlay_schema(real, &simulated_all(host)))
}

fn schema(host: &Host, _: &Args) -> HostResult<Value> {
    schema_now(host)
}

fn collections(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(wv::class_names_of(&schema_now(host)?)))
}

fn collection(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    match simulated(host, &class) {
        Some(Value::Null) => Err(wv::no_such_collection(&class)),
        Some(def) => Ok(def),
        None => any_node(host, |c| {
            let class = class.clone();
            async move { c.get_class(&class).await }
        }),
    }
}

// ---- writes -----------------------------------------------------------------

/// A collection definition: a map with `class`, which is made canonical.
fn class_def(function: &str, v: &Value) -> HostResult<(String, Value)> {
    let Value::Object(m) = v else {
        return Err(HostError::validation(format!(
            "cluster.{function}(): the definition must be a map, got {}",
            crate::base::error::type_name(v)
        ))
        .with_hint("e.g. #{class: \"Article\", vectorizer: \"none\", properties: [#{name: \"title\", dataType: [\"text\"]}]}"));
    };
    let name = m.get("class").and_then(Value::as_str).ok_or_else(|| {
        HostError::validation(format!(
            "cluster.{function}(): the definition has no `class` (the collection name)"
        ))
        .with_hint("add class: \"Name\" to the map")
    })?;
    let class = wv::class_name(name)?;
    let mut def = m.clone();
    def.insert("class".into(), json!(class));
    Ok((class, Value::Object(def)))
}

/// The checks `update_collection` makes before sending a full PUT.
fn update_def(a: &Args) -> HostResult<(String, Value)> {
    let class = wv::class_name(&a.str(0)?)?;
    let mut given = a.value(1);
    if let Value::Object(m) = &mut given {
        m.entry("class").or_insert_with(|| json!(class));
    }
    let (def_class, def) = class_def("update_collection", &given)?;
    if def_class != class {
        return Err(HostError::validation(format!(
            "cluster.update_collection(): the definition names collection {def_class}, not {class}"
        ))
        .with_hint("a collection cannot be renamed; create a new one and copy the data"));
    }
    if def.get("replicationConfig").is_none() {
        return Err(HostError::validation(format!(
            "cluster.update_collection(): the definition of {class} has no replicationConfig; the update replaces the whole definition and would reset the replication factor to REPLICATION_MINIMUM_FACTOR"
        ))
        .with_hint(format!(
            "start from the full definition: let def = cluster.collection(\"{class}\"); change it; cluster.update_collection(\"{class}\", def)"
        )));
    }
    Ok((class, def))
}

fn create_collection(host: &Host, a: &Args) -> HostResult<Value> {
    let (_, def) = class_def("create_collection", &a.value(0))?;
    any_node_write(host, |c| {
        let def = def.clone();
        async move { c.create_class(&def).await }
    })
}

fn simulate_create(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, def) = class_def("create_collection", &a.value(0))?;
    if exists_for_plan(host, &class) == Some(true) {
        return Err(HostError::validation(format!(
            "collection {class} already exists, so creating it would fail"
        ))
        .with_hint(
            "use it as it is, pick another name, or delete it first (cluster.delete_collection)",
        ));
    }
    set_simulated(host, &class, def.clone());
    Ok(def)
}

fn update_collection(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, def) = update_def(a)?;
    any_node_write(host, |c| {
        let (class, def) = (class.clone(), def.clone());
        async move { c.update_class(&class, &def).await }
    })
}

fn simulate_update(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, def) = update_def(a)?;
    if exists_for_plan(host, &class) == Some(false) {
        return Err(wv::no_such_collection(&class));
    }
    set_simulated(host, &class, def.clone());
    Ok(def)
}

fn delete_collection(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let exists = any_node(host, |c| {
        let class = class.clone();
        async move { c.class_exists(&class).await }
    })?;
    if !exists {
        return Ok(json!(false));
    }
    any_node_write(host, |c| {
        let class = class.clone();
        async move { c.delete_class(&class).await }
    })?;
    Ok(json!(true))
}

fn simulate_delete(host: &Host, a: &Args) -> HostResult<Value> {
    let class = wv::class_name(&a.str(0)?)?;
    let existed = exists_for_plan(host, &class);
    set_simulated(host, &class, Value::Null);
    Ok(json!(existed.unwrap_or(true)))
}

pub(super) fn functions() -> Vec<HostFn> {
    vec![
        read("cluster", "schema", schema)
            .returns(Ty::record(&["classes"]))
            .doc("GET /v1/schema: {classes: [definition, …]}, sorted by name. In a dry run, simulated creates, updates and deletes are applied on top."),
        read("cluster", "collections", collections)
            .returns(Ty::array(Ty::Str))
            .doc("The collection names, sorted, e.g. [\"Article\", \"Book\"]. In a dry run, simulated changes included."),
        read("cluster", "collection", collection)
            .param("name", Ty::Str)
            .returns(Ty::record(&["class"]))
            .doc("One collection's full definition (GET /v1/schema/{name}), including replicationConfig.factor and shardingConfig. The first letter of the name is upper-cased as Weaviate does. A missing collection is a validation error."),
        write("cluster", "create_collection", create_collection, simulate_create)
            .param("def", Ty::Map)
            .returns(Ty::record(&["class"]))
            .doc("Create a collection (POST /v1/schema) and return it with the server's defaults. def: #{class: \"Article\", vectorizer: \"none\", replicationConfig: #{factor: 3}, properties: [#{name: \"title\", dataType: [\"text\"]}]}. The factor cannot exceed the running nodes; the shard count (shardingConfig.desiredCount) is fixed from then on."),
        write("cluster", "update_collection", update_collection, simulate_update)
            .param("name", Ty::Str)
            .param("def", Ty::Map)
            .returns(Ty::record(&["class", "replicationConfig"]))
            .doc("Replace a collection's definition (PUT /v1/schema/{name}). Send the FULL definition: get it with cluster.collection(name), change the fields, pass it back; a missing replicationConfig is refused because it would reset the factor. Properties, name, shard count and multi-tenancy on/off cannot change; raising replicationConfig.factor needs every shard to already have that many replicas."),
        write("cluster", "delete_collection", delete_collection, simulate_delete)
            .param("name", Ty::Str)
            .returns(Ty::Bool)
            .doc("Delete a collection AND ITS DATA (DELETE /v1/schema/{name}). Returns true if it existed, false if there was nothing to delete."),
    ]
}
