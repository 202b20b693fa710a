//! Named environments, as kubectl's contexts: each is a config file (the
//! `default` one is config.toml, the others envs/NAME.toml) and its own
//! state and data folders (base::paths scopes them). This module lists,
//! adds, removes and compares them and says which one a command acts on.

use crate::base::config::{Config, RuntimeKind};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths::{self, DEFAULT_ENV};
use crate::clients::weaviate::class_names_of;
use crate::clients::weaviate::Cluster;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Which environment a command acts on and what chose it: `--env`, then
/// `ELYSIACTL_ENV`, then `env switch`'s choice, then `default`.
pub fn resolve(flag: Option<&str>) -> HostResult<(String, &'static str)> {
    let (name, source) = if let Some(f) = flag {
        (f.to_string(), "--env")
    } else if let Some(v) = std::env::var(paths::ENV_VAR).ok().filter(|v| !v.is_empty()) {
        (v, paths::ENV_VAR)
    } else if let Some(s) = switched() {
        (s, "env switch")
    } else {
        (DEFAULT_ENV.to_string(), "default")
    };
    paths::check_env_name(&name)?;
    Ok((name, source))
}

/// The environment `env switch` chose, if any.
fn switched() -> Option<String> {
    let text = std::fs::read_to_string(paths::current_env_file()).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

pub fn exists(name: &str) -> bool {
    name == DEFAULT_ENV || paths::env_config_file(name).exists()
}

/// Refuse an environment that has no config file (a typo must not act on
/// a fresh, empty environment).
pub fn require(name: &str) -> HostResult<()> {
    if exists(name) {
        return Ok(());
    }
    Err(HostError::validation(format!(
        "there is no environment {name} (no {})",
        paths::env_config_file(name).display()
    ))
    .with_hint(format!(
        "`elysiactl env list` names the environments; `elysiactl env add {name}` makes one; \
         `elysiactl env switch default` goes back to the default one"
    )))
}

/// A context for environment `name`'s configuration (its cluster, keys and
/// settings), for a command of this environment that acts on that one too.
/// Refused for a name that is not an environment.
pub fn context_of(name: &str, rt: &tokio::runtime::Handle) -> HostResult<Context> {
    paths::check_env_name(name)?;
    require(name)?;
    Ok(Context::new(Config::load_env(name)?, rt.clone()))
}

/// Every environment's name: `default` first, then envs/*.toml by name.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(paths::envs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.extension()? == "toml" && paths::check_env_name(&stem).is_ok()).then_some(stem)
        })
        .filter(|n| n != DEFAULT_ENV)
        .collect();
    names.sort();
    names.insert(0, DEFAULT_ENV.to_string());
    names
}

/// Where a cluster is reached: its URLs, or host and first port.
fn address(cfg: &Config) -> String {
    let w = &cfg.weaviate;
    if w.urls.is_empty() {
        format!("{}:{}", w.host, w.rest_port)
    } else {
        w.urls.join(", ")
    }
}

/// One row per environment for `env list`; `active` is marked.
pub fn list(active: &str) -> Vec<Value> {
    names()
        .into_iter()
        .map(|name| {
            let mut row = json!({
                "name": name,
                "current": name == active,
                "file": paths::env_config_file(&name).display().to_string(),
                "state": paths::state_dir_of(&name).display().to_string(),
            });
            match Config::load_env(&name) {
                Ok(cfg) => {
                    row["runtime"] = json!(cfg
                        .weaviate
                        .runtime
                        .map(|r| r.as_str())
                        .unwrap_or("detected"));
                    row["weaviate"] = json!(address(&cfg));
                    row["nodes"] = json!(cfg.weaviate.nodes);
                    row["cluster_name"] = json!(cfg.weaviate.cluster_name);
                    row["extends"] = json!(cfg.extends);
                    row["running"] = json!(stack_may_run(&name));
                }
                Err(e) => row["error"] = json!(e.message),
            }
            row
        })
        .collect()
}

