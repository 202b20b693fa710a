//! The script engines. Rhai and Lua both bind the one host registry
//! (`crate::host::registry()`); this module holds what they share: the
//! sandbox limits, interruption (Ctrl-C, wall clock), bundled scripts, and
//! the conversion of script errors into `HostError`s.

pub mod catalog;
pub mod header;
pub mod lua;
mod lua_limits;
mod lua_pattern;
pub mod repl;
pub mod rhai;

use crate::base::error::{HostError, HostResult};
use crate::host::Host;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
}

/// Every bundled file as (relative path, text), e.g. ("scripts/start.rhai", ...).
pub fn bundled() -> &'static [(&'static str, &'static str)] {
    bundled::BUNDLED
}

pub fn bundled_file(path: &str) -> Option<&'static str> {
    bundled().iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rhai,
    Lua,
}

impl Language {
    pub fn from_path(path: &Path) -> HostResult<Language> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("rhai") => Ok(Language::Rhai),
            Some("lua") => Ok(Language::Lua),
            _ => Err(HostError::validation(format!(
                "{} is neither a .rhai nor a .lua file",
                path.display()
            ))
            .with_hint("name playbooks NAME.rhai or NAME.lua")),
        }
    }
    pub fn parse(s: &str) -> HostResult<Language> {
        match s {
            "rhai" => Ok(Language::Rhai),
            "lua" => Ok(Language::Lua),
            _ => Err(HostError::validation(format!("unknown language {s:?}"))
                .with_hint("use rhai or lua")),
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Language::Rhai => "rhai",
            Language::Lua => "lua",
        }
    }
}

/// Sandbox limits for one script run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    pub timeout: Duration,
}

impl Limits {
    pub fn from_config(cfg: &crate::base::config::Config) -> Limits {
        Limits {
            max_operations: cfg.script.max_operations,
            // The config was validated with the same parser; the fallback
            // only covers a Config built by hand.
            timeout: crate::base::units::parse_duration(&cfg.script.timeout)
                .unwrap_or(Duration::from_secs(1800)),
        }
    }
}

/// A script to run: its text, a name for messages, the folder its imports
/// may come from, and its arguments.
pub struct Script {
    pub name: String,
    pub source: String,
    pub language: Language,
    /// Imports / `require` may load files from here (and from the bundled stdlib), nowhere else.
    pub import_dir: Option<PathBuf>,
    pub args: Value,
}

/// Import names are plain relative names: no absolute paths, no `..`.
pub fn safe_import_path(dir: &Path, name: &str, ext: &str) -> HostResult<PathBuf> {
    let rel = Path::new(name);
    let escapes = rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if escapes || name.is_empty() {
        return Err(HostError::validation(format!(
            "import {name:?} is outside the playbook's folder"
        ))
        .with_hint(
            "scripts may import only files beside them (or in a subfolder) and the bundled stdlib",
        ));
    }
    let mut path = dir.join(rel);
    if path.extension().is_none() {
        path.set_extension(ext);
    }
    Ok(path)
}

/// How deeply values may nest to cross between a script and the host. The
/// conversions (and JSON printing) recurse once per level, so an unbounded
/// depth is a stack overflow; 128 is also the most serde_json parses.
pub const MAX_VALUE_DEPTH: usize = 128;

pub fn too_deep() -> HostError {
    HostError::validation(format!(
        "a value nested deeper than {MAX_VALUE_DEPTH} levels cannot be passed to the host"
    ))
    .with_hint("flatten the structure, e.g. a list of rows instead of maps inside maps")
}

/// How deep imports may nest. Real helpers nest two or three deep; the
/// bound keeps a chain of distinct files from exhausting the stack.
const MAX_IMPORT_DEPTH: usize = 16;

/// The modules being loaded, outermost first. An import of one of them
/// again is a cycle, which would otherwise recurse until the stack overflows.
#[derive(Default)]
pub struct ImportChain(std::sync::Mutex<Vec<String>>);

/// Takes a module off the chain however its loading ended.
pub struct Loading<'a>(&'a ImportChain);

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner()).pop();
    }
}

