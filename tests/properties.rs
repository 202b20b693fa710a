//! Property tests where an invariant is simple to state: what `config.set`
//! writes loads again, with the values set; a header that parses builds a
//! command clap accepts; a duration's text reads back as that duration; a
//! cron line that `schedule add` accepts either has a next run or is said
//! never to fire, and its runs are the times it names. No cluster needed.
//!
//! Case counts are kept low so `cargo test` stays fast; `PROPTEST_CASES=5000
//! cargo test --test properties` searches harder. The fuzz targets in fuzz/
//! cover the same parsers with arbitrary text.

use chrono::{DateTime, Datelike, Timelike, Utc};
use elysiactl::base::config::{Config, JobConfig};
use elysiactl::base::units::{format_duration, parse_duration, to_duration, MAX_DURATION};
use elysiactl::schedule;
use elysiactl::script::header::{self, ValueKind};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

// ---- config.set ------------------------------------------------------------

/// Files `config.set` may find: none, empty, the README's, one with
/// comments, and tables declared only through a sub-table, with dotted keys
/// or inline.
const START_FILES: &[Option<&str>] = &[
    None,
    Some(""),
    Some("# mine\n[index]\nbatch_size = 200 # tuned later\n"),
    Some("[weaviate.env]\nLOG_LEVEL = \"info\"\n"),
    Some("[elysia.env]\nOPENAI_API_KEY = \"sk-x\"\n[index]\nembedder = \"static\"\n"),
    Some("weaviate.nodes = 1\nindex.batch_size = 10\n"),
    Some("script = { timeout = \"1m\" }\n"),
    Some("[repos]\nfile = \"/tmp/r.txt\"\n\n[[jobs]]\nname = \"a\"\ncron = \"*/5 * * * *\"\ncommand = [\"status\"]\n"),
    Some(include_str!("../fuzz/corpus/config_load/readme.toml")),
];

const SECTIONS: &[&str] = &["weaviate", "elysia", "script", "index", "repos"];

/// The keys of a section as the config serializes them, with their defaults.
fn keys_of(section: &str) -> Vec<(String, Value)> {
    let defaults = serde_json::to_value(Config::default()).unwrap();
    defaults[section]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Any value `config.set` takes: a boolean, a number or a string.
fn a_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0.5f64, 1.0, 1e300]).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

/// A value of the type a key's default has, often one the key accepts.
fn a_value_like(default: &Value) -> BoxedStrategy<Value> {
    match default {
        Value::Bool(_) => any::<bool>().prop_map(Value::from).boxed(),
        Value::Number(_) => prop_oneof![
            4 => prop::sample::select(vec![
                0i64, 1, 2, 3, 4, 8, 9, 10, 60, 64, 65, 200, 1024, 8080, 20_000, 65_535, 65_536,
                1 << 30, -1,
            ])
            .prop_map(Value::from),
            1 => any::<u32>().prop_map(Value::from),
        ]
        .boxed(),
        _ => prop::sample::select(vec![
            "",
            "grpc",
            "rest",
            "none",
            "static",
            "openai",
            "process",
            "docker",
            "30s",
            "10m",
            "1e300",
            "127.0.0.1",
            "localhost",
            "[::1]",
            "host:1",
            "http://u:p@h/v1",
            "quote\" and \\ back",
            "line\nbreak",
            "tab\tand\u{7f}",
            "ünï",
            "# not a comment",
        ])
        .prop_map(Value::from)
        .boxed(),
    }
}

/// A section and a few values for it, mostly of the right type under keys
/// it has.
fn a_change() -> impl Strategy<Value = (String, Map<String, Value>)> {
    prop::sample::select(SECTIONS).prop_flat_map(|section| {
        let keys: Vec<(String, Value)> = keys_of(section)
            .into_iter()
            .filter(|(_, default)| !default.is_object())
            .collect();
        let typed = prop::sample::select(keys)
            .prop_flat_map(|(key, default)| (Just(key), a_value_like(&default)));
        let entry = prop_oneof![
            6 => typed,
            1 => (prop::sample::select(keys_of(section)).prop_map(|(k, _)| k), a_value()),
            1 => ("[a-z_.\" ]{1,10}", a_value()),
        ];
        (
            Just(section.to_string()),
            prop::collection::vec(entry, 1..3)
                .prop_map(|entries| entries.into_iter().collect::<Map<_, _>>()),
        )
    })
}

