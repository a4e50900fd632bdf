//! The DynamoDB layer against the real local endpoint.

use std::collections::HashSet;

use ferrite_tests::TestApp;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::ids::UserId;
use shared::store::keys::{Index, Key, USERS_PARTITION};
use shared::store::{KeyQuery, OnCondition, PageRequest, Store, StoreError, Update};
use shared::validate::Email;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    email: String,
    name: String,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

shared::store::attributes! { UserItem in user_item_attributes {
    NAME: String = name,
} }

impl UserItem {
    fn new(id: UserId, email: &Email, name: &str) -> Self {
        let key = Key::user(id);
        Self {
            pk: key.pk,
            sk: key.sk,
            gsi1pk: USERS_PARTITION.to_owned(),
            gsi1sk: id.to_string(),
            email: email.to_string(),
            name: name.to_owned(),
            version: 1,
            expires_at: None,
        }
    }
}

#[derive(Debug, Serialize)]
struct EmailClaim {
    pk: String,
    sk: String,
    #[serde(rename = "userId")]
    user_id: String,
}

impl EmailClaim {
    fn new(email: &Email, id: UserId) -> Self {
        let key = Key::email(email);
        Self {
            pk: key.pk,
            sk: key.sk,
            user_id: id.to_string(),
        }
    }
}

async fn register(store: &Store, email: &Email, name: &str) -> Result<UserId, StoreError> {
    let id = UserId::generate();
    store
        .transact(vec![
            store.put_new_op(&UserItem::new(id, email, name))?,
            store.put_new_op(&EmailClaim::new(email, id))?,
        ])
        .await?;
    Ok(id)
}

#[tokio::test]
async fn a_transaction_whose_condition_fails_is_a_conflict_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let email = Email::parse("ada@example.com").expect("email");
    let first = register(&app.state.store, &email, "Ada")
        .await
        .expect("first registration");

    let store = &app.state.store;
    let second = UserId::generate();
    let error = store
        .transact(vec![
            store
                .put_new_op(&UserItem::new(second, &email, "Impostor"))
                .expect("op"),
            store
                .put_new_op(&EmailClaim::new(&email, second))
                .expect("op"),
        ])
        .await
        .expect_err("the email is taken");

    // The email claim (item 1) is the condition that failed, and the API answers 409.
    assert!(
        matches!(error, StoreError::ConditionFailed { index: Some(1) }),
        "{error:?}"
    );
    assert_eq!(ApiError::from(error).status().as_u16(), 409);
    // Atomic: the second user item was not written either.
    assert_eq!(
        store
            .get::<UserItem>(&Key::user(second))
            .await
            .expect("get"),
        None
    );
    let kept: UserItem = store
        .get(&Key::user(first))
        .await
        .expect("get")
        .expect("first user");
    assert_eq!(kept.name, "Ada");
}

#[tokio::test]
async fn concurrent_registrations_with_one_email_create_exactly_one_account() {
    let app = TestApp::spawn().await;
    let email = Email::parse("race@example.com").expect("email");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = app.state.store.clone();
        let email = email.clone();
        tasks.spawn(async move { register(&store, &email, &format!("racer {i}")).await });
    }
    let mut winners = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(id) => {
                winners += 1;
                assert!(
                    app.state
                        .store
                        .get::<UserItem>(&Key::user(id))
                        .await
                        .expect("get")
                        .is_some()
                );
            }
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn put_new_refuses_to_overwrite_an_existing_item() {
    let app = TestApp::spawn().await;
    let email = Email::parse("grace@example.com").expect("email");
    let item = UserItem::new(UserId::generate(), &email, "Grace");
    app.state.store.put_new(&item).await.expect("first put");
    let mut changed = item.clone();
    changed.name = "Overwritten".into();
    let error = app.state.store.put_new(&changed).await.expect_err("exists");
    assert!(
        matches!(error, StoreError::ConditionFailed { index: None }),
        "{error:?}"
    );
    let stored: UserItem = app
        .state
        .store
        .get(&Key::new(&item.pk, &item.sk))
        .await
        .expect("get")
        .expect("item");
    assert_eq!(stored.name, "Grace");
}

