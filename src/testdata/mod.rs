//! Test datasets: seeded objects of a chosen shape (patterns.rs) written to
//! a collection of their own, through the batch path `index sync` uses.
//! A dataset records what it is (pattern, seed, count, vectors, when, and a
//! fingerprint of its content) in its collection's description, so it is
//! recognised by any elysiactl on any machine, and a collection without
//! that record is never written, cleaned or regenerated as test data.

pub mod import;
pub mod patterns;
pub mod sampled;

use crate::base::cancel::check_interrupt;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::{class_name, is_no_such_collection, WeaviateClient};
use crate::embed::Embedder;
use crate::index::upload::Uploader;
use patterns::Pattern;
use sampled::{Profile, Sampler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// How a dataset's description starts; the record follows as JSON.
const MARK: &str = "elysiactl test-data ";
/// Bumped when a pattern's output for a seed changes, so an old dataset is
/// not judged by a new generator.
const GENERATOR: u32 = 1;
pub const MAX_RECORDS: u64 = 10_000_000;
const BATCH: usize = 200;

/// What a test dataset is, as its collection's description records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dataset {
    pub pattern: String,
    pub seed: u64,
    pub count: u64,
    /// "none", "seeded" (random unit vectors of `dims`), or an embedder's name.
    pub vectors: String,
    pub dims: usize,
    pub generator: u32,
    /// RFC 3339, when the collection was made.
    pub created: String,
    /// blake3 over every object's ID, properties and seeded vector, in order.
    pub fingerprint: String,
    /// The JSON size of the generated properties.
    pub bytes: u64,
    /// What a `sampled` dataset is generated from (anonymized: see sampled.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

impl Dataset {
    fn shape(&self) -> HostResult<Shape> {
        if self.pattern == SAMPLED {
            let profile = self.profile.clone().ok_or_else(|| {
                HostError::validation("this sampled dataset's record has no profile")
                    .with_hint("generate it again from its source with --pattern sampled --from")
            })?;
            return Ok(Shape::Sampled(Box::new(Sampler::new(profile))));
        }
        Pattern::parse(&self.pattern)
            .map(Shape::Fixed)
            .ok_or_else(|| {
                HostError::validation(format!(
                    "this dataset was made with pattern {:?}, which this elysiactl does not know",
                    self.pattern
                ))
                .with_hint("use the elysiactl version that made it")
            })
    }

    fn same_content(&self, other: &Dataset) -> bool {
        (
            &self.pattern,
            self.seed,
            self.count,
            &self.vectors,
            self.dims,
            self.generator,
            &self.profile,
        ) == (
            &other.pattern,
            other.seed,
            other.count,
            &other.vectors,
            other.dims,
            other.generator,
            &other.profile,
        )
    }
}

/// The dataset a collection definition records, or None for any other collection.
pub fn dataset_of(class: &Value) -> Option<Dataset> {
    let record = class["description"].as_str()?.strip_prefix(MARK)?;
    serde_json::from_str(record).ok()
}

pub const SAMPLED: &str = "sampled";

/// What a dataset's objects are made from: a fixed pattern, or the profile
/// of a sampled collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Fixed(Pattern),
    Sampled(Box<Sampler>),
}

