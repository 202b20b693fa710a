//! The Lua sandbox's limits (operations, wall clock, Ctrl-C) where Lua's
//! own machinery cannot reach:
//!
//! - coroutines: mlua's hook belongs to one thread and removes itself from
//!   any other, so a loop inside `coroutine.resume` ran unchecked. A raw
//!   count hook set on the main thread is copied by Lua to every coroutine
//!   created from it, and finds its limiter through the registry.
//! - pcall: once a limit is reached the hook fires at every instruction, so
//!   an error caught by `pcall` is raised again at the next one, up to the top.
//! - string patterns: Lua's matcher is C that never returns to the VM; the
//!   pattern functions are replaced by a port that charges a budget
//!   (`lua_pattern`). Plain `find` uses a linear-time search.
//!
//! `__gc` finalizers run with hooks off, so the prelude refuses them.

use super::lua_pattern::{self, Capture, Match, PatternError};
use crate::base::error::HostError;
use mlua::{ffi, Lua, MultiValue, Table, Value as LuaValue};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::rc::Rc;

pub const INSTRUCTIONS_PER_HOOK: i32 = 1000;

/// Counts a script's operations (VM instructions and pattern steps) and
/// decides when it must stop.
pub struct Limiter {
    max_operations: u64,
    operations: Cell<u64>,
    tripped: Cell<bool>,
    error: RefCell<Option<HostError>>,
}

impl Limiter {
    pub fn new(max_operations: u64) -> Limiter {
        Limiter {
            max_operations,
            operations: Cell::new(0),
            tripped: Cell::new(false),
            error: RefCell::new(None),
        }
    }

    /// Charge `n` operations; false once the script must stop (the reason
    /// is kept for `take_error`).
    pub fn charge(&self, n: u64) -> bool {
        if self.tripped.get() {
            return false;
        }
        let ops = self.operations.get().saturating_add(n);
        self.operations.set(ops);
        // 0 means no limit, as in Rhai.
        let err = if self.max_operations != 0 && ops > self.max_operations {
            Some(
                HostError::validation("the script exceeded its operation limit").with_hint(
                    "look for an endless loop, or raise script.max_operations in the config",
                ),
            )
        } else {
            crate::base::cancel::check_interrupt().err()
        };
        match err {
            Some(e) => {
                *self.error.borrow_mut() = Some(e);
                self.tripped.set(true);
                false
            }
            None => true,
        }
    }

    /// Why the script was stopped, if it was; clears it.
    pub fn take_error(&self) -> Option<HostError> {
        self.error.borrow_mut().take()
    }

    fn message(&self) -> String {
        self.error
            .borrow()
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "the script was stopped".into())
    }

    /// A fresh count for the next REPL input.
    pub fn reset(&self) {
        self.operations.set(0);
        self.tripped.set(false);
        self.error.borrow_mut().take();
    }
}

static LIMITER_KEY: u8 = 0;

fn limiter_key() -> *const c_void {
    &LIMITER_KEY as *const u8 as *const c_void
}

/// The hook's decision, made where Rust values may live: None to go on,
/// Some(message) to raise.
fn verdict(limiter: &Limiter) -> Option<Vec<u8>> {
    if limiter.charge(INSTRUCTIONS_PER_HOOK as u64) {
        None
    } else {
        Some(limiter.message().into_bytes())
    }
}

unsafe extern "C-unwind" fn instruction_hook(l: *mut ffi::lua_State, _: *mut ffi::lua_Debug) {
    ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, limiter_key());
    let limiter = ffi::lua_touserdata(l, -1) as *const Limiter;
    ffi::lua_pop(l, 1);
    if limiter.is_null() {
        return;
    }
    match verdict(&*limiter) {
        None => {
            // A coroutine made while a limit was reached (in an earlier REPL
            // input) kept the every-instruction count; give it the normal one.
            if ffi::lua_gethookcount(l) != INSTRUCTIONS_PER_HOOK {
                ffi::lua_sethook(
                    l,
                    Some(instruction_hook),
                    ffi::LUA_MASKCOUNT,
                    INSTRUCTIONS_PER_HOOK,
                );
            }
        }
        Some(message) => {
            ffi::lua_sethook(l, Some(instruction_hook), ffi::LUA_MASKCOUNT, 1);
            ffi::lua_pushlstring(l, message.as_ptr() as *const _, message.len());
            // lua_error does not return: nothing with a destructor may be alive.
            drop(message);
            ffi::lua_error(l);
        }
    }
}

