//! Backups through a node (`/v1/backups/{backend}`): start one, its status,
//! the list of what the backend holds, and restores. Whichever node is
//! asked coordinates the whole cluster's backup.

use super::WeaviateClient;
use crate::base::error::{HostError, HostResult};
use reqwest::Method;
use serde_json::Value;

/// A backup ID as Weaviate accepts it and as one URL path segment.
pub fn backup_id(id: &str) -> HostResult<&str> {
    if !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(
            HostError::validation(format!("{id:?} is not a backup ID")).with_hint(
                "backup IDs are lowercase letters, digits, '-' and '_' (e.g. nightly-2026-12-03)",
            ),
        )
    }
}

impl WeaviateClient {
    /// `POST /v1/backups/{backend}`: start a backup; answers at once.
    pub async fn backup_create(&self, backend: &str, body: &Value) -> HostResult<Value> {
        let path = format!("/v1/backups/{backend}");
        let reply = self
            .send(Method::POST, &path, &[], Some(body), None)
            .await?;
        self.json_of(&Method::POST, &path, reply)
    }

    /// `GET /v1/backups/{backend}/{id}`: a backup's status.
    pub async fn backup_status(&self, backend: &str, id: &str) -> HostResult<Value> {
        let path = format!("/v1/backups/{backend}/{}", backup_id(id)?);
        self.get_json(&path, &[]).await
    }

    /// `GET /v1/backups/{backend}`: every backup the backend holds.
    pub async fn backup_list(&self, backend: &str) -> HostResult<Value> {
        self.get_json(&format!("/v1/backups/{backend}"), &[]).await
    }

    /// `POST /v1/backups/{backend}/{id}/restore`: start a restore.
    pub async fn backup_restore(&self, backend: &str, id: &str, body: &Value) -> HostResult<Value> {
        let path = format!("/v1/backups/{backend}/{}/restore", backup_id(id)?);
        let reply = self
            .send(Method::POST, &path, &[], Some(body), None)
            .await?;
        self.json_of(&Method::POST, &path, reply)
    }

    /// `GET /v1/backups/{backend}/{id}/restore`: a restore's status.
    pub async fn backup_restore_status(&self, backend: &str, id: &str) -> HostResult<Value> {
        let path = format!("/v1/backups/{backend}/{}/restore", backup_id(id)?);
        self.get_json(&path, &[]).await
    }
}
