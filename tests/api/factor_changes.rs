//! Changing second factors: guesses counted before they are checked (bursts included), a new
//! factor ending older sessions, changes needing a factor used in this session lately, and the
//! owner told of every change (mail in their language, audit, webhook).

use latchkey::domain::UserId;
use latchkey::store::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE, LOCATION, RETRY_AFTER};
use serde_json::Value;

use crate::helpers::{ReceivedMail, TestApp, spawn_app, spawn_app_with, token_from_link};
use crate::second_factor::{code, enroll, link_step, post};

/// One browser's cookies and a CSRF token that goes with them, for requests sent in parallel
/// (the test app's own jar is one browser at a time).
struct Browser {
    cookies: String,
    csrf: String,
}

/// The browser the test app's jar holds now.
async fn this_browser(app: &TestApp) -> Browser {
    let csrf = app.csrf_token().await;
    let cookies = ["__Host-csrf", "__Host-pending", "__Host-session", "__Host-device"]
        .iter()
        .filter_map(|name| app.cookie(name).map(|value| format!("{name}={value}")))
        .collect::<Vec<_>>()
        .join("; ");
    Browser { cookies, csrf }
}

/// The request `browser` sends when it posts `field` to `path`.
fn post_as(app: &TestApp, browser: &Browser, path: &str, field: &str, value: &str) -> reqwest::RequestBuilder {
    let form = [("csrf", browser.csrf.as_str()), (field, value)];
    app.client.post(format!("{}{path}", app.address)).header(COOKIE, &browser.cookies).form(&form)
}

fn wrong_code(right: &str) -> &'static str {
    if right == "000000" { "111111" } else { "000000" }
}

/// Waits (bounded) for a mail to `to` whose subject is `subject`, past the first `skip` mails.
pub(crate) async fn wait_for_notice(app: &TestApp, skip: usize, subject: &str) -> ReceivedMail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(mail) = app.mail.received().into_iter().skip(skip).find(|m| m.subject() == subject) {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no mail \"{subject}\"");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const CHANGED: &str = "The way you sign in has changed";

