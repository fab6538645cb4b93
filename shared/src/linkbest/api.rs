//! Linkbest open API: request signing and the answer's envelope (pure, no I/O). Every service
//! (`orders.settlement.get`, `orders.query.get`) shares both; what the rows of `Data` mean belongs
//! to each feed (`linkbest::settlement`, `linkbest::orders`).
//!
//! A request is a POST of one JSON object to `{base}/{AppKey}/{Service}` holding the common
//! parameters (`AppKey`, `Timestamp`, `Service`, `Sign`) and the interface parameters (`Stime`,
//! `Etime`, `Page`, `PageSize`, and the service's own), every value a string as in the documents'
//! examples. The signing scheme is an assumption (see [`sign`] and the README), kept in this one
//! place.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde_json::value::RawValue;

use crate::feed::PageRequest;
use crate::json::{RawKind, RawObject, scalar_text};

/// The settlement service's name (the document's `Service` example spells it
/// `linkbest.open-Service…`; the `SERVICE_NAME` line, used here, is all lower case).
pub const SETTLEMENT_SERVICE: &str = "linkbest.open-service.orders.settlement.get";
/// The order list service (`linkbest-order-list.md`).
pub const ORDERS_SERVICE: &str = "linkbest.open-service.orders.query.get";
/// The documented production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.linkbest.com";
/// The API refuses windows longer than one day.
pub const MAX_WINDOW_SECONDS: i64 = 86_400;
/// The largest page the API serves.
pub const MAX_PAGE_SIZE: u32 = 200;
/// `Status` of a successful answer.
pub const STATUS_OK: i64 = 0;
/// Longest row accepted: one order or change is well under a kilobyte; a row far larger refuses
/// its page (it could not even be stored: DynamoDB items stop at 400 KB).
pub const MAX_ROW_BYTES: usize = 16 * 1024;

/// The signature of a request: upper-case hex of
/// `MD5(secret + "/" + AppKey + "/" + Service + JSON(params sorted by key) + secret)`,
/// where `params` are all request parameters except `Sign`, every value a string, encoded as
/// compact JSON.
///
/// Linkbest's getting-started page describes "sort the parameters by key, JSON-encode them,
/// append the JSON to the route `/{AppKey}/{ServiceName}`, sign with the app secret using MD5",
/// and the example `Sign` is 32 upper-case hex characters. Where the secret goes could not be
/// confirmed; wrapping the string in it (as most MD5 API signatures do) is this project's
/// assumption. Change it here, and only here, if Linkbest's answer says otherwise.
pub fn sign(secret: &str, app_key: &str, service: &str, params: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_string(params).expect("a map of strings always serializes");
    let digest = Md5::new()
        .chain_update(secret.as_bytes())
        .chain_update(b"/")
        .chain_update(app_key.as_bytes())
        .chain_update(b"/")
        .chain_update(service.as_bytes())
        .chain_update(json.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    hex::encode_upper(digest)
}

/// The path and JSON body of a signed request for one page of `service`, with the service's own
/// parameters `extra` (e.g. `OrderField`).
pub fn signed_request(
    app_key: &str,
    secret: &str,
    service: &str,
    extra: &[(&str, &str)],
    timestamp: i64,
    page: &PageRequest,
) -> (String, String) {
    let mut params = BTreeMap::from([
        ("AppKey".to_owned(), app_key.to_owned()),
        ("Timestamp".to_owned(), timestamp.to_string()),
        ("Service".to_owned(), service.to_owned()),
        ("Stime".to_owned(), page.stime.to_string()),
        ("Etime".to_owned(), page.etime.to_string()),
        ("Page".to_owned(), page.page.to_string()),
        ("PageSize".to_owned(), page.page_size.to_string()),
    ]);
    for (name, value) in extra {
        params.insert((*name).to_owned(), (*value).to_owned());
    }
    let signature = sign(secret, app_key, service, &params);
    params.insert("Sign".to_owned(), signature);
    let body = serde_json::to_string(&params).expect("a map of strings always serializes");
    (format!("/{app_key}/{service}"), body)
}

/// One answer: `Status`, `Message`, and the rows of `Data`, each kept as its raw JSON.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub status: i64,
    pub message: Option<String>,
    pub rows: Vec<&'a RawValue>,
}