/// Install the hook on the main thread (coroutines inherit it). The limiter
/// must outlive the Lua state.
pub fn install(lua: &Lua, limiter: &Rc<Limiter>) -> mlua::Result<()> {
    let ptr = Rc::as_ptr(limiter) as *mut c_void;
    // SAFETY: the closure only stores a pointer in the registry and sets the
    // hook; `ptr` stays valid because LuaState drops the Lua state first.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_pushlightuserdata(state, ptr);
            ffi::lua_rawsetp(state, ffi::LUA_REGISTRYINDEX, limiter_key());
            ffi::lua_sethook(
                state,
                Some(instruction_hook),
                ffi::LUA_MASKCOUNT,
                INSTRUCTIONS_PER_HOOK,
            );
        })
    }
}

/// Back to the normal hook count on the main thread (after a REPL input
/// that was stopped).
pub fn rearm(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: only sets the hook of the main thread.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_sethook(
                state,
                Some(instruction_hook),
                ffi::LUA_MASKCOUNT,
                INSTRUCTIONS_PER_HOOK,
            );
        })
    }
}

// ---------------------------------------------------------------------------
// The pattern functions. Each returns `true, results...` or `false, message`;
// the prelude raises the message at the caller's line, as the host wrappers do.

fn fail(lua: &Lua, msg: impl AsRef<str>) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([
        LuaValue::Boolean(false),
        LuaValue::String(lua.create_string(msg.as_ref())?),
    ]))
}

fn ok(values: impl IntoIterator<Item = LuaValue>) -> MultiValue {
    std::iter::once(LuaValue::Boolean(true))
        .chain(values)
        .collect()
}

/// Argument `n` (1-based), None past the last one given.
fn arg(args: &MultiValue, n: usize) -> Option<&LuaValue> {
    args.get(n - 1)
}

fn type_name(v: Option<&LuaValue>) -> &'static str {
    v.map_or("no value", |v| v.type_name())
}

