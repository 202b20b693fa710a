//! Help on the host API, drawn from the registry: `:help`, `:help MODULE`
//! and `:help NAME` in the REPL, and `elysiactl api` (text, Markdown and
//! JSON). One renderer of a module's functions serves both, so they cannot
//! drift apart.

use super::{separator, Language};
use crate::host::{registry, Effect, HostFn, MODULES};

/// The REPL's own commands, as shown by `:help`.
const COMMANDS: &[(&str, &str)] = &[
    (":help", "the modules and these commands"),
    (":help MODULE", "a module's functions, e.g. :help time"),
    (":help NAME", "one function in full, e.g. :help time.sleep"),
    (":lang", "the language of this session"),
    (":quit, :q", "leave (Ctrl-D does too)"),
];

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
    if let Some(doc) = module_doc(topic) {
        return Ok(module_help(topic, doc, sep));
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
        let n = functions_of(module).count();
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

/// What marks a function that changes things, in every listing.
const WRITES: &str = "[writes; dry-run aware]";

/// The mark of a function that changes things, or of a read that does when
/// one of its writing options is set; None for a read.
fn writes_mark(f: &HostFn) -> Option<String> {
    let options = f.writing_options();
    if f.effect == Effect::Write {
        Some(WRITES.to_string())
    } else if !options.is_empty() {
        Some(format!(
            "[writes with opts.{}; dry-run aware]",
            options.join(", opts.")
        ))
    } else {
        None
    }
}

/// How much of each function's doc a module listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The first sentence (`:help MODULE`, which points on to `:help NAME`).
    Summary,
    /// All of it (`elysiactl api`).
    Full,
}

/// A module's doc by its name; None for no such module.
pub fn module_doc(module: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, doc)| *doc)
}

/// How a function is called in a language: `time::sleep` or `time.sleep`.
pub(super) fn qualified(f: &HostFn, sep: &str) -> String {
    format!("{}{sep}{}", f.module, f.name)
}

fn functions_of(module: &str) -> impl Iterator<Item = &'static HostFn> + '_ {
    registry().iter().filter(move |f| f.module == module)
}

/// A function's signature as called in a language, e.g. `time::sleep(duration: …) -> null`.
fn call(f: &HostFn, sep: &str) -> String {
    format!("{}{sep}{}", f.module, f.signature)
}

/// A module and its functions as text: the module's doc, then each
/// function's signature (marked when it writes) over its doc, wrapped.
pub fn module_text(module: &str, doc: &str, sep: &str, detail: Detail) -> String {
    let mut s = wrap(&format!("{module}: {doc}"), "");
    s.push('\n');
    let mut any = false;
    for f in functions_of(module) {
        any = true;
        let writes = writes_mark(f).map(|m| format!("  {m}")).unwrap_or_default();
        let doc = match detail {
            Detail::Summary => summary(f.doc),
            Detail::Full => f.doc,
        };
        s.push_str(&format!(
            "\n  {}{writes}\n{}",
            call(f, sep),
            wrap(doc, "      ")
        ));
    }
    if !any {
        s.push_str("\n  (no functions yet)");
    }
    s
}

/// The same as Markdown: a heading, the module's doc and a table of its
/// functions with their whole docs (`elysiactl api --markdown`).
pub fn module_markdown(module: &str, doc: &str) -> String {
    let mut s = format!("## `{module}`\n\n{doc}\n\n| function | does |\n|---|---|\n");
    for f in functions_of(module) {
        let writes = writes_mark(f).map(|m| format!(" {m}")).unwrap_or_default();
        // A `|` ends a table cell even inside a code span (`string|int`) unless escaped.
        let cell = |text: &str| text.replace('|', "\\|");
        s.push_str(&format!(
            "| `{}` | {}{writes} |\n",
            cell(&call(f, ".")),
            cell(f.doc)
        ));
    }
    s
}

