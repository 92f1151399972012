//! Recently verified sessions, so the hot path (`/auth/verify`, every page) neither re-checks
//! an Ed25519 signature nor asks the store again for a token it accepted a moment ago.
//!
//! An entry is the claims a token verified to and when the store last confirmed its session
//! live. It is used for at most `SESSION_CACHE_TTL` (default 1 s) after that confirmation, and
//! dropped at once when this instance ends the session. So a revocation made on another
//! instance — or a store outage — is seen here within that TTL; `0s` turns the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::SessionClaims;
use crate::domain::{SessionId, UserId};

/// Entries kept at most; a full cache is emptied (cheap, and refilled within a second).
const CAPACITY: usize = 10_000;

struct Entry {
    claims: SessionClaims,
    confirmed: Instant,
}

/// The cache. Keyed by the token's SHA-256, so it holds no token.
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl SessionCache {
    /// A cache whose entries last `ttl` (zero: never used).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims `token` verified to, if the store confirmed its session within the TTL.
    pub fn get(&self, token: &str) -> Option<SessionClaims> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&Self::key(token))?;
        (entry.confirmed.elapsed() < self.ttl).then(|| entry.claims.clone())
    }

    /// Remembers that `token` verified to `claims` and its session is live now.
    pub fn put(&self, token: &str, claims: &SessionClaims) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, e| e.confirmed.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(Self::key(token), Entry { claims: claims.clone(), confirmed: Instant::now() });
    }

    /// Drops every entry of one session (it was ended here).
    pub fn forget_session(&self, sid: &SessionId) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, e| &e.claims.sid != sid);
    }

    /// Drops every entry of one user (all their sessions were ended here).
    pub fn forget_user(&self, user: &UserId) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, e| &e.claims.sub != user);
    }
}
