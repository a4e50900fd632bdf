//! IAM, locally: every role of template.yaml becomes a *principal* of the local endpoint (an
//! access key, the role's session ARN and its policy statements), and every local caller that
//! stands for a role — a function, a pipe, an event source mapping — signs with that key, so the
//! endpoint (`infra/local_iam.py`) authorises each call against the role's policies as AWS would.
//!
//! The roles come from the template as `sam deploy` expands it: `infra/sam_expand.py` runs the
//! SAM translator (policy templates such as `DynamoDBReadPolicy` become statements, SQS events
//! add their poller policies, `DeploymentPreference` adds `CodeDeploy`'s role). Intrinsics are then
//! resolved here against the local resources, the managed policies' documents come from
//! `infra/iam/managed-policies.json`, and the result is registered with the endpoint.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value as Json, json};
use sha2::{Digest as _, Sha256};

use crate::template::{Context, Template};

/// A role of the template, as the local endpoint knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The role's logical id (`AuthLoginFunctionRole`).
    pub role: String,
    /// Who uses it: the function or pipe's logical id.
    pub user: String,
    /// The key its callers sign with.
    pub access_key_id: String,
    /// The assumed-role session ARN AWS names in a denial.
    pub arn: String,
    /// Inline and managed policy statements, intrinsics resolved.
    pub statements: Vec<Json>,
    /// For a service acting for a resource (an EventBridge rule delivering to its targets):
    /// the service (`events.amazonaws.com`) and the resource's ARN (`aws:SourceArn`). Such a
    /// principal has no identity policies: only resource-based policies let it in.
    pub service: Option<(String, String)>,
}

impl Principal {
    /// What the endpoint's control API takes.
    pub fn registration(&self) -> Json {
        let mut registration = json!({
            "accessKeyId": self.access_key_id,
            "secretAccessKey": LOCAL_SECRET,
            "arn": self.arn,
            "name": self.user,
            "statements": self.statements,
        });
        if let Some((service, source_arn)) = &self.service {
            registration["service"] = json!(service);
            registration["sourceArn"] = json!(source_arn);
        }
        registration
    }
}

/// The secret half of every local key. The endpoint identifies callers signing with an
/// Authorization header by key id; what a browser sends signed by a function — a presigned link,
/// a POST policy — it verifies as S3 does (`infra/local_s3.py`), with the secret each principal
/// is registered with.
pub const LOCAL_SECRET: &str = "ferrite-local-secret";

/// A stable key id for `role` within `scope` (a stack or a test's table): `AKIA` + 16 characters.
pub fn access_key_id(scope: &str, role: &str) -> String {
    let digest = Sha256::digest(format!("{scope}\0{role}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02X}")).collect();
    format!("AKIA{hex}")
}

fn managed_policies(root: &Path) -> Result<serde_json::Map<String, Json>> {
    let path = root.join("infra/iam/managed-policies.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str(&text)? {
        Json::Object(map) => Ok(map),
        _ => bail!("{} is not a JSON object", path.display()),
    }
}

/// Which logical resource uses each role: functions (`Role`), pipes (`RoleArn`) and schedules
/// (`Target.RoleArn`).
fn role_users(expanded: &Template) -> BTreeMap<String, String> {
    let mut users = BTreeMap::new();
    for resource in expanded.resources() {
        let role = match resource.kind {
            "AWS::Lambda::Function" => resource.properties.get("Role"),
            "AWS::Pipes::Pipe" => resource.properties.get("RoleArn"),
            "AWS::Scheduler::Schedule" => resource
                .properties
                .get("Target")
                .and_then(|target| target.get("RoleArn")),
            _ => None,
        };
        if let Some(role) = role.and_then(get_att_target) {
            users.insert(role, resource.logical_id.to_owned());
        }
    }
    users
}

fn get_att_target(value: &serde_yaml_ng::Value) -> Option<String> {
    let args = value.get("Fn::GetAtt")?;
    match args {
        serde_yaml_ng::Value::Sequence(parts) => Some(parts.first()?.as_str()?.to_owned()),
        other => Some(other.as_str()?.split('.').next()?.to_owned()),
    }
}

