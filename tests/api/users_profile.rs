//! `GET /v1/users/{id}/profile`: anyone's public profile, whose published-post count follows
//! every post transaction (publish, unpublish, hide, unhide, delete, idempotent replay).

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::auth::Role;

async fn profile(app: &TestApp, id: &str) -> TestResponse {
    app.call(
        users_profile::handle,
        Call::new("GET", "/v1/users/{id}/profile").param("id", id),
    )
    .await
}

async fn published_posts(app: &TestApp, id: &str) -> u64 {
    let answer = profile(app, id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["publishedPosts"].as_u64().expect("a count")
}

async fn write(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> String {
    let mut call = Call::new("POST", "/v1/posts").bearer(token).json(body);
    if let Some(key) = key {
        call = call.header("idempotency-key", key);
    }
    let made = app.call(posts_create::handle, call).await;
    assert_eq!(made.status, 201, "{}", made.body);
    made.body["id"].as_str().expect("id").to_owned()
}

async fn patch(app: &TestApp, token: &str, id: &str, status: &str) {
    let answer = app
        .call(
            posts_patch::handle,
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", id)
                .bearer(token)
                .json(&json!({ "status": status })),
        )
        .await;
    assert_eq!(answer.status, 200, "{status}: {}", answer.body);
}

#[tokio::test]
async fn a_public_profile_shows_name_and_membership_but_no_address_to_anyone() {
    let app = TestApp::spawn().await;
    let (_, id) = app.user("profiled@example.com", None).await;
    let answer = profile(&app, &id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let keys: Vec<&str> = answer
        .body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "memberSince", "name", "publishedPosts"]);
    assert_eq!(answer.body["id"], id.as_str());
    assert_eq!(answer.body["name"], "Poster");
    assert_eq!(answer.body["publishedPosts"], 0);
    assert!(!answer.body.to_string().contains("profiled@"));

    // Cacheable, and revalidated with 304 while unchanged.
    assert_eq!(
        answer.header("cache-control"),
        Some(shared::http::ITEM_CACHE)
    );
    let etag = answer.header("etag").expect("an ETag").to_owned();
    let again = app
        .call(
            users_profile::handle,
            Call::new("GET", "/v1/users/{id}/profile")
                .param("id", &id)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, 304);

    let unknown = profile(&app, &shared::ids::UserId::generate().to_string()).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let malformed = profile(&app, "USER#x").await;
    assert_eq!(malformed.status, 404, "{}", malformed.body);
}

#[tokio::test]
async fn the_published_post_count_follows_every_change_of_a_post() {
    let app = TestApp::spawn().await;
    let (author, id) = app.user("counted@example.com", None).await;
    let (moderator, _) = app
        .user("counter-mod@example.com", Some(Role::Moderator))
        .await;

    let published = json!({"title": "P", "body": "b", "status": "published"});
    let first = write(&app, &author, &published, Some("once")).await;
    assert_eq!(published_posts(&app, &id).await, 1);
    // A replay of the same Idempotency-Key creates nothing, and counts nothing.
    assert_eq!(write(&app, &author, &published, Some("once")).await, first);
    assert_eq!(published_posts(&app, &id).await, 1);

    let draft = write(&app, &author, &json!({"title": "D", "body": "b"}), None).await;
    assert_eq!(
        published_posts(&app, &id).await,
        1,
        "a draft does not count"
    );
    patch(&app, &author, &draft, "published").await;
    assert_eq!(published_posts(&app, &id).await, 2);
    patch(&app, &author, &draft, "draft").await;
    assert_eq!(published_posts(&app, &id).await, 1);

    patch(&app, &moderator, &first, "hidden").await;
    assert_eq!(
        published_posts(&app, &id).await,
        0,
        "a hidden post does not count"
    );
    patch(&app, &moderator, &first, "published").await;
    assert_eq!(published_posts(&app, &id).await, 1);

    let deleted = app
        .call(
            posts_delete::handle,
            Call::new("DELETE", "/v1/posts/{id}")
                .param("id", &first)
                .bearer(&author),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(published_posts(&app, &id).await, 0);
    // Deleting the draft changes nothing.
    let deleted = app
        .call(
            posts_delete::handle,
            Call::new("DELETE", "/v1/posts/{id}")
                .param("id", &draft)
                .bearer(&author),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(published_posts(&app, &id).await, 0);
}
