//! `health.check(opts)`: the health report the `health` command prints.

use super::{read, Args, Host, HostFn};
use crate::error::HostResult;
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
        sample_size: o.int_in("sample_size", 20, 1, 10_000)? as usize,
        last_errors: o.int_in("last_errors", 0, 0, 1000)? as usize,
    };
    health::check(host, &opts)
}

fn watch(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["interval", "export", "count", "json"])?;
    let interval = o
        .duration("interval")?
        .unwrap_or(std::time::Duration::from_secs(2));
    if interval < std::time::Duration::from_millis(200) {
        return Err(crate::error::HostError::validation(
            "the watch interval must be at least 0.2 s (0.2, 500ms, 2, 1m …)",
        )
        .with_hint("e.g. --interval 2"));
    }
    health::watch::watch(
        host,
        &health::watch::WatchOptions {
            interval,
            export: o.str("export")?.map(std::path::PathBuf::from),
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
        "Sample health every interval and show it live: a dashboard (nodes, RAFT, objects, CPU/memory/throughput sparklines, alerts when something gets worse) on a terminal, else one line per sample (opts.json: one JSON object per sample). opts: interval = \"2s\", export = a file to append NDJSON samples to, count = stop after N samples. Runs until q, Esc or Ctrl-C; returns {samples}.",
        watch),
        read("health", "check", "check(opts?: map) -> map",
        "The health report: {status: healthy|degraded|down, exit_code: 0|1|2, weaviate, elysia, cluster?, data?, problems: [{severity, check, message, hint}], seconds}. opts: cluster (membership, RAFT, replication of every collection), verbose (gRPC, counts, CPU, memory, PID), quick (no object counts), collection, data (compare sampled objects across replicas and time replication with a scratch collection it removes), sample_size = 20, last_errors = 0. The README documents the schema.",
        check)]
}