impl Shape {
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Fixed(p) => p.as_str(),
            Shape::Sampled(_) => SAMPLED,
        }
    }

    /// (name, Weaviate data type) of every property.
    pub fn properties(&self) -> Vec<(String, String)> {
        match self {
            Shape::Fixed(p) => p
                .properties()
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            Shape::Sampled(s) => s.profile.schema(),
        }
    }

    /// The object ID of record `i`: the same shape, seed and index, the same ID.
    pub fn object_id(&self, seed: u64, i: u64) -> String {
        match self {
            Shape::Fixed(p) => object_id(*p, seed, i),
            Shape::Sampled(s) => uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("elysiactl-test-data:sampled:{}:{seed}:{i}", s.id).as_bytes(),
            )
            .to_string(),
        }
    }

    pub fn object(&self, seed: u64, i: u64) -> Map<String, Value> {
        match self {
            Shape::Fixed(p) => p.object(seed, i),
            Shape::Sampled(s) => s.object(&self.object_id(seed, i), seed, i),
        }
    }

    pub fn vector(&self, seed: u64, i: u64, dims: usize) -> Vec<f32> {
        match self {
            Shape::Fixed(p) => p.vector(seed, i, dims),
            Shape::Sampled(s) => {
                use rand::Rng;
                let mut rng = s.rng(seed, i, 1);
                let mut v: Vec<f32> = (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
                crate::embed::normalize(&mut v);
                v
            }
        }
    }

    /// The property an embedder turns into the object's vector.
    pub fn text_property(&self) -> Option<&str> {
        match self {
            Shape::Fixed(p) => Some(p.text_property()),
            Shape::Sampled(s) => s.profile.text_property(),
        }
    }

    fn profile(&self) -> Option<Profile> {
        match self {
            Shape::Fixed(_) => None,
            Shape::Sampled(s) => Some(s.profile.clone()),
        }
    }
}

/// What `test-data generate` is asked for.
pub struct GenerateOptions {
    pub shape: Shape,
    pub seed: u64,
    pub count: u64,
    pub collection: String,
    /// Seeded random unit vectors of this many dimensions.
    pub dims: Option<usize>,
    /// Or vectors from this embedder ("static", "minilm") of the pattern's text.
    pub embedder: Option<String>,
    pub factor: usize,
}

/// The object ID of record `i`: the same pattern, seed and index, the same ID.
pub fn object_id(pattern: Pattern, seed: u64, i: u64) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("elysiactl-test-data:{}:{seed}:{i}", pattern.as_str()).as_bytes(),
    )
    .to_string()
}

use crate::index::node0_client as client;

/// The dataset a `GenerateOptions` describes, fingerprint included: one
/// pass over the objects without writing anything.
pub fn describe(o: &GenerateOptions) -> Dataset {
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0;
    for i in 0..o.count {
        let props = Value::Object(o.shape.object(o.seed, i));
        let text = props.to_string();
        bytes += text.len() as u64;
        hasher.update(o.shape.object_id(o.seed, i).as_bytes());
        hasher.update(text.as_bytes());
        if let (Some(d), None) = (o.dims, &o.embedder) {
            for x in o.shape.vector(o.seed, i, d) {
                hasher.update(&x.to_le_bytes());
            }
        }
    }
    let (vectors, dims) = match (&o.embedder, o.dims) {
        (Some(e), _) => (e.clone(), 0),
        (None, Some(d)) => ("seeded".to_string(), d),
        (None, None) => ("none".to_string(), 0),
    };
    Dataset {
        pattern: o.shape.name().into(),
        seed: o.seed,
        count: o.count,
        vectors,
        dims,
        generator: GENERATOR,
        created: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        fingerprint: hasher.finalize().to_hex()[..32].to_string(),
        bytes,
        profile: o.shape.profile(),
    }
}

fn class_definition(name: &str, shape: &Shape, dataset: &Dataset, factor: usize) -> Value {
    let properties: Vec<Value> = shape
        .properties()
        .iter()
        .map(|(n, t)| json!({"name": n, "dataType": [t]}))
        .collect();
    let record = serde_json::to_string(dataset).unwrap_or_default();
    json!({
        "class": name,
        "description": format!("{MARK}{record}"),
        "vectorizer": "none",
        "vectorIndexConfig": {"distance": "cosine"},
        "replicationConfig": {"factor": factor},
        "properties": properties,
    })
}

