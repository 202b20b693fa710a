//! The daemon: fires jobs at their cron times, each as a child process of
//! this tool (so a failing or panicking job never takes the daemon down),
//! with a timeout, an overlap policy and a missed-run policy; reloads the job
//! list on SIGHUP or when the config file changes; on SIGTERM lets running
//! jobs finish within their timeouts, then exits.

use super::history::History;
use super::{next_times, parse_duration};
use crate::base::config::{Config, JobConfig};
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState, Signal};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static TERM: AtomicBool = AtomicBool::new(false);
static HUP: AtomicBool = AtomicBool::new(false);

/// Lines of a run's output kept in its history record.
const OUTPUT_LINES: usize = 20;

/// A job still running from a daemon that was killed (SIGKILL gives it no
/// chance to stop its children): its process group gets SIGTERM, then
/// SIGKILL. The start time guards against a recycled PID.
fn stop_leftover_job(run: &Value) {
    let Some(pid) = run["job_pid"].as_u64().map(|p| p as u32) else {
        return;
    };
    let rec = proc::PidRecord {
        pid,
        start_ticks: run["job_start_ticks"].as_u64().unwrap_or(0),
    };
    if rec.start_ticks == 0 || !proc::is_same_process(rec) {
        return;
    }
    log(&format!(
        "stopping job {} (PID {pid}), left running by a stopped daemon",
        run["job"].as_str().unwrap_or("?")
    ));
    let _ = proc::signal_group(pid, Signal::SIGTERM);
    if !proc::wait_gone(rec, Duration::from_secs(5)) {
        let _ = proc::signal_group(pid, Signal::SIGKILL);
    }
}

pub fn pid_file() -> PathBuf {
    paths::run_dir().join("daemon.pid")
}

pub fn log_file() -> PathBuf {
    paths::log_dir().join("daemon.log")
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn log(line: &str) {
    eprintln!(
        "{} {line}",
        humantime::format_rfc3339_millis(std::time::SystemTime::now())
    );
}

/// How a job is started: this binary, with the same config file.
pub struct Launcher {
    pub config_file: Option<PathBuf>,
}

impl Launcher {
    fn command(&self, job: &JobConfig) -> Command {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("elysiactl"));
        let mut c = Command::new(exe);
        if let Some(f) = &self.config_file {
            c.arg("--config").arg(f);
        }
        if job.playbook.is_empty() {
            c.args(&job.command);
        } else {
            c.arg("run").arg(&job.playbook);
        }
        c
    }
}

