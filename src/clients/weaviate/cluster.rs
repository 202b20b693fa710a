//! Several nodes as one: a call goes to one node after another until one
//! answers, so a stopped node does not fail what another node can serve.
//! Which errors move on differs for reads and writes: a write that timed
//! out may have happened, so it is not sent again elsewhere.

use super::{is_node_failure, is_unreachable, WeaviateClient};
use crate::base::config::NodeSpec;
use crate::base::context::Context;
use crate::base::error::{Category, HostError, HostResult};
use std::future::Future;

/// The nodes' clients, asked in this order.
#[derive(Clone, Debug)]
pub struct Cluster {
    nodes: Vec<WeaviateClient>,
}

impl Cluster {
    pub fn new(nodes: Vec<WeaviateClient>) -> Cluster {
        Cluster { nodes }
    }

    /// The configured nodes through the context's connection pool and API key.
    pub fn in_context(ctx: &Context, specs: &[NodeSpec]) -> Cluster {
        Cluster::new(
            specs
                .iter()
                .map(|s| WeaviateClient::in_context(ctx, s))
                .collect(),
        )
    }

    /// A read: the first answer of any node. Moves on when a node could not
    /// answer (`is_node_failure`); any other error is the cluster's answer.
    /// When no node answers, the error lists every node's failure.
    pub async fn any_node<T, F, Fut>(&self, f: F) -> HostResult<T>
    where
        F: Fn(WeaviateClient) -> Fut,
        Fut: Future<Output = HostResult<T>>,
    {
        self.first_answer(is_node_failure, f).await
    }

    /// A write: moves on only when a node was certainly not reached
    /// (`is_unreachable`), so a write that timed out is not sent twice.
    pub async fn any_node_write<T, F, Fut>(&self, f: F) -> HostResult<T>
    where
        F: Fn(WeaviateClient) -> Fut,
        Fut: Future<Output = HostResult<T>>,
    {
        self.first_answer(is_unreachable, f).await
    }

    /// The first node whose ready probe answers 200: for calls that must go
    /// to one node throughout (a scale plan and its operations).
    pub async fn first_ready(&self) -> HostResult<WeaviateClient> {
        for c in &self.nodes {
            if c.ready().await.unwrap_or(false) {
                return Ok(c.clone());
            }
        }
        Err(HostError::network("no Weaviate node is ready")
            .with_hint("start the cluster with `elysiactl start`"))
    }

    /// `next` says which errors mean "try the next node".
    async fn first_answer<T, F, Fut>(&self, next: fn(&HostError) -> bool, f: F) -> HostResult<T>
    where
        F: Fn(WeaviateClient) -> Fut,
        Fut: Future<Output = HostResult<T>>,
    {
        let mut failures = Vec::new();
        for c in &self.nodes {
            crate::base::cancel::check_interrupt()?;
            match f(c.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if next(&e) => failures.push(e),
                Err(e) => return Err(e),
            }
        }
        Err(all_failed(failures))
    }
}

