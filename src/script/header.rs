//! A command script declares its own help and flags in a header of `//!`
//! (Rhai) or `--!` (Lua) lines. From it come `elysiactl CMD --help`, shell
//! completion, and the `args` map the script receives.
//!
//! ```text
//! //! Start Weaviate and Elysia and wait until both are ready.   <- about
//! //!
//! //! Longer explanation ...                                     <- long help
//! //! @flag --runtime <RUNTIME:docker|process> Where Weaviate runs
//! //! @flag -j --json Print the result as JSON
//! //! @flag --timeout <SECONDS:int> Seconds to wait [default: 180]
//! //! @arg [SERVICE] weaviate, elysia or all [default: all]
//! //! @example elysiactl start --runtime process
//! ```

use crate::error::{HostError, HostResult};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Default)]
pub struct Header {
    pub about: String,
    pub long_about: String,
    pub flags: Vec<FlagSpec>,
    pub positionals: Vec<ArgSpec>,
    pub examples: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FlagSpec {
    pub long: String,
    pub short: Option<char>,
    /// `None` for a switch.
    pub value: Option<ValueSpec>,
    pub help: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ValueSpec {
    pub name: String,
    pub kind: ValueKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Text,
    Int,
    OneOf(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ArgSpec {
    pub name: String,
    pub required: bool,
    pub many: bool,
    pub help: String,
    pub default: Option<String>,
}

fn split_default(text: &str) -> (String, Option<String>) {
    if let Some(start) = text.rfind("[default: ") {
        if let Some(end) = text[start..].find(']') {
            let def = text[start + 10..start + end].trim().to_string();
            let rest = format!("{}{}", &text[..start], &text[start + end + 1..]);
            return (rest.trim().to_string(), Some(def));
        }
    }
    (text.trim().to_string(), None)
}

fn parse_value(token: &str) -> ValueSpec {
    let inner = token.trim_start_matches('<').trim_end_matches('>');
    let (name, kind) = match inner.split_once(':') {
        Some((n, "int")) => (n, ValueKind::Int),
        Some((n, choices)) => (
            n,
            ValueKind::OneOf(choices.split('|').map(str::to_string).collect()),
        ),
        None => (inner, ValueKind::Text),
    };
    ValueSpec {
        name: name.to_string(),
        kind,
    }
}

/// The header lines of a script (without their `//!`/`--!` prefix).
pub fn header_lines(source: &str) -> Vec<&str> {
    source
        .lines()
        .take_while(|l| {
            let t = l.trim_start();
            t.starts_with("//!")
                || t.starts_with("--!")
                || (t.starts_with("#!") && !t.starts_with("#!["))
        })
        .filter(|l| !l.trim_start().starts_with("#!"))
        .map(|l| {
            let t = l.trim_start();
            let rest = &t[3..];
            rest.strip_prefix(' ').unwrap_or(rest)
        })
        .collect()
}

pub fn parse(source: &str, script: &str) -> HostResult<Header> {
    let mut h = Header::default();
    let mut prose: Vec<&str> = Vec::new();
    for (i, line) in header_lines(source).into_iter().enumerate() {
        let bad = |what: &str| {
            HostError::validation(format!("{script}: header line {}: {what}", i + 1))
                .with_hint("write `@flag [-s] --long [<NAME[:int|:a|b]>] help [default: x]` or `@arg NAME|[NAME]|NAME... help`")
        };
        if let Some(rest) = line.strip_prefix("@flag ") {
            let mut tokens = rest.split_whitespace().peekable();
            let mut short = None;
            let mut long = None;
            let mut value = None;
            while let Some(t) = tokens.peek().copied() {
                if let Some(l) = t.strip_prefix("--") {
                    long = Some(l.to_string());
                } else if let Some(s) = t.strip_prefix('-').filter(|s| s.len() == 1) {
                    short = s.chars().next();
                } else if t.starts_with('<') && t.ends_with('>') {
                    value = Some(parse_value(t));
                } else {
                    break;
                }
                tokens.next();
            }
            let long = long.ok_or_else(|| bad("a flag needs a --long name"))?;
            let (help, default) = split_default(&tokens.collect::<Vec<_>>().join(" "));
            h.flags.push(FlagSpec {
                long,
                short,
                value,
                help,
                default,
            });
        } else if let Some(rest) = line.strip_prefix("@arg ") {
            let (token, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let required = !token.starts_with('[');
            let bare = token.trim_start_matches('[').trim_end_matches(']');
            let many = bare.ends_with("...");
            let name = bare.trim_end_matches("...").to_string();
            if name.is_empty() {
                return Err(bad("an argument needs a name"));
            }
            let (help, default) = split_default(help);
            h.positionals.push(ArgSpec {
                name,
                required,
                many,
                help,
                default,
            });
        } else if let Some(rest) = line.strip_prefix("@example ") {
            h.examples.push(rest.trim().to_string());
        } else if line.starts_with('@') {
            return Err(bad(&format!(
                "unknown directive {:?}",
                line.split_whitespace().next().unwrap_or("")
            )));
        } else {
            prose.push(line);
        }
    }
    let text = prose.join("\n");
    let text = text.trim();
    let (about, long) = text.split_once("\n\n").unwrap_or((text, ""));
    h.about = about.replace('\n', " ").trim().to_string();
    h.long_about = long.trim().to_string();
    Ok(h)
}

fn key(name: &str) -> String {
    name.to_lowercase().replace('-', "_")
}

impl Header {
    /// The clap command for this script, named `name`.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(name.to_string()).about(self.about.clone());
        let mut long = self.about.clone();
        if !self.long_about.is_empty() {
            long = format!("{long}\n\n{}", self.long_about);
        }
        cmd = cmd.long_about(long);
        if !self.examples.is_empty() {
            let ex = self
                .examples
                .iter()
                .map(|e| format!("  {e}"))
                .collect::<Vec<_>>()
                .join("\n");
            cmd = cmd.after_help(format!("Examples:\n{ex}"));
        }
        for f in &self.flags {
            let mut arg = Arg::new(key(&f.long))
                .long(f.long.clone())
                .help(f.help.clone());
            if let Some(s) = f.short {
                arg = arg.short(s);
            }
            match &f.value {
                None => arg = arg.action(ArgAction::SetTrue),
                Some(v) => {
                    arg = arg.value_name(v.name.clone()).action(ArgAction::Set);
                    arg = match &v.kind {
                        ValueKind::Text => arg,
                        ValueKind::Int => arg.value_parser(clap::value_parser!(i64)),
                        ValueKind::OneOf(c) => arg.value_parser(c.clone()),
                    };
                    if let Some(d) = &f.default {
                        arg = arg.default_value(d.clone());
                    }
                }
            }
            cmd = cmd.arg(arg);
        }
        for p in &self.positionals {
            let mut arg = Arg::new(key(&p.name))
                .value_name(p.name.to_uppercase())
                .help(p.help.clone())
                .required(p.required && p.default.is_none());
            if p.many {
                arg = arg.num_args(1..).action(ArgAction::Append);
            }
            if let Some(d) = &p.default {
                arg = arg.default_value(d.clone());
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    /// The `args` map a script sees: every declared flag and argument, by
    /// its name with dashes as underscores; absent values are null.
    pub fn args_from(&self, m: &ArgMatches) -> Value {
        let mut map = Map::new();
        for f in &self.flags {
            let k = key(&f.long);
            let v = match &f.value {
                None => json!(m.get_flag(&k)),
                Some(v) if v.kind == ValueKind::Int => m
                    .get_one::<i64>(&k)
                    .map(|i| json!(i))
                    .unwrap_or(Value::Null),
                Some(_) => m
                    .get_one::<String>(&k)
                    .map(|s| json!(s))
                    .unwrap_or(Value::Null),
            };
            map.insert(k, v);
        }
        for p in &self.positionals {
            let k = key(&p.name);
            let v = if p.many {
                json!(m
                    .get_many::<String>(&k)
                    .map(|vs| vs.cloned().collect::<Vec<_>>())
                    .unwrap_or_default())
            } else {
                m.get_one::<String>(&k)
                    .map(|s| json!(s))
                    .unwrap_or(Value::Null)
            };
            map.insert(k, v);
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "//! Start the stack.\n//!\n//! Waits for readiness.\n//! @flag --runtime <RUNTIME:docker|process> Where Weaviate runs\n//! @flag -j --json Print JSON\n//! @flag --timeout <SECONDS:int> Seconds [default: 180]\n//! @arg [SERVICE] Which one [default: all]\n//! @example elysiactl start\nlet x = 1;\n";

    #[test]
    fn header_builds_a_command_and_args() {
        let h = parse(SRC, "start.rhai").unwrap();
        assert_eq!(h.about, "Start the stack.");
        assert_eq!(h.long_about, "Waits for readiness.");
        let m = h
            .command("start")
            .try_get_matches_from(["start", "--runtime", "process", "-j", "weaviate"])
            .unwrap();
        let a = h.args_from(&m);
        assert_eq!(a["runtime"], "process");
        assert_eq!(a["json"], true);
        assert_eq!(a["timeout"], 180);
        assert_eq!(a["service"], "weaviate");
    }

    #[test]
    fn wrong_choice_is_refused_by_clap() {
        let h = parse(SRC, "start.rhai").unwrap();
        let e = h
            .command("start")
            .try_get_matches_from(["start", "--runtime", "kubernetes"])
            .unwrap_err();
        assert!(e.to_string().contains("docker"), "{e}");
    }

    #[test]
    fn unknown_directive_names_the_line() {
        let e = parse("//! About\n//! @flagg --x\n", "x.rhai").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
    }

    #[test]
    fn lua_headers_work_too() {
        let h = parse(
            "--! Report.\n--! @flag --json Print JSON\nprint(1)\n",
            "r.lua",
        )
        .unwrap();
        assert_eq!(h.about, "Report.");
        assert_eq!(h.flags.len(), 1);
    }
}
