//! SMS as a second factor, against a local HTTP server standing in for a Twilio-compatible
//! provider: what it receives, provider errors (texts go through the outbox: retried, or
//! dead-lettered), pumping limits, and numbers kept sealed.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use latchkey::clock::Clock;

use crate::helpers::{TestApp, spawn_app_with};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const PHONE: &str = "+44 7700 900123";
const E164: &str = "+447700900123";
const ADMIN_TOKEN: &str = "sms-test-admin-token-0123456789abcdef";

async fn provider(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body.to_owned(), "application/json"))
        .mount(&server)
        .await;
    server
}

pub(crate) async fn ok_provider() -> MockServer {
    provider(201, r#"{"sid":"SM0123","status":"queued"}"#).await
}

pub(crate) async fn app_with(server: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let uri = server.uri();
    let mut vars = vec![
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", "test-auth-token"),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_BASE_URL", uri.as_str()),
        ("SMS_ALLOWED_COUNTRIES", "GB,US"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// The form fields of every message the provider received.
async fn sent(server: &MockServer) -> Vec<HashMap<String, String>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
        .collect()
}

/// Waits (bounded) until the provider has received `n` messages; returns them all.
pub(crate) async fn wait_sent(server: &MockServer, n: usize) -> Vec<HashMap<String, String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let messages = sent(server).await;
        if messages.len() >= n {
            return messages;
        }
        assert!(std::time::Instant::now() < deadline, "the provider got {} of {n} texts", messages.len());
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

pub(crate) fn code_in(message: &HashMap<String, String>) -> String {
    message["Body"].split_whitespace().next().unwrap().to_owned()
}

async fn post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_form(path, &form).await
}

/// Signs in and verifies `PHONE`; returns the text the provider got.
pub(crate) async fn add_phone(app: &TestApp, server: &MockServer, email: &str) {
    app.sign_in(email).await;
    let before = sent(server).await.len();
    let page = post(app, "/account/phone", &[("phone", PHONE)]).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("+44 ••"), "the confirm page should show the number masked");
    let messages = wait_sent(server, before + 1).await;
    let code = code_in(messages.last().unwrap());
    let confirmed = post(app, "/account/phone/confirm", &[("code", &code)]).await;
    assert_eq!(confirmed.status(), StatusCode::OK, "first factor: recovery codes are shown");
    assert!(confirmed.text().await.unwrap().contains("Save your recovery codes"));
}

