//! Finding the files worth indexing: `.gitignore` and friends respected
//! (the `ignore` crate, as ripgrep does), hidden and VCS folders skipped,
//! big files left out, the language told from the extension.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Found {
    /// Relative to the repository root, with `/` separators.
    pub rel: String,
    pub abs: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: u128,
}

/// Every regular file under `root` that git would not ignore.
pub fn walk(root: &Path) -> impl Iterator<Item = Result<Found, (PathBuf, String)>> {
    let root = root.to_path_buf();
    ignore::WalkBuilder::new(&root)
        .hidden(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        // A repository is indexed by its own rules, not those of the folders around it.
        .parents(false)
        .follow_links(false)
        .build()
        .filter_map(move |entry| match entry {
            Err(e) => Some(Err((root.clone(), e.to_string()))),
            Ok(e) if !e.file_type().is_some_and(|t| t.is_file()) => None,
            Ok(e) => {
                let abs = e.path().to_path_buf();
                let rel = abs
                    .strip_prefix(&root)
                    .unwrap_or(&abs)
                    .to_string_lossy()
                    .replace('\\', "/");
                match e.metadata() {
                    Err(err) => Some(Err((abs, err.to_string()))),
                    Ok(m) => Some(Ok(Found::new(rel, abs, &m))),
                }
            }
        })
}

impl Found {
    pub fn new(rel: String, abs: PathBuf, m: &std::fs::Metadata) -> Found {
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Found {
            rel,
            abs,
            size: m.len(),
            mtime_ns,
        }
    }
}

/// The language a file is written in, from its name; None for files that are
/// not text worth indexing by extension (they may still be text).
pub fn language(rel: &str) -> &'static str {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "go" => "go",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "tsx" => "typescript",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "php" => "php",
        "swift" => "swift",
        "scala" => "scala",
        "sh" | "bash" | "zsh" => "shell",
        "lua" => "lua",
        "rhai" => "rhai",
        "md" | "markdown" => "markdown",
        "toml" => "toml",
        "yaml" | "yml" => "yaml",
        "json" => "json",
        "html" | "htm" => "html",
        "css" | "scss" => "css",
        "sql" => "sql",
        "txt" | "rst" => "text",
        _ if name == "Dockerfile" || name == "Makefile" => "build",
        _ => "other",
    }
}

/// A file is binary when its first 8 KiB hold a NUL byte (as git decides).
pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8192)].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignored_and_hidden_files_are_left_out() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("src")).unwrap();
        std::fs::create_dir_all(d.path().join("target")).unwrap();
        std::fs::write(d.path().join(".gitignore"), "target/\n*.log\n").unwrap();
        std::fs::write(d.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(d.path().join("target/out.rs"), "x").unwrap();
        std::fs::write(d.path().join("run.log"), "x").unwrap();
        std::fs::write(d.path().join(".secret"), "x").unwrap();
        let mut found: Vec<String> = walk(d.path())
            .filter_map(Result::ok)
            .map(|f| f.rel)
            .collect();
        found.sort();
        assert_eq!(found, vec!["src/main.rs"]);
    }

    #[test]
    fn languages_and_binaries() {
        assert_eq!(language("src/lib.rs"), "rust");
        assert_eq!(language("a/b/Dockerfile"), "build");
        assert!(looks_binary(b"PK\x03\x04\x00"));
        assert!(!looks_binary("fn main() {}".as_bytes()));
    }
}
