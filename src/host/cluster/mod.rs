//! The "cluster" module for scripts: the Weaviate cluster over its REST API,
//! node by node or as a whole.
//!
//! * A node argument is a configured node's name ("weaviate-1") or index (1).
//! * Calls that are not about one node ask the configured nodes in order and
//!   take the first answer; if none answers, the error lists every failure.
//! * Under `--dry-run`, collection writes are recorded in the plan and their
//!   effect is remembered ([`simulated`]): `schema()`, `collections()`,
//!   `collection()` and friends read the real cluster and then apply those
//!   simulated changes on top.
//!
//! This file holds what every call shares (which node, failing over between
//! nodes); the calls live by concern: [`nodes`], [`readiness`], [`schema`]
//! (with the collection writes) and [`shards`] (what a collection holds).

mod aliases;
mod nodes;
mod objects;
mod readiness;
mod schema;
mod shards;
pub mod simulated;

pub use schema::schema_now;
pub use simulated::{set_simulated, simulated};

use super::{Args, Host, HostFn};
use crate::base::config::NodeSpec;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::{Cluster, WeaviateClient};
use serde_json::Value;
use std::future::Future;

pub(crate) fn specs(host: &Host) -> Vec<NodeSpec> {
    host.config.weaviate.node_specs()
}

pub(crate) fn client(host: &Host, spec: &NodeSpec) -> WeaviateClient {
    WeaviateClient::in_context(host, spec)
}

