//! Rendering: each template in plain text and HTML (minijinja), its subject, and the links
//! built from `APP_BASE_URL`.

use std::collections::BTreeMap;

use base64::Engine as _;
use minijinja::Environment;
use shared::events::EmailIntent;
use shared::worker::RecordError;

/// Subject line of each template (templates themselves are in `templates/`).
pub(crate) const SUBJECTS: &[(&str, &str)] = &[
    (
        "welcome",
        "Welcome to {{ app_name }}: confirm your email address",
    ),
    ("verify-email", "Confirm your email address"),
    ("password-reset", "Reset your {{ app_name }} password"),
    (
        "password-changed",
        "Your {{ app_name }} password was changed",
    ),
    ("account-deleted", "Your {{ app_name }} account was deleted"),
    (
        "account-exists",
        "Someone tried to create a {{ app_name }} account with your address",
    ),
    (
        "confirm-email-change",
        "Confirm your new {{ app_name }} email address",
    ),
    (
        "email-change-requested",
        "A change of your {{ app_name }} email address was requested",
    ),
    (
        "email-changed",
        "Your {{ app_name }} email address was changed",
    ),
    ("new-sign-in", "New sign-in to your {{ app_name }} account"),
    ("sign-in-link", "Your {{ app_name }} sign-in link"),
    // An unknown `change` reads a variable no event gives: it fails to render (strict).
    (
        "mfa-changed",
        "{% if change == \"enabled\" %}An authenticator app was set up on your {{ app_name }} account\
         {% elif change == \"disabled\" %}The authenticator app was removed from your {{ app_name }} account\
         {% elif change == \"reset\" %}An administrator removed the authenticator app of your {{ app_name }} account\
         {% elif change == \"recovery-codes\" %}New recovery codes for your {{ app_name }} account\
         {% else %}{{ change_unknown_to_this_template }}{% endif %}",
    ),
    (
        "identity-changed",
        "{% if change == \"linked\" %}Sign-in with {{ provider }} was linked to your {{ app_name }} account\
         {% elif change == \"unlinked\" %}Sign-in with {{ provider }} was unlinked from your {{ app_name }} account\
         {% else %}{{ change_unknown_to_this_template }}{% endif %}",
    ),
    (
        "property-transferred-away",
        "Property {{ fileNumber }} was transferred from you",
    ),
    (
        "property-transferred-to-you",
        "Property {{ fileNumber }} was transferred to you",
    ),
    ("rent-due-soon", "Rent of {{ amount }} due on {{ dueDate }}"),
    (
        "rent-overdue",
        "{% if audience == \"owner\" %}A tenant's rent due on {{ dueDate }} is overdue\
         {% elif audience == \"tenant\" %}Your rent due on {{ dueDate }} is overdue\
         {% else %}{{ audience_unknown_to_this_template }}{% endif %}",
    ),
    ("lease-ending-soon", "Your lease ends on {{ endDate }}"),
];

pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("welcome.html", include_str!("../templates/welcome.html")),
    ("welcome.txt", include_str!("../templates/welcome.txt")),
    (
        "verify-email.html",
        include_str!("../templates/verify-email.html"),
    ),
    (
        "verify-email.txt",
        include_str!("../templates/verify-email.txt"),
    ),
    (
        "password-reset.html",
        include_str!("../templates/password-reset.html"),
    ),
    (
        "password-reset.txt",
        include_str!("../templates/password-reset.txt"),
    ),
    (
        "password-changed.html",
        include_str!("../templates/password-changed.html"),
    ),
    (
        "password-changed.txt",
        include_str!("../templates/password-changed.txt"),
    ),
    (
        "account-deleted.html",
        include_str!("../templates/account-deleted.html"),
    ),
    (
        "account-deleted.txt",
        include_str!("../templates/account-deleted.txt"),
    ),
    (
        "account-exists.html",
        include_str!("../templates/account-exists.html"),
    ),
    (
        "account-exists.txt",
        include_str!("../templates/account-exists.txt"),
    ),
    (
        "confirm-email-change.html",
        include_str!("../templates/confirm-email-change.html"),
    ),
    (
        "confirm-email-change.txt",
        include_str!("../templates/confirm-email-change.txt"),
    ),
    (
        "email-change-requested.html",
        include_str!("../templates/email-change-requested.html"),
    ),
    (
        "email-change-requested.txt",
        include_str!("../templates/email-change-requested.txt"),
    ),
    (
        "email-changed.html",
        include_str!("../templates/email-changed.html"),
    ),
    (
        "email-changed.txt",
        include_str!("../templates/email-changed.txt"),
    ),
    (
        "new-sign-in.html",
        include_str!("../templates/new-sign-in.html"),
    ),
    (
        "new-sign-in.txt",
        include_str!("../templates/new-sign-in.txt"),
    ),
    (
        "sign-in-link.html",
        include_str!("../templates/sign-in-link.html"),
    ),
    (
        "sign-in-link.txt",
        include_str!("../templates/sign-in-link.txt"),
    ),
    (
        "identity-changed.html",
        include_str!("../templates/identity-changed.html"),
    ),
    (
        "identity-changed.txt",
        include_str!("../templates/identity-changed.txt"),
    ),
    (
        "mfa-changed.html",
        include_str!("../templates/mfa-changed.html"),
    ),
    (
        "mfa-changed.txt",
        include_str!("../templates/mfa-changed.txt"),
    ),
    (
        "property-transferred-away.html",
        include_str!("../templates/property-transferred-away.html"),
    ),
    (
        "property-transferred-away.txt",
        include_str!("../templates/property-transferred-away.txt"),
    ),
    (
        "property-transferred-to-you.html",
        include_str!("../templates/property-transferred-to-you.html"),
    ),
    (
        "property-transferred-to-you.txt",
        include_str!("../templates/property-transferred-to-you.txt"),
    ),
    (
        "rent-due-soon.html",
        include_str!("../templates/rent-due-soon.html"),
    ),
    (
        "rent-due-soon.txt",
        include_str!("../templates/rent-due-soon.txt"),
    ),
    (
        "rent-overdue.html",
        include_str!("../templates/rent-overdue.html"),
    ),
    (
        "rent-overdue.txt",
        include_str!("../templates/rent-overdue.txt"),
    ),
    (
        "lease-ending-soon.html",
        include_str!("../templates/lease-ending-soon.html"),
    ),
    (
        "lease-ending-soon.txt",
        include_str!("../templates/lease-ending-soon.txt"),
    ),
];

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The templates, compiled once per cold start.
#[derive(Debug)]
pub struct Mailer {
    env: Environment<'static>,
    app_base_url: String,
    app_name: String,
}

