//! A local stand-in for Linkbest's open API, for the tests, the bench and `make run`: the services
//! `orders.settlement.get` (settlement changes) and `orders.query.get` (the order list).
//!
//! It behaves as the documents (and this project's signing assumption) say: POST
//! `/{AppKey}/{Service}` with a JSON object of strings, the `Sign` verified, `Etime - Stime` at most
//! one day, `PageSize` at most 200 (default 20), `Page` from 1, and for the order list
//! `OrderField=UpdateTime`; the answer is `{"Status":0,"Message":"success","Data":[…]}` with the
//! rows whose time (`ModifyAt` for a change, the order's last update for an order) lies in
//! `[Stime, Etime]`, in a stable order. Refusals answer a non-zero `Status` and are recorded so a
//! test can assert that none happened. Failures, rate limits and hostile pages can be injected on
//! chosen requests, pages or services, and the data can change while it is being paged. Never
//! shipped in a function.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shared::linkbest::api::{MAX_PAGE_SIZE, MAX_WINDOW_SECONDS, ORDERS_SERVICE, SETTLEMENT_SERVICE, sign};
use time::{OffsetDateTime, UtcOffset};

/// One settlement change the stand-in serves: when it happened and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub modify_ts: i64,
    pub order_sn: String,
    pub modify_at: String,
    pub confirm_price: String,
    pub json: String,
}

/// One order of the order list: when it last changed, its status and its JSON (its state now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub update_ts: i64,
    pub order_sn: String,
    pub status: String,
    pub orders_price: String,
    pub json: String,
}

/// A time as Linkbest writes it: `yyyy-MM-dd HH:mm:ss`, China time (UTC+8).
pub fn modify_at(ts: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(ts)
        .expect("valid timestamp")
        .to_offset(UtcOffset::from_hms(8, 0, 0).expect("valid offset"));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `count` distinct changes spread over `[from, to]`, deterministic for a `seed`. Orders get
/// several changes each; money is written with four decimals (prices as JSON numbers,
/// commissions as strings, as in the document).
pub fn generate(count: usize, from: i64, to: i64, seed: u64) -> Vec<Change> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let span = (to - from).max(1);
    let mut used = std::collections::HashSet::new();
    let mut changes = Vec::with_capacity(count);
    while changes.len() < count {
        let modify_ts = from + rng.i64(0..=span);
        let order = rng.u32(0..(count as u32 / 3).max(1));
        let order_sn = format!("SO{seed:03}{order:07}");
        if !used.insert((order_sn.clone(), modify_ts)) {
            continue;
        }
        let old = rng.u32(1_000..500_000);
        let delta = rng.i32(-900..900);
        let new = (i64::from(old) + i64::from(delta)).max(0);
        let money4 = |cents: i64| format!("{}00", money(cents));
        let confirm_price = money4(new);
        let commission = money4(new / 20);
        let at = modify_at(modify_ts);
        let json = format!(
            concat!(
                r#"{{"OrderSn":"{sn}","OrderTime":"{ot}","SubId":"sub-{sub}","ConfirmPriceOld":{old},"#,
                r#""ModifyPrice":{delta},"ConfirmPrice":{new},"ConfirmSiterCommissionOld":{cold},"#,
                r#""ModifySiterCommission":"{cdelta}","ConfirmSiterCommission":"{cnew}","ModifyAt":"{at}","#,
                r#""ProgramId":"{prog}","ProgramName":"Program {prog}","ChargeCurrency":"{cur}"}}"#
            ),
            sn = order_sn,
            ot = modify_at(modify_ts - 86_400 * 3),
            sub = order % 7,
            old = money4(i64::from(old)),
            delta = format!(
                "{}{}",
                if delta < 0 { "-" } else { "" },
                money4(i64::from(delta.abs()))
            ),
            new = confirm_price,
            cold = money4(i64::from(old) / 20),
            cdelta = money4((new - i64::from(old)).abs() / 20),
            cnew = commission,
            at = at,
            prog = 1000 + order % 5,
            cur = if order.is_multiple_of(4) { "USD" } else { "CNY" },
        );
        changes.push(Change {
            modify_ts,
            order_sn,
            modify_at: at,
            confirm_price,
            json,
        });
    }
    changes.sort_by(|a, b| (a.modify_ts, &a.order_sn).cmp(&(b.modify_ts, &b.order_sn)));
    changes
}

