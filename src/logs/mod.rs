//! What every service said: Weaviate's nodes (log files in the process
//! runtime, the container's output through the Engine API in Docker),
//! Elysia's log and the daemon's, parsed into entries (entry.rs), filtered
//! by time, level and a regular expression, merged into one timeline,
//! followed as they grow (across rotation and restarts), and exported for a
//! bug report (export.rs).

pub mod entry;
pub mod export;

use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::base::logfile::rotated;
use crate::clients::docker as dk;
use crate::runtime::LogLocation;
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
pub use entry::{Entry, Level};
use regex::Regex;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The services that log, as `logs` names them.
pub const SERVICES: [&str; 3] = ["weaviate", "elysia", "daemon"];

/// One log to read: `weaviate-1`, `elysia`, `daemon`.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub service: &'static str,
    pub location: LogLocation,
}

impl Source {
    pub fn describe(&self) -> serde_json::Value {
        let (kind, at) = match &self.location {
            LogLocation::File(p) => ("file", p.display().to_string()),
            LogLocation::Container(c) => ("container", c.clone()),
        };
        serde_json::json!({"name": self.name, "service": self.service, kind: at})
    }
}

/// The sources of `services` (all three when empty); `node` narrows Weaviate to one node.
pub fn sources(ctx: &Context, services: &[String], node: Option<usize>) -> HostResult<Vec<Source>> {
    let wanted = |s: &str| services.is_empty() || services.iter().any(|x| x == s);
    let mut out = Vec::new();
    if wanted("weaviate") {
        let nodes = ctx.config.weaviate.nodes;
        if let Some(n) = node.filter(|n| *n >= nodes) {
            return Err(HostError::validation(format!("there is no node {n}"))
                .with_hint(format!("nodes are numbered 0 to {}", nodes - 1)));
        }
        let rt = crate::runtime::select(&ctx.config, &ctx.rt)?;
        for i in (0..nodes).filter(|i| node.is_none_or(|n| n == *i)) {
            out.push(Source {
                name: ctx.config.weaviate.node(i).name,
                service: "weaviate",
                location: rt.log_location(i)?,
            });
        }
    }
    if wanted("elysia") {
        out.push(Source {
            name: "elysia".into(),
            service: "elysia",
            location: LogLocation::File(crate::base::paths::log_dir().join("elysia.log")),
        });
        // Several workers (`elysia workers`): each one's log, and nginx's.
        use crate::services::elysia_workers as workers;
        for i in 0..crate::base::config::MAX_ELYSIA_WORKERS as usize {
            let log = workers::worker_log_file(i);
            if log.exists() {
                out.push(Source {
                    name: format!("elysia-{i}"),
                    service: "elysia",
                    location: LogLocation::File(log),
                });
            }
        }
        if workers::proxy_log_file().exists() {
            out.push(Source {
                name: "elysia-nginx".into(),
                service: "elysia",
                location: LogLocation::File(workers::proxy_log_file()),
            });
        }
    }
    if wanted("daemon") {
        out.push(Source {
            name: "daemon".into(),
            service: "daemon",
            location: LogLocation::File(crate::base::paths::log_dir().join("daemon.log")),
        });
    }
    Ok(out)
}

/// Which entries to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// This level and above.
    pub level: Option<Level>,
    pub search: Option<Regex>,
}

impl Filter {
    pub fn keeps(&self, e: &Entry) -> bool {
        if let Some(since) = self.since {
            if e.time.is_none_or(|t| t < since) {
                return false;
            }
        }
        if let Some(until) = self.until {
            if e.time.is_none_or(|t| t > until) {
                return false;
            }
        }
        if self.level.is_some_and(|l| e.level_or_info() < l) {
            return false;
        }
        self.search.as_ref().is_none_or(|re| re.is_match(&e.raw))
    }

    /// Whether anything but time bounds narrows the lines (then a tail must
    /// be taken after filtering, not from the engine).
    fn narrows(&self) -> bool {
        self.level.is_some() || self.search.is_some()
    }