fn node_list(specs: &[NodeSpec]) -> String {
    specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A node argument: a name ("weaviate-1") or an index (1 or "1").
pub fn resolve_node(specs: &[NodeSpec], v: &Value) -> HostResult<NodeSpec> {
    let found = match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .and_then(|i| specs.get(i as usize)),
        Value::String(s) => {
            let s = s.trim();
            specs
                .iter()
                .find(|n| n.name == s)
                .or_else(|| s.parse::<usize>().ok().and_then(|i| specs.get(i)))
        }
        _ => None,
    };
    found.cloned().ok_or_else(|| {
        let shown = match v {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        HostError::validation(format!(
            "unknown node {shown}; the configured nodes are {}",
            node_list(specs)
        ))
        .with_hint(format!(
            "give a node name such as \"{}\" or its index 0..{}",
            specs
                .first()
                .map(|s| s.name.as_str())
                .unwrap_or("weaviate-0"),
            specs.len().saturating_sub(1)
        ))
    })
}

fn node_arg(host: &Host, a: &Args, i: usize) -> HostResult<Option<NodeSpec>> {
    a.get(i).map(|v| resolve_node(&specs(host), v)).transpose()
}

fn node_opt(host: &Host, v: Option<&Value>) -> HostResult<Option<NodeSpec>> {
    v.map(|v| resolve_node(&specs(host), v)).transpose()
}

fn cluster(host: &Host) -> Cluster {
    Cluster::in_context(host, &specs(host))
}

/// A read: any node that answers (see `Cluster::any_node`).
pub(crate) fn any_node<T, F, Fut>(host: &Host, f: F) -> HostResult<T>
where
    F: Fn(WeaviateClient) -> Fut,
    Fut: Future<Output = HostResult<T>>,
{
    host.block_on(cluster(host).any_node(f))
}

/// A write: another node only when one was not reached (see `Cluster::any_node_write`).
pub(crate) fn any_node_write<T, F, Fut>(host: &Host, f: F) -> HostResult<T>
where
    F: Fn(WeaviateClient) -> Fut,
    Fut: Future<Output = HostResult<T>>,
{
    host.block_on(cluster(host).any_node_write(f))
}

/// A client of the first ready node (see `Cluster::first_ready`).
pub(crate) fn first_ready(host: &Host) -> HostResult<WeaviateClient> {
    host.block_on(cluster(host).first_ready())
}

/// A read from the given node, or from any node.
fn ask<T, F, Fut>(host: &Host, node: Option<NodeSpec>, f: F) -> HostResult<T>
where
    F: Fn(WeaviateClient) -> Fut,
    Fut: Future<Output = HostResult<T>>,
{
    match node {
        Some(spec) => {
            crate::base::cancel::check_interrupt()?;
            host.block_on(f(client(host, &spec)))
        }
        None => any_node(host, f),
    }
}

pub fn functions() -> Vec<HostFn> {
    let mut all = nodes::functions();
    all.extend(readiness::functions());
    all.extend(schema::functions());
    all.extend(shards::functions());
    all.extend(objects::functions());
    all.extend(aliases::functions());
    all
}

#[cfg(test)]
mod tests {
    use super::simulated::{overlay_schema, simulated_all};
    use super::*;
    use crate::base::config::Config;
    use crate::base::error::Category;
    use crate::clients::weaviate as wv;
    use serde_json::json;
    use std::sync::Arc;

    fn three() -> Vec<NodeSpec> {
        Config::default().weaviate.node_specs()
    }

    #[test]
    fn nodes_by_name_or_index() {
        let s = three();
        assert_eq!(resolve_node(&s, &json!("weaviate-1")).unwrap().index, 1);
        assert_eq!(resolve_node(&s, &json!(2)).unwrap().name, "weaviate-2");
        assert_eq!(resolve_node(&s, &json!(2.0)).unwrap().name, "weaviate-2");
        assert_eq!(resolve_node(&s, &json!("0")).unwrap().name, "weaviate-0");
        for bad in [
            json!("weaviate-3"),
            json!(3),
            json!(-1),
            json!(true),
            json!("x"),
        ] {
            let e = resolve_node(&s, &bad).unwrap_err();
            assert_eq!(e.category, Category::Validation);
            assert!(
                e.message.contains("weaviate-0, weaviate-1, weaviate-2"),
                "{}",
                e.message
            );
            assert!(e.hint.contains("0..2"), "{}", e.hint);
        }
    }

    /// `n` consecutive local ports nothing listens on.
    fn closed_ports(n: u16) -> u16 {
        loop {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = l.local_addr().unwrap().port();
            drop(l);
            if base < 60000
                && (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
            {
                return base;
            }
        }
    }

    fn host(dry_run: bool, rt: &tokio::runtime::Runtime) -> Arc<Host> {
        let mut cfg = Config::default();
        cfg.weaviate.rest_port = closed_ports(3);
        cfg.weaviate.api_key = crate::base::config::Secret::new("test-key-must-not-leak");
        Host::new(cfg, rt.handle().clone(), dry_run)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn call(h: &Host, name: &str, args: Vec<Value>) -> HostResult<Value> {
        h.call(super::super::find(name).unwrap(), args)
    }

    #[test]
    fn dry_run_writes_are_remembered_for_later_reads() {
        let rt = rt();
        let h = host(true, &rt);
        let def = json!({"class": "article", "vectorizer": "none"});
        let created = call(&h, "cluster.create_collection", vec![def]).unwrap();
        assert_eq!(created["class"], "Article");
        // The cluster is down, but the simulated collection reads back.
        let got = call(&h, "cluster.collection", vec![json!("Article")]).unwrap();
        assert_eq!(got["vectorizer"], "none");
        assert_eq!(
            call(&h, "cluster.count", vec![json!("Article")])
                .unwrap_err()
                .category,
            Category::Network,
            "a created collection unknown to a down cluster still needs the cluster"
        );
        let e = call(
            &h,
            "cluster.create_collection",
            vec![json!({"class": "Article"})],
        )
        .unwrap_err();
        assert!(e.message.contains("already exists"), "{e}");
        // Update without replicationConfig is refused; with it, it is simulated.
        let e = call(
            &h,
            "cluster.update_collection",
            vec![json!("Article"), json!({"vectorizer": "none"})],
        )
        .unwrap_err();
        assert!(e.message.contains("replicationConfig"), "{e}");
        call(
            &h,
            "cluster.update_collection",
            vec![
                json!("Article"),
                json!({"replicationConfig": {"factor": 2}}),
            ],
        )
        .unwrap();
        assert_eq!(
            call(&h, "cluster.collection", vec![json!("Article")]).unwrap()["replicationConfig"]
                ["factor"],
            2
        );
        assert_eq!(
            call(&h, "cluster.delete_collection", vec![json!("Article")]).unwrap(),
            json!(true)
        );
        let e = call(&h, "cluster.collection", vec![json!("Article")]).unwrap_err();
        assert!(wv::is_no_such_collection(&e), "{e}");
        let sims = simulated_all(&h);
        assert_eq!(sims, vec![("Article".to_string(), Value::Null)]);
        let v = overlay_schema(
            json!({"classes": [{"class": "Article"}, {"class": "Keep"}]}),
            &sims,
        );
        assert_eq!(wv::class_names_of(&v), vec!["Keep"]);
        assert_eq!(
            h.plan.steps().len(),
            5,
            "failed simulations are recorded too"
        );
    }

    #[test]
    fn no_node_answering_lists_every_failure_without_the_key() {
        let rt = rt();
        let h = host(false, &rt);
        let e = call(&h, "cluster.collections", vec![]).unwrap_err();
        assert_eq!(e.category, Category::Network, "{e}");
        for n in ["weaviate-0", "weaviate-1", "weaviate-2"] {
            assert!(e.message.contains(n), "{e}");
        }
        assert!(!format!("{e}").contains("test-key-must-not-leak"));
        assert_eq!(
            call(&h, "cluster.ready", vec![json!(1)]).unwrap(),
            json!(false)
        );
        let all = call(&h, "cluster.live", vec![]).unwrap();
        assert_eq!(
            all,
            json!({"weaviate-0": false, "weaviate-1": false, "weaviate-2": false})
        );
        let e = call(&h, "cluster.meta", vec![json!("weaviate-7")]).unwrap_err();
        assert_eq!(e.category, Category::Validation);
        let e = call(&h, "cluster.nodes", vec![json!({"verbos": true})]).unwrap_err();
        assert!(e.hint.contains("verbose"), "{e}");
    }

    #[test]
    fn wait_ready_times_out_naming_what_is_missing() {
        let rt = rt();
        let h = host(false, &rt);
        let e = call(
            &h,
            "cluster.wait_ready",
            vec![json!({"timeout": 0.3, "quiet": true})],
        )
        .unwrap_err();
        assert_eq!(e.category, Category::Timeout, "{e}");
        assert!(e.message.contains("weaviate-2 does not answer"), "{e}");
        assert!(e.hint.contains("ready_timeout"));
        assert!(!format!("{e}").contains("test-key-must-not-leak"));
        // A dry run looks once and reports instead of waiting.
        let h = host(true, &rt);
        let v = call(&h, "cluster.wait_ready", vec![]).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["simulated"], true);
    }
}
