//! Where a list of secrets comes from: the value of a plain environment variable (local runs,
//! tests), or a secret in AWS Secrets Manager named by ARN (deployed), read once at cold start and
//! again at most every refresh interval — never once per request.
//!
//! A Secrets Manager secret holds the same text as the plain variable: one value, or a
//! comma-separated list during a rotation (any one is accepted). A new value is picked up without a
//! redeploy: at the next refresh (`SECRETS_REFRESH_SECONDS`, default 300 s) or cold start.
//!
//! A secret that cannot be read is an error naming the variable and the ARN (never a value); the
//! caller answers its protocol's failure answer so the partner retries. Reading is tried again at
//! most every [`RETRY_AFTER_FAILURE`] (or the refresh interval, if shorter): a fixed permission or
//! a restored secret heals the function without a cold start. After a failed refresh the values
//! read before stay in use.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use super::{Secret, parse_secret_list};

/// The pause before reading a secret again after a read failed.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// What the configuration says about one list of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSetting {
    /// The value itself (`LINKBEST_POSTBACK_TOKENS=a,b`).
    Plain(Vec<Secret>),
    /// A secret in AWS Secrets Manager (`LINKBEST_POSTBACK_TOKENS_ARN=arn:aws:secretsmanager:…`,
    /// or its name), read at init and again every `refresh` (zero: only at cold start).
    SecretsManager { id: String, refresh: Duration },
}

/// Why the secrets are not available. Names the variable and the secret's ARN, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} (named by {variable}) could not be read: {reason}")]
    Unreadable {
        variable: &'static str,
        id: String,
        reason: String,
    },
    #[error("secret {id} (named by {variable}) holds no usable value: {reason}")]
    Unusable {
        variable: &'static str,
        id: String,
        reason: String,
    },
}

/// A list of secrets, cheap to clone (shared), read from where its setting says.
#[derive(Clone)]
pub struct SecretList {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SecretList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner.source {
            Source::Plain(values) => write!(
                f,
                "SecretList({}: {} plain values ***)",
                self.inner.variable,
                values.len()
            ),
            Source::Manager { id, .. } => {
                write!(f, "SecretList({}: Secrets Manager {id})", self.inner.variable)
            }
        }
    }
}

struct Inner {
    /// The environment variable that named the secret (for messages).
    variable: &'static str,
    source: Source,
    state: Mutex<State>,
    /// Held while a read from Secrets Manager is under way: one read at a time.
    reading: tokio::sync::Mutex<()>,
}

enum Source {
    Plain(Arc<[Secret]>),
    Manager {
        id: String,
        refresh: Duration,
        client: OnceLock<Client>,
    },
}

#[derive(Default)]
struct State {
    values: Option<Arc<[Secret]>>,
    /// When the secret may be read again (`None`: read at the first use).
    next_read: Option<Instant>,
    error: Option<SecretError>,
}

impl From<Vec<Secret>> for SecretList {
    fn from(values: Vec<Secret>) -> Self {
        Self::plain("(plain)", values)
    }
}

impl SecretList {
    /// A fixed list (a plain variable's value).
    pub fn plain(variable: &'static str, values: Vec<Secret>) -> Self {
        Self::new(variable, Source::Plain(values.into()))
    }

    /// The list a setting describes. A Secrets Manager secret is read once a client is given
    /// ([`SecretList::connect`]); until then [`SecretList::current`] fails.
    pub fn from_setting(variable: &'static str, setting: &SecretSetting) -> Self {
        match setting {
            SecretSetting::Plain(values) => Self::plain(variable, values.clone()),
            SecretSetting::SecretsManager { id, refresh } => Self::new(
                variable,
                Source::Manager {
                    id: id.clone(),
                    refresh: *refresh,
                    client: OnceLock::new(),
                },
            ),
        }
    }

