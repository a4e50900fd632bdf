#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-soak` (`make soak`): the whole local stack under a bounded mixed workload, then the
//! pipeline's promises checked end to end.
//!
//! Virtual users register, sign in, refresh, read and edit their profile, write, publish, read
//! and delete posts, reset and change passwords and delete their accounts, with some refused
//! writes among them (stale `If-Match`, duplicate registrations, wrong passwords). The last fifth
//! of the run is reads and refused writes only: the endpoint's memory must not grow there. A
//! prober measures the delivery delay (change → audit entry, request → mail) throughout.
//!
//! Then, once the pipeline has drained (bounded by the template's delivery bound): every
//! committed outbox event has exactly one audit entry and no audit entry lacks its event; every
//! email an event asked for was sent exactly once; the queues and dead-letter queues are empty;
//! no pump restarted without resuming from its checkpoint; no request got a 5xx.
//!
//! Runs under `ferrite-local exec --api` (the Makefile does), which exports the stack's URLs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use clap::Parser;
use infra::traffic::{self, Client, PASSWORD, Rng};
use reqwest::Method;
use serde_json::{Value as Json, json};

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-soak",
    about = "A bounded mixed workload, then the pipeline's promises checked"
)]
struct Args {
    /// How long the workload runs, in seconds.
    #[arg(long, env = "SOAK_SECS", default_value_t = 600)]
    secs: u64,
    /// Virtual users sending requests back to back.
    #[arg(long, env = "SOAK_USERS", default_value_t = 6)]
    users: u64,
    #[arg(long, env = "FERRITE_API_URL")]
    api: String,
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: String,
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    #[arg(long, env = "FERRITE_PUMPS_STATUS")]
    pumps: std::path::PathBuf,
    #[arg(long, default_value_t = 11)]
    seed: u64,
}

/// A signed-in account of a virtual user.
#[derive(Debug, Clone)]
struct Account {
    email: String,
    access: String,
    refresh: String,
    password: String,
    posts: Vec<String>,
    reset_done: bool,
}

/// Shared by the virtual users: the clock, the wrong-password budget (failed sign-ins are also
/// throttled per source address, and all of this traffic comes from 127.0.0.1).
struct Shared {
    client: Client,
    run: String,
    deadline: Instant,
    mixed_until: Instant,
    wrong_passwords: AtomicU64,
    accounts: AtomicU64,
    mail_delays: std::sync::Mutex<Vec<Duration>>,
}

const MAX_WRONG_PASSWORDS: u64 = 60;
const NEW_PASSWORDS: [&str; 2] = [
    "quiet lanterns over the harbour",
    "seven copper kettles singing",
];

impl Shared {
    async fn register(&self, rng: &mut Rng) -> Result<Option<Account>> {
        let n = self.accounts.fetch_add(1, Ordering::Relaxed);
        let email = format!("soak-{}-{n}@example.com", self.run);
        let name = format!("Soak {}", traffic::words(rng, 1)[0]);
        Ok(self
            .client
            .register(&email, &name)
            .await?
            .map(|(_, access, refresh)| Account {
                email,
                access,
                refresh,
                password: PASSWORD.to_owned(),
                posts: Vec::new(),
                reset_done: false,
            }))
    }

    async fn sign_in(&self, account: &mut Account) -> Result<()> {
        let answer = self
            .client
            .post(
                "login",
                "/v1/auth/login",
                None,
                &json!({"email": account.email, "password": account.password}),
            )
            .await?;
        if answer.status == 200 {
            account.access = answer.str("/accessToken").unwrap_or_default();
            account.refresh = answer.str("/refreshToken").unwrap_or_default();
        }
        Ok(())
    }

