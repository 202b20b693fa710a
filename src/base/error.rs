//! One error type for the whole host API. It carries a category and a hint so
//! that the place that knows what went wrong also says what to do about it;
//! scripts see the same three fields, and the top level only prints them.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Network,
    Weaviate,
    FileSystem,
    RateLimit,
    Memory,
    Encoding,
    Timeout,
    Validation,
    Unknown,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Network,
        Category::Weaviate,
        Category::FileSystem,
        Category::RateLimit,
        Category::Memory,
        Category::Encoding,
        Category::Timeout,
        Category::Validation,
        Category::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Network => "network",
            Category::Weaviate => "weaviate",
            Category::FileSystem => "file_system",
            Category::RateLimit => "rate_limit",
            Category::Memory => "memory",
            Category::Encoding => "encoding",
            Category::Timeout => "timeout",
            Category::Validation => "validation",
            Category::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Category {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(Category::Unknown)
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Category::Network | Category::RateLimit | Category::Timeout
        )
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostError {
    pub category: Category,
    pub message: String,
    /// What the operator can do about it. Empty when there is nothing useful to say.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
    /// Exit code the CLI should use when this error ends a command.
    #[serde(skip)]
    pub exit_code: i32,
}

pub type HostResult<T> = Result<T, HostError>;

impl HostError {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        // Errors quote URLs and server answers; a password in one must not
        // travel on to a terminal, a script or a stored record.
        let message: String = message.into();
        HostError {
            category,
            message: crate::base::redact::text(&message).into_owned(),
            hint: String::new(),
            exit_code: 1,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint: String = hint.into();
        self.hint = crate::base::redact::text(&hint).into_owned();
        self
    }

    pub fn with_exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Category::Validation, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Category::Network, message)
    }
    pub fn weaviate(message: impl Into<String>) -> Self {
        Self::new(Category::Weaviate, message)
    }
    pub fn fs(message: impl Into<String>) -> Self {
        Self::new(Category::FileSystem, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(Category::Timeout, message)
    }
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(Category::Unknown, message)
    }

    /// A file-system error that names the path it happened on.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let category = match err.kind() {
            std::io::ErrorKind::OutOfMemory => Category::Memory,
            std::io::ErrorKind::InvalidData => Category::Encoding,
            std::io::ErrorKind::TimedOut => Category::Timeout,
            _ => Category::FileSystem,
        };
        HostError::new(category, format!("{context}: {err}"))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "category": self.category.as_str(),
            "message": self.message,
            "hint": self.hint,
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Option<HostError> {
        let obj = v.as_object()?;
        let message = obj.get("message")?.as_str()?.to_string();
        let category = obj
            .get("category")
            .and_then(|c| c.as_str())
            .map(Category::parse)
            .unwrap_or(Category::Unknown);
        let hint = obj
            .get("hint")
            .and_then(|h| h.as_str())
            .unwrap_or_default()
            .to_string();
        // An error never exits 0 (nor with a code the shell would wrap).
        let exit_code = obj
            .get("exit_code")
            .and_then(|c| c.as_i64())
            .filter(|c| (1..=255).contains(c))
            .unwrap_or(1) as i32;
        Some(HostError {
            category,
            message: crate::base::redact::text(&message).into_owned(),
            hint: crate::base::redact::text(&hint).into_owned(),
            exit_code,
        })
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.category, self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for HostError {}

/// How a value's type reads in a message: "must be a string, got a number".
pub fn type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_category_and_hint() {
        let e = HostError::network("node weaviate-1 refused the connection")
            .with_hint("start it with `elysiactl weaviate start`");
        let back = HostError::from_json(&e.to_json()).unwrap();
        assert_eq!(back.category, Category::Network);
        assert_eq!(back.hint, e.hint);
        assert!(back.category.is_retryable());
        assert!(!Category::Validation.is_retryable());
    }

    #[test]
    fn category_names_parse_back() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), c);
        }
        assert_eq!(Category::parse("nonsense"), Category::Unknown);
    }
}
