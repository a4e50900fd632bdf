//! The feed under load and after an author leaves.

use std::collections::HashSet;

use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::{create, ids};

#[tokio::test]
async fn the_feed_pages_through_250_posts_without_loss_or_duplicates_while_new_ones_arrive() {
    // One author writes them all: past the default hourly quota of posts.
    let app = TestApp::spawn_with(
        shared::clock::Clock::System,
        &[("POSTS_PER_USER_PER_HOUR", "1000")],
    )
    .await;
    let (author, _) = app.user("author@example.com", None).await;
    let mut created = Vec::new();
    for i in 0..250 {
        let response = create(
            &app,
            &author,
            &json!({"title": format!("post {i}"), "body": "b", "status": "published"}),
        )
        .await;
        assert_eq!(response.status, 201, "post {i}: {}", response.body);
        created.push(response.body["id"].as_str().expect("id").to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = app.feed(None, 40, cursor.as_deref()).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        seen.extend(ids(&page));
        pages += 1;
        // New posts arrive between pages: they go to the top, not into the pages still to come.
        create(
            &app,
            &author,
            &json!({"title": format!("late {pages}"), "body": "b", "status": "published"}),
        )
        .await;
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20);
    }
    assert_eq!(
        seen.len(),
        250,
        "exactly the posts that existed when paging began"
    );
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        250,
        "no duplicates"
    );
    created.reverse();
    assert_eq!(seen, created, "newest first");
    let tampered = app.feed(None, 40, Some("eyJtIjoiMjAyNi0xMyJ9")).await;
    assert_eq!((tampered.status, tampered.code()), (400, "INVALID_CURSOR"));
}

#[tokio::test]
async fn deleting_an_account_removes_its_posts_from_every_feed() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("leaving@example.com", None).await;
    create(
        &app,
        &author,
        &json!({"title": "t", "body": "b", "status": "published", "tags": ["x"]}),
    )
    .await;
    create(&app, &author, &json!({"title": "d", "body": "b"})).await;
    assert_eq!(ids(&app.feed(None, 10, None).await).len(), 1);
    let deleted = app.leave(&author).await;
    assert_eq!(deleted.status, 204);
    // Hidden at once, before the purge has run…
    let post_deletions = || async {
        app.outbox()
            .await
            .iter()
            .filter(|e| e.kind == "post.deleted")
            .count()
    };
    assert_eq!(post_deletions().await, 0);
    assert!(ids(&app.feed(None, 10, None).await).is_empty());
    assert!(ids(&app.feed(Some("x"), 10, None).await).is_empty());
    // …and gone once the purge worker has handled the deletion event.
    let purged = ferrite_tests::purge(&app, ferrite_tests::unhurried()).await;
    assert!(purged.batch_item_failures.is_empty());
    assert_eq!(post_deletions().await, 2);
    assert!(ids(&app.feed(None, 10, None).await).is_empty());
}

#[tokio::test]
async fn every_post_and_feed_item_carries_its_authors_current_name_so_a_rename_shows_at_once() {
    let app = TestApp::spawn().await;
    let (author, author_id) = app.user("named@example.com", None).await;
    let (reader, _) = app.user("reader@example.com", None).await;
    let created = create(
        &app,
        &author,
        &json!({"title": "signed", "body": "b", "tags": ["names"], "status": "published"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["author"],
        json!({"id": author_id, "name": "Poster"})
    );
    let id = created.body["id"].as_str().expect("id").to_owned();

    let rename = app
        .call(
            users_me_patch::handle,
            Call::new("PATCH", "/v1/users/me")
                .bearer(&author)
                .header("if-match", "\"1\"")
                .json(&json!({"name": "Renamed Author"})),
        )
        .await;
    assert_eq!(rename.status, 200, "{}", rename.body);
    let renamed = json!({"id": author_id, "name": "Renamed Author"});

    // Anonymous and signed-in readers, every listing: the name as it is now.
    let post = super::get(&app, None, &id).await;
    assert_eq!(post.body["author"], renamed);
    for page in [
        app.feed(None, 20, None).await,
        app.feed(Some("names"), 20, None).await,
        app.call(
            users_posts::handle,
            Call::new("GET", "/v1/users/{id}/posts")
                .param("id", &author_id)
                .bearer(&reader),
        )
        .await,
        app.call(
            users_me_posts::handle,
            Call::new("GET", "/v1/users/me/posts").bearer(&author),
        )
        .await,
    ] {
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().expect("items");
        assert!(!items.is_empty(), "{}", page.body);
        for item in items {
            assert_eq!(item["author"], renamed, "{item}");
        }
    }
    // A moderator's change answers with the author too (read: the moderator is not them).
    let (moderator, _) = app
        .user(
            "moderates-names@example.com",
            Some(shared::auth::Role::Moderator),
        )
        .await;
    let hidden = super::patch(&app, &moderator, &id, &json!({"status": "hidden"})).await;
    assert_eq!(hidden.status, 200, "{}", hidden.body);
    assert_eq!(hidden.body["author"], renamed);
}
