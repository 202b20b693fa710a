//! Backups from scripts: `backup.create(#{wait: true})`, `backup.list()`,
//! `backup.verify(id)`, `backup.restore(id, #{wait: true})`,
//! `backup.prune(#{retain: 7})`, `backup.store()`. The domain is
//! `crate::backup`; the `backup` commands are thin scripts over these.
//!
//! A dry run plans without the store: it names the collections a backup or
//! restore would take and, where the store answers, what pruning would
//! remove; the real call is what refuses when [backup] is not configured.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::backup::{self, CreateOpts, RestoreOpts};
use crate::base::error::HostResult;
use crate::clients::weaviate::backups::backup_id;
use crate::clients::weaviate::Cluster;
use crate::services::{envs, scratch};
use serde_json::{json, Value};
use std::time::Duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

fn list_opt(o: &super::args::Opts, key: &str) -> HostResult<Vec<String>> {
    Ok(o.str_list(key)?.unwrap_or_default())
}

fn create_opts(a: &Args) -> HostResult<CreateOpts> {
    let o = a.opts(0)?;
    let id = o.str("id")?;
    if let Some(id) = &id {
        backup_id(id)?;
    }
    let compression = o.str("compression")?;
    if let Some(c) = &compression {
        backup::compression_level(c)?;
    }
    let base = o.str("base")?;
    if let Some(b) = &base {
        backup_id(b)?;
    }
    Ok(CreateOpts {
        id,
        base,
        incremental: o.bool("incremental", false)?,
        include: list_opt(&o, "include")?,
        exclude: list_opt(&o, "exclude")?,
        compression,
        wait: o.bool("wait", false)?,
        timeout: o.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT),
    })
}

fn create(host: &Host, a: &Args) -> HostResult<Value> {
    backup::create(host, &create_opts(a)?)
}

/// The collections the backup would hold: those named, or every one but
/// those excluded.
fn simulate_create(host: &Host, a: &Args) -> HostResult<Value> {
    let o = create_opts(a)?;
    let collections = if o.include.is_empty() {
        let c = Cluster::in_context(host, &host.config.weaviate.node_specs());
        host.block_on(c.any_node(|n| async move { n.class_names().await }))?
            .into_iter()
            .filter(|c| !o.exclude.contains(c))
            .collect()
    } else {
        o.include.clone()
    };
    Ok(
        json!({"id": o.id.unwrap_or_else(backup::default_id), "status": "PLANNED",
              "collections": collections, "base": o.base, "seconds": null, "files": null, "size_bytes": null,
              "dry_run": true}),
    )
}

fn list(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(backup::list(host)?))
}

/// (deep, timeout) of a verify call.
fn verify_opts(a: &Args) -> HostResult<(bool, Duration)> {
    let o = a.opts(1)?;
    Ok((
        o.bool("deep", false)?,
        o.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT),
    ))
}

fn verify(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.str(0)?;
    let (deep, timeout) = verify_opts(a)?;
    let mut r = backup::verify(host, &id)?;
    if deep {
        let d = scratch::deep_verify(host, &id, timeout)?;
        merge_deep(&mut r, d);
    }
    Ok(r)
}

/// The deep check's findings join the report's: `ok` only when both are.
fn merge_deep(r: &mut Value, deep: Value) {
    let ok = r["ok"] == true && deep["ok"] == true;
    if let (Some(p), Some(more)) = (r["problems"].as_array_mut(), deep["problems"].as_array()) {
        p.extend(more.iter().cloned());
    }
    r["ok"] = json!(ok);
    r["deep"] = deep;
}

/// The shallow checks run (they only read); the scratch cluster a deep
/// check starts is not, and the collections it would compare are named.
fn simulate_verify(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.str(0)?;
    backup_id(&id)?;
    if !host.config.backup.enabled {
        return Ok(
            json!({"id": id, "ok": true, "status": "PLANNED", "missing": [], "problems": [],
                  "deep": {"planned": true}, "dry_run": true}),
        );
    }
    let mut r = backup::verify(host, &id)?;
    let deep = match backup::recorded_collections(host, &id)? {
        Ok(c) => json!({"planned": true, "available": true,
                         "nodes": backup::backup_nodes(host, &id)?.len(),
                         "collections": c.keys().collect::<Vec<_>>()}),
        Err(why) => json!({"planned": true, "available": false, "problems": [why]}),
    };
    r["deep"] = deep;
    r["dry_run"] = json!(true);
    Ok(r)
}

fn restore_opts(a: &Args) -> HostResult<RestoreOpts> {
    let o = a.opts(1)?;
    Ok(RestoreOpts {
        include: list_opt(&o, "include")?,
        exclude: list_opt(&o, "exclude")?,
        wait: o.bool("wait", false)?,
        timeout: o.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT),
    })
}

fn target_of(a: &Args) -> HostResult<Option<String>> {
    a.opts(1)?.str("target")
}

fn restore(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.str(0)?;
    let o = restore_opts(a)?;
    match target_of(a)? {
        Some(env) => {
            let there = envs::context_of(&env, &host.rt)?;
            backup::restore_into(host, Some((&env, &there)), &id, &o)
        }
        None => backup::restore(host, &id, &o),
    }
}

/// Plans the restore: the collections it would bring back and, with a
/// target, that environment exists and reads the same store.
fn simulate_restore(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.str(0)?;
    backup_id(&id)?;
    let o = restore_opts(a)?;
    let target = target_of(a)?;
    if let Some(env) = &target {
        let there = envs::context_of(env, &host.rt)?;
        if host.config.backup.enabled {
            backup::check_same_store(&host.config.backup, &there.config.backup, env)?;
        }
    }
    let collections = if host.config.backup.enabled {
        backup::restore_plan(host, &id, &o.include, &o.exclude)?
    } else {
        o.include.clone()
    };
    Ok(
        json!({"id": id, "status": "PLANNED", "collections": collections, "target": target,
              "seconds": null, "dry_run": true}),
    )
}

