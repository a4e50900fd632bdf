//! Posts in-process against the local endpoint: visibility, feeds, concurrency, idempotency.

use std::collections::HashSet;

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::auth::Role;

use ferrite_tests::PASSWORD;

async fn create(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(
        posts_create::handle,
        Call::new("POST", "/v1/posts").bearer(token).json(body),
    )
    .await
}

async fn get(app: &TestApp, token: Option<&str>, id: &str) -> TestResponse {
    let mut call = Call::new("GET", "/v1/posts/{id}").param("id", id);
    if let Some(token) = token {
        call = call.bearer(token);
    }
    app.call(posts_get::handle, call).await
}

async fn patch(app: &TestApp, token: &str, id: &str, body: &Value) -> TestResponse {
    app.call(
        posts_patch::handle,
        Call::new("PATCH", "/v1/posts/{id}")
            .param("id", id)
            .bearer(token)
            .json(body),
    )
    .await
}

async fn feed(app: &TestApp, tag: Option<&str>, limit: u16, cursor: Option<&str>) -> TestResponse {
    let mut call = Call::new("GET", "/v1/posts").query("limit", &limit.to_string());
    if let Some(tag) = tag {
        call = call.query("tag", tag);
    }
    if let Some(cursor) = cursor {
        call = call.query("cursor", cursor);
    }
    app.call(posts_list::handle, call).await
}

fn ids(response: &TestResponse) -> Vec<String> {
    response.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_draft_stays_private_until_published_then_reaches_the_feeds() {
    let app = TestApp::spawn().await;
    let (author, author_id) = app.user("author@example.com", None).await;
    let created = create(
        &app,
        &author,
        &json!({"title": "  Hello  ", "body": "# Hi\nmarkdown", "tags": ["Rust", "aws", "rust"]}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/posts/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        (
            created.body["title"].as_str(),
            created.body["status"].as_str()
        ),
        (Some("Hello"), Some("draft"))
    );
    assert_eq!(created.body["tags"], json!(["aws", "rust"]));
    assert_eq!(created.body["publishedAt"], Value::Null);
    assert!(ids(&feed(&app, None, 10, None).await).is_empty());

    let published = patch(&app, &author, &id, &json!({"status": "published"})).await;
    assert_eq!(published.status, 200);
    assert!(published.body["publishedAt"].is_string());
    assert_eq!(ids(&feed(&app, None, 10, None).await), [id.as_str()]);
    assert_eq!(
        ids(&feed(&app, Some("rust"), 10, None).await),
        [id.as_str()]
    );
    assert!(ids(&feed(&app, Some("go"), 10, None).await).is_empty());
    let by_author = app
        .call(
            users_posts::handle,
            Call::new("GET", "/v1/users/{id}/posts").param("id", &author_id),
        )
        .await;
    assert_eq!(ids(&by_author), [id.as_str()]);

    // Retagging moves the tag entries in the same transaction.
    assert_eq!(
        patch(&app, &author, &id, &json!({"tags": ["go"]}))
            .await
            .status,
        200
    );
    assert!(ids(&feed(&app, Some("rust"), 10, None).await).is_empty());
    assert_eq!(ids(&feed(&app, Some("go"), 10, None).await), [id.as_str()]);
    assert_eq!(
        feed(&app, None, 10, None).await.body["items"][0]["tags"],
        json!(["go"])
    );

    // Back to draft: gone from every feed, still in the author's own list.
    assert_eq!(
        patch(&app, &author, &id, &json!({"status": "draft"}))
            .await
            .status,
        200
    );
    assert!(ids(&feed(&app, None, 10, None).await).is_empty());
    assert!(ids(&feed(&app, Some("go"), 10, None).await).is_empty());
    let mine = app
        .call(
            users_me_posts::handle,
            Call::new("GET", "/v1/users/me/posts")
                .query("status", "draft")
                .bearer(&author),
        )
        .await;
    assert_eq!(ids(&mine), [id.as_str()]);
    let kinds: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.entity.id == id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "post.created",
            "post.published",
            "post.updated",
            "post.unpublished"
        ]
    );
}

