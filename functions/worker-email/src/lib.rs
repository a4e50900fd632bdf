//! The email worker: for each SQS record (an outbox event with an `email` section) it renders
//! the template (plain text and HTML, from `templates/`, links built from `APP_BASE_URL`) and
//! sends it with SES v2 `SendEmail` from `EMAIL_SENDER`.
//!
//! **At most one email per event.** SES has no idempotency key, so the worker claims the event
//! first (a conditional put of `EMAIL#<eventId>` in the table), sends, then marks the claim
//! `sent`. A redelivered event finds the claim and sends nothing. When SES fails for a while
//! (throttling, an outage) the claim is released and the record reported failed: SQS retries
//! it, and after `maxReceiveCount` it waits in the dead-letter queue — never dropped. When SES
//! refuses for good (a rejected message or recipient — the sandbox's unverified recipients —
//! an unverified sender, sending paused), retrying cannot help: the claim is marked `rejected`,
//! the `Email` metric counts `outcome=rejected` and one warning names SES's reason.
//!
//! The remaining window, stated honestly: if the process dies after the claim and before
//! `SendEmail` returns (a crash or a timeout within those milliseconds), the claim stays
//! `sending` and the redelivery does **not** send again: that email is lost rather than
//! possibly sent twice, and a warning is logged (`claim left by an interrupted attempt`) so an
//! operator can resend. If the crash falls after SES accepted the message, it was sent once.

mod claim;
mod mailer;

use claim::{claim, claim_key, mark_sent, reject, release, void};
pub use mailer::{Mailer, Rendered};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use shared::State;
use shared::config::ConfigError;
use shared::events::{EmailIntent, Event, Recipient};
use shared::store::Key;
use shared::telemetry::metric;
use shared::worker::{self, RecordError};

/// The worker's state.
#[derive(Debug)]
pub struct EmailWorker {
    pub state: State,
    pub ses: aws_sdk_sesv2::Client,
    /// The `From` header: `"Display Name" <address>`, or the address alone.
    pub sender: String,
    pub configuration_set: Option<String>,
    pub mailer: Mailer,
}

impl EmailWorker {
    /// `EMAIL_SENDER` (required: the address only), `EMAIL_SENDER_NAME` (its display name),
    /// `EMAIL_CONFIGURATION_SET` (SES's, for bounce and complaint events), `APP_BASE_URL`
    /// (required, http/https), `APP_NAME` (default Ferrite). With `STAGE=prod` the worker
    /// refuses to start with what only suits a laptop: an `http://`, localhost or example.com
    /// base URL, an example.com sender.
    pub fn new(state: State, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let refuse = |var: &'static str, problem: &str| ConfigError {
            var,
            problem: problem.to_owned(),
        };
        let address = get("EMAIL_SENDER").ok_or_else(|| refuse("EMAIL_SENDER", "is not set"))?;
        let address = shared::validate::Email::parse(address.trim()).map_err(|_| {
            refuse(
                "EMAIL_SENDER",
                "must be an email address (the address only)",
            )
        })?;
        let name = get("EMAIL_SENDER_NAME").unwrap_or_default();
        if name.contains(['<', '>', '"', '@', '\r', '\n']) || name.chars().count() > 64 {
            return Err(refuse(
                "EMAIL_SENDER_NAME",
                "must be a plain display name (no <>\"@, at most 64 characters)",
            ));
        }
        let base = get("APP_BASE_URL").ok_or_else(|| refuse("APP_BASE_URL", "is not set"))?;
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(refuse("APP_BASE_URL", "must be an http(s) URL"));
        }
        if get("STAGE").as_deref() == Some("prod") {
            let local = ["localhost", "127.0.0.1", "example.com", "example.org"];
            if !base.starts_with("https://") || local.iter().any(|l| base.contains(l)) {
                return Err(refuse(
                    "APP_BASE_URL",
                    "must be the app's public https URL in prod",
                ));
            }
            if local
                .iter()
                .any(|l| address.as_str().ends_with(&format!("@{l}")))
            {
                return Err(refuse(
                    "EMAIL_SENDER",
                    "must be an address of your own domain in prod",
                ));
            }
        }
        let app_name = get("APP_NAME").unwrap_or_else(|| "Ferrite".to_owned());
        let mailer =
            Mailer::new(&base, &app_name).map_err(|e| refuse("APP_NAME", &e.to_string()))?;
        let ses = aws_sdk_sesv2::Client::new(state.sdk_config());
        Ok(Self {
            state,
            ses,
            sender: mailer::from_header(&name, address.as_str()),
            configuration_set: get("EMAIL_CONFIGURATION_SET"),
            mailer,
        })
    }
}

