//! The interactive REPL (`elysiactl repl`): one script session whose
//! variables persist between inputs, with history, Tab completion and
//! `:help` drawn from the host registry.
//!
//! This file is the input loop. The terminal (rustyline, terminal.rs) is kept
//! at the edge: the loop reads lines through the small [`LineReader`] trait,
//! and completion (complete.rs), `:help` (help.rs, whose renderer `elysiactl
//! api` shares) and result formatting are plain functions, so all of it is
//! tested without a terminal.

mod complete;
pub mod help;
mod terminal;

use super::{Language, Limits, Session};
use crate::base::cancel::{clear_interrupt, DeadlineGuard};
use crate::base::error::HostResult;
use crate::host::Host;
use help::help_text;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;
use terminal::Terminal;

/// Start the REPL on the terminal; returns when the user leaves.
pub fn run(host: Arc<Host>, language: Language, limits: Limits) -> HostResult<()> {
    let dry_run = host.dry_run;
    let mut session = super::session(host, language, limits)?;
    let mut terminal = Terminal::open(language)?;
    eprintln!(
        "elysiactl repl ({}, environment {}): :help lists modules and commands, Tab completes, :quit or Ctrl-D leaves.",
        language.extension(),
        crate::base::paths::active_env()
    );
    if dry_run {
        eprintln!("dry run: functions that change things are intercepted and only recorded.");
    }
    // Not locked for the session: host functions, progress bars and the
    // SIGINT handler (on other threads) write to these too.
    run_loop(
        session.as_mut(),
        &mut terminal,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        limits,
    )
}

/// One read from the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    /// Ctrl-D (or the end of piped input).
    Eof,
}

/// Where the loop's lines come from: the terminal, or a list in tests.
pub trait LineReader {
    fn read(&mut self, prompt: &str) -> HostResult<Read>;
    /// Keep a finished input in the history (and on disk).
    fn remember(&mut self, entry: &str);
}

/// `rhai> `, or `rhai [staging]> ` when acting on an environment other
/// than `default`, so a prompt never hides which cluster it changes.
pub fn prompt(language: Language) -> String {
    prompt_in(language, &crate::base::paths::active_env())
}

fn prompt_in(language: Language, env: &str) -> String {
    let lang = match language {
        Language::Rhai => "rhai",
        Language::Lua => "lua",
    };
    if env == crate::base::paths::DEFAULT_ENV {
        format!("{lang}> ")
    } else {
        format!("{lang} [{env}]> ")
    }
}

pub const CONTINUATION_PROMPT: &str = "... ";

