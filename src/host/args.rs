//! Typed access to the arguments of a host call. [`super::Host::call`]
//! has checked them against the function's declaration before the function
//! runs, so these accessors convert; their errors are a fallback for calls
//! made from Rust, and name the function, the parameter and what was expected.

use super::decl::as_int;
use super::HostFn;
use crate::base::config::EmbedderKind;
use crate::base::error::{HostError, HostResult};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// A function of the calling script, as the host calls it: one value in,
/// the function's result out. The engine binds it for the length of a call.
pub type ScriptFn<'a> = Box<dyn FnMut(Value) -> HostResult<Value> + 'a>;

pub struct Args<'a> {
    function: String,
    signature: &'static str,
    params: Vec<&'static str>,
    values: Vec<Value>,
    /// The script's functions by argument position (`Ty::Function` parameters).
    functions: RefCell<Vec<(usize, ScriptFn<'a>)>>,
}

impl<'a> Args<'a> {
    pub fn new(f: &HostFn, values: Vec<Value>) -> Args<'a> {
        Args::with_functions(f, values, Vec::new())
    }

    pub fn with_functions(
        f: &HostFn,
        values: Vec<Value>,
        functions: Vec<(usize, ScriptFn<'a>)>,
    ) -> Args<'a> {
        Args {
            function: f.qualified_name(),
            signature: f.signature,
            params: f.params.iter().map(|p| p.name).collect(),
            values,
            functions: RefCell::new(functions),
        }
    }

    /// Whether the script passed a function at position `i`.
    pub fn has_function(&self, i: usize) -> bool {
        self.functions.borrow().iter().any(|(at, _)| *at == i)
    }

    /// Calls the script's function at position `i` with `v`; None when the
    /// script passed none there. Its failure comes back as this call's error.
    pub fn call_function(&self, i: usize, v: Value) -> HostResult<Option<Value>> {
        let mut functions = self.functions.borrow_mut();
        let Some((_, f)) = functions.iter_mut().find(|(at, _)| *at == i) else {
            return Ok(None);
        };
        f(v).map(Some).map_err(|e| {
            let hint = if e.hint.is_empty() {
                format!(
                    "the function given to {}() as {} failed",
                    self.function,
                    self.param_name(i)
                )
            } else {
                e.hint.clone()
            };
            HostError { hint, ..e }
        })
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    fn param_name(&self, i: usize) -> String {
        self.params
            .get(i)
            .map(|p| p.to_string())
            .unwrap_or_else(|| format!("#{}", i + 1))
    }

    fn wrong(&self, i: usize, expected: &str, got: &Value) -> HostError {
        HostError::validation(format!(
            "{}(): argument {} ({}) must be {expected}, got {}",
            self.function,
            i + 1,
            self.param_name(i),
            type_name(got)
        ))
        .with_hint(if self.signature.is_empty() {
            String::new()
        } else {
            format!("signature: {}", self.signature)
        })
    }

    pub fn str(&self, i: usize) -> HostResult<String> {
        match self.values.get(i) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.wrong(i, "a string", v)),
            None => Err(self.wrong(i, "a string", &Value::Null)),
        }
    }

    pub fn opt_str(&self, i: usize) -> HostResult<Option<String>> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(i, "a string", v)),
        }
    }

    pub fn int(&self, i: usize) -> HostResult<i64> {
        match self.values.get(i) {
            Some(v) => as_int(v).ok_or_else(|| self.wrong(i, "an integer", v)),
            None => Err(self.wrong(i, "an integer", &Value::Null)),
        }
    }

    pub fn opt_int(&self, i: usize) -> HostResult<Option<i64>> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => as_int(v)
                .map(Some)
                .ok_or_else(|| self.wrong(i, "an integer", v)),
        }
    }

    /// An options map; absent means empty.
    pub fn opts(&self, i: usize) -> HostResult<Opts> {
        match self.get(i) {
            None => Ok(Opts {
                function: self.function.clone(),
                map: Map::new(),
            }),
            Some(Value::Object(m)) => Ok(Opts {
                function: self.function.clone(),
                map: m.clone(),
            }),
            Some(v) => Err(self.wrong(i, "a map of options", v)),
        }
    }

    pub fn value(&self, i: usize) -> Value {
        self.values.get(i).cloned().unwrap_or(Value::Null)
    }
}

pub use crate::base::error::type_name;

/// An options map (`#{timeout: 30}` in Rhai, `{timeout = 30}` in Lua).
pub struct Opts {
    function: String,
    map: Map<String, Value>,
}

impl Opts {
    fn wrong(&self, key: &str, expected: &str, v: &Value) -> HostError {
        HostError::validation(format!(
            "{}(): option `{key}` must be {expected}, got {}",
            self.function,
            type_name(v)
        ))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn bool(&self, key: &str, default: bool) -> HostResult<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    pub fn int(&self, key: &str) -> HostResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_int(v)
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", v)),
        }
    }

    /// An integer option within `min..=max` (`default` when absent). Out of
    /// range is refused, not clamped: a negative count is a mistake to report.
    pub fn int_in(&self, key: &str, default: i64, min: i64, max: i64) -> HostResult<i64> {
        let v = self.int(key)?.unwrap_or(default);
        if !(min..=max).contains(&v) {
            return Err(HostError::validation(format!(
                "{}(): {key} = {v} is out of range",
                self.function
            ))
            .with_hint(format!(
                "use {min} to {max} (on the command line: --{} N)",
                key.replace('_', "-")
            )));
        }
        Ok(v)
    }

    /// A number, given as one or as text ("0.5"), as command-line flags arrive.
    pub fn float(&self, key: &str) -> HostResult<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.wrong(key, "a number", &Value::String(s.clone()))),
            Some(v) => Err(self.wrong(key, "a number", v)),
        }
    }

    pub fn str(&self, key: &str) -> HostResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// An embedder named by its `index.embedder` name.
    pub fn embedder(&self, key: &str) -> HostResult<Option<EmbedderKind>> {
        self.str(key)?.map(|s| EmbedderKind::parse(&s)).transpose()
    }

    /// A duration given as seconds (number) or as text such as "30s" or "2m".
    pub fn duration(&self, key: &str) -> HostResult<Option<std::time::Duration>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => crate::base::units::to_duration(v)
                .map(Some)
                .map_err(|e| self.wrong(key, &format!("a duration ({})", e.message), v)),
        }
    }

    pub fn str_list(&self, key: &str) -> HostResult<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.wrong(key, "a list of strings", x))
                })
                .collect::<HostResult<Vec<_>>>()
                .map(Some),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(v) => Err(self.wrong(key, "a list of strings", v)),
        }
    }

    pub fn int_list(&self, key: &str) -> HostResult<Option<Vec<i64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| as_int(x).ok_or_else(|| self.wrong(key, "a list of integers", x)))
                .collect::<HostResult<Vec<_>>>()
                .map(Some),
            Some(v) => as_int(v)
                .map(|i| Some(vec![i]))
                .ok_or_else(|| self.wrong(key, "a list of integers", v)),
        }
    }
}
