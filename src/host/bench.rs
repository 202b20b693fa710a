//! Benchmarks for scripts: `let r = bench::run(#{rate: 100, duration: "30s"})`,
//! `bench::save("before", r)`, `bench::compare(bench::saved("before"), r,
//! #{thresholds: ["p95<50ms"]})`, `bench::list()`, `bench::report(r,
//! "run.html", #{baseline: bench::saved("before")})`, `bench::export_csv(r, "run.csv")`,
//! `bench::replication(#{factors: [1, 3]})`.

use super::{opt, read, write, Args, Host, HostFn, OptKey, Ty};
use crate::base::error::{HostError, HostResult};
use crate::benchmark::load::{self, LoadSpec, Operation, Protocol};
use crate::benchmark::{self, replication};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

struct RunOptions {
    spec: LoadSpec,
    records: u64,
    dims: usize,
}

fn run_options(a: &Args) -> HostResult<RunOptions> {
    let o = a.opts(0)?;
    let mix: BTreeMap<Operation, u32> = match a.value(0).get("mix") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, w)| {
                let op = Operation::parse(k).ok_or_else(|| {
                    HostError::validation(format!("unknown operation {k:?} in the mix")).with_hint(
                        format!("the operations are {}", Operation::NAMES.join(", ")),
                    )
                })?;
                let w = w.as_u64().filter(|w| *w <= 1000).ok_or_else(|| {
                    HostError::validation(format!(
                        "the weight of {k} must be a whole number 0 to 1000"
                    ))
                    .with_hint("e.g. #{get: 4, bm25: 1}")
                })?;
                Ok((op, w as u32))
            })
            .collect::<HostResult<_>>()?,
        _ => [
            (Operation::Get, 4),
            (Operation::Bm25, 2),
            (Operation::NearVector, 2),
            (Operation::Filtered, 1),
            (Operation::Insert, 1),
        ]
        .into_iter()
        .collect(),
    };
    let rate = match a.value(0).get("rate") {
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(f64::NAN),
        None => 50.0,
    };
    Ok(RunOptions {
        spec: LoadSpec {
            collection: o.str("collection")?.unwrap_or_else(|| "BenchLoad".into()),
            rate,
            duration: o.duration("duration")?.unwrap_or(Duration::from_secs(30)),
            warmup: o.duration("warmup")?.unwrap_or(Duration::from_secs(5)),
            max_in_flight: o.int_in("concurrency", 64, 1, 10_000)? as usize,
            mix,
            consistency: o.str("consistency")?.unwrap_or_else(|| "QUORUM".into()),
            seed: o.int_in("seed", 1, 0, i64::MAX)? as u64,
            nodes: Vec::new(),
            protocol: match o.str("protocol")? {
                None => Protocol::Grpc,
                Some(p) => Protocol::parse(&p).ok_or_else(|| {
                    HostError::validation(format!("unknown protocol {p:?}"))
                        .with_hint("use grpc (as the official clients search) or graphql")
                })?,
            },
            stages: Vec::new(),
        },
        records: o.int_in("records", 5000, 10, 10_000_000)? as u64,
        dims: o.int_in("dims", 64, 1, 4096)? as usize,
    })
}

fn run(host: &Host, a: &Args) -> HostResult<Value> {
    let r = run_options(a)?;
    benchmark::run(host, &r.spec, r.records, r.dims)
}

/// A percentage given as 1, "1%" or "1.5%", as a share (0.01).
fn share(o: &super::args::Opts, key: &str, default: f64) -> HostResult<f64> {
    let v = match o.get(key) {
        None => return Ok(default),
        Some(Value::String(s)) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
        Some(v) => v.as_f64(),
    };
    v.filter(|p| (0.0..=100.0).contains(p))
        .map(|p| p / 100.0)
        .ok_or_else(|| {
            HostError::validation(format!("{key} must be a percentage from 0 to 100"))
                .with_hint(format!("e.g. {key}: \"1%\""))
        })
}

