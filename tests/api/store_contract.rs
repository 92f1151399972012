//! The store contract: the same checks against the memory store and a real Redis.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use latchkey::crypto::SecretKey;
use latchkey::domain::{Email, LinkToken, LocalPath, RequestOrigin, SessionId, UserId};
use latchkey::store::{Keys, LinkAttempt, MemoryStore, Redemption, RedisStore, SessionRecord, Store};

use crate::helpers::redis_url;

fn redis_store() -> Arc<dyn Store> {
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    Arc::new(RedisStore::connect(&redis_url(), Keys::new(prefix)).unwrap())
}

fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// Runs one contract check against both adapters.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::memory_store()).await; })*
        }
        mod redis {
            $(#[tokio::test] async fn $name() { super::$name(super::redis_store()).await; })*
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
);

fn attempt(email: &str, minutes: i64) -> LinkAttempt {
    let now = Utc::now();
    LinkAttempt {
        email: Email::parse(email).unwrap(),
        return_to: LocalPath::account(),
        requested_from: RequestOrigin::new(Some([127, 0, 0, 1].into()), "test"),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(minutes),
    }
}

fn attempt_id() -> latchkey::domain::AttemptId {
    LinkToken::generate().unwrap().attempt_id(&SecretKey::new(vec![9; 32]).derive().token)
}

const KEEP: Duration = Duration::from_secs(120);

async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

async fn a_pending_attempt_is_peeked_without_being_consumed(store: Arc<dyn Store>) {
    let id = attempt_id();
    let a = attempt("peek@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    for _ in 0..3 {
        assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a.clone())));
    }
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a)));
}

async fn an_attempt_is_redeemed_exactly_once(store: Arc<dyn Store>) {
    let id = attempt_id();
    let a = attempt("once@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a.clone())));
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Used(a.clone())));
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Used(a)));
}

async fn concurrent_redemptions_yield_exactly_one(store: Arc<dyn Store>) {
    let id = attempt_id();
    store.put_attempt(&id, &attempt("race@example.com", 15), KEEP).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
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

async fn an_expired_attempt_is_not_redeemed(store: Arc<dyn Store>) {
    let id = attempt_id();
    let a = attempt("late@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    let later = a.expires_at + chrono::Duration::seconds(1);
    assert_eq!(store.redeem_attempt(&id, later).await.unwrap(), Some(Redemption::Expired(a.clone())));
    // Refusing an expired attempt does not consume it: it still reads as expired, not used.
    assert_eq!(store.peek_attempt(&id, later).await.unwrap(), Some(Redemption::Expired(a)));
}

async fn an_unknown_attempt_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.peek_attempt(&attempt_id(), Utc::now()).await.unwrap(), None);
    assert_eq!(store.redeem_attempt(&attempt_id(), Utc::now()).await.unwrap(), None);
}

async fn users_are_created_once_per_address(store: Arc<dyn Store>) {
    let email = Email::parse("user@example.com").unwrap();
    let first = store.find_or_create_user("lookup-a", &email, Utc::now()).await.unwrap();
    let again = store.find_or_create_user("lookup-a", &email, Utc::now()).await.unwrap();
    assert_eq!(first, again);
    let other =
        store.find_or_create_user("lookup-b", &Email::parse("b@example.com").unwrap(), Utc::now()).await.unwrap();
    assert_ne!(first.id, other.id);

    // Racing first sign-ins agree on one id.
    let email = Email::parse("race@example.com").unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, email) = (store.clone(), email.clone());
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

async fn sessions_are_allow_listed_until_deleted(store: Arc<dyn Store>) {
    let user = UserId::generate().unwrap();
    let record = SessionRecord {
        user_id: user.clone(),
        sid: SessionId::generate().unwrap(),
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        origin: RequestOrigin::new(None, "test"),
        amr: vec!["email".into()],
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
