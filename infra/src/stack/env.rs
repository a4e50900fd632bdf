//! The environment of each function as the template gives it, resolved locally, and the files
//! (.local/env, one per function) that hand it to `cargo lambda watch` and to shells.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::routes::{self};
use crate::template::{Context, Template};
use crate::{LOCAL_REGION, iam};

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
