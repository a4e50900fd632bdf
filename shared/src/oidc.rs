//! OIDC ID tokens, verified as the provider published them.
//!
//! A provider is configuration ([`crate::config::OidcProvider`]: its issuer and the client ids
//! accepted as `aud`). Its keys come from its discovery document
//! (`<issuer>/.well-known/openid-configuration`, whose `issuer` must be the configured one) and
//! the `jwks_uri` it names — fetched on first use, kept for the instance, and fetched again on
//! a `kid` the set does not hold, at most once every [`REFRESH_AFTER_SECS`] per provider, so a
//! stream of tokens with made-up `kid`s costs one fetch, not one each. The fetch trusts the
//! public web's roots (webpki-roots: Mozilla's list, compiled in, no file read at cold start),
//! only in the functions built with feature `oidc`; plain `http://` only to this machine (the
//! local stack's stand-in issuer).
//!
//! A token is accepted when: its header names a `kid` of the set, and the `alg` that key's type
//! takes — RS256 for an RSA key, ES256 for a P-256 key (the header cannot choose another: `none`,
//! HMAC and mismatches are refused); the signature verifies; `iss` is the issuer; `aud` is one of
//! the client ids; `exp` is in the future and `iat` not in it (60 s of skew either way); `sub` is
//! there; and `nonce` is the caller's nonce or its SHA-256 (hex) — what Apple's clients send.
//! `email_verified` is read as Google sends it (a boolean) and as Apple does (`"true"`).
//! Replays are the caller's to refuse: [`Identity::nonce_key`] names the nonce, kept until the
//! token expires.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::config::{OidcProvider, is_trusted_origin};

/// An unknown `kid` fetches the keys again at most this often (per provider, per instance).
pub const REFRESH_AFTER_SECS: i64 = 300;
/// Clock skew allowed on `exp` and `iat`.
pub const SKEW_SECS: i64 = 60;
/// How long a fetch of a discovery document or key set may take.
const FETCH_TIMEOUT_SECS: u64 = 5;
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The token is not one of the provider's, or not for this app, or not now: 401.
    #[error("the ID token is not valid: {0}")]
    Invalid(&'static str),
    /// The provider's keys could not be had: 503.
    #[error("the provider's keys are unavailable: {0}")]
    Unavailable(String),
}

/// What a verified ID token says of its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's name (`google`, `apple`, `oidc`).
    pub provider: &'static str,
    /// `sub`: the user's id at the provider, stable and never reassigned.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider asserts the address is its user's.
    pub email_verified: bool,
    /// `name`, or `given_name` and `family_name` (Apple's tokens carry none).
    pub name: Option<String>,
    /// `exp`: when the token — and the memory of its nonce — may go.
    pub expires_at: i64,
    /// The nonce the caller gave.
    pub nonce: String,
}

