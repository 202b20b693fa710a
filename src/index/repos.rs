//! The repository list the scheduled sync keeps indexed: reading the list,
//! cloning or fast-forwarding each repository (git, shallow when asked), and
//! counting what changed since the commit last synced.

use crate::base::config::ReposConfig;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, String> {
    super::git::run(dir, args).map(|out| String::from_utf8_lossy(&out).trim().to_string())
}

/// The longest repository list read: thousands of entries fit in far less.
const MAX_LIST_BYTES: u64 = 1 << 20;

/// Entries of the list file: one per line, `#` starts a comment. Scripts
/// name the file, so it is read only if it is what it claims to be: a
/// regular text file outside the system trees whose every entry reads as a
/// repository; otherwise refused without showing any of its content.
pub fn read_list(file: &Path) -> HostResult<Vec<String>> {
    const HINT: &str =
        "set repos.file in the config or MGIT_REPOS_FILE to a file with one repository per line";
    let cannot = |e| {
        HostError::io(
            format!("cannot read the repository list {}", file.display()),
            e,
        )
        .with_hint(HINT)
    };
    let canon = std::fs::canonicalize(file).map_err(cannot)?;
    paths::refuse_system_tree(&canon, "repository list")?;
    let meta = std::fs::metadata(&canon).map_err(cannot)?;
    let not_a_list = |why: &str| {
        HostError::validation(format!(
            "{} is {why}: not a repository list",
            file.display()
        ))
        .with_hint(HINT)
    };
    if !meta.is_file() {
        return Err(not_a_list("not a regular file"));
    }
    if meta.len() > MAX_LIST_BYTES {
        return Err(not_a_list("larger than 1 MiB"));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(&canon).map_err(cannot)?, MAX_LIST_BYTES),
        &mut bytes,
    )
    .map_err(cannot)?;
    let text = String::from_utf8(bytes)
        .ok()
        .filter(|t| {
            !t.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        })
        .ok_or_else(|| not_a_list("not text"))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        if !looks_like_repository(entry) {
            return Err(HostError::validation(format!(
                "line {} of {} is not a repository (a path, a URL or user@host:path)",
                i + 1,
                file.display()
            ))
            .with_hint(format!(
                "{HINT}, # for comments (the line is not shown: the file may not be a list)"
            )));
        }
        entries.push(entry.to_string());
    }
    Ok(entries)
}

/// A path (no spaces, no `:`), a URL (`scheme://…`) or git's scp-like
/// `user@host:path`. Not a `NAME=value` assignment, as in an environment file.
fn looks_like_repository(entry: &str) -> bool {
    if entry.chars().any(char::is_whitespace) {
        return false;
    }
    if let Some((scheme, rest)) = entry.split_once("://") {
        return !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    }
    if let Some((user_host, path)) = entry.split_once(':') {
        return match user_host.split_once('@') {
            Some((user, ctx)) => {
                !user.is_empty() && !ctx.is_empty() && !path.is_empty() && !ctx.contains('/')
            }
            None => false,
        };
    }
    let assignment = entry.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    !assignment
}

