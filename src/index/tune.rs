//! `index tune`'s measuring step: one trial sync of a sample of files with
//! given settings into a scratch collection (at the cluster's replication
//! factor, so the trial pays what a real sync pays) and a store of its own,
//! both removed afterwards. The bundled script runs the grid of candidates
//! and picks; this only measures.

use super::{sync, SyncOptions};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use serde_json::{json, Value};
use std::path::PathBuf;

pub struct Trial {
    pub batch_size: usize,
    pub upload_concurrency: usize,
    pub embed_workers: usize,
    pub files: usize,
}

pub fn trial(ctx: &Context, paths: Vec<PathBuf>, t: &Trial) -> HostResult<Value> {
    if t.batch_size == 0 || t.upload_concurrency == 0 || t.embed_workers == 0 || t.files == 0 {
        return Err(HostError::validation(
            "a trial needs batch_size, upload_concurrency, embed_workers and files above 0",
        )
        .with_hint(
            "e.g. index.trial([\"/src/repo\"], #{batch_size: 200, upload_concurrency: 4})",
        ));
    }
    let mut config = ctx.config.clone();
    config.index.batch_size = t.batch_size;
    config.index.upload_concurrency = t.upload_concurrency;
    config.index.embed_workers = t.embed_workers;
    // The same ceilings as the config file's, so a trial cannot ask for 100000 threads.
    config.validate()?;
    let trial = Context::new(config, ctx.rt.clone());
    let scratch = crate::base::paths::state_dir().join(format!("tune-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| HostError::io(format!("cannot create {}", scratch.display()), e))?;
    let collection = format!("ElysiactlTune{}", std::process::id());
    let options = SyncOptions {
        paths,
        collection: collection.clone(),
        store: scratch.join("index.redb"),
        max_files: Some(t.files),
        // The sample is the first files of a walk.
        rescan: true,
        rebuild: false,
    };
    let result = sync(&trial, &options);
    // Whatever happened, the scratch collection and store go.
    let client = super::node0_client(ctx);
    let dropped = match ctx.block_on(client.class_exists(&collection)) {
        Ok(true) => ctx.block_on(client.delete_class(&collection)),
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let s = result?;
    dropped.map_err(|e| {
        HostError::weaviate(format!(
            "the trial's collection {collection} was not removed: {}",
            e.message
        ))
        .with_hint(format!(
            "delete it with cluster.delete_collection(\"{collection}\") in `elysiactl repl`"
        ))
    })?;
    Ok(json!({
        "batch_size": t.batch_size, "upload_concurrency": t.upload_concurrency,
        "embed_workers": t.embed_workers, "embedder": s["embedder"],
        "files": s["files_indexed"], "chunks": s["chunks_uploaded"], "seconds": s["seconds"],
        "chunks_per_s": s["chunks_per_s"], "upload_latency_ms": s["upload_latency_ms"],
        "embed_latency_ms": s["embed_latency_ms"], "retries": s["retries"],
    }))
}
