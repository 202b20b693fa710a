//! Every write of the host API under `--dry-run`, through the real command
//! line, against a real cluster: Weaviate in Docker (three nodes, so a
//! replication factor can be raised, and containers of elysiactl's own for
//! the docker.* writes to plan on). Each call must answer with its declared
//! result type, the shape the real call has, and nothing may change: not the
//! isolated XDG folders (every file and its content), not Weaviate (schema and
//! each collection's count), not the containers, not a process a signal was
//! planned for.
//!
//! The writes are read from `elysiactl api --json`, so a write added to the
//! registry without a case here fails this test until it has one. Reads with
//! an option declared as writing (`writes_when`) count as writes and are run
//! with that option set.

mod common;

use common::{docker_available, docker_get, http, require, Stack};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The calls of one write function: Rhai expressions (blocks allowed).
fn cases(
    container: &str,
    victim: u32,
    repo: &str,
    export: &str,
    migrations: &str,
) -> BTreeMap<&'static str, Vec<String>> {
    let c = format!("{container:?}");
    let mut m: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut add = |name: &'static str, calls: &[&str]| {
        m.insert(name, calls.iter().map(|s| s.to_string()).collect());
    };
    add(
        "cluster.create_collection",
        &[r#"cluster::create_collection(#{class: "DryRunNew", vectorizer: "none"})"#],
    );
    add(
        "cluster.update_collection",
        &[
            r#"{ let d = cluster::collection("DryRunKeep"); d.description = "changed"; cluster::update_collection("DryRunKeep", d) }"#,
        ],
    );
    add(
        "cluster.delete_collection",
        &[r#"cluster::delete_collection("DryRunKeep")"#],
    );
    add(
        "docker.stop",
        &[&format!("docker::stop({c}, #{{timeout: 5}})")],
    );
    add("docker.start", &[&format!("docker::start({c})")]);
    add("docker.pause", &[&format!("docker::pause({c})")]);
    add(
        "docker.unpause",
        &[&format!("{{ docker::pause({c}); docker::unpause({c}) }}")],
    );
    add(
        "docker.remove",
        &[&format!(
            "docker::remove({c}, #{{force: true, volumes: true}})"
        )],
    );
    add(
        "process.start",
        &[r#"process::start(#{name: "dryrun", program: "/bin/sleep", args: ["300"]})"#],
    );
    add(
        "process.signal",
        &[&format!("process::signal({victim}, \"KILL\")")],
    );
    add(
        "process.stop",
        &[&format!("process::stop({victim}, #{{timeout: 1}})")],
    );
    add(
        "service.start",
        &[
            r#"service::start("weaviate", #{nodes: [1]})"#,
            r#"service::start("elysia")"#,
            r#"service::start("elysia", #{workers: 3})"#,
        ],
    );
    add(
        "elysia.workers",
        &[
            r#"elysia::workers(4)"#,
            r#"elysia::workers(1, #{timeout: 30})"#,
        ],
    );
    add(
        "service.stop",
        &[r#"service::stop("weaviate")"#, r#"service::stop("elysia")"#],
    );
    add(
        "service.restart",
        &[
            r#"service::restart("weaviate", #{rolling: true})"#,
            r#"service::restart("weaviate")"#,
            r#"service::restart("elysia", #{graceful: true})"#,
        ],
    );
    add("service.scale", &[r#"service::scale("weaviate", 4)"#]);
    add(
        "health.watch_export",
        &[&format!(
            "health::watch_export({export:?}, #{{count: 1, interval: 0.2}})"
        )],
    );
    add("config.apply", &["config::apply()"]);
    add("config.rollback", &["config::rollback(#{})"]);
    add(
        "logs.archive",
        &[&format!("logs::archive({export:?}, #{{since: \"1h\"}})")],
    );
    add(
        "health.check",
        &["health::check(#{data: true, quick: true})"],
    );
    add(
        "health.watch",
        &["health::watch(#{count: 1, interval: 0.2, lag_every: 1})"],
    );
    add(
        "health.repair_data",
        &["health::repair_data(#{enable_async_replication: true})"],
    );
    add(
        "replication.scale",
        &[r#"replication::scale("DryRunKeep", 2)"#],
    );
    add(
        "replication.recreate_empty",
        &[r#"replication::recreate_empty("DryRunEmpty", 3)"#],
    );
    add(
        "replication.set_factor",
        &[r#"replication::set_factor("DryRunKeep", 3)"#],
    );
    add(
        "index.ingest",
        &[&format!(
            "index::ingest([{repo:?}], #{{collection: \"DryRunCode\"}})"
        )],
    );
    add(
        "index.trial",
        &[&format!("index::trial({repo:?}, #{{files: 10}})")],
    );
    add("index.reset_errors", &["index::reset_errors()"]);
    add(
        "schedule.add",
        &[r#"schedule::add(#{name: "dryrun-job", cron: "0 4 * * *", command: ["status"]})"#],
    );
    add("schedule.remove", &[r#"schedule::remove("nightly")"#]);
    add("schedule.enable", &[r#"schedule::enable("nightly")"#]);
    add("schedule.disable", &[r#"schedule::disable("nightly")"#]);
    add("schedule.run", &[r#"schedule::run("nightly")"#]);
    add("daemon.run", &["daemon::run()"]);
    add("daemon.start", &["daemon::start()"]);
    add("daemon.stop", &["daemon::stop(#{timeout: 1})"]);
    add(
        "repos.update",
        &[&format!(
            "repos::update([{repo:?}, \"https://example.invalid/team/tool.git\"])"
        )],
    );
    add("install.weaviate", &["install::weaviate()"]);
    add("install.elysia", &["install::elysia()"]);
    add("install.model", &["install::model(#{force: true})"]);
    add(
        "install.backup_store",
        &["install::backup_store(#{force: true})"],
    );
    add(
        "backup.create",
        &[
            r#"backup::create(#{wait: true})"#,
            r#"backup::create(#{id: "dry-run", include: ["DryRunKeep"], compression: "best"})"#,
        ],
    );
    add(
        "backup.restore",
        &[
            r#"backup::restore("dry-run", #{include: ["DryRunKeep"], wait: true})"#,
            r#"backup::restore("dry-run", #{include: ["DryRunKeep"], target: "default", wait: true})"#,
        ],
    );
    add(
        "backup.verify",
        &[r#"backup::verify("dry-run", #{deep: true})"#],
    );
    add("backup.prune", &[r#"backup::prune(#{retain: 2})"#]);
    add(
        "testdata.generate",
        &[
            r#"testdata::generate(#{records: 50, collection: "DryRunNewData", vectors: 4})"#,
            r#"testdata::generate(#{records: 20, collection: "DryRunData"})"#,
        ],
    );
    add(
        "testdata.clean",
        &[
            "testdata::clean()",
            r#"testdata::clean(#{name: "DryRunData"})"#,
        ],
    );
    add(
        "testdata.export_file",
        &[&format!(
            "testdata::export_file(\"DryRunData\", {:?}, #{{format: \"csv\"}})",
            Path::new(export).with_file_name("dump.csv")
        )],
    );
    let dump = Path::new(export).with_file_name("data.ndjson");
    add(
        "testdata.import_file",
        &[
            &format!("testdata::import_file({dump:?}, #{{collection: \"DryRunImported\"}})"),
            &format!("testdata::import_file({dump:?})"),
        ],
    );
    add(
        "bench.run",
        &[r#"bench::run(#{rate: 5, duration: "1s", warmup: 0, records: 50, dims: 4})"#],
    );
    add(
        "bench.replication",
        &[
            r#"bench::replication(#{rate: 5, duration: "1s", warmup: 0, records: 50, dims: 4, mix: #{get: 1, update: 1, delete: 1, batch_delete: 1}})"#,
        ],
    );
    add(
        "bench.stress",
        &[
            r#"bench::stress(#{start_rate: 5, max_rate: 20, factor: 2, step: "1s", warmup: 0, records: 50, dims: 4, mix: #{get: 1, delete: 1}})"#,
        ],
    );
    add(
        "bench.spike",
        &[
            r#"bench::spike(#{rate: 5, spike_rate: 20, before: "1s", spike: "1s", after: "1s", warmup: 0, records: 50, dims: 4})"#,
        ],
    );
    add(
        "bench.endurance",
        &[
            r#"bench::endurance(#{rate: 5, duration: "2s", window: "1s", warmup: 0, records: 50, dims: 4})"#,
        ],
    );
    add(
        "bench.save",
        &[r#"bench::save("dry", #{environment: #{}, samples_us: #{}, spec: #{}, summary: #{}})"#],
    );
    let run = r#"#{environment: #{}, spec: #{duration: 1.0}, summary: #{operations: #{}},
        samples_us: #{get: [900, 1200]}, requests: [["get", 0, 900, true], ["get", 500000, 1200, true]]}"#;
    add(
        "bench.report",
        &[&format!(
            "bench::report({run}, {:?}, #{{baseline: {run}}})",
            Path::new(export).with_file_name("report.html")
        )],
    );
    add(
        "bench.export_csv",
        &[&format!(
            "bench::export_csv({run}, {:?})",
            Path::new(export).with_file_name("samples.csv")
        )],
    );
    add(
        "config.set",
        &[r#"config::set("index", #{batch_size: 123})"#],
    );
    add(
        "chaos.node",
        &[
            r#"chaos::node("kill", 1, #{duration: "5s"})"#,
            r#"chaos::node("stop", "weaviate-2")"#,
            r#"chaos::node("pause", 0, #{duration: 3, detach: true, seed: 7})"#,
        ],
    );
    add(
        "chaos.cpu_limit",
        &[
            r#"chaos::cpu_limit(1, "50%", #{duration: "5s"})"#,
            "chaos::cpu_limit(\"weaviate-0\", 150)",
        ],
    );
    add(
        "chaos.partition",
        &[
            r#"chaos::partition([2], [0, 1], #{duration: "5s"})"#,
            r#"chaos::partition("weaviate-1")"#,
        ],
    );
    add(
        "chaos.packet_loss",
        &[
            r#"chaos::packet_loss(1, "10%", #{duration: "5s"})"#,
            r#"chaos::packet_loss("weaviate-2", 0.5)"#,
        ],
    );
    add(
        "chaos.bandwidth",
        &[
            r#"chaos::bandwidth(1, "1mbit", #{duration: "5s"})"#,
            r#"chaos::bandwidth("weaviate-0", "500kbit")"#,
        ],
    );
    add("install.toxiproxy", &["install::toxiproxy()"]);
    add(
        "chaos.latency",
        &[
            r#"chaos::latency(1, "500ms", #{jitter: "50ms", duration: "5s"})"#,
            r#"chaos::latency("weaviate-0", "200ms")"#,
        ],
    );
    add("chaos.undo", &[r#"chaos::undo("weaviate-1-kill-1")"#]);
    add("chaos.hold", &[r#"chaos::hold("weaviate-1-kill-1")"#]);
    add("chaos.reset", &["chaos::reset()"]);
    add("chaos.reap", &["chaos::reap()"]);
    add("chaos.snapshot", &["chaos::snapshot()"]);
    add(
        "chaos.run",
        &[&format!(
            "chaos::run({:?})",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/playbooks/chaos/node-loss.yaml"
            )
        )],
    );
    add(
        "cluster.insert_objects",
        &[
            r#"cluster::insert_objects("DryRunKeep", [#{text: "new"}, #{id: "00000000-0000-4000-8000-000000000001", properties: #{text: "x"}}])"#,
        ],
    );
    add(
        "cluster.insert_at",
        &[
            r#"cluster::insert_at("DryRunKeep", [#{id: "00000000-0000-4000-8000-000000000002", properties: #{text: "x"}}], "ALL")"#,
        ],
    );
    add(
        "cluster.delete_at",
        &[
            r#"cluster::delete_at("DryRunKeep", ["00000000-0000-4000-8000-000000000002"], "QUORUM", #{node: 1})"#,
        ],
    );
    add(
        "cluster.add_property",
        &[r#"cluster::add_property("DryRunKeep", #{name: "extra", dataType: ["int"]})"#],
    );
    add(
        "migrate.create",
        &[
            &format!("migrate::create(\"second\", #{{dir: {migrations:?}}})"),
            &format!("migrate::create(\"third\", #{{dir: {migrations:?}, lua: true}})"),
        ],
    );
    let first = Path::new(migrations).join("0001_first.rhai");
    let first = first.to_str().unwrap();
    add(
        "migrate.record",
        &[
            &format!("migrate::record({first:?})"),
            &format!("migrate::record({first:?}, #{{before: cluster::schema()}})"),
        ],
    );
    add("migrate.unrecord", &[r#"migrate::unrecord("0001")"#]);
    add("migrate.lock", &["migrate::lock()"]);
    add("migrate.unlock", &["migrate::unlock()"]);
    add(
        "cluster.create_alias",
        &[r#"cluster::create_alias("DryRunNewAlias", "DryRunKeep")"#],
    );
    add(
        "cluster.update_alias",
        &[r#"cluster::update_alias("DryRunAlias", "DryRunEmpty")"#],
    );
    add(
        "cluster.delete_alias",
        &[r#"cluster::delete_alias("DryRunAlias")"#],
    );
    add(
        "cluster.copy_objects",
        &[
            r#"cluster::copy_objects("DryRunKeep", "DryRunEmpty")"#,
            r#"{ cluster::create_collection(#{class: "DryRunCopy", vectorizer: "none"}); cluster::copy_objects("DryRunKeep", "DryRunCopy", |o| o) }"#,
        ],
    );
    m
}

#[test]
fn every_write_under_dry_run_changes_nothing() {
    let image = "elysiactl/weaviate:1.38.11";
    if !require("a Docker engine", docker_available())
        || !require(
            &format!("the image {image} (elysiactl install weaviate)"),
            docker_get(&format!("/images/{image}/json")).is_some_and(|v| v["Id"].is_string()),
        )
    {
        return;
    }
    let s = Stack::new("docker", 3, false, "");
    s.run(&["start", "--timeout", "240"]).ok();
    let container = format!("{}-weaviate-0", s.cluster_name);
    let root = s.dir.path();

    // What the writes act on, made for real before anything is recorded.
    make_collection(&s, "DryRunKeep", 1, 2);
    make_collection(&s, "DryRunEmpty", 1, 0);
    let alias = json!({"alias": "DryRunAlias", "class": "DryRunKeep"});
    let (code, body) = http(s.rest_port, "POST", "/v1/aliases", Some(&alias));
    assert_eq!(code, 200, "{body}");
    s.run(&[
        "test-data",
        "generate",
        "--records",
        "20",
        "--collection",
        "DryRunData",
    ])
    .ok();
    s.run(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--",
        "status",
    ])
    .ok();
    let repo = root.join("src-repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("lib.rs"), "pub fn answer() -> u32 {\n    42\n}\n").unwrap();
    common::git(&repo, &["init", "--quiet"]);
    common::git(&repo, &["add", "."]);
    common::git(&repo, &["commit", "--quiet", "-m", "one"]);
    let mut victim = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let export = s.state_dir().join("samples.ndjson");
    // What testdata.import_file reads: an export of DryRunData, written for real.
    s.run(&[
        "test-data",
        "export",
        "DryRunData",
        "--output",
        export.with_file_name("data.ndjson").to_str().unwrap(),
    ])
    .ok();
    let migrations = root.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("0001_first.rhai"),
        "fn up() {}\nfn down() {}\n",
    )
    .unwrap();

    let files_before = xdg_files(root);
    let weaviate_before = weaviate_state(&s);
    let container_before = container_state(&container);
    assert_eq!(container_before, "running");

    let api = s.run(&["api", "--json"]).ok().json();
    let cases = cases(
        &container,
        victim.id(),
        repo.to_str().unwrap(),
        export.to_str().unwrap(),
        migrations.to_str().unwrap(),
    );
    // Writes this (docker) cluster refuses, also under --dry-run: the process
    // runtime's plan is checked in tests/chaos.rs; here the refusal is the
    // answer, and it must change nothing either.
    let refused: BTreeMap<&str, (&str, &str)> = BTreeMap::from([(
        "chaos.memory_pressure",
        (
            r#"chaos::memory_pressure(1, #{limit: "300MiB", duration: "5s"})"#,
            "memory pressure is not built yet for the docker runtime",
        ),
    )]);
    let mut missing = Vec::new();
    let mut checked = 0;
    for module in api.as_array().unwrap() {
        for f in module["functions"].as_array().unwrap() {
            let writes_when = f["writes_when"].as_array().unwrap();
            if f["writes"] != true && writes_when.is_empty() {
                continue;
            }
            let name = format!(
                "{}.{}",
                module["module"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            );
            if let Some((call, message)) = refused.get(name.as_str()) {
                let p = s.dir.path().join("case.rhai");
                std::fs::write(&p, format!("{call};\n")).unwrap();
                let r = s.run(&["--dry-run", "run", p.to_str().unwrap()]);
                assert_eq!(r.code, 1, "{call}:\n{}\n{}", r.stdout, r.stderr);
                assert!(r.stderr.contains(message), "{call}:\n{}", r.stderr);
                continue;
            }
            let Some(calls) = cases.get(name.as_str()) else {
                missing.push(name);
                continue;
            };
            for call in calls {
                let result = dry_run(&s, &name, call);
                if let Err(e) = conforms(&f["returns"], &result) {
                    panic!(
                        "{call} answered {result}, which is not its declared {}: {e}",
                        f["returns"]
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "writes without a dry-run case in tests/dry_run.rs: {missing:?}"
    );
    assert_eq!(
        checked,
        cases.values().map(Vec::len).sum::<usize>(),
        "a case names no write of the registry"
    );

    // Nothing changed.
    let files_after = xdg_files(root);
    for (path, before) in &files_before {
        match files_after.get(path) {
            None => panic!("{path} was removed"),
            Some(after) => assert_eq!(before, after, "{path} changed"),
        }
    }
    let added: Vec<&String> = files_after
        .keys()
        .filter(|p| !files_before.contains_key(*p))
        .collect();
    assert!(added.is_empty(), "files were created: {added:?}");
    assert_eq!(weaviate_state(&s), weaviate_before, "Weaviate changed");
    let migration_files: Vec<_> = std::fs::read_dir(&migrations).unwrap().collect();
    assert_eq!(migration_files.len(), 1, "a migration file was written");
    assert_eq!(container_state(&container), "running");
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the process a signal was planned for got it"
    );
    victim.kill().unwrap();
    let _ = victim.wait();
}

/// Runs one call under --dry-run and returns its result.
fn dry_run(s: &Stack, name: &str, call: &str) -> Value {
    let p = s.dir.path().join("case.rhai");
    std::fs::write(
        &p,
        format!("let r = {call};\nout::line(\"RESULT \" + out::to_json(r, #{{pretty: false}}));\n"),
    )
    .unwrap();
    let r = s.run(&["--dry-run", "run", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{call}:\n{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("would {name}(")),
        "{call} was not planned:\n{}",
        r.stderr
    );
    let line = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("{call} printed no result:\n{}", r.stdout));
    serde_json::from_str(line).unwrap()
}

/// Whether `v` has the type `elysiactl api --json` declares (see src/host/decl.rs).
fn conforms(ty: &Value, v: &Value) -> Result<(), String> {
    let int = |v: &Value| v.as_i64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0);
    let ok = match ty {
        Value::String(t) => match t.as_str() {
            "any" => true,
            "null" => v.is_null(),
            "bool" => v.is_boolean(),
            "int" => int(v),
            "number" => v.is_number(),
            "string" | "duration" => v.is_string() || (t == "duration" && v.is_number()),
            "node" => v.is_string() || int(v),
            "map" => v.is_object(),
            other => return Err(format!("unknown type {other}")),
        },
        Value::Object(t) => {
            if let Some(names) = t.get("one_of") {
                names.as_array().unwrap().contains(v)
            } else if let Some(item) = t.get("array") {
                match v {
                    Value::Array(items) => return items.iter().try_for_each(|x| conforms(item, x)),
                    Value::Object(m) => m.is_empty(),
                    _ => false,
                }
            } else if let Some(fields) = t.get("record") {
                let Some(m) = v.as_object() else {
                    return Err(format!("{v} is not a map"));
                };
                for field in fields.as_array().unwrap() {
                    let key = field["key"].as_str().unwrap();
                    let Some(x) = m.get(key) else {
                        return Err(format!("`{key}` is missing"));
                    };
                    conforms(&field["type"], x).map_err(|e| format!("{key}: {e}"))?;
                }
                true
            } else if let Some(alternatives) = t.get("either") {
                let errors: Vec<String> = alternatives
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| conforms(a, v).err())
                    .collect();
                if errors.len() < alternatives.as_array().unwrap().len() {
                    return Ok(());
                }
                return Err(errors.join("; or "));
            } else {
                v.is_object()
            }
        }
        other => return Err(format!("unknown type {other}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{v} is not {ty}"))
    }
}

/// Every file under the isolated XDG folders, with its content (as text,
/// so a failure shows what changed).
fn xdg_files(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                out.insert(format!("{}/", p.display()), String::new());
                walk(&p, out);
            } else if kind.is_symlink() {
                out.insert(
                    p.display().to_string(),
                    std::fs::read_link(&p).unwrap().display().to_string(),
                );
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(
                    p.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
            }
        }
    }
    let mut files = BTreeMap::new();
    for xdg in ["config", "data", "state"] {
        walk(&root.join(xdg), &mut files);
    }
    files
}

/// The schema (definitions by name), every collection's object count, the aliases.
fn weaviate_state(s: &Stack) -> Value {
    let (code, aliases) = http(s.rest_port, "GET", "/v1/aliases", None);
    assert_eq!(code, 200, "{aliases}");
    let mut aliases: Value = serde_json::from_str(&aliases).unwrap();
    if let Some(list) = aliases["aliases"].as_array_mut() {
        list.sort_by(|a, b| a["alias"].as_str().cmp(&b["alias"].as_str()));
    }
    let (code, body) = http(s.rest_port, "GET", "/v1/schema", None);
    assert_eq!(code, 200, "{body}");
    let schema: Value = serde_json::from_str(&body).unwrap();
    let mut classes: BTreeMap<String, Value> = BTreeMap::new();
    for c in schema["classes"].as_array().unwrap() {
        let name = c["class"].as_str().unwrap().to_string();
        let count = s.count_of(&name);
        classes.insert(name, json!({"definition": c, "count": count}));
    }
    json!({"classes": classes, "aliases": aliases})
}

fn container_state(name: &str) -> String {
    docker_get(&format!("/containers/{name}/json"))
        .and_then(|v| v["State"]["Status"].as_str().map(str::to_string))
        .unwrap_or_else(|| "gone".into())
}

/// A collection with `objects` objects, made over the REST API.
fn make_collection(s: &Stack, class: &str, factor: u64, objects: usize) {
    let def = json!({"class": class, "vectorizer": "none",
        "replicationConfig": {"factor": factor},
        "properties": [{"name": "text", "dataType": ["text"]}]});
    let (code, body) = http(s.rest_port, "POST", "/v1/schema", Some(&def));
    assert_eq!(code, 200, "{body}");
    for i in 0..objects {
        let obj = json!({"class": class, "properties": {"text": format!("object {i}")}});
        let (code, body) = http(s.rest_port, "POST", "/v1/objects", Some(&obj));
        assert_eq!(code, 200, "{body}");
    }
}
