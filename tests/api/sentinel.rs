//! Redis Sentinel and critical writes: the service follows the master through a failover
//! (asked for with `SENTINEL FAILOVER`, or forced by killing the master) with a bounded gap of
//! 503s and never a 500, and a revocation, a second-factor change or a policy change counts
//! as done only once a replica holds it (`WAIT`), so a failover cannot undo it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use latchkey::store::prelude::*;
use latchkey::store::{Keys, RedisConnector, RedisStore};
use latchkey::store_tools;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use serde_json::Value;

use crate::helpers::sentinel::{MASTER_NAME, Replicated};
use crate::helpers::{MailSink, TestApp, hidden_field, magic_link_from, spawn_app_with, token_from_link};

const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

/// An app whose store is the master the set's Sentinels name; no session is taken on trust.
async fn spawn_on_sentinels(set: &Replicated) -> TestApp {
    spawn_app_with(&[
        ("REDIS_URL", ""),
        ("REDIS_SENTINEL_URLS", &set.sentinel_urls()),
        ("REDIS_SENTINEL_MASTER", MASTER_NAME),
        ("REDIS_WAIT_TIMEOUT", "300ms"),
        ("SESSION_CACHE_TTL", "0s"),
        ("OUTBOX_RETRY_BASE", "100ms"),
        // Every browser of the stream comes from 127.0.0.1.
        ("RATE_LIMIT_LOGIN_IP", "100000/1m"),
    ])
    .await
}

/// One browser of its own (cookies kept by hand, as `TestApp` does), so concurrent sign-ins
/// do not share cookies.
struct Browser {
    base: String,
    client: reqwest::Client,
    jar: HashMap<String, String>,
}

