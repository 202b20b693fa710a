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

/// The original tool's variables, as its README exports them, with their
/// effect where one shows without a cluster, and their origin in `config show`.
#[test]
fn original_variables_set_their_settings_and_show_their_origin() {
    let s = stack();
    let vars = [
        ("ELYSIA_CONTROL_HOST", "127.0.0.9"),
        ("ELYSIA_CONTROL_PORT", "8123"),
        ("MGIT_INDEX_PATH", "/data/mgit-index"),
        ("MGIT_REPOS_LIST", "/config/repos-to-index.txt"),
        ("MGIT_UPDATE_INTERVAL", "3600"),
        ("MGIT_MAX_REPOS", "1000"),
        ("MGIT_BRANCH", "main"),
        ("ELYSIA_INGEST_BATCH_SIZE", "50"),
        ("ELYSIA_TIMEOUT", "300"),
        ("ELYSIA_RETRY_ATTEMPTS", "3"),
        ("ELYSIA_DIFF_THRESHOLD", "100"),
    ];
    let v = s.run_with(&["config", "show", "--json"], &vars).ok().json();
    let expect = [
        ("elysia", "host", json!("127.0.0.9")),
        ("elysia", "port", json!(8123)),
        ("repos", "workdir", json!("/data/mgit-index")),
        ("repos", "file", json!("/config/repos-to-index.txt")),
        ("repos", "update_interval", json!(3600)),
        ("repos", "max_repos", json!(1000)),
        ("repos", "branch", json!("main")),
        ("index", "batch_size", json!(50)),
        ("index", "request_timeout", json!(300)),
        ("index", "retry_attempts", json!(3)),
        ("repos", "total_diff_threshold", json!(100)),
        // elysiactl's per-repository rule keeps its default under its own name.
        ("repos", "diff_threshold", json!(1)),
    ];
    for (section, key, value) in &expect {
        assert_eq!(&v[section][key], value, "{section}.{key}: {v:#}");
    }
    let text = s.run_with(&["config", "show"], &vars).ok().stdout;
    for (name, key) in [
        ("ELYSIA_CONTROL_HOST", "elysia.host"),
        ("ELYSIA_CONTROL_PORT", "elysia.port"),
        ("MGIT_INDEX_PATH", "repos.workdir"),
        ("MGIT_REPOS_LIST", "repos.file"),
        ("MGIT_UPDATE_INTERVAL", "repos.update_interval"),
        ("MGIT_MAX_REPOS", "repos.max_repos"),
        ("MGIT_BRANCH", "repos.branch"),
        ("ELYSIA_INGEST_BATCH_SIZE", "index.batch_size"),
        ("ELYSIA_TIMEOUT", "index.request_timeout"),
        ("ELYSIA_RETRY_ATTEMPTS", "index.retry_attempts"),
        ("ELYSIA_DIFF_THRESHOLD", "repos.total_diff_threshold"),
    ] {
        assert!(
            text.contains(&format!("{name} -> {key}")),
            "origin of {key}: {text}"
        );
    }
    // ELYSIA_PORT, elysiactl's own name, wins over the alias; the port is used.
    let e = s
        .run_with(
            &["elysia", "status", "--json"],
            &[
                ("ELYSIA_CONTROL_PORT", "8123"),
                ("ELYSIA_CONTROL_HOST", "127.0.0.9"),
            ],
        )
        .json();
    assert_eq!(e["url"], "http://127.0.0.9:8123", "{e:#}");
    let both = s
        .run_with(
            &["config", "show", "--json"],
            &[("ELYSIA_CONTROL_PORT", "8123"), ("ELYSIA_PORT", "8124")],
        )
        .ok()
        .json();
    assert_eq!(both["elysia"]["port"], 8124);
    // The elysiactl rule is reachable under an unambiguous name.
    let per_repo = s
        .run_with(
            &["config", "show", "--json"],
            &[("ELYSIACTL_REPO_DIFF_THRESHOLD", "5")],
        )
        .ok()
        .json();
    assert_eq!(per_repo["repos"]["diff_threshold"], 5);
    assert!(per_repo["repos"]["total_diff_threshold"].is_null());
    let bad = s.run_with(&["config", "show"], &[("MGIT_MAX_REPOS", "lots")]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("MGIT_MAX_REPOS=lots"), "{}", bad.stderr);
}

