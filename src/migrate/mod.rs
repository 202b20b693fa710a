//! Versioned schema migrations: numbered script files in a folder
//! (`0001_create_books.rhai`), each with an `up` and a `down` function, and
//! the record of which were applied, kept in the cluster itself (the
//! [`COLLECTION`] system collection) so every operator sees the same state.
//!
//! This module knows the files, their checksums and the record; running a
//! file's functions is the script layer's business (the host hands it over).

use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::{is_no_such_collection, Cluster, Consistency};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The system collection that records applied migrations.
pub const COLLECTION: &str = "ElysiactlMigrations";

/// Whether a collection is one elysiactl keeps its own state in, which
/// commands that list or clean collections leave alone.
pub fn is_system_collection(name: &str) -> bool {
    name == COLLECTION
}

/// Refuses `name` for a command that would write into it (index sync,
/// test data): elysiactl's own record must hold nothing else.
pub fn refuse_system_collection(name: &str, what: &str) -> HostResult<()> {
    if is_system_collection(name) {
        return Err(HostError::validation(format!(
            "{name} is elysiactl's record of applied migrations; {what} cannot write into it"
        ))
        .with_hint("pick another collection name"));
    }
    Ok(())
}

/// One migration file.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationFile {
    pub version: u32,
    pub name: String,
    pub path: PathBuf,
    /// blake3 of the file's bytes, hex.
    pub checksum: String,
}

impl MigrationFile {
    pub fn label(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "version": format!("{:04}", self.version),
            "name": self.name,
            "file": self.path.display().to_string(),
            "checksum": self.checksum,
        })
    }
}

/// One applied migration as the cluster records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub version: u32,
    pub name: String,
    pub checksum: String,
    pub applied_at: String,
    pub applied_by: String,
    /// What this migration's up() left of the collections it changed, as
    /// [`shape`]s by name (null: deleted); for the drift check.
    pub schema: Value,
}

/// The migrations folder: the given one, else the configured one
/// (`migrate.dir`), relative to the working directory.
pub fn dir_of(ctx: &Context, given: Option<&str>) -> PathBuf {
    PathBuf::from(given.unwrap_or(&ctx.config.migrate.dir))
}

pub fn checksum(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// `NNNN_name.rhai` or `.lua` → (version, name). Files not starting with a
/// digit are not migrations (helpers the migrations import); a file that
/// starts with one but is not so named is a mistake worth naming.
fn parse_name(file_name: &str) -> Option<HostResult<(u32, String)>> {
    if !file_name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let bad = || {
        HostError::validation(format!(
            "{file_name} is not a migration name: expected NNNN_name.rhai or NNNN_name.lua"
        ))
        .with_hint(
            "four digits, an underscore, a name of lower-case letters, digits and _; `elysiactl migrate new NAME` writes one",
        )
    };
    let Some((stem, ext)) = file_name.rsplit_once('.') else {
        return Some(Err(bad()));
    };
    if ext != "rhai" && ext != "lua" {
        return Some(Err(bad()));
    }
    let Some((digits, name)) = stem.split_once('_') else {
        return Some(Err(bad()));
    };
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) || !valid_name(name) {
        return Some(Err(bad()));
    }
    Some(
        digits
            .parse()
            .map(|v| (v, name.to_string()))
            .map_err(|_| bad()),
    )
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The migration files of `dir`, by version. A missing folder has none.
pub fn scan(dir: &Path) -> HostResult<Vec<MigrationFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(HostError::validation(format!(
                "cannot read the migrations folder {}: {e}",
                dir.display()
            ))
            .with_hint("check its permissions, or point --dir (or migrate.dir) elsewhere"))
        }
    };
    let mut by_version: BTreeMap<u32, MigrationFile> = BTreeMap::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(parsed) = parse_name(&file_name) else {
            continue;
        };
        let (version, name) = parsed?;
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|e| {
            HostError::validation(format!("cannot read {}: {e}", path.display()))
                .with_hint("check the file's permissions")
        })?;
        let file = MigrationFile {
            version,
            name,
            path,
            checksum: checksum(&bytes),
        };
        if let Some(other) = by_version.get(&version) {
            return Err(HostError::validation(format!(
                "two migrations have version {version:04}: {} and {}",
                other.path.display(),
                file.path.display()
            ))
            .with_hint(
                "renumber the one not yet applied (`elysiactl migrate status` shows which)",
            ));
        }
        by_version.insert(version, file);
    }
    Ok(by_version.into_values().collect())
}

