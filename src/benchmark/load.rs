//! An open-model load generator: requests start at a target arrival rate
//! whatever the server does, so a slow server cannot throttle the offered
//! load and hide its latency (the coordinated-omission trap of closed-loop
//! tools). Latency is measured from when a request was due, not from when
//! it could be sent. A request due while `max_in_flight` are open is not
//! sent and is counted as dropped: the generator never queues silently.
//! Benchmarks and the load of chaos scenarios both run through here.

use crate::base::cancel::check_interrupt;
use crate::base::config::NodeSpec;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::grpc::{GrpcBatchClient, Search, SearchQuery};
use crate::clients::weaviate::{Consistency, WeaviateClient};
use crate::testdata::patterns::Pattern;
use crate::testdata::{object_id, Dataset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// An object by ID.
    Get,
    /// Keyword search (BM25) on the payload.
    Bm25,
    /// The 10 nearest neighbours of a stored vector.
    NearVector,
    /// Objects matching a range filter on an int property.
    Filtered,
    /// A new object written (into a scratch collection).
    Insert,
    /// A PATCH of an object of the scratch collection seeded for it.
    Update,
    /// A DELETE of an object of the scratch collection seeded for it.
    Delete,
    /// Hybrid search: BM25 and the vector of a stored object, fused.
    Hybrid,
    /// `BATCH` new objects in one gRPC batch (into the scratch collection).
    BatchInsert,
    /// `BATCH` seeded objects of the scratch collection in one batch delete.
    BatchDelete,
}

/// Objects in one `batch_insert` or `batch_delete`.
pub const BATCH: u64 = 20;

/// Objects seeded for `update` to change, in turn, so that two updates
/// of one object are rarely in flight at once.
const UPDATE_TARGETS: u64 = 100;

/// What the IDs of each kind of scratch object are derived from (with the
/// dataset's seed), so that no two kinds share an ID.
const INSERT_SALT: u64 = 0xbe9c;
const BATCH_SALT: u64 = 0xba7c_be9c;
const UPDATE_SALT: u64 = 0x0bda_7e00;
const DELETE_SALT: u64 = 0xde1e_7e00;

impl Operation {
    pub const NAMES: [&'static str; 10] = [
        "get",
        "bm25",
        "near_vector",
        "filtered",
        "insert",
        "update",
        "delete",
        "hybrid",
        "batch_insert",
        "batch_delete",
    ];

    pub fn parse(s: &str) -> Option<Operation> {
        Some(match s {
            "get" => Operation::Get,
            "bm25" => Operation::Bm25,
            "near_vector" => Operation::NearVector,
            "filtered" => Operation::Filtered,
            "insert" => Operation::Insert,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            "hybrid" => Operation::Hybrid,
            "batch_insert" => Operation::BatchInsert,
            "batch_delete" => Operation::BatchDelete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Operation::NAMES[self as usize]
    }

    /// Whether it writes (to the scratch collection, never the dataset).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Operation::Insert
                | Operation::Update
                | Operation::Delete
                | Operation::BatchInsert
                | Operation::BatchDelete
        )
    }
}

/// A load to offer: `rate` requests a second for `duration` after `warmup`
/// (whose requests are sent but not recorded), drawn from `mix`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSpec {
    pub collection: String,
    pub rate: f64,
    #[serde(with = "seconds")]
    pub duration: Duration,
    #[serde(with = "seconds")]
    pub warmup: Duration,
    /// At most this many requests open at once (`concurrency` as scripts
    /// and saved runs name it).
    #[serde(rename = "concurrency")]
    pub max_in_flight: usize,
    /// Operation → weight.
    pub mix: BTreeMap<Operation, u32>,
    pub consistency: String,
    pub seed: u64,
    /// The nodes requests go to, by index, in turn (empty: every node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<usize>,
    /// How queries (bm25, near_vector, filtered) are asked. A run saved
    /// without it asked GraphQL, and a comparison with it must too.
    #[serde(default)]
    pub protocol: Protocol,
    /// A rate that changes over the run (empty: `rate` throughout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
}

/// The protocol of a load's queries: gRPC, as the official clients search,
/// or GraphQL over REST (what runs saved before gRPC measured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Grpc,
    #[default]
    Graphql,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "grpc" => Some(Protocol::Grpc),
            "graphql" => Some(Protocol::Graphql),
            _ => None,
        }
    }
}

/// One stage of a rate profile, as k6 writes them: over `seconds` the rate
/// moves in a straight line from where the previous stage left it (the
/// spec's `rate` for the first) to `rate`. A stage of zero seconds is a
/// step. The profile's clock starts with the warm-up; after the last stage
/// its rate holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub seconds: f64,
    pub rate: f64,
}

