//! The host API's cluster module for real: called from Rust against a
//! one-node cluster (process runtime). Readiness, also as a configuration
//! expecting three nodes sees it; nodes, RAFT, meta; a collection created,
//! counted, changed and deleted; and a dry run planned on top of the real
//! schema that changes nothing.

mod common;

use common::{require_weaviate, Stack};
use elysiactl::base::config::Config;
use elysiactl::base::error::HostResult;
use elysiactl::clients::weaviate::is_no_such_collection;
use elysiactl::host::{find, Host};
use serde_json::{json, Value};

fn call(h: &Host, name: &str, args: Vec<Value>) -> HostResult<Value> {
    h.call(find(name).expect("registered"), args)
}

#[test]
fn cluster_functions_against_a_real_node() {
    if !require_weaviate() {
        return;
    }
    let s = Stack::new("process", 1, false, "");
    s.run(&["start", "--timeout", "120"]).ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = Config::default();
    cfg.weaviate.nodes = 1;
    cfg.weaviate.rest_port = s.rest_port;
    let h = Host::new(cfg.clone(), rt.handle().clone(), false);
    let r = call(&h, "cluster.wait_ready", vec![json!({"timeout": "60s"})]).unwrap();
    assert_eq!(r["ready"], true, "{r}");
    // Configured for three, running one: the other two are missing, not UNAVAILABLE.
    let mut three = cfg.clone();
    three.weaviate.nodes = 3;
    let h3 = Host::new(three, rt.handle().clone(), false);
    let r3 = call(&h3, "cluster.readiness", vec![]).unwrap();
    eprintln!("{}", r3["summary"]);
    assert_eq!(r3["ready"], false);
    assert_eq!(r3["missing"], json!(["weaviate-1", "weaviate-2"]));
    assert_eq!(r3["leader"], "weaviate-0");
    let e = call(&h3, "cluster.wait_ready", vec![json!({"timeout": 1})]).unwrap_err();
    assert!(
        e.message.contains("weaviate-2 is not a cluster member"),
        "{e}"
    );
    eprintln!("{e}");
    assert_eq!(
        call(&h, "cluster.ready", vec![json!("weaviate-0")]).unwrap(),
        json!(true)
    );
    assert_eq!(
        call(&h, "cluster.live", vec![]).unwrap(),
        json!({"weaviate-0": true})
    );
    assert_eq!(
        call(&h, "cluster.meta", vec![json!(0)]).unwrap()["version"],
        "1.38.11"
    );
    let n = call(
        &h,
        "cluster.nodes",
        vec![json!({"verbose": true, "node": 0})],
    )
    .unwrap();
    assert_eq!(n["nodes"][0]["name"], "weaviate-0");
    let raft = call(&h, "cluster.raft", vec![]).unwrap();
    assert_eq!(raft["statistics"][0]["leaderId"], "weaviate-0");

    let class = format!("ElysiactlScriptTest{}", std::process::id());
    let _ = call(&h, "cluster.delete_collection", vec![json!(class)]);
    let def = json!({"class": class, "vectorizer": "none",
        "properties": [{"name": "title", "dataType": ["text"]}]});
    let created = call(&h, "cluster.create_collection", vec![def.clone()]).unwrap();
    assert_eq!(created["class"], json!(class));
    let names = call(&h, "cluster.collections", vec![]).unwrap();
    assert!(names.as_array().unwrap().contains(&json!(class)));
    assert_eq!(
        call(&h, "cluster.count", vec![json!(class)]).unwrap(),
        json!(0)
    );
    let mut full = call(&h, "cluster.collection", vec![json!(class)]).unwrap();
    full["description"] = json!("edited");
    let upd = call(&h, "cluster.update_collection", vec![json!(class), full]).unwrap();
    assert_eq!(upd["description"], "edited");
    let shards = call(&h, "cluster.shards", vec![json!(class)]).unwrap();
    assert_eq!(shards.as_array().unwrap().len(), 1);

    // Dry run on top of the real schema: the delete and a create are simulated only.
    let d = Host::new(cfg, rt.handle().clone(), true);
    assert_eq!(
        call(&d, "cluster.delete_collection", vec![json!(class)]).unwrap(),
        json!(true)
    );
    let e = call(&d, "cluster.count", vec![json!(class)]).unwrap_err();
    assert!(is_no_such_collection(&e), "{e}");
    let other = format!("{class}New");
    call(
        &d,
        "cluster.create_collection",
        vec![json!({"class": other})],
    )
    .unwrap();
    let names = call(&d, "cluster.collections", vec![]).unwrap();
    let names = names.as_array().unwrap();
    assert!(
        !names.contains(&json!(class)) && names.contains(&json!(other)),
        "{names:?}"
    );
    assert_eq!(
        call(&d, "cluster.count", vec![json!(other)]).unwrap(),
        json!(0)
    );
    let e = call(
        &d,
        "cluster.update_collection",
        vec![json!("NeverThere"), json!({"replicationConfig": {}})],
    )
    .unwrap_err();
    assert!(is_no_such_collection(&e), "{e}");
    // Nothing really changed.
    assert_eq!(
        call(&h, "cluster.collection", vec![json!(class)]).unwrap()["class"],
        json!(class)
    );
    assert!(call(&h, "cluster.collection", vec![json!(other)]).is_err());

    assert_eq!(
        call(&h, "cluster.delete_collection", vec![json!(class)]).unwrap(),
        json!(true)
    );
    assert_eq!(
        call(&h, "cluster.delete_collection", vec![json!(class)]).unwrap(),
        json!(false)
    );
}
