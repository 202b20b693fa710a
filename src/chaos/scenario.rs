//! Chaos scenarios: a declarative experiment in the shape Chaos Toolkit
//! users know (title, steady-state hypothesis, method, rollbacks), whose
//! activities call the host API by name. This module holds the format, its
//! parsing with the line of every mistake, and the tolerance rules; the
//! host runs a scenario (it alone can call host functions by name).

use crate::base::error::{HostError, HostResult};
use crate::base::units::parse_duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(rename = "steady-state-hypothesis", default)]
    pub hypothesis: Option<Hypothesis>,
    #[serde(default)]
    pub method: Vec<Activity>,
    #[serde(default)]
    pub rollbacks: Vec<Activity>,
    /// Checked between the method's steps and through its pauses; one that
    /// fails longer than it allows stops the method, and the rollbacks run.
    #[serde(default)]
    pub guards: Vec<Guard>,
    /// Reads and writes offered while the method runs; every write Weaviate
    /// acknowledged must be there afterwards.
    #[serde(default)]
    pub load: Option<Load>,
}

/// The `load:` block: an open-model load (`benchmark`'s generator) on a
/// test dataset, from just before the method for `duration`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// The test dataset read from (generated when missing); inserts go to
    /// `<collection>Writes`, removed after the run.
    #[serde(default = "load_collection")]
    pub collection: String,
    #[serde(default = "load_records")]
    pub records: u64,
    /// Requests a second.
    pub rate: f64,
    pub duration: Value,
    /// Operation (one of `load::Operation::NAMES`) → weight.
    #[serde(default = "load_mix")]
    pub mix: std::collections::BTreeMap<String, u32>,
    #[serde(default = "load_consistency")]
    pub consistency: String,
    #[serde(default = "load_concurrency")]
    pub concurrency: usize,
    /// The nodes (indexes) the requests go to, in turn; empty: every node.
    /// The acknowledged writes are read back through any node.
    #[serde(default)]
    pub nodes: Vec<usize>,
}

fn load_collection() -> String {
    "ChaosLoad".into()
}
fn load_records() -> u64 {
    200
}
fn load_mix() -> std::collections::BTreeMap<String, u32> {
    [("get".to_string(), 1), ("insert".to_string(), 1)].into()
}
fn load_consistency() -> String {
    "QUORUM".into()
}
fn load_concurrency() -> usize {
    16
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hypothesis {
    pub title: String,
    pub probes: Vec<Activity>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Action,
    Probe,
}

/// One step: a host function called with arguments.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    #[serde(rename = "type", default = "probe_kind")]
    pub kind: Kind,
    pub name: String,
    /// A host function, `module.function` as `elysiactl api` lists it.
    pub call: String,
    /// Positional arguments; a map stands for a single options argument.
    #[serde(default)]
    pub arguments: Value,
    /// What the result must be for a probe to pass.
    #[serde(default)]
    pub tolerance: Option<Value>,
    /// A probe is asked again until it passes or this much time is gone:
    /// "recovered within 60 s".
    #[serde(default)]
    pub within: Option<Value>,
    #[serde(default)]
    pub pauses: Option<Pauses>,
}

fn probe_kind() -> Kind {
    Kind::Probe
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pauses {
    #[serde(default)]
    pub before: Option<Value>,
    #[serde(default)]
    pub after: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    pub name: String,
    pub call: String,
    #[serde(default)]
    pub arguments: Value,
    pub tolerance: Value,
    /// How long the guard may fail before it trips (default: at once).
    #[serde(default)]
    pub allow: Option<Value>,
}

impl Activity {
    /// The arguments as the host takes them: a list stays a list, a map is
    /// the one options argument, nothing is no argument.
    pub fn args(&self) -> Vec<Value> {
        args_of(&self.arguments)
    }
}

impl Guard {
    pub fn args(&self) -> Vec<Value> {
        args_of(&self.arguments)
    }
}

fn args_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// A duration field: seconds (5, 0.5) or text ("30s", "2m").
pub fn duration_of(v: &Option<Value>, what: &str) -> HostResult<Option<Duration>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(-1.0);
            if !(0.0..=86_400.0).contains(&secs) {
                return Err(HostError::validation(format!(
                    "{what}: {secs} seconds is not a usable duration"
                ))
                .with_hint("give 0 to 86400 seconds, or text such as \"30s\" or \"2m\""));
            }
            Ok(Some(Duration::from_secs_f64(secs)))
        }
        Some(Value::String(s)) => parse_duration(s)
            .map(Some)
            .map_err(|e| HostError::validation(format!("{what}: {}", e.message)).with_hint(e.hint)),
        Some(other) => Err(
            HostError::validation(format!("{what}: {other} is not a duration"))
                .with_hint("give seconds (30) or text such as \"30s\""),
        ),
    }
}

