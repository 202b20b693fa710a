//! Bad input to the script engines, without a cluster: durations no clock
//! can hold, import cycles, deep values, scripts that loop where no hook
//! reaches, broken user scripts and headers, odd results and errors. Each
//! must end in a clear message and a non-zero exit, never a crash or a hang.

mod common;

use common::{Run, Stack};
use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn stack() -> Stack {
    Stack::new("process", 3, false, "")
}

/// Write a playbook into the test's home and return its path.
fn playbook(s: &Stack, name: &str, text: &str) -> PathBuf {
    let p = s.dir.path().join(name);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn run_playbook(s: &Stack, name: &str, text: &str, flags: &[&str]) -> Run {
    let p = playbook(s, name, text);
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["run", p.to_str().unwrap()]);
    s.run(&args)
}

/// Run elysiactl, but kill it and fail the test if it outlives `limit`:
/// for inputs that used to hang.
fn run_bounded(s: &Stack, args: &[&str], stdin: &str, limit: Duration) -> Run {
    let mut child = s
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn elysiactl");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
    }
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("elysiactl {args:?} still ran after {limit:?}; killed it");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

fn assert_clean_failure(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "wanted {needle:?} in:\n{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------
// Durations

#[test]
fn huge_durations_are_refused_with_a_message_not_a_panic() {
    let s = stack();
    let r = run_playbook(
        &s,
        "p.rhai",
        "out::line(1);\n",
        &["--script-timeout", "1e300"],
    );
    assert_clean_failure(&r, 1, "longer than the longest duration accepted");
    // Host functions: a catchable error in both languages.
    let r = run_playbook(
        &s,
        "d.rhai",
        "for f in [|| time::sleep(1e300), || time::format(1e20), || cluster::wait_ready(#{timeout: 1e300})] {\n\
         try { f.call(); out::line(\"returned\"); } catch (e) { out::line(e.category); }\n}\n",
        &[],
    )
    .ok();
    assert_eq!(
        r.stdout, "validation\nvalidation\nvalidation\n",
        "{}",
        r.stderr
    );
    let r = run_playbook(
        &s,
        "d.lua",
        "local ok, e = pcall(time.sleep, 1e300)\nout.line(tostring(ok), e.category)\n",
        &[],
    )
    .ok();
    assert_eq!(r.stdout.trim(), "false validation");
    // A job's timeout, from the command line and from the config file.
    let r = s.run(&[
        "schedule",
        "add",
        "j1",
        "--cron",
        "* * * * *",
        "--timeout",
        "1e300",
        "--",
        "status",
    ]);
    assert_clean_failure(&r, 1, "\"1e300\"");
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let before = std::fs::read_to_string(&cfg).unwrap();
    assert!(!before.contains("j1"), "a refused job was written");
    std::fs::write(
        &cfg,
        format!("{before}\n[[jobs]]\nname = \"j2\"\ncron = \"* * * * *\"\ncommand = [\"status\"]\ntimeout = \"1e300\"\n"),
    )
    .unwrap();
    let r = run_bounded(&s, &["daemon"], "", Duration::from_secs(30));
    assert_clean_failure(&r, 1, "\"1e300\"");
}

#[test]
fn the_repl_survives_a_huge_duration() {
    let s = stack();
    let r = run_bounded(
        &s,
        &["repl"],
        "time::sleep(1e300)\n40 + 2\n",
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("100 years"), "{}", r.stderr);
    assert!(r.stdout.contains("42"), "{}", r.stdout);
}

#[test]
fn a_script_timeout_in_plain_seconds_is_honoured() {
    let s = stack();
    let t0 = Instant::now();
    let r = run_playbook(
        &s,
        "slow.rhai",
        "time::sleep(20); out::line(\"slept\");\n",
        &["--script-timeout", "1"],
    );
    assert_eq!(r.code, 124, "{}{}", r.stdout, r.stderr);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "ran {:?}",
        t0.elapsed()
    );
    // The same text in the config file means the same thing.
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[script]\ntimeout = \"1\"\n")).unwrap();
    let r = run_playbook(&s, "slow.rhai", "time::sleep(20);\n", &[]);
    assert_eq!(r.code, 124, "{}{}", r.stdout, r.stderr);
}

// ---------------------------------------------------------------------------
// Imports

