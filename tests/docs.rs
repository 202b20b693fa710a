//! The checked-in documentation generated from the code is not stale.

mod common;

#[test]
fn docs_api_md_is_what_api_markdown_prints() {
    let s = common::Stack::new("process", 3, false, "");
    let printed = s.run(&["api", "--markdown"]).ok().stdout;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md");
    let checked_in = std::fs::read_to_string(path).expect("docs/api.md exists");
    assert!(
        printed == checked_in,
        "docs/api.md is stale: regenerate it with `cargo run -q -- api --markdown > docs/api.md`"
    );
    assert!(printed.starts_with("# Host API reference"), "{printed}");
}
