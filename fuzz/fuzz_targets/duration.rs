//! Durations, as flags, config values and scripts give them: text
//! (`parse_duration`, and `to_duration` of a string) and numbers of seconds
//! (`to_duration` of a JSON number, from the input's first bytes). Every
//! accepted duration is at most `MAX_DURATION`, can be added to the clock,
//! and its `format_duration` text reads back as about the same duration.
#![no_main]

use elysiactl::base::units::{self as time, MAX_DURATION};
use libfuzzer_sys::fuzz_target;
use serde_json::{Number, Value};
use std::time::Duration;

/// How far `format_duration` rounds: a tenth of a second below ten seconds,
/// whole seconds above.
fn precision(d: Duration) -> Duration {
    if d < Duration::from_secs(10) {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    }
}

fn accepted(d: Duration, shown: &str) {
    assert!(d <= MAX_DURATION, "{shown} gave {d:?}");
    let _ = time::deadline_after(d);
    let _ = std::time::Instant::now() + d;
    let text = time::format_duration(d);
    let back = time::parse_duration(&text)
        .unwrap_or_else(|e| panic!("{shown} formats as {text:?}, which does not parse: {e}"));
    assert!(
        back.abs_diff(d) <= precision(d),
        "{shown} is {d:?}, formats as {text:?}, reads back as {back:?}"
    );
}

fn number(n: Number) {
    let shown = n.to_string();
    if let Ok(d) = time::to_duration(&Value::Number(n)) {
        accepted(d, &shown);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = time::parse_duration(text);
        let via_value = time::to_duration(&Value::String(text.to_string()));
        assert_eq!(parsed.is_ok(), via_value.is_ok(), "{text:?}");
        match parsed {
            Ok(d) => {
                accepted(d, &format!("{text:?}"));
                assert_eq!(time::parse_positive_duration(text).is_ok(), !d.is_zero());
                assert!(elysiactl::schedule::parse_duration(text, "timeout").is_ok());
            }
            Err(e) => {
                assert!(!e.message.is_empty() && !e.hint.is_empty(), "{text:?}");
                assert!(time::parse_positive_duration(text).is_err());
            }
        }
    }
    if let Some(bytes) = data.get(..8) {
        let bytes: [u8; 8] = bytes.try_into().expect("eight bytes");
        if let Some(n) = Number::from_f64(f64::from_le_bytes(bytes)) {
            number(n);
        }
        number(Number::from(i64::from_le_bytes(bytes)));
        number(Number::from(u64::from_le_bytes(bytes)));
    }
});
