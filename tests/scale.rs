//! `weaviate scale --nodes N` on real clusters in the process and docker
//! runtimes (the swarm runtime's test runs the same round trip): see
//! tests/common/scaling.rs.

mod common;

use common::scaling::{scale_round_trip, stack_with_room};
use common::{docker_available, docker_get, require, require_weaviate};

#[test]
fn process_cluster_grows_to_five_and_shrinks_back_without_losing_objects() {
    if !require_weaviate() {
        return;
    }
    let s = stack_with_room("process");
    scale_round_trip(&s);
    assert!(s.live_pids().is_empty(), "stop left {:?}", s.live_pids());
    let data = s.dir.path().join("data/elysiactl/weaviate");
    for gone in ["weaviate-3", "weaviate-4"] {
        assert!(!data.join(gone).exists(), "{gone}'s data was left behind");
    }
}

#[test]
fn docker_cluster_grows_to_five_and_shrinks_back_without_losing_objects() {
    if !require("a Docker engine", docker_available()) || !require_weaviate() {
        return;
    }
    let s = stack_with_room("docker");
    scale_round_trip(&s);
    assert!(s.containers().is_empty(), "stop left {:?}", s.containers());
    for i in 0..5 {
        let volume = docker_get(&format!("/volumes/{}-weaviate-{i}-data", s.cluster_name));
        // The kept nodes' data outlives `stop`; the removed nodes' is gone.
        assert_eq!(
            volume.is_some_and(|v| v["Name"].is_string()),
            i < 3,
            "volume of weaviate-{i}"
        );
    }
}
