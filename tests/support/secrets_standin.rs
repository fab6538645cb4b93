//! A local stand-in for AWS Secrets Manager's `GetSecretValue`, the one call the functions make,
//! spoken the way the real service speaks it (the AWS JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: secretsmanager.GetSecretValue`, a JSON body `{"SecretId": …}`, errors as
//! HTTP 400 with `{"__type": …, "message": …}`), so the real `aws-sdk-secretsmanager` client is
//! pointed at it with `AWS_ENDPOINT_URL_SECRETS_MANAGER` or an endpoint URL.
//!
//! Why a stand-in: AWS publishes no Secrets Manager emulator (DynamoDB Local has no counterpart),
//! and the one call with four outcomes (a string, a binary, not found, access denied) is lighter and
//! more honest written from the API reference than a general mock server with its own gaps.
//! Secrets are found by name or by ARN; every call is counted, so tests can prove the functions
//! read once per cold start or refresh, never per request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What a secret is, as the service would answer it.
#[derive(Debug, Clone)]
pub enum Stored {
    /// `SecretString`.
    Text(String),
    /// `SecretBinary` only.
    Binary,
    /// The caller may not read it: `AccessDeniedException`.
    Denied,
}

#[derive(Default)]
struct Inner {
    secrets: HashMap<String, Stored>,
    calls: u64,
}

/// A running stand-in on a free loopback port.
#[derive(Clone)]
pub struct SecretsStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// The ARN the stand-in gives a secret called `name`.
pub fn arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf")
}

impl SecretsStandIn {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("stand-in binds");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/", post(handle))
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("stand-in serves");
        });
        Self { addr, inner }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates or replaces the secret `name` (found by name or by [`arn`]).
    pub fn put(&self, name: &str, value: Stored) {
        self.inner.lock().unwrap().secrets.insert(name.to_owned(), value);
    }

    pub fn delete(&self, name: &str) {
        self.inner.lock().unwrap().secrets.remove(name);
    }

    /// `GetSecretValue` calls answered so far (successful or not).
    pub fn calls(&self) -> u64 {
        self.inner.lock().unwrap().calls
    }

    /// A client of the real SDK pointed at the stand-in.
    pub fn client(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "local", "local", None, None, "testkit",
            ))
            .endpoint_url(self.endpoint())
            .http_client(shared::tls::sdk_https_client(shared::tls::TrustRoots::System))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: String) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != "secretsmanager.GetSecretValue" {
        return error("UnknownOperationException", &format!("not served here: {target}"));
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Some(id) = request.get("SecretId").and_then(Value::as_str) else {
        return error("InvalidParameterException", "SecretId is required");
    };
    let mut inner = inner.lock().unwrap();
    inner.calls += 1;
    let found = inner
        .secrets
        .iter()
        .find(|(name, _)| *name == id || arn(name) == id)
        .map(|(name, value)| (name.clone(), value.clone()));
    let Some((name, value)) = found else {
        return error(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        );
    };
    let mut answer = json!({
        "ARN": arn(&name),
        "Name": name,
        "VersionId": "00000000-0000-4000-8000-000000000001",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9,
    });
    match value {
        Stored::Text(text) => answer["SecretString"] = Value::String(text),
        Stored::Binary => answer["SecretBinary"] = Value::String("AAEC".to_owned()),
        Stored::Denied => {
            return error(
                "AccessDeniedException",
                "User is not authorized to perform: secretsmanager:GetSecretValue",
            );
        }
    }
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        answer.to_string(),
    )
        .into_response()
}
