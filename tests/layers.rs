//! The layering rule, checked: every `crate::` path in src/ points into the
//! same layer or one below. Layers, top to bottom (see src/lib.rs):
//!
//!   cli → script → host → domain → clients → base
//!
//! Within a layer, modules may use each other, but never in a cycle. A new
//! top-level module must be given a layer here, or this test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, &[&str])] = &[
    ("cli", &["cli"]),
    ("script", &["script"]),
    ("host", &["host"]),
    (
        "domain",
        &[
            "services",
            "runtime",
            "backup",
            "health",
            "repair",
            "index",
            "schedule",
            "install",
            "embed",
            "testdata",
            "benchmark",
            "logs",
            "chaos",
            "migrate",
        ],
    ),
    ("clients", &["clients"]),
    ("base", &["base"]),
];

/// Modules inside `base` form a layer of their own kind: each is a small
/// helper, and they too may not import in a cycle.
fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/host/cluster.rs` → host),
/// and for `base`, its sub-module (`src/base/config/mod.rs` → base::config).
fn module_of(src: &Path, file: &Path) -> (String, Option<String>) {
    let rel: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    let sub = (rel[0] == "base" && rel.len() > 1 && rel[1] != "mod").then(|| rel[1].clone());
    (rel[0].clone(), sub)
}

/// Every `crate::a::b` path in the code, skipping comments. Grouped
/// imports (`use crate::{a, b}`) are refused outright so none hides.
fn crate_paths(text: &str) -> Vec<(usize, String, Option<String>)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        assert!(
            !code.contains("crate::{"),
            "line {}: grouped `use crate::{{…}}` imports hide their layers; import each path",
            n + 1
        );
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let mut parts = after.split("::").map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            });
            let top = parts.next().unwrap_or_default();
            let sub = parts.next().filter(|s| !s.is_empty());
            found.push((n + 1, top, sub));
            rest = &after[1..];
        }
    }
    found
}

fn has_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        if let Some(c) = visit(n, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn imports_point_down_and_never_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let (module, base_sub) = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(from) = layer_of(&module) else {
            panic!("src/{module} is in no layer: add it to LAYERS in tests/layers.rs");
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, top, sub) in crate_paths(&text) {
            let Some(to) = layer_of(&top) else {
                panic!("{}:{line}: crate::{top} is in no layer", file.display());
            };
            if to < from {
                wrong.push(format!(
                    "{}:{line}: {} ({}) imports crate::{top} ({})",
                    file.strip_prefix(&src).unwrap().display(),
                    module,
                    LAYERS[from].0,
                    LAYERS[to].0
                ));
            }
            // Edges within a layer, for the cycle check (base by sub-module).
            let (a, b) = if module == "base" && top == "base" {
                match (&base_sub, &sub) {
                    (Some(a), Some(b)) => (format!("base::{a}"), format!("base::{b}")),
                    _ => continue,
                }
            } else {
                (module.clone(), top.clone())
            };
            if to == from && a != b {
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up a layer:\n{}",
        wrong.join("\n")
    );
    if let Some(cycle) = has_cycle(&edges) {
        panic!(
            "modules of one layer import in a cycle: {}",
            cycle.join(" → ")
        );
    }
}
