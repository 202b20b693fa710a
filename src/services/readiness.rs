//! Cluster readiness: every configured node probed from outside (live,
//! ready, latency, version), combined with one node's RAFT statistics and
//! membership into the view `start`, `status` and health checks share.

use crate::base::config::{NodeSpec, Secret};
use crate::clients::weaviate::{ClusterStatistics, NodeStatistics, WeaviateClient};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Time limit of the other calls made while evaluating cluster readiness.
pub const READINESS_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What one configured node looks like from outside.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeReadiness {
    pub name: String,
    pub url: String,
    pub live: bool,
    pub ready: bool,
    /// Round trip of the ready probe, when the node answered it.
    pub latency_ms: Option<f64>,
    pub version: Option<String>,
    /// Listed in the cluster membership (`/v1/nodes`); None when unknown.
    pub member: Option<bool>,
    /// Status in the RAFT statistics (HEALTHY, UNAVAILABLE, …); None when not listed.
    pub status: Option<String>,
    /// Leader, Follower, Candidate or Shutdown; None when unknown.
    pub raft_state: Option<String>,
    pub is_voter: bool,
    /// Whom this node believes to be the leader.
    pub leader_id: Option<String>,
    /// Why a probe failed, when one did.
    pub error: Option<String>,
}

/// The outcome of probing one node, before the cluster-wide evaluation.
#[derive(Debug, Clone, Default)]
pub struct NodeProbe {
    pub live: bool,
    pub ready: bool,
    pub latency: Option<Duration>,
    pub version: Option<String>,
    pub error: Option<String>,
}

/// The cluster as `start`, `status` and health checks see it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterReadiness {
    /// `is_ready(configured node count)`.
    pub ready: bool,
    /// One line, e.g. "2/3 ready, leader weaviate-0, 3 voters".
    pub summary: String,
    pub expected_nodes: usize,
    pub live_count: usize,
    pub ready_count: usize,
    /// The one leader every member agrees on; None if none or several.
    pub leader: Option<String>,
    /// Every distinct non-empty `leaderId` reported.
    pub leaders: Vec<String>,
    /// Members reporting `isVoter: true`.
    pub voters: usize,
    /// RAFT `synchronized` (all HEALTHY, one applied index); None when unknown.
    pub synchronized: Option<bool>,
    /// Cluster members by name (memberlist view); empty when unknown.
    pub members: Vec<String>,
    /// Configured nodes that are not members.
    pub missing: Vec<String>,
    /// Members that are not configured.
    pub unexpected: Vec<String>,
    /// The node that answered the cluster-wide questions.
    pub asked: Option<String>,
    /// Why the RAFT statistics could not be read, when they could not.
    pub stats_error: Option<String>,
    /// What stands between the cluster and ready; empty when ready.
    pub problems: Vec<String>,
    pub nodes: Vec<NodeReadiness>,
}

impl ClusterReadiness {
    /// Combine per-node probes with the RAFT statistics and the membership a
    /// node reported. `configured` and `probes` are in the same order.
    pub fn evaluate(
        configured: &[NodeSpec],
        probes: Vec<NodeProbe>,
        asked: Option<String>,
        stats: Result<&ClusterStatistics, String>,
        members: Option<Vec<String>>,
    ) -> ClusterReadiness {
        let stat_of = |name: &str| -> Option<&NodeStatistics> {
            stats
                .as_ref()
                .ok()
                .and_then(|s| s.statistics.iter().find(|n| n.name == name))
        };
        // Membership: /v1/nodes; else the names the statistics list (same memberlist source).
        let members: Option<Vec<String>> = members.or_else(|| {
            stats
                .as_ref()
                .ok()
                .map(|s| s.statistics.iter().map(|n| n.name.clone()).collect())
        });
        let nodes: Vec<NodeReadiness> = configured
            .iter()
            .zip(
                probes
                    .into_iter()
                    .chain(std::iter::repeat(NodeProbe::default())),
            )
            .map(|(spec, p)| {
                let st = stat_of(&spec.name);
                NodeReadiness {
                    name: spec.name.clone(),
                    url: spec.rest_url(),
                    live: p.live,
                    ready: p.ready,
                    latency_ms: p
                        .latency
                        .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
                    version: p.version,
                    member: members.as_ref().map(|m| m.contains(&spec.name)),
                    status: st.map(|s| s.status.clone()).filter(|s| !s.is_empty()),
                    raft_state: st.map(|s| s.raft.state.clone()).filter(|s| !s.is_empty()),
                    is_voter: st.is_some_and(|s| s.is_voter),
                    leader_id: st.map(|s| s.leader_id.clone()).filter(|s| !s.is_empty()),
                    error: p.error,
                }
            })
            .collect();
        let mut leaders: Vec<String> = Vec::new();
        let mut voters = 0;
        if let Ok(s) = &stats {
            for n in &s.statistics {
                if !n.leader_id.is_empty() && !leaders.contains(&n.leader_id) {
                    leaders.push(n.leader_id.clone());
                }
                if n.is_voter {
                    voters += 1;
                }
            }
        }
        let member_list = members.clone().unwrap_or_default();
        let missing = match &members {
            Some(m) => configured
                .iter()
                .filter(|s| !m.contains(&s.name))
                .map(|s| s.name.clone())
                .collect(),
            None => Vec::new(),
        };
        let unexpected = member_list
            .iter()
            .filter(|m| !configured.iter().any(|s| &s.name == *m))
            .cloned()
            .collect();
        let mut r = ClusterReadiness {
            ready: false,
            summary: String::new(),
            expected_nodes: configured.len(),
            live_count: nodes.iter().filter(|n| n.live).count(),
            ready_count: nodes.iter().filter(|n| n.ready).count(),
            leader: (leaders.len() == 1).then(|| leaders[0].clone()),
            leaders,
            voters,
            synchronized: stats.as_ref().ok().map(|s| s.synchronized),
            members: member_list,
            missing,
            unexpected,
            asked,
            stats_error: stats.as_ref().err().cloned(),
            problems: Vec::new(),
            nodes,
        };
        r.problems = r.problems_for(configured.len());
        r.ready = r.is_ready(configured.len());
        r.summary = r.summary();
        r
    }

