//! Writing chunks to Weaviate: batch upserts spread over the nodes, retries
//! with exponential backoff and jitter for errors that may pass (network,
//! timeout, rate limit, a node's 5xx), and a circuit breaker per node that
//! opens after repeated failures and lets one probe through after a pause.

use crate::base::config::Transport;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::grpc::GrpcBatchClient;
use crate::clients::weaviate::{Consistency, WeaviateClient};
use backon::BlockingRetryable;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tries of a batch in the tests (index.retry_attempts by default).
#[cfg(test)]
const ATTEMPTS: usize = 6;
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_PAUSE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// Closed, or open long enough to let one probe through (half-open).
    fn allows(&self) -> bool {
        self.open_until.is_none_or(|t| Instant::now() >= t)
    }
    fn state(&self) -> &'static str {
        match self.open_until {
            None => "closed",
            Some(t) if Instant::now() >= t => "half-open",
            Some(_) => "open",
        }
    }
    fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }
    fn failure(&mut self) {
        self.failures += 1;
        if self.failures >= BREAKER_THRESHOLD {
            self.open_until = Some(Instant::now() + BREAKER_PAUSE);
        }
    }
}

/// How one try of a request to a node ended, when it did not succeed.
enum Attempt {
    /// A failure that may pass, on this node or another.
    Failed(HostError),
    /// Every node's circuit breaker is open.
    NoNode,
    /// A failure no retry helps (bad request, Ctrl-C, the script's deadline).
    Stopped(HostError),
}

pub struct Uploader {
    clients: Vec<WeaviateClient>,
    /// Per node, when index.transport = "grpc": batches go there instead.
    grpc: Option<Vec<GrpcBatchClient>>,
    breakers: Vec<Mutex<Breaker>>,
    next: AtomicUsize,
    pub retries: AtomicUsize,
    /// The pauses between tries of one request (tests shorten them).
    backoff: backon::ExponentialBuilder,
    /// Round trips of batch requests, in microseconds.
    latency: Mutex<hdrhistogram::Histogram<u64>>,
    /// Objects per batch request.
    sizes: Mutex<hdrhistogram::Histogram<u64>>,
}

pub(crate) fn histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new(3).expect("3 significant figures is a valid precision")
}

/// Percentiles of a histogram, scaled by `div` (µs → ms: 1000).
pub(crate) fn percentiles(h: &hdrhistogram::Histogram<u64>, div: f64) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    let q = |p: f64| (h.value_at_quantile(p) as f64 / div * 10.0).round() / 10.0;
    serde_json::json!({"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": (h.max() as f64 / div * 10.0).round() / 10.0, "count": h.len()})
}

impl Uploader {
    pub fn new(ctx: &Context) -> HostResult<Uploader> {
        Uploader::with_transport(ctx, ctx.config.index.transport_kind()?)
    }

    /// Batches over REST whatever index.transport says: for objects the gRPC
    /// batch here cannot carry (lists of numbers, nested objects).
    pub fn over_rest(ctx: &Context) -> HostResult<Uploader> {
        Uploader::with_transport(ctx, Transport::Rest)
    }

    fn with_transport(ctx: &Context, transport: Transport) -> HostResult<Uploader> {
        let specs = ctx.config.weaviate.node_specs();
        let request_timeout = Duration::from_secs(ctx.config.index.request_timeout);
        let grpc = match transport {
            Transport::Grpc => {
                // tonic's channels start their workers on the current runtime.
                let _in_runtime = ctx.rt.enter();
                let api_key = &ctx.config.weaviate.api_key;
                Some(
                    specs
                        .iter()
                        .map(|s| GrpcBatchClient::for_node(s, api_key, request_timeout))
                        .collect::<HostResult<Vec<_>>>()?,
                )
            }
            Transport::Rest => None,
        };
        let clients: Vec<WeaviateClient> = ctx
            .config
            .weaviate
            .node_specs()
            .iter()
            .map(|s| {
                WeaviateClient::for_node(ctx.http.clone(), s, &ctx.config.weaviate.api_key)
                    .with_timeout(request_timeout)
            })
            .collect();
        let breakers = clients
            .iter()
            .map(|_| Mutex::new(Breaker::default()))
            .collect();
        Ok(Uploader {
            clients,
            grpc,
            breakers,
            next: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
            backoff: crate::base::retry::exponential(
                Duration::from_millis(100),
                Duration::from_secs(5),
                ctx.config.index.retry_attempts.max(1) - 1,
            ),
            latency: Mutex::new(histogram()),
            sizes: Mutex::new(histogram()),
        })
    }

