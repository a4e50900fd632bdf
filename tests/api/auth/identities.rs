//! The provider identities of a signed-in account: linking one (recent sign-in, step-up, one
//! account per identity, one identity per provider), listing them, and unlinking — never the
//! last way in, not even by two requests at once — with their events (each an audit entry) and emails.

use ferrite_tests::mfa::{code_at, enrol, later, step_clock};
use ferrite_tests::oidc::{id_token_with, nonce, sign_in};
use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::accounts::identities::IDENTITY_CHANGED_TEMPLATE;

use super::{me, tokens};

/// An ID token of `provider` for `sub`/`email` (verified unless `claims` says otherwise), issued
/// at the app's instant, and its nonce.
async fn token_at(
    app: &TestApp,
    provider: &str,
    sub: &str,
    email: &str,
    claims: Value,
) -> (String, String) {
    let nonce = nonce();
    let now = app.state.clock.unix_seconds();
    let mut all =
        json!({"sub": sub, "email": email, "nonce": nonce, "iat": now, "exp": now + 3600});
    if let (Some(all), Some(claims)) = (all.as_object_mut(), claims.as_object()) {
        all.extend(claims.clone());
    }
    (id_token_with(provider, all, json!({})).await, nonce)
}

/// `POST /v1/users/me/identities/{provider}` as `access` for `sub` (an address of its own), with
/// `extra` in the body (`password`, `code`).
async fn link(
    app: &TestApp,
    access: &str,
    provider: &str,
    sub: &str,
    extra: Value,
) -> TestResponse {
    let (token, nonce) =
        token_at(app, provider, sub, &format!("{sub}@example.net"), json!({})).await;
    let mut body = json!({"idToken": token, "nonce": nonce});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    link_with(app, access, provider, &body).await
}

/// `POST /v1/users/me/identities/{provider}` as `access` with `body`.
async fn link_with(app: &TestApp, access: &str, provider: &str, body: &Value) -> TestResponse {
    app.call(
        users_me_identities_link::handle,
        Call::new("POST", "/v1/users/me/identities/{provider}")
            .param("provider", provider)
            .bearer(access)
            .json(body),
    )
    .await
}

async fn list(app: &TestApp, access: &str) -> TestResponse {
    app.call(
        users_me_identities::handle,
        Call::new("GET", "/v1/users/me/identities").bearer(access),
    )
    .await
}

fn unlinking(access: &str, provider: &str, body: &Value) -> Call {
    Call::new("DELETE", "/v1/users/me/identities/{provider}")
        .param("provider", provider)
        .bearer(access)
        .json(body)
}

async fn unlink(app: &TestApp, access: &str, provider: &str) -> TestResponse {
    app.call(
        users_me_identities_delete::handle,
        unlinking(access, provider, &json!({})),
    )
    .await
}

/// A provider sign-in of `sub`/`email` at the app's instant, `claims` over the defaults.
async fn provider_sign_in(
    app: &TestApp,
    provider: &str,
    sub: &str,
    email: &str,
    claims: Value,
) -> TestResponse {
    let (token, nonce) = token_at(app, provider, sub, email, claims).await;
    sign_in(
        app,
        provider,
        &json!({"idToken": token, "nonce": nonce, "name": "Ada Lovelace"}),
    )
    .await
}

/// A sign-in with the generic issuer, which does not vouch for the address.
async fn unvouched(app: &TestApp, sub: &str, email: &str) -> TestResponse {
    provider_sign_in(app, "oidc", sub, email, json!({"email_verified": false})).await
}