/// Write the next numbered migration from the template; refuses a name
/// already used by another migration of the folder.
pub fn create(dir: &Path, name: &str, lua: bool) -> HostResult<MigrationFile> {
    let (file, text) = planned_with_text(dir, name, lua)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        HostError::validation(format!("cannot create {}: {e}", dir.display()))
            .with_hint("check the permissions of the parent folder")
    })?;
    std::fs::write(&file.path, &text).map_err(|e| {
        HostError::validation(format!("cannot write {}: {e}", file.path.display()))
            .with_hint("check the folder's permissions")
    })?;
    Ok(file)
}

/// What `create` would write, without writing it (for a dry run).
pub fn planned(dir: &Path, name: &str, lua: bool) -> HostResult<MigrationFile> {
    planned_with_text(dir, name, lua).map(|(f, _)| f)
}

fn planned_with_text(dir: &Path, name: &str, lua: bool) -> HostResult<(MigrationFile, String)> {
    if !valid_name(name) {
        return Err(
            HostError::validation(format!("{name:?} is not a migration name"))
                .with_hint("use lower-case letters, digits and _, e.g. add_author_to_books"),
        );
    }
    let files = scan(dir)?;
    if let Some(clash) = files.iter().find(|f| f.name == name) {
        return Err(HostError::validation(format!(
            "a migration named {name} exists already: {}",
            clash.path.display()
        ))
        .with_hint("pick a name that says what this change does"));
    }
    let version = files.last().map_or(1, |f| f.version + 1);
    if version > 9999 {
        return Err(
            HostError::validation("the folder holds migration 9999 already")
                .with_hint("start a new migrations folder"),
        );
    }
    let ext = if lua { "lua" } else { "rhai" };
    let text = if lua { LUA_TEMPLATE } else { RHAI_TEMPLATE }.replace("{name}", name);
    let file = MigrationFile {
        version,
        name: name.to_string(),
        path: dir.join(format!("{version:04}_{name}.{ext}")),
        checksum: checksum(text.as_bytes()),
    };
    Ok((file, text))
}

const RHAI_TEMPLATE: &str = r#"// Migration {name}: `elysiactl migrate up` runs up(), `migrate rollback` runs down().
// Both use the host API (`elysiactl api`); down() undoes exactly what up() did.
// Functions cannot see variables outside them: keep what both need in consts
// inside each function, or import a helper beside this file.
// Weaviate cannot drop a property: a down() that must remove one recreates the
// collection (see docs/migrations.md).

fn up() {
    // cluster::create_collection(#{
    //     class: "Book",
    //     vectorizer: "none",
    //     properties: [#{name: "title", dataType: ["text"]}],
    // });
}

fn down() {
    // cluster::delete_collection("Book");
}
"#;

const LUA_TEMPLATE: &str = r#"-- Migration {name}: `elysiactl migrate up` runs up(), `migrate rollback` runs down().
-- Both are global functions using the host API (`elysiactl api`); down() undoes
-- exactly what up() did. Weaviate cannot drop a property: a down() that must
-- remove one recreates the collection (see docs/migrations.md).

function up()
    -- cluster.create_collection({
    --     class = "Book",
    --     vectorizer = "none",
    --     properties = { { name = "title", dataType = { "text" } } },
    -- })
end

function down()
    -- cluster.delete_collection("Book")
end
"#;

fn cluster(ctx: &Context) -> Cluster {
    Cluster::in_context(ctx, &ctx.config.weaviate.node_specs())
}

