//! The host API: every primitive a script can call, declared once in a
//! registry. The Rhai and Lua engines, the REPL's completion and `:help`, and
//! docs/api.md all read this one table, so the two languages
//! cannot drift apart.
//!
//! Values cross the boundary as JSON (`serde_json::Value`): maps, arrays,
//! strings, numbers, booleans and null mean the same in both languages.
//!
//! Each function is declared with its parameters and result typed
//! ([`decl`]); signatures, arity, argument checks and option checks are all
//! generated from that, so a function body starts from arguments that have
//! the declared types.
//!
//! # Dry-run
//!
//! Under `--dry-run` reads run and writes are planned: [`Host::call`] records
//! the step, prints `would …`, and returns what the function's simulation
//! says the call would have returned. Whether a call writes is decided here,
//! from the declaration, never by the function itself:
//!
//! * [`write`] declares a write and cannot be written without its
//!   simulation, so no write answers a dry run with nothing.
//! * A read cannot hide a write behind an option: an option that changes
//!   something is declared with [`HostFn::writes_when`], which also takes the
//!   simulation, and a call that sets it is planned like a write. Options of
//!   a read that are not so declared cannot be made to write by the caller.
//! * A simulation returns the same shape as the real call: both are checked
//!   against the declared result type (the real one in every debug build,
//!   the simulation by `tests/dry_run.rs`, which runs every write of the
//!   registry under `--dry-run` and fails for one it has no case for), and
//!   that test also checks that nothing on disk or in Weaviate changed.
//! * Simulated changes are remembered in the plan ([`dryrun::Plan`]) so that
//!   later reads of the same run see them (a collection "created" is listed).
//!   The domain below never sees the plan: a host function passes it what a
//!   simulation needs.

pub mod args;
pub mod backup;
pub mod bench;
pub mod chaos;
pub mod chaos_scenario;
pub mod cluster;
pub mod config_fns;
pub mod decl;
pub mod docker;
pub mod dryrun;
pub mod elysia;
pub mod embed;
pub mod env;
pub mod health;
pub mod index;
pub mod install;
pub mod logs;
pub mod migrate;
pub mod out;
pub mod process;
pub mod replication;
pub mod repos;
pub mod schedule;
pub mod service;
pub mod testdata;
pub mod time;

use crate::base::config::Config;
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
pub use args::{Args, ScriptFn};
pub use decl::{opt, refused, required, OptKey, Param, Ty};
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

/// One function of the host API, declared with [`read`] or [`write`] and
/// the builder methods below; see the module doc for how dry-run uses it.
pub struct HostFn {
    pub module: &'static str,
    pub name: &'static str,
    /// `name(param: type, opts?: {key?: type}) -> type`, generated from the
    /// declaration when the registry is built.
    pub signature: &'static str,
    pub doc: &'static str,
    pub params: Vec<Param>,
    pub returns: Ty,
    pub effect: Effect,
    pub call: HostCall,
    /// What a planned call returns instead of running: set for every write
    /// (by [`write`]) and for a read with writing options (by `writes_when`).
    simulate: Option<HostCall>,
}

/// Declares a read: it runs under `--dry-run` too.
pub fn read(module: &'static str, name: &'static str, call: HostCall) -> HostFn {
    HostFn {
        module,
        name,
        signature: "",
        doc: "",
        params: Vec::new(),
        returns: Ty::Any,
        effect: Effect::Read,
        call,
        simulate: None,
    }
}

/// Declares a write and its simulation: under `--dry-run` the call is
/// recorded in the plan and `simulate` returns what the call would have,
/// in the same shape, and remembers the simulated change for later reads.
pub fn write(
    module: &'static str,
    name: &'static str,
    call: HostCall,
    simulate: HostCall,
) -> HostFn {
    HostFn {
        effect: Effect::Write,
        simulate: Some(simulate),
        ..read(module, name, call)
    }
}

impl HostFn {
    pub fn doc(mut self, doc: &'static str) -> HostFn {
        self.doc = doc;
        self
    }

