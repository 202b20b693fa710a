//! Objects: one read from a chosen node's replica, pages, single and batch
//! writes, deletes.

use super::{class_name, no_such_collection, path_segment, Consistency, WeaviateClient};
use crate::base::error::HostResult;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// What a batch delete did, by Weaviate's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDeleted {
    pub matches: u64,
    pub successful: u64,
    pub failed: u64,
}

impl WeaviateClient {
    /// `GET /v1/objects/{C}/{id}` from exactly this node's replica
    /// (`node_name`), or through the cluster at a consistency level.
    /// `None` when the object is not there.
    pub async fn object(
        &self,
        class: &str,
        id: &str,
        node: Option<&str>,
        consistency: Option<Consistency>,
    ) -> HostResult<Option<Value>> {
        let class = class_name(class)?;
        let path = format!("/v1/objects/{class}/{}", path_segment(id)?);
        let mut query = Vec::new();
        if let Some(n) = node {
            query.push(("node_name", n));
        }
        if let Some(c) = consistency {
            query.push(("consistency_level", c.as_str()));
        }
        let reply = self.send(Method::GET, &path, &query, None, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.json_of(&Method::GET, &path, reply).map(Some)
    }

    /// `GET /v1/objects?class=C&limit=N[&after=ID]`: a page of objects in
    /// ID order, without vectors.
    pub async fn list_objects(
        &self,
        class: &str,
        limit: u64,
        after: Option<&str>,
    ) -> HostResult<Vec<Value>> {
        self.page(class, limit, after, false).await
    }

    /// The same page with each object's vectors (`include=vector`), for a copy.
    pub async fn list_objects_with_vectors(
        &self,
        class: &str,
        limit: u64,
        after: Option<&str>,
    ) -> HostResult<Vec<Value>> {
        self.page(class, limit, after, true).await
    }

    async fn page(
        &self,
        class: &str,
        limit: u64,
        after: Option<&str>,
        vectors: bool,
    ) -> HostResult<Vec<Value>> {
        let class = class_name(class)?;
        let path = "/v1/objects";
        let n = limit.to_string();
        let mut query = vec![("class", class.as_str()), ("limit", n.as_str())];
        if vectors {
            query.push(("include", "vector"));
        }
        if let Some(a) = after {
            query.push(("after", a));
        }
        if vectors {
            query.push(("include", "vector"));
        }
        let reply = self.send(Method::GET, path, &query, None, None).await?;
        if reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::UNPROCESSABLE_ENTITY
        {
            return Err(no_such_collection(&class));
        }
        let v = self.json_of(&Method::GET, path, reply)?;
        Ok(v["objects"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /v1/objects?consistency_level=L`: create one object.
    pub async fn insert_object(
        &self,
        object: &Value,
        consistency: Consistency,
    ) -> HostResult<Value> {
        let path = "/v1/objects";
        let reply = self
            .send(
                Method::POST,
                path,
                &[("consistency_level", consistency.as_str())],
                Some(object),
                None,
            )
            .await?;
        self.json_of(&Method::POST, path, reply)
    }

    /// `POST /v1/batch/objects?consistency_level=L`: create or replace many
    /// objects (same ID = replaced). Returns, per object in order, its error
    /// message if it failed.
    pub async fn batch_objects(
        &self,
        objects: &[Value],
        consistency: Consistency,
    ) -> HostResult<Vec<Option<String>>> {
        let path = "/v1/batch/objects";
        let body = serde_json::json!({ "objects": objects });
        let reply = self
            .send(
                Method::POST,
                path,
                &[("consistency_level", consistency.as_str())],
                Some(&body),
                None,
            )
            .await?;
        let v = self.json_of(&Method::POST, path, reply)?;
        let results = v.as_array().cloned().unwrap_or_default();
        Ok((0..objects.len())
            .map(|i| {
                let errs = results.get(i).map(|r| &r["result"]["errors"]["error"]);
                match errs.and_then(Value::as_array) {
                    Some(list) if !list.is_empty() => Some(
                        list.iter()
                            .filter_map(|e| e["message"].as_str())
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    _ if results.get(i).is_none() => {
                        Some("missing from the batch reply".to_string())
                    }
                    _ => None,
                }
            })
            .collect())
    }

    /// `PATCH /v1/objects/{C}/{id}?consistency_level=L`: merge `properties`
    /// into the stored object (the others and the vector stay); false if it
    /// was not there (404).
    pub async fn patch_object(
        &self,
        class: &str,
        id: &str,
        properties: &Value,
        consistency: Consistency,
    ) -> HostResult<bool> {
        let class = class_name(class)?;
        let path = format!("/v1/objects/{class}/{}", path_segment(id)?);
        let body = serde_json::json!({"class": class, "id": id, "properties": properties});
        let query = [("consistency_level", consistency.as_str())];
        let reply = self
            .send(Method::PATCH, &path, &query, Some(&body), None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if reply.status.is_success() {
            return Ok(true);
        }
        Err(self.status_error(&Method::PATCH, &path, &reply))
    }

    /// `DELETE /v1/batch/objects?consistency_level=L` of the objects with
    /// these IDs (a `ContainsAny` filter on `id`): how many matched, were
    /// deleted and failed, as Weaviate counted them.
    pub async fn batch_delete_ids(
        &self,
        class: &str,
        ids: &[String],
        consistency: Consistency,
    ) -> HostResult<BatchDeleted> {
        let class = class_name(class)?;
        let path = "/v1/batch/objects";
        let body = serde_json::json!({
            "match": {"class": class, "where": {"path": ["id"], "operator": "ContainsAny", "valueTextArray": ids}},
            "output": "minimal",
        });
        let reply = self
            .send(
                Method::DELETE,
                path,
                &[("consistency_level", consistency.as_str())],
                Some(&body),
                None,
            )
            .await?;
        let v = self.json_of(&Method::DELETE, path, reply)?;
        let n = |k: &str| v["results"][k].as_u64().unwrap_or(0);
        Ok(BatchDeleted {
            matches: n("matches"),
            successful: n("successful"),
            failed: n("failed"),
        })
    }

    /// `DELETE /v1/objects/{C}/{id}`; true if it existed.
    pub async fn delete_object(&self, class: &str, id: &str) -> HostResult<bool> {
        let class = class_name(class)?;
        let path = format!("/v1/objects/{class}/{}", path_segment(id)?);
        self.delete_existing(&path).await
    }

    /// `DELETE /v1/objects/{C}/{id}?consistency_level=L`: true if it
    /// existed, false if it was not there (404).
    pub async fn delete_object_at(
        &self,
        class: &str,
        id: &str,
        consistency: Consistency,
    ) -> HostResult<bool> {
        let class = class_name(class)?;
        let path = format!("/v1/objects/{class}/{}", path_segment(id)?);
        let query = [("consistency_level", consistency.as_str())];
        let reply = self.send(Method::DELETE, &path, &query, None, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if reply.status.is_success() {
            return Ok(true);
        }
        Err(self.status_error(&Method::DELETE, &path, &reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::Secret;
    use std::io::{Read, Write};
    use std::sync::mpsc;

    /// A one-shot local server that answers one request with `body` (200,
    /// JSON) and hands back the request it got.
    fn serve_once(body: &'static str) -> (String, mpsc::Receiver<String>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            // Headers, then as much body as Content-Length says.
            loop {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(reply.as_bytes()).unwrap();
            tx.send(String::from_utf8_lossy(&got).to_string()).unwrap();
        });
        (format!("http://{addr}"), rx)
    }

    use crate::base::testing::current_thread_runtime as rt;

    /// A batch at ALL sends the level, and an object Weaviate refused in a
    /// 200 reply (its `result.errors`) is reported as refused, the others not.
    #[test]
    fn a_batch_sends_its_level_and_reports_each_refused_object() {
        let (url, got) = serve_once(
            r#"[{"id":"a","result":{}},
                {"id":"b","result":{"errors":{"error":[{"message":"not enough replicas: want 3, got 2"}]}}},
                {"id":"c","result":{"errors":null}}]"#,
        );
        let c = WeaviateClient::new(reqwest::Client::new(), url, &Secret::default());
        let objects: Vec<Value> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| serde_json::json!({"class": "C", "id": id, "properties": {}}))
            .collect();
        let r = rt()
            .block_on(c.batch_objects(&objects, Consistency::All))
            .unwrap();
        let request = got.recv().unwrap();
        assert!(
            request.starts_with("POST /v1/batch/objects?consistency_level=ALL "),
            "{request}"
        );
        assert_eq!(
            r,
            vec![
                None,
                Some("not enough replicas: want 3, got 2".to_string()),
                None,
                Some("missing from the batch reply".to_string()),
            ]
        );
    }

    /// A batch delete names the IDs in an `id` filter, sends its level, and
    /// gives Weaviate's counts back.
    #[test]
    fn a_batch_delete_filters_by_id_at_its_level_and_counts() {
        let (url, got) = serve_once(
            r#"{"match":{},"output":"minimal","results":{"matches":2,"limit":10000,"successful":1,"failed":1,"objects":null}}"#,
        );
        let c = WeaviateClient::new(reqwest::Client::new(), url, &Secret::default());
        let ids = vec!["a".to_string(), "b".to_string()];
        let d = rt()
            .block_on(c.batch_delete_ids("C", &ids, Consistency::One))
            .unwrap();
        let request = got.recv().unwrap();
        assert!(
            request.starts_with("DELETE /v1/batch/objects?consistency_level=ONE "),
            "{request}"
        );
        let body: Value =
            serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(
            body["match"],
            serde_json::json!({"class": "C", "where": {"path": ["id"], "operator": "ContainsAny", "valueTextArray": ["a", "b"]}})
        );
        assert_eq!(
            d,
            BatchDeleted {
                matches: 2,
                successful: 1,
                failed: 1
            }
        );
    }
}
