//! What Weaviate's answers mean as errors: a status code and body turned
//! into a `HostError` with a category and a hint, and the two questions
//! failover asks of an error (did the node fail? was it reached at all?).
//! Every text taken from a body is scrubbed of the API key.

use crate::base::config::Secret;
use crate::base::error::{Category, HostError};
use serde_json::Value;

/// How many characters of an unexpected body an error message quotes.
const SNIPPET: usize = 200;

/// The first 200 characters of a body, as text.
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t = text.trim();
    let mut out: String = t.chars().take(SNIPPET).collect();
    if t.chars().count() > SNIPPET {
        out.push('…');
    }
    out
}

/// Replace the key in a text, in case something echoes it.
pub(super) fn scrub_secret(text: &str, key: &Secret) -> String {
    let k = key.expose().trim();
    if k.is_empty() {
        text.to_string()
    } else {
        text.replace(k, "***")
    }
}

/// The message(s) of an error body: `error[].message`, `errors[].message`
/// (GraphQL), `message` (go-openapi), else the body's first 200 characters.
pub(super) fn error_text(body: &[u8]) -> String {
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

pub(super) fn messages(v: &Value) -> Vec<String> {
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
pub(super) fn status_error(
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn snippets_are_cut_at_200_characters() {
        let long = "é".repeat(300);
        assert_eq!(snippet(long.as_bytes()).chars().count(), SNIPPET + 1);
    }
}
