//! What the index remembers between runs, in one redb file
//! (`$XDG_DATA_HOME/elysiactl/index.redb`): per file its size, mtime,
//! content hash and chunk count; per repository the last synced commit;
//! the errors met; the summaries of past runs. redb commits are atomic, so a
//! kill -9 loses at most the last uncommitted batch, which the next run
//! simply uploads again (object IDs are deterministic).

use crate::base::error::{Category, HostError, HostResult};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

const FILES: TableDefinition<&str, &str> = TableDefinition::new("files");
const REPOS: TableDefinition<&str, &str> = TableDefinition::new("repos");
const ERRORS: TableDefinition<u128, &str> = TableDefinition::new("errors");
const RUNS: TableDefinition<u128, &str> = TableDefinition::new("runs");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    pub size: u64,
    pub mtime_ns: u128,
    /// The content hash of what `chunks` hold; for a file skipped as too
    /// big (never read), that of the last version indexed.
    pub hash: String,
    /// Objects in the collection under this path, whether of the current
    /// content or kept from the last indexed version of a skipped file.
    pub chunks: usize,
    /// Why the current content is not indexed; None when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skipped>,
}

/// Why a file's content was left out of the index.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Skipped {
    /// Over index.max_file_bytes: not read at all.
    Size,
    /// A NUL byte in its first 8 KiB.
    Binary,
}

impl Skipped {
    /// The category its entry in the error log gets.
    pub fn category(self) -> &'static str {
        match self {
            Skipped::Size => "skipped_size",
            Skipped::Binary => "skipped_binary",
        }
    }
}

pub struct Store {
    db: Database,
}

fn store_error(e: impl std::fmt::Display) -> HostError {
    HostError::new(Category::FileSystem, format!("the index store failed: {e}")).with_hint(
        "if it persists, move $XDG_DATA_HOME/elysiactl/index.redb away; the next sync rebuilds it",
    )
}

