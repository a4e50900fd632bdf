//! [`CallLog`]: the DynamoDB operations a request made, recorded by an SDK interceptor.

use std::sync::Mutex;

/// The name of the operation an SDK interceptor is looking at (`TransactWriteItems`, …).
pub fn operation_name(cfg: &aws_sdk_dynamodb::config::ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
        .map_or_else(|| "unknown operation".to_owned(), |m| m.name().to_owned())
}

/// Records the name of every DynamoDB operation a client sends (an SDK interceptor).
#[derive(Debug, Clone, Default)]
pub struct CallLog(std::sync::Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// The operations since the last call, in order; clears the log.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_serialization(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.lock().expect("lock").push(operation_name(cfg));
        Ok(())
    }
}
