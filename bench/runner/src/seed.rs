//! What the measured requests read: a user, a signed-in session, more posts and properties than
//! one page holds (so the first page of a listing issues a cursor and its function reads the
//! cursor key), all made through the shared code.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_json::json;
use shared::posts::{Markdown, Tags, Title};
use shared::properties::{FileNumber, NewProperty, PropertyKind};
use shared::store::PageRequest;
use shared::validate::{DisplayName, Email, Password, RequestValue as _};

/// The bench user's password (a strong one: registration checks).
pub(crate) const PASSWORD: &str = "violet anchor drifts north";

/// What the events of the measured requests name.
pub(crate) struct Seeded {
    /// The account the login runs sign in to: its own, because every sign-in adds a session
    /// and the cap on sessions evicts the oldest (the reader's would stop working).
    pub(crate) login_email: String,
    pub(crate) user_id: String,
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) post_id: String,
}

fn anyhow_api(error: &shared::ApiError) -> anyhow::Error {
    anyhow!("{}", shared::error::cause_chain(error))
}

async fn register(state: &shared::State, email: &str) -> Result<shared::accounts::Session> {
    let registered = shared::accounts::register(
        state,
        shared::accounts::Registration {
            email: Email::parse(email).map_err(|e| anyhow!("{e}"))?,
            name: DisplayName::parse("Bench").map_err(|e| anyhow!("{e}"))?,
            password: Password::parse(PASSWORD).map_err(|e| anyhow!("{e}"))?,
        },
        &shared::accounts::Client::new("127.0.0.1", None),
    )
    .await
    .map_err(|e| anyhow_api(&e))?;
    let shared::accounts::Registered::SignedIn(session) = registered.value else {
        bail!("the bench stack registers in `conflict` mode (the template's default)");
    };
    Ok(*session)
}

pub(crate) async fn seed(env: &BTreeMap<String, String>) -> Result<Seeded> {
    let mut config = shared::config::Config::from_lookup(|k| env.get(k).cloned())?;
    // The seeding state is given its keys directly (the functions read theirs on first use).
    config.cursor_secret = Some(shared::config::cursor_key(
        "bench-seeding-does-not-issue-cursors".repeat(2),
        "CURSOR_SECRET",
    )?);
    let mut state = shared::State::from_config(config, shared::clock::Clock::System)?;
    let keys_path = infra::workspace_root().join(".local/secrets/jwt-signing-keys.json");
    let keys = shared::auth::keys::KeySet::parse(&std::fs::read_to_string(&keys_path)?)?;
    state.auth.set_signer(keys.signing_key()?);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let email = format!("bench-{run}@example.com");
    let session = register(&state, &email).await?;
    let login_email = format!("bench-login-{run}@example.com");
    register(&state, &login_email).await?;
    let me = shared::accounts::Principal {
        user: shared::accounts::find_user(&state.store, session.user.id)
            .await
            .map_err(|e| anyhow!("{e}"))?
            .ok_or_else(|| anyhow!("user"))?,
        session_id: String::new(),
        authenticated_at: None,
        second_factor_at: None,
    };
    // One page and one more of each listing: the first page ends with a cursor.
    let one_more_than_a_page = usize::from(PageRequest::DEFAULT_LIMIT) + 1;
    let mut post_id = String::new();
    for i in 0..one_more_than_a_page {
        let post = shared::posts::create(
            &state,
            &me,
            shared::posts::NewPost {
                title: Title::from_raw(format!("Bench {i}")).map_err(|e| anyhow!("{e}"))?,
                body: Markdown::from_raw("b".repeat(2000)).map_err(|e| anyhow!("{e}"))?,
                tags: Tags::from_raw(vec!["bench".into()]).map_err(|e| anyhow!("{e}"))?,
                status: shared::posts::PostStatus::Published,
            },
            None,
        )
        .await
        .map_err(|e| anyhow_api(&e))?;
        post_id = post.value.id.to_string();
    }
    for i in 0..one_more_than_a_page {
        shared::properties::create(
            &state,
            &me,
            NewProperty {
                file_number: FileNumber::parse(&format!("B-{}/{i}", &run[16..]))
                    .map_err(|e| anyhow!("{e}"))?,
                address: serde_json::from_value(json!({
                    "line1": format!("{i} Bench Street"),
                    "city": "Lisbon",
                    "postalCode": "1100-001",
                    "country": "PT",
                }))?,
                kind: PropertyKind::Residential,
            },
        )
        .await
        .map_err(|e| anyhow_api(&e))?;
    }
    // A second session, whose refresh token the refresh function's runs exchange in a chain.
    let signed_in = shared::accounts::login(
        &state,
        &email,
        PASSWORD,
        &shared::accounts::Client::new("127.0.0.1", None),
    )
    .await
    .map_err(|e| anyhow_api(&e))?;
    Ok(Seeded {
        login_email,
        user_id: session.user.id.to_string(),
        access_token: session.tokens.access_token.clone(),
        refresh_token: signed_in.tokens.refresh_token,
        post_id,
    })
}
