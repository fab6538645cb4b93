//! TLS for every outgoing connection: rustls with the ring crypto provider.
//!
//! One provider for the DynamoDB client and the Linkbest HTTP client keeps one crypto library in
//! the binary (ring is much smaller than aws-lc and cross-builds for arm64 without extra tools).
//!
//! Trust roots of the DynamoDB client: AWS's own endpoints are served with certificates of Amazon
//! Trust Services, so the client trusts exactly those roots, embedded in the binary
//! (`shared/certs/amazon-trust-services.pem`). Reading and parsing the system's whole certificate
//! store instead cost 4–5 ms of every cold start (measured: `Client::from_conf` 4.7 ms with the
//! system store, 0.4 ms without), about as much as the rest of the function's init. A custom
//! endpoint (`AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`: DynamoDB Local, a proxy) may be
//! served with any certificate, so there the system store is used, as before.

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// The root certificates of Amazon Trust Services (PEM).
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// Which certificates the DynamoDB client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Amazon Trust Services' roots only: AWS's own endpoints.
    AmazonTrustServices,
    /// The system's certificate store: a custom endpoint.
    System,
}

impl TrustRoots {
    /// The roots for the endpoint the SDK will use: a custom endpoint URL (any value of
    /// `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`) gets the system store.
    pub fn for_endpoint(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let custom = ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
            .iter()
            .any(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()));
        if custom {
            TrustRoots::System
        } else {
            TrustRoots::AmazonTrustServices
        }
    }
}

/// Makes ring the process-wide rustls provider (reqwest uses it). Calling it again is harmless.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is all this asks for.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTPS client of the AWS SDK: hyper + rustls on ring, trusting `roots`.
pub fn sdk_https_client(roots: TrustRoots) -> SharedHttpClient {
    let builder = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match roots {
        TrustRoots::System => builder.build_https(),
        TrustRoots::AmazonTrustServices => {
            let context = TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS))
                .build()
                .expect("a trust store without extra server names always builds");
            builder.tls_context(context).build_https()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_embedded_roots_are_the_five_amazon_trust_services_roots() {
        let certs: Vec<CertificateDer<'_>> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
                .collect::<Result<_, _>>()
                .expect("valid PEM");
        let fingerprints: Vec<String> = certs
            .iter()
            .map(|c| hex::encode_upper(Sha256::digest(c.as_ref())))
            .collect();
        assert_eq!(
            fingerprints,
            [
                "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E",
                "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
                "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
                "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
                "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
            ]
        );
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn a_custom_endpoint_gets_the_system_store() {
        let none = |_: &str| None;
        assert_eq!(TrustRoots::for_endpoint(&none), TrustRoots::AmazonTrustServices);
        let local =
            |name: &str| (name == "AWS_ENDPOINT_URL_DYNAMODB").then(|| "http://127.0.0.1:8000".to_owned());
        assert_eq!(TrustRoots::for_endpoint(&local), TrustRoots::System);
        let global = |name: &str| (name == "AWS_ENDPOINT_URL").then(|| "https://proxy.example".to_owned());
        assert_eq!(TrustRoots::for_endpoint(&global), TrustRoots::System);
        let blank = |_: &str| Some("  ".to_owned());
        assert_eq!(TrustRoots::for_endpoint(&blank), TrustRoots::AmazonTrustServices);
    }
}
