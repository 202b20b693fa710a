//! The terminal: rustyline with a history file, Tab completion and
//! signature hints, behind the loop's [`LineReader`].

use super::complete::{complete, signature_hint};
use super::{Language, LineReader, Read};
use crate::base::error::{HostError, HostResult};
use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor};
use std::borrow::Cow;
use std::path::PathBuf;

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

pub(super) struct Terminal {
    editor: Editor<Helper, FileHistory>,
    history: Option<PathBuf>,
    warned: bool,
}

impl Terminal {
    pub(super) fn open(language: Language) -> HostResult<Terminal> {
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
