//! Email links and mail: older links voided, no token on the pipeline, no flood, no tell.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::{forgot, login, pair, reset_with};

#[tokio::test]
async fn a_newer_reset_link_and_a_set_password_void_the_older_links() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user("links@example.com", None).await;
    forgot(&app, "links@example.com").await;
    let older = app.link_token("user.password_reset_requested").await;
    // One a minute: the next request is a minute later.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let newer_event = {
        let state = app.state_of("AuthPasswordForgotFunction");
        // The per-address allowance would hold the second mail back for a minute: ask for the
        // link the way the second request does, skipping only the allowance.
        let claim: shared::accounts::items::EmailClaim = state
            .store
            .get(&shared::store::Key::email(
                &shared::validate::Email::parse("links@example.com").expect("email"),
            ))
            .await
            .expect("read")
            .expect("claim");
        shared::events::LinkRequest {
            purpose: shared::events::LinkPurpose::ResetPassword,
            user_id: claim.user_id,
            requested_ms: app.state.clock.unix_millis(),
        }
    };
    let newer = shared::accounts::mint_link(app.state_of("WorkerEmailFunction"), &newer_event)
        .await
        .expect("mint")
        .expect("live");
    assert_eq!(
        reset_with(&app, &older, "seven copper kettles singing").await,
        400,
        "a newer link voids the older"
    );
    assert_eq!(
        reset_with(&app, &newer, "seven copper kettles singing").await,
        204
    );

    // A link still outstanding when the password is changed is void.
    let (access2, _) =
        pair(&login(&app, "links@example.com", "seven copper kettles singing").await);
    drop(access);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let outstanding = shared::accounts::mint_link(
        app.state_of("WorkerEmailFunction"),
        &shared::events::LinkRequest {
            requested_ms: app.state.clock.unix_millis(),
            ..newer_event
        },
    )
    .await
    .expect("mint")
    .expect("live");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let changed = app
        .call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password").bearer(&access2).json(
                &json!({"currentPassword": "seven copper kettles singing", "newPassword": "quiet lanterns over the harbour"}),
            ),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    assert_eq!(
        reset_with(&app, &outstanding, "violet anchor drifts north again").await,
        400
    );
    // And a link asked for before the change, minted only after it, is never minted at all.
    let stale = shared::accounts::mint_link(app.state_of("WorkerEmailFunction"), &newer_event)
        .await
        .expect("mint");
    assert!(
        stale.is_none(),
        "a link requested before the password set is not minted"
    );
}

#[tokio::test]
async fn a_password_set_voids_an_outstanding_verification_link() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user("unverified@example.com", None).await;
    let verify_link = app.link_token("user.registered").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let changed = app
        .call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password").bearer(&access).json(
                &json!({"currentPassword": PASSWORD, "newPassword": "quiet lanterns over the harbour"}),
            ),
        )
        .await;
    assert_eq!(changed.status, 204);
    let verify = app
        .call(
            auth_email_verify::handle,
            Call::new("POST", "/v1/auth/email/verify").json(&json!({"token": verify_link})),
        )
        .await;
    assert_eq!(verify.status, 400);
}

#[tokio::test]
async fn no_token_of_an_email_link_travels_the_pipeline() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user("pipeline@example.com", None).await;
    forgot(&app, "pipeline@example.com").await;
    let resend = app
        .call(
            auth_email_verify_resend::handle,
            Call::new("POST", "/v1/auth/email/verify/resend").bearer(&access),
        )
        .await;
    assert_eq!(resend.status, 202);
    // What the outbox (and so the stream, the queues and the DLQs) carries: link requests.
    let minted = [
        app.link_token("user.registered").await,
        app.link_token("user.password_reset_requested").await,
        app.link_token("user.verification_requested").await,
    ];
    let outbox = serde_json::to_string(&app.outbox().await).expect("json");
    for token in &minted {
        assert!(!outbox.contains(token.as_str()));
    }
    for event in app.outbox().await {
        if let Some(email) = event.email {
            assert!(
                !email
                    .vars
                    .keys()
                    .any(|k| k.to_lowercase().contains("token")),
                "{:?}",
                email.vars
            );
        }
    }
}

