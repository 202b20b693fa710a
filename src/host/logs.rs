//! `logs.read(opts)`, `logs.follow(opts)`, `logs.show(entries)`,
//! `logs.archive(file, opts)`, `logs.sources(opts)`: what every service
//! logged, for the `logs` command and for playbooks ("node 2 logged no
//! panic").

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::logs::{self, Entry, Filter, Level, Source};
use serde_json::{json, Value};
use std::io::Write;

/// The sources and filter an options map names.
fn selection(host: &Host, o: &super::args::Opts) -> HostResult<(Vec<Source>, Filter)> {
    let services = o.str_list("services")?.unwrap_or_default();
    for s in &services {
        if !logs::SERVICES.contains(&s.as_str()) {
            return Err(
                HostError::validation(format!("{s:?} is not a service that logs"))
                    .with_hint("the services are \"weaviate\", \"elysia\" and \"daemon\""),
            );
        }
    }
    let node = match o.int("node")? {
        Some(n) if n < 0 => {
            return Err(HostError::validation(format!("there is no node {n}"))
                .with_hint("nodes are numbered from 0"))
        }
        n => n.map(|n| n as usize),
    };
    let now = chrono::Utc::now();
    let time = |key: &str| -> HostResult<_> {
        o.str(key)?
            .map(|s| {
                logs::parse_time(&s, now).map_err(|e| {
                    HostError::validation(format!("{key}: {}", e.message)).with_hint(e.hint)
                })
            })
            .transpose()
    };
    let filter = Filter {
        since: time("since")?,
        until: time("until")?,
        level: o.str("level")?.as_deref().and_then(Level::parse),
        search: o.str("search")?.map(|p| Filter::search(&p)).transpose()?,
    };
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if s > u {
            return Err(
                HostError::validation("since is after until: no line can match")
                    .with_hint("give the earlier time to --since and the later to --until"),
            );
        }
    }
    Ok((logs::sources(host, &services, node)?, filter))
}

fn lines_opt(o: &super::args::Opts) -> HostResult<Option<usize>> {
    match o.int("lines")? {
        None => Ok(None),
        Some(n) if n < 0 => Err(HostError::validation(format!("cannot show {n} log lines"))
            .with_hint("give a count of 0 or more, e.g. lines: 100")),
        Some(n) => Ok(Some(n as usize)),
    }
}

fn entries_json(entries: &[Entry]) -> Value {
    Value::Array(entries.iter().map(Entry::to_json).collect())
}

fn read_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let (sources, filter) = selection(host, &o)?;
    let entries = logs::read(host, &sources, &filter, lines_opt(&o)?)?;
    Ok(entries_json(&entries))
}

fn print_line(host: &Host, line: &str) {
    host.out.suspend(|| {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    });
}

/// One entry as `print` and `follow` show it: a JSON line, or text
/// coloured by level on a terminal.
fn show(host: &Host, e: &Value, json_mode: bool, colour: bool) {
    if json_mode {
        let text = serde_json::to_string(e).unwrap_or_default();
        print_line(host, &crate::base::redact::text(&text));
    } else {
        print_line(host, &logs::render(&entry_of(e), colour));
    }
}

/// An entry back from its JSON (a script hands `read`'s result to `print`).
fn entry_of(v: &Value) -> Entry {
    Entry {
        time: v["time"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        source: v["source"].as_str().unwrap_or_default().to_string(),
        level: v["level"].as_str().and_then(Level::parse),
        message: v["message"].as_str().unwrap_or_default().to_string(),
        fields: v["fields"].as_object().cloned().unwrap_or_default(),
        raw: String::new(),
    }
}

fn print_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let entries = match a.value(0) {
        Value::Array(v) => v,
        _ => Vec::new(),
    };
    let json_mode = a.opts(1)?.bool("json", false)?;
    let colour = !json_mode && logs::colour_wanted();
    for e in &entries {
        show(host, e, json_mode, colour);
    }
    Ok(json!(entries.len()))
}

fn follow_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let (sources, filter) = selection(host, &o)?;
    let callback = a.has_function(1);
    let print = o.bool("print", !callback)?;
    let json_mode = o.bool("json", false)?;
    let colour = print && !json_mode && logs::colour_wanted();
    let stop_on = o.str("stop_on")?.map(|p| Filter::search(&p)).transpose()?;
    let max = o.int("count")?.map(|n| n.max(0) as usize);
    let timeout = o.duration("timeout")?;
    let mut seen = 0usize;
    let mut kept: Vec<Value> = Vec::new();
    let mut matched = Value::Null;
    let mut callback_said_stop = false;
    let mut failure = None;
    let stop = logs::follow(host, &sources, &filter, timeout, |e| {
        let v = e.to_json();
        seen += 1;
        if print {
            show(host, &v, json_mode, colour);
        } else if !callback && kept.len() < 10_000 {
            kept.push(v.clone());
        }
        if callback {
            match a.call_function(1, v.clone()) {
                Ok(Some(Value::Bool(false))) => {
                    callback_said_stop = true;
                    return false;
                }
                Ok(_) => {}
                Err(err) => {
                    failure = Some(err);
                    return false;
                }
            }
        }
        if stop_on.as_ref().is_some_and(|re| re.is_match(&e.raw)) {
            matched = v;
            return false;
        }
        max.is_none_or(|m| seen < m)
    })?;
    if let Some(err) = failure {
        return Err(err);
    }
    let reason = match stop {
        logs::Stop::Done if callback_said_stop => "callback",
        logs::Stop::Done if !matched.is_null() => "match",
        logs::Stop::Done => "count",
        other => other.as_str(),
    };
    Ok(json!({"lines": seen, "stopped": reason, "matched": matched, "entries": kept}))
}

