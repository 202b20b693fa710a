//! The nodes of the cluster: as configured, as Weaviate lists them, their
//! RAFT statistics and build.

use super::{ask, node_arg, node_opt, simulated, specs};
use crate::base::error::HostResult;
use crate::clients::weaviate as wv;
use crate::host::{opt, read, Args, Host, HostFn, Ty};
use serde_json::{json, Value};

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

fn nodes(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
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
    let node = node_opt(host, o.get("node"))?;
    ask(host, node, |c| async move { c.cluster_statistics().await })
}

fn meta(host: &Host, a: &Args) -> HostResult<Value> {
    let node = node_arg(host, a, 0)?;
    ask(host, node, |c| async move { c.meta().await })
}

pub(super) fn functions() -> Vec<HostFn> {
    vec![
        read("cluster", "nodes_config", nodes_config)
            .returns(Ty::array(Ty::Map))
            .doc("The configured nodes (not asked over the network): name, index, host, rest_url, rest_port, grpc_port, gossip_port, data_port, raft_port, raft_rpc_port, metrics_port."),
        read("cluster", "nodes", nodes)
            .opts(vec![
                opt("verbose", Ty::Bool),
                opt("node", Ty::Node),
                opt("collection", Ty::Str),
            ])
            .returns(Ty::record(&["nodes"]))
            .doc("GET /v1/nodes: {nodes: [{name, status (HEALTHY|UNHEALTHY|UNAVAILABLE|TIMEOUT), version, operationalMode, stats, shards}]}, sorted by name. opts: verbose = false (true adds stats and per-shard objectCount, vectorIndexingStatus, replicationFactor, numberOfReplicas), node = which node to ask (default: the first that answers), collection = only that collection's shards. objectCount is approximate and counted once per replica."),
        read("cluster", "raft", raft)
            .opts(vec![opt("node", Ty::Node)])
            .returns(Ty::Map)
            .doc("GET /v1/cluster/statistics: {synchronized, statistics: [{name, status, ready, isVoter, leaderId, raft: {state, appliedIndex, term, …}}]}. Fields that are false/0/empty are absent (isVoter missing means not a voter); raft values are strings. opts: node = which node to ask."),
        read("cluster", "meta", meta)
            .optional("node", Ty::Node)
            .returns(Ty::Map)
            .doc("GET /v1/meta: {hostname, version, modules, grpcMaxMessageSize} of the given node, or of the first that answers."),
    ]
}
