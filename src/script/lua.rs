//! The Lua 5.4 engine (vendored through mlua, so nothing needs installing):
//! host modules as global tables (`cluster.nodes()`), options as tables,
//! errors as tables `{category, message, hint}` that `pcall` returns.

use super::lua_limits::{self, Limiter};
use super::{safe_import_path, ImportChain, Limits, Script};
use crate::base::cancel::check_interrupt;
use crate::base::error::{HostError, HostResult};
use crate::host::{registry, Host, MODULES};
use mlua::{
    Function, Lua, LuaOptions, LuaSerdeExt, MultiValue, SerializeOptions, StdLib, Table,
    Value as LuaValue,
};
use serde_json::Value;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// Lua-side glue: wraps each raw host function so a host error is raised as
/// a table with a metatable, and runs chunks under xpcall so the Rust side
/// gets that table back intact.
const PRELUDE: &str = r#"
-- Kept local: a script that redefines a global must not break error reports.
local type, tostring, getmetatable, rawget, math_type = type, tostring, getmetatable, rawget, math.type
local error, select, pack, unpack = error, select, table.pack, table.unpack
local raw_setmetatable = setmetatable
local describe = __describe
__describe = nil
local HostError = {}
HostError.__index = HostError
HostError.__tostring = function(e)
  local s = tostring(e.category) .. " error: " .. tostring(e.message)
  if e.hint and e.hint ~= "" then s = s .. " (hint: " .. e.hint .. ")" end
  return s
end
local function wrap(raw)
  return function(...)
    local ok, v = raw(...)
    if ok then return v end
    error(raw_setmetatable(v, HostError), 2)
  end
end
for mname, fns in pairs(__raw) do
  local m = {}
  for fname, raw in pairs(fns) do m[fname] = wrap(raw) end
  _G[mname] = m
end
__raw = nil
local _load = load
load = function(chunk, name, mode, env) return _load(chunk, name, "t", env) end
dofile = nil
loadfile = nil
-- An empty Lua table is ambiguous; array() makes one that stays a JSON array.
local array_mt = __array_mt
__array_mt = nil
function array(...) return raw_setmetatable({...}, array_mt) end
local function field(t, k, kind) local v = rawget(t, k) if type(v) == kind then return v end end
__elysiactl_main = function(fn, ...)
  return xpcall(fn, function(e)
    if getmetatable(e) == HostError then return e end
    local t = type(e)
    if t == "string" or t == "number" or t == "userdata" then
      -- userdata: an error raised on the Rust side (require, a limit), shown by describe.
      return { category = "validation", message = t == "userdata" and describe(e) or tostring(e),
               hint = "fix the script at the line named in the message", exit_code = 1 }
    end
    -- error({message = ..., hint = ...}) reads like a host error, as throw #{...} does in Rhai.
    if t == "table" and (field(e, "message", "string") or "") ~= "" then
      local code = rawget(e, "exit_code")
      return { category = field(e, "category", "string") or "unknown", message = e.message,
               hint = field(e, "hint", "string") or "", exit_code = math_type(code) == "integer" and code or 1 }
    end
    local mt = getmetatable(e)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      return { category = "validation", message = tostring(e), hint = "", exit_code = 1 }
    end
    return { category = "validation", message = describe(e),
             hint = 'raise errors with a message: error("what went wrong"), or error({message = "...", hint = "..."})', exit_code = 1 }
  end, ...)
end
"#;

fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<LuaValue> {
    lua.to_value_with(
        v,
        SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false),
    )
}

/// Refuses tables nested more than `levels` deep, or containing themselves,
/// before the (recursive) conversion meets them.
fn check_nesting(
    v: &LuaValue,
    levels: usize,
    path: &mut Vec<*const std::ffi::c_void>,
) -> HostResult<()> {
    let LuaValue::Table(t) = v else {
        return Ok(());
    };
    let me = t.to_pointer();
    if path.contains(&me) {
        return Err(HostError::validation(
            "a table that contains itself cannot be passed to the host",
        )
        .with_hint("pass a copy without the reference back to the table"));
    }
    if levels == 0 {
        return Err(super::too_deep());
    }
    path.push(me);
    for pair in t.clone().pairs::<LuaValue, LuaValue>() {
        let (key, value) = pair.map_err(|e| HostError::validation(e.to_string()))?;
        check_nesting(&key, levels - 1, path)?;
        check_nesting(&value, levels - 1, path)?;
    }
    path.pop();
    Ok(())
}