/// Write a run record, opening the store only for the write (the CLI reads
/// it while the daemon runs).
fn record(key: u128, run: &Value) {
    match History::open().and_then(|h| h.put(key, run)) {
        Ok(()) => {}
        Err(e) => log(&format!(
            "cannot record a run of {}: {}",
            run["job"], e.message
        )),
    }
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Run one job to its end (or its timeout) and record it.
pub fn execute(
    launcher: &Launcher,
    job: &JobConfig,
    scheduled_for: DateTime<Utc>,
    reason: &str,
) -> Value {
    let key = now_ns();
    let started = Utc::now();
    let lateness_ms = (started - scheduled_for).num_milliseconds();
    let timeout = parse_duration(&job.timeout, "timeout").unwrap_or(Duration::from_secs(3600));
    let mut run = json!({
        "job": job.name, "reason": reason, "scheduled_for": rfc3339(scheduled_for), "started": rfc3339(started),
        "lateness_ms": lateness_ms, "outcome": "running", "pid": std::process::id(),
    });
    record(key, &run);
    let t0 = Instant::now();
    let mut cmd = launcher.command(job);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            run["outcome"] = json!("failed");
            run["error"] = json!(format!("cannot start: {e}"));
            run["ended"] = json!(rfc3339(Utc::now()));
            record(key, &run);
            return run;
        }
    };
    let pid = child.id();
    // Recorded so that, should this daemon die, the next one can stop the job.
    run["job_pid"] = json!(pid);
    run["job_start_ticks"] = json!(proc::start_ticks_of(pid).unwrap_or(0));
    record(key, &run);
    // Keep the first lines of output and the last stdout line (a job's own
    // figures, when it prints JSON).
    let head: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let last: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let (head, last) = (head.clone(), last.clone());
        readers.push(std::thread::spawn(move || {
            let mut whole_json = String::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if head.lock().unwrap().len() < OUTPUT_LINES {
                    head.lock().unwrap().push(line.clone());
                }
                if whole_json.len() < 1 << 20 {
                    whole_json.push_str(&line);
                    whole_json.push('\n');
                }
                if !line.trim().is_empty() {
                    *last.lock().unwrap() = line;
                }
            }
            // A job that printed one JSON document (--json) gives its figures whole.
            if serde_json::from_str::<Value>(&whole_json).is_ok_and(|v| v.is_object()) {
                *last.lock().unwrap() = whole_json;
            }
        }));
    }
    if let Some(err) = child.stderr.take() {
        let head = head.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if head.lock().unwrap().len() < OUTPUT_LINES {
                    head.lock().unwrap().push(line);
                }
            }
        }));
    }
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        if !timed_out && t0.elapsed() > timeout {
            timed_out = true;
            // The whole process group: a job's own children go too.
            let _ = proc::signal_group(pid, Signal::SIGTERM);
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = proc::signal_group(pid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for r in readers {
        let _ = r.join();
    }
    let code = status.and_then(|s| s.code());
    let figures = serde_json::from_str::<Value>(last.lock().unwrap().trim())
        .ok()
        .filter(Value::is_object);
    run["ended"] = json!(rfc3339(Utc::now()));
    run["seconds"] = json!((t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    run["exit_code"] = json!(code);
    run["outcome"] = json!(if timed_out {
        "timeout"
    } else if code == Some(0) {
        "ok"
    } else {
        "failed"
    });
    run["output"] = json!(head.lock().unwrap().clone());
    run["figures"] = figures.unwrap_or(Value::Null);
    record(key, &run);
    run
}

struct Slot {
    job: JobConfig,
    next: Option<DateTime<Utc>>,
    running: Arc<AtomicUsize>,
}

pub(crate) fn load_jobs(
    config_file: &Option<PathBuf>,
    command_exists: super::CommandExists,
) -> HostResult<Vec<JobConfig>> {
    let cfg = Config::load(config_file.as_deref())?;
    let text = std::fs::read_to_string(config_file.clone().unwrap_or_else(paths::config_file))
        .unwrap_or_default();
    super::validate_all(&cfg.jobs, &text, command_exists)?;
    Ok(cfg.jobs)
}

fn mtime(p: &PathBuf) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The latest recorded start of a job, to find a run missed while down.
fn last_start(job: &str) -> Option<DateTime<Utc>> {
    let runs = History::open().ok()?.runs(Some(job), 1).ok()?;
    let s = runs.first()?["scheduled_for"].as_str()?.to_string();
    DateTime::parse_from_rfc3339(&s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn jitter(job: &JobConfig) -> Duration {
    let Ok(max) = parse_duration(&job.jitter, "jitter") else {
        return Duration::ZERO;
    };
    max.mul_f64(crate::base::retry::random_fraction())
}

/// How often the daemon rotates the log files that are over their size.
const ROTATION_EVERY: Duration = Duration::from_secs(60);

/// Rotate the services' logs and the daemon's own: the services never
/// reopen their log, so only something that outlives them can keep it small.
fn rotate_logs(config_file: &Option<PathBuf>) {
    let rotation = crate::base::config::Config::load(config_file.as_deref())
        .map(|c| c.logs)
        .unwrap_or_default();
    for path in crate::base::logfile::rotate_dir(&paths::log_dir(), rotation) {
        log(&format!("rotated {}", path.display()));
    }
}

/// Run the schedule in the foreground until SIGTERM (or Ctrl-C).
/// `command_exists` checks a job's command against the script catalog, which
/// lives above the domain.
pub fn run(
    config_file: Option<PathBuf>,
    command_exists: super::CommandExists,
) -> HostResult<Value> {
    let pf = pid_file();
    if let PidState::Running { pid } = proc::pid_state(&pf)? {
        if pid != std::process::id() {
            return Err(
                HostError::validation(format!("a daemon already runs as PID {pid}")).with_hint(
                    "`elysiactl daemon stop` stops it; `elysiactl daemon status` shows it",
                ),
            );
        }
    }
    std::fs::create_dir_all(paths::run_dir())
        .map_err(|e| HostError::io("cannot create the run folder", e))?;
    let me = std::process::id();
    if let Ok(orphans) = History::open().and_then(|h| h.close_orphans(me)) {
        if !orphans.is_empty() {
            log(&format!(
                "{} run(s) of a stopped daemon marked interrupted",
                orphans.len()
            ));
        }
        for run in &orphans {
            stop_leftover_job(run);
        }
    }
    let watched = config_file.clone().unwrap_or_else(paths::config_file);
    let launcher = Arc::new(Launcher {
        config_file: config_file.clone(),
    });
    let mut slots: HashMap<String, Slot> = HashMap::new();
    let mut seen_mtime = mtime(&watched);
    let reload = |slots: &mut HashMap<String, Slot>| -> HostResult<usize> {
        let jobs = load_jobs(&config_file, command_exists)?;
        let now = Utc::now();
        let mut fresh = HashMap::new();
        for job in jobs {
            if let Some(why) = super::never_fires(&job) {
                log(&format!("warning: job {}: {why}", job.name));
            }
            let running = slots
                .get(&job.name)
                .map(|s| s.running.clone())
                .unwrap_or_default();
            let next = if job.enabled {
                next_times(&job, now, 1).first().copied()
            } else {
                None
            };
            fresh.insert(job.name.clone(), Slot { job, next, running });
        }
        *slots = fresh;
        Ok(slots.len())
    };
    // A config that does not load is refused before the daemon claims its PID file.
    let n = reload(&mut slots)?;
    proc::write_pid_file(
        &pf,
        proc::PidRecord {
            pid: me,
            start_ticks: proc::start_ticks_of(me).unwrap_or(0),
        },
    )?;
    install_signal_flags();
    log(&format!("daemon {me} started with {n} job(s)"));
    let mut threads: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let spawn = |slot: &Slot, scheduled: DateTime<Utc>, reason: &'static str| {
        let job = slot.job.clone();
        let running = slot.running.clone();
        let launcher = launcher.clone();
        running.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            std::thread::sleep(jitter(&job));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                execute(&launcher, &job, scheduled, reason)
            }));
            match r {
                Ok(run) => log(&format!(
                    "{} {} ({}s)",
                    job.name,
                    run["outcome"].as_str().unwrap_or("?"),
                    run["seconds"]
                )),
                Err(_) => log(&format!(
                    "{}: the runner panicked; the daemon goes on",
                    job.name
                )),
            }
            running.fetch_sub(1, Ordering::SeqCst);
        })
    };
    // Runs missed while the daemon was down: once, now, where the job says so.
    let now = Utc::now();
    for slot in slots.values() {
        if slot.job.enabled && slot.job.missed == "once" {
            if let Some(last) = last_start(&slot.job.name) {
                if let Some(due) = next_times(&slot.job, last, 1)
                    .first()
                    .copied()
                    .filter(|d| *d < now)
                {
                    log(&format!(
                        "{}: running the run missed at {}",
                        slot.job.name,
                        rfc3339(due)
                    ));
                    threads.push(spawn(slot, due, "missed"));
                }
            }
        }
    }
    let mut last_rotation: Option<Instant> = None;
    while !TERM.load(Ordering::SeqCst) && !crate::base::cancel::interrupted() {
        if last_rotation.is_none_or(|t| t.elapsed() >= ROTATION_EVERY) {
            last_rotation = Some(Instant::now());
            rotate_logs(&config_file);
        }
        let changed = mtime(&watched) != seen_mtime;
        if HUP.swap(false, Ordering::SeqCst) || changed {
            seen_mtime = mtime(&watched);
            match reload(&mut slots) {
                Ok(n) => log(&format!("reloaded: {n} job(s)")),
                Err(e) => log(&format!(
                    "reload refused, keeping the old jobs: {} ({})",
                    e.message, e.hint
                )),
            }
        }
        let now = Utc::now();
        for slot in slots.values_mut() {
            let Some(due) = slot.next.filter(|d| *d <= now) else {
                continue;
            };
            slot.next = next_times(&slot.job, now, 1).first().copied();
            if slot.job.overlap == "skip" && slot.running.load(Ordering::SeqCst) > 0 {
                let key = now_ns();
                record(
                    key,
                    &json!({
                        "job": slot.job.name, "reason": "schedule", "scheduled_for": rfc3339(due),
                        "started": rfc3339(now), "ended": rfc3339(now), "outcome": "skipped",
                        "detail": "the previous run is still running (overlap = skip)",
                    }),
                );
                continue;
            }
            threads.push(spawn(slot, due, "schedule"));
        }
        threads.retain(|t| !t.is_finished());
        // Sleep until the next run is due, but wake twice a second to notice
        // signals and config changes: idle costs almost nothing, and a run
        // starts within milliseconds of its second.
        let now = Utc::now();
        let until_next = slots
            .values()
            .filter_map(|s| s.next)
            .min()
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_millis(500));
        std::thread::sleep(until_next.clamp(Duration::from_millis(1), Duration::from_millis(500)));
    }
    log(&format!(
        "stopping: waiting for {} running job(s)",
        threads.len()
    ));
    for t in threads {
        let _ = t.join();
    }
    let _ = std::fs::remove_file(&pf);
    log("daemon stopped");
    Ok(json!({"stopped": true}))
}

