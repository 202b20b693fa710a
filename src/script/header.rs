//! A command script declares its own help and flags in a header of `//!`
//! (Rhai) or `--!` (Lua) lines. From it come `elysiactl CMD --help`, shell
//! completion, and the `args` map the script receives.
//!
//! ```text
//! //! Start Weaviate and Elysia and wait until both are ready.   <- about
//! //!
//! //! Longer explanation ...                                     <- long help
//! //! @flag --mode <MODE:fast|safe> How to wait
//! //! @flag -j --json Print the result as JSON
//! //! @flag --timeout <SECONDS:int> Seconds to wait [default: 180]
//! //! @flag --recent [<N:int>] The N newest; `--recent` alone means 20 [default: 20]
//! //! @arg [SERVICE] weaviate, elysia or all [default: all]
//! //! @example elysiactl start --mode safe
//! ```

use crate::base::error::{HostError, HostResult};
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
    /// `[<VALUE>]`: the flag may come without its value, which then is the
    /// default (what users of tools that print "the N most recent" type).
    pub value_optional: bool,
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

/// Names taken by clap's --help and by the global flags, as long names and
/// as the keys scripts see. clap refuses a second --help; a script flag named
/// like a global one would set the global one too (`--config X` read X as the
/// config file). --version and -V are free: only the top command has them.
const RESERVED_LONGS: &[&str] = &[
    "help",
    "config",
    "env",
    "env-file",
    "dry-run",
    "runtime",
    "script-timeout",
    "log-level",
];
const RESERVED_SHORTS: &[char] = &['h'];

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `<NAME>`, `<NAME:int>` or `<NAME:a|b|c>`.
fn parse_value(token: &str) -> Result<ValueSpec, String> {
    let inner = token.trim_start_matches('<').trim_end_matches('>');
    let (name, kind) = match inner.split_once(':') {
        Some((n, "int")) => (n, ValueKind::Int),
        Some((n, choices)) => {
            let choices: Vec<String> = choices.split('|').map(str::to_string).collect();
            if choices.len() < 2 || choices.iter().any(|c| c.is_empty()) {
                return Err(format!(
                    "{token}: {:?} is neither a value type nor a list of choices; write <{n}>, <{n}:int> or <{n}:a|b|c>",
                    choices.join("|")
                ));
            }
            (n, ValueKind::OneOf(choices))
        }
        None => (inner, ValueKind::Text),
    };
    if !valid_name(name) {
        return Err(format!(
            "{token}: the value needs a name of letters, digits, - or _, e.g. <SECONDS:int>"
        ));
    }
    Ok(ValueSpec {
        name: name.to_string(),
        kind,
    })
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
        let directive = line.split_whitespace().next().unwrap_or("");
        let rest = line.trim_start()[directive.len()..].trim();
        match directive {
            "@flag" => h.flags.push(parse_flag(rest).map_err(|e| bad(&e))?),
            "@arg" => {
                let (token, help) = rest.split_once(' ').unwrap_or((rest, ""));
                let required = !token.starts_with('[');
                let bare = token.trim_start_matches('[').trim_end_matches(']');
                let many = bare.ends_with("...");
                let name = bare.trim_end_matches("...").to_string();
                if name.is_empty() {
                    return Err(bad("an argument needs a name"));
                }
                if !valid_name(&name) {
                    return Err(bad(&format!(
                        "argument name {name:?}: use letters, digits, - or _"
                    )));
                }
                let (help, default) = split_default(help);
                h.positionals.push(ArgSpec {
                    name,
                    required,
                    many,
                    help,
                    default,
                });
            }
            "@example" => h.examples.push(rest.to_string()),
            d if d.starts_with('@') => return Err(bad(&format!("unknown directive {d:?}"))),
            _ => prose.push(line),
        }
    }
    check(&h).map_err(|e| {
        HostError::validation(format!("{script}: header: {e}")).with_hint(
            "each flag and argument needs its own name, not one the tool's global flags use",
        )
    })?;
    let text = prose.join("\n");
    let text = text.trim();
    let (about, long) = text.split_once("\n\n").unwrap_or((text, ""));
    h.about = about.replace('\n', " ").trim().to_string();
    h.long_about = long.trim().to_string();
    Ok(h)
}

