//! The host calling a script's own function back, in both languages:
//! `logs.follow(opts, on_line)` on the daemon's log, to which the test
//! appends lines while the playbook follows (no cluster needed). The
//! callback sees each entry, ends the follow by returning false, and an
//! error it raises comes back to the script intact; a function where the
//! host wants data, or data where it wants a function, is refused.

mod common;

use common::{Run, Stack};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn playbook(s: &Stack, name: &str, text: &str) -> PathBuf {
    let p = s.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs the playbook while a thread appends numbered warning lines to the
/// daemon's log every 100 ms, the way the daemon writes them.
fn run_while_the_daemon_logs(s: &Stack, name: &str, text: &str) -> Run {
    let log = s.state_dir().join("logs/daemon.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) && n < 600 {
                n += 1;
                let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                writeln!(f, "{now}  WARN line {n}").unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let p = playbook(s, name, text);
    let r = s.run(&["run", p.to_str().unwrap()]);
    done.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    r
}

#[test]
fn a_rhai_closure_sees_each_line_and_ends_the_follow() {
    let s = Stack::new("process", 1, false, "");
    let r = run_while_the_daemon_logs(
        &s,
        "follow.rhai",
        r#"
let seen = [];
let r = logs::follow(#{services: ["daemon"], timeout: "60s"}, |e| {
    seen.push(e.message);
    seen.len() < 3
});
out::line(`${r.stopped} ${r.lines} ${seen.len()}`);
out::line(seen[0]);
"#,
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "callback 3 3", "{}", r.stdout);
    assert!(lines[1].contains("line "), "{}", r.stdout);
}

#[test]
fn a_lua_function_sees_each_line_and_its_error_comes_back_intact() {
    let s = Stack::new("process", 1, false, "");
    let r = run_while_the_daemon_logs(
        &s,
        "follow.lua",
        r#"
local n = 0
local ok, e = pcall(logs.follow, {services = {"daemon"}, timeout = "60s"}, function(entry)
  n = n + 1
  if n == 2 then error({message = "second " .. entry.level, hint = "seen enough"}) end
end)
out.line(tostring(ok) .. " " .. e.message .. " " .. e.hint .. " " .. n)
local r = logs.follow({services = {"daemon"}, timeout = "60s"}, function(entry)
  n = n + 1
  return n < 4
end)
out.line(r.stopped .. " " .. r.lines)
"#,
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        ["false second warn seen enough 2", "callback 2"],
        "{}",
        r.stdout
    );
}

#[test]
fn functions_go_only_where_the_host_takes_one() {
    let s = Stack::new("process", 1, false, "");
    let p = playbook(&s, "wrong.rhai", "logs::read(|x| x);\n");
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("argument 1 (opts) must be a map of options, got a function"),
        "{}",
        r.stderr
    );
    let p = playbook(
        &s,
        "wrong.lua",
        "logs.follow({timeout = 1}, \"not a function\")\n",
    );
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("argument 2 (on_line) must be a function"),
        "{}",
        r.stderr
    );
}