proptest! {
    #![proptest_config(cases(48))]

    /// What `config.set` writes loads again (as every command loads it) and
    /// holds the values set; what it refuses leaves the file as it was.
    #[test]
    fn a_config_written_by_config_set_loads_again(
        start in prop::sample::select(START_FILES),
        (section, values) in a_change(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        if let Some(text) = start {
            std::fs::write(&file, text).unwrap();
        }
        let before = std::fs::read_to_string(&file).ok();
        match elysiactl::base::config::set_values(&file, &section, &values) {
            Ok(()) => {
                let text = std::fs::read_to_string(&file).unwrap();
                let cfg = Config::load(Some(&file));
                prop_assert!(cfg.is_ok(), "written but does not load: {:?}\n{text}", cfg.err());
                let loaded = serde_json::to_value(cfg.unwrap()).unwrap();
                for (key, value) in &values {
                    if key.contains("api_key") {
                        continue; // a secret reads back as "***"
                    }
                    prop_assert_eq!(&loaded[&section][key], value, "{}.{} in\n{}", section, key, text);
                }
            }
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                prop_assert_eq!(std::fs::read_to_string(&file).ok(), before, "refused, yet written");
            }
        }
    }
}

// ---- script headers ----------------------------------------------------------

/// One `@flag` line: names from small pools, so that clashes are common.
fn a_flag_line() -> impl Strategy<Value = String> {
    let long = prop::sample::select(vec![
        "json", "n", "count", "mode", "a-b", "a_b", "timeout", "version", "config", "help", "x",
        "Json", "1st",
    ]);
    let short = prop::option::of(prop::sample::select(vec!['j', 'n', 'x', 'V', 'h', '1']));
    let choice = prop::sample::select(vec!["a", "b", "c", "-x", "1", "a-b", "ä"]);
    let value = prop_oneof![
        Just(String::new()),
        Just(" <V>".to_string()),
        Just(" <SECONDS:int>".to_string()),
        prop::collection::vec(choice, 1..4).prop_map(|c| format!(" <M:{}>", c.join("|"))),
    ];
    let default = prop::option::of(prop::sample::select(vec!["3", "x", "a", "yes", "-1", "b"]));
    (long, short, value, "[a-z ]{0,12}", default).prop_map(|(long, short, value, help, default)| {
        let short = short.map(|c| format!("-{c} ")).unwrap_or_default();
        let default = default
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        format!("@flag {short}--{long}{value} {help}{default}")
    })
}

/// One `@arg` line: required, optional or taking the rest.
fn an_arg_line() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["A", "B", "paths", "name", "config", "x-y", "json"]);
    let default = prop::option::of(prop::sample::select(vec!["all", "1"]));
    (name, 0..4u8, any::<bool>(), default).prop_map(|(name, form, many, default)| {
        let many = if many { "..." } else { "" };
        let token = match form {
            0 | 1 => format!("{name}{many}"),
            _ => format!("[{name}{many}]"),
        };
        let default = default
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        format!("@arg {token} help{default}")
    })
}

fn a_header() -> impl Strategy<Value = (String, usize, usize)> {
    (
        prop::collection::vec(a_flag_line(), 0..5),
        prop::collection::vec(an_arg_line(), 0..4),
        prop::sample::select(vec!["//!", "--!"]),
    )
        .prop_map(|(flags, args, prefix)| {
            let mut lines = vec![
                "Do a thing.".to_string(),
                String::new(),
                "At length.".into(),
            ];
            lines.extend(flags.iter().cloned());
            lines.extend(args.iter().cloned());
            lines.push("@example elysiactl t".into());
            let source: String = lines.iter().map(|l| format!("{prefix} {l}\n")).collect();
            (source + "let x = 1;\n", flags.len(), args.len())
        })
}

