//! `index sync` against a real three-node cluster at replication factor 3:
//! a first sync, a sync after edits, renames and deletions (found by git),
//! an uncommitted edit and its undoing, a no-op re-sync, a sync killed with
//! SIGKILL mid-way and resumed, a collection deleted behind the tool's
//! back; then the embedders, and an OpenAI-compatible endpoint (`serve
//! embeddings`, checked with the official `openai` SDK) as one:
//! vectors on every chunk and a search that finds by meaning. Every check
//! reads the objects back from Weaviate.

mod common;

use common::{git, http, require_models, require_weaviate, signal, Stack};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const CLASS: &str = "CodeTest";

/// Every object of the collection, through the cursor API.
fn fetch_all(s: &Stack) -> Vec<Value> {
    fetch_class(s, CLASS, false)
}

fn fetch_class(s: &Stack, class: &str, vectors: bool) -> Vec<Value> {
    let include = if vectors { "&include=vector" } else { "" };
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let path = if after.is_empty() {
            format!("/v1/objects?class={class}&limit=500{include}")
        } else {
            format!("/v1/objects?class={class}&limit=500{include}&after={after}")
        };
        let (code, body) = http(s.rest_port, "GET", &path, None);
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let page = v["objects"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return all;
        }
        after = page.last().unwrap()["id"].as_str().unwrap().to_string();
        all.extend(page);
    }
}

/// The text files of a repository as the index should see them (skipping
/// .git, ignored and binary files), path → content.
fn expected_files(root: &Path, ignored: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel.starts_with('.') || ignored.iter().any(|i| rel.starts_with(i)) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                if !text.contains('\0') && !text.trim().is_empty() {
                    out.insert(rel, text);
                }
            }
        }
    }
    out
}

/// Every file's chunks are in Weaviate, once each, and together they hold
/// exactly the file's lines; nothing else is there.
fn assert_index_matches(s: &Stack, files: &BTreeMap<String, String>) {
    assert_class_matches(s, CLASS, files)
}

fn assert_class_matches(s: &Stack, class: &str, files: &BTreeMap<String, String>) {
    let objects = fetch_class(s, class, false);
    let mut by_path: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut keys = HashSet::new();
    for o in &objects {
        let p = &o["properties"];
        let path = p["path"].as_str().unwrap().to_string();
        let key = (path.clone(), p["chunk_index"].as_i64().unwrap());
        assert!(keys.insert(key.clone()), "duplicate chunk {key:?}");
        by_path.entry(path).or_default().push(p.clone());
    }
    let indexed: Vec<&String> = by_path.keys().collect();
    let want: Vec<&String> = files.keys().collect();
    assert_eq!(
        indexed, want,
        "the indexed files differ from the files on disk"
    );
    for (path, chunks) in &mut by_path {
        chunks.sort_by_key(|c| c["chunk_index"].as_i64().unwrap());
        let lines: Vec<&str> = files[path].lines().collect();
        let mut covered = vec![false; lines.len()];
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(
                c["chunk_index"], i as i64,
                "{path}: chunk indexes have a gap"
            );
            let (a, b) = (
                c["start_line"].as_u64().unwrap() as usize,
                c["end_line"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                c["content"].as_str().unwrap(),
                lines[a - 1..b].join("\n"),
                "{path}: chunk {i} is not lines {a}-{b} of the file"
            );
            covered[a - 1..b].iter_mut().for_each(|x| *x = true);
        }
        for (n, line) in lines.iter().enumerate() {
            assert!(
                covered[n] || line.trim().is_empty(),
                "{path}: line {} is in no chunk",
                n + 1
            );
        }
    }
}

/// What a command shows on a terminal (through `script`, which gives it a
/// pseudo-terminal); fails the test if the command fails.
fn on_a_terminal(s: &Stack, args: &[&str]) -> String {
    let c = s.command(args);
    let line = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut term = std::process::Command::new("script");
    term.args(["-qfec", &line, "/dev/null"]);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => term.env(k, v),
            None => term.env_remove(k),
        };
    }
    let out = term.output().expect("script(1), from util-linux");
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen}");
    screen
}

/// How the sync found the changes of its (only) repository: "git" or "scan".
fn detection(v: &Value) -> &str {
    v["repositories"][0]["change_detection"]
        .as_str()
        .unwrap_or_default()
}

fn rust_file(functions: usize) -> String {
    (0..functions)
        .map(|i| format!("/// Function {i}.\nfn f{i}(x: u32) -> u32 {{\n    let y = x + {i};\n    y * 2\n}}\n\n"))
        .collect()
}

