//! What a host function takes and gives, declared once with types: its
//! parameters, the keys of an options map, and the shape of its result.
//!
//! Everything a script or a reader sees about a call is generated from these
//! declarations: the signature `elysiactl api` and the REPL's `:help` show,
//! the number of arguments each engine binds, the type checks (made in one
//! place, before the function runs, with one wording of the errors) and the
//! refusal of an option the function does not know. The result's declared
//! shape is what a dry run's simulation must return too; debug builds check
//! every real result against it, so a declaration cannot drift from the code.

use crate::base::error::{type_name, HostError};
use crate::base::units::to_duration;
use serde_json::{json, Value};
use std::fmt;

/// The type of a parameter, an option or a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Any,
    Null,
    Bool,
    /// A whole number (a float without a fraction counts).
    Int,
    /// A number, or text that reads as one ("0.5"): command-line flags arrive as text.
    Number,
    Str,
    /// Seconds (30, 0.5) or text such as "30s" or "2m 30s".
    Duration,
    /// A configured Weaviate node: its name ("weaviate-1") or its index (1).
    Node,
    /// One of a closed set of strings.
    OneOf(Vec<&'static str>),
    /// A list whose every item has the type. An empty Lua table arrives as an
    /// empty map, so that counts as an empty list.
    Array(Box<Ty>),
    Map,
    /// A map with at least these keys (extra keys are allowed).
    Record(Vec<(&'static str, Ty)>),
    /// An options map: only the declared keys.
    Opts(Vec<OptKey>),
    /// Any of these types.
    Either(Vec<Ty>),
    /// A function of the calling script (a Rhai closure or `Fn("name")`, a
    /// Lua function), which the host calls back: never a JSON value.
    Function,
}

/// A key of an options map.
#[derive(Debug, Clone, PartialEq)]
pub struct OptKey {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// Setting it makes a read a write: it is planned under `--dry-run`.
    /// Declared through `HostFn::writes_when`, which takes the simulation.
    pub writes: bool,
    /// The value of the first argument this option belongs to
    /// (`service.start`'s `nodes` is Weaviate's), or None for every value.
    pub only_for: Option<&'static str>,
    /// Not an option of this function: where to go instead.
    pub refused: Option<&'static str>,
}

/// An optional key of an options map.
pub fn opt(name: &'static str, ty: Ty) -> OptKey {
    OptKey {
        name,
        ty,
        required: false,
        writes: false,
        only_for: None,
        refused: None,
    }
}

/// A key of an options map that must be given.
pub fn required(name: &'static str, ty: Ty) -> OptKey {
    OptKey {
        required: true,
        ..opt(name, ty)
    }
}

/// A key that is refused with a pointer to where it went.
pub fn refused(name: &'static str, hint: &'static str) -> OptKey {
    OptKey {
        refused: Some(hint),
        ..opt(name, Ty::Any)
    }
}

impl OptKey {
    pub fn only_for(mut self, first_argument: &'static str) -> OptKey {
        self.only_for = Some(first_argument);
        self
    }
}

/// A parameter of a host function.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub ty: Ty,
    pub optional: bool,
}

impl Ty {
    /// A closed set of strings.
    pub fn one_of(names: impl IntoIterator<Item = &'static str>) -> Ty {
        Ty::OneOf(names.into_iter().collect())
    }

    /// A map with these keys, whatever their values.
    pub fn record(keys: &[&'static str]) -> Ty {
        Ty::Record(keys.iter().map(|k| (*k, Ty::Any)).collect())
    }

    pub fn array(item: Ty) -> Ty {
        Ty::Array(Box::new(item))
    }

    /// This type, or null.
    pub fn or_null(self) -> Ty {
        Ty::Either(vec![self, Ty::Null])
    }

    /// A list of items, or one item on its own (as one flag value arrives).
    pub fn list_of(item: Ty) -> Ty {
        Ty::Either(vec![Ty::array(item.clone()), item])
    }

    /// Whether `v` is of this type; Err says what was expected, and may
    /// carry a hint (a duration's parse error knows the forms it takes).
    pub fn check(&self, v: &Value) -> Result<(), Mismatch> {
        let ok = match (self, v) {
            (Ty::Any, _) => true,
            (Ty::Null, Value::Null) => true,
            (Ty::Bool, Value::Bool(_)) => true,
            (Ty::Int, v) => as_int(v).is_some(),
            (Ty::Number, Value::Number(_)) => true,
            (Ty::Number, Value::String(s)) => s.trim().parse::<f64>().is_ok(),
            (Ty::Str, Value::String(_)) => true,
            (Ty::Duration, v @ (Value::Number(_) | Value::String(_))) => {
                return to_duration(v).map(|_| ()).map_err(|e| Mismatch {
                    expected: format!("a duration: {}", e.message),
                    hint: Some(e.hint).filter(|h| !h.is_empty()),
                })
            }
            (Ty::Node, Value::String(_)) => true,
            (Ty::Node, v) => as_int(v).is_some(),
            (Ty::OneOf(names), Value::String(s)) => names.contains(&s.as_str()),
            (Ty::Array(item), Value::Array(items)) => {
                return match items.iter().find(|x| item.check(x).is_err()) {
                    None => Ok(()),
                    Some(bad) => Err(Mismatch::new(format!(
                        "{}, but one item is {}",
                        self.describe(),
                        type_name(bad)
                    ))),
                }
            }
            (Ty::Array(_), Value::Object(m)) => m.is_empty(),
            (Ty::Map | Ty::Opts(_), Value::Object(_)) => true,
            (Ty::Record(fields), Value::Object(m)) => {
                return match fields
                    .iter()
                    .find(|(k, t)| m.get(*k).is_none_or(|x| t.check(x).is_err()))
                {
                    None => Ok(()),
                    Some((k, t)) if m.contains_key(*k) => Err(Mismatch::new(format!(
                        "{} whose `{k}` is {}",
                        self.describe(),
                        t.describe()
                    ))),
                    Some((k, _)) => Err(Mismatch::new(format!(
                        "{} (`{k}` is missing)",
                        self.describe()
                    ))),
                }
            }
            (Ty::Either(alternatives), v) => {
                let mut hint = None;
                for t in alternatives {
                    match t.check(v) {
                        Ok(()) => return Ok(()),
                        Err(m) => hint = hint.or(m.hint),
                    }
                }
                return Err(Mismatch {
                    expected: self.describe(),
                    hint,
                });
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Mismatch::new(self.describe()))
        }
    }

    /// What a value of this type is, for error messages: "an integer".
    pub fn describe(&self) -> String {
        match self {
            Ty::Any => "any value".into(),
            Ty::Null => "nothing (null)".into(),
            Ty::Bool => "true or false".into(),
            Ty::Int => "an integer".into(),
            Ty::Number => "a number".into(),
            Ty::Str => "a string".into(),
            Ty::Duration => "a duration (seconds, or text such as \"30s\")".into(),
            Ty::Node => "a node name or index".into(),
            Ty::OneOf(names) => format!("one of {}", quoted(names)),
            Ty::Array(item) if **item == Ty::Any => "an array".into(),
            Ty::Array(item) => format!("an array of {}", plural(item)),
            Ty::Map => "a map".into(),
            Ty::Record(fields) => format!(
                "a map with {}",
                fields
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ty::Opts(_) => "a map of options".into(),
            Ty::Function => "a function".into(),
            Ty::Either(alternatives) => {
                let mut words: Vec<String> = alternatives.iter().map(Ty::describe).collect();
                let last = words.pop().unwrap_or_default();
                if words.is_empty() {
                    last
                } else {
                    format!("{} or {last}", words.join(", "))
                }
            }
        }
    }

    /// A machine-readable form, for `elysiactl api --json`.
    pub fn to_json(&self) -> Value {
        match self {
            Ty::Any => json!("any"),
            Ty::Null => json!("null"),
            Ty::Bool => json!("bool"),
            Ty::Int => json!("int"),
            Ty::Number => json!("number"),
            Ty::Str => json!("string"),
            Ty::Duration => json!("duration"),
            Ty::Node => json!("node"),
            Ty::Map => json!("map"),
            Ty::Function => json!("function"),
            Ty::OneOf(names) => json!({ "one_of": names }),
            Ty::Array(item) => json!({ "array": item.to_json() }),
            Ty::Record(fields) => json!({
                "record": fields
                    .iter()
                    .map(|(k, t)| json!({"key": k, "type": t.to_json()}))
                    .collect::<Vec<_>>()
            }),
            Ty::Opts(keys) => json!({
                "options": keys
                    .iter()
                    .filter(|k| k.refused.is_none())
                    .map(|k| json!({
                        "name": k.name, "type": k.ty.to_json(), "required": k.required,
                        "writes": k.writes, "only_for": k.only_for,
                    }))
                    .collect::<Vec<_>>()
            }),
            Ty::Either(alternatives) => {
                json!({ "either": alternatives.iter().map(Ty::to_json).collect::<Vec<_>>() })
            }
        }
    }
}

fn plural(t: &Ty) -> String {
    match t {
        Ty::Str => "strings".into(),
        Ty::Int => "integers".into(),
        Ty::Map => "maps".into(),
        other => format!("items that are {}", other.describe()),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How signatures show a type: `int`, `[string]|string`, `{verbose?: bool}`.
impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Any => f.write_str("any"),
            Ty::Null => f.write_str("null"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Number => f.write_str("number"),
            Ty::Str => f.write_str("string"),
            Ty::Duration => f.write_str("duration"),
            Ty::Node => f.write_str("node"),
            Ty::Map => f.write_str("map"),
            Ty::Function => f.write_str("fn"),
            Ty::OneOf(names) => f.write_str(
                &names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            Ty::Array(item) if **item == Ty::Any => f.write_str("array"),
            Ty::Array(item) => write!(f, "[{item}]"),
            Ty::Record(fields) => write!(
                f,
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ty::Opts(keys) => {
                let shown: Vec<String> = keys
                    .iter()
                    .filter(|k| k.refused.is_none())
                    .map(|k| {
                        let mut s =
                            format!("{}{}: {}", k.name, if k.required { "" } else { "?" }, k.ty);
                        if let Some(v) = k.only_for {
                            s.push_str(&format!(" ({v})"));
                        }
                        if k.writes {
                            s.push_str(" (writes)");
                        }
                        s
                    })
                    .collect();
                write!(f, "{{{}}}", shown.join(", "))
            }
            Ty::Either(alternatives) => f.write_str(
                &alternatives
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
        }
    }
}

/// What a value failed to be.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub expected: String,
    pub hint: Option<String>,
}

impl Mismatch {
    fn new(expected: String) -> Mismatch {
        Mismatch {
            expected,
            hint: None,
        }
    }
}

/// A whole number, given as one or as a float without a fraction.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    }
}

/// Whether an option counts as set: a value other than null and false.
pub fn is_set(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// The checks of one call, in the order a reader would make them: the
/// number of arguments, each argument's type, each option's name and type.
/// Checks a call's arguments against the declaration. `functions` are the
/// positions where the script passed one of its functions (their values are
/// null): only a `Ty::Function` parameter takes one, and it takes nothing else.
pub fn check_call(
    function: &str,
    signature: &str,
    params: &[Param],
    args: &[Value],
    functions: &[usize],
) -> Result<(), HostError> {
    let required = params.iter().filter(|p| !p.optional).count();
    let total = params.len();
    if args.len() < required || args.len() > total {
        return Err(HostError::validation(format!(
            "{function}() takes {} argument{}, got {}",
            if required == total {
                format!("{total}")
            } else {
                format!("{required} to {total}")
            },
            if total == 1 { "" } else { "s" },
            args.len()
        ))
        .with_hint(format!("signature: {signature}")));
    }
    let first = args.first().and_then(Value::as_str);
    for (i, (p, v)) in params.iter().zip(args).enumerate() {
        let mismatch = |expected: String, got: &str| {
            HostError::validation(format!(
                "{function}(): argument {} ({}) must be {expected}, got {got}",
                i + 1,
                p.name,
            ))
            .with_hint(format!("signature: {signature}"))
        };
        match (p.ty == Ty::Function, functions.contains(&i)) {
            (true, true) => continue,
            (false, true) => return Err(mismatch(p.ty.describe(), "a function")),
            (true, false) if !(v.is_null() && p.optional) => {
                return Err(mismatch(p.ty.describe(), &shown(v)))
            }
            _ => {}
        }
        if v.is_null() && p.optional {
            continue;
        }
        if let Err(m) = p.ty.check(v) {
            return Err(HostError::validation(format!(
                "{function}(): argument {} ({}) must be {}, got {}",
                i + 1,
                p.name,
                m.expected,
                shown(v)
            ))
            .with_hint(m.hint.unwrap_or_else(|| format!("signature: {signature}"))));
        }
        if let (Ty::Opts(keys), Value::Object(given)) = (&p.ty, v) {
            check_options(function, keys, given, first)?;
        }
    }
    Ok(())
}

fn check_options(
    function: &str,
    keys: &[OptKey],
    given: &serde_json::Map<String, Value>,
    first: Option<&str>,
) -> Result<(), HostError> {
    let applies = |k: &OptKey| k.refused.is_none() && k.only_for.is_none_or(|v| Some(v) == first);
    let known = || {
        keys.iter()
            .filter(|k| applies(k))
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, v) in given {
        let Some(key) = keys.iter().find(|k| k.name == name) else {
            return Err(
                HostError::validation(format!("{function}(): unknown option `{name}`"))
                    .with_hint(format!("known options: {}", known())),
            );
        };
        if let Some(hint) = key.refused {
            return Err(HostError::validation(format!(
                "{function}(): `{name}` is not an option of {function}()"
            ))
            .with_hint(hint));
        }
        if !applies(key) && !v.is_null() {
            return Err(HostError::validation(format!(
                "{function}(): option `{name}` is not an option for {:?}",
                first.unwrap_or_default()
            ))
            .with_hint(format!(
                "known options for {:?}: {}",
                first.unwrap_or_default(),
                known()
            )));
        }
        if v.is_null() {
            continue;
        }
        if let Err(m) = key.ty.check(v) {
            let e = HostError::validation(format!(
                "{function}(): option `{name}` must be {}, got {}",
                m.expected,
                shown(v)
            ));
            return Err(match m.hint {
                Some(h) => e.with_hint(h),
                None => e,
            });
        }
    }
    if let Some(missing) = keys
        .iter()
        .find(|k| k.required && applies(k) && given.get(k.name).is_none_or(Value::is_null))
    {
        return Err(HostError::validation(format!(
            "{function}(): option `{}` is required",
            missing.name
        ))
        .with_hint(format!("give {}: {}", missing.name, missing.ty)));
    }
    Ok(())
}

/// A value in an error: its kind, and short text where that helps.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => type_name(other).to_string(),
    }
}

/// A result in an error: its kind, and a map's keys.
pub fn describe_value(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "a map with {}",
            m.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        ),
        other => shown(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_accept_what_scripts_and_flags_send() {
        assert!(Ty::Int.check(&json!(3)).is_ok());
        assert!(Ty::Int.check(&json!(3.0)).is_ok());
        assert!(Ty::Int.check(&json!(3.5)).is_err());
        assert!(Ty::Number.check(&json!("0.5")).is_ok());
        assert!(Ty::Number.check(&json!("half")).is_err());
        assert!(Ty::Duration.check(&json!("2m 30s")).is_ok());
        assert!(Ty::Duration.check(&json!(1.5)).is_ok());
        let e = Ty::Duration.check(&json!("soon")).unwrap_err();
        assert!(e.hint.unwrap().contains("30s"));
        assert!(Ty::Node.check(&json!("weaviate-1")).is_ok());
        assert!(Ty::Node.check(&json!(1)).is_ok());
        assert!(Ty::Node.check(&json!(true)).is_err());
        let list = Ty::list_of(Ty::Str);
        assert!(list.check(&json!(["a", "b"])).is_ok());
        assert!(list.check(&json!("a")).is_ok());
        assert!(list.check(&json!({})).is_ok(), "an empty Lua table");
        assert!(list.check(&json!(["a", 1])).is_err());
        let svc = Ty::one_of(["weaviate", "elysia"]);
        assert!(svc.check(&json!("elysia")).is_ok());
        let e = svc.check(&json!("redis")).unwrap_err();
        assert_eq!(e.expected, "one of \"weaviate\", \"elysia\"");
    }

    #[test]
    fn records_need_their_keys_and_allow_more() {
        let r = Ty::record(&["container", "state"]);
        assert!(r
            .check(&json!({"container": "c", "state": "running", "dry_run": true}))
            .is_ok());
        let e = r.check(&json!({"container": "c"})).unwrap_err();
        assert!(e.expected.contains("`state` is missing"), "{e:?}");
        assert!(r.check(&json!([])).is_err());
    }

    fn params() -> Vec<Param> {
        vec![
            Param {
                name: "name",
                ty: Ty::one_of(["weaviate", "elysia"]),
                optional: false,
            },
            Param {
                name: "opts",
                ty: Ty::Opts(vec![
                    opt("nodes", Ty::list_of(Ty::Int)).only_for("weaviate"),
                    opt("timeout", Ty::Duration),
                    refused("export", "use m.export(file)"),
                ]),
                optional: true,
            },
        ]
    }

    #[test]
    fn calls_are_checked_before_they_run() {
        let p = params();
        let check = |args: Value| {
            check_call("m.f", "f(...)", &p, args.as_array().unwrap(), &[])
                .err()
                .map(|e| format!("{} | {}", e.message, e.hint))
        };
        assert_eq!(check(json!(["weaviate", {"nodes": [0, 1]}])), None);
        assert_eq!(check(json!(["elysia", null])), None);
        let e = check(json!([])).unwrap();
        assert!(e.starts_with("m.f() takes 1 to 2 arguments, got 0"), "{e}");
        let e = check(json!(["redis"])).unwrap();
        assert!(
            e.contains("argument 1 (name) must be one of \"weaviate\", \"elysia\", got \"redis\""),
            "{e}"
        );
        let e = check(json!(["weaviate", {"timout": 3}])).unwrap();
        assert!(e.contains("unknown option `timout`"), "{e}");
        assert!(e.contains("known options: nodes, timeout"), "{e}");
        let e = check(json!(["elysia", {"nodes": [1]}])).unwrap();
        assert!(e.contains("not an option for \"elysia\""), "{e}");
        assert!(e.contains("known options for \"elysia\": timeout"), "{e}");
        let e = check(json!(["weaviate", {"timeout": "soon"}])).unwrap();
        assert!(e.contains("option `timeout` must be a duration"), "{e}");
        let e = check(json!(["weaviate", {"export": "f"}])).unwrap();
        assert!(e.contains("use m.export(file)"), "{e}");
        let e = check(json!(["weaviate", "fast"])).unwrap();
        assert!(
            e.contains("argument 2 (opts) must be a map of options"),
            "{e}"
        );
    }

    #[test]
    fn signatures_show_the_declared_types() {
        let p = params();
        assert_eq!(p[0].ty.to_string(), "\"weaviate\"|\"elysia\"");
        assert_eq!(
            p[1].ty.to_string(),
            "{nodes?: [int]|int (weaviate), timeout?: duration}"
        );
        assert_eq!(Ty::record(&["a", "b"]).or_null().to_string(), "{a, b}|null");
    }
}
