//! The suppression list: a mailbox refused at send time (SMTP 5xx) goes on it, gets no more
//! mail, and the waiting page of the browser that asked says so (only that browser); admins
//! see and clear entries.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

const TOKEN: &str = "deliverability-admin-token-0123456789abcdef";

async fn api_login(app: &TestApp, email: &str) -> StatusCode {
    let url = format!("{}/api/v1/login", app.address);
    app.client.post(url).json(&serde_json::json!({ "email": email })).send().await.unwrap().status()
}

async fn suppression(app: &TestApp, email: &str) -> Value {
    let url = format!("{}/api/v1/admin/suppressions", app.address);
    let response = app.client.get(url).query(&[("email", email)]).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn clear(app: &TestApp, email: &str) -> Value {
    let url = format!("{}/api/v1/admin/suppressions", app.address);
    let response = app.client.delete(url).query(&[("email", email)]).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn dead_reasons(app: &TestApp) -> Vec<String> {
    let url = format!("{}/api/v1/admin/outbox", app.address);
    let outbox: Value = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    outbox["dead_letters"].as_array().unwrap().iter().map(|d| d["reason"].as_str().unwrap().to_owned()).collect()
}

async fn global_events(app: &TestApp) -> Vec<Value> {
    let url = format!("{}/api/v1/admin/audit", app.address);
    let audit: Value = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    audit["events"].as_array().cloned().unwrap_or_default()
}

async fn spawn() -> TestApp {
    spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("RATE_LIMIT_LOGIN_IP", "100/1h")]).await
}

#[tokio::test]
async fn a_mailbox_refused_at_send_time_is_suppressed_gets_no_more_mail_until_an_admin_clears_it() {
    let app = spawn().await;
    assert_eq!(suppression(&app, "bounce-perm@example.com").await["suppression"], Value::Null);
    assert_eq!(api_login(&app, "bounce-perm@example.com").await, StatusCode::ACCEPTED);
    app.outbox_settled().await;

    let entry = suppression(&app, "bounce-perm@example.com").await;
    assert_eq!(entry["suppression"]["reason"], "smtp_5xx", "{entry}");
    assert_eq!(entry["suppression"]["source"], "smtp", "{entry}");
    // The entry is the mailbox's: a `+tag` of it shares it.
    assert_eq!(suppression(&app, "bounce-perm+news@example.com").await["suppression"]["reason"], "smtp_5xx");
    // Keyed by a hash: the store holds no address in clear.
    let dump = app.dump_redis().await;
    let entries: Vec<_> = dump.iter().filter(|(k, _)| k.contains("suppress:")).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(!entries[0].0.contains("bounce-perm") && !entries[0].1.contains("bounce-perm@"), "{entries:?}");

    // The next mail is not sent: set aside with the dead letters, counted, not audited again.
    assert_eq!(api_login(&app, "bounce-perm+again@example.com").await, StatusCode::ACCEPTED);
    app.outbox_settled().await;
    let reasons = dead_reasons(&app).await;
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("550")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.starts_with("not sent: the address is suppressed (smtp_5xx from smtp")),
        "{reasons:?}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("latchkey_mail_total{outcome=\"suppressed\"} 1"), "{metrics}");
    assert!(metrics.contains("latchkey_mail_domain_total{event=\"refused\",group=\"other\"} 1"), "{metrics}");
    assert!(metrics.contains("latchkey_mail_domain_total{event=\"suppressed\",group=\"other\"} 1"), "{metrics}");
    let suppressed: Vec<_> =
        global_events(&app).await.into_iter().filter(|e| e["kind"] == "address_suppressed").collect();
    assert_eq!(suppressed.len(), 1, "audited once: {suppressed:?}");
    let detail = suppressed[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("b***@e***.com") && detail.contains("smtp_5xx") && !detail.contains("bounce-perm"),
        "{detail}"
    );

    // An admin clears it (audited), and mail goes to it again (and is refused again).
    assert_eq!(clear(&app, "bounce-perm@example.com").await["cleared"], true);
    assert_eq!(clear(&app, "bounce-perm@example.com").await["cleared"], false);
    assert_eq!(suppression(&app, "bounce-perm@example.com").await["suppression"], Value::Null);
    let cleared = global_events(&app).await;
    assert!(
        cleared
            .iter()
            .any(|e| e["kind"] == "admin_action" && e["detail"].as_str().unwrap().contains("clear-suppression")),
        "{cleared:?}"
    );
    assert_eq!(api_login(&app, "bounce-perm@example.com").await, StatusCode::ACCEPTED);
    app.outbox_settled().await;
    assert_eq!(dead_reasons(&app).await.iter().filter(|r| r.contains("550")).count(), 2);
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_and_suppresses_nothing() {
    let app =
        spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("OUTBOX_RETRY_BASE", "20ms"), ("OUTBOX_MAX_TRIES", "2")]).await;
    assert_eq!(api_login(&app, "bounce-temp@example.com").await, StatusCode::ACCEPTED);
    app.outbox_settled().await;
    assert_eq!(suppression(&app, "bounce-temp@example.com").await["suppression"], Value::Null);
}

