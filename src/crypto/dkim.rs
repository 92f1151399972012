//! The DKIM key mail is signed with (`DKIM_PRIVATE_KEY`): Ed25519 (RFC 8463) or RSA of 2048
//! bits or more, loaded from PEM or made by `latchkey dkim-keygen`, and the DNS TXT record that
//! publishes its public half.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use secrecy::SecretString;

use super::CryptoError;
use super::signing_keys::RSA_MIN_BITS;

/// The largest RSA key accepted: its TXT record must still fit a DNS answer.
const RSA_MAX_BITS: usize = 4096;

/// Why a DKIM key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    /// The PEM is neither an Ed25519 (PKCS#8) nor an RSA (PKCS#8 or PKCS#1) private key.
    #[error("not an Ed25519 or RSA private key in PEM (make one with `latchkey dkim-keygen`)")]
    NotAKey,
    /// An RSA key outside 2048–4096 bits.
    #[error("an RSA key of {0} bits is not accepted (2048 to 4096; `latchkey dkim-keygen --rsa` makes one)")]
    RsaSize(usize),
    /// Randomness failed while generating a key.
    #[error(transparent)]
    Random(#[from] CryptoError),
}

/// The algorithm a DKIM key signs with, as the record's `k=` tag names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    /// `ed25519-sha256` (RFC 8463).
    Ed25519,
    /// `rsa-sha256`.
    Rsa,
}

impl DkimAlgorithm {
    /// The `k=` tag's value.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Rsa => "rsa",
        }
    }
}

enum Inner {
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(rsa::RsaPrivateKey),
}

/// A DKIM private key. `Debug` shows the algorithm and the public half only.
pub struct DkimKey(Inner);

