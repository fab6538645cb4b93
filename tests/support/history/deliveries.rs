//! Delivery histories: Linkbest pushes and iGV callbacks for a few orders, played concurrently
//! through the real handlers, with the partners' retry behaviour and store faults, then checked.
//!
//! The workload of one history (all from its seed):
//! - 3–6 push ids and 2–5 callback request ids over 2–3 orders per partner; every id has a
//!   first version and maybe a replay with another body (a push's `Data`, a callback's body: neither
//!   is signed), versions out of order (random `CreateTime` / `X-Timestamp`);
//! - 1–2 delivery chains per id, each starting at a random moment, some as a burst of 2–5 identical
//!   deliveries at once; chains with a bad signature mixed in (and ids that only ever come with
//!   one);
//! - re-split forgeries: a genuine push's `Sign` reused with the last digit of its PushId moved
//!   into `CreateTime` (a new, shorter PushId with the forger's `Data`), which must be refused;
//! - a chain whose delivery fails (`-1`, HTTP ≠ 200, or cut off) is delivered again after the
//!   partner's schedule, compressed 10 000× (Linkbest: 60, 300, 600, 1800 s; iGV: 5, 30 min),
//!   until it succeeds or the partner gives up;
//! - store faults at the history's rate (0–30 % of requests): throttling, `TransactionConflict`,
//!   a connection cut after DynamoDB applied the write, an answer held past the attempt timeout,
//!   a request never answered.
//!
//! The invariants, against the model of what was sent and answered:
//! 1. no id is answered "stored" (`1`) twice;
//! 2. an id answered success (`1`/`0`, HTTP 200) is stored, with the content of a validly signed
//!    delivery of it, and of the one answered `1` if there was one;
//! 3. nothing with a bad signature is stored (an id only ever sent badly signed is absent);
//! 4. an id whose deliveries all failed is absent or stored once, and a later retry answers `0`
//!    (HTTP 200) if it was stored, `1` if not, and leaves it stored;
//! 5. every order view equals the newest stored event of its order, whatever the arrival order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use lambda_http::Body;
use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::keys::{
    CALLBACK_SK, ORDER_SK, PUSH_SK, igv_callback_pk, igv_order_pk, linkbest_order_pk, linkbest_push_pk,
};
use shared::linkbest::postback::Postback;
use shared::linkbest::push::sign_hex;
use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
use shared::secret::Secret;
use shared::store::StoreConfig;
use shared::store::{Store, version};

use super::Stats;
use crate::proxy::{FaultyProxy, Mode, Plan};
use crate::{Item, TestTable, attr_n, attr_s, body_text, client_via, http_request};

/// How long the check waits for writes whose answers were given up on to land.
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

/// Linkbest's retry schedule (60, 300, 600, 1800 s), 10 000× faster.
const LINKBEST_RETRIES: [u64; 4] = [6, 30, 60, 180];
/// iGV's (5 and 30 minutes later), 10 000× faster.
const IGV_RETRIES: [u64; 2] = [30, 180];

const TOKEN: &str = "history-postback-token";
const SECRET: &str = "HistoryCallbackSecret0123456789a";

/// The handlers, the table and the proxy that every history of a run shares (each history has
/// ids and orders of its own).
pub struct DeliveryWorld {
    pub table: TestTable,
    pub proxy: FaultyProxy,
    /// The handlers of the history: through the proxy, with short timeouts.
    handlers: Handlers,
    /// The same handlers straight to DynamoDB with the tests' usual timeouts: the partner's later
    /// retry, once the faults are over.
    clean: Handlers,
}

struct Handlers {
    postback: Postback,
    callback: Callback,
}

impl Handlers {
    fn new(store: Store, config: StoreConfig) -> Self {
        let postback = Postback::new(
            store.clone(),
            &PostbackConfig {
                store: config.clone(),
                tokens: vec![Secret::new(TOKEN)].into(),
                max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
                create_time_window: None,
                refused: Default::default(),
            },
        );
        let callback = Callback::new(
            store,
            &CallbackConfig {
                store: config,
                secrets: vec![Secret::new(SECRET)].into(),
                max_age: None,
                max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
                refused: Default::default(),
            },
        );
        Self { postback, callback }
    }
}

