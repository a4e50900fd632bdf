//! Reading the route table from the (flattened) stacks: each `AWS::ApiGatewayV2::Route`, the
//! function its `AWS::ApiGatewayV2::Integration` invokes, and the `AWS::Lambda::Permission`s
//! that let API Gateway invoke it; and each function's binary, environment and timeout.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value as Json;

use super::Route;
use crate::template::{Context, Template};

/// The functions of the template with their build binary, environment and timeout.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
    pub timeout_secs: u64,
    /// `Globals.Function.Environment` merged with the function's own (evaluated).
    pub environment: BTreeMap<String, String>,
}

fn env_map(value: &Json) -> BTreeMap<String, String> {
    value["Variables"]
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn number(value: &Json) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// Every `AWS::Serverless::Function` of the template.
pub fn functions(template: &Template, ctx: &Context) -> Result<Vec<Function>> {
    let globals = template
        .globals("Function")
        .map(|g| template.eval(g, ctx))
        .transpose()
        .context("Globals.Function")?
        .unwrap_or(Json::Null);
    template
        .resources_of("AWS::Serverless::Function")
        .map(|resource| {
            let id = resource.logical_id;
            // Only what running the function needs: policies and the like may name resources
            // that have no local counterpart.
            let property = |name: &str| -> Result<Json> {
                resource
                    .properties
                    .get(name)
                    .map(|value| template.eval(value, ctx))
                    .transpose()
                    .with_context(|| format!("function {id}, {name}"))
                    .map(Option::unwrap_or_default)
            };
            let environment_property = property("Environment")?;
            let timeout_property = property("Timeout")?;
            let binary = resource
                .definition
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(serde_yaml_ng::Value::as_str)
                .ok_or_else(|| {
                    anyhow!("function {id}: Metadata.BuildProperties.Binary is required")
                })?;
            let mut environment = env_map(&globals["Environment"]);
            environment.extend(env_map(&environment_property));
            Ok(Function {
                logical_id: id.to_owned(),
                binary: binary.to_owned(),
                timeout_secs: number(&timeout_property)
                    .or_else(|| number(&globals["Timeout"]))
                    .unwrap_or(3),
                environment,
            })
        })
        .collect()
}

/// The logical id a reference names: `Ref: X` (and `X.Alias`, SAM's reference to a function's
/// alias) or the one variable of a `Fn::Sub` (`integrations/${X}`).
fn referenced(value: &serde_yaml_ng::Value) -> Option<String> {
    let (function, argument) = crate::template::intrinsic(value)?;
    let text = argument.as_str()?;
    let name = match function.as_str() {
        "Ref" => text,
        "Fn::Sub" => {
            let start = text.find("${")? + 2;
            let end = start + text[start..].find('}')?;
            if text[end..].contains("${") {
                return None;
            }
            &text[start..end]
        }
        _ => return None,
    };
    Some(name.split('.').next()?.to_owned())
}

/// The function each `AWS::ApiGatewayV2::Integration` of the template invokes (its logical id).
/// The local gateway speaks what these integrations declare and nothing else: Lambda proxy
/// integrations with payload format 2.0. `ctx` resolves every resource ([`lenient`]).
fn integrations(template: &Template, ctx: &Context) -> Result<HashMap<String, String>> {
    let mut targets = HashMap::new();
    for integration in template.resources_of("AWS::ApiGatewayV2::Integration") {
        let id = integration.logical_id;
        let property = |name: &str| -> Result<Json> {
            template
                .eval(&integration.properties[name], ctx)
                .with_context(|| format!("integration {id}, {name}"))
        };
        if property("IntegrationType")? != "AWS_PROXY" || property("PayloadFormatVersion")? != "2.0"
        {
            bail!(
                "integration {id}: the local gateway serves AWS_PROXY integrations of payload format 2.0"
            );
        }
        let function = integration
            .properties
            .get("IntegrationUri")
            .and_then(referenced)
            .filter(|f| {
                template
                    .resources_of("AWS::Serverless::Function")
                    .any(|r| r.logical_id == f)
            })
            .ok_or_else(|| {
                anyhow!("integration {id}: IntegrationUri must name a function (`!Ref Fn.Alias`)")
            })?;
        targets.insert(id.to_owned(), function);
    }
    Ok(targets)
}

/// `ctx` where any resource not provisioned locally (the API, its integrations) resolves to its
/// logical id: a route's properties name them, and none has a local counterpart.
fn lenient(template: &Template, ctx: &Context) -> Context {
    let mut ctx = ctx.clone();
    ctx.resolve_unprovisioned(template);
    ctx
}

/// For each function, the `SourceArn` patterns its `AWS::Lambda::Permission`s let API Gateway
/// invoke it from (`*` for a permission without one).
fn api_permissions(template: &Template, ctx: &Context) -> Result<HashMap<String, Vec<String>>> {
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    for permission in template.resources_of("AWS::Lambda::Permission") {
        let id = permission.logical_id;
        let property = |name: &str| -> Result<Json> {
            permission
                .properties
                .get(name)
                .map(|value| template.eval(value, ctx))
                .transpose()
                .with_context(|| format!("permission {id}, {name}"))
                .map(Option::unwrap_or_default)
        };
        let action = property("Action")?;
        if property("Principal")? != "apigateway.amazonaws.com"
            || !(action == "lambda:InvokeFunction" || action == "lambda:*")
        {
            continue;
        }
        let Some(function) = permission
            .properties
            .get("FunctionName")
            .and_then(referenced)
        else {
            continue;
        };
        let source = property("SourceArn")?;
        found
            .entry(function)
            .or_default()
            .push(source.as_str().unwrap_or("*").to_owned());
    }
    Ok(found)
}

/// Every `AWS::ApiGatewayV2::Route` of the template, with the function its integration invokes.
pub fn routes(template: &Template, ctx: &Context) -> Result<Vec<Route>> {
    let functions: HashMap<String, Function> = functions(template, ctx)?
        .into_iter()
        .map(|f| (f.logical_id.clone(), f))
        .collect();
    let lenient_ctx = lenient(template, ctx);
    let integrations = integrations(template, &lenient_ctx)?;
    let permissions = api_permissions(template, &lenient_ctx)?;
    let mut routes = Vec::new();
    for resource in template.resources_of("AWS::ApiGatewayV2::Route") {
        let id = resource.logical_id;
        let key = template
            .eval(&resource.properties["RouteKey"], &lenient_ctx)
            .with_context(|| format!("route {id}"))?;
        let api = template
            .eval(&resource.properties["ApiId"], &lenient_ctx)
            .with_context(|| format!("route {id}, ApiId"))?;
        let key = key
            .as_str()
            .ok_or_else(|| anyhow!("route {id}: RouteKey must be a string"))?;
        let integration = resource
            .properties
            .get("Target")
            .and_then(referenced)
            .ok_or_else(|| anyhow!("route {id}: Target must be `integrations/${{Integration}}`"))?;
        let function = integrations
            .get(&integration)
            .and_then(|f| functions.get(f))
            .ok_or_else(|| {
                anyhow!("route {id}: {integration} is not an integration of a function")
            })?;
        let (method, path) = match key.split_once(' ') {
            None if key == "$default" => (None, key.to_owned()),
            Some((method, path)) => {
                validate_path(path).with_context(|| format!("route {id}"))?;
                let method = Some(method.to_ascii_uppercase()).filter(|m| m != "ANY");
                (method, path.to_owned())
            }
            None => bail!("route {id}: RouteKey {key:?} is `METHOD /path` or `$default`"),
        };
        routes.push(Route {
            method,
            path,
            function: function.logical_id.clone(),
            binary: function.binary.clone(),
            timeout_secs: function.timeout_secs,
            invocable_from: permissions
                .get(&function.logical_id)
                .cloned()
                .unwrap_or_default(),
            arn_prefix: format!(
                "arn:aws:execute-api:{}:{}:{}/$default/",
                ctx.region,
                ctx.account_id,
                api.as_str().unwrap_or_default()
            ),
        });
    }
    let mut keys: Vec<String> = routes.iter().map(Route::key).collect();
    keys.sort();
    if let Some(duplicate) = keys
        .windows(2)
        .find_map(|w| (w[0] == w[1]).then_some(&w[0]))
    {
        bail!("route {duplicate} is declared twice");
    }
    Ok(routes)
}

fn validate_path(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        bail!("path {path:?} must start with `/`");
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.ends_with("+}") && i + 1 != segments.len() {
            bail!("path {path:?}: a greedy parameter must be the last segment");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_api_function_may_touch_a_queue_or_send_email() {
        // Events travel through the outbox and the table's stream: an API request never
        // depends on SQS or SES being up. Only the workers' policies may name them.
        let template = crate::tree::template().expect("template");
        let routed: Vec<String> = integrations(
            &template,
            &lenient(&template, &Context::local("t", "us-east-1")),
        )
        .expect("integrations")
        .into_values()
        .collect();
        assert!(routed.len() > 40, "the API's functions: {routed:?}");
        for function in template.resources_of("AWS::Serverless::Function") {
            let policies =
                serde_yaml_ng::to_string(&function.properties.get("Policies")).expect("yaml");
            if routed.iter().any(|f| f == function.logical_id) {
                assert!(
                    !policies.contains("sqs:") && !policies.contains("ses:"),
                    "{} may not use SQS or SES",
                    function.logical_id
                );
            }
        }
    }

    #[test]
    fn every_route_of_the_repository_lets_api_gateway_invoke_its_function() {
        let template = crate::tree::template().expect("template");
        let routes = routes(&template, &repository_ctx(&template)).expect("routes");
        assert!(routes.len() > 40, "{} routes", routes.len());
        for route in &routes {
            let sample = route
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "42" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let method = route.method.as_deref().unwrap_or("GET");
            assert!(
                route.invocable(method, &sample),
                "{} from {sample}",
                route.key()
            );
            assert!(
                !route.invocable("TRACE", &sample),
                "{}: only its method",
                route.key()
            );
        }
    }

    /// The repository's stacks' context: resources with no local counterpart resolve to their
    /// logical id (as provisioning leaves them).
    fn repository_ctx(template: &Template) -> Context {
        let mut ctx = Context::local("t", "us-east-1");
        ctx.resolve_unprovisioned(template);
        ctx.refs.insert("HttpApi".into(), "api".into());
        ctx.refs.insert("Table".into(), "table".into());
        ctx.parameters
            .insert("JwtPublicKeys".into(), "kid=x".into());
        ctx
    }

    #[test]
    fn the_repository_template_routes_health() {
        let template = crate::tree::template().expect("template");
        let ctx = repository_ctx(&template);
        let routes = routes(&template, &ctx).expect("routes");
        let health = crate::routes::select(&routes, "GET", "/v1/health").expect("health is routed");
        assert_eq!(health.route.key(), "GET /v1/health");
        assert_eq!(health.route.binary, "health");
        let functions = functions(&template, &ctx).expect("functions");
        let health = functions
            .iter()
            .find(|f| f.binary == "health")
            .expect("health function");
        assert_eq!(health.environment["TABLE_NAME"], "table");
        assert_eq!(health.timeout_secs, 10);
    }
}