/// What must happen before a claimed email may go: its recipient's address read (when the
/// event names an account), its one-time link minted, and (for emails anyone can trigger) the
/// address's budget spent. `None`: it will never go (the claim is marked voided); an error
/// releases the claim for a retry.
async fn prepare(
    worker: &EmailWorker,
    event: &Event,
    key: &Key,
    intent: EmailIntent,
) -> Result<Option<(String, EmailIntent)>, RecordError> {
    let store = &worker.state.store;
    let failed = |what: &str, error: &shared::ApiError| {
        RecordError::Transient(format!("{what}: {}", shared::error::cause_chain(error)))
    };
    let (to, mut intent) = match &intent.to {
        Recipient::Address(address) => (address.clone(), intent),
        Recipient::User(user) => match shared::accounts::find_user(store, *user).await {
            Ok(Some(account)) if intent.confirmed_only && !account.email_verified => {
                void(store, key, event, "its account's address is not confirmed").await;
                return Ok(None);
            }
            Ok(Some(account)) => {
                let mut intent = intent.clone();
                intent.vars.entry("name".to_owned()).or_insert(account.name);
                (account.email, intent)
            }
            Ok(None) => {
                void(store, key, event, "the account it was for is gone").await;
                return Ok(None);
            }
            Err(error) => {
                release(store, key, event).await;
                return Err(failed("reading the recipient", &error));
            }
        },
    };
    if let Some(link) = intent.link {
        // The one-time link is minted here, when the email goes out: its token never travelled
        // the outbox, the stream or the queues.
        match shared::accounts::mint_link(&worker.state, &link).await {
            Ok(Some(token)) => intent = with_token(&intent, &token),
            Ok(None) => {
                void(
                    store,
                    key,
                    event,
                    "its link was voided since it was asked for",
                )
                .await;
                return Ok(None);
            }
            Err(error) => {
                release(store, key, event).await;
                return Err(failed("minting the link", &error));
            }
        }
    }
    // After the link: an email that could not go anyway spends no budget. Anyone can name any
    // address in a registration: a budget per address keeps it from flooding a mailbox.
    if shared::accounts::STRANGER_TEMPLATES.contains(&intent.template.as_str()) {
        match shared::accounts::stranger_mail_allowed(&worker.state, &to).await {
            Ok(true) => {}
            Ok(false) => {
                void(
                    store,
                    key,
                    event,
                    "the address's budget of such emails is spent",
                )
                .await;
                return Ok(None);
            }
            Err(error) => {
                release(store, key, event).await;
                return Err(failed("the email budget", &error));
            }
        }
    }
    Ok(Some((to, intent)))
}

/// Sends every email the event asks for, each under its own claim: a redelivery after a
/// partial failure sends only what did not go. The first failure is the record's.
async fn deliver(worker: &EmailWorker, event: &Event) -> Result<(), RecordError> {
    if event.email.is_none() {
        // The pipe only forwards events with an email section; anything else is not ours.
        return Err(RecordError::Malformed(format!(
            "event {} asks for no email",
            event.id
        )));
    }
    // A malformed email fails before anything is claimed or minted.
    for intent in event.emails() {
        worker.mailer.render(&with_token(intent, "placeholder"))?;
    }
    let mut outcome = Ok(());
    for (n, intent) in event.emails().enumerate() {
        if let Err(error) = deliver_one(worker, event, claim_key(event, n), intent.clone()).await
            && outcome.is_ok()
        {
            outcome = Err(error);
        }
    }
    outcome
}

