//! Settings from the environment, read and validated once per cold start.
//!
//! | variable | required | meaning |
//! | --- | --- | --- |
//! | `TABLE_NAME` | yes | the single DynamoDB table |
//! | `AWS_REGION` | yes (Lambda sets it) | region of every AWS client |
//! | `AWS_ENDPOINT_URL` | no | endpoint override: the local stack (moto) in dev and tests |
//! | `CURSOR_SECRET_ID` | functions that paginate (in AWS) | Secrets Manager secret holding the cursor key, read on the first request that issues or checks a cursor, never at init ([`crate::State::with_cursor_key`]) |
//! | `CURSOR_SECRET` | no | the cursor key itself (at least 32 bytes), for tests and tools; keys the HMAC that makes page cursors tamper-evident |
//! | `JWT_ISSUER` | no | `iss` of access tokens (default `ferrite`) |
//! | `JWT_AUDIENCE` | no | `aud` of access tokens (default `ferrite-api`) |
//! | `JWT_PUBLIC_KEYS` | functions that check tokens | `kid=<base64url x>,…`: the Ed25519 keys that verify access tokens |
//! | `SIGNING_KEY_SECRET_ID` | functions that mint tokens | Secrets Manager secret holding the private key set |
//! | `SIGNING_KEY_ID` | no | the key (kid) of the set that signs, pinned per deployment; unset, the set's first |
//! | `REFRESH_REUSE_GRACE_SECONDS` | no | seconds in which a rotated refresh token may be presented again without revoking its session (default 0) |
//! | `REGISTRATIONS_PER_IP_PER_HOUR`, `POSTS_PER_USER_PER_HOUR`, `PASSWORD_RESETS_PER_IP_PER_HOUR`, `LINK_EMAILS_PER_ACCOUNT_PER_HOUR`, `LOGIN_FAILURES_PER_ACCOUNT`, `LOGIN_FAILURES_PER_IP` | no | per-client limits ([`Limits`]) |
//! | `AWS_LAMBDA_LOG_LEVEL` | no | `TRACE`, `DEBUG`, `INFO` (default), `WARN`, `ERROR`, `FATAL` |
//! | `AWS_LAMBDA_LOG_FORMAT` | no | `JSON` (default in AWS when the template asks for it) or `Text` |
//!
//! A missing or malformed value fails initialisation with a [`ConfigError`] naming the variable,
//! so a broken deployment fails at its first cold start instead of at its first request.

use std::fmt;

/// Why the configuration could not be loaded. `Debug` is the same sentence as `Display`, because
/// a function's `main` returning this error prints it with `Debug`.
#[derive(thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {var} {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it (never its value: it may be a secret).
    pub problem: String,
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Log verbosity, from `AWS_LAMBDA_LOG_LEVEL` (the variable Lambda's advanced logging controls set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Log line format, from `AWS_LAMBDA_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// A secret byte string whose `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Minimum length of `CURSOR_SECRET`, in bytes (an HMAC-SHA256 key should carry 256 bits).
pub const MIN_SECRET_LEN: usize = 32;

/// A cursor key, checked: at least [`MIN_SECRET_LEN`] bytes (`var` names where it came from).
pub fn cursor_key(secret: String, var: &'static str) -> Result<Secret, ConfigError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError {
            var,
            problem: format!("must be at least {MIN_SECRET_LEN} bytes long"),
        });
    }
    Ok(Secret::new(secret.into_bytes()))
}

