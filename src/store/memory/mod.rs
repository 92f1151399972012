//! The in-memory store: one process, lost on restart. For development and tests.

mod attempts;
mod audit;
mod clients;
mod devices;
mod email_change;
mod factors;
mod grants;
mod identity;
mod limits;
mod passkeys;
mod policy;
mod queue;
mod refresh;
mod sessions;
mod steps;
mod suppressions;
mod users;

pub use queue::MemoryQueue;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::domain::{AttemptId, AuditEvent, Client, SessionId, SignInPolicy, UserId};
use crate::store::{
    AccessGrant, AuthCode, ChallengeKey, LinkAttempt, PendingLogin, RateKey, Report, SecondFactors, SessionRecord,
    SmsChallenge, StoreIdentity, User,
};

/// A value and the moment the store forgets it.
struct Expiring<T> {
    value: T,
    until: Instant,
}

impl<T> Expiring<T> {
    fn new(value: T, ttl: Duration) -> Self {
        Self { value, until: Instant::now() + ttl }
    }

    fn live(&self) -> bool {
        Instant::now() < self.until
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Approved,
    Used,
    Dead,
}

/// A stored attempt, its state and the code guesses spent on it.
struct AttemptEntry {
    attempt: LinkAttempt,
    status: Status,
    tries: u32,
    number_tries: u32,
}

#[derive(Default)]
struct State {
    writes: u64,
    attempts: HashMap<AttemptId, Expiring<AttemptEntry>>,
    generations: HashMap<String, Expiring<u64>>,
    limits: HashMap<RateKey, Expiring<u64>>,
    users_by_email: HashMap<String, User>,
    sessions: HashMap<(UserId, SessionId), Expiring<SessionRecord>>,
    user_sessions: HashMap<UserId, HashSet<SessionId>>,
    session_clients: HashMap<(UserId, SessionId), Expiring<std::collections::BTreeSet<String>>>,
    policy: Option<SignInPolicy>,
    pending: HashMap<String, Expiring<(PendingLogin, u32)>>,
    factors: HashMap<UserId, SecondFactors>,
    totp_steps: HashMap<UserId, u64>,
    enrollments: HashMap<(UserId, String), Expiring<String>>,
    recovery: HashMap<UserId, HashSet<String>>,
    challenges: HashMap<ChallengeKey, Expiring<(SmsChallenge, u32)>>,
    auth_codes: HashMap<String, Expiring<(AuthCode, Option<String>)>>,
    access: HashMap<String, Expiring<AccessGrant>>,
    clients: HashMap<String, Client>,
    audit: std::collections::VecDeque<AuditEvent>,
    user_audit: HashMap<UserId, std::collections::VecDeque<AuditEvent>>,
    audit_seq: u64,
    user_apps: HashMap<UserId, std::collections::BTreeSet<String>>,
    devices: HashMap<UserId, HashSet<String>>,
    langs: HashMap<UserId, String>,
    reports: HashMap<String, Expiring<Report>>,
    identity: Option<StoreIdentity>,
    refresh: HashMap<(UserId, String), Expiring<refresh::FamilyEntry>>,
    ceremonies: HashMap<String, Expiring<crate::store::PasskeyCeremony>>,
    passkey_counters: HashMap<(UserId, String), u32>,
    suppressions: HashMap<String, Expiring<crate::store::Suppression>>,
    email_changes: HashMap<UserId, Expiring<(crate::store::PendingEmailChange, u32)>>,
    email_reverts: HashMap<UserId, HashMap<String, Expiring<crate::store::EmailRevert>>>,
    passkey_owners: HashMap<String, UserId>,
}

/// The store as maps behind one mutex; every method is atomic because it holds the lock.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lock, for a write; every 1024th write also drops what has expired, so a long-running
    /// development server does not grow without bound.
    fn lock_for_write(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.writes += 1;
        if state.writes.is_multiple_of(1024) {
            state.attempts.retain(|_, e| e.live());
            state.generations.retain(|_, e| e.live());
            state.limits.retain(|_, e| e.live());
            state.sessions.retain(|_, e| e.live());
            state.session_clients.retain(|_, e| e.live());
            state.pending.retain(|_, e| e.live());
            state.enrollments.retain(|_, e| e.live());
            state.challenges.retain(|_, e| e.live());
            state.auth_codes.retain(|_, e| e.live());
            state.access.retain(|_, e| e.live());
            state.refresh.retain(|_, e| e.live());
            state.ceremonies.retain(|_, e| e.live());
            state.suppressions.retain(|_, e| e.live());
            let State { sessions, user_sessions, .. } = &mut *state;
            user_sessions.retain(|user, sids| {
                sids.retain(|sid| sessions.contains_key(&(user.clone(), sid.clone())));
                !sids.is_empty()
            });
        }
        state
    }

    fn live_attempt<'a>(state: &'a mut State, id: &AttemptId) -> Option<&'a mut AttemptEntry> {
        state.attempts.get_mut(id).filter(|e| e.live()).map(|e| &mut e.value)
    }
}
