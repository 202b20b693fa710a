//! What every layer's work needs and nothing more: the configuration, the
//! async runtime to block on, one HTTP client (its connection pool shared),
//! and the output. The host wraps it with the dry-run plan; the domain takes
//! only this, so it cannot read the plan.

use super::config::Config;
use super::output::Output;
use std::time::Duration;

pub struct Context {
    pub config: Config,
    pub rt: tokio::runtime::Handle,
    pub http: reqwest::Client,
    pub out: Output,
}

impl Context {
    pub fn new(config: Config, rt: tokio::runtime::Handle) -> Context {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("the HTTP client has a static, valid configuration");
        Context {
            config,
            rt,
            http,
            out: Output::default(),
        }
    }

    /// The same async runtime and connection pool over another
    /// configuration: the cluster as it will be once a change is made (more
    /// or fewer nodes), for waiting on it.
    pub fn with_config(&self, config: Config) -> Context {
        Context {
            config,
            rt: self.rt.clone(),
            http: self.http.clone(),
            out: Output::default(),
        }
    }

    /// Run a future to completion from a synchronous caller (the script thread).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }
}