fn providers(listed: &TestResponse) -> Vec<(String, bool)> {
    listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["provider"].as_str().expect("provider").to_owned(),
                i["canUnlink"].as_bool().expect("canUnlink"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_signed_in_account_links_google_lists_it_and_then_signs_in_with_it() {
    let app = TestApp::spawn().await;
    let (access, id) = app.user("linker@example.com", None).await;
    app.confirm_address().await;
    assert_eq!(providers(&list(&app, &access).await), []);
    // The provider's address need not be the account's: both sides proved themselves.
    let linked = link(&app, &access, "google", "g-linker", json!({})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    assert_eq!(linked.body["provider"], "google");
    assert_eq!(linked.body["subject"], "g-linker");
    assert_eq!(linked.body["canUnlink"], true, "the password stays");
    let listed = list(&app, &access).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(providers(&listed), [("google".to_owned(), true)]);
    assert_eq!(listed.body["items"][0]["linkedAt"], linked.body["linkedAt"]);
    assert_eq!(
        me(&app, &access).await.body["identities"],
        json!(["google"])
    );
    let event = app
        .last_event("user.identity_linked")
        .await
        .expect("an event");
    assert_eq!(
        event.actor.id.as_deref(),
        Some(id.as_str()),
        "the audit trail names the owner"
    );
    assert_eq!(event.changes["provider"].after, "google");
    let email = event.email.expect("the owner is told");
    assert_eq!(
        (
            email.template.as_str(),
            email.vars["change"].as_str(),
            email.vars["provider"].as_str()
        ),
        (IDENTITY_CHANGED_TEMPLATE, "linked", "Google")
    );
    // Google now signs in to this account, whatever address it gives.
    let signed_in = provider_sign_in(
        &app,
        "google",
        "g-linker",
        "elsewhere@example.net",
        json!({}),
    )
    .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.body["user"]["id"], id.as_str());
}

#[tokio::test]
async fn linking_refuses_an_identity_of_another_account_a_second_of_one_provider_and_a_used_token()
{
    let app = TestApp::spawn().await;
    let theirs =
        provider_sign_in(&app, "google", "g-theirs", "theirs@example.com", json!({})).await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    let (access, _) = app.user("mine@example.com", None).await;
    let elsewhere = link(&app, &access, "google", "g-theirs", json!({})).await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (409, "IDENTITY_LINKED_ELSEWHERE"),
        "{}",
        elsewhere.body
    );
    assert_eq!(
        link(&app, &access, "google", "g-mine", json!({}))
            .await
            .status,
        201
    );
    let again = link(&app, &access, "google", "g-mine", json!({})).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "IDENTITY_ALREADY_LINKED"),
        "{}",
        again.body
    );
    let second = link(&app, &access, "google", "g-mine-too", json!({})).await;
    assert_eq!(
        (second.status, second.code()),
        (409, "PROVIDER_ALREADY_LINKED"),
        "{}",
        second.body
    );
    // A token that linked never signs in.
    let (token, nonce) = token_at(&app, "apple", "a-mine", "mine@example.com", json!({})).await;
    let body = json!({"idToken": token, "nonce": nonce});
    assert_eq!(link_with(&app, &access, "apple", &body).await.status, 201);
    let replayed = sign_in(&app, "apple", &body).await;
    assert_eq!(
        (replayed.status, replayed.code()),
        (401, "ID_TOKEN_USED"),
        "{}",
        replayed.body
    );
    // A token for another nonce links nothing; an unknown provider is not found.
    let (forged, theirs) = token_at(&app, "oidc", "o-mine", "mine@example.com", json!({})).await;
    let body = json!({"idToken": forged, "nonce": format!("{theirs}-not-this-one")});
    let refused = link_with(&app, &access, "oidc", &body).await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, "INVALID_ID_TOKEN"),
        "{}",
        refused.body
    );
    let unknown = link_with(&app, &access, "facebook", &body).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(
        providers(&list(&app, &access).await),
        [("apple".to_owned(), true), ("google".to_owned(), true)]
    );
}

#[tokio::test]
async fn linking_needs_a_recent_sign_in_or_the_password_and_with_a_second_factor_a_step_up() {
    // Signed in 12 minutes ago (access tokens still valid now); the requests come now.
    let start = step_clock(12);
    let app = TestApp::spawn_with_clock(start).await;
    let (access, _) = app.user("careful@example.com", None).await;
    let (secret, _) = enrol(&app, &access).await;
    let now = app.at(later(start, 12 * 60));
    // The step-up first (as every route that needs one), then the recent sign-in.
    let no_factor = link(&now, &access, "google", "g-careful", json!({})).await;
    assert_eq!(
        (no_factor.status, no_factor.code()),
        (401, "MFA_REQUIRED"),
        "{}",
        no_factor.body
    );
    let code = code_at(&secret, now.state.clock.now());
    let stale = link(&now, &access, "google", "g-careful", json!({"code": code})).await;
    assert_eq!(
        (stale.status, stale.code()),
        (401, "REAUTHENTICATION_REQUIRED"),
        "{}",
        stale.body
    );
    // The code given counts as this session's step-up for ten minutes.
    let wrong = link(
        &now,
        &access,
        "google",
        "g-careful",
        json!({"password": "not the password at all"}),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.body["errors"][0]["field"].as_str()),
        (422, Some("password")),
        "{}",
        wrong.body
    );
    let linked = link(
        &now,
        &access,
        "google",
        "g-careful",
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    // A provider sign-in is one factor: the account's second factor is still asked for.
    let signed_in = provider_sign_in(
        &now,
        "google",
        "g-careful",
        "careful@example.com",
        json!({}),
    )
    .await;
    assert_eq!(
        (signed_in.status, signed_in.code()),
        (401, "MFA_REQUIRED"),
        "{}",
        signed_in.body
    );
}

