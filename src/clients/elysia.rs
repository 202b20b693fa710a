//! Elysia's HTTP API, as far as a supervisor needs it: is it up, and does it
//! really reach Weaviate (its `/api/health` is a constant `healthy`).

use crate::base::config::ElysiaConfig;
use serde_json::Value;
use std::time::{Duration, Instant};

/// What a probe of the running service found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Probe {
    /// `/api/health` answered 200.
    pub up: bool,
    /// Elysia reached Weaviate for a fresh user.
    pub weaviate_connected: bool,
    pub latency_ms: Option<f64>,
    pub detail: String,
}

impl Probe {
    pub fn ready(&self) -> bool {
        self.up && self.weaviate_connected
    }
}

/// Health, then the truthful check: list a user's collections, which makes
/// Elysia use its connection to Weaviate. `known_user` is a probe user an
/// earlier check created; listing for it costs one cheap request, where
/// creating a user costs about 100 ms. When it fails for any reason (Elysia
/// restarted and forgot it, or it was created while Weaviate was down, which
/// leaves it disconnected for its lifetime) a fresh user decides. Returns the
/// probe and the user worth reusing next time.
pub async fn probe(
    http: &reqwest::Client,
    cfg: &ElysiaConfig,
    known_user: Option<&str>,
) -> (Probe, Option<String>) {
    let base = cfg.url();
    let t0 = Instant::now();
    let mut p = Probe::default();
    match http
        .get(format!("{base}/api/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => p.up = true,
        Ok(r) => {
            p.detail = format!("/api/health answered {}", r.status());
            return (p, None);
        }
        Err(e) => {
            p.detail = if e.is_connect() {
                format!("nothing answers on {base}")
            } else {
                format!("/api/health failed: {e}")
            };
            return (p, None);
        }
    }
    p.latency_ms = Some(round1(t0.elapsed().as_secs_f64() * 1000.0));
    if let Some(user) = known_user {
        if list_collections(http, &base, user).await.is_ok() {
            p.weaviate_connected = true;
            return (p, Some(user.to_string()));
        }
    }
    let user = fresh_user();
    let init = http
        .post(format!("{base}/init/user/{user}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    if let Err(e) = init {
        p.detail = format!("creating a probe user failed: {e}");
        return (p, None);
    }
    match list_collections(http, &base, &user).await {
        Ok(()) => {
            p.weaviate_connected = true;
            (p, Some(user))
        }
        Err(detail) => {
            p.detail = detail;
            (p, None)
        }
    }
}

/// A user name no earlier probe used.
fn fresh_user() -> String {
    format!(
        "elysiactl-probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    )
}

/// Ok when Elysia listed the user's collections from Weaviate, else what
/// went wrong.
async fn list_collections(http: &reqwest::Client, base: &str, user: &str) -> Result<(), String> {
    let r = http
        .get(format!("{base}/collections/{user}/list"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("listing collections failed: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or_default();
    let error = body["error"].as_str().unwrap_or("").to_string();
    if !status.is_success() {
        Err(format!("listing collections answered {status}: {error}"))
    } else if error.is_empty() {
        Ok(())
    } else if error.contains("not connected") {
        Err("Elysia cannot reach Weaviate (its client manager is not connected)".into())
    } else {
        Err(format!("Elysia reached Weaviate with an error: {error}"))
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