#[test]
fn an_import_cycle_is_named_not_a_stack_overflow() {
    let s = stack();
    let r = run_playbook(&s, "cyc/a.rhai", "import \"a\" as a;\nout::line(1);\n", &[]);
    assert_clean_failure(&r, 1, "import cycle");
    assert!(r.stderr.contains("a.rhai -> "), "{}", r.stderr);
    playbook(&s, "cyc/b.rhai", "import \"c\" as c;\n");
    playbook(&s, "cyc/c.rhai", "import \"b\" as b;\n");
    let r = run_playbook(&s, "cyc/main.rhai", "import \"b\" as b;\n", &[]);
    assert_clean_failure(&r, 1, "b.rhai -> ");
    assert!(r.stderr.contains("c.rhai -> "), "{}", r.stderr);
    let r = run_playbook(
        &s,
        "cyc/a.lua",
        "local a = require(\"a\")\nout.line(1)\n",
        &[],
    );
    assert_clean_failure(&r, 1, "import cycle");
    // Importing the same helper twice, not in a cycle, still works.
    playbook(&s, "ok/h.rhai", "fn twice(x) { x * 2 }\n");
    playbook(
        &s,
        "ok/g.rhai",
        "import \"h\" as h;\nfn four() { h::twice(2) }\n",
    );
    let r = run_playbook(
        &s,
        "ok/main.rhai",
        "import \"h\" as h;\nimport \"g\" as g;\nout::line(h::twice(1) + g::four());\n",
        &[],
    )
    .ok();
    assert_eq!(r.stdout.trim(), "6");
}

// ---------------------------------------------------------------------------
// Values crossing to the host

