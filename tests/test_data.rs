//! `test-data` and `benchmark` on a real three-node cluster (process
//! runtime, factor 3), one cluster for both: one seed gives one dataset
//! (fingerprint, IDs and content), datasets are recognised and nothing else
//! is ever written or removed, `validate` finds a changed and a deleted
//! object, export is exact, clean and its dry run; a sampled dataset of a
//! collection with personal data lets none of it out, is the same from the
//! same seed and validates; a baseline compared with itself passes, a run
//! against a cluster held to 4% of a CPU (`chaos resource --cpu-limit`) is a
//! regression (exit 3), thresholds are checked; each node's CPU and memory
//! are sampled through a run; every operation of the mix runs; replication
//! overhead is measured on datasets of each factor; stress, spike and
//! endurance runs offer the load they say they do.

mod common;

use common::{http, require_weaviate, Stack};
use serde_json::{json, Value};

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The objects of an NDJSON export: every line after the header.
fn objects_of(text: &str) -> Vec<Value> {
    let all = lines(text);
    assert_eq!(all[0]["elysiactl_export"], 1, "{}", all[0]);
    all[1..].to_vec()
}

/// An export (NDJSON or pretty JSON) as if of collection `to`: the one
/// field that names the collection changed.
fn renamed(text: &str, from: &str, to: &str) -> String {
    text.replacen(
        &format!("\"collection\":\"{from}\""),
        &format!("\"collection\":\"{to}\""),
        1,
    )
    .replacen(
        &format!("\"collection\": \"{from}\""),
        &format!("\"collection\": \"{to}\""),
        1,
    )
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
    shaped_benchmarks(&s);
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
    assert_eq!(objects_of(&ea).len(), 300);
    assert!(objects_of(&ea)[0]["vector"].as_array().unwrap().len() == 8);
    assert_eq!(
        renamed(&ea, "DocsA", "DocsB"),
        eb,
        "one seed gave two datasets"
    );
    // Another seed: another fingerprint and other objects.
    let c = gen("DocsC", "43").ok().json();
    assert_ne!(a["dataset"]["fingerprint"], c["dataset"]["fingerprint"]);
    assert_ne!(objects_of(&export("DocsC"))[0], objects_of(&ea)[0]);
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
    let ids: Vec<String> = objects_of(&ea)
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
    assert_eq!(j["objects"].as_array().unwrap(), &objects_of(&eb));
    let mut header = j.clone();
    header.as_object_mut().unwrap().shift_remove("objects");
    assert_eq!(header, lines(&eb)[0]);
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

    import(s, &file);

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
        5
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
    assert_eq!(r["removed"].as_array().unwrap().len(), 4, "{r:#}");
    assert_eq!(
        s.count_of("Articles"),
        5,
        "clean touched another collection"
    );
}

