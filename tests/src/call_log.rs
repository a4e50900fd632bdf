//! [`CallLog`]: the DynamoDB operations a request made, recorded by an SDK interceptor — and
//! its KMS operations, where the same interceptor is on the sealer's client (no capacity units:
//! CAPACITY.md prices them per request).

use std::sync::Mutex;

/// The name of the operation an SDK interceptor is looking at (`TransactWriteItems`, …).
pub fn operation_name(cfg: &aws_sdk_dynamodb::config::ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
        .map_or_else(|| "unknown operation".to_owned(), |m| m.name().to_owned())
}

/// One DynamoDB call: its operation and the capacity it consumed, as the endpoint reports it
/// (`ReturnConsumedCapacity`, asked for on every call; the local endpoint computes what
/// DynamoDB on-demand bills — `infra/moto_capacity.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub operation: String,
    pub read_units: f64,
    pub write_units: f64,
    /// Items an answer returned (Query, Scan, BatchGetItem, GetItem): what a read's units
    /// scale with.
    pub items: usize,
    /// Outbox events a write put (each one a stream record, a pipe request, an audit entry).
    pub events: usize,
    /// Emails those events ask for.
    pub emails: usize,
}

/// Records every DynamoDB operation a client sends, with its consumed capacity (an SDK
/// interceptor).
#[derive(Debug, Clone, Default)]
pub struct CallLog(std::sync::Arc<Mutex<Vec<Measured>>>);

impl CallLog {
    /// The operations since the last call, in order; clears the log.
    pub fn take(&self) -> Vec<String> {
        self.take_measured()
            .into_iter()
            .map(|m| m.operation)
            .collect()
    }

    /// The calls since the last call, in order, with their capacity; clears the log.
    pub fn take_measured(&self) -> Vec<Measured> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

/// The outbox events a transaction puts, and the emails they ask for.
fn events_of(
    input: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput,
) -> (usize, usize) {
    let mut counted = (0, 0);
    for put in input.transact_items().iter().filter_map(|item| item.put()) {
        let item = put.item();
        if !item
            .get("pk")
            .and_then(|pk| pk.as_s().ok())
            .is_some_and(|pk| pk.starts_with("OUTBOX#"))
        {
            continue;
        }
        counted.0 += 1;
        if let Some(event) = item.get("event").and_then(|e| e.as_m().ok()) {
            counted.1 += usize::from(event.contains_key("email"))
                + event
                    .get("moreEmails")
                    .and_then(|m| m.as_l().ok())
                    .map_or(0, Vec::len);
        }
    }
    counted
}

/// Sets `ReturnConsumedCapacity: INDEXES` on the input of every operation that takes it.
fn ask_for_capacity(input: &mut aws_smithy_runtime_api::client::interceptors::context::Input) {
    use aws_sdk_dynamodb::operation as op;
    use aws_sdk_dynamodb::types::ReturnConsumedCapacity::Indexes;
    macro_rules! ask {
        ($($input:ty),*) => {
            $(if let Some(input) = input.downcast_mut::<$input>() {
                input.return_consumed_capacity = Some(Indexes);
            })*
        };
    }
    ask!(
        op::get_item::GetItemInput,
        op::batch_get_item::BatchGetItemInput,
        op::query::QueryInput,
        op::scan::ScanInput,
        op::put_item::PutItemInput,
        op::update_item::UpdateItemInput,
        op::delete_item::DeleteItemInput,
        op::batch_write_item::BatchWriteItemInput,
        op::transact_write_items::TransactWriteItemsInput,
        op::transact_get_items::TransactGetItemsInput
    );
}

/// The items an operation's output returned.
fn items_of(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> usize {
    use aws_sdk_dynamodb::operation as op;
    if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
        return usize::try_from(o.count).unwrap_or_default();
    }
    if let Some(o) = output.downcast_ref::<op::scan::ScanOutput>() {
        return usize::try_from(o.count).unwrap_or_default();
    }
    if let Some(o) = output.downcast_ref::<op::get_item::GetItemOutput>() {
        return usize::from(o.item.is_some());
    }
    if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>() {
        return o
            .responses
            .as_ref()
            .map_or(0, |r| r.values().map(Vec::len).sum());
    }
    0
}

/// The (read, write) units an operation's output reports.
fn consumed(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> (f64, f64) {
    use aws_sdk_dynamodb::operation as op;
    use aws_sdk_dynamodb::types::ConsumedCapacity;
    let sum = |all: &[ConsumedCapacity]| {
        all.iter().fold((0.0, 0.0), |(r, w), c| {
            (
                r + c.read_capacity_units.unwrap_or(0.0),
                w + c.write_capacity_units.unwrap_or(0.0),
            )
        })
    };
    macro_rules! one {
        ($($output:ty),*) => {
            $(if let Some(output) = output.downcast_ref::<$output>() {
                return sum(output.consumed_capacity.as_slice());
            })*
        };
    }
    macro_rules! many {
        ($($output:ty),*) => {
            $(if let Some(output) = output.downcast_ref::<$output>() {
                return sum(output.consumed_capacity.as_deref().unwrap_or_default());
            })*
        };
    }
    one!(
        op::get_item::GetItemOutput,
        op::query::QueryOutput,
        op::scan::ScanOutput,
        op::put_item::PutItemOutput,
        op::update_item::UpdateItemOutput,
        op::delete_item::DeleteItemOutput
    );
    many!(
        op::batch_get_item::BatchGetItemOutput,
        op::batch_write_item::BatchWriteItemOutput,
        op::transact_write_items::TransactWriteItemsOutput,
        op::transact_get_items::TransactGetItemsOutput
    );
    (0.0, 0.0)
}

impl aws_sdk_dynamodb::config::Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn modify_before_serialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        ask_for_capacity(context.input_mut());
        let (events, emails) = context
            .input()
            .downcast_ref::<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput>()
            .map_or((0, 0), events_of);
        self.0.lock().expect("lock").push(Measured {
            operation: operation_name(cfg),
            read_units: 0.0,
            write_units: 0.0,
            items: 0,
            events,
            emails,
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<
            '_,
        >,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let (read, write) = consumed(output);
        let items = items_of(output);
        let name = operation_name(cfg);
        // Calls of one client may overlap: the newest unmeasured call of this operation.
        if let Some(call) = self
            .0
            .lock()
            .expect("lock")
            .iter_mut()
            .rev()
            .find(|c| c.operation == name && c.read_units == 0.0 && c.write_units == 0.0)
        {
            call.read_units = read;
            call.write_units = write;
            call.items = items;
        }
        Ok(())
    }
}

/// Appends one endpoint's measured calls to the JSON-lines file `FERRITE_CAPACITY_OUT` names
/// (nothing when it is unset): what `make capacity` models the costs from.
pub fn record_capacity(endpoint: &str, calls: &[Measured]) {
    use std::io::Write as _;
    let Ok(path) = std::env::var("FERRITE_CAPACITY_OUT") else {
        return;
    };
    let line = serde_json::json!({
        "endpoint": endpoint,
        "calls": calls.iter().map(|c| serde_json::json!({
            "operation": c.operation,
            "readUnits": c.read_units,
            "writeUnits": c.write_units,
            "items": c.items,
            "events": c.events,
            "emails": c.emails,
        })).collect::<Vec<_>>(),
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    // One write per line: the two tests that record may append at once.
    file.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}