fn statements_of(document: &Json) -> Vec<Json> {
    match &document["Statement"] {
        Json::Array(list) => list.clone(),
        Json::Object(_) => vec![document["Statement"].clone()],
        _ => Vec::new(),
    }
}

/// Every role of `expanded` with its policies resolved against `ctx`, keyed for `scope`.
pub fn principals(
    root: &Path,
    expanded: &Template,
    ctx: &Context,
    scope: &str,
) -> Result<Vec<Principal>> {
    let managed = managed_policies(root)?;
    let users = role_users(expanded);
    let mut out = Vec::new();
    for role in expanded.resources_of("AWS::IAM::Role") {
        let props = expanded
            .eval(role.properties, ctx)
            .with_context(|| format!("role {}", role.logical_id))?;
        let mut statements = Vec::new();
        for policy in props["Policies"].as_array().into_iter().flatten() {
            statements.extend(statements_of(&policy["PolicyDocument"]));
        }
        for arn in props["ManagedPolicyArns"].as_array().into_iter().flatten() {
            let arn = arn.as_str().unwrap_or_default();
            let document = managed.get(arn).ok_or_else(|| {
                anyhow!(
                    "role {} uses the managed policy {arn}, which infra/iam/managed-policies.json does not hold",
                    role.logical_id
                )
            })?;
            statements.extend(statements_of(document));
        }
        let user = users
            .get(role.logical_id)
            .cloned()
            .unwrap_or_else(|| role.logical_id.to_owned());
        let role_name = format!("{}-{}", ctx.stack_name, role.logical_id);
        out.push(Principal {
            role: role.logical_id.to_owned(),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{role_name}/{user}",
                ctx.account_id
            ),
            access_key_id: access_key_id(scope, role.logical_id),
            user,
            statements,
            service: None,
        });
    }
    // EventBridge delivers a rule's events as `events.amazonaws.com` for that rule.
    for rule in expanded.resources_of("AWS::Events::Rule") {
        let arn = ctx
            .attributes
            .get(&format!("{}.Arn", rule.logical_id))
            .cloned()
            .ok_or_else(|| anyhow!("rule {} has no ARN in the local stack", rule.logical_id))?;
        out.push(Principal {
            role: rule.logical_id.to_owned(),
            user: rule.logical_id.to_owned(),
            access_key_id: access_key_id(scope, rule.logical_id),
            arn: arn.clone(),
            statements: Vec::new(),
            service: Some(("events.amazonaws.com".to_owned(), arn)),
        });
    }
    Ok(out)
}

/// The resource-based policies of `expanded` — its `AWS::SQS::QueuePolicy`s and the key
/// policies of its `AWS::KMS::Key`s —, intrinsics resolved: each queue's or key's ARN and the
/// statements of its policy. (A key without `KeyPolicy` has KMS's default policy, which the
/// local IAM applies to any key it has no policy of.)
pub fn resource_policies(
    expanded: &Template,
    ctx: &Context,
) -> Result<BTreeMap<String, Vec<Json>>> {
    let mut policies: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for policy in expanded.resources_of("AWS::SQS::QueuePolicy") {
        let props = expanded
            .eval(policy.properties, ctx)
            .with_context(|| format!("queue policy {}", policy.logical_id))?;
        let statements = statements_of(&props["PolicyDocument"]);
        // `Queues` names each queue by `!Ref` (its URL); the policy applies to its ARN.
        let queues = policy
            .properties
            .get("Queues")
            .and_then(serde_yaml_ng::Value::as_sequence)
            .into_iter()
            .flatten();
        for queue in queues {
            let logical_id = queue
                .get("Ref")
                .and_then(serde_yaml_ng::Value::as_str)
                .ok_or_else(|| {
                    anyhow!(
                        "queue policy {}: Queues must be !Ref <Queue>",
                        policy.logical_id
                    )
                })?;
            let arn = ctx
                .attributes
                .get(&format!("{logical_id}.Arn"))
                .cloned()
                .ok_or_else(|| anyhow!("queue {logical_id} is not provisioned"))?;
            policies
                .entry(arn)
                .or_default()
                .extend(statements.iter().cloned());
        }
    }
    for key in expanded.resources_of("AWS::KMS::Key") {
        let Some(policy) = key.properties.get("KeyPolicy") else {
            continue;
        };
        let document = expanded
            .eval(policy, ctx)
            .with_context(|| format!("key policy of {}", key.logical_id))?;
        let arn = ctx
            .attributes
            .get(&format!("{}.Arn", key.logical_id))
            .cloned()
            .ok_or_else(|| anyhow!("key {} is not provisioned", key.logical_id))?;
        policies
            .entry(arn)
            .or_default()
            .extend(statements_of(&document));
    }
    Ok(policies)
}

