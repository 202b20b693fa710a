//! Meta commands: they work on scripts and on the tool itself, so they are
//! Rust rather than bundled scripts.

use super::{report_error, run_script, Invocation};
use crate::base::error::HostError;
use crate::host::MODULES;
use crate::script::catalog::{Catalog, Origin, RESERVED};
use crate::script::repl::help;
use crate::script::{header, Language, Script};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};
use std::path::PathBuf;

fn json_flag() -> Arg {
    Arg::new("json")
        .long("json")
        .short('j')
        .action(ArgAction::SetTrue)
        .help("Print JSON for programs instead of text for people")
}

pub fn add_to(root: Command) -> Command {
    debug_assert!(RESERVED.contains(&"run"));
    root.subcommand(
        Command::new("run")
            .about("Run a playbook (FILE.rhai or FILE.lua) with the host API")
            .long_about(
                "Run a playbook (FILE.rhai or FILE.lua) with the host API.\n\n\
                 Arguments after FILE go to the playbook: when its header declares flags \
                 (`//! @flag --name <VALUE> help`), they are parsed and checked like a built-in \
                 command's; otherwise the script gets them as the list `args._`.\n\
                 With --dry-run every host function that changes something prints what it \
                 would do and does nothing; reads still run.",
            )
            .arg(Arg::new("file").value_name("FILE").required(true).help("The playbook"))
            .arg(
                Arg::new("args")
                    .value_name("ARGS")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .help("Arguments for the playbook"),
            )
            .after_help("Examples:\n  elysiactl run playbooks/cluster-report.rhai\n  elysiactl run --dry-run playbooks/rolling-restart.lua --timeout 300"),
    )
    .subcommand(
        Command::new("repl")
            .about("Interactive shell over the host API (:help lists modules and functions)")
            .arg(
                Arg::new("lang")
                    .long("lang")
                    .value_parser(["rhai", "lua"])
                    .default_value("rhai")
                    .help("Script language"),
            ),
    )
    .subcommand(
        Command::new("commands")
            .about("List every command and where it comes from (built-in script, user script, Rust)")
            .arg(json_flag()),
    )
    .subcommand(
        Command::new("config")
            .about("Show, check, compare, apply and roll back the configuration")
            .subcommand_required(true)
            .arg_required_else_help(true)
            .after_help(
                "A change goes: `config validate NEW.toml`, `config diff NEW.toml` (against the \
                 running stack), `config apply NEW.toml` (plan, confirm, restart what needs it, \
                 verify, record a version); `config history`, `config rollback` undo it.",
            )
            .subcommand(
                Command::new("show")
                    .about("Print the effective configuration (file, environment, flags), API keys redacted")
                    .long_about(
                        "Print the effective configuration of the active environment (--env NAME for \
                         another): defaults, the file and what it extends, the environment variables, \
                         the flags; API keys redacted. --origins writes after each value where it came \
                         from; --json has the same in `origins`.",
                    )
                    .arg(
                        Arg::new("origins")
                            .long("origins")
                            .action(ArgAction::SetTrue)
                            .help("Say after every value where it came from (a file, a base environment, a variable, a flag, or the default)"),
                    )
                    .arg(json_flag())
                    .after_help("Examples:\n  elysiactl config show\n  elysiactl --env staging config show --origins"),
            )
            .subcommand(Command::new("path").about("Print where the config file is read from"))
            .subcommand(
                Command::new("validate")
                    .about("Check a config file: every problem with its line, its key and what to do")
                    .long_about(
                        "Check a config file: every problem with its line, its key and what to do.\n\n\
                         Errors: TOML syntax, unknown keys, wrong types, values out of range (node \
                         count, ports, hosts, durations), ports that clash or are taken by another \
                         program (checked while this stack is down), paths that do not exist, a \
                         replication factor above the node count. Warnings: what works but is likely \
                         a mistake (replication factor 1 on several nodes, weaviate.env overriding \
                         what the cluster needs to form).\n\n\
                         Exit codes: 0 valid (warnings allowed unless --strict), 1 errors (or \
                         warnings with --strict).",
                    )
                    .arg(Arg::new("file").value_name("FILE").help("The file to check [default: the config file in use]"))
                    .arg(
                        Arg::new("strict")
                            .long("strict")
                            .action(ArgAction::SetTrue)
                            .help("Fail on warnings too"),
                    )
                    .arg(json_flag())
                    .after_help("Examples:\n  elysiactl config validate\n  elysiactl config validate --strict new.toml"),
            )
            .subcommand(
                Command::new("apply")
                    .about("Bring the running stack to a config file: plan, confirm, restart what needs it, verify, record")
                    .long_about(
                        "Bring the running stack to a config file (default: the one in use; a file given \
                         becomes the one in use). The plan is `config diff` against the running stack, each \
                         difference with its action: a rolling restart of the nodes (weaviate.env, version), \
                         an Elysia restart (elysia.*), or a refusal with the reason (node count, ports and \
                         addresses, the Weaviate API key: these need a stop and a start). Settings the \
                         running services do not hold (index, script, jobs …) need nothing. Asks unless \
                         --yes; --dry-run shows the plan only. Afterwards the stack is read back \
                         (`verified`) and the file is recorded as a numbered version, secrets masked.",
                    )
                    .arg(Arg::new("file").value_name("FILE").help("The config to apply [default: the config file in use]"))
                    .arg(Arg::new("yes").long("yes").short('y').action(ArgAction::SetTrue).help("Do not ask"))
                    .arg(json_flag()),
            )
            .subcommand(
                Command::new("history")
                    .about("The applied configuration versions: number, time, summary")
                    .arg(json_flag()),
            )
            .subcommand(
                Command::new("rollback")
                    .about("Apply an earlier recorded version the way `config apply` does (secrets in use are kept)")
                    .arg(
                        Arg::new("to")
                            .long("to")
                            .value_name("VERSION")
                            .value_parser(clap::value_parser!(i64))
                            .help("The version [default: the one before the latest]"),
                    )
                    .arg(Arg::new("yes").long("yes").short('y').action(ArgAction::SetTrue).help("Do not ask"))
                    .arg(json_flag()),
            )
            .subcommand(
                Command::new("diff")
                    .about("Compare two config files or environments key by key, or one with what the running stack runs with")
                    .long_about(
                        "Compare the effective configuration (file, then environment) of A and B key by \
                         key; each is a config file or the name of an environment (`elysiactl env list`), \
                         with what it extends merged in. With only A (or nothing: the config file in use), \
                         compare it with what the running stack runs with, read back from the nodes and \
                         Elysia: each process's environment, Elysia's port, Weaviate's version. Secrets are \
                         compared but shown as ***.\n\nExit codes, as diff(1): 0 the same, 1 different.",
                    )
                    .arg(Arg::new("a").value_name("A").help("A config file or environment [default: the config file in use]"))
                    .arg(Arg::new("b").value_name("B").help("A second file or environment [default: the running stack]"))
                    .arg(json_flag())
                    .after_help("Examples:\n  elysiactl config diff old.toml new.toml\n  elysiactl config diff default staging   # two environments\n  elysiactl config diff new.toml   # against the running stack"),
            ),
    )
    .subcommand(
        Command::new("api")
            .about("List the host API that scripts can call (modules, functions, signatures, docs)")
            .arg(Arg::new("module").value_name("MODULE").help("Only this module"))
            .arg(
                Arg::new("markdown")
                    .long("markdown")
                    .action(ArgAction::SetTrue)
                    .help("Print as Markdown (docs/api.md is this output)"),
            )
            .arg(json_flag()),
    )
    .subcommand(
        Command::new("completions")
            .about("Print a shell completion script")
            .arg(
                Arg::new("shell")
                    .value_name("SHELL")
                    .required(true)
                    .value_parser(clap::value_parser!(clap_complete::Shell)),
            )
            .after_help("Examples (docs/commands.md has every shell):\n  elysiactl completions bash > ~/.local/share/bash-completion/completions/elysiactl\n  elysiactl completions zsh > ~/.zfunc/_elysiactl\n  elysiactl completions fish > ~/.config/fish/completions/elysiactl.fish"),
    )
    .subcommand(
        Command::new("man")
            .about("Print the man page, or write one per command into a folder")
            .arg(
                Arg::new("dir")
                    .long("dir")
                    .value_name("DIR")
                    .help("Write elysiactl.1 and elysiactl-COMMAND.1 for every command into DIR"),
            )
            .after_help("Examples:\n  elysiactl man | man -l -\n  elysiactl man --dir ~/.local/share/man/man1"),
    )
}

