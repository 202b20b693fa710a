//! Is a run slower than its baseline? Per operation, the two runs' raw
//! latency samples are compared with the Mann-Whitney U test (no
//! assumption about the shape of the distributions, which latencies never
//! have), two-sided, normal approximation with a tie correction; a
//! regression is a significant difference (p < 0.01) where the later run's
//! median is also slower by more than `min_slowdown` (so a tiny but
//! significant change in a long run is not called one). Thresholds in k6's
//! style (`p95<50ms`, `error_rate<1%`) are checked on the later run.

use crate::base::error::{HostError, HostResult};
use serde_json::{json, Value};

/// (U of the first sample, two-sided p-value).
pub fn mann_whitney(a: &[u64], b: &[u64]) -> (f64, f64) {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return (0.0, 1.0);
    }
    let mut all: Vec<(u64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_unstable_by_key(|(x, _)| *x);
    // Ranks, ties sharing their mean rank; the tie term corrects the variance.
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += all[i..j].iter().filter(|(_, in_a)| *in_a).count() as f64 * mean_rank;
        i = j;
    }
    let u1 = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return (u1, 1.0);
    }
    // Continuity correction of half a unit towards the mean.
    let z = ((u1 - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (u1, (2.0 * normal_upper_tail(z)).min(1.0))
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26, error
/// below 1.5e-7: far finer than a 0.01 significance level needs).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

pub fn median(samples: &[u64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) as f64 / 2.0
    } else {
        s[m] as f64
    }
}

/// One threshold: a metric of an operation's summary, `<` or `<=`, a bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub text: String,
    /// p50, p90, p95, p99, max (milliseconds) or error_rate (a fraction).
    pub metric: String,
    pub inclusive: bool,
    pub bound: f64,
}

