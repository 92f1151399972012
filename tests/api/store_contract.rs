//! The store contract: the same checks against the memory store, a real Redis, a real
//! Redis Cluster of three masters, and the master three real Sentinels name (with a replica,
//! so every critical write waits for its acknowledgement).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use latchkey::crypto::SecretKey;
use latchkey::domain::{
    AuditEvent, Client, ClientKind, Email, EventKind, LinkToken, LocalPath, RequestOrigin, SessionId, SignInPolicy,
    UserId,
};
use latchkey::store::{
    AccessGrant, AuthCode, ChallengeKey, CodeExchange, EmailMoveSource, EmailMoved, EmailRevert, Keys, LimitHit,
    LinkAttempt, MemoryStore, PendingEmailChange, PendingLogin, RateKey, Redemption, RedisConnector, RedisStore,
    RefreshFamily, Report, Rotation, SecondFactors, SessionRecord, SmsChallenge, Store, StoreIdentity, User,
    new_link_generation,
};

use crate::helpers::{cluster_urls, init_process, redis_url};

/// Two handles on one store: for Redis, separate connections (as two instances would have).
type Pair = (Arc<dyn Store>, Arc<dyn Store>);

fn redis_stores() -> Pair {
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let open = || -> Arc<dyn Store> { Arc::new(RedisStore::connect(&redis_url(), Keys::new(prefix.clone())).unwrap()) };
    (open(), open())
}

fn cluster_stores() -> Pair {
    init_process();
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let open = || -> Arc<dyn Store> {
        let connector = RedisConnector::cluster(&cluster_urls(), None).unwrap();
        assert!(connector.is_cluster());
        Arc::new(RedisStore::new(connector, Keys::new(prefix.clone())).unwrap())
    };
    (open(), open())
}

fn sentinel_stores() -> Pair {
    init_process();
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let urls = crate::helpers::sentinel::shared_sentinel_urls();
    let open = || -> Arc<dyn Store> {
        let urls: Vec<&str> = urls.split(',').collect();
        let connector = RedisConnector::sentinel(&urls, crate::helpers::sentinel::MASTER_NAME, None).unwrap();
        Arc::new(RedisStore::new(connector, Keys::new(prefix.clone())).unwrap())
    };
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
        mod cluster {
            $(#[tokio::test] async fn $name() { super::$name(super::cluster_stores()).await; })*
        }
        mod sentinel {
            $(#[tokio::test] async fn $name() { super::$name(super::sentinel_stores()).await; })*
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
    rate_counters_counted_in_order_stop_at_the_first_refusal,
    every_session_of_a_user_is_listed_and_ended_together,
    touching_a_session_keeps_it_and_never_revives_an_ended_one,
    clients_are_registered_listed_and_removed_with_their_index,
    events_reach_the_global_log_and_their_users_log,
    recovery_codes_are_replaced_in_one_step_and_used_once,
    second_factor_steps_and_sms_codes_count_their_tries,
    an_authorization_code_is_exchanged_once_by_its_client,
    devices_are_counted_as_they_are_added,
    the_identity_is_written_once_unless_replaced,
    a_restore_voids_live_state_and_keeps_accounts_factors_and_clients,
    a_blocked_user_is_what_every_handle_finds,
    a_block_keeps_what_is_written_to_the_record_at_the_same_time,
    the_apps_a_user_signed_in_to_are_kept_once_each,
    a_report_link_is_peeked_freely_taken_once_and_expires,
    the_policy_is_seeded_once_and_then_replaced,
    a_totp_step_is_accepted_once_and_never_an_earlier_one,
    a_totp_enrollment_is_kept_per_slot_until_ended_or_expired,
    an_sms_code_is_read_without_spending_a_try,
    an_access_grant_lives_until_revoked_or_expired,
    events_appended_evenly_reach_the_same_logs,
    the_apps_of_a_session_are_kept_while_it_lives_and_taken_once,
    number_guesses_are_counted_before_checking_and_never_revive_an_attempt,
    an_attempt_is_approved_once_and_finished_once_by_its_browser,
    concurrent_approvals_and_finishes_yield_exactly_one_each,
    an_approval_expires_with_its_link,
    a_refresh_family_rotates_and_a_spent_token_revokes_it,
    concurrent_rotations_with_one_refresh_token_yield_exactly_one,
    every_refresh_family_of_a_user_is_revoked_together,
    a_users_refresh_families_are_listed_and_no_one_elses,
    a_refresh_family_ends_with_its_ttl,
    deleting_a_user_removes_every_key_of_theirs_and_frees_the_address,
    a_passkey_ceremony_is_taken_once_and_expires,
    a_passkey_counter_only_moves_forward,
    passkeys_are_second_factors_the_record_knows,
    a_factors_write_based_on_an_older_read_is_refused,
    a_suppression_is_kept_replaced_cleared_and_expires,
    a_change_of_address_waits_counts_its_tries_and_a_newer_one_replaces_it,
    an_address_moves_once_spending_its_link_and_never_onto_another_account,
    a_revert_link_moves_the_address_back_once_and_voids_the_others,
    a_passkey_user_handle_names_its_account_until_the_account_goes,
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
        number: None,
    }
}

fn numbered(email: &str, minutes: i64) -> LinkAttempt {
    LinkAttempt { number: latchkey::domain::MatchNumber::parse("47"), ..attempt(email, minutes) }
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
        factor_at: None,
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
    assert_eq!(store.link_generation("gen").await.unwrap(), 0);
    let (first, second) = (new_link_generation(), new_link_generation());
    assert_ne!(first, second);
    store.supersede_links("gen", first).await.unwrap();
    other.supersede_links("gen", second).await.unwrap();
    assert_eq!(store.link_generation("gen").await.unwrap(), second);
    assert!(!store.advance_generation("gen", first).await.unwrap(), "a superseded generation advanced");
    assert!(store.advance_generation("gen", second).await.unwrap());
    assert!(!other.advance_generation("gen", second).await.unwrap(), "two sign-ins won one generation");
    assert_eq!(other.link_generation("gen").await.unwrap(), second + 1);
    assert!(store.advance_generation("fresh", 0).await.unwrap());
    // The largest a generation can be, and its `+ 1`, read back exactly.
    store.supersede_links("top", 9_999_999_999_999).await.unwrap();
    assert!(other.advance_generation("top", 9_999_999_999_999).await.unwrap());
    assert_eq!(store.link_generation("top").await.unwrap(), 10_000_000_000_000);
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

async fn rate_counters_counted_in_order_stop_at_the_first_refusal((store, other): Pair) {
    let key = |name: &str| RateKey { action: "test", subject: name.to_owned() };
    let (network, pair, mailbox) = (key("network"), key("pair"), key("mailbox"));
    let window = Duration::from_secs(60);
    fn hit(key: &RateKey, max: u64) -> LimitHit<'_> {
        LimitHit { key, window: Duration::from_secs(60), max }
    }
    let count = |store: Arc<dyn Store>, key: RateKey| async move { store.hit_limit(&key, window, 0).await.unwrap().0 };

    let hits = [hit(&network, 1), hit(&pair, 5), hit(&mailbox, 5)];
    assert_eq!(store.hit_limits(&hits).await.unwrap(), None);
    let over = other.hit_limits(&hits).await.unwrap().expect("the second hit on a limit of one was allowed");
    assert_eq!((over.index, over.count), (0, 2));
    assert!(over.left <= window && over.left > Duration::from_secs(50), "{:?}", over.left);
    assert_eq!(count(store.clone(), network.clone()).await, 2);
    assert_eq!(count(store.clone(), pair.clone()).await, 1, "a counter after the refusal was counted");
    assert_eq!(count(store.clone(), mailbox.clone()).await, 1, "a counter after the refusal was counted");

    // A refusal in the middle: the counter before it is counted, the one after it is not.
    let (before, middle, after) = (key("before"), key("middle"), key("after"));
    let hits = [hit(&before, 100), hit(&middle, 1), hit(&after, 100)];
    assert_eq!(store.hit_limits(&hits).await.unwrap(), None);
    let over = other.hit_limits(&hits).await.unwrap().expect("the second hit on a limit of one was allowed");
    assert_eq!((over.index, over.count), (1, 2));
    assert_eq!(count(store.clone(), before).await, 2);
    assert_eq!(count(store.clone(), after).await, 1, "the counter after the refusal was counted");

    // A burst on two handles: of 16 requests at once, the mailbox's limit of 3 lets 3 through,
    // and only those 3 reach the counter after it.
    let (first, then) = (key("burst-first"), key("burst-then"));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { store.clone() } else { other.clone() };
            let (first, then) = (first.clone(), then.clone());
            tokio::spawn(async move { store.hit_limits(&[hit(&first, 3), hit(&then, 100)]).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|over| over.is_none()).count(), 3, "{outcomes:?}");
    let mut refused: Vec<u64> = outcomes.iter().flatten().map(|over| over.count).collect();
    refused.sort_unstable();
    assert_eq!(refused, (4..=16).collect::<Vec<u64>>(), "each refusal saw its own count");
    assert!(outcomes.iter().flatten().all(|over| over.index == 0));
    assert_eq!(count(store.clone(), first).await, 16);
    assert_eq!(count(store.clone(), then).await, 3, "refused requests reached the counter after the refusal");
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
        factor_at: None,
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

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: format!("App {id}"),
        redirect_uris: vec![format!("https://{id}.example/cb")],
        post_logout_redirect_uris: Vec::new(),
        kind: ClientKind::Public,
        scopes: vec!["openid".into()],
        require_second_factor: false,
        require_phishing_resistant: false,
        max_session_age_secs: None,
        webhook_url: None,
        id_token_signed_response_alg: latchkey::session::SigningAlg::EdDsa,
        refresh_token_ttl_secs: None,
        backchannel_logout_uri: None,
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        allowed_cors_origins: Vec::new(),
        webhook_secret: None,
        webhook_secret_sealed: None,
    }
}

async fn clients_are_registered_listed_and_removed_with_their_index((store, other): Pair) {
    assert!(store.list_clients().await.unwrap().is_empty());
    store.put_client(&client("beta")).await.unwrap();
    store.put_client(&client("alpha")).await.unwrap();
    let ids: Vec<_> = other.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(other.get_client("alpha").await.unwrap().map(|c| c.name), Some("App alpha".to_owned()));
    assert!(other.delete_client("alpha").await.unwrap());
    assert!(!store.delete_client("alpha").await.unwrap());
    assert_eq!(store.get_client("alpha").await.unwrap().map(|c| c.id), None);
    let ids: Vec<_> = store.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["beta"]);
}

