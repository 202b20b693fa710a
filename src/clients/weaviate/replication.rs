//! Replication: where each shard's replicas are, and the scale plans and
//! copy operations that add replicas (repair uses them).

use super::{class_name, no_such_collection, path_segment, WeaviateClient};
use crate::base::error::HostResult;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

impl WeaviateClient {
    /// `GET /v1/replication/sharding-state?collection=C`: which nodes hold each
    /// shard. Needs REPLICA_MOVEMENT_ENABLED=true on the server (501 otherwise).
    pub async fn sharding_state(&self, class: &str) -> HostResult<Value> {
        let class = class_name(class)?;
        let path = "/v1/replication/sharding-state";
        let reply = self
            .send(Method::GET, path, &[("collection", &class)], None, None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, path, reply)
    }

    /// Each shard of `class` with the nodes holding a replica, from
    /// [`sharding_state`](Self::sharding_state).
    pub async fn shard_replicas(&self, class: &str) -> HostResult<Vec<(String, BTreeSet<String>)>> {
        let v = self.sharding_state(class).await?;
        Ok(v["shardingState"]["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let replicas = s["replicas"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect();
                (s["shard"].as_str().unwrap_or("").to_string(), replicas)
            })
            .collect())
    }

    /// `GET /v1/replication/scale?collection=C&replicationFactor=N`: the
    /// leader's plan to give every shard N replicas. Changes nothing.
    pub async fn scale_plan(&self, class: &str, factor: u64) -> HostResult<Value> {
        let class = class_name(class)?;
        let path = "/v1/replication/scale";
        let n = factor.to_string();
        let reply = self
            .send(
                Method::GET,
                path,
                &[("collection", &class), ("replicationFactor", &n)],
                None,
                None,
            )
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(no_such_collection(&class));
        }
        self.json_of(&Method::GET, path, reply)
    }

    /// `POST /v1/replication/scale` with a plan from `scale_plan`: registers
    /// the copy operations; returns `{planId, collection, operationIds}`.
    pub async fn apply_scale_plan(&self, plan: &Value) -> HostResult<Value> {
        let path = "/v1/replication/scale";
        let reply = self.send(Method::POST, path, &[], Some(plan), None).await?;
        self.json_of(&Method::POST, path, reply)
    }

    /// `GET /v1/replication/replicate/{id}`: one operation with its state.
    pub async fn replication_op(&self, id: &str) -> HostResult<Value> {
        let path = format!("/v1/replication/replicate/{}", path_segment(id)?);
        let reply = self.send(Method::GET, &path, &[], None, None).await?;
        self.json_of(&Method::GET, &path, reply)
    }

    /// `POST /v1/replication/replicate/{id}/cancel`.
    pub async fn cancel_replication_op(&self, id: &str) -> HostResult<()> {
        let path = format!("/v1/replication/replicate/{}/cancel", path_segment(id)?);
        let reply = self.send(Method::POST, &path, &[], None, None).await?;
        if reply.status.is_success() || reply.status == StatusCode::CONFLICT {
            return Ok(());
        }
        Err(self.status_error(&Method::POST, &path, &reply))
    }

    /// `POST /v1/replication/replicate`: one replica operation, `COPY` (the
    /// source keeps its replica) or `MOVE` (it drops it once the target has
    /// it). Returns the operation's id.
    pub async fn replicate(
        &self,
        class: &str,
        shard: &str,
        source: &str,
        target: &str,
        kind: &str,
    ) -> HostResult<String> {
        let class = class_name(class)?;
        let path = "/v1/replication/replicate";
        let body = serde_json::json!({
            "collection": class, "shard": shard, "sourceNode": source,
            "targetNode": target, "type": kind,
        });
        let reply = self
            .send(Method::POST, path, &[], Some(&body), None)
            .await?;
        let v = self.json_of(&Method::POST, path, reply)?;
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }

    /// `POST /v1/cluster/remove` on a node's internal cluster API (its data
    /// port, not the REST port): take `node` out of the RAFT configuration.
    /// Any node forwards it to the leader.
    pub async fn remove_raft_peer(&self, node: &str) -> HostResult<()> {
        let path = "/v1/cluster/remove";
        let body = serde_json::json!({ "node": node });
        let reply = self
            .send(Method::POST, path, &[], Some(&body), None)
            .await?;
        if reply.status.is_success() {
            return Ok(());
        }
        Err(self.status_error(&Method::POST, path, &reply))
    }
}
