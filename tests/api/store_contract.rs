//! The store contract: the same checks against the memory store and a real Redis.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use latchkey::crypto::SecretKey;
use latchkey::domain::{Email, LinkToken, LocalPath, RequestOrigin, SessionId, UserId};
use latchkey::store::{Keys, LinkAttempt, MemoryStore, RateKey, Redemption, RedisStore, SessionRecord, Store};

use crate::helpers::redis_url;

/// Two handles on one store: for Redis, separate connections (as two instances would have).
type Pair = (Arc<dyn Store>, Arc<dyn Store>);

fn redis_stores() -> Pair {
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let open = || -> Arc<dyn Store> { Arc::new(RedisStore::connect(&redis_url(), Keys::new(prefix.clone())).unwrap()) };
    (open(), open())
}

fn memory_stores() -> Pair {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    (store.clone(), store)
}

/// Runs one contract check against both adapters.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::memory_stores()).await; })*
        }
        mod redis {
            $(#[tokio::test] async fn $name() { super::$name(super::redis_stores()).await; })*
        }
    };
}

contract!(
    ping_answers,
    a_pending_attempt_is_peeked_without_being_consumed,
    an_attempt_is_redeemed_exactly_once,
    concurrent_redemptions_yield_exactly_one,
    an_expired_attempt_is_not_redeemed,
    an_unknown_attempt_is_none,
    users_are_created_once_per_address,
    sessions_are_allow_listed_until_deleted,
    code_tries_are_spent_before_checking_and_the_last_kills,
    a_killed_attempt_is_dead_for_link_and_code,
    link_generations_supersede_and_advance_only_from_the_expected_value,
    rate_counters_count_within_a_window,
    every_session_of_a_user_is_listed_and_ended_together,
    touching_a_session_keeps_it_and_never_revives_an_ended_one,
);

fn attempt(email: &str, minutes: i64) -> LinkAttempt {
    let now = Utc::now();
    LinkAttempt {
        email: Email::parse(email).unwrap(),
        return_to: LocalPath::account(),
        requested_from: RequestOrigin::new(Some([127, 0, 0, 1].into()), "test"),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(minutes),
        browser: "browser-proof".into(),
        code: "code-hash".into(),
        email_lookup: "lookup".into(),
        generation: 1,
        require_second_factor: false,
    }
}

fn attempt_id() -> latchkey::domain::AttemptId {
    LinkToken::generate().unwrap().attempt_id(&SecretKey::new(vec![9; 32]).derive().token)
}

const KEEP: Duration = Duration::from_secs(120);

async fn ping_answers((store, _): Pair) {
    store.ping().await.unwrap();
}

async fn a_pending_attempt_is_peeked_without_being_consumed((store, _): Pair) {
    let id = attempt_id();
    let a = attempt("peek@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    for _ in 0..3 {
        assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a.clone())));
    }
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a)));
}

async fn an_attempt_is_redeemed_exactly_once((store, _): Pair) {
    let id = attempt_id();
    let a = attempt("once@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a.clone())));
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Used(a.clone())));
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Used(a)));
}

