//! Rotating the signing key: tokens signed before, during and after a rotation verify wherever
//! the deployment that checks them publishes their key — through the real init path (the key
//! set read from the local Secrets Manager, the signer pinned by `SIGNING_KEY_ID`) and the real
//! handlers (sign-in mints, `GET /users/me` verifies).

use ferrite_tests::{Call, PASSWORD, TestApp};
use serde_json::json;
use shared::State;
use shared::auth::keys::{KeySet, RETIRE_AFTER_SECS, VerifyingKeys};

/// One deployment of the stack, as `make deploy` leaves it: its signers pinned to the key
/// `SigningKeyId` names, its verifiers given `JwtPublicKeys`, both from the key set as it was
/// when it deployed.
struct Deployment {
    signer: &'static State,
    verifier: &'static State,
}

async fn deploy(app: &TestApp, secret: &str, keys: &KeySet) -> Deployment {
    let sm = aws_sdk_secretsmanager::Client::new(app.state.sdk_config());
    infra::stack::store_key_set(&sm, secret, keys)
        .await
        .expect("the key set is stored");
    let kid = keys.signing_key().expect("a signing key").kid().to_owned();
    Deployment {
        signer: signer(app, secret, &kid),
        verifier: verifier(app, keys),
    }
}

/// A sign-in function of a deployment pinned to `kid`, starting now: it reads the key set
/// from Secrets Manager on its first request, and signs with `kid` whatever the set says first
/// by then.
fn signer(app: &TestApp, secret: &str, kid: &str) -> &'static State {
    let base = app.state_of("AuthLoginFunction");
    let mut config = base.config.clone();
    config.signing_key_secret_id = Some(secret.to_owned());
    config.signing_key_id = Some(kid.to_owned());
    let mut state = State::from_sdk(config, app.state.sdk_config().clone(), base.clock)
        .expect("the signer's state");
    state.store = base.store.clone();
    state.auth = base.auth.clone();
    let state = state.with_signing_key().expect("the signer starts");
    Box::leak(Box::new(state))
}

fn verifier(app: &TestApp, keys: &KeySet) -> &'static State {
    let mut state = app.state_of("UsersMeGetFunction").clone();
    state.auth.set_verifier(
        VerifyingKeys::parse(&keys.public_keys().expect("public keys")).expect("published keys"),
    );
    Box::leak(Box::new(state))
}

async fn sign_in(signer: &'static State, email: &str) -> String {
    let call =
        Call::new("POST", "/v1/auth/login").json(&json!({"email": email, "password": PASSWORD}));
    let response = shared::http::dispatch(signer, auth_login::handle, call.request()).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    body["accessToken"].as_str().expect("a token").to_owned()
}

async fn me(verifier: &'static State, token: &str) -> u16 {
    let call = Call::new("GET", "/v1/users/me").bearer(token);
    shared::http::dispatch(verifier, users_me_get::handle, call.request())
        .await
        .status()
        .as_u16()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid")
}

#[tokio::test]
async fn tokens_signed_before_during_and_after_a_key_rotation_verify_wherever_their_key_is_published()
 {
    let app = TestApp::spawn().await;
    let email = format!("rotating-{}@example.com", app.table.to_lowercase());
    app.user(&email, None).await;
    let secret = format!("{}/jwt-signing-keys", app.table);
    let mut keys = KeySet::generate().expect("keys");
    let first = keys.signing_key().expect("key").kid().to_owned();

    let v1 = deploy(&app, &secret, &keys).await;
    let before = sign_in(v1.signer, &email).await;
    assert_eq!(me(v1.verifier, &before).await, 200);

    // Step 1, stage, and its deploy: while it rolls out, both versions serve.
    keys.stage().expect("stage");
    let next = keys.next.as_ref().expect("staged").kid.clone();
    let v2 = deploy(&app, &secret, &keys).await;
    let staged = sign_in(v2.signer, &email).await;
    assert_eq!(kid_of(&staged), first, "a staged key signs nothing");
    for token in [&before, &staged] {
        assert_eq!(me(v1.verifier, token).await, 200);
        assert_eq!(me(v2.verifier, token).await, 200);
    }

    // Step 2, promote, and its deploy (a canary: v2 and v3 serve side by side).
    keys.promote(1_800_000_000).expect("promote");
    let v3 = deploy(&app, &secret, &keys).await;
    let promoted = sign_in(v3.signer, &email).await;
    assert_eq!(kid_of(&promoted), next);
    // An instance of the old version starting after the promotion still signs with its key.
    let late_v2 = signer(&app, &secret, &first);
    let late = sign_in(late_v2, &email).await;
    assert_eq!(kid_of(&late), first);
    for token in [&before, &staged, &promoted, &late] {
        assert_eq!(me(v2.verifier, token).await, 200, "v2 knows the staged key");
        assert_eq!(
            me(v3.verifier, token).await,
            200,
            "v3 still knows the old key"
        );
    }

    // Step 3, retire (an access token's lifetime later), and its deploy.
    assert!(keys.retire(1_800_000_000 + 60).is_err(), "too early");
    keys.retire(1_800_000_000 + RETIRE_AFTER_SECS)
        .expect("retire");
    let v4 = deploy(&app, &secret, &keys).await;
    let after = sign_in(v4.signer, &email).await;
    for token in [&promoted, &after] {
        assert_eq!(me(v3.verifier, token).await, 200);
        assert_eq!(me(v4.verifier, token).await, 200);
    }
    // Only a token of the retired key, long expired in a real rotation, is refused.
    assert_eq!(me(v4.verifier, &before).await, 401);
}

#[tokio::test]
async fn promoting_a_key_no_verifier_was_given_would_401_which_is_why_rotation_stages_first() {
    let app = TestApp::spawn().await;
    let email = format!("hasty-{}@example.com", app.table.to_lowercase());
    app.user(&email, None).await;
    let secret = format!("{}/jwt-signing-keys", app.table);
    let mut keys = KeySet::generate().expect("keys");
    let old = deploy(&app, &secret, &keys).await;
    // The naive rotation: a new key signs at once, before the verifiers were deployed with it.
    keys.stage().expect("stage");
    keys.promote(1_800_000_000).expect("promote");
    let hasty = deploy(&app, &secret, &keys).await;
    let token = sign_in(hasty.signer, &email).await;
    assert_eq!(
        me(old.verifier, &token).await,
        401,
        "the old version does not know the key"
    );
    assert_eq!(me(hasty.verifier, &token).await, 200);
}
