//! `elysiactl serve embeddings`: a local embedder behind OpenAI's embeddings
//! API (`POST /v1/embeddings`, `GET /v1/models`), so anything that speaks it
//! (the official SDKs, LangChain, another elysiactl with `index.embedder =
//! "openai"`) can embed with the model installed here, without a network.
//!
//! Requests are checked as OpenAI checks them and refused with its error
//! shape (`{"error": {message, type, param, code}}`); embedding runs on the
//! blocking pool, so a slow batch never stalls the accept loop.

use super::Embedder;
use crate::base::config::Secret;
use crate::base::error::{HostError, HostResult};
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// OpenAI's own limit on inputs per request.
const MAX_INPUTS: usize = 2048;
const MAX_BODY: usize = 32 << 20;

pub struct Served {
    pub embedder: Embedder,
    /// The model name clients ask for.
    pub model: String,
    /// Required from clients as a bearer token when set.
    pub key: Secret,
}

/// The name a local embedder is served under.
pub fn model_name(embedder: &Embedder) -> String {
    match embedder {
        Embedder::MiniLm(_) => super::MODEL_NAME.to_string(),
        Embedder::Static(_) => "static-minilm".to_string(),
        Embedder::Remote(r) => r.label().to_string(),
    }
}

/// Serves until `stop` resolves. `ready` gets the bound address first (a
/// port of 0 picks a free one).
pub async fn serve(
    served: Arc<Served>,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()>,
) -> HostResult<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        HostError::io(format!("cannot listen on {listen}"), e)
            .with_hint("pick another address with --listen, e.g. 127.0.0.1:0 for any free port")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| HostError::io("cannot read the bound address", e))?;
    ready(addr);
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                // Out of descriptors and the like: the next accept may work.
                Err(_) => continue,
            },
        };
        let served = served.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let served = served.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(served, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a status and a header make a valid response")
}

fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response<Full<Bytes>> {
    reply(
        status,
        &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

fn invalid(message: &str, param: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        Some(param),
        None,
    )
}

async fn handle(served: Arc<Served>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let path = path.strip_prefix("/v1").unwrap_or(&path);
    if served.key.is_set() && path != "/health" {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(served.key.expose()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            );
        }
    }
    let model =
        json!({"id": served.model, "object": "model", "created": 0, "owned_by": "elysiactl"});
    match (req.method(), path) {
        (&Method::GET, "/health") => reply(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, "/models") => reply(StatusCode::OK, &json!({"object": "list", "data": [model]})),
        (&Method::GET, p) if p.strip_prefix("/models/") == Some(served.model.as_str()) => {
            reply(StatusCode::OK, &model)
        }
        (&Method::GET, p) if p.starts_with("/models/") => model_not_found(&p["/models/".len()..]),
        (&Method::POST, "/embeddings") => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("The request body is over {} MB.", MAX_BODY >> 20),
                        "invalid_request_error",
                        None,
                        None,
                    )
                }
            };
            embeddings(served, &body).await
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("Unknown request URL: {path}. This server answers POST /v1/embeddings and GET /v1/models."),
            "invalid_request_error",
            None,
            Some("unknown_url"),
        ),
    }
}

fn model_not_found(name: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::NOT_FOUND,
        &format!("The model `{name}` does not exist or you do not have access to it."),
        "invalid_request_error",
        Some("model"),
        Some("model_not_found"),
    )
}

async fn embeddings(served: Arc<Served>, body: &[u8]) -> Response<Full<Bytes>> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(&format!("The body is not valid JSON: {e}"), "body"),
    };
    match v["model"].as_str() {
        None => return invalid("You must provide a model parameter.", "model"),
        Some(m) if m != served.model => return model_not_found(m),
        Some(_) => {}
    }
    let texts: Vec<String> = match &v["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect(),
        Value::Array(_) => {
            return invalid(
                "This server embeds text: send input as a string or an array of strings (token arrays are not supported).",
                "input",
            )
        }
        _ => return invalid("You must provide an input parameter: a string or an array of strings.", "input"),
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return invalid(
            &format!(
                "input must hold between 1 and {MAX_INPUTS} strings; it holds {}.",
                texts.len()
            ),
            "input",
        );
    }
    let dims = served.embedder.dims();
    if let Some(d) = v.get("dimensions").filter(|d| !d.is_null()) {
        if d.as_u64() != Some(dims as u64) {
            return invalid(
                &format!("This model's vectors have {dims} dimensions; it cannot give {d}."),
                "dimensions",
            );
        }
    }
    let base64 = match v["encoding_format"].as_str() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return invalid(
                &format!("encoding_format {other:?} is not one of \"float\", \"base64\"."),
                "encoding_format",
            )
        }
    };
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let embedded = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        served.embedder.embed(&refs)
    })
    .await;
    let vectors = match embedded {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &e.message,
                "server_error",
                None,
                None,
            )
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("embedding failed: {e}"),
                "server_error",
                None,
                None,
            )
        }
    };
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    // Usage counts whitespace-separated words, not the model's tokens: a
    // figure for clients that log it, not a bill.
    reply(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": v["model"],
                "usage": {"prompt_tokens": words, "total_tokens": words}}),
    )
}
