//! The Rhai engine: host modules as `cluster::nodes()`, options as maps,
//! errors as maps `#{category, message, hint}` that `try`/`catch` can read.

use super::{safe_import_path, ImportChain, Limits, Script};
use crate::base::cancel::check_interrupt;
use crate::base::error::{Category, HostError, HostResult};
use crate::host::{registry, Host, HostFn, MODULES};
use ::rhai::module_resolvers::FileModuleResolver;
use ::rhai::plugin::{PluginFunc, RhaiFunc};
use ::rhai::{
    Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, Module, ModuleResolver,
    NativeCallContext, Position, Scope, Shared, AST,
};
use serde_json::Value;
use std::any::TypeId;
use std::path::PathBuf;
use std::sync::Arc;

type RhaiResult = Result<Dynamic, Box<EvalAltResult>>;

pub fn to_dynamic(v: &Value) -> Dynamic {
    ::rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

/// Whether arrays and maps nest more than `levels` deep in `d`. Reads in
/// place: a clone of a deep value would recurse as deep as the value.
fn nests_deeper_than(d: &Dynamic, levels: usize) -> bool {
    if let Ok(a) = d.as_array_ref() {
        return levels == 0 || a.iter().any(|x| nests_deeper_than(x, levels - 1));
    }
    if let Ok(m) = d.as_map_ref() {
        return levels == 0 || m.values().any(|x| nests_deeper_than(x, levels - 1));
    }
    false
}

pub fn from_dynamic(d: &Dynamic) -> HostResult<Value> {
    if d.is_unit() {
        return Ok(Value::Null);
    }
    if nests_deeper_than(d, super::MAX_VALUE_DEPTH) {
        return Err(super::too_deep());
    }
    ::rhai::serde::from_dynamic::<Value>(d).map_err(|e| {
        HostError::validation(format!(
            "a {} cannot be passed to the host: {e}",
            d.type_name()
        ))
    })
}

fn host_error_to_rhai(e: HostError) -> Box<EvalAltResult> {
    let mut v = e.to_json();
    v["exit_code"] = e.exit_code.into();
    Box::new(EvalAltResult::ErrorRuntime(to_dynamic(&v), Position::NONE))
}

fn call(host: &Host, f: &HostFn, ctx: Option<NativeCallContext>, args: Vec<Dynamic>) -> RhaiResult {
    check_interrupt().map_err(host_error_to_rhai)?;
    let mut values = Vec::with_capacity(args.len());
    let mut functions: Vec<(usize, crate::host::ScriptFn)> = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        if !a.is_fnptr() {
            values.push(from_dynamic(&a).map_err(host_error_to_rhai)?);
            continue;
        }
        let fp = a.cast::<FnPtr>();
        match &ctx {
            Some(ctx) => {
                values.push(Value::Null);
                functions.push((i, script_fn(ctx, fp)));
            }
            None => {
                return Err(host_error_to_rhai(HostError::validation(format!(
                    "{}(): the function {} cannot be called back here",
                    f.qualified_name(),
                    fp.fn_name()
                ))))
            }
        }
    }
    host.call_with_functions(f, values, functions)
        .map(|v| to_dynamic(&v))
        .map_err(host_error_to_rhai)
}

/// A script's function (a closure or `Fn("name")`) as the host calls it: in
/// the script's own context, so its captured variables, limits and Ctrl-C apply.
fn script_fn<'a>(ctx: &'a NativeCallContext<'a>, fp: FnPtr) -> crate::host::ScriptFn<'a> {
    Box::new(move |v: Value| {
        fp.call_within_context::<Dynamic>(ctx, (to_dynamic(&v),))
            .map_err(|e| to_host_error(&e, ctx.call_source().unwrap_or("script")))
            .and_then(|d| from_dynamic(&d))
    })
}

/// One host function bound to one host, callable by Rhai with any number
/// of arguments (the declaration's arity is registered, not a fixed list of
/// closure shapes).
struct Bound {
    host: Arc<Host>,
    f: &'static HostFn,
}

