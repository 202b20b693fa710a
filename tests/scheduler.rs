//! The daemon on a fast schedule (every few seconds) against the real
//! cluster, over local git repositories the test changes between runs:
//! what gets indexed, skipped repositories, one history row per run, a hung
//! job stopped at its timeout, overlapping runs skipped, a SIGHUP reload, and
//! a daemon killed with SIGKILL that picks its schedule up again.

mod common;

use common::{git, http, require_weaviate, signal, Stack};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn make_repo(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "init"]);
}

fn history(s: &Stack, job: &str) -> Vec<Value> {
    s.run(&["schedule", "history", job, "--limit", "1000", "--json"])
        .ok()
        .json()
        .as_array()
        .cloned()
        .unwrap()
}

/// Poll the history until `pred` holds, or fail after `secs` with what it saw.
fn wait_for(
    s: &Stack,
    job: &str,
    secs: u64,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let h = history(s, job);
        if pred(&h) {
            return h;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what} did not happen within {secs}s: {h:#?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Paths indexed in the collection, read from Weaviate.
fn indexed_paths(s: &Stack) -> HashSet<(String, String)> {
    let (code, body) = http(
        s.rest_port,
        "GET",
        "/v1/objects?class=SchedTest&limit=1000",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["properties"]["repository"].as_str().unwrap().to_string(),
                o["properties"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ended_ok(h: &[Value]) -> Vec<&Value> {
    h.iter().filter(|r| r["outcome"] == "ok").collect()
}

#[test]
fn the_daemon_runs_the_schedule_and_the_repository_sync() {
    if !require_weaviate() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (alpha, beta) = (root.path().join("alpha"), root.path().join("beta"));
    make_repo(&alpha, &[("main.py", "def main():\n    return 1\n")]);
    make_repo(&beta, &[("lib.rs", "fn beta() -> u8 {\n    2\n}\n")]);
    let list = root.path().join("repos.txt");
    std::fs::write(
        &list,
        format!(
            "# the test's repositories\n{}\n{}\n",
            alpha.display(),
            beta.display()
        ),
    )
    .unwrap();
    let s = Stack::new(
        "process",
        3,
        false,
        &format!(
            "\n[index]\ncollection = \"SchedTest\"\n\n[repos]\nfile = \"{}\"\ndiff_threshold = 1",
            list.display()
        ),
    );
    s.run(&["start"]).ok();
    let work = s.dir.path();
    std::fs::write(work.join("hang.rhai"), "time::sleep(60);\n").unwrap();
    std::fs::write(work.join("slow.rhai"), "time::sleep(2.5);\n").unwrap();
    std::fs::write(work.join("fail.rhai"), "throw \"boom\";\n").unwrap();
    let add = |args: &[&str]| s.run(&[&["schedule", "add"], args].concat()).ok();
    add(&[
        "sync",
        "--cron",
        "*/3 * * * * *",
        "--missed",
        "once",
        "--timeout",
        "60s",
        "--",
        "index",
        "repos",
        "--json",
    ]);
    add(&[
        "hang",
        "--cron",
        "*/4 * * * * *",
        "--timeout",
        "1s",
        "--playbook",
        work.join("hang.rhai").to_str().unwrap(),
    ]);
    add(&[
        "slow",
        "--cron",
        "* * * * * *",
        "--overlap",
        "skip",
        "--playbook",
        work.join("slow.rhai").to_str().unwrap(),
    ]);
    // Refused at the door, with the reason.
    let r = s.run(&[
        "schedule",
        "add",
        "bad",
        "--cron",
        "61 * * * *",
        "--",
        "status",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("does not parse"), "{}", r.stderr);
    let r = s.run(&[
        "schedule",
        "add",
        "bad",
        "--cron",
        "* * * * *",
        "--",
        "no-such-command",
    ]);
    assert!(
        r.stderr.contains("unknown command `no-such-command`"),
        "{}",
        r.stderr
    );
    let listed = s.run(&["schedule", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed:#}");
    assert!(
        listed[0]["next"].as_array().unwrap().len() == 3,
        "next run times: {listed:#}"
    );

    let d = s.run(&["daemon", "--detach", "--json"]).ok().json();
    let pid = d["pid"].as_u64().unwrap() as u32;
    assert_eq!(s.run(&["daemon", "status"]).code, 0);

    // The first sync indexes both repositories.
    let h = wait_for(&s, "sync", 30, "a first successful sync", |h| {
        !ended_ok(h).is_empty()
    });
    let first = (*ended_ok(&h).last().unwrap()).clone();
    let figures = &first["figures"];
    assert_eq!(figures["files_indexed"], 2, "{first:#}");
    let paths = indexed_paths(&s);
    assert!(
        paths.contains(&("alpha".into(), "main.py".into())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&("beta".into(), "lib.rs".into())),
        "{paths:?}"
    );

    // Change one repository: the next sync indexes it and skips the other.
    std::fs::write(alpha.join("extra.py"), "def extra():\n    return 3\n").unwrap();
    git(&alpha, &["add", "-A"]);
    git(&alpha, &["commit", "-qm", "extra"]);
    let changed_at = chrono::Utc::now().to_rfc3339();
    let h = wait_for(&s, "sync", 30, "a sync after the change", |h| {
        ended_ok(h)
            .iter()
            .any(|r| r["started"].as_str().unwrap() > changed_at.as_str())
    });
    let after = ended_ok(&h)
        .into_iter()
        .find(|r| r["started"].as_str().unwrap() > changed_at.as_str())
        .unwrap()
        .clone();
    let repos = after["figures"]["repositories"].as_array().unwrap();
    let action =
        |name: &str| repos.iter().find(|r| r["repository"] == name).unwrap()["action"].clone();
    assert_eq!(action("alpha"), "indexed", "{after:#}");
    assert_eq!(action("beta"), "unchanged", "{after:#}");
    assert!(indexed_paths(&s).contains(&("alpha".into(), "extra.py".into())));

    // A hung job is stopped at its timeout; overlapping runs are skipped.
    let h = wait_for(&s, "hang", 20, "a timed-out run", |h| {
        h.iter().any(|r| r["outcome"] == "timeout")
    });
    let t = h.iter().find(|r| r["outcome"] == "timeout").unwrap();
    assert!(t["seconds"].as_f64().unwrap() < 8.0, "{t:#}");
    wait_for(&s, "slow", 20, "a skipped overlapping run", |h| {
        h.iter().any(|r| r["outcome"] == "skipped")
    });

    // One row per run: no scheduled time twice, every finished run closed.
    let h = history(&s, "sync");
    let mut times = HashSet::new();
    for r in &h {
        assert!(
            times.insert(r["scheduled_for"].as_str().unwrap().to_string()),
            "two rows for one run: {h:#?}"
        );
    }
    assert!(
        h.iter().filter(|r| r["outcome"] == "running").count() <= 1,
        "{h:#?}"
    );
    for r in ended_ok(&h) {
        assert!(
            r["lateness_ms"].as_i64().unwrap() < 2000,
            "started late: {r:#}"
        );
    }

    // SIGHUP alone reloads: the new jobs are swapped in with the old mtime,
    // so only the signal can make the daemon notice them.
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let old_mtime = std::fs::metadata(&cfg).unwrap().modified().unwrap();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[[jobs]]\nname = \"echo\"\ncron = \"* * * * * *\"\ncommand = [\"config\", \"path\"]\n",
    );
    text.push_str(&format!(
        "\n[[jobs]]\nname = \"fail\"\ncron = \"*/2 * * * * *\"\nplaybook = \"{}\"\n",
        work.join("fail.rhai").display()
    ));
    let staged = cfg.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    std::fs::rename(&staged, &cfg).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(history(&s, "echo").is_empty(), "reloaded without SIGHUP");
    signal(pid, "HUP");
    wait_for(&s, "echo", 15, "the added job's first run", |h| {
        !ended_ok(h).is_empty()
    });
    // A failing job is recorded as failed, and the daemon goes on.
    let h = wait_for(&s, "fail", 15, "a failed run", |h| {
        h.iter().any(|r| r["outcome"] == "failed")
    });
    let f = h.iter().find(|r| r["outcome"] == "failed").unwrap();
    assert_eq!(f["exit_code"], 1, "{f:#}");
    assert!(f["output"].to_string().contains("boom"), "{f:#}");
    assert_eq!(
        s.run(&["daemon", "status"]).code,
        0,
        "the daemon survives a failing job"
    );

    // Killed with SIGKILL: a new daemon marks the orphaned run, and runs the
    // missed sync once at start (missed = once).
    signal(pid, "KILL");
    std::thread::sleep(Duration::from_millis(3500));
    let r = s.run(&["daemon", "status"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let killed_at = chrono::Utc::now().to_rfc3339();
    s.run(&["daemon", "--detach"]).ok();
    let h = wait_for(&s, "sync", 15, "the missed run", |h| {
        h.iter()
            .any(|r| r["reason"] == "missed" && r["started"].as_str().unwrap() > killed_at.as_str())
    });
    assert!(
        h.iter()
            .all(|r| r["outcome"] != "running"
                || r["started"].as_str().unwrap() > killed_at.as_str()),
        "{h:#?}"
    );
    // A job the killed daemon left running is stopped by the new one (the
    // `hang` playbook would otherwise sleep on for a minute).
    let alive = |pid: u64| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    let left: Vec<u64> = ["hang", "slow", "sync", "fail"]
        .iter()
        .flat_map(|job| history(&s, job))
        .filter(|r| r["outcome"] == "interrupted")
        .filter_map(|r| r["job_pid"].as_u64())
        .collect();
    eprintln!(
        "interrupted runs' job PIDs: {left:?}, running at the restart: {:?}",
        left.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
    let t0 = Instant::now();
    while let Some(pid) = left.iter().find(|&&p| alive(p)) {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "job PID {pid} of the killed daemon still runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(&s, "sync", 15, "scheduled runs after the restart", |h| {
        h.iter().any(|r| {
            r["reason"] == "schedule" && r["started"].as_str().unwrap() > killed_at.as_str()
        })
    });

    let r = s.run(&["daemon", "stop", "--json"]).ok().json();
    assert_eq!(r["stopped"], "terminated", "{r:#}");
    assert_eq!(s.run(&["daemon", "status"]).code, 1);
    // SIGTERM came while `slow` (every second, 2.5 s long) ran: it was let
    // finish, so no run is left open.
    let h = history(&s, "slow");
    assert!(h.iter().all(|r| r["outcome"] != "running"), "{h:#?}");
    assert!(h.iter().any(|r| r["outcome"] == "ok"), "{h:#?}");
}