/// The collection's definition, or None when it does not exist.
fn find_class(ctx: &Context, name: &str) -> HostResult<Option<Value>> {
    match ctx.block_on(client(ctx).get_class(name)) {
        Ok(c) => Ok(Some(c)),
        Err(e) if is_no_such_collection(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks what `generate` would do before anything is written: the
/// collection is new, or a test dataset of the same content (written again,
/// which repairs what an interrupted run left out).
pub fn plan_generate(ctx: &Context, o: &GenerateOptions) -> HostResult<(Dataset, bool)> {
    check_options(ctx, o)?;
    let dataset = describe(o);
    match find_class(ctx, &o.collection)? {
        None => Ok((dataset, true)),
        Some(class) => match dataset_of(&class) {
            None => Err(HostError::validation(format!(
                "collection {} exists and is not a test dataset",
                o.collection
            ))
            .with_hint(format!(
                "test data never writes into other collections: pick another name, e.g. --collection {}Test",
                o.collection
            ))),
            Some(had) if had.same_content(&dataset) => Ok((had, false)),
            Some(had) => Err(HostError::validation(format!(
                "collection {} holds another test dataset ({} records of pattern {}, seed {})",
                o.collection, had.count, had.pattern, had.seed
            ))
            .with_hint(format!(
                "remove it first with `elysiactl test-data clean --name {}`, or pick another --collection",
                o.collection
            ))),
        },
    }
}

fn check_options(ctx: &Context, o: &GenerateOptions) -> HostResult<()> {
    crate::migrate::refuse_system_collection(&class_name(&o.collection)?, "test-data generate")?;
    if o.count == 0 || o.count > MAX_RECORDS {
        return Err(
            HostError::validation(format!("--records {} is out of range", o.count))
                .with_hint(format!("give 1 to {MAX_RECORDS}")),
        );
    }
    if let Some(d) = o.dims {
        if !(1..=4096).contains(&d) {
            return Err(
                HostError::validation(format!("--vectors {d} is out of range"))
                    .with_hint("give 1 to 4096 dimensions"),
            );
        }
    }
    if o.embedder.is_some() && o.shape.text_property().is_none() {
        return Err(HostError::validation(
            "the sampled collection has no free text for an embedder to embed",
        )
        .with_hint("use --vectors DIM for seeded random vectors instead"));
    }
    if let Shape::Sampled(s) = &o.shape {
        if s.profile.source == o.collection {
            return Err(HostError::validation(format!(
                "--collection {} is the source being sampled",
                o.collection
            ))
            .with_hint("a sampled dataset goes into a collection of its own: drop --collection for the default"));
        }
    }
    let nodes = ctx.config.weaviate.nodes;
    if o.factor == 0 || o.factor > nodes {
        return Err(HostError::validation(format!(
            "replication factor {} does not fit a cluster of {nodes} nodes",
            o.factor
        ))
        .with_hint(format!("give 1 to {nodes}")));
    }
    Ok(())
}

/// Generate and write the dataset; returns its figures. Objects Weaviate
/// refuses are counted (`refused`), not fatal.
pub fn generate(ctx: &Context, o: &GenerateOptions) -> HostResult<Value> {
    let t0 = Instant::now();
    let (dataset, create) = plan_generate(ctx, o)?;
    let embedder = match &o.embedder {
        Some(kind) => Embedder::load(&ctx.config.index, kind, &ctx.rt)?,
        None => None,
    };
    if create {
        let def = class_definition(&o.collection, &o.shape, &dataset, o.factor);
        ctx.block_on(client(ctx).create_class(&def))?;
    }
    let (refused, first_refusal) = write_batches(
        ctx,
        &format!("generating {}", o.collection),
        o.count,
        false,
        |i, end| make_batch(o, embedder.as_ref(), i, end),
    )?;
    let seconds = t0.elapsed().as_secs_f64();
    Ok(json!({
        "collection": o.collection,
        "created": create,
        "dataset": dataset,
        "written": o.count - refused,
        "refused": refused,
        "first_refusal": first_refusal,
        "seconds": (seconds * 100.0).round() / 100.0,
        "objects_per_s": (o.count as f64 / seconds.max(1e-6)).round(),
    }))
}

/// Writes `count` objects, made `BATCH` at a time by `make(from, to)`,
/// through the batch path `index sync` uses, on a few upload workers, with a
/// progress bar. `rest` sends them over REST whatever index.transport says
/// (the gRPC batch here carries no lists of numbers). Returns the objects
/// Weaviate refused and the first refusal's message.
fn write_batches(
    ctx: &Context,
    label: &str,
    count: u64,
    rest: bool,
    mut make: impl FnMut(u64, u64) -> HostResult<Vec<Value>>,
) -> HostResult<(u64, Option<String>)> {
    let uploader = if rest {
        Uploader::over_rest(ctx)?
    } else {
        Uploader::new(ctx)?
    };
    let bar = ctx.out.progress_start(label, Some(count));
    let workers = ctx.config.index.upload_concurrency.clamp(1, 16);
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Value>>(workers * 2);
    let refused = std::sync::atomic::AtomicU64::new(0);
    let written = std::sync::atomic::AtomicU64::new(0);
    let mut first_refusal = std::sync::Mutex::new(None::<String>);
    let result = std::thread::scope(|s| -> HostResult<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                let (uploader, refused, written, first) =
                    (&uploader, &refused, &written, &first_refusal);
                s.spawn(move || -> HostResult<()> {
                    for batch in rx {
                        let failed = uploader.upsert(ctx, &batch)?;
                        if let Some((_, m)) = failed.first() {
                            first.lock().unwrap().get_or_insert_with(|| m.clone());
                        }
                        refused
                            .fetch_add(failed.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        let n = written
                            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed)
                            + batch.len() as u64;
                        ctx.out.progress_set(bar, Some(n), None);
                    }
                    Ok(())
                })
            })
            .collect();
        drop(rx);
        let produced = (|| -> HostResult<()> {
            let mut i = 0;
            while i < count {
                check_interrupt()?;
                let end = (i + BATCH as u64).min(count);
                let batch = make(i, end)?;
                if tx.send(batch).is_err() {
                    break; // every worker stopped: their error says why
                }
                i = end;
            }
            Ok(())
        })();
        drop(tx);
        let mut outcome = produced;
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(HostError::unknown("an upload worker panicked")));
            if outcome.is_ok() {
                outcome = r;
            }
        }
        outcome
    });
    ctx.out.progress_done(bar, None);
    result?;
    let first = first_refusal.get_mut().unwrap().take();
    Ok((refused.into_inner(), first))
}