impl Mailer {
    pub fn new(app_base_url: &str, app_name: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // HTML templates escape what they interpolate; text templates do not.
        env.set_auto_escape_callback(|name| {
            if std::path::Path::new(name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("html"))
            {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        for (name, subject) in SUBJECTS {
            env.add_template_owned(format!("{name}.subject"), (*subject).to_owned())?;
        }
        Ok(Self {
            env,
            app_base_url: app_base_url.trim_end_matches('/').to_owned(),
            app_name: app_name.to_owned(),
        })
    }

    fn link(&self, path: &str, token: &str) -> String {
        let mut url = format!("{}{path}?token=", self.app_base_url);
        url.extend(form_encode(token));
        url
    }

    /// Renders the email an event asks for. An unknown template is a malformed record.
    pub fn render(&self, intent: &EmailIntent) -> Result<Rendered, RecordError> {
        if !SUBJECTS.iter().any(|(name, _)| *name == intent.template) {
            return Err(RecordError::Malformed(format!(
                "unknown email template {:?}",
                intent.template
            )));
        }
        // The event's variables by their names (a token only as the link built from it); a
        // template that reads one the event did not give fails to render (strict undefined).
        let mut vars: BTreeMap<&str, String> = intent
            .vars
            .iter()
            .filter(|(name, _)| !name.ends_with("Token"))
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        vars.insert("app_name", self.app_name.clone());
        vars.insert(
            "name",
            intent
                .vars
                .get("name")
                .cloned()
                .unwrap_or_else(|| "there".to_owned()),
        );
        if let Some(token) = intent.vars.get("verifyToken") {
            vars.insert("verify_url", self.link("/verify-email", token));
        }
        if let Some(token) = intent.vars.get("resetToken") {
            vars.insert("reset_url", self.link("/reset-password", token));
        }
        if let Some(token) = intent.vars.get("changeEmailToken") {
            vars.insert("confirm_email_url", self.link("/confirm-email", token));
        }
        if let Some(token) = intent.vars.get("signInToken") {
            vars.insert("sign_in_url", self.link("/sign-in", token));
        }
        vars.insert(
            "forgot_url",
            format!("{}/forgot-password", self.app_base_url),
        );
        let render = |name: String| {
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&vars))
                .map_err(|e| RecordError::Malformed(format!("template {name}: {e}")))
        };
        Ok(Rendered {
            subject: render(format!("{}.subject", intent.template))?,
            text: render(format!("{}.txt", intent.template))?,
            html: render(format!("{}.html", intent.template))?,
        })
    }
}

/// `application/x-www-form-urlencoded` escaping for a token in a link.
pub(crate) fn form_encode(value: &str) -> impl Iterator<Item = char> + '_ {
    value.bytes().flat_map(|b| {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        let chars: Vec<char> = if plain {
            vec![char::from(b)]
        } else {
            format!("%{b:02X}").chars().collect()
        };
        chars
    })
}

/// The `From` header of `address` with the display name `name` (none when empty): quoted, and
/// as an RFC 2047 encoded word when it is not ASCII (SES requires it).
pub(crate) fn from_header(name: &str, address: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        return address.to_owned();
    }
    if name.is_ascii() {
        return format!("\"{}\" <{address}>", name.replace('\\', "\\\\"));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
    format!("=?UTF-8?B?{encoded}?= <{address}>")
}
