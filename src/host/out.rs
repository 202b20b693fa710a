//! Output for scripts: lines, tables, JSON and progress bars. Formatting lives
//! here, in Rust, so a report prints the same from Rhai and from Lua.
//! Everything printed passes `redact::text` (URL credentials, the
//! configuration's secrets); key names are not judged here, since a
//! script's own data may well have a field called `key`.

use super::{opt, read, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::base::output::{cell, json_escape_controls, render_table, sanitize};
use serde_json::{json, Value};
use std::io::Write;

fn print(host: &Host, a: &Args) -> HostResult<Value> {
    let text = a
        .values()
        .iter()
        .map(|v| match v {
            Value::String(s) => sanitize(s, true),
            other => cell(other),
        })
        .collect::<Vec<_>>()
        .join(" ");
    host.out.suspend(|| {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", crate::base::redact::text(&text));
    });
    Ok(Value::Null)
}

fn warn(host: &Host, a: &Args) -> HostResult<Value> {
    let msg = a.str(0)?;
    host.out.warn(&msg);
    Ok(Value::Null)
}

fn table(host: &Host, a: &Args) -> HostResult<Value> {
    let rows = match a.value(0) {
        Value::Array(r) => r,
        // An empty Lua table arrives as an empty map.
        Value::Null => Vec::new(),
        Value::Object(m) if m.is_empty() => Vec::new(),
        other => {
            return Err(HostError::validation(format!(
                "out.table(): rows must be an array of maps, got {}",
                crate::base::error::type_name(&other)
            )))
        }
    };
    let columns: Vec<String> = match a.value(1) {
        Value::Array(c) => c
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect(),
        Value::Null => match rows.first() {
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        },
        other => {
            return Err(HostError::validation(format!(
                "out.table(): columns must be an array of strings, got {}",
                crate::base::error::type_name(&other)
            )))
        }
    };
    let text = render_table(&rows, &columns);
    host.out
        .suspend(|| println!("{}", crate::base::redact::text(&text)));
    Ok(json!(text))
}

fn to_json(_: &Host, a: &Args) -> HostResult<Value> {
    let v = a.value(0);
    let pretty = a.opts(1)?.bool("pretty", true)?;
    let text = if pretty {
        serde_json::to_string_pretty(&v)
    } else {
        serde_json::to_string(&v)
    }
    .map_err(|e| HostError::new(crate::base::error::Category::Encoding, e.to_string()))?;
    Ok(json!(json_escape_controls(&text)))
}

fn json_print(host: &Host, a: &Args) -> HostResult<Value> {
    let text = to_json(host, a)?;
    host.out.suspend(|| {
        println!(
            "{}",
            crate::base::redact::text(text.as_str().unwrap_or_default())
        )
    });
    Ok(Value::Null)
}

fn parse_json(_: &Host, a: &Args) -> HostResult<Value> {
    let s = a.str(0)?;
    serde_json::from_str(&s).map_err(|e| {
        HostError::new(
            crate::base::error::Category::Encoding,
            format!("invalid JSON: {e}"),
        )
    })
}

/// Ask a yes/no question on the terminal. Without a terminal nobody can
/// answer, so the answer is no (commands offer --force for automation).
fn confirm(host: &Host, a: &Args) -> HostResult<Value> {
    use std::io::IsTerminal;
    let question = sanitize(&a.str(0)?, false);
    if !std::io::stdin().is_terminal() {
        host.out.status(&format!(
            "{question} [y/N] no (no terminal to answer; pass --force to go ahead)"
        ));
        return Ok(json!(false));
    }
    let mut answer = String::new();
    host.out.suspend(|| {
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let _ = std::io::stdin().read_line(&mut answer);
    });
    crate::base::cancel::check_interrupt()?;
    Ok(json!(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    )))
}

fn progress(host: &Host, a: &Args) -> HostResult<Value> {
    let label = a.str(0)?;
    let total = a.opt_int(1)?.map(|n| n.max(0) as u64);
    Ok(json!(host.out.progress_start(&label, total)))
}

fn progress_set(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.int(0)?;
    let pos = a.opt_int(1)?.map(|n| n.max(0) as u64);
    let msg = a.opt_str(2)?;
    host.out.progress_set(id, pos, msg.as_deref());
    Ok(Value::Null)
}

