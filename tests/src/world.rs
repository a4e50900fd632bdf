//! template.yaml, read once per test process: the table it declares, its routes, and its roles
//! resolved for a test's table and registered with the endpoint's IAM.

use std::sync::OnceLock;

use infra::iam::{self, Principal};
use infra::provision::{self, TableSpec};
use infra::routes::Route;
use infra::template::{Context, Template};

/// One signing key set per test process (in-process handler tests sign and verify with it).
pub fn test_keys() -> &'static shared::auth::keys::KeySet {
    static KEYS: OnceLock<shared::auth::keys::KeySet> = OnceLock::new();
    KEYS.get_or_init(|| shared::auth::keys::KeySet::generate().expect("keys"))
}

pub(super) fn table_spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let ctx = Context::local("test", infra::LOCAL_REGION);
        let mut specs =
            provision::table_specs(template(), &ctx).expect("table properties evaluate");
        assert_eq!(specs.len(), 1, "template.yaml declares one table");
        specs.remove(0)
    })
}

pub(super) fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| infra::tree::template().expect("the stacks parse"))
}

/// The template as `sam deploy` expands it: the functions' roles and their policies.
pub(super) fn expanded_template() -> &'static Template {
    static EXPANDED: OnceLock<Template> = OnceLock::new();
    EXPANDED.get_or_init(|| expand(&infra::template_path()))
}

pub(super) fn expand(template: &std::path::Path) -> Template {
    infra::tree::expanded(&infra::workspace_root(), template).unwrap_or_else(|e| {
        panic!(
            "the SAM translator expands {} (`make setup` installs it): {e:#}",
            template.display()
        )
    })
}

/// A context where every resource resolves (to its logical id unless a test says otherwise).
pub(super) fn placeholder_ctx() -> Context {
    let mut ctx = Context::local("test", infra::LOCAL_REGION);
    infra::stack::resolve_buckets(template(), &mut ctx).expect("the buckets resolve");
    ctx.resolve_unprovisioned(template());
    // The stack's KMS keys: as `make test`'s stack provisioned them (`<LOGICAL_ID>_ARN`), or a
    // key ARN of the right shape.
    for key in template().resources_of("AWS::KMS::Key") {
        let arn = std::env::var(format!(
            "{}_ARN",
            infra::stack::screaming_snake(key.logical_id)
        ))
        .unwrap_or_else(|_| {
            format!(
                "arn:aws:kms:{}:{}:key/{}",
                ctx.region, ctx.account_id, key.logical_id
            )
        });
        ctx.attributes
            .insert(format!("{}.Arn", key.logical_id), arn);
    }
    for (name, definition) in template().parameters() {
        if definition.get("Default").is_none() {
            let from_stack = std::env::var(format!(
                "FERRITE_PARAM_{}",
                infra::stack::screaming_snake(name)
            ));
            ctx.parameters.insert(
                name.to_owned(),
                from_stack.unwrap_or_else(|_| "x".repeat(32)),
            );
        }
    }
    ctx
}

/// The documents' bucket the roles of a test world name (the template's `DocumentsBucket`,
/// named for the `test` stack).
pub fn documents_bucket_name() -> String {
    placeholder_ctx()
        .refs
        .get("DocumentsBucket")
        .cloned()
        .expect("template.yaml declares DocumentsBucket")
}

/// The HTTP API's routes: which function answers a call.
pub(super) fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        infra::routes::routes(template(), &placeholder_ctx()).expect("routes of template.yaml")
    })
}

