//! Replication overhead: one load offered to a dataset of each replication
//! factor (`BenchLoadF1`, `BenchLoadF3`: the same objects, replicated
//! differently), and per operation the ratio of each factor's latency and
//! throughput to the first factor's. The runs alternate (1,3 then 3,1, …)
//! so that a machine that gets busier or quieter over the runs does not
//! favour one factor, and each factor's rounds are pooled before the
//! percentiles are taken.

use super::compare;
use super::load::{self, LoadResult, LoadSpec};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use serde_json::{json, Map, Value};

/// How it was measured, as the result and the docs say it.
pub const METHOD: &str = "the same load (rate, mix, consistency, seed) against a dataset of each factor; \
the factors' runs alternate round by round (1,3 then 3,1, …), each with its own warm-up; \
a factor's rounds are pooled, then its percentiles taken; a ratio is the factor's value over the first factor's; \
p_value: Mann-Whitney U of the two factors' raw latencies";

/// A replication-overhead measurement: `spec` offered to each factor's
/// dataset `rounds` times, its collection being `spec.collection` with the
/// factor as suffix.
#[derive(Debug, Clone)]
pub struct Options {
    pub spec: LoadSpec,
    pub records: u64,
    pub dims: usize,
    pub factors: Vec<usize>,
    pub rounds: u32,
}

/// The dataset of one factor: `BenchLoad` → `BenchLoadF3`.
pub fn collection_of(base: &str, factor: usize) -> String {
    format!("{base}F{factor}")
}

/// The factors in the order round `round` runs them: as given, then
/// reversed, in turn, so each factor runs first as often as last.
pub fn order(factors: &[usize], round: u32) -> Vec<usize> {
    let mut o = factors.to_vec();
    if round % 2 == 1 {
        o.reverse();
    }
    o
}

/// Refuse factors that cannot be compared or placed on `nodes` nodes.
pub fn check(factors: &[usize], rounds: u32, nodes: usize) -> HostResult<()> {
    let distinct: std::collections::BTreeSet<_> = factors.iter().collect();
    if factors.len() < 2 || distinct.len() != factors.len() {
        return Err(HostError::validation(format!(
            "replication overhead compares two or more different factors, not {factors:?}"
        ))
        .with_hint("e.g. --factors 1,3"));
    }
    if let Some(f) = factors.iter().find(|f| **f == 0) {
        return Err(
            HostError::validation(format!("replication factor {f} is not one"))
                .with_hint("factors start at 1, e.g. --factors 1,3"),
        );
    }
    if let Some(f) = factors.iter().find(|f| **f > nodes) {
        return Err(HostError::validation(format!(
            "replication factor {f} needs at least {f} nodes; the cluster has {nodes}"
        ))
        .with_hint(format!(
            "give factors up to {nodes} (e.g. --factors 1,{nodes}), or add nodes first: `elysiactl weaviate scale --nodes {f}`"
        )));
    }
    if !(1..=20).contains(&rounds) {
        return Err(
            HostError::validation(format!("{rounds} rounds: give 1 to 20"))
                .with_hint("e.g. --rounds 2 (each factor runs first once)"),
        );
    }
    Ok(())
}

/// One factor's rounds as one result: samples and counts added up.
fn pool(into: &mut Option<LoadResult>, r: LoadResult) {
    let Some(acc) = into else {
        *into = Some(r);
        return;
    };
    for (op, xs) in r.latencies_us {
        acc.latencies_us.entry(op).or_default().extend(xs);
    }
    for (op, n) in r.errors {
        *acc.errors.entry(op).or_default() += n;
    }
    for e in r.first_errors {
        if acc.first_errors.len() < 5 {
            acc.first_errors.push(e);
        }
    }
    acc.dropped += r.dropped;
    acc.sent += r.sent;
    acc.seconds += r.seconds;
    acc.generator_cpu_s += r.generator_cpu_s;
}

fn ratio(a: &Value, b: &Value) -> Value {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 1000.0).round() / 1000.0),
        _ => Value::Null,
    }
}

/// Per operation, each later factor's p50, p95 and throughput over the
/// first factor's, and the p-value of their latencies differing.
pub fn ratios(reference: &LoadResult, others: &[(usize, &LoadResult)]) -> Map<String, Value> {
    let samples = |r: &LoadResult| -> Vec<(String, Vec<u64>)> {
        r.latencies_us
            .iter()
            .map(|(op, xs)| (op.as_str().to_string(), xs.clone()))
            .collect()
    };
    let base = reference.summary();
    let mut out = Map::new();
    for (factor, r) in others {
        let s = r.summary();
        let verdict = compare::compare(&samples(reference), &samples(r), 0.1);
        let mut ops = Map::new();
        for (op, a) in s["operations"].as_object().into_iter().flatten() {
            let b = &base["operations"][op];
            ops.insert(
                op.clone(),
                json!({
                    "p50": ratio(&a["p50_ms"], &b["p50_ms"]),
                    "p95": ratio(&a["p95_ms"], &b["p95_ms"]),
                    "throughput": ratio(&a["throughput"], &b["throughput"]),
                    "p_value": verdict["operations"][op]["p_value"],
                }),
            );
        }
        out.insert(factor.to_string(), Value::Object(ops));
    }
    out
}