/// The store settings of histories: short timeouts, so a held or lost answer costs little time, but
/// not so short that DynamoDB Local's own slowness becomes a fault nobody injected: it serializes
/// concurrent transactions on one item (a burst of 50 takes 0.6–1.5 s, where DynamoDB answers
/// `TransactionConflict` at once), and at 150–300 ms attempts the bursts of ten lanes timed out
/// at a zero fault rate, so that most deliveries failed and were retried.
fn store_config(table: &TestTable) -> StoreConfig {
    let mut config = table.store_config();
    config.attempt_timeout = Duration::from_millis(700);
    config.operation_timeout = Duration::from_millis(1600);
    config
}

/// A freshly started DynamoDB Local answers its first few hundred requests slowly (the JVM
/// compiles as it goes): played before the histories, so their short timeouts mean faults.
pub async fn warm_up() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let clean = Handlers::new(store, table.store_config());
    for i in 0..120u64 {
        let d = Delivery {
            kind: if i % 2 == 0 { Kind::Push } else { Kind::Callback },
            id: format!("{}", 9_000_000 + i / 2),
            order: format!("{}", 8_000_000 + i % 7),
            time: 1_800_000_000 + i,
            status: 1,
            variant: 0,
            signed: true,
            fresh_timestamps: false,
            resplit_of: None,
        };
        let _ = deliver(&clean, &d, 0).await;
    }
}

impl DeliveryWorld {
    pub async fn new() -> Self {
        Self::on(TestTable::create().await).await
    }

    /// A world whose table has the template's stream (for the hand-off's histories).
    pub async fn with_stream() -> Self {
        Self::on(TestTable::create_as_template().await).await
    }

    async fn on(table: TestTable) -> Self {
        let proxy = FaultyProxy::start(&crate::endpoint()).await;
        let config = store_config(&table);
        let store = Store::from_config(client_via(&proxy.endpoint(), &config).await, &config);
        let handlers = Handlers::new(store, config);
        let clean = Handlers::new(
            Store::from_config(table.client.clone(), &table.store_config()),
            table.store_config(),
        );
        Self {
            table,
            proxy,
            handlers,
            clean,
        }
    }