/// Handles a meta command that needs the configuration; `None` when `name`
/// is a script command.
pub fn dispatch(ctx: &Invocation, name: &str, m: &ArgMatches) -> Option<i32> {
    Some(match name {
        "run" => run(ctx, m),
        "repl" => {
            let lang = Language::parse(m.get_one::<String>("lang").expect("has default"))
                .expect("clap checked");
            match crate::script::repl::run(ctx.host(), lang, ctx.limits()) {
                Ok(()) => 0,
                Err(e) => report_error(&e, false),
            }
        }
        "config" => match m.subcommand() {
            Some(("show", s)) => config_show(ctx, s.get_flag("json"), s.get_flag("origins")),
            Some(("diff", d)) => config_diff(ctx, d),
            Some(("apply", a)) => config_apply(ctx, a, false),
            Some(("rollback", a)) => config_apply(ctx, a, true),
            Some(("history", h)) => config_history(ctx, h.get_flag("json")),
            _ => 2,
        },
        _ => return None,
    })
}

/// Handles the meta commands that need no configuration (they work on the
/// scripts and the tool itself, or say where the config is), so a broken
/// config file cannot break them; `None` for every other command.
pub fn dispatch_without_config(
    catalog: &Catalog,
    root: &Command,
    name: &str,
    m: &ArgMatches,
) -> Option<i32> {
    Some(match (name, m.subcommand()) {
        ("commands", _) => commands(catalog, m.get_flag("json")),
        ("api", _) => api(m),
        ("completions", _) => {
            let shell = *m
                .get_one::<clap_complete::Shell>("shell")
                .expect("required");
            let mut cmd = root.clone();
            clap_complete::generate(shell, &mut cmd, "elysiactl", &mut std::io::stdout());
            0
        }
        ("man", _) => man(root, m),
        ("config", Some(("validate", v))) => config_validate(v),
        ("config", Some(("path", p))) => {
            let explicit = p.get_one::<String>("config").map(PathBuf::from);
            println!(
                "{}",
                crate::base::config::Config::path(explicit.as_deref()).display()
            );
            0
        }
        _ => return None,
    })
}

