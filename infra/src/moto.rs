//! The moto server: started from the project's venv, probed until it answers, stopped by pid.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The venv's Python, where `make setup` installed moto.
pub fn python(root: &Path) -> PathBuf {
    root.join(".venv/bin/python")
}

/// `infra/moto_server.py`: moto's server with requests serialised (see the script).
pub fn server_script(root: &Path) -> PathBuf {
    root.join("infra/moto_server.py")
}

/// A port the OS says is free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Starts `moto_server` on `host:port`, logging to `log`, in its own process group (so a
/// terminal's Ctrl-C reaches only whoever owns it, which then stops it by pid).
pub fn spawn(root: &Path, host: &str, port: u16, log: &Path) -> Result<Child> {
    let binary = python(root);
    if !binary.exists() {
        bail!(
            "{} is missing: run `make setup` (it installs moto into .venv)",
            binary.display()
        );
    }
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log_file = std::fs::File::create(log)?;
    let child = Command::new(&binary)
        .arg(server_script(root))
        .args(["-H", host, "-p", &port.to_string()])
        .env("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(child)
}

/// Does an HTTP server at `host:port` answer moto's own API?
pub async fn answers(host: &str, port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream
            .write_all(format!("GET /moto-api/ HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

/// Waits until moto answers, failing after `timeout` (or at once if `child` has exited).
pub async fn wait_ready(
    host: &str,
    port: u16,
    child: Option<&mut Child>,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut child = child;
    loop {
        if answers(host, port).await {
            return Ok(());
        }
        if let Some(child) = child.as_deref_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("moto_server exited ({status}) before answering on {host}:{port}");
        }
        if started.elapsed() > timeout {
            bail!("moto_server did not answer on {host}:{port} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Is `pid` a live moto server (and not some other process that reused the pid)?
pub fn is_moto(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("moto_server.py"))
}

/// Sends SIGTERM to a moto server we started, then SIGKILL if it lingers.
pub fn stop(pid: u32) -> Result<()> {
    if !is_moto(pid) {
        return Ok(());
    }
    Command::new("kill").arg(pid.to_string()).status()?;
    for _ in 0..50 {
        if !is_moto(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    Ok(())
}