impl Identity {
    /// The key under which a used nonce of this provider is remembered: SHA-256 of provider and
    /// nonce, hex.
    pub fn nonce_key(&self) -> String {
        hex(&Sha256::digest(
            format!("{}\u{0}{}", self.provider, self.nonce).as_bytes(),
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<BoolOrString>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
}

/// `true`, or Apple's `"true"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    String(String),
}

impl BoolOrString {
    fn is_true(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::String(s) => s == "true",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A provider's keys as last fetched.
struct Keys {
    set: JwkSet,
    fetched_at: i64,
}

/// The configured providers, their keys cached for the instance.
pub struct Verifier {
    providers: Vec<OidcProvider>,
    keys: tokio::sync::Mutex<HashMap<&'static str, Keys>>,
    http: Arc<dyn Fetch>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

/// Reads a JSON document over HTTP(S).
pub trait Fetch: Send + Sync {
    fn get<'a>(
        &'a self,
        url: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;
}

impl Verifier {
    /// The providers of `providers`, their keys fetched through `http` when first needed.
    pub fn new(providers: Vec<OidcProvider>, http: Arc<dyn Fetch>) -> Self {
        Self {
            providers,
            keys: tokio::sync::Mutex::default(),
            http,
        }
    }

    /// The configured provider named `name`, if any (an unconfigured one is a 404).
    pub fn provider(&self, name: &str) -> Option<&OidcProvider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Verifies `token` as an ID token of `provider` for `nonce`, at `now` (unix seconds).
    pub async fn verify(
        &self,
        provider: &OidcProvider,
        token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<Identity, OidcError> {
        // The process's provider: RS256 and ES256 only with keys of their type.
        crate::auth::crypto::install();
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| OidcError::Invalid("malformed"))?;
        let kid = header.kid.ok_or(OidcError::Invalid("no kid"))?;
        let (key, algorithm) = self.key(provider, &kid, now).await?;
        if header.alg != algorithm {
            return Err(OidcError::Invalid("alg does not fit the key"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&provider.issuer]);
        validation.set_audience(&provider.client_ids);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // `exp` and `iat` are checked below against the caller's clock (`now`), not here.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| OidcError::Invalid(reason(&e)))?
            .claims;
        if claims.iat > now + SKEW_SECS {
            return Err(OidcError::Invalid("issued in the future"));
        }
        if claims.exp + SKEW_SECS < now {
            return Err(OidcError::Invalid("expired"));
        }
        let given = claims
            .nonce
            .as_deref()
            .ok_or(OidcError::Invalid("no nonce"))?;
        let hashed = hex(&Sha256::digest(nonce.as_bytes()));
        if !(constant_eq(given, nonce) || constant_eq(given, &hashed)) {
            return Err(OidcError::Invalid("nonce"));
        }
        if claims.sub.is_empty() {
            return Err(OidcError::Invalid("no sub"));
        }
        let name = claims.name.filter(|n| !n.trim().is_empty()).or_else(|| {
            let full = [claims.given_name, claims.family_name]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            Some(full).filter(|n| !n.trim().is_empty())
        });
        Ok(Identity {
            provider: provider.name,
            subject: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified.is_some_and(|v| v.is_true()),
            name,
            expires_at: claims.exp,
            nonce: nonce.to_owned(),
        })
    }

    /// The key `kid` of `provider` and the algorithm its type takes: from the cached set, or a
    /// fresh one when the cache does not hold it and is old enough to be fetched again.
    async fn key(
        &self,
        provider: &OidcProvider,
        kid: &str,
        now: i64,
    ) -> Result<(DecodingKey, Algorithm), OidcError> {
        let mut cache = self.keys.lock().await;
        let stale = cache
            .get(provider.name)
            .is_none_or(|k| k.set.find(kid).is_none() && now - k.fetched_at >= REFRESH_AFTER_SECS);
        if stale {
            let set = self.fetch_keys(provider).await?;
            cache.insert(
                provider.name,
                Keys {
                    set,
                    fetched_at: now,
                },
            );
        }
        let jwk = cache
            .get(provider.name)
            .and_then(|k| k.set.find(kid))
            .ok_or(OidcError::Invalid("unknown kid"))?;
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => return Err(OidcError::Invalid("a key of a type not accepted")),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|_| OidcError::Invalid("a malformed key"))?;
        Ok((key, algorithm))
    }

    async fn fetch_keys(&self, provider: &OidcProvider) -> Result<JwkSet, OidcError> {
        let discovery_url = format!("{}/.well-known/openid-configuration", provider.issuer);
        let discovery: Discovery = self.document(&discovery_url).await?;
        if discovery.issuer.trim_end_matches('/') != provider.issuer {
            return Err(OidcError::Unavailable(
                "the discovery document names another issuer".into(),
            ));
        }
        if !is_trusted_origin(&discovery.jwks_uri) {
            return Err(OidcError::Unavailable(
                "the key set is not at an https:// address".into(),
            ));
        }
        self.document(&discovery.jwks_uri).await
    }

    async fn document<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let body = self.http.get(url).await.map_err(OidcError::Unavailable)?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(OidcError::Unavailable(format!("{url}: too large")));
        }
        serde_json::from_slice(&body).map_err(|e| OidcError::Unavailable(format!("{url}: {e}")))
    }
}

/// What a refused token's problem was (never the token).
fn reason(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => "signature",
        ErrorKind::InvalidAlgorithm => "algorithm",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::InvalidIssuer => "issuer",
        ErrorKind::InvalidAudience => "audience",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed",
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(feature = "oidc")]
pub use web::WebFetch;

/// Fetches over HTTPS with the public web's roots (and plain HTTP to this machine).
#[cfg(feature = "oidc")]
mod web {
    use std::time::Duration;

    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    use super::{FETCH_TIMEOUT_SECS, MAX_DOCUMENT_BYTES};
    use crate::config::is_trusted_origin;

    type Https = hyper_rustls::HttpsConnector<HttpConnector>;

    /// An HTTP(S) client trusting Mozilla's roots, built once per instance.
    pub struct WebFetch {
        client: Client<Https, Empty<bytes::Bytes>>,
    }

    impl std::fmt::Debug for WebFetch {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("WebFetch")
        }
    }

    impl WebFetch {
        pub fn new() -> Self {
            let tls = crate::aws::public_web_tls();
            let mut tcp = HttpConnector::new();
            tcp.enforce_http(false);
            tcp.set_connect_timeout(Some(Duration::from_secs(FETCH_TIMEOUT_SECS)));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp);
            Self {
                client: Client::builder(TokioExecutor::new()).build(https),
            }
        }
    }

    impl Default for WebFetch {
        fn default() -> Self {
            Self::new()
        }
    }

    impl super::Fetch for WebFetch {
        fn get<'a>(
            &'a self,
            url: &'a str,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>> {
            Box::pin(async move {
                if !is_trusted_origin(url) {
                    return Err(format!("{url}: not https://"));
                }
                let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
                let fetched =
                    tokio::time::timeout(Duration::from_secs(FETCH_TIMEOUT_SECS), async {
                        let response = self
                            .client
                            .get(uri)
                            .await
                            .map_err(|e| crate::error::cause_chain(&e))?;
                        if !response.status().is_success() {
                            return Err(format!("answered {}", response.status()));
                        }
                        let body = http_body_util::Limited::new(
                            response.into_body(),
                            MAX_DOCUMENT_BYTES + 1,
                        )
                        .collect()
                        .await
                        .map_err(|e| e.to_string())?;
                        Ok(body.to_bytes().to_vec())
                    })
                    .await
                    .map_err(|_| "timed out".to_owned())?;
                fetched.map_err(|e| format!("{url}: {e}"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_http_to_this_machine_is_trusted() {
        for url in [
            "https://accounts.google.com",
            "http://127.0.0.1:4566/_ferrite/oidc/google",
            "http://localhost/x",
            "http://[::1]:8080/x",
        ] {
            assert!(is_trusted_origin(url), "{url}");
        }
        for url in [
            "http://accounts.google.com",
            "http://127.0.0.1.evil.example/x",
            "http://localhost.evil.example",
            "ftp://127.0.0.1/",
            "http://[::2]/",
            "javascript:alert(1)",
        ] {
            assert!(!is_trusted_origin(url), "{url}");
        }
    }

    #[test]
    fn apples_string_booleans_are_read_as_booleans() {
        let claims: Claims =
            serde_json::from_str(r#"{"sub":"a","iat":1,"exp":2,"email_verified":"true"}"#)
                .expect("claims");
        assert!(claims.email_verified.is_some_and(|v| v.is_true()));
        let claims: Claims =
            serde_json::from_str(r#"{"sub":"a","iat":1,"exp":2,"email_verified":"false"}"#)
                .expect("claims");
        assert!(!claims.email_verified.is_some_and(|v| v.is_true()));
    }
}