fn export_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let file = std::path::PathBuf::from(a.str(0)?);
    let o = a.opts(1)?;
    let (sources, filter) = selection(host, &o)?;
    let entries = logs::read(host, &sources, &filter, lines_opt(&o)?)?;
    logs::export::export(host, &file, &sources, &filter, &entries)
}

/// What an export would write: which sources, nothing on disk.
fn simulate_export(host: &Host, a: &Args) -> HostResult<Value> {
    let file = a.str(0)?;
    let (sources, _) = selection(host, &a.opts(1)?)?;
    Ok(json!({
        "file": file, "bytes": null, "lines": null,
        "sources": sources.iter().map(Source::describe).collect::<Vec<_>>(),
        "time_range": null, "dry_run": true,
    }))
}

fn sources_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let (sources, _) = selection(host, &a.opts(0)?)?;
    Ok(json!(sources
        .iter()
        .map(Source::describe)
        .collect::<Vec<_>>()))
}

pub fn functions() -> Vec<HostFn> {
    let select = || {
        vec![
            opt("services", Ty::list_of(Ty::one_of(logs::SERVICES))),
            opt("node", Ty::Int),
            opt("since", Ty::Str),
            opt("until", Ty::Str),
            opt("level", Ty::one_of(Level::NAMES)),
            opt("search", Ty::Str),
        ]
    };
    let with = |extra: Vec<super::decl::OptKey>| {
        let mut v = select();
        v.extend(extra);
        v
    };
    let entry = || Ty::record(&["time", "source", "level", "message", "fields"]);
    vec![
        read("logs", "read", read_fn)
            .opts(with(vec![opt("lines", Ty::Int)]))
            .returns(Ty::array(entry()))
            .doc("Log entries of every service, merged in time order: [{time, source, level, message, fields}]. opts: services ([\"weaviate\", \"elysia\", \"daemon\"], default all), node, since and until (\"1h\" back from now, or a time such as \"2026-12-01T10:00\"), level (this and above), search (a regular expression over the line), lines (the last N). Example: logs.read(#{services: [\"weaviate\"], node: 2, search: \"panic\", since: \"10m\"}).len() == 0"),
        read("logs", "follow", follow_fn)
            .opts(with(vec![
                opt("print", Ty::Bool),
                opt("json", Ty::Bool),
                opt("stop_on", Ty::Str),
                opt("count", Ty::Int),
                opt("timeout", Ty::Duration),
            ]))
            .optional("on_line", Ty::Function)
            .returns(Ty::record(&["lines", "stopped", "matched", "entries"]))
            .doc("Follow the logs from now on (across rotation and node restarts) until Ctrl-C, timeout, count lines, a line matching the regular expression stop_on, or on_line returning false. on_line, a function of the script, is called with each entry ({time, source, level, message, fields}) as it comes; an error it raises ends the follow with that error. print shows each line (json: one JSON object a line); it defaults to true without on_line, false with it. Without on_line and print the entries are returned. Returns {lines, stopped: match|count|timeout|callback|interrupted, matched, entries}. Example: logs.follow(#{services: [\"weaviate\"], timeout: \"30s\"}, |e| { if e.level == \"error\" { errors += 1; } errors < 3 })"),
        read("logs", "show", print_fn)
            .param("entries", Ty::array(Ty::Map))
            .opts(vec![opt("json", Ty::Bool)])
            .returns(Ty::Int)
            .doc("Print entries as logs.read returns them: time, source, level, message, fields; coloured by level on a terminal (never with NO_COLOR), one JSON object a line with json. Returns how many."),
        write("logs", "archive", export_fn, simulate_export)
            .param("file", Ty::Str)
            .opts(with(vec![opt("lines", Ty::Int)]))
            .returns(Ty::record(&["file", "bytes", "lines", "sources", "time_range"]))
            .doc("Write a .tar.gz for a bug report: one <source>.log per source (the lines the opts select, as logs.read) and manifest.json (versions, runtime, time range, filters, sources, the effective configuration with secrets redacted)."),
        read("logs", "sources", sources_fn)
            .opts(select())
            .returns(Ty::array(Ty::Map))
            .doc("Where each selected log is read from: [{name, service, file | container}]."),
    ]
}
