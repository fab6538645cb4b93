//! What the HTTP functions read from an API Gateway request, the same way for every protocol.

use lambda_http::{Body, Request, RequestExt};

/// The request body as bytes (API Gateway's base64 bodies are already decoded by `lambda_http`).
pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The Lambda request id of this invocation, for tracing one delivery through the logs.
pub fn lambda_request_id(request: &Request) -> Option<String> {
    request.lambda_context_ref().map(|c| c.request_id.clone())
}
