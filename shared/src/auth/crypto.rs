//! The cryptography behind tokens and keys, on `ring` — the same library rustls uses for the
//! AWS clients' TLS, so one crypto library sits in every binary.
//!
//! `jsonwebtoken` ships two providers (`aws-lc-rs`, `RustCrypto`) that each bring every JWT
//! algorithm along. Ferrite signs and accepts exactly one, EdDSA, so it installs a provider
//! that knows only Ed25519: any other `alg` cannot even be verified, whatever a token claims.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::rand::SecureRandom as _;
use ring::signature::{self, Ed25519KeyPair};

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes)
}

/// The Ed25519 key pair of a 32-byte seed.
pub fn ed25519_from_seed(seed: &[u8]) -> Result<Ed25519KeyPair, String> {
    Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| e.to_string())
}

/// A PKCS#8 v1 document (RFC 8410) holding an Ed25519 seed: the form `EncodingKey::from_ed_der`
/// takes. The prefix is the fixed DER header for a 32-byte Ed25519 private key.
pub fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

static INSTALL: Once = Once::new();

/// Makes the Ed25519-only provider `jsonwebtoken`'s process default (idempotent).
pub fn install() {
    INSTALL.call_once(|| {
        // Err means a provider is already installed: only this module installs one.
        if PROVIDER.install_default().is_err() {
            tracing::debug!("a jsonwebtoken crypto provider was already installed");
        }
    });
}

#[allow(clippy::trivially_copy_pass_by_ref)] // the signature jsonwebtoken's factory type fixes
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.as_bytes())
        .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    Ok(Box::new(Signer(pair)))
}

#[allow(clippy::trivially_copy_pass_by_ref)] // the signature jsonwebtoken's factory type fixes
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(Verifier(key.try_get_as_bytes()?.to_vec())))
}

struct Signer(Ed25519KeyPair);

impl ::signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, ::signature::Error> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct Verifier(Vec<u8>);

impl ::signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), ::signature::Error> {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(msg, sig)
            .map_err(|_| ::signature::Error::new())
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    #[test]
    fn the_pkcs8_document_holds_the_same_key_as_the_seed() {
        let seed = random_bytes::<32>().expect("randomness");
        let from_seed = ed25519_from_seed(&seed).expect("seed");
        let from_pkcs8 =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&ed25519_pkcs8(&seed)).expect("pkcs8");
        assert_eq!(
            from_seed.public_key().as_ref(),
            from_pkcs8.public_key().as_ref()
        );
    }

    #[test]
    fn the_provider_refuses_every_algorithm_but_eddsa() {
        let key = EncodingKey::from_secret(b"public key used as an HMAC secret");
        for alg in [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256] {
            assert!(signer(&alg, &key).is_err(), "{alg:?}");
            assert!(
                verifier(&alg, &DecodingKey::from_secret(b"k")).is_err(),
                "{alg:?}"
            );
        }
    }
}