/// One error out of every node's failure.
fn all_failed(failures: Vec<HostError>) -> HostError {
    if failures.is_empty() {
        return HostError::validation("no Weaviate nodes are configured")
            .with_hint("set weaviate.nodes to 1 or more in the config file");
    }
    if failures.len() == 1 {
        return failures.into_iter().next().expect("one failure");
    }
    let first = failures[0].category;
    let category = if failures.iter().all(|e| e.category == first) {
        first
    } else {
        Category::Network
    };
    let text = failures
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    HostError::new(category, format!("no Weaviate node answered: {text}")).with_hint(
        "start the cluster with `elysiactl start`, or see what is wrong with `elysiactl status`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::Secret;
    use std::sync::Mutex;

    /// Clients of nodes named n0, n1, …; the tests decide in `f` what each
    /// node answers, so no request leaves the process.
    fn cluster(n: usize) -> Cluster {
        Cluster::new(
            (0..n)
                .map(|i| {
                    WeaviateClient::new(
                        reqwest::Client::new(),
                        "http://127.0.0.1:1".into(),
                        &Secret::default(),
                    )
                    .with_node_name(&format!("n{i}"))
                })
                .collect(),
        )
    }

    use crate::base::testing::current_thread_runtime as rt;

    fn refused(node: &str) -> HostError {
        HostError::network(format!(
            "cannot connect to node {node} at http://x: refused"
        ))
    }

    fn timed_out(node: &str) -> HostError {
        HostError::timeout(format!("node {node} (http://x) did not answer GET /v1/x"))
    }

    /// Runs `f` on the cluster, recording which nodes were asked.
    fn ask<T>(
        n: usize,
        write: bool,
        answer: impl Fn(&str) -> HostResult<T>,
    ) -> (HostResult<T>, Vec<String>) {
        let asked = Mutex::new(Vec::new());
        let c = cluster(n);
        let f = |c: WeaviateClient| {
            let name = c.node_name().to_string();
            asked.lock().unwrap().push(name.clone());
            let r = answer(&name);
            async move { r }
        };
        let r = rt().block_on(async {
            if write {
                c.any_node_write(f).await
            } else {
                c.any_node(f).await
            }
        });
        (r, asked.into_inner().unwrap())
    }

    #[test]
    fn a_read_moves_past_nodes_that_cannot_answer() {
        let (r, asked) = ask(3, false, |n| match n {
            "n0" => Err(refused(n)),
            "n1" => Err(timed_out(n)),
            _ => Ok(n.to_string()),
        });
        assert_eq!(r.unwrap(), "n2");
        assert_eq!(asked, ["n0", "n1", "n2"]);
    }

    #[test]
    fn an_answer_about_the_cluster_is_not_asked_again() {
        // A missing collection or a refused key would read the same on every node.
        let (r, asked) = ask(3, false, |n| -> HostResult<()> {
            Err(HostError::validation(format!("node {n}: no such thing")))
        });
        assert_eq!(r.unwrap_err().category, Category::Validation);
        assert_eq!(asked, ["n0"]);
    }

    #[test]
    fn a_write_that_timed_out_is_not_sent_to_another_node() {
        let (r, asked) = ask(3, true, |n| -> HostResult<()> { Err(timed_out(n)) });
        assert_eq!(r.unwrap_err().category, Category::Timeout);
        assert_eq!(asked, ["n0"]);
        let (r, asked) = ask(3, true, |n| match n {
            "n0" => Err(refused(n)),
            _ => Ok(n.to_string()),
        });
        assert_eq!(r.unwrap(), "n1");
        assert_eq!(asked, ["n0", "n1"]);
    }

    #[test]
    fn when_no_node_answers_the_error_names_every_failure() {
        let (r, _) = ask(3, false, |n| -> HostResult<()> { Err(refused(n)) });
        let e = r.unwrap_err();
        assert_eq!(e.category, Category::Network);
        assert!(e.message.starts_with("no Weaviate node answered: "), "{e}");
        for n in ["n0", "n1", "n2"] {
            assert!(e.message.contains(n), "{e}");
        }
        assert!(e.hint.contains("elysiactl start"), "{e}");
        // Mixed causes are reported as a network problem; one node's error stays as it was.
        let (r, _) = ask(2, false, |n| -> HostResult<()> {
            Err(if n == "n0" { refused(n) } else { timed_out(n) })
        });
        assert_eq!(r.unwrap_err().category, Category::Network);
        let (r, _) = ask(1, false, |n| -> HostResult<()> { Err(timed_out(n)) });
        assert_eq!(r.unwrap_err().message, timed_out("n0").message);
        let (r, _) = ask(0, false, |_| -> HostResult<()> { Ok(()) });
        assert!(r.unwrap_err().message.contains("no Weaviate nodes"));
    }

    #[test]
    fn first_ready_says_when_no_node_is_ready() {
        // Port 1: nothing listens, so no node is ready.
        let e = rt().block_on(cluster(2).first_ready()).unwrap_err();
        assert_eq!(e.category, Category::Network);
        assert_eq!(e.message, "no Weaviate node is ready");
    }
}