fn stress_spec(a: &Args) -> HostResult<(benchmark::StressSpec, u64, usize)> {
    let r = run_options(a)?;
    let o = a.opts(0)?;
    let start_rate = o.float("start_rate")?.unwrap_or(10.0);
    let spec = benchmark::StressSpec {
        load: LoadSpec {
            rate: start_rate,
            ..r.spec
        },
        start_rate,
        max_rate: o.float("max_rate")?.unwrap_or(5000.0),
        factor: o.float("factor")?.unwrap_or(1.5),
        step: o.duration("step")?.unwrap_or(Duration::from_secs(10)),
        budget: o.duration("duration")?,
        limits: benchmark::shapes::Limits {
            p99_ms: o
                .duration("p99")?
                .map_or(500.0, |d| d.as_secs_f64() * 1000.0),
            error_rate: share(&o, "max_error_rate", 0.01)?,
            dropped: share(&o, "max_dropped", 0.01)?,
        },
    };
    benchmark::check_stress(&spec)?;
    Ok((spec, r.records, r.dims))
}

fn stress(host: &Host, a: &Args) -> HostResult<Value> {
    let (spec, records, dims) = stress_spec(a)?;
    benchmark::stress(host, &spec, records, dims)
}

fn simulate_stress(_: &Host, a: &Args) -> HostResult<Value> {
    let (spec, _, _) = stress_spec(a)?;
    let mut v = planned_run(&spec.load);
    v["stress"] = json!({"rates_planned": benchmark::stress_rates(&spec), "limits": spec.limits,
        "step_seconds": spec.step.as_secs_f64(), "steps": []});
    Ok(v)
}

struct SpikeOptions {
    spec: LoadSpec,
    spike_rate: f64,
    phases: (Duration, Duration, Duration),
    margin: f64,
    records: u64,
    dims: usize,
}

fn spike_options(a: &Args) -> HostResult<SpikeOptions> {
    let r = run_options(a)?;
    let o = a.opts(0)?;
    let rate = r.spec.rate;
    Ok(SpikeOptions {
        spike_rate: o.float("spike_rate")?.unwrap_or(rate * 10.0),
        phases: (
            o.duration("before")?.unwrap_or(Duration::from_secs(10)),
            o.duration("spike")?.unwrap_or(Duration::from_secs(10)),
            o.duration("after")?.unwrap_or(Duration::from_secs(30)),
        ),
        margin: o.float("recovery_margin")?.unwrap_or(1.5),
        spec: r.spec,
        records: r.records,
        dims: r.dims,
    })
}

fn spike(host: &Host, a: &Args) -> HostResult<Value> {
    let s = spike_options(a)?;
    benchmark::spike(
        host,
        &s.spec,
        s.spike_rate,
        s.phases,
        s.margin,
        s.records,
        s.dims,
    )
}

fn simulate_spike(_: &Host, a: &Args) -> HostResult<Value> {
    let s = spike_options(a)?;
    benchmark::load::check_spec(&s.spec)?;
    let mut v = planned_run(&s.spec);
    v["spike"] = json!({"rate": s.spec.rate, "spike_rate": s.spike_rate,
        "before_s": s.phases.0.as_secs_f64(), "spike_s": s.phases.1.as_secs_f64(),
        "after_s": s.phases.2.as_secs_f64()});
    Ok(v)
}

fn endurance(host: &Host, a: &Args) -> HostResult<Value> {
    let r = run_options(a)?;
    let window = a.opts(0)?.duration("window")?;
    benchmark::endurance(host, &r.spec, window, r.records, r.dims)
}

fn simulate_endurance(_: &Host, a: &Args) -> HostResult<Value> {
    let r = run_options(a)?;
    benchmark::load::check_spec(&r.spec)?;
    let mut v = planned_run(&r.spec);
    v["endurance"] = json!({"window_s": a.opts(0)?.duration("window")?.map(|w| w.as_secs_f64())});
    Ok(v)
}

/// The run's settings and no measurements: nothing was offered.
fn simulate_run(_: &Host, a: &Args) -> HostResult<Value> {
    let r = run_options(a)?;
    benchmark::load::check_spec(&r.spec)?;
    Ok(planned_run(&r.spec))
}

/// A run's shape with no measurement in it: nothing was offered.
fn planned_run(spec: &LoadSpec) -> Value {
    json!({
        "time": null, "environment": {}, "spec": spec,
        "summary": {"operations": {}, "sent": 0, "dropped": 0, "offered_rate": spec.rate, "seconds": 0.0},
        "samples_us": {}, "errors": {}, "dry_run": true,
    })
}

fn replication_options(host: &Host, a: &Args) -> HostResult<replication::Options> {
    let r = run_options(a)?;
    let o = a.opts(0)?;
    let factors = match o.int_list("factors")? {
        Some(fs) => fs
            .into_iter()
            .map(|f| usize::try_from(f).unwrap_or(0))
            .collect(),
        None => vec![1, 3],
    };
    let rounds = o.int_in("rounds", 2, 0, 1000)? as u32;
    load::check_spec(&r.spec)?;
    replication::check(&factors, rounds, host.config.weaviate.nodes)?;
    Ok(replication::Options {
        spec: r.spec,
        records: r.records,
        dims: r.dims,
        factors,
        rounds,
    })
}

