#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-admin`: operator commands, against the local stack or AWS.
//!
//! - `grant-role --email a@b.c --role ADMIN` — the documented way to create the first admin
//!   (needs `TABLE_NAME`; `AWS_ENDPOINT_URL` for the local stack).
//! - `keys ensure|rotate|public --secret-id NAME` — the Ed25519 signing keys in Secrets Manager:
//!   `ensure` creates them if absent; all three print the `JwtPublicKeys` parameter value.
//!
//! - `backfill-feed-months` — records the months of feeds written before the feeds' month
//!   index existed (run once after upgrading a deployed stack; idempotent).
//!
//! Credentials come from the usual AWS chain (environment, profile, SSO cache, instance role).

use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow};
use clap::{Parser, Subcommand};
use shared::auth::Role;
use shared::auth::keys::KeySet;
use shared::clock::Clock;
use shared::config::Config;
use shared::validate::Email;

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-admin",
    about = "Ferrite operator commands (local stack or AWS)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Give a role (USER, MODERATOR, ADMIN) to the account of an email address.
    GrantRole {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "ADMIN")]
        role: String,
        /// The table (default: `TABLE_NAME`).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
    },
    /// Record the month index of feeds written before it existed (once, after upgrading).
    BackfillFeedMonths {
        /// The table (default: `TABLE_NAME`).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
    },
    /// Manage the access-token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysCmd,
        /// The Secrets Manager secret holding the key set.
        #[arg(long, global = true, default_value = "ferrite/jwt-signing-keys")]
        secret_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Create the secret with a fresh key if it does not exist; print the public keys.
    Ensure,
    /// Put a fresh signing key first, keep the previous one for verification; print the public keys.
    Rotate,
    /// Print the public keys (`JwtPublicKeys`).
    Public,
}

/// The operator's credential chain (environment, profiles, SSO, `credential_process`), with the
/// system trust store.
async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::http_client(shared::aws::Roots::System))
        .load()
        .await
}

async fn read_keys(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Option<KeySet>> {
    match client.get_secret_value().secret_id(secret_id).send().await {
        Ok(secret) => {
            let text = secret.secret_string().ok_or_else(|| anyhow!("{secret_id} has no string value"))?;
            Ok(Some(KeySet::parse(text)?))
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError::is_resource_not_found_exception) =>
        {
            Ok(None)
        }
        Err(error) => Err(anyhow::Error::new(error).context(format!("reading {secret_id}"))),
    }
}

async fn keys(action: &KeysCmd, secret_id: &str) -> Result<()> {
    let client = aws_sdk_secretsmanager::Client::new(&sdk().await);
    let existing = read_keys(&client, secret_id).await?;
    let keys = match (action, existing) {
        (KeysCmd::Public, None) => {
            return Err(anyhow!("{secret_id} does not exist: run `keys ensure`"));
        }
        (KeysCmd::Public | KeysCmd::Ensure, Some(keys)) => keys,
        (KeysCmd::Ensure, None) => {
            let keys = KeySet::generate()?;
            infra::stack::store_key_set(&client, secret_id, &keys).await?;
            eprintln!("created {secret_id}");
            keys
        }
        (KeysCmd::Rotate, existing) => {
            let mut keys = existing.map_or_else(KeySet::generate, Ok)?;
            keys.rotate()?;
            infra::stack::store_key_set(&client, secret_id, &keys).await?;
            eprintln!(
                "rotated {secret_id}: deploy with the new JwtPublicKeys, then new tokens use {}",
                keys.keys[0].kid
            );
            keys
        }
    };
    println!("{}", keys.public_keys()?);
    Ok(())
}

/// The shared state over `table`, with the operator's credentials.
async fn state_for(table: &str) -> Result<shared::State> {
    let sdk = sdk().await;
    let region = sdk
        .region()
        .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
    let config = Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.to_owned()),
        "AWS_REGION" => Some(region.clone()),
        // Unused by these commands, required by the shared configuration.
        "CURSOR_SECRET" => Some("ferrite-admin-does-not-paginate-anything".to_owned()),
        other => std::env::var(other).ok(),
    })?;
    Ok(shared::State::from_sdk(config, sdk, Clock::System)?)
}

async fn grant_role(email: &str, role: &str, table: &str) -> Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("--email {e}"))?;
    let role: Role = serde_json::from_value(serde_json::Value::String(role.to_uppercase()))
        .map_err(|_| anyhow!("--role must be USER, MODERATOR or ADMIN"))?;
    let state = state_for(table).await?;
    let user = shared::accounts::grant_role(&state, &email, role)
        .await
        .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))
        .context("granting the role")?;
    println!(
        "{} ({}) now has roles {:?}",
        user.email, user.id, user.roles
    );
    Ok(())
}

async fn backfill_feed_months(table: &str) -> Result<()> {
    let state = state_for(table).await?;
    let months = shared::posts::backfill_feed_months(&state.store)
        .await
        .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))
        .context("recording the feeds' months")?;
    println!("recorded {months} feed months");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::GrantRole { email, role, table } => grant_role(email, role, table).await,
        Cmd::Keys { action, secret_id } => keys(action, secret_id).await,
        Cmd::BackfillFeedMonths { table } => backfill_feed_months(table).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrite-admin: {error:#}");
            ExitCode::FAILURE
        }
    }
}
