//! Concurrent edits, idempotent creation, conditional reads and deletion.

use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};

use super::{create, get, ids};

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
    assert!(ids(&app.feed(None, 10, None).await).is_empty());
    assert!(ids(&app.feed(Some("x"), 10, None).await).is_empty());
    assert_eq!(
        app.last_event("post.deleted")
            .await
            .expect("event")
            .entity
            .id,
        id
    );
}
