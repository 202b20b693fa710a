//! The interactive REPL (`elysiactl repl`): one script session whose
//! variables persist between inputs, with history, Tab completion and
//! `:help` drawn from the host registry.
//!
//! The terminal (rustyline) is kept at the edge: the loop reads lines through
//! the small [`LineReader`] trait, and completion, `:help` and result
//! formatting are plain functions, so all of it is tested without a terminal.

use super::{Language, Limits, Session};
use crate::base::cancel::{clear_interrupt, DeadlineGuard};
use crate::base::error::{HostError, HostResult};
use crate::host::{registry, Effect, Host, HostFn, MODULES};
use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor};
use serde_json::Value;
use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// The REPL's own commands, as shown by `:help`.
const COMMANDS: &[(&str, &str)] = &[
    (":help", "the modules and these commands"),
    (":help MODULE", "a module's functions, e.g. :help time"),
    (":help NAME", "one function in full, e.g. :help time.sleep"),
    (":lang", "the language of this session"),
    (":quit, :q", "leave (Ctrl-D does too)"),
];

/// What Tab completes after a `:` (`:help` takes a topic, hence the space).
const COMMAND_NAMES: &[&str] = &[":help ", ":lang", ":quit"];

/// Start the REPL on the terminal; returns when the user leaves.
pub fn run(host: Arc<Host>, language: Language, limits: Limits) -> HostResult<()> {
    let dry_run = host.dry_run;
    let mut session = super::session(host, language, limits)?;
    let mut terminal = Terminal::open(language)?;
    eprintln!(
        "elysiactl repl ({}): :help lists modules and commands, Tab completes, :quit or Ctrl-D leaves.",
        language.extension()
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

// ---------------------------------------------------------------------------
// The loop, independent of the terminal.

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

pub fn prompt(language: Language) -> &'static str {
    match language {
        Language::Rhai => "rhai> ",
        Language::Lua => "lua> ",
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
            CONTINUATION_PROMPT
        } else {
            prompt(language)
        };
        let line = match reader.read(p)? {
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

// ---------------------------------------------------------------------------
// Names: completion, hints and :help, all read from the registry.

/// How a host function is named in the language: `time::sleep` or `time.sleep`.
pub fn separator(language: Language) -> &'static str {
    match language {
        Language::Rhai => "::",
        Language::Lua => ".",
    }
}

fn qualified(f: &HostFn, sep: &str) -> String {
    format!("{}{sep}{}", f.module, f.name)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The start of the name that ends at the end of `before`: identifier
/// characters and the characters of `sep`.
fn word_start(before: &str, sep: &str) -> usize {
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident_char(*c) || sep.contains(*c))
        .last()
        .map(|(i, _)| i)
        .unwrap_or(before.len())
}

/// Module names, or `module{sep}function` names once a module is typed.
fn name_candidates(word: &str, sep: &str) -> Vec<String> {
    if word.starts_with(|c: char| c.is_ascii_digit()) {
        return Vec::new();
    }
    // Rhai: `cluster:` is on its way to `cluster::`.
    let split = word.split_once(sep).or_else(|| {
        (sep == "::")
            .then(|| word.strip_suffix(':'))
            .flatten()
            .map(|m| (m, ""))
    });
    if let Some((module, prefix)) = split {
        if prefix.contains(sep) || prefix.contains(':') {
            return Vec::new();
        }
        return registry()
            .iter()
            .filter(|f| f.module == module && f.name.starts_with(prefix))
            .map(|f| qualified(f, sep))
            .collect();
    }
    let modules: Vec<&str> = MODULES
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| m.starts_with(word))
        .collect();
    // A module typed in full: offer the separator, so the next Tab lists its functions.
    if modules.len() == 1 && modules[0] == word {
        return vec![format!("{word}{sep}")];
    }
    modules.into_iter().map(str::to_string).collect()
}

/// Completion for `line` with the cursor at byte `pos`: where the replaced
/// word starts, and the candidates.
pub fn complete(line: &str, pos: usize, language: Language) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let trimmed = before.trim_start();
    if trimmed.starts_with(':') {
        let offset = before.len() - trimmed.len();
        return match trimmed.split_once(char::is_whitespace) {
            None => (
                offset,
                COMMAND_NAMES
                    .iter()
                    .filter(|c| c.starts_with(trimmed))
                    .map(|c| c.to_string())
                    .collect(),
            ),
            Some((":help" | ":h" | ":?", _)) => {
                // `:help` takes either separator; follow the one being typed.
                let start = before
                    .rfind(char::is_whitespace)
                    .map(|i| i + 1)
                    .unwrap_or(0);
                let word = &before[start..];
                let sep = if word.contains(':') {
                    "::"
                } else if word.contains('.') {
                    "."
                } else {
                    separator(language)
                };
                (start, name_candidates(word, sep))
            }
            Some(_) => (pos, Vec::new()),
        };
    }
    let sep = separator(language);
    let start = word_start(before, sep);
    let word = &before[start..];
    if word.is_empty() {
        // Tab at the very start also offers the REPL commands.
        let mut all: Vec<String> = MODULES.iter().map(|(m, _)| m.to_string()).collect();
        if before.trim().is_empty() {
            all.extend(COMMAND_NAMES.iter().map(|c| c.to_string()));
        }
        return (start, all);
    }
    // `x.cluster` in Rhai is a method call, not a module.
    if before[..start].ends_with('.') && language == Language::Rhai {
        return (pos, Vec::new());
    }
    (start, name_candidates(word, sep))
}