fn from_lua(lua: &Lua, v: LuaValue) -> HostResult<Value> {
    check_nesting(&v, super::MAX_VALUE_DEPTH, &mut Vec::new())?;
    match v {
        LuaValue::Nil => Ok(Value::Null),
        LuaValue::Function(_) | LuaValue::Thread(_) | LuaValue::UserData(_) => {
            Err(HostError::validation(format!(
                "a Lua {} cannot be passed to the host",
                v.type_name()
            )))
        }
        // An empty table is ambiguous in Lua; the host reads it as an empty map.
        other => lua
            .from_value::<Value>(other)
            .map(super::canonical)
            .map_err(|e| HostError::validation(format!("cannot pass this value to the host: {e}"))),
    }
}

/// The message of an error raised on the Rust side, without mlua's wrapping
/// ("runtime error: ", the callback's traceback).
fn rust_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => rust_error_text(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A message for `error(v)` where `v` is not text: where it was raised, and
/// what was raised instead of a message (rendered, not `table: 0x…`).
fn describe_error_value(lua: &Lua, v: LuaValue) -> String {
    // The script's frame: the first Lua function below this one and the
    // message handler that is not the prelude.
    let at = (1..12)
        .filter_map(|level| lua.inspect_stack(level))
        .find_map(|d| {
            let src = d.source().short_src.map(|s| s.to_string())?;
            let line = d.curr_line();
            (line > 0 && src != "prelude" && src != "[C]").then(|| format!("{src}:{line}: "))
        })
        .unwrap_or_default();
    if v.is_nil() {
        return format!("{at}the script raised an error without a message");
    }
    if let LuaValue::Error(e) = &v {
        return format!("{at}{}", rust_error_text(e));
    }
    let kind = v.type_name();
    let rendering = match &v {
        LuaValue::Boolean(b) => b.to_string(),
        _ => match from_lua(lua, v.clone()) {
            Ok(j) => {
                let text = j.to_string();
                match text.char_indices().nth(300) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text,
                }
            }
            Err(_) => "(not shown: it holds values without a text form, such as functions)".into(),
        },
    };
    format!("{at}the script raised an error without a message, only a {kind}: {rendering}")
}

pub struct LuaState {
    // Declared first so it is dropped first: the hook points at the limiter.
    lua: Lua,
    /// Counts operations and keeps the limit error the hook raised, so it is
    /// reported as itself and not as the generic Lua error it turns into.
    limiter: Rc<Limiter>,
}

