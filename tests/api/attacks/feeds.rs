//! Feed cursors and the month index: forged cursors refused, sparse feeds bounded.

use ferrite_tests::TestApp;
use serde_json::json;

use super::{days_ago, publish, table_snapshot};

#[tokio::test]
async fn a_forged_or_foreign_feed_cursor_is_refused_without_walking_months() {
    let (app, log) = TestApp::spawn_counting().await;
    let (access, _) = app.user("writer@example.com", None).await;
    publish(&app, &access, "one", &["rust"]).await;
    publish(&app, &access, "two", &["rust"]).await;
    // The unauthenticated shape the feed used to accept: base64 JSON naming a far month.
    for month in ["2045-12", "9999-12"] {
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json!({"m": month}).to_string(),
        );
        log.take();
        let answer = app.feed(None, 20, Some(&forged)).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.code(), "INVALID_CURSOR");
        assert!(log.take().is_empty(), "a forged cursor reads nothing");
    }
    // A genuine cursor of one feed is not a cursor of another.
    let first = app.feed(Some("rust"), 1, None).await;
    let cursor = first.body["nextCursor"].as_str().expect("a second page");
    assert_eq!(app.feed(None, 1, Some(cursor)).await.status, 400);
    assert_eq!(app.feed(Some("go"), 1, Some(cursor)).await.status, 400);
    assert_eq!(app.feed(Some("rust"), 1, Some(cursor)).await.status, 200);
}

#[tokio::test]
async fn a_sparse_feed_costs_a_bounded_number_of_calls_per_page() {
    let (app, log) = TestApp::spawn_counting().await;
    let (access, _) = app.user("now@example.com", None).await;
    // A tag used once, three years ago, and the whole feed with posts in six months spread
    // over three years (gaps of up to a year between them).
    let spread = [1100_u64, 1095, 700, 400, 100, 40];
    for (n, days) in spread.iter().enumerate() {
        let tags: &[&str] = if n == 0 { &["rare"] } else { &[] };
        publish(&days_ago(&app, *days), &access, &format!("post {n}"), tags).await;
    }
    publish(&app, &access, "today", &[]).await;

    // The rare tag's first page: this month's bucket (empty), the month index, the one month,
    // then the page's authors (a deleted account's posts are not shown).
    log.take();
    let rare = app.feed(Some("rare"), 20, None).await;
    assert_eq!(rare.status, 200);
    assert_eq!(rare.body["items"].as_array().map(Vec::len), Some(1));
    assert!(rare.body["nextCursor"].is_null());
    assert_eq!(log.take(), ["Query", "Query", "Query", "BatchGetItem"]);

    // The whole page by page: every post once, newest first, and no page past the bound.
    let bound = 2 * shared::posts::MAX_BUCKETS_PER_PAGE + 1;
    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        log.take();
        let page = app.feed(None, 20, cursor.as_deref()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let calls = log.take();
        assert!(calls.len() <= bound, "{} calls for one page", calls.len());
        assert!(
            calls.iter().all(|c| c == "Query" || c == "BatchGetItem"),
            "{calls:?}"
        );
        titles.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["title"].as_str().expect("title").to_owned()),
        );
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        titles,
        [
            "today", "post 5", "post 4", "post 3", "post 2", "post 1", "post 0"
        ]
    );
}

#[tokio::test]
async fn feeds_written_before_the_month_index_are_whole_again_after_the_backfill() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user("early@example.com", None).await;
    publish(&days_ago(&app, 400), &access, "old", &["legacy"]).await;
    publish(&app, &access, "new", &["legacy"]).await;
    // A table from before the index: no month markers.
    for (pk, sk) in table_snapshot(&app).await.iter().filter_map(|item| {
        let item: serde_json::Value = serde_json::from_str(item).ok()?;
        let pk = item["pk"].as_str()?.to_owned();
        pk.starts_with("FEEDMONTHS#")
            .then(|| (pk, item["sk"].as_str().unwrap_or_default().to_owned()))
    }) {
        app.client()
            .delete_item()
            .table_name(&app.table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
            .send()
            .await
            .expect("delete");
    }
    let titles = |page: ferrite_tests::TestResponse| -> Vec<String> {
        page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["title"].as_str().expect("title").to_owned())
            .collect()
    };
    assert_eq!(titles(app.feed(Some("legacy"), 10, None).await), ["new"]);

    let months = shared::posts::backfill_feed_months(&app.state.store)
        .await
        .expect("backfill");
    assert_eq!(months, 4, "two months of the feed and of the tag");
    assert_eq!(
        titles(app.feed(Some("legacy"), 10, None).await),
        ["new", "old"]
    );
    assert_eq!(titles(app.feed(None, 10, None).await), ["new", "old"]);
    // Idempotent.
    assert_eq!(
        shared::posts::backfill_feed_months(&app.state.store)
            .await
            .expect("again"),
        4
    );
}
