//! Account deletion and registration limits: refused deletions change nothing, silent mode tells nothing.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::{items_with_key, publish, register_from, table_snapshot};

#[tokio::test]
async fn a_refused_account_deletion_changes_nothing() {
    let app = TestApp::spawn().await;
    let (admin, admin_id) = app.admin("last-admin@example.com").await;
    for n in 0..3 {
        publish(&app, &admin, &format!("kept {n}"), &["kept"]).await;
    }
    let before = table_snapshot(&app).await;

    // The last admin deletes their own account, then as an admin deletes themself by id.
    let own = app.leave(&admin).await;
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
    let feed = app.feed(Some("kept"), 10, None).await;
    assert_eq!(feed.body["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn an_account_with_many_posts_is_deleted_in_one_step_and_its_posts_purged_in_the_background()
{
    let (app, log) = TestApp::spawn_counting().await;
    let (quiet, _) = app.user("quiet@example.com", None).await;
    let (prolific, prolific_id) = app.user("prolific@example.com", None).await;
    let (reader, _) = app.user("reader@example.com", None).await;
    publish(&app, &reader, "stays", &["mixed"]).await;
    for n in 0..25 {
        let tags: &[&str] = if n % 2 == 0 { &["mixed", "even"] } else { &[] };
        publish(&app, &prolific, &format!("post {n}"), tags).await;
    }
    let one_post = app.feed(None, 1, None).await.body["items"][0]["id"]
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
    let everything = app.feed(None, 100, None).await;
    let titles: Vec<&str> = everything.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["stays"]);
    assert_eq!(
        app.feed(Some("even"), 100, None).await.body["items"],
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
    let late = ferrite_tests::purge(&app, std::time::SystemTime::now()).await;
    assert_eq!(late.batch_item_failures.len(), 1);
    assert_eq!(items_with_key(&app, &["POST#"]).await, 26);

    // The next delivery purges every post with its feed and tag entries and events…
    let purged = ferrite_tests::purge(&app, ferrite_tests::unhurried()).await;
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
    let again = ferrite_tests::purge(&app, ferrite_tests::unhurried()).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(deletions().await, 25);
}

#[tokio::test]
async fn registrations_are_limited_per_source_ip_in_every_mode() {
    for (mode, accepted) in [("conflict", 201), ("silent", 202)] {
        let app = TestApp::spawn_with(
            ferrite_tests::standing_clock(),
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
        (mail.template.as_str(), mail.address().expect("an address")),
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