fn make_batch(
    o: &GenerateOptions,
    embedder: Option<&Embedder>,
    from: u64,
    to: u64,
) -> HostResult<Vec<Value>> {
    let props: Vec<Map<String, Value>> = (from..to).map(|i| o.shape.object(o.seed, i)).collect();
    let vectors: Vec<Option<Vec<f32>>> = match (embedder, o.dims) {
        (Some(e), _) => {
            let key = o.shape.text_property().unwrap_or_default();
            let texts: Vec<&str> = props
                .iter()
                .map(|p| p[key].as_str().unwrap_or(""))
                .collect();
            e.embed(&texts)?.into_iter().map(Some).collect()
        }
        (None, Some(d)) => (from..to)
            .map(|i| Some(o.shape.vector(o.seed, i, d)))
            .collect(),
        (None, None) => vec![None; props.len()],
    };
    Ok((from..to)
        .zip(props)
        .zip(vectors)
        .map(|((i, p), v)| {
            let mut obj = json!({
                "class": o.collection,
                "id": o.shape.object_id(o.seed, i),
                "properties": p,
            });
            if let Some(v) = v {
                obj["vector"] = json!(v);
            }
            obj
        })
        .collect())
}

/// Every test dataset in the cluster, with its objects counted.
pub fn list(ctx: &Context) -> HostResult<Vec<Value>> {
    let c = client(ctx);
    let schema = ctx.block_on(c.schema())?;
    let now = SystemTime::now();
    let mut out = Vec::new();
    for class in schema["classes"].as_array().into_iter().flatten() {
        let Some(d) = dataset_of(class) else { continue };
        let name = class["class"].as_str().unwrap_or_default().to_string();
        let objects = ctx.block_on(c.count(&name))?;
        out.push(json!({
            "collection": name,
            "pattern": d.pattern,
            "source": d.profile.as_ref().map(|p| p.source.clone()),
            "seed": d.seed,
            "records": d.count,
            "objects": objects,
            "complete": objects == d.count,
            "vectors": d.vectors,
            "factor": class["replicationConfig"]["factor"],
            "bytes": d.bytes,
            "created": d.created,
            "age_s": age_of(&d, now).map(|a| a.as_secs()),
            "fingerprint": d.fingerprint,
        }));
    }
    out.sort_by(|a, b| a["collection"].as_str().cmp(&b["collection"].as_str()));
    Ok(out)
}

