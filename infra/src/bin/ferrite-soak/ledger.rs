//! The pipeline's promises, checked after the run: every event audited once, every mail sent
//! once (or, for an account deleted before it went, settled unsent), nothing stuck.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context as _, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use infra::table;

use super::world::Shared;

/// Whom one email of an event is for.
enum Recipient {
    Address(String),
    Account(String),
}

/// What the table holds: outbox events (id -> the addresses its mails went to, in the order it
/// asked for them) and audit entries (event ids, with repeats).
pub(crate) struct Ledger {
    pub(crate) events: BTreeMap<String, Vec<String>>,
    pub(crate) audited: Vec<String>,
    /// Mails for accounts deleted before the mail went: settled (`voided`) without a send.
    pub(crate) voided: u64,
}

fn recipients(event: &HashMap<String, AttributeValue>) -> Vec<Recipient> {
    let first = event.get("email").into_iter();
    let more = event
        .get("moreEmails")
        .and_then(|v| v.as_l().ok())
        .into_iter()
        .flatten();
    first
        .chain(more)
        .filter_map(|intent| {
            let intent = intent.as_m().ok()?;
            let text = |name: &str| intent.get(name).and_then(|v| v.as_s().ok()).cloned();
            text("to")
                .map(Recipient::Address)
                .or_else(|| text("toUser").map(Recipient::Account))
        })
        .collect()
}

/// `directory`: the run's accounts (id -> address), to know where a mail to an account went.
pub(crate) async fn ledger(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    directory: &BTreeMap<String, String>,
) -> Result<Ledger> {
    let mut asked = BTreeMap::new();
    let mut audited = Vec::new();
    let mut accounts = BTreeSet::new();
    let mut voided_claims = BTreeSet::new();
    let items = table::scan(dynamodb, table, |scan| {
        scan.filter_expression(
            "begins_with(pk, :outbox) OR begins_with(pk, :audit) OR begins_with(pk, :user) OR begins_with(pk, :claim)",
        )
        .expression_attribute_values(":outbox", table::s("OUTBOX#"))
        .expression_attribute_values(":audit", table::s("AUDIT#"))
        .expression_attribute_values(":user", table::s("USER#"))
        .expression_attribute_values(":claim", table::s("EMAIL#"))
    })
    .await?;
    for item in &items {
        let (pk, sk) = (table::text(item, "pk"), table::text(item, "sk"));
        if let Some(id) = pk.strip_prefix("OUTBOX#") {
            let event = item.get("event").and_then(|v| v.as_m().ok());
            asked.insert(id.to_owned(), event.map(recipients).unwrap_or_default());
        } else if pk.starts_with("AUDIT#") {
            audited.push(sk);
        } else if let Some(id) = pk.strip_prefix("USER#").filter(|_| sk == "PROFILE") {
            accounts.insert(id.to_owned());
        } else if let Some(event) = pk.strip_prefix("EMAIL#").filter(|k| !k.contains('@')) {
            // An email send claim (an address's uniqueness claim has an `@`).
            if table::text(item, "state") == "voided" {
                voided_claims.insert((event.to_owned(), sk));
            }
        }
    }
    let mut events = BTreeMap::new();
    let mut voided = 0;
    for (id, recipients) in asked {
        let mut addresses = Vec::new();
        for (n, recipient) in recipients.into_iter().enumerate() {
            match recipient {
                Recipient::Address(address) => addresses.push(address),
                Recipient::Account(account) => {
                    let claim = id
                        .parse()
                        .map(|event| shared::store::Key::email_send(event, n).sk)
                        .unwrap_or_default();
                    if !accounts.contains(&account) && voided_claims.contains(&(id.clone(), claim))
                    {
                        voided += 1;
                    } else {
                        addresses.push(directory.get(&account).cloned().unwrap_or_else(|| {
                            format!("<account {account}, not registered by this run>")
                        }));
                    }
                }
            }
        }
        events.insert(id, addresses);
    }
    Ok(Ledger {
        events,
        audited,
        voided,
    })
}

/// The differences between what the table says happened and what the pipeline delivered.
pub(crate) async fn problems(
    shared: &Shared,
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let directory = shared
        .directory
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    let ledger = ledger(dynamodb, table, &directory).await?;
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
        "PURGE_DEAD_LETTER_QUEUE_URL",
        // A batch a pipe gave up on after its retries is described here.
        "PIPE_DEAD_LETTER_QUEUE_URL",
        // An event a rule of the bus could not deliver to its queue.
        "EVENT_DEAD_LETTER_QUEUE_URL",
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
