//! Backups on the real stack: three process-runtime nodes, the versitygw
//! store `install backup-store` built, started and stopped with the nodes.
//! One cluster for every check: a backup of factor-3 collections with
//! seeded data, the collections deleted and restored (counts and content
//! fingerprints equal), Weaviate's refusals named, `verify` failing on a
//! file removed from the store, and pruning keeping exactly N.

mod common;

use common::{free_block, http, require, require_weaviate, Stack};
use serde_json::Value;
use std::path::PathBuf;

const SECRET: &str = "backup-store-secret-5521";

fn versitygw_binary() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or("/root".into())).join(".local/share")
        })
        .join("elysiactl/bin/versitygw-1.8.0")
}

fn backup_stack(port: u16) -> Stack {
    Stack::new(
        "process",
        3,
        false,
        &format!(
            "\n[backup]\nenabled = true\nport = {port}\nsecret_key = \"{SECRET}\"\nbinary = \"{}\"\n",
            versitygw_binary().display()
        ),
    )
}

fn store_dir(s: &Stack) -> PathBuf {
    s.dir
        .path()
        .join("data/elysiactl/backup-store/elysiactl-backups")
}

fn delete_collection(s: &Stack, name: &str) {
    let (code, body) = http(s.rest_port, "DELETE", &format!("/v1/schema/{name}"), None);
    assert_eq!(code, 200, "{body}");
}

fn create(s: &Stack, id: &str) -> Value {
    s.run(&["backup", "create", "--id", id, "--wait", "--json"])
        .ok()
        .json()["backup"]
        .clone()
}