/// Every setting a Ferrite function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    /// The cursor key when given directly (`CURSOR_SECRET`); in AWS it is read from
    /// `cursor_secret_id` on first use, by the functions that paginate.
    pub cursor_secret: Option<Secret>,
    pub cursor_secret_id: Option<String>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_public_keys: Option<String>,
    pub signing_key_secret_id: Option<String>,
    /// `MFA_KEY_ARN`: the KMS key that seals second factors (the functions that enrol and
    /// check them).
    pub mfa_key_arn: Option<String>,
    /// `WEBHOOK_TEST_TARGETS`: `address:port` pairs of a test's own receiver that webhooks may
    /// reach (tests and `make dev` only: refused with `STAGE=prod`, and by the template's
    /// production rules). See [`crate::webhooks::target`].
    #[cfg(feature = "webhooks")]
    pub webhook_test_targets: TestTargets,
    /// `APP_NAME` (default `Ferrite`): how the app names itself to people (the authenticator
    /// app's entry, emails).
    pub app_name: String,
    /// `SIGNING_KEY_ID`: the kid this deployment signs with (the deploy that promoted it sets
    /// it); unset, the secret's first key.
    pub signing_key_id: Option<String>,
    pub refresh_reuse_grace_secs: i64,
    /// `REGISTRATION_MODE`: what registering a taken address answers.
    pub registration_mode: RegistrationMode,
    /// Per-client limits (template parameters; see [`Limits`]).
    pub limits: Limits,
    /// The OIDC providers whose ID tokens sign in (see [`OidcProvider`]); none
    /// configured, none accepted.
    pub oidc: Vec<OidcProvider>,
    /// Documents (`DOCUMENTS_BUCKET_NAME` and its limits): the functions that hand out upload
    /// and download links and the documents worker.
    pub documents: Option<DocumentsConfig>,
}

/// Where documents are kept and how much a property may hold (template parameters).
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `DOCUMENTS_BUCKET_NAME` | – | the private bucket (uploads land under `incoming/`, checked ones under `documents/`) |
/// | `DOCUMENT_MAX_BYTES` | 26214400 (25 MiB) | the largest file, 1 B to 5 GiB (a POST upload's ceiling) |
/// | `DOCUMENTS_PER_PROPERTY` | 200 | documents of a property and its leases, uploads still pending included |
/// | `DOCUMENT_BYTES_PER_PROPERTY` | 2147483648 (2 GiB) | their bytes (pending ones by their declared size), at least `DOCUMENT_MAX_BYTES` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentsConfig {
    pub bucket: String,
    pub max_bytes: u64,
    pub per_property: u64,
    pub bytes_per_property: u64,
}

/// The largest object a POST upload may make (S3: 5 GB).
const POST_UPLOAD_CEILING: u64 = 5 * 1024 * 1024 * 1024;

/// The addresses webhooks may reach on a test's own machine (`WEBHOOK_TEST_TARGETS`, see
/// `webhooks::target`).
#[cfg(feature = "webhooks")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestTargets(Vec<std::net::SocketAddr>);

#[cfg(feature = "webhooks")]
impl TestTargets {
    /// `address:port` pairs, separated by commas; `None` when one is not.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| entry.parse::<std::net::SocketAddr>().ok())
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    pub fn allows(&self, addr: std::net::SocketAddr) -> bool {
        self.0.contains(&addr)
    }
}

/// `WEBHOOK_TEST_TARGETS`, never in production.
#[cfg(feature = "webhooks")]
fn webhook_test_targets(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<TestTargets, ConfigError> {
    let var = "WEBHOOK_TEST_TARGETS";
    let Some(raw) = get(var) else {
        return Ok(TestTargets::default());
    };
    if get("STAGE").as_deref() == Some("prod") {
        return Err(ConfigError {
            var,
            problem: "must be empty in prod (it lets webhooks reach a test's own receiver)".into(),
        });
    }
    TestTargets::parse(&raw).ok_or_else(|| ConfigError {
        var,
        problem: "must be `address:port` pairs separated by commas".into(),
    })
}

fn documents_config(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Option<DocumentsConfig>, ConfigError> {
    let Some(bucket) = get("DOCUMENTS_BUCKET_NAME") else {
        return Ok(None);
    };
    let number =
        |var: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| match get(var) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| ConfigError {
                    var,
                    problem: format!("must be a number from {} to {}", range.start(), range.end()),
                }),
        };
    let max_bytes = number(
        "DOCUMENT_MAX_BYTES",
        25 * 1024 * 1024,
        1..=POST_UPLOAD_CEILING,
    )?;
    let per_property = number("DOCUMENTS_PER_PROPERTY", 200, 1..=100_000)?;
    let bytes_per_property = number(
        "DOCUMENT_BYTES_PER_PROPERTY",
        2 * 1024 * 1024 * 1024,
        max_bytes..=u64::MAX / 2,
    )?;
    Ok(Some(DocumentsConfig {
        bucket: bucket.trim().to_owned(),
        max_bytes,
        per_property,
        bytes_per_property,
    }))
}