/// The principal a template resource (function or pipe) signs as.
pub fn for_user<'p>(principals: &'p [Principal], logical_id: &str) -> Option<&'p Principal> {
    principals.iter().find(|p| p.user == logical_id)
}

/// Registers `principals` with the local endpoint's IAM.
pub async fn register(endpoint: &str, principals: &[Principal]) -> Result<()> {
    let body =
        json!({ "principals": principals.iter().map(Principal::registration).collect::<Vec<_>>() });
    control_post(endpoint, "principals", &body, "the roles").await
}

/// Registers the resource-based policies of [`resource_policies`] with the local endpoint's IAM.
pub async fn register_resource_policies(
    endpoint: &str,
    policies: &BTreeMap<String, Vec<Json>>,
) -> Result<()> {
    control_post(
        endpoint,
        "resource-policies",
        &json!({ "policies": policies }),
        "the queue and key policies",
    )
    .await
}

/// The local endpoint's IAM decision (`Allow`, `ImplicitDeny`, `ExplicitDeny`) on a call a
/// local stand-in for a service makes on a principal's behalf — a pipe's `PutEvents`, a
/// backend's `@connections` call — asked of `/_ferrite/iam/authorize`.
pub async fn decide(
    http: &reqwest::Client,
    endpoint: &str,
    access_key_id: &str,
    action: &str,
    resource: &str,
    region: &str,
) -> Result<String> {
    let answer = http
        .post(format!(
            "{}/_ferrite/iam/authorize",
            endpoint.trim_end_matches('/')
        ))
        .json(&json!({
            "accessKeyId": access_key_id,
            "action": action,
            "resource": resource,
            "region": region,
        }))
        .send()
        .await?
        .error_for_status()?
        .json::<Json>()
        .await?;
    Ok(answer["decision"]
        .as_str()
        .unwrap_or("no decision")
        .to_owned())
}