    fn new(variable: &'static str, source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                variable,
                source,
                state: Mutex::new(State::default()),
                reading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// How many values a plain list holds (`None` for a Secrets Manager list).
    pub fn plain_len(&self) -> Option<usize> {
        match &self.inner.source {
            Source::Plain(values) => Some(values.len()),
            Source::Manager { .. } => None,
        }
    }

    /// Whether the list is read from Secrets Manager (and so needs [`SecretList::connect`]).
    pub fn needs_client(&self) -> bool {
        matches!(self.inner.source, Source::Manager { .. })
    }

    /// Gives a Secrets Manager list its client (built by `client` only when needed) and reads the
    /// secret now, at init. A failure is logged once (variable and ARN, never a value) and
    /// returned; the list goes on trying when used.
    pub async fn connect(&self, client: impl FnOnce() -> Client) -> Result<(), SecretError> {
        let Source::Manager { client: slot, .. } = &self.inner.source else {
            return Ok(());
        };
        let _ = slot.set(client());
        self.current().await.map(|_| ()).inspect_err(|e| {
            tracing::error!(target: "secrets", variable = self.inner.variable, error = %e,
                "secret not available at start; every request answers failure until it is");
        })
    }

    /// The secrets to use now. A plain list never fails; a Secrets Manager list is read when due
    /// (first use, refresh interval passed, or retry pause after a failure passed).
    pub async fn current(&self) -> Result<Arc<[Secret]>, SecretError> {
        let (id, refresh, client) = match &self.inner.source {
            Source::Plain(values) => return Ok(Arc::clone(values)),
            Source::Manager { id, refresh, client } => (id, *refresh, client),
        };
        let Some(client) = client.get() else {
            return Err(SecretError::Unreadable {
                variable: self.inner.variable,
                id: id.clone(),
                reason: "no Secrets Manager client (connect was not called)".to_owned(),
            });
        };
        if let Some(ready) = self.ready() {
            return ready;
        }
        // Due. With values in hand, a read already under way is not waited for.
        let _reading = match (self.values(), self.inner.reading.try_lock()) {
            (_, Ok(guard)) => guard,
            (Some(values), Err(_)) => return Ok(values),
            (None, Err(_)) => self.inner.reading.lock().await,
        };
        if let Some(ready) = self.ready() {
            return ready; // read by the one we waited for
        }
        let read = read_secret(client, self.inner.variable, id).await;
        let mut state = self.inner.state.lock().expect("not poisoned");
        match read {
            Ok(values) => {
                if state.values.as_deref() != Some(&values[..]) {
                    tracing::info!(target: "secrets", variable = self.inner.variable,
                        secret_id = %id, entries = values.len(),
                        refresh_s = refresh.as_secs(), "secret read");
                }
                state.values = Some(values.into());
                state.error = None;
                state.next_read = (!refresh.is_zero()).then(|| Instant::now() + refresh);
            }
            Err(error) => {
                let pause = if refresh.is_zero() {
                    RETRY_AFTER_FAILURE
                } else {
                    refresh.min(RETRY_AFTER_FAILURE)
                };
                if state.values.is_some() {
                    tracing::warn!(target: "secrets", variable = self.inner.variable,
                        error = %error, retry_in_s = pause.as_secs_f64(),
                        "secret could not be read again; the values read before stay in use");
                }
                state.error = Some(error);
                state.next_read = Some(Instant::now() + pause);
            }
        }
        match (&state.values, &state.error) {
            (Some(values), _) => Ok(Arc::clone(values)),
            (None, Some(error)) => Err(error.clone()),
            (None, None) => unreachable!("a read either stores values or an error"),
        }
    }

    /// The first secret of the list (for a partner that has one valid secret at a time). Lists
    /// from configuration or Secrets Manager are never empty (both refuse an empty value); one
    /// built from an empty `Vec` is an error here, not a panic.
    pub async fn first(&self) -> Result<Secret, SecretError> {
        self.current()
            .await?
            .first()
            .cloned()
            .ok_or_else(|| SecretError::Unusable {
                variable: self.inner.variable,
                id: match &self.inner.source {
                    Source::Plain(_) => "(plain value)".to_owned(),
                    Source::Manager { id, .. } => id.clone(),
                },
                reason: "the list is empty".to_owned(),
            })
    }

    fn values(&self) -> Option<Arc<[Secret]>> {
        self.inner.state.lock().expect("not poisoned").values.clone()
    }

    /// The answer without reading, when no read is due (never read: due; read and no refresh:
    /// never due again; otherwise due once `next_read` passed).
    fn ready(&self) -> Option<Result<Arc<[Secret]>, SecretError>> {
        let state = self.inner.state.lock().expect("not poisoned");
        let due = match state.next_read {
            None => state.values.is_none(),
            Some(at) => Instant::now() >= at,
        };
        if due {
            return None;
        }
        match (&state.values, &state.error) {
            (Some(values), _) => Some(Ok(Arc::clone(values))),
            (None, Some(error)) => Some(Err(error.clone())),
            (None, None) => None,
        }
    }
}

/// Reads one secret and parses it like the plain variable (comma-separated, trimmed).
async fn read_secret(client: &Client, variable: &'static str, id: &str) -> Result<Vec<Secret>, SecretError> {
    let unusable = |reason: &str| SecretError::Unusable {
        variable,
        id: id.to_owned(),
        reason: reason.to_owned(),
    };
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable {
            variable,
            id: id.to_owned(),
            reason: match e.as_service_error().and_then(|s| s.meta().code()) {
                Some(code) => code.to_owned(),
                None => DisplayErrorContext(&e).to_string(),
            },
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| unusable("no SecretString (a binary secret is not read)"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Err(unusable(
            "it holds JSON; store the value (or a comma-separated list) as plain text",
        ));
    }
    let values = parse_secret_list(text);
    if values.is_empty() {
        return Err(unusable("it is empty"));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_is_the_lists_first_value_and_an_empty_list_is_an_error_not_a_panic() {
        let list = SecretList::from(vec![Secret::new("one"), Secret::new("two")]);
        assert_eq!(list.first().await.unwrap().expose(), "one");
        let empty = SecretList::from(Vec::new());
        assert!(matches!(
            empty.first().await,
            Err(SecretError::Unusable { reason, .. }) if reason == "the list is empty"
        ));
    }
}