/// Read, evaluate, print until `:quit` or end of input. Results go to `out`,
/// errors and notes to `err`; an error never ends the loop.
pub fn run_loop(
    session: &mut dyn Session,
    reader: &mut dyn LineReader,
    out: &mut dyn Write,
    err: &mut dyn Write,
    limits: Limits,
) -> HostResult<()> {
    let language = session.language();
    let mut pending = Pending::default();
    loop {
        let continuing = !pending.is_empty();
        let p = if continuing {
            CONTINUATION_PROMPT.to_string()
        } else {
            prompt(language)
        };
        let line = match reader.read(&p)? {
            Read::Line(line) => line,
            Read::Interrupted => {
                if continuing {
                    pending.clear();
                    let _ = writeln!(err, "(input discarded)");
                } else {
                    let _ = writeln!(err, "(:quit or Ctrl-D leaves)");
                }
                continue;
            }
            Read::Eof => {
                if continuing {
                    pending.clear();
                    let _ = writeln!(err, "(input discarded)");
                    continue;
                }
                return Ok(());
            }
        };
        if !continuing {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(command) = parse_command(&line) {
                reader.remember(line.trim());
                match command {
                    Command::Quit => return Ok(()),
                    Command::Lang => {
                        let _ = writeln!(out, "{}", lang_text(language));
                    }
                    Command::Help(topic) => match help_text(topic, language) {
                        Ok(text) => {
                            let _ = writeln!(out, "{text}");
                        }
                        Err(e) => {
                            let _ = writeln!(err, "{e}");
                        }
                    },
                    Command::Unknown(name) => {
                        let _ = writeln!(err, "unknown command {name}; :help lists the commands");
                    }
                }
                let _ = out.flush();
                continue;
            }
        }
        match pending.push(&line, |s| session.is_incomplete(s)) {
            Step::More => {}
            Step::Abandoned(text) => {
                reader.remember(&text);
                let _ = writeln!(
                    err,
                    "(input abandoned after two empty lines; nothing was run. Up-arrow recalls it.)"
                );
            }
            Step::Run(text) => {
                // Saved before it runs, so a crash mid-statement still keeps it.
                reader.remember(&text);
                match evaluate(session, &text, limits) {
                    Ok(v) => {
                        if let Some(s) = format_value(&v) {
                            let _ = writeln!(out, "{}", crate::base::output::sanitize(&s, true));
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(
                            err,
                            "{}",
                            crate::base::output::sanitize(&e.to_string(), true)
                        );
                    }
                }
                let _ = out.flush();
                let _ = err.flush();
            }
        }
    }
}

/// Evaluate one input under the session's wall-clock limit. Ctrl-C while it
/// runs (the SIGINT handler calls `script::interrupt()`) stops it.
fn evaluate(session: &mut dyn Session, input: &str, limits: Limits) -> HostResult<Value> {
    clear_interrupt();
    let result = {
        let _deadline = DeadlineGuard::set(limits.timeout);
        session.eval(input)
    };
    // An interruption ends with the statement; the next Ctrl-C is a fresh one.
    clear_interrupt();
    result
}

/// An input being gathered over several lines.
#[derive(Debug, Default)]
pub struct Pending {
    buffer: String,
    blank_lines: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The input is complete: run it.
    Run(String),
    /// Unfinished: read another line.
    More,
    /// Two empty lines on an unfinished input: it is dropped (and returned
    /// so it can go into the history).
    Abandoned(String),
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    pub fn clear(&mut self) {
        self.buffer.clear();
        self.blank_lines = 0;
    }

    pub fn push(&mut self, line: &str, is_incomplete: impl Fn(&str) -> bool) -> Step {
        if self.buffer.is_empty() {
            self.buffer.push_str(line);
        } else {
            if line.trim().is_empty() {
                self.blank_lines += 1;
                if self.blank_lines >= 2 {
                    let text = std::mem::take(&mut self.buffer);
                    self.clear();
                    return Step::Abandoned(text.trim_end().to_string());
                }
            } else {
                self.blank_lines = 0;
            }
            self.buffer.push('\n');
            self.buffer.push_str(line);
        }
        if is_incomplete(&self.buffer) {
            Step::More
        } else {
            let text = std::mem::take(&mut self.buffer);
            self.clear();
            Step::Run(text)
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Help(Option<&'a str>),
    Lang,
    Quit,
    Unknown(&'a str),
}

/// A REPL command (a line starting with `:`), or None for script input.
pub fn parse_command(line: &str) -> Option<Command<'_>> {
    let line = line.trim();
    if !line.starts_with(':') {
        return None;
    }
    let (name, rest) = match line.split_once(char::is_whitespace) {
        Some((n, r)) => (n, r.trim()),
        None => (line, ""),
    };
    Some(match name {
        ":help" | ":h" | ":?" => Command::Help((!rest.is_empty()).then_some(rest)),
        ":lang" => Command::Lang,
        ":quit" | ":q" | ":exit" => Command::Quit,
        other => Command::Unknown(other),
    })
}

/// null / unit prints nothing, strings as they are, anything else as JSON.
pub fn format_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string())),
    }
}

fn lang_text(language: Language) -> String {
    let other = match language {
        Language::Rhai => "lua",
        Language::Lua => "rhai",
    };
    format!(
        "{} (start `elysiactl repl --lang {other}` for the other one)",
        language.extension()
    )
}