/// `luaL_checklstring`: a string, or a number as its text.
fn arg_string(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> Result<Vec<u8>, String> {
    let v = arg(args, n);
    match v.map(|v| lua.coerce_string(v.clone())) {
        Some(Ok(Some(s))) => Ok(s.as_bytes().to_vec()),
        _ => Err(format!(
            "bad argument #{n} to '{f}' (string expected, got {})",
            type_name(v)
        )),
    }
}

/// `luaL_optinteger`.
fn arg_int(lua: &Lua, args: &MultiValue, n: usize, f: &str, default: i64) -> Result<i64, String> {
    let v = match arg(args, n) {
        None | Some(LuaValue::Nil) => return Ok(default),
        Some(v) => v,
    };
    match lua.coerce_integer(v.clone()) {
        Ok(Some(i)) => Ok(i),
        _ if matches!(v, LuaValue::Number(_))
            || lua.coerce_number(v.clone()).ok().flatten().is_some() =>
        {
            Err(format!(
                "bad argument #{n} to '{f}' (number has no integer representation)"
            ))
        }
        _ => Err(format!(
            "bad argument #{n} to '{f}' (number expected, got {})",
            v.type_name()
        )),
    }
}

fn capture_values(lua: &Lua, s: &[u8], caps: &[Capture]) -> mlua::Result<Vec<LuaValue>> {
    caps.iter()
        .map(|c| match c {
            Capture::Text(r) => Ok(LuaValue::String(lua.create_string(&s[r.clone()])?)),
            Capture::Position(p) => Ok(LuaValue::Integer(*p as i64)),
        })
        .collect()
}

fn pattern_failure(lua: &Lua, limiter: &Limiter, e: PatternError) -> mlua::Result<MultiValue> {
    match e {
        PatternError::Lua(m) => fail(lua, m),
        PatternError::Stopped => fail(lua, limiter.message()),
    }
}

/// `__pat`: find, match, gmatch (returns a step function), gsub (does a
/// string replacement itself; for a function or table it hands the checked
/// arguments back) and gsub_next (one match, for the prelude's gsub loop).
pub fn pattern_functions(lua: &Lua, limiter: &Rc<Limiter>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (name, want_bounds) in [("find", true), ("match", false)] {
        let limiter = limiter.clone();
        let f = lua.create_function(move |lua, args: MultiValue| {
            let checked = (|| {
                Ok::<_, String>((
                    arg_string(lua, &args, 1, name)?,
                    arg_string(lua, &args, 2, name)?,
                    arg_int(lua, &args, 3, name, 1)?,
                ))
            })();
            let (s, p, init) = match checked {
                Ok(v) => v,
                Err(m) => return fail(lua, m),
            };
            let plain = want_bounds
                && !matches!(
                    arg(&args, 4),
                    None | Some(LuaValue::Nil | LuaValue::Boolean(false))
                );
            if want_bounds && (plain || lua_pattern::no_specials(&p)) {
                let start = lua_pattern::start_index(init, s.len()) - 1;
                if start > s.len() {
                    return Ok(ok([LuaValue::Nil]));
                }
                // Linear whatever the input (a naive search is not).
                return Ok(match memchr::memmem::find(&s[start..], &p) {
                    Some(at) => ok([
                        LuaValue::Integer((start + at + 1) as i64),
                        LuaValue::Integer((start + at + p.len()) as i64),
                    ]),
                    None => ok([LuaValue::Nil]),
                });
            }
            let mut budget = |n: u64| limiter.charge(n);
            match lua_pattern::find(&s, &p, init, false, want_bounds, &mut budget) {
                Ok(None) => Ok(ok([LuaValue::Nil])),
                Ok(Some(found)) => {
                    let mut values = Vec::new();
                    if let Some((a, b)) = found.bounds {
                        values.push(LuaValue::Integer(a as i64));
                        values.push(LuaValue::Integer(b as i64));
                    }
                    values.extend(capture_values(lua, &s, &found.captures)?);
                    Ok(ok(values))
                }
                Err(e) => pattern_failure(lua, &limiter, e),
            }
        })?;
        t.set(name, f)?;
    }

    let lim = limiter.clone();
    let gmatch = lua.create_function(move |lua, args: MultiValue| {
        let checked = (|| {
            Ok::<_, String>((
                arg_string(lua, &args, 1, "gmatch")?,
                arg_string(lua, &args, 2, "gmatch")?,
                arg_int(lua, &args, 3, "gmatch", 1)?,
            ))
        })();
        let (s, p, init) = match checked {
            Ok(v) => v,
            Err(m) => return fail(lua, m),
        };
        let from = (lua_pattern::start_index(init, s.len()) - 1).min(s.len() + 1);
        let state = Cell::new((from, None::<usize>));
        let limiter = lim.clone();
        let step = lua.create_function(move |lua, ()| {
            let (from, last) = state.get();
            if from > s.len() {
                return Ok(ok([]));
            }
            let mut budget = |n: u64| limiter.charge(n);
            match lua_pattern::gmatch_next(&s, &p, from, last, &mut budget) {
                Ok(None) => {
                    state.set((s.len() + 1, last));
                    Ok(ok([]))
                }
                Ok(Some(m)) => {
                    state.set((m.range.end, Some(m.range.end)));
                    let caps = match m.captures() {
                        Ok(c) => c,
                        Err(e) => return pattern_failure(lua, &limiter, e),
                    };
                    Ok(ok(capture_values(lua, &s, &caps)?))
                }
                Err(e) => pattern_failure(lua, &limiter, e),
            }
        })?;
        Ok(ok([LuaValue::Function(step)]))
    })?;
    t.set("gmatch", gmatch)?;

    let limiter_gsub = limiter.clone();
    let gsub = lua.create_function(move |lua, args: MultiValue| {
        let limiter = &limiter_gsub;
        let s = match arg_string(lua, &args, 1, "gsub") {
            Ok(s) => s,
            Err(m) => return fail(lua, m),
        };
        let p = match arg_string(lua, &args, 2, "gsub") {
            Ok(p) => p,
            Err(m) => return fail(lua, m),
        };
        let repl = arg(&args, 3).cloned().unwrap_or(LuaValue::Nil);
        let max_n = match arg_int(lua, &args, 4, "gsub", s.len() as i64 + 1) {
            Ok(n) => n,
            Err(m) => return fail(lua, m),
        };
        let (anchor, p) = match p.first() {
            Some(b'^') => (true, p[1..].to_vec()),
            _ => (false, p),
        };
        match &repl {
            LuaValue::Function(_) | LuaValue::Table(_) => {
                return Ok(ok([
                    LuaValue::String(lua.create_string(&s)?),
                    LuaValue::String(lua.create_string(&p)?),
                    LuaValue::Boolean(anchor),
                    LuaValue::Integer(max_n),
                ]))
            }
            LuaValue::String(_) | LuaValue::Integer(_) | LuaValue::Number(_) => {}
            _ => {
                return fail(
                    lua,
                    format!(
                        "bad argument #3 to 'gsub' (string/function/table expected, got {})",
                        type_name(arg(&args, 3))
                    ),
                )
            }
        }
        let repl = match arg_string(lua, &args, 3, "gsub") {
            Ok(r) => r,
            Err(m) => return fail(lua, m),
        };
        let mut budget = |n: u64| limiter.charge(n);
        let mut out = Vec::with_capacity(s.len());
        let (mut from, mut last, mut n) = (0usize, None, 0i64);
        while n < max_n {
            let m: Match = match lua_pattern::gsub_next(&s, &p, from, last, anchor, &mut budget) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => return pattern_failure(lua, limiter, e),
            };
            n += 1;
            out.extend_from_slice(&s[from..m.range.start]);
            match lua_pattern::expand_replacement(&repl, &s, &m) {
                Ok(r) => out.extend_from_slice(&r),
                Err(e) => return pattern_failure(lua, limiter, e),
            }
            from = m.range.end;
            last = Some(from);
            if anchor {
                break;
            }
        }
        out.extend_from_slice(&s[from..]);
        Ok(ok([
            LuaValue::String(lua.create_string(&out)?),
            LuaValue::Integer(n),
        ]))
    })?;
    t.set("gsub", gsub)?;

    let limiter_next = limiter.clone();
    let gsub_next =
        lua.create_function(
            move |lua,
                  (s, p, from, last, anchor): (
                mlua::String,
                mlua::String,
                i64,
                Option<i64>,
                bool,
            )| {
                let (s, p) = (s.as_bytes().to_vec(), p.as_bytes().to_vec());
                let mut budget = |n: u64| limiter_next.charge(n);
                let last = last.map(|l| l as usize);
                match lua_pattern::gsub_next(&s, &p, from as usize, last, anchor, &mut budget) {
                    Ok(None) => Ok(ok([])),
                    Ok(Some(m)) => {
                        let caps = match m.captures() {
                            Ok(c) => c,
                            Err(e) => return pattern_failure(lua, &limiter_next, e),
                        };
                        let mut values = vec![
                            LuaValue::Integer(m.range.start as i64),
                            LuaValue::Integer(m.range.end as i64),
                        ];
                        values.extend(capture_values(lua, &s, &caps)?);
                        Ok(ok(values))
                    }
                    Err(e) => pattern_failure(lua, &limiter_next, e),
                }
            },
        )?;
    t.set("gsub_next", gsub_next)?;
    Ok(t)
}

