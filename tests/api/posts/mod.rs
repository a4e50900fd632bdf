//! Posts in-process against the local endpoint: visibility, feeds, concurrency, idempotency.

mod caching;
mod feeds;
mod visibility;
mod writes;

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::Value;

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

fn ids(response: &TestResponse) -> Vec<String> {
    response.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}
