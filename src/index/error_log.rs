//! The error log of `index sync`: what went wrong with which file (or was
//! left out, and why), kept in the store for `index errors`. A failed file
//! is also what the next run looks at again.

use super::store::Store;
use super::store_path;
use crate::base::error::HostResult;
use serde_json::{json, Value};

/// One entry of the log; `category` is an error's category or a skip's kind.
pub(super) fn entry(category: &str, repo: &str, file: &str, message: &str) -> Value {
    json!({
        "time": now_rfc3339(), "category": category, "repository": repo, "file": file,
        "message": message,
    })
}

/// The entries about one repository (by its store key).
pub(super) fn of_repo<'a>(entries: &'a [Value], key: &'a str) -> impl Iterator<Item = &'a Value> {
    entries
        .iter()
        .filter(move |e| e["repository"].as_str() == Some(key))
}

pub(super) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The recorded errors: newest first, or counted by category.
pub fn errors(limit: usize) -> HostResult<Vec<Value>> {
    Store::open(&store_path())?.errors(limit)
}

pub fn reset_errors() -> HostResult<u64> {
    Store::open(&store_path())?.reset_errors()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_their_repository() {
        let entries = [
            entry("weaviate", "/a", "x.rs", "refused"),
            entry("skipped_size", "/b", "y.rs", "too big"),
            entry("encoding", "/a", "z.rs", "not UTF-8"),
        ];
        let files: Vec<&str> = of_repo(&entries, "/a")
            .map(|e| e["file"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["x.rs", "z.rs"]);
        assert_eq!(entries[1]["category"], "skipped_size");
        assert!(entries[0]["time"].as_str().unwrap().ends_with('Z'));
    }
}
