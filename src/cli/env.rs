//! `elysiactl env …`: named environments, as kubectl's contexts. These
//! need no loaded configuration, so a broken or missing environment can
//! still be listed, switched away from or removed.

use super::report_error;
use crate::base::error::HostError;
use crate::base::paths;
use crate::services::envs;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};
use std::path::PathBuf;

fn json_flag() -> Arg {
    Arg::new("json")
        .long("json")
        .short('j')
        .action(ArgAction::SetTrue)
        .help("Print JSON for programs instead of text for people")
}

fn name_arg(help: &'static str) -> Arg {
    Arg::new("name")
        .value_name("NAME")
        .required(true)
        .help(help)
}

pub fn add_to(root: Command) -> Command {
    root.subcommand(
        Command::new("env")
            .about("Named environments (local stacks side by side, remote clusters): list, switch, add, remove, diff")
            .long_about(
                "Named environments, as kubectl's contexts. An environment is a config file \
                 (`default` is config.toml; another is envs/NAME.toml beside it) plus its own state \
                 and data folders (PID files, logs, history, index store, fault registry, \
                 baselines, node data) and its own Docker names, so two local stacks run side by \
                 side and a command in one never acts on the other.\n\n\
                 A command acts on: --env NAME, else $ELYSIACTL_ENV, else what `env switch` chose, \
                 else `default`. `status`, `health` and the REPL prompt name it.\n\n\
                 An environment can extend another (`extends = \"staging\"`: its keys override the \
                 base's; `config show --origins` says where each value comes from), or point at a \
                 cluster run elsewhere (`runtime = \"remote\"`, `urls`): everything that works \
                 through Weaviate's API works there, and start, stop and node chaos refuse.",
            )
            .subcommand_required(true)
            .arg_required_else_help(true)
            .after_help(
                "Examples:\n  elysiactl env add staging && elysiactl --env staging start\n  \
                 elysiactl env switch staging && elysiactl status\n  \
                 ELYSIACTL_ENV=prod elysiactl health --cluster\n  \
                 elysiactl env diff staging prod\n\ndocs/environments.md has the whole story.",
            )
            .subcommand(
                Command::new("list")
                    .about("Every environment: current one marked, runtime, where its Weaviate is, whether it runs")
                    .arg(json_flag()),
            )
            .subcommand(
                Command::new("current")
                    .about("The environment a command acts on, and what chose it (--env, ELYSIACTL_ENV, env switch)")
                    .arg(json_flag()),
            )
            .subcommand(
                Command::new("switch")
                    .about("Make NAME the environment bare commands act on (--env and ELYSIACTL_ENV still win)")
                    .arg(name_arg("The environment; `default` for config.toml")),
            )
            .subcommand(
                Command::new("add")
                    .about("Make an environment: its own ports and names, a copy of a file, an extension, or a remote cluster")
                    .long_about(
                        "Make an environment: writes envs/NAME.toml and checks that it loads.\n\n\
                         With no option: a local stack with its own ports (the defaults moved by a \
                         multiple of 100 clear of every other environment's) and Docker names \
                         (elysiactl-NAME). --extends BASE: the same, inheriting every other key of \
                         BASE. --from FILE: a copy of FILE. --url (repeatable): a cluster someone else \
                         runs, reached at those REST URLs; its API key only by reference \
                         (--api-key-ref env:VAR or file:PATH), never written in the file.",
                    )
                    .arg(name_arg("The new environment's name (letters, digits, - and _)"))
                    .arg(Arg::new("from").long("from").value_name("FILE").help("Copy this config file").conflicts_with_all(["extends", "url"]))
                    .arg(Arg::new("extends").long("extends").value_name("BASE").help("Inherit every key of the environment BASE"))
                    .arg(Arg::new("url").long("url").value_name("URL").action(ArgAction::Append).help("A remote cluster's REST URL (repeatable: one per node, or one load balancer)"))
                    .arg(Arg::new("api_key_ref").long("api-key-ref").value_name("env:VAR|file:PATH").requires("url").help("The remote cluster's API key, by reference"))
                    .arg(Arg::new("grpc_port").long("grpc-port").value_name("PORT").value_parser(clap::value_parser!(u16)).requires("url").help("The remote cluster's gRPC port [default: 50051]"))
                    .arg(Arg::new("nodes").long("nodes").value_name("N").value_parser(clap::value_parser!(usize)).requires("url").help("The remote cluster's node count [default: one per --url]"))
                    .arg(json_flag())
                    .after_help(
                        "Examples:\n  elysiactl env add staging\n  elysiactl env add perf --extends staging\n  \
                         elysiactl env add prod --url https://weaviate.example.com --api-key-ref env:PROD_WEAVIATE_KEY --nodes 3\n  \
                         elysiactl --env staging start",
                    ),
            )
            .subcommand(
                Command::new("clone")
                    .about("Copy an environment's configuration under a new name, with its own ports and Docker names")
                    .long_about(
                        "Copy SRC's config file to DST as it is written (what it extends included), with \
                         DST's own ports (clear of every environment's) and Docker names (elysiactl-DST), \
                         so the clone runs beside SRC. A remote SRC is copied unchanged.\n\n\
                         --data copies the collections too: through a backup restored into DST when both \
                         use one backup store (removed once the copy is equal), else through the batch API \
                         (schema first, then every object with its vectors; the replication factor capped \
                         at DST's nodes). Each collection is then read whole at both ends (exit 1 when a \
                         count or content fingerprint differs). DST's cluster must \
                         run: clone the config, `elysiactl --env DST start`, then `env clone SRC DST \
                         --data` again (an existing DST gets only the data). A collection DST already \
                         has is refused, nothing copied.",
                    )
                    .arg(Arg::new("src").value_name("SRC").required(true).help("The environment to copy"))
                    .arg(Arg::new("dst").value_name("DST").required(true).help("The new environment's name, or with --data an existing one"))
                    .arg(Arg::new("data").long("data").action(ArgAction::SetTrue).help("Also copy the data (through a shared backup store, else the batch API), checked at both ends by count and content fingerprint (DST's cluster must run)"))
                    .arg(Arg::new("collection").long("collection").value_name("NAME").action(ArgAction::Append).requires("data").help("With --data: only this collection (repeatable)"))
                    .arg(json_flag())
                    .after_help("Examples:\n  elysiactl env clone staging staging-2\n  elysiactl --env staging-2 start\n  elysiactl env clone staging staging-2 --data"),
            )
            .subcommand(
                Command::new("remove")
                    .about("Remove an environment's config (its state and data folders are kept and named)")
                    .arg(name_arg("The environment"))
                    .arg(Arg::new("force").long("force").action(ArgAction::SetTrue).help("Remove it even while its stack may run"))
                    .arg(json_flag()),
            )
            .subcommand(
                Command::new("diff")
                    .about("Compare two environments: configuration key by key, and their clusters when both answer")
                    .long_about(
                        "Compare two environments: the effective configuration key by key (secrets \
                         compared but shown as ***) and, when both clusters answer, Weaviate's version, \
                         the node count, and per collection its replication factor, property count, \
                         vectorizer and object count; the Elysia version installed for each.\n\nExit codes, as diff(1): 0 the same, 1 different.",
                    )
                    .arg(Arg::new("a").value_name("A").required(true).help("An environment"))
                    .arg(Arg::new("b").value_name("B").required(true).help("Another"))
                    .arg(json_flag())
                    .after_help("Examples:\n  elysiactl env diff staging prod\n  elysiactl env diff default staging --json | jq .cluster"),
            ),
    )
}

