//! The peer: aws-samples/serverless-rust-demo's `get-product`, the closest public Rust sample
//! (one function per endpoint, DynamoDB), built from its public source at a pinned commit with
//! one small patch (`bench/runner/peer/serverless-rust-demo.patch`: point its client at the local
//! endpoint, which its SDK 0.7 does not read from `AWS_ENDPOINT_URL`). Not vendored: the bench
//! clones it (or uses the checkout `BENCH_PEER` names) and builds it with its own lockfile-less
//! resolution, as its README does, in release mode, for the host.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

/// Where the peer's source comes from, and the commit measured.
pub(crate) const REPOSITORY: &str = "https://github.com/aws-samples/serverless-rust-demo";
pub(crate) const COMMIT: &str = "b63a56bc8c342328177ca941706fd9a5b7981745";
pub(crate) const FUNCTION: &str = "get-product";

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("git {} failed in {}", args.join(" "), dir.display());
    }
    Ok(())
}

/// The checkout to build: `BENCH_PEER` if it is a checkout (a directory with a `Cargo.toml`),
/// else a clone of `BENCH_PEER` (a path or URL of the repository) or of [`REPOSITORY`] under
/// `target/peer`, at [`COMMIT`], with the patch applied.
fn checkout(root: &Path) -> Result<PathBuf> {
    let source = std::env::var("BENCH_PEER").unwrap_or_else(|_| REPOSITORY.to_owned());
    let given = PathBuf::from(&source);
    let dir = if given.join("Cargo.toml").is_file() {
        given
    } else {
        let dir = root.join("target/peer/serverless-rust-demo");
        if !dir.join(".git").is_dir() {
            std::fs::create_dir_all(root.join("target/peer"))?;
            let status = Command::new("git")
                .args(["clone", "--quiet", &source])
                .arg(&dir)
                .status()?;
            if !status.success() {
                bail!(
                    "could not clone {source} (no network? set BENCH_PEER to a checkout or a local clone)"
                );
            }
        }
        git(&dir, &["checkout", "--quiet", "--force", COMMIT])?;
        dir
    };
    let patch = root.join("bench/runner/peer/serverless-rust-demo.patch");
    let patch = patch.to_str().context("a UTF-8 path")?;
    // Applied once: a checkout that already has it is used as it is.
    if git(&dir, &["apply", "--check", "--reverse", patch]).is_err() {
        git(&dir, &["apply", patch])?;
    }
    Ok(dir)
}

/// Builds the peer's `get-product` and returns its binary.
pub(crate) fn build(root: &Path) -> Result<PathBuf> {
    let dir = checkout(root)?;
    let target = root.join("target/peer/target");
    let status = Command::new("cargo")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--quiet", "--release", "--bin", FUNCTION])
        .status()?;
    if !status.success() {
        bail!("building the peer's {FUNCTION} failed");
    }
    Ok(target.join("release").join(FUNCTION))
}

/// The peer's table (its template's key: `id`, a string) with one product; returns the table
/// name and the product's id.
pub(crate) async fn seed(sdk: &aws_types::SdkConfig) -> Result<(String, String)> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let table = format!(
        "peer-products-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await?;
    let id = "bench-product".to_owned();
    client
        .put_item()
        .table_name(&table)
        .item("id", AttributeValue::S(id.clone()))
        .item("name", AttributeValue::S("Bench".into()))
        .item("price", AttributeValue::N("10.5".into()))
        .send()
        .await?;
    Ok((table, id))
}