/// Make `name` what a bare command acts on.
pub fn switch(name: &str) -> HostResult<()> {
    paths::check_env_name(name)?;
    require(name)?;
    let file = paths::current_env_file();
    if name == DEFAULT_ENV {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HostError::io(
                format!("cannot remove {}", file.display()),
                e,
            )),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(paths::config_dir()).map_err(|e| {
        HostError::io(
            format!("cannot create {}", paths::config_dir().display()),
            e,
        )
    })?;
    paths::write_atomic(&file, format!("{name}\n").as_bytes())
}

/// Whether environment `env` may have something running: a live PID in
/// its run folder, or the runtime marker `start` leaves until `stop`.
pub fn stack_may_run(env: &str) -> bool {
    let run = paths::run_dir_of(env);
    if run.join("weaviate.runtime").exists() {
        return true;
    }
    std::fs::read_dir(&run)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| t.lines().next()?.trim().parse::<u32>().ok())
        .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// What `env add` makes.
#[derive(Debug, Default, Clone)]
pub struct AddOptions {
    /// Copy this config file.
    pub from: Option<PathBuf>,
    /// Inherit every key of this environment.
    pub extends: Option<String>,
    /// A remote cluster at these REST URLs.
    pub urls: Vec<String>,
    /// `env:NAME` or `file:PATH`: the remote cluster's API key, by reference.
    pub api_key_ref: Option<String>,
    /// The remote cluster's gRPC port.
    pub grpc_port: Option<u16>,
    /// The remote cluster's node count (default: one per URL).
    pub nodes: Option<usize>,
}

/// The ports every local environment's cluster and Elysia take, to keep a
/// new one clear of them.
fn ports_in_use() -> Vec<std::ops::Range<u32>> {
    let mut used = Vec::new();
    for name in names() {
        // One that does not load now (a secret's variable unset in this
        // shell) still holds its ports where it is used: read them as written.
        let cfg = Config::load_env(&name).unwrap_or_else(|_| ports_as_written(&name));
        let w = &cfg.weaviate;
        if w.runtime == Some(RuntimeKind::Remote) {
            continue;
        }
        let n = w.nodes as u32;
        for (base, span) in [
            (w.rest_port, n),
            (w.grpc_port, n),
            (w.gossip_port, 2 * n),
            (w.raft_port, 2 * n),
            (w.metrics_port, n),
            (cfg.elysia.port, 1),
        ] {
            used.push(base as u32..base as u32 + span);
        }
    }
    used
}

/// The port settings of `name`'s file as written (defaults for the rest),
/// for one whose whole configuration does not load.
fn ports_as_written(name: &str) -> Config {
    let mut cfg = Config::default();
    let table: toml::Table = std::fs::read_to_string(paths::env_config_file(name))
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let get = |section: &str, key: &str| table.get(section)?.get(key)?.as_integer();
    let port = |section: &str, key: &str, default: u16| {
        get(section, key)
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(default)
    };
    let w = &mut cfg.weaviate;
    w.nodes = get("weaviate", "nodes").map_or(w.nodes, |n| n.clamp(1, 9) as usize);
    w.rest_port = port("weaviate", "rest_port", w.rest_port);
    w.grpc_port = port("weaviate", "grpc_port", w.grpc_port);
    w.gossip_port = port("weaviate", "gossip_port", w.gossip_port);
    w.raft_port = port("weaviate", "raft_port", w.raft_port);
    w.metrics_port = port("weaviate", "metrics_port", w.metrics_port);
    if table
        .get("weaviate")
        .and_then(|t| t.get("runtime"))
        .and_then(|r| r.as_str())
        == Some("remote")
    {
        w.runtime = Some(RuntimeKind::Remote);
    }
    cfg.elysia.port = port("elysia", "port", cfg.elysia.port);
    cfg
}