async fn control_post(endpoint: &str, route: &str, body: &Json, what: &str) -> Result<()> {
    let response = crate::http_client()
        .build()?
        .post(format!(
            "{}/_ferrite/iam/{route}",
            endpoint.trim_end_matches('/')
        ))
        .json(body)
        .send()
        .await
        .with_context(|| format!("registering {what} with the local endpoint's IAM"))?;
    if !response.status().is_success() {
        bail!(
            "the local endpoint refused {what}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_ctx() -> Context {
        let mut ctx = Context::local("ferrite-local", "us-east-1");
        let template = crate::tree::template().expect("template");
        ctx.resolve_unprovisioned(&template);
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/ferrite-local-table";
        ctx.attributes.insert("Table.Arn".into(), table.into());
        ctx.attributes
            .insert("Table.StreamArn".into(), format!("{table}/stream/2026"));
        for queue in template.resources_of("AWS::SQS::Queue") {
            let queue = queue.logical_id;
            ctx.attributes.insert(
                format!("{queue}.Arn"),
                format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
            );
            ctx.attributes
                .insert(format!("{queue}.QueueName"), queue.into());
        }
        crate::stack::resolve_buckets(&template, &mut ctx).expect("buckets");
        crate::stack::resolve_log_groups(&template, &mut ctx).expect("log groups");
        crate::stack::resolve_event_buses(&template, &mut ctx).expect("event buses");
        for (name, definition) in template.parameters() {
            if definition.get("Default").is_none() {
                ctx.parameters.insert(name.to_owned(), "x".repeat(32));
            }
        }
        ctx
    }

    #[test]
    fn every_role_of_the_template_becomes_a_principal_with_its_policies_resolved() {
        let root = crate::workspace_root();
        let expanded =
            crate::tree::expanded(&root, &crate::template_path()).expect("SAM expansion");
        let principals =
            principals(&root, &expanded, &local_ctx(), "ferrite-local").expect("principals");
        let login = for_user(&principals, "AuthLoginFunction").expect("login's role");
        assert_eq!(login.role, "AuthLoginFunctionRole");
        assert!(
            login
                .arn
                .ends_with(":assumed-role/ferrite-local-AuthLoginFunctionRole/AuthLoginFunction")
        );
        let text = serde_json::to_string(&login.statements).expect("json");
        assert!(text.contains("dynamodb:GetItem"), "{text}");
        assert!(text.contains("table/ferrite-local-table"), "{text}");
        // The SAM policy template, expanded and resolved.
        assert!(text.contains("secretsmanager:GetSecretValue"), "{text}");
        assert!(
            text.contains(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:ferrite-local/jwt-signing-keys-*"
            ),
            "{text}"
        );
        // Managed policies SAM attaches (the basic execution role's logs), and none for X-Ray
        // (Tracing is off).
        assert!(text.contains("logs:PutLogEvents"), "{text}");
        assert!(!text.contains("xray:"), "{text}");
        assert!(!text.contains("Fn::"), "unresolved intrinsic in {text}");
        let pipe = for_user(&principals, "OutboxPipe").expect("the outbox pipe's role");
        let text = serde_json::to_string(&pipe.statements).expect("json");
        assert!(text.contains("events:PutEvents"), "{text}");
        assert!(
            text.contains("arn:aws:events:us-east-1:123456789012:event-bus/ferrite-local-events"),
            "{text}"
        );
        // A rule delivers as EventBridge for that rule: no policies of its own.
        let rule = for_user(&principals, "AuditRule").expect("the audit rule");
        assert!(rule.statements.is_empty());
        assert_eq!(
            rule.service,
            Some((
                "events.amazonaws.com".to_owned(),
                "arn:aws:events:us-east-1:123456789012:rule/ferrite-local-events/ferrite-local-AuditRule"
                    .to_owned()
            ))
        );
        let worker = for_user(&principals, "WorkerAuditFunction").expect("worker role");
        assert!(
            serde_json::to_string(&worker.statements)
                .expect("json")
                .contains("sqs:ReceiveMessage"),
            "the SQS event adds the poller policy"
        );
        let keys: std::collections::BTreeSet<_> =
            principals.iter().map(|p| &p.access_key_id).collect();
        assert_eq!(keys.len(), principals.len(), "one key per role");
    }

    #[test]
    fn queue_policies_resolve_to_the_queues_arn_and_name_the_rule_that_may_send() {
        let root = crate::workspace_root();
        let expanded =
            crate::tree::expanded(&root, &crate::template_path()).expect("SAM expansion");
        let policies = resource_policies(&expanded, &local_ctx()).expect("policies");
        let audit =
            serde_json::to_string(&policies["arn:aws:sqs:us-east-1:123456789012:AuditQueue"])
                .expect("json");
        assert!(audit.contains("events.amazonaws.com"), "{audit}");
        assert!(
            audit.contains("rule/ferrite-local-events/ferrite-local-AuditRule"),
            "{audit}"
        );
        let dead = serde_json::to_string(
            &policies["arn:aws:sqs:us-east-1:123456789012:EventDeadLetterQueue"],
        )
        .expect("json");
        for rule in ["AuditRule", "EmailRule", "PurgeRule"] {
            assert!(dead.contains(rule), "{rule} may dead-letter: {dead}");
        }
    }
}