#[tokio::test]
async fn invalid_posts_are_rejected() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    for (body, status) in [
        (json!({"title": "", "body": "x"}), 422),
        (json!({"title": "x".repeat(201), "body": "x"}), 422),
        (json!({"title": "t", "body": "x".repeat(50_001)}), 422),
        (
            json!({"title": "t", "body": "x", "tags": ["a", "b", "c", "d", "e", "f"]}),
            422,
        ),
        (
            json!({"title": "t", "body": "x", "tags": ["not a slug"]}),
            422,
        ),
        (json!({"title": "t", "body": "x", "status": "hidden"}), 422),
        (
            json!({"title": "t", "body": "x", "authorId": "someone-else"}),
            400,
        ),
        (json!({"title": "t"}), 422),
    ] {
        let response = create(&app, &author, &body).await;
        assert_eq!(response.status, status, "{body}: {:?}", response.body);
    }
    let anonymous = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts").json(&json!({"title": "t", "body": "b"})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn visibility_follows_the_matrix_of_roles_and_statuses() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let draft = create(&app, &author, &json!({"title": "draft", "body": "b"}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let published = create(
        &app,
        &author,
        &json!({"title": "pub", "body": "b", "status": "published"}),
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let hidden = create(
        &app,
        &author,
        &json!({"title": "hid", "body": "b", "status": "published"}),
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        patch(&app, &moderator, &hidden, &json!({"status": "hidden"}))
            .await
            .status,
        200
    );

    let viewers: [(&str, Option<&str>); 5] = [
        ("anonymous", None),
        ("author", Some(&author)),
        ("other", Some(&other)),
        ("moderator", Some(&moderator)),
        ("admin", Some(&admin)),
    ];
    let expected = [
        // (post, [anonymous, author, other, moderator, admin])
        (&draft, [404, 200, 404, 200, 200]),
        (&published, [200, 200, 200, 200, 200]),
        (&hidden, [404, 200, 404, 200, 200]),
    ];
    for (post, statuses) in expected {
        for ((who, token), status) in viewers.iter().zip(statuses) {
            assert_eq!(
                get(&app, *token, post).await.status,
                status,
                "{who} reading {post}"
            );
        }
    }
    assert_eq!(get(&app, None, "not-an-id").await.status, 404);
    assert_eq!(
        get(&app, Some("garbage"), &published).await.status,
        401,
        "a bad token is not anonymity"
    );
}

#[tokio::test]
async fn moderators_hide_and_unhide_but_cannot_edit_and_authors_cannot_unhide() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let id = create(
        &app,
        &author,
        &json!({"title": "t", "body": "b", "status": "published", "tags": ["x"]}),
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();

    assert_eq!(
        patch(&app, &other, &id, &json!({"title": "vandal"}))
            .await
            .status,
        403
    );
    assert_eq!(
        patch(&app, &other, &id, &json!({"status": "hidden"}))
            .await
            .status,
        403
    );
    assert_eq!(
        patch(&app, &moderator, &id, &json!({"title": "edited by a mod"}))
            .await
            .status,
        403
    );
    assert_eq!(
        patch(&app, &moderator, &id, &json!({"status": "hidden"}))
            .await
            .status,
        200
    );
    assert!(ids(&feed(&app, None, 10, None).await).is_empty());
    assert!(ids(&feed(&app, Some("x"), 10, None).await).is_empty());
    assert_eq!(
        patch(&app, &author, &id, &json!({"status": "published"}))
            .await
            .status,
        403,
        "only moderation unhides"
    );
    assert_eq!(
        patch(&app, &moderator, &id, &json!({"status": "published"}))
            .await
            .status,
        200
    );
    assert_eq!(ids(&feed(&app, None, 10, None).await), [id.as_str()]);
    let kinds: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.entity.id == id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["post.published", "post.hidden", "post.unhidden"]);
}

