//! Named environments. Without a cluster: add, list, switch, current,
//! remove, `extends` with the origin of each value, cycles, bad names.
//! On the real stack (process runtime): two local environments running at
//! once on their own ports and folders, a command with --env acting only on
//! its own (checked by reading both clusters), `env switch` moving a bare
//! command, a remote environment reaching one of them by URL and API key
//! (health, repair --dry-run, index sync, test-data, benchmark and a local
//! Elysia work; start, stop, restart, logs and chaos refuse), and `env
//! diff` naming a different factor and config key, `env clone --data`. In
//! Docker: two environments' containers, networks and volumes apart.

mod common;

use common::{free_block, require_weaviate, Run, Stack};
use serde_json::Value;
use std::path::PathBuf;

fn stack() -> Stack {
    Stack::new("process", 1, false, "")
}

fn env_file(s: &Stack, name: &str) -> PathBuf {
    s.dir
        .path()
        .join(format!("config/elysiactl/envs/{name}.toml"))
}

fn env_names(s: &Stack) -> Vec<String> {
    s.run(&["env", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn environments_are_added_listed_switched_and_removed() {
    let s = stack();
    assert_eq!(env_names(&s), ["default"]);
    let r = s.run(&["env", "current", "--json"]).ok().json();
    assert_eq!(
        (r["name"].as_str(), r["chosen_by"].as_str()),
        (Some("default"), Some("default"))
    );

    let added = s.run(&["env", "add", "staging", "--json"]).ok().json();
    assert_eq!(added["cluster_name"], "elysiactl-staging");
    let default_cfg = s.run(&["config", "show", "--json"]).ok().json();
    let staging_cfg = s
        .run(&["--env", "staging", "config", "show", "--json"])
        .ok()
        .json();
    // Its own ports and Docker names, clear of the default's.
    assert_ne!(
        staging_cfg["weaviate"]["rest_port"],
        default_cfg["weaviate"]["rest_port"]
    );
    assert_ne!(staging_cfg["elysia"]["port"], default_cfg["elysia"]["port"]);
    assert_eq!(staging_cfg["environment"], "staging");
    assert_eq!(default_cfg["environment"], "default");
    // A second one is clear of both.
    let other = s.run(&["env", "add", "other", "--json"]).ok().json();
    let other_cfg = s
        .run(&["--env", "other", "config", "show", "--json"])
        .ok()
        .json();
    assert_ne!(
        other_cfg["weaviate"]["rest_port"], staging_cfg["weaviate"]["rest_port"],
        "{other}"
    );
    assert_eq!(env_names(&s), ["default", "other", "staging"]);

    // Adding one twice is refused, the file untouched.
    let before = std::fs::read_to_string(env_file(&s, "staging")).unwrap();
    let r = s.run(&["env", "add", "staging"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(env_file(&s, "staging")).unwrap(),
        before
    );

    // switch moves a bare command; --env and ELYSIACTL_ENV still win.
    s.run(&["env", "switch", "staging"]).ok();
    let r = s.run(&["env", "current", "--json"]).ok().json();
    assert_eq!(
        (r["name"].as_str(), r["chosen_by"].as_str()),
        (Some("staging"), Some("env switch"))
    );
    assert!(s
        .run(&["config", "path"])
        .ok()
        .stdout
        .trim()
        .ends_with("envs/staging.toml"));
    let r = s.run(&["--env", "default", "env", "current"]).ok();
    assert_eq!(r.stdout.trim(), "default");
    let r = s
        .run_with(&["env", "current", "--json"], &[("ELYSIACTL_ENV", "other")])
        .ok()
        .json();
    assert_eq!(
        (r["name"].as_str(), r["chosen_by"].as_str()),
        (Some("other"), Some("ELYSIACTL_ENV"))
    );
    // The REPL names it (in its banner; the prompt too, on a terminal).
    let mut repl = s.command(&["repl"]);
    repl.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = repl.spawn().unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let seen =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(seen.contains("environment staging"), "{seen}");

    // Playbooks see it, in both languages.
    let rhai = s.dir.path().join("where.rhai");
    std::fs::write(
        &rhai,
        "out::line(env::current().name + \" \" + env::list().len());\n",
    )
    .unwrap();
    let lua = s.dir.path().join("where.lua");
    std::fs::write(
        &lua,
        "out.line(env.current().name .. ' ' .. tostring(env.current().remote))\n",
    )
    .unwrap();
    let r = s.run(&["run", rhai.to_str().unwrap()]).ok();
    assert_eq!(r.stdout.trim(), "staging 3");
    let r = s
        .run(&["--env", "other", "run", lua.to_str().unwrap()])
        .ok();
    assert_eq!(r.stdout.trim(), "other false");

    // clone: the file as written, with its own ports and Docker names.
    let c = s
        .run(&["env", "clone", "staging", "copy", "--json"])
        .ok()
        .json();
    assert_eq!(c["cluster_name"], "elysiactl-copy");
    let copy_cfg = s
        .run(&["--env", "copy", "config", "show", "--json"])
        .ok()
        .json();
    assert_ne!(
        copy_cfg["weaviate"]["rest_port"],
        staging_cfg["weaviate"]["rest_port"]
    );
    assert_ne!(
        copy_cfg["weaviate"]["rest_port"],
        other_cfg["weaviate"]["rest_port"]
    );
    assert_eq!(
        copy_cfg["weaviate"]["nodes"],
        staging_cfg["weaviate"]["nodes"]
    );
    let r = s.run(&["env", "clone", "staging", "other"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    s.run(&["env", "remove", "copy"]).ok();

    // Removing the current one goes back to default; removing default is refused.
    let r = s.run(&["env", "remove", "default"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    s.run(&["env", "remove", "staging"]).ok();
    assert!(!env_file(&s, "staging").exists());
    assert_eq!(s.run(&["env", "current"]).ok().stdout.trim(), "default");
    assert_eq!(env_names(&s), ["default", "other"]);
}

#[test]
fn a_new_environment_keeps_clear_of_one_that_does_not_load_here() {
    let s = stack();
    let envs = s.dir.path().join("config/elysiactl/envs");
    std::fs::create_dir_all(&envs).unwrap();
    // Its key's variable is not set in this shell; its ports are taken all the same.
    std::fs::write(
        envs.join("keyed.toml"),
        "[weaviate]\nrest_port = 8180\ngrpc_port = 50151\ngossip_port = 7200\nraft_port = 8400\n\
         metrics_port = 2212\napi_key = \"env:ENVS_TEST_UNSET_KEY_5\"\n[elysia]\nport = 8100\n",
    )
    .unwrap();
    let added = s.run(&["env", "add", "fresh", "--json"]).ok().json();
    assert_eq!(added["weaviate"], "127.0.0.1:8280", "{added:#}");
}

#[test]
fn an_unknown_or_badly_named_environment_is_refused() {
    let s = stack();
    let r = s.run(&["--env", "nope", "status"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("there is no environment nope"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("elysiactl env add nope"), "{}", r.stderr);
    let r = s.run_with(&["status"], &[("ELYSIACTL_ENV", "../etc")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot name an environment"),
        "{}",
        r.stderr
    );
    let r = s.run(&["env", "switch", "nope"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!s.dir.path().join("config/elysiactl/current-env").exists());
    // A switched-to environment whose file was deleted by hand: commands
    // refuse, but `env` and the tool's own commands still work, to go back.
    s.run(&["env", "add", "gone"]).ok();
    s.run(&["env", "switch", "gone"]).ok();
    std::fs::remove_file(env_file(&s, "gone")).unwrap();
    let r = s.run(&["status"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("env switch default"), "{}", r.stderr);
    s.run(&["commands"]).ok();
    s.run(&["env", "list"]).ok();
    s.run(&["env", "switch", "default"]).ok();
    s.run(&["config", "show"]).ok();
}

#[test]
fn an_environment_extends_another_and_says_where_each_value_came_from() {
    let s = stack();
    let envs = s.dir.path().join("config/elysiactl/envs");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::write(
        envs.join("base.toml"),
        "[weaviate]\nnodes = 2\nreplication_factor = 2\nrest_port = 18080\n[index]\nbatch_size = 77\n",
    )
    .unwrap();
    std::fs::write(
        envs.join("child.toml"),
        "extends = \"base\"\n[weaviate]\nrest_port = 19080\n",
    )
    .unwrap();
    let v = s
        .run(&["--env", "child", "config", "show", "--json"])
        .ok()
        .json();
    // Inherited, overridden, default.
    assert_eq!(v["weaviate"]["nodes"], 2);
    assert_eq!(v["index"]["batch_size"], 77);
    assert_eq!(v["weaviate"]["rest_port"], 19080);
    assert_eq!(v["weaviate"]["grpc_port"], 50051);
    let origin = |k: &str| v["origins"][k].as_str().unwrap_or("default").to_string();
    assert!(
        origin("weaviate.nodes").ends_with("envs/base.toml"),
        "{}",
        origin("weaviate.nodes")
    );
    assert!(origin("weaviate.rest_port").ends_with("envs/child.toml"));
    assert_eq!(origin("weaviate.grpc_port"), "default");
    // Its own Docker names, since it names none.
    assert_eq!(v["weaviate"]["cluster_name"], "elysiactl-child");
    let text = s
        .run(&["--env", "child", "config", "show", "--origins"])
        .ok()
        .stdout;
    let line = text
        .lines()
        .find(|l| l.starts_with("index.batch_size = "))
        .unwrap();
    assert!(line.ends_with("envs/base.toml"), "{line}");
    // A variable beats both, and says so.
    let v = s
        .run_with(
            &["--env", "child", "config", "show", "--json"],
            &[("WEAVIATE_PORT", "19999")],
        )
        .ok()
        .json();
    assert_eq!(v["weaviate"]["rest_port"], 19999);
    assert_eq!(
        v["origins"]["weaviate.rest_port"],
        "environment WEAVIATE_PORT"
    );

    // config validate takes `extends`, and checks the merged result: the base's
    // 2 nodes with the child's factor of 3 is an error. It also checks that
    // the ports are free on this machine, so the child gets free ones here
    // (the defaults may be held by another test's cluster).
    let ports = format!(
        "rest_port = {}\ngrpc_port = {}\ngossip_port = {}\nraft_port = {}\nmetrics_port = {}\n",
        free_block(2),
        free_block(2),
        free_block(4),
        free_block(4),
        free_block(2)
    );
    std::fs::write(
        envs.join("child.toml"),
        format!("extends = \"base\"\n[weaviate]\n{ports}"),
    )
    .unwrap();
    let r = s.run(&["--env", "child", "config", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::write(
        envs.join("child.toml"),
        format!("extends = \"base\"\n[weaviate]\n{ports}replication_factor = 3\n"),
    )
    .unwrap();
    let r = s.run(&["--env", "child", "config", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("weaviate.replication_factor"),
        "{}",
        r.stdout
    );
    std::fs::write(
        envs.join("child.toml"),
        "extends = \"base\"\n[weaviate]\nrest_port = 19080\n",
    )
    .unwrap();

    // ELYSIACTL_CONFIG stands for config.toml, never for another environment's file.
    let elsewhere = s.dir.path().join("elsewhere.toml");
    let via_var = [("ELYSIACTL_CONFIG", elsewhere.to_str().unwrap())];
    let r = s
        .run_with(&["--env", "child", "config", "path"], &via_var)
        .ok();
    assert!(r.stdout.trim().ends_with("envs/child.toml"), "{}", r.stdout);
    let r = s.run_with(&["config", "path"], &via_var).ok();
    assert_eq!(r.stdout.trim(), elsewhere.to_str().unwrap());

    // A cycle is refused with the chain.
    std::fs::write(envs.join("base.toml"), "extends = \"child\"\n").unwrap();
    let r = s.run(&["--env", "child", "config", "show"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cycle: child extends base extends child"),
        "{}",
        r.stderr
    );
    // A base that does not exist is named.
    std::fs::write(envs.join("child.toml"), "extends = \"gone\"\n").unwrap();
    let r = s.run(&["--env", "child", "config", "show"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("extends the environment gone"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_remote_environment_refuses_process_control_without_touching_anything() {
    let s = stack();
    s.run(&[
        "env",
        "add",
        "prod",
        "--url",
        "http://127.0.0.1:9",
        "--api-key-ref",
        "env:ENVS_TEST_PROD_KEY",
    ])
    .ok();
    let text = std::fs::read_to_string(env_file(&s, "prod")).unwrap();
    assert!(
        text.contains("api_key = \"env:ENVS_TEST_PROD_KEY\""),
        "{text}"
    );
    let key = [("ENVS_TEST_PROD_KEY", "k-123")];
    for args in [
        &["start"][..],
        &["stop"],
        &["weaviate", "restart"],
        &["weaviate", "restart", "--rolling"],
        &["weaviate", "logs"],
        &["chaos", "node", "--kill", "weaviate-0"],
    ] {
        let mut all = vec!["--env", "prod"];
        all.extend_from_slice(args);
        let r = s.run_with(&all, &key);
        assert_ne!(r.code, 0, "{args:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("managed elsewhere"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("k-123"));
    }
    assert!(!s
        .dir
        .path()
        .join("state/elysiactl/envs/prod/run/weaviate.runtime")
        .exists());
    // A literal key is refused: only references are written.
    let r = s.run(&[
        "env",
        "add",
        "p2",
        "--url",
        "http://127.0.0.1:9",
        "--api-key-ref",
        "secret",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!env_file(&s, "p2").exists());
}

#[test]
fn env_diff_without_clusters_compares_configs_and_the_installed_elysia() {
    let s = stack();
    let venv = common::elysia_venv();
    if !common::require(
        "the Elysia venv (elysiactl install elysia)",
        venv.join("bin/elysia").exists(),
    ) {
        return;
    }
    let file = s.dir.path().join("with-elysia.toml");
    std::fs::write(
        &file,
        format!(
            "[weaviate]\nrest_port = {}\nreplication_factor = 1\napi_key = \"diff-secret-9\"\n[elysia]\nenabled = true\nvenv = \"{}\"\n",
            common::free_block(3),
            venv.display()
        ),
    )
    .unwrap();
    s.run(&["env", "add", "e", "--from", file.to_str().unwrap()])
        .ok();
    let r = s.run(&["env", "diff", "default", "e", "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stdout.contains("diff-secret-9"));
    let d = r.json();
    assert_eq!(d["clusters"]["a"]["reachable"], false);
    let keys: Vec<&str> = d["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    for k in [
        "weaviate.replication_factor",
        "weaviate.api_key",
        "elysia.enabled",
        "weaviate.cluster_name",
    ] {
        assert!(keys.contains(&k), "{k}: {keys:?}");
    }
    let elysia = d["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "elysia.installed_version")
        .cloned();
    let elysia = elysia.unwrap_or_else(|| panic!("{d:#}"));
    assert!(elysia["a"].is_null() && elysia["b"].is_string(), "{elysia}");
    // The text form says the clusters do not answer, and never shows the key.
    let t = s.run(&["env", "diff", "default", "e"]);
    assert_eq!(t.code, 1);
    assert!(t.stdout.contains("not reachable"), "{}", t.stdout);
    assert!(
        t.stdout.contains("elysia.installed_version"),
        "{}",
        t.stdout
    );
    assert!(!t.stdout.contains("diff-secret-9"));
}

#[test]
fn a_process_the_tool_starts_keeps_its_environment() {
    let s = stack();
    s.run(&["env", "add", "side"]).ok();
    s.run(&["--env", "side", "daemon", "--detach"]).ok();
    // Stop it however the test ends.
    struct StopDaemon<'a>(&'a Stack);
    impl Drop for StopDaemon<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["--env", "side", "daemon", "stop"]);
        }
    }
    let _stop = StopDaemon(&s);
    let pid_file = s
        .dir
        .path()
        .join("state/elysiactl/envs/side/run/daemon.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.lines().next().unwrap().trim();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"ELYSIACTL_ENV=side"),
        "the daemon does not know its environment"
    );
    // A switch elsewhere does not move it, and the default has none.
    s.run(&["env", "switch", "default"]).ok();
    assert_eq!(s.run(&["daemon", "status"]).code, 1);
    s.run(&["--env", "side", "daemon", "status"]).ok();
    s.run(&["--env", "side", "daemon", "stop"]).ok();
}

// ---- on the real stack ----------------------------------------------------

/// A request with the API key, for the cluster that requires one.
fn http_key(port: u16, path: &str, key: Option<&str>) -> (u16, String) {
    common::http_with_key(port, "GET", path, None, key)
}

fn collections(port: u16, key: Option<&str>) -> Vec<String> {
    let (code, body) = http_key(port, "/v1/schema", key);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap().to_string())
        .collect()
}

/// Stops the second environment's stack however the test ends (the Stack
/// stops only the default one).
struct StopEnv<'a>(&'a Stack, &'static str);

impl Drop for StopEnv<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["--env", self.1, "stop", "--timeout", "10"]);
        let run = self
            .0
            .dir
            .path()
            .join(format!("state/elysiactl/envs/{}/run", self.1));
        for e in std::fs::read_dir(run).into_iter().flatten().flatten() {
            if let Some(pid) = std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
            {
                if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                }
            }
        }
    }
}

fn started(r: Run) -> Run {
    r.ok()
}

#[test]
fn two_local_environments_run_side_by_side_and_a_remote_one_reaches_one_of_them() {
    if !require_weaviate() {
        return;
    }
    const KEY: &str = "envs-test-key-4711";
    // default: one node, with an API key (what the remote environment uses).
    let s = Stack::new("process", 1, false, &format!("api_key = \"{KEY}\""));
    // "side": three nodes on ports of its own, added from a file.
    let p = |n: u16| common::free_block(n);
    let (rest, grpc, gossip, raft, metrics) = (p(3), p(3), p(6), p(6), p(3));
    let side_file = s.dir.path().join("side.toml");
    std::fs::write(
        &side_file,
        format!(
            "[weaviate]\nruntime = \"process\"\nnodes = 3\nrest_port = {rest}\ngrpc_port = {grpc}\n\
             gossip_port = {gossip}\nraft_port = {raft}\nmetrics_port = {metrics}\nbinary = \"{}\"\n\
             stop_timeout = 20\nreplication_factor = 3\n[elysia]\nenabled = false\n",
            common::weaviate_binary().display()
        ),
    )
    .unwrap();
    s.run(&["env", "add", "side", "--from", side_file.to_str().unwrap()])
        .ok();
    let _stop_side = StopEnv(&s, "side");
    // Both at once.
    std::thread::scope(|t| {
        let a = t.spawn(|| started(s.run(&["start", "--timeout", "180"])));
        let b = t.spawn(|| started(s.run(&["--env", "side", "start", "--timeout", "180"])));
        a.join().unwrap();
        b.join().unwrap();
    });
    // Their own PID files and data folders.
    let state = s.dir.path().join("state/elysiactl");
    assert!(state.join("run/weaviate-0.pid").exists());
    assert!(state.join("envs/side/run/weaviate-2.pid").exists());
    assert!(!state.join("run/weaviate-2.pid").exists());
    assert!(s
        .dir
        .path()
        .join("data/elysiactl/envs/side/weaviate/weaviate-2")
        .is_dir());

    // A write with --env lands only in its own cluster.
    let r = s
        .run(&[
            "--env",
            "side",
            "test-data",
            "generate",
            "--records",
            "120",
            "--collection",
            "SideOnly",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["written"], 120, "{r:#}");
    assert!(collections(rest, None).contains(&"SideOnly".to_string()));
    assert!(!collections(s.rest_port, Some(KEY)).contains(&"SideOnly".to_string()));

    // status names the environment and reads its own cluster.
    let st = s.run(&["--env", "side", "status", "--json"]).ok().json();
    assert_eq!(st["environment"], "side");
    assert_eq!(st["weaviate"]["nodes"].as_array().unwrap().len(), 3);
    // env switch moves a bare command there.
    s.run(&["env", "switch", "side"]).ok();
    let st = s.run(&["status", "--json"]).ok().json();
    assert_eq!(st["environment"], "side");
    assert_eq!(st["weaviate"]["nodes"][0]["rest_port"], rest);
    let h = s.run(&["health"]).ok();
    assert!(h.stdout.starts_with("Environment: side"), "{}", h.stdout);
    let w = s.run(&["health", "--watch", "--count", "1", "--json"]).ok();
    let sample: Value = serde_json::from_str(w.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(sample["environment"], "side", "{sample:#}");
    s.run(&["env", "switch", "default"]).ok();
    let st = s.run(&["status", "--json"]).ok().json();
    assert_eq!(st["environment"], "default");
    assert_eq!(st["weaviate"]["nodes"].as_array().unwrap().len(), 1);
    // Removing an environment whose stack runs is refused.
    let r = s.run(&["env", "remove", "side"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("may be running"), "{}", r.stderr);

    // A remote environment at the default cluster, by URL and API key.
    s.run(&[
        "env",
        "add",
        "far",
        "--url",
        &s.rest_url(0),
        "--api-key-ref",
        "env:ENVS_FAR_KEY",
        "--grpc-port",
        &s.grpc_port.to_string(),
        "--nodes",
        "1",
    ])
    .ok();
    let key = [("ENVS_FAR_KEY", KEY)];
    let h = s
        .run_with(&["--env", "far", "health", "--cluster", "--json"], &key)
        .ok()
        .json();
    assert_eq!(h["environment"], "far");
    assert_eq!(h["status"], "healthy", "{h:#}");
    // Without the key the cluster refuses it: the key did the work.
    let h = s.run_with(
        &["--env", "far", "health", "--json"],
        &[("ENVS_FAR_KEY", "wrong")],
    );
    assert_ne!(h.code, 0, "{}", h.stdout);
    s.run_with(
        &["--env", "far", "repair", "config-replication", "--dry-run"],
        &key,
    )
    .ok();
    let src = s.dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.rs"), "fn retry_with_backoff() {}\n").unwrap();
    let r = s
        .run_with(
            &[
                "--env",
                "far",
                "index",
                "sync",
                src.to_str().unwrap(),
                "--json",
            ],
            &key,
        )
        .ok();
    assert!(
        collections(s.rest_port, Some(KEY)).contains(&"CodeChunks".to_string()),
        "{}",
        r.stdout
    );
    assert!(!collections(rest, None).contains(&"CodeChunks".to_string()));
    // Elysia runs here against the remote Weaviate (its "custom" connection,
    // with the key): start waits until Elysia really reaches it.
    if common::require(
        "the Elysia venv (elysiactl install elysia)",
        common::elysia_venv().join("bin/elysia").exists(),
    ) {
        let far = env_file(&s, "far");
        let text = std::fs::read_to_string(&far).unwrap().replace(
            "enabled = false",
            &format!(
                "enabled = true\nport = {}\nvenv = \"{}\"",
                common::free_block(1),
                common::elysia_venv().display()
            ),
        );
        std::fs::write(&far, text).unwrap();
        let _stop_elysia = StopEnv(&s, "far");
        let r = s
            .run_with(
                &[
                    "--env",
                    "far",
                    "elysia",
                    "start",
                    "--timeout",
                    "180",
                    "--json",
                ],
                &key,
            )
            .ok()
            .json();
        assert_eq!(r["ready"], true, "{r:#}");
        let st = s
            .run_with(&["--env", "far", "elysia", "status", "--json"], &key)
            .ok()
            .json();
        assert_eq!(st["weaviate_connected"], true, "{st:#}");
        assert!(s
            .dir
            .path()
            .join("state/elysiactl/envs/far/run/elysia.pid")
            .exists());
        // A bare stop refuses before touching anything: Elysia runs on.
        let r = s.run_with(&["--env", "far", "stop"], &key);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("managed elsewhere"), "{}", r.stderr);
        let st = s
            .run_with(&["--env", "far", "elysia", "status", "--json"], &key)
            .ok()
            .json();
        assert_eq!(st["running"], true, "{st:#}");
        s.run_with(&["--env", "far", "elysia", "stop"], &key).ok();
    }
    // test-data and benchmark through the remote environment; its baseline
    // is kept in its own data folder.
    let r = s
        .run_with(
            &[
                "--env",
                "far",
                "test-data",
                "generate",
                "--records",
                "30",
                "--collection",
                "FarData",
                "--json",
            ],
            &key,
        )
        .ok()
        .json();
    assert_eq!(r["written"], 30, "{r:#}");
    assert!(collections(s.rest_port, Some(KEY)).contains(&"FarData".to_string()));
    let b = s
        .run_with(
            &[
                "--env",
                "far",
                "benchmark",
                "baseline",
                "--save",
                "farbase",
                "--rate",
                "20",
                "--duration",
                "2s",
                "--warmup",
                "1s",
                "--records",
                "100",
                "--dims",
                "8",
                "--mix",
                "get=1",
                "--json",
            ],
            &key,
        )
        .ok()
        .json();
    assert!(
        b["summary"]["operations"]["get"]["count"].as_u64().unwrap() > 0,
        "{b:#}"
    );
    assert_eq!(b["summary"]["operations"]["get"]["errors"], 0, "{b:#}");
    assert!(s
        .dir
        .path()
        .join("data/elysiactl/envs/far/benchmarks/farbase.json")
        .exists());
    assert!(!s
        .dir
        .path()
        .join("data/elysiactl/benchmarks/farbase.json")
        .exists());
    // start refuses, and the cluster it points at runs on.
    let r = s.run_with(&["--env", "far", "start"], &key);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("managed elsewhere"), "{}", r.stderr);
    s.run(&["status"]).ok();

    // env diff: a different factor on the same collection, and config keys.
    s.run(&[
        "test-data",
        "generate",
        "--records",
        "50",
        "--collection",
        "SideOnly",
    ])
    .ok();
    let d = s.run(&["env", "diff", "default", "side", "--json"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    let d = d.json();
    let change = |k: &str| {
        d["cluster"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k)
            .cloned()
    };
    let factor =
        change("collections.SideOnly.replication_factor").unwrap_or_else(|| panic!("{d:#}"));
    assert_eq!(
        (factor["a"].as_u64(), factor["b"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(change("nodes").is_some(), "{d:#}");
    let config_keys: Vec<&str> = d["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(
        config_keys.contains(&"weaviate.replication_factor"),
        "{config_keys:?}"
    );
    // env clone --data: schema and objects with vectors into the running
    // "side", counted at both ends; the copy validates against its seed and
    // exports byte for byte as the original.
    s.run(&[
        "test-data",
        "generate",
        "--records",
        "150",
        "--pattern",
        "documents",
        "--vectors",
        "8",
        "--collection",
        "CloneMe",
    ])
    .ok();
    let c = s
        .run(&[
            "env",
            "clone",
            "default",
            "side",
            "--data",
            "--collection",
            "CloneMe",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(c["equal"], true, "{c:#}");
    assert_eq!(c["method"], "batch", "no shared backup store: {c:#}");
    assert_eq!(c["collections"][0]["target_count"], 150, "{c:#}");
    let fingerprint = &c["collections"][0]["target_fingerprint"];
    assert!(fingerprint.is_string(), "{c:#}");
    assert_eq!(&c["collections"][0]["source_fingerprint"], fingerprint);
    let v = s
        .run(&[
            "--env",
            "side",
            "test-data",
            "validate",
            "--collection",
            "CloneMe",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v[0]["ok"], true, "{v:#}");
    let export = |env: &str| {
        s.run(&["--env", env, "test-data", "export", "CloneMe"])
            .ok()
            .stdout
    };
    // The objects, without the header (whose definition is each cluster's).
    let objects = |text: String| text.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
    let (original, copy) = (objects(export("default")), objects(export("side")));
    assert_eq!(original.len(), 150);
    assert!(original == copy, "the copy exports differently");
    // Copying again is refused: side has it now.
    let r = s.run(&[
        "env",
        "clone",
        "default",
        "side",
        "--data",
        "--collection",
        "CloneMe",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("already has CloneMe"), "{}", r.stderr);

    // The key is compared, never shown.
    let api = d["config"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "weaviate.api_key")
        .unwrap();
    assert_eq!(api["a"], "***");
    assert!(!d.to_string().contains(KEY));
}

/// Removes what the docker test's second environment may have left.
struct DockerEnvGone<'a>(&'a Stack, String);

impl Drop for DockerEnvGone<'_> {
    fn drop(&mut self) {
        let env = &self.1;
        let _ = self.0.run(&["--env", env, "stop", "--timeout", "10"]);
        let cluster = format!("elysiactl-{env}");
        for id in docker_ids(&cluster) {
            common::docker_request("DELETE", &format!("/containers/{id}?force=true&v=true"));
        }
        common::docker_request("DELETE", &format!("/volumes/{cluster}-weaviate-0-data"));
        common::docker_request("DELETE", &format!("/networks/{cluster}"));
    }
}

/// The containers labelled as cluster `cluster`'s.
fn docker_ids(cluster: &str) -> Vec<String> {
    common::docker_get(&format!(
        "/containers/json?all=true&filters=%7B%22label%22%3A%5B%22io.elysiactl.cluster%3D{cluster}%22%5D%7D"
    ))
    .and_then(|v| v.as_array().cloned())
    .map(|a| a.iter().filter_map(|c| c["Id"].as_str().map(str::to_string)).collect())
    .unwrap_or_default()
}

#[test]
fn two_docker_environments_keep_to_their_own_containers_network_and_volumes() {
    if !common::require("a Docker engine", common::docker_available()) || !require_weaviate() {
        return;
    }
    let s = Stack::new("docker", 1, false, "");
    // Unique per test process: containers are global to the engine.
    let env = format!("dk{}", std::process::id());
    let file = s.dir.path().join("dk.toml");
    let p = common::free_block;
    std::fs::write(
        &file,
        format!(
            "[weaviate]\nruntime = \"docker\"\nnodes = 1\nrest_port = {}\ngrpc_port = {}\n\
             metrics_port = {}\nstop_timeout = 20\n[elysia]\nenabled = false\n",
            p(1),
            p(1),
            p(1)
        ),
    )
    .unwrap();
    s.run(&["env", "add", &env, "--from", file.to_str().unwrap()])
        .ok();
    let _gone = DockerEnvGone(&s, env.clone());
    std::thread::scope(|t| {
        let a = t.spawn(|| s.run(&["start", "--timeout", "180"]).ok());
        let b = t.spawn(|| s.run(&["--env", &env, "start", "--timeout", "180"]).ok());
        a.join().unwrap();
        b.join().unwrap();
    });
    // The environment named its own container, network and volume.
    let cluster = format!("elysiactl-{env}");
    assert_eq!(docker_ids(&cluster).len(), 1);
    assert_eq!(s.containers().len(), 1);
    for path in [
        format!("/containers/{cluster}-weaviate-0/json"),
        format!("/networks/{cluster}"),
        format!("/volumes/{cluster}-weaviate-0-data"),
    ] {
        let (status, body) = common::docker_request("GET", &path).unwrap();
        assert!(status.contains("200"), "{path}: {status} {body}");
    }
    // A write with --env lands in its own cluster only.
    s.run(&[
        "--env",
        &env,
        "test-data",
        "generate",
        "--records",
        "40",
        "--collection",
        "DockerSide",
    ])
    .ok();
    let st = s.run(&["--env", &env, "status", "--json"]).ok().json();
    let port = st["weaviate"]["nodes"][0]["rest_port"].as_u64().unwrap() as u16;
    assert!(collections(port, None).contains(&"DockerSide".to_string()));
    assert!(!collections(s.rest_port, None).contains(&"DockerSide".to_string()));
    // Stopping it leaves the default one running, and keeps only its volume.
    s.run(&["--env", &env, "stop"]).ok();
    assert!(docker_ids(&cluster).is_empty());
    let (status, _) = common::docker_request("GET", &format!("/networks/{cluster}")).unwrap();
    assert!(status.contains("404"), "{status}");
    assert_eq!(s.containers().len(), 1);
    s.run(&["status"]).ok();
}

/// `config diff` takes environments as well as files: their effective
/// configuration, with what they extend merged in.
#[test]
fn config_diff_compares_two_environments() {
    let s = stack();
    s.run(&["env", "add", "staging", "--json"]).ok();
    let r = s.run(&["config", "diff", "default", "staging", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(
        (v["a"].as_str(), v["b"].as_str()),
        (Some("environment default"), Some("environment staging"))
    );
    let keys: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"weaviate.rest_port"), "{v:#}");
    assert!(keys.contains(&"weaviate.cluster_name"), "{v:#}");
    assert_eq!(s.run(&["config", "diff", "staging", "staging"]).code, 0);
    // A file and an environment mix.
    let file = s.dir.path().join("config/elysiactl/config.toml");
    let r = s.run(&["config", "diff", file.to_str().unwrap(), "default"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = s.run(&["config", "diff", "nowhere", "staging"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("nowhere is neither a config file nor an environment"),
        "{}",
        r.stderr
    );
    // Against the running stack: only the active environment's.
    let r = s.run(&["config", "diff", "staging"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("elysiactl --env staging config diff"),
        "{}",
        r.stderr
    );
}
