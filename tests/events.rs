//! Every sample event in `events/` is a valid API Gateway HTTP API (v2) event that the real
//! handler answers as documented in `events/README.md`, replayed in file-name order as `make run`
//! replays them.

use std::collections::BTreeMap;

use shared::feed::{Invocation, Mode, Selection};
use shared::igv::callback::Callback;
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::linkbest::postback::Postback;
use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::{TestTable, body_text, local_setting, workspace_root};

/// The answer each postback sample event must get, replayed in this order.
const POSTBACK_EXPECTED: &[(&str, &str)] = &[
    ("postback-1-new-push.json", "1"),
    ("postback-2-duplicate.json", "0"),
    ("postback-3-review-test-push.json", "1"),
    ("postback-4-bad-signature.json", "-1"),
];

/// The status each callback sample event must get, replayed in this order.
const CALLBACK_EXPECTED: &[(&str, u16)] = &[
    ("callback-1-order-paid.json", 200),
    ("callback-2-duplicate.json", 200),
    ("callback-3-bad-signature.json", 401),
];

fn event_files(prefix: &str) -> BTreeMap<String, String> {
    std::fs::read_dir(workspace_root().join("events"))
        .expect("events/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            name.starts_with(prefix)
                .then(|| (name, std::fs::read_to_string(&p).expect("readable")))
        })
        .collect()
}

#[tokio::test]
async fn postback_sample_events_get_their_documented_answers() {
    let files = event_files("postback-");
    let listed: Vec<&str> = POSTBACK_EXPECTED.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        listed,
        "every event has an expectation"
    );

    // The table exactly as the template defines it, stream included: the one `make run` has.
    let table = TestTable::create_as_template().await;
    assert_eq!(
        table.stream_view_type().await.as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    let config = PostbackConfig {
        store: table.store_config(),
        tokens: parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS")).into(),
        max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
        create_time_window: None,
        refused: Default::default(),
    };
    let postback = Postback::new(Store::from_config(table.client.clone(), &config.store), &config);
    for (file, expected) in POSTBACK_EXPECTED {
        let request = lambda_http::request::from_str(&files[*file])
            .unwrap_or_else(|e| panic!("{file} is not an API Gateway v2 event: {e}"));
        let response = postback.handle(request).await;
        assert_eq!(body_text(&response), *expected, "{file}");
    }
    assert_eq!(table.scan_orders().await.len(), 2, "one push and its order view");
    assert_eq!(
        table.refused().await.len(),
        1,
        "the badly signed push kept to be re-run"
    );
}

#[tokio::test]
async fn callback_sample_events_get_their_documented_answers() {
    let files = event_files("callback-");
    let listed: Vec<&str> = CALLBACK_EXPECTED.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        listed,
        "every event has an expectation"
    );

    let table = TestTable::create_as_template().await;
    // As in local.env: the events carry fixed timestamps, so the replay window is off.
    assert_eq!(local_setting("CALLBACK_MAX_AGE_SECONDS"), "0");
    let config = CallbackConfig {
        store: table.store_config(),
        secrets: parse_secret_list(&local_setting("CALLBACK_HMAC_SECRETS")).into(),
        max_age: None,
        max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
        refused: Default::default(),
    };
    let callback = Callback::new(Store::from_config(table.client.clone(), &config.store), &config);
    for (file, expected) in CALLBACK_EXPECTED {
        let request = lambda_http::request::from_str(&files[*file])
            .unwrap_or_else(|e| panic!("{file} is not an API Gateway v2 event: {e}"));
        let response = callback.handle(request).await;
        assert_eq!(response.status().as_u16(), *expected, "{file}");
    }
    assert_eq!(
        table.scan_orders().await.len(),
        2,
        "one callback and its order view"
    );
    assert_eq!(
        table.refused().await.len(),
        1,
        "the badly signed callback kept to be re-run"
    );
}

#[test]
fn linkbest_sync_sample_events_select_their_feeds_and_modes() {
    let files = event_files("linkbest-sync-");
    let read = |f: &str| {
        Invocation::from_event(
            &serde_json::from_str(&files[f]).unwrap(),
            &["settlement", "orders"],
            "settlement",
        )
        .unwrap()
    };
    let day = Mode::Backfill {
        from: 1_793_491_200,
        to: 1_793_577_600,
    };
    let expected = [
        (
            "linkbest-sync-1-settlement-schedule.json",
            "settlement",
            Mode::Scheduled,
        ),
        ("linkbest-sync-2-orders-schedule.json", "orders", Mode::Scheduled),
        ("linkbest-sync-3-settlement-backfill.json", "settlement", day),
        ("linkbest-sync-4-orders-backfill.json", "orders", day),
    ];
    assert_eq!(files.len(), expected.len(), "{:?}", files.keys());
    for (file, feed, mode) in expected {
        assert_eq!(
            read(file),
            Invocation {
                feeds: Selection::One(feed.into()),
                mode
            },
            "{file}"
        );
    }
}
