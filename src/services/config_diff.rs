//! `config diff`: two effective configurations key by key, or a file's
//! against what the running stack actually runs with. The running side is
//! read back, not remembered: each node's and Elysia's environment from
//! /proc/PID/environ (a container's main process is a host process too),
//! Elysia's port from its command line, Weaviate's version from /v1/meta.
//! Secrets are compared but never shown: `***`, and `*** (differs)`.

use crate::base::config::{Config, RuntimeKind};
use crate::base::context::Context;
use crate::base::error::HostResult;
use crate::base::redact::{is_secret_name, MASK};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub key: String,
    /// The first side's value (null: not set there).
    pub a: Value,
    pub b: Value,
}

/// Dotted keys to values: `weaviate.rest_port`, `weaviate.env.LOG_LEVEL`, `jobs[0].cron`.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        // An empty table is no setting: `env = {}` and no env are the same.
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::Array(a) if a.iter().any(Value::is_object) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// The secrets of a configuration by key, in the clear, to compare.
fn secrets(c: &Config) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(
        "weaviate.api_key".into(),
        c.weaviate.api_key.expose().into(),
    );
    m.insert("elysia.api_key".into(), c.elysia.api_key.expose().into());
    m.insert(
        "index.embedding_api_key".into(),
        c.index.embedding_api_key.expose().into(),
    );
    for (section, env) in [("weaviate", &c.weaviate.env), ("elysia", &c.elysia.env)] {
        for (k, v) in env {
            if is_secret_name(k) {
                m.insert(format!("{section}.env.{k}"), v.clone());
            }
        }
    }
    m
}

fn masked(v: &str) -> Value {
    json!(if v.is_empty() { "" } else { MASK })
}

/// Two secrets as a diff shows them: masked, the second marked when they differ.
fn secret_change(key: &str, a: &str, b: &str) -> Option<Change> {
    (a != b).then(|| Change {
        key: key.to_string(),
        a: masked(a),
        b: if b.is_empty() {
            json!("")
        } else {
            json!(format!("{MASK} (differs)"))
        },
    })
}

/// Every key whose effective value differs between `a` and `b`.
pub fn diff_configs(a: &Config, b: &Config) -> Vec<Change> {
    let strip = |c: &Config| {
        let mut v = c.redacted_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("sources");
        }
        let mut flat = BTreeMap::new();
        flatten("", &v, &mut flat);
        flat
    };
    let (fa, fb) = (strip(a), strip(b));
    let (sa, sb) = (secrets(a), secrets(b));
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            if sa.contains_key(k) || sb.contains_key(k) {
                let get = |s: &BTreeMap<String, String>| s.get(k).cloned().unwrap_or_default();
                return secret_change(k, &get(&sa), &get(&sb));
            }
            let (x, y) = (
                fa.get(k).cloned().unwrap_or(Value::Null),
                fb.get(k).cloned().unwrap_or(Value::Null),
            );
            (x != y).then(|| Change {
                key: k.clone(),
                a: x,
                b: y,
            })
        })
        .collect()
}

/// The environment a process started with.
fn environ(pid: u32) -> Option<BTreeMap<String, String>> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What a node's environment variable means in the config file.
fn node_key(var: &str, node: &str, file: &Config) -> String {
    match var {
        "AUTHENTICATION_APIKEY_ALLOWED_KEYS" => "weaviate.api_key".into(),
        "RAFT_BOOTSTRAP_EXPECT" => "weaviate.nodes".into(),
        _ if !file.weaviate.env.contains_key(var) && backup_key(var).is_some() => {
            backup_key(var).unwrap_or_default().into()
        }
        _ if file.weaviate.env.contains_key(var)
            || crate::runtime::common_node_env(&Default::default(), &file.weaviate.node(0))
                .contains_key(var) =>
        {
            format!("weaviate.env.{var}")
        }
        _ => format!("{node}.env.{var}"),
    }
}

