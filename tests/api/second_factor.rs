//! The second factor over HTTP: enrolling an authenticator app, signing in with it, replay,
//! drift, brute force, recovery codes, and the policy that requires it.

use latchkey::clock::Clock;
use latchkey::second_factor::totp::TotpSecret;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::helpers::{TestApp, hidden_field, set_cookies, spawn_app, spawn_app_with};

/// RFC 4648 base32 (no padding) to bytes.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.chars() {
        bits = (bits << 5) | ALPHABET.find(c).expect("not base32") as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The base32 key shown on an enrollment page.
pub(crate) fn shown_secret(html: &str) -> TotpSecret {
    let start = html.find("<code class=\"secret\">").expect("no secret on the page") + "<code class=\"secret\">".len();
    let end = start + html[start..].find('<').unwrap();
    TotpSecret::from_bytes(base32_decode(&html[start..end]))
}

pub(crate) fn code(app: &TestApp, secret: &TotpSecret, offset_steps: i64) -> String {
    let at = app.clock.now().timestamp() + offset_steps * 30;
    secret.code_at(at as u64).unwrap()
}

pub(crate) fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li><code>").skip(1).map(|s| s[..s.find('<').unwrap()].to_owned()).collect()
}

pub(crate) async fn post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_form(path, &form).await
}

/// Signs in, turns on TOTP from the account page; returns the secret and recovery codes.
pub(crate) async fn enroll(app: &TestApp, email: &str) -> (TotpSecret, Vec<String>) {
    app.sign_in(email).await;
    let page = post(app, "/account/totp/enroll", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<svg"), "no inline QR code");
    let secret = shown_secret(&html);
    let confirm = post(app, "/account/totp/confirm", &[("code", &code(app, &secret, 0))]).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let codes = recovery_codes(&confirm.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Signs out and back in with the link; the response to the link (303 to /login/2fa).
pub(crate) async fn link_step(app: &TestApp, email: &str) -> reqwest::Response {
    app.clear_cookies();
    let token = app.request_token(email).await;
    app.post_verify(&token).await
}

#[tokio::test]
async fn a_person_enrolls_an_app_and_then_signs_in_with_its_code() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "totp@example.com").await;
    assert!(app.get("/account").await.text().await.unwrap().contains("Authenticator app: <strong>on</strong>"));

    let response = link_step(&app, "totp@example.com").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login/2fa");
    let pending =
        set_cookies(&response).into_iter().find(|c| c.starts_with("__Host-pending=")).expect("no pending cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(pending.contains(attr), "pending cookie lacks {attr}: {pending}");
    }
    assert!(app.cookie("__Host-session").is_none(), "a session before the second factor");
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.get("/login/2fa").await.text().await.unwrap().contains("authenticator app"));

    app.clock.advance(chrono::Duration::seconds(30));
    let response = post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/account");
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["email", "otp", "mfa"]));
    // The step is single use.
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_totp_code_is_never_accepted_twice() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "replay@example.com").await;
    // The code that confirmed enrollment is spent already.
    link_step(&app, "replay@example.com").await;
    let response = post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("4 tries left"));
    app.clock.advance(chrono::Duration::seconds(30));
    let fresh = code(&app, &secret, 0);
    assert_eq!(post(&app, "/login/2fa", &[("code", &fresh)]).await.status(), StatusCode::SEE_OTHER);
    // Signing in again at once with the same code fails, and so does the step before it.
    link_step(&app, "replay@example.com").await;
    assert_eq!(post(&app, "/login/2fa", &[("code", &fresh)]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, -1))]).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn one_step_of_drift_is_accepted_two_are_not() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "drift@example.com").await;
    app.clock.advance(chrono::Duration::minutes(5));
    link_step(&app, "drift@example.com").await;
    for offset in [-2, 2] {
        let response = post(&app, "/login/2fa", &[("code", &code(&app, &secret, offset))]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "offset {offset} accepted");
    }
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 1))]).await.status(), StatusCode::SEE_OTHER);
    app.clock.advance(chrono::Duration::minutes(5));
    link_step(&app, "drift@example.com").await;
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, -1))]).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn five_wrong_codes_end_the_step() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "brute@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    link_step(&app, "brute@example.com").await;
    let right = code(&app, &secret, 0);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        assert_eq!(post(&app, "/login/2fa", &[("code", wrong)]).await.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(post(&app, "/login/2fa", &[("code", wrong)]).await.status(), StatusCode::GONE);
    let response = post(&app, "/login/2fa", &[("code", &right)]).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(!set_cookies(&response).iter().any(|c| c.starts_with("__Host-session=ey")));
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = spawn_app().await;
    let (_, codes) = enroll(&app, "lost@example.com").await;
    link_step(&app, "lost@example.com").await;
    let response = post(&app, "/login/2fa", &[("recovery_code", &codes[3].to_uppercase())]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = app.get("/account").await.text().await.unwrap();
    assert!(html.contains("Recovery codes left: 9"), "{html}");
    link_step(&app, "lost@example.com").await;
    assert_eq!(post(&app, "/login/2fa", &[("recovery_code", &codes[3])]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&app, "/login/2fa", &[("recovery_code", &codes[4])]).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_pending_step_belongs_to_the_browser_that_passed_the_link() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "bound@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    link_step(&app, "bound@example.com").await;
    let pending = app.cookie("__Host-pending").unwrap();
    app.clear_cookies();
    assert_eq!(app.get("/login/2fa").await.status(), StatusCode::GONE);
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::GONE);
    app.set_cookie("__Host-pending", &format!("{pending}x"));
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn the_required_policy_enrolls_before_any_session() {
    let app = spawn_app_with(&[("SECOND_FACTOR", "required")]).await;
    let token = app.request_token("new@example.com").await;
    let response = app.post_verify(&token).await;
    assert_eq!(response.headers()[LOCATION], "/login/2fa");
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    let html = app.get("/login/2fa").await.text().await.unwrap();
    assert!(html.contains("needs a second factor"), "{html}");
    let secret = shown_secret(&html);
    assert_eq!(post(&app, "/login/2fa/enroll", &[("code", "000000")]).await.status(), StatusCode::BAD_REQUEST);
    let response = post(&app, "/login/2fa/enroll", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).iter().any(|c| c.starts_with("__Host-session=ey")));
    let html = response.text().await.unwrap();
    assert_eq!(recovery_codes(&html).len(), 10);
    assert!(html.contains("href=\"/account\""));
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["email", "otp", "mfa"]));
}

