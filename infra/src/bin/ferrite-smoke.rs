#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-smoke` (`make smoke API_URL=…`): the user journeys against any deployed Ferrite,
//! leaving nothing behind.
//!
//! health → register → confirm the address by the mailed link → sign in → refresh → sessions →
//! sign in by a mailed link → a second factor → write, read, list and delete a post → a
//! property's document uploaded to the bucket as a browser's form does, checked, downloaded and
//! deleted, then the property → the account's audit trail, read as an admin → log out (the refresh token is dead after) → delete
//! the account (its sign-in is refused after). Each step prints `ok`, `skip` with the reason, or
//! `FAIL`; the exit code is 1 when a step failed.
//!
//! - **Mail** is read from `SMOKE_MAILBOX_URL`, an endpoint answering like the local stack's
//!   `/_ferrite/ses/messages?to=` (locally: the endpoint itself). Without one the confirmation
//!   is skipped, with that said; a stack in `silent` registration mode cannot be smoke-tested
//!   without it (its unconfirmed accounts cannot sign in to be deleted), so the run stops
//!   before registering there.
//! - **The audit step** signs in as `SMOKE_ADMIN_EMAIL` / `SMOKE_ADMIN_PASSWORD` (an existing
//!   admin; the session is logged out after); without them it is skipped, with that said.
//!   Under the local stack (`--local-admin`) an admin is made for the run with `ferrite-admin`.
//! - **Nothing left behind**: the post, the document and the property are deleted, both
//!   sessions end, the account is deleted
//!   (its posts purged in the background, its audit entries kept as the audit trail is). Under
//!   the local stack the run then checks the table: no item of the account is left.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use infra::traffic::{Answer, Client, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-smoke",
    about = "The user journeys against a deployed Ferrite"
)]
struct Args {
    /// The API's base URL (the stack's `ApiUrl` output).
    #[arg(long, env = "API_URL")]
    api: String,
    /// Where the mail the API sends can be read (see the module documentation).
    #[arg(long, env = "SMOKE_MAILBOX_URL")]
    mailbox: Option<String>,
    #[arg(long, env = "SMOKE_ADMIN_EMAIL")]
    admin_email: Option<String>,
    #[arg(long, env = "SMOKE_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// The domain of the smoke accounts' addresses (`smoke-<run>@<domain>`: mail to it must be
    /// readable, or harmless). Without it they are SES's mailbox simulator
    /// (`success+smoke-<run>@simulator.amazonses.com`): delivered, never a bounce that counts
    /// against the account's reputation, accepted in the SES sandbox.
    #[arg(long, env = "SMOKE_EMAIL_DOMAIN")]
    domain: Option<String>,
    /// How long to wait for mail and for the audit trail.
    #[arg(long, env = "SMOKE_WAIT_SECS", default_value_t = 60)]
    wait_secs: u64,
    /// Local stack only: make an admin for the audit step (needs `TABLE_NAME`, `AWS_ENDPOINT_URL`).
    #[arg(long)]
    local_admin: bool,
}

/// SES's mailbox simulator: mail to it is accepted and "delivered", bounces nothing.
const MAILBOX_SIMULATOR: &str = "simulator.amazonses.com";

impl Args {
    /// The address of a smoke account named `local` (see [`Args::domain`]).
    fn address(&self, local: &str) -> String {
        match &self.domain {
            Some(domain) => format!("{local}@{domain}"),
            None => format!("success+{local}@{MAILBOX_SIMULATOR}"),
        }
    }
}

/// The run's outcome, step by step.
#[derive(Default)]
struct Report {
    failed: Vec<String>,
}

impl Report {
    fn ok(step: &str, answer: &Answer) {
        println!(
            "ok    {step:<44} {} in {} ms",
            answer.status,
            answer.elapsed.as_millis()
        );
    }

    fn skip(step: &str, why: &str) {
        println!("skip  {step:<44} {why}");
    }

    /// Checks that `answer` has `status`; a mismatch is a failed step.
    fn expect(&mut self, step: &str, answer: &Answer, status: u16) -> bool {
        if answer.status == status {
            Self::ok(step, answer);
            true
        } else {
            println!(
                "FAIL  {step:<44} {} (expected {status}): {}",
                answer.status, answer.body
            );
            self.failed.push(step.to_owned());
            false
        }
    }

