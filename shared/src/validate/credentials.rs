//! What accounts are made of: addresses, passwords, tokens and display names, each checked as
//! a request is read (see the module's convention).

use std::fmt;

use email_address::{EmailAddress, Options};
use serde::Serialize;
use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat};

use super::text::{line_schema, visible_line};
use super::{Invalid, RequestValue, request_value, text_schema};

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

/// A code of an authenticator app: six digits.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    pub const PATTERN: &'static str = "^[0-9]{6}$";

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for OtpCode {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw))
        } else {
            Err(Invalid("must be the 6 digits the authenticator app shows"))
        }
    }
    fn schema() -> Schema {
        text_schema(6, 6, "The 6-digit code the authenticator app shows now.")
            .pattern(Some(Self::PATTERN))
            .examples(["492039"])
            .into()
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode([redacted])")
    }
}

/// A recovery code as issued (`abcd-efgh-jkmn-pqrs`); case, spaces and dashes do not matter.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub const MAX_CHARS: usize = 32;

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for RecoveryCode {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        let significant = raw.chars().filter(char::is_ascii_alphanumeric).count();
        if raw.chars().count() > Self::MAX_CHARS {
            Err(Invalid("must be at most 32 characters"))
        } else if significant != 16 {
            Err(Invalid(
                "must be one of the recovery codes as issued (16 letters and digits)",
            ))
        } else {
            Ok(Self(raw))
        }
    }
    fn schema() -> Schema {
        text_schema(
            16,
            Self::MAX_CHARS,
            "A recovery code as issued; each works once.",
        )
        .examples(["k3mf-9tqa-vx2h-c7pe"])
        .into()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

/// The most characters of an ID token a provider issues (Google's and Apple's are 1–2 KB).
pub const ID_TOKEN_MAX_LEN: usize = 8192;

/// An OIDC ID token: a compact JWS (three base64url parts), at most 8 KB; verified
/// against its provider's keys, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken(String);

impl IdToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for IdToken {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        let jws = raw.split('.').count() == 3
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        match raw.len() {
            0 => Err(Invalid("must not be empty")),
            n if n > ID_TOKEN_MAX_LEN => Err(Invalid("must be at most 8192 characters")),
            _ if !jws => Err(Invalid("must be a JWT (three base64url parts)")),
            _ => Ok(Self(raw)),
        }
    }
    fn schema() -> Schema {
        text_schema(1, ID_TOKEN_MAX_LEN, "The provider's ID token (a JWT).").into()
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

/// The fewest and most characters of a sign-in's nonce.
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 256;

/// The nonce a client gave its provider for one sign-in (or whose SHA-256 it gave): 16–256
/// visible ASCII characters — e.g. 128 random bits, base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl RequestValue for Nonce {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&raw.len()) {
            return Err(Invalid("must be 16 to 256 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid("must be visible ASCII characters"));
        }
        Ok(Self(raw))
    }
    fn schema() -> Schema {
        text_schema(
            NONCE_MIN_LEN,
            NONCE_MAX_LEN,
            "The nonce this sign-in gave the provider (or whose SHA-256, hex, it gave).",
        )
        .into()
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce([redacted])")
    }
}

request_value!(
    IdToken,
    Nonce,
    OtpCode,
    RecoveryCode,
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
}