pub fn new_state(
    host: &Arc<Host>,
    limits: Limits,
    import_dir: Option<PathBuf>,
) -> HostResult<LuaState> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE,
        LuaOptions::new(),
    )
    .map_err(|e| HostError::unknown(format!("cannot start Lua: {e}")))?;
    let _ = lua.set_memory_limit(512 << 20);
    let le = |e: mlua::Error| HostError::unknown(format!("Lua set-up failed: {e}"));

    let raw = lua.create_table().map_err(le)?;
    for (module, _) in MODULES {
        let t = lua.create_table().map_err(le)?;
        for f in registry().iter().filter(|f| f.module == *module) {
            let h = host.clone();
            let func = lua
                .create_function(move |lua, args: MultiValue| {
                    let mut values = Vec::with_capacity(args.len());
                    let mut functions: Vec<(usize, crate::host::ScriptFn)> = Vec::new();
                    let mut failure = check_interrupt().err();
                    if failure.is_none() {
                        for (i, a) in args.into_iter().enumerate() {
                            if let LuaValue::Function(func) = a {
                                values.push(Value::Null);
                                functions.push((i, script_fn(lua, func)));
                                continue;
                            }
                            match from_lua(lua, a) {
                                Ok(v) => values.push(v),
                                Err(e) => {
                                    failure = Some(e);
                                    break;
                                }
                            }
                        }
                    }
                    // Trailing nils are absent optional arguments.
                    while values.len() > functions.last().map_or(0, |(i, _)| i + 1)
                        && values.last() == Some(&Value::Null)
                    {
                        values.pop();
                    }
                    let result = match failure {
                        Some(e) => Err(e),
                        None => h.call_with_functions(f, values, functions),
                    };
                    match result {
                        Ok(v) => Ok((true, to_lua(lua, &v)?)),
                        Err(e) => {
                            let mut j = e.to_json();
                            j["exit_code"] = e.exit_code.into();
                            Ok((false, to_lua(lua, &j)?))
                        }
                    }
                })
                .map_err(le)?;
            t.set(f.name, func).map_err(le)?;
        }
        raw.set(*module, t).map_err(le)?;
    }
    lua.globals().set("__raw", raw).map_err(le)?;
    lua.globals()
        .set("__array_mt", lua.array_metatable())
        .map_err(le)?;

    // require: bundled stdlib ("stdlib/NAME") or files beside the playbook.
    let loaded: Table = lua.create_table().map_err(le)?;
    let loading = ImportChain::default();
    let require = lua
        .create_function(move |lua, name: String| {
            if let Ok(v) = loaded.get::<LuaValue>(name.as_str()) {
                if !v.is_nil() {
                    return Ok(v);
                }
            }
            let bundled_name = format!("{}.lua", name.trim_end_matches(".lua"));
            let (text, chunk_name) = if let Some(t) = super::bundled_file(&bundled_name) {
                (t.to_string(), bundled_name)
            } else {
                let Some(dir) = &import_dir else {
                    return Err(mlua::Error::runtime(format!(
                        "module {name:?} not found (bundled helpers are required as \"stdlib/NAME\")"
                    )));
                };
                let path = safe_import_path(dir, &name, "lua")
                    .map_err(|e| mlua::Error::runtime(e.message))?;
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    mlua::Error::runtime(format!("cannot read module {}: {e}", path.display()))
                })?;
                (text, path.display().to_string())
            };
            let _loading = loading
                .enter(&chunk_name)
                .map_err(|e| mlua::Error::runtime(format!("{} ({})", e.message, e.hint)))?;
            let v: LuaValue = lua.load(text).set_name(format!("@{chunk_name}")).eval()?;
            let v = if v.is_nil() { LuaValue::Boolean(true) } else { v };
            loaded.set(name, v.clone())?;
            Ok(v)
        })
        .map_err(le)?;
    lua.globals().set("require", require).map_err(le)?;
    let describe = lua
        .create_function(|lua, v: LuaValue| Ok(describe_error_value(lua, v)))
        .map_err(le)?;
    lua.globals().set("__describe", describe).map_err(le)?;
    let limiter = Rc::new(Limiter::new(limits.max_operations));
    lua.globals()
        .set(
            "__pat",
            lua_limits::pattern_functions(&lua, &limiter).map_err(le)?,
        )
        .map_err(le)?;
    lua.load(format!("{PRELUDE}\n{}", lua_limits::PRELUDE))
        .set_name("@prelude")
        .exec()
        .map_err(le)?;
    lua_limits::install(&lua, &limiter).map_err(le)?;
    Ok(LuaState { lua, limiter })
}

/// What `__elysiactl_main` returned: the chunk's value, or its error as
/// the host error it raised (or one made from what the script raised).
fn outcome(lua: &Lua, result: mlua::Result<MultiValue>) -> HostResult<Value> {
    let mut values = result
        .map_err(|e| HostError::validation(e.to_string()))?
        .into_iter();
    let ok = matches!(values.next(), Some(LuaValue::Boolean(true)));
    let first = values.next().unwrap_or(LuaValue::Nil);
    if ok {
        from_lua(lua, first)
    } else {
        let j = from_lua(lua, first)?;
        Err(HostError::from_json(&j).unwrap_or_else(|| HostError::validation(j.to_string())))
    }
}

/// A script's function as the host calls it, under the same error wrapper
/// as the script itself, so an error it raises comes back intact.
fn script_fn(lua: &Lua, f: Function) -> crate::host::ScriptFn<'_> {
    Box::new(move |v: Value| {
        let main: Function = lua
            .globals()
            .get("__elysiactl_main")
            .map_err(|e| HostError::unknown(e.to_string()))?;
        let arg = to_lua(lua, &v).map_err(|e| HostError::unknown(e.to_string()))?;
        outcome(lua, main.call::<MultiValue>((f.clone(), arg)))
    })
}

impl LuaState {
    fn syntax_error(name: &str, e: mlua::Error) -> HostError {
        let text = match &e {
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            other => other.to_string(),
        };
        HostError::validation(format!("{name}: syntax error: {text}"))
            .with_hint("fix the script; `elysiactl repl --lang lua` tries statements one by one")
    }