#[test]
fn deeply_nested_values_are_refused_not_a_stack_overflow() {
    let s = stack();
    let r = run_playbook(
        &s,
        "deep.lua",
        "local t = {} local c = t\nfor i = 1, 5000 do c.x = {} c = c.x end\nout.json(t)\n",
        &[],
    );
    assert_clean_failure(&r, 1, "nested deeper than 128 levels");
    let r = run_playbook(&s, "cycle.lua", "local t = {}\nt.x = t\nout.json(t)\n", &[]);
    assert_clean_failure(&r, 1, "contains itself");
    // Catchable, and the limit itself still passes.
    let r = run_playbook(
        &s,
        "deep.rhai",
        "let t = [];\nfor i in 0..8000 { t = [t]; }\n\
         try { out::json(t); } catch (e) { out::line(e.message); }\n\
         let ok = 1;\nfor i in 0..127 { ok = [ok]; }\nout::line(out::to_json(ok, #{pretty: false}).len());\n",
        &[],
    )
    .ok();
    assert!(
        r.stdout.contains("nested deeper than 128 levels"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("{}", 127 * 2 + 1)),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------
// User scripts and their headers

#[test]
fn one_broken_user_script_disables_itself_not_every_command() {
    let s = stack();
    let user = s.dir.path().join("config/elysiactl/scripts");
    std::fs::create_dir_all(user.join("grp")).unwrap();
    let fifo = user.join("x.rhai");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/nonexistent/script.rhai", user.join("dangling.rhai")).unwrap();
    std::os::unix::fs::symlink("..", user.join("grp/up")).unwrap();
    std::fs::write(user.join("latin1.lua"), b"--! Caf\xe9.\nout.line(1)\n").unwrap();
    std::fs::write(user.join("noname.rhai"), "//! About.\n//! @flag\n1\n").unwrap();
    std::fs::write(
        user.join("dup.rhai"),
        "//! About.\n//! @flag --n x\n//! @flag --n y\n1\n",
    )
    .unwrap();
    std::fs::write(
        user.join("helpflag.rhai"),
        "//! About.\n//! @flag -h --hosts x\n1\n",
    )
    .unwrap();
    std::fs::write(
        user.join("choice.rhai"),
        "//! About.\n//! @flag --n <N:nope> x\n1\n",
    )
    .unwrap();
    std::fs::write(user.join("good.rhai"), "//! Say hi.\nout::line(\"hi\");\n").unwrap();
    let limit = Duration::from_secs(30);
    for args in [&["--help"][..], &["--version"][..]] {
        let r = run_bounded(&s, args, "", limit);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for (file, why) in [
            ("x.rhai", "not a regular file"),
            ("dangling.rhai", "symlink to nothing"),
            ("latin1.lua", "not UTF-8"),
            ("noname.rhai", "needs a --long name"),
            ("dup.rhai", "same name"),
            ("helpflag.rhai", "taken by --help"),
            ("choice.rhai", "neither a value type"),
        ] {
            let line = r
                .stderr
                .lines()
                .find(|l| l.contains(&format!("/{file} is disabled")))
                .unwrap_or_else(|| panic!("no warning for {file}:\n{}", r.stderr));
            assert!(line.starts_with("warning: user script "), "{line}");
            assert!(line.contains(why), "{file}: {line}");
        }
        assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    }
    let r = run_bounded(&s, &["good"], "", limit);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "hi");
    // A disabled script is no command.
    let r = run_bounded(&s, &["dup"], "", limit);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn header_mistakes_in_a_playbook_are_reported_before_it_runs() {
    let s = stack();
    for (text, wanted) in [
        (
            "//! @flag --n x\n//! @flag --n y\nout::line(1);\n",
            "same name",
        ),
        (
            "//! @flag --help Mine\nout::line(1);\n",
            "flag of elysiactl itself",
        ),
        (
            "//! @flag --config <F> Mine\nout::line(1);\n",
            "flag of elysiactl itself",
        ),
        ("//! @flag\nout::line(1);\n", "needs a --long name"),
    ] {
        let r = run_playbook(&s, "h.rhai", text, &[]);
        assert_clean_failure(&r, 1, wanted);
        assert!(r.stdout.is_empty(), "it ran: {}", r.stdout);
    }
}

// ---------------------------------------------------------------------------
// Results, errors and what reaches the terminal

#[test]
fn only_0_to_255_is_an_exit_code() {
    let s = stack();
    for (name, text, code) in [
        ("neg.rhai", "-3\n", 1),
        ("big.rhai", "256\n", 1),
        ("neg.lua", "return -1\n", 1),
        ("ok.rhai", "255\n", 255),
        ("zero.lua", "return 0\n", 0),
        ("text.rhai", "\"done\"\n", 0),
    ] {
        let r = run_playbook(&s, name, text, &[]);
        assert_eq!(r.code, code, "{name}: {}", r.stderr);
        if code == 1 {
            assert!(
                r.stderr.contains("which is not an exit code"),
                "{}",
                r.stderr
            );
        }
    }
    // An error carries its own exit code, but never 0.
    let r = run_playbook(
        &s,
        "e.rhai",
        "throw #{message: \"no\", exit_code: 0};\n",
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn errors_without_a_message_still_say_something() {
    let s = stack();
    for (name, text, wanted) in [
        (
            "unit.rhai",
            "throw ();\n",
            "threw an error without a message",
        ),
        ("bare.rhai", "throw;\n", "threw an error without a message"),
        (
            "nil.lua",
            "\nerror(nil)\n",
            "nil.lua:2: the script raised an error without a message",
        ),
        (
            "empty.lua",
            "error({})\n",
            "without a message, only a table: {}",
        ),
        (
            "table.lua",
            "error({code = 5})\n",
            "only a table: {\"code\":5}",
        ),
    ] {
        let r = run_playbook(&s, name, text, &[]);
        assert_clean_failure(&r, 1, wanted);
        assert!(!r.stderr.contains("table: 0x"), "{}", r.stderr);
        assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    }
    // A table with a message reads like a host error, as a thrown map does in Rhai.
    let r = run_playbook(
        &s,
        "msg.lua",
        "error({message = \"disk full\", hint = \"free some space\", exit_code = 3})\n",
        &[],
    );
    assert_clean_failure(&r, 3, "error: disk full");
    assert!(r.stderr.contains("hint: free some space"), "{}", r.stderr);
}

#[test]
fn escape_sequences_from_scripts_and_paths_are_shown_not_obeyed() {
    let s = stack();
    let r = run_playbook(
        &s,
        "esc.lua",
        "out.line('a\\27[31mred\\7 b\\tc\\rd')\nout.table({{n = 'x\\27[2J'}})\n\
         out.json({s = '\\27[0m\\194\\155'})\nout.warn('w\\27]0;title\\7')\n",
        &[],
    )
    .ok();
    for out in [&r.stdout, &r.stderr] {
        assert!(
            !out.contains('\x1b') && !out.contains('\x07') && !out.contains('\r'),
            "{out:?}"
        );
        assert!(!out.contains('\u{9b}'), "{out:?}");
    }
    assert!(
        r.stdout.contains("a\\x1b[31mred\\x07 b\tc\\x0dd"),
        "{:?}",
        r.stdout
    );
    assert!(r.stdout.contains("x\\x1b[2J"), "{:?}", r.stdout);
    assert!(r.stdout.contains("\\u001b[0m\\u009b"), "{:?}", r.stdout);
    assert!(r.stderr.contains("w\\x1b]0;title\\x07"), "{:?}", r.stderr);
    let r = run_playbook(&s, "esc.rhai", "throw \"bad\\x1b[2J\";\n", &[]);
    assert_clean_failure(&r, 1, "bad\\x1b[2J");
    assert!(!r.stderr.contains('\x1b'), "{:?}", r.stderr);
    let r = s.run(&["run", "/nonexistent/\x1b[2Jplay.rhai"]);
    assert_clean_failure(&r, 1, "/nonexistent/\\x1b[2Jplay.rhai");
    assert!(!r.stderr.contains('\x1b'), "{:?}", r.stderr);
}

// ---------------------------------------------------------------------------
// Limits

#[test]
fn max_operations_0_means_no_limit_in_both_languages() {
    let s = stack();
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[script]\nmax_operations = 0\n")).unwrap();
    let r = run_playbook(
        &s,
        "count.rhai",
        "let x = 0;\nfor i in 0..20000 { x += 1; }\nout::line(x);\n",
        &[],
    )
    .ok();
    assert_eq!(r.stdout.trim(), "20000");
    let r = run_playbook(
        &s,
        "count.lua",
        "local x = 0\nfor i = 1, 20000 do x = x + 1 end\nout.line(x)\n",
        &[],
    )
    .ok();
    assert_eq!(r.stdout.trim(), "20000");
    // No operation limit, but the wall clock still stops an endless loop.
    for (name, text) in [
        ("loop.rhai", "loop { }\n"),
        ("loop.lua", "while true do end\n"),
    ] {
        let p = playbook(&s, name, text);
        let r = run_bounded(
            &s,
            &["--script-timeout", "1s", "run", p.to_str().unwrap()],
            "",
            Duration::from_secs(20),
        );
        assert_eq!(r.code, 124, "{name}: {}", r.stderr);
    }
}

/// Loops that Lua's hook did not reach: in a coroutine, behind pcall, in a
/// finalizer, in the pattern matcher.
const LUA_HANGS: &[(&str, &str)] = &[
    (
        "coroutine.lua",
        "coroutine.resume(coroutine.create(function() while true do end end))\n",
    ),
    (
        "wrap.lua",
        "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()\n",
    ),
    (
        "pcall.lua",
        "while true do pcall(function() while true do end end) end\n",
    ),
    (
        "pattern.lua",
        "local r = (\"x\"):rep(100):find((\"x*\"):rep(50) .. \"y\")\n",
    ),
    (
        "gsub.lua",
        "local r = (\"x\"):rep(100):gsub((\"x*\"):rep(50) .. \"y\", \"\")\n",
    ),
];

fn config_with(s: &Stack, name: &str, extra: &str) -> String {
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let p = s.dir.path().join(name);
    std::fs::write(&p, format!("{text}\n{extra}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn lua_loops_out_of_the_hooks_reach_stop_at_the_time_limit() {
    let s = stack();
    let unlimited = config_with(&s, "unlimited.toml", "[script]\nmax_operations = 0");
    for (name, text) in LUA_HANGS {
        let p = playbook(&s, name, text);
        let r = run_bounded(
            &s,
            &[
                "--config",
                &unlimited,
                "--script-timeout",
                "1s",
                "run",
                p.to_str().unwrap(),
            ],
            "",
            Duration::from_secs(20),
        );
        assert_eq!(r.code, 124, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains("longer than its limit"),
            "{name}: {}",
            r.stderr
        );
    }
}

#[test]
fn lua_loops_out_of_the_hooks_reach_stop_at_the_operation_limit() {
    let s = stack();
    let small = config_with(&s, "small.toml", "[script]\nmax_operations = 2000000");
    for (name, text) in LUA_HANGS {
        let p = playbook(&s, name, text);
        let r = run_bounded(
            &s,
            &["--config", &small, "run", p.to_str().unwrap()],
            "",
            Duration::from_secs(20),
        );
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(r.stderr.contains("operation limit"), "{name}: {}", r.stderr);
    }
}

#[test]
fn lua_loops_out_of_the_hooks_reach_stop_at_ctrl_c() {
    let s = stack();
    let unlimited = config_with(&s, "unlimited.toml", "[script]\nmax_operations = 0");
    for (name, text) in LUA_HANGS {
        let p = playbook(&s, name, &format!("out.line('looping')\n{text}"));
        let mut child = s
            .command(&["--config", &unlimited, "run", p.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Interrupt once the script is in its loop (it said so).
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert_eq!(line.trim(), "looping");
        common::signal(child.id(), "INT");
        let t0 = Instant::now();
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} ignored Ctrl-C for 20 s; killed it");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(code, Some(130), "{name}");
    }
}

#[test]
fn lua_finalizers_are_refused_they_run_beyond_every_limit() {
    let s = stack();
    let p = playbook(
        &s,
        "gc.lua",
        "setmetatable({}, {__gc = function() while true do end end})\ncollectgarbage()\n",
    );
    let r = run_bounded(
        &s,
        &["--script-timeout", "5s", "run", p.to_str().unwrap()],
        "",
        Duration::from_secs(20),
    );
    assert_clean_failure(&r, 1, "__gc finalizers are not allowed");
    // Other metatables are fine, and patterns still work as Lua's.
    let r = run_playbook(
        &s,
        "ok.lua",
        "local t = setmetatable({}, {__index = function(_, k) return k .. '!' end})\n\
         out.line(t.hi, ('key = value'):match('(%w+)%s*=%s*(%w+)'), (('a,b,,c'):gsub(',', ';')))\n\
         for w in ('one two'):gmatch('%a+') do out.line(w) end\n",
        &[],
    )
    .ok();
    assert_eq!(r.stdout, "hi! key a;b;;c\none\ntwo\n");
}
