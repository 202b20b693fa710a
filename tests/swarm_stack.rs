//! The swarm runtime on a one-node swarm: the lifecycle scenario the other
//! runtimes pass (start, status with each node's host, a playbook in Rhai
//! and in Lua, a rolling restart through Swarm's service updates under the
//! official Python client's reads and writes, stop), `weaviate scale` from
//! three nodes to five and back, then that `stop` left no service, network
//! or container, only the three data volumes it keeps.
//!
//! The engine is put in Swarm mode for the test when it is not, and left
//! as it was found.

mod common;

use common::scaling::{scale_round_trip, stack_with_room};
use common::{docker_available, docker_get, docker_request_with, elysia_venv, require, Stack};
use serde_json::{json, Value};

/// The engine's swarm state: "inactive", "active", …
fn swarm_state() -> String {
    docker_get("/info")
        .and_then(|i| i["Swarm"]["LocalNodeState"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn network_exists(name: &str) -> bool {
    docker_get(&format!("/networks/{name}")).is_some_and(|n| n["Id"].is_string())
}

/// Leaves the swarm at the end only when the test made it, and removes the
/// docker_gwbridge network `swarm init` made (leaving keeps it).
struct SwarmMode {
    made_here: bool,
    made_gwbridge: bool,
}

impl SwarmMode {
    fn ensure() -> SwarmMode {
        if swarm_state() == "active" {
            return SwarmMode {
                made_here: false,
                made_gwbridge: false,
            };
        }
        let made_gwbridge = !network_exists("docker_gwbridge");
        let (status, body) = docker_request_with(
            "POST",
            "/swarm/init",
            Some(&json!({"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "127.0.0.1"})),
        )
        .expect("the Docker engine answers");
        assert!(status.contains("200"), "swarm init: {status} {body}");
        SwarmMode {
            made_here: true,
            made_gwbridge,
        }
    }
}

impl Drop for SwarmMode {
    fn drop(&mut self) {
        if self.made_here {
            docker_request_with("POST", "/swarm/leave?force=true", None);
        }
        if self.made_gwbridge {
            docker_request_with("DELETE", "/networks/docker_gwbridge", None);
        }
    }
}

/// Objects of the stack's cluster that the engine lists at `path`
/// (services, networks, volumes), by the cluster label.
fn labelled(path: &str, s: &Stack) -> Vec<Value> {
    let filter = format!(r#"{{"label":["io.elysiactl.cluster={}"]}}"#, s.cluster_name);
    let encoded: String = filter
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let v = docker_get(&format!("{path}?filters={encoded}")).unwrap_or_default();
    // /volumes answers {"Volumes": [...]}, the others a list.
    v.get("Volumes")
        .cloned()
        .unwrap_or(v)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn swarm_runtime_lifecycle() {
    if !require("a Docker engine", docker_available())
        || !require(
            "the Weaviate image (elysiactl install weaviate)",
            docker_get("/images/elysiactl/weaviate:1.38.11/json")
                .is_some_and(|i| i["Id"].is_string()),
        )
        || !require(
            "the Elysia venv (its Python client)",
            elysia_venv().join("bin/python").exists(),
        )
    {
        return;
    }
    // Declared before the stack, so it is dropped after it: the stack's own
    // clean-up still finds the engine in Swarm mode.
    let swarm: SwarmMode;
    let s = stack_with_room("swarm");

    // Not in Swarm mode: start refuses and says how to get there.
    let made_here = swarm_state() != "active";
    if made_here {
        let r = s.run(&["weaviate", "start"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stderr.contains("docker swarm init"), "{}", r.stderr);
        assert!(labelled("/services", &s).is_empty());
    }
    swarm = SwarmMode::ensure();

    common::scenario::full(&s, false);
    // Grown to five nodes and back, with the two extra nodes' volumes
    // removed: Swarm services added and removed, RAFT removal through the
    // task's helper (its data port is on the overlay network).
    scale_round_trip(&s);

    // stop removed the services, their containers and the overlay network,
    // and kept the three data volumes (removed only by a purge).
    let services = labelled("/services", &s);
    assert!(services.is_empty(), "services left: {services:?}");
    let networks = labelled("/networks", &s);
    assert!(networks.is_empty(), "networks left: {networks:?}");
    assert!(s.containers().is_empty(), "containers left");
    let volumes = labelled("/volumes", &s);
    assert_eq!(volumes.len(), 3, "the data volumes are kept: {volumes:?}");
    drop(s);
    drop(swarm);
}
