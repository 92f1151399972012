//! Signing and verifying JWTs. Session verification pins EdDSA, requires a known `kid` of
//! that algorithm, refuses headers that point elsewhere for keys, and checks `iss`, `aud`,
//! `exp`, `nbf` and `iat`. RS256 (with our RSA key) is only ever accepted as an id_token hint.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{KeySet, SigningAlg};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Why a token was refused. Deliberately coarse: callers answer 401 whatever the reason.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed, correctly signed token of ours.
    #[error("malformed or badly signed token")]
    Invalid,
    /// Signed with an algorithm not accepted here, or a header names keys elsewhere.
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

    /// Signs `claims` with the current Ed25519 key (sessions), `kid` in the header.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, JwtError> {
        Self::sign_with(self.keys.signing(), claims)
    }

    /// Signs `claims` with the current key for `alg` (an id_token for a client that asked for
    /// it). `None` when there is no key for `alg` (no RSA key in `JWT_KEYS`).
    pub fn sign_as<C: Serialize>(&self, alg: SigningAlg, claims: &C) -> Option<Result<String, JwtError>> {
        self.keys.signing_for(alg).map(|key| Self::sign_with(key, claims))
    }

    fn sign_with<C: Serialize>(key: &super::SigningKey, claims: &C) -> Result<String, JwtError> {
        Self::sign_typed_with(key, None, claims)
    }

    /// As [`TokenSigner::sign_as`], with the header's `typ` set (`logout+jwt` for a
    /// back-channel logout token, so it is never taken for another kind of token).
    pub fn sign_typed_as<C: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &C,
    ) -> Option<Result<String, JwtError>> {
        self.keys.signing_for(alg).map(|key| Self::sign_typed_with(key, Some(typ), claims))
    }

    fn sign_typed_with<C: Serialize>(
        key: &super::SigningKey,
        typ: Option<&str>,
        claims: &C,
    ) -> Result<String, JwtError> {
        let mut header = Header::new(key.alg().jwt());
        header.kid = Some(key.kid().to_owned());
        if let Some(typ) = typ {
            header.typ = Some(typ.to_owned());
        }
        jsonwebtoken::encode(&header, claims, key.encoding()).map_err(JwtError::Signing)
    }

    /// `alg` is pinned to one of `allowed`: `none`, HS* (key confusion) and other families never
    /// reach a verifier. Headers that carry or point at keys, or demand extensions, are refused;
    /// nothing is fetched. Returns the algorithm the header names.
    fn check_header(header: &Header, allowed: &[SigningAlg]) -> Result<SigningAlg, JwtError> {
        let alg = allowed.iter().copied().find(|a| a.jwt() == header.alg).ok_or(JwtError::Header)?;
        let bad = header.jwk.is_some()
            || header.jku.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some();
        if bad { Err(JwtError::Header) } else { Ok(alg) }
    }

    /// Verifies the signature, key and issuer of an `id_token_hint`, accepting any audience
    /// (the caller checks it names a registered client) and expired tokens (RP-initiated
    /// logout allows them). id_tokens may be EdDSA or RS256, each checked only with our key of
    /// that algorithm. Never use it to accept a session.
    pub fn verify_hint<C: DeserializeOwned>(&self, token: &str) -> Result<C, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Header)?;
        let alg = Self::check_header(&header, &[SigningAlg::EdDsa, SigningAlg::Rs256])?;
        let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
        let key = self.keys.find(kid, alg).ok_or(JwtError::UnknownKey)?;
        let mut validation = Validation::new(alg.jwt());
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        jsonwebtoken::decode(token, key.decoding(), &validation).map(|d| d.claims).map_err(|_| JwtError::Invalid)
    }

    /// Verifies a token meant for `audience` at time `now`: EdDSA only, with an Ed25519 key.
    pub fn verify<C: DeserializeOwned + TimeClaims>(
        &self,
        token: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<C, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Header)?;
        Self::check_header(&header, &[SigningAlg::EdDsa])?;
        let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
        let key = self.keys.find(kid, SigningAlg::EdDsa).ok_or(JwtError::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock, with our own leeway.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let claims: C = jsonwebtoken::decode(token, key.decoding(), &validation).map_err(|_| JwtError::Invalid)?.claims;
        Self::check_times(&claims, now)?;
        Ok(claims)
    }

    /// The time claims' check of [`TokenSigner::verify`], with the same leeway: for claims a
    /// token verified to earlier, checked again at `now`.
    pub fn check_times(claims: &impl TimeClaims, now: DateTime<Utc>) -> Result<(), JwtError> {
        let now = now.timestamp();
        if claims.exp() <= now - LEEWAY_SECS {
            return Err(JwtError::Expired);
        }
        if claims.nbf() > now + LEEWAY_SECS || claims.iat() > now + LEEWAY_SECS {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SigningKey;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Claims {
        iss: String,
        aud: String,
        sub: String,
        iat: i64,
        nbf: i64,
        exp: i64,
    }

    impl TimeClaims for Claims {
        fn iat(&self) -> i64 {
            self.iat
        }
        fn nbf(&self) -> i64 {
            self.nbf
        }
        fn exp(&self) -> i64 {
            self.exp
        }
    }

    #[test]
    fn an_rs256_id_token_is_a_valid_hint_and_never_a_session() {
        let keys = KeySet::new(vec![SigningKey::generate().unwrap(), SigningKey::generate_rsa().unwrap()]).unwrap();
        let signer = TokenSigner::new(keys, "https://login.example.com".into());
        let now = Utc::now();
        let t = now.timestamp();
        let claims =
            Claims { iss: signer.issuer().into(), aud: "app".into(), sub: "u".into(), iat: t, nbf: t, exp: t + 60 };

        let id_token = signer.sign_as(SigningAlg::Rs256, &claims).unwrap().unwrap();
        assert_eq!(jsonwebtoken::decode_header(&id_token).unwrap().alg, Algorithm::RS256);
        assert_eq!(signer.verify_hint::<Claims>(&id_token).unwrap().sub, "u");
        assert!(matches!(signer.verify::<Claims>(&id_token, "app", now), Err(JwtError::Header)));

        let eddsa = signer.sign_as(SigningAlg::EdDsa, &claims).unwrap().unwrap();
        assert!(signer.verify::<Claims>(&eddsa, "app", now).is_ok(), "control: the same claims as EdDSA verify");
    }
}
