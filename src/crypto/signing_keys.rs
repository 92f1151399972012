//! The JWT signing keys: Ed25519 (sessions and id_tokens) and RSA (RS256 id_tokens), each
//! named by its RFC 7638 thumbprint, published as a JWKS.

use std::fmt;
use std::sync::OnceLock;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::LineEnding;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{self as crypto, CryptoError};

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3 asks for 2048 or more).
pub const RSA_MIN_BITS: usize = 2048;

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM is neither a PKCS#8 Ed25519 nor a PKCS#8 RSA private key.
    #[error("not a PKCS#8 Ed25519 or RSA private key (make one with `latchkey keygen` or `latchkey keygen --rsa`)")]
    NotAKey,
    /// An RSA key with a modulus under [`RSA_MIN_BITS`].
    #[error("an RSA key of {0} bits is too small (at least {RSA_MIN_BITS}; `latchkey keygen --rsa` makes one)")]
    RsaTooSmall(usize),
    /// Randomness failed while generating a key.
    #[error(transparent)]
    Random(#[from] CryptoError),
}

/// The JWS algorithm a key signs with (and an id_token is signed with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SigningAlg {
    /// Ed25519 (RFC 8037): sessions, and id_tokens unless a client asks otherwise.
    #[default]
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256: id_tokens for clients that ask for it.
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlg {
    /// The JOSE name (`EdDSA`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    /// The same algorithm for jsonwebtoken.
    pub fn jwt(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

/// One key pair, ready to sign and verify.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    jwk: PublicJwk,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`): Ed25519 or RSA.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Self::from_dalek(&key);
        }
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|_| KeyError::NotAKey)?;
        Self::from_rsa(&key)
    }

    /// A new random Ed25519 key, for development.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_dalek(&ed25519_dalek::SigningKey::from_bytes(&crypto::random_bytes::<32>()?))
    }

    /// A new random RSA-2048 key, for development.
    pub fn generate_rsa() -> Result<Self, KeyError> {
        Self::from_rsa(&new_rsa()?)
    }

    /// A new random Ed25519 key as PKCS#8 PEM text (`latchkey keygen`).
    pub fn generate_pem() -> Result<String, KeyError> {
        let key = ed25519_dalek::SigningKey::from_bytes(&crypto::random_bytes::<32>()?);
        let pem =
            key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).map_err(|_| KeyError::NotAKey)?;
        Ok(pem.to_string())
    }

    /// A new random RSA-2048 key as PKCS#8 PEM text (`latchkey keygen --rsa`).
    pub fn generate_rsa_pem() -> Result<String, KeyError> {
        let pem = new_rsa()?.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::NotAKey)?;
        Ok(pem.to_string())
    }

    fn from_dalek(key: &ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        super::parsed_keys::install();
        let der = key.to_pkcs8_der().map_err(|_| KeyError::NotAKey)?;
        let x = crypto::b64(key.verifying_key().as_bytes());
        let decoding = DecodingKey::from_ed_components(&x).map_err(|_| KeyError::NotAKey)?;
        let kid = okp_thumbprint(&x);
        Ok(Self {
            jwk: PublicJwk::Okp { crv: "Ed25519", x, kid: kid.clone(), alg: "EdDSA", key_use: "sig" },
            kid,
            alg: SigningAlg::EdDsa,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding,
        })
    }

    fn from_rsa(key: &rsa::RsaPrivateKey) -> Result<Self, KeyError> {
        super::parsed_keys::install();
        let bits = key.n().bits();
        if bits < RSA_MIN_BITS {
            return Err(KeyError::RsaTooSmall(bits));
        }
        // jsonwebtoken signs with a PKCS#1 DER private key.
        let der = key.to_pkcs1_der().map_err(|_| KeyError::NotAKey)?;
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        let (n, e) = (crypto::b64(&n), crypto::b64(&e));
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|_| KeyError::NotAKey)?;
        let kid = rsa_thumbprint(&n, &e);
        Ok(Self {
            jwk: PublicJwk::Rsa { n, e, kid: kid.clone(), alg: "RS256", key_use: "sig" },
            kid,
            alg: SigningAlg::Rs256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding,
        })
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> SigningAlg {
        self.alg
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
        self.jwk.clone()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn new_rsa() -> Result<rsa::RsaPrivateKey, KeyError> {
    rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_MIN_BITS).map_err(|_| KeyError::Random(CryptoError))
}

/// RFC 7638 thumbprint of an Ed25519 (OKP) public key given as base64url `x`: SHA-256 over
/// the required members in lexicographic order, with no whitespace.
pub fn okp_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    crypto::b64(&Sha256::digest(canonical.as_bytes()))
}

/// RFC 7638 thumbprint of an RSA public key given as base64url `n` and `e` (big-endian, no
/// leading zeros): SHA-256 over `{"e","kty","n"}` in that order, with no whitespace.
pub fn rsa_thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    crypto::b64(&Sha256::digest(canonical.as_bytes()))
}

/// A public key as published in the JWKS.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kty")]
pub enum PublicJwk {
    /// An Ed25519 key (RFC 8037).
    #[serde(rename = "OKP")]
    Okp {
        /// The curve.
        crv: &'static str,
        /// The public key, base64url.
        x: String,
        /// The thumbprint.
        kid: String,
        /// `EdDSA`.
        alg: &'static str,
        /// `sig`.
        #[serde(rename = "use")]
        key_use: &'static str,
    },
    /// An RSA key (RFC 7518 §6.3).
    #[serde(rename = "RSA")]
    Rsa {
        /// The modulus, base64url.
        n: String,
        /// The public exponent, base64url.
        e: String,
        /// The thumbprint.
        kid: String,
        /// `RS256`.
        alg: &'static str,
        /// `sig`.
        #[serde(rename = "use")]
        key_use: &'static str,
    },
}

