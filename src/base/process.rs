//! Local processes that outlive the command that started them: spawned in
//! their own session with a PID file and a log file, recognised again later
//! by PID *and* start time (so a recycled PID is never mistaken for ours).

use crate::base::error::{HostError, HostResult};
use nix::errno::Errno;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;
use procfs::process::{FDTarget, Process};
use procfs::Current;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub pid_file: PathBuf,
    pub log_file: PathBuf,
    /// The log is rotated at start when over this size (the daemon rotates
    /// it while the service runs).
    pub rotation: crate::base::logfile::Rotation,
}

/// The line `spawn` writes before a service's first line: a time for the
/// lines after it that carry none of their own (uvicorn's), for `logs`.
pub const START_MARKER: &str = "--- elysiactl: started ";

/// What a PID file records: the PID and the process start time in clock ticks
/// since boot (`starttime`, field 22 of /proc/PID/stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PidRecord {
    pub pid: u32,
    pub start_ticks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PidState {
    /// No PID file.
    Absent,
    /// The recorded process runs.
    Running { pid: u32 },
    /// The PID file names a process that is gone (or a recycled PID).
    Stale { pid: u32 },
}

pub fn spawn(spec: &SpawnSpec) -> HostResult<PidRecord> {
    if let PidState::Running { pid } = pid_state(&spec.pid_file)? {
        return Err(HostError::validation(format!(
            "{} already runs as PID {pid} (PID file {})",
            spec.program.display(),
            spec.pid_file.display()
        ))
        .with_hint("stop it first, or use restart"));
    }
    if !spec.program.exists() {
        return Err(HostError::fs(format!(
            "program {} does not exist",
            spec.program.display()
        )));
    }
    for dir in [spec.pid_file.parent(), spec.log_file.parent()]
        .into_iter()
        .flatten()
    {
        fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("cannot create {}", dir.display()), e))?;
    }
    if let Err(e) = crate::base::logfile::rotate_if_over(&spec.log_file, spec.rotation) {
        tracing::warn!("cannot rotate {}: {e}", spec.log_file.display());
    }
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_file)
        .map_err(|e| HostError::io(format!("cannot open log {}", spec.log_file.display()), e))?;
    {
        use std::io::Write;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let _ = writeln!(log, "{START_MARKER}{} at {now} ---", spec.program.display());
    }
    let log2 = log
        .try_clone()
        .map_err(|e| HostError::io("cannot duplicate the log handle", e))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group and session: a Ctrl-C in our terminal must not
        // reach a service we started, and it must outlive us.
        .process_group(0);
    for k in &spec.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(&spec.env);
    if let Some(cwd) = &spec.cwd {
        fs::create_dir_all(cwd)
            .map_err(|e| HostError::io(format!("cannot create {}", cwd.display()), e))?;
        cmd.current_dir(cwd);
    }
    let child = cmd
        .spawn()
        .map_err(|e| HostError::io(format!("cannot start {}", spec.program.display()), e))?;
    let pid = child.id();
    // The child is reaped by init once we exit; while we live, a reaper thread
    // keeps it from lingering as a zombie after it ends.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    let start_ticks = start_ticks(pid).unwrap_or(0);
    let rec = PidRecord { pid, start_ticks };
    write_pid_file(&spec.pid_file, rec)?;
    Ok(rec)
}

pub fn write_pid_file(path: &Path, rec: PidRecord) -> HostResult<()> {
    let tmp = path.with_extension("pid.tmp");
    fs::write(&tmp, format!("{}\n{}\n", rec.pid, rec.start_ticks))
        .and_then(|_| fs::rename(&tmp, path))
        .map_err(|e| HostError::io(format!("cannot write PID file {}", path.display()), e))
}

pub fn read_pid_file(path: &Path) -> HostResult<Option<PidRecord>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HostError::io(format!("cannot read {}", path.display()), e)),
    };
    let mut lines = text.lines();
    let pid = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
    let ticks = lines
        .next()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .unwrap_or(0);
    match pid {
        Some(pid) => Ok(Some(PidRecord {
            pid,
            start_ticks: ticks,
        })),
        None => Err(HostError::new(
            crate::base::error::Category::Encoding,
            format!("PID file {} is not a PID", path.display()),
        )
        .with_hint(format!("remove {} and try again", path.display()))),
    }
}

