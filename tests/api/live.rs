//! Live notifications in-process against the local endpoint: real WebSocket clients through the
//! local WebSocket gateway (the template's WebSocket API, as `make dev` serves it) to the
//! `$connect` and `$disconnect` functions, run as their roles; pushes by the notifications
//! worker through `@connections`, signed as its role and held to its policy.

use ferrite_tests::live::{Live, next_message, nothing_pushed};
use ferrite_tests::workers::{notification_records, notify_pushing};
use ferrite_tests::{Call, TestApp};
use futures_util::SinkExt as _;
use serde_json::{Value, json};
use shared::auth::Role;
use shared::auth::jwt;
use shared::clock::Clock;
use shared::ids::UserId;
use shared::live::{self, ConnectionId, MAX_CONNECTIONS, Opened};
use tokio_tungstenite::tungstenite::Message;

fn now() -> i64 {
    Clock::System.unix_seconds()
}

/// A published post of `author`'s, hidden by `moderator`: a `post.hidden` notification for
/// its author in the outbox. Its id.
async fn hidden_post(app: &TestApp, author: &str, moderator: &str) -> String {
    let post = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(author)
                .json(&json!({"title": "Mine", "body": "text", "status": "published"})),
        )
        .await;
    assert_eq!(post.status, 201, "{}", post.body);
    let id = post.body["id"].as_str().expect("id").to_owned();
    let hidden = app
        .call(
            posts_patch::handle,
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &id)
                .bearer(moderator)
                .json(&json!({"status": "hidden"})),
        )
        .await;
    assert_eq!(hidden.status, 200, "{}", hidden.body);
    id
}

fn user_id(id: &str) -> UserId {
    UserId::parse(id).expect("a user id")
}

#[tokio::test]
async fn a_connection_is_refused_unless_it_offers_a_valid_access_token_beside_ferrite_v1() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (token, id) = app.user("live@example.com", None).await;
    let keys = ferrite_tests::test_keys();
    let key = keys.signing_key().expect("key");
    let settings = app.state.auth.tokens.clone();
    let sid = {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).expect("payload");
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("b64"),
        )
        .expect("claims");
        claims["sid"].as_str().expect("sid").to_owned()
    };
    let expired = jwt::mint(&key, &settings, &id, &[Role::User], &sid, now() - 3600).expect("mint");
    let stranger = shared::auth::keys::KeySet::generate()
        .expect("keys")
        .signing_key()
        .expect("key");
    let forged = jwt::mint(&stranger, &settings, &id, &[Role::Admin], &sid, now()).expect("mint");

    for (case, offered) in [
        ("no subprotocol at all", None),
        (
            "the token without ferrite.v1",
            Some(format!("bearer.{token}")),
        ),
        ("ferrite.v1 without a token", Some("ferrite.v1".to_owned())),
        (
            "an expired token",
            Some(format!("ferrite.v1, bearer.{expired}")),
        ),
        (
            "a token signed by another key",
            Some(format!("ferrite.v1, bearer.{forged}")),
        ),
        ("not a token", Some("ferrite.v1, bearer.abc".to_owned())),
    ] {
        let refused = live.open(offered.as_deref()).await;
        assert_eq!(refused.err(), Some(401), "{case}");
    }
    // Nothing was recorded for any of them.
    assert!(
        live::connections(&app.state.store, user_id(&id))
            .await
            .expect("connections")
            .is_empty()
    );

    // The token as a client sends it: accepted, the subprotocol chosen, the connection recorded.
    let (_socket, chosen) = live
        .open(Some(&format!("ferrite.v1, bearer.{token}")))
        .await
        .expect("accepted");
    assert_eq!(chosen.as_deref(), Some("ferrite.v1"));
    let open = live::connections(&app.state.store, user_id(&id))
        .await
        .expect("connections");
    assert_eq!(open.len(), 1);
    assert!(!open[0].expired);

    // A token whose account has ended (its sessions with it) no longer opens one.
    let left = app.leave(&token).await;
    assert_eq!(left.status, 204, "{}", left.body);
    assert_eq!(
        live.open(Some(&format!("ferrite.v1, bearer.{token}")))
            .await
            .err(),
        Some(401),
        "a revoked session"
    );
}

