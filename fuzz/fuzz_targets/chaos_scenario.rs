//! Chaos scenarios, as users write them in YAML: parsing never panics, and
//! a scenario that parses keeps its promises: every tolerance and duration
//! in it reads, each tolerance judges any result without panicking, and the
//! scenario written back out parses to the same steps.
#![no_main]

use elysiactl::chaos::scenario::{self, duration_of, Tolerance};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = scenario::parse(text, "fuzz.yaml") else {
        return;
    };
    let results = [
        json!(null),
        json!("healthy"),
        json!(3),
        json!({"status": "ok", "nodes": [1, "a"]}),
    ];
    let activities = s
        .hypothesis
        .iter()
        .flat_map(|h| h.probes.iter())
        .chain(&s.method)
        .chain(&s.rollbacks);
    for a in activities {
        let _ = a.args();
        if let Some(t) = &a.tolerance {
            let t = Tolerance::parse(t).expect("a parsed scenario's tolerance reads");
            for r in &results {
                let _ = t.check(r);
            }
        }
        duration_of(&a.within, "within").expect("a parsed scenario's within reads");
    }
    for g in &s.guards {
        Tolerance::parse(&g.tolerance).expect("a parsed scenario's guard reads");
        duration_of(&g.allow, "allow").expect("a parsed scenario's allow reads");
    }
    let again = serde_yaml_ng::to_string(&s).expect("a scenario writes out");
    let back = scenario::parse(&again, "again.yaml").expect("what was written parses");
    assert_eq!(back.title, s.title);
    assert_eq!(back.method.len(), s.method.len());
});