/// The lowest rate a profile offers: a ramp from zero must still start.
const MIN_RATE: f64 = 0.1;

impl LoadSpec {
    /// How many requests the load makes due, warm-up included: its rate
    /// profile followed as `offer` follows it.
    pub fn requests_due(&self) -> u64 {
        let end = (self.warmup + self.duration).as_secs_f64();
        let (mut at, mut n) = (0.0, 0u64);
        while at < end {
            n += 1;
            at += 1.0 / self.rate_at(at);
        }
        n
    }

    /// The offered rate `t` seconds after the load started (warm-up included).
    pub fn rate_at(&self, t: f64) -> f64 {
        let (mut from, mut start) = (self.rate, 0.0);
        for st in &self.stages {
            let end = start + st.seconds;
            if t < end {
                let f = (t - start) / st.seconds;
                return (from + (st.rate - from) * f).max(MIN_RATE);
            }
            (from, start) = (st.rate, end);
        }
        from.max(MIN_RATE)
    }
}

/// A duration as seconds, the way scripts and saved runs give it back.
mod seconds {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// One recorded request, saved as `[op, start_us, latency_us, ok]`: when
/// it was due (µs after the measured part began), how long until it was
/// answered (or failed), whether it succeeded. Reports plot latency and
/// throughput over time from these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Request(pub Operation, pub u64, pub u64, pub bool);

/// The raw outcome of a run: every recorded latency per operation (so a
/// comparison can test the samples, not only their percentiles), errors
/// and drops, and what the generator itself cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    pub spec: LoadSpec,
    /// Microseconds from due time to answer, in order of completion.
    pub latencies_us: BTreeMap<Operation, Vec<u64>>,
    pub errors: BTreeMap<Operation, u64>,
    /// Every recorded request, in order of due time.
    #[serde(default)]
    pub requests: Vec<Request>,
    pub first_errors: Vec<String>,
    pub dropped: u64,
    pub sent: u64,
    pub seconds: f64,
    /// The generator's own CPU seconds (user + system) over the run.
    pub generator_cpu_s: f64,
    /// IDs of the inserts (single and batch) Weaviate acknowledged, for a
    /// chaos run to look for afterwards (not saved with benchmark runs).
    #[serde(skip)]
    pub acknowledged: Vec<String>,
}

impl LoadResult {
    pub fn summary(&self) -> Value {
        let mut ops = serde_json::Map::new();
        for (op, lat) in &self.latencies_us {
            let errors = self.errors.get(op).copied().unwrap_or(0);
            let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("valid precision");
            for &l in lat {
                let _ = h.record(l.max(1));
            }
            let ms = |q: f64| (h.value_at_quantile(q) as f64 / 100.0).round() / 10.0;
            let total = lat.len() as u64 + errors;
            ops.insert(
                op.as_str().into(),
                json!({
                    "count": lat.len(), "errors": errors,
                    "error_rate": if total == 0 { 0.0 } else { errors as f64 / total as f64 },
                    "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
                    "max_ms": (h.max() as f64 / 100.0).round() / 10.0,
                    "throughput": (lat.len() as f64 / self.seconds.max(1e-9) * 10.0).round() / 10.0,
                }),
            );
        }
        json!({
            "operations": ops, "sent": self.sent, "dropped": self.dropped,
            "offered_rate": self.spec.rate,
            "offered_mean_rate": ((self.sent + self.dropped) as f64 / self.seconds.max(1e-9) * 10.0).round() / 10.0,
            "seconds": (self.seconds * 100.0).round() / 100.0,
            "generator_cpu_s": (self.generator_cpu_s * 100.0).round() / 100.0,
            "generator_cpu_share": (self.generator_cpu_s / self.seconds.max(1e-9) * 1000.0).round() / 1000.0,
            "first_errors": self.first_errors,
        })
    }
}

pub fn check_spec(s: &LoadSpec) -> HostResult<()> {
    if !(s.rate > 0.0 && s.rate <= 100_000.0) {
        return Err(
            HostError::validation(format!("rate {} is out of range", s.rate))
                .with_hint("give 0.1 to 100000 requests a second"),
        );
    }
    if let Some(st) = s.stages.iter().find(|st| {
        !(st.seconds >= 0.0 && st.seconds.is_finite() && (0.0..=100_000.0).contains(&st.rate))
    }) {
        return Err(HostError::validation(format!(
            "stage {{seconds: {}, rate: {}}} is out of range",
            st.seconds, st.rate
        ))
        .with_hint(
            "a stage lasts zero or more seconds and ends at a rate of 0 to 100000 a second",
        ));
    }
    if s.duration.is_zero() {
        return Err(HostError::validation("a load needs a duration above zero")
            .with_hint("e.g. --duration 30s"));
    }
    if s.mix.values().all(|w| *w == 0) {
        return Err(
            HostError::validation("the operation mix is empty").with_hint(format!(
                "weigh at least one of {}",
                Operation::NAMES.join(", ")
            )),
        );
    }
    if s.max_in_flight == 0 {
        return Err(
            HostError::validation("max in-flight requests must be at least 1")
                .with_hint("e.g. --concurrency 64"),
        );
    }
    Ok(())
}

