//! Reads `template.yaml` — the one source of truth for the table, the queues and (for the local
//! gateway) the routes — including CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`).
//!
//! Property values are evaluated to plain JSON by [`Template::eval`], which understands the
//! intrinsic functions a local stack can answer: `Ref` (parameters with defaults or overrides,
//! pseudo parameters (`AWS::StackId` derived from the stack's name), resources already provisioned), `Fn::GetAtt` (attributes of resources
//! already provisioned), `Fn::Sub`, `Fn::Join`, `Fn::Split` and `Fn::Select`. Anything else is an error that names it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value as Json;
use serde_yaml_ng::{Mapping, Value};

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Mapping,
}

/// What a template's intrinsics resolve against: the stack's pseudo parameters, parameter
/// overrides, and the physical ids / attributes of resources provisioned so far.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    pub parameters: HashMap<String, String>,
    /// `Ref` of a resource: its physical id (table name, queue URL, …).
    pub refs: HashMap<String, String>,
    /// `Fn::GetAtt`: `"Logical.Attribute"` → value.
    pub attributes: HashMap<String, String>,
}

impl Context {
    /// Every resource of `template` that resolves to nothing yet resolves to its logical id,
    /// as provisioning leaves a resource with no local counterpart (the HTTP API, functions,
    /// roles): properties that mention them still evaluate.
    pub fn resolve_unprovisioned(&mut self, template: &Template) {
        // `Ref` of an API Gateway stage is its name (a policy's `…/${Stage}/POST/@connections/*`).
        for stage in template.resources_of("AWS::ApiGatewayV2::Stage") {
            if let Some(name) = stage.properties.get("StageName").and_then(Value::as_str) {
                self.refs
                    .entry(stage.logical_id.to_owned())
                    .or_insert_with(|| name.to_owned());
            }
        }
        for resource in template.resources() {
            self.refs
                .entry(resource.logical_id.to_owned())
                .or_insert_with(|| resource.logical_id.to_owned());
        }
        // An API's endpoint as AWS names it (the local stack sets the WebSocket API's to the
        // local gateway's address when it runs one: `Context::serve_websocket_api_at`).
        for api in template.resources_of("AWS::ApiGatewayV2::Api") {
            let scheme = match api.properties.get("ProtocolType").and_then(Value::as_str) {
                Some("WEBSOCKET") => "wss",
                _ => "https",
            };
            let endpoint = format!(
                "{scheme}://{}.execute-api.{}.amazonaws.com",
                self.refs[api.logical_id], self.region
            );
            self.attributes
                .entry(format!("{}.ApiEndpoint", api.logical_id))
                .or_insert(endpoint);
        }
        // A KMS key's ARN is named by its id: a key ARN of the right shape.
        for key in template.resources_of("AWS::KMS::Key") {
            let arn = format!(
                "arn:aws:kms:{}:{}:key/{}",
                self.region, self.account_id, key.logical_id
            );
            self.attributes
                .entry(format!("{}.Arn", key.logical_id))
                .or_insert(arn);
        }
    }

    /// The local gateway serves the WebSocket API `logical_id` at `url` (`ws://127.0.0.1:3001`):
    /// its `ApiEndpoint`, which the functions that push get as their `@connections` endpoint.
    pub fn serve_websocket_api_at(&mut self, logical_id: &str, url: &str) {
        self.attributes
            .insert(format!("{logical_id}.ApiEndpoint"), url.to_owned());
    }