fn ids_listed(s: &Stack) -> Vec<String> {
    s.run(&["backup", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn backup_restore_verify_and_prune_on_a_factor_3_cluster() {
    if !require_weaviate()
        || !require(
            "versitygw (elysiactl install backup-store)",
            versitygw_binary().exists(),
        )
    {
        return;
    }
    let store_port = free_block(1);
    let s = backup_stack(store_port);
    let started = s.run(&["start", "--timeout", "240", "--json"]).ok();
    let store = &started.json()["weaviate"]["backup_store"];
    assert_eq!(store["bucket"], "elysiactl-backups", "{store}");
    assert!(store_dir(&s).is_dir(), "the bucket was not created");
    // The store's secret reaches it and the nodes through their environment only.
    let cfg = s.run(&["config", "show", "--json"]).ok();
    assert!(!cfg.stdout.contains(SECRET), "{}", cfg.stdout);
    let store_pid: u32 = std::fs::read_to_string(s.state_dir().join("run/backup-store.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{store_pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(SECRET));

    // Data: two factor-3 collections of seeded objects.
    let docs = s.generate("BackupDocs", "documents", "400");
    let users = s.generate("BackupUsers", "user-activity", "300");
    assert_eq!(s.factor_of("BackupDocs"), 3);
    let fingerprint = |g: &Value| g["dataset"]["fingerprint"].clone();

    // A backup of everything, waited for; its files recorded.
    let b = create(&s, "first");
    assert_eq!(b["status"], "SUCCESS", "{b}");
    let collections = b["collections"].as_array().unwrap();
    for c in ["BackupDocs", "BackupUsers"] {
        assert!(collections.iter().any(|x| x == c), "{b}");
    }
    assert!(b["files"].as_u64().unwrap() > 3, "{b}");
    eprintln!(
        "TIMING backup of 700 objects (factor 3, 3 nodes): {}s, {} files, {} bytes",
        b["seconds"], b["files"], b["size_bytes"]
    );
    assert!(store_dir(&s)
        .join("first/elysiactl-manifest.json")
        .is_file());

    // Weaviate's refusals, named.
    let r = s.run(&["backup", "create", "--id", "first", "--wait"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("first") && r.stderr.contains("exists already"),
        "{}",
        r.stderr
    );
    let r = s.run(&[
        "backup",
        "create",
        "--id",
        "refused",
        "--include",
        "NoSuchThing",
        "--wait",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("NoSuchThing") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert!(
        !store_dir(&s).join("refused").exists(),
        "a refused backup left its folders in the store"
    );
    let r = s.run(&["backup", "create", "--id", "Bad ID"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not a backup ID"), "{}", r.stderr);

    // A restore over collections that exist: refused before Weaviate, naming them.
    let r = s.run(&["backup", "restore", "first", "--wait"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("BackupDocs") && r.stderr.contains("delete them first"),
        "{}",
        r.stderr
    );

    // verify: all there.
    let v = s.run(&["backup", "verify", "first", "--json"]).ok().json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["deep"].is_null(), "no deep check unless asked: {v}");

    // What a deep verify killed outright would leave: a scratch folder of a
    // process that is gone, with a node running. The next one stops and removes it.
    let leftover = s
        .dir
        .path()
        .join("data/elysiactl/scratch/verify-999999999-20000");
    std::fs::create_dir_all(leftover.join("run")).unwrap();
    let mut orphan = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    std::fs::write(
        leftover.join("run/weaviate-0.pid"),
        format!("{}\n0\n", orphan.id()),
    )
    .unwrap();

    // verify --deep: restored into a scratch cluster, counts and content
    // fingerprints equal to those recorded; the scratch cluster gone after.
    let run = s
        .run(&["backup", "verify", "first", "--deep", "--json"])
        .ok();
    assert!(
        orphan.try_wait().unwrap().is_some(),
        "the node a killed verify left still runs"
    );
    let v = run.json();
    let deep = &v["deep"];
    assert_eq!(
        (v["ok"].clone(), deep["ok"].clone()),
        (true.into(), true.into()),
        "{v}"
    );
    for (name, n) in [("BackupDocs", 400), ("BackupUsers", 300)] {
        let c = deep["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["collection"] == name)
            .unwrap_or_else(|| panic!("{name} not compared: {deep}"));
        assert_eq!(
            (c["expected_count"].as_u64(), c["actual_count"].as_u64()),
            (Some(n), Some(n)),
            "{c}"
        );
        assert_eq!(c["expected_fingerprint"], c["actual_fingerprint"], "{c}");
        assert_eq!(
            c["expected_fingerprint"].as_str().map(str::len),
            Some(64),
            "{c}"
        );
        assert_eq!(c["ok"], true, "{c}");
    }
    assert!(
        run.stderr.contains("scratch cluster"),
        "no progress lines: {}",
        run.stderr
    );
    for pid in deep["scratch"]["pids"].as_array().unwrap() {
        assert!(
            !running(pid.as_u64().unwrap() as u32),
            "a scratch node outlived verify: {deep}"
        );
    }
    assert_eq!(
        deep["scratch"]["pids"].as_array().unwrap().len(),
        3,
        "{deep}"
    );
    assert!(
        walk(&s.dir.path().join("data/elysiactl/scratch")).is_empty(),
        "the scratch cluster's folder was left"
    );
    eprintln!(
        "TIMING verify --deep of 700 objects (3 scratch nodes): {}s in all, scratch start {}s, restore {}s",
        deep["seconds"], deep["scratch"]["start_seconds"], deep["restore_seconds"]
    );

    // Gone, then back: counts and content fingerprints equal.
    delete_collection(&s, "BackupDocs");
    delete_collection(&s, "BackupUsers");
    let r = s
        .run(&["backup", "restore", "first", "--wait", "--json"])
        .ok()
        .json();
    assert_eq!(r["status"], "SUCCESS", "{r}");
    eprintln!("TIMING restore of 700 objects: {}s", r["seconds"]);
    assert_eq!(s.count_of("BackupDocs"), 400);
    assert_eq!(s.count_of("BackupUsers"), 300);
    assert_eq!(s.factor_of("BackupDocs"), 3);
    let datasets = s.run(&["test-data", "list", "--json"]).ok().json();
    for (name, generated) in [("BackupDocs", &docs), ("BackupUsers", &users)] {
        // Every object as its seed makes it, on every replica.
        let v = s.validate(name);
        assert_eq!(v["ok"], true, "{name}: {v}");
        assert_eq!(v["replicas_checked"], true, "{v}");
        let listed = datasets
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["collection"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {datasets}"));
        assert_eq!(listed["fingerprint"], fingerprint(generated), "{listed}");
        assert_eq!(listed["complete"], true, "{listed}");
    }

    // A second environment beside it on other ports (its config that of a
    // stack made for its free ports) with the same [backup]: its start uses
    // the running store, and `restore --target` brings the backup there.
    {
        let other = backup_stack(store_port);
        let envs = s.dir.path().join("config/elysiactl/envs");
        std::fs::create_dir_all(&envs).unwrap();
        std::fs::copy(
            other.dir.path().join("config/elysiactl/config.toml"),
            envs.join("second.toml"),
        )
        .unwrap();
        let r = s
            .run(&["--env", "second", "start", "--timeout", "240", "--json"])
            .ok()
            .json();
        assert_eq!(r["weaviate"]["backup_store"]["action"], "shared", "{r}");
        let listed = s
            .run(&["--env", "second", "backup", "list", "--json"])
            .ok()
            .json();
        assert!(listed.to_string().contains("\"first\""), "{listed}");

        // Unknown environment: refused by name, nothing changed anywhere.
        let schema_before = collections_of(s.rest_port);
        let r = s.run(&["backup", "restore", "first", "--target", "nope", "--wait"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stderr.contains("there is no environment nope") && r.stderr.contains("env list"),
            "{}",
            r.stderr
        );
        assert!(!envs.join("nope.toml").exists());
        assert_eq!(collections_of(s.rest_port), schema_before);
        assert!(collections_of(other.rest_port).is_empty());
        let (code, _) = http(other.rest_port, "GET", "/v1/schema/BackupDocs", None);
        assert_eq!(code, 404, "a refused restore restored");

        // Environments that cannot read this store: named, with the fix.
        let plain = Stack::new("process", 1, false, "");
        std::fs::copy(
            plain.dir.path().join("config/elysiactl/config.toml"),
            envs.join("plain.toml"),
        )
        .unwrap();
        let elsewhere = backup_stack(free_block(1));
        std::fs::copy(
            elsewhere.dir.path().join("config/elysiactl/config.toml"),
            envs.join("elsewhere.toml"),
        )
        .unwrap();
        for (env, said) in [
            ("plain", "has backups disabled"),
            ("elsewhere", "uses another backup store"),
        ] {
            let r = s.run(&["backup", "restore", "first", "--target", env, "--wait"]);
            assert_ne!(r.code, 0, "{env}: {}", r.stdout);
            assert!(
                r.stderr.contains(said) && r.stderr.contains(&format!("--env {env}")),
                "{env}: {}",
                r.stderr
            );
            assert!(!r.stderr.contains(SECRET), "{}", r.stderr);
        }
        // The dry run plans it, with the same refusals.
        let r = s
            .run(&[
                "--dry-run",
                "backup",
                "restore",
                "first",
                "--target",
                "second",
                "--include",
                "BackupDocs",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(
            (r["target"].as_str(), r["dry_run"].as_bool()),
            (Some("second"), Some(true)),
            "{r}"
        );
        let r = s.run(&[
            "--dry-run",
            "backup",
            "restore",
            "first",
            "--target",
            "nope",
        ]);
        assert_ne!(r.code, 0);

        let r = s
            .run(&[
                "backup",
                "restore",
                "first",
                "--target",
                "second",
                "--include",
                "BackupDocs",
                "--wait",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(r["collections"], serde_json::json!(["BackupDocs"]), "{r}");
        assert_eq!(r["target"], "second", "{r}");
        eprintln!("TIMING restore --target of 400 objects: {}s", r["seconds"]);
        assert_eq!(other.count_of("BackupDocs"), 400);
        assert_eq!(
            content_fingerprint(other.rest_port, "BackupDocs"),
            content_fingerprint(s.rest_port, "BackupDocs"),
            "the restored objects differ from the original's"
        );
        let v = s
            .run(&[
                "--env",
                "second",
                "test-data",
                "validate",
                "--collection",
                "BackupDocs",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(v[0]["ok"], true, "{v}");
        let (code, _) = http(other.rest_port, "GET", "/v1/schema/BackupUsers", None);
        assert_eq!(code, 404, "only the included collection is restored");
        // Again, now that it exists there: refused, naming the environment.
        let r = s.run(&[
            "backup",
            "restore",
            "first",
            "--target",
            "second",
            "--include",
            "BackupDocs",
        ]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("exist in environment second: BackupDocs"),
            "{}",
            r.stderr
        );
        // `env clone --data` between environments sharing the store goes
        // through a backup, which is removed once the copy is equal.
        let before: Vec<String> = ids_listed(&s);
        let r = s
            .run(&[
                "env",
                "clone",
                "default",
                "second",
                "--data",
                "--collection",
                "BackupUsers",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(r["method"], "backup", "{r}");
        assert_eq!(r["equal"], true, "{r}");
        assert_eq!(r["collections"][0]["target_count"], 300, "{r}");
        assert_eq!(
            r["collections"][0]["source_fingerprint"],
            r["collections"][0]["target_fingerprint"]
        );
        assert_eq!(other.count_of("BackupUsers"), 300);
        assert_eq!(
            content_fingerprint(other.rest_port, "BackupUsers"),
            content_fingerprint(s.rest_port, "BackupUsers")
        );
        assert_eq!(
            ids_listed(&s),
            before,
            "the clone's backup was left in the store"
        );
        // Its stop leaves the first stack's store running.
        s.run(&["--env", "second", "stop"]).ok();
        assert!(
            running(store_pid),
            "the other environment stopped a store it did not start"
        );
    }

    // Two more backups; the list has all three, newest first, with sizes.
    create(&s, "second");
    create(&s, "third");
    let list = s.run(&["backup", "list", "--json"]).ok().json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["third", "second", "first"], "{list}");

    // A manifest from before counts were recorded: --deep says it cannot
    // check them and fails, rather than passing.
    let m = store_dir(&s).join("third/elysiactl-manifest.json");
    let recorded = std::fs::read_to_string(&m).unwrap();
    let mut old: Value = serde_json::from_str(&recorded).unwrap();
    old.as_object_mut().unwrap().remove("collections");
    std::fs::write(&m, old.to_string()).unwrap();
    let r = s.run(&["backup", "verify", "third", "--deep", "--json"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("has no recorded object counts and fingerprints"),
        "{}",
        r.stderr
    );
    let v = s.run(&["backup", "verify", "third"]).ok();
    assert!(
        v.stdout.contains("all"),
        "the shallow check still passes: {}",
        v.stdout
    );
    std::fs::write(&m, recorded).unwrap();
    assert!(list[0]["size_bytes"].as_u64().unwrap() > 0, "{list}");
    assert_eq!(list[0]["status"], "SUCCESS");

    // A file removed from the store: verify fails, naming it.
    let victim = std::fs::read_dir(store_dir(&s).join("second/weaviate-1"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.is_file() && !p.ends_with("backup.json"))
        })
        .ok()
        .flatten()
        .or_else(|| {
            // A layout without node folders: any file of the backup but its descriptors.
            walk(&store_dir(&s).join("second")).into_iter().find(|p| {
                !p.ends_with("backup_config.json") && !p.ends_with("elysiactl-manifest.json")
            })
        })
        .expect("a file of backup second");
    std::fs::remove_file(&victim).unwrap();
    let key = victim
        .strip_prefix(store_dir(&s))
        .unwrap()
        .display()
        .to_string();
    let r = s.run(&["backup", "verify", "second"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains(&key), "{key} not named:\n{}", r.stderr);
    // The deep check restores it: what the missing file held does not come
    // back, and the report names the collection.
    let r = s.run(&["backup", "verify", "second", "--deep"]);
    eprintln!(
        "deep verify of a damaged backup:\n{}\n{}",
        r.stdout, r.stderr
    );
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        ["BackupDocs", "BackupUsers"].iter().any(|c| r
            .stderr
            .contains(&format!("{c} does not restore"))
            || r.stderr.contains(&format!("{c} restored"))
            || r.stderr.contains(&format!("{c} was not restored"))),
        "no collection named:\n{}",
        r.stderr
    );
    assert!(
        walk(&s.dir.path().join("data/elysiactl/scratch")).is_empty(),
        "the scratch cluster's folder was left after a failed deep check"
    );

    // Retention: exactly the two newest good ones stay; 0 is refused.
    let r = s.run(&["backup", "prune", "--retain", "0"]);
    assert_ne!(r.code, 0);
    assert!(ids_listed(&s).len() == 3);
    let p = s
        .run(&["backup", "prune", "--retain", "2", "--json"])
        .ok()
        .json();
    assert_eq!(p["deleted"], serde_json::json!(["first"]), "{p}");
    assert_eq!(ids_listed(&s), ["third", "second"]);
    assert!(!store_dir(&s).join("first").exists());
    let p = s
        .run(&["backup", "prune", "--retain", "1", "--json"])
        .ok()
        .json();
    assert_eq!(p["kept"], serde_json::json!(["third"]), "{p}");
    assert_eq!(ids_listed(&s), ["third"]);

    // The daily job: a scheduler entry running create --wait --retain N.
    s.run(&["backup", "schedule", "--daily", "--retain", "3"])
        .ok();
    let jobs = s.run(&["schedule", "list", "--json"]).ok().json();
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "backup")
        .unwrap_or_else(|| panic!("no backup job: {jobs}"));
    assert_eq!(job["cron"], "0 3 * * *", "{job}");
    assert_eq!(job["runs"], "backup create --wait --retain 3", "{job}");
    // Run now as the daemon would: one more backup, the retention applied.
    let run = s.run(&["schedule", "run", "backup", "--json"]).ok().json();
    assert_eq!(run["outcome"], "ok", "{run}");
    let ids = ids_listed(&s);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[1], "third", "{ids:?}");
    let scheduled = ids[0].clone();

    // Incremental on the newest good backup; its base is kept by pruning,
    // and it restores.
    s.generate("BackupMore", "synthetic", "100");
    let inc = s
        .run(&[
            "backup",
            "create",
            "--id",
            "fifth",
            "--incremental",
            "--wait",
            "--json",
        ])
        .ok()
        .json()["backup"]
        .clone();
    assert_eq!(inc["base"], scheduled.as_str(), "{inc}");
    let list = s.run(&["backup", "list", "--json"]).ok().json();
    assert_eq!(list[0]["id"], "fifth", "{list}");
    assert_eq!(list[0]["base"], scheduled.as_str(), "{list}");
    s.run(&["backup", "verify", "fifth"]).ok();
    let p = s
        .run(&["backup", "prune", "--retain", "1", "--json"])
        .ok()
        .json();
    assert_eq!(p["kept"], serde_json::json!(["fifth", scheduled]), "{p}");
    assert_eq!(p["deleted"], serde_json::json!(["third"]), "{p}");
    for c in ["BackupDocs", "BackupUsers", "BackupMore"] {
        delete_collection(&s, c);
    }
    let r = s
        .run(&["backup", "restore", "fifth", "--wait", "--json"])
        .ok()
        .json();
    eprintln!(
        "TIMING restore of an incremental backup (800 objects): {}s",
        r["seconds"]
    );
    assert_eq!(s.count_of("BackupDocs"), 400);
    assert_eq!(s.count_of("BackupMore"), 100);
    assert_eq!(s.validate("BackupMore")["ok"], true);

    // A node down: Weaviate refuses the backup, and the answer says what to do.
    common::signal(s.node_pid(2), "KILL");
    let r = s.run(&["backup", "create", "--id", "node-down", "--wait"]);
    eprintln!("node down: {}", r.stderr);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("weaviate-2"), "{}", r.stderr);
    assert!(r.stderr.contains("a node is down"), "{}", r.stderr);

    // stop takes the store down with the nodes.
    let r = s.run(&["stop", "--json"]).ok().json();
    assert_eq!(
        r["weaviate"]["stopped"]["backup-store"], "terminated",
        "{r}"
    );
    assert!(!running(store_pid), "the store outlived stop");
}

/// Every object of a collection (ID and properties, in ID order) as one
/// string, read through the REST API page by page: two clusters holding
/// the same content give the same string.
fn content_fingerprint(port: u16, class: &str) -> String {
    let mut lines = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/v1/objects?class={class}&limit=200{after}");
        let (code, body) = http(port, "GET", &path, None);
        assert_eq!(code, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        let objects = page["objects"].as_array().cloned().unwrap_or_default();
        for o in &objects {
            lines.push(format!("{} {}", o["id"], canonical(&o["properties"])));
        }
        match objects.last() {
            Some(last) if objects.len() == 200 => {
                after = format!("&after={}", last["id"].as_str().unwrap())
            }
            _ => break,
        }
    }
    assert!(!lines.is_empty(), "{class} has no objects on port {port}");
    lines.join("\n")
}

/// The collections a cluster has, each with its definition, by name (the
/// server's order changes between calls).
fn collections_of(port: u16) -> std::collections::BTreeMap<String, Value> {
    let (code, body) = http(port, "GET", "/v1/schema", None);
    assert_eq!(code, 200, "{body}");
    let schema: Value = serde_json::from_str(&body).unwrap();
    schema["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["class"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

/// A JSON value with its keys sorted, as text.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{k:?}:{}", canonical(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// Whether a PID runs (a zombie waiting for its reaper does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_stack_started_before_backups_were_enabled_is_told_to_restart() {
    if !require_weaviate()
        || !require(
            "versitygw (elysiactl install backup-store)",
            versitygw_binary().exists(),
        )
    {
        return;
    }
    let s = Stack::new("process", 1, false, "");
    s.run(&["start", "--timeout", "240"]).ok();
    let port = free_block(1);
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "{text}\n[backup]\nenabled = true\nport = {port}\nsecret_key = \"{SECRET}\"\nbinary = \"{}\"\n",
            versitygw_binary().display()
        ),
    )
    .unwrap();
    // The difference is named by the [backup] settings, and not applied live.
    let r = s.run(&["config", "diff", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains(SECRET));
    let keys: Vec<String> = r.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect();
    for key in [
        "backup.bucket",
        "backup.port",
        "backup.secret_key",
        "weaviate.env.ENABLE_MODULES",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
    }
    assert!(
        !keys.iter().any(|k| k.starts_with("weaviate-0")),
        "{keys:?}"
    );
    let r = s.run(&["--dry-run", "config", "apply", "--json"]);
    assert!(
        r.stdout
            .contains("the backup store starts and stops with the stack"),
        "{}{}",
        r.stdout,
        r.stderr
    );

    // Neither the store nor the module yet.
    let r = s.run(&["backup", "create", "--wait"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("backup store") && r.stderr.contains("not running"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("restart the stack"), "{}", r.stderr);
    // `start` brings the store up but leaves the running node as it is.
    s.run(&["start", "--timeout", "240"]).ok();
    let r = s.run(&["backup", "list"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("weaviate-0 runs without the backup-s3 module")
            && r.stderr.contains("restart the stack"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET));
    // Restarted, it backs up.
    s.run(&["stop"]).ok();
    s.run(&["start", "--timeout", "240"]).ok();
    let list = s.run(&["backup", "list", "--json"]).ok().json();
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn backup_commands_without_a_configured_store_say_how_to_configure_it() {
    let s = Stack::new("process", 1, false, "");
    let r = s.run(&["backup", "list"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("backups are not configured") && r.stderr.contains("[backup]"),
        "{}",
        r.stderr
    );
    // Bad input to the commands that need no store: named, nothing written.
    for (args, said) in [
        (
            &["backup", "schedule", "--daily", "--at", "25:99"][..],
            "not a time of day",
        ),
        (
            &["backup", "schedule", "--retain", "3"][..],
            "needs --daily or --cron",
        ),
        (&["backup", "create", "--retain", "2"][..], "needs --wait"),
    ] {
        let r = s.run(args);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains(said), "{args:?}: {}", r.stderr);
    }
    let cfg_text =
        std::fs::read_to_string(s.dir.path().join("config/elysiactl/config.toml")).unwrap();
    assert!(!cfg_text.contains("[[jobs]]"), "{cfg_text}");
    // Enabled without a secret: refused at load, naming the key.
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[backup]\nenabled = true\n")).unwrap();
    let r = s.run(&["backup", "list"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("backup.secret_key"), "{}", r.stderr);
}

#[test]
fn docker_nodes_reach_the_store_on_the_host_and_restore_a_backup() {
    let image = "elysiactl/weaviate:1.38.11";
    if !require("a Docker engine", common::docker_available())
        || !require(
            &format!("the image {image} (elysiactl install weaviate)"),
            common::docker_get(&format!("/images/{image}/json"))
                .is_some_and(|v| v["Id"].is_string()),
        )
        || !require(
            "versitygw (elysiactl install backup-store)",
            versitygw_binary().exists(),
        )
    {
        return;
    }
    let port = free_block(1);
    let s = Stack::new(
        "docker",
        3,
        false,
        &format!(
            "\n[backup]\nenabled = true\nport = {port}\nsecret_key = \"{SECRET}\"\nbinary = \"{}\"\n",
            versitygw_binary().display()
        ),
    );
    s.run(&["start", "--timeout", "240"]).ok();
    let docs = s.generate("DockerDocs", "documents", "200");
    let b = create(&s, "in-docker");
    assert_eq!(b["status"], "SUCCESS", "{b}");
    s.run(&["backup", "verify", "in-docker"]).ok();
    delete_collection(&s, "DockerDocs");
    s.run(&["backup", "restore", "in-docker", "--wait"]).ok();
    assert_eq!(s.count_of("DockerDocs"), 200);
    assert_eq!(s.factor_of("DockerDocs"), 3);
    let v = s.validate("DockerDocs");
    assert_eq!(v["ok"], true, "{v}");
    let listed = s.run(&["test-data", "list", "--json"]).ok().json();
    assert_eq!(
        listed[0]["fingerprint"], docs["dataset"]["fingerprint"],
        "{listed}"
    );
}

/// Why `backup create` puts folder objects before Weaviate writes: versitygw
/// removes a folder that a delete leaves empty, unless the folder was put
/// as an object. Every node puts and deletes an access-check file under
/// `<id>/<node>/` at the start of a backup; a folder removed under another
/// node's concurrent put failed that put ("Existing Object is a
/// directory") and the backup with it.
#[test]
fn versitygw_keeps_only_folders_put_as_objects() {
    use elysiactl::base::config::Secret;
    use elysiactl::clients::s3::S3Client;
    if !require(
        "versitygw (elysiactl install backup-store)",
        versitygw_binary().exists(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_block(1);
    let mut store = std::process::Command::new(versitygw_binary())
        .args(["--port", &format!("127.0.0.1:{port}"), "--quiet", "posix"])
        .arg(dir.path())
        .env("ROOT_ACCESS_KEY_ID", "test")
        .env("ROOT_SECRET_ACCESS_KEY", SECRET)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s3 = S3Client::new(
        reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}"),
        "bucket",
        "test",
        &Secret::new(SECRET),
    );
    let result = rt.block_on(async {
        let started = std::time::Instant::now();
        while s3.ensure_bucket().await.is_err() {
            assert!(started.elapsed().as_secs() < 30, "versitygw did not answer");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // Without folder objects: the delete takes both folders with it.
        s3.put("plain/node/access-check", b"x".to_vec()).await?;
        s3.delete("plain/node/access-check").await?;
        let plain_gone = !dir.path().join("bucket/plain").exists();
        // With them: the folders stay, and are no file of any listing but their own.
        s3.put("held/", Vec::new()).await?;
        s3.put("held/node/", Vec::new()).await?;
        s3.put("held/node/access-check", b"x".to_vec()).await?;
        s3.delete("held/node/access-check").await?;
        let held_kept = dir.path().join("bucket/held/node").is_dir();
        let listed = s3.list("held/").await?;
        Ok::<_, elysiactl::base::error::HostError>((plain_gone, held_kept, listed))
    });
    let _ = store.kill();
    let _ = store.wait();
    let (plain_gone, held_kept, listed) = result.unwrap();
    assert!(
        plain_gone,
        "versitygw kept an emptied folder: the folder objects are not needed"
    );
    assert!(held_kept, "a folder put as an object was removed");
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["held/", "held/node/"]);
}
