//! The store's identity: a random id written once into a deployment's store (`latchkey store
//! init`, or a development instance's first start), and the "not before" every session must
//! be issued after. An instance that finds no identity (the store was wiped) or another one
//! (it is pointed at another store) refuses to sign anyone in until an operator says what
//! happened (`latchkey store adopt`); `latchkey store restored` moves "not before" on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError};

/// What the store says about itself (JSON under `<prefix>store`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreIdentity {
    /// The id `STORE_ID` names (`st_` + 128 random bits, base64url). Not a secret.
    pub id: String,
    /// When the identity was written.
    pub created_at: DateTime<Utc>,
    /// Unix seconds: a session token issued before this is refused everywhere.
    pub not_before: i64,
}

impl StoreIdentity {
    /// A new identity, with "not before" at `now`.
    pub fn generate(now: DateTime<Utc>) -> Result<Self, CryptoError> {
        Ok(Self::named(format!("st_{}", crypto::random_token::<16>()?), now))
    }

    /// The identity `id` (an adopted `STORE_ID`), with "not before" at `now`.
    pub fn named(id: String, now: DateTime<Utc>) -> Self {
        Self { id, created_at: now, not_before: now.timestamp() }
    }

    /// True when `id` is this identity's (constant time; ids are not secrets, but cheap to do).
    pub fn is(&self, id: &str) -> bool {
        crypto::constant_time_eq(self.id.as_bytes(), id.as_bytes())
    }
}