fn event(kind: EventKind, user: Option<&UserId>, detail: &str) -> AuditEvent {
    AuditEvent {
        id: String::new(),
        at: Utc::now().to_rfc3339(),
        kind,
        user: user.cloned(),
        ip: "127.0.0.1".into(),
        browser: "test".into(),
        detail: detail.into(),
    }
}

async fn events_reach_the_global_log_and_their_users_log((store, other): Pair) {
    let user = UserId::generate().unwrap();
    store.append_event(&event(EventKind::LinkRequested, None, "first")).await.unwrap();
    store.append_event(&event(EventKind::LinkOpened, Some(&user), "second")).await.unwrap();
    other.append_event(&event(EventKind::LinkFailed, Some(&user), "third")).await.unwrap();
    let details = |events: Vec<AuditEvent>| events.into_iter().map(|e| e.detail).collect::<Vec<_>>();
    assert_eq!(details(other.global_events(None, 10).await.unwrap()), ["third", "second", "first"]);
    assert_eq!(details(store.user_events(&user, 10).await.unwrap()), ["third", "second"]);
    let newest = store.global_events(None, 1).await.unwrap();
    assert_eq!(details(store.global_events(Some(&newest[0].id), 10).await.unwrap()), ["second", "first"]);
    assert!(store.user_events(&UserId::generate().unwrap(), 10).await.unwrap().is_empty());
}

async fn recovery_codes_are_replaced_in_one_step_and_used_once((store, other): Pair) {
    let user = UserId::generate().unwrap();
    store.set_recovery_codes(&user, &["a".into(), "b".into()]).await.unwrap();
    assert_eq!(other.recovery_codes_left(&user).await.unwrap(), 2);
    store.set_recovery_codes(&user, &["c".into(), "d".into(), "e".into()]).await.unwrap();
    assert!(!other.use_recovery_code(&user, "a").await.unwrap(), "an old code survived regeneration");
    assert!(other.use_recovery_code(&user, "c").await.unwrap());
    assert!(!store.use_recovery_code(&user, "c").await.unwrap(), "a recovery code worked twice");
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 2);
    store.set_recovery_codes(&user, &[]).await.unwrap();
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 0);
}

async fn second_factor_steps_and_sms_codes_count_their_tries((store, other): Pair) {
    let user = User {
        id: UserId::generate().unwrap(),
        email: Email::parse("step@example.com").unwrap(),
        created_at: Utc::now(),
        blocked: false,
        factor_kinds: Default::default(),
    };
    let pending = PendingLogin {
        user: user.clone(),
        return_to: LocalPath::account(),
        origin: RequestOrigin::new(None, "test"),
        created_at: Utc::now(),
        must_enroll: false,
        passkey_required: false,
    };
    let id = latchkey::crypto::random_token::<9>().unwrap();
    store.put_pending(&id, &pending, KEEP).await.unwrap();
    assert_eq!(other.take_pending_try(&id, 2).await.unwrap(), Some((pending.clone(), 1)));
    assert_eq!(store.take_pending_try(&id, 2).await.unwrap(), Some((pending.clone(), 2)));
    assert_eq!(other.take_pending_try(&id, 2).await.unwrap(), None, "a third try on a limit of two");
    assert_eq!(store.get_pending(&id).await.unwrap(), None, "the step outlived its last try");

    store.put_pending(&id, &pending, KEEP).await.unwrap();
    let key = ChallengeKey::Login(id.clone());
    let challenge = SmsChallenge {
        code: "code-hash".into(),
        phone: None,
        sent_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
    };
    store.put_challenge(&key, &challenge, KEEP).await.unwrap();
    assert_eq!(other.take_challenge_try(&key, 5).await.unwrap(), Some((challenge.clone(), 1)));
    // A new code replaces the old one and starts its tries again.
    store.put_challenge(&key, &challenge, KEEP).await.unwrap();
    assert_eq!(other.take_challenge_try(&key, 5).await.unwrap(), Some((challenge.clone(), 1)));
    assert!(other.delete_challenge(&key).await.unwrap());
    assert!(!store.delete_challenge(&key).await.unwrap());
    assert!(store.consume_pending(&id).await.unwrap());
    assert!(!other.consume_pending(&id).await.unwrap(), "a pending step was consumed twice");
}

async fn an_authorization_code_is_exchanged_once_by_its_client((store, other): Pair) {
    let code = AuthCode {
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        user_id: UserId::generate().unwrap(),
        email: Email::parse("code@example.com").unwrap(),
        sid: SessionId::generate().unwrap(),
        nonce: None,
        code_challenge: None,
        scope: "openid".into(),
        auth_time: Utc::now().timestamp(),
        amr: vec!["email".into()],
        expires_at: Utc::now() + chrono::Duration::seconds(60),
    };
    store.put_auth_code("code-1", &code, KEEP).await.unwrap();
    assert_eq!(other.exchange_auth_code("code-1", "stranger", "x").await.unwrap(), Some(CodeExchange::WrongClient));
    assert_eq!(
        other.exchange_auth_code("code-1", "app", "access-1").await.unwrap(),
        Some(CodeExchange::Fresh(Box::new(code)))
    );
    assert_eq!(
        store.exchange_auth_code("code-1", "app", "access-2").await.unwrap(),
        Some(CodeExchange::Reused(Some("access-1".into())))
    );
    assert_eq!(store.exchange_auth_code("unknown", "app", "access-3").await.unwrap(), None);
}

async fn devices_are_counted_as_they_are_added((store, other): Pair) {
    let user = UserId::generate().unwrap();
    assert_eq!(store.add_device(&user, "laptop").await.unwrap(), (true, 0));
    assert_eq!(other.add_device(&user, "phone").await.unwrap(), (true, 1));
    assert_eq!(store.add_device(&user, "laptop").await.unwrap(), (false, 2));
    other.remove_device(&user, "laptop").await.unwrap();
    assert_eq!(store.add_device(&user, "laptop").await.unwrap(), (true, 1));
    // The language of the latest sign-in: the last one set.
    assert_eq!(store.user_lang(&user).await.unwrap(), None);
    store.set_user_lang(&user, "de").await.unwrap();
    other.set_user_lang(&user, "ja").await.unwrap();
    assert_eq!(store.user_lang(&user).await.unwrap().as_deref(), Some("ja"));
}

async fn the_identity_is_written_once_unless_replaced((store, other): Pair) {
    assert_eq!(store.get_identity().await.unwrap(), None);
    let first = StoreIdentity::generate(Utc::now()).unwrap();
    let second = StoreIdentity::generate(Utc::now()).unwrap();
    assert!(store.put_identity(&first, true).await.unwrap());
    assert!(!other.put_identity(&second, true).await.unwrap(), "a second identity replaced the first");
    assert_eq!(other.get_identity().await.unwrap(), Some(first));
    assert!(other.put_identity(&second, false).await.unwrap());
    assert_eq!(store.get_identity().await.unwrap(), Some(second));
}

