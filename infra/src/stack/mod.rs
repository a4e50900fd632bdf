//! The pieces of the local stack and how they are wired: the endpoint's resources provisioned
//! from the template, development secrets, the functions' environment as the template declares
//! it, `cargo lambda watch` running the functions, and the gateway in front.

mod buckets;
mod env;
mod keys;
mod process;
mod secrets;

pub use buckets::{Bucket, provision_buckets, resolve_buckets};
pub use env::{
    base_env, cargo_run_variables, function_envs, runner_variable, screaming_snake, watch_env,
    write_env_file, write_function_envs,
};
pub use process::{GroupChild, build_functions, spawn_watch, wait_port};
pub use secrets::{dev_secret, provision_email_sender, provision_signing_keys, store_key_set};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::gateway::{Cors, Gateway};
use crate::routes::{self, Route};
use crate::template::{Context, Template};
use crate::{iam, provision};

/// `.local/`: pid files, logs, generated secrets and environment files (git-ignored).
pub fn local_dir(root: &Path) -> PathBuf {
    root.join(".local")
}

/// Starts a stream pump per pipe (signing as the pipe's role) and a queue pump per event
/// source mapping (signing as the worker's role, as Lambda polls with it). Pumps never stop on
/// an error: they log it and resume (see [`crate::pumps`]).
pub async fn start_pumps(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
    lambda_url: &str,
    principals: &[iam::Principal],
    checkpoints: &crate::pumps::Checkpoints,
    status: &crate::pumps::PumpStatus,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for mut pipe in crate::pumps::pipes(template, ctx)? {
        let sdk = role_sdk_config(endpoint, principals, &pipe.name).await?;
        if let crate::pumps::Target::Bus(bus) = &mut pipe.target {
            // The pipe's PutEvents is decided by its role; each rule delivers as itself.
            let pipe_key = iam::for_user(principals, &pipe.name)
                .map(|p| p.access_key_id.clone())
                .ok_or_else(|| anyhow!("{} has no role in the expanded template", pipe.name))?;
            bus.authorizer = Some(crate::pumps::Authorizer {
                endpoint: endpoint.to_owned(),
                access_key_id: pipe_key,
                http: crate::http_client().build()?,
            });
            for rule in &mut bus.rules {
                let rule_sdk = role_sdk_config(endpoint, principals, &rule.name).await?;
                rule.sqs = Some(aws_sdk_sqs::Client::new(&rule_sdk));
            }
        }
        tasks.push(tokio::spawn(crate::pumps::run_stream_pump(
            sdk,
            pipe,
            checkpoints.clone(),
            status.clone(),
        )));
    }
    for mapping in crate::pumps::mappings(template, ctx)? {
        let sdk = role_sdk_config(endpoint, principals, &mapping.function).await?;
        tasks.push(tokio::spawn(crate::pumps::run_queue_pump(
            sdk,
            mapping,
            lambda_url.to_owned(),
            status.clone(),
        )));
    }
    Ok(tasks)
}

/// Fires each of the template's schedules on its timetable (`make dev`), signing as the
/// schedule's role (see [`crate::schedules`]).
pub async fn start_timetables(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
    principals: &[iam::Principal],
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for schedule in crate::schedules::schedules(template, ctx)? {
        let sdk = role_sdk_config(endpoint, principals, &schedule.name).await?;
        tasks.push(tokio::spawn(crate::schedules::run_timetable(
            aws_sdk_sqs::Client::new(&sdk),
            schedule,
        )));
    }
    Ok(tasks)
}

/// Fires the schedule `name` once as of `scheduled` (RFC 3339, UTC), signing as its role.
pub async fn fire_schedule(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
    principals: &[iam::Principal],
    name: &str,
    scheduled: &str,
) -> Result<()> {
    let schedule = crate::schedules::schedules(template, ctx)?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow!("the template has no schedule {name}"))?;
    let sdk = role_sdk_config(endpoint, principals, name).await?;
    schedule
        .fire(&aws_sdk_sqs::Client::new(&sdk), scheduled)
        .await
}

/// An SDK configuration that signs as the role of the template resource `user`.
async fn role_sdk_config(
    endpoint: &str,
    principals: &[iam::Principal],
    user: &str,
) -> Result<aws_config::SdkConfig> {
    let principal = iam::for_user(principals, user)
        .ok_or_else(|| anyhow!("{user} has no role in the expanded template"))?;
    Ok(crate::local_sdk_config_as(endpoint, &principal.access_key_id, iam::LOCAL_SECRET).await)
}

/// Gives every template parameter that has no default a local value: a generated development
/// secret for `NoEcho` parameters (deploys get real ones from `sam deploy --guided`).
pub fn dev_parameters(root: &Path, template: &Template, ctx: &mut Context) -> Result<()> {
    for (name, definition) in template.parameters() {
        if definition.get("Default").is_some() || ctx.parameters.contains_key(name) {
            continue;
        }
        let no_echo = definition
            .get("NoEcho")
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        if !no_echo {
            bail!(
                "template parameter `{name}` has no Default: the local stack cannot choose a value"
            );
        }
        ctx.parameters
            .insert(name.to_owned(), dev_secret(root, name)?);
    }
    Ok(())
}

