//! Tolerant, exact reading of partner JSON.
//!
//! Partners send field names in varying case and numbers where strings are documented (and the
//! other way round). [`RawObject`] keeps every member of one JSON object with its raw text, so
//! values are never routed through `f64`: a 19-digit id or `12.50` stays exactly what was sent.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The members of one JSON object, in document order, each value kept as raw JSON text.
#[derive(Debug)]
pub struct RawObject<'a> {
    members: Vec<(String, &'a RawValue)>,
}

/// Two members that match one field name (ignoring case, or by alias) carry different values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field} is given more than once with different values")]
pub struct Ambiguous {
    pub field: &'static str,
}

impl<'a> RawObject<'a> {
    /// Parses `text`, which must be exactly one JSON object (nothing before or after it).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads a raw value as an object, if it is one.
    pub fn from_raw(value: &'a RawValue) -> Option<Self> {
        if !value.get().starts_with('{') {
            return None;
        }
        serde_json::from_str(value.get()).ok()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The value of the field `field`, matching member names against `field` and `aliases`
    /// without regard to ASCII case. `Ok(None)` when absent. Members that match more than once
    /// are accepted when their raw values are identical and refused otherwise.
    pub fn field(&self, field: &'static str, aliases: &[&str]) -> Result<Option<&'a RawValue>, Ambiguous> {
        let mut found: Option<&'a RawValue> = None;
        for (name, value) in &self.members {
            let matches =
                name.eq_ignore_ascii_case(field) || aliases.iter().any(|a| name.eq_ignore_ascii_case(a));
            if !matches {
                continue;
            }
            match found {
                Some(previous) if previous.get() != value.get() => return Err(Ambiguous { field }),
                _ => found = Some(value),
            }
        }
        Ok(found)
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some((name, value)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((name, value));
                }
                Ok(RawObject { members })
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A scalar JSON value as text: a string's content, or a number's literal as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScalarText {
    String(String),
    Number(String),
}

impl ScalarText {
    pub fn as_str(&self) -> &str {
        match self {
            ScalarText::String(s) | ScalarText::Number(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            ScalarText::String(s) | ScalarText::Number(s) => s,
        }
    }
}

/// What a raw value holds when a scalar was wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    Null,
    Bool,
    Array,
    Object,
}

/// Reads a raw value as a string or number, exactly as sent.
pub fn scalar_text(value: &RawValue) -> Result<ScalarText, RawKind> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text)
            .map(ScalarText::String)
            // A raw value that starts with a quote was already validated as a JSON string.
            .map_err(|_| RawKind::Object),
        Some(b'-' | b'0'..=b'9') => Ok(ScalarText::Number(text.to_owned())),
        Some(b'n') => Err(RawKind::Null),
        Some(b't' | b'f') => Err(RawKind::Bool),
        Some(b'[') => Err(RawKind::Array),
        _ => Err(RawKind::Object),
    }
}

/// True when `s` is a non-empty run of ASCII digits (an unsigned integer written plainly).
pub fn is_plain_unsigned_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_text_of_big_numbers_and_decimals() {
        let o = RawObject::parse(r#"{"Id": 123456789012345678901234567890, "Price": 12.50}"#).unwrap();
        let id = o.field("id", &[]).unwrap().unwrap();
        assert_eq!(
            scalar_text(id).unwrap(),
            ScalarText::Number("123456789012345678901234567890".into())
        );
        let price = o.field("PRICE", &[]).unwrap().unwrap();
        assert_eq!(scalar_text(price).unwrap().as_str(), "12.50");
    }

    #[test]
    fn field_names_match_in_any_case_and_by_alias() {
        let o = RawObject::parse(r#"{"pushId": "7", "CrateTime": 5}"#).unwrap();
        assert_eq!(o.field("PushId", &[]).unwrap().unwrap().get(), r#""7""#);
        assert_eq!(o.field("CreateTime", &["CrateTime"]).unwrap().unwrap().get(), "5");
        assert!(o.field("Sign", &[]).unwrap().is_none());
    }

    #[test]
    fn conflicting_duplicates_are_ambiguous_identical_ones_are_not() {
        let o = RawObject::parse(r#"{"PushId": 1, "pushid": 2}"#).unwrap();
        assert_eq!(o.field("PushId", &[]).unwrap_err(), Ambiguous { field: "PushId" });
        let o = RawObject::parse(r#"{"PushId": 1, "PUSHID": 1}"#).unwrap();
        assert_eq!(o.field("PushId", &[]).unwrap().unwrap().get(), "1");
        let o = RawObject::parse(r#"{"CreateTime": 1, "CrateTime": 2}"#).unwrap();
        assert!(o.field("CreateTime", &["CrateTime"]).is_err());
    }

    #[test]
    fn only_one_object_is_accepted() {
        assert!(RawObject::parse("[1,2]").is_err());
        assert!(RawObject::parse("1").is_err());
        assert!(RawObject::parse("{} {}").is_err());
        assert!(RawObject::parse("{").is_err());
        assert!(RawObject::parse("").is_err());
        assert!(RawObject::parse("{}").unwrap().is_empty());
    }

    #[test]
    fn deep_nesting_neither_recurses_nor_crashes() {
        // Member values are skipped over iteratively and kept as raw text, whatever their depth.
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep = format!("{{\"a\":{nested}}}");
        let o = RawObject::parse(&deep).unwrap();
        assert_eq!(o.field("a", &[]).unwrap().unwrap().get(), nested);
        // Unbalanced nesting is an error, not a crash.
        assert!(RawObject::parse(&format!("{{\"a\":{}}}", "[".repeat(100_000))).is_err());
        assert!(RawObject::parse(&nested).is_err());
    }

    #[test]
    fn scalar_kinds() {
        let o = RawObject::parse(r#"{"s":"a\"b","n":-1.5e3,"z":null,"b":true,"a":[],"o":{}}"#).unwrap();
        let get = |k: &'static str| scalar_text(o.field(k, &[]).unwrap().unwrap());
        assert_eq!(get("s").unwrap(), ScalarText::String("a\"b".into()));
        assert_eq!(get("n").unwrap(), ScalarText::Number("-1.5e3".into()));
        assert_eq!(get("z").unwrap_err(), RawKind::Null);
        assert_eq!(get("b").unwrap_err(), RawKind::Bool);
        assert_eq!(get("a").unwrap_err(), RawKind::Array);
        assert_eq!(get("o").unwrap_err(), RawKind::Object);
    }

    #[test]
    fn plain_unsigned_integers() {
        assert!(is_plain_unsigned_integer("0"));
        assert!(is_plain_unsigned_integer("1747642090"));
        assert!(!is_plain_unsigned_integer(""));
        assert!(!is_plain_unsigned_integer("-1"));
        assert!(!is_plain_unsigned_integer("1.0"));
        assert!(!is_plain_unsigned_integer("1e3"));
    }
}
