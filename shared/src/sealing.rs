//! Values the table must not hold in the clear — a second factor's secret, a webhook endpoint's
//! signing secret — sealed with a KMS key the table never sees (`MfaKey`, the stack's sealing
//! key: each function's policy allows it only for its own `purpose`). Every seal names what it is
//! for and whose it is in its encryption context (`purpose`, and `userId` or `webhookId`): a
//! sealed value copied onto another account or endpoint, or opened for another purpose, does not
//! open. The client is built on first use (nothing on the init path).

use std::sync::{Arc, LazyLock};

use aws_sdk_kms::primitives::Blob;

/// What a seal is for and whose it is: its encryption context.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub purpose: &'a str,
    /// Whose: the context's second pair (`userId`, `webhookId`).
    owner: (&'static str, &'a str),
}

impl<'a> Context<'a> {
    /// Sealed for `purpose`, the account `user_id`'s.
    pub fn of_user(purpose: &'a str, user_id: &'a str) -> Self {
        Self {
            purpose,
            owner: ("userId", user_id),
        }
    }

    /// Sealed for `purpose`, the webhook endpoint `webhook_id`'s.
    pub fn of_webhook(purpose: &'a str, webhook_id: &'a str) -> Self {
        Self {
            purpose,
            owner: ("webhookId", webhook_id),
        }
    }
}

impl From<SealError> for crate::error::ApiError {
    /// KMS unavailable or throttled: 503 (retry); refused: a 500 (the cause logged).
    fn from(error: SealError) -> Self {
        match error {
            SealError::Unavailable(_) => Self::Unavailable {
                retry_after_secs: 1,
                cause: Box::new(error),
            },
            SealError::Refused(_) => Self::internal(error),
        }
    }
}

/// A value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// KMS could not be reached or throttled: try again.
    #[error("KMS is unavailable: {0}")]
    Unavailable(String),
    /// KMS refused (access denied, a wrong context, a disabled key): retrying cannot help.
    #[error("KMS refused: {0}")]
    Refused(String),
}

type LazyClient =
    Arc<LazyLock<aws_sdk_kms::Client, Box<dyn FnOnce() -> aws_sdk_kms::Client + Send>>>;

/// Seals and opens with one KMS key (`MFA_KEY_ARN`).
#[derive(Clone)]
pub struct Sealer {
    client: LazyClient,
    key: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn classify<E: std::error::Error + 'static, R: std::fmt::Debug + 'static>(
    error: &aws_sdk_kms::error::SdkError<E, R>,
) -> SealError {
    use aws_sdk_kms::error::SdkError;
    let text = crate::error::cause_chain(error);
    match error {
        SdkError::ServiceError(_) => {
            let throttled = text.contains("Throttling") || text.contains("KMSInternal");
            if throttled {
                SealError::Unavailable(text)
            } else {
                SealError::Refused(text)
            }
        }
        _ => SealError::Unavailable(text),
    }
}

impl Sealer {
    /// A sealer with `key`, its client built from `sdk` on first use.
    pub fn on_first_use(sdk: crate::aws::SdkConfig, key: impl Into<String>) -> Self {
        Self {
            client: Arc::new(LazyLock::new(Box::new(move || {
                aws_sdk_kms::Client::new(&sdk)
            }))),
            key: key.into(),
        }
    }

    /// A sealer with `key` and a client already built (tests: one that records its calls).
    pub fn with_client(client: aws_sdk_kms::Client, key: impl Into<String>) -> Self {
        Self {
            client: Arc::new(LazyLock::new(Box::new(move || client))),
            key: key.into(),
        }
    }

    /// Seals `plaintext` (at most 4 KB) for `context`.
    pub async fn seal(&self, plaintext: &[u8], context: Context<'_>) -> Result<Vec<u8>, SealError> {
        let sealed = self
            .client
            .encrypt()
            .key_id(&self.key)
            .plaintext(Blob::new(plaintext.to_vec()))
            .encryption_context("purpose", context.purpose)
            .encryption_context(context.owner.0, context.owner.1)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        sealed
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| SealError::Refused("no ciphertext".into()))
    }

    /// Opens what [`Sealer::seal`] sealed for the same `context`.
    pub async fn open(&self, sealed: &[u8], context: Context<'_>) -> Result<Vec<u8>, SealError> {
        let opened = self
            .client
            .decrypt()
            .key_id(&self.key)
            .ciphertext_blob(Blob::new(sealed.to_vec()))
            .encryption_context("purpose", context.purpose)
            .encryption_context(context.owner.0, context.owner.1)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        opened
            .plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| SealError::Refused("no plaintext".into()))
    }
}
