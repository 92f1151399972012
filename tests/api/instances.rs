//! Many instances on one Redis: stateless, so a browser sent to any of them by a load balancer
//! sees one service — links, codes, sessions, rate limits and policy are shared.

use std::time::{Duration, Instant};

use latchkey::domain::{Email, UserId};
use latchkey::store::OutboxStore;
use latchkey::store::prelude::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::helpers::{
    TestApp, jwt_key_file, lookup_of, race_redemptions, request, session_cookie_set, set_cookies, spawn_app_with,
    spawn_peer,
};

const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

/// `n` instances configured alike, as a deployment would: one Redis prefix (so one store and
/// one outbox), one SMTP server, one SECRET_KEY (the helpers' default) and one JWT_KEYS.
async fn spawn_instances(n: usize, extra: &[(&str, &str)]) -> Vec<TestApp> {
    let (key, _) = jwt_key_file();
    let mut vars = vec![("JWT_KEYS", key.as_str()), ("ADMIN_API_TOKEN", ADMIN_TOKEN)];
    vars.extend_from_slice(extra);
    let first = spawn_app_with(&vars).await;
    let mut apps = Vec::new();
    for _ in 1..n {
        apps.push(spawn_peer(&first, &vars).await);
    }
    apps.insert(0, first);
    apps
}

/// The same browser, sent to another instance by the load balancer: it brings its cookies.
fn same_browser(from: &TestApp, to: &TestApp) {
    to.clear_cookies();
    for name in ["__Host-csrf", "__Host-attempt", "__Host-session", "__Host-device"] {
        if let Some(value) = from.cookie(name) {
            to.set_cookie(name, &value);
        }
    }
}

async fn signed_in_email(app: &TestApp) -> Option<String> {
    let response = app.get_session().await;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.json::<Value>().await.unwrap()["email"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_link_issued_on_one_instance_signs_in_on_another() {
    let apps = spawn_instances(2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    let (token, _) = request(a, "roam@example.com").await;
    same_browser(a, b);
    let page = b.get_verify(&token).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("roam@example.com"));
    let response = b.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&response));
    assert_eq!(signed_in_email(b).await.as_deref(), Some("roam@example.com"));
    // And the session B issued is good on A.
    same_browser(b, a);
    assert_eq!(signed_in_email(a).await.as_deref(), Some("roam@example.com"));
}

