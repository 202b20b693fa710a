//! What the shaped runs conclude from their requests: a stress step held
//! or broke, how long latency took to recover after a spike, how latency
//! and memory drifted through an endurance run. Pure functions of the
//! recorded requests (`[op, due µs, latency µs, ok]`) and node samples.

use super::load::Request;
use super::resources::Resources;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Latency and outcomes of the requests due in one stretch of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Window {
    pub from_s: f64,
    pub to_s: f64,
    pub ok: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    (sorted[i] as f64 / 100.0).round() / 10.0
}

/// The requests due in `[from_s, to_s)`.
pub fn window(reqs: &[Request], from_s: f64, to_s: f64) -> Window {
    let (lo, hi) = ((from_s * 1e6) as u64, (to_s * 1e6) as u64);
    let mut lat = Vec::new();
    let mut failed = 0;
    for r in reqs.iter().filter(|r| r.1 >= lo && r.1 < hi) {
        if r.3 {
            lat.push(r.2);
        } else {
            failed += 1;
        }
    }
    lat.sort_unstable();
    Window {
        from_s,
        to_s,
        ok: lat.len() as u64,
        failed,
        p50_ms: quantile_ms(&lat, 0.5),
        p95_ms: quantile_ms(&lat, 0.95),
        p99_ms: quantile_ms(&lat, 0.99),
    }
}

/// When a stress step counts as broken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub p99_ms: f64,
    /// Failed requests as a share of those sent, 0 to 1.
    pub error_rate: f64,
    /// Requests not sent because `concurrency` were open, as a share of
    /// those due: the cluster no longer keeps up at this concurrency.
    pub dropped: f64,
}

/// One step's verdict: its figures and, if it broke, why.
pub fn step_verdict(
    offered_rate: f64,
    seconds: f64,
    w: &Window,
    dropped: u64,
    limits: &Limits,
) -> Value {
    let sent = w.ok + w.failed;
    let error_rate = if sent == 0 {
        0.0
    } else {
        w.failed as f64 / sent as f64
    };
    let due = sent + dropped;
    let dropped_share = if due == 0 {
        0.0
    } else {
        dropped as f64 / due as f64
    };
    let mut broke = Vec::new();
    if w.p99_ms > limits.p99_ms {
        broke.push(format!("p99 {} ms > {} ms", w.p99_ms, limits.p99_ms));
    }
    if error_rate > limits.error_rate {
        broke.push(format!(
            "error rate {:.2}% > {}%",
            error_rate * 100.0,
            limits.error_rate * 100.0
        ));
    }
    if dropped_share > limits.dropped {
        broke.push(format!(
            "{:.1}% dropped at the concurrency limit > {}%",
            dropped_share * 100.0,
            limits.dropped * 100.0
        ));
    }
    if sent == 0 {
        broke.push("no request was answered".into());
    }
    json!({
        "offered_rate": (offered_rate * 10.0).round() / 10.0,
        "throughput": (w.ok as f64 / seconds.max(1e-9) * 10.0).round() / 10.0,
        "p50_ms": w.p50_ms, "p95_ms": w.p95_ms, "p99_ms": w.p99_ms,
        "sent": sent, "errors": w.failed, "dropped": dropped,
        "error_rate": (error_rate * 10000.0).round() / 10000.0,
        "held": broke.is_empty(), "broke_on": broke,
    })
}

