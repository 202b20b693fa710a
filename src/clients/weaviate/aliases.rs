//! Collection aliases (`/v1/aliases`): a second name that points at one
//! collection and can be switched to another at once, so readers that use
//! the alias never see a gap.

use super::{class_name, WeaviateClient};
use crate::base::error::HostResult;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

impl WeaviateClient {
    /// `GET /v1/aliases[?class=C]`: `[{alias, class}]`.
    pub async fn aliases(&self, class: Option<&str>) -> HostResult<Vec<Value>> {
        let class = class.map(class_name).transpose()?;
        let query: Vec<(&str, &str)> = class.iter().map(|c| ("class", c.as_str())).collect();
        let v = self.get_json("/v1/aliases", &query).await?;
        Ok(v["aliases"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /v1/aliases/{alias}`: `{alias, class}`, or None when there is none.
    pub async fn alias(&self, alias: &str) -> HostResult<Option<Value>> {
        let alias = class_name(alias)?;
        let path = format!("/v1/aliases/{alias}");
        let reply = self.send(Method::GET, &path, &[], None, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.json_of(&Method::GET, &path, reply).map(Some)
    }

    /// `POST /v1/aliases`: a new alias for `class`.
    pub async fn create_alias(&self, alias: &str, class: &str) -> HostResult<Value> {
        let body = json!({"alias": class_name(alias)?, "class": class_name(class)?});
        let reply = self
            .send(Method::POST, "/v1/aliases", &[], Some(&body), None)
            .await?;
        self.json_of(&Method::POST, "/v1/aliases", reply)
    }

    /// `PUT /v1/aliases/{alias}`: point the alias at `class` instead.
    pub async fn update_alias(&self, alias: &str, class: &str) -> HostResult<Value> {
        let alias = class_name(alias)?;
        let path = format!("/v1/aliases/{alias}");
        let body = json!({"class": class_name(class)?});
        let reply = self
            .send(Method::PUT, &path, &[], Some(&body), None)
            .await?;
        self.json_of(&Method::PUT, &path, reply)
    }

    /// `DELETE /v1/aliases/{alias}`; whether it existed. The collection stays.
    pub async fn delete_alias(&self, alias: &str) -> HostResult<bool> {
        let alias = class_name(alias)?;
        let path = format!("/v1/aliases/{alias}");
        self.delete_existing(&path).await
    }
}
