//! The whole stack with Weaviate as local processes: the lifecycle
//! scenario, a crashed node, a port already taken, API-key authentication.

mod common;

use common::{elysia_venv, require, weaviate_binary, Stack};

fn prerequisites(elysia: bool) -> bool {
    require(
        "the Weaviate binary (elysiactl install weaviate)",
        weaviate_binary().exists(),
    ) && (!elysia
        || require(
            "the Elysia venv (elysiactl install elysia)",
            elysia_venv().join("bin/elysia").exists(),
        ))
}

#[test]
fn process_runtime_lifecycle() {
    if !prerequisites(true) {
        return;
    }
    let s = Stack::new("process", 3, true, "");
    common::scenario::full(&s, true);
}

#[test]
fn crashed_node_is_reported_and_start_recovers_it() {
    if !prerequisites(false) {
        return;
    }
    let s = Stack::new("process", 3, false, "");
    s.run(&["start", "--timeout", "240"]).ok();
    let v = s.run(&["status", "--json"]).ok().json();
    let pid = v["weaviate"]["nodes"][2]["pid"].as_u64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let r = s.run(&["status", "--json"]);
    assert_eq!(r.code, 1, "a dead node must make status fail");
    let node = &r.json()["weaviate"]["nodes"][2];
    assert_eq!(node["running"], false, "{node:#}");
    assert!(
        node["detail"]
            .as_str()
            .unwrap()
            .contains("crashed or killed"),
        "{node:#}"
    );
    // start brings back what is missing and leaves the rest.
    s.run(&["weaviate", "start"]).ok();
    s.run(&["status"]).ok();
}

#[test]
fn port_taken_is_refused_with_the_fix() {
    if !prerequisites(false) {
        return;
    }
    let s = Stack::new("process", 3, false, "");
    let _holder = std::net::TcpListener::bind(("127.0.0.1", s.rest_port + 1)).unwrap();
    let r = s.run(&["weaviate", "start"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "port {} (REST port of weaviate-1) is already taken",
            s.rest_port + 1
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(
        s.live_pids().is_empty(),
        "nothing may be started: {:?}",
        s.live_pids()
    );
}

#[test]
fn api_key_authentication_end_to_end() {
    if !prerequisites(false) {
        return;
    }
    let mut s = Stack::new("process", 1, false, "");
    s.extra_env
        .push(("WEAVIATE_API_KEY".into(), "right-key-5151".into()));
    s.run(&["start"]).ok();
    s.run(&["status"]).ok();
    let r = s.run_with(
        &["status", "--json"],
        &[("WEAVIATE_API_KEY", "wrong-key-4242")],
    );
    assert_ne!(r.code, 0);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("rejected the API key"), "{all}");
    assert!(
        !all.contains("wrong-key-4242") && !all.contains("right-key-5151"),
        "a key leaked: {all}"
    );
    // health says the cluster is down for this client, names the cause, hides the key.
    let r = s.run_with(&["health"], &[("WEAVIATE_API_KEY", "wrong-key-4242")]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("rejected the API key"), "{}", r.stdout);
    assert!(!r.stdout.contains("wrong-key-4242") && !r.stderr.contains("wrong-key-4242"));
    // Without a key the node refuses too.
    let p = s.dir.path().join("schema.rhai");
    std::fs::write(&p, "cluster::schema();\n").unwrap();
    let r = s.run_with(
        &["run", p.to_str().unwrap()],
        &[("WEAVIATE_API_KEY", "wrong-key-4242")],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("WEAVIATE_API_KEY"), "{}", r.stderr);
    s.run(&["run", p.to_str().unwrap()]).ok();
}