/// One order as the order list writes it (the fields of `linkbest-order-list.md`; amounts as
/// JSON numbers with two decimals, `Status` as a string).
pub fn order(order_sn: &str, update_ts: i64, status: &str, price_cents: i64) -> Order {
    let json = format!(
        concat!(
            r#"{{"Id":"{id}","ProgramId":"1021","ProgramName":"JD","WebsiteId":"5501","LinkId":"77","#,
            r#""SubId":"spring-sale","OrderSn":"{sn}","ParentOrderSn":"","OrderTime":"{ot}","#,
            r#""OrdersPrice":{price},"SiterCommission":{commission},"Currency":"CNY","Status":"{status}"}}"#
        ),
        id = 880_000 + update_ts % 100_000,
        sn = order_sn,
        ot = modify_at(update_ts - 3_600),
        price = money(price_cents),
        commission = money(price_cents / 20),
        status = status,
    );
    Order {
        update_ts,
        order_sn: order_sn.to_owned(),
        status: status.to_owned(),
        orders_price: money(price_cents),
        json,
    }
}

/// `count` distinct orders updated over `[from, to]`, deterministic for a `seed`; their
/// `OrderSn`s are `<prefix><seed, 3 digits><n, 7 digits>`.
pub fn generate_orders(count: usize, from: i64, to: i64, seed: u64, prefix: &str) -> Vec<Order> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let span = (to - from).max(1);
    let mut orders: Vec<Order> = (0..count)
        .map(|n| {
            let status = ["0", "0", "1", "2", "-1"][rng.usize(0..5)];
            order(
                &format!("{prefix}{seed:03}{n:07}"),
                from + rng.i64(0..=span),
                status,
                rng.i64(100..500_000),
            )
        })
        .collect();
    orders.sort_by(|a, b| (a.update_ts, &a.order_sn).cmp(&(b.update_ts, &b.order_sn)));
    orders
}

/// A failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500.
    ServerError,
    /// Answer only after this long (beyond the client's timeout).
    Delay(Duration),
    /// HTTP 200 with a body that is not JSON.
    MalformedJson,
    /// HTTP 429 with `Retry-After: 1`.
    RateLimited,
    /// HTTP 200 with a non-zero `Status`.
    StatusError,
    /// A hostile page (HTTP 200, `Status` 0).
    Hostile(Hostile),
}

/// Pages a broken or hostile API could answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// More rows than `PageSize` asked for.
    TooManyRows,
    /// A row that is not an object among good rows.
    RowNotObject,
    /// A row whose `OrderSn` cannot be a key (a space, control characters, 200 bytes).
    BadOrderSn,
    /// `Data` of the wrong type (a string).
    DataWrongType,
    /// A body of 5 MiB.
    HugeBody,
    /// The rows wrapped in an object under a name the document never gave (`{"Rows":[…]}`).
    UnknownWrapper,
}

/// Which requests a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The n-th request the stand-in receives (from 1).
    Request(usize),
    /// Any request for this page number.
    Page(u32),
    /// Any request for this page of the window starting at `stime`.
    WindowPage { stime: i64, page: u32 },
    /// Any request to this service.
    Service(&'static str),
    /// Any request to this service for this page number.
    ServicePage { service: &'static str, page: u32 },
}

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub service: String,
    pub stime: Option<i64>,
    pub etime: Option<i64>,
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    /// Why it was refused, if it was (a protocol violation by the client).
    pub refused: Option<String>,
    /// The fault injected into the answer, if any.
    pub fault: Option<Fault>,
}

