//! Password hashing (argon2id, OWASP parameters) and strength checks (zxcvbn).
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so the parameters
//! travel with each hash: when [`PARAMS`] change, a successful login reports `rehash` and the
//! caller stores a new hash — parameters upgrade transparently.
//!
//! Logins for unknown accounts verify against a dummy hash with the same parameters, so they
//! cost what a wrong password costs (no account enumeration by timing).

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::validate::{Invalid, Password};

/// OWASP's argon2id recommendation: 19 MiB of memory, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash that could not be computed (the RNG or the hash failed — not the user's fault).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a new password.
pub fn hash(password: &Password) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Correct. `rehash`: the stored hash uses other parameters; store a new one.
    Match {
        rehash: bool,
    },
    Mismatch,
}

/// [`verify`] against an account's stored hash, if it has one: without one (an account that
/// signs in by mailed link) the candidate is a mismatch, after the same work as a check.
pub fn verify_stored(candidate: &str, stored: Option<&str>) -> Check {
    if let Some(stored) = stored {
        return verify(candidate, stored);
    }
    verify_dummy(candidate);
    Check::Mismatch
}

/// Checks `candidate` against a stored PHC string. A malformed hash is a mismatch.
pub fn verify(candidate: &str, stored: &str) -> Check {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Check::Mismatch;
    };
    if argon2()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_err()
    {
        return Check::Mismatch;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == MEMORY_KIB && p.t_cost() == ITERATIONS && p.p_cost() == LANES
        });
    Check::Match { rehash: !current }
}

/// Spends the time of one verification, for accounts that do not exist.
pub fn verify_dummy(candidate: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(b"ferrite dummy password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    // The outcome is irrelevant: only the time spent matters.
    let spent = verify(candidate, dummy);
    debug_assert_eq!(spent, Check::Mismatch);
}

/// What a password must not be built from: the user's name and address, whole, in words and
/// run together (zxcvbn matches user inputs as whole tokens).
pub fn user_inputs(name: &str, email: &str) -> Vec<String> {
    let lower = |s: &str| s.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    let mut inputs = vec![lower(name), lower(email), lower(local)];
    for text in [name, local] {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(lower)
            .collect();
        inputs.push(words.concat());
        inputs.extend(words);
    }
    inputs.sort();
    inputs.dedup();
    inputs.retain(|i| !i.is_empty());
    inputs
}

/// Rejects weak passwords: zxcvbn score below 3 ("safely unguessable"), with the user's own
/// name and email as known inputs.
pub fn check_strength(password: &Password, user_inputs: &[String]) -> Result<(), Invalid> {
    let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
    let entropy = zxcvbn::zxcvbn(password.expose(), &inputs);
    if (entropy.score() as u8) < 3 {
        return Err(Invalid("is too easy to guess: use a longer passphrase"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let password = Password::parse("correct horse battery staple").expect("valid");
        let stored = hash(&password).expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            verify("correct horse battery staple", &stored),
            Check::Match { rehash: false }
        );
        assert_eq!(
            verify("correct horse battery stapler", &stored),
            Check::Mismatch
        );
        assert_eq!(verify("anything", "not a phc string"), Check::Mismatch);
    }

    #[test]
    fn hashes_with_older_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).expect("params"),
        );
        let salt = SaltString::generate(&mut OsRng);
        let old = weak
            .hash_password(b"correct horse battery staple", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(
            verify("correct horse battery staple", &old),
            Check::Match { rehash: true }
        );
    }

    #[test]
    fn weak_passwords_are_rejected_and_user_inputs_count() {
        for weak in ["password123", "qwertyuiop", "aaaaaaaaaaaa", "12345678"] {
            let password = Password::parse(weak).expect("long enough");
            assert!(check_strength(&password, &[]).is_err(), "{weak}");
        }
        let strong = Password::parse("violet anchor drifts north").expect("valid");
        assert!(check_strength(&strong, &[]).is_ok());
        let inputs = user_inputs("Ada Lovelace", "ada.lovelace@example.com");
        for own in ["adalovelace1815", "lovelace.ada", "Ada Lovelace!"] {
            let password = Password::parse(own).expect("valid");
            assert!(check_strength(&password, &inputs).is_err(), "{own}");
        }
    }
}
