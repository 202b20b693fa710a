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

/// How a property is indexed: for text, whether BM25 searches it and
/// whether filters match it (and its tokenization); for ints, whether
/// filters and range filters match it. Each property is indexed only the
/// way something queries it, because every inverted index is work the three
/// nodes repeat for every chunk (docs/benchmarks/indexing.md has the figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Indexing {
    searchable: bool,
    filterable: bool,
    range: bool,
    tokenization: Option<&'static str>,
}

/// The chunk text: what bm25 and hybrid search; nothing filters on it.
const SEARCHED: Indexing = Indexing {
    searchable: true,
    filterable: false,
    range: false,
    tokenization: Some("word"),
};
/// Names whose words answer a query as well as the code does ("uuid" in
/// uuid-1.29.3, "history" in src/history.rs): searched by BM25 beside the
/// content, and filterable. Without them, hybrid search lost 0.03 to 0.08
/// MRR@10 on bench/embedder_quality.py's labelled queries.
const NAMED: Indexing = Indexing {
    searchable: true,
    filterable: true,
    range: false,
    tokenization: Some("word"),
};
/// Identifiers a user or Elysia filters on by exact value (a language, a
/// commit, a hash): matched whole, never word by word, and never scored.
const KEY: Indexing = Indexing {
    searchable: false,
    filterable: true,
    range: false,
    tokenization: Some("field"),
};
/// Numbers read with a chunk but never queried by.
const STORED: Indexing = Indexing {
    searchable: false,
    filterable: false,
    range: false,
    tokenization: None,
};

/// The properties of an index collection, their types and their indexing:
/// with the description, what tells an index collection from anyone else's.
const PROPERTIES: [(&str, &str, Indexing); 9] = [
    ("content", "text", SEARCHED),
    ("repository", "text", NAMED),
    ("path", "text", NAMED),
    ("language", "text", KEY),
    ("chunk_index", "int", STORED),
    ("start_line", "int", STORED),
    ("end_line", "int", STORED),
    ("commit", "text", KEY),
    ("content_hash", "text", KEY),
];

impl Indexing {
    /// The property definition's indexing fields, as Weaviate takes them.
    fn fields(self, data_type: &str) -> Value {
        if data_type == "text" {
            json!({
                "indexSearchable": self.searchable,
                "indexFilterable": self.filterable,
                "tokenization": self.tokenization,
            })
        } else {
            json!({"indexFilterable": self.filterable, "indexRangeFilters": self.range})
        }
    }

    /// How a property definition Weaviate returns is indexed; absent
    /// fields take Weaviate's defaults (searchable and filterable, word
    /// tokenization; ints filterable).
    fn of(p: &Value) -> Indexing {
        let text = p["dataType"][0] == "text";
        let flag = |k: &str, default: bool| p[k].as_bool().unwrap_or(default);
        Indexing {
            searchable: text && flag("indexSearchable", true),
            filterable: flag("indexFilterable", true),
            range: flag("indexRangeFilters", false),
            tokenization: if text {
                Some(match p["tokenization"].as_str().unwrap_or("word") {
                    "field" => "field",
                    "word" => "word",
                    _ => "other",
                })
            } else {
                None
            },
        }
    }
}

/// How an existing index collection's indexing differs from what index
/// sync creates now (collections made before issue 21 index every property
/// both ways), or None when it does not. Such a collection still works;
/// `index sync --rebuild` re-creates it the current way.
pub fn outdated_indexing(class: &Value) -> Option<String> {
    let differs: Vec<&str> = PROPERTIES
        .iter()
        .filter(|(name, _, want)| {
            class["properties"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == *name)
                .is_some_and(|p| Indexing::of(p) != *want)
        })
        .map(|(name, _, _)| *name)
        .collect();
    (!differs.is_empty()).then(|| {
        format!(
            "{} indexed as index sync no longer does (each needless index is work for every chunk)",
            differs.join(", ")
        )
    })
}

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
        .map(|(n, t, _)| (n.to_string(), t.to_string()))
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

/// The collection a name stands for: the one an alias points at when the
/// name is an alias (what `index sync --rebuild` leaves), else the name.
pub fn resolve(ctx: &Context, name: &str) -> HostResult<String> {
    Ok(ctx
        .block_on(node0_client(ctx).alias(name))?
        .and_then(|a| a["class"].as_str().map(str::to_string))
        .unwrap_or_else(|| name.to_string()))
}

/// An index collection as Weaviate has it: its definition and the embedder
/// its description names ("none" for one made before embedders existed).
pub struct IndexClass {
    pub class: String,
    pub embedder: String,
    /// Its vectorIndexType: "hnsw", "flat" or "dynamic".
    pub vector_index: String,
    /// Why its indexing is not what index sync creates now, if it is not.
    pub outdated: Option<String>,
}

/// The index collection named `collection` (through its alias, if it is
/// one), or None when there is none. A collection that is not an index
/// collection is refused: nothing of the index belongs in it.
pub fn index_class(ctx: &Context, collection: &str) -> HostResult<Option<IndexClass>> {
    index_class_at(ctx, &resolve(ctx, collection)?)
}