#[tokio::test]
async fn a_new_notification_is_pushed_to_every_open_connection_of_its_account_and_no_other() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (author, author_id) = app.user("author@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let mut phone = live.connect(&author).await;
    let mut laptop = live.connect(&author).await;
    let mut stranger = live.connect(&other).await;
    let mut watcher = live.connect(&moderator).await;

    let post = hidden_post(&app, &author, &moderator).await;
    let outcome = notify_pushing(&app, &notification_records(&app).await, &live.settings()).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");

    let inbox = ferrite_tests::workers::inbox(&app, &author, &[]).await;
    let listed = &inbox.body["items"][0];
    for socket in [&mut phone, &mut laptop] {
        let pushed = next_message(socket).await.expect("a push");
        assert_eq!(pushed["type"], "notification", "{pushed}");
        // The notification as the inbox lists it.
        assert_eq!(&pushed["notification"], listed, "{pushed}");
        assert_eq!(pushed["notification"]["type"], "post.hidden");
        assert_eq!(pushed["notification"]["data"]["postId"], post.as_str());
        assert_eq!(pushed["notification"]["read"], false);
    }
    // Neither another account nor the moderator who acted got anything.
    assert!(nothing_pushed(&mut stranger).await);
    assert!(nothing_pushed(&mut watcher).await);
    let live_author = live::connections(&app.state.store, user_id(&author_id))
        .await
        .expect("connections");
    assert_eq!(live_author.len(), 2);
}

#[tokio::test]
async fn a_connection_that_is_gone_is_forgotten_when_a_push_to_it_answers_410() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (author, author_id) = app.user("author@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let mut open = live.connect(&author).await;
    // A connection that closed without a `$disconnect` (API Gateway sends it best-effort): its
    // items are there, the gateway knows no such connection.
    let vanished = ConnectionId::parse("Zm9yZ290dGVuIQ=").expect("id");
    let opened = live::open(
        &app.state.store,
        user_id(&author_id),
        &vanished,
        now() + 600,
    )
    .await
    .expect("recorded");
    assert!(matches!(opened, Opened::Open(_)));

    hidden_post(&app, &author, &moderator).await;
    let outcome = notify_pushing(&app, &notification_records(&app).await, &live.settings()).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");

    assert!(
        next_message(&mut open).await.is_some(),
        "the open one got it"
    );
    let left = live::connections(&app.state.store, user_id(&author_id))
        .await
        .expect("connections");
    assert_eq!(left.len(), 1, "the gone one is forgotten: {left:?}");
    assert_ne!(left[0].id, vanished);
    // Its connection item is gone too: `$disconnect` for it now finds nothing.
    assert!(
        !live::close(&app.state.store, &vanished)
            .await
            .expect("close")
    );
}

