//! Any OpenAI-compatible embedding endpoint as an embedder: `POST
//! {url}/embeddings` with `{model, input: [texts], encoding_format: "float"}`,
//! the way OpenAI, vLLM, Ollama, LiteLLM, text-embeddings-inference and
//! `elysiactl serve embeddings` answer it.
//!
//! Rate limits, timeouts and network errors are retried with exponential
//! backoff and jitter (a `Retry-After` is honoured); a refused key, an unknown
//! model or a reply that is not an embedding list stop at once with a message
//! naming the fix. The key is sent as a bearer token and never appears in an
//! error, a log line or `--json`.

use crate::base::config::Secret;
use crate::base::error::{Category, HostError, HostResult};
use backon::Retryable;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Tries per request when the error may pass (rate limit, timeout, network).
pub const ATTEMPTS: u32 = 6;

pub struct Endpoint {
    url: String,
    model: String,
    key: Secret,
    http: reqwest::Client,
    rt: tokio::runtime::Handle,
    /// What collections record: `openai:<model>`.
    label: String,
    dims: usize,
    timeout: Duration,
    attempts: u32,
    pub retries: AtomicU64,
}

/// A failed request, and how long the server asked to wait before the next.
struct Failure {
    error: HostError,
    retry_after: Option<Duration>,
}

