//! [`State`]: everything a handler needs, built once per cold start — the settings, the store,
//! the clock, and the token keys of this function.

use crate::auth;
use crate::aws;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::error::ApiError;
use crate::store::{CursorCodec, Store};
use crate::telemetry;

/// Token settings and key material of this function.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub tokens: auth::jwt::TokenSettings,
    verifier: Option<auth::keys::VerifyingKeys>,
    signer: Option<auth::keys::SigningKey>,
    pub refresh_reuse_grace_secs: i64,
}

impl AuthConfig {
    fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let verifier = config
            .jwt_public_keys
            .as_deref()
            .map(auth::keys::VerifyingKeys::from_setting)
            .transpose()?;
        Ok(Self {
            tokens: auth::jwt::TokenSettings {
                issuer: config.jwt_issuer.clone(),
                audience: config.jwt_audience.clone(),
            },
            verifier,
            signer: None,
            refresh_reuse_grace_secs: config.refresh_reuse_grace_secs,
        })
    }

    /// The public keys; a function deployed without them cannot check tokens (a 500, logged).
    pub fn verifier(&self) -> Result<&auth::keys::VerifyingKeys, ApiError> {
        self.verifier.as_ref().ok_or_else(|| {
            ApiError::internal("JWT_PUBLIC_KEYS is not configured for this function")
        })
    }

    /// The signing key; only token-minting functions load it.
    pub fn signer(&self) -> Result<&auth::keys::SigningKey, ApiError> {
        self.signer.as_ref().ok_or_else(|| {
            ApiError::internal("this function has no signing key (SIGNING_KEY_SECRET_ID)")
        })
    }

    pub fn set_signer(&mut self, key: auth::keys::SigningKey) {
        self.signer = Some(key);
    }

    pub fn set_verifier(&mut self, keys: auth::keys::VerifyingKeys) {
        self.verifier = Some(keys);
    }
}

/// Everything a handler needs, built once per cold start and borrowed by every request.
#[derive(Debug, Clone)]
pub struct State {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
    pub auth: AuthConfig,
    sdk: aws::SdkConfig,
}

impl State {
    /// Reads and validates the environment, starts logging, and builds the AWS clients.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        telemetry::init(config.log_level, config.log_format);
        Self::from_config(config, Clock::System)
    }

    /// Builds the state for `config` (tests use this with their own table and clock).
    /// No I/O: the AWS clients connect on first use.
    pub fn from_config(config: Config, clock: Clock) -> Result<Self, ConfigError> {
        let sdk = aws::sdk_config(&config);
        Self::from_sdk(config, sdk, clock)
    }

    /// Builds the state with an SDK configuration made elsewhere (the admin CLI uses the full
    /// credential chain of an operator's machine).
    pub fn from_sdk(
        config: Config,
        sdk: aws::SdkConfig,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        let auth = AuthConfig::from_config(&config)?;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let cursors = config
            .cursor_secret
            .clone()
            .map_or_else(CursorCodec::unkeyed, CursorCodec::new);
        let store = Store::new(client, config.table_name.clone(), cursors, clock);
        Ok(Self {
            config,
            store,
            clock,
            auth,
            sdk,
        })
    }

    /// Fails initialisation unless `JWT_PUBLIC_KEYS` is set: for functions that check tokens.
    pub fn require_verifier(self) -> Result<Self, ConfigError> {
        if self.auth.verifier.is_none() {
            return Err(ConfigError {
                var: "JWT_PUBLIC_KEYS",
                problem: "is not set (this function checks access tokens)".into(),
            });
        }
        Ok(self)
    }

    /// Reads the string value of a Secrets Manager secret (once per cold start).
    #[cfg(feature = "secrets")]
    async fn read_secret(&self, secret_id: &str) -> Result<String, InitError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let secret = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                InitError::Secret(format!(
                    "reading {secret_id}: {}",
                    crate::error::cause_chain(&e)
                ))
            })?;
        secret
            .secret_string()
            .map(str::to_owned)
            .ok_or_else(|| InitError::Secret(format!("{secret_id} has no string value")))
    }

    /// Loads the private signing key from Secrets Manager (`SIGNING_KEY_SECRET_ID`), once per
    /// cold start: for the functions that mint tokens.
    #[cfg(feature = "signing")]
    pub async fn with_signing_key(mut self) -> Result<Self, InitError> {
        let secret_id = self.config.signing_key_secret_id.clone().ok_or_else(|| {
            InitError::Config(ConfigError {
                var: "SIGNING_KEY_SECRET_ID",
                problem: "is not set (this function mints access tokens)".into(),
            })
        })?;
        let text = self.read_secret(&secret_id).await?;
        let pinned = self.config.signing_key_id.clone();
        let key = auth::keys::KeySet::parse(&text)
            .and_then(|set| match &pinned {
                Some(kid) => set.signing_key_with(kid),
                None => set.signing_key(),
            })
            .map_err(|e| InitError::Secret(format!("{secret_id}: {e}")))?;
        self.auth.signer = Some(key);
        Ok(self)
    }

    /// Loads the page-cursor key from Secrets Manager (`CURSOR_SECRET_ID`), once per cold
    /// start: for the functions that paginate. A key given directly (`CURSOR_SECRET`, tests and
    /// tools) is kept; neither fails the start.
    #[cfg(feature = "secrets")]
    pub async fn with_cursor_key(mut self) -> Result<Self, InitError> {
        if self.config.cursor_secret.is_some() {
            return Ok(self);
        }
        let secret_id = self.config.cursor_secret_id.clone().ok_or_else(|| {
            InitError::Config(ConfigError {
                var: "CURSOR_SECRET_ID",
                problem: "is not set (this function paginates)".into(),
            })
        })?;
        let key =
            crate::config::cursor_key(self.read_secret(&secret_id).await?, "CURSOR_SECRET_ID")?;
        self.store = self.store.with_cursors(CursorCodec::new(key.clone()));
        self.config.cursor_secret = Some(key);
        Ok(self)
    }

    /// The SDK configuration (region, credentials, endpoint) for other clients.
    pub fn sdk_config(&self) -> &aws::SdkConfig {
        &self.sdk
    }
}

/// Why a function could not start.
#[derive(thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("secret: {0}")]
    Secret(String),
}

impl std::fmt::Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
