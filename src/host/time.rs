//! Time helpers for scripts: durations as text ("30s", "2m 30s"), sleeping,
//! timestamps.

use super::{read, Args, Host, HostFn, Ty};
use crate::base::error::HostResult;
use crate::base::units::{deadline_after, format_duration, to_duration};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn sleep(host: &Host, a: &Args) -> HostResult<Value> {
    let d = to_duration(&a.value(0))?;
    crate::base::cancel::check_interrupt()?;
    // Sleep in slices so a script's wall-clock limit and Ctrl-C stay responsive.
    let deadline = deadline_after(d);
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        std::thread::sleep(left.min(Duration::from_millis(100)));
        crate::base::cancel::check_interrupt()?;
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

pub fn functions() -> Vec<HostFn> {
    vec![
        read("time", "sleep", sleep)
            .param("duration", Ty::Duration)
            .returns(Ty::Null)
            .doc("Pause the script, e.g. time.sleep(\"2s\"). Counts against the script's wall-clock limit."),
        read("time", "seconds", seconds)
            .param("duration", Ty::Duration)
            .returns(Ty::Number)
            .doc("Seconds in a duration: time.seconds(\"1m 30s\") is 90."),
        read("time", "now", now)
            .returns(Ty::Number)
            .doc("Seconds since the Unix epoch."),
        read("time", "format", format)
            .param("duration", Ty::Duration)
            .returns(Ty::Str)
            .doc("A duration as text: time.format(3725) is \"1h 2m 5s\"."),
    ]
}
