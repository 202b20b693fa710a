//! Bundles `scripts/` and `stdlib/` into the binary: each file becomes an
//! entry (relative path, contents) in `$OUT_DIR/bundled.rs`; and generates
//! the gRPC batch messages from Weaviate's vendored `.proto` files into
//! `$OUT_DIR/weaviate.v1.rs`.

use std::fs;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("rhai" | "lua" | "txt")
        ) {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    for top in ["scripts", "stdlib"] {
        println!("cargo:rerun-if-changed={top}");
        walk(&root.join(top), &mut files);
    }
    let mut code = String::from("pub static BUNDLED: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        println!("cargo:rerun-if-changed={}", f.display());
        code.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bundled.rs");
    fs::write(out, code).unwrap();
    generate_grpc_messages(&root);
    record_commit(&root);
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `--version` names the commit it was built from: ELYSIACTL_COMMIT, the
/// short hash of HEAD, or "unknown" outside a git checkout (a crate from the
/// registry). Rebuilt when HEAD moves: the HEAD file, the branch it points
/// to, and packed-refs (where `git gc` puts branches).
fn record_commit(root: &Path) {
    let commit =
        git(root, &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ELYSIACTL_COMMIT={commit}");
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for w in watched {
        if let Some(p) = git(root, &["rev-parse", "--git-path", &w]) {
            let p = root.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}

/// Only the messages: the service (`weaviate.proto`) imports the aggregate
/// and tenant protos too, and the client calls its two methods by path so
/// that a refused connection keeps its own error (a generated client
/// reports it as an unknown status).
fn generate_grpc_messages(root: &Path) {
    let include = root.join("proto/weaviate");
    println!("cargo:rerun-if-changed={}", include.display());
    let fds = protox::compile(["v1/batch.proto", "v1/search_get.proto"], [&include])
        .unwrap_or_else(|e| panic!("compiling {}: {e:?}", include.display()));
    tonic_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating the gRPC messages: {e}"));
}