#[tokio::test]
async fn a_phone_is_verified_and_then_signs_in_with_a_texted_code() {
    let server = ok_provider().await;
    let app = app_with(&server, &[]).await;
    add_phone(&app, &server, "sms@example.com").await;

    // What the provider received: the right URL, basic auth, and the form fields.
    let request = &server.received_requests().await.unwrap()[0];
    let auth = request.headers.get("authorization").unwrap().to_str().unwrap().to_owned();
    let expected = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{SID}:test-auth-token"));
    assert_eq!(auth, format!("Basic {expected}"));
    let message = &sent(&server).await[0];
    assert_eq!(message["To"], E164);
    assert_eq!(message["From"], "+15005550006");
    let code = code_in(message);
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{message:?}");
    assert!(message["Body"].contains("expires in 5 minutes"));
    assert!(app.get("/account").await.text().await.unwrap().contains("+44 ••"));

    // Signing in again: the link, then a texted code.
    app.clear_cookies();
    let token = app.request_token("sms@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/login/2fa");
    let step = app.get("/login/2fa").await.text().await.unwrap();
    assert!(step.contains("Text a code to +44"), "{step}");
    let response = post(&app, "/login/2fa/sms", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("We texted a code"));
    let messages = wait_sent(&server, 2).await;
    assert_eq!(messages.len(), 2);
    let code = code_in(&messages[1]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(post(&app, "/login/2fa", &[("sms_code", wrong)]).await.status(), StatusCode::BAD_REQUEST);
    let response = post(&app, "/login/2fa", &[("sms_code", &code)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["email", "sms", "mfa"]));
    let metrics = app.metrics_with("latchkey_sms_total{outcome=\"sent\"} 2").await;
    assert!(metrics.contains("latchkey_sms_send_seconds_count 2"), "{metrics}");
}

#[tokio::test]
async fn a_provider_outage_delays_the_text_which_arrives_with_the_same_code_when_it_is_back() {
    let server = MockServer::start().await;
    let messages = format!("/2010-04-01/Accounts/{SID}/Messages.json");
    // Down for two attempts, then up.
    Mock::given(method("POST"))
        .and(path(messages.clone()))
        .respond_with(ResponseTemplate::new(503).set_body_raw(r#"{"message":"internal"}"#, "application/json"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(messages))
        .respond_with(ResponseTemplate::new(201).set_body_raw(r#"{"sid":"SM1","status":"queued"}"#, "application/json"))
        .with_priority(2)
        .mount(&server)
        .await;
    let app = app_with(&server, &[("OUTBOX_RETRY_BASE", "50ms")]).await;
    app.sign_in("down@example.com").await;
    let page = post(&app, "/account/phone", &[("phone", PHONE)]).await;
    assert_eq!(page.status(), StatusCode::OK, "the text is queued, not sent inline");
    let attempts = wait_sent(&server, 3).await;
    let codes: Vec<String> = attempts.iter().map(code_in).collect();
    assert!(codes.iter().all(|c| *c == codes[0]), "a retry must send the same code: {codes:?}");
    let confirmed = post(&app, "/account/phone/confirm", &[("code", &codes[2])]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let metrics = app.metrics_with("latchkey_sms_total{outcome=\"sent\"} 1").await;
    assert!(metrics.contains("latchkey_sms_total{outcome=\"retry\"} 2"), "{metrics}");
}

#[tokio::test]
async fn a_number_the_provider_refuses_goes_to_the_dead_letters_at_once_with_its_reason() {
    let server =
        provider(400, r#"{"code":21211,"message":"The 'To' number +447700900123 is not valid.","status":400}"#).await;
    let app = app_with(&server, &[("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    app.sign_in("refused@example.com").await;
    assert_eq!(post(&app, "/account/phone", &[("phone", PHONE)]).await.status(), StatusCode::OK);
    let stats = app.outbox_settled().await;
    assert_eq!(stats.dead, 1);
    assert_eq!(sent(&server).await.len(), 1, "a refusal is not retried");
    let outbox: Value = app
        .client
        .get(format!("{}/api/v1/admin/outbox", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dead = &outbox["dead_letters"][0];
    assert_eq!(dead["kind"], "sms");
    assert_eq!(dead["tries"], 1);
    assert!(dead["reason"].as_str().unwrap().contains("number is not valid"), "{dead}");
    let shown = outbox.to_string();
    assert!(!shown.contains("7700900123") && !shown.contains("is your"), "number or text shown to admins: {shown}");
}

#[tokio::test]
async fn numbers_outside_the_allowed_countries_are_never_texted() {
    let server = ok_provider().await;
    let app = app_with(&server, &[]).await;
    app.sign_in("abroad@example.com").await;
    for number in ["+33 6 12 34 56 78", "+882 1234 5678"] {
        let response = post(&app, "/account/phone", &[("phone", number)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{number}");
    }
    app.outbox_settled().await;
    assert!(sent(&server).await.is_empty(), "a number outside the allow-list was texted");
    assert_eq!(post(&app, "/account/phone", &[("phone", "not a number")]).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn texts_to_one_number_are_limited_and_resends_wait_thirty_seconds() {
    let server = ok_provider().await;
    let app = app_with(&server, &[("RATE_LIMIT_SMS_NUMBER", "2/15m")]).await;
    app.sign_in("pump@example.com").await;
    assert_eq!(post(&app, "/account/phone", &[("phone", PHONE)]).await.status(), StatusCode::OK);
    let too_soon = post(&app, "/account/phone", &[("phone", PHONE)]).await;
    assert_eq!(too_soon.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(too_soon.headers().contains_key("retry-after"));
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(post(&app, "/account/phone", &[("phone", PHONE)]).await.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(post(&app, "/account/phone", &[("phone", PHONE)]).await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.outbox_settled().await;
    assert_eq!(sent(&server).await.len(), 2);
}

#[tokio::test]
async fn texts_from_one_ip_are_limited() {
    let server = ok_provider().await;
    let app = app_with(&server, &[("RATE_LIMIT_SMS_IP", "2/1h")]).await;
    app.sign_in("ip@example.com").await;
    for number in ["+44 7700 900001", "+44 7700 900002"] {
        assert_eq!(post(&app, "/account/phone", &[("phone", number)]).await.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::seconds(31));
    }
    let response = post(&app, "/account/phone", &[("phone", "+44 7700 900003")]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    app.outbox_settled().await;
    assert_eq!(sent(&server).await.len(), 2);
}

#[tokio::test]
async fn phone_numbers_are_not_in_redis_in_clear() {
    let server = ok_provider().await;
    let app = app_with(&server, &[]).await;
    add_phone(&app, &server, "private@example.com").await;
    let dump = app.dump_redis().await;
    assert!(dump.iter().any(|(k, _)| k.contains(":factors")));
    for (key, value) in dump {
        assert!(!value.contains("7700900123"), "phone number in clear under {key}");
    }
}

/// Limits loose enough that only the one under test binds.
const LOOSE: [(&str, &str); 4] = [
    ("RATE_LIMIT_SMS_NUMBER", "100/15m"),
    ("RATE_LIMIT_SMS_IP", "100/1h"),
    ("RATE_LIMIT_LOGIN_EMAIL", "100/15m"),
    ("RATE_LIMIT_LOGIN_EMAIL_NETWORK", "100/15m"),
];

/// `n` second-factor steps of `email` (a verified phone), each from its own sign-in by link:
/// the `__Host-pending` cookies, and one `__Host-csrf` cookie with its form token.
async fn pending_steps(app: &TestApp, email: &str, n: usize) -> (Vec<String>, String, String) {
    let mut steps = Vec::new();
    for _ in 0..n {
        app.clear_cookies();
        let token = app.request_token(email).await;
        assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/login/2fa");
        steps.push(app.cookie("__Host-pending").expect("no step cookie"));
    }
    let csrf = app.csrf_token().await;
    (steps, app.cookie("__Host-csrf").unwrap(), csrf)
}

/// `POST /login/2fa/sms` for every step at once; each answer's status and page.
async fn text_all_at_once(app: &TestApp, steps: &[String], csrf: (&str, &str)) -> Vec<(StatusCode, String)> {
    let (csrf_cookie, csrf_token) = csrf;
    let requests: Vec<_> = steps
        .iter()
        .map(|step| {
            let request = app
                .client
                .post(format!("{}/login/2fa/sms", app.address))
                .header("Cookie", format!("__Host-csrf={csrf_cookie}; __Host-pending={step}"))
                .form(&[("csrf", csrf_token)]);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn twelve_texts_asked_for_one_account_at_once_send_no_more_than_its_five_a_day() {
    let server = ok_provider().await;
    let app = app_with(&server, &LOOSE).await;
    // Signed in just now: the account may set up its first factor.
    app.sign_in("account-pump@example.com").await;
    let csrf = app.csrf_token().await;
    let cookies = format!(
        "__Host-csrf={}; __Host-session={}",
        app.cookie("__Host-csrf").unwrap(),
        app.cookie("__Host-session").unwrap()
    );
    // Twelve different numbers to verify, asked for at once.
    let numbers: Vec<String> = (10..22).map(|n| format!("+44 7700 9002{n}")).collect();
    let requests: Vec<_> = numbers
        .iter()
        .map(|number| {
            let request = app
                .client
                .post(format!("{}/account/phone", app.address))
                .header("Cookie", &cookies)
                .form(&[("csrf", csrf.as_str()), ("phone", number.as_str())]);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    let texted = statuses.iter().filter(|status| **status == StatusCode::OK).count();
    let refused = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((texted, refused), (5, 7), "{statuses:?}");
    app.outbox_settled().await;
    let to: Vec<String> = sent(&server).await.into_iter().map(|m| m["To"].clone()).collect();
    assert_eq!(to.len(), 5, "more than five new numbers were texted for one account: {to:?}");
    // Another account is not held back by this one's limit.
    app.clear_cookies();
    add_phone(&app, &server, "someone-else@example.com").await;
    assert_eq!(sent(&server).await.len(), 6);
}

#[tokio::test]
async fn an_sms_only_account_signs_in_more_than_five_times_a_day() {
    let server = ok_provider().await;
    let mut vars = LOOSE.to_vec();
    // Everything but the per-account limit (left at its 5 a day) is out of the way.
    vars.extend([
        ("RATE_LIMIT_SMS_GLOBAL", "100/1h"),
        ("RATE_LIMIT_LOGIN_IP", "100/15m"),
        ("RATE_LIMIT_2FA_FAILURES_USER", "100/1h"),
    ]);
    let app = app_with(&server, &vars).await;
    let email = "texted-daily@example.com";
    add_phone(&app, &server, email).await; // the one text that verifies a new number
    for n in 1..=7 {
        assert_eq!(crate::second_factor::link_step(&app, email).await.headers()[LOCATION], "/login/2fa");
        let texted = post(&app, "/login/2fa/sms", &[]).await;
        assert_eq!(texted.status(), StatusCode::OK, "sign-in {n}");
        let code = code_in(&wait_sent(&server, 1 + n).await[n]);
        let response = post(&app, "/login/2fa", &[("sms_code", &code)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in {n}");
        let claims: Value = app.get_session().await.json().await.unwrap();
        assert_eq!(claims["amr"], serde_json::json!(["email", "sms", "mfa"]));
    }
    app.outbox_settled().await;
    assert_eq!(sent(&server).await.len(), 8);
}

const HOOK_SECRET: &str = "admin-hook-secret-admin-hook-secret-0123";

/// A receiver for the admin webhook.
async fn admin_receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/ops")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    server
}

#[tokio::test]
async fn at_the_global_limit_a_burst_sends_no_more_texts_says_they_are_paused_and_alerts_admins_once() {
    let server = ok_provider().await;
    let hook = admin_receiver().await;
    let hook_url = format!("{}/ops", hook.uri());
    let mut vars = LOOSE.to_vec();
    vars.extend([
        ("RATE_LIMIT_SMS_ACCOUNT", "100/24h"),
        ("RATE_LIMIT_SMS_GLOBAL", "4/1h"),
        ("ADMIN_WEBHOOK_URL", hook_url.as_str()),
        ("ADMIN_WEBHOOK_SECRET", HOOK_SECRET),
    ]);
    let app = app_with(&server, &vars).await;
    add_phone(&app, &server, "global@example.com").await; // one text of the four
    let (mut steps, csrf_cookie, csrf) = pending_steps(&app, "global@example.com", 13).await;
    let german = steps.pop().unwrap();
    let answers = text_all_at_once(&app, &steps, (&csrf_cookie, &csrf)).await;
    let texted = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
    let paused: Vec<_> = answers.iter().filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!((texted, paused.len()), (3, 9), "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    for (_, page) in &paused {
        assert!(page.contains("Text messages are paused for now"), "{page}");
        assert!(page.contains("name=\"recovery_code\""), "the step no longer offers a recovery code");
    }
    // In German too.
    let response = app
        .client
        .post(format!("{}/login/2fa/sms", app.address))
        .header("Cookie", format!("__Host-csrf={csrf_cookie}; __Host-pending={german}"))
        .header("Accept-Language", "de")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.text().await.unwrap().contains("Der SMS-Versand ist vorübergehend angehalten"));
    app.outbox_settled().await;
    assert_eq!(sent(&server).await.len(), 4, "texts went out past the global limit");
    // The operators hear of it once, not once per refused request.
    let events = hook.received_requests().await.unwrap_or_default();
    assert_eq!(events.len(), 1, "{} admin events", events.len());
    let body: Value = serde_json::from_slice(&events[0].body).unwrap();
    assert_eq!(body["type"], "sms.paused");
    assert!(body["data"]["resumes_at"].as_i64().unwrap() > app.clock.now().timestamp());
    let signature = events[0].headers.get("latchkey-signature").unwrap().to_str().unwrap();
    let t: i64 = signature.strip_prefix("t=").unwrap().split(',').next().unwrap().parse().unwrap();
    let body_text = std::str::from_utf8(&events[0].body).unwrap();
    assert_eq!(signature, latchkey::webhooks::signature(HOOK_SECRET, t, body_text));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("latchkey_sms_paused_total 1\n"), "{metrics}");
    assert!(metrics.contains("latchkey_rate_limited_total{action=\"sms-global\"} 10"), "{metrics}");
}

#[tokio::test]
async fn at_the_global_limit_an_authenticator_app_user_still_signs_in() {
    let server = ok_provider().await;
    let mut vars = LOOSE.to_vec();
    vars.push(("RATE_LIMIT_SMS_GLOBAL", "1/1h"));
    let app = app_with(&server, &vars).await;
    add_phone(&app, &server, "texter@example.com").await; // the whole budget
    let (steps, csrf_cookie, csrf) = pending_steps(&app, "texter@example.com", 1).await;
    let answers = text_all_at_once(&app, &steps, (&csrf_cookie, &csrf)).await;
    assert_eq!(answers[0].0, StatusCode::TOO_MANY_REQUESTS, "texts are not paused");
    // Someone with an authenticator app signs in as usual.
    app.clear_cookies();
    app.sign_in("app-user@example.com").await;
    let enroll = post(&app, "/account/totp/enroll", &[]).await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&enroll);
    let confirmed =
        post(&app, "/account/totp/confirm", &[("code", &crate::second_factor::code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    app.clear_cookies();
    let token = app.request_token("app-user@example.com").await;
    assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/login/2fa");
    app.clock.advance(chrono::Duration::seconds(30));
    let response = post(&app, "/login/2fa", &[("code", &crate::second_factor::code(&app, &secret, 0))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["email", "otp", "mfa"]));
}

#[tokio::test]
async fn an_admin_lowers_the_global_text_limit_at_run_time_and_texts_pause() {
    let server = ok_provider().await;
    let mut vars = LOOSE.to_vec();
    vars.push(("ADMIN_API_TOKEN", ADMIN_TOKEN));
    let app = app_with(&server, &vars).await;
    let policy_url = format!("{}/api/v1/admin/policy", app.address);
    let mut policy: Value =
        app.client.get(&policy_url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(policy["rate_limits"]["sms-account"], "5/86400s");
    assert_eq!(policy["rate_limits"]["sms-global"], "200/3600s");
    policy["rate_limits"] = serde_json::json!({ "sms-global": "1/1h" });
    let response = app.client.put(&policy_url).bearer_auth(ADMIN_TOKEN).json(&policy).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    add_phone(&app, &server, "tuned@example.com").await; // the one text allowed
    let (steps, csrf_cookie, csrf) = pending_steps(&app, "tuned@example.com", 1).await;
    let answers = text_all_at_once(&app, &steps, (&csrf_cookie, &csrf)).await;
    assert_eq!(answers[0].0, StatusCode::TOO_MANY_REQUESTS);
    assert!(answers[0].1.contains("Text messages are paused for now"));
    app.outbox_settled().await;
    assert_eq!(sent(&server).await.len(), 1);
}

#[tokio::test]
async fn one_account_cannot_text_a_sixth_number_in_a_day() {
    let server = ok_provider().await;
    let app = app_with(&server, &LOOSE).await;
    app.sign_in("numbers@example.com").await;
    for n in 1..=5 {
        let number = format!("+44 7700 90010{n}");
        assert_eq!(post(&app, "/account/phone", &[("phone", &number)]).await.status(), StatusCode::OK, "{number}");
        app.clock.advance(chrono::Duration::seconds(31));
    }
    let sixth = post(&app, "/account/phone", &[("phone", "+1 415 555 0106")]).await;
    assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(sixth.headers().contains_key("retry-after"));
    app.outbox_settled().await;
    let numbers: Vec<String> = sent(&server).await.into_iter().map(|m| m["To"].clone()).collect();
    assert_eq!(numbers.len(), 5, "{numbers:?}");
    assert!(!numbers.contains(&"+14155550106".to_owned()));
}
