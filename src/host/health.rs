//! `health.check(opts)`: the health report the `health` command prints.

use super::{opt, read, refused, write, Args, Host, HostFn, Ty};
use crate::base::error::HostResult;
use crate::health::{self, Options};
use serde_json::Value;

fn options(a: &Args, probe_lag: bool) -> HostResult<Options> {
    let o = a.opts(0)?;
    Ok(Options {
        cluster: o.bool("cluster", false)?,
        verbose: o.bool("verbose", false)?,
        quick: o.bool("quick", false)?,
        collection: o.str("collection")?,
        data: o.bool("data", false)?,
        probe_lag,
        sample_size: o.int_in("sample_size", 20, 1, 10_000)? as usize,
        last_errors: o.int_in("last_errors", 0, 0, 1000)? as usize,
    })
}

fn check(host: &Host, a: &Args) -> HostResult<Value> {
    health::check(host, &options(a, true)?)
}

/// `data` times replication by writing to a scratch collection: planned
/// under --dry-run, where the replicas are still compared (reads run) and the
/// report says the timing was skipped.
fn simulate_check(host: &Host, a: &Args) -> HostResult<Value> {
    health::check(host, &options(a, false)?)
}

fn repair_options(a: &Args, plan_only: bool) -> HostResult<health::data::RepairOptions> {
    let o = a.opts(0)?;
    Ok(health::data::RepairOptions {
        collection: o.str("collection")?,
        sample_size: o.int_in("sample_size", 20, 1, 10_000)? as usize,
        enable_async_replication: o.bool("enable_async_replication", false)?,
        plan_only,
    })
}

fn repair_data(host: &Host, a: &Args) -> HostResult<Value> {
    health::data::repair(host, &repair_options(a, false)?)
}

/// The replicas are compared for real (reads); what would be read at ALL
/// and whether async replication would be turned on is listed.
fn simulate_repair_data(host: &Host, a: &Args) -> HostResult<Value> {
    health::data::repair(host, &repair_options(a, true)?)
}

fn watch(host: &Host, a: &Args) -> HostResult<Value> {
    watch_with(host, &a.opts(0)?, None, true)
}

/// The lag probe writes (a scratch collection): under --dry-run the watch
/// samples everything else.
fn simulate_watch(host: &Host, a: &Args) -> HostResult<Value> {
    watch_with(host, &a.opts(0)?, None, false)
}

fn watch_export(host: &Host, a: &Args) -> HostResult<Value> {
    let file = a.str(0)?;
    watch_with(
        host,
        &a.opts(1)?,
        Some(std::path::PathBuf::from(file)),
        true,
    )
}

/// Under --dry-run the samples are still taken and shown (reads run); only
/// the file and the lag probe's collection are left alone.
fn simulate_watch_export(host: &Host, a: &Args) -> HostResult<Value> {
    a.str(0)?;
    watch_with(host, &a.opts(1)?, None, false)
}

fn watch_with(
    host: &Host,
    o: &super::args::Opts,
    export: Option<std::path::PathBuf>,
    lag_allowed: bool,
) -> HostResult<Value> {
    let interval = o
        .duration("interval")?
        .unwrap_or(std::time::Duration::from_secs(2));
    if interval < std::time::Duration::from_millis(200) {
        return Err(crate::base::error::HostError::validation(
            "the watch interval must be at least 0.2 s (0.2, 500ms, 2, 1m …)",
        )
        .with_hint("e.g. --interval 2"));
    }
    health::watch::watch(
        host,
        &health::watch::WatchOptions {
            interval,
            export,
            count: match o.int("count")? {
                Some(_) => Some(o.int_in("count", 1, 1, i64::MAX)? as u64),
                None => None,
            },
            json: o.bool("json", false)?,
            lag_every: match o.int("lag_every")? {
                Some(_) if lag_allowed => {
                    Some(o.int_in("lag_every", 5, 0, 1_000_000)? as u64).filter(|&k| k > 0)
                }
                _ => None,
            },
            lag_alert_ms: o.int_in("lag_alert_ms", 1000, 0, 3_600_000)? as f64,
            disk_alert_percent: o.int_in("disk_alert_percent", 90, 1, 100)? as f64,
        },
    )
}