async fn a_restore_voids_live_state_and_keeps_accounts_factors_and_clients((store, other): Pair) {
    let user =
        store.find_or_create_user("restore-lookup", &Email::parse("r@example.com").unwrap(), Utc::now()).await.unwrap();
    let factors = SecondFactors { totp: Some("sealed".into()), ..Default::default() };
    assert!(store.put_factors(&user.id, &factors).await.unwrap());
    let found = other.find_user("restore-lookup").await.unwrap().unwrap();
    assert!(found.factor_kinds.totp && !found.factor_kinds.phone, "the record does not know its factors: {found:?}");
    store.put_client(&client("kept")).await.unwrap();
    // Sessions of several users, so that on a cluster they sit on several nodes.
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let record = SessionRecord {
            user_id: UserId::generate().unwrap(),
            sid: SessionId::generate().unwrap(),
            created_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            origin: RequestOrigin::new(None, "test"),
            amr: vec!["email".into()],
            last_seen_at: Utc::now(),
            factor_at: None,
        };
        store.put_session(&record, Duration::from_secs(3600)).await.unwrap();
        sessions.push(record);
    }
    let id = attempt_id();
    store.put_attempt(&id, &attempt("restore@example.com", 15), KEEP).await.unwrap();
    let pending = PendingLogin {
        user: user.clone(),
        return_to: LocalPath::account(),
        origin: RequestOrigin::new(None, "test"),
        created_at: Utc::now(),
        must_enroll: false,
        passkey_required: false,
    };
    store.put_pending("restore-step", &pending, KEEP).await.unwrap();

    assert!(store.add_session_client(&sessions[0].user_id, &sessions[0].sid, "told").await.unwrap());
    store.put_passkey_ceremony("restore-ceremony", &ceremony(&user.id), KEEP).await.unwrap();

    let voided = other.void_live_state().await.unwrap();
    assert!(voided >= 10, "voided only {voided}");
    assert_eq!(store.take_passkey_ceremony("restore-ceremony").await.unwrap(), None, "a passkey ceremony survived");
    assert!(
        store.take_session_clients(&sessions[0].user_id, &sessions[0].sid).await.unwrap().is_empty(),
        "the apps of a voided session survived"
    );
    for record in &sessions {
        assert_eq!(store.get_session(&record.user_id, &record.sid).await.unwrap(), None, "a session survived");
        assert!(store.list_sessions(&record.user_id).await.unwrap().is_empty());
    }
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), None, "a link survived");
    assert_eq!(store.get_pending("restore-step").await.unwrap(), None, "a second-factor step survived");
    assert_eq!(store.find_user("restore-lookup").await.unwrap().map(|u| u.id), Some(user.id.clone()));
    assert_eq!(store.get_factors(&user.id).await.unwrap(), SecondFactors { revision: 1, ..factors });
    assert!(store.get_client("kept").await.unwrap().is_some(), "a client went");
}

async fn the_apps_of_a_session_are_kept_while_it_lives_and_taken_once((store, other): Pair) {
    let user = UserId::generate().unwrap();
    let session = session_for(&user);
    let sid = &session.sid;
    assert!(!store.add_session_client(&user, sid, "wiki").await.unwrap(), "recorded for a session that never was");
    assert!(other.take_session_clients(&user, sid).await.unwrap().is_empty());
    store.put_session(&session, Duration::from_secs(3600)).await.unwrap();
    assert!(store.add_session_client(&user, sid, "wiki").await.unwrap());
    assert!(other.add_session_client(&user, sid, "chat").await.unwrap());
    assert!(store.add_session_client(&user, sid, "wiki").await.unwrap());
    let bystander = session_for(&user);
    store.put_session(&bystander, Duration::from_secs(3600)).await.unwrap();
    assert!(store.add_session_client(&user, &bystander.sid, "other").await.unwrap());
    let mut taken = other.take_session_clients(&user, sid).await.unwrap();
    taken.sort();
    assert_eq!(taken, ["chat", "wiki"]);
    assert!(store.take_session_clients(&user, sid).await.unwrap().is_empty(), "taken twice");
    assert_eq!(store.take_session_clients(&user, &bystander.sid).await.unwrap(), ["other"], "sessions mixed up");
    // Once the session has ended nothing more is recorded for it.
    store.delete_session(&user, sid).await.unwrap();
    assert!(!other.add_session_client(&user, sid, "late").await.unwrap());
    assert!(store.take_session_clients(&user, sid).await.unwrap().is_empty());
    // The record expires with its session.
    let short = session_for(&user);
    store.put_session(&short, Duration::from_secs(1)).await.unwrap();
    assert!(store.add_session_client(&user, &short.sid, "wiki").await.unwrap());
    tokio::time::sleep(PAST_A_SECOND).await;
    assert!(other.take_session_clients(&user, &short.sid).await.unwrap().is_empty(), "outlived its session");
}

/// Longer than the one-second TTLs below, which is the shortest a Redis TTL can be.
const PAST_A_SECOND: Duration = Duration::from_millis(1500);

async fn a_blocked_user_is_what_every_handle_finds((store, other): Pair) {
    let email = Email::parse("rewrite@example.com").unwrap();
    let mut user = store.find_or_create_user("lookup-rewrite", &email, Utc::now()).await.unwrap();
    assert!(!user.blocked);
    assert_eq!(store.set_blocked("lookup-rewrite", true).await.unwrap(), Some((user.id.clone(), true)));
    user.blocked = true;
    assert_eq!(other.find_user("lookup-rewrite").await.unwrap(), Some(user.clone()));
    assert_eq!(other.find_or_create_user("lookup-rewrite", &email, Utc::now()).await.unwrap(), user);
    // Blocking again changes nothing; nobody is blocked at an address without an account.
    assert_eq!(other.set_blocked("lookup-rewrite", true).await.unwrap(), Some((user.id.clone(), false)));
    assert_eq!(other.set_blocked("lookup-nobody", true).await.unwrap(), None);
    assert_eq!(other.find_user("lookup-nobody").await.unwrap(), None);
    // Lifted eight times at once, through both handles: one of them lifted it; then blocked
    // eight times at once: one block is news.
    for blocked in [false, true] {
        let tries: Vec<_> = (0..8)
            .map(|i| {
                let handle = if i % 2 == 0 { store.clone() } else { other.clone() };
                tokio::spawn(async move { handle.set_blocked("lookup-rewrite", blocked).await.unwrap() })
            })
            .collect();
        let mut changed = 0;
        for attempt in tries {
            let (id, news) = attempt.await.unwrap().unwrap();
            assert_eq!(id, user.id);
            changed += usize::from(news);
        }
        assert_eq!(changed, 1, "blocked={blocked}: more than one said it changed the account");
        assert_eq!(store.find_user("lookup-rewrite").await.unwrap().unwrap().blocked, blocked);
    }
    // A deleted account is not brought back by a block.
    assert!(store.delete_user("lookup-rewrite", &user.id).await.unwrap());
    assert_eq!(other.set_blocked("lookup-rewrite", true).await.unwrap(), None);
    assert_eq!(store.get_user(&user.id).await.unwrap(), None);
}