/// The same as data, for programs (`elysiactl api --json`).
pub fn module_json(module: &str, doc: &str) -> serde_json::Value {
    let functions: Vec<serde_json::Value> = functions_of(module)
        .map(|f| {
            serde_json::json!({
                "name": f.name, "signature": f.signature, "doc": f.doc,
                "writes": f.effect == Effect::Write, "writes_when": f.writing_options(),
                "params": f.params.iter().map(|p| serde_json::json!({
                    "name": p.name, "type": p.ty.to_json(), "optional": p.optional,
                })).collect::<Vec<_>>(),
                "returns": f.returns.to_json(),
            })
        })
        .collect();
    serde_json::json!({"module": module, "doc": doc, "functions": functions})
}

/// `:help MODULE`: the module's listing with summaries.
fn module_help(module: &str, doc: &str, sep: &str) -> String {
    let mut s = module_text(module, doc, sep, Detail::Summary);
    if functions_of(module).next().is_some() {
        s.push_str(&format!(
            "\n\n:help {module}{sep}NAME shows one function in full."
        ));
    }
    s
}

/// `:help NAME`: one function in full, and what `--dry-run` does with it.
fn function_help(f: &HostFn, sep: &str) -> String {
    let writing = f.writing_options();
    let effect = match f.effect {
        Effect::Write => "changes things; intercepted under --dry-run".to_string(),
        Effect::Read if !writing.is_empty() => format!(
            "reads; with opts.{} it changes things and is intercepted under --dry-run",
            writing.join(" or opts.")
        ),
        Effect::Read => "reads only; runs as usual under --dry-run".to_string(),
    };
    format!("{}\n\n{}\n\n  {effect}", call(f, sep), wrap(f.doc, "  "))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn listings_show_summaries_or_whole_docs() {
        let sleep = crate::host::find("time.sleep").unwrap();
        assert_ne!(summary(sleep.doc), sleep.doc, "a doc of two sentences");
        let doc = module_doc("time").unwrap();
        let brief = squash(&module_text("time", doc, "::", Detail::Summary));
        let full = squash(&module_text("time", doc, "::", Detail::Full));
        assert!(brief.contains(&squash(summary(sleep.doc))), "{brief}");
        assert!(!brief.contains(&squash(sleep.doc)), "{brief}");
        assert!(full.contains(&squash(sleep.doc)), "{full}");
        assert!(full.contains("time::sleep(duration"), "{full}");
        assert!(module_text("time", doc, ".", Detail::Full)
            .lines()
            .all(|l| l.chars().count() <= WIDTH));
        assert_eq!(module_doc("nothing"), None);
    }

    #[test]
    fn writes_are_marked_alike_in_every_listing() {
        let w = registry()
            .iter()
            .find(|f| f.effect == Effect::Write)
            .expect("some function writes");
        let doc = module_doc(w.module).unwrap();
        let call = format!("{}.{}", w.module, w.signature);
        let text = module_text(w.module, doc, ".", Detail::Summary);
        assert!(text.contains(&format!("  {call}  {WRITES}\n")), "{text}");
        let md = module_markdown(w.module, doc);
        let row = md.lines().find(|l| l.contains(&call)).unwrap();
        assert!(row.ends_with(&format!(" {WRITES} |")), "{row}");
        let json = module_json(w.module, doc);
        let entry = json["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == w.name)
            .unwrap();
        assert_eq!(entry["writes"], true);
        for f in registry().iter().filter(|f| f.effect == Effect::Read) {
            let doc = module_doc(f.module).unwrap();
            let line = match f.writing_options().as_slice() {
                [] => format!("  {}.{}\n", f.module, f.signature),
                [o] => format!(
                    "  {}.{}  [writes with opts.{o}; dry-run aware]\n",
                    f.module, f.signature
                ),
                more => panic!("{}: {more:?}", f.qualified_name()),
            };
            assert!(
                module_text(f.module, doc, ".", Detail::Full).contains(&line),
                "{line}"
            );
        }
    }

    #[test]
    fn markdown_keeps_a_pipe_in_a_doc_inside_its_cell() {
        for (module, doc) in MODULES {
            for row in module_markdown(module, doc)
                .lines()
                .filter(|l| l.starts_with("| `"))
            {
                let cells = row.replace("\\|", "").matches('|').count();
                assert_eq!(cells, 3, "{row}");
            }
        }
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
}
