//! Who may be sent a sign-in mail, asked by the outbox worker before it sends one.

use std::sync::Arc;

use async_trait::async_trait;

use crate::crypto::Keyring;
use crate::domain::Email;
use crate::outbox::SignInRecipients;
use crate::policy::PolicySource;
use crate::store::{Store, StoreError};

/// An account that is not blocked, or a new address the signup list allows.
pub struct Recipients {
    /// Where accounts are.
    pub store: Arc<dyn Store>,
    /// Derives an address's lookup key.
    pub keyring: Arc<Keyring>,
    /// The signup list.
    pub policy: Arc<PolicySource>,
}

#[async_trait]
impl SignInRecipients for Recipients {
    async fn withheld(&self, to: &Email) -> Result<Option<&'static str>, StoreError> {
        Ok(match self.store.find_user(&to.lookup_key(&self.keyring)).await? {
            Some(user) if user.blocked => Some("blocked"),
            Some(_) => None,
            None if !self.policy.current().await?.signup_allowed(to) => Some("signup_closed"),
            None => None,
        })
    }
}