    pub fn search(pattern: &str) -> HostResult<Regex> {
        Regex::new(pattern).map_err(|e| {
            HostError::validation(format!(
                "--search {pattern:?} is not a regular expression: {e}"
            ))
            .with_hint("escape what is meant literally, e.g. \"shard\\\\.0\" or \"a\\\\(b\\\\)\"")
        })
    }
}

/// A point in time as `--since`/`--until` take it: a duration back from now
/// ("1h", "90s"), an RFC 3339 time, or a local "2026-12-01T10:00",
/// "2026-12-01 10:00:30" or "2026-12-01".
pub fn parse_time(s: &str, now: DateTime<Utc>) -> HostResult<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            if let Some(local) = Local.from_local_datetime(&n).earliest() {
                return Ok(local.with_timezone(&Utc));
            }
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(local) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|n| Local.from_local_datetime(&n).earliest())
        {
            return Ok(local.with_timezone(&Utc));
        }
    }
    if let Ok(back) = crate::base::units::parse_duration(t) {
        if let Ok(back) = chrono::Duration::from_std(back) {
            return Ok(now - back);
        }
    }
    Err(HostError::validation(format!("{t:?} is not a time"))
        .with_hint("give a duration back from now (\"1h\", \"30m\") or a time (\"2026-12-01T10:00\", RFC 3339)"))
}

/// Entries of `sources` that `filter` keeps, ordered by time (stable: lines
/// of one source keep their order), the last `lines` of them when given.
pub fn read(
    ctx: &Context,
    sources: &[Source],
    filter: &Filter,
    lines: Option<usize>,
) -> HostResult<Vec<Entry>> {
    let mut all = Vec::new();
    for src in sources {
        let mut entries = read_source(ctx, src, filter, lines)?;
        entries.retain(|e| filter.keeps(e));
        if let Some(n) = lines {
            entries.drain(..entries.len().saturating_sub(n));
        }
        all.extend(entries);
    }
    all.sort_by_key(|e| e.time);
    if let Some(n) = lines {
        all.drain(..all.len().saturating_sub(n));
    }
    Ok(all)
}

fn read_source(
    ctx: &Context,
    src: &Source,
    filter: &Filter,
    lines: Option<usize>,
) -> HostResult<Vec<Entry>> {
    match &src.location {
        LogLocation::File(path) => Ok(read_files(&src.name, path, filter, lines)),
        LogLocation::Container(name) => {
            let docker = ctx.block_on(dk::connect())?;
            let tail = lines.filter(|_| !filter.narrows());
            let got = ctx.block_on(dk::logs_between(
                &docker,
                name,
                filter.since.map_or(0, |t| t.timestamp()),
                // The engine's bound is whole seconds; the filter trims the rest.
                filter.until.map_or(0, |t| t.timestamp() + 1),
                tail,
            ));
            let got = match got {
                Ok(g) => g,
                // A node never started has no container and so no lines.
                Err(e) if e.message.starts_with("there is no container") => Vec::new(),
                Err(e) => return Err(e),
            };
            Ok(parse_lines(
                &src.name,
                got.iter()
                    .map(|(stamp, line)| (line.as_str(), docker_stamp(stamp))),
            ))
        }
    }
}

fn docker_stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parse lines in order; a line without a time takes the one before it.
fn parse_lines<'a>(
    source: &str,
    lines: impl Iterator<Item = (&'a str, Option<DateTime<Utc>>)>,
) -> Vec<Entry> {
    let mut last = None;
    lines
        .map(|(line, stamp)| {
            let mut e = entry::parse(source, line, stamp);
            match e.time {
                Some(t) => last = Some(t),
                None => e.time = last,
            }
            e
        })
        .collect()
}

fn mtime(p: &std::path::Path) -> Option<DateTime<Utc>> {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from)
}