#[tokio::test]
async fn sixty_parallel_wrong_codes_over_steps_and_account_pages_check_no_more_than_the_limit() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_2FA_FAILURES_USER", "10/1h"),
        ("RATE_LIMIT_LOGIN_EMAIL", "50/15m"),
        ("RATE_LIMIT_LOGIN_EMAIL_NETWORK", "50/15m"),
    ])
    .await;
    let email = "burst@example.com";
    // Turning the app on spends the first of the ten codes.
    let (secret, codes) = enroll(&app, email).await;
    let account = this_browser(&app).await;
    // Four sign-in steps waiting for their second factor, each in its own browser.
    let mut steps = Vec::new();
    for _ in 0..4 {
        assert_eq!(link_step(&app, email).await.headers()[LOCATION], "/login/2fa");
        steps.push(this_browser(&app).await);
    }
    app.clock.advance(chrono::Duration::seconds(30));
    let right = code(&app, &secret, 0);
    let wrong = wrong_code(&right);
    let unused_recovery = "zzzzz-zzzzz";
    assert!(!codes.iter().any(|c| c == unused_recovery));

    // 60 wrong guesses at once: five on each step (its own limit is five), forty on the
    // account's confirm page, app codes and recovery codes alike.
    let mut guesses = Vec::new();
    for step in &steps {
        for i in 0..5 {
            let (field, value) = if i % 2 == 0 { ("code", wrong) } else { ("recovery_code", unused_recovery) };
            guesses.push(post_as(&app, step, "/login/2fa", field, value));
        }
    }
    for i in 0..40 {
        let (field, value) = if i % 2 == 0 { ("code", wrong) } else { ("recovery_code", unused_recovery) };
        guesses.push(post_as(&app, &account, "/account/confirm-factor", field, value));
    }
    let statuses = crate::helpers::statuses_at_once(guesses).await;
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    let checked = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST || **s == StatusCode::GONE).count();
    assert_eq!(checked + refused, 60, "{statuses:?}");
    assert_eq!(checked, 9, "only the nine guesses left of the ten may be checked: {statuses:?}");

    // Over the limit the right code is refused too, on the account page and in a new step.
    let late = post_as(&app, &account, "/account/confirm-factor", "code", &right).send().await.unwrap();
    assert_eq!(late.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(late.headers().contains_key(RETRY_AFTER));
    link_step(&app, email).await;
    assert_eq!(post(&app, "/login/2fa", &[("code", &right)]).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(post(&app, "/login/2fa", &[("recovery_code", &codes[0])]).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(app.cookie("__Host-session").is_none(), "a session past the limit");
}

#[tokio::test]
async fn turning_on_an_app_ends_every_other_session_of_the_account() {
    let app = spawn_app().await;
    let email = "older@example.com";
    app.sign_in(email).await;
    let older = app.cookie("__Host-session").unwrap();
    app.clear_cookies();
    enroll(&app, email).await;
    let enrolling = app.cookie("__Host-session").unwrap();
    assert_eq!(app.get_session().await.status(), StatusCode::OK, "the session that turned it on goes on");
    app.set_cookie("__Host-session", &older);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED, "an email-only session survived");
    assert_eq!(post(&app, "/account/totp/disable", &[]).await.status(), StatusCode::UNAUTHORIZED);
    app.set_cookie("__Host-session", &enrolling);
    assert!(app.get("/account").await.text().await.unwrap().contains("Authenticator app: <strong>on</strong>"));
}

const ADMIN_TOKEN: &str = "factor-changes-admin-token-0123456789abcdef";

#[tokio::test]
async fn enrolling_in_a_required_step_ends_the_sessions_from_before_the_policy() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    let email = "late@example.com";
    app.sign_in(email).await;
    let older = app.cookie("__Host-session").unwrap();
    // The policy now requires a second factor of everyone.
    let url = format!("{}/api/v1/admin/policy", app.address);
    let mut policy: Value = app.client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    policy["second_factor"] = "required".into();
    let put = app.client.put(&url).bearer_auth(ADMIN_TOKEN).json(&policy).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    // Another browser must set up an app before its session; doing so ends the older session.
    app.clear_cookies();
    let token = app.request_token(email).await;
    assert_eq!(app.post_verify(&token).await.headers()[LOCATION], "/login/2fa");
    let secret = crate::second_factor::shown_secret(&app.get("/login/2fa").await.text().await.unwrap());
    let response = post(&app, "/login/2fa/enroll", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user = app.user_id().await;
    let sessions = app.store().list_sessions(&user).await.unwrap();
    assert_eq!(sessions.len(), 1, "only the session that enrolled: {sessions:?}");
    assert!(sessions[0].factor_at.is_some(), "a session begun with a factor notes it");
    let enrolled = app.cookie("__Host-session").unwrap();
    app.set_cookie("__Host-session", &older);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED, "an email-only session survived");
    assert!(wait_for_notice(&app, 0, CHANGED).await.text().contains("An authenticator app was added"));
    // It signed in with the app's first code: changes are open to it without confirming again.
    app.set_cookie("__Host-session", &enrolled);
    assert_eq!(post(&app, "/account/recovery-codes", &[]).await.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(post(&app, "/account/recovery-codes", &[]).await.status(), StatusCode::FORBIDDEN);
}

/// A new account at a step that must set up an app before its session: the step's browser
/// and the seed the step shows.
async fn enrolling_step(app: &TestApp, email: &str) -> (Browser, latchkey::second_factor::totp::TotpSecret) {
    assert_eq!(link_step(app, email).await.headers()[LOCATION], "/login/2fa");
    let secret = crate::second_factor::shown_secret(&app.get("/login/2fa").await.text().await.unwrap());
    (this_browser(app).await, secret)
}

/// Whether the account at `email` has an authenticator app on, as the store holds it.
async fn app_is_on(app: &TestApp, email: &str) -> bool {
    let record = app.store().find_user(&crate::helpers::lookup_of(email)).await.unwrap().unwrap();
    app.store().get_factors(&record.id).await.unwrap().totp.is_some()
}

#[tokio::test]
async fn a_required_steps_first_app_code_racing_its_last_wrong_guesses_turns_the_app_on_only_with_a_session() {
    let app = spawn_app_with(&[
        ("SECOND_FACTOR", "required"),
        ("RATE_LIMIT_LOGIN_EMAIL_NETWORK", "100/15m"),
        ("RATE_LIMIT_LOGIN_IP", "100/15m"),
    ])
    .await;
    let tries = latchkey::signin::MAX_SECOND_FACTOR_TRIES as usize;
    let (mut turned_on, mut ended) = (Vec::new(), Vec::new());
    for round in 0..8 {
        let email = format!("race-{round}@example.com");
        let (step, secret) = enrolling_step(&app, &email).await;
        // The right first code and, at once, enough wrong ones to spend the step's last try
        // (even rounds) or one fewer (odd rounds: the right code must win).
        let right = code(&app, &secret, 0);
        let wrong = if round % 2 == 0 { tries - 1 } else { tries - 2 };
        let mut answers = vec![post_as(&app, &step, "/login/2fa/enroll", "code", &right)];
        answers.extend((0..wrong).map(|_| post_as(&app, &step, "/login/2fa/enroll", "code", wrong_code(&right))));
        let statuses = crate::helpers::statuses_at_once(answers).await;
        let sessions = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert!(sessions <= 1, "{statuses:?}");
        assert!(round % 2 == 0 || sessions == 1, "round {round}: {statuses:?}");
        // The app is on exactly when the right code got its session.
        assert_eq!(app_is_on(&app, &email).await, sessions == 1, "round {round}: {statuses:?}");
        let user = app.store().find_user(&crate::helpers::lookup_of(&email)).await.unwrap().unwrap().id;
        assert_eq!(factor_events(&app, &user).await.len(), sessions, "round {round}: {statuses:?}");
        if sessions == 1 { turned_on.push(email) } else { ended.push(email) }
    }
    // Every app turned on was mailed to its owner; nobody else was told of one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let told = |email: &str| {
        app.mail.received().iter().any(|m| m.subject() == CHANGED && m.to.iter().any(|to| to.contains(email)))
    };
    while !turned_on.iter().all(|email| told(email)) {
        assert!(std::time::Instant::now() < deadline, "an app turned on without a mail: {turned_on:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!ended.iter().any(|email| told(email)), "{ended:?}");
    eprintln!("signed in: {turned_on:?}; ended by the wrong guesses first: {ended:?}");
}

#[tokio::test]
async fn an_account_blocked_at_its_required_step_does_not_turn_on_the_app_it_set_up() {
    let app = spawn_app_with(&[("SECOND_FACTOR", "required"), ("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    let email = "blocked-midway@example.com";
    let (_, secret) = enrolling_step(&app, email).await;
    let url = format!("{}/api/v1/admin/users/{email}/block", app.address);
    assert_eq!(app.client.post(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(), StatusCode::OK);
    let response = post(&app, "/login/2fa/enroll", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(app.cookie("__Host-session").is_none());
    assert!(!app_is_on(&app, email).await, "a blocked account's app was turned on");
}

#[tokio::test]
async fn changing_factors_needs_a_factor_used_in_this_session_within_ten_minutes() {
    let app = spawn_app().await;
    let email = "sudo@example.com";
    let (secret, codes) = enroll(&app, email).await;
    // The session that enrolled began email-only: every change sends it to confirm first.
    for (path, fields) in [
        ("/account/recovery-codes", vec![]),
        ("/account/totp/disable", vec![]),
        ("/account/totp/enroll", vec![]),
        ("/account/phone", vec![("phone", "+44 7700 900123")]),
        ("/account/phone/remove", vec![]),
    ] {
        let response = post(&app, path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.text().await.unwrap().contains("action=\"/account/confirm-factor\""), "{path}");
    }
    let page = app.get("/account").await.text().await.unwrap();
    assert!(page.contains("href=\"/account/confirm-factor\"") && !page.contains("/account/totp/disable"), "{page}");
    // A recovery code confirms it (and is used up); changes are open for ten minutes.
    let confirmed = post(&app, "/account/confirm-factor", &[("recovery_code", &codes[0])]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert!(app.get("/account").await.text().await.unwrap().contains("action=\"/account/totp/disable\""));
    let replaced = post(&app, "/account/recovery-codes", &[]).await;
    assert_eq!(replaced.status(), StatusCode::OK);
    assert_eq!(crate::second_factor::recovery_codes(&replaced.text().await.unwrap()).len(), 10);
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(post(&app, "/account/recovery-codes", &[]).await.status(), StatusCode::FORBIDDEN);

    // However the session began: one that signed in with the app is asked again 11 minutes on.
    link_step(&app, email).await;
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::SEE_OTHER);
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(post(&app, "/account/totp/disable", &[]).await.status(), StatusCode::FORBIDDEN);
    app.clock.advance(chrono::Duration::seconds(30));
    let confirmed = post(&app, "/account/confirm-factor", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(post(&app, "/account/totp/disable", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(app.get("/account").await.text().await.unwrap().contains("Authenticator app: <strong>off</strong>"));
}

/// A clients file with one app whose webhooks go to `receiver`.
pub(crate) fn clients_file(receiver: &wiremock::MockServer) -> String {
    let clients = format!(
        "[[client]]\nclient_id = \"hooked\"\nredirect_uris = [\"https://hooked.example.com/cb\"]\ntype = \"public\"\nwebhook_url = \"{}/hook\"\nwebhook_secret = \"webhook-secret-webhook-secret-0123456789\"\n",
        receiver.uri()
    );
    let name = format!("latchkey-factor-clients-{}.toml", latchkey::crypto::random_token::<9>().unwrap());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, clients).unwrap();
    path.to_string_lossy().into_owned()
}

pub(crate) async fn wait_for_webhook(receiver: &wiremock::MockServer, event: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = receiver.received_requests().await.unwrap_or_default();
        let events: Vec<Value> = got.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
        if let Some(found) = events.into_iter().find(|e| e["type"] == event) {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "no {event} webhook");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn factor_events(app: &TestApp, user: &UserId) -> Vec<String> {
    let events = app.store().user_events(user, 100).await.unwrap();
    let mut changes: Vec<String> =
        events.into_iter().filter(|e| e.kind.name() == "factor_changed").map(|e| e.detail).collect();
    changes.reverse();
    changes
}

#[tokio::test]
async fn turning_on_an_app_is_mailed_in_the_owners_language_audited_and_sent_to_their_apps() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let app = spawn_app_with(&[("CLIENTS_FILE", &clients_file(&receiver))]).await;
    app.sign_in("lena@example.com").await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "hooked").await.unwrap();
    let before = app.mail.received().len();
    let html = post(&app, "/account/totp/enroll", &[]).await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    let confirm = app.client.post(format!("{}/account/totp/confirm", app.address)).header(ACCEPT_LANGUAGE, "de");
    let form = [("csrf", csrf.as_str()), ("code", &code(&app, &secret, 0))];
    assert_eq!(app.send(confirm.form(&form)).await.status(), StatusCode::OK);

    let notice = wait_for_notice(&app, before, "Ihre Anmeldung wurde geändert").await;
    assert_eq!(notice.to, vec!["lena@example.com".to_owned()]);
    for part in [notice.text(), notice.html()] {
        assert!(part.contains("Authenticator-App als zweiter Faktor hinzugefügt"), "{part}");
        assert!(part.contains("127.0.0.1") && part.contains("/account/not-me?token="), "{part}");
        assert!(part.contains(" UTC"), "{part}");
    }
    assert!(notice.html().contains(r#"<html lang="de">"#));
    assert_eq!(factor_events(&app, &user).await, vec!["totp_added".to_owned()]);
    let event = wait_for_webhook(&receiver, "user.second_factor_changed").await;
    assert_eq!(event["data"]["change"], "totp_added");
    assert_eq!(event["data"]["sub"], user.as_str());

    // "This wasn't me" shuts out whoever did it: every session ends.
    let link = notice.text().split_whitespace().find(|w| w.contains("/account/not-me?token=")).unwrap().to_owned();
    let csrf = app.csrf_token().await;
    let done = app.post_form("/account/not-me", &[("csrf", &csrf), ("token", &token_from_link(&link))]).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn new_recovery_codes_removing_the_app_and_signing_out_everywhere_are_each_mailed() {
    let app = spawn_app().await;
    let (_, codes) = enroll(&app, "told@example.com").await;
    let user = app.user_id().await;
    wait_for_notice(&app, 0, CHANGED).await;
    assert_eq!(
        post(&app, "/account/confirm-factor", &[("recovery_code", &codes[0])]).await.status(),
        StatusCode::SEE_OTHER
    );

    let before = app.mail.received().len();
    assert_eq!(post(&app, "/account/recovery-codes", &[]).await.status(), StatusCode::OK);
    let replaced = wait_for_notice(&app, before, CHANGED).await;
    assert!(
        replaced.text().contains("recovery codes of your account on login.example.test were replaced"),
        "{}",
        replaced.text()
    );

    let before = app.mail.received().len();
    assert_eq!(post(&app, "/account/totp/disable", &[]).await.status(), StatusCode::SEE_OTHER);
    let removed = wait_for_notice(&app, before, CHANGED).await;
    assert!(removed.text().contains("The authenticator app was removed"), "{}", removed.text());

    let before = app.mail.received().len();
    assert_eq!(post(&app, "/logout/all", &[]).await.status(), StatusCode::SEE_OTHER);
    let ended = wait_for_notice(&app, before, CHANGED).await;
    assert!(ended.text().contains("was signed out everywhere") && ended.text().contains("/account/not-me?token="));

    let expected = ["totp_added", "recovery_codes_replaced", "totp_removed"].map(str::to_owned);
    assert_eq!(factor_events(&app, &user).await, expected.to_vec());
}

#[tokio::test]
async fn a_phone_only_account_confirms_with_a_texted_code_before_removing_the_phone() {
    use crate::second_factor_sms::{add_phone, app_with, code_in, ok_provider, wait_sent};
    let server = ok_provider().await;
    let app = app_with(&server, &[]).await;
    add_phone(&app, &server, "phone-only@example.com").await;
    let added = wait_for_notice(&app, 0, CHANGED).await;
    assert!(added.text().contains("A phone was added as a second factor"), "{}", added.text());

    // The session that added it began email-only.
    assert_eq!(post(&app, "/account/phone/remove", &[]).await.status(), StatusCode::FORBIDDEN);
    let sent = post(&app, "/account/confirm-factor/sms", &[]).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(sent.text().await.unwrap().contains("We texted a code"));
    let texted = code_in(&wait_sent(&server, 2).await[1]);
    let wrong = wrong_code(&texted);
    assert_eq!(post(&app, "/account/confirm-factor", &[("sms_code", wrong)]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&app, "/account/phone/remove", &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(post(&app, "/account/confirm-factor", &[("sms_code", &texted)]).await.status(), StatusCode::SEE_OTHER);

    let before = app.mail.received().len();
    assert_eq!(post(&app, "/account/phone/remove", &[]).await.status(), StatusCode::SEE_OTHER);
    let removed = wait_for_notice(&app, before, CHANGED).await;
    assert!(removed.text().contains("The phone was removed"), "{}", removed.text());
    assert!(!app.get("/account").await.text().await.unwrap().contains("+44 ••"));
    // No factor is left: signing in again asks for none.
    assert_eq!(crate::second_factor::link_step(&app, "phone-only@example.com").await.headers()[LOCATION], "/account");
}

#[tokio::test]
async fn an_administrators_removal_of_the_factors_is_mailed_to_the_owner_and_audited() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", ADMIN_TOKEN)]).await;
    enroll(&app, "reset@example.com").await;
    let user = app.user_id().await;
    wait_for_notice(&app, 0, CHANGED).await;
    let before = app.mail.received().len();
    let url = format!("{}/api/v1/admin/users/reset@example.com/second-factor", app.address);
    let reset = app.client.delete(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    let notice = wait_for_notice(&app, before, CHANGED).await;
    assert!(notice.text().contains("An administrator removed every second factor"), "{}", notice.text());
    assert_said_by_an_administrator(&notice);
    assert_eq!(factor_events(&app, &user).await, ["totp_added", "factors_reset"].map(str::to_owned).to_vec());
}

/// An administrator's ending of every session, by a revocation or a block, is a change to how
/// the person signs in: mailed to them, and sent to their apps.
#[tokio::test]
async fn an_administrators_revocation_and_block_are_mailed_to_the_owner_and_sent_to_their_apps() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", ADMIN_TOKEN), ("CLIENTS_FILE", &clients_file(&receiver))]).await;
    app.sign_in("watched@example.com").await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "hooked").await.unwrap();
    let act = |action: &str| {
        let url = format!("{}/api/v1/admin/users/watched@example.com/{action}", app.address);
        app.client.post(url).bearer_auth(ADMIN_TOKEN).send()
    };
    let revoked_events = || async {
        let got = receiver.received_requests().await.unwrap_or_default();
        got.iter()
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .filter(|e| e["type"] == "user.sessions_revoked" && e["data"]["sub"] == user.as_str())
            .count()
    };

    let before = app.mail.received().len();
    assert_eq!(act("revoke-sessions").await.unwrap().status(), StatusCode::OK);
    let ended = wait_for_notice(&app, before, CHANGED).await;
    assert_eq!(ended.to, ["watched@example.com"]);
    assert!(ended.text().contains("An administrator signed your account on"), "{}", ended.text());
    assert_said_by_an_administrator(&ended);
    wait_for_webhook(&receiver, "user.sessions_revoked").await;

    let before = app.mail.received().len();
    assert_eq!(act("block").await.unwrap().status(), StatusCode::OK);
    let blocked = wait_for_notice(&app, before, CHANGED).await;
    assert!(blocked.text().contains("An administrator blocked your account"), "{}", blocked.text());
    assert_said_by_an_administrator(&blocked);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while revoked_events().await < 2 {
        assert!(std::time::Instant::now() < deadline, "the block was not sent to the apps");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A second block is no news, and lifting the block is audited, not mailed.
    let before = app.mail.received().len();
    assert_eq!(act("block").await.unwrap().status(), StatusCode::OK);
    assert_eq!(act("unblock").await.unwrap().status(), StatusCode::OK);
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), before);
}

/// An administrator's change is mailed as theirs: not with their browser and IP (the test's
/// client, 127.0.0.1), and with no "this wasn't me" link (only an administrator can undo it).
fn assert_said_by_an_administrator(notice: &ReceivedMail) {
    for part in [notice.text(), notice.html()] {
        assert!(part.contains("An administrator made this change."), "{part}");
        assert!(!part.contains("127.0.0.1") && !part.contains("/account/not-me"), "{part}");
    }
}

/// `POST path` with `fields`, the page asked for in German.
async fn post_in_german(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let request = app.client.post(format!("{}{path}", app.address)).header(ACCEPT_LANGUAGE, "de");
    app.send(request.form(&form)).await
}

#[tokio::test]
async fn a_stolen_session_signed_in_over_ten_minutes_ago_cannot_set_up_a_first_factor() {
    use crate::second_factor_sms::{app_with, ok_provider};
    let server = ok_provider().await;
    let app = app_with(&server, &[]).await;
    let email = "first-factor@example.com";
    app.sign_in(email).await;
    let owner = app.cookie("__Host-session").unwrap();
    // The session was taken; by the time it is used, its sign-in is 11 minutes old.
    app.clock.advance(chrono::Duration::minutes(11));
    for (path, fields) in [
        ("/account/totp/enroll", vec![]),
        ("/account/totp/confirm", vec![("code", "123456")]),
        ("/account/phone", vec![("phone", "+44 7700 900123")]),
        ("/account/phone/confirm", vec![("code", "123456")]),
    ] {
        let response = post(&app, path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("please sign in again first") && !page.contains("<svg"), "{path}: {page}");
        let response = post_in_german(&app, path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.text().await.unwrap().contains("melden Sie sich bitte zuerst erneut an"), "{path}");
    }
    app.outbox_settled().await;
    assert!(server.received_requests().await.unwrap_or_default().is_empty(), "a phone was texted");
    let user = app.user_id().await;
    assert!(!app.store().get_factors(&user).await.unwrap().any(), "a factor was set up");
    assert_eq!(app.store().list_sessions(&user).await.unwrap().len(), 1, "the owner's session was ended");
    assert_eq!(app.cookie("__Host-session").unwrap(), owner);

    // Signed in again just now (the link proves the mailbox): both can be set up.
    app.clear_cookies();
    app.sign_in(email).await;
    let html = post(&app, "/account/totp/enroll", &[]).await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let confirmed = post(&app, "/account/totp/confirm", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    app.clear_cookies();
    app.sign_in("first-phone@example.com").await;
    assert_eq!(post(&app, "/account/phone", &[("phone", "+44 7700 900123")]).await.status(), StatusCode::OK);
    crate::second_factor_sms::wait_sent(&server, 1).await;
}

#[tokio::test]
async fn an_account_whose_factor_data_was_lost_still_confirms_before_setting_up_another() {
    let app = spawn_app().await;
    // Signed in a moment ago, with the app turned on from the account page: the session has
    // not used a factor.
    enroll(&app, "lost-data@example.com").await;
    let user = app.user_id().await;
    let key = latchkey::store::Keys::new(app.prefix.clone()).factors(&user);
    let deleted: i64 = ::redis::cmd("DEL").arg(&key).query_async(&mut app.store().connection()).await.unwrap();
    assert_eq!(deleted, 1, "no factors key at {key}");
    // The record still says the account has an app: no new factor without confirming first.
    for (path, fields) in [("/account/totp/enroll", vec![]), ("/account/phone", vec![("phone", "+44 7700 900123")])] {
        let response = post(&app, path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.text().await.unwrap().contains("action=\"/account/confirm-factor\""), "{path}");
    }
    assert!(!app.store().get_factors(&user).await.unwrap().any(), "a factor was set up");
}
