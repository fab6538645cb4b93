//! A table-driven corpus of hostile HTTP requests through the real handlers: each gets the
//! protocol's failure answer, the table stays empty, every request logs exactly one line, and no
//! token, secret or signature ever appears in the logs.

use std::time::Duration;

use lambda_http::Body;
use lambda_http::http::Request;
use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::keys::{CALLBACK_SK, igv_callback_pk};
use shared::linkbest::postback::Postback;
use shared::linkbest::push::sign_hex;
use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::{TestTable, attr_s, body_text, local_setting};
use time::OffsetDateTime;

const NOW_MS: u64 = 1_795_440_540_000;

fn request(method: &str, headers: &[(&str, &[u8])], body: Body) -> lambda_http::Request {
    let mut builder = Request::builder().method(method).uri("https://example.com/hook");
    for (name, value) in headers {
        builder = builder.header(*name, lambda_http::http::HeaderValue::from_bytes(value).unwrap());
    }
    builder.body(body).unwrap()
}

fn text(s: impl Into<String>) -> Body {
    Body::Text(s.into())
}

struct Case {
    name: String,
    request: lambda_http::Request,
    expect: String,
}

fn case(name: impl Into<String>, request: lambda_http::Request, expect: &str) -> Case {
    Case {
        name: name.into(),
        request,
        expect: expect.to_owned(),
    }
}

