//! Signing and verifying JWTs. Verification pins EdDSA, requires a known `kid`, refuses
//! headers that point elsewhere for keys, and checks `iss`, `aud`, `exp`, `nbf` and `iat`.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::KeySet;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Why a token was refused. Deliberately coarse: callers answer 401 whatever the reason.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed, correctly signed token of ours.
    #[error("malformed or badly signed token")]
    Invalid,
    /// Signed with an algorithm other than EdDSA, or a header names keys elsewhere.
    #[error("token header not accepted")]
    Header,
    /// `kid` missing or not one of our keys.
    #[error("unknown key id")]
    UnknownKey,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Before `nbf`, or issued in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// Signing failed (a key problem; never the caller's fault).
    #[error("token could not be signed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// The time claims every token of ours carries.
pub trait TimeClaims {
    /// Issued at (unix seconds).
    fn iat(&self) -> i64;
    /// Not before (unix seconds).
    fn nbf(&self) -> i64;
    /// Expires (unix seconds).
    fn exp(&self) -> i64;
}

/// Signs and verifies tokens for one issuer.
#[derive(Debug)]
pub struct TokenSigner {
    keys: KeySet,
    issuer: String,
}

impl TokenSigner {
    /// A signer with these keys, issuing as `issuer` (`PUBLIC_URL`).
    pub fn new(keys: KeySet, issuer: String) -> Self {
        Self { keys, issuer }
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key set (for the JWKS).
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Signs `claims` with the current key, `kid` in the header.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, JwtError> {
        let key = self.keys.signing();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, key.encoding()).map_err(JwtError::Signing)
    }

    /// `alg` is pinned: `none`, HS* (key confusion) and other families never reach a verifier.
    /// Headers that carry or point at keys, or demand extensions, are refused; nothing is fetched.
    fn check_header(header: &Header) -> Result<(), JwtError> {
        let bad = header.alg != Algorithm::EdDSA
            || header.jwk.is_some()
            || header.jku.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some();
        if bad { Err(JwtError::Header) } else { Ok(()) }
    }

    /// Verifies the signature, key and issuer of an `id_token_hint`, accepting any audience
    /// (the caller checks it names a registered client) and expired tokens (RP-initiated
    /// logout allows them). Never use it to accept a session.
    pub fn verify_hint<C: DeserializeOwned>(&self, token: &str) -> Result<C, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Header)?;
        Self::check_header(&header)?;
        let key = self.keys.find(header.kid.as_deref().ok_or(JwtError::UnknownKey)?).ok_or(JwtError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        jsonwebtoken::decode(token, key.decoding(), &validation).map(|d| d.claims).map_err(|_| JwtError::Invalid)
    }

    /// Verifies a token meant for `audience` at time `now`.
    pub fn verify<C: DeserializeOwned + TimeClaims>(
        &self,
        token: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<C, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Header)?;
        Self::check_header(&header)?;
        let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
        let key = self.keys.find(kid).ok_or(JwtError::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock, with our own leeway.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let claims: C = jsonwebtoken::decode(token, key.decoding(), &validation).map_err(|_| JwtError::Invalid)?.claims;

        let now = now.timestamp();
        if claims.exp() <= now - LEEWAY_SECS {
            return Err(JwtError::Expired);
        }
        if claims.nbf() > now + LEEWAY_SECS || claims.iat() > now + LEEWAY_SECS {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}