/// Parse a scenario (YAML, or JSON, which YAML reads too). A mistake is
/// named with its line and column.
pub fn parse(text: &str, file: &str) -> HostResult<Scenario> {
    let s: Scenario = serde_yaml_ng::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{file}:{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| file.to_string());
        // The location leads the message; serde_yaml's own copy at its end goes.
        let text = e.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text).to_string();
        HostError::validation(format!("{at}: {text}")).with_hint(
            "a scenario has title, steady-state-hypothesis {title, probes}, method, rollbacks and guards; `elysiactl chaos run --help` shows one",
        )
    })?;
    check(&s, file)?;
    Ok(s)
}

/// What serde cannot see: empty names, durations, tolerances.
fn check(s: &Scenario, file: &str) -> HostResult<()> {
    let bad = |msg: String, hint: &str| {
        Err(HostError::validation(format!("{file}: {msg}")).with_hint(hint))
    };
    if s.title.trim().is_empty() {
        return bad(
            "the title is empty".into(),
            "say in a few words what the experiment shows",
        );
    }
    if s.method.is_empty() {
        return bad(
            "the method is empty: there is nothing to run".into(),
            "add at least one action, e.g. call: chaos.node, arguments: [\"kill\", 1, {duration: \"20s\", detach: true}]",
        );
    }
    let mut all: Vec<(&str, &Activity)> = Vec::new();
    if let Some(h) = &s.hypothesis {
        if h.probes.is_empty() {
            return bad(
                "the steady-state hypothesis has no probes".into(),
                "add a probe with a tolerance, e.g. call: health.check, tolerance: {path: status, equals: healthy}",
            );
        }
        all.extend(h.probes.iter().map(|a| ("steady-state-hypothesis", a)));
    }
    all.extend(s.method.iter().map(|a| ("method", a)));
    all.extend(s.rollbacks.iter().map(|a| ("rollbacks", a)));
    for (section, a) in &all {
        let what = format!("{section} \"{}\"", a.name);
        if a.name.trim().is_empty() {
            return bad(
                format!("a step of {section} has no name"),
                "give every step a name: it is what the journal shows",
            );
        }
        if *section == "steady-state-hypothesis" {
            if a.kind != Kind::Probe {
                return bad(
                    format!("{what} is an action"),
                    "the hypothesis only observes: make it a probe",
                );
            }
            if a.tolerance.is_none() {
                return bad(
                    format!("{what} has no tolerance"),
                    "say what the result must be, e.g. tolerance: {path: status, equals: healthy}",
                );
            }
        }
        if let Some(t) = &a.tolerance {
            Tolerance::parse(t).map_err(|e| {
                HostError::validation(format!("{file}: {what}: {}", e.message)).with_hint(e.hint)
            })?;
        }
        duration_of(&a.within, &format!("{file}: {what}: within"))?;
        if let Some(p) = &a.pauses {
            duration_of(&p.before, &format!("{file}: {what}: pauses.before"))?;
            duration_of(&p.after, &format!("{file}: {what}: pauses.after"))?;
        }
    }
    if let Some(l) = &s.load {
        if duration_of(&Some(l.duration.clone()), &format!("{file}: load.duration"))?
            .is_none_or(|d| d.is_zero())
        {
            return bad(
                "load.duration is zero".into(),
                "give how long the load runs, e.g. duration: 40s",
            );
        }
    }
    for g in &s.guards {
        let what = format!("guard \"{}\"", g.name);
        Tolerance::parse(&g.tolerance).map_err(|e| {
            HostError::validation(format!("{file}: {what}: {}", e.message)).with_hint(e.hint)
        })?;
        duration_of(&g.allow, &format!("{file}: {what}: allow"))?;
    }
    Ok(())
}

/// What a probe's result must be. A plain value must equal the result; a
/// map may pick a field first (`path: nodes.0.status`) and then compare:
/// equals, in, range [lo, hi], min, max, matches (a regular expression), or
/// length (of a list or text).
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerance {
    path: Option<String>,
    rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Equals(Value),
    In(Vec<Value>),
    Range(f64, f64),
    Min(f64),
    Max(f64),
    Matches(String),
    Length(usize),
}