fn postback_corpus(token: &str) -> Vec<Case> {
    let push = |id: &str, ct: &str, sign: &str, data: &str| {
        format!(
            r#"{{"PushId":{id},"EventType":"order.created","CreateTime":{ct},"Sign":"{sign}","Data":{data}}}"#
        )
    };
    let good_sign = sign_hex(token, "order.created", "777", "1747642090");
    let good = push("777", "1747642090", &good_sign, r#"{"OrderSn":"SO-777"}"#);
    let json = &[("content-type", b"application/json".as_slice())][..];
    let post = |body: Body| request("POST", json, body);
    let mut cases = Vec::new();
    for method in ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"] {
        cases.push(case(
            format!("method {method}"),
            request(method, json, text(good.clone())),
            "-1",
        ));
    }
    for (i, cut) in [
        1,
        5,
        20,
        40,
        60,
        80,
        good.len() / 2,
        good.len() - 20,
        good.len() - 2,
        good.len() - 1,
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(case(
            format!("truncated body #{i}"),
            post(text(&good[..cut])),
            "-1",
        ));
    }
    for (name, body) in [
        ("empty", ""),
        ("whitespace", " \n\t "),
        ("null", "null"),
        ("array", "[]"),
        ("number", "0"),
        ("string", "\"1\""),
        ("empty object", "{}"),
        (
            "form encoded",
            "PushId=777&EventType=order.created&CreateTime=1747642090&Sign=x&Data=0",
        ),
        ("xml", "<push><PushId>777</PushId></push>"),
        ("two objects", "{}{}"),
        ("trailing garbage", "{\"PushId\":1} x"),
        ("BOM", "\u{feff}{\"PushId\":1}"),
    ] {
        cases.push(case(format!("body {name}"), post(text(body)), "-1"));
    }
    cases.push(case(
        "invalid UTF-8",
        post(Body::Binary(vec![b'{', 0xff, 0xfe, b'}'])),
        "-1",
    ));
    cases.push(case("binary zeros", post(Body::Binary(vec![0; 64])), "-1"));
    for ctype in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let wrong_sig = push("777", "1747642090", &"0".repeat(32), "0");
        cases.push(case(
            format!("content-type {ctype} unsigned"),
            request("POST", &[("content-type", ctype.as_bytes())], text(wrong_sig)),
            "-1",
        ));
    }
    let oversized = push(
        "777",
        "1",
        "x",
        &format!("\"{}\"", "a".repeat(DEFAULT_POSTBACK_MAX_BODY_BYTES)),
    );
    cases.push(case("oversized", post(text(oversized)), "-1"));
    // The re-split attack: the captured `good` push's signed text `order.created7771747642090`,
    // its digits moved across a field boundary, under the same Sign and with Data of the
    // attacker's choosing. Each would sign correctly without the canonical-field rules.
    for (name, event_type, push_id, create_time) in [
        ("digit into CreateTime", "order.created", "77", "71747642090"),
        ("digit into PushId", "order.created", "7771", "747642090"),
        ("digit into EventType", "order.created7", "77", "1747642090"),
        ("two digits into EventType", "order.created77", "7", "1747642090"),
        ("digits as strings", "order.created", "\"77\"", "\"71747642090\""),
    ] {
        let forged = format!(
            r#"{{"PushId":{push_id},"EventType":"{event_type}","CreateTime":{create_time},"Sign":"{good_sign}","Data":{{"OrderSn":"SO-777","Status":"2"}}}}"#
        );
        cases.push(case(format!("re-split: {name}"), post(text(forged)), "-1"));
    }
    for (name, id) in [
        ("leading zero", "0777"),
        ("leading zero as text", "\"0777\""),
        ("letters", "\"A777\""),
    ] {
        let sign = sign_hex(token, "order.created", id.trim_matches('"'), "1747642090");
        cases.push(case(
            format!("push id {name} (signed)"),
            post(text(push(id, "1747642090", &sign, "{}"))),
            "-1",
        ));
    }
    let short_time = sign_hex(token, "order.created", "777", "174764209");
    cases.push(case(
        "create time of nine digits (signed)",
        post(text(push("777", "174764209", &short_time, "{}"))),
        "-1",
    ));
    for (name, sign) in [
        (
            "wrong token",
            sign_hex("not-the-token", "order.created", "777", "1747642090"),
        ),
        (
            "another push id's",
            sign_hex(token, "order.created", "778", "1747642090"),
        ),
        (
            "another create time's",
            sign_hex(token, "order.created", "777", "1747642091"),
        ),
        (
            "another event type's",
            sign_hex(token, "order.settled", "777", "1747642090"),
        ),
        ("empty", String::new()),
        ("31 chars", good_sign[..31].to_owned()),
        ("33 chars", format!("{good_sign}0")),
        ("non-hex", "g".repeat(32)),
        ("with 0x", format!("0x{}", &good_sign[..30])),
        ("spaces", format!(" {} ", &good_sign[..30])),
        ("token itself", token.to_owned()),
        ("md5 of token only", sign_hex(token, "", "", "")),
    ] {
        cases.push(case(
            format!("signature {name}"),
            post(text(push("777", "1747642090", &sign, r#"{"OrderSn":"SO-777"}"#))),
            "-1",
        ));
    }
    let sign_of = |id: &str, ct: &str| sign_hex(token, "order.created", id, ct);
    for (name, body) in [
        (
            "sign as number",
            push("777", "1747642090", "1", "0").replace("\"1\"", "1"),
        ),
        ("push id float", push("1.0", "1", &sign_of("1.0", "1"), "0")),
        ("push id negative", push("-5", "1", &sign_of("-5", "1"), "0")),
        ("push id exponent", push("1e3", "1", &sign_of("1e3", "1"), "0")),
        (
            "push id huge number",
            push(&"9".repeat(200), "1", &sign_of(&"9".repeat(200), "1"), "0"),
        ),
        (
            "push id 129 chars",
            push(
                &format!("\"{}\"", "a".repeat(129)),
                "1",
                &sign_of(&"a".repeat(129), "1"),
                "0",
            ),
        ),
        (
            "push id with space",
            push("\"a b\"", "1", &sign_of("a b", "1"), "0"),
        ),
        ("push id unicode", push("\"ü1\"", "1", &sign_of("ü1", "1"), "0")),
        ("push id empty", push("\"\"", "1", &sign_of("", "1"), "0")),
        ("push id object", push("{}", "1", "x", "0")),
        ("push id null", push("null", "1", "x", "0")),
        ("push id bool", push("true", "1", "x", "0")),
        ("create time text", push("777", "\"yesterday\"", "x", "0")),
        ("create time negative", push("777", "-1", "x", "0")),
        ("create time float", push("777", "1.5", "x", "0")),
        ("create time overflow", push("777", &"9".repeat(30), "x", "0")),
        ("event type object", good.replace("\"order.created\"", "{}")),
        (
            "event type 200 chars",
            good.replace("order.created", &"e".repeat(200)),
        ),
        (
            "conflicting push ids",
            good.replace("{\"PushId\":777", "{\"pushid\":778,\"PushId\":777"),
        ),
        (
            "conflicting create times",
            good.replace(
                "\"CreateTime\":1747642090",
                "\"CreateTime\":1747642090,\"CrateTime\":1",
            ),
        ),
        (
            "missing Data",
            good.replace(",\"Data\":{\"OrderSn\":\"SO-777\"}", ""),
        ),
        (
            "missing EventType",
            good.replace("\"EventType\":\"order.created\",", ""),
        ),
        (
            "missing CreateTime",
            good.replace("\"CreateTime\":1747642090,", ""),
        ),
    ] {
        cases.push(case(format!("field {name}"), post(text(body)), "-1"));
    }
    for (name, id) in [
        ("0", "0"),
        ("\"0\"", "\"0\""),
        ("\"00\"", "\"00\""),
        ("-0", "-0"),
        ("0.0", "0.0"),
        ("\" 0\"", "\" 0\""),
    ] {
        let body =
            push(id, "1747642090", "3fa2b1afdcd5ff974d7e79ebd39d9fc8", "0").replace("order.created", "");
        cases.push(case(
            format!("test push {name} with the document's foreign sign"),
            post(text(body)),
            "-1",
        ));
    }
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    cases.push(case(
        "unsigned deeply nested Data",
        post(text(push("779", "1", "x", &deep))),
        "-1",
    ));
    cases
}

fn callback_corpus(secret: &str) -> Vec<Case> {
    let ts = NOW_MS.to_string();
    let rid = "2002986662652579841";
    let sig = signature_hex(secret, &ts, rid);
    let body = r#"{"orderId":1689644928115784,"sellerOrderStatus":1}"#;
    let signed = |rid: &[u8], ts: &[u8], sig: &[u8], body: Body| {
        request(
            "POST",
            &[
                ("content-type", b"application/json"),
                ("x-request-id", rid),
                ("x-timestamp", ts),
                ("x-signature", sig),
            ],
            body,
        )
    };
    let good = |body: Body| signed(rid.as_bytes(), ts.as_bytes(), sig.as_bytes(), body);
    let mut cases = Vec::new();
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let mut r = good(text(body));
        *r.method_mut() = method.parse().unwrap();
        cases.push(case(format!("method {method}"), r, "405"));
    }
    let none: &[(&str, &[u8])] = &[];
    cases.push(case("no headers", request("POST", none, text(body)), "401"));
    for missing in ["x-request-id", "x-timestamp", "x-signature"] {
        let headers: Vec<(&str, &[u8])> = [
            ("x-request-id", rid.as_bytes()),
            ("x-timestamp", ts.as_bytes()),
            ("x-signature", sig.as_bytes()),
        ]
        .into_iter()
        .filter(|(n, _)| *n != missing)
        .collect();
        cases.push(case(
            format!("missing {missing}"),
            request("POST", &headers, text(body)),
            "401",
        ));
        let mut twice = headers.clone();
        twice.push((missing, b"x"));
        twice.push((missing, b"y"));
        cases.push(case(
            format!("{missing} twice"),
            request("POST", &twice, text(body)),
            "401",
        ));
        let mut empty = headers.clone();
        empty.push((missing, b""));
        cases.push(case(
            format!("{missing} empty"),
            request("POST", &empty, text(body)),
            "401",
        ));
    }
    let window_ms = 300_000;
    for (name, t) in [
        ("past the window", (NOW_MS - window_ms - 1_000).to_string()),
        ("ahead of the window", (NOW_MS + window_ms + 1_000).to_string()),
        ("zero", "0".to_owned()),
        ("seconds instead of ms", (NOW_MS / 1_000).to_string()),
        ("negative", "-1795440540000".to_owned()),
        ("float", "1795440540000.0".to_owned()),
        ("17 digits", "17954405400000000".to_owned()),
        ("hex", "0x1a2b".to_owned()),
        ("inner space", "1795440 540000".to_owned()),
        ("date", "2026-11-23T13:29:00Z".to_owned()),
    ] {
        let s = signature_hex(secret, &t, rid);
        cases.push(case(
            format!("timestamp {name}"),
            signed(rid.as_bytes(), t.as_bytes(), s.as_bytes(), text(body)),
            "401",
        ));
    }
    let long_rid = "r".repeat(129);
    for (name, id) in [
        ("129 characters", long_rid.as_bytes()),
        ("with a space", b"a b".as_slice()),
        ("with a tab", b"a\tb".as_slice()),
        ("non-ASCII bytes", &[0xc3, 0xbc, b'1'][..]),
        ("high bytes", &[0x80, 0x81][..]),
    ] {
        let s = signature_hex(secret, &ts, &String::from_utf8_lossy(id));
        cases.push(case(
            format!("request id {name}"),
            signed(id, ts.as_bytes(), s.as_bytes(), text(body)),
            "401",
        ));
    }
    for (name, s) in [
        (
            "wrong secret",
            signature_hex("NotTheSecret0123456789abcdefABCD", &ts, rid),
        ),
        (
            "another request's",
            signature_hex(secret, &ts, "2002986662652579842"),
        ),
        (
            "another timestamp's",
            signature_hex(secret, &(NOW_MS - 1).to_string(), rid),
        ),
        ("truncated", sig[..63].to_owned()),
        ("doubled", format!("{sig}{sig}")),
        ("0x prefix", format!("0x{}", &sig[..62])),
        ("non-hex", "z".repeat(64)),
        ("the secret itself", secret.to_owned()),
        (
            "sha256 without key",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned(),
        ),
        ("empty-key hmac", signature_hex("", &ts, rid)),
    ] {
        cases.push(case(
            format!("signature {name}"),
            signed(rid.as_bytes(), ts.as_bytes(), s.as_bytes(), text(body)),
            "401",
        ));
    }
    // Authentic callbacks whose body is not understood are stored, not refused
    // (tests/callback.rs, authentic_callbacks_whose_body_is_not_understood_are_stored_raw).
    let big = format!(
        r#"{{"orderId":1,"pad":"{}"}}"#,
        "x".repeat(DEFAULT_CALLBACK_MAX_BODY_BYTES)
    );
    cases.push(case("oversized body", good(text(big)), "413"));
    cases
}

#[tokio::test]
async fn a_hostile_corpus_gets_failure_answers_stores_nothing_and_leaks_no_secret() {
    let (captured, _guard) = testkit::logs::capture();

    let table = TestTable::create().await;
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    let secrets = parse_secret_list(&local_setting("CALLBACK_HMAC_SECRETS"));
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let postback = Postback::new(
        store.clone(),
        &PostbackConfig {
            store: table.store_config(),
            tokens: tokens.clone().into(),
            max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
            create_time_window: None,
            refused: Default::default(),
        },
    );
    let callback = Callback::new(
        store,
        &CallbackConfig {
            store: table.store_config(),
            secrets: secrets.clone().into(),
            max_age: Some(Duration::from_secs(300)),
            max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
            refused: Default::default(),
        },
    );
    let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(NOW_MS) * 1_000_000).unwrap();

    let postback_cases = postback_corpus(tokens[0].expose());
    let callback_cases = callback_corpus(secrets[0].expose());
    let total = postback_cases.len() + callback_cases.len();
    assert!(total >= 100, "the corpus has {total} requests");
    println!("hostile corpus: {total} requests");
    let mut signatures_sent = Vec::new();
    for c in postback_cases {
        if let Body::Text(t) = c.request.body()
            && let Some(start) = t.find("\"Sign\":\"")
        {
            let rest = &t[start + 8..];
            signatures_sent.push(rest[..rest.find('"').unwrap_or(rest.len())].to_owned());
        }
        let response = postback.handle(c.request).await;
        assert_eq!(response.status(), 200, "{}", c.name);
        assert_eq!(body_text(&response), c.expect, "postback: {}", c.name);
        assert!(
            table.scan_orders().await.is_empty(),
            "postback {} stored something",
            c.name
        );
    }
    for c in callback_cases {
        if let Some(sig) = c.request.headers().get("x-signature") {
            signatures_sent.push(String::from_utf8_lossy(sig.as_bytes()).into_owned());
        }
        let response = callback.handle_at(c.request, now).await;
        assert_eq!(
            response.status().as_u16().to_string(),
            c.expect,
            "callback: {}",
            c.name
        );
        assert!(
            table.scan_orders().await.is_empty(),
            "callback {} stored something",
            c.name
        );
    }
    // What is kept of the refused ones (issue #29.1) is bounded: a body within the size cap, an
    // expiry within the keep period, and no more than the hourly cap.
    let kept = table.refused().await;
    let cap = shared::refused::KeepRefused::default();
    assert!(kept.len() as u64 <= cap.max_per_hour);
    for item in &kept {
        let body = attr_s(item, "raw_body").map_or(0, str::len);
        assert!(body <= cap.max_bytes, "a kept body of {body} bytes");
        let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        let received: i64 = item["received_ms"].as_n().unwrap().parse().unwrap();
        assert!(expires <= received / 1000 + i64::from(cap.days) * 86_400);
    }
    println!(
        "hostile corpus: {} refused requests kept to be re-run",
        kept.len()
    );

    // Valid deliveries too, so the logs hold successful outcomes with their signatures.
    let good_push_sign = sign_hex(tokens[0].expose(), "e", "901", "1747642090");
    let good_push = format!(
        r#"{{"PushId":901,"EventType":"e","CreateTime":1747642090,"Sign":"{good_push_sign}","Data":{{}}}}"#
    );
    assert_eq!(
        body_text(
            &postback
                .handle(request("POST", &[], text(good_push.clone())))
                .await
        ),
        "1"
    );
    assert_eq!(
        body_text(&postback.handle(request("POST", &[], text(good_push))).await),
        "0"
    );
    let good_sig = signature_hex(secrets[0].expose(), &NOW_MS.to_string(), "rid-good");
    let ts = NOW_MS.to_string();
    let headers: &[(&str, &[u8])] = &[
        ("x-request-id", b"rid-good"),
        ("x-timestamp", ts.as_bytes()),
        ("x-signature", good_sig.as_bytes()),
    ];
    let cb = || request("POST", headers, text(r#"{"orderId":5}"#));
    assert_eq!(callback.handle_at(cb(), now).await.status(), 200);
    assert_eq!(callback.handle_at(cb(), now).await.status(), 200);
    signatures_sent.push(good_push_sign);
    signatures_sent.push(good_sig);

    let logs = captured.text();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("\"outcome\"")).collect();
    assert_eq!(lines.len(), total + 4, "one log line per request");
    for secret in tokens.iter().chain(&secrets) {
        assert!(!logs.contains(secret.expose()), "a secret reached the logs");
    }
    for sig in signatures_sent.iter().filter(|s| s.len() >= 16) {
        assert!(
            !logs.contains(sig.as_str()),
            "a signature reached the logs: {sig}"
        );
        assert!(
            !logs.to_lowercase().contains(&sig.to_lowercase()),
            "a signature reached the logs: {sig}"
        );
    }
    // Stored ids stay under their own type's prefix.
    assert!(
        table
            .get(&igv_callback_pk("rid-good"), CALLBACK_SK)
            .await
            .is_some()
    );
}
