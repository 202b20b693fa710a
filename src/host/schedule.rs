//! The scheduler from scripts: `schedule.add(#{name, cron, command})`,
//! `schedule.list()`, `schedule.history(#{job: "repo-sync"})`, and the
//! daemon: `daemon.run()`, `daemon.start()`, `daemon.status()`, `daemon.stop()`.

use super::{opt, read, required, write, Args, Host, HostFn, Ty};
use crate::base::config::{Config, JobConfig};
use crate::base::error::{HostError, HostResult};
use crate::schedule::{self, daemon, history::History};
use serde_json::{json, Value};

/// The jobs as the file says now (not as this process loaded them).
fn current_jobs(host: &Host) -> HostResult<Vec<JobConfig>> {
    let path = host.config.file_path();
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(Config::load(Some(&path))?.jobs)
}

fn command_exists(host: &Host) -> HostResult<super::CommandCheck> {
    host.commands.clone().ok_or_else(|| {
        HostError::unknown("this host was made without the command catalog")
            .with_hint("jobs are checked against the catalog the command line loads")
    })
}

/// Tell a running daemon to reload (it also notices the file change).
fn nudge_daemon() {
    if let Ok(crate::base::process::PidState::Running { pid }) =
        crate::base::process::pid_state(&daemon::pid_file())
    {
        let _ = crate::base::process::signal(pid, crate::base::process::Signal::SIGHUP);
    }
}

fn list(host: &Host, _: &Args) -> HostResult<Value> {
    let jobs = current_jobs(host)?;
    let hist = History::open().ok();
    let now = chrono::Utc::now();
    Ok(json!(jobs
        .iter()
        .map(|j| {
            let last = hist.as_ref().and_then(|h| h.runs(Some(&j.name), 1).ok()).and_then(|r| r.into_iter().next());
            json!({
                "name": j.name, "cron": j.cron, "enabled": j.enabled,
                "runs": if j.playbook.is_empty() { j.command.join(" ") } else { format!("playbook {}", j.playbook) },
                "timeout": j.timeout, "overlap": j.overlap, "missed": j.missed,
                "next": if j.enabled { schedule::next_times(j, now, 3).iter().map(|t| t.to_rfc3339()).collect::<Vec<_>>() } else { Vec::new() },
                "warning": schedule::never_fires(j),
                "last_outcome": last.as_ref().map(|r| r["outcome"].clone()),
                "last_started": last.as_ref().map(|r| r["started"].clone()),
            })
        })
        .collect::<Vec<_>>()))
}

fn job_from(a: &Args) -> HostResult<JobConfig> {
    let o = a.opts(0)?;
    let playbook = match o.str("playbook")? {
        Some(p) if !p.is_empty() => std::fs::canonicalize(&p)
            .map_err(|e| {
                HostError::io(format!("playbook {p}"), e)
                    .with_hint("give the path of an existing .rhai or .lua file")
            })?
            .display()
            .to_string(),
        _ => String::new(),
    };
    Ok(JobConfig {
        name: o.str("name")?.unwrap_or_default(),
        cron: o.str("cron")?.unwrap_or_default(),
        command: o.str_list("command")?.unwrap_or_default(),
        playbook,
        timeout: o.str("timeout")?.unwrap_or_else(|| "1h".into()),
        overlap: o.str("overlap")?.unwrap_or_else(|| "skip".into()),
        missed: o.str("missed")?.unwrap_or_else(|| "skip".into()),
        jitter: o.str("jitter")?.unwrap_or_default(),
        timezone: o.str("timezone")?.unwrap_or_default(),
        enabled: o.bool("enabled", true)?,
    })
}

/// What `add` and its dry run refuse: everything `validate` refuses (also
/// when loading a file), and a job that would never run, which a file may
/// keep (with a warning) but a new job should not start as.
fn check_new_job(host: &Host, job: &JobConfig) -> HostResult<()> {
    let exists = command_exists(host)?;
    schedule::validate(job, &*exists)
        .and_then(|()| schedule::never_fires(job).map_or(Ok(()), Err))
        .map_err(|e| {
            HostError::validation(format!("job {:?} refused: {e}", job.name))
                .with_hint("`elysiactl schedule add --help` shows the form")
        })
}

fn add(host: &Host, a: &Args) -> HostResult<Value> {
    let job = job_from(a)?;
    check_new_job(host, &job)?;
    schedule::update_jobs(&host.config.file_path(), |jobs| {
        if jobs.iter().any(|j| j.name == job.name) {
            return Err(HostError::validation(format!(
                "a job named {:?} already exists",
                job.name
            ))
            .with_hint("remove it first (`elysiactl schedule remove NAME`) or pick another name"));
        }
        jobs.push(job.clone());
        Ok(())
    })?;
    nudge_daemon();
    Ok(json!({"added": job.name, "next": next_runs(&job)}))
}