/// The man pages come from the same clap tree as `--help` (user scripts
/// included), so they never disagree with it.
fn man(root: &Command, m: &ArgMatches) -> i32 {
    let cmd = root.clone().version(super::VERSION);
    let Some(dir) = m.get_one::<String>("dir") else {
        let mut out = std::io::stdout().lock();
        return match clap_mangen::Man::new(cmd).render(&mut out) {
            Ok(()) => 0,
            Err(e) => report_error(&HostError::io("cannot print the man page", e), false),
        };
    };
    let dir = PathBuf::from(dir);
    if m.get_flag("dry_run") {
        eprintln!("[dry-run] would write the man pages into {}", dir.display());
        return 0;
    }
    let written = std::fs::create_dir_all(&dir).and_then(|_| clap_mangen::generate_to(cmd, &dir));
    match written {
        Ok(()) => {
            println!("wrote the man pages into {}", dir.display());
            0
        }
        Err(e) => report_error(
            &HostError::io(
                format!("cannot write the man pages into {}", dir.display()),
                e,
            )
            .with_hint("give --dir a folder you can write to"),
            false,
        ),
    }
}

fn run(ctx: &Invocation, m: &ArgMatches) -> i32 {
    let file = PathBuf::from(m.get_one::<String>("file").expect("required"));
    let raw: Vec<String> = m
        .get_many::<String>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let language = match Language::from_path(&file) {
        Ok(l) => l,
        Err(e) => return report_error(&e, false),
    };
    let source = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) => {
            return report_error(
                &HostError::io(format!("cannot read playbook {}", file.display()), e)
                    .with_hint("check the path; playbooks/ in the repository has examples"),
                false,
            )
        }
    };
    let name = file.display().to_string();
    let h = match header::parse(&source, &name) {
        Ok(h) => h,
        Err(e) => return report_error(&e, false),
    };
    let args = if h.flags.is_empty() && h.positionals.is_empty() {
        json!({ "_": raw })
    } else {
        let cmd = h.command(&format!("elysiactl run {name}"));
        match cmd.try_get_matches_from(std::iter::once(name.clone()).chain(raw)) {
            Ok(pm) => h.args_from(&pm),
            Err(e) => {
                let _ = e.print();
                return match e.kind() {
                    clap::error::ErrorKind::DisplayHelp => 0,
                    _ => 2,
                };
            }
        }
    };
    let import_dir = file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from));
    run_script(
        ctx,
        Script {
            name,
            source,
            language,
            import_dir,
            args,
        },
    )
}