/// An administrator blocks and unblocks on one handle while the other changes the account's
/// factors, which the record lists too: every factor change is still on the record afterwards.
async fn a_block_keeps_what_is_written_to_the_record_at_the_same_time((store, other): Pair) {
    let email = Email::parse("block-race@example.com").unwrap();
    let user = store.find_or_create_user("lookup-block-race", &email, Utc::now()).await.unwrap();
    for round in 0..4 {
        // The blocks go on until the factors' last write is in, so that it races them too.
        let written = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let blocks = {
            let (store, written) = (store.clone(), written.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while i < 16 || !written.load(std::sync::atomic::Ordering::SeqCst) {
                    store.set_blocked("lookup-block-race", i % 2 == 0).await.unwrap();
                    i += 1;
                    // The memory store never waits: let the writer run.
                    tokio::task::yield_now().await;
                }
            })
        };
        let writer = {
            let (other, id, written) = (other.clone(), user.id.clone(), written.clone());
            tokio::spawn(async move {
                for step in 0..8 {
                    loop {
                        let read = other.get_factors(&id).await.unwrap();
                        let totp = (step % 2 == round % 2).then(|| "sealed".to_owned());
                        if other.put_factors(&id, &SecondFactors { totp, ..read }).await.unwrap() {
                            break;
                        }
                    }
                }
                written.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        blocks.await.unwrap();
        writer.await.unwrap();
        store.set_blocked("lookup-block-race", true).await.unwrap();
        let factors = other.get_factors(&user.id).await.unwrap();
        let record = other.find_user("lookup-block-race").await.unwrap().unwrap();
        assert!(record.blocked);
        assert_eq!(record.factor_kinds.totp, factors.totp.is_some(), "round {round}: a factor change was lost");
    }
}

async fn the_apps_a_user_signed_in_to_are_kept_once_each((store, other): Pair) {
    let user = UserId::generate().unwrap();
    assert!(store.user_apps(&user).await.unwrap().is_empty());
    store.add_user_app(&user, "wiki").await.unwrap();
    other.add_user_app(&user, "chat").await.unwrap();
    store.add_user_app(&user, "wiki").await.unwrap();
    let mut apps = other.user_apps(&user).await.unwrap();
    apps.sort();
    assert_eq!(apps, ["chat", "wiki"]);
    assert!(store.user_apps(&UserId::generate().unwrap()).await.unwrap().is_empty(), "apps leaked to a stranger");
}

async fn a_report_link_is_peeked_freely_taken_once_and_expires((store, other): Pair) {
    let report = Report {
        user: UserId::generate().unwrap(),
        email_lookup: "lookup-report".into(),
        device: Some("laptop".into()),
    };
    store.put_report("report-1", &report, KEEP).await.unwrap();
    assert_eq!(other.peek_report("report-1").await.unwrap(), Some(report.clone()));
    assert_eq!(store.peek_report("report-1").await.unwrap(), Some(report.clone()), "peeking used it up");
    assert_eq!(other.take_report("report-1").await.unwrap(), Some(report.clone()));
    assert_eq!(store.take_report("report-1").await.unwrap(), None, "a report link worked twice");
    assert_eq!(store.peek_report("report-1").await.unwrap(), None);

    store.put_report("report-2", &report, Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(PAST_A_SECOND).await;
    assert_eq!(other.peek_report("report-2").await.unwrap(), None, "a report link outlived its TTL");
    assert_eq!(other.take_report("report-2").await.unwrap(), None);
}

async fn the_policy_is_seeded_once_and_then_replaced((store, other): Pair) {
    assert_eq!(store.get_policy().await.unwrap(), None);
    let first = SignInPolicy { version: 1, ..SignInPolicy::default() };
    let second = SignInPolicy { version: 2, supersede: !first.supersede, ..SignInPolicy::default() };
    store.put_policy(&first, true).await.unwrap();
    other.put_policy(&second, true).await.unwrap();
    assert_eq!(other.get_policy().await.unwrap(), Some(first), "seeding replaced a written policy");
    other.put_policy(&second, false).await.unwrap();
    assert_eq!(store.get_policy().await.unwrap(), Some(second));
}

async fn a_totp_step_is_accepted_once_and_never_an_earlier_one((store, other): Pair) {
    let user = UserId::generate().unwrap();
    assert!(store.use_totp_step(&user, 100).await.unwrap());
    assert!(!other.use_totp_step(&user, 100).await.unwrap(), "a TOTP step was accepted twice");
    assert!(!store.use_totp_step(&user, 99).await.unwrap(), "an earlier TOTP step was accepted");
    assert!(other.use_totp_step(&user, 101).await.unwrap());
    assert!(store.use_totp_step(&UserId::generate().unwrap(), 100).await.unwrap(), "steps leaked to a stranger");
}

async fn a_totp_enrollment_is_kept_per_slot_until_ended_or_expired((store, other): Pair) {
    let user = UserId::generate().unwrap();
    assert_eq!(store.get_totp_enrollment(&user, "account").await.unwrap(), None);
    store.put_totp_enrollment(&user, "account", "sealed-a", KEEP).await.unwrap();
    other.put_totp_enrollment(&user, "signin", "sealed-b", KEEP).await.unwrap();
    assert_eq!(other.get_totp_enrollment(&user, "account").await.unwrap().as_deref(), Some("sealed-a"));
    assert_eq!(store.get_totp_enrollment(&user, "signin").await.unwrap().as_deref(), Some("sealed-b"));
    store.put_totp_enrollment(&user, "account", "sealed-c", KEEP).await.unwrap();
    assert_eq!(other.get_totp_enrollment(&user, "account").await.unwrap().as_deref(), Some("sealed-c"));
    other.delete_totp_enrollment(&user, "account").await.unwrap();
    assert_eq!(store.get_totp_enrollment(&user, "account").await.unwrap(), None);
    assert_eq!(store.get_totp_enrollment(&user, "signin").await.unwrap().as_deref(), Some("sealed-b"));

    store.put_totp_enrollment(&user, "signin", "sealed-d", Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(PAST_A_SECOND).await;
    assert_eq!(other.get_totp_enrollment(&user, "signin").await.unwrap(), None, "an enrollment outlived its TTL");
}

async fn an_sms_code_is_read_without_spending_a_try((store, other): Pair) {
    let key = ChallengeKey::PhoneEnrollment(UserId::generate().unwrap());
    assert_eq!(store.get_challenge(&key).await.unwrap(), None);
    let challenge = SmsChallenge {
        code: "code-hash".into(),
        phone: Some("sealed-phone".into()),
        sent_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
    };
    store.put_challenge(&key, &challenge, KEEP).await.unwrap();
    for _ in 0..3 {
        assert_eq!(other.get_challenge(&key).await.unwrap(), Some(challenge.clone()));
    }
    assert_eq!(store.take_challenge_try(&key, 5).await.unwrap(), Some((challenge.clone(), 1)), "a read spent a try");
    assert!(other.delete_challenge(&key).await.unwrap());
    assert_eq!(store.get_challenge(&key).await.unwrap(), None);
}

async fn an_access_grant_lives_until_revoked_or_expired((store, other): Pair) {
    let grant = AccessGrant {
        client_id: "app".into(),
        user_id: UserId::generate().unwrap(),
        email: Email::parse("grant@example.com").unwrap(),
        scope: "openid email".into(),
        sid: SessionId::generate().unwrap(),
        expires_at: Utc::now() + chrono::Duration::minutes(10),
        refresh_family: Some("family-1".into()),
    };
    assert_eq!(store.get_access_grant("access-1").await.unwrap(), None);
    store.put_access_grant("access-1", &grant, KEEP).await.unwrap();
    assert_eq!(other.get_access_grant("access-1").await.unwrap(), Some(grant.clone()));
    other.delete_access_grant("access-1").await.unwrap();
    assert_eq!(store.get_access_grant("access-1").await.unwrap(), None, "a revoked token still has its grant");

    store.put_access_grant("access-2", &grant, Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(PAST_A_SECOND).await;
    assert_eq!(other.get_access_grant("access-2").await.unwrap(), None, "a grant outlived its TTL");
}

async fn events_appended_evenly_reach_the_same_logs((store, other): Pair) {
    let user = UserId::generate().unwrap();
    let detail = latchkey::crypto::random_token::<9>().unwrap();
    store.append_event_evenly(&event(EventKind::LinkRequested, Some(&user), &detail)).await.unwrap();
    other.append_event_evenly(&event(EventKind::LinkRefused, None, &detail)).await.unwrap();
    let mine = other.user_events(&user, 10).await.unwrap();
    assert_eq!(
        mine.iter().map(|e| (e.kind, e.detail.as_str())).collect::<Vec<_>>(),
        [(EventKind::LinkRequested, detail.as_str())]
    );
    let global: Vec<EventKind> = store
        .global_events(None, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.detail == detail)
        .map(|e| e.kind)
        .collect();
    assert_eq!(global, [EventKind::LinkRefused, EventKind::LinkRequested], "newest first, both in the global log");
}

async fn a_suppression_is_kept_replaced_cleared_and_expires((store, other): Pair) {
    use latchkey::store::{Suppression, SuppressionReason};
    let now = Utc::now();
    let entry = |reason, days| Suppression {
        reason,
        source: "smtp".into(),
        masked: "a***@e***.com".into(),
        at: now,
        expires_at: now + chrono::Duration::days(days),
    };
    assert_eq!(store.get_suppression("lookup-s1").await.unwrap(), None);
    let bounce = entry(SuppressionReason::Smtp5xx, 30);
    assert!(store.put_suppression("lookup-s1", &bounce, KEEP).await.unwrap(), "a first entry is new");
    assert_eq!(other.get_suppression("lookup-s1").await.unwrap(), Some(bounce));
    let complaint = entry(SuppressionReason::Complaint, 365);
    assert!(!other.put_suppression("lookup-s1", &complaint, KEEP).await.unwrap(), "a replacement is not new");
    assert_eq!(store.get_suppression("lookup-s1").await.unwrap(), Some(complaint.clone()));
    assert_eq!(store.get_suppression("lookup-s2").await.unwrap(), None, "entries are per address");
    assert!(other.delete_suppression("lookup-s1").await.unwrap());
    assert!(!store.delete_suppression("lookup-s1").await.unwrap(), "cleared twice");
    assert_eq!(store.get_suppression("lookup-s1").await.unwrap(), None);

    store.put_suppression("lookup-s3", &complaint, Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(PAST_A_SECOND).await;
    assert_eq!(other.get_suppression("lookup-s3").await.unwrap(), None, "an entry outlived its TTL");
    assert!(other.put_suppression("lookup-s3", &complaint, KEEP).await.unwrap(), "a lapsed entry is gone");
}

/// Every method of every store trait (and of the outbox queue) is called by a contract test:
/// a method added without one fails here.
#[test]
fn every_store_method_is_called_by_a_contract_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    for (port, suite, at_least) in [
        ("src/store/mod.rs", "tests/api/store_contract.rs", 60),
        ("src/store/queue.rs", "tests/api/outbox_contract.rs", 10),
        ("src/store/refresh.rs", "tests/api/store_contract.rs", 5),
        ("src/store/passkeys.rs", "tests/api/store_contract.rs", 4),
        ("src/store/suppressions.rs", "tests/api/store_contract.rs", 3),
        ("src/store/email_change.rs", "tests/api/store_contract.rs", 6),
    ] {
        let methods = trait_methods(&read(port));
        assert!(methods.len() >= at_least, "only {} methods found in {port}: {methods:?}", methods.len());
        let suite = read(suite);
        let untested: Vec<_> = methods.iter().filter(|(_, method)| !suite.contains(&format!(".{method}("))).collect();
        assert!(untested.is_empty(), "methods of {port} that no test in the contract suite calls: {untested:?}");
    }
}

/// `(trait, method)` for every method declared in a `pub trait` of `source`.
fn trait_methods(source: &str) -> Vec<(String, String)> {
    let mut methods = Vec::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        if let Some(rest) = line.strip_prefix("pub trait ") {
            current = rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().map(str::to_owned);
        } else if line.starts_with('}') {
            current = None;
        } else if let (Some(name), Some(rest)) = (&current, line.trim_start().strip_prefix("async fn ")) {
            let method = rest.split(['(', '<']).next().unwrap_or_default();
            methods.push((name.clone(), method.to_owned()));
        }
    }
    methods
}

async fn number_guesses_are_counted_before_checking_and_never_revive_an_attempt((store, other): Pair) {
    let id = attempt_id();
    let a = numbered("number@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    assert_eq!(store.take_number_try(&id, Utc::now()).await.unwrap(), Some((Redemption::Valid(a.clone()), 1)));
    assert_eq!(other.take_number_try(&id, Utc::now()).await.unwrap(), Some((Redemption::Valid(a.clone()), 2)));
    // Number guesses and code guesses are counted apart.
    assert_eq!(store.take_code_try(&id, Utc::now(), 5).await.unwrap(), Some((Redemption::Valid(a.clone()), 1)));
    store.kill_attempt(&id).await.unwrap();
    assert!(matches!(store.take_number_try(&id, Utc::now()).await.unwrap(), Some((Redemption::Dead(_), _))));
    assert!(!store.approve_attempt(&id, Utc::now()).await.unwrap(), "a dead attempt was approved");
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Dead(a)));
    assert_eq!(store.take_number_try(&attempt_id(), Utc::now()).await.unwrap(), None);
}

async fn an_attempt_is_approved_once_and_finished_once_by_its_browser((store, other): Pair) {
    let id = attempt_id();
    let a = numbered("approve@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    assert!(!store.finish_approved(&id, Utc::now()).await.unwrap(), "a pending attempt was finished");
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Valid(a.clone())));
    assert!(store.approve_attempt(&id, Utc::now()).await.unwrap());
    assert!(!other.approve_attempt(&id, Utc::now()).await.unwrap(), "approved twice");
    assert_eq!(other.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Approved(a.clone())));
    // Approved, it is neither redeemed by a click nor by a code, nor killed.
    assert_eq!(store.redeem_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Approved(a.clone())));
    assert!(matches!(store.take_code_try(&id, Utc::now(), 5).await.unwrap(), Some((Redemption::Approved(_), _))));
    assert!(matches!(store.take_number_try(&id, Utc::now()).await.unwrap(), Some((Redemption::Approved(_), _))));
    store.kill_attempt(&id).await.unwrap();
    assert!(other.finish_approved(&id, Utc::now()).await.unwrap());
    assert!(!store.finish_approved(&id, Utc::now()).await.unwrap(), "finished twice");
    assert_eq!(store.peek_attempt(&id, Utc::now()).await.unwrap(), Some(Redemption::Used(a)));
    assert!(!store.approve_attempt(&attempt_id(), Utc::now()).await.unwrap());
    assert!(!store.finish_approved(&attempt_id(), Utc::now()).await.unwrap());
}

