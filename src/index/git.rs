//! Change detection from git: in a checkout synced before, the files that
//! may have changed are those `git diff` lists between the last synced
//! commit and HEAD, those `git status` finds modified or untracked now, and
//! those the last run left to look at again (dirty then, or failed). Every
//! other file is as the last run left it, so a sync reads and stats only
//! these instead of walking the tree.
//!
//! The answer must be the walker's answer: a path git lists is indexed only
//! if the walker would have found it, so the matcher below applies the
//! walker's rules (`.ignore`, `.gitignore` and `.git/info/exclude`, deepest
//! first; hidden names; no parent folder ignored) the way the `ignore` crate
//! does. Where git cannot give a complete answer (submodules, a nested
//! repository, a commit no longer in the history) the sync walks the tree.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding a checkout's git data, or None if `repo` is not a checkout.
pub fn git_dir(repo: &Path) -> Option<PathBuf> {
    let dot_git = repo.join(".git");
    if dot_git.is_file() {
        // A worktree or submodule: `.git` names the real folder.
        let text = std::fs::read_to_string(&dot_git).ok()?;
        Some(repo.join(text.strip_prefix("gitdir:")?.trim()))
    } else if dot_git.is_dir() {
        Some(dot_git)
    } else {
        None
    }
}

/// The commit a checkout is at, read from `.git` itself: a `git` process per
/// repository would cost more than a whole no-op sync of a small one.
pub fn head(repo: &Path) -> Option<String> {
    let git_dir = git_dir(repo)?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let is_sha = |s: &str| s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_sha(head).then(|| head.to_string());
    };
    if let Ok(sha) = std::fs::read_to_string(git_dir.join(reference)) {
        if is_sha(sha.trim()) {
            return Some(sha.trim().to_string());
        }
    }
    if let Ok(packed) = std::fs::read_to_string(git_dir.join("packed-refs")) {
        for line in packed.lines() {
            if let Some((sha, name)) = line.split_once(' ') {
                if name == reference && is_sha(sha) {
                    return Some(sha.to_string());
                }
            }
        }
    }
    // Layouts read above do not cover (shared worktree refs, reftable): ask git.
    run(Some(repo), &["rev-parse", "--verify", "-q", "HEAD"])
        .ok()
        .map(|out| String::from_utf8_lossy(&out).trim().to_string())
}

/// Runs git in `dir` (or the current folder), never letting it ask for
/// credentials: a scheduled job has nobody to answer. Its output, or the
/// last line of what it said when it failed.
pub fn run(dir: Option<&Path>, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    let out = c
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .trim()
            .lines()
            .last()
            .unwrap_or("git failed")
            .to_string())
    }
}

/// git for reading a checkout someone may be working in: status takes no
/// index lock from them, and the user's global excludes are not read (the
/// walker does not read them either).
fn read_only(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut all = vec!["--no-optional-locks", "-c", "core.excludesFile=/dev/null"];
    all.extend_from_slice(args);
    run(Some(repo), &all)
}

fn nul_separated(out: &[u8]) -> impl Iterator<Item = String> + '_ {
    out.split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

/// Paths that differ from HEAD in the working tree: modified, staged,
/// deleted or untracked (and not ignored). Err names why git cannot answer.
pub fn dirty(repo: &Path) -> Result<BTreeSet<String>, String> {
    if repo.join(".gitmodules").exists() {
        return Err(
            "it has submodules, whose changes git status does not list file by file".into(),
        );
    }
    let out = read_only(
        repo,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
        ],
    )?;
    let mut paths = BTreeSet::new();
    for entry in nul_separated(&out) {
        // "XY path": two status letters, a space, the path.
        let path = entry.get(3..).unwrap_or_default();
        if path.ends_with('/') {
            return Err(format!(
                "{path} is a repository of its own inside it, which git status does not look into"
            ));
        }
        paths.insert(path.to_string());
    }
    Ok(paths)
}