#[tokio::test]
async fn admins_always_need_a_second_factor() {
    let app = spawn_app_with(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let token = app.request_token("boss@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/login/2fa");
    app.clear_cookies();
    let token = app.request_token("staff@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/account");
}

#[tokio::test]
async fn with_the_policy_off_no_second_factor_is_asked() {
    let app = spawn_app_with(&[("SECOND_FACTOR", "off")]).await;
    enroll(&app, "off@example.com").await;
    let response = link_step(&app, "off@example.com").await;
    assert_eq!(response.headers()[LOCATION], "/account");
}

#[tokio::test]
async fn turning_the_app_off_needs_a_code_used_in_this_session_first() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "disable@example.com").await;
    // The session that enrolled has not used the app as its second factor: asked to confirm.
    let refused = post(&app, "/account/totp/disable", &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("action=\"/account/confirm-factor\""));
    assert_eq!(post(&app, "/account/confirm-factor", &[("code", "000000")]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&app, "/account/totp/disable", &[]).await.status(), StatusCode::FORBIDDEN);
    app.clock.advance(chrono::Duration::seconds(30));
    let confirmed = post(&app, "/account/confirm-factor", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let response = post(&app, "/account/totp/disable", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(link_step(&app, "disable@example.com").await.headers()[LOCATION], "/account");
}

#[tokio::test]
async fn totp_seeds_are_not_in_redis_in_clear() {
    let app = spawn_app().await;
    let (secret, codes) = enroll(&app, "sealed@example.com").await;
    let raw = secret.expose().to_vec();
    let encodings = [
        secret.base32(),
        latchkey::crypto::b64(&raw),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw),
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ];
    let dump = app.dump_redis().await;
    assert!(dump.iter().any(|(k, _)| k.contains(":factors")), "no factors key: {dump:?}");
    for (key, value) in &dump {
        for secret in &encodings {
            assert!(!value.contains(secret.as_str()), "TOTP seed in clear under {key}");
        }
        for code in &codes {
            assert!(!value.contains(code.as_str()), "recovery code in clear under {key}");
        }
    }
    assert!(hidden_field(&app.get("/account").await.text().await.unwrap(), "csrf").is_some());
}

#[tokio::test]
async fn an_email_only_session_cannot_replace_an_existing_factor() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "swap@example.com").await;
    // The session that enrolled is email-only: it may not now swap the app for another.
    assert_eq!(post(&app, "/account/totp/enroll", &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(post(&app, "/account/phone", &[("phone", "+44 7700 900123")]).await.status(), StatusCode::FORBIDDEN);
    // After signing in with the app, a change is allowed for ten minutes.
    app.clock.advance(chrono::Duration::seconds(30));
    link_step(&app, "swap@example.com").await;
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(post(&app, "/account/totp/enroll", &[]).await.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(post(&app, "/account/totp/enroll", &[]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn guessing_codes_on_the_account_page_is_cut_off_per_account() {
    let app = spawn_app_with(&[("RATE_LIMIT_2FA_FAILURES_USER", "4/1h")]).await;
    // Every code counts, right or wrong: the one that turned the app on is the first of four.
    let (secret, _) = enroll(&app, "guess-account@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    let right = code(&app, &secret, 0);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        assert_eq!(post(&app, "/account/confirm-factor", &[("code", wrong)]).await.status(), StatusCode::BAD_REQUEST);
    }
    // Over the limit even the right code is refused, and so is the sign-in step's.
    let refused = post(&app, "/account/confirm-factor", &[("code", &right)]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    link_step(&app, "guess-account@example.com").await;
    assert_eq!(post(&app, "/login/2fa", &[("code", &right)]).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_used_step_cookie_cannot_be_replayed() {
    let app = spawn_app().await;
    let (_, codes) = enroll(&app, "once-step@example.com").await;
    link_step(&app, "once-step@example.com").await;
    let pending = app.cookie("__Host-pending").unwrap();
    assert_eq!(post(&app, "/login/2fa", &[("recovery_code", &codes[0])]).await.status(), StatusCode::SEE_OTHER);
    app.set_cookie("__Host-pending", &pending);
    let response = post(&app, "/login/2fa", &[("recovery_code", &codes[1])]).await;
    assert_eq!(response.status(), StatusCode::GONE, "the step was used twice");
}

#[tokio::test]
async fn admins_need_a_second_factor_even_with_the_policy_off() {
    let app = spawn_app_with(&[("ADMIN_EMAILS", "root@example.com"), ("SECOND_FACTOR", "off")]).await;
    let token = app.request_token("root@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/login/2fa");
}
