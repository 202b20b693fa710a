//! The effective configuration, for scripts. Secrets come out redacted.

use super::{read, write, Args, Host, HostFn};
use crate::base::error::{HostError, HostResult};
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

fn settable(a: &Args) -> HostResult<(String, serde_json::Map<String, Value>)> {
    let section = a.str(0)?;
    // Secrets and the job list have their own ways in (environment, `schedule add`).
    if !["weaviate", "elysia", "script", "index", "repos"].contains(&section.as_str()) {
        return Err(HostError::validation(format!(
            "config.set cannot write the section {section:?}"
        ))
        .with_hint("use weaviate, elysia, script, index or repos; jobs go through `elysiactl schedule add`"));
    }
    let values = match a.value(1) {
        Value::Object(m) if !m.is_empty() => m,
        _ => {
            return Err(HostError::validation("config.set needs a map of values")
                .with_hint("e.g. config.set(\"index\", #{batch_size: 500})"))
        }
    };
    if section == "weaviate" && values.contains_key("api_key") {
        return Err(HostError::validation("config.set does not write API keys")
            .with_hint("set WEAVIATE_API_KEY in the environment, or edit the file by hand"));
    }
    Ok((section, values))
}

fn set(host: &Host, a: &Args) -> HostResult<Value> {
    let (section, values) = settable(a)?;
    let file = host.config.file_path();
    crate::base::config::set_values(&file, &section, &values)?;
    Ok(json!({"file": file.display().to_string(), "section": section, "set": values}))
}

fn simulate_set(host: &Host, a: &Args) -> HostResult<Value> {
    let (section, values) = settable(a)?;
    let file = host.config.file_path();
    Ok(
        json!({"file": file.display().to_string(), "section": section, "set": values, "dry_run": true}),
    )
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
        write("config", "set", "set(section: string, values: map) -> map",
            "Write values into a [section] of the config file: config.set(\"index\", #{batch_size: 500}). Comments and everything else in the file stay; a change that would make the config invalid is refused and nothing is written. Takes effect from the next command. API keys and jobs are not set this way.",
            set, Some(simulate_set)),
        read("config", "nodes", "nodes() -> array",
            "The configured Weaviate nodes with their ports (name, rest_port, grpc_port, …).", nodes),
        read("config", "dry_run", "dry_run() -> bool", "Whether this run is a dry run (changes are printed, not made).", dry_run),
        read("config", "plan", "plan() -> array", "The changes recorded so far in a dry run.", plan),
    ]
}