    /// Plays the history of `seed` and checks it.
    pub async fn run(&self, seed: u64) -> Stats {
        let mut rng = fastrand::Rng::with_seed(seed);
        let plan = Workload::generate(&mut rng, seed);
        let fault_rate = [0.0, 0.05, 0.15, 0.3][rng.usize(0..4)];
        // HISTORY_FAULT_RATE (0–1) overrides the drawn rate, e.g. 0 to see what load alone does.
        let fault_rate = std::env::var("HISTORY_FAULT_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(fault_rate);
        let faults_before = self.proxy.faults();
        self.proxy.set_plan(fault_plan(seed, fault_rate));

        let log = Arc::new(Mutex::new(Vec::<Answered>::new()));
        let retries = Arc::new(Mutex::new(0u64));
        let chains = plan.chains.iter().map(|chain| {
            let (log, retries) = (Arc::clone(&log), Arc::clone(&retries));
            async move {
                tokio::time::sleep(Duration::from_millis(chain.start_ms)).await;
                let schedule: &[u64] = match chain.delivery.kind {
                    Kind::Push => &LINKBEST_RETRIES,
                    Kind::Callback => &IGV_RETRIES,
                };
                let mut attempt = 0;
                loop {
                    let copies = if attempt == 0 { chain.burst } else { 1 };
                    let answers =
                        join_all((0..copies).map(|_| deliver(&self.handlers, &chain.delivery, attempt)))
                            .await;
                    let ok = answers.iter().any(|a| a.success());
                    log.lock()
                        .unwrap()
                        .extend(answers.into_iter().map(|answer| Answered {
                            delivery: chain.delivery.clone(),
                            answer,
                        }));
                    // A badly signed delivery fails every time; its retries prove nothing more.
                    if ok || !chain.delivery.signed || attempt >= schedule.len() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(schedule[attempt])).await;
                    attempt += 1;
                    *retries.lock().unwrap() += 1;
                }
            }
        });
        join_all(chains).await;
        self.proxy.set(Mode::Pass);
        // Writes whose answers the handlers gave up on may still be on their way: the check reads
        // the table once they all landed (or never will).
        if !self.proxy.settle(SETTLE_WITHIN).await {
            // A check now could see a write land after it: the history proves nothing either way.
            eprintln!(
                "history {seed}: requests still in flight after {} s (the store is overloaded); \
                 not checked",
                SETTLE_WITHIN.as_secs()
            );
            return Stats {
                histories: 1,
                inconclusive: 1,
                ..Stats::default()
            };
        }
        let answered = std::mem::take(&mut *log.lock().unwrap());
        let mut stats = Stats {
            histories: 1,
            deliveries: answered.len() as u64,
            retries: *retries.lock().unwrap(),
            ..Stats::default()
        };
        for a in &answered {
            let signed = if a.delivery.signed { "" } else { " (bad signature)" };
            let key = match &a.answer {
                Answer::Push(text) => format!("push {text}{signed}"),
                Answer::Callback(status) => format!("callback {status}{signed}"),
            };
            *stats.answers.entry(key).or_default() += 1;
        }
        for (kind, n) in self.proxy.faults() {
            stats.count_fault(
                format!("store:{kind}"),
                n - faults_before.get(kind).copied().unwrap_or(0),
            );
        }
        self.check(seed, &plan, &answered, &mut stats).await;
        stats
    }
}

/// One delivery (the `attempt`-th of its chain) through the real handler.
async fn deliver(handlers: &Handlers, d: &Delivery, attempt: usize) -> Answer {
    match d.kind {
        Kind::Push => {
            let token = if d.signed { TOKEN } else { "someone-else's-token" };
            let (sign, create_time) = match &d.resplit_of {
                Some((genuine_id, genuine_time)) => (
                    sign_hex(TOKEN, "order.status", genuine_id, &genuine_time.to_string()),
                    format!("{}{genuine_time}", &genuine_id[genuine_id.len() - 1..]),
                ),
                None => (
                    sign_hex(token, "order.status", &d.id, &d.time.to_string()),
                    d.time.to_string(),
                ),
            };
            let body = format!(
                r#"{{"PushId":{},"EventType":"order.status","CreateTime":{create_time},"Sign":"{sign}","Data":{{"OrderSn":"{}","Status":"{}","OrdersPrice":{}.00}}}}"#,
                d.id, d.order, d.status, d.variant
            );
            Answer::Push(body_text(
                &handlers.postback.handle(http_request("POST", body)).await,
            ))
        }
        Kind::Callback => {
            // iGV may sign a retry anew, with a fresh timestamp.
            let ts = if attempt > 0 && d.fresh_timestamps {
                d.time + attempt as u64 * 1_000
            } else {
                d.time
            };
            let secret = if d.signed {
                SECRET
            } else {
                "SomeoneElsesSecret0123456789abcd"
            };
            let signature = signature_hex(secret, &ts.to_string(), &d.id);
            let body = format!(
                r#"{{"orderId":{},"sellerOrderStatus":{},"orderNum":"N{}"}}"#,
                d.order, d.status, d.variant
            );
            let request = lambda_http::http::Request::builder()
                .method("POST")
                .header("x-request-id", &d.id)
                .header("x-timestamp", ts.to_string())
                .header("x-signature", signature)
                .body(Body::Text(body))
                .expect("valid request");
            Answer::Callback(handlers.callback.handle(request).await.status().as_u16())
        }
    }
}