/// Creates the template's tables and queues on `endpoint`, recording their names in `ctx` (and
/// the buckets' names: they are made by [`provision_buckets`] once the queue policies are
/// registered), and returns the variables a shell needs to use them (`TABLE_NAME`,
/// `<LOGICAL_ID>_URL`, `<LOGICAL_ID>_NAME` of a bucket).
pub async fn provision_all(
    template: &Template,
    ctx: &mut Context,
    endpoint: &str,
    report: &mut dyn FnMut(String),
) -> Result<BTreeMap<String, String>> {
    let sdk = crate::local_sdk_config(endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut env = BTreeMap::new();

    let tables = provision::table_specs(template, ctx)?;
    for spec in &tables {
        let name = if tables.len() == 1 {
            format!("{}-table", ctx.stack_name)
        } else {
            format!("{}-{}", ctx.stack_name, spec.logical_id)
        };
        provision::create_table(&dynamodb, spec, &name).await?;
        report(format!("table  {name}  ({})", spec.logical_id));
        ctx.refs.insert(spec.logical_id.clone(), name.clone());
        let table = dynamodb
            .describe_table()
            .table_name(&name)
            .send()
            .await?
            .table;
        if let Some(arn) = table.as_ref().and_then(|t| t.table_arn.clone()) {
            ctx.attributes
                .insert(format!("{}.Arn", spec.logical_id), arn);
        }
        if let Some(arn) = table.and_then(|t| t.latest_stream_arn) {
            ctx.attributes
                .insert(format!("{}.StreamArn", spec.logical_id), arn);
        }
        if tables.len() == 1 {
            env.insert("TABLE_NAME".to_owned(), name);
        }
    }
    for queue in provision::create_queues(&sqs, template, ctx).await? {
        report(format!("queue  {}  ({})", queue.name, queue.logical_id));
        env.insert(
            format!("{}_URL", screaming_snake(&queue.logical_id)),
            queue.url,
        );
    }
    for bucket in resolve_buckets(template, ctx)? {
        env.insert(
            format!("{}_NAME", screaming_snake(&bucket.logical_id)),
            bucket.name,
        );
    }
    keys::provision_keys(template, ctx, &sdk, &mut env, report).await?;
    secrets::provision_configuration_sets(template, ctx, &sdk, report).await?;
    secrets::provision_generated_secrets(template, ctx, &sdk, &mut env, report).await?;
    resolve_log_groups(template, ctx)?;
    resolve_event_buses(template, ctx)?;
    ctx.resolve_unprovisioned(template);
    Ok(env)
}

/// The name a resource has in the local stack: its `property` (`LogGroupName`, `Name`) as
/// the template gives it, or `<stack>-<logical id>` when it gives none.
pub(crate) fn physical_name(
    template: &Template,
    resource: &crate::template::Resource<'_>,
    property: &str,
    ctx: &Context,
) -> Result<String> {
    Ok(template
        .property_text(resource, property, ctx)?
        .unwrap_or_else(|| format!("{}-{}", ctx.stack_name, resource.logical_id)))
}

/// Names the template's log groups as AWS would, so that the policies naming them resolve
/// (nothing writes to them locally: the functions' logs go to the stack's functions.log).
pub fn resolve_log_groups(template: &Template, ctx: &mut Context) -> Result<()> {
    for resource in template.resources_of("AWS::Logs::LogGroup") {
        let name = physical_name(template, &resource, "LogGroupName", ctx)?;
        ctx.attributes.insert(
            format!("{}.Arn", resource.logical_id),
            format!(
                "arn:aws:logs:{}:{}:log-group:{name}:*",
                ctx.region, ctx.account_id
            ),
        );
        ctx.refs.insert(resource.logical_id.to_owned(), name);
    }
    Ok(())
}

/// Names the template's event buses and rules as AWS would (a bus by its `Name`, a rule's ARN
/// `…:rule/<bus>/<rule>`), so that the pipe, the rules and the queue policies that name them
/// resolve. The local stack delivers their events itself ([`crate::pumps`]).
pub fn resolve_event_buses(template: &Template, ctx: &mut Context) -> Result<()> {
    for resource in template.resources_of("AWS::Events::EventBus") {
        let name = physical_name(template, &resource, "Name", ctx)?;
        ctx.attributes.insert(
            format!("{}.Arn", resource.logical_id),
            format!(
                "arn:aws:events:{}:{}:event-bus/{name}",
                ctx.region, ctx.account_id
            ),
        );
        ctx.attributes
            .insert(format!("{}.Name", resource.logical_id), name.clone());
        ctx.refs.insert(resource.logical_id.to_owned(), name);
    }
    for resource in template.resources_of("AWS::Events::Rule") {
        let bus = template
            .property_text(&resource, "EventBusName", ctx)?
            .unwrap_or_else(|| "default".to_owned());
        let name = physical_name(template, &resource, "Name", ctx)?;
        let path = if bus == "default" {
            name.clone()
        } else {
            format!("{bus}/{name}")
        };
        ctx.attributes.insert(
            format!("{}.Arn", resource.logical_id),
            format!(
                "arn:aws:events:{}:{}:rule/{path}",
                ctx.region, ctx.account_id
            ),
        );
        // `Ref` of a rule on a custom bus is `bus|rule`.
        let reference = if bus == "default" {
            name
        } else {
            format!("{bus}|{name}")
        };
        ctx.refs.insert(resource.logical_id.to_owned(), reference);
    }
    Ok(())
}

/// The HTTP API's CORS configuration, from the `AWS::ApiGatewayV2::Api` of the stacks.
pub fn cors(template: &Template, ctx: &Context) -> Result<Option<Cors>> {
    let Some(api) = template.resources_of("AWS::ApiGatewayV2::Api").next() else {
        return Ok(None);
    };
    let Some(config) = api.properties.get("CorsConfiguration") else {
        return Ok(None);
    };
    Ok(Cors::from_config(&template.eval(config, ctx)?))
}

/// Binds the gateway on `127.0.0.1:port` (0 for any free port) and serves in the background.
pub async fn start_gateway(
    template: &Template,
    ctx: &Context,
    lambda_url: &str,
    port: u16,
) -> Result<(SocketAddr, Vec<Route>, tokio::task::JoinHandle<Result<()>>)> {
    let routes = routes::routes(template, ctx)?;
    let gateway = Arc::new(Gateway {
        routes: routes.clone(),
        cors: cors(template, ctx)?,
        lambda_url: lambda_url.to_owned(),
        client: crate::http_client().build()?,
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the gateway to 127.0.0.1:{port}"))?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(gateway.serve(listener));
    Ok((address, routes, task))
}

/// Where the WebSocket gateway will listen: bound now, so that its address is known before the
/// functions' environments are written (the pushing functions get it as the API's endpoint).
#[derive(Debug)]
pub struct WebSocketListener {
    pub listener: tokio::net::TcpListener,
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
}

/// Binds the WebSocket gateway on `127.0.0.1:port` (0 for any free port) when the template has
/// a WebSocket API, and records the address as that API's `ApiEndpoint` in `ctx`.
pub async fn bind_websocket(
    template: &Template,
    ctx: &mut Context,
    port: u16,
) -> Result<Option<WebSocketListener>> {
    let Some(api) = routes::websocket_api(template, ctx)? else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the WebSocket gateway to 127.0.0.1:{port}"))?;
    let url = format!("ws://{}", listener.local_addr()?);
    ctx.serve_websocket_api_at(&api.logical_id, &url);
    Ok(Some(WebSocketListener { listener, url }))
}

/// Serves the template's WebSocket API on `bound` in the background, its `@connections` callers
/// held to the IAM of the endpoint at `endpoint` (each principal's role; other keys are the
/// operator's). Returns the connection URL (`ws://127.0.0.1:<port>/<stage>`).
pub fn start_websocket_gateway(
    template: &Template,
    ctx: &Context,
    lambda_url: &str,
    bound: WebSocketListener,
    endpoint: &str,
    principals: &[iam::Principal],
) -> Result<(String, tokio::task::JoinHandle<Result<()>>)> {
    let api = routes::websocket_api(template, ctx)?
        .ok_or_else(|| anyhow!("the template has no WebSocket API"))?;
    let url = format!("{}/{}", bound.url, api.stage);
    let authorizer = crate::gateway::websocket::Authorizer {
        endpoint: endpoint.to_owned(),
        principals: principals
            .iter()
            .map(|p| (p.access_key_id.clone(), p.arn.clone()))
            .collect(),
        principal_secret: iam::LOCAL_SECRET.to_owned(),
        operator_secret: base_env(endpoint)["AWS_SECRET_ACCESS_KEY"].clone(),
        http: crate::http_client().build()?,
    };
    let gateway = Arc::new(crate::gateway::websocket::WebSocketGateway::new(
        api,
        lambda_url,
        &ctx.region,
        &ctx.account_id,
        Some(authorizer),
    )?);
    Ok((url, tokio::spawn(gateway.serve(bound.listener))))
}

/// The route table as printed by `make dev`.
pub fn route_table(routes: &[Route]) -> String {
    let width = routes.iter().map(|r| r.key().len()).max().unwrap_or(0);
    routes
        .iter()
        .map(|r| format!("  {:width$}  -> {}\n", r.key(), r.binary))
        .collect()
}
