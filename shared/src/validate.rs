//! Input validation: domain newtypes with fallible constructors ("parse, don't validate"),
//! applied at the wire.
//!
//! **The one convention.** A request body is a struct deriving `eserde::Deserialize` (with
//! `deny_unknown_fields`) whose fields are domain types: [`Email`], [`DisplayName`],
//! [`Password`], a post's `Title`, a property's `FileNumber`… Each such type implements
//! [`RequestValue`] — what JSON carries, the constructor that checks it, and its OpenAPI schema
//! built from the same constants — and [`request_value!`] turns that into its `Deserialize`,
//! `eserde` and `utoipa` implementations. So a body that deserialises is valid, a handler never
//! checks a field again, the document's limits are the rule's, and a body with many problems —
//! missing fields, wrong types, invalid values, at every depth — is answered with one 422 that
//! lists them all ([`crate::http::json_body`]). Rules between fields (an end after a start, a
//! password built from the name) are the domain's, checked after.

use std::fmt;

use email_address::{EmailAddress, Options};
use serde::Serialize;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::error::{ApiError, FieldError};

/// A domain type a request field is read as (see the module's convention).
pub trait RequestValue: Sized {
    /// What JSON carries: a string, a number, a list.
    type Raw;
    /// The checked value, or why the raw one is not one.
    fn from_raw(raw: Self::Raw) -> Result<Self, Invalid>;
    /// The OpenAPI schema, from the constants [`Self::from_raw`] checks against.
    fn schema() -> Schema;
}

/// `Deserialize` (the raw value, then [`RequestValue::from_raw`]: an invalid value is a
/// deserialisation error at its path), `eserde`'s error pass and `utoipa`'s schema of each type.
macro_rules! request_value {
    ($($ty:ty),+ $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <<$ty as $crate::validate::RequestValue>::Raw as serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                <$ty as $crate::validate::RequestValue>::from_raw(raw)
                    .map_err(|invalid| <D::Error as serde::de::Error>::custom(invalid.0))
            }
        }
        eserde::impl_edeserialize_compat!($ty);
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$ty as $crate::validate::RequestValue>::schema().into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    )+};
}
pub(crate) use request_value;

/// The schema of text of `min..=max` characters (`min` 0: no lower bound).
pub fn text_schema(min: usize, max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .description(Some(description))
}

/// `display_name` → `displayName`, `items[0].tag_name` → `items[0].tagName`: eserde reports Rust
/// field names, clients know the camelCase JSON names.
pub fn camel_case_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper_next = false;
    for c in path.chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a value is not a valid instance of a domain type (the message shown to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

impl Invalid {
    /// This problem as the 422 of one request field.
    pub fn at(self, field: &str) -> ApiError {
        ApiError::Validation {
            errors: vec![FieldError::new(field, self.0)],
        }
    }
}

/// Longest email address SMTP can carry (RFC 5321 path limit minus the angle brackets).
pub const EMAIL_MAX_LEN: usize = 254;

/// An email address in its canonical form, so one mailbox has one spelling in the table and
/// in every lookup (sign-in, reset, throttles): trimmed, lower-cased, the domain mapped to ASCII
/// by UTS-46 (a full-width or otherwise look-alike spelling of a domain is that domain), and
/// no quoted local part (`"ada"@example.com` is the same mailbox as `ada@example.com` under
/// RFC 5321; such addresses are refused rather than given a second account).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        let (local, domain) = trimmed
            .rsplit_once('@')
            .ok_or(Invalid("must be a valid email address"))?;
        if local.contains('"') || local.contains('\\') {
            return Err(Invalid("must not have a quoted local part"));
        }
        let domain =
            idna::domain_to_ascii(domain).map_err(|_| Invalid("must be a valid email address"))?;
        let normalised = format!("{local}@{domain}").to_lowercase();
        if normalised.len() > EMAIL_MAX_LEN {
            return Err(Invalid("must be at most 254 characters"));
        }
        let options = Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        EmailAddress::parse_with_options(&normalised, options)
            .map_err(|_| Invalid("must be a valid email address"))?;
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Invalid> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RequestValue for Email {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
    fn schema() -> Schema {
        text_schema(1, EMAIL_MAX_LEN, "An email address (trimmed, lower-cased).")
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .examples(["ada@example.com"])
            .into()
    }
}

/// What a sign-in names as its address: any text up to [`SIGN_IN_EMAIL_MAX_LEN`] characters —
/// an unknown or malformed address must answer like a wrong password, so it is not checked.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInEmail(String);

/// The longest address a sign-in may name (longer than any real one).
pub const SIGN_IN_EMAIL_MAX_LEN: usize = 320;

impl SignInEmail {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestValue for SignInEmail {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if raw.chars().count() > SIGN_IN_EMAIL_MAX_LEN {
            return Err(Invalid("must be at most 320 characters"));
        }
        Ok(Self(raw))
    }
    fn schema() -> Schema {
        text_schema(0, SIGN_IN_EMAIL_MAX_LEN, "The account's email address.")
            .examples(["ada@example.com"])
            .into()
    }
}

impl fmt::Debug for SignInEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInEmail([redacted])")
    }
}

