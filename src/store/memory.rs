//! The in-memory store: one process, lost on restart. For development and tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AccessGrant, AttemptStore, AuditStore, AuthCode, ChallengeKey, ClientStore, CodeExchange, DeviceStore, FactorKinds,
    FactorStore, GENERATION_TTL, GrantStore, IdentityStore, LimitStore, LinkAttempt, PendingLogin, PolicyStore,
    RateKey, Redemption, Report, SecondFactors, SessionRecord, SessionStore, SmsChallenge, StepStore, StoreError,
    StoreIdentity, StoreResult, User, UserStore,
};
use crate::domain::{AttemptId, AuditEvent, Client, Email, SessionId, SignInPolicy, UserId};

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
    Used,
    Dead,
}

/// A stored attempt, its state and the code guesses spent on it.
struct AttemptEntry {
    attempt: LinkAttempt,
    status: Status,
    tries: u32,
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
    reports: HashMap<String, Expiring<Report>>,
    identity: Option<StoreIdentity>,
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
            state.pending.retain(|_, e| e.live());
            state.enrollments.retain(|_, e| e.live());
            state.challenges.retain(|_, e| e.live());
            state.auth_codes.retain(|_, e| e.live());
            state.access.retain(|_, e| e.live());
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

/// Classifies an attempt against `now`, the same way the Redis script does.
fn classify(entry: &AttemptEntry, now: DateTime<Utc>) -> Redemption {
    let attempt = entry.attempt.clone();
    match entry.status {
        Status::Used => Redemption::Used(attempt),
        Status::Dead => Redemption::Dead(attempt),
        Status::Pending if now >= entry.attempt.expires_at => Redemption::Expired(attempt),
        Status::Pending => Redemption::Valid(attempt),
    }
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn get_identity(&self) -> StoreResult<Option<StoreIdentity>> {
        Ok(self.lock().identity.clone())
    }

    async fn put_identity(&self, identity: &StoreIdentity, only_if_absent: bool) -> StoreResult<bool> {
        let mut state = self.lock();
        if only_if_absent && state.identity.is_some() {
            return Ok(false);
        }
        state.identity = Some(identity.clone());
        Ok(true)
    }

    async fn void_live_state(&self) -> StoreResult<usize> {
        let mut state = self.lock();
        let live_sets = state.user_sessions.len();
        let voided = state.sessions.len()
            + live_sets
            + state.attempts.len()
            + state.pending.len()
            + state.challenges.len()
            + state.enrollments.len()
            + state.auth_codes.len()
            + state.access.len()
            + state.reports.len();
        state.sessions.clear();
        state.user_sessions.clear();
        state.attempts.clear();
        state.pending.clear();
        state.challenges.clear();
        state.enrollments.clear();
        state.auth_codes.clear();
        state.access.clear();
        state.reports.clear();
        Ok(voided)
    }
}

#[async_trait]
impl AttemptStore for MemoryStore {
    async fn put_attempt(&self, id: &AttemptId, attempt: &LinkAttempt, keep_for: Duration) -> StoreResult<()> {
        let entry = AttemptEntry { attempt: attempt.clone(), status: Status::Pending, tries: 0 };
        self.lock_for_write().attempts.insert(id.clone(), Expiring::new(entry, keep_for));
        Ok(())
    }

    async fn peek_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        let mut state = self.lock();
        Ok(Self::live_attempt(&mut state, id).map(|e| classify(e, now)))
    }

    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(None) };
        let outcome = classify(entry, now);
        if matches!(outcome, Redemption::Valid(_)) {
            entry.status = Status::Used;
        }
        Ok(Some(outcome))
    }

    async fn take_code_try(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(None) };
        let outcome = classify(entry, now);
        if !matches!(outcome, Redemption::Valid(_)) {
            return Ok(Some((outcome, entry.tries)));
        }
        entry.tries += 1;
        if entry.tries > max_tries {
            entry.status = Status::Dead;
            return Ok(Some((Redemption::Dead(entry.attempt.clone()), entry.tries)));
        }
        Ok(Some((outcome, entry.tries)))
    }

    async fn kill_attempt(&self, id: &AttemptId) -> StoreResult<()> {
        let mut state = self.lock();
        if let Some(entry) = Self::live_attempt(&mut state, id).filter(|e| e.status == Status::Pending) {
            entry.status = Status::Dead;
        }
        Ok(())
    }

    async fn link_generation(&self, lookup: &str, bump: bool) -> StoreResult<u64> {
        let mut state = self.lock();
        let current = state.generations.get(lookup).filter(|g| g.live()).map_or(0, |g| g.value);
        if !bump {
            return Ok(current);
        }
        state.generations.insert(lookup.to_owned(), Expiring::new(current + 1, GENERATION_TTL));
        Ok(current + 1)
    }

    async fn advance_generation(&self, lookup: &str, expected: u64) -> StoreResult<bool> {
        let mut state = self.lock();
        let current = state.generations.get(lookup).filter(|g| g.live()).map_or(0, |g| g.value);
        if current != expected {
            return Ok(false);
        }
        state.generations.insert(lookup.to_owned(), Expiring::new(current + 1, GENERATION_TTL));
        Ok(true)
    }
}