/// Lua glue for the pattern functions and the `__gc` guard; appended to the
/// prelude, whose locals (`pack`, `unpack`, `select`, `error`, `type`,
/// `rawget`, `raw_setmetatable`) it uses.
pub const PRELUDE: &str = r#"
local pat = __pat
__pat = nil
local sub, concat = string.sub, table.concat
local function lift(raw)
  return function(...)
    local r = pack(raw(...))
    if r[1] then return unpack(r, 2, r.n) end
    error(r[2], 2)
  end
end
string.find = lift(pat.find)
string.match = lift(pat.match)
string.gmatch = function(...)
  local r = pack(pat.gmatch(...))
  if not r[1] then error(r[2], 2) end
  return lift(r[2])
end
string.gsub = function(...)
  local r = pack(pat.gsub(...))
  if not r[1] then error(r[2], 2) end
  if r.n == 3 then return r[2], r[3] end
  -- A function or table replacement: called from here, so what it raises
  -- (a host error, a limit) arrives intact.
  local repl = select(3, ...)
  local s, p, anchor, max_n = r[2], r[3], r[4], r[5]
  local out, from, last, n = {}, 0, nil, 0
  while n < max_n do
    local m = pack(pat.gsub_next(s, p, from, last, anchor))
    if not m[1] then error(m[2], 2) end
    if m.n == 1 then break end
    local start, stop = m[2], m[3]
    n = n + 1
    out[#out + 1] = sub(s, from + 1, start)
    local v
    if type(repl) == "table" then v = repl[m[4]] else v = repl(unpack(m, 4, m.n)) end
    if not v then
      v = sub(s, start + 1, stop)
    elseif type(v) ~= "string" and type(v) ~= "number" then
      error("invalid replacement value (a " .. type(v) .. ")", 2)
    end
    out[#out + 1] = v
    from, last = stop, stop
    if anchor then break end
  end
  out[#out + 1] = sub(s, from + 1)
  return concat(out), n
end
-- Finalizers run with the debug hook off: a loop in one could not be stopped.
_G.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc finalizers are not allowed in scripts: they run where the time and operation limits cannot stop them", 2)
  end
  return raw_setmetatable(t, mt)
end
"#;