async fn concurrent_redemptions_yield_exactly_one((store, other): Pair) {
    let id = attempt_id();
    store.put_attempt(&id, &attempt("race@example.com", 15), KEEP).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = if i % 2 == 0 { store.clone() } else { other.clone() };
            let id = id.clone();
            tokio::spawn(async move { store.redeem_attempt(&id, Utc::now()).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if let Some(Redemption::Valid(_)) = task.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn an_expired_attempt_is_not_redeemed((store, _): Pair) {
    let id = attempt_id();
    let a = attempt("late@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    let later = a.expires_at + chrono::Duration::seconds(1);
    assert_eq!(store.redeem_attempt(&id, later).await.unwrap(), Some(Redemption::Expired(a.clone())));
    // Refusing an expired attempt does not consume it: it still reads as expired, not used.
    assert_eq!(store.peek_attempt(&id, later).await.unwrap(), Some(Redemption::Expired(a)));
}

async fn an_unknown_attempt_is_none((store, _): Pair) {
    assert_eq!(store.peek_attempt(&attempt_id(), Utc::now()).await.unwrap(), None);
    assert_eq!(store.redeem_attempt(&attempt_id(), Utc::now()).await.unwrap(), None);
}

async fn users_are_created_once_per_address((store, other): Pair) {
    let email = Email::parse("user@example.com").unwrap();
    let first = store.find_or_create_user("lookup-a", &email, Utc::now()).await.unwrap();
    let again = store.find_or_create_user("lookup-a", &email, Utc::now()).await.unwrap();
    assert_eq!(first, again);
    let stranger =
        store.find_or_create_user("lookup-b", &Email::parse("b@example.com").unwrap(), Utc::now()).await.unwrap();
    assert_ne!(first.id, stranger.id);

    // Racing first sign-ins agree on one id.
    let email = Email::parse("race@example.com").unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { store.clone() } else { other.clone() };
            let email = email.clone();
            tokio::spawn(async move { store.find_or_create_user("lookup-race", &email, Utc::now()).await.unwrap().id })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

async fn sessions_are_allow_listed_until_deleted((store, _): Pair) {
    let user = UserId::generate().unwrap();
    let record = SessionRecord {
        user_id: user.clone(),
        sid: SessionId::generate().unwrap(),
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        origin: RequestOrigin::new(None, "test"),
        amr: vec!["email".into()],
        last_seen_at: Utc::now(),
    };
    assert_eq!(store.get_session(&user, &record.sid).await.unwrap(), None);
    store.put_session(&record, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(store.get_session(&user, &record.sid).await.unwrap(), Some(record.clone()));
    let stranger = UserId::generate().unwrap();
    assert_eq!(store.get_session(&stranger, &record.sid).await.unwrap(), None, "sid must be bound to its user");
    assert!(store.delete_session(&user, &record.sid).await.unwrap());
    assert_eq!(store.get_session(&user, &record.sid).await.unwrap(), None);
    assert!(!store.delete_session(&user, &record.sid).await.unwrap());
}

async fn code_tries_are_spent_before_checking_and_the_last_kills((store, other): Pair) {
    let id = attempt_id();
    let a = attempt("tries@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    for n in 1..=5 {
        let s = if n % 2 == 0 { &store } else { &other };
        assert_eq!(s.take_code_try(&id, Utc::now(), 5).await.unwrap(), Some((Redemption::Valid(a.clone()), n)));
    }
    assert_eq!(store.take_code_try(&id, Utc::now(), 5).await.unwrap(), Some((Redemption::Dead(a.clone()), 6)));
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Dead(a)));
}

async fn a_killed_attempt_is_dead_for_link_and_code((store, _): Pair) {
    let id = attempt_id();
    let a = attempt("kill@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    store.kill_attempt(&id).await.unwrap();
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Dead(a.clone())));
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Dead(a.clone())));
    assert!(matches!(store.take_code_try(&id, Utc::now(), 5).await.unwrap(), Some((Redemption::Dead(_), _))));
    // Killing a used attempt leaves it used.
    let used = attempt_id();
    store.put_attempt(&used, &a, KEEP).await.unwrap();
    store.redeem_attempt(&used, Utc::now()).await.unwrap();
    store.kill_attempt(&used).await.unwrap();
    assert_eq!(store.peek_attempt(&used, Utc::now()).await.unwrap(), Some(Redemption::Used(a)));
}

async fn link_generations_supersede_and_advance_only_from_the_expected_value((store, other): Pair) {
    assert_eq!(store.link_generation("gen", false).await.unwrap(), 0);
    assert_eq!(store.link_generation("gen", true).await.unwrap(), 1);
    assert_eq!(other.link_generation("gen", true).await.unwrap(), 2);
    assert_eq!(store.link_generation("gen", false).await.unwrap(), 2);
    assert!(!store.advance_generation("gen", 1).await.unwrap(), "a superseded generation advanced");
    assert!(store.advance_generation("gen", 2).await.unwrap());
    assert!(!other.advance_generation("gen", 2).await.unwrap(), "two sign-ins won one generation");
    assert_eq!(other.link_generation("gen", false).await.unwrap(), 3);
    assert!(store.advance_generation("fresh", 0).await.unwrap());
}

async fn rate_counters_count_within_a_window((store, other): Pair) {
    let key = RateKey { action: "test", subject: "subject".into() };
    let window = Duration::from_secs(60);
    assert_eq!(store.hit_limit(&key, window, 0).await.unwrap().0, 0);
    assert_eq!(store.hit_limit(&key, window, 1).await.unwrap().0, 1);
    let (count, left) = other.hit_limit(&key, window, 1).await.unwrap();
    assert_eq!(count, 2);
    assert!(left <= window && left > Duration::from_secs(50), "{left:?}");
    assert_eq!(store.hit_limit(&key, window, 0).await.unwrap().0, 2);
    let other_key = RateKey { action: "test", subject: "someone-else".into() };
    assert_eq!(store.hit_limit(&other_key, window, 1).await.unwrap().0, 1);
}

fn session_for(user: &UserId) -> SessionRecord {
    SessionRecord {
        user_id: user.clone(),
        sid: SessionId::generate().unwrap(),
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        origin: RequestOrigin::new(None, "test"),
        amr: vec!["email".into()],
        last_seen_at: Utc::now(),
    }
}

async fn every_session_of_a_user_is_listed_and_ended_together((store, other): Pair) {
    let user = UserId::generate().unwrap();
    let bystander = UserId::generate().unwrap();
    let sessions: Vec<_> = (0..3).map(|_| session_for(&user)).collect();
    for s in &sessions {
        store.put_session(s, Duration::from_secs(3600)).await.unwrap();
    }
    let theirs = session_for(&bystander);
    store.put_session(&theirs, Duration::from_secs(3600)).await.unwrap();
    let mut listed: Vec<_> = other.list_sessions(&user).await.unwrap().into_iter().map(|s| s.sid).collect();
    let mut expected: Vec<_> = sessions.iter().map(|s| s.sid.clone()).collect();
    listed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(listed, expected);
    assert_eq!(other.delete_all_sessions(&user).await.unwrap(), 3);
    for s in &sessions {
        assert_eq!(store.get_session(&user, &s.sid).await.unwrap(), None);
    }
    assert!(store.list_sessions(&user).await.unwrap().is_empty());
    assert_eq!(store.get_session(&bystander, &theirs.sid).await.unwrap(), Some(theirs), "another user lost a session");
}

async fn touching_a_session_keeps_it_and_never_revives_an_ended_one((store, _): Pair) {
    let user = UserId::generate().unwrap();
    let mut s = session_for(&user);
    store.put_session(&s, Duration::from_secs(3600)).await.unwrap();
    s.last_seen_at += chrono::Duration::minutes(5);
    store.touch_session(&s).await.unwrap();
    assert_eq!(store.get_session(&user, &s.sid).await.unwrap(), Some(s.clone()));
    store.delete_session(&user, &s.sid).await.unwrap();
    store.touch_session(&s).await.unwrap();
    assert_eq!(store.get_session(&user, &s.sid).await.unwrap(), None, "touch revived an ended session");
}