impl DkimKey {
    /// Loads a PEM private key: Ed25519 as PKCS#8 (`BEGIN PRIVATE KEY`), RSA as PKCS#8 or
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` writes).
    pub fn from_pem(pem: &str) -> Result<Self, DkimKeyError> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self(Inner::Ed25519(key)));
        }
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| DkimKeyError::NotAKey)?;
        let bits = key.n().bits();
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(DkimKeyError::RsaSize(bits));
        }
        Ok(Self(Inner::Rsa(key)))
    }

    /// A new random key: Ed25519, or RSA-2048 (which every receiver verifies; Ed25519 is not
    /// yet verified everywhere).
    pub fn generate(algorithm: DkimAlgorithm) -> Result<Self, DkimKeyError> {
        Ok(Self(match algorithm {
            DkimAlgorithm::Ed25519 => {
                Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&super::random_bytes::<32>()?))
            }
            DkimAlgorithm::Rsa => {
                Inner::Rsa(rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_MIN_BITS).map_err(|_| CryptoError)?)
            }
        }))
    }

    /// The private key as PKCS#8 PEM, for the key file.
    pub fn to_pem(&self) -> Result<SecretString, DkimKeyError> {
        let pem = match &self.0 {
            Inner::Ed25519(key) => key
                .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(|_| DkimKeyError::NotAKey)?
                .to_string(),
            Inner::Rsa(key) => rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(key, LineEnding::LF)
                .map_err(|_| DkimKeyError::NotAKey)?
                .to_string(),
        };
        Ok(SecretString::from(pem))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DkimAlgorithm {
        match self.0 {
            Inner::Ed25519(_) => DkimAlgorithm::Ed25519,
            Inner::Rsa(_) => DkimAlgorithm::Rsa,
        }
    }

    /// The record's `p=`: base64 of the raw 32-byte public key (Ed25519, RFC 8463), or of the
    /// DER SubjectPublicKeyInfo (RSA).
    pub fn public_key_b64(&self) -> String {
        match &self.0 {
            Inner::Ed25519(key) => STANDARD.encode(key.verifying_key().as_bytes()),
            Inner::Rsa(key) => {
                key.to_public_key().to_public_key_der().map(|der| STANDARD.encode(der.as_bytes())).unwrap_or_default()
            }
        }
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    pub fn dns_record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm().tag(), self.public_key_b64())
    }

    /// True when a published TXT record (its strings joined) carries this key's public half:
    /// `v=DKIM1` if present, the same `k=` (default `rsa`), the same `p=` (spaces ignored).
    pub fn matches_record(&self, record: &str) -> bool {
        let tags = record_tags(record);
        let tag = |name: &str| tags.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        let version_ok = tag("v").is_none_or(|v| v == "DKIM1");
        let kind_ok = tag("k").unwrap_or("rsa").eq_ignore_ascii_case(self.algorithm().tag());
        version_ok && kind_ok && tag("p") == Some(self.public_key_b64().as_str())
    }

    /// What lettre's signer takes: the 32-byte Ed25519 seed in base64, or the RSA key as
    /// PKCS#1 PEM.
    pub fn signer_input(&self) -> Result<SecretString, DkimKeyError> {
        match &self.0 {
            Inner::Ed25519(key) => Ok(SecretString::from(STANDARD.encode(key.to_bytes()))),
            Inner::Rsa(key) => {
                Ok(SecretString::from(key.to_pkcs1_pem(LineEnding::LF).map_err(|_| DkimKeyError::NotAKey)?.to_string()))
            }
        }
    }
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKey")
            .field("algorithm", &self.algorithm())
            .field("public", &self.public_key_b64())
            .finish_non_exhaustive()
    }
}

/// The `tag=value` pairs of a DKIM record, whitespace removed from the values.
fn record_tags(record: &str) -> Vec<(&str, String)> {
    record
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim(), v.chars().filter(|c| !c.is_whitespace()).collect()))
        .collect()
}

/// The record as a zone-file line (`name IN TXT ( "…" "…" )`): DNS strings hold at most 255
/// characters, so a long record is split into several, which resolvers join.
pub fn zone_file_line(name: &str, record: &str) -> String {
    let chunks: Vec<String> =
        record.as_bytes().chunks(250).map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk))).collect();
    format!("{name}. IN TXT ( {} )", chunks.join(" "))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_generated_ed25519_key_loads_back_and_publishes_its_raw_public_key() {
        let key = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
        let loaded = DkimKey::from_pem(key.to_pem().unwrap().expose_secret()).unwrap();
        assert_eq!(loaded.algorithm(), DkimAlgorithm::Ed25519);
        assert_eq!(loaded.public_key_b64(), key.public_key_b64());
        assert_eq!(STANDARD.decode(key.public_key_b64()).unwrap().len(), 32, "RFC 8463: the bare key");
        assert!(key.dns_record().starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(STANDARD.decode(key.signer_input().unwrap().expose_secret()).unwrap().len(), 32);
    }

    #[test]
    fn rsa_keys_load_from_pkcs8_and_pkcs1_and_publish_their_spki() {
        let key = DkimKey::generate(DkimAlgorithm::Rsa).unwrap();
        let pkcs8 = key.to_pem().unwrap();
        let pkcs1 = key.signer_input().unwrap();
        assert!(pkcs1.expose_secret().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        for pem in [pkcs8.expose_secret(), pkcs1.expose_secret()] {
            let loaded = DkimKey::from_pem(pem).unwrap();
            assert_eq!(loaded.algorithm(), DkimAlgorithm::Rsa);
            assert_eq!(loaded.public_key_b64(), key.public_key_b64());
        }
        assert!(key.public_key_b64().starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"), "SPKI of RSA-2048");
        let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let small = small.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(matches!(DkimKey::from_pem(&small), Err(DkimKeyError::RsaSize(1024))));
    }

    #[test]
    fn other_pem_is_refused_and_debug_shows_no_private_key() {
        assert!(matches!(DkimKey::from_pem("hello"), Err(DkimKeyError::NotAKey)));
        let key = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
        let debug = format!("{key:?}");
        let seed = key.signer_input().unwrap();
        assert!(!debug.contains(seed.expose_secret()), "{debug}");
        assert!(debug.contains(&key.public_key_b64()), "{debug}");
    }

    #[test]
    fn a_record_matches_only_the_same_public_key_and_kind() {
        let key = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
        let other = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
        let p = key.public_key_b64();
        assert!(key.matches_record(&key.dns_record()));
        let (head, tail) = p.split_at(20);
        assert!(key.matches_record(&format!("v=DKIM1;k=ed25519;  p={head} {tail}")), "spaces inside p= are ignored");
        assert!(!key.matches_record(&other.dns_record()));
        assert!(!key.matches_record(&format!("v=DKIM1; p={p}")), "k= defaults to rsa");
        assert!(!key.matches_record("v=DKIM1; k=ed25519; p="), "a revoked key");
        assert!(!key.matches_record(&format!("v=spf1; k=ed25519; p={p}")));
    }

    #[test]
    fn a_long_record_is_split_into_dns_strings() {
        let record = format!("v=DKIM1; k=rsa; p={}", "A".repeat(392));
        let line = zone_file_line("mail._domainkey.example.com", &record);
        assert!(line.starts_with("mail._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=AAA"), "{line}");
        let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(strings.len(), 2);
        assert!(strings.iter().all(|s| s.len() <= 255));
        assert_eq!(strings.concat(), record);
    }
}
