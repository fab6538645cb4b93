//! Property tests of every parser and verifier: hostile input never panics, and is either refused
//! with the protocol's failure or parsed correctly; a signature with any one character changed is
//! always refused.

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{Map, Value};
use shared::igv::protocol::{check_window, parse_body, read_headers, signature_hex, verify_signature};
use shared::json::RawObject;
use shared::linkbest::api::parse_envelope;
use shared::linkbest::orders::{OrderRow, parse_orders};
use shared::linkbest::push::{OrderLink, parse_push, sign_hex, verify_sign};
use shared::linkbest::settlement::{SettlementChange, parse_changes};
use shared::secret::Secret;

/// Arbitrary JSON: scalars (huge numbers, odd strings) nested up to a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[0-9]{15,40}".prop_map(|digits| serde_json::from_str(&digits).unwrap_or(Value::Null)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A field name in a random mix of upper and lower case.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| {
                if u {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

fn flip_one_hex_char(sig: &str, index: usize, to: char) -> Option<String> {
    let mut chars: Vec<char> = sig.chars().collect();
    let i = index % chars.len();
    if chars[i].eq_ignore_ascii_case(&to) {
        return None;
    }
    chars[i] = to;
    Some(chars.into_iter().collect())
}

/// A settlement page's changes, as the settlement feed reads them.
fn settlement_page(text: &str) -> Result<Vec<SettlementChange>, String> {
    parse_changes(&parse_envelope(text).map_err(|e| e.to_string())?.rows)
}

/// An order list page's rows, as the orders feed reads them.
fn order_page(text: &str) -> Result<Vec<OrderRow>, String> {
    parse_orders(&parse_envelope(text).map_err(|e| e.to_string())?.rows)
}

const TOKEN: &str = "property-token";
const SECRET: &str = "PropertySecret0123456789abcdefAB";

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_push(&text);
        let _ = parse_body(&text);
        let _ = settlement_page(&text);
        let _ = order_page(&text);
        let _ = RawObject::parse(&text);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(value in json_value()) {
        let text = value.to_string();
        let _ = parse_push(&text);
        let _ = parse_body(&text);
        let _ = settlement_page(&text);
        let _ = order_page(&text);
        if let Ok(push) = parse_push(&text) {
            // Whatever parses must still be refused without the right signature.
            prop_assert!(verify_sign(&push, &[Secret::new(TOKEN)]).is_err() || push.sign.len() == 32);
        }
    }

    /// A captured push's signed text `EventType + PushId + CreateTime` cut anywhere else never
    /// parses: its Sign cannot be reused for another PushId or CreateTime (the re-split attack).
    #[test]
    fn a_signed_push_cannot_be_resplit(
        event_type in "([a-z._]{0,14}[a-z_.])?",
        push_id in 1u64..,
        ct in 1_000_000_000u64..10_000_000_000,
        cut_a in 0usize..64,
        cut_b in 0usize..64,
    ) {
        let signed = format!("{event_type}{push_id}{ct}");
        let (a, b) = {
            let (x, y) = (cut_a % (signed.len() + 1), cut_b % (signed.len() + 1));
            (x.min(y), x.max(y))
        };
        let (e, p, c) = (&signed[..a], &signed[a..b], &signed[b..]);
        let sign = sign_hex(TOKEN, &event_type, &push_id.to_string(), &ct.to_string());
        let body = format!(r#"{{"PushId":"{p}","EventType":"{e}","CreateTime":"{c}","Sign":"{sign}","Data":{{}}}}"#);
        let original = (e, p, c) == (event_type.as_str(), push_id.to_string().as_str(), ct.to_string().as_str());
        match parse_push(&body) {
            Ok(push) => {
                prop_assert!(original, "re-split parsed: {:?} {:?} {:?}", e, p, c);
                prop_assert!(verify_sign(&push, &[Secret::new(TOKEN)]).is_ok());
            }
            Err(_) => prop_assert!(!original, "the genuine push was refused"),
        }
    }

    #[test]
    fn arbitrary_json_inside_a_push_is_kept_exactly(data in json_value(), push_id in 1u64.., ct in 1_000_000_000u64..10_000_000_000) {
        let data_text = data.to_string();
        let sign = sign_hex(TOKEN, "e", &push_id.to_string(), &ct.to_string());
        let body = format!(r#"{{"PushId":{push_id},"EventType":"e","CreateTime":{ct},"Sign":"{sign}","Data":{data_text}}}"#);
        let push = parse_push(&body).unwrap();
        prop_assert_eq!(&push.data, &data_text);
        prop_assert!(verify_sign(&push, &[Secret::new(TOKEN)]).is_ok());
        if let OrderLink::Order(order) = &push.order {
            prop_assert!(shared::keys::validate_id(&order.order_sn).is_ok());
        }
    }

    #[test]
    fn field_names_in_any_case_and_ids_as_numbers_or_strings_parse_alike(
        names in (any_case("PushId"), any_case("EventType"), any_case("CreateTime"), any_case("Sign"), any_case("Data")),
        crate_time in any::<bool>(),
        quote_id in any::<bool>(),
        quote_time in any::<bool>(),
        push_id in 1u64..,
        ct in 1_000_000_000u64..10_000_000_000,
    ) {
        let (p, e, c, s, d) = names;
        let c = if crate_time { "CrateTime".to_owned() } else { c };
        let sign = sign_hex(TOKEN, "order.created", &push_id.to_string(), &ct.to_string());
        let id = if quote_id { format!("\"{push_id}\"") } else { push_id.to_string() };
        let time = if quote_time { format!("\"{ct}\"") } else { ct.to_string() };
        let body = format!(r#"{{"{p}":{id},"{e}":"order.created","{c}":{time},"{s}":"{sign}","{d}":{{}}}}"#);
        let push = parse_push(&body).unwrap();
        prop_assert_eq!(&push.push_id, &push_id.to_string());
        prop_assert_eq!(push.create_time_secs, ct);
        prop_assert!(verify_sign(&push, &[Secret::new(TOKEN)]).is_ok());
    }

    #[test]
    fn a_push_signature_with_one_character_changed_is_refused(
        push_id in 1u64..,
        ct in 1_000_000_000u64..10_000_000_000,
        index in 0usize..32,
        to in prop::sample::select("0123456789abcdefABCDEFxyz-".chars().collect::<Vec<_>>()),
    ) {
        let sign = sign_hex(TOKEN, "e", &push_id.to_string(), &ct.to_string());
        let Some(forged) = flip_one_hex_char(&sign, index, to) else { return Ok(()) };
        let body = format!(r#"{{"PushId":{push_id},"EventType":"e","CreateTime":{ct},"Sign":"{forged}","Data":0}}"#);
        let push = parse_push(&body).unwrap();
        prop_assert!(verify_sign(&push, &[Secret::new(TOKEN)]).is_err());
    }

    #[test]
    fn callback_headers_and_bodies_never_panic(
        headers in prop::collection::vec((prop::sample::select(vec!["x-request-id", "x-timestamp", "x-signature", "x-other"]), prop::collection::vec(any::<u8>(), 0..80)), 0..6),
        body in ".{0,200}",
        now in any::<u64>(),
        window in prop::option::of(any::<u32>()),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        if let Ok(h) = read_headers(&map) {
            let _ = verify_signature(&h, &[Secret::new(SECRET)]);
            let _ = check_window(h.timestamp_ms, now, window.map(|w| std::time::Duration::from_secs(u64::from(w))));
        }
        let _ = parse_body(&body);
    }

    #[test]
    fn a_callback_signature_with_one_character_changed_is_refused(
        ts in 1_000_000_000_000u64..9_999_999_999_999,
        rid in "[A-Za-z0-9_-]{1,64}",
        index in 0usize..64,
        to in prop::sample::select("0123456789abcdefABCDEFxyz".chars().collect::<Vec<_>>()),
    ) {
        let good = signature_hex(SECRET, &ts.to_string(), &rid);
        let Some(forged) = flip_one_hex_char(&good, index, to) else { return Ok(()) };
        let mut map = HeaderMap::new();
        map.insert("x-request-id", HeaderValue::from_str(&rid).unwrap());
        map.insert("x-timestamp", HeaderValue::from_str(&ts.to_string()).unwrap());
        map.insert("x-signature", HeaderValue::from_str(&forged).unwrap());
        let h = read_headers(&map).unwrap();
        prop_assert!(verify_signature(&h, &[Secret::new(SECRET)]).is_err());
        map.insert("x-signature", HeaderValue::from_str(&good).unwrap());
        prop_assert!(verify_signature(&read_headers(&map).unwrap(), &[Secret::new(SECRET)]).is_ok());
    }

    #[test]
    fn callback_order_ids_of_any_length_stay_exact(digits in "[1-9][0-9]{0,60}") {
        let body = format!(r#"{{"orderId":{digits},"sellerOrderStatus":1}}"#);
        match parse_body(&body) {
            Ok(cb) => prop_assert_eq!(cb.order_id, digits),
            Err(_) => prop_assert!(digits.len() > shared::keys::MAX_ID_LEN),
        }
    }

    #[test]
    fn settlement_pages_of_arbitrary_objects_keep_every_change(
        changes in prop::collection::vec(prop::collection::btree_map(
            prop::sample::select(vec!["OrderSn", "orderSn", "ModifyAt", "ConfirmPrice", "ChargeCurrency", "X"]),
            json_value(), 0..6), 0..20),
        as_object in any::<bool>(),
    ) {
        let items: Vec<Value> = changes.into_iter().map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())).collect();
        let data = if as_object && items.len() == 1 { items[0].clone() } else { Value::Array(items.clone()) };
        let body = serde_json::json!({"Status": 0, "Message": "ok", "Data": data}).to_string();
        // A row carrying none of the document's fields (here: only "X", or nothing) is not a
        // change: it refuses the page rather than pass for one.
        let scalar = |v: &Value| v.is_string() || v.is_number();
        let all_changes = items.iter().all(|item| {
            let o = item.as_object().unwrap();
            ["ModifyAt", "ConfirmPrice", "ChargeCurrency"].iter().any(|k| o.get(*k).is_some_and(scalar))
                || match (o.get("OrderSn"), o.get("orderSn")) {
                    (Some(a), Some(b)) => a == b && scalar(a),
                    (Some(a), None) | (None, Some(a)) => scalar(a),
                    (None, None) => false,
                }
        });
        match settlement_page(&body) {
            Ok(page) => {
                prop_assert!(all_changes, "a row with none of the fields was kept");
                prop_assert_eq!(page.len(), items.len());
            }
            Err(e) => prop_assert!(!all_changes, "{}", e),
        }
    }

    #[test]
    fn order_pages_keep_every_row_exactly_linked_or_unlinked(
        rows in prop::collection::vec((
            prop_oneof![Just(None), "[A-Za-z0-9-]{1,20}".prop_map(Some), "[ -~]{0,140}".prop_map(Some)],
            prop::collection::btree_map(
                prop::sample::select(vec!["Status", "status", "OrdersPrice", "Currency", "Id", "X"]),
                json_value(), 0..5),
            0u32..100_000u32,
        ), 0..20),
        as_object in any::<bool>(),
    ) {
        let items: Vec<Value> = rows.iter().map(|(sn, fields, cents)| {
            let mut object: serde_json::Map<String, Value> = fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            // A placeholder, replaced by the number literal below (serde_json would print 152.50 as 152.5).
            object.insert("SiterCommission".into(), Value::from(format!("@cents{cents}@")));
            if let Some(sn) = sn {
                object.insert("OrderSn".into(), Value::from(sn.clone()));
            }
            Value::Object(object)
        }).collect();
        let data = if as_object && items.len() == 1 { items[0].clone() } else { Value::Array(items.clone()) };
        let mut body = serde_json::json!({"Status": 0, "Data": data}).to_string();
        for (_, _, cents) in &rows {
            body = body.replace(&format!("\"@cents{cents}@\""), &format!("{}.{:02}", cents / 100, cents % 100));
        }
        // Every row carries an order field (SiterCommission), so none refuses the page: a row
        // with a usable OrderSn is its order's, any other is kept unlinked, each byte for byte.
        let page = order_page(&body);
        prop_assert!(page.is_ok(), "{:?}", page);
        let page = page.unwrap();
        prop_assert_eq!(page.len(), items.len());
        for (row, (sn, _, cents)) in page.iter().zip(&rows) {
            let usable = sn.as_deref().is_some_and(|sn| shared::keys::validate_id(sn).is_ok());
            let commission = format!("{}.{:02}", cents / 100, cents % 100);
            match row {
                OrderRow::Listed(row) => {
                    prop_assert!(usable, "an unusable OrderSn became a key");
                    prop_assert_eq!(Some(&row.order_sn), sn.as_ref());
                    prop_assert_eq!(row.field("siter_commission"), Some(commission.as_str()), "amounts exact");
                }
                OrderRow::Unlinked(row) => {
                    prop_assert!(!usable, "a usable OrderSn was not linked");
                    prop_assert!(row.raw.contains(&commission), "the raw row is kept");
                }
            }
        }
    }
}
