//! `config validate`: every problem of a config file at once, each with its
//! line, its key and what to do, where loading stops at the first. Unknown
//! keys and wrong types come from walking the file against the defaults'
//! shape; then what `check` refuses, ports that clash or are taken, paths
//! that do not exist and a replication factor above the node count.
//! Warnings are what works but is likely a mistake; `--strict` fails on them.

use super::check::line_of_key;
use super::{Config, JobConfig};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use toml_edit::{ImDocument, Item};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Issue {
    /// "error" or "warning".
    pub severity: &'static str,
    /// Dotted (`weaviate.rest_port`, `jobs[1].cron`); empty for the file as a whole.
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
    pub hint: String,
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The variables every node gets from elysiactl: set in `weaviate.env`
/// they override what the cluster needs to form.
const MANAGED_NODE_ENV: &[&str] = &[
    "CLUSTER_HOSTNAME",
    "RAFT_BOOTSTRAP_EXPECT",
    "RAFT_JOIN",
    "CLUSTER_GOSSIP_BIND_PORT",
    "CLUSTER_DATA_BIND_PORT",
    "RAFT_PORT",
    "RAFT_INTERNAL_RPC_PORT",
    "PERSISTENCE_DATA_PATH",
];

struct Walk<'a> {
    text: &'a str,
    issues: Vec<Issue>,
}

impl Walk<'_> {
    fn push(
        &mut self,
        severity: &'static str,
        key: &str,
        span: Option<usize>,
        message: String,
        hint: String,
    ) {
        let line = span.map(|s| line_at(self.text, s));
        self.issues.push(Issue {
            severity,
            key: key.to_string(),
            line,
            message,
            hint,
        });
    }

    /// Compare the table `item` (at `prefix`) with the shape of the defaults.
    fn table(&mut self, prefix: &str, item: &Item, shape: &serde_json::Map<String, Value>) {
        let Some(table) = item.as_table_like() else {
            return;
        };
        for (key, value) in table.iter() {
            let dotted = if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            };
            let at = value
                .span()
                .map(|s| s.start)
                .or_else(|| table.key(key).and_then(|k| k.span()).map(|s| s.start));
            let Some(expected) = shape.get(key) else {
                let near = shape
                    .keys()
                    .map(|k| (strsim::levenshtein(k, key), k))
                    .filter(|(d, _)| *d <= 3)
                    .min()
                    .map(|(_, k)| format!("did you mean `{k}`? "))
                    .unwrap_or_default();
                let known: Vec<&str> = shape.keys().map(String::as_str).collect();
                self.push(
                    "error",
                    &dotted,
                    at,
                    format!("unknown key `{dotted}`"),
                    format!(
                        "{near}{} takes: {}",
                        if prefix.is_empty() {
                            "the file"
                        } else {
                            prefix
                        },
                        known.join(", ")
                    ),
                );
                continue;
            };
            self.value(&dotted, value, expected, at);
        }
    }

    fn value(&mut self, dotted: &str, value: &Item, expected: &Value, at: Option<usize>) {
        let got = kind_of(value);
        let want = match expected {
            // Unset options (`weaviate.runtime`) are strings when set.
            Value::Null | Value::String(_) => "a string",
            Value::Bool(_) => "true or false",
            Value::Number(_) => "a number",
            Value::Array(_) => "a list",
            Value::Object(_) => "a table",
        };
        let fits = match expected {
            Value::Null | Value::String(_) => got == "a string",
            Value::Number(_) => got == "a number",
            Value::Bool(_) => got == "true or false",
            Value::Array(_) => got == "a list" || got == "a list of tables",
            Value::Object(_) => got == "a table",
        };
        if !fits {
            let example = match expected {
                Value::String(s) if !s.is_empty() => format!("e.g. {dotted} = {s:?}"),
                Value::Number(n) => format!("e.g. {dotted} = {n}"),
                Value::Bool(b) => format!("e.g. {dotted} = {b}"),
                _ => format!("write {dotted} as {want}"),
            };
            self.push(
                "error",
                dotted,
                at,
                format!("`{dotted}` must be {want}, not {got}"),
                example,
            );
            return;
        }
        if let (Value::Number(_), Some(n)) = (expected, value.as_integer()) {
            if n < 0 {
                self.push(
                    "error",
                    dotted,
                    at,
                    format!("`{dotted}` = {n} is negative"),
                    "give 0 or more".into(),
                );
            }
        }
        match expected {
            Value::Object(shape) if shape.is_empty() => {
                // A free-form map (`weaviate.env`): variable names to strings.
                if let Some(t) = value.as_table_like() {
                    for (k, v) in t.iter() {
                        let at = v.span().map(|s| s.start);
                        if v.as_str().is_none() {
                            self.push(
                                "error",
                                &format!("{dotted}.{k}"),
                                at,
                                format!("`{dotted}.{k}` must be a string"),
                                format!("quote it: {k} = \"…\""),
                            );
                        }
                        if dotted == "weaviate.env" && MANAGED_NODE_ENV.contains(&k) {
                            self.push(
                                "warning",
                                &format!("{dotted}.{k}"),
                                at,
                                format!("`{dotted}.{k}` overrides a variable elysiactl sets for the cluster to form"),
                                "remove it unless you know the nodes still find each other".into(),
                            );
                        }
                    }
                }
            }
            Value::Object(shape) => self.table(dotted, value, shape),
            _ => {}
        }
    }
}