impl ImportChain {
    /// Note that `name` is being loaded, or refuse it as a cycle or too deep.
    pub fn enter(&self, name: &str) -> HostResult<Loading<'_>> {
        let mut chain = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = chain.iter().position(|m| m == name) {
            let mut cycle = chain[at..].to_vec();
            cycle.push(name.to_string());
            return Err(
                HostError::validation(format!("import cycle: {}", cycle.join(" -> "))).with_hint(
                    "a module cannot import itself, directly or through others; move what both need into a third file",
                ),
            );
        }
        if chain.len() >= MAX_IMPORT_DEPTH {
            return Err(HostError::validation(format!(
                "imports nest deeper than {MAX_IMPORT_DEPTH} modules: {} -> {name}",
                chain.join(" -> ")
            ))
            .with_hint("import the helpers from fewer levels of modules"));
        }
        chain.push(name.to_string());
        Ok(Loading(self))
    }
}

/// Run a whole script. An integer result is the command's exit code.
pub fn run(host: Arc<Host>, script: Script, limits: Limits) -> HostResult<Value> {
    let _deadline = crate::base::cancel::DeadlineGuard::set(limits.timeout);
    match script.language {
        Language::Rhai => rhai::run(host, &script, limits),
        Language::Lua => lua::run(host, &script, limits),
    }
}

/// Call one function of a script file (a migration's `up` or `down`): the
/// file is read, its top level runs, then the function runs with no
/// arguments. Imports come from the file's own folder and the stdlib.
/// Runs inside another script's host call, so the deadline already set by
/// [`run`] goes on counting.
pub fn call_file_function(
    host: Arc<Host>,
    path: &Path,
    function: &str,
    limits: Limits,
) -> HostResult<Value> {
    let language = Language::from_path(path)?;
    let source = std::fs::read_to_string(path).map_err(|e| {
        HostError::validation(format!("cannot read {}: {e}", path.display()))
            .with_hint("check the path and its permissions")
    })?;
    let script = Script {
        name: path.display().to_string(),
        source,
        language,
        import_dir: path.parent().map(Path::to_path_buf),
        args: Value::Object(Default::default()),
    };
    match language {
        Language::Rhai => rhai::call_function(host, &script, function, limits),
        Language::Lua => lua::call_function(host, &script, function, limits),
    }
}

/// An interactive session (the REPL): state persists between inputs.
pub trait Session {
    fn language(&self) -> Language;
    /// Evaluate one complete input; the value of its last expression.
    fn eval(&mut self, input: &str) -> HostResult<Value>;
    /// Whether the input is unfinished (an open block or string), so the REPL
    /// should read another line instead of reporting a syntax error.
    fn is_incomplete(&self, input: &str) -> bool;
}

pub fn session(
    host: Arc<Host>,
    language: Language,
    limits: Limits,
) -> HostResult<Box<dyn Session>> {
    Ok(match language {
        Language::Rhai => Box::new(rhai::RhaiSession::new(host, limits)?),
        Language::Lua => Box::new(lua::LuaSession::new(host, limits)?),
    })
}

