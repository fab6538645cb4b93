//! Linkbest open API, service `linkbest.open-service.orders.settlement.get`: request signing and
//! response parsing (pure, no I/O).
//!
//! A request is a POST of one JSON object to `{base}/{AppKey}/{Service}` holding the common
//! parameters (`AppKey`, `Timestamp`, `Service`, `Sign`) and the interface parameters (`Stime`,
//! `Etime`, `Page`, `PageSize`, …), every value a string as in the document's example. The
//! signing scheme is an assumption (see [`sign`] and the README), kept in this one place.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde_json::value::RawValue;

use crate::json::{RawKind, RawObject, scalar_text};

/// The settlement service's name (the document's `Service` example spells it
/// `linkbest.open-Service…`; the `SERVICE_NAME` line, used here, is all lower case).
pub const SETTLEMENT_SERVICE: &str = "linkbest.open-service.orders.settlement.get";
/// The documented production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.linkbest.com";
/// The API refuses windows longer than one day.
pub const MAX_WINDOW_SECONDS: i64 = 86_400;
/// The largest page the API serves.
pub const MAX_PAGE_SIZE: u32 = 200;
/// `Status` of a successful answer.
pub const STATUS_OK: i64 = 0;

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

/// The interface parameters of one settlement page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// `Stime`, unix seconds.
    pub stime: i64,
    /// `Etime`, unix seconds; `Etime - Stime` never exceeds [`MAX_WINDOW_SECONDS`].
    pub etime: i64,
    /// `Page`, from 1.
    pub page: u32,
    /// `PageSize`, at most [`MAX_PAGE_SIZE`].
    pub page_size: u32,
}

/// The path and JSON body of a signed request.
pub fn signed_request(
    app_key: &str,
    secret: &str,
    service: &str,
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
    let signature = sign(secret, app_key, service, &params);
    params.insert("Sign".to_owned(), signature);
    let body = serde_json::to_string(&params).expect("a map of strings always serializes");
    (format!("/{app_key}/{service}"), body)
}

/// One settlement change, every field exact text and optional (the document marks all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementChange {
    pub order_sn: Option<String>,
    pub order_time: Option<String>,
    pub sub_id: Option<String>,
    pub confirm_price_old: Option<String>,
    pub modify_price: Option<String>,
    pub confirm_price: Option<String>,
    pub confirm_siter_commission_old: Option<String>,
    pub modify_siter_commission: Option<String>,
    pub confirm_siter_commission: Option<String>,
    pub modify_at: Option<String>,
    pub program_id: Option<String>,
    pub program_name: Option<String>,
    pub charge_currency: Option<String>,
    /// The change's JSON exactly as received.
    pub raw: String,
}

impl SettlementChange {
    /// The fields that tell one change from another (everything but the order's descriptive
    /// fields), in a fixed order.
    pub fn identity_fields(&self) -> [&Option<String>; 8] {
        [
            &self.modify_at,
            &self.confirm_price_old,
            &self.modify_price,
            &self.confirm_price,
            &self.confirm_siter_commission_old,
            &self.modify_siter_commission,
            &self.confirm_siter_commission,
            &self.charge_currency,
        ]
    }
}

/// One answer of the settlement service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementPage {
    pub status: i64,
    pub message: Option<String>,
    pub changes: Vec<SettlementChange>,
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

fn text(object: &RawObject<'_>, field: &'static str, aliases: &[&str]) -> Option<String> {
    // A field that is ambiguous or not a scalar is treated as absent; the raw JSON keeps it.
    let raw = object.field(field, aliases).ok()??;
    scalar_text(raw).ok().map(|t| t.into_string())
}

fn change(raw: &RawValue) -> Option<SettlementChange> {
    let object = RawObject::from_raw(raw)?;
    Some(SettlementChange {
        order_sn: text(&object, "OrderSn", &[]),
        order_time: text(&object, "OrderTime", &[]),
        sub_id: text(&object, "SubId", &[]),
        confirm_price_old: text(&object, "ConfirmPriceOld", &[]),
        modify_price: text(&object, "ModifyPrice", &[]),
        confirm_price: text(&object, "ConfirmPrice", &[]),
        confirm_siter_commission_old: text(&object, "ConfirmSiterCommissionOld", &[]),
        modify_siter_commission: text(&object, "ModifySiterCommission", &[]),
        confirm_siter_commission: text(&object, "ConfirmSiterCommission", &[]),
        modify_at: text(&object, "ModifyAt", &[]),
        program_id: text(&object, "ProgramId", &[]),
        program_name: text(&object, "ProgramName", &[]),
        charge_currency: text(&object, "ChargeCurrency", &["Charge Currency"]),
        raw: raw.get().to_owned(),
    })
}

