//! `config apply` and `config rollback`: bring the running stack to a
//! config file as a reviewed, reversible step. The plan is the difference
//! between the file and what the stack runs with (config_diff.rs), each
//! difference given the action it needs: a rolling restart of the nodes, an
//! Elysia restart, or a refusal with the reason when it cannot be applied
//! live. Settings the running services do not hold (index, script, jobs …)
//! need nothing and do not appear. Every applied file is kept as a numbered
//! version under `$XDG_STATE_HOME/elysiactl/config-history`, secrets masked.

use super::config_diff::{diff_running, Change};
use crate::base::config::Config;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::redact::{is_secret_name, MASK};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one difference needs.
pub fn action_for(key: &str) -> (&'static str, Option<&'static str>) {
    let refuse = |why| ("refused", Some(why));
    if key == "weaviate.api_key" {
        return refuse("nodes restarted one by one would accept different keys in between, locking clients out: stop, change the key, start");
    }
    if key == "weaviate.nodes" || key.starts_with("weaviate-") {
        return refuse("the node count and the nodes' addresses cannot change under a running cluster (RAFT membership): stop, change, start, then `repair config-replication`");
    }
    if key == "elysia" {
        return refuse(
            "Elysia does not run: `elysiactl elysia start` starts it with the file's settings",
        );
    }
    if key.starts_with("backup.") {
        return refuse("the backup store starts and stops with the stack, and every node needs the same store: stop, change [backup], start");
    }
    if key.starts_with("weaviate.") {
        return ("rolling restart of the nodes", None);
    }
    if key.starts_with("elysia.") {
        return ("Elysia restart", None);
    }
    refuse("not a setting elysiactl knows how to apply live")
}

/// The plan: every difference with its action; `refused` lists why it cannot go ahead.
pub fn plan(ctx: &Context, target: &Config) -> HostResult<Value> {
    let changes = diff_running(ctx, target)?;
    Ok(plan_of(&changes))
}

fn plan_of(changes: &[Change]) -> Value {
    let steps: Vec<Value> = changes
        .iter()
        .map(|c| {
            let (action, why) = action_for(&c.key);
            json!({"key": c.key, "file": c.a, "running": c.b, "action": action, "reason": why})
        })
        .collect();
    let has = |a: &str| steps.iter().any(|s| s["action"] == a);
    json!({
        "changes": steps,
        "rolling_restart": has("rolling restart of the nodes"),
        "elysia_restart": has("Elysia restart"),
        "refused": steps.iter().filter(|s| s["action"] == "refused").cloned().collect::<Vec<_>>(),
    })
}

/// Carry out `plan` with `target` (a context holding the target
/// configuration): nodes first, one at a time, then Elysia, then read the
/// stack back. Returns the plan with `done` and `verified`.
pub fn execute(target: &Context, mut plan: Value) -> HostResult<Value> {
    if plan["refused"].as_array().is_some_and(|r| !r.is_empty()) {
        let reasons: Vec<String> = plan["refused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}: {}",
                    s["key"].as_str().unwrap_or(""),
                    s["reason"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Err(HostError::validation(format!(
            "this change cannot be applied to the running stack: {}",
            reasons.join("; ")
        ))
        .with_hint("change only what can be applied live, or do the refused part by hand as each reason says"));
    }
    let cfg = &target.config;
    let mut done = Vec::new();
    if plan["rolling_restart"] == true {
        super::weaviate::restart(
            target,
            true,
            Duration::from_secs(cfg.weaviate.ready_timeout),
            Duration::from_secs(cfg.weaviate.stop_timeout),
        )?;
        done.push("rolling restart of the nodes");
    }
    if plan["elysia_restart"] == true {
        super::elysia::stop(target, Duration::from_secs(cfg.elysia.stop_timeout))?;
        super::elysia::start(
            target,
            Duration::from_secs(cfg.elysia.ready_timeout),
            true,
            cfg.elysia.workers,
        )?;
        done.push("Elysia restart");
    }
    let left = diff_running(target, cfg)?;
    plan["done"] = json!(done);
    plan["verified"] = json!(left.is_empty());
    plan["left"] = json!(left);
    Ok(plan)
}

// ---- history -----------------------------------------------------------------

pub fn history_dir() -> PathBuf {
    crate::base::paths::state_dir().join("config-history")
}

fn version_file(n: u64, ext: &str) -> PathBuf {
    history_dir().join(format!("{n:04}.{ext}"))
}

/// The recorded versions, oldest first: `{version, time, summary, …}`.
pub fn history() -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(history_dir()) else {
        return Vec::new();
    };
    let mut v: Vec<Value> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    v.sort_by_key(|r: &Value| r["version"].as_u64().unwrap_or(0));
    v
}

/// Dotted keys of the secrets a config text holds.
fn secret_paths(doc: &toml_edit::DocumentMut) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (section, key) in [
        ("weaviate", "api_key"),
        ("elysia", "api_key"),
        ("index", "embedding_api_key"),
    ] {
        if doc.get(section).and_then(|s| s.get(key)).is_some() {
            out.push(vec![section.to_string(), key.to_string()]);
        }
    }
    for section in ["weaviate", "elysia"] {
        if let Some(env) = doc
            .get(section)
            .and_then(|s| s.get("env"))
            .and_then(|e| e.as_table_like())
        {
            for (k, _) in env.iter().filter(|(k, _)| is_secret_name(k)) {
                out.push(vec![section.into(), "env".into(), k.to_string()]);
            }
        }
    }
    out
}

