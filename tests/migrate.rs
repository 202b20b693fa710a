//! `migrate` on a real three-node cluster (process runtime), one cluster for
//! every check: a Rhai and a Lua migration applied, rolled back and applied
//! again leave the same schema and counts; the record is read from the
//! cluster (a second, fresh config sees it); `validate` catches an edited
//! applied file; a throwing migration stops `up` with nothing recorded for it
//! and its partial change undone; `--dry-run` changes nothing.

mod common;

use common::{http, require_weaviate, Stack};
use serde_json::Value;

const BOOKS: &str = r#"// Books with two properties and ten objects.
fn up() {
    cluster::create_collection(#{
        class: "MigBooks", vectorizer: "none",
        properties: [#{name: "title", dataType: ["text"]}, #{name: "pages", dataType: ["int"]}],
    });
    let rows = [];
    for i in 0..10 { rows.push(#{title: `book ${i}`, pages: 100 + i}); }
    cluster::insert_objects("MigBooks", rows);
}
fn down() { cluster::delete_collection("MigBooks"); }
"#;

const AUTHORS: &str = r#"-- A second collection with data, in Lua.
function up()
    cluster.create_collection({ class = "MigAuthors", vectorizer = "none",
        replicationConfig = { factor = 3 },
        properties = { { name = "name", dataType = { "text" } }, { name = "born", dataType = { "int" } } } })
    local rows = {}
    for i = 1, 25 do rows[#rows + 1] = { name = "author " .. i, born = 1900 + i } end
    cluster.insert_objects("MigAuthors", rows)
end
function down()
    cluster.delete_collection("MigAuthors")
end
"#;

const BROKEN: &str = r#"// Creates a collection, then fails: up() must stop here.
fn up() {
    cluster::create_collection(#{class: "MigBroken", vectorizer: "none"});
    throw "the third migration is broken";
}
fn down() { cluster::delete_collection("MigBroken"); }
"#;

fn class_names(s: &Stack) -> Vec<String> {
    let (code, body) = http(s.rest_port, "GET", "/v1/schema", None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The migrated collections' definitions and counts.
fn snapshot(s: &Stack) -> Vec<(Value, u64)> {
    ["MigBooks", "MigAuthors"]
        .iter()
        .map(|c| {
            let (code, body) = http(s.rest_port, "GET", &format!("/v1/schema/{c}"), None);
            assert_eq!(code, 200, "{c}: {body}");
            (serde_json::from_str(&body).unwrap(), s.count_of(c))
        })
        .collect()
}

fn states(r: &common::Run) -> Vec<String> {
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "{}:{}",
                row["version"].as_str().unwrap(),
                row["state"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn migrations_apply_roll_back_and_reapply_on_a_real_cluster() {
    if !require_weaviate() {
        return;
    }
    let s = Stack::new("process", 3, false, "");
    s.run(&["start", "--timeout", "180"]).ok();
    let dir = s.dir.path().join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0001_create_books.rhai"), BOOKS).unwrap();
    std::fs::write(dir.join("0002_create_authors.lua"), AUTHORS).unwrap();
    let d = dir.to_str().unwrap();
    let migrate = |args: &[&str]| {
        let mut all = vec!["migrate"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--dir", d]);
        s.run(&all)
    };

    // A dry run plans both migrations and their records, and changes nothing.
    let before = class_names(&s);
    let r = s.run(&["--dry-run", "migrate", "up", "--dir", d]).ok();
    for planned in [
        "would cluster.create_collection",
        "would cluster.insert_objects(\"MigAuthors\"",
        "would migrate.record(",
    ] {
        assert!(r.stderr.contains(planned), "{planned}: {}", r.stderr);
    }
    assert_eq!(class_names(&s), before, "the dry run changed the schema");
    assert_eq!(
        states(&migrate(&["status", "--json"]).ok()),
        ["0001:pending", "0002:pending"]
    );

    // Applied, and recorded in the cluster with the cluster's factor.
    let r = migrate(&["up", "--json"]).ok();
    assert_eq!(
        r.json()["applied"].as_array().unwrap().len(),
        2,
        "{}",
        r.stdout
    );
    assert_eq!(s.factor_of("ElysiactlMigrations"), 3);
    let first = snapshot(&s);
    assert_eq!(first[0].1, 10);
    assert_eq!(first[1].1, 25);

    // A second operator with a fresh config sees the same record.
    let other = s.dir.path().join("other-config");
    std::fs::create_dir_all(other.join("elysiactl")).unwrap();
    std::fs::copy(
        s.dir.path().join("config/elysiactl/config.toml"),
        other.join("elysiactl/config.toml"),
    )
    .unwrap();
    let r = s
        .run_with(
            &["migrate", "status", "--json", "--dir", d],
            &[("XDG_CONFIG_HOME", other.to_str().unwrap())],
        )
        .ok();
    assert_eq!(states(&r), ["0001:applied", "0002:applied"]);
    let row = &r.json()[1];
    assert_eq!(row["checksum"], row["applied_checksum"]);
    assert!(row["applied_by"].as_str().unwrap().contains('@'), "{row}");

    // A dry rollback changes nothing; a real one undoes both, newest first.
    let r = s
        .run(&[
            "--dry-run",
            "migrate",
            "rollback",
            "--steps",
            "2",
            "--dir",
            d,
        ])
        .ok();
    assert!(
        r.stderr.contains("would migrate.unrecord(\"0002\")"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&s), first, "the dry rollback changed something");
    let r = migrate(&["rollback", "--steps", "2"]).ok();
    assert!(
        r.stdout.find("rolled back 0002").unwrap() < r.stdout.find("rolled back 0001").unwrap(),
        "{}",
        r.stdout
    );
    let names = class_names(&s);
    assert!(!names.iter().any(|n| n.starts_with("Mig")), "{names:?}");
    assert_eq!(
        states(&migrate(&["status", "--json"]).ok()),
        ["0001:pending", "0002:pending"]
    );

    // Up to a version, then the rest: the same schema and counts as before.
    migrate(&["up", "--to", "1"]).ok();
    assert_eq!(
        states(&migrate(&["status", "--json"]).ok()),
        ["0001:applied", "0002:pending"]
    );
    migrate(&["up"]).ok();
    assert_eq!(
        snapshot(&s),
        first,
        "up, rollback, up changed the schema or data"
    );

    // validate: fine, then an applied file edited is named and fails.
    migrate(&["validate"]).ok();
    let books = dir.join("0001_create_books.rhai");
    std::fs::write(&books, format!("{BOOKS}// edited after it was applied\n")).unwrap();
    let r = migrate(&["validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0001_create_books.rhai changed"),
        "{}",
        r.stdout
    );
    assert_eq!(migrate(&["status"]).code, 1);
    let r = s
        .run(&[
            "--dry-run",
            "migrate",
            "rollback",
            "--steps",
            "2",
            "--dir",
            d,
        ])
        .ok();
    assert!(
        r.stderr
            .contains("0001_create_books.rhai changed since it was applied"),
        "{}",
        r.stderr
    );
    std::fs::write(&books, BOOKS).unwrap();
    migrate(&["validate"]).ok();

    // A migration that throws: up stops there, its partial change is undone,
    // nothing is recorded for it, the earlier ones stay applied.
    std::fs::write(dir.join("0003_broken.rhai"), BROKEN).unwrap();
    let r = migrate(&["up"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for needle in [
        "0003_broken failed in up()",
        "the third migration is broken",
        "not recorded",
        "down() ran",
        "stay applied",
    ] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    assert!(!class_names(&s).contains(&"MigBroken".to_string()));
    assert_eq!(
        states(&migrate(&["status", "--json"]).ok()),
        ["0001:applied", "0002:applied", "0003:pending"]
    );
    assert_eq!(snapshot(&s), first);
    std::fs::remove_file(dir.join("0003_broken.rhai")).unwrap();

    stale_lock(&s, &dir);
    alias_type_change(&s, &dir);
}

/// A run ended by Ctrl-C releases the lock; one killed while it holds the
/// lock leaves it: `up` refuses naming the holder, `migrate unlock` removes it. (Every `up` above after the failed
/// one shows that an error releases it.)
fn stale_lock(s: &Stack, dir: &std::path::Path) {
    let d = dir.to_str().unwrap();
    let hold = s.dir.path().join("hold.rhai");
    std::fs::write(
        &hold,
        "migrate::lock(); out::line(\"locked\"); time::sleep(120);",
    )
    .unwrap();
    let hold_lock = || {
        let mut holder = s
            .command(&["run", hold.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        holder
    };
    // Ctrl-C ends the holder and releases its lock.
    let mut holder = hold_lock();
    common::signal(holder.id(), "INT");
    let _ = holder.wait();
    assert_eq!(
        s.run(&["migrate", "unlock"]).ok().stdout.trim(),
        "no lock was held"
    );
    // SIGKILL leaves it.
    let mut holder = hold_lock();
    holder.kill().unwrap();
    let _ = holder.wait();
    std::fs::write(dir.join("0003_note.rhai"), "fn up() {}\nfn down() {}\n").unwrap();
    let r = s.run(&["migrate", "up", "--dir", d]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("holds the lock since"), "{}", r.stderr);
    assert!(r.stderr.contains("migrate unlock"), "{}", r.stderr);
    // A dry run says so too, and the status does not list the lock.
    assert_eq!(s.run(&["--dry-run", "migrate", "up", "--dir", d]).code, 1);
    assert_eq!(
        states(&s.run(&["migrate", "status", "--json", "--dir", d]).ok()),
        ["0001:applied", "0002:applied", "0003:pending"]
    );
    let r = s.run(&["migrate", "unlock"]).ok();
    assert!(r.stdout.contains("removed the lock"), "{}", r.stdout);
    s.run(&["migrate", "up", "--dir", d]).ok();
    s.run(&["migrate", "rollback", "--dir", d]).ok();
    std::fs::remove_file(dir.join("0003_note.rhai")).unwrap();
    assert_eq!(
        s.run(&["migrate", "unlock"]).ok().stdout.trim(),
        "no lock was held"
    );
}

const BOOKS_V1: &str = r#"// Readers use the alias AlBooks from the start; year is text here.
fn up() {
    cluster::create_collection(#{class: "AlBooksV1", vectorizer: "none",
        replicationConfig: #{factor: 3},
        properties: [#{name: "title", dataType: ["text"]}, #{name: "year", dataType: ["text"]}]});
    let rows = [];
    for i in 0..300 { rows.push(#{title: `book ${i}`, year: `${1700 + i}`}); }
    cluster::insert_objects("AlBooksV1", rows);
    cluster::create_alias("AlBooks", "AlBooksV1");
}
fn down() { cluster::delete_alias("AlBooks"); cluster::delete_collection("AlBooksV1"); }
"#;

const YEAR_TO_INT: &str = r#"// year becomes an int: a new collection, the objects copied through a
// transform, the alias switched; the old collection stays for down().
import "stdlib/migrate" as m;
fn up() {
    let def = cluster::collection("AlBooksV1");
    def.class = "AlBooksV2";
    def.properties = def.properties.map(|p| if p.name == "year" { #{name: "year", dataType: ["int"]} } else { p });
    m::switch_collection("AlBooks", "AlBooksV1", def, |o| { o.properties.year = parse_int(o.properties.year); o });
}
fn down() { m::switch_back("AlBooks", "AlBooksV1", "AlBooksV2"); }
"#;

fn alias_target(s: &Stack) -> String {
    let (code, body) = http(s.rest_port, "GET", "/v1/aliases/AlBooks", None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["class"].as_str().unwrap().to_string()
}

/// A property's type changed through an alias while the official Python
/// client reads through it: no read fails, it sees both types, and a
/// rollback switches back with the old collection intact.
fn alias_type_change(s: &Stack, dir: &std::path::Path) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let d = dir.to_str().unwrap();
    std::fs::write(dir.join("0003_books_v1.rhai"), BOOKS_V1).unwrap();
    s.run(&["migrate", "up", "--dir", d]).ok();
    assert_eq!(alias_target(s), "AlBooksV1");

    let work = s.dir.path();
    let (ready, stop) = (work.join("alias.ready"), work.join("alias.stop"));
    let child = std::process::Command::new(common::python())
        .arg(format!(
            "{}/tests/py/alias_reader.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args([
            "127.0.0.1",
            &s.rest_port.to_string(),
            &s.grpc_port.to_string(),
            "AlBooks",
            "300",
            stop.to_str().unwrap(),
            ready.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with weaviate-client");
    let wait_for = |marker: &std::path::Path, what: &str| {
        let t0 = Instant::now();
        while !marker.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the reader never {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&ready, "got ready");

    std::fs::write(dir.join("0004_year_to_int.rhai"), YEAR_TO_INT).unwrap();
    s.run(&["migrate", "up", "--dir", d]).ok();
    assert_eq!(alias_target(s), "AlBooksV2");
    assert_eq!(s.count_of("AlBooksV2"), 300);
    assert_eq!(s.count_of("AlBooksV1"), 300, "the old collection is kept");
    let (_, body) = http(s.rest_port, "GET", "/v1/schema/AlBooksV2", None);
    assert!(body.contains(r#""dataType":["int"],"#), "{body}");
    wait_for(
        &ready.with_extension("ready.int"),
        "read the new collection",
    );
    s.run(&["migrate", "rollback", "--dir", d]).ok();
    assert_eq!(alias_target(s), "AlBooksV1");
    assert!(!class_names(s).contains(&"AlBooksV2".to_string()));
    wait_for(
        &ready.with_extension("ready.back"),
        "read the old collection again",
    );

    std::fs::write(&stop, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let load: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reader output ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(load["failure_count"], 0, "{load}");
    assert!(load["types"]["int"].as_u64().unwrap_or(0) > 0, "{load}");
    assert!(load["types"]["str"].as_u64().unwrap_or(0) > 0, "{load}");

    // Schema drift: a property added outside the migrations is named.
    s.run(&["migrate", "validate", "--dir", d]).ok();
    let note = serde_json::json!({"name": "note", "dataType": ["text"]});
    let (code, body) = http(
        s.rest_port,
        "POST",
        "/v1/schema/AlBooksV1/properties",
        Some(&note),
    );
    assert_eq!(code, 200, "{body}");
    let r = s.run(&["migrate", "validate", "--dir", d]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("schema drift: collection AlBooksV1 differs from what migration 0003_books_v1 left: property note added"),
        "{}",
        r.stdout
    );
}