fn replication_run(host: &Host, a: &Args) -> HostResult<Value> {
    let o = replication_options(host, a)?;
    let runs = o.rounds as u64 * o.factors.len() as u64;
    let bar = host
        .out
        .progress_start("replication overhead (runs)", Some(runs));
    let r = replication::run(host, &o, Some(bar));
    host.out.progress_done(bar, None);
    r
}

/// The measurement's settings and order, and no measurements.
fn simulate_replication(host: &Host, a: &Args) -> HostResult<Value> {
    let o = replication_options(host, a)?;
    let order: Vec<usize> = (0..o.rounds)
        .flat_map(|r| replication::order(&o.factors, r))
        .collect();
    Ok(json!({
        "time": null, "environment": {}, "spec": o.spec, "factors": o.factors,
        "reference": o.factors[0], "rounds": o.rounds, "order": order,
        "method": replication::METHOD, "runs": {}, "ratios": {}, "dry_run": true,
    }))
}

fn save(_: &Host, a: &Args) -> HostResult<Value> {
    let path = benchmark::save(&a.str(0)?, &a.value(1))?;
    Ok(json!({"name": a.str(0)?, "path": path}))
}

fn simulate_save(_: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    Ok(
        json!({"name": name, "path": benchmark::saved_dir().join(format!("{name}.json")), "dry_run": true}),
    )
}

fn saved(_: &Host, a: &Args) -> HostResult<Value> {
    benchmark::saved(&a.str(0)?)
}

fn list(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(benchmark::list()?))
}

fn compare(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(2)?;
    let thresholds = o.str_list("thresholds")?.unwrap_or_default();
    let min = o.int_in("min_slowdown_percent", 10, 0, 1000)? as f64 / 100.0;
    benchmark::compare_runs(&a.value(0), &a.value(1), &thresholds, min)
}

/// The page of a run (and, with opts.baseline, the two compared).
fn report_of(a: &Args) -> HostResult<benchmark::report::Report> {
    let run = a.value(0);
    let baseline = a.value(2).get("baseline").cloned();
    let verdict = match &baseline {
        Some(b) => Some(benchmark::compare_runs(b, &run, &[], 0.1)?),
        None => None,
    };
    benchmark::report::html(&run, baseline.as_ref(), verdict.as_ref())
}

fn report(_: &Host, a: &Args) -> HostResult<Value> {
    let path = PathBuf::from(a.str(1)?);
    let r = report_of(a)?;
    crate::base::paths::write_atomic(&path, r.html.as_bytes())?;
    Ok(json!({"path": path, "bytes": r.html.len(), "plots": r.plots, "missing": r.missing}))
}

fn simulate_report(_: &Host, a: &Args) -> HostResult<Value> {
    let r = report_of(a)?;
    Ok(
        json!({"path": a.str(1)?, "bytes": r.html.len(), "plots": r.plots, "missing": r.missing, "dry_run": true}),
    )
}

fn export_csv(_: &Host, a: &Args) -> HostResult<Value> {
    let path = PathBuf::from(a.str(1)?);
    let (text, rows, missing) = benchmark::report::csv(&a.value(0))?;
    crate::base::paths::write_atomic(&path, text.as_bytes())?;
    Ok(json!({"path": path, "rows": rows, "bytes": text.len(), "missing": missing}))
}

fn simulate_export_csv(_: &Host, a: &Args) -> HostResult<Value> {
    let (text, rows, missing) = benchmark::report::csv(&a.value(0))?;
    Ok(
        json!({"path": a.str(1)?, "rows": rows, "bytes": text.len(), "missing": missing, "dry_run": true}),
    )
}

/// The options every load takes: bench::run's, and the shaped runs'.
fn load_opts(more: Vec<OptKey>) -> Vec<OptKey> {
    let mut v = vec![
        opt("rate", Ty::Number),
        opt("duration", Ty::Duration),
        opt("warmup", Ty::Duration),
        opt("concurrency", Ty::Int),
        opt("mix", Ty::Map),
        opt("consistency", Ty::one_of(["ONE", "QUORUM", "ALL"])),
        opt("collection", Ty::Str),
        opt("records", Ty::Int),
        opt("dims", Ty::Int),
        opt("seed", Ty::Int),
        opt("protocol", Ty::one_of(["grpc", "graphql"])),
    ];
    v.extend(more);
    v
}