async fn concurrent_approvals_and_finishes_yield_exactly_one_each((store, other): Pair) {
    let id = attempt_id();
    store.put_attempt(&id, &numbered("race-approve@example.com", 15), KEEP).await.unwrap();
    for finish in [false, true] {
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let store = if i % 2 == 0 { store.clone() } else { other.clone() };
                let id = id.clone();
                tokio::spawn(async move {
                    if finish {
                        store.finish_approved(&id, Utc::now()).await.unwrap()
                    } else {
                        store.approve_attempt(&id, Utc::now()).await.unwrap()
                    }
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.unwrap());
        }
        assert_eq!(winners, 1, "finish: {finish}");
    }
}

async fn an_approval_expires_with_its_link((store, _): Pair) {
    let id = attempt_id();
    let a = numbered("late-approve@example.com", 15);
    store.put_attempt(&id, &a, KEEP).await.unwrap();
    let later = a.expires_at + chrono::Duration::seconds(1);
    assert!(!store.approve_attempt(&id, later).await.unwrap(), "an expired attempt was approved");
    assert!(store.approve_attempt(&id, Utc::now()).await.unwrap());
    assert!(!store.finish_approved(&id, later).await.unwrap(), "an expired approval was finished");
    assert_eq!(store.peek_attempt(&id, later).await.unwrap(), Some(Redemption::Expired(a)));
}

fn refresh_family(user: &UserId, id: &str) -> RefreshFamily {
    RefreshFamily {
        id: id.into(),
        user_id: user.clone(),
        email: Email::parse("offline@example.com").unwrap(),
        sid: SessionId::generate().unwrap(),
        client_id: "app".into(),
        scope: "openid offline_access".into(),
        auth_time: Utc::now().timestamp(),
        amr: vec!["email".into()],
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::days(30),
    }
}

async fn a_refresh_family_rotates_and_a_spent_token_revokes_it((store, other): Pair) {
    let user = UserId::generate().unwrap();
    let family = refresh_family(&user, "family-a");
    store.put_refresh_family(&family, "hash-0", KEEP).await.unwrap();
    assert_eq!(other.get_refresh_family(&user, "family-a").await.unwrap(), Some(family.clone()));
    assert_eq!(other.get_refresh_family(&user, "family-b").await.unwrap(), None);
    let rotate = |store: &Arc<dyn Store>, client: &'static str, presented: &'static str, next: &'static str| {
        let (store, user) = (store.clone(), user.clone());
        async move { store.rotate_refresh_token(&user, "family-a", client, presented, next).await.unwrap() }
    };
    // Another client cannot spend (or burn) it, and a token the family never had changes nothing.
    assert_eq!(rotate(&other, "stranger", "hash-0", "x").await, Rotation::WrongClient);
    assert_eq!(rotate(&other, "app", "hash-never", "x").await, Rotation::Unknown);
    assert_eq!(rotate(&other, "app", "hash-0", "hash-1").await, Rotation::Rotated(Box::new(family.clone())));
    assert_eq!(rotate(&store, "app", "hash-1", "hash-2").await, Rotation::Rotated(Box::new(family.clone())));
    // The first token again: the family goes, the newest token with it.
    assert_eq!(rotate(&store, "app", "hash-0", "hash-x").await, Rotation::Reused(Box::new(family.clone())));
    assert_eq!(other.get_refresh_family(&user, "family-a").await.unwrap(), None);
    assert_eq!(rotate(&other, "app", "hash-2", "hash-3").await, Rotation::Unknown);
    assert_eq!(rotate(&other, "app", "hash-0", "hash-3").await, Rotation::Unknown);
    assert!(!store.delete_refresh_family(&user, "family-a").await.unwrap());
}

async fn concurrent_rotations_with_one_refresh_token_yield_exactly_one((store, other): Pair) {
    let user = UserId::generate().unwrap();
    store.put_refresh_family(&refresh_family(&user, "family-c"), "hash-0", KEEP).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, user) = (if i % 2 == 0 { store.clone() } else { other.clone() }, user.clone());
            tokio::spawn(async move {
                store.rotate_refresh_token(&user, "family-c", "app", "hash-0", &format!("next-{i}")).await.unwrap()
            })
        })
        .collect();
    let (mut rotated, mut reused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Rotation::Rotated(_) => rotated += 1,
            // The first loser finds a spent token and revokes the family; the later ones find none.
            Rotation::Reused(_) => reused += 1,
            Rotation::Unknown => {}
            Rotation::WrongClient => panic!("the client was right"),
        }
    }
    assert_eq!(rotated, 1, "one refresh token rotated {rotated} times");
    assert_eq!(reused, 1, "the spent token's reuse was not seen exactly once");
    assert_eq!(other.get_refresh_family(&user, "family-c").await.unwrap(), None, "the reused family was not revoked");
}

