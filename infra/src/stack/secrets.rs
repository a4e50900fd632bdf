//! The stack's secrets, made once per machine: the token signing keys (in the local Secrets
//! Manager and .local/secrets), the generated secrets (the cursor key), the verified email
//! sender and SES's configuration sets.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::template::{Context, Template};

use super::local_dir;

/// A development secret: 32 random bytes as hex, generated once into `.local/secrets/<name>`
/// and reused afterwards.
pub fn dev_secret(root: &Path, name: &str) -> Result<String> {
    let dir = local_dir(root).join("secrets");
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

/// The local signing keys: generated once into `.local/secrets/jwt-signing-keys.json`, stored
/// in the local endpoint's Secrets Manager under the name the template gives the minting
/// functions (`<stack>/jwt-signing-keys` by default), and
/// their public half given to the template's `JwtPublicKeys` parameter — what `make deploy`
/// does in AWS with `ferrite-admin keys ensure`.
pub async fn provision_signing_keys(
    root: &Path,
    template: &Template,
    ctx: &mut Context,
    endpoint: &str,
) -> Result<()> {
    let has = |name: &str| template.parameters().any(|(p, _)| p == name);
    if !has("JwtPublicKeys") || !has("SigningKeySecretName") {
        return Ok(());
    }
    let path = local_dir(root)
        .join("secrets")
        .join("jwt-signing-keys.json");
    let stored = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| shared::auth::keys::KeySet::parse(&text).ok());
    let keys = if let Some(keys) = stored {
        keys
    } else {
        let keys = shared::auth::keys::KeySet::generate()?;
        std::fs::create_dir_all(path.parent().unwrap_or(root))?;
        std::fs::write(&path, serde_json::to_string(&keys)?)?;
        keys
    };
    // The name the token-minting functions are given (SIGNING_KEY_SECRET_ID), as the template
    // derives it: `<stack>/jwt-signing-keys` unless SigningKeySecretName says otherwise.
    let Some(expression) = template
        .resources_of("AWS::Serverless::Function")
        .find_map(|f| {
            f.properties
                .get("Environment")?
                .get("Variables")?
                .get("SIGNING_KEY_SECRET_ID")
        })
    else {
        return Ok(());
    };
    let secret_name = match template.eval(expression, ctx)? {
        serde_json::Value::String(name) => name,
        other => bail!("SIGNING_KEY_SECRET_ID must be a string, not {other}"),
    };
    let sdk = crate::local_sdk_config(endpoint).await;
    store_key_set(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &secret_name,
        &keys,
    )
    .await?;
    ctx.parameters
        .insert("JwtPublicKeys".to_owned(), keys.public_keys()?);
    Ok(())
}

/// Creates the secret, or replaces its value when it exists.
pub async fn store_key_set(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    keys: &shared::auth::keys::KeySet,
) -> Result<()> {
    let value = serde_json::to_string(keys)?;
    let created = client
        .create_secret()
        .name(name)
        .secret_string(&value)
        .send()
        .await;
    if let Err(error) = created {
        let exists = error
            .as_service_error()
            .is_some_and(aws_sdk_secretsmanager::operation::create_secret::CreateSecretError::is_resource_exists_exception);
        if !exists {
            return Err(anyhow::Error::new(error).context(format!("creating secret {name}")));
        }
        client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .with_context(|| format!("updating secret {name}"))?;
    }
    Ok(())
}

