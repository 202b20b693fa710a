//! Script access to local processes: spawn with a PID file and a log file,
//! signal, wait, stats. PID and log files live under the tool's state
//! folder only, so a script cannot write files elsewhere through them.

use super::{opt, read, required, write, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use crate::base::process::{self as proc, PidState, SpawnSpec};
use serde_json::{json, Value};
use std::path::PathBuf;

/// `name` → `<state>/run/<name>.pid` and `<state>/logs/<name>.log`.
fn files_for(name: &str) -> HostResult<(PathBuf, PathBuf)> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(HostError::validation(format!(
            "process name {name:?} must be letters, digits, - or _"
        ))
        .with_hint("the name picks the PID and log files under the tool's state folder"));
    }
    Ok((
        paths::run_dir().join(format!("{name}.pid")),
        paths::log_dir().join(format!("{name}.log")),
    ))
}

fn spawn(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let name = o
        .str("name")?
        .ok_or_else(|| HostError::validation("process.start(): option `name` is required"))?;
    let program = o
        .str("program")?
        .ok_or_else(|| HostError::validation("process.start(): option `program` is required"))?;
    let (pid_file, log_file) = files_for(&name)?;
    let env = match o.get("env") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        Some(_) => {
            return Err(HostError::validation(
                "process.start(): option `env` must be a map",
            ))
        }
        None => Default::default(),
    };
    let rec = proc::spawn(&SpawnSpec {
        program: PathBuf::from(program),
        args: o.str_list("args")?.unwrap_or_default(),
        env,
        cwd: o.str("cwd")?.map(PathBuf::from),
        pid_file: pid_file.clone(),
        log_file: log_file.clone(),
        rotation: host.config.logs,
        ..Default::default()
    })?;
    Ok(json!({"name": name, "pid": rec.pid, "pid_file": pid_file, "log_file": log_file}))
}

/// The files a start would write, and no PID: nothing runs.
fn simulate_spawn(_: &Host, a: &Args) -> HostResult<Value> {
    let name = a.opts(0)?.str("name")?.unwrap_or_default();
    let (pid_file, log_file) = files_for(&name)?;
    Ok(
        json!({"name": name, "pid": null, "pid_file": pid_file, "log_file": log_file, "dry_run": true}),
    )
}

fn pid_of(a: &Args, i: usize) -> HostResult<u32> {
    match a.value(i) {
        Value::String(name) => {
            let (pid_file, _) = files_for(&name)?;
            match proc::pid_state(&pid_file)? {
                PidState::Running { pid } => Ok(pid),
                PidState::Stale { pid } => Err(HostError::validation(format!(
                    "process {name} (PID {pid}) is not running"
                ))),
                PidState::Absent => Err(HostError::validation(format!(
                    "no process named {name} was started"
                ))
                .with_hint("process.list() shows the named processes")),
            }
        }
        _ => Ok(a.int(i)?.max(0) as u32),
    }
}

fn signal_of(a: &Args) -> HostResult<proc::Signal> {
    proc::signal_number(&a.opt_str(1)?.unwrap_or_else(|| "TERM".into()))
}

fn signal(_: &Host, a: &Args) -> HostResult<Value> {
    let pid = pid_of(a, 0)?;
    proc::signal(pid, signal_of(a)?)?;
    Ok(json!(pid))
}

/// The PID the signal would go to; a bad name or signal is refused as it would be.
fn simulate_signal(_: &Host, a: &Args) -> HostResult<Value> {
    let pid = pid_of(a, 0)?;
    signal_of(a)?;
    Ok(json!(pid))
}

fn stop_timeout(a: &Args) -> HostResult<std::time::Duration> {
    Ok(a.opts(1)?
        .duration("timeout")?
        .unwrap_or(std::time::Duration::from_secs(10)))
}

fn stop(_: &Host, a: &Args) -> HostResult<Value> {
    let pid = pid_of(a, 0)?;
    let timeout = stop_timeout(a)?;
    let rec = proc::PidRecord {
        pid,
        start_ticks: 0,
    };
    Ok(json!(proc::terminate(rec, timeout)?))
}

/// What a stop would end with when the process heeds SIGTERM.
fn simulate_stop(_: &Host, a: &Args) -> HostResult<Value> {
    stop_timeout(a)?;
    let pid = pid_of(a, 0)?;
    Ok(json!(if proc::is_alive(pid) {
        "terminated"
    } else {
        "not running"
    }))
}