    /// The next node whose breaker lets a request through, round robin.
    fn pick(&self) -> Option<usize> {
        let n = self.clients.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.breakers[i].lock().unwrap().allows())
    }

    /// Batch latency (ms) and batch size percentiles so far.
    pub fn figures(&self) -> serde_json::Value {
        serde_json::json!({
            "upload_latency_ms": percentiles(&self.latency.lock().unwrap(), 1000.0),
            "batch_size": percentiles(&self.sizes.lock().unwrap(), 1.0),
        })
    }

    fn timed_batch(&self, ctx: &Context, objects: &[Value]) -> HostResult<Vec<Option<String>>> {
        let t0 = Instant::now();
        let r = match &self.grpc {
            Some(grpc) => self.with_retry(ctx, "batch upsert", |i| {
                let c = grpc[i].clone();
                async move { c.batch_objects(objects, Consistency::Quorum).await }
            }),
            None => self.with_retry(ctx, "batch upsert", |i| {
                let c = self.clients[i].clone();
                async move { c.batch_objects(objects, Consistency::Quorum).await }
            }),
        };
        let _ = self
            .latency
            .lock()
            .unwrap()
            .record(t0.elapsed().as_micros() as u64);
        let _ = self.sizes.lock().unwrap().record(objects.len() as u64);
        r
    }

    pub fn breaker_states(&self) -> Vec<(String, &'static str)> {
        self.clients
            .iter()
            .zip(&self.breakers)
            .map(|(c, b)| (c.node_name().to_string(), b.lock().unwrap().state()))
            .collect()
    }

    /// Run `op` against a node (its index), retrying what may pass on another node.
    fn with_retry<T, F, Fut>(&self, ctx: &Context, what: &str, op: F) -> HostResult<T>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = HostResult<T>>,
    {
        let attempt = || {
            crate::base::cancel::check_interrupt().map_err(Attempt::Stopped)?;
            let i = self.pick().ok_or(Attempt::NoNode)?;
            match ctx.block_on(op(i)) {
                Ok(v) => {
                    self.breakers[i].lock().unwrap().success();
                    Ok(v)
                }
                Err(e) if e.category.is_retryable() => {
                    self.breakers[i].lock().unwrap().failure();
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    Err(Attempt::Failed(e))
                }
                Err(e) => Err(Attempt::Stopped(e)),
            }
        };
        // What a try that found every breaker open reports: the last real failure.
        let last = std::cell::RefCell::new(None);
        let result = attempt
            .retry(self.backoff)
            .when(|a| !matches!(a, Attempt::Stopped(_)))
            .notify(|a, _| {
                if let Attempt::Failed(e) = a {
                    *last.borrow_mut() = Some(e.clone());
                }
            })
            .call();
        result.map_err(|a| match a {
            Attempt::Failed(e) | Attempt::Stopped(e) => e,
            Attempt::NoNode => last.take().unwrap_or_else(|| {
                HostError::network(format!("{what}: every node's circuit breaker is open"))
                    .with_hint("the nodes failed repeatedly; check `elysiactl health`")
            }),
        })
    }

    /// Upsert objects; per-object failures are retried once, and what still
    /// fails is returned with its message (index, message).
    pub fn upsert(&self, ctx: &Context, objects: &[Value]) -> HostResult<Vec<(usize, String)>> {
        let first = self.timed_batch(ctx, objects)?;
        let failed: Vec<usize> = first
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(i, _)| i)
            .collect();
        if failed.is_empty() {
            return Ok(Vec::new());
        }
        self.retries.fetch_add(1, Ordering::Relaxed);
        let again: Vec<Value> = failed.iter().map(|&i| objects[i].clone()).collect();
        let second = self.timed_batch(ctx, &again)?;
        Ok(failed
            .iter()
            .zip(second)
            .filter_map(|(&i, e)| e.map(|m| (i, m)))
            .collect())
    }

    pub fn delete(&self, ctx: &Context, class: &str, ids: &[String]) -> HostResult<usize> {
        let mut deleted = 0;
        for group in ids.chunks(32) {
            let results = self.with_retry(ctx, "delete", |i| {
                let c = self.clients[i].clone();
                async move {
                    let all = futures_util::future::join_all(
                        group.iter().map(|id| c.delete_object(class, id)),
                    )
                    .await;
                    all.into_iter().collect::<HostResult<Vec<bool>>>()
                }
            })?;
            deleted += results.into_iter().filter(|d| *d).count();
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_repeated_failures_and_half_opens_later() {
        let mut b = Breaker::default();
        for _ in 0..BREAKER_THRESHOLD - 1 {
            b.failure();
        }
        assert!(b.allows());
        b.failure();
        assert!(!b.allows());
        assert_eq!(b.state(), "open");
        b.open_until = Some(Instant::now() - Duration::from_millis(1));
        assert_eq!(b.state(), "half-open");
        assert!(b.allows());
        b.success();
        assert_eq!(b.state(), "closed");
    }

    fn uploader(rt: &tokio::runtime::Runtime) -> (Context, Uploader) {
        let config = crate::base::config::Config::parse("[index]\ntransport = \"rest\"\n").unwrap();
        let ctx = Context::new(config, rt.handle().clone());
        let mut up = Uploader::new(&ctx).unwrap();
        let ms = Duration::from_millis(1);
        up.backoff = crate::base::retry::exponential(ms, ms, ATTEMPTS - 1);
        (ctx, up)
    }

    use crate::base::testing::current_thread_runtime as rt;

    #[test]
    fn failures_that_may_pass_are_retried_on_the_next_node_and_others_are_not() {
        let rt = rt();
        let (ctx, up) = uploader(&rt);
        let nodes = std::sync::Mutex::new(Vec::new());
        let r = up.with_retry(&ctx, "batch upsert", |i| {
            let mut tried = nodes.lock().unwrap();
            tried.push(i);
            let n = tried.len();
            async move {
                match n {
                    1 => Err(HostError::network("refused")),
                    2 => Err(HostError::timeout("slow")),
                    _ => Ok(i),
                }
            }
        });
        let tried = nodes.into_inner().unwrap();
        assert_eq!(r.unwrap(), tried[2]);
        assert_eq!(tried.len(), 3);
        assert_ne!(tried[0], tried[1], "the retry goes to another node");
        assert_eq!(up.retries.load(Ordering::Relaxed), 2);

        let calls = AtomicUsize::new(0);
        let r: HostResult<()> = up.with_retry(&ctx, "batch upsert", |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(HostError::validation("no such class")) }
        });
        assert_eq!(r.unwrap_err().message, "no such class");
        assert_eq!(calls.into_inner(), 1, "not retried");
    }

    #[test]
    fn a_request_gives_up_after_its_attempts_with_the_last_failure() {
        let rt = rt();
        let (ctx, up) = uploader(&rt);
        let calls = AtomicUsize::new(0);
        let r: HostResult<()> = up.with_retry(&ctx, "batch upsert", |_| {
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move { Err(HostError::network(format!("refused {n}"))) }
        });
        assert_eq!(calls.into_inner(), ATTEMPTS);
        assert_eq!(r.unwrap_err().message, format!("refused {ATTEMPTS}"));
    }

    /// ELYSIA_RETRY_ATTEMPTS (index.retry_attempts): how many tries a batch gets.
    #[test]
    fn the_configured_attempts_are_what_a_request_gets() {
        let rt = rt();
        let mut config =
            crate::base::config::Config::parse("[index]\ntransport = \"rest\"\n").unwrap();
        config
            .apply_env(|k| (k == "ELYSIA_RETRY_ATTEMPTS").then(|| "3".to_string()))
            .unwrap();
        let ctx = Context::new(config, rt.handle().clone());
        let up = Uploader::new(&ctx).unwrap();
        let calls = AtomicUsize::new(0);
        let r: HostResult<()> = up.with_retry(&ctx, "batch upsert", |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(HostError::network("refused")) }
        });
        assert!(r.is_err());
        assert_eq!(calls.into_inner(), 3);
    }

    #[test]
    fn with_every_breaker_open_the_last_real_failure_is_reported() {
        let rt = rt();
        let (ctx, up) = uploader(&rt);
        // Node 0 fails once more before its breaker opens; the others are open.
        for (i, b) in up.breakers.iter().enumerate() {
            let failures = if i == 0 {
                BREAKER_THRESHOLD - 1
            } else {
                BREAKER_THRESHOLD
            };
            for _ in 0..failures {
                b.lock().unwrap().failure();
            }
        }
        let calls = AtomicUsize::new(0);
        let r: HostResult<()> = up.with_retry(&ctx, "batch upsert", |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(HostError::network("node 0 refused")) }
        });
        assert_eq!(calls.into_inner(), 1, "no node to try after the first");
        assert_eq!(r.unwrap_err().message, "node 0 refused");
        // Nothing tried at all: the breakers are named.
        let r: HostResult<()> = up.with_retry(&ctx, "delete", |_| async { Ok(()) });
        let e = r.unwrap_err();
        assert!(
            e.message.contains("every node's circuit breaker is open"),
            "{e:?}"
        );
    }
}
