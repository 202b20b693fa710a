//! Tab completion and signature hints: module and function names read
//! from the host registry, spelt as the session's language spells them.

use super::help::qualified;
use super::{separator, Language};
use crate::host::{registry, MODULES};

/// What Tab completes after a `:` (`:help` takes a topic, hence the space).
const COMMAND_NAMES: &[&str] = &[":help ", ":lang", ":quit"];

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
