//! The "cluster" module for scripts: the Weaviate cluster over its REST API,
//! node by node or as a whole.
//!
//! * A node argument is a configured node's name ("weaviate-1") or index (1).
//! * Calls that are not about one node ask the configured nodes in order and
//!   take the first answer; if none answers, the error lists every failure.
//! * Under `--dry-run`, collection writes are recorded in the plan and their
//!   effect is remembered (fact `collection.<Name>` = the definition, or null
//!   when deleted): `schema()`, `collections()`, `collection()` and friends read
//!   the real cluster and then apply those simulated changes on top.

use super::{read, write, Args, Host, HostFn};
use crate::base::config::NodeSpec;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::{self as wv, Cluster, WeaviateClient};
use crate::services::readiness::{cluster_readiness, ClusterReadiness};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// Plan fact listing the collections a dry run changed (the plan cannot be iterated).
const SIMULATED: &str = "collections.simulated";

pub(crate) fn specs(host: &Host) -> Vec<NodeSpec> {
    host.config.weaviate.node_specs()
}

pub(crate) fn client(host: &Host, spec: &NodeSpec) -> WeaviateClient {
    WeaviateClient::in_context(host, spec)
}

fn node_list(specs: &[NodeSpec]) -> String {
    specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A node argument: a name ("weaviate-1") or an index (1 or "1").
pub fn resolve_node(specs: &[NodeSpec], v: &Value) -> HostResult<NodeSpec> {
    let found = match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .and_then(|i| specs.get(i as usize)),
        Value::String(s) => {
            let s = s.trim();
            specs
                .iter()
                .find(|n| n.name == s)
                .or_else(|| s.parse::<usize>().ok().and_then(|i| specs.get(i)))
        }
        _ => None,
    };
    found.cloned().ok_or_else(|| {
        let shown = match v {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        HostError::validation(format!(
            "unknown node {shown}; the configured nodes are {}",
            node_list(specs)
        ))
        .with_hint(format!(
            "give a node name such as \"{}\" or its index 0..{}",
            specs
                .first()
                .map(|s| s.name.as_str())
                .unwrap_or("weaviate-0"),
            specs.len().saturating_sub(1)
        ))
    })
}

fn node_arg(host: &Host, a: &Args, i: usize) -> HostResult<Option<NodeSpec>> {
    a.get(i).map(|v| resolve_node(&specs(host), v)).transpose()
}

fn node_opt(host: &Host, v: Option<&Value>) -> HostResult<Option<NodeSpec>> {
    v.map(|v| resolve_node(&specs(host), v)).transpose()
}

fn cluster(host: &Host) -> Cluster {
    Cluster::in_context(host, &specs(host))
}

/// A read: any node that answers (see `Cluster::any_node`).
pub(crate) fn any_node<T, F, Fut>(host: &Host, f: F) -> HostResult<T>
where
    F: Fn(WeaviateClient) -> Fut,
    Fut: Future<Output = HostResult<T>>,
{
    host.block_on(cluster(host).any_node(f))
}

/// A write: another node only when one was not reached (see `Cluster::any_node_write`).
pub(crate) fn any_node_write<T, F, Fut>(host: &Host, f: F) -> HostResult<T>
where
    F: Fn(WeaviateClient) -> Fut,
    Fut: Future<Output = HostResult<T>>,
{
    host.block_on(cluster(host).any_node_write(f))
}

/// A client of the first ready node (see `Cluster::first_ready`).
pub(crate) fn first_ready(host: &Host) -> HostResult<WeaviateClient> {
    host.block_on(cluster(host).first_ready())
}

/// A read from the given node, or from any node.
fn ask<T, F, Fut>(host: &Host, node: Option<NodeSpec>, f: F) -> HostResult<T>
where
    F: Fn(WeaviateClient) -> Fut,
    Fut: Future<Output = HostResult<T>>,
{
    match node {
        Some(spec) => {
            crate::base::cancel::check_interrupt()?;
            host.block_on(f(client(host, &spec)))
        }
        None => any_node(host, f),
    }
}

// ---- dry-run overlay ------------------------------------------------------------

fn fact_key(class: &str) -> String {
    format!("collection.{class}")
}

/// The simulated state of a collection in this dry run: Some(def), Some(null)
/// when deleted, None when the run did not touch it (or is not a dry run).
pub(crate) fn simulated(host: &Host, class: &str) -> Option<Value> {
    if !host.dry_run {
        return None;
    }
    host.plan.fact(&fact_key(class))
}

pub(crate) fn set_simulated(host: &Host, class: &str, def: Value) {
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
fn simulated_all(host: &Host) -> Vec<(String, Value)> {
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
fn exists_for_plan(host: &Host, class: &str) -> Option<bool> {
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
fn collection_read<F, Fut>(host: &Host, name: &str, empty: Value, f: F) -> HostResult<Value>
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

// ---- reads ------------------------------------------------------------------

fn nodes_config(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(Value::Array(
        specs(host)
            .iter()
            .map(|s| {
                let mut v = json!(s);
                v["rest_url"] = json!(s.rest_url());
                v
            })
            .collect(),
    ))
}

/// live or ready of every configured node, concurrently; unreachable = false.
fn probe_all(host: &Host, ready: bool) -> Value {
    let clients: Vec<WeaviateClient> = specs(host).iter().map(|s| client(host, s)).collect();
    let results = host.block_on(futures_util::future::join_all(clients.iter().map(
        |c| async move {
            let r = if ready {
                c.ready().await
            } else {
                c.live().await
            };
            (c.node_name().to_string(), r.unwrap_or(false))
        },
    )));
    Value::Object(results.into_iter().map(|(n, b)| (n, json!(b))).collect())
}

fn probe_one(host: &Host, spec: &NodeSpec, ready: bool) -> Value {
    let c = client(host, spec);
    let r = host.block_on(async {
        if ready {
            c.ready().await
        } else {
            c.live().await
        }
    });
    json!(r.unwrap_or(false))
}

fn live(host: &Host, a: &Args) -> HostResult<Value> {
    Ok(match node_arg(host, a, 0)? {
        Some(spec) => probe_one(host, &spec, false),
        None => probe_all(host, false),
    })
}

fn ready(host: &Host, a: &Args) -> HostResult<Value> {
    Ok(match node_arg(host, a, 0)? {
        Some(spec) => probe_one(host, &spec, true),
        None => probe_all(host, true),
    })
}

/// The cluster's readiness now (every configured node probed concurrently).
pub fn readiness_now(host: &Host) -> ClusterReadiness {
    host.block_on(cluster_readiness(
        &host.http,
        &specs(host),
        &host.config.weaviate.api_key,
    ))
}

fn readiness(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(readiness_now(host).to_json())
}

fn nodes(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["verbose", "node", "collection"])?;
    let verbose = o.bool("verbose", false)?;
    let node = node_opt(host, o.get("node"))?;
    match o.str("collection")? {
        None => ask(host, node, |c| async move { c.nodes(verbose).await }),
        Some(name) => {
            let class = wv::class_name(&name)?;
            if simulated(host, &class).is_some_and(|v| v.is_null()) {
                return Err(wv::no_such_collection(&class));
            }
            ask(host, node, |c| {
                let class = class.clone();
                async move { c.nodes_for(&class, verbose).await }
            })
        }
    }
}

fn raft(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["node"])?;
    let node = node_opt(host, o.get("node"))?;
    ask(host, node, |c| async move { c.cluster_statistics().await })
}

fn meta(host: &Host, a: &Args) -> HostResult<Value> {
    let node = node_arg(host, a, 0)?;
    ask(host, node, |c| async move { c.meta().await })
}

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

fn shards(host: &Host, a: &Args) -> HostResult<Value> {
    collection_read(host, &a.str(0)?, json!([]), |c, class| async move {
        c.shards(&class).await
    })
}

fn sharding_state(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    let empty = json!({"shardingState": {"collection": wv::class_name(&name)?, "shards": []}});
    collection_read(host, &name, empty, |c, class| async move {
        c.sharding_state(&class).await
    })
}

fn count(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    o.only(&["tenant"])?;
    let tenant = o.str("tenant")?;
    collection_read(host, &a.str(0)?, json!(0), |c, class| {
        let tenant = tenant.clone();
        async move {
            c.count_tenant(&class, tenant.as_deref())
                .await
                .map(|n| json!(n))
        }
    })
}

/// Poll readiness until the cluster is ready (every configured node ready, one
/// leader, every node a voter) or `timeout` passes (Timeout error naming what
/// is still missing). Prints the summary to stderr when it changes unless
/// `quiet`. Under dry-run it checks once and returns what it saw.
pub fn wait_ready(
    host: &Host,
    timeout: Duration,
    interval: Duration,
    quiet: bool,
) -> HostResult<ClusterReadiness> {
    let expected = specs(host).len();
    let started = Instant::now();
    let deadline = crate::base::units::deadline_after(timeout);
    let mut last = String::new();
    loop {
        crate::base::cancel::check_interrupt()?;
        let r = readiness_now(host);
        if r.is_ready(expected) {
            if !quiet && !last.is_empty() {
                host.out.status(&format!("Weaviate ready: {}", r.summary));
            }
            return Ok(r);
        }
        if host.dry_run {
            host.out.plan_line(&format!(
                "would wait up to {} for Weaviate to be ready (now: {})",
                crate::base::units::format_duration(timeout),
                r.summary
            ));
            return Ok(r);
        }
        if Instant::now() >= deadline {
            return Err(HostError::timeout(format!(
                "Weaviate was not ready after {}: {}",
                crate::base::units::format_duration(started.elapsed()),
                r.problems.join("; ")
            ))
            .with_hint(
                "see each node with `elysiactl status` and its log with `elysiactl weaviate logs`; wait longer with opts.timeout or weaviate.ready_timeout",
            ));
        }
        if !quiet && r.summary != last {
            host.out
                .status(&format!("waiting for Weaviate: {}", r.summary));
        }
        last = r.summary;
        let next = crate::base::units::deadline_after(interval).min(deadline);
        while Instant::now() < next {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
            crate::base::cancel::check_interrupt()?;
        }
    }
}

fn wait_ready_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["timeout", "interval", "quiet"])?;
    let timeout = o
        .duration("timeout")?
        .unwrap_or(Duration::from_secs(host.config.weaviate.ready_timeout));
    let interval = o
        .duration("interval")?
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let quiet = o.bool("quiet", false)?;
    let r = wait_ready(host, timeout, interval, quiet)?;
    let mut v = r.to_json();
    if host.dry_run && !r.ready {
        v["simulated"] = json!(true);
    }
    Ok(v)
}

