//! The command line without a cluster: help from script headers, bad input,
//! the sandbox, dry-run, configuration. Fast; no Weaviate needed.

mod common;

use common::Stack;

fn stack() -> Stack {
    Stack::new("process", 3, false, "")
}

#[test]
fn unknown_command_is_usage_error() {
    let r = stack().run(&["strat"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("unrecognized subcommand 'strat'"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("start"),
        "clap should suggest `start`: {}",
        r.stderr
    );
}

#[test]
fn help_comes_from_the_script_header() {
    let r = stack().run(&["start", "--help"]).ok();
    assert!(r.stdout.contains("Start the stack"), "{}", r.stdout);
    assert!(r.stdout.contains("--no-elysia"), "{}", r.stdout);
    assert!(r.stdout.contains("[default: 180]"), "{}", r.stdout);
    let r = stack().run(&["weaviate", "restart", "--help"]).ok();
    assert!(r.stdout.contains("--rolling"), "{}", r.stdout);
}

#[test]
fn commands_lists_builtin_and_user_scripts() {
    let s = stack();
    let user = s.dir.path().join("config/elysiactl/scripts");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("hello.lua"),
        "--! Say hello.\n--! @arg NAME Who\nout.line('hello ' .. args.name)\n",
    )
    .unwrap();
    let r = s.run(&["commands", "--json"]).ok();
    let rows = r.json();
    let find = |c: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["command"] == c)
            .cloned()
    };
    assert_eq!(find("start").unwrap()["kind"], "builtin");
    assert_eq!(
        find("weaviate restart").unwrap()["source"],
        "scripts/weaviate/restart.rhai"
    );
    assert_eq!(find("hello").unwrap()["kind"], "user");
    assert_eq!(find("run").unwrap()["kind"], "rust");
    let r = s.run(&["hello", "operator"]).ok();
    assert_eq!(r.stdout.trim(), "hello operator");
}

#[test]
fn broken_playbook_names_file_and_line() {
    let s = stack();
    let p = s.dir.path().join("broken.rhai");
    std::fs::write(&p, "let x = 1;\nlet y = ;\n").unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("broken.rhai:2"), "{}", r.stderr);
    assert!(r.stderr.contains("syntax error"), "{}", r.stderr);
    let p = s.dir.path().join("broken.lua");
    std::fs::write(&p, "local x = 1\nif x then\n").unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("broken.lua"), "{}", r.stderr);
    assert!(r.stderr.contains("syntax error"), "{}", r.stderr);
}

#[test]
fn missing_playbook_is_a_file_error() {
    let r = stack().run(&["run", "/nonexistent/play.rhai"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("cannot read playbook /nonexistent/play.rhai"),
        "{}",
        r.stderr
    );
}

#[test]
fn endless_loops_hit_the_operation_limit_in_both_languages() {
    let s = stack();
    let rhai = s.dir.path().join("loop.rhai");
    std::fs::write(&rhai, "loop { }\n").unwrap();
    let r = s.run(&["run", rhai.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("operation limit"), "{}", r.stderr);
    let lua = s.dir.path().join("loop.lua");
    std::fs::write(&lua, "while true do end\n").unwrap();
    let r = s.run(&["run", lua.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("operation limit"), "{}", r.stderr);
}

#[test]
fn wall_clock_limit_stops_a_sleeping_script() {
    let s = stack();
    let p = s.dir.path().join("slow.rhai");
    std::fs::write(&p, "time::sleep(\"30s\");\n").unwrap();
    let r = s.run(&["--script-timeout", "1s", "run", p.to_str().unwrap()]);
    assert_eq!(r.code, 124, "{}", r.stderr);
    assert!(r.stderr.contains("longer than its limit"), "{}", r.stderr);
}

#[test]
fn sandbox_has_no_file_or_process_access() {
    let s = stack();
    // Prints the names of the escapes that are there, so a failure names them.
    let p = s.dir.path().join("escape.lua");
    std::fs::write(
        &p,
        "local there = {}\n\
         for _, name in ipairs({'io', 'os', 'dofile', 'loadfile', 'package', 'debug'}) do\n\
           if _G[name] ~= nil then there[#there + 1] = name end\n\
         end\n\
         out.line('escapes: ' .. table.concat(there, ', '))\n",
    )
    .unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]).ok();
    assert_eq!(r.stdout.trim(), "escapes:");
    let p = s.dir.path().join("escape.rhai");
    std::fs::write(&p, "import \"../../../etc/passwd\" as x;\n").unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("outside the playbook's folder"),
        "{}",
        r.stderr
    );
    let p = s.dir.path().join("spawn.rhai");
    std::fs::write(
        &p,
        "process::start(#{name: \"../x\", program: \"/bin/true\"});\n",
    )
    .unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("must be letters"), "{}", r.stderr);
}