/// `template`'s ports moved by the first multiple of 100 that clashes with
/// no environment's: (section, key, port).
fn own_ports(template: &Config) -> HostResult<Vec<(&'static str, &'static str, u32)>> {
    let used = ports_in_use();
    let w = &template.weaviate;
    let n = w.nodes as u32;
    for k in 1..=100u32 {
        let shift = 100 * k;
        let wanted = [
            ("weaviate", "rest_port", w.rest_port as u32 + shift, n),
            ("weaviate", "grpc_port", w.grpc_port as u32 + shift, n),
            (
                "weaviate",
                "gossip_port",
                w.gossip_port as u32 + shift,
                2 * n,
            ),
            ("weaviate", "raft_port", w.raft_port as u32 + shift, 2 * n),
            ("weaviate", "metrics_port", w.metrics_port as u32 + shift, n),
            ("elysia", "port", template.elysia.port as u32 + shift, 1),
        ];
        let clashes = wanted.iter().any(|(_, _, base, span)| {
            base + span > 65535 || used.iter().any(|r| r.start < base + span && *base < r.end)
        });
        if !clashes {
            return Ok(wanted.iter().map(|(s, k, p, _)| (*s, *k, *p)).collect());
        }
    }
    Err(
        HostError::validation("no free block of ports for a new environment")
            .with_hint("write the ports yourself: `elysiactl env add NAME --from FILE`"),
    )
}

/// `own_ports` as config lines: the weaviate keys, then an [elysia] table.
fn own_ports_text(template: &Config) -> HostResult<String> {
    let ports = own_ports(template)?;
    let line = |(_, key, port): &(&str, &str, u32)| format!("{key} = {port}\n");
    let weaviate: String = ports
        .iter()
        .filter(|p| p.0 == "weaviate")
        .map(line)
        .collect();
    let elysia: String = ports.iter().filter(|p| p.0 == "elysia").map(line).collect();
    Ok(format!("{weaviate}\n[elysia]\n{elysia}"))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The config file text `env add NAME` writes.
fn new_config(name: &str, o: &AddOptions, with_key: bool) -> HostResult<String> {
    if let Some(from) = &o.from {
        return std::fs::read_to_string(from).map_err(|e| {
            HostError::io(format!("cannot read {}", from.display()), e)
                .with_hint("give --from the path of a config file")
        });
    }
    let mut text = format!(
        "# Environment {name}, made by `elysiactl env add`. docs/environments.md says what\n\
         # every key does; keys left out have their defaults{}.\n",
        o.extends
            .as_ref()
            .map(|b| format!(" or the values of {b}"))
            .unwrap_or_default()
    );
    if let Some(base) = &o.extends {
        text.push_str(&format!("extends = {}\n", toml_string(base)));
    }
    if !o.urls.is_empty() {
        text.push_str("\n# A cluster run elsewhere: only its API is used; start, stop and node\n# chaos refuse.\n[weaviate]\nruntime = \"remote\"\n");
        let urls: Vec<String> = o.urls.iter().map(|u| toml_string(u)).collect();
        text.push_str(&format!("urls = [{}]\n", urls.join(", ")));
        text.push_str(&format!("nodes = {}\n", o.nodes.unwrap_or(o.urls.len())));
        if let Some(g) = o.grpc_port {
            text.push_str(&format!("grpc_port = {g}\n"));
        }
        if let Some(k) = o.api_key_ref.as_ref().filter(|_| with_key) {
            text.push_str(&format!("api_key = {}\n", toml_string(k)));
        }
        text.push_str(
            "\n# Elysia is not run for a remote cluster unless you enable it here (it then\n\
             # runs locally against the remote Weaviate).\n[elysia]\nenabled = false\n",
        );
        return Ok(text);
    }
    let template = match &o.extends {
        Some(base) => Config::load_env(base)?,
        None => Config::default(),
    };
    text.push_str(&format!(
        "\n# Its own ports and Docker names, so it runs beside the other environments.\n\
         [weaviate]\ncluster_name = {}\n{}",
        toml_string(&format!("elysiactl-{name}")),
        own_ports_text(&template)?
    ));
    Ok(text)
}

fn refuse_existing(name: &str) -> HostResult<()> {
    if exists(name) {
        return Err(HostError::validation(format!(
            "the environment {name} exists ({})",
            paths::env_config_file(name).display()
        ))
        .with_hint(format!(
            "edit that file, or `elysiactl env remove {name}` first"
        )));
    }
    Ok(())
}

/// Write environment `name`'s config; refused when it exists or would not load.
pub fn add(name: &str, o: &AddOptions) -> HostResult<Value> {
    paths::check_env_name(name)?;
    refuse_existing(name)?;
    if let Some(base) = &o.extends {
        paths::check_env_name(base)?;
        require(base)?;
    }
    if let Some(k) = &o.api_key_ref {
        if !(k.starts_with("env:") || k.starts_with("file:")) {
            return Err(HostError::validation(
                "--api-key-ref takes a reference, not a key: env:NAME or file:PATH",
            )
            .with_hint("e.g. --api-key-ref env:PROD_WEAVIATE_KEY, so the key is never written into the config or your shell history"));
        }
    }
    for u in &o.urls {
        crate::base::config::parse_url(u).map_err(|why| {
            HostError::validation(format!("--url: {why}"))
                .with_hint("give the cluster's REST URL, e.g. https://weaviate.example.com or http://10.0.0.5:8080")
        })?;
    }
    let text = new_config(name, o, true)?;
    // A key referred to by a variable this shell has not set (it may be set
    // only where the environment is used) is checked when it is used.
    let key_unresolved = o
        .api_key_ref
        .as_ref()
        .is_some_and(|k| crate::base::config::Secret::resolve(k).is_err());
    let file = paths::env_config_file(name);
    std::fs::create_dir_all(paths::envs_dir())
        .map_err(|e| HostError::io(format!("cannot create {}", paths::envs_dir().display()), e))?;
    // What is written must load (a base that does not, a bad --from file):
    // otherwise it is taken back.
    let loaded = if key_unresolved {
        paths::write_atomic(&file, new_config(name, o, false)?.as_bytes())?;
        let loaded = Config::load_env(name);
        paths::write_atomic(&file, text.as_bytes())?;
        loaded
    } else {
        paths::write_atomic(&file, text.as_bytes())?;
        Config::load_env(name)
    };
    match loaded {
        Ok(cfg) => Ok(json!({
            "name": name,
            "file": file.display().to_string(),
            "runtime": cfg.weaviate.runtime.map(|r| r.as_str()),
            "weaviate": address(&cfg),
            "cluster_name": cfg.weaviate.cluster_name,
            "elysia_port": cfg.elysia.port,
            "api_key_unresolved": key_unresolved.then(|| o.api_key_ref.clone()),
        })),
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            Err(e)
        }
    }
}