    /// The mail to `to` whose subject starts with `subject`, waited for up to `bound`.
    async fn mail(&self, to: &str, subject: &str, bound: Duration) -> Result<Option<String>> {
        let started = Instant::now();
        while started.elapsed() < bound {
            if let Some((_, body)) = self
                .client
                .mail_to(to)
                .await?
                .into_iter()
                .find(|(s, _)| s.starts_with(subject))
            {
                if let Ok(mut delays) = self.mail_delays.lock() {
                    delays.push(started.elapsed());
                }
                return Ok(Some(body));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(None)
    }
}

/// One step of a virtual user in the mixed phase.
#[allow(clippy::too_many_lines)] // a menu of steps reads best as one match
async fn mixed_step(
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
    let steps = [10, 10, 10, 8, 2, 12, 5, 12, 5, 6, 4, 3, 2, 1, 2, 1, 1];
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
        _ => {
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
async fn steady_step(shared: &Shared, rng: &mut Rng, account: &Account) -> Result<()> {
    let client = &shared.client;
    match rng.weighted(&[20, 30, 15, 10, 10, 8, 7]) {
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
        _ => {
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
    }
    Ok(())
}

async fn virtual_user(shared: Arc<Shared>, seed: u64, mail_bound: Duration) -> Result<()> {
    let mut rng = Rng::new(seed);
    let mut account: Option<Account> = None;
    while Instant::now() < shared.mixed_until {
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
    while Instant::now() < shared.deadline {
        steady_step(&shared, &mut rng, &account).await?;
    }
    Ok(())
}

/// Changes the prober's name every couple of seconds and waits for its audit entry.
async fn prober(shared: Arc<Shared>, admin: String, bound: Duration) -> Result<Vec<Duration>> {
    let client = &shared.client;
    let email = format!("prober-{}@example.com", shared.run);
    let (id, token, _) = client
        .register(&email, "Prober")
        .await?
        .context("the prober's account")?;
    let mut delays = Vec::new();
    let mut n = 0;
    while Instant::now() < shared.deadline {
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
async fn admin(shared: &Shared) -> Result<String> {
    let email = format!("soak-admin-{}@example.com", shared.run);
    shared
        .client
        .register(&email, "Soak Admin")
        .await?
        .context("the admin's account")?;
    let status =
        std::process::Command::new(std::env::current_exe()?.with_file_name("ferrite-admin"))
            .args(["grant-role", "--email", &email, "--role", "ADMIN"])
            .status()
            .context("running ferrite-admin")?;
    if !status.success() {
        bail!("ferrite-admin grant-role failed");
    }
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

/// What the table holds: outbox events (id -> recipient of its mail, if any) and audit entries
/// (event ids, with repeats).
struct Ledger {
    events: BTreeMap<String, Option<String>>,
    audited: Vec<String>,
}

async fn ledger(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Ledger> {
    let mut events = BTreeMap::new();
    let mut audited = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :outbox) OR begins_with(pk, :audit)")
            .expression_attribute_values(":outbox", AttributeValue::S("OUTBOX#".into()))
            .expression_attribute_values(":audit", AttributeValue::S("AUDIT#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning the table")?;
        for item in page.items() {
            let pk = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if let Some(id) = pk.strip_prefix("OUTBOX#") {
                let to = item
                    .get("event")
                    .and_then(|v| v.as_m().ok())
                    .and_then(|e| e.get("email"))
                    .and_then(|v| v.as_m().ok())
                    .and_then(|m| m.get("to"))
                    .and_then(|v| v.as_s().ok())
                    .cloned();
                events.insert(id.to_owned(), to);
            } else if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) {
                audited.push(sk.clone());
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(Ledger { events, audited })
}

/// The differences between what the table says happened and what the pipeline delivered.
async fn problems(
    shared: &Shared,
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let ledger = ledger(dynamodb, table).await?;
    let mut seen = BTreeSet::new();
    for id in &ledger.audited {
        if !seen.insert(id.clone()) {
            problems.push(format!("event {id} is audited twice"));
        }
        if !ledger.events.contains_key(id) {
            problems.push(format!("audit entry {id} has no committed event"));
        }
    }
    let missing = ledger
        .events
        .keys()
        .filter(|id| !seen.contains(*id))
        .count();
    if missing > 0 {
        problems.push(format!("{missing} committed events have no audit entry"));
    }
    let mut wanted: BTreeMap<String, u64> = BTreeMap::new();
    for to in ledger.events.values().flatten() {
        *wanted.entry(to.clone()).or_default() += 1;
    }
    let sent = shared.client.mail_counts().await?;
    for (to, count) in &wanted {
        let got = sent.get(to).copied().unwrap_or_default();
        if got != *count {
            problems.push(format!("{to}: {count} mails asked for, {got} sent"));
        }
    }
    for (to, got) in &sent {
        if !wanted.contains_key(to) {
            problems.push(format!("{to}: {got} mails sent that no event asked for"));
        }
    }
    for variable in [
        "AUDIT_QUEUE_URL",
        "EMAIL_QUEUE_URL",
        "AUDIT_DEAD_LETTER_QUEUE_URL",
        "EMAIL_DEAD_LETTER_QUEUE_URL",
    ] {
        let url = std::env::var(variable).with_context(|| format!("{variable} is not set"))?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await?;
        let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_default()
        };
        let held = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        if held > 0 {
            problems.push(format!("{variable}: {held} messages left"));
        }
    }
    Ok(problems)
}

fn mib(bytes: f64) -> String {
    format!("{bytes:.0} MiB")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("ferrite-soak: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_lines)] // the run, its checks and its report, in order
async fn run(args: Args) -> Result<bool> {
    let template = infra::template::Template::load(&infra::template_path())?;
    let mut ctx = infra::template::Context::local("soak", infra::LOCAL_REGION);
    for resource in template.resources() {
        ctx.refs.insert(
            resource.logical_id.to_owned(),
            resource.logical_id.to_owned(),
        );
    }
    for (name, definition) in template.parameters() {
        if definition.get("Default").is_none() {
            ctx.parameters.insert(name.to_owned(), "x".repeat(32));
        }
    }
    let audit_bound = infra::pumps::delivery_bound(&template, &ctx, "AuditQueue")?;
    let mail_bound = infra::pumps::delivery_bound(&template, &ctx, "EmailQueue")?;

    let client = Client::new(&args.api, &args.endpoint)?;
    let started = Instant::now();
    let total = Duration::from_secs(args.secs);
    let shared = Arc::new(Shared {
        client: client.clone(),
        run: ulid::Ulid::new().to_string().to_lowercase(),
        deadline: started + total,
        mixed_until: started + total * 4 / 5,
        wrong_passwords: AtomicU64::new(0),
        accounts: AtomicU64::new(0),
        mail_delays: std::sync::Mutex::default(),
    });
    let admin_token = admin(&shared).await?;
    println!(
        "soak: {} virtual users for {}s (mixed {}s, then reads and refused writes); delivery bound {audit_bound:?}",
        args.users,
        args.secs,
        args.secs * 4 / 5
    );

    let memory = {
        let (shared, client) = (shared.clone(), client.clone());
        tokio::spawn(async move {
            let mut samples: Vec<(Duration, f64, bool)> = Vec::new();
            while Instant::now() < shared.deadline + Duration::from_secs(1) {
                if let Ok(status) = client.endpoint_status().await {
                    samples.push((
                        started.elapsed(),
                        status["rssBytes"].as_f64().unwrap_or_default() / 1_048_576.0,
                        Instant::now() < shared.mixed_until,
                    ));
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            samples
        })
    };
    let probe = tokio::spawn(prober(shared.clone(), admin_token.clone(), audit_bound));
    let mut users = tokio::task::JoinSet::new();
    for n in 0..args.users {
        users.spawn(virtual_user(
            shared.clone(),
            args.seed.wrapping_mul(1_000_003).wrapping_add(n),
            mail_bound,
        ));
    }
    let mut failures: Vec<String> = Vec::new();
    while let Some(done) = users.join_next().await {
        if let Err(error) = done.context("a virtual user panicked").and_then(|r| r) {
            failures.push(format!("a virtual user stopped: {error:#}"));
        }
    }
    let audit_delays = match probe.await.context("the prober panicked").and_then(|r| r) {
        Ok(delays) => delays,
        Err(error) => {
            failures.push(format!("the prober stopped: {error:#}"));
            Vec::new()
        }
    };
    let samples = memory.await.unwrap_or_default();
    let load_secs = started.elapsed().as_secs_f64();

    // Drain: the pipeline settles within the template's delivery bound, or something was lost.
    let sdk = infra::local_sdk_config(&args.endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let drain_started = Instant::now();
    let mut pending;
    loop {
        pending = problems(&shared, &dynamodb, &sqs, &args.table).await?;
        if pending.is_empty() || drain_started.elapsed() > audit_bound.max(mail_bound) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let drained = drain_started.elapsed();
    failures.extend(pending);

    let pumps: Json =
        serde_json::from_str(&std::fs::read_to_string(&args.pumps).context("the pumps' status")?)?;
    for (name, report) in pumps.as_object().into_iter().flatten() {
        let restarts = report["restarts"].as_u64().unwrap_or_default();
        let resumed = report["resumed"].as_u64().unwrap_or_default();
        let skipped = report["skipped"].as_u64().unwrap_or_default();
        if skipped > 0 || resumed < restarts {
            failures.push(format!("{name}: {restarts} restarts, {resumed} resumed from the checkpoint, {skipped} skipped records"));
        }
    }
    let server_errors = client.tally.server_errors();
    if server_errors > 0 {
        failures.push(format!("{server_errors} answers were 5xx"));
    }

    // The report.
    let ledger = ledger(&dynamodb, &args.table).await?;
    let mails: u64 = client.mail_counts().await?.values().sum();
    let requests = client.tally.total();
    println!(
        "\n== soak: {requests} requests in {load_secs:.0}s ({:.1}/s), {server_errors} 5xx",
        f64::from(u32::try_from(requests).unwrap_or(u32::MAX)) / load_secs
    );
    let mut by_operation: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    for ((operation, status), count) in client.tally.statuses() {
        by_operation
            .entry(operation)
            .or_default()
            .insert(status, count);
    }
    for (operation, statuses) in &by_operation {
        let counts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!(
            "  {operation:<30} {:<24} {}",
            counts.join(" "),
            traffic::summary(&client.tally.latencies(operation))
        );
    }
    println!(
        "events: {} committed, {} audit entries, {} mails asked for, {mails} sent; drained {drained:.1?} after the load",
        ledger.events.len(),
        ledger.audited.len(),
        ledger.events.values().flatten().count(),
    );
    println!(
        "delivery, change -> audit entry visible:   {}",
        traffic::summary(&audit_delays)
    );
    let mail_delays = shared
        .mail_delays
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    println!(
        "delivery, reset request -> mail accepted:  {}",
        traffic::summary(&mail_delays)
    );
    let tables = client.tables().await?;
    if let Some(table) = tables["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == args.table.as_str())
    {
        println!(
            "table: {} items, {} stream records",
            table["items"], table["streamRecords"]
        );
    }
    for (name, report) in pumps.as_object().into_iter().flatten() {
        println!(
            "  {name:<28} delivered {:>6}  restarts {}  resumed {}",
            report["delivered"], report["restarts"], report["resumed"]
        );
    }
    let first = samples.first().map(|s| s.1).unwrap_or_default();
    let mixed_end = samples
        .iter()
        .filter(|s| s.2)
        .map(|s| s.1)
        .next_back()
        .unwrap_or(first);
    let last = samples.last().map(|s| s.1).unwrap_or_default();
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    println!(
        "endpoint memory: {} at start, {} after the mixed phase, {} at the end (peak {}); reads-only phase: {:+.1} MiB",
        mib(first),
        mib(mixed_end),
        mib(last),
        mib(peak),
        last - mixed_end
    );
    // Python returns little memory to the system; a leak grows steadily. The reads-and-refused-
    // writes phase adds no data, so its growth is the leak (moto's copies grew by gigabytes).
    if last - mixed_end > 32.0 {
        failures.push(format!(
            "the endpoint grew {:.0} MiB while only reading",
            last - mixed_end
        ));
    }
    if failures.is_empty() {
        println!(
            "\nsoak passed: every committed event audited once, every mail sent once, queues and dead-letter queues empty, pumps never skipped, no 5xx"
        );
        Ok(true)
    } else {
        println!("\nsoak FAILED:");
        for failure in &failures {
            println!("  - {failure}");
        }
        Ok(false)
    }
}