#[tokio::test]
async fn concurrent_edits_of_one_version_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    let id = create(&app, &author, &json!({"title": "v1", "body": "b"}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let writers = (0..6)
        .map(|writer| {
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &id)
                .bearer(&author)
                .header("if-match", "\"1\"")
                .json(&json!({"title": format!("writer {writer}")}))
        })
        .collect();
    let statuses = app.statuses_at_once(posts_patch::handle, writers).await;
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412]);
    let post = get(&app, Some(&author), &id).await;
    assert_eq!(post.body["version"], 2);
    assert!(
        post.body["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("writer "))
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_original_and_refuses_another_body() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    let call = |body: Value| {
        Call::new("POST", "/v1/posts")
            .bearer(&author)
            .header("idempotency-key", "key-123")
            .json(&body)
    };
    let first = app
        .call(
            posts_create::handle,
            call(json!({"title": "once", "body": "b"})),
        )
        .await;
    let again = app
        .call(
            posts_create::handle,
            call(json!({"title": "once", "body": "b"})),
        )
        .await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.body, again.body);
    let other = app
        .call(
            posts_create::handle,
            call(json!({"title": "different", "body": "b"})),
        )
        .await;
    assert_eq!(
        (other.status, other.body["errors"][0]["field"].as_str()),
        (422, Some("Idempotency-Key"))
    );
    let mine = app
        .call(
            users_me_posts::handle,
            Call::new("GET", "/v1/users/me/posts").bearer(&author),
        )
        .await;
    assert_eq!(ids(&mine).len(), 1, "nothing was created twice");
}

#[tokio::test]
async fn if_none_match_answers_304_and_deleting_removes_every_entry() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let id = create(
        &app,
        &author,
        &json!({"title": "t", "body": "b", "status": "published", "tags": ["x"]}),
    )
    .await
    .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cached = app
        .call(
            posts_get::handle,
            Call::new("GET", "/v1/posts/{id}")
                .param("id", &id)
                .header("if-none-match", "\"1\""),
        )
        .await;
    assert_eq!(cached.status, 304);
    let stale = app
        .call(
            posts_get::handle,
            Call::new("GET", "/v1/posts/{id}")
                .param("id", &id)
                .header("if-none-match", "\"0\""),
        )
        .await;
    assert_eq!(stale.status, 200);

    let delete = |token: &str| {
        app.call(
            posts_delete::handle,
            Call::new("DELETE", "/v1/posts/{id}")
                .param("id", &id)
                .bearer(token),
        )
    };
    assert_eq!(delete(&other).await.status, 403);
    assert_eq!(delete(&author).await.status, 204);
    assert_eq!(delete(&author).await.status, 404);
    assert!(ids(&feed(&app, None, 10, None).await).is_empty());
    assert!(ids(&feed(&app, Some("x"), 10, None).await).is_empty());
    assert_eq!(
        app.last_event("post.deleted")
            .await
            .expect("event")
            .entity
            .id,
        id
    );
}

#[tokio::test]
async fn the_feed_pages_through_250_posts_without_loss_or_duplicates_while_new_ones_arrive() {
    let app = TestApp::spawn().await;
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
        let page = feed(&app, None, 40, cursor.as_deref()).await;
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
    let tampered = feed(&app, None, 40, Some("eyJtIjoiMjAyNi0xMyJ9")).await;
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
    assert_eq!(ids(&feed(&app, None, 10, None).await).len(), 1);
    let deleted = app
        .call(
            users_me_delete::handle,
            Call::new("DELETE", "/v1/users/me")
                .bearer(&author)
                .json(&json!({"password": PASSWORD})),
        )
        .await;
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
    assert!(ids(&feed(&app, None, 10, None).await).is_empty());
    assert!(ids(&feed(&app, Some("x"), 10, None).await).is_empty());
    // …and gone once the purge worker has handled the deletion event.
    let purged = ferrite_tests::purge(&app, ferrite_tests::unhurried()).await;
    assert!(purged.batch_item_failures.is_empty());
    assert_eq!(post_deletions().await, 2);
    assert!(ids(&feed(&app, None, 10, None).await).is_empty());
}
