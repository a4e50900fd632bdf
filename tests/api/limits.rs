//! Per-client limits: each expensive or abusable write counts its client (an account, a source
//! address) in a fixed window, answers 429 with `Retry-After` past the quota, and tells the
//! client where it stands in the `RateLimit-Policy` / `RateLimit` fields of the IETF draft.

use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::json;

fn retry_after(answer: &TestResponse) -> u64 {
    answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds")
}

/// A world whose clock stands still ([`ferrite_tests::standing_clock`]).
async fn spawn(settings: &[(&str, &str)]) -> TestApp {
    TestApp::spawn_with(ferrite_tests::standing_clock(), settings).await
}

#[tokio::test]
async fn post_creation_is_limited_per_account_and_replays_do_not_count() {
    let app = spawn(&[("POSTS_PER_USER_PER_HOUR", "2")]).await;
    let (author, _) = app.user("prolific@example.com", None).await;
    let (other, _) = app.user("quiet@example.com", None).await;
    let post = |token: &str, key: Option<&str>| {
        let mut call = Call::new("POST", "/v1/posts")
            .bearer(token)
            .json(&json!({"title": "T", "body": "B"}));
        if let Some(key) = key {
            call = call.header("idempotency-key", key);
        }
        app.call(posts_create::handle, call)
    };

    let first = post(&author, Some("k1")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"post-create\";q=2;w=3600")
    );
    let state = first.header("ratelimit").expect("RateLimit");
    assert!(state.starts_with("\"post-create\";r=1;t="), "{state}");
    let second = post(&author, None).await;
    assert!(
        second
            .header("ratelimit")
            .is_some_and(|v| v.starts_with("\"post-create\";r=0;t=")),
        "{:?}",
        second.headers
    );

    let refused = post(&author, None).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.code(), "RATE_LIMITED");
    assert!((1..=3600).contains(&retry_after(&refused)));
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"post-create\";q=2;w=3600")
    );
    assert!(
        refused
            .header("ratelimit")
            .is_some_and(|v| v.starts_with("\"post-create\";r=0;t="))
    );
    // A replay of a created post is not a new post: answered, not counted.
    let replayed = post(&author, Some("k1")).await;
    assert_eq!(replayed.status, 201, "{}", replayed.body);
    assert_eq!(replayed.body["id"], first.body["id"]);
    // Another account has its own quota.
    assert_eq!(post(&other, None).await.status, 201);
}

#[tokio::test]
async fn mailed_link_requests_are_limited_per_source_address() {
    for (path, setting, policy) in [
        (
            "/v1/auth/password/forgot",
            "PASSWORD_RESETS_PER_IP_PER_HOUR",
            "password-reset-ip",
        ),
        (
            "/v1/auth/magic-link",
            "SIGN_IN_LINKS_PER_IP_PER_HOUR",
            "sign-in-link-ip",
        ),
    ] {
        let app = spawn(&[(setting, "2")]).await;
        let ask = |ip: &'static str, email: &'static str| {
            let call = Call::new("POST", path)
                .json(&json!({ "email": email }))
                .from_ip(ip);
            let app = &app;
            async move {
                if path == "/v1/auth/magic-link" {
                    app.call(auth_magic_link::handle, call).await
                } else {
                    app.call(auth_password_forgot::handle, call).await
                }
            }
        };
        let first = ask("203.0.113.7", "a@example.com").await;
        assert_eq!(first.status, 202, "{path}");
        assert_eq!(
            first.header("ratelimit-policy"),
            Some(format!("\"{policy}\";q=2;w=3600").as_str())
        );
        // Spraying addresses does not help: the source address is what counts.
        assert_eq!(ask("203.0.113.7", "b@example.com").await.status, 202);
        let refused = ask("203.0.113.7", "c@example.com").await;
        assert_eq!(refused.status, 429, "{path}: {}", refused.body);
        assert!((1..=3600).contains(&retry_after(&refused)));
        assert!(
            refused
                .header("ratelimit")
                .is_some_and(|v| v.starts_with(&format!("\"{policy}\";r=0;t="))),
            "{path}"
        );
        assert_eq!(ask("203.0.113.8", "c@example.com").await.status, 202);
    }
}

#[tokio::test]
async fn verification_requests_are_limited_per_account_with_both_windows_told() {
    let app = spawn(&[("LINK_EMAILS_PER_ACCOUNT_PER_HOUR", "3")]).await;
    let (token, _) = app.user("unverified@example.com", None).await;
    let resend = || {
        app.call(
            auth_email_verify_resend::handle,
            Call::new("POST", "/v1/auth/email/verify/resend").bearer(&token),
        )
    };
    let first = resend().await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"verify-email-minute\";q=1;w=60, \"verify-email\";q=3;w=3600")
    );
    let refused = resend().await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!((1..=60).contains(&retry_after(&refused)));
    let state = refused.header("ratelimit").expect("RateLimit");
    assert!(state.contains("\"verify-email-minute\";r=0;t="), "{state}");
}

#[tokio::test]
async fn sign_in_failures_are_limited_per_source_address_and_the_429_names_that_policy() {
    let app = spawn(&[("LOGIN_FAILURES_PER_IP", "2")]).await;
    app.user("target@example.com", None).await;
    let attempt = |email: &'static str, password: &'static str, ip: &'static str| {
        app.call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": email, "password": password}))
                .from_ip(ip),
        )
    };
    for email in ["x@example.com", "y@example.com"] {
        assert_eq!(attempt(email, "wrong guess", "192.0.2.9").await.status, 401);
    }
    // The third from that address is refused, even with the right password…
    let refused = attempt("target@example.com", PASSWORD, "192.0.2.9").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!((1..=900).contains(&retry_after(&refused)));
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"login-ip\";q=2;w=900")
    );
    // …and from elsewhere the account is still open.
    assert_eq!(
        attempt("target@example.com", PASSWORD, "192.0.2.10")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn registrations_tell_their_per_address_quota() {
    let app = spawn(&[("REGISTRATIONS_PER_IP_PER_HOUR", "4")]).await;
    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": "quota@example.com", "name": "Q", "password": PASSWORD}))
                .from_ip("198.51.100.40"),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(
        registered.header("ratelimit-policy"),
        Some("\"register-ip\";q=4;w=3600")
    );
    assert!(
        registered
            .header("ratelimit")
            .is_some_and(|v| v.starts_with("\"register-ip\";r=3;t="))
    );
}