/// `collection␁repo␁path`: one key space, scanned by prefix.
pub fn file_key(collection: &str, repo: &str, path: &str) -> String {
    format!("{collection}\u{1}{repo}\u{1}{path}")
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Store {
    pub fn open(path: &Path) -> HostResult<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
        }
        let db = Database::create(path).map_err(store_error)?;
        let tx = db.begin_write().map_err(store_error)?;
        {
            tx.open_table(FILES).map_err(store_error)?;
            tx.open_table(REPOS).map_err(store_error)?;
            tx.open_table(ERRORS).map_err(store_error)?;
            tx.open_table(RUNS).map_err(store_error)?;
        }
        tx.commit().map_err(store_error)?;
        Ok(Store { db })
    }

    /// Every file recorded for one repository of one collection: path → record.
    pub fn files(
        &self,
        collection: &str,
        repo: &str,
    ) -> HostResult<std::collections::HashMap<String, FileRecord>> {
        let prefix = format!("{collection}\u{1}{repo}\u{1}");
        let end = format!("{collection}\u{1}{repo}\u{2}");
        let tx = self.db.begin_read().map_err(store_error)?;
        let t = tx.open_table(FILES).map_err(store_error)?;
        let mut out = std::collections::HashMap::new();
        for item in t
            .range(prefix.as_str()..end.as_str())
            .map_err(store_error)?
        {
            let (k, v) = item.map_err(store_error)?;
            if let Ok(rec) = serde_json::from_str::<FileRecord>(v.value()) {
                out.insert(k.value()[prefix.len()..].to_string(), rec);
            }
        }
        Ok(out)
    }

    /// Record (Some) or forget (None) files, (repository, path, record), in
    /// one transaction. Eventual durability is enough: a lost commit only
    /// makes the next run redo work.
    pub fn put_files<'a>(
        &self,
        collection: &str,
        items: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a FileRecord>)>,
    ) -> HostResult<()> {
        let mut tx = self.db.begin_write().map_err(store_error)?;
        tx.set_durability(Durability::Eventual);
        {
            let mut t = tx.open_table(FILES).map_err(store_error)?;
            for (repo, path, rec) in items {
                let k = file_key(collection, repo, path);
                match rec {
                    Some(r) => {
                        let v = serde_json::to_string(r).unwrap_or_default();
                        t.insert(k.as_str(), v.as_str()).map_err(store_error)?;
                    }
                    None => {
                        t.remove(k.as_str()).map_err(store_error)?;
                    }
                }
            }
        }
        tx.commit().map_err(store_error)
    }

    pub fn repo(&self, collection: &str, repo: &str) -> HostResult<Option<Value>> {
        let tx = self.db.begin_read().map_err(store_error)?;
        let t = tx.open_table(REPOS).map_err(store_error)?;
        let k = format!("{collection}\u{1}{repo}");
        Ok(t.get(k.as_str())
            .map_err(store_error)?
            .and_then(|v| serde_json::from_str(v.value()).ok()))
    }

    /// The state of many repositories after a run, in one transaction.
    pub fn put_repos<'a>(
        &self,
        collection: &str,
        items: impl IntoIterator<Item = (&'a str, Value)>,
    ) -> HostResult<()> {
        let tx = self.db.begin_write().map_err(store_error)?;
        {
            let mut t = tx.open_table(REPOS).map_err(store_error)?;
            for (repo, v) in items {
                let k = format!("{collection}\u{1}{repo}");
                t.insert(k.as_str(), v.to_string().as_str())
                    .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)
    }

    /// Forget every file and repository recorded for a collection (it was
    /// created anew, so nothing the store remembers is in it). Returns the
    /// number of files forgotten.
    pub fn forget_collection(&self, collection: &str) -> HostResult<u64> {
        let (prefix, end) = (format!("{collection}\u{1}"), format!("{collection}\u{2}"));
        let tx = self.db.begin_write().map_err(store_error)?;
        let mut n = 0;
        {
            for (i, table) in [FILES, REPOS].into_iter().enumerate() {
                let mut t = tx.open_table(table).map_err(store_error)?;
                let keys: Vec<String> = t
                    .range(prefix.as_str()..end.as_str())
                    .map_err(store_error)?
                    .map(|item| item.map(|(k, _)| k.value().to_string()))
                    .collect::<Result<_, _>>()
                    .map_err(store_error)?;
                if i == 0 {
                    n = keys.len() as u64;
                }
                for k in keys {
                    t.remove(k.as_str()).map_err(store_error)?;
                }
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(n)
    }

    /// Makes `from`'s records `to`'s, forgetting what `to` had, in one
    /// transaction: a rebuilt collection taking over its name.
    pub fn replace_collection(&self, from: &str, to: &str) -> HostResult<()> {
        let tx = self.db.begin_write().map_err(store_error)?;
        for table in [FILES, REPOS] {
            let mut t = tx.open_table(table).map_err(store_error)?;
            let keyed = |c: &str| -> HostResult<Vec<(String, String)>> {
                let (prefix, end) = (format!("{c}\u{1}"), format!("{c}\u{2}"));
                t.range(prefix.as_str()..end.as_str())
                    .map_err(store_error)?
                    .map(|item| {
                        item.map(|(k, v)| (k.value().to_string(), v.value().to_string()))
                            .map_err(store_error)
                    })
                    .collect()
            };
            let (stale, moving) = (keyed(to)?, keyed(from)?);
            for (k, _) in stale.iter().chain(&moving) {
                t.remove(k.as_str()).map_err(store_error)?;
            }
            for (k, v) in moving {
                let renamed = format!("{to}{}", &k[from.len()..]);
                t.insert(renamed.as_str(), v.as_str())
                    .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)
    }

    pub fn add_errors(&self, errors: &[Value]) -> HostResult<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(store_error)?;
        {
            let mut t = tx.open_table(ERRORS).map_err(store_error)?;
            let base = now_ns();
            for (i, e) in errors.iter().enumerate() {
                t.insert(base + i as u128, e.to_string().as_str())
                    .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)
    }

    /// Errors, newest first.
    pub fn errors(&self, limit: usize) -> HostResult<Vec<Value>> {
        let tx = self.db.begin_read().map_err(store_error)?;
        let t = tx.open_table(ERRORS).map_err(store_error)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(store_error)?.rev() {
            let (_, v) = item.map_err(store_error)?;
            if let Ok(e) = serde_json::from_str(v.value()) {
                out.push(e);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn reset_errors(&self) -> HostResult<u64> {
        let tx = self.db.begin_write().map_err(store_error)?;
        let n;
        {
            let mut t = tx.open_table(ERRORS).map_err(store_error)?;
            n = t.len().map_err(store_error)?;
            t.retain(|_, _| false).map_err(store_error)?;
        }
        tx.commit().map_err(store_error)?;
        Ok(n)
    }

    /// Summaries of past runs, newest first.
    pub fn runs(&self, limit: usize) -> HostResult<Vec<Value>> {
        let tx = self.db.begin_read().map_err(store_error)?;
        let t = tx.open_table(RUNS).map_err(store_error)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(store_error)?.rev().take(limit) {
            let (_, v) = item.map_err(store_error)?;
            if let Ok(r) = serde_json::from_str(v.value()) {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub fn add_run(&self, summary: &Value) -> HostResult<()> {
        let tx = self.db.begin_write().map_err(store_error)?;
        {
            let mut t = tx.open_table(RUNS).map_err(store_error)?;
            t.insert(now_ns(), summary.to_string().as_str())
                .map_err(store_error)?;
        }
        tx.commit().map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_say_why_a_file_was_skipped_and_old_records_still_read() {
        let old: FileRecord =
            serde_json::from_str(r#"{"size":3,"mtime_ns":9,"hash":"h","chunks":2}"#).unwrap();
        assert_eq!(old.skipped, None);
        let skipped = FileRecord {
            skipped: Some(Skipped::Size),
            ..old
        };
        let text = serde_json::to_string(&skipped).unwrap();
        assert!(text.contains(r#""skipped":"size""#), "{text}");
        assert_eq!(serde_json::from_str::<FileRecord>(&text).unwrap(), skipped);
        assert_eq!(Skipped::Binary.category(), "skipped_binary");
    }

    #[test]
    fn files_are_kept_per_collection_and_repository() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("i.redb")).unwrap();
        let rec = FileRecord {
            size: 3,
            mtime_ns: 9,
            hash: "h".into(),
            chunks: 2,
            skipped: None,
        };
        s.put_files(
            "C",
            [
                ("/r1", "a.rs", Some(&rec)),
                ("/r1", "b.rs", Some(&rec)),
                ("/r2", "a.rs", Some(&rec)),
            ],
        )
        .unwrap();
        s.put_files("D", [("/r1", "z.rs", Some(&rec))]).unwrap();
        let r1 = s.files("C", "/r1").unwrap();
        assert_eq!(r1.len(), 2);
        assert_eq!(r1["a.rs"], rec);
        s.put_files("C", [("/r1", "a.rs", None)]).unwrap();
        assert_eq!(s.files("C", "/r1").unwrap().len(), 1);
        drop(s);
        // Reopened, everything is still there.
        let s = Store::open(&d.path().join("i.redb")).unwrap();
        assert_eq!(s.files("C", "/r2").unwrap().len(), 1);
        s.put_repos("C", [("/r1", serde_json::json!({"commit": "c"}))])
            .unwrap();
        assert_eq!(s.forget_collection("C").unwrap(), 2);
        assert!(s.files("C", "/r1").unwrap().is_empty());
        assert!(s.repo("C", "/r1").unwrap().is_none());
        assert_eq!(
            s.files("D", "/r1").unwrap().len(),
            1,
            "other collections stay"
        );
        s.add_errors(&[serde_json::json!({"category": "encoding", "file": "x"})])
            .unwrap();
        assert_eq!(s.errors(10).unwrap().len(), 1);
        assert_eq!(s.reset_errors().unwrap(), 1);
        assert!(s.errors(10).unwrap().is_empty());
    }

    #[test]
    fn a_rebuilt_collection_takes_over_its_names_records() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("i.redb")).unwrap();
        let rec = |chunks| FileRecord {
            size: 3,
            mtime_ns: 9,
            hash: "h".into(),
            chunks,
            skipped: None,
        };
        s.put_files("Code", [("/r", "old.rs", Some(&rec(1)))])
            .unwrap();
        s.put_files("Code_v2", [("/r", "a.rs", Some(&rec(2)))])
            .unwrap();
        s.put_files("Code_v2x", [("/r", "b.rs", Some(&rec(3)))])
            .unwrap();
        s.put_repos("Code_v2", [("/r", serde_json::json!({"commit": "c2"}))])
            .unwrap();
        s.replace_collection("Code_v2", "Code").unwrap();
        let files = s.files("Code", "/r").unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files["a.rs"], rec(2));
        assert_eq!(s.repo("Code", "/r").unwrap().unwrap()["commit"], "c2");
        assert!(s.files("Code_v2", "/r").unwrap().is_empty());
        assert_eq!(
            s.files("Code_v2x", "/r").unwrap().len(),
            1,
            "a name that only starts the same stays"
        );
    }
}