/// This process's CPU time so far (all threads, user and system).
fn cpu_seconds() -> f64 {
    let ticks = procfs::ticks_per_second() as f64;
    procfs::process::Process::myself()
        .and_then(|p| p.stat())
        .map(|st| (st.utime + st.stime) as f64 / ticks)
        .unwrap_or(0.0)
}

/// What each request needs, prepared once: the dataset's IDs and vectors
/// are regenerated from its seed, so no request waits on a lookup.
struct Workload {
    collection: String,
    scratch: String,
    pattern: Pattern,
    dataset: Dataset,
    clients: Vec<WeaviateClient>,
    /// gRPC clients of the same nodes, in `clients`' order: made when
    /// queries go by gRPC or `batch_insert` runs.
    grpc: Vec<GrpcBatchClient>,
    /// How queries are asked.
    protocol: Protocol,
    consistency: Consistency,
    /// The dataset's replication factor; the scratch collection has it too.
    factor: usize,
    acknowledged: Mutex<Vec<String>>,
    /// Requests issued by earlier offers of this load (a stress run's
    /// steps): numbering goes on, so inserts never reuse an ID.
    issued: AtomicU64,
    /// Updates so far: the next one changes target `updates % UPDATE_TARGETS`.
    updates: AtomicU64,
    /// Objects seeded for deletes, and how many are taken: each delete
    /// takes its own, so every delete is of an object known to be there.
    doomed: u64,
    doomed_taken: AtomicU64,
}

impl Workload {
    async fn one(&self, op: Operation, n: u64, rng: &mut ChaCha8Rng) -> HostResult<()> {
        let c = &self.clients[n as usize % self.clients.len()];
        let record = rng.gen_range(0..self.dataset.count);
        let class = &self.collection;
        match op {
            Operation::Get => {
                let id = object_id(self.pattern, self.dataset.seed, record);
                c.object(class, &id, None, Some(self.consistency))
                    .await?
                    .ok_or_else(|| HostError::weaviate(format!("object {id} is missing")))?;
            }
            Operation::Bm25 => {
                let words = self.pattern.object(self.dataset.seed, record);
                let text = words[self.pattern.text_property()].as_str().unwrap_or("");
                let query: Vec<&str> = text.split_whitespace().take(2).collect();
                self.search(n, SearchQuery::Bm25(query.join(" "))).await?;
            }
            Operation::NearVector => {
                let v = self
                    .pattern
                    .vector(self.dataset.seed, record, self.dataset.dims.max(1));
                self.search(n, SearchQuery::NearVector(v)).await?;
            }
            Operation::Filtered => {
                let (prop, lo) = self.filter_property(record);
                let q = SearchQuery::IntBelow {
                    property: prop.to_string(),
                    value: lo,
                };
                self.search(n, q).await?;
            }
            Operation::Insert => {
                let o = self.scratch_object(INSERT_SALT, n);
                c.insert_object(&o, self.consistency).await?;
                let id = o["id"].as_str().unwrap_or_default().to_string();
                self.acknowledged.lock().unwrap().push(id);
            }
            Operation::Hybrid => {
                let words = self.pattern.object(self.dataset.seed, record);
                let text = words[self.pattern.text_property()].as_str().unwrap_or("");
                let query: Vec<&str> = text.split_whitespace().take(2).collect();
                // The collections have no vectorizer: the vector half of
                // the search is a stored object's vector.
                let v = self
                    .pattern
                    .vector(self.dataset.seed, record, self.dataset.dims.max(1));
                let q = SearchQuery::Hybrid {
                    query: query.join(" "),
                    vector: v,
                    alpha: 0.5,
                };
                self.search(n, q).await?;
            }
            Operation::Update => {
                let i = self.updates.fetch_add(1, Ordering::Relaxed) % UPDATE_TARGETS;
                let id = object_id(self.pattern, self.dataset.seed ^ UPDATE_SALT, i);
                let fresh = self.pattern.object(self.dataset.seed ^ UPDATE_SALT, n);
                let props = json!({"payload": fresh["payload"], "n": n});
                if !c
                    .patch_object(&self.scratch, &id, &props, self.consistency)
                    .await?
                {
                    return Err(HostError::weaviate(format!(
                        "object {id} to update is missing (it was written at ALL before the run)"
                    )));
                }
            }
            Operation::Delete => {
                let i = self.take_doomed(1)?;
                let id = object_id(self.pattern, self.dataset.seed ^ DELETE_SALT, i);
                if !c
                    .delete_object_at(&self.scratch, &id, self.consistency)
                    .await?
                {
                    return Err(HostError::weaviate(format!(
                        "object {id} to delete was not there (it was written at ALL before the run)"
                    )));
                }
            }
            Operation::BatchInsert => {
                let objects: Vec<Value> = (0..BATCH)
                    .map(|k| self.scratch_object(BATCH_SALT, n * BATCH + k))
                    .collect();
                let g = &self.grpc[n as usize % self.grpc.len()];
                let refused = g.batch_objects(&objects, self.consistency).await?;
                if let Some(first) = refused.iter().flatten().next() {
                    let count = refused.iter().flatten().count();
                    return Err(HostError::weaviate(format!(
                        "{count} of {BATCH} objects of a batch refused: {first}"
                    )));
                }
                self.acknowledged.lock().unwrap().extend(
                    objects
                        .iter()
                        .map(|o| o["id"].as_str().unwrap_or_default().to_string()),
                );
            }
            Operation::BatchDelete => {
                let from = self.take_doomed(BATCH)?;
                let ids: Vec<String> = (from..from + BATCH)
                    .map(|i| object_id(self.pattern, self.dataset.seed ^ DELETE_SALT, i))
                    .collect();
                let d = c
                    .batch_delete_ids(&self.scratch, &ids, self.consistency)
                    .await?;
                if d.successful != BATCH || d.failed > 0 {
                    return Err(HostError::weaviate(format!(
                        "a batch delete of {BATCH} objects known to be there: {} matched, {} deleted, {} failed",
                        d.matches, d.successful, d.failed
                    )));
                }
            }
        }
        Ok(())
    }