/// How a host function is named in the language: `time::sleep` or `time.sleep`.
pub fn separator(language: Language) -> &'static str {
    match language {
        Language::Rhai => "::",
        Language::Lua => ".",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn results_are_formatted() {
        assert_eq!(format_value(&Value::Null), None);
        assert_eq!(format_value(&json!("as is")).as_deref(), Some("as is"));
        assert_eq!(format_value(&json!(42)).as_deref(), Some("42"));
        assert_eq!(
            format_value(&json!({"a": [1, 2]})).as_deref(),
            Some("{\n  \"a\": [\n    1,\n    2\n  ]\n}")
        );
        assert_eq!(format_value(&json!(true)).as_deref(), Some("true"));
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse_command("1 + 1"), None);
        assert_eq!(parse_command(" :help "), Some(Command::Help(None)));
        assert_eq!(
            parse_command(":help  time.sleep"),
            Some(Command::Help(Some("time.sleep")))
        );
        assert_eq!(parse_command(":q"), Some(Command::Quit));
        assert_eq!(parse_command(":quit"), Some(Command::Quit));
        assert_eq!(parse_command(":lang"), Some(Command::Lang));
        assert_eq!(parse_command(":nope x"), Some(Command::Unknown(":nope")));
    }

    /// Open braces make an input unfinished, as the engines say for a block.
    fn open_brace(s: &str) -> bool {
        s.matches('{').count() > s.matches('}').count()
    }

    #[test]
    fn multi_line_input_gathers_until_complete() {
        let mut p = Pending::default();
        assert_eq!(p.push("fn f() {", open_brace), Step::More);
        assert_eq!(p.push("", open_brace), Step::More);
        assert_eq!(p.push("  1", open_brace), Step::More);
        assert_eq!(p.push("", open_brace), Step::More);
        assert_eq!(
            p.push("}", open_brace),
            Step::Run("fn f() {\n\n  1\n\n}".into())
        );
        assert!(p.is_empty());
        assert_eq!(p.push("1 + 1", open_brace), Step::Run("1 + 1".into()));
    }

    #[test]
    fn two_empty_lines_abandon_an_unfinished_input() {
        let mut p = Pending::default();
        assert_eq!(p.push("if x {", open_brace), Step::More);
        assert_eq!(p.push("", open_brace), Step::More);
        assert_eq!(p.push("  ", open_brace), Step::Abandoned("if x {".into()));
        assert!(p.is_empty());
        assert_eq!(p.push("2", open_brace), Step::Run("2".into()));
    }

    /// Lines from a list; records what would go into the history.
    struct Scripted {
        lines: std::collections::VecDeque<Read>,
        prompts: Vec<String>,
        history: Vec<String>,
    }

    impl Scripted {
        fn new(lines: &[&str]) -> Scripted {
            Scripted {
                lines: lines
                    .iter()
                    .map(|l| match *l {
                        "^C" => Read::Interrupted,
                        "^D" => Read::Eof,
                        l => Read::Line(l.to_string()),
                    })
                    .collect(),
                prompts: Vec::new(),
                history: Vec::new(),
            }
        }
    }

    impl LineReader for Scripted {
        fn read(&mut self, prompt: &str) -> HostResult<Read> {
            self.prompts.push(prompt.to_string());
            Ok(self.lines.pop_front().unwrap_or(Read::Eof))
        }
        fn remember(&mut self, entry: &str) {
            self.history.push(entry.to_string());
        }
    }

    fn repl(language: Language, lines: &[&str]) -> (String, String, Scripted) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let host = Host::new(Default::default(), rt.handle().clone(), false);
        let limits = Limits {
            max_operations: 1_000_000,
            timeout: Duration::from_secs(30),
        };
        let mut session = super::super::session(host, language, limits).unwrap();
        let mut reader = Scripted::new(lines);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        run_loop(session.as_mut(), &mut reader, &mut out, &mut err, limits).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            reader,
        )
    }

    #[test]
    fn rhai_session_end_to_end() {
        let (out, err, reader) = repl(
            Language::Rhai,
            &[
                "let x = 1 + 1",
                "x * 21",
                "",
                "fn double(a) {",
                "  a * 2",
                "}",
                "double(4)",
                "time::seconds(\"1m 30s\")",
                "#{b: [1, 2], a: \"s\"}",
                "\"plain\"",
                "throw \"boom\"",
                "nope::nothing()",
                "if true {",
                "",
                "",
                "let y = [",
                "^C",
                ":lang",
                ":help time::now",
                ":bogus",
                "x",
                ":q",
                "99",
            ],
        );
        assert_eq!(
            out.lines().take(4).collect::<Vec<_>>(),
            vec!["42", "8", "90.0", "{"]
        );
        assert!(out.contains("\"b\": [\n    1,\n    2\n  ]"), "{out}");
        assert!(out.contains("\nplain\n"), "{out}");
        assert!(out.contains("rhai (start `elysiactl repl --lang lua`"));
        assert!(out.contains("time::now() -> number"));
        assert!(out.trim_end().ends_with("\n2"), "{out}");
        assert!(!out.contains("99"), "stops at :q");
        assert!(err.contains("boom"), "{err}");
        assert!(err.contains("\"nope\" not found"), "{err}");
        assert!(err.contains("abandoned after two empty lines"), "{err}");
        assert!(err.contains("(input discarded)"), "{err}");
        assert!(err.contains("unknown command :bogus"), "{err}");
        assert!(reader.prompts.iter().any(|p| p == "... "));
        assert_eq!(reader.prompts[0], "rhai> ");
        assert_eq!(prompt_in(Language::Rhai, "staging"), "rhai [staging]> ");
        assert_eq!(prompt_in(Language::Lua, "default"), "lua> ");
        assert!(reader
            .history
            .contains(&"fn double(a) {\n  a * 2\n}".to_string()));
        assert!(reader.history.contains(&"if true {".to_string()));
        assert!(!reader.history.iter().any(|h| h.contains("let y")));
    }

    #[test]
    fn lua_session_end_to_end() {
        let (out, err, reader) = repl(
            Language::Lua,
            &[
                "x = 2",
                "x * 21",
                "function f()",
                "  return out.bytes(1536)",
                "end",
                "f()",
                "{1, 2}",
                "error('bad')",
                "for i = 1, 2 do",
                "^D",
                ":help out.table",
            ],
        );
        assert!(out.starts_with("42\n1.5 KiB\n[\n  1,\n  2\n]\n"), "{out}");
        assert!(out.contains("out.table(rows: [map]"), "{out}");
        assert!(err.contains("bad"), "{err}");
        assert!(err.contains("(input discarded)"), "{err}");
        assert_eq!(reader.prompts[0], "lua> ");
        // Ended by running out of lines (Ctrl-D at the prompt).
        assert_eq!(reader.prompts.last().map(String::as_str), Some("lua> "));
    }
}