fn wait(_: &Host, a: &Args) -> HostResult<Value> {
    let pid = pid_of(a, 0)?;
    let timeout = a
        .opts(1)?
        .duration("timeout")?
        .unwrap_or(std::time::Duration::from_secs(30));
    let deadline = crate::base::units::deadline_after(timeout);
    while proc::is_alive(pid) {
        crate::base::cancel::check_interrupt()?;
        if std::time::Instant::now() > deadline {
            return Ok(json!(false));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(json!(true))
}

fn alive(_: &Host, a: &Args) -> HostResult<Value> {
    Ok(json!(pid_of(a, 0).map(proc::is_alive).unwrap_or(false)))
}

fn stats(_: &Host, a: &Args) -> HostResult<Value> {
    let pid = pid_of(a, 0)?;
    Ok(proc::stats(pid)
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .unwrap_or(Value::Null))
}

fn list(_: &Host, _: &Args) -> HostResult<Value> {
    let mut rows = Vec::new();
    if let Ok(rd) = std::fs::read_dir(paths::run_dir()) {
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pid"))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let state = proc::pid_state(&f).unwrap_or(PidState::Absent);
            rows.push(json!({"name": name, "state": state, "pid_file": f}));
        }
    }
    Ok(json!(rows))
}

fn log_tail(_: &Host, a: &Args) -> HostResult<Value> {
    let (_, log) = files_for(&a.str(0)?)?;
    let n = a.opt_int(1)?.unwrap_or(20).clamp(1, 10_000) as usize;
    Ok(json!(proc::tail_lines(&log, n)))
}

pub fn functions() -> Vec<HostFn> {
    let process = || Ty::Either(vec![Ty::Str, Ty::Int]);
    let timeout = || vec![opt("timeout", Ty::Duration)];
    vec![
        write("process", "start", spawn, simulate_spawn)
            .param(
                "opts",
                Ty::Opts(vec![
                    required("name", Ty::Str),
                    required("program", Ty::Str),
                    opt("args", Ty::list_of(Ty::Str)),
                    opt("env", Ty::Map),
                    opt("cwd", Ty::Str),
                ]),
            )
            .returns(Ty::record(&["name", "pid", "pid_file", "log_file"]))
            .doc("Start a program in the background: #{name, program, args?, env?, cwd?}. PID file and log go under the state folder, named by `name`. In a dry run pid is null."),
        write("process", "signal", signal, simulate_signal)
            .param("process", process())
            .optional("signal", Ty::Str)
            .returns(Ty::Int)
            .doc("Send a signal (TERM by default; KILL, INT, HUP, STOP, CONT, …) to a named process or a PID. Returns the PID."),
        write("process", "stop", stop, simulate_stop)
            .param("process", process())
            .opts(timeout())
            .returns(Ty::one_of(["terminated", "killed", "not running"]))
            .doc("SIGTERM, then SIGKILL after opts.timeout (default 10s). Returns \"terminated\", \"killed\" or \"not running\"."),
        read("process", "wait", wait)
            .param("process", process())
            .opts(timeout())
            .returns(Ty::Bool)
            .doc("Wait until the process ends (opts.timeout, default 30s); true if it did."),
        read("process", "alive", alive)
            .param("process", process())
            .returns(Ty::Bool)
            .doc("Whether the process runs."),
        read("process", "stats", stats)
            .param("process", process())
            .returns(Ty::Map.or_null())
            .doc("pid, state, rss_bytes, cpu_seconds, cpu_percent (average since start), uptime_seconds, threads; null when the process has gone."),
        read("process", "list", list)
            .returns(Ty::array(Ty::record(&["name", "state", "pid_file"])))
            .doc("Named processes with a PID file, and whether each runs."),
        read("process", "log", log_tail)
            .param("name", Ty::Str)
            .optional("lines", Ty::Int)
            .returns(Ty::array(Ty::Str))
            .doc("The last lines (default 20) of a named process's log."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_reach_outside_the_state_folder() {
        assert!(files_for("../../etc/x").is_err());
        assert!(files_for("").is_err());
        let (pid, log) = files_for("weaviate-0").unwrap();
        assert!(pid.ends_with("run/weaviate-0.pid") && log.ends_with("logs/weaviate-0.log"));
    }
}
