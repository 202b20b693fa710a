//! The typed answers of `/v1/nodes` and `/v1/cluster/statistics`. Most
//! fields are `omitempty` on the server, so each decodes as optional with a
//! default, and a few tolerate another JSON type than documented.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// How many replicas must acknowledge a write (or answer a read) before
/// Weaviate replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    One,
    Quorum,
    All,
}

impl Consistency {
    /// The name Weaviate's REST API takes (`consistency_level=QUORUM`).
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::One => "ONE",
            Consistency::Quorum => "QUORUM",
            Consistency::All => "ALL",
        }
    }

    /// ONE, QUORUM or ALL, in any case.
    pub fn parse(name: &str) -> Option<Consistency> {
        match name.to_ascii_uppercase().as_str() {
            "ONE" => Some(Consistency::One),
            "QUORUM" => Some(Consistency::Quorum),
            "ALL" => Some(Consistency::All),
            _ => None,
        }
    }
}

/// `null` or absent → default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string, however it arrives (the spec types `leaderId` as an object; raft
/// values are strings but tolerate numbers).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterStatistics {
    #[serde(deserialize_with = "nullable")]
    pub synchronized: bool,
    #[serde(deserialize_with = "nullable")]
    pub statistics: Vec<NodeStatistics>,
}

/// One member's RAFT view. Unreachable peers carry only `name` and `status`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatistics {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub status: String,
    #[serde(deserialize_with = "nullable")]
    pub ready: bool,
    #[serde(deserialize_with = "nullable")]
    pub open: bool,
    #[serde(deserialize_with = "nullable")]
    pub bootstrapped: bool,
    #[serde(deserialize_with = "nullable")]
    pub db_loaded: bool,
    /// Omitted means false.
    #[serde(deserialize_with = "nullable")]
    pub is_voter: bool,
    #[serde(deserialize_with = "lenient_string")]
    pub leader_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub leader_address: String,
    #[serde(deserialize_with = "nullable")]
    pub raft: RaftInfo,
}

/// hashicorp/raft `Stats()`: all values are strings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RaftInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub state: String,
    #[serde(deserialize_with = "lenient_string")]
    pub term: String,
    #[serde(deserialize_with = "lenient_string")]
    pub applied_index: String,
    #[serde(deserialize_with = "lenient_string")]
    pub commit_index: String,
    #[serde(deserialize_with = "lenient_string")]
    pub last_contact: String,
    #[serde(deserialize_with = "lenient_string")]
    pub num_peers: String,
    #[serde(deserialize_with = "nullable")]
    pub latest_configuration: Vec<RaftServer>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RaftServer {
    #[serde(deserialize_with = "lenient_string")]
    pub id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub address: String,
    /// 0 Voter, 1 Nonvoter, 2 Staging.
    #[serde(deserialize_with = "nullable")]
    pub suffrage: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NodesStatus {
    #[serde(deserialize_with = "nullable")]
    pub nodes: Vec<NodeStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    /// HEALTHY, UNHEALTHY, UNAVAILABLE or TIMEOUT.
    #[serde(deserialize_with = "lenient_string")]
    pub status: String,
    #[serde(deserialize_with = "lenient_string")]
    pub version: String,
    #[serde(deserialize_with = "lenient_string")]
    pub git_hash: String,
    #[serde(deserialize_with = "lenient_string")]
    pub operational_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub stats: NodeStats,
    /// Only with `output=verbose`.
    #[serde(deserialize_with = "nullable")]
    pub shards: Vec<ShardInfo>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStats {
    #[serde(deserialize_with = "nullable")]
    pub object_count: i64,
    #[serde(deserialize_with = "nullable")]
    pub shard_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ShardInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub class: String,
    /// Cheap, eventually-consistent count of this replica.
    #[serde(deserialize_with = "nullable")]
    pub object_count: i64,
    #[serde(deserialize_with = "lenient_string")]
    pub vector_indexing_status: String,
    #[serde(deserialize_with = "nullable")]
    pub vector_queue_length: i64,
    #[serde(deserialize_with = "nullable")]
    pub compressed: bool,
    #[serde(deserialize_with = "nullable")]
    pub loaded: bool,
    #[serde(deserialize_with = "nullable")]
    pub replication_factor: i64,
    #[serde(deserialize_with = "nullable")]
    pub number_of_replicas: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odd_types_and_nulls_decode_with_defaults() {
        let s = ClusterStatistics::deserialize(
            &json!({"statistics": [{"name": "weaviate-0", "leaderId": {"x": 1}, "raft": null,
            "isVoter": null}], "synchronized": null}),
        )
        .unwrap();
        assert!(!s.synchronized);
        assert_eq!(s.statistics[0].raft.state, "");
        assert!(!s.statistics[0].is_voter);
        let n =
            NodesStatus::deserialize(&json!({"nodes": [{"name": "weaviate-0", "shards": null}]}))
                .unwrap();
        assert!(n.nodes[0].shards.is_empty());
        assert_eq!(n.nodes[0].stats.object_count, 0);
    }
}