/// The steps' conclusion: the first step that broke, and the highest
/// throughput of a step that held before it.
pub fn stress_verdict(steps: &[Value]) -> Value {
    let breaking = steps.iter().find(|s| s["held"] == false);
    let sustainable = steps
        .iter()
        .take_while(|s| s["held"] == true)
        .max_by(|a, b| {
            a["throughput"]
                .as_f64()
                .partial_cmp(&b["throughput"].as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    json!({
        "breaking_point": breaking.map(|s| json!({"offered_rate": s["offered_rate"], "broke_on": s["broke_on"]})),
        "sustainable": sustainable.map(|s| json!({"offered_rate": s["offered_rate"], "throughput": s["throughput"], "p99_ms": s["p99_ms"]})),
    })
}

/// A spike's effect: latency before, during and after, and how long after
/// the spike ended the per-second p95 came back within `margin` times the
/// p95 before it (and at most 5 ms above it, so a tiny baseline does not
/// make noise count as not recovered) for three seconds running, with no
/// failed request in them.
pub fn spike(reqs: &[Request], before_s: f64, spike_s: f64, after_s: f64, margin: f64) -> Value {
    let base = window(reqs, 0.0, before_s);
    let during = window(reqs, before_s, before_s + spike_s);
    let end = before_s + spike_s;
    let after = window(reqs, end, end + after_s);
    let limit = (base.p95_ms * margin).max(base.p95_ms + 5.0);
    let seconds: Vec<Window> = (0..after_s.floor() as usize)
        .map(|i| window(reqs, end + i as f64, end + i as f64 + 1.0))
        .collect();
    let calm = |w: &Window| w.failed == 0 && w.ok > 0 && w.p95_ms <= limit;
    let recovered_at = (0..seconds.len().saturating_sub(2))
        .find(|&i| seconds[i..i + 3].iter().all(calm))
        .map(|i| i as f64);
    json!({
        "before": base, "during": during, "after": after,
        "recovery_limit_p95_ms": (limit * 10.0).round() / 10.0,
        "recovered": recovered_at.is_some(),
        "recovery_s": recovered_at,
        "per_second_after": seconds.iter().map(|w| json!([w.from_s - end, w.p95_ms, w.failed])).collect::<Vec<_>>(),
    })
}

/// Least-squares slope of y over x (None with fewer than two distinct x).
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    Some(points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx)
}

/// An endurance run's drift: latency per window, the p95's trend (least
/// squares, ms per hour) and last window against first; each node's
/// memory trend (bytes per hour) and growth.
pub fn drift(reqs: &[Request], seconds: f64, window_s: f64, resources: &Resources) -> Value {
    let n = (seconds / window_s).ceil().max(1.0) as usize;
    let windows: Vec<Window> = (0..n)
        .map(|i| {
            window(
                reqs,
                i as f64 * window_s,
                ((i + 1) as f64 * window_s).min(seconds),
            )
        })
        .collect();
    let p95: Vec<(f64, f64)> = windows
        .iter()
        .filter(|w| w.ok > 0)
        .map(|w| ((w.from_s + w.to_s) / 2.0 / 3600.0, w.p95_ms))
        .collect();
    let first_last = p95
        .first()
        .zip(p95.last())
        .filter(|(a, _)| a.1 > 0.0)
        .map(|(a, b)| (b.1 / a.1 * 100.0).round() / 100.0);
    let memory: Vec<Value> = resources
        .nodes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let pts: Vec<(f64, f64)> = resources
                .samples
                .iter()
                .filter(|s| s.0 == i)
                .filter_map(|s| s.3.map(|m| (s.1 / 3600.0, m as f64)))
                .collect();
            json!({
                "node": name,
                "bytes_per_hour": slope(&pts).map(|s| s.round()),
                "growth_bytes": pts.first().zip(pts.last()).map(|(a, b)| (b.1 - a.1) as i64),
            })
        })
        .collect();
    json!({
        "window_s": window_s,
        "windows": windows,
        "p95_ms_per_hour": slope(&p95).map(|s| (s * 10.0).round() / 10.0),
        "p95_last_over_first": first_last,
        "memory": memory,
    })
}

#[cfg(test)]
mod tests {
    use super::super::load::Operation;
    use super::super::resources::NodeSample;
    use super::*;

    fn req(at_s: f64, ms: f64, ok: bool) -> Request {
        Request(
            Operation::Get,
            (at_s * 1e6) as u64,
            (ms * 1000.0) as u64,
            ok,
        )
    }

    const LIMITS: Limits = Limits {
        p99_ms: 100.0,
        error_rate: 0.01,
        dropped: 0.01,
    };

