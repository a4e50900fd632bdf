//! The binaries measured: built for the host (timed runs) and for arm64 (the size Lambda ships).

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

pub(crate) fn build(root: &Path, packages: &[&str]) -> Result<()> {
    let mut command = Command::new("cargo");
    command
        .current_dir(root)
        .args(["build", "--release", "--bins"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

/// Builds the arm64 `bootstrap` of each package the way `sam build` does (cargo-lambda with zig,
/// the release profile). `Err` says why not (then the table says so instead of a size).
pub(crate) fn build_arm64(root: &Path, packages: &[&str]) -> Result<(), String> {
    let venv_bin = root.join(".venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(venv_bin.clone()).chain(std::env::split_paths(&path)))
            .map_err(|e| e.to_string())?;
    let mut command = Command::new(venv_bin.join("cargo-lambda"));
    command
        .current_dir(root)
        .env("PATH", path)
        .args(["lambda", "build", "--release", "--arm64"]);
    for package in packages {
        command.args(["--package", package]);
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("cargo lambda build --arm64 failed ({status})")),
        Err(e) => Err(format!("cargo-lambda not runnable ({e}); run `make setup`")),
    }
}

/// Stripped arm64 `bootstrap` size and its size zipped (deflate, what Lambda stores).
pub(crate) fn arm64_size(root: &Path, name: &str) -> Option<(u64, u64)> {
    let bootstrap = root.join(format!("target/lambda/{name}/bootstrap"));
    let size = std::fs::metadata(&bootstrap).ok()?.len();
    let output = Command::new("python3")
        .args([
            "-c",
            "import io, sys, zipfile\n\
             buf = io.BytesIO()\n\
             with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[1], 'bootstrap')\n\
             print(len(buf.getvalue()))",
        ])
        .arg(&bootstrap)
        .output()
        .ok()?;
    let zipped = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    Some((size, zipped))
}
