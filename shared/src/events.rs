//! The event contract: one versioned envelope for every change, written to the table as an
//! outbox item in the same transaction as the change itself. The table's stream carries it to
//! the audit and email queues, so no event is lost when a queue is down.
//!
//! ```json
//! { "id": "01JD8Z6Q3V5W6X7Y8Z9A0B1C2D", "type": "user.registered", "schemaVersion": 1,
//!   "occurredAt": "2026-11-24T05:44:53.123Z",
//!   "actor": { "type": "user", "id": "01JD…", "roles": ["USER"] },
//!   "entity": { "type": "user", "id": "01JD…" },
//!   "changes": { "name": { "before": null, "after": "Ada" } },
//!   "email": { "template": "welcome", "to": "ada@example.com", "vars": { "name": "Ada", "verifyToken": "…" } } }
//! ```
//!
//! `changes` never holds secrets (password hashes, tokens). The `email` section holds what the
//! mailer needs to render its template — for verification and reset mails that includes the
//! one-time token of the link, which is why outbox items live only a day (TTL) and the audit
//! worker never stores the `email` section.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Role;
use crate::ids::{EventId, UserId};
use crate::notices::{Notice, NotificationIntent};
use crate::store::{Store, StoreError};

/// Version of the envelope's schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How long an outbox item stays in the table (the stream delivers within seconds).
pub const OUTBOX_TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    System,
}

/// Who caused the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn user(id: UserId, roles: &[Role]) -> Self {
        Self {
            kind: ActorKind::User,
            id: Some(id.to_string()),
            roles: roles.to_vec(),
        }
    }

    /// An operator or a background process (the admin CLI, a worker).
    pub fn system(name: &str) -> Self {
        Self {
            kind: ActorKind::System,
            id: Some(name.to_owned()),
            roles: Vec::new(),
        }
    }
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// One field's value before and after (`null` when it did not exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub before: Value,
    pub after: Value,
}

/// What a one-time email link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
    /// Confirms a new address (sent to it): the account moves to it when the link is opened.
    ChangeEmail,
    /// Signs in without a password (a mailed link).
    SignIn,
}

impl LinkPurpose {
    /// The variable of the email templates that carries this purpose's link token.
    pub fn template_variable(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verifyToken",
            Self::ResetPassword => "resetToken",
            Self::ChangeEmail => "changeEmailToken",
            Self::SignIn => "signInToken",
        }
    }
}

/// A one-time link the email worker mints when it sends the email: the token is created
/// there and never travels the outbox, the stream or the queues (only its hash is stored).
/// It is minted only if the account's links were not voided after `requested_ms` (a password
/// set voids them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    pub purpose: LinkPurpose,
    pub user_id: UserId,
    pub requested_ms: u64,
}

/// Whom an email goes to: an address known when the event was written (`"to"`), or an account
/// whose current address the email worker reads when it sends (`"toUser"`: no address travels
/// the outbox, and a changed address is honoured; a deleted account gets nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recipient {
    #[serde(rename = "to")]
    Address(String),
    #[serde(rename = "toUser")]
    User(UserId),
}

/// The email an event asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailIntent {
    pub template: String,
    #[serde(flatten)]
    pub to: Recipient,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRequest>,
    /// Only to a confirmed address: the email worker, reading the account when it sends, voids
    /// the email when the account's address is not confirmed (reminders, notices that an
    /// unvouched address may belong to a stranger).
    #[serde(
        default,
        rename = "confirmedOnly",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub confirmed_only: bool,
}

impl EmailIntent {
    pub fn new(template: &str, to: Recipient, vars: &[(&str, &str)]) -> Self {
        Self {
            template: template.to_owned(),
            to,
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            link: None,
            confirmed_only: false,
        }
    }

    /// The address, when the event named one.
    pub fn address(&self) -> Option<&str> {
        match &self.to {
            Recipient::Address(address) => Some(address),
            Recipient::User(_) => None,
        }
    }
}