/// A folder name for a repository URL or path.
fn folder_name(entry: &str) -> String {
    let base = entry
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(entry);
    let base = base.strip_suffix(".git").unwrap_or(base);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn workdir(cfg: &ReposConfig) -> PathBuf {
    if cfg.workdir.is_empty() {
        paths::env_data_dir().join("repos")
    } else {
        PathBuf::from(&cfg.workdir)
    }
}

/// Bring one repository up to date. A local working tree is indexed where
/// it is (never pulled: it is someone's checkout); anything else is cloned
/// into the work folder once and fast-forwarded after.
pub fn update(cfg: &ReposConfig, entry: &str) -> Value {
    let local = Path::new(entry);
    let result = (|| -> Result<(PathBuf, &'static str), String> {
        if local.join(".git").exists() {
            return Ok((local.to_path_buf(), "in place"));
        }
        let dir = workdir(cfg).join(folder_name(entry));
        let depth = cfg.clone_depth.to_string();
        if dir.join(".git").exists() {
            let mut fetch = vec!["fetch", "--quiet", "origin"];
            if !cfg.branch.is_empty() {
                fetch.push(&cfg.branch);
            }
            if cfg.clone_depth > 0 {
                fetch.extend(["--depth", &depth]);
            }
            git(Some(&dir), &fetch)?;
            // Our own clone, never edited: move it to what was fetched. (A
            // merge would refuse: a shallow fetch shares no history.) The old
            // commit's objects stay, so `changed` can still diff against it.
            git(Some(&dir), &["reset", "--hard", "--quiet", "FETCH_HEAD"])?;
            Ok((dir, "fast-forwarded"))
        } else {
            std::fs::create_dir_all(workdir(cfg)).map_err(|e| e.to_string())?;
            let target = dir.display().to_string();
            let mut clone = vec!["clone", "--quiet"];
            if !cfg.branch.is_empty() {
                clone.extend(["--branch", &cfg.branch]);
            }
            if cfg.clone_depth > 0 {
                clone.extend(["--depth", &depth]);
            }
            // A local path as a URL: file:// makes --depth apply to it too.
            let url = if Path::new(entry).is_absolute() {
                format!("file://{entry}")
            } else {
                entry.to_string()
            };
            clone.extend([url.as_str(), target.as_str()]);
            git(None, &clone)?;
            Ok((dir, "cloned"))
        }
    })();
    match result {
        Ok((path, action)) => {
            let canon = std::fs::canonicalize(&path).unwrap_or(path);
            let head = git(Some(&canon), &["rev-parse", "HEAD"]).ok();
            json!({"entry": entry, "name": folder_name(entry), "path": canon, "action": action, "head": head})
        }
        Err(e) => json!({"entry": entry, "name": folder_name(entry), "error": e}),
    }
}

/// The folder [`update`] keeps a list entry in: a local working tree
/// itself, anything else its clone in the work folder (which may not exist yet).
pub fn local_path(cfg: &ReposConfig, entry: &str) -> PathBuf {
    let local = Path::new(entry);
    if local.join(".git").exists() {
        local.to_path_buf()
    } else {
        workdir(cfg).join(folder_name(entry))
    }
}

/// What [`update`] would do, without doing it: its answer, with the commit
/// the repository is at now (null for one not cloned yet).
pub fn plan_update(cfg: &ReposConfig, entry: &str) -> Value {
    let path = local_path(cfg, entry);
    let action = if Path::new(entry).join(".git").exists() {
        "in place"
    } else if path.join(".git").exists() {
        "fast-forwarded"
    } else {
        "cloned"
    };
    let canon = std::fs::canonicalize(&path).unwrap_or(path);
    let head = if canon.exists() {
        git(Some(&canon), &["rev-parse", "HEAD"]).ok()
    } else {
        None
    };
    json!({"entry": entry, "name": folder_name(entry), "path": canon, "action": action, "head": head})
}

/// Files changed between `since` and HEAD; None when `since` is unknown or
/// not in the (possibly shallow) history, which means "everything".
pub fn changed_files(path: &Path, since: Option<&str>) -> Option<usize> {
    let since = since.filter(|s| !s.is_empty())?;
    super::git::diff(path, since, "HEAD")
        .ok()
        .map(|paths| paths.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_files_skip_comments_and_blank_lines() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("repos.txt");
        std::fs::write(
            &f,
            "# mine\n/src/a\n\nhttps://example.com/x/b.git  # upstream\n",
        )
        .unwrap();
        assert_eq!(
            read_list(&f).unwrap(),
            vec!["/src/a", "https://example.com/x/b.git"]
        );
        assert_eq!(folder_name("https://example.com/x/b.git"), "b");
        for entry in [
            "/src/a",
            "./b",
            "c",
            "ssh://h/r",
            "git@host:team/c.git",
            "file:///x",
        ] {
            assert!(looks_like_repository(entry), "{entry}");
        }
        for entry in [
            "root:x:0:0:root:/root:/bin/bash",
            "API_KEY=x",
            "a b",
            "host:path",
            "://x",
        ] {
            assert!(!looks_like_repository(entry), "{entry}");
        }
        assert_eq!(folder_name("git@host:team/c.git"), "c");
    }
}