fn next_runs(job: &JobConfig) -> Vec<String> {
    schedule::next_times(job, chrono::Utc::now(), 3)
        .iter()
        .map(|t| t.to_rfc3339())
        .collect()
}

fn simulate_add(host: &Host, a: &Args) -> HostResult<Value> {
    let job = job_from(a)?;
    check_new_job(host, &job)?;
    Ok(json!({"added": job.name, "next": next_runs(&job), "dry_run": true}))
}

fn no_such_job(name: &str) -> HostError {
    HostError::validation(format!("there is no job named {name:?}"))
        .with_hint("`elysiactl schedule list` shows the jobs")
}

fn change(host: &Host, name: &str, f: impl Fn(&mut Vec<JobConfig>, usize)) -> HostResult<Value> {
    schedule::update_jobs(&host.config.file_path(), |jobs| {
        let i = jobs
            .iter()
            .position(|j| j.name == name)
            .ok_or_else(|| no_such_job(name))?;
        f(jobs, i);
        Ok(())
    })?;
    nudge_daemon();
    Ok(json!({"job": name}))
}

/// A dry run of remove, enable or disable: refused as the real call would
/// be, else its answer.
fn simulate_change(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    if !current_jobs(host)?.iter().any(|j| j.name == name) {
        return Err(no_such_job(&name));
    }
    Ok(json!({"job": name, "dry_run": true}))
}

fn remove(host: &Host, a: &Args) -> HostResult<Value> {
    change(host, &a.str(0)?, |jobs, i| {
        jobs.remove(i);
    })
}
fn enable(host: &Host, a: &Args) -> HostResult<Value> {
    change(host, &a.str(0)?, |jobs, i| jobs[i].enabled = true)
}
fn disable(host: &Host, a: &Args) -> HostResult<Value> {
    change(host, &a.str(0)?, |jobs, i| jobs[i].enabled = false)
}

fn find_job(host: &Host, name: &str) -> HostResult<JobConfig> {
    current_jobs(host)?
        .into_iter()
        .find(|j| j.name == name)
        .ok_or_else(|| no_such_job(name))
}

fn run_now(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    let job = find_job(host, &name)?;
    let launcher = daemon::Launcher {
        config_file: host.config.file.clone().filter(|f| f.exists()),
    };
    Ok(daemon::execute(
        &launcher,
        &job,
        chrono::Utc::now(),
        "manual",
    ))
}

/// A dry run of run: the record a real run leaves, with nothing run.
fn simulate_run(host: &Host, a: &Args) -> HostResult<Value> {
    let job = find_job(host, &a.str(0)?)?;
    let now = daemon::rfc3339(chrono::Utc::now());
    Ok(json!({
        "job": job.name, "reason": "manual", "scheduled_for": now, "started": now, "ended": now,
        "lateness_ms": 0, "outcome": "dry_run", "seconds": 0.0, "exit_code": 0,
        "output": [], "figures": null, "dry_run": true,
    }))
}

fn history(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let limit = o.int_in("limit", 50, 1, 100_000)? as usize;
    Ok(json!(
        History::open()?.runs(o.str("job")?.as_deref(), limit)?
    ))
}

fn daemon_run(host: &Host, _: &Args) -> HostResult<Value> {
    let exists = command_exists(host)?;
    let r = daemon::run(host.config.file.clone().filter(|f| f.exists()), &*exists);
    crate::base::cancel::restart_deadline();
    r
}
/// A dry run of the daemon: the jobs are loaded and checked as a start
/// would, and refused as it would be when a daemon already runs; nothing runs.
fn simulate_daemon_run(host: &Host, _: &Args) -> HostResult<Value> {
    if let crate::base::process::PidState::Running { pid } =
        crate::base::process::pid_state(&daemon::pid_file())?
    {
        return Err(
            HostError::validation(format!("a daemon already runs as PID {pid}"))
                .with_hint("`elysiactl daemon stop` stops it; `elysiactl daemon status` shows it"),
        );
    }
    let exists = command_exists(host)?;
    let jobs = daemon::load_jobs(&host.config.file.clone().filter(|f| f.exists()), &*exists)?;
    Ok(json!({"stopped": true, "jobs": jobs.len(), "dry_run": true}))
}

