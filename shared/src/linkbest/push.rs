//! Linkbest "Order Push 2.0": parsing and signature verification (pure, no I/O).
//!
//! Linkbest POSTs one order event as a JSON object with `PushId`, `EventType`, `CreateTime`,
//! `Sign` and `Data`, signed with `md5(token + EventType + PushId + CreateTime)`. See the README's
//! "Partner protocol notes" for every tolerance decided here.

use md5::{Digest, Md5};
use serde_json::value::RawValue;

use crate::json::{Ambiguous, RawKind, RawObject, ScalarText, is_plain_unsigned_integer, scalar_text};
use crate::keys::{IdError, validate_id};
use crate::secret::{Secret, any_secret_signs};

/// The `PushId` of the test push Linkbest sends when a postback address is reviewed.
pub const TEST_PUSH_ID: &str = "0";
/// Longest `EventType` accepted.
pub const MAX_EVENT_TYPE_LEN: usize = 128;
/// Longest order field value kept in the order view (Linkbest strings are at most 255 characters).
pub const MAX_ORDER_FIELD_LEN: usize = 255;
/// Digits of a `CreateTime`: unix seconds from 2001-09-09 to 2286-11-20 have exactly ten.
pub const CREATE_TIME_DIGITS: usize = 10;

/// A canonical `PushId`: decimal digits without a leading zero (`0` alone is the review's test
/// push). The signature covers `EventType + PushId + CreateTime` without separators; with this
/// rule, an `EventType` that does not end in a digit and a `CreateTime` of exactly ten digits,
/// the signed text splits into its three fields in exactly one way, so digits cannot be moved
/// across a boundary to forge a new `PushId` or `CreateTime` under a captured `Sign`.
pub fn is_canonical_push_id(id: &str) -> bool {
    id == TEST_PUSH_ID || (is_plain_unsigned_integer(id) && !id.starts_with('0'))
}

/// Order fields copied from `Data` into the order view: (Linkbest name, attribute name).
/// `OrderSn` links a push to its order and is handled separately.
pub const ORDER_VIEW_FIELDS: &[(&str, &str)] = &[
    ("Status", "status"),
    ("OrdersPrice", "orders_price"),
    ("SiterCommission", "siter_commission"),
    ("Currency", "currency"),
    ("ProgramId", "program_id"),
    ("ProgramName", "program_name"),
    ("WebsiteId", "website_id"),
    ("OrderTime", "order_time"),
    ("SubId", "sub_id"),
    ("LinkId", "link_id"),
    ("ParentOrderSn", "parent_order_sn"),
];

/// Why a push is refused (answer `-1`). Messages never contain a token or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushRejection {
    #[error("body is not a JSON object ({0})")]
    NotJsonObject(String),
    #[error("field {0} is missing")]
    MissingField(&'static str),
    #[error(transparent)]
    Ambiguous(#[from] Ambiguous),
    #[error("field {field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("signature does not match any configured postback token")]
    BadSignature,
}

/// The parts of `Data` that describe an order, when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFields {
    /// `OrderSn`, exactly as sent (a number literal keeps all its digits).
    pub order_sn: String,
    /// Other fields of [`ORDER_VIEW_FIELDS`] that were present, as (attribute name, exact text).
    pub details: Vec<(&'static str, String)>,
}

/// What `Data` says about the order the push is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderLink {
    /// `Data` names an order.
    Order(OrderFields),
    /// `Data` carries no `OrderSn`.
    None,
    /// `Data` carries an `OrderSn` that cannot be used as a key; the push is still stored.
    Unusable(String),
}

/// One parsed order push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPush {
    /// `PushId` as text (a JSON number keeps its literal digits).
    pub push_id: String,
    /// `EventType` as text (empty for the review's test push).
    pub event_type: String,
    /// `CreateTime` exactly as it enters the signature.
    pub create_time: String,
    /// `CreateTime` as unix seconds, for ordering pushes of one order.
    pub create_time_secs: u64,
    /// `Sign` as received.
    pub sign: String,
    /// `Data`: the raw JSON text exactly as received.
    pub data: String,
    /// The order `Data` refers to.
    pub order: OrderLink,
}

impl OrderPush {
    /// The review's test push: `PushId` 0 (number or string). It is answered, never stored.
    pub fn is_test_push(&self) -> bool {
        self.push_id == TEST_PUSH_ID
    }

