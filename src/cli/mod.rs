//! The command line. Built-in commands are bundled scripts; their headers
//! make the clap tree, so `--help` and completion come from the scripts
//! themselves. A few meta commands (run, repl, commands, config, api,
//! completions) are Rust because they operate on scripts and the tool.

mod env;
mod meta;

use crate::base::config::{Config, RuntimeKind};
use crate::base::error::{HostError, HostResult};
use crate::host::Host;
use crate::script::catalog::{Catalog, Origin};
use crate::script::{self, Limits, Script};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

const AFTER_HELP: &str = "\
Every command above except the meta commands is a bundled script (see `elysiactl commands`);
drop NAME.rhai or NAME.lua into $XDG_CONFIG_HOME/elysiactl/scripts/ to add your own.

Exit codes: 0 success; 1 failure or not everything is up; 2 bad usage;
124 script time limit; 130 interrupted. A script's integer result (0 to 255)
is its exit code; a negative or larger one is an error (exit 1).";

/// The version with the commit it was built from (build.rs), so a report
/// of a bug names the exact source.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ELYSIACTL_COMMIT"),
    ")"
);

fn global_args(cmd: Command) -> Command {
    cmd.arg(
        Arg::new("env")
            .long("env")
            .global(true)
            .value_name("NAME")
            .help("The environment to act on [default: $ELYSIACTL_ENV, else `env switch`'s choice, else default]; `elysiactl env list` names them"),
    )
    .arg(
        Arg::new("config")
            .long("config")
            .global(true)
            .value_name("FILE")
            .help("Config file [default: $XDG_CONFIG_HOME/elysiactl/config.toml]"),
    )
    .arg(
        Arg::new("env_file")
            .long("env-file")
            .global(true)
            .value_name("FILE")
            .action(ArgAction::Append)
            .help("Read NAME=value variables from FILE (the original tool's config/*.env) over the environment; repeatable"),
    )
    .arg(
        Arg::new("dry_run")
            .long("dry-run")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Run reads for real, print every change instead of making it"),
    )
    .arg(
        Arg::new("runtime")
            .long("runtime")
            .global(true)
            .value_name("RUNTIME")
            .value_parser(["docker", "process", "swarm", "remote"])
            .help("Where Weaviate runs [default: configured, else detected]"),
    )
    .arg(
        Arg::new("script_timeout")
            .long("script-timeout")
            .global(true)
            .value_name("DURATION")
            .help("Wall-clock limit for the script behind the command, e.g. 10m"),
    )
    .arg(
        // Not -v: commands such as `health -v` use it for their own detail.
        Arg::new("log_level")
            .long("log-level")
            .global(true)
            .value_name("LEVEL")
            .value_parser(["error", "warn", "info", "debug", "trace"])
            .help("What the tool logs to standard error [default: warn; or ELYSIACTL_LOG]"),
    )
}

pub fn build_command(catalog: &Catalog) -> Command {
    let mut root = Command::new("elysiactl")
        .version(VERSION)
        .about("Run, watch, script and repair a multi-node Weaviate cluster and the Elysia service")
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg_required_else_help(true);
    root = global_args(root);
    root = catalog.add_to(root);
    env::add_to(meta::add_to(root))
}

