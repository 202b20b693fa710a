//! The scheduler: jobs declared as `[[jobs]]` in the config file, checked
//! when added or loaded, run by the daemon at their cron times, every run
//! recorded in an embedded store.

pub mod cron_expr;
pub mod daemon;
pub mod history;

use crate::base::config::JobConfig;
use crate::base::error::{HostError, HostResult};
use chrono::{DateTime, Local, Utc};
use std::path::Path;
use std::time::Duration;

/// A cron line, five fields (minute first) or six (second first); the
/// error says which field is wrong and why, with the line underlined.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    cron_expr::parse(expr).map_err(|e| e.to_string())
}

pub fn parse_duration(s: &str, what: &str) -> HostResult<Duration> {
    crate::base::units::parse_duration(s).map_err(|_| {
        HostError::validation(format!("{what} {s:?} is not a duration"))
            .with_hint("write it like 30s, 10m or 1h")
    })
}

pub enum Zone {
    Local,
    Utc,
    Named(chrono_tz::Tz),
}

/// "local" (or empty), "UTC", or an IANA name such as "Europe/Berlin".
pub fn zone(name: &str) -> Option<Zone> {
    match name.trim() {
        "" => Some(Zone::Local),
        n if n.eq_ignore_ascii_case("local") => Some(Zone::Local),
        n if n.eq_ignore_ascii_case("utc") => Some(Zone::Utc),
        n => n.parse::<chrono_tz::Tz>().ok().map(Zone::Named),
    }
}

/// The next `n` times a job fires after `after`, in its time zone, each
/// later than the one before.
pub fn next_times(job: &JobConfig, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let Ok(s) = parse_cron(&job.cron) else {
        return Vec::new();
    };
    let times: Box<dyn Iterator<Item = DateTime<Utc>>> = match zone(&job.timezone) {
        Some(Zone::Utc) => Box::new(s.after(&after)),
        Some(Zone::Named(tz)) => Box::new(
            s.after(&after.with_timezone(&tz))
                .map(|t| t.with_timezone(&Utc)),
        ),
        _ => Box::new(
            s.after(&after.with_timezone(&Local))
                .map(|t| t.with_timezone(&Utc)),
        ),
    };
    // In the hour a clock turns back, the crate gives each repeated local
    // time at both offsets, the earlier first, and goes on from the later:
    // the earlier of the next pair lies before what it already gave. Such a
    // time taken as the next run is due at once, again and again.
    let mut last = after;
    times
        .filter(|t| {
            let forward = *t > last;
            if forward {
                last = *t;
            }
            forward
        })
        .take(n)
        .collect()
}

/// Why a job that parses can still never run (`0 0 30 2 *`: February has
/// no 30th), or `None` when it has a next run.
pub fn never_fires(job: &JobConfig) -> Option<String> {
    if parse_cron(&job.cron).is_err() || !next_times(job, Utc::now(), 1).is_empty() {
        return None;
    }
    Some(format!(
        "cron expression {:?} never fires: no date matches it (a 30th or 31st in a month too short?)",
        job.cron
    ))
}

/// Whether a command (its leading words) names a command of the tool.
pub type CommandExists<'a> = &'a dyn Fn(&[String]) -> bool;