pub fn functions() -> Vec<HostFn> {
    vec![
        write("bench", "run", run, simulate_run)
            .opts(load_opts(vec![]))
            .returns(Ty::record(&["time", "environment", "spec", "summary", "samples_us"]))
            .doc("Offer an open-model load: opts.rate = 50 requests a second for opts.duration = 30s after opts.warmup = 5s (sent, not recorded), at most opts.concurrency = 64 in flight (a request due beyond that is dropped and counted), drawn from opts.mix = #{get: 4, bm25: 2, near_vector: 2, filtered: 1, insert: 1} at opts.consistency = QUORUM, against the test dataset in opts.collection = \"BenchLoad\" (made when missing: pattern load, opts.records = 5000, vectors of opts.dims = 64). The operations: get, bm25, near_vector, hybrid, filtered (reads of the dataset); insert, update, delete, batch_insert, batch_delete (20 objects a batch), all writes going to a scratch collection removed afterwards, seeded before the run with the objects updates change and deletes remove (each delete removes one known to be there). Queries (bm25, near_vector, hybrid, filtered) go over opts.protocol = \"grpc\" (the search the official clients send; \"graphql\" is GraphQL over REST, what runs saved before gRPC measured); a query that finds nothing is an error. get, insert, update and delete go over REST, batch_insert over gRPC. Latency counts from when a request was due. Each node's CPU and memory are sampled through the run. Returns {time, environment, spec, summary: {operations: {op: {count, errors, error_rate, p50_ms, p90_ms, p95_ms, p99_ms, max_ms, throughput}}, sent, dropped, generator_cpu_s, generator_cpu_share, nodes: [{node, samples, cpu_mean_percent, cpu_max_percent, memory_first_bytes, memory_max_bytes, memory_last_bytes, memory_growth_bytes}]}, samples_us: {op: [µs]}, errors, requests, resources}."),
        write("bench", "stress", stress, simulate_stress)
            .opts(load_opts(vec![
                opt("start_rate", Ty::Number),
                opt("max_rate", Ty::Number),
                opt("factor", Ty::Number),
                opt("step", Ty::Duration),
                opt("p99", Ty::Duration),
                opt("max_error_rate", Ty::Str),
                opt("max_dropped", Ty::Str),
            ]))
            .returns(Ty::record(&["time", "environment", "spec", "summary", "samples_us", "stress"]))
            .doc("Find the breaking point: the load of bench.run, stepped up from opts.start_rate = 10 a second by opts.factor = 1.5 each opts.step = 10s (the first ramps up from nothing over opts.warmup) until a step breaks a limit (its p99 above opts.p99 = 500ms, failed requests above opts.max_error_rate = \"1%\", or more than opts.max_dropped = \"1%\" of due requests dropped because opts.concurrency were open), the rate passes opts.max_rate = 5000, or opts.duration (a budget for all steps) is spent. Each step starts when the previous one's open requests have finished. Returns a run (all steps, as bench.run's, so it saves, compares and reports) with stress: {steps: [{offered_rate, throughput, p50_ms, p95_ms, p99_ms, sent, errors, dropped, error_rate, held, broke_on}], breaking_point: {offered_rate, broke_on} or (), sustainable: {offered_rate, throughput, p99_ms} or (), limits, rates_planned}."),
        write("bench", "spike", spike, simulate_spike)
            .opts(load_opts(vec![
                opt("spike_rate", Ty::Number),
                opt("before", Ty::Duration),
                opt("spike", Ty::Duration),
                opt("after", Ty::Duration),
                opt("recovery_margin", Ty::Number),
            ]))
            .returns(Ty::record(&["time", "environment", "spec", "summary", "samples_us", "spike"]))
            .doc("A sudden step in load: opts.rate = 50 a second for opts.before = 10s (after opts.warmup), a step to opts.spike_rate (default 10 × rate) held for opts.spike = 10s, then back to opts.rate for opts.after = 30s. Returns a run with spike: {before, during, after: {ok, failed, p50_ms, p95_ms, p99_ms}, recovered, recovery_s: seconds after the spike ended until the per-second p95 stayed within opts.recovery_margin = 1.5 × the p95 before it (and at most 5 ms above it) with no failure for three seconds, or () if it did not within opts.after, per_second_after: [[s, p95_ms, failed]]}."),
        write("bench", "endurance", endurance, simulate_endurance)
            .opts(load_opts(vec![opt("window", Ty::Duration)]))
            .returns(Ty::record(&["time", "environment", "spec", "summary", "samples_us", "endurance"]))
            .doc("A long steady load (bench.run's options; set opts.duration, e.g. \"1h\") followed window by window (opts.window, default a twelfth of the run, at least 1 s). Returns a run with endurance: {window_s, windows: [{from_s, to_s, ok, failed, p50_ms, p95_ms, p99_ms}], p95_ms_per_hour (least-squares trend), p95_last_over_first, memory: [{node, bytes_per_hour, growth_bytes}]}."),
        write("bench", "replication", replication_run, simulate_replication)
            .opts(load_opts(vec![
                opt("factors", Ty::array(Ty::Int)),
                opt("rounds", Ty::Int),
            ]))
            .returns(Ty::record(&["time", "environment", "spec", "factors", "reference", "rounds", "order", "method", "runs", "ratios"]))
            .doc("Replication overhead: the load of bench.run (same opts) offered to a test dataset of each of opts.factors = [1, 3] (opts.collection with the factor as suffix, e.g. BenchLoadF1 and BenchLoadF3, made when missing with that factor and kept; its scratch collection has the same factor), opts.rounds = 2 times each, the order alternating round by round (1,3 then 3,1) so machine noise favours neither. A factor above the node count is refused. Returns {time, environment, spec, factors, reference (the first factor), rounds, order: [factor of each run], method, runs: {factor: {collection, fingerprint, summary}} (a factor's rounds pooled), ratios: {factor: {op: {p50, p95, throughput, p_value}}}}: each later factor's value over the reference's; p_value of the Mann-Whitney U test of their raw latencies."),
        write("bench", "save", save, simulate_save)
            .param("name", Ty::Str)
            .param("run", Ty::Map)
            .returns(Ty::record(&["name", "path"]))
            .doc("Save a run (what bench.run returned) under a name, replacing one saved before: {name, path}."),
        read("bench", "saved", saved)
            .param("name", Ty::Str)
            .returns(Ty::Map)
            .doc("A saved run, as bench.run returned it, with its name."),
        read("bench", "list", list)
            .returns(Ty::array(Ty::Map))
            .doc("Saved runs, newest first: [{name, time, rate, seconds, operations, weaviate, nodes}]."),
        read("bench", "compare", compare)
            .param("before", Ty::Map)
            .param("after", Ty::Map)
            .opts(vec![
                opt("thresholds", Ty::array(Ty::Str)),
                opt("min_slowdown_percent", Ty::Int),
            ])
            .returns(Ty::record(&["ok", "operations", "regressions", "thresholds_failed", "environment_differences"]))
            .doc("Compare two runs per operation with the Mann-Whitney U test on their raw samples (two-sided, p < 0.01): a regression is a significant difference whose median is slower by more than opts.min_slowdown_percent = 10. opts.thresholds such as [\"p95<50ms\", \"error_rate<1%\"] are checked on the later run. Returns {ok, operations: {op: {median_ms_before, median_ms_after, change, p_value, verdict}}, regressions, thresholds, thresholds_failed, environment_differences, test}."),
        write("bench", "report", report, simulate_report)
            .param("run", Ty::Map)
            .param("path", Ty::Str)
            .opts(vec![opt("baseline", Ty::Map)])
            .returns(Ty::record(&["path", "bytes", "plots", "missing"]))
            .doc("Write a run (what bench.run returned or bench.saved read) as one self-contained HTML page, replaced atomically: plots (inline SVG) of latency percentiles and throughput over time and a latency histogram; with opts.baseline (an earlier run) also both runs' latency at each percentile and the per-operation verdict of bench.compare. Returns {path, bytes, plots: [title], missing: [what the run lacks for a plot, e.g. a run saved before requests were recorded with their times]}."),
        write("bench", "export_csv", export_csv, simulate_export_csv)
            .param("run", Ty::Map)
            .param("path", Ty::Str)
            .returns(Ty::record(&["path", "rows", "bytes", "missing"]))
            .doc("Write a run's raw samples as CSV, replaced atomically: operation,start_offset_us,latency_us,outcome, a row a request in order of due time (µs after the measured part began; outcome ok or error). A run saved before requests were recorded gives its successful latencies with an empty start column and says so in missing. Returns {path, rows, bytes, missing}."),
    ]
}