/// Verifies the template's SES identities in the local SES, as the stack declares them (the
/// sender's domain, when `ManageEmailIdentity` holds); without one, the `EmailSender` address
/// itself, which the stack then expects verified outside it. moto, like SES in its sandbox,
/// refuses a sender no identity covers — and the email worker settles such a send as rejected.
pub async fn provision_email_sender(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
) -> Result<()> {
    let mut identities = Vec::new();
    for resource in template.resources_of("AWS::SES::EmailIdentity") {
        if let Some(condition) = resource
            .definition
            .get("Condition")
            .and_then(serde_yaml_ng::Value::as_str)
            && !template.condition(condition, ctx)?
        {
            continue;
        }
        let Some(identity) = resource.properties.get("EmailIdentity") else {
            bail!("{} has no EmailIdentity", resource.logical_id);
        };
        match template.eval(identity, ctx)? {
            serde_json::Value::String(identity) => identities.push(identity),
            other => bail!(
                "{}: EmailIdentity must be a string, not {other}",
                resource.logical_id
            ),
        }
    }
    if identities.is_empty() && template.parameters().any(|(name, _)| name == "EmailSender") {
        match template.eval(&serde_yaml_ng::from_str("!Ref EmailSender")?, ctx)? {
            serde_json::Value::String(sender) => identities.push(sender),
            other => bail!("EmailSender must be a string, not {other}"),
        }
    }
    let sdk = crate::local_sdk_config(endpoint).await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    for identity in identities {
        if let Err(error) = ses
            .create_email_identity()
            .email_identity(&identity)
            .send()
            .await
        {
            let exists = error
                .as_service_error()
                .is_some_and(aws_sdk_sesv2::operation::create_email_identity::CreateEmailIdentityError::is_already_exists_exception);
            if !exists {
                return Err(anyhow::Error::new(error)
                    .context(format!("verifying {identity} in the local SES")));
            }
        }
    }
    Ok(())
}

/// SES refuses a send that names a configuration set it does not have (so does the local
/// endpoint): the template's are made here, named as the template names them (or
/// `<stack>-<logical id>`).
pub async fn provision_configuration_sets(
    template: &Template,
    ctx: &mut Context,
    sdk: &aws_config::SdkConfig,
    report: &mut dyn FnMut(String),
) -> Result<()> {
    let ses = aws_sdk_sesv2::Client::new(sdk);
    for resource in template.resources_of("AWS::SES::ConfigurationSet") {
        let name = super::physical_name(template, &resource, "Name", ctx)?;
        if let Err(error) = ses
            .create_configuration_set()
            .configuration_set_name(&name)
            .send()
            .await
        {
            let exists = error.as_service_error().is_some_and(
                aws_sdk_sesv2::operation::create_configuration_set::CreateConfigurationSetError::is_already_exists_exception,
            );
            if !exists {
                return Err(anyhow::Error::new(error)
                    .context(format!("creating the configuration set {name}")));
            }
        }
        report(format!(
            "ses configuration set  {name}  ({})",
            resource.logical_id
        ));
        ctx.refs.insert(resource.logical_id.to_owned(), name);
    }
    Ok(())
}

/// The secrets the stack generates (the cursor key): made once with a random value and kept
/// after; their ARN is the resource's `Ref` and `<LOGICAL_ID>_ARN` in `env`.
pub async fn provision_generated_secrets(
    template: &Template,
    ctx: &mut Context,
    sdk: &aws_config::SdkConfig,
    env: &mut std::collections::BTreeMap<String, String>,
    report: &mut dyn FnMut(String),
) -> Result<()> {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    for resource in template.resources_of("AWS::SecretsManager::Secret") {
        let name = super::physical_name(template, &resource, "Name", ctx)?;
        let arn = if let Ok(found) = secrets.describe_secret().secret_id(&name).send().await {
            found.arn
        } else {
            let value = shared::accounts::random_token()
                .map_err(|e| anyhow::anyhow!("generating {name}: {e}"))?;
            secrets
                .create_secret()
                .name(&name)
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("creating secret {name}"))?
                .arn
        }
        .ok_or_else(|| anyhow::anyhow!("secret {name} has no ARN"))?;
        report(format!("secret {name}  ({})", resource.logical_id));
        env.insert(
            format!("{}_ARN", super::screaming_snake(resource.logical_id)),
            arn.clone(),
        );
        ctx.refs.insert(resource.logical_id.to_owned(), arn);
    }
    Ok(())
}
