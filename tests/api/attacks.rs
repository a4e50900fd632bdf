//! The findings of the independent attack run (issue "Attacked from outside"), each as the test
//! that would have caught it.

use ferrite_tests::{Call, TestApp, api_url, http};
use serde_json::json;
use shared::auth::Role;

use crate::support::{PASSWORD, user};

#[tokio::test]
async fn parallel_wrong_passwords_spend_the_failure_budget_exactly_once_each() {
    let app = TestApp::spawn().await;
    user(&app, "target@example.com", None).await;
    // Fifteen guesses at once, each handled as its own request (the handlers interleave at
    // every DynamoDB call, as parallel Lambda instances would).
    let guesses = (0..15)
        .map(|n| {
            Call::new("POST", "/v1/auth/login").json(
                &json!({"email": "target@example.com", "password": format!("wrong guess {n}")}),
            )
        })
        .collect();
    let statuses = app.statuses_at_once(auth_login::handle, guesses).await;
    let mut expected = vec![401; 5];
    expected.extend([429; 10]);
    assert_eq!(
        statuses, expected,
        "five guesses checked, the rest throttled"
    );
    // The right password is throttled too now.
    let right = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "target@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(right.status, 429);
}

#[tokio::test]
async fn parallel_wrong_current_passwords_spend_the_same_budget() {
    let app = TestApp::spawn().await;
    let (token, _) = user(&app, "held@example.com", None).await;
    let guesses = (0..12)
        .map(|n| {
            Call::new("PUT", "/v1/users/me/password").bearer(&token).json(
                &json!({"currentPassword": format!("wrong guess {n}"), "newPassword": "quiet lanterns over the harbour"}),
            )
        })
        .collect();
    let statuses = app
        .statuses_at_once(users_me_password::handle, guesses)
        .await;
    let mut expected = vec![422; 5];
    expected.extend([429; 7]);
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn a_right_password_gives_its_attempt_back() {
    let app = TestApp::spawn().await;
    user(&app, "regular@example.com", None).await;
    // Far more sign-ins than the budget: none is a failure, so none is throttled.
    for _ in 0..8 {
        let login = app
            .call(
                auth_login::handle,
                Call::new("POST", "/v1/auth/login")
                    .json(&json!({"email": "regular@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(login.status, 200, "{:?}", login.body);
    }
}

#[tokio::test]
async fn a_repeated_query_parameter_is_a_400_not_a_silent_choice() {
    for path in [
        "/v1/posts?limit=1&limit=50",
        "/v1/posts?tag=rust&tag=aws",
        "/v1/posts?cursor=a&cursor=b",
        "/v1/users/me/posts?status=draft&status=published",
        "/v1/users?role=ADMIN&role=USER",
        "/v1/audit?actorId=a&actorId=b",
    ] {
        let response = http()
            .get(format!("{}{path}", api_url()))
            .bearer_auth("not-needed-for-a-400-before-auth")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        // Routes that authenticate first answer 401 to this caller; the parameter check of the
        // public feed comes first.
        if path.starts_with("/v1/posts?") {
            assert_eq!(status, 400, "{path}");
            let body: serde_json::Value = response.json().await.expect("json");
            assert_eq!(body["code"], "INVALID_PARAMETER", "{path}");
        } else {
            assert!(status == 400 || status == 401, "{path}: {status}");
        }
    }
}

#[tokio::test]
async fn repeated_parameters_of_authenticated_listings_are_400_for_a_signed_in_caller() {
    let app = TestApp::spawn().await;
    let (admin, _) = user(&app, "lists@example.com", Some(Role::Admin)).await;
    let calls = [
        (
            "users-me-posts",
            Call::new("GET", "/v1/users/me/posts")
                .query("status", "draft")
                .query("status", "published"),
        ),
        (
            "users-list",
            Call::new("GET", "/v1/users")
                .query("limit", "1")
                .query("limit", "50"),
        ),
        (
            "audit-list",
            Call::new("GET", "/v1/audit")
                .query("actorId", "a")
                .query("actorId", "b"),
        ),
    ];
    for (name, call) in calls {
        let call = call.bearer(&admin);
        let response = match name {
            "users-me-posts" => app.call(users_me_posts::handle, call).await,
            "users-list" => app.call(users_list::handle, call).await,
            _ => app.call(audit_list::handle, call).await,
        };
        assert_eq!(
            (response.status, response.code()),
            (400, "INVALID_PARAMETER"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn post_titles_and_bodies_follow_the_text_policy_of_names() {
    let app = TestApp::spawn().await;
    let (token, _) = user(&app, "writer@example.com", None).await;
    let create = |body: serde_json::Value| {
        app.call(
            posts_create::handle,
            Call::new("POST", "/v1/posts").bearer(&token).json(&body),
        )
    };
    for (title, body) in [
        ("abc\u{202E}gnp.exe", "fine"),
        ("\u{200B}\u{200B}\u{200B}", "fine"),
        ("   ", "fine"),
        ("Fine title", "a body with an \u{202E}override"),
        ("Fine title", "a bell \u{0007} in a body"),
    ] {
        let response = create(json!({"title": title, "body": body})).await;
        assert_eq!(
            response.status, 422,
            "{title:?} / {body:?}: {:?}",
            response.body
        );
    }
    // Line breaks and tabs in a body, and joiners inside a title, are fine.
    let fine =
        create(json!({"title": "👩\u{200D}💻 notes", "body": "line one\n\tline two\r\n"})).await;
    assert_eq!(fine.status, 201, "{:?}", fine.body);
}

async fn login(app: &TestApp, email: &str, password: &str) -> ferrite_tests::TestResponse {
    app.call(
        auth_login::handle,
        Call::new("POST", "/v1/auth/login").json(&json!({"email": email, "password": password})),
    )
    .await
}

/// `(access, refresh)` of a response with a token pair.
fn pair(response: &ferrite_tests::TestResponse) -> (String, String) {
    let token = |name: &str| {
        response.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {:?}", response.body))
            .to_owned()
    };
    (token("accessToken"), token("refreshToken"))
}

async fn me_status(app: &TestApp, access: &str) -> u16 {
    app.call(
        users_me_get::handle,
        Call::new("GET", "/v1/users/me").bearer(access),
    )
    .await
    .status
}

async fn refresh_status(app: &TestApp, refresh: &str) -> u16 {
    app.call(
        auth_refresh::handle,
        Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": refresh})),
    )
    .await
    .status
}

/// `count` more sessions of `user` written straight into the table, as an account that signed
/// in that often before sessions were capped would have: their access tokens.
async fn many_sessions(app: &TestApp, user: &str, count: usize) -> Vec<String> {
    let id = shared::ids::UserId::parse(user).expect("user id");
    let mut tokens = Vec::new();
    for _ in 0..count {
        let session_id = shared::ids::new_id();
        let key = shared::accounts::items::SessionItem::key(id, &session_id);
        app.state
            .store
            .put_new(&shared::accounts::items::SessionItem {
                pk: key.pk,
                sk: key.sk,
                session_id: session_id.clone(),
                user_id: id,
                created_at: app.state.clock.timestamp(),
                expires_at: app.state.store.expires_in(3600),
                epoch: 0,
            })
            .await
            .expect("session");
        tokens.push(
            shared::auth::jwt::mint(
                app.state.auth.signer().expect("signer"),
                &app.state.auth.tokens,
                user,
                &[Role::User],
                &session_id,
                app.state.clock.unix_seconds(),
            )
            .expect("token"),
        );
    }
    tokens
}

#[tokio::test]
async fn sign_ins_past_the_cap_end_the_oldest_sessions() {
    let app = TestApp::spawn().await;
    user(&app, "busy@example.com", None).await;
    let mut pairs = Vec::new();
    for _ in 0..shared::accounts::MAX_SESSIONS + 3 {
        pairs.push(pair(&login(&app, "busy@example.com", PASSWORD).await));
    }
    // The registration's session and the first three sign-ins' are gone; the newest ten live.
    let live = pairs.len() - shared::accounts::MAX_SESSIONS;
    for (n, (access, refresh)) in pairs.iter().enumerate() {
        let expected = if n < live { 401 } else { 200 };
        assert_eq!(me_status(&app, access).await, expected, "session {n}");
        if n < live {
            assert_eq!(refresh_status(&app, refresh).await, 401, "session {n}");
        }
    }
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_however_many_there_are() {
    let app = TestApp::spawn().await;
    let (current, id) = user(&app, "many@example.com", None).await;
    let others: Vec<(String, String)> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(pair(&login(&app, "many@example.com", PASSWORD).await));
        }
        v
    };
    // Far more than one transaction could delete one by one.
    let old = many_sessions(&app, &id, 120).await;
    assert_eq!(me_status(&app, &old[119]).await, 200);
    let changed = app
        .call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password").bearer(&current).json(
                &json!({"currentPassword": PASSWORD, "newPassword": "quiet lanterns over the harbour"}),
            ),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    assert_eq!(
        me_status(&app, &current).await,
        200,
        "the session that changed it lives"
    );
    for access in old.iter().chain(others.iter().map(|(a, _)| a)) {
        assert_eq!(me_status(&app, access).await, 401);
    }
    for (_, refresh) in &others {
        assert_eq!(refresh_status(&app, refresh).await, 401);
    }
}

#[tokio::test]
async fn a_reset_and_a_disabled_account_end_every_session_however_many_there_are() {
    let app = TestApp::spawn().await;
    let (_admin, _) = user(&app, "root@example.com", Some(Role::Admin)).await;
    let (current, id) = user(&app, "reset-many@example.com", None).await;
    let old = many_sessions(&app, &id, 90).await;
    app.call(
        auth_password_forgot::handle,
        Call::new("POST", "/v1/auth/password/forgot")
            .json(&json!({"email": "reset-many@example.com"})),
    )
    .await;
    let token = app.link_token("user.password_reset_requested").await;
    let reset = app
        .call(
            auth_password_reset::handle,
            Call::new("POST", "/v1/auth/password/reset")
                .json(&json!({"token": token, "newPassword": "quiet lanterns over the harbour"})),
        )
        .await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);
    for access in old.iter().chain([&current]) {
        assert_eq!(me_status(&app, access).await, 401);
    }

    let (victim, victim_id) = user(&app, "disabled-many@example.com", None).await;
    let sessions = many_sessions(&app, &victim_id, 90).await;
    let admin = crate::support::sign_in_as(&app, "root@example.com", PASSWORD, None).await;
    let disabled = app
        .call(
            users_patch::handle,
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &victim_id)
                .bearer(&admin)
                .json(&json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    for access in sessions.iter().chain([&victim]) {
        assert_eq!(me_status(&app, access).await, 401);
    }
}

async fn forgot(app: &TestApp, email: &str) {
    let answer = app
        .call(
            auth_password_forgot::handle,
            Call::new("POST", "/v1/auth/password/forgot").json(&json!({"email": email})),
        )
        .await;
    assert_eq!(answer.status, 202);
}

async fn reset_with(app: &TestApp, token: &str, password: &str) -> u16 {
    app.call(
        auth_password_reset::handle,
        Call::new("POST", "/v1/auth/password/reset")
            .json(&json!({"token": token, "newPassword": password})),
    )
    .await
    .status
}

#[tokio::test]
async fn a_newer_reset_link_and_a_set_password_void_the_older_links() {
    let app = TestApp::spawn().await;
    let (access, _) = user(&app, "links@example.com", None).await;
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
    let (access, _) = user(&app, "unverified@example.com", None).await;
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
    let (access, _) = user(&app, "pipeline@example.com", None).await;
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
async fn forgot_password_makes_the_same_calls_whether_or_not_the_account_exists() {
    let (app, log) = TestApp::spawn_counting().await;
    user(&app, "known@example.com", None).await;
    log.take();
    let calls = |email: &'static str| {
        let (app, log) = (&app, &log);
        async move {
            forgot(app, email).await;
            log.take()
        }
    };
    let unknown = calls("nobody@example.com").await;
    let known = calls("known@example.com").await;
    // The second within a minute is held back by the allowance: still the same calls.
    let held_back = calls("known@example.com").await;
    assert_eq!(unknown, known);
    assert_eq!(held_back, known);
    assert_eq!(
        known,
        ["GetItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]
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
        let (access, _) = user(&app, &address, None).await;
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
    let worker = crate::support::email_worker(&app, "no-reply@example.com", true).await;
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
    let worker = crate::support::email_worker(&app, "no-reply@example.com", true).await;
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
    user(&app, "ada@example.com", None).await;
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

/// `GET /v1/posts` (the whole feed, or `tag`'s) with `cursor`, as anyone.
async fn feed_page(
    app: &TestApp,
    tag: Option<&str>,
    limit: u16,
    cursor: Option<&str>,
) -> ferrite_tests::TestResponse {
    let mut call = Call::new("GET", "/v1/posts").query("limit", &limit.to_string());
    if let Some(tag) = tag {
        call = call.query("tag", tag);
    }
    if let Some(cursor) = cursor {
        call = call.query("cursor", cursor);
    }
    app.call(posts_list::handle, call).await
}

/// Publishes a post tagged `tags` as `access`.
async fn publish(app: &TestApp, access: &str, title: &str, tags: &[&str]) {
    let created = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(access)
                .json(&json!({"title": title, "body": "b", "tags": tags, "status": "published"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
}

/// The app's world as it was `days` days ago.
fn days_ago(app: &TestApp, days: u64) -> TestApp {
    let at = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 24 * 3600);
    app.at(shared::clock::Clock::Fixed(at))
}

#[tokio::test]
async fn a_forged_or_foreign_feed_cursor_is_refused_without_walking_months() {
    let (app, log) = TestApp::spawn_counting().await;
    let (access, _) = user(&app, "writer@example.com", None).await;
    publish(&app, &access, "one", &["rust"]).await;
    publish(&app, &access, "two", &["rust"]).await;
    // The unauthenticated shape the feed used to accept: base64 JSON naming a far month.
    for month in ["2045-12", "9999-12"] {
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json!({"m": month}).to_string(),
        );
        log.take();
        let answer = feed_page(&app, None, 20, Some(&forged)).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.code(), "INVALID_CURSOR");
        assert!(log.take().is_empty(), "a forged cursor reads nothing");
    }
    // A genuine cursor of one feed is not a cursor of another.
    let first = feed_page(&app, Some("rust"), 1, None).await;
    let cursor = first.body["nextCursor"].as_str().expect("a second page");
    assert_eq!(feed_page(&app, None, 1, Some(cursor)).await.status, 400);
    assert_eq!(
        feed_page(&app, Some("go"), 1, Some(cursor)).await.status,
        400
    );
    assert_eq!(
        feed_page(&app, Some("rust"), 1, Some(cursor)).await.status,
        200
    );
}

#[tokio::test]
async fn a_sparse_feed_costs_a_bounded_number_of_calls_per_page() {
    let (app, log) = TestApp::spawn_counting().await;
    let (access, _) = user(&app, "now@example.com", None).await;
    // A tag used once, three years ago, and the whole feed with posts in six months spread
    // over three years (gaps of up to a year between them).
    let spread = [1100_u64, 1095, 700, 400, 100, 40];
    for (n, days) in spread.iter().enumerate() {
        let tags: &[&str] = if n == 0 { &["rare"] } else { &[] };
        publish(&days_ago(&app, *days), &access, &format!("post {n}"), tags).await;
    }
    publish(&app, &access, "today", &[]).await;

    // The rare tag's first page: this month's bucket (empty), the month index, the one month,
    // then the page's authors (a deleted account's posts are not shown).
    log.take();
    let rare = feed_page(&app, Some("rare"), 20, None).await;
    assert_eq!(rare.status, 200);
    assert_eq!(rare.body["items"].as_array().map(Vec::len), Some(1));
    assert!(rare.body["nextCursor"].is_null());
    assert_eq!(log.take(), ["Query", "Query", "Query", "BatchGetItem"]);

    // The whole feed, page by page: every post once, newest first, and no page past the bound.
    let bound = 2 * shared::posts::MAX_BUCKETS_PER_PAGE + 1;
    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        log.take();
        let page = feed_page(&app, None, 20, cursor.as_deref()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let calls = log.take();
        assert!(calls.len() <= bound, "{} calls for one page", calls.len());
        assert!(
            calls.iter().all(|c| c == "Query" || c == "BatchGetItem"),
            "{calls:?}"
        );
        titles.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["title"].as_str().expect("title").to_owned()),
        );
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        titles,
        [
            "today", "post 5", "post 4", "post 3", "post 2", "post 1", "post 0"
        ]
    );
}

/// Every item of the app's table, sorted by key: what a refused request must leave unchanged.
async fn table_snapshot(app: &TestApp) -> Vec<String> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = app
            .client()
            .scan()
            .table_name(&app.table)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            // JSON objects keep their keys sorted: one spelling per item, nested maps included.
            let json: serde_json::Value =
                serde_dynamo::from_item(item.clone()).expect("an item as JSON");
            items.push(json.to_string());
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    items.sort();
    items
}

/// How many items of the table have a key starting with one of `prefixes`.
async fn items_with_key(app: &TestApp, prefixes: &[&str]) -> usize {
    table_snapshot(app)
        .await
        .iter()
        .filter(|item| {
            prefixes
                .iter()
                .any(|p| item.contains(&format!("\"pk\":\"{p}")))
        })
        .count()
}

#[tokio::test]
async fn a_refused_account_deletion_changes_nothing() {
    let app = TestApp::spawn().await;
    let (admin, admin_id) = user(&app, "last-admin@example.com", Some(Role::Admin)).await;
    for n in 0..3 {
        publish(&app, &admin, &format!("kept {n}"), &["kept"]).await;
    }
    let before = table_snapshot(&app).await;

    // The last admin deletes their own account, then as an admin deletes themself by id.
    let own = app
        .call(
            users_me_delete::handle,
            Call::new("DELETE", "/v1/users/me")
                .bearer(&admin)
                .json(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!((own.status, own.code()), (409, "LAST_ADMIN"));
    let by_id = app
        .call(
            users_delete::handle,
            Call::new("DELETE", "/v1/users/{id}")
                .param("id", &admin_id)
                .bearer(&admin),
        )
        .await;
    assert_eq!((by_id.status, by_id.code()), (409, "LAST_ADMIN"));

    // Not one item changed: the posts, their feed entries, the account, the attempt budget.
    assert_eq!(table_snapshot(&app).await, before);
    let feed = feed_page(&app, Some("kept"), 10, None).await;
    assert_eq!(feed.body["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn an_account_with_many_posts_is_deleted_in_one_step_and_its_posts_purged_in_the_background()
{
    let (app, log) = TestApp::spawn_counting().await;
    let (quiet, _) = user(&app, "quiet@example.com", None).await;
    let (prolific, prolific_id) = user(&app, "prolific@example.com", None).await;
    let (reader, _) = user(&app, "reader@example.com", None).await;
    publish(&app, &reader, "stays", &["mixed"]).await;
    for n in 0..25 {
        let tags: &[&str] = if n % 2 == 0 { &["mixed", "even"] } else { &[] };
        publish(&app, &prolific, &format!("post {n}"), tags).await;
    }
    let one_post = feed_page(&app, None, 1, None).await.body["items"][0]["id"]
        .as_str()
        .expect("a post")
        .to_owned();

    let delete = |access: String| {
        let app = &app;
        async move {
            app.call(
                users_me_delete::handle,
                Call::new("DELETE", "/v1/users/me")
                    .bearer(&access)
                    .json(&json!({"password": PASSWORD})),
            )
            .await
            .status
        }
    };
    log.take();
    assert_eq!(delete(quiet).await, 204);
    let without_posts = log.take();
    assert_eq!(delete(prolific).await, 204);
    assert_eq!(
        log.take(),
        without_posts,
        "deleting an account costs the same whatever it wrote"
    );

    // Hidden from every read at once, though still in the table.
    assert_eq!(items_with_key(&app, &["POST#"]).await, 26);
    let everything = feed_page(&app, None, 100, None).await;
    let titles: Vec<&str> = everything.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["stays"]);
    assert_eq!(
        feed_page(&app, Some("even"), 100, None).await.body["items"],
        json!([])
    );
    let post = app
        .call(
            posts_get::handle,
            Call::new("GET", "/v1/posts/{id}").param("id", &one_post),
        )
        .await;
    assert_eq!(post.status, 404);
    let theirs = app
        .call(
            users_posts::handle,
            Call::new("GET", "/v1/users/{id}/posts").param("id", &prolific_id),
        )
        .await;
    assert_eq!(theirs.status, 404);

    // A delivery whose deadline has passed purges nothing and asks to be delivered again.
    let late = crate::support::purge(&app, std::time::SystemTime::now()).await;
    assert_eq!(late.batch_item_failures.len(), 1);
    assert_eq!(items_with_key(&app, &["POST#"]).await, 26);

    // The next delivery purges every post with its feed and tag entries and events…
    let purged = crate::support::purge(&app, crate::support::unhurried()).await;
    assert!(purged.batch_item_failures.is_empty());
    assert_eq!(items_with_key(&app, &["POST#"]).await, 1);
    // The reader's post in the feed and in `mixed`.
    assert_eq!(items_with_key(&app, &["FEED#", "TAG#"]).await, 2);
    let deletions = || async {
        app.outbox()
            .await
            .iter()
            .filter(|e| e.kind == "post.deleted")
            .count()
    };
    assert_eq!(deletions().await, 25);
    // …and a redelivery changes nothing.
    let again = crate::support::purge(&app, crate::support::unhurried()).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(deletions().await, 25);
}

/// Registers `email` from `ip`: the answer.
async fn register_from(
    app: &TestApp,
    email: &str,
    password: &str,
    ip: &str,
) -> ferrite_tests::TestResponse {
    app.call(
        auth_register::handle,
        Call::new("POST", "/v1/auth/register")
            .json(&json!({"email": email, "name": "Someone", "password": password}))
            .from_ip(ip),
    )
    .await
}

#[tokio::test]
async fn registrations_are_limited_per_source_ip_in_every_mode() {
    for (mode, accepted) in [("conflict", 201), ("silent", 202)] {
        let app = TestApp::spawn_with(
            shared::clock::Clock::System,
            &[
                ("REGISTRATION_MODE", mode),
                ("REGISTRATIONS_PER_IP_PER_HOUR", "3"),
            ],
        )
        .await;
        app.with_parameters(&[("RegistrationMode", mode)]).await;
        for n in 0..3 {
            let answer =
                register_from(&app, &format!("n{n}@example.com"), PASSWORD, "198.51.100.1").await;
            assert_eq!(answer.status, accepted, "{mode}: {}", answer.body);
        }
        // The fourth from that address is refused before any work; another address is not.
        let refused = register_from(&app, "n3@example.com", PASSWORD, "198.51.100.1").await;
        assert_eq!(refused.status, 429, "{mode}");
        let wait: u64 = refused
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=3600).contains(&wait));
        assert!(app.last_event("user.registered").await.is_some());
        let elsewhere = register_from(&app, "n3@example.com", PASSWORD, "198.51.100.2").await;
        assert_eq!(elsewhere.status, accepted, "{mode}");
    }
}

#[tokio::test]
async fn in_silent_mode_a_taken_address_answers_exactly_like_a_new_one() {
    let (app, log) = TestApp::spawn_counting_with(&[("REGISTRATION_MODE", "silent")]).await;
    app.with_parameters(&[("RegistrationMode", "silent")]).await;

    // The owner registers (and will confirm); a stranger then tries the same address.
    log.take();
    let new = register_from(&app, "owner@example.com", PASSWORD, "198.51.100.7").await;
    let new_calls = log.take();
    let owner_link = app.link_token("user.registered").await;
    log.take();
    let taken = register_from(
        &app,
        "Owner@Example.com",
        "another long passphrase here",
        "203.0.113.9",
    )
    .await;
    let taken_calls = log.take();
    assert_eq!((new.status, taken.status), (202, 202));
    assert_eq!(new.body, taken.body, "the same answer");
    assert_eq!(new_calls, taken_calls, "the same DynamoDB calls");
    assert_eq!(new_calls, ["UpdateItem", "GetItem", "TransactWriteItems"]);

    // The owner is told, with a confirmation link; the stranger's words are not in it.
    let notice = app
        .last_event("user.registration_attempted")
        .await
        .expect("a notice to the owner");
    let mail = notice.email.expect("an email");
    assert_eq!(
        (mail.template.as_str(), mail.to.as_str()),
        ("account-exists", "owner@example.com")
    );
    assert!(mail.vars.is_empty());

    // Signing in cannot tell the two apart either: an unconfirmed account answers like a
    // wrong password, even with its own password.
    let login = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.call(
                auth_login::handle,
                Call::new("POST", "/v1/auth/login")
                    .json(&json!({"email": email, "password": password}))
                    .from_ip("198.51.100.50"),
            )
            .await
        }
    };
    let unconfirmed = login("owner@example.com", PASSWORD).await;
    let stranger = login("owner@example.com", "another long passphrase here").await;
    assert_eq!((unconfirmed.status, stranger.status), (401, 401));
    assert_eq!(unconfirmed.body["detail"], stranger.body["detail"]);
    assert_eq!(unconfirmed.code(), stranger.code());

    // Once the owner confirms the address, their password signs in.
    let verified = app
        .call(
            auth_email_verify::handle,
            Call::new("POST", "/v1/auth/email/verify").json(&json!({"token": owner_link})),
        )
        .await;
    assert_eq!(verified.status, 204);
    assert_eq!(login("owner@example.com", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn feeds_written_before_the_month_index_are_whole_again_after_the_backfill() {
    let app = TestApp::spawn().await;
    let (access, _) = user(&app, "early@example.com", None).await;
    publish(&days_ago(&app, 400), &access, "old", &["legacy"]).await;
    publish(&app, &access, "new", &["legacy"]).await;
    // A table from before the index: no month markers.
    for (pk, sk) in table_snapshot(&app).await.iter().filter_map(|item| {
        let item: serde_json::Value = serde_json::from_str(item).ok()?;
        let pk = item["pk"].as_str()?.to_owned();
        pk.starts_with("FEEDMONTHS#")
            .then(|| (pk, item["sk"].as_str().unwrap_or_default().to_owned()))
    }) {
        app.client()
            .delete_item()
            .table_name(&app.table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
            .send()
            .await
            .expect("delete");
    }
    let titles = |page: ferrite_tests::TestResponse| -> Vec<String> {
        page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["title"].as_str().expect("title").to_owned())
            .collect()
    };
    assert_eq!(
        titles(feed_page(&app, Some("legacy"), 10, None).await),
        ["new"]
    );

    let months = shared::posts::backfill_feed_months(&app.state.store)
        .await
        .expect("backfill");
    assert_eq!(months, 4, "two months of the feed and of the tag");
    assert_eq!(
        titles(feed_page(&app, Some("legacy"), 10, None).await),
        ["new", "old"]
    );
    assert_eq!(
        titles(feed_page(&app, None, 10, None).await),
        ["new", "old"]
    );
    // Idempotent.
    assert_eq!(
        shared::posts::backfill_feed_months(&app.state.store)
            .await
            .expect("again"),
        4
    );
}