fn commands(catalog: &Catalog, json_mode: bool) -> i32 {
    let mut rows: Vec<Value> = catalog
        .entries
        .iter()
        .map(|e| {
            let (kind, from) = match &e.origin {
                Origin::Builtin(p) => ("builtin", p.to_string()),
                Origin::User(p) => ("user", p.display().to_string()),
            };
            json!({"command": e.path.join(" "), "about": e.header.about, "kind": kind, "source": from})
        })
        .collect();
    for (name, about) in [
        ("run", "Run a playbook"),
        ("repl", "Interactive shell over the host API"),
        ("commands", "List commands"),
        ("config show", "Show the effective configuration"),
        ("config path", "Where the config file is read from"),
        (
            "config validate",
            "Check a config file: every problem with its line, key and fix",
        ),
        (
            "config diff",
            "Compare two config files, or one with the running stack",
        ),
        ("env list", "Every environment, the current one marked"),
        ("env current", "The environment a command acts on"),
        (
            "env switch",
            "Make an environment what bare commands act on",
        ),
        (
            "env add",
            "Make an environment: local, extending another, or remote",
        ),
        (
            "env clone",
            "Copy an environment's configuration (and with --data its data)",
        ),
        ("env remove", "Remove an environment's config"),
        (
            "env diff",
            "Compare two environments: configuration and clusters",
        ),
        ("api", "List the host API"),
        ("completions", "Print a shell completion script"),
        ("man", "Print or write the man pages"),
    ] {
        rows.push(json!({"command": name, "about": about, "kind": "rust", "source": "built into the binary"}));
    }
    rows.sort_by(|a, b| a["command"].as_str().cmp(&b["command"].as_str()));
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        println!(
            "{}",
            crate::base::output::render_table(
                &rows,
                &[
                    "command".into(),
                    "kind".into(),
                    "source".into(),
                    "about".into()
                ]
            )
        );
        for s in &catalog.shadowed {
            eprintln!(
                "warning: {} is ignored: a built-in command has that name",
                s.display()
            );
        }
    }
    0
}

