//! Durations and sizes as people write and read them: "30s", "1h 5m",
//! "1.5 MiB". One parser for every flag, option and config value.

use super::error::{HostError, HostResult};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The longest duration anything accepts (a sleep, a timeout, a job's limit):
/// far beyond any real wait, and far enough below `Duration::MAX` that adding
/// it to the current time cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
const MAX_DURATION_TEXT: &str = "100 years";

fn too_long(what: impl std::fmt::Display) -> HostError {
    HostError::validation(format!(
        "{what} is longer than the longest duration accepted ({MAX_DURATION_TEXT})"
    ))
    .with_hint("write a duration such as \"500ms\", \"30s\", \"10m\" or \"2h\"")
}

/// A duration from seconds (a number) or text ("500ms", "30s", "1h 5m"),
/// between zero and [`MAX_DURATION`].
pub fn to_duration(v: &Value) -> HostResult<Duration> {
    match v {
        Value::Number(n) => from_secs(n.as_f64().unwrap_or(-1.0), &n.to_string()),
        Value::String(s) => parse_duration(s),
        other => Err(HostError::validation(format!(
            "{} is not a duration",
            super::error::type_name(other)
        ))),
    }
}

/// Seconds as a duration; `shown` is the value as the user wrote it.
fn from_secs(secs: f64, shown: &str) -> HostResult<Duration> {
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(HostError::validation(format!("{shown} is not a duration"))
            .with_hint("give a number of seconds of 0 or more, or text such as \"30s\""));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(too_long(format_args!("{shown} seconds"))),
    }
}

/// Text as a duration: a number of seconds ("2.5") or humantime's units
/// ("500ms", "1h 30m"), between zero and [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> HostResult<Duration> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return from_secs(secs, &format!("{t:?}"));
    }
    let d = humantime::parse_duration(t).map_err(|e| {
        HostError::validation(format!("{s:?} is not a duration: {e}"))
            .with_hint("write it as \"500ms\", \"30s\", \"2m\" or \"1h 30m\"")
    })?;
    if d > MAX_DURATION {
        return Err(too_long(format_args!("{s:?}")));
    }
    Ok(d)
}

/// Like [`parse_duration`], for limits where zero makes no sense (a job's
/// timeout: every run would time out at once).
pub fn parse_positive_duration(s: &str) -> HostResult<Duration> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(
            HostError::validation(format!("{s:?} is zero; this must be longer than that"))
                .with_hint("give a duration such as \"30s\" or \"10m\""),
        );
    }
    Ok(d)
}

/// The instant `d` from now, or the far future when that cannot be
/// represented (a timeout from a config value no clock can reach).
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(MAX_DURATION))
        .unwrap_or(now)
}

/// "1h 2m 3s" style, at second precision above a minute.
pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        let ms = d.as_millis();
        if ms < 10_000 {
            return format!("{:.1}s", d.as_secs_f64());
        }
        return format!("{}s", d.as_secs());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A size in bytes written "300MiB", "300M", "1.5GiB", "64k" or a plain
/// number of bytes (binary units: K, M and G are 1024-based).
pub fn parse_bytes(s: &str) -> HostResult<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => 0,
    };
    match num.parse::<f64>() {
        Ok(n) if factor > 0 && n > 0.0 && (n * factor as f64) < 1e18 => {
            Ok((n * factor as f64) as u64)
        }
        _ => Err(HostError::validation(format!("{s:?} is not a size"))
            .with_hint("give a size above 0 like 300MiB, 1GiB or 512M")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("300MiB").unwrap(), 300 << 20);
        assert_eq!(parse_bytes("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes(" 64 k").unwrap(), 64 << 10);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0M").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
    }

    #[test]
    fn durations_parse_both_ways() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(to_duration(&json!(3)).unwrap(), Duration::from_secs(3));
        let e = parse_duration("soon").unwrap_err();
        assert!(e.hint.contains("30s"));
        assert!(to_duration(&json!(-1)).is_err());
    }

    #[test]
    fn durations_too_long_for_the_clock_are_refused_not_panicking() {
        for text in [
            "1e300",
            "1e20",
            "inf",
            "NaN",
            "-5",
            "200y",
            "9999999999999999y",
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(!e.message.is_empty() && !e.hint.is_empty(), "{text}: {e}");
        }
        let e = to_duration(&json!(1e300)).unwrap_err();
        assert!(e.message.contains("100 years"), "{}", e.message);
        let e = parse_duration("200y").unwrap_err();
        assert!(e.message.contains("longer than"), "{}", e.message);
        assert_eq!(
            parse_duration("99y").unwrap(),
            Duration::from_secs(99 * 31_557_600)
        );
        assert_eq!(to_duration(&json!(0)).unwrap(), Duration::ZERO);
        // Whatever was accepted can be added to the clock.
        let _ = Instant::now() + MAX_DURATION;
    }

    #[test]
    fn positive_durations_refuse_zero() {
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_positive_duration("0s").is_err());
        assert_eq!(
            parse_positive_duration("1s").unwrap(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn deadlines_saturate() {
        assert!(deadline_after(Duration::MAX) > Instant::now());
    }

    #[test]
    fn durations_format_readably() {
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h 2m 5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12), "12 B");
    }
}
