//! Secrets (Linkbest postback tokens, iGV HMAC keys, app secrets) that must never reach a log line.

use std::fmt;

/// A secret value. `Debug` and `Display` never show it; only [`Secret::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for computing a signature. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Parses a comma-separated list of secrets (for rotation: any one of them is accepted).
/// Whitespace around each entry is trimmed and empty entries are dropped.
pub fn parse_secret_list(list: &str) -> Vec<Secret> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn list_is_trimmed_and_empty_entries_dropped() {
        let list = parse_secret_list(" a , b,,  ,c ");
        let exposed: Vec<&str> = list.iter().map(Secret::expose).collect();
        assert_eq!(exposed, ["a", "b", "c"]);
        assert!(parse_secret_list(" , ").is_empty());
    }
}
