//! A rate-limit window under a second, and a stored policy an instance cannot read: refused at
//! the door, and never a 500 on the routes that read the policy.

use std::time::{Duration, Instant};

use latchkey::Settings;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, captured_logs, spawn_app_with, spawn_peer};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

async fn spawn_admin_app() -> TestApp {
    spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")]).await
}

async fn put_policy(app: &TestApp, policy: &Value) -> reqwest::Response {
    let url = format!("{}/api/v1/admin/policy", app.address);
    app.client.put(url).bearer_auth(TOKEN).json(policy).send().await.unwrap()
}

async fn get_policy(app: &TestApp) -> Value {
    let url = format!("{}/api/v1/admin/policy", app.address);
    app.client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

async fn metrics(app: &TestApp) -> String {
    app.get("/metrics").await.text().await.unwrap()
}

#[tokio::test]
async fn a_sub_second_rate_limit_window_is_refused_by_the_admin_api_naming_the_field() {
    let app = spawn_admin_app().await;
    let mut policy = get_policy(&app).await;
    for window in ["3/500ms", "3/0s", "3/1500ms"] {
        policy["rate_limits"] = serde_json::json!({ "login-email": window });
        let response = put_policy(&app, &policy).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{window} accepted");
        let body: Value = response.json().await.unwrap();
        let named = body["fields"]["rate_limits"].as_str().unwrap_or_default();
        assert!(named.contains("login-email") && named.contains("1s"), "{window}: {body}");
    }
    // Nothing was stored: the sign-in still works under the old limits.
    assert_eq!(get_policy(&app).await["rate_limits"]["login-email"], "20/900s");
    assert_eq!(app.post_login("still-fine@example.com").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sub_second_rate_limit_window_in_the_environment_stops_start_up_naming_the_variable() {
    let vars = [("RATE_LIMIT_LOGIN_EMAIL", "5/500ms"), ("RATE_LIMIT_SMS_IP", "10/0s")];
    let err = Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
        .expect_err("a 500 ms window was accepted");
    assert!(err.mentions("RATE_LIMIT_LOGIN_EMAIL") && err.mentions("RATE_LIMIT_SMS_IP"), "{err}");
    assert!(err.to_string().contains("at least 1s"), "{err}");
}

/// Hostile or careless: what a rollback to an older version, or a hand edit, leaves behind.
async fn store_bad_policy(app: &TestApp, good: &Value) {
    let mut bad = good.clone();
    bad["version"] = (good["version"].as_u64().unwrap() + 1).into();
    bad["rate_limits"]["login-email"] = "3/0s".into();
    let mut conn = app.store().connection();
    let key = format!("{}policy", app.prefix);
    let _: () = ::redis::cmd("SET").arg(key).arg(bad.to_string()).query_async(&mut conn).await.unwrap();
}

/// Every route that reads the policy (and a few that do not), as a stranger would call them.
async fn every_route_answers_without_a_server_error(app: &TestApp) {
    let csrf = app.csrf_token().await;
    let responses = [
        app.get("/login").await,
        app.post_form("/login", &[("email", "someone@example.com"), ("csrf", &csrf)]).await,
        app.send(
            app.client
                .post(format!("{}/api/v1/login", app.address))
                .json(&serde_json::json!({"email": "x@example.com"})),
        )
        .await,
        app.get("/login/verify?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await,
        app.post_form("/login/verify", &[("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), ("csrf", &csrf)])
            .await,
        app.post_form("/login/code", &[("code", "ABCD-EFGH"), ("csrf", &csrf)]).await,
        app.get("/login/2fa").await,
        app.get("/account").await,
        app.get("/oauth2/authorize?client_id=none&response_type=code").await,
        app.client.get(format!("{}/api/v1/admin/policy", app.address)).bearer_auth(TOKEN).send().await.unwrap(),
    ];
    for response in responses {
        assert!(!response.status().is_server_error(), "{} answered {}", response.url(), response.status());
    }
}

#[tokio::test]
async fn a_stored_policy_this_instance_cannot_read_keeps_the_last_good_one_and_no_route_fails() {
    let app = spawn_admin_app().await;
    // The last good policy: one link per address per 15 minutes (the starting one allows 5).
    let mut good = get_policy(&app).await;
    good["rate_limits"] = serde_json::json!({ "login-email": "1/15m" });
    let good: Value = put_policy(&app, &good).await.json().await.unwrap();
    store_bad_policy(&app, &good).await;

    // The instance re-reads the store within seconds of a request that needs the policy; it
    // has once the metric counts it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = get_policy(&app).await;
        if metrics(&app).await.contains("latchkey_policy_unreadable_total{field=\"rate_limits\"}") {
            break;
        }
        assert!(Instant::now() < deadline, "the unreadable policy was never counted:\n{}", metrics(&app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    every_route_answers_without_a_server_error(&app).await;
    // The last good policy is the one in force: the second link for one address is refused.
    assert_eq!(app.post_login("twice@example.com").await.status(), StatusCode::OK);
    assert_eq!(app.post_login("twice@example.com").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get_policy(&app).await["version"], good["version"]);
    // The log says which field, and what to do.
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| {
            l.contains("stored policy cannot be read") && l.contains(&format!("kept_version={}", good["version"]))
        })
        .unwrap_or_else(|| panic!("no error line names the policy problem"));
    assert!(line.contains("ERROR") && line.contains("field=\"rate_limits\""), "{line}");

    // A new instance on the same store starts with its starting policy and answers too.
    let peer = spawn_peer(&app, &[("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")]).await;
    every_route_answers_without_a_server_error(&peer).await;
    assert!(metrics(&peer).await.contains("latchkey_policy_unreadable_total{field=\"rate_limits\"}"));

    // An admin fixes it with a PUT of the version in force; the store then holds a good one.
    let mut fixed = good.clone();
    fixed["rate_limits"] = serde_json::json!({ "login-email": "2/15m" });
    assert_eq!(put_policy(&app, &fixed).await.status(), StatusCode::OK);
    let mut conn = app.store().connection();
    let stored: String = ::redis::cmd("GET").arg(format!("{}policy", app.prefix)).query_async(&mut conn).await.unwrap();
    assert!(stored.contains("\"login-email\":\"2/900s\""), "{stored}");
}