/// Parses an answer. `Status` may be a number or a string of digits; `Data` may be one object,
/// a list of objects, `null` or absent (no changes). Every change field may be missing.
pub fn parse_settlement_page(body: &str) -> Result<SettlementPage, ResponseProblem> {
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
    let changes = match object.field("Data", &[]).map_err(|_| ResponseProblem::BadData)? {
        None => Vec::new(),
        Some(data) => match data.get().as_bytes().first() {
            Some(b'{') => vec![change(data).ok_or(ResponseProblem::BadData)?],
            Some(b'[') => {
                let items: Vec<&RawValue> =
                    serde_json::from_str(data.get()).map_err(|_| ResponseProblem::BadData)?;
                items
                    .into_iter()
                    .map(|item| change(item).ok_or(ResponseProblem::BadData))
                    .collect::<Result<_, _>>()?
            }
            _ if scalar_text(data) == Err(RawKind::Null) => Vec::new(),
            _ => return Err(ResponseProblem::BadData),
        },
    };
    Ok(SettlementPage {
        status,
        message,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_vectors() {
        // Computed independently with Python's hashlib and json (sorted keys, compact).
        let params = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(sign("s", "k", "svc", &params), "C103B3EF776F704CA828AB6C32576E4F");
        let page = PageRequest {
            stime: 1_596_592_757,
            etime: 1_596_679_157,
            page: 1,
            page_size: 200,
        };
        let (_, body) = signed_request("2312521", "app-secret", SETTLEMENT_SERVICE, 1_596_592_757, &page);
        let sent: BTreeMap<String, String> = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["Sign"], "060962B12C83A17EC87A4CE715DB9E4A");
    }

    #[test]
    fn signed_requests_sort_every_parameter_but_the_sign() {
        let page = PageRequest {
            stime: 1_700_000_000,
            etime: 1_700_086_400,
            page: 2,
            page_size: 200,
        };
        let (path, body) = signed_request("2312521", "secret", SETTLEMENT_SERVICE, 1_700_100_000, &page);
        assert_eq!(path, "/2312521/linkbest.open-service.orders.settlement.get");
        let parsed: BTreeMap<String, String> = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["Stime"], "1700000000");
        assert_eq!(parsed["Page"], "2");
        assert_eq!(parsed["Service"], SETTLEMENT_SERVICE);
        let mut unsigned = parsed.clone();
        let sent = unsigned.remove("Sign").unwrap();
        assert_eq!(sent, sign("secret", "2312521", SETTLEMENT_SERVICE, &unsigned));
        assert_eq!(sent.len(), 32);
        assert!(sent.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn data_as_object_list_null_or_absent() {
        let one = parse_settlement_page(
            r#"{"Status":0,"Message":"ok","Data":{"OrderSn":"A","ModifyAt":"2026-11-22 10:00:00"}}"#,
        )
        .unwrap();
        assert_eq!(one.changes.len(), 1);
        assert_eq!(one.changes[0].order_sn.as_deref(), Some("A"));
        let list =
            parse_settlement_page(r#"{"Status":"0","Data":[{"OrderSn":"A"},{"orderSn":"B"}]}"#).unwrap();
        assert_eq!(
            list.changes
                .iter()
                .map(|c| c.order_sn.clone().unwrap())
                .collect::<Vec<_>>(),
            ["A", "B"]
        );
        assert!(
            parse_settlement_page(r#"{"Status":0,"Data":null}"#)
                .unwrap()
                .changes
                .is_empty()
        );
        assert!(
            parse_settlement_page(r#"{"Status":0}"#)
                .unwrap()
                .changes
                .is_empty()
        );
        assert!(
            parse_settlement_page(r#"{"Status":0,"Data":[]}"#)
                .unwrap()
                .changes
                .is_empty()
        );
    }

    #[test]
    fn the_documented_example_parses_with_every_field_exact() {
        let doc = r#"{"Status":0,"Message":"string","Data":{"OrderSn":"string","OrderTime":"string","SubId":"string","ConfirmPriceOld":null,"ModifyPrice":null,"ConfirmPrice":null,"ConfirmSiterCommissionOld":null,"ModifySiterCommission":"string","ConfirmSiterCommission":"string","ModifyAt":"string","ProgramId":"string","ProgramName":"string","ChargeCurrency":"string"}}"#;
        let page = parse_settlement_page(doc).unwrap();
        let c = &page.changes[0];
        assert_eq!(c.confirm_price, None);
        assert_eq!(c.confirm_siter_commission.as_deref(), Some("string"));
        assert_eq!(c.charge_currency.as_deref(), Some("string"));
        let exact =
            parse_settlement_page(r#"{"Status":0,"Data":{"ConfirmPrice":1.1000,"Charge Currency":"USD"}}"#)
                .unwrap();
        assert_eq!(
            exact.changes[0].confirm_price.as_deref(),
            Some("1.1000"),
            "money never through f64"
        );
        assert_eq!(exact.changes[0].charge_currency.as_deref(), Some("USD"));
    }

    #[test]
    fn unusable_answers() {
        assert!(matches!(
            parse_settlement_page("<html>502</html>"),
            Err(ResponseProblem::NotJsonObject(_))
        ));
        assert!(matches!(
            parse_settlement_page(r#"{"Status":0,"Data":[1"#),
            Err(ResponseProblem::NotJsonObject(_))
        ));
        assert_eq!(
            parse_settlement_page(r#"{"Message":"x"}"#),
            Err(ResponseProblem::BadStatus)
        );
        assert_eq!(
            parse_settlement_page(r#"{"Status":"ok"}"#),
            Err(ResponseProblem::BadStatus)
        );
        assert_eq!(
            parse_settlement_page(r#"{"Status":0,"Data":"x"}"#),
            Err(ResponseProblem::BadData)
        );
        assert_eq!(
            parse_settlement_page(r#"{"Status":0,"Data":[1,2]}"#),
            Err(ResponseProblem::BadData)
        );
        let failed = parse_settlement_page(r#"{"Status":1001,"Message":"sign error"}"#).unwrap();
        assert_eq!(failed.status, 1001);
    }
}
