//! Registration in its two modes (`conflict` and `silent`), limited per source IP.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::auth::Role;
use crate::auth::password::{self};
use crate::config::RegistrationMode;
use crate::error::ApiError;
use crate::events::{Actor, Event, LinkRequest, outbox_put};
use crate::ids::UserId;
use crate::limits::{self, Limited, Policy};
use crate::state::State;
use crate::store::{Key, StoreError, Update, keys::USERS_PARTITION};
use crate::telemetry::metric;
use crate::validate::{DisplayName, Email, Password};

use super::items::{EmailClaim, TokenPurpose, UserItem, UserStatus, UserView};
use super::{Session, devices::Client, email_taken, greeting, sessions::new_session};

/// What `POST /auth/register` carries, parsed.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub name: DisplayName,
    pub password: Password,
}

/// Creates an account. Registrations per source IP are limited in every mode (429 past
/// `REGISTRATIONS_PER_IP_PER_HOUR`). In `conflict` mode the account is signed in at once, and
/// an address with an account is 409 `EMAIL_TAKEN` — decided by the email claim written in the
/// same transaction, so two concurrent registrations can never both succeed. In `silent` mode
/// both answer [`Registered::Accepted`] after the same DynamoDB calls: a new account gets its
/// welcome with a confirmation link, the owner of a taken address a notice (with a
/// confirmation link, in case it is them and they never confirmed).
/// The answer carries the per-IP quota ([`Limited`]).
pub async fn register(
    state: &State,
    input: Registration,
    client: &Client,
) -> Result<Limited<Registered>, ApiError> {
    let inputs = password::user_inputs(input.name.as_str(), input.email.as_str());
    password::check_strength(&input.password, &inputs).map_err(|e| e.at("password"))?;
    let quota = limits::consume(
        &state.store,
        state.clock.unix_seconds(),
        Policy::new(
            "register-ip",
            state.config.limits.registrations_per_ip_per_hour,
            REGISTRATION_WINDOW_SECS,
        ),
        &client.ip,
    )
    .await?;
    let value = create_account(state, input, client).await?;
    Ok(Limited {
        value,
        quotas: vec![quota],
    })
}

async fn create_account(
    state: &State,
    input: Registration,
    client: &Client,
) -> Result<Registered, ApiError> {
    let store = &state.store;
    let hash = password::hash(&input.password).map_err(ApiError::internal)?;
    let user = new_account(state, &input.email, &input.name, Some(hash), false, client);
    let (id, now) = (user.id, user.created_at.clone());
    let claim_key = Key::email(&input.email);
    let event = Event::about_user(
        "user.registered",
        Actor::user(id, &user.roles),
        id,
        now.clone(),
    )
    .change("email", (), &user.email)
    .change("name", (), &user.name)
    .change("roles", (), &user.roles)
    .change("status", (), user.status)
    // The welcome carries the verification link (minted by the email worker) and none of the
    // registrant's own words: the address is not proved to be theirs yet.
    .email("welcome", &user.email, &greeting(&user))
    .link(LinkRequest {
        purpose: TokenPurpose::VerifyEmail,
        user_id: id,
        requested_ms: state.clock.unix_millis(),
    });
    let mut writes = vec![
        store.put_new_op(&user)?,
        store.put_new_op(&EmailClaim {
            pk: claim_key.pk.clone(),
            sk: claim_key.sk.clone(),
            user_id: id,
        })?,
    ];

    if state.config.registration_mode == RegistrationMode::Silent {
        return register_silently(state, &input.email, writes, event).await;
    }

    let (session_writes, tokens, _) = new_session(state, &user, client, &["pwd"]).await?;
    writes.extend(session_writes);
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { index: Some(1) } => email_taken(),
        other => other.into(),
    })?;
    metrics::counter!(metric::REGISTRATION).increment(1);
    Ok(Registered::SignedIn(Box::new(Session {
        user: UserView::from(&user),
        tokens,
    })))
}

/// A new active account with the role `user`, as written at its creation: the device it is
/// created from is known (signing in from it again is no news).
pub(super) fn new_account(
    state: &State,
    email: &Email,
    name: &DisplayName,
    password_hash: Option<String>,
    email_verified: bool,
    client: &Client,
) -> UserItem {
    let id = UserId::generate();
    let now = state.clock.timestamp();
    let key = Key::user(id);
    UserItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: USERS_PARTITION.to_owned(),
        gsi1sk: id.to_string(),
        gsi2pk: UserItem::status_partition(UserStatus::Active),
        gsi2sk: id.to_string(),
        id,
        email: email.to_string(),
        name: name.as_str().to_owned(),
        roles: vec![Role::User],
        status: UserStatus::Active,
        email_verified,
        password_hash,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
        session_epoch: 0,
        links_valid_after: 0,
        property_count: 0,
        active_lease_count: 0,
        published_post_count: 0,
        reset_token: None,
        verify_token: None,
        change_email_token: None,
        sign_in_token: None,
        pending_email: None,
        pending_email_session: None,
        known_devices: Some(BTreeMap::from([(
            client.fingerprint(),
            state.clock.unix_seconds(),
        )])),
        mfa: None,
        identities: None,
    }
}

/// `silent` mode: the same calls whether or not the address is taken — read the claim, then
/// one transaction: the new account (`writes` and its `event`), or the owner's notice.
async fn register_silently(
    state: &State,
    email: &Email,
    mut writes: Vec<TransactWriteItem>,
    event: Event,
) -> Result<Registered, ApiError> {
    let store = &state.store;
    let claim_key = Key::email(email);
    let claim: Option<EmailClaim> = store.get(&claim_key).await?;
    let creates = claim.is_none();
    let writes = match &claim {
        None => {
            writes.push(outbox_put(store, event)?);
            writes
        }
        Some(claim) => {
            let notice = Event::about_user(
                "user.registration_attempted",
                Actor::system("registration"),
                claim.user_id,
                state.clock.timestamp(),
            )
            .email("account-exists", email.as_str(), &[])
            .link(LinkRequest {
                purpose: TokenPurpose::VerifyEmail,
                user_id: claim.user_id,
                requested_ms: state.clock.unix_millis(),
            });
            vec![
                Update::new(claim_key).if_exists().into_check(store)?,
                outbox_put(store, notice)?,
            ]
        }
    };
    match store.transact(writes).await {
        Ok(()) => {
            if creates {
                metrics::counter!(metric::REGISTRATION).increment(1);
            }
            Ok(Registered::Accepted)
        }
        // The address was registered, or its account deleted, between the read and the
        // write: the same answer (the registrant learns nothing either way).
        Err(StoreError::ConditionFailed { .. }) => {
            tracing::info!("registration raced another change of the same address");
            Ok(Registered::Accepted)
        }
        Err(other) => Err(other.into()),
    }
}

/// What `POST /auth/register` answers.
#[derive(Debug)]
pub enum Registered {
    /// `conflict` mode: the new account, signed in (201).
    SignedIn(Box<Session>),
    /// `silent` mode: accepted (202), the same whether or not the address had an account.
    Accepted,
}

/// The window of the per-IP registration limit.
pub const REGISTRATION_WINDOW_SECS: i64 = 3600;
