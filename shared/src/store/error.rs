//! What a store operation can fail with, and what each failure means to a client.

use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::{ApiError, Cause, FieldError};

use super::CursorError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold: the item already exists (`put_new`), or, in a
    /// transaction, the condition of item number `index` failed.
    #[error("condition failed (item {index:?})")]
    ConditionFailed { index: Option<usize> },
    /// The item to update does not exist.
    #[error("item not found")]
    NotFound,
    /// A page cursor that we did not issue for this query.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// This function was deployed without the cursor key (a deployment mistake).
    #[error(transparent)]
    NoCursorKey(#[from] super::cursor::NoCursorKey),
    /// The cursor key, read on first use, could not be had.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// DynamoDB is throttling, busy with a conflicting transaction, or out of reach: retry later.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// An item did not match its Rust type (a bug or a migration gap).
    #[error("item mapping failed")]
    Mapping(#[from] serde_dynamo::Error),
    /// Any other SDK failure (a bug: bad expression, missing table, permissions).
    #[error("DynamoDB request failed")]
    Sdk(#[source] Cause),
}

impl From<StoreError> for ApiError {
    /// The default meaning of each store failure for a client; handlers map
    /// `ConditionFailed` themselves when they know more (e.g. `EMAIL_TAKEN`).
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed { .. } => ApiError::Conflict {
                code: "CONFLICT",
                detail: "The request conflicts with the current state of the resource.".into(),
            },
            StoreError::NotFound => ApiError::NotFound {
                detail: "No such resource.".into(),
            },
            StoreError::Cursor(_) => ApiError::BadRequest {
                code: "INVALID_CURSOR",
                detail: "The `cursor` parameter is not valid for this listing.".into(),
                errors: vec![FieldError::new("cursor", "is not a valid cursor")],
            },
            StoreError::Unavailable(cause) => ApiError::Unavailable {
                retry_after_secs: 1,
                cause,
            },
            StoreError::Secret(error) => error.into(),
            error @ (StoreError::Mapping(_) | StoreError::Sdk(_) | StoreError::NoCursorKey(_)) => {
                ApiError::internal(error)
            }
        }
    }
}

/// Error codes DynamoDB uses for "slow down / try again".
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Classifies an SDK error that has no operation-specific meaning.
pub(super) fn sdk_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    };
    if retryable {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Sdk(Box::new(error))
    }
}

/// What a failed write condition means, said once where the write is made:
/// `store.transact(writes).await.on_condition(|index| …)?`. Every other failure keeps its
/// default meaning (`From<StoreError> for ApiError`).
pub trait OnCondition<T> {
    /// Maps [`StoreError::ConditionFailed`] (with the position of the failed item in a
    /// transaction) to `meaning`.
    fn on_condition(self, meaning: impl FnOnce(Option<usize>) -> ApiError) -> Result<T, ApiError>;

    /// The write was conditioned on the version the caller read, and someone wrote first: 412.
    fn or_stale(self) -> Result<T, ApiError>
    where
        Self: Sized,
    {
        self.on_condition(|_| ApiError::changed_meanwhile())
    }
}

impl<T> OnCondition<T> for Result<T, StoreError> {
    fn on_condition(self, meaning: impl FnOnce(Option<usize>) -> ApiError) -> Result<T, ApiError> {
        self.map_err(|error| match error {
            StoreError::ConditionFailed { index } => meaning(index),
            other => other.into(),
        })
    }
}

/// Optimistic locking, before any write: the version the client sent (`If-Match` or
/// `version`), if any, must be the current one (412 otherwise). Returns the version to write
/// against.
pub fn expect_version(expected: Option<u64>, current: u64) -> Result<u64, ApiError> {
    match expected {
        Some(version) if version != current => Err(ApiError::stale_version(current, version)),
        _ => Ok(current),
    }
}
