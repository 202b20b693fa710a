//! Configuration, secrets, the schedule's writes and the command line's own
//! flags, driven through the binary with no cluster: what a new or careless
//! user types, and what must come back (a clear refusal, no secret, no lost
//! write).

mod common;

use common::Stack;
use std::path::PathBuf;

fn stack() -> Stack {
    Stack::new("process", 3, false, "")
}

fn config_file(s: &Stack) -> PathBuf {
    s.dir.path().join("config/elysiactl/config.toml")
}

fn append_config(s: &Stack, extra: &str) {
    let mut text = std::fs::read_to_string(config_file(s)).unwrap();
    text.push_str(extra);
    std::fs::write(config_file(s), text).unwrap();
}

fn script(s: &Stack, name: &str, source: &str) -> String {
    let p = s.dir.path().join(name);
    std::fs::write(&p, source).unwrap();
    p.display().to_string()
}

#[test]
fn config_show_prints_the_default_configuration_with_no_file() {
    let s = stack();
    std::fs::remove_file(config_file(&s)).unwrap();
    let r = s.run(&["config", "show"]).ok();
    assert!(r.stdout.contains("# from defaults"), "{}", r.stdout);
    assert!(r.stdout.contains("[weaviate]"), "{}", r.stdout);
    // What TOML cannot hold (an unset runtime) is said as a comment, and the
    // rest of the text is a config file that loads.
    assert!(
        r.stdout.contains("# unset: weaviate.runtime"),
        "{}",
        r.stdout
    );
    let body: String = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: toml::Value = toml::from_str(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(parsed["weaviate"]["nodes"].as_integer(), Some(3));
    let v = s.run(&["config", "show", "--json"]).ok().json();
    assert_eq!(v["weaviate"]["runtime"], serde_json::Value::Null);
    assert_eq!(v["weaviate"]["nodes"], 3);
}
