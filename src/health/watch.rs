//! `health --watch`: sample the health report every interval and show it
//! live: a terminal dashboard (ratatui) when standard output is a terminal,
//! otherwise one line (or one JSON object) per sample. Alerts say what got
//! worse since the previous sample; `--export` writes every sample to a file:
//! a `.json` file holds one JSON array (rewritten atomically, so it is a
//! valid document at every moment), any other (`.ndjson`, `.jsonl`) gets one
//! line per sample appended.

use super::{check, Options};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct WatchOptions {
    pub interval: Duration,
    pub export: Option<PathBuf>,
    /// Stop after this many samples (scripts and tests); None runs until quit.
    pub count: Option<u64>,
    /// Line mode prints JSON objects instead of text.
    pub json: bool,
    /// Measure the replication lag (a write into a scratch collection,
    /// removed again) every this many samples; None: never.
    pub lag_every: Option<u64>,
    /// Alert when the measured lag is over this many milliseconds.
    pub lag_alert_ms: f64,
    /// Alert when a node's data filesystem is this full (percent).
    pub disk_alert_percent: f64,
}

impl WatchOptions {
    pub fn new(interval: Duration) -> WatchOptions {
        WatchOptions {
            interval,
            export: None,
            count: None,
            json: false,
            lag_every: None,
            lag_alert_ms: 1000.0,
            disk_alert_percent: 90.0,
        }
    }
}

/// How many samples the sparklines remember.
const HISTORY: usize = 120;

/// Bytes of the files under `dir` (not following links).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A node's data: its size, and the free and total space of the filesystem
/// it is on. Null where the runtime knows no data folder for it.
fn disk_of(rt: Option<&dyn crate::runtime::WeaviateRuntime>, index: usize) -> Value {
    let Some(path) = rt.and_then(|r| r.data_path(index).ok().flatten()) else {
        return Value::Null;
    };
    let used = dir_bytes(&path);
    match nix::sys::statvfs::statvfs(&path) {
        Ok(fs) => {
            let block = fs.fragment_size();
            let total = fs.blocks() * block;
            let free = fs.blocks_available() * block;
            let full = if total > 0 {
                ((total - (fs.blocks_free() * block)) as f64 / total as f64 * 1000.0).round() / 10.0
            } else {
                0.0
            };
            json!({"path": path, "used_bytes": used, "free_bytes": free, "total_bytes": total, "filesystem_used_percent": full})
        }
        Err(_) => json!({"path": path, "used_bytes": used}),
    }
}

/// The largest time until a write was visible on a node, from a lag probe.
fn lag_of(probe: &Value) -> Option<f64> {
    probe["visible_after_ms"]
        .as_object()?
        .values()
        .filter_map(Value::as_f64)
        .reduce(f64::max)
}

/// One sample: the parts of the health report a dashboard shows.
pub fn sample(ctx: &Context, previous: Option<&Value>, started: Instant) -> HostResult<Value> {
    sample_with(
        ctx,
        previous,
        started,
        &WatchOptions::new(Duration::from_secs(2)),
        0,
    )
}