impl DeliveryWorld {
    async fn stored(&self, kind: Kind, id: &str) -> Option<Item> {
        match kind {
            Kind::Push => self.table.get(&linkbest_push_pk(id), PUSH_SK).await,
            Kind::Callback => self.table.get(&igv_callback_pk(id), CALLBACK_SK).await,
        }
    }

    /// Invariants 1.–4. for one id: its violations, whether it was lost, and what is stored for it
    /// at the end.
    async fn check_id(&self, id: &Id, answered: &[Answered]) -> (Vec<String>, u64, Option<Item>) {
        let mut violations = Vec::new();
        let mut fail = |what: String| violations.push(what);
        let mut lost = 0;
        let mine: Vec<&Answered> = answered.iter().filter(|a| a.delivery.id == id.id).collect();
        let valid: Vec<&Answered> = mine.iter().copied().filter(|a| a.delivery.signed).collect();
        let stored = self.stored(id.kind, &id.id).await;
        // 1. Never "stored" twice.
        let firsts: Vec<&&Answered> = valid.iter().filter(|a| a.answer.first()).collect();
        if firsts.len() > 1 {
            fail(format!(
                "{} {} answered stored {} times",
                id.kind,
                id.id,
                firsts.len()
            ));
        }
        for a in mine.iter().filter(|a| !a.delivery.signed) {
            if a.answer.success() {
                fail(format!(
                    "{} {}: a badly signed delivery answered {:?}",
                    id.kind, id.id, a.answer
                ));
            }
        }
        // 2. and 3. What is stored.
        match &stored {
            None if valid.iter().any(|a| a.answer.success()) => {
                lost += 1;
                fail(format!(
                    "{} {} answered success but is not stored",
                    id.kind, id.id
                ));
            }
            None => {}
            Some(item) => {
                let variant = stored_variant(id.kind, item);
                if !valid.iter().any(|a| Some(a.delivery.variant) == variant) {
                    fail(format!(
                        "{} {} stored variant {variant:?}, which no validly signed delivery sent",
                        id.kind, id.id
                    ));
                }
                if let Some(first) = firsts.first()
                    && Some(first.delivery.variant) != variant
                {
                    fail(format!(
                        "{} {} stored variant {variant:?}, but variant {} was answered stored",
                        id.kind, id.id, first.delivery.variant
                    ));
                }
            }
        }
        // 4. A later retry of an id: answered as what it is, and stored afterwards.
        if let Some(first) = valid.first() {
            let again = deliver(&self.clean, &first.delivery, 0).await;
            stats_retry_check(id, stored.is_some(), &again, &mut fail);
            let after = self.stored(id.kind, &id.id).await;
            if after.is_none() {
                lost += 1;
                fail(format!("{} {} not stored after a clean retry", id.kind, id.id));
            }
            (violations, lost, after)
        } else {
            if stored.is_some() {
                fail(format!(
                    "{} {} only ever came badly signed, yet is stored",
                    id.kind, id.id
                ));
            }
            (violations, lost, stored)
        }
    }

