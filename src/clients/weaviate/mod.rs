//! Client of one Weaviate node's REST API (v1.38.11): here the client
//! itself (transport, auth, request and reply); the endpoints by concern in
//! nodes.rs (probes, membership, RAFT), schema.rs, query.rs (GraphQL),
//! objects.rs and replication.rs; the typed answers in models.rs; what
//! statuses mean as errors in errors.rs; cluster.rs asks several nodes in
//! turn until one answers. grpc.rs is the batch import over gRPC.
//!
//! Facts this relies on (see `/work/shared/weaviate/OPS-API.md`):
//! * `/v1/.well-known/live|ready` answer 200 or 503 with an empty body, need no
//!   auth, and match the exact URL: they are called without a query string
//!   (with one, the server answers 501).
//! * Most model fields are `omitempty`: `false`, `0` and `""` are simply absent,
//!   so every typed field here decodes as optional with a default.
//! * Errors come as `{"error": [{"message": ...}]}`; go-openapi's own errors as
//!   `{"code": 400, "message": ...}`; GraphQL errors as `errors[]` with HTTP 200.
//! * A node that died drops out of `/v1/nodes` and `/v1/cluster/statistics`
//!   instead of being listed as UNAVAILABLE, so membership is always compared
//!   with the configured node list.
//!
//! The API key travels only in the `Authorization` header (marked sensitive);
//! every error text is scrubbed of it as well, in case a server echoes it.

use crate::base::config::{NodeSpec, Secret};
use crate::base::error::{Category, HostError, HostResult};
use errors::{scrub_secret, snippet, status_error};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

mod aliases;
pub mod backups;
mod cluster;
mod errors;
pub mod grpc;
mod models;
mod nodes;
mod objects;
mod query;
mod replication;
mod schema;

pub use cluster::Cluster;
pub use errors::{is_no_such_collection, is_node_failure, is_unreachable, no_such_collection};
pub use models::{
    ClusterStatistics, Consistency, NodeStatistics, NodeStats, NodeStatus, NodesStatus, RaftInfo,
    RaftServer, ShardInfo,
};
pub use nodes::PROBE_TIMEOUT;
pub use objects::BatchDeleted;
pub use schema::{class_name, class_names_of};

/// One Weaviate node's REST API.
#[derive(Clone)]
pub struct WeaviateClient {
    http: reqwest::Client,
    /// `http://host:port`, without `/v1` and without a trailing slash.
    base_url: String,
    /// How messages name the node: its name when known, else the base URL.
    node: String,
    auth: Result<Option<HeaderValue>, HostError>,
    /// Kept only to scrub it from error texts.
    key: Secret,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for WeaviateClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeaviateClient")
            .field("node", &self.node)
            .field("base_url", &self.base_url)
            .field("api_key", &self.key)
            .finish()
    }
}

/// A raw reply: status, body and how long the round trip took.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    elapsed: Duration,
}

