//! `elysia workers`: several real Elysia processes behind real nginx, on one
//! Weaviate node. Elysia keeps a user's session in one process, so every
//! user must stay on one worker: sessions are created, then read back
//! through nginx, and each worker is asked directly which sessions it holds.
//! One stack for the file (four Elysia starts are the expensive part).

mod common;

use common::{http, require, require_weaviate, Stack};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Eight users: four are what the feature promises, eight make it all but
/// certain (1 in 16000) that the random worker ports spread them.
const USERS: [&str; 8] = ["ana", "ben", "cleo", "dev", "eli", "fay", "gus", "hal"];

fn nginx_installed() -> bool {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .any(|p| Path::new(p).exists())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A conversation's config, as Elysia answers for it from its memory:
/// "" when this process holds the user's tree, else its error.
fn tree_error(port: u16, user: &str) -> String {
    let (code, body) = http(
        port,
        "GET",
        &format!("/tree/config/{user}/conv-{user}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    json_of(&body)["error"].as_str().unwrap_or("?").to_string()
}

/// Create the user and a conversation through `port`; the second init must
/// find the user the first made (state kept between requests).
fn open_session(port: u16, user: &str) {
    let (code, body) = http(port, "POST", &format!("/init/user/{user}"), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["user_exists"], false, "{body}");
    let (code, body) = http(
        port,
        "POST",
        &format!("/init/tree/{user}/conv-{user}"),
        Some(&json!({"low_memory": false})),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["error"], "", "{body}");
    let (_, body) = http(port, "POST", &format!("/init/user/{user}"), None);
    assert_eq!(json_of(&body)["user_exists"], true, "{user}: {body}");
    assert_eq!(tree_error(port, user), "", "{user}'s tree, read back");
}

/// The user each request went to which worker, from nginx's access log.
fn upstreams_by_user(s: &Stack) -> BTreeMap<String, BTreeSet<String>> {
    let log = std::fs::read_to_string(s.state_dir().join("logs/elysia-proxy-access.log")).unwrap();
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in log.lines() {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_string)
        };
        if let (Some(user), Some(up)) = (field("user="), field("upstream=")) {
            m.entry(user).or_default().insert(up);
        }
    }
    m
}

/// The first websocket message Elysia sends for a query of `user`, through
/// nginx with the user id in the query string (Elysia's websocket routes
/// carry it only in their messages). Python's `websockets` comes with Elysia.
fn first_query_message(port: u16, user: &str) -> Value {
    let script = r#"
import asyncio, json, sys
import websockets
async def main(url, user):
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"user_id": user, "conversation_id": "conv-" + user, "query": "hi",
                                  "query_id": "q1", "route": "", "mimick": False, "collection_names": []}))
        print(await asyncio.wait_for(ws.recv(), 60))
asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;
    let out = std::process::Command::new(common::python())
        .args([
            "-c",
            script,
            &format!("ws://127.0.0.1:{port}/ws/query?user_id={user}"),
            user,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(String::from_utf8_lossy(&out.stdout).trim())
}

fn alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn four_workers_keep_every_users_session_on_one_of_them() {
    if !require_weaviate()
        || !require(
            "Elysia's venv (elysiactl install elysia)",
            common::elysia_venv().join("bin/elysia").exists(),
        )
        || !require("nginx (apt-get install nginx)", nginx_installed())
    {
        return;
    }
    let s = Stack::new("process", 1, true, "");
    // The [elysia] section comes last in the fixture's config.
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("workers = 4\n");
    std::fs::write(&cfg, text).unwrap();
    let port = s.elysia_port;

    s.run(&["start", "--timeout", "300"]).ok();
    let st = s.run(&["elysia", "status", "--json"]).ok().json();
    assert_eq!(st["up"], true, "{st}");
    let workers = st["workers"].as_array().unwrap().clone();
    assert_eq!(workers.len(), 4, "{st}");
    assert!(
        workers.iter().all(|w| w["up"] == true && w["port"] != port),
        "{st}"
    );
    let proxy_pid = st["proxy"]["pid"].as_u64().unwrap();
    assert_eq!(
        st["pid"].as_u64(),
        Some(proxy_pid),
        "clients talk to nginx: {st}"
    );
    let mut pids: Vec<u64> = workers.iter().map(|w| w["pid"].as_u64().unwrap()).collect();
    pids.push(proxy_pid);
    let human = s.run(&["elysia", "status"]).ok().stdout;
    assert!(human.contains("Elysia workers: 4 behind nginx"), "{human}");
    assert!(human.contains("elysia-3"), "{human}");
    // --dry-run plans from the workers that run, and changes nothing.
    let r = s
        .run(&["--dry-run", "elysia", "workers", "--count", "2", "--json"])
        .ok()
        .json();
    assert_eq!(
        (r["before"].clone(), r["stopped"].clone()),
        (json!(4), json!([2, 3])),
        "{r}"
    );
    let r = s
        .run(&["--dry-run", "elysia", "stop", "--json"])
        .ok()
        .json();
    assert_eq!(r["stopped"], "terminated", "{r}");
    assert!(pids.iter().all(|p| alive(*p)), "a dry run stopped a worker");
    // The running stack is what the config says (workers = 4).
    let r = s.run(&["config", "diff"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // `logs elysia` reads every worker's log and nginx's.
    let logs = s
        .run(&["logs", "elysia", "-n", "5000", "--json"])
        .ok()
        .stdout;
    let sources: BTreeSet<String> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["source"].as_str().map(str::to_string))
        .collect();
    for w in [
        "elysia-0",
        "elysia-1",
        "elysia-2",
        "elysia-3",
        "elysia-nginx",
    ] {
        assert!(sources.contains(w), "{w} missing from {sources:?}");
    }

    for user in USERS {
        open_session(port, user);
    }
    // Each session lives in exactly one worker, asked directly.
    let worker_ports: Vec<u16> = workers
        .iter()
        .map(|w| w["port"].as_u64().unwrap() as u16)
        .collect();
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for user in USERS {
        let holders: Vec<usize> = (0..worker_ports.len())
            .filter(|&i| tree_error(worker_ports[i], user).is_empty())
            .collect();
        assert_eq!(
            holders.len(),
            1,
            "{user}'s session is in workers {holders:?}"
        );
        owner.insert(user, holders[0]);
    }
    let used: BTreeSet<usize> = owner.values().copied().collect();
    assert!(used.len() > 1, "every user went to one worker: {owner:?}");
    // And nginx sent every request of a user to that worker.
    let ups = upstreams_by_user(&s);
    for user in USERS {
        let expected = format!("127.0.0.1:{}", worker_ports[owner[user]]);
        assert_eq!(
            ups.get(user).map(|u| u.iter().cloned().collect::<Vec<_>>()),
            Some(vec![expected]),
            "{user}"
        );
    }
    // A websocket query reaches the worker that knows the user: Elysia answers
    // it (named entities first) instead of "User … not found".
    for user in &USERS[..2] {
        let m = first_query_message(port, user);
        assert_eq!(m["type"], "ner", "{user}: {m}");
    }

    // Down to three: worker 3 stops; consistent hashing keeps everyone else
    // on their worker, so their sessions go on.
    let r = s
        .run(&["elysia", "workers", "--count", "3", "--json"])
        .ok()
        .json();
    assert_eq!(r["before"], 4, "{r}");
    assert_eq!(r["stopped"], json!([3]), "{r}");
    assert!(!alive(pids[3]), "worker 3 (PID {}) still runs", pids[3]);
    for user in USERS {
        if owner[user] != 3 {
            assert_eq!(
                tree_error(port, user),
                "",
                "{user} lost the session on worker {}",
                owner[user]
            );
        }
    }
    let st = s.run(&["elysia", "status", "--json"]).ok().json();
    assert_eq!(st["workers"].as_array().unwrap().len(), 3, "{st}");
    let r = s.run(&["config", "diff"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("elysia.workers"), "{}", r.stdout);

    // Down to one: a plain Elysia on the same port, without nginx.
    let r = s
        .run(&["elysia", "workers", "--count", "1", "--json"])
        .ok()
        .json();
    assert_eq!(r["workers"], 1, "{r}");
    for pid in &pids {
        assert!(!alive(*pid), "PID {pid} of the worker set still runs");
    }
    let st = s.run(&["elysia", "status", "--json"]).ok().json();
    assert_eq!(st["up"], true, "{st}");
    assert_eq!(st["proxy"], Value::Null, "{st}");
    assert_eq!(st["workers"].as_array().unwrap().len(), 1, "{st}");
    assert_eq!(st["workers"][0]["port"], port, "{st}");
    let single = st["pid"].as_u64().unwrap();
    open_session(port, "ana");

    s.run(&["stop"]).ok();
    assert!(!alive(single), "Elysia (PID {single}) still runs");
    assert_eq!(s.live_pids(), Vec::<u32>::new());
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still held"
    );
}