/// The roles of template.yaml with their policies resolved against `table` (and the stack's
/// queues, but for `own_queues`: the test's own `<table>-<LogicalId>`), registered with the
/// endpoint's IAM under keys of this table's own.
pub(super) async fn register_roles(
    endpoint: &str,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    parameters: &[(&str, &str)],
    own_queues: &[&str],
    expanded: &Template,
) -> Vec<Principal> {
    let mut ctx = placeholder_ctx();
    for (name, value) in parameters {
        ctx.parameters
            .insert((*name).to_owned(), (*value).to_owned());
    }
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe the test table")
        .table
        .expect("a table");
    ctx.refs.insert("Table".to_owned(), table.to_owned());
    ctx.attributes.insert(
        "Table.Arn".to_owned(),
        described.table_arn.expect("table ARN"),
    );
    ctx.attributes.insert(
        "Table.StreamArn".to_owned(),
        described.latest_stream_arn.expect("stream ARN"),
    );
    for queue in template().resources_of("AWS::SQS::Queue") {
        let name = std::env::var(format!(
            "{}_URL",
            infra::stack::screaming_snake(queue.logical_id)
        ))
        .ok()
        .filter(|_| !own_queues.contains(&queue.logical_id))
        .and_then(|url| url.rsplit('/').next().map(str::to_owned))
        .unwrap_or_else(|| format!("{table}-{}", queue.logical_id));
        ctx.attributes.insert(
            format!("{}.Arn", queue.logical_id),
            format!("arn:aws:sqs:{}:{}:{name}", ctx.region, ctx.account_id),
        );
        ctx.attributes
            .insert(format!("{}.QueueName", queue.logical_id), name);
    }
    // The stack's KMS keys, as `make test`'s stack provisioned them, or made here.
    for key in template().resources_of("AWS::KMS::Key") {
        let arn = key_arn(endpoint, key.logical_id).await;
        ctx.attributes
            .insert(format!("{}.Arn", key.logical_id), arn.clone());
        ctx.refs.insert(
            key.logical_id.to_owned(),
            arn.rsplit('/').next().unwrap_or_default().to_owned(),
        );
    }
    infra::stack::resolve_log_groups(template(), &mut ctx).expect("the log groups resolve");
    infra::stack::resolve_event_buses(template(), &mut ctx).expect("the event buses resolve");
    infra::stack::resolve_buckets(template(), &mut ctx).expect("the buckets resolve");
    let principals = iam::principals(&infra::workspace_root(), expanded, &ctx, table)
        .expect("the template's roles resolve");
    iam::register(endpoint, &principals)
        .await
        .expect("the local endpoint takes the roles");
    principals
}

/// The ARN of the template's KMS key `logical_id` on the endpoint: the one the stack `make
/// test` starts provisioned (`<LOGICAL_ID>_ARN`), or one made once per test process when the
/// tests run against a bare endpoint (`make capacity`).
pub async fn key_arn(endpoint: &str, logical_id: &str) -> String {
    static MADE: tokio::sync::Mutex<std::collections::BTreeMap<String, String>> =
        tokio::sync::Mutex::const_new(std::collections::BTreeMap::new());
    let variable = format!("{}_ARN", infra::stack::screaming_snake(logical_id));
    if let Ok(arn) = std::env::var(variable) {
        return arn;
    }
    let mut made = MADE.lock().await;
    if let Some(arn) = made.get(logical_id) {
        return arn.clone();
    }
    let kms = aws_sdk_kms::Client::new(&infra::local_sdk_config(endpoint).await);
    let arn = kms
        .create_key()
        .description(format!("tests: {logical_id}"))
        .send()
        .await
        .expect("the endpoint makes a key")
        .key_metadata
        .and_then(|k| k.arn)
        .expect("a key ARN");
    made.insert(logical_id.to_owned(), arn.clone());
    arn
}

/// Whether the template gives `function` (a logical id) the environment variable `variable`.
fn has_variable(function: &str, variable: &str) -> bool {
    template()
        .resources()
        .find(|r| r.logical_id == function)
        .and_then(|r| {
            r.properties
                .get("Environment")?
                .get("Variables")?
                .get(variable)
        })
        .is_some()
}

/// Whether the template gives `function` the page-cursor key (`CURSOR_SECRET_ID`): only those
/// functions can issue and read cursors.
pub(super) fn reads_cursor_key(function: &str) -> bool {
    has_variable(function, "CURSOR_SECRET_ID")
}

/// Whether the template gives `function` the key that seals second factors (`MFA_KEY_ARN`).
pub(super) fn seals_factors(function: &str) -> bool {
    has_variable(function, "MFA_KEY_ARN")
}
