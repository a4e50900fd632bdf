//! The processes of the stack: `cargo lambda watch` in its own process group, the build before
//! it, and waiting for a port.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{env::cargo_run_variables, env::runner_variable};

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