/// `[-s] --long [<VALUE>] help [default: x]`
fn parse_flag(rest: &str) -> Result<FlagSpec, String> {
    let mut tokens = rest.split_whitespace().peekable();
    let mut short = None;
    let mut long: Option<String> = None;
    let mut value = None;
    let mut value_optional = false;
    while let Some(t) = tokens.peek().copied() {
        if let Some(l) = t.strip_prefix("--") {
            if let Some(first) = &long {
                return Err(format!("a flag has one long name, not --{first} and {t}"));
            }
            if !valid_name(l) {
                return Err(format!(
                    "{t:?} is not a flag name: use letters, digits, - or _"
                ));
            }
            long = Some(l.to_string());
        } else if let Some(s) = t.strip_prefix('-').filter(|s| s.chars().count() == 1) {
            let c = s.chars().next().expect("one char");
            if !c.is_ascii_alphanumeric() {
                return Err(format!(
                    "{t:?} is not a short flag: use one letter or digit"
                ));
            }
            if short.is_some() {
                return Err(format!(
                    "a flag has one short name at most ({t} is a second)"
                ));
            }
            short = Some(c);
        } else if t.starts_with('<') && t.ends_with('>') || t.starts_with("[<") && t.ends_with(">]")
        {
            if value.is_some() {
                return Err(format!("a flag takes one value ({t} is a second)"));
            }
            value_optional = t.starts_with('[');
            value = Some(parse_value(
                t.trim_start_matches('[').trim_end_matches(']'),
            )?);
        } else {
            break;
        }
        tokens.next();
    }
    let long = long.ok_or("a flag needs a --long name, e.g. `@flag -j --json Print JSON`")?;
    let (help, default) = split_default(&tokens.collect::<Vec<_>>().join(" "));
    if value_optional && default.is_none() {
        return Err(format!(
            "--{long} may come without its value, so it needs a [default: x] to stand for it"
        ));
    }
    if let Some(d) = &default {
        match &value {
            None => {
                return Err(format!(
                    "--{long} is a switch (no <VALUE>), so it cannot have a default"
                ))
            }
            Some(ValueSpec {
                kind: ValueKind::Int,
                ..
            }) if d.parse::<i64>().is_err() => {
                return Err(format!("--{long}: default {d:?} is not an integer"))
            }
            Some(ValueSpec {
                kind: ValueKind::OneOf(c),
                ..
            }) if !c.contains(d) => {
                return Err(format!(
                    "--{long}: default {d:?} is not one of {}",
                    c.join(", ")
                ))
            }
            _ => {}
        }
    }
    Ok(FlagSpec {
        long,
        short,
        value,
        value_optional,
        help,
        default,
    })
}