// ---- writes -----------------------------------------------------------------

/// A collection definition: a map with `class`, which is made canonical.
fn class_def(function: &str, v: &Value) -> HostResult<(String, Value)> {
    let Value::Object(m) = v else {
        return Err(HostError::validation(format!(
            "cluster.{function}(): the definition must be a map, got {}",
            super::args::type_name(v)
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

pub fn functions() -> Vec<HostFn> {
    vec![
        read("cluster", "nodes_config", "nodes_config() -> array",
            "The configured nodes (not asked over the network): name, index, host, rest_url, rest_port, grpc_port, gossip_port, data_port, raft_port, raft_rpc_port, metrics_port.",
            nodes_config),
        read("cluster", "live", "live(node?: string|int) -> bool|map",
            "Whether a node's HTTP listener is up (GET /v1/.well-known/live). With a node (\"weaviate-1\" or 1): true/false; without: a map node name -> bool for every configured node. Unreachable counts as false.",
            live),
        read("cluster", "ready", "ready(node?: string|int) -> bool|map",
            "Whether a node serves requests (GET /v1/.well-known/ready: RAFT open with a leader, data loaded). A live node can be unready, e.g. while starting or after losing RAFT quorum (2 of 3 voters down). With a node: true/false; without: a map node name -> bool.",
            ready),
        read("cluster", "readiness", "readiness() -> map",
            "The whole cluster at a glance, every node probed at once: ready (bool), summary (\"2/3 ready, leader weaviate-0, 3 voters\"), problems (what stands between the cluster and ready), leader, leaders, voters, synchronized, members, missing (configured nodes absent from the membership: a killed node drops out instead of showing UNAVAILABLE), and nodes [{name, url, live, ready, latency_ms, version, member, status, raft_state, is_voter, leader_id, error}].",
            readiness),
        read("cluster", "nodes", "nodes(opts?: map) -> map",
            "GET /v1/nodes: {nodes: [{name, status (HEALTHY|UNHEALTHY|UNAVAILABLE|TIMEOUT), version, operationalMode, stats, shards}]}, sorted by name. opts: verbose = false (true adds stats and per-shard objectCount, vectorIndexingStatus, replicationFactor, numberOfReplicas), node = which node to ask (default: the first that answers), collection = only that collection's shards. objectCount is approximate and counted once per replica.",
            nodes),
        read("cluster", "raft", "raft(opts?: map) -> map",
            "GET /v1/cluster/statistics: {synchronized, statistics: [{name, status, ready, isVoter, leaderId, raft: {state, appliedIndex, term, …}}]}. Fields that are false/0/empty are absent (isVoter missing means not a voter); raft values are strings. opts: node = which node to ask.",
            raft),
        read("cluster", "meta", "meta(node?: string|int) -> map",
            "GET /v1/meta: {hostname, version, modules, grpcMaxMessageSize} of the given node, or of the first that answers.",
            meta),
        read("cluster", "schema", "schema() -> map",
            "GET /v1/schema: {classes: [definition, …]}, sorted by name. In a dry run, simulated creates, updates and deletes are applied on top.",
            schema),
        read("cluster", "collections", "collections() -> array",
            "The collection names, sorted, e.g. [\"Article\", \"Book\"]. In a dry run, simulated changes included.",
            collections),
        read("cluster", "collection", "collection(name: string) -> map",
            "One collection's full definition (GET /v1/schema/{name}), including replicationConfig.factor and shardingConfig. The first letter of the name is upper-cased as Weaviate does. A missing collection is a validation error.",
            collection),
        read("cluster", "shards", "shards(name: string) -> array",
            "GET /v1/schema/{name}/shards: [{name, status (READY|READONLY|INDEXING|…), vectorQueueSize}].",
            shards),
        read("cluster", "sharding_state", "sharding_state(name: string) -> map",
            "Which nodes hold each shard: {shardingState: {collection, shards: [{shard, replicas: [node, …]}]}}. Needs REPLICA_MOVEMENT_ENABLED=true on the nodes. A shard with fewer replicas than replicationConfig.factor is under-replicated.",
            sharding_state),
        read("cluster", "count", "count(name: string, opts?: map) -> int",
            "Exact number of objects in a collection (GraphQL Aggregate meta count). opts: tenant = a tenant of a multi-tenant collection.",
            count),
        read("cluster", "wait_ready", "wait_ready(opts?: map) -> map",
            "Wait until every configured node is ready, there is one RAFT leader and every node is a voter; returns readiness(). Fails with a timeout error naming what is still missing. opts: timeout (seconds or \"3m\"; default weaviate.ready_timeout), interval = \"1s\", quiet = false (otherwise the summary is printed to stderr when it changes). In a dry run it checks once.",
            wait_ready_fn),
        write("cluster", "create_collection", "create_collection(def: map) -> map",
            "Create a collection (POST /v1/schema) and return it with the server's defaults. def: #{class: \"Article\", vectorizer: \"none\", replicationConfig: #{factor: 3}, properties: [#{name: \"title\", dataType: [\"text\"]}]}. The factor cannot exceed the running nodes; the shard count (shardingConfig.desiredCount) is fixed from then on.",
            create_collection, Some(simulate_create)),
        write("cluster", "update_collection", "update_collection(name: string, def: map) -> map",
            "Replace a collection's definition (PUT /v1/schema/{name}). Send the FULL definition: get it with cluster.collection(name), change the fields, pass it back; a missing replicationConfig is refused because it would reset the factor. Properties, name, shard count and multi-tenancy on/off cannot change; raising replicationConfig.factor needs every shard to already have that many replicas.",
            update_collection, Some(simulate_update)),
        write("cluster", "delete_collection", "delete_collection(name: string) -> bool",
            "Delete a collection AND ITS DATA (DELETE /v1/schema/{name}). Returns true if it existed, false if there was nothing to delete.",
            delete_collection, Some(simulate_delete)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::Config;
    use crate::base::error::Category;
    use std::sync::Arc;

    fn three() -> Vec<NodeSpec> {
        Config::default().weaviate.node_specs()
    }

    #[test]
    fn nodes_by_name_or_index() {
        let s = three();
        assert_eq!(resolve_node(&s, &json!("weaviate-1")).unwrap().index, 1);
        assert_eq!(resolve_node(&s, &json!(2)).unwrap().name, "weaviate-2");
        assert_eq!(resolve_node(&s, &json!(2.0)).unwrap().name, "weaviate-2");
        assert_eq!(resolve_node(&s, &json!("0")).unwrap().name, "weaviate-0");
        for bad in [
            json!("weaviate-3"),
            json!(3),
            json!(-1),
            json!(true),
            json!("x"),
        ] {
            let e = resolve_node(&s, &bad).unwrap_err();
            assert_eq!(e.category, Category::Validation);
            assert!(
                e.message.contains("weaviate-0, weaviate-1, weaviate-2"),
                "{}",
                e.message
            );
            assert!(e.hint.contains("0..2"), "{}", e.hint);
        }
    }

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

    /// `n` consecutive local ports nothing listens on.
    fn closed_ports(n: u16) -> u16 {
        loop {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = l.local_addr().unwrap().port();
            drop(l);
            if base < 60000
                && (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
            {
                return base;
            }
        }
    }

    fn host(dry_run: bool, rt: &tokio::runtime::Runtime) -> Arc<Host> {
        let mut cfg = Config::default();
        cfg.weaviate.rest_port = closed_ports(3);
        cfg.weaviate.api_key = crate::base::config::Secret::new("test-key-must-not-leak");
        Host::new(cfg, rt.handle().clone(), dry_run)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn call(h: &Host, name: &str, args: Vec<Value>) -> HostResult<Value> {
        h.call(super::super::find(name).unwrap(), args)
    }

    #[test]
    fn dry_run_writes_are_remembered_for_later_reads() {
        let rt = rt();
        let h = host(true, &rt);
        let def = json!({"class": "article", "vectorizer": "none"});
        let created = call(&h, "cluster.create_collection", vec![def]).unwrap();
        assert_eq!(created["class"], "Article");
        // The cluster is down, but the simulated collection reads back.
        let got = call(&h, "cluster.collection", vec![json!("Article")]).unwrap();
        assert_eq!(got["vectorizer"], "none");
        assert_eq!(
            call(&h, "cluster.count", vec![json!("Article")])
                .unwrap_err()
                .category,
            Category::Network,
            "a created collection unknown to a down cluster still needs the cluster"
        );
        let e = call(
            &h,
            "cluster.create_collection",
            vec![json!({"class": "Article"})],
        )
        .unwrap_err();
        assert!(e.message.contains("already exists"), "{e}");
        // Update without replicationConfig is refused; with it, it is simulated.
        let e = call(
            &h,
            "cluster.update_collection",
            vec![json!("Article"), json!({"vectorizer": "none"})],
        )
        .unwrap_err();
        assert!(e.message.contains("replicationConfig"), "{e}");
        call(
            &h,
            "cluster.update_collection",
            vec![
                json!("Article"),
                json!({"replicationConfig": {"factor": 2}}),
            ],
        )
        .unwrap();
        assert_eq!(
            call(&h, "cluster.collection", vec![json!("Article")]).unwrap()["replicationConfig"]
                ["factor"],
            2
        );
        assert_eq!(
            call(&h, "cluster.delete_collection", vec![json!("Article")]).unwrap(),
            json!(true)
        );
        let e = call(&h, "cluster.collection", vec![json!("Article")]).unwrap_err();
        assert!(wv::is_no_such_collection(&e), "{e}");
        let sims = simulated_all(&h);
        assert_eq!(sims, vec![("Article".to_string(), Value::Null)]);
        let v = overlay_schema(
            json!({"classes": [{"class": "Article"}, {"class": "Keep"}]}),
            &sims,
        );
        assert_eq!(wv::class_names_of(&v), vec!["Keep"]);
        assert_eq!(
            h.plan.steps().len(),
            5,
            "failed simulations are recorded too"
        );
    }

    #[test]
    fn no_node_answering_lists_every_failure_without_the_key() {
        let rt = rt();
        let h = host(false, &rt);
        let e = call(&h, "cluster.collections", vec![]).unwrap_err();
        assert_eq!(e.category, Category::Network, "{e}");
        for n in ["weaviate-0", "weaviate-1", "weaviate-2"] {
            assert!(e.message.contains(n), "{e}");
        }
        assert!(!format!("{e}").contains("test-key-must-not-leak"));
        assert_eq!(
            call(&h, "cluster.ready", vec![json!(1)]).unwrap(),
            json!(false)
        );
        let all = call(&h, "cluster.live", vec![]).unwrap();
        assert_eq!(
            all,
            json!({"weaviate-0": false, "weaviate-1": false, "weaviate-2": false})
        );
        let e = call(&h, "cluster.meta", vec![json!("weaviate-7")]).unwrap_err();
        assert_eq!(e.category, Category::Validation);
        let e = call(&h, "cluster.nodes", vec![json!({"verbos": true})]).unwrap_err();
        assert!(e.hint.contains("verbose"), "{e}");
    }

    #[test]
    fn wait_ready_times_out_naming_what_is_missing() {
        let rt = rt();
        let h = host(false, &rt);
        let e = call(
            &h,
            "cluster.wait_ready",
            vec![json!({"timeout": 0.3, "quiet": true})],
        )
        .unwrap_err();
        assert_eq!(e.category, Category::Timeout, "{e}");
        assert!(e.message.contains("weaviate-2 does not answer"), "{e}");
        assert!(e.hint.contains("ready_timeout"));
        assert!(!format!("{e}").contains("test-key-must-not-leak"));
        // A dry run looks once and reports instead of waiting.
        let h = host(true, &rt);
        let v = call(&h, "cluster.wait_ready", vec![]).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["simulated"], true);
    }

    /// Against a real single-node cluster (node name weaviate-0, RAFT_BOOTSTRAP_EXPECT=1):
    /// `ELYSIACTL_TEST_WEAVIATE_PORT=28080 cargo test --lib real_server -- --ignored`.
    #[test]
    #[ignore]
    fn real_server_script_functions() {
        let Ok(port) = std::env::var("ELYSIACTL_TEST_WEAVIATE_PORT") else {
            eprintln!("ELYSIACTL_TEST_WEAVIATE_PORT is not set; skipping");
            return;
        };
        let rt = rt();
        let mut cfg = Config::default();
        cfg.weaviate.nodes = 1;
        cfg.weaviate.rest_port = port.parse().unwrap();
        let h = Host::new(cfg.clone(), rt.handle().clone(), false);
        let r = call(&h, "cluster.wait_ready", vec![json!({"timeout": "60s"})]).unwrap();
        assert_eq!(r["ready"], true, "{r}");
        // Configured for three, running one: the other two are missing, not UNAVAILABLE.
        let mut three = cfg.clone();
        three.weaviate.nodes = 3;
        let h3 = Host::new(three, rt.handle().clone(), false);
        let r3 = call(&h3, "cluster.readiness", vec![]).unwrap();
        eprintln!("{}", r3["summary"]);
        assert_eq!(r3["ready"], false);
        assert_eq!(r3["missing"], json!(["weaviate-1", "weaviate-2"]));
        assert_eq!(r3["leader"], "weaviate-0");
        let e = call(&h3, "cluster.wait_ready", vec![json!({"timeout": 1})]).unwrap_err();
        assert!(
            e.message.contains("weaviate-2 is not a cluster member"),
            "{e}"
        );
        eprintln!("{e}");
        assert_eq!(
            call(&h, "cluster.ready", vec![json!("weaviate-0")]).unwrap(),
            json!(true)
        );
        assert_eq!(
            call(&h, "cluster.live", vec![]).unwrap(),
            json!({"weaviate-0": true})
        );
        assert_eq!(
            call(&h, "cluster.meta", vec![json!(0)]).unwrap()["version"],
            "1.38.11"
        );
        let n = call(
            &h,
            "cluster.nodes",
            vec![json!({"verbose": true, "node": 0})],
        )
        .unwrap();
        assert_eq!(n["nodes"][0]["name"], "weaviate-0");
        let raft = call(&h, "cluster.raft", vec![]).unwrap();
        assert_eq!(raft["statistics"][0]["leaderId"], "weaviate-0");

        let class = format!("ElysiactlScriptTest{}", std::process::id());
        let _ = call(&h, "cluster.delete_collection", vec![json!(class)]);
        let def = json!({"class": class, "vectorizer": "none",
            "properties": [{"name": "title", "dataType": ["text"]}]});
        let created = call(&h, "cluster.create_collection", vec![def.clone()]).unwrap();
        assert_eq!(created["class"], json!(class));
        let names = call(&h, "cluster.collections", vec![]).unwrap();
        assert!(names.as_array().unwrap().contains(&json!(class)));
        assert_eq!(
            call(&h, "cluster.count", vec![json!(class)]).unwrap(),
            json!(0)
        );
        let mut full = call(&h, "cluster.collection", vec![json!(class)]).unwrap();
        full["description"] = json!("edited");
        let upd = call(&h, "cluster.update_collection", vec![json!(class), full]).unwrap();
        assert_eq!(upd["description"], "edited");
        let shards = call(&h, "cluster.shards", vec![json!(class)]).unwrap();
        assert_eq!(shards.as_array().unwrap().len(), 1);

        // Dry run on top of the real schema: the delete and a create are simulated only.
        let d = Host::new(cfg, rt.handle().clone(), true);
        assert_eq!(
            call(&d, "cluster.delete_collection", vec![json!(class)]).unwrap(),
            json!(true)
        );
        let e = call(&d, "cluster.count", vec![json!(class)]).unwrap_err();
        assert!(wv::is_no_such_collection(&e), "{e}");
        let other = format!("{class}New");
        call(
            &d,
            "cluster.create_collection",
            vec![json!({"class": other})],
        )
        .unwrap();
        let names = call(&d, "cluster.collections", vec![]).unwrap();
        let names = names.as_array().unwrap();
        assert!(
            !names.contains(&json!(class)) && names.contains(&json!(other)),
            "{names:?}"
        );
        assert_eq!(
            call(&d, "cluster.count", vec![json!(other)]).unwrap(),
            json!(0)
        );
        let e = call(
            &d,
            "cluster.update_collection",
            vec![json!("NeverThere"), json!({"replicationConfig": {}})],
        )
        .unwrap_err();
        assert!(wv::is_no_such_collection(&e), "{e}");
        // Nothing really changed.
        assert_eq!(
            call(&h, "cluster.collection", vec![json!(class)]).unwrap()["class"],
            json!(class)
        );
        assert!(call(&h, "cluster.collection", vec![json!(other)]).is_err());

        assert_eq!(
            call(&h, "cluster.delete_collection", vec![json!(class)]).unwrap(),
            json!(true)
        );
        assert_eq!(
            call(&h, "cluster.delete_collection", vec![json!(class)]).unwrap(),
            json!(false)
        );
    }
}