/// `sample`, numbered `n` from 0: every `lag_every` samples (the first
/// included) the replication lag is measured; in between the last figure
/// is carried.
pub fn sample_with(
    ctx: &Context,
    previous: Option<&Value>,
    started: Instant,
    o: &WatchOptions,
    n: u64,
) -> HostResult<Value> {
    let report = check(
        ctx,
        &Options {
            verbose: true,
            ..Default::default()
        },
    )?;
    let rt = crate::services::weaviate::runtime_for(ctx).ok();
    let nodes: Vec<Value> = report["weaviate"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "node": n["node"], "ready": n["rest"]["ready"], "latency_ms": n["rest"]["latency_ms"],
                "raft_state": n["raft_state"], "objects": n["objects"],
                "cpu_percent": n["process"]["cpu_percent"], "memory_bytes": n["process"]["memory_bytes"],
                "detail": n["process"]["detail"], "disk": disk_of(rt.as_deref(), i),
            })
        })
        .collect();
    // The probe writes: only where a write can land (not with the cluster down).
    let measure = o.lag_every.is_some_and(|k| n.is_multiple_of(k)) && report["status"] != "down";
    let (lag_ms, lag_probe) = if measure {
        let probe = super::data::replication_lag(ctx, &mut super::Problems::default());
        (lag_of(&probe), probe)
    } else {
        let carried = previous.and_then(|p| p["replication_lag_ms"].as_f64());
        (carried, Value::Null)
    };
    let objects: i64 = nodes.iter().filter_map(|n| n["objects"].as_i64()).sum();
    let t = started.elapsed().as_secs_f64();
    let objects_per_s = previous.and_then(|p| {
        let dt = t - p["t"].as_f64()?;
        let before = p["objects"].as_i64()?;
        (dt > 0.0).then(|| ((objects - before) as f64 / dt * 10.0).round() / 10.0)
    });
    let mut s = json!({
        "time": report["checked_at"], "t": (t * 1000.0).round() / 1000.0,
        "environment": report["environment"],
        "status": report["status"], "exit_code": report["exit_code"],
        "summary": report["weaviate"]["summary"], "leader": report["weaviate"]["leader"],
        "voters": report["weaviate"]["voters"], "objects": objects, "objects_per_s": objects_per_s,
        "nodes": nodes, "elysia": report.get("elysia").cloned().unwrap_or(Value::Null),
        "problems": report["problems"],
        "replication_lag_ms": lag_ms, "lag_measured": measure, "lag_probe": lag_probe,
    });
    let mut all = alerts(previous, &s);
    all.extend(threshold_alerts(
        previous,
        &s,
        o.lag_alert_ms,
        o.disk_alert_percent,
    ));
    s["alerts"] = json!(all);
    // Samples are printed, drawn and exported: one mask for all three.
    crate::base::redact::json(&mut s);
    Ok(s)
}

fn rank(status: &Value) -> u8 {
    match status.as_str() {
        Some("healthy") => 0,
        Some("degraded") => 1,
        _ => 2,
    }
}