impl Browser {
    fn new(base: &str, client: &reqwest::Client) -> Self {
        Self { base: base.to_owned(), client: client.clone(), jar: HashMap::new() }
    }

    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> reqwest::Response {
        if !self.jar.is_empty() {
            let cookies = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.expect("request failed");
        for raw in response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let Some((name, value)) = raw.split(';').next().and_then(|c| c.split_once('=')) else { continue };
            if value.is_empty() || raw.to_ascii_lowercase().contains("max-age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    async fn csrf(&mut self) -> Result<String, u16> {
        let page = self.send(self.client.get(format!("{}/login", self.base))).await;
        let status = page.status();
        let body = page.text().await.unwrap();
        hidden_field(&body, "csrf").ok_or(status.as_u16())
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    async fn session(&mut self) -> StatusCode {
        self.send(self.client.get(format!("{}/api/v1/session", self.base))).await.status()
    }
}

/// Where a browser of the stream goes, and the inbox its links reach.
#[derive(Clone)]
struct Target {
    address: String,
    client: reqwest::Client,
    mail: MailSink,
}

impl Target {
    fn of(app: &TestApp) -> Self {
        Self { address: app.address.clone(), client: app.client.clone(), mail: app.mail.clone() }
    }
}

/// What one request of the stream got, and when.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    what: &'static str,
    status: u16,
}

/// One sign-in from a fresh browser, recording each step's status; true if it ended with a
/// session the service accepts.
async fn one_sign_in(app: &Target, email: &str, seen: &mut Vec<Seen>) -> bool {
    let mut browser = Browser::new(&app.address, &app.client);
    let mail = &app.mail;
    let mut record = |what, status: u16| seen.push(Seen { at: Instant::now(), what, status });
    let csrf = match browser.csrf().await {
        Ok(csrf) => csrf,
        Err(status) => {
            record("login page", status);
            return false;
        }
    };
    let asked_at = Instant::now();
    let asked = browser.post("/login", &[("email", email), ("csrf", &csrf)]).await.status();
    record("link request", asked.as_u16());
    if asked != StatusCode::OK {
        return false;
    }
    // The link was queued; the outbox delivers it (retrying through the failover, with
    // backoff). Replication is asynchronous: a link queued on the demoted master in the moment
    // before it learns it was replaced is dropped with its other last writes (docs/known-
    // limitations.md), so a lost link is recorded, and the test checks when it was asked for.
    let deadline = Instant::now() + Duration::from_secs(30);
    let link_mail = loop {
        let found = mail
            .received()
            .into_iter()
            .find(|m| m.to.iter().any(|to| to.contains(email)) && m.text().contains("/login/verify?token="));
        if let Some(found) = found {
            break found;
        }
        if Instant::now() >= deadline {
            seen.push(Seen { at: asked_at, what: "link lost", status: 0 });
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let token = token_from_link(&magic_link_from(&link_mail));
    let verified = browser.post("/login/verify", &[("token", &token), ("csrf", &csrf)]).await.status();
    record("verify", verified.as_u16());
    if verified != StatusCode::SEE_OTHER {
        return false;
    }
    let session = browser.session().await;
    record("session", session.as_u16());
    session == StatusCode::OK
}

/// How the master goes away.
#[derive(Clone, Copy, Debug)]
enum Failover {
    /// `SENTINEL FAILOVER`: the master is demoted to replica.
    Asked,
    /// SIGKILL of the master: the Sentinels notice and promote the replica.
    Killed,
}

/// Signs someone in and out before the failover, runs concurrent sign-ins (and checks of the
/// ended session) through it, and checks what every request got.
async fn sign_ins_through(failover: Failover) {
    let mut set = Replicated::with_sentinels().await;
    let app = spawn_on_sentinels(&set).await;

    // A session ended before the failover. The logout answers 303 only once a replica holds it.
    app.sign_in("ended@example.com").await;
    let ended_cookie = app.cookie("__Host-session").unwrap();
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    let ended_check = || {
        app.client
            .get(format!("{}/api/v1/session", app.address))
            .header(COOKIE, format!("__Host-session={ended_cookie}"))
            .send()
    };

    // The stream: four browsers signing in one after another, and checks of the ended session.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (stop, target, cookie) = (stop.clone(), Target::of(&app), ended_cookie.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let email = format!("w{worker}-{n}-{}@example.com", latchkey::crypto::random_token::<4>().unwrap())
                    .to_lowercase();
                one_sign_in(&target, &email, &mut seen).await;
                let status = target
                    .client
                    .get(format!("{}/api/v1/session", target.address))
                    .header(COOKIE, format!("__Host-session={cookie}"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                seen.push(Seen { at: Instant::now(), what: "ended session", status: status.as_u16() });
            }
            seen
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let old = set.first_master_port();
    let started = Instant::now();
    match failover {
        Failover::Asked => set.sentinel_failover().await,
        Failover::Killed => set.signal(old, "KILL"),
    }
    let new = set.wait_for_new_master(old).await;
    let promoted = started.elapsed();
    if let Failover::Asked = failover {
        // The old master still runs: the stream goes on past its demotion, so what follows
        // needs the service to have left it.
        set.wait_until_replica(old).await;
    }
    // From here on the old master takes no writes: no link asked for later may be lost.
    let settled = Instant::now();
    // Let the stream run on past the switch.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut seen: Vec<Seen> = Vec::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }
    seen.sort_by_key(|s| s.at);

    // Never a 500 (or any 5xx but 503), never the ended session.
    let failures: Vec<_> = seen.iter().filter(|s| s.status >= 500 && s.status != 503).collect();
    assert!(failures.is_empty(), "requests failed with a 5xx other than 503: {failures:?}");
    let lost_late: Vec<_> = seen.iter().filter(|s| s.what == "link lost" && s.at > settled).collect();
    assert!(lost_late.is_empty(), "links asked for after the switch never arrived: {lost_late:?}");
    let revived: Vec<_> = seen.iter().filter(|s| s.what == "ended session" && s.status == 200).collect();
    assert!(revived.is_empty(), "a session ended before the failover was accepted: {revived:?}");
    let unavailable: Vec<_> = seen.iter().filter(|s| s.status == 503).collect();
    let gap = match (unavailable.first(), unavailable.last()) {
        (Some(first), Some(last)) => last.at.duration_since(first.at),
        _ => Duration::ZERO,
    };
    let signed_in = seen.iter().filter(|s| s.what == "session" && s.status == 200).count();
    println!(
        "{failover:?} failover: master {old} -> {new}, Sentinels named it after {promoted:?}; \
         {} requests, {} answered 503, from the first 503 to the last {gap:?}; {signed_in} sign-ins, \
         {} links lost in the switch",
        seen.len(),
        unavailable.len(),
        seen.iter().filter(|s| s.what == "link lost").count(),
    );
    // Sign-ins went on after the gap: one completed after the last 503.
    if let Some(last) = unavailable.last() {
        assert!(
            seen.iter().any(|s| s.at > last.at && s.what == "session" && s.status == 200),
            "no sign-in completed after the last 503"
        );
    }
    // And now, on the new master: a whole sign-in works and the ended session stays ended.
    let mut fresh = Vec::new();
    assert!(one_sign_in(&Target::of(&app), "after@example.com", &mut fresh).await, "sign-in after failover: {fresh:?}");
    assert_eq!(ended_check().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // A revocation on the new master is confirmed and answered as done, once it has a replica
    // again (a killed master comes back as one).
    match failover {
        Failover::Killed => set.restart_as_replica(old, new).await,
        Failover::Asked => set.wait_until_replica_online(new).await,
    }
    app.clear_cookies();
    app.sign_in("late@example.com").await;
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_ins_continue_through_a_sentinel_failover_and_an_ended_session_stays_ended() {
    sign_ins_through(Failover::Asked).await;
}

#[tokio::test]
async fn sign_ins_continue_after_the_master_is_killed_and_an_ended_session_stays_ended() {
    sign_ins_through(Failover::Killed).await;
}

#[tokio::test]
async fn with_the_only_replica_killed_a_logout_through_sentinels_answers_503_until_a_replica_is_back() {
    let mut set = Replicated::with_sentinels().await;
    let app = spawn_on_sentinels(&set).await;
    let (master, replica) = (set.first_master_port(), set.first_replica_port());
    app.sign_in("alone@example.com").await;

    // The only replica dies; the master sees it go and keeps answering as master.
    set.signal(replica, "KILL");
    set.wait_until_no_replica(master).await;
    let csrf = app.csrf_token().await;
    let logout = app.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        logout.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a logout no replica holds was claimed done: a failover to that replica would bring the session back"
    );
    assert!(logout.headers().get(RETRY_AFTER).is_some(), "the 503 does not say when to try again");
    assert!(app.cookie("__Host-session").is_none(), "a browser asked to sign out kept its session cookie");

    // A replica is back: the same request is confirmed and answered as done.
    set.restart_as_replica(replica, master).await;
    app.sign_in("alone@example.com").await;
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
}

/// The app on the replicated pair's master directly (no Sentinels needed to show `WAIT`).
async fn spawn_on_master(set: &Replicated) -> TestApp {
    spawn_app_with(&[
        ("REDIS_URL", &set.first_master_url()),
        ("REDIS_WAIT_TIMEOUT", "200ms"),
        ("SESSION_CACHE_TTL", "0s"),
        ("ADMIN_API_TOKEN", ADMIN_TOKEN),
    ])
    .await
}

#[tokio::test]
async fn a_logout_block_or_policy_change_no_replica_acknowledges_answers_503_not_done() {
    let set = Replicated::start().await;
    let app = spawn_on_master(&set).await;
    // Someone to block, then two sessions: one for each kind of logout.
    app.sign_in("blocked@example.com").await;
    app.clear_cookies();
    app.sign_in("paused@example.com").await;
    let other = app.cookie("__Host-session").unwrap();
    app.clear_cookies(); // another browser (a new sign-in ends the browser's old session)
    app.sign_in("paused@example.com").await;
    let policy_url = format!("{}/api/v1/admin/policy", app.address);
    let policy: Value =
        app.client.get(&policy_url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();

    // The replica stops acknowledging (it stays connected, as a slow or partitioned one does).
    set.signal(set.first_replica_port(), "STOP");
    let csrf = app.csrf_token().await;
    let logout = app.post_form("/logout", &[("csrf", &csrf)]).await;
    let logout_status = logout.status();
    let retry_after = logout.headers().get(RETRY_AFTER).cloned();
    let cookie_kept = app.cookie("__Host-session").is_some();
    app.set_cookie("__Host-session", &other);
    let everywhere = app.post_form("/logout/all", &[("csrf", &csrf)]).await.status();
    let change = app.client.put(&policy_url).bearer_auth(ADMIN_TOKEN).json(&policy).send().await.unwrap().status();
    let block_url = format!("{}/api/v1/admin/users/blocked@example.com/block", app.address);
    let block = app.client.post(&block_url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status();
    set.signal(set.first_replica_port(), "CONT");
    set.wait_until_caught_up(set.first_master_port()).await;

    assert_eq!(logout_status, StatusCode::SERVICE_UNAVAILABLE, "a logout no replica holds was claimed done");
    assert!(retry_after.is_some(), "the 503 does not say when to try again");
    assert!(!cookie_kept, "a browser asked to sign out kept its session cookie");
    assert_eq!(everywhere, StatusCode::SERVICE_UNAVAILABLE, "a logout everywhere no replica holds was claimed done");
    assert_eq!(change, StatusCode::SERVICE_UNAVAILABLE, "a policy change no replica holds was claimed done");
    assert_eq!(block, StatusCode::SERVICE_UNAVAILABLE, "a block no replica holds was claimed done");

    // With the replica back, the same requests are confirmed and answered as done.
    app.sign_in("paused@example.com").await;
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    let policy: Value =
        app.client.get(&policy_url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    let change = app.client.put(&policy_url).bearer_auth(ADMIN_TOKEN).json(&policy).send().await.unwrap().status();
    assert_eq!(change, StatusCode::OK);
    let replica_holds_policy =
        set.query(set.first_replica_port(), redis::cmd("EXISTS").arg(format!("{}policy", app.prefix))).await;
    assert_eq!(replica_holds_policy, Some(redis::Value::Int(1)), "the replica does not hold the confirmed policy");
}

#[tokio::test]
async fn a_this_wasnt_me_no_replica_acknowledges_answers_503_and_its_link_works_again() {
    let set = Replicated::start().await;
    let app = spawn_on_master(&set).await;
    app.sign_in("reporter@example.com").await;
    app.clear_cookies(); // a new browser: the notice of it carries a "this wasn't me" link
    app.sign_in("reporter@example.com").await;
    let intruder = app.cookie("__Host-session").unwrap();
    let user = app.user_id().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let notice = loop {
        let mails = app.mail.received();
        if let Some(mail) = mails.into_iter().find(|m| m.subject() == "New sign-in to your account") {
            break mail;
        }
        assert!(Instant::now() < deadline, "no new-device notice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let link = notice.text().split_whitespace().find(|w| w.contains("/account/not-me?token=")).unwrap().to_owned();
    let token = token_from_link(&link);

    set.signal(set.first_replica_port(), "STOP");
    let csrf = app.csrf_token().await;
    let unconfirmed = app.post_form("/account/not-me", &[("csrf", &csrf), ("token", &token)]).await.status();
    set.signal(set.first_replica_port(), "CONT");
    set.wait_until_caught_up(set.first_master_port()).await;
    assert_eq!(unconfirmed, StatusCode::SERVICE_UNAVAILABLE, "a report no replica holds was claimed done");

    // Pressed again once the replica is back: done, and only now used up.
    let csrf = app.csrf_token().await;
    let done = app.post_form("/account/not-me", &[("csrf", &csrf), ("token", &token)]).await;
    assert_eq!(done.status(), StatusCode::OK, "the link was spent by the request that failed");
    app.set_cookie("__Host-session", &intruder);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    let store = RedisStore::connect(&set.first_master_url(), Keys::new(app.prefix.clone())).unwrap();
    let events = store.user_events(&user, 50).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.detail == "reported: not me").count(), 1, "{events:?}");
    let csrf = app.csrf_token().await;
    let again = app.post_form("/account/not-me", &[("csrf", &csrf), ("token", &token)]).await;
    assert_eq!(again.status(), StatusCode::GONE);
}

#[tokio::test]
async fn store_restored_and_adopt_no_replica_confirms_fail_and_say_to_run_them_again() {
    let set = Replicated::start().await;
    let connector = RedisConnector::single(&set.first_master_url(), None).unwrap();
    let prefix = format!("latchkey-test:{}:", latchkey::crypto::random_token::<6>().unwrap());
    let store = RedisStore::new(connector.with_wait_timeout(Duration::from_millis(200)), Keys::new(prefix)).unwrap();
    let policy = crate::store_identity::app_policy();
    let init = store_tools::init(&store, &policy, Utc::now()).await.unwrap();

    // The replica stops acknowledging: neither command may report itself done.
    set.signal(set.first_replica_port(), "STOP");
    let restored = store_tools::restored(&store, "test operator", Utc::now()).await;
    let adopted = store_tools::adopt(&store, &init.identity.id, &policy, "test operator", Utc::now()).await;
    // The deletes alone are confirmed too (`restored` stopped before them).
    let voided = store.void_live_state().await;
    set.signal(set.first_replica_port(), "CONT");
    set.wait_until_caught_up(set.first_master_port()).await;

    for (command, result) in [("restored", restored.map(drop)), ("adopt", adopted.map(drop))] {
        let message = format!("{:#}", result.expect_err("a command no replica confirmed reported itself done"));
        assert!(message.contains("no replica confirmed"), "{command}: {message}");
        assert!(message.contains(&format!("`latchkey store {command}` is not done: run it again")), "{message}");
    }
    assert!(voided.is_err(), "voiding the live state no replica confirmed reported itself done");
    // Run again with the replica back, both are confirmed and done.
    store_tools::restored(&store, "test operator", Utc::now()).await.unwrap();
    store_tools::adopt(&store, &init.identity.id, &policy, "test operator", Utc::now()).await.unwrap();
}

#[tokio::test]
async fn over_tls_the_sentinels_and_master_are_trusted_only_with_the_private_ca() {
    let ca = crate::helpers::tls::tls_redis().ca_file;
    let set = Replicated::with_sentinels_over_tls(ca.clone()).await;
    let ca = ca.to_string_lossy().into_owned();
    let sentinels = [
        ("REDIS_URL", ""),
        ("REDIS_SENTINEL_URLS", &set.sentinel_urls()),
        ("REDIS_SENTINEL_MASTER", MASTER_NAME),
        ("SESSION_CACHE_TTL", "0s"),
    ];
    let mut trusted = sentinels.to_vec();
    trusted.push(("REDIS_CA_FILE", &ca));
    let app = spawn_app_with(&trusted).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.sign_in("tls-sentinel@example.com").await;
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
    // A logout waits for the replica over TLS replication, and is confirmed.
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);

    // Without the CA the system roots do not know the Sentinels' certificate: not ready, 503.
    let untrusting = spawn_app_with(&sentinels).await;
    assert_eq!(untrusting.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let csrf = untrusting.csrf_token().await;
    let asked = untrusting.post_form("/login", &[("email", "tls-sentinel@example.com"), ("csrf", &csrf)]).await;
    assert_eq!(asked.status(), StatusCode::SERVICE_UNAVAILABLE);
}
