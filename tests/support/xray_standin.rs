//! A local stand-in for the AWS X-Ray daemon: what Lambda runs beside a function with active
//! tracing, spoken as the daemon listens — UDP datagrams of a header line
//! (`{"format": "json", "version": 1}`) and one segment or subsegment document — so the
//! functions' own exporter (`shared::trace::XRayLayer`) is tested against the protocol itself.

use std::sync::{Arc, Mutex};

use serde_json::Value;

#[derive(Clone)]
pub struct XRayStandIn {
    address: String,
    documents: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl XRayStandIn {
    pub async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("binds");
        let address = socket.local_addr().expect("addr").to_string();
        let documents = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let (docs, bad) = (Arc::clone(&documents), Arc::clone(&refused));
        tokio::spawn(async move {
            let mut buffer = vec![0_u8; 64 * 1024];
            while let Ok(n) = socket.recv(&mut buffer).await {
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let parsed = text.split_once('\n').and_then(|(header, body)| {
                    let header: Value = serde_json::from_str(header).ok()?;
                    (header["format"] == "json" && header["version"] == 1)
                        .then(|| serde_json::from_str::<Value>(body).ok())
                        .flatten()
                });
                match parsed {
                    Some(document) => docs.lock().unwrap().push(document),
                    None => bad.lock().unwrap().push(text),
                }
            }
        });
        Self {
            address,
            documents,
            refused,
        }
    }

    /// `host:port`, as `AWS_XRAY_DAEMON_ADDRESS` names it.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The documents received so far (waits a little for datagrams in flight).
    pub async fn documents(&self) -> Vec<Value> {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.documents.lock().unwrap().clone()
    }

    /// Datagrams that were not in the daemon's format (must stay empty).
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}