/// A log and its rotated copies, newest first, reading older copies only
/// while they can hold what is asked for.
fn read_files(
    source: &str,
    path: &std::path::Path,
    filter: &Filter,
    lines: Option<usize>,
) -> Vec<Entry> {
    let mut chunks: Vec<Vec<Entry>> = Vec::new();
    let mut kept = 0;
    for n in 0.. {
        let file = if n == 0 {
            path.to_path_buf()
        } else {
            rotated(path, n)
        };
        if n > 0 {
            let Some(written) = mtime(&file) else { break };
            // A copy's last write is its newest line: older than --since, all of it is.
            let too_old = filter.since.is_some_and(|s| written < s);
            let enough = filter.since.is_none() && lines.is_some_and(|l| kept >= l);
            if too_old || enough {
                break;
            }
        }
        let Ok(bytes) = fs::read(&file) else {
            if n == 0 {
                continue;
            }
            break;
        };
        let text = String::from_utf8_lossy(&bytes);
        let entries = parse_lines(source, text.lines().map(|l| (l, None)));
        kept += entries.iter().filter(|e| filter.keeps(e)).count();
        chunks.push(entries);
    }
    chunks.into_iter().rev().flatten().collect()
}

// ---- follow ------------------------------------------------------------------

/// Where a followed source was read to.
enum Cursor {
    File {
        name: String,
        path: PathBuf,
        file: Option<fs::File>,
        inode: u64,
        pos: u64,
        partial: String,
        last_time: Option<DateTime<Utc>>,
    },
    Container {
        name: String,
        container: String,
        /// The newest line's stamp already given.
        last: DateTime<Utc>,
    },
}

impl Cursor {
    /// At the end of what `source` holds now: only lines written after this.
    fn at_end(src: &Source, now: DateTime<Utc>) -> Cursor {
        match &src.location {
            LogLocation::File(path) => {
                let file = fs::File::open(path).ok();
                let (inode, pos) = file
                    .as_ref()
                    .and_then(|f| f.metadata().ok())
                    .map_or((0, 0), |m| (m.ino(), m.len()));
                Cursor::File {
                    name: src.name.clone(),
                    path: path.clone(),
                    file,
                    inode,
                    pos,
                    partial: String::new(),
                    last_time: None,
                }
            }
            LogLocation::Container(c) => Cursor::Container {
                name: src.name.clone(),
                container: c.clone(),
                last: now,
            },
        }
    }

    fn poll(&mut self, ctx: &Context, docker: &mut Option<dk::Docker>) -> Vec<Entry> {
        match self {
            Cursor::File {
                name,
                path,
                file,
                inode,
                pos,
                partial,
                last_time,
            } => {
                let mut text = String::new();
                if let Some(f) = file.as_mut() {
                    // Truncated in place (rotation by copy): start again at 0.
                    if f.metadata().is_ok_and(|m| m.len() < *pos) {
                        *pos = 0;
                        partial.clear();
                    }
                    let mut buf = Vec::new();
                    if f.seek(SeekFrom::Start(*pos)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                        *pos += buf.len() as u64;
                        text = String::from_utf8_lossy(&buf).into_owned();
                    }
                }
                // Replaced (renamed away, or created since): read the new file from its start.
                let now_inode = fs::metadata(&*path).map(|m| m.ino()).ok();
                if now_inode.is_some_and(|i| i != *inode) || (file.is_none() && now_inode.is_some())
                {
                    *file = fs::File::open(&*path).ok();
                    *inode = now_inode.unwrap_or(0);
                    *pos = 0;
                }
                partial.push_str(&text);
                let Some(end) = partial.rfind('\n') else {
                    return Vec::new();
                };
                let complete: String = partial.drain(..=end).collect();
                let mut entries = parse_lines(name, complete.lines().map(|l| (l, None)));
                for e in &mut entries {
                    match e.time {
                        Some(t) => *last_time = Some(t),
                        None => e.time = *last_time,
                    }
                }
                entries
            }
            Cursor::Container {
                name,
                container,
                last,
            } => {
                if docker.is_none() {
                    *docker = ctx.block_on(dk::connect()).ok();
                }
                let Some(d) = docker.as_ref() else {
                    return Vec::new();
                };
                // Gone while a node is recreated: try again on the next poll.
                let Ok(got) =
                    ctx.block_on(dk::logs_between(d, container, last.timestamp(), 0, None))
                else {
                    return Vec::new();
                };
                let fresh: Vec<(&str, DateTime<Utc>)> = got
                    .iter()
                    .filter_map(|(stamp, line)| Some((line.as_str(), docker_stamp(stamp)?)))
                    .filter(|(_, t)| *t > *last)
                    .collect();
                if let Some(newest) = fresh.iter().map(|(_, t)| *t).max() {
                    *last = newest;
                }
                parse_lines(name, fresh.into_iter().map(|(l, t)| (l, Some(t))))
            }
        }
    }
}

