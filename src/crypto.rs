//! Randomness, keyed hashing and constant-time comparison. Every secret the service derives
//! comes from `SECRET_KEY` through HKDF, one sub-key per purpose.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub mod dkim;
pub mod parsed_keys;
pub mod signing_keys;

/// The OS random number generator failed; nothing secret can be made without it.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct CryptoError;

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    SysRng.try_fill_bytes(&mut buf).map_err(|_| CryptoError)?;
    Ok(buf)
}

/// `N` random bytes from the OS CSPRNG as unpadded base64url.
pub fn random_token<const N: usize>() -> Result<String, CryptoError> {
    Ok(b64(&random_bytes::<N>()?))
}

/// Unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a secret (an API token, a client secret), lowercase hex.
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The root secret (`SECRET_KEY`). `Debug` never shows it.
pub struct SecretKey(SecretBox<Vec<u8>>);

impl SecretKey {
    /// The fewest bytes accepted.
    pub const MIN_LEN: usize = 32;

    /// Wraps key material; the caller has checked its length.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A fresh random key, for development.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::new(random_bytes::<32>()?.to_vec()))
    }

    /// Derives the per-purpose keys.
    pub fn derive(&self) -> Keyring {
        let hk = Hkdf::<Sha256>::new(Some(b"latchkey v1"), self.0.expose_secret());
        let sub = |info: &[u8]| {
            let mut okm = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so this cannot fail.
            let _ = hk.expand(info, &mut okm);
            HmacKey(SecretBox::new(Box::new(okm)))
        };
        let mut aead = [0u8; 32];
        let _ = hk.expand(b"aead-at-rest", &mut aead);
        Keyring {
            token: sub(b"token-hash"),
            csrf: sub(b"csrf"),
            lookup: sub(b"lookup"),
            sealer: Sealer(SecretBox::new(Box::new(aead))),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// A 256-bit HMAC-SHA256 key.
pub struct HmacKey(SecretBox<[u8; 32]>);

impl HmacKey {
    /// HMAC-SHA256 of `parts`, each length-prefixed so that ("ab","c") ≠ ("a","bc").
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// [`HmacKey::mac`] as unpadded base64url.
    pub fn mac_b64(&self, parts: &[&[u8]]) -> String {
        b64(&self.mac(parts))
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

/// The keys derived from `SECRET_KEY`, one per purpose.
#[derive(Debug)]
pub struct Keyring {
    /// Hashes link tokens (and later codes) before they reach the store.
    pub token: HmacKey,
    /// Binds CSRF form tokens to the `__Host-csrf` cookie.
    pub csrf: HmacKey,
    /// Turns email addresses into store keys, so key names carry no address.
    pub lookup: HmacKey,
    /// Encrypts secrets at rest (TOTP seeds, phone numbers).
    pub sealer: Sealer,
}

/// Authenticated encryption for secrets at rest: XChaCha20-Poly1305 with a random 192-bit
/// nonce per message. The associated data binds a ciphertext to its owner and purpose, so a
/// value copied to another user's record does not open.
pub struct Sealer(SecretBox<[u8; 32]>);

/// A sealed value did not open: wrong key, wrong owner, or tampered.
#[derive(Debug, thiserror::Error)]
#[error("sealed value does not open")]
pub struct SealError;

impl Sealer {
    /// Encrypts `plaintext` for `context` (e.g. `totp:<user id>`); base64url of nonce ‖ ciphertext.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(self.0.expose_secret().into());
        let nonce = random_bytes::<24>()?;
        let sealed = cipher
            .encrypt((&nonce).into(), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| CryptoError)?;
        Ok(b64(&[nonce.as_slice(), &sealed].concat()))
    }

    /// Decrypts what [`Sealer::seal`] made for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| SealError)?;
        if raw.len() < 24 + 16 {
            return Err(SealError);
        }
        let (nonce, ciphertext) = raw.split_at(24);
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(self.0.expose_secret().into());
        cipher.decrypt(nonce.into(), Payload { msg: ciphertext, aad: context.as_bytes() }).map_err(|_| SealError)
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url() {
        let t = random_token::<32>().unwrap();
        assert_eq!(t.len(), 43);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(t, random_token::<32>().unwrap());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = SecretKey::new(vec![7; 32]).derive();
        let b = SecretKey::new(vec![8; 32]).derive();
        assert_ne!(a.token.mac(&[b"x"]), a.csrf.mac(&[b"x"]));
        assert_ne!(a.token.mac(&[b"x"]), b.token.mac(&[b"x"]));
        assert_eq!(a.token.mac(&[b"x"]), SecretKey::new(vec![7; 32]).derive().token.mac(&[b"x"]));
    }

    #[test]
    fn parts_are_length_prefixed() {
        let k = SecretKey::new(vec![1; 32]).derive();
        assert_ne!(k.token.mac(&[b"ab", b"c"]), k.token.mac(&[b"a", b"bc"]));
    }

    #[test]
    fn sealed_values_open_only_for_their_context_and_key() {
        let keys = SecretKey::new(vec![1; 32]).derive();
        let sealed = keys.sealer.seal("totp:alice", b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(keys.sealer.open("totp:alice", &sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(keys.sealer.open("totp:mallory", &sealed).is_err(), "opened under another owner");
        assert!(SecretKey::new(vec![2; 32]).derive().sealer.open("totp:alice", &sealed).is_err());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(keys.sealer.open("totp:alice", std::str::from_utf8(&tampered).unwrap()).is_err());
        assert_ne!(keys.sealer.seal("c", b"x").unwrap(), keys.sealer.seal("c", b"x").unwrap(), "nonce reused");
    }

    #[test]
    fn debug_redacts() {
        let s = format!("{:?}", SecretKey::new(b"super-secret-value-that-is-long!".to_vec()).derive());
        assert!(!s.contains("super"));
        assert!(s.contains("redacted"));
    }
}