/// An OIDC provider whose ID tokens sign in: configured by its client ids
/// (`OIDC_GOOGLE_CLIENT_IDS`, `OIDC_APPLE_CLIENT_IDS`, `OIDC_GENERIC_CLIENT_IDS`: the `aud`
/// values accepted, comma-separated). Google's and Apple's issuers are fixed
/// (`OIDC_GOOGLE_ISSUER`/`OIDC_APPLE_ISSUER` override them for the local stack's stand-in); the
/// generic provider (`oidc`) needs `OIDC_GENERIC_ISSUER`. An issuer is `https://`, or `http://`
/// on a loopback host (the local stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// `google`, `apple` or `oidc`: the `{provider}` of the route.
    pub name: &'static str,
    pub issuer: String,
    pub client_ids: Vec<String>,
}

/// The providers Ferrite knows: (name, client ids variable, issuer variable, fixed issuer).
const OIDC_PROVIDERS: [(&str, &str, &str, Option<&str>); 3] = [
    (
        "google",
        "OIDC_GOOGLE_CLIENT_IDS",
        "OIDC_GOOGLE_ISSUER",
        Some("https://accounts.google.com"),
    ),
    (
        "apple",
        "OIDC_APPLE_CLIENT_IDS",
        "OIDC_APPLE_ISSUER",
        Some("https://appleid.apple.com"),
    ),
    (
        "oidc",
        "OIDC_GENERIC_CLIENT_IDS",
        "OIDC_GENERIC_ISSUER",
        None,
    ),
];

/// Whether `url` may be an issuer or a key set's address: HTTPS, or plain HTTP to this machine.
pub fn is_trusted_origin(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

fn oidc_providers(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Vec<OidcProvider>, ConfigError> {
    let mut providers = Vec::new();
    for (name, ids_var, issuer_var, fixed) in OIDC_PROVIDERS {
        let client_ids: Vec<String> = get(ids_var)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect();
        if client_ids.is_empty() {
            continue;
        }
        let issuer = get(issuer_var)
            .filter(|i| !i.trim().is_empty())
            .or_else(|| fixed.map(str::to_owned))
            .ok_or(ConfigError {
                var: issuer_var,
                problem: "is not set (the provider has client ids)".into(),
            })?;
        let issuer = issuer.trim().trim_end_matches('/').to_owned();
        if !is_trusted_origin(&issuer) {
            return Err(ConfigError {
                var: issuer_var,
                problem: "must be an https:// URL (or http:// to this machine)".into(),
            });
        }
        providers.push(OidcProvider {
            name,
            issuer,
            client_ids,
        });
    }
    Ok(providers)
}

/// Per-client limits, each a template parameter passed to exactly the functions that count it.
///
/// | variable | default | counts |
/// | --- | --- | --- |
/// | `REGISTRATIONS_PER_IP_PER_HOUR` | 30 | registrations per source address and hour |
/// | `POSTS_PER_USER_PER_HOUR` | 30 | posts created per account and hour |
/// | `PASSWORD_RESETS_PER_IP_PER_HOUR` | 20 | password-reset requests per source address and hour |
/// | `SIGN_IN_LINKS_PER_IP_PER_HOUR` | 20 | sign-in link requests per source address and hour |
/// | `LINK_EMAILS_PER_ACCOUNT_PER_HOUR` | 5 | verification, reset, email-change and sign-in links per account (or address) and hour, each kind apart; one a minute at most |
/// | `LOGIN_FAILURES_PER_ACCOUNT` | 5 | failed sign-ins (and password confirmations) per account in 15 minutes |
/// | `LOGIN_FAILURES_PER_IP` | 100 | failed sign-ins per source address in 15 minutes |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub registrations_per_ip_per_hour: u64,
    pub posts_per_user_per_hour: u64,
    pub password_resets_per_ip_per_hour: u64,
    pub sign_in_links_per_ip_per_hour: u64,
    pub link_emails_per_account_per_hour: u64,
    pub login_failures_per_account: u64,
    pub login_failures_per_ip: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            registrations_per_ip_per_hour: DEFAULT_REGISTRATIONS_PER_IP_PER_HOUR,
            posts_per_user_per_hour: 30,
            password_resets_per_ip_per_hour: 20,
            sign_in_links_per_ip_per_hour: 20,
            link_emails_per_account_per_hour: 5,
            login_failures_per_account: 5,
            login_failures_per_ip: 100,
        }
    }
}