pub use crate::base::json::canonical;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_cannot_escape_the_folder() {
        let dir = Path::new("/plays");
        assert_eq!(
            safe_import_path(dir, "lib/helpers", "rhai").unwrap(),
            PathBuf::from("/plays/lib/helpers.rhai")
        );
        assert!(safe_import_path(dir, "../etc/passwd", "rhai").is_err());
        assert!(safe_import_path(dir, "/etc/passwd", "lua").is_err());
    }

    #[test]
    fn import_chains_refuse_cycles_and_unbounded_depth() {
        let chain = ImportChain::default();
        let a = chain.enter("a").unwrap();
        let b = chain.enter("b").unwrap();
        let e = chain.enter("a").err().unwrap();
        assert_eq!(e.message, "import cycle: a -> b -> a");
        drop(b);
        drop(a);
        // Loaded and left: importing it again later is no cycle.
        let _a = chain.enter("a").unwrap();
        let chain = ImportChain::default();
        let names: Vec<String> = (0..MAX_IMPORT_DEPTH).map(|i| format!("m{i}")).collect();
        let _held: Vec<_> = names.iter().map(|n| chain.enter(n).unwrap()).collect();
        assert!(chain
            .enter("one-more")
            .err()
            .unwrap()
            .message
            .contains("deeper than"));
    }

    /// A migration's `up`/`down`: one named function of a file, in Rhai
    /// and in Lua, after its top level ran; a missing function is named.
    #[test]
    fn a_named_function_of_a_script_file_is_called() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let host = Host::new(Default::default(), rt.handle().clone(), false);
        let limits = Limits {
            max_operations: 100_000,
            timeout: Duration::from_secs(30),
        };
        let dir = std::env::temp_dir().join(format!("script-fn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rhai = dir.join("0001_a.rhai");
        std::fs::write(&rhai, "const N = 2;\nfn up() { 40 + global::N }\nfn down() { throw \"no way back\" }\nfn helper(x) { x }").unwrap();
        let lua = dir.join("0002_b.lua");
        std::fs::write(
            &lua,
            "local n = 2\nfunction up() return 40 + n end\nlocal function down() end",
        )
        .unwrap();
        let call = |p: &Path, f: &str| call_file_function(host.clone(), p, f, limits);
        assert_eq!(call(&rhai, "up").unwrap(), serde_json::json!(42));
        let e = call(&rhai, "down").unwrap_err();
        assert!(e.message.contains("no way back"), "{e}");
        assert!(call(&rhai, "helper")
            .unwrap_err()
            .message
            .contains("defines no fn helper()"));
        assert_eq!(call(&lua, "up").unwrap(), serde_json::json!(42));
        let e = call(&lua, "down").unwrap_err();
        assert!(e.message.contains("no global function down()"), "{e}");
        let failing = dir.join("0004_d.lua");
        std::fs::write(
            &failing,
            "function up() error({message = \"lua up failed\", hint = \"fix it\"}) end",
        )
        .unwrap();
        let e = call(&failing, "up").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.hint.as_str()),
            ("lua up failed", "fix it")
        );
        // An endless up() meets the same operation limit as a whole script.
        let endless = dir.join("0003_c.rhai");
        std::fs::write(&endless, "fn up() { loop {} }").unwrap();
        let e = call(&endless, "up").unwrap_err();
        assert!(e.message.contains("operation limit"), "{e}");
        // Through the host, as migrate.run calls it: no engine attached is a named bug.
        assert!(host.run_script_function(&rhai, "up").is_err());
        let _ = host
            .script_runner
            .set(Arc::new(move |h, p, f| call_file_function(h, p, f, limits)));
        assert_eq!(
            host.run_script_function(&rhai, "up").unwrap(),
            serde_json::json!(42)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stdlib_and_scripts_are_bundled() {
        assert!(bundled().iter().any(|(p, _)| p.starts_with("scripts/")));
        assert!(bundled().iter().any(|(p, _)| p.starts_with("stdlib/")));
    }

    /// Rhai reserves words (`export`, `print`, …) that cannot be called as
    /// `module::name(…)`: a host function so named would exist for Lua only.
    #[test]
    fn every_host_function_can_be_called_from_rhai() {
        let mut rhai = ::rhai::Engine::new();
        rhai.set_max_expr_depths(128, 64);
        for f in crate::host::registry() {
            let call = format!("{}::{}()", f.module, f.name);
            if let Err(e) = rhai.compile(&call) {
                panic!("{}: {e}; rename it", f.qualified_name());
            }
        }
    }

    /// A syntax error in a bundled script (a reserved word such as `export`
    /// as a function name) would otherwise surface only when its command runs.
    #[test]
    fn every_bundled_script_compiles() {
        let mut rhai = ::rhai::Engine::new();
        // The nesting the real engine allows (rhai.rs).
        rhai.set_max_expr_depths(128, 64);
        let lua = mlua::Lua::new();
        for (path, text) in bundled() {
            if path.ends_with(".rhai") {
                if let Err(e) = rhai.compile(text) {
                    panic!("{path}: {e}");
                }
            } else if path.ends_with(".lua") {
                if let Err(e) = lua.load(*text).set_name(*path).into_function() {
                    panic!("{path}: {e}");
                }
            }
        }
    }
}
