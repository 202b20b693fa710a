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

/// Health, then the truthful check: create a probe user and list its
/// collections, which makes Elysia connect to Weaviate.
pub async fn probe(http: &reqwest::Client, cfg: &ElysiaConfig) -> Probe {
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
            return p;
        }
        Err(e) => {
            p.detail = if e.is_connect() {
                format!("nothing answers on {base}")
            } else {
                format!("/api/health failed: {e}")
            };
            return p;
        }
    }
    p.latency_ms = Some(round1(t0.elapsed().as_secs_f64() * 1000.0));
    // A fresh user each time: a user created while Weaviate was down stays
    // disconnected for its whole lifetime.
    let user = format!(
        "elysiactl-probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let init = http
        .post(format!("{base}/init/user/{user}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    if let Err(e) = init {
        p.detail = format!("creating a probe user failed: {e}");
        return p;
    }
    match http
        .get(format!("{base}/collections/{user}/list"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status();
            let body: Value = r.json().await.unwrap_or_default();
            let error = body["error"].as_str().unwrap_or("").to_string();
            if !status.is_success() {
                p.detail = format!("listing collections answered {status}: {error}");
            } else if error.is_empty() {
                p.weaviate_connected = true;
            } else if error.contains("not connected") {
                p.detail =
                    "Elysia cannot reach Weaviate (its client manager is not connected)".into();
            } else {
                p.detail = format!("Elysia reached Weaviate with an error: {error}");
            }
        }
        Err(e) => p.detail = format!("listing collections failed: {e}"),
    }
    p
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
