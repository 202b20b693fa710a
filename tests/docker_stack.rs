//! The whole stack with Weaviate in Docker containers (image built locally
//! from the Go binary): the same lifecycle scenario as the process runtime;
//! and the docker runtime alone, on a cluster and image of its own: what it
//! refuses to touch, settings that changed, a paused node, clean-up.

mod common;

use common::{docker_available, elysia_venv, free_block, require, weaviate_binary, Stack};
use elysiactl::base::config::WeaviateConfig;
use elysiactl::clients::docker::{self as dk, Docker, CLUSTER_LABEL};
use elysiactl::install::image::build_weaviate_image;
use elysiactl::runtime::docker::{image_available, DockerRuntime};
use elysiactl::runtime::WeaviateRuntime;
use std::time::{Duration, Instant};

#[test]
fn docker_runtime_lifecycle() {
    if !require("a Docker engine", docker_available())
        || !require("the Elysia venv", elysia_venv().join("bin/elysia").exists())
    {
        return;
    }
    let s = Stack::new("docker", 3, true, "");
    common::scenario::full(&s, true);
}

/// The docker runtime on its own: builds an image of the installed
/// weaviate-server under a tag of its own, refuses what is in the way or not
/// its own, runs a 3-node cluster to readiness with one RAFT leader, notices
/// changed settings and a paused node, and removes it all.
#[test]
fn docker_runtime_guards_recreates_and_cleans_up() {
    if !require("a Docker engine", docker_available())
        || !require(
            "the Weaviate binary (elysiactl install weaviate)",
            weaviate_binary().exists(),
        )
    {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A tag and cluster of this test's own, so the stack tests' image and
    // containers are never touched.
    let prefix = format!("elysiactl-rt-{}", std::process::id());
    let rest_port = free_block(3);
    let cfg = WeaviateConfig {
        cluster_name: prefix.clone(),
        image: format!("elysiactl/weaviate:{prefix}"),
        rest_port,
        grpc_port: free_block(3),
        metrics_port: free_block(3),
        stop_timeout: 30,
        ..Default::default()
    };
    let image = cfg.image_name();
    let docker = rt.block_on(dk::connect()).expect("docker engine");

    let t = Instant::now();
    rt.block_on(build_weaviate_image(&docker, &weaviate_binary(), &image))
        .expect("image build");
    eprintln!("image {image} built in {:.1?}", t.elapsed());
    assert!(image_available(rt.handle(), &image));

    let rotation = elysiactl::base::logfile::Rotation {
        max_bytes: 5 << 20,
        keep: 2,
    };
    let r = DockerRuntime::new(cfg.clone(), rt.handle().clone())
        .unwrap()
        .with_rotation(rotation);

    // Whatever happens, the test's containers (the foreign one made below
    // included), network, volumes and tag go.
    let squatter = r.container_name(&cfg.node(2));
    struct Cleanup<'a> {
        runtime: &'a DockerRuntime,
        rt: &'a tokio::runtime::Runtime,
        docker: &'a Docker,
        squatter: &'a str,
        image: &'a str,
    }
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.rt.block_on(dk::remove_container(
                self.docker,
                self.squatter,
                true,
                false,
            ));
            if let Err(e) = self.runtime.cleanup(true) {
                eprintln!("cleanup failed: {e}");
            }
            if let Err(e) = self
                .rt
                .block_on(self.docker.remove_image(self.image, None, None))
            {
                eprintln!("removing {} failed: {e}", self.image);
            }
        }
    }
    let _guard = Cleanup {
        runtime: &r,
        rt: &rt,
        docker: &docker,
        squatter: &squatter,
        image: &image,
    };
    r.cleanup(true).expect("clean start");

    let nodes: Vec<usize> = (0..cfg.nodes).collect();

    // Preflight names what is in the way.
    let missing = DockerRuntime::new(
        WeaviateConfig {
            image: "elysiactl/weaviate:no-such-tag".into(),
            ..cfg.clone()
        },
        rt.handle().clone(),
    )
    .unwrap();
    let e = missing.preflight(&nodes).unwrap_err();
    eprintln!("missing image: {e}");
    assert!(e.hint.contains("elysiactl install weaviate"), "{e}");
    let listener = std::net::TcpListener::bind(("127.0.0.1", rest_port + 1)).unwrap();
    let e = r.preflight(&nodes).unwrap_err();
    eprintln!("busy port: {e}");
    assert!(
        e.message.contains(&(rest_port + 1).to_string())
            && e.message.contains("REST port of weaviate-1"),
        "{e}"
    );
    drop(listener);
    rt.block_on(docker.create_container(
        Some(bollard::container::CreateContainerOptions {
            name: squatter.clone(),
            platform: None,
        }),
        bollard::container::Config {
            image: Some(image.clone()),
            ..Default::default()
        },
    ))
    .unwrap();
    let e = r.preflight(&nodes).unwrap_err();
    eprintln!("foreign container: {e}");
    assert!(
        e.message.contains(&squatter) && e.hint.contains("cluster_name"),
        "{e}"
    );
    assert!(r.start_node(2).is_err());
    assert!(
        r.stop_node(2, Duration::from_secs(1)).is_err(),
        "must not touch it"
    );
    rt.block_on(dk::remove_container(&docker, &squatter, true, false))
        .unwrap();

    r.preflight(&nodes).expect("preflight");
    let t = Instant::now();
    for &i in &nodes {
        r.start_node(i).expect("start node");
    }
    eprintln!("3 containers started in {:.1?}", t.elapsed());
    // The engine rotates the nodes' logs by the `[logs]` limits.
    let inspected = rt
        .block_on(docker.inspect_container(&r.container_name(&cfg.node(1)), None))
        .unwrap();
    let log = inspected.host_config.unwrap().log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    let opts = log.config.unwrap();
    assert_eq!(
        (opts["max-size"].as_str(), opts["max-file"].as_str()),
        ("5242880", "3")
    );
    // Starting again is a no-op for a running, unchanged node.
    r.start_node(0).expect("second start");
    r.preflight(&nodes)
        .expect("preflight with our own nodes up");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut ready = vec![false; cfg.nodes];
    while ready.iter().any(|r| !r) {
        if Instant::now() > deadline {
            for &i in &nodes {
                eprintln!("--- {} log:", cfg.node(i).name);
                for l in r.log_tail(i, 30) {
                    eprintln!("{l}");
                }
                eprintln!("state: {:?}", r.node_state(i));
            }
            panic!("cluster not ready within 180 s: {ready:?}");
        }
        for &i in &nodes {
            if !ready[i] {
                let url = format!("{}/v1/.well-known/ready", cfg.node(i).rest_url());
                ready[i] = rt
                    .block_on(async { http.get(&url).send().await })
                    .map(|resp| resp.status().as_u16() == 200)
                    .unwrap_or(false);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "all 3 nodes ready {:.1?} after the first start",
        t.elapsed()
    );

    // RAFT: one leader known to everyone, three voters (poll: it may still settle).
    let stats_url = format!("{}/v1/cluster/statistics", cfg.node(0).rest_url());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: serde_json::Value = rt
            .block_on(async { http.get(&stats_url).send().await?.json().await })
            .unwrap_or_default();
        let stats = body["statistics"].as_array().cloned().unwrap_or_default();
        let mut leaders: Vec<&str> = stats
            .iter()
            .filter_map(|s| s["leaderId"].as_str())
            .filter(|s| !s.is_empty())
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        let voters = stats
            .iter()
            .filter(|s| s["isVoter"].as_bool() == Some(true))
            .count();
        if leaders.len() == 1 && voters == 3 && stats.len() == 3 {
            eprintln!(
                "RAFT: leader {}, {voters} voters, synchronized={}",
                leaders[0], body["synchronized"]
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no single leader with 3 voters: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let t = Instant::now();
    for &i in &nodes {
        let st = r.node_state(i).expect("node state");
        eprintln!(
            "{}: running={} container={:?} pid={:?} cpu={:?}% mem={:?} uptime={:?} restarts={:?} detail={:?}",
            st.node, st.running, st.container, st.pid, st.cpu_percent, st.memory_bytes,
            st.uptime_seconds, st.restarts, st.detail
        );
        assert!(st.running && st.container.is_some() && st.pid.is_some());
        assert!(st.memory_bytes.unwrap_or(0) > 0);
    }
    eprintln!("node_state x3 took {:.1?}", t.elapsed());
    // A second round reports CPU use since the first reading.
    let t = Instant::now();
    for &i in &nodes {
        let st = r.node_state(i).expect("node state");
        eprintln!(
            "{}: cpu since previous reading {:?}%",
            st.node, st.cpu_percent
        );
        assert!(st.cpu_percent.is_some());
    }
    eprintln!("second node_state x3 took {:.1?}", t.elapsed());
    let one = rt
        .block_on(dk::stats(&docker, &r.container_name(&cfg.node(0))))
        .expect("sampled stats");
    eprintln!("sampled stats of node 0: {one:?}");
    assert!(one.cpu_percent.is_some() && one.memory_bytes > 0);
    let tail = r.log_tail(0, 5);
    assert!(!tail.is_empty() && tail.len() <= 5, "{tail:?}");

    // A changed setting is noticed, and the next start recreates the container.
    let mut changed = cfg.clone();
    changed.env.insert("LOG_LEVEL".into(), "debug".into());
    let r2 = DockerRuntime::new(changed, rt.handle().clone()).unwrap();
    let before = r2.node_state(2).unwrap();
    assert!(before.detail.contains("recreates"), "{before:?}");
    let t = Instant::now();
    r2.start_node(2).expect("recreate");
    let after = r2.node_state(2).unwrap();
    eprintln!("node 2 recreated with new settings in {:.1?}", t.elapsed());
    assert!(
        after.running && after.container != before.container,
        "{after:?}"
    );
    assert_eq!(after.detail, "");

    // A paused node reports it, and stops gracefully all the same.
    let n1 = r.container_name(&cfg.node(1));
    rt.block_on(dk::pause_container(&docker, &n1)).unwrap();
    let st = r.node_state(1).unwrap();
    eprintln!("paused: {st:?}");
    assert!(st.detail.starts_with("paused"), "{st:?}");

    let t = Instant::now();
    for &i in nodes.iter().rev() {
        let how = r.stop_node(i, Duration::from_secs(30)).expect("stop");
        eprintln!("{} stopped: {how}", cfg.node(i).name);
        assert!(how == "terminated" || how == "killed", "{how}");
    }
    eprintln!("3 nodes stopped in {:.1?}", t.elapsed());
    assert_eq!(
        r.stop_node(0, Duration::from_secs(1)).unwrap(),
        "not running"
    );
    let st = r.node_state(0).unwrap();
    assert!(!st.running && st.container.is_none(), "{st:?}");
    // Data volumes survive a stop.
    let ours = [(CLUSTER_LABEL, prefix.as_str())];
    let volumes = rt.block_on(dk::list_volumes(&docker, &ours)).unwrap();
    assert_eq!(volumes.len(), 3, "{volumes:?}");

    r.cleanup(true).expect("cleanup");
    let containers = rt
        .block_on(dk::list_containers(&docker, true, &[]))
        .unwrap();
    assert!(
        !containers
            .iter()
            .any(|c| c.name.starts_with(&prefix) || c.cluster.as_deref() == Some(prefix.as_str())),
        "{containers:?}"
    );
    let networks = rt.block_on(dk::list_networks(&docker, &[])).unwrap();
    assert!(
        !networks.iter().any(|n| n.name.starts_with(&prefix)
            || n.labels.get(CLUSTER_LABEL).map(String::as_str) == Some(prefix.as_str())),
        "{networks:?}"
    );
    let volumes = rt.block_on(dk::list_volumes(&docker, &[])).unwrap();
    assert!(
        !volumes.iter().any(|v| v.name.starts_with(&prefix)
            || v.labels.get(CLUSTER_LABEL).map(String::as_str) == Some(prefix.as_str())),
        "{volumes:?}"
    );
    eprintln!("nothing of {prefix} remains");
}