impl PluginFunc for Bound {
    fn call(&self, ctx: Option<NativeCallContext>, args: &mut [&mut Dynamic]) -> RhaiResult {
        call(
            &self.host,
            self.f,
            ctx,
            args.iter_mut().map(|a| a.take()).collect(),
        )
    }

    fn is_method_call(&self) -> bool {
        false
    }

    /// The context calls the script's functions back (`logs.follow(opts, |e| …)`).
    fn has_context(&self) -> bool {
        true
    }

    /// Host calls change the world and answer differently each time: never
    /// fold one into a constant.
    fn is_volatile(&self) -> bool {
        true
    }
}

/// Registers one host function under every number of arguments its
/// declaration allows.
fn register(module: &mut Module, host: &Arc<Host>, f: &'static HostFn) {
    let (required, total) = f.arity();
    for n in required..=total {
        let bound = Bound {
            host: host.clone(),
            f,
        };
        let params: Vec<String> = f.params[..n]
            .iter()
            .map(|p| format!("{}: {}", p.name, p.ty))
            .chain([f.returns.to_string()])
            .collect();
        FuncRegistration::new(f.name)
            .with_params_info(params)
            .set_into_module_raw(
                module,
                vec![TypeId::of::<Dynamic>(); n],
                RhaiFunc::Plugin {
                    func: Shared::new(bound),
                },
            );
    }
}

/// Imports come from the bundled stdlib (`import "stdlib/cluster" as c;`)
/// or from the playbook's own folder, never from anywhere else.
struct SandboxResolver {
    dir: Option<PathBuf>,
    loading: ImportChain,
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let bundled_name = format!("{}.rhai", path.trim_end_matches(".rhai"));
        if let Some(text) = super::bundled_file(&bundled_name) {
            let _loading = self
                .loading
                .enter(&bundled_name)
                .map_err(host_error_to_rhai)?;
            let mut ast = engine.compile(text)?;
            ast.set_source(bundled_name.clone());
            let m = Module::eval_ast_as_new(Scope::new(), &ast, engine)?;
            return Ok(m.into());
        }
        let Some(dir) = &self.dir else {
            return Err(host_error_to_rhai(
                HostError::validation(format!("module {path:?} not found"))
                    .with_hint("bundled helpers are imported as \"stdlib/NAME\""),
            ));
        };
        let file = safe_import_path(dir, path, "rhai").map_err(host_error_to_rhai)?;
        // The same file reached by another spelling ("a", "./a", "a.rhai") is the same module.
        let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        let _loading = self
            .loading
            .enter(&key.to_string_lossy())
            .map_err(host_error_to_rhai)?;
        FileModuleResolver::new().resolve(engine, source, &file.to_string_lossy(), pos)
    }
}

pub fn engine(host: &Arc<Host>, limits: Limits, import_dir: Option<PathBuf>) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(64 << 20);
    engine.set_max_array_size(4_000_000);
    engine.set_max_map_size(4_000_000);
    engine.set_max_modules(64);
    engine.on_progress(|ops| {
        // Checking the clock every operation would cost more than the script.
        if ops % 1024 == 0 && check_interrupt().is_err() {
            Some(Dynamic::from("interrupted"))
        } else {
            None
        }
    });
    engine.set_module_resolver(SandboxResolver {
        dir: import_dir,
        loading: ImportChain::default(),
    });
    for (name, _) in MODULES {
        let mut module = Module::new();
        for f in registry().iter().filter(|f| f.module == *name) {
            register(&mut module, host, f);
        }
        engine.register_static_module(*name, module.into());
    }
    engine
}