    /// A query of the dataset, ten results, through the node whose turn
    /// request `n` is, by the load's protocol.
    async fn search(&self, n: u64, query: SearchQuery) -> HostResult<()> {
        let node = n as usize % self.clients.len();
        let found = match self.protocol {
            Protocol::Grpc => {
                let s = Search {
                    collection: self.collection.clone(),
                    query,
                    limit: 10,
                    consistency: Some(self.consistency),
                };
                self.grpc[node].search(&s).await?.len()
            }
            Protocol::Graphql => {
                let class = &self.collection;
                // GraphQL has the argument on replicated collections only.
                let at = (self.factor > 1).then_some(self.consistency);
                let v = self.clients[node]
                    .graphql(&graphql_of(class, &query, at))
                    .await?;
                v["Get"][class].as_array().map_or(0, Vec::len)
            }
        };
        // Every query is drawn from an object it matches: an empty answer
        // is a wrong one, not a fast one.
        if found == 0 {
            return Err(HostError::weaviate(format!(
                "a query of {} found nothing, though the object it was drawn from matches it",
                self.collection
            )));
        }
        Ok(())
    }

    /// Object `i` of a kind (`salt`) of the scratch collection: a `load`
    /// object with the dataset's vector length, as an insert sends it.
    fn scratch_object(&self, salt: u64, i: u64) -> Value {
        let seed = self.dataset.seed ^ salt;
        let mut o = json!({"class": self.scratch, "id": object_id(self.pattern, seed, i),
            "properties": self.pattern.object(seed, i)});
        if self.dataset.dims > 0 {
            o["vector"] = json!(self.pattern.vector(seed, i, self.dataset.dims));
        }
        o
    }

    /// The first of `k` seeded objects no other delete has taken.
    fn take_doomed(&self, k: u64) -> HostResult<u64> {
        let from = self.doomed_taken.fetch_add(k, Ordering::Relaxed);
        if from + k > self.doomed {
            return Err(HostError::validation(format!(
                "no object left to delete: all {} seeded before the run are taken",
                self.doomed
            ))
            .with_hint("the pool is sized for --rate over --warmup and --duration; report this"));
        }
        Ok(from)
    }

    /// An int property of the pattern and a bound that keeps some objects.
    fn filter_property(&self, record: u64) -> (&'static str, i64) {
        let prop = self
            .pattern
            .properties()
            .iter()
            .find(|(_, t)| *t == "int")
            .map(|(n, _)| *n)
            .unwrap_or("n");
        let o = self.pattern.object(self.dataset.seed, record);
        (prop, o[prop].as_i64().unwrap_or(0) + 1)
    }
}

