//! Second factors as tests need them: the code an authenticator app would show at an instant
//! (from the secret enrolment returned), an enrolled account, and the clock that moves on.

use std::time::{Duration, SystemTime};

use serde_json::json;
use shared::clock::Clock;

use crate::{Call, PASSWORD, TestApp, TestResponse};

/// The code an authenticator app shows at `at` for the base32 `secret` (SHA-1, 6 digits,
/// 30-second steps: what the `otpauth://` URI says).
pub fn code_at(secret: &str, at: SystemTime) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("a base32 secret");
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build_noncompliant();
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    totp.generate(seconds).to_string()
}

/// A clock standing `seconds` after `clock`'s instant.
pub fn later(clock: Clock, seconds: u64) -> Clock {
    Clock::Fixed(clock.now() + Duration::from_secs(seconds))
}

/// A clock standing at the start of a TOTP step a few minutes ago: tokens minted by it are
/// valid now, and the next steps are reached by [`later`].
pub fn step_clock(minutes_ago: u64) -> Clock {
    let at = SystemTime::now() - Duration::from_secs(minutes_ago * 60);
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    Clock::Fixed(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds - seconds % 30))
}

/// An authenticator app set up for the signed-in `token` at the app's instant: `(secret,
/// recovery codes)`.
pub async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let begun = app
        .call(
            users_me_mfa_totp::handle,
            Call::new("POST", "/v1/users/me/mfa/totp")
                .json(&json!({}))
                .bearer(token),
        )
        .await;
    assert_eq!(begun.status, 201, "{}", begun.body);
    let secret = begun.body["secret"].as_str().expect("secret").to_owned();
    let confirmed = confirm(app, token, &code_at(&secret, app.state.clock.now())).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes = confirmed.body["recoveryCodes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    (secret, codes)
}

/// `POST /v1/users/me/mfa/totp/confirm` with `code`.
pub async fn confirm(app: &TestApp, token: &str, code: &str) -> TestResponse {
    app.call(
        users_me_mfa_totp_confirm::handle,
        Call::new("POST", "/v1/users/me/mfa/totp/confirm")
            .json(&json!({"code": code}))
            .bearer(token),
    )
    .await
}

/// `POST /v1/auth/mfa/verify` with `challenge` and a `code` or a `recoveryCode` (the JSON field
/// given).
pub async fn verify(app: &TestApp, challenge: &str, field: &str, value: &str) -> TestResponse {
    app.call(
        auth_mfa_verify::handle,
        Call::new("POST", "/v1/auth/mfa/verify")
            .json(&json!({"challenge": challenge, field: value})),
    )
    .await
}

/// `POST /v1/auth/login` as `email` with the tests' password.
pub async fn login(app: &TestApp, email: &str) -> TestResponse {
    app.call(
        auth_login::handle,
        Call::new("POST", "/v1/auth/login").json(&json!({"email": email, "password": PASSWORD})),
    )
    .await
}

/// The challenge of a sign-in that needs the second factor (asserting it does, and gives no
/// tokens).
pub async fn challenge(app: &TestApp, email: &str) -> String {
    let answer = login(app, email).await;
    assert_eq!(
        (answer.status, answer.code()),
        (401, "MFA_REQUIRED"),
        "{}",
        answer.body
    );
    assert!(answer.body.get("accessToken").is_none());
    answer.body["challenge"]
        .as_str()
        .expect("a challenge")
        .to_owned()
}
