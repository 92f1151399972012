//! Policy `approve`: a link opened on another device approves the browser that asked, once
//! the number that browser shows is typed there; the browser that asked finishes by itself.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::helpers::{
    TestApp, magic_link_from, session_cookie_set, spawn_app, spawn_app_with, spawn_peer, token_from_link,
};

const APPROVE: (&str, &str) = ("CROSS_DEVICE", "approve");

/// The laptop (the browser that asks) and the phone (another browser, on another instance of
/// the same deployment).
async fn laptop_and_phone() -> (TestApp, TestApp) {
    let laptop = spawn_app_with(&[APPROVE]).await;
    let phone = spawn_peer(&laptop, &[APPROVE]).await;
    (laptop, phone)
}

/// The number on a waiting page.
fn number_on(html: &str) -> String {
    let marker = "class=\"match-number\">";
    let start = html.find(marker).unwrap_or_else(|| panic!("no number on the page: {html}")) + marker.len();
    html[start..start + 2].to_owned()
}

/// Asks for a link in `laptop`'s browser (with `return_to`); returns the waiting page, the
/// token and the code from the mail.
async fn ask(laptop: &TestApp, email: &str, return_to: &str) -> (String, String, String) {
    let before = laptop.mail.received().len();
    let csrf = laptop.csrf_token().await;
    let response = laptop.post_form("/login", &[("email", email), ("csrf", &csrf), ("return_to", return_to)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let mail = laptop.mail.wait_for_link_mail(before).await;
    (html, token_from_link(&magic_link_from(&mail)), crate::helpers::code_from(&mail))
}

async fn post_number(phone: &TestApp, token: &str, number: &str) -> reqwest::Response {
    let csrf = phone.csrf_token().await;
    phone.post_form("/login/approve", &[("token", token), ("number", number), ("csrf", &csrf)]).await
}

fn wrong(number: &str) -> String {
    let n: u8 = number.parse().unwrap();
    (if n == 99 { 10 } else { n + 1 }).to_string()
}

fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(name, value)| (name.to_owned(), value.parse().unwrap_or(0.0))))
        .collect()
}

async fn counted(app: &TestApp, name: &str) -> f64 {
    samples(&app.get("/metrics").await.text().await.unwrap()).get(name).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn the_right_number_on_the_phone_signs_in_only_the_browser_that_asked() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "approve@example.com", "/account?from=approve").await;
    let number = number_on(&html);
    assert!(html.contains(r#"<meta http-equiv="refresh" content="3;url=/login/status">"#), "{html}");
    assert!(html.contains("href=\"/login/status?code=1\""), "no way to the code box: {html}");

    // Waiting: the status URL shows the same page and number, and no session.
    let waiting = laptop.get("/login/status").await;
    assert_eq!(waiting.status(), StatusCode::OK);
    assert!(!session_cookie_set(&waiting));
    assert_eq!(number_on(&waiting.text().await.unwrap()), number);

    // The phone: who asked, and a box for the number (typed, not picked).
    let page = phone.get_verify(&token).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in on an unknown browser, from 127.0.0.1, at "), "{html}");
    assert!(html.contains("Type the number shown on that screen"), "{html}");
    assert!(html.contains(r#"name="number" type="text" inputmode="numeric""#), "{html}");
    assert!(!html.contains(&format!(">{number}<")), "the phone's page gives the number away");
    assert!(html.contains("action=\"/login/code\""), "no code fallback on the phone: {html}");

    let approved = post_number(&phone, &token, &number).await;
    assert_eq!(approved.status(), StatusCode::OK);
    assert!(!session_cookie_set(&approved), "the approving phone got a session");
    assert!(approved.text().await.unwrap().contains("Approved"));
    assert_eq!(phone.get_session().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(phone.get("/login/status").await.status(), StatusCode::NOT_FOUND);

    // The laptop's next refresh signs it in and goes on to return_to.
    let finished = laptop.get("/login/status").await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&finished));
    assert_eq!(finished.headers()[LOCATION], "/account?from=approve");
    assert_eq!(laptop.get_session().await.status(), StatusCode::OK);
    let approvals = counted(&laptop, "latchkey_sign_in_approved_total").await
        + counted(&phone, "latchkey_sign_in_approved_total").await;
    assert_eq!(approvals, 1.0);
}

#[tokio::test]
async fn a_wrong_number_ends_the_sign_in_on_both_devices() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, code) = ask(&laptop, "wrong@example.com", "/account").await;
    let number = number_on(&html);

    let refused = post_number(&phone, &token, &wrong(&number)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!session_cookie_set(&refused));
    assert!(refused.text().await.unwrap().contains("stopped on both devices"));
    // One try only: the right number now does nothing.
    assert_eq!(post_number(&phone, &token, &number).await.status(), StatusCode::GONE);

    let stopped = laptop.get("/login/status").await;
    assert_eq!(stopped.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&stopped));
    let html = stopped.text().await.unwrap();
    assert!(html.contains("A wrong number was typed") && html.contains("action=\"/login\""), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "the stopped page keeps reloading");
    // Neither the code nor the link finishes it any more.
    let csrf = laptop.csrf_token().await;
    assert_eq!(laptop.post_form("/login/code", &[("code", &code), ("csrf", &csrf)]).await.status(), StatusCode::GONE);
    assert_eq!(laptop.post_verify(&token).await.status(), StatusCode::GONE);
    let refusals = counted(&phone, "latchkey_approval_refused_total").await;
    assert_eq!(refusals, 1.0);
}