fn kind_of(item: &Item) -> &'static str {
    match item {
        Item::ArrayOfTables(_) => "a list of tables",
        Item::Table(_) => "a table",
        Item::Value(v) => match v {
            toml_edit::Value::String(_) => "a string",
            toml_edit::Value::Integer(_) | toml_edit::Value::Float(_) => "a number",
            toml_edit::Value::Boolean(_) => "true or false",
            toml_edit::Value::Datetime(_) => "a date",
            toml_edit::Value::Array(_) => "a list",
            toml_edit::Value::InlineTable(_) => "a table",
        },
        Item::None => "nothing",
    }
}

/// The shape of a config file: the defaults, every key present.
fn shape() -> serde_json::Map<String, Value> {
    let mut v = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut job =
        serde_json::to_value(JobConfig::new("job", "* * * * *", &["status"])).unwrap_or_default();
    for (k, empty) in [
        ("playbook", Value::String(String::new())),
        ("jitter", Value::String(String::new())),
        ("timezone", Value::String(String::new())),
    ] {
        job[k] = empty;
    }
    v["jobs"] = Value::Array(vec![job]);
    let mut map = v.as_object().cloned().unwrap_or_default();
    map.remove("sources");
    // Unset by default, so not serialized: a name when set.
    map.insert("extends".into(), Value::String(String::new()));
    map
}

/// Whether to report ports other programs hold: not while this stack may
/// run, since its own nodes hold them then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    CheckTaken,
    StackMayRun,
}

/// Every problem of the config file `text` (read from `path`).
pub fn validate(text: &str, path: &Path, ports: Ports) -> Vec<Issue> {
    let doc = match ImDocument::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e.span().map(|s| line_at(text, s.start));
            return vec![Issue {
                severity: "error",
                key: String::new(),
                line,
                message: format!("not valid TOML: {}", e.message().trim()),
                hint: "fix the syntax on that line (a missing quote, bracket or `=` is usual)"
                    .into(),
            }];
        }
    };
    let shape = shape();
    let mut walk = Walk {
        text,
        issues: Vec::new(),
    };
    walk.table("", doc.as_item(), &shape);
    if let Some(jobs) = doc.get("jobs").and_then(Item::as_array_of_tables) {
        let job_shape = shape["jobs"][0].as_object().cloned().unwrap_or_default();
        for (i, t) in jobs.iter().enumerate() {
            for (k, v) in t.iter() {
                let dotted = format!("jobs[{i}].{k}");
                let at = v.span().map(|s| s.start);
                match job_shape.get(k) {
                    Some(expected) => walk.value(&dotted, v, expected, at),
                    None => walk.push(
                        "error",
                        &dotted,
                        at,
                        format!("unknown key `{dotted}`"),
                        format!(
                            "a job takes: {}",
                            job_shape.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ),
                }
            }
        }
    }
    let mut issues = walk.issues;
    if issues.iter().any(|i| i.severity == "error") {
        return issues;
    }
    // The shape fits: what only the typed configuration can say.
    let cfg = match Config::parse_file(text, Some(path)) {
        Ok(c) => c,
        Err(e) => {
            let line = e
                .hint
                .strip_prefix("fix line ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok());
            issues.push(Issue {
                severity: "error",
                key: String::new(),
                line,
                message: e.message,
                hint: e.hint,
            });
            return issues;
        }
    };
    // An environment that extends another is checked as it will load:
    // merged over its base.
    let cfg = match cfg.extends.clone() {
        None => cfg,
        Some(base) => {
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let merged = super::layers::resolve(text, path, name)
                .and_then(|(table, _)| super::layers::merged(table, path, &base));
            match merged {
                Ok(c) => c,
                Err(e) => {
                    issues.push(issue("error", "extends", text, e.message, e.hint));
                    return issues;
                }
            }
        }
    };
    issues.extend(semantic(&cfg, text, ports));
    issues
}

fn issue(severity: &'static str, key: &str, text: &str, message: String, hint: String) -> Issue {
    Issue {
        severity,
        key: key.to_string(),
        line: line_of_key(text, key),
        message,
        hint,
    }
}

/// The ports a configuration uses, each with the key it comes from.
pub fn ports(cfg: &Config) -> Vec<(u16, String)> {
    let w = &cfg.weaviate;
    let mut out = Vec::new();
    for (key, base, step) in [
        ("weaviate.rest_port", w.rest_port, 1),
        ("weaviate.grpc_port", w.grpc_port, 1),
        ("weaviate.gossip_port", w.gossip_port, 2),
        ("weaviate.raft_port", w.raft_port, 2),
        ("weaviate.metrics_port", w.metrics_port, 1),
    ] {
        for i in 0..w.nodes {
            for extra in 0..step {
                let port = base as usize + step * i + extra;
                if let Ok(p) = u16::try_from(port) {
                    out.push((p, key.to_string()));
                }
            }
        }
    }
    if cfg.elysia.enabled {
        out.push((cfg.elysia.port, "elysia.port".into()));
    }
    out
}

/// Whether a process of this tool runs (then its ports are taken by it);
/// containers have no PID file: the caller says whether they may run.
fn our_stack_runs() -> bool {
    let run = crate::base::paths::run_dir();
    let Ok(entries) = std::fs::read_dir(&run) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.path().extension().is_some_and(|x| x == "pid")
            && matches!(
                crate::base::process::pid_state(&e.path()),
                Ok(crate::base::process::PidState::Running { .. })
            )
    })
}