    /// What is missing for `expected_nodes` ready voters under one leader.
    pub fn problems_for(&self, expected_nodes: usize) -> Vec<String> {
        let mut p = Vec::new();
        if self.nodes.len() < expected_nodes {
            p.push(format!(
                "{} node(s) configured, {expected_nodes} expected",
                self.nodes.len()
            ));
        }
        for n in &self.nodes {
            if n.ready {
                continue;
            }
            let why = n
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            if n.live {
                p.push(format!("{} is up but not ready{why}", n.name));
            } else {
                p.push(format!("{} does not answer{why}", n.name));
            }
        }
        for m in &self.missing {
            p.push(format!("{m} is not a cluster member"));
        }
        if self.asked.is_none() {
            p.push(match &self.stats_error {
                Some(e) => format!("RAFT statistics unavailable: {e}"),
                None => "no node answered the RAFT statistics".to_string(),
            });
        } else {
            match self.leaders.len() {
                0 => p.push("no RAFT leader".to_string()),
                1 => {}
                _ => p.push(format!(
                    "nodes disagree on the RAFT leader ({})",
                    self.leaders.join(", ")
                )),
            }
            // Nodes beyond the voters (added by `weaviate scale`) join as
            // non-voters on purpose.
            let expected_voters = crate::base::config::voters_for(expected_nodes);
            let non_voters: Vec<&str> = self
                .nodes
                .iter()
                .take(expected_voters)
                .filter(|n| !n.is_voter)
                .map(|n| n.name.as_str())
                .collect();
            if self.voters < expected_voters || !non_voters.is_empty() {
                p.push(format!(
                    "{} of {expected_voters} voters{}",
                    self.voters,
                    if non_voters.is_empty() {
                        String::new()
                    } else {
                        format!(" (not voting: {})", non_voters.join(", "))
                    }
                ));
            }
        }
        p
    }

    /// Every node ready, exactly one leader, the expected voters, nobody
    /// missing from the membership.
    pub fn is_ready(&self, expected_nodes: usize) -> bool {
        self.problems_for(expected_nodes).is_empty() && self.leader.is_some()
    }