#[tokio::test]
async fn a_connection_whose_token_has_expired_is_closed_instead_of_pushed_to() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (author, author_id) = app.user("author@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let mut socket = live.connect(&author).await;
    hidden_post(&app, &author, &moderator).await;

    // The worker runs after the token's 15 minutes.
    let later = TestApp::at(
        &app,
        Clock::Fixed(std::time::SystemTime::now() + std::time::Duration::from_secs(16 * 60)),
    );
    let outcome = notify_pushing(&later, &notification_records(&app).await, &live.settings()).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");

    // Closed (`DELETE @connections`), nothing sent on it; its slot free; `$disconnect` ran.
    assert_eq!(next_message(&mut socket).await, None);
    live.disconnects_handled(1).await;
    assert!(
        live::connections(&app.state.store, user_id(&author_id))
            .await
            .expect("connections")
            .is_empty()
    );
    // The notification is in the inbox all the same.
    let inbox = ferrite_tests::workers::inbox(&app, &author, &[]).await;
    assert_eq!(inbox.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn an_account_holds_at_most_five_connections_even_when_they_open_at_once() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (token, id) = app.user("many@example.com", None).await;
    let offered = format!("ferrite.v1, bearer.{token}");
    let attempts = usize::from(MAX_CONNECTIONS) + 3;
    let results =
        futures_util::future::join_all((0..attempts).map(|_| live.open(Some(&offered)))).await;
    let (mut accepted, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(accepted.len(), usize::from(MAX_CONNECTIONS));
    assert!(
        refused.iter().all(|r| r.as_ref().err() == Some(&429)),
        "{refused:?}"
    );
    assert_eq!(
        live::connections(&app.state.store, user_id(&id))
            .await
            .expect("connections")
            .len(),
        usize::from(MAX_CONNECTIONS)
    );

    // One closes: `$disconnect` frees its slot, and the next connection is accepted.
    let (mut closing, _) = accepted.pop().expect("one").expect("accepted");
    closing.close(None).await.expect("close");
    live.disconnects_handled(1).await;
    assert_eq!(
        live::connections(&app.state.store, user_id(&id))
            .await
            .expect("connections")
            .len(),
        usize::from(MAX_CONNECTIONS) - 1
    );
    let (_again, chosen) = live.open(Some(&offered)).await.expect("accepted again");
    assert_eq!(chosen.as_deref(), Some("ferrite.v1"));
}

#[tokio::test]
async fn the_socket_takes_no_messages_api_gateway_answers_each_with_its_error_frame() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (token, _) = app.user("chatty@example.com", None).await;
    let mut socket = live.connect(&token).await;
    for message in ["{\"action\": \"sendmessage\"}", "not json", "{}"] {
        socket.send(Message::text(message)).await.expect("send");
        let answer = next_message(&mut socket).await.expect("an answer");
        assert_eq!(answer["message"], "Forbidden", "{answer}");
        assert!(answer["connectionId"].is_string());
    }
}

#[tokio::test]
async fn connections_are_managed_only_by_signed_callers_whose_role_allows_it() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (token, id) = app.user("managed@example.com", None).await;
    let _socket = live.connect(&token).await;
    let connection = live::connections(&app.state.store, user_id(&id))
        .await
        .expect("connections")
        .remove(0);
    let callback = live::callback_url(&live.endpoint, "v1").expect("callback");

    // Unsigned: API Gateway's 403.
    let unsigned = ferrite_tests::http()
        .post(format!(
            "{}/@connections/{}",
            callback.replace("ws://", "http://"),
            connection.id
        ))
        .body("hello")
        .send()
        .await
        .expect("answer");
    assert_eq!(unsigned.status(), 403);

    // Signed with the worker's key but not its secret: the signature does not match.
    let worker_key = app
        .principals()
        .into_iter()
        .find(|p| p.user == "WorkerNotificationsFunction")
        .expect("the worker's role")
        .access_key_id;
    let impostor = app
        .state_of("WorkerNotificationsFunction")
        .sdk_config()
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    worker_key,
                    "not-the-secret",
                    None,
                    None,
                    "impostor",
                ),
            ),
        )
        .build();
    let error = live::Pusher::new(&impostor, &callback)
        .send(&connection.id, b"hello".to_vec())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("signature"), "{error}");

    // Signed as a function whose policy does not allow execute-api:ManageConnections.
    let denied = live::Pusher::new(app.state_of("LiveConnectFunction").sdk_config(), &callback);
    let error = denied
        .send(&connection.id, b"hello".to_vec())
        .await
        .expect_err("denied");
    assert!(
        error.to_string().contains("not authorized") || error.to_string().contains("Forbidden"),
        "{error}"
    );

    // Signed as the notifications worker: sent; a connection the gateway does not know is 410.
    let worker = live::Pusher::new(
        app.state_of("WorkerNotificationsFunction").sdk_config(),
        &callback,
    );
    assert_eq!(
        worker
            .send(&connection.id, b"{}".to_vec())
            .await
            .expect("sent"),
        live::Delivery::Sent
    );
    let unknown = ConnectionId::parse("bm90LWEtY29ubg=").expect("id");
    assert_eq!(
        worker
            .send(&unknown, b"{}".to_vec())
            .await
            .expect("answered"),
        live::Delivery::Gone
    );
}

#[tokio::test]
async fn ending_an_account_forgets_the_records_of_its_connections() {
    let app = TestApp::spawn().await;
    let live = Live::start(&app).await;
    let (token, id) = app.user("leaving@example.com", None).await;
    let _phone = live.connect(&token).await;
    let _laptop = live.connect(&token).await;
    assert_eq!(
        live::connections(&app.state.store, user_id(&id))
            .await
            .expect("connections")
            .len(),
        2
    );
    let left = app.leave(&token).await;
    assert_eq!(left.status, 204, "{}", left.body);
    let outcome = ferrite_tests::purge(
        &app,
        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
    )
    .await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");
    assert!(
        live::connections(&app.state.store, user_id(&id))
            .await
            .expect("connections")
            .is_empty()
    );
}
