#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-local`: the local AWS endpoint for development and tests, provisioned from
//! template.yaml. See `ferrite-local --help`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use infra::template::{Context, Template};
use infra::{LOCAL_REGION, moto, provision, workspace_root};

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-local",
    about = "Ferrite's local AWS endpoint (moto), provisioned from template.yaml"
)]
struct Cli {
    /// Stack name: prefixes local resource names (`<stack>-table`, `<stack>-AuditQueue`).
    #[arg(long, global = true, default_value = "ferrite-local")]
    stack: String,
    /// The SAM template to provision from.
    #[arg(long, global = true)]
    template: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the local endpoint (or reuse the running one), provision it, write `.local/env`.
    Up {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 4566)]
        port: u16,
    },
    /// Stop the local endpoint started by `up` (only that process, by pid).
    Down,
    /// Provision the template's table and queues into an already running endpoint.
    Provision {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
    },
    /// Run a command against a private endpoint on a free port, then stop it.
    /// The command gets `AWS_ENDPOINT_URL`, `AWS_REGION` and dummy credentials.
    Exec {
        /// Also provision the template's table and queues (tests make their own tables).
        #[arg(long)]
        provision: bool,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

fn local_dir(root: &Path) -> PathBuf {
    root.join(".local")
}

/// A development secret: generated once into `.local/`, git-ignored, reused afterwards.
fn dev_secret(root: &Path, name: &str) -> Result<String> {
    let path = local_dir(root).join(name);
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(local_dir(root))?;
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

fn base_env(endpoint: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned()),
        ("AWS_REGION".to_owned(), LOCAL_REGION.to_owned()),
        ("AWS_DEFAULT_REGION".to_owned(), LOCAL_REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
    ])
}

/// Creates the template's tables and queues; returns the environment a function needs to use
/// them (`TABLE_NAME`, `<LOGICAL_ID>_URL` for each queue).
async fn provision_all(
    template: &Template,
    stack: &str,
    endpoint: &str,
) -> Result<BTreeMap<String, String>> {
    let sdk = infra::local_sdk_config(endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut ctx = Context::local(stack, LOCAL_REGION);
    let mut env = BTreeMap::new();

    let tables = provision::table_specs(template, &ctx)?;
    for spec in &tables {
        let name = if tables.len() == 1 {
            format!("{stack}-table")
        } else {
            format!("{stack}-{}", spec.logical_id)
        };
        provision::create_table(&dynamodb, spec, &name).await?;
        println!("  table  {name}  ({})", spec.logical_id);
        ctx.refs.insert(spec.logical_id.clone(), name.clone());
        if tables.len() == 1 {
            env.insert("TABLE_NAME".to_owned(), name);
        }
    }
    for queue in provision::create_queues(&sqs, template, &mut ctx).await? {
        println!("  queue  {}  ({})", queue.name, queue.logical_id);
        env.insert(
            format!("{}_URL", screaming_snake(&queue.logical_id)),
            queue.url,
        );
    }
    Ok(env)
}

/// `AuditDeadLetterQueue` → `AUDIT_DEAD_LETTER_QUEUE`.
fn screaming_snake(id: &str) -> String {
    let mut out = String::new();
    for (i, c) in id.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn write_env_file(path: &Path, env: &BTreeMap<String, String>) -> Result<()> {
    let text: String = env
        .iter()
        .map(|(k, v)| format!("export {k}={v}\n"))
        .collect();
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn up(root: &Path, template: &Template, stack: &str, host: &str, port: u16) -> Result<()> {
    let started = Instant::now();
    let dir = local_dir(root);
    std::fs::create_dir_all(&dir)?;
    let pid_file = dir.join("moto.pid");
    let endpoint = format!("http://{host}:{port}");

    if moto::answers(host, port).await {
        println!("local endpoint already answering at {endpoint}: reusing it");
    } else {
        let mut child = moto::spawn(root, host, port, &dir.join("moto.log"))?;
        std::fs::write(&pid_file, child.id().to_string())?;
        moto::wait_ready(host, port, Some(&mut child), Duration::from_secs(60)).await?;
        println!(
            "local endpoint started at {endpoint} (pid {}, log .local/moto.log)",
            child.id()
        );
    }

    let mut env = base_env(&endpoint);
    env.extend(provision_all(template, stack, &endpoint).await?);
    env.insert(
        "CURSOR_SECRET".to_owned(),
        dev_secret(root, "cursor-secret")?,
    );
    let env_file = dir.join("env");
    write_env_file(&env_file, &env)?;
    println!(
        "ready in {:.1}s; environment in .local/env (`source .local/env` to use it from a shell)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn down(root: &Path) -> Result<()> {
    let pid_file = local_dir(root).join("moto.pid");
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        println!("no local endpoint started by `ferrite-local up` (no .local/moto.pid)");
        return Ok(());
    };
    let pid: u32 = text.trim().parse().context("malformed .local/moto.pid")?;
    moto::stop(pid)?;
    std::fs::remove_file(&pid_file)?;
    println!("local endpoint stopped (pid {pid})");
    Ok(())
}

async fn exec(
    root: &Path,
    template: &Template,
    stack: &str,
    provision: bool,
    command: &[String],
) -> Result<ExitCode> {
    let port = moto::free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let log = local_dir(root).join(format!("moto-{port}.log"));
    let mut server = moto::spawn(root, "127.0.0.1", port, &log)?;
    let guard = StopOnDrop(server.id());
    moto::wait_ready(
        "127.0.0.1",
        port,
        Some(&mut server),
        Duration::from_secs(60),
    )
    .await?;
    eprintln!("ferrite-local: endpoint {endpoint} (log {})", log.display());

    let mut env = base_env(&endpoint);
    if provision {
        env.extend(provision_all(template, stack, &endpoint).await?);
        env.insert(
            "CURSOR_SECRET".to_owned(),
            dev_secret(root, "cursor-secret")?,
        );
    }
    let (program, args) = command.split_first().context("no command given")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(&env)
        .spawn()
        .with_context(|| format!("running {program}"))?;
    let status = tokio::select! {
        status = child.wait() => status?,
        _ = tokio::signal::ctrl_c() => {
            // The command shares our process group and got the same signal.
            child.wait().await?
        }
    };
    drop(guard);
    drop(server.wait());
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(130),
    })
}

/// Stops the private endpoint of `exec` on every way out, errors included.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Err(error) = moto::stop(self.0) {
            eprintln!(
                "ferrite-local: could not stop moto (pid {}): {error:#}",
                self.0
            );
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let template_path = cli.template.clone().unwrap_or_else(infra::template_path);
    let run = async {
        let template = Template::load(&template_path)?;
        match &cli.command {
            Cmd::Up { host, port } => up(&root, &template, &cli.stack, host, *port)
                .await
                .map(|()| ExitCode::SUCCESS),
            Cmd::Down => down(&root).map(|()| ExitCode::SUCCESS),
            Cmd::Provision { endpoint } => {
                let env = provision_all(&template, &cli.stack, endpoint).await?;
                for (k, v) in env {
                    println!("export {k}={v}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Exec { provision, command } => {
                if command.is_empty() {
                    bail!("usage: ferrite-local exec -- <command> [args…]");
                }
                exec(&root, &template, &cli.stack, *provision, command).await
            }
        }
    };
    match run.await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferrite-local: {error:#}");
            ExitCode::FAILURE
        }
    }
}