/// The query as GraphQL asks it, IDs only: the protocol of runs saved
/// before queries went over gRPC; at a consistency level when `at`.
fn graphql_of(class: &str, q: &SearchQuery, at: Option<Consistency>) -> String {
    let arg = match q {
        SearchQuery::Bm25(text) => format!("bm25: {{query: {text:?}}}"),
        SearchQuery::NearVector(v) => format!(
            "nearVector: {{vector: {}}}",
            serde_json::to_string(v).unwrap_or_default()
        ),
        SearchQuery::Hybrid {
            query,
            vector,
            alpha,
        } => format!(
            "hybrid: {{query: {query:?}, vector: {}, alpha: {alpha}}}",
            serde_json::to_string(vector).unwrap_or_default()
        ),
        SearchQuery::IntBelow { property, value } => {
            format!("where: {{path: [\"{property}\"], operator: LessThan, valueInt: {value}}}")
        }
    };
    let at = at.map_or(String::new(), |c| {
        format!(", consistencyLevel: {}", c.as_str())
    });
    format!("{{ Get {{ {class}({arg}, limit: 10{at}) {{ _additional {{ id }} }} }} }}")
}

fn consistency_of(name: &str) -> HostResult<Consistency> {
    Consistency::parse(name).ok_or_else(|| {
        HostError::validation(format!("unknown consistency level {name:?}"))
            .with_hint("use ONE, QUORUM or ALL")
    })
}

/// Offer the load to the cluster and record what happened. The dataset is
/// the test dataset in `spec.collection`, only read; writes go to a
/// scratch collection `<collection>Writes`, removed afterwards.
pub fn run(
    ctx: &Context,
    spec: &LoadSpec,
    dataset: Dataset,
    progress: Option<i64>,
) -> HostResult<LoadResult> {
    run_with(ctx, spec, dataset, progress, false)
}

/// The scratch collection a run's writes go to.
pub fn scratch_of(spec: &LoadSpec) -> String {
    format!("{}Writes", spec.collection)
}

/// `run`; with `keep_writes` the scratch collection stays, so that a chaos
/// run can look for every acknowledged insert (`missing`), then drop it.
pub fn run_with(
    ctx: &Context,
    spec: &LoadSpec,
    dataset: Dataset,
    progress: Option<i64>,
    keep_writes: bool,
) -> HostResult<LoadResult> {
    let load = prepare(ctx, spec, dataset)?;
    load.offer(ctx, spec, progress, keep_writes)
}

/// A load ready to offer: its clients made and the scratch collection for
/// its writes created and seeded, so that whatever runs beside it (a chaos method)
/// cannot take a node away before it is set up.
pub struct Prepared {
    work: Arc<Workload>,
    writes: bool,
}

/// At most how many of `n` requests pick an operation drawn with
/// probability `p`: the mean and five standard deviations (and a few
/// more), which a seeded draw exceeds with odds far below one in a million.
fn at_most(n: u64, p: f64) -> u64 {
    if p <= 0.0 {
        return 0;
    }
    let mean = n as f64 * p;
    let bound = mean + 5.0 * (mean * (1.0 - p)).sqrt() + 5.0;
    (bound.ceil() as u64).min(n)
}

/// How many objects to seed for the deletes of a load: enough for every
/// `delete` and `batch_delete` it can draw, so none finds nothing to delete.
pub fn doomed_needed(spec: &LoadSpec) -> u64 {
    let total: u32 = spec.mix.values().sum();
    if total == 0 {
        return 0;
    }
    let p = |op| spec.mix.get(&op).copied().unwrap_or(0) as f64 / total as f64;
    let n = spec.requests_due() + 1;
    at_most(n, p(Operation::Delete)) + BATCH * at_most(n, p(Operation::BatchDelete))
}