impl fmt::Debug for Email {
    // Addresses are personal data: logs get the domain only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map_or("?", |(_, d)| d);
        write!(f, "Email(***@{domain})")
    }
}

/// Password length bounds, in characters (not bytes: a passphrase may be in any script).
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A candidate password. `Debug` and `Display` never show it; it is not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(Invalid("must be at least 8 characters"));
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(Invalid("must be at most 128 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plain text, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl RequestValue for Password {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
    fn schema() -> Schema {
        text_schema(
            PASSWORD_MIN_CHARS,
            PASSWORD_MAX_CHARS,
            "A new password, in characters; a weak one (zxcvbn score < 3, or built from the \
             account's name or address) is refused with 422.",
        )
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .into()
    }
}

/// A password given to prove who one is (the current one): 1–128 characters, not checked for
/// strength. Never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct GivenPassword(String);

impl GivenPassword {
    /// The plain text, for verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for GivenPassword {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        match raw.chars().count() {
            0 => Err(Invalid("must not be empty")),
            n if n > PASSWORD_MAX_CHARS => Err(Invalid("must be at most 128 characters")),
            _ => Ok(Self(raw)),
        }
    }
    fn schema() -> Schema {
        text_schema(1, PASSWORD_MAX_CHARS, "The account's current password.")
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .into()
    }
}

impl fmt::Debug for GivenPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GivenPassword([redacted])")
    }
}

/// What a sign-in gives as its password: up to 128 characters, any of them (an empty or wrong
/// one answers like a wrong password). Never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInPassword(String);

impl SignInPassword {
    /// The plain text, for verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for SignInPassword {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if raw.chars().count() > PASSWORD_MAX_CHARS {
            return Err(Invalid("must be at most 128 characters"));
        }
        Ok(Self(raw))
    }
    fn schema() -> Schema {
        text_schema(0, PASSWORD_MAX_CHARS, "The account's password.")
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .into()
    }
}

impl fmt::Debug for SignInPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInPassword([redacted])")
    }
}

/// The longest token a request may carry (link and refresh tokens are 43 characters).
pub const TOKEN_MAX_LEN: usize = 256;

/// A token a client hands back (an email link's, a refresh token): 1–256 characters, checked
/// against the table, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for Token {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        match raw.len() {
            0 => Err(Invalid("must not be empty")),
            n if n > TOKEN_MAX_LEN => Err(Invalid("must be at most 256 characters")),
            _ => Ok(Self(raw)),
        }
    }
    fn schema() -> Schema {
        text_schema(1, TOKEN_MAX_LEN, "A token this API issued.").into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The most characters of a display name.
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;

/// A person's display name: 1–100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct DisplayName(String);

/// Characters that render as nothing (zero-width spaces and joiners, word joiners, the BOM,
/// variation selectors, Hangul fillers, the soft hyphen): a name made only of these looks empty.
/// Inside a name they are fine — ZWJ builds emoji sequences, ZWNJ is needed in Persian.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
];

/// Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder what follows them:
/// in a name shown to others they are a spoofing tool ("Trojan Source"), never needed.
const BIDI_CONTROLS: &[(char, char)] = &[('\u{202A}', '\u{202E}'), ('\u{2066}', '\u{2069}')];

/// Control characters (Unicode `Cc`, what `char::is_control` means).
const CONTROLS: &[(char, char)] = &[('\u{0000}', '\u{001F}'), ('\u{007F}', '\u{009F}')];

