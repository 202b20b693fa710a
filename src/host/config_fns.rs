//! The effective configuration, for scripts. Secrets come out redacted.

use super::{read, Args, Host, HostFn};
use crate::error::HostResult;
use serde_json::{json, Value};

fn get(host: &Host, a: &Args) -> HostResult<Value> {
    let all = host.config.redacted_json();
    match a.opt_str(0)? {
        None => Ok(all),
        Some(path) => Ok(path
            .split('.')
            .try_fold(&all, |v, k| v.get(k))
            .cloned()
            .unwrap_or(Value::Null)),
    }
}

fn nodes(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.config.weaviate.node_specs()))
}

fn dry_run(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.dry_run))
}

fn plan(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.plan.steps()))
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("config", "get", "get(path?: string) -> any",
            "The effective configuration, or one value by dotted path: config.get(\"weaviate.nodes\"). API keys read as \"***\".", get),
        read("config", "nodes", "nodes() -> array",
            "The configured Weaviate nodes with their ports (name, rest_port, grpc_port, …).", nodes),
        read("config", "dry_run", "dry_run() -> bool", "Whether this run is a dry run (changes are printed, not made).", dry_run),
        read("config", "plan", "plan() -> array", "The changes recorded so far in a dry run.", plan),
    ]
}
