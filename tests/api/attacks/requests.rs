//! Requests that say two things at once or carry text outside the policy.

use ferrite_tests::{Call, TestApp, api_url, http};
use serde_json::json;

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
    let (admin, _) = app.admin("lists@example.com").await;
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
    let (token, _) = app.user("writer@example.com", None).await;
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