impl WeaviateClient {
    /// A client for the node at `base_url` (`http://127.0.0.1:8080`; a trailing
    /// `/` or `/v1` is accepted). Sends `Authorization: Bearer <key>` when the
    /// key is set.
    pub fn new(http: reqwest::Client, base_url: String, api_key: &Secret) -> WeaviateClient {
        let base_url = normalize_base(&base_url);
        let auth = if api_key.is_set() {
            match HeaderValue::from_str(&format!("Bearer {}", api_key.expose().trim())) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    Ok(Some(v))
                }
                Err(_) => Err(HostError::validation(
                    "the Weaviate API key contains characters that cannot be sent in an HTTP header",
                )
                .with_hint(
                    "check WEAVIATE_API_KEY or weaviate.api_key for stray quotes, newlines or non-ASCII characters",
                )),
            }
        } else {
            Ok(None)
        };
        WeaviateClient {
            http,
            node: base_url.clone(),
            base_url,
            auth,
            key: api_key.clone(),
            timeout: None,
        }
    }

    /// A client for a configured node; messages name the node.
    pub fn for_node(http: reqwest::Client, spec: &NodeSpec, api_key: &Secret) -> WeaviateClient {
        WeaviateClient::new(http, spec.rest_url(), api_key).with_node_name(&spec.name)
    }

    /// A client for a configured node through the context's connection pool
    /// and API key.
    pub fn in_context(ctx: &crate::base::context::Context, spec: &NodeSpec) -> WeaviateClient {
        WeaviateClient::for_node(ctx.http.clone(), spec, &ctx.config.weaviate.api_key)
    }

    /// Name the node in messages ("node weaviate-1 …") instead of by its URL.
    pub fn with_node_name(mut self, name: &str) -> WeaviateClient {
        self.node = name.to_string();
        self
    }

    /// Per-request time limit (overrides the `reqwest::Client`'s own).
    pub fn with_timeout(mut self, timeout: Duration) -> WeaviateClient {
        self.timeout = Some(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn node_name(&self) -> &str {
        &self.node
    }

    // ---- transport -------------------------------------------------------

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> HostResult<Reply> {
        let auth = self.auth.clone()?;
        let url = format!("{}{}", self.base_url, path);
        let mut req = self.http.request(method.clone(), &url);
        // Never call `.query()` with nothing: the probes must keep an exact URL.
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(h) = auth {
            req = req.header(AUTHORIZATION, h);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let limit = timeout.or(self.timeout);
        if let Some(t) = limit {
            req = req.timeout(t);
        }
        let started = Instant::now();
        let transport = |e: reqwest::Error| self.transport_error(&method, path, &e, limit);
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?.to_vec();
        Ok(Reply {
            status,
            body,
            elapsed: started.elapsed(),
        })
    }

    fn transport_error(
        &self,
        method: &Method,
        path: &str,
        err: &reqwest::Error,
        limit: Option<Duration>,
    ) -> HostError {
        let cause = self.scrub(&root_cause(err));
        let hint = format!("is node {} running? try `elysiactl status`", self.node);
        let e = if err.is_timeout() {
            let within = match limit {
                Some(t) => format!(" within {}", crate::base::units::format_duration(t)),
                None => String::new(),
            };
            HostError::timeout(format!(
                "node {} ({}) did not answer {method} {path}{within}",
                self.node, self.base_url
            ))
        } else if err.is_connect() {
            HostError::network(format!(
                "cannot connect to node {} at {}: {cause}",
                self.node, self.base_url
            ))
        } else {
            HostError::network(format!(
                "{method} {path} to node {} ({}) failed: {cause}",
                self.node, self.base_url
            ))
        };
        e.with_hint(hint)
    }

    fn scrub(&self, text: &str) -> String {
        scrub_secret(text, &self.key)
    }

    /// A successful reply as JSON (an empty body is `null`), or the error the
    /// status code means.
    fn json_of(&self, method: &Method, path: &str, reply: Reply) -> HostResult<Value> {
        if !reply.status.is_success() {
            return Err(self.status_error(method, path, &reply));
        }
        self.parse_json(method, path, &reply.body)
    }

    fn parse_json(&self, method: &Method, path: &str, body: &[u8]) -> HostResult<Value> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(body).map_err(|e| {
            HostError::new(
                Category::Encoding,
                format!(
                    "node {} answered {method} {path} with something that is not JSON ({e}): {}",
                    self.node,
                    self.scrub(&snippet(body))
                ),
            )
            .with_hint(format!(
                "is something other than Weaviate listening at {}? check weaviate.rest_port and `elysiactl status`",
                self.base_url
            ))
        })
    }

    /// `DELETE path`: true when it existed (deleted), false on 404.
    async fn delete_existing(&self, path: &str) -> HostResult<bool> {
        let reply = self.send(Method::DELETE, path, &[], None, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if reply.status.is_success() {
            return Ok(true);
        }
        Err(self.status_error(&Method::DELETE, path, &reply))
    }

    fn status_error(&self, method: &Method, path: &str, reply: &Reply) -> HostError {
        status_error(
            &self.node,
            method.as_str(),
            path,
            reply.status.as_u16(),
            &reply.body,
            &self.key,
        )
    }

    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> HostResult<Value> {
        let reply = self.send(Method::GET, path, query, None, None).await?;
        self.json_of(&Method::GET, path, reply)
    }

    fn decode<T: for<'de> Deserialize<'de>>(&self, v: &Value, path: &str) -> HostResult<T> {
        T::deserialize(v).map_err(|e| {
            HostError::new(
                Category::Encoding,
                format!(
                    "node {} answered GET {path} with an unexpected shape ({e}): {}",
                    self.node,
                    self.scrub(&snippet(v.to_string().as_bytes()))
                ),
            )
            .with_hint(
                "check that the node runs the Weaviate version elysiactl expects (cluster.meta())",
            )
        })
    }
}

fn normalize_base(url: &str) -> String {
    let mut s = url.trim().trim_end_matches('/').to_string();
    if let Some(stripped) = s.strip_suffix("/v1") {
        s = stripped.trim_end_matches('/').to_string();
    }
    s
}

/// The deepest cause of an error chain ("Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// An ID or operation ID as one URL path segment: no separators or escapes.
fn path_segment(id: &str) -> HostResult<&str> {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(id)
    } else {
        Err(HostError::validation(format!("{id:?} is not a valid ID"))
            .with_hint("IDs are UUIDs such as 6f1c2d0e-6b1a-4c55-9d2e-2b7e0c1f9a10"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    const KEY: &str = "sekret-key-123";

    #[test]
    fn base_urls_are_normalized() {
        assert_eq!(normalize_base("http://h:1/v1/"), "http://h:1");
        assert_eq!(normalize_base("http://h:1/"), "http://h:1");
    }

    use crate::base::testing::current_thread_runtime as rt;

    /// A one-shot local TCP server that answers every connection with `reply`
    /// (or never answers when `reply` is None).
    fn serve(reply: Option<&'static str>) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                match reply {
                    Some(r) => {
                        let _ = s.write_all(r.as_bytes());
                    }
                    None => {
                        std::thread::sleep(Duration::from_secs(5));
                    }
                }
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn refused_connection_is_a_network_error_naming_the_node() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = WeaviateClient::new(
            reqwest::Client::new(),
            format!("http://127.0.0.1:{port}"),
            &Secret::new(KEY),
        )
        .with_node_name("weaviate-2");
        let e = rt().block_on(c.schema()).unwrap_err();
        assert_eq!(e.category, Category::Network, "{e}");
        assert!(e.message.contains("weaviate-2"), "{e}");
        assert!(e
            .hint
            .contains("is node weaviate-2 running? try `elysiactl status`"));
        assert!(!format!("{e}").contains(KEY));
        assert!(is_node_failure(&e));
    }

    #[test]
    fn a_hang_past_the_timeout_is_a_timeout_error() {
        let url = serve(None);
        let c = WeaviateClient::new(reqwest::Client::new(), url, &Secret::new(KEY))
            .with_node_name("weaviate-0")
            .with_timeout(Duration::from_millis(300));
        let e = rt().block_on(c.meta()).unwrap_err();
        assert_eq!(e.category, Category::Timeout, "{e}");
        assert!(e.hint.contains("elysiactl status"));
        assert!(!format!("{e}").contains(KEY));
    }

    #[test]
    fn a_non_json_reply_is_an_encoding_error_quoting_it() {
        let url = serve(Some(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 21\r\nConnection: close\r\n\r\n<html>not json</html>",
        ));
        let c = WeaviateClient::new(reqwest::Client::new(), url, &Secret::default());
        let e = rt().block_on(c.nodes(false)).unwrap_err();
        assert_eq!(e.category, Category::Encoding, "{e}");
        assert!(e.message.contains("<html>not json</html>"), "{e}");
    }

    #[test]
    fn a_bad_key_is_refused_without_being_printed() {
        let c = WeaviateClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:1".into(),
            &Secret::new("bad\nkey-xyz"),
        );
        let e = rt().block_on(c.meta()).unwrap_err();
        assert_eq!(e.category, Category::Validation);
        assert!(!format!("{e}").contains("key-xyz"));
        assert!(!format!("{c:?}").contains("key-xyz"));
    }
}
