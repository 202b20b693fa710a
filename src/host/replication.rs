//! Replication repair for scripts: `replication.plan("Article", 3)`,
//! `replication.scale("Article", 3)`, `replication.recreate_empty(...)`,
//! `replication.set_factor(...)`. The data guards live here, in the host,
//! so no script can skip them.

use super::cluster::{any_node, first_ready, set_simulated, simulated};
use super::{read, write, Args, Host, HostFn};
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate as wv;
use crate::repair;
use serde_json::{json, Value};
use std::time::Duration;

fn target(a: &Args) -> HostResult<(String, u64)> {
    let class = wv::class_name(&a.str(0)?)?;
    let factor = a.int(1)?;
    if !(1..=64).contains(&factor) {
        return Err(
            HostError::validation(format!("replication factor {factor} is out of range"))
                .with_hint("give a factor from 1 to the number of nodes"),
        );
    }
    Ok((class, factor as u64))
}

fn plan(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let c = first_ready(host)?;
    let (plan, reasons) = repair::plan(&c, host, &class, factor)?;
    Ok(json!({"plan": plan, "safe": reasons.is_empty(), "problems": reasons}))
}

fn scale(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let o = a.opts(2)?;
    o.only(&["timeout"])?;
    let timeout = o.duration("timeout")?.unwrap_or(Duration::from_secs(600));
    repair::scale_up(host, &first_ready(host)?, &class, factor, timeout)
}

fn recreate_empty(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    repair::recreate_empty(host, &first_ready(host)?, &class, factor)
}

fn set_factor(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let c = first_ready(host)?;
    let mut def = host.block_on(c.get_class(&class))?;
    let from = def["replicationConfig"]["factor"].as_u64().unwrap_or(1);
    def["replicationConfig"]["factor"] = json!(factor);
    host.block_on(c.update_class(&class, &def))?;
    Ok(json!({"collection": class, "method": "set_factor", "from": from, "to": factor}))
}

/// Under --dry-run: later reads see the collection at its new factor.
fn simulate_factor(host: &Host, a: &Args, method: &str) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let mut def = match simulated(host, &class) {
        Some(d) if !d.is_null() => d,
        _ => {
            let c = class.clone();
            any_node(host, move |cl| {
                let c = c.clone();
                async move { cl.get_class(&c).await }
            })?
        }
    };
    let from = def["replicationConfig"]["factor"].as_u64().unwrap_or(1);
    def["replicationConfig"]["factor"] = json!(factor);
    set_simulated(host, &class, def);
    Ok(json!({"collection": class, "method": method, "from": from, "to": factor, "dry_run": true}))
}

fn simulate_scale(host: &Host, a: &Args) -> HostResult<Value> {
    simulate_factor(host, a, "scale")
}
fn simulate_recreate(host: &Host, a: &Args) -> HostResult<Value> {
    simulate_factor(host, a, "recreate")
}
fn simulate_set(host: &Host, a: &Args) -> HostResult<Value> {
    simulate_factor(host, a, "set_factor")
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("replication", "plan", "plan(collection: string, factor: int) -> map",
            "The leader's plan to give every shard `factor` replicas (GET /v1/replication/scale): {plan: {planId, shardScaleActions}, safe, problems}. Safe means it only adds replicas, each copied from an existing one. Changes nothing.",
            plan),
        write("replication", "scale", "scale(collection: string, factor: int, opts?: map) -> map",
            "Raise a collection's factor keeping its data: apply the scale plan, wait until every copy is READY, check every shard has the replicas, then write the factor with a full GET-edit-PUT. Refuses unsafe plans and servers without replica movement. Ctrl-C or the timeout cancels the copies. opts: timeout = \"10m\".",
            scale, Some(simulate_scale)),
        write("replication", "recreate_empty", "recreate_empty(collection: string, factor: int) -> map",
            "Recreate an EMPTY collection with the factor: back its schema up to $XDG_STATE_HOME/elysiactl/backups/ first. Refuses when it holds any object. Returns {backup, from, to}.",
            recreate_empty, Some(simulate_recreate)),
        write("replication", "set_factor", "set_factor(collection: string, factor: int) -> map",
            "Write a factor with a full GET-edit-PUT, nothing else. Raising needs every shard to have the replicas already (use scale); lowering leaves extra replicas in place.",
            set_factor, Some(simulate_set)),
    ]
}
