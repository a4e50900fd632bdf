//! Forged, expired, misdirected and revoked tokens; refresh races; a stolen access token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::auth::jwt::{self, TokenSettings};

use super::{b64, create_post, hs256, invoke, now, refresh_race, refresh_with};

#[tokio::test]
async fn forged_expired_misdirected_and_revoked_tokens_get_401_on_every_authenticated_route() {
    let app = TestApp::spawn().await;
    let (victim, victim_id) = app.user("victim@example.com", None).await;
    let post = create_post(&app, &victim, "draft").await;
    let keys = ferrite_tests::test_keys();
    let key = keys.signing_key().expect("key");
    let settings = app.state.auth.tokens.clone();
    let claims_of = |token: &str| -> Value {
        let payload = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
    };
    let claims = claims_of(&victim);
    let sid = claims["sid"].as_str().expect("sid").to_owned();
    let mint = |settings: &TokenSettings, at: i64| {
        jwt::mint(&key, settings, &victim_id, &[Role::Admin], &sid, at).expect("mint")
    };
    let public_x = key
        .public_entry()
        .split_once('=')
        .map(|(_, x)| x.to_owned())
        .expect("x");
    let (head, rest) = victim.split_once('.').expect("jwt");
    let signature = rest.split_once('.').expect("jwt").1;
    let mut admin_claims = claims.clone();
    admin_claims["roles"] = json!(["ADMIN"]);

    let stranger = shared::auth::keys::KeySet::generate()
        .expect("keys")
        .signing_key()
        .expect("key");
    let mut forged = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(admin_claims.to_string().as_bytes())
            ),
        ),
        (
            "HS256 keyed with the public key",
            hs256(
                &json!({"alg": "HS256", "typ": "JWT", "kid": key.kid()}),
                &admin_claims,
                public_x.as_bytes(),
            ),
        ),
        (
            "RS256 header",
            format!(
                "{}.{}.{signature}",
                b64(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, key.kid()).as_bytes()),
                b64(claims.to_string().as_bytes())
            ),
        ),
        ("expired", mint(&settings, now() - 3600)),
        (
            "not valid yet (nbf in the future)",
            mint(&settings, now() + 3600),
        ),
        (
            "another issuer",
            mint(
                &TokenSettings {
                    issuer: "someone-else".into(),
                    audience: settings.audience.clone(),
                },
                now(),
            ),
        ),
        (
            "another audience",
            mint(
                &TokenSettings {
                    issuer: settings.issuer.clone(),
                    audience: "another-api".into(),
                },
                now(),
            ),
        ),
        (
            "unknown kid",
            jwt::mint(
                &stranger,
                &settings,
                &victim_id,
                &[Role::Admin],
                &sid,
                now(),
            )
            .expect("mint"),
        ),
        (
            "payload tampered to ADMIN",
            format!(
                "{head}.{}.{signature}",
                b64(admin_claims.to_string().as_bytes())
            ),
        ),
        ("not a JWT", "definitely-not-a-token".to_owned()),
    ];

    // A deleted user's and a disabled user's tokens, still unexpired.
    let (deleted, _) = app.user("deleted@example.com", None).await;
    let gone = invoke(
        &app,
        Call::new("DELETE", "/v1/users/me")
            .bearer(&deleted)
            .json(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    forged.push(("a deleted user's token", deleted));
    let (disabled, disabled_id) = app.user("disabled@example.com", None).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let disable = invoke(
        &app,
        Call::new("PATCH", "/v1/users/{id}")
            .param("id", &disabled_id)
            .bearer(&admin)
            .json(&json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(disable.status, 200, "{}", disable.body);
    forged.push(("a disabled user's token", disabled));

    let routes = [
        Call::new("GET", "/v1/users/me"),
        Call::new("PATCH", "/v1/users/me").json(&json!({"name": "Mallory"})),
        Call::new("DELETE", "/v1/users/me").json(&json!({"password": PASSWORD})),
        Call::new("PUT", "/v1/users/me/password")
            .json(&json!({"currentPassword": PASSWORD, "newPassword": "x y z w v u t"})),
        Call::new("GET", "/v1/users/me/posts"),
        Call::new("POST", "/v1/auth/email/verify/resend"),
        Call::new("GET", "/v1/users"),
        Call::new("GET", "/v1/users/{id}").param("id", &victim_id),
        Call::new("PATCH", "/v1/users/{id}")
            .param("id", &victim_id)
            .json(&json!({"roles": ["ADMIN"]})),
        Call::new("DELETE", "/v1/users/{id}").param("id", &victim_id),
        Call::new("GET", "/v1/audit").query("actorId", &victim_id),
        Call::new("POST", "/v1/posts").json(&json!({"title": "T", "body": "B"})),
        Call::new("PATCH", "/v1/posts/{id}")
            .param("id", &post)
            .json(&json!({"title": "Owned"})),
        Call::new("DELETE", "/v1/posts/{id}").param("id", &post),
        // Optional authentication: a bad token is an error, not anonymity.
        Call::new("GET", "/v1/posts/{id}").param("id", &post),
    ];
    let mut wrong = Vec::new();
    for (what, token) in &forged {
        for route in &routes {
            let response = invoke(&app, route.clone().bearer(token)).await;
            let challenge = response.header("www-authenticate").unwrap_or_default();
            if response.status != 401 || !challenge.starts_with("Bearer") {
                wrong.push(format!(
                    "{what}: {} {} -> {} {challenge:?}",
                    route.method(),
                    route.route(),
                    response.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // And nothing was changed by any of them.
    let me = invoke(&app, Call::new("GET", "/v1/users/me").bearer(&victim)).await;
    assert_eq!(me.body["roles"], json!(["USER"]));
    let still = invoke(
        &app,
        Call::new("GET", "/v1/posts/{id}")
            .param("id", &post)
            .bearer(&victim),
    )
    .await;
    assert_eq!((still.status, &still.body["title"]), (200, &json!("Mine")));
}

#[tokio::test]
async fn twenty_concurrent_refreshes_mint_one_token_and_within_the_grace_window_keep_the_family() {
    let app = TestApp::spawn_with(
        shared::clock::Clock::System,
        &[("REFRESH_REUSE_GRACE_SECONDS", "30")],
    )
    .await;
    let winner = refresh_race(&app).await;
    // Losers that arrived after the rotation are inside the grace window: no revocation.
    assert_eq!(refresh_with(&app, &winner).await.status, 200);
}

#[tokio::test]
async fn twenty_concurrent_refreshes_without_grace_mint_one_token_and_never_leave_half_a_session() {
    let app = TestApp::spawn().await;
    let winner = refresh_race(&app).await;
    let next = refresh_with(&app, &winner).await;
    let access = winner["accessToken"].as_str().expect("access");
    let me = invoke(&app, Call::new("GET", "/v1/users/me").bearer(access)).await;
    // A loser that read the token after the winner rotated it is a reuse (no grace configured):
    // the whole session is revoked. Either way the session is whole: both tokens work, or none.
    match next.status {
        200 => assert_eq!(me.status, 200, "the session lives"),
        401 => assert_eq!(me.status, 401, "reuse revoked the session and its access"),
        other => panic!("unexpected {other}: {}", next.body),
    }
}

#[tokio::test]
async fn a_stolen_access_token_cannot_guess_the_password_faster_than_the_sign_in_form() {
    let app = TestApp::spawn_with_clock(ferrite_tests::standing_clock()).await;
    let (token, _) = app.user("guessed@example.com", None).await;
    let change = |current: &str| {
        Call::new("PUT", "/v1/users/me/password")
            .bearer(&token)
            .json(&json!({"currentPassword": current, "newPassword": "quiet lanterns over the harbour"}))
    };
    let mut statuses = Vec::new();
    for guess in 0..5 {
        statuses.push(
            invoke(&app, change(&format!("guess number {guess}")))
                .await
                .status,
        );
    }
    assert_eq!(statuses, [422; 5]);
    // The budget is spent: even the right password waits, here and at the sign-in form.
    let right = invoke(&app, change(PASSWORD)).await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(right.header("retry-after").is_some());
    let delete = invoke(
        &app,
        Call::new("DELETE", "/v1/users/me")
            .bearer(&token)
            .json(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(delete.status, 429);
    let login = invoke(
        &app,
        Call::new("POST", "/v1/auth/login")
            .json(&json!({"email": "guessed@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 429);
}
