//! Client of one Weaviate node's REST API (v1.38.11).
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
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub mod grpc;
mod ops;

/// Time limit of the live/ready probes.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many characters of an unexpected body an error message quotes.
const SNIPPET: usize = 200;
/// Weaviate's GraphQL endpoint (queries and aggregates).
const GRAPHQL: &str = "/v1/graphql";

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

    // ---- probes ----------------------------------------------------------

    async fn probe(&self, path: &str) -> HostResult<(bool, Duration)> {
        let timeout = Some(self.timeout.unwrap_or(PROBE_TIMEOUT));
        let reply = self.send(Method::GET, path, &[], None, timeout).await?;
        Ok((reply.status == StatusCode::OK, reply.elapsed))
    }

    /// `GET /v1/.well-known/live`: true once the HTTP listener is up.
    /// Err only when the node cannot be reached.
    pub async fn live(&self) -> HostResult<bool> {
        Ok(self.probe("/v1/.well-known/live").await?.0)
    }

    /// `GET /v1/.well-known/ready`: true when the node serves requests (RAFT
    /// open with a leader, DB loaded, not in maintenance); false on 503.
    /// Err only when the node cannot be reached.
    pub async fn ready(&self) -> HostResult<bool> {
        Ok(self.ready_with_latency().await?.0)
    }

    /// Like `ready`, with the round-trip time of the probe.
    pub async fn ready_with_latency(&self) -> HostResult<(bool, Duration)> {
        self.probe("/v1/.well-known/ready").await
    }

    /// Like `live`, with the round-trip time of the probe.
    pub async fn live_with_latency(&self) -> HostResult<(bool, Duration)> {
        self.probe("/v1/.well-known/live").await
    }

    // ---- node and cluster state -------------------------------------------

    /// `GET /v1/meta`: hostname, version, modules.
    pub async fn meta(&self) -> HostResult<Value> {
        self.get_json("/v1/meta", &[]).await
    }

    /// The server version from `/v1/meta` (correct even without build ldflags).
    pub async fn version(&self) -> HostResult<Option<String>> {
        let meta = self.meta().await?;
        Ok(meta
            .get("version")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    /// `GET /v1/nodes?output=minimal|verbose`: the current memberlist members
    /// (a dead node is absent, not UNAVAILABLE). `shards`/`stats` only when verbose.
    pub async fn nodes(&self, verbose: bool) -> HostResult<Value> {
        self.get_json("/v1/nodes", &[("output", output(verbose))])
            .await
    }

    /// `nodes` decoded into typed fields.
    pub async fn nodes_status(&self, verbose: bool) -> HostResult<NodesStatus> {
        let v = self.nodes(verbose).await?;
        self.decode(&v, "/v1/nodes")
    }

    /// `GET /v1/nodes/{class}`: like `nodes`, limited to one collection's shards.
    pub async fn nodes_for(&self, class: &str, verbose: bool) -> HostResult<Value> {
        let class = class_name(class)?;
        let path = format!("/v1/nodes/{class}");
        let reply = self
            .send(
                Method::GET,
                &path,
                &[("output", output(verbose))],
                None,
                None,
            )
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, &path, reply)
    }

    /// `GET /v1/cluster/statistics`: RAFT state of every member, as returned.
    pub async fn cluster_statistics(&self) -> HostResult<Value> {
        self.get_json("/v1/cluster/statistics", &[]).await
    }

    /// `cluster_statistics` decoded into typed fields.
    pub async fn raft_statistics(&self) -> HostResult<ClusterStatistics> {
        let v = self.cluster_statistics().await?;
        self.decode(&v, "/v1/cluster/statistics")
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

    // ---- schema ------------------------------------------------------------

    /// `GET /v1/schema`: `{"classes": [...]}`.
    pub async fn schema(&self) -> HostResult<Value> {
        self.get_json("/v1/schema", &[]).await
    }

    /// The collection names in the schema, sorted (the server's order changes between calls).
    pub async fn class_names(&self) -> HostResult<Vec<String>> {
        Ok(class_names_of(&self.schema().await?))
    }

    /// `GET /v1/schema/{name}` (read through the leader). A missing collection
    /// is a validation error naming it.
    pub async fn get_class(&self, name: &str) -> HostResult<Value> {
        let class = class_name(name)?;
        let path = format!("/v1/schema/{class}");
        let reply = self.send(Method::GET, &path, &[], None, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, &path, reply)
    }

    /// Whether a collection exists.
    pub async fn class_exists(&self, name: &str) -> HostResult<bool> {
        match self.get_class(name).await {
            Ok(_) => Ok(true),
            Err(e) if is_no_such_collection(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/schema`: create a collection; returns the stored definition
    /// with the server's defaults filled in.
    pub async fn create_class(&self, def: &Value) -> HostResult<Value> {
        let reply = self
            .send(Method::POST, "/v1/schema", &[], Some(def), None)
            .await?;
        self.json_of(&Method::POST, "/v1/schema", reply)
    }

    /// `PUT /v1/schema/{name}`: **replaces** the definition. Send the full
    /// definition: GET it (`get_class`), edit, PUT. Fields left out get their
    /// defaults again, so a body without `replicationConfig` silently resets
    /// the replication factor to REPLICATION_MINIMUM_FACTOR. Properties must be
    /// the same list, unchanged; the name, shard count and multi-tenancy on/off
    /// cannot change; raising the factor needs every shard to already have that
    /// many replicas (422 otherwise).
    pub async fn update_class(&self, name: &str, def: &Value) -> HostResult<Value> {
        let class = class_name(name)?;
        let path = format!("/v1/schema/{class}");
        let reply = self.send(Method::PUT, &path, &[], Some(def), None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::PUT, &path, reply)
    }

    /// `DELETE /v1/schema/{name}`: drops the collection **and its data**. The
    /// server answers 200 even when it did not exist.
    pub async fn delete_class(&self, name: &str) -> HostResult<()> {
        let class = class_name(name)?;
        let path = format!("/v1/schema/{class}");
        let reply = self.send(Method::DELETE, &path, &[], None, None).await?;
        self.json_of(&Method::DELETE, &path, reply).map(|_| ())
    }

    /// `GET /v1/schema/{name}/shards`: `[{"name", "status", "vectorQueueSize"}]`.
    pub async fn shards(&self, class: &str) -> HostResult<Value> {
        let class = class_name(class)?;
        let path = format!("/v1/schema/{class}/shards");
        let reply = self.send(Method::GET, &path, &[], None, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, &path, reply)
    }

    /// `GET /v1/replication/sharding-state?collection=C`: which nodes hold each
    /// shard. Needs REPLICA_MOVEMENT_ENABLED=true on the server (501 otherwise).
    pub async fn sharding_state(&self, class: &str) -> HostResult<Value> {
        let class = class_name(class)?;
        let path = "/v1/replication/sharding-state";
        let reply = self
            .send(Method::GET, path, &[("collection", &class)], None, None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, path, reply)
    }

    /// Exact object count via GraphQL `Aggregate { C { meta { count } } }`.
    pub async fn count(&self, class: &str) -> HostResult<u64> {
        self.count_tenant(class, None).await
    }

    /// `count` for one tenant of a multi-tenant collection.
    pub async fn count_tenant(&self, class: &str, tenant: Option<&str>) -> HostResult<u64> {
        let class = class_name(class)?;
        let args = match tenant {
            None => String::new(),
            Some(t) => {
                if t.is_empty()
                    || t.len() > 64
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(
                        HostError::validation(format!("tenant name {t:?} is not valid"))
                            .with_hint("tenant names are 1-64 letters, digits, - or _"),
                    );
                }
                format!("(tenant: \"{t}\")")
            }
        };
        let query = format!("{{ Aggregate {{ {class}{args} {{ meta {{ count }} }} }} }}");
        let reply = self.post_graphql(&query).await?;
        // Without any collection the GraphQL schema is empty and the server says so with 422.
        if reply.status == StatusCode::UNPROCESSABLE_ENTITY
            && String::from_utf8_lossy(&reply.body).contains("no graphql provider")
        {
            return Err(no_such_collection(&class));
        }
        let v = self.json_of(&Method::POST, GRAPHQL, reply)?;
        parse_count(&self.node, &class, &v, &self.key)
    }

    async fn post_graphql(&self, query: &str) -> HostResult<Reply> {
        self.send(
            Method::POST,
            GRAPHQL,
            &[],
            Some(&json!({ "query": query })),
            None,
        )
        .await
    }

    /// A GraphQL query's `data`; errors in a 200 reply are errors here too.
    pub async fn graphql(&self, query: &str) -> HostResult<Value> {
        let reply = self.post_graphql(query).await?;
        let v = self.json_of(&Method::POST, GRAPHQL, reply)?;
        if let Some(text) = graphql_errors(&v, &self.key) {
            return Err(HostError::weaviate(format!(
                "node {} refused the query: {text}",
                self.node
            ))
            .with_hint(
                "check the collection's name and properties with cluster.collection(name)",
            ));
        }
        Ok(v["data"].clone())
    }
}

fn output(verbose: bool) -> &'static str {
    if verbose {
        "verbose"
    } else {
        "minimal"
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

/// The first 200 characters of a body, as text.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t = text.trim();
    let mut out: String = t.chars().take(SNIPPET).collect();
    if t.chars().count() > SNIPPET {
        out.push('…');
    }
    out
}

/// Replace the key in a text, in case something echoes it.
pub fn scrub_secret(text: &str, key: &Secret) -> String {
    let k = key.expose().trim();
    if k.is_empty() {
        text.to_string()
    } else {
        text.replace(k, "***")
    }
}

/// The message(s) of an error body: `error[].message`, `errors[].message`
/// (GraphQL), `message` (go-openapi), else the body's first 200 characters.
pub fn error_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let msgs = messages(&v);
        if !msgs.is_empty() {
            return msgs.join("; ");
        }
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return m.to_string();
        }
    }
    snippet(body)
}

fn messages(v: &Value) -> Vec<String> {
    ["error", "errors"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| e.as_str().map(str::to_string))
        })
        .collect()
}

/// A hint for Weaviate's known 422 refusals.
fn hint_for_refusal(msg: &str) -> String {
    let m = msg.to_ascii_lowercase();
    if m.contains("already exists") {
        "the collection exists already: use it, pick another name, or delete it first (cluster.delete_collection)".into()
    } else if m.contains("not enough replicas") {
        "raise the factor only after every shard has that many replicas: scale the collection first (GET then POST /v1/replication/scale), then update replicationConfig.factor".into()
    } else if m.contains("enough weaviate nodes for replication") {
        "lower replicationConfig.factor to at most the number of running nodes, or start the missing nodes (`elysiactl status`)".into()
    } else if m.contains("re-sharding") || m.contains("shard count is immutable") {
        "the shard count is fixed when a collection is created: create a new collection and copy the data".into()
    } else if m.contains("immutable") {
        "that field cannot change on an existing collection: create a new collection with the new value and copy the data".into()
    } else if m.contains("propert") {
        "an update must carry the same properties, unchanged: start from cluster.collection(name) and change only the mutable fields".into()
    } else {
        "Weaviate refused the request as invalid: change what the message names and try again"
            .into()
    }
}

/// The error an HTTP status means. `node` names the node in the message;
/// `key` is scrubbed from everything taken from the body.
pub fn status_error(
    node: &str,
    method: &str,
    path: &str,
    status: u16,
    body: &[u8],
    key: &Secret,
) -> HostError {
    let text = scrub_secret(&error_text(body), key);
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    let logs =
        "check the node's log with `elysiactl weaviate logs` and its state with `elysiactl status`";
    match status {
        401 => {
            let msg = if key.is_set() {
                format!("node {node} rejected the API key (401){detail}")
            } else {
                format!("node {node} requires an API key (401) and none is configured{detail}")
            };
            let hint = if text.contains("no authentication scheme is configured") {
                "the node runs without API-key authentication: unset WEAVIATE_API_KEY and weaviate.api_key, or restart the nodes with the key configured"
            } else {
                "set the right key in WEAVIATE_API_KEY or weaviate.api_key"
            };
            HostError::weaviate(msg).with_hint(hint)
        }
        403 => HostError::weaviate(format!(
            "node {node} does not allow this API key's user to {method} {path} (403){detail}"
        ))
        .with_hint(
            "use a key whose user has this permission (AUTHORIZATION_ADMINLIST_USERS or an RBAC role), set in WEAVIATE_API_KEY or weaviate.api_key",
        ),
        404 => HostError::validation(format!(
            "node {node}: {method} {path} found nothing (404){detail}"
        ))
        .with_hint("check the name; cluster.collections() lists the collections"),
        410 => HostError::weaviate(format!(
            "node {node} has {path} switched off (410){detail}"
        ))
        .with_hint("GraphQL is disabled (DISABLE_GRAPHQL=true): remove it from weaviate.env and restart the nodes"),
        429 => HostError::new(
            Category::RateLimit,
            format!("node {node} is limiting requests (429){detail}"),
        )
        .with_hint("wait a moment and retry with fewer concurrent requests or smaller batches"),
        400 | 413 | 415 | 422 => HostError::validation(format!(
            "node {node} refused {method} {path} ({status}){detail}"
        ))
        .with_hint(if status == 415 {
            "elysiactl sent a body Weaviate cannot read: this is a bug, please report it".to_string()
        } else {
            hint_for_refusal(&text)
        }),
        501 => HostError::weaviate(format!(
            "node {node} does not offer {method} {path} (501){detail}"
        ))
        .with_hint(if path.starts_with("/v1/replication") {
            "the replication API is off: set REPLICA_MOVEMENT_ENABLED=true in weaviate.env and restart the nodes"
        } else {
            "this Weaviate version or configuration lacks the endpoint; compare the version in cluster.meta()"
        }),
        503 => HostError::weaviate(format!(
            "node {node} is not ready to serve {method} {path} (503){detail}"
        ))
        .with_hint("it may still be starting or may have lost RAFT quorum; try `elysiactl status`"),
        500..=599 => HostError::weaviate(format!(
            "node {node} failed {method} {path} ({status}){detail}"
        ))
        .with_hint(logs),
        _ => HostError::weaviate(format!(
            "node {node} answered {method} {path} with HTTP {status}{detail}"
        ))
        .with_hint(logs),
    }
}

/// Whether an error says "this node could not answer" (so another node may),
/// rather than an answer about the cluster (bad key, missing collection,
/// refused request), which another node would repeat.
pub fn is_node_failure(e: &HostError) -> bool {
    match e.category {
        Category::Network | Category::Timeout | Category::Encoding => true,
        Category::Weaviate => !(e.message.contains("(401)") || e.message.contains("(403)")),
        _ => false,
    }
}

/// Whether the node could not be reached at all (connection refused, or not
/// ready): a write was certainly not applied, so another node may be asked.
/// A timeout is not included: the write may have happened.
pub fn is_unreachable(e: &HostError) -> bool {
    (e.category == Category::Network && e.message.starts_with("cannot connect to node"))
        || (e.category == Category::Weaviate && e.message.contains("(503)"))
}

const MAX_CLASS_NAME: usize = 255;

/// A collection name as Weaviate stores it (first letter upper-case), after
/// checking it is a valid name (which also keeps it safe in URLs and GraphQL).
pub fn class_name(name: &str) -> HostResult<String> {
    // A name can be any length: the message shows its start only.
    let shown = match name.char_indices().nth(40) {
        Some((end, _)) => format!("{:?}…", &name[..end]),
        None => format!("{name:?}"),
    };
    let well_formed = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(
            HostError::validation(format!("{shown} is not a valid collection name")).with_hint(
                "collection names start with a letter and contain only letters, digits and _",
            ),
        );
    }
    // Weaviate's own rule (entities/schema/validation.go): at most 255 characters.
    if name.len() > MAX_CLASS_NAME {
        return Err(HostError::validation(format!(
            "the collection name {shown} has {} characters",
            name.len()
        ))
        .with_hint(format!(
            "Weaviate allows at most {MAX_CLASS_NAME} characters in a collection name; choose a shorter one"
        )));
    }
    let mut c = name.chars();
    let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or_default();
    Ok(std::iter::once(first).chain(c).collect())
}

/// The error for a collection that does not exist.
pub fn no_such_collection(class: &str) -> HostError {
    HostError::validation(format!("collection {class} does not exist")).with_hint(
        "list the collections with cluster.collections() (names are case-sensitive after the first letter)",
    )
}

pub fn is_no_such_collection(e: &HostError) -> bool {
    e.category == Category::Validation
        && e.message.starts_with("collection ")
        && e.message.ends_with(" does not exist")
}

/// Collection names of a `/v1/schema` answer, sorted.
pub fn class_names_of(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema
        .get("classes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("class").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The errors of a GraphQL answer (they arrive with HTTP 200), joined and
/// scrubbed of the key; None when there are none.
fn graphql_errors(v: &Value, key: &Secret) -> Option<String> {
    let errs = v
        .get("errors")
        .and_then(Value::as_array)
        .map(|a| messages(&json!({ "errors": a })))
        .unwrap_or_default();
    (!errs.is_empty()).then(|| scrub_secret(&errs.join("; "), key))
}

/// The count out of a GraphQL Aggregate answer.
pub fn parse_count(node: &str, class: &str, v: &Value, key: &Secret) -> HostResult<u64> {
    if let Some(text) = graphql_errors(v, key) {
        if text.contains("Cannot query field") {
            return Err(no_such_collection(class));
        }
        return Err(
            HostError::weaviate(format!("node {node} could not count {class}: {text}"))
                .with_hint("check the collection with cluster.collection(name) and the node's log"),
        );
    }
    let entries = v
        .pointer(&format!("/data/Aggregate/{class}"))
        .ok_or_else(|| {
            HostError::new(
                Category::Encoding,
                format!(
                    "node {node} answered the count of {class} without data.Aggregate.{class}: {}",
                    scrub_secret(&snippet(v.to_string().as_bytes()), key)
                ),
            )
            .with_hint("check the node's version with cluster.meta()")
        })?;
    Ok(entries
        .as_array()
        .and_then(|a| a.first())
        .and_then(|e| e.pointer("/meta/count"))
        .and_then(Value::as_u64)
        .unwrap_or(0))
}

// ---- typed answers ------------------------------------------------------------

/// `null` or absent → default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string, however it arrives (the spec types `leaderId` as an object; raft
/// values are strings but tolerate numbers).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterStatistics {
    #[serde(deserialize_with = "nullable")]
    pub synchronized: bool,
    #[serde(deserialize_with = "nullable")]
    pub statistics: Vec<NodeStatistics>,
}

/// One member's RAFT view. Unreachable peers carry only `name` and `status`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatistics {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub status: String,
    #[serde(deserialize_with = "nullable")]
    pub ready: bool,
    #[serde(deserialize_with = "nullable")]
    pub open: bool,
    #[serde(deserialize_with = "nullable")]
    pub bootstrapped: bool,
    #[serde(deserialize_with = "nullable")]
    pub db_loaded: bool,
    /// Omitted means false.
    #[serde(deserialize_with = "nullable")]
    pub is_voter: bool,
    #[serde(deserialize_with = "lenient_string")]
    pub leader_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub leader_address: String,
    #[serde(deserialize_with = "nullable")]
    pub raft: RaftInfo,
}

/// hashicorp/raft `Stats()`: all values are strings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RaftInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub state: String,
    #[serde(deserialize_with = "lenient_string")]
    pub term: String,
    #[serde(deserialize_with = "lenient_string")]
    pub applied_index: String,
    #[serde(deserialize_with = "lenient_string")]
    pub commit_index: String,
    #[serde(deserialize_with = "lenient_string")]
    pub last_contact: String,
    #[serde(deserialize_with = "lenient_string")]
    pub num_peers: String,
    #[serde(deserialize_with = "nullable")]
    pub latest_configuration: Vec<RaftServer>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RaftServer {
    #[serde(deserialize_with = "lenient_string")]
    pub id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub address: String,
    /// 0 Voter, 1 Nonvoter, 2 Staging.
    #[serde(deserialize_with = "nullable")]
    pub suffrage: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NodesStatus {
    #[serde(deserialize_with = "nullable")]
    pub nodes: Vec<NodeStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    /// HEALTHY, UNHEALTHY, UNAVAILABLE or TIMEOUT.
    #[serde(deserialize_with = "lenient_string")]
    pub status: String,
    #[serde(deserialize_with = "lenient_string")]
    pub version: String,
    #[serde(deserialize_with = "lenient_string")]
    pub git_hash: String,
    #[serde(deserialize_with = "lenient_string")]
    pub operational_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub stats: NodeStats,
    /// Only with `output=verbose`.
    #[serde(deserialize_with = "nullable")]
    pub shards: Vec<ShardInfo>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStats {
    #[serde(deserialize_with = "nullable")]
    pub object_count: i64,
    #[serde(deserialize_with = "nullable")]
    pub shard_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ShardInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub class: String,
    /// Cheap, eventually-consistent count of this replica.
    #[serde(deserialize_with = "nullable")]
    pub object_count: i64,
    #[serde(deserialize_with = "lenient_string")]
    pub vector_indexing_status: String,
    #[serde(deserialize_with = "nullable")]
    pub vector_queue_length: i64,
    #[serde(deserialize_with = "nullable")]
    pub compressed: bool,
    #[serde(deserialize_with = "nullable")]
    pub loaded: bool,
    #[serde(deserialize_with = "nullable")]
    pub replication_factor: i64,
    #[serde(deserialize_with = "nullable")]
    pub number_of_replicas: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn odd_types_and_nulls_decode_with_defaults() {
        let s = ClusterStatistics::deserialize(
            &json!({"statistics": [{"name": "weaviate-0", "leaderId": {"x": 1}, "raft": null,
            "isVoter": null}], "synchronized": null}),
        )
        .unwrap();
        assert!(!s.synchronized);
        assert_eq!(s.statistics[0].raft.state, "");
        assert!(!s.statistics[0].is_voter);
        let n =
            NodesStatus::deserialize(&json!({"nodes": [{"name": "weaviate-0", "shards": null}]}))
                .unwrap();
        assert!(n.nodes[0].shards.is_empty());
        assert_eq!(n.nodes[0].stats.object_count, 0);
    }

    const KEY: &str = "sekret-key-123";

    #[test]
    fn status_codes_map_to_categories_without_the_key() {
        let key = Secret::new(KEY);
        let body_with_key = format!(r#"{{"error":[{{"message":"bad token {KEY}"}}]}}"#);
        let cases: &[(u16, &str, Category)] = &[
            (
                400,
                r#"{"code":400,"message":"parsing body failed"}"#,
                Category::Validation,
            ),
            (401, &body_with_key, Category::Weaviate),
            (403, &body_with_key, Category::Weaviate),
            (404, "", Category::Validation),
            (
                422,
                r#"{"error":[{"message":"class name Article already exists"}]}"#,
                Category::Validation,
            ),
            (
                429,
                r#"{"errorCode":"USAGE_LIMIT_EXCEEDED","message":"slow down"}"#,
                Category::RateLimit,
            ),
            (500, &body_with_key, Category::Weaviate),
            (501, "", Category::Weaviate),
            (503, "", Category::Weaviate),
            (418, "<html>teapot</html>", Category::Weaviate),
        ];
        for (status, body, cat) in cases {
            let e = status_error(
                "weaviate-1",
                "GET",
                "/v1/schema",
                *status,
                body.as_bytes(),
                &key,
            );
            assert_eq!(e.category, *cat, "{status}: {e}");
            assert!(!e.hint.is_empty(), "{status} has no hint");
            let text = format!("{e} {:?} {}", e, e.to_json());
            assert!(!text.contains(KEY), "{status} leaks the key: {text}");
        }
        let e = status_error("weaviate-1", "GET", "/v1/meta", 401, b"", &key);
        assert_eq!(e.message, "node weaviate-1 rejected the API key (401)");
        assert!(e.hint.contains("WEAVIATE_API_KEY") && e.hint.contains("weaviate.api_key"));
        assert!(!is_node_failure(&e));
        let e = status_error("weaviate-1", "POST", "/v1/schema", 422,
            br#"{"allowed":null,"error":[{"message":"init sharding state: could not find enough weaviate nodes for replication: 1 available, 3 requested"}]}"#, &key);
        assert!(
            e.message.contains("1 available, 3 requested"),
            "{}",
            e.message
        );
        assert!(
            e.hint.contains("lower replicationConfig.factor"),
            "{}",
            e.hint
        );
        let e = status_error(
            "weaviate-1",
            "GET",
            "/v1/replication/sharding-state",
            501,
            b"",
            &key,
        );
        assert!(e.hint.contains("REPLICA_MOVEMENT_ENABLED"));
        assert!(is_node_failure(&status_error(
            "w", "GET", "/v1/x", 503, b"", &key
        )));
        assert!(!is_node_failure(&status_error(
            "w", "GET", "/v1/x", 422, b"", &key
        )));
    }

    #[test]
    fn graphql_errors_with_200_are_errors() {
        let key = Secret::default();
        let v = json!({"errors": [{"locations": [{"column": 15, "line": 1}],
            "message": "Cannot query field \"Nope\" on type \"AggregateObjectsObj\".", "path": null}]});
        let e = parse_count("weaviate-0", "Nope", &v, &key).unwrap_err();
        assert!(is_no_such_collection(&e), "{e}");
        let v = json!({"errors": [{"message": "something broke"}]});
        let e = parse_count("weaviate-0", "Article", &v, &key).unwrap_err();
        assert_eq!(e.category, Category::Weaviate);
        let v = json!({"data": {"Aggregate": {"Article": [{"meta": {"count": 42}}]}}});
        assert_eq!(parse_count("weaviate-0", "Article", &v, &key).unwrap(), 42);
    }

    #[test]
    fn names_are_checked_and_canonical() {
        assert_eq!(class_name("article").unwrap(), "Article");
        assert_eq!(class_name("My_Class2").unwrap(), "My_Class2");
        for bad in ["", "1abc", "a/b", "a b", "x}{"] {
            assert!(class_name(bad).is_err(), "{bad}");
        }
        // Weaviate allows 255 characters; a longer name is told so, not
        // that its characters are wrong, and is not echoed in full.
        assert_eq!(class_name(&"A".repeat(255)).unwrap().len(), 255);
        let e = class_name(&format!("Code{}", "x".repeat(296))).unwrap_err();
        assert!(e.message.contains("300 characters"), "{}", e.message);
        assert!(e.message.len() < 120, "{}", e.message);
        assert!(e.hint.contains("255"), "{}", e.hint);
        assert!(!e.hint.contains("only letters"), "{}", e.hint);
        let e = class_name(&format!("{}/", "x".repeat(300))).unwrap_err();
        assert!(e.hint.contains("only letters"), "{}", e.hint);
        assert!(e.message.len() < 120, "{}", e.message);
        assert_eq!(normalize_base("http://h:1/v1/"), "http://h:1");
        assert_eq!(normalize_base("http://h:1/"), "http://h:1");
        let long = "é".repeat(300);
        assert_eq!(snippet(long.as_bytes()).chars().count(), SNIPPET + 1);
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

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
