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

fn kinds(events: &Value) -> Vec<String> {
    events["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
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
    assert_eq!(global, ["session_ended", "session_issued", "link_opened", "link_requested"], "{global:?}");
    // The user's own log holds what is theirs.
    let user = kinds(&audit(&app, "?user=audited@example.com").await);
    assert_eq!(user, ["session_ended", "session_issued"]);
    // Filter by kind.
    assert_eq!(kinds(&audit(&app, "?kind=link_requested").await), ["link_requested"]);
    // Paging.
    let first = audit(&app, "?limit=2").await;
    assert_eq!(kinds(&first), ["session_ended", "session_issued"]);
    let next = first["next"].as_str().unwrap();
    assert_eq!(kinds(&audit(&app, &format!("?limit=2&before={next}")).await), ["link_opened", "link_requested"]);
    // Nothing secret in the log.
    let text = audit(&app, "").await.to_string();
    assert!(!text.contains("token=") && !text.contains("audited@example.com"), "{text}");
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
    let after = samples(&app.get("/metrics").await.text().await.unwrap());
    for name in ["latchkey_link_requested_total", "latchkey_session_issued_total{detail=\"email\"}"] {
        assert_eq!(after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0), 1.0, "{name}");
    }
    // Delivery is counted once the worker has sent it.
    assert_eq!(after.get("latchkey_mail_total{outcome=\"sent\"}").copied(), Some(1.0));
    // Failures by reason, and rate-limit hits.
    let bogus = latchkey::crypto::random_token::<32>().unwrap();
    app.post_verify(&bogus).await;
    assert_eq!(app.post_verify(&bogus).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let last = samples(&app.get("/metrics").await.text().await.unwrap());
    assert_eq!(last.get("latchkey_link_failed_total{detail=\"unknown\"}").copied(), Some(1.0));
    assert_eq!(last.get("latchkey_rate_limited_total{action=\"redeem-fail-ip\"}").copied(), Some(1.0));
}