proptest! {
    #![proptest_config(cases(128))]

    /// A header that parses builds a command clap accepts in full (checked
    /// with `debug_assert`, under the real tree's global flags), and a
    /// command line giving every flag a value yields every flag in `args`.
    #[test]
    fn a_parsed_header_builds_a_clap_command(
        (source, n_flags, n_args) in a_header(),
    ) {
        let Ok(h) = header::parse(&source, "t.rhai") else {
            return Ok(());
        };
        prop_assert_eq!((h.flags.len(), h.positionals.len()), (n_flags, n_args));
        let catalog = elysiactl::script::catalog::Catalog::builtin().unwrap();
        let globals: Vec<clap::Arg> = elysiactl::cli::build_command(&catalog)
            .get_arguments()
            .filter(|a| a.is_global_set())
            .cloned()
            .collect();
        let root = clap::Command::new("elysiactl")
            .args(globals)
            .subcommand(h.command("t"));
        root.clone().debug_assert();
        let mut line = vec!["elysiactl".to_string(), "t".into()];
        let mut plain = true;
        for f in &h.flags {
            line.push(format!("--{}", f.long));
            match f.value.as_ref().map(|v| &v.kind) {
                None => {}
                Some(ValueKind::Text) => line.push("text".into()),
                Some(ValueKind::Int) => line.push("7".into()),
                Some(ValueKind::OneOf(c)) => {
                    plain &= !c[0].starts_with('-');
                    line.push(c[0].clone());
                }
            }
        }
        for p in &h.positionals {
            line.push(format!("{}-value", p.name));
        }
        match root.try_get_matches_from(&line) {
            Ok(m) => {
                let args = h.args_from(m.subcommand().unwrap().1);
                for f in &h.flags {
                    let key = f.long.to_lowercase().replace('-', "_");
                    prop_assert!(!args[&key].is_null(), "--{} given, {} is null", f.long, key);
                }
            }
            // A choice such as `-x` reads as a flag: clap's to refuse.
            Err(e) => prop_assert!(!plain, "{line:?} refused: {e}"),
        }
    }
}

// ---- durations -----------------------------------------------------------------