#[tokio::test]
async fn mailed_link_requests_make_the_same_calls_whether_or_not_the_account_exists() {
    for path in ["/v1/auth/password/forgot", "/v1/auth/magic-link"] {
        let (app, log) = TestApp::spawn_counting().await;
        app.user("known@example.com", None).await;
        log.take();
        let calls = |email: &'static str| {
            let (app, log) = (&app, &log);
            async move {
                let call = Call::new("POST", path).json(&json!({ "email": email }));
                let answer = if path == "/v1/auth/magic-link" {
                    app.call(auth_magic_link::handle, call).await
                } else {
                    app.call(auth_password_forgot::handle, call).await
                };
                assert_eq!(answer.status, 202, "{path}: {}", answer.body);
                log.take()
            }
        };
        let unknown = calls("nobody@example.com").await;
        let known = calls("known@example.com").await;
        // The second within a minute is held back by the allowance: still the same calls.
        let held_back = calls("known@example.com").await;
        assert_eq!(unknown, known, "{path}");
        assert_eq!(held_back, known, "{path}");
        assert_eq!(
            known,
            [
                "UpdateItem",
                "GetItem",
                "UpdateItem",
                "UpdateItem",
                "TransactWriteItems"
            ],
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_links_token_opens_only_what_it_was_mailed_for_and_is_not_spent_elsewhere() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user("purposes@example.com", None).await;
    let verify = app.link_token("user.registered").await;
    forgot(&app, "purposes@example.com").await;
    let reset = app.link_token("user.password_reset_requested").await;
    let asked = app
        .call(
            users_me_email::handle,
            Call::new("POST", "/v1/users/me/email")
                .bearer(&access)
                .json(&json!({"newEmail": "purposes-moved@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let change = app.link_token("user.email_change_requested").await;
    let asked = app
        .call(
            auth_magic_link::handle,
            Call::new("POST", "/v1/auth/magic-link")
                .json(&json!({"email": "purposes@example.com"})),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let sign_in = app.link_token("user.sign_in_link_requested").await;

    // Each endpoint that opens a link, with each token: only its own purpose's opens.
    let open = |endpoint: &'static str, token: &str| {
        let app = &app;
        let body = if endpoint == "/v1/auth/password/reset" {
            json!({"token": token, "newPassword": "quiet lanterns over the harbour"})
        } else {
            json!({ "token": token })
        };
        async move {
            let call = Call::new("POST", endpoint).json(&body);
            match endpoint {
                "/v1/auth/email/verify" => app.call(auth_email_verify::handle, call).await,
                "/v1/auth/password/reset" => app.call(auth_password_reset::handle, call).await,
                "/v1/auth/email/change/confirm" => {
                    app.call(auth_email_change_confirm::handle, call).await
                }
                _ => app.call(auth_magic_link_verify::handle, call).await,
            }
        }
    };
    let endpoints = [
        ("/v1/auth/email/verify", &verify),
        ("/v1/auth/password/reset", &reset),
        ("/v1/auth/email/change/confirm", &change),
        ("/v1/auth/magic-link/verify", &sign_in),
    ];
    for (endpoint, _) in endpoints {
        for (other, token) in endpoints {
            if other == endpoint {
                continue;
            }
            let refused = open(endpoint, token).await;
            assert_eq!(
                (refused.status, refused.code()),
                (400, "INVALID_TOKEN"),
                "{other}'s token at {endpoint}: {}",
                refused.body
            );
        }
    }
    // None was spent by those attempts: each still opens what it was mailed for (in an order
    // where none voids the next: a password set and an address change end every other link).
    assert_eq!(open("/v1/auth/email/verify", &verify).await.status, 204);
    assert_eq!(
        open("/v1/auth/magic-link/verify", &sign_in).await.status,
        200
    );
    assert_eq!(
        open("/v1/auth/email/change/confirm", &change).await.status,
        204
    );
}

#[tokio::test]
async fn a_stranger_cannot_flood_an_address_with_mail() {
    let app = TestApp::spawn().await;
    let address = format!(
        "victim-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    for _ in 0..4 {
        let (access, _) = app.user(&address, None).await;
        let deleted = app
            .call(
                users_me_delete::handle,
                Call::new("DELETE", "/v1/users/me")
                    .bearer(&access)
                    .json(&json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    }
    let records: Vec<String> = app
        .outbox()
        .await
        .iter()
        .filter(|e| e.email.is_some())
        .map(ferrite_tests::stream_record)
        .collect();
    assert_eq!(records.len(), 8, "four welcomes, four goodbyes asked for");
    let worker = ferrite_tests::email_worker(&app, "no-reply@example.com", true).await;
    let answer = worker_email::handle(&worker, ferrite_tests::sqs_event(&records)).await;
    assert!(answer.batch_item_failures.is_empty());
    // The welcomes' links cannot be minted (each account is gone): of the four goodbyes, the
    // address's budget lets three through.
    assert_eq!(ferrite_tests::sent_emails(&address).await.len(), 3);
}

#[tokio::test]
async fn a_registrants_words_never_reach_an_unproved_address() {
    let app = TestApp::spawn().await;
    let address = format!(
        "someone-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register").json(&json!({
                "email": address,
                "name": "Account locked! Go to https://evil.example/verify",
                "password": PASSWORD,
            })),
        )
        .await;
    assert_eq!(registered.status, 201);
    let records: Vec<String> = app
        .outbox()
        .await
        .iter()
        .filter(|e| e.email.is_some())
        .map(ferrite_tests::stream_record)
        .collect();
    let worker = ferrite_tests::email_worker(&app, "no-reply@example.com", true).await;
    let answer = worker_email::handle(&worker, ferrite_tests::sqs_event(&records)).await;
    assert!(answer.batch_item_failures.is_empty());
    let mails = ferrite_tests::sent_emails(&address).await;
    assert_eq!(mails.len(), 1);
    let (subject, body) = &mails[0];
    assert!(subject.starts_with("Welcome"));
    assert!(
        !body.contains("evil.example") && !body.contains("Account locked"),
        "{body}"
    );
    assert!(
        body.contains("verify-email") && body.contains("token="),
        "the link is in it: {body}"
    );
}

#[tokio::test]
async fn look_alike_addresses_are_the_same_account_or_refused() {
    let app = TestApp::spawn().await;
    app.user("ada@example.com", None).await;
    let register = |email: &str| {
        app.call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": "Twin", "password": PASSWORD})),
        )
    };
    // The full-width spelling of the domain (UTS-46 maps it to ASCII): the same mailbox.
    let full_width = "ada@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com";
    let twin = register(full_width).await;
    assert_eq!((twin.status, twin.code()), (409, "EMAIL_TAKEN"));
    // A quoted local part names the same mailbox under RFC 5321: refused.
    let quoted = register("\"ada\"@example.com").await;
    assert_eq!(quoted.status, 422, "{:?}", quoted.body);
    // Every lookup uses the canonical form: signing in with the look-alike is signing in.
    assert_eq!(login(&app, full_width, PASSWORD).await.status, 200);
}