/// Multi-threaded: the domain blocks on a handle, which drives no I/O on
/// a current-thread runtime.
fn runtime() -> Result<tokio::runtime::Runtime, HostError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| HostError::unknown(format!("cannot start the async runtime: {e}")))
}

/// `env clone SRC DST --data`: DST's config first when it has none.
fn clone_data(s: &ArgMatches, src: &str, dst: &str, json_mode: bool) -> Result<i32, HostError> {
    envs::require(src)?;
    if !envs::exists(dst) {
        let v = envs::clone_config(src, dst)?;
        eprintln!(
            "cloned the configuration of {src} as {dst} ({})",
            v["file"].as_str().unwrap_or("")
        );
    }
    let only: Vec<String> = s
        .get_many::<String>("collection")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let rt = runtime()?;
    let v = envs::clone_data(src, dst, &only, rt.handle())?;
    if json_mode {
        print(&v);
    } else {
        match v["backup"].as_str() {
            Some(id) if v["backup_removed"] == true => {
                println!(
                    "copied through backup {id} (removed from the store once the copy was equal)"
                )
            }
            Some(id) => {
                println!("copied through backup {id} (kept in the store: the copy differs)")
            }
            None => println!("copied through the batch API"),
        }
        let rows = v["collections"].as_array().cloned().unwrap_or_default();
        table(
            &rows,
            &[
                "collection",
                "written",
                "source_count",
                "target_count",
                "target_fingerprint",
                "equal",
            ],
        );
    }
    Ok(i32::from(v["equal"] != true))
}

fn print(v: &Value) {
    println!(
        "{}",
        crate::base::redact::text(&serde_json::to_string_pretty(v).unwrap_or_default())
    );
}

fn table(rows: &[Value], cols: &[&str]) {
    let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
    println!(
        "{}",
        crate::base::redact::text(&crate::base::output::render_table(rows, &cols))
    );
}

