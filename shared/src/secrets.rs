//! Keys kept in Secrets Manager, read on first use and kept for the instance — never during
//! init.
//!
//! A function that reads a secret at init makes every cold start wait for a network round trip
//! (10–30 ms in AWS) before it may even ask for its first event. Instead, [`OnFirstUse`] is
//! built at init without I/O; the first request *starts* the read ([`OnFirstUse::start`], called
//! by `shared::http` before the handler runs), so it travels while the handler makes its own
//! first DynamoDB call, and whoever needs the value awaits it ([`OnFirstUse::get`]). Concurrent
//! callers share one read; a failed read is not kept, so the next use tries again. The cost of a
//! cold request is then the longer of the two round trips instead of their sum (BENCHMARKS.md).
//! A test starts every function binary and fails if any AWS call reaches the endpoint before
//! the function asks the runtime for its first event (`tests/api/cold_start.rs`). [`Key`] is
//! what holds such a key: given directly (tests, tools) or read on first use (the cursor key,
//! the token-signing key).

#[cfg(feature = "secrets")]
pub use on_first_use::OnFirstUse;

use crate::error::{ApiError, Cause};

/// The state of a function, as `shared::http::serve` sees it: as each request arrives (before
/// the handler runs) it starts reading whatever the state reads on first use.
pub trait StartReads: Send + Sync + 'static {
    /// Starts the reads not done yet, in the background; a no-op for a state without any.
    fn start_reads(&self) {}
}

impl StartReads for () {}

/// A key a function was given, or reads from Secrets Manager on first use.
#[derive(Debug, Clone)]
pub enum Key<T> {
    /// Given directly (tests and tools).
    Given(T),
    /// Read from Secrets Manager on the first request that needs it, never at init.
    #[cfg(feature = "secrets")]
    OnFirstUse(std::sync::Arc<OnFirstUse<T>>),
}

impl<T: Send + Sync + 'static> Key<T> {
    /// Starts reading a key that is read on first use; a no-op for one given or already read.
    pub fn start(&self) {
        #[cfg(feature = "secrets")]
        if let Self::OnFirstUse(key) = self {
            key.start();
        }
    }

    /// The key, read now if this is the instance's first use of it.
    // Without the `secrets` feature no key is read on first use, so nothing is awaited.
    #[cfg_attr(not(feature = "secrets"), allow(clippy::unused_async))]
    pub async fn get(&self) -> Result<&T, SecretError> {
        match self {
            Self::Given(key) => Ok(key),
            #[cfg(feature = "secrets")]
            Self::OnFirstUse(key) => key.get().await,
        }
    }
}

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager throttled or could not be reached: try again shortly.
    #[error("reading secret {id}: Secrets Manager unavailable")]
    Unavailable {
        id: String,
        #[source]
        cause: Cause,
    },
    /// The read was refused or the value is not what this function needs: a deployment
    /// mistake (permissions, a missing or malformed secret).
    #[error("reading secret {id}: {problem}")]
    Unusable { id: String, problem: String },
}

impl From<SecretError> for ApiError {
    fn from(error: SecretError) -> Self {
        match error {
            SecretError::Unavailable { cause, .. } => ApiError::Unavailable {
                retry_after_secs: 1,
                cause,
            },
            unusable @ SecretError::Unusable { .. } => ApiError::internal(unusable),
        }
    }
}

#[cfg(feature = "secrets")]
mod on_first_use {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;

    use super::SecretError;
    use crate::aws::SdkConfig;
    use crate::error::Cause;

    /// Error codes of Secrets Manager that mean "slow down / try again".
    const TRANSIENT_CODES: &[&str] = &["ThrottlingException", "InternalServiceError"];

    /// A value parsed from a Secrets Manager secret, read on first use and kept for the instance.
    pub struct OnFirstUse<T> {
        secret_id: String,
        sdk: SdkConfig,
        parse: Box<dyn Fn(String) -> Result<T, String> + Send + Sync>,
        value: tokio::sync::OnceCell<T>,
        /// A read started by [`start`](Self::start) is in flight (or done).
        started: AtomicBool,
    }

    impl<T> std::fmt::Debug for OnFirstUse<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OnFirstUse")
                .field("secret_id", &self.secret_id)
                .field("read", &self.value.initialized())
                .finish_non_exhaustive()
        }
    }

    impl<T: Send + Sync + 'static> OnFirstUse<T> {
        /// The secret `secret_id`, whose string value `parse` turns into a `T`. No I/O.
        pub fn new(
            secret_id: String,
            sdk: SdkConfig,
            parse: impl Fn(String) -> Result<T, String> + Send + Sync + 'static,
        ) -> Arc<Self> {
            Arc::new(Self {
                secret_id,
                sdk,
                parse: Box::new(parse),
                value: tokio::sync::OnceCell::new(),
                started: AtomicBool::new(false),
            })
        }

        /// Starts reading the secret in the background unless it is read or being read, so that it
        /// overlaps with whatever the request does first.
        pub fn start(self: &Arc<Self>) {
            if self.value.initialized() || self.started.swap(true, Ordering::AcqRel) {
                return;
            }
            let this = Arc::clone(self);
            tokio::spawn(async move {
                // A failure is not reported here: the request that needs the value awaits `get`,
                // which reads again and answers (and logs) the failure once. Let a later request
                // start a new read.
                if this.get().await.is_err() {
                    this.started.store(false, Ordering::Release);
                }
            });
        }

        /// The value: read now, or by the read already under way, or kept from before.
        pub async fn get(&self) -> Result<&T, SecretError> {
            // Boxed: the SDK call is a deep future, and every handler that awaits a key would
            // otherwise carry its layout inline — deep enough to overflow rustc's query depth
            // limit in posts-list's `serve` future. It runs once per instance.
            self.value.get_or_try_init(|| Box::pin(self.read())).await
        }

        async fn read(&self) -> Result<T, SecretError> {
            let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
            let id = &self.secret_id;
            let output = client
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|error| {
                    let transient = error.as_service_error().is_none_or(|service| {
                        service
                            .code()
                            .is_some_and(|code| TRANSIENT_CODES.contains(&code))
                    });
                    if transient {
                        SecretError::Unavailable {
                            id: id.clone(),
                            cause: Cause::from(error),
                        }
                    } else {
                        SecretError::Unusable {
                            id: id.clone(),
                            problem: crate::error::cause_chain(&error),
                        }
                    }
                })?;
            let text = output.secret_string.ok_or_else(|| SecretError::Unusable {
                id: id.clone(),
                problem: "the secret has no string value".into(),
            })?;
            (self.parse)(text).map_err(|problem| SecretError::Unusable {
                id: id.clone(),
                problem,
            })
        }
    }
}
