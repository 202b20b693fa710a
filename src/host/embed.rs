//! Embedding from scripts: `embed.vectors(["some text"])` with the
//! configured embedder, and `embed.serve(#{listen: "127.0.0.1:8090"})`, the
//! OpenAI-compatible server behind `elysiactl serve embeddings`.

use super::{opt, read, Args, Host, HostFn, Ty};
use crate::base::config::{EmbedderKind, Secret};
use crate::base::error::{HostError, HostResult};
use crate::embed::{server, Embedder};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

fn load(host: &Host, kind: Option<EmbedderKind>) -> HostResult<Embedder> {
    let kind = match kind {
        Some(k) => k,
        None => host.config.index.embedder_kind()?,
    };
    Embedder::load(&host.config.index, kind.as_str(), &host.rt)?.ok_or_else(|| {
        HostError::validation("embedder \"none\" makes no vectors").with_hint(
            "pass opts.embedder (\"static\", \"minilm\" or \"openai\"), or set index.embedder",
        )
    })
}

fn vectors(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    let texts: Vec<String> = match a.value(0) {
        Value::String(s) => vec![s],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => {
            return Err(HostError::validation(
                "embed.vectors() needs a string or an array of strings",
            )
            .with_hint("e.g. embed.vectors([\"parse a cron line\"])"))
        }
    };
    let e = load(host, o.embedder("embedder")?)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Ok(json!({"embedder": e.name(), "dims": e.dims(), "vectors": e.embed(&refs)?}))
}

fn serve(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let listen = o.str("listen")?.unwrap_or_else(|| "127.0.0.1:8090".into());
    let addr: SocketAddr = listen.parse().map_err(|_| {
        HostError::validation(format!("{listen:?} is not an address to listen on"))
            .with_hint("give IP:PORT, e.g. 127.0.0.1:8090 (0.0.0.0:8090 for every interface, port 0 for any free one)")
    })?;
    // The default is the configured embedder when it runs here, else the fast one.
    let kind = match o.embedder("embedder")? {
        Some(k) => k,
        None => match host.config.index.embedder_kind()? {
            k @ (EmbedderKind::Static | EmbedderKind::Minilm) => k,
            _ => EmbedderKind::Static,
        },
    };
    if !matches!(kind, EmbedderKind::Static | EmbedderKind::Minilm) {
        return Err(HostError::validation(format!(
            "embedder {:?} cannot be served",
            kind.as_str()
        ))
        .with_hint(
            "serve a local one: \"static\" or \"minilm\" (after `elysiactl install model`)",
        ));
    }
    let key = match o.str("api_key_env")? {
        None => Secret::default(),
        Some(var) => Secret::new(
            std::env::var(&var)
                .ok()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    HostError::validation(format!(
                        "the environment variable {var} holds no API key"
                    ))
                    .with_hint(format!(
                        "export {var}=… first, or leave out --api-key-env to serve without a key"
                    ))
                })?,
        ),
    };
    let embedder = load(host, Some(kind))?;
    let served = Arc::new(server::Served {
        model: server::model_name(&embedder),
        embedder,
        key,
    });
    let (model, dims, auth) = (
        served.model.clone(),
        served.embedder.dims(),
        served.key.is_set(),
    );
    let json_mode = o.bool("json", false)?;
    let started = std::time::Instant::now();
    let mut bound = None;
    host.block_on(server::serve(
        served,
        addr,
        |at| {
            bound = Some(at);
            let ready = json!({"url": format!("http://{at}/v1"), "model": model, "dims": dims, "api_key_required": auth, "pid": std::process::id()});
            if json_mode {
                println!("{ready}");
            } else {
                println!("serving {model} ({dims} dimensions) at http://{at}/v1{}; Ctrl-C or SIGTERM stops",
                    if auth { ", API key required" } else { "" });
            }
        },
        stopped(),
    ))?;
    crate::base::cancel::restart_deadline();
    Ok(
        json!({"url": bound.map(|a| format!("http://{a}/v1")), "model": model, "seconds": started.elapsed().as_secs()}),
    )
}

/// Resolves on SIGTERM, or once Ctrl-C has interrupted the script.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    loop {
        let term_received = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term_received => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                if crate::base::cancel::interrupted() {
                    return;
                }
            }
        }
    }
}

pub fn functions() -> Vec<HostFn> {
    let embedder = || Ty::one_of(EmbedderKind::ALL.map(EmbedderKind::as_str));
    vec![
        read("embed", "vectors", vectors)
            .param("texts", Ty::list_of(Ty::Str))
            .opts(vec![opt("embedder", embedder())])
            .returns(Ty::record(&["embedder", "dims", "vectors"]))
            .doc("Embed texts with index.embedder (or opts.embedder: \"static\", \"minilm\", \"openai\"): {embedder, dims, vectors: [[f32]]}, unit vectors in input order."),
        read("embed", "serve", serve)
            .opts(vec![
                opt("listen", Ty::Str),
                opt("embedder", embedder()),
                opt("api_key_env", Ty::Str),
                opt("json", Ty::Bool),
            ])
            .returns(Ty::record(&["url", "model", "seconds"]))
            .doc("Serve a local embedder over OpenAI's embeddings API (POST /v1/embeddings, GET /v1/models) until SIGTERM or Ctrl-C. Opts: listen = \"127.0.0.1:8090\" (port 0: any free one), embedder (\"static\" or \"minilm\"; default index.embedder if local, else static), api_key_env (the variable holding the key clients must send), json (print the ready line as JSON). Prints the URL and model once listening."),
    ]
}
