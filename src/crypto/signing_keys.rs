//! The JWT signing keys: Ed25519, each named by its RFC 7638 thumbprint, published as a JWKS.

use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{self as crypto, CryptoError};

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM is not a PKCS#8 Ed25519 private key.
    #[error("not a PKCS#8 Ed25519 private key (make one with `latchkey keygen`)")]
    NotEd25519,
    /// Randomness failed while generating a key.
    #[error(transparent)]
    Random(#[from] CryptoError),
}

/// One Ed25519 key pair, ready to sign and verify.
pub struct SigningKey {
    kid: String,
    x: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::NotEd25519)?;
        Self::from_dalek(&key)
    }

    /// A new random key, for development and `latchkey keygen`.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_dalek(&ed25519_dalek::SigningKey::from_bytes(&crypto::random_bytes::<32>()?))
    }

    /// A new random key as PKCS#8 PEM text.
    pub fn generate_pem() -> Result<String, KeyError> {
        let key = ed25519_dalek::SigningKey::from_bytes(&crypto::random_bytes::<32>()?);
        let pem =
            key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).map_err(|_| KeyError::NotEd25519)?;
        Ok(pem.to_string())
    }

    fn from_dalek(key: &ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        let der = key.to_pkcs8_der().map_err(|_| KeyError::NotEd25519)?;
        let x = crypto::b64(key.verifying_key().as_bytes());
        let decoding = DecodingKey::from_ed_components(&x).map_err(|_| KeyError::NotEd25519)?;
        Ok(Self { kid: okp_thumbprint(&x), x, encoding: EncodingKey::from_ed_der(der.as_bytes()), decoding })
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, for signing.
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public key, for verifying.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk { kty: "OKP", crv: "Ed25519", x: self.x.clone(), kid: self.kid.clone(), alg: "EdDSA", key_use: "sig" }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint of an Ed25519 (OKP) public key given as base64url `x`: SHA-256 over
/// the required members in lexicographic order, with no whitespace.
pub fn okp_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    crypto::b64(&Sha256::digest(canonical.as_bytes()))
}

/// A public key as published in the JWKS.
#[derive(Debug, Clone, Serialize)]
pub struct PublicJwk {
    kty: &'static str,
    crv: &'static str,
    x: String,
    kid: String,
    alg: &'static str,
    #[serde(rename = "use")]
    key_use: &'static str,
}

/// The service's keys: the first signs, all verify (so keys can be rotated).
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// A key set; `None` when `keys` is empty.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The key new tokens are signed with.
    pub fn signing(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// The key with this id, if it is one of ours.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| crypto::constant_time_eq(k.kid.as_bytes(), kid.as_bytes()))
    }

    /// The JWKS document (`{"keys": […]}`).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.1–A.3: the Ed25519 example key and its RFC 7638 thumbprint.
    const RFC8037_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

    #[test]
    fn rfc8037_thumbprint_known_answer() {
        assert_eq!(
            okp_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn pem_key_gets_its_thumbprint_as_kid() {
        let key = SigningKey::from_pem(RFC8037_PEM).unwrap();
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(key.public_jwk().x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    }

    #[test]
    fn generated_pem_loads_back() {
        let pem = SigningKey::generate_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        SigningKey::from_pem(&pem).unwrap();
    }

    #[test]
    fn other_pem_is_refused() {
        assert!(SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        assert!(SigningKey::from_pem("hello").is_err());
    }
}
