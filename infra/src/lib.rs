//! Ferrite's local stack, without Docker: the moto server as the local AWS endpoint (DynamoDB,
//! Streams, SQS, SES), provisioned from `template.yaml`.
//!
//! - [`tree`] reads the tree of stacks (template.yaml and stacks/*.yaml) as one template;
//! - [`template`] reads a SAM template, short-form tags included, and evaluates intrinsics;
//! - [`provision`] creates the template's tables and queues on the local endpoint;
//! - [`moto`] starts, probes and stops the moto server (patched, see `infra/moto_patches/`);
//! - [`iam`] turns the template's roles into principals the endpoint authorises calls against;
//! - [`routes`] reads the HTTP API's routes (`AWS::ApiGatewayV2::Route`s and their integrations);
//! - [`gateway`] is a local API Gateway (payload v2) in front of the Lambda Invoke API;
//! - [`pumps`] deliver the table's stream to the queues and the queues to the workers;
//! - [`stack`] wires them: secrets, the functions' environment, `cargo lambda watch`.
//!
//! The `ferrite-local` binary is the command line over these (`make dev`, `make test`).

pub mod gateway;
pub mod iam;
pub mod moto;
pub mod provision;
pub mod pumps;
pub mod routes;
pub mod schedules;
pub mod stack;
pub mod table;
pub mod template;
pub mod traffic;
pub mod tree;

use std::path::PathBuf;

/// Region of the local stack (moto accepts any).
pub const LOCAL_REGION: &str = "us-east-1";

/// A builder of the HTTP client every tool and test uses. HTTPS (the smoke suite against a
/// deployed stack) goes over rustls with ring, installed here as the process's provider: the
/// workspace builds rustls without aws-lc.
pub fn http_client() -> reqwest::ClientBuilder {
    // Already installed (by an earlier call) is fine.
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    reqwest::Client::builder()
}

/// The repository root (where `template.yaml` is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// `template.yaml` of this repository.
pub fn template_path() -> PathBuf {
    workspace_root().join("template.yaml")
}

/// How long a local client may take to connect, and to get a whole answer. Every local client
/// (pumps, provisioning, tests) has both: a request the endpoint never answers fails and is
/// retried instead of hanging its caller forever.
pub const LOCAL_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
pub const LOCAL_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How much longer than a function's own `Timeout` a local invocation may take: `cargo lambda
/// watch` rebuilds and restarts a function after an edit, and a call that arrives meanwhile
/// waits for it. Past the function's timeout plus this, the gateway answers 503 and a pump
/// leaves the batch to come back after the visibility timeout — an invocation in flight when
/// its function restarts is never answered, so nothing may wait for one forever.
pub const INVOKE_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(120);

/// SDK configuration for the local endpoint as the operator (the `testing` credentials, which
/// the local IAM does not restrict): no profile or IMDS look-ups, explicit timeouts.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    local_sdk_config_as(endpoint, "testing", "testing").await
}

/// SDK configuration for the local endpoint signed with `access_key_id`: a role's principal
/// (see [`iam`]) or the operator's.
pub async fn local_sdk_config_as(
    endpoint: &str,
    access_key_id: &str,
    secret: &str,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(LOCAL_REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            access_key_id,
            secret,
            None,
            None,
            "ferrite-local",
        ))
        .endpoint_url(endpoint)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(LOCAL_CONNECT_TIMEOUT)
                .read_timeout(LOCAL_READ_TIMEOUT)
                .operation_attempt_timeout(LOCAL_READ_TIMEOUT)
                .build(),
        )
        .http_client(shared::aws::http_client(shared::aws::Roots::for_endpoint(
            Some(endpoint),
        )))
        .load()
        .await
}