/// The controls a text of many lines may hold.
const LINE_BREAKS_AND_TABS: [char; 3] = ['\n', '\r', '\t'];

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

fn is_invisible(c: char) -> bool {
    in_ranges(INVISIBLE, c)
}

fn is_bidi_control(c: char) -> bool {
    in_ranges(BIDI_CONTROLS, c)
}

/// `ranges` as the inside of a regular-expression class (`\u0000-\u001f…`).
fn class(ranges: &[(char, char)]) -> String {
    ranges
        .iter()
        .map(|(from, to)| {
            let (from, to) = (u32::from(*from), u32::from(*to));
            if from == to {
                format!("\\u{from:04x}")
            } else {
                format!("\\u{from:04x}-\\u{to:04x}")
            }
        })
        .collect()
}

/// The pattern (ECMA-262, as OpenAPI reads it) of [`visible_line`]: no control characters or
/// bidirectional controls anywhere, and one character that is neither blank nor invisible. Built
/// from the same ranges as the rule; the length is the schema's `maxLength`.
pub fn visible_line_pattern() -> String {
    let banned = format!("{}{}", class(CONTROLS), class(BIDI_CONTROLS));
    format!(
        "^[^{banned}]*[^\\s{banned}{}][^{banned}]*$",
        class(INVISIBLE)
    )
}

/// The pattern of [`visible_text`]: no control characters but line breaks and tabs, no
/// bidirectional controls.
pub fn visible_text_pattern() -> String {
    let allowed: Vec<(char, char)> = CONTROLS
        .iter()
        .flat_map(|&(from, to)| {
            // The controls, minus the line breaks and tabs, as ranges.
            let mut ranges = Vec::new();
            let mut start = None;
            for c in (u32::from(from)..=u32::from(to)).filter_map(char::from_u32) {
                match (LINE_BREAKS_AND_TABS.contains(&c), start) {
                    (true, Some(s)) => {
                        ranges.push((s, char::from_u32(u32::from(c) - 1).unwrap_or(s)));
                        start = None;
                    }
                    (false, None) => start = Some(c),
                    _ => {}
                }
            }
            ranges.extend(start.map(|s| (s, to)));
            ranges
        })
        .collect();
    format!("^[^{}{}]*$", class(&allowed), class(BIDI_CONTROLS))
}

/// The schema of a line others see ([`visible_line`]): 1–`max` characters with its pattern.
pub fn line_schema(max: usize, description: &str) -> ObjectBuilder {
    text_schema(1, max, description).pattern(Some(visible_line_pattern()))
}

/// The schema of a text of many lines ([`visible_text`]): up to `max` characters.
pub fn lines_schema(max: usize, description: &str) -> ObjectBuilder {
    text_schema(0, max, description).pattern(Some(visible_text_pattern()))
}

/// The one policy for a line of text that other people see (display names, post titles):
/// trimmed, `min..=max` characters, something visible in it, no control characters and no
/// bidirectional overrides.
pub fn visible_line(raw: &str, max_chars: usize) -> Result<&str, Invalid> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .any(|c| !c.is_whitespace() && !is_invisible(c))
    {
        return Err(Invalid("must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(Invalid(match max_chars {
            100 => "must be at most 100 characters",
            200 => "must be at most 200 characters",
            _ => "is too long",
        }));
    }
    if trimmed.chars().any(|c| in_ranges(CONTROLS, c)) {
        return Err(Invalid("must not contain control characters"));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(Invalid("must not contain bidirectional overrides"));
    }
    Ok(trimmed)
}

