//! GraphQL: exact counts through `Aggregate`, and queries whose errors
//! arrive with HTTP 200.

use super::errors::{messages, scrub_secret, snippet};
use super::{class_name, no_such_collection, Reply, WeaviateClient};
use crate::base::config::Secret;
use crate::base::error::{Category, HostError, HostResult};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Weaviate's GraphQL endpoint (queries and aggregates).
const GRAPHQL: &str = "/v1/graphql";

impl WeaviateClient {
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
fn parse_count(node: &str, class: &str, v: &Value, key: &Secret) -> HostResult<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::weaviate::is_no_such_collection;

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
}
