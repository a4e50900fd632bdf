//! Posts over HTTP, each change reaching the audit trail.

use ferrite_tests::{api_url, delivery_bound, eventually, http};

use super::{admin_token, register_over_http, stack_state};

#[tokio::test]
async fn the_post_journey_works_over_http_and_every_change_reaches_the_audit_trail() {
    let state = stack_state();
    let moderator = admin_token(&state).await; // an admin moderates too
    let author = register_over_http("writer", "Writer").await.access;
    let tag = format!("e2e{}", &ulid::Ulid::new().to_string().to_lowercase()[..10]);

    let created = http()
        .post(format!("{}/v1/posts", api_url()))
        .bearer_auth(&author)
        .header("idempotency-key", format!("create-{tag}"))
        .json(&serde_json::json!({"title": "Hello, serverless", "body": "Rust on Lambda.", "tags": [tag]}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let post: serde_json::Value = created.json().await.expect("json");
    let id = post["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/v1/posts/{id}"));

    let patch = |token: String, body: serde_json::Value| {
        let id = id.clone();
        async move {
            http()
                .patch(format!("{}/v1/posts/{id}", api_url()))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(
        patch(author.clone(), serde_json::json!({"status": "published"})).await,
        200
    );
    let feed: serde_json::Value = http()
        .get(format!("{}/v1/posts?tag={tag}", api_url()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(feed["items"][0]["id"], id.as_str());
    assert_eq!(
        patch(
            author.clone(),
            serde_json::json!({"title": "Hello again", "version": 2})
        )
        .await,
        200
    );
    assert_eq!(
        patch(
            author.clone(),
            serde_json::json!({"title": "Stale", "version": 2})
        )
        .await,
        412
    );
    assert_eq!(
        patch(moderator.clone(), serde_json::json!({"status": "hidden"})).await,
        200
    );
    let anonymous = http()
        .get(format!("{}/v1/posts/{id}", api_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(
        anonymous.status(),
        404,
        "hidden posts do not exist for the public"
    );
    let deleted = http()
        .delete(format!("{}/v1/posts/{id}", api_url()))
        .bearer_auth(&author)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);

    let (kinds, _) = eventually(
        "the post's audit trail",
        delivery_bound("AuditQueue"),
        || async {
            let url = format!("{}/v1/audit?entityType=post&entityId={id}", api_url());
            let page = ferrite_tests::get_json(&url, Some(&moderator)).await?;
            let kinds: Vec<String> = page["items"]
                .as_array()?
                .iter()
                .filter_map(|e| e["type"].as_str().map(str::to_owned))
                .collect();
            (kinds.len() >= 5).then_some(kinds)
        },
    )
    .await;
    assert_eq!(
        kinds,
        [
            "post.deleted",
            "post.hidden",
            "post.updated",
            "post.published",
            "post.created"
        ]
    );
}
