//! The workload: virtual users, each a mix of the API's journeys (the registry's in
//! [`super::registry`]), and the prober that times how long an event takes to reach the audit
//! trail.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use infra::traffic::{self, PASSWORD, Rng};
use reqwest::Method;
use serde_json::{Value as Json, json};

use super::world::{Account, MAX_WRONG_PASSWORDS, NEW_PASSWORDS, Shared};

/// One step of a virtual user in the mixed phase.
#[allow(clippy::too_many_lines)] // a menu of steps reads best as one match
pub(crate) async fn mixed_step(
    shared: &Shared,
    rng: &mut Rng,
    slot: &mut Option<Account>,
    mail_bound: Duration,
) -> Result<()> {
    let client = &shared.client;
    let Some(account) = slot.as_mut() else {
        *slot = shared.register(rng).await?;
        return Ok(());
    };
    let token = account.access.clone();
    let steps = [10, 10, 10, 8, 2, 12, 5, 12, 5, 6, 4, 3, 2, 1, 2, 1, 14, 1];
    match rng.weighted(&steps) {
        0 => shared.sign_in(account).await?,
        1 => {
            let answer = client
                .post(
                    "refresh",
                    "/v1/auth/refresh",
                    None,
                    &json!({"refreshToken": account.refresh}),
                )
                .await?;
            if answer.status == 200 {
                account.access = answer.str("/accessToken").unwrap_or_default();
                account.refresh = answer.str("/refreshToken").unwrap_or_default();
            }
        }
        2 => drop(client.get("me", "/v1/users/me", Some(&token)).await?),
        3 => {
            let me = client.get("me", "/v1/users/me", Some(&token)).await?;
            if let Some(etag) = me.etag {
                let name = format!("Soak {}", traffic::words(rng, 2).join(" "));
                client
                    .call(
                        "update profile",
                        Method::PATCH,
                        "/v1/users/me",
                        Some(&token),
                        &[("if-match", &etag)],
                        Some(&json!({"name": name})),
                    )
                    .await?;
            }
        }
        4 => {
            let refused = client
                .call(
                    "stale update (412)",
                    Method::PATCH,
                    "/v1/users/me",
                    Some(&token),
                    &[("if-match", "\"0\"")],
                    Some(&json!({"name": "Stale"})),
                )
                .await?;
            traffic::expect(&refused, 412, "a stale If-Match")?;
        }
        5 => {
            let status = if rng.chance(70) { "published" } else { "draft" };
            let tags = traffic::words(rng, 2);
            let created = client
                .post(
                    "create post",
                    "/v1/posts",
                    Some(&token),
                    &json!({"title": traffic::words(rng, 4).join(" "), "body": traffic::words(rng, 60).join(" "), "tags": [tags[0]], "status": status}),
                )
                .await?;
            if let Some(id) = created.str("/id") {
                account.posts.push(id);
            }
        }
        6 => {
            if let Some(id) = account.posts.last().cloned() {
                let post = client
                    .get("get post", &format!("/v1/posts/{id}"), Some(&token))
                    .await?;
                if let Some(etag) = post.etag {
                    client
                        .call(
                            "publish",
                            Method::PATCH,
                            &format!("/v1/posts/{id}"),
                            Some(&token),
                            &[("if-match", &etag)],
                            Some(&json!({"status": "published"})),
                        )
                        .await?;
                }
            }
        }
        7 => {
            let page = client.get("feed", "/v1/posts?limit=20", None).await?;
            if let (Some(cursor), true) = (page.str("/nextCursor"), rng.chance(30)) {
                let cursor: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
                client
                    .get("feed", &format!("/v1/posts?limit=20&cursor={cursor}"), None)
                    .await?;
            }
        }
        8 => {
            let tag = traffic::words(rng, 1)[0];
            client
                .get("tag feed", &format!("/v1/posts?tag={tag}&limit=20"), None)
                .await?;
        }
        9 => {
            if let Some(id) = account.posts.first().cloned() {
                client
                    .get("get post", &format!("/v1/posts/{id}"), None)
                    .await?;
            }
        }
        10 => drop(
            client
                .get("my posts", "/v1/users/me/posts", Some(&token))
                .await?,
        ),
        11 => {
            if !account.posts.is_empty() {
                let id = account.posts.remove(0);
                client
                    .call(
                        "delete post",
                        Method::DELETE,
                        &format!("/v1/posts/{id}"),
                        Some(&token),
                        &[],
                        None,
                    )
                    .await?;
            }
        }
        12 => {
            let duplicate = client
                .post("duplicate registration (409)", "/v1/auth/register", None, &json!({"email": account.email.to_uppercase(), "name": "Twin", "password": PASSWORD}))
                .await?;
            traffic::expect(&duplicate, 409, "a duplicate registration")?;
        }
        13 => {
            if shared.wrong_passwords.fetch_add(1, Ordering::Relaxed) < MAX_WRONG_PASSWORDS {
                let wrong = client
                    .post(
                        "wrong password (401)",
                        "/v1/auth/login",
                        None,
                        &json!({"email": account.email, "password": "not the password at all"}),
                    )
                    .await?;
                if wrong.status != 401 && wrong.status != 429 {
                    bail!("a wrong password: {} {}", wrong.status, wrong.body);
                }
            }
        }
        14 => {
            if !account.reset_done {
                account.reset_done = true;
                client
                    .post(
                        "forgot password",
                        "/v1/auth/password/forgot",
                        None,
                        &json!({"email": account.email}),
                    )
                    .await?;
                if let Some(body) = shared
                    .mail(&account.email, "Reset your", mail_bound)
                    .await?
                {
                    let token = traffic::link_token(&body).context("a reset link")?;
                    let new = NEW_PASSWORDS[0];
                    let reset = client
                        .post(
                            "reset password",
                            "/v1/auth/password/reset",
                            None,
                            &json!({"token": token, "newPassword": new}),
                        )
                        .await?;
                    traffic::expect(&reset, 204, "a password reset")?;
                    new.clone_into(&mut account.password);
                    shared.sign_in(account).await?;
                } else {
                    bail!("no reset mail for {} within {mail_bound:?}", account.email);
                }
            }
        }
        15 => {
            let new = if account.password == NEW_PASSWORDS[1] {
                NEW_PASSWORDS[0]
            } else {
                NEW_PASSWORDS[1]
            };
            let changed = client
                .call(
                    "change password",
                    Method::PUT,
                    "/v1/users/me/password",
                    Some(&token),
                    &[],
                    Some(&json!({"currentPassword": account.password, "newPassword": new})),
                )
                .await?;
            if changed.status == 204 {
                new.clone_into(&mut account.password);
                shared.sign_in(account).await?;
            }
        }
        16 if account.registry => super::registry::step(shared, rng, account).await?,
        16 => {}
        _ => {
            // 409 while it owns properties or holds an active lease.
            let deleted = client
                .call(
                    "delete account",
                    Method::DELETE,
                    "/v1/users/me",
                    Some(&token),
                    &[],
                    Some(&json!({"password": account.password})),
                )
                .await?;
            if deleted.status == 204 {
                *slot = None;
            }
        }
    }
    Ok(())
}