/// The same policy for text of many lines (a post's body): line breaks and tabs allowed, no
/// other control characters, no bidirectional overrides; it may be empty.
pub fn visible_text(raw: &str, max_chars: usize) -> Result<&str, Invalid> {
    if raw.chars().count() > max_chars {
        return Err(Invalid("is too long"));
    }
    if raw
        .chars()
        .any(|c| in_ranges(CONTROLS, c) && !LINE_BREAKS_AND_TABS.contains(&c))
    {
        return Err(Invalid("must not contain control characters"));
    }
    if raw.chars().any(is_bidi_control) {
        return Err(Invalid("must not contain bidirectional overrides"));
    }
    Ok(raw)
}

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        visible_line(raw, DISPLAY_NAME_MAX_CHARS).map(|name| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestValue for DisplayName {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
    fn schema() -> Schema {
        line_schema(
            DISPLAY_NAME_MAX_CHARS,
            "A name others see: one line of visible characters (trimmed).",
        )
        .examples(["Ada Lovelace"])
        .into()
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> String {
        name.0
    }
}

request_value!(
    Email,
    SignInEmail,
    SignInPassword,
    Password,
    GivenPassword,
    Token,
    DisplayName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn look_alike_domains_are_one_domain_and_quoted_local_parts_are_refused() {
        for same in [
            "ada@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com", // full-width
            "ada@EXAMPLE.com",
            "ada@example\u{3002}com", // an ideographic full stop
        ] {
            assert_eq!(
                Email::parse(same).map(|e| e.to_string()),
                Ok("ada@example.com".to_owned()),
                "{same:?}"
            );
        }
        assert_eq!(
            Email::parse("ada@b\u{fc}cher.example").map(|e| e.to_string()),
            Ok("ada@xn--bcher-kva.example".to_owned())
        );
        for quoted in [
            "\"ada\"@example.com",
            "\"a b\"@example.com",
            "a\\b@example.com",
        ] {
            assert!(Email::parse(quoted).is_err(), "{quoted:?}");
        }
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "ada@",
            "ada@localhost",
            "Ada <ada@example.com>",
            "ada@[127.0.0.1]",
            "ada @example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            Email::parse(&long),
            Err(Invalid("must be at most 254 characters"))
        );
    }

    #[test]
    fn debug_output_hides_the_mailbox() {
        let email = Email::parse("secret.person@example.com").expect("valid");
        let debug = format!("{email:?}");
        assert!(!debug.contains("secret.person"));
        assert!(debug.contains("example.com"));
    }

    #[test]
    fn passwords_are_bounded_in_characters_and_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        // 8 characters but 24 bytes: counts as 8.
        assert!(Password::parse("пароль12").is_ok());
        let password = Password::parse("correct horse battery").expect("valid");
        assert_eq!(format!("{password:?}"), "Password([redacted])");
        assert_eq!(password.expose(), "correct horse battery");
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse("  Ada  ").expect("valid").as_str(),
            "Ada"
        );
        assert!(DisplayName::parse(" ").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("Ada\u{0007}").is_err());
    }

    #[test]
    fn invisible_names_and_bidi_overrides_are_refused_but_joiners_inside_names_are_fine() {
        assert!(DisplayName::parse("\u{200d}\u{200d}").is_err());
        assert!(DisplayName::parse(" \u{feff}\u{200b} ").is_err());
        assert!(DisplayName::parse("Ada\u{202e}ecalevoL").is_err());
        assert!(DisplayName::parse("\u{2067}Ada").is_err());
        // A ZWJ emoji sequence and a Persian name with a ZWNJ.
        assert!(DisplayName::parse("Ada \u{1F469}\u{200D}\u{1F4BB}").is_ok());
        assert!(DisplayName::parse("\u{0645}\u{06CC}\u{200C}\u{0634}\u{0648}\u{062F}").is_ok());
    }

    #[test]
    fn the_text_patterns_spell_the_rules_ranges() {
        assert_eq!(
            visible_text_pattern(),
            "^[^\\u0000-\\u0008\\u000b-\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$"
        );
        let line = visible_line_pattern();
        assert!(
            line.starts_with(
                "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*[^\\s"
            )
        );
        assert!(line.contains("\\u00ad\\u034f\\u115f-\\u1160"), "{line}");
        // The rules agree with `char::is_control` on every character of the ranges' planes.
        let differ: Vec<char> = ('\u{0}'..='\u{FFFF}')
            .filter(|c| in_ranges(CONTROLS, *c) != c.is_control())
            .collect();
        assert!(differ.is_empty(), "{differ:?}");
    }

    #[test]
    fn snake_case_paths_become_camel_case() {
        assert_eq!(camel_case_path("display_name"), "displayName");
        assert_eq!(camel_case_path("items[0].tag_name"), "items[0].tagName");
        assert_eq!(camel_case_path("email"), "email");
    }
}