/// `env clone SRC DST`: SRC's config file as it is written (what it
/// extends included), with DST's own ports and Docker names when SRC runs
/// locally; a remote SRC is copied unchanged (the same cluster by a second
/// name). The data is not copied here.
pub fn clone_config(src: &str, dst: &str) -> HostResult<Value> {
    paths::check_env_name(src)?;
    paths::check_env_name(dst)?;
    require(src)?;
    refuse_existing(dst)?;
    let src_file = paths::env_config_file(src);
    let text = match std::fs::read_to_string(&src_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(HostError::io(
                format!("cannot read {}", src_file.display()),
                e,
            ))
        }
    };
    let cfg = Config::load_env(src)?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        HostError::validation(format!("{}: {e}", src_file.display()))
            .with_hint(format!("fix {}", src_file.display()))
    })?;
    let remote = cfg.weaviate.runtime == Some(RuntimeKind::Remote);
    if !remote {
        let mut set = |section: &str, key: &str, value: toml_edit::Item| {
            let table = doc
                .entry(section)
                .or_insert(toml_edit::table())
                .as_table_like_mut();
            if let Some(t) = table {
                t.insert(key, value);
            }
        };
        set(
            "weaviate",
            "cluster_name",
            toml_edit::value(format!("elysiactl-{dst}")),
        );
        for (section, key, port) in own_ports(&cfg)? {
            set(section, key, toml_edit::value(port as i64));
        }
    }
    let file = paths::env_config_file(dst);
    std::fs::create_dir_all(paths::envs_dir())
        .map_err(|e| HostError::io(format!("cannot create {}", paths::envs_dir().display()), e))?;
    let header = format!("# Cloned from the environment {src} by `elysiactl env clone`.\n");
    paths::write_atomic(&file, format!("{header}{doc}").as_bytes())?;
    match Config::load_env(dst) {
        Ok(c) => Ok(json!({
            "source": src,
            "name": dst,
            "file": file.display().to_string(),
            "weaviate": address(&c),
            "cluster_name": c.weaviate.cluster_name,
            "elysia_port": c.elysia.port,
        })),
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            Err(e)
        }
    }
}