    /// "2/3 ready, leader weaviate-0, 3 voters" (+ what is odd).
    pub fn summary(&self) -> String {
        let leader = match self.leaders.len() {
            _ if self.asked.is_none() => "leader unknown".to_string(),
            0 => "no leader".to_string(),
            1 => format!("leader {}", self.leaders[0]),
            n => format!("{n} leaders ({})", self.leaders.join(", ")),
        };
        let mut s = format!(
            "{}/{} ready, {leader}, {} voter{}",
            self.ready_count,
            self.nodes.len(),
            self.voters,
            if self.voters == 1 { "" } else { "s" }
        );
        if !self.missing.is_empty() {
            s.push_str(&format!(", missing {}", self.missing.join(", ")));
        }
        if self.synchronized == Some(false) {
            s.push_str(", not synchronized");
        }
        s
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

async fn probe_node(client: WeaviateClient, budget: Option<Duration>) -> NodeProbe {
    let (live, ready) = tokio::join!(client.live(), client.ready_with_latency());
    let mut p = NodeProbe::default();
    match ready {
        Ok((ok, latency)) => {
            p.ready = ok;
            p.latency = Some(latency);
            // A 200 on ready implies the listener is up even if the live probe lost a race.
            p.live = ok;
            if !ok {
                p.error = Some(
                    "the ready probe did not return 200 (starting, in maintenance, or without RAFT quorum)"
                        .into(),
                );
            }
        }
        Err(e) => p.error = Some(e.message),
    }
    match live {
        Ok(l) => p.live |= l,
        Err(e) => {
            if p.error.is_none() {
                p.error = Some(e.message);
            }
        }
    }
    if p.live {
        match client
            .clone()
            .with_timeout(budget.unwrap_or(READINESS_CALL_TIMEOUT))
            .version()
            .await
        {
            Ok(v) => p.version = v,
            Err(e) => {
                if p.error.is_none() {
                    p.error = Some(e.message);
                }
            }
        }
    }
    p
}

/// Probe every configured node concurrently (live, ready, latency, version),
/// then ask the RAFT statistics and the membership of the first node that
/// answers (ready nodes first, then merely live ones).
pub async fn cluster_readiness(
    http: &reqwest::Client,
    nodes: &[NodeSpec],
    api_key: &Secret,
) -> ClusterReadiness {
    cluster_readiness_within(http, nodes, api_key, None).await
}

/// The same, every call cut at `budget` when one is given: when a node is
/// already known to be down or frozen, the others' cluster-wide answers
/// stall on it, and the verdict should not wait out the usual timeouts.
pub async fn cluster_readiness_within(
    http: &reqwest::Client,
    nodes: &[NodeSpec],
    api_key: &Secret,
    budget: Option<Duration>,
) -> ClusterReadiness {
    let clients: Vec<WeaviateClient> = nodes
        .iter()
        .map(|s| {
            let c = WeaviateClient::for_node(http.clone(), s, api_key);
            match budget {
                Some(b) => c.with_timeout(b),
                None => c,
            }
        })
        .collect();
    // The probes and every node's view of RAFT and membership run at once: a
    // hung node (or a node whose /v1/nodes waits on a hung peer) then costs
    // one timeout in total, not one per step.
    let views = futures_util::future::join_all(clients.iter().map(|c| {
        let c = c
            .clone()
            .with_timeout(budget.unwrap_or(READINESS_CALL_TIMEOUT));
        async move {
            let (stats, members) = tokio::join!(c.raft_statistics(), c.nodes_status(false));
            (stats, members)
        }
    }));
    let (probes, views) = tokio::join!(
        futures_util::future::join_all(clients.iter().cloned().map(|c| probe_node(c, budget))),
        views
    );

    let mut order: Vec<usize> = (0..nodes.len()).filter(|&i| probes[i].ready).collect();
    order.extend((0..nodes.len()).filter(|&i| !probes[i].ready && probes[i].live));

    let mut asked = None;
    let mut stats: Result<ClusterStatistics, String> =
        Err("no node is up to answer it".to_string());
    let mut members = None;
    let mut failures = Vec::new();
    let mut views: Vec<Option<_>> = views.into_iter().map(Some).collect();
    for i in order {
        let Some((s, m)) = views[i].take() else {
            continue;
        };
        match s {
            Ok(s) => {
                members = m.ok().map(|n| {
                    n.nodes
                        .into_iter()
                        .map(|n| n.name)
                        .filter(|n| !n.is_empty())
                        .collect()
                });
                asked = Some(nodes[i].name.clone());
                stats = Ok(s);
                break;
            }
            Err(e) => failures.push(e.message),
        }
    }
    if stats.is_err() && !failures.is_empty() {
        stats = Err(failures.join("; "));
    }
    ClusterReadiness::evaluate(
        nodes,
        probes,
        asked,
        stats.as_ref().map_err(String::clone),
        members,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::WeaviateConfig;
    use serde::Deserialize;
    use serde_json::json;

    fn specs(n: usize) -> Vec<NodeSpec> {
        let w = WeaviateConfig {
            nodes: n,
            ..WeaviateConfig::default()
        };
        w.node_specs()
    }

    fn up() -> NodeProbe {
        NodeProbe {
            live: true,
            ready: true,
            latency: Some(Duration::from_millis(3)),
            version: Some("1.38.11".into()),
            error: None,
        }
    }

    fn stats(v: Value) -> ClusterStatistics {
        ClusterStatistics::deserialize(&v).unwrap()
    }

    fn healthy_stats() -> Value {
        json!({"synchronized": true, "statistics": [
            {"name": "weaviate-0", "status": "HEALTHY", "ready": true, "isVoter": true, "leaderId": "weaviate-1",
             "raft": {"state": "Follower", "appliedIndex": "57"}},
            {"name": "weaviate-1", "status": "HEALTHY", "ready": true, "isVoter": true, "leaderId": "weaviate-1",
             "raft": {"state": "Leader", "appliedIndex": "57"}},
            {"name": "weaviate-2", "status": "HEALTHY", "ready": true, "isVoter": true, "leaderId": "weaviate-1",
             "raft": {"state": "Follower", "appliedIndex": "57"}}]})
    }

    fn names(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn healthy_cluster_is_ready() {
        let s = stats(healthy_stats());
        let r = ClusterReadiness::evaluate(
            &specs(3),
            vec![up(), up(), up()],
            Some("weaviate-0".into()),
            Ok(&s),
            names(&["weaviate-0", "weaviate-1", "weaviate-2"]),
        );
        assert!(r.ready, "{:?}", r.problems);
        assert!(r.is_ready(3));
        assert_eq!(r.summary, "3/3 ready, leader weaviate-1, 3 voters");
        assert_eq!(r.leader.as_deref(), Some("weaviate-1"));
        assert_eq!(r.nodes[1].raft_state.as_deref(), Some("Leader"));
        assert!(!r.is_ready(4), "a fourth expected node is missing");
    }

    #[test]
    fn a_killed_node_drops_out_of_membership() {
        // weaviate-2 was killed: it is gone from /v1/nodes and the statistics.
        let mut v = healthy_stats();
        v["statistics"].as_array_mut().unwrap().pop();
        let s = stats(v);
        let down = NodeProbe {
            error: Some("cannot connect to node weaviate-2".into()),
            ..NodeProbe::default()
        };
        let r = ClusterReadiness::evaluate(
            &specs(3),
            vec![up(), up(), down],
            Some("weaviate-0".into()),
            Ok(&s),
            names(&["weaviate-0", "weaviate-1"]),
        );
        assert!(!r.ready);
        assert_eq!(r.missing, vec!["weaviate-2"]);
        assert_eq!(r.voters, 2);
        assert_eq!(
            r.summary,
            "2/3 ready, leader weaviate-1, 2 voters, missing weaviate-2"
        );
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("weaviate-2 does not answer")));
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("not voting: weaviate-2")));
    }