fn age_of(d: &Dataset, now: SystemTime) -> Option<Duration> {
    let created = chrono::DateTime::parse_from_rfc3339(&d.created).ok()?;
    let created = SystemTime::UNIX_EPOCH + Duration::from_secs(created.timestamp().max(0) as u64);
    now.duration_since(created).ok()
}

/// The test datasets `clean` would remove: all, those older than `older`,
/// or the one named (which must be a test dataset).
pub fn to_clean(
    ctx: &Context,
    older: Option<Duration>,
    name: Option<&str>,
) -> HostResult<Vec<Value>> {
    if let Some(n) = name {
        match find_class(ctx, n)? {
            None => {
                return Err(HostError::validation(format!("no collection named {n}"))
                    .with_hint("see the test datasets with `elysiactl test-data list`"))
            }
            Some(class) if dataset_of(&class).is_none() => {
                return Err(HostError::validation(format!(
                    "collection {n} is not a test dataset; test-data clean removes only those"
                ))
                .with_hint("see the test datasets with `elysiactl test-data list`"))
            }
            Some(_) => {}
        }
    }
    Ok(list(ctx)?
        .into_iter()
        .filter(|d| name.is_none_or(|n| d["collection"] == n))
        .filter(|d| older.is_none_or(|o| d["age_s"].as_u64().is_some_and(|a| a >= o.as_secs())))
        .collect())
}

/// Remove the datasets `to_clean` names; returns what was removed.
pub fn clean(ctx: &Context, older: Option<Duration>, name: Option<&str>) -> HostResult<Value> {
    let c = client(ctx);
    let mut removed = Vec::new();
    for d in to_clean(ctx, older, name)? {
        let n = d["collection"].as_str().unwrap_or_default().to_string();
        ctx.block_on(c.delete_class(&n))?;
        removed.push(d);
    }
    Ok(json!({"removed": removed}))
}

/// A test dataset's record, or why the collection is not one.
fn dataset_in(ctx: &Context, collection: &str) -> HostResult<Dataset> {
    let class = find_class(ctx, collection)?.ok_or_else(|| {
        HostError::validation(format!("no collection named {collection}"))
            .with_hint("see the test datasets with `elysiactl test-data list`")
    })?;
    dataset_of(&class).ok_or_else(|| {
        HostError::validation(format!("collection {collection} is not a test dataset")).with_hint(
            "validate regenerates objects from a dataset's seed; only test datasets have one",
        )
    })
}

/// Every object of a collection, in ID order, without vectors.
pub fn read_all(ctx: &Context, collection: &str) -> HostResult<Vec<Value>> {
    read_first(ctx, collection, usize::MAX, false)
}

