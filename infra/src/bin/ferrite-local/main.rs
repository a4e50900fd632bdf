#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-local`: Ferrite's local stack without Docker — the AWS endpoint (moto) provisioned
//! from template.yaml, the functions under `cargo lambda watch`, and a local API Gateway.
//! See `ferrite-local --help`.

mod api;
mod endpoint;

use api::Api;
use endpoint::{Endpoint, provisioned};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use clap::{Parser, Subcommand};
use infra::stack::{self, local_dir};
use infra::template::{Context, Template};
use infra::{LOCAL_REGION, moto, workspace_root};

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-local",
    about = "Ferrite's local stack: AWS endpoint, functions and API gateway"
)]
struct Cli {
    /// Stack name: prefixes local resource names (`<stack>-table`, `<stack>-AuditQueue`).
    #[arg(long, global = true, default_value = "ferrite-local")]
    stack: String,
    /// The SAM template to read.
    #[arg(long, global = true)]
    template: Option<PathBuf>,
    /// A template parameter's value, as `sam deploy --parameter-overrides` would set it
    /// (`--parameter RegistrationMode=silent`; repeatable). Also read from
    /// `FERRITE_PARAMETERS` (space-separated `Name=Value`), which `make … PARAMS=…` sets.
    #[arg(long = "parameter", global = true, value_parser = parameter)]
    parameters: Vec<(String, String)>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The whole API locally: endpoint, functions (`cargo lambda watch`), gateway. Ctrl-C stops
    /// everything this command started.
    Dev {
        /// Port of the API (the gateway).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Port of the Lambda Invoke API (`cargo lambda watch`).
        #[arg(long, default_value_t = 9000)]
        lambda_port: u16,
        /// Port of the WebSocket API (live notifications).
        #[arg(long, default_value_t = 3001)]
        websocket_port: u16,
        /// Port of the local AWS endpoint.
        #[arg(long, default_value_t = 4566)]
        endpoint_port: u16,
    },
    /// Only the local AWS endpoint, provisioned; it keeps running (stop it with `down`).
    Up {
        #[arg(long, default_value_t = 4566)]
        port: u16,
    },
    /// Stop the endpoint started by `up` (only that process, by pid).
    Down,
    /// Provision the template's table and queues into a running endpoint.
    Provision {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
    },
    /// Fire one of the template's schedules now, as of a time, into the running stack (`make
    /// dev`): its message goes to its target queue with its role, as EventBridge Scheduler
    /// sends it (`ferrite-local fire RentSchedule --at 2027-02-01T00:05:00Z`).
    Fire {
        /// The schedule's logical id.
        schedule: String,
        /// The scheduled time it fires as of (RFC 3339, UTC); now when absent.
        #[arg(long)]
        at: Option<String>,
        #[arg(
            long,
            env = "AWS_ENDPOINT_URL",
            default_value = "http://127.0.0.1:4566"
        )]
        endpoint: String,
    },
    /// Only the gateway, in front of any Lambda Invoke API (e.g. `sam local start-lambda`).
    Gateway {
        #[arg(long, default_value = "http://127.0.0.1:3001")]
        lambda_url: String,
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// Write `.local/sam-env.json` for `sam local start-api|start-lambda --env-vars`: each
    /// function's template-declared variables with local values (provisions the endpoint first).
    SamEnv {
        #[arg(long, default_value = "http://127.0.0.1:4566")]
        endpoint: String,
    },
    /// Run a command against a private stack on free ports, then stop the stack. The command
    /// gets `AWS_ENDPOINT_URL`, `AWS_REGION` and dummy credentials; with `--api` also
    /// `FERRITE_API_URL` (and the provisioned resources' variables).
    Exec {
        /// Provision the template's table and queues (tests make their own tables).
        #[arg(long)]
        provision: bool,
        /// Also run the functions and the gateway (implies --provision).
        #[arg(long)]
        api: bool,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

/// What every command works on: the repository, its template and the stack's name.
struct Project {
    pub(crate) root: PathBuf,
    pub(crate) template: Template,
    pub(crate) template_path: PathBuf,
    pub(crate) stack: String,
    /// Template parameters set on the command line (they win over the template's defaults).
    pub(crate) parameters: Vec<(String, String)>,
}

/// `FERRITE_PARAMETERS`: space-separated `Name=Value` pairs.
fn from_env_parameters() -> Result<Vec<(String, String)>> {
    std::env::var("FERRITE_PARAMETERS")
        .unwrap_or_default()
        .split_whitespace()
        .map(|pair| parameter(pair).map_err(|e| anyhow!("FERRITE_PARAMETERS: {e}")))
        .collect()
}

/// `Name=Value`, where `Name` is a template parameter's name.
fn parameter(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("`{raw}` is not Name=Value"))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("`{name}` is not a template parameter name"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

async fn dev(project: &Project, ports: (u16, u16, u16, u16)) -> Result<()> {
    let (port, lambda_port, websocket_port, endpoint_port) = ports;
    let root = project.root.as_path();
    let started = Instant::now();
    std::fs::create_dir_all(local_dir(root))?;
    let mut endpoint = Endpoint::start(root, endpoint_port).await?;
    println!("local AWS endpoint: {}", endpoint.url);
    let stack = provisioned(project, &endpoint.url, false).await?;
    stack::write_env_file(&local_dir(root).join("env"), &stack.env, true)?;
    let mut api = Api::start(
        project,
        &stack,
        &endpoint.url,
        (port, lambda_port, websocket_port),
        &local_dir(root),
        None,
    )
    .await?;
    let api_url = api.url.clone();

    println!(
        "\nFerrite API on {api_url}  (ready in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
    print!("{}", stack::route_table(&api.routes));
    println!(
        "Event pumps: table stream -> pipes -> queues -> workers ({} running; status in .local/pumps.json)",
        api.pumps.len()
    );
    if let Some((websocket_url, _)) = &api.websocket {
        println!(
            "Live notifications: {websocket_url}  (subprotocols ferrite.v1 and bearer.<access token>)"
        );
    }
    println!("\nTry: curl -i {api_url}/v1/health");
    println!("Shell environment for the endpoint: source .local/env.  Ctrl-C stops everything.\n");

    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let outcome = loop {
        tokio::select! {
            _ = &mut ctrl_c => break Ok(()),
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(status) = api.watch.child.try_wait()? {
                    break Err(anyhow!("cargo lambda watch exited ({status})"));
                }
                if api.gateway.is_finished() {
                    break Err(anyhow!("the gateway stopped"));
                }
            }
        }
    };
    println!("\nstopping…");
    api.stop();
    endpoint.stop();
    println!(
        "stopped: gateway, pumps, cargo lambda watch and the functions, and the endpoint if this command started it"
    );
    outcome
}

async fn up(project: &Project, port: u16) -> Result<()> {
    let root = project.root.as_path();
    let started = Instant::now();
    std::fs::create_dir_all(local_dir(root))?;
    let mut endpoint = Endpoint::start(root, port).await?;
    if let Some(child) = &endpoint.owned {
        std::fs::write(local_dir(root).join("moto.pid"), child.id().to_string())?;
    }
    println!("local AWS endpoint: {}", endpoint.url);
    let stack = provisioned(project, &endpoint.url, false).await?;
    stack::write_env_file(&local_dir(root).join("env"), &stack.env, true)?;
    // Detach: the endpoint keeps running after this command; `down` stops it by pid.
    endpoint.owned = None;
    println!(
        "ready in {:.1}s; environment in .local/env (`source .local/env`); stop with `make down`",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn down(root: &Path) -> Result<()> {
    let pid_file = local_dir(root).join("moto.pid");
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        println!("no endpoint started by `ferrite-local up` (no .local/moto.pid)");
        return Ok(());
    };
    let pid: u32 = text.trim().parse().context("malformed .local/moto.pid")?;
    moto::stop(pid)?;
    std::fs::remove_file(&pid_file)?;
    println!("local AWS endpoint stopped (pid {pid})");
    Ok(())
}

async fn exec(
    project: &Project,
    provision: bool,
    api: bool,
    command: &[String],
) -> Result<ExitCode> {
    let root = project.root.as_path();
    std::fs::create_dir_all(local_dir(root))?;
    // Each run's logs and files go to .local/exec/<pid>/, kept for a post-mortem until the next run.
    let exec_root = local_dir(root).join("exec");
    drop(std::fs::remove_dir_all(&exec_root));
    let run_dir = exec_root.join(std::process::id().to_string());
    std::fs::create_dir_all(&run_dir)?;
    let mut endpoint =
        Endpoint::start_logged(root, moto::free_port()?, &run_dir.join("moto.log")).await?;
    eprintln!("ferrite-local: AWS endpoint {}", endpoint.url);
    let mut env = stack::base_env(&endpoint.url);
    env.insert("FERRITE_STACK".to_owned(), project.stack.clone());
    let mut running = None;
    if provision || api {
        let stack = provisioned(project, &endpoint.url, true).await?;
        env.extend(stack.env.clone());
        for (name, value) in &stack.ctx.parameters {
            env.insert(
                format!("FERRITE_PARAM_{}", stack::screaming_snake(name)),
                value.clone(),
            );
        }
        if api {
            let log = run_dir.join("functions.log");
            let ports = (moto::free_port()?, moto::free_port()?, 0);
            let api =
                Api::start(project, &stack, &endpoint.url, ports, &run_dir, Some(&log)).await?;
            eprintln!(
                "ferrite-local: API {} (functions log {})",
                api.url,
                log.display()
            );
            env.insert("FERRITE_API_URL".to_owned(), api.url.clone());
            if let Some((websocket_url, _)) = &api.websocket {
                env.insert("FERRITE_WEBSOCKET_URL".to_owned(), websocket_url.clone());
            }
            env.insert(
                "FERRITE_FUNCTIONS_LOG".to_owned(),
                log.to_string_lossy().into_owned(),
            );
            env.insert(
                "FERRITE_PUMPS_STATUS".to_owned(),
                run_dir.join("pumps.json").to_string_lossy().into_owned(),
            );
            running = Some(api);
        }
    }

    let (program, args) = command.split_first().context("no command given")?;
    let mut child = tokio::process::Command::new(program);
    for variable in stack::cargo_run_variables() {
        child.env_remove(variable);
    }
    let mut child = child
        .args(args)
        .envs(&env)
        .spawn()
        .with_context(|| format!("running {program}"))?;
    let status = tokio::select! {
        status = child.wait() => status?,
        // The command shares our process group and got the same Ctrl-C: let it finish.
        _ = tokio::signal::ctrl_c() => child.wait().await?,
    };
    if let Some(mut api) = running {
        api.stop();
    }
    endpoint.stop();
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(130),
    })
}

async fn sam_env(project: &Project, endpoint: &str) -> Result<()> {
    let stack = provisioned(project, endpoint, true).await?;
    let mut file = serde_json::Map::new();
    for function in infra::routes::functions(&project.template, &stack.ctx)? {
        // `sam local` can only override variables the template declares.
        file.insert(function.logical_id, serde_json::json!(function.environment));
    }
    let path = local_dir(&project.root).join("sam-env.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)?;
    println!("wrote {}", path.display());
    Ok(())
}

async fn gateway_only(
    template: &Template,
    stack_name: &str,
    lambda_url: &str,
    port: u16,
) -> Result<()> {
    let mut ctx = Context::local(stack_name, LOCAL_REGION);
    // Routes do not depend on parameter values: give the ones without defaults a placeholder.
    for (name, definition) in template.parameters() {
        if definition.get("Default").is_none() {
            ctx.parameters.insert(name.to_owned(), String::new());
        }
    }
    ctx.resolve_unprovisioned(template);
    let (address, routes, task) = stack::start_gateway(template, &ctx, lambda_url, port).await?;
    println!("gateway on http://{address} -> {lambda_url}");
    print!("{}", stack::route_table(&routes));
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        result = task => result?,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let template_path = cli.template.clone().unwrap_or_else(infra::template_path);
    let run = async {
        let project = Project {
            template: infra::tree::flattened(&root, &template_path)?,
            template_path: template_path.clone(),
            root: root.clone(),
            stack: cli.stack.clone(),
            parameters: from_env_parameters()?
                .into_iter()
                .chain(cli.parameters.iter().cloned())
                .collect(),
        };
        match &cli.command {
            Cmd::Dev {
                port,
                lambda_port,
                websocket_port,
                endpoint_port,
            } => {
                dev(
                    &project,
                    (*port, *lambda_port, *websocket_port, *endpoint_port),
                )
                .await?;
            }
            Cmd::Up { port } => up(&project, *port).await?,
            Cmd::Down => down(&root)?,
            Cmd::Provision { endpoint } => {
                let mut ctx = Context::local(&cli.stack, LOCAL_REGION);
                let env =
                    stack::provision_all(&project.template, &mut ctx, endpoint, &mut |line| {
                        println!("# {line}");
                    })
                    .await?;
                for (k, v) in env {
                    println!("export {k}={v}");
                }
            }
            Cmd::SamEnv { endpoint } => sam_env(&project, endpoint).await?,
            Cmd::Fire {
                schedule,
                at,
                endpoint,
            } => {
                let stack = provisioned(&project, endpoint, true).await?;
                let at = at
                    .clone()
                    .unwrap_or_else(|| infra::schedules::rfc3339(std::time::SystemTime::now()));
                stack::fire_schedule(
                    &project.template,
                    &stack.ctx,
                    endpoint,
                    &stack.principals,
                    schedule,
                    &at,
                )
                .await?;
                println!("{schedule} fired as of {at}");
            }
            Cmd::Gateway { lambda_url, port } => {
                gateway_only(&project.template, &cli.stack, lambda_url, *port).await?;
            }
            Cmd::Exec {
                provision,
                api,
                command,
            } => {
                return exec(&project, *provision, *api, command).await;
            }
        }
        Ok(ExitCode::SUCCESS)
    };
    match run.await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferrite-local: {error:#}");
            ExitCode::FAILURE
        }
    }
}