/// Turn an engine error into a HostError, keeping host errors as they were
/// raised and giving script mistakes a position.
pub fn to_host_error(err: &EvalAltResult, script: &str) -> HostError {
    let pos = err.position();
    let at = if pos.is_none() {
        script.to_string()
    } else {
        format!(
            "{script}:{}:{}",
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0)
        )
    };
    match err.unwrap_inner() {
        EvalAltResult::ErrorRuntime(v, _) => {
            if let Ok(json) = from_dynamic(v) {
                if let Some(e) = HostError::from_json(&json).filter(|e| !e.message.trim().is_empty()) {
                    return e;
                }
            }
            let shown = v.to_string();
            if v.is_unit() || shown.trim().is_empty() {
                return HostError::new(
                    Category::Unknown,
                    format!("{at}: the script threw an error without a message"),
                )
                .with_hint("throw a message: throw \"what went wrong\", or throw #{message: \"...\", hint: \"...\"}");
            }
            HostError::new(Category::Unknown, format!("{at}: {shown}"))
                .with_hint("the script raised this error with `throw`")
        }
        EvalAltResult::ErrorTooManyOperations(_) => HostError::validation(format!(
            "{at}: the script exceeded its operation limit"
        ))
        .with_hint("look for an endless loop, or raise script.max_operations in the config"),
        EvalAltResult::ErrorTerminated(..) => match check_interrupt() {
            Err(e) => e,
            Ok(()) => HostError::timeout(format!("{at}: the script was stopped")),
        },
        EvalAltResult::ErrorParsing(p, _) => HostError::validation(format!("{at}: syntax error: {p}"))
            .with_hint("fix the script; `elysiactl repl` tries expressions one by one"),
        EvalAltResult::ErrorModuleNotFound(name, _) => HostError::validation(format!(
            "{at}: module {name:?} not found"
        ))
        .with_hint("import files beside the playbook by relative name, or bundled helpers as \"stdlib/NAME\""),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => HostError::validation(format!(
            "{at}: no function {sig}"
        ))
        .with_hint("`elysiactl api` lists the host functions; check the name and the number of arguments"),
        other => HostError::validation(format!("{at}: {other}")),
    }
}

pub fn run(host: Arc<Host>, script: &Script, limits: Limits) -> HostResult<Value> {
    let engine = engine(&host, limits, script.import_dir.clone());
    let mut ast: AST = engine
        .compile(&script.source)
        .map_err(|e| to_host_error(&EvalAltResult::from(e), &script.name))?;
    ast.set_source(script.name.clone());
    let mut scope = Scope::new();
    scope.push_constant("args", to_dynamic(&script.args));
    let result = engine
        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
        .map_err(|e| to_host_error(&e, &script.name))?;
    from_dynamic(&result)
}

/// Run a script's top level, then call its function `function` with no
/// arguments (a migration's `up` or `down`), in one engine under the same
/// limits as a whole script. A script without that function is refused
/// before any of it runs.
pub fn call_function(
    host: Arc<Host>,
    script: &Script,
    function: &str,
    limits: Limits,
) -> HostResult<Value> {
    let engine = engine(&host, limits, script.import_dir.clone());
    let mut ast: AST = engine
        .compile(&script.source)
        .map_err(|e| to_host_error(&EvalAltResult::from(e), &script.name))?;
    ast.set_source(script.name.clone());
    if !ast
        .iter_functions()
        .any(|f| f.name == function && f.params.is_empty())
    {
        return Err(
            HostError::validation(format!("{} defines no fn {function}()", script.name)).with_hint(
                format!("add `fn {function}() {{ … }}` (without parameters) to the script"),
            ),
        );
    }
    let mut scope = Scope::new();
    scope.push_constant("args", to_dynamic(&script.args));
    let result = engine
        .call_fn_with_options::<Dynamic>(
            ::rhai::CallFnOptions::new().eval_ast(true),
            &mut scope,
            &ast,
            function,
            (),
        )
        .map_err(|e| to_host_error(&e, &script.name))?;
    from_dynamic(&result)
}

/// The REPL's Rhai session: variables and functions persist between inputs.
pub struct RhaiSession {
    engine: Engine,
    scope: Scope<'static>,
    functions: AST,
}

impl RhaiSession {
    pub fn new(host: Arc<Host>, limits: Limits) -> HostResult<RhaiSession> {
        let dir = std::env::current_dir().ok();
        let engine = engine(&host, limits, dir);
        let mut scope = Scope::new();
        scope.push_constant("args", Dynamic::from_map(Default::default()));
        Ok(RhaiSession {
            engine,
            scope,
            functions: AST::empty(),
        })
    }
}

impl super::Session for RhaiSession {
    fn language(&self) -> super::Language {
        super::Language::Rhai
    }