/// Why `follow` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `on_entry` said so (a stop condition met, a count reached).
    Done,
    Timeout,
    Interrupted,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Done => "done",
            Stop::Timeout => "timeout",
            Stop::Interrupted => "interrupted",
        }
    }
}

/// How often a followed source is read again.
const POLL: Duration = Duration::from_millis(250);

/// Give `on_entry` every line written to `sources` from now on that `filter`
/// keeps, in time order within each poll, until it returns false, `timeout`
/// passes or Ctrl-C. A node restart appends to the same file (or container
/// output) and a rotation is noticed, so neither ends the follow.
pub fn follow(
    ctx: &Context,
    sources: &[Source],
    filter: &Filter,
    timeout: Option<Duration>,
    mut on_entry: impl FnMut(&Entry) -> bool,
) -> HostResult<Stop> {
    let now = Utc::now();
    let mut cursors: Vec<Cursor> = sources.iter().map(|s| Cursor::at_end(s, now)).collect();
    let mut docker = None;
    let t0 = Instant::now();
    loop {
        let mut batch: Vec<Entry> = cursors
            .iter_mut()
            .flat_map(|c| c.poll(ctx, &mut docker))
            .filter(|e| filter.keeps(e))
            .collect();
        batch.sort_by_key(|e| e.time);
        for e in &batch {
            if !on_entry(e) {
                return Ok(Stop::Done);
            }
        }
        if crate::base::cancel::interrupted() {
            return Ok(Stop::Interrupted);
        }
        if timeout.is_some_and(|t| t0.elapsed() >= t) {
            return Ok(Stop::Timeout);
        }
        std::thread::sleep(POLL);
    }
}

// ---- rendering ---------------------------------------------------------------

