//! Reading the route table from the (flattened) stacks: each `AWS::ApiGatewayV2::Route`, the
//! function its `AWS::ApiGatewayV2::Integration` invokes, and the `AWS::Lambda::Permission`s
//! that let API Gateway invoke it; and each function's binary, environment and timeout.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value as Json;

use super::{Route, WebSocketApi, WebSocketRoute};
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

/// The one variable of a `Fn::Sub` text that is not a pseudo parameter (`${AWS::Region}`): a
/// WebSocket integration's URI names its function inside `arn:…:lambda:path/…/${Alias}/…`.
fn sub_variable(text: &str) -> Option<String> {
    let mut named = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.starts_with("AWS::"));
    let name = named.next()?;
    named.next().is_none().then(|| name.to_owned())
}

/// The logical id a reference names: `Ref: X` (and `X.Alias`, SAM's reference to a function's
/// alias) or the one variable of a `Fn::Sub` (`integrations/${X}`).
fn referenced(value: &serde_yaml_ng::Value) -> Option<String> {
    let (function, argument) = crate::template::intrinsic(value)?;
    // `Fn::Sub: [text, {Name: value}]`: the one variable, resolved through its value.
    if function == "Fn::Sub"
        && let Some([text, variables]) = argument.as_sequence().map(Vec::as_slice)
    {
        let name = sub_variable(text.as_str()?)?;
        return match variables.get(name.as_str()) {
            Some(value) => referenced(value),
            None => Some(name.split('.').next()?.to_owned()),
        };
    }
    let text = argument.as_str()?;
    let name = match function.as_str() {
        "Ref" => text,
        "Fn::Sub" => return Some(sub_variable(text)?.split('.').next()?.to_owned()),
        _ => return None,
    };
    Some(name.split('.').next()?.to_owned())
}