const RULES: &str = "equals, in, range, min, max, matches or length";

impl Tolerance {
    pub fn parse(v: &Value) -> HostResult<Tolerance> {
        let Value::Object(m) = v else {
            return Ok(Tolerance {
                path: None,
                rule: Rule::Equals(v.clone()),
            });
        };
        let path = match m.get("path") {
            None => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(other) => {
                return Err(
                    HostError::validation(format!("tolerance path {other} is not text"))
                        .with_hint("a path names fields with dots: status, or nodes.0.status"),
                )
            }
        };
        let rules: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| *k != "path").collect();
        let [(name, value)] = rules.as_slice() else {
            return Err(HostError::validation(format!(
                "a tolerance needs exactly one rule, found {}",
                if rules.is_empty() {
                    "none".to_string()
                } else {
                    rules
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
            .with_hint(format!(
                "the rules: {RULES}; e.g. {{path: status, equals: healthy}}"
            )));
        };
        let number = |v: &Value| -> HostResult<f64> {
            v.as_f64().ok_or_else(|| {
                HostError::validation(format!("tolerance {name}: {v} is not a number"))
                    .with_hint("give a number, e.g. min: 1000")
            })
        };
        let rule = match name.as_str() {
            "equals" => Rule::Equals((*value).clone()),
            "in" => match value {
                Value::Array(a) if !a.is_empty() => Rule::In(a.clone()),
                _ => {
                    return Err(
                        HostError::validation("tolerance in: needs a list of values")
                            .with_hint("e.g. in: [healthy, degraded]"),
                    )
                }
            },
            "range" => match value {
                Value::Array(a) if a.len() == 2 => {
                    let (lo, hi) = (number(&a[0])?, number(&a[1])?);
                    if lo > hi {
                        return Err(HostError::validation(format!(
                            "tolerance range [{lo}, {hi}] is empty"
                        ))
                        .with_hint("give the lower bound first"));
                    }
                    Rule::Range(lo, hi)
                }
                _ => {
                    return Err(HostError::validation("tolerance range: needs [low, high]")
                        .with_hint("e.g. range: [990, 1000]"))
                }
            },
            "min" => Rule::Min(number(value)?),
            "max" => Rule::Max(number(value)?),
            "matches" => {
                let p = value.as_str().unwrap_or_default().to_string();
                regex::Regex::new(&p).map_err(|e| {
                    HostError::validation(format!("tolerance matches: {e}"))
                        .with_hint("give a regular expression, e.g. matches: \"^HEALTHY$\"")
                })?;
                Rule::Matches(p)
            }
            "length" => Rule::Length(value.as_u64().ok_or_else(|| {
                HostError::validation(format!("tolerance length: {value} is not a count"))
                    .with_hint("e.g. length: 0")
            })? as usize),
            other => {
                return Err(
                    HostError::validation(format!("tolerance rule `{other}` is unknown"))
                        .with_hint(format!("the rules: {RULES}")),
                )
            }
        };
        Ok(Tolerance { path, rule })
    }

    /// Whether `result` passes; the reason when it does not.
    pub fn check(&self, result: &Value) -> Result<(), String> {
        let v = match &self.path {
            None => result,
            Some(p) => match pick(result, p) {
                Some(v) => v,
                None => return Err(format!("the result has no {p}")),
            },
        };
        let at = self
            .path
            .as_deref()
            .map(|p| format!("{p} = "))
            .unwrap_or_default();
        let ok = match &self.rule {
            Rule::Equals(want) => loosely_equal(v, want),
            Rule::In(options) => options.iter().any(|w| loosely_equal(v, w)),
            Rule::Range(lo, hi) => v.as_f64().is_some_and(|x| *lo <= x && x <= *hi),
            Rule::Min(lo) => v.as_f64().is_some_and(|x| x >= *lo),
            Rule::Max(hi) => v.as_f64().is_some_and(|x| x <= *hi),
            Rule::Matches(p) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                regex::Regex::new(p).is_ok_and(|re| re.is_match(&text))
            }
            Rule::Length(n) => match v {
                Value::Array(a) => a.len() == *n,
                Value::String(s) => s.chars().count() == *n,
                Value::Object(m) => m.len() == *n,
                _ => false,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{at}{}, wanted {}", shown(v), self.describe()))
        }
    }

    pub fn describe(&self) -> String {
        match &self.rule {
            Rule::Equals(w) => shown(w),
            Rule::In(o) => format!(
                "one of {}",
                o.iter().map(shown).collect::<Vec<_>>().join(", ")
            ),
            Rule::Range(lo, hi) => format!("{lo} to {hi}"),
            Rule::Min(lo) => format!("at least {lo}"),
            Rule::Max(hi) => format!("at most {hi}"),
            Rule::Matches(p) => format!("matching /{p}/"),
            Rule::Length(n) => format!("{n} long"),
        }
    }
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// Numbers compare by value (3 equals 3.0); everything else exactly.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `a.b.0.c` into a JSON value: map keys and list indexes.
fn pick<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |v, key| match v {
            Value::Object(m) => m.get(key),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GOOD: &str = r#"
title: a node dies
steady-state-hypothesis:
  title: healthy
  probes:
    - name: health
      call: health.check
      tolerance: {path: status, equals: healthy}
      within: 60s
method:
  - type: action
    name: kill
    call: chaos.node
    arguments: [kill, 1, {duration: 20s, detach: true}]
    pauses: {after: 5}
rollbacks:
  - type: action
    name: reset
    call: chaos.reset
guards:
  - name: a leader
    call: cluster.readiness
    tolerance: {path: leader, matches: "^weaviate-"}
    allow: 10s
"#;

    #[test]
    fn a_scenario_reads_with_its_parts() {
        let s = parse(GOOD, "s.yaml").unwrap();
        assert_eq!(s.title, "a node dies");
        assert_eq!(s.method[0].kind, Kind::Action);
        assert_eq!(
            s.method[0].args(),
            vec![
                json!("kill"),
                json!(1),
                json!({"duration": "20s", "detach": true})
            ]
        );
        assert_eq!(s.rollbacks[0].args(), Vec::<Value>::new());
        assert_eq!(s.hypothesis.unwrap().probes[0].kind, Kind::Probe);
        assert_eq!(
            duration_of(&s.guards[0].allow, "x").unwrap(),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let e = parse(
            &GOOD.replace("    call: chaos.node", "    cal: chaos.node"),
            "s.yaml",
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("s.yaml:13:5: method[0]: unknown field `cal`"),
            "{}",
            e.message
        );
        assert!(!e.message.contains(" at line "), "{}", e.message);
        assert!(e.message.contains("cal"), "{}", e.message);
        let e = parse(&GOOD.replace("equals: healthy", "equal: healthy"), "s.yaml").unwrap_err();
        assert!(e.message.contains("`equal` is unknown"), "{}", e.message);
        let e = parse(&GOOD.replace("within: 60s", "within: 60 parsecs"), "s.yaml").unwrap_err();
        assert!(e.message.contains("within"), "{}", e.message);
        let e = parse("title: x\nmethod: []\n", "s.yaml").unwrap_err();
        assert!(e.message.contains("method is empty"), "{}", e.message);
        let e = parse(
            &GOOD.replace("      tolerance: {path: status, equals: healthy}\n", ""),
            "s.yaml",
        )
        .unwrap_err();
        assert!(e.message.contains("has no tolerance"), "{}", e.message);
    }

    #[test]
    fn tolerances_say_why_a_result_fails() {
        let t = |v: Value| Tolerance::parse(&v).unwrap();
        let r = json!({"status": "degraded", "nodes": [{"n": 3}], "count": 998});
        assert!(t(json!({"path": "status", "equals": "healthy"}))
            .check(&r)
            .unwrap_err()
            .contains("\"degraded\", wanted \"healthy\""));
        assert!(t(json!({"path": "status", "in": ["healthy", "degraded"]}))
            .check(&r)
            .is_ok());
        assert!(t(json!({"path": "count", "range": [990, 1000]}))
            .check(&r)
            .is_ok());
        assert!(t(json!({"path": "count", "min": 1000})).check(&r).is_err());
        assert!(t(json!({"path": "nodes.0.n", "equals": 3.0}))
            .check(&r)
            .is_ok());
        assert!(t(json!({"path": "nodes", "length": 1})).check(&r).is_ok());
        assert!(t(json!({"path": "status", "matches": "^deg"}))
            .check(&r)
            .is_ok());
        assert_eq!(
            t(json!({"path": "missing", "equals": 1}))
                .check(&r)
                .unwrap_err(),
            "the result has no missing"
        );
        assert!(t(json!(0)).check(&json!(0)).is_ok());
        assert!(Tolerance::parse(&json!({"min": 1, "max": 2})).is_err());
        assert!(Tolerance::parse(&json!({"range": [5, 1]})).is_err());
    }
}
