//! The notices a change asks to be told to an account (see [`crate::notifications`] for the
//! inbox they land in): each a public `type` with its `data`, the contract clients read —
//! never the event itself, which may carry addresses and other people's details.

use serde::{Deserialize, Serialize};

use crate::ids::{DocumentId, EntryId, LeaseId, PostId, PropertyId, UnitId, UserId, WebhookId};

/// What a notification tells: its `type`, and its `data` — the public schema of each type,
/// never the event itself (which may carry addresses and other people's details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "data")]
pub enum Notice {
    /// A property is now yours (its owner or an admin transferred it).
    #[serde(rename = "property.transferred_to_you")]
    PropertyTransferredToYou(PropertyNotice),
    /// A property of yours was transferred to someone else (by an admin, or by you: then you are
    /// not told).
    #[serde(rename = "property.transferred_away")]
    PropertyTransferredAway(PropertyNotice),
    /// A lease of a unit was made with you as its tenant, or of your property by an admin.
    #[serde(rename = "lease.created")]
    LeaseCreated(LeaseNotice),
    /// Your lease ends in 30 days (`date`: its last day); to its tenant and its property's owner.
    #[serde(rename = "lease.ending_soon")]
    LeaseEndingSoon(LeaseDateNotice),
    /// Your lease was ended (`date`: its last day).
    #[serde(rename = "lease.ended")]
    LeaseEnded(LeaseDateNotice),
    /// A charge was posted to your lease's ledger (the monthly rent, or a charge its owner
    /// posted).
    #[serde(rename = "ledger.charge_posted")]
    ChargePosted(ChargeNotice),
    /// Rent is due in a few days (`date`: the due date).
    #[serde(rename = "rent.due_soon")]
    RentDueSoon(LeaseDateNotice),
    /// Rent due on `dueDate` is unpaid; to the tenant and the property's owner.
    #[serde(rename = "rent.overdue")]
    RentOverdue(OverdueNotice),
    /// A document of your lease or your property was uploaded and checked (by someone else).
    #[serde(rename = "document.added")]
    DocumentAdded(DocumentNotice),
    /// A moderator hid your post from every reader but you.
    #[serde(rename = "post.hidden")]
    PostHidden(PostNotice),
    /// A moderator published your hidden post again.
    #[serde(rename = "post.unhidden")]
    PostUnhidden(PostNotice),
    /// Your account signed in from a device it had not seen.
    #[serde(rename = "account.signed_in")]
    SignedIn(SignInNotice),
    /// Your account's email address changed.
    #[serde(rename = "account.email_changed")]
    EmailChanged(EmailChangedNotice),
    /// A webhook endpoint you registered failed every delivery for a sustained period and was
    /// disabled: nothing is sent to it until it is enabled again (`PATCH /v1/webhooks/{id}`).
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled(WebhookNotice),
}

impl Notice {
    /// The notice's public type (`property.transferred_to_you`…): the tag serde writes, read
    /// back from it so that the names are spelt once, on the variants.
    pub fn kind(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut fields)) => match fields.remove("type") {
                Some(serde_json::Value::String(kind)) => kind,
                _ => String::new(),
            },
            _ => String::new(),
        }
    }
}

/// A webhook endpoint, as a notice names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookNotice {
    pub webhook_id: WebhookId,
    #[schema(example = "https://hooks.example.com/ferrite")]
    pub url: String,
    /// Since when every delivery to it had failed.
    #[schema(example = "2027-01-02T09:30:00.000Z")]
    pub failing_since: String,
}

/// A property, as a notice names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropertyNotice {
    pub property_id: PropertyId,
    #[schema(example = "LR-2024-000123")]
    pub file_number: String,
    /// The address on one line.
    #[schema(example = "12 Rue de la Paix, 75002 Paris, FR")]
    pub address: String,
}

/// A lease that was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseNotice {
    pub lease_id: LeaseId,
    pub property_id: PropertyId,
    pub unit_id: UnitId,
    #[schema(example = "2027-01-01")]
    pub start_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// The monthly rent, in the currency's minor units.
    #[schema(example = 125_000)]
    pub rent_minor: u64,
    #[schema(example = "EUR")]
    pub currency: String,
}

/// A lease and the day a notice is about (its type says which day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseDateNotice {
    pub lease_id: LeaseId,
    /// `YYYY-MM-DD`.
    #[schema(example = "2027-06-30")]
    pub date: String,
}

/// A charge on a lease's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeNotice {
    pub lease_id: LeaseId,
    pub entry_id: EntryId,
    /// In the currency's minor units.
    #[schema(example = 125_000)]
    pub amount_minor: u64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// `YYYY-MM-DD`: the day it counts from.
    #[schema(example = "2027-02-01")]
    pub effective_date: String,
}

/// Rent left unpaid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverdueNotice {
    pub lease_id: LeaseId,
    /// `YYYY-MM-DD`.
    #[schema(example = "2027-02-01")]
    pub due_date: String,
    /// What the tenant owed when the notice was made, in minor units.
    #[schema(example = 125_000)]
    pub balance_minor: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

/// A document that was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentNotice {
    pub document_id: DocumentId,
    #[schema(example = "Signed lease.pdf")]
    pub name: String,
    pub property_id: PropertyId,
    /// Set for a lease's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_id: Option<LeaseId>,
}

/// A post, as a notice names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostNotice {
    pub post_id: PostId,
    #[schema(example = "Hello, world")]
    pub title: String,
}

/// A sign-in from a device new to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInNotice {
    /// The session it began (`DELETE /v1/users/me/sessions/{id}` ends it).
    #[schema(example = "01JDX3M5Q6T7V8W9XAYBZC0D1E")]
    pub session_id: String,
    /// The device's `User-Agent`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The network it came from (an IPv4 /24 or an IPv6 /48), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// An account's address changed (the new address is on the account; a notice never carries
/// one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailChangedNotice {}

/// A notice for one account, as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationIntent {
    pub to_user: UserId,
    pub notice: Notice,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_its_type_and_its_data() {
        let notice = Notice::PostHidden(PostNotice {
            post_id: PostId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("id"),
            title: "Hi".into(),
        });
        let json = serde_json::to_value(&notice).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "post.hidden", "data": {"postId": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "title": "Hi"}})
        );
        assert_eq!(notice.kind(), "post.hidden");
        let back: Notice = serde_json::from_value(json).expect("back");
        assert_eq!(back, notice);
        let changed =
            serde_json::to_value(Notice::EmailChanged(EmailChangedNotice {})).expect("json");
        assert_eq!(
            changed,
            serde_json::json!({"type": "account.email_changed", "data": {}})
        );
    }
}
