//! Sessions you can see and end: the listing (device, network, current), ending one, signing
//! out everywhere else, the admin's equivalents, and the "new sign-in" email.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};

use super::{admin, me, refresh, tokens, user_id};

const FIREFOX_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_WINDOWS_UPDATED: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

async fn register_from(app: &TestApp, email: &str, agent: &str, ip: &str) -> TestResponse {
    let response = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": "Ada Lovelace", "password": PASSWORD}))
                .header("user-agent", agent)
                .from_ip(ip),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
    response
}

async fn login_from(app: &TestApp, email: &str, agent: &str, ip: &str) -> TestResponse {
    let response = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": email, "password": PASSWORD}))
                .header("user-agent", agent)
                .from_ip(ip),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    response
}

async fn my_sessions(app: &TestApp, token: &str) -> TestResponse {
    app.call(
        users_me_sessions::handle,
        Call::new("GET", "/v1/users/me/sessions").bearer(token),
    )
    .await
}

async fn end_mine(app: &TestApp, token: &str, session: &str) -> TestResponse {
    app.call(
        users_me_sessions_delete::handle,
        Call::new("DELETE", "/v1/users/me/sessions/{id}")
            .param("id", session)
            .bearer(token),
    )
    .await
}

fn items(listing: &TestResponse) -> Vec<Value> {
    assert_eq!(listing.status, 200, "{}", listing.body);
    listing.body["items"].as_array().expect("items").clone()
}

