//! A cluster someone else runs (Kubernetes with the Helm chart, Weaviate
//! Cloud, hosts of their own), reached only through its API at
//! `weaviate.urls`. Everything that works through the API works as for the
//! other runtimes; every operation on processes refuses, changing nothing,
//! and says where the cluster is managed.

use super::{LogLocation, NodeState, WeaviateRuntime};
use crate::base::config::{RuntimeKind, WeaviateConfig};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use std::time::Duration;

pub struct RemoteRuntime {
    cfg: WeaviateConfig,
}

/// The refusal of `what` (e.g. "start it") on a remote cluster.
pub fn managed_elsewhere(cfg: &WeaviateConfig, what: &str) -> HostError {
    HostError::validation(format!(
        "environment {} is a remote cluster (weaviate.runtime = \"remote\", at {}), managed elsewhere: \
         elysiactl cannot {what}; nothing was changed",
        crate::base::paths::active_env(),
        cfg.urls.join(", ")
    ))
    .with_hint(
        "do that where the cluster is run (its Helm release, cloud console or hosts); \
         commands that work through Weaviate's API (health, repair, index, test-data, benchmark) work here",
    )
}

impl RemoteRuntime {
    pub fn new(cfg: WeaviateConfig) -> RemoteRuntime {
        RemoteRuntime { cfg }
    }

    fn refuse<T>(&self, what: &str) -> HostResult<T> {
        Err(managed_elsewhere(&self.cfg, what))
    }
}

impl WeaviateRuntime for RemoteRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Remote
    }
    fn preflight(&self, _nodes: &[usize]) -> HostResult<()> {
        self.refuse("start it")
    }
    fn start_node(&self, _index: usize) -> HostResult<()> {
        self.refuse("start its nodes")
    }
    fn stop_node(&self, _index: usize, _timeout: Duration) -> HostResult<String> {
        self.refuse("stop its nodes")
    }
    fn node_state(&self, index: usize) -> HostResult<NodeState> {
        let node = self.cfg.node(index);
        Ok(NodeState {
            node: node.name.clone(),
            index,
            runtime: "remote".into(),
            rest_port: node.rest_port,
            grpc_port: node.grpc_port,
            detail: format!("remote, at {}", node.rest_url()),
            ..Default::default()
        })
    }
    fn fault_target(&self, _index: usize) -> HostResult<String> {
        self.refuse("inject faults into its nodes")
    }
    fn kill_node(&self, _index: usize) -> HostResult<()> {
        self.refuse("kill its nodes")
    }
    fn pause_node(&self, _index: usize) -> HostResult<()> {
        self.refuse("pause its nodes")
    }
    fn resume_node(&self, _index: usize) -> HostResult<()> {
        self.refuse("resume its nodes")
    }
    fn limit_cpu(&self, _index: usize, _percent: f64) -> HostResult<String> {
        self.refuse("limit its nodes' CPU")
    }
    fn restore_cpu(&self, _index: usize, _previous: Option<&str>) -> HostResult<()> {
        self.refuse("change its nodes' CPU limit")
    }
    fn cpu_limited(&self, _index: usize) -> HostResult<bool> {
        Ok(false)
    }
    fn log_tail(&self, _index: usize, _lines: usize) -> Vec<String> {
        Vec::new()
    }
    fn data_path(&self, _index: usize) -> HostResult<Option<std::path::PathBuf>> {
        Ok(None)
    }
    fn log_location(&self, _index: usize) -> HostResult<LogLocation> {
        self.refuse("read its nodes' logs")
    }
    fn remove_from_raft(&self, _ctx: &Context, _via: usize, _node: &str) -> HostResult<()> {
        self.refuse("change its RAFT membership")
    }
    fn forget_node(&self, _index: usize) -> HostResult<()> {
        self.refuse("remove its nodes")
    }
    fn cleanup(&self, _purge_data: bool) -> HostResult<()> {
        self.refuse("remove its containers or data")
    }
}
