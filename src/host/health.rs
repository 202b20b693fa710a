//! `health.check(opts)`: the health report the `health` command prints.

use super::{read, write, Args, Host, HostFn};
use crate::base::error::{HostError, HostResult};
use crate::health::{self, Options};
use serde_json::Value;

fn check(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&[
        "cluster",
        "verbose",
        "quick",
        "collection",
        "data",
        "sample_size",
        "last_errors",
    ])?;
    let opts = Options {
        cluster: o.bool("cluster", false)?,
        verbose: o.bool("verbose", false)?,
        quick: o.bool("quick", false)?,
        collection: o.str("collection")?,
        data: o.bool("data", false)?,
        probe_lag: !host.dry_run,
        sample_size: o.int_in("sample_size", 20, 1, 10_000)? as usize,
        last_errors: o.int_in("last_errors", 0, 0, 1000)? as usize,
    };
    if opts.data && host.dry_run {
        host.out.plan_line(
            "would create, write to and remove a scratch collection to time replication",
        );
    }
    health::check(host, &opts)
}

fn watch(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    if o.get("export").is_some() {
        // Appending to a file is a write, so that --dry-run can intercept it.
        return Err(
            HostError::validation("health.watch() only reads; it exports nothing")
                .with_hint("append the samples to a file with health.watch_export(file, opts)"),
        );
    }
    watch_with(host, &o, None)
}

fn watch_export(host: &Host, a: &Args) -> HostResult<Value> {
    let file = a.str(0)?;
    watch_with(host, &a.opts(1)?, Some(std::path::PathBuf::from(file)))
}

/// Under --dry-run the samples are still taken and shown (reads run); only
/// the file is left alone.
fn simulate_watch_export(host: &Host, a: &Args) -> HostResult<Value> {
    a.str(0)?;
    watch_with(host, &a.opts(1)?, None)
}

fn watch_with(
    host: &Host,
    o: &super::args::Opts,
    export: Option<std::path::PathBuf>,
) -> HostResult<Value> {
    o.only(&["interval", "count", "json"])?;
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
        },
    )
}

pub fn functions() -> Vec<HostFn> {
    vec![read("health", "watch", "watch(opts?: map) -> map",
        "Sample health every interval and show it live: a dashboard (nodes, RAFT, objects, CPU/memory/throughput sparklines, alerts when something gets worse) on a terminal, else one line per sample (opts.json: one JSON object per sample). opts: interval = \"2s\", count = stop after N samples. Runs until q, Esc or Ctrl-C; returns {samples}.",
        watch),
        write("health", "watch_export", "watch_export(file: string, opts?: map) -> map",
        "health.watch(opts), and every sample appended to file as NDJSON. In a dry run the samples are shown and the file is not touched.",
        watch_export, Some(simulate_watch_export)),
        read("health", "check", "check(opts?: map) -> map",
        "The health report: {status: healthy|degraded|down, exit_code: 0|1|2, weaviate, elysia, cluster?, data?, problems: [{severity, check, message, hint}], seconds}. opts: cluster (membership, RAFT, replication of every collection), verbose (gRPC, counts, CPU, memory, PID), quick (no object counts), collection, data (compare sampled objects across replicas and time replication with a scratch collection it removes), sample_size = 20, last_errors = 0. The README documents the schema.",
        check)]
}