async fn every_refresh_family_of_a_user_is_revoked_together((store, other): Pair) {
    let user = UserId::generate().unwrap();
    let bystander = UserId::generate().unwrap();
    for (i, id) in ["f-1", "f-2", "f-3"].iter().enumerate() {
        let handle = if i == 0 { &other } else { &store };
        handle.put_refresh_family(&refresh_family(&user, id), &format!("hash-{id}"), KEEP).await.unwrap();
    }
    store.put_refresh_family(&refresh_family(&bystander, "f-4"), "hash-f-4", KEEP).await.unwrap();
    assert_eq!(other.delete_refresh_families(&user).await.unwrap(), 3);
    for id in ["f-1", "f-2", "f-3"] {
        assert_eq!(store.get_refresh_family(&user, id).await.unwrap(), None, "{id} survived");
    }
    assert_eq!(store.delete_refresh_families(&user).await.unwrap(), 0);
    assert!(store.get_refresh_family(&bystander, "f-4").await.unwrap().is_some(), "another user's family went");
    assert!(other.delete_refresh_family(&bystander, "f-4").await.unwrap());
    assert_eq!(store.get_refresh_family(&bystander, "f-4").await.unwrap(), None);
}

async fn a_users_refresh_families_are_listed_and_no_one_elses((store, other): Pair) {
    let user = UserId::generate().unwrap();
    let bystander = UserId::generate().unwrap();
    assert_eq!(store.list_refresh_families(&user).await.unwrap(), Vec::new());
    for id in ["f-b", "f-a"] {
        store.put_refresh_family(&refresh_family(&user, id), &format!("hash-{id}"), KEEP).await.unwrap();
    }
    other.put_refresh_family(&refresh_family(&bystander, "f-c"), "hash-f-c", KEEP).await.unwrap();
    let listed = other.list_refresh_families(&user).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["f-a", "f-b"]);
    assert!(listed.iter().all(|f| f.user_id == user && f.scope == "openid offline_access"));
    assert!(store.delete_refresh_family(&user, "f-a").await.unwrap());
    let ids: Vec<String> = other.list_refresh_families(&user).await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["f-b"]);
}

async fn a_refresh_family_ends_with_its_ttl((store, other): Pair) {
    let user = UserId::generate().unwrap();
    store.put_refresh_family(&refresh_family(&user, "family-t"), "hash-0", Duration::from_secs(1)).await.unwrap();
    assert!(other.get_refresh_family(&user, "family-t").await.unwrap().is_some());
    tokio::time::sleep(PAST_A_SECOND).await;
    assert_eq!(other.get_refresh_family(&user, "family-t").await.unwrap(), None, "a family outlived its TTL");
    assert_eq!(
        other.rotate_refresh_token(&user, "family-t", "app", "hash-0", "hash-1").await.unwrap(),
        Rotation::Unknown
    );
}

/// Gives `user` something under every key kind a user has: two sessions (one with an app),
/// factors, a used TOTP step, enrollments in both slots, recovery codes, a phone waiting for
/// its code, a device, an app, audit events, refresh families (one with a spent token), a
/// passkey and its signature counter.
async fn fill_user(store: &Arc<dyn Store>, user: &UserId) {
    for i in 0..2 {
        let session = session_for(user);
        store.put_session(&session, KEEP).await.unwrap();
        if i == 0 {
            assert!(store.add_session_client(user, &session.sid, "app").await.unwrap());
        }
    }
    let passkey = a_passkey();
    let factors = SecondFactors { totp: Some("sealed".into()), passkeys: vec![passkey], ..Default::default() };
    store.put_factors(user, &factors).await.unwrap();
    assert!(store.use_passkey_counter(user, "cred-id", 3).await.unwrap());
    store.put_passkey_owner(&format!("handle-{user}"), user).await.unwrap();
    assert!(store.use_totp_step(user, 7).await.unwrap());
    for slot in latchkey::store::TOTP_ENROLL_SLOTS {
        store.put_totp_enrollment(user, slot, "sealed-seed", KEEP).await.unwrap();
    }
    store.set_recovery_codes(user, &["r1".into(), "r2".into()]).await.unwrap();
    let challenge = SmsChallenge {
        code: "code-hash".into(),
        phone: None,
        sent_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
    };
    store.put_challenge(&ChallengeKey::PhoneEnrollment(user.clone()), &challenge, KEEP).await.unwrap();
    store.add_device(user, "laptop").await.unwrap();
    store.set_user_lang(user, "de").await.unwrap();
    store.add_user_app(user, "app").await.unwrap();
    store.append_event(&event(EventKind::SessionIssued, Some(user), "")).await.unwrap();
    for id in ["fam-1", "fam-2"] {
        store.put_refresh_family(&refresh_family(user, id), &format!("{id}-0"), KEEP).await.unwrap();
    }
    let rotated = store.rotate_refresh_token(user, "fam-1", "app", "fam-1-0", "fam-1-1").await.unwrap();
    assert!(matches!(rotated, Rotation::Rotated(_)));
}

async fn deleting_a_user_removes_every_key_of_theirs_and_frees_the_address((store, other): Pair) {
    let email = Email::parse("leaving@example.com").unwrap();
    let user = store.find_or_create_user("lookup-leaving", &email, Utc::now()).await.unwrap();
    let bystander =
        store.find_or_create_user("lookup-staying", &Email::parse("s@example.com").unwrap(), Utc::now()).await.unwrap();
    fill_user(&store, &user.id).await;
    fill_user(&store, &bystander.id).await;
    assert_eq!(other.count_devices(&user.id).await.unwrap(), 1);
    assert_eq!(other.get_user(&user.id).await.unwrap().map(|u| u.email), Some(email.clone()));

    assert!(other.delete_user("lookup-leaving", &user.id).await.unwrap());
    let id = &user.id;
    assert_eq!(store.get_user(id).await.unwrap(), None);
    assert_eq!(store.find_user("lookup-leaving").await.unwrap(), None);
    assert!(store.list_sessions(id).await.unwrap().is_empty());
    assert!(!store.get_factors(id).await.unwrap().any());
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 0);
    assert!(store.use_totp_step(id, 1).await.unwrap(), "the used TOTP step survived");
    assert!(store.use_passkey_counter(id, "cred-id", 1).await.unwrap(), "the passkey counter survived");
    for slot in latchkey::store::TOTP_ENROLL_SLOTS {
        assert_eq!(store.get_totp_enrollment(id, slot).await.unwrap(), None, "enrollment {slot} survived");
    }
    assert_eq!(store.get_challenge(&ChallengeKey::PhoneEnrollment(id.clone())).await.unwrap(), None);
    assert_eq!(store.count_devices(id).await.unwrap(), 0, "a device survived");
    assert_eq!(store.add_device(id, "laptop").await.unwrap(), (true, 0), "a device survived");
    assert_eq!(store.user_lang(id).await.unwrap(), None, "the language survived");
    assert!(store.user_apps(id).await.unwrap().is_empty());
    assert!(store.user_events(id, 10).await.unwrap().is_empty());
    for family in ["fam-1", "fam-2"] {
        assert_eq!(store.get_refresh_family(id, family).await.unwrap(), None, "{family} survived");
    }
    // The reads above recreated two keys (the TOTP step, the device); a second delete takes them.
    assert!(!store.delete_user("lookup-leaving", id).await.unwrap(), "a deleted record was found again");

    // The address signs up again as a new account.
    let again = other.find_or_create_user("lookup-leaving", &email, Utc::now()).await.unwrap();
    assert_ne!(again.id, user.id);
    // A late second step of the old deletion does not take the new account's index entry.
    assert!(!store.delete_user("lookup-leaving", id).await.unwrap());
    assert_eq!(store.find_user("lookup-leaving").await.unwrap().map(|u| u.id), Some(again.id));

    // The other account is untouched.
    assert_eq!(store.get_user(&bystander.id).await.unwrap().map(|u| u.id), Some(bystander.id.clone()));
    assert_eq!(store.list_sessions(&bystander.id).await.unwrap().len(), 2);
    assert!(store.get_factors(&bystander.id).await.unwrap().any());
    assert_eq!(store.user_apps(&bystander.id).await.unwrap(), ["app"]);
    assert!(store.get_refresh_family(&bystander.id, "fam-2").await.unwrap().is_some());
}