/// Everything that can be wrong with one job, said with the fix.
pub fn validate(job: &JobConfig, command_exists: CommandExists) -> Result<(), String> {
    if job.name.is_empty()
        || !job
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "job name {:?} must be letters, digits, - or _",
            job.name
        ));
    }
    parse_cron(&job.cron)
        .map_err(|e| format!("cron expression {:?} does not parse: {e}", job.cron))?;
    match (job.command.is_empty(), job.playbook.is_empty()) {
        (true, true) => return Err("a job needs a command (after --) or a playbook".into()),
        (false, false) => return Err("a job runs a command or a playbook, not both".into()),
        (false, true) => {
            if !command_exists(&job.command) {
                return Err(format!(
                    "unknown command `{}`; `elysiactl commands` lists them",
                    job.command.join(" ")
                ));
            }
        }
        (true, false) => {
            if !Path::new(&job.playbook).is_file() {
                return Err(format!("playbook {} does not exist", job.playbook));
            }
            if !job.playbook.ends_with(".rhai") && !job.playbook.ends_with(".lua") {
                return Err(format!(
                    "playbook {} is neither .rhai nor .lua",
                    job.playbook
                ));
            }
        }
    }
    if parse_duration(&job.timeout, "timeout").map_err(|e| e.message)? == Duration::ZERO {
        return Err(format!(
            "timeout {:?} would stop every run as it starts; give the longest a run may take, e.g. 10m",
            job.timeout
        ));
    }
    if !job.jitter.is_empty() {
        parse_duration(&job.jitter, "jitter").map_err(|e| e.message)?;
    }
    if !["skip", "allow"].contains(&job.overlap.as_str()) {
        return Err(format!("overlap {:?} must be skip or allow", job.overlap));
    }
    if !["skip", "once"].contains(&job.missed.as_str()) {
        return Err(format!("missed {:?} must be skip or once", job.missed));
    }
    if zone(&job.timezone).is_none() {
        return Err(format!(
            "timezone {:?} is not known; use \"local\", \"UTC\" or an IANA name such as \"Europe/Berlin\"",
            job.timezone
        ));
    }
    Ok(())
}

/// Check every job of a config file, naming the line of the bad one.
pub fn validate_all(
    jobs: &[JobConfig],
    config_text: &str,
    command_exists: CommandExists,
) -> HostResult<()> {
    let mut names = std::collections::HashSet::new();
    for job in jobs {
        let line = config_text
            .lines()
            .position(|l| {
                l.contains(&format!("\"{}\"", job.name)) && l.trim_start().starts_with("name")
            })
            .map(|i| i + 1);
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        if !names.insert(job.name.clone()) {
            return Err(
                HostError::validation(format!("job {:?}{at} is declared twice", job.name))
                    .with_hint("give every [[jobs]] entry its own name"),
            );
        }
        validate(job, command_exists).map_err(|e| {
            HostError::validation(format!("job {:?}{at}: {e}", job.name)).with_hint(
                "fix the [[jobs]] entry in the config file, or `elysiactl schedule remove` it",
            )
        })?;
    }
    Ok(())
}