    /// A parameter that must be given.
    pub fn param(mut self, name: &'static str, ty: Ty) -> HostFn {
        self.params.push(Param {
            name,
            ty,
            optional: false,
        });
        self
    }

    /// A parameter that may be left out (or given as null).
    pub fn optional(mut self, name: &'static str, ty: Ty) -> HostFn {
        self.params.push(Param {
            name,
            ty,
            optional: true,
        });
        self
    }

    /// The usual last parameter: an optional map of these options.
    pub fn opts(self, keys: Vec<OptKey>) -> HostFn {
        self.optional("opts", Ty::Opts(keys))
    }

    pub fn returns(mut self, ty: Ty) -> HostFn {
        self.returns = ty;
        self
    }

    /// Options of a read that change something when set: such a call is a
    /// write, planned under `--dry-run` and answered by `simulate`. The only
    /// way to mark an option as writing, so none goes without a simulation.
    pub fn writes_when(mut self, options: &[&'static str], simulate: HostCall) -> HostFn {
        for name in options {
            let key = self
                .params
                .iter_mut()
                .filter_map(|p| match &mut p.ty {
                    Ty::Opts(keys) => Some(keys),
                    _ => None,
                })
                .flatten()
                .find(|k| k.name == *name);
            match key {
                Some(k) => k.writes = true,
                None => panic!(
                    "{}.{}: no option `{name}` to mark as writing",
                    self.module, self.name
                ),
            }
        }
        self.simulate = Some(simulate);
        self
    }

    /// Generates the signature; the registry calls it for every function.
    pub fn finish(mut self) -> HostFn {
        self.signature = Box::leak(self.render_signature().into_boxed_str());
        self
    }

    fn render_signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}{}: {}", p.name, if p.optional { "?" } else { "" }, p.ty))
            .collect();
        format!("{}({}) -> {}", self.name, params.join(", "), self.returns)
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }

    /// (required, total) numbers of arguments.
    pub fn arity(&self) -> (usize, usize) {
        let required = self.params.iter().filter(|p| !p.optional).count();
        (required, self.params.len())
    }

    /// The options whose setting makes this call a write.
    pub fn writing_options(&self) -> Vec<&'static str> {
        self.params
            .iter()
            .filter_map(|p| match &p.ty {
                Ty::Opts(keys) => Some(keys),
                _ => None,
            })
            .flatten()
            .filter(|k| k.writes)
            .map(|k| k.name)
            .collect()
    }

    /// The simulation that answers this call under `--dry-run`, or None when
    /// the call only reads.
    pub fn simulation_for(&self, args: &[Value]) -> Option<HostCall> {
        let writes = self.effect == Effect::Write
            || self.params.iter().zip(args).any(|(p, v)| match &p.ty {
                Ty::Opts(keys) => keys.iter().any(|k| k.writes && decl::is_set(v.get(k.name))),
                _ => false,
            });
        self.simulate.filter(|_| writes)
    }

    /// A result that does not have the declared type is a bug in the host,
    /// found by every test that calls the function.
    fn check_result(&self, v: Value) -> HostResult<Value> {
        match self.returns.check(&v) {
            Ok(()) => Ok(v),
            Err(m) => Err(HostError::unknown(format!(
                "{}() returned {}, but it is declared to return {}",
                self.qualified_name(),
                decl::describe_value(&v),
                m.expected
            ))
            .with_hint("the declaration in src/host and the code disagree: a bug in elysiactl")),
        }
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
        "elysia",
        "Elysia beyond its lifecycle: how many Elysia processes run behind nginx, each user kept on one.",
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
        "testdata",
        "Seeded test datasets: generate, list, clean, validate against their seed, export.",
    ),
    (
        "bench",
        "Benchmarks: an open-model load against a test dataset, saved runs, statistical comparison.",
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
    (
        "env",
        "The environment a script acts on (a named config with its own state), and the others.",
    ),
    (
        "logs",
        "What every service logged: read, filter, follow, print, export for a bug report.",
    ),
    (
        "backup",
        "Backups of the cluster into the S3 store ([backup]): create, list, verify, restore, prune.",
    ),
    (
        "chaos",
        "Faults put into the cluster on purpose, each undone at its deadline: node kill, stop, pause; the fault registry, reset, the journal.",
    ),
    (
        "migrate",
        "Versioned schema migrations: the files, the record of applied versions in the cluster, running up() and down().",
    ),
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
        all.extend(elysia::functions());
        all.extend(health::functions());
        all.extend(replication::functions());
        all.extend(index::functions());
        all.extend(embed::functions());
        all.extend(env::functions());
        all.extend(schedule::functions());
        all.extend(repos::functions());
        all.extend(install::functions());
        all.extend(testdata::functions());
        all.extend(bench::functions());
        all.extend(out::functions());
        all.extend(time::functions());
        all.extend(config_fns::functions());
        all.extend(logs::functions());
        all.extend(chaos::functions());
        all.extend(chaos_scenario::functions());
        all.extend(backup::functions());
        all.extend(migrate::functions());
        all.into_iter().map(HostFn::finish).collect()
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

/// Calls one function of a script file (a migration's `up` or `down`) on
/// this host: the script layer's engines, handed down by the layer that
/// owns them, as [`CommandCheck`] is.
pub type ScriptRunner =
    Arc<dyn Fn(Arc<Host>, &std::path::Path, &str) -> HostResult<Value> + Send + Sync>;

pub struct Host {
    pub ctx: Context,
    pub dry_run: bool,
    pub plan: Plan,
    /// For `schedule.add` and the daemon, which refuse jobs naming no command.
    pub commands: Option<CommandCheck>,
    /// Faults this run injected (not detached): undone when the script ends.
    pub chaos_faults: std::sync::Mutex<Vec<String>>,
    /// Whether this run holds the migrations lock: released when the script
    /// ends, however it ends (see `migrate::release_run`).
    pub migrate_locked: std::sync::atomic::AtomicBool,
    /// For `migrate.run`; unset where no engine is at hand (unit tests).
    pub script_runner: OnceLock<ScriptRunner>,
    /// This host itself, for a script run from inside a host call, whose
    /// engine holds the host as every engine does.
    me: std::sync::Weak<Host>,
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
        Arc::new_cyclic(|me| Host {
            ctx: Context::new(config, rt),
            dry_run,
            plan: Plan::default(),
            commands: None,
            chaos_faults: Default::default(),
            migrate_locked: Default::default(),
            script_runner: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// A host that can check command names against the script catalog.
    pub fn with_commands(
        config: Config,
        rt: tokio::runtime::Handle,
        dry_run: bool,
        commands: CommandCheck,
    ) -> Arc<Host> {
        Arc::new_cyclic(|me| Host {
            ctx: Context::new(config, rt),
            dry_run,
            plan: Plan::default(),
            commands: Some(commands),
            chaos_faults: Default::default(),
            migrate_locked: Default::default(),
            script_runner: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// Run function `function` of the script file at `path` on this host
    /// (same dry run, same plan, same limits).
    pub fn run_script_function(&self, path: &std::path::Path, function: &str) -> HostResult<Value> {
        let (Some(runner), Some(me)) = (self.script_runner.get(), self.me.upgrade()) else {
            return Err(HostError::unknown(
                "no script engine is attached to this host".to_string(),
            )
            .with_hint("a bug in elysiactl: the command line attaches one to every host"));
        };
        runner(me, path, function)
    }

    /// The single entry point both engines use to call a host function:
    /// arguments are checked against the declaration, then the call runs, or,
    /// under `--dry-run` when it would change something, is planned.
    pub fn call(&self, f: &HostFn, args: Vec<Value>) -> HostResult<Value> {
        self.call_with_functions(f, args, Vec::new())
    }

    /// A call in which the script also passed functions of its own (null in
    /// `args` at their positions), for the host to call back.
    pub fn call_with_functions(
        &self,
        f: &HostFn,
        args: Vec<Value>,
        functions: Vec<(usize, ScriptFn<'_>)>,
    ) -> HostResult<Value> {
        let positions: Vec<usize> = functions.iter().map(|(i, _)| *i).collect();
        decl::check_call(
            &f.qualified_name(),
            &format!("{}.{}", f.module, f.signature),
            &f.params,
            &args,
            &positions,
        )?;
        let args = Args::with_functions(f, args, functions);
        let result = match f.simulation_for(args.values()) {
            Some(simulate) if self.dry_run => {
                self.plan.record(self, f, &args);
                simulate(self, &args)
            }
            _ => (f.call)(self, &args),
        };
        if cfg!(debug_assertions) {
            result.and_then(|v| f.check_result(v))
        } else {
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_function_is_declared_completely() {
        let mut seen = std::collections::HashSet::new();
        for f in registry() {
            let name = f.qualified_name();
            assert!(!f.doc.is_empty(), "{name} has no doc");
            assert!(seen.insert(name.clone()), "{name} declared twice");
            assert!(
                MODULES.iter().any(|(m, _)| *m == f.module),
                "{} has no module doc",
                f.module
            );
            assert!(
                f.params.windows(2).all(|w| !w[0].optional || w[1].optional),
                "{name}: a required parameter follows an optional one"
            );
            assert!(
                f.effect == Effect::Read || f.simulate.is_some(),
                "{name}: a write without a simulation"
            );
            assert!(
                f.writing_options().is_empty() || f.simulate.is_some(),
                "{name}: a writing option without a simulation"
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

    fn nothing(_: &Host, _: &Args) -> HostResult<Value> {
        Ok(Value::Null)
    }

    fn planned(_: &Host, _: &Args) -> HostResult<Value> {
        Ok(json!("planned"))
    }

    #[test]
    fn signature_and_arity_come_from_the_parameters() {
        let f = read("m", "f", nothing)
            .param("a", Ty::Str)
            .opts(vec![opt("verbose", Ty::Bool)])
            .returns(Ty::Map)
            .finish();
        assert_eq!(f.signature, "f(a: string, opts?: {verbose?: bool}) -> map");
        assert_eq!(f.arity(), (1, 2));
        let g = read("m", "g", nothing).returns(Ty::Null).finish();
        assert_eq!(g.signature, "g() -> null");
        assert_eq!(g.arity(), (0, 0));
    }

    /// A read whose writing option is set is planned, like a write; without
    /// the option it runs.
    #[test]
    fn a_writing_option_makes_the_call_a_write() {
        let f = read("m", "check", nothing)
            .opts(vec![opt("data", Ty::Bool), opt("verbose", Ty::Bool)])
            .writes_when(&["data"], planned)
            .finish();
        assert_eq!(f.writing_options(), ["data"]);
        assert!(
            f.signature.contains("data?: bool (writes)"),
            "{}",
            f.signature
        );
        assert!(f.simulation_for(&[]).is_none());
        assert!(f.simulation_for(&[json!({"verbose": true})]).is_none());
        assert!(f.simulation_for(&[json!({"data": false})]).is_none());
        assert!(f.simulation_for(&[json!({"data": true})]).is_some());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let h = Host::new(Default::default(), rt.handle().clone(), true);
        assert_eq!(h.call(&f, vec![json!({"data": true})]).unwrap(), "planned");
        assert_eq!(h.call(&f, vec![]).unwrap(), Value::Null);
        assert_eq!(h.plan.steps().len(), 1);
    }

    #[test]
    #[should_panic(expected = "no option `reset`")]
    fn only_a_declared_option_can_be_marked_writing() {
        let _ = read("m", "f", nothing)
            .opts(vec![opt("recent", Ty::Int)])
            .writes_when(&["reset"], planned);
    }

    #[test]
    fn a_result_of_another_shape_is_a_bug_named_in_debug_builds() {
        let f = read("m", "f", |_, _| Ok(json!({"a": 1})))
            .returns(Ty::record(&["a", "b"]))
            .finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let h = Host::new(Default::default(), rt.handle().clone(), false);
        let e = h.call(&f, vec![]).unwrap_err();
        assert!(e.message.contains("`b` is missing"), "{e}");
    }
}