/// Run the measurement; `progress` counts the runs done.
pub fn run(ctx: &Context, o: &Options, progress: Option<i64>) -> HostResult<Value> {
    load::check_spec(&o.spec)?;
    check(&o.factors, o.rounds, ctx.config.weaviate.nodes)?;
    let mut datasets = Vec::new();
    for f in &o.factors {
        let c = collection_of(&o.spec.collection, *f);
        datasets.push(super::dataset_at(ctx, &c, o.records, o.dims, Some(*f))?);
    }
    let mut pooled: Vec<Option<LoadResult>> = vec![None; o.factors.len()];
    let mut runs = Vec::new();
    for round in 0..o.rounds {
        let order = order(&o.factors, round);
        for f in &order {
            let i = o.factors.iter().position(|x| x == f).unwrap_or(0);
            let mut spec = o.spec.clone();
            spec.collection = collection_of(&o.spec.collection, *f);
            // The factors of a round see one request sequence; rounds differ.
            spec.seed = o.spec.seed.wrapping_add(round as u64);
            let r = load::run(ctx, &spec, datasets[i].clone(), None)?;
            pool(&mut pooled[i], r);
            if let Some(bar) = progress {
                ctx.out.progress_set(bar, Some(runs.len() as u64 + 1), None);
            }
            runs.push(*f);
        }
    }
    let pooled: Vec<LoadResult> = pooled.into_iter().flatten().collect();
    let mut per_factor = Map::new();
    for ((f, r), d) in o.factors.iter().zip(&pooled).zip(&datasets) {
        per_factor.insert(
            f.to_string(),
            json!({"collection": collection_of(&o.spec.collection, *f),
                   "fingerprint": d.fingerprint, "summary": r.summary()}),
        );
    }
    let others: Vec<(usize, &LoadResult)> = o.factors[1..]
        .iter()
        .copied()
        .zip(pooled[1..].iter())
        .collect();
    let mut env = super::environment(ctx, &datasets[0]);
    env["replication_factor"] = json!(o.factors);
    Ok(json!({
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "environment": env,
        "spec": o.spec,
        "factors": o.factors,
        "reference": o.factors[0],
        "rounds": o.rounds,
        "order": runs,
        "method": METHOD,
        "runs": per_factor,
        "ratios": ratios(&pooled[0], &others),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmark::load::Operation;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[test]
    fn rounds_alternate_the_order_so_each_factor_runs_first_as_often() {
        assert_eq!(order(&[1, 3], 0), [1, 3]);
        assert_eq!(order(&[1, 3], 1), [3, 1]);
        assert_eq!(order(&[1, 2, 3], 3), [3, 2, 1]);
        let firsts: Vec<usize> = (0..4).map(|r| order(&[1, 3], r)[0]).collect();
        assert_eq!(firsts, [1, 3, 1, 3]);
        assert_eq!(collection_of("BenchLoad", 3), "BenchLoadF3");
    }

    #[test]
    fn factors_above_the_node_count_or_not_comparable_are_refused() {
        check(&[1, 3], 2, 3).unwrap();
        let e = check(&[1, 3], 2, 1).unwrap_err();
        assert!(
            e.message
                .contains("needs at least 3 nodes; the cluster has 1"),
            "{e:?}"
        );
        assert!(
            format!("{e:?}").contains("weaviate scale --nodes 3"),
            "{e:?}"
        );
        assert!(check(&[3], 2, 3).is_err());
        assert!(check(&[3, 3], 2, 3).is_err());
        assert!(check(&[0, 1], 2, 3).is_err());
        assert!(check(&[1, 3], 0, 3).is_err());
    }

    fn result(latencies: &[(Operation, Vec<u64>)], errors: u64) -> LoadResult {
        let mix: BTreeMap<Operation, u32> = latencies.iter().map(|(o, _)| (*o, 1)).collect();
        LoadResult {
            spec: LoadSpec {
                collection: "C".into(),
                rate: 10.0,
                duration: Duration::from_secs(2),
                warmup: Duration::ZERO,
                max_in_flight: 8,
                mix,
                consistency: "QUORUM".into(),
                seed: 1,
                nodes: Vec::new(),
                protocol: crate::benchmark::load::Protocol::Grpc,
                stages: Vec::new(),
            },
            latencies_us: latencies.iter().cloned().collect(),
            errors: latencies.iter().map(|(o, _)| (*o, errors)).collect(),
            requests: Vec::new(),
            first_errors: vec!["x".into()],
            dropped: 1,
            sent: 10,
            seconds: 2.0,
            generator_cpu_s: 0.5,
            acknowledged: Vec::new(),
        }
    }

    #[test]
    fn rounds_are_pooled_and_ratios_are_over_the_first_factor() {
        let mut one = None;
        pool(&mut one, result(&[(Operation::Get, vec![1000; 10])], 0));
        pool(&mut one, result(&[(Operation::Get, vec![1000; 10])], 1));
        let one = one.unwrap();
        assert_eq!(one.latencies_us[&Operation::Get].len(), 20);
        assert_eq!(one.errors[&Operation::Get], 1);
        assert_eq!((one.sent, one.dropped, one.seconds), (20, 2, 4.0));
        assert_eq!(one.first_errors.len(), 2);
        let three = result(&[(Operation::Get, vec![3000; 20])], 0);
        let r = ratios(&one, &[(3, &three)]);
        let get = &r["3"]["get"];
        assert_eq!(get["p50"], 3.0, "{r:?}");
        assert_eq!(get["p95"], 3.0, "{r:?}");
        // 20 answers in 4 s against 20 in 2 s.
        assert_eq!(get["throughput"], 2.0, "{r:?}");
        assert!(get["p_value"].as_f64().unwrap() < 0.01, "{r:?}");
    }
}
