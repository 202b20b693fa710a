//! Each node's CPU and memory, sampled beside a benchmark run: where the
//! time went when latency rose (a node at 100% of a core, memory growing
//! through an endurance run). Sampled through the runtime, the way `status`
//! reads a node: /proc for processes (and containers whose server is visible
//! from here), the Docker engine's stats otherwise. A remote cluster's
//! processes are out of sight, and the run says so.

use crate::base::config::RuntimeKind;
use crate::base::context::Context;
use crate::base::error::HostResult;
use crate::runtime::WeaviateRuntime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One reading of one node: `[node index, seconds after the measured part
/// began, CPU in percent of one core since the previous reading (none for a
/// node's first reading, or when it was not running), memory in bytes]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NodeSample(pub usize, pub f64, pub Option<f64>, pub Option<u64>);

/// What a run saved of its nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Resources {
    pub interval_s: f64,
    /// Node names, by index.
    pub nodes: Vec<String>,
    pub samples: Vec<NodeSample>,
    /// Why there are no samples, or fewer than asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl Resources {
    /// Per node: mean and highest CPU, and memory at the first reading, its
    /// highest, at the last, and the growth from first to last.
    pub fn summary(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (i, name) in self.nodes.iter().enumerate() {
            let mine: Vec<&NodeSample> = self.samples.iter().filter(|s| s.0 == i).collect();
            let cpu: Vec<f64> = mine.iter().filter_map(|s| s.2).collect();
            let mem: Vec<u64> = mine.iter().filter_map(|s| s.3).collect();
            let round = |x: f64| (x * 10.0).round() / 10.0;
            out.push(json!({
                "node": name,
                "samples": mine.len(),
                "cpu_mean_percent": (!cpu.is_empty()).then(|| round(cpu.iter().sum::<f64>() / cpu.len() as f64)),
                "cpu_max_percent": cpu.iter().copied().reduce(f64::max).map(round),
                "memory_first_bytes": mem.first(),
                "memory_max_bytes": mem.iter().max(),
                "memory_last_bytes": mem.last(),
                "memory_growth_bytes": mem.first().zip(mem.last()).map(|(a, b)| *b as i64 - *a as i64),
            }));
        }
        out
    }
}

/// The sampling interval for a run of `seconds`: about 60 readings a node
/// for a short run, at least half a second apart (/proc counts CPU in
/// hundredths of a second), at most five seconds for an endurance run.
pub fn interval_for(seconds: f64) -> Duration {
    Duration::from_secs_f64((seconds / 60.0).clamp(0.5, 5.0))
}

/// A sampler running on a thread of its own until `finish`.
pub struct Sampler {
    stop: crossbeam_channel::Sender<()>,
    thread: std::thread::JoinHandle<Resources>,
}

/// Start sampling every node every `interval`; readings in the first
/// `skip` (the warm-up) are taken, for the CPU deltas, but not kept.
pub fn start(ctx: &Context, interval: Duration, skip: Duration) -> Sampler {
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    let nodes: Vec<String> = (0..ctx.config.weaviate.nodes)
        .map(|i| ctx.config.weaviate.node(i).name.clone())
        .collect();
    let runtime = crate::runtime::select(&ctx.config, &ctx.rt);
    let thread = std::thread::spawn(move || {
        let mut r = Resources {
            interval_s: interval.as_secs_f64(),
            nodes,
            ..Default::default()
        };
        let rt = match runtime {
            Ok(rt) if rt.kind() == RuntimeKind::Remote => {
                r.missing.push(
                    "per-node CPU and memory: the remote runtime cannot see its nodes' processes"
                        .into(),
                );
                return r;
            }
            Ok(rt) => rt,
            Err(e) => {
                r.missing
                    .push(format!("per-node CPU and memory: {}", e.message));
                return r;
            }
        };
        sample(rt.as_ref(), &mut r, interval, skip, &stopped);
        r
    });
    Sampler { stop, thread }
}

fn sample(
    rt: &dyn WeaviateRuntime,
    r: &mut Resources,
    interval: Duration,
    skip: Duration,
    stopped: &crossbeam_channel::Receiver<()>,
) {
    let t0 = Instant::now();
    let mut previous: Vec<Option<(f64, Instant)>> = vec![None; r.nodes.len()];
    let mut unreadable: Vec<String> = Vec::new();
    loop {
        for (i, prev) in previous.iter_mut().enumerate() {
            let now = Instant::now();
            let st = match rt.node_state(i) {
                Ok(st) => st,
                Err(e) => {
                    if unreadable.len() < 3 {
                        unreadable.push(format!("{}: {}", r.nodes[i], e.message));
                    }
                    continue;
                }
            };
            let cpu = match (st.running, st.cpu_seconds, *prev) {
                (true, Some(c), Some((c0, t))) if c >= c0 => {
                    let wall = now.duration_since(t).as_secs_f64();
                    (wall > 0.0).then(|| ((c - c0) / wall * 1000.0).round() / 10.0)
                }
                _ => None,
            };
            *prev = st.cpu_seconds.filter(|_| st.running).map(|c| (c, now));
            let t = now.duration_since(t0);
            if t >= skip {
                let at = ((t - skip).as_secs_f64() * 1000.0).round() / 1000.0;
                let mem = st.memory_bytes.filter(|_| st.running);
                r.samples.push(NodeSample(i, at, cpu, mem));
            }
        }
        // A stop (or a dropped sender) ends sampling at once.
        match stopped.recv_timeout(interval) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    if !unreadable.is_empty() {
        r.missing
            .push(format!("some readings failed: {}", unreadable.join("; ")));
    }
}

impl Sampler {
    /// Stop sampling and hand over what was read.
    pub fn finish(self) -> HostResult<Resources> {
        let _ = self.stop.send(());
        Ok(self.thread.join().unwrap_or_else(|_| Resources {
            missing: vec!["per-node CPU and memory: the sampler failed".into()],
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_each_node_its_cpu_and_memory_growth() {
        let r = Resources {
            interval_s: 1.0,
            nodes: vec!["a".into(), "b".into()],
            samples: vec![
                NodeSample(0, 0.0, None, Some(100)),
                NodeSample(1, 0.0, None, None),
                NodeSample(0, 1.0, Some(50.0), Some(300)),
                NodeSample(0, 2.0, Some(150.0), Some(250)),
            ],
            missing: vec![],
        };
        let s = r.summary();
        assert_eq!(s[0]["cpu_mean_percent"], 100.0);
        assert_eq!(s[0]["cpu_max_percent"], 150.0);
        assert_eq!(s[0]["memory_max_bytes"], 300);
        assert_eq!(s[0]["memory_growth_bytes"], 150);
        assert_eq!(s[1]["samples"], 1);
        assert!(s[1]["cpu_mean_percent"].is_null());
    }

    #[test]
    fn intervals_stay_between_half_a_second_and_five() {
        assert_eq!(interval_for(6.0), Duration::from_millis(500));
        assert_eq!(interval_for(120.0), Duration::from_secs(2));
        assert_eq!(interval_for(3600.0), Duration::from_secs(5));
    }
}