/// The envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: String,
    pub schema_version: u32,
    pub occurred_at: String,
    pub actor: Actor,
    pub entity: Entity,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailIntent>,
    /// The further emails of an event that tells several people (a transfer tells both
    /// owners). Each is claimed and sent on its own; the pipe forwards an event by its `email`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_emails: Vec<EmailIntent>,
    /// A notice for an account's inbox (see [`crate::notifications`]): the pipe forwards an
    /// event to the notifications queue by this field, as it does to the email queue by `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationIntent>,
    /// The further notices of an event that concerns several accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_notifications: Vec<NotificationIntent>,
}

impl Event {
    pub fn new(
        kind: &str,
        actor: Actor,
        entity_kind: &str,
        entity_id: &str,
        occurred_at: String,
    ) -> Self {
        Self {
            id: EventId::generate(),
            kind: kind.to_owned(),
            schema_version: SCHEMA_VERSION,
            occurred_at,
            actor,
            entity: Entity {
                kind: entity_kind.to_owned(),
                id: entity_id.to_owned(),
            },
            changes: BTreeMap::new(),
            email: None,
            more_emails: Vec::new(),
            notification: None,
            more_notifications: Vec::new(),
        }
    }

    /// An event about the account `user` (entity type `user`).
    pub fn about_user(kind: &str, actor: Actor, user: UserId, occurred_at: String) -> Self {
        Self::new(kind, actor, "user", &user.to_string(), occurred_at)
    }

    /// Records a field's change (only when it really changed).
    #[must_use]
    pub fn change(mut self, field: &str, before: impl Serialize, after: impl Serialize) -> Self {
        let before = serde_json::to_value(before).unwrap_or(Value::Null);
        let after = serde_json::to_value(after).unwrap_or(Value::Null);
        if before != after {
            self.changes
                .insert(field.to_owned(), Change { before, after });
        }
        self
    }

    /// Asks for an email to `to` (the event's first; see [`Event::email_user`] for more).
    #[must_use]
    pub fn email(mut self, template: &str, to: &str, vars: &[(&str, &str)]) -> Self {
        self.email = Some(EmailIntent::new(
            template,
            Recipient::Address(to.to_owned()),
            vars,
        ));
        self
    }

    /// Asks for one more email, to the account `user` at the address it has when the email goes.
    #[must_use]
    pub fn email_user(mut self, template: &str, user: UserId, vars: &[(&str, &str)]) -> Self {
        let intent = EmailIntent::new(template, Recipient::User(user), vars);
        if self.email.is_none() {
            self.email = Some(intent);
        } else {
            self.more_emails.push(intent);
        }
        self
    }

    /// Asks for one more email, to the account `user` if its address is confirmed when the email
    /// goes (see [`EmailIntent::confirmed_only`]).
    #[must_use]
    pub fn email_confirmed_user(
        mut self,
        template: &str,
        user: UserId,
        vars: &[(&str, &str)],
    ) -> Self {
        let mut intent = EmailIntent::new(template, Recipient::User(user), vars);
        intent.confirmed_only = true;
        if self.email.is_none() {
            self.email = Some(intent);
        } else {
            self.more_emails.push(intent);
        }
        self
    }

    /// Asks for one more email, to the address `to` (see [`Event::email`] for the first).
    #[must_use]
    pub fn email_also(mut self, template: &str, to: &str, vars: &[(&str, &str)]) -> Self {
        let intent = EmailIntent::new(template, Recipient::Address(to.to_owned()), vars);
        if self.email.is_none() {
            self.email = Some(intent);
        } else {
            self.more_emails.push(intent);
        }
        self
    }

    /// Every email the event asks for, first to last.
    pub fn emails(&self) -> impl Iterator<Item = &EmailIntent> {
        self.email.iter().chain(&self.more_emails)
    }

