//! The host API: every primitive a script can call, declared once in a
//! registry. The Rhai and Lua engines, the REPL's completion and `:help`, and
//! the README's API listing all read this one table, so the two languages
//! cannot drift apart.
//!
//! Values cross the boundary as JSON (`serde_json::Value`): maps, arrays,
//! strings, numbers, booleans and null mean the same in both languages.

pub mod args;
pub mod cluster;
pub mod config_fns;
pub mod docker;
pub mod dryrun;
pub mod embed;
pub mod health;
pub mod index;
pub mod install;
pub mod out;
pub mod process;
pub mod replication;
pub mod repos;
pub mod schedule;
pub mod service;
pub mod time;

use crate::base::config::Config;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
pub use args::Args;
use dryrun::Plan;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// Whether a function changes anything. Writes are intercepted in dry-run mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Read,
    Write,
}

pub type HostCall = fn(&Host, &Args) -> HostResult<Value>;

/// One function of the host API.
pub struct HostFn {
    pub module: &'static str,
    pub name: &'static str,
    /// `name(param: type, opt?: type) -> type`, as shown by `:help`.
    pub signature: &'static str,
    pub doc: &'static str,
    pub effect: Effect,
    pub call: HostCall,
    /// For writes under `--dry-run`: what the call would have returned, and any
    /// change to the simulated state later reads should see. `None` returns null.
    pub simulate: Option<HostCall>,
}

impl HostFn {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }

    /// (required, total) parameter counts, read from the signature so they are
    /// declared once.
    pub fn arity(&self) -> (usize, usize) {
        let inner = self
            .signature
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(params, _)| params.trim())
            .unwrap_or("");
        if inner.is_empty() {
            return (0, 0);
        }
        let params: Vec<&str> = inner.split(',').map(str::trim).collect();
        let required = params
            .iter()
            .filter(|p| !p.split(':').next().unwrap_or("").trim().ends_with('?'))
            .count();
        (required, params.len())
    }
}

/// Declares a read function.
pub const fn read(
    module: &'static str,
    name: &'static str,
    signature: &'static str,
    doc: &'static str,
    call: HostCall,
) -> HostFn {
    HostFn {
        module,
        name,
        signature,
        doc,
        effect: Effect::Read,
        call,
        simulate: None,
    }
}

/// Declares a write function and how it is simulated under `--dry-run`.
pub const fn write(
    module: &'static str,
    name: &'static str,
    signature: &'static str,
    doc: &'static str,
    call: HostCall,
    simulate: Option<HostCall>,
) -> HostFn {
    HostFn {
        module,
        name,
        signature,
        doc,
        effect: Effect::Write,
        call,
        simulate,
    }
}

/// Module docs, shown by `:help MODULE`.
pub const MODULES: &[(&str, &str)] = &[
    (
        "cluster",
        "The Weaviate cluster over its REST API: nodes, readiness, RAFT, schema, meta.",
    ),
    (
        "docker",
        "The Docker engine through its API: containers, networks, images, stats, logs.",
    ),
    (
        "process",
        "Local processes: spawn with PID and log file, signal, wait, stats.",
    ),
    (
        "service",
        "Lifecycle of the managed services (weaviate, elysia): start, stop, restart, status.",
    ),
    (
        "health",
        "Health of the services and the cluster: readiness, membership, RAFT, replication, data.",
    ),
    (
        "replication",
        "Replication factors changed without losing data: scale plans, copies, guarded recreation.",
    ),
    (
        "index",
        "Source repositories into Weaviate: incremental, resumable index sync and its error log.",
    ),
    (
        "embed",
        "Text to vectors with the configured embedder, and the OpenAI-compatible embedding server.",
    ),
    (
        "schedule",
        "Jobs run at cron times by the daemon, and the record of every run.",
    ),
    (
        "daemon",
        "The scheduler daemon: run, start (detached), status, stop.",
    ),
    (
        "repos",
        "The repository list the scheduled sync indexes: clone, fast-forward, count changes.",
    ),
    (
        "install",
        "Build and install Weaviate and Elysia into the tool's data directory.",
    ),
    (
        "out",
        "Output: print, tables, JSON, progress bars, warnings.",
    ),
    (
        "time",
        "Time: sleep, durations such as \"30s\", timestamps.",
    ),
    ("config", "The effective configuration (secrets redacted)."),
];