/// Check the spec, make the clients, create the scratch collection (with
/// the dataset's replication factor) and seed it with what updates and
/// deletes need.
pub fn prepare(ctx: &Context, spec: &LoadSpec, dataset: Dataset) -> HostResult<Prepared> {
    check_spec(spec)?;
    let pattern = Pattern::parse(&dataset.pattern)
        .ok_or_else(|| HostError::validation(format!("unknown pattern {:?}", dataset.pattern)))?;
    let consistency = consistency_of(&spec.consistency)?;
    let scratch = scratch_of(spec);
    let specs = load_specs(ctx, &spec.nodes)?;
    let clients: Vec<WeaviateClient> = specs
        .iter()
        .map(|s| WeaviateClient::in_context(ctx, s))
        .collect();
    let weighs = |op: Operation| spec.mix.get(&op).is_some_and(|w| *w > 0);
    let writes = spec.mix.iter().any(|(op, w)| op.writes() && *w > 0);
    let grpc = if spec.protocol == Protocol::Grpc || weighs(Operation::BatchInsert) {
        // tonic's channels start their workers on the current runtime.
        let _in_runtime = ctx.rt.enter();
        specs
            .iter()
            .map(|s| {
                GrpcBatchClient::for_node(s, &ctx.config.weaviate.api_key, Duration::from_secs(60))
            })
            .collect::<HostResult<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let doomed = doomed_needed(spec);
    let factor = ctx
        .block_on(clients[0].get_class(&spec.collection))
        .ok()
        .and_then(|d| d["replicationConfig"]["factor"].as_u64())
        .map(|f| f as usize)
        .unwrap_or_else(|| ctx.config.weaviate.expected_replication_factor());
    let work = Arc::new(Workload {
        collection: spec.collection.clone(),
        scratch,
        pattern,
        dataset,
        clients,
        grpc,
        protocol: spec.protocol,
        consistency,
        factor,
        acknowledged: Mutex::new(Vec::new()),
        issued: AtomicU64::new(0),
        updates: AtomicU64::new(0),
        doomed,
        doomed_taken: AtomicU64::new(0),
    });
    if writes {
        create_scratch(ctx, &work)?;
        let mut seeds: Vec<Value> = Vec::new();
        if weighs(Operation::Update) {
            seeds.extend((0..UPDATE_TARGETS).map(|i| work.scratch_object(UPDATE_SALT, i)));
        }
        seeds.extend((0..doomed).map(|i| work.scratch_object(DELETE_SALT, i)));
        seed_scratch(ctx, &work, &seeds)?;
    }
    Ok(Prepared { work, writes })
}

/// The scratch collection, made again, replicated like the dataset so
/// that writes pay what the dataset's factor costs.
fn create_scratch(ctx: &Context, work: &Workload) -> HostResult<()> {
    let c = &work.clients[0];
    let props: Vec<Value> = work
        .pattern
        .properties()
        .iter()
        .map(|(n, t)| json!({"name": n, "dataType": [t]}))
        .collect();
    let def = json!({"class": work.scratch, "vectorizer": "none",
        "description": "elysiactl benchmark scratch collection, removed after the run",
        "replicationConfig": {"factor": work.factor},
        "properties": props});
    let _ = ctx.block_on(c.delete_class(&work.scratch));
    ctx.block_on(c.create_class(&def))?;
    Ok(())
}

/// Write the objects updates and deletes will find, at ALL, so that a
/// request at any level finds them on every replica.
fn seed_scratch(ctx: &Context, work: &Workload, objects: &[Value]) -> HostResult<()> {
    for chunk in objects.chunks(500) {
        check_interrupt()?;
        let refused = ctx.block_on(work.clients[0].batch_objects(chunk, Consistency::All))?;
        if let Some(first) = refused.iter().flatten().next() {
            return Err(HostError::weaviate(format!(
                "Weaviate refused objects seeded for the load's updates and deletes: {first}"
            ))
            .with_hint("check `elysiactl health --cluster`"));
        }
    }
    Ok(())
}

impl Prepared {
    /// Offer the load and record what happened; the scratch collection is
    /// removed afterwards unless `keep_writes`.
    pub fn offer(
        self,
        ctx: &Context,
        spec: &LoadSpec,
        progress: Option<i64>,
        keep_writes: bool,
    ) -> HostResult<LoadResult> {
        let result = self.offer_step(ctx, spec, progress);
        if !keep_writes {
            self.finish(ctx);
        }
        result
    }

    /// Offer one load of a series (a stress run's steps) through the same
    /// clients and scratch collection; `finish` removes the collection.
    pub fn offer_step(
        &self,
        ctx: &Context,
        spec: &LoadSpec,
        progress: Option<i64>,
    ) -> HostResult<LoadResult> {
        check_spec(spec)?;
        let work = self.work.clone();
        ctx.block_on(offer(ctx, spec, work.clone(), progress))
            .map(|mut r| {
                r.acknowledged = std::mem::take(&mut *work.acknowledged.lock().unwrap());
                r
            })
    }

    /// Remove the scratch collection of the inserts.
    pub fn finish(self, ctx: &Context) {
        if self.writes {
            let _ = ctx.block_on(
                WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0))
                    .delete_class(&self.work.scratch),
            );
        }
    }
}