fn from_object(o: &Value) -> Option<Applied> {
    let p = &o["properties"];
    Some(Applied {
        version: u32::try_from(p["version"].as_f64()? as u64).ok()?,
        name: p["name"].as_str().unwrap_or_default().to_string(),
        checksum: p["checksum"].as_str().unwrap_or_default().to_string(),
        applied_at: p["appliedAt"].as_str().unwrap_or_default().to_string(),
        applied_by: p["appliedBy"].as_str().unwrap_or_default().to_string(),
        schema: p["schema"]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_else(|| json!({})),
    })
}

/// The lock object's ID in the record collection: taken by `migrate up`
/// and `rollback` for their run, so two operators do not apply at once.
const LOCK_ID: &str = "00000000-0000-4000-8000-ffffffffffff";

/// Who holds the lock and since when, or None.
pub fn lock_holder(ctx: &Context) -> HostResult<Option<Value>> {
    let found = ctx.block_on(cluster(ctx).any_node(|c| async move {
        c.object(COLLECTION, LOCK_ID, None, Some(Consistency::Quorum))
            .await
    }));
    let found = match found {
        Ok(f) => f,
        Err(e) if is_no_such_collection(&e) => None,
        Err(e) => return Err(e),
    };
    Ok(found.map(
        |o| json!({"held_by": o["properties"]["appliedBy"], "since": o["properties"]["appliedAt"]}),
    ))
}

fn held(holder: &Value) -> HostError {
    HostError::validation(format!(
        "another migrate up or rollback is running: {} holds the lock since {}",
        holder["held_by"].as_str().unwrap_or("?"),
        holder["since"].as_str().unwrap_or("?")
    ))
    .with_hint(
        "wait for it to end; if it was killed, `elysiactl migrate unlock` removes the stale lock",
    )
}

/// Take the lock (a fixed object in the record collection, created only
/// when absent), or fail naming who holds it. Best effort: two creates at
/// the same instant through different nodes can both succeed.
pub fn lock(ctx: &Context) -> HostResult<Value> {
    if let Some(holder) = lock_holder(ctx)? {
        return Err(held(&holder));
    }
    ensure_collection(ctx)?;
    let (by, since) = (who(), now_rfc3339());
    let object = json!({
        "class": COLLECTION,
        "id": LOCK_ID,
        "properties": {"version": 0, "name": "lock", "appliedAt": since, "appliedBy": by},
    });
    let created = ctx.block_on(cluster(ctx).any_node_write(|c| {
        let object = object.clone();
        async move { c.insert_object(&object, Consistency::All).await }
    }));
    match created {
        Ok(_) => Ok(json!({"held_by": by, "since": since})),
        Err(e) => match lock_holder(ctx)? {
            Some(holder) if holder["held_by"] != json!(by) || holder["since"] != json!(since) => {
                Err(held(&holder))
            }
            _ => Err(e),
        },
    }
}

/// Remove the lock: who held it and since when, or None when none was held.
pub fn unlock(ctx: &Context) -> HostResult<Option<Value>> {
    let holder = lock_holder(ctx)?;
    if holder.is_some() {
        ctx.block_on(
            cluster(ctx)
                .any_node_write(|c| async move { c.delete_object(COLLECTION, LOCK_ID).await }),
        )?;
    }
    Ok(holder)
}

