//! Searchable means indexed: with `ASYNC_INDEXING` on, Weaviate acknowledges
//! a batch before its vectors are in the HNSW graph, and a vector search
//! misses them until each shard's queue is drained. `index sync` waits for
//! that, so the time it reports is the time to searchable.

use crate::base::context::Context;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a sync waits for the queues before it reports them pending.
const WAIT_LIMIT: Duration = Duration::from_secs(1800);
const POLL: Duration = Duration::from_millis(250);

/// Vectors still queued across every replica of `class`'s shards, and
/// whether every shard reports its vector index READY.
fn pending(ctx: &Context, class: &str) -> Result<(i64, bool), String> {
    let client = super::node0_client(ctx);
    let status = ctx
        .block_on(client.nodes_status_for(class, true))
        .map_err(|e| e.to_string())?;
    let shards = status.nodes.iter().flat_map(|n| n.shards.iter());
    let (mut queued, mut ready) = (0, true);
    for s in shards.filter(|s| s.class == class) {
        queued += s.vector_queue_length.max(0);
        ready &= s.vector_indexing_status.is_empty() || s.vector_indexing_status == "READY";
    }
    Ok((queued, ready))
}

/// Waits until no vector of `class` is queued; the figures say how long it
/// took and what was left when it could not tell or gave up (the sync's
/// writes are done either way, so this never fails the run).
pub(super) fn drain(ctx: &Context, class: &str) -> Value {
    let t0 = Instant::now();
    let bar = ctx.out.progress_start("vector queue", None);
    let (mut first, mut last) = (None, 0);
    let outcome = loop {
        match pending(ctx, class) {
            Ok((0, true)) => break "drained",
            Ok((queued, _)) => {
                first.get_or_insert(queued);
                last = queued;
                ctx.out
                    .progress_set(bar, None, Some(&format!("{queued} vectors queued")));
            }
            Err(e) => {
                ctx.out.progress_done(bar, None);
                return json!({"state": "unknown", "why": e, "seconds": seconds(t0)});
            }
        }
        if t0.elapsed() > WAIT_LIMIT {
            break "pending";
        }
        std::thread::sleep(POLL);
    };
    ctx.out.progress_done(bar, None);
    json!({
        "state": outcome,
        "queued_at_first_look": first.unwrap_or(0),
        "queued": if outcome == "drained" { 0 } else { last },
        "seconds": seconds(t0),
    })
}

fn seconds(t0: Instant) -> f64 {
    (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}
