//! Resource use of a running container, computed the way `docker stats`
//! does.

use super::containers::inspect;
use super::errors::engine_error;
use super::models::ContainerStats;
use super::Docker;
use crate::base::error::{HostError, HostResult};
use bollard::container::{Stats, StatsOptions};
use futures_util::StreamExt;

/// CPU percent from two samples, the way `docker stats` computes it.
fn cpu_percent(s: &Stats) -> Option<f64> {
    let total = s.cpu_stats.cpu_usage.total_usage;
    let pre_total = s.precpu_stats.cpu_usage.total_usage;
    let system = s.cpu_stats.system_cpu_usage?;
    let pre_system = s.precpu_stats.system_cpu_usage?;
    if pre_system == 0 || system <= pre_system {
        return None;
    }
    let cpus = s
        .cpu_stats
        .online_cpus
        .filter(|n| *n > 0)
        .or_else(|| {
            s.cpu_stats
                .cpu_usage
                .percpu_usage
                .as_ref()
                .map(|v| v.len() as u64)
                .filter(|n| *n > 0)
        })
        .unwrap_or(1);
    let cpu_delta = total.saturating_sub(pre_total) as f64;
    let system_delta = (system - pre_system) as f64;
    Some((cpu_delta / system_delta * cpus as f64 * 100.0 * 10.0).round() / 10.0)
}

/// Memory without the inactive page cache, as `docker stats` reports it.
fn memory_in_use(s: &Stats) -> u64 {
    use bollard::container::MemoryStatsStats;
    let usage = s.memory_stats.usage.unwrap_or(0);
    let cache = match s.memory_stats.stats {
        Some(MemoryStatsStats::V1(v1)) => v1.total_inactive_file,
        Some(MemoryStatsStats::V2(v2)) => v2.inactive_file,
        None => 0,
    };
    if cache < usage {
        usage - cache
    } else {
        usage
    }
}

fn to_container_stats(s: &Stats) -> ContainerStats {
    let memory_bytes = memory_in_use(s);
    let limit = s.memory_stats.limit.unwrap_or(0);
    let (rx, tx) = s
        .networks
        .as_ref()
        .map(|n| {
            n.values()
                .fold((0, 0), |(r, t), v| (r + v.rx_bytes, t + v.tx_bytes))
        })
        .unwrap_or((0, 0));
    ContainerStats {
        cpu_percent: cpu_percent(s),
        memory_bytes,
        memory_usage_bytes: s.memory_stats.usage.unwrap_or(0),
        memory_limit_bytes: limit,
        memory_percent: (limit > 0)
            .then(|| (memory_bytes as f64 / limit as f64 * 100.0 * 10.0).round() / 10.0),
        pids: s.pids_stats.current.unwrap_or(0),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        online_cpus: s.cpu_stats.online_cpus.unwrap_or(0),
        cpu_total_ns: s.cpu_stats.cpu_usage.total_usage,
        system_cpu_ns: s.cpu_stats.system_cpu_usage.unwrap_or(0),
    }
}

/// One stats sample of a running (or paused) container. The engine takes two
/// readings about a second apart, so this takes that long; the CPU percent is
/// computed from the difference.
pub async fn stats(docker: &Docker, name: &str) -> HostResult<ContainerStats> {
    read_stats(docker, name, false).await
}

/// One reading without the engine's second sample, so `cpu_percent` is None:
/// for callers that compute CPU use from their own earlier reading
/// (`cpu_total_ns`, `system_cpu_ns`). Docker 20.10 still answers on its next
/// collection tick, so a call can take up to a second while the engine's
/// stats collector is busy (instant when it is idle).
pub async fn stats_now(docker: &Docker, name: &str) -> HostResult<ContainerStats> {
    read_stats(docker, name, true).await
}

async fn read_stats(docker: &Docker, name: &str, one_shot: bool) -> HostResult<ContainerStats> {
    let c = inspect(docker, name).await?;
    if !c.running {
        return Err(HostError::validation(format!(
            "container {name} is not running (state {})",
            c.state
        ))
        .with_hint("stats need a running container; start it first"));
    }
    let mut stream = docker.stats(
        name,
        Some(StatsOptions {
            stream: false,
            one_shot,
        }),
    );
    match stream.next().await {
        Some(Ok(s)) => Ok(to_container_stats(&s)),
        Some(Err(e)) => Err(engine_error(&format!("cannot read stats of {name}"), e)),
        None => Err(
            HostError::unknown(format!("the Docker engine sent no stats for {name}"))
                .with_hint("try again; if it persists, check dockerd's log"),
        ),
    }
}
