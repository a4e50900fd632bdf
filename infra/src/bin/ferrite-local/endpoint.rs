//! The local AWS endpoint (moto with Ferrite's patches and IAM) as a child process, and the
//! resources of template.yaml provisioned on it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use infra::stack::{self, local_dir};
use infra::template::Context;
use infra::{LOCAL_REGION, moto};

use super::Project;

/// The local AWS endpoint: reused if one answers on the port, else started here.
pub(crate) struct Endpoint {
    pub(crate) url: String,
    /// Set when this process started it (and so must stop it).
    pub(crate) owned: Option<std::process::Child>,
}

impl Endpoint {
    /// The endpoint on `port`: an endpoint already answering there is reused.
    pub(crate) async fn start(root: &Path, port: u16) -> Result<Self> {
        let url = format!("http://127.0.0.1:{port}");
        if moto::answers("127.0.0.1", port).await {
            println!("local AWS endpoint already answering at {url}: reusing it");
            return Ok(Self { url, owned: None });
        }
        Self::start_logged(root, port, &local_dir(root).join("moto.log")).await
    }

    /// A new endpoint on `port`, logging to `log`.
    pub(crate) async fn start_logged(root: &Path, port: u16, log: &Path) -> Result<Self> {
        let url = format!("http://127.0.0.1:{port}");
        let mut child = moto::spawn(root, "127.0.0.1", port, log)?;
        if let Err(error) =
            moto::wait_ready("127.0.0.1", port, Some(&mut child), Duration::from_secs(60)).await
        {
            drop(moto::stop(child.id()));
            return Err(error);
        }
        Ok(Self {
            url,
            owned: Some(child),
        })
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.owned.take() {
            if let Err(error) = moto::stop(child.id()) {
                eprintln!(
                    "ferrite-local: could not stop moto (pid {}): {error:#}",
                    child.id()
                );
            }
            drop(child.wait());
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Endpoint provisioned, secrets chosen, the roles registered with the endpoint's IAM: what
/// `dev` and `exec --api` start from.
pub(crate) struct Provisioned {
    pub(crate) ctx: Context,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) principals: Vec<infra::iam::Principal>,
}

pub(crate) async fn provisioned(
    project: &Project,
    endpoint: &str,
    quiet: bool,
) -> Result<Provisioned> {
    let (root, template) = (project.root.as_path(), &project.template);
    let mut ctx = Context::local(&project.stack, LOCAL_REGION);
    for (name, value) in &project.parameters {
        if !template.parameters().any(|(p, _)| p == name) {
            bail!("--parameter {name}: the template has no such parameter");
        }
        ctx.parameters.insert(name.clone(), value.clone());
    }
    // The endpoint, as `sam local` is given it (`LocalEndpointUrl`): what the template says of
    // a local run holds here too (the stand-in OIDC issuers the provider sign-in trusts).
    if template.parameters().any(|(p, _)| p == "LocalEndpointUrl") {
        ctx.parameters
            .entry("LocalEndpointUrl".to_owned())
            .or_insert_with(|| endpoint.to_owned());
    }
    stack::provision_signing_keys(root, template, &mut ctx, endpoint).await?;
    stack::dev_parameters(root, template, &mut ctx)?;
    stack::provision_email_sender(template, &ctx, endpoint).await?;
    let mut report = |line: String| {
        if !quiet {
            println!("  {line}");
        }
    };
    let mut env = stack::base_env(endpoint);
    env.extend(stack::provision_all(template, &mut ctx, endpoint, &mut report).await?);
    let expanded = infra::tree::expanded(root, &project.template_path)?;
    let principals = infra::iam::principals(root, &expanded, &ctx, &project.stack)?;
    infra::iam::register(endpoint, &principals).await?;
    infra::iam::register_resource_policies(
        endpoint,
        &infra::iam::resource_policies(&expanded, &ctx)?,
    )
    .await?;
    stack::provision_buckets(template, &ctx, endpoint, &mut report).await?;
    report(format!(
        "iam    {} roles enforced: each function, pipe, rule and queue poller signs as its own role, queue policies too",
        principals.len()
    ));
    Ok(Provisioned {
        ctx,
        env,
        principals,
    })
}
