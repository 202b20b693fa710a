//! Change detection: which files of a repository a run looks at. In a git
//! checkout with a finished sync to start from, git names the paths that may
//! have changed (the diff since that sync's commit, the working tree, and
//! what that sync had to look at again); anywhere else the run walks every
//! file. The walker then compares size and mtime, and the chunkers the
//! content hash, with what the store recorded.

use super::error_log;
use super::git;
use super::store::{FileRecord, Skipped, Store};
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One repository of a run: what it is and what the store knew of it.
pub(super) struct RepoRun {
    pub(super) path: PathBuf,
    /// The store's key: the canonical path.
    pub(super) key: String,
    pub(super) name: String,
    pub(super) commit: String,
    pub(super) known: HashMap<String, FileRecord>,
    pub(super) changes: Changes,
    /// Paths that differed from `commit` in the working tree when the run
    /// started: the next run looks at them again even if git then says
    /// nothing (an edit undone leaves no trace in git). None when git could
    /// not tell, and then the next run cannot start from this one.
    dirty: Option<BTreeSet<String>>,
}

impl RepoRun {
    /// What the next run's change detection starts from, once this run has
    /// finished: its commit, and the paths to look at again whatever git says
    /// then (those dirty now, and the files that failed). Without a dirty
    /// list git could not tell, and the next run cannot start from this one.
    pub(super) fn next_state(&self, errors: &[Value], synced_at: &str) -> Value {
        let mut state = json!({"commit": self.commit, "synced_at": synced_at});
        if let Some(dirty) = &self.dirty {
            let failed = error_log::of_repo(errors, &self.key)
                .filter_map(|e| e["file"].as_str())
                .filter(|f| !f.starts_with('/'))
                .map(String::from);
            let recheck: BTreeSet<String> = dirty.iter().cloned().chain(failed).collect();
            state["recheck"] = json!(recheck);
        }
        state
    }

    /// How this run found the repository's changes, for the run's summary.
    pub(super) fn describe_changes(&self, into: &mut Value) {
        match &self.changes {
            Changes::Git { candidates } => {
                into["change_detection"] = json!("git");
                into["paths_from_git"] = json!(candidates.len());
            }
            Changes::Scan { reason } => {
                into["change_detection"] = json!("scan");
                into["scan_reason"] = json!(reason);
            }
        }
    }
}

/// How a run finds the changed files of a repository.
pub(super) enum Changes {
    /// Every file, by walking the tree; why git could not tell.
    Scan { reason: String },
    /// Only these paths may differ from what the last run recorded.
    Git { candidates: BTreeSet<String> },
}

/// What the walker saw of a repository, to tell which known files are gone.
pub(super) enum Seen {
    /// A scan: every file there is.
    All(HashSet<String>),
    /// From git: the paths looked at that are no longer files to index.
    Gone(HashSet<String>),
}

impl Seen {
    pub(super) fn of(changes: &Changes) -> Seen {
        match changes {
            Changes::Scan { .. } => Seen::All(HashSet::new()),
            Changes::Git { .. } => Seen::Gone(HashSet::new()),
        }
    }

    pub(super) fn present(&mut self, rel: &str) {
        if let Seen::All(s) = self {
            s.insert(rel.to_string());
        }
    }

    pub(super) fn absent(&mut self, rel: &str) {
        if let Seen::Gone(s) = self {
            s.insert(rel.to_string());
        }
    }

    pub(super) fn is_gone(&self, rel: &str) -> bool {
        match self {
            Seen::All(s) => !s.contains(rel),
            Seen::Gone(s) => s.contains(rel),
        }
    }
}

/// Decide how to find a repository's changes: git's answer when it has a
/// complete one since the last finished sync, else a scan.
fn detect(
    root: &Path,
    commit: &str,
    previous: Option<&Value>,
    rescan: bool,
) -> (Changes, Option<BTreeSet<String>>) {
    let scan = |reason: &str| Changes::Scan {
        reason: reason.to_string(),
    };
    if commit.is_empty() {
        return (scan("not a git checkout"), None);
    }
    let dirty = match git::dirty(root) {
        Ok(d) => d,
        Err(e) => return (scan(&e), None),
    };
    // Runs before git change detection recorded no recheck list.
    let base = previous.filter(|p| p["recheck"].is_array() && p["commit"] != "");
    let changes = match base {
        _ if rescan => scan("--rescan"),
        None => scan("no finished sync of this checkout to start from"),
        Some(p) => match git::diff(root, p["commit"].as_str().unwrap_or_default(), commit) {
            Err(e) => scan(&e),
            Ok(mut candidates) => {
                candidates.extend(dirty.iter().cloned());
                candidates.extend(
                    p["recheck"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(String::from)),
                );
                Changes::Git { candidates }
            }
        },
    };
    (changes, Some(dirty))
}

