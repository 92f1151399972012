//! Browser binding: the `__Host-attempt` cookie proves a browser is the one that asked for a
//! link. Its value is `<attempt id>.<secret>`; the attempt stores only the secret's HMAC.

use crate::crypto::{self, CryptoError, HmacKey};
use crate::domain::AttemptId;

/// The cookie value for a new attempt, and the HMAC the attempt keeps.
pub struct NewBinding {
    /// `__Host-attempt` value.
    pub cookie: String,
    /// Stored in the attempt.
    pub proof: String,
}

/// Makes the binding for attempt `id`.
pub fn create(id: &AttemptId, key: &HmacKey) -> Result<NewBinding, CryptoError> {
    let secret = crypto::random_token::<32>()?;
    Ok(NewBinding { cookie: format!("{}.{secret}", id.as_str()), proof: proof(key, &secret) })
}

fn proof(key: &HmacKey, secret: &str) -> String {
    key.mac_b64(&[b"browser", secret.as_bytes()])
}

/// The attempt id a cookie names (to find the attempt from the asking browser).
pub fn attempt_of(cookie: &str) -> Option<AttemptId> {
    let (id, _) = cookie.split_once('.')?;
    AttemptId::parse(id)
}

/// True when `cookie` is the binding of attempt `id` whose stored proof is `expected`.
pub fn matches(cookie: Option<&str>, id: &AttemptId, expected: &str, key: &HmacKey) -> bool {
    let Some((cookie_id, secret)) = cookie.and_then(|c| c.split_once('.')) else { return false };
    let same_attempt = crypto::constant_time_eq(cookie_id.as_bytes(), id.as_str().as_bytes());
    let same_secret = crypto::constant_time_eq(proof(key, secret).as_bytes(), expected.as_bytes());
    same_attempt & same_secret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::domain::LinkToken;

    #[test]
    fn only_the_cookie_made_for_an_attempt_matches_it() {
        let keys = SecretKey::new(vec![5; 32]).derive();
        let a = LinkToken::generate().unwrap().attempt_id(&keys.token);
        let b = LinkToken::generate().unwrap().attempt_id(&keys.token);
        let binding = create(&a, &keys.token).unwrap();
        assert!(matches(Some(&binding.cookie), &a, &binding.proof, &keys.token));
        assert_eq!(attempt_of(&binding.cookie), Some(a.clone()));
        assert!(!matches(Some(&binding.cookie), &b, &binding.proof, &keys.token));
        assert!(!matches(None, &a, &binding.proof, &keys.token));
        let other = create(&a, &keys.token).unwrap();
        assert!(!matches(Some(&other.cookie), &a, &binding.proof, &keys.token));
        assert!(!binding.proof.contains(binding.cookie.split_once('.').unwrap().1));
    }
}
