//! Sign-in with an OIDC provider's ID token, against the local endpoint's stand-in
//! issuers (real discovery, real key sets, real signatures): first sign-in makes an account,
//! linking only when both sides vouch for the address, forged and replayed tokens, concurrency,
//! the second factor, and what deleting an account frees.

use ferrite_tests::mfa::{code_at, enrol, later, verify};
use ferrite_tests::oidc::{id_token, id_token_with, nonce, sign_in};
use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::{Value, json};

use super::{me, tokens};

/// A sign-in of `provider` for `sub`/`email` with a fresh nonce.
async fn first(app: &TestApp, provider: &str, sub: &str, email: &str) -> TestResponse {
    let nonce = nonce();
    let token = id_token(provider, sub, email, &nonce).await;
    sign_in(app, provider, &json!({"idToken": token, "nonce": nonce})).await
}

fn user_id(answer: &TestResponse) -> String {
    answer.body["user"]["id"]
        .as_str()
        .expect("a user")
        .to_owned()
}

#[tokio::test]
async fn a_first_google_sign_in_makes_an_account_and_the_next_signs_in_to_it() {
    let app = TestApp::spawn().await;
    let made = first(&app, "google", "g-100", "ada@example.com").await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.amr(), json!(["oidc"]));
    assert_eq!(made.body["user"]["email"], "ada@example.com");
    assert_eq!(made.body["user"]["name"], "Ada Lovelace");
    assert_eq!(made.body["user"]["emailVerified"], true);
    assert_eq!(made.body["user"]["identities"], json!(["google"]));
    assert_eq!(made.body["user"]["hasPassword"], false);
    let event = app.last_event("user.registered").await.expect("an event");
    assert_eq!(event.changes["provider"].after, "google");
    assert!(event.email.is_none(), "a verified address needs no link");
    let again = first(&app, "google", "g-100", "ada@example.com").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(user_id(&again), user_id(&made));
    // The account has no password.
    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 401, "{}", login.body);
}

#[tokio::test]
async fn apples_first_sign_in_takes_the_name_from_the_request_and_reads_its_string_booleans() {
    let app = TestApp::spawn().await;
    let nonce = nonce();
    // Apple's clients send the nonce's SHA-256 to Apple: the token carries that.
    let hashed = {
        use sha2::Digest as _;
        sha2::Sha256::digest(nonce.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let token = id_token("apple", "a-1", "relay@privaterelay.appleid.com", &hashed).await;
    let nameless = sign_in(&app, "apple", &json!({"idToken": token, "nonce": nonce})).await;
    assert_eq!(nameless.status, 422, "{}", nameless.body);
    assert_eq!(nameless.body["errors"][0]["field"], "name");
    let nonce = self::nonce();
    let token = id_token("apple", "a-1", "relay@privaterelay.appleid.com", &nonce).await;
    let named = sign_in(
        &app,
        "apple",
        &json!({"idToken": token, "nonce": nonce, "name": "Grace Hopper"}),
    )
    .await;
    assert_eq!(named.status, 200, "{}", named.body);
    assert_eq!(named.body["user"]["name"], "Grace Hopper");
    assert_eq!(named.body["user"]["emailVerified"], true);
}

#[tokio::test]
async fn an_address_with_an_account_is_linked_only_when_both_sides_vouch_for_it() {
    let app = TestApp::spawn().await;
    let (_, id) = app.user("owner@example.com", None).await;
    // The account never confirmed its address: no link, however sure the provider is.
    let refused = first(&app, "google", "g-owner", "owner@example.com").await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "ACCOUNT_EXISTS"),
        "{}",
        refused.body
    );
    app.confirm_address().await;
    // The provider does not vouch for the address: no link either.
    let nonce = nonce();
    let unverified = id_token_with(
        "oidc",
        json!({"sub": "o-1", "email": "owner@example.com", "email_verified": false, "nonce": nonce}),
        json!({}),
    )
    .await;
    let claimed = sign_in(
        &app,
        "oidc",
        &json!({"idToken": unverified, "nonce": nonce}),
    )
    .await;
    assert_eq!(
        (claimed.status, claimed.code()),
        (409, "ACCOUNT_EXISTS"),
        "{}",
        claimed.body
    );
    // Both vouch: linked, and signed in to that account.
    let linked = first(&app, "google", "g-owner", "owner@example.com").await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(user_id(&linked), id);
    assert_eq!(linked.body["user"]["identities"], json!(["google"]));
    assert_eq!(linked.body["user"]["hasPassword"], true);
    let event = app
        .last_event("user.identity_linked")
        .await
        .expect("an event");
    assert_eq!(event.changes["provider"].after, "google");
    // The password still works.
    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "owner@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
}