#[tokio::test]
async fn the_waiting_page_of_the_browser_that_asked_says_the_mail_could_not_be_delivered() {
    let app = spawn().await;
    assert_eq!(app.post_login("bounce-perm@example.com").await.status(), StatusCode::OK);
    let asked = app.cookie("__Host-attempt").expect("an attempt cookie");
    app.outbox_settled().await;
    let page = app.get("/login/status").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("We could not deliver mail to bounce-perm@example.com: check the address."), "{html}");

    // Another browser, waiting for its own link, sees its own page only.
    app.clear_cookies();
    assert_eq!(app.post_login("ann@example.com").await.status(), StatusCode::OK);
    app.mail.wait_for_link_mail(0).await;
    let html = app.get("/login/status").await.text().await.unwrap();
    assert!(!html.contains("could not deliver") && !html.contains("bounce-perm"), "{html}");
    // No cookie at all: nothing about anyone.
    app.clear_cookies();
    let html = app.get("/login/status").await.text().await.unwrap();
    assert!(!html.contains("could not deliver") && !html.contains("bounce-perm"), "{html}");
    // The browser that asked still sees it, in its language.
    app.set_cookie("__Host-attempt", &asked);
    let url = format!("{}/login/status", app.address);
    let request = app.client.get(url).header("Accept-Language", "de");
    let html = app.send(request).await.text().await.unwrap();
    assert!(html.contains("Wir konnten keine E-Mail an bounce-perm@example.com zustellen"), "{html}");
}

#[tokio::test]
async fn an_address_suppressed_before_the_link_was_asked_for_keeps_the_waiting_page_as_it_is() {
    let app = spawn().await;
    assert_eq!(api_login(&app, "bounce-perm@example.com").await, StatusCode::ACCEPTED);
    app.outbox_settled().await;
    // The clock moves on: a new request after the entry was made.
    app.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(app.post_login("bounce-perm@example.com").await.status(), StatusCode::OK);
    app.outbox_settled().await;
    let html = app.get("/login/status").await.text().await.unwrap();
    assert!(!html.contains("could not deliver"), "suppressed before: nothing told: {html}");
}

#[tokio::test]
async fn the_admin_page_shows_and_clears_a_suppression() {
    let app = spawn_app_with(&[
        ("ADMIN_API_TOKEN", TOKEN),
        ("ADMIN_EMAILS", "boss@example.com"),
        ("RATE_LIMIT_LOGIN_IP", "100/1h"),
    ])
    .await;
    assert_eq!(api_login(&app, "bounce-perm@example.com").await, StatusCode::ACCEPTED);
    app.outbox_settled().await;
    // Strangers are sent to the sign-in.
    let away = app.get("/admin/suppressions?email=bounce-perm@example.com").await;
    assert_eq!(away.status(), StatusCode::SEE_OTHER);
    crate::admin::sign_in_admin(&app).await;
    let html = app.get("/admin").await.text().await.unwrap();
    assert!(html.contains("action=\"/admin/suppressions\""), "{html}");
    let html = app.get("/admin/suppressions?email=bounce-perm@example.com").await.text().await.unwrap();
    assert!(html.contains("No mail is sent to this address until") && html.contains("smtp_5xx"), "{html}");
    let csrf = crate::helpers::hidden_field(&html, "csrf").unwrap();
    let cleared =
        app.post_form("/admin/suppressions/clear", &[("csrf", &csrf), ("email", "bounce-perm@example.com")]).await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let html = cleared.text().await.unwrap();
    assert!(
        html.contains("mail goes to it again") && html.contains("Mail to this address is sent as usual."),
        "{html}"
    );
    assert_eq!(suppression(&app, "bounce-perm@example.com").await["suppression"], Value::Null);
}

#[tokio::test]
async fn a_bounce_reported_while_the_browser_waits_shows_on_its_waiting_page() {
    const POSTMARK: &str = "postmark:hook-password-0123456789";
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("BOUNCE_POSTMARK_CREDENTIALS", POSTMARK)]).await;
    assert_eq!(app.post_login("ann@example.com").await.status(), StatusCode::OK);
    app.mail.wait_for_link_mail(0).await;
    let html = app.get("/login/status").await.text().await.unwrap();
    assert!(!html.contains("could not deliver"), "delivered so far: {html}");

    // The provider reports the mailbox gone (for a +tag of it: the same mailbox).
    let url = format!("{}/hooks/bounces/postmark", app.address);
    let bounce = serde_json::json!({ "RecordType": "Bounce", "Type": "HardBounce", "Email": "ann+old@example.com" });
    let reported = app.client.post(url).basic_auth("postmark", Some("hook-password-0123456789")).json(&bounce);
    assert_eq!(reported.send().await.unwrap().status(), StatusCode::OK);
    let html = app.get("/login/status").await.text().await.unwrap();
    assert!(html.contains("We could not deliver mail to ann@example.com: check the address."), "{html}");
}