/// `config validate`: needs no loaded configuration, so a broken file
/// (what it is for) cannot stop it.
fn config_validate(m: &ArgMatches) -> i32 {
    let json_mode = m.get_flag("json");
    let file = match m.get_one::<String>("file") {
        Some(f) => PathBuf::from(f),
        None => crate::base::config::Config::path(
            m.get_one::<String>("config").map(PathBuf::from).as_deref(),
        ),
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return report_error(
            &HostError::io(format!("cannot read {}", file.display()), e).with_hint(
                "give the path of a config file, or create it (`elysiactl config path` says where)",
            ),
            json_mode,
        ),
    };
    // Weaviate in containers leaves no PID file: the runtime's marker says
    // a cluster may run, and then its own ports are not "taken".
    let ports = if crate::runtime::last_used().is_some() {
        crate::base::config::validate::Ports::StackMayRun
    } else {
        crate::base::config::validate::Ports::CheckTaken
    };
    let issues = crate::base::config::validate::validate(&text, &file, ports);
    let errors = issues.iter().filter(|i| i.severity == "error").count();
    let warnings = issues.len() - errors;
    let failed = errors > 0 || (m.get_flag("strict") && warnings > 0);
    if json_mode {
        let v = serde_json::json!({
            "file": file.display().to_string(), "valid": !failed,
            "errors": errors, "warnings": warnings, "issues": issues,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for i in &issues {
            let at = i.line.map(|l| format!(":{l}")).unwrap_or_default();
            let key = if i.key.is_empty() {
                String::new()
            } else {
                format!(" [{}]", i.key)
            };
            println!("{}{at}: {}{key}: {}", file.display(), i.severity, i.message);
            println!("  fix: {}", i.hint);
        }
        match (errors, warnings) {
            (0, 0) => println!("{}: valid", file.display()),
            (0, w) => println!(
                "{}: valid, {w} warning(s){}",
                file.display(),
                if failed { " (--strict: failing)" } else { "" }
            ),
            (e, w) => println!("{}: {e} error(s), {w} warning(s)", file.display()),
        }
    }
    i32::from(failed)
}

fn call_host(host: &crate::host::Host, name: &str, args: Vec<Value>) -> Result<Value, HostError> {
    let f = crate::host::find(name).expect("declared in host/config_fns.rs");
    host.call(f, args)
}

/// `config apply [FILE]` and `config rollback [--to N]`: the plan first,
/// then a confirmation (unless --yes or --dry-run), then the write, which
/// the host plans instead under --dry-run.
fn config_apply(ctx: &Invocation, m: &ArgMatches, rollback: bool) -> i32 {
    let json_mode = m.get_flag("json");
    let host = ctx.host();
    let (write, args) = if rollback {
        let mut opts = serde_json::Map::new();
        if let Some(n) = m.get_one::<i64>("to") {
            opts.insert("to".into(), serde_json::json!(n));
        }
        ("config.rollback", vec![Value::Object(opts)])
    } else {
        let file = m.get_one::<String>("file").map(|f| serde_json::json!(f));
        ("config.apply", file.into_iter().collect())
    };
    // The plan, as the dry run of the write computes it.
    let plan = {
        let dry = crate::host::Host::new(ctx.config.clone(), ctx.rt.handle().clone(), true);
        match call_host(&dry, write, args.clone()) {
            Ok(p) => p,
            Err(e) => return report_error(&e, json_mode),
        }
    };
    let steps = plan["changes"].as_array().cloned().unwrap_or_default();
    if !json_mode {
        if steps.is_empty() {
            println!("the running stack already runs with this configuration");
        } else {
            let rows: Vec<Value> = steps
                .iter()
                .map(|s| serde_json::json!({"key": s["key"], "file": s["file"], "running": s["running"], "action": s["action"]}))
                .collect();
            let cols = ["key", "file", "running", "action"].map(String::from);
            println!(
                "{}",
                crate::base::redact::text(&crate::base::output::render_table(&rows, &cols))
            );
        }
    }
    if let Some(refused) = plan["refused"].as_array().filter(|r| !r.is_empty()) {
        let reasons: Vec<String> = refused
            .iter()
            .map(|s| {
                format!(
                    "{}: {}",
                    s["key"].as_str().unwrap_or(""),
                    s["reason"].as_str().unwrap_or("")
                )
            })
            .collect();
        return report_error(
            &HostError::validation(format!("refused, nothing was changed: {}", reasons.join("; ")))
                .with_hint("apply the other changes on their own, or do the refused part by hand as each reason says"),
            json_mode,
        );
    }
    if ctx.dry_run {
        if json_mode {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            );
        }
        return 0;
    }
    if !m.get_flag("yes") {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return report_error(
                &HostError::validation("no terminal to confirm the change on").with_hint(
                    "pass --yes to apply without asking, or --dry-run to see the plan only",
                ),
                json_mode,
            );
        }
        eprint!("apply this? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing changed");
            return 1;
        }
    }
    match call_host(&host, write, args) {
        Ok(r) => {
            if json_mode {
                println!(
                    "{}",
                    crate::base::redact::text(
                        &serde_json::to_string_pretty(&r).unwrap_or_default()
                    )
                );
            } else {
                let done: Vec<&str> = r["done"]
                    .as_array()
                    .map(|d| d.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                println!(
                    "applied as version {}{}; {}",
                    r["version"],
                    if done.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", done.join(", "))
                    },
                    if r["verified"] == true {
                        "the stack runs with it (read back)"
                    } else {
                        "WARNING: the stack does not read back as the file"
                    }
                );
            }
            i32::from(r["verified"] != true)
        }
        Err(e) => report_error(&e, json_mode),
    }
}