/// One step of the steady phase: reads and refused writes only.
pub(crate) async fn steady_step(shared: &Shared, rng: &mut Rng, account: &Account) -> Result<()> {
    let client = &shared.client;
    match rng.weighted(&[20, 30, 15, 10, 10, 8, 7, 10]) {
        0 => drop(
            client
                .get("me", "/v1/users/me", Some(&account.access))
                .await?,
        ),
        1 => drop(client.get("feed", "/v1/posts?limit=20", None).await?),
        2 => {
            let tag = traffic::words(rng, 1)[0];
            client
                .get("tag feed", &format!("/v1/posts?tag={tag}&limit=20"), None)
                .await?;
        }
        3 => drop(
            client
                .get("my posts", "/v1/users/me/posts", Some(&account.access))
                .await?,
        ),
        4 => {
            if let Some(id) = account.posts.first() {
                client
                    .get("get post", &format!("/v1/posts/{id}"), None)
                    .await?;
            }
        }
        5 => {
            let refused = client
                .call(
                    "stale update (412)",
                    Method::PATCH,
                    "/v1/users/me",
                    Some(&account.access),
                    &[("if-match", "\"0\"")],
                    Some(&json!({"name": "Stale"})),
                )
                .await?;
            traffic::expect(&refused, 412, "a stale If-Match")?;
        }
        6 => {
            let duplicate = client
                .post(
                    "duplicate registration (409)",
                    "/v1/auth/register",
                    None,
                    &json!({"email": account.email, "name": "Twin", "password": PASSWORD}),
                )
                .await?;
            traffic::expect(&duplicate, 409, "a duplicate registration")?;
        }
        _ => {
            let page = client
                .get(
                    "list properties",
                    "/v1/properties?country=GB&city=Bristol&limit=20",
                    Some(&account.access),
                )
                .await?;
            traffic::expect(&page, 200, "list properties")?;
        }
    }
    Ok(())
}

