//! Every command script: bundled ones (`scripts/**`) and the user's
//! (`$XDG_CONFIG_HOME/elysiactl/scripts/**`), with their parsed headers.

use crate::error::{HostError, HostResult};
use crate::paths;
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
}

/// Names the meta commands take; scripts cannot use them.
pub const RESERVED: &[&str] = &[
    "run",
    "repl",
    "commands",
    "config",
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

fn collect_user(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut items: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    items.sort();
    for p in items {
        if p.is_dir() {
            collect_user(&p, out);
        } else if Language::from_path(&p).is_ok() {
            out.push(p);
        }
    }
}

impl Catalog {
    pub fn load() -> HostResult<Catalog> {
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
        let mut shadowed = Vec::new();
        let user_dir = paths::user_scripts_dir();
        let mut files = Vec::new();
        collect_user(&user_dir, &mut files);
        for file in files {
            let rel = file.strip_prefix(&user_dir).unwrap_or(&file);
            let path = words(rel);
            if entries.iter().any(|e: &Entry| e.path == path)
                || RESERVED.contains(&path[0].as_str())
            {
                shadowed.push(file);
                continue;
            }
            let source = std::fs::read_to_string(&file)
                .map_err(|e| HostError::io(format!("cannot read {}", file.display()), e))?;
            let header = header::parse(&source, &file.display().to_string()).map_err(|e| {
                let hint = format!("fix or remove {}", file.display());
                e.with_hint(hint)
            })?;
            entries.push(Entry {
                path,
                language: Language::from_path(&file)?,
                origin: Origin::User(file),
                source,
                header,
            });
        }
        Ok(Catalog {
            entries,
            groups,
            shadowed,
        })
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
                Command::new(group.clone())
                    .about(about)
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
