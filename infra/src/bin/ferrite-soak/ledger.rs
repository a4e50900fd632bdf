//! The pipeline's promises, checked after the run: every event audited once, every mail sent
//! once or dead-lettered, nothing stuck.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, Result};
use aws_sdk_dynamodb::types::AttributeValue;

use super::workload::Shared;

/// What the table holds: outbox events (id -> recipient of its mail, if any) and audit entries
/// (event ids, with repeats).
pub(crate) struct Ledger {
    pub(crate) events: BTreeMap<String, Option<String>>,
    pub(crate) audited: Vec<String>,
}

pub(crate) async fn ledger(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Ledger> {
    let mut events = BTreeMap::new();
    let mut audited = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :outbox) OR begins_with(pk, :audit)")
            .expression_attribute_values(":outbox", AttributeValue::S("OUTBOX#".into()))
            .expression_attribute_values(":audit", AttributeValue::S("AUDIT#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning the table")?;
        for item in page.items() {
            let pk = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if let Some(id) = pk.strip_prefix("OUTBOX#") {
                let to = item
                    .get("event")
                    .and_then(|v| v.as_m().ok())
                    .and_then(|e| e.get("email"))
                    .and_then(|v| v.as_m().ok())
                    .and_then(|m| m.get("to"))
                    .and_then(|v| v.as_s().ok())
                    .cloned();
                events.insert(id.to_owned(), to);
            } else if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) {
                audited.push(sk.clone());
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(Ledger { events, audited })
}

/// The differences between what the table says happened and what the pipeline delivered.
pub(crate) async fn problems(
    shared: &Shared,
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let ledger = ledger(dynamodb, table).await?;
    let mut seen = BTreeSet::new();
    for id in &ledger.audited {
        if !seen.insert(id.clone()) {
            problems.push(format!("event {id} is audited twice"));
        }
        if !ledger.events.contains_key(id) {
            problems.push(format!("audit entry {id} has no committed event"));
        }
    }
    let missing = ledger
        .events
        .keys()
        .filter(|id| !seen.contains(*id))
        .count();
    if missing > 0 {
        problems.push(format!("{missing} committed events have no audit entry"));
    }
    let mut wanted: BTreeMap<String, u64> = BTreeMap::new();
    for to in ledger.events.values().flatten() {
        *wanted.entry(to.clone()).or_default() += 1;
    }
    let sent = shared.client.mail_counts().await?;
    for (to, count) in &wanted {
        let got = sent.get(to).copied().unwrap_or_default();
        if got != *count {
            problems.push(format!("{to}: {count} mails asked for, {got} sent"));
        }
    }
    for (to, got) in &sent {
        if !wanted.contains_key(to) {
            problems.push(format!("{to}: {got} mails sent that no event asked for"));
        }
    }
    for variable in [
        "AUDIT_QUEUE_URL",
        "EMAIL_QUEUE_URL",
        "AUDIT_DEAD_LETTER_QUEUE_URL",
        "EMAIL_DEAD_LETTER_QUEUE_URL",
    ] {
        let url = std::env::var(variable).with_context(|| format!("{variable} is not set"))?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await?;
        let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_default()
        };
        let held = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        if held > 0 {
            problems.push(format!("{variable}: {held} messages left"));
        }
    }
    Ok(problems)
}