    fn eval(&mut self, input: &str) -> HostResult<Value> {
        let ast = self
            .engine
            .compile_with_scope(&self.scope, input)
            .map_err(|e| to_host_error(&EvalAltResult::from(e), "repl"))?;
        // Keep functions defined earlier callable from later inputs.
        let combined = self.functions.merge(&ast);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &combined)
            .map_err(|e| to_host_error(&e, "repl"));
        let mut fns = ast.clone_functions_only();
        self.functions = self.functions.merge(&fns);
        fns.clear_statements();
        from_dynamic(&result?)
    }

    /// Only an error at the very end of the input means "keep typing": a
    /// missing `)` in the middle of a line is a mistake to report now.
    fn is_incomplete(&self, input: &str) -> bool {
        match self.engine.compile_with_scope(&self.scope, input) {
            Ok(_) => false,
            Err(e) => {
                matches!(
                    e.err_type(),
                    ::rhai::ParseErrorType::UnexpectedEOF
                        | ::rhai::ParseErrorType::MissingToken(..)
                        | ::rhai::ParseErrorType::BadInput(::rhai::LexError::UnterminatedString)
                ) && at_end_of_input(e.position(), input)
            }
        }
    }
}

/// Whether a parse error's position lies past the last character of `input`.
fn at_end_of_input(pos: ::rhai::Position, input: &str) -> bool {
    let trimmed = input.trim_end();
    let lines = trimmed.lines().count().max(1);
    let last_len = trimmed
        .lines()
        .last()
        .map(|l| l.chars().count())
        .unwrap_or(0);
    match (pos.line(), pos.position()) {
        (None, _) => true,
        (Some(l), _) if l > lines => true,
        (Some(l), Some(col)) => l == lines && col > last_len,
        (Some(l), None) => l == lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Dynamic {
        let mut d = Dynamic::from(1_i64);
        for _ in 0..levels {
            d = Dynamic::from_array(vec![d]);
        }
        d
    }

    /// Declared arity decides what Rhai accepts, however many parameters:
    /// the binding once stopped at four.
    #[test]
    fn a_function_of_six_parameters_takes_three_to_six_arguments() {
        use crate::host::{read, Ty};
        let f: &'static HostFn = Box::leak(Box::new(
            read("m", "six", |_, a| Ok(Value::Array(a.values().to_vec())))
                .param("a", Ty::Int)
                .param("b", Ty::Int)
                .param("c", Ty::Int)
                .optional("d", Ty::Int)
                .optional("e", Ty::Int)
                .optional("f", Ty::Int)
                .returns(Ty::array(Ty::Int))
                .finish(),
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let host = Host::new(Default::default(), rt.handle().clone(), false);
        let mut module = Module::new();
        register(&mut module, &host, f);
        let mut engine = Engine::new();
        engine.register_static_module("m", module.into());
        let got = |src: &str| {
            engine
                .eval::<Dynamic>(src)
                .map(|d| from_dynamic(&d).unwrap())
                .map_err(|e| to_host_error(&e, "t").message)
        };
        assert_eq!(
            got("m::six(1, 2, 3, 4, 5, 6)").unwrap(),
            serde_json::json!([1, 2, 3, 4, 5, 6])
        );
        assert_eq!(
            got("m::six(1, 2, 3)").unwrap(),
            serde_json::json!([1, 2, 3])
        );
        assert!(got("m::six(1, 2)").unwrap_err().contains("no function"));
        assert!(got("m::six(1, 2, 3, 4, 5, 6, 7)")
            .unwrap_err()
            .contains("no function"));
        let e = got("m::six(1, 2, 3, 4, \"five\")").unwrap_err();
        assert!(e.contains("argument 5 (e) must be an integer"), "{e}");
    }

    #[test]
    fn values_nest_up_to_the_limit_and_no_deeper() {
        assert!(from_dynamic(&nested(super::super::MAX_VALUE_DEPTH)).is_ok());
        let e = from_dynamic(&nested(super::super::MAX_VALUE_DEPTH + 1)).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{}", e.message);
    }
}
