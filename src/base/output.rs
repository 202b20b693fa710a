//! What the tool prints, for every layer: status and warning lines, dry-run
//! plan lines, progress bars that step aside for other output, tables.
//! Everything shown passes `redact::text` (URL credentials, the
//! configuration's secrets) and `sanitize` (no escape sequence from a script
//! or a path reaches the terminal).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Output {
    bars: Mutex<HashMap<i64, ProgressBar>>,
    next_bar: Mutex<i64>,
}

impl Output {
    /// A line of a dry-run plan, on stderr so `--json` stdout stays parsable.
    pub fn plan_line(&self, line: &str) {
        let line = sanitize(&super::redact::text(line), true);
        self.suspend(|| eprintln!("[dry-run] {line}"));
    }

    pub fn status(&self, line: &str) {
        let line = sanitize(&super::redact::text(line), true);
        self.suspend(|| eprintln!("{line}"));
    }

    pub fn warn(&self, line: &str) {
        self.status(&format!("warning: {line}"));
    }

    pub fn suspend<F: FnOnce()>(&self, f: F) {
        let bars = self.bars.lock().unwrap();
        match bars.values().next() {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    pub fn progress_start(&self, label: &str, total: Option<u64>) -> i64 {
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
                )
                .expect("static template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                    .expect("static template"),
            ),
        };
        bar.set_prefix(sanitize(&super::redact::text(label), false));
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let mut next = self.next_bar.lock().unwrap();
        *next += 1;
        self.bars.lock().unwrap().insert(*next, bar);
        *next
    }

    /// Turns a spinner into a bar once its total is known, with an ETA.
    pub fn progress_total(&self, id: i64, total: u64) {
        if let Some(bar) = self.bars.lock().unwrap().get(&id) {
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:20}] {pos}/{len} {msg} ({elapsed}, ETA {eta})",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
        }
    }

    pub fn progress_set(&self, id: i64, pos: Option<u64>, msg: Option<&str>) {
        if let Some(bar) = self.bars.lock().unwrap().get(&id) {
            if let Some(p) = pos {
                bar.set_position(p);
            }
            if let Some(m) = msg {
                bar.set_message(sanitize(&super::redact::text(m), false));
            }
        }
    }

    pub fn progress_done(&self, id: i64, msg: Option<&str>) {
        if let Some(bar) = self.bars.lock().unwrap().remove(&id) {
            bar.finish_and_clear();
            if let Some(m) = msg {
                eprintln!("{}", sanitize(&super::redact::text(m), true));
            }
        }
    }
}

/// Text safe to show on a terminal: control characters (escape sequences
/// that could recolour, clear or retitle it, carriage returns that overwrite
/// a line) are shown escaped, as `\x1b` or `\u{9b}`. Newlines and tabs are
/// kept where `keep_layout` says they are part of the text.
pub fn sanitize(text: &str, keep_layout: bool) -> String {
    if !text.chars().any(|c| c.is_control()) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\t' if keep_layout => out.push(c),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// serde_json escapes the C0 controls in strings but writes DEL and the C1
/// controls (U+0080..U+009F, which some terminals read as escape sequences)
/// as they are. They occur only inside strings, where `\u` escapes them.
pub fn json_escape_controls(text: &str) -> String {
    if !text.chars().any(|c| c.is_control()) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c > '\x1f' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for one table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => sanitize(s, true),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                if f.fract() == 0.0 {
                    format!("{f:.0}")
                } else {
                    format!("{f:.2}")
                }
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Render rows (maps) under the given columns. A column is a key, or
/// "key:Header" to name it differently.
pub fn render_table(rows: &[Value], columns: &[String]) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let cols: Vec<(&str, &str)> = columns
        .iter()
        .map(|c| c.split_once(':').unwrap_or((c.as_str(), c.as_str())))
        .collect();
    table.set_header(cols.iter().map(|(_, h)| sanitize(&h.to_uppercase(), false)));
    for row in rows {
        table.add_row(
            cols.iter()
                .map(|(k, _)| cell(row.get(*k).unwrap_or(&Value::Null))),
        );
    }
    table.to_string()
}
