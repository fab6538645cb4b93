//! The functions the bench runs and the events it sends them: API Gateway (HTTP API v2) events
//! built from the samples in `events/`, each push and callback new and correctly signed.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use shared::igv::protocol::signature_hex;
use shared::linkbest::push::sign_hex;

/// What runs under the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Postback,
    Callback,
    Sync,
    /// The Python Powertools baseline of the postback (`bench/baseline/`).
    PythonPostback,
    /// The floor: a hello-world `lambda_runtime` function (`bench/hello/`).
    Hello,
    /// The hand-off publisher (stream records in, `PutEvents` out).
    Publisher,
}

impl Function {
    pub fn label(self) -> &'static str {
        match self {
            Function::Postback => "postback",
            Function::Callback => "callback",
            Function::Sync => "linkbest-sync",
            Function::PythonPostback => "postback (Python)",
            Function::Hello => "hello-world",
            Function::Publisher => "publisher",
        }
    }

    /// The release binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            Function::Postback => "postback",
            Function::Callback => "callback",
            Function::Sync => "linkbest-sync",
            Function::PythonPostback => "python",
            Function::Hello => "hello",
            Function::Publisher => "publisher",
        }
    }

    /// The deployed memory size and timeout (template.yaml).
    pub fn memory_and_timeout(self) -> (u32, u32) {
        match self {
            Function::Sync => (256, 300),
            Function::Publisher => (128, 60),
            _ => (128, 8),
        }
    }
}

/// Builds the events; ids never repeat within a run.
pub struct Events {
    push_template: Value,
    callback_template: Value,
    token: String,
    hmac_secret: String,
    run: u64,
    seq: AtomicU64,
}

impl Events {
    pub fn new(push_template: Value, callback_template: Value, token: String, hmac_secret: String) -> Self {
        Self {
            push_template,
            callback_template,
            token,
            hmac_secret,
            run: time::OffsetDateTime::now_utc().unix_timestamp() as u64 % 1_000_000_000,
            seq: AtomicU64::new(0),
        }
    }

    pub fn next_id(&self) -> String {
        format!("{}{:08}", self.run, self.seq.fetch_add(1, Ordering::SeqCst))
    }

    pub fn push_body(&self, push_id: &str) -> String {
        let sign = sign_hex(&self.token, "order.created", push_id, "1795440000");
        format!(
            r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1795440000,"Sign":"{sign}","Data":{{"OrderSn":"BENCH-{push_id}","OrdersPrice":129.9000,"SiterCommission":"6.4950","Currency":"USD","ProgramId":77,"ProgramName":"Bench Store","Status":"Pending","OrderTime":"2026-11-23 12:00:00"}}}}"#
        )
    }

    /// A push of an order's status, created at `create_time`.
    pub fn order_push_body(&self, push_id: u64, create_time: i64, order_sn: &str, status: &str) -> String {
        let (id, ct) = (push_id.to_string(), create_time.to_string());
        let sign = sign_hex(&self.token, "order.status", &id, &ct);
        format!(
            r#"{{"PushId":{id},"EventType":"order.status","CreateTime":{ct},"Sign":"{sign}","Data":{{"OrderSn":"{order_sn}","Status":"{status}"}}}}"#
        )
    }

    /// An API Gateway event carrying `body` to the postback.
    pub fn push_event(&self, body: &str) -> Vec<u8> {
        let mut event = self.push_template.clone();
        event["body"] = json!(body);
        event["headers"]["content-length"] = json!(body.len().to_string());
        serde_json::to_vec(&event).expect("serializable")
    }

    /// The review's test push (PushId 0), correctly signed.
    pub fn test_push_event(&self) -> Vec<u8> {
        let sign = sign_hex(&self.token, "", "0", "1795440000");
        self.push_event(&format!(
            r#"{{"PushId":0,"EventType":"","CreateTime":1795440000,"Sign":"{sign}","Data":{{}}}}"#
        ))
    }

    fn callback_event(&self, request_id: &str) -> Vec<u8> {
        let ts = "1795440539000";
        let body = format!(
            r#"{{"createdAt":"2026-11-23T21:28:57","orderId":{request_id},"orderNum":"SO{request_id}","sellerOrderStatus":1,"buyerId":"1907369850568257537"}}"#
        );
        let mut event = self.callback_template.clone();
        event["body"] = json!(body);
        let headers = &mut event["headers"];
        headers["content-length"] = json!(body.len().to_string());
        headers["X-Request-Id"] = json!(request_id);
        headers["X-Timestamp"] = json!(ts);
        headers["X-Signature"] = json!(signature_hex(&self.hmac_secret, ts, request_id));
        serde_json::to_vec(&event).expect("serializable")
    }

    /// A new event for `function`: a new signed push or callback; for the sync a one-minute
    /// backfill; for the hello-world function any event.
    pub fn new_event(&self, function: Function) -> Vec<u8> {
        match function {
            Function::Postback | Function::PythonPostback => {
                self.push_event(&self.push_body(&self.next_id()))
            }
            Function::Callback => self.callback_event(&self.next_id()),
            Function::Sync => {
                serde_json::to_vec(&json!({"from": 1_790_000_000, "to": 1_790_000_060})).expect("json")
            }
            Function::Hello | Function::Publisher => b"{\"hello\":\"world\"}".to_vec(),
        }
    }
}

/// The body of an HTTP answer, or the whole answer of another function.
pub fn answer_body(answer: &[u8]) -> String {
    match serde_json::from_slice::<Value>(answer) {
        Ok(value) => match value.get("body") {
            Some(Value::String(body)) => body.clone(),
            _ => value.to_string(),
        },
        Err(_) => String::from_utf8_lossy(answer).into_owned(),
    }
}

/// The HTTP status of an HTTP answer.
pub fn status_of(answer: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(answer)
        .ok()?
        .get("statusCode")?
        .as_u64()
}

/// Whether `answer` is the protocol's "stored" for a new event.
pub fn stored(function: Function, answer: &[u8]) -> bool {
    match function {
        Function::Postback | Function::PythonPostback => answer_body(answer) == "1",
        Function::Callback => status_of(answer) == Some(200),
        Function::Sync | Function::Hello | Function::Publisher => true,
    }
}