/// The [backup] setting behind a variable the runtime gives the nodes
/// when backups are enabled (runtime::weaviate_for).
fn backup_key(var: &str) -> Option<&'static str> {
    Some(match var {
        "BACKUP_S3_BUCKET" => "backup.bucket",
        "BACKUP_S3_ENDPOINT" => "backup.port",
        "AWS_ACCESS_KEY_ID" => "backup.access_key",
        "AWS_SECRET_ACCESS_KEY" => "backup.secret_key",
        "BACKUP_S3_USE_SSL" | "AWS_REGION" => "backup.enabled",
        _ => return None,
    })
}

fn expected_node_env(
    cfg: &Config,
    kind: RuntimeKind,
    i: usize,
    ctx: &Context,
) -> BTreeMap<String, String> {
    let node = cfg.weaviate.node(i);
    match kind {
        RuntimeKind::Process => {
            crate::runtime::process::ProcessRuntime::new(crate::runtime::weaviate_for(cfg, kind))
                .node_env(&node)
        }
        RuntimeKind::Docker => crate::runtime::docker::DockerRuntime::new(
            crate::runtime::weaviate_for(cfg, kind),
            ctx.rt.clone(),
        )
        .map(|r| r.node_env(&node))
        .unwrap_or_default(),
        RuntimeKind::Swarm => crate::runtime::swarm::SwarmRuntime::new(
            crate::runtime::weaviate_for(cfg, kind),
            ctx.rt.clone(),
        )
        .map(|r| r.node_env(&node))
        .unwrap_or_default(),
        // No process of a remote cluster is this tool's to read.
        RuntimeKind::Remote => BTreeMap::new(),
    }
}

/// Compare two environments over the variables elysiactl sets (either
/// side's), naming each difference by `key_of`.
fn env_changes(
    expected: &BTreeMap<String, String>,
    also: &BTreeMap<String, String>,
    running: &BTreeMap<String, String>,
    key_of: impl Fn(&str) -> String,
) -> Vec<Change> {
    let mut vars: Vec<&String> = expected.keys().chain(also.keys()).collect();
    vars.sort();
    vars.dedup();
    vars.into_iter()
        .filter_map(|var| {
            let want = expected.get(var).cloned().unwrap_or_default();
            let have = running.get(var).cloned().unwrap_or_default();
            let key = key_of(var);
            if is_secret_name(var) || key.ends_with("api_key") {
                return secret_change(&key, &want, &have);
            }
            let v = |s: String| if s.is_empty() { Value::Null } else { json!(s) };
            (want != have).then(|| Change {
                key,
                a: v(want),
                b: v(have),
            })
        })
        .collect()
}

