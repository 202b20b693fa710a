//! Time helpers for scripts: durations as text ("30s", "2m 30s"), sleeping,
//! timestamps.

use super::{read, Args, Host, HostFn};
use crate::error::{HostError, HostResult};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration from seconds (a number) or text ("500ms", "30s", "1h 5m").
pub fn to_duration(v: &Value) -> HostResult<Duration> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(-1.0);
            if secs.is_finite() && secs >= 0.0 {
                Ok(Duration::from_secs_f64(secs))
            } else {
                Err(HostError::validation(format!("{n} is not a duration")))
            }
        }
        Value::String(s) => parse_duration(s),
        other => Err(HostError::validation(format!(
            "{} is not a duration",
            super::args::type_name(other)
        ))),
    }
}

pub fn parse_duration(s: &str) -> HostResult<Duration> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return to_duration(&json!(secs));
    }
    humantime::parse_duration(t).map_err(|e| {
        HostError::validation(format!("{s:?} is not a duration: {e}"))
            .with_hint("write it as \"500ms\", \"30s\", \"2m\" or \"1h 30m\"")
    })
}

fn sleep(host: &Host, a: &Args) -> HostResult<Value> {
    let d = to_duration(&a.value(0))?;
    crate::script::check_interrupt()?;
    // Sleep in slices so a script's wall-clock limit and Ctrl-C stay responsive.
    let deadline = std::time::Instant::now() + d;
    while std::time::Instant::now() < deadline {
        let left = deadline - std::time::Instant::now();
        std::thread::sleep(left.min(Duration::from_millis(100)));
        crate::script::check_interrupt()?;
    }
    let _ = host;
    Ok(Value::Null)
}

fn seconds(_: &Host, a: &Args) -> HostResult<Value> {
    Ok(json!(to_duration(&a.value(0))?.as_secs_f64()))
}

fn now(_: &Host, _: &Args) -> HostResult<Value> {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Ok(json!(t))
}

fn format(_: &Host, a: &Args) -> HostResult<Value> {
    let d = to_duration(&a.value(0))?;
    Ok(json!(format_duration(d)))
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

pub fn functions() -> Vec<HostFn> {
    vec![
        read("time", "sleep", "sleep(duration: string|number) -> null",
            "Pause the script, e.g. time.sleep(\"2s\"). Counts against the script's wall-clock limit.", sleep),
        read("time", "seconds", "seconds(duration: string|number) -> float",
            "Seconds in a duration: time.seconds(\"1m 30s\") is 90.", seconds),
        read("time", "now", "now() -> float", "Seconds since the Unix epoch.", now),
        read("time", "format", "format(duration: string|number) -> string",
            "A duration as text: time.format(3725) is \"1h 2m 5s\".", format),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn durations_format_readably() {
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h 2m 5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