#[tokio::test]
async fn a_code_mailed_by_one_instance_is_accepted_by_another() {
    let apps = spawn_instances(2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    let (token, code) = request(a, "typist@example.com").await;
    // The browser that asked types the code; its request lands on B.
    same_browser(a, b);
    let csrf = b.csrf_token().await;
    let response = b.post_form("/login/code", &[("code", &code), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&response));
    assert_eq!(signed_in_email(b).await.as_deref(), Some("typist@example.com"));
    // The code used the attempt everywhere: A refuses the link now.
    same_browser(b, a);
    assert_eq!(a.post_verify(&token).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn concurrent_redemptions_split_across_three_instances_give_exactly_one_session() {
    let apps = spawn_instances(3, &[]).await;
    let (token, _) = request(&apps[0], "contest@example.com").await;
    let mut winners = race_redemptions(&[&apps[0], &apps[1], &apps[2]], &token, 30).await;
    assert_eq!(winners.len(), 1, "{} sessions from one link", winners.len());

    // The store agrees: the user has exactly one live session.
    let set = winners.pop().unwrap();
    let session = set_cookies(&set).into_iter().find(|c| c.starts_with("__Host-session=")).unwrap();
    let jwt = session.trim_start_matches("__Host-session=").split(';').next().unwrap().to_owned();
    apps[1].set_cookie("__Host-session", &jwt);
    let claims: Value = apps[1].get_session().await.json().await.unwrap();
    let user = UserId::parse(claims["sub"].as_str().unwrap()).unwrap();
    let store = apps[2].store();
    let mut conn = store.connection();
    let live: Vec<String> =
        ::redis::cmd("SMEMBERS").arg(store.keys().sessions(&user)).query_async(&mut conn).await.unwrap();
    assert_eq!(live, vec![claims["sid"].as_str().unwrap().to_owned()]);
}

#[tokio::test]
async fn a_rate_limit_counts_requests_made_on_every_instance() {
    let apps = spawn_instances(2, &[("RATE_LIMIT_LOGIN_EMAIL", "2/15m")]).await;
    let (a, b) = (&apps[0], &apps[1]);
    assert_eq!(a.post_login("counted@example.com").await.status(), StatusCode::OK);
    assert_eq!(b.post_login("counted@example.com").await.status(), StatusCode::OK);
    let refused = a.post_login("counted@example.com").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.post_login("counted@example.com").await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Only the two allowed requests sent mail (the instances share one SMTP server).
    a.mail.wait_for(2).await;
    a.outbox_settled().await;
    assert_eq!(a.mail.received().len(), 2);
}

#[tokio::test]
async fn a_policy_change_made_on_one_instance_changes_what_another_does() {
    let apps = spawn_instances(2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    // Before: a sign-in on B ends on the account page.
    let (token, _) = request(b, "before@example.com").await;
    assert_eq!(b.post_verify(&token).await.headers()[LOCATION], "/account");

    let url = format!("{}/api/v1/admin/policy", a.address);
    let mut policy: Value = a.client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    policy["second_factor"] = "required".into();
    let put = a.client.put(&url).bearer_auth(ADMIN_TOKEN).json(&policy).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    // B follows within its refresh interval: a sign-in there now stops at the second factor.
    let deadline = Instant::now() + latchkey::policy::REFRESH * 5;
    for n in 0.. {
        b.clear_cookies();
        let (token, _) = request(b, &format!("after{n}@example.com")).await;
        let response = b.post_verify(&token).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        if response.headers()[LOCATION] == "/login/2fa" {
            assert!(!session_cookie_set(&response), "a session without the required second factor");
            break;
        }
        assert!(Instant::now() < deadline, "instance B never applied the policy changed on A");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_session_from_one_instance_passes_forward_auth_on_another_and_logout_there_ends_it() {
    let apps = spawn_instances(2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.sign_in("everywhere@example.com").await;
    same_browser(a, b);
    let verified = b.get("/auth/verify").await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(verified.headers()["x-auth-email"], "everywhere@example.com");

    let csrf = b.csrf_token().await;
    let out = b.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    // A still holds the cookie, but the session is over on every instance.
    assert!(a.cookie("__Host-session").is_some());
    assert_eq!(a.get("/auth/verify").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(a.get_session().await.status(), StatusCode::UNAUTHORIZED);
}

/// Whether an address may have its sign-in mail is decided when the mail is sent (the request
/// reads nothing of the account): an account blocked while its mail waits gets none.
#[tokio::test]
async fn a_sign_in_mail_waiting_in_the_outbox_is_not_sent_once_its_account_is_blocked() {
    let web = spawn_app_with(&[("OUTBOX_WORKER", "false")]).await;
    let (blocked, welcome) = ("changed-mind@example.com", "still-welcome@example.com");
    let store = web.store();
    store.find_or_create_user(&lookup_of(blocked), &Email::parse(blocked).unwrap(), chrono::Utc::now()).await.unwrap();
    for email in [blocked, welcome] {
        assert_eq!(web.post_login(email).await.status(), StatusCode::OK);
    }
    store.set_blocked(&lookup_of(blocked), true).await.unwrap();

    let courier = spawn_peer(&web, &[]).await;
    web.mail.wait_for_link_mail(0).await;
    let settled = courier.outbox_settled().await;
    assert_eq!((settled.ready, settled.in_flight, settled.dead), (0, 0, 0), "{settled:?}");
    let recipients: Vec<_> = web.mail.received().into_iter().flat_map(|m| m.to).collect();
    assert_eq!(recipients, [welcome], "only the account that may sign in gets its mail");
}

#[tokio::test]
async fn an_instance_that_only_queues_leaves_its_mail_to_one_that_delivers() {
    let web = spawn_app_with(&[("OUTBOX_WORKER", "false")]).await;
    assert_eq!(web.post_login("queued@example.com").await.status(), StatusCode::OK);
    // No worker runs anywhere yet: the mail waits in the shared outbox, undelivered.
    let stats = web.queue().outbox_stats().await.unwrap();
    assert_eq!((stats.ready, stats.in_flight, stats.dead), (1, 0, 0));
    assert!(web.mail.received().is_empty());

    // An instance that delivers (the default) sends it, with a link that works on the first.
    let courier = spawn_peer(&web, &[]).await;
    let mail = web.mail.wait_for_link_mail(0).await;
    assert_eq!(mail.to, ["queued@example.com"]);
    let token = crate::helpers::token_from_link(&crate::helpers::magic_link_from(&mail));
    assert_eq!(web.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(courier.outbox_settled().await.ready, 0);
    // Only the courier ever read the outbox: the first instance has no consumer in the group.
    let keys = latchkey::store::Keys::new(web.prefix.clone());
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(keys.outbox_ready())
        .arg("workers")
        .query_async(&mut web.store().connection())
        .await
        .unwrap();
    assert_eq!(consumers.len(), 1, "one consumer: the courier's");
}