fn semantic(cfg: &Config, text: &str, ports_mode: Ports) -> Vec<Issue> {
    let mut issues = Vec::new();
    if let Err(invalid) = cfg.check() {
        let key = invalid.keys.first().cloned().unwrap_or_default();
        let line = invalid.keys.iter().find_map(|k| line_of_key(text, k));
        issues.push(Issue {
            severity: "error",
            key,
            line,
            message: invalid.error.message,
            hint: invalid.error.hint,
        });
        // Ports and counts are meaningless past a failed check of them.
        return issues;
    }
    let w = &cfg.weaviate;
    if w.replication_factor > w.nodes {
        issues.push(issue(
            "error",
            "weaviate.replication_factor",
            text,
            format!(
                "weaviate.replication_factor = {} is above the node count ({})",
                w.replication_factor, w.nodes
            ),
            format!(
                "use at most {} (or 0: the node count, capped at 3), or add nodes",
                w.nodes
            ),
        ));
    }
    // Clashes: one port claimed by two settings.
    let all = ports(cfg);
    let mut seen: std::collections::BTreeMap<u16, &str> = Default::default();
    let mut reported = std::collections::BTreeSet::new();
    for (port, key) in &all {
        match seen.get(port) {
            Some(first) if first != key => {
                if reported.insert((first.to_string(), key.clone())) {
                    issues.push(issue(
                        "error",
                        key,
                        text,
                        format!("{key} and {first} both use port {port}"),
                        format!(
                            "move one of them: node i uses rest/grpc/metrics base + i and gossip/raft base + 2i and + 2i + 1 ({} nodes)",
                            w.nodes
                        ),
                    ));
                }
            }
            Some(_) => {}
            None => {
                seen.insert(*port, key);
            }
        }
    }
    // Taken by another program: only knowable while our own stack is down.
    if ports_mode == Ports::CheckTaken && !our_stack_runs() {
        let mut taken_by_key: std::collections::BTreeMap<&str, Vec<u16>> = Default::default();
        for (port, key) in &all {
            if std::net::TcpListener::bind(("127.0.0.1", *port)).is_err() {
                taken_by_key.entry(key).or_default().push(*port);
            }
        }
        for (key, ports) in taken_by_key {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            issues.push(issue(
                "error",
                key,
                text,
                format!("port {} of {key} is taken by another program", list.join(", ")),
                format!("pick a free base for {key}, or stop what listens (`ss -ltnp 'sport = :{}'` shows it)", ports[0]),
            ));
        }
    }
    // Paths given explicitly must exist.
    let mut path_issue = |severity, key: &str, p: &str, hint: &str| {
        if !p.is_empty() && !Path::new(p).exists() {
            issues.push(issue(
                severity,
                key,
                text,
                format!("{key} = {p:?} does not exist"),
                hint.to_string(),
            ));
        }
    };
    path_issue(
        "error",
        "weaviate.binary",
        &w.binary,
        "build it with `elysiactl install weaviate`, or leave binary empty for the installed one",
    );
    path_issue(
        "warning",
        "elysia.venv",
        &cfg.elysia.venv,
        "`elysiactl install elysia` creates it",
    );
    path_issue(
        "warning",
        "elysia.nginx",
        &cfg.elysia.nginx,
        "install Debian's nginx (`apt-get install nginx`), or leave elysia.nginx empty to find it on the PATH",
    );
    path_issue(
        "error",
        "repos.file",
        &cfg.repos.file,
        "create the list (one repository per line) or fix the path",
    );
    for (i, job) in cfg.jobs.iter().enumerate() {
        if !job.playbook.is_empty() && !Path::new(&job.playbook).exists() {
            issues.push(Issue {
                severity: "error",
                key: format!("jobs[{i}].playbook"),
                line: text
                    .find(&format!("\"{}\"", job.playbook))
                    .map(|o| line_at(text, o)),
                message: format!("jobs[{i}].playbook = {:?} does not exist", job.playbook),
                hint: "give the path of a .rhai or .lua playbook".into(),
            });
        }
    }
    if w.replication_factor == 1 && w.nodes > 1 {
        issues.push(issue(
            "warning",
            "weaviate.replication_factor",
            text,
            format!(
                "weaviate.replication_factor = 1 on {} nodes: losing one node loses data",
                w.nodes
            ),
            "use 0 (the node count, capped at 3) or at least 2".into(),
        ));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issues of `text`, less ports taken on this machine (which
    /// depend on what else runs here; `a_taken_port…` checks those).
    fn check(text: &str) -> Vec<Issue> {
        validate(text, Path::new("t.toml"), Ports::CheckTaken)
            .into_iter()
            .filter(|i| !i.message.contains("is taken"))
            .collect()
    }

    fn lines(issues: &[Issue]) -> Vec<(String, Option<usize>)> {
        issues.iter().map(|i| (i.key.clone(), i.line)).collect()
    }

    #[test]
    fn every_unknown_key_and_wrong_type_with_its_line() {
        let issues = check(
            "[weaviate]\nnodes = \"three\"\nrest_prot = 8080\n\n[elysia]\nport = 8000\nenabeld = true\n[bogus]\nx = 1\n",
        );
        assert_eq!(
            lines(&issues),
            vec![
                ("weaviate.nodes".into(), Some(2)),
                ("weaviate.rest_prot".into(), Some(3)),
                ("elysia.enabeld".into(), Some(7)),
                ("bogus".into(), Some(8)),
            ],
            "{issues:#?}"
        );
        assert!(
            issues[1].hint.contains("did you mean `rest_port`"),
            "{}",
            issues[1].hint
        );
        assert!(
            issues[0].hint.contains("weaviate.nodes = 3"),
            "{}",
            issues[0].hint
        );
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let issues = check("[weaviate]\nnodes = 3\nhost = \"unclosed\n");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].line, Some(3), "{issues:#?}");
    }

    #[test]
    fn clashing_ports_and_a_factor_above_the_nodes() {
        let issues = check(
            "[weaviate]\nnodes = 3\nrest_port = 18080\ngrpc_port = 18081\nreplication_factor = 5\nmetrics_port = 12112\n\
             gossip_port = 17100\nraft_port = 18300\n[elysia]\nport = 18000\n",
        );
        let keys = lines(&issues);
        assert!(
            keys.contains(&("weaviate.replication_factor".into(), Some(5))),
            "{issues:#?}"
        );
        assert!(
            keys.contains(&("weaviate.grpc_port".into(), Some(4))),
            "{issues:#?}"
        );
        assert!(issues
            .iter()
            .any(|i| i.message.contains("both use port 18081")));
    }

    #[test]
    fn a_taken_port_is_an_error_at_its_key() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let text = format!("[weaviate]\nnodes = 1\n\nmetrics_port = {port}\n");
        let issues: Vec<Issue> = validate(&text, Path::new("t.toml"), Ports::CheckTaken)
            .into_iter()
            .filter(|i| i.message.contains("taken") && i.key == "weaviate.metrics_port")
            .collect();
        assert_eq!(
            lines(&issues),
            vec![("weaviate.metrics_port".into(), Some(4))]
        );
    }

    #[test]
    fn missing_paths_and_nodes_out_of_range() {
        let issues = check("[weaviate]\nbinary = \"/no/such/weaviate\"\n");
        assert_eq!(
            lines(&issues),
            vec![("weaviate.binary".into(), Some(2))],
            "{issues:#?}"
        );
        let issues = check("[weaviate]\nnodes = 12\n");
        assert_eq!(
            lines(&issues),
            vec![("weaviate.nodes".into(), Some(2))],
            "{issues:#?}"
        );
        assert!(issues[0].hint.contains("between 1 and 9"));
    }

    #[test]
    fn warnings_are_not_errors() {
        let issues =
            check("[weaviate]\nreplication_factor = 1\n[weaviate.env]\nCLUSTER_HOSTNAME = \"x\"\n");
        assert!(
            issues.iter().all(|i| i.severity == "warning"),
            "{issues:#?}"
        );
        assert_eq!(issues.len(), 2, "{issues:#?}");
    }
}
