//! The store cannot silently lose or roll back security state: a wiped store refuses sign-ins
//! and changes (503, `/readyz` says why, a metric and an error log, nothing written) until an
//! operator adopts it; an account whose second factor's data is gone is stopped, never signed
//! in with less; and after a restore from backup `latchkey store restored` revives nothing.
//! Each runs on real redis-server processes the test starts (a FLUSHALL or a restart from an
//! old snapshot would disturb other tests on the shared one).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use latchkey::store::prelude::*;
use latchkey::store::{Keys, RedisQueue, RedisStore, StoreIdentity};
use latchkey::store_tools;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::helpers::redis_process::RedisProcess;
use latchkey::clock::Clock;

use crate::helpers::{TestApp, captured_logs, outbox_settled, spawn_app_with};

const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

fn store_on(redis: &RedisProcess, app: &TestApp) -> RedisStore {
    RedisStore::connect(&redis.url(), Keys::new(app.prefix.clone())).unwrap()
}

/// Every key under the app's prefix on `redis`.
async fn keys_of(redis: &RedisProcess, app: &TestApp) -> Vec<String> {
    let mut conn = redis.connection().await;
    ::redis::cmd("KEYS").arg(format!("{}*", app.prefix)).query_async(&mut conn).await.unwrap()
}

/// `GET /api/v1/session` with `cookie` as the session, from a browser of its own.
async fn session_status(app: &TestApp, cookie: &str) -> StatusCode {
    let request = app.client.get(format!("{}/api/v1/session", app.address));
    request.header(COOKIE, format!("__Host-session={cookie}")).send().await.unwrap().status()
}