    fn fail(&mut self, step: &str, why: &str) {
        println!("FAIL  {step:<44} {why}");
        self.failed.push(step.to_owned());
    }
}

/// Waits up to `bound` for `probe` to give a value.
async fn within<T, F, Fut>(bound: Duration, mut probe: F) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await? {
            return Ok(Some(value));
        }
        if started.elapsed() > bound {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn admin_token(args: &Args, client: &Client, run: &str) -> Result<Option<(String, String)>> {
    let (email, password) = match (&args.admin_email, &args.admin_password) {
        (Some(email), Some(password)) => (email.clone(), password.clone()),
        _ if args.local_admin => {
            let email = args.address(&format!("smoke-admin-{run}"));
            client.register_admin(&email, "Smoke Admin").await?;
            (email, PASSWORD.to_owned())
        }
        _ => return Ok(None),
    };
    let login = client
        .post(
            "admin login",
            "/v1/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await?;
    if login.status != 200 {
        bail!(
            "the admin's sign-in answered {}: {}",
            login.status,
            login.body
        );
    }
    Ok(Some((
        login.str("/accessToken").unwrap_or_default(),
        login.str("/refreshToken").unwrap_or_default(),
    )))
}

/// The code an authenticator app shows `ahead` seconds from now for the base32 `secret`.
fn totp_code(secret: &str, ahead: u64) -> Option<String> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build_noncompliant();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(totp.generate(now + ahead).to_string())
}

/// An authenticator app: set up and confirmed (the code computed from the secret, as an app
/// would), asked for at sign-in (answered with the next step's code), then removed with a
/// recovery code.
async fn second_factor(
    client: &Client,
    report: &mut Report,
    access: &str,
    email: &str,
) -> Result<()> {
    let begun = client
        .post(
            "begin totp",
            "/v1/users/me/mfa/totp",
            Some(access),
            &json!({}),
        )
        .await?;
    if !report.expect("POST /v1/users/me/mfa/totp", &begun, 201) {
        return Ok(());
    }
    let secret = begun.str("/secret").unwrap_or_default();
    let confirmed = client
        .post(
            "confirm totp",
            "/v1/users/me/mfa/totp/confirm",
            Some(access),
            &json!({"code": totp_code(&secret, 0)}),
        )
        .await?;
    if !report.expect("POST /v1/users/me/mfa/totp/confirm", &confirmed, 200) {
        return Ok(());
    }
    let old_codes = recovery_codes(&confirmed.body);
    let challenged = client
        .post(
            "login (second factor)",
            "/v1/auth/login",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    if !report.expect(
        "POST /v1/auth/login (second factor on: MFA_REQUIRED)",
        &challenged,
        401,
    ) {
        return Ok(());
    }
    // The confirmation spent this step's code: the next step's (one step of skew is accepted).
    let verified = client
        .post(
            "verify",
            "/v1/auth/mfa/verify",
            None,
            &json!({"challenge": challenged.str("/challenge"), "code": totp_code(&secret, 30)}),
        )
        .await?;
    report.expect("POST /v1/auth/mfa/verify", &verified, 200);
    // This session confirmed the factor moments ago: new codes need nothing more.
    let renewed = client
        .post(
            "new recovery codes",
            "/v1/users/me/mfa/recovery-codes",
            Some(access),
            &json!({}),
        )
        .await?;
    report.expect("POST /v1/users/me/mfa/recovery-codes", &renewed, 200);
    let disable = |body| {
        client.call(
            "disable totp",
            Method::DELETE,
            "/v1/users/me/mfa/totp",
            Some(access),
            &[],
            Some(body),
        )
    };
    let old = json!({"recoveryCode": old_codes.first()});
    let new = json!({"recoveryCode": recovery_codes(&renewed.body).first()});
    let voided = disable(&old).await?;
    report.expect(
        "DELETE /v1/users/me/mfa/totp (a voided recovery code)",
        &voided,
        422,
    );
    let removed = disable(&new).await?;
    report.expect(
        "DELETE /v1/users/me/mfa/totp (a recovery code)",
        &removed,
        204,
    );
    Ok(())
}

/// The recovery codes of an answer (none if it has none).
fn recovery_codes(body: &serde_json::Value) -> Vec<String> {
    body["recoveryCodes"]
        .as_array()
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The account's sessions: listed (this one marked current), then every other one ended.
async fn sessions(client: &Client, report: &mut Report, access: &str) -> Result<()> {
    let listed = client
        .get("my sessions", "/v1/users/me/sessions", Some(access))
        .await?;
    if !report.expect("GET /v1/users/me/sessions", &listed, 200) {
        return Ok(());
    }
    let items = listed.body["items"].as_array().cloned().unwrap_or_default();
    let current = items.iter().filter(|s| s["current"] == true).count();
    if items.len() < 2 || current != 1 {
        report.fail(
            "GET /v1/users/me/sessions",
            &format!(
                "{} sessions, {current} current: expected the registration's and this one",
                items.len()
            ),
        );
        return Ok(());
    }
    let ended = client
        .call(
            "end other sessions",
            Method::DELETE,
            "/v1/users/me/sessions",
            Some(access),
            &[],
            None,
        )
        .await?;
    if report.expect("DELETE /v1/users/me/sessions", &ended, 200) {
        let left = client
            .get("my sessions", "/v1/users/me/sessions", Some(access))
            .await?;
        let count = left.body["items"].as_array().map_or(0, Vec::len);
        if report.expect("GET /v1/users/me/sessions (after)", &left, 200) && count != 1 {
            report.fail(
                "DELETE /v1/users/me/sessions",
                &format!("{count} sessions left, not only this one"),
            );
        }
    }
    Ok(())
}

#[allow(clippy::too_many_lines)] // the journey, in order
async fn journey(args: &Args, report: &mut Report) -> Result<()> {
    let mailbox = args.mailbox.clone().unwrap_or_default();
    let client = Client::new(&args.api, &mailbox)?;
    let wait = Duration::from_secs(args.wait_secs);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let email = args.address(&format!("smoke-{run}"));

    let health = client.get("health", "/v1/health", None).await?;
    if !report.expect("GET /v1/health", &health, 200) {
        bail!("the API is not up");
    }

    let registered = client
        .post(
            "register",
            "/v1/auth/register",
            None,
            &json!({"email": email, "name": "Smoke Test", "password": PASSWORD}),
        )
        .await?;
    let silent = registered.status == 202;
    if silent && args.mailbox.is_none() {
        report.fail(
            "POST /v1/auth/register",
            &format!("silent registration mode: {email} cannot be confirmed without SMOKE_MAILBOX_URL (nor signed in to be deleted)"),
        );
        return Ok(());
    }
    if !report.expect(
        "POST /v1/auth/register",
        &registered,
        if silent { 202 } else { 201 },
    ) {
        return Ok(());
    }

    if args.mailbox.is_some() {
        let subject = "Welcome";
        match mailed_token(&client, wait, &email, subject).await? {
            Some(token) => {
                let verified = client
                    .post(
                        "verify",
                        "/v1/auth/email/verify",
                        None,
                        &json!({"token": token}),
                    )
                    .await?;
                report.expect("confirm the address by the mailed link", &verified, 204);
            }
            None => report.fail(
                "confirm the address by the mailed link",
                &format!("no welcome mail with a link within {wait:?}"),
            ),
        }
    } else {
        Report::skip(
            "confirm the address by the mailed link",
            "no mailbox: set SMOKE_MAILBOX_URL to read the stack's mail",
        );
    }

    let login = client
        .post(
            "login",
            "/v1/auth/login",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    if !report.expect("POST /v1/auth/login", &login, 200) {
        return Ok(());
    }
    let user_id = login.str("/user/id").unwrap_or_default();
    let refreshed = client
        .post(
            "refresh",
            "/v1/auth/refresh",
            None,
            &json!({"refreshToken": login.str("/refreshToken")}),
        )
        .await?;
    report.expect("POST /v1/auth/refresh", &refreshed, 200);
    let access = refreshed
        .str("/accessToken")
        .or_else(|| login.str("/accessToken"))
        .unwrap_or_default();
    let refresh = refreshed.str("/refreshToken").unwrap_or_default();

    let me = client.get("me", "/v1/users/me", Some(&access)).await?;
    report.expect("GET /v1/users/me", &me, 200);
    sessions(&client, report, &access).await?;
    if args.mailbox.is_some() {
        mailed_sign_in(&client, report, wait, &email).await?;
    } else {
        Report::skip(
            "sign in by mailed link",
            "no mailbox: set SMOKE_MAILBOX_URL to read the stack's mail",
        );
    }
    second_factor(&client, report, &access, &email).await?;
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) if args.local_admin => {
            provider_sign_in(&client, report, &endpoint, &run, args).await?;
        }
        _ => Report::skip(
            "sign in with a provider",
            "a deployed stack's providers need a real user (the local stack has stand-ins)",
        ),
    }

    let post = client
        .post(
            "create post",
            "/v1/posts",
            Some(&access),
            &json!({"title": format!("Smoke {run}"), "body": "Written by the smoke suite; deleted by it.", "tags": ["smoke"], "status": "published"}),
        )
        .await?;
    if report.expect("POST /v1/posts", &post, 201) {
        let id = post.str("/id").unwrap_or_default();
        let read = client
            .get("get post", &format!("/v1/posts/{id}"), None)
            .await?;
        report.expect("GET /v1/posts/{id} (anonymous)", &read, 200);
        let profile = client
            .get("profile", &format!("/v1/users/{user_id}/profile"), None)
            .await?;
        if report.expect("GET /v1/users/{id}/profile (anonymous)", &profile, 200)
            && profile.body["publishedPosts"] != 1
        {
            report.fail(
                "GET /v1/users/{id}/profile (anonymous)",
                &format!(
                    "publishedPosts is {}, not 1",
                    profile.body["publishedPosts"]
                ),
            );
        }
        let mine = client
            .get("my posts", "/v1/users/me/posts", Some(&access))
            .await?;
        if report.expect("GET /v1/users/me/posts", &mine, 200)
            && !mine.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|p| p["id"] == id.as_str()))
        {
            report.fail("GET /v1/users/me/posts", "the new post is not listed");
        }
        let deleted = client
            .call(
                "delete post",
                Method::DELETE,
                &format!("/v1/posts/{id}"),
                Some(&access),
                &[],
                None,
            )
            .await?;
        report.expect("DELETE /v1/posts/{id}", &deleted, 204);
    }

    documents(&client, report, wait, &access, &run).await?;

    let email = if args.mailbox.is_some() {
        let moved = args.address(&format!("smoke-{run}-moved"));
        if change_address(&client, report, wait, &access, &moved).await? {
            moved
        } else {
            email
        }
    } else {
        Report::skip(
            "POST /v1/users/me/email, confirmed by the mailed link",
            "no mailbox: set SMOKE_MAILBOX_URL to read the stack's mail",
        );
        email
    };

    match admin_token(args, &client, &run).await? {
        Some((admin, admin_refresh)) => {
            let path = format!("/v1/audit?entityType=user&entityId={user_id}");
            let trail = within(wait, || async {
                let page = client.get("audit", &path, Some(&admin)).await?;
                let registered = page.body["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|e| e["type"] == "user.registered"));
                Ok(registered.then_some(page))
            })
            .await?;
            match trail {
                Some(page) => Report::ok("GET /v1/audit (admin): user.registered", &page),
                None => report.fail(
                    "GET /v1/audit (admin): user.registered",
                    &format!("not in the audit trail within {wait:?}"),
                ),
            }
            let out = client
                .post(
                    "admin logout",
                    "/v1/auth/logout",
                    None,
                    &json!({"refreshToken": admin_refresh}),
                )
                .await?;
            report.expect("POST /v1/auth/logout (the admin's session)", &out, 204);
        }
        None => Report::skip(
            "GET /v1/audit (admin)",
            "no admin: set SMOKE_ADMIN_EMAIL and SMOKE_ADMIN_PASSWORD",
        ),
    }

    let out = client
        .post(
            "logout",
            "/v1/auth/logout",
            None,
            &json!({"refreshToken": refresh}),
        )
        .await?;
    report.expect("POST /v1/auth/logout", &out, 204);
    let dead = client
        .post(
            "refresh after logout",
            "/v1/auth/refresh",
            None,
            &json!({"refreshToken": refresh}),
        )
        .await?;
    report.expect("POST /v1/auth/refresh after logout (401)", &dead, 401);

    let again = client
        .post(
            "login",
            "/v1/auth/login",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    let token = again.str("/accessToken").unwrap_or_default();
    let deleted = client
        .call(
            "delete account",
            Method::DELETE,
            "/v1/users/me",
            Some(&token),
            &[],
            Some(&json!({"password": PASSWORD})),
        )
        .await?;
    report.expect("DELETE /v1/users/me", &deleted, 204);
    let gone = client
        .post(
            "login after deletion",
            "/v1/auth/login",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    report.expect("POST /v1/auth/login after deletion (401)", &gone, 401);

    if let Ok(table) = std::env::var("TABLE_NAME")
        && args.local_admin
    {
        let left = within(wait, || async {
            let left = items_of(&table, &user_id, &email).await?;
            Ok(left.is_empty().then_some(()))
        })
        .await?;
        if left.is_some() {
            println!(
                "ok    {:<44} none",
                "items of the account left in the table"
            );
        } else {
            let left = items_of(&table, &user_id, &email).await?;
            report.fail(
                "items of the account left in the table",
                &format!("{left:?}"),
            );
        }
    }
    Ok(())
}

/// Uploads `file` with the presigned POST `upload` as a browser's form does: `multipart/form-data`,
/// every field of `upload.fields`, then the file last, as `file`. S3 answers 204.
async fn upload_as_browser(
    s3: &reqwest::Client,
    report: &mut Report,
    upload: &serde_json::Value,
    file: &[u8],
) -> Result<()> {
    let (content_type, form) = infra::traffic::browser_form(upload, "smoke.pdf", file);
    let posted = s3
        .post(upload["url"].as_str().unwrap_or_default())
        .header("content-type", content_type)
        .body(form)
        .send()
        .await?;
    if posted.status().as_u16() == 204 {
        println!("ok    {:<44} 204", "POST <bucket> (the browser's upload)");
    } else {
        let status = posted.status();
        report.fail(
            "POST <bucket> (the browser's upload)",
            &format!("{status}: {}", posted.text().await.unwrap_or_default()),
        );
    }
    Ok(())
}

/// A property's document: added, uploaded to the bucket as a browser's form does (the
/// presigned POST's fields, then the file), checked by the documents worker within `wait`,
/// downloaded with its link, deleted — then the property (an account with one cannot end).
async fn documents(
    client: &Client,
    report: &mut Report,
    wait: Duration,
    access: &str,
    run: &str,
) -> Result<()> {
    let property = client
        .post(
            "create property",
            "/v1/properties",
            Some(access),
            &json!({
                "fileNumber": format!("SMOKE-{}", &run[run.len() - 10..]).to_uppercase(),
                "kind": "land",
                "address": {"line1": "1 Smoke Lane", "city": "Testville", "postalCode": "00000", "country": "US"}
            }),
        )
        .await?;
    if !report.expect("POST /v1/properties", &property, 201) {
        return Ok(());
    }
    let property = property.str("/id").unwrap_or_default();
    let file = format!("%PDF-1.7\n% smoke {run}\n%%EOF\n").into_bytes();
    let added = client
        .post(
            "add document",
            &format!("/v1/properties/{property}/documents"),
            Some(access),
            &json!({"name": "smoke.pdf", "contentType": "application/pdf", "size": file.len()}),
        )
        .await?;
    if report.expect("POST /v1/properties/{id}/documents", &added, 201) {
        let id = added.str("/document/id").unwrap_or_default();
        let s3 = infra::http_client().build()?;
        upload_as_browser(&s3, report, &added.body["upload"], &file).await?;
        let path = format!("/v1/documents/{id}");
        let ready = within(wait, || async {
            let document = client.get("get document", &path, Some(access)).await?;
            Ok((document.body["document"]["status"] == "ready").then_some(document))
        })
        .await?;
        match ready {
            Some(document) => {
                Report::ok("GET /v1/documents/{id}: ready", &document);
                let link = document.body["download"]["url"]
                    .as_str()
                    .unwrap_or_default();
                let got = s3.get(link).send().await?;
                let same =
                    got.status().as_u16() == 200 && got.bytes().await?.as_ref() == file.as_slice();
                if same {
                    println!("ok    {:<44} 200", "GET <download link> (the same bytes)");
                } else {
                    report.fail("GET <download link>", "not the uploaded file");
                }
            }
            None => report.fail(
                "GET /v1/documents/{id}: ready",
                &format!("the upload was not checked within {wait:?}"),
            ),
        }
        let deleted = client
            .call(
                "delete document",
                Method::DELETE,
                &path,
                Some(access),
                &[],
                None,
            )
            .await?;
        report.expect("DELETE /v1/documents/{id}", &deleted, 204);
    }
    let gone = client
        .call(
            "delete property",
            Method::DELETE,
            &format!("/v1/properties/{property}"),
            Some(access),
            &[],
            None,
        )
        .await?;
    report.expect("DELETE /v1/properties/{id}", &gone, 204);
    Ok(())
}

/// The local stack only: a Google-shaped ID token from the endpoint's stand-in issuer makes an
/// account, which is deleted again (nothing left behind).
async fn provider_sign_in(
    client: &Client,
    report: &mut Report,
    endpoint: &str,
    run: &str,
    args: &Args,
) -> Result<()> {
    let nonce = format!("smoke-nonce-{run}");
    let email = args.address(&format!("smoke-google-{run}"));
    let minted: serde_json::Value = infra::http_client()
        .build()?
        .post(format!("{endpoint}/_ferrite/oidc/google/token"))
        .json(&json!({"claims": {"sub": format!("smoke-{run}"), "email": email, "nonce": nonce}}))
        .send()
        .await?
        .json()
        .await?;
    let signed_in = client
        .post(
            "provider sign-in",
            "/v1/auth/oidc/google",
            None,
            &json!({"idToken": minted["idToken"], "nonce": nonce}),
        )
        .await?;
    if !report.expect("POST /v1/auth/oidc/google (a new account)", &signed_in, 200) {
        return Ok(());
    }
    let access = signed_in.str("/accessToken").unwrap_or_default();
    linked_identities(client, report, endpoint, run, &access).await?;
    // No password: the sign-in moments ago stands for it.
    let deleted = client
        .call(
            "delete the provider's account",
            Method::DELETE,
            "/v1/users/me",
            Some(&access),
            &[],
            Some(&json!({})),
        )
        .await?;
    report.expect(
        "DELETE /v1/users/me (no password: a recent sign-in)",
        &deleted,
        204,
    );
    Ok(())
}

/// The provider account links Apple too (a recent sign-in stands for the password), lists both
/// and unlinks Google (Apple stays a way in).
async fn linked_identities(
    client: &Client,
    report: &mut Report,
    endpoint: &str,
    run: &str,
    access: &str,
) -> Result<()> {
    let nonce = format!("smoke-link-nonce-{run}");
    let minted: serde_json::Value = infra::http_client()
        .build()?
        .post(format!("{endpoint}/_ferrite/oidc/apple/token"))
        .json(&json!({"claims": {"sub": format!("smoke-{run}"), "nonce": nonce}}))
        .send()
        .await?
        .json()
        .await?;
    let linked = client
        .call(
            "link Apple",
            Method::POST,
            "/v1/users/me/identities/apple",
            Some(access),
            &[],
            Some(&json!({"idToken": minted["idToken"], "nonce": nonce})),
        )
        .await?;
    if !report.expect("POST /v1/users/me/identities/apple", &linked, 201) {
        return Ok(());
    }
    let listed = client
        .call(
            "list my identities",
            Method::GET,
            "/v1/users/me/identities",
            Some(access),
            &[],
            None,
        )
        .await?;
    report.expect("GET /v1/users/me/identities", &listed, 200);
    let unlinked = client
        .call(
            "unlink Google",
            Method::DELETE,
            "/v1/users/me/identities/google",
            Some(access),
            &[],
            Some(&json!({})),
        )
        .await?;
    report.expect("DELETE /v1/users/me/identities/google", &unlinked, 204);
    Ok(())
}

/// Signs in without the password: a link mailed to `email`, opened (`amr` `["email"]`).
async fn mailed_sign_in(
    client: &Client,
    report: &mut Report,
    wait: Duration,
    email: &str,
) -> Result<()> {
    let step = "sign in by mailed link";
    let asked = client
        .post(
            "ask for a sign-in link",
            "/v1/auth/magic-link",
            None,
            &json!({ "email": email }),
        )
        .await?;
    if !report.expect("POST /v1/auth/magic-link", &asked, 202) {
        return Ok(());
    }
    let Some(token) = mailed_token(client, wait, email, "sign-in link").await? else {
        report.fail(step, &format!("no sign-in mail within {wait:?}"));
        return Ok(());
    };
    let signed_in = client
        .post(
            "sign in with the link",
            "/v1/auth/magic-link/verify",
            None,
            &json!({ "token": token }),
        )
        .await?;
    report.expect("POST /v1/auth/magic-link/verify", &signed_in, 200);
    Ok(())
}

/// The link token of the first mail to `to` whose subject says `subject`, once it arrives
/// within `wait`.
async fn mailed_token(
    client: &Client,
    wait: Duration,
    to: &str,
    subject: &str,
) -> Result<Option<String>> {
    let mail = within(wait, || async {
        Ok(client
            .mail_to(to)
            .await?
            .into_iter()
            .find(|(s, _)| s.contains(subject)))
    })
    .await?;
    Ok(mail.and_then(|(_, body)| infra::traffic::link_token(&body)))
}

/// Moves the signed-in account to `moved` through the link mailed there: whether it moved.
async fn change_address(
    client: &Client,
    report: &mut Report,
    wait: Duration,
    access: &str,
    moved: &str,
) -> Result<bool> {
    let step = "POST /v1/users/me/email, confirmed by the mailed link";
    let asked = client
        .post(
            "change email",
            "/v1/users/me/email",
            Some(access),
            &json!({"newEmail": moved, "password": PASSWORD}),
        )
        .await?;
    if !report.expect("POST /v1/users/me/email", &asked, 202) {
        return Ok(false);
    }
    let Some(token) = mailed_token(client, wait, moved, "Confirm your new").await? else {
        report.fail(step, &format!("no confirmation mail within {wait:?}"));
        return Ok(false);
    };
    let confirmed = client
        .post(
            "confirm email change",
            "/v1/auth/email/change/confirm",
            None,
            &json!({"token": token}),
        )
        .await?;
    if !report.expect(step, &confirmed, 204) {
        return Ok(false);
    }
    let me = client.get("me", "/v1/users/me", Some(access)).await?;
    if me.body["email"] != moved {
        report.fail(
            step,
            &format!("the account's address is {}", me.body["email"]),
        );
        return Ok(false);
    }
    Ok(true)
}

/// The keys of the items that still belong to the account (its profile, claims, sessions,
/// posts, links).
async fn items_of(table: &str, user_id: &str, email: &str) -> Result<Vec<String>> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL")?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&infra::local_sdk_config(&endpoint).await);
    let mut left = Vec::new();
    for item in infra::table::scan(&dynamodb, table, |scan| scan).await? {
        let text = |name: &str| infra::table::text(&item, name);
        let (pk, sk) = (text("pk"), text("sk"));
        // History and limits, not the account: audit entries, the outbox's day-long events,
        // email send claims, throttle counters (they expire with their window, and must outlive
        // the account so that deleting it resets no limit).
        let history = pk.starts_with("AUDIT#")
            || pk.starts_with("OUTBOX#")
            || pk.starts_with("THROTTLE#")
            || (pk.starts_with("EMAIL#") && !pk.contains('@'));
        if history {
            continue;
        }
        let mentions = [&pk, &sk, &text("gsi1pk"), &text("authorId")]
            .iter()
            .any(|v| v.contains(user_id))
            || pk == format!("EMAIL#{email}");
        if mentions {
            left.push(format!("{pk} / {sk}"));
        }
    }
    Ok(left)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    println!("smoke: {}", args.api);
    let mut report = Report::default();
    match journey(&args, &mut report).await {
        Ok(()) if report.failed.is_empty() => {
            println!("smoke passed");
            std::process::ExitCode::SUCCESS
        }
        Ok(()) => {
            println!("smoke FAILED: {}", report.failed.join("; "));
            std::process::ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("ferrite-smoke: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_a_deployed_stack_the_smoke_accounts_mail_the_ses_mailbox_simulator_unless_told_otherwise()
     {
        // SES: "Using the mailbox simulator" — mail to example.com bounces and counts against
        // the account's reputation; the simulator's `success` address never does.
        let args = Args::parse_from(["ferrite-smoke", "--api", "https://api.example.net"]);
        assert_eq!(
            args.address("smoke-1"),
            "success+smoke-1@simulator.amazonses.com"
        );
        let args = Args::parse_from([
            "ferrite-smoke",
            "--api",
            "https://api.example.net",
            "--domain",
            "qa.example.org",
        ]);
        assert_eq!(args.address("smoke-1"), "smoke-1@qa.example.org");
    }
}