#[tokio::test]
async fn forged_and_misused_id_tokens_are_refused_for_every_provider() {
    let app = TestApp::spawn().await;
    for provider in ["google", "apple", "oidc"] {
        let email = format!("target-{provider}@example.com");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let cases: [(&str, Value, Value); 9] = [
            (
                "a key the provider never published",
                json!({}),
                json!({"key": "stranger"}),
            ),
            ("alg none", json!({}), json!({"header": {"alg": "none"}})),
            (
                "HS256 keyed with the public key",
                json!({}),
                json!({"header": {"alg": "HS256"}}),
            ),
            (
                "a kid the provider never had",
                json!({}),
                json!({"header": {"kid": "made-up"}}),
            ),
            (
                "another app's token",
                json!({"aud": "someone-else"}),
                json!({}),
            ),
            (
                "another issuer's token",
                json!({"iss": "https://evil.example"}),
                json!({}),
            ),
            (
                "expired",
                json!({"iat": now - 7200, "exp": now - 3600}),
                json!({}),
            ),
            (
                "issued in the future",
                json!({"iat": now + 3600, "exp": now + 7200}),
                json!({}),
            ),
            ("no nonce", json!({"nonce": null}), json!({})),
        ];
        for (what, claims, forgery) in cases {
            let nonce = nonce();
            let mut claims = claims;
            claims["sub"] = json!("forged");
            claims["email"] = json!(email);
            if claims.get("nonce").is_none() {
                claims["nonce"] = json!(nonce);
            }
            let token = id_token_with(provider, claims, forgery).await;
            let answer = sign_in(&app, provider, &json!({"idToken": token, "nonce": nonce})).await;
            assert_eq!(
                (answer.status, answer.code()),
                (401, "INVALID_ID_TOKEN"),
                "{provider}, {what}: {}",
                answer.body
            );
        }
        // Another sign-in's nonce.
        let token = id_token(provider, "forged", &email, &nonce()).await;
        let answer = sign_in(&app, provider, &json!({"idToken": token, "nonce": nonce()})).await;
        assert_eq!(
            answer.code(),
            "INVALID_ID_TOKEN",
            "{provider}, a nonce of another sign-in"
        );
        // A token that signed in once does not sign in again.
        let nonce = nonce();
        let token = id_token(provider, "honest", &email, &nonce).await;
        let body = json!({"idToken": token, "nonce": nonce, "name": "Honest"});
        assert_eq!(sign_in(&app, provider, &body).await.status, 200);
        let replayed = sign_in(&app, provider, &body).await;
        assert_eq!(
            (replayed.status, replayed.code()),
            (401, "ID_TOKEN_USED"),
            "{provider}: {}",
            replayed.body
        );
    }
    // Nothing a forged token carried became an account.
    let forged = app
        .state
        .store
        .get::<shared::accounts::items::IdentityClaim>(
            &shared::accounts::items::IdentityClaim::key("google", "forged"),
        )
        .await
        .expect("read");
    assert!(forged.is_none());
}

#[tokio::test]
async fn a_provider_this_deployment_does_not_accept_is_not_found() {
    let app = TestApp::spawn_with(
        shared::clock::Clock::System,
        &[("OIDC_GOOGLE_CLIENT_IDS", "")],
    )
    .await;
    let body = json!({"idToken": "a.b.c", "nonce": nonce()});
    for provider in ["google", "facebook"] {
        let answer = sign_in(&app, provider, &body).await;
        assert_eq!(answer.status, 404, "{provider}: {}", answer.body);
    }
    assert_eq!(
        first(&app, "apple", "a-2", "x@example.com").await.status,
        422,
        "Apple is configured: it asks for the name"
    );
}

#[tokio::test]
async fn two_first_sign_ins_of_one_identity_at_once_make_one_account() {
    let app = TestApp::spawn().await;
    let mut calls = Vec::new();
    for _ in 0..2 {
        let nonce = nonce();
        let token = id_token("google", "g-race", "race@example.com", &nonce).await;
        calls.push(
            Call::new("POST", "/v1/auth/oidc/{provider}")
                .param("provider", "google")
                .json(&json!({"idToken": token, "nonce": nonce})),
        );
    }
    let statuses = app.statuses_at_once(auth_oidc::handle, calls).await;
    assert_eq!(statuses, [200, 200]);
    let claim: shared::accounts::items::IdentityClaim = app
        .state
        .store
        .get(&shared::accounts::items::IdentityClaim::key(
            "google", "g-race",
        ))
        .await
        .expect("read")
        .expect("the identity's claim");
    let again = first(&app, "google", "g-race", "race@example.com").await;
    assert_eq!(user_id(&again), claim.user_id.to_string());
}

#[tokio::test]
async fn with_a_second_factor_a_provider_sign_in_is_the_first_of_two() {
    // ID tokens are minted at the real time: so is this world's clock.
    let app = TestApp::spawn().await;
    let start = app.state.clock;
    let made = first(&app, "google", "g-mfa", "mfa@example.com").await;
    let (access, _) = tokens(&made);
    let (secret, _) = enrol(&app, &access).await;
    let challenged = first(&app, "google", "g-mfa", "mfa@example.com").await;
    assert_eq!(
        (challenged.status, challenged.code()),
        (401, "MFA_REQUIRED"),
        "{}",
        challenged.body
    );
    let challenge = challenged.body["challenge"].as_str().expect("a challenge");
    let code = code_at(&secret, later(start, 30).now());
    let signed_in = verify(&app, challenge, "code", &code).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.amr(), json!(["oidc", "otp"]));
}

#[tokio::test]
async fn deleting_the_account_frees_its_identity_for_a_new_one() {
    let app = TestApp::spawn().await;
    let made = first(&app, "oidc", "o-gone", "gone@example.com").await;
    assert_eq!(made.status, 200, "{}", made.body);
    let (access, _) = tokens(&made);
    // No password: the recent sign-in stands for it.
    let deleted = app
        .call(
            users_me_delete::handle,
            Call::new("DELETE", "/v1/users/me")
                .bearer(&access)
                .json(&json!({})),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(me(&app, &access).await.status, 401);
    let anew = first(&app, "oidc", "o-gone", "gone@example.com").await;
    assert_eq!(anew.status, 200, "{}", anew.body);
    assert_ne!(user_id(&anew), user_id(&made));
}
