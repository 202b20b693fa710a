//! What an index collection is: its properties, the description that marks
//! it as `index sync`'s and names its embedder, its object IDs, and how a
//! run creates it or recognises it (and refuses anyone else's).

use super::node0_client;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The object ID of chunk `i` of a file: the same input, the same ID.
pub fn chunk_id(repo: &str, path: &str, i: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("elysiactl-index:{repo}:{path}:{i}").as_bytes(),
    )
    .to_string()
}

const DESCRIPTION: &str = "Source code chunks written by elysiactl index sync";

/// The properties of an index collection and their types: with the
/// description, what tells an index collection from anyone else's.
const PROPERTIES: [(&str, &str); 9] = [
    ("content", "text"),
    ("repository", "text"),
    ("path", "text"),
    ("language", "text"),
    ("chunk_index", "int"),
    ("start_line", "int"),
    ("end_line", "int"),
    ("commit", "text"),
    ("content_hash", "text"),
];

/// Why a collection definition is not one `index sync` made (and may write
/// to), or None when it is: the description it writes, and exactly its
/// properties. Anything else is someone's data, where chunks would mix with
/// their objects and Weaviate's auto-schema would add properties.
fn not_index_collection(class: &Value) -> Option<String> {
    let description = class["description"].as_str().unwrap_or_default();
    if !description.starts_with(DESCRIPTION) {
        return Some("index sync did not create it".into());
    }
    let have: BTreeSet<(String, String)> = class["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["dataType"][0].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = PROPERTIES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let list = |set: Vec<&(String, String)>| {
        set.iter()
            .map(|(n, t)| format!("{n} ({t})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (extra, missing): (Vec<_>, Vec<_>) = (
        have.difference(&want).collect(),
        want.difference(&have).collect(),
    );
    match (extra.is_empty(), missing.is_empty()) {
        (true, true) => None,
        (false, _) => Some(format!(
            "it has properties index sync does not write: {}",
            list(extra)
        )),
        (true, false) => Some(format!(
            "it lacks properties index sync writes: {}",
            list(missing)
        )),
    }
}

/// The embedder a collection's vectors come from, as its description
/// records it ("none" for a collection made before embedders existed);
/// None when the collection does not exist. A collection that is not an
/// index collection is refused: nothing of the index belongs in it.
pub fn collection_embedder(ctx: &Context, collection: &str) -> HostResult<Option<String>> {
    let class = match ctx.block_on(node0_client(ctx).get_class(collection)) {
        Ok(class) => class,
        Err(e) if crate::clients::weaviate::is_no_such_collection(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let name = class["class"].as_str().unwrap_or(collection);
    if let Some(why) = not_index_collection(&class) {
        return Err(HostError::validation(format!(
            "collection {name} is not an index collection: {why}"
        ))
        .with_hint(format!(
            "index into a collection of its own, which index sync creates: --collection {name}Code \
             (or set index.collection); any name no other collection has will do"
        )));
    }
    let description = class["description"].as_str().unwrap_or_default();
    Ok(Some(
        description
            .split("embedder: ")
            .nth(1)
            .map(|rest| rest.trim_end_matches(')').to_string())
            .unwrap_or_else(|| "none".into()),
    ))
}

/// The chunk collection: keyword-searchable text plus metadata and the
/// embedder's vectors, at the replication factor the cluster expects. One
/// collection holds one embedder's vectors: mixed, a search would compare
/// vectors from different spaces (or miss the chunks that have none).
/// True when this call created the collection.
pub(super) fn ensure_collection(
    ctx: &Context,
    collection: &str,
    embedder: &str,
) -> HostResult<bool> {
    match collection_embedder(ctx, collection)? {
        Some(had) if had == embedder => Ok(false),
        Some(had) => Err(HostError::validation(format!(
            "collection {collection} holds chunks embedded with {had:?}; this run would embed with {embedder:?}"
        ))
        .with_hint(format!(
            "index into another collection (--collection {collection}{}), or set index.embedder = {had:?}",
            capitalized(embedder)
        ))),
        None => ctx
            .block_on(node0_client(ctx).create_class(&collection_schema(
                collection,
                ctx.config.weaviate.expected_replication_factor(),
                embedder,
            )))
            .map(|_| true),
    }
}

/// "openai:text-embedding-3-small" → "OpenaiTextEmbedding3Small": a name
/// fit to end a collection name with.
fn capitalized(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        })
        .collect()
}

/// The class definition `index sync` creates.
fn collection_schema(collection: &str, factor: usize, embedder: &str) -> Value {
    let properties: Vec<Value> = PROPERTIES
        .iter()
        .map(|(name, data_type)| json!({"name": name, "dataType": [data_type]}))
        .collect();
    json!({
        "class": collection,
        "description": format!("{DESCRIPTION} (embedder: {embedder})"),
        "vectorizer": "none",
        "vectorIndexConfig": {"distance": "cosine"},
        "replicationConfig": {"factor": factor},
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_deterministic_and_distinct() {
        assert_eq!(chunk_id("/r", "a.rs", 0), chunk_id("/r", "a.rs", 0));
        assert_ne!(chunk_id("/r", "a.rs", 0), chunk_id("/r", "a.rs", 1));
        assert_ne!(chunk_id("/r", "a.rs", 0), chunk_id("/s", "a.rs", 0));
    }

    #[test]
    fn only_what_index_sync_made_is_an_index_collection() {
        let mine = collection_schema("Code", 3, "static");
        assert_eq!(not_index_collection(&mine), None);
        let mut older = mine.clone();
        older["description"] = json!(DESCRIPTION);
        assert_eq!(not_index_collection(&older), None, "made before embedders");
        let mut foreign = mine.clone();
        foreign.as_object_mut().unwrap().remove("description");
        assert!(not_index_collection(&foreign)
            .unwrap()
            .contains("did not create"));
        let mut extra = mine.clone();
        extra["properties"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "title", "dataType": ["text"]}));
        let why = not_index_collection(&extra).unwrap();
        assert!(why.contains("title (text)"), "{why}");
        let mut retyped = mine.clone();
        retyped["properties"][4]["dataType"] = json!(["text"]);
        let why = not_index_collection(&retyped).unwrap();
        assert!(why.contains("chunk_index (text)"), "{why}");
        let mut fewer = mine;
        fewer["properties"].as_array_mut().unwrap().pop();
        let why = not_index_collection(&fewer).unwrap();
        assert!(
            why.contains("lacks") && why.contains("content_hash"),
            "{why}"
        );
    }

    #[test]
    fn embedder_names_end_collection_names() {
        assert_eq!(capitalized("static"), "Static");
        assert_eq!(
            capitalized("openai:text-embedding-3-small"),
            "OpenaiTextEmbedding3Small"
        );
    }
}
