//! TLS for every outgoing connection: rustls with the ring crypto provider.
//!
//! One provider for the DynamoDB client and the Linkbest HTTP client keeps one crypto library in
//! the binary (ring is much smaller than aws-lc and cross-builds for arm64 without extra tools).

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Makes ring the process-wide rustls provider (reqwest uses it). Calling it again is harmless.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is all this asks for.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTPS client of the AWS SDK: hyper + rustls on ring, certificates from the system's store.
pub fn sdk_https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
