//! What signs and seals: `SECRET_KEY`, `JWT_KEYS` (Ed25519 and RSA keys), and how long an
//! accepted session is taken on trust (`SESSION_CACHE_TTL`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::reader::Reader;
use crate::crypto::SecretKey;
use crate::crypto::signing_keys::{KeySet, SigningAlg, SigningKey};
use crate::domain::ClientRegistry;

impl Reader<'_> {
    /// `SECRET_KEY`: required in production; a random one (and a warning) in development.
    pub(super) fn secret_key(&mut self, prod: bool) -> Option<SecretKey> {
        match self.get("SECRET_KEY").map(SecretString::from) {
            Some(key) if key.expose_secret().len() >= SecretKey::MIN_LEN => {
                Some(SecretKey::new(key.expose_secret().as_bytes().to_vec()))
            }
            Some(_) => {
                self.problem(
                    "SECRET_KEY",
                    format!("must be at least {} bytes (make one with `latchkey secret`)", SecretKey::MIN_LEN),
                );
                None
            }
            None if prod => {
                self.problem("SECRET_KEY", "is required in production (make one with `latchkey secret`)");
                None
            }
            None => {
                self.warnings.push(
                    "SECRET_KEY is not set: using a random key for this process (links and sessions die on restart)"
                        .to_owned(),
                );
                SecretKey::generate().ok()
            }
        }
    }

    /// `JWT_KEYS`: comma-separated PEM files, Ed25519 or RSA; the first key of each algorithm
    /// signs. An Ed25519 key is required (sessions); an RSA key offers RS256 id_tokens.
    pub(super) fn jwt_keys(&mut self, prod: bool) -> Option<KeySet> {
        let Some(paths) = self.get("JWT_KEYS") else {
            if prod {
                self.problem(
                    "JWT_KEYS",
                    "is required in production: comma-separated PEM files (make one with `latchkey keygen > key.pem`)",
                );
                return None;
            }
            self.warnings.push(
                "JWT_KEYS is not set: signing with an Ed25519 key, and an RSA key made on first use, for this process"
                    .to_owned(),
            );
            return SigningKey::generate()
                .ok()
                .and_then(|k| KeySet::new(vec![k]))
                .map(KeySet::with_rsa_made_on_first_use);
        };
        let mut keys: Vec<(&str, SigningKey)> = Vec::new();
        let mut unreadable = false;
        for path in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read ({e})"))
                .and_then(|pem| SigningKey::from_pem(&pem).map_err(|e| e.to_string()))
            {
                // The same key twice is a rotation gone wrong (the "new" file is the old key),
                // and would publish one kid twice in the JWKS.
                Ok(key) => match keys.iter().find(|(_, k)| k.kid() == key.kid()) {
                    Some((first, _)) => self.problem(
                        "JWT_KEYS",
                        format!("{path}: is the same key as {first} (kid {}); list each key once", key.kid()),
                    ),
                    None => keys.push((path, key)),
                },
                Err(e) => {
                    unreadable = true;
                    self.problem("JWT_KEYS", format!("{path}: {e}"));
                }
            }
        }
        if keys.is_empty() && !unreadable {
            self.problem("JWT_KEYS", "names no key file: give comma-separated PEM files, the signing key first");
        } else if !keys.is_empty() && !keys.iter().any(|(_, k)| k.alg() == SigningAlg::EdDsa) {
            self.problem(
                "JWT_KEYS",
                "holds no Ed25519 key: sessions are signed with one (make one with `latchkey keygen`)",
            );
        } else if !keys.is_empty() && !keys.iter().any(|(_, k)| k.alg() == SigningAlg::Rs256) {
            self.warnings.push(
                "JWT_KEYS holds no RSA key: RS256 id_tokens are not offered (make one with `latchkey keygen --rsa`)"
                    .to_owned(),
            );
        }
        KeySet::new(keys.into_iter().map(|(_, key)| key).collect())
    }

    /// Every client in `CLIENTS_FILE` asking for id_tokens signed with an algorithm
    /// `JWT_KEYS` holds no key for is a problem of `JWT_KEYS`.
    pub(super) fn client_algorithms(&mut self, keys: Option<&KeySet>, clients: &ClientRegistry) {
        let Some(keys) = keys else { return };
        let mut missing: Vec<&str> = clients
            .all()
            .filter(|c| keys.signing_for(c.id_token_signed_response_alg).is_none())
            .map(|c| c.id.as_str())
            .collect();
        missing.sort_unstable();
        for id in missing {
            self.problem(
                "JWT_KEYS",
                format!("holds no RSA key, but CLIENTS_FILE client `{id}` asks for RS256 id_tokens (make one with `latchkey keygen --rsa`)"),
            );
        }
    }

    /// `SESSION_CACHE_TTL`: 0 to 10 s.
    pub(super) fn session_cache_ttl(&mut self) -> Duration {
        self.duration("SESSION_CACHE_TTL", "1s", Duration::ZERO, Duration::from_secs(10)).unwrap_or_default()
    }
}