    #[test]
    fn a_step_breaks_on_latency_errors_or_drops_and_the_last_held_is_sustainable() {
        let fast: Vec<Request> = (0..100).map(|i| req(i as f64 / 100.0, 5.0, true)).collect();
        let held = step_verdict(100.0, 1.0, &window(&fast, 0.0, 1.0), 0, &LIMITS);
        assert_eq!(held["held"], true, "{held}");
        assert_eq!(held["throughput"], 100.0);
        let slow: Vec<Request> = (0..100)
            .map(|i| req(i as f64 / 100.0, 500.0, true))
            .collect();
        let v = step_verdict(200.0, 1.0, &window(&slow, 0.0, 1.0), 0, &LIMITS);
        assert_eq!(v["held"], false);
        assert!(
            v["broke_on"][0].as_str().unwrap().starts_with("p99 500"),
            "{v}"
        );
        let dropped = step_verdict(300.0, 1.0, &window(&fast, 0.0, 1.0), 50, &LIMITS);
        assert!(
            dropped["broke_on"][0].as_str().unwrap().contains("dropped"),
            "{dropped}"
        );
        let failing: Vec<Request> = (0..100)
            .map(|i| req(i as f64 / 100.0, 5.0, i % 10 != 0))
            .collect();
        let f = step_verdict(100.0, 1.0, &window(&failing, 0.0, 1.0), 0, &LIMITS);
        assert!(
            f["broke_on"][0]
                .as_str()
                .unwrap()
                .starts_with("error rate 10.00%"),
            "{f}"
        );
        let verdict = stress_verdict(&[held.clone(), v.clone(), held]);
        assert_eq!(verdict["breaking_point"]["offered_rate"], 200.0);
        assert_eq!(verdict["sustainable"]["offered_rate"], 100.0);
        let none = stress_verdict(&[]);
        assert!(none["breaking_point"].is_null() && none["sustainable"].is_null());
    }

    #[test]
    fn a_spike_recovers_when_three_calm_seconds_follow_it() {
        // 10 s calm at 5 ms, a 5 s spike at 200 ms, then 4 s slow, calm after.
        let mut reqs = Vec::new();
        for i in 0..300 {
            let t = i as f64 / 10.0;
            let ms = if (10.0..19.0).contains(&t) {
                200.0
            } else {
                5.0
            };
            reqs.push(req(t, ms, true));
        }
        let s = spike(&reqs, 10.0, 5.0, 15.0, 1.5);
        assert_eq!(s["recovered"], true, "{s}");
        assert_eq!(s["recovery_s"], 4.0, "{s}");
        assert_eq!(s["before"]["p95_ms"], 5.0);
        assert_eq!(s["during"]["p95_ms"], 200.0);
        let never = spike(&reqs, 10.0, 5.0, 3.0, 1.5);
        assert_eq!(never["recovered"], false, "{never}");
        assert!(never["recovery_s"].is_null());
    }

    #[test]
    fn drift_finds_latency_and_memory_rising_through_a_run() {
        // p95 rises 1 ms every 10 s: 360 ms an hour.
        let reqs: Vec<Request> = (0..600)
            .map(|i| {
                let t = i as f64 / 10.0;
                req(t, 5.0 + (t / 10.0).floor(), true)
            })
            .collect();
        let res = Resources {
            interval_s: 1.0,
            nodes: vec!["n0".into()],
            samples: (0..60)
                .map(|s| NodeSample(0, s as f64, Some(10.0), Some(1000 + 10 * s)))
                .collect(),
            missing: vec![],
        };
        let d = drift(&reqs, 60.0, 10.0, &res);
        assert_eq!(d["windows"].as_array().unwrap().len(), 6);
        assert_eq!(d["p95_ms_per_hour"], 360.0, "{d}");
        assert_eq!(d["p95_last_over_first"], 2.0);
        assert_eq!(d["memory"][0]["bytes_per_hour"], 36000.0);
        assert_eq!(d["memory"][0]["growth_bytes"], 590);
    }
}
