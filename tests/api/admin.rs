//! Administration: who may, the run-time policy on every instance, and acting on users.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

async fn spawn_admin_app(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}/api/v1/admin{path}", app.address)).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn only_admins_get_in() {
    let app = spawn_admin_app(&[]).await;
    let url = format!("{}/api/v1/admin/policy", app.address);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = app.client.get(&url).bearer_auth("admin-api-token-admin-api-token-012345678X").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(admin(&app, reqwest::Method::GET, "/policy", None).await.status(), StatusCode::OK);

    // A signed-in person who is not an admin.
    app.sign_in("staff@example.com").await;
    assert_eq!(app.get("/api/v1/admin/policy").await.status(), StatusCode::FORBIDDEN);

    // An admin: the sign-in demands a second factor; with it, the admin API opens.
    app.clear_cookies();
    let token = app.request_token("boss@example.com").await;
    app.post_verify(&token).await;
    let html = app.get("/login/2fa").await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    let code = crate::second_factor::code(&app, &secret, 0);
    assert_eq!(app.post_form("/login/2fa/enroll", &[("csrf", &csrf), ("code", &code)]).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/admin/policy").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_policy_is_refused_naming_each_field() {
    let app = spawn_admin_app(&[]).await;
    let mut policy: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    policy["link_ttl_secs"] = 7200.into();
    policy["session_ttl_secs"] = 10.into();
    policy["methods"] = serde_json::json!({ "totp": false, "sms": false });
    let response = admin(&app, reqwest::Method::PUT, "/policy", Some(policy)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    for field in ["link_ttl_secs", "session_ttl_secs", "methods"] {
        assert!(body["fields"][field].is_string(), "{field} not named: {body}");
    }
    let response =
        admin(&app, reqwest::Method::PUT, "/policy", Some(serde_json::json!({ "second_factor": "sometimes" }))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "an unknown second_factor value was accepted");
    let mut with_unknown: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    with_unknown["unknown_knob"] = 1.into();
    let response = admin(&app, reqwest::Method::PUT, "/policy", Some(with_unknown)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("unknown_knob"));
    // Leaving a field out never loosens it: the whole policy is required.
    let mut partial: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    partial.as_object_mut().unwrap().remove("signup_allow");
    let response = admin(&app, reqwest::Method::PUT, "/policy", Some(partial)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["fields"]["signup_allow"].is_string());
    // Locking everyone out is refused.
    let mut zero: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    zero["rate_limits"] = serde_json::json!({ "redeem-fail-ip": "0/15m" });
    let response = admin(&app, reqwest::Method::PUT, "/policy", Some(zero)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["fields"]["rate_limits"].is_string());
}

#[tokio::test]
async fn two_admins_editing_one_version_conflict_instead_of_overwriting() {
    let app = spawn_admin_app(&[]).await;
    let read: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    let mut first = read.clone();
    first["link_ttl_secs"] = 600.into();
    assert_eq!(admin(&app, reqwest::Method::PUT, "/policy", Some(first)).await.status(), StatusCode::OK);
    let mut second = read;
    second["session_ttl_secs"] = 3600.into();
    assert_eq!(admin(&app, reqwest::Method::PUT, "/policy", Some(second)).await.status(), StatusCode::CONFLICT);
    // A change by cookie needs proof it comes from our own pages; JSON only.
    let url = format!("{}/api/v1/admin/policy", app.address);
    let text = app.client.put(&url).bearer_auth(TOKEN).body("{}").send().await.unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_policy_change_on_one_instance_reaches_another_within_seconds() {
    let a = spawn_admin_app(&[]).await;
    let b = crate::helpers::spawn_peer(&a, &[("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")]).await;
    let mut policy: Value = admin(&a, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    policy["link_ttl_secs"] = 120.into();
    let changed: Value = admin(&a, reqwest::Method::PUT, "/policy", Some(policy)).await.json().await.unwrap();
    assert_eq!(changed["link_ttl_secs"], 120);
    // The audit log names who changed what.
    let url = format!("{}/api/v1/admin/audit?kind=admin_action", a.address);
    let log: Value = a.client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let detail = log["events"][0]["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("link_ttl_secs: 900 -> 120") && detail.contains("by api-token"), "{detail}");
    let version = changed["version"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen: Value = admin(&b, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
        if seen["version"].as_u64() == Some(version) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "instance B still has version {}", seen["version"]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // B now issues two-minute links.
    assert_eq!(b.post_login("short@example.com").await.status(), StatusCode::OK);
    assert!(b.mail.wait_for(1).await[0].text().contains("expires in 2 minutes"));
}

#[tokio::test]
async fn an_admin_looks_a_user_up_and_revokes_their_sessions() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("user@example.com").await;
    let report: Value = admin(&app, reqwest::Method::GET, "/users/User@Example.com", None).await.json().await.unwrap();
    assert_eq!(report["email"], "user@example.com");
    assert_eq!(report["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(report["second_factor"]["totp"], false);
    assert_eq!(report["recent_events"][0]["kind"], "session_issued");
    assert!(!report.to_string().contains("totp\":\""), "a secret in the report");
    assert_eq!(app.get("/auth/verify").await.status(), StatusCode::OK);
    let revoked: Value =
        admin(&app, reqwest::Method::POST, "/users/user@example.com/revoke-sessions", None).await.json().await.unwrap();
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(app.get("/auth/verify").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        admin(&app, reqwest::Method::GET, "/users/nobody@example.com", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_blocked_user_gets_the_same_page_and_no_mail() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("mallory@example.com").await;
    let before = app.mail.received().len();
    assert_eq!(
        admin(&app, reqwest::Method::POST, "/users/mallory@example.com/block", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/auth/verify").await.status(), StatusCode::UNAUTHORIZED, "block should end sessions");
    let response = app.post_login("mallory@example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Check your email"));
    app.outbox_settled().await;
    // The block's notice, and no sign-in link.
    let mails: Vec<_> = app.mail.received().into_iter().skip(before).collect();
    let subjects: Vec<_> = mails.iter().map(|m| m.subject()).collect();
    assert_eq!(subjects, ["The way you sign in has changed"], "a blocked user got a sign-in mail");
    assert!(!mails[0].text().contains("/login/verify"), "{}", mails[0].text());
    assert_eq!(
        admin(&app, reqwest::Method::POST, "/users/mallory@example.com/unblock", None).await.status(),
        StatusCode::OK
    );
    app.request_token("mallory@example.com").await;
}

#[tokio::test]
async fn resetting_the_second_factor_lets_the_user_in_with_the_link_alone() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("lost-phone@example.com").await;
    let csrf = app.csrf_token().await;
    let html = app.post_form("/account/totp/enroll", &[("csrf", &csrf)]).await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    let code = crate::second_factor::code(&app, &secret, 0);
    app.post_form("/account/totp/confirm", &[("csrf", &csrf), ("code", &code)]).await;
    let response = admin(&app, reqwest::Method::DELETE, "/users/lost-phone@example.com/second-factor", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.clear_cookies();
    let token = app.request_token("lost-phone@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()["location"], "/account");
}

#[tokio::test]
async fn a_signup_allow_list_keeps_strangers_out_without_saying_so() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("old-timer@example.com").await;
    app.clear_cookies();
    let mut policy: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    policy["signup_allow"] = serde_json::json!(["example.org", "guest@example.net"]);
    assert_eq!(admin(&app, reqwest::Method::PUT, "/policy", Some(policy.clone())).await.status(), StatusCode::OK);
    let sent = app.mail.received().len();
    // A stranger: the same page, no mail.
    let response = app.post_login("stranger@example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Check your email"));
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), sent, "a stranger got mail");
    // Allowed domains (and subdomains), listed addresses, and existing accounts get their link.
    for email in ["new@example.org", "new@team.example.org", "guest@example.net", "old-timer@example.com"] {
        app.request_token(email).await;
    }
    policy["signup_allow"] = serde_json::json!(["not a domain"]);
    policy.as_object_mut().unwrap().remove("version");
    let response = admin(&app, reqwest::Method::PUT, "/policy", Some(policy)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["fields"]["signup_allow"].is_string());
}

/// The signup list is checked when the link is used too: one narrowed after the mail was sent
/// keeps the new address out, and an existing account still signs in.
#[tokio::test]
async fn a_link_mailed_before_the_signup_list_was_narrowed_makes_no_account() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("regular@example.com").await;
    app.clear_cookies();
    let late = app.request_token("late@example.org").await;
    let mut policy: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    policy["signup_allow"] = serde_json::json!(["example.net"]);
    assert_eq!(admin(&app, reqwest::Method::PUT, "/policy", Some(policy)).await.status(), StatusCode::OK);

    let response = app.post_verify(&late).await;
    assert!(!crate::helpers::session_cookie_set(&response), "a session for an address outside the list");
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin(&app, reqwest::Method::GET, "/users/late@example.org", None).await.status(),
        StatusCode::NOT_FOUND,
        "an account was made for an address outside the list"
    );
    let audit = admin(&app, reqwest::Method::GET, "/audit?kind=link_failed", None).await.text().await.unwrap();
    assert!(audit.contains("signup_closed"), "{audit}");
    let regular = app.request_token("regular@example.com").await;
    assert_eq!(app.post_verify(&regular).await.headers()["location"], "/account");
}

#[tokio::test]
async fn rate_limits_change_at_run_time() {
    let app = spawn_admin_app(&[]).await;
    let mut policy: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    assert_eq!(policy["rate_limits"]["login-email"], "20/900s");
    policy["rate_limits"] = serde_json::json!({ "login-email": "1/15m" });
    let changed: Value = admin(&app, reqwest::Method::PUT, "/policy", Some(policy.clone())).await.json().await.unwrap();
    assert_eq!(changed["rate_limits"]["login-email"], "1/900s");
    assert_eq!(changed["rate_limits"]["login-ip"], "30/900s", "unnamed limits keep their defaults");
    assert_eq!(app.post_login("limited@example.com").await.status(), StatusCode::OK);
    assert_eq!(app.post_login("limited@example.com").await.status(), StatusCode::TOO_MANY_REQUESTS);
    policy["rate_limits"] = serde_json::json!({ "login-email": "lots" });
    policy.as_object_mut().unwrap().remove("version");
    let response = admin(&app, reqwest::Method::PUT, "/policy", Some(policy)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("login-email"));
}

/// Signs boss@example.com in with the (forced) second factor.
pub(crate) async fn sign_in_admin(app: &TestApp) {
    let token = app.request_token("boss@example.com").await;
    app.post_verify(&token).await;
    let html = app.get("/login/2fa").await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    let code = crate::second_factor::code(app, &secret, 0);
    assert_eq!(app.post_form("/login/2fa/enroll", &[("csrf", &csrf), ("code", &code)]).await.status(), StatusCode::OK);
}

fn admin_csrf(html: &str) -> String {
    crate::helpers::hidden_field(html, "csrf").expect("no csrf on the admin page")
}

#[tokio::test]
async fn the_admin_pages_change_the_policy_and_act_on_users() {
    let app = spawn_admin_app(&[]).await;
    // Strangers go to the sign-in; signed-in non-admins are refused.
    assert_eq!(app.get("/admin").await.headers()["location"], "/login?return_to=/admin");
    app.sign_in("victim@example.com").await;
    let victim = app.cookie("__Host-session").unwrap();
    assert_eq!(app.get("/admin").await.status(), StatusCode::FORBIDDEN);
    app.clear_cookies();
    // A mail that cannot be delivered shows up on the page (without its link).
    let bounce = format!("{}/api/v1/login", app.address);
    let sent = app.client.post(bounce).json(&serde_json::json!({ "email": "bounce-perm@example.com" })).send().await;
    assert_eq!(sent.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(app.outbox_settled().await.dead, 1);
    sign_in_admin(&app).await;

    let html = app.get("/admin").await.text().await.unwrap();
    assert!(html.contains("Policy") && html.contains("Recent events"), "{html}");
    assert!(html.contains("1 given up") && html.contains("mail to b***@e***.com"), "{html}");
    assert!(html.contains("SMTP reply 550") && !html.contains("token="), "{html}");
    let csrf = admin_csrf(&html);
    let form = |link: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("link_ttl_minutes", link.to_owned()),
            ("session_ttl_hours", "8".to_owned()),
            ("second_factor", "optional".to_owned()),
            ("totp", "on".to_owned()),
            ("cross_device", "code".to_owned()),
            ("supersede", "on".to_owned()),
            ("signup_allow", String::new()),
        ]
    };
    let bad = app.send(app.client.post(format!("{}/admin/policy", app.address)).form(&form("120"))).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("link_ttl_secs"));
    let good = app.send(app.client.post(format!("{}/admin/policy", app.address)).form(&form("5"))).await;
    assert_eq!(good.status(), StatusCode::SEE_OTHER);
    let policy: Value = admin(&app, reqwest::Method::GET, "/policy", None).await.json().await.unwrap();
    assert_eq!((policy["link_ttl_secs"].as_u64(), policy["session_ttl_secs"].as_u64()), (Some(300), Some(8 * 3600)));
    assert_eq!(policy["methods"]["sms"], false);
    assert_eq!(policy["new_device_notice"], false);

    // A user: looked up, signed out everywhere.
    let page = app.get("/admin/users?email=victim%40example.com").await.text().await.unwrap();
    assert!(page.contains("victim@example.com") && page.contains("Sign out everywhere"), "{page}");
    let csrf = admin_csrf(&page);
    let done = app.post_form("/admin/users/revoke", &[("csrf", &csrf), ("email", "victim@example.com")]).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Sessions ended: 1."));
    let admin_session = app.cookie("__Host-session").unwrap();
    app.set_cookie("__Host-session", &victim);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    app.set_cookie("__Host-session", &admin_session);
    // Without the CSRF token nothing happens.
    let forged = app.post_form("/admin/users/block", &[("email", "victim@example.com")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_session_without_a_second_factor_is_refused() {
    // boss signs in while not yet an admin (no second factor asked) …
    let (key, _) = crate::helpers::jwt_key_file();
    let before = spawn_app_with(&[("JWT_KEYS", &key)]).await;
    before.sign_in("boss@example.com").await;
    let session = before.cookie("__Host-session").unwrap();
    // … then becomes one: that email-only session does not open the admin API or pages.
    let after = crate::helpers::spawn_peer(
        &before,
        &[("JWT_KEYS", &key), ("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")],
    )
    .await;
    after.set_cookie("__Host-session", &session);
    assert_eq!(after.get_session().await.status(), StatusCode::OK, "the session itself is fine");
    assert_eq!(after.get("/api/v1/admin/policy").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(after.get("/admin").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_cookie_change_without_same_origin_proof_or_with_a_wrong_token_is_refused() {
    let app = spawn_admin_app(&[]).await;
    sign_in_admin(&app).await;
    // No Origin and no Sec-Fetch-Site: not provably from our pages.
    let response = app.send(app.client.post(format!("{}/api/v1/admin/users/x%40example.com/block", app.address))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let same_origin = app
        .client
        .post(format!("{}/api/v1/admin/users/nobody%40example.com/block", app.address))
        .header("Sec-Fetch-Site", "same-origin");
    assert_eq!(app.send(same_origin).await.status(), StatusCode::NOT_FOUND, "same-origin passes the guard");
    // A wrong bearer token is a 401 even with an admin's cookie.
    let wrong = app.client.get(format!("{}/api/v1/admin/policy", app.address)).bearer_auth("wrong");
    assert_eq!(app.send(wrong).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn in_production_public_metrics_need_the_admin_token() {
    let (key, _) = crate::helpers::jwt_key_file();
    let app = spawn_admin_app(&[("APP_ENV", "production"), ("JWT_KEYS", &key)]).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::UNAUTHORIZED);
    let with_token = app.client.get(format!("{}/metrics", app.address)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
}

#[tokio::test]
async fn in_production_webhooks_cannot_target_internal_addresses() {
    let (key, _) = crate::helpers::jwt_key_file();
    let app = spawn_admin_app(&[("APP_ENV", "production"), ("JWT_KEYS", &key)]).await;
    let url = format!("{}/api/v1/admin/clients", app.address);
    for (hook, expected) in [
        ("https://127.0.0.1/hook", StatusCode::BAD_REQUEST),
        ("https://169.254.169.254/latest", StatusCode::BAD_REQUEST),
        ("https://[fd00::1]/hook", StatusCode::BAD_REQUEST),
        ("http://hooks.example.com/hook", StatusCode::BAD_REQUEST),
        ("https://hooks.example.com/hook", StatusCode::CREATED),
    ] {
        let draft = serde_json::json!({
            "client_id": format!("c{}", expected.as_u16() + hook.len() as u16), "type": "public",
            "redirect_uris": ["https://app.example.com/cb"], "webhook_url": hook
        });
        let response = app.client.post(&url).bearer_auth(TOKEN).json(&draft).send().await.unwrap();
        assert_eq!(response.status(), expected, "{hook}");
    }
}

#[tokio::test]
async fn an_admins_second_factor_goes_only_with_the_api_token() {
    let app = spawn_admin_app(&[("ADMIN_EMAILS", "boss@example.com,deputy@example.com")]).await;
    sign_in_admin(&app).await;
    // Another admin (by session) may not strip an admin's factor …
    let by_session = app
        .client
        .delete(format!("{}/api/v1/admin/users/boss%40example.com/second-factor", app.address))
        .header("Sec-Fetch-Site", "same-origin");
    assert_eq!(app.send(by_session).await.status(), StatusCode::FORBIDDEN);
    let page = app.get("/admin/users?email=boss%40example.com").await.text().await.unwrap();
    let csrf = admin_csrf(&page);
    let form =
        app.post_form("/admin/users/reset-second-factor", &[("csrf", &csrf), ("email", "boss@example.com")]).await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    // … the API token may.
    let by_token = admin(&app, reqwest::Method::DELETE, "/users/boss@example.com/second-factor", None).await;
    assert_eq!(by_token.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_blocked_while_at_the_second_step_gets_no_session() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("half-way@example.com").await;
    let csrf = app.csrf_token().await;
    let html = app.post_form("/account/totp/enroll", &[("csrf", &csrf)]).await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    app.post_form("/account/totp/confirm", &[("csrf", &csrf), ("code", &crate::second_factor::code(&app, &secret, 0))])
        .await;
    app.clear_cookies();
    let token = app.request_token("half-way@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()["location"], "/login/2fa");
    assert_eq!(
        admin(&app, reqwest::Method::POST, "/users/half-way@example.com/block", None).await.status(),
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::seconds(30));
    let csrf = app.csrf_token().await;
    let code = crate::second_factor::code(&app, &secret, 0);
    let response = app.post_form("/login/2fa", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(crate::helpers::set_cookies(&response).iter().all(|c| !c.starts_with("__Host-session=ey")));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
}

/// English sentences of the admin pages that a page in another language must not show.
const ENGLISH_ADMIN: [&str; 12] = [
    "Find a user",
    "Save policy",
    "Recent events",
    "Sign-in links work for",
    "A new link replaces older ones",
    "Mail people about sign-ins",
    "Who may create an account",
    "waiting to retry",
    "Sign out everywhere",
    "Remove second factor",
    "Delete account",
    "<dt>Since</dt>",
];

#[tokio::test]
async fn the_admin_pages_and_the_admin_apis_messages_are_in_the_readers_language() {
    let app = spawn_admin_app(&[]).await;
    app.sign_in("victim@example.com").await;
    app.clear_cookies();
    sign_in_admin(&app).await;

    for (tag, heading, button) in [("de", "Verwaltung", "Richtlinie speichern"), ("ar", "الإدارة", "حفظ السياسة")]
    {
        app.set_cookie("__Host-lang", tag);
        let dashboard = app.get("/admin").await;
        assert_eq!(dashboard.headers()["content-language"], tag);
        let html = dashboard.text().await.unwrap();
        let user = app.get("/admin/users?email=victim%40example.com").await.text().await.unwrap();
        assert!(html.contains(&format!("<h1>{heading}</h1>")) && html.contains(button), "{html}");
        for page in [&html, &user] {
            let left: Vec<_> = ENGLISH_ADMIN.iter().filter(|s| page.contains(**s)).collect();
            assert!(left.is_empty(), "{tag}: English left on an admin page: {left:?}\n{page}");
        }
        if tag == "ar" {
            assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
        }
        let csrf = admin_csrf(&html);
        let form = [("csrf", csrf.as_str()), ("link_ttl_minutes", "zehn"), ("session_ttl_hours", "8")];
        let bad = app.send(app.client.post(format!("{}/admin/policy", app.address)).form(&form)).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let bad = bad.text().await.unwrap();
        assert!(!bad.contains("is not a whole number"), "{bad}");
        if tag == "de" {
            assert!(bad.contains("Anmeldelinks gelten (Minuten, 1–60): „zehn“ ist keine ganze Zahl"), "{bad}");
            let done = app.post_form("/admin/users/block", &[("csrf", &csrf), ("email", "victim@example.com")]).await;
            assert!(done.text().await.unwrap().contains("Gesperrt."));
        }
    }

    // The admin API: `error` stays English, `message` follows Accept-Language.
    let de = |request: reqwest::RequestBuilder| request.bearer_auth(TOKEN).header("accept-language", "de").send();
    let url = format!("{}/api/v1/admin/policy", app.address);
    let not_json = de(app.client.put(&url).header("content-type", "text/plain").body("{}")).await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["message"].as_str()),
        (Some("unsupported_media_type"), Some("senden Sie application/json"))
    );
    let mut policy: Value = de(app.client.get(&url)).await.unwrap().json().await.unwrap();
    policy["version"] = 999_999.into();
    let stale: Value = de(app.client.put(&url).json(&policy)).await.unwrap().json().await.unwrap();
    assert_eq!(stale["message"], "die Richtlinie hat sich seit dem Lesen geändert", "{stale}");
    policy.as_object_mut().unwrap().remove("version");
    policy["link_ttl_secs"] = 7200.into();
    let refused: Value = de(app.client.put(&url).json(&policy)).await.unwrap().json().await.unwrap();
    assert_eq!(
        refused["fields"]["link_ttl_secs"], "muss zwischen 60 (1 Minute) und 3600 (1 Stunde) liegen",
        "{refused}"
    );
    let user = format!("{}/api/v1/admin/users/not-an-address", app.address);
    let bad: Value = de(app.client.get(&user)).await.unwrap().json().await.unwrap();
    assert_eq!(bad["error"], "bad_request");
    let message = bad["message"].as_str().unwrap();
    assert!(message.starts_with("email: ") && !message.contains("does not look like"), "{bad}");

    let export = format!("{}/api/v1/admin/users/no%20id/export", app.address);
    let neither: Value = de(app.client.get(&export)).await.unwrap().json().await.unwrap();
    assert_eq!(neither["message"], "user: ist weder eine Adresse noch eine Nutzerkennung", "{neither}");
    let authorize = format!("{}/oauth2/authorize?response_type=code&client_id=nope", app.address);
    let page = app.client.get(authorize).header("accept-language", "de").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let page = page.text().await.unwrap();
    assert!(page.contains("Diese App ist hier nicht registriert."), "{page}");

    // A form the extractor cannot read, on any page: said in the reader's language too.
    let login = format!("{}/login", app.address);
    let form =
        app.client.post(login).header("accept-language", "de").json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    let text = form.text().await.unwrap();
    assert!(text.contains("Das Formular wurde nicht als Webformular gesendet."), "{text}");
}
