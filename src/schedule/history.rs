//! Every job run, in a redb file (`$XDG_STATE_HOME/elysiactl/schedule.redb`).
//! A run is written when it starts and again when it ends, each in one
//! atomic, durable commit: a kill -9 leaves either the old or the new record,
//! and a run whose daemon died shows as "interrupted" instead of vanishing.

use crate::base::error::{Category, HostError, HostResult};
use crate::base::paths;
use backon::{BlockingRetryable, ConstantBuilder};
use redb::{Database, ReadableTable, TableDefinition};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Key: start time in nanoseconds since the epoch (unique per daemon; ties
/// are nudged by one).
const RUNS: TableDefinition<u128, &str> = TableDefinition::new("runs");

pub fn path() -> PathBuf {
    paths::state_dir().join("schedule.redb")
}

fn store_error(e: impl std::fmt::Display) -> HostError {
    HostError::new(
        Category::FileSystem,
        format!("the schedule history failed: {e}"),
    )
    .with_hint("if it persists, move $XDG_STATE_HOME/elysiactl/schedule.redb away")
}

pub struct History {
    db: Database,
}

impl History {
    pub fn open() -> HostResult<History> {
        let p = path();
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
        }
        // Another process (the daemon) may hold the file: wait up to 5 s.
        let db = (|| Database::create(&p))
            .retry(
                ConstantBuilder::new()
                    .with_delay(Duration::from_millis(100))
                    .with_max_times(49),
            )
            .call()
            .map_err(store_error)?;
        let tx = db.begin_write().map_err(store_error)?;
        tx.open_table(RUNS).map_err(store_error)?;
        tx.commit().map_err(store_error)?;
        Ok(History { db })
    }

    /// Insert or replace the run with this key.
    pub fn put(&self, key: u128, run: &Value) -> HostResult<()> {
        let tx = self.db.begin_write().map_err(store_error)?;
        {
            let mut t = tx.open_table(RUNS).map_err(store_error)?;
            t.insert(key, run.to_string().as_str())
                .map_err(store_error)?;
        }
        tx.commit().map_err(store_error)
    }

    /// Runs left "running" by a daemon that died: marked "interrupted" and
    /// returned, so the caller can stop a job process that outlived it.
    pub fn close_orphans(&self, live_daemon: u32) -> HostResult<Vec<Value>> {
        let tx = self.db.begin_read().map_err(store_error)?;
        let t = tx.open_table(RUNS).map_err(store_error)?;
        let mut orphans = Vec::new();
        for item in t.iter().map_err(store_error)? {
            let (k, v) = item.map_err(store_error)?;
            if let Ok(mut run) = serde_json::from_str::<Value>(v.value()) {
                let pid = run["pid"].as_u64().unwrap_or(0) as u32;
                if run["outcome"] == "running"
                    && pid != live_daemon
                    && !crate::base::process::is_alive(pid)
                {
                    run["outcome"] = Value::from("interrupted");
                    run["detail"] = Value::from("the daemon stopped before the run ended");
                    orphans.push((k.value(), run));
                }
            }
        }
        drop(t);
        drop(tx);
        for (k, run) in &orphans {
            self.put(*k, run)?;
        }
        Ok(orphans.into_iter().map(|(_, run)| run).collect())
    }

    /// Runs, newest first, of one job or all.
    pub fn runs(&self, job: Option<&str>, limit: usize) -> HostResult<Vec<Value>> {
        let tx = self.db.begin_read().map_err(store_error)?;
        let t = tx.open_table(RUNS).map_err(store_error)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(store_error)?.rev() {
            let (_, v) = item.map_err(store_error)?;
            let Ok(run) = serde_json::from_str::<Value>(v.value()) else {
                continue;
            };
            if job.is_some_and(|j| run["job"] != j) {
                continue;
            }
            out.push(run);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