/// After `module::name(` with nothing typed yet: the rest of its signature,
/// shown greyed as a reminder (never inserted).
pub fn signature_hint(line: &str, pos: usize, language: Language) -> Option<String> {
    if pos != line.len() || line.trim_start().starts_with(':') {
        return None;
    }
    let before = line.strip_suffix('(')?;
    let sep = separator(language);
    let word = &before[word_start(before, sep)..];
    let (module, name) = word.split_once(sep)?;
    let f = registry()
        .iter()
        .find(|f| f.module == module && f.name == name)?;
    let (_, rest) = f.signature.split_once('(')?;
    Some(rest.to_string())
}

/// The first sentence of a doc's first line: what a listing shows.
pub fn summary(doc: &str) -> &str {
    let line = doc.lines().next().unwrap_or("").trim();
    let bytes = line.as_bytes();
    for (i, _) in line.match_indices(". ") {
        // "e.g. time.sleep" is not the end of a sentence; ". Counts" is.
        if bytes
            .get(i + 2)
            .is_some_and(|b| b.is_ascii_uppercase() || *b == b'(')
        {
            return &line[..=i];
        }
    }
    line
}

/// The text of `:help`, `:help MODULE` and `:help NAME`; Err for an unknown topic.
pub fn help_text(topic: Option<&str>, language: Language) -> Result<String, String> {
    let sep = separator(language);
    let Some(topic) = topic.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(general_help(language));
    };
    if topic.starts_with(':') {
        return Ok(commands_help(sep));
    }
    let topic = topic
        .trim_end_matches("()")
        .trim_end_matches('(')
        .trim_end_matches(['.', ':']);
    if let Some((module, doc)) = MODULES.iter().find(|(m, _)| *m == topic) {
        return Ok(module_help(module, doc, sep));
    }
    if let Some(f) = crate::host::find(topic) {
        return Ok(function_help(f, sep));
    }
    // A bare function name: every module's function of that name.
    let matches: Vec<&HostFn> = registry().iter().filter(|f| f.name == topic).collect();
    if !matches.is_empty() {
        return Ok(matches
            .iter()
            .map(|f| function_help(f, sep))
            .collect::<Vec<_>>()
            .join("\n\n"));
    }
    let needle = topic
        .rsplit(['.', ':'])
        .next()
        .unwrap_or(topic)
        .to_lowercase();
    let similar: Vec<String> = registry()
        .iter()
        .filter(|f| !needle.is_empty() && f.name.to_lowercase().contains(&needle))
        .take(8)
        .map(|f| qualified(f, sep))
        .collect();
    let mut msg = format!("no module or function named {topic:?}");
    if similar.is_empty() {
        msg.push_str("; :help lists the modules");
    } else {
        msg.push_str(&format!("; did you mean {}?", similar.join(", ")));
    }
    Err(msg)
}

/// Help text is wrapped to this width.
const WIDTH: usize = 88;