/// A file skipped as too big under a lower limit, that the limit now
/// admits: read again even if unchanged.
pub(super) fn fits_now(k: &FileRecord, max_file_bytes: u64) -> bool {
    k.skipped == Some(Skipped::Size) && k.size <= max_file_bytes
}

/// The repositories of a run, canonical and each once, with what the store knew.
pub(super) fn repo_runs(
    paths: &[PathBuf],
    store: &Store,
    collection: &str,
    rescan: bool,
    max_file_bytes: u64,
) -> HostResult<Vec<RepoRun>> {
    let mut runs: Vec<RepoRun> = Vec::new();
    for p in paths {
        let canon = std::fs::canonicalize(p).map_err(|e| {
            HostError::io(format!("cannot index {}", p.display()), e)
                .with_hint("give the folder of a repository (a git checkout or any source tree)")
        })?;
        paths::refuse_system_tree(&canon, "source tree")?;
        if !canon.is_dir() {
            return Err(
                HostError::validation(format!("{} is not a folder", p.display()))
                    .with_hint("give the folder of a repository, not a file"),
            );
        }
        let key = canon.display().to_string();
        if runs.iter().any(|r| r.key == key) {
            continue;
        }
        let commit = git::head(&canon).unwrap_or_default();
        let (mut changes, dirty) = detect(
            &canon,
            &commit,
            store.repo(collection, &key)?.as_ref(),
            rescan,
        );
        let known = store.files(collection, &key)?;
        if let Changes::Git { candidates } = &mut changes {
            // Git sees no change in a file skipped as too big that a raised limit now admits.
            candidates.extend(
                known
                    .iter()
                    .filter(|(_, k)| fits_now(k, max_file_bytes))
                    .map(|(path, _)| path.clone()),
            );
        }
        runs.push(RepoRun {
            name: canon
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or(key.clone()),
            commit,
            known,
            changes,
            dirty,
            key,
            path: canon,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_answers_only_where_it_can_answer_completely() {
        let git = git::tests::sh_git;
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let reason = |c: &Changes| match c {
            Changes::Scan { reason } => reason.clone(),
            Changes::Git { .. } => "git".into(),
        };
        let (c, dirty) = detect(root, "", None, false);
        assert_eq!(
            (reason(&c), dirty),
            ("not a git checkout".to_string(), None)
        );
        git(root, &["init", "-q"]);
        std::fs::write(root.join("a.rs"), "fn a() {}\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "one"]);
        let first = git::head(root).unwrap();
        std::fs::write(root.join("b.rs"), "fn b() {}\n").unwrap();
        let (c, dirty) = detect(root, &first, None, false);
        assert!(reason(&c).contains("no finished sync"), "{}", reason(&c));
        assert_eq!(dirty.unwrap().into_iter().collect::<Vec<_>>(), ["b.rs"]);
        // Runs from before git detection recorded no recheck list.
        let old = json!({"commit": first});
        assert!(reason(&detect(root, &first, Some(&old), false).0).contains("no finished sync"));
        let previous = json!({"commit": first, "recheck": ["failed.rs"]});
        assert_eq!(
            reason(&detect(root, &first, Some(&previous), true).0),
            "--rescan"
        );
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "two"]);
        let second = git::head(root).unwrap();
        std::fs::write(root.join("c.rs"), "fn c() {}\n").unwrap();
        match detect(root, &second, Some(&previous), false).0 {
            Changes::Git { candidates } => assert_eq!(
                candidates.into_iter().collect::<Vec<_>>(),
                ["b.rs", "c.rs", "failed.rs"],
                "the diff, the working tree and the recheck list"
            ),
            c => panic!("{}", reason(&c)),
        }
        let gone = json!({"commit": "0123456789abcdef0123456789abcdef01234567", "recheck": []});
        assert!(reason(&detect(root, &second, Some(&gone), false).0).contains("cannot be compared"));
        // Where git cannot list every changed file, no recheck list is kept
        // either, so the next run cannot start from this one.
        std::fs::write(root.join(".gitmodules"), "").unwrap();
        let (c, dirty) = detect(root, &second, Some(&previous), false);
        assert!(reason(&c).contains("submodules"), "{}", reason(&c));
        assert!(dirty.is_none());
    }
}