#[async_trait]
impl LimitStore for MemoryStore {
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)> {
        let mut state = self.lock_for_write();
        let counter = state.limits.entry(key.clone()).or_insert_with(|| Expiring::new(0, window));
        if !counter.live() {
            *counter = Expiring::new(0, window);
        }
        counter.value += cost;
        Ok((counter.value, counter.until.saturating_duration_since(Instant::now())))
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User> {
        let mut state = self.lock();
        if let Some(user) = state.users_by_email.get(lookup) {
            return Ok(user.clone());
        }
        let id = UserId::generate().map_err(|e| StoreError::Unavailable(e.into()))?;
        let user = User { id, email: email.clone(), created_at: now, blocked: false, factor_kinds: Default::default() };
        state.users_by_email.insert(lookup.to_owned(), user.clone());
        Ok(user)
    }

    async fn find_user(&self, lookup: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().users_by_email.get(lookup).cloned())
    }

    async fn put_user(&self, lookup: &str, user: &User) -> StoreResult<()> {
        self.lock().users_by_email.insert(lookup.to_owned(), user.clone());
        Ok(())
    }

    async fn add_user_app(&self, user: &UserId, client_id: &str) -> StoreResult<()> {
        self.lock().user_apps.entry(user.clone()).or_default().insert(client_id.to_owned());
        Ok(())
    }

    async fn user_apps(&self, user: &UserId) -> StoreResult<Vec<String>> {
        Ok(self.lock().user_apps.get(user).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn add_device(&self, user: &UserId, device: &str) -> StoreResult<(bool, usize)> {
        let mut state = self.lock();
        let known = state.devices.entry(user.clone()).or_default();
        let before = known.len();
        Ok((known.insert(device.to_owned()), before))
    }

    async fn remove_device(&self, user: &UserId, device: &str) -> StoreResult<()> {
        if let Some(known) = self.lock().devices.get_mut(user) {
            known.remove(device);
        }
        Ok(())
    }

    async fn put_report(&self, id: &str, report: &Report, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().reports.insert(id.to_owned(), Expiring::new(report.clone(), ttl));
        Ok(())
    }

    async fn take_report(&self, id: &str) -> StoreResult<Option<Report>> {
        Ok(self.lock().reports.remove(id).filter(|e| e.live()).map(|e| e.value))
    }

    async fn peek_report(&self, id: &str) -> StoreResult<Option<Report>> {
        Ok(self.lock().reports.get(id).filter(|e| e.live()).map(|e| e.value.clone()))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()> {
        let mut state = self.lock_for_write();
        let key = (session.user_id.clone(), session.sid.clone());
        state.sessions.insert(key, Expiring::new(session.clone(), ttl));
        state.user_sessions.entry(session.user_id.clone()).or_default().insert(session.sid.clone());
        Ok(())
    }

    async fn get_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let state = self.lock();
        let key = (user.clone(), sid.clone());
        Ok(state.sessions.get(&key).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<bool> {
        let mut state = self.lock();
        let existed = state.sessions.remove(&(user.clone(), sid.clone())).is_some_and(|e| e.live());
        if let Some(set) = state.user_sessions.get_mut(user) {
            set.remove(sid);
        }
        Ok(existed)
    }

    async fn list_sessions(&self, user: &UserId) -> StoreResult<Vec<SessionRecord>> {
        let state = self.lock();
        let sids = state.user_sessions.get(user).cloned().unwrap_or_default();
        let mut sessions: Vec<SessionRecord> = sids
            .iter()
            .filter_map(|sid| state.sessions.get(&(user.clone(), sid.clone())))
            .filter(|e| e.live())
            .map(|e| e.value.clone())
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    async fn delete_all_sessions(&self, user: &UserId) -> StoreResult<usize> {
        let mut state = self.lock();
        let sids = state.user_sessions.remove(user).unwrap_or_default();
        Ok(sids.into_iter().filter_map(|sid| state.sessions.remove(&(user.clone(), sid))).filter(|e| e.live()).count())
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut state = self.lock();
        if let Some(entry) =
            state.sessions.get_mut(&(session.user_id.clone(), session.sid.clone())).filter(|e| e.live())
        {
            entry.value = session.clone();
        }
        Ok(())
    }
}

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn get_policy(&self) -> StoreResult<Option<SignInPolicy>> {
        Ok(self.lock().policy.clone())
    }

    async fn put_policy(&self, policy: &SignInPolicy, only_if_absent: bool) -> StoreResult<()> {
        let mut state = self.lock();
        if !(only_if_absent && state.policy.is_some()) {
            state.policy = Some(policy.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl FactorStore for MemoryStore {
    async fn get_factors(&self, user: &UserId) -> StoreResult<SecondFactors> {
        Ok(self.lock().factors.get(user).cloned().unwrap_or_default())
    }

    async fn put_factors(&self, user: &UserId, factors: &SecondFactors) -> StoreResult<()> {
        let mut state = self.lock();
        state.factors.insert(user.clone(), factors.clone());
        if let Some(record) = state.users_by_email.values_mut().find(|u| &u.id == user) {
            record.factor_kinds = FactorKinds::of(factors);
        }
        Ok(())
    }

    async fn use_totp_step(&self, user: &UserId, step: u64) -> StoreResult<bool> {
        let mut state = self.lock();
        let last = state.totp_steps.get(user).copied();
        if last.is_some_and(|last| step <= last) {
            return Ok(false);
        }
        state.totp_steps.insert(user.clone(), step);
        Ok(true)
    }

    async fn put_totp_enrollment(&self, user: &UserId, slot: &str, sealed: &str, ttl: Duration) -> StoreResult<()> {
        let key = (user.clone(), slot.to_owned());
        self.lock_for_write().enrollments.insert(key, Expiring::new(sealed.to_owned(), ttl));
        Ok(())
    }

    async fn get_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<Option<String>> {
        let key = (user.clone(), slot.to_owned());
        Ok(self.lock().enrollments.get(&key).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<()> {
        self.lock().enrollments.remove(&(user.clone(), slot.to_owned()));
        Ok(())
    }

    async fn set_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<()> {
        self.lock().recovery.insert(user.clone(), hashes.iter().cloned().collect());
        Ok(())
    }

    async fn use_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool> {
        Ok(self.lock().recovery.get_mut(user).is_some_and(|codes| codes.remove(hash)))
    }

    async fn recovery_codes_left(&self, user: &UserId) -> StoreResult<usize> {
        Ok(self.lock().recovery.get(user).map_or(0, HashSet::len))
    }
}

#[async_trait]
impl StepStore for MemoryStore {
    async fn put_pending(&self, id: &str, pending: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().pending.insert(id.to_owned(), Expiring::new((pending.clone(), 0), ttl));
        Ok(())
    }

    async fn get_pending(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        Ok(self.lock().pending.get(id).filter(|e| e.live()).map(|e| e.value.0.clone()))
    }

    async fn take_pending_try(&self, id: &str, max_tries: u32) -> StoreResult<Option<(PendingLogin, u32)>> {
        let mut state = self.lock();
        let Some(entry) = state.pending.get_mut(id).filter(|e| e.live()) else { return Ok(None) };
        entry.value.1 += 1;
        let (pending, tries) = entry.value.clone();
        if tries > max_tries {
            state.pending.remove(id);
            return Ok(None);
        }
        Ok(Some((pending, tries)))
    }

    async fn consume_pending(&self, id: &str) -> StoreResult<bool> {
        Ok(self.lock().pending.remove(id).is_some_and(|e| e.live()))
    }

    async fn put_challenge(&self, key: &ChallengeKey, challenge: &SmsChallenge, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().challenges.insert(key.clone(), Expiring::new((challenge.clone(), 0), ttl));
        Ok(())
    }

    async fn get_challenge(&self, key: &ChallengeKey) -> StoreResult<Option<SmsChallenge>> {
        Ok(self.lock().challenges.get(key).filter(|e| e.live()).map(|e| e.value.0.clone()))
    }

    async fn take_challenge_try(&self, key: &ChallengeKey, max_tries: u32) -> StoreResult<Option<(SmsChallenge, u32)>> {
        let mut state = self.lock();
        let Some(entry) = state.challenges.get_mut(key).filter(|e| e.live()) else { return Ok(None) };
        entry.value.1 += 1;
        let (challenge, tries) = entry.value.clone();
        if tries > max_tries {
            state.challenges.remove(key);
            return Ok(None);
        }
        Ok(Some((challenge, tries)))
    }

    async fn delete_challenge(&self, key: &ChallengeKey) -> StoreResult<bool> {
        Ok(self.lock().challenges.remove(key).is_some_and(|e| e.live()))
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn put_auth_code(&self, id: &str, code: &AuthCode, keep_for: Duration) -> StoreResult<()> {
        self.lock_for_write().auth_codes.insert(id.to_owned(), Expiring::new((code.clone(), None), keep_for));
        Ok(())
    }

    async fn exchange_auth_code(
        &self,
        id: &str,
        client_id: &str,
        access_id: &str,
    ) -> StoreResult<Option<CodeExchange>> {
        let mut state = self.lock();
        let Some(entry) = state.auth_codes.get_mut(id).filter(|e| e.live()) else { return Ok(None) };
        if entry.value.0.client_id != client_id {
            return Ok(Some(CodeExchange::WrongClient));
        }
        Ok(Some(match &entry.value.1 {
            Some(issued) => CodeExchange::Reused(Some(issued.clone())),
            None => {
                entry.value.1 = Some(access_id.to_owned());
                CodeExchange::Fresh(Box::new(entry.value.0.clone()))
            }
        }))
    }

    async fn put_access_grant(&self, id: &str, grant: &AccessGrant, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().access.insert(id.to_owned(), Expiring::new(grant.clone(), ttl));
        Ok(())
    }

    async fn get_access_grant(&self, id: &str) -> StoreResult<Option<AccessGrant>> {
        Ok(self.lock().access.get(id).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_access_grant(&self, id: &str) -> StoreResult<()> {
        self.lock().access.remove(id);
        Ok(())
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        Ok(self.lock().clients.get(id).cloned())
    }

    async fn put_client(&self, client: &Client) -> StoreResult<()> {
        self.lock().clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let mut clients: Vec<Client> = self.lock().clients.values().cloned().collect();
        clients.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(clients)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        Ok(self.lock().clients.remove(id).is_some())
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_event(&self, event: &AuditEvent) -> StoreResult<()> {
        let mut state = self.lock();
        state.audit_seq += 1;
        let mut event = event.clone();
        event.id = format!("{}-0", state.audit_seq);
        if let Some(user) = &event.user {
            let log = state.user_audit.entry(user.clone()).or_default();
            log.push_back(event.clone());
            while log.len() > super::USER_AUDIT_CAP {
                log.pop_front();
            }
        }
        state.audit.push_back(event);
        while state.audit.len() > super::GLOBAL_AUDIT_CAP {
            state.audit.pop_front();
        }
        Ok(())
    }

    async fn user_events(&self, user: &UserId, count: usize) -> StoreResult<Vec<AuditEvent>> {
        let state = self.lock();
        Ok(state.user_audit.get(user).map(|log| log.iter().rev().take(count).cloned().collect()).unwrap_or_default())
    }

    async fn global_events(&self, before: Option<&str>, count: usize) -> StoreResult<Vec<AuditEvent>> {
        let seq = |id: &str| id.split('-').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let limit = before.map_or(u64::MAX, seq);
        let state = self.lock();
        Ok(state.audit.iter().rev().filter(|e| seq(&e.id) < limit).take(count).cloned().collect())
    }
}
