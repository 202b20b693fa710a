//! An open-model load generator: requests start at a target arrival rate
//! whatever the server does, so a slow server cannot throttle the offered
//! load and hide its latency (the coordinated-omission trap of closed-loop
//! tools). Latency is measured from when a request was due, not from when
//! it could be sent. A request due while `max_in_flight` are open is not
//! sent and is counted as dropped: the generator never queues silently.
//! Benchmarks and the load of chaos scenarios both run through here.

use crate::base::cancel::check_interrupt;
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
use std::sync::atomic::{AtomicUsize, Ordering};
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
}

impl Operation {
    pub const NAMES: [&'static str; 5] = ["get", "bm25", "near_vector", "filtered", "insert"];

    pub fn parse(s: &str) -> Option<Operation> {
        Some(match s {
            "get" => Operation::Get,
            "bm25" => Operation::Bm25,
            "near_vector" => Operation::NearVector,
            "filtered" => Operation::Filtered,
            "insert" => Operation::Insert,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Operation::NAMES[self as usize]
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
    /// IDs of the inserts Weaviate acknowledged, for a chaos run to look
    /// for afterwards (not saved with benchmark runs).
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
    /// One gRPC client a node in `clients`' order, when queries go by gRPC.
    grpc: Option<Vec<GrpcBatchClient>>,
    consistency: Consistency,
    acknowledged: Mutex<Vec<String>>,
    /// Requests issued by earlier offers of this load (a stress run's
    /// steps): numbering goes on, so inserts never reuse an ID.
    issued: std::sync::atomic::AtomicU64,
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
                let props = self.pattern.object(self.dataset.seed ^ 0xbe9c, n);
                let id = object_id(self.pattern, self.dataset.seed ^ 0xbe9c, n);
                let mut o = json!({"class": self.scratch, "id": id, "properties": props});
                if self.dataset.dims > 0 {
                    o["vector"] = json!(self.pattern.vector(
                        self.dataset.seed ^ 0xbe9c,
                        n,
                        self.dataset.dims
                    ));
                }
                c.insert_object(&o, self.consistency).await?;
                self.acknowledged.lock().unwrap().push(id);
            }
        }
        Ok(())
    }

    /// A query of the dataset, ten results, through the node whose turn
    /// request `n` is, by the load's protocol.
    async fn search(&self, n: u64, query: SearchQuery) -> HostResult<()> {
        let node = n as usize % self.clients.len();
        let found = match &self.grpc {
            Some(grpc) => {
                let s = Search {
                    collection: self.collection.clone(),
                    query,
                    limit: 10,
                    consistency: Some(self.consistency),
                };
                grpc[node].search(&s).await?.len()
            }
            None => {
                let class = &self.collection;
                let v = self.clients[node]
                    .graphql(&graphql_of(class, &query))
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
/// before queries went over gRPC. (GraphQL's Get takes no consistency level.)
fn graphql_of(class: &str, q: &SearchQuery) -> String {
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
    format!("{{ Get {{ {class}({arg}, limit: 10) {{ _additional {{ id }} }} }} }}")
}

fn consistency_of(name: &str) -> HostResult<Consistency> {
    Consistency::parse(name).ok_or_else(|| {
        HostError::validation(format!("unknown consistency level {name:?}"))
            .with_hint("use ONE, QUORUM or ALL")
    })
}

/// Offer the load to the cluster and record what happened. The dataset is
/// the test dataset in `spec.collection`; inserts go to a scratch
/// collection `<collection>Writes`, removed afterwards.
pub fn run(
    ctx: &Context,
    spec: &LoadSpec,
    dataset: Dataset,
    progress: Option<i64>,
) -> HostResult<LoadResult> {
    run_with(ctx, spec, dataset, progress, false)
}

/// The scratch collection a run's inserts go to.
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
/// its inserts created, so that whatever runs beside it (a chaos method)
/// cannot take a node away before it is set up.
pub struct Prepared {
    work: Arc<Workload>,
    writes: bool,
}

/// Check the spec, make the clients and create the scratch collection.
pub fn prepare(ctx: &Context, spec: &LoadSpec, dataset: Dataset) -> HostResult<Prepared> {
    check_spec(spec)?;
    let pattern = Pattern::parse(&dataset.pattern)
        .ok_or_else(|| HostError::validation(format!("unknown pattern {:?}", dataset.pattern)))?;
    let consistency = consistency_of(&spec.consistency)?;
    let scratch = scratch_of(spec);
    let clients = load_clients(ctx, &spec.nodes)?;
    let grpc = match spec.protocol {
        Protocol::Grpc => {
            // tonic's channels start their workers on the current runtime.
            let _in_runtime = ctx.rt.enter();
            let specs = ctx.config.weaviate.node_specs();
            let timeout = Duration::from_secs(ctx.config.index.request_timeout);
            Some(
                node_indexes(&spec.nodes, specs.len())
                    .into_iter()
                    .map(|i| {
                        GrpcBatchClient::for_node(&specs[i], &ctx.config.weaviate.api_key, timeout)
                    })
                    .collect::<HostResult<Vec<_>>>()?,
            )
        }
        Protocol::Graphql => None,
    };
    let writes = spec.mix.get(&Operation::Insert).is_some_and(|w| *w > 0);
    if writes {
        let props: Vec<Value> = pattern
            .properties()
            .iter()
            .map(|(n, t)| json!({"name": n, "dataType": [t]}))
            .collect();
        let def = json!({"class": scratch, "vectorizer": "none",
            "description": "elysiactl benchmark scratch collection, removed after the run",
            "replicationConfig": {"factor": ctx.config.weaviate.expected_replication_factor()},
            "properties": props});
        let _ = ctx.block_on(clients[0].delete_class(&scratch));
        ctx.block_on(clients[0].create_class(&def))?;
    }
    let work = Arc::new(Workload {
        collection: spec.collection.clone(),
        scratch,
        pattern,
        dataset,
        clients,
        grpc,
        consistency,
        acknowledged: Mutex::new(Vec::new()),
        issued: Default::default(),
    });
    Ok(Prepared { work, writes })
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

/// The clients a load's requests go to: the nodes asked for, or every node.
fn load_clients(ctx: &Context, nodes: &[usize]) -> HostResult<Vec<WeaviateClient>> {
    let all = node_clients(ctx);
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

/// The node indexes a load's requests go to, in `load_clients`' order
/// (which has checked them).
fn node_indexes(nodes: &[usize], count: usize) -> Vec<usize> {
    if nodes.is_empty() {
        (0..count).collect()
    } else {
        nodes.to_vec()
    }
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
