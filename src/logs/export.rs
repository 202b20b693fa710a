//! `logs --export FILE.tar.gz`: what one attaches to a bug report. One file
//! per source (the lines as written, within the filters) and manifest.json:
//! versions, time range, filters, sources, and the effective configuration
//! with secrets redacted. Every line passes the redaction too, so a key a
//! service echoed into its log does not leave in the bundle.

use super::{Entry, Filter, Source};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use std::path::Path;

/// Write the bundle to `file`; the summary it returns is the manifest's
/// first keys plus the file and its size.
pub fn export(
    ctx: &Context,
    file: &Path,
    sources: &[Source],
    filter: &Filter,
    entries: &[Entry],
) -> HostResult<Value> {
    let io = |what: &str, e: std::io::Error| HostError::io(format!("{what} {}", file.display()), e);
    let mut per_source: Vec<(String, String, usize)> = Vec::new();
    for src in sources {
        let mut text = String::new();
        let mut n = 0;
        for e in entries.iter().filter(|e| e.source == src.name) {
            text.push_str(&crate::base::redact::text(&e.raw));
            text.push('\n');
            n += 1;
        }
        per_source.push((src.name.clone(), text, n));
    }
    let manifest = manifest(ctx, sources, filter, entries, &per_source);
    let out = std::fs::File::create(file).map_err(|e| io("cannot create", e))?;
    let mut tar = tar::Builder::new(GzEncoder::new(out, flate2::Compression::default()));
    let mut add = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
    };
    let manifest_text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    add(
        "manifest.json",
        crate::base::redact::text(&manifest_text).as_bytes(),
    )
    .map_err(|e| io("cannot write", e))?;
    for (name, text, _) in &per_source {
        add(&format!("{name}.log"), text.as_bytes()).map_err(|e| io("cannot write", e))?;
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| io("cannot finish", e))?;
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(json!({
        "file": file.display().to_string(),
        "bytes": bytes,
        "lines": entries.len(),
        "sources": manifest["sources"].clone(),
        "time_range": manifest["time_range"].clone(),
    }))
}

fn manifest(
    ctx: &Context,
    sources: &[Source],
    filter: &Filter,
    entries: &[Entry],
    per_source: &[(String, String, usize)],
) -> Value {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(super::entry::rfc3339);
    let c = &ctx.config;
    json!({
        "created": super::entry::rfc3339(chrono::Utc::now()),
        "versions": {
            "elysiactl": env!("CARGO_PKG_VERSION"),
            "weaviate": c.weaviate.version,
            "elysia": c.elysia.version,
        },
        "runtime": crate::runtime::select(c, &ctx.rt).map(|r| r.kind().as_str()).ok(),
        "time_range": {
            "first": time(entries.iter().filter_map(|e| e.time).min()),
            "last": time(entries.iter().filter_map(|e| e.time).max()),
        },
        "filters": {
            "since": time(filter.since),
            "until": time(filter.until),
            "level": filter.level.map(|l| l.as_str()),
            "search": filter.search.as_ref().map(|r| r.as_str().to_string()),
        },
        "sources": sources.iter().zip(per_source).map(|(s, (_, _, n))| {
            let mut d = s.describe();
            d["bundle_file"] = json!(format!("{}.log", s.name));
            d["lines"] = json!(n);
            d
        }).collect::<Vec<_>>(),
        "config": c.redacted_json(),
    })
}