    /// `AWS::StackId`: `arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`, its
    /// last part (lowercase hex, UUID-shaped) derived from the stack's name, so that it is the
    /// same for every reader of one local stack and differs between stacks.
    pub fn stack_id(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.stack_name.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "arn:aws:cloudformation:{}:{}:stack/{}/{}-{}-{}-{}-{}",
            self.region,
            self.account_id,
            self.stack_name,
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    pub fn local(stack_name: &str, region: &str) -> Self {
        Self {
            stack_name: stack_name.to_owned(),
            region: region.to_owned(),
            // The account id moto uses for every resource it creates.
            account_id: "123456789012".to_owned(),
            ..Self::default()
        }
    }
}

/// One resource of the template.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'t> {
    pub logical_id: &'t str,
    pub kind: &'t str,
    pub properties: &'t Value,
    pub definition: &'t Value,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        match serde_yaml_ng::from_str::<Value>(text)? {
            Value::Mapping(root) => Ok(Self { root }),
            _ => bail!("a template is a YAML mapping"),
        }
    }

    /// The whole template as a YAML value.
    pub fn to_value(&self) -> Value {
        Value::Mapping(self.root.clone())
    }

    fn section(&self, name: &str) -> Option<&Mapping> {
        self.root.get(name).and_then(Value::as_mapping)
    }

    /// Every resource, in template order.
    pub fn resources(&self) -> impl Iterator<Item = Resource<'_>> {
        static NULL: Value = Value::Null;
        self.section("Resources")
            .into_iter()
            .flat_map(Mapping::iter)
            .filter_map(|(id, definition)| {
                Some(Resource {
                    logical_id: id.as_str()?,
                    kind: definition.get("Type")?.as_str()?,
                    properties: definition.get("Properties").unwrap_or(&NULL),
                    definition,
                })
            })
    }

    /// Resources of one CloudFormation type.
    pub fn resources_of<'t>(&'t self, kind: &'t str) -> impl Iterator<Item = Resource<'t>> {
        self.resources().filter(move |r| r.kind == kind)
    }

    /// The template's parameters and their definitions.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.section("Parameters")
            .into_iter()
            .flat_map(Mapping::iter)
            .filter_map(|(name, definition)| Some((name.as_str()?, definition)))
    }

    /// The `Globals` section's block for `kind` (e.g. `Function`).
    pub fn globals(&self, kind: &str) -> Option<&Value> {
        self.section("Globals").and_then(|g| g.get(kind))
    }

    fn parameter(&self, name: &str, ctx: &Context) -> Result<String> {
        if let Some(value) = ctx.parameters.get(name) {
            return Ok(value.clone());
        }
        let definition = self
            .section("Parameters")
            .and_then(|p| p.get(name))
            .ok_or_else(|| anyhow!("`Ref: {name}`: no such parameter or resource"))?;
        let default = definition.get("Default").ok_or_else(|| {
            anyhow!("parameter `{name}` has no Default: give it a value for the local stack")
        })?;
        match self.eval(default, ctx)? {
            Json::String(s) => Ok(s),
            other => Ok(other.to_string()),
        }
    }

    fn reference(&self, name: &str, ctx: &Context) -> Result<Json> {
        let pseudo = match name {
            "AWS::Region" => Some(ctx.region.clone()),
            "AWS::StackName" => Some(ctx.stack_name.clone()),
            "AWS::AccountId" => Some(ctx.account_id.clone()),
            "AWS::Partition" => Some("aws".to_owned()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            "AWS::StackId" => Some(ctx.stack_id()),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(Json::String(value));
        }
        if let Some(physical) = ctx.refs.get(name) {
            return Ok(Json::String(physical.clone()));
        }
        let is_resource = self.resources().any(|r| r.logical_id == name);
        if is_resource {
            bail!("`Ref: {name}`: that resource is not provisioned (yet)");
        }
        let value = self.parameter(name, ctx)?;
        // CommaDelimitedList parameters are lists.
        let is_list = self
            .section("Parameters")
            .and_then(|p| p.get(name))
            .and_then(|d| d.get("Type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "CommaDelimitedList");
        if is_list {
            Ok(Json::Array(
                value
                    .split(',')
                    .map(|s| Json::String(s.trim().to_owned()))
                    .collect(),
            ))
        } else {
            Ok(Json::String(value))
        }
    }

    fn get_att(target: &str, ctx: &Context) -> Result<Json> {
        ctx.attributes
            .get(target)
            .map(|v| Json::String(v.clone()))
            .ok_or_else(|| anyhow!("`Fn::GetAtt: {target}`: not provisioned (yet)"))
    }

    fn substitute(
        &self,
        pattern: &str,
        vars: &HashMap<String, Json>,
        ctx: &Context,
    ) -> Result<String> {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("`Fn::Sub`: unclosed `${{` in {pattern:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match vars.get(name) {
                    Some(v) => v.clone(),
                    None => match name.split_once('.') {
                        Some(_) if !name.starts_with("AWS::") => Self::get_att(name, ctx)?,
                        _ => self.reference(name, ctx)?,
                    },
                };
                match value {
                    Json::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Evaluates a property value to JSON, resolving intrinsic functions against `ctx`.
    pub fn eval(&self, value: &Value, ctx: &Context) -> Result<Json> {
        Ok(self.eval_opt(value, ctx)?.unwrap_or(Json::Null))
    }

    /// `None` is `AWS::NoValue`: the enclosing mapping key or list item disappears.
    fn eval_opt(&self, value: &Value, ctx: &Context) -> Result<Option<Json>> {
        if let Some((function, argument)) = intrinsic(value) {
            return self.eval_intrinsic(&function, argument, ctx);
        }
        Ok(Some(match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => serde_json::to_value(n)?,
            Value::String(s) => Json::String(s.clone()),
            Value::Sequence(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    list.extend(self.eval_opt(item, ctx)?);
                }
                Json::Array(list)
            }
            Value::Mapping(map) => {
                let mut object = serde_json::Map::new();
                for (key, item) in map {
                    let key = key
                        .as_str()
                        .ok_or_else(|| anyhow!("mapping keys must be strings"))?;
                    if let Some(item) = self.eval_opt(item, ctx)? {
                        object.insert(key.to_owned(), item);
                    }
                }
                Json::Object(object)
            }
            Value::Tagged(tagged) => bail!("unsupported tag {}", tagged.tag),
        }))
    }

    /// A resource's `property`, evaluated, as text (a string as it is, anything else as JSON);
    /// `None` when the resource does not set it.
    pub fn property_text(
        &self,
        resource: &Resource<'_>,
        property: &str,
        ctx: &Context,
    ) -> Result<Option<String>> {
        resource
            .properties
            .get(property)
            .map(|value| {
                Ok(match self.eval(value, ctx)? {
                    Json::String(text) => text,
                    other => other.to_string(),
                })
            })
            .transpose()
    }

    /// The value of a condition of the `Conditions` section.
    pub fn condition(&self, name: &str, ctx: &Context) -> Result<bool> {
        let expression = self
            .section("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| anyhow!("no condition named `{name}`"))?;
        match self.eval(expression, ctx)? {
            Json::Bool(b) => Ok(b),
            other => bail!("condition `{name}` is not a boolean: {other}"),
        }
    }

    fn eval_bool(&self, value: &Value, ctx: &Context) -> Result<bool> {
        match self.eval(value, ctx)? {
            Json::Bool(b) => Ok(b),
            Json::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            other => bail!("expected a condition, got {other}"),
        }
    }

    fn args<'v>(function: &str, argument: &'v Value, count: Option<usize>) -> Result<&'v [Value]> {
        let items = argument
            .as_sequence()
            .ok_or_else(|| anyhow!("`{function}` takes a list"))?;
        if count.is_some_and(|n| items.len() != n) {
            bail!("`{function}` takes {} arguments", count.unwrap_or_default());
        }
        Ok(items)
    }

    fn eval_intrinsic(
        &self,
        function: &str,
        argument: &Value,
        ctx: &Context,
    ) -> Result<Option<Json>> {
        match function {
            "Ref" if argument.as_str() == Some("AWS::NoValue") => Ok(None),
            "Fn::If" => {
                let args = Self::args(function, argument, Some(3))?;
                let name = args[0]
                    .as_str()
                    .ok_or_else(|| anyhow!("`Fn::If` takes a condition name"))?;
                let branch = if self.condition(name, ctx)? {
                    &args[1]
                } else {
                    &args[2]
                };
                self.eval_opt(branch, ctx)
            }
            "Fn::Equals" => {
                let args = Self::args(function, argument, Some(2))?;
                Ok(Some(Json::Bool(
                    self.eval(&args[0], ctx)? == self.eval(&args[1], ctx)?,
                )))
            }
            "Fn::Not" => {
                let args = Self::args(function, argument, Some(1))?;
                Ok(Some(Json::Bool(!self.eval_bool(&args[0], ctx)?)))
            }
            "Fn::And" | "Fn::Or" => {
                let args = Self::args(function, argument, None)?;
                let values = args
                    .iter()
                    .map(|a| self.eval_bool(a, ctx))
                    .collect::<Result<Vec<_>>>()?;
                let result = if function == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                };
                Ok(Some(Json::Bool(result)))
            }
            "Condition" => {
                let name = argument
                    .as_str()
                    .ok_or_else(|| anyhow!("`Condition` takes a name"))?;
                Ok(Some(Json::Bool(self.condition(name, ctx)?)))
            }
            _ => self.eval_value_intrinsic(function, argument, ctx).map(Some),
        }
    }

    fn eval_value_intrinsic(
        &self,
        function: &str,
        argument: &Value,
        ctx: &Context,
    ) -> Result<Json> {
        match function {
            "Ref" => {
                let name = argument
                    .as_str()
                    .ok_or_else(|| anyhow!("`Ref` takes a name"))?;
                self.reference(name, ctx)
            }
            "Fn::GetAtt" => {
                let target = match argument {
                    Value::String(s) => s.clone(),
                    Value::Sequence(parts) => parts
                        .iter()
                        .map(|p| p.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => bail!("`Fn::GetAtt` takes `Logical.Attribute`"),
                };
                Self::get_att(&target, ctx)
            }
            "Fn::Sub" => match argument {
                Value::String(pattern) => Ok(Json::String(self.substitute(
                    pattern,
                    &HashMap::new(),
                    ctx,
                )?)),
                Value::Sequence(parts) if parts.len() == 2 => {
                    let pattern = parts[0]
                        .as_str()
                        .ok_or_else(|| anyhow!("`Fn::Sub` pattern must be a string"))?;
                    let Json::Object(vars) = self.eval(&parts[1], ctx)? else {
                        bail!("`Fn::Sub` variables must be a mapping");
                    };
                    let vars = vars.into_iter().collect();
                    Ok(Json::String(self.substitute(pattern, &vars, ctx)?))
                }
                _ => bail!("`Fn::Sub` takes a string or [string, mapping]"),
            },
            "Fn::Join" => {
                let Json::Array(parts) = self.eval(argument, ctx)? else {
                    bail!("`Fn::Join` takes [delimiter, [values]]");
                };
                let (Some(Json::String(delimiter)), Some(Json::Array(values))) =
                    (parts.first(), parts.get(1))
                else {
                    bail!("`Fn::Join` takes [delimiter, [values]]");
                };
                let values: Vec<String> = values
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect();
                Ok(Json::String(values.join(delimiter)))
            }
            "Fn::Split" => {
                let Json::Array(parts) = self.eval(argument, ctx)? else {
                    bail!("`Fn::Split` takes [delimiter, string]");
                };
                let (Some(Json::String(delimiter)), Some(Json::String(text))) =
                    (parts.first(), parts.get(1))
                else {
                    bail!("`Fn::Split` takes [delimiter, string]");
                };
                Ok(Json::Array(
                    text.split(delimiter.as_str())
                        .map(|part| Json::String(part.to_owned()))
                        .collect(),
                ))
            }
            "Fn::Select" => {
                let Json::Array(parts) = self.eval(argument, ctx)? else {
                    bail!("`Fn::Select` takes [index, [values]]");
                };
                let index = match parts.first() {
                    Some(Json::Number(n)) => n.as_u64(),
                    Some(Json::String(s)) => s.parse().ok(),
                    _ => None,
                };
                let (Some(index), Some(Json::Array(values))) = (index, parts.get(1)) else {
                    bail!("`Fn::Select` takes [index, [values]]");
                };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| values.get(i))
                    .cloned()
                    .ok_or_else(|| anyhow!("`Fn::Select`: index {index} is out of range"))
            }
            other => bail!("intrinsic function `{other}` is not supported by the local stack"),
        }
    }
}

