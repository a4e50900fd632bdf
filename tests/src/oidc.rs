//! Provider sign-in as tests need it: ID tokens minted by the local endpoint's stand-in issuers
//! (`infra/oidc_issuer.py`), shaped as Google's, Apple's and a generic issuer's — and as a forger
//! would make them.

use serde_json::{Value, json};

use crate::{Call, TestApp, TestResponse, endpoint};

/// The client id the test world accepts for every provider (`aud`).
pub const CLIENT_ID: &str = "ferrite-local";

/// The stand-in issuer of `provider` on `endpoint`.
pub fn issuer(endpoint: &str, provider: &str) -> String {
    format!(
        "{}/_ferrite/oidc/{provider}",
        endpoint.trim_end_matches('/')
    )
}

/// An ID token of `provider`'s stand-in with `claims` over its defaults (a `null` removes
/// one); `forgery` adds what a forger would: `{"key": "stranger"}`, `{"header": {"alg":
/// "none"}}`.
pub async fn id_token_with(provider: &str, claims: Value, forgery: Value) -> String {
    let mut request = json!({ "claims": claims });
    if let (Some(request), Some(forgery)) = (request.as_object_mut(), forgery.as_object()) {
        request.extend(forgery.clone());
    }
    let answer: Value = crate::http()
        .post(format!("{}/token", issuer(&endpoint(), provider)))
        .json(&request)
        .send()
        .await
        .expect("the stand-in issuer")
        .json()
        .await
        .expect("json");
    answer["idToken"].as_str().expect("an ID token").to_owned()
}

/// An honest ID token of `provider` for `sub` and `email`, with `nonce`.
pub async fn id_token(provider: &str, sub: &str, email: &str, nonce: &str) -> String {
    id_token_with(
        provider,
        json!({"sub": sub, "email": email, "nonce": nonce}),
        json!({}),
    )
    .await
}

/// A fresh nonce (128 random bits, hex).
pub fn nonce() -> String {
    ulid::Ulid::new().to_string() + &ulid::Ulid::new().to_string()
}

/// `POST /v1/auth/oidc/{provider}` with `body`.
pub async fn sign_in(app: &TestApp, provider: &str, body: &Value) -> TestResponse {
    app.call(
        auth_oidc::handle,
        Call::new("POST", "/v1/auth/oidc/{provider}")
            .param("provider", provider)
            .json(body),
    )
    .await
}
