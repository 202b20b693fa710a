//! The effective configuration, for scripts. Secrets come out redacted.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::config::Config;
use crate::base::error::{HostError, HostResult};
use serde_json::{json, Value};

fn get(host: &Host, a: &Args) -> HostResult<Value> {
    let all = host.config.redacted_json();
    match a.opt_str(0)? {
        None => Ok(all),
        Some(path) => Ok(path
            .split('.')
            .try_fold(&all, |v, k| v.get(k))
            .cloned()
            .unwrap_or(Value::Null)),
    }
}

/// The sections config.set writes: secrets and the job list have their own
/// ways in (the environment, `schedule add`).
const SETTABLE: [&str; 5] = ["weaviate", "elysia", "script", "index", "repos"];

fn settable(a: &Args) -> HostResult<(String, serde_json::Map<String, Value>)> {
    let section = a.str(0)?;
    let values = match a.value(1) {
        Value::Object(m) if !m.is_empty() => m,
        _ => {
            return Err(HostError::validation("config.set needs a map of values")
                .with_hint("e.g. config.set(\"index\", #{batch_size: 500})"))
        }
    };
    if section == "weaviate" && values.contains_key("api_key") {
        return Err(HostError::validation("config.set does not write API keys")
            .with_hint("set WEAVIATE_API_KEY in the environment, or edit the file by hand"));
    }
    Ok((section, values))
}

fn set(host: &Host, a: &Args) -> HostResult<Value> {
    let (section, values) = settable(a)?;
    let file = host.config.file_path();
    crate::base::config::set_values(&file, &section, &values)?;
    Ok(json!({"file": file.display().to_string(), "section": section, "set": values}))
}

fn simulate_set(host: &Host, a: &Args) -> HostResult<Value> {
    let (section, values) = settable(a)?;
    let file = host.config.file_path();
    Ok(
        json!({"file": file.display().to_string(), "section": section, "set": values, "dry_run": true}),
    )
}

fn nodes(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.config.weaviate.node_specs()))
}

fn dry_run(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.dry_run))
}

fn plan(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(host.plan.steps()))
}

// ---- apply, history, rollback ------------------------------------------------

use crate::services::config_apply as apply_mod;

/// The configuration a text gives when loaded as the config file is (file,
/// then environment), through a private file next to the state.
fn load_text(text: &str) -> HostResult<Config> {
    let dir = crate::base::paths::state_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    // Owner-only: the text may hold secrets.
    let tmp = dir.join(format!(".config-apply-{}.toml", std::process::id()));
    let written = {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
    };
    let loaded = written
        .map_err(|e| HostError::io(format!("cannot write {}", tmp.display()), e))
        .and_then(|_| Config::load(Some(&tmp)));
    let _ = std::fs::remove_file(&tmp);
    loaded
}

/// The target of an apply: the file given, else the config file in use;
/// refused when `config validate` finds an error in it.
fn target_text(host: &Host, a: &Args) -> HostResult<(std::path::PathBuf, String)> {
    let path = a
        .opt_str(0)?
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| host.config.file_path());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| HostError::io(format!("cannot read {}", path.display()), e))?;
    check_text(&text, &path)?;
    Ok((path, text))
}

fn check_text(text: &str, path: &std::path::Path) -> HostResult<()> {
    // An apply runs against the running stack, whose nodes hold its ports.
    let issues = crate::base::config::validate::validate(
        text,
        path,
        crate::base::config::validate::Ports::StackMayRun,
    );
    if let Some(first) = issues.iter().find(|i| i.severity == "error") {
        let at = first
            .line
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        return Err(HostError::validation(format!(
            "{} is not valid{at}: {}",
            path.display(),
            first.message
        ))
        .with_hint(format!(
            "`elysiactl config validate {}` lists every problem",
            path.display()
        )));
    }
    Ok(())
}

fn changes(host: &Host, a: &Args) -> HostResult<Value> {
    let (_, text) = target_text(host, a)?;
    apply_mod::plan(host, &load_text(&text)?)
}

/// Apply `text`: plan, write it as the config file in use, carry the plan
/// out with it, record the version.
fn apply_text(host: &Host, text: &str, summary_prefix: &str) -> HostResult<Value> {
    let mut target = load_text(text)?;
    target.file = Some(host.config.file_path());
    let plan = apply_mod::plan(host, &target)?;
    if plan["refused"].as_array().is_some_and(|r| !r.is_empty()) {
        // execute refuses with every reason, before anything is written.
        return apply_mod::execute(host, plan);
    }
    let in_use = host.config.file_path();
    if apply_mod::history().is_empty() {
        if let Ok(before) = std::fs::read_to_string(&in_use) {
            apply_mod::record(&before, "before the first apply")?;
        }
    }
    let new_doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| HostError::validation(format!("the config does not parse: {e}")))?;
    crate::base::config::edit_file(&in_use, |doc| {
        *doc = new_doc;
        Ok(())
    })?;
    let summary = format!("{summary_prefix}{}", apply_mod::summary(&plan));
    let ctx = crate::base::context::Context::new(target, host.rt.clone());
    let mut result = apply_mod::execute(&ctx, plan)?;
    let version = apply_mod::record(text, &summary)?;
    result["version"] = version["version"].clone();
    result["summary"] = json!(summary);
    Ok(result)
}