/// Paths that differ between two commits. Err when `base` is not in the
/// history any more (rewritten, or a shallow clone that dropped it).
pub fn diff(repo: &Path, base: &str, head: &str) -> Result<BTreeSet<String>, String> {
    if base == head {
        return Ok(BTreeSet::new());
    }
    let out = read_only(
        repo,
        &[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            base,
            head,
            "--",
        ],
    )
    .map_err(|e| format!("the last synced commit {base} cannot be compared with HEAD: {e}"))?;
    Ok(nul_separated(&out).collect())
}

/// The walker's ignore rules for single paths, with each folder's ignore
/// files parsed once.
pub struct Eligibility {
    root: PathBuf,
    exclude: Gitignore,
    /// Folder → (its `.ignore`, its `.gitignore`).
    folders: HashMap<PathBuf, (Gitignore, Gitignore)>,
}

fn matcher(dir: &Path, file: PathBuf) -> Gitignore {
    if !file.is_file() {
        return Gitignore::empty();
    }
    let mut b = GitignoreBuilder::new(dir);
    // A line that does not parse is skipped, as the walker skips it.
    let _ = b.add(file);
    b.build().unwrap_or_else(|_| Gitignore::empty())
}

impl Eligibility {
    pub fn new(root: &Path) -> Eligibility {
        let exclude = git_dir(root)
            .map(|g| matcher(root, g.join("info/exclude")))
            .unwrap_or_else(Gitignore::empty);
        Eligibility {
            root: root.to_path_buf(),
            exclude,
            folders: HashMap::new(),
        }
    }

    fn folder(&mut self, dir: &Path) -> &(Gitignore, Gitignore) {
        self.folders.entry(dir.to_path_buf()).or_insert_with(|| {
            (
                matcher(dir, dir.join(".ignore")),
                matcher(dir, dir.join(".gitignore")),
            )
        })
    }

