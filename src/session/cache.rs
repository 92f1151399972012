//! Recently verified sessions, so the hot path (`/auth/verify`, every page) neither re-checks
//! an Ed25519 signature nor asks the store again for a token it accepted a moment ago.
//!
//! An entry is the claims a token verified to and when the store last confirmed its session
//! live. It is taken on trust for at most `SESSION_CACHE_TTL` (default 1 s) after that
//! confirmation, and dropped at once when this instance ends the session. So a revocation made
//! on another instance — or a store outage — is seen here within that TTL; `0s` takes nothing
//! on trust. After the TTL an entry still spares the signature check (the same token verifies
//! to the same claims with the same keys): its time claims are checked again and the store is
//! asked, as for a token never seen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Moves on at every forget, so a store read that began before a session was ended here
    /// cannot put it back afterwards.
    revocations: AtomicU64,
}

/// What the cache knows of a token: the claims it verified to.
#[derive(Debug)]
pub struct Known {
    pub claims: SessionClaims,
    /// Whether the store confirmed its session within the TTL; if not, the store must be
    /// asked again.
    pub live: bool,
}

/// Taken before the store is asked whether a session is live; [`SessionCache::put`] uses it.
#[derive(Debug, Clone, Copy)]
pub struct ReadStart {
    at: Instant,
    revocations: u64,
}

impl SessionCache {
    /// A cache whose entries are taken on trust for `ttl` (zero: never).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()), revocations: AtomicU64::new(0) }
    }

    /// Marks the start of a store read: the entry it leads to counts from here.
    pub fn read_start(&self) -> ReadStart {
        ReadStart { at: Instant::now(), revocations: self.revocations.load(Ordering::SeqCst) }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims `token` verified to, and whether the store confirmed its session within the
    /// TTL.
    pub fn get(&self, token: &str) -> Option<Known> {
        let key = Self::key(token);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&key)?;
        Some(Known { claims: entry.claims.clone(), live: entry.confirmed.elapsed() < self.ttl })
    }

    /// Remembers that `token` verified to `claims` and the store said its session was live at
    /// `read` — unless a session was ended here since that read began.
    pub fn put(&self, token: &str, claims: &SessionClaims, read: ReadStart) {
        let key = Self::key(token);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock that forgets take too: no forget slips between check and insert.
        if self.revocations.load(Ordering::SeqCst) != read.revocations {
            return;
        }
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, e| e.confirmed.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, Entry { claims: claims.clone(), confirmed: read.at });
    }

    /// Drops every entry of one session (it was ended here).
    pub fn forget_session(&self, sid: &SessionId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.revocations.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| &e.claims.sid != sid);
    }

    /// Drops every entry of one user (all their sessions were ended here).
    pub fn forget_user(&self, user: &UserId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.revocations.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| &e.claims.sub != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    fn claims(sid: &SessionId, sub: &UserId) -> SessionClaims {
        SessionClaims {
            iss: "https://login.example".into(),
            aud: "https://login.example".into(),
            sub: sub.clone(),
            email: Email::parse("a@example.com").unwrap(),
            iat: 0,
            nbf: 0,
            exp: i64::MAX,
            jti: "j".into(),
            sid: sid.clone(),
            amr: vec!["email".into()],
            auth_time: 0,
        }
    }

    #[test]
    fn a_read_that_began_before_a_forget_does_not_put_the_session_back() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (sid, sub) = (SessionId::generate().unwrap(), UserId::generate().unwrap());
        let read = cache.read_start();
        cache.forget_session(&sid);
        cache.put("token", &claims(&sid, &sub), read);
        assert!(cache.get("token").is_none());
        let read = cache.read_start();
        cache.put("token", &claims(&sid, &sub), read);
        assert!(cache.get("token").is_some());
        cache.forget_user(&sub);
        assert!(cache.get("token").is_none());
    }

    #[test]
    fn an_entry_counts_from_the_read_and_lapses_after_the_ttl() {
        let cache = SessionCache::new(Duration::from_millis(30));
        let (sid, sub) = (SessionId::generate().unwrap(), UserId::generate().unwrap());
        let read = cache.read_start();
        std::thread::sleep(Duration::from_millis(40));
        cache.put("token", &claims(&sid, &sub), read);
        assert!(matches!(cache.get("token"), Some(Known { live: false, .. })), "confirmed 40 ms ago with a 30 ms TTL");
        let long = SessionCache::new(Duration::from_secs(60));
        long.put("token", &claims(&sid, &sub), long.read_start());
        assert!(matches!(long.get("token"), Some(Known { live: true, .. })), "confirmed just now");
        let off = SessionCache::new(Duration::ZERO);
        off.put("token", &claims(&sid, &sub), off.read_start());
        assert!(matches!(off.get("token"), Some(Known { live: false, .. })), "a zero TTL takes nothing on trust");
        assert!(off.get("another token").is_none());
    }
}