struct Armed {
    trigger: Trigger,
    fault: Fault,
    remaining: u32,
}

struct Inner {
    app_key: String,
    secret: String,
    changes: Vec<Change>,
    orders: Vec<Order>,
    faults: Vec<Armed>,
    log: Vec<Logged>,
    /// Answer a page holding exactly one row with `Data` as an object instead of a list.
    single_object_pages: bool,
    /// Serve at most this many rows a page whatever `PageSize` asks (a server-side cap).
    page_cap: Option<u32>,
    /// Wrap every page's rows as `{"List":[…],"Total":n}`.
    wrapped_pages: bool,
    /// Serve page 1 whatever `Page` asks (an API that ignores it).
    ignore_page: bool,
    /// How long every answer takes (besides injected delays).
    latency: Duration,
}

/// A running stand-in.
#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl StandIn {
    /// Starts a stand-in on a free loopback port, serving `changes` (and no orders).
    pub async fn start(app_key: &str, secret: &str, changes: Vec<Change>) -> Self {
        Self::start_on("127.0.0.1:0", app_key, secret, changes).await
    }

    /// Starts a stand-in on `bind` (e.g. `127.0.0.1:9100`).
    pub async fn start_on(bind: &str, app_key: &str, secret: &str, changes: Vec<Change>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            app_key: app_key.to_owned(),
            secret: secret.to_owned(),
            changes: Vec::new(),
            orders: Vec::new(),
            faults: Vec::new(),
            log: Vec::new(),
            single_object_pages: false,
            page_cap: None,
            wrapped_pages: false,
            ignore_page: false,
            latency: Duration::ZERO,
        }));
        let app = Router::new()
            .route("/{app_key}/{service}", post(handle))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind(bind).await.expect("stand-in binds");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("stand-in serves");
        });
        let standin = Self { addr, inner };
        standin.add_changes(changes);
        standin
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves these changes too, from the next request on.
    pub fn add_changes(&self, changes: Vec<Change>) {
        let mut inner = self.lock();
        inner.changes.extend(changes);
        inner
            .changes
            .sort_by(|a, b| (a.modify_ts, &a.order_sn).cmp(&(b.modify_ts, &b.order_sn)));
    }

    /// Serves these orders too (an order already served is replaced: it changed), from the next
    /// request on.
    pub fn add_orders(&self, orders: Vec<Order>) {
        let mut inner = self.lock();
        for order in orders {
            inner.orders.retain(|o| o.order_sn != order.order_sn);
            inner.orders.push(order);
        }
        inner
            .orders
            .sort_by(|a, b| (a.update_ts, &a.order_sn).cmp(&(b.update_ts, &b.order_sn)));
    }

    /// The settlement changes served now.
    pub fn changes(&self) -> Vec<Change> {
        self.lock().changes.clone()
    }

    /// Makes every answer take `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The orders served now.
    pub fn orders(&self) -> Vec<Order> {
        self.lock().orders.clone()
    }

    /// Injects `fault` into the next `times` requests matching `trigger`.
    pub fn fail(&self, trigger: Trigger, fault: Fault, times: u32) {
        self.lock().faults.push(Armed {
            trigger,
            fault,
            remaining: times,
        });
    }

    /// Removes every armed fault.
    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    /// Serves pages of at most `cap` rows, offsets counted in pages of that size, whatever
    /// `PageSize` asks (as a server whose limit dropped below the documented 200 would).
    pub fn set_page_cap(&self, cap: Option<u32>) {
        self.lock().page_cap = cap;
    }

    /// Serves page 1 whatever `Page` asks, as an API that ignores it would.
    pub fn set_ignore_page(&self, on: bool) {
        self.lock().ignore_page = on;
    }

    /// Serves `Data` as `{"List":[…],"Total":<rows in the window>}`.
    pub fn set_wrapped_pages(&self, on: bool) {
        self.lock().wrapped_pages = on;
    }

    pub fn set_single_object_pages(&self, on: bool) {
        self.lock().single_object_pages = on;
    }

    /// Every request received so far.
    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Requests the stand-in refused as protocol violations (bad signature, span over a day, …).
    pub fn violations(&self) -> Vec<Logged> {
        self.log().into_iter().filter(|l| l.refused.is_some()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("stand-in state is not poisoned")
    }
}