#[tokio::test]
async fn unlinking_is_refused_when_it_would_leave_no_way_in() {
    let app = TestApp::spawn().await;
    // No password, and the provider does not vouch for the address: the identity is all there is.
    let made = unvouched(&app, "o-only", "only@example.com").await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.body["user"]["emailVerified"], false);
    let (access, _) = tokens(&made);
    assert_eq!(
        providers(&list(&app, &access).await),
        [("oidc".to_owned(), false)]
    );
    let refused = unlink(&app, &access, "oidc").await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "LAST_SIGN_IN_METHOD"),
        "{}",
        refused.body
    );
    assert_eq!(
        unlink(&app, &access, "google").await.status,
        404,
        "nothing of Google is linked"
    );
    // Another provider is another way in: either may go, not both.
    assert_eq!(
        link(&app, &access, "google", "g-only", json!({}))
            .await
            .status,
        201
    );
    assert_eq!(
        providers(&list(&app, &access).await),
        [("google".to_owned(), true), ("oidc".to_owned(), true)]
    );
    let unlinked = unlink(&app, &access, "oidc").await;
    assert_eq!(unlinked.status, 204, "{}", unlinked.body);
    assert_eq!(
        providers(&list(&app, &access).await),
        [("google".to_owned(), false)]
    );
    let event = app
        .last_event("user.identity_unlinked")
        .await
        .expect("an event");
    assert_eq!(event.changes["provider"].before, "oidc");
    assert!(
        event.email.is_none(),
        "an unconfirmed address is told nothing"
    );
    // The identity no longer reaches the account (its unconfirmed address does not link either).
    let gone = unvouched(&app, "o-only", "only@example.com").await;
    assert_eq!(
        (gone.status, gone.code()),
        (409, "ACCOUNT_EXISTS"),
        "{}",
        gone.body
    );
    let last = unlink(&app, &access, "google").await;
    assert_eq!(
        (last.status, last.code()),
        (409, "LAST_SIGN_IN_METHOD"),
        "{}",
        last.body
    );
}

#[tokio::test]
async fn a_confirmed_address_or_a_password_is_a_way_in_that_lets_the_last_identity_go() {
    let app = TestApp::spawn().await;
    // Google vouches for the address: the mailed link is a way in.
    let made = provider_sign_in(&app, "google", "g-mailed", "mailed@example.com", json!({})).await;
    let (access, _) = tokens(&made);
    assert_eq!(
        providers(&list(&app, &access).await),
        [("google".to_owned(), true)]
    );
    let unlinked = unlink(&app, &access, "google").await;
    assert_eq!(unlinked.status, 204, "{}", unlinked.body);
    let email = app
        .last_event("user.identity_unlinked")
        .await
        .expect("an event")
        .email
        .expect("told");
    assert_eq!(
        (
            email.vars["change"].as_str(),
            email.vars["provider"].as_str()
        ),
        ("unlinked", "Google")
    );
    assert_eq!(me(&app, &access).await.body["identities"], json!([]));
    // A password account: the password is.
    let (access, _) = app.user("password@example.com", None).await;
    assert_eq!(
        link(&app, &access, "apple", "a-password", json!({}))
            .await
            .status,
        201
    );
    assert_eq!(unlink(&app, &access, "apple").await.status, 204);
}

#[tokio::test]
async fn unlinking_needs_a_recent_sign_in_or_the_password() {
    let start = step_clock(12);
    let app = TestApp::spawn_with_clock(start).await;
    let (access, _) = app.user("stale@example.com", None).await;
    assert_eq!(
        link(&app, &access, "apple", "a-stale", json!({}))
            .await
            .status,
        201
    );
    let now = app.at(later(start, 12 * 60));
    let stale = unlink(&now, &access, "apple").await;
    assert_eq!(
        (stale.status, stale.code()),
        (401, "REAUTHENTICATION_REQUIRED"),
        "{}",
        stale.body
    );
    let wrong = now
        .call(
            users_me_identities_delete::handle,
            unlinking(
                &access,
                "apple",
                &json!({"password": "not the password at all"}),
            ),
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let unlinked = now
        .call(
            users_me_identities_delete::handle,
            unlinking(&access, "apple", &json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(unlinked.status, 204, "{}", unlinked.body);
}

#[tokio::test]
async fn two_unlinks_at_once_never_leave_the_account_without_a_way_in() {
    let app = TestApp::spawn().await;
    let made = unvouched(&app, "o-race", "race@example.com").await;
    let (access, _) = tokens(&made);
    assert_eq!(
        link(&app, &access, "google", "g-race", json!({}))
            .await
            .status,
        201
    );
    let calls = ["oidc", "google"]
        .map(|p| unlinking(&access, p, &json!({})))
        .to_vec();
    let mut statuses = app
        .statuses_at_once(users_me_identities_delete::handle, calls)
        .await;
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 409]);
    assert_eq!(providers(&list(&app, &access).await).len(), 1);
}

#[tokio::test]
async fn a_sign_in_by_a_verified_address_never_replaces_the_accounts_identity_of_that_provider() {
    let app = TestApp::spawn().await;
    let made = provider_sign_in(&app, "google", "g-first", "one@example.com", json!({})).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let other = provider_sign_in(&app, "google", "g-second", "one@example.com", json!({})).await;
    assert_eq!(
        (other.status, other.code()),
        (409, "ACCOUNT_EXISTS"),
        "{}",
        other.body
    );
    let again = provider_sign_in(&app, "google", "g-first", "one@example.com", json!({})).await;
    assert_eq!(again.body["user"]["id"], made.body["user"]["id"]);
    let (access, _) = tokens(&again);
    let listed = list(&app, &access).await;
    assert_eq!(listed.body["items"][0]["subject"], "g-first");
}