#[tokio::test]
async fn opening_the_link_on_another_device_changes_nothing() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "scanner@example.com", "/account").await;
    let before = laptop.dump_redis().await;
    for _ in 0..3 {
        assert_eq!(phone.get_verify(&token).await.status(), StatusCode::OK);
    }
    assert_ne!(phone.get("/login/approve").await.status(), StatusCode::OK);
    let attempt =
        |dump: &[(String, String)]| dump.iter().filter(|(k, _)| k.ends_with(":attempt")).cloned().collect::<Vec<_>>();
    assert_eq!(attempt(&laptop.dump_redis().await), attempt(&before), "a GET changed the attempt");
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::OK);
    // It can still be approved.
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::OK);
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_approval_is_used_once() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "once@example.com", "/account").await;
    let number = number_on(&html);
    let csrf = phone.csrf_token().await;
    let form = [("token", token.as_str()), ("number", number.as_str()), ("csrf", csrf.as_str())];
    assert_eq!(phone.post_form("/login/approve", &form).await.status(), StatusCode::OK);
    // The same form sent again.
    let replay = phone.post_form("/login/approve", &form).await;
    assert_eq!(replay.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&replay));

    let attempt_cookie = laptop.cookie("__Host-attempt").unwrap();
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::SEE_OTHER);
    // The cookie kept and sent again (another tab, a saved request) gets nothing more.
    let status = format!("{}/login/status", laptop.address);
    let again =
        laptop.client.get(status).header(COOKIE, format!("__Host-attempt={attempt_cookie}")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&again));
}

#[tokio::test]
async fn the_status_url_gives_nothing_without_the_asking_browsers_cookie() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "bound@example.com", "/account").await;
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::OK);
    let attempt_cookie = laptop.cookie("__Host-attempt").unwrap();

    // No cookie, or the attempt's id with a made-up secret: nothing, and the approval stays.
    let stranger = spawn_peer(&laptop, &[APPROVE]).await;
    let none = stranger.get("/login/status").await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert!(!session_cookie_set(&none));
    let (id, _secret) = attempt_cookie.split_once('.').unwrap();
    stranger.set_cookie("__Host-attempt", &format!("{id}.{}", latchkey::crypto::random_token::<32>().unwrap()));
    let forged = stranger.get("/login/status").await;
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
    assert!(!session_cookie_set(&forged));

    let finished = laptop.get("/login/status").await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&finished));
}

