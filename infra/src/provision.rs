//! Creates the template's DynamoDB tables and SQS queues on the local endpoint — the same keys,
//! indexes, TTL, stream and redrive policies that CloudFormation would create in AWS.
//! Idempotent: what already exists is left as it is.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value as Json;

use crate::template::{Context, Template};

/// A table as the template declares it (properties evaluated).
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub logical_id: String,
    pub properties: Json,
}

/// The template's tables.
pub fn table_specs(template: &Template, ctx: &Context) -> Result<Vec<TableSpec>> {
    template
        .resources_of("AWS::DynamoDB::Table")
        .map(|r| {
            Ok(TableSpec {
                logical_id: r.logical_id.to_owned(),
                properties: template
                    .eval(r.properties, ctx)
                    .with_context(|| format!("resource {}", r.logical_id))?,
            })
        })
        .collect()
}

fn str_field<'a>(value: &'a Json, field: &str) -> Result<&'a str> {
    value[field]
        .as_str()
        .ok_or_else(|| anyhow!("`{field}` must be a string"))
}

fn key_schema(value: &Json) -> Result<Vec<KeySchemaElement>> {
    value
        .as_array()
        .ok_or_else(|| anyhow!("`KeySchema` must be a list"))?
        .iter()
        .map(|element| {
            Ok(KeySchemaElement::builder()
                .attribute_name(str_field(element, "AttributeName")?)
                .key_type(KeyType::from(str_field(element, "KeyType")?))
                .build()?)
        })
        .collect()
}

fn projection(value: &Json) -> Projection {
    let kind = value["ProjectionType"].as_str().unwrap_or("ALL");
    let non_key = value["NonKeyAttributes"].as_array().map(|attrs| {
        attrs
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    });
    Projection::builder()
        .projection_type(ProjectionType::from(kind))
        .set_non_key_attributes(non_key)
        .build()
}

