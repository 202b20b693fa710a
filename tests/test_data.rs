//! `test-data` and `benchmark` on a real three-node cluster (process
//! runtime, factor 3), one cluster for both: one seed gives one dataset
//! (fingerprint, IDs and content), datasets are recognised and nothing else
//! is ever written or removed, `validate` finds a changed and a deleted
//! object, export is exact, clean and its dry run; a baseline compared with
//! itself passes, a run against a slowed cluster is a regression (exit 3),
//! thresholds are checked.

mod common;

use common::{http, require_weaviate, signal, Stack};
use serde_json::{json, Value};

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn test_data_and_benchmarks_on_a_real_cluster() {
    if !require_weaviate() {
        return;
    }
    let s = Stack::new("process", 3, false, "");
    s.run(&["start", "--timeout", "180"]).ok();
    test_data(&s);
    benchmarks(&s);
}

fn test_data(s: &Stack) {
    // One seed, two collections: the same fingerprint, IDs and objects.
    let gen = |collection: &str, seed: &str| {
        s.run(&[
            "test-data",
            "generate",
            "--records",
            "300",
            "--pattern",
            "documents",
            "--seed",
            seed,
            "--vectors",
            "8",
            "--collection",
            collection,
            "--json",
        ])
    };
    let a = gen("DocsA", "42").ok().json();
    assert_eq!(a["written"], 300, "{a:#}");
    assert_eq!(a["refused"], 0, "{a:#}");
    assert_eq!(a["created"], true);
    let b = gen("DocsB", "42").ok().json();
    assert_eq!(a["dataset"]["fingerprint"], b["dataset"]["fingerprint"]);
    assert_eq!(s.count_of("DocsA"), 300);
    assert_eq!(s.factor_of("DocsA"), 3);
    let export = |c: &str| s.run(&["test-data", "export", c]).ok().stdout;
    let (ea, eb) = (export("DocsA"), export("DocsB"));
    assert_eq!(lines(&ea).len(), 300);
    assert_eq!(ea, eb, "one seed gave two datasets");
    // Another seed: another fingerprint and other objects.
    let c = gen("DocsC", "43").ok().json();
    assert_ne!(a["dataset"]["fingerprint"], c["dataset"]["fingerprint"]);
    assert_ne!(lines(&export("DocsC"))[0], lines(&ea)[0]);
    // The same dataset again is written again; another into it is refused.
    assert_eq!(gen("DocsA", "42").ok().json()["created"], false);
    let r = gen("DocsA", "7");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("holds another test dataset"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("test-data clean --name DocsA"),
        "{}",
        r.stderr
    );
    assert_eq!(
        export("DocsA"),
        ea,
        "a refused generate changed the dataset"
    );

    // Someone else's collection is never written or removed.
    s.make_collections(&["Articles:3:5"]);
    let r = gen("Articles", "42");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is not a test dataset"), "{}", r.stderr);
    let r = s.run(&["test-data", "clean", "--name", "Articles", "--force"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not a test dataset"), "{}", r.stderr);
    assert_eq!(s.count_of("Articles"), 5);

    // validate: all well, then one object changed and one deleted.
    let v = s
        .run(&["test-data", "validate", "--collection", "DocsA", "--json"])
        .ok()
        .json();
    assert_eq!(v[0]["ok"], true, "{v:#}");
    let ids: Vec<String> = lines(&ea)
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let (code, body) = http(
        s.rest_port,
        "PATCH",
        &format!("/v1/objects/DocsA/{}?consistency_level=ALL", ids[10]),
        Some(&json!({"class": "DocsA", "properties": {"author": "Someone Else"}})),
    );
    assert_eq!(code, 204, "{body}");
    let (code, body) = http(
        s.rest_port,
        "DELETE",
        &format!("/v1/objects/DocsA/{}?consistency_level=ALL", ids[20]),
        None,
    );
    assert_eq!(code, 204, "{body}");
    let r = s.run(&["test-data", "validate", "--collection", "DocsA", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v = &r.json()[0];
    assert_eq!(v["ok"], false);
    assert_eq!(v["missing"], json!([ids[20]]), "{v:#}");
    assert_eq!(v["changed"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["changed"][0]["id"], ids[10], "{v:#}");
    assert_eq!(v["changed"][0]["fields"], json!(["author"]), "{v:#}");
    assert_eq!(v["extra"], json!([]));
    assert_eq!(v["replicas_disagree"], json!([]), "{v:#}");
    // list shows it incomplete; the foreign collection is not listed.
    let l = s.run(&["test-data", "list", "--json"]).ok().json();
    let names: Vec<&str> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["collection"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["DocsA", "DocsB", "DocsC"]);
    assert_eq!(l[0]["objects"], 299);
    assert_eq!(l[0]["complete"], false);
    assert_eq!(l[1]["complete"], true);

    // Export formats: JSON is the same objects as NDJSON; CSV has a row each.
    let j: Value = serde_json::from_str(
        &s.run(&["test-data", "export", "DocsB", "--format", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(j.as_array().unwrap(), &lines(&eb));
    let file = s.dir.path().join("docs.csv");
    let file_s = file.to_str().unwrap();
    s.run(&[
        "test-data",
        "export",
        "DocsB",
        "--format",
        "csv",
        "--output",
        file_s,
    ])
    .ok();
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(
        csv.starts_with("id,title,body,author,tags,word_count,published\r\n"),
        "{}",
        &csv[..200.min(csv.len())]
    );
    assert_eq!(csv.matches(&ids[0]).count(), 1);

    // clean: a dry run removes nothing; by age nothing is old enough; by name only that one.
    let r = s.run(&["--dry-run", "test-data", "clean", "--force"]).ok();
    assert!(r.stdout.contains("would remove DocsA"), "{}", r.stdout);
    assert_eq!(
        s.run(&["test-data", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = s
        .run(&[
            "test-data",
            "clean",
            "--older-than",
            "1h",
            "--force",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["removed"], json!([]));
    let r = s
        .run(&["test-data", "clean", "--name", "DocsC", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(r["removed"][0]["collection"], "DocsC");
    let (code, _) = http(s.rest_port, "GET", "/v1/schema/DocsC", None);
    assert_eq!(code, 404, "DocsC is still there");
    let r = s
        .run(&["test-data", "clean", "--force", "--json"])
        .ok()
        .json();
    assert_eq!(r["removed"].as_array().unwrap().len(), 2, "{r:#}");
    assert_eq!(
        s.count_of("Articles"),
        5,
        "clean touched another collection"
    );
}

fn benchmarks(s: &Stack) {
    let load = [
        "--rate",
        "40",
        "--duration",
        "6s",
        "--warmup",
        "1s",
        "--records",
        "500",
        "--dims",
        "16",
        "--mix",
        "get=3,bm25=1,near_vector=1,filtered=1,insert=1",
        "--json",
    ];
    let base = s
        .run(&[&["benchmark", "baseline", "--save", "base"][..], &load].concat())
        .ok()
        .json();
    let ops = &base["summary"]["operations"];
    for op in ["get", "bm25", "near_vector", "filtered", "insert"] {
        assert!(ops[op]["count"].as_u64().unwrap() > 0, "{op}: {base:#}");
        assert_eq!(ops[op]["errors"], 0, "{op}: {base:#}");
    }
    assert_eq!(base["summary"]["dropped"], 0, "{base:#}");
    assert_eq!(base["environment"]["nodes"], 3);
    assert!(base["environment"]["weaviate"].is_string(), "{base:#}");
    assert!(s
        .dir
        .path()
        .join("data/elysiactl/benchmarks/base.json")
        .exists());
    // The scratch collection of the inserts is gone; the dataset stays, a test dataset.
    let (code, _) = http(s.rest_port, "GET", "/v1/schema/BenchLoadWrites", None);
    assert_eq!(code, 404);
    assert_eq!(s.count_of("BenchLoad"), 500);
    let list = s.run(&["benchmark", "list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "base");

    // A run compared with itself passes.
    let same = s
        .run(&[
            "benchmark",
            "compare",
            "--before",
            "base",
            "--after",
            "base",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(same["ok"], true, "{same:#}");
    assert_eq!(same["regressions"], json!([]));
    // A threshold it cannot meet fails it, with exit code 3.
    let r = s.run(&[
        "benchmark",
        "compare",
        "--before",
        "base",
        "--after",
        "base",
        "--threshold",
        "p95<0.001ms",
        "--json",
    ]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(!r.json()["thresholds_failed"].as_array().unwrap().is_empty());
    let r = s.run(&[
        "benchmark",
        "compare",
        "--before",
        "base",
        "--after",
        "base",
        "--threshold",
        "p95>5ms",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("does not parse"), "{}", r.stderr);

    // Every write and query added to the mix, at ALL: each one answered,
    // each delete finding the object it was given (a 404 is an error), the
    // dataset untouched, the scratch collection gone.
    let t = std::time::Instant::now();
    let ops_run = s
        .run(&[
            "benchmark",
            "baseline",
            "--save",
            "ops",
            "--rate",
            "40",
            "--duration",
            "4s",
            "--warmup",
            "1s",
            "--records",
            "500",
            "--dims",
            "16",
            "--consistency",
            "all",
            "--mix",
            "get=1,hybrid=2,update=2,delete=2,batch_insert=1,batch_delete=1",
            "--json",
        ])
        .ok()
        .json();
    let ops = &ops_run["summary"]["operations"];
    for op in ["hybrid", "update", "delete", "batch_insert", "batch_delete"] {
        assert!(ops[op]["count"].as_u64().unwrap() > 0, "{op}: {ops_run:#}");
        assert_eq!(ops[op]["errors"], 0, "{op}: {ops_run:#}");
    }
    assert_eq!(s.count_of("BenchLoad"), 500);
    let v = s
        .run(&[
            "test-data",
            "validate",
            "--collection",
            "BenchLoad",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v[0]["ok"], true, "{v:#}");
    let (code, _) = http(s.rest_port, "GET", "/v1/schema/BenchLoadWrites", None);
    assert_eq!(code, 404, "the scratch collection is left");
    eprintln!(
        "TIMING every operation ({:.1} s): {}",
        t.elapsed().as_secs_f64(),
        ops
    );

    // Replication overhead: both factors measured in alternating runs, each
    // against a dataset that really has its factor.
    let t = std::time::Instant::now();
    let r = s
        .run(&[
            "benchmark",
            "replication",
            "--factors",
            "1,3",
            "--rounds",
            "2",
            "--rate",
            "30",
            "--duration",
            "3s",
            "--warmup",
            "1s",
            "--records",
            "300",
            "--dims",
            "16",
            "--mix",
            "get=2,bm25=1,near_vector=1,insert=1",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["order"], json!([1, 3, 3, 1]), "{r:#}");
    assert_eq!(s.factor_of("BenchLoadF1"), 1);
    assert_eq!(s.factor_of("BenchLoadF3"), 3);
    assert_eq!(s.count_of("BenchLoadF1"), 300);
    assert_eq!(s.count_of("BenchLoadF3"), 300);
    for f in ["1", "3"] {
        let ops = &r["runs"][f]["summary"]["operations"];
        for op in ["get", "bm25", "near_vector", "insert"] {
            assert!(ops[op]["count"].as_u64().unwrap() > 0, "{f} {op}: {r:#}");
            assert_eq!(ops[op]["errors"], 0, "{f} {op}: {r:#}");
        }
        let (code, _) = http(
            s.rest_port,
            "GET",
            &format!("/v1/schema/BenchLoadF{f}Writes"),
            None,
        );
        assert_eq!(code, 404, "the scratch collection of factor {f} is left");
    }
    assert_eq!(
        r["runs"]["1"]["fingerprint"], r["runs"]["3"]["fingerprint"],
        "the two factors ran against different data"
    );
    for op in ["get", "bm25", "near_vector", "insert"] {
        let x = &r["ratios"]["3"][op];
        for k in ["p50", "p95", "throughput"] {
            assert!(x[k].as_f64().unwrap() > 0.0, "{op} {k}: {r:#}");
        }
    }
    eprintln!(
        "TIMING replication overhead ({:.1} s): {}",
        t.elapsed().as_secs_f64(),
        r["ratios"]
    );
    // The table for people: a row an operation, the ratio and the method.
    let r = s
        .run(&[
            "benchmark",
            "replication",
            "--rounds",
            "1",
            "--rate",
            "20",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--records",
            "300",
            "--dims",
            "16",
            "--mix",
            "get=1",
        ])
        .ok();
    assert!(r.stdout.contains("P50_RATIO"), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("get") && l.contains("3/1")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("factor 3 (BenchLoadF3):"), "{}", r.stdout);
    assert!(r.stdout.contains("measured: the same load"), "{}", r.stdout);

    // The same load against a slowed cluster: every node frozen half the
    // time (SIGSTOP 50 ms, SIGCONT 50 ms), as a CPU quota of 50% would.
    let pids: Vec<u32> = (0..3).map(|i| s.node_pid(i)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let throttle = {
        let (pids, stop) = (pids.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                pids.iter().for_each(|p| signal(*p, "STOP"));
                std::thread::sleep(std::time::Duration::from_millis(50));
                pids.iter().for_each(|p| signal(*p, "CONT"));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    let r = s.run(&[
        "benchmark",
        "compare",
        "--baseline",
        "base",
        "--save",
        "slow",
        "--json",
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    throttle.join().unwrap();
    pids.iter().for_each(|p| signal(*p, "CONT"));
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert!(!v["regressions"].as_array().unwrap().is_empty(), "{v:#}");
    eprintln!("TIMING slowed cluster: {}", v["operations"]);
    assert!(s
        .dir
        .path()
        .join("data/elysiactl/benchmarks/slow.json")
        .exists());
}
