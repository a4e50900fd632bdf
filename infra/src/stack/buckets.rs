//! The template's S3 buckets on the local endpoint: named as the template names them (the
//! documents' bucket after the stack's id), made, and given their event notifications, which
//! the endpoint accepts only if the destination queue's policy lets S3 send to it, as S3 checks
//! when a notification is configured. The endpoint checks what browsers send to a bucket
//! (presigned links and POST uploads) itself: `infra/local_s3.py`.

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value as Json, json};

use crate::template::{Context, Template};

/// A bucket of the template, as the local stack names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
}

/// Names every `AWS::S3::Bucket` as AWS would — its `BucketName`, or `<stack>-<logical id>`
/// in lowercase — and records `Ref` (the name) and `Fn::GetAtt` `.Arn`, `.DomainName`,
/// `.RegionalDomainName` in `ctx`, so that the policies and environments naming a bucket
/// resolve before it is made.
pub fn resolve_buckets(template: &Template, ctx: &mut Context) -> Result<Vec<Bucket>> {
    let mut buckets = Vec::new();
    for resource in template.resources_of("AWS::S3::Bucket") {
        let name = super::physical_name(template, &resource, "BucketName", ctx)?.to_lowercase();
        let arn = format!("arn:aws:s3:::{name}");
        let id = resource.logical_id;
        ctx.refs.insert(id.to_owned(), name.clone());
        ctx.attributes.insert(format!("{id}.Arn"), arn.clone());
        ctx.attributes.insert(
            format!("{id}.DomainName"),
            format!("{name}.s3.amazonaws.com"),
        );
        ctx.attributes.insert(
            format!("{id}.RegionalDomainName"),
            format!("{name}.s3.{}.amazonaws.com", ctx.region),
        );
        buckets.push(Bucket {
            logical_id: id.to_owned(),
            name,
            arn,
        });
    }
    Ok(buckets)
}

/// The queue notifications of a bucket's `NotificationConfiguration` (CloudFormation's shape)
/// in the endpoint's: `{queueArn, events, prefix?, suffix?}`. Other destinations fail loudly:
/// the local stack delivers to queues only.
fn queue_notifications(properties: &Json, logical_id: &str) -> Result<Vec<Json>> {
    let configuration = &properties["NotificationConfiguration"];
    for other in [
        "TopicConfigurations",
        "LambdaConfigurations",
        "EventBridgeConfiguration",
    ] {
        if !configuration[other].is_null() {
            bail!("bucket {logical_id}: the local stack does not deliver {other}");
        }
    }
    let Some(queues) = configuration["QueueConfigurations"].as_array() else {
        return Ok(Vec::new());
    };
    queues
        .iter()
        .map(|queue| {
            let arn = queue["Queue"].as_str().ok_or_else(|| {
                anyhow!("bucket {logical_id}: a queue notification names no queue")
            })?;
            let event = queue["Event"].as_str().ok_or_else(|| {
                anyhow!("bucket {logical_id}: a queue notification names no event")
            })?;
            let mut notification = json!({ "queueArn": arn, "events": [event] });
            for rule in queue["Filter"]["S3Key"]["Rules"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = rule["Name"].as_str().unwrap_or_default().to_lowercase();
                notification[name] = rule["Value"].clone();
            }
            Ok(notification)
        })
        .collect()
}

/// Makes every bucket of the template on the endpoint (after [`resolve_buckets`] and after the
/// queue policies are registered: S3 checks them when a notification is configured).
pub async fn provision_buckets(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
    report: &mut dyn FnMut(String),
) -> Result<()> {
    let mut buckets = Vec::new();
    for resource in template.resources_of("AWS::S3::Bucket") {
        let properties = template
            .eval(resource.properties, ctx)
            .with_context(|| format!("properties of bucket {}", resource.logical_id))?;
        let name = ctx
            .refs
            .get(resource.logical_id)
            .cloned()
            .ok_or_else(|| anyhow!("bucket {} is not resolved", resource.logical_id))?;
        buckets.push(json!({
            "name": name,
            "notifications": queue_notifications(&properties, resource.logical_id)?,
        }));
        report(format!("bucket {name}  ({})", resource.logical_id));
    }
    if buckets.is_empty() {
        return Ok(());
    }
    let response = crate::http_client()
        .build()?
        .post(format!(
            "{}/_ferrite/s3/buckets",
            endpoint.trim_end_matches('/')
        ))
        .json(&json!({ "buckets": buckets }))
        .send()
        .await
        .context("making the buckets on the local endpoint")?;
    if !response.status().is_success() {
        bail!(
            "the local endpoint refused the buckets: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_bucket_is_named_after_the_stacks_id_and_notifies_its_queue_of_uploads() {
        let template = crate::tree::template().expect("template");
        let mut ctx = Context::local("ferrite-local", "us-east-1");
        let buckets = resolve_buckets(&template, &mut ctx).expect("buckets");
        let documents = buckets
            .iter()
            .find(|b| b.logical_id == "DocumentsBucket")
            .expect("DocumentsBucket");
        let uuid = ctx.stack_id().rsplit('/').next().expect("uuid").to_owned();
        assert_eq!(documents.name, format!("ferrite-documents-{uuid}"));
        assert!(
            documents.name.len() <= 63,
            "S3 names are at most 63 characters"
        );
        ctx.resolve_unprovisioned(&template);
        ctx.attributes.insert(
            "DocumentsQueue.Arn".into(),
            "arn:aws:sqs:us-east-1:123456789012:q".into(),
        );
        let resource = template
            .resources_of("AWS::S3::Bucket")
            .find(|r| r.logical_id == "DocumentsBucket")
            .expect("resource");
        let properties = template.eval(resource.properties, &ctx).expect("evaluates");
        assert_eq!(
            queue_notifications(&properties, "DocumentsBucket").expect("notifications"),
            vec![json!({
                "queueArn": "arn:aws:sqs:us-east-1:123456789012:q",
                "events": ["s3:ObjectCreated:*"],
                "prefix": "incoming/",
            })]
        );
    }
}