    async fn check(&self, seed: u64, plan: &Workload, answered: &[Answered], stats: &mut Stats) {
        // 1.–4., every id at once (each check reads and retries only its own id).
        let per_id = join_all(plan.ids.iter().map(|id| self.check_id(id, answered))).await;
        let mut lost = 0;
        let mut finally = Vec::new();
        for (violations, id_lost, item) in per_id {
            stats
                .violations
                .extend(violations.into_iter().map(|v| format!("history {seed}: {v}")));
            lost += id_lost;
            finally.push(item);
        }
        let mut fail = |what: String| stats.violations.push(format!("history {seed}: {what}"));
        // 5. Every order view is at the newest stored event of its order.
        for (kind, order) in &plan.orders {
            let mut newest: Option<(String, String)> = None;
            for (id, item) in plan.ids.iter().zip(&finally) {
                let Some(item) = item.as_ref().filter(|_| id.kind == *kind) else {
                    continue;
                };
                let (order_of, v) = match kind {
                    Kind::Push => (
                        attr_s(item, "order_sn").map(str::to_owned),
                        version(
                            attr_n(item, "create_time")
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(0),
                            &id.id,
                        ),
                    ),
                    Kind::Callback => (
                        attr_s(item, "order_id").map(str::to_owned),
                        version(
                            attr_n(item, "x_timestamp")
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(0),
                            &id.id,
                        ),
                    ),
                };
                if order_of.as_deref() == Some(order.as_str())
                    && newest.as_ref().is_none_or(|(nv, _)| *nv < v)
                {
                    newest = Some((v, id.id.clone()));
                }
            }
            let (pk, version_attr, last_id) = match kind {
                Kind::Push => (linkbest_order_pk(order), "state_version", "last_push_id"),
                Kind::Callback => (igv_order_pk(order), "status_version", "last_request_id"),
            };
            let view = self.table.get(&pk, ORDER_SK).await;
            let view_at = view
                .as_ref()
                .and_then(|v| attr_s(v, version_attr).map(str::to_owned));
            let view_id = view.as_ref().and_then(|v| attr_s(v, last_id).map(str::to_owned));
            match newest {
                None if view.is_some() => {
                    fail(format!("{kind} order {order} has a view but no stored event"))
                }
                Some((v, id))
                    if view_at.as_deref() != Some(v.as_str()) || view_id.as_deref() != Some(id.as_str()) =>
                {
                    fail(format!(
                        "{kind} order {order}: view at {view_at:?} ({view_id:?}), newest stored is {v} ({id})"
                    ))
                }
                _ => {}
            }
        }
        stats.items_lost += lost;
    }
}

fn stats_retry_check(id: &Id, was_stored: bool, again: &Answer, fail: &mut impl FnMut(String)) {
    let expected = match (id.kind, was_stored) {
        (Kind::Push, true) => Answer::Push("0".into()),
        (Kind::Push, false) => Answer::Push("1".into()),
        (Kind::Callback, _) => Answer::Callback(200),
    };
    if *again != expected {
        fail(format!(
            "{} {}: a clean retry answered {again:?}, expected {expected:?} (stored before: {was_stored})",
            id.kind, id.id
        ));
    }
}

/// Which version of an id the stored item holds (the price of a push's `Data`, the `orderNum`
/// of a callback).
fn stored_variant(kind: Kind, item: &Item) -> Option<u32> {
    match kind {
        Kind::Push => {
            let raw = attr_s(item, "raw_body")?;
            let price = raw.split("\"OrdersPrice\":").nth(1)?;
            price.split('.').next()?.parse().ok()
        }
        Kind::Callback => attr_s(item, "order_num")?.strip_prefix('N')?.parse().ok(),
    }
}

/// The store faults of one history: each request hit with probability `rate`, by a kind drawn from
/// the seeded generator (the draws follow the order requests reach the proxy).
fn fault_plan(seed: u64, rate: f64) -> Plan {
    let rng = Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed));
    Arc::new(move |operation: &str| {
        let mut rng = rng.lock().unwrap();
        if rng.f64() >= rate {
            return Mode::Pass;
        }
        // The timeouts cost a history most of its time: drawn half as often as the others.
        match rng.usize(0..8) {
            0 | 1 => Mode::Throttle,
            2 | 3 if operation == "TransactWriteItems" => Mode::Conflict,
            2..=5 => Mode::CutAfterServerAnswered,
            6 => Mode::Slow(Duration::from_millis(900)),
            _ => Mode::Blackhole,
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Push,
    Callback,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Push => "push",
            Kind::Callback => "callback",
        })
    }
}

/// One delivery as the partner sends it.
#[derive(Debug, Clone)]
struct Delivery {
    kind: Kind,
    id: String,
    order: String,
    /// `CreateTime` (s) or `X-Timestamp` (ms).
    time: u64,
    status: u32,
    /// Which body of the id (0 the first; 1 a replay with another body; 9 a forger's).
    variant: u32,
    signed: bool,
    fresh_timestamps: bool,
    /// A re-split forgery: the genuine push (PushId, CreateTime) whose `Sign` it carries; its own
    /// PushId is that one's without the last digit, which is moved in front of `CreateTime`.
    resplit_of: Option<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Push(String),
    Callback(u16),
}