/// What clap would only find when the command runs (or, in a debug build,
/// panic on): names used twice, names of the global flags, positionals in
/// an order clap cannot parse.
fn check(h: &Header) -> Result<(), String> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut shorts: Vec<char> = Vec::new();
    let mut claim = |k: String, what: String| match keys.iter().find(|(seen, _)| *seen == k) {
        Some((_, first)) => Err(format!("{what} and {first} are the same name")),
        None => {
            keys.push((k, what));
            Ok(())
        }
    };
    for f in &h.flags {
        if RESERVED_LONGS.iter().any(|r| key(r) == key(&f.long)) {
            return Err(format!(
                "--{} is a flag of elysiactl itself (see `elysiactl --help`); a script flag of that name would set it too",
                f.long
            ));
        }
        claim(key(&f.long), format!("--{}", f.long))?;
        if let Some(c) = f.short {
            if RESERVED_SHORTS.contains(&c) {
                return Err(format!("-{c} is taken by --help"));
            }
            if shorts.contains(&c) {
                return Err(format!("-{c} is given to two flags"));
            }
            shorts.push(c);
        }
    }
    let mut optional_seen: Option<&str> = None;
    for (i, p) in h.positionals.iter().enumerate() {
        if RESERVED_LONGS.iter().any(|r| key(r) == key(&p.name)) {
            return Err(format!(
                "argument {} has the name of a global flag; call it something else",
                p.name
            ));
        }
        claim(key(&p.name), format!("argument {}", p.name))?;
        if p.many && i + 1 != h.positionals.len() {
            return Err(format!(
                "argument {}... takes the rest of the line, so it must come last",
                p.name
            ));
        }
        let required = p.required && p.default.is_none();
        match optional_seen {
            Some(opt) if required => {
                return Err(format!(
                    "required argument {} comes after optional [{opt}]; put required ones first",
                    p.name
                ))
            }
            None if !required => optional_seen = Some(&p.name),
            _ => {}
        }
    }
    Ok(())
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
                        if f.value_optional {
                            arg = arg.num_args(0..=1).default_missing_value(d.clone());
                        }
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

    const SRC: &str = "//! Start the stack.\n//!\n//! Waits for readiness.\n//! @flag --engine <ENGINE:docker|process> Where Weaviate runs\n//! @flag -j --json Print JSON\n//! @flag --timeout <SECONDS:int> Seconds [default: 180]\n//! @arg [SERVICE] Which one [default: all]\n//! @example elysiactl start\nlet x = 1;\n";

    #[test]
    fn header_builds_a_command_and_args() {
        let h = parse(SRC, "start.rhai").unwrap();
        assert_eq!(h.about, "Start the stack.");
        assert_eq!(h.long_about, "Waits for readiness.");
        let m = h
            .command("start")
            .try_get_matches_from(["start", "--engine", "process", "-j", "weaviate"])
            .unwrap();
        let a = h.args_from(&m);
        assert_eq!(a["engine"], "process");
        assert_eq!(a["json"], true);
        assert_eq!(a["timeout"], 180);
        assert_eq!(a["service"], "weaviate");
    }

    #[test]
    fn a_value_in_brackets_may_be_left_out() {
        let h = parse(
            "//! Errors.\n//! @flag --recent [<N:int>] The newest [default: 20]\n//! @arg [WHAT] x\n",
            "errors.rhai",
        )
        .unwrap();
        let recent = |argv: &[&str]| {
            let m = h.command("errors").try_get_matches_from(argv).unwrap();
            h.args_from(&m)["recent"].clone()
        };
        assert_eq!(recent(&["errors", "--recent"]), 20);
        assert_eq!(recent(&["errors", "--recent", "5"]), 5);
        assert_eq!(recent(&["errors", "--recent=7"]), 7);
        assert_eq!(recent(&["errors"]), 20);
        let err = parse(
            "//! X.\n//! @flag --recent [<N:int>] The newest\n",
            "x.rhai",
        )
        .unwrap_err();
        assert!(err.message.contains("[default: x]"), "{}", err.message);
    }

    #[test]
    fn wrong_choice_is_refused_by_clap() {
        let h = parse(SRC, "start.rhai").unwrap();
        let e = h
            .command("start")
            .try_get_matches_from(["start", "--engine", "kubernetes"])
            .unwrap_err();
        assert!(e.to_string().contains("docker"), "{e}");
    }

    #[test]
    fn unknown_directive_names_the_line() {
        let e = parse("//! About\n//! @flagg --x\n", "x.rhai").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
    }

    #[test]
    fn header_mistakes_are_found_when_parsed() {
        let cases = [
            ("//! @flag\n", "needs a --long name"),
            ("//! @flag   \n", "needs a --long name"),
            ("//! @flag --n <N:nope> x\n", "neither a value type"),
            ("//! @flag --n <N:> x\n", "neither a value type"),
            ("//! @flag --n <:int> x\n", "needs a name"),
            ("//! @flag --n x\n//! @flag --n y\n", "same name"),
            (
                "//! @flag --dry_run x\n//! @flag --dry-run y\n",
                "elysiactl itself",
            ),
            ("//! @flag --a-b x\n//! @flag --a_b y\n", "same name"),
            ("//! @flag -x --a x\n//! @flag -x --b y\n", "two flags"),
            ("//! @flag --help x\n", "elysiactl itself"),
            ("//! @flag -h --hosts x\n", "taken by --help"),
            ("//! @flag --config <F> x\n", "elysiactl itself"),
            ("//! @flag --env <NAME> x\n", "elysiactl itself"),
            ("//! @flag --dry-run x\n", "elysiactl itself"),
            ("//! @flag --script-timeout <D> x\n", "elysiactl itself"),
            ("//! @flag --a --b x\n", "one long name"),
            ("//! @flag --json x [default: yes]\n", "switch"),
            (
                "//! @flag --n <N:int> x [default: many]\n",
                "not an integer",
            ),
            ("//! @flag --m <M:a|b> x [default: c]\n", "not one of"),
            ("//! @arg NAME x\n//! @flag --name <N> y\n", "same name"),
            ("//! @arg CONFIG x\n", "global flag"),
            ("//! @arg [A] x\n//! @arg B y\n", "comes after optional"),
            ("//! @arg A... x\n//! @arg B y\n", "must come last"),
            ("//! @arg A x\n//! @arg A y\n", "same name"),
            ("//! @arg [] x\n", "needs a name"),
        ];
        for (src, wanted) in cases {
            let e = parse(src, "x.rhai").expect_err(src);
            assert!(e.message.contains(wanted), "{src:?}: {}", e.message);
            assert!(e.message.starts_with("x.rhai: header"), "{}", e.message);
        }
    }

    /// What parses builds a command that clap accepts in full.
    #[test]
    fn parsed_headers_build_valid_commands() {
        let sources = [
            SRC,
            "//! One.\n//! @flag -n --count <N:int> n [default: 3]\n//! @arg [PATHS...] p\n",
            "//! Two.\n//! @arg A a\n//! @arg [B] b [default: x]\n//! @flag --mode <M:x|y> m [default: y]\n",
            "//! Three.\n//! @arg A a\n//! @arg B... b\n",
        ];
        for src in sources.into_iter().chain([
            // Only the top command has --version.
            "//! Four.\n//! @flag -V --version <V> v\n",
        ]) {
            let h = parse(src, "t.rhai").unwrap();
            h.command("t").debug_assert();
        }
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
