#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-seed` (`make seed N=…`): loads a realistic data set into a running local stack
//! through its HTTP API — users, then posts (80 % published, 1–3 tags drawn from a Zipf-like
//! vocabulary, bodies of 200–2,000 characters), then registry properties (one per ten posts, in
//! a handful of cities, 1–6 units each, a third of the units leased to other seeded users, each lease with six months of rent
//! charged and five paid) —
//! and then measures what a developer feels: registration, feed-page and property-list latency,
//! the table's size and the endpoint's memory.
//!
//! `--measure-only` skips the load (to compare an empty stack with a seeded one).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Parser;
use infra::traffic::{self, Client, Rng};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-seed",
    about = "Load a realistic data set into the local stack, then measure it"
)]
struct Args {
    /// Posts to create.
    #[arg(long, default_value_t = 1000)]
    posts: u64,
    /// Registry properties to create (default: one per ten posts).
    #[arg(long)]
    properties: Option<u64>,
    /// Accounts to create (default: one per 25 posts, at least 5).
    #[arg(long)]
    users: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: u64,
    /// Registrations and feed pages timed at the end.
    #[arg(long, default_value_t = 30)]
    samples: u64,
    /// Only measure.
    #[arg(long)]
    measure_only: bool,
    #[arg(long, env = "FERRITE_API_URL", default_value = "http://127.0.0.1:3000")]
    api: String,
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    endpoint: String,
    #[arg(long, env = "TABLE_NAME", default_value = "ferrite-local-table")]
    table: String,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

async fn load(client: &Client, args: &Args) -> Result<()> {
    let users = args.users.unwrap_or((args.posts / 25).max(5));
    let properties = args.properties.unwrap_or(args.posts / 10);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..args.concurrency {
        let client = client.clone();
        let run = run.clone();
        let (mine, posts) = (
            (worker..users)
                .step_by(usize::try_from(args.concurrency)?)
                .collect::<Vec<_>>(),
            args.posts / args.concurrency + u64::from(worker < args.posts % args.concurrency),
        );
        let places =
            properties / args.concurrency + u64::from(worker < properties % args.concurrency);
        let mut rng = Rng::new(args.seed.wrapping_mul(31).wrapping_add(worker));
        tasks.spawn(async move {
            let mut tokens = Vec::new();
            for n in mine {
                let email = format!("seed-{run}-{n}@example.com");
                let name = format!("Seeded {}", traffic::words(&mut rng, 1)[0]);
                // Each user registers from its own loopback address (the per-IP limit).
                if let Some((id, access, _)) =
                    client.as_client_number(n).register(&email, &name).await?
                {
                    tokens.push((id, access));
                }
            }
            for _ in 0..posts {
                let Some((_, token)) = (!tokens.is_empty()).then(|| {
                    tokens[usize::try_from(rng.below(tokens.len() as u64)).unwrap_or(0)].clone()
                }) else {
                    break;
                };
                seed_post(&client, &mut rng, &token).await?;
            }
            for n in 0..places {
                if tokens.len() < 2 {
                    break;
                }
                let pick =
                    |rng: &mut Rng| usize::try_from(rng.below(tokens.len() as u64)).unwrap_or(0);
                let owner = pick(&mut rng);
                seed_property(
                    &client,
                    &mut rng,
                    &format!("{}-{worker}-{n}", &run[18..]),
                    &tokens,
                    owner,
                )
                .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    println!(
        "seeded {users} users, {} posts and {properties} properties in {:.1}s ({} requests, {} 5xx)",
        args.posts,
        started.elapsed().as_secs_f64(),
        client.tally.total(),
        client.tally.server_errors()
    );
    Ok(())
}

/// One post of `token`'s author: 80 % published, 1–3 tags, a body of 200–2,000 characters.
async fn seed_post(client: &Client, rng: &mut Rng, token: &str) -> Result<()> {
    let title = traffic::words(rng, 4).join(" ");
    let tags: Vec<&str> = {
        let count = 1 + usize::try_from(rng.below(3)).unwrap_or(0);
        let mut tags = traffic::words(rng, count);
        tags.sort_unstable();
        tags.dedup();
        tags
    };
    let length = 200 + rng.below(1800);
    let mut body = String::new();
    while (body.len() as u64) < length {
        body.push_str(traffic::words(rng, 1)[0]);
        body.push(' ');
    }
    let status = if rng.chance(80) { "published" } else { "draft" };
    let post = json!({"title": title, "body": body, "tags": tags, "status": status});
    // Retried on a 5xx (a function restarting under `make dev` after an edit) with
    // the same Idempotency-Key: never a duplicate post.
    let key = ulid::Ulid::new().to_string();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = client
            .call(
                "create post",
                reqwest::Method::POST,
                "/v1/posts",
                Some(token),
                &[("idempotency-key", &key)],
                Some(&post),
            )
            .await?;
        if answer.status >= 500 && attempt < 3 {
            continue;
        }
        traffic::expect(&answer, 201, "create post")?;
        break;
    }
    Ok(())
}

const CITIES: [(&str, &str); 5] = [
    ("Bristol", "GB"),
    ("Leeds", "GB"),
    ("Lyon", "FR"),
    ("Porto", "PT"),
    ("Berlin", "DE"),
];

/// One property of `tokens[owner]` with 1–6 units, a third of them leased to other users.
async fn seed_property(
    client: &Client,
    rng: &mut Rng,
    tag: &str,
    tokens: &[(String, String)],
    owner: usize,
) -> Result<()> {
    let token = &tokens[owner].1;
    let (city, country) = CITIES[usize::try_from(rng.below(CITIES.len() as u64)).unwrap_or(0)];
    let kinds = ["residential", "residential", "commercial", "mixed"];
    let created = client
        .post(
            "create property",
            "/v1/properties",
            Some(token),
            &json!({
                "fileNumber": format!("SEED-{}", tag.to_uppercase()),
                "kind": kinds[usize::try_from(rng.below(4)).unwrap_or(0)],
                "address": {"line1": format!("{} {} Street", 1 + rng.below(200), traffic::words(rng, 1)[0]), "city": city, "postalCode": "10115", "country": country}
            }),
        )
        .await?;
    traffic::expect(&created, 201, "create property")?;
    let id = created.str("/id").unwrap_or_default();
    for unit in 0..=rng.below(6).min(5) {
        let added = client
            .post(
                "add unit",
                &format!("/v1/properties/{id}/units"),
                Some(token),
                &json!({"label": format!("Unit {}", unit + 1), "floor": unit / 2, "bedrooms": 1 + rng.below(3), "areaM2": 30 + rng.below(90)}),
            )
            .await?;
        traffic::expect(&added, 201, "add unit")?;
        let tenant = usize::try_from(rng.below(tokens.len() as u64)).unwrap_or(0);
        if rng.chance(33) && tenant != owner {
            let leased = client
                .post(
                    "create lease",
                    "/v1/leases",
                    Some(token),
                    &json!({
                        "unitId": added.str("/id").unwrap_or_default(),
                        "tenantId": tokens[tenant].0,
                        "startDate": "2026-06-01",
                        "rent": {"amountMinor": 60_000 + rng.below(90_000), "currency": "EUR"}
                    }),
                )
                .await?;
            traffic::expect(&leased, 201, "create lease")?;
            // Its ledger: six months of rent, five of them paid.
            let lease = leased.str("/id").unwrap_or_default();
            let rent = leased.body["rent"]["amountMinor"].as_u64().unwrap_or(0);
            for month in 6..=11 {
                let charged = client
                    .post(
                        "post charge",
                        &format!("/v1/leases/{lease}/charges"),
                        Some(token),
                        &json!({"category": "rent", "amountMinor": rent, "currency": "EUR", "effectiveDate": format!("2026-{month:02}-01")}),
                    )
                    .await?;
                traffic::expect(&charged, 201, "post charge")?;
                if month < 11 {
                    let paid = client
                        .call(
                            "record payment",
                            reqwest::Method::POST,
                            &format!("/v1/leases/{lease}/payments"),
                            Some(token),
                            &[("idempotency-key", &format!("seed-{lease}-{month}"))],
                            Some(&json!({"amountMinor": rent, "currency": "EUR", "effectiveDate": format!("2026-{month:02}-03")})),
                        )
                        .await?;
                    traffic::expect(&paid, 201, "record payment")?;
                }
            }
        }
    }
    Ok(())
}

async fn measure(client: &Client, args: &Args) -> Result<()> {
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let mut registrations = Vec::new();
    let mut token = String::new();
    for n in 0..args.samples {
        let started = Instant::now();
        let created = client
            .as_client_number(1000 + n)
            .register(&format!("measure-{run}-{n}@example.com"), "Measured")
            .await?
            .context("a measured registration was refused")?;
        registrations.push(started.elapsed());
        token = created.1;
    }
    let mut feed = Vec::new();
    for _ in 0..args.samples {
        let answer = client
            .get("feed page", "/v1/posts?limit=20", Some(&token))
            .await?;
        traffic::expect(&answer, 200, "feed page")?;
        feed.push(answer.elapsed);
    }
    let mut places = Vec::new();
    for n in 0..args.samples {
        let (city, country) = CITIES[usize::try_from(n).unwrap_or(0) % CITIES.len()];
        let answer = client
            .get(
                "property list page",
                &format!("/v1/properties?country={country}&city={city}&limit=20"),
                Some(&token),
            )
            .await?;
        traffic::expect(&answer, 200, "property list page")?;
        places.push(answer.elapsed);
    }
    let items = client.item_count(&args.table).await?;
    let rss = client.endpoint_rss_mib().await?;
    println!(
        "table {}: {items} items; local endpoint resident memory {rss:.0} MiB",
        args.table
    );
    println!(
        "registration (through the gateway): {}",
        traffic::summary(&registrations)
    );
    println!(
        "feed page of 20:                     {}",
        traffic::summary(&feed)
    );
    println!(
        "property list page of 20 (a city):   {}",
        traffic::summary(&places)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let run = async {
        let client = Client::new(&args.api, &args.endpoint)?;
        if !args.measure_only {
            load(&client, &args).await?;
        }
        // The first call of a function pays its process start: not what is measured here.
        client.get("warm", "/v1/posts?limit=1", None).await?;
        let warm = format!(
            "warm-{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        client.as_client_number(999).register(&warm, "Warm").await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        measure(&client, &args).await
    };
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrite-seed: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
