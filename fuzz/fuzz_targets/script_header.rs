//! Script headers, as user scripts bring them: the input is read as a
//! script, and its lines also as the header of a Rhai (`//!`) and of a Lua
//! (`--!`) script. A header that parses must build a command clap accepts
//! under elysiactl's global flags, whose `--help` renders and whose `args`
//! map can be made from a command line that uses every flag.
#![no_main]

use clap::{Arg, Command};
use elysiactl::script::header::{self, Header, ValueKind};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The global flags of the real command tree, which every script command
/// inherits.
fn global_args() -> &'static [Arg] {
    static GLOBALS: OnceLock<Vec<Arg>> = OnceLock::new();
    GLOBALS.get_or_init(|| {
        let catalog = elysiactl::script::catalog::Catalog::builtin().expect("bundled scripts");
        elysiactl::cli::build_command(&catalog)
            .get_arguments()
            .filter(|a| a.is_global_set())
            .cloned()
            .collect()
    })
}

/// A command line giving every flag a value it accepts and every argument one.
fn full_command_line(h: &Header) -> Vec<String> {
    let mut line = vec!["elysiactl".to_string(), "fuzzcmd".to_string()];
    for f in &h.flags {
        line.push(format!("--{}", f.long));
        if let Some(v) = &f.value {
            line.push(match &v.kind {
                ValueKind::Text => "text".to_string(),
                ValueKind::Int => "7".to_string(),
                ValueKind::OneOf(choices) => choices[0].clone(),
            });
        }
    }
    for p in &h.positionals {
        line.push(format!("{}-value", p.name));
    }
    line
}

fn header(source: &str) {
    let Ok(h) = header::parse(source, "fuzz.rhai") else {
        return;
    };
    let mut root = Command::new("elysiactl")
        .args(global_args().iter().cloned())
        .subcommand(h.command("fuzzcmd"));
    root.clone().debug_assert();
    let sub = root.find_subcommand_mut("fuzzcmd").expect("just added");
    let _ = sub.render_long_help().to_string();
    // Defaults alone (required arguments missing is a usage error, not a bug).
    if let Ok(m) = root.clone().try_get_matches_from(["elysiactl", "fuzzcmd"]) {
        let (_, sm) = m.subcommand().expect("fuzzcmd");
        h.args_from(sm);
    }
    // Choice values may look like flags (`-x`); clap may then refuse them.
    if let Ok(m) = root.try_get_matches_from(full_command_line(&h)) {
        let (_, sm) = m.subcommand().expect("fuzzcmd");
        let args = h.args_from(sm);
        for f in &h.flags {
            let key = f.long.to_lowercase().replace('-', "_");
            assert!(
                !args[&key].is_null(),
                "--{} given but {key} is null",
                f.long
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    header(text);
    for prefix in ["//! ", "--! "] {
        let source: String = text.lines().map(|l| format!("{prefix}{l}\n")).collect();
        header(&source);
    }
});
