//! The "migrate" module for scripts: versioned schema migrations (files,
//! checksums, the record of applied versions in the cluster) and running a
//! migration's `up` or `down`. The bundled `migrate` commands are built
//! from these; see docs/migrations.md.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::migrate::{self as mg, MigrationFile};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

fn dir(host: &Host, a: &Args, i: usize) -> HostResult<PathBuf> {
    let given = a.opts(i)?.str("dir")?;
    Ok(mg::dir_of(host, given.as_deref()))
}

fn files_and_applied(
    host: &Host,
    a: &Args,
    i: usize,
) -> HostResult<(Vec<MigrationFile>, Vec<mg::Applied>)> {
    let files = mg::scan(&dir(host, a, i)?)?;
    let applied = mg::applied(host)?;
    Ok((files, applied))
}

fn list(files: Vec<MigrationFile>) -> Value {
    Value::Array(files.iter().map(MigrationFile::to_json).collect())
}

fn status(host: &Host, a: &Args) -> HostResult<Value> {
    let (files, applied) = files_and_applied(host, a, 0)?;
    Ok(Value::Array(mg::status(&files, &applied)))
}

fn pending(host: &Host, a: &Args) -> HostResult<Value> {
    let to = a
        .opts(0)?
        .get("to")
        .map(|v| match v {
            Value::String(s) => mg::parse_version(s),
            other => mg::parse_version(&other.to_string()),
        })
        .transpose()?;
    let (files, applied) = files_and_applied(host, a, 0)?;
    Ok(list(mg::pending(&files, &applied, to)?))
}

fn rollback_plan(host: &Host, a: &Args) -> HostResult<Value> {
    let steps = a.opts(0)?.int_in("steps", 1, 0, 9999)? as u32;
    let (files, applied) = files_and_applied(host, a, 0)?;
    Ok(list(mg::rollback_plan(&files, &applied, steps)?))
}

fn problems(host: &Host, a: &Args) -> HostResult<Value> {
    let (files, applied) = files_and_applied(host, a, 0)?;
    let mut all = mg::problems(&files, &applied);
    all.extend(mg::drift(&applied, &super::cluster::schema_now(host)?));
    Ok(Value::Array(all))
}

/// Only a migration file runs: scripts have no file access, and this is not
/// a way around that to run (or read through its errors) any file.
fn run(host: &Host, a: &Args) -> HostResult<Value> {
    let file = file_at(Path::new(&a.str(0)?))?;
    host.run_script_function(&file.path, &a.str(1)?)
}

/// The migration file at `path`, as it is now.
fn file_at(path: &Path) -> HostResult<MigrationFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    mg::scan(dir)?
        .into_iter()
        .find(|f| f.path.file_name() == path.file_name())
        .ok_or_else(|| {
            HostError::validation(format!("{} is not a migration file", path.display()))
                .with_hint("give the file of a migration as migrate.pending() lists it")
        })
}

/// The collections the migration changed: `opts.before` (the schema before
/// its up() ran) against the schema now. Nothing when no `before` is given.
fn changes(host: &Host, a: &Args) -> HostResult<Value> {
    match a.opts(1)?.get("before") {
        Some(before) => Ok(mg::schema_changes(
            before,
            &super::cluster::schema_now(host)?,
        )),
        None => Ok(json!({})),
    }
}

fn record(host: &Host, a: &Args) -> HostResult<Value> {
    let file = file_at(Path::new(&a.str(0)?))?;
    let changes = changes(host, a)?;
    Ok(mg::record(host, &file, changes)?.to_json())
}

fn simulate_record(host: &Host, a: &Args) -> HostResult<Value> {
    let file = file_at(Path::new(&a.str(0)?))?;
    Ok(mg::Applied {
        version: file.version,
        name: file.name,
        checksum: file.checksum,
        applied_at: mg::now_rfc3339(),
        applied_by: mg::who(),
        schema: changes(host, a)?,
    }
    .to_json())
}

fn unrecord(host: &Host, a: &Args) -> HostResult<Value> {
    Ok(json!(mg::unrecord(host, mg::parse_version(&a.str(0)?)?)?))
}

fn simulate_unrecord(host: &Host, a: &Args) -> HostResult<Value> {
    let version = mg::parse_version(&a.str(0)?)?;
    Ok(json!(mg::applied(host)?
        .iter()
        .any(|r| r.version == version)))
}

fn lock(host: &Host, _: &Args) -> HostResult<Value> {
    if host.migrate_locked.load(Ordering::SeqCst) {
        return Err(
            HostError::validation("this run holds the migrations lock already")
                .with_hint("take it once per run; it is released when the script ends"),
        );
    }
    let holder = mg::lock(host)?;
    host.migrate_locked.store(true, Ordering::SeqCst);
    Ok(holder)
}

/// Release the lock this run took, when the script has ended without doing
/// so (an error, Ctrl-C, the time limit): the command line calls this.
pub fn release_run(host: &Host) {
    if !host.migrate_locked.swap(false, Ordering::SeqCst) || host.dry_run {
        return;
    }
    if let Err(e) = mg::unlock(host) {
        host.out.warn(&format!(
            "could not release the migrations lock: {} (`elysiactl migrate unlock` removes it)",
            e.message
        ));
    }
}