fn install_signal_flags() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        let _ = signal(Signal::SIGTERM, SigHandler::Handler(on_term));
        let _ = signal(Signal::SIGHUP, SigHandler::Handler(on_hup));
    }
}

extern "C" fn on_term(_: std::ffi::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

extern "C" fn on_hup(_: std::ffi::c_int) {
    HUP.store(true, Ordering::SeqCst);
}

/// Start the daemon in the background and return once it has written its PID file.
pub fn detach(config_file: Option<PathBuf>) -> HostResult<Value> {
    if let PidState::Running { pid } = proc::pid_state(&pid_file())? {
        return Err(
            HostError::validation(format!("a daemon already runs as PID {pid}"))
                .with_hint("`elysiactl daemon stop` stops it"),
        );
    }
    let _ = std::fs::remove_file(pid_file());
    let exe = std::env::current_exe().map_err(|e| HostError::io("cannot find this program", e))?;
    let mut args: Vec<String> = Vec::new();
    if let Some(f) = &config_file {
        args.push("--config".into());
        args.push(f.display().to_string());
    }
    args.push("daemon".into());
    let rec = proc::spawn(&proc::SpawnSpec {
        program: exe,
        args,
        pid_file: paths::run_dir().join("daemon-launch.pid"),
        log_file: log_file(),
        ..Default::default()
    })?;
    let _ = std::fs::remove_file(paths::run_dir().join("daemon-launch.pid"));
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) {
        if let PidState::Running { pid } = proc::pid_state(&pid_file())? {
            return Ok(json!({"pid": pid, "log": log_file()}));
        }
        if !proc::is_alive(rec.pid) {
            let tail = proc::tail_lines(&log_file(), 10).join("\n    ");
            return Err(
                HostError::unknown(format!("the daemon exited at once:\n    {tail}"))
                    .with_hint(format!("see {}", log_file().display())),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(HostError::timeout("the daemon did not start within 15 s")
        .with_hint(format!("see {}", log_file().display())))
}

pub fn status() -> HostResult<Value> {
    Ok(match proc::pid_state(&pid_file())? {
        PidState::Running { pid } => {
            let st = proc::stats(pid);
            json!({"running": true, "pid": pid, "uptime_seconds": st.as_ref().map(|s| s.uptime_seconds),
                   "cpu_percent": st.as_ref().map(|s| s.cpu_percent), "memory_bytes": st.as_ref().map(|s| s.rss_bytes),
                   "log": log_file()})
        }
        PidState::Stale { pid } => {
            json!({"running": false, "pid": pid, "detail": "the daemon died (stale PID file)"})
        }
        PidState::Absent => json!({"running": false, "pid": null, "detail": "not running"}),
    })
}

pub fn stop(timeout: Duration) -> HostResult<Value> {
    match proc::read_pid_file(&pid_file())? {
        None => Ok(json!({"stopped": "not running"})),
        Some(rec) => {
            let how = proc::terminate(rec, timeout)?;
            let _ = std::fs::remove_file(pid_file());
            Ok(json!({"stopped": how, "pid": rec.pid}))
        }
    }
}
