//! Secrets out of everything the tool prints: `config show`, JSON, script
//! output, dry-run plans, log lines, exports and error texts all pass through
//! here, so the rule of what counts as a secret is written once.
//!
//! Three rules: a value under a key whose name says it is secret (`*KEY*`,
//! `*TOKEN*`, `*PASSWORD*`, …); the `user:password@` part of any URL, and its
//! query parameters with such names; and any value the configuration holds
//! as a secret, wherever it turns up (a key echoed back by a server, say).

use serde_json::Value;
use std::borrow::Cow;
use std::sync::{OnceLock, RwLock};

/// What a secret prints as.
pub const MASK: &str = "***";

/// Words that make a setting's name a secret. Over-matching only hides a value.
const SECRET_WORDS: &[&str] = &[
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "CREDENTIAL",
    "PRIVATE",
];

/// Suffixes of names that mention a secret without holding one: the name of
/// the variable that holds it, a switch, a file or path where it is kept.
const NOT_SECRET_SUFFIXES: &[&str] = &["_ENV", "_ENABLED", "_FILE", "_PATH", "_USERS"];

/// Shorter remembered values are not searched for in free text: they would
/// mask ordinary words and numbers.
const MIN_REMEMBERED_LEN: usize = 6;

/// Whether a setting or variable of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
        && !NOT_SECRET_SUFFIXES.iter().any(|s| upper.ends_with(s))
}

fn remembered() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Mask `secret` wherever it appears in text printed from now on. A list
/// (comma-separated keys) is remembered item by item too.
pub fn remember(secret: &str) {
    let mut all = remembered().write().unwrap_or_else(|p| p.into_inner());
    for s in std::iter::once(secret).chain(secret.split(',')) {
        let s = s.trim();
        if s.len() >= MIN_REMEMBERED_LEN && !all.iter().any(|x| x == s) {
            all.push(s.to_string());
        }
    }
    // Longest first, so a list is masked whole before its items.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// The value a setting should print as: masked when its name says secret,
/// unless it is empty (unset) or a plain switch.
fn mask_setting(value: &str) -> bool {
    !value.is_empty() && !["true", "false"].contains(&value.trim().to_ascii_lowercase().as_str())
}

/// A copy of `text` with URL credentials and remembered secrets masked.
pub fn text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if text.contains("://") {
        if let Some(scrubbed) = scrub_urls(&out) {
            out = Cow::Owned(scrubbed);
        }
    }
    let all = remembered().read().unwrap_or_else(|p| p.into_inner());
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// Masks, in place, every secret in a JSON value: values under secret names,
/// and `text`'s rules in every string.
pub fn json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let secret_name = is_secret_name(k);
                match item {
                    Value::String(s) if secret_name && mask_setting(s) => *s = MASK.into(),
                    Value::Number(_) if secret_name => *item = Value::String(MASK.into()),
                    _ => json(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        Value::String(s) => {
            if let Cow::Owned(clean) = text(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// A redacted copy of a JSON value.
pub fn json_copy(v: &Value) -> Value {
    let mut copy = v.clone();
    json(&mut copy);
    copy
}

/// Characters that end a URL inside free text.
fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',' | '\\'
        )
}

/// Masks `user:password@` (or a lone `token@`) after every `scheme://`, and
/// the values of secret-named query parameters. `None` when nothing changed.
fn scrub_urls(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(ends_url).unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(i) => {
                let user = &authority[..i];
                // Keep the user name (it says which account), mask the password.
                if let Some((name, _)) = user.split_once(':') {
                    out.push_str(name);
                    out.push(':');
                }
                out.push_str(MASK);
                out.push_str(&authority[i..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        match path.split_once('?') {
            Some((p, query)) => {
                out.push_str(p);
                out.push('?');
                let pairs: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, v)) if is_secret_name(k) && !v.is_empty() => {
                            changed = true;
                            format!("{k}={MASK}")
                        }
                        _ => pair.to_string(),
                    })
                    .collect();
                out.push_str(&pairs.join("&"));
            }
            None => out.push_str(path),
        }
        rest = tail;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// A writer that masks what passes through it. `tracing`'s fmt layer writes
/// one formatted event per call, so a secret is never split between writes.
pub struct Masking<W: std::io::Write>(pub W);

impl<W: std::io::Write> std::io::Write for Masking<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        self.0.write_all(text(&line).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Standard error, masked: the log writer.
pub fn stderr() -> Masking<std::io::Stderr> {
    Masking(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_names_are_recognised_and_their_neighbours_are_not() {
        for name in [
            "AUTHENTICATION_APIKEY_ALLOWED_KEYS",
            "OPENAI_API_KEY",
            "api_key",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "LOG_LEVEL",
            "api_key_env",
            "AUTHENTICATION_APIKEY_ENABLED",
            "AUTHENTICATION_APIKEY_USERS",
            "embedding_url",
            "host",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn url_credentials_and_secret_query_parameters_are_masked() {
        assert_eq!(
            text("GET http://user:pa55@host:8080/v1?x=1&api_key=abc failed"),
            "GET http://user:***@host:8080/v1?x=1&api_key=*** failed"
        );
        assert_eq!(
            text("clone https://ghp_token123@github.com/o/r.git: denied"),
            "clone https://***@github.com/o/r.git: denied"
        );
        assert_eq!(text("(\"https://a:b@h/p\")"), "(\"https://a:***@h/p\")");
        // Nothing to mask: the text comes back as it was, not copied.
        assert!(matches!(
            text("plain http://host:1/v1 words"),
            Cow::Borrowed(_)
        ));
        // An @ in a path is not a password.
        assert_eq!(text("http://host/users/@me"), "http://host/users/@me");
    }

    #[test]
    fn json_masks_by_name_and_by_url_but_keeps_switches_and_unset_values() {
        let mut v = json!({
            "env": {"OPENAI_API_KEY": "sk-1", "AUTHENTICATION_APIKEY_ENABLED": "true", "LOG_LEVEL": "info"},
            "api_key": "",
            "port_key": 5,
            "urls": ["http://u:p@h/"],
        });
        json(&mut v);
        assert_eq!(v["env"]["OPENAI_API_KEY"], MASK);
        assert_eq!(v["env"]["AUTHENTICATION_APIKEY_ENABLED"], "true");
        assert_eq!(v["env"]["LOG_LEVEL"], "info");
        assert_eq!(v["api_key"], "");
        assert_eq!(v["port_key"], MASK);
        assert_eq!(v["urls"][0], "http://u:***@h/");
    }

    #[test]
    fn remembered_secrets_are_masked_in_any_text() {
        remember("remembered-secret-one,remembered-secret-two");
        remember("short");
        assert_eq!(
            text("server said: bad key remembered-secret-two (short)"),
            "server said: bad key *** (short)"
        );
        assert_eq!(
            text("x remembered-secret-one,remembered-secret-two y"),
            "x *** y"
        );
    }

    #[test]
    fn log_events_pass_through_the_mask() {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Masking(sink.clone()))
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("fetching http://bot:hunter22@h/x failed");
        });
        let logged = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("http://bot:***@h/x failed"), "{logged}");
        assert!(!logged.contains("hunter22"), "{logged}");
    }
}
