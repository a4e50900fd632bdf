//! Security: forged tokens on every authenticated route, the authorization matrix as data,
//! hostile input, and what a dependency outage looks like to a client.

mod input;
mod matrix;
mod outages;
mod tokens;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};

/// Runs `call` through the handler that serves `route` in template.yaml: the routing table of
/// these tests, as data.
async fn invoke(app: &TestApp, call: Call) -> TestResponse {
    let route = format!("{} {}", call.method(), call.route());
    match route.as_str() {
        "GET /v1/health" => app.call(|_, req| health::handle(&(), req), call).await,
        "GET /v1/health/ready" => app.call(health_ready::handle, call).await,
        "GET /v1/openapi.json" | "GET /v1/docs" | "GET /v1/docs/redoc.standalone.js" => {
            app.call(|_, req| api_docs::handle(&(), req), call).await
        }
        "GET /.well-known/jwks.json" => {
            app.call(
                |state, req| jwks::handle(state.auth.verifier().expect("keys"), req),
                call,
            )
            .await
        }
        "GET /v1/users/me" => app.call(users_me_get::handle, call).await,
        "PATCH /v1/users/me" => app.call(users_me_patch::handle, call).await,
        "DELETE /v1/users/me" => app.call(users_me_delete::handle, call).await,
        "PUT /v1/users/me/password" => app.call(users_me_password::handle, call).await,
        "POST /v1/users/me/email" => app.call(users_me_email::handle, call).await,
        "GET /v1/users/me/identities" => app.call(users_me_identities::handle, call).await,
        "POST /v1/users/me/identities/{provider}" => {
            app.call(users_me_identities_link::handle, call).await
        }
        "DELETE /v1/users/me/identities/{provider}" => {
            app.call(users_me_identities_delete::handle, call).await
        }
        "GET /v1/users/me/posts" => app.call(users_me_posts::handle, call).await,
        "GET /v1/users" => app.call(users_list::handle, call).await,
        "GET /v1/users/{id}" => app.call(users_get::handle, call).await,
        "PATCH /v1/users/{id}" => app.call(users_patch::handle, call).await,
        "DELETE /v1/users/{id}" => app.call(users_delete::handle, call).await,
        "GET /v1/users/{id}/posts" => app.call(users_posts::handle, call).await,
        "GET /v1/users/{id}/profile" => app.call(users_profile::handle, call).await,
        "GET /v1/audit" => app.call(audit_list::handle, call).await,
        "POST /v1/posts" => app.call(posts_create::handle, call).await,
        "GET /v1/posts" => app.call(posts_list::handle, call).await,
        "GET /v1/posts/{id}" => app.call(posts_get::handle, call).await,
        "PATCH /v1/posts/{id}" => app.call(posts_patch::handle, call).await,
        "DELETE /v1/posts/{id}" => app.call(posts_delete::handle, call).await,
        "POST /v1/properties" => app.call(properties_create::handle, call).await,
        "GET /v1/properties" => app.call(properties_list::handle, call).await,
        "GET /v1/users/me/properties" => app.call(users_me_properties::handle, call).await,
        "GET /v1/properties/{id}" => app.call(properties_get::handle, call).await,
        "PATCH /v1/properties/{id}" => app.call(properties_patch::handle, call).await,
        "DELETE /v1/properties/{id}" => app.call(properties_delete::handle, call).await,
        "POST /v1/properties/{id}/units" => app.call(units_create::handle, call).await,
        "PATCH /v1/properties/{id}/units/{unitId}" => app.call(units_patch::handle, call).await,
        "DELETE /v1/properties/{id}/units/{unitId}" => app.call(units_delete::handle, call).await,
        "GET /v1/properties/{id}/leases" => app.call(properties_leases::handle, call).await,
        "POST /v1/leases" => app.call(leases_create::handle, call).await,
        "GET /v1/leases/{id}" => app.call(leases_get::handle, call).await,
        "POST /v1/leases/{id}/end" => app.call(leases_end::handle, call).await,
        "PATCH /v1/leases/{id}" => app.call(leases_patch::handle, call).await,
        "GET /v1/leases/{id}/ledger" => app.call(leases_ledger::handle, call).await,
        "POST /v1/leases/{id}/charges" => app.call(leases_charges::handle, call).await,
        "POST /v1/leases/{id}/payments" => app.call(leases_payments::handle, call).await,
        "POST /v1/leases/{id}/credits" => app.call(leases_credits::handle, call).await,
        "POST /v1/properties/{id}/documents" => {
            app.call(properties_documents_create::handle, call).await
        }
        "POST /v1/leases/{id}/documents" => app.call(leases_documents_create::handle, call).await,
        "GET /v1/documents/{id}" => app.call(documents_get::handle, call).await,
        "DELETE /v1/documents/{id}" => app.call(documents_delete::handle, call).await,
        "GET /v1/properties/{id}/documents" => {
            app.call(properties_documents_list::handle, call).await
        }
        "GET /v1/leases/{id}/documents" => app.call(leases_documents_list::handle, call).await,
        "GET /v1/users/me/notifications" => app.call(users_me_notifications::handle, call).await,
        "POST /v1/users/me/notifications/read" => {
            app.call(users_me_notifications_read::handle, call).await
        }
        "GET /v1/properties/{id}/rent-roll" => app.call(properties_rent_roll::handle, call).await,
        "POST /v1/leases/{id}/entries/{entryId}/reverse" => {
            app.call(leases_entries_reverse::handle, call).await
        }
        "GET /v1/users/me/leases" => app.call(users_me_leases::handle, call).await,
        "POST /v1/properties/{id}/transfer" => app.call(properties_transfer::handle, call).await,
        "GET /v1/properties/{id}/ownership-history" => {
            app.call(properties_history::handle, call).await
        }
        "POST /v1/auth/register" => app.call(auth_register::handle, call).await,
        "POST /v1/auth/login" => app.call(auth_login::handle, call).await,
        "POST /v1/auth/refresh" => app.call(auth_refresh::handle, call).await,
        "POST /v1/auth/logout" => app.call(auth_logout::handle, call).await,
        "POST /v1/auth/password/forgot" => app.call(auth_password_forgot::handle, call).await,
        "POST /v1/auth/password/reset" => app.call(auth_password_reset::handle, call).await,
        "POST /v1/auth/email/verify" => app.call(auth_email_verify::handle, call).await,
        "POST /v1/auth/email/change/confirm" => {
            app.call(auth_email_change_confirm::handle, call).await
        }
        "POST /v1/auth/email/verify/resend" => {
            app.call(auth_email_verify_resend::handle, call).await
        }
        "GET /v1/users/me/sessions" => app.call(users_me_sessions::handle, call).await,
        "DELETE /v1/users/me/sessions/{id}" => {
            app.call(users_me_sessions_delete::handle, call).await
        }
        "DELETE /v1/users/me/sessions" => {
            app.call(users_me_sessions_end_others::handle, call).await
        }
        "GET /v1/users/{id}/sessions" => app.call(users_sessions::handle, call).await,
        "DELETE /v1/users/{id}/sessions/{sessionId}" => {
            app.call(users_sessions_delete::handle, call).await
        }
        "DELETE /v1/users/{id}/sessions" => app.call(users_sessions_end_all::handle, call).await,
        "POST /v1/users/me/mfa/totp" => app.call(users_me_mfa_totp::handle, call).await,
        "POST /v1/users/me/mfa/totp/confirm" => {
            app.call(users_me_mfa_totp_confirm::handle, call).await
        }
        "DELETE /v1/users/me/mfa/totp" => app.call(users_me_mfa_totp_delete::handle, call).await,
        "POST /v1/users/me/mfa/recovery-codes" => {
            app.call(users_me_mfa_recovery_codes::handle, call).await
        }
        "DELETE /v1/users/{id}/mfa" => app.call(users_mfa_delete::handle, call).await,
        "POST /v1/auth/mfa/verify" => app.call(auth_mfa_verify::handle, call).await,
        "POST /v1/auth/magic-link" => app.call(auth_magic_link::handle, call).await,
        "POST /v1/auth/oidc/{provider}" => app.call(auth_oidc::handle, call).await,
        "POST /v1/auth/magic-link/verify" => app.call(auth_magic_link_verify::handle, call).await,
        "POST /v1/webhooks" => app.call(webhooks_create::handle, call).await,
        "GET /v1/webhooks" => app.call(webhooks_list::handle, call).await,
        "PATCH /v1/webhooks/{id}" => app.call(webhooks_patch::handle, call).await,
        "DELETE /v1/webhooks/{id}" => app.call(webhooks_delete::handle, call).await,
        "GET /v1/webhooks/{id}/deliveries" => app.call(webhooks_deliveries::handle, call).await,
        other => panic!("no handler for {other} in the test routing table"),
    }
}

