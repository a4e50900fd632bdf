//! Access tokens: JWTs signed with EdDSA (Ed25519), 15 minutes.
//!
//! Claims: `sub` (user id), `roles`, `sid` (session), `iat`, `nbf`, `exp`, `iss`, `aud`, `jti`;
//! header `kid`. Verification pins the algorithm to EdDSA (so `alg: none` and HMAC tokens signed
//! with a public key are rejected), picks the key by `kid`, and checks `iss`, `aud`, `exp` and
//! `nbf` with a small leeway.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::ACCESS_TOKEN_TTL_SECS;
use super::Role;
use super::keys::{SigningKey, VerifyingKeys};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<Role>,
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// How the user signed in (RFC 8176): `pwd`, and `otp` after a second factor.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// Who issues tokens and for whom (`JWT_ISSUER`, `JWT_AUDIENCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
}

/// Why a token was refused. Deliberately coarse: the client learns only "invalid" or "expired".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

/// Signs an access token for `sub` in session `sid`, issued at `now` (epoch seconds).
pub fn mint(
    key: &SigningKey,
    settings: &TokenSettings,
    sub: &str,
    roles: &[Role],
    sid: &str,
    now: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    mint_with(key, settings, sub, roles, sid, &["pwd"], now)
}

/// Mints an access token whose `amr` says how its session signed in.
pub fn mint_with(
    key: &SigningKey,
    settings: &TokenSettings,
    sub: &str,
    roles: &[Role],
    sid: &str,
    amr: &[&str],
    now: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    super::crypto::install();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid().to_owned());
    let claims = Claims {
        sub: sub.to_owned(),
        roles: roles.to_vec(),
        sid: sid.to_owned(),
        iat: now,
        nbf: now,
        exp: now + ACCESS_TOKEN_TTL_SECS,
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        jti: crate::ids::new_id(),
        amr: amr.iter().map(|&m| m.to_owned()).collect(),
    };
    jsonwebtoken::encode(&header, &claims, key.encoding_key())
}

/// Verifies an access token.
pub fn verify(
    keys: &VerifyingKeys,
    settings: &TokenSettings,
    token: &str,
) -> Result<Claims, TokenError> {
    super::crypto::install();
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::EdDSA {
        return Err(TokenError::Invalid);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or(TokenError::Invalid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeySet;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "ferrite".into(),
            audience: "ferrite-api".into(),
        }
    }

    fn now() -> i64 {
        crate::clock::Clock::System.unix_seconds()
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let set = KeySet::generate().expect("keys");
        let key = set.signing_key().expect("key");
        let keys = VerifyingKeys::parse(&set.public_keys().expect("public")).expect("keys");
        let token = mint(&key, &settings(), "user-1", &[Role::User], "sid-1", now()).expect("mint");
        let claims = verify(&keys, &settings(), &token).expect("valid");
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("user-1", "sid-1")
        );
        assert_eq!(claims.roles, [Role::User]);
        assert_eq!(claims.exp - claims.iat, ACCESS_TOKEN_TTL_SECS);
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_rejected() {
        let set = KeySet::generate().expect("keys");
        let key = set.signing_key().expect("key");
        let keys = VerifyingKeys::parse(&set.public_keys().expect("public")).expect("keys");
        let good = mint(&key, &settings(), "u", &[Role::User], "s", now()).expect("mint");
        let (head, rest) = good.split_once('.').expect("jwt");
        let (payload, signature) = rest.split_once('.').expect("jwt");

        // alg: none
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            verify(&keys, &settings(), &format!("{none_header}.{payload}.")),
            Err(TokenError::Invalid)
        );
        // Tampered payload: an admin role added.
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
        let mut forged = claims.clone();
        forged["roles"] = serde_json::json!(["ADMIN"]);
        let forged_payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(
            verify(
                &keys,
                &settings(),
                &format!("{head}.{forged_payload}.{signature}")
            ),
            Err(TokenError::Invalid)
        );
        // Expired (beyond the leeway).
        let old = mint(
            &key,
            &settings(),
            "u",
            &[],
            "s",
            now() - ACCESS_TOKEN_TTL_SECS - 120,
        )
        .expect("mint");
        assert_eq!(verify(&keys, &settings(), &old), Err(TokenError::Expired));
        // Not yet valid.
        let future = mint(&key, &settings(), "u", &[], "s", now() + 3600).expect("mint");
        assert_eq!(
            verify(&keys, &settings(), &future),
            Err(TokenError::Invalid)
        );
        // Wrong issuer / audience.
        let other = TokenSettings {
            issuer: "someone-else".into(),
            audience: "ferrite-api".into(),
        };
        let token = mint(&key, &other, "u", &[], "s", now()).expect("mint");
        assert_eq!(verify(&keys, &settings(), &token), Err(TokenError::Invalid));
        let other = TokenSettings {
            issuer: "ferrite".into(),
            audience: "another-api".into(),
        };
        let token = mint(&key, &other, "u", &[], "s", now()).expect("mint");
        assert_eq!(verify(&keys, &settings(), &token), Err(TokenError::Invalid));
        // Signed by a key we do not know (unknown kid).
        let stranger = KeySet::generate()
            .expect("keys")
            .signing_key()
            .expect("key");
        let token = mint(&stranger, &settings(), "u", &[], "s", now()).expect("mint");
        assert_eq!(verify(&keys, &settings(), &token), Err(TokenError::Invalid));
        // Garbage.
        for junk in ["", "a.b.c", "not a token", &format!("{head}.{payload}")] {
            assert_eq!(
                verify(&keys, &settings(), junk),
                Err(TokenError::Invalid),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn an_hmac_token_signed_with_the_public_key_is_rejected() {
        let set = KeySet::generate().expect("keys");
        let key = set.signing_key().expect("key");
        let keys = VerifyingKeys::parse(&set.public_keys().expect("public")).expect("keys");
        let x = key
            .public_entry()
            .split_once('=')
            .map(|(_, x)| x.to_owned())
            .expect("x");
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        let claims = Claims {
            sub: "u".into(),
            roles: vec![Role::Admin],
            sid: "s".into(),
            iat: now(),
            nbf: now(),
            exp: now() + 600,
            iss: "ferrite".into(),
            aud: "ferrite-api".into(),
            jti: "j".into(),
            amr: vec![],
        };
        // Signed by hand: Ferrite's crypto provider refuses to produce HS256 at all.
        let b64 = |bytes: &[u8]| {
            use base64::Engine as _;
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header).expect("header")),
            b64(&serde_json::to_vec(&claims).expect("claims"))
        );
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(x.as_bytes())
            .expect("any key length");
        hmac::Mac::update(&mut mac, input.as_bytes());
        let token = format!("{input}.{}", b64(&hmac::Mac::finalize(mac).into_bytes()));
        assert_eq!(verify(&keys, &settings(), &token), Err(TokenError::Invalid));
    }
}
