//! Weaviate's gRPC batch import, `weaviate.v1.Weaviate/BatchObjects`, the
//! path the official clients use: the server decodes protobuf instead of JSON
//! and answers with the errors only, where a REST batch sends every object
//! back. On a machine that runs its own cluster that server time is most of
//! an import's cost.
//!
//! Only the messages sent here are declared, by hand, after
//! `grpc/proto/v1/batch.proto` and `base.proto` of Weaviate v1.38.11: the
//! field numbers (tags) must match those files; fields left out are ones
//! this tool never sets (named vectors, references, tenants, array properties).

use crate::config::{NodeSpec, Secret};
use crate::error::{Category, HostError, HostResult};
use prost_types::value::Kind;
use serde_json::Value;
use std::time::Duration;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchObjectsRequest {
    #[prost(message, repeated, tag = "1")]
    pub objects: Vec<BatchObject>,
    /// base.proto's ConsistencyLevel: 1 ONE, 2 QUORUM, 3 ALL.
    #[prost(int32, optional, tag = "2")]
    pub consistency_level: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchObject {
    #[prost(string, tag = "1")]
    pub uuid: String,
    #[prost(message, optional, tag = "3")]
    pub properties: Option<BatchProperties>,
    #[prost(string, tag = "4")]
    pub collection: String,
    /// The object's vector as little-endian f32s; empty for none.
    #[prost(bytes = "vec", tag = "6")]
    pub vector_bytes: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchProperties {
    #[prost(message, optional, tag = "1")]
    pub non_ref_properties: Option<prost_types::Struct>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchObjectsReply {
    #[prost(float, tag = "1")]
    pub took: f32,
    #[prost(message, repeated, tag = "2")]
    pub errors: Vec<BatchError>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchError {
    #[prost(int32, tag = "1")]
    pub index: i32,
    #[prost(string, tag = "2")]
    pub error: String,
}

const BATCH_OBJECTS: &str = "/weaviate.v1.Weaviate/BatchObjects";

fn consistency(level: &str) -> HostResult<i32> {
    match level.to_ascii_uppercase().as_str() {
        "ONE" => Ok(1),
        "QUORUM" => Ok(2),
        "ALL" => Ok(3),
        other => Err(
            HostError::validation(format!("unknown consistency level {other:?}"))
                .with_hint("use ONE, QUORUM or ALL"),
        ),
    }
}

/// A JSON scalar as a protobuf Value. Objects and arrays have their own
/// fields in Weaviate's message, which this tool does not send.
fn scalar(name: &str, v: &Value) -> HostResult<prost_types::Value> {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(HostError::validation(format!(
                "property {name:?}: the gRPC batch here carries scalar properties only"
            ))
            .with_hint(
                "set index.transport = \"rest\" for objects with array or nested properties",
            ))
        }
    };
    Ok(prost_types::Value { kind: Some(kind) })
}

/// An object as the REST batch takes it ({class, id, properties, vector?}) in protobuf.
pub fn batch_object(o: &Value) -> HostResult<BatchObject> {
    let field = |k: &str| o[k].as_str().unwrap_or_default().to_string();
    let vector_bytes = match &o["vector"] {
        Value::Array(xs) => xs
            .iter()
            .flat_map(|x| (x.as_f64().unwrap_or_default() as f32).to_le_bytes())
            .collect(),
        _ => Vec::new(),
    };
    let mut fields = std::collections::BTreeMap::new();
    if let Some(props) = o["properties"].as_object() {
        for (k, v) in props {
            fields.insert(k.clone(), scalar(k, v)?);
        }
    }
    Ok(BatchObject {
        uuid: field("id"),
        collection: field("class"),
        properties: Some(BatchProperties {
            non_ref_properties: Some(prost_types::Struct { fields }),
        }),
        vector_bytes,
    })
}

/// One node's gRPC port, for batch imports.
#[derive(Clone)]
pub struct GrpcBatchClient {
    channel: tonic::client::Grpc<Channel>,
    auth: Option<MetadataValue<Ascii>>,
    node: String,
    port: u16,
    timeout: Duration,
}

impl GrpcBatchClient {
    /// Connects on first use; must be called inside the tokio runtime.
    pub fn for_node(spec: &NodeSpec, api_key: &Secret, timeout: Duration) -> HostResult<Self> {
        let url = format!("http://{}:{}", spec.host, spec.grpc_port);
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| HostError::validation(format!("bad gRPC address {url}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout);
        let auth = if api_key.is_set() {
            Some(
                format!("Bearer {}", api_key.expose().trim())
                    .parse()
                    .map_err(|_| {
                        HostError::validation(
                            "the Weaviate API key holds characters a header cannot",
                        )
                        .with_hint("check weaviate.api_key (or WEAVIATE_API_KEY)")
                    })?,
            )
        } else {
            None
        };
        Ok(GrpcBatchClient {
            channel: tonic::client::Grpc::new(endpoint.connect_lazy()),
            auth,
            node: spec.name.clone(),
            port: spec.grpc_port,
            timeout,
        })
    }

    /// Upsert objects ({class, id, properties}); per object None or the
    /// server's error message, in order.
    pub async fn batch_objects(
        &self,
        objects: &[Value],
        consistency_level: &str,
    ) -> HostResult<Vec<Option<String>>> {
        let request = BatchObjectsRequest {
            objects: objects
                .iter()
                .map(batch_object)
                .collect::<HostResult<_>>()?,
            consistency_level: Some(consistency(consistency_level)?),
        };
        let mut grpc = self.channel.clone();
        grpc.ready().await.map_err(|e| self.unreachable(&e))?;
        let mut req = tonic::Request::new(request);
        req.set_timeout(self.timeout);
        if let Some(a) = &self.auth {
            req.metadata_mut().insert("authorization", a.clone());
        }
        let codec = tonic::codec::ProstCodec::<BatchObjectsRequest, BatchObjectsReply>::default();
        let reply = grpc
            .unary(req, PathAndQuery::from_static(BATCH_OBJECTS), codec)
            .await
            .map_err(|s| self.status_error(&s))?
            .into_inner();
        let mut out = vec![None; objects.len()];
        for e in reply.errors {
            if let Some(slot) = usize::try_from(e.index).ok().and_then(|i| out.get_mut(i)) {
                *slot = Some(e.error);
            }
        }
        Ok(out)
    }

    fn unreachable(&self, e: &dyn std::fmt::Display) -> HostError {
        HostError::network(format!(
            "node {} does not answer on its gRPC port {}: {e}",
            self.node, self.port
        ))
        .with_hint(format!(
            "is node {} running? try `elysiactl status`; or set index.transport = \"rest\"",
            self.node
        ))
    }

    fn status_error(&self, s: &tonic::Status) -> HostError {
        use tonic::Code;
        let what = format!("node {} gRPC batch: {}", self.node, s.message());
        match s.code() {
            Code::Unavailable | Code::Cancelled | Code::Aborted => self.unreachable(&s.message()),
            Code::DeadlineExceeded => HostError::timeout(format!(
                "{what} (no answer within {})",
                crate::host::time::format_duration(self.timeout)
            )),
            Code::ResourceExhausted => HostError::new(Category::RateLimit, what)
                .with_hint("lower index.batch_size or index.upload_concurrency"),
            Code::Unauthenticated | Code::PermissionDenied => HostError::validation(what)
                .with_hint("check weaviate.api_key (or WEAVIATE_API_KEY)"),
            Code::Unimplemented => HostError::weaviate(what)
                .with_hint("this server has no gRPC batch; set index.transport = \"rest\""),
            _ => HostError::weaviate(what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn objects_become_protobuf_with_scalar_properties() {
        let o = serde_json::json!({"class": "Code", "id": "6f1c7a4e-0000-5000-8000-000000000001",
            "properties": {"content": "fn main() {}", "chunk_index": 3, "ok": true}});
        let b = batch_object(&o).unwrap();
        assert_eq!(b.collection, "Code");
        let fields = &b
            .properties
            .as_ref()
            .unwrap()
            .non_ref_properties
            .as_ref()
            .unwrap()
            .fields;
        assert_eq!(fields["chunk_index"].kind, Some(Kind::NumberValue(3.0)));
        assert_eq!(
            fields["content"].kind,
            Some(Kind::StringValue("fn main() {}".into()))
        );
        // Round trip through the wire format.
        let bytes = b.encode_to_vec();
        assert_eq!(BatchObject::decode(bytes.as_slice()).unwrap(), b);
        let nested = serde_json::json!({"class": "C", "id": "x", "properties": {"tags": ["a"]}});
        let e = batch_object(&nested).unwrap_err();
        assert!(e.message.contains("\"tags\""), "{}", e.message);
        assert!(consistency("quorum").is_ok() && consistency("most").is_err());
        assert!(b.vector_bytes.is_empty());
        let with_vector = serde_json::json!({"class": "C", "id": "x", "properties": {},
            "vector": [0.5, -1.0]});
        let v = batch_object(&with_vector).unwrap().vector_bytes;
        let expected: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(v, expected);
    }
}