/// `file` against the running stack (found with `ctx.config`, the
/// configuration it was started with as far as this tool knows).
pub fn diff_running(ctx: &Context, file: &Config) -> HostResult<Vec<Change>> {
    let rt = crate::runtime::select(&ctx.config, &ctx.rt)?;
    let kind = rt.kind();
    if kind == RuntimeKind::Remote {
        return Err(crate::runtime::remote::managed_elsewhere(
            &ctx.config.weaviate,
            "read back what its nodes run with",
        ));
    }
    let mut changes: Vec<Change> = Vec::new();
    let mut push = |c: Change| {
        if !changes.iter().any(|x| x.key == c.key) {
            changes.push(c);
        }
    };
    let mut running_nodes = 0;
    for i in 0..ctx.config.weaviate.nodes.max(file.weaviate.nodes) {
        let name = file.weaviate.node(i).name;
        let st = if i < ctx.config.weaviate.nodes {
            Some(rt.node_state(i)?)
        } else {
            None
        };
        let env = st
            .as_ref()
            .filter(|s| s.running)
            .and_then(|s| s.pid)
            .and_then(environ);
        let Some(env) = env else {
            push(Change {
                key: name.clone(),
                a: json!(if i < file.weaviate.nodes {
                    "running"
                } else {
                    "absent"
                }),
                b: json!("not running"),
            });
            continue;
        };
        running_nodes += 1;
        if i >= file.weaviate.nodes {
            push(Change {
                key: name.clone(),
                a: json!("absent"),
                b: json!("running"),
            });
            continue;
        }
        let expected = expected_node_env(file, kind, i, ctx);
        let current = expected_node_env(&ctx.config, kind, i, ctx);
        for c in env_changes(&expected, &current, &env, |v| node_key(v, &name, file)) {
            push(c);
        }
    }
    if running_nodes > 0 {
        let url = ctx.config.weaviate.node(0).rest_url();
        let client = crate::clients::weaviate::WeaviateClient::new(
            ctx.http.clone(),
            url,
            &ctx.config.weaviate.api_key,
        );
        if let Ok(Some(version)) = ctx.block_on(client.version()) {
            if version != file.weaviate.version {
                push(Change {
                    key: "weaviate.version".into(),
                    a: json!(file.weaviate.version),
                    b: json!(version),
                });
            }
        }
    }
    if file.elysia.enabled || ctx.config.elysia.enabled {
        // With several workers, worker 0 runs with what every worker runs with.
        let workers = super::elysia_workers::read_set();
        let front = match &workers {
            Some(_) => super::elysia_workers::worker_pid_file(0),
            None => super::elysia::pid_file(),
        };
        let pid = match crate::base::process::pid_state(&front)? {
            crate::base::process::PidState::Running { pid } => Some(pid),
            _ => None,
        };
        let running_workers = workers.as_ref().map_or(1, |w| w.ports.len());
        if pid.is_some() && running_workers != file.elysia.workers as usize {
            push(Change {
                key: "elysia.workers".into(),
                a: json!(file.elysia.workers),
                b: json!(running_workers),
            });
        }
        match pid.and_then(|p| environ(p).map(|e| (p, e))) {
            None if file.elysia.enabled => push(Change {
                key: "elysia".into(),
                a: json!("running"),
                b: json!("not running"),
            }),
            None => {}
            Some((pid, env)) => {
                let args = cmdline(pid);
                let port = args
                    .iter()
                    .position(|a| a == "--port")
                    .and_then(|i| args.get(i + 1))
                    .and_then(|p| p.parse::<u16>().ok());
                // A worker listens on a port of its own; nginx holds elysia.port.
                if let Some(port) = port.filter(|p| workers.is_none() && *p != file.elysia.port) {
                    push(Change {
                        key: "elysia.port".into(),
                        a: json!(file.elysia.port),
                        b: json!(port),
                    });
                }
                let expected = super::elysia::environment(file)?;
                let current = super::elysia::environment(&ctx.config)?;
                let key_var = file.elysia.api_key_env.clone();
                for c in env_changes(&expected, &current, &env, |v| {
                    if v == key_var {
                        "elysia.api_key".into()
                    } else {
                        format!("elysia.env.{v}")
                    }
                }) {
                    push(c);
                }
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_files_key_by_key_with_secrets_masked() {
        let a = Config::parse("[weaviate]\nnodes = 3\napi_key = \"alpha-secret\"\n[weaviate.env]\nLOG_LEVEL = \"info\"\n").unwrap();
        let b = Config::parse("[weaviate]\nnodes = 5\napi_key = \"beta-secret\"\n[weaviate.env]\nLOG_LEVEL = \"debug\"\n").unwrap();
        let changes = diff_configs(&a, &b);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "weaviate.api_key",
                "weaviate.env.LOG_LEVEL",
                "weaviate.nodes"
            ]
        );
        let text = serde_json::to_string(&changes).unwrap();
        assert!(
            !text.contains("alpha-secret") && !text.contains("beta-secret"),
            "{text}"
        );
        assert_eq!(changes[0].b, "*** (differs)");
        assert!(diff_configs(&a, &a).is_empty());
    }
}