/// Change the `[[jobs]]` of the config file as the file says now (read
/// under the writers' lock, so concurrent changes are kept), keeping
/// everything else (comments included) as the user wrote it. `change` may
/// refuse, and then nothing is written.
pub fn update_jobs<T>(
    config_file: &Path,
    change: impl FnOnce(&mut Vec<JobConfig>) -> HostResult<T>,
) -> HostResult<T> {
    /// Only the jobs; the rest of the file is checked whole after the change.
    #[derive(serde::Deserialize)]
    struct Jobs {
        #[serde(default)]
        jobs: Vec<JobConfig>,
    }
    crate::base::config::edit_file(config_file, |doc| {
        let mut jobs = toml::from_str::<Jobs>(&doc.to_string())
            .map_err(|e| {
                HostError::validation(format!(
                    "the [[jobs]] of {} do not load: {}",
                    config_file.display(),
                    e.message().trim()
                ))
                .with_hint("fix the [[jobs]] entries in the config file first")
            })?
            .jobs;
        let result = change(&mut jobs)?;
        let mut tables = toml_edit::ArrayOfTables::new();
        for job in &jobs {
            let value = toml::to_string(job)
                .map_err(|e| HostError::unknown(format!("cannot write job {}: {e}", job.name)))?;
            let parsed: toml_edit::DocumentMut = value
                .parse()
                .map_err(|e| HostError::unknown(format!("{e}")))?;
            tables.push(parsed.as_table().clone());
        }
        doc.remove("jobs");
        if !tables.is_empty() {
            doc.insert("jobs", toml_edit::Item::ArrayOfTables(tables));
        }
        Ok(result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cron: &str) -> JobConfig {
        JobConfig {
            timezone: "UTC".into(),
            ..JobConfig::new("j", cron, &["status"])
        }
    }

    #[test]
    fn five_and_six_field_lines_parse_and_others_are_refused_with_the_reason() {
        assert!(parse_cron("*/30 * * * *").is_ok());
        assert!(parse_cron("*/5 * * * * *").is_ok());
        assert!(parse_cron("* * *").unwrap_err().contains("3 fields"));
        assert!(parse_cron("61 * * * *").is_err());
        let any = |_: &[String]| true;
        assert!(validate(&job("nope nope * * *"), &any)
            .unwrap_err()
            .contains("does not parse"));
    }

    #[test]
    fn next_times_follow_the_expression() {
        let t0: DateTime<Utc> = "2026-11-24T10:00:05Z".parse().unwrap();
        let next = next_times(&job("*/30 * * * *"), t0, 2);
        assert_eq!(next[0].to_rfc3339(), "2026-11-24T10:30:00+00:00");
        assert_eq!(next[1].to_rfc3339(), "2026-11-24T11:00:00+00:00");
        let secs = next_times(&job("*/10 * * * * *"), t0, 1);
        assert_eq!(secs[0].to_rfc3339(), "2026-11-24T10:00:10+00:00");
        // 08:00 in Berlin is 07:00 UTC in November.
        let mut berlin = job("0 8 * * *");
        berlin.timezone = "Europe/Berlin".into();
        assert_eq!(
            next_times(&berlin, t0, 1)[0].to_rfc3339(),
            "2026-11-25T07:00:00+00:00"
        );
        berlin.timezone = "Mars/Olympus".into();
        let any = |_: &[String]| true;
        assert!(validate(&berlin, &any).unwrap_err().contains("not known"));
    }

    /// In the hour a clock turns back, local times happen twice; the next
    /// runs are still later than `after`, each later than the one before
    /// (the daemon takes an earlier one as due now and would run the job
    /// again at once, all hour). Found by fuzzing (fuzz/ target cron).
    #[test]
    fn next_times_move_forward_through_a_repeated_hour() {
        for (cron, zone, after) in [
            ("*/10 * * * *", "America/New_York", "2026-11-01T06:00:30Z"),
            ("* * * * * *", "America/New_York", "2026-11-01T06:00:01Z"),
            ("30 2 * * *", "Europe/Berlin", "2026-10-25T01:15:00Z"),
            ("*/5 * * * *", "Australia/Lord_Howe", "2026-04-04T15:05:00Z"),
        ] {
            let mut j = job(cron);
            j.timezone = zone.into();
            let after: DateTime<Utc> = after.parse().unwrap();
            let runs = next_times(&j, after, 4);
            assert_eq!(runs.len(), 4, "{cron} in {zone}");
            let mut last = after;
            for t in runs {
                assert!(t > last, "{cron} in {zone}: {t} after {last}");
                last = t;
            }
        }
    }

    #[test]
    fn unknown_commands_and_missing_playbooks_are_refused() {
        let none = |_: &[String]| false;
        assert!(validate(&job("* * * * *"), &none)
            .unwrap_err()
            .contains("unknown command `status`"));
        let mut p = job("* * * * *");
        p.command.clear();
        p.playbook = "/nonexistent/x.rhai".into();
        assert!(validate(&p, &none).unwrap_err().contains("does not exist"));
    }

    #[test]
    fn writing_jobs_keeps_the_rest_of_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.toml");
        std::fs::write(&f, "# my cluster\n[weaviate]\nnodes = 3 # three\n").unwrap();
        update_jobs(&f, |jobs| {
            jobs.push(job("*/5 * * * *"));
            Ok(())
        })
        .unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.contains("# my cluster") && text.contains("nodes = 3 # three"),
            "{text}"
        );
        let cfg = crate::base::config::Config::parse(&text).unwrap();
        assert_eq!(cfg.jobs.len(), 1);
        assert_eq!(cfg.jobs[0].cron, "*/5 * * * *");
        update_jobs(&f, |jobs| {
            jobs.clear();
            Ok(())
        })
        .unwrap();
        assert!(
            crate::base::config::Config::parse(&std::fs::read_to_string(&f).unwrap())
                .unwrap()
                .jobs
                .is_empty()
        );
    }
}