async fn create_post(app: &TestApp, token: &str, status: &str) -> String {
    let response = invoke(
        app,
        Call::new("POST", "/v1/posts")
            .bearer(token)
            .json(&json!({"title": "Mine", "body": "text", "status": status})),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.body);
    response.body["id"].as_str().expect("id").to_owned()
}

/// Who asks.
const WHO: [&str; 5] = ["anonymous", "owner", "other user", "moderator", "admin"];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        .try_into()
        .expect("seconds fit")
}

/// Signs `header.claims` with HMAC-SHA256 under `secret`, by hand.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use hmac::Mac as _;
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// Registers, then presents the refresh token 20 times at once: (the one winner's body, the
/// winner's access token from registration).
async fn refresh_race(app: &TestApp) -> Value {
    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": "race@example.com", "name": "Race", "password": PASSWORD})),
        )
        .await;
    let refresh_token = registered.body["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (state, token) = (app.state_of("AuthRefreshFunction"), refresh_token.clone());
        tasks.spawn(async move {
            let call = Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": token}));
            let response =
                shared::http::dispatch(state, auth_refresh::handle, call.request()).await;
            let status = response.status().as_u16();
            let body: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
            (status, body)
        });
    }
    let mut responses = Vec::new();
    while let Some(done) = tasks.join_next().await {
        responses.push(done.expect("task"));
    }
    let statuses: Vec<u16> = responses.iter().map(|(status, _)| *status).collect();
    assert!(
        responses.iter().all(|(status, body)| *status == 200
            || (*status == 401 && body["code"] == "INVALID_REFRESH_TOKEN")),
        "{responses:?}"
    );
    let mut winners = responses.into_iter().filter(|(status, _)| *status == 200);
    let winner = winners.next().expect("one refresh wins").1;
    assert!(winners.next().is_none(), "exactly one winner: {statuses:?}");
    winner
}

async fn refresh_with(app: &TestApp, body: &Value) -> TestResponse {
    app.call(
        auth_refresh::handle,
        Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": body["refreshToken"]})),
    )
    .await
}
