//! Collection aliases for scripts: list, create, switch, delete. Under
//! `--dry-run` a planned change is remembered (fact `alias.<Name>` = the
//! collection, or null when deleted) so later reads of the run see it.

use super::{any_node, any_node_write};
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate as wv;
use crate::host::{opt, read, write, Args, Host, HostFn, Ty};
use serde_json::{json, Value};

const SIMULATED: &str = "aliases.simulated";

fn fact_key(alias: &str) -> String {
    format!("alias.{alias}")
}

fn set_simulated(host: &Host, alias: &str, class: Value) {
    let mut names: Vec<Value> = host
        .plan
        .fact(SIMULATED)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if !names.iter().any(|n| n == alias) {
        names.push(json!(alias));
        host.plan.set_fact(SIMULATED, Value::Array(names));
    }
    host.plan.set_fact(&fact_key(alias), class);
}

/// The alias as this run sees it: the simulated target in a dry run, else
/// the cluster's. None when there is no such alias.
fn current(host: &Host, alias: &str) -> HostResult<Option<String>> {
    if host.dry_run {
        if let Some(v) = host.plan.fact(&fact_key(alias)) {
            return Ok(v.as_str().map(str::to_string));
        }
    }
    let a = alias.to_string();
    let found = any_node(host, move |c| {
        let a = a.clone();
        async move { c.alias(&a).await }
    })?;
    Ok(found.and_then(|v| v["class"].as_str().map(str::to_string)))
}

fn aliases(host: &Host, a: &Args) -> HostResult<Value> {
    let class = a
        .opts(0)?
        .str("collection")?
        .map(|c| wv::class_name(&c))
        .transpose()?;
    let mut list = any_node(host, |c| async move { c.aliases(None).await })?;
    if host.dry_run {
        for name in host
            .plan
            .fact(SIMULATED)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
        {
            let name = name.as_str().unwrap_or_default();
            list.retain(|x| x["alias"].as_str() != Some(name));
            if let Some(Value::String(target)) = host.plan.fact(&fact_key(name)) {
                list.push(json!({"alias": name, "class": target}));
            }
        }
    }
    list.retain(|x| {
        class
            .as_ref()
            .is_none_or(|c| x["class"].as_str() == Some(c))
    });
    list.sort_by(|x, y| x["alias"].as_str().cmp(&y["alias"].as_str()));
    Ok(Value::Array(list))
}

fn alias(host: &Host, a: &Args) -> HostResult<Value> {
    let alias = wv::class_name(&a.str(0)?)?;
    Ok(match current(host, &alias)? {
        Some(class) => json!({"alias": alias, "class": class}),
        None => Value::Null,
    })
}

fn names(a: &Args) -> HostResult<(String, String)> {
    Ok((wv::class_name(&a.str(0)?)?, wv::class_name(&a.str(1)?)?))
}

fn create_alias(host: &Host, a: &Args) -> HostResult<Value> {
    let (alias, class) = names(a)?;
    any_node_write(host, |c| {
        let (alias, class) = (alias.clone(), class.clone());
        async move { c.create_alias(&alias, &class).await }
    })
}

fn simulate_create(host: &Host, a: &Args) -> HostResult<Value> {
    let (alias, class) = names(a)?;
    if let Some(now) = current(host, &alias)? {
        return Err(HostError::validation(format!(
            "alias {alias} exists already (it points at {now}), so creating it would fail"
        ))
        .with_hint("switch it with cluster.update_alias"));
    }
    set_simulated(host, &alias, json!(class));
    Ok(json!({"alias": alias, "class": class}))
}

fn update_alias(host: &Host, a: &Args) -> HostResult<Value> {
    let (alias, class) = names(a)?;
    any_node_write(host, |c| {
        let (alias, class) = (alias.clone(), class.clone());
        async move { c.update_alias(&alias, &class).await }
    })
}

fn simulate_update(host: &Host, a: &Args) -> HostResult<Value> {
    let (alias, class) = names(a)?;
    if current(host, &alias)?.is_none() {
        return Err(
            HostError::validation(format!("no alias {alias}, so switching it would fail"))
                .with_hint("create it with cluster.create_alias"),
        );
    }
    set_simulated(host, &alias, json!(class));
    Ok(json!({"alias": alias, "class": class}))
}

fn delete_alias(host: &Host, a: &Args) -> HostResult<Value> {
    let alias = wv::class_name(&a.str(0)?)?;
    let existed = any_node_write(host, |c| {
        let alias = alias.clone();
        async move { c.delete_alias(&alias).await }
    })?;
    Ok(json!(existed))
}

fn simulate_delete(host: &Host, a: &Args) -> HostResult<Value> {
    let alias = wv::class_name(&a.str(0)?)?;
    let existed = current(host, &alias)?.is_some();
    set_simulated(host, &alias, Value::Null);
    Ok(json!(existed))
}

pub(super) fn functions() -> Vec<HostFn> {
    vec![
        read("cluster", "aliases", aliases)
            .opts(vec![opt("collection", Ty::Str)])
            .returns(Ty::array(Ty::record(&["alias", "class"])))
            .doc("The collection aliases (GET /v1/aliases), sorted: [{alias, class}]; opts.collection: only those pointing at it. In a dry run, planned changes included."),
        read("cluster", "alias", alias)
            .param("alias", Ty::Str)
            .returns(Ty::record(&["alias", "class"]).or_null())
            .doc("One alias: {alias, class}, or null when there is none."),
        write("cluster", "create_alias", create_alias, simulate_create)
            .param("alias", Ty::Str)
            .param("collection", Ty::Str)
            .returns(Ty::record(&["alias", "class"]))
            .doc("Create an alias for a collection (POST /v1/aliases): readers may use the alias wherever a collection name goes. The alias must not be a collection's name."),
        write("cluster", "update_alias", update_alias, simulate_update)
            .param("alias", Ty::Str)
            .param("collection", Ty::Str)
            .returns(Ty::record(&["alias", "class"]))
            .doc("Point an existing alias at another collection at once (PUT /v1/aliases/{alias}): readers through the alias switch without a gap."),
        write("cluster", "delete_alias", delete_alias, simulate_delete)
            .param("alias", Ty::Str)
            .returns(Ty::Bool)
            .doc("Delete an alias (the collection stays); whether it existed."),
    ]
}
