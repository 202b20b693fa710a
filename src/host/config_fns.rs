//! The effective configuration, for scripts. Secrets come out redacted.

use super::{read, write, Args, Host, HostFn, Ty};
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

/// The sections config.set writes: secrets and the job list have their own
/// ways in (the environment, `schedule add`).
const SETTABLE: [&str; 5] = ["weaviate", "elysia", "script", "index", "repos"];

fn settable(a: &Args) -> HostResult<(String, serde_json::Map<String, Value>)> {
    let section = a.str(0)?;
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
        read("config", "get", get)
            .optional("path", Ty::Str)
            .returns(Ty::Any)
            .doc("The effective configuration, or one value by dotted path: config.get(\"weaviate.nodes\"). API keys read as \"***\"."),
        write("config", "set", set, simulate_set)
            .param("section", Ty::one_of(SETTABLE))
            .param("values", Ty::Map)
            .returns(Ty::record(&["file", "section", "set"]))
            .doc("Write values into a [section] of the config file: config.set(\"index\", #{batch_size: 500}). Comments and everything else in the file stay; a change that would make the config invalid is refused and nothing is written. Takes effect from the next command. API keys and jobs (`elysiactl schedule add`) are not set this way."),
        read("config", "nodes", nodes)
            .returns(Ty::array(Ty::Map))
            .doc("The configured Weaviate nodes with their ports (name, rest_port, grpc_port, …)."),
        read("config", "dry_run", dry_run)
            .returns(Ty::Bool)
            .doc("Whether this run is a dry run (changes are printed, not made)."),
        read("config", "plan", plan)
            .returns(Ty::array(Ty::Map))
            .doc("The changes recorded so far in a dry run."),
    ]
}