fn apply(host: &Host, a: &Args) -> HostResult<Value> {
    let (_, text) = target_text(host, a)?;
    apply_text(host, &text, "")
}

fn simulate_apply(host: &Host, a: &Args) -> HostResult<Value> {
    let mut plan = changes(host, a)?;
    plan["done"] = json!([]);
    plan["verified"] = Value::Null;
    plan["version"] = Value::Null;
    plan["summary"] = json!(apply_mod::summary(&plan));
    plan["dry_run"] = json!(true);
    Ok(plan)
}

fn history(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(apply_mod::history()))
}

/// The version a rollback goes to: `to`, else the one before the latest.
fn rollback_target(a: &Args) -> HostResult<Option<u64>> {
    let to = a.opts(0)?.int("to")?;
    let versions = apply_mod::history();
    Ok(match to {
        Some(n) if n > 0 => Some(n as u64),
        Some(n) => {
            return Err(
                HostError::validation(format!("there is no configuration version {n}")).with_hint(
                    "versions are numbered from 1; `elysiactl config history` lists them",
                ),
            )
        }
        None if versions.len() >= 2 => versions[versions.len() - 2]["version"].as_u64(),
        None => None,
    })
}

fn rollback_text(host: &Host, n: u64) -> HostResult<String> {
    let current = std::fs::read_to_string(host.config.file_path()).unwrap_or_default();
    apply_mod::unmask_secrets(&apply_mod::version_text(n)?, &current)
}

fn rollback(host: &Host, a: &Args) -> HostResult<Value> {
    let Some(n) = rollback_target(a)? else {
        return Err(
            HostError::validation("there is no earlier configuration to roll back to").with_hint(
                "`config apply` records versions; `elysiactl config history` lists them",
            ),
        );
    };
    let text = rollback_text(host, n)?;
    let mut r = apply_text(host, &text, &format!("rollback to version {n}: "))?;
    r["rolled_back_to"] = json!(n);
    Ok(r)
}

fn simulate_rollback(host: &Host, a: &Args) -> HostResult<Value> {
    let (mut plan, n) = match rollback_target(a)? {
        Some(n) => (
            apply_mod::plan(host, &load_text(&rollback_text(host, n)?)?)?,
            json!(n),
        ),
        None => (
            json!({"changes": [], "refused": [], "rolling_restart": false, "elysia_restart": false}),
            Value::Null,
        ),
    };
    plan["done"] = json!([]);
    plan["verified"] = Value::Null;
    plan["version"] = Value::Null;
    plan["summary"] = json!(apply_mod::summary(&plan));
    plan["rolled_back_to"] = n;
    plan["dry_run"] = json!(true);
    Ok(plan)
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("config", "get", get)
            .optional("path", Ty::Str)
            .returns(Ty::Any)
            .doc("The effective configuration, or one value by dotted path: config.get(\"weaviate.nodes\"). API keys read as \"***\"."),
        write("config", "set", set, simulate_set)
            .param("section", Ty::one_of(SETTABLE))
            .param("values", Ty::Map)
            .returns(Ty::record(&["file", "section", "set"]))
            .doc("Write values into a [section] of the config file: config.set(\"index\", #{batch_size: 500}). Comments and everything else in the file stay; a change that would make the config invalid is refused and nothing is written. Takes effect from the next command. API keys and jobs (`elysiactl schedule add`) are not set this way."),
        read("config", "nodes", nodes)
            .returns(Ty::array(Ty::Map))
            .doc("The configured Weaviate nodes with their ports (name, rest_port, grpc_port, …)."),
        read("config", "dry_run", dry_run)
            .returns(Ty::Bool)
            .doc("Whether this run is a dry run (changes are printed, not made)."),
        read("config", "changes", changes)
            .optional("file", Ty::Str)
            .returns(Ty::record(&["changes", "rolling_restart", "elysia_restart", "refused"]))
            .doc("What applying a config file (default: the one in use) would do to the running stack: {changes: [{key, file, running, action, reason}], rolling_restart, elysia_restart, refused}. The running side is read back from the processes."),
        write("config", "apply", apply, simulate_apply)
            .optional("file", Ty::Str)
            .returns(Ty::record(&["changes", "done", "verified", "version", "summary"]))
            .doc("Bring the running stack to a config file (default: the one in use; a file given becomes the one in use): a rolling restart of the nodes and/or an Elysia restart, as config.changes plans; refused with the reasons when a change cannot be applied live. Verified by reading the stack back; recorded as a numbered version (secrets masked)."),
        read("config", "history", history)
            .returns(Ty::array(Ty::Map))
            .doc("The applied configuration versions, oldest first: [{version, time, summary}]."),
        write("config", "rollback", rollback, simulate_rollback)
            .opts(vec![opt("to", Ty::Int)])
            .returns(Ty::record(&["changes", "done", "verified", "version", "summary", "rolled_back_to"]))
            .doc("Apply an earlier recorded version (opts.to, default: the one before the latest) the way config.apply does; the secrets in use are kept."),
        read("config", "plan", plan)
            .returns(Ty::array(Ty::Map))
            .doc("The changes recorded so far in a dry run."),
    ]
}
