//! The admin routes: who may call them, listing, roles, disabling, deletion.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};

use super::{admin, login, me, patch_user, register, tokens, user_id};

#[tokio::test]
async fn users_cannot_call_admin_routes() {
    let app = TestApp::spawn().await;
    let (access, _) = tokens(&register(&app, "user@example.com").await);
    let id = me(&app, &access).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let list = app
        .call(
            users_list::handle,
            Call::new("GET", "/v1/users").bearer(&access),
        )
        .await;
    let get = app
        .call(
            users_get::handle,
            Call::new("GET", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&access),
        )
        .await;
    let patch = app
        .call(
            users_patch::handle,
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&access)
                .json(&json!({"roles": ["ADMIN"]})),
        )
        .await;
    let delete = app
        .call(
            users_delete::handle,
            Call::new("DELETE", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&access),
        )
        .await;
    assert_eq!(
        [list.status, get.status, patch.status, delete.status],
        [403; 4]
    );
    let anonymous = app
        .call(users_list::handle, Call::new("GET", "/v1/users"))
        .await;
    assert_eq!(
        (anonymous.status, anonymous.header("www-authenticate")),
        (401, Some("Bearer"))
    );
}

#[tokio::test]
async fn admins_list_users_page_by_page_and_by_role() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    for i in 0..5 {
        register(&app, &format!("member{i}@example.com")).await;
    }
    let list = |call: Call| app.call(users_list::handle, call.bearer(&root));
    let page = list(Call::new("GET", "/v1/users").query("limit", "4")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        page.body["items"][0]["email"], "member4@example.com",
        "newest first"
    );
    let cursor = page.body["nextCursor"].as_str().expect("more").to_owned();
    let rest = list(
        Call::new("GET", "/v1/users")
            .query("limit", "4")
            .query("cursor", &cursor),
    )
    .await;
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest.body["nextCursor"], Value::Null);
    let tampered = list(Call::new("GET", "/v1/users").query("cursor", &format!("x{cursor}"))).await;
    assert_eq!((tampered.status, tampered.code()), (400, "INVALID_CURSOR"));
    let admins = list(Call::new("GET", "/v1/users").query("role", "ADMIN")).await;
    assert_eq!(admins.body["items"].as_array().map(Vec::len), Some(1));
    let bad = list(Call::new("GET", "/v1/users").query("role", "ROOT")).await;
    assert_eq!((bad.status, bad.code()), (400, "INVALID_PARAMETER"));
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_until_another_admin_exists() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    let root_id = user_id(&app, "root@example.com").await;
    let demote = patch_user(&app, &root, &root_id, &json!({"roles": ["USER"]})).await;
    assert_eq!((demote.status, demote.code()), (409, "LAST_ADMIN"));
    let disable = patch_user(&app, &root, &root_id, &json!({"status": "disabled"})).await;
    assert_eq!((disable.status, disable.code()), (409, "LAST_ADMIN"));

    register(&app, "deputy@example.com").await;
    let deputy_id = user_id(&app, "deputy@example.com").await;
    let promote = patch_user(
        &app,
        &root,
        &deputy_id,
        &json!({"roles": ["USER", "ADMIN"]}),
    )
    .await;
    assert_eq!(promote.status, 200);
    let event = app.last_event("user.roles_changed").await.expect("event");
    assert_eq!(event.changes["roles"].after, json!(["USER", "ADMIN"]));
    let demote = patch_user(&app, &root, &root_id, &json!({"roles": ["USER"]})).await;
    assert_eq!(
        (demote.status, demote.body["roles"].clone()),
        (200, json!(["USER"]))
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_reveals_it_only_to_the_right_password() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    let (member, _) = tokens(&register(&app, "member@example.com").await);
    let member_id = user_id(&app, "member@example.com").await;
    let disabled = patch_user(&app, &root, &member_id, &json!({"status": "disabled"})).await;
    assert_eq!(
        (disabled.status, disabled.body["status"].as_str()),
        (200, Some("disabled"))
    );
    assert_eq!(me(&app, &member).await.status, 401);
    assert_eq!(
        login(&app, "member@example.com", "wrong password x")
            .await
            .status,
        401
    );
    assert_eq!(
        login(&app, "member@example.com", PASSWORD).await.status,
        403
    );
    let listed = app
        .call(
            users_list::handle,
            Call::new("GET", "/v1/users")
                .query("status", "disabled")
                .bearer(&root),
        )
        .await;
    assert_eq!(listed.body["items"][0]["id"], member_id.as_str());
    let stale = patch_user(
        &app,
        &root,
        &member_id,
        &json!({"status": "active", "version": 1}),
    )
    .await;
    assert_eq!(stale.status, 412);
    let enabled = patch_user(
        &app,
        &root,
        &member_id,
        &json!({"status": "active", "version": 2}),
    )
    .await;
    assert_eq!(enabled.status, 200);
    assert_eq!(
        login(&app, "member@example.com", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn admins_read_and_delete_users_by_id() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    register(&app, "gone@example.com").await;
    let id = user_id(&app, "gone@example.com").await;
    let get = |id: &str| {
        app.call(
            users_get::handle,
            Call::new("GET", "/v1/users/{id}")
                .param("id", id)
                .bearer(&root),
        )
    };
    let found = get(&id).await;
    assert_eq!(
        (found.status, found.body["email"].as_str()),
        (200, Some("gone@example.com"))
    );
    assert_eq!(found.header("etag"), Some("\"1\""));
    assert_eq!(get("not-an-id").await.status, 404);
    assert_eq!(
        get(&shared::ids::UserId::generate().to_string())
            .await
            .status,
        404
    );
    let delete = |id: &str| {
        app.call(
            users_delete::handle,
            Call::new("DELETE", "/v1/users/{id}")
                .param("id", id)
                .bearer(&root),
        )
    };
    assert_eq!(delete(&id).await.status, 204);
    assert_eq!(delete(&id).await.status, 404);
    assert_eq!(login(&app, "gone@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        app.last_event("user.deleted_by_admin")
            .await
            .expect("event")
            .entity
            .id,
        id
    );
}

#[tokio::test]
async fn an_admin_corrects_a_users_name_and_the_correction_is_audited_and_shown_on_their_posts() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.admin("name-fixer@example.com").await;
    let (user, user_id) = app.user("misnamed@example.com", None).await;
    let post = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(&user)
                .json(&json!({"title": "t", "body": "b", "status": "published"})),
        )
        .await;
    let post_id = post.body["id"].as_str().expect("id").to_owned();
    let patch = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        let user_id = user_id.clone();
        async move {
            app.call(
                users_patch::handle,
                Call::new("PATCH", "/v1/users/{id}")
                    .param("id", &user_id)
                    .bearer(&admin)
                    .json(&body),
            )
            .await
        }
    };
    let invalid = patch(json!({"name": "\u{200b}\u{200b}"})).await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let fixed = patch(json!({"name": "Corrected Name", "version": 1})).await;
    assert_eq!(fixed.status, 200, "{}", fixed.body);
    assert_eq!(fixed.body["name"], "Corrected Name");
    assert_eq!(fixed.body["version"], 2);
    let event = app
        .last_event("user.renamed_by_admin")
        .await
        .expect("the correction's event");
    assert_eq!(event.changes["name"].before, "Poster");
    assert_eq!(event.changes["name"].after, "Corrected Name");
    assert!(!event.changes.contains_key("roles") && !event.changes.contains_key("status"));
    let read = app
        .call(
            posts_get::handle,
            Call::new("GET", "/v1/posts/{id}").param("id", &post_id),
        )
        .await;
    assert_eq!(read.body["author"]["name"], "Corrected Name");
    // The user's own sign-in is untouched: their token still works.
    let me = app
        .call(
            users_me_get::handle,
            Call::new("GET", "/v1/users/me").bearer(&user),
        )
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["name"], "Corrected Name");
}