fn retain_of(a: &Args) -> HostResult<usize> {
    Ok(a.opts(0)?.int_in("retain", 7, 0, 10_000)? as usize)
}

fn prune(host: &Host, a: &Args) -> HostResult<Value> {
    backup::prune(host, retain_of(a)?)
}

fn simulate_prune(host: &Host, a: &Args) -> HostResult<Value> {
    let retain = retain_of(a)?;
    let rows = if host.config.backup.enabled {
        backup::list(host)?
    } else {
        Vec::new()
    };
    let (kept, deleted) = backup::prune_plan(&rows, retain)?;
    Ok(json!({"kept": kept, "deleted": deleted, "freed_bytes": null, "dry_run": true}))
}

fn store(host: &Host, _: &Args) -> HostResult<Value> {
    backup::store::status(host)
}

pub fn functions() -> Vec<HostFn> {
    let names = || Ty::array(Ty::Str);
    let wait = || {
        vec![
            opt("include", names()),
            opt("exclude", names()),
            opt("wait", Ty::Bool),
            opt("timeout", Ty::Duration),
        ]
    };
    let mut create_keys = wait();
    create_keys.push(opt("id", Ty::Str));
    create_keys.push(opt("compression", Ty::Str));
    create_keys.push(opt("base", Ty::Str));
    create_keys.push(opt("incremental", Ty::Bool));
    vec![
        write("backup", "create", create, simulate_create)
            .opts(create_keys)
            .returns(Ty::Record(vec![
                ("id", Ty::Str),
                ("status", Ty::Str),
                ("collections", names()),
                ("base", Ty::Str.or_null()),
                ("seconds", Ty::Number.or_null()),
                ("files", Ty::Int.or_null()),
                ("size_bytes", Ty::Int.or_null()),
            ]))
            .doc("Back up the cluster into the store ([backup]) through Weaviate's backup-s3 module. Opts: id (default elysiactl-YYYYMMDD-HHMMSS), include or exclude (collections, wildcards allowed), compression (default, speed, best, zstd, zstd-speed, zstd-best, none), base (an earlier backup: only files changed since go in) or incremental (base: the newest successful backup; full when none), wait (until it ends, with progress; then records every file and its size in <id>/elysiactl-manifest.json for verify), timeout (1h)."),
        read("backup", "list", list)
            .returns(Ty::array(Ty::Record(vec![
                ("id", Ty::Str),
                ("time", Ty::Any),
                ("collections", Ty::Array(Box::new(Ty::Any))),
                ("size_bytes", Ty::Int),
                ("status", Ty::Any),
                ("base", Ty::Str.or_null()),
            ])))
            .doc("Every backup in the store, newest first: id, time (started), completed, collections, size_bytes and files (as the store holds them), status, base (of an incremental backup)."),
        read("backup", "verify", verify)
            .param("id", Ty::Str)
            .opts(vec![opt("deep", Ty::Bool), opt("timeout", Ty::Duration)])
            .writes_when(&["deep"], simulate_verify)
            .returns(Ty::Record(vec![
                ("id", Ty::Str),
                ("ok", Ty::Bool),
                ("status", Ty::Str),
                ("missing", names()),
                ("problems", names()),
            ]))
            .doc("Check a backup: Weaviate says SUCCESS, and every file recorded at creation is in the store with its recorded size (and each node's part Weaviate's descriptor names). ok is false with missing, wrong_size and problems saying what is wrong. opts.deep: also restore it into a scratch cluster (process nodes on free ports, as many as the backup has, its own folder, the same store; stopped and removed afterwards, also on error) and compare each collection's object count and content fingerprint with those recorded by `create` (wait); the report gets deep: {available, ok, restored, restore_seconds, collections: [{collection, expected_count, actual_count, expected_fingerprint, actual_fingerprint, ok}], problems, scratch, seconds}. A backup recorded without counts has deep.available false and ok false. A write (it starts processes and writes Weaviate's restore status into the store): under --dry-run only the shallow checks run. opts.timeout (1h) bounds the scratch cluster's start and the restore."),
        write("backup", "restore", restore, simulate_restore)
            .param("id", Ty::Str)
            .opts({
                let mut keys = wait();
                keys.push(opt("target", Ty::Str));
                keys
            })
            .returns(Ty::Record(vec![
                ("id", Ty::Str),
                ("status", Ty::Str),
                ("collections", names()),
                ("target", Ty::Str.or_null()),
                ("seconds", Ty::Number.or_null()),
            ]))
            .doc("Restore a backup's collections (include/exclude pick some). Refused while any of them exists (Weaviate does not restore over a collection): delete those first or exclude them. Opts: wait (until it ends, with progress), timeout (1h), target (an environment: the backup is found in this environment's store and restored into that environment's cluster, which must exist, have [backup] enabled and use the same store: address, bucket and keys)."),
        write("backup", "prune", prune, simulate_prune)
            .opts(vec![opt("retain", Ty::Int)])
            .returns(Ty::Record(vec![
                ("kept", names()),
                ("deleted", names()),
                ("freed_bytes", Ty::Int.or_null()),
            ]))
            .doc("Delete backups beyond the newest `retain` successful ones (default 7) from the store, and failed ones; keeps the bases kept backups build on and never touches a running one. retain 0 is refused: the only good backup is never deleted."),
        read("backup", "store", store)
            .returns(Ty::record(&["enabled", "running", "pid", "endpoint", "bucket", "dir", "binary"]))
            .doc("The backup store (versitygw): whether it is enabled and runs, its endpoint, bucket and folder."),
    ]
}