/// Why an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseProblem {
    #[error("answer is not a JSON object ({0})")]
    NotJsonObject(String),
    #[error("Status is missing or not an integer")]
    BadStatus,
    #[error("Data is neither an object, a list of objects nor absent")]
    BadData,
}

/// A field of a row as exact text: a string's content, a number's literal; a field that is
/// ambiguous or not a scalar counts as absent (the row's raw JSON keeps it).
pub(crate) fn text(object: &RawObject<'_>, field: &'static str, aliases: &[&str]) -> Option<String> {
    let raw = object.field(field, aliases).ok()??;
    scalar_text(raw).ok().map(|t| t.into_string())
}

/// Parses an answer. `Status` may be a number or a string of digits; `Data` may be one object,
/// a list of objects, an object wrapping the list as `List` (any case; `Total` and other members
/// ignored), `null` or absent (no rows). Every row must be a JSON object. Whether a row is one of
/// the feed's rows (it carries at least one of the feed's fields) is the feed's to check.
pub fn parse_envelope(body: &str) -> Result<Envelope<'_>, ResponseProblem> {
    let object = RawObject::parse(body).map_err(|e| {
        ResponseProblem::NotJsonObject(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let status = object
        .field("Status", &[])
        .ok()
        .flatten()
        .and_then(|raw| scalar_text(raw).ok())
        .and_then(|t| t.as_str().parse::<i64>().ok())
        .ok_or(ResponseProblem::BadStatus)?;
    let message = text(&object, "Message", &[]);
    let rows = match object.field("Data", &[]).map_err(|_| ResponseProblem::BadData)? {
        None => Vec::new(),
        Some(data) => match data.get().as_bytes().first() {
            // A page wrapped in an object (`{"List":[…],"Total":n}`) is its list, never one row.
            Some(b'{') => match RawObject::from_raw(data)
                .ok_or(ResponseProblem::BadData)?
                .field("List", &[])
                .map_err(|_| ResponseProblem::BadData)?
            {
                Some(list) if list.get().starts_with('[') => {
                    serde_json::from_str::<Vec<&RawValue>>(list.get())
                        .map_err(|_| ResponseProblem::BadData)?
                }
                Some(_) => return Err(ResponseProblem::BadData),
                None => vec![data],
            },
            Some(b'[') => {
                serde_json::from_str::<Vec<&RawValue>>(data.get()).map_err(|_| ResponseProblem::BadData)?
            }
            _ if scalar_text(data) == Err(RawKind::Null) => Vec::new(),
            _ => return Err(ResponseProblem::BadData),
        },
    };
    if rows.iter().any(|row| !row.get().starts_with('{')) {
        return Err(ResponseProblem::BadData);
    }
    Ok(Envelope {
        status,
        message,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(stime: i64, etime: i64, page: u32) -> PageRequest {
        PageRequest {
            stime,
            etime,
            page,
            page_size: 200,
        }
    }

    #[test]
    fn signing_vectors() {
        // Computed independently with Python's hashlib and json (sorted keys, compact).
        let params = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(sign("s", "k", "svc", &params), "C103B3EF776F704CA828AB6C32576E4F");
        let (_, body) = signed_request(
            "2312521",
            "app-secret",
            SETTLEMENT_SERVICE,
            &[],
            1_596_592_757,
            &page(1_596_592_757, 1_596_679_157, 1),
        );
        let sent: BTreeMap<String, String> = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["Sign"], "060962B12C83A17EC87A4CE715DB9E4A");
    }

    #[test]
    fn signed_requests_sort_every_parameter_but_the_sign() {
        let (path, body) = signed_request(
            "2312521",
            "secret",
            ORDERS_SERVICE,
            &[("OrderField", "UpdateTime")],
            1_700_100_000,
            &page(1_700_000_000, 1_700_086_400, 2),
        );
        assert_eq!(path, "/2312521/linkbest.open-service.orders.query.get");
        let parsed: BTreeMap<String, String> = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["Stime"], "1700000000");
        assert_eq!(parsed["Page"], "2");
        assert_eq!(parsed["OrderField"], "UpdateTime");
        assert_eq!(parsed["Service"], ORDERS_SERVICE);
        let mut unsigned = parsed.clone();
        let sent = unsigned.remove("Sign").unwrap();
        assert_eq!(sent, sign("secret", "2312521", ORDERS_SERVICE, &unsigned));
        assert_eq!(sent.len(), 32);
        assert!(sent.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn data_as_object_list_null_or_absent() {
        let one = parse_envelope(r#"{"Status":0,"Message":"ok","Data":{"OrderSn":"A"}}"#).unwrap();
        assert_eq!(one.rows.len(), 1);
        assert_eq!(one.message.as_deref(), Some("ok"));
        let list = parse_envelope(r#"{"Status":"0","Data":[{"OrderSn":"A"},{"orderSn":"B"}]}"#).unwrap();
        assert_eq!(list.rows.len(), 2);
        assert_eq!(list.rows[1].get(), r#"{"orderSn":"B"}"#);
        for empty in [
            r#"{"Status":0,"Data":null}"#,
            r#"{"Status":0}"#,
            r#"{"Status":0,"Data":[]}"#,
        ] {
            assert!(parse_envelope(empty).unwrap().rows.is_empty(), "{empty}");
        }
    }

    #[test]
    fn a_data_object_wrapping_the_list_is_read_as_the_list() {
        let wrapped =
            parse_envelope(r#"{"Status":0,"Data":{"List":[{"OrderSn":"A"},{"OrderSn":"B"}],"Total":2}}"#)
                .unwrap();
        assert_eq!(wrapped.rows.len(), 2, "two rows, not one 'change' holding both");
        assert_eq!(wrapped.rows[0].get(), r#"{"OrderSn":"A"}"#);
        let lower = parse_envelope(r#"{"Status":0,"Data":{"list":[],"total":0}}"#).unwrap();
        assert!(lower.rows.is_empty());
        for bad in [
            r#"{"Status":0,"Data":{"List":{"OrderSn":"A"}}}"#,
            r#"{"Status":0,"Data":{"List":[1]}}"#,
            r#"{"Status":0,"Data":{"List":[],"list":[{"a":1}]}}"#,
        ] {
            assert_eq!(
                parse_envelope(bad).unwrap_err(),
                ResponseProblem::BadData,
                "{bad}"
            );
        }
    }

    #[test]
    fn unusable_answers() {
        assert!(matches!(
            parse_envelope("<html>502</html>"),
            Err(ResponseProblem::NotJsonObject(_))
        ));
        assert!(matches!(
            parse_envelope(r#"{"Status":0,"Data":[1"#),
            Err(ResponseProblem::NotJsonObject(_))
        ));
        assert_eq!(
            parse_envelope(r#"{"Message":"x"}"#).unwrap_err(),
            ResponseProblem::BadStatus
        );
        assert_eq!(
            parse_envelope(r#"{"Status":"ok"}"#).unwrap_err(),
            ResponseProblem::BadStatus
        );
        assert_eq!(
            parse_envelope(r#"{"Status":0,"Data":"x"}"#).unwrap_err(),
            ResponseProblem::BadData
        );
        assert_eq!(
            parse_envelope(r#"{"Status":0,"Data":[1,2]}"#).unwrap_err(),
            ResponseProblem::BadData
        );
        assert_eq!(
            parse_envelope(r#"{"Status":0,"Data":[{"a":1},"b"]}"#).unwrap_err(),
            ResponseProblem::BadData
        );
        let failed = parse_envelope(r#"{"Status":1001,"Message":"sign error"}"#).unwrap();
        assert_eq!(failed.status, 1001);
    }
}