/// Whether to colour: stdout is a terminal and NO_COLOR is unset or empty.
pub fn colour_wanted() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// One entry as a line: time, source, level, message, then the fields as
/// key=value. Secrets the configuration holds are masked, escape sequences
/// from a log are not passed to the terminal.
pub fn render(e: &Entry, colour: bool) -> String {
    let time = e.time.map(entry::rfc3339).unwrap_or_else(|| "-".repeat(24));
    let level = e.level.map_or("-", Level::as_str).to_ascii_uppercase();
    let mut text = e.message.clone();
    for (k, v) in &e.fields {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!(" {k}={v}"));
    }
    let text = crate::base::output::sanitize(&crate::base::redact::text(&text), false);
    if !colour {
        return format!("{time} {:<10} {level:<5} {text}", e.source);
    }
    let paint = match e.level {
        Some(Level::Error | Level::Fatal) => "\x1b[31m",
        Some(Level::Warn) => "\x1b[33m",
        Some(Level::Debug | Level::Trace) => "\x1b[2m",
        _ => "",
    };
    let reset = if paint.is_empty() { "" } else { "\x1b[0m" };
    format!(
        "\x1b[2m{time}\x1b[0m \x1b[36m{:<10}\x1b[0m {paint}{level:<5} {text}{reset}",
        e.source
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn colour_by_level_only_when_asked_and_never_a_log_escape() {
        let e = entry::parse(
            "weaviate-0",
            r#"{"level":"error","msg":"bad \u001b[2J","time":"2026-12-03T10:00:00Z"}"#,
            None,
        );
        let plain = render(&e, false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
        assert!(plain.contains("weaviate-0 ERROR bad"), "{plain:?}");
        let coloured = render(&e, true);
        assert!(coloured.contains("\x1b[31mERROR"), "{coloured:?}");
        assert!(!coloured.contains("\x1b[2J"), "{coloured:?}");
    }

    #[test]
    fn times_are_durations_back_or_points() {
        let now = at("2026-12-03T12:00:00Z");
        assert_eq!(parse_time("1h", now).unwrap(), at("2026-12-03T11:00:00Z"));
        assert_eq!(
            parse_time("2026-12-01T10:00:00Z", now).unwrap(),
            at("2026-12-01T10:00:00Z")
        );
        assert!(parse_time("2026-12-01T10:00", now).is_ok());
        let e = parse_time("yesterday-ish", now).unwrap_err();
        assert!(e.hint.contains("1h"), "{}", e.hint);
    }

    #[test]
    fn filter_by_time_level_and_regex() {
        let lines = [
            r#"{"level":"info","msg":"a","time":"2026-12-03T10:00:00Z"}"#,
            r#"{"level":"error","msg":"shard failed","time":"2026-12-03T10:00:05Z"}"#,
            "continuation without time",
            r#"{"level":"warning","msg":"slow","time":"2026-12-03T10:00:09Z"}"#,
        ];
        let entries = parse_lines("weaviate-0", lines.iter().map(|l| (*l, None)));
        assert_eq!(
            entries[2].time, entries[1].time,
            "inherits the time before it"
        );
        let f = Filter {
            level: Some(Level::Warn),
            ..Default::default()
        };
        let kept: Vec<_> = entries
            .iter()
            .filter(|e| f.keeps(e))
            .map(|e| e.message.as_str())
            .collect();
        assert_eq!(kept, ["shard failed", "slow"]);
        let f = Filter {
            since: Some(at("2026-12-03T10:00:05Z")),
            search: Some(Filter::search("shard|continuation").unwrap()),
            ..Default::default()
        };
        assert_eq!(entries.iter().filter(|e| f.keeps(e)).count(), 2);
        assert!(Filter::search("(unclosed").is_err());
    }

    #[test]
    fn a_followed_file_survives_truncation_and_replacement() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weaviate-0.log");
        fs::write(&path, "old line\n").unwrap();
        let src = Source {
            name: "weaviate-0".into(),
            service: "weaviate",
            location: LogLocation::File(path.clone()),
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let ctx = Context::new(Default::default(), rt.handle().clone());
        let mut cursor = Cursor::at_end(&src, Utc::now());
        let mut none = None;
        let mut w = fs::OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(w, "new line").unwrap();
        let got = cursor.poll(&ctx, &mut none);
        assert_eq!(
            got.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["new line"]
        );
        // Rotation by copy: truncated in place, the writer goes on at 0.
        crate::base::logfile::rotate_if_over(
            &path,
            crate::base::logfile::Rotation {
                max_bytes: 1,
                keep: 1,
            },
        )
        .unwrap();
        writeln!(w, "after rotation").unwrap();
        let got = cursor.poll(&ctx, &mut none);
        assert_eq!(
            got.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["after rotation"]
        );
        // Replaced by a new file (a node's log removed and started again).
        fs::remove_file(&path).unwrap();
        fs::write(&path, "fresh file\n").unwrap();
        let mut got = cursor.poll(&ctx, &mut none);
        got.extend(cursor.poll(&ctx, &mut none));
        assert_eq!(
            got.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["fresh file"]
        );
    }
}
