//! [`State`]: everything a handler needs, built once per cold start — the settings, the store,
//! the clock, and the token keys of this function.

use crate::auth;
use crate::aws;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::error::ApiError;
use crate::secrets::Key;
use crate::store::{CursorCodec, Store};
use crate::telemetry;

/// Token settings and key material of this function.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub tokens: auth::jwt::TokenSettings,
    verifier: Option<auth::keys::VerifyingKeys>,
    /// The token-signing key: only the functions that mint tokens have one (read from
    /// `SIGNING_KEY_SECRET_ID` on their first request).
    signer: Option<Key<auth::keys::SigningKey>>,
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

    /// The signing key (read now if this is the instance's first use of it); only
    /// token-minting functions have one.
    pub async fn signer(&self) -> Result<&auth::keys::SigningKey, ApiError> {
        let key = self.signer.as_ref().ok_or_else(|| {
            ApiError::internal("this function has no signing key (SIGNING_KEY_SECRET_ID)")
        })?;
        Ok(key.get().await?)
    }

    pub fn set_signer(&mut self, key: auth::keys::SigningKey) {
        self.signer = Some(Key::Given(key));
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
    /// Seals and opens second factors and webhook secrets (`MFA_KEY_ARN`): the functions that
    /// enrol and check factors, register webhooks and deliver them.
    #[cfg(feature = "sealing")]
    sealer: Option<crate::sealing::Sealer>,
    /// Verifies OIDC ID tokens (the configured providers): the provider sign-in.
    #[cfg(feature = "oidc")]
    oidc: Option<std::sync::Arc<crate::oidc::Verifier>>,
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
        let cursors = config
            .cursor_secret
            .clone()
            .map_or_else(CursorCodec::unkeyed, CursorCodec::new);
        let store = Store::on_first_use(sdk.clone(), config.table_name.clone(), cursors, clock);
        Ok(Self {
            config,
            store,
            clock,
            auth,
            sdk,
            #[cfg(feature = "sealing")]
            sealer: None,
            #[cfg(feature = "oidc")]
            oidc: None,
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

    /// Reads the private signing key from Secrets Manager (`SIGNING_KEY_SECRET_ID`) on the
    /// first request, not now (see [`crate::secrets`]): for the functions that mint tokens.
    #[cfg(feature = "signing")]
    pub fn with_signing_key(mut self) -> Result<Self, ConfigError> {
        let secret_id = self
            .config
            .signing_key_secret_id
            .clone()
            .ok_or(ConfigError {
                var: "SIGNING_KEY_SECRET_ID",
                problem: "is not set (this function mints access tokens)".into(),
            })?;
        // The key the deploy promoted (`SIGNING_KEY_ID`), whatever the secret says is first.
        let pinned = self.config.signing_key_id.clone();
        let parse = move |text: String| {
            auth::keys::KeySet::parse(&text)
                .and_then(|set| match &pinned {
                    Some(kid) => set.signing_key_with(kid),
                    None => set.signing_key(),
                })
                .map_err(|e| e.to_string())
        };
        self.auth.signer = Some(Key::OnFirstUse(crate::secrets::OnFirstUse::new(
            secret_id,
            self.sdk.clone(),
            parse,
        )));
        Ok(self)
    }

    /// Reads the page-cursor key from Secrets Manager (`CURSOR_SECRET_ID`) when a cursor is
    /// first issued or checked, not now (see [`crate::secrets`]): for the functions that
    /// paginate. A key given directly (`CURSOR_SECRET`, tests and tools) is kept.
    #[cfg(feature = "secrets")]
    pub fn with_cursor_key(mut self) -> Result<Self, ConfigError> {
        if self.config.cursor_secret.is_some() {
            return Ok(self);
        }
        let secret_id = self.config.cursor_secret_id.clone().ok_or(ConfigError {
            var: "CURSOR_SECRET_ID",
            problem: "is not set (this function paginates)".into(),
        })?;
        let key = crate::secrets::OnFirstUse::new(secret_id, self.sdk.clone(), |text| {
            crate::config::cursor_key(text, "CURSOR_SECRET_ID").map_err(|e| e.problem)
        });
        self.store = self
            .store
            .with_cursors(CursorCodec::with_key(Key::OnFirstUse(key)));
        Ok(self)
    }

    /// Seals with the KMS key `MFA_KEY_ARN` (its client built on first use): for the functions
    /// that seal or open second factors or webhook secrets.
    #[cfg(feature = "sealing")]
    pub fn with_sealer(mut self) -> Result<Self, ConfigError> {
        let key = self.config.mfa_key_arn.clone().ok_or(ConfigError {
            var: "MFA_KEY_ARN",
            problem: "is not set (this function seals or opens second factors)".into(),
        })?;
        self.sealer = Some(crate::sealing::Sealer::on_first_use(self.sdk.clone(), key));
        Ok(self)
    }

    /// Verifies ID tokens of the configured providers (`OIDC_*`), fetching their keys over the
    /// public web on first use — nothing at init: the client and its root store are built here
    /// without I/O.
    #[cfg(feature = "oidc")]
    #[must_use]
    pub fn with_oidc(mut self) -> Self {
        let fetch = std::sync::Arc::new(crate::oidc::WebFetch::new());
        self.oidc = Some(std::sync::Arc::new(crate::oidc::Verifier::new(
            self.config.oidc.clone(),
            fetch,
        )));
        self
    }

    /// The verifier of [`State::with_oidc`], if this function has one.
    #[cfg(feature = "oidc")]
    pub fn oidc(&self) -> Option<&crate::oidc::Verifier> {
        self.oidc.as_deref()
    }

    /// Gives this state `verifier` (tests: the world's, shared by every function's state).
    #[cfg(feature = "oidc")]
    pub fn set_oidc(&mut self, verifier: Option<std::sync::Arc<crate::oidc::Verifier>>) {
        self.oidc = verifier;
    }

    /// The verifier shared by this state, to give another (tests).
    #[cfg(feature = "oidc")]
    pub fn oidc_shared(&self) -> Option<std::sync::Arc<crate::oidc::Verifier>> {
        self.oidc.clone()
    }

    /// The sealer of [`State::with_sealer`], if this function has one.
    #[cfg(feature = "sealing")]
    pub fn sealer(&self) -> Option<&crate::sealing::Sealer> {
        self.sealer.as_ref()
    }

    /// The sealer this function must have: a 500 (logged) when it was deployed without one.
    #[cfg(feature = "sealing")]
    pub fn require_sealer(&self) -> Result<&crate::sealing::Sealer, ApiError> {
        self.sealer()
            .ok_or_else(|| ApiError::internal("MFA_KEY_ARN is not set for this function"))
    }

    /// Gives this state `sealer` (tests: as the function's role).
    #[cfg(feature = "sealing")]
    pub fn set_sealer(&mut self, sealer: Option<crate::sealing::Sealer>) {
        self.sealer = sealer;
    }

    /// The SDK configuration (region, credentials, endpoint) for other clients.
    pub fn sdk_config(&self) -> &aws::SdkConfig {
        &self.sdk
    }
}

impl crate::secrets::StartReads for State {
    /// Starts reading the keys this function reads on first use, so that the read overlaps
    /// with the request's own first call (a no-op once they are read).
    fn start_reads(&self) {
        self.store.start_reading_cursor_key();
        if let Some(key) = &self.auth.signer {
            key.start();
        }
    }
}