fn config_history(ctx: &Invocation, json_mode: bool) -> i32 {
    match call_host(&ctx.host(), "config.history", vec![]) {
        Ok(v) if json_mode => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }
        Ok(v) => {
            let rows = v.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!(
                    "no configuration applied yet (`elysiactl config apply` records versions)"
                );
            } else {
                let cols = ["version", "time", "summary"].map(String::from);
                println!("{}", crate::base::output::render_table(&rows, &cols));
            }
            0
        }
        Err(e) => report_error(&e, json_mode),
    }
}

/// `config diff [A] [B]`: two files, or a file against the running stack.
fn config_diff(ctx: &Invocation, m: &ArgMatches) -> i32 {
    use crate::base::config::Config;
    let json_mode = m.get_flag("json");
    let a = m.get_one::<String>("a");
    let b = m.get_one::<String>("b");
    let (a_name, a_cfg, a_env) = match a {
        Some(a) => match config_side(a) {
            Ok(side) => side,
            Err(e) => return report_error(&e, json_mode),
        },
        None => {
            let file = ctx.config.file_path();
            match Config::load(Some(&file)) {
                Ok(c) => (file.display().to_string(), c, None),
                Err(e) => return report_error(&e, json_mode),
            }
        }
    };
    if let (Some(env), None) = (&a_env, b) {
        if *env != crate::base::paths::active_env() {
            let e = HostError::validation(format!(
                "the running stack compared is the active environment's, not {env}'s"
            ))
            .with_hint(format!("elysiactl --env {env} config diff"));
            return report_error(&e, json_mode);
        }
    }
    let (b_name, changes) = match b {
        Some(b) => match config_side(b) {
            Ok((b_name, b_cfg, _)) => (
                b_name,
                crate::services::config_diff::diff_configs(&a_cfg, &b_cfg),
            ),
            Err(e) => return report_error(&e, json_mode),
        },
        None => {
            let context =
                crate::base::context::Context::new(ctx.config.clone(), ctx.rt.handle().clone());
            match crate::services::config_diff::diff_running(&context, &a_cfg) {
                Ok(c) => ("running".to_string(), c),
                Err(e) => return report_error(&e, json_mode),
            }
        }
    };
    if json_mode {
        let v = serde_json::json!({"a": a_name, "b": b_name, "same": changes.is_empty(), "changes": changes});
        println!(
            "{}",
            crate::base::redact::text(&serde_json::to_string_pretty(&v).unwrap_or_default())
        );
    } else if changes.is_empty() {
        println!("no differences between {a_name} and {b_name}");
    } else {
        let rows: Vec<Value> = changes
            .iter()
            .map(|c| serde_json::json!({"key": c.key, "a": c.a, "b": c.b}))
            .collect();
        let table =
            crate::base::output::render_table(&rows, &["key".into(), "a".into(), "b".into()]);
        println!("a: {a_name}\nb: {b_name}");
        println!("{}", crate::base::redact::text(&table));
    }
    i32::from(!changes.is_empty())
}

