//! jsonwebtoken's RustCrypto back end, with Ed25519 keys kept parsed.
//!
//! jsonwebtoken makes a signer or verifier for every token from the key's bytes. For Ed25519
//! that means parsing the PKCS#8 document and deriving the public key (a scalar
//! multiplication, about as dear as the signature itself) for every token signed, and
//! decompressing the public key for every token verified. This provider keeps both, per key,
//! once made; every other algorithm goes to the RustCrypto provider unchanged. It is installed
//! as jsonwebtoken's process-wide provider when the first signing key is made.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};

use ed25519_dalek::Signature;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

/// Keys kept at most per kind; a full table is emptied (a deployment has a handful of keys).
const CAPACITY: usize = 16;

/// Parsed keys by 32 bytes that name them.
type Table<K> = LazyLock<Mutex<HashMap<[u8; 32], K>>>;

/// Signing keys by the SHA-256 of their PKCS#8 document (the table holds no second copy of it).
static SIGNING_KEYS: Table<ed25519_dalek::SigningKey> = LazyLock::new(Mutex::default);

/// Verifying keys by their 32 bytes.
static VERIFYING_KEYS: Table<ed25519_dalek::VerifyingKey> = LazyLock::new(Mutex::default);

/// Looks `id` up in `table`, or makes the value and keeps it.
fn kept<K: Clone>(table: &Mutex<HashMap<[u8; 32], K>>, id: [u8; 32], make: impl FnOnce() -> Result<K>) -> Result<K> {
    // Nothing panics while the lock is held; a poisoned table is still a table of keys.
    if let Some(key) = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id) {
        return Ok(key.clone());
    }
    let key = make()?;
    let mut table = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if table.len() >= CAPACITY {
        table.clear();
    }
    table.insert(id, key.clone());
    Ok(key)
}

struct Ed25519Signer(ed25519_dalek::SigningKey);

impl signature::Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct Ed25519Verifier(ed25519_dalek::VerifyingKey);

impl signature::Verifier<Vec<u8>> for Ed25519Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.0.verify(msg, &Signature::from_slice(signature)?)
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let rust_crypto = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    // A key of another family goes there too, and is refused there as it always was.
    if *alg != Algorithm::EdDSA || key.family() != jsonwebtoken::AlgorithmFamily::Ed {
        return (rust_crypto.signer_factory)(alg, key);
    }
    let der = key.as_bytes();
    let id = Sha256::digest(der).into();
    let parsed = kept(&SIGNING_KEYS, id, || {
        ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|_| ErrorKind::InvalidEddsaKey.into())
    })?;
    Ok(Box::new(Ed25519Signer(parsed)))
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let rust_crypto = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    if *alg != Algorithm::EdDSA || key.family() != jsonwebtoken::AlgorithmFamily::Ed {
        return (rust_crypto.verifier_factory)(alg, key);
    }
    let bytes: [u8; 32] =
        key.try_get_as_bytes()?.get(..32).and_then(|b| b.try_into().ok()).ok_or(ErrorKind::InvalidEddsaKey)?;
    let parsed = kept(&VERIFYING_KEYS, bytes, || {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ErrorKind::InvalidEddsaKey.into())
    })?;
    Ok(Box::new(Ed25519Verifier(parsed)))
}

fn provider() -> &'static CryptoProvider {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: new_signer,
        verifier_factory: new_verifier,
        key_utils: jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.key_utils.clone(),
    })
}

/// Installs the provider as jsonwebtoken's, once per process. Should something have used
/// jsonwebtoken's default before, that default stays: slower, the same answers.
pub fn install() {
    let _ = provider().install_default();
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::Verifier;
    use jsonwebtoken::{Algorithm, Header, Validation};

    use super::super::signing_keys::SigningKey;

    /// Checks `token`'s signature with ed25519-dalek alone, against `public`.
    fn signed_by(token: &str, public: &ed25519_dalek::VerifyingKey) -> bool {
        let (message, signature) = token.rsplit_once('.').unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        public.verify(message.as_bytes(), &signature).is_ok()
    }

    fn public_of(key: &SigningKey) -> ed25519_dalek::VerifyingKey {
        let bytes: [u8; 32] = key.decoding().try_get_as_bytes().unwrap()[..32].try_into().unwrap();
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn each_key_signs_and_verifies_as_itself_however_often_it_is_used() {
        let (a, b) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let claims = serde_json::json!({ "sub": "u" });
        // Alternating keys, twice each: a kept key must never stand in for the other.
        for key in [&a, &b, &a, &b] {
            let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, key.encoding()).unwrap();
            let other = if std::ptr::eq(key, &a) { &b } else { &a };
            assert!(signed_by(&token, &public_of(key)), "not signed by its own key");
            assert!(!signed_by(&token, &public_of(other)), "signed by the other key");
            assert!(jsonwebtoken::decode::<serde_json::Value>(&token, key.decoding(), &validation).is_ok());
            let refused = jsonwebtoken::decode::<serde_json::Value>(&token, other.decoding(), &validation);
            assert!(refused.is_err(), "verified under the other key");
        }
    }

    #[test]
    fn making_a_key_installs_the_provider() {
        SigningKey::generate().unwrap();
        let installed = super::provider().install_default().expect_err("installed once already");
        assert!(std::ptr::eq(installed, super::provider()), "jsonwebtoken uses another provider");
    }

    #[test]
    fn other_algorithms_and_mismatched_keys_keep_their_answers() {
        let (ed, rsa) = (SigningKey::generate().unwrap(), SigningKey::generate_rsa().unwrap());
        let claims = serde_json::json!({ "sub": "u" });
        let rs256 = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, rsa.encoding()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<serde_json::Value>(&rs256, rsa.decoding(), &validation).is_ok());
        // An RSA key asked to sign or verify EdDSA, and an Ed25519 key asked for RS256: refused
        // (through the provider: `encode` and `decode` would refuse before it).
        assert!(jsonwebtoken::crypto::sign(b"m", rsa.encoding(), Algorithm::EdDSA).is_err());
        assert!(jsonwebtoken::crypto::sign(b"m", ed.encoding(), Algorithm::RS256).is_err());
        let signature = jsonwebtoken::crypto::sign(b"m", ed.encoding(), Algorithm::EdDSA).unwrap();
        assert!(jsonwebtoken::crypto::verify(&signature, b"m", ed.decoding(), Algorithm::EdDSA).unwrap());
        assert!(!jsonwebtoken::crypto::verify(&signature, b"n", ed.decoding(), Algorithm::EdDSA).unwrap());
        assert!(jsonwebtoken::crypto::verify(&signature, b"m", rsa.decoding(), Algorithm::EdDSA).is_err());
        assert!(jsonwebtoken::crypto::verify(&signature, b"m", ed.decoding(), Algorithm::RS256).is_err());
    }
}
