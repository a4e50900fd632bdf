//! The AWS SDK configuration of a function, built for a Lambda cold start.
//!
//! `aws_config::load_defaults` is made for any machine: it walks a provider chain (environment,
//! profile files, SSO, web identity, ECS, IMDS), reads region from several places and builds an
//! HTTPS client that loads the operating system's root-certificate store. On Lambda every one
//! of those answers is already in the environment, and the store alone cost a measured 2–3 ms of
//! every cold start here (≈150 file opens and certificate parses, see BENCHMARKS.md). So:
//!
//! - **credentials** come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`,
//!   which Lambda sets for the execution role (read on first use, then cached by the SDK);
//! - **region** is `AWS_REGION` (validated by [`Config`]);
//! - **TLS** trusts only the Amazon Trust Services roots (bundled, five certificates) when the
//!   SDK talks to AWS's own endpoints: every AWS service endpoint chains to one of them. With
//!   an `https://` `AWS_ENDPOINT_URL` (someone else's endpoint) the system store is used; with
//!   an `http://` one (the local stack) no TLS is set up at all;
//! - **HTTP/1.1 only** (`aws/http1.rs`): hyper-util's pooled keep-alive client over
//!   hyper-rustls, instead of the SDK's own client, which always compiles in HTTP/2 and a proxy
//!   layer that no AWS call here needs (−0.8 MB per function, BENCHMARKS.md);
//! - **timeouts** are explicit, so a stalled connection fails the request (503) well inside the
//!   function's own timeout instead of eating it.
//!
//! `aws-config` stays out of function binaries (it is ≈ a fifth of their size); the admin CLI,
//! which runs on an operator's machine with profiles and SSO, uses it.

use std::time::Duration;

mod http1;
pub mod presign;

use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::timeout::TimeoutConfig;
pub use aws_types::SdkConfig;
use aws_types::region::Region;
use rustls_pki_types::pem::PemObject as _;

use crate::config::Config;

/// The roots of Amazon Trust Services (Amazon Root CA 1–4 and the Starfield Services G2 root
/// that cross-signs them), the only issuers of AWS service endpoint certificates.
const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("aws/amazon-roots.pem");

/// How long opening a connection to an AWS endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one SDK call may take, retries included: inside the API functions' 10 s timeout, so
/// a stalled dependency is answered with a 503 problem+json (and `Retry-After`) instead of
/// Lambda killing the invocation. No per-attempt limit: a slow answer is better than a retried
/// write (transactions carry an idempotency token, plain puts are conditional, but a retry
/// still doubles the load on a struggling table).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Which certificates the HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// No TLS: a plain-HTTP local endpoint.
    None,
    /// The bundled Amazon Trust Services roots: AWS's own endpoints.
    Amazon,
    /// The operating system's store: an `https://` endpoint override that is not AWS.
    System,
}

impl Roots {
    /// The choice for `endpoint_url` (`AWS_ENDPOINT_URL`).
    pub fn for_endpoint(endpoint_url: Option<&str>) -> Self {
        match endpoint_url {
            None => Self::Amazon,
            Some(url) if url.starts_with("http://") => Self::None,
            Some(_) => Self::System,
        }
    }
}

/// Against the local endpoint (moto, which serialises every request behind one lock) a call
/// can queue for seconds behind a busy test suite: there, time limits are the test's business.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(60);

/// The SDK configuration for `config`: no I/O, no provider chain (see the module docs).
pub fn sdk_config(config: &Config) -> SdkConfig {
    let roots = Roots::for_endpoint(config.endpoint_url.as_deref());
    let (connect, operation) = if roots == Roots::None {
        (LOCAL_TIMEOUT, LOCAL_TIMEOUT)
    } else {
        (CONNECT_TIMEOUT, OPERATION_TIMEOUT)
    };
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(LambdaEnvironment))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(connect)
                .operation_timeout(operation)
                .build(),
        )
        .http_client(http_client(roots));
    if let Some(url) = &config.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// The SDK's HTTP client: HTTP/1.1 over rustls (ring), trusting `roots` (`aws/http1.rs`).
pub fn http_client(roots: Roots) -> SharedHttpClient {
    let store = match roots {
        Roots::None => return http1::Http1Client::shared(None),
        Roots::Amazon => {
            let mut store = rustls::RootCertStore::empty();
            let certificates = rustls_pki_types::CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM)
                .collect::<Result<Vec<_>, _>>()
                .expect("the bundled Amazon roots are valid PEM");
            let (added, _) = store.add_parsable_certificates(certificates);
            debug_assert_eq!(added, 5, "five bundled roots");
            store
        }
        Roots::System => {
            let mut store = rustls::RootCertStore::empty();
            // Unreadable or unparsable system certificates are skipped, as the SDK's client does.
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            store
        }
    };
    http1::Http1Client::shared(Some(tls_trusting(store)))
}

/// A TLS client configuration (rustls over ring, its safe default versions) trusting `roots`.
pub fn tls_trusting(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The public web's TLS configuration: Mozilla's roots, compiled in already parsed (no file read,
/// no parsing at init) — for what a function fetches or sends outside AWS (OIDC providers'
/// keys, webhook deliveries).
#[cfg(any(feature = "oidc", feature = "webhook-delivery"))]
pub fn public_web_tls() -> rustls::ClientConfig {
    tls_trusting(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

/// Credentials of the execution role, from the variables Lambda sets (read when the SDK first
/// asks, so building a client does no work; the SDK caches them).
#[derive(Debug)]
struct LambdaEnvironment;

impl LambdaEnvironment {
    fn load() -> provider::Result {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(provider::error::CredentialsError::not_loaded(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
            ));
        };
        Ok(Credentials::new(
            id,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "LambdaEnvironment",
        ))
    }
}

impl ProvideCredentials for LambdaEnvironment {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Self::load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_amazon_roots_are_five_parsable_certificates() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let certs = CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM)
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        for cert in certs {
            webpki_anchor(&cert);
        }
    }

    fn webpki_anchor(cert: &rustls_pki_types::CertificateDer<'_>) {
        let mut store = rustls::RootCertStore::empty();
        store.add(cert.clone()).expect("a usable trust anchor");
    }

    #[test]
    fn aws_endpoints_use_amazon_roots_local_http_uses_no_tls_and_other_https_the_system_store() {
        assert_eq!(Roots::for_endpoint(None), Roots::Amazon);
        assert_eq!(
            Roots::for_endpoint(Some("http://127.0.0.1:4566")),
            Roots::None
        );
        assert_eq!(
            Roots::for_endpoint(Some("https://dynamodb.internal.example")),
            Roots::System
        );
    }
}