/// How far `format_duration` rounds: tenths below ten seconds, else seconds.
fn precision(d: Duration) -> Duration {
    if d < Duration::from_secs(10) {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// A duration's text reads back as the same duration, to its precision.
    #[test]
    fn a_formatted_duration_parses_back(
        secs in prop_oneof![0..120u64, 0..MAX_DURATION.as_secs() + 1],
        nanos in 0..1_000_000_000u32,
    ) {
        let d = Duration::new(secs, nanos).min(MAX_DURATION);
        let text = format_duration(d);
        let back = parse_duration(&text);
        prop_assert!(back.is_ok(), "{d:?} formats as {text:?}: {:?}", back.err());
        let back = back.unwrap();
        prop_assert!(back.abs_diff(d) <= precision(d), "{d:?} -> {text:?} -> {back:?}");
    }

    /// Whole seconds, as a number, as text and with humantime's units.
    #[test]
    fn seconds_read_the_same_in_every_form(secs in 0..MAX_DURATION.as_secs() + 1) {
        let d = Duration::from_secs(secs);
        let with_unit = format!("{secs}s");
        prop_assert_eq!(parse_duration(&secs.to_string()).unwrap(), d);
        prop_assert_eq!(parse_duration(&with_unit).unwrap(), d);
        prop_assert_eq!(to_duration(&json!(secs)).unwrap(), d);
        prop_assert_eq!(to_duration(&json!(secs as f64)).unwrap(), Duration::from_secs_f64(secs as f64));
    }

    /// Beyond the longest duration, every form is refused, none panics.
    #[test]
    fn too_long_is_refused_in_every_form(secs in MAX_DURATION.as_secs() + 1..u64::MAX) {
        let with_unit = format!("{secs}s");
        prop_assert!(parse_duration(&secs.to_string()).is_err(), "{}", secs);
        prop_assert!(parse_duration(&with_unit).is_err(), "{}", with_unit);
        prop_assert!(to_duration(&json!(secs)).is_err(), "{}", secs);
    }
}

// ---- cron ------------------------------------------------------------------------

/// A crontab field and the values it selects: `*`, a value, a range, a
/// step over either, or a list of those; months and weekdays also by name.
fn a_field(
    min: u32,
    max: u32,
    names: &'static [&'static str],
) -> impl Strategy<Value = (String, Option<BTreeSet<u32>>)> {
    let value = move |v: u32, named: bool| -> String {
        match names.get(v as usize - min.min(1) as usize) {
            Some(n) if named => n.to_lowercase(),
            _ => v.to_string(),
        }
    };
    let item = (min..=max, min..=max, 1..=max.max(2), 0..4u8, any::<bool>()).prop_map(
        move |(a, b, step, form, named)| {
            let (lo, hi) = (a.min(b), a.max(b));
            match form {
                0 => (value(a, named), (a..=a).collect::<BTreeSet<_>>()),
                1 => (
                    format!("{}-{}", value(lo, named), value(hi, named)),
                    (lo..=hi).collect(),
                ),
                2 => (
                    format!("{}-{}/{step}", value(lo, named), value(hi, named)),
                    (lo..=hi).step_by(step as usize).collect(),
                ),
                _ => (
                    format!("*/{step}"),
                    (min..=max).step_by(step as usize).collect(),
                ),
            }
        },
    );
    prop_oneof![
        1 => Just(("*".to_string(), None)),
        3 => prop::collection::vec(item, 1..4).prop_map(|items| {
            let text = items.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>().join(",");
            let set = items.into_iter().flat_map(|(_, s)| s).collect();
            (text, Some(set))
        }),
    ]
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

type Field = (String, Option<BTreeSet<u32>>);

fn a_cron_line() -> impl Strategy<Value = [Field; 5]> {
    (
        a_field(0, 59, &[]),
        a_field(0, 23, &[]),
        a_field(1, 31, &[]),
        a_field(1, 12, MONTHS),
        a_field(0, 7, WEEKDAYS),
    )
        .prop_map(|(m, h, d, mo, w)| [m, h, d, mo, w])
}

fn selects(field: &Field, v: u32) -> bool {
    field.1.as_ref().is_none_or(|s| s.contains(&v))
}

fn job(cron: &str) -> JobConfig {
    JobConfig {
        timezone: "UTC".into(),
        ..JobConfig::new("p", cron, &["status"])
    }
}

proptest! {
    #![proptest_config(cases(128))]

    /// A line in crontab's grammar is accepted; it has a next run exactly
    /// when some month has a day it names (else it is said never to fire),
    /// and every next run is a time it names.
    #[test]
    fn an_accepted_cron_line_has_a_next_run_or_is_said_never_to_fire(fields in a_cron_line()) {
        let line = fields.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(" ");
        let job = job(&line);
        let accepted = schedule::validate(&job, &|_: &[String]| true);
        prop_assert!(accepted.is_ok(), "{line}: {:?}", accepted.err());
        let [minute, hour, day, month, weekday] = &fields;
        // Leap years come often enough before 2100 for every weekday.
        let days_in = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let a_day_exists = (1..=12u32)
            .any(|m| selects(month, m) && (1..=days_in[m as usize - 1]).any(|d| selects(day, d)));
        let t0: DateTime<Utc> = "2026-11-24T10:00:05Z".parse().unwrap();
        let runs = schedule::next_times(&job, t0, 3);
        prop_assert_eq!(schedule::never_fires(&job).is_some(), !a_day_exists, "{}", line);
        prop_assert_eq!(runs.is_empty(), !a_day_exists, "{}", line);
        let mut last = t0;
        for t in runs {
            prop_assert!(t > last, "{line}: {t} after {last}");
            last = t;
            let wd = t.weekday().num_days_from_sunday();
            prop_assert!(t.second() == 0 && selects(minute, t.minute()) && selects(hour, t.hour())
                && selects(month, t.month()), "{line}: {t}");
            // Both restricted: runs on days that match both (crontab(5) would
            // take either; see docs/fuzzing.md).
            prop_assert!(selects(day, t.day()) && (selects(weekday, wd) || selects(weekday, wd + 7)),
                "{line}: {t}");
        }
    }
}