impl Limits {
    /// Reads every limit through `get`; a value that is not a number from 1 to 1,000,000 is a
    /// [`ConfigError`] naming its variable.
    fn from_lookup(get: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |var: &'static str, default: u64| match get(var) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| ConfigError {
                    var,
                    problem: "must be a number from 1 to 1000000".into(),
                }),
        };
        let d = Self::default();
        Ok(Self {
            registrations_per_ip_per_hour: read(
                "REGISTRATIONS_PER_IP_PER_HOUR",
                d.registrations_per_ip_per_hour,
            )?,
            posts_per_user_per_hour: read("POSTS_PER_USER_PER_HOUR", d.posts_per_user_per_hour)?,
            password_resets_per_ip_per_hour: read(
                "PASSWORD_RESETS_PER_IP_PER_HOUR",
                d.password_resets_per_ip_per_hour,
            )?,
            sign_in_links_per_ip_per_hour: read(
                "SIGN_IN_LINKS_PER_IP_PER_HOUR",
                d.sign_in_links_per_ip_per_hour,
            )?,
            link_emails_per_account_per_hour: read(
                "LINK_EMAILS_PER_ACCOUNT_PER_HOUR",
                d.link_emails_per_account_per_hour,
            )?,
            login_failures_per_account: read(
                "LOGIN_FAILURES_PER_ACCOUNT",
                d.login_failures_per_account,
            )?,
            login_failures_per_ip: read("LOGIN_FAILURES_PER_IP", d.login_failures_per_ip)?,
        })
    }
}

/// What `POST /auth/register` answers for an address that already has an account
/// (`REGISTRATION_MODE`, the template's `RegistrationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// 409 `EMAIL_TAKEN`; a new account is signed in at once (201 with tokens). Reveals which
    /// addresses have accounts (throttled per source IP).
    #[default]
    Conflict,
    /// 202 with the same body for a new and a taken address; the address's owner gets an email
    /// either way (a confirmation link, or "someone tried to register with your address"), and
    /// an unconfirmed account cannot sign in. Reveals nothing.
    Silent,
}

