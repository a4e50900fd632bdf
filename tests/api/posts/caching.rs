//! Cacheable public reads: the feeds and anonymous reads of a published post may sit in shared
//! caches (and revalidate with 304); whatever a signed-in caller reads stays private.

use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::create;

#[tokio::test]
async fn public_feeds_are_cacheable_and_revalidate_with_304_until_they_change() {
    let app = TestApp::spawn().await;
    let (author, author_id) = app.user("cached@example.com", None).await;
    let post = |title: &'static str| {
        let app = &app;
        let author = author.clone();
        async move {
            let made = create(
                app,
                &author,
                &json!({"title": title, "body": "b", "tags": ["cache"], "status": "published"}),
            )
            .await;
            assert_eq!(made.status, 201, "{}", made.body);
        }
    };
    post("first").await;
    let lists = [
        Call::new("GET", "/v1/posts"),
        Call::new("GET", "/v1/posts").query("tag", "cache"),
        Call::new("GET", "/v1/users/{id}/posts").param("id", &author_id),
    ];
    let handler = |call: &Call| call.route().to_owned();
    let mut etags = Vec::new();
    for call in &lists {
        let first = match handler(call).as_str() {
            "/v1/posts" => app.call(posts_list::handle, call.clone()).await,
            _ => app.call(users_posts::handle, call.clone()).await,
        };
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(
            first.header("cache-control"),
            Some(shared::http::FEED_CACHE),
            "{}",
            call.route()
        );
        let etag = first.header("etag").expect("an ETag").to_owned();
        let again = call.clone().header("if-none-match", &etag);
        let revalidated = match handler(call).as_str() {
            "/v1/posts" => app.call(posts_list::handle, again).await,
            _ => app.call(users_posts::handle, again).await,
        };
        assert_eq!(revalidated.status, 304, "{}", call.route());
        assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
        etags.push(etag);
    }
    // A new post changes every list: the held ETag no longer matches.
    post("second").await;
    for (call, etag) in lists.iter().zip(&etags) {
        let again = call.clone().header("if-none-match", etag);
        let fresh = match handler(call).as_str() {
            "/v1/posts" => app.call(posts_list::handle, again).await,
            _ => app.call(users_posts::handle, again).await,
        };
        assert_eq!(fresh.status, 200, "{}", call.route());
        assert_ne!(fresh.header("etag"), Some(etag.as_str()));
        assert_eq!(fresh.body["items"][0]["title"], "second");
    }
}

#[tokio::test]
async fn a_published_post_is_cacheable_only_when_read_anonymously_and_a_draft_never() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("post-cache@example.com", None).await;
    let published = create(
        &app,
        &author,
        &json!({"title": "public", "body": "b", "status": "published"}),
    )
    .await;
    let id = published.body["id"].as_str().expect("id").to_owned();
    let anonymous = super::get(&app, None, &id).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(
        anonymous.header("cache-control"),
        Some(shared::http::ITEM_CACHE)
    );
    assert_eq!(anonymous.header("vary"), Some("authorization"));
    let signed_in = super::get(&app, Some(&author), &id).await;
    assert_eq!(signed_in.header("cache-control"), Some("private, no-store"));
    assert_eq!(signed_in.header("vary"), Some("authorization"));

    let draft = create(
        &app,
        &author,
        &json!({"title": "mine", "body": "b", "status": "draft"}),
    )
    .await;
    let draft_id = draft.body["id"].as_str().expect("id").to_owned();
    let own = super::get(&app, Some(&author), &draft_id).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.header("cache-control"), Some("private, no-store"));
    // Whatever is read signed in is private: one's own account, for instance.
    let me = app
        .call(
            users_me_get::handle,
            Call::new("GET", "/v1/users/me").bearer(&author),
        )
        .await;
    assert_eq!(me.header("cache-control"), Some("no-store"));
}