    /// A string that orders pushes of one order: `CreateTime`, ties broken by `PushId`
    /// (numeric ids compare as numbers, other ids after them as text).
    pub fn version(&self) -> String {
        crate::store::version(self.create_time_secs, &self.push_id)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> PushRejection {
    PushRejection::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn kind_name(kind: RawKind) -> &'static str {
    match kind {
        RawKind::Null => "null",
        RawKind::Bool => "a boolean",
        RawKind::Array => "an array",
        RawKind::Object => "an object",
    }
}

fn required<'a>(
    body: &RawObject<'a>,
    field: &'static str,
    aliases: &[&str],
) -> Result<&'a RawValue, PushRejection> {
    body.field(field, aliases)?
        .ok_or(PushRejection::MissingField(field))
}

/// A field that must be an unsigned integer, sent as a JSON number or a string of digits.
fn integer_text(value: &RawValue, field: &'static str) -> Result<String, PushRejection> {
    let text = scalar_text(value)
        .map_err(|k| {
            invalid(
                field,
                format!("expected a number or string, got {}", kind_name(k)),
            )
        })?
        .into_string();
    if !is_plain_unsigned_integer(&text) {
        return Err(invalid(field, "expected an unsigned integer"));
    }
    Ok(text)
}

/// Parses a push body. Field names match in any case; `CrateTime` (the document's PHP sample)
/// is accepted for `CreateTime`; `PushId` and `CreateTime` may be numbers or strings.
pub fn parse_push(body: &str) -> Result<OrderPush, PushRejection> {
    let object = RawObject::parse(body).map_err(|e| {
        PushRejection::NotJsonObject(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;

    let push_id = match scalar_text(required(&object, "PushId", &[])?) {
        Ok(ScalarText::String(s)) => s,
        Ok(ScalarText::Number(n)) if is_plain_unsigned_integer(&n) => n,
        Ok(ScalarText::Number(_)) => {
            return Err(invalid("PushId", "a numeric PushId must be an unsigned integer"));
        }
        Err(k) => {
            return Err(invalid(
                "PushId",
                format!("expected a number or string, got {}", kind_name(k)),
            ));
        }
    };
    validate_id(&push_id).map_err(|e: IdError| invalid("PushId", e.to_string()))?;
    if !is_canonical_push_id(&push_id) {
        return Err(invalid(
            "PushId",
            "expected decimal digits without a leading zero",
        ));
    }

    // PHP string concatenation turns null into "", so a null EventType signs as the empty string.
    let event_type = match scalar_text(required(&object, "EventType", &[])?) {
        Ok(t) => t.into_string(),
        Err(RawKind::Null) => String::new(),
        Err(k) => {
            return Err(invalid(
                "EventType",
                format!("expected a string, got {}", kind_name(k)),
            ));
        }
    };
    if event_type.len() > MAX_EVENT_TYPE_LEN {
        return Err(invalid(
            "EventType",
            format!("longer than {MAX_EVENT_TYPE_LEN} bytes"),
        ));
    }
    if event_type.ends_with(|c: char| c.is_ascii_digit()) {
        // Its boundary with PushId would be ambiguous in the signed text (see is_canonical_push_id).
        return Err(invalid("EventType", "ends in a digit"));
    }

    let create_time = integer_text(required(&object, "CreateTime", &["CrateTime"])?, "CreateTime")?;
    if create_time.len() != CREATE_TIME_DIGITS {
        return Err(invalid(
            "CreateTime",
            format!("expected unix seconds of exactly {CREATE_TIME_DIGITS} digits"),
        ));
    }
    let create_time_secs = create_time
        .parse::<u64>()
        .map_err(|_| invalid("CreateTime", "out of range"))?;

    let sign = match scalar_text(required(&object, "Sign", &[])?) {
        Ok(ScalarText::String(s)) => s,
        _ => return Err(invalid("Sign", "expected a string")),
    };

    let data = required(&object, "Data", &[])?;
    let order = order_link(data);

    Ok(OrderPush {
        push_id,
        event_type,
        create_time,
        create_time_secs,
        sign,
        data: data.get().to_owned(),
        order,
    })
}

/// Finds the order a push's `Data` refers to. `Data` may be an object or a string holding a
/// JSON object (double-encoded); anything else names no order.
fn order_link(data: &RawValue) -> OrderLink {
    if let Some(object) = RawObject::from_raw(data) {
        return order_from_object(&object);
    }
    if let Ok(ScalarText::String(inner)) = scalar_text(data)
        && let Ok(object) = RawObject::parse(&inner)
    {
        return order_from_object(&object);
    }
    OrderLink::None
}

fn order_from_object(object: &RawObject<'_>) -> OrderLink {
    let order_sn = match object.field("OrderSn", &[]) {
        Ok(None) => return OrderLink::None,
        Ok(Some(raw)) => match scalar_text(raw) {
            Ok(text) => text.into_string(),
            Err(RawKind::Null) => return OrderLink::None,
            Err(k) => return OrderLink::Unusable(format!("OrderSn is {}", kind_name(k))),
        },
        Err(e) => return OrderLink::Unusable(e.to_string()),
    };
    if let Err(e) = validate_id(&order_sn) {
        return OrderLink::Unusable(format!("OrderSn {e}"));
    }
    let details = ORDER_VIEW_FIELDS
        .iter()
        .filter_map(|(field, attribute)| {
            // A field that is ambiguous, not a scalar, or too long is left out of the view;
            // the push itself keeps `Data` exactly as received.
            let raw = object.field(field, &[]).ok()??;
            let text = scalar_text(raw).ok()?.into_string();
            (text.chars().count() <= MAX_ORDER_FIELD_LEN).then_some((*attribute, text))
        })
        .collect();
    OrderLink::Order(OrderFields { order_sn, details })
}

/// `md5(token + EventType + PushId + CreateTime)` as 16 bytes.
pub fn compute_sign(token: &str, event_type: &str, push_id: &str, create_time: &str) -> [u8; 16] {
    let digest = Md5::new()
        .chain_update(token.as_bytes())
        .chain_update(event_type.as_bytes())
        .chain_update(push_id.as_bytes())
        .chain_update(create_time.as_bytes())
        .finalize();
    digest.into()
}

/// The lower-case hex `Sign` Linkbest would send for these values (for tests and sample events).
pub fn sign_hex(token: &str, event_type: &str, push_id: &str, create_time: &str) -> String {
    hex::encode(compute_sign(token, event_type, push_id, create_time))
}

/// Verifies `push.sign` against every token, in constant time per comparison and without stopping
/// at the first match, so timing reveals neither the signature nor which token matched.
/// The hex comparison ignores case.
pub fn verify_sign(push: &OrderPush, tokens: &[Secret]) -> Result<(), PushRejection> {
    let signs = |token: &str| compute_sign(token, &push.event_type, &push.push_id, &push.create_time);
    if any_secret_signs(&push.sign, tokens, signs) {
        Ok(())
    } else {
        Err(PushRejection::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "dev-token";

    fn body(push_id: &str, event: &str, ct: &str, data: &str, token: &str) -> String {
        let pid = push_id.trim_matches('"');
        let c = ct.trim_matches('"');
        let sign = sign_hex(token, event, pid, c);
        format!(
            r#"{{"PushId":{push_id},"EventType":"{event}","CreateTime":{ct},"Sign":"{sign}","Data":{data}}}"#
        )
    }

    fn tokens(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|t| Secret::new(*t)).collect()
    }

    #[test]
    fn md5_of_the_concatenation() {
        // md5("abc") is a well-known vector; the sign is md5 of the plain concatenation.
        assert_eq!(sign_hex("a", "b", "c", ""), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(sign_hex("", "", "", ""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            sign_hex("tok", "order.created", "123", "1747642090"),
            sign_hex("tokorder.created1231747642090", "", "", "")
        );
    }

    #[test]
    fn parses_and_verifies_a_push() {
        let b = body(
            "123",
            "order.created",
            "1747642090",
            r#"{"OrderSn":"SO1","OrdersPrice":12.50}"#,
            TOKEN,
        );
        let p = parse_push(&b).unwrap();
        assert_eq!(p.push_id, "123");
        assert_eq!(p.create_time_secs, 1747642090);
        assert_eq!(p.data, r#"{"OrderSn":"SO1","OrdersPrice":12.50}"#);
        assert_eq!(
            p.order,
            OrderLink::Order(OrderFields {
                order_sn: "SO1".into(),
                details: vec![("orders_price", "12.50".into())]
            })
        );
        assert!(!p.is_test_push());
        verify_sign(&p, &tokens(&[TOKEN])).unwrap();
    }

    #[test]
    fn any_configured_token_verifies_and_others_do_not() {
        let b = body("123", "e", "1747642090", "{}", "new-token");
        let p = parse_push(&b).unwrap();
        assert!(verify_sign(&p, &tokens(&["old-token", "new-token"])).is_ok());
        assert_eq!(
            verify_sign(&p, &tokens(&["old-token"])),
            Err(PushRejection::BadSignature)
        );
        assert_eq!(verify_sign(&p, &[]), Err(PushRejection::BadSignature));
    }

    #[test]
    fn sign_compares_without_case_and_rejects_non_hex() {
        let mut p = parse_push(&body("5", "e", "1747642090", "0", TOKEN)).unwrap();
        p.sign = p.sign.to_uppercase();
        assert!(verify_sign(&p, &tokens(&[TOKEN])).is_ok());
        p.sign = "zz".repeat(16);
        assert!(verify_sign(&p, &tokens(&[TOKEN])).is_err());
        p.sign.clear();
        assert!(verify_sign(&p, &tokens(&[TOKEN])).is_err());
    }

    #[test]
    fn every_single_character_change_of_the_sign_is_refused() {
        let p = parse_push(&body("5", "e", "1747642090", "0", TOKEN)).unwrap();
        for i in 0..p.sign.len() {
            let mut bytes = p.sign.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let mut q = p.clone();
            q.sign = String::from_utf8(bytes).unwrap();
            assert_eq!(
                verify_sign(&q, &tokens(&[TOKEN])),
                Err(PushRejection::BadSignature)
            );
        }
    }

    #[test]
    fn tolerant_field_names_and_types() {
        let sign = sign_hex(TOKEN, "created", "77", "1700000000");
        let b = format!(
            r#"{{"pushid":"77","EVENTTYPE":"created","CrateTime":"1700000000","sign":"{sign}","data":null}}"#
        );
        let p = parse_push(&b).unwrap();
        assert_eq!((p.push_id.as_str(), p.create_time.as_str()), ("77", "1700000000"));
        assert_eq!(p.data, "null");
        assert_eq!(p.order, OrderLink::None);
        verify_sign(&p, &tokens(&[TOKEN])).unwrap();
    }

    #[test]
    fn big_push_ids_and_order_numbers_stay_exact() {
        let b = body(
            "98765432109876543210",
            "e",
            "1747642090",
            r#"{"OrderSn":12345678901234567890123}"#,
            TOKEN,
        );
        let p = parse_push(&b).unwrap();
        assert_eq!(p.push_id, "98765432109876543210");
        assert!(matches!(p.order, OrderLink::Order(ref o) if o.order_sn == "12345678901234567890123"));
    }

    #[test]
    fn double_encoded_data_still_links_the_order() {
        let b = body(
            "9",
            "e",
            "1747642090",
            r#""{\"orderSn\":\"A-1\",\"status\":1}""#,
            TOKEN,
        );
        let p = parse_push(&b).unwrap();
        assert_eq!(
            p.order,
            OrderLink::Order(OrderFields {
                order_sn: "A-1".into(),
                details: vec![("status", "1".into())]
            })
        );
    }

    #[test]
    fn unusable_order_numbers_do_not_refuse_the_push() {
        let p = parse_push(&body("9", "e", "1747642090", r#"{"OrderSn":"has space"}"#, TOKEN)).unwrap();
        assert!(matches!(p.order, OrderLink::Unusable(_)));
        let p = parse_push(&body(
            "9",
            "e",
            "1747642090",
            r#"{"OrderSn":"a","orderSN":"b"}"#,
            TOKEN,
        ))
        .unwrap();
        assert!(matches!(p.order, OrderLink::Unusable(_)));
        let p = parse_push(&body("9", "e", "1747642090", r#"{"OrderSn":{"x":1}}"#, TOKEN)).unwrap();
        assert!(matches!(p.order, OrderLink::Unusable(_)));
    }

    #[test]
    fn the_review_test_push_is_recognised() {
        for id in ["0", r#""0""#] {
            let p = parse_push(&body(id, "", "1747642090", "0", TOKEN)).unwrap();
            assert!(p.is_test_push());
            assert!(verify_sign(&p, &tokens(&[TOKEN])).is_ok());
        }
        // The document's literal test push parses; its Sign was made with the publisher's own token.
        let doc = r#"{"PushId":0,"EventType":"","CreateTime":1747642090,"Sign":"3fa2b1afdcd5ff974d7e79ebd39d9fc8","Data":0}"#;
        let p = parse_push(doc).unwrap();
        assert!(p.is_test_push());
        assert_eq!(
            verify_sign(&p, &tokens(&[TOKEN])),
            Err(PushRejection::BadSignature)
        );
    }

    #[test]
    fn malformed_pushes_are_refused_with_a_reason() {
        let cases: &[(&str, PushRejection)] = &[
            ("", PushRejection::NotJsonObject(String::new())),
            ("[]", PushRejection::NotJsonObject(String::new())),
            (
                r#"{"EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#,
                PushRejection::MissingField("PushId"),
            ),
            (
                r#"{"PushId":1,"CreateTime":1747642090,"Sign":"x","Data":0}"#,
                PushRejection::MissingField("EventType"),
            ),
            (
                r#"{"PushId":1,"EventType":"e","Sign":"x","Data":0}"#,
                PushRejection::MissingField("CreateTime"),
            ),
            (
                r#"{"PushId":1,"EventType":"e","CreateTime":1747642090,"Data":0}"#,
                PushRejection::MissingField("Sign"),
            ),
            (
                r#"{"PushId":1,"EventType":"e","CreateTime":1747642090,"Sign":"x"}"#,
                PushRejection::MissingField("Data"),
            ),
        ];
        for (input, expected) in cases {
            let got = parse_push(input).unwrap_err();
            match (expected, &got) {
                (PushRejection::NotJsonObject(_), PushRejection::NotJsonObject(_)) => {}
                _ => assert_eq!(&got, expected, "input {input}"),
            }
        }
        let invalid = [
            r#"{"PushId":1.5,"EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#,
            r#"{"PushId":-1,"EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#,
            r#"{"PushId":"a b","EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#,
            r#"{"PushId":"","EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#,
            r#"{"PushId":[1],"EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#,
            r#"{"PushId":1,"EventType":{},"CreateTime":1747642090,"Sign":"x","Data":0}"#,
            r#"{"PushId":1,"EventType":"e","CreateTime":"2025-01-01","Sign":"x","Data":0}"#,
            r#"{"PushId":1,"EventType":"e","CreateTime":99999999999999999999999,"Sign":"x","Data":0}"#,
            r#"{"PushId":1,"EventType":"e","CreateTime":1747642090,"Sign":5,"Data":0}"#,
        ];
        for input in invalid {
            assert!(
                matches!(parse_push(input), Err(PushRejection::InvalidField { .. })),
                "input {input}"
            );
        }
        let ambiguous =
            r#"{"PushId":1,"pushid":2,"EventType":"e","CreateTime":1747642090,"Sign":"x","Data":0}"#;
        assert!(matches!(parse_push(ambiguous), Err(PushRejection::Ambiguous(_))));
    }

    #[test]
    fn versions_order_by_create_time_then_push_id() {
        let mk = |id: &str, ct: u64| OrderPush {
            push_id: id.into(),
            event_type: String::new(),
            create_time: ct.to_string(),
            create_time_secs: ct,
            sign: String::new(),
            data: "0".into(),
            order: OrderLink::None,
        };
        assert!(mk("9", 100).version() < mk("1", 101).version());
        assert!(mk("9", 100).version() < mk("10", 100).version());
        assert!(mk("99999", 100).version() < mk("abc", 100).version());
        assert_eq!(mk("7", 5).version(), mk("7", 5).version());
    }
}

#[cfg(test)]
mod resplit {
    use super::*;

    /// Every way to cut `text` into (EventType, PushId, CreateTime) that parses, signed as given.
    fn parses(event_type: &str, push_id: &str, create_time: &str) -> bool {
        let sign = sign_hex("t", event_type, push_id, create_time);
        let body = format!(
            r#"{{"PushId":"{push_id}","EventType":"{event_type}","CreateTime":"{create_time}","Sign":"{sign}","Data":{{}}}}"#
        );
        parse_push(&body).is_ok()
    }

    #[test]
    fn a_captured_signature_signs_exactly_one_push() {
        // The review's scenario: one captured push, its digits moved across each boundary.
        let (event, id, ct) = ("order.created", "123456", "1747642090");
        assert!(parses(event, id, ct));
        let signed = format!("{event}{id}{ct}");
        let mut accepted = Vec::new();
        for a in 0..=signed.len() {
            for b in a..=signed.len() {
                let (e, p, c) = (&signed[..a], &signed[a..b], &signed[b..]);
                if parses(e, p, c) {
                    accepted.push((e.to_owned(), p.to_owned(), c.to_owned()));
                }
            }
        }
        assert_eq!(accepted, vec![(event.to_owned(), id.to_owned(), ct.to_owned())]);
    }

    #[test]
    fn the_resplit_fields_are_refused_one_by_one() {
        assert!(
            !parses("order.created", "12345", "61747642090"),
            "11-digit CreateTime"
        );
        assert!(
            !parses("order.created", "1234561", "747642090"),
            "9-digit CreateTime"
        );
        assert!(
            !parses("order.created1", "23456", "1747642090"),
            "EventType ending in a digit"
        );
        assert!(!parses("order.created", "0123456", "1747642090"), "leading zero");
        assert!(!parses("order.created", "12a", "1747642090"), "not digits");
        assert!(parses("", "0", "1747642090"), "the review's test push");
        assert!(!parses("", "00", "1747642090"));
    }
}
