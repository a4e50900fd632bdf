//! The cryptography behind tokens and keys, on `ring` — the same library rustls uses for the
//! AWS clients' TLS, so one crypto library sits in every binary.
//!
//! `jsonwebtoken` ships two providers (`aws-lc-rs`, `RustCrypto`) that each bring every JWT
//! algorithm along. Ferrite signs with exactly one, EdDSA, and its own tokens are verified as
//! EdDSA only. The provider it installs signs Ed25519 and nothing else, and verifies three
//! algorithms, each only with a key of its own family: EdDSA (Ferrite's tokens), and RS256 and
//! ES256 (P-256) — what OIDC providers sign ID tokens with. A token whose `alg` does
//! not match its key's type (an RSA key named in an `HS256` or `ES256` header, an Ed25519 key
//! in an `RS256` one) cannot be verified at all; HMAC and `none` never can.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
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
    match (algorithm, key.family(), key.kind()) {
        (Algorithm::EdDSA, AlgorithmFamily::Ed, DecodingKeyKind::SecretOrDer(public)) => {
            Ok(Box::new(Verifier {
                algorithm: Algorithm::EdDSA,
                scheme: &signature::ED25519,
                public: public.clone(),
            }))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            // The uncompressed point (0x04 ‖ x ‖ y) of a JWK's `x` and `y`; JWS signatures are
            // the fixed-size r ‖ s.
            Ok(Box::new(Verifier {
                algorithm: Algorithm::ES256,
                scheme: &signature::ECDSA_P256_SHA256_FIXED,
                public: point.clone(),
            }))
        }
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Ok(Box::new(RsaVerifier {
                n: n.clone(),
                e: e.clone(),
            }))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
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

/// Verifies with a public key in the form `ring` takes for `scheme` (Ed25519, P-256).
struct Verifier {
    algorithm: Algorithm,
    scheme: &'static dyn signature::VerificationAlgorithm,
    public: Vec<u8>,
}

impl ::signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), ::signature::Error> {
        signature::UnparsedPublicKey::new(self.scheme, &self.public)
            .verify(msg, sig)
            .map_err(|_| ::signature::Error::new())
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// RS256 with an RSA public key of 2048 to 8192 bits (a JWK's `n` and `e`).
struct RsaVerifier {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl ::signature::Verifier<Vec<u8>> for RsaVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), ::signature::Error> {
        signature::RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .map_err(|_| ::signature::Error::new())
    }
}

impl JwtVerifier for RsaVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
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
    fn the_provider_signs_only_eddsa_and_verifies_an_algorithm_only_with_a_key_of_its_family() {
        let key = EncodingKey::from_secret(b"public key used as an HMAC secret");
        for alg in [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256] {
            assert!(signer(&alg, &key).is_err(), "{alg:?}");
        }
        let secret = DecodingKey::from_secret(b"k");
        let rsa = DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]);
        let ec = DecodingKey::from_ec_components(
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        )
        .expect("a P-256 point");
        let ed = DecodingKey::from_ed_der(&[7; 32]);
        let allowed = [
            (Algorithm::EdDSA, &ed),
            (Algorithm::RS256, &rsa),
            (Algorithm::ES256, &ec),
        ];
        for alg in [
            Algorithm::HS256,
            Algorithm::HS512,
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
        ] {
            for key in [&secret, &rsa, &ec, &ed] {
                let fits = allowed
                    .iter()
                    .any(|(a, k)| *a == alg && std::ptr::eq(*k, key));
                assert_eq!(verifier(&alg, key).is_ok(), fits, "{alg:?}");
            }
        }
    }
}
