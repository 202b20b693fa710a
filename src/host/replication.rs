//! Replication repair for scripts: `replication.plan("Article", 3)`,
//! `replication.scale("Article", 3)`, `replication.recreate_empty(...)`,
//! `replication.set_factor(...)`. The data guards live here, in the host,
//! so no script can skip them.

use super::cluster::{any_node, first_ready, set_simulated, simulated};
use super::{opt, read, write, Args, Host, HostFn, Ty};
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

/// The definition as this run knows it: simulated, else the cluster's.
fn current_def(host: &Host, class: &str) -> HostResult<Value> {
    match simulated(host, class) {
        Some(d) if !d.is_null() => Ok(d),
        _ => {
            let c = class.to_string();
            any_node(host, move |cl| {
                let c = c.clone();
                async move { cl.get_class(&c).await }
            })
        }
    }
}

fn factor_of(def: &Value) -> u64 {
    def["replicationConfig"]["factor"].as_u64().unwrap_or(1)
}

/// Under --dry-run: the collection at its new factor, which later reads of
/// the run see; returns the factor it had.
fn plan_factor(host: &Host, class: &str, mut def: Value, factor: u64) -> u64 {
    let from = factor_of(&def);
    def["replicationConfig"]["factor"] = json!(factor);
    set_simulated(host, class, def);
    from
}

/// The leader's plan says how many copies a scale would start; a plan that
/// would lose data is refused as the real call refuses it.
fn simulate_scale(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let def = current_def(host, &class)?;
    let from = factor_of(&def);
    repair::check_raise(&class, from, factor)?;
    let c = first_ready(host)?;
    let (plan, problems) = repair::plan(&c, host, &class, factor)?;
    repair::check_plan_is_safe(&class, &problems)?;
    let operations: usize = plan["shardScaleActions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, action)| action["addNodes"].as_object().map_or(0, |n| n.len()))
        .sum();
    plan_factor(host, &class, def, factor);
    Ok(
        json!({"collection": class, "method": "scale", "from": from, "to": factor,
              "operations": operations, "seconds": null, "dry_run": true}),
    )
}

/// Refused for a collection that holds objects, as the real call is; the
/// backup it would write is named, not written.
fn simulate_recreate(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let def = current_def(host, &class)?;
    if simulated(host, &class).is_none() {
        let c = first_ready(host)?;
        repair::check_empty(&class, host.block_on(c.count(&class))?)?;
    }
    let from = plan_factor(host, &class, def, factor);
    Ok(
        json!({"collection": class, "method": "recreate", "from": from, "to": factor,
              "backup": repair::backup_path(&class), "dry_run": true}),
    )
}

fn simulate_set(host: &Host, a: &Args) -> HostResult<Value> {
    let (class, factor) = target(a)?;
    let from = plan_factor(host, &class, current_def(host, &class)?, factor);
    Ok(
        json!({"collection": class, "method": "set_factor", "from": from, "to": factor, "dry_run": true}),
    )
}

pub fn functions() -> Vec<HostFn> {
    let factor_change = |extra: &[&'static str]| {
        let mut keys = vec!["collection", "method", "from", "to"];
        keys.extend(extra);
        Ty::record(&keys)
    };
    vec![
        read("replication", "plan", plan)
            .param("collection", Ty::Str)
            .param("factor", Ty::Int)
            .returns(Ty::record(&["plan", "safe", "problems"]))
            .doc("The leader's plan to give every shard `factor` replicas (GET /v1/replication/scale): {plan: {planId, shardScaleActions}, safe, problems}. Safe means it only adds replicas, each copied from an existing one. Changes nothing."),
        write("replication", "scale", scale, simulate_scale)
            .param("collection", Ty::Str)
            .param("factor", Ty::Int)
            .opts(vec![opt("timeout", Ty::Duration)])
            .returns(factor_change(&["operations", "seconds"]))
            .doc("Raise a collection's factor keeping its data: apply the scale plan, wait until every copy is READY, check every shard has the replicas, then write the factor with a full GET-edit-PUT. Refuses unsafe plans and servers without replica movement. Ctrl-C or the timeout cancels the copies. opts: timeout = \"10m\"."),
        write("replication", "recreate_empty", recreate_empty, simulate_recreate)
            .param("collection", Ty::Str)
            .param("factor", Ty::Int)
            .returns(factor_change(&["backup"]))
            .doc("Recreate an EMPTY collection with the factor: back its schema up to $XDG_STATE_HOME/elysiactl/backups/ first. Refuses when it holds any object. Returns {collection, method, from, to, backup}."),
        write("replication", "set_factor", set_factor, simulate_set)
            .param("collection", Ty::Str)
            .param("factor", Ty::Int)
            .returns(factor_change(&[]))
            .doc("Write a factor with a full GET-edit-PUT, nothing else. Raising needs every shard to have the replicas already (use scale); lowering leaves extra replicas in place."),
    ]
}
