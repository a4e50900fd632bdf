//! The pieces of the local stack and how they are wired: the endpoint's resources provisioned
//! from the template, development secrets, the functions' environment as the template declares
//! it, `cargo lambda watch` running the functions, and the gateway in front.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::gateway::{Cors, Gateway};
use crate::routes::{self, Route};
use crate::template::{Context, Template};
use crate::{LOCAL_REGION, iam, provision};

/// `.local/`: pid files, logs, generated secrets and environment files (git-ignored).
pub fn local_dir(root: &Path) -> PathBuf {
    root.join(".local")
}

/// The environment every local process gets to reach the endpoint.
pub fn base_env(endpoint: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned()),
        ("AWS_REGION".to_owned(), LOCAL_REGION.to_owned()),
        ("AWS_DEFAULT_REGION".to_owned(), LOCAL_REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
    ])
}

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
/// in the local endpoint's Secrets Manager under the template's `SigningKeySecretName`, and
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
    let secret_name =
        match template.eval(&serde_yaml_ng::from_str("!Ref SigningKeySecretName")?, ctx)? {
            serde_json::Value::String(name) => name,
            other => bail!("SigningKeySecretName must be a string, not {other}"),
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

/// Verifies the template's `EmailSender` in the local SES (moto refuses unverified senders,
/// like SES in its sandbox).
pub async fn provision_email_sender(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
) -> Result<()> {
    if !template.parameters().any(|(name, _)| name == "EmailSender") {
        return Ok(());
    }
    let sender = match template.eval(&serde_yaml_ng::from_str("!Ref EmailSender")?, ctx)? {
        serde_json::Value::String(sender) => sender,
        other => bail!("EmailSender must be a string, not {other}"),
    };
    let sdk = crate::local_sdk_config(endpoint).await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    if let Err(error) = ses
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
    {
        let exists = error
            .as_service_error()
            .is_some_and(aws_sdk_sesv2::operation::create_email_identity::CreateEmailIdentityError::is_already_exists_exception);
        if !exists {
            return Err(
                anyhow::Error::new(error).context(format!("verifying {sender} in the local SES"))
            );
        }
    }
    Ok(())
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
    for pipe in crate::pumps::pipes(template, ctx)? {
        let sdk = role_sdk_config(endpoint, principals, &pipe.name).await?;
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

/// Creates the template's tables and queues on `endpoint`, recording their names in `ctx`, and
/// returns the variables a shell needs to use them (`TABLE_NAME`, `<LOGICAL_ID>_URL`).
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
    // Resources with no local counterpart (the HTTP API, functions, roles) resolve to their
    // logical id, so properties that mention them still evaluate.
    for resource in template.resources() {
        ctx.refs
            .entry(resource.logical_id.to_owned())
            .or_insert_with(|| resource.logical_id.to_owned());
    }
    Ok(env)
}

/// `AuditDeadLetterQueue` → `AUDIT_DEAD_LETTER_QUEUE`.
pub fn screaming_snake(id: &str) -> String {
    let mut out = String::new();
    for (i, c) in id.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The environment of `cargo lambda watch` itself: the endpoint, the region and Lambda's
/// logging variables from the template's `LoggingConfig`. No credentials and nothing of any one
/// function: each function gets exactly its own environment ([`function_envs`]) when it starts.
pub fn watch_env(
    template: &Template,
    ctx: &Context,
    endpoint: &str,
) -> Result<BTreeMap<String, String>> {
    let mut env = base_env(endpoint);
    env.remove("AWS_ACCESS_KEY_ID");
    env.remove("AWS_SECRET_ACCESS_KEY");
    let globals = template
        .globals("Function")
        .map(|g| template.eval(g, ctx))
        .transpose()?
        .unwrap_or_default();
    if let Some(format) = globals["LoggingConfig"]["LogFormat"].as_str() {
        env.insert("AWS_LAMBDA_LOG_FORMAT".to_owned(), format.to_owned());
    }
    if let Some(level) = globals["LoggingConfig"]["ApplicationLogLevel"].as_str() {
        env.insert("AWS_LAMBDA_LOG_LEVEL".to_owned(), level.to_owned());
    }
    Ok(env)
}

/// Each function's own environment, by binary: what the template declares for it (Globals and
/// its own `Environment`) and the credentials of its execution role — what Lambda gives a
/// function, and nothing of the other functions'.
pub fn function_envs(
    template: &Template,
    ctx: &Context,
    principals: &[iam::Principal],
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut envs = BTreeMap::new();
    for function in routes::functions(template, ctx)? {
        let principal = iam::for_user(principals, &function.logical_id).ok_or_else(|| {
            anyhow!(
                "function {} has no role in the expanded template",
                function.logical_id
            )
        })?;
        let mut env = function.environment;
        env.insert(
            "AWS_ACCESS_KEY_ID".to_owned(),
            principal.access_key_id.clone(),
        );
        env.insert(
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            iam::LOCAL_SECRET.to_owned(),
        );
        envs.insert(function.binary, env);
    }
    Ok(envs)
}

/// The variable that makes `cargo run` start binaries through a runner, for the host target.
pub fn runner_variable() -> Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or_else(|| anyhow!("rustc -vV names no host"))?;
    Ok(format!(
        "CARGO_TARGET_{}_RUNNER",
        host.to_ascii_uppercase().replace(['-', '.'], "_")
    ))
}

/// Writes the functions' environments for `infra/run-function` into `dir/<binary>.env`.
pub fn write_function_envs(
    dir: &Path,
    envs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<()> {
    drop(std::fs::remove_dir_all(dir));
    std::fs::create_dir_all(dir)?;
    for (binary, env) in envs {
        write_env_file(&dir.join(format!("{binary}.env")), env, false)?;
    }
    Ok(())
}

/// Writes `KEY='value'` lines (with `export ` for a shell): single quotes keep every value
/// literal for both a shell and dotenv parsers (`cargo lambda watch --env-file`).
pub fn write_env_file(path: &Path, env: &BTreeMap<String, String>, export: bool) -> Result<()> {
    let prefix = if export { "export " } else { "" };
    if let Some((name, _)) = env
        .iter()
        .find(|(_, v)| v.contains('\'') || v.contains('\n'))
    {
        bail!("{name}: values with quotes or newlines cannot go into an env file");
    }
    let text: String = env
        .iter()
        .map(|(k, v)| format!("{prefix}{k}='{v}'\n"))
        .collect();
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A child process in its own process group, stopped (whole group) when dropped.
#[derive(Debug)]
pub struct GroupChild {
    pub name: &'static str,
    pub child: Child,
}

impl GroupChild {
    pub fn stop(&mut self) {
        let pid = self.child.id();
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let group = format!("-{pid}");
        drop(Command::new("kill").args(["-TERM", "--", &group]).status());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // The leader is gone; make sure the rest of its group is too.
                drop(
                    Command::new("kill")
                        .args(["-KILL", "--", &group])
                        .stderr(Stdio::null())
                        .status(),
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(Command::new("kill").args(["-KILL", "--", &group]).status());
        drop(self.child.wait());
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `cargo lambda watch` for the workspace on `127.0.0.1:port` with `env_file`; every
/// function starts through `infra/run-function` with its environment from `function_env_dir`.
/// With `reload`, an edit rebuilds and restarts the functions (`make dev`); without, the
/// functions never restart under a caller (`make test`, `make soak`: an invocation in flight
/// when its function restarts is lost).
pub fn spawn_watch(
    root: &Path,
    port: u16,
    env_file: &Path,
    function_env_dir: &Path,
    log: Option<&Path>,
    reload: bool,
) -> Result<GroupChild> {
    let runner = root.join("infra/run-function");
    if runner.to_string_lossy().contains(char::is_whitespace) {
        bail!(
            "{} has white space in its path: cargo cannot use it as a runner",
            runner.display()
        );
    }
    // cargo-lambda comes from the project's venv (`make setup`): put it on the PATH even when
    // this runs outside `make`.
    let venv_bin = root.join(".venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(&path)))?;
    let mut command = Command::new("cargo");
    for variable in cargo_run_variables() {
        command.env_remove(variable);
    }
    command
        .current_dir(root)
        .env("PATH", path)
        .env(runner_variable()?, &runner)
        .env("FERRITE_FUNCTION_ENV_DIR", function_env_dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .arg("--env-file")
        .arg(env_file)
        .args((!reload).then_some("--ignore-changes"))
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(log) = log {
        let file = std::fs::File::create(log)?;
        command.stdout(file.try_clone()?).stderr(file);
    }
    let child = command
        .spawn()
        .context("starting `cargo lambda watch` (is cargo-lambda installed? `make setup` puts it in .venv/bin)")?;
    Ok(GroupChild {
        name: "cargo lambda watch",
        child,
    })
}

/// The variables `cargo run` sets for the program it runs (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
/// …). A cargo started by that program must not inherit them: some build scripts (ring's)
/// declare `rerun-if-env-changed=CARGO_MANIFEST_DIR`, so a build with them and a build without
/// them invalidate each other and recompile half the dependency graph each time.
pub fn cargo_run_variables() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            name.to_str().is_some_and(|n| {
                n.starts_with("CARGO_PKG_")
                    || n.starts_with("CARGO_MANIFEST_")
                    || matches!(
                        n,
                        "CARGO_PRIMARY_PACKAGE" | "CARGO_BIN_NAME" | "CARGO_CRATE_NAME"
                    )
            })
        })
        .collect()
}

/// Builds every binary of the workspace the way `cargo lambda watch` builds one function
/// (`cargo run --bin <name>`, no package: the same feature resolution, so the same artifacts),
/// so that no function compiles on its first call and no caller's clock includes a build.
pub fn build_functions(root: &Path) -> Result<()> {
    let started = Instant::now();
    let mut command = Command::new("cargo");
    for variable in cargo_run_variables() {
        command.env_remove(variable);
    }
    let status = command
        .current_dir(root)
        .args(["build", "--manifest-path", "Cargo.toml", "--bins"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the functions failed ({status})");
    }
    eprintln!(
        "ferrite-local: functions built ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub async fn wait_port(port: u16, child: &mut GroupChild, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = child.child.try_wait()? {
            bail!(
                "{} exited ({status}) before listening on port {port}",
                child.name
            );
        }
        if started.elapsed() > timeout {
            bail!(
                "{} did not listen on port {port} within {timeout:?}",
                child.name
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The HTTP API's CORS configuration, from the first `AWS::Serverless::HttpApi` of the template.
pub fn cors(template: &Template, ctx: &Context) -> Result<Option<Cors>> {
    let Some(api) = template.resources_of("AWS::Serverless::HttpApi").next() else {
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
        client: reqwest::Client::new(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the gateway to 127.0.0.1:{port}"))?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(gateway.serve(listener));
    Ok((address, routes, task))
}

/// The route table as printed by `make dev`.
pub fn route_table(routes: &[Route]) -> String {
    let width = routes.iter().map(|r| r.key().len()).max().unwrap_or(0);
    routes
        .iter()
        .map(|r| format!("  {:width$}  -> {}\n", r.key(), r.binary))
        .collect()
}