fn item_at<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    path: &[String],
) -> Option<&'a mut toml_edit::Item> {
    let mut item = doc.as_item_mut();
    for p in path {
        item = item.get_mut(p.as_str())?;
    }
    Some(item)
}

/// The text with every secret replaced by `***`: what history keeps.
pub fn mask_secrets(text: &str) -> HostResult<String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| HostError::validation(format!("the config does not parse: {e}")))?;
    for path in secret_paths(&doc) {
        if let Some(item) = item_at(&mut doc, &path) {
            if item.as_str().is_some_and(|s| !s.is_empty()) {
                *item = toml_edit::value(MASK);
            }
        }
    }
    Ok(doc.to_string())
}

/// A masked version's text with the secrets of `current` put back: a
/// rollback changes settings, not keys.
pub fn unmask_secrets(masked: &str, current: &str) -> HostResult<String> {
    let mut doc: toml_edit::DocumentMut = masked
        .parse()
        .map_err(|e| HostError::validation(format!("the recorded version does not parse: {e}")))?;
    let mut cur: toml_edit::DocumentMut = current.parse().unwrap_or_default();
    for path in secret_paths(&doc) {
        let value = item_at(&mut cur, &path).and_then(|i| i.as_str().map(str::to_string));
        if let Some(item) = item_at(&mut doc, &path) {
            if item.as_str() == Some(MASK) {
                match value {
                    Some(v) => *item = toml_edit::value(v),
                    None => *item = toml_edit::Item::None,
                }
            }
        }
    }
    Ok(doc.to_string())
}

/// Keep `text` as the next version, with a one-line summary.
pub fn record(text: &str, summary: &str) -> HostResult<Value> {
    let dir = history_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    let n = history()
        .last()
        .and_then(|r| r["version"].as_u64())
        .unwrap_or(0)
        + 1;
    let meta = json!({
        "version": n,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "summary": summary,
    });
    let io = |p: &Path, e| HostError::io(format!("cannot write {}", p.display()), e);
    let toml = version_file(n, "toml");
    std::fs::write(&toml, mask_secrets(text)?).map_err(|e| io(&toml, e))?;
    let json_file = version_file(n, "json");
    std::fs::write(&json_file, meta.to_string()).map_err(|e| io(&json_file, e))?;
    Ok(meta)
}

/// The text of version `n`, secrets masked.
pub fn version_text(n: u64) -> HostResult<String> {
    std::fs::read_to_string(version_file(n, "toml")).map_err(|_| {
        HostError::validation(format!("there is no configuration version {n}"))
            .with_hint("`elysiactl config history` lists the versions")
    })
}

/// A one-line summary of a plan: the keys and actions, never values.
pub fn summary(plan: &Value) -> String {
    let keys: Vec<&str> = plan["changes"]
        .as_array()
        .map(|c| c.iter().filter_map(|s| s["key"].as_str()).collect())
        .unwrap_or_default();
    if keys.is_empty() {
        "no change to the running stack".into()
    } else {
        keys.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_difference_gets_its_action() {
        assert_eq!(
            action_for("weaviate.env.LOG_LEVEL").0,
            "rolling restart of the nodes"
        );
        assert_eq!(
            action_for("weaviate.version").0,
            "rolling restart of the nodes"
        );
        assert_eq!(action_for("elysia.env.X").0, "Elysia restart");
        for refused in [
            "weaviate.nodes",
            "weaviate-1.env.RAFT_PORT",
            "weaviate.api_key",
            "elysia",
        ] {
            let (action, why) = action_for(refused);
            assert_eq!(action, "refused", "{refused}");
            assert!(why.unwrap().len() > 20);
        }
    }

    #[test]
    fn history_masks_secrets_and_a_rollback_puts_the_current_ones_back() {
        let text =
            "[weaviate]\napi_key = \"k-old-1\"\n[elysia.env]\nMY_TOKEN = \"t-1\"\nLOG = \"x\"\n";
        let masked = mask_secrets(text).unwrap();
        assert!(
            !masked.contains("k-old-1") && !masked.contains("t-1"),
            "{masked}"
        );
        assert!(masked.contains("LOG = \"x\""));
        let current = "[weaviate]\napi_key = \"k-now-2\"\n[elysia.env]\nMY_TOKEN = \"t-2\"\n";
        let back = unmask_secrets(&masked, current).unwrap();
        let cfg = Config::parse(&back).unwrap();
        assert_eq!(cfg.weaviate.api_key.expose(), "k-now-2");
        assert_eq!(cfg.elysia.env["MY_TOKEN"], "t-2");
        assert_eq!(cfg.elysia.env["LOG"], "x");
    }
}
