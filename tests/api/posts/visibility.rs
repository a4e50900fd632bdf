//! Who sees a post in each status, and what moderators and authors may change.

use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};
use shared::auth::Role;

use super::{create, get, ids, patch};

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
    assert!(ids(&app.feed(None, 10, None).await).is_empty());

    let published = patch(&app, &author, &id, &json!({"status": "published"})).await;
    assert_eq!(published.status, 200);
    assert!(published.body["publishedAt"].is_string());
    assert_eq!(ids(&app.feed(None, 10, None).await), [id.as_str()]);
    assert_eq!(ids(&app.feed(Some("rust"), 10, None).await), [id.as_str()]);
    assert!(ids(&app.feed(Some("go"), 10, None).await).is_empty());
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
    assert!(ids(&app.feed(Some("rust"), 10, None).await).is_empty());
    assert_eq!(ids(&app.feed(Some("go"), 10, None).await), [id.as_str()]);
    assert_eq!(
        app.feed(None, 10, None).await.body["items"][0]["tags"],
        json!(["go"])
    );

    // Back to draft: gone from every still in the author's own list.
    assert_eq!(
        patch(&app, &author, &id, &json!({"status": "draft"}))
            .await
            .status,
        200
    );
    assert!(ids(&app.feed(None, 10, None).await).is_empty());
    assert!(ids(&app.feed(Some("go"), 10, None).await).is_empty());
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
    assert!(ids(&app.feed(None, 10, None).await).is_empty());
    assert!(ids(&app.feed(Some("x"), 10, None).await).is_empty());
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
    assert_eq!(ids(&app.feed(None, 10, None).await), [id.as_str()]);
    let kinds: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.entity.id == id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["post.published", "post.hidden", "post.unhidden"]);
}