/// `env …`; `source` is what chose the active environment.
pub fn dispatch(m: &ArgMatches, source: &str) -> i32 {
    let active = paths::active_env();
    let (sub, s) = m.subcommand().expect("subcommand_required");
    let json_mode = s
        .try_get_one::<bool>("json")
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    let name = || s.get_one::<String>("name").expect("required").clone();
    let result: Result<i32, HostError> = (|| match sub {
        "list" => {
            let rows = envs::list(&active);
            if json_mode {
                print(&json!(rows));
            } else {
                let rows: Vec<Value> = rows
                    .into_iter()
                    .map(|mut r| {
                        r["current"] = json!(if r["current"] == true { "*" } else { "" });
                        r
                    })
                    .collect();
                table(
                    &rows,
                    &[
                        "current", "name", "runtime", "weaviate", "nodes", "extends", "running",
                        "error",
                    ],
                );
            }
            Ok(0)
        }
        "current" => {
            if json_mode {
                print(&json!({"name": active, "chosen_by": source,
                    "file": paths::config_file().display().to_string(),
                    "state": paths::state_dir().display().to_string()}));
            } else {
                println!("{active}");
            }
            Ok(0)
        }
        "switch" => {
            let n = name();
            envs::switch(&n)?;
            println!("bare commands now act on the environment {n}");
            if std::env::var(paths::ENV_VAR).is_ok_and(|v| !v.is_empty() && v != n)
                && source == paths::ENV_VAR
            {
                eprintln!(
                    "note: {} is set in this shell and still wins over `env switch`",
                    paths::ENV_VAR
                );
            }
            Ok(0)
        }
        "add" => {
            let o = envs::AddOptions {
                from: s.get_one::<String>("from").map(PathBuf::from),
                extends: s.get_one::<String>("extends").cloned(),
                urls: s
                    .get_many::<String>("url")
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect(),
                api_key_ref: s.get_one::<String>("api_key_ref").cloned(),
                grpc_port: s.get_one::<u16>("grpc_port").copied(),
                nodes: s.get_one::<usize>("nodes").copied(),
            };
            let v = envs::add(&name(), &o)?;
            if json_mode {
                print(&v);
            } else {
                println!(
                    "added the environment {} ({}); `elysiactl --env {} status` acts on it",
                    v["name"].as_str().unwrap_or(""),
                    v["file"].as_str().unwrap_or(""),
                    v["name"].as_str().unwrap_or("")
                );
                if let Some(k) = v["api_key_unresolved"].as_str() {
                    eprintln!("note: the API key's reference {k} does not resolve in this shell; set it where you use the environment");
                }
            }
            Ok(0)
        }
        "clone" => {
            let (src, dst) = (
                s.get_one::<String>("src").expect("required"),
                s.get_one::<String>("dst").expect("required"),
            );
            if s.get_flag("data") {
                return clone_data(s, src, dst, json_mode);
            }
            let v = envs::clone_config(src, dst)?;
            if json_mode {
                print(&v);
            } else {
                println!(
                    "cloned {src} as {dst} ({}); its Weaviate at {}, Docker names {}; data not copied",
                    v["file"].as_str().unwrap_or(""),
                    v["weaviate"].as_str().unwrap_or(""),
                    v["cluster_name"].as_str().unwrap_or("")
                );
            }
            Ok(0)
        }
        "remove" => {
            let v = envs::remove(&name(), s.get_flag("force"))?;
            if json_mode {
                print(&v);
            } else {
                println!(
                    "removed the environment {} ({}); its state ({}) and data ({}) are kept",
                    v["removed"].as_str().unwrap_or(""),
                    v["file"].as_str().unwrap_or(""),
                    v["kept_state"].as_str().unwrap_or(""),
                    v["kept_data"].as_str().unwrap_or("")
                );
            }
            Ok(0)
        }
        "diff" => {
            let (a, b) = (
                s.get_one::<String>("a").expect("required"),
                s.get_one::<String>("b").expect("required"),
            );
            let rt = runtime()?;
            let v = envs::diff(a, b, rt.handle())?;
            if json_mode {
                print(&v);
            } else {
                println!("a: {a}\nb: {b}");
                let config = v["config"].as_array().cloned().unwrap_or_default();
                if config.is_empty() {
                    println!("configuration: the same");
                } else {
                    println!("configuration:");
                    table(&config, &["key", "a", "b"]);
                }
                for (side, n) in [("a", a), ("b", b)] {
                    let f = &v["clusters"][side];
                    if f["reachable"] != true {
                        println!(
                            "cluster {n}: not reachable ({})",
                            f["error"].as_str().unwrap_or("")
                        );
                    }
                }
                let cluster = v["cluster"].as_array().cloned().unwrap_or_default();
                let both = v["clusters"]["a"]["reachable"] == true
                    && v["clusters"]["b"]["reachable"] == true;
                if !cluster.is_empty() {
                    println!("clusters and Elysia:");
                    table(&cluster, &["key", "a", "b"]);
                } else if both {
                    println!("clusters: the same (version, nodes, collections, factors, counts)");
                }
            }
            Ok(i32::from(v["same"] != true))
        }
        _ => Ok(2),
    })();
    result.unwrap_or_else(|e| report_error(&e, json_mode))
}
