//! Every command script: bundled ones (`scripts/**`) and the user's
//! (`$XDG_CONFIG_HOME/elysiactl/scripts/**`), with their parsed headers.

use crate::base::error::HostResult;
use crate::base::paths;
use crate::script::header::{self, Header};
use crate::script::Language;
use clap::Command;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub enum Origin {
    /// Bundled, by its path in the source tree (`scripts/start.rhai`).
    Builtin(&'static str),
    User(PathBuf),
}

impl Origin {
    pub fn display(&self) -> String {
        match self {
            Origin::Builtin(p) => p.to_string(),
            Origin::User(p) => p.display().to_string(),
        }
    }
}

pub struct Entry {
    /// Command words: `["weaviate", "start"]`.
    pub path: Vec<String>,
    pub origin: Origin,
    pub language: Language,
    pub source: String,
    pub header: Header,
}

pub struct Catalog {
    pub entries: Vec<Entry>,
    /// About lines of command groups (`scripts/<group>/about.txt`).
    pub groups: Vec<(String, String)>,
    /// User scripts not used because a built-in has the same name.
    pub shadowed: Vec<PathBuf>,
    /// User scripts not used because they are broken.
    pub disabled: Vec<Disabled>,
}

/// Names the meta commands take; scripts cannot use them.
pub const RESERVED: &[&str] = &[
    "run",
    "repl",
    "commands",
    "config",
    "env",
    "api",
    "completions",
    "help",
];

fn words(rel: &Path) -> Vec<String> {
    let mut w: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if let Some(last) = w.last_mut() {
        if let Some((stem, _)) = last.rsplit_once('.') {
            *last = stem.to_string();
        }
    }
    w
}

/// How deep command groups may nest in the user's folder; deeper (or a
/// symlink back up the tree) is not a command anyone types.
const MAX_USER_DEPTH: usize = 8;
/// Scripts are a few kilobytes; a bigger file is not one, and every command
/// would pay for reading it.
const MAX_USER_SCRIPT_BYTES: u64 = 1 << 20;

/// A user script that is not used, and why.
pub struct Disabled {
    pub path: PathBuf,
    pub reason: String,
    pub hint: String,
}

impl Disabled {
    fn new(path: &Path, reason: impl Into<String>, hint: impl Into<String>) -> Disabled {
        Disabled {
            path: path.to_path_buf(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    /// The warning printed before every command while the script is broken.
    pub fn warning(&self) -> String {
        let text = format!(
            "warning: user script {} is disabled: {}\n  hint: {}",
            self.path.display(),
            self.reason,
            self.hint
        );
        crate::base::output::sanitize(&text, true)
    }
}

fn collect_user(
    dir: &Path,
    depth: usize,
    seen: &mut Vec<PathBuf>,
    out: &mut Vec<PathBuf>,
    disabled: &mut Vec<Disabled>,
) {
    // A directory reached twice (a symlink to a parent) would recurse forever.
    if let Ok(real) = std::fs::canonicalize(dir) {
        if seen.contains(&real) {
            return;
        }
        seen.push(real);
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut items: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    items.sort();
    for p in items {
        // Follows symlinks without opening anything: a FIFO stays unopened.
        if std::fs::metadata(&p).is_ok_and(|m| m.is_dir()) {
            if depth + 1 >= MAX_USER_DEPTH {
                disabled.push(Disabled::new(
                    &p,
                    format!("folders nest deeper than {MAX_USER_DEPTH} levels"),
                    "keep commands at most a few words deep",
                ));
                continue;
            }
            collect_user(&p, depth + 1, seen, out, disabled);
        } else if Language::from_path(&p).is_ok() {
            out.push(p);
        }
    }
}

/// A user script's text, if it is a readable regular file of UTF-8.
fn read_user_script(file: &Path) -> Result<String, Disabled> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let fix = format!("fix or remove {}", file.display());
    let not_a_file = || {
        Disabled::new(
            file,
            "it is not a regular file (a FIFO, socket or device)",
            format!("remove {} or replace it with a script", file.display()),
        )
    };
    // Looked at before it is opened: opening a FIFO would wake its writer.
    if std::fs::metadata(file).is_ok_and(|m| !m.is_file()) {
        return Err(not_a_file());
    }
    // Non-blocking, so that a FIFO swapped in after that look still cannot
    // block the open; fstat then says what was opened.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(file)
        .map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "it is a symlink to nothing".to_string(),
                _ => format!("it cannot be opened: {e}"),
            };
            Disabled::new(file, reason, fix.clone())
        })?;
    let meta = f
        .metadata()
        .map_err(|e| Disabled::new(file, format!("it cannot be examined: {e}"), fix.clone()))?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.len() > MAX_USER_SCRIPT_BYTES {
        return Err(Disabled::new(
            file,
            format!("it is larger than {} bytes", MAX_USER_SCRIPT_BYTES),
            fix,
        ));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| Disabled::new(file, format!("it cannot be read: {e}"), fix.clone()))?;
    String::from_utf8(bytes).map_err(|e| {
        Disabled::new(
            file,
            format!(
                "it is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ),
            format!("save {} as UTF-8", file.display()),
        )
    })
}

/// A command word from a file or folder name: something a shell can pass.
fn valid_word(w: &str) -> bool {
    !w.is_empty()
        && !w.starts_with('-')
        && w.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn user_entry(file: &Path, path: Vec<String>) -> Result<Entry, Disabled> {
    if let Some(bad) = path.iter().find(|w| !valid_word(w)) {
        return Err(Disabled::new(
            file,
            format!("{bad:?} cannot be a command name"),
            "name scripts and folders with letters, digits, - and _ (not starting with -)",
        ));
    }
    let source = read_user_script(file)?;
    let language = Language::from_path(file).map_err(|e| Disabled::new(file, e.message, e.hint))?;
    let header = header::parse(&source, &file.display().to_string()).map_err(|e| {
        // The message names the file already; say what is wrong with it.
        let reason = e
            .message
            .strip_prefix(&format!("{}: ", file.display()))
            .unwrap_or(&e.message)
            .to_string();
        Disabled::new(
            file,
            reason,
            format!("{}; or remove {}", e.hint, file.display()),
        )
    })?;
    Ok(Entry {
        path,
        language,
        origin: Origin::User(file.to_path_buf()),
        source,
        header,
    })
}

impl Catalog {
    /// The bundled scripts only: their headers are part of the build, so a
    /// mistake in one is an error (and fails the unit tests).
    pub fn builtin() -> HostResult<Catalog> {
        let mut entries = Vec::new();
        let mut groups = Vec::new();
        for (path, text) in crate::script::bundled() {
            let Some(rel) = path.strip_prefix("scripts/") else {
                continue;
            };
            if let Some(group) = rel.strip_suffix("/about.txt") {
                groups.push((group.replace('/', " "), text.trim().to_string()));
                continue;
            }
            let language = Language::from_path(Path::new(rel))?;
            entries.push(Entry {
                path: words(Path::new(rel)),
                origin: Origin::Builtin(path),
                language,
                source: text.to_string(),
                header: header::parse(text, path)?,
            });
        }
        Ok(Catalog {
            entries,
            groups,
            shadowed: Vec::new(),
            disabled: Vec::new(),
        })
    }

    /// The bundled scripts and the user's. A user script that cannot be used
    /// (unreadable, not a file, a bad header) is left out and listed in
    /// `disabled`, so one broken file never breaks every command.
    pub fn load() -> HostResult<Catalog> {
        let mut catalog = Catalog::builtin()?;
        let user_dir = paths::user_scripts_dir();
        let mut files = Vec::new();
        collect_user(
            &user_dir,
            0,
            &mut Vec::new(),
            &mut files,
            &mut catalog.disabled,
        );
        for file in files {
            let rel = file.strip_prefix(&user_dir).unwrap_or(&file);
            let path = words(rel);
            if catalog.entries.iter().any(|e: &Entry| e.path == path)
                || RESERVED.contains(&path[0].as_str())
            {
                catalog.shadowed.push(file);
                continue;
            }
            match user_entry(&file, path) {
                Ok(entry) => catalog.entries.push(entry),
                Err(d) => catalog.disabled.push(d),
            }
        }
        Ok(catalog)
    }

    pub fn find(&self, path: &[String]) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Whether a command line (words, then its arguments) starts with a
    /// command: a script, or one of the meta commands.
    pub fn find_command(&self, words: &[String]) -> bool {
        words
            .first()
            .is_some_and(|w| RESERVED.contains(&w.as_str()))
            || (1..=words.len()).any(|n| self.find(&words[..n]).is_some())
    }

    /// Add every script command to the clap tree, nesting groups.
    pub fn add_to(&self, root: Command) -> Command {
        fn insert(
            parent: Command,
            path: &[String],
            leaf: Command,
            groups: &[(String, String)],
            prefix: &str,
        ) -> Command {
            if path.len() == 1 {
                return parent.subcommand(leaf);
            }
            let group = &path[0];
            let full = if prefix.is_empty() {
                group.clone()
            } else {
                format!("{prefix} {group}")
            };
            let existing = parent.find_subcommand(group).cloned();
            let sub = existing.unwrap_or_else(|| {
                let about = groups
                    .iter()
                    .find(|(g, _)| *g == full)
                    .map(|(_, a)| a.clone())
                    .unwrap_or_else(|| format!("{group} commands"));
                // The first line is the group's line in lists; the whole text
                // is its own --help (what is built and what is not, for chaos).
                let short = about.lines().next().unwrap_or_default().to_string();
                Command::new(group.clone())
                    .about(short)
                    .long_about(about)
                    .subcommand_required(true)
                    .arg_required_else_help(true)
            });
            let sub = insert(sub, &path[1..], leaf, groups, &full);
            if parent.find_subcommand(group).is_some() {
                parent.mut_subcommand(group.as_str(), |_| sub)
            } else {
                parent.subcommand(sub)
            }
        }
        let mut root = root;
        // Shorter paths first: `daemon` (a script) becomes the group that
        // `daemon status` joins, and runs itself when no subcommand is given.
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by_key(|e| e.path.len());
        for e in entries {
            let leaf = e.header.command(e.path.last().expect("non-empty path"));
            root = insert(root, &e.path, leaf, &self.groups, "");
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_what_a_shell_can_pass() {
        assert!(valid_word("weaviate") && valid_word("config-replication"));
        assert!(!valid_word("") && !valid_word("--help") && !valid_word("a b"));
    }
}