    #[test]
    fn two_leaders_is_not_ready() {
        let mut v = healthy_stats();
        v["statistics"][2]["leaderId"] = json!("weaviate-2");
        let s = stats(v);
        let r = ClusterReadiness::evaluate(
            &specs(3),
            vec![up(), up(), up()],
            Some("weaviate-0".into()),
            Ok(&s),
            names(&["weaviate-0", "weaviate-1", "weaviate-2"]),
        );
        assert!(!r.ready);
        assert_eq!(r.leader, None);
        assert!(
            r.summary.contains("2 leaders (weaviate-1, weaviate-2)"),
            "{}",
            r.summary
        );
        assert!(r.problems.iter().any(|p| p.contains("disagree")));
    }

    #[test]
    fn omitted_is_voter_means_false_and_unavailable_peers_parse() {
        let v = json!({"synchronized": false, "statistics": [
            {"name": "weaviate-0", "status": "HEALTHY", "ready": true, "isVoter": true, "leaderId": "weaviate-0",
             "raft": {"state": "Leader", "appliedIndex": "5", "latestConfiguration": [{"id": "weaviate-0", "address": "a", "suffrage": 0}]}},
            {"name": "weaviate-1", "status": "HEALTHY", "ready": true, "leaderId": "weaviate-0",
             "raft": {"state": "Follower", "appliedIndex": "5"}},
            {"name": "weaviate-2", "status": "UNAVAILABLE"}]});
        let s = stats(v);
        assert!(!s.statistics[1].is_voter);
        assert_eq!(s.statistics[2].leader_id, "");
        let r = ClusterReadiness::evaluate(
            &specs(3),
            vec![up(), up(), up()],
            Some("weaviate-0".into()),
            Ok(&s),
            None,
        );
        assert_eq!(r.voters, 1);
        assert!(!r.ready);
        assert!(
            r.summary.ends_with("1 voter, not synchronized"),
            "{}",
            r.summary
        );
        // Membership falls back to the names the statistics list.
        assert!(r.missing.is_empty());
        assert_eq!(r.nodes[2].status.as_deref(), Some("UNAVAILABLE"));
    }

    #[test]
    fn nothing_up_says_so() {
        let r = ClusterReadiness::evaluate(
            &specs(3),
            vec![NodeProbe::default(); 3],
            None,
            Err("no node is up to answer it".into()),
            None,
        );
        assert!(!r.ready);
        assert_eq!(r.summary, "0/3 ready, leader unknown, 0 voters");
        assert!(r
            .problems
            .iter()
            .any(|p| p.contains("RAFT statistics unavailable")));
        let j = r.to_json();
        assert_eq!(j["nodes"][0]["name"], "weaviate-0");
        assert_eq!(j["ready"], false);
    }
}
