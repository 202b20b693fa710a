//! Collections: the schema, one collection's definition and shards, and
//! the rule for collection names.

use super::{is_no_such_collection, no_such_collection, WeaviateClient};
use crate::base::error::{HostError, HostResult};
use reqwest::{Method, StatusCode};
use serde_json::Value;

impl WeaviateClient {
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

    /// `POST /v1/schema/{name}/properties`: add one property. Weaviate has
    /// no way to remove or change one afterwards.
    pub async fn add_property(&self, name: &str, property: &Value) -> HostResult<Value> {
        let class = class_name(name)?;
        let path = format!("/v1/schema/{class}/properties");
        let reply = self
            .send(Method::POST, &path, &[], Some(property), None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::POST, &path, reply)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