fn index_class_at(ctx: &Context, target: &str) -> HostResult<Option<IndexClass>> {
    let class = match ctx.block_on(node0_client(ctx).get_class(target)) {
        Ok(class) => class,
        Err(e) if crate::clients::weaviate::is_no_such_collection(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let name = class["class"].as_str().unwrap_or(target).to_string();
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
    Ok(Some(IndexClass {
        embedder: description
            .split("embedder: ")
            .nth(1)
            .map(|rest| rest.trim_end_matches(')').to_string())
            .unwrap_or_else(|| "none".into()),
        outdated: outdated_indexing(&class),
        vector_index: class["vectorIndexType"]
            .as_str()
            .unwrap_or("hnsw")
            .to_string(),
        class: name,
    }))
}

/// The embedder a collection's vectors come from; None when the collection
/// does not exist (see index_class).
pub fn collection_embedder(ctx: &Context, collection: &str) -> HostResult<Option<String>> {
    Ok(index_class(ctx, collection)?.map(|c| c.embedder))
}

/// The collection a sync writes to, as ensure_collection found or made it.
pub(super) struct Ensured {
    /// The collection itself (the alias's target when the name is an alias).
    pub class: String,
    pub created: bool,
    pub outdated: Option<String>,
}

/// The chunk collection: keyword-searchable text plus metadata and the
/// embedder's vectors, at the replication factor the cluster expects. One
/// collection holds one embedder's vectors: mixed, a search would compare
/// vectors from different spaces (or miss the chunks that have none).
pub(super) fn ensure_collection(
    ctx: &Context,
    collection: &str,
    embedder: &str,
) -> HostResult<Ensured> {
    let target = resolve(ctx, collection)?;
    match index_class_at(ctx, &target)? {
        Some(had) if had.embedder == embedder => {
            let wanted = &ctx.config.index.vector_index;
            // Without vectors the vector index does no work: any type will do.
            let vector_index = (embedder != "none" && had.vector_index != *wanted).then(|| {
                format!(
                    "its vector index is {}, index.vector_index is {wanted}",
                    had.vector_index
                )
            });
            let outdated = [had.outdated, vector_index].into_iter().flatten();
            Ok(Ensured {
                class: had.class,
                created: false,
                outdated: Some(outdated.collect::<Vec<_>>().join("; ")).filter(|s| !s.is_empty()),
            })
        }
        Some(had) => Err(HostError::validation(format!(
            "collection {collection} holds chunks embedded with {:?}; this run would embed with {embedder:?}",
            had.embedder
        ))
        .with_hint(format!(
            "index into another collection (--collection {collection}{}), or set index.embedder = {:?}",
            capitalized(embedder),
            had.embedder
        ))),
        None => {
            let def = collection_schema(
                &target,
                ctx.config.weaviate.expected_replication_factor(),
                embedder,
                &ctx.config.index.vector_index,
            );
            ctx.block_on(node0_client(ctx).create_class(&def))?;
            Ok(Ensured {
                class: target,
                created: true,
                outdated: None,
            })
        }
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
fn collection_schema(collection: &str, factor: usize, embedder: &str, vector_index: &str) -> Value {
    let properties: Vec<Value> = PROPERTIES
        .iter()
        .map(|(name, data_type, indexing)| {
            let mut p = indexing.fields(data_type);
            p["name"] = json!(name);
            p["dataType"] = json!([data_type]);
            p
        })
        .collect();
    json!({
        "class": collection,
        "description": format!("{DESCRIPTION} (embedder: {embedder})"),
        "vectorizer": "none",
        "vectorIndexType": vector_index,
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
        let mine = collection_schema("Code", 3, "static", "hnsw");
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
    fn each_property_is_indexed_only_the_way_it_is_queried() {
        let mine = collection_schema("Code", 3, "static", "hnsw");
        assert_eq!(outdated_indexing(&mine), None);
        let content = &mine["properties"][0];
        assert_eq!(content["indexSearchable"], true);
        assert_eq!(content["indexFilterable"], false);
        let path = &mine["properties"][2];
        assert_eq!(
            (
                &path["indexSearchable"],
                &path["indexFilterable"],
                &path["tokenization"]
            ),
            (&json!(true), &json!(true), &json!("word"))
        );
        let commit = &mine["properties"][7];
        assert_eq!(
            (
                &commit["indexSearchable"],
                &commit["indexFilterable"],
                &commit["tokenization"]
            ),
            (&json!(false), &json!(true), &json!("field"))
        );
        let line = &mine["properties"][5];
        assert_eq!(line["indexFilterable"], false);
        assert_eq!(line["indexRangeFilters"], false);
        // A collection made before: Weaviate's defaults for every property.
        let mut older = mine.clone();
        for p in older["properties"].as_array_mut().unwrap() {
            let keep = json!({"name": p["name"], "dataType": p["dataType"]});
            *p = keep;
        }
        assert_eq!(
            not_index_collection(&older),
            None,
            "still an index collection"
        );
        let why = outdated_indexing(&older).unwrap();
        assert!(
            why.contains("content, language") && why.contains("end_line"),
            "{why}"
        );
        // Weaviate's reply spells the defaults out: the same verdict.
        let mut spelled = mine;
        spelled["properties"][3]["tokenization"] = json!("word");
        spelled["properties"][3]["indexSearchable"] = json!(true);
        assert_eq!(
            outdated_indexing(&spelled).unwrap(),
            "language indexed as index sync no longer does (each needless index is work for every chunk)"
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