impl Endpoint {
    /// Connects and embeds one probe text, so a wrong URL, key or model is
    /// reported before anything is written, and the vector size is known.
    pub fn connect(
        url: &str,
        model: &str,
        key: Secret,
        timeout: Duration,
        attempts: u32,
        rt: tokio::runtime::Handle,
    ) -> HostResult<Endpoint> {
        if url.is_empty() || model.is_empty() {
            return Err(crate::base::config::embedding_endpoint_missing());
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(HostError::validation(format!(
                "index.embedding_url = {url:?} is not an http(s) URL"
            ))
            .with_hint("give the API's base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:8090/v1"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| HostError::unknown(format!("cannot build an HTTP client: {e}")))?;
        let mut e = Endpoint {
            url: url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            key,
            http,
            rt,
            label: format!("openai:{model}"),
            dims: 0,
            timeout,
            attempts: attempts.max(1),
            retries: AtomicU64::new(0),
        };
        e.dims = e.embed(&["elysiactl: probe of the embedding endpoint"])?[0].len();
        Ok(e)
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// One vector per text, in order, each of unit length.
    pub fn embed(&self, texts: &[&str]) -> HostResult<Vec<Vec<f32>>> {
        let retries = (self.attempts - 1) as usize;
        let request = (|| self.request(texts))
            .retry(crate::base::retry::exponential(
                Duration::from_millis(200),
                Duration::from_secs(10),
                retries,
            ))
            .when(|f| f.error.category.is_retryable())
            // The server's Retry-After, where it sent one, over the backoff's.
            .adjust(|f, backoff| {
                backoff.map(|d| f.retry_after.unwrap_or(d).min(Duration::from_secs(30)))
            })
            .notify(|_, _| {
                self.retries.fetch_add(1, Ordering::Relaxed);
            });
        self.rt.block_on(request).map_err(|f| f.error)
    }

    async fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Failure> {
        let fail = |error: HostError| Failure {
            error,
            retry_after: None,
        };
        let endpoint = format!("{}/embeddings", self.url);
        let mut req = self
            .http
            .post(&endpoint)
            .timeout(self.timeout)
            .json(&json!({"model": self.model, "input": texts, "encoding_format": "float"}));
        if self.key.is_set() {
            req = req.bearer_auth(self.key.expose());
        }
        let resp = req.send().await.map_err(|e| {
            fail(if e.is_timeout() {
                HostError::timeout(format!(
                    "the embedding endpoint {endpoint} did not answer within {:?}",
                    self.timeout
                ))
            } else {
                HostError::network(format!(
                    "cannot reach the embedding endpoint {endpoint}: {}",
                    without_url(&e)
                ))
                .with_hint("check index.embedding_url, and that the server runs")
            })
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
        let body = resp.text().await.map_err(|e| {
            fail(if e.is_timeout() {
                HostError::timeout(format!(
                    "the embedding endpoint {endpoint} did not finish its answer within {:?}",
                    self.timeout
                ))
            } else {
                HostError::network(format!(
                    "the embedding endpoint {endpoint} broke off its answer: {}",
                    without_url(&e)
                ))
            })
        })?;
        if status != 200 {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(String::from))
                .unwrap_or_else(|| body.chars().take(200).collect());
            let error = match status {
                401 | 403 => HostError::validation(format!(
                    "the embedding endpoint refused the API key ({status}): {message}"
                ))
                .with_hint(
                    "set the key in ELYSIACTL_EMBEDDING_API_KEY (or index.embedding_api_key); \
                     it is sent as a bearer token",
                ),
                404 => HostError::validation(format!(
                    "the embedding endpoint has no model {:?} or no /embeddings ({status}): {message}",
                    self.model
                ))
                .with_hint("check index.embedding_model and that index.embedding_url ends in /v1 (or the API's base path)"),
                429 => HostError::new(
                    Category::RateLimit,
                    format!("the embedding endpoint is rate limiting (429): {message}"),
                ),
                408 | 504 => HostError::timeout(format!(
                    "the embedding endpoint timed out ({status}): {message}"
                )),
                500..=599 => HostError::network(format!(
                    "the embedding endpoint failed ({status}): {message}"
                )),
                _ => HostError::validation(format!(
                    "the embedding endpoint refused the request ({status}): {message}"
                )),
            };
            return Err(Failure { error, retry_after });
        }
        parse(&body, texts.len(), self.dims).map_err(fail)
    }
}

/// reqwest's errors name the URL; ours already do, without query or key.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s = format!("{s}: {inner}");
        source = inner.source();
    }
    s
}

/// The vectors of an embeddings reply, put in input order by their index.
fn parse(body: &str, n: usize, dims: usize) -> HostResult<Vec<Vec<f32>>> {
    let malformed = |what: &str| {
        HostError::new(
            Category::Unknown,
            format!("the embedding endpoint's answer is not an embedding list: {what}"),
        )
        .with_hint("index.embedding_url must point at an OpenAI-compatible API (POST /embeddings)")
    };
    let v: Value = serde_json::from_str(body).map_err(|e| malformed(&format!("not JSON ({e})")))?;
    let data = v["data"]
        .as_array()
        .ok_or_else(|| malformed("no \"data\" array"))?;
    if data.len() != n {
        return Err(malformed(&format!(
            "{} embeddings for {n} inputs",
            data.len()
        )));
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
    for (pos, item) in data.iter().enumerate() {
        let i = item["index"].as_u64().map_or(pos, |i| i as usize);
        let vector: Vec<f32> = item["embedding"]
            .as_array()
            .ok_or_else(|| malformed(&format!("item {pos} has no \"embedding\" array")))?
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| malformed(&format!("item {pos} holds a value that is not a number")))?;
        if vector.is_empty() || (dims > 0 && vector.len() != dims) {
            return Err(malformed(&format!(
                "item {pos} has {} dimensions, the endpoint gave {dims} before",
                vector.len()
            )));
        }
        let slot = out
            .get_mut(i)
            .ok_or_else(|| malformed(&format!("index {i} for {n} inputs")))?;
        let mut vector = vector;
        super::normalize(&mut vector);
        *slot = Some(vector);
    }
    out.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| malformed("an input got no embedding"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A stand-in server for the faults a real endpoint will not produce on
    /// demand: it answers the n-th request with `replies[n]` (status, extra
    /// headers, body), or never answers when the body is "HANG". It also
    /// keeps the Authorization headers it saw.
    fn fault_server(replies: Vec<(u16, &'static str, String)>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for (stream, (status, headers, body)) in listener.incoming().zip(replies) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut request = vec![0; length];
                reader.read_exact(&mut request).unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                if body == "HANG" {
                    // Held open past the client's timeout, then dropped.
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, count)
    }

    fn ok_body(vectors: &[&[f32]]) -> String {
        let data: Vec<Value> = vectors
            .iter()
            .enumerate()
            .rev() // out of order on purpose: the index decides
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        json!({"object": "list", "data": data, "model": "m"}).to_string()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn connect(url: &str, key: &str, rt: &tokio::runtime::Runtime) -> HostResult<Endpoint> {
        Endpoint::connect(
            url,
            "m",
            Secret::new(key),
            Duration::from_millis(800),
            3,
            rt.handle().clone(),
        )
    }

    #[test]
    fn rate_limits_are_waited_out_and_vectors_come_back_in_order() {
        let rt = rt();
        let (url, count) = fault_server(vec![
            (200, "", ok_body(&[&[3.0, 4.0]])),
            (
                429,
                "Retry-After: 0\r\n",
                r#"{"error":{"message":"slow down"}}"#.into(),
            ),
            (503, "", "busy".into()),
            (200, "", ok_body(&[&[1.0, 0.0], &[0.0, 2.0]])),
        ]);
        let e = connect(&url, "k", &rt).unwrap();
        assert_eq!(e.dims(), 2);
        assert_eq!(e.label(), "openai:m");
        let v = e.embed(&["a", "b"]).unwrap();
        assert_eq!(
            v,
            vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            "ordered by index, unit length"
        );
        assert_eq!(e.retries.load(Ordering::Relaxed), 2);
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_refused_key_stops_at_once_and_is_never_shown() {
        let rt = rt();
        let (url, count) = fault_server(vec![(
            401,
            "",
            r#"{"error":{"message":"Incorrect API key provided"}}"#.into(),
        )]);
        let err = connect(&url, "sk-very-secret", &rt).err().unwrap();
        assert_eq!(err.category, Category::Validation);
        assert!(err.message.contains("refused the API key"), "{err:?}");
        let all = format!("{err:?} {}", err.to_json());
        assert!(!all.contains("sk-very-secret"), "{all}");
        assert_eq!(count.load(Ordering::SeqCst), 1, "not retried");
    }

    #[test]
    fn malformed_answers_and_hangs_are_clear_errors() {
        let rt = rt();
        let (url, _) = fault_server(vec![(200, "", "<html>proxy error</html>".into())]);
        let err = connect(&url, "", &rt).err().unwrap();
        assert!(err.message.contains("not JSON"), "{err:?}");
        let (url, _) = fault_server(vec![(200, "", json!({"data": []}).to_string())]);
        let err = connect(&url, "", &rt).err().unwrap();
        assert!(err.message.contains("0 embeddings for 1 inputs"), "{err:?}");
        // A server that never answers: timed out, retried, then reported.
        let (url, count) = fault_server(vec![(200, "", "HANG".into()); 3]);
        let err = connect(&url, "", &rt).err().unwrap();
        assert_eq!(err.category, Category::Timeout, "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 3, "tried three times");
        // Nothing listening.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = connect(&format!("http://127.0.0.1:{port}/v1"), "", &rt)
            .err()
            .unwrap();
        assert_eq!(err.category, Category::Network, "{err:?}");
        assert!(err.message.contains("cannot reach"), "{err:?}");
        let err = connect("ftp://x", "", &rt).err().unwrap();
        assert!(err.message.contains("not an http(s) URL"));
    }
}