/// Word-wrap `text` to `WIDTH` columns, every line starting with `indent`.
pub fn wrap(text: &str, indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > indent.len() && len + 1 + word.chars().count() > WIDTH {
            lines.push(std::mem::take(&mut line));
        }
        if line.is_empty() {
            line.push_str(indent);
        } else {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

fn general_help(language: Language) -> String {
    let sep = separator(language);
    let width = MODULES.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut s =
        format!("Modules (call a function as time{sep}now(); :help MODULE lists its functions):\n");
    for (module, doc) in MODULES {
        let n = registry().iter().filter(|f| f.module == *module).count();
        let prefix = format!("  {module:<width$}  ");
        let text = wrap(
            &format!("{doc} ({n} function{})", if n == 1 { "" } else { "s" }),
            &" ".repeat(prefix.len()),
        );
        s.push_str(&prefix);
        s.push_str(text.trim_start());
        s.push('\n');
    }
    s.push('\n');
    s.push_str(&commands_help(sep));
    s
}

fn commands_help(sep: &str) -> String {
    let width = COMMANDS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let mut s = String::from("Commands:\n");
    for (cmd, doc) in COMMANDS {
        let doc = doc.replace("time.sleep", &format!("time{sep}sleep"));
        s.push_str(&format!("  {cmd:<width$}  {doc}\n"));
    }
    s.push('\n');
    s.push_str(&wrap(
        "Tab completes module and function names. An unfinished input (an open block or \
         string) continues on a `... ` line; two empty lines abandon it. Ctrl-C discards the \
         current input, or stops a statement while it runs.",
        "",
    ));
    s
}

fn module_help(module: &str, doc: &str, sep: &str) -> String {
    let mut s = wrap(&format!("{module}: {doc}"), "");
    s.push('\n');
    let fns: Vec<&HostFn> = registry().iter().filter(|f| f.module == module).collect();
    if fns.is_empty() {
        s.push_str("\n  (no functions yet)");
        return s;
    }
    for f in fns {
        let writes = if f.effect == Effect::Write {
            "  [changes things]"
        } else {
            ""
        };
        s.push_str(&format!(
            "\n  {module}{sep}{}{writes}\n{}",
            f.signature,
            wrap(summary(f.doc), "      ")
        ));
    }
    s.push_str(&format!(
        "\n\n:help {module}{sep}NAME shows one function in full."
    ));
    s
}

fn function_help(f: &HostFn, sep: &str) -> String {
    let effect = match f.effect {
        Effect::Write => "changes things; intercepted under --dry-run",
        Effect::Read => "reads only; runs as usual under --dry-run",
    };
    format!(
        "{}{sep}{}\n\n{}\n\n  {effect}",
        f.module,
        f.signature,
        wrap(f.doc, "  ")
    )
}

// ---------------------------------------------------------------------------
// The terminal: rustyline with history, completion and signature hints.

struct Helper {
    language: Language,
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = complete(line, pos, self.language);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

/// A hint that is only shown: the right arrow does not insert it.
struct ShownHint(String);

impl Hint for ShownHint {
    fn display(&self) -> &str {
        &self.0
    }
    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Hinter for Helper {
    type Hint = ShownHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ShownHint> {
        signature_hint(line, pos, self.language).map(ShownHint)
    }
}

impl Highlighter for Helper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Validator for Helper {}

impl rustyline::Helper for Helper {}

struct Terminal {
    editor: Editor<Helper, FileHistory>,
    history: Option<PathBuf>,
    warned: bool,
}

impl Terminal {
    fn open(language: Language) -> HostResult<Terminal> {
        let config = Config::builder()
            .auto_add_history(false)
            .history_ignore_space(true)
            .completion_type(CompletionType::List)
            .max_history_size(2000)
            .and_then(|b| b.history_ignore_dups(true))
            .map_err(|e| HostError::unknown(format!("cannot set up the line editor: {e}")))?
            .build();
        let mut editor: Editor<Helper, FileHistory> = Editor::with_config(config)
            .map_err(|e| HostError::unknown(format!("cannot open the terminal: {e}")))?;
        editor.set_helper(Some(Helper { language }));
        let path = crate::base::paths::history_file();
        let history = match path.parent().map(std::fs::create_dir_all) {
            Some(Err(e)) => {
                eprintln!(
                    "warning: history is not kept: cannot create {}: {e}",
                    path.parent().unwrap_or(&path).display()
                );
                None
            }
            _ => Some(path),
        };
        if let Some(path) = &history {
            if path.exists() {
                if let Err(e) = editor.load_history(path) {
                    eprintln!("warning: cannot read the history {}: {e}", path.display());
                }
            }
        }
        Ok(Terminal {
            editor,
            history,
            warned: false,
        })
    }
}

impl LineReader for Terminal {
    fn read(&mut self, prompt: &str) -> HostResult<Read> {
        match self.editor.readline(prompt) {
            Ok(line) => Ok(Read::Line(line)),
            Err(ReadlineError::Interrupted) => Ok(Read::Interrupted),
            Err(ReadlineError::Eof) => Ok(Read::Eof),
            Err(e) => Err(HostError::unknown(format!(
                "cannot read from the terminal: {e}"
            ))),
        }
    }

    fn remember(&mut self, entry: &str) {
        if self.editor.add_history_entry(entry).is_err() {
            return;
        }
        let Some(path) = &self.history else {
            return;
        };
        // Appended after every entry, so a crash loses nothing.
        if let Err(e) = self.editor.append_history(path) {
            if !self.warned {
                eprintln!(
                    "warning: cannot save the history to {}: {e}",
                    path.display()
                );
                self.warned = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn squash(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn text_wraps_with_an_indent() {
        let long = "word ".repeat(40);
        let text = wrap(&long, "  ");
        assert!(text.lines().count() > 1);
        assert!(text
            .lines()
            .all(|l| l.starts_with("  word") && l.chars().count() <= WIDTH));
        assert_eq!(squash(&text), squash(&long));
        // A word longer than the width stays whole on its own line.
        let huge = "x".repeat(WIDTH + 5);
        assert_eq!(wrap(&format!("a {huge} b"), ""), format!("a\n{huge}\nb"));
    }

    fn names(line: &str, lang: Language) -> (usize, Vec<String>) {
        complete(line, line.len(), lang)
    }

    #[test]
    fn completes_module_names() {
        let (start, c) = names("clu", Language::Rhai);
        assert_eq!(start, 0);
        assert_eq!(c, vec!["cluster"]);
        let (start, c) = names("let t = ti", Language::Rhai);
        assert_eq!(start, 8);
        assert_eq!(c, vec!["time"]);
        // Both modules starting with "c".
        let (_, c) = names("c", Language::Lua);
        assert!(c.contains(&"cluster".to_string()) && c.contains(&"config".to_string()));
        // A whole module name gains its separator.
        assert_eq!(names("time", Language::Rhai).1, vec!["time::"]);
        assert_eq!(names("time", Language::Lua).1, vec!["time."]);
    }

    #[test]
    fn completes_functions_after_the_separator() {
        assert_eq!(
            names("time::sl", Language::Rhai),
            (0, vec!["time::sleep".into()])
        );
        assert_eq!(
            names("x = out.ta", Language::Lua),
            (4, vec!["out.table".into()])
        );
        assert_eq!(
            names("out.json(time.se", Language::Lua),
            (9, vec!["time.seconds".into()])
        );
        let (_, all) = names("time::", Language::Rhai);
        assert!(all.contains(&"time::now".to_string()) && all.len() >= 4);
        // `time:` in Rhai is half-way to `time::`.
        assert!(names("time:", Language::Rhai)
            .1
            .contains(&"time::sleep".to_string()));
        let (_, progress) = names("out.progress", Language::Lua);
        assert!(progress.contains(&"out.progress_set".to_string()));
        // Whatever the registry holds for the cluster module completes too.
        let ready: Vec<String> = registry()
            .iter()
            .filter(|f| f.module == "cluster" && f.name.starts_with("re"))
            .map(|f| format!("cluster::{}", f.name))
            .collect();
        assert_eq!(names("cluster::re", Language::Rhai).1, ready);
    }

    #[test]
    fn does_not_complete_what_is_not_a_host_name() {
        assert!(names("nothing::x", Language::Rhai).1.is_empty());
        assert!(names("time::sleep::x", Language::Rhai).1.is_empty());
        assert!(names("12", Language::Rhai).1.is_empty());
        // Lua spells it with a dot; `::` is not a Lua path.
        assert!(names("time::sl", Language::Lua).1.is_empty());
        // A Rhai method call is not a module.
        assert!(names("x.ti", Language::Rhai).1.is_empty());
    }

    #[test]
    fn completes_commands_and_help_topics() {
        assert_eq!(names(":he", Language::Rhai), (0, vec![":help ".into()]));
        assert_eq!(names(":q", Language::Lua).1, vec![":quit"]);
        assert_eq!(names(":help ti", Language::Rhai), (6, vec!["time".into()]));
        assert_eq!(names(":help time.sl", Language::Rhai).1, vec!["time.sleep"]);
        assert_eq!(
            names(":help time::sl", Language::Lua).1,
            vec!["time::sleep"]
        );
        assert_eq!(names(":help out", Language::Lua).1, vec!["out."]);
        assert!(names(":lang x", Language::Rhai).1.is_empty());
        // Tab on an empty line: modules and commands.
        let (_, c) = names("", Language::Rhai);
        assert!(c.contains(&"time".to_string()) && c.contains(&":help ".to_string()));
        // Mid-line completion uses only the text before the cursor.
        assert_eq!(
            complete("time::sl()", 8, Language::Rhai),
            (0, vec!["time::sleep".into()])
        );
    }

    #[test]
    fn hints_show_the_rest_of_the_signature() {
        assert_eq!(
            signature_hint("time::sleep(", 12, Language::Rhai).as_deref(),
            Some("duration: duration) -> null")
        );
        assert_eq!(
            signature_hint("let t = time.now(", 17, Language::Lua).as_deref(),
            Some(") -> number")
        );
        assert_eq!(signature_hint("time::sleep(1", 13, Language::Rhai), None);
        assert_eq!(signature_hint("time.sleep(", 11, Language::Rhai), None);
        assert_eq!(signature_hint("foo(", 4, Language::Rhai), None);
    }

    #[test]
    fn help_for_one_function() {
        let f = crate::host::find("time.sleep").expect("time.sleep is registered");
        for topic in ["time.sleep", "time::sleep", "sleep", "time::sleep()"] {
            let text = help_text(Some(topic), Language::Rhai).unwrap();
            assert!(text.contains(f.signature), "{topic}: {text}");
            assert!(squash(&text).contains(&squash(f.doc)));
            assert!(text.contains("reads only"));
        }
        let lua = help_text(Some("time.sleep"), Language::Lua).unwrap();
        assert!(lua.starts_with("time.sleep("));
        assert!(help_text(Some("time.sleep"), Language::Rhai)
            .unwrap()
            .starts_with("time::sleep("));
        if let Some(w) = registry().iter().find(|f| f.effect == Effect::Write) {
            let text = help_text(Some(&w.qualified_name()), Language::Lua).unwrap();
            assert!(text.contains("changes things; intercepted under --dry-run"));
        }
    }

    #[test]
    fn help_for_a_module_lists_its_functions() {
        let text = help_text(Some("time"), Language::Lua).unwrap();
        assert!(text.starts_with("time: Time:"));
        for f in registry().iter().filter(|f| f.module == "time") {
            assert!(text.contains(&format!("time.{}", f.signature)), "{text}");
            assert!(squash(&text).contains(&squash(summary(f.doc))));
        }
        // Trailing separators are forgiven.
        assert_eq!(
            help_text(Some("time::"), Language::Rhai)
                .unwrap()
                .lines()
                .next(),
            text.lines().next()
        );
        assert!(!help_text(Some("out"), Language::Rhai)
            .unwrap()
            .contains("time::"));
    }

    #[test]
    fn general_help_lists_modules_and_commands() {
        let text = help_text(None, Language::Rhai).unwrap();
        for (m, doc) in MODULES {
            assert!(text.contains(m) && squash(&text).contains(&squash(doc)));
        }
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let width = MODULES.iter().map(|(m, _)| m.len()).max().unwrap();
        assert!(text.contains(&format!(
            "\n  {:<width$}  {}",
            "time",
            MODULES.iter().find(|m| m.0 == "time").unwrap().1
        )));
        for c in [":help MODULE", ":lang", ":quit"] {
            assert!(text.contains(c));
        }
        assert!(help_text(Some(":quit"), Language::Rhai)
            .unwrap()
            .starts_with("Commands:"));
    }

    #[test]
    fn unknown_help_topics_are_errors_with_suggestions() {
        let e = help_text(Some("nonexistent_thing"), Language::Rhai).unwrap_err();
        assert!(e.contains(":help lists the modules"));
        let e = help_text(Some("time.slee"), Language::Lua).unwrap_err();
        assert!(e.contains("time.sleep"), "{e}");
    }

    #[test]
    fn summaries_stop_at_the_first_sentence() {
        assert_eq!(
            summary("Pause the script, e.g. time.sleep(\"2s\"). Counts against the limit."),
            "Pause the script, e.g. time.sleep(\"2s\")."
        );
        assert_eq!(summary("One line.\nMore."), "One line.");
        assert_eq!(summary("No full stop"), "No full stop");
    }

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