fn status(code: i64, message: &str) -> Response {
    let body = format!(r#"{{"Status":{code},"Message":"{message}","Data":null}}"#);
    ([("content-type", "application/json")], body).into_response()
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((app_key, service)): Path<(String, String)>,
    body: String,
) -> Response {
    let (decision, latency) = {
        let mut state = inner.lock().expect("not poisoned");
        (decide(&mut state, &app_key, &service, &body), state.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let json = |body: String| ([("content-type", "application/json")], body).into_response();
    match decision {
        Decision::Refuse(code, message) => status(code, &message),
        Decision::Serve(body) => json(body),
        Decision::Delayed(delay, body) => {
            tokio::time::sleep(delay).await;
            json(body)
        }
        Decision::Fault(Fault::ServerError) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response()
        }
        Decision::Fault(Fault::MalformedJson) => json(r#"{"Status":0,"Data":[{"OrderSn":"#.to_owned()),
        Decision::Fault(Fault::RateLimited) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
        Decision::Fault(Fault::StatusError) => status(5000, "service busy"),
        Decision::Fault(Fault::Delay(_) | Fault::Hostile(_)) => unreachable!("decided as Delayed / Serve"),
    }
}

enum Decision {
    Refuse(i64, String),
    Fault(Fault),
    Delayed(Duration, String),
    Serve(String),
}

fn decide(state: &mut Inner, app_key: &str, service: &str, body: &str) -> Decision {
    let params: Option<BTreeMap<String, String>> = serde_json::from_str(body).ok();
    let get = |name: &str| params.as_ref().and_then(|p| p.get(name)).cloned();
    let stime = get("Stime").and_then(|v| v.parse::<i64>().ok());
    let etime = get("Etime").and_then(|v| v.parse::<i64>().ok());
    let page = get("Page").map_or(Some(1), |v| v.parse::<u32>().ok());
    let page_size = get("PageSize").map_or(Some(20), |v| v.parse::<u32>().ok());
    let mut logged = Logged {
        service: service.to_owned(),
        stime,
        etime,
        page,
        page_size,
        refused: None,
        fault: None,
    };

    let refusal = (|| {
        let params = params
            .as_ref()
            .ok_or((1001, "the body must be a JSON object of strings"))?;
        if app_key != state.app_key || get("AppKey").as_deref() != Some(app_key) {
            return Err((1002, "unknown AppKey"));
        }
        if ![SETTLEMENT_SERVICE, ORDERS_SERVICE].contains(&service)
            || get("Service").as_deref() != Some(service)
        {
            return Err((1002, "unknown Service"));
        }
        if get("Timestamp").and_then(|t| t.parse::<i64>().ok()).is_none() {
            return Err((1001, "Timestamp is required"));
        }
        let mut unsigned = params.clone();
        let sent = unsigned.remove("Sign").unwrap_or_default();
        if sent != sign(&state.secret, app_key, service, &unsigned) {
            return Err((1003, "sign error"));
        }
        let (Some(stime), Some(etime)) = (stime, etime) else {
            return Err((1001, "Stime and Etime are required"));
        };
        if etime < stime || etime - stime > MAX_WINDOW_SECONDS {
            return Err((1004, "the time span cannot exceed 1 day"));
        }
        // This project always asks the order list by update time (every order that changed).
        if service == ORDERS_SERVICE && get("OrderField").as_deref() != Some("UpdateTime") {
            return Err((1006, "OrderField must be UpdateTime here"));
        }
        match (page, page_size) {
            (Some(p), Some(s)) if p >= 1 && (1..=MAX_PAGE_SIZE).contains(&s) => Ok((stime, etime, p, s)),
            _ => Err((1005, "Page must be >= 1 and PageSize 1 to 200")),
        }
    })();

    let (stime, etime, page, page_size) = match refusal {
        Ok(ok) => ok,
        Err((code, message)) => {
            logged.refused = Some(message.to_owned());
            state.log.push(logged);
            return Decision::Refuse(code, message.to_owned());
        }
    };

    let request_number = state.log.len() + 1;
    let fault = state.faults.iter_mut().find_map(|armed| {
        let hit = match armed.trigger {
            Trigger::Request(n) => n == request_number,
            Trigger::Page(p) => p == page,
            Trigger::WindowPage { stime: s, page: p } => s == stime && p == page,
            Trigger::Service(s) => s == service,
            Trigger::ServicePage { service: s, page: p } => s == service && p == page,
        };
        (hit && armed.remaining > 0).then(|| {
            armed.remaining -= 1;
            armed.fault
        })
    });
    logged.fault = fault;
    state.log.push(logged);
    match fault {
        None | Some(Fault::Delay(_) | Fault::Hostile(_)) => {}
        Some(other) => return Decision::Fault(other),
    }

    let in_window: Vec<&str> = if service == ORDERS_SERVICE {
        state
            .orders
            .iter()
            .filter(|o| o.update_ts >= stime && o.update_ts <= etime)
            .map(|o| o.json.as_str())
            .collect()
    } else {
        state
            .changes
            .iter()
            .filter(|c| c.modify_ts >= stime && c.modify_ts <= etime)
            .map(|c| c.json.as_str())
            .collect()
    };
    let served = state.page_cap.map_or(page_size, |cap| cap.min(page_size));
    let page = if state.ignore_page { 1 } else { page };
    let start = ((page - 1) as usize).saturating_mul(served as usize);
    let mut slice: Vec<String> = in_window
        .iter()
        .skip(start)
        .take(served as usize)
        .map(|row| (*row).to_owned())
        .collect();
    let mut data = None;
    if let Some(Fault::Hostile(hostile)) = fault {
        match hostile {
            Hostile::TooManyRows => {
                while slice.len() <= page_size as usize {
                    slice.push(r#"{"OrderSn":"SO-EXTRA"}"#.to_owned());
                }
            }
            Hostile::RowNotObject => slice.insert(0, "42".to_owned()),
            Hostile::BadOrderSn => slice.insert(0, format!(r#"{{"OrderSn":"bad sn {}"}}"#, "x".repeat(200))),
            Hostile::DataWrongType => data = Some(r#""rows""#.to_owned()),
            Hostile::UnknownWrapper => {
                data = Some(format!(
                    r#"{{"Rows":[{}],"Total":{}}}"#,
                    slice.join(","),
                    in_window.len()
                ))
            }
            Hostile::HugeBody => {
                data = Some(format!(
                    r#"[{{"OrderSn":"SO-HUGE","Pad":"{}"}}]"#,
                    "x".repeat(5 << 20)
                ))
            }
        }
    }
    let data = data.unwrap_or_else(|| {
        if state.wrapped_pages {
            format!(r#"{{"List":[{}],"Total":{}}}"#, slice.join(","), in_window.len())
        } else if slice.len() == 1 && state.single_object_pages {
            slice[0].clone()
        } else {
            format!("[{}]", slice.join(","))
        }
    });
    let body = format!(r#"{{"Status":0,"Message":"success","Data":{data}}}"#);
    match fault {
        Some(Fault::Delay(delay)) => Decision::Delayed(delay, body),
        _ => Decision::Serve(body),
    }
}

/// Counts of (OrderSn, ModifyAt, ConfirmPrice) in a data set, for comparing with what was stored.
pub fn identity_counts<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (sn, at, price) in items {
        *counts.entry(format!("{sn}|{at}|{price}")).or_insert(0) += 1;
    }
    counts
}
