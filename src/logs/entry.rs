//! One log line, parsed: its time, level, message and fields, whichever
//! service wrote it. Weaviate writes JSON (logrus: `level`, `time`, `msg`,
//! the rest are fields); Elysia writes uvicorn's `INFO:     …` and rich's
//! `[12/03/26 13:40:00] INFO     …`; the daemon writes `<RFC 3339> <text>`,
//! with `warning:` before a warning. A line without a time of its own takes
//! the time of the line before it in the same source (the caller carries it).

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// Severity, least first, so `--level warn` keeps what is `>= Warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub const NAMES: [&'static str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

    /// A level as services spell it (`WARNING`, `warn`, `CRITICAL`, `panic` …).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" | "information" | "notice" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" => Level::Error,
            "fatal" | "panic" | "critical" | "crit" => Level::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Level::NAMES[self as usize]
    }
}

/// One line of one source.
#[derive(Debug, Clone)]
pub struct Entry {
    pub time: Option<DateTime<Utc>>,
    /// `weaviate-0`, `elysia`, `daemon`.
    pub source: String,
    pub level: Option<Level>,
    pub message: String,
    /// Weaviate's structured fields (action, class, error …); empty for text lines.
    pub fields: Map<String, Value>,
    /// The line as written, for `--search` and the export.
    pub raw: String,
}

impl Entry {
    /// Level for filtering: a line that names none counts as info.
    pub fn level_or_info(&self) -> Level {
        self.level.unwrap_or(Level::Info)
    }

    /// `{time, source, level, message, fields}`, as scripts and `--json` see it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "time": self.time.map(rfc3339),
            "source": self.source,
            "level": self.level.map(Level::as_str),
            "message": self.message,
            "fields": self.fields,
        })
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

use crate::base::process::START_MARKER;

/// Parse `raw` from `source`. `stamp` is the time the transport gave the
/// line (Docker's), used when the line carries none.
pub fn parse(source: &str, raw: &str, stamp: Option<DateTime<Utc>>) -> Entry {
    let line = raw.trim_end_matches(['\r', '\n']);
    let mut entry = Entry {
        time: None,
        source: source.to_string(),
        level: None,
        message: line.to_string(),
        fields: Map::new(),
        raw: line.to_string(),
    };
    if line.trim_start().starts_with('{') {
        if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line.trim()) {
            entry.level = m
                .remove("level")
                .and_then(|l| l.as_str().and_then(Level::parse));
            entry.time = m
                .remove("time")
                .and_then(|t| t.as_str().and_then(parse_rfc3339));
            let msg = m.remove("msg").or_else(|| m.remove("message"));
            entry.message = msg
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_default();
            entry.fields = m;
            entry.time = entry.time.or(stamp);
            return entry;
        }
    }
    if let Some(rest) = line.strip_prefix(START_MARKER) {
        // "--- elysiactl: started <program> at <RFC 3339> ---"
        entry.time = rest
            .rsplit_once(" at ")
            .and_then(|(_, t)| parse_rfc3339(t.trim_end_matches(" ---")));
        entry.level = Some(Level::Info);
        entry.time = entry.time.or(stamp);
        return entry;
    }
    parse_text(line, &mut entry);
    entry.time = entry.time.or(stamp);
    entry
}

fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Text lines: a leading RFC 3339 time (the daemon), rich's `[%x %X]` local
/// time, then a level word (`INFO:`, `WARNING`, `warning:`).
fn parse_text(line: &str, entry: &mut Entry) {
    let mut rest = line;
    if let Some((first, after)) = rest.split_once(' ') {
        if let Some(t) = parse_rfc3339(first) {
            entry.time = Some(t);
            rest = after;
        }
    }
    if entry.time.is_none() && rest.starts_with('[') {
        // rich: "[12/03/26 13:40:00] INFO     message   file.py:12"
        if let Some((stamp, after)) = rest[1..].split_once(']') {
            if let Ok(naive) = NaiveDateTime::parse_from_str(stamp, "%m/%d/%y %H:%M:%S") {
                entry.time = Local
                    .from_local_datetime(&naive)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc));
                rest = after;
            }
        }
    }
    let trimmed = rest.trim_start();
    let word_end = trimmed
        .find(|c: char| c.is_whitespace() || c == ':')
        .unwrap_or(trimmed.len());
    let word = &trimmed[..word_end];
    // Only a level in capitals, or one followed by a colon, is a level: a
    // message that starts with "error" in prose is not.
    let followed_by_colon = trimmed[word_end..].starts_with(':');
    if word.chars().all(|c| c.is_ascii_uppercase()) || followed_by_colon {
        if let Some(level) = Level::parse(word) {
            entry.level = Some(level);
            let after = trimmed[word_end..].trim_start_matches(':').trim_start();
            entry.message = after.to_string();
            return;
        }
    }
    if trimmed.starts_with("Traceback") || trimmed.starts_with("panic:") {
        entry.level = Some(if trimmed.starts_with("panic:") {
            Level::Fatal
        } else {
            Level::Error
        });
    }
    entry.message = trimmed.to_string();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weaviate_json_gives_level_time_message_and_fields() {
        let e = parse(
            "weaviate-1",
            r#"{"action":"startup","build_git_commit":"abc","level":"warning","msg":"node left","time":"2026-12-03T10:00:01Z"}"#,
            None,
        );
        assert_eq!(e.level, Some(Level::Warn));
        assert_eq!(e.message, "node left");
        assert_eq!(rfc3339(e.time.unwrap()), "2026-12-03T10:00:01.000Z");
        assert_eq!(e.fields["action"], "startup");
        assert!(!e.fields.contains_key("msg") && !e.fields.contains_key("level"));
    }

    #[test]
    fn text_lines_of_each_service() {
        let e = parse(
            "elysia",
            "INFO:     Uvicorn running on http://127.0.0.1:8000",
            None,
        );
        assert_eq!(
            (e.level, e.message.as_str()),
            (
                Some(Level::Info),
                "Uvicorn running on http://127.0.0.1:8000"
            )
        );
        let e = parse("elysia", "ERROR:    Exception in ASGI application", None);
        assert_eq!(e.level, Some(Level::Error));
        let e = parse(
            "daemon",
            "2026-12-03T10:00:00.500Z warning: job x: no command",
            None,
        );
        assert_eq!(e.level, Some(Level::Warn));
        assert_eq!(rfc3339(e.time.unwrap()), "2026-12-03T10:00:00.500Z");
        let e = parse(
            "daemon",
            "2026-12-03T10:00:00.500Z error handling is fine",
            None,
        );
        assert_eq!(
            e.level, None,
            "prose starting with a level word is no level"
        );
        let e = parse("elysia", "[12/03/26 13:40:00] INFO     Loaded tree", None);
        assert_eq!(e.level, Some(Level::Info));
        assert!(e.time.is_some());
        let e = parse(
            "elysia",
            "--- elysiactl: started /x/elysia at 2026-12-03T10:00:00.000Z ---",
            None,
        );
        assert_eq!(rfc3339(e.time.unwrap()), "2026-12-03T10:00:00.000Z");
    }

    #[test]
    fn the_transport_stamp_fills_a_missing_time() {
        let t = parse_rfc3339("2026-12-03T10:00:00Z");
        assert_eq!(parse("elysia", "plain", t).time, t);
    }
}