async fn deliver_one(
    worker: &EmailWorker,
    event: &Event,
    key: Key,
    intent: EmailIntent,
) -> Result<(), RecordError> {
    let store = &worker.state.store;
    if !claim(store, &key, event, &intent.template).await? {
        return Ok(());
    }
    let Some((to, intent)) = prepare(worker, event, &key, intent).await? else {
        return Ok(());
    };
    let email = worker.mailer.render(&intent)?;

    let charset = |data: &str| Content::builder().data(data).charset("UTF-8").build();
    let message = (|| {
        Ok::<_, aws_sdk_sesv2::error::BuildError>(
            Message::builder()
                .subject(charset(&email.subject)?)
                .body(
                    Body::builder()
                        .text(charset(&email.text)?)
                        .html(charset(&email.html)?)
                        .build(),
                )
                .build(),
        )
    })()
    .map_err(|e| RecordError::Malformed(e.to_string()))?;
    let sent = worker
        .ses
        .send_email()
        .from_email_address(&worker.sender)
        .set_configuration_set_name(worker.configuration_set.clone())
        .destination(Destination::builder().to_addresses(&to).build())
        .content(EmailContent::builder().simple(message).build())
        .send()
        .await;
    match sent {
        Ok(output) => {
            mark_sent(store, key, event, output.message_id().unwrap_or_default()).await;
            tracing::info!(eventId = %event.id, template = %intent.template, "email sent");
            metrics::counter!(metric::EMAIL, "outcome" => "sent").increment(1);
            Ok(())
        }
        Err(error) => {
            if let Some(reason) = permanent_rejection(&error) {
                // Retrying cannot change SES's answer: the email is settled as rejected (the
                // claim stays, so a redelivery does not try again) instead of failing the record
                // into the dead-letter queue. Counted and logged once; the cause is SES's code.
                reject(store, &key, event, &intent.template, reason).await;
                return Ok(());
            }
            metrics::counter!(metric::EMAIL, "outcome" => "failed").increment(1);
            // Release the claim so that SQS's retry can send.
            release(store, &key, event).await;
            Err(RecordError::Transient(format!(
                "SES SendEmail: {}",
                shared::error::cause_chain(&error)
            )))
        }
    }
}

/// SES's refusals that a retry cannot change, by their code: the message or a recipient was
/// rejected (in the sandbox, an unverified recipient), the sender's identity or MAIL FROM domain
/// is not verified, the account's sending is paused or suspended, or the request is malformed.
/// Throttling, timeouts and SES's own errors are transient (SQS delivers the record again).
fn permanent_rejection(
    error: &aws_sdk_sesv2::error::SdkError<aws_sdk_sesv2::operation::send_email::SendEmailError>,
) -> Option<&'static str> {
    use aws_sdk_sesv2::operation::send_email::SendEmailError as E;
    match error.as_service_error()? {
        E::MessageRejected(_) => Some("MessageRejected"),
        E::MailFromDomainNotVerifiedException(_) => Some("MailFromDomainNotVerified"),
        E::SendingPausedException(_) => Some("SendingPaused"),
        E::AccountSuspendedException(_) => Some("AccountSuspended"),
        E::BadRequestException(_) => Some("BadRequest"),
        _ => None,
    }
}

/// `intent` with the token of its link in the variable its template reads.
fn with_token(intent: &EmailIntent, token: &str) -> EmailIntent {
    let mut intent = intent.clone();
    if let Some(link) = intent.link {
        intent.vars.insert(
            link.purpose.template_variable().to_owned(),
            token.to_owned(),
        );
    }
    intent
}