async fn offer(
    ctx: &Context,
    spec: &LoadSpec,
    work: Arc<Workload>,
    progress: Option<i64>,
) -> HostResult<LoadResult> {
    let ops: Vec<(Operation, u32)> = spec.mix.iter().map(|(o, w)| (*o, *w)).collect();
    let total_weight: u32 = ops.iter().map(|(_, w)| w).sum();
    let first = work.issued.load(Ordering::Relaxed);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ first);
    let recorded = Arc::new(Mutex::new(BTreeMap::<Operation, Vec<u64>>::new()));
    let requests = Arc::new(Mutex::new(Vec::<Request>::new()));
    let errors = Arc::new(Mutex::new((
        BTreeMap::<Operation, u64>::new(),
        Vec::<String>::new(),
    )));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds();
    let start = tokio::time::Instant::now();
    let record_from = start + spec.warmup;
    let end = record_from + spec.duration;
    let mut tasks = tokio::task::JoinSet::new();
    let (mut sent, mut dropped) = (0u64, 0u64);
    let mut n: u64 = first;
    // Seconds after `start` the next request is due: each request is due
    // one interval of the rate at its predecessor's due time after it.
    let mut at = 0.0f64;
    loop {
        let due = start + Duration::from_secs_f64(at);
        if due >= end {
            break;
        }
        at += 1.0 / spec.rate_at(at);
        tokio::time::sleep_until(due).await;
        if n.is_multiple_of(64) {
            check_interrupt()?;
            if let Some(bar) = progress {
                let done = due.saturating_duration_since(start).as_secs();
                ctx.out.progress_set(bar, Some(done), None);
            }
        }
        // Reap what finished, so the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
        let pick = rng.gen_range(0..total_weight);
        let mut acc = 0;
        let op = ops
            .iter()
            .find(|(_, w)| {
                acc += w;
                pick < acc
            })
            .map(|(o, _)| *o)
            .unwrap_or(Operation::Get);
        let record = due >= record_from;
        n += 1;
        if in_flight.load(Ordering::Relaxed) >= spec.max_in_flight {
            if record {
                dropped += 1;
            }
            continue;
        }
        if record {
            sent += 1;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (work, recorded, requests, errors, in_flight) = (
            work.clone(),
            recorded.clone(),
            requests.clone(),
            errors.clone(),
            in_flight.clone(),
        );
        let start_us = due.saturating_duration_since(record_from).as_micros() as u64;
        let mut op_rng =
            ChaCha8Rng::seed_from_u64(spec.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let due_std = due.into_std();
        tasks.spawn(async move {
            let r = work.one(op, n, &mut op_rng).await;
            let us = due_std.elapsed().as_micros() as u64;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            if !record {
                return;
            }
            requests
                .lock()
                .unwrap()
                .push(Request(op, start_us, us, r.is_ok()));
            match r {
                Ok(()) => recorded.lock().unwrap().entry(op).or_default().push(us),
                Err(e) => {
                    let mut g = errors.lock().unwrap();
                    *g.0.entry(op).or_default() += 1;
                    if g.1.len() < 5 {
                        g.1.push(format!("{}: {}", op.as_str(), e.message));
                    }
                }
            }
        });
    }
    work.issued.store(n, Ordering::Relaxed);
    // Requests still open at the end are waited for: their latency counts.
    while tasks.join_next().await.is_some() {}
    let seconds = spec.duration.as_secs_f64();
    let mut latencies_us = std::mem::take(&mut *recorded.lock().unwrap());
    let (mut errs, first) = std::mem::take(&mut *errors.lock().unwrap());
    let mut requests = std::mem::take(&mut *requests.lock().unwrap());
    requests.sort_by_key(|r| r.1);
    for (op, _) in &ops {
        latencies_us.entry(*op).or_default();
        errs.entry(*op).or_default();
    }
    Ok(LoadResult {
        spec: spec.clone(),
        latencies_us,
        errors: errs,
        requests,
        first_errors: first,
        dropped,
        sent,
        seconds,
        generator_cpu_s: cpu_seconds() - cpu0,
        acknowledged: Vec::new(),
    })
}

/// One client a configured node, requests spread over them in turn.
fn node_clients(ctx: &Context) -> Vec<WeaviateClient> {
    ctx.config
        .weaviate
        .node_specs()
        .iter()
        .map(|s| WeaviateClient::in_context(ctx, s))
        .collect()
}

/// The nodes a load's requests go to: those asked for, or every node.
fn load_specs(ctx: &Context, nodes: &[usize]) -> HostResult<Vec<NodeSpec>> {
    let all = ctx.config.weaviate.node_specs();
    if nodes.is_empty() {
        return Ok(all);
    }
    nodes
        .iter()
        .map(|&i| {
            all.get(i).cloned().ok_or_else(|| {
                HostError::validation(format!(
                    "the load's nodes: there is no node {i} (the cluster has {})",
                    all.len()
                ))
                .with_hint(format!(
                    "give node indexes 0..{}",
                    all.len().saturating_sub(1)
                ))
            })
        })
        .collect()
}

/// What reading the acknowledged inserts back found.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// Not read back on any of three tries, each through another node:
    /// writes the cluster lost.
    pub lost: Vec<String>,
    /// Not found by the first read, found by a later one (through another
    /// node): a stale read, not a loss.
    pub found_late: Vec<String>,
}