/// One side of `config diff`: a config file, or else an environment's
/// effective configuration (its file merged over what it extends).
fn config_side(
    arg: &str,
) -> Result<(String, crate::base::config::Config, Option<String>), HostError> {
    let path = PathBuf::from(arg);
    if path.exists() {
        return crate::base::config::Config::load(Some(&path)).map(|c| (arg.to_string(), c, None));
    }
    if crate::services::envs::exists(arg) {
        return crate::base::config::Config::load_env(arg)
            .map(|c| (format!("environment {arg}"), c, Some(arg.to_string())));
    }
    Err(
        HostError::validation(format!("{arg} is neither a config file nor an environment"))
            .with_hint("give a file's path, or an environment `elysiactl env list` names"),
    )
}

fn config_show(ctx: &Invocation, json_mode: bool, origins: bool) -> i32 {
    let mut v = ctx.config.redacted_json();
    if json_mode {
        v["environment"] = json!(crate::base::paths::active_env());
        v["origins"] = json!(ctx.config.origins);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return 0;
    }
    if origins {
        return config_show_origins(ctx, v);
    }
    for s in &ctx.config.sources {
        println!("# from {s}");
    }
    let mut cfg = v;
    if let Some(o) = cfg.as_object_mut() {
        o.remove("sources");
    }
    // TOML has no null: an unset setting is said in a comment, so the rest
    // still reads back as a config file.
    let mut unset = Vec::new();
    drop_nulls(&mut cfg, "", &mut unset);
    for key in &unset {
        println!("# unset: {key}");
    }
    match toml::to_string_pretty(&cfg) {
        Ok(t) => {
            print!("{t}");
            0
        }
        Err(e) => report_error(
            &HostError::unknown(format!("cannot print the config: {e}")),
            false,
        ),
    }
}