pub(crate) async fn virtual_user(
    shared: Arc<Shared>,
    seed: u64,
    mail_bound: Duration,
) -> Result<()> {
    let mut rng = Rng::new(seed);
    let mut account: Option<Account> = None;
    while shared.sending_until(shared.mixed_until) {
        mixed_step(&shared, &mut rng, &mut account, mail_bound).await?;
    }
    let account = match account {
        Some(account) => account,
        None => loop {
            if let Some(account) = shared.register(&mut rng).await? {
                break account;
            }
        },
    };
    while shared.sending_until(shared.deadline) {
        steady_step(&shared, &mut rng, &account).await?;
    }
    Ok(())
}

/// Changes the prober's name every couple of seconds and waits for its audit entry.
pub(crate) async fn prober(
    shared: Arc<Shared>,
    admin: String,
    bound: Duration,
) -> Result<Vec<Duration>> {
    let client = &shared.client;
    let email = format!("prober-{}@example.com", shared.run);
    let (id, token, _) = client
        .register(&email, "Prober")
        .await?
        .context("the prober's account")?;
    let mut delays = Vec::new();
    let mut n = 0;
    while shared.sending_until(shared.deadline) {
        n += 1;
        let me = client.get("me", "/v1/users/me", Some(&token)).await?;
        let etag = me.etag.context("an ETag")?;
        let changed = client
            .call(
                "update profile",
                Method::PATCH,
                "/v1/users/me",
                Some(&token),
                &[("if-match", &etag)],
                Some(&json!({"name": format!("Prober {n}")})),
            )
            .await?;
        traffic::expect(&changed, 200, "the prober's change")?;
        let started = Instant::now();
        loop {
            let history = client
                .get(
                    "audit (prober)",
                    &format!("/v1/audit?entityType=user&entityId={id}&limit=1"),
                    Some(&admin),
                )
                .await?;
            let latest = history
                .body
                .pointer("/items/0/changes/name/after")
                .and_then(Json::as_str);
            if latest == Some(format!("Prober {n}").as_str()) {
                delays.push(started.elapsed());
                break;
            }
            if started.elapsed() > bound {
                bail!("the prober's change {n} was not audited within {bound:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(delays)
}

/// An admin's access token: registered through the API, promoted the documented way.
pub(crate) async fn admin(shared: &Shared) -> Result<String> {
    let email = format!("soak-admin-{}@example.com", shared.run);
    shared.client.register_admin(&email, "Soak Admin").await?;
    let login = shared
        .client
        .post(
            "login",
            "/v1/auth/login",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    login.str("/accessToken").context("the admin's token")
}
