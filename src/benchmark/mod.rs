//! Benchmarks: a load (load.rs) offered to the cluster against a test
//! dataset of the `load` pattern, its raw samples saved under a name with
//! the environment it ran in, and a later run compared with it
//! (compare.rs): a statistical verdict per operation, thresholds, and a
//! warning when the environments differ.

pub mod compare;
pub mod load;
pub mod report;

use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::clients::weaviate::{class_name, WeaviateClient};
use crate::testdata::patterns::Pattern;
use crate::testdata::{self, Dataset, GenerateOptions, Shape};
use load::{LoadResult, LoadSpec};
use serde_json::{json, Value};
use std::path::PathBuf;

pub fn saved_dir() -> PathBuf {
    paths::env_data_dir().join("benchmarks")
}

fn saved_path(name: &str) -> HostResult<PathBuf> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if !ok {
        return Err(
            HostError::validation(format!("{name:?} is not a benchmark name"))
                .with_hint("use letters, digits, '-', '_' and '.', e.g. before-upgrade"),
        );
    }
    Ok(saved_dir().join(format!("{name}.json")))
}

/// The test dataset a benchmark runs against: the one in `collection`, made
/// (pattern `load`, seed 1, `records` objects, vectors of `dims`) when
/// missing. A collection that is not a test dataset is refused.
pub fn dataset(ctx: &Context, collection: &str, records: u64, dims: usize) -> HostResult<Dataset> {
    class_name(collection)?;
    let o = GenerateOptions {
        shape: Shape::Fixed(Pattern::Load),
        seed: 1,
        count: records,
        collection: collection.to_string(),
        dims: Some(dims),
        embedder: None,
        factor: ctx.config.weaviate.expected_replication_factor(),
    };
    let c = WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0));
    if let Ok(class) = ctx.block_on(c.get_class(collection)) {
        return testdata::dataset_of(&class).ok_or_else(|| {
            HostError::validation(format!("collection {collection} is not a test dataset"))
                .with_hint(
                    "benchmarks run against a dataset of their own: pick another --collection",
                )
        });
    }
    let r = testdata::generate(ctx, &o)?;
    if r["refused"].as_u64().unwrap_or(0) > 0 {
        return Err(HostError::weaviate(format!(
            "Weaviate refused objects of the benchmark dataset: {}",
            r["first_refusal"]
        ))
        .with_hint("check `elysiactl health --cluster`"));
    }
    serde_json::from_value(r["dataset"].clone()).map_err(|e| HostError::unknown(e.to_string()))
}

/// What a result depends on besides the code under test: versions, the
/// cluster's shape, the machine, the dataset.
pub fn environment(ctx: &Context, dataset: &Dataset) -> Value {
    let c = WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0));
    let weaviate = ctx.block_on(c.version()).ok().flatten();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo.lines().find_map(|l| {
        l.strip_prefix("model name")
            .and_then(|r| r.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    let memory = {
        use procfs::Current;
        procfs::Meminfo::current().map(|m| m.mem_total).ok()
    };
    json!({
        "elysiactl": env!("CARGO_PKG_VERSION"),
        "weaviate": weaviate,
        "runtime": ctx.config.weaviate.runtime,
        "nodes": ctx.config.weaviate.nodes,
        "replication_factor": ctx.config.weaviate.expected_replication_factor(),
        "cpu_model": cpu_model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_bytes": memory,
        "dataset": {"pattern": dataset.pattern, "records": dataset.count, "dims": dataset.dims, "fingerprint": dataset.fingerprint},
    })
}

/// A run as scripts and saved files hold it: when, the environment, the
/// summary and the raw samples.
pub fn run(ctx: &Context, spec: &LoadSpec, records: u64, dims: usize) -> HostResult<Value> {
    load::check_spec(spec)?;
    let dataset = dataset(ctx, &spec.collection, records, dims)?;
    let env = environment(ctx, &dataset);
    let total = (spec.warmup + spec.duration).as_secs().max(1);
    let bar = ctx.out.progress_start("benchmark (seconds)", Some(total));
    let result = load::run(ctx, spec, dataset, Some(bar));
    ctx.out.progress_done(bar, None);
    let result = result?;
    Ok(run_value(&result, env))
}

fn run_value(r: &LoadResult, env: Value) -> Value {
    json!({
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "environment": env,
        "spec": r.spec,
        "summary": r.summary(),
        "samples_us": r.latencies_us,
        "errors": r.errors,
        "requests": r.requests,
    })
}

pub fn save(name: &str, run: &Value) -> HostResult<PathBuf> {
    let path = saved_path(name)?;
    if run.get("samples_us").is_none() || run.get("environment").is_none() {
        return Err(HostError::validation("this value is not a benchmark run")
            .with_hint("save what bench.run() returned"));
    }
    std::fs::create_dir_all(saved_dir())
        .map_err(|e| HostError::io(format!("cannot create {}", saved_dir().display()), e))?;
    let mut v = run.clone();
    v["name"] = json!(name);
    paths::write_atomic(
        &path,
        serde_json::to_string(&v).unwrap_or_default().as_bytes(),
    )?;
    Ok(path)
}

pub fn saved(name: &str) -> HostResult<Value> {
    let path = saved_path(name)?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            HostError::validation(format!("no saved benchmark named {name}"))
                .with_hint("see them with `elysiactl benchmark list`; save one with `benchmark baseline --save NAME`")
        } else {
            HostError::io(format!("cannot read {}", path.display()), e)
        }
    })?;
    serde_json::from_str(&text).map_err(|e| {
        HostError::validation(format!("{} is not a saved benchmark: {e}", path.display()))
            .with_hint("remove it, and save the run again")
    })
}