pub fn pid_state(path: &Path) -> HostResult<PidState> {
    Ok(match read_pid_file(path)? {
        None => PidState::Absent,
        Some(rec) if is_same_process(rec) => PidState::Running { pid: rec.pid },
        Some(rec) => PidState::Stale { pid: rec.pid },
    })
}

/// True while the process runs and is the one recorded (not a recycled PID,
/// not a zombie).
pub fn is_same_process(rec: PidRecord) -> bool {
    match read_stat(rec.pid) {
        Some(stat) => {
            stat.state != 'Z' && (rec.start_ticks == 0 || stat.start_ticks == rec.start_ticks)
        }
        None => false,
    }
}

pub fn is_alive(pid: u32) -> bool {
    matches!(read_stat(pid), Some(s) if s.state != 'Z')
}

/// A process that is already gone counts as signalled.
pub fn signal(pid: u32, sig: Signal) -> HostResult<()> {
    match nix::sys::signal::kill(Pid::from_raw(pid as i32), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(HostError::io(
            format!("cannot signal PID {pid}"),
            std::io::Error::from(e),
        )),
    }
}

pub fn signal_number(name: &str) -> HostResult<Signal> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match bare {
        "TERM" | "15" => Signal::SIGTERM,
        "KILL" | "9" => Signal::SIGKILL,
        "INT" | "2" => Signal::SIGINT,
        "HUP" | "1" => Signal::SIGHUP,
        "STOP" | "19" => Signal::SIGSTOP,
        "CONT" | "18" => Signal::SIGCONT,
        "QUIT" | "3" => Signal::SIGQUIT,
        "USR1" | "10" => Signal::SIGUSR1,
        "USR2" | "12" => Signal::SIGUSR2,
        _ => {
            return Err(HostError::validation(format!("unknown signal {name:?}"))
                .with_hint("use TERM, KILL, INT, HUP, STOP, CONT, QUIT, USR1 or USR2"))
        }
    })
}