    /// Whether the walker skips `abs` (a path under the root), given that
    /// none of its parent folders is skipped: per kind of ignore file the
    /// deepest match decides, and `.ignore` outranks `.gitignore`, which
    /// outranks the exclude file. A hidden name is skipped unless a rule
    /// explicitly includes it.
    fn skipped(&mut self, abs: &Path, is_dir: bool) -> bool {
        let (mut m_ignore, mut m_git) = (Match::None, Match::None);
        let mut dir = abs.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(&self.root)) {
            let (ignore, gitignore) = self.folder(d);
            if m_ignore.is_none() {
                m_ignore = ignore.matched(abs, is_dir).map(|_| ());
            }
            if m_git.is_none() {
                m_git = gitignore.matched(abs, is_dir).map(|_| ());
            }
            dir = d.parent();
        }
        let m = m_ignore
            .or(m_git)
            .or(self.exclude.matched(abs, is_dir).map(|_| ()));
        let hidden = abs
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        m.is_ignore() || (m.is_none() && hidden)
    }

    /// Whether the walker would find the file at `rel` (relative to the
    /// root, `/`-separated): no folder on the way is skipped, nor the file.
    pub fn eligible(&mut self, rel: &str) -> bool {
        let mut abs = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            abs.push(part);
            if self.skipped(&abs, i + 1 < parts.len()) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::index::walk;

    /// git as a test's author: a name, an e-mail, no signing, whatever the
    /// machine's git config says.
    pub(crate) fn sh_git(dir: &Path, args: &[&str]) {
        let mut all = vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ];
        all.extend_from_slice(args);
        if let Err(e) = run(Some(dir), &all) {
            panic!("git {args:?}: {e}");
        }
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Every file under `root` but `.git`, ignored or not.
    fn all_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            if rel == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                all_files(root, &e.path(), out);
            } else {
                out.push(rel);
            }
        }
    }

    #[test]
    fn eligibility_agrees_with_the_walker() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        sh_git(root, &["init", "-q"]);
        write(
            root,
            ".gitignore",
            "target/\n*.log\n!keep.log\n/top.txt\nbuild\n!.github/\n",
        );
        write(root, ".git/info/exclude", "secret.txt\n*.tmp\n");
        write(root, ".ignore", "!notes.tmp\n");
        for f in [
            "src/main.rs",
            "src/a/b/deep.rs",
            "target/out.rs",
            "target/keep.log",
            "run.log",
            "keep.log",
            "sub/keep.log",
            "top.txt",
            "sub/top.txt",
            "build/x.rs",
            "sub/build",
            "secret.txt",
            "sub/secret.txt",
            "x.tmp",
            "notes.tmp",
            ".hidden",
            ".config/a.toml",
            ".github/ci.yml",
            "sub/.env",
            "sub/local.txt",
            "sub/inner/local.txt",
            "sub/gen.rs",
            "sub/inner/gen.rs",
            "sub/inner/trace.log",
            "docs/guide.md",
        ] {
            write(root, f, "x\n");
        }
        write(root, "sub/.gitignore", "local.txt\n!*.log\n");
        write(root, "sub/.ignore", "gen.rs\n");
        write(root, "sub/inner/.gitignore", "*.log\n");
        let mut walked: Vec<String> = walk::walk(root)
            .filter_map(Result::ok)
            .map(|f| f.rel)
            .collect();
        walked.sort();
        let mut all = Vec::new();
        all_files(root, root, &mut all);
        let mut e = Eligibility::new(root);
        let mut eligible: Vec<String> = all.into_iter().filter(|rel| e.eligible(rel)).collect();
        eligible.sort();
        assert_eq!(eligible, walked);
        // The cases that matter are on both sides of the line.
        assert!(walked.contains(&"keep.log".to_string()));
        assert!(walked.contains(&"sub/keep.log".to_string()));
        assert!(walked.contains(&"notes.tmp".to_string()));
        assert!(!walked.contains(&"sub/inner/trace.log".to_string()));
        assert!(!walked.contains(&"sub/.env".to_string()));
    }

    #[test]
    fn diff_and_status_list_what_changed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        sh_git(root, &["init", "-q"]);
        write(root, ".gitignore", "*.log\n");
        for f in ["a.rs", "b.rs", "c.rs", "dir/d.rs"] {
            write(root, f, "fn x() {}\n");
        }
        sh_git(root, &["add", "-A"]);
        sh_git(root, &["commit", "-qm", "one"]);
        let first = head(root).unwrap();
        assert_eq!(first.len(), 40);
        assert!(dirty(root).unwrap().is_empty());
        write(root, "a.rs", "fn y() {}\n");
        std::fs::rename(root.join("dir/d.rs"), root.join("dir/e.rs")).unwrap();
        sh_git(root, &["add", "-A"]);
        sh_git(root, &["commit", "-qm", "two"]);
        let second = head(root).unwrap();
        assert_ne!(first, second);
        let changed: Vec<String> = diff(root, &first, &second).unwrap().into_iter().collect();
        assert_eq!(changed, ["a.rs", "dir/d.rs", "dir/e.rs"]);
        assert!(diff(root, &second, &second).unwrap().is_empty());
        // Working-tree changes: edited, deleted, untracked; ignored ones are not listed.
        write(root, "b.rs", "fn z() {}\n");
        std::fs::remove_file(root.join("c.rs")).unwrap();
        write(root, "new/f.rs", "fn f() {}\n");
        write(root, "debug.log", "x\n");
        let now: Vec<String> = dirty(root).unwrap().into_iter().collect();
        assert_eq!(now, ["b.rs", "c.rs", "new/f.rs"]);
        // A commit git no longer has cannot be compared with.
        let gone = "0123456789abcdef0123456789abcdef01234567";
        assert!(diff(root, gone, &second).unwrap_err().contains(gone));
        // A repository inside it, or submodules: git cannot list their files.
        sh_git(&root.join("new"), &["init", "-q"]);
        assert!(dirty(root).unwrap_err().contains("new/"));
        std::fs::remove_dir_all(root.join("new/.git")).unwrap();
        write(root, ".gitmodules", "");
        assert!(dirty(root).unwrap_err().contains("submodules"));
    }
}