/// The first `limit` objects of a collection, in ID order, with their
/// vectors when `vectors`.
fn read_first(
    ctx: &Context,
    collection: &str,
    limit: usize,
    vectors: bool,
) -> HostResult<Vec<Value>> {
    let c = client(ctx);
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    while all.len() < limit {
        check_interrupt()?;
        let want = (limit - all.len()).min(500);
        let page = if vectors {
            ctx.block_on(c.list_objects_with_vectors(collection, want as u64, after.as_deref()))?
        } else {
            ctx.block_on(c.list_objects(collection, want as u64, after.as_deref()))?
        };
        let Some(last) = page.last() else { break };
        after = last["id"].as_str().map(str::to_string);
        let full = page.len() == want;
        all.extend(page);
        if !full {
            break;
        }
    }
    Ok(all)
}

/// The profile of `from` for the sampled pattern: its schema and its first
/// `limit` objects in ID order (the same objects every time while the
/// source is unchanged, so the same profile). Only reads.
pub fn sample_profile(
    ctx: &Context,
    from: &str,
    sensitive: &[String],
    limit: usize,
) -> HostResult<Profile> {
    class_name(from)?;
    let Some(class) = find_class(ctx, from)? else {
        let schema = ctx.block_on(client(ctx).schema())?;
        let names: Vec<&str> = schema["classes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["class"].as_str())
            .collect();
        return Err(
            HostError::validation(format!("no collection named {from} to sample")).with_hint(
                if names.is_empty() {
                    "the cluster has no collections yet".to_string()
                } else {
                    format!(
                        "names are case-sensitive; the cluster has: {}",
                        names.join(", ")
                    )
                },
            ),
        );
    };
    let objects = read_first(ctx, from, limit, false)?;
    if objects.is_empty() {
        return Err(
            HostError::validation(format!("collection {from} has no objects to sample"))
                .with_hint("a sampled dataset copies the distributions of existing objects: add some first, or sample another collection"),
        );
    }
    let profile = sampled::build(from, &class, &objects, sensitive).map_err(|e| {
        HostError::validation(e).with_hint("see `elysiactl test-data generate --help`")
    })?;
    // Generated from the profile exactly as a later `validate` reads it back
    // from the record.
    let text = serde_json::to_string(&profile).map_err(|e| HostError::unknown(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| HostError::unknown(e.to_string()))
}

/// Properties as a comparison sees them: numbers as numbers whatever their
/// JSON form, dates as instants, empty text the same as absent (Weaviate
/// may drop it).
fn comparable(props: &Value) -> BTreeMap<String, Value> {
    props
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !(v.is_null() || v.as_str() == Some("")))
        .map(|(k, v)| {
            let v = match v {
                Value::Number(n) => json!(n.as_f64()),
                Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                    Ok(t) => json!(t.timestamp_millis()),
                    Err(_) => v.clone(),
                },
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Regenerate a dataset from its seed and compare every object in the
/// collection: missing, extra, changed; then every replica of every object.
pub fn validate(ctx: &Context, collection: &str, replicas: bool) -> HostResult<Value> {
    let d = dataset_in(ctx, collection)?;
    let shape = d.shape()?;
    let have: BTreeMap<String, Value> = read_all(ctx, collection)?
        .into_iter()
        .filter_map(|o| Some((o["id"].as_str()?.to_string(), o["properties"].clone())))
        .collect();
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    let mut expected = std::collections::BTreeSet::new();
    for i in 0..d.count {
        if i % 1000 == 0 {
            check_interrupt()?;
        }
        let id = shape.object_id(d.seed, i);
        let want = comparable(&Value::Object(shape.object(d.seed, i)));
        match have.get(&id) {
            None => missing.push(id.clone()),
            Some(got) => {
                let got = comparable(got);
                if got != want {
                    let fields: Vec<&String> = want
                        .keys()
                        .chain(got.keys())
                        .filter(|k| want.get(*k) != got.get(*k))
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    changed.push(json!({"id": id, "record": i, "fields": fields}));
                }
            }
        }
        expected.insert(id);
    }
    let extra: Vec<&String> = have.keys().filter(|id| !expected.contains(*id)).collect();
    let disagreeing = if replicas {
        replica_disagreements(ctx, collection, have.keys().cloned().collect())?
    } else {
        Vec::new()
    };
    let ok = missing.is_empty() && changed.is_empty() && extra.is_empty() && disagreeing.is_empty();
    Ok(json!({
        "collection": collection,
        "ok": ok,
        "records": d.count,
        "objects": have.len(),
        "missing": missing,
        "extra": extra,
        "changed": changed,
        "replicas_checked": replicas,
        "replicas_disagree": disagreeing,
    }))
}

/// Objects whose copies differ between nodes (or are missing on one): each
/// object read from every node with a node-targeted read.
fn replica_disagreements(
    ctx: &Context,
    collection: &str,
    ids: Vec<String>,
) -> HostResult<Vec<Value>> {
    let specs = ctx.config.weaviate.node_specs();
    let clients: Vec<WeaviateClient> = specs
        .iter()
        .map(|s| WeaviateClient::in_context(ctx, s))
        .collect();
    let mut out = Vec::new();
    for group in ids.chunks(64) {
        check_interrupt()?;
        let reads = ctx.block_on(futures_util::future::join_all(group.iter().map(|id| {
            let clients = &clients;
            let specs = &specs;
            async move {
                let mut copies = Vec::new();
                for (c, s) in clients.iter().zip(specs.iter()) {
                    let o = c.object(collection, id, Some(&s.name), None).await;
                    copies.push((s.name.clone(), o));
                }
                (id.clone(), copies)
            }
        })));
        for (id, copies) in reads {
            let mut seen: Vec<(String, Option<BTreeMap<String, Value>>)> = Vec::new();
            for (node, o) in copies {
                // An unreachable node is not a disagreement of replicas.
                let Ok(o) = o else { continue };
                seen.push((node, o.map(|o| comparable(&o["properties"]))));
            }
            if seen.windows(2).any(|w| w[0].1 != w[1].1) {
                let on: Vec<&String> = seen
                    .iter()
                    .filter(|(_, o)| o.is_some())
                    .map(|(n, _)| n)
                    .collect();
                out.push(json!({"id": id, "present_on": on}));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Ndjson,
    Csv,
}

impl ExportFormat {
    pub const NAMES: [&'static str; 3] = ["json", "ndjson", "csv"];
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "json" => Some(ExportFormat::Json),
            "ndjson" => Some(ExportFormat::Ndjson),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }
}

/// The version of the export header; import refuses another.
pub const EXPORT_VERSION: u64 = 1;

/// What an export says about itself, for `import`: the first line of NDJSON,
/// the fields beside `objects` in JSON. The dataset record leaves out
/// `created` (an import records its own), and the definition its name and,
/// for a dataset, the description that holds the record; so two collections
/// of one dataset export the same bytes apart from `collection`.
fn export_header(collection: &str, class: &Value, objects: usize, vectors: bool) -> Value {
    let mut schema = class.clone();
    let dataset = dataset_of(class).map(|d| {
        let mut v = json!(d);
        if let Some(m) = v.as_object_mut() {
            m.shift_remove("created");
        }
        v
    });
    if let Some(m) = schema.as_object_mut() {
        m.shift_remove("class");
        if dataset.is_some() {
            m.shift_remove("description");
        }
    }
    json!({
        "elysiactl_export": EXPORT_VERSION,
        "collection": collection,
        "count": objects,
        "vectors": vectors,
        "dataset": dataset,
        "schema": schema,
    })
}

/// A collection's objects as text, in ID order, `{id, properties, vector}`
/// each (vector only where the object has one). NDJSON: the export header
/// (see `export_header`) on the first line, then an object a line; JSON:
/// the header's fields and `objects`, an array; CSV: an id column, then a
/// column per property in schema order, lists as JSON text, no vectors and
/// no header (so not importable).
pub fn export(
    ctx: &Context,
    collection: &str,
    format: ExportFormat,
) -> HostResult<(String, usize)> {
    let class = find_class(ctx, collection)?.ok_or_else(|| {
        HostError::validation(format!("no collection named {collection}"))
            .with_hint("see the collections with `elysiactl status` or `test-data list`")
    })?;
    let with_vectors = format != ExportFormat::Csv;
    let objects: Vec<Value> = read_first(ctx, collection, usize::MAX, with_vectors)?
        .into_iter()
        .map(|o| {
            let mut e = json!({"id": o["id"], "properties": o["properties"]});
            if o["vector"].as_array().is_some_and(|v| !v.is_empty()) {
                e["vector"] = o["vector"].clone();
            }
            e
        })
        .collect();
    let n = objects.len();
    let vectors = objects.iter().any(|o| o.get("vector").is_some());
    let text = match format {
        ExportFormat::Json => {
            let mut all = export_header(collection, &class, n, vectors);
            all["objects"] = Value::Array(objects);
            serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
        }
        ExportFormat::Ndjson => std::iter::once(export_header(collection, &class, n, vectors))
            .chain(objects)
            .map(|o| o.to_string() + "\n")
            .collect(),
        ExportFormat::Csv => {
            let columns: Vec<String> = class["properties"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            let mut out = String::new();
            let header: Vec<String> = std::iter::once("id".to_string())
                .chain(columns.iter().cloned())
                .collect();
            out.push_str(&csv_line(&header));
            for o in &objects {
                let mut cells = vec![o["id"].as_str().unwrap_or_default().to_string()];
                for c in &columns {
                    cells.push(match &o["properties"][c] {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                }
                out.push_str(&csv_line(&cells));
            }
            out
        }
    };
    Ok((text, n))
}

/// One CSV record (RFC 4180): a cell with a comma, quote or line break is
/// quoted, its quotes doubled.
fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    quoted.join(",") + "\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: u64) -> GenerateOptions {
        GenerateOptions {
            shape: Shape::Fixed(Pattern::Synthetic),
            seed,
            count: 50,
            collection: "T".into(),
            dims: Some(8),
            embedder: None,
            factor: 1,
        }
    }

    #[test]
    fn a_seed_gives_one_fingerprint_and_another_seed_another() {
        let a = describe(&options(42));
        assert_eq!(a.fingerprint, describe(&options(42)).fingerprint);
        assert_ne!(a.fingerprint, describe(&options(43)).fingerprint);
        let mut no_vectors = options(42);
        no_vectors.dims = None;
        assert_ne!(a.fingerprint, describe(&no_vectors).fingerprint);
        assert_eq!(a.vectors, "seeded");
        assert!(a.bytes > 50 * 100, "{}", a.bytes);
    }

    #[test]
    fn only_a_recorded_description_makes_a_test_dataset() {
        let d = describe(&options(1));
        let def = class_definition("T", &Shape::Fixed(Pattern::Synthetic), &d, 1);
        assert_eq!(dataset_of(&def), Some(d));
        assert_eq!(
            dataset_of(&json!({"description": "Source code chunks"})),
            None
        );
        assert_eq!(
            dataset_of(&json!({"description": format!("{MARK}not json")})),
            None
        );
        assert_eq!(dataset_of(&json!({})), None);
    }

    #[test]
    fn comparison_ignores_the_form_of_numbers_dates_and_empty_text() {
        let a = json!({"n": 0.0, "at": "2026-01-01T00:00:00Z", "q": "", "t": "x"});
        let b = json!({"n": 0, "at": "2026-01-01T00:00:00.000Z", "t": "x"});
        assert_eq!(comparable(&a), comparable(&b));
        assert_ne!(comparable(&a), comparable(&json!({"n": 1, "t": "x"})));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let line = csv_line(&["a".into(), "b,c".into(), "say \"hi\"".into(), "x\ny".into()]);
        assert_eq!(line, "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\r\n");
    }
}