/// Creates `name` with the layout of `spec` and waits until it is ACTIVE, then enables TTL.
/// Does nothing if the table exists.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    name: &str,
) -> Result<()> {
    let props = &spec.properties;
    let exists = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok();
    if !exists {
        let attributes = props["AttributeDefinitions"]
            .as_array()
            .ok_or_else(|| anyhow!("`AttributeDefinitions` must be a list"))?
            .iter()
            .map(|a| {
                Ok(AttributeDefinition::builder()
                    .attribute_name(str_field(a, "AttributeName")?)
                    .attribute_type(ScalarAttributeType::from(str_field(a, "AttributeType")?))
                    .build()?)
            })
            .collect::<Result<Vec<_>>>()?;
        let indexes = props["GlobalSecondaryIndexes"]
            .as_array()
            .map(|indexes| {
                indexes
                    .iter()
                    .map(|index| {
                        Ok(GlobalSecondaryIndex::builder()
                            .index_name(str_field(index, "IndexName")?)
                            .set_key_schema(Some(key_schema(&index["KeySchema"])?))
                            .projection(projection(&index["Projection"]))
                            .build()?)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let stream = props["StreamSpecification"]["StreamViewType"]
            .as_str()
            .map(|view| {
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()
            })
            .transpose()?;
        if props["BillingMode"].as_str() != Some("PAY_PER_REQUEST") {
            bail!(
                "table {}: only PAY_PER_REQUEST billing is provisioned locally",
                spec.logical_id
            );
        }
        client
            .create_table()
            .table_name(name)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&props["KeySchema"])?))
            .set_global_secondary_indexes(indexes)
            .billing_mode(BillingMode::PayPerRequest)
            .set_stream_specification(stream)
            .send()
            .await
            .with_context(|| format!("creating table {name}"))?;
    }

    wait_active(client, name).await?;
    enable_ttl(client, props, name).await
}

async fn wait_active(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    for _ in 0..100 {
        let status = client
            .describe_table()
            .table_name(name)
            .send()
            .await?
            .table
            .and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn enable_ttl(client: &aws_sdk_dynamodb::Client, props: &Json, name: &str) -> Result<()> {
    let ttl = &props["TimeToLiveSpecification"];
    if ttl["Enabled"] == Json::Bool(true) || ttl["Enabled"] == "true" {
        let attribute = str_field(ttl, "AttributeName")?;
        let current = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await?
            .time_to_live_description
            .and_then(|d| d.attribute_name);
        if current.as_deref() != Some(attribute) {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attribute)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .with_context(|| format!("enabling TTL on {name}"))?;
        }
    }
    Ok(())
}

/// SQS attributes CloudFormation's `AWS::SQS::Queue` properties map to.
const QUEUE_ATTRIBUTES: &[(&str, &str)] = &[
    ("DelaySeconds", "DelaySeconds"),
    ("MaximumMessageSize", "MaximumMessageSize"),
    ("MessageRetentionPeriod", "MessageRetentionPeriod"),
    (
        "ReceiveMessageWaitTimeSeconds",
        "ReceiveMessageWaitTimeSeconds",
    ),
    ("VisibilityTimeout", "VisibilityTimeout"),
    ("FifoQueue", "FifoQueue"),
    ("ContentBasedDeduplication", "ContentBasedDeduplication"),
    ("SqsManagedSseEnabled", "SqsManagedSseEnabled"),
];

fn attribute_string(value: &Json) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// A queue created locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// Creates every `AWS::SQS::Queue` of the template, dead-letter queues before the queues that
/// redrive into them, and records each queue's URL (`Ref`) and ARN (`Fn::GetAtt .Arn`) in `ctx`.
/// Queue names are `<stack>-<LogicalId>`.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    template: &Template,
    ctx: &mut Context,
) -> Result<Vec<Queue>> {
    let mut pending: Vec<_> = template.resources_of("AWS::SQS::Queue").collect();
    let mut created = Vec::new();
    while !pending.is_empty() {
        let mut progressed = false;
        let mut waiting = Vec::new();
        for resource in pending {
            // A queue whose redrive target is not created yet fails to evaluate: retry next pass.
            let Ok(props) = template.eval(resource.properties, ctx) else {
                waiting.push(resource);
                continue;
            };
            let fifo = props["FifoQueue"] == Json::Bool(true) || props["FifoQueue"] == "true";
            let name = format!(
                "{}-{}{}",
                ctx.stack_name,
                resource.logical_id,
                if fifo { ".fifo" } else { "" }
            );
            let mut attributes: HashMap<QueueAttributeName, String> = QUEUE_ATTRIBUTES
                .iter()
                .filter(|(property, _)| !props[*property].is_null())
                .map(|(property, attribute)| {
                    (
                        QueueAttributeName::from(*attribute),
                        attribute_string(&props[*property]),
                    )
                })
                .collect();
            if !props["RedrivePolicy"].is_null() {
                attributes.insert(
                    QueueAttributeName::RedrivePolicy,
                    props["RedrivePolicy"].to_string(),
                );
            }
            let url = client
                .create_queue()
                .queue_name(&name)
                .set_attributes(Some(attributes))
                .send()
                .await
                .with_context(|| format!("creating queue {name}"))?
                .queue_url
                .ok_or_else(|| anyhow!("queue {name}: no URL returned"))?;
            let arn = client
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await?
                .attributes
                .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
                .ok_or_else(|| anyhow!("queue {name}: no ARN returned"))?;
            ctx.refs.insert(resource.logical_id.to_owned(), url.clone());
            ctx.attributes
                .insert(format!("{}.Arn", resource.logical_id), arn.clone());
            ctx.attributes
                .insert(format!("{}.QueueName", resource.logical_id), name.clone());
            created.push(Queue {
                logical_id: resource.logical_id.to_owned(),
                name,
                url,
                arn,
            });
            progressed = true;
        }
        if !progressed {
            let ids: Vec<_> = waiting.iter().map(|r| r.logical_id).collect();
            let reason = waiting
                .first()
                .and_then(|r| template.eval(r.properties, ctx).err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            bail!("cannot provision queues {ids:?}: {reason}");
        }
        pending = waiting;
    }
    Ok(created)
}