/// The applied migrations the cluster records, by version. None applied
/// when the collection does not exist yet.
pub fn applied(ctx: &Context) -> HostResult<Vec<Applied>> {
    let objects = ctx.block_on(cluster(ctx).any_node(|c| async move {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = c.list_objects(COLLECTION, 1000, after.as_deref()).await?;
            let Some(last) = page.last() else { break };
            after = last["id"].as_str().map(str::to_string);
            let full = page.len() == 1000;
            all.extend(page);
            if !full {
                break;
            }
        }
        Ok(all)
    }));
    let objects = match objects {
        Ok(o) => o,
        Err(e) if is_no_such_collection(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<Applied> = objects
        .iter()
        .filter(|o| o["id"].as_str() != Some(LOCK_ID))
        .filter_map(from_object)
        .collect();
    out.sort_by_key(|a| a.version);
    Ok(out)
}

/// The object ID of a version's record: one per version, so recording one
/// twice replaces it rather than listing it twice.
fn record_id(version: u32) -> String {
    format!("00000000-0000-4000-8000-{version:012}")
}

/// The definition of the record collection: no vectors, the cluster's
/// replication factor.
pub fn collection_def(ctx: &Context) -> Value {
    let text = |name: &str| json!({"name": name, "dataType": ["text"], "tokenization": "field"});
    json!({
        "class": COLLECTION,
        "description": "elysiactl: the applied schema migrations (elysiactl migrate status)",
        "vectorizer": "none",
        "replicationConfig": {"factor": ctx.config.weaviate.expected_replication_factor()},
        "properties": [
            {"name": "version", "dataType": ["int"]},
            text("name"),
            text("checksum"),
            {"name": "appliedAt", "dataType": ["date"]},
            text("appliedBy"),
            {"name": "schema", "dataType": ["text"], "indexFilterable": false, "indexSearchable": false},
        ],
    })
}

fn ensure_collection(ctx: &Context) -> HostResult<()> {
    let c = cluster(ctx);
    let exists = ctx.block_on(c.any_node(|c| async move { c.class_exists(COLLECTION).await }))?;
    if exists {
        return Ok(());
    }
    let def = collection_def(ctx);
    let created = ctx.block_on(c.any_node_write(|c| {
        let def = def.clone();
        async move { c.create_class(&def).await }
    }));
    match created {
        Ok(_) => Ok(()),
        // Another operator created it meanwhile: as good.
        Err(e) => {
            let now =
                ctx.block_on(c.any_node(|c| async move { c.class_exists(COLLECTION).await }))?;
            if now {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Who applies: `user@host`.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_of_this_process)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{host}")
}

/// The account this process runs as, from /etc/passwd (services and
/// containers often run without USER set).
fn user_of_this_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid)
        .map(|f| f[0].to_string())
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Record `m` as applied now, by this user, with the collections its up()
/// changed (`changes`, from [`schema_changes`]); creates the record
/// collection on first use.
pub fn record(ctx: &Context, m: &MigrationFile, changes: Value) -> HostResult<Applied> {
    ensure_collection(ctx)?;
    let applied = Applied {
        version: m.version,
        name: m.name.clone(),
        checksum: m.checksum.clone(),
        applied_at: now_rfc3339(),
        applied_by: who(),
        schema: changes,
    };
    let object = json!({
        "class": COLLECTION,
        "id": record_id(m.version),
        "properties": {
            "version": m.version,
            "name": applied.name,
            "checksum": applied.checksum,
            "appliedAt": applied.applied_at,
            "appliedBy": applied.applied_by,
            "schema": applied.schema.to_string(),
        },
    });
    let errors = ctx.block_on(cluster(ctx).any_node_write(|c| {
        let object = object.clone();
        async move {
            c.batch_objects(std::slice::from_ref(&object), Consistency::Quorum)
                .await
        }
    }))?;
    if let Some(Some(e)) = errors.first() {
        return Err(HostError::unknown(format!(
            "migration {} ran, but recording it in {COLLECTION} failed: {e}",
            m.label()
        ))
        .with_hint("its changes are in the cluster; run `elysiactl migrate status` and, once the cluster answers, record it by running `migrate up` after undoing it or fixing the cause"));
    }
    Ok(applied)
}

/// Remove the record of `version`; whether there was one.
pub fn unrecord(ctx: &Context, version: u32) -> HostResult<bool> {
    let id = record_id(version);
    let removed = ctx.block_on(cluster(ctx).any_node_write(|c| {
        let id = id.clone();
        async move { c.delete_object(COLLECTION, &id).await }
    }));
    match removed {
        Ok(b) => Ok(b),
        Err(e) if is_no_such_collection(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Applied {
    pub fn to_json(&self) -> Value {
        json!({
            "version": format!("{:04}", self.version),
            "name": self.name,
            "checksum": self.checksum,
            "applied_at": self.applied_at,
            "applied_by": self.applied_by,
            "collections": self.schema.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        })
    }
}

/// What of a collection definition a migration decides and drift is
/// checked on: the vectorizer, the properties (name, type, tokenization),
/// the replication factor and multi-tenancy. Server defaults and tuning
/// that Weaviate fills in are left out.
pub fn shape(def: &Value) -> Value {
    let mut props: Vec<Value> = def["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "name": p["name"],
                "dataType": p["dataType"],
                "tokenization": p.get("tokenization").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    props.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "vectorizer": def.get("vectorizer").cloned().unwrap_or(Value::Null),
        "properties": props,
        "factor": def["replicationConfig"]["factor"].as_u64().unwrap_or(1),
        "multi_tenancy": def["multiTenancyConfig"]["enabled"].as_bool().unwrap_or(false),
    })
}

fn shapes_of(schema: &Value) -> BTreeMap<String, Value> {
    schema["classes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["class"].as_str()?.to_string(), shape(c))))
        .filter(|(name, _)| !is_system_collection(name))
        .collect()
}

/// The collections whose shape differs between two `/v1/schema` answers:
/// name → the shape after, or null when deleted.
pub fn schema_changes(before: &Value, after: &Value) -> Value {
    let (b, a) = (shapes_of(before), shapes_of(after));
    let mut out = serde_json::Map::new();
    for (name, shape) in &a {
        if b.get(name) != Some(shape) {
            out.insert(name.clone(), shape.clone());
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        out.insert(name.clone(), Value::Null);
    }
    Value::Object(out)
}

/// Collections that differ from what the newest applied migration touching
/// them left: changed, deleted or recreated outside the migrations.
pub fn drift(applied: &[Applied], live: &Value) -> Vec<Value> {
    let live = shapes_of(live);
    let mut expected: BTreeMap<String, (u32, String, Value)> = BTreeMap::new();
    for a in applied {
        for (name, shape) in a.schema.as_object().into_iter().flatten() {
            expected.insert(name.clone(), (a.version, a.name.clone(), shape.clone()));
        }
    }
    let mut out = Vec::new();
    for (name, (version, mname, want)) in expected {
        let label = format!("{version:04}_{mname}");
        let problem = match (want.is_null(), live.get(&name)) {
            (true, None) => continue,
            (false, Some(now)) if *now == want => continue,
            (true, Some(_)) => {
                format!("schema drift: collection {name} exists, but migration {label} deleted it")
            }
            (false, None) => format!(
                "schema drift: collection {name} is gone, but migration {label} left it in place"
            ),
            (false, Some(now)) => format!(
                "schema drift: collection {name} differs from what migration {label} left: {}",
                differences(&want, now)
            ),
        };
        out.push(
            json!({"version": format!("{version:04}"), "name": mname, "file": Value::Null,
            "collection": name, "problem": problem}),
        );
    }
    out
}

/// The differences between two shapes, for a person.
fn differences(want: &Value, now: &Value) -> String {
    let mut out = Vec::new();
    for key in ["vectorizer", "factor", "multi_tenancy"] {
        if want[key] != now[key] {
            out.push(format!("{key} {} then, {} now", want[key], now[key]));
        }
    }
    let props = |v: &Value| -> BTreeMap<String, Value> {
        v["properties"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p.clone(),
                )
            })
            .collect()
    };
    let (w, n) = (props(want), props(now));
    for (name, p) in &n {
        match w.get(name) {
            None => out.push(format!("property {name} added")),
            Some(q) if q != p => out.push(format!(
                "property {name}: {} {} then, {} {} now",
                q["dataType"], q["tokenization"], p["dataType"], p["tokenization"]
            )),
            _ => {}
        }
    }
    for name in w.keys().filter(|k| !n.contains_key(*k)) {
        out.push(format!("property {name} removed"));
    }
    out.join("; ")
}

/// One row per version found in the folder or the record: applied,
/// pending, changed (applied, but the file differs now) or missing
/// (applied, but no file).
pub fn status(files: &[MigrationFile], applied: &[Applied]) -> Vec<Value> {
    let mut versions: Vec<u32> = files
        .iter()
        .map(|f| f.version)
        .chain(applied.iter().map(|a| a.version))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
        .into_iter()
        .map(|v| {
            let file = files.iter().find(|f| f.version == v);
            let rec = applied.iter().find(|a| a.version == v);
            let state = match (file, rec) {
                (Some(_), None) => "pending",
                (None, Some(_)) => "missing",
                (Some(f), Some(a)) if f.checksum != a.checksum => "changed",
                _ => "applied",
            };
            json!({
                "version": format!("{v:04}"),
                "name": file.map(|f| f.name.clone()).or_else(|| rec.map(|a| a.name.clone())),
                "file": file.map(|f| f.path.display().to_string()),
                "state": state,
                "checksum": file.map(|f| f.checksum.clone()),
                "applied_checksum": rec.map(|a| a.checksum.clone()),
                "applied_at": rec.map(|a| a.applied_at.clone()),
                "applied_by": rec.map(|a| a.applied_by.clone()),
            })
        })
        .collect()
}

/// A version argument: "2", "0002" or the full label "0002_add_authors".
pub fn parse_version(s: &str) -> HostResult<u32> {
    let digits = s.split('_').next().unwrap_or(s).trim();
    digits.parse().map_err(|_| {
        HostError::validation(format!("{s:?} is not a migration version"))
            .with_hint("give the number of a migration, e.g. 2 or 0002 (`elysiactl migrate status` lists them)")
    })
}

/// The migrations `up` applies, in order: every pending one, or those up
/// to `to`. Refuses a pending migration older than an applied one (its
/// place in history has passed) and a `to` that names no migration.
pub fn pending(
    files: &[MigrationFile],
    applied: &[Applied],
    to: Option<u32>,
) -> HostResult<Vec<MigrationFile>> {
    let latest = applied.iter().map(|a| a.version).max();
    let pending: Vec<&MigrationFile> = files
        .iter()
        .filter(|f| !applied.iter().any(|a| a.version == f.version))
        .collect();
    if let (Some(latest), Some(early)) = (
        latest,
        pending
            .iter()
            .find(|f| latest.is_some_and(|l| f.version < l)),
    ) {
        return Err(HostError::validation(format!(
            "{} is pending, but the later migration {latest:04} is applied already",
            early.label()
        ))
        .with_hint("give the new migration a number after the applied ones (rename the file), so every cluster applies them in the same order"));
    }
    if let Some(to) = to {
        if !files.iter().any(|f| f.version == to) && !applied.iter().any(|a| a.version == to) {
            return Err(HostError::validation(format!("no migration {to:04}"))
                .with_hint("`elysiactl migrate status` lists the versions"));
        }
    }
    Ok(pending
        .into_iter()
        .filter(|f| to.is_none_or(|to| f.version <= to))
        .cloned()
        .collect())
}

/// The applied migrations `rollback` undoes, newest first: the last
/// `steps`. Each needs its file (its `down` is in it).
pub fn rollback_plan(
    files: &[MigrationFile],
    applied: &[Applied],
    steps: u32,
) -> HostResult<Vec<MigrationFile>> {
    if steps == 0 {
        return Err(HostError::validation("--steps 0 rolls nothing back")
            .with_hint("give --steps 1 or more"));
    }
    let mut out = Vec::new();
    for a in applied.iter().rev().take(steps as usize) {
        let Some(f) = files.iter().find(|f| f.version == a.version) else {
            return Err(HostError::validation(format!(
                "migration {:04}_{} is applied, but its file is not in the migrations folder, so its down() cannot run",
                a.version, a.name
            ))
            .with_hint("restore the file (from version control), or point --dir at the folder that has it"));
        };
        out.push(f.clone());
    }
    Ok(out)
}

/// What `validate` finds wrong: applied files changed or gone since, and
/// pending files older than applied ones.
pub fn problems(files: &[MigrationFile], applied: &[Applied]) -> Vec<Value> {
    let mut out = Vec::new();
    let latest = applied.iter().map(|a| a.version).max();
    for row in status(files, applied) {
        let label = format!(
            "{}_{}",
            row["version"].as_str().unwrap_or_default(),
            row["name"].as_str().unwrap_or_default()
        );
        let problem = match row["state"].as_str() {
            Some("changed") => format!(
                "{} changed since it was applied on {} by {}: checksum {} then, {} now",
                row["file"].as_str().unwrap_or(&label),
                row["applied_at"].as_str().unwrap_or("?"),
                row["applied_by"].as_str().unwrap_or("?"),
                short(row["applied_checksum"].as_str()),
                short(row["checksum"].as_str()),
            ),
            Some("missing") => format!("{label} is applied, but its file is gone"),
            Some("pending")
                if latest.is_some_and(|l| {
                    parse_version(row["version"].as_str().unwrap_or("0")).unwrap_or(0) < l
                }) =>
            {
                format!("{label} is pending, but a later migration is applied already")
            }
            _ => continue,
        };
        out.push(json!({
            "version": row["version"],
            "name": row["name"],
            "file": row["file"],
            "problem": problem,
        }));
    }
    out
}

fn short(s: Option<&str>) -> &str {
    s.map(|s| &s[..s.len().min(12)]).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(v: u32, name: &str, sum: &str) -> MigrationFile {
        MigrationFile {
            version: v,
            name: name.into(),
            path: PathBuf::from(format!("m/{v:04}_{name}.rhai")),
            checksum: sum.into(),
        }
    }

    fn rec(v: u32, name: &str, sum: &str) -> Applied {
        Applied {
            version: v,
            name: name.into(),
            checksum: sum.into(),
            applied_at: "2026-12-03T16:00:00Z".into(),
            applied_by: "ops@box".into(),
            schema: json!({}),
        }
    }

    #[test]
    fn names_are_versioned_and_others_are_not_migrations() {
        assert_eq!(
            parse_name("0001_create_books.rhai").unwrap().unwrap(),
            (1, "create_books".to_string())
        );
        assert_eq!(
            parse_name("0012_x.lua").unwrap().unwrap(),
            (12, "x".to_string())
        );
        assert!(parse_name("helpers.rhai").is_none());
        assert!(parse_name("README.md").is_none());
        for bad in [
            "1_x.rhai",
            "0001-x.rhai",
            "0001_X.rhai",
            "0001_x.py",
            "0001_.rhai",
            "0001",
        ] {
            assert!(parse_name(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn scan_orders_by_version_and_refuses_a_duplicate_version() {
        let dir = std::env::temp_dir().join(format!("mig-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0002_b.lua"), "function up() end").unwrap();
        std::fs::write(dir.join("0001_a.rhai"), "fn up() {}").unwrap();
        std::fs::write(dir.join("lib.rhai"), "").unwrap();
        let got = scan(&dir).unwrap();
        assert_eq!(
            got.iter().map(|f| f.label()).collect::<Vec<_>>(),
            ["0001_a", "0002_b"]
        );
        assert_eq!(got[0].checksum, checksum(b"fn up() {}"));
        std::fs::write(dir.join("0002_c.rhai"), "").unwrap();
        let e = scan(&dir).unwrap_err();
        assert!(
            e.message.contains("two migrations have version 0002"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(scan(&dir).unwrap().is_empty());
    }

    #[test]
    fn create_numbers_the_next_file_and_refuses_a_clashing_name() {
        let dir = std::env::temp_dir().join(format!("mig-new-{}", std::process::id()));
        let a = create(&dir, "create_books", false).unwrap();
        assert_eq!(a.label(), "0001_create_books");
        let b = create(&dir, "add_authors", true).unwrap();
        assert_eq!(b.path.file_name().unwrap(), "0002_add_authors.lua");
        let e = create(&dir, "create_books", true).unwrap_err();
        assert!(e.message.contains("exists already"), "{e}");
        assert!(create(&dir, "Bad-Name", false).is_err());
        assert_eq!(planned(&dir, "third", false).unwrap().version, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn status_tells_applied_pending_changed_and_missing() {
        let files = [file(1, "a", "s1"), file(2, "b", "s2x"), file(4, "d", "s4")];
        let applied = [rec(1, "a", "s1"), rec(2, "b", "s2"), rec(3, "c", "s3")];
        let states: Vec<String> = status(&files, &applied)
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["version"].as_str().unwrap(),
                    r["state"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                "0001:applied",
                "0002:changed",
                "0003:missing",
                "0004:pending"
            ]
        );
        let p = problems(&files, &applied);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0]["problem"]
            .as_str()
            .unwrap()
            .contains("m/0002_b.rhai changed"));
    }

    #[test]
    fn pending_stops_at_to_and_refuses_out_of_order() {
        let files = [file(1, "a", "1"), file(2, "b", "2"), file(3, "c", "3")];
        let got = pending(&files, &[rec(1, "a", "1")], Some(2)).unwrap();
        assert_eq!(got.iter().map(|f| f.version).collect::<Vec<_>>(), [2]);
        assert_eq!(pending(&files, &[], None).unwrap().len(), 3);
        assert!(pending(&files, &[], Some(7)).is_err());
        let e = pending(&files, &[rec(2, "b", "2")], None).unwrap_err();
        assert!(e.message.contains("0001_a is pending"), "{e}");
    }

    #[test]
    fn rollback_takes_the_newest_and_needs_their_files() {
        let files = [file(1, "a", "1"), file(2, "b", "2")];
        let applied = [rec(1, "a", "1"), rec(2, "b", "2")];
        let got = rollback_plan(&files, &applied, 1).unwrap();
        assert_eq!(got[0].version, 2);
        assert_eq!(rollback_plan(&files, &applied, 9).unwrap().len(), 2);
        assert!(rollback_plan(&files, &applied, 0).is_err());
        let e = rollback_plan(&files[..1], &applied, 1).unwrap_err();
        assert!(e.message.contains("its file is not"), "{e}");
    }

    fn class(name: &str, props: Value) -> Value {
        json!({"class": name, "vectorizer": "none", "properties": props,
               "replicationConfig": {"factor": 3}, "shardingConfig": {"actualCount": 3}})
    }

    #[test]
    fn changes_and_drift_compare_what_a_migration_decides() {
        let title = json!({"name": "title", "dataType": ["text"], "tokenization": "word", "indexFilterable": true});
        let before = json!({"classes": [class("Keep", json!([title])), class("Gone", json!([]))]});
        let mut changed = class(
            "Keep",
            json!([title, {"name": "year", "dataType": ["int"]}]),
        );
        let after = json!({"classes": [changed.clone(), class("New", json!([])),
            {"class": COLLECTION, "properties": []}]});
        let c = schema_changes(&before, &after);
        let mut names: Vec<&String> = c.as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["Gone", "Keep", "New"]);
        assert!(c["Gone"].is_null());
        // Server tuning is no change; a property's type is.
        changed["shardingConfig"]["actualCount"] = json!(1);
        assert_eq!(
            schema_changes(
                &after,
                &json!({"classes": [changed.clone(), class("New", json!([]))]})
            ),
            json!({})
        );
        let mut applied = rec(1, "a", "s");
        applied.schema = c;
        assert!(drift(&[applied.clone()], &after).is_empty());
        changed["properties"][1]["dataType"] = json!(["text"]);
        let live = json!({"classes": [changed, class("Gone", json!([]))]});
        let d = drift(&[applied], &live);
        let problems: Vec<&str> = d.iter().map(|p| p["problem"].as_str().unwrap()).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("Gone exists, but migration 0001_a deleted it"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("Keep differs") && problems[1].contains("property year"),
            "{problems:?}"
        );
        assert!(problems[2].contains("New is gone"), "{problems:?}");
    }

    #[test]
    fn versions_parse_from_numbers_and_labels() {
        assert_eq!(parse_version("2").unwrap(), 2);
        assert_eq!(parse_version("0002").unwrap(), 2);
        assert_eq!(parse_version("0002_add").unwrap(), 2);
        assert!(parse_version("two").is_err());
    }
}