/// What changed for the worse since the previous sample (and what recovered).
pub fn alerts(previous: Option<&Value>, current: &Value) -> Vec<String> {
    let Some(prev) = previous else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if rank(&current["status"]) > rank(&prev["status"]) {
        out.push(format!(
            "status went from {} to {}",
            prev["status"].as_str().unwrap_or("?"),
            current["status"].as_str().unwrap_or("?")
        ));
    } else if rank(&current["status"]) < rank(&prev["status"]) {
        out.push(format!(
            "recovered: status is {} again",
            current["status"].as_str().unwrap_or("?")
        ));
    }
    let empty = Vec::new();
    let prev_nodes = prev["nodes"].as_array().unwrap_or(&empty);
    for n in current["nodes"].as_array().unwrap_or(&empty) {
        let before = prev_nodes.iter().find(|p| p["node"] == n["node"]);
        let name = n["node"].as_str().unwrap_or("?");
        match (before.map(|b| b["ready"] == true), n["ready"] == true) {
            (Some(true), false) => out.push(format!("{name} stopped being ready")),
            (Some(false), true) => out.push(format!("recovered: {name} is ready again")),
            _ => {}
        }
    }
    if prev["leader"] != current["leader"] {
        out.push(format!(
            "RAFT leader changed from {} to {}",
            prev["leader"].as_str().unwrap_or("none"),
            current["leader"].as_str().unwrap_or("none")
        ));
    }
    let old: Vec<&Value> = prev["problems"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|p| &p["message"])
        .collect();
    for p in current["problems"].as_array().unwrap_or(&empty) {
        if !old.contains(&&p["message"]) {
            out.push(format!(
                "new problem: {}",
                p["message"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// Where `--export` writes the samples, by the file's extension.
pub enum Export {
    /// `.ndjson`, `.jsonl` and anything else: one line per sample, appended.
    Lines(std::fs::File),
    /// `.json`: the samples as one array, the whole file replaced each time.
    Array { path: PathBuf, samples: Vec<Value> },
}

impl Export {
    pub fn open(path: &std::path::Path) -> HostResult<Export> {
        let cannot = |e| HostError::io(format!("cannot open {} for --export", path.display()), e);
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if !is_json {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(cannot)?;
            return Ok(Export::Lines(f));
        }
        // A watch started again on the same file continues its array; a file
        // that holds anything else is not overwritten.
        let samples = match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Vec::new(),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(v)) => v,
                _ => {
                    return Err(HostError::validation(format!(
                        "{} exists and is not a JSON array of samples",
                        path.display()
                    ))
                    .with_hint("export to a new file, or use .ndjson to append lines to any file"))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(cannot(e)),
        };
        let mut export = Export::Array {
            path: path.to_path_buf(),
            samples,
        };
        // Fail now, not after the first interval, when the folder is not writable.
        export.rewrite()?;
        Ok(export)
    }

    fn rewrite(&mut self) -> HostResult<()> {
        let Export::Array { path, samples } = self else {
            return Ok(());
        };
        let cannot = |e| {
            HostError::io(
                format!("cannot write the export file {}", path.display()),
                e,
            )
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let mut text = serde_json::to_string_pretty(samples).expect("samples serialize");
        text.push('\n');
        // Written aside and renamed over: a reader never sees half an array.
        if let Err(e) = std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, &*path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(cannot(e));
        }
        Ok(())
    }

    pub fn push(&mut self, s: &Value) -> HostResult<()> {
        match self {
            Export::Lines(f) => {
                let cannot = |e| HostError::io("cannot append to the export file", e);
                writeln!(f, "{s}").map_err(cannot)?;
                f.flush().map_err(cannot)
            }
            Export::Array { samples, .. } => {
                samples.push(s.clone());
                self.rewrite()
            }
        }
    }
}

/// Alerts for the thresholds: when a measured lag goes over `lag_ms`, and
/// when a node's data filesystem gets `disk_percent` full (the first sample
/// counts as a crossing); and when each comes back under.
pub fn threshold_alerts(
    previous: Option<&Value>,
    current: &Value,
    lag_ms: f64,
    disk_percent: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    let over_lag = |s: &Value| s["replication_lag_ms"].as_f64().is_some_and(|l| l > lag_ms);
    if current["lag_measured"] == true {
        let was = previous.is_some_and(over_lag);
        let lag = current["replication_lag_ms"].as_f64();
        match (was, over_lag(current)) {
            (false, true) => out.push(format!(
                "replication lag {} ms is over {lag_ms} ms",
                lag.unwrap_or_default()
            )),
            (true, false) => out.push(format!(
                "recovered: replication lag {} ms",
                lag.map(|l| l.to_string()).unwrap_or("unknown".into())
            )),
            _ => {}
        }
    }
    let full = |n: &Value| n["disk"]["filesystem_used_percent"].as_f64();
    let empty = Vec::new();
    for n in current["nodes"].as_array().unwrap_or(&empty) {
        let name = n["node"].as_str().unwrap_or("?");
        let before = previous
            .and_then(|p| p["nodes"].as_array())
            .and_then(|ns| ns.iter().find(|p| p["node"] == n["node"]))
            .and_then(full);
        match (before.is_some_and(|b| b >= disk_percent), full(n)) {
            (false, Some(now)) if now >= disk_percent => out.push(format!(
                "{name}: its data filesystem is {now}% full (alert at {disk_percent}%)"
            )),
            (true, Some(now)) if now < disk_percent => out.push(format!(
                "recovered: {name}'s data filesystem is {now}% full"
            )),
            _ => {}
        }
    }
    out
}

fn export_line(file: &mut Option<Export>, s: &Value) -> HostResult<()> {
    match file {
        Some(e) => e.push(s),
        None => Ok(()),
    }
}

pub fn watch(ctx: &Context, o: &WatchOptions) -> HostResult<Value> {
    let mut file = match &o.export {
        Some(p) => Some(Export::open(p)?),
        None => None,
    };
    if std::io::stdout().is_terminal() && !o.json {
        return dashboard(ctx, o, &mut file);
    }
    // Line mode: one sample per interval until the count or Ctrl-C.
    let started = Instant::now();
    let mut prev: Option<Value> = None;
    let mut n = 0u64;
    loop {
        let t0 = Instant::now();
        let s = sample_with(ctx, prev.as_ref(), started, o, n)?;
        export_line(&mut file, &s)?;
        if o.json {
            println!("{s}");
        } else {
            let nodes: Vec<String> = s["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    format!(
                        "{}:{}",
                        n["node"].as_str().unwrap_or("?"),
                        if n["ready"] == true { "up" } else { "DOWN" }
                    )
                })
                .collect();
            let elysia = match &s["elysia"] {
                Value::Null => "off".to_string(),
                e if e["up"] == true && e["weaviate_connected"] == true => "up".into(),
                e if e["up"] == true => "up, not reaching Weaviate".into(),
                _ => "DOWN".into(),
            };
            let lag = s["replication_lag_ms"]
                .as_f64()
                .map(|l| format!(" | lag {l} ms"))
                .unwrap_or_default();
            let data: u64 = s["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["disk"]["used_bytes"].as_u64())
                .sum();
            println!(
                "{} {} {} | {} | elysia {elysia} | objects {} | data {}{lag}",
                s["time"].as_str().unwrap_or(""),
                s["status"].as_str().unwrap_or("").to_uppercase(),
                s["summary"].as_str().unwrap_or(""),
                nodes.join(" "),
                s["objects"],
                crate::base::units::format_bytes(data),
            );
            for a in s["alerts"].as_array().into_iter().flatten() {
                println!("  ALERT {}", a.as_str().unwrap_or(""));
            }
        }
        let _ = std::io::stdout().flush();
        n += 1;
        prev = Some(s);
        if o.count.is_some_and(|c| n >= c) {
            break;
        }
        // Sleep out the interval in small steps so Ctrl-C stops promptly.
        while t0.elapsed() < o.interval {
            if crate::base::cancel::interrupted() {
                return Ok(json!({"samples": n, "interrupted": true}));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(json!({"samples": n}))
}

/// The live terminal dashboard. Sampling runs on its own thread so keys
/// stay responsive while a hung node holds a sample up.
fn dashboard(ctx: &Context, o: &WatchOptions, file: &mut Option<Export>) -> HostResult<Value> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
    let (tx, rx) = crossbeam_channel::bounded::<HostResult<Value>>(1);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let interval = o.interval;
    let count = o.count;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let started = Instant::now();
            let mut prev: Option<Value> = None;
            let mut n = 0u64;
            loop {
                let t0 = Instant::now();
                let s = sample_with(ctx, prev.as_ref(), started, o, n);
                if let Ok(v) = &s {
                    prev = Some(v.clone());
                }
                if tx.send(s).is_err() {
                    return;
                }
                n += 1;
                if count.is_some_and(|c| n >= c) {
                    return;
                }
                let wait = interval.saturating_sub(t0.elapsed());
                if stop_rx.recv_timeout(wait).is_ok() {
                    return;
                }
            }
        });
        let mut terminal = ratatui::init();
        let mut state = Dashboard::default();
        let result = loop {
            match rx.try_recv() {
                Ok(Ok(s)) => {
                    if let Err(e) = export_line(file, &s) {
                        break Err(e);
                    }
                    state.push(s);
                }
                Ok(Err(e)) => state.error = Some(e.message),
                Err(crossbeam_channel::TryRecvError::Disconnected) => break Ok(()),
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
            if let Err(e) = terminal.draw(|f| state.render(f, interval)) {
                break Err(HostError::io("cannot draw the dashboard", e));
            }
            if event::poll(Duration::from_millis(100)).unwrap_or(false) {
                if let Ok(Event::Key(k)) = event::read() {
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                        break Ok(());
                    }
                }
            }
            if crate::base::cancel::interrupted() {
                break Ok(());
            }
        };
        let _ = stop_tx.send(());
        ratatui::restore();
        drop(rx);
        result.map(|_| json!({"samples": state.samples}))
    })
}

#[derive(Default)]
struct Dashboard {
    last: Option<Value>,
    samples: u64,
    cpu: Vec<VecDeque<u64>>,
    memory: VecDeque<u64>,
    throughput: VecDeque<u64>,
    /// Replication lag in ms, one point per measurement.
    lag: VecDeque<u64>,
    /// All nodes' data, in MiB.
    disk: VecDeque<u64>,
    alerts: VecDeque<String>,
    error: Option<String>,
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(v);
}

impl Dashboard {
    fn push(&mut self, s: Value) {
        self.samples += 1;
        self.error = None;
        let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
        self.cpu.resize_with(nodes.len(), VecDeque::new);
        let mut mem = 0;
        for (i, n) in nodes.iter().enumerate() {
            push_bounded(
                &mut self.cpu[i],
                (n["cpu_percent"].as_f64().unwrap_or(0.0) * 10.0) as u64,
            );
            mem += n["memory_bytes"].as_u64().unwrap_or(0);
        }
        push_bounded(&mut self.memory, mem >> 20);
        let data: u64 = nodes
            .iter()
            .filter_map(|n| n["disk"]["used_bytes"].as_u64())
            .sum();
        push_bounded(&mut self.disk, data >> 20);
        if s["lag_measured"] == true {
            if let Some(l) = s["replication_lag_ms"].as_f64() {
                push_bounded(&mut self.lag, l.round() as u64);
            }
        }
        push_bounded(
            &mut self.throughput,
            s["objects_per_s"].as_f64().unwrap_or(0.0).max(0.0) as u64,
        );
        let time = s["time"]
            .as_str()
            .unwrap_or("")
            .get(11..19)
            .unwrap_or("")
            .to_string();
        for a in s["alerts"].as_array().into_iter().flatten() {
            if self.alerts.len() == 50 {
                self.alerts.pop_back();
            }
            self.alerts
                .push_front(format!("{time} {}", a.as_str().unwrap_or("")));
        }
        self.last = Some(s);
    }

    fn render(&self, f: &mut ratatui::Frame, interval: Duration) {
        use ratatui::layout::{Constraint, Layout};
        use ratatui::style::{Color, Modifier, Style};
        use ratatui::text::{Line, Span};
        use ratatui::widgets::{Block, Borders, List, Paragraph, Row, Sparkline, Table};
        let area = f.area();
        let nodes = self
            .last
            .as_ref()
            .and_then(|s| s["nodes"].as_array().cloned())
            .unwrap_or_default();
        let [top, table, sparks, alerts] = Layout::vertical([
            Constraint::Length(3),
            // The nodes, Elysia's row, the header and the borders.
            Constraint::Length(nodes.len() as u16 + 4),
            Constraint::Length(5),
            Constraint::Min(3),
        ])
        .areas(area);
        let (status, color) = match self.last.as_ref().and_then(|s| s["status"].as_str()) {
            Some("healthy") => ("HEALTHY", Color::Green),
            Some("degraded") => ("DEGRADED", Color::Yellow),
            Some(_) => ("DOWN", Color::Red),
            None => ("waiting for the first sample", Color::Gray),
        };
        let summary = self
            .last
            .as_ref()
            .and_then(|s| s["summary"].as_str())
            .unwrap_or("");
        let mut line = vec![
            Span::styled(
                status,
                Style::default().fg(color).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("  {summary}  ")),
        ];
        if let Some(e) = &self.error {
            line.push(Span::styled(
                format!("sample failed: {e}"),
                Style::default().fg(Color::Red),
            ));
        }
        f.render_widget(
            Paragraph::new(Line::from(line)).block(Block::default().borders(Borders::ALL).title(
                format!(
                    " elysiactl health --watch · every {} · {} samples · q quits ",
                    humantime::format_duration(interval),
                    self.samples
                ),
            )),
            top,
        );
        let bytes = |v: &Value| {
            v.as_u64()
                .map(crate::base::units::format_bytes)
                .unwrap_or("-".into())
        };
        let mut rows: Vec<Row> = nodes
            .iter()
            .map(|n| {
                let ready = n["ready"] == true;
                let cell = |v: &Value| match v {
                    Value::Null => "-".to_string(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Row::new(vec![
                    cell(&n["node"]),
                    if ready {
                        "ready".into()
                    } else {
                        "NOT READY".into()
                    },
                    n["latency_ms"]
                        .as_f64()
                        .map(|l| format!("{l} ms"))
                        .unwrap_or("-".into()),
                    cell(&n["raft_state"]),
                    n["cpu_percent"]
                        .as_f64()
                        .map(|c| format!("{c}%"))
                        .unwrap_or("-".into()),
                    n["memory_bytes"]
                        .as_u64()
                        .map(crate::base::units::format_bytes)
                        .unwrap_or("-".into()),
                    cell(&n["objects"]),
                    bytes(&n["disk"]["used_bytes"]),
                    bytes(&n["disk"]["free_bytes"]),
                    cell(&n["detail"]),
                ])
                .style(Style::default().fg(if ready {
                    Color::Reset
                } else {
                    Color::Red
                }))
            })
            .collect();
        let elysia = self
            .last
            .as_ref()
            .map(|s| s["elysia"].clone())
            .unwrap_or(Value::Null);
        let (state, ok) = match &elysia {
            Value::Null => ("off", true),
            e if e["up"] == true && e["weaviate_connected"] == true => ("ready", true),
            e if e["up"] == true => ("NO WEAVIATE", false),
            _ => ("DOWN", false),
        };
        rows.push(
            Row::new(vec![
                "elysia".to_string(),
                state.to_string(),
                elysia["latency_ms"]
                    .as_f64()
                    .map(|l| format!("{l} ms"))
                    .unwrap_or("-".into()),
                "-".into(),
                elysia["cpu_percent"]
                    .as_f64()
                    .map(|c| format!("{c}%"))
                    .unwrap_or("-".into()),
                bytes(&elysia["memory_bytes"]),
                "-".into(),
                "-".into(),
                "-".into(),
                elysia["detail"].as_str().unwrap_or("").to_string(),
            ])
            .style(Style::default().fg(if ok { Color::Reset } else { Color::Red })),
        );
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(12),
                    Constraint::Length(10),
                    Constraint::Length(10),
                    Constraint::Length(10),
                    Constraint::Length(8),
                    Constraint::Length(11),
                    Constraint::Length(9),
                    Constraint::Length(11),
                    Constraint::Length(11),
                    Constraint::Min(10),
                ],
            )
            .header(
                Row::new(vec![
                    "node",
                    "state",
                    "REST",
                    "RAFT",
                    "CPU",
                    "memory",
                    "objects",
                    "data",
                    "disk free",
                    "detail",
                ])
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(Block::default().borders(Borders::ALL).title(" nodes ")),
            table,
        );
        let n_cpu = self.cpu.len().max(1) as u32;
        let mut cons: Vec<Constraint> = (0..n_cpu)
            .map(|_| Constraint::Ratio(1, n_cpu + 4))
            .collect();
        for _ in 0..4 {
            cons.push(Constraint::Ratio(1, n_cpu + 4));
        }
        let cells = Layout::horizontal(cons).split(sparks);
        for (i, hist) in self.cpu.iter().enumerate() {
            let data: Vec<u64> = hist.iter().copied().collect();
            let name = nodes.get(i).and_then(|n| n["node"].as_str()).unwrap_or("?");
            f.render_widget(
                Sparkline::default()
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .title(format!(" CPU {name} ")),
                    )
                    .data(&data),
                cells[i],
            );
        }
        let mem: Vec<u64> = self.memory.iter().copied().collect();
        f.render_widget(
            Sparkline::default()
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" memory {} MiB ", mem.last().copied().unwrap_or(0))),
                )
                .data(&mem),
            cells[self.cpu.len()],
        );
        let thr: Vec<u64> = self.throughput.iter().copied().collect();
        f.render_widget(
            Sparkline::default()
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" objects/s {} ", thr.last().copied().unwrap_or(0))),
                )
                .data(&thr),
            cells[self.cpu.len() + 1],
        );
        let lag: Vec<u64> = self.lag.iter().copied().collect();
        f.render_widget(
            Sparkline::default()
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(match lag.last() {
                            Some(l) => format!(" replication lag {l} ms "),
                            None => " replication lag - ".to_string(),
                        }),
                )
                .data(&lag),
            cells[self.cpu.len() + 2],
        );
        let disk: Vec<u64> = self.disk.iter().copied().collect();
        f.render_widget(
            Sparkline::default()
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!(" data {} MiB ", disk.last().copied().unwrap_or(0))),
                )
                .data(&disk),
            cells[self.cpu.len() + 3],
        );
        let items: Vec<Line> = self
            .alerts
            .iter()
            .map(|a| {
                let style = if a.contains("recovered") {
                    Style::default().fg(Color::Green)
                } else {
                    Style::default().fg(Color::Yellow)
                };
                Line::styled(a.clone(), style)
            })
            .collect();
        f.render_widget(
            List::new(items).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" alerts (newest first) "),
            ),
            alerts,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(status: &str, ready: &[bool], leader: &str) -> Value {
        json!({
            "status": status, "leader": leader, "problems": [],
            "nodes": ready.iter().enumerate().map(|(i, r)| json!({"node": format!("weaviate-{i}"), "ready": r})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn alerts_name_what_got_worse_and_what_recovered() {
        let a = s("healthy", &[true, true, true], "weaviate-0");
        let b = s("degraded", &[true, true, false], "weaviate-0");
        assert!(alerts(None, &a).is_empty());
        let worse = alerts(Some(&a), &b);
        assert!(
            worse.contains(&"status went from healthy to degraded".to_string()),
            "{worse:?}"
        );
        assert!(
            worse.contains(&"weaviate-2 stopped being ready".to_string()),
            "{worse:?}"
        );
        let better = alerts(Some(&b), &a);
        assert!(
            better.iter().any(|x| x.contains("recovered: weaviate-2")),
            "{better:?}"
        );
        assert!(alerts(Some(&a), &a).is_empty());
    }

    fn with_lag_and_disk(lag: Option<f64>, measured: bool, full: f64) -> Value {
        let mut v = s("healthy", &[true], "weaviate-0");
        v["replication_lag_ms"] = json!(lag);
        v["lag_measured"] = json!(measured);
        v["nodes"][0]["disk"] =
            json!({"used_bytes": 1 << 20, "free_bytes": 1 << 30, "filesystem_used_percent": full});
        v
    }

    #[test]
    fn thresholds_alert_when_crossed_and_when_back() {
        let calm = with_lag_and_disk(Some(20.0), true, 50.0);
        let slow = with_lag_and_disk(Some(1500.0), true, 95.0);
        assert!(threshold_alerts(Some(&calm), &calm, 1000.0, 90.0).is_empty());
        let worse = threshold_alerts(Some(&calm), &slow, 1000.0, 90.0);
        assert_eq!(
            worse,
            [
                "replication lag 1500 ms is over 1000 ms",
                "weaviate-0: its data filesystem is 95% full (alert at 90%)"
            ]
        );
        // Still over: no repeat; a carried (unmeasured) figure never alerts.
        assert!(threshold_alerts(Some(&slow), &slow, 1000.0, 90.0).is_empty());
        let carried = with_lag_and_disk(Some(1500.0), false, 95.0);
        assert!(threshold_alerts(Some(&calm), &carried, 1000.0, 90.0)[0].contains("95% full"));
        let back = threshold_alerts(Some(&slow), &calm, 1000.0, 90.0);
        assert!(
            back.iter().all(|a| a.starts_with("recovered")) && back.len() == 2,
            "{back:?}"
        );
        // The first sample already over the disk threshold alerts.
        assert_eq!(threshold_alerts(None, &slow, 1000.0, 90.0).len(), 2);
    }

    #[test]
    fn the_dashboard_shows_elysia_disk_and_lag() {
        let mut d = Dashboard::default();
        let mut v = with_lag_and_disk(Some(42.0), true, 50.0);
        v["elysia"] =
            json!({"up": true, "weaviate_connected": true, "latency_ms": 3.0, "detail": ""});
        d.push(v);
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 30)).unwrap();
        term.draw(|f| d.render(f, Duration::from_secs(2))).unwrap();
        let screen: String = term
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        for want in [
            "elysia",
            "ready",
            "disk free",
            "1.0 GiB",
            "replication lag 42 ms",
            "data 1 MiB",
        ] {
            assert!(
                screen.contains(want),
                "{want:?} not on the dashboard:\n{screen}"
            );
        }
    }
}
