#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-admin`: operator commands, against the local stack or AWS.
//!
//! - `grant-role --email a@b.c --role ADMIN` — the documented way to create the first admin
//!   (needs `TABLE_NAME`; `AWS_ENDPOINT_URL` for the local stack).
//! - `keys ensure|stage|promote|retire|parameters --secret-id NAME` — the Ed25519 signing keys
//!   in Secrets Manager: `ensure` creates them if absent; `stage`, `promote`, `retire` are the
//!   three steps of a rotation without a 401 (each followed by a deploy); each prints the
//!   deploy's key parameters, `JwtPublicKeys=… SigningKeyId=…`. `keys public` prints the
//!   `JwtPublicKeys` value alone.
//!
//! - `backfill-feed-months` — records the months of feeds written before the feeds' month
//!   index existed (run once after upgrading a deployed stack; idempotent).
//! - `backfill-rent-markers` — writes the due and end markers of leases made before recurring
//!   rent, so the daily rent run finds them (run once after upgrading; idempotent).
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
    /// The AWS region (default: the credential chain's, `AWS_REGION`): give the stack's, so
    /// that the keys and the stack are in one region.
    #[arg(long, global = true)]
    region: Option<String>,
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
    /// Write the rent run's markers of leases made before recurring rent (once, after upgrading).
    BackfillRentMarkers {
        /// The table (default: `TABLE_NAME`).
        #[arg(long, env = "TABLE_NAME")]
        table: String,
    },
    /// Manage the access-token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysCmd,
        /// The Secrets Manager secret holding the key set (`<stack>/jwt-signing-keys`).
        #[arg(long, global = true)]
        secret_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Create the secret with a fresh key if it does not exist; print the deploy parameters.
    Ensure,
    /// Rotation, step 1: add a next key that verifiers learn (deploy) before it signs.
    Stage,
    /// Rotation, step 2 (after the stage's deploy): the next key signs from the next deploy on.
    Promote,
    /// Rotation, step 3 (an access token's lifetime after the promotion's deploy): drop the
    /// previous keys (deploy).
    Retire,
    /// Print the deploy parameters (`JwtPublicKeys=… SigningKeyId=…`).
    Parameters,
    /// Print the public keys alone (`JwtPublicKeys`).
    Public,
}

/// The operator's credential chain (environment, profiles, SSO, `credential_process`), with the
/// system trust store.
async fn sdk(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::http_client(shared::aws::Roots::System));
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
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

async fn keys(action: &KeysCmd, secret_id: &str, region: Option<&str>) -> Result<()> {
    let client = aws_sdk_secretsmanager::Client::new(&sdk(region).await);
    let existing = read_keys(&client, secret_id).await?;
    let now = Clock::System.unix_seconds();
    let missing = || anyhow!("{secret_id} does not exist: run `keys ensure`");
    let (keys, changed) = match action {
        KeysCmd::Ensure => {
            if let Some(keys) = existing {
                (keys, false)
            } else {
                eprintln!("creating {secret_id}");
                (KeySet::generate()?, true)
            }
        }
        KeysCmd::Parameters | KeysCmd::Public => (existing.ok_or_else(missing)?, false),
        KeysCmd::Stage => {
            let mut keys = existing.ok_or_else(missing)?;
            let kid = keys.stage()?.kid.clone();
            eprintln!("staged {kid}: deploy (verifiers learn it), then `keys promote`");
            (keys, true)
        }
        KeysCmd::Promote => {
            let mut keys = existing.ok_or_else(missing)?;
            let kid = keys.promote(now)?.kid.clone();
            eprintln!(
                "promoted {kid}: deploy (it signs from the new version on); `keys retire` in {} minutes at the earliest",
                shared::auth::keys::RETIRE_AFTER_SECS / 60
            );
            (keys, true)
        }
        KeysCmd::Retire => {
            let mut keys = existing.ok_or_else(missing)?;
            let retired = keys.retire(now)?;
            eprintln!("retired {retired} key(s): deploy");
            (keys, retired > 0)
        }
    };
    if changed {
        infra::stack::store_key_set(&client, secret_id, &keys).await?;
    }
    if matches!(action, KeysCmd::Public) {
        println!("{}", keys.public_keys()?);
    } else {
        println!("{}", deploy_parameters(&keys)?);
    }
    Ok(())
}

/// The key parameters of a deploy: `JwtPublicKeys=… SigningKeyId=…`.
fn deploy_parameters(keys: &KeySet) -> Result<String> {
    Ok(format!(
        "JwtPublicKeys={} SigningKeyId={}",
        keys.public_keys()?,
        keys.signing_key()?.kid()
    ))
}

/// The shared state over `table`, with the operator's credentials.
async fn state_for(table: &str, region: Option<&str>) -> Result<shared::State> {
    let sdk = sdk(region).await;
    let region = sdk
        .region()
        .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
    let config = Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.to_owned()),
        "AWS_REGION" => Some(region.clone()),
        other => std::env::var(other).ok(),
    })?;
    Ok(shared::State::from_sdk(config, sdk, Clock::System)?)
}

async fn grant_role(email: &str, role: &str, table: &str, region: Option<&str>) -> Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow!("--email {e}"))?;
    let role: Role = serde_json::from_value(serde_json::Value::String(role.to_uppercase()))
        .map_err(|_| anyhow!("--role must be USER, MODERATOR or ADMIN"))?;
    let state = state_for(table, region).await?;
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

async fn backfill_feed_months(table: &str, region: Option<&str>) -> Result<()> {
    let state = state_for(table, region).await?;
    let months = shared::posts::backfill_feed_months(&state.store)
        .await
        .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))
        .context("recording the feeds' months")?;
    println!("recorded {months} feed months");
    Ok(())
}

async fn backfill_rent_markers(table: &str, region: Option<&str>) -> Result<()> {
    let state = state_for(table, region).await?;
    let leases = shared::properties::rent::backfill_markers(&state.store)
        .await
        .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))
        .context("writing the leases' rent markers")?;
    println!("wrote the rent markers of {leases} leases");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let region = cli.region.as_deref();
    let result = match &cli.command {
        Cmd::GrantRole { email, role, table } => grant_role(email, role, table, region).await,
        Cmd::Keys { action, secret_id } => keys(action, secret_id, region).await,
        Cmd::BackfillFeedMonths { table } => backfill_feed_months(table, region).await,
        Cmd::BackfillRentMarkers { table } => backfill_rent_markers(table, region).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrite-admin: {error:#}");
            ExitCode::FAILURE
        }
    }
}