/// Waits (bounded) until `cookie` is refused with 401; panics with what it kept getting.
async fn until_refused(app: &TestApp, cookie: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = session_status(app, cookie).await;
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert!(Instant::now() < deadline, "the old session still answers {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_out(app: &TestApp) {
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn after_a_flushall_nobody_signs_in_and_nothing_is_written_until_an_operator_adopts_the_store() {
    let redis = RedisProcess::start().await;
    let app = spawn_app_with(&[("REDIS_URL", &redis.url()), ("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    let store = store_on(&redis, &app);
    // A development instance gives a new prefix its identity on first start, and logs it.
    let identity = store.get_identity().await.unwrap().expect("the first start wrote no identity");
    assert!(captured_logs().contains(&identity.id), "the identity written was not logged");
    app.sign_in("flushed@example.com").await;
    let (token, _) = crate::helpers::request(&app, "pending@example.com").await;
    app.clear_cookies();
    // Someone with an authenticator app is at the second step when the store goes.
    app.sign_in("second@example.com").await;
    enroll_totp(&app).await;
    app.clear_cookies();
    let link = app.request_token("second@example.com").await;
    assert_eq!(app.post_verify(&link).await.status(), StatusCode::SEE_OTHER);
    assert!(app.cookie("__Host-pending").is_some());
    // The notice of the new factor is out before the store goes.
    let conn = store.connection();
    outbox_settled(&RedisQueue::new(conn.clone(), conn, Keys::new(app.prefix.clone()))).await;
    let mails = app.mail.received().len();

    let mut conn = redis.connection().await;
    let _: () = ::redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    // Each instance reads the identity at least every 2 s (and afresh before it creates an
    // account or issues a session, tested below); the refusals are checked past that.
    tokio::time::sleep(latchkey::policy::REFRESH + Duration::from_millis(100)).await;

    // The same process, no restart: sign-ins, second-factor steps, redemptions and admin
    // changes get 503.
    let csrf = app.csrf_token().await;
    let step = app.post_form("/login/2fa", &[("csrf", &csrf), ("code", "123456")]).await;
    assert_eq!(step.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/login/2fa").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.clear_cookies();
    let login = app.post_login("flushed@example.com").await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let api =
        app.client.post(format!("{}/api/v1/login", app.address)).json(&serde_json::json!({"email": "x@example.com"}));
    assert_eq!(api.send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    let block = app
        .client
        .post(format!("{}/api/v1/admin/users/flushed@example.com/block", app.address))
        .bearer_auth(ADMIN_TOKEN);
    assert_eq!(block.send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    let policy = app.client.put(format!("{}/api/v1/admin/policy", app.address)).bearer_auth(ADMIN_TOKEN);
    let policy = policy.json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(policy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.mail.received().len(), mails, "a mail went out from the wiped store");
    // Nothing was written: no policy re-seeded, no account, no link, no rate-limit counter
    // (the outbox worker recreates its empty queue, which holds nothing of anyone's).
    let written: Vec<String> = keys_of(&redis, &app).await.into_iter().filter(|k| !k.contains("{outbox}")).collect();
    assert_eq!(written, Vec::<String>::new());

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "empty", "{body}");
    assert!(body["reason"].as_str().unwrap().contains("latchkey store adopt"), "{body}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("latchkey_store_trusted{state=\"empty\"} 1"), "{metrics}");
    assert!(metrics.contains("latchkey_store_untrusted_refusals_total{state=\"empty\"}"), "{metrics}");
    assert!(captured_logs().contains("the store holds no identity"), "no error log");

    // The operator acknowledges; the policy is back, the act is in the audit log.
    let adopted_at = Utc::now();
    let adopted = store_tools::adopt(&store, &identity.id, &app_policy(), "test operator", adopted_at).await.unwrap();
    assert_eq!(adopted, store_tools::Adopted { previous: None, policy_seeded: true });
    assert!(store.get_policy().await.unwrap().is_some());
    let events = store.global_events(None, 10).await.unwrap();
    assert!(events.iter().any(|e| e.detail.starts_with("store adopt") && e.browser == "test operator"), "{events:?}");
    // Adopting moved "not before" to now: this instance's clock must be past it, however long
    // the steps above took.
    past_not_before(&app, adopted_at);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/readyz").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "not ready after adopt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.sign_in("flushed@example.com").await;
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
}

/// The starting policy of a development test instance (what `adopt` re-seeds).
pub(crate) fn app_policy() -> latchkey::domain::SignInPolicy {
    let vars = [("REDIS_URL", "redis://127.0.0.1:1")];
    latchkey::Settings::for_store_commands(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
        .unwrap()
        .policy
}

#[tokio::test]
async fn a_sign_in_right_after_a_wipe_creates_no_new_account() {
    let redis = RedisProcess::start().await;
    let app = spawn_app_with(&[("REDIS_URL", &redis.url())]).await;
    let (token, _) = crate::helpers::request(&app, "racer@example.com").await;
    // The link opens (the instance has just read the identity: its 2-second copy is fresh) …
    assert_eq!(app.get_verify(&token).await.status(), StatusCode::OK);
    // … and the identity goes, as in a wipe that has not reached the link yet.
    let store = store_on(&redis, &app);
    let mut conn = redis.connection().await;
    let _: () =
        ::redis::cmd("DEL").arg(Keys::new(app.prefix.clone()).store_identity()).query_async(&mut conn).await.unwrap();
    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(crate::helpers::set_cookies(&response).iter().all(|c| !c.starts_with("__Host-session=")));
    let created = keys_of(&redis, &app).await;
    assert!(
        !created.iter().any(|k| k.contains("user-email:") || k.contains(":user")),
        "an account was created: {created:?}"
    );
    assert!(store.get_identity().await.unwrap().is_none(), "an instance wrote an identity by itself");
}

#[tokio::test]
async fn after_a_wipe_apps_get_503_temporarily_unavailable_from_token_and_userinfo_not_a_refusal() {
    use crate::oidc::{WIKI_CB, WIKI_SECRET, code_for, exchange, spawn_provider_with, wiki_form};
    let redis = RedisProcess::start().await;
    let (app, _) = spawn_provider_with("", &[("REDIS_URL", &redis.url())]).await;
    // An app holds an access token, and a code it has not exchanged yet.
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let (status, tokens) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let code = code_for(&app, "wiki", WIKI_CB, None).await;

    let mut conn = redis.connection().await;
    let _: () = ::redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();

    // The store cannot vouch for anything: not "your code or token is bad" (the app would
    // drop a person's sign-in for good), but "try again later", as in any store outage.
    let token = app
        .client
        .post(format!("{}/oauth2/token", app.address))
        .form(&wiki_form(&code))
        .basic_auth("wiki", Some(WIKI_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(token.headers().get(reqwest::header::RETRY_AFTER).is_some(), "the 503 does not say when to retry");
    let body: serde_json::Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // userinfo reads the store's identity at most every 2 s; it refuses within that.
    let deadline = Instant::now() + latchkey::policy::REFRESH + Duration::from_secs(5);
    loop {
        let info = app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(&access).send().await;
        let info = info.unwrap();
        if info.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(info.headers().get(reqwest::header::RETRY_AFTER).is_some());
            break;
        }
        assert!(Instant::now() < deadline, "userinfo on a wiped store answers {}", info.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_instance_pointed_at_another_deployments_store_refuses_and_says_so() {
    let redis = RedisProcess::start().await;
    let app = spawn_app_with(&[("REDIS_URL", &redis.url()), ("STORE_ID", "st_YW5vdGhlci1kZXBsb3ltZW50")]).await;
    let store = store_on(&redis, &app);
    // Another deployment's `latchkey store init` gave the store its identity.
    store.put_identity(&StoreIdentity::generate(Utc::now()).unwrap(), false).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = app.get("/readyz").await;
        let body: serde_json::Value = ready.json().await.unwrap();
        if body["store"] == "foreign" {
            break;
        }
        assert!(Instant::now() < deadline, "never reported foreign: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.post_login("someone@example.com").await.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// Turns on an authenticator app from the account page of a signed-in browser.
async fn enroll_totp(app: &TestApp) {
    let csrf = app.csrf_token().await;
    let page = app.post_form("/account/totp/enroll", &[("csrf", &csrf)]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let secret = crate::second_factor::shown_secret(&page.text().await.unwrap());
    let code = crate::second_factor::code(app, &secret, 0);
    let csrf = app.csrf_token().await;
    let confirm = app.post_form("/account/totp/confirm", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(confirm.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_account_whose_second_factor_was_lost_is_stopped_never_signed_in_with_the_link_alone() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    app.sign_in("lost-factor@example.com").await;
    enroll_totp(&app).await;
    let store = app.store();
    let sub: serde_json::Value = app.get_session().await.json().await.unwrap();
    let user = latchkey::domain::UserId::parse(sub["sub"].as_str().unwrap()).unwrap();
    // The record knows the account has an app.
    let record: serde_json::Value = {
        let mut conn = store.connection();
        let raw: String = ::redis::cmd("GET").arg(store.keys().user(&user)).query_async(&mut conn).await.unwrap();
        serde_json::from_str(&raw).unwrap()
    };
    assert_eq!(record["factor_kinds"]["totp"], true, "{record}");
    // The factor's data goes (an eviction, a partial restore).
    let mut conn = store.connection();
    let _: () = ::redis::cmd("DEL").arg(store.keys().factors(&user)).query_async(&mut conn).await.unwrap();

    app.clear_cookies();
    let token = app.request_token("lost-factor@example.com").await;
    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let cookies = crate::helpers::set_cookies(&response);
    assert!(
        cookies.iter().all(|c| !c.starts_with("__Host-session=") && !c.starts_with("__Host-pending=")),
        "{cookies:?}"
    );
    assert!(response.text().await.unwrap().contains("Please contact your administrator."));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    // Admins see why.
    let audit =
        app.client.get(format!("{}/api/v1/admin/audit?kind=factor_missing", app.address)).bearer_auth(ADMIN_TOKEN);
    let audit: serde_json::Value = audit.send().await.unwrap().json().await.unwrap();
    assert!(audit.to_string().contains("missing: totp"), "{audit}");

    // The administrator removes the factor, as docs/operations.md says: the owner signs in again
    // (and would now set one up anew). The same when the factors' data is unreadable.
    for lost in ["deleted", "unreadable"] {
        if lost == "unreadable" {
            app.clock.advance(chrono::Duration::seconds(30));
            enroll_totp(&app).await;
            let _: () = ::redis::cmd("SET")
                .arg(store.keys().factors(&user))
                .arg("{not json")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        let reset = format!("{}/api/v1/admin/users/lost-factor@example.com/second-factor", app.address);
        let reset = app.client.delete(reset).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(reset.status(), StatusCode::OK, "{lost}");
        app.clear_cookies();
        let token = app.request_token("lost-factor@example.com").await;
        assert_eq!(app.post_verify(&token).await.headers()["location"], "/account", "{lost}");
        assert_eq!(app.get_session().await.status(), StatusCode::OK, "{lost}");
    }
}

#[tokio::test]
async fn after_a_restore_from_an_old_snapshot_restored_revives_no_session_and_people_sign_in_again() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("latchkey-snapshot-{}", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = format!("--dir '{}' --dbfilename dump.rdb --save '' --appendonly no", dir.display());
    let mut redis = RedisProcess::start_with(None, &args).await;
    let app = spawn_app_with(&[("REDIS_URL", &redis.url())]).await;
    app.sign_in("restored@example.com").await;
    let old = app.cookie("__Host-session").unwrap();

    // The backup: a snapshot taken while the session lived.
    let mut conn = redis.connection().await;
    let _: () = ::redis::cmd("SAVE").query_async(&mut conn).await.unwrap();
    std::fs::copy(dir.join("dump.rdb"), dir.join("backup.rdb")).unwrap();
    log_out(&app).await;
    assert_eq!(session_status(&app, &old).await, StatusCode::UNAUTHORIZED);

    // Redis comes back from the backup: the logged-out session is in it again.
    redis.stop().await;
    std::fs::copy(dir.join("backup.rdb"), dir.join("dump.rdb")).unwrap();
    redis.start_again().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while session_status(&app, &old).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "the snapshot did not bring the session back (test set-up)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The operator runs the restore procedure's command.
    let store = store_on(&redis, &app);
    let restored_at = Utc::now();
    let restored = store_tools::restored(&store, "test operator", restored_at).await.unwrap();
    assert!(restored.voided >= 2, "{restored:?}");
    until_refused(&app, &old, Duration::from_secs(10)).await;
    let left = keys_of(&redis, &app).await;
    assert!(!left.iter().any(|k| k.contains(":session")), "sessions left: {left:?}");
    let events = store.global_events(None, 10).await.unwrap();
    assert!(events.iter().any(|e| e.detail.starts_with("store restored")), "{events:?}");

    // People sign in again (this instance's clock past the new "not before").
    past_not_before(&app, restored_at);
    app.clear_cookies();
    app.sign_in("restored@example.com").await;
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_issued_before_not_before_is_refused_also_from_the_session_cache() {
    // A cache that would trust a confirmed session for 10 s, and one that trusts nothing but
    // keeps what the token verified to.
    for ttl in ["10s", "0s"] {
        let app = spawn_app_with(&[("SESSION_CACHE_TTL", ttl)]).await;
        app.sign_in("cached@example.com").await;
        let cookie = app.cookie("__Host-session").unwrap();
        assert_eq!(session_status(&app, &cookie).await, StatusCode::OK);
        // "Not before" moves past the token (its session record stays: only the rule refuses it).
        let store = app.store();
        let mut identity = store.get_identity().await.unwrap().unwrap();
        identity.not_before = app.clock.now().timestamp() + 1;
        store.put_identity(&identity, false).await.unwrap();
        until_refused(&app, &cookie, Duration::from_secs(6)).await;
    }
}

#[tokio::test]
async fn adopting_a_store_that_lost_only_its_policy_signs_nobody_out() {
    let app = spawn_app_with(&[]).await;
    app.sign_in("kept@example.com").await;
    let store = app.store();
    let identity = store.get_identity().await.unwrap().unwrap();
    let mut conn = store.connection();
    let _: () = ::redis::cmd("DEL").arg(store.keys().policy()).query_async(&mut conn).await.unwrap();
    let adopted_at = Utc::now();
    let adopted = store_tools::adopt(&store, &identity.id, &app_policy(), "test operator", adopted_at).await.unwrap();
    assert_eq!(adopted, store_tools::Adopted { previous: Some(identity.id.clone()), policy_seeded: true });
    assert_eq!(store.get_identity().await.unwrap(), Some(identity), "the identity or its not-before moved");
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
}

/// Moves the instance's manual clock a few seconds past `not_before` (set from the real clock),
/// wherever the test's steps have left it.
pub(crate) fn past_not_before(app: &TestApp, not_before: chrono::DateTime<Utc>) {
    let behind = not_before - latchkey::clock::Clock::now(app.clock.as_ref());
    app.clock.advance(behind.max(chrono::Duration::zero()) + chrono::Duration::seconds(5));
}