/// On Redis, a deleted user leaves no key at all: a SCAN of the prefix finds none naming them.
#[tokio::test]
async fn a_deleted_user_leaves_no_key_naming_them_in_redis() {
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let redis = RedisStore::connect(&redis_url(), Keys::new(prefix.clone())).unwrap();
    let store: Arc<dyn Store> = Arc::new(redis.clone());
    let user =
        store.find_or_create_user("lookup-gone", &Email::parse("g@example.com").unwrap(), Utc::now()).await.unwrap();
    let bystander =
        store.find_or_create_user("lookup-kept", &Email::parse("k@example.com").unwrap(), Utc::now()).await.unwrap();
    fill_user(&store, &user.id).await;
    fill_user(&store, &bystander.id).await;
    let keys_naming = |id: UserId| {
        let mut conn = redis.connection();
        let pattern = format!("{prefix}*{id}*");
        async move {
            let mut found = Vec::new();
            let mut cursor = 0u64;
            loop {
                let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                found.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            found
        }
    };
    // Every kind of key is there before: record, sessions, session apps, factors, TOTP step,
    // both enrollments, recovery codes, phone enrollment, devices, apps, audit, refresh (3 kinds).
    assert!(keys_naming(user.id.clone()).await.len() >= 17, "{:?}", keys_naming(user.id.clone()).await);
    assert!(store.delete_user("lookup-gone", &user.id).await.unwrap());
    assert_eq!(keys_naming(user.id.clone()).await, Vec::<String>::new());
    let mut conn = redis.connection();
    let index: Option<String> =
        ::redis::AsyncCommands::get(&mut conn, redis.keys().user_by_email("lookup-gone")).await.unwrap();
    assert_eq!(index, None, "the address index survived");
    assert!(keys_naming(bystander.id.clone()).await.len() >= 17, "another user's keys went");
}

/// A deletion stopped between its two steps (the user's keys gone, the index entry left)
/// lets nobody in, and the address's next sign-in makes a new account.
#[tokio::test]
async fn a_deletion_stopped_half_way_leaves_the_address_free_and_nothing_to_sign_in_to() {
    let prefix = format!("contract:{}:", latchkey::crypto::random_token::<9>().unwrap());
    let redis = RedisStore::connect(&redis_url(), Keys::new(prefix.clone())).unwrap();
    let store: Arc<dyn Store> = Arc::new(redis.clone());
    let email = Email::parse("half@example.com").unwrap();
    let user = store.find_or_create_user("lookup-half", &email, Utc::now()).await.unwrap();
    fill_user(&store, &user.id).await;
    // The first step alone: every key of the user, not the index entry.
    let mut conn = redis.connection();
    let keys: Vec<String> = {
        let mut found = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}{{u:{}}}*", user.id))
                .query_async(&mut conn)
                .await
                .unwrap();
            found.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        found
    };
    let _: usize = ::redis::AsyncCommands::del(&mut conn, &keys).await.unwrap();
    assert!(store.list_sessions(&user.id).await.unwrap().is_empty());
    assert_eq!(store.find_user("lookup-half").await.unwrap(), None, "a half-deleted account was found");
    let fresh = store.find_or_create_user("lookup-half", &email, Utc::now()).await.unwrap();
    assert_ne!(fresh.id, user.id);
    assert_eq!(store.find_user("lookup-half").await.unwrap().map(|u| u.id), Some(fresh.id));
}

fn ceremony(user: &UserId) -> latchkey::store::PasskeyCeremony {
    latchkey::store::PasskeyCeremony {
        user_id: Some(user.clone()),
        purpose: latchkey::store::CeremonyPurpose::Register,
        state: r#"{"challenge":"abc"}"#.into(),
    }
}

async fn a_passkey_ceremony_is_taken_once_and_expires((store, other): Pair) {
    let user = UserId::generate().unwrap();
    store.put_passkey_ceremony("ceremony-a", &ceremony(&user), KEEP).await.unwrap();
    assert_eq!(other.take_passkey_ceremony("ceremony-a").await.unwrap(), Some(ceremony(&user)));
    assert_eq!(store.take_passkey_ceremony("ceremony-a").await.unwrap(), None, "a ceremony was taken twice");
    // Of concurrent takes, exactly one gets it.
    store.put_passkey_ceremony("ceremony-b", &ceremony(&user), KEEP).await.unwrap();
    let (a, b) = tokio::join!(store.take_passkey_ceremony("ceremony-b"), other.take_passkey_ceremony("ceremony-b"));
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|c| c.is_some()).count(), 1);
    store.put_passkey_ceremony("ceremony-c", &ceremony(&user), Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(other.take_passkey_ceremony("ceremony-c").await.unwrap(), None, "an expired ceremony was taken");
}

async fn a_passkey_user_handle_names_its_account_until_the_account_goes((store, other): Pair) {
    let email = Email::parse("handle@example.com").unwrap();
    let user = store.find_or_create_user("handle-lookup", &email, Utc::now()).await.unwrap();
    let bystander = UserId::generate().unwrap();
    assert_eq!(store.passkey_owner("handle-a").await.unwrap(), None);
    store.put_passkey_owner("handle-a", &user.id).await.unwrap();
    store.put_passkey_owner("handle-a", &user.id).await.unwrap();
    other.put_passkey_owner("handle-b", &bystander).await.unwrap();
    assert_eq!(other.passkey_owner("handle-a").await.unwrap(), Some(user.id.clone()));
    assert_eq!(store.passkey_owner("handle-b").await.unwrap(), Some(bystander.clone()));
    // A sign-in ceremony names nobody until its answer does.
    let sign_in = latchkey::store::PasskeyCeremony {
        user_id: None,
        purpose: latchkey::store::CeremonyPurpose::SignIn,
        state: "{}".into(),
    };
    store.put_passkey_ceremony("ceremony-sign-in", &sign_in, KEEP).await.unwrap();
    assert_eq!(other.take_passkey_ceremony("ceremony-sign-in").await.unwrap(), Some(sign_in));
    assert!(store.delete_user("handle-lookup", &user.id).await.unwrap());
    assert_eq!(other.passkey_owner("handle-a").await.unwrap(), None, "a deleted account's handle still names it");
    assert_eq!(other.passkey_owner("handle-b").await.unwrap(), Some(bystander), "another account's handle went");
}

async fn a_passkey_counter_only_moves_forward((store, other): Pair) {
    let user = UserId::generate().unwrap();
    assert!(store.use_passkey_counter(&user, "cred", 5).await.unwrap());
    assert!(!other.use_passkey_counter(&user, "cred", 5).await.unwrap(), "a counter was accepted twice");
    assert!(!store.use_passkey_counter(&user, "cred", 4).await.unwrap(), "a counter went back");
    assert!(other.use_passkey_counter(&user, "cred", 6).await.unwrap());
    assert!(store.use_passkey_counter(&user, "other-cred", 1).await.unwrap(), "counters leaked between credentials");
    store.forget_passkey_counter(&user, "cred").await.unwrap();
    assert!(other.use_passkey_counter(&user, "cred", 1).await.unwrap(), "a forgotten counter was remembered");
}

/// A passkey record as the store keeps it (its credential sealed: here a stand-in).
fn a_passkey() -> latchkey::store::StoredPasskey {
    latchkey::store::StoredPasskey {
        id: "cred-id".into(),
        name: "Laptop".into(),
        added_at: Utc::now(),
        last_used_at: None,
        synced: false,
        backed_up: false,
        sealed: "sealed".into(),
    }
}

async fn a_factors_write_based_on_an_older_read_is_refused((store, other): Pair) {
    let user =
        store.find_or_create_user("cas-lookup", &Email::parse("cas@example.com").unwrap(), Utc::now()).await.unwrap();
    let read_here = store.get_factors(&user.id).await.unwrap();
    let read_there = other.get_factors(&user.id).await.unwrap();
    let passkey = a_passkey();
    // One adds a passkey; the other writes an app from its older read: refused, nothing lost.
    assert!(store.put_factors(&user.id, &SecondFactors { passkeys: vec![passkey], ..read_here }).await.unwrap());
    let stale = SecondFactors { totp: Some("sealed".into()), ..read_there };
    assert!(!other.put_factors(&user.id, &stale).await.unwrap(), "a write from an older read was taken");
    let now = other.get_factors(&user.id).await.unwrap();
    assert_eq!((now.passkeys.len(), now.totp.is_some(), now.revision), (1, false, 1));
    let found = other.find_user("cas-lookup").await.unwrap().unwrap();
    assert!(found.factor_kinds.passkey && !found.factor_kinds.totp, "{found:?}");
    // Read again, the change goes through on top of the first.
    assert!(other.put_factors(&user.id, &SecondFactors { totp: Some("sealed".into()), ..now }).await.unwrap());
    let both = store.get_factors(&user.id).await.unwrap();
    assert_eq!((both.passkeys.len(), both.totp.is_some(), both.revision), (1, true, 2));
    assert!(store.find_user("cas-lookup").await.unwrap().unwrap().factor_kinds.totp);
}

async fn passkeys_are_second_factors_the_record_knows((store, other): Pair) {
    let user = store
        .find_or_create_user("passkey-lookup", &Email::parse("pk@example.com").unwrap(), Utc::now())
        .await
        .unwrap();
    let passkey = a_passkey();
    let factors = SecondFactors { passkeys: vec![passkey], ..Default::default() };
    assert!(factors.any());
    assert!(store.put_factors(&user.id, &factors).await.unwrap());
    assert_eq!(other.get_factors(&user.id).await.unwrap(), SecondFactors { revision: 1, ..factors });
    let found = other.find_user("passkey-lookup").await.unwrap().unwrap();
    assert!(found.factor_kinds.passkey && !found.factor_kinds.totp, "the record does not know its passkey: {found:?}");
    assert_eq!(found.factor_kinds.missing_from(&Default::default()), vec!["passkey"]);
}