/// Recognises an intrinsic function in short form (`!Ref x`) or long form (`{Ref: x}`,
/// `{"Fn::GetAtt": [a, b]}`), returning its long name and argument.
pub(crate) fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = if name == "Ref" || name == "Condition" {
                name.to_owned()
            } else {
                format!("Fn::{name}")
            };
            Some((long, &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_owned(), argument))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Size: { Type: Number, Default: 5 }
  Origins: { Type: CommaDelimitedList, Default: "a, b" }
  Secret: { Type: String }
Resources:
  Dlq: { Type: AWS::SQS::Queue }
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      MaxCount: !Ref Size
      Long: { "Fn::GetAtt": [Dlq, Arn] }
      Short: !GetAtt Dlq.Arn
      Name: !Sub "${AWS::StackName}-queue-${Size}-${!Literal}"
      Named: !Sub ["${Prefix}-x", { Prefix: !Ref AWS::Region }]
      Joined: !Join [",", [a, !Ref Size]]
      Domain: !Select [1, !Split ["@", "no-reply@mail.example.org"]]
      Origins: !Ref Origins
      Maybe: !If [IsBig, big, !Ref AWS::NoValue]
      Chosen: !If [IsSmall, small, other]
      List: [a, !If [IsBig, b, !Ref AWS::NoValue], c]
