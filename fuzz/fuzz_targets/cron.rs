//! Cron lines and the job loader. The input is tried as a cron line (each
//! accepted line's next runs computed in UTC, local time and zones around
//! their daylight-saving changes) and as a config file whose `[[jobs]]` are
//! loaded and checked as the daemon does.
#![no_main]

use chrono::{DateTime, Utc};
use elysiactl::base::config::{Config, JobConfig};
use elysiactl::schedule;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

/// Starts just before daylight-saving changes (and one ordinary day), where
/// local times are skipped or happen twice.
const STARTS: &[(&str, &str)] = &[
    ("UTC", "2026-11-24T10:00:05Z"),
    ("America/New_York", "2026-03-08T06:00:00Z"),
    ("America/New_York", "2026-11-01T05:00:00Z"),
    ("Europe/Berlin", "2026-03-29T00:00:00Z"),
    ("Europe/Berlin", "2026-10-25T00:00:00Z"),
    // Daylight saving of half an hour.
    ("Australia/Lord_Howe", "2026-04-04T14:00:00Z"),
    ("local", "2026-11-24T10:00:05Z"),
];

fn job(cron: &str, timezone: &str) -> JobConfig {
    JobConfig {
        timezone: timezone.into(),
        ..JobConfig::new("fuzz", cron, &["status"])
    }
}

/// A job's next runs: later than the start and each later than the last.
fn check_next_runs(job: &JobConfig, after: DateTime<Utc>) {
    let runs = schedule::next_times(job, after, 4);
    let mut last = after;
    for t in runs {
        assert!(
            t > last,
            "{:?} in {:?}: {t} after {last}",
            job.cron,
            job.timezone
        );
        last = t;
    }
}

fn catalog() -> &'static elysiactl::script::catalog::Catalog {
    static CATALOG: OnceLock<elysiactl::script::catalog::Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| elysiactl::script::catalog::Catalog::builtin().expect("bundled scripts"))
}

fn cron_line(line: &str) {
    match schedule::cron_expr::parse(line) {
        Ok(_) => {
            for (zone, start) in STARTS {
                let after: DateTime<Utc> = start.parse().expect("a start time");
                check_next_runs(&job(line, zone), after);
            }
            let _ = schedule::never_fires(&job(line, "UTC"));
        }
        Err(e) => {
            assert!(
                !e.reason.trim().is_empty(),
                "{line:?} refused without a reason"
            );
            // The message underlines the field at fault.
            let _ = e.to_string();
        }
    }
}

fn jobs_file(text: &str) {
    let path = Path::new("/fuzz/config.toml");
    let Ok(cfg) = Config::parse_file(text, Some(path)) else {
        return;
    };
    if cfg.check_loaded(Some(text), path).is_err() {
        return;
    }
    let exists = |words: &[String]| catalog().find_command(words);
    if schedule::validate_all(&cfg.jobs, text, &exists).is_err() {
        return;
    }
    let after: DateTime<Utc> = "2026-11-24T10:00:05Z".parse().expect("a start time");
    for job in &cfg.jobs {
        check_next_runs(job, after);
        let _ = schedule::never_fires(job);
        // What the daemon does with a loaded job's settings.
        schedule::parse_duration(&job.timeout, "timeout").expect("validated");
        if !job.jitter.is_empty() {
            schedule::parse_duration(&job.jitter, "jitter").expect("validated");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if !text.contains('\n') {
        cron_line(text);
    }
    jobs_file(text);
});
