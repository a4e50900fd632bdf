//! Reading a whole table as raw records, for the tools that check what is stored (smoke, soak,
//! the tests' snapshots): every page of a Scan, and the text of an attribute.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

/// One record as DynamoDB returns it.
pub type Record = HashMap<String, AttributeValue>;

/// Every item of `table` (each page of the Scan `shape` builds: a filter, consistency), in the
/// order DynamoDB returns them.
pub async fn scan(
    client: &Client,
    table: &str,
    shape: impl Fn(ScanFluentBuilder) -> ScanFluentBuilder,
) -> anyhow::Result<Vec<Record>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = shape(client.scan().table_name(table))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "scanning {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// The string attribute `name` of `record` (empty when absent or not a string).
pub fn text(record: &Record, name: &str) -> String {
    record
        .get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A string value, for a filter's expression values.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}