Conditions:
  IsBig: !Equals [!Ref Size, "50"]
  IsSmall: !Not [!Condition IsBig]
"#;

    fn ctx() -> Context {
        let mut ctx = Context::local("stack", "eu-west-1");
        ctx.attributes.insert("Dlq.Arn".into(), "arn:dlq".into());
        ctx
    }

    #[test]
    fn short_and_long_form_intrinsics_evaluate() {
        let template = Template::parse(TEMPLATE).expect("parses");
        let queue = template
            .resources()
            .find(|r| r.logical_id == "Queue")
            .expect("queue");
        let props = template.eval(queue.properties, &ctx()).expect("evaluates");
        assert_eq!(props["MaxCount"], "5");
        assert_eq!(props["Long"], "arn:dlq");
        assert_eq!(props["Short"], "arn:dlq");
        assert_eq!(props["Name"], "stack-queue-5-${Literal}");
        assert_eq!(props["Named"], "eu-west-1-x");
        assert_eq!(props["Joined"], "a,5");
        assert_eq!(props["Domain"], "mail.example.org");
        assert_eq!(props["Origins"], serde_json::json!(["a", "b"]));
        // Conditions: Size is 5, so IsBig is false and AWS::NoValue removes what it stands for.
        assert!(props.get("Maybe").is_none());
        assert_eq!(props["Chosen"], "small");
        assert_eq!(props["List"], serde_json::json!(["a", "c"]));
    }

    #[test]
    fn unresolvable_references_are_errors_that_name_them() {
        let template = Template::parse(TEMPLATE).expect("parses");
        let err = template
            .eval(
                &serde_yaml_ng::from_str("!Ref Secret").expect("yaml"),
                &ctx(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("Secret"), "{err}");
        let err = template
            .eval(
                &serde_yaml_ng::from_str("!GetAtt Queue.Arn").expect("yaml"),
                &Context::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("Queue.Arn"), "{err}");
        let err = template
            .eval(
                &serde_yaml_ng::from_str("!FindInMap [a, b, c]").expect("yaml"),
                &ctx(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("Fn::FindInMap"), "{err}");
    }

    #[test]
    fn parameter_overrides_win_over_defaults() {
        let template = Template::parse(TEMPLATE).expect("parses");
        let mut ctx = ctx();
        ctx.parameters.insert("Secret".into(), "s3cr3t".into());
        let value = template
            .eval(&serde_yaml_ng::from_str("!Ref Secret").expect("yaml"), &ctx)
            .expect("resolves");
        assert_eq!(value, "s3cr3t");
    }
}
