//! `index search`: a query against an indexed collection, embedded by the
//! same embedder as the collection's chunks (its description names it), so
//! the vectors compare; keyword (BM25) search where the chunks have none.

use super::schema::index_class;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::embed::Embedder;
use serde_json::{json, Value};

pub struct SearchOptions {
    pub query: String,
    pub collection: String,
    pub limit: usize,
    /// "auto", "bm25", "vector" or "hybrid".
    pub mode: String,
    /// Hybrid's weight of the vector side (0 keyword only, 1 vector only).
    pub alpha: f64,
    pub content: bool,
}

const MODES: [&str; 4] = ["auto", "bm25", "vector", "hybrid"];

pub fn search(ctx: &Context, o: &SearchOptions) -> HostResult<Value> {
    let class = crate::clients::weaviate::class_name(&o.collection)?;
    if o.query.trim().is_empty() {
        return Err(HostError::validation("the search query is empty")
            .with_hint("e.g. elysiactl index search \"where are batches retried\""));
    }
    if !MODES.contains(&o.mode.as_str()) {
        return Err(
            HostError::validation(format!("--mode {:?} is not a search mode", o.mode))
                .with_hint("use auto, bm25, vector or hybrid"),
        );
    }
    if !(0.0..=1.0).contains(&o.alpha) {
        return Err(
            HostError::validation(format!("--alpha {} is outside 0..1", o.alpha))
                .with_hint("0 is keyword only, 1 vector only; 0.5 weighs them equally"),
        );
    }
    // The first rebuild of a collection replaces it by an alias: between
    // the drop and the alias, for two requests, the name answers nothing.
    // A search that meets that gap tries again instead of failing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match search_once(ctx, o, &class) {
            Err(e) if std::time::Instant::now() < deadline && rebuilding(ctx, &class) => {
                tracing::debug!("search of {class} retried during a rebuild: {}", e.message);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            answer => return answer,
        }
    }
}

/// Whether a rebuilt version of `class` exists (index sync --rebuild's
/// Class_v2, …): the sign that a failed search met the switch.
fn rebuilding(ctx: &Context, class: &str) -> bool {
    let prefix = format!("{class}_v");
    ctx.block_on(super::node0_client(ctx).class_names())
        .unwrap_or_default()
        .iter()
        .any(|c| {
            c.strip_prefix(&prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn search_once(ctx: &Context, o: &SearchOptions, name: &str) -> HostResult<Value> {
    // Queried by the collection itself, an alias resolved: what the alias
    // names is what the embedder and the answer's key are read from.
    let target = index_class(ctx, name)?.ok_or_else(|| {
        HostError::validation(format!("there is no collection {name}")).with_hint(format!(
            "index something into it first: elysiactl index sync PATH --collection {name}"
        ))
    })?;
    let (class, embedder_name) = (target.class.as_str(), target.embedder);
    let mode = match (o.mode.as_str(), embedder_name.as_str()) {
        ("auto", "none") => "bm25",
        ("auto", _) => "hybrid",
        ("vector" | "hybrid", "none") => {
            return Err(HostError::validation(format!(
                "collection {class} has no vectors (it was indexed with embedder \"none\")"
            ))
            .with_hint("use --mode bm25, or index into a new collection with index.embedder = \"static\" or \"minilm\""))
        }
        (m, _) => m,
    };
    let query = serde_json::to_string(&o.query).unwrap_or_default();
    let vector = if mode == "bm25" {
        String::new()
    } else {
        let embedder = Embedder::load(&ctx.config.index, &embedder_name, &ctx.rt)?
            .expect("a collection with vectors names an embedder");
        serde_json::to_string(&embedder.embed(&[o.query.as_str()])?[0]).unwrap_or_default()
    };
    let operator = match mode {
        "bm25" => format!("bm25: {{query: {query}}}"),
        "vector" => format!("nearVector: {{vector: {vector}}}"),
        _ => format!(
            "hybrid: {{query: {query}, vector: {vector}, alpha: {}}}",
            o.alpha
        ),
    };
    let gql = format!(
        "{{ Get {{ {class}(limit: {}, {operator}) {{ repository path language start_line end_line \
         chunk_index content _additional {{ id score distance }} }} }} }}",
        o.limit.clamp(1, 1000)
    );
    let data = ctx.block_on(super::node0_client(ctx).graphql(&gql))?;
    let hits: Vec<Value> = data["Get"][class]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let extra = &h["_additional"];
            // bm25 and hybrid give a score (higher is better), nearVector a distance.
            let score = extra["score"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .or_else(|| extra["distance"].as_f64().map(|d| 1.0 - d));
            let content = h["content"].as_str().unwrap_or_default();
            let mut hit = json!({
                "rank": i + 1, "repository": h["repository"], "path": h["path"],
                "language": h["language"], "start_line": h["start_line"], "end_line": h["end_line"],
                "chunk_index": h["chunk_index"], "id": extra["id"], "score": score,
                "snippet": content.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
                    .chars().take(100).collect::<String>(),
            });
            if o.content {
                hit["content"] = json!(content);
            }
            hit
        })
        .collect();
    Ok(
        json!({"collection": name, "class": class, "mode": mode, "embedder": embedder_name, "hits": hits}),
    )
}