fn progress_done(host: &Host, a: &Args) -> HostResult<Value> {
    let id = a.int(0)?;
    let msg = a.opt_str(1)?;
    host.out.progress_done(id, msg.as_deref());
    Ok(Value::Null)
}

fn bytes(_: &Host, a: &Args) -> HostResult<Value> {
    Ok(json!(crate::base::units::format_bytes(
        a.int(0)?.max(0) as u64
    )))
}

pub fn functions() -> Vec<HostFn> {
    let pretty = || vec![opt("pretty", Ty::Bool)];
    vec![
        read("out", "line", print)
            .param("a", Ty::Any)
            .optional("b", Ty::Any)
            .optional("c", Ty::Any)
            .optional("d", Ty::Any)
            .returns(Ty::Null)
            .doc("Print values on one line, separated by spaces, to standard output."),
        read("out", "warn", warn)
            .param("message", Ty::Str)
            .returns(Ty::Null)
            .doc("Print a warning to standard error."),
        read("out", "table", table)
            .param("rows", Ty::array(Ty::Map).or_null())
            .optional("columns", Ty::array(Ty::Str))
            .returns(Ty::Str)
            .doc("Print rows (maps) as a table. Columns are keys, or \"key:Header\"; default: the first row's keys. Returns the text."),
        read("out", "json", json_print)
            .param("value", Ty::Any)
            .opts(pretty())
            .returns(Ty::Null)
            .doc("Print a value as JSON (opts: pretty = true)."),
        read("out", "to_json", to_json)
            .param("value", Ty::Any)
            .opts(pretty())
            .returns(Ty::Str)
            .doc("A value as JSON text (opts: pretty = true)."),
        read("out", "parse_json", parse_json)
            .param("text", Ty::Str)
            .returns(Ty::Any)
            .doc("Parse JSON text."),
        read("out", "confirm", confirm)
            .param("question", Ty::Str)
            .returns(Ty::Bool)
            .doc("Ask a yes/no question on the terminal (default no). Without a terminal it answers no and says to pass --force."),
        read("out", "progress", progress)
            .param("label", Ty::Str)
            .optional("total", Ty::Int)
            .returns(Ty::Int)
            .doc("Start a progress bar (a spinner without total) on standard error; returns its id."),
        read("out", "progress_set", progress_set)
            .param("id", Ty::Int)
            .optional("position", Ty::Int)
            .optional("message", Ty::Str)
            .returns(Ty::Null)
            .doc("Move a progress bar and/or change its message."),
        read("out", "progress_done", progress_done)
            .param("id", Ty::Int)
            .optional("message", Ty::Str)
            .returns(Ty::Null)
            .doc("Remove a progress bar, optionally printing a final line."),
        read("out", "bytes", bytes)
            .param("n", Ty::Int)
            .returns(Ty::Str)
            .doc("A byte count as text: out.bytes(1536) is \"1.5 KiB\"."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_renders_headers_and_missing_cells() {
        let rows = vec![
            json!({"node": "weaviate-0", "ready": true}),
            json!({"node": "weaviate-1"}),
        ];
        let t = render_table(&rows, &["node".into(), "ready:Ready?".into()]);
        assert!(t.contains("NODE") && t.contains("READY?"), "{t}");
        assert!(t.contains("weaviate-1") && t.contains('-'), "{t}");
        assert!(t.contains("yes"), "{t}");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(sanitize("plain text", true), "plain text");
        assert_eq!(sanitize("a\x1b[31mred\x07", true), "a\\x1b[31mred\\x07");
        assert_eq!(sanitize("over\rwrite", true), "over\\x0dwrite");
        assert_eq!(sanitize("csi\u{9b}2J", true), "csi\\u{9b}2J");
        assert_eq!(sanitize("two\nlines\tand tab", true), "two\nlines\tand tab");
        assert_eq!(sanitize("one\nline", false), "one\\x0aline");
        let json = json_escape_controls(&serde_json::to_string("a\u{9b}b\x7f").unwrap());
        assert_eq!(json, "\"a\\u009bb\\u007f\"");
        assert_eq!(
            serde_json::from_str::<String>(&json).unwrap(),
            "a\u{9b}b\x7f"
        );
    }
}
