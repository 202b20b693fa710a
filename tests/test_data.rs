//! `test-data` and `benchmark` on a real three-node cluster (process
//! runtime, factor 3), one cluster for both: one seed gives one dataset
//! (fingerprint, IDs and content), datasets are recognised and nothing else
//! is ever written or removed, `validate` finds a changed and a deleted
//! object, export is exact, clean and its dry run; a sampled dataset of a
//! collection with personal data lets none of it out, is the same from the
//! same seed and validates; a baseline compared with
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
    sampled(&s);
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

/// A source collection with personal data, sampled: no sensitive original
/// anywhere in the export or the recorded profile, one seed one dataset,
/// numbers and dates within the source's ranges, validate passes; bad input
/// is refused with a hint and changes nothing.
fn sampled(s: &Stack) {
    let start = std::time::Instant::now();
    let class = json!({"class": "Customers", "vectorizer": "none", "properties": [
        {"name": "email", "dataType": ["text"]},
        {"name": "fullName", "dataType": ["text"]},
        {"name": "city", "dataType": ["text"]},
        {"name": "notes", "dataType": ["text"]},
        {"name": "age", "dataType": ["int"]},
        {"name": "balance", "dataType": ["number"]},
        {"name": "vip", "dataType": ["boolean"]},
        {"name": "signup", "dataType": ["date"]},
    ]});
    let (code, body) = http(s.rest_port, "POST", "/v1/schema", Some(&class));
    assert_eq!(code, 200, "{body}");
    let first = ["Wilhelmina", "Grace", "Harriet", "Oscar", "Will"];
    let last = ["Smithers", "Okonkwo", "Villanueva"];
    let cities = ["Reykjavik", "Lisbon", "Porto"];
    // Every value of a sensitive property, and every word in them: none may come out.
    let mut secrets: Vec<String> = first
        .iter()
        .chain(&last)
        .chain(&cities)
        .map(|w| w.to_lowercase())
        .collect();
    secrets.extend(["mailhost".to_string(), "org".to_string()]);
    let objects: Vec<Value> = (0..60)
        .map(|i| {
            let (f, l) = (first[i % 5], last[i % 3]);
            let email = format!("{}.{}{i}@mailhost.org", f.to_lowercase(), l.to_lowercase());
            let name = format!("{f} {l}");
            secrets.push(email.clone());
            secrets.push(name.to_lowercase());
            json!({"class": "Customers", "properties": {
                "email": email,
                "fullName": name,
                "city": cities[i % 3],
                // "will" is a name above and a common word here.
                "notes": format!("{f} will call about order {}, prefers email.", 5000 + i),
                "age": 18 + i,
                "balance": i as f64 * 12.5,
                "vip": i % 4 == 0,
                "signup": format!("2025-{:02}-{:02}T10:00:00Z", 1 + i % 12, 1 + i % 28),
            }})
        })
        .collect();
    let (code, body) = http(
        s.rest_port,
        "POST",
        "/v1/batch/objects?consistency_level=ALL",
        Some(&json!({"objects": objects})),
    );
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains("\"errors\""), "{body}");

    let gen = |collection: &str| {
        s.run(&[
            "test-data",
            "generate",
            "--pattern",
            "sampled",
            "--from",
            "Customers",
            "--sensitive",
            "city",
            "--records",
            "200",
            "--seed",
            "7",
            "--collection",
            collection,
            "--json",
        ])
    };
    let t0 = std::time::Instant::now();
    let a = gen("CustSample").ok().json();
    eprintln!("TIMING sampled generate: {:?}", t0.elapsed());
    assert_eq!(a["written"], 200, "{a:#}");
    assert_eq!(a["dataset"]["pattern"], "sampled");
    let profile = &a["dataset"]["profile"];
    assert_eq!(profile["sampled"], 60, "{profile:#}");
    let sensitive: Vec<&str> = profile["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["sensitive"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(sensitive, ["email", "fullName", "city"]);

    let export = |c: &str, format: &str| {
        s.run(&["test-data", "export", c, "--format", format])
            .ok()
            .stdout
    };
    let ndjson = export("CustSample", "ndjson");
    let rows = lines(&ndjson);
    assert_eq!(rows.len(), 200);
    eprintln!("SAMPLED e.g. {}", rows[0]);
    let (code, schema) = http(s.rest_port, "GET", "/v1/schema/CustSample", None);
    assert_eq!(code, 200);
    let everything = format!("{ndjson}{}{schema}", export("CustSample", "csv")).to_lowercase();
    for secret in &secrets {
        assert!(!everything.contains(secret.as_str()), "{secret:?} leaked");
    }
    assert!(
        !everything.contains("will"),
        "a sensitive name came out as a word"
    );

    // Distributions: numbers and dates within the source's ranges, the
    // categories no more than the source had.
    let prop = |o: &Value, k: &str| o["properties"][k].clone();
    for o in &rows {
        let age = prop(o, "age").as_i64().unwrap();
        assert!((18..=77).contains(&age), "{o}");
        let balance = prop(o, "balance").as_f64().unwrap();
        assert!((0.0..=737.5).contains(&balance), "{o}");
        // Text keeps its form: user.name99@host.tld, First Last, sentences.
        let email = prop(o, "email").as_str().unwrap().to_string();
        let (user, host) = email.split_once('@').unwrap_or_else(|| panic!("{o}"));
        assert!(user.contains('.') && host.contains('.'), "{o}");
        let name = prop(o, "fullName").as_str().unwrap().to_string();
        let words: Vec<&str> = name.split(' ').collect();
        assert!(
            words.len() == 2
                && words
                    .iter()
                    .all(|w| w.chars().next().unwrap().is_uppercase()),
            "{o}"
        );
        assert!(
            prop(o, "notes").as_str().unwrap().split(' ').count() >= 5,
            "{o}"
        );
        let at = prop(o, "signup").as_str().unwrap().to_string();
        assert!(
            at.as_str() >= "2025-01-01" && at.as_str() <= "2025-12-29",
            "{o}"
        );
    }
    let cities: std::collections::BTreeSet<String> =
        rows.iter().map(|o| prop(o, "city").to_string()).collect();
    assert!((1..=3).contains(&cities.len()), "{cities:?}");
    let vip = rows.iter().filter(|o| prop(o, "vip") == true).count();
    assert!(
        (20..=80).contains(&vip),
        "{vip} of 200 vip, the source has 25%"
    );

    // One seed, one dataset: fingerprint, IDs and objects.
    let b = gen("CustSample2").ok().json();
    assert_eq!(a["dataset"]["fingerprint"], b["dataset"]["fingerprint"]);
    assert_eq!(export("CustSample2", "ndjson"), ndjson);
    // The profile read back from the record is the one generated from: the
    // same dataset again is recognised and written again.
    assert_eq!(gen("CustSample").ok().json()["created"], false);
    let v = s.validate("CustSample");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["objects"], 200);
    let l = s.run(&["test-data", "list", "--json"]).ok().json();
    assert!(
        l.as_array()
            .unwrap()
            .iter()
            .any(|d| d["collection"] == "CustSample"
                && d["pattern"] == "sampled"
                && d["source"] == "Customers"
                && d["complete"] == true),
        "{l:#}"
    );

    // A dry run reads the source and writes nothing.
    let r = s
        .run(&[
            "--dry-run",
            "test-data",
            "generate",
            "--pattern",
            "sampled",
            "--from",
            "Customers",
            "--sample",
            "30",
            "--collection",
            "CustDry",
        ])
        .ok();
    assert!(r.stdout.contains("would create CustDry"), "{}", r.stdout);
    assert!(
        r.stdout.contains("profile of Customers from 30 objects"),
        "{}",
        r.stdout
    );
    assert_eq!(http(s.rest_port, "GET", "/v1/schema/CustDry", None).0, 404);

    // Bad input: refused with a hint, nothing made.
    let (code, body) = http(
        s.rest_port,
        "POST",
        "/v1/schema",
        Some(&json!({"class": "Empty", "vectorizer": "none"})),
    );
    assert_eq!(code, 200, "{body}");
    for (args, message, hint) in [
        (
            vec!["--pattern", "sampled"],
            "needs a collection to sample",
            "--from",
        ),
        (
            vec!["--pattern", "sampled", "--from", "Nope"],
            "no collection named Nope",
            "Customers",
        ),
        (
            vec!["--pattern", "sampled", "--from", "Empty"],
            "Empty has no objects to sample",
            "add some first",
        ),
        (
            vec![
                "--pattern",
                "sampled",
                "--from",
                "Customers",
                "--sensitive",
                "emial",
            ],
            "does not have",
            "fullName",
        ),
        (
            vec!["--from", "Customers"],
            "for the sampled pattern",
            "--pattern sampled",
        ),
    ] {
        let r = s.run(&[&["test-data", "generate"][..], &args].concat());
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(message) && r.stderr.contains(hint),
            "{args:?}: {}",
            r.stderr
        );
    }
    for c in [
        "TestDataSampledNope",
        "TestDataSampledEmpty",
        "TestDataSampledCustomers",
        "TestDataSynthetic",
    ] {
        assert_eq!(
            http(s.rest_port, "GET", &format!("/v1/schema/{c}"), None).0,
            404,
            "{c}"
        );
    }
    assert_eq!(s.count_of("Customers"), 60);
    eprintln!("TIMING sampled, all of it: {:?}", start.elapsed());
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