/// The keys of a collection's definition a copy keeps: what it is, not
/// where its shards were (sharding follows the target's nodes).
const SCHEMA_KEYS: &[&str] = &[
    "class",
    "description",
    "properties",
    "vectorizer",
    "vectorIndexType",
    "vectorIndexConfig",
    "vectorConfig",
    "invertedIndexConfig",
    "moduleConfig",
    "replicationConfig",
];

/// What a batch write of a copied object carries.
const OBJECT_KEYS: &[&str] = &["class", "id", "properties", "vector", "vectors"];

/// `env clone SRC DST --data`: copy collections (all of SRC's, or
/// `only`) from SRC's cluster into DST's through the batch API, schema
/// first, then every object with its vectors, in pages by ID; each
/// collection counted at both ends. Refused, changing nothing, when DST
/// already has one of them or a cluster does not answer.
pub fn copy_data(
    src: &str,
    dst: &str,
    only: &[String],
    rt: &tokio::runtime::Handle,
) -> HostResult<Value> {
    let (cs, cd) = (Config::load_env(src)?, Config::load_env(dst)?);
    let (xs, xd) = (
        Context::new(cs.clone(), rt.clone()),
        Context::new(cd.clone(), rt.clone()),
    );
    let from = Cluster::in_context(&xs, &cs.weaviate.node_specs());
    let to = Cluster::in_context(&xd, &cd.weaviate.node_specs());
    let answer = |e: HostError, env: &str| {
        HostError::network(format!("the cluster of environment {env} does not answer: {}", e.message))
            .with_hint(format!("start it (`elysiactl --env {env} start`), then run this again: an existing DST gets only the data"))
    };
    let schema: Value = xs
        .block_on(from.any_node(|c| async move { c.schema().await }))
        .map_err(|e| answer(e, src))?;
    let existing: Vec<String> = xd
        .block_on(to.any_node(|c| async move { c.class_names().await }))
        .map_err(|e| answer(e, dst))?;
    let classes: Vec<Value> = schema["classes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| c["class"] == o.as_str()))
        .collect();
    let missing: Vec<&String> = only
        .iter()
        .filter(|o| !classes.iter().any(|c| c["class"] == o.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(HostError::validation(format!(
            "{src} has no collection {}",
            missing
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_hint(format!(
            "`elysiactl --env {src} test-data list` or its schema names them"
        )));
    }
    let clash: Vec<String> = classes
        .iter()
        .filter_map(|c| c["class"].as_str())
        .filter(|c| existing.iter().any(|e| e == c))
        .map(str::to_string)
        .collect();
    if !clash.is_empty() {
        return Err(HostError::validation(format!(
            "{dst} already has {}: nothing was copied",
            clash.join(", ")
        ))
        .with_hint("remove them there first, or choose the others with --collection"));
    }
    if let Some(mt) = classes
        .iter()
        .find(|c| c["multiTenancyConfig"]["enabled"] == true)
    {
        return Err(HostError::validation(format!(
            "{} has tenants, which a copy does not carry yet: nothing was copied",
            mt["class"].as_str().unwrap_or("")
        ))
        .with_hint("leave it out with --collection"));
    }
    let mut copied = Vec::new();
    for class in classes {
        let name = class["class"].as_str().unwrap_or("").to_string();
        let mut def = serde_json::Map::new();
        for k in SCHEMA_KEYS {
            if let Some(v) = class.get(*k) {
                def.insert(k.to_string(), v.clone());
            }
        }
        // No more copies than DST has nodes.
        let factor = class["replicationConfig"]["factor"].as_u64().unwrap_or(1);
        let factor = factor.clamp(1, cd.weaviate.nodes.max(1) as u64);
        if let Some(r) = def.get_mut("replicationConfig") {
            r["factor"] = json!(factor);
        }
        let def = Value::Object(def);
        xd.block_on(to.any_node_write(|c| {
            let def = def.clone();
            async move { c.create_class(&def).await }
        }))?;
        let mut after: Option<String> = None;
        let mut written = 0u64;
        loop {
            crate::base::cancel::check_interrupt()?;
            let page: Vec<Value> = xs.block_on(from.any_node(|c| {
                let (name, after) = (name.clone(), after.clone());
                async move {
                    c.list_objects_with_vectors(&name, 200, after.as_deref())
                        .await
                }
            }))?;
            let Some(last) = page.last() else { break };
            after = last["id"].as_str().map(str::to_string);
            let objects: Vec<Value> = page
                .iter()
                .map(|o| {
                    let mut m = serde_json::Map::new();
                    for k in OBJECT_KEYS {
                        if let Some(v) = o.get(*k).filter(|v| !v.is_null()) {
                            m.insert(k.to_string(), v.clone());
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            let errors = xd.block_on(to.any_node_write(|c| {
                let objects = objects.clone();
                async move {
                    c.batch_objects(&objects, crate::clients::weaviate::Consistency::All)
                        .await
                }
            }))?;
            if let Some(e) = errors.iter().flatten().next() {
                return Err(
                    HostError::weaviate(format!("{dst} refused objects of {name}: {e}")).with_hint(
                        format!(
                    "{name} is in {dst} in part: remove it there, fix the cause, and copy again"
                ),
                    ),
                );
            }
            written += objects.len() as u64;
        }
        let count = |x: &Context, cl: &Cluster| -> HostResult<u64> {
            x.block_on(cl.any_node(|c| {
                let name = name.clone();
                async move { c.count(&name).await }
            }))
        };
        let (n_src, n_dst) = (count(&xs, &from)?, count(&xd, &to)?);
        copied.push(json!({
            "collection": name, "written": written, "source_count": n_src,
            "target_count": n_dst, "equal": n_src == n_dst, "replication_factor": factor,
        }));
    }
    Ok(json!({
        "source": src,
        "target": dst,
        "collections": copied,
        "equal": copied.iter().all(|c| c["equal"] == true),
    }))
}

/// `env clone SRC DST --data`. When both environments' nodes use one
/// backup store, through a backup of SRC restored into DST: Weaviate ships
/// the shards' files instead of every object passing through the API (the
/// backup is removed once the copy is equal). Otherwise
/// through the batch API ([`copy_data`]). Either way each collection is then
/// read whole at both ends: `equal` means the same count and the same
/// content fingerprint.
pub fn clone_data(
    src: &str,
    dst: &str,
    only: &[String],
    rt: &tokio::runtime::Handle,
) -> HostResult<Value> {
    let (xs, xd) = (context_of(src, rt)?, context_of(dst, rt)?);
    let shared_store = xs.config.backup.enabled
        && crate::backup::check_same_store(&xs.config.backup, &xd.config.backup, dst).is_ok();
    let mut v = if shared_store {
        copy_through_backup(&xs, &xd, src, dst, only)?
    } else {
        let mut v = copy_data(src, dst, only, rt)?;
        v["method"] = json!("batch");
        v
    };
    let names: Vec<String> = v["collections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["collection"].as_str().map(str::to_string))
        .collect();
    let (facts_src, facts_dst) = (
        crate::backup::collection_facts(&xs, &names)?,
        crate::backup::collection_facts(&xd, &names)?,
    );
    for row in v["collections"].as_array_mut().into_iter().flatten() {
        let name = row["collection"].as_str().unwrap_or_default().to_string();
        let (a, b) = (&facts_src[&name], &facts_dst[&name]);
        row["source_fingerprint"] = a["fingerprint"].clone();
        row["target_fingerprint"] = b["fingerprint"].clone();
        row["source_count"] = a["count"].clone();
        row["target_count"] = b["count"].clone();
        // A multi-tenant collection has no whole-collection facts; its
        // counts from the copy stand.
        row["equal"] = json!(a == b && row["equal"] != false);
    }
    let equal = v["collections"]
        .as_array()
        .is_some_and(|c| c.iter().all(|r| r["equal"] == true));
    v["equal"] = json!(equal);
    // The backup was only the vehicle; one that did not give an equal copy
    // stays for a look.
    if let (Some(id), true) = (v["backup"].as_str().map(str::to_string), equal) {
        crate::backup::remove(&xs, &id)?;
        v["backup_removed"] = json!(true);
    }
    Ok(v)
}

/// `clone_data`'s backup path: a full backup of the collections (all of
/// SRC's, or `only`) in SRC's store, restored into DST.
fn copy_through_backup(
    xs: &Context,
    xd: &Context,
    src: &str,
    dst: &str,
    only: &[String],
) -> HostResult<Value> {
    use crate::backup::{self, CreateOpts, RestoreOpts};
    let timeout = std::time::Duration::from_secs(3600);
    let id = format!("clone-{}", backup::default_id());
    xs.out.status(&format!(
        "backing up {src} as {id}, to restore it into {dst}"
    ));
    let made = backup::create(
        xs,
        &CreateOpts {
            id: Some(id.clone()),
            base: None,
            incremental: false,
            include: only.to_vec(),
            exclude: Vec::new(),
            compression: None,
            wait: true,
            timeout,
        },
    )?;
    let restored = backup::restore_into(
        xs,
        Some((dst, xd)),
        &id,
        &RestoreOpts {
            include: only.to_vec(),
            exclude: Vec::new(),
            wait: true,
            timeout,
        },
    )?;
    let rows: Vec<Value> = restored["collections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({"collection": c}))
        .collect();
    Ok(json!({
        "source": src, "target": dst, "method": "backup", "backup": id,
        "backup_seconds": made["seconds"], "restore_seconds": restored["seconds"],
        "collections": rows,
    }))
}

/// Remove environment `name`'s config (its state and data folders are
/// left, and named). Refused for `default`, for one another extends, and
/// while its stack may run unless `force`.
pub fn remove(name: &str, force: bool) -> HostResult<Value> {
    paths::check_env_name(name)?;
    if name == DEFAULT_ENV {
        return Err(
            HostError::validation("the default environment cannot be removed")
                .with_hint("it is config.toml itself; edit or delete that file"),
        );
    }
    require(name)?;
    let heirs: Vec<String> = names()
        .into_iter()
        .filter(|n| n != name)
        .filter(|n| {
            Config::load_env(n)
                .map(|c| c.extends.as_deref() == Some(name))
                .unwrap_or(false)
        })
        .collect();
    if !heirs.is_empty() {
        return Err(HostError::validation(format!(
            "{} extend{} {name}",
            heirs.join(", "),
            if heirs.len() == 1 { "s" } else { "" }
        ))
        .with_hint("remove them first, or change their `extends`"));
    }
    if stack_may_run(name) && !force {
        return Err(HostError::validation(format!(
            "the stack of environment {name} may be running ({} has its PID files); nothing was removed",
            paths::run_dir_of(name).display()
        ))
        .with_hint(format!(
            "stop it first (`elysiactl --env {name} stop`), or pass --force to remove the config anyway"
        )));
    }
    let file = paths::env_config_file(name);
    std::fs::remove_file(&file)
        .map_err(|e| HostError::io(format!("cannot remove {}", file.display()), e))?;
    if switched().as_deref() == Some(name) {
        let _ = std::fs::remove_file(paths::current_env_file());
    }
    Ok(json!({
        "removed": name,
        "file": file.display().to_string(),
        "kept_state": paths::state_dir_of(name).display().to_string(),
        "kept_data": paths::env_data_dir_of(name).display().to_string(),
    }))
}

/// What an environment's cluster says of itself: version, nodes, and per
/// collection its replication factor and object count.
fn cluster_facts(cfg: &Config, rt: &tokio::runtime::Handle) -> Value {
    let ctx = Context::new(cfg.clone(), rt.clone());
    let cluster = Cluster::in_context(&ctx, &cfg.weaviate.node_specs());
    let read = async {
        let version: Option<String> = cluster
            .any_node(|c| async move { c.version().await })
            .await?;
        let nodes: Value = cluster
            .any_node(|c| async move { c.nodes(false).await })
            .await?;
        let schema: Value = cluster
            .any_node(|c| async move { c.schema().await })
            .await?;
        let mut collections = serde_json::Map::new();
        for class in class_names_of(&schema) {
            let def = schema["classes"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["class"] == class.as_str()))
                .cloned()
                .unwrap_or_default();
            let name = class.clone();
            let count: Option<u64> = cluster
                .any_node(|c| {
                    let name = name.clone();
                    async move { c.count(&name).await }
                })
                .await
                .ok();
            collections.insert(
                class,
                json!({
                    "replication_factor": def["replicationConfig"]["factor"].as_u64().unwrap_or(1),
                    "objects": count,
                    "properties": def["properties"].as_array().map(|p| p.len()),
                    "vectorizer": def["vectorizer"],
                }),
            );
        }
        HostResult::Ok(json!({
            "reachable": true,
            "version": version,
            "nodes": nodes["nodes"].as_array().map(|n| n.len()),
            "collections": collections,
        }))
    };
    match ctx.block_on(read) {
        Ok(v) => v,
        Err(e) => json!({"reachable": false, "error": e.message}),
    }
}

/// `env diff A B`: the configurations key by key (secrets masked) and,
/// when both clusters answer, what they say of themselves.
pub fn diff(a: &str, b: &str, rt: &tokio::runtime::Handle) -> HostResult<Value> {
    for n in [a, b] {
        paths::check_env_name(n)?;
        require(n)?;
    }
    let (ca, cb) = (Config::load_env(a)?, Config::load_env(b)?);
    let config = super::config_diff::diff_configs(&ca, &cb);
    let (fa, fb) = (cluster_facts(&ca, rt), cluster_facts(&cb, rt));
    let mut cluster = Vec::new();
    // Elysia as installed for each (its venv may be shared, or not).
    let elysia = |c: &Config| {
        c.elysia.enabled.then(|| {
            super::elysia::prefix(&c.elysia)
                .ok()
                .and_then(|p| super::elysia::installed_version(&p))
        })
    };
    let (ea, eb) = (json!(elysia(&ca).flatten()), json!(elysia(&cb).flatten()));
    if ea != eb {
        cluster.push(json!({"key": "elysia.installed_version", "a": ea, "b": eb}));
    }
    if fa["reachable"] == true && fb["reachable"] == true {
        let mut push = |key: String, x: &Value, y: &Value| {
            if x != y {
                cluster.push(json!({"key": key, "a": x, "b": y}));
            }
        };
        push("version".into(), &fa["version"], &fb["version"]);
        push("nodes".into(), &fa["nodes"], &fb["nodes"]);
        let empty = serde_json::Map::new();
        let cols = |f: &Value| {
            f["collections"]
                .as_object()
                .cloned()
                .unwrap_or_else(|| empty.clone())
        };
        let (xa, xb) = (cols(&fa), cols(&fb));
        let mut names: Vec<&String> = xa.keys().chain(xb.keys()).collect();
        names.sort();
        names.dedup();
        for n in names {
            match (xa.get(n), xb.get(n)) {
                (Some(x), Some(y)) => {
                    for field in ["replication_factor", "objects", "properties", "vectorizer"] {
                        push(format!("collections.{n}.{field}"), &x[field], &y[field]);
                    }
                }
                (x, y) => {
                    let present =
                        |v: Option<&Value>| json!(if v.is_some() { "present" } else { "absent" });
                    push(format!("collections.{n}"), &present(x), &present(y));
                }
            }
        }
    }
    let same = config.is_empty() && cluster.is_empty();
    Ok(json!({
        "a": a,
        "b": b,
        "same": same,
        "config": config,
        "clusters": {"a": fa, "b": fb},
        "elysia": {"a": ea, "b": eb},
        "cluster": cluster,
    }))
}