/// The function each `AWS::ApiGatewayV2::Integration` of the template invokes (its logical id).
/// The local gateway speaks what these integrations declare and nothing else: Lambda proxy
/// integrations with payload format 2.0. `ctx` resolves every resource ([`lenient`]).
fn integrations(template: &Template, ctx: &Context) -> Result<HashMap<String, String>> {
    let websockets = websocket_apis(template, ctx)?;
    let mut targets = HashMap::new();
    for integration in template.resources_of("AWS::ApiGatewayV2::Integration") {
        let id = integration.logical_id;
        let property = |name: &str| -> Result<Json> {
            integration
                .properties
                .get(name)
                .map(|value| template.eval(value, ctx))
                .transpose()
                .with_context(|| format!("integration {id}, {name}"))
                .map(Option::unwrap_or_default)
        };
        let websocket = websockets.contains(property("ApiId")?.as_str().unwrap_or_default());
        if websocket {
            // A WebSocket API's Lambda proxy integration has one payload format (no property),
            // and must say POST (AWS::ApiGatewayV2::Integration, `IntegrationMethod`).
            if property("IntegrationType")? != "AWS_PROXY"
                || !property("PayloadFormatVersion")?.is_null()
            {
                bail!(
                    "integration {id}: the local gateway serves WebSocket AWS_PROXY integrations without PayloadFormatVersion"
                );
            }
            if property("IntegrationMethod")? != "POST" {
                bail!(
                    "integration {id}: a WebSocket API's Lambda integration must set IntegrationMethod: POST (AWS::ApiGatewayV2::Integration)"
                );
            }
        } else if property("IntegrationType")? != "AWS_PROXY"
            || property("PayloadFormatVersion")? != "2.0"
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

/// What the routes of either API are read with: the functions by logical id, the function each
/// integration invokes, the permissions that let API Gateway invoke each function.
struct Wiring {
    functions: HashMap<String, Function>,
    integrations: HashMap<String, String>,
    permissions: HashMap<String, Vec<String>>,
}

impl Wiring {
    fn read(template: &Template, ctx: &Context, lenient_ctx: &Context) -> Result<Self> {
        Ok(Self {
            functions: functions(template, ctx)?
                .into_iter()
                .map(|f| (f.logical_id.clone(), f))
                .collect(),
            integrations: integrations(template, lenient_ctx)?,
            permissions: api_permissions(template, lenient_ctx)?,
        })
    }

    /// The function a route's `Target` integration invokes.
    fn target(&self, route: &crate::template::Resource<'_>) -> Result<&Function> {
        let id = route.logical_id;
        let integration = route
            .properties
            .get("Target")
            .and_then(referenced)
            .ok_or_else(|| anyhow!("route {id}: Target must be `integrations/${{Integration}}`"))?;
        self.integrations
            .get(&integration)
            .and_then(|f| self.functions.get(f))
            .ok_or_else(|| anyhow!("route {id}: {integration} is not an integration of a function"))
    }

    /// The `SourceArn` patterns API Gateway may invoke `function` from.
    fn invocable_from(&self, function: &Function) -> Vec<String> {
        self.permissions
            .get(&function.logical_id)
            .cloned()
            .unwrap_or_default()
    }
}

/// What a route's `ApiId` is in `ctx`.
fn api_of(
    template: &Template,
    route: &crate::template::Resource<'_>,
    ctx: &Context,
) -> Result<String> {
    let api = template
        .eval(&route.properties["ApiId"], ctx)
        .with_context(|| format!("route {}, ApiId", route.logical_id))?;
    Ok(api.as_str().unwrap_or_default().to_owned())
}

/// What the `ApiId` of a route or integration of each WebSocket API evaluates to in `ctx`.
fn websocket_apis(template: &Template, ctx: &Context) -> Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for api in template.resources_of("AWS::ApiGatewayV2::Api") {
        if template
            .property_text(&api, "ProtocolType", ctx)?
            .as_deref()
            == Some("WEBSOCKET")
        {
            found.insert(
                ctx.refs
                    .get(api.logical_id)
                    .cloned()
                    .unwrap_or_else(|| api.logical_id.to_owned()),
            );
        }
    }
    Ok(found)
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
    let lenient_ctx = lenient(template, ctx);
    let wiring = Wiring::read(template, ctx, &lenient_ctx)?;
    let websockets = websocket_apis(template, &lenient_ctx)?;
    let mut routes = Vec::new();
    for resource in template.resources_of("AWS::ApiGatewayV2::Route") {
        let id = resource.logical_id;
        let key = template
            .eval(&resource.properties["RouteKey"], &lenient_ctx)
            .with_context(|| format!("route {id}"))?;
        let api = api_of(template, &resource, &lenient_ctx)?;
        if websockets.contains(&api) {
            continue; // see `websocket_api`
        }
        let key = key
            .as_str()
            .ok_or_else(|| anyhow!("route {id}: RouteKey must be a string"))?;
        let function = wiring.target(&resource)?;
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
            invocable_from: wiring.invocable_from(function),
            arn_prefix: format!(
                "arn:aws:execute-api:{}:{}:{api}/$default/",
                ctx.region, ctx.account_id
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

/// The template's WebSocket API (at most one): its id, stage and routes.
pub fn websocket_api(template: &Template, ctx: &Context) -> Result<Option<WebSocketApi>> {
    let lenient_ctx = lenient(template, ctx);
    let apis: Vec<_> = template
        .resources_of("AWS::ApiGatewayV2::Api")
        .filter(|api| {
            template
                .property_text(api, "ProtocolType", &lenient_ctx)
                .ok()
                .flatten()
                .as_deref()
                == Some("WEBSOCKET")
        })
        .collect();
    let api = match apis.as_slice() {
        [] => return Ok(None),
        [api] => api,
        _ => bail!(
            "the local gateway serves one WebSocket API; the template has {}",
            apis.len()
        ),
    };
    let api_id = lenient_ctx
        .refs
        .get(api.logical_id)
        .cloned()
        .unwrap_or_else(|| api.logical_id.to_owned());
    let selection = template
        .property_text(api, "RouteSelectionExpression", &lenient_ctx)?
        .unwrap_or_default();
    let stage = template
        .resources_of("AWS::ApiGatewayV2::Stage")
        .find(|stage| {
            stage
                .properties
                .get("ApiId")
                .and_then(|v| template.eval(v, &lenient_ctx).ok())
                .is_some_and(|v| v.as_str() == Some(api_id.as_str()))
        })
        .ok_or_else(|| anyhow!("WebSocket API {}: no stage", api.logical_id))?;
    let stage_name = template
        .property_text(&stage, "StageName", &lenient_ctx)?
        .ok_or_else(|| anyhow!("stage {}: StageName is required", stage.logical_id))?;
    let wiring = Wiring::read(template, ctx, &lenient_ctx)?;
    let mut routes = Vec::new();
    for resource in template.resources_of("AWS::ApiGatewayV2::Route") {
        let id = resource.logical_id;
        if api_of(template, &resource, &lenient_ctx)? != api_id {
            continue;
        }
        let key = template
            .property_text(&resource, "RouteKey", &lenient_ctx)?
            .ok_or_else(|| anyhow!("route {id}: RouteKey is required"))?;
        let function = wiring.target(&resource)?;
        routes.push(WebSocketRoute {
            key: key.clone(),
            function: function.logical_id.clone(),
            binary: function.binary.clone(),
            timeout_secs: function.timeout_secs,
            invocable_from: wiring.invocable_from(function),
            arn: format!(
                "arn:aws:execute-api:{}:{}:{api_id}/{stage_name}/{key}",
                ctx.region, ctx.account_id
            ),
        });
    }
    Ok(Some(WebSocketApi {
        logical_id: api.logical_id.to_owned(),
        api_id,
        stage: stage_name,
        route_selection: selection,
        routes,
    }))
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

    /// A WebSocket API with one `$connect` route to a function; `method` its integration's
    /// `IntegrationMethod` line (or none).
    fn websocket_template(method: &str) -> Template {
        Template::parse(&format!(
            r#"
Resources:
  Live:
    Type: AWS::ApiGatewayV2::Api
    Properties: {{ ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action }}
  LiveStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {{ ApiId: !Ref Live, StageName: v1, AutoDeploy: true }}
  ConnectFunction:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildProperties: {{ Binary: connect }} }}
  ConnectIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Live
      IntegrationType: AWS_PROXY
      {method}
      IntegrationUri: !Sub
        - "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{Alias}}/invocations"
        - Alias: !Ref ConnectFunction.Alias
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Live
      RouteKey: $connect
      Target: !Sub "integrations/${{ConnectIntegration}}"
"#
        ))
        .expect("template")
    }

    #[test]
    fn a_websocket_lambda_integration_is_served_only_when_it_says_post_as_aws_requires() {
        let ctx = Context::local("t", "us-east-1");
        let api = websocket_api(&websocket_template("IntegrationMethod: POST"), &ctx)
            .expect("read")
            .expect("a WebSocket API");
        assert_eq!(api.stage, "v1");
        assert_eq!(
            api.route("$connect").map(|r| r.binary.as_str()),
            Some("connect")
        );
        assert_eq!(
            api.route("$connect").map(|r| r.arn.as_str()),
            Some("arn:aws:execute-api:us-east-1:123456789012:Live/v1/$connect")
        );
        // No permission: the route reads, and answers 500 when used (as in AWS).
        assert!(!api.route("$connect").expect("route").invocable());
        for refused in ["", "IntegrationMethod: GET"] {
            let error = websocket_api(&websocket_template(refused), &ctx)
                .expect_err("refused")
                .to_string();
            assert!(error.contains("IntegrationMethod"), "{refused:?}: {error}");
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
