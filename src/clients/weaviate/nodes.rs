//! One node's own state: the live and ready probes, its version, the
//! membership it sees (`/v1/nodes`) and its RAFT statistics.

use super::models::{ClusterStatistics, NodesStatus};
use super::{class_name, no_such_collection, WeaviateClient};
use crate::base::error::HostResult;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Time limit of the live/ready probes.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

impl WeaviateClient {
    async fn probe(&self, path: &str) -> HostResult<(bool, Duration)> {
        let timeout = Some(self.timeout.unwrap_or(PROBE_TIMEOUT));
        let reply = self.send(Method::GET, path, &[], None, timeout).await?;
        Ok((reply.status == StatusCode::OK, reply.elapsed))
    }

    /// `GET /v1/.well-known/live`: true once the HTTP listener is up.
    /// Err only when the node cannot be reached.
    pub async fn live(&self) -> HostResult<bool> {
        Ok(self.probe("/v1/.well-known/live").await?.0)
    }

    /// `GET /v1/.well-known/ready`: true when the node serves requests (RAFT
    /// open with a leader, DB loaded, not in maintenance); false on 503.
    /// Err only when the node cannot be reached.
    pub async fn ready(&self) -> HostResult<bool> {
        Ok(self.ready_with_latency().await?.0)
    }

    /// Like `ready`, with the round-trip time of the probe.
    pub async fn ready_with_latency(&self) -> HostResult<(bool, Duration)> {
        self.probe("/v1/.well-known/ready").await
    }

    /// Like `live`, with the round-trip time of the probe.
    pub async fn live_with_latency(&self) -> HostResult<(bool, Duration)> {
        self.probe("/v1/.well-known/live").await
    }

    // ---- node and cluster state ----

    /// `GET /v1/meta`: hostname, version, modules.
    pub async fn meta(&self) -> HostResult<Value> {
        self.get_json("/v1/meta", &[]).await
    }

    /// The server version from `/v1/meta` (correct even without build ldflags).
    pub async fn version(&self) -> HostResult<Option<String>> {
        let meta = self.meta().await?;
        Ok(meta
            .get("version")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    /// `GET /v1/nodes?output=minimal|verbose`: the current memberlist members
    /// (a dead node is absent, not UNAVAILABLE). `shards`/`stats` only when verbose.
    pub async fn nodes(&self, verbose: bool) -> HostResult<Value> {
        self.get_json("/v1/nodes", &[("output", output(verbose))])
            .await
    }

    /// `nodes` decoded into typed fields.
    pub async fn nodes_status(&self, verbose: bool) -> HostResult<NodesStatus> {
        let v = self.nodes(verbose).await?;
        self.decode(&v, "/v1/nodes")
    }

    /// `GET /v1/nodes/{class}`: like `nodes`, limited to one collection's shards.
    pub async fn nodes_for(&self, class: &str, verbose: bool) -> HostResult<Value> {
        let class = class_name(class)?;
        let path = format!("/v1/nodes/{class}");
        let reply = self
            .send(
                Method::GET,
                &path,
                &[("output", output(verbose))],
                None,
                None,
            )
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, &path, reply)
    }

    /// `nodes_for` decoded into typed fields.
    pub async fn nodes_status_for(&self, class: &str, verbose: bool) -> HostResult<NodesStatus> {
        let v = self.nodes_for(class, verbose).await?;
        self.decode(&v, "/v1/nodes/{class}")
    }

    /// `GET /v1/cluster/statistics`: RAFT state of every member, as returned.
    pub async fn cluster_statistics(&self) -> HostResult<Value> {
        self.get_json("/v1/cluster/statistics", &[]).await
    }

    /// `cluster_statistics` decoded into typed fields.
    pub async fn raft_statistics(&self) -> HostResult<ClusterStatistics> {
        let v = self.cluster_statistics().await?;
        self.decode(&v, "/v1/cluster/statistics")
    }
}

fn output(verbose: bool) -> &'static str {
    if verbose {
        "verbose"
    } else {
        "minimal"
    }
}