/// `p95<50ms`, `p99 <= 1s`, `error_rate<1%`, `error_rate<0.01`.
pub fn parse_threshold(text: &str) -> HostResult<Threshold> {
    let bad = || {
        HostError::validation(format!("threshold {text:?} does not parse"))
            .with_hint("write it as k6 does: p95<50ms, p99<=1s, error_rate<1% (metrics: p50, p90, p95, p99, max, error_rate)")
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (metric, inclusive, value) = if let Some((m, v)) = compact.split_once("<=") {
        (m, true, v)
    } else if let Some((m, v)) = compact.split_once('<') {
        (m, false, v)
    } else {
        return Err(bad());
    };
    let metric = metric.to_ascii_lowercase();
    let bound = if metric == "error_rate" {
        match value.strip_suffix('%') {
            Some(p) => p.parse::<f64>().map_err(|_| bad())? / 100.0,
            None => value.parse::<f64>().map_err(|_| bad())?,
        }
    } else if ["p50", "p90", "p95", "p99", "max"].contains(&metric.as_str()) {
        if let Some(ms) = value.strip_suffix("ms") {
            ms.parse::<f64>().map_err(|_| bad())?
        } else if let Some(s) = value.strip_suffix('s') {
            s.parse::<f64>().map_err(|_| bad())? * 1000.0
        } else {
            return Err(bad());
        }
    } else {
        return Err(bad());
    };
    if !bound.is_finite() || bound < 0.0 {
        return Err(bad());
    }
    Ok(Threshold {
        text: text.to_string(),
        metric,
        inclusive,
        bound,
    })
}

impl Threshold {
    /// Whether an operation's summary (`LoadResult::summary`) meets it.
    pub fn holds(&self, op_summary: &Value) -> (bool, f64) {
        let key = if self.metric == "error_rate" {
            "error_rate".to_string()
        } else {
            format!("{}_ms", self.metric)
        };
        let v = op_summary[&key].as_f64().unwrap_or(f64::INFINITY);
        let ok = if self.inclusive {
            v <= self.bound
        } else {
            v < self.bound
        };
        (ok, v)
    }
}

/// Compare per operation; `before`/`after` map an operation's name to its
/// raw samples (µs). Returns {operations: {op: {...}}, regressions: [op]}.
pub fn compare(
    before: &[(String, Vec<u64>)],
    after: &[(String, Vec<u64>)],
    min_slowdown: f64,
) -> Value {
    let mut ops = serde_json::Map::new();
    let mut regressions = Vec::new();
    for (op, a) in after {
        let Some((_, b)) = before.iter().find(|(o, _)| o == op) else {
            continue;
        };
        let (u, p) = mann_whitney(b, a);
        let (mb, ma) = (median(b), median(a));
        let change = if mb > 0.0 { ma / mb - 1.0 } else { 0.0 };
        let regressed = p < 0.01 && change > min_slowdown;
        if regressed {
            regressions.push(op.clone());
        }
        ops.insert(
            op.clone(),
            json!({
                "median_ms_before": (mb / 100.0).round() / 10.0,
                "median_ms_after": (ma / 100.0).round() / 10.0,
                "change": (change * 1000.0).round() / 1000.0,
                "u": u, "p_value": p,
                "samples_before": b.len(), "samples_after": a.len(),
                "verdict": if regressed { "regression" } else if p < 0.01 && change < -min_slowdown { "faster" } else { "same" },
            }),
        );
    }
    json!({"operations": ops, "regressions": regressions, "test": "Mann-Whitney U, two-sided, p < 0.01", "min_slowdown": min_slowdown})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_a_worked_example() {
        // U = 0; mean 12.5, variance 25 * 11 / 12; z = (12.5 - 0.5) / sd = 2.5067;
        // two-sided p = erfc(z / sqrt 2) = 0.012186 (what scipy's mannwhitneyu
        // gives with use_continuity=True, method="asymptotic").
        let (u, p) = mann_whitney(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10]);
        assert_eq!(u, 0.0);
        assert!((p - 0.012186).abs() < 1e-5, "{p}");
        let (_, p) = mann_whitney(&[5, 5, 5, 5], &[5, 5, 5, 5]);
        assert_eq!(p, 1.0, "identical samples");
    }

    #[test]
    fn a_run_compared_with_itself_passes_and_a_slower_one_regresses() {
        let base: Vec<u64> = (0..500).map(|i| 1000 + (i * 37 % 400)).collect();
        let same = compare(
            &[("get".into(), base.clone())],
            &[("get".into(), base.clone())],
            0.1,
        );
        assert_eq!(same["regressions"], json!([]));
        assert_eq!(same["operations"]["get"]["verdict"], "same");
        let slow: Vec<u64> = base.iter().map(|x| x * 2).collect();
        let r = compare(
            &[("get".into(), base.clone())],
            &[("get".into(), slow)],
            0.1,
        );
        assert_eq!(r["regressions"], json!(["get"]));
        // Significant but within the allowed slowdown: not a regression.
        let bit: Vec<u64> = base.iter().map(|x| x + 40).collect();
        let r = compare(&[("get".into(), base)], &[("get".into(), bit)], 0.1);
        assert_eq!(r["regressions"], json!([]));
    }

    #[test]
    fn thresholds_read_as_k6_writes_them() {
        let t = parse_threshold("p95<50ms").unwrap();
        assert_eq!(
            (t.metric.as_str(), t.inclusive, t.bound),
            ("p95", false, 50.0)
        );
        assert_eq!(parse_threshold("p99 <= 1.5s").unwrap().bound, 1500.0);
        assert_eq!(parse_threshold("error_rate<1%").unwrap().bound, 0.01);
        assert!(parse_threshold("p97<5ms").is_err());
        assert!(parse_threshold("p95>5ms").is_err());
        assert!(
            parse_threshold("p95<5").is_err(),
            "a latency needs its unit"
        );
        let summary = json!({"p95_ms": 40.0, "error_rate": 0.02});
        assert!(t.holds(&summary).0);
        assert!(!parse_threshold("error_rate<1%").unwrap().holds(&summary).0);
    }
}
