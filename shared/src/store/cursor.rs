//! Opaque, tamper-evident page cursors.
//!
//! A cursor is `base64url(json of the last key) "." base64url(HMAC-SHA256(scope ‖ 0 ‖ json))`.
//! The `scope` names the query the cursor belongs to (index and partition), so a cursor from
//! one listing cannot be replayed against another; any change to either half fails the MAC and
//! the request is answered 400, never 500.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;
use crate::secrets::Key;

use super::StoreError;

type HmacSha256 = Hmac<Sha256>;

/// Longest cursor accepted (keys are short; anything longer is not ours).
const MAX_CURSOR_LEN: usize = 2048;

/// A cursor that is not one we issued for this query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct CursorError;

/// A function without the cursor key was asked for a cursor: a deployment mistake (only the
/// functions that paginate read the key, `CURSOR_SECRET_ID`), answered 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this function has no cursor key (CURSOR_SECRET_ID: only the functions that paginate read it)"
)]
pub struct NoCursorKey;

/// Signs and checks cursors with the deployment's cursor key (`None`: a function that does
/// not paginate).
#[derive(Clone)]
pub struct CursorCodec {
    key: Option<Key<Secret>>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec")
    }
}

impl CursorCodec {
    /// A codec with the key given (`CURSOR_SECRET`, tests and tools).
    pub fn new(secret: Secret) -> Self {
        Self::with_key(Key::Given(secret))
    }

    /// A codec with `key`: given (`CURSOR_SECRET`, tests and tools) or read from Secrets
    /// Manager when a cursor is first issued or checked (`CURSOR_SECRET_ID`).
    pub fn with_key(key: Key<Secret>) -> Self {
        Self { key: Some(key) }
    }

    /// A codec of a function that does not paginate: every use is [`NoCursorKey`].
    pub fn unkeyed() -> Self {
        Self { key: None }
    }

    /// Starts reading a key that is read on first use (see [`crate::secrets`]).
    pub fn start(&self) {
        if let Some(key) = &self.key {
            key.start();
        }
    }

    /// The key, read now if it is read on first use.
    async fn key(&self) -> Result<&Secret, StoreError> {
        let key = self.key.as_ref().ok_or(NoCursorKey)?;
        Ok(key.get().await?)
    }

    fn mac(secret: &Secret, scope: &str, payload: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = HmacSha256::new_from_slice(secret.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// Encodes a key whose attributes are all strings (every key attribute of the table is).
    pub async fn encode(
        &self,
        scope: &str,
        key: &HashMap<String, AttributeValue>,
    ) -> Result<String, StoreError> {
        Ok(seal(self.key().await?, scope, key))
    }

    /// Checks and decodes a cursor issued by [`encode`](Self::encode) for the same `scope`:
    /// [`CursorError`] for any other, [`NoCursorKey`] in a function without the key.
    pub async fn decode(
        &self,
        scope: &str,
        cursor: &str,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        Ok(open(self.key().await?, scope, cursor)?)
    }
}

fn seal(secret: &Secret, scope: &str, key: &HashMap<String, AttributeValue>) -> String {
    let plain: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(name, value)| value.as_s().ok().map(|s| (name.as_str(), s.as_str())))
        .collect();
    let payload = serde_json::to_vec(&plain).unwrap_or_default();
    let tag = CursorCodec::mac(secret, scope, &payload)
        .finalize()
        .into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

fn open(
    secret: &Secret,
    scope: &str,
    cursor: &str,
) -> Result<HashMap<String, AttributeValue>, CursorError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(CursorError);
    }
    let (payload, tag) = cursor.split_once('.').ok_or(CursorError)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| CursorError)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| CursorError)?;
    CursorCodec::mac(secret, scope, &payload)
        .verify_slice(&tag)
        .map_err(|_| CursorError)?;
    let plain: BTreeMap<String, String> =
        serde_json::from_slice(&payload).map_err(|_| CursorError)?;
    Ok(plain
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S("USER#1".into())),
            ("sk".to_owned(), AttributeValue::S("PROFILE".into())),
        ])
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_codec_without_its_key_issues_and_accepts_no_cursor() {
        let codec = CursorCodec::new(secret());
        let cursor = codec.encode("s", &key()).await.expect("keyed");
        assert_eq!(codec.decode("s", &cursor).await.expect("keyed"), key());
        let unkeyed = CursorCodec::unkeyed();
        assert!(matches!(
            unkeyed.encode("s", &key()).await,
            Err(StoreError::NoCursorKey(NoCursorKey))
        ));
        assert!(matches!(
            unkeyed.decode("s", &cursor).await,
            Err(StoreError::NoCursorKey(NoCursorKey))
        ));
        assert!(matches!(
            codec.decode("s", "garbage").await,
            Err(StoreError::Cursor(CursorError))
        ));
    }

    #[test]
    fn a_cursor_round_trips_within_its_scope() {
        let cursor = seal(&secret(), "table|USERS", &key());
        assert_eq!(open(&secret(), "table|USERS", &cursor), Ok(key()));
    }

    #[test]
    fn a_cursor_is_rejected_in_another_scope_or_with_another_secret() {
        let cursor = seal(&secret(), "table|USERS", &key());
        assert_eq!(open(&secret(), "gsi1|USERS", &cursor), Err(CursorError));
        let other = Secret::new(b"another secret of at least 32 bytes".to_vec());
        assert_eq!(open(&other, "table|USERS", &cursor), Err(CursorError));
    }

    #[test]
    fn a_tampered_or_garbled_cursor_is_rejected() {
        let cursor = seal(&secret(), "s", &key());
        let (payload, tag) = cursor.split_once('.').expect("two parts");
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"pk":"USER#2","sk":"PROFILE"}"#);
        let mut flipped = tag.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        let too_long = "a".repeat(MAX_CURSOR_LEN + 1);
        for bad in [
            "",
            "garbage",
            "a.b.c",
            "!!!.???",
            &format!("{forged_payload}.{tag}"),
            &format!("{payload}.{flipped}"),
            &format!("{payload}."),
            &too_long,
        ] {
            assert_eq!(open(&secret(), "s", bad), Err(CursorError), "{bad:?}");
        }
    }
}