    /// Run a compiled chunk under the error-preserving wrapper.
    fn call_main(&self, f: Function) -> HostResult<Value> {
        let main: Function = self
            .lua
            .globals()
            .get("__elysiactl_main")
            .map_err(|e| HostError::unknown(e.to_string()))?;
        let result = main.call::<MultiValue>(f);
        if let Some(e) = self.limiter.take_error() {
            return Err(e);
        }
        outcome(&self.lua, result)
    }

    pub fn set_args(&self, args: &Value) -> HostResult<()> {
        let v = to_lua(&self.lua, args).map_err(|e| HostError::unknown(e.to_string()))?;
        self.lua
            .globals()
            .set("args", v)
            .map_err(|e| HostError::unknown(e.to_string()))
    }
}

pub fn run(host: Arc<Host>, script: &Script, limits: Limits) -> HostResult<Value> {
    let state = new_state(&host, limits, script.import_dir.clone())?;
    state.set_args(&script.args)?;
    let f = state
        .lua
        .load(script.source.as_str())
        .set_name(format!("@{}", script.name))
        .into_function()
        .map_err(|e| LuaState::syntax_error(&script.name, e))?;
    state.call_main(f)
}

/// Run a script's chunk (which defines its functions as globals), then call
/// its global function `function` with no arguments (a migration's `up` or
/// `down`), in one state under the same limits as a whole script.
pub fn call_function(
    host: Arc<Host>,
    script: &Script,
    function: &str,
    limits: Limits,
) -> HostResult<Value> {
    let state = new_state(&host, limits, script.import_dir.clone())?;
    state.set_args(&script.args)?;
    let chunk = state
        .lua
        .load(script.source.as_str())
        .set_name(format!("@{}", script.name))
        .into_function()
        .map_err(|e| LuaState::syntax_error(&script.name, e))?;
    state.call_main(chunk)?;
    let Ok(LuaValue::Function(f)) = state.lua.globals().get::<LuaValue>(function) else {
        return Err(HostError::validation(format!(
            "{} defines no global function {function}()",
            script.name
        ))
        .with_hint(format!(
            "add `function {function}() … end` (global, not local) to the script"
        )));
    };
    state.call_main(f)
}

pub struct LuaSession {
    state: LuaState,
}

impl LuaSession {
    pub fn new(host: Arc<Host>, limits: Limits) -> HostResult<LuaSession> {
        let state = new_state(&host, limits, std::env::current_dir().ok())?;
        state.set_args(&Value::Object(Default::default()))?;
        Ok(LuaSession { state })
    }

    fn compile(&self, input: &str) -> Result<Function, mlua::Error> {
        // Like the stand-alone Lua REPL: try it as an expression first.
        self.state
            .lua
            .load(format!("return {input}"))
            .set_name("=repl")
            .into_function()
            .or_else(|_| self.state.lua.load(input).set_name("=repl").into_function())
    }
}

impl super::Session for LuaSession {
    fn language(&self) -> super::Language {
        super::Language::Lua
    }

    fn eval(&mut self, input: &str) -> HostResult<Value> {
        let f = self
            .compile(input)
            .map_err(|e| LuaState::syntax_error("repl", e))?;
        self.state.limiter.reset();
        lua_limits::rearm(&self.state.lua)
            .map_err(|e| HostError::unknown(format!("Lua set-up failed: {e}")))?;
        self.state.call_main(f)
    }