pub async fn handle(worker: &EmailWorker, event: SqsEvent) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let event = worker::event_of(&message)?;
        // Boxed: the delivery future (SDK sends, link minting, budgets) is deep enough to
        // exceed the compiler's layout depth limit when inlined into the runtime's future.
        Box::pin(deliver(worker, &event)).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(template: &str, vars: &[(&str, &str)]) -> EmailIntent {
        EmailIntent {
            link: None,
            confirmed_only: false,
            template: template.into(),
            to: Recipient::Address("ada@example.com".into()),
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn every_template_renders_text_and_html_with_links_from_the_base_url() {
        let mailer = Mailer::new("https://app.example.com/", "Ferrite").expect("templates");
        let welcome = mailer
            .render(&intent(
                "welcome",
                &[("name", "Ada"), ("verifyToken", "abc+/=")],
            ))
            .expect("render");
        assert_eq!(
            welcome.subject,
            "Welcome to Ferrite: confirm your email address"
        );
        assert!(
            welcome
                .text
                .contains("https://app.example.com/verify-email?token=abc%2B%2F%3D")
        );
        assert!(welcome.html.contains("Hello Ada,"));
        let reset = mailer
            .render(&intent("password-reset", &[("resetToken", "tok")]))
            .expect("render");
        assert!(
            reset
                .text
                .contains("https://app.example.com/reset-password?token=tok")
        );
        let sign_in = mailer
            .render(&intent("sign-in-link", &[("signInToken", "a/b+c")]))
            .expect("render");
        assert_eq!(sign_in.subject, "Your Ferrite sign-in link");
        assert!(
            sign_in
                .text
                .contains("https://app.example.com/sign-in?token=a%2Fb%2Bc")
        );
        // HTML escapes the slashes of the address; the token stays as encoded.
        assert!(
            sign_in.html.contains("sign-in?token=a%2Fb%2Bc"),
            "{}",
            sign_in.html
        );
        // Without its token the email does not go out with an empty link.
        assert!(matches!(
            mailer.render(&intent("sign-in-link", &[])),
            Err(RecordError::Malformed(_))
        ));
        for template in [
            "verify-email",
            "password-changed",
            "account-deleted",
            "account-exists",
        ] {
            let rendered = mailer
                .render(&intent(template, &[("name", "Ada"), ("verifyToken", "t")]))
                .expect(template);
            assert!(
                !rendered.subject.is_empty() && rendered.html.contains("<html"),
                "{template}"
            );
        }
        assert!(matches!(
            mailer.render(&intent("nope", &[])),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn transfer_emails_quote_the_property_and_a_missing_variable_is_malformed() {
        let mailer = Mailer::new("https://app.example.com", "Ferrite").expect("templates");
        let vars = [
            ("name", "Ada"),
            ("fileNumber", "B-2024/0042"),
            ("address", "1 Harbour Row, Bristol, GB"),
            ("transferredAt", "2026-12-02T10:00:00.000Z"),
        ];
        for (template, subject) in [
            (
                shared::properties::TRANSFERRED_AWAY,
                "Property B-2024/0042 was transferred from you",
            ),
            (
                shared::properties::TRANSFERRED_TO_YOU,
                "Property B-2024/0042 was transferred to you",
            ),
        ] {
            let rendered = mailer.render(&intent(template, &vars)).expect(template);
            assert_eq!(rendered.subject, subject);
            assert!(rendered.text.contains("1 Harbour Row, Bristol, GB"));
            // HTML escapes `/` too.
            assert!(rendered.html.contains("<strong>B-2024&#x2f;0042</strong>"));
            assert!(matches!(
                mailer.render(&intent(template, &vars[..2])),
                Err(RecordError::Malformed(_))
            ));
        }
        // A link's email without its token does not go out with an empty link.
        assert!(matches!(
            mailer.render(&intent("welcome", &[("name", "Ada")])),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn a_new_sign_in_email_names_the_device_and_escapes_what_the_client_sent() {
        let mailer = Mailer::new("https://app.example.com", "Ferrite").expect("templates");
        let vars = [
            ("name", "Ada"),
            ("signedInAt", "2026-12-07T10:00:00.000Z"),
            ("device", "<script>alert(1)</script> Firefox"),
            ("network", "203.0.113.0/24"),
        ];
        let rendered = mailer
            .render(&intent(shared::accounts::NEW_SIGN_IN_TEMPLATE, &vars))
            .expect("render");
        assert_eq!(rendered.subject, "New sign-in to your Ferrite account");
        assert!(rendered.text.contains("Network: 203.0.113.0/24"));
        assert!(
            rendered
                .text
                .contains("https://app.example.com/forgot-password")
        );
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered.html.contains("&lt;script&gt;"));
        // Every variable is required: an event without the device does not render.
        assert!(matches!(
            mailer.render(&intent(shared::accounts::NEW_SIGN_IN_TEMPLATE, &vars[..2])),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn a_linked_or_unlinked_provider_is_named_and_an_unknown_change_is_not_sent() {
        let mailer = Mailer::new("https://app.example.com", "Ferrite").expect("templates");
        let template = shared::accounts::identities::IDENTITY_CHANGED_TEMPLATE;
        for (change, subject, says) in [
            (
                "linked",
                "Sign-in with Google was linked to your Ferrite account",
                "then unlink Google",
            ),
            (
                "unlinked",
                "Sign-in with Google was unlinked from your Ferrite account",
                "no longer signs in to this account",
            ),
        ] {
            let vars = [("name", "Ada"), ("change", change), ("provider", "Google")];
            let rendered = mailer.render(&intent(template, &vars)).expect("render");
            assert_eq!(rendered.subject, subject);
            assert!(rendered.text.contains(says), "{change}: {}", rendered.text);
            assert!(rendered.html.contains(says), "{change}: {}", rendered.html);
        }
        for vars in [
            &[
                ("name", "Ada"),
                ("change", "merged"),
                ("provider", "Google"),
            ][..],
            &[("name", "Ada"), ("change", "linked")],
        ] {
            assert!(matches!(
                mailer.render(&intent(template, vars)),
                Err(RecordError::Malformed(_))
            ));
        }
    }

    #[test]
    fn a_second_factor_change_is_told_in_its_own_words_and_an_unknown_change_is_not_sent() {
        let mailer = Mailer::new("https://app.example.com", "Ferrite").expect("templates");
        let template = shared::accounts::MFA_CHANGED_TEMPLATE;
        for (change, subject, says) in [
            (
                "enabled",
                "An authenticator app was set up on your Ferrite account",
                "asks for one of its codes",
            ),
            (
                "disabled",
                "The authenticator app was removed from your Ferrite account",
                "password alone signs in again",
            ),
            (
                "reset",
                "An administrator removed the authenticator app of your Ferrite account",
                "An administrator just removed",
            ),
            (
                "recovery-codes",
                "New recovery codes for your Ferrite account",
                "the old ones no longer work",
            ),
        ] {
            let rendered = mailer
                .render(&intent(template, &[("name", "Ada"), ("change", change)]))
                .expect("render");
            assert_eq!(rendered.subject, subject);
            assert!(rendered.text.contains(says), "{change}: {}", rendered.text);
            assert!(rendered.html.contains(says), "{change}: {}", rendered.html);
            assert!(
                rendered
                    .text
                    .contains("https://app.example.com/forgot-password")
            );
        }
        for vars in [
            &[("name", "Ada"), ("change", "promoted")][..],
            &[("name", "Ada")],
        ] {
            assert!(matches!(
                mailer.render(&intent(template, vars)),
                Err(RecordError::Malformed(_))
            ));
        }
    }

    #[test]
    fn the_sender_is_an_address_with_a_quoted_or_encoded_display_name() {
        assert_eq!(
            mailer::from_header("Ferrite", "no-reply@ferrite.dev"),
            "\"Ferrite\" <no-reply@ferrite.dev>"
        );
        assert_eq!(
            mailer::from_header("", "no-reply@ferrite.dev"),
            "no-reply@ferrite.dev"
        );
        assert_eq!(
            mailer::from_header("Fèrrite", "a@b.co"),
            "=?UTF-8?B?RsOocnJpdGU=?= <a@b.co>"
        );
    }

    #[test]
    fn a_prod_worker_refuses_local_links_and_senders_and_a_sender_with_a_name_in_it() {
        let state = State::from_config(
            shared::config::Config::from_lookup(|name| match name {
                "TABLE_NAME" => Some("table".to_owned()),
                "AWS_REGION" => Some("us-east-1".to_owned()),
                "CURSOR_SECRET" => Some("c".repeat(32)),
                _ => None,
            })
            .expect("config"),
            shared::clock::Clock::System,
        )
        .expect("state");
        let start = |vars: &[(&str, &str)]| {
            EmailWorker::new(state.clone(), |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
            .map(|_| ())
            .map_err(|e| e.var)
        };
        let dev = [
            ("EMAIL_SENDER", "no-reply@example.com"),
            ("APP_BASE_URL", "http://localhost:5173"),
        ];
        assert_eq!(start(&dev), Ok(()));
        assert_eq!(
            start(&[
                ("STAGE", "prod"),
                ("EMAIL_SENDER", "no-reply@ferrite.dev"),
                ("APP_BASE_URL", "http://localhost:5173"),
            ]),
            Err("APP_BASE_URL")
        );
        assert_eq!(
            start(&[
                ("STAGE", "prod"),
                ("EMAIL_SENDER", "no-reply@example.com"),
                ("APP_BASE_URL", "https://app.ferrite.dev"),
            ]),
            Err("EMAIL_SENDER")
        );
        assert_eq!(
            start(&[
                ("STAGE", "prod"),
                ("EMAIL_SENDER", "no-reply@ferrite.dev"),
                ("EMAIL_SENDER_NAME", "Ferrite"),
                ("APP_BASE_URL", "https://app.ferrite.dev"),
            ]),
            Ok(())
        );
        assert_eq!(
            start(&[
                ("EMAIL_SENDER", "Ferrite <no-reply@ferrite.dev>"),
                ("APP_BASE_URL", "https://app.ferrite.dev"),
            ]),
            Err("EMAIL_SENDER")
        );
    }

    #[test]
    fn html_escapes_what_users_typed_and_text_does_not() {
        let mailer = Mailer::new("https://app.example.com", "Ferrite").expect("templates");
        let rendered = mailer
            .render(&intent(
                "account-deleted",
                &[("name", "<script>x</script>")],
            ))
            .expect("render");
        assert!(rendered.html.contains("&lt;script&gt;"));
        assert!(rendered.text.contains("<script>x</script>"));
    }

    #[test]
    fn the_rent_reminders_render_for_tenants_and_owners_and_refuse_an_unknown_audience() {
        let mailer = Mailer::new("https://app.example.com/", "Ferrite").expect("templates");
        let lease = ("leaseId", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let due = mailer
            .render(&intent(
                "rent-due-soon",
                &[
                    ("name", "Ada"),
                    lease,
                    ("dueDate", "2027-02-10"),
                    ("amount", "1,000.00 EUR"),
                    ("balance", "0.00 EUR"),
                ],
            ))
            .expect("render");
        assert_eq!(due.subject, "Rent of 1,000.00 EUR due on 2027-02-10");
        for audience in ["tenant", "owner"] {
            let overdue = mailer
                .render(&intent(
                    "rent-overdue",
                    &[
                        ("name", "Ada"),
                        lease,
                        ("dueDate", "2027-02-10"),
                        ("balance", "250.00 EUR"),
                        ("audience", audience),
                    ],
                ))
                .expect("render");
            assert!(overdue.subject.contains("overdue"), "{}", overdue.subject);
        }
        let unknown = mailer.render(&intent(
            "rent-overdue",
            &[
                ("name", "Ada"),
                lease,
                ("dueDate", "2027-02-10"),
                ("balance", "1 EUR"),
                ("audience", "x"),
            ],
        ));
        assert!(unknown.is_err());
        let ending = mailer
            .render(&intent(
                "lease-ending-soon",
                &[("name", "Ada"), lease, ("endDate", "2027-12-31")],
            ))
            .expect("render");
        assert_eq!(ending.subject, "Your lease ends on 2027-12-31");
    }
}
