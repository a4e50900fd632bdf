//! The stack's KMS keys and aliases, on the local endpoint: each `AWS::KMS::Key` once per
//! endpoint (found again by an alias of the local stack's own), with `Ref` its key id and
//! `Fn::GetAtt <Key>.Arn` its ARN; each `AWS::KMS::Alias` pointing at its key. The key policy is
//! not given to the endpoint: the local IAM evaluates it, as KMS does ([`crate::iam::resource_policies`]).

use anyhow::{Context as _, Result, anyhow};

use crate::template::{Context, Template};

/// Creates (or finds) the template's keys and aliases on the endpoint of `sdk`; each key's ARN
/// is `<LOGICAL_ID>_ARN` in `env`.
pub async fn provision_keys(
    template: &Template,
    ctx: &mut Context,
    sdk: &aws_config::SdkConfig,
    env: &mut std::collections::BTreeMap<String, String>,
    report: &mut dyn FnMut(String),
) -> Result<()> {
    let kms = aws_sdk_kms::Client::new(sdk);
    for resource in template.resources_of("AWS::KMS::Key") {
        let own_alias = format!(
            "alias/ferrite-local/{}/{}",
            ctx.stack_name, resource.logical_id
        );
        let existing = kms
            .describe_key()
            .key_id(&own_alias)
            .send()
            .await
            .ok()
            .and_then(|found| found.key_metadata);
        let metadata = if let Some(metadata) = existing {
            metadata
        } else {
            let mut create = kms.create_key();
            if let Some(description) = template.property_text(&resource, "Description", ctx)? {
                create = create.description(description);
            }
            if let Some(usage) = template.property_text(&resource, "KeyUsage", ctx)? {
                create = create.key_usage(usage.as_str().into());
            }
            if let Some(spec) = template.property_text(&resource, "KeySpec", ctx)? {
                create = create.key_spec(spec.as_str().into());
            }
            let metadata = create
                .send()
                .await
                .with_context(|| format!("creating KMS key {}", resource.logical_id))?
                .key_metadata
                .ok_or_else(|| anyhow!("KMS key {} has no metadata", resource.logical_id))?;
            kms.create_alias()
                .alias_name(&own_alias)
                .target_key_id(metadata.key_id())
                .send()
                .await
                .with_context(|| format!("naming KMS key {}", resource.logical_id))?;
            metadata
        };
        let arn = metadata
            .arn()
            .ok_or_else(|| anyhow!("KMS key {} has no ARN", resource.logical_id))?
            .to_owned();
        report(format!("key    {arn}  ({})", resource.logical_id));
        env.insert(
            format!("{}_ARN", super::screaming_snake(resource.logical_id)),
            arn.clone(),
        );
        ctx.attributes
            .insert(format!("{}.Arn", resource.logical_id), arn);
        ctx.attributes.insert(
            format!("{}.KeyId", resource.logical_id),
            metadata.key_id().to_owned(),
        );
        ctx.refs
            .insert(resource.logical_id.to_owned(), metadata.key_id().to_owned());
    }
    for resource in template.resources_of("AWS::KMS::Alias") {
        let name = template
            .property_text(&resource, "AliasName", ctx)?
            .ok_or_else(|| anyhow!("KMS alias {} has no AliasName", resource.logical_id))?;
        let target = template
            .property_text(&resource, "TargetKeyId", ctx)?
            .ok_or_else(|| anyhow!("KMS alias {} has no TargetKeyId", resource.logical_id))?;
        let exists = kms.describe_key().key_id(&name).send().await.is_ok();
        if exists {
            kms.update_alias()
                .alias_name(&name)
                .target_key_id(&target)
                .send()
                .await
                .with_context(|| format!("pointing {name} at its key"))?;
        } else {
            kms.create_alias()
                .alias_name(&name)
                .target_key_id(&target)
                .send()
                .await
                .with_context(|| format!("creating {name}"))?;
        }
        report(format!("alias  {name}  ({})", resource.logical_id));
        ctx.refs.insert(resource.logical_id.to_owned(), name);
    }
    Ok(())
}