/// Every host function, in a stable order.
pub fn registry() -> &'static [HostFn] {
    static REGISTRY: OnceLock<Vec<HostFn>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut all = Vec::new();
        all.extend(cluster::functions());
        all.extend(docker::functions());
        all.extend(process::functions());
        all.extend(service::functions());
        all.extend(health::functions());
        all.extend(replication::functions());
        all.extend(index::functions());
        all.extend(embed::functions());
        all.extend(schedule::functions());
        all.extend(repos::functions());
        all.extend(install::functions());
        all.extend(out::functions());
        all.extend(time::functions());
        all.extend(config_fns::functions());
        all
    })
}

pub fn find(qualified: &str) -> Option<&'static HostFn> {
    let (module, name) = qualified
        .split_once(['.', ':'])
        .map(|(m, n)| (m, n.trim_start_matches(':')))?;
    registry()
        .iter()
        .find(|f| f.module == module && f.name == name)
}

/// Shared state behind every host call of one script run.
/// Whether command words (`["index", "repos"]`) name a command: the script
/// catalog's answer, handed down by the layer that loads the catalog.
pub type CommandCheck = Arc<dyn Fn(&[String]) -> bool + Send + Sync>;

pub struct Host {
    pub ctx: Context,
    pub dry_run: bool,
    pub plan: Plan,
    /// For `schedule.add` and the daemon, which refuse jobs naming no command.
    pub commands: Option<CommandCheck>,
}

/// Host functions read the configuration, HTTP client and output through
/// the context, and hand `&Host` to the domain as `&Context`.
impl std::ops::Deref for Host {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Host {
    pub fn new(config: Config, rt: tokio::runtime::Handle, dry_run: bool) -> Arc<Host> {
        Arc::new(Host {
            ctx: Context::new(config, rt),
            dry_run,
            plan: Plan::default(),
            commands: None,
        })
    }

    /// A host that can check command names against the script catalog.
    pub fn with_commands(
        config: Config,
        rt: tokio::runtime::Handle,
        dry_run: bool,
        commands: CommandCheck,
    ) -> Arc<Host> {
        Arc::new(Host {
            ctx: Context::new(config, rt),
            dry_run,
            plan: Plan::default(),
            commands: Some(commands),
        })
    }

    /// The single entry point both engines use to call a host function.
    pub fn call(&self, f: &HostFn, args: Vec<Value>) -> HostResult<Value> {
        let (required, total) = f.arity();
        if args.len() < required || args.len() > total {
            return Err(HostError::validation(format!(
                "{}() takes {} argument{}, got {}",
                f.qualified_name(),
                if required == total {
                    format!("{total}")
                } else {
                    format!("{required} to {total}")
                },
                if total == 1 { "" } else { "s" },
                args.len()
            ))
            .with_hint(format!("signature: {}.{}", f.module, f.signature)));
        }
        let args = Args::new(f, args);
        if f.effect == Effect::Write && self.dry_run {
            self.plan.record(self, f, &args);
            return match f.simulate {
                Some(sim) => sim(self, &args),
                None => Ok(Value::Null),
            };
        }
        (f.call)(self, &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_doc_and_parsable_signature() {
        let mut seen = std::collections::HashSet::new();
        for f in registry() {
            assert!(!f.doc.is_empty(), "{} has no doc", f.qualified_name());
            assert!(
                f.signature.starts_with(&format!("{}(", f.name)),
                "{}: signature must start with its name",
                f.qualified_name()
            );
            assert!(
                seen.insert(f.qualified_name()),
                "{} declared twice",
                f.qualified_name()
            );
            assert!(
                MODULES.iter().any(|(m, _)| *m == f.module),
                "{} has no module doc",
                f.module
            );
            let (req, total) = f.arity();
            assert!(
                req <= total && total <= 4,
                "{}: arity {req}/{total}",
                f.qualified_name()
            );
        }
    }

    #[test]
    fn every_function_can_be_called_from_rhai() {
        // Rhai reserves words such as `sync`, `print` and `export`: a host
        // function named so could not be called at all.
        let engine = rhai::Engine::new();
        for f in registry() {
            let call = format!("{}::{}()", f.module, f.name);
            assert!(
                engine.compile(&call).is_ok(),
                "{call} does not parse in Rhai"
            );
        }
    }

    #[test]
    fn arity_counts_optional_parameters() {
        let f = read(
            "m",
            "f",
            "f(a: string, opts?: map) -> map",
            "doc",
            |_, _| Ok(Value::Null),
        );
        assert_eq!(f.arity(), (1, 2));
        let g = read("m", "g", "g() -> null", "doc", |_, _| Ok(Value::Null));
        assert_eq!(g.arity(), (0, 0));
    }
}