/// What to log: the `--log-level` flag when given (what the user just
/// typed wins), else `ELYSIACTL_LOG`, else warnings.
fn init_logging(flag: Option<&str>) {
    use std::io::IsTerminal;
    let filter = match flag {
        Some(level) => tracing_subscriber::EnvFilter::new(format!("elysiactl={level}")),
        None => tracing_subscriber::EnvFilter::try_from_env("ELYSIACTL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("elysiactl=warn")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(crate::base::redact::stderr)
        .without_time()
        .try_init();
}

/// Configuration with the global flags applied.
fn load_config(m: &ArgMatches) -> HostResult<Config> {
    let path = m.get_one::<String>("config").map(PathBuf::from);
    let env_files: Vec<PathBuf> = m
        .get_many::<String>("env_file")
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .collect();
    let mut cfg = Config::load_with_env_files(path.as_deref(), &env_files)?;
    if let Some(r) = m.get_one::<String>("runtime") {
        cfg.weaviate.runtime = Some(RuntimeKind::parse(r)?);
        cfg.sources.push("flag --runtime".into());
        cfg.origins
            .insert("weaviate.runtime".into(), "flag --runtime".into());
    }
    if let Some(t) = m.get_one::<String>("script_timeout") {
        crate::base::units::parse_duration(t)?;
        cfg.script.timeout = t.clone();
    }
    Ok(cfg)
}

/// Decide the environment this run acts on and pin it in `ELYSIACTL_ENV`,
/// where every path (base::paths) and every process the tool starts reads
/// it, so nothing later (an `env switch` from another shell) can change it
/// halfway. Returns what chose it. An environment with no config is refused
/// unless `may_be_missing` (`env` itself: to switch away from it, or remove it).
fn pin_environment(m: &ArgMatches, may_be_missing: bool) -> HostResult<&'static str> {
    let flag = m.get_one::<String>("env").map(String::as_str);
    let (name, source) = crate::services::envs::resolve(flag)?;
    if !may_be_missing {
        crate::services::envs::require(&name)?;
    }
    // Single-threaded still: no runtime has been built and no thread spawned.
    std::env::set_var(crate::base::paths::ENV_VAR, &name);
    Ok(source)
}

/// One run of the command line: what every command it dispatches shares.
pub struct Invocation {
    pub rt: tokio::runtime::Runtime,
    pub config: Config,
    pub dry_run: bool,
    pub catalog: Arc<Catalog>,
}

impl Invocation {
    pub fn host(&self) -> Arc<Host> {
        let catalog = self.catalog.clone();
        let host = Host::with_commands(
            self.config.clone(),
            self.rt.handle().clone(),
            self.dry_run,
            Arc::new(move |words: &[String]| catalog.find_command(words)),
        );
        let limits = self.limits();
        let _ = host
            .script_runner
            .set(Arc::new(move |host, path, function| {
                script::call_file_function(host, path, function, limits)
            }));
        host
    }
    pub fn limits(&self) -> Limits {
        Limits::from_config(&self.config)
    }
}

/// Print an error for a person (stderr) and, under `--json`, for a program (stdout).
pub fn report_error(e: &HostError, json_mode: bool) -> i32 {
    if json_mode {
        println!(
            "{}",
            json!({ "error": crate::base::redact::json_copy(&e.to_json()) })
        );
    }
    // Messages carry script text and paths: no escape sequence of theirs
    // reaches the terminal.
    eprintln!(
        "error: {}",
        crate::base::output::sanitize(&crate::base::redact::text(&e.message), true)
    );
    if !e.hint.is_empty() {
        eprintln!(
            "  hint: {}",
            crate::base::output::sanitize(&crate::base::redact::text(&e.hint), true)
        );
    }
    e.exit_code
}

/// Exit code from a script's result: an integer from 0 to 255 is the code,
/// a non-integer is success. Any other integer is refused: the shell would
/// see it modulo 256, so -1 or 256 would read as 255 or success.
pub fn exit_code_of(v: &Value) -> HostResult<i32> {
    let Value::Number(n) = v else {
        return Ok(0);
    };
    match (n.as_i64(), n.as_u64()) {
        (Some(c), _) if (0..=255).contains(&c) => Ok(c as i32),
        (None, None) => Ok(0),
        _ => Err(HostError::validation(format!(
            "the script returned {n}, which is not an exit code"
        ))
        .with_hint("return an integer from 0 (success) to 255, or throw an error to fail")),
    }
}

pub fn run_script(ctx: &Invocation, script: Script) -> i32 {
    let json_mode = script
        .args
        .get("json")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let host = ctx.host();
    let result = script::run(host.clone(), script, ctx.limits());
    // Faults the script injected are undone however it ended; the interrupt
    // that may have ended it must not stop the undo.
    if !host.chaos_faults.lock().unwrap().is_empty() {
        crate::base::cancel::clear_interrupt();
        crate::host::chaos::rollback_run(&host);
    }
    if host
        .migrate_locked
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        crate::base::cancel::clear_interrupt();
        crate::host::migrate::release_run(&host);
    }
    if ctx.dry_run {
        let n = host.plan.steps().len();
        eprintln!(
            "[dry-run] {n} change{} planned, none made",
            if n == 1 { "" } else { "s" }
        );
    }
    match result.and_then(|v| exit_code_of(&v)) {
        Ok(code) => code,
        Err(e) => report_error(&e, json_mode),
    }
}

