//! Secrets (Linkbest postback tokens, iGV HMAC keys, app secrets) that must never reach a log line,
//! and where they come from ([`list`]: a plain variable, or AWS Secrets Manager by ARN).

pub mod list;

use std::fmt;

pub use list::{SecretError, SecretList, SecretSetting};

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

/// Whether `received_hex` (hex, either case) equals the `N`-byte signature that `expected`
/// computes with any of `secrets`. Each comparison runs in constant time and every secret is
/// tried, so timing tells neither the signature nor which secret matched.
pub fn any_secret_signs<const N: usize>(
    received_hex: &str,
    secrets: &[Secret],
    expected: impl Fn(&str) -> [u8; N],
) -> bool {
    use subtle::ConstantTimeEq;
    let mut received = [0u8; N];
    if hex::decode_to_slice(received_hex.as_bytes(), &mut received).is_err() {
        return false;
    }
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        matched |= expected(secret.expose()).ct_eq(&received);
    }
    bool::from(matched)
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
    fn any_secret_signs_compares_hex_of_either_case_against_every_secret() {
        let secrets = [Secret::new("a"), Secret::new("b")];
        let sig = |s: &str| [s.as_bytes()[0]; 2];
        assert!(any_secret_signs("6262", &secrets, sig));
        assert!(any_secret_signs("6161", &secrets, sig));
        assert!(!any_secret_signs("6363", &secrets, sig));
        assert!(!any_secret_signs("626", &secrets, sig), "odd length");
        assert!(!any_secret_signs("626262", &secrets, sig), "wrong length");
        assert!(!any_secret_signs("zzzz", &secrets, sig));
        assert!(!any_secret_signs("6161", &[], sig));
        let upper = |_: &str| [0xab, 0xcd];
        assert!(any_secret_signs("ABCD", &secrets, upper) && any_secret_signs("abcd", &secrets, upper));
    }

    #[test]
    fn list_is_trimmed_and_empty_entries_dropped() {
        let list = parse_secret_list(" a , b,,  ,c ");
        let exposed: Vec<&str> = list.iter().map(Secret::expose).collect();
        assert_eq!(exposed, ["a", "b", "c"]);
        assert!(parse_secret_list(" , ").is_empty());
    }
}