#[tokio::test]
async fn concurrent_number_guesses_are_counted_and_only_the_first_is_checked() {
    for right in [true, false] {
        let (laptop, phone) = laptop_and_phone().await;
        let (html, token, _) = ask(&laptop, "race@example.com", "/account").await;
        let number = if right { number_on(&html) } else { wrong(&number_on(&html)) };
        let csrf = phone.csrf_token().await;
        let cookie = format!("__Host-csrf={}", phone.cookie("__Host-csrf").unwrap());
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let request = phone
                    .client
                    .post(format!("{}/login/approve", phone.address))
                    .header(COOKIE, &cookie)
                    .form(&[("token", token.as_str()), ("number", number.as_str()), ("csrf", csrf.as_str())]);
                tokio::spawn(async move { request.send().await.unwrap().status() })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        let decided = if right { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(statuses.iter().filter(|s| **s == decided).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::GONE).count(), 11, "{statuses:?}");
        let expected = if right { StatusCode::SEE_OTHER } else { StatusCode::GONE };
        assert_eq!(laptop.get("/login/status").await.status(), expected);
    }
}

#[tokio::test]
async fn an_approval_expires_with_the_link() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "late@example.com", "/account").await;
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::OK);
    laptop.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let expired = laptop.get("/login/status").await;
    assert_eq!(expired.status(), StatusCode::GONE);
    assert!(!session_cookie_set(&expired));
    assert_eq!(counted(&laptop, "latchkey_approval_timed_out_total").await, 1.0);

    // Never approved: the waiting page ends the same way.
    let (html, token, _) = ask(&laptop, "late2@example.com", "/account").await;
    laptop.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    phone.clock.advance(chrono::Duration::minutes(30) + chrono::Duration::seconds(2));
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::GONE);
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn what_cannot_be_the_number_is_refused_without_spending_the_guess() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "typo@example.com", "/account").await;
    for typed in ["", "4", "abc", "100"] {
        let response = post_number(&phone, &token, typed).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{typed:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains("aria-describedby=\"number-error\"") && page.contains("two-digit number"), "{page}");
    }
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_phone_can_still_sign_in_there_with_the_code() {
    let (laptop, phone) = laptop_and_phone().await;
    let (_, token, code) = ask(&laptop, "here@example.com", "/account").await;
    let csrf = phone.csrf_token().await;
    let response = phone.post_form("/login/code", &[("code", &code), ("token", &token), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&response));
    // The laptop's wait is over: the link was used.
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn the_waiting_page_offers_the_code_box_without_reloading() {
    let (laptop, _phone) = laptop_and_phone().await;
    let (_, _, code) = ask(&laptop, "codebox@example.com", "/account").await;
    let html = laptop.get("/login/status?code=1").await.text().await.unwrap();
    assert!(html.contains("name=\"code\"") && !html.contains("http-equiv=\"refresh\""), "{html}");
    let csrf = laptop.csrf_token().await;
    assert_eq!(
        laptop.post_form("/login/code", &[("code", &code), ("csrf", &csrf)]).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn other_policies_show_no_number_and_do_not_approve() {
    let app = spawn_app_with(&[("CROSS_DEVICE", "code")]).await;
    let (html, token, _) = ask(&app, "classic@example.com", "/account").await;
    assert!(!html.contains("match-number") && !html.contains("http-equiv=\"refresh\""), "{html}");
    assert!(html.contains("name=\"code\""));
    app.clear_cookies();
    assert_eq!(post_number(&app, &token, "42").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_waiting_page_opens_well_known_webmail_searching_for_the_mail() {
    let app = spawn_app().await;
    let (html, _, _) = ask(&app, "someone@gmail.com", "/account").await;
    let search = "https://mail.google.com/mail/u/0/#search/from%3A%28login%40example.test%29+subject%3A%28%22Your+sign-in+link%22%29";
    assert!(
        html.contains(&format!(r#"href="{search}" target="_blank" rel="noopener noreferrer">Open Gmail</a>"#)),
        "{html}"
    );
    let (html, _, _) = ask(&app, "someone@outlook.com", "/account").await;
    assert!(html.contains(r#"href="https://outlook.live.com/mail/0/""#) && html.contains("Open Outlook"), "{html}");
    let (html, _, _) = ask(&app, "someone@example.com", "/account").await;
    assert!(!html.contains("target=\"_blank\""), "a button for an unknown domain: {html}");
}

#[tokio::test]
async fn an_app_sign_in_approved_from_the_phone_goes_on_to_the_app() {
    let (app, _) = crate::oidc::spawn_provider_with("", &[APPROVE]).await;
    let callback = "http://127.0.0.1:9999/cb";
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=z&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
    );
    let to = app.get(&authorize).await.headers()[LOCATION].to_str().unwrap().to_owned();
    let login = app.get(&to).await.text().await.unwrap();
    let return_to = crate::helpers::hidden_field(&login, "return_to").expect("the login page keeps return_to");
    let (html, token, _) = ask(&app, "app-user@example.com", &return_to).await;
    let attempt = app.cookie("__Host-attempt").unwrap();

    // The phone (this client without the laptop's cookies) approves.
    app.clear_cookies();
    assert_eq!(post_number(&app, &token, &number_on(&html)).await.status(), StatusCode::OK);

    // The laptop's reload lands on the authorization request, which goes on to the app.
    app.clear_cookies();
    app.set_cookie("__Host-attempt", &attempt);
    let finished = app.get("/login/status").await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished.headers()[LOCATION].to_str().unwrap(), return_to);
    let back = app.get(&return_to).await;
    let to_app = back.headers()[LOCATION].to_str().unwrap();
    assert!(to_app.starts_with(&format!("{callback}?code=")) && to_app.ends_with("state=z"), "{to_app}");
}

#[tokio::test]
async fn an_admin_turns_approve_on_at_run_time() {
    let token = "admin-api-token-admin-api-token-0123456789";
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", token), ("CROSS_DEVICE", "code")]).await;
    let url = format!("{}/api/v1/admin/policy", app.address);
    let mut policy: serde_json::Value =
        app.client.get(&url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(policy["cross_device"], "code");
    policy["cross_device"] = "approve".into();
    let changed = app.client.put(&url).bearer_auth(token).json(&policy).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    policy["version"] = changed.json::<serde_json::Value>().await.unwrap()["version"].clone();
    policy["cross_device"] = "approval".into();
    let refused = app.client.put(&url).bearer_auth(token).json(&policy).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("cross_device"));

    // The policy is cached for a moment; a sign-in shortly after shows the number.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (html, _, _) = ask(&app, "runtime@example.com", "/account").await;
        if html.contains("class=\"match-number\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "approve never took effect");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_attempt_cookie_outlives_its_link_by_a_minute_so_the_waiting_page_can_say_expired() {
    let app = spawn_app_with(&[APPROVE]).await;
    let response = app.post_login("cookie@example.com").await;
    let cookies = crate::helpers::set_cookies(&response);
    let attempt = cookies.iter().find(|c| c.starts_with("__Host-attempt=")).expect("no attempt cookie");
    assert!(attempt.contains("Max-Age=960"), "a 15-minute link: {attempt}");
}

#[tokio::test]
async fn a_waiting_page_whose_browser_signed_in_with_the_link_in_another_tab_moves_on() {
    let (laptop, phone) = laptop_and_phone().await;
    let (_, token, _) = ask(&laptop, "same-browser@example.com", "/account").await;
    // The mail opened in this very browser: one click signs in (and drops the attempt cookie).
    assert_eq!(laptop.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
    let waiting_tab = laptop.get("/login/status").await;
    assert_eq!(waiting_tab.status(), StatusCode::SEE_OTHER);
    assert_eq!(waiting_tab.headers()[LOCATION], "/account");
    // Without a session the same request is still nothing.
    assert_eq!(phone.get("/login/status").await.status(), StatusCode::NOT_FOUND);
}

/// `GET /api/v1/login/status` in `app`'s browser: the status code and the JSON body.
async fn poll(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let response = app.get("/api/v1/login/status").await;
    let status = response.status();
    assert!(!session_cookie_set(&response), "the JSON status set a session");
    (status, response.json().await.unwrap())
}

/// The attempt keys of a store dump.
fn attempts(dump: &[(String, String)]) -> Vec<(String, String)> {
    dump.iter().filter(|(k, _)| k.ends_with(":attempt")).cloned().collect()
}

#[tokio::test]
async fn the_waiting_page_polls_with_a_same_origin_script_and_reloads_only_without_script() {
    let app = spawn_app_with(&[APPROVE]).await;
    let (html, _, _) = ask(&app, "script@example.com", "/account").await;
    assert!(
        html.contains(r#"<noscript><meta http-equiv="refresh" content="3;url=/login/status"></noscript>"#),
        "the reload is not kept for browsers without script: {html}"
    );
    let outside = html.replace(r#"<noscript><meta http-equiv="refresh" content="3;url=/login/status"></noscript>"#, "");
    assert!(!outside.contains("http-equiv=\"refresh\""), "a reload outside <noscript>: {html}");
    assert!(html.contains(r#"<script src="/static/waiting.js" defer></script>"#), "{html}");
    assert!(html.contains(r#"data-waiting-status="/api/v1/login/status""#), "{html}");
    assert!(!html.contains("<script>"), "an inline script: {html}");

    let script = app.get("/static/waiting.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let body = script.text().await.unwrap();
    assert!(body.contains("data-waiting-status") && body.contains("/login/status"), "{body}");

    // The page with the code box does not poll (typing there is not interrupted).
    let code_page = app.get("/login/status?code=1").await.text().await.unwrap();
    assert!(!code_page.contains("waiting.js") && !code_page.contains("http-equiv"), "{code_page}");
}

#[tokio::test]
async fn the_json_status_tells_only_the_asking_browser_waiting_approved_or_ended() {
    let (laptop, phone) = laptop_and_phone().await;
    let (html, token, _) = ask(&laptop, "poll@example.com", "/account?from=poll").await;

    // Waiting: one read, and nothing in the store changes.
    let before = attempts(&laptop.dump_redis().await);
    for _ in 0..3 {
        let (status, body) = poll(&laptop).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({ "status": "waiting", "next": "/login/status" }));
    }
    assert_eq!(attempts(&laptop.dump_redis().await), before, "polling changed the attempt");

    // Another browser, with no cookie or with the attempt's id and a made-up secret, learns
    // nothing: the same 404 as for no attempt at all.
    let (none_status, none_body) = poll(&phone).await;
    assert_eq!(none_status, StatusCode::NOT_FOUND);
    let attempt_cookie = laptop.cookie("__Host-attempt").unwrap();
    let (id, _) = attempt_cookie.split_once('.').unwrap();
    let stranger = spawn_peer(&laptop, &[APPROVE]).await;
    stranger.set_cookie("__Host-attempt", &format!("{id}.{}", latchkey::crypto::random_token::<32>().unwrap()));
    let (forged_status, forged_body) = poll(&stranger).await;
    assert_eq!((forged_status, &forged_body), (none_status, &none_body));
    assert_eq!(forged_body["error"], "not_found");

    // Approved on the phone: the poll says so and changes nothing; the page the script goes
    // to signs the laptop in.
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(
            poll(&laptop).await,
            (StatusCode::OK, serde_json::json!({ "status": "approved", "next": "/login/status" }))
        );
    }
    assert_eq!(laptop.get_session().await.status(), StatusCode::UNAUTHORIZED, "the poll signed in");
    let finished = laptop.get("/login/status").await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished.headers()[LOCATION], "/account?from=poll");
    // The cookie is gone with the sign-in: the attempt is over for this browser.
    assert_eq!(poll(&laptop).await.0, StatusCode::NOT_FOUND);

    // A wrong number: ended.
    let (html, token, _) = ask(&laptop, "poll-wrong@example.com", "/account").await;
    assert_eq!(post_number(&phone, &token, &wrong(&number_on(&html))).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        poll(&laptop).await,
        (StatusCode::OK, serde_json::json!({ "status": "ended", "next": "/login/status" }))
    );
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::GONE);

    // Expired without an answer: ended, and the timeout is recorded once the page goes on.
    ask(&laptop, "poll-late@example.com", "/account").await;
    laptop.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    assert_eq!(poll(&laptop).await.1["status"], "ended");
    assert_eq!(counted(&laptop, "latchkey_approval_timed_out_total").await, 0.0, "a poll recorded the timeout");
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::GONE);
    assert_eq!(counted(&laptop, "latchkey_approval_timed_out_total").await, 1.0);
}

#[tokio::test]
async fn the_json_sign_in_answers_the_number_and_a_status_url_and_the_browser_finishes_by_itself() {
    let (laptop, phone) = laptop_and_phone().await;
    let before = laptop.mail.received().len();
    let url = format!("{}/api/v1/login", laptop.address);
    let response = laptop
        .send(
            laptop
                .client
                .post(url)
                .json(&serde_json::json!({ "email": "spa@example.com", "return_to": "/account?spa=1" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "sent");
    assert_eq!(body["status_url"], "/api/v1/login/status");
    let number = body["number"].as_u64().expect("no number in the JSON answer");
    assert!((10..=99).contains(&number), "{body}");
    let token = token_from_link(&magic_link_from(&laptop.mail.wait_for_link_mail(before).await));

    assert_eq!(poll(&laptop).await.1["status"], "waiting");
    assert_eq!(post_number(&phone, &token, &number.to_string()).await.status(), StatusCode::OK);
    let (_, progress) = poll(&laptop).await;
    assert_eq!(progress["status"], "approved");
    let finished = laptop.get(progress["next"].as_str().unwrap()).await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie_set(&finished));
    assert_eq!(finished.headers()[LOCATION], "/account?spa=1");

    // Under another policy the answer has no number.
    let code = spawn_app_with(&[("CROSS_DEVICE", "code")]).await;
    let url = format!("{}/api/v1/login", code.address);
    let body: serde_json::Value = code
        .client
        .post(url)
        .json(&serde_json::json!({ "email": "spa@example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!({ "status": "sent" }));
}

#[tokio::test]
async fn approve_is_the_default_and_every_approval_refusal_and_timeout_is_audited() {
    const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
    let laptop = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    let phone = spawn_peer(&laptop, &[]).await;
    let (html, token, _) = ask(&laptop, "funnel@example.com", "/account").await;
    assert_eq!(post_number(&phone, &token, &number_on(&html)).await.status(), StatusCode::OK);
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::SEE_OTHER);
    laptop.clear_cookies();
    let (html, token, _) = ask(&laptop, "funnel@example.com", "/account").await;
    assert_eq!(post_number(&phone, &token, &wrong(&number_on(&html))).await.status(), StatusCode::FORBIDDEN);
    ask(&laptop, "funnel@example.com", "/account").await;
    laptop.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    assert_eq!(laptop.get("/login/status").await.status(), StatusCode::GONE);

    for (kind, metric) in [
        ("sign_in_approved", "latchkey_sign_in_approved_total"),
        ("approval_refused", "latchkey_approval_refused_total"),
        ("approval_timed_out", "latchkey_approval_timed_out_total"),
    ] {
        let url = format!("{}/api/v1/admin/audit?kind={kind}", laptop.address);
        let events: serde_json::Value =
            laptop.client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(events["events"].as_array().map(Vec::len), Some(1), "{kind}: {events}");
        assert_eq!(counted(&laptop, metric).await + counted(&phone, metric).await, 1.0, "{metric}");
    }
}