#[cfg(test)]
mod session_limits {
    use super::super::{session, Language, Limits};
    use crate::host::Host;
    use std::time::Duration;

    fn session_with(
        language: Language,
        max_operations: u64,
    ) -> (tokio::runtime::Runtime, Box<dyn super::super::Session>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let host = Host::new(Default::default(), rt.handle().clone(), false);
        let limits = Limits {
            max_operations,
            timeout: Duration::from_secs(30),
        };
        let s = session(host, language, limits).unwrap();
        (rt, s)
    }

    #[test]
    fn each_evaluation_gets_the_whole_operation_budget() {
        // One loop fits in the budget, two do not: evaluating it three times
        // must succeed every time.
        let (_rt, mut lua) = session_with(Language::Lua, 200_000);
        for _ in 0..3 {
            lua.eval("local n = 0; for i = 1, 20000 do n = n + i end; return n")
                .unwrap();
        }
        assert!(lua.eval("while true do end").is_err());
        let (_rt, mut rhai) = session_with(Language::Rhai, 200_000);
        for _ in 0..3 {
            rhai.eval("let n = 0; for i in 0..20000 { n += i; } n")
                .unwrap();
        }
        assert!(rhai.eval("loop {}").is_err());
    }

    #[test]
    fn a_mistake_inside_a_line_is_not_incomplete_input() {
        let (_rt, rhai) = session_with(Language::Rhai, 1_000_000);
        assert!(rhai.is_incomplete("foo(1,"));
        assert!(rhai.is_incomplete("if true {"));
        assert!(!rhai.is_incomplete("foo(1 2)"));
        assert!(!rhai.is_incomplete("let x = [1 2];"));
    }
}
