//! Backups of the whole cluster through Weaviate's `backup-s3` module into
//! the store store.rs runs: create (and wait, with progress), list, verify
//! every file against what was recorded at creation, restore, and prune to
//! a retention that never removes the only good backup.
//!
//! When a backup completes, `create` records every object Weaviate wrote
//! (key and size) in `<id>/elysiactl-manifest.json` in the store itself, so
//! `verify` from any machine can tell a file that went missing or changed
//! size. Weaviate has no call that deletes a finished backup (its DELETE
//! cancels a running one), so pruning removes the backup's objects from the
//! store, after which Weaviate no longer lists it.

pub mod store;

use crate::base::config::BackupConfig;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::json::ObjectsFingerprint;
use crate::clients::s3::{S3Client, S3Object};
use crate::clients::weaviate::backups::backup_id;
use crate::clients::weaviate::Cluster;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Weaviate's name of the backend.
pub const BACKEND: &str = "s3";
/// What `create` records next to a backup's files.
pub const MANIFEST: &str = "elysiactl-manifest.json";

/// Weaviate's compression levels, by the names the command takes.
pub const COMPRESSION: &[(&str, &str)] = &[
    ("default", "DefaultCompression"),
    ("speed", "BestSpeed"),
    ("best", "BestCompression"),
    ("zstd", "ZstdDefaultCompression"),
    ("zstd-speed", "ZstdBestSpeed"),
    ("zstd-best", "ZstdBestCompression"),
    ("none", "NoCompression"),
];

pub struct CreateOpts {
    pub id: Option<String>,
    /// Incremental on this backup: only files changed since go into the new one.
    pub base: Option<String>,
    /// Incremental on the newest successful backup (full when there is none).
    pub incremental: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub compression: Option<String>,
    pub wait: bool,
    pub timeout: Duration,
}

pub struct RestoreOpts {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub wait: bool,
    pub timeout: Duration,
}

/// Backups need the store running and every node with the backup-s3
/// module: both come with a start after [backup] was enabled, so either
/// missing means the stack runs as it was started before.
fn preflight(ctx: &Context) -> HostResult<()> {
    preflight_of(ctx, None)
}

/// `preflight` for the cluster of environment `env` (None: this one), its
/// refusals naming it.
fn preflight_of(ctx: &Context, env: Option<&str>) -> HostResult<()> {
    store::require_enabled(ctx)?;
    let (flag, of) = match env {
        Some(e) => (format!("--env {e} "), format!("environment {e}: ")),
        None => (String::new(), String::new()),
    };
    let restart = format!("restart the stack (`elysiactl {flag}stop && elysiactl {flag}start`) so that it runs with [backup]: the store, and the nodes with the backup-s3 module");
    if !store::running(ctx)? {
        return Err(HostError::validation(format!(
            "{of}the backup store (versitygw at {}) is not running",
            ctx.config.backup.url()
        ))
        .with_hint(restart));
    }
    let specs = ctx.config.weaviate.node_specs();
    for spec in &specs {
        let c = crate::clients::weaviate::WeaviateClient::in_context(ctx, spec);
        let Ok(meta) = ctx.block_on(c.meta()) else {
            // A node that does not answer: Weaviate's own refusal names it.
            continue;
        };
        if meta["modules"].get("backup-s3").is_none() {
            return Err(HostError::validation(format!(
                "{of}{} runs without the backup-s3 module",
                spec.name
            ))
            .with_hint(restart));
        }
    }
    Ok(())
}

