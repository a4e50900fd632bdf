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

//!
//! The newtypes of accounts are in `credentials.rs`; the policy of text that others see (and its
//! pattern in the document) in `text.rs`; each domain keeps its own (a post's `Title`, a
//! property's `FileNumber`).

mod credentials;
mod text;

pub use credentials::{
    DISPLAY_NAME_MAX_CHARS, DisplayName, EMAIL_MAX_LEN, Email, GivenPassword, ID_TOKEN_MAX_LEN,
    IdToken, NONCE_MAX_LEN, NONCE_MIN_LEN, Nonce, OtpCode, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
    Password, RecoveryCode, SIGN_IN_EMAIL_MAX_LEN, SignInEmail, SignInPassword, TOKEN_MAX_LEN,
    Token,
};
pub use text::{
    line_schema, lines_schema, visible_line, visible_line_pattern, visible_text,
    visible_text_pattern,
};

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_paths_become_camel_case() {
        assert_eq!(camel_case_path("display_name"), "displayName");
        assert_eq!(camel_case_path("items[0].tag_name"), "items[0].tagName");
        assert_eq!(camel_case_path("email"), "email");
    }
}