/// Saved runs, newest first: name, time, summary per operation.
pub fn list() -> HostResult<Vec<Value>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(saved_dir()) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let p = e.path();
        let Some(name) = p
            .file_stem()
            .and_then(|n| n.to_str())
            .filter(|_| p.extension().is_some_and(|x| x == "json"))
        else {
            continue;
        };
        if let Ok(v) = saved(name) {
            out.push(
                json!({"name": name, "time": v["time"], "rate": v["spec"]["rate"],
                "seconds": v["summary"]["seconds"], "operations": v["summary"]["operations"],
                "weaviate": v["environment"]["weaviate"], "nodes": v["environment"]["nodes"]}),
            );
        }
    }
    out.sort_by(|a, b| b["time"].as_str().cmp(&a["time"].as_str()));
    Ok(out)
}

fn samples_of(run: &Value) -> Vec<(String, Vec<u64>)> {
    run["samples_us"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(op, xs)| {
            (
                op.clone(),
                xs.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect(),
            )
        })
        .collect()
}

/// The keys of two environments that differ, as "key: before → after".
fn environment_differences(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (k, va) in a.as_object().into_iter().flatten() {
        let vb = &b[k];
        if va != vb {
            out.push(format!("{k}: {va} → {vb}"));
        }
    }
    out
}

/// A later run against an earlier one: per operation a statistical
/// verdict, the thresholds on the later run, the environments' differences.
pub fn compare_runs(
    before: &Value,
    after: &Value,
    thresholds: &[String],
    min_slowdown: f64,
) -> HostResult<Value> {
    for (which, v) in [("before", before), ("after", after)] {
        if v.get("samples_us").is_none() {
            return Err(
                HostError::validation(format!("the {which} value is not a benchmark run"))
                    .with_hint("compare what bench.run() returns or bench.saved(name) reads"),
            );
        }
    }
    let parsed = thresholds
        .iter()
        .map(|t| compare::parse_threshold(t))
        .collect::<HostResult<Vec<_>>>()?;
    let mut verdict = compare::compare(&samples_of(before), &samples_of(after), min_slowdown);
    let mut failed = Vec::new();
    let mut checks = Vec::new();
    for t in &parsed {
        for (op, summary) in after["summary"]["operations"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let (ok, value) = t.holds(summary);
            if !ok {
                failed.push(format!("{op}: {} (is {value})", t.text));
            }
            checks.push(json!({"threshold": t.text, "operation": op, "value": value, "ok": ok}));
        }
    }
    let differences = environment_differences(&before["environment"], &after["environment"]);
    let regressed = !verdict["regressions"]
        .as_array()
        .is_none_or(|r| r.is_empty());
    verdict["thresholds"] = json!(checks);
    verdict["thresholds_failed"] = json!(failed);
    verdict["environment_differences"] = json!(differences);
    verdict["before"] = json!({"name": before["name"], "time": before["time"]});
    verdict["after"] = json!({"name": after["name"], "time": after["time"]});
    verdict["ok"] = json!(!regressed && failed.is_empty());
    Ok(verdict)
}