/// Registrations one source IP may attempt per hour unless configured.
pub const DEFAULT_REGISTRATIONS_PER_IP_PER_HOUR: u64 = 30;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let require = |var: &'static str| {
            get(var).ok_or_else(|| ConfigError {
                var,
                problem: "is not set".into(),
            })
        };

        let table_name = require("TABLE_NAME")?;
        check_table_name(&table_name).map_err(|problem| ConfigError {
            var: "TABLE_NAME",
            problem,
        })?;

        let region = require("AWS_REGION")?;
        if !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError {
                var: "AWS_REGION",
                problem: "must look like `eu-west-1`".into(),
            });
        }

        let endpoint_url = get("AWS_ENDPOINT_URL")
            .map(|url| {
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && url.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
                if ok {
                    Ok(url.trim_end_matches('/').to_owned())
                } else {
                    Err(ConfigError {
                        var: "AWS_ENDPOINT_URL",
                        problem: "must be an http(s) URL with a host".into(),
                    })
                }
            })
            .transpose()?;

        let cursor_secret = get("CURSOR_SECRET")
            .map(|secret| cursor_key(secret, "CURSOR_SECRET"))
            .transpose()?;

        let (log_level, log_format) = log_settings(&lookup)?;

        let refresh_reuse_grace_secs = match get("REFRESH_REUSE_GRACE_SECONDS") {
            None => 0,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| (0..=300).contains(s))
                .ok_or_else(|| ConfigError {
                    var: "REFRESH_REUSE_GRACE_SECONDS",
                    problem: "must be a number of seconds from 0 to 300".into(),
                })?,
        };

        let registration_mode = match get("REGISTRATION_MODE").as_deref().map(str::trim) {
            None | Some("conflict") => RegistrationMode::Conflict,
            Some("silent") => RegistrationMode::Silent,
            Some(_) => {
                return Err(ConfigError {
                    var: "REGISTRATION_MODE",
                    problem: "must be `conflict` or `silent`".into(),
                });
            }
        };
        let limits = Limits::from_lookup(get)?;

        Ok(Self {
            table_name,
            region,
            endpoint_url,
            cursor_secret,
            cursor_secret_id: get("CURSOR_SECRET_ID"),
            log_level,
            log_format,
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "ferrite".to_owned()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "ferrite-api".to_owned()),
            jwt_public_keys: get("JWT_PUBLIC_KEYS"),
            signing_key_secret_id: get("SIGNING_KEY_SECRET_ID"),
            mfa_key_arn: get("MFA_KEY_ARN"),
            app_name: get("APP_NAME").unwrap_or_else(|| "Ferrite".to_owned()),
            signing_key_id: get("SIGNING_KEY_ID"),
            refresh_reuse_grace_secs,
            registration_mode,
            limits,
            oidc: oidc_providers(&get)?,
            documents: documents_config(&get)?,
            #[cfg(feature = "webhooks")]
            webhook_test_targets: webhook_test_targets(&get)?,
        })
    }
}