    /// Tells the account `user` of this change in its inbox — unless `user` made the change (an
    /// owner is not told of the transfer they made) or is told already.
    #[must_use]
    pub fn notify(self, user: UserId, notice: Notice) -> Self {
        if self.actor.kind == ActorKind::User && self.actor.id == Some(user.to_string()) {
            return self;
        }
        self.alert(user, notice)
    }

    /// Tells the account `user` of this change in its inbox even when it made the change: what
    /// guards an account (a sign-in from a new device, a changed address) is news to its owner
    /// whoever did it. Once per account and event.
    #[must_use]
    pub fn alert(mut self, user: UserId, notice: Notice) -> Self {
        if self.notifications().any(|n| n.to_user == user) {
            return self;
        }
        let intent = NotificationIntent {
            to_user: user,
            notice,
        };
        if self.notification.is_none() {
            self.notification = Some(intent);
        } else {
            self.more_notifications.push(intent);
        }
        self
    }

    /// Every notice the event asks for, first to last.
    pub fn notifications(&self) -> impl Iterator<Item = &NotificationIntent> {
        self.notification.iter().chain(&self.more_notifications)
    }

    /// Asks the email worker to mint a one-time link into the email (see [`LinkRequest`]).
    #[must_use]
    pub fn link(mut self, link: LinkRequest) -> Self {
        if let Some(email) = &mut self.email {
            email.link = Some(link);
        }
        self
    }
}

/// The outbox item: `pk = OUTBOX#<eventId>`, `sk = EVENT`, the envelope under `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    pub pk: String,
    pub sk: String,
    pub event: Event,
    pub expires_at: i64,
}

impl OutboxItem {
    pub fn key(id: EventId) -> crate::store::Key {
        crate::store::Key::new(format!("OUTBOX#{id}"), "EVENT")
    }
}

/// The transaction item that writes `event` to the outbox.
pub fn outbox_put(store: &Store, event: Event) -> Result<TransactWriteItem, StoreError> {
    let key = OutboxItem::key(event.id);
    store.put_new_op(&OutboxItem {
        pk: key.pk,
        sk: key.sk,
        expires_at: store.expires_in(OUTBOX_TTL_SECS),
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_fields_are_not_recorded_and_the_envelope_is_camel_case() {
        let event = Event::new(
            "user.profile_updated",
            Actor::system("test"),
            "user",
            "u1",
            "t".into(),
        )
        .change("name", "Ada", "Ada Lovelace")
        .change("email", "a@b.co", "a@b.co");
        assert_eq!(event.changes.len(), 1);
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["type"], "user.profile_updated");
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(json["changes"]["name"]["after"], "Ada Lovelace");
        assert_eq!(
            json["actor"],
            serde_json::json!({"type": "system", "id": "test"})
        );
        assert!(json.get("email").is_none());
        let back: Event = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, event);
    }

    #[test]
    fn an_event_can_ask_for_emails_to_an_address_and_to_accounts() {
        let ada = UserId::generate();
        let bob = UserId::generate();
        let event = Event::new("x.y", Actor::system("test"), "x", "1", "t".into())
            .email_user("first", ada, &[("k", "v")])
            .email_user("second", bob, &[]);
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["email"]["toUser"], ada.to_string());
        assert_eq!(json["email"]["vars"]["k"], "v");
        assert!(json["email"].get("to").is_none());
        assert_eq!(json["moreEmails"][0]["toUser"], bob.to_string());
        let back: Event = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, event);
        let templates: Vec<&str> = back.emails().map(|e| e.template.as_str()).collect();
        assert_eq!(templates, ["first", "second"]);

        let addressed = Event::new("x.y", Actor::system("test"), "x", "1", "t".into()).email(
            "welcome",
            "a@b.co",
            &[],
        );
        let json = serde_json::to_value(&addressed).expect("json");
        assert_eq!(json["email"]["to"], "a@b.co");
        assert!(json.get("moreEmails").is_none());
        assert_eq!(
            addressed.emails().next().and_then(|e| e.address()),
            Some("a@b.co")
        );
    }
}