/// Wait until the process is gone; true if it went within the timeout.
pub fn wait_gone(rec: PidRecord, timeout: Duration) -> bool {
    let deadline = crate::base::units::deadline_after(timeout);
    loop {
        if !is_same_process(rec) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, wait up to `timeout`, then SIGKILL. Returns how it ended.
pub fn terminate(rec: PidRecord, timeout: Duration) -> HostResult<&'static str> {
    if !is_same_process(rec) {
        return Ok("not running");
    }
    signal(rec.pid, Signal::SIGTERM)?;
    // A stopped (SIGSTOP) process cannot act on SIGTERM until it continues.
    signal(rec.pid, Signal::SIGCONT)?;
    if wait_gone(rec, timeout) {
        return Ok("terminated");
    }
    signal(rec.pid, Signal::SIGKILL)?;
    if wait_gone(rec, Duration::from_secs(10)) {
        Ok("killed")
    } else {
        Err(
            HostError::timeout(format!("PID {} survived SIGKILL for 10 s", rec.pid))
                .with_hint("check `ps` for a process stuck in the kernel (state D)"),
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcStats {
    pub pid: u32,
    pub state: String,
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    /// Average CPU use since the process started, in percent of one core.
    pub cpu_percent: f64,
    pub uptime_seconds: f64,
    pub threads: u64,
}

struct Stat {
    state: char,
    utime: u64,
    stime: u64,
    threads: u64,
    start_ticks: u64,
    rss_pages: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let stat = Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    Some(Stat {
        state: stat.state,
        utime: stat.utime,
        stime: stat.stime,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
        start_ticks: stat.starttime,
        rss_pages: stat.rss,
    })
}

fn start_ticks(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.start_ticks)
}

/// The start time of a process in clock ticks since boot (for PID files a
/// process writes about itself).
pub fn start_ticks_of(pid: u32) -> Option<u64> {
    start_ticks(pid)
}

/// Signal a whole process group (a child started with `process_group(0)`
/// and everything it started).
pub fn signal_group(pgid: u32, sig: Signal) -> HostResult<()> {
    nix::sys::signal::killpg(Pid::from_raw(pgid as i32), sig).map_err(|e| {
        HostError::io(
            format!("cannot signal process group {pgid}"),
            std::io::Error::from(e),
        )
    })
}

pub fn stats(pid: u32) -> Option<ProcStats> {
    let s = read_stat(pid)?;
    let hz = procfs::ticks_per_second() as f64;
    let cpu_seconds = (s.utime + s.stime) as f64 / hz;
    let boot_uptime = procfs::Uptime::current().ok()?.uptime;
    let uptime = (boot_uptime - s.start_ticks as f64 / hz).max(0.0);
    Some(ProcStats {
        pid,
        state: s.state.to_string(),
        rss_bytes: s.rss_pages * procfs::page_size(),
        cpu_seconds,
        cpu_percent: if uptime > 0.0 {
            (cpu_seconds / uptime * 100.0 * 10.0).round() / 10.0
        } else {
            0.0
        },
        uptime_seconds: uptime.round(),
        threads: s.threads,
    })
}

/// Whether something already listens on host:port (a connect succeeds).
pub fn port_in_use(host: &str, port: u16) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let Ok(mut addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// Which process holds a listening TCP port, from /proc (best effort: only
/// our own user's processes are visible when not root).
pub fn port_owner(port: u16) -> Option<(u32, String)> {
    let inodes: Vec<u64> = [procfs::net::tcp(), procfs::net::tcp6()]
        .into_iter()
        .flat_map(Result::unwrap_or_default)
        .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    for process in procfs::process::all_processes().ok()?.flatten() {
        let Ok(fds) = process.fd() else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| matches!(fd.target, FDTarget::Socket(inode) if inodes.contains(&inode)));
        if holds {
            let name = process.stat().map(|s| s.comm).unwrap_or_default();
            return Some((process.pid as u32, name));
        }
    }
    None
}

/// The last `n` lines of a file (for error messages about crashed services).
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_rotates_an_oversized_log_and_marks_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log");
        fs::write(&log, "an old run's output, over the limit\n").unwrap();
        let spec = SpawnSpec {
            program: "/bin/true".into(),
            pid_file: dir.path().join("s.pid"),
            log_file: log.clone(),
            rotation: crate::base::logfile::Rotation {
                max_bytes: 10,
                keep: 1,
            },
            ..Default::default()
        };
        spawn(&spec).unwrap();
        let rotated = crate::base::logfile::rotated(&log, 1);
        assert!(fs::read_to_string(rotated)
            .unwrap()
            .starts_with("an old run"));
        assert!(fs::read_to_string(&log).unwrap().starts_with(START_MARKER));
    }

    #[test]
    fn spawn_records_pid_and_terminate_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SpawnSpec {
            program: "/bin/sleep".into(),
            args: vec!["30".into()],
            pid_file: dir.path().join("s.pid"),
            log_file: dir.path().join("s.log"),
            ..Default::default()
        };
        let rec = spawn(&spec).unwrap();
        assert_eq!(
            pid_state(&spec.pid_file).unwrap(),
            PidState::Running { pid: rec.pid }
        );
        // A second spawn with the same PID file is refused.
        assert!(spawn(&spec).is_err());
        // The child may still be inside exec (no memory mapped yet): read
        // figures that are fixed by then, and memory from this process.
        let st = stats(rec.pid).unwrap();
        assert_eq!(st.pid, rec.pid);
        assert!(st.threads >= 1, "{st:?}");
        let me = stats(std::process::id()).unwrap();
        assert!(me.rss_bytes > 0 && me.threads >= 1, "{me:?}");
        assert_eq!(
            terminate(rec, Duration::from_secs(5)).unwrap(),
            "terminated"
        );
        assert_eq!(
            pid_state(&spec.pid_file).unwrap(),
            PidState::Stale { pid: rec.pid }
        );
    }

    #[test]
    fn recycled_pid_is_not_ours() {
        let me = std::process::id();
        let rec = PidRecord {
            pid: me,
            start_ticks: start_ticks(me).unwrap() + 1,
        };
        assert!(!is_same_process(rec));
    }

    #[test]
    fn garbage_pid_file_is_an_encoding_error_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        fs::write(&p, "not a pid").unwrap();
        let e = read_pid_file(&p).unwrap_err();
        assert!(e.hint.contains("remove"));
    }

    #[test]
    fn a_listening_port_is_traced_to_its_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (pid, name) = port_owner(port).unwrap();
        assert_eq!(pid, std::process::id());
        let me = fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(name, me.trim());
        drop(listener);
        assert_eq!(port_owner(port), None);
    }

    #[test]
    fn signal_names_parse() {
        assert_eq!(signal_number("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(signal_number("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(signal_number("19").unwrap(), Signal::SIGSTOP);
        assert!(signal_number("BOGUS").is_err());
    }
}