#[tokio::test]
async fn optimistic_locking_rejects_a_stale_version() {
    let app = TestApp::spawn().await;
    let store = &app.state.store;
    let email = Email::parse("linus@example.com").expect("email");
    let id = UserId::generate();
    store
        .put_new(&UserItem::new(id, &email, "Linus"))
        .await
        .expect("put");
    let key = Key::user(id);

    // The production path: an Update conditioned on the version read (`bump_version`).
    let rename = |key: &Key, expected: u64, n: &str| {
        Update::new(key.clone())
            .set(UserItem::NAME, &n.to_owned())
            .if_exists()
            .bump_version(expected)
    };
    let written = store
        .update(rename(&key, 1, "First"))
        .await
        .expect("fresh version");
    assert_eq!(written["version"].as_n().map(String::as_str), Ok("2"));
    let error = store
        .update(rename(&key, 1, "Stale"))
        .await
        .expect_err("stale");
    assert!(
        matches!(error, StoreError::ConditionFailed { index: None }),
        "{error:?}"
    );
    let answer = Err::<(), _>(error).or_stale().unwrap_err();
    assert_eq!(answer.status().as_u16(), 412);

    let stored: UserItem = store.get(&key).await.expect("get").expect("item");
    assert_eq!((stored.name.as_str(), stored.version), ("First", 2));

    let missing = store
        .update(rename(&Key::user(UserId::generate()), 1, "Ghost"))
        .await
        .expect_err("no such item");
    assert!(
        matches!(missing, StoreError::ConditionFailed { .. }),
        "{missing:?}"
    );
    assert!(
        store
            .get::<UserItem>(&Key::new(&key.pk, "GHOST"))
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn concurrent_updates_of_one_version_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let store = app.state.store.clone();
    let id = UserId::generate();
    let email = Email::parse("many@example.com").expect("email");
    store
        .put_new(&UserItem::new(id, &email, "Start"))
        .await
        .expect("put");

    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let change = Update::new(Key::user(id))
                .set(UserItem::NAME, &format!("writer {writer}"))
                .bump_version(1);
            store.update(change).await.map(|_| writer)
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(writer) => winners.push(writer),
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let stored: UserItem = store.get(&Key::user(id)).await.expect("get").expect("item");
    assert_eq!(stored.name, format!("writer {}", winners[0]));
    assert_eq!(stored.version, 2);
}

async fn seed_users(app: &TestApp, count: usize) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let store = app.state.store.clone();
        tasks.spawn(async move {
            let id = UserId::generate();
            let email = Email::parse(&format!("user{i}@example.com")).expect("email");
            store
                .put_new(&UserItem::new(id, &email, &format!("User {i}")))
                .await
                .map(|()| id.to_string())
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(result) = tasks.join_next().await {
        ids.push(result.expect("task").expect("put"));
    }
    ids
}

#[tokio::test]
async fn pagination_walks_250_items_without_loss_or_duplicates() {
    let app = TestApp::spawn().await;
    let mut expected = seed_users(&app, 250).await;
    expected.sort_unstable_by(|a, b| b.cmp(a)); // newest first

    let query = KeyQuery::index(Index::Gsi1, USERS_PARTITION).newest_first();
    let mut page = PageRequest::first(37);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let result = app
            .state
            .store
            .query_page::<UserItem>(&query, &page)
            .await
            .expect("page");
        pages += 1;
        assert!(result.items.len() <= 37);
        seen.extend(result.items.into_iter().map(|u| u.gsi1sk));
        match result.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
        assert!(pages < 20, "pagination does not terminate");
    }
    assert_eq!(
        pages, 7,
        "250 items in pages of 37 is 7 pages, the last one not empty"
    );
    assert_eq!(seen.len(), 250);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        250,
        "no duplicates"
    );
    assert_eq!(seen, expected, "every item, newest first");
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_a_bad_request() {
    let app = TestApp::spawn().await;
    seed_users(&app, 5).await;
    let store = &app.state.store;
    let query = KeyQuery::index(Index::Gsi1, USERS_PARTITION).newest_first();
    let first = store
        .query_page::<UserItem>(&query, &PageRequest::first(2))
        .await
        .expect("page");
    let cursor = first.next_cursor.expect("more pages");

    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let foreign_query = KeyQuery::index(Index::Gsi1, USERS_PARTITION); // oldest first: another listing
    for (query, cursor) in [
        (&query, tampered.as_str()),
        (&query, "not-a-cursor"),
        (&foreign_query, cursor.as_str()),
    ] {
        let page = PageRequest {
            limit: 2,
            cursor: Some(cursor.to_owned()),
        };
        let error = store
            .query_page::<UserItem>(query, &page)
            .await
            .expect_err("rejected");
        assert!(matches!(error, StoreError::Cursor(_)), "{error:?}");
        let api = ApiError::from(error);
        assert_eq!((api.status().as_u16(), api.code()), (400, "INVALID_CURSOR"));
    }
}

#[tokio::test]
async fn items_with_a_lifetime_carry_the_ttl_attribute_and_read_as_gone_once_expired() {
    let app = TestApp::spawn().await;
    let store = &app.state.store;

    // The table was provisioned from template.yaml with TTL on `expiresAt`.
    let ttl = app
        .client()
        .describe_time_to_live()
        .table_name(&app.table)
        .send()
        .await
        .expect("describe ttl")
        .time_to_live_description
        .expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some("expiresAt"));

    let email = Email::parse("ttl@example.com").expect("email");
    let mut live = UserItem::new(UserId::generate(), &email, "Live");
    live.expires_at = Some(store.expires_in(3600));
    let mut expired = UserItem::new(UserId::generate(), &email, "Expired");
    expired.expires_at = Some(store.expires_in(-1));
    store.put_new(&live).await.expect("put live");
    store.put_new(&expired).await.expect("put expired");

    let raw = app
        .client()
        .get_item()
        .table_name(&app.table)
        .set_key(Some(Key::new(&live.pk, &live.sk).to_attrs()))
        .send()
        .await
        .expect("raw get")
        .item
        .expect("item");
    let written: i64 = raw["expiresAt"]
        .as_n()
        .expect("a number attribute")
        .parse()
        .expect("integer");
    assert_eq!(Some(written), live.expires_at);

    assert!(
        store
            .get::<UserItem>(&Key::new(&live.pk, &live.sk))
            .await
            .expect("get")
            .is_some()
    );
    // moto, like DynamoDB, has not deleted it yet: the read must check expiry itself.
    assert!(
        store
            .get::<UserItem>(&Key::new(&expired.pk, &expired.sk))
            .await
            .expect("get")
            .is_none()
    );
}