/// The service's keys, in the order listed. The first Ed25519 key signs sessions and EdDSA
/// id_tokens, the first RSA key signs RS256 id_tokens; all verify (so keys can be rotated).
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    /// Index of the first Ed25519 key (there always is one).
    ed: usize,
    /// Development only: an RSA key made on first use (making one takes about a second, too
    /// long to pay at every start of a development or test instance).
    later_rsa: Option<OnceLock<Option<SigningKey>>>,
}

impl KeySet {
    /// A key set; `None` when `keys` holds no Ed25519 key (sessions need one).
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let ed = keys.iter().position(|k| k.alg == SigningAlg::EdDsa)?;
        Some(Self { keys, ed, later_rsa: None })
    }

    /// For development: an RSA key is made when first needed (to sign, or for the JWKS).
    pub fn with_rsa_made_on_first_use(mut self) -> Self {
        self.later_rsa = Some(OnceLock::new());
        self
    }

    fn made_rsa(&self) -> Option<&SigningKey> {
        self.later_rsa.as_ref()?.get_or_init(|| SigningKey::generate_rsa().ok()).as_ref()
    }

    /// The key sessions (and EdDSA id_tokens) are signed with.
    pub fn signing(&self) -> &SigningKey {
        &self.keys[self.ed]
    }

    /// The key new tokens signed with `alg` are signed with, if there is one.
    pub fn signing_for(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|k| k.alg == alg)
            .or_else(|| (alg == SigningAlg::Rs256).then(|| self.made_rsa()).flatten())
    }

    /// The algorithms there is a signing key for (what discovery advertises).
    pub fn algorithms(&self) -> Vec<SigningAlg> {
        let rsa = self.later_rsa.is_some() || self.keys.iter().any(|k| k.alg == SigningAlg::Rs256);
        if rsa { vec![SigningAlg::EdDsa, SigningAlg::Rs256] } else { vec![SigningAlg::EdDsa] }
    }

    /// The key with this id and algorithm, if it is one of ours.
    pub fn find(&self, kid: &str, alg: SigningAlg) -> Option<&SigningKey> {
        // A key not made yet has signed nothing.
        let made = self.later_rsa.as_ref().and_then(|l| l.get()).and_then(Option::as_ref);
        self.keys
            .iter()
            .chain(made)
            .find(|k| k.alg == alg && crypto::constant_time_eq(k.kid.as_bytes(), kid.as_bytes()))
    }

    /// The JWKS document (`{"keys": […]}`).
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.keys.iter().chain(self.made_rsa()).map(SigningKey::public_jwk).collect::<Vec<_>>();
        serde_json::json!({ "keys": keys })
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
        assert_eq!(key.alg(), SigningAlg::EdDsa);
        assert_eq!(
            serde_json::to_value(key.public_jwk()).unwrap(),
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "alg": "EdDSA", "use": "sig"
            })
        );
    }

    #[test]
    fn generated_pem_loads_back() {
        let pem = SigningKey::generate_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        SigningKey::from_pem(&pem).unwrap();
    }

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn rfc7638_rsa_thumbprint_known_answer() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(rsa_thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn generated_rsa_pem_loads_back_with_its_thumbprint() {
        let pem = SigningKey::generate_rsa_pem().unwrap();
        let key = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(key.alg(), SigningAlg::Rs256);
        let jwk = serde_json::to_value(key.public_jwk()).unwrap();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(key.kid(), rsa_thumbprint(jwk["n"].as_str().unwrap(), "AQAB"));
    }

    #[test]
    fn the_first_key_of_each_algorithm_signs() {
        let rsa = SigningKey::generate_rsa().unwrap();
        let (ed1, ed2) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
        let (rsa_kid, ed1_kid) = (rsa.kid().to_owned(), ed1.kid().to_owned());
        let set = KeySet::new(vec![rsa, ed1, ed2]).unwrap();
        assert_eq!(set.signing().kid(), ed1_kid);
        assert_eq!(set.signing_for(SigningAlg::Rs256).unwrap().kid(), rsa_kid);
        assert_eq!(set.algorithms(), [SigningAlg::EdDsa, SigningAlg::Rs256]);
        assert!(set.find(&rsa_kid, SigningAlg::EdDsa).is_none(), "an RSA kid must not verify as EdDSA");
        assert!(KeySet::new(vec![SigningKey::generate_rsa().unwrap()]).is_none(), "sessions need an Ed25519 key");
    }

    #[test]
    fn a_development_rsa_key_is_made_once_and_then_published_and_found() {
        let set = KeySet::new(vec![SigningKey::generate().unwrap()]).unwrap().with_rsa_made_on_first_use();
        assert_eq!(set.algorithms(), [SigningAlg::EdDsa, SigningAlg::Rs256]);
        let kid = set.signing_for(SigningAlg::Rs256).unwrap().kid().to_owned();
        assert_eq!(set.signing_for(SigningAlg::Rs256).unwrap().kid(), kid, "made once");
        assert!(set.find(&kid, SigningAlg::Rs256).is_some());
        assert!(set.find(&kid, SigningAlg::EdDsa).is_none());
        assert_eq!(set.jwks()["keys"][1]["kid"], kid.as_str());
    }

    #[test]
    fn other_pem_is_refused() {
        assert!(SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        assert!(SigningKey::from_pem("hello").is_err());
    }
}