pub fn main() -> i32 {
    // Like other Unix tools: `elysiactl … | head` ends quietly when the
    // reader goes away, instead of panicking on a broken pipe.
    // SAFETY: restoring the default disposition of a signal has no preconditions.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let catalog = match Catalog::load() {
        Ok(c) => Arc::new(c),
        Err(e) => return report_error(&e, false),
    };
    for d in &catalog.disabled {
        eprintln!("{}", d.warning());
    }
    let cmd = build_command(&catalog);
    let matches = match cmd.clone().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 2,
            };
        }
    };
    init_logging(matches.get_one::<String>("log_level").map(String::as_str));
    let (name, sub) = matches.subcommand().expect("subcommand_required");
    // These work on the tool itself, or on environments: a missing one
    // (a switched-to file deleted by hand) must not stop them.
    let needs_no_env = ["env", "commands", "api", "completions", "man"].contains(&name);
    let env_source = match pin_environment(&matches, needs_no_env) {
        Ok(source) => source,
        Err(e) => return report_error(&e, false),
    };
    if name == "env" {
        return env::dispatch(sub, env_source);
    }
    if let Some(code) = meta::dispatch_without_config(&catalog, &cmd, name, sub) {
        return code;
    }
    let config = match load_config(&matches) {
        Ok(c) => c,
        Err(e) => return report_error(&e, false),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report_error(
                &HostError::unknown(format!("cannot start the async runtime: {e}")),
                false,
            )
        }
    };
    // First Ctrl-C: stop the script at its next step. Second: leave at once.
    // The handler is registered here, before any script runs: registered from
    // a spawned task, a Ctrl-C that came before its first poll would kill the
    // process outright.
    let sigint = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    });
    if let Ok(mut sigint) = sigint {
        rt.spawn(async move {
            while sigint.recv().await.is_some() {
                if crate::base::cancel::interrupted() {
                    eprintln!("\ninterrupted twice; exiting");
                    std::process::exit(130);
                }
                crate::base::cancel::interrupt();
            }
        });
    }
    let ctx = Invocation {
        rt,
        config,
        dry_run: matches.get_flag("dry_run"),
        catalog: catalog.clone(),
    };
    if let Some(code) = meta::dispatch(&ctx, name, sub) {
        return code;
    }
    // Walk nested subcommands down to the script.
    let mut path = vec![name.to_string()];
    let mut m = sub;
    while let Some((n, s)) = m.subcommand() {
        path.push(n.to_string());
        m = s;
    }
    let Some(entry) = catalog.find(&path) else {
        return report_error(
            &HostError::validation(format!("unknown command `{}`", path.join(" ")))
                .with_hint("`elysiactl commands` lists every command"),
            false,
        );
    };
    let args = entry.header.args_from(m);
    let import_dir = match &entry.origin {
        Origin::User(p) => p.parent().map(PathBuf::from),
        Origin::Builtin(_) => None,
    };
    run_script(
        &ctx,
        Script {
            name: entry.origin.display(),
            source: entry.source.clone(),
            language: entry.language,
            import_dir,
            args,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mistake in a bundled header must fail here, not in a user's hands
    /// (clap checks a command tree fully only when asked, or when it panics).
    #[test]
    fn every_bundled_header_builds_a_valid_command() {
        let catalog = Catalog::builtin().expect("every bundled header parses");
        assert!(catalog.entries.len() > 10);
        for e in &catalog.entries {
            e.header
                .command(e.path.last().expect("non-empty path"))
                .debug_assert();
        }
        build_command(&catalog).debug_assert();
    }
}
