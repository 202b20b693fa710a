//! Replication: where each shard's replicas are, and the scale plans and
//! copy operations that add replicas (repair uses them).

use super::{class_name, no_such_collection, path_segment, WeaviateClient};
use crate::base::error::HostResult;
use reqwest::{Method, StatusCode};
use serde_json::Value;

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
}