#[test]
fn host_errors_carry_category_and_hint_into_scripts() {
    let s = stack();
    let p = s.dir.path().join("catch.rhai");
    std::fs::write(
        &p,
        "try { time::sleep(\"soon\"); } catch (e) { out::line(e.category); out::line(e.hint); }\n",
    )
    .unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]).ok();
    assert!(r.stdout.starts_with("validation\n"), "{}", r.stdout);
    assert!(r.stdout.contains("30s"), "{}", r.stdout);
    let p = s.dir.path().join("catch.lua");
    std::fs::write(
        &p,
        "local ok, e = pcall(time.sleep, 'soon')\nout.line(tostring(ok), e.category)\n",
    )
    .unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]).ok();
    assert_eq!(r.stdout.trim(), "false validation");
}

#[test]
fn playbook_flags_are_parsed_and_exit_code_is_the_result() {
    let s = stack();
    let p = s.dir.path().join("flags.rhai");
    std::fs::write(&p, "//! Check flags.\n//! @flag --count <N:int> How many [default: 2]\nout::line(`count=${args.count}`);\nargs.count + 1\n").unwrap();
    let r = s.run(&["run", p.to_str().unwrap(), "--count", "4"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "count=4");
    let r = s.run(&["run", p.to_str().unwrap(), "--count", "many"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid value 'many'"), "{}", r.stderr);
}

#[test]
fn dry_run_records_writes_and_later_reads_see_them() {
    let s = stack();
    let p = s.dir.path().join("plan.rhai");
    std::fs::write(&p, "service::stop(\"elysia\");\nlet st = process::start(#{name: \"x\", program: \"/bin/sleep\", args: [\"100\"]});\nout::line(`pid=${st.pid}`);\nout::line(`planned=${config::plan().len()}`);\n").unwrap();
    let r = s.run(&["--dry-run", "run", p.to_str().unwrap()]).ok();
    assert!(
        r.stderr
            .contains("[dry-run] would service.stop(\"elysia\")"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("[dry-run] 2 changes planned, none made"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("pid=\n") || r.stdout.contains("pid=()"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("planned=2"), "{}", r.stdout);
    assert!(s.live_pids().is_empty(), "dry-run started a process");
}

/// `health --watch --export` appends to a file: under --dry-run the watch
/// still samples (reads run), but the file is only planned.
#[test]
fn dry_run_health_watch_writes_no_export_file() {
    let s = stack();
    let export = s.dir.path().join("samples.ndjson");
    let export_s = export.to_str().unwrap();
    let r = s.run(&[
        "--dry-run",
        "health",
        "--watch",
        "--count",
        "1",
        "--export",
        export_s,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("DOWN"),
        "the sample is shown: {}",
        r.stdout
    );
    assert!(!export.exists(), "dry-run wrote {export_s}");
    assert!(
        r.stderr.contains("would health.watch_export") && r.stderr.contains(export_s),
        "{}",
        r.stderr
    );
    s.run(&["health", "--watch", "--count", "1", "--export", export_s])
        .ok();
    let lines = std::fs::read_to_string(&export).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
}

#[test]
fn config_show_redacts_keys_and_env_overrides() {
    let s = stack();
    let r = s
        .run_with(
            &["config", "show", "--json"],
            &[("WEAVIATE_API_KEY", "sekrit-123"), ("ELYSIA_PORT", "8123")],
        )
        .ok();
    assert!(!r.stdout.contains("sekrit-123"), "{}", r.stdout);
    let v = r.json();
    assert_eq!(v["weaviate"]["api_key"], "***");
    assert_eq!(v["elysia"]["port"], 8123);
    let r = s
        .run_with(&["config", "show"], &[("WEAVIATE_API_KEY", "sekrit-123")])
        .ok();
    assert!(!r.stdout.contains("sekrit-123"));
    assert!(
        r.stdout.contains("environment WEAVIATE_API_KEY"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_config_names_the_line_and_changes_nothing() {
    let s = stack();
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[script]\nmax_operations = \"lots\"\n");
    std::fs::write(&cfg, text).unwrap();
    let r = s.run(&["status"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("config.toml"), "{}", r.stderr);
    assert!(r.stderr.contains("line"), "{}", r.stderr);
}

#[test]
fn api_lists_every_module_with_signatures() {
    let r = stack().run(&["api", "--json"]).ok();
    let v = r.json();
    let modules: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    for m in [
        "cluster", "docker", "process", "service", "install", "out", "time", "config",
    ] {
        assert!(modules.contains(&m), "{m} missing from {modules:?}");
    }
    let service = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "service")
        .unwrap();
    let start = service["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "start")
        .unwrap();
    assert_eq!(start["writes"], true);
    assert_eq!(start["params"][0]["name"], "name");
    assert_eq!(
        start["params"][0]["type"],
        serde_json::json!({"one_of": ["weaviate", "elysia"]})
    );
    assert_eq!(start["params"][1]["optional"], true);
    let health = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "health")
        .unwrap();
    let check = health["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "check")
        .unwrap();
    assert_eq!(check["writes"], false);
    assert_eq!(check["writes_when"], serde_json::json!(["data"]));
}

/// Arguments are checked against each function's declaration before it
/// runs, with the same words in both languages (no cluster runs here, so
/// reaching the function would be a network error instead).
#[test]
fn arguments_are_checked_against_the_declaration_in_both_languages() {
    let s = stack();
    let cases = [
        (
            "cluster::nodes(#{verbos: true})",
            "cluster.nodes({verbos = true})",
            "cluster.nodes(): unknown option `verbos`",
            "known options: verbose, node, collection",
        ),
        (
            "service::start(\"redis\")",
            "service.start('redis')",
            "service.start(): argument 1 (name) must be one of \"weaviate\", \"elysia\", got \"redis\"",
            "signature: service.start(name: \"weaviate\"|\"elysia\"",
        ),
        (
            "service::stop(\"elysia\", #{nodes: [1]})",
            "service.stop('elysia', {nodes = {1}})",
            "service.stop(): option `nodes` is not an option for \"elysia\"",
            "known options for \"elysia\": timeout",
        ),
        (
            "embed::vectors(\"x\", #{embedder: \"bert\"})",
            "embed.vectors('x', {embedder = 'bert'})",
            "option `embedder` must be one of \"none\", \"static\", \"minilm\", \"openai\", got \"bert\"",
            "",
        ),
        (
            "process::start(#{program: \"/bin/true\"})",
            "process.start({program = '/bin/true'})",
            "process.start(): option `name` is required",
            "give name: string",
        ),
        (
            "index::errors(#{reset: true})",
            "index.errors({reset = true})",
            "`reset` is not an option of index.errors()",
            "index.reset_errors()",
        ),
    ];
    for (rhai, lua, message, hint) in cases {
        for (file, text) in [
            ("c.rhai", format!("{rhai};\n")),
            ("c.lua", format!("{lua}\n")),
        ] {
            let p = s.dir.path().join(file);
            std::fs::write(&p, text).unwrap();
            let r = s.run(&["run", p.to_str().unwrap()]);
            assert_eq!(r.code, 1, "{file}: {rhai}: {}", r.stderr);
            assert!(r.stderr.contains(message), "{file}: {}", r.stderr);
            assert!(r.stderr.contains(hint), "{file}: {}", r.stderr);
        }
    }
}

#[test]
fn completions_are_generated() {
    let r = stack().run(&["completions", "bash"]).ok();
    assert!(
        r.stdout.contains("elysiactl"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    assert!(r.stdout.contains("rolling"));
}

#[test]
fn status_of_a_stack_that_is_not_running_says_so() {
    let s = Stack::new("process", 3, true, "");
    let r = s.run(&["status"]);
    assert_eq!(r.code, 1, "nothing runs: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("weaviate-2"), "{}", r.stdout);
    assert!(r.stdout.contains("not started"), "{}", r.stdout);
    assert!(r.stdout.contains("Elysia: down"), "{}", r.stdout);
    let v = s.run(&["status", "--json"]).json();
    assert_eq!(v["up"], false);
    assert_eq!(v["weaviate"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(v["weaviate"]["nodes"][0]["running"], false);
    assert_eq!(v["elysia"]["running"], false);
    assert_eq!(v["elysia"]["detail"], "not started");
}

/// `weaviate status` and `elysia status` print the same tables as `status`,
/// one service each, and say that nothing runs.
#[test]
fn one_service_status_prints_its_table_when_nothing_runs() {
    let s = Stack::new("process", 3, true, "");
    let r = s.run(&["weaviate", "status"]);
    assert_eq!(r.code, 1, "nothing runs: {}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Weaviate (process): 0/3 ready"),
        "{}",
        r.stdout
    );
    for i in 0..3 {
        assert!(r.stdout.contains(&format!("weaviate-{i}")), "{}", r.stdout);
    }
    assert!(r.stdout.contains("not started"), "{}", r.stdout);
    assert!(!r.stdout.contains("Elysia"), "{}", r.stdout);
    let r = s.run(&["elysia", "status"]);
    assert_eq!(r.code, 1, "nothing runs: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Elysia: down"), "{}", r.stdout);
    assert!(r.stdout.contains("not started"), "{}", r.stdout);
    assert!(!r.stdout.contains("Weaviate ("), "{}", r.stdout);
}

/// `weaviate logs` reads every node's log; `--lines 0` prints nothing, as
/// `tail -n 0` does, and a negative count is refused.
#[test]
fn weaviate_logs_line_counts() {
    let s = stack();
    let log_dir = s.state_dir().join("logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    for i in 0..3 {
        std::fs::write(
            log_dir.join(format!("weaviate-{i}.log")),
            format!("node {i} line 1\nnode {i} line 2\nnode {i} line 3\n"),
        )
        .unwrap();
    }
    let r = s.run(&["weaviate", "logs", "--lines", "2"]).ok();
    assert_eq!(
        r.stdout,
        (0..3)
            .map(|i| format!("==> weaviate-{i} <==\nnode {i} line 2\nnode {i} line 3\n"))
            .collect::<String>()
    );
    let r = s.run(&["weaviate", "logs", "--node", "1", "-n", "1"]).ok();
    assert_eq!(r.stdout, "==> weaviate-1 <==\nnode 1 line 3\n");
    let r = s.run(&["weaviate", "logs", "--lines", "0"]).ok();
    assert_eq!(r.stdout, "", "{}", r.stderr);
    let r = s.run(&["weaviate", "logs", "--node", "7", "--lines", "0"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("there is no node 7"), "{}", r.stderr);
    let r = s.run(&["weaviate", "logs", "--lines=-1"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("-1"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
}

#[test]
fn stopping_what_is_not_running_is_not_an_error() {
    let s = stack();
    let r = s.run(&["stop", "--json"]).ok();
    let v = r.json();
    assert_eq!(
        v["weaviate"]["stopped"]["weaviate-0"], "not running",
        "{v:#}"
    );
}

#[test]
fn missing_weaviate_binary_names_the_install_command() {
    let s = stack();
    std::fs::write(
        s.dir.path().join("config/elysiactl/config.toml"),
        "[weaviate]\nruntime = \"process\"\nbinary = \"/nonexistent/weaviate-server\"\n[elysia]\nenabled = false\n",
    )
    .unwrap();
    let r = s.run(&["start"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/weaviate-server"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("elysiactl install weaviate"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_bad_job_in_the_config_file_is_refused_with_its_line() {
    let s = stack();
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[[jobs]]\nname = \"nightly\"\ncron = \"0 25 * * *\"\ncommand = [\"status\"]\n",
    );
    std::fs::write(&cfg, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("\"nightly\""))
        .unwrap()
        + 1;
    let r = s.run(&["daemon"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("job \"nightly\" (line {line})")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("does not parse"), "{}", r.stderr);
    assert!(
        !s.state_dir().join("run/daemon.pid").exists(),
        "a refused daemon leaves no PID file"
    );
}

/// Out-of-range counts and over-long collection names are refused with the
/// rule they break, before anything is asked of Weaviate (none runs here).
#[test]
fn index_counts_and_collection_names_are_checked() {
    let s = stack();
    let refused = |args: &[&str], needle: &str| {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("Connection refused"), "{}", r.stderr);
        r
    };
    refused(&["index", "search", "retry", "--limit=-1"], "-1");
    refused(&["index", "search", "retry", "--limit", "0"], "limit");
    refused(&["index", "search", "retry", "--limit", "5000"], "1000");
    refused(&["index", "errors", "--recent", "0"], "recent");
    refused(&["index", "perf", "--runs=-2"], "runs");
    let long = format!("Code{}", "x".repeat(296));
    let repo = s.dir.path().to_str().unwrap().to_string();
    for args in [
        vec![
            "index",
            "sync",
            repo.as_str(),
            "--collection",
            long.as_str(),
        ],
        vec!["index", "search", "retry", "--collection", long.as_str()],
    ] {
        let r = refused(&args, "300 characters");
        assert!(r.stderr.contains("at most 255"), "{}", r.stderr);
        assert!(!r.stderr.contains("only letters"), "{}", r.stderr);
    }
}

/// `logs` on files alone: the rotated copies are read for an older --since,
/// lines are merged by time, an escape sequence in a log does not reach the
/// terminal, and bad input is refused with the fix.
#[test]
fn logs_read_rotated_copies_and_refuse_bad_input() {
    let s = stack();
    let log_dir = s.state_dir().join("logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let line = |t: &str, level: &str, msg: &str| {
        format!("{{\"level\":\"{level}\",\"msg\":\"{msg}\",\"time\":\"{t}\"}}\n")
    };
    std::fs::write(
        log_dir.join("weaviate-0.log.1"),
        line("2026-12-01T10:00:00Z", "info", "rotated away"),
    )
    .unwrap();
    std::fs::write(
        log_dir.join("weaviate-0.log"),
        line("2026-12-01T10:00:02Z", "error", "current \\u001b[2Jclear"),
    )
    .unwrap();
    std::fs::write(
        log_dir.join("daemon.log"),
        "2026-12-01T10:00:01.000Z warning: job x: no command\n",
    )
    .unwrap();
    let r = s
        .run(&["logs", "--all", "--since", "2026-12-01T09:00:00Z", "--json"])
        .ok();
    let sources: Vec<String> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["source"].to_string())
        .collect();
    assert_eq!(
        sources,
        ["\"weaviate-0\"", "\"daemon\"", "\"weaviate-0\""],
        "{}",
        r.stdout
    );
    let r = s
        .run_with(
            &["logs", "weaviate", "--level", "error"],
            &[("NO_COLOR", "1")],
        )
        .ok();
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    for (args, says) in [
        (vec!["logs", "--since", "last tuesday"], "is not a time"),
        (vec!["logs", "--search", "a(b"], "not a regular expression"),
        (vec!["logs", "nginx"], "no service nginx"),
        (vec!["logs", "--node", "5"], "there is no node 5"),
        (
            vec![
                "logs",
                "--since",
                "2026-12-02T00:00:00Z",
                "--until",
                "2026-12-01T00:00:00Z",
            ],
            "since is after until",
        ),
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(
            r.stderr.contains(says) && r.stderr.contains("hint:"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// `migrate new` numbers files after the highest, refuses a name the folder
/// has, writes nothing under --dry-run; `migrate --help` teaches the format.
#[test]
fn migrate_new_numbers_files_and_refuses_a_clashing_name() {
    let s = stack();
    let dir = s.dir.path().join("migrations");
    let d = dir.to_str().unwrap();
    let r = s.run(&["migrate", "new", "create_books", "--dir", d]).ok();
    assert!(r.stdout.contains("0001_create_books.rhai"), "{}", r.stdout);
    let r = s
        .run(&[
            "migrate",
            "new",
            "add_authors",
            "--lua",
            "--dir",
            d,
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["version"], "0002");
    let lua = std::fs::read_to_string(dir.join("0002_add_authors.lua")).unwrap();
    assert!(lua.contains("function up()") && lua.contains("function down()"));
    let rhai = std::fs::read_to_string(dir.join("0001_create_books.rhai")).unwrap();
    assert!(rhai.contains("fn up()") && rhai.contains("fn down()"));
    let r = s.run(&["migrate", "new", "create_books", "--dir", d]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("exists already"), "{}", r.stderr);
    assert!(r.stderr.contains("0001_create_books.rhai"), "{}", r.stderr);
    let r = s.run(&["migrate", "new", "Bad-Name", "--dir", d]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    let r = s
        .run(&["--dry-run", "migrate", "new", "third", "--dir", d])
        .ok();
    assert!(r.stdout.contains("would write"), "{}", r.stdout);
    assert!(r.stderr.contains("would migrate.create("), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    let r = s.run(&["migrate", "--help"]).ok();
    for needle in [
        "NNNN_name.rhai",
        "fn up()",
        "ElysiactlMigrations",
        "--dry-run",
    ] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
}

/// elysiactl's record of applied migrations holds nothing else: index sync
/// and test data refuse it by name before touching the cluster.
#[test]
fn the_migrations_record_is_refused_as_a_target() {
    let s = stack();
    let repo = s.dir.path().to_str().unwrap().to_string();
    for args in [
        vec![
            "index",
            "sync",
            repo.as_str(),
            "--collection",
            "ElysiactlMigrations",
        ],
        vec![
            "test-data",
            "generate",
            "--records",
            "5",
            "--collection",
            "ElysiactlMigrations",
        ],
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("record of applied migrations"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("Connection refused"), "{}", r.stderr);
    }
}

/// migrate.run runs migration files only: it is no way around the sandbox's
/// lack of file access.
#[test]
fn migrate_run_refuses_a_file_that_is_no_migration() {
    let s = stack();
    let p = s.dir.path().join("sneak.rhai");
    std::fs::write(&p, "migrate::run(\"/etc/passwd\", \"up\")").unwrap();
    let r = s.run(&["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("is not a migration file"), "{}", r.stderr);
    assert!(!r.stderr.contains("root:"), "{}", r.stderr);
}

/// The migrations folder comes from `migrate.dir` when no --dir is given.
#[test]
fn migrate_dir_comes_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("db/migrations");
    let s = Stack::new(
        "process",
        3,
        false,
        &format!("\n[migrate]\ndir = {:?}\n", migrations.to_str().unwrap()),
    );
    s.run(&["migrate", "new", "first"]).ok();
    assert!(migrations.join("0001_first.rhai").exists());
}

/// `elysia workers` and `elysia start --workers` refuse a count outside 1 to
/// 16, and a missing --count, before anything starts.
#[test]
fn elysia_worker_counts_outside_the_range_are_refused() {
    let s = Stack::new("process", 1, true, "");
    for (args, says) in [
        (
            vec!["elysia", "workers", "--count", "0"],
            "cannot run 0 Elysia workers",
        ),
        (
            vec!["elysia", "workers", "--count", "17"],
            "cannot run 17 Elysia workers",
        ),
        (
            vec!["elysia", "workers", "--count=-2"],
            "cannot run -2 Elysia workers",
        ),
        (
            vec!["elysia", "start", "--workers", "0"],
            "cannot run 0 Elysia workers",
        ),
        (vec!["elysia", "workers"], "elysia workers needs --count"),
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
    }
    assert_eq!(s.live_pids(), Vec::<u32>::new());
    assert!(!s.state_dir().join("elysia-workers.json").exists());
    // The config key has the same range.
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}workers = 40\n")).unwrap();
    let r = s.run(&["config", "show"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("elysia.workers = 40 is out of range"),
        "{}",
        r.stderr
    );
}

/// More than one Elysia worker needs nginx: without it, `elysia workers`
/// (also under --dry-run) and `elysia start --workers` say how to install it
/// and start nothing; `install status` shows it missing.
#[test]
fn elysia_workers_without_nginx_say_how_to_install_it() {
    let s = Stack::new("process", 1, true, "");
    let cfg = s.dir.path().join("config/elysiactl/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}nginx = \"/nonexistent/sbin/nginx\"\n")).unwrap();
    for args in [
        vec!["elysia", "workers", "--count", "2"],
        vec!["--dry-run", "elysia", "workers", "--count", "2"],
        vec!["elysia", "start", "--workers", "3"],
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("nginx is not installed"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("apt-get install nginx"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(s.live_pids(), Vec::<u32>::new());
    assert!(!s.state_dir().join("elysia-workers.json").exists());
    let v = s.run(&["install", "status", "--json"]).ok().json();
    assert_eq!(v["nginx"]["installed"], false, "{v}");
    let r = s.run(&["install", "status"]).ok();
    assert!(r.stdout.contains("nginx (elysia workers)"), "{}", r.stdout);
}

#[test]
fn benchmark_report_refuses_bad_input_and_writes_nothing() {
    let s = stack();
    let out = s.dir.path().join("r.html");
    let o = out.to_str().unwrap();
    for (args, says) in [
        (
            vec!["benchmark", "report", "--output", o],
            "needs one saved run",
        ),
        (
            vec!["benchmark", "report", "--run", "a", "--baseline", "b"],
            "needs one saved run",
        ),
        (
            vec!["benchmark", "report", "--run", "a", "--format", "pdf"],
            "unknown report format",
        ),
        (
            vec!["benchmark", "report", "--run", "nope", "--output", o],
            "no saved benchmark named nope",
        ),
        (
            vec!["benchmark", "report", "--run", "../x", "--output", o],
            "is not a benchmark name",
        ),
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
    }
    assert!(!out.exists());
}

#[test]
fn benchmark_replication_refuses_factors_it_cannot_compare_and_plans_under_dry_run() {
    let s = stack();
    for (args, says) in [
        (
            vec!["benchmark", "replication", "--factors", "1,5"],
            "replication factor 5 needs at least 5 nodes; the cluster has 3",
        ),
        (
            vec!["benchmark", "replication", "--factors", "3"],
            "compares two or more different factors",
        ),
        (
            vec!["benchmark", "replication", "--factors", "1,x"],
            "is not a whole number",
        ),
        (
            vec!["benchmark", "replication", "--mix", "get=1,upsert=1"],
            "unknown operation \"upsert\"",
        ),
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{args:?}: {}", r.stderr);
    }
    // Under --dry-run nothing runs; the plan gives the alternating order.
    let r = s
        .run(&[
            "--dry-run",
            "benchmark",
            "replication",
            "--rounds",
            "3",
            "--json",
        ])
        .ok();
    let v = r.json();
    assert_eq!(v["order"], serde_json::json!([1, 3, 3, 1, 1, 3]), "{v}");
    assert_eq!(v["dry_run"], true);
}