/// Log level and format (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`): everything a function
/// that touches no AWS service (health) needs to read.
pub fn log_settings(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(LogLevel, LogFormat), ConfigError> {
    let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
    let log_level = match get("AWS_LAMBDA_LOG_LEVEL")
        .map(|v| v.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("INFO") => LogLevel::Info,
        Some("TRACE") => LogLevel::Trace,
        Some("DEBUG") => LogLevel::Debug,
        Some("WARN") => LogLevel::Warn,
        // FATAL is Lambda's highest level; tracing has no level above ERROR.
        Some("ERROR" | "FATAL") => LogLevel::Error,
        Some(_) => {
            return Err(ConfigError {
                var: "AWS_LAMBDA_LOG_LEVEL",
                problem: "must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL".into(),
            });
        }
    };
    let log_format = match get("AWS_LAMBDA_LOG_FORMAT")
        .map(|v| v.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("JSON") => LogFormat::Json,
        Some("TEXT") => LogFormat::Text,
        Some(_) => {
            return Err(ConfigError {
                var: "AWS_LAMBDA_LOG_FORMAT",
                problem: "must be JSON or Text".into(),
            });
        }
    };

    Ok((log_level, log_format))
}

/// DynamoDB's rule for table names: 3–255 of `[a-zA-Z0-9_.-]`.
fn check_table_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if (3..=255).contains(&name.len()) && valid_chars {
        Ok(())
    } else {
        Err("must be 3-255 characters of a-z, A-Z, 0-9, `_`, `.`, `-`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_complete_environment_loads_with_defaults() {
        let config = Config::from_lookup(env(&[
            ("TABLE_NAME", "ferrite"),
            ("AWS_REGION", "eu-west-1"),
            ("CURSOR_SECRET", SECRET),
        ]))
        .expect("valid");
        assert_eq!(config.table_name, "ferrite");
        assert_eq!(config.endpoint_url, None);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn every_limit_is_read_from_its_own_variable() {
        let config = Config::from_lookup(env(&[
            ("TABLE_NAME", "ferrite"),
            ("AWS_REGION", "eu-west-1"),
            ("REGISTRATIONS_PER_IP_PER_HOUR", "1"),
            ("POSTS_PER_USER_PER_HOUR", "2"),
            ("PASSWORD_RESETS_PER_IP_PER_HOUR", "3"),
            ("LINK_EMAILS_PER_ACCOUNT_PER_HOUR", "4"),
            ("SIGN_IN_LINKS_PER_IP_PER_HOUR", "5"),
            ("LOGIN_FAILURES_PER_ACCOUNT", "6"),
            ("LOGIN_FAILURES_PER_IP", " 7 "),
        ]))
        .expect("valid");
        assert_eq!(
            config.limits,
            Limits {
                registrations_per_ip_per_hour: 1,
                posts_per_user_per_hour: 2,
                password_resets_per_ip_per_hour: 3,
                sign_in_links_per_ip_per_hour: 5,
                link_emails_per_account_per_hour: 4,
                login_failures_per_account: 6,
                login_failures_per_ip: 7,
            }
        );
    }

    #[test]
    fn a_missing_table_name_names_the_variable() {
        let err = Config::from_lookup(env(&[
            ("AWS_REGION", "eu-west-1"),
            ("CURSOR_SECRET", SECRET),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "TABLE_NAME");
        assert_eq!(
            err.to_string(),
            "invalid configuration: TABLE_NAME is not set"
        );
        assert_eq!(format!("{err:?}"), err.to_string());
    }

    #[test]
    fn bad_values_are_rejected_with_the_variable_named() {
        let base = [
            ("TABLE_NAME", "ferrite"),
            ("AWS_REGION", "eu-west-1"),
            ("CURSOR_SECRET", SECRET),
        ];
        let cases = [
            ("TABLE_NAME", "no spaces allowed", "TABLE_NAME"),
            ("AWS_REGION", "EU WEST", "AWS_REGION"),
            ("AWS_ENDPOINT_URL", "localhost:4566", "AWS_ENDPOINT_URL"),
            ("CURSOR_SECRET", "short", "CURSOR_SECRET"),
            ("AWS_LAMBDA_LOG_LEVEL", "LOUD", "AWS_LAMBDA_LOG_LEVEL"),
            ("AWS_LAMBDA_LOG_FORMAT", "xml", "AWS_LAMBDA_LOG_FORMAT"),
            ("POSTS_PER_USER_PER_HOUR", "0", "POSTS_PER_USER_PER_HOUR"),
            ("LOGIN_FAILURES_PER_IP", "many", "LOGIN_FAILURES_PER_IP"),
        ];
        for (var, value, expected) in cases {
            let mut pairs: Vec<(&str, &str)> =
                base.iter().filter(|(k, _)| *k != var).copied().collect();
            pairs.push((var, value));
            let err = Config::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err.var, expected, "{var}={value}");
            assert!(!err.to_string().contains(value) || var != "CURSOR_SECRET");
        }
    }

    #[test]
    fn the_endpoint_override_is_accepted_and_normalised() {
        let config = Config::from_lookup(env(&[
            ("TABLE_NAME", "ferrite"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/"),
            ("CURSOR_SECRET", SECRET),
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
        ]))
        .expect("valid");
        assert_eq!(
            config.endpoint_url.as_deref(),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = Config::from_lookup(env(&[
            ("TABLE_NAME", "ferrite"),
            ("AWS_REGION", "us-east-1"),
            ("CURSOR_SECRET", SECRET),
        ]))
        .expect("valid");
        assert!(!format!("{config:?}").contains(SECRET));
    }
}