fn email_change(user: &User, to: &str, id: &str) -> PendingEmailChange {
    let now = Utc::now();
    PendingEmailChange {
        id: id.to_owned(),
        user_id: user.id.clone(),
        from: user.email.clone(),
        to: Email::parse(to).unwrap(),
        code: "code-hash".into(),
        browser: "browser-proof".into(),
        requested_from: RequestOrigin::new(Some([127, 0, 0, 1].into()), "test"),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(15),
    }
}

async fn a_change_of_address_waits_counts_its_tries_and_a_newer_one_replaces_it((store, other): Pair) {
    let email = Email::parse("mover@example.com").unwrap();
    let user = store.find_or_create_user("mover-lookup", &email, Utc::now()).await.unwrap();
    assert_eq!(store.get_email_change(&user.id).await.unwrap(), None);
    let first = email_change(&user, "first@example.com", "first-id");
    store.put_email_change(&first, KEEP).await.unwrap();
    assert_eq!(other.get_email_change(&user.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.take_email_change_try(&user.id, 2).await.unwrap(), Some((first.clone(), 1)));
    assert_eq!(other.take_email_change_try(&user.id, 2).await.unwrap(), Some((first.clone(), 2)));
    // A newer request replaces the change, and its tries start again.
    let second = email_change(&user, "second@example.com", "second-id");
    store.put_email_change(&second, KEEP).await.unwrap();
    assert_eq!(other.get_email_change(&user.id).await.unwrap(), Some(second.clone()));
    assert_eq!(store.take_email_change_try(&user.id, 2).await.unwrap(), Some((second.clone(), 1)));
    assert_eq!(store.take_email_change_try(&user.id, 2).await.unwrap(), Some((second.clone(), 2)));
    // Past the last try the change is gone.
    assert_eq!(store.take_email_change_try(&user.id, 2).await.unwrap(), None);
    assert_eq!(other.get_email_change(&user.id).await.unwrap(), None);
    // It expires.
    store.put_email_change(&first, Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get_email_change(&user.id).await.unwrap(), None);
}

async fn an_address_moves_once_spending_its_link_and_never_onto_another_account((store, other): Pair) {
    let old = Email::parse("old@example.com").unwrap();
    let user = store.find_or_create_user("old-lookup", &old, Utc::now()).await.unwrap();
    let taken = Email::parse("taken@example.com").unwrap();
    let neighbour = store.find_or_create_user("taken-lookup", &taken, Utc::now()).await.unwrap();
    let change = email_change(&user, "taken@example.com", "change-id");
    store.put_email_change(&change, KEEP).await.unwrap();
    let spend = EmailMoveSource::Change("change-id".into());
    // Onto another account's address: refused, nothing changed, nothing spent.
    let moved = store.move_email(&user.id, &spend, "old-lookup", "taken-lookup", &taken).await.unwrap();
    assert_eq!(moved, EmailMoved::Taken);
    assert_eq!(other.find_user("taken-lookup").await.unwrap(), Some(neighbour.clone()));
    assert_eq!(other.find_user("old-lookup").await.unwrap(), Some(user.clone()));
    assert!(store.get_email_change(&user.id).await.unwrap().is_some());
    // A source that is not the pending change moves nothing.
    let new = Email::parse("new@example.com").unwrap();
    let change = email_change(&user, "new@example.com", "change-id");
    store.put_email_change(&change, KEEP).await.unwrap();
    let wrong = EmailMoveSource::Change("another-id".into());
    let moved = store.move_email(&user.id, &wrong, "old-lookup", "new-lookup", &new).await.unwrap();
    assert_eq!(moved, EmailMoved::Gone);
    assert_eq!(other.find_user("new-lookup").await.unwrap(), None);
    // Concurrent moves spending one link: exactly one moves.
    let moves: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { store.clone() } else { other.clone() };
            let (id, new, spend) = (user.id.clone(), new.clone(), spend.clone());
            tokio::spawn(async move { s.move_email(&id, &spend, "old-lookup", "new-lookup", &new).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for m in moves {
        outcomes.push(m.await.unwrap());
    }
    let expected = User { email: new.clone(), ..user.clone() };
    assert_eq!(outcomes.iter().filter(|o| **o == EmailMoved::Moved(expected.clone())).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, EmailMoved::Moved(_) | EmailMoved::Gone)));
    // The new address finds the same account (same id), the old one none; the change is spent.
    assert_eq!(other.find_user("new-lookup").await.unwrap(), Some(expected.clone()));
    assert_eq!(other.get_user(&user.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(other.find_user("old-lookup").await.unwrap(), None);
    assert_eq!(store.get_email_change(&user.id).await.unwrap(), None);
    // An administrator's change spends nothing and needs no link.
    let admin_set = Email::parse("admin-set@example.com").unwrap();
    let moved =
        store.move_email(&user.id, &EmailMoveSource::Admin, "new-lookup", "admin-lookup", &admin_set).await.unwrap();
    assert_eq!(moved, EmailMoved::Moved(User { email: admin_set.clone(), ..user.clone() }));
    assert_eq!(other.find_user("new-lookup").await.unwrap(), None);
    // Nor onto a taken address, and an unknown account moves nowhere.
    let moved =
        store.move_email(&user.id, &EmailMoveSource::Admin, "admin-lookup", "taken-lookup", &taken).await.unwrap();
    assert_eq!(moved, EmailMoved::Taken);
    let nobody = UserId::generate().unwrap();
    let moved = store.move_email(&nobody, &EmailMoveSource::Admin, "x", "nobody-lookup", &new).await.unwrap();
    assert_eq!(moved, EmailMoved::Gone);
    assert_eq!(other.find_user("nobody-lookup").await.unwrap(), None);
}

async fn a_revert_link_moves_the_address_back_once_and_voids_the_others((store, other): Pair) {
    let old = Email::parse("revert-old@example.com").unwrap();
    let user = store.find_or_create_user("r-old", &old, Utc::now()).await.unwrap();
    let new = Email::parse("revert-new@example.com").unwrap();
    let moved = store.move_email(&user.id, &EmailMoveSource::Admin, "r-old", "r-new", &new).await.unwrap();
    assert!(matches!(moved, EmailMoved::Moved(_)));
    let expires_at = Utc::now() + chrono::Duration::days(7);
    let revert = EmailRevert { user_id: user.id.clone(), from: old.clone(), to: new.clone(), expires_at, seq: 0 };
    let later = EmailRevert { from: new.clone(), to: old.clone(), ..revert.clone() };
    store.put_email_revert("revert-1", &revert, KEEP).await.unwrap();
    store.put_email_revert("revert-2", &later, KEEP).await.unwrap();
    // Numbered in the order they were kept.
    let revert = EmailRevert { seq: 1, ..revert };
    let later = EmailRevert { seq: 2, ..later };
    assert_eq!(other.get_email_revert(&user.id, "revert-1").await.unwrap(), Some(revert.clone()));
    assert_eq!(other.get_email_revert(&user.id, "revert-2").await.unwrap(), Some(later.clone()));
    assert_eq!(other.get_email_revert(&user.id, "revert-3").await.unwrap(), None);
    let back = EmailMoveSource::Revert("revert-1".into());
    assert_eq!(
        store.move_email(&user.id, &back, "r-new", "r-old", &old).await.unwrap(),
        EmailMoved::Moved(user.clone())
    );
    // Used once; the account's later revert links go with it.
    assert_eq!(other.move_email(&user.id, &back, "r-old", "r-old", &old).await.unwrap(), EmailMoved::Gone);
    assert_eq!(other.get_email_revert(&user.id, "revert-1").await.unwrap(), None);
    assert_eq!(other.get_email_revert(&user.id, "revert-2").await.unwrap(), None);
    assert_eq!(other.find_user("r-old").await.unwrap(), Some(user.clone()));
    assert_eq!(other.find_user("r-new").await.unwrap(), None);
    // A later link used first leaves the earlier ones.
    store.put_email_revert("revert-5", &revert, KEEP).await.unwrap();
    store.put_email_revert("revert-6", &later, KEEP).await.unwrap();
    let undo = EmailMoveSource::Revert("revert-6".into());
    assert!(matches!(store.move_email(&user.id, &undo, "r-old", "r-new", &new).await.unwrap(), EmailMoved::Moved(_)));
    assert_eq!(other.get_email_revert(&user.id, "revert-6").await.unwrap(), None);
    assert!(other.get_email_revert(&user.id, "revert-5").await.unwrap().is_some_and(|r| r.from == old));
    let back = EmailMoveSource::Revert("revert-5".into());
    assert!(matches!(store.move_email(&user.id, &back, "r-new", "r-old", &old).await.unwrap(), EmailMoved::Moved(_)));
    // Deleting the account removes its pending change and revert links too.
    store.put_email_revert("revert-4", &revert, KEEP).await.unwrap();
    store.put_email_change(&email_change(&user, "elsewhere@example.com", "c"), KEEP).await.unwrap();
    assert!(store.delete_user("r-old", &user.id).await.unwrap());
    assert_eq!(other.get_email_revert(&user.id, "revert-4").await.unwrap(), None);
    assert_eq!(other.get_email_change(&user.id).await.unwrap(), None);
}