/// Read every acknowledged insert back at `consistency`, each asked up to
/// three times through different nodes until it is found (an error or a
/// "not found" asks the next node).
pub fn missing(ctx: &Context, spec: &LoadSpec, acknowledged: &[String]) -> HostResult<ReadBack> {
    let consistency = consistency_of(&spec.consistency)?;
    let scratch = scratch_of(spec);
    let clients = node_clients(ctx);
    let mut back = ReadBack::default();
    for chunk in acknowledged.chunks(32) {
        // Per ID: the attempt that found it, if any.
        let found = ctx.block_on(futures_util::future::join_all(
            chunk.iter().enumerate().map(|(i, id)| {
                let (clients, scratch) = (&clients, &scratch);
                async move {
                    for attempt in 0..3 {
                        let c = &clients[(i + attempt) % clients.len()];
                        if let Ok(Some(_)) = c.object(scratch, id, None, Some(consistency)).await {
                            return Some(attempt);
                        }
                    }
                    None
                }
            }),
        ));
        check_interrupt()?;
        for (id, f) in chunk.iter().zip(found) {
            match f {
                None => back.lost.push(id.clone()),
                Some(0) => {}
                Some(_) => back.found_late.push(id.clone()),
            }
        }
    }
    Ok(back)
}

/// Remove the scratch collection a `run_with(.., true)` kept.
pub fn drop_writes(ctx: &Context, spec: &LoadSpec) {
    let c = WeaviateClient::in_context(ctx, &ctx.config.weaviate.node(0));
    let _ = ctx.block_on(c.delete_class(&scratch_of(spec)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_name_and_back() {
        for (i, name) in Operation::NAMES.iter().enumerate() {
            let op = Operation::parse(name).unwrap_or_else(|| panic!("{name} does not parse"));
            assert_eq!(op as usize, i);
            assert_eq!(op.as_str(), *name);
            // serde's name is the one the mix and saved runs use.
            assert_eq!(serde_json::to_value(op).unwrap(), json!(name));
        }
        assert_eq!(Operation::parse("upsert"), None);
        let writes: Vec<&str> = Operation::NAMES
            .iter()
            .filter(|n| Operation::parse(n).unwrap().writes())
            .copied()
            .collect();
        assert_eq!(
            writes,
            ["insert", "update", "delete", "batch_insert", "batch_delete"]
        );
    }

    fn spec(mix: &[(Operation, u32)], rate: f64, seconds: u64) -> LoadSpec {
        LoadSpec {
            collection: "C".into(),
            rate,
            duration: Duration::from_secs(seconds),
            warmup: Duration::from_secs(1),
            max_in_flight: 8,
            mix: mix.iter().copied().collect(),
            consistency: "QUORUM".into(),
            seed: 1,
            nodes: Vec::new(),
            protocol: Protocol::Grpc,
            stages: Vec::new(),
        }
    }

    #[test]
    fn the_pool_of_objects_to_delete_covers_every_delete_a_load_can_draw() {
        assert_eq!(doomed_needed(&spec(&[(Operation::Get, 1)], 50.0, 30)), 0);
        // Every request a delete: exactly the requests, no more.
        let all = spec(&[(Operation::Delete, 1)], 10.0, 9);
        // 10 s at 10/s; summing the 0.1 s intervals lands a hair short of
        // 10 s, so the schedule (offer's too) holds one more.
        assert_eq!(all.requests_due(), 101);
        assert_eq!(doomed_needed(&all), 102);
        // A rate profile counts as offered: 2 s at 10/s, then 2 s at 100/s.
        let mut stepped = spec(&[(Operation::Delete, 1)], 10.0, 3);
        stepped.stages = vec![
            Stage {
                seconds: 2.0,
                rate: 10.0,
            },
            Stage {
                seconds: 0.0,
                rate: 100.0,
            },
        ];
        assert!(
            (219..=221).contains(&stepped.requests_due()),
            "{}",
            stepped.requests_due()
        );
        // A tenth each, 31 s at 50/s: 1551 requests, about 155 of each.
        let s = spec(
            &[
                (Operation::Get, 8),
                (Operation::Delete, 1),
                (Operation::BatchDelete, 1),
            ],
            50.0,
            30,
        );
        let single = at_most(1551, 0.1);
        assert!(
            (155 + 5 * 11..=155 + 5 * 12 + 6).contains(&single),
            "{single}"
        );
        assert_eq!(doomed_needed(&s), single * (1 + BATCH));
        // The seeded draw of a long load stays under the bound.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let drawn = (0..100_000).filter(|_| rng.gen_range(0..10) == 0).count() as u64;
        assert!(drawn <= at_most(100_000, 0.1), "{drawn}");
        assert!(at_most(100_000, 0.1) < 11_000);
    }
}
