//! What users of the tool elysiactl replaces type, as its README and crontab
//! lines write it (issue 20): each form works as written and has its effect.
//! No cluster needed here; the real-cluster ones are in health_repair.rs.

mod common;

use common::{git, Stack};
use serde_json::{json, Value};
use std::path::Path;

fn stack() -> Stack {
    Stack::new("process", 3, false, "")
}

/// `index errors --recent` with no number shows the 20 newest.
#[test]
fn index_errors_recent_without_a_number_shows_twenty() {
    let s = stack();
    let store = s.dir.path().join("data/elysiactl/index.redb");
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    let entries: Vec<Value> = (0..25)
        .map(|i| json!({"time": "2026-12-03T10:00:00Z", "category": "encoding", "repository": "/r", "file": format!("f{i}.rs"), "message": "not UTF-8"}))
        .collect();
    elysiactl::index::store::Store::open(&store)
        .unwrap()
        .add_errors(&entries)
        .unwrap();
    let recent = s
        .run(&["index", "errors", "--recent", "--json"])
        .ok()
        .json();
    let files: Vec<&str> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 20, "{recent:#}");
    assert_eq!(files[0], "f24.rs", "newest first: {recent:#}");
    let three = s
        .run(&["index", "errors", "--recent", "3", "--json"])
        .ok()
        .json();
    assert_eq!(three.as_array().unwrap().len(), 3, "{three:#}");
}

/// `elysia stop --graceful --timeout 30` is taken as written (it was refused).
#[test]
fn elysia_stop_takes_graceful_and_timeout() {
    let s = stack();
    let r = s
        .run(&["elysia", "stop", "--graceful", "--timeout", "30", "--json"])
        .ok();
    assert_eq!(r.json()["stopped"], "not running", "{}", r.stdout);
    let r = s
        .run(&["elysia", "stop", "--graceful", "--timeout", "30"])
        .ok();
    assert_eq!(r.stdout.trim(), "elysia: not running");
}

fn git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("main.rs"), "fn main() {}\n").unwrap();
    git(dir, &["add", "."]);
    git(
        dir,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "x",
        ],
    );
}

/// `index sync` and `index tune` with no folder take the configured list's
/// repositories, say which, and leave out (with a warning) those not cloned.
#[test]
fn index_sync_and_tune_without_paths_use_the_repository_list() {
    let s = stack();
    let repo = s.dir.path().join("work/app");
    git_repo(&repo);
    let list = s.dir.path().join("repos.txt");
    std::fs::write(
        &list,
        format!("{}\nhttps://example.invalid/x/later.git\n", repo.display()),
    )
    .unwrap();
    let list_s = list.to_str().unwrap();
    let repo_s = std::fs::canonicalize(&repo).unwrap();
    for var in ["MGIT_REPOS_FILE", "MGIT_REPOS_LIST"] {
        let r = s.run_with(&["--dry-run", "index", "sync", "--json"], &[(var, list_s)]);
        assert_eq!(r.code, 0, "{var}: {}{}", r.stdout, r.stderr);
        let v = r.json();
        let repos: Vec<&str> = v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["repository"].as_str().unwrap())
            .collect();
        assert_eq!(repos, [repo_s.to_str().unwrap()], "{var}: {v:#}");
        assert!(
            r.stderr.contains("1 repositories of") && r.stderr.contains(list_s),
            "says which list: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("later.git: not cloned yet"),
            "{}",
            r.stderr
        );
    }
    let r = s.run_with(
        &["--dry-run", "index", "tune"],
        &[("MGIT_REPOS_FILE", list_s)],
    );
    assert!(
        r.stderr.contains("index tune: no folders given") && r.stderr.contains(list_s),
        "{}",
        r.stderr
    );
    // Nothing configured: refused with what to do.
    for cmd in ["sync", "tune"] {
        let r = s.run(&["index", cmd]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("no repository list is configured")
                && r.stderr.contains("MGIT_REPOS_FILE"),
            "index {cmd}: {}",
            r.stderr
        );
    }
}

/// `health --watch --export metrics.json` writes one JSON array, valid at
/// every moment and continued by the next watch; `.jsonl` gets lines.
#[test]
fn watch_export_json_is_one_array_and_jsonl_is_lines() {
    let s = stack();
    let file = s.dir.path().join("metrics.json");
    let file_s = file.to_str().unwrap();
    let mut child = s
        .command(&[
            "health",
            "--watch",
            "--count",
            "6",
            "--interval",
            "0.2",
            "--export",
            file_s,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut reads = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("not JSON while the watch runs ({e}): {text}"));
            assert!(v.is_array(), "{v}");
            reads += 1;
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(reads > 0, "the file was never there while the watch ran");
    let read = || -> Vec<Value> {
        serde_json::from_str::<Value>(&std::fs::read_to_string(&file).unwrap())
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let samples = read();
    assert_eq!(samples.len(), 6);
    assert!(samples
        .iter()
        .all(|x| x["nodes"].is_array() && x["status"].is_string()));
    s.run(&[
        "health",
        "--watch",
        "--count",
        "2",
        "--interval",
        "0.2",
        "--export",
        file_s,
    ])
    .ok();
    assert_eq!(read().len(), 8, "a second watch continues the array");

    let lines = s.dir.path().join("metrics.jsonl");
    let lines_s = lines.to_str().unwrap();
    s.run(&[
        "health",
        "--watch",
        "--count",
        "2",
        "--interval",
        "0.2",
        "--export",
        lines_s,
    ])
    .ok();
    let text = std::fs::read_to_string(&lines).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    for l in text.lines() {
        assert!(serde_json::from_str::<Value>(l).unwrap().is_object());
    }

    // A .json file that holds something else is not overwritten.
    let other = s.dir.path().join("notes.json");
    std::fs::write(&other, "{\"mine\": true}").unwrap();
    let r = s.run(&[
        "health",
        "--watch",
        "--count",
        "1",
        "--export",
        other.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not a JSON array"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "{\"mine\": true}");
    let help = s.run(&["health", "--help"]).ok().stdout;
    assert!(help.contains(".json") && help.contains(".ndjson"), "{help}");
}

/// `--version` gives the package version and the commit it was built from;
/// every playbook `--help` cites exists.
#[test]
fn version_has_the_commit_and_help_cites_real_playbooks() {
    let s = stack();
    let v = s.run(&["--version"]).ok().stdout;
    assert!(
        v.starts_with(&format!("elysiactl {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Ok(out) = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
    {
        if out.status.success() {
            let head = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(v.contains(&head), "built from {head}: {v}");
        }
    }
    let help = s.run(&["run", "--help"]).ok().stdout;
    let cited: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("playbooks/"))
        .collect();
    assert!(!cited.is_empty(), "{help}");
    for p in cited {
        assert!(
            root.join(p).exists(),
            "run --help cites {p}, which does not exist"
        );
    }
    let r = s.run(&[
        "run",
        "--dry-run",
        "playbooks/rolling-restart.lua",
        "--timeout",
        "300",
    ]);
    assert!(
        r.stderr
            .contains("would service.restart(\"weaviate\", {\"rolling\":true,\"timeout\":300})"),
        "{}",
        r.stderr
    );
}
