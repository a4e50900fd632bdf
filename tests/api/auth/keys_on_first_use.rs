//! Keys read on first use (`shared::secrets`): read once per instance however many requests
//! arrive together, a failed read not kept, and a key that cannot be read failing a request
//! before it changes anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::ApiError;
use shared::secrets::{OnFirstUse, SecretError};

use super::{refresh, register, tokens};

async fn put_secret(app: &TestApp, name: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(app.state.sdk_config())
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("the secret is stored");
}

#[tokio::test]
async fn twenty_first_requests_at_once_read_the_key_once_and_all_get_it() {
    let app = TestApp::spawn().await;
    let name = format!("{}/cursor-key", app.table);
    put_secret(&app, &name, "k".repeat(40).as_str()).await;
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reads);
    let key = OnFirstUse::new(name, app.state.sdk_config().clone(), move |text| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(text)
    });
    // One request starts the read, as `shared::http::serve` does; the others ask meanwhile.
    key.start();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let key = Arc::clone(&key);
        requests.spawn(async move { key.get().await.cloned() });
    }
    while let Some(answer) = requests.join_next().await {
        assert_eq!(answer.expect("joined").expect("the key"), "k".repeat(40));
    }
    key.start();
    assert_eq!(key.get().await.expect("kept"), &"k".repeat(40));
    assert_eq!(reads.load(Ordering::SeqCst), 1, "one read per instance");
}

#[tokio::test]
async fn a_key_that_cannot_be_read_is_a_500_and_is_read_again_by_the_next_request() {
    let app = TestApp::spawn().await;
    let name = format!("{}/not-yet", app.table);
    let key = OnFirstUse::new(
        name.clone(),
        app.state.sdk_config().clone(),
        Ok::<_, String>,
    );
    let missing = key.get().await.expect_err("no such secret");
    assert!(
        matches!(missing, SecretError::Unusable { .. }),
        "{missing:?}"
    );
    let answer = ApiError::from(missing);
    assert!(matches!(answer, ApiError::Internal(_)), "{answer:?}");
    // Not kept: once the secret exists, the next use reads it.
    put_secret(&app, &name, "now it exists").await;
    assert_eq!(key.get().await.expect("read again"), "now it exists");
}

#[tokio::test]
async fn a_refresh_whose_signing_key_cannot_be_read_fails_before_the_token_is_spent() {
    let app = TestApp::spawn().await;
    let (_, refresh_token) = tokens(&register(&app, "keyless@example.com").await);
    // The refresh function of a deployment whose signing key secret is missing.
    let base = app.state_of("AuthRefreshFunction");
    let mut config = base.config.clone();
    config.signing_key_secret_id = Some(format!("{}/missing-signing-keys", app.table));
    let mut state = shared::State::from_sdk(config, app.state.sdk_config().clone(), base.clock)
        .expect("state")
        .with_signing_key()
        .expect("configured");
    state.store = base.store.clone();
    let keyless: &'static shared::State = Box::leak(Box::new(state));
    let call = Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": refresh_token}));
    let failed = shared::http::dispatch(keyless, auth_refresh::handle, call.request()).await;
    assert_eq!(failed.status(), 500);
    let body = String::from_utf8_lossy(failed.body().as_ref()).into_owned();
    assert!(
        !body.contains("missing-signing-keys"),
        "a generic body: {body}"
    );
    // The token was not rotated: a working deployment still exchanges it.
    let retried = refresh(&app, &refresh_token).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
}