    fn is_incomplete(&self, input: &str) -> bool {
        matches!(
            self.compile(input),
            Err(mlua::Error::SyntaxError {
                incomplete_input: true,
                ..
            })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(max_operations: u64) -> (tokio::runtime::Runtime, LuaState) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let host = Host::new(Default::default(), rt.handle().clone(), false);
        let limits = Limits {
            max_operations,
            timeout: std::time::Duration::from_secs(600),
        };
        let state = new_state(&host, limits, None).unwrap();
        (rt, state)
    }

    /// The pattern functions the sandbox installs give what Lua's own give,
    /// errors included, for gsub (every kind of replacement) and gmatch.
    #[test]
    fn sandboxed_pattern_functions_agree_with_luas() {
        const PROBE: &str = r#"
            local subjects = { "", "hello world", "  padded  ", "key = value; other=2",
              "THE (quick) [brown] fox", "aaa", "x=1, y=22, z=333", "f(a(b)c) g(h)", "abc" }
            local patterns = { "", "o", "^h", "d$", "l+", "l*", "(l)(l)", ".-", "^%s*(.-)%s*$",
              "(%w+)=(%w+)", "%b()", "%f[%a]%a+", "[^%s]+", "()ll()", "%d+", "(a", "%", "[a",
              "a*", "^", "(h)(.)%2", "x*" }
            -- Positions and Lua's "string.gsub" (named so only when called through pcall) aside.
            local function norm(v) return (tostring(v):gsub("^[^:]*:%d+: ", ""):gsub("'string%.", "'")) end
            local out = {}
            local function add(...) local t = table.pack(...) for i = 1, t.n do t[i] = norm(t[i]) end out[#out + 1] = table.concat(t, "|", 1, t.n) end
            for _, s in ipairs(subjects) do
              for _, p in ipairs(patterns) do
                add(pcall(string.gsub, s, p, "<%0>"))
                add(pcall(string.gsub, s, p, "[%1]", 2))
                add(pcall(string.gsub, s, p, "%2"))
                add(pcall(string.gsub, s, p, "%x"))
                add(pcall(string.gsub, s, p, function(a, b) if b then return a .. "+" .. tostring(b) end end))
                add(pcall(string.gsub, s, p, { hello = "HI", l = 7, o = false }))
                add(pcall(string.gsub, s, p, 5))
                local parts = {}
                local ok, err = pcall(function()
                  for a, b in string.gmatch(s, p) do parts[#parts + 1] = tostring(a) .. "," .. tostring(b) end
                end)
                add(ok, err, table.concat(parts, ";"))
                add(pcall(string.find, s, p, 2, true))
                add(pcall(string.match, s, p, -3))
              end
            end
            add(pcall(string.gsub, "abc", "b", {}, "x"))
            add(pcall(string.gsub, "abc", "b", true))
            add(pcall(string.gsub, "abc", "b", function() return {} end))
            add(pcall(string.find, nil, "x"))
            add(pcall(string.find, "abc", "b", 1.5))
            add(pcall(string.find, 12345, 3))
            add(("x"):rep(3):find("xx", 2))
            return table.concat(out, "\n")
        "#;
        let (_rt, ours) = state(0);
        let ours: String = ours.lua.load(PROBE).set_name("=probe").eval().unwrap();
        let theirs: String = Lua::new().load(PROBE).set_name("=probe").eval().unwrap();
        for (n, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
            assert_eq!(a, b, "probe line {n}");
        }
        assert_eq!(ours.lines().count(), theirs.lines().count());
    }

    /// A REPL input stopped by the limit (inside a coroutine, behind pcall)
    /// leaves the session usable, with its count started over.
    #[test]
    fn the_repl_recovers_from_a_limit_reached_in_a_coroutine() {
        use crate::script::Session;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let host = Host::new(Default::default(), rt.handle().clone(), false);
        let limits = Limits {
            max_operations: 200_000,
            timeout: std::time::Duration::from_secs(600),
        };
        let mut session = LuaSession::new(host, limits).unwrap();
        for input in [
            "coroutine.resume(coroutine.create(function() while true do end end))",
            "while true do pcall(function() while true do end end) end",
            "(\"x\"):rep(100):find((\"x*\"):rep(50) .. \"y\")",
        ] {
            let e = session.eval(input).unwrap_err();
            assert!(
                e.message.contains("operation limit"),
                "{input}: {}",
                e.message
            );
            assert_eq!(session.eval("1 + 1").unwrap(), serde_json::json!(2));
            let counted = "local n = 0 for i = 1, 50000 do n = n + 1 end return n";
            assert_eq!(session.eval(counted).unwrap(), serde_json::json!(50000));
        }
    }

    #[test]
    fn finalizers_are_refused() {
        let (_rt, st) = state(0);
        let e = st
            .lua
            .load("setmetatable({}, {__gc = function() end})")
            .exec()
            .unwrap_err();
        assert!(
            e.to_string().contains("__gc finalizers are not allowed"),
            "{e}"
        );
        st.lua
            .load("setmetatable({}, {__index = {}})")
            .exec()
            .unwrap();
    }

    #[test]
    fn tables_nest_up_to_the_limit_and_no_deeper() {
        let lua = Lua::new();
        let nested = |levels: usize| -> LuaValue {
            lua.load(format!(
                "local t = 1 for i = 1, {levels} do t = {{t}} end return t"
            ))
            .eval()
            .unwrap()
        };
        assert!(from_lua(&lua, nested(super::super::MAX_VALUE_DEPTH)).is_ok());
        let e = from_lua(&lua, nested(super::super::MAX_VALUE_DEPTH + 1)).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{}", e.message);
    }
}