#[test]
fn incremental_sync_edits_renames_deletions_and_a_killed_run() {
    if !require_weaviate() {
        return;
    }
    let mut s = Stack::new(
        "process",
        3,
        false,
        "\n[index]\ncollection = \"CodeTest\"\nmax_file_bytes = 200000\nbatch_size = 100\nchunk_lines = 20\noverlap_lines = 3",
    );
    s.run(&["start"]).ok();
    let repo = s.dir.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::create_dir_all(repo.join("target")).unwrap();
    std::fs::write(repo.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(repo.join("src/lib.rs"), rust_file(30)).unwrap();
    std::fs::write(repo.join("src/small.rs"), rust_file(2)).unwrap();
    std::fs::write(
        repo.join("tool.py"),
        "def main():\n    print('hi')\n\n\nclass A:\n    pass\n",
    )
    .unwrap();
    std::fs::write(repo.join("README.md"), "# Repo\n\nSome text.\n").unwrap();
    std::fs::write(repo.join("target/build.rs"), rust_file(5)).unwrap();
    std::fs::write(repo.join("logo.bin"), [0u8, 1, 2, 3, 0, 9]).unwrap();
    std::fs::write(repo.join("latin1.txt"), [b'c', b'a', b'f', 0xE9, b'\n']).unwrap();
    std::fs::write(repo.join("huge.txt"), "x".repeat(300_000)).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "first"]);
    let repo_s = repo.to_str().unwrap();
    let ignored = ["target", "logo.bin", "latin1.txt", "huge.txt"];

    // First sync. The undecodable file is recorded and skipped; the run goes on.
    let r = s.run(&["index", "sync", repo_s, "--json"]).ok();
    let v = r.json();
    assert_eq!(v["errors"], 1, "{v:#}");
    assert_eq!(detection(&v), "scan", "nothing to start from: {v:#}");
    assert_index_matches(&s, &expected_files(&repo, &ignored));
    let errors = s.run(&["index", "errors", "--json"]).ok().json();
    let recorded = |category: &str| -> Vec<String> {
        errors
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["category"] == category)
            .map(|e| e["file"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(recorded("encoding"), ["latin1.txt"], "{errors:#}");
    // Skipped files are listed too, with why.
    assert_eq!(recorded("skipped_size"), ["huge.txt"], "{errors:#}");
    assert_eq!(recorded("skipped_binary"), ["logo.bin"], "{errors:#}");
    assert_eq!(v["files_skipped"], 3, "{v:#}");
    // --dry-run --reset plans the removal and removes nothing.
    let r = s.run(&["--dry-run", "index", "errors", "--reset"]).ok();
    assert!(
        r.stdout.contains("would remove 3 recorded errors"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("would index.reset_errors()"),
        "{}",
        r.stderr
    );
    let after = s.run(&["index", "errors", "--json"]).ok().json();
    assert_eq!(after, errors, "a dry run removed records");
    assert!(
        s.factor_of(CLASS) == 3,
        "the collection gets the expected factor"
    );

    // Edits, a rename, a deletion, a file that shrinks.
    std::fs::write(repo.join("src/lib.rs"), rust_file(12)).unwrap();
    std::fs::write(repo.join("src/small.rs"), rust_file(4)).unwrap();
    std::fs::rename(repo.join("README.md"), repo.join("GUIDE.md")).unwrap();
    std::fs::remove_file(repo.join("tool.py")).unwrap();
    std::fs::remove_file(repo.join("latin1.txt")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "second"]);
    // This run writes over REST; the others over gRPC (the default).
    s.extra_env
        .push(("ELYSIACTL_INDEX_TRANSPORT".into(), "rest".into()));
    let v = s.run(&["index", "sync", repo_s, "--json"]).ok().json();
    s.extra_env.clear();
    assert_eq!(detection(&v), "git", "{v:#}");
    assert_eq!(
        v["repositories"][0]["paths_from_git"], 6,
        "lib.rs, small.rs, README.md, GUIDE.md, tool.py, latin1.txt: {v:#}"
    );
    assert_eq!(
        v["files_deleted"], 2,
        "README.md and tool.py are gone (latin1.txt was never indexed): {v:#}"
    );
    assert!(v["chunks_deleted"].as_u64().unwrap() > 0, "{v:#}");
    assert_index_matches(
        &s,
        &expected_files(&repo, &["target", "logo.bin", "huge.txt"]),
    );
    let head = fetch_all(&s)[0]["properties"]["commit"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(head.len(), 40, "chunks carry the commit");

    // An edit not committed is indexed; undone (nothing left for git to
    // report), the committed text comes back.
    let committed = std::fs::read_to_string(repo.join("src/small.rs")).unwrap();
    std::fs::write(repo.join("src/small.rs"), rust_file(7)).unwrap();
    let v = s.run(&["index", "sync", repo_s, "--json"]).ok().json();
    assert_eq!(detection(&v), "git", "{v:#}");
    assert_eq!(v["files_indexed"], 1, "{v:#}");
    let files = expected_files(&repo, &["target", "logo.bin", "huge.txt"]);
    assert_index_matches(&s, &files);
    git(&repo, &["checkout", "--", "src/small.rs"]);
    assert_eq!(
        std::fs::read_to_string(repo.join("src/small.rs")).unwrap(),
        committed
    );
    let v = s.run(&["index", "sync", repo_s, "--json"]).ok().json();
    assert_eq!(detection(&v), "git", "{v:#}");
    assert_eq!(v["files_indexed"], 1, "the undone edit: {v:#}");
    let files = expected_files(&repo, &["target", "logo.bin", "huge.txt"]);
    assert_index_matches(&s, &files);

    // Nothing changed: nothing is read or written, and git names nothing.
    let before = fetch_all(&s).len();
    let v = s.run(&["index", "sync", repo_s, "--json"]).ok().json();
    assert_eq!(v["files_indexed"], 0, "{v:#}");
    assert_eq!(v["chunks_uploaded"], 0, "{v:#}");
    assert_eq!(detection(&v), "git", "{v:#}");
    assert_eq!(v["files_seen"], 0, "{v:#}");
    assert_eq!(fetch_all(&s).len(), before);
    // --rescan walks everything and finds the same.
    let v = s
        .run(&["index", "sync", repo_s, "--rescan", "--json"])
        .ok()
        .json();
    assert_eq!(detection(&v), "scan", "{v:#}");
    assert_eq!(v["repositories"][0]["scan_reason"], "--rescan", "{v:#}");
    assert_eq!(v["files_indexed"], 0, "{v:#}");
    assert!(v["files_seen"].as_u64().unwrap() >= 5, "{v:#}");

    // Killed with SIGKILL mid-way, then run again: nothing missing, nothing twice.
    for i in 0..1500 {
        let dir = repo.join(format!("gen/d{}", i % 30));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("m{i}.rs")), rust_file(1 + i % 9)).unwrap();
    }
    let mut child = s.command(&["index", "sync", repo_s]).spawn().unwrap();
    let t0 = Instant::now();
    loop {
        let n = fetch_all(&s).len();
        if n > before + 50 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the sync never started writing"
        );
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the sync ended ({st}) before it could be killed; make the corpus bigger");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it runs, `index perf` shows its live figures (rewritten every half second).
    let t0 = Instant::now();
    loop {
        let perf = s.run(&["index", "perf", "--json"]).ok().json();
        assert_eq!(perf["live"]["pid"], child.id(), "{perf:#}");
        if perf["live"]["chunks_uploaded"].as_u64().unwrap() > 0 {
            assert!(perf["live"]["files_seen"].as_u64().unwrap() > 0, "{perf:#}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "live figures never moved: {perf:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(child.id(), "KILL");
    let _ = child.wait();
    let partial = fetch_all(&s).len();
    // Resumed on a terminal: the progress bar, with an ETA once the walk is over.
    let screen = on_a_terminal(&s, &["index", "sync", repo_s]);
    assert!(
        screen.contains("ETA") && screen.contains("files · "),
        "{screen}"
    );
    let v = s.run(&["index", "perf", "--json"]).ok().json()["runs"][0].clone();
    assert!(v["files_indexed"].as_u64().unwrap() > 0, "{v:#}");
    assert_eq!(
        detection(&v),
        "git",
        "the killed run's files are untracked: {v:#}"
    );
    let files = expected_files(&repo, &["target", "logo.bin", "huge.txt"]);
    assert_index_matches(&s, &files);
    // The figures of the finished runs: latency percentiles, batch sizes, memory.
    let perf = s.run(&["index", "perf", "--json"]).ok().json();
    assert!(perf["live"].is_null(), "{perf:#}");
    let last = &perf["runs"][0];
    assert!(
        last["upload_latency_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{last:#}"
    );
    assert!(
        last["batch_size"]["max"].as_f64().unwrap() <= 100.0,
        "batch_size = 100: {last:#}"
    );
    assert!(
        last["peak_rss_bytes"].as_u64().unwrap() > 1 << 20,
        "{last:#}"
    );
    eprintln!(
        "killed after {partial} objects, resumed to {} objects for {} files",
        fetch_all(&s).len(),
        files.len()
    );

    // The collection deleted behind the tool's back: the next sync makes it
    // again and uploads everything, whatever the store remembered.
    let (code, body) = http(s.rest_port, "DELETE", &format!("/v1/schema/{CLASS}"), None);
    assert_eq!(code, 200, "{body}");
    let v = s.run(&["index", "sync", repo_s, "--json"]).ok().json();
    assert_eq!(
        v["repositories"][0]["scan_reason"], "the collection was created by this run",
        "{v:#}"
    );
    assert_eq!(
        v["files_indexed"].as_u64().unwrap() as usize,
        files.len(),
        "{v:#}"
    );
    assert_index_matches(&s, &files);

    foreign_collection_and_refused_objects(&s, &repo);
    indexing_and_rebuild(&s, &repo);
    skipped_files_keep_their_chunks(&s);

    if require_models() {
        embedders(&mut s);
        openai_endpoint(&mut s);
    }
    tune(&s, repo_s);
}

/// A collection's property definitions, as Weaviate reports them.
fn schema_properties(s: &Stack, class: &str) -> Vec<Value> {
    let (code, body) = http(s.rest_port, "GET", &format!("/v1/schema/{class}"), None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["properties"].as_array().unwrap().clone()
}

/// How each property of a collection is indexed, as Weaviate reports it:
/// name → (searchable, filterable, range, tokenization).
fn indexing_of(s: &Stack, class: &str) -> BTreeMap<String, (bool, bool, bool, String)> {
    schema_properties(s, class)
        .iter()
        .map(|p| {
            let flag = |k: &str| p[k].as_bool().unwrap_or(false);
            (
                p["name"].as_str().unwrap().to_string(),
                (
                    flag("indexSearchable"),
                    flag("indexFilterable"),
                    flag("indexRangeFilters"),
                    p["tokenization"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// What index sync creates now: each property indexed only the way it is
/// queried (content by bm25, identifiers filtered whole, line numbers not
/// at all).
fn assert_tuned(s: &Stack, class: &str) {
    let got = indexing_of(s, class);
    let key = (false, true, false, "field".to_string());
    let named = (true, true, false, "word".to_string());
    let stored = (false, false, false, String::new());
    assert_eq!(
        got["content"],
        (true, false, false, "word".to_string()),
        "{class}: {got:?}"
    );
    for p in ["repository", "path"] {
        assert_eq!(got[p], named, "{class}.{p}: {got:?}");
    }
    for p in ["language", "commit", "content_hash"] {
        assert_eq!(got[p], key, "{class}.{p}: {got:?}");
    }
    for p in ["chunk_index", "start_line", "end_line"] {
        assert_eq!(got[p], stored, "{class}.{p}: {got:?}");
    }
}

/// GraphQL Get with a filter on a path: the filterable index answers it;
/// the paths of the chunks found.
fn paths_where(s: &Stack, class: &str, path: &str) -> Vec<String> {
    let q = serde_json::json!({"query": format!(
        "{{ Get {{ {class}(limit: 100, where: {{path: [\"path\"], operator: Equal, valueText: {path:?}}}) {{ path }} }} }}"
    )});
    let (code, body) = http(s.rest_port, "POST", "/v1/graphql", Some(&q));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["errors"].is_null(), "{body}");
    v["data"]["Get"][class]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap().to_string())
        .collect()
}

/// Searches a collection through `index search` until `stop`: (answers
/// with hits, failures), each with when it ended.
fn search_loop(s: &Stack, name: &str, done: &OnceLock<Instant>) -> (Vec<Instant>, Vec<String>) {
    let (mut answers, mut failures) = (Vec::new(), Vec::new());
    // Runs until two searches have started after `done` was set, so the
    // searches right after the switch are checked too.
    let mut after_done = 0;
    while after_done < 2 {
        let started = Instant::now();
        if done.get().is_some_and(|t| started > *t) {
            after_done += 1;
        }
        let r = s.run(&[
            "index",
            "search",
            "Function",
            "--collection",
            name,
            "--mode",
            "bm25",
            "--json",
        ]);
        let hits = (r.code == 0).then(|| r.json()["hits"].as_array().map_or(0, Vec::len));
        match hits {
            Some(n) if n > 0 => answers.push(Instant::now()),
            _ => failures.push(format!("exit {}: {}{}", r.code, r.stdout, r.stderr)),
        }
    }
    (answers, failures)
}

/// The alias `name` and the collection it points at, from Weaviate.
fn alias_target(s: &Stack, name: &str) -> String {
    let (code, body) = http(s.rest_port, "GET", &format!("/v1/aliases/{name}"), None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["class"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Whether a collection of that very name exists (GET /v1/schema/{name}
/// would answer for an alias of that name too).
fn class_exists(s: &Stack, class: &str) -> bool {
    let (code, body) = http(s.rest_port, "GET", "/v1/schema", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["classes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["class"] == class)
}

/// The collection index sync created is indexed the current way, and a
/// collection made the old way (every property with Weaviate's defaults)
/// still syncs, with a warning, until `index sync --rebuild` re-creates it
/// while searches by its name keep answering: first replacing the
/// collection by an alias, then switching that alias.
fn indexing_and_rebuild(s: &Stack, repo: &Path) {
    let repo_s = repo.to_str().unwrap();
    assert_tuned(s, CLASS);
    let lib = paths_where(s, CLASS, "src/lib.rs");
    assert!(
        !lib.is_empty() && lib.iter().all(|p| p == "src/lib.rs"),
        "{lib:?}"
    );

    // The old way: what index sync created before, defaults everywhere.
    let props: Vec<Value> = properties_of(s, CLASS)
        .into_iter()
        .map(|(name, t)| serde_json::json!({"name": name, "dataType": [t]}))
        .collect();
    let old = serde_json::json!({
        "class": "LegacyCode",
        "description": "Source code chunks written by elysiactl index sync (embedder: none)",
        "vectorizer": "none", "replicationConfig": {"factor": 3}, "properties": props,
    });
    let (code, body) = http(s.rest_port, "POST", "/v1/schema", Some(&old));
    assert_eq!(code, 200, "{body}");
    // `elysiactl [FLAGS] index sync REPO --collection LegacyCode [MORE]`.
    let sync = |flags: &[&str], more: &[&str]| {
        let mut args = flags.to_vec();
        args.extend(["index", "sync", repo_s, "--collection", "LegacyCode"]);
        args.extend(more);
        s.run(&args)
    };
    let r = sync(&[], &[]).ok();
    assert!(
        r.stderr.contains("made by an older elysiactl") && r.stderr.contains("--rebuild"),
        "{}",
        r.stderr
    );
    let v = sync(&[], &["--json"]).ok().json();
    assert!(
        v["schema_outdated"].as_str().unwrap().contains("content"),
        "{v:#}"
    );
    let chunks = s.count_of("LegacyCode");
    assert!(chunks > 0);

    // Rebuilt while `index search` runs in a loop: every search answers.
    let rebuild = |to: &str, switch: &str| {
        let done = OnceLock::new();
        let (answers, failures, window) = std::thread::scope(|scope| {
            let reader = scope.spawn(|| search_loop(s, "LegacyCode", &done));
            let t0 = Instant::now();
            let r = sync(&[], &["--rebuild", "--json"]);
            let t1 = Instant::now();
            done.set(t1).unwrap();
            let (answers, failures) = reader.join().unwrap();
            let v = r.ok().json();
            assert_eq!(v["rebuilt"]["to"], to, "{v:#}");
            assert_eq!(v["rebuilt"]["swap"], switch, "{v:#}");
            assert_eq!(v["class"], to, "{v:#}");
            assert!(v["schema_outdated"].is_null(), "{v:#}");
            println!(
                "rebuild to {to}: {switch} in {} ms",
                v["rebuilt"]["swap_ms"]
            );
            (answers, failures, (t0, t1))
        });
        assert!(
            failures.is_empty(),
            "searches failed during the rebuild: {failures:#?}"
        );
        let during = answers
            .iter()
            .filter(|t| (window.0..window.1).contains(t))
            .count();
        assert!(
            during > 0,
            "no search ran during the rebuild ({} in all)",
            answers.len()
        );
        assert_eq!(alias_target(s, "LegacyCode"), to);
        assert_tuned(s, to);
        assert_eq!(s.count_of(to), chunks, "{to} holds every chunk");
    };
    rebuild("LegacyCode_v2", "collection replaced by an alias");
    assert!(!class_exists(s, "LegacyCode"), "the old collection is gone");
    // Synced through the alias, nothing is new: the store kept the records.
    let v = sync(&[], &["--json"]).ok().json();
    assert_eq!(v["files_indexed"], 0, "{v:#}");
    assert_eq!(v["class"], "LegacyCode_v2", "{v:#}");
    assert!(v["schema_outdated"].is_null(), "{v:#}");
    rebuild("LegacyCode_v3", "alias switched");
    assert!(
        !class_exists(s, "LegacyCode_v2"),
        "the previous version is gone"
    );
    // A dry run plans a rebuild and changes nothing.
    let r = sync(&["--dry-run"], &["--rebuild"]).ok();
    assert!(r.stdout.contains("would rebuild"), "{}", r.stdout);
    assert_eq!(alias_target(s, "LegacyCode"), "LegacyCode_v3");
    let (code, body) = http(s.rest_port, "DELETE", "/v1/aliases/LegacyCode", None);
    assert!(code == 200 || code == 204, "{code} {body}");
    let (code, body) = http(s.rest_port, "DELETE", "/v1/schema/LegacyCode_v3", None);
    assert_eq!(code, 200, "{body}");
}

/// The schema of a collection as Weaviate has it: its property names and types.
fn properties_of(s: &Stack, class: &str) -> BTreeMap<String, String> {
    schema_properties(s, class)
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["dataType"][0].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A collection the index did not make is refused before anything is
/// written to it; objects Weaviate refuses make the sync fail, counted.
fn foreign_collection_and_refused_objects(s: &Stack, repo: &Path) {
    let repo_s = repo.to_str().unwrap();
    s.make_collections(&["Articles:3:5"]);
    let schema = properties_of(s, "Articles");
    let r = s.run(&["index", "sync", repo_s, "--collection", "Articles"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Articles is not an index collection"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--collection ArticlesCode"),
        "the hint names another collection: {}",
        r.stderr
    );
    assert_eq!(s.count_of("Articles"), 5, "objects were added");
    assert_eq!(properties_of(s, "Articles"), schema, "the schema changed");
    // Searching it is refused the same way, not with a GraphQL error.
    let r = s.run(&["index", "search", "object", "--collection", "Articles"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not an index collection"), "{}", r.stderr);

    // Objects refused: every shard of an index collection set read-only
    // (what Weaviate does itself when a disk fills up).
    let docs = s.dir.path().join("refused");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("a.rs"), rust_file(3)).unwrap();
    std::fs::write(docs.join("b.rs"), rust_file(2)).unwrap();
    let docs_s = docs.to_str().unwrap();
    s.run(&["index", "sync", docs_s, "--collection", "RefusedTest"])
        .ok();
    let before = s.count_of("RefusedTest");
    // A shard's status is kept per replica: set on every node.
    let set_shards = |status: &str| {
        for node in 0..s.nodes as u16 {
            let port = s.rest_port + node;
            let (code, body) = http(port, "GET", "/v1/schema/RefusedTest/shards", None);
            assert_eq!(code, 200, "{body}");
            let shards: Value = serde_json::from_str(&body).unwrap();
            for sh in shards.as_array().unwrap() {
                let path = format!(
                    "/v1/schema/RefusedTest/shards/{}",
                    sh["name"].as_str().unwrap()
                );
                let body = serde_json::json!({"status": status});
                let (code, body) = http(port, "PUT", &path, Some(&body));
                assert_eq!(code, 200, "{body}");
            }
        }
    };
    set_shards("READONLY");
    std::fs::write(docs.join("a.rs"), rust_file(6)).unwrap();
    std::fs::write(docs.join("b.rs"), rust_file(5)).unwrap();
    let r = s.run(&["index", "sync", docs_s, "--collection", "RefusedTest"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("Weaviate refused") && all.contains("2 files"),
        "{all}"
    );
    assert!(all.contains("elysiactl index errors"), "{all}");
    let r = s.run(&[
        "index",
        "sync",
        docs_s,
        "--collection",
        "RefusedTest",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["files_refused"], 2, "{v:#}");
    assert!(v["objects_refused"].as_u64().unwrap() >= 2, "{v:#}");
    assert_eq!(s.count_of("RefusedTest"), before);
    let errors = s.run(&["index", "errors", "--json"]).ok().json();
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("objects were refused"),
        "{errors:#}"
    );
    // Writable again, the next sync uploads what was refused.
    set_shards("READY");
    let v = s
        .run(&[
            "index",
            "sync",
            docs_s,
            "--collection",
            "RefusedTest",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v["files_refused"], 0, "{v:#}");
    assert_eq!(v["files_indexed"], 2, "{v:#}");
    assert_class_matches(s, "RefusedTest", &expected_files(&docs, &[]));
}

/// Files skipped for size or as binary keep the chunks of their last
/// indexed version (a lowered limit must not empty the index), are listed
/// by `index errors` once, not on every run, and are indexed again once
/// they fit or are text again. Deleted, their chunks go.
fn skipped_files_keep_their_chunks(s: &Stack) {
    const SKIPS: &str = "SkipTest";
    let repo = s.dir.path().join("skips");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("a.rs"), rust_file(20)).unwrap();
    std::fs::write(repo.join("b.rs"), rust_file(16)).unwrap();
    std::fs::write(repo.join("c.py"), "def f():\n    return 1\n".repeat(60)).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "one"]);
    let repo_s = repo.to_str().unwrap();
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let low = s.dir.path().join("low-limit.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("max_file_bytes = 200000"), "{text}");
    std::fs::write(
        &low,
        text.replace("max_file_bytes = 200000", "max_file_bytes = 1000"),
    )
    .unwrap();
    let low_s = low.to_str().unwrap();
    let sync = |extra: &[&str]| -> Value {
        let mut args = vec!["index", "sync", repo_s, "--collection", SKIPS, "--json"];
        args.extend(extra);
        s.run(&args).ok().json()
    };
    let listed = |category: &str| -> Vec<Value> {
        let all = s
            .run(&["index", "errors", "--recent", "1000", "--json"])
            .ok()
            .json();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["category"] == category
                    && e["repository"]
                        .as_str()
                        .is_some_and(|r| r.ends_with("/skips"))
            })
            .cloned()
            .collect()
    };
    let files_of = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["file"].as_str().unwrap().to_string())
            .collect()
    };
    let v = sync(&[]);
    assert_eq!(v["files_indexed"], 3, "{v:#}");
    assert!(
        expected_files(&repo, &[]).values().all(|t| t.len() > 1000),
        "every file is over the lower limit"
    );
    let chunks = fetch_class(s, SKIPS, false).len();

    // A lower limit (0 was the reported case: every chunk went). Files that
    // did not change keep their chunks, which are current; one that changed
    // is skipped, keeps the chunks of its last indexed version, and is listed.
    let v = sync(&["--config", low_s]);
    assert_eq!(
        v["files_seen"], 0,
        "nothing changed, git names nothing: {v:#}"
    );
    std::fs::write(repo.join("a.rs"), rust_file(22)).unwrap();
    git(&repo, &["commit", "-qam", "two"]);
    let v = sync(&["--config", low_s]);
    assert_eq!(v["files_skipped"], 1, "{v:#}");
    assert_eq!(v["files_indexed"], 0, "{v:#}");
    let v = sync(&["--config", low_s, "--rescan"]);
    assert_eq!(
        (&v["files_deleted"], &v["chunks_deleted"]),
        (&Value::from(0), &Value::from(0)),
        "{v:#}"
    );
    assert_eq!(
        fetch_class(s, SKIPS, false).len(),
        chunks,
        "chunks were deleted"
    );
    let entries = listed("skipped_size");
    assert_eq!(files_of(&entries), ["a.rs"], "listed once: {entries:#?}");
    let message = entries[0]["message"].as_str().unwrap();
    assert!(
        message.contains("index.max_file_bytes = 1000") && message.contains("kept"),
        "{message}"
    );
    let summary = s
        .run(&["index", "errors", "--summary", "--json"])
        .ok()
        .json();
    assert!(
        summary["by_category"]["skipped_size"].as_u64().unwrap() >= 1,
        "{summary:#}"
    );

    // A file turned binary keeps its chunks too, and is listed. Under the
    // default limit again, a.rs fits: git names no change, the record of its
    // skip does, and its current text is indexed.
    let mut binary = std::fs::read(repo.join("b.rs")).unwrap();
    binary[10] = 0;
    std::fs::write(repo.join("b.rs"), &binary).unwrap();
    let v = sync(&[]);
    assert_eq!(v["files_indexed"], 1, "a.rs: {v:#}");
    assert_eq!(v["chunks_deleted"], 0, "{v:#}");
    assert_eq!(files_of(&listed("skipped_binary")), ["b.rs"]);
    assert_eq!(
        files_of(&listed("skipped_size")),
        ["a.rs"],
        "not listed again"
    );
    let objects = fetch_class(s, SKIPS, false);
    assert!(objects.iter().any(|o| o["properties"]["path"] == "b.rs"));
    assert!(
        objects.iter().any(|o| o["properties"]["path"] == "a.rs"
            && o["properties"]["content"]
                .as_str()
                .unwrap()
                .contains("fn f21(")),
        "a.rs as it is now"
    );

    // Text again: indexed as it is, the chunks past its new end removed.
    std::fs::write(repo.join("b.rs"), rust_file(3)).unwrap();
    let v = sync(&[]);
    assert_eq!(v["files_indexed"], 1, "{v:#}");
    assert_class_matches(s, SKIPS, &expected_files(&repo, &[]));
    // Deleted: its chunks go.
    std::fs::remove_file(repo.join("b.rs")).unwrap();
    let v = sync(&[]);
    assert_eq!(v["files_deleted"], 1, "{v:#}");
    assert_class_matches(s, SKIPS, &expected_files(&repo, &[]));
}

/// `index tune`: nine trials on a sample, a recommendation that is the
/// fastest of them, nothing left behind, and --apply writing the config.
fn tune(s: &Stack, repo: &str) {
    let before = fetch_all(s).len();
    let v = s
        .run(&["index", "tune", repo, "--files", "40", "--apply", "--json"])
        .ok()
        .json();
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 9, "{v:#}");
    let fastest = trials
        .iter()
        .map(|t| t["chunks_per_s"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(v["chunks_per_s"].as_f64().unwrap(), fastest, "{v:#}");
    // The same sample every time: the first 40 files walked (a binary one is not indexed).
    let files = trials[0]["files"].as_u64().unwrap();
    assert!((30..=40).contains(&files), "{v:#}");
    assert!(trials[0]["chunks"].as_u64().unwrap() > files, "{v:#}");
    for t in trials {
        assert_eq!(
            (&t["files"], &t["chunks"]),
            (&trials[0]["files"], &trials[0]["chunks"]),
            "{v:#}"
        );
    }
    let (code, schema) = http(s.rest_port, "GET", "/v1/schema", None);
    assert_eq!(code, 200);
    assert!(
        !schema.contains("ElysiactlTune"),
        "scratch collections are removed: {schema}"
    );
    assert_eq!(
        fetch_all(s).len(),
        before,
        "the real collection is untouched"
    );
    let config =
        std::fs::read_to_string(s.dir.path().join("config/elysiactl/config.toml")).unwrap();
    let rec = &v["recommended"];
    assert!(
        config.contains(&format!("batch_size = {}", rec["batch_size"]))
            && config.contains(&format!(
                "upload_concurrency = {}",
                rec["upload_concurrency"]
            )),
        "{config}"
    );
    assert!(
        config.contains("[index]\ncollection = \"CodeTest\""),
        "the rest stays: {config}"
    );
    let shown = s.run(&["config", "show", "--json"]).ok().json();
    assert_eq!(shown["index"]["batch_size"], rec["batch_size"], "{shown:#}");

    // With an embedder, two more trials vary the embed workers at the best of the nine.
    if require_models() {
        let v = s
            .run_with(
                &["index", "tune", repo, "--files", "20", "--json"],
                &[("ELYSIACTL_INDEX_EMBEDDER", "static")],
            )
            .ok()
            .json();
        let trials = v["trials"].as_array().unwrap();
        assert_eq!(trials.len(), 11, "{v:#}");
        let workers: HashSet<u64> = trials[9..]
            .iter()
            .map(|t| t["embed_workers"].as_u64().unwrap())
            .collect();
        assert_eq!(workers.len(), 2, "{v:#}");
        assert!(trials.iter().all(|t| t["embedder"] == "static"), "{v:#}");
        assert!(
            trials[0]["embed_latency_ms"]["p50"].as_f64().is_some(),
            "{v:#}"
        );
    }
}

/// Both local embedders on the same cluster: a 384-dimension unit vector on
/// every chunk, a query embedded the same way finds the chunk that means
/// the same, and a collection never mixes embedders.
fn embedders(s: &mut Stack) {
    s.link_models();
    let docs = s.dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (name, text) in [
        ("weather.md", "The weather is lovely today. It is sunny and warm outside.\n"),
        ("stadium.md", "He drove to the stadium to watch the football match.\n"),
        ("bank.md", "The bank raised its interest rates, so loans cost more.\n"),
        ("cron.rs", "/// Parses a cron expression into a schedule of run times.\nfn parse_cron(expr: &str) -> Vec<u64> {\n    Vec::new()\n}\n"),
    ] {
        std::fs::write(docs.join(name), text).unwrap();
    }
    let docs_s = docs.to_str().unwrap();
    let before = fetch_all(s).len();
    let mut first_vectors = Vec::new();
    for embedder in ["static", "minilm"] {
        s.extra_env = vec![("ELYSIACTL_INDEX_EMBEDDER".into(), embedder.into())];
        let class = format!(
            "Docs{}",
            if embedder == "static" {
                "Static"
            } else {
                "Minilm"
            }
        );
        let v = s
            .run(&["index", "sync", docs_s, "--collection", &class, "--json"])
            .ok()
            .json();
        assert_eq!(v["chunks_uploaded"], 4, "{v:#}");
        assert_eq!(v["embedder"], embedder, "{v:#}");
        assert!(v["embed_latency_ms"]["p50"].as_f64().is_some(), "{v:#}");
        let objects = fetch_class(s, &class, true);
        assert_eq!(objects.len(), 4);
        for o in &objects {
            let vector: Vec<f64> = serde_json::from_value(o["vector"].clone())
                .unwrap_or_else(|_| panic!("no vector on {o:#}"));
            assert_eq!(vector.len(), 384, "{embedder}");
            let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "{embedder}: norm {norm}");
        }
        let weather = objects
            .iter()
            .find(|o| o["properties"]["path"] == "weather.md")
            .unwrap();
        first_vectors.push(weather["vector"].clone());
        // Words the weather file does not contain, but means.
        for query in [
            "sunshine and warm weather",
            "a nice day outdoors in the sun",
        ] {
            let r = s
                .run(&[
                    "index",
                    "search",
                    query,
                    "--collection",
                    &class,
                    "--mode",
                    "vector",
                    "--json",
                ])
                .ok()
                .json();
            assert_eq!(r["embedder"], embedder, "{r:#}");
            assert_eq!(
                r["hits"][0]["path"], "weather.md",
                "{embedder}, {query:?}: {r:#}"
            );
        }
        let r = s
            .run(&[
                "index",
                "search",
                "cron schedule",
                "--collection",
                &class,
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(r["mode"], "hybrid", "{r:#}");
        assert_eq!(r["hits"][0]["path"], "cron.rs", "{r:#}");
    }
    assert_ne!(
        first_vectors[0], first_vectors[1],
        "the two embedders give different vectors"
    );

    // index.vector_index = "hnsw" for a collection made with the default
    // flat index: the sync says so, and --rebuild re-creates it with HNSW.
    s.extra_env = vec![
        ("ELYSIACTL_INDEX_EMBEDDER".into(), "minilm".into()),
        ("ELYSIACTL_INDEX_VECTOR_INDEX".into(), "hnsw".into()),
    ];
    let v = s
        .run(&[
            "index",
            "sync",
            docs_s,
            "--collection",
            "DocsMinilm",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        v["schema_outdated"], "its vector index is flat, index.vector_index is hnsw",
        "{v:#}"
    );
    let v = s
        .run(&[
            "index",
            "sync",
            docs_s,
            "--collection",
            "DocsMinilm",
            "--rebuild",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v["rebuilt"]["to"], "DocsMinilm_v2", "{v:#}");
    assert_eq!(v["vector_queue"]["state"], "drained", "{v:#}");
    let (code, body) = http(s.rest_port, "GET", "/v1/schema/DocsMinilm_v2", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["vectorIndexType"],
        "hnsw"
    );
    let r = s
        .run(&[
            "index",
            "search",
            "cron schedule",
            "--collection",
            "DocsMinilm",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["hits"][0]["path"], "cron.rs", "{r:#}");

    // The keyword-only collection is not mixed with vectors, and nothing changes.
    let r = s.run(&["index", "sync", docs_s, "--collection", CLASS]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("embedded with \"none\""), "{}", r.stderr);
    assert!(
        r.stderr.contains("--collection"),
        "the hint names the fix: {}",
        r.stderr
    );
    assert_eq!(fetch_all(s).len(), before);
    s.extra_env.clear();
    let r = s.run(&[
        "index",
        "search",
        "weather",
        "--collection",
        CLASS,
        "--mode",
        "vector",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no vectors"), "{}", r.stderr);
}

/// `serve embeddings` answers the official `openai` SDK; `index sync` with
/// index.embedder = "openai" pointed at it writes the very vectors the
/// static embedder writes; a wrong key stops the sync before any change and
/// is never printed.
fn openai_endpoint(s: &mut Stack) {
    use std::io::BufRead;
    const KEY: &str = "sk-test-4242-secret";
    let mut server = s
        .command(&[
            "serve",
            "embeddings",
            "--listen",
            "127.0.0.1:0",
            "--embedder",
            "static",
            "--api-key-env",
            "EMBED_TEST_KEY",
            "--json",
            // Serving longer than this is not the script overrunning.
            "--script-timeout",
            "2s",
        ])
        .env("EMBED_TEST_KEY", KEY)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let served_since = Instant::now();
    // The ready line comes once the socket is bound.
    let mut line = String::new();
    let mut server_out = std::io::BufReader::new(server.stdout.take().unwrap());
    server_out.read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
    let url = ready["url"].as_str().unwrap().to_string();
    assert_eq!(ready["model"], "static-minilm", "{ready}");
    assert_eq!(ready["dims"], 384, "{ready}");

    // The official SDK: models, both encodings (it asks for base64 by
    // default), and its own errors for a wrong key and an unknown model.
    let check = r#"
import json, sys, openai
url, key = sys.argv[1], sys.argv[2]
c = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
assert [m.id for m in c.models.list()] == ["static-minilm"]
texts = ["The weather is lovely today.", "parse a cron line"]
b = c.embeddings.create(model="static-minilm", input=texts)
f = c.embeddings.create(model="static-minilm", input=texts, encoding_format="float")
assert [d.index for d in f.data] == [0, 1]
assert len(f.data[0].embedding) == 384
assert max(abs(x - y) for x, y in zip(b.data[1].embedding, f.data[1].embedding)) < 1e-6
try:
    openai.OpenAI(base_url=url, api_key="nope", max_retries=0).embeddings.create(model="static-minilm", input="x")
    sys.exit("a wrong key was accepted")
except openai.AuthenticationError:
    pass
try:
    c.embeddings.create(model="gpt-nothing", input="x")
    sys.exit("an unknown model was accepted")
except openai.NotFoundError:
    pass
try:
    c.embeddings.create(model="static-minilm", input=[[1, 2, 3]])
    sys.exit("token arrays were accepted")
except openai.BadRequestError:
    pass
print(json.dumps({"openai": openai.__version__}))
"#;
    let out = std::process::Command::new(common::python())
        .args(["-c", check, &url, KEY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "openai SDK: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );

    // index sync through the endpoint: the same vectors as the static embedder's.
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replacen(
            "[index]\n",
            &format!("[index]\nembedding_url = \"{url}\"\nembedding_model = \"static-minilm\"\n"),
            1,
        ),
    )
    .unwrap();
    let docs = s.dir.path().join("docs");
    let docs_s = docs.to_str().unwrap();
    s.extra_env = vec![
        ("ELYSIACTL_INDEX_EMBEDDER".into(), "openai".into()),
        ("ELYSIACTL_EMBEDDING_API_KEY".into(), "sk-wrong-9999".into()),
    ];
    let r = s.run(&[
        "index",
        "sync",
        docs_s,
        "--collection",
        "DocsOpenai",
        "--json",
    ]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("refused the API key"), "{}", r.stderr);
    assert!(
        r.stderr.contains("ELYSIACTL_EMBEDDING_API_KEY"),
        "the hint: {}",
        r.stderr
    );
    assert!(!format!("{}{}", r.stdout, r.stderr).contains("sk-wrong-9999"));
    let (code, _) = http(s.rest_port, "GET", "/v1/schema/DocsOpenai", None);
    assert_eq!(code, 404, "nothing was created");

    s.extra_env[1].1 = KEY.into();
    let v = s
        .run(&[
            "index",
            "sync",
            docs_s,
            "--collection",
            "DocsOpenai",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v["embedder"], "openai:static-minilm", "{v:#}");
    assert_eq!(v["chunks_uploaded"], 4, "{v:#}");
    assert!(!v.to_string().contains(KEY));
    let by_id = |class: &str| -> BTreeMap<String, Vec<f64>> {
        fetch_class(s, class, true)
            .into_iter()
            .map(|o| {
                let id = o["id"].as_str().unwrap().to_string();
                (id, serde_json::from_value(o["vector"].clone()).unwrap())
            })
            .collect()
    };
    let (remote, local) = (by_id("DocsOpenai"), by_id("DocsStatic"));
    assert_eq!(remote.len(), 4);
    assert_eq!(
        remote.keys().collect::<Vec<_>>(),
        local.keys().collect::<Vec<_>>()
    );
    for (id, v) in &remote {
        let diff = v
            .iter()
            .zip(&local[id])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-5, "{id}: vectors differ by {diff}");
    }
    // The host API embeds the same way from a playbook, locally or remotely.
    let playbook = s.dir.path().join("vectors.rhai");
    std::fs::write(
        &playbook,
        "let t = [\"parse a cron line\"];\n\
         out::json(#{local: embed::vectors(t, #{embedder: \"static\"}), remote: embed::vectors(t, #{embedder: \"openai\"})});\n",
    )
    .unwrap();
    let v = s.run(&["run", playbook.to_str().unwrap()]).ok().json();
    assert_eq!(v["remote"]["embedder"], "openai:static-minilm", "{v:#}");
    let (l, r): (Vec<f64>, Vec<f64>) = (
        serde_json::from_value(v["local"]["vectors"][0].clone()).unwrap(),
        serde_json::from_value(v["remote"]["vectors"][0].clone()).unwrap(),
    );
    assert_eq!(l.len(), 384);
    assert!(l.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-5), "{v:#}");
    // Queries are embedded through the endpoint too.
    let r = s
        .run(&[
            "index",
            "search",
            "sunshine and warm weather",
            "--collection",
            "DocsOpenai",
            "--mode",
            "vector",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["hits"][0]["path"], "weather.md", "{r:#}");
    s.extra_env.clear();
    std::fs::write(&cfg, text).unwrap();

    if let Some(rest) = Duration::from_millis(2500).checked_sub(served_since.elapsed()) {
        std::thread::sleep(rest);
    }
    signal(server.id(), "TERM");
    let mut last = String::new();
    std::io::Read::read_to_string(&mut server_out, &mut last).unwrap();
    let status = server.wait().unwrap();
    assert!(
        status.success(),
        "the server stops cleanly on SIGTERM: {status}"
    );
    let stopped: Value = serde_json::from_str(&last).unwrap_or_else(|_| panic!("{last:?}"));
    assert_eq!(stopped["url"], url.as_str(), "{stopped}");
}