/// A dry run takes no lock, but says so when another run holds it.
fn simulate_lock(host: &Host, _: &Args) -> HostResult<Value> {
    host.migrate_locked.store(true, Ordering::SeqCst);
    match mg::lock_holder(host)? {
        Some(holder) => Err(HostError::validation(format!(
            "another migrate up or rollback holds the lock: {} since {}",
            holder["held_by"].as_str().unwrap_or("?"),
            holder["since"].as_str().unwrap_or("?")
        ))
        .with_hint("wait for it to end; if it was killed, `elysiactl migrate unlock` removes the stale lock")),
        None => Ok(json!({"held_by": mg::who(), "since": mg::now_rfc3339()})),
    }
}

fn unlock(host: &Host, _: &Args) -> HostResult<Value> {
    let holder = mg::unlock(host)?;
    host.migrate_locked.store(false, Ordering::SeqCst);
    Ok(holder.unwrap_or(Value::Null))
}

fn simulate_unlock(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(mg::lock_holder(host)?.unwrap_or(Value::Null))
}

fn create(host: &Host, a: &Args) -> HostResult<Value> {
    let lua = a.opts(1)?.bool("lua", false)?;
    Ok(mg::create(&dir(host, a, 1)?, &a.str(0)?, lua)?.to_json())
}

fn simulate_create(host: &Host, a: &Args) -> HostResult<Value> {
    let lua = a.opts(1)?.bool("lua", false)?;
    Ok(mg::planned(&dir(host, a, 1)?, &a.str(0)?, lua)?.to_json())
}

fn migration() -> Ty {
    Ty::record(&["version", "name", "file", "checksum"])
}

pub fn functions() -> Vec<HostFn> {
    let dir_opt = || opt("dir", Ty::Str);
    vec![
        read("migrate", "status", status)
            .opts(vec![dir_opt()])
            .returns(Ty::array(Ty::record(&["version", "name", "state"])))
            .doc("Every migration of the folder (opts.dir, default migrate.dir: ./migrations) and of the cluster's record, by version: {version, name, file, state, checksum, applied_checksum, applied_at, applied_by}. state: applied, pending, changed (applied, the file differs now) or missing (applied, no file)."),
        read("migrate", "pending", pending)
            .opts(vec![dir_opt(), opt("to", Ty::Either(vec![Ty::Str, Ty::Int]))])
            .returns(Ty::array(migration()))
            .doc("The migrations `up` applies, in order ({version, name, file, checksum}): every pending one, or those up to opts.to. Refuses a pending migration numbered before an applied one, and a `to` that names none."),
        read("migrate", "rollback_plan", rollback_plan)
            .opts(vec![dir_opt(), opt("steps", Ty::Int)])
            .returns(Ty::array(migration()))
            .doc("The applied migrations `rollback` undoes, newest first: the last opts.steps (default 1). Each must still have its file."),
        read("migrate", "problems", problems)
            .opts(vec![dir_opt()])
            .returns(Ty::array(Ty::record(&["version", "problem"])))
            .doc("What `migrate validate` reports, [{version, name, file, problem}]: applied files changed since (their checksum differs from the recorded one), applied files gone, pending files numbered before applied ones, and schema drift: a collection an applied migration changed whose vectorizer, properties, factor or multi-tenancy differ now from what the newest such migration left (or that is gone, or back after it was deleted). Empty when all is well."),
        read("migrate", "run", run)
            .param("file", Ty::Str)
            .param("function", Ty::one_of(["up", "down"]))
            .returns(Ty::Any)
            .doc("Run a migration file's up() or down() (Rhai: fn up(); Lua: global function up()), under the same limits as this script. Its writes are planned under --dry-run like any other; its error is this call's error. It is not recorded: see migrate.record."),
        write("migrate", "record", record, simulate_record)
            .param("file", Ty::Str)
            .opts(vec![opt("before", Ty::record(&["classes"]))])
            .returns(Ty::record(&["version", "name", "checksum", "applied_at", "applied_by", "collections"]))
            .doc("Record the migration file as applied (its version, name, checksum, the time, user@host) in the cluster's ElysiactlMigrations collection, creating that on first use with the cluster's replication factor. opts.before: cluster.schema() from before its up() ran; the collections that changed since are recorded with their shape (vectorizer, properties, factor, multi-tenancy), for the drift check of migrate.problems(). Returns the record; collections names them."),
        write("migrate", "unrecord", unrecord, simulate_unrecord)
            .param("version", Ty::Str)
            .returns(Ty::Bool)
            .doc("Remove the record of an applied version (\"0002\" or \"2\"); whether there was one. For rollback, after the migration's down() ran."),
        write("migrate", "lock", lock, simulate_lock)
            .returns(Ty::record(&["held_by", "since"]))
            .doc("Take the migrations lock for this run (a fixed object in ElysiactlMigrations), so two operators do not apply at once; fails naming who holds it and since when. Released by migrate.unlock() or when the script ends, however it ends (error, Ctrl-C, time limit); only a killed process leaves it, for `elysiactl migrate unlock`. Best effort: two takes at the same instant through different nodes can both succeed."),
        write("migrate", "unlock", unlock, simulate_unlock)
            .returns(Ty::record(&["held_by", "since"]).or_null())
            .doc("Release the migrations lock (also a stale one left by a killed run): who held it and since when, or null when none was held."),
        write("migrate", "create", create, simulate_create)
            .param("name", Ty::Str)
            .opts(vec![dir_opt(), opt("lua", Ty::Bool)])
            .returns(migration())
            .doc("Write the next numbered migration NNNN_name.rhai (.lua with opts.lua) from the template into the folder, creating it. Refuses a name another migration of the folder has."),
    ]
}