impl Answer {
    fn success(&self) -> bool {
        match self {
            Answer::Push(a) => a == "1" || a == "0",
            Answer::Callback(status) => *status == 200,
        }
    }

    /// The answer that says "this delivery stored it" (only a push tells it apart).
    fn first(&self) -> bool {
        matches!(self, Answer::Push(a) if a == "1")
    }
}

struct Answered {
    delivery: Delivery,
    answer: Answer,
}

struct Chain {
    delivery: Delivery,
    start_ms: u64,
    burst: usize,
}

struct Id {
    kind: Kind,
    id: String,
}

struct Workload {
    ids: Vec<Id>,
    orders: Vec<(Kind, String)>,
    chains: Vec<Chain>,
}

impl Workload {
    fn generate(rng: &mut fastrand::Rng, seed: u64) -> Self {
        let tag = seed % 1_000_000_000_000;
        let mut ids = Vec::new();
        let mut orders = Vec::new();
        let mut chains = Vec::new();
        for kind in [Kind::Push, Kind::Callback] {
            let order_names: Vec<String> = (0..rng.usize(2..=3))
                .map(|o| match kind {
                    Kind::Push => format!("H{tag}-O{o}"),
                    Kind::Callback => format!("{}{o}", 7_000_000_000_000u64 + tag % 1_000_000_000),
                })
                .collect();
            orders.extend(order_names.iter().map(|o| (kind, o.clone())));
            let count = match kind {
                Kind::Push => rng.usize(3..=6),
                Kind::Callback => rng.usize(2..=5),
            };
            for i in 0..count {
                let id = match kind {
                    Kind::Push => format!("1{tag:012}{i:03}"),
                    Kind::Callback => format!("h{tag}-r{i}"),
                };
                let base = Delivery {
                    kind,
                    id: id.clone(),
                    order: order_names[rng.usize(0..order_names.len())].clone(),
                    time: match kind {
                        Kind::Push => 1_800_000_000 + rng.u64(0..60),
                        Kind::Callback => 1_800_000_000_000 + rng.u64(0..60_000),
                    },
                    status: rng.u32(0..3),
                    variant: 0,
                    signed: true,
                    fresh_timestamps: rng.bool(),
                    resplit_of: None,
                };
                let only_forged = rng.u8(0..10) == 0;
                if !only_forged {
                    for _ in 0..rng.usize(1..=2) {
                        let mut delivery = base.clone();
                        if rng.u8(0..5) == 0 {
                            delivery.variant = 1; // the same id with another body
                            delivery.status = (base.status + 1) % 3;
                        }
                        chains.push(Chain {
                            delivery,
                            start_ms: rng.u64(0..40),
                            burst: if rng.u8(0..5) == 0 { rng.usize(2..=5) } else { 1 },
                        });
                    }
                }
                if only_forged || rng.u8(0..4) == 0 {
                    chains.push(Chain {
                        delivery: Delivery {
                            variant: 9,
                            signed: false,
                            ..base.clone()
                        },
                        start_ms: rng.u64(0..40),
                        burst: 1,
                    });
                }
                if kind == Kind::Push && rng.u8(0..4) == 0 {
                    // The forger's PushId is 15 digits, every genuine one 16: no collision.
                    let forged_id = id[..id.len() - 1].to_owned();
                    chains.push(Chain {
                        delivery: Delivery {
                            id: forged_id.clone(),
                            variant: 9,
                            signed: false,
                            resplit_of: Some((id.clone(), base.time)),
                            status: 2,
                            ..base.clone()
                        },
                        start_ms: rng.u64(0..40),
                        burst: 1,
                    });
                    ids.push(Id { kind, id: forged_id });
                }
                ids.push(Id { kind, id });
            }
        }
        Self { ids, orders, chains }
    }
}