/// `--env-file` reads the original's config/*.env files over the
/// environment (as its scripts' `source` did), names each variable's file in
/// `config show`, lists the names it does not read, and refuses a bad line.
#[test]
fn env_files_of_the_original_tool_are_read() {
    let s = stack();
    let mgit = s.dir.path().join("mgit-config.env");
    std::fs::write(
        &mgit,
        "# MGIT Index Configuration\nMGIT_INDEX_PATH=/data/mgit-index\nMGIT_REPOS_FILE=/config/repos-to-index.txt\n\
         MGIT_UPDATE_INTERVAL=3600\nMGIT_MAX_REPOS=1000\nMGIT_CLONE_DEPTH=1\nMGIT_BRANCH=main\n",
    )
    .unwrap();
    let elysia = s.dir.path().join("elysia-config.env");
    std::fs::write(
        &elysia,
        "export ELYSIA_HOST=localhost\nELYSIA_PORT=\"8000\"\nELYSIA_API_KEY=your-api-key-here\n\
         ELYSIA_BATCH_SIZE=50  # per request\nELYSIA_TIMEOUT=300\nWCD_URL=http://localhost:8080\n",
    )
    .unwrap();
    let (m, e) = (mgit.to_str().unwrap(), elysia.to_str().unwrap());
    let args = ["--env-file", m, "--env-file", e, "config", "show"];
    let r = s.run_with(&args, &[("ELYSIA_PORT", "9999")]).ok();
    assert!(
        r.stdout.contains(&format!(
            "# from env file {m}: MGIT_REPOS_FILE -> repos.file"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("# from env file {e}: ELYSIA_HOST -> elysia.host"))
            && r.stdout
                .contains("ignored (not read by elysiactl): WCD_URL"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("your-api-key-here"),
        "a secret shown: {}",
        r.stdout
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v = s
        .run_with(&json_args, &[("ELYSIA_PORT", "9999")])
        .ok()
        .json();
    assert_eq!(
        v["elysia"]["port"], 8000,
        "the file wins over the environment"
    );
    assert_eq!(v["elysia"]["host"], "localhost");
    assert_eq!(v["index"]["batch_size"], 50);
    assert_eq!(v["repos"]["workdir"], "/data/mgit-index");
    assert_eq!(v["repos"]["branch"], "main");
    assert_eq!(v["elysia"]["api_key"], "***");

    let broken = s.dir.path().join("broken.env");
    std::fs::write(&broken, "MGIT_BRANCH=main\nthis is not an assignment\n").unwrap();
    let r = s.run(&["--env-file", broken.to_str().unwrap(), "config", "show"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("line 2 of"), "{}", r.stderr);
    let r = s.run(&["--env-file", "/nonexistent/x.env", "status"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--env-file"), "{}", r.stderr);
}

/// MGIT_INDEX_PATH is where the list's repositories are cloned, MGIT_BRANCH
/// the branch cloned, MGIT_MAX_REPOS how many of the list are taken.
#[test]
fn mgit_variables_decide_where_what_and_how_many_are_cloned() {
    let s = stack();
    let origin = s.dir.path().join("origin");
    git_repo(&origin);
    git(&origin, &["checkout", "-q", "-b", "dev"]);
    std::fs::write(origin.join("dev-only.rs"), "fn dev() {}\n").unwrap();
    git(&origin, &["add", "."]);
    git(
        &origin,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "dev",
        ],
    );
    git(&origin, &["checkout", "-q", "-"]);
    // Bare copies: entries that are not working trees get cloned.
    let (first, second) = (
        s.dir.path().join("first.git"),
        s.dir.path().join("second.git"),
    );
    for b in [&first, &second] {
        git(
            s.dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                origin.to_str().unwrap(),
                b.to_str().unwrap(),
            ],
        );
    }
    let list = s.dir.path().join("repos.txt");
    std::fs::write(
        &list,
        format!("{}\n{}\n", first.display(), second.display()),
    )
    .unwrap();
    let index_path = s.dir.path().join("mgit-index");
    let playbook = s.dir.path().join("update.rhai");
    std::fs::write(&playbook, "out::json(repos::update(repos::list()));\n").unwrap();
    let r = s.run_with(
        &["run", playbook.to_str().unwrap()],
        &[
            ("MGIT_REPOS_LIST", list.to_str().unwrap()),
            ("MGIT_INDEX_PATH", index_path.to_str().unwrap()),
            ("MGIT_BRANCH", "dev"),
            ("MGIT_MAX_REPOS", "1"),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v.as_array().unwrap().len(), 1, "MGIT_MAX_REPOS=1: {v:#}");
    assert!(r.stderr.contains("the first 1 are used"), "{}", r.stderr);
    let clone = index_path.join("first");
    assert_eq!(v[0]["action"], "cloned", "{v:#}");
    assert!(
        clone.join("dev-only.rs").exists(),
        "MGIT_BRANCH=dev was cloned"
    );
    assert!(!index_path.join("second").exists());
}

/// MGIT_UPDATE_INTERVAL is the interval of the repo-sync job added without --cron.
#[test]
fn mgit_update_interval_is_the_repo_sync_jobs_interval() {
    let s = stack();
    let r = s
        .run_with(
            &["schedule", "add", "repo-sync", "--json"],
            &[("MGIT_UPDATE_INTERVAL", "3600")],
        )
        .ok();
    let next: Vec<chrono::DateTime<chrono::FixedOffset>> = r.json()["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!((next[1] - next[0]).num_seconds(), 3600, "{next:?}");
    let cfg = std::fs::read_to_string(s.dir.path().join("config/elysiactl/config.toml")).unwrap();
    assert!(cfg.contains("command = [\"index\", \"repos\"]"), "{cfg}");
    let r = s.run_with(
        &["schedule", "add", "repo-sync", "--json"],
        &[("MGIT_UPDATE_INTERVAL", "700")],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("--cron") || r.stderr.contains("--cron"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

/// ELYSIA_DIFF_THRESHOLD has the original's meaning: all repositories'
/// changed files together must be more than it; 100 and 2 changed files
/// skip, 1 and 2 changed files index.
#[test]
fn elysia_diff_threshold_compares_the_total_as_the_original_did() {
    let s = stack();
    let repo = s.dir.path().join("work/app");
    git_repo(&repo);
    let head = |dir: &Path| {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let synced = head(&repo);
    std::fs::write(repo.join("a.rs"), "fn a() {}\n").unwrap();
    std::fs::write(repo.join("b.rs"), "fn b() {}\n").unwrap();
    git(&repo, &["add", "."]);
    git(
        &repo,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "two files",
        ],
    );
    let store = s.dir.path().join("data/elysiactl/index.redb");
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    let key = std::fs::canonicalize(&repo).unwrap().display().to_string();
    elysiactl::index::store::Store::open(&store)
        .unwrap()
        .put_repos("CodeChunks", [(key.as_str(), json!({"commit": synced}))])
        .unwrap();
    let list = s.dir.path().join("repos.txt");
    std::fs::write(&list, format!("{}\n", repo.display())).unwrap();
    let action = |threshold: &str| {
        let r = s.run_with(
            &["--dry-run", "index", "repos", "--json"],
            &[
                ("MGIT_REPOS_FILE", list.to_str().unwrap()),
                ("ELYSIA_DIFF_THRESHOLD", threshold),
            ],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        r.json()["repositories"][0].clone()
    };
    let skipped = action("100");
    assert_eq!(skipped["action"], "below threshold", "{skipped:#}");
    assert_eq!(skipped["total_changed"], 2, "{skipped:#}");
    assert_eq!(
        action("2")["action"],
        "below threshold",
        "-gt: 2 is not more than 2"
    );
    assert_eq!(action("1")["action"], "indexed");
}

/// `man` renders the clap tree as roff (every command, the global flags);
/// `man --dir` writes a page per command; `completions bash` registers a
/// completion that offers the commands.
#[test]
fn man_pages_and_completions_come_from_the_command_tree() {
    let s = stack();
    let page = s.run(&["man"]).ok().stdout;
    assert!(page.contains(".TH elysiactl 1"), "{page}");
    assert!(page.contains("\\-\\-env\\-file"), "{page}");
    assert!(page.contains("(commit "), "the version in the page: {page}");
    let dir = s.dir.path().join("man1");
    s.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    let sync = std::fs::read_to_string(dir.join("elysiactl-index-sync.1")).unwrap();
    assert!(sync.contains("\\-\\-rescan"), "{sync}");
    assert!(dir.join("elysiactl-elysia-stop.1").exists());

    let script = s.run(&["completions", "bash"]).ok().stdout;
    let file = s.dir.path().join("elysiactl.bash");
    std::fs::write(&file, script).unwrap();
    // What bash offers after `elysiactl ind` and `elysiactl index s`.
    let offer = |words: &str| {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; _elysiactl elysiactl; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                file.display()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = offer("elysiactl ind");
    assert!(top.lines().any(|l| l == "index"), "{top}");
    let sub = offer("elysiactl index s");
    assert!(
        sub.lines().any(|l| l == "sync") && sub.lines().any(|l| l == "search"),
        "{sub}"
    );
}