fn current_id(listing: &TestResponse) -> String {
    items(listing)
        .into_iter()
        .find(|s| s["current"] == true)
        .expect("the current session")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// The email the newest sign-in's event asks for, if any.
async fn sign_in_email(app: &TestApp) -> Option<String> {
    app.last_event("user.logged_in")
        .await
        .expect("a sign-in event")
        .email
        .map(|email| email.template)
}

#[tokio::test]
async fn my_sessions_show_their_device_and_network_newest_first_and_which_one_is_mine() {
    let app = TestApp::spawn().await;
    register_from(&app, "devices@example.com", FIREFOX_MAC, "203.0.113.7").await;
    let signed_in = login_from(&app, "devices@example.com", CHROME_WINDOWS, "198.51.100.20").await;
    let (access, refresh_token) = tokens(&signed_in);

    let listing = my_sessions(&app, &access).await;
    let sessions = items(&listing);
    assert_eq!(sessions.len(), 2, "{}", listing.body);
    let (newest, oldest) = (&sessions[0], &sessions[1]);
    assert_eq!(newest["current"], true);
    assert_eq!(oldest["current"], false);
    assert_eq!(
        newest["device"],
        json!({"browser": "Chrome", "os": "Windows 10", "kind": "pc"})
    );
    assert_eq!(newest["network"], "198.51.100.0/24");
    assert_eq!(newest["userAgent"], CHROME_WINDOWS);
    assert_eq!(newest["lastUsedAt"], newest["createdAt"]);
    assert_eq!(oldest["device"]["browser"], "Firefox");
    assert_eq!(oldest["device"]["os"], "Mac OSX");
    assert_eq!(oldest["network"], "203.0.113.0/24");
    assert!(newest["createdAt"].as_str() > oldest["createdAt"].as_str());
    // The addresses themselves are kept nowhere a listing can show.
    assert!(!listing.body.to_string().contains("198.51.100.20"));

    // A refresh from another network: the session was last used from there.
    let refreshed = app
        .call(
            auth_refresh::handle,
            Call::new("POST", "/v1/auth/refresh")
                .json(&json!({"refreshToken": refresh_token}))
                .from_ip("2001:db8:42:7::5"),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let (access, _) = tokens(&refreshed);
    let after = items(&my_sessions(&app, &access).await);
    assert_eq!(after[0]["network"], "2001:db8:42::/48");
    assert_eq!(after[0]["createdAt"], newest["createdAt"]);
    assert!(after[0]["lastUsedAt"].as_str() >= newest["lastUsedAt"].as_str());

    // Paginated like every listing.
    let first = app
        .call(
            users_me_sessions::handle,
            Call::new("GET", "/v1/users/me/sessions")
                .query("limit", "1")
                .bearer(&access),
        )
        .await;
    assert_eq!(items(&first).len(), 1);
    let cursor = first.body["nextCursor"].as_str().expect("a next page");
    let second = app
        .call(
            users_me_sessions::handle,
            Call::new("GET", "/v1/users/me/sessions")
                .query("limit", "1")
                .query("cursor", cursor)
                .bearer(&access),
        )
        .await;
    assert_eq!(items(&second)[0]["id"], sessions[1]["id"]);
    assert_eq!(second.body["nextCursor"], Value::Null);
}

#[tokio::test]
async fn ending_a_session_stops_its_refresh_token_and_its_access_tokens_at_once() {
    let app = TestApp::spawn().await;
    let registered = register_from(&app, "end@example.com", FIREFOX_MAC, "203.0.113.7").await;
    let (old_access, old_refresh) = tokens(&registered);
    let (access, _) =
        tokens(&login_from(&app, "end@example.com", CHROME_WINDOWS, "203.0.113.7").await);
    let old_session = items(&my_sessions(&app, &access).await)
        .into_iter()
        .find(|s| s["current"] == false)
        .expect("the other session")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    assert_eq!(end_mine(&app, &access, &old_session).await.status, 204);
    assert_eq!(me(&app, &old_access).await.status, 401);
    assert_eq!(refresh(&app, &old_refresh).await.status, 401);
    assert_eq!(
        me(&app, &access).await.status,
        200,
        "the caller's own goes on"
    );
    let again = end_mine(&app, &access, &old_session).await;
    assert_eq!((again.status, again.code()), (404, "NOT_FOUND"));
    let ended = app.last_event("session.revoked").await.expect("an event");
    assert_eq!(ended.entity.id, old_session);
    assert_eq!(ended.changes["reason"].after, "ended_by_user");
    assert_eq!(ended.actor.id, Some(user_id(&app, "end@example.com").await));

    // Another account's session is not mine to end: the same 404 as no session at all.
    let (stranger, _) =
        tokens(&register_from(&app, "stranger@example.com", FIREFOX_MAC, "203.0.113.9").await);
    let strangers = current_id(&my_sessions(&app, &stranger).await);
    assert_eq!(end_mine(&app, &access, &strangers).await.status, 404);
    assert_eq!(me(&app, &stranger).await.status, 200);
    assert_eq!(end_mine(&app, &access, "not-an-id").await.status, 404);

    // Ending the current one is signing out.
    let mine = current_id(&my_sessions(&app, &access).await);
    assert_eq!(end_mine(&app, &access, &mine).await.status, 204);
    assert_eq!(me(&app, &access).await.status, 401);
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_only_the_callers_session() {
    let app = TestApp::spawn().await;
    let (first_access, _) =
        tokens(&register_from(&app, "else@example.com", FIREFOX_MAC, "203.0.113.7").await);
    let (second_access, _) =
        tokens(&login_from(&app, "else@example.com", SAFARI_IPHONE, "198.51.100.3").await);
    let (access, refresh_token) =
        tokens(&login_from(&app, "else@example.com", CHROME_WINDOWS, "203.0.113.7").await);

    let ended = app
        .call(
            users_me_sessions_end_others::handle,
            Call::new("DELETE", "/v1/users/me/sessions").bearer(&access),
        )
        .await;
    assert_eq!((ended.status, &ended.body), (200, &json!({"ended": 2})));
    assert_eq!(me(&app, &first_access).await.status, 401);
    assert_eq!(me(&app, &second_access).await.status, 401);
    assert_eq!(me(&app, &access).await.status, 200);
    // The kept session lives on, refresh included.
    let refreshed = refresh(&app, &refresh_token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let left = items(&my_sessions(&app, &tokens(&refreshed).0).await);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    let revoked = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "session.revoked")
        .count();
    assert_eq!(revoked, 2, "one event (and audit entry) per session ended");
}

#[tokio::test]
async fn an_admin_sees_and_ends_a_users_sessions_and_each_end_is_recorded_as_theirs() {
    let app = TestApp::spawn().await;
    let (user_access, _) =
        tokens(&register_from(&app, "watched@example.com", FIREFOX_MAC, "203.0.113.7").await);
    let (later_access, _) =
        tokens(&login_from(&app, "watched@example.com", CHROME_WINDOWS, "198.51.100.3").await);
    let id = user_id(&app, "watched@example.com").await;
    let admin_token = admin(&app, "boss@example.com").await;
    let admin_id = user_id(&app, "boss@example.com").await;
    let list = |token: String, id: String| {
        let app = &app;
        async move {
            app.call(
                users_sessions::handle,
                Call::new("GET", "/v1/users/{id}/sessions")
                    .param("id", &id)
                    .bearer(&token),
            )
            .await
        }
    };
    let listing = list(admin_token.clone(), id.clone()).await;
    let sessions = items(&listing);
    // Registration, `user_id`'s sign-in, and the two above.
    assert_eq!(sessions.len(), 3, "{}", listing.body);
    assert!(sessions.iter().all(|s| s["current"] == false));
    assert_eq!(list(user_access.clone(), id.clone()).await.status, 403);

    let target = sessions
        .iter()
        .find(|s| s["device"]["browser"] == "Chrome")
        .expect("the Chrome session")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let end_one = app
        .call(
            users_sessions_delete::handle,
            Call::new("DELETE", "/v1/users/{id}/sessions/{sessionId}")
                .param("id", &id)
                .param("sessionId", &target)
                .bearer(&admin_token),
        )
        .await;
    assert_eq!(end_one.status, 204, "{}", end_one.body);
    assert_eq!(me(&app, &later_access).await.status, 401);
    let event = app.last_event("session.revoked").await.expect("an event");
    assert_eq!(event.actor.id, Some(admin_id), "the admin ended it");
    assert_eq!(event.changes["reason"].after, "ended_by_admin");

    let end_all = |id: String| {
        let (app, token) = (&app, admin_token.clone());
        async move {
            app.call(
                users_sessions_end_all::handle,
                Call::new("DELETE", "/v1/users/{id}/sessions")
                    .param("id", &id)
                    .bearer(&token),
            )
            .await
        }
    };
    let all = end_all(id.clone()).await;
    assert_eq!((all.status, &all.body), (200, &json!({"ended": 2})));
    assert_eq!(me(&app, &user_access).await.status, 401);
    assert_eq!(me(&app, &admin_token).await.status, 200);

    // No such user: 404 on every admin route.
    let nobody = "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned();
    assert_eq!(list(admin_token.clone(), nobody.clone()).await.status, 404);
    assert_eq!(end_all(nobody.clone()).await.status, 404);
}

#[tokio::test]
async fn a_sign_in_from_a_device_the_account_has_not_seen_emails_its_confirmed_address() {
    let app = TestApp::spawn().await;
    register_from(&app, "known@example.com", FIREFOX_MAC, "203.0.113.7").await;
    app.confirm_address().await;

    // The device it registered from is known.
    login_from(&app, "known@example.com", FIREFOX_MAC, "203.0.113.80").await;
    assert_eq!(sign_in_email(&app).await, None);
    // Another browser: news, with what the email says.
    login_from(&app, "known@example.com", CHROME_WINDOWS, "203.0.113.7").await;
    let event = app.last_event("user.logged_in").await.expect("event");
    assert_eq!(event.changes["newDevice"].after, true);
    let email = event.email.expect("a new-sign-in email");
    assert_eq!(email.template, shared::accounts::NEW_SIGN_IN_TEMPLATE);
    assert_eq!(email.vars["device"], CHROME_WINDOWS);
    assert_eq!(email.vars["network"], "203.0.113.0/24");
    // Seen now; a browser update does not make it new again.
    login_from(&app, "known@example.com", CHROME_WINDOWS, "203.0.113.7").await;
    assert_eq!(sign_in_email(&app).await, None);
    login_from(
        &app,
        "known@example.com",
        CHROME_WINDOWS_UPDATED,
        "203.0.113.7",
    )
    .await;
    assert_eq!(sign_in_email(&app).await, None);
    // The same browser on another network is.
    login_from(&app, "known@example.com", CHROME_WINDOWS, "2001:db8:9::1").await;
    assert_eq!(
        sign_in_email(&app).await.as_deref(),
        Some(shared::accounts::NEW_SIGN_IN_TEMPLATE)
    );
}

#[tokio::test]
async fn an_unconfirmed_address_never_gets_a_new_sign_in_email() {
    let app = TestApp::spawn().await;
    register_from(&app, "unconfirmed@example.com", FIREFOX_MAC, "203.0.113.7").await;
    login_from(
        &app,
        "unconfirmed@example.com",
        SAFARI_IPHONE,
        "198.51.100.3",
    )
    .await;
    let event = app.last_event("user.logged_in").await.expect("event");
    assert_eq!(
        event.changes["newDevice"].after, true,
        "recorded all the same"
    );
    assert!(event.email.is_none());
}
