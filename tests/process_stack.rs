//! The whole stack with Weaviate as local processes: the lifecycle
//! scenario, a crashed node, a port already taken, API-key authentication,
//! and the REST client's calls and refusals against a real node.

mod common;

use common::{elysia_venv, require, weaviate_binary, Stack};
use elysiactl::base::config::{Secret, WeaviateConfig};
use elysiactl::base::error::Category;
use elysiactl::clients::weaviate::{is_no_such_collection, WeaviateClient};
use elysiactl::services::readiness::cluster_readiness;
use serde_json::json;
use std::time::Duration;

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
    let r = s.run_with(&["run", p.to_str().unwrap()], &[("WEAVIATE_API_KEY", "")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("node weaviate-0 requires an API key (401) and none is configured"),
        "{}",
        r.stderr
    );
    s.run(&["run", p.to_str().unwrap()]).ok();
}

/// The REST client's calls on one real node, and the hints it gives for the
/// refusals only a real server produces.
#[test]
fn rest_client_against_a_real_node() {
    if !prerequisites(false) {
        return;
    }
    let s = Stack::new("process", 1, false, "");
    s.run(&["start"]).ok();
    let w = WeaviateConfig {
        nodes: 1,
        rest_port: s.rest_port,
        ..WeaviateConfig::default()
    };
    let specs = w.node_specs();
    let http = reqwest::Client::new();
    let c = WeaviateClient::for_node(http.clone(), &specs[0], &Secret::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(c.live().await.unwrap());
        let (ready, latency) = c.ready_with_latency().await.unwrap();
        assert!(ready && latency < Duration::from_secs(1));
        assert_eq!(c.version().await.unwrap().as_deref(), Some("1.38.11"));
        let n = c.nodes_status(true).await.unwrap();
        assert_eq!(n.nodes[0].name, "weaviate-0");
        assert_eq!(n.nodes[0].status, "HEALTHY");
        let st = c.raft_statistics().await.unwrap();
        assert_eq!(st.statistics[0].leader_id, "weaviate-0");
        assert!(st.statistics[0].is_voter);
        assert_eq!(st.statistics[0].raft.state, "Leader");

        let r = cluster_readiness(&http, &specs, &Secret::default()).await;
        assert!(r.ready, "{:?}", r.problems);
        assert_eq!(r.summary, "1/1 ready, leader weaviate-0, 1 voter");
        assert_eq!(r.nodes[0].version.as_deref(), Some("1.38.11"));

        // Schema round trip, with the server's own refusals.
        let class = "ElysiactlClientTest";
        let e = c.get_class(class).await.unwrap_err();
        assert!(is_no_such_collection(&e), "{e}");
        let e = c.count(class).await.unwrap_err();
        assert!(is_no_such_collection(&e), "{e}");
        let def = json!({"class": class, "vectorizer": "none",
            "properties": [{"name": "title", "dataType": ["text"]}]});
        let created = c.create_class(&def).await.unwrap();
        assert_eq!(created["replicationConfig"]["factor"], 1);
        assert!(c.class_names().await.unwrap().contains(&class.to_string()));
        let e = c.create_class(&def).await.unwrap_err();
        assert_eq!(e.category, Category::Validation);
        assert!(e.message.contains("already exists"), "{e}");
        assert!(e.hint.contains("delete it first"), "{e}");
        let mut too_many = def.clone();
        too_many["class"] = json!(format!("{class}X"));
        too_many["replicationConfig"] = json!({"factor": 3});
        let e = c.create_class(&too_many).await.unwrap_err();
        assert!(e.message.contains("1 available, 3 requested"), "{e}");
        assert!(e.hint.contains("lower replicationConfig.factor"), "{e}");
        assert_eq!(c.count(class).await.unwrap(), 0);
        let shards = c.shards(class).await.unwrap();
        assert_eq!(shards[0]["status"], "READY");
        let e = c.shards("NoSuchCollectionHere").await.unwrap_err();
        assert!(is_no_such_collection(&e), "{e}");
        let placed = c.nodes_for(class, true).await.unwrap();
        assert_eq!(placed["nodes"][0]["shards"][0]["class"], json!(class));
        // GET, edit, PUT.
        let mut full = c.get_class(class).await.unwrap();
        full["description"] = json!("edited by the client test");
        let updated = c.update_class(class, &full).await.unwrap();
        assert_eq!(updated["description"], "edited by the client test");
        let mut resharded = full.clone();
        resharded["shardingConfig"]["desiredCount"] = json!(4);
        let e = c.update_class(class, &resharded).await.unwrap_err();
        assert!(e.hint.contains("shard count is fixed"), "{e}");
        let v = c.sharding_state(class).await.unwrap();
        assert_eq!(v["shardingState"]["collection"], json!(class));
        c.delete_class(class).await.unwrap();
        assert!(!c.class_exists(class).await.unwrap());

        // A key the node does not expect is a 401 that never shows the key;
        // the probes need no auth and take no query string.
        let keyed =
            WeaviateClient::for_node(http.clone(), &specs[0], &Secret::new("unexpected-key-77"));
        let e = keyed.meta().await.unwrap_err();
        assert!(e.message.contains("(401)"), "{e}");
        assert!(!format!("{e} {e:?}").contains("unexpected-key-77"));
        assert!(keyed.ready().await.unwrap());
    });
}