fn daemon_start(host: &Host, _: &Args) -> HostResult<Value> {
    daemon::detach(host.config.file.clone().filter(|f| f.exists()))
}
fn simulate_daemon_start(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!({"pid": null, "log": daemon::log_file(), "dry_run": true}))
}
fn daemon_status(_: &Host, _: &Args) -> HostResult<Value> {
    daemon::status()
}
fn daemon_stop(_: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    daemon::stop(
        o.duration("timeout")?
            .unwrap_or(std::time::Duration::from_secs(120)),
    )
}

/// A dry run of daemon.stop: what it would stop, nothing signalled.
fn simulate_daemon_stop(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(
        match crate::base::process::pid_state(&daemon::pid_file())? {
            crate::base::process::PidState::Running { pid } => {
                json!({"stopped": format!("would stop PID {pid}"), "pid": pid, "dry_run": true})
            }
            _ => json!({"stopped": "not running", "dry_run": true}),
        },
    )
}

pub fn functions() -> Vec<HostFn> {
    let job = || Ty::record(&["job"]);
    vec![
        read("schedule", "list", list)
            .returns(Ty::array(Ty::record(&["name", "cron", "enabled", "next"])))
            .doc("The jobs of the config file: name, cron, what it runs, enabled, timeout, overlap, missed, the next three run times, the last outcome."),
        write("schedule", "add", add, simulate_add)
            .param(
                "job",
                Ty::Opts(vec![
                    required("name", Ty::Str),
                    required("cron", Ty::Str),
                    opt("command", Ty::list_of(Ty::Str)),
                    opt("playbook", Ty::Str),
                    opt("timeout", Ty::Str),
                    opt("overlap", Ty::one_of(["skip", "allow"])),
                    opt("missed", Ty::one_of(["skip", "once"])),
                    opt("jitter", Ty::Str),
                    opt("timezone", Ty::Str),
                    opt("enabled", Ty::Bool),
                ]),
            )
            .returns(Ty::record(&["added", "next"]))
            .doc("Add a job to the config file after checking it: #{name, cron (5 fields, or 6 with seconds first), command: [\"index\", \"repos\"] or playbook: \"file.rhai\", timeout = \"1h\", overlap = \"skip\"|\"allow\", missed = \"skip\"|\"once\", jitter, timezone = \"local\"|\"UTC\"}. A running daemon reloads."),
        write("schedule", "remove", remove, simulate_change)
            .param("name", Ty::Str)
            .returns(job())
            .doc("Remove a job from the config file."),
        write("schedule", "enable", enable, simulate_change)
            .param("name", Ty::Str)
            .returns(job())
            .doc("Enable a job."),
        write("schedule", "disable", disable, simulate_change)
            .param("name", Ty::Str)
            .returns(job())
            .doc("Disable a job (kept in the file, not run)."),
        write("schedule", "run", run_now, simulate_run)
            .param("name", Ty::Str)
            .returns(Ty::record(&["job", "reason", "scheduled_for", "started", "outcome"]))
            .doc("Run a job now, in the foreground, with its timeout; recorded in the history like a scheduled run."),
        read("schedule", "history", history)
            .opts(vec![opt("job", Ty::Str), opt("limit", Ty::Int)])
            .returns(Ty::array(Ty::Map))
            .doc("Recorded runs, newest first: {job, reason, scheduled_for, started, ended, lateness_ms, outcome (ok|failed|timeout|skipped|running), exit_code, output (first lines), figures}. opts: job, limit = 50."),
        write("daemon", "run", daemon_run, simulate_daemon_run)
            .returns(Ty::record(&["stopped"]))
            .doc("Run the schedule in the foreground until SIGTERM or Ctrl-C (SIGHUP or a changed config file reloads the jobs). In a dry run the jobs are loaded and checked, and nothing runs."),
        write("daemon", "start", daemon_start, simulate_daemon_start)
            .returns(Ty::record(&["pid", "log"]))
            .doc("Start the daemon in the background with a PID file and a log file; returns {pid, log}."),
        read("daemon", "status", daemon_status)
            .returns(Ty::record(&["running", "pid"]))
            .doc("Whether the daemon runs: {running, pid, uptime_seconds, cpu_percent, memory_bytes, log}."),
        write("daemon", "stop", daemon_stop, simulate_daemon_stop)
            .opts(vec![opt("timeout", Ty::Duration)])
            .returns(Ty::record(&["stopped"]))
            .doc("Stop the daemon gracefully (SIGTERM: running jobs finish within their timeouts; SIGKILL after opts.timeout = 120 s)."),
    ]
}
