//! The audit log and the metrics a full sign-in leaves behind.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

async fn audit(app: &TestApp, query: &str) -> Value {
    let url = format!("{}/api/v1/admin/audit{query}", app.address);
    let response = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The kinds of the events, leaving out mail delivery (it happens in the background, so its
/// place in the order is not fixed).
fn kinds(events: &Value) -> Vec<String> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .filter(|k| !k.starts_with("mail_"))
        .collect()
}

/// Parses the Prometheus text: every sample line is `name{labels} value` with a number.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("a sample without a value");
            (name.to_owned(), value.parse::<f64>().expect("a non-numeric sample"))
        })
        .collect()
}

#[tokio::test]
async fn a_sign_in_leaves_its_events_in_order_for_the_admin_and_the_user() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    let token = app.request_token("audited@example.com").await;
    assert_eq!(app.get_verify(&token).await.status(), StatusCode::OK);
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;

    // Global log, newest first.
    let global = kinds(&audit(&app, "").await);
    // A link request is counted in the metrics, not logged.
    assert_eq!(global, ["session_ended", "session_issued", "link_opened"], "{global:?}");
    // The user's own log holds what is theirs (the first request came before the account).
    let user = kinds(&audit(&app, "?user=audited@example.com").await);
    assert_eq!(user, ["session_ended", "session_issued"]);
    // Filter by kind.
    assert_eq!(kinds(&audit(&app, "?kind=link_opened").await), ["link_opened"]);
    // A sign-in mail's delivery is counted, not logged, as its request is.
    app.outbox_settled().await;
    // Paging: two at a time, back to the first event.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = audit(&app, &query).await;
        assert!(page["events"].as_array().unwrap().len() <= 2);
        seen.extend(page["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=2&before={next}"),
            None => break,
        }
    }
    let without_mail: Vec<_> = seen.iter().filter(|k| !k.starts_with("mail_")).cloned().collect();
    assert_eq!(without_mail, ["session_ended", "session_issued", "link_opened"]);
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Nothing secret in the log.
    let text = audit(&app, "").await.to_string();
    assert!(!text.contains("token=") && !text.contains("audited@example.com"), "{text}");
    // Now that the account exists, a failed use of a link for it shows in its own log (the
    // request for the link does not: link requests are counted, not logged).
    let again = app.request_token("audited@example.com").await;
    app.clock.advance(chrono::Duration::minutes(16));
    app.post_verify(&again).await;
    let user = kinds(&audit(&app, "?user=audited@example.com").await);
    assert_eq!(user, ["link_failed", "session_ended", "session_issued"], "{user:?}");

    // Other mails are logged (with the address masked) once the mail server took them: a
    // sign-in from a new browser mails the owner a notice, which leaves the one `mail_sent`
    // among the four mails sent.
    app.clear_cookies();
    app.sign_in("audited@example.com").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while audit(&app, "?kind=mail_sent").await["events"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no mail_sent event");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), 4);
    let sent = audit(&app, "?kind=mail_sent").await;
    assert_eq!(sent["events"].as_array().unwrap().len(), 1, "{sent}");
    assert_eq!(sent["events"][0]["detail"], "to a***@e***.com");
}

#[tokio::test]
async fn the_account_page_shows_recent_activity() {
    let app = spawn_app_with(&[]).await;
    app.sign_in("recent@example.com").await;
    let html = app.get("/account").await.text().await.unwrap();
    assert!(html.contains("Recent activity") && html.contains("Signed in"), "{html}");
}

#[tokio::test]
async fn metrics_parse_and_the_funnel_moves_with_a_sign_in() {
    let app = spawn_app_with(&[("RATE_LIMIT_REDEEM_FAILURES_IP", "1/15m")]).await;
    let before = samples(&app.get("/metrics").await.text().await.unwrap());
    assert!(before.contains_key("latchkey_store_errors_total"));
    app.sign_in("funnel@example.com").await;
    // Delivery is counted once the worker has sent it (the sign-in mail's `mail_sent` is counted,
    // not logged).
    let after = samples(&app.metrics_with("latchkey_mail_sent_total 1").await);
    for name in [
        "latchkey_link_requested_total",
        "latchkey_session_issued_total{detail=\"email\"}",
        "latchkey_mail_total{outcome=\"sent\"}",
        "latchkey_mail_sent_total",
    ] {
        assert_eq!(after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0), 1.0, "{name}");
    }
    // Failures by reason, and rate-limit hits.
    let bogus = latchkey::crypto::random_token::<32>().unwrap();
    app.post_verify(&bogus).await;
    assert_eq!(app.post_verify(&bogus).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let last = samples(&app.get("/metrics").await.text().await.unwrap());
    assert_eq!(last.get("latchkey_link_failed_total{detail=\"unknown\"}").copied(), Some(1.0));
    assert_eq!(last.get("latchkey_rate_limited_total{action=\"redeem-fail-ip\"}").copied(), Some(1.0));
}

/// The new-device notices among the mails received.
fn notices(app: &TestApp) -> Vec<crate::helpers::ReceivedMail> {
    app.mail.received().into_iter().filter(|m| m.subject() == "New sign-in to your account").collect()
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_is_mailed_with_a_way_to_shut_it_out() {
    let app = spawn_app_with(&[]).await;
    // The first browser of an account is no news; the same browser again neither.
    app.sign_in("watchful@example.com").await;
    let laptop = app.cookie("__Host-session").unwrap();
    let device = app.cookie("__Host-device").expect("no device cookie");
    app.sign_in("watchful@example.com").await;
    assert_eq!(app.cookie("__Host-device").as_deref(), Some(device.as_str()));
    // A new browser: one notice, naming it.
    app.clear_cookies();
    app.sign_in("watchful@example.com").await;
    let intruder = app.cookie("__Host-session").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while notices(&app).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no new-device notice");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.outbox_settled().await;
    let all = notices(&app);
    assert_eq!(all.len(), 1, "one notice per new browser");
    let text = all[0].text();
    assert!(text.contains("127.0.0.1"), "{text}");
    let link =
        text.split_whitespace().find(|w| w.contains("/account/not-me?token=")).expect("no report link").to_owned();
    let token = crate::helpers::token_from_link(&link);

    // Opening the link does nothing by itself (mail scanners).
    let page = app.send(app.client.get(format!("{}/account/not-me", app.address)).query(&[("token", &token)])).await;
    assert_eq!(page.status(), StatusCode::OK);
    app.set_cookie("__Host-session", &intruder);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
    // Pressing the button ends every session and voids links still waiting.
    let waiting = app.request_token("watchful@example.com").await;
    let csrf = app.csrf_token().await;
    let done = app.post_form("/account/not-me", &[("csrf", &csrf), ("token", &token)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    for session in [&laptop, &intruder] {
        app.set_cookie("__Host-session", session);
        assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.post_verify(&waiting).await.status(), StatusCode::GONE, "a waiting link survived");
    // The link works once.
    let csrf = app.csrf_token().await;
    assert_eq!(
        app.post_form("/account/not-me", &[("csrf", &csrf), ("token", &token)]).await.status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn with_metrics_addr_the_metrics_leave_the_public_port() {
    let port = crate::helpers::free_port();
    let addr = format!("127.0.0.1:{port}");
    let app = spawn_app_with(&[("METRICS_ADDR", &addr)]).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let text = app.client.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(samples(&text).contains_key("latchkey_store_errors_total"), "{text}");
}