fn cluster(ctx: &Context) -> Cluster {
    Cluster::in_context(ctx, &ctx.config.weaviate.node_specs())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The ID a backup gets when none is given: the time, sortable.
pub fn default_id() -> String {
    chrono::Utc::now()
        .format("elysiactl-%Y%m%d-%H%M%S")
        .to_string()
}

pub fn compression_level(name: &str) -> HostResult<&'static str> {
    COMPRESSION
        .iter()
        .find(|(n, w)| *n == name || *w == name)
        .map(|(_, w)| *w)
        .ok_or_else(|| {
            HostError::validation(format!("{name:?} is not a compression level")).with_hint(
                format!(
                    "use one of {}",
                    COMPRESSION
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// Weaviate's refusal of a backup call, with what to do about it.
fn explain(e: HostError, id: &str) -> HostError {
    let m = e.message.to_ascii_lowercase();
    let hint = if m.contains("already exists") || m.contains("already in progress") {
        format!("a backup named {id} exists already (or one is running): pick another ID, or see `elysiactl backup list`")
    } else if (m.contains("backend") || m.contains("module"))
        && (m.contains("not found") || m.contains("not enabled") || m.contains("unknown"))
    {
        "the nodes run without the backup-s3 module: set enabled = true under [backup], then restart the stack (`elysiactl stop && elysiactl start`)".to_string()
    } else if m.contains("class")
        && (m.contains("not exist") || m.contains("not found") || m.contains("doesn't exist"))
    {
        "a collection named in --include/--exclude does not exist: `elysiactl weaviate collections` lists them".to_string()
    } else if m.contains("connection refused")
        || m.contains("node")
            && (m.contains("unavailable")
                || m.contains("not available")
                || m.contains("unreachable")
                || m.contains("down")
                || m.contains("not ready"))
    {
        "a node is down: a backup needs every node that holds data; start it (`elysiactl start`) and check `elysiactl status`".to_string()
    } else {
        return e;
    };
    e.with_hint(hint)
}

/// Wait for a backup or restore to finish, showing its phase.
fn wait_for(
    ctx: &Context,
    label: &str,
    timeout: Duration,
    poll: impl Fn() -> HostResult<Value>,
) -> HostResult<Value> {
    let bar = ctx.out.progress_start(label, None);
    let t0 = Instant::now();
    let result = loop {
        if let Err(e) = crate::base::cancel::check_interrupt() {
            break Err(e);
        }
        let st = match poll() {
            Ok(st) => st,
            Err(e) => break Err(e),
        };
        let status = st["status"].as_str().unwrap_or("").to_string();
        ctx.out.progress_set(
            bar,
            None,
            Some(&format!("{status} {:.0}s", t0.elapsed().as_secs_f64())),
        );
        match status.as_str() {
            "SUCCESS" | "FAILED" | "CANCELED" => break Ok(st),
            _ => {}
        }
        if t0.elapsed() > timeout {
            break Err(HostError::timeout(format!(
                "{label} was still {status} after {}s",
                timeout.as_secs()
            ))
            .with_hint("it goes on in Weaviate: `elysiactl backup list` shows when it ends"));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    ctx.out.progress_done(bar, None);
    result
}

/// Start a backup of the cluster; with `wait`, until it ends, then record
/// its files in the manifest.
pub fn create(ctx: &Context, o: &CreateOpts) -> HostResult<Value> {
    preflight(ctx)?;
    if !o.include.is_empty() && !o.exclude.is_empty() {
        return Err(
            HostError::validation("a backup takes --include or --exclude, not both")
                .with_hint("name the collections to back up, or the ones to leave out"),
        );
    }
    let id = o.id.clone().unwrap_or_else(default_id);
    backup_id(&id)?;
    let mut body = json!({"id": id});
    if !o.include.is_empty() {
        body["include"] = json!(o.include);
    }
    if !o.exclude.is_empty() {
        body["exclude"] = json!(o.exclude);
    }
    if let Some(c) = &o.compression {
        body["config"] = json!({"CompressionLevel": compression_level(c)?});
    }
    let base = match &o.base {
        Some(b) => Some(backup_id(b)?.to_string()),
        None if o.incremental => newest_good(&list(ctx)?),
        None => None,
    };
    if let Some(b) = &base {
        body["incremental_base_backup_id"] = json!(b);
    }
    let t0 = Instant::now();
    let s3 = store::client(ctx);
    hold_folders(ctx, &s3, &id)?;
    let c = cluster(ctx);
    let started = match ctx.block_on(c.any_node_write(|n| {
        let body = body.clone();
        async move { n.backup_create(BACKEND, &body).await }
    })) {
        Ok(v) => v,
        Err(e) => {
            release_folders(ctx, &s3, &id);
            return Err(explain(e, &id));
        }
    };
    let classes = started["classes"].clone();
    if !o.wait {
        return Ok(
            json!({"id": id, "status": started["status"], "collections": classes, "base": base,
                         "seconds": round1(t0.elapsed().as_secs_f64()), "files": null, "size_bytes": null}),
        );
    }
    let st = wait_for(ctx, &format!("backup {id}"), o.timeout, || {
        ctx.block_on(c.any_node(|n| {
            let id = id.clone();
            async move { n.backup_status(BACKEND, &id).await }
        }))
    })?;
    if st["status"] != "SUCCESS" {
        return Err(explain(
            HostError::weaviate(format!(
                "backup {id} ended {}: {}",
                st["status"].as_str().unwrap_or("?"),
                st["error"].as_str().unwrap_or("no reason given")
            )),
            &id,
        )
        .with_hint("the node logs say more: `elysiactl logs --service weaviate`"));
    }
    let names: Vec<String> = classes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    ctx.out.status(&format!(
        "recording the object count and content fingerprint of {} collection(s) for `backup verify --deep`",
        names.len()
    ));
    // The backup succeeded: a failure to read the collections now must not
    // cost it its manifest (the files `verify` checks), only the counts.
    let facts = collection_facts(ctx, &names)
        .inspect_err(|e| {
            ctx.out.warn(&format!(
                "backup {id} succeeded, but its collections could not be read for `verify --deep`: {}",
                e.message
            ))
        })
        .ok();
    let files = write_manifest(ctx, &s3, &id, facts.as_ref())?;
    let size: u64 = files.iter().map(|f| f.size).sum();
    Ok(
        json!({"id": id, "status": "SUCCESS", "collections": classes, "base": base,
              "seconds": round1(t0.elapsed().as_secs_f64()), "files": files.len(), "size_bytes": size}),
    )
}

/// The newest successful backup of a list (newest first, as `list` gives it).
fn newest_good(rows: &[Value]) -> Option<String> {
    rows.iter()
        .find(|r| r["status"] == "SUCCESS")
        .and_then(|r| r["id"].as_str().map(str::to_string))
}

/// The base backup Weaviate's descriptor in the store names, if any: the
/// list leaves it out for a user that is not root (anonymous access too).
fn base_in_store(ctx: &Context, s3: &S3Client, id: &str) -> HostResult<Option<String>> {
    let Some(bytes) = ctx.block_on(s3.get(&format!("{id}/backup_config.json")))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|d| d["baseBackupId"].as_str().map(str::to_string))
        .filter(|b| !b.is_empty()))
}

fn prefix(id: &str) -> String {
    format!("{id}/")
}

/// Make `<id>/` and each node's `<id>/<node>/` folder objects before
/// Weaviate writes. versitygw removes a folder left empty by a delete unless
/// it was put as an object; every node puts and deletes an access-check file
/// at the start, and a folder removed under another node's concurrent put
/// fails that put ("Existing Object is a directory"), and the backup with it.
/// Remove what `hold_folders` put when Weaviate refused the backup, so a
/// refused ID leaves nothing behind; a prefix with any file in it (a
/// backup of that ID exists) is left alone.
fn release_folders(ctx: &Context, s3: &S3Client, id: &str) {
    let Ok(objects) = ctx.block_on(s3.list(&prefix(id))) else {
        return;
    };
    if objects.iter().all(|o| o.key.ends_with('/')) {
        for o in objects.iter().rev() {
            let _ = ctx.block_on(s3.delete(&o.key));
        }
    }
}

fn hold_folders(ctx: &Context, s3: &S3Client, id: &str) -> HostResult<()> {
    ctx.block_on(s3.put(&prefix(id), Vec::new()))?;
    for node in ctx.config.weaviate.node_specs() {
        ctx.block_on(s3.put(&format!("{id}/{}/", node.name), Vec::new()))?;
    }
    Ok(())
}

/// The backup's objects as the store has them, the manifest left out.
fn stored_files(ctx: &Context, s3: &S3Client, id: &str) -> HostResult<Vec<S3Object>> {
    let mut files = ctx.block_on(s3.list(&prefix(id)))?;
    // Folder objects (see `hold_folders`) are no file of the backup.
    files.retain(|f| f.key != format!("{id}/{MANIFEST}") && !f.key.ends_with('/'));
    Ok(files)
}

fn write_manifest(
    ctx: &Context,
    s3: &S3Client,
    id: &str,
    collections: Option<&Map<String, Value>>,
) -> HostResult<Vec<S3Object>> {
    let files = stored_files(ctx, s3, id)?;
    let mut manifest = json!({
        "id": id,
        "recorded_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "files": files.iter().map(|f| json!({"key": f.key, "size": f.size})).collect::<Vec<_>>(),
    });
    if let Some(c) = collections {
        manifest["collections"] = json!(c);
    }
    ctx.block_on(s3.put(
        &format!("{id}/{MANIFEST}"),
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    ))?;
    Ok(files)
}

/// Every backup Weaviate knows in the store, newest first, with the size
/// the store holds for each.
pub fn list(ctx: &Context) -> HostResult<Vec<Value>> {
    preflight(ctx)?;
    let c = cluster(ctx);
    let listed = ctx
        .block_on(c.any_node(|n| async move { n.backup_list(BACKEND).await }))
        .map_err(|e| explain(e, ""))?;
    let s3 = store::client(ctx);
    let objects = ctx.block_on(s3.list(""))?;
    let mut sizes: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for o in objects.iter().filter(|o| !o.key.ends_with('/')) {
        if let Some((id, _)) = o.key.split_once('/') {
            let e = sizes.entry(id.to_string()).or_default();
            e.0 += o.size;
            e.1 += 1;
        }
    }
    let mut rows: Vec<Value> = listed
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|b| {
            let id = b["id"].as_str().unwrap_or("").to_string();
            let (size, files) = sizes.get(&id).copied().unwrap_or_default();
            let base = match b["incremental_base_backup_id"]
                .as_str()
                .filter(|s| !s.is_empty())
            {
                Some(base) => Some(base.to_string()),
                None => base_in_store(ctx, &s3, &id)?,
            };
            Ok(json!({
                "id": id,
                "time": b["startedAt"],
                "completed": b["completedAt"],
                "collections": b["classes"].as_array().cloned().unwrap_or_default(),
                "size_bytes": size,
                "files": files,
                "status": b["status"],
                "base": base,
            }))
        })
        .collect::<HostResult<_>>()?;
    rows.sort_by(|a, b| {
        b["time"]
            .as_str()
            .unwrap_or("")
            .cmp(a["time"].as_str().unwrap_or(""))
            .then_with(|| b["id"].as_str().cmp(&a["id"].as_str()))
    });
    Ok(rows)
}

/// Weaviate's status of the backup, and every file recorded at creation
/// present in the store with its size. `ok` is false with what is wrong.
pub fn verify(ctx: &Context, id: &str) -> HostResult<Value> {
    preflight(ctx)?;
    backup_id(id)?;
    let c = cluster(ctx);
    let st = ctx
        .block_on(c.any_node(|n| async move { n.backup_status(BACKEND, id).await }))
        .map_err(|e| explain(e, id))?;
    let status = st["status"].as_str().unwrap_or("").to_string();
    let s3 = store::client(ctx);
    let stored = stored_files(ctx, &s3, id)?;
    let have: BTreeMap<&str, u64> = stored.iter().map(|f| (f.key.as_str(), f.size)).collect();
    let mut problems = Vec::new();
    if status != "SUCCESS" {
        problems.push(format!("Weaviate says the backup is {status}"));
    }
    let manifest = ctx.block_on(s3.get(&format!("{id}/{MANIFEST}")))?;
    let recorded: Vec<(String, u64)> = match manifest {
        Some(bytes) => {
            let m: Value = serde_json::from_slice(&bytes).map_err(|e| {
                HostError::new(
                    crate::base::error::Category::Encoding,
                    format!("{id}/{MANIFEST} in the store is not JSON: {e}"),
                )
            })?;
            m["files"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    (
                        f["key"].as_str().unwrap_or("").to_string(),
                        f["size"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        }
        None => {
            problems.push(format!(
                "{id}/{MANIFEST} is missing: the backup was not made by `backup create --wait`, so file sizes cannot be checked"
            ));
            Vec::new()
        }
    };
    let mut missing = Vec::new();
    let mut wrong_size = Vec::new();
    for (key, size) in &recorded {
        match have.get(key.as_str()) {
            None => missing.push(key.clone()),
            Some(s) if s != size => {
                wrong_size.push(json!({"file": key, "recorded": size, "stored": s}))
            }
            Some(_) => {}
        }
    }
    // Weaviate's own descriptor names every node that wrote a part.
    if let Some(desc) = ctx.block_on(s3.get(&format!("{id}/backup_config.json")))? {
        if let Ok(d) = serde_json::from_slice::<Value>(&desc) {
            for node in d["nodes"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let key = format!("{id}/{node}/backup.json");
                if !have.contains_key(key.as_str()) && !missing.contains(&key) {
                    missing.push(key);
                }
            }
        }
    } else if !missing.iter().any(|k| k.ends_with("/backup_config.json")) {
        missing.push(format!("{id}/backup_config.json"));
    }
    for m in &missing {
        problems.push(format!("{m} is missing from the store"));
    }
    // An incremental backup restores only with its base.
    if let Some(base) = base_in_store(ctx, &s3, id)? {
        if ctx
            .block_on(s3.get(&format!("{base}/backup_config.json")))?
            .is_none()
        {
            problems.push(format!("its base backup {base} is missing from the store"));
        }
    }
    for w in &wrong_size {
        problems.push(format!(
            "{} has {} bytes in the store, {} recorded",
            w["file"].as_str().unwrap_or(""),
            w["stored"],
            w["recorded"]
        ));
    }
    Ok(json!({
        "id": id, "ok": problems.is_empty(), "status": status,
        "files": recorded.len(), "stored": stored.len(),
        "size_bytes": stored.iter().map(|f| f.size).sum::<u64>(),
        "missing": missing, "wrong_size": wrong_size, "problems": problems,
    }))
}

/// Each collection's object count and content fingerprint as the cluster
/// of `ctx` holds them now: every object read in ID order (see
/// `ObjectsFingerprint`). A multi-tenant collection keeps its objects per
/// tenant and gets `{"tenants": true}` instead.
pub fn collection_facts(ctx: &Context, names: &[String]) -> HostResult<Map<String, Value>> {
    let c = cluster(ctx);
    let schema = ctx.block_on(c.any_node(|n| async move { n.schema().await }))?;
    let mut facts = Map::new();
    for name in names {
        let class = schema["classes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["class"] == name.as_str());
        if class.is_some_and(|k| k["multiTenancyConfig"]["enabled"] == true) {
            facts.insert(name.clone(), json!({"tenants": true}));
            continue;
        }
        let mut fingerprint = ObjectsFingerprint::default();
        let mut after: Option<String> = None;
        loop {
            crate::base::cancel::check_interrupt()?;
            let page = ctx.block_on(c.any_node(|n| {
                let after = after.clone();
                async move { n.list_objects(name, PAGE, after.as_deref()).await }
            }))?;
            page.iter().for_each(|o| fingerprint.add(o));
            match page.last() {
                Some(last) if page.len() as u64 == PAGE => {
                    after = last["id"].as_str().map(str::to_string)
                }
                _ => break,
            }
        }
        facts.insert(
            name.clone(),
            json!({"count": fingerprint.objects(), "fingerprint": fingerprint.finish()}),
        );
    }
    Ok(facts)
}

/// Objects per page when a collection is read whole.
const PAGE: u64 = 500;

/// The manifest `create --wait` wrote, if there is one.
fn manifest(ctx: &Context, s3: &S3Client, id: &str) -> HostResult<Option<Value>> {
    let Some(bytes) = ctx.block_on(s3.get(&format!("{id}/{MANIFEST}")))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        HostError::new(
            crate::base::error::Category::Encoding,
            format!("{id}/{MANIFEST} in the store is not JSON: {e}"),
        )
    })
}

/// What a deep check compares against: each collection's count and
/// fingerprint as recorded when the backup was made. Err names why there is
/// nothing to compare (no manifest, or one from before counts were kept).
pub fn recorded_collections(
    ctx: &Context,
    id: &str,
) -> HostResult<Result<Map<String, Value>, String>> {
    let s3 = store::client(ctx);
    Ok(match manifest(ctx, &s3, id)? {
        None => Err(format!(
            "backup {id} has no {MANIFEST} (it was not made with `backup create --wait`): there are no recorded counts and fingerprints to compare a restore with"
        )),
        Some(m) => match m["collections"].as_object() {
            Some(c) => Ok(c.clone()),
            None => Err(format!(
                "backup {id} has no recorded object counts and fingerprints (it was made before backups recorded them, or its collections could not be read when it was made): the deep check of counts is unavailable for it; make a new backup (`backup create --wait`) to check deeply"
            )),
        },
    })
}

/// The node names Weaviate's descriptor of the backup lists, sorted.
pub fn backup_nodes(ctx: &Context, id: &str) -> HostResult<Vec<String>> {
    let s3 = store::client(ctx);
    let Some(bytes) = ctx.block_on(s3.get(&format!("{id}/backup_config.json")))? else {
        return Err(HostError::validation(format!(
            "{id}/backup_config.json is missing from the store: the backup cannot be restored"
        ))
        .with_hint("`elysiactl backup list` shows the backups; use another one"));
    };
    let d: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let mut nodes: Vec<String> = d["nodes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    nodes.sort();
    Ok(nodes)
}

/// `node_mapping` for a restore into nodes named `into` (as many as the
/// backup has): Weaviate maps one node to one node, so the backup's nodes
/// (sorted) go to `into` in order; none when the names are the same.
pub fn node_mapping(backup: &[String], into: &[String]) -> Map<String, Value> {
    backup
        .iter()
        .zip(into)
        .filter(|(b, i)| b != i)
        .map(|(b, i)| (b.clone(), json!(i)))
        .collect()
}

/// Restore backup `id` into the empty scratch cluster of `scratch` and
/// compare every collection's count and fingerprint with `recorded`. A
/// restore that Weaviate refuses or that fails is a finding, not an error:
/// then each collection is restored on its own (into an emptied cluster) to
/// name the ones that do not restore, with Weaviate's reason.
pub fn deep_compare(
    scratch: &Context,
    id: &str,
    recorded: &Map<String, Value>,
    mapping: &Map<String, Value>,
    timeout: Duration,
) -> HostResult<Value> {
    let c = cluster(scratch);
    let mut body = json!({});
    if !mapping.is_empty() {
        body["node_mapping"] = json!(mapping);
    }
    let names: Vec<String> = recorded.keys().cloned().collect();
    let t0 = Instant::now();
    let whole = ctx_restore(scratch, &c, id, &body, timeout);
    let restore_seconds = round1(t0.elapsed().as_secs_f64());
    let mut problems = Vec::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let actual = match &whole {
        Ok(()) => {
            scratch.out.status(&format!(
                "counting and fingerprinting {} restored collection(s)",
                names.len()
            ));
            collection_facts(scratch, &names)?
        }
        Err(e) => {
            problems.push(format!(
                "the restore into the scratch cluster failed: {}",
                e.message
            ));
            scratch
                .out
                .status("the restore failed: restoring each collection on its own to find which");
            let mut actual = Map::new();
            for name in &names {
                empty_cluster(scratch, &c)?;
                let mut one = body.clone();
                one["include"] = json!([name]);
                match ctx_restore(scratch, &c, id, &one, timeout) {
                    Ok(()) => actual.extend(collection_facts(scratch, std::slice::from_ref(name))?),
                    Err(e) => {
                        failed.insert(name.clone(), e.message);
                    }
                }
            }
            actual
        }
    };
    let mut collections = Vec::new();
    for (name, want) in recorded {
        let got = actual.get(name).cloned().unwrap_or(Value::Null);
        let ok = if let Some(why) = failed.get(name) {
            problems.push(format!("{name} does not restore: {why}"));
            false
        } else if want["tenants"] == true {
            // Counted per tenant, which the record does not hold.
            got["tenants"] == true
        } else if got.is_null() {
            problems.push(format!("{name} was not restored"));
            false
        } else if got["count"] != want["count"] {
            problems.push(format!(
                "{name} restored {} objects, {} recorded",
                got["count"], want["count"]
            ));
            false
        } else if got["fingerprint"] != want["fingerprint"] {
            problems.push(format!(
                "{name} restored with other content: fingerprint {}, {} recorded",
                got["fingerprint"].as_str().unwrap_or("?"),
                want["fingerprint"].as_str().unwrap_or("?")
            ));
            false
        } else {
            true
        };
        collections.push(json!({
            "collection": name,
            "expected_count": want["count"], "actual_count": got["count"],
            "expected_fingerprint": want["fingerprint"], "actual_fingerprint": got["fingerprint"],
            "ok": ok,
        }));
    }
    Ok(json!({
        "available": true,
        "ok": problems.is_empty(),
        "restored": whole.is_ok(),
        "restore_seconds": restore_seconds,
        "collections": collections,
        "problems": problems,
    }))
}

/// Delete every collection of the scratch cluster (what a failed restore
/// left), so that the next restore is not refused for one that exists.
fn empty_cluster(ctx: &Context, c: &Cluster) -> HostResult<()> {
    let names = ctx.block_on(c.any_node(|n| async move { n.class_names().await }))?;
    for name in names {
        ctx.block_on(c.any_node_write(|n| {
            let name = name.clone();
            async move { n.delete_class(&name).await }
        }))?;
    }
    Ok(())
}

/// Start a restore on `c` and wait until it ends; Err with Weaviate's
/// reason unless it succeeded.
fn ctx_restore(
    ctx: &Context,
    c: &Cluster,
    id: &str,
    body: &Value,
    timeout: Duration,
) -> HostResult<()> {
    start_restore(ctx, c, id, body)?;
    await_restore(ctx, c, id, timeout)
}

/// Ask Weaviate to restore `id` (`body`: include, exclude); its answer.
fn start_restore(ctx: &Context, c: &Cluster, id: &str, body: &Value) -> HostResult<Value> {
    ctx.block_on(c.any_node_write(|n| async move { n.backup_restore(BACKEND, id, body).await }))
        .map_err(|e| explain(e, id))
}

/// Wait until the restore of `id` ends; Err with Weaviate's reason unless
/// it succeeded.
fn await_restore(ctx: &Context, c: &Cluster, id: &str, timeout: Duration) -> HostResult<()> {
    let st = wait_for(ctx, &format!("restore {id}"), timeout, || {
        ctx.block_on(c.any_node(|n| async move { n.backup_restore_status(BACKEND, id).await }))
    })?;
    if st["status"] != "SUCCESS" {
        return Err(HostError::weaviate(format!(
            "restore of {id} ended {}: {}",
            st["status"].as_str().unwrap_or("?"),
            st["error"].as_str().unwrap_or("no reason given")
        ))
        .with_hint("the node logs say more: `elysiactl logs --service weaviate`"));
    }
    Ok(())
}

/// A restore into environment `env` reads the backup from this
/// environment's store, so `env`'s nodes must load backup-s3 pointed at the
/// same store: the same address, bucket and keys.
pub fn check_same_store(here: &BackupConfig, there: &BackupConfig, env: &str) -> HostResult<()> {
    if !there.enabled {
        return Err(HostError::validation(format!(
            "environment {env} has backups disabled: its nodes cannot read the backup"
        ))
        .with_hint(format!(
            "set [backup] enabled = true in {env}'s config with this environment's store ({}, bucket {}) and keys, then restart its stack (`elysiactl --env {env} stop && elysiactl --env {env} start`)",
            here.endpoint(),
            here.bucket
        )));
    }
    let mut differ = Vec::new();
    if (there.host.as_str(), there.port) != (here.host.as_str(), here.port) {
        differ.push(format!(
            "address {} (here {})",
            there.endpoint(),
            here.endpoint()
        ));
    }
    if there.bucket != here.bucket {
        differ.push(format!("bucket {} (here {})", there.bucket, here.bucket));
    }
    if there.access_key != here.access_key || there.secret_key.expose() != here.secret_key.expose()
    {
        differ.push("other keys".to_string());
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(HostError::validation(format!(
        "environment {env} uses another backup store: {}",
        differ.join(", ")
    ))
    .with_hint(format!(
        "set backup.host, backup.port, backup.bucket, backup.access_key and backup.secret_key in {env}'s config to this environment's, then restart its stack (`elysiactl --env {env} stop && elysiactl --env {env} start`)"
    )))
}

/// Collections of the backup that exist in the cluster now: a restore
/// would be refused for them.
fn existing_targets(ctx: &Context, id: &str, restoring: &[String]) -> HostResult<Vec<String>> {
    let c = cluster(ctx);
    let now = ctx.block_on(c.any_node(|n| async move { n.class_names().await }))?;
    Ok(restoring
        .iter()
        .filter(|r| now.iter().any(|n| n.eq_ignore_ascii_case(r)))
        .cloned()
        .inspect(|_| tracing::debug!("restore {id}: collection exists"))
        .collect())
}

/// The collections a restore of `id` would bring back.
pub fn restore_plan(
    ctx: &Context,
    id: &str,
    include: &[String],
    exclude: &[String],
) -> HostResult<Vec<String>> {
    let rows = list(ctx)?;
    let row = rows.iter().find(|r| r["id"] == id).ok_or_else(|| {
        HostError::validation(format!("there is no backup {id} in the store"))
            .with_hint("`elysiactl backup list` shows the backups")
    })?;
    let all: Vec<String> = row["collections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    for name in include {
        if !all.iter().any(|c| c == name) {
            return Err(
                HostError::validation(format!("backup {id} has no collection {name}"))
                    .with_hint(format!("it holds: {}", all.join(", "))),
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| include.is_empty() || include.contains(c))
        .filter(|c| !exclude.contains(c))
        .collect())
}

/// Restore a backup's collections; refused while any of them exists.
pub fn restore(ctx: &Context, id: &str, o: &RestoreOpts) -> HostResult<Value> {
    restore_into(ctx, None, id, o)
}

/// `restore`, into the cluster of another environment (`target`: its name
/// and context) when given: the backup is looked up in this environment's
/// store, which the target's nodes must read too (`check_same_store`).
pub fn restore_into(
    ctx: &Context,
    target: Option<(&str, &Context)>,
    id: &str,
    o: &RestoreOpts,
) -> HostResult<Value> {
    preflight(ctx)?;
    backup_id(id)?;
    let (into, env) = match target {
        Some((env, t)) => {
            check_same_store(&ctx.config.backup, &t.config.backup, env)?;
            preflight_of(t, Some(env))?;
            (t, Some(env))
        }
        None => (ctx, None),
    };
    let collections = restore_plan(ctx, id, &o.include, &o.exclude)?;
    let clash = existing_targets(into, id, &collections).map_err(|e| match env {
        Some(env) => HostError::network(format!(
            "the cluster of environment {env} does not answer: {}",
            e.message
        ))
        .with_hint(format!(
            "start it (`elysiactl --env {env} start`), then restore again"
        )),
        None => e,
    })?;
    if !clash.is_empty() {
        let there = env
            .map(|e| format!(" in environment {e}"))
            .unwrap_or_default();
        return Err(HostError::validation(format!(
            "restoring backup {id} would overwrite collections that exist{there}: {}",
            clash.join(", ")
        ))
        .with_hint("Weaviate restores only into collections that do not exist: delete them first (their data is in the backup), or leave them out with --exclude"));
    }
    let mut body = json!({});
    if !o.include.is_empty() {
        body["include"] = json!(o.include);
    }
    if !o.exclude.is_empty() {
        body["exclude"] = json!(o.exclude);
    }
    let t0 = Instant::now();
    let c = cluster(into);
    let started = start_restore(into, &c, id, &body)?;
    let mut status = started["status"].clone();
    if o.wait {
        await_restore(into, &c, id, o.timeout)?;
        status = json!("SUCCESS");
    }
    Ok(
        json!({"id": id, "status": status, "collections": collections, "target": env,
              "seconds": round1(t0.elapsed().as_secs_f64())}),
    )
}

/// Which backups pruning to `retain` removes: every one but the `retain`
/// newest successful ones (and the bases they build on); a running backup
/// is never touched. `rows` are newest first, as `list` gives them.
pub fn prune_plan(rows: &[Value], retain: usize) -> HostResult<(Vec<String>, Vec<String>)> {
    if retain == 0 {
        return Err(
            HostError::validation("--retain 0 would delete every good backup")
                .with_hint("keep at least one: --retain 1 or more"),
        );
    }
    let good: Vec<&Value> = rows.iter().filter(|r| r["status"] == "SUCCESS").collect();
    let mut keep: Vec<String> = good
        .iter()
        .take(retain)
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    // A kept incremental backup needs its base.
    let mut i = 0;
    while i < keep.len() {
        let base = rows
            .iter()
            .find(|r| r["id"] == keep[i].as_str())
            .and_then(|r| r["base"].as_str().map(str::to_string));
        if let Some(b) = base {
            if !keep.contains(&b) {
                keep.push(b);
            }
        }
        i += 1;
    }
    let finished = |r: &&Value| {
        matches!(
            r["status"].as_str(),
            Some("SUCCESS" | "FAILED" | "CANCELED")
        )
    };
    let delete: Vec<String> = rows
        .iter()
        .filter(finished)
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .filter(|id| !keep.contains(id))
        .collect();
    Ok((keep, delete))
}

/// Remove backups beyond the retention from the store.
pub fn prune(ctx: &Context, retain: usize) -> HostResult<Value> {
    preflight(ctx)?;
    let rows = list(ctx)?;
    let (kept, delete) = prune_plan(&rows, retain)?;
    let mut freed = 0u64;
    for id in &delete {
        freed += remove(ctx, id)?;
    }
    Ok(json!({"kept": kept, "deleted": delete, "freed_bytes": freed}))
}

/// Remove one backup's files from the store; returns the bytes freed.
pub fn remove(ctx: &Context, id: &str) -> HostResult<u64> {
    let s3 = store::client(ctx);
    let objects = ctx.block_on(s3.list(&prefix(id)))?;
    // Deepest first: a folder object goes after what is in it.
    for o in objects.iter().rev() {
        ctx.block_on(s3.delete(&o.key))?;
    }
    Ok(objects.iter().map(|o| o.size).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str, base: Option<&str>) -> Value {
        json!({"id": id, "status": status, "base": base})
    }

    #[test]
    fn pruning_keeps_exactly_the_newest_good_ones_and_their_bases() {
        let rows = vec![
            row("e", "STARTED", None),
            row("d", "FAILED", None),
            row("c", "SUCCESS", Some("a")),
            row("b", "SUCCESS", None),
            row("a", "SUCCESS", None),
        ];
        let (keep, delete) = prune_plan(&rows, 1).unwrap();
        assert_eq!(keep, vec!["c", "a"]);
        assert_eq!(delete, vec!["d", "b"]);
        let (keep, delete) = prune_plan(&rows, 2).unwrap();
        assert_eq!(keep, vec!["c", "b", "a"]);
        assert_eq!(delete, vec!["d"]);
    }

    #[test]
    fn pruning_never_removes_the_only_good_backup() {
        let rows = vec![row("y", "FAILED", None), row("x", "SUCCESS", None)];
        let (keep, delete) = prune_plan(&rows, 1).unwrap();
        assert_eq!(
            (keep, delete),
            (vec!["x".to_string()], vec!["y".to_string()])
        );
        let e = prune_plan(&rows, 0).unwrap_err();
        assert!(e.message.contains("every good backup"), "{e}");
    }

    #[test]
    fn a_target_must_read_the_same_store() {
        let here = BackupConfig {
            enabled: true,
            secret_key: crate::base::config::Secret::new("s3cret-here"),
            ..Default::default()
        };
        assert!(check_same_store(&here, &here.clone(), "staging").is_ok());
        let off = BackupConfig {
            enabled: false,
            ..here.clone()
        };
        let e = check_same_store(&here, &off, "staging").unwrap_err();
        assert!(e.message.contains("staging has backups disabled"), "{e}");
        assert!(e.hint.contains("--env staging"), "{e}");
        let elsewhere = BackupConfig {
            port: 7171,
            bucket: "other".into(),
            secret_key: crate::base::config::Secret::new("s3cret-there"),
            ..here.clone()
        };
        let e = check_same_store(&here, &elsewhere, "staging").unwrap_err();
        assert!(
            e.message.contains("127.0.0.1:7171 (here 127.0.0.1:7070)")
                && e.message.contains("bucket other")
                && e.message.contains("other keys"),
            "{e}"
        );
        assert!(!format!("{e} {}", e.hint).contains("s3cret"), "{e}");
    }

    #[test]
    fn node_mapping_is_one_to_one_and_empty_for_equal_names() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let same = names(&["weaviate-0", "weaviate-1"]);
        assert!(node_mapping(&same, &same).is_empty());
        let m = node_mapping(&names(&["a", "b"]), &same);
        assert_eq!(
            Value::Object(m),
            json!({"a": "weaviate-0", "b": "weaviate-1"})
        );
    }

    #[test]
    fn compression_names_map_to_weaviates() {
        assert_eq!(compression_level("speed").unwrap(), "BestSpeed");
        assert_eq!(
            compression_level("ZstdBestCompression").unwrap(),
            "ZstdBestCompression"
        );
        assert!(compression_level("fast")
            .unwrap_err()
            .hint
            .contains("zstd-best"));
    }
}