/// `config show --origins`: one `key = value  # origin` line per setting.
fn config_show_origins(ctx: &Invocation, mut v: Value) -> i32 {
    if let Some(o) = v.as_object_mut() {
        o.remove("sources");
    }
    println!("# environment {}", crate::base::paths::active_env());
    let mut flat = Vec::new();
    flatten_settings(&v, "", &mut flat);
    for (key, value) in flat {
        let origin = ctx
            .config
            .origins
            .iter()
            .find(|(k, _)| {
                **k == key || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["))
            })
            .map(|(_, o)| o.as_str())
            .unwrap_or("default");
        println!("{key} = {value}  # {origin}");
    }
    0
}

/// Dotted keys and their values, tables opened (`weaviate.env.LOG_LEVEL`).
fn flatten_settings(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (k, item) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_settings(item, &path, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Removes null values (at any depth), collecting their dotted paths.
fn drop_nulls(v: &mut Value, prefix: &str, removed: &mut Vec<String>) {
    if let Value::Object(map) = v {
        map.retain(|k, item| {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if item.is_null() {
                removed.push(path);
                false
            } else {
                drop_nulls(item, &path, removed);
                true
            }
        });
    }
}

/// How `elysiactl api` prints the host API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiFormat {
    Text,
    Markdown,
    Json,
}

fn api(m: &ArgMatches) -> i32 {
    let format = if m.get_flag("json") {
        ApiFormat::Json
    } else if m.get_flag("markdown") {
        ApiFormat::Markdown
    } else {
        ApiFormat::Text
    };
    match api_output(m.get_one::<String>("module").map(String::as_str), format) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => report_error(&e, false),
    }
}

/// The host API (or one module of it), drawn by the renderer `:help` uses
/// in the REPL, so the two say the same.
fn api_output(only: Option<&str>, format: ApiFormat) -> Result<String, HostError> {
    if let Some(module) = only.filter(|m| help::module_doc(m).is_none()) {
        return Err(
            HostError::validation(format!("no module {module:?}")).with_hint(format!(
                "modules: {}",
                MODULES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    let selected = MODULES.iter().filter(|(n, _)| only.is_none_or(|o| o == *n));
    if format == ApiFormat::Json {
        let v: Vec<Value> = selected
            .map(|(name, doc)| help::module_json(name, doc))
            .collect();
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    // The whole listing says what its types mean; one module is looked up.
    let legend = match (only, format) {
        (Some(_), _) => String::new(),
        (None, ApiFormat::Markdown) => {
            format!("{API_MARKDOWN_HEADER}{}\n\n", TYPES_LEGEND.join(" "))
        }
        (None, _) => TYPES_LEGEND.join("\n") + "\n\n",
    };
    Ok(selected.fold(legend, |mut out, (name, doc)| {
        out.push_str(&match format {
            ApiFormat::Markdown => help::module_markdown(name, doc) + "\n",
            _ => help::module_text(name, doc, ".", help::Detail::Full) + "\n\n",
        });
        out
    }))
}

/// The whole API in Markdown is docs/api.md, word for word.
const API_MARKDOWN_HEADER: &str = "\
# Host API reference

Every function a playbook can call, in Rhai as `module::function(…)` and in Lua as
`module.function(…)`; options are maps (`#{timeout: 30}`, `{timeout = 30}`). Functions marked
[writes; dry-run aware] are planned, not run, under `--dry-run`. See [scripting.md](scripting.md) for errors,
dry-run and the sandbox.

Generated by `elysiactl api --markdown` from the registry both engines bind; `tests/docs.rs`
fails when this file is stale.

";

/// What the signatures' types mean, printed above the listing.
const TYPES_LEGEND: [&str; 4] = [
    "Types: `?` marks what may be left out; `duration` is seconds (30) or text (\"30s\",",
    "\"2m 30s\"); `node` is a node's name (\"weaviate-1\") or index (1); `[string]` is an array of",
    "strings; `{key?: type}` is a map of options (others are refused); `{a, b}` is a map with",
    "at least those keys; `\"x\"|\"y\"` is one of those strings.",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{registry, Effect};
    use crate::script::repl::help::help_text;

    #[test]
    fn api_lists_a_module_as_the_repl_help_does() {
        let api = api_output(Some("time"), ApiFormat::Text).unwrap();
        let repl = help_text(Some("time"), Language::Lua).unwrap();
        // The same renderer: the heading and every signature line alike.
        let signatures = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("  time."))
                .map(String::from)
                .collect()
        };
        assert!(!signatures(&api).is_empty(), "{api}");
        assert_eq!(signatures(&api), signatures(&repl));
        assert_eq!(api.lines().next(), repl.lines().next());
    }

    #[test]
    fn api_shows_whole_docs_and_marks_writes() {
        let all = api_output(None, ApiFormat::Text).unwrap();
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for f in registry() {
            assert!(
                squash(&all).contains(&squash(f.doc)),
                "{} is missing its doc",
                f.qualified_name()
            );
        }
        let write = registry()
            .iter()
            .find(|f| f.effect == Effect::Write)
            .expect("some function writes");
        let module = api_output(Some(write.module), ApiFormat::Text).unwrap();
        let line = module
            .lines()
            .find(|l| l.starts_with(&format!("  {}(", write.qualified_name())))
            .unwrap();
        assert!(line.ends_with("[writes; dry-run aware]"), "{line}");
    }

    #[test]
    fn api_markdown_is_a_table_per_module() {
        let md = api_output(Some("out"), ApiFormat::Markdown).unwrap();
        assert!(md.starts_with("## `out`\n\n"), "{md}");
        assert!(
            md.contains("\n| function | does |\n|---|---|\n| `out."),
            "{md}"
        );
        // A `|` in a doc would end the cell.
        assert!(
            md.lines()
                .filter(|l| l.starts_with("| `"))
                .all(|l| l.matches(" | ").count() == 1),
            "{md}"
        );
    }

    #[test]
    fn api_json_and_unknown_modules() {
        let v: Value =
            serde_json::from_str(&api_output(Some("time"), ApiFormat::Json).unwrap()).unwrap();
        assert_eq!(v[0]["module"], "time");
        assert!(v[0]["functions"][0]["signature"].is_string());
        let e = api_output(Some("tiem"), ApiFormat::Text).unwrap_err();
        assert!(e.message.contains("tiem") && e.hint.contains("time"), "{e}");
    }
}