/// Exports of DocsB (a complete documents dataset with vectors) imported
/// into new collections: each exports again the same bytes apart from its
/// name, is that dataset (listed, validated), and is written again when
/// imported again; CSV, a broken line, a missing file and someone else's
/// collection are refused and create nothing; a dry run creates nothing.
fn import(s: &Stack, csv: &std::path::Path) {
    let t0 = std::time::Instant::now();
    let absent = |c: &str| http(s.rest_port, "GET", &format!("/v1/schema/{c}"), None).0 == 404;
    let mut ndjson_file = None;
    for (format, name) in [("ndjson", "DocsN"), ("json", "DocsJ")] {
        let file = s.dir.path().join(format!("docsb.{format}"));
        let f = file.to_str().unwrap();
        s.run(&[
            "test-data",
            "export",
            "DocsB",
            "--format",
            format,
            "--output",
            f,
        ])
        .ok();
        let r = s
            .run(&["test-data", "import", f, "--collection", name, "--json"])
            .ok()
            .json();
        assert_eq!(
            (&r["created"], &r["written"], &r["refused"]),
            (&json!(true), &json!(300), &json!(0)),
            "{r:#}"
        );
        assert_eq!(s.count_of(name), 300);
        assert_eq!(s.factor_of(name), 3);
        let again = s
            .run(&["test-data", "export", name, "--format", format])
            .ok()
            .stdout;
        assert!(
            renamed(&again, name, "DocsB") == std::fs::read_to_string(&file).unwrap(),
            "{format}: the import exports differently"
        );
        assert_eq!(s.validate(name)["ok"], true);
        ndjson_file.get_or_insert(file);
    }
    let file = ndjson_file.unwrap();
    let f = file.to_str().unwrap();
    let l = s.run(&["test-data", "list", "--json"]).ok().json();
    assert!(
        l.as_array()
            .unwrap()
            .iter()
            .any(|d| d["collection"] == "DocsN"
                && d["pattern"] == "documents"
                && d["seed"] == 42
                && d["complete"] == true),
        "{l:#}"
    );
    // The same dataset imported again is written again.
    let r = s
        .run(&["test-data", "import", f, "--collection", "DocsN", "--json"])
        .ok()
        .json();
    assert_eq!(r["created"], false, "{r:#}");
    assert_eq!(s.count_of("DocsN"), 300);

    // Refused, and nothing created or written.
    let refused = |args: &[&str], message: &str| {
        let r = s.run(&[&["test-data", "import"][..], args].concat());
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
    };
    refused(
        &[f, "--collection", "Articles"],
        "Articles exists and is not a test dataset",
    );
    assert_eq!(s.count_of("Articles"), 5);
    let broken = s.dir.path().join("broken.ndjson");
    let mut text: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    text[3] = text[3][..40].to_string();
    std::fs::write(&broken, text.join("\n") + "\n").unwrap();
    refused(
        &[broken.to_str().unwrap(), "--collection", "DocsBad"],
        "broken.ndjson line 4: not JSON",
    );
    refused(
        &[csv.to_str().unwrap(), "--collection", "DocsBad"],
        "cannot be imported exactly",
    );
    refused(&["/nonexistent/docs.ndjson"], "cannot read");
    assert!(absent("DocsBad"), "a refused import created its collection");
    let r = s
        .run(&[
            "--dry-run",
            "test-data",
            "import",
            f,
            "--collection",
            "DocsDry",
        ])
        .ok();
    assert!(
        r.stdout
            .contains("would create DocsDry: 300 objects of DocsB"),
        "{}",
        r.stdout
    );
    assert!(absent("DocsDry"), "a dry run created its collection");
    eprintln!("TIMING import: {:.1} s", t0.elapsed().as_secs_f64());
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
    let rows = objects_of(&ndjson);
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
    assert_eq!(
        renamed(
            &export("CustSample2", "ndjson"),
            "CustSample2",
            "CustSample"
        ),
        ndjson
    );
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

    // The same load against a slowed cluster: every node held to 4% of a
    // CPU by elysiactl's own fault (a cgroup CFS quota), lifted afterwards.
    let mut limit = s
        .command(&["chaos", "resource", "--cpu-limit", "4%", "--duration", "5m"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // (`chaos status` exits 1 while faults are active.)
        let active = s.run(&["chaos", "status", "--json"]).json();
        if active.as_array().is_some_and(|a| a.len() == 3) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the CPU limit was not on all three nodes within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = s.run(&[
        "benchmark",
        "compare",
        "--baseline",
        "base",
        "--save",
        "slow",
        "--json",
    ]);
    let reset = s.run(&["chaos", "reset", "--json"]).ok().json();
    let _ = limit.kill();
    let _ = limit.wait();
    assert!(
        !reset["undone"].as_array().unwrap().is_empty(),
        "the CPU limit was still on when the run ended: {reset}"
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert!(!v["regressions"].as_array().unwrap().is_empty(), "{v:#}");
    eprintln!("TIMING cluster at 4% CPU: {}", v["operations"]);
    assert!(s
        .dir
        .path()
        .join("data/elysiactl/benchmarks/slow.json")
        .exists());
}

/// The resident memory of a process, from /proc (the test's own reading).
fn rss_bytes(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn shaped_benchmarks(s: &Stack) {
    let data = ["--records", "500", "--dims", "16", "--json"];
    // The baseline saved above sampled every node through its run.
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(s.dir.path().join("data/elysiactl/benchmarks/base.json")).unwrap(),
    )
    .unwrap();
    let nodes = base["summary"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{:#}", base["summary"]);
    for (i, n) in nodes.iter().enumerate() {
        assert!(n["samples"].as_u64().unwrap() >= 5, "{n}");
        // Serving 40 requests a second costs a node some CPU, never more
        // than the machine has.
        let cpu = n["cpu_mean_percent"].as_f64().unwrap();
        let cores = std::thread::available_parallelism().unwrap().get() as f64;
        assert!(cpu > 0.0 && cpu <= 100.0 * cores, "{n}");
        // Within a factor of two of what /proc says now.
        let mem = n["memory_last_bytes"].as_f64().unwrap();
        let now = rss_bytes(s.node_pid(i)) as f64;
        assert!(mem > now / 2.0 && mem < now * 2.0, "{n}: /proc says {now}");
    }

    // A stress run whose limits hold: every planned step runs, at its rate.
    let r = s
        .run(
            &[
                &[
                    "benchmark",
                    "stress",
                    "--start-rate",
                    "20",
                    "--factor",
                    "2",
                    "--max-rate",
                    "80",
                    "--step",
                    "2s",
                    "--ramp-up",
                    "1s",
                    "--p99",
                    "5s",
                    "--save",
                    "stress",
                ][..],
                &data,
            ]
            .concat(),
        )
        .ok()
        .json();
    let steps = r["stress"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{:#}", r["stress"]);
    for (st, rate) in steps.iter().zip([20.0, 40.0, 80.0]) {
        assert_eq!(st["offered_rate"], rate, "{st}");
        assert_eq!(st["held"], true, "{st}");
        let sent = st["sent"].as_f64().unwrap();
        assert!((sent - 2.0 * rate).abs() <= 2.0, "{st}");
    }
    assert!(r["stress"]["breaking_point"].is_null(), "{:#}", r["stress"]);
    let best = r["stress"]["sustainable"]["throughput"].as_f64().unwrap();
    assert!((70.0..=82.0).contains(&best), "{:#}", r["stress"]);
    // The saved run holds every step's requests, placed one after another.
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(s.dir.path().join("data/elysiactl/benchmarks/stress.json"))
            .unwrap(),
    )
    .unwrap();
    let reqs = saved["requests"].as_array().unwrap();
    assert_eq!(
        reqs.len() as f64,
        steps
            .iter()
            .map(|s| s["sent"].as_f64().unwrap())
            .sum::<f64>()
    );
    let last_due = reqs.iter().map(|q| q[1].as_u64().unwrap()).max().unwrap();
    assert!(
        last_due >= 5_500_000,
        "the last step's requests are due after 4 s: {last_due}"
    );
    // A limit no step can meet breaks the first step: no sustainable rate.
    let r = s
        .run(
            &[
                &[
                    "benchmark",
                    "stress",
                    "--start-rate",
                    "20",
                    "--step",
                    "1s",
                    "--ramp-up",
                    "0s",
                    "--p99",
                    "1us",
                ][..],
                &data,
            ]
            .concat(),
        )
        .ok()
        .json();
    assert_eq!(
        r["stress"]["steps"].as_array().unwrap().len(),
        1,
        "{:#}",
        r["stress"]
    );
    assert_eq!(r["stress"]["breaking_point"]["offered_rate"], 20.0);
    assert!(r["stress"]["sustainable"].is_null());

    // A spike offers ten times the load for its duration, and the run says
    // when latency came back (exit 3 when it did not within --after).
    let r = s.run(
        &[
            &[
                "benchmark",
                "spike",
                "--rate",
                "20",
                "--spike-rate",
                "200",
                "--before",
                "2s",
                "--spike",
                "2s",
                "--after",
                "4s",
                "--warmup",
                "1s",
            ][..],
            &data,
        ]
        .concat(),
    );
    let v = r.json();
    let sp = &v["spike"];
    assert_eq!(
        r.code,
        if sp["recovered"] == true { 0 } else { 3 },
        "{}",
        r.stderr
    );
    let count =
        |phase: &str| sp[phase]["ok"].as_f64().unwrap() + sp[phase]["failed"].as_f64().unwrap();
    assert!((count("before") - 40.0).abs() <= 2.0, "{sp:#}");
    // Requests dropped at the concurrency limit are not in a phase's count.
    assert!((300.0..=408.0).contains(&count("during")), "{sp:#}");
    assert!((count("after") - 80.0).abs() <= 2.0, "{sp:#}");
    assert_eq!(sp["per_second_after"].as_array().unwrap().len(), 4);

    // An endurance run follows latency and each node's memory by window.
    let r = s
        .run(
            &[
                &[
                    "benchmark",
                    "endurance",
                    "--rate",
                    "20",
                    "--duration",
                    "6s",
                    "--window",
                    "2s",
                    "--warmup",
                    "1s",
                ][..],
                &data,
            ]
            .concat(),
        )
        .ok()
        .json();
    let d = &r["endurance"];
    let windows = d["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 3, "{d:#}");
    for w in windows {
        let n = w["ok"].as_f64().unwrap() + w["failed"].as_f64().unwrap();
        assert!((n - 40.0).abs() <= 2.0, "{w}");
    }
    assert_eq!(d["memory"].as_array().unwrap().len(), 3);
    assert!(d["memory"][0]["bytes_per_hour"].is_number(), "{d:#}");
    // A drift limit that is not a percentage is refused before any load.
    let r = s.run(&[
        "benchmark",
        "endurance",
        "--duration",
        "2s",
        "--max-drift",
        "lots",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--max-drift"), "{}", r.stderr);
}
