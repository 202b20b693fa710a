//! Weaviate's gRPC search, `weaviate.v1.Weaviate/Search`: what the official
//! clients send for a query. A benchmark that measures what applications
//! see asks this way; GraphQL over REST costs the server parsing and JSON
//! encoding the clients never pay.

use super::proto::{
    filter_target, filters, vectors::VectorType, Bm25, FilterTarget, Filters, Hybrid,
    MetadataRequest, NearVector, PropertiesRequest, SearchReply, SearchRequest, Vectors,
};
use super::{consistency, GrpcBatchClient};
use crate::base::error::HostResult;
use crate::clients::weaviate::Consistency;

const SEARCH: &str = "/weaviate.v1.Weaviate/Search";

/// What a search matches on.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchQuery {
    /// Keyword search over the collection's searchable properties.
    Bm25(String),
    /// The nearest neighbours of a vector (the collection's one vector).
    NearVector(Vec<f32>),
    /// Keyword and vector search fused, `alpha` weighing the vector side.
    Hybrid {
        query: String,
        vector: Vec<f32>,
        alpha: f32,
    },
    /// Objects whose int `property` is below `value`.
    IntBelow { property: String, value: i64 },
}

/// A search as the clients send it; only the IDs come back.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub collection: String,
    pub query: SearchQuery,
    pub limit: u32,
    pub consistency: Option<Consistency>,
}

fn vectors(v: &[f32]) -> Vec<Vectors> {
    vec![Vectors {
        vector_bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        r#type: VectorType::SingleFp32 as i32,
        ..Default::default()
    }]
}

fn near_vector(v: &[f32]) -> NearVector {
    NearVector {
        vectors: vectors(v),
        ..Default::default()
    }
}

pub(super) fn request(s: &Search) -> SearchRequest {
    let mut r = SearchRequest {
        collection: s.collection.clone(),
        limit: s.limit,
        consistency_level: s.consistency.map(|c| consistency(c) as i32),
        // No properties, the ID only: what the benchmark's queries ask.
        properties: Some(PropertiesRequest::default()),
        metadata: Some(MetadataRequest {
            uuid: true,
            ..Default::default()
        }),
        uses_127_api: true,
        ..Default::default()
    };
    match &s.query {
        SearchQuery::Bm25(q) => {
            r.bm25_search = Some(Bm25 {
                query: q.clone(),
                ..Default::default()
            })
        }
        SearchQuery::NearVector(v) => r.near_vector = Some(near_vector(v)),
        SearchQuery::Hybrid {
            query,
            vector,
            alpha,
        } => {
            r.hybrid_search = Some(Hybrid {
                query: query.clone(),
                near_vector: Some(near_vector(vector)),
                alpha_param: Some(*alpha),
                use_alpha_param: true,
                ..Default::default()
            })
        }
        SearchQuery::IntBelow { property, value } => {
            r.filters = Some(Filters {
                operator: filters::Operator::LessThan as i32,
                test_value: Some(filters::TestValue::ValueInt(*value)),
                target: Some(FilterTarget {
                    target: Some(filter_target::Target::Property(property.clone())),
                }),
                ..Default::default()
            })
        }
    }
    r
}

impl GrpcBatchClient {
    /// Run a search; the IDs of what it found, best first.
    pub async fn search(&self, s: &Search) -> HostResult<Vec<String>> {
        let reply: SearchReply = self.unary(SEARCH, request(s), "search").await?;
        Ok(reply
            .results
            .into_iter()
            .filter_map(|r| r.metadata.map(|m| m.id))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_goes_as_little_endian_f32_and_a_filter_names_its_property() {
        let r = request(&Search {
            collection: "BenchLoad".into(),
            query: SearchQuery::NearVector(vec![1.0, -0.5]),
            limit: 10,
            consistency: Some(Consistency::Quorum),
        });
        let v = &r.near_vector.unwrap().vectors[0];
        assert_eq!(v.vector_bytes, [0, 0, 128, 63, 0, 0, 0, 191]);
        assert_eq!(r.limit, 10);
        assert!(r.uses_127_api && r.metadata.unwrap().uuid);
        let f = request(&Search {
            collection: "C".into(),
            query: SearchQuery::IntBelow {
                property: "n".into(),
                value: 7,
            },
            limit: 1,
            consistency: None,
        })
        .filters
        .unwrap();
        assert_eq!(f.operator, filters::Operator::LessThan as i32);
        assert_eq!(f.test_value, Some(filters::TestValue::ValueInt(7)));
    }
}
