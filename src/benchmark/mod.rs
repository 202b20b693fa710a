//! Benchmarks: a load (load.rs) offered to the cluster against a test
//! dataset of the `load` pattern, its raw samples saved under a name with
//! the environment it ran in, and a later run compared with it
//! (compare.rs): a statistical verdict per operation, thresholds, and a
//! warning when the environments differ.

pub mod compare;
pub mod load;
pub mod replication;
pub mod report;
pub mod resources;
pub mod shapes;

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
    dataset_at(ctx, collection, records, dims, None)
}

/// `dataset`, made with replication `factor` when given (else the
/// configured one); one that exists with another factor is refused.
pub fn dataset_at(
    ctx: &Context,
    collection: &str,
    records: u64,
    dims: usize,
    factor: Option<usize>,
) -> HostResult<Dataset> {
    class_name(collection)?;
    let o = GenerateOptions {
        shape: Shape::Fixed(Pattern::Load),
        seed: 1,
        count: records,
        collection: collection.to_string(),
        dims: Some(dims),
        embedder: None,
        factor: factor.unwrap_or_else(|| ctx.config.weaviate.expected_replication_factor()),
    };
    let c = WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0));
    if let Ok(class) = ctx.block_on(c.get_class(collection)) {
        let has = class["replicationConfig"]["factor"].as_u64().unwrap_or(1) as usize;
        if factor.is_some_and(|f| f != has) {
            return Err(HostError::validation(format!(
                "collection {collection} has replication factor {has}, not {}",
                o.factor
            ))
            .with_hint(format!(
                "remove it (`elysiactl test-data clean --name {collection}`); the next run makes it again"
            )));
        }
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
/// summary, the raw samples and each node's CPU and memory.
pub fn run(ctx: &Context, spec: &LoadSpec, records: u64, dims: usize) -> HostResult<Value> {
    let (result, env, nodes) = measure(ctx, spec, records, dims)?;
    Ok(run_value(&result, env, &nodes))
}

/// Offer the load with its nodes sampled: the raw result, the environment
/// and the nodes' readings, for `run` and the shaped runs to build on.
fn measure(
    ctx: &Context,
    spec: &LoadSpec,
    records: u64,
    dims: usize,
) -> HostResult<(LoadResult, Value, resources::Resources)> {
    load::check_spec(spec)?;
    let dataset = dataset(ctx, &spec.collection, records, dims)?;
    let env = environment(ctx, &dataset);
    let total = (spec.warmup + spec.duration).as_secs().max(1);
    let prepared = load::prepare(ctx, spec, dataset)?;
    let bar = ctx.out.progress_start("benchmark (seconds)", Some(total));
    let sampler = resources::start(
        ctx,
        resources::interval_for(spec.duration.as_secs_f64()),
        spec.warmup,
    );
    let result = prepared.offer(ctx, spec, Some(bar), false);
    let nodes = sampler.finish()?;
    ctx.out.progress_done(bar, None);
    Ok((result?, env, nodes))
}

fn run_value(r: &LoadResult, env: Value, nodes: &resources::Resources) -> Value {
    let mut summary = r.summary();
    summary["nodes"] = json!(nodes.summary());
    json!({
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "environment": env,
        "spec": r.spec,
        "summary": summary,
        "samples_us": r.latencies_us,
        "errors": r.errors,
        "requests": r.requests,
        "resources": nodes,
    })
}

/// A stress run: the load steps up from `start_rate` by `factor` each
/// `step` until a step breaks the limits, the rate passes `max_rate`, or
/// `budget` is spent.
#[derive(Debug, Clone)]
pub struct StressSpec {
    /// Collection, mix, consistency, concurrency and seed of every step;
    /// its warm-up is the ramp from nothing to `start_rate`.
    pub load: LoadSpec,
    pub start_rate: f64,
    pub max_rate: f64,
    pub factor: f64,
    pub step: std::time::Duration,
    pub budget: Option<std::time::Duration>,
    pub limits: shapes::Limits,
}

/// The rates a stress run offers, in order.
pub fn stress_rates(s: &StressSpec) -> Vec<f64> {
    let mut rates = Vec::new();
    let mut r = s.start_rate;
    let steps_in_budget = s
        .budget
        .map(|b| (b.as_secs_f64() / s.step.as_secs_f64()).floor() as usize)
        .unwrap_or(usize::MAX);
    while r <= s.max_rate * 1.000_001 && rates.len() < steps_in_budget.min(100) {
        rates.push((r * 10.0).round() / 10.0);
        r *= s.factor;
    }
    rates
}

pub fn check_stress(s: &StressSpec) -> HostResult<()> {
    if !(s.factor > 1.0 && s.factor <= 10.0) {
        return Err(
            HostError::validation(format!("step factor {} is out of range", s.factor))
                .with_hint("each step multiplies the rate by more than 1 and at most 10, e.g. 1.5"),
        );
    }
    if s.step.is_zero() {
        return Err(
            HostError::validation("a stress step needs a duration").with_hint("e.g. --step 10s")
        );
    }
    if stress_rates(s).is_empty() {
        return Err(HostError::validation(format!(
            "no step fits: start rate {}/s, max rate {}/s, budget {:?}",
            s.start_rate, s.max_rate, s.budget
        ))
        .with_hint(
            "give a --max-rate at or above --start-rate, and a --duration of at least one --step",
        ));
    }
    load::check_spec(&LoadSpec {
        rate: s.start_rate,
        ..s.load.clone()
    })
}

pub fn stress(ctx: &Context, s: &StressSpec, records: u64, dims: usize) -> HostResult<Value> {
    check_stress(s)?;
    let rates = stress_rates(s);
    let dataset = dataset(ctx, &s.load.collection, records, dims)?;
    let env = environment(ctx, &dataset);
    let ramp = s.load.warmup;
    // Prepared for the whole planned run, so that the objects seeded for
    // deletes last through every step.
    let planned = LoadSpec {
        rate: s.start_rate,
        stages: rates
            .iter()
            .flat_map(|&rate| {
                [
                    load::Stage { seconds: 0.0, rate },
                    load::Stage {
                        seconds: s.step.as_secs_f64(),
                        rate,
                    },
                ]
            })
            .collect(),
        duration: s.step * rates.len() as u32,
        ..s.load.clone()
    };
    let prepared = load::prepare(ctx, &planned, dataset)?;
    let bar = ctx
        .out
        .progress_start("stress (steps)", Some(rates.len() as u64));
    let sampler = resources::start(
        ctx,
        resources::interval_for(s.step.as_secs_f64() * rates.len() as f64),
        ramp,
    );
    let mut steps = Vec::new();
    let mut merged: Option<LoadResult> = None;
    let mut offered = Vec::new();
    // Where the measured part began: after the first step's ramp. Later
    // steps start once the previous one's open requests have finished, and
    // their requests are placed at their real offset from here.
    let mut measured_from = None;
    let mut failure = None;
    for (k, &rate) in rates.iter().enumerate() {
        let first = k == 0;
        // The first step ramps up from nothing over the warm-up.
        let spec = LoadSpec {
            rate: if first && !ramp.is_zero() {
                rate.min(1.0)
            } else {
                rate
            },
            stages: if first && !ramp.is_zero() {
                vec![load::Stage {
                    seconds: ramp.as_secs_f64(),
                    rate,
                }]
            } else {
                Vec::new()
            },
            warmup: if first { ramp } else { Default::default() },
            duration: s.step,
            ..s.load.clone()
        };
        let began = std::time::Instant::now() + spec.warmup;
        let origin = *measured_from.get_or_insert(began);
        let r = match prepared.offer_step(ctx, &spec, None) {
            Ok(r) => r,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let ended = origin.elapsed().as_secs_f64();
        ctx.out.progress_set(bar, Some(k as u64 + 1), None);
        let w = shapes::window(&r.requests, 0.0, s.step.as_secs_f64());
        let v = shapes::step_verdict(rate, s.step.as_secs_f64(), &w, r.dropped, &s.limits);
        let held = v["held"] == true;
        steps.push(v);
        offered.push(load::Stage { seconds: 0.0, rate });
        offered.push(load::Stage {
            seconds: s.step.as_secs_f64(),
            rate,
        });
        let offset_us = began.saturating_duration_since(origin).as_micros() as u64;
        merged = Some(merge(merged, r, offset_us, ended));
        if !held {
            break;
        }
    }
    let nodes = sampler.finish()?;
    prepared.finish(ctx);
    ctx.out.progress_done(bar, None);
    if let Some(e) = failure {
        return Err(e);
    }
    let mut m = merged.ok_or_else(|| HostError::unknown("the stress run offered no step"))?;
    m.spec = LoadSpec {
        rate: s.start_rate,
        stages: offered,
        duration: std::time::Duration::from_secs_f64(m.seconds),
        ..s.load.clone()
    };
    let mut v = run_value(&m, env, &nodes);
    let mut verdict = shapes::stress_verdict(&steps);
    verdict["steps"] = json!(steps);
    verdict["limits"] = json!(s.limits);
    verdict["rates_planned"] = json!(rates);
    v["stress"] = verdict;
    Ok(v)
}

/// `into` with `r`'s requests appended `offset_us` after the merged run
/// began; `ended` is when `r` finished (stragglers included), in seconds
/// after that.
fn merge(into: Option<LoadResult>, r: LoadResult, offset_us: u64, ended: f64) -> LoadResult {
    let Some(mut m) = into else {
        return LoadResult {
            seconds: ended,
            ..r
        };
    };
    for (op, xs) in r.latencies_us {
        m.latencies_us.entry(op).or_default().extend(xs);
    }
    for (op, n) in r.errors {
        *m.errors.entry(op).or_default() += n;
    }
    m.requests.extend(
        r.requests
            .into_iter()
            .map(|q| load::Request(q.0, q.1 + offset_us, q.2, q.3)),
    );
    for e in r.first_errors {
        if m.first_errors.len() < 5 {
            m.first_errors.push(e);
        }
    }
    m.dropped += r.dropped;
    m.sent += r.sent;
    m.seconds = ended;
    m.generator_cpu_s += r.generator_cpu_s;
    m
}

/// A spike: `rate` for `before`, a step to `spike_rate` held for `spike`,
/// back to `rate` for `after`; how long latency took to recover.
pub fn spike(
    ctx: &Context,
    base: &LoadSpec,
    spike_rate: f64,
    (before, spike, after): (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
    ),
    margin: f64,
    records: u64,
    dims: usize,
) -> HostResult<Value> {
    if spike_rate.is_nan() || spike_rate <= 0.0 || spike_rate > 100_000.0 {
        return Err(
            HostError::validation("a spike needs a --spike-rate above zero")
                .with_hint("e.g. --rate 20 --spike-rate 200"),
        );
    }
    if before.is_zero() || spike.is_zero() || after.is_zero() {
        return Err(
            HostError::validation("a spike needs time before, during and after it")
                .with_hint("e.g. --before 10s --spike 10s --after 30s"),
        );
    }
    let w = (base.warmup + before).as_secs_f64();
    let spec = LoadSpec {
        stages: vec![
            load::Stage {
                seconds: w,
                rate: base.rate,
            },
            load::Stage {
                seconds: 0.0,
                rate: spike_rate,
            },
            load::Stage {
                seconds: spike.as_secs_f64(),
                rate: spike_rate,
            },
            load::Stage {
                seconds: 0.0,
                rate: base.rate,
            },
        ],
        duration: before + spike + after,
        ..base.clone()
    };
    let (result, env, nodes) = measure(ctx, &spec, records, dims)?;
    let mut v = run_value(&result, env, &nodes);
    let mut s = shapes::spike(
        &result.requests,
        before.as_secs_f64(),
        spike.as_secs_f64(),
        after.as_secs_f64(),
        margin,
    );
    s["rate"] = json!(base.rate);
    s["spike_rate"] = json!(spike_rate);
    v["spike"] = s;
    Ok(v)
}

/// An endurance run: a steady load for long, its latency and the nodes'
/// memory followed window by window.
pub fn endurance(
    ctx: &Context,
    spec: &LoadSpec,
    window: Option<std::time::Duration>,
    records: u64,
    dims: usize,
) -> HostResult<Value> {
    let seconds = spec.duration.as_secs_f64();
    let window_s = window
        .map(|w| w.as_secs_f64())
        .unwrap_or((seconds / 12.0).max(1.0));
    if window_s <= 0.0 || window_s > seconds {
        return Err(HostError::validation(format!(
            "a window of {window_s} s does not fit a {seconds} s run"
        ))
        .with_hint("give a --window shorter than --duration, e.g. --duration 1h --window 5m"));
    }
    let (result, env, nodes) = measure(ctx, spec, records, dims)?;
    let mut v = run_value(&result, env, &nodes);
    v["endurance"] = shapes::drift(&result.requests, seconds, window_s, &nodes);
    Ok(v)
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

#[cfg(test)]
mod tests {
    use super::load::{LoadSpec, Stage};
    use super::*;
    use std::time::Duration;

    fn spec(rate: f64, stages: Vec<Stage>) -> LoadSpec {
        LoadSpec {
            collection: "BenchLoad".into(),
            rate,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            max_in_flight: 8,
            mix: [(load::Operation::Get, 1)].into_iter().collect(),
            consistency: "QUORUM".into(),
            seed: 1,
            nodes: vec![],
            protocol: load::Protocol::Grpc,
            stages,
        }
    }

    #[test]
    fn a_rate_profile_ramps_steps_and_then_holds() {
        let s = spec(
            10.0,
            vec![
                Stage {
                    seconds: 2.0,
                    rate: 30.0,
                },
                Stage {
                    seconds: 0.0,
                    rate: 100.0,
                },
                Stage {
                    seconds: 1.0,
                    rate: 100.0,
                },
            ],
        );
        assert_eq!(s.rate_at(0.0), 10.0);
        assert_eq!(s.rate_at(1.0), 20.0);
        assert_eq!(s.rate_at(2.5), 100.0);
        assert_eq!(s.rate_at(60.0), 100.0);
        assert_eq!(
            spec(0.0, vec![]).rate_at(0.0),
            0.1,
            "a ramp from zero still starts"
        );
        assert_eq!(spec(5.0, vec![]).rate_at(3.0), 5.0);
    }

    #[test]
    fn stress_steps_grow_by_the_factor_within_the_rate_and_the_budget() {
        let mut s = StressSpec {
            load: spec(10.0, vec![]),
            start_rate: 10.0,
            max_rate: 100.0,
            factor: 2.0,
            step: Duration::from_secs(10),
            budget: None,
            limits: shapes::Limits {
                p99_ms: 500.0,
                error_rate: 0.01,
                dropped: 0.01,
            },
        };
        assert_eq!(stress_rates(&s), vec![10.0, 20.0, 40.0, 80.0]);
        s.budget = Some(Duration::from_secs(25));
        assert_eq!(stress_rates(&s), vec![10.0, 20.0]);
        s.budget = Some(Duration::from_secs(5));
        let e = check_stress(&s).unwrap_err();
        assert!(e.message.contains("no step fits"), "{}", e.message);
        s.factor = 1.0;
        assert!(check_stress(&s).unwrap_err().message.contains("factor"));
    }
}
