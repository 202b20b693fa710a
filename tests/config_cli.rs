//! Configuration, secrets, the schedule's writes and the command line's own
//! flags, driven through the binary with no cluster: what a new or careless
//! user types, and what must come back (a clear refusal, no secret, no lost
//! write).

mod common;

use common::Stack;
use std::path::PathBuf;

fn stack() -> Stack {
    Stack::new("process", 3, false, "")
}

fn config_file(s: &Stack) -> PathBuf {
    s.dir.path().join("config/elysiactl/config.toml")
}

fn append_config(s: &Stack, extra: &str) {
    let mut text = std::fs::read_to_string(config_file(s)).unwrap();
    text.push_str(extra);
    std::fs::write(config_file(s), text).unwrap();
}

fn script(s: &Stack, name: &str, source: &str) -> String {
    let p = s.dir.path().join(name);
    std::fs::write(&p, source).unwrap();
    p.display().to_string()
}

#[test]
fn config_show_prints_the_default_configuration_with_no_file() {
    let s = stack();
    std::fs::remove_file(config_file(&s)).unwrap();
    let r = s.run(&["config", "show"]).ok();
    assert!(r.stdout.contains("# from defaults"), "{}", r.stdout);
    assert!(r.stdout.contains("[weaviate]"), "{}", r.stdout);
    // What TOML cannot hold (an unset runtime) is said as a comment, and the
    // rest of the text is a config file that loads.
    assert!(
        r.stdout.contains("# unset: weaviate.runtime"),
        "{}",
        r.stdout
    );
    let body: String = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: toml::Value = toml::from_str(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(parsed["weaviate"]["nodes"].as_integer(), Some(3));
    let v = s.run(&["config", "show", "--json"]).ok().json();
    assert_eq!(v["weaviate"]["runtime"], serde_json::Value::Null);
    assert_eq!(v["weaviate"]["nodes"], 3);
}

const SECRETS: &[&str] = &[
    "allowed-key-one-4711",
    "allowed-key-two-4712",
    "sk-openai-secret-4713",
    "url-password-4714",
];

fn with_secrets(s: &Stack) {
    append_config(
        s,
        "\n[weaviate.env]\nAUTHENTICATION_APIKEY_ALLOWED_KEYS = \"allowed-key-one-4711,allowed-key-two-4712\"\n\
         AUTHENTICATION_APIKEY_ENABLED = \"true\"\nLOG_LEVEL = \"info\"\n\
         [elysia.env]\nOPENAI_API_KEY = \"sk-openai-secret-4713\"\n\
         [index]\nembedder = \"openai\"\nembedding_model = \"m\"\n\
         embedding_url = \"http://robot:url-password-4714@127.0.0.1:9/v1\"\n",
    );
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

#[test]
fn config_show_and_config_get_redact_env_secrets_and_url_credentials() {
    let s = stack();
    with_secrets(&s);
    let r = s.run(&["config", "show"]).ok();
    assert_no_secret("config show", &r.stdout);
    assert!(
        r.stdout
            .contains("AUTHENTICATION_APIKEY_ALLOWED_KEYS = \"***\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("robot:***@127.0.0.1:9"), "{}", r.stdout);
    // Not secrets: a switch, a log level, the name of a variable.
    assert!(
        r.stdout
            .contains("AUTHENTICATION_APIKEY_ENABLED = \"true\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("LOG_LEVEL = \"info\""), "{}", r.stdout);
    assert!(
        r.stdout.contains("api_key_env = \"OPENAI_API_KEY\""),
        "{}",
        r.stdout
    );

    let r = s.run(&["config", "show", "--json"]).ok();
    assert_no_secret("config show --json", &r.stdout);
    let v = r.json();
    assert_eq!(v["elysia"]["env"]["OPENAI_API_KEY"], "***");

    let rhai = script(
        &s,
        "get.rhai",
        "out::json(config::get());\nout::line(config::get(\"elysia.env.OPENAI_API_KEY\"));\n\
         out::line(config::get(\"index.embedding_url\"));\n",
    );
    let r = s.run(&["run", &rhai]).ok();
    assert_no_secret("config::get (Rhai)", &r.stdout);
    let lua = script(
        &s,
        "get.lua",
        "out.json(config.get())\nout.line(config.get('weaviate.env.AUTHENTICATION_APIKEY_ALLOWED_KEYS'))\n",
    );
    let r = s.run(&["run", &lua]).ok();
    assert_no_secret("config.get (Lua)", &r.stdout);
    assert!(r.stdout.contains("***"), "{}", r.stdout);
}

#[test]
fn errors_that_name_a_url_do_not_show_its_password() {
    let s = stack();
    with_secrets(&s);
    // Port 9 (discard) answers nothing here: the request fails and the error names the endpoint.
    let p = script(&s, "embed.rhai", "embed::vectors(\"hello\");\n");
    let r = s.run(&["run", &p]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("127.0.0.1:9"), "{}", r.stderr);
    assert_no_secret("the error", &r.stderr);
    // Caught by the script, the message is as clean as the printed one.
    let p = script(
        &s,
        "catch.rhai",
        "try { embed::vectors(\"hello\"); } catch (e) { out::line(e.message); }\n",
    );
    let r = s.run(&["run", &p]).ok();
    assert!(r.stdout.contains("127.0.0.1:9"), "{}", r.stdout);
    assert_no_secret("the caught error", &r.stdout);
    // --json errors too.
    let r = s.run(&["index", "search", "anything", "--json"]);
    assert_no_secret("index search --json", &r.stdout);
    assert_no_secret("index search", &r.stderr);
}

#[test]
fn what_scripts_print_is_redacted_too() {
    let s = stack();
    with_secrets(&s);
    // A script can build a URL with credentials itself (a clone URL with a
    // token, say); it still never reaches the terminal or a plan line.
    let p = script(
        &s,
        "print.rhai",
        "let u = \"https://ci:url-password-4714@git.example.com/r.git\";\nout::line(u);\n\
         out::json(#{url: u});\nout::table([#{url: u}], [\"url\"]);\nout::warn(u);\n\
         repos::update([u]);\n",
    );
    let r = s.run(&["--dry-run", "run", &p]).ok();
    assert_no_secret("script output", &r.stdout);
    assert_no_secret("script warnings and plan lines", &r.stderr);
    assert!(r.stdout.contains("ci:***@git.example.com"), "{}", r.stdout);
}

#[test]
fn thirty_concurrent_schedule_adds_keep_thirty_jobs() {
    let s = stack();
    let children: Vec<_> = (0..30)
        .map(|i| {
            s.command(&[
                "schedule",
                "add",
                &format!("job{i}"),
                "--cron",
                "*/5 * * * *",
                "--",
                "status",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut added = Vec::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "job{i}: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with(&format!("added job{i}")), "{stdout}");
        added.push(format!("job{i}"));
    }
    let jobs = s.run(&["schedule", "list", "--json"]).ok().json();
    let mut names: Vec<String> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    added.sort();
    assert_eq!(names, added, "every job reported as added is kept");
    // The rest of the file is as it was.
    let cfg = std::fs::read_to_string(config_file(&s)).unwrap();
    assert!(
        cfg.contains(&format!("rest_port = {}", s.rest_port)),
        "{cfg}"
    );
    // No temporary or lock file is left where a config would be looked for.
    let leftovers: Vec<_> = std::fs::read_dir(config_file(&s).parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn dry_run_schedule_writes_answer_like_the_real_ones_and_change_nothing() {
    let s = stack();
    s.run(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--",
        "config",
        "path",
    ])
    .ok();
    let before = std::fs::read_to_string(config_file(&s)).unwrap();
    for (verb, says) in [
        ("remove", "would remove nightly"),
        ("enable", "would enable nightly"),
        ("disable", "would disable nightly"),
        ("run", "would run nightly"),
    ] {
        let r = s.run(&["--dry-run", "schedule", verb, "nightly"]);
        assert_eq!(r.code, 0, "{verb}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(says), "{verb}: {}", r.stdout);
        assert!(
            r.stderr
                .contains(&format!("[dry-run] would schedule.{verb}(\"nightly\")")),
            "{verb}: {}",
            r.stderr
        );
        // A job that does not exist is refused as it would be for real.
        let r = s.run(&["--dry-run", "schedule", verb, "nope"]);
        assert_eq!(r.code, 1, "{verb}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("there is no job named \"nope\""),
            "{verb}: {}",
            r.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(config_file(&s)).unwrap(),
        before,
        "a dry run wrote the config"
    );
    let history = s.run(&["schedule", "history", "--json"]).ok().json();
    assert_eq!(
        history.as_array().unwrap().len(),
        0,
        "a dry run ran the job"
    );
    // The simulated run record has the real one's fields.
    let dry = s
        .run(&["--dry-run", "schedule", "run", "nightly", "--json"])
        .ok()
        .json();
    let real = s.run(&["schedule", "run", "nightly", "--json"]).ok().json();
    for key in [
        "job",
        "reason",
        "scheduled_for",
        "started",
        "ended",
        "lateness_ms",
        "outcome",
        "seconds",
        "exit_code",
        "output",
        "figures",
    ] {
        assert!(real.get(key).is_some(), "real run lacks {key}: {real}");
        assert!(dry.get(key).is_some(), "dry run lacks {key}: {dry}");
    }
    assert_eq!(dry["dry_run"], true);
    assert!(dry["output"].is_array());
}

#[test]
fn dry_run_daemon_start_and_stop_say_what_they_would_do() {
    let s = stack();
    let r = s.run(&["--dry-run", "daemon", "--detach"]).ok();
    assert!(r.stdout.contains("would start the daemon"), "{}", r.stdout);
    assert!(s.live_pids().is_empty(), "a dry run started the daemon");
    let r = s.run(&["--dry-run", "daemon", "stop"]).ok();
    assert!(r.stdout.contains("daemon: not running"), "{}", r.stdout);
}

#[test]
fn config_path_follows_config_flag_and_variable_even_when_the_file_is_broken_or_absent() {
    let s = stack();
    let elsewhere = s.dir.path().join("elsewhere.toml");
    let r = s
        .run(&["config", "path", "--config", elsewhere.to_str().unwrap()])
        .ok();
    assert_eq!(r.stdout.trim(), elsewhere.display().to_string());
    let r = s
        .run_with(
            &["config", "path"],
            &[("ELYSIACTL_CONFIG", elsewhere.to_str().unwrap())],
        )
        .ok();
    assert_eq!(r.stdout.trim(), elsewhere.display().to_string());
    append_config(&s, "\n[weaviate]\nnodes = 3\n");
    let r = s.run(&["config", "path"]).ok();
    assert_eq!(r.stdout.trim(), config_file(&s).display().to_string());
}

#[test]
fn a_broken_config_breaks_only_what_needs_it_and_says_file_and_line() {
    let s = stack();
    let broken = "[weaviate]\nnodes = 3\nrest_prot = 1\n";
    std::fs::write(config_file(&s), broken).unwrap();
    for args in [
        &["commands"][..],
        &["commands", "--json"],
        &["api", "time"],
        &["completions", "bash"],
        &["config", "path"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    for args in [&["status"][..], &["config", "show"]] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("rest_prot"), "{}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("fix line 3 of {}", config_file(&s).display())),
            "{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("config show"),
            "points to a command that fails the same way: {}",
            r.stderr
        );
    }
}

#[test]
fn log_level_flag_wins_over_the_environment() {
    let s = stack();
    // Elysia cannot start (no venv), but first it clears a stale PID file
    // and logs that at info level.
    append_config(&s, "\n");
    let text = std::fs::read_to_string(config_file(&s)).unwrap().replace(
        &format!("venv = \"{}\"", common::elysia_venv().display()),
        "venv = \"/nonexistent/venv\"",
    );
    std::fs::write(config_file(&s), text).unwrap();
    let stale = || {
        let run = s.state_dir().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("elysia.pid"), "999999999\n").unwrap();
    };
    const LINE: &str = "removing stale PID file";
    stale();
    let r = s.run_with(&["elysia", "start"], &[("ELYSIACTL_LOG", "info")]);
    assert!(r.stderr.contains(LINE), "the variable alone: {}", r.stderr);
    stale();
    let r = s.run_with(
        &["--log-level", "error", "elysia", "start"],
        &[("ELYSIACTL_LOG", "info")],
    );
    assert!(
        !r.stderr.contains(LINE),
        "the flag should win: {}",
        r.stderr
    );
    stale();
    let r = s.run_with(
        &["--log-level", "info", "elysia", "start"],
        &[("ELYSIACTL_LOG", "error")],
    );
    assert!(r.stderr.contains(LINE), "the flag should win: {}", r.stderr);
}

#[test]
fn cron_mistakes_are_named_in_the_users_terms_and_underlined_in_the_users_line() {
    let s = stack();
    let add = |name: &str, cron: &str, extra: &[&str]| {
        let mut args = vec!["schedule", "add", name, "--cron", cron];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "status"]);
        s.run(&args)
    };
    let r = add("j", "99 * * * *", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("minute must be 0–59, got 99\n    99 * * * *\n    ^^\n"),
        "{}",
        r.stderr
    );
    let r = add("j", "0 8 32 * *", &[]);
    assert!(
        r.stderr
            .contains("day of month must be 1–31, got 32\n    0 8 32 * *\n        ^^\n"),
        "{}",
        r.stderr
    );
    let r = add("j", "1,2,,3 * * * *", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("empty entry"), "{}", r.stderr);
    // Parses, but February has no 30th: refused rather than kept forever idle.
    let r = add("j", "0 0 30 2 *", &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("never fires"), "{}", r.stderr);
    // A zero timeout would stop every run as it starts.
    let r = add("j", "* * * * *", &["--timeout", "0"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("timeout \"0\""), "{}", r.stderr);
    let r = add("j", "* * * * *", &["--timeout", "0s"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        s.run(&["schedule", "list", "--json"]).ok().json() == serde_json::json!([]),
        "a refused job was written"
    );
    // Monday is 1, as in crontab.
    let r = s
        .run(&[
            "schedule",
            "add",
            "monday",
            "--cron",
            "0 8 * * 1",
            "--timezone",
            "UTC",
            "--json",
            "--",
            "status",
        ])
        .ok()
        .json();
    for t in r["next"].as_array().unwrap() {
        let t: chrono::DateTime<chrono::Utc> = t.as_str().unwrap().parse().unwrap();
        assert_eq!(chrono::Datelike::weekday(&t), chrono::Weekday::Mon, "{r}");
    }
}

#[test]
fn a_job_in_the_file_that_never_fires_is_shown_and_warned_about() {
    let s = stack();
    append_config(
        &s,
        "\n[[jobs]]\nname = \"feb30\"\ncron = \"0 0 30 2 *\"\ncommand = [\"status\"]\n",
    );
    let r = s.run(&["schedule", "list"]).ok();
    assert!(r.stdout.contains("never"), "{}", r.stdout);
    assert!(
        r.stderr.contains("feb30") && r.stderr.contains("never fires"),
        "{}",
        r.stderr
    );
    let v = s.run(&["schedule", "list", "--json"]).ok().json();
    assert!(
        v[0]["warning"].as_str().unwrap().contains("never fires"),
        "{v}"
    );
    // The daemon keeps it (the file is the user's) and says so in its log.
    let r = s.run(&["daemon", "--detach", "--json"]).ok().json();
    let log = PathBuf::from(r["log"].as_str().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("started with") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    s.run(&["daemon", "stop"]).ok();
    assert!(
        text.contains("warning: job feb30: cron expression"),
        "{text}"
    );
    assert!(text.contains("never fires"), "{text}");
}

/// The line of the config file where `needle` is written.
fn line_of(s: &Stack, needle: &str) -> usize {
    std::fs::read_to_string(config_file(s))
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn index_settings_out_of_bounds_are_refused_at_load_with_the_line() {
    for (setting, says) in [
        (
            "upload_concurrency = 100000",
            "index.upload_concurrency = 100000",
        ),
        ("upload_concurrency = 0", "index.upload_concurrency = 0"),
        ("chunk_workers = 5000", "index.chunk_workers = 5000"),
        ("embed_workers = 0", "index.embed_workers = 0"),
        ("batch_size = 0", "index.batch_size = 0"),
        ("max_file_bytes = 0", "index.max_file_bytes = 0"),
        ("chunk_lines = 0", "index.chunk_lines = 0"),
        ("chunk_lines = 8", "index.overlap_lines = 8"),
        ("embedding_timeout_s = 0", "index.embedding_timeout_s = 0"),
    ] {
        let s = stack();
        append_config(&s, &format!("\n[index]\n{setting}\n"));
        let line = line_of(&s, setting.split(" =").next().unwrap());
        let r = s.run(&["config", "show"]);
        assert_eq!(r.code, 1, "{setting} accepted: {}", r.stdout);
        assert!(r.stderr.contains(says), "{setting}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("line {line} of")),
            "{setting}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("hint:"), "{setting}: {}", r.stderr);
    }
    // From the environment too, where there is no line to name.
    let s = stack();
    let r = s.run_with(&["config", "show"], &[("ELYSIA_BATCH_SIZE", "100000000")]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("index.batch_size = 100000000"),
        "{}",
        r.stderr
    );
    let r = s.run_with(&["config", "show"], &[("MGIT_MAX_CONCURRENT", "100000")]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("repos.max_concurrent"), "{}", r.stderr);
}

#[test]
fn index_trial_settings_are_bounded_like_the_config() {
    let s = stack();
    let p = script(
        &s,
        "trial.rhai",
        "index::trial([\"/nonexistent\"], #{upload_concurrency: 100000});\n",
    );
    let r = s.run(&["run", &p]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("upload_concurrency = 100000"),
        "{}",
        r.stderr
    );
    // And config.set cannot write such a value either.
    let p = script(
        &s,
        "set.rhai",
        "config::set(\"index\", #{max_file_bytes: 0});\n",
    );
    let r = s.run(&["run", &p]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("index.max_file_bytes = 0"),
        "{}",
        r.stderr
    );
    assert!(!std::fs::read_to_string(config_file(&s))
        .unwrap()
        .contains("max_file_bytes"));
}

#[test]
fn weaviate_host_must_be_a_bare_host_name_or_address() {
    for host in [
        "127.0.0.1:8080/v1",
        "http://127.0.0.1",
        "127.0.0.1:8080",
        "",
        "a b",
    ] {
        let s = stack();
        let text = std::fs::read_to_string(config_file(&s))
            .unwrap()
            .replace("[weaviate]\n", &format!("[weaviate]\nhost = {host:?}\n"));
        std::fs::write(config_file(&s), text).unwrap();
        let r = s.run(&["config", "show"]);
        assert_eq!(r.code, 1, "{host:?} accepted: {}", r.stdout);
        assert!(r.stderr.contains("weaviate.host"), "{host:?}: {}", r.stderr);
        assert!(r.stderr.contains("line 2 of"), "{host:?}: {}", r.stderr);
        if host.contains(':') {
            assert!(r.stderr.contains("rest_port"), "{host:?}: {}", r.stderr);
        }
    }
    let s = stack();
    let r = s.run_with(&["status"], &[("WEAVIATE_HOST", "localhost:8080")]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("weaviate.host"), "{}", r.stderr);
    assert!(!r.stdout.contains("elysiactl start"), "{}", r.stdout);
    for good in ["localhost", "weaviate-0.internal", "10.0.0.7", "[::1]"] {
        let r = s.run_with(&["config", "show", "--json"], &[("WEAVIATE_HOST", good)]);
        assert_eq!(r.code, 0, "{good}: {}", r.stderr);
    }
}

#[test]
fn numeric_flags_out_of_range_are_refused_and_fractional_intervals_accepted() {
    let s = stack();
    // Nothing runs: each sample says so, quickly. 0.5 s is above the 0.2 s minimum.
    let r = s.run(&[
        "health",
        "--watch",
        "--interval",
        "0.5",
        "--count",
        "2",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    let r = s.run(&["health", "--watch", "--interval", "0.1", "--count", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("at least 0.2 s"), "{}", r.stderr);
    // `--last-errors -3` is a usage error already (clap takes -3 for a flag);
    // `--last-errors=-3` reached the script and was clamped to 0.
    for (args, says) in [
        (&["health", "--last-errors=-3"][..], "last_errors = -3"),
        (
            &["health", "--data", "--sample-size", "0"],
            "sample_size = 0",
        ),
        (&["health", "--watch", "--count", "0"], "count = 0"),
        (&["index", "search", "anything", "--limit=-1"], "limit = -1"),
        (
            &["index", "search", "anything", "--limit", "5000"],
            "limit = 5000",
        ),
        (&["index", "errors", "--recent=-5"], "recent = -5"),
        (&["schedule", "history", "--limit", "0"], "limit = 0"),
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("hint: use"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn repos_list_reads_repository_lists_only() {
    let s = stack();
    const MARKER: &str = "env-marker-value-8812";
    let d = s.dir.path();
    let link = d.join("innocent.txt");
    std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
    std::fs::write(
        d.join("dotenv"),
        format!("# keys\nOPENAI_API_KEY={MARKER}\n"),
    )
    .unwrap();
    std::fs::write(d.join("binary"), b"repo\0\x01\x02").unwrap();
    std::fs::write(
        d.join("spaces"),
        format!("-----BEGIN KEY-----\n{MARKER} more words\n"),
    )
    .unwrap();
    for (file, says) in [
        ("/proc/self/environ", "/proc"),
        (link.to_str().unwrap(), "/proc"),
        ("/dev/zero", "/dev"),
        ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys"),
        ("/etc/passwd", "line 1"),
        (d.to_str().unwrap(), "not a regular file"),
        (d.join("dotenv").to_str().unwrap(), "line 2"),
        (d.join("binary").to_str().unwrap(), "not text"),
        (d.join("spaces").to_str().unwrap(), "line 1"),
    ] {
        for lang in ["rhai", "lua"] {
            let src = match lang {
                "rhai" => format!("out::json(repos::list({file:?}));\n"),
                _ => format!("out.json(repos.list({file:?}))\n"),
            };
            let p = script(&s, &format!("list.{lang}"), &src);
            let r = s.run_with(&["run", &p], &[("MARKER_FOR_TEST", MARKER)]);
            assert_eq!(r.code, 1, "{file} ({lang}) was read: {}", r.stdout);
            assert!(r.stderr.contains(says), "{file} ({lang}): {}", r.stderr);
            assert!(
                !r.stdout.contains(MARKER) && !r.stderr.contains(MARKER),
                "{file}: {}{}",
                r.stdout,
                r.stderr
            );
            assert!(!r.stderr.contains("root:"), "{file}: {}", r.stderr);
        }
    }
    // A real list: comments, blank lines, paths, URLs, scp-like addresses.
    let list = d.join("repos.txt");
    std::fs::write(
        &list,
        "# mine\n/src/app\n\n./rel/repo # local\nhttps://github.com/o/r.git\ngit@github.com:o/r.git\nplain-name\n",
    )
    .unwrap();
    let p = script(
        &s,
        "ok.rhai",
        &format!("out::json(repos::list({:?}));\n", list.to_str().unwrap()),
    );
    let v = s.run(&["run", &p]).ok().json();
    assert_eq!(
        v,
        serde_json::json!([
            "/src/app",
            "./rel/repo",
            "https://github.com/o/r.git",
            "git@github.com:o/r.git",
            "plain-name"
        ])
    );
}

#[test]
fn index_sync_refuses_system_trees() {
    let s = stack();
    let p = script(&s, "sync.rhai", "index::ingest([\"/proc/self\"]);\n");
    let r = s.run(&["run", &p]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("/proc"), "{}", r.stderr);
    assert!(r.stderr.contains("not a source tree"), "{}", r.stderr);
}

/// A stand-in Elysia for a fault the real one does not produce on demand:
/// it is up, and its answer to the collections probe quotes an API key, as
/// an upstream error message may. Returns its port.
fn elysia_quoting(secret: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let body = if request.contains("/collections/") {
                format!("{{\"error\": \"weaviate refused key {secret} (401)\"}}")
            } else {
                "{}".to_string()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn health_samples_printed_and_exported_are_redacted() {
    const KEY: &str = "weaviate-key-secret-4715";
    let s = stack();
    let port = elysia_quoting(KEY);
    let text = std::fs::read_to_string(config_file(&s))
        .unwrap()
        .replace("enabled = false", "enabled = true")
        .replace(
            &format!("port = {}", s.elysia_port),
            &format!("port = {port}"),
        );
    std::fs::write(config_file(&s), text).unwrap();
    let export = s.dir.path().join("samples.ndjson");
    let r = s.run_with(
        &[
            "health",
            "--watch",
            "--count",
            "1",
            "--json",
            "--export",
            export.to_str().unwrap(),
        ],
        &[("WEAVIATE_API_KEY", KEY)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The fault did reach the sample, masked.
    assert!(
        r.stdout.contains("weaviate refused key ***"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(KEY), "{}", r.stdout);
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(exported.contains("weaviate refused key ***"), "{exported}");
    assert!(!exported.contains(KEY), "{exported}");
    let r = s.run_with(&["health", "--json"], &[("WEAVIATE_API_KEY", KEY)]);
    assert!(
        r.stdout.contains("weaviate refused key ***"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(KEY), "{}", r.stdout);
}

/// `config validate`: each broken file reported at the right line and key,
/// with a fix; a broken file in use does not stop it; --strict fails on
/// warnings; the good file passes.
#[test]
fn config_validate_reports_each_problem_at_its_line() {
    let s = stack();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    /// A file's name, its text, and the (key, line) of each error it must report.
    type Case = (&'static str, String, Vec<(&'static str, usize)>);
    let cases: Vec<Case> = vec![
        (
            "types-and-keys",
            "[weaviate]\nnodes = \"three\"\nrest_prot = 8080\n\n[elysia]\nenabeld = true\n".into(),
            vec![("weaviate.nodes", 2), ("weaviate.rest_prot", 3), ("elysia.enabeld", 6)],
        ),
        (
            "syntax",
            "[weaviate]\nnodes = 3\nhost = \"127.0.0.1\n".into(),
            vec![("", 3)],
        ),
        (
            "range",
            "[weaviate]\n# many\nnodes = 12\n".into(),
            vec![("weaviate.nodes", 3)],
        ),
        (
            "factor-and-clash",
            "[weaviate]\nnodes = 2\nrest_port = 28080\ngrpc_port = 28081\nreplication_factor = 3\n\
             gossip_port = 27100\nraft_port = 28300\nmetrics_port = 22112\n[elysia]\nport = 28000\n"
                .into(),
            vec![("weaviate.replication_factor", 5), ("weaviate.grpc_port", 4)],
        ),
        (
            "taken-port-and-path",
            format!(
                "[weaviate]\nnodes = 1\nrest_port = {taken}\nbinary = \"/no/such/weaviate-server\"\n"
            ),
            vec![("weaviate.rest_port", 3), ("weaviate.binary", 4)],
        ),
    ];
    for (name, text, expected) in cases {
        let file = s.dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, &text).unwrap();
        let r = s.run(&["config", "validate", file.to_str().unwrap(), "--json"]);
        assert_eq!(r.code, 1, "{name}: {}", r.stdout);
        let v = r.json();
        assert_eq!(v["valid"], false);
        for (key, line) in expected {
            assert!(
                v["issues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["key"] == key
                        && i["line"] == line
                        && i["severity"] == "error"
                        && !i["hint"].as_str().unwrap().is_empty()),
                "{name}: no error for {key:?} at line {line}: {:#}",
                v["issues"]
            );
        }
    }
    // Text for people: file:line, the key, the fix.
    let file = s.dir.path().join("types-and-keys.toml");
    let r = s.run(&["config", "validate", file.to_str().unwrap()]);
    assert!(
        r.stdout
            .contains("types-and-keys.toml:3: error [weaviate.rest_prot]: unknown key"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("did you mean `rest_port`"),
        "{}",
        r.stdout
    );
    // The file in use is broken: validate still runs (and says why).
    std::fs::write(config_file(&s), "[weaviate]\nnodez = 3\n").unwrap();
    let r = s.run(&["config", "validate"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("config.toml:2: error [weaviate.nodez]"),
        "{}",
        r.stdout
    );
    // Warnings pass, except under --strict.
    let warn = s.dir.path().join("warn.toml");
    // Free ports: a port something else holds would be an error, not a warning.
    let (rest, grpc, gossip, raft, metrics, elysia) = (
        common::free_block(3),
        common::free_block(3),
        common::free_block(6),
        common::free_block(6),
        common::free_block(3),
        common::free_block(1),
    );
    std::fs::write(
        &warn,
        format!(
            "[weaviate]\nnodes = 3\nrest_port = {rest}\ngrpc_port = {grpc}\ngossip_port = {gossip}\n\
             raft_port = {raft}\nmetrics_port = {metrics}\nreplication_factor = 1\n[elysia]\nport = {elysia}\n"
        ),
    )
    .unwrap();
    s.run(&["config", "validate", warn.to_str().unwrap()]).ok();
    let r = s.run(&["config", "validate", "--strict", warn.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("warning [weaviate.replication_factor]"),
        "{}",
        r.stdout
    );
}

/// `config diff A B`: key by key, secrets masked but their difference shown.
#[test]
fn config_diff_two_files_masks_secrets() {
    let s = stack();
    let a = s.dir.path().join("a.toml");
    let b = s.dir.path().join("b.toml");
    std::fs::write(&a, "[weaviate]\nnodes = 3\napi_key = \"alpha-key-991\"\n").unwrap();
    std::fs::write(
        &b,
        "[weaviate]\nnodes = 3\napi_key = \"beta-key-992\"\n[weaviate.env]\nLOG_LEVEL = \"debug\"\n",
    )
    .unwrap();
    let r = s.run(&[
        "config",
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("alpha-key-991") && !r.stdout.contains("beta-key-992"));
    let v = r.json();
    let changes = v["changes"].as_array().unwrap();
    let keys: Vec<&str> = changes.iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["weaviate.api_key", "weaviate.env.LOG_LEVEL"],
        "{v:#}"
    );
    assert_eq!(changes[0]["b"], "*** (differs)");
    let r = s.run(&["config", "diff", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("no differences"), "{}", r.stdout);
}

/// A secret given as `file:PATH` (owner-only) or `env:NAME` is used and
/// never shown; a file others can read is refused at its line.
#[test]
fn secret_references_resolve_and_stay_hidden() {
    use std::os::unix::fs::PermissionsExt;
    let s = stack();
    let key = s.dir.path().join("weaviate.key");
    std::fs::write(&key, "file-secret-5521\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = std::fs::read_to_string(config_file(&s)).unwrap().replace(
        "[weaviate]\n",
        &format!("[weaviate]\napi_key = \"file:{}\"\n", key.display()),
    );
    std::fs::write(config_file(&s), &text).unwrap();
    append_config(
        &s,
        "\n[index]\nembedding_api_key = \"env:TEST_EMBED_KEY_5522\"\n",
    );
    let r = s
        .run_with(
            &["config", "show", "--json"],
            &[("TEST_EMBED_KEY_5522", "env-secret-5522")],
        )
        .ok();
    let v = r.json();
    assert_eq!(v["weaviate"]["api_key"], "***");
    assert_eq!(v["index"]["embedding_api_key"], "***");
    assert!(!r.stdout.contains("secret-552"), "{}", r.stdout);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = s.run_with(&["config", "validate"], &[("TEST_EMBED_KEY_5522", "x")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("chmod 600") && r.stdout.contains("config.toml:2:"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("file-secret-5521"));
}