pub fn functions() -> Vec<HostFn> {
    let watch_opts = || {
        vec![
            opt("interval", Ty::Duration),
            opt("count", Ty::Int),
            opt("json", Ty::Bool),
            opt("lag_every", Ty::Int),
            opt("lag_alert_ms", Ty::Int),
            opt("disk_alert_percent", Ty::Int),
        ]
    };
    let samples = || Ty::record(&["samples"]);
    vec![
        read("health", "watch", watch)
            .opts({
                let mut keys = watch_opts();
                // Appending to a file is a write, which a read cannot do.
                keys.push(refused(
                    "export",
                    "append the samples to a file with health.watch_export(file, opts)",
                ));
                keys
            })
            .writes_when(&["lag_every"], simulate_watch)
            .returns(samples())
            .doc("Sample health every interval and show it live: a dashboard (nodes and Elysia, RAFT, objects, each node's data size and free disk, CPU/memory/throughput/replication-lag/disk sparklines, alerts when something gets worse or crosses a threshold) on a terminal, else one line per sample (opts.json: one JSON object per sample). opts: interval = \"2s\", count = stop after N samples, lag_every = measure the replication lag every N samples (a write into a scratch collection it removes; none under --dry-run), lag_alert_ms = 1000, disk_alert_percent = 90. Runs until q, Esc or Ctrl-C; returns {samples}."),
        write("health", "watch_export", watch_export, simulate_watch_export)
            .param("file", Ty::Str)
            .opts(watch_opts())
            .returns(samples())
            .doc("health.watch(opts), and every sample written to file: a .json file holds one JSON array, rewritten atomically after each sample; any other (.ndjson, .jsonl) gets one line per sample appended. In a dry run the samples are shown and the file is not touched."),
        write("health", "repair_data", repair_data, simulate_repair_data)
            .opts(vec![
                opt("collection", Ty::Str),
                opt("sample_size", Ty::Int),
                opt("enable_async_replication", Ty::Bool),
            ])
            .returns(Ty::record(&["collections", "touched"]))
            .doc("Repair what health.check({data: true}) finds: every sampled object missing on or differing between replicas is read at consistency ALL (Weaviate's read repair writes the newest version to the replicas that lack it), then every replica is read again. opts: collection, sample_size = 20, enable_async_replication (turn it on for those collections where it is off). Returns {collections: [{name, factor, read_at_all, fixed, remaining, read_errors, async_replication: on|enabled|off}], touched, fixed, remaining}; in a dry run {collections: [{name, would_read_at_all, async_replication}], touched, dry_run}."),
        read("health", "check", check)
            .opts(vec![
                opt("cluster", Ty::Bool),
                opt("verbose", Ty::Bool),
                opt("quick", Ty::Bool),
                opt("collection", Ty::Str),
                opt("data", Ty::Bool),
                opt("sample_size", Ty::Int),
                opt("last_errors", Ty::Int),
            ])
            .writes_when(&["data"], simulate_check)
            .returns(Ty::record(&["status", "exit_code", "problems", "seconds"]))
            .doc("The health report: {status: healthy|degraded|down, exit_code: 0|1|2, weaviate, elysia, cluster?, data?, problems: [{severity, check, message, hint}], seconds}. opts: cluster (membership, RAFT, replication of every collection), verbose (gRPC, counts, CPU, memory, PID), quick (no object counts), collection, data (compare sampled objects across replicas and time replication with a scratch collection it removes: a write, planned under --dry-run), sample_size = 20, last_errors = 0. docs/health-and-repair.md documents the schema."),
    ]
}
