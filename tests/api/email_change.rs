//! Changing an account's address: by its owner (a fresh session, a link and code to the new
//! address bound like a sign-in link, a notice with "this wasn't me" to the old one) and by
//! an administrator. The account keeps its id; the store keeps no index entry of the old
//! address; an address of another account is never taken, and the asker cannot tell.

use latchkey::domain::UserId;
use latchkey::store::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE};
use serde_json::Value;

use crate::factor_changes::{clients_file, wait_for_notice, wait_for_webhook};
use crate::helpers::ReceivedMail;
use crate::helpers::{TestApp, hidden_field, lookup_of, session_cookie_set, spawn_app, spawn_app_with};
use crate::second_factor::{code, enroll, post};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
const VERIFY: &str = "Confirm your new address";
const TAKEN: &str = "Your address was not changed";
const NOTICE: &str = "The address of your account was changed";
const RESTORED: &str = "Your address was restored";
const ADMIN_NEW: &str = "This is now your account's address";

/// The path and query of the first link in `mail` to `path`.
fn link_in(mail: &ReceivedMail, path: &str) -> String {
    let word = mail.text().split_whitespace().find(|w| w.contains(path)).expect("no such link in the mail").to_owned();
    let url = url::Url::parse(&word).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// Asks for a change to `to` from the account page; returns the response.
async fn ask(app: &TestApp, to: &str) -> reqwest::Response {
    post(app, "/account/email", &[("email", to)]).await
}

/// Asks for a change to `to` and returns the mail that reaches `to`.
async fn ask_and_wait(app: &TestApp, to: &str, subject: &str) -> ReceivedMail {
    let before = app.mail.received().len();
    let asked = ask(app, to).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let mail = wait_for_notice(app, before, subject).await;
    assert_eq!(mail.to, [to]);
    mail
}

/// Opens the link's page, then sends its form (with `code` when given).
async fn redeem(app: &TestApp, link: &str, code: Option<&str>) -> reqwest::Response {
    let page = app.get(link).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let (user, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let mut form = vec![("user", user.as_str()), ("token", token.as_str())];
    if let Some(code) = code {
        form.push(("code", code));
    }
    post(app, "/account/email/verify", &form).await
}

/// Signs `from` in and moves the account to `to` by the link, in the same browser.
async fn change(app: &TestApp, from: &str, to: &str) -> UserId {
    app.sign_in(from).await;
    let user = app.user_id().await;
    let mail = ask_and_wait(app, to, VERIFY).await;
    let done = redeem(app, &link_in(&mail, "/account/email/verify"), None).await;
    assert_eq!(done.status(), StatusCode::OK);
    user
}

async fn session_email(app: &TestApp) -> Option<String> {
    let response = app.get_session().await;
    if response.status() != StatusCode::OK {
        return None;
    }
    let claims: Value = response.json().await.unwrap();
    claims["email"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn the_address_changes_when_the_link_to_the_new_address_is_used_in_the_browser_that_asked() {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(&[("CLIENTS_FILE", &clients_file(&receiver))]).await;
    app.sign_in("ann@example.com").await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "hooked").await.unwrap();

    let page = app.get("/account").await.text().await.unwrap();
    assert!(page.contains("href=\"/account/email\""));
    let form = app.get("/account/email").await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("name=\"email\""));

    let before = app.mail.received().len();
    let asked = ask(&app, "ann.new@example.org").await;
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(asked.text().await.unwrap().contains("Check your new mailbox"));
    assert!(app.cookie("__Host-email-change").is_some(), "the asking browser is not bound to the link");
    let mail = wait_for_notice(&app, before, VERIFY).await;
    assert_eq!(mail.to, ["ann.new@example.org"]);
    let text = mail.text();
    assert!(text.contains("a***@e***.com"), "the mail does not name the old address masked: {text}");
    assert!(!text.contains("ann@example.com"), "the mail shows the old address in full");
    assert!(mail.html().contains("/account/email/verify?"));
    let link = link_in(&mail, "/account/email/verify");
    assert!(link.contains(&format!("user={}", user.as_str())));

    // Nothing changed yet, and opening the link (as a mail scanner would) changes nothing.
    let confirm = app.get(&link).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert!(confirm.text().await.unwrap().contains("Change my address"));
    assert_eq!(session_email(&app).await.as_deref(), Some("ann@example.com"));
    assert_eq!(app.store().find_user(&lookup_of("ann.new@example.org")).await.unwrap(), None);

    let done = redeem(&app, &link, None).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(session_cookie_set(&done), "the asking browser's session did not carry on");
    assert!(done.text().await.unwrap().contains("ann.new@example.org"));
    // The same account (`sub`), the new address everywhere; the old index entry is gone.
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["email"], "ann.new@example.org");
    assert!(app.get("/account").await.text().await.unwrap().contains("ann.new@example.org"));
    let export: Value = app.get("/account/export").await.json().await.unwrap();
    assert_eq!(export["profile"]["email"], "ann.new@example.org");
    assert_eq!(export["profile"]["id"], user.as_str());
    let record = app.store().find_user(&lookup_of("ann.new@example.org")).await.unwrap().unwrap();
    assert_eq!(record.id, user);
    assert_eq!(app.store().find_user(&lookup_of("ann@example.com")).await.unwrap(), None);
    let keys: Vec<String> = app.dump_redis().await.into_iter().map(|(k, _)| k).collect();
    assert!(!keys.iter().any(|k| k.ends_with(&format!("user-email:{}", lookup_of("ann@example.com")))), "{keys:?}");
    assert!(!keys.iter().any(|k| k.ends_with(":email-change")), "the used change is still stored");

    // The old address is told, with the new one masked and a "this wasn't me" link.
    let notice = wait_for_notice(&app, before, NOTICE).await;
    assert_eq!(notice.to, ["ann@example.com"]);
    assert!(notice.text().contains("a***@e***.org") && !notice.text().contains("ann.new@example.org"));
    assert!(notice.text().contains("/account/email/revert?"));
    // Audited, and the apps told the new address.
    let events = app.store().user_events(&user, 20).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "email_changed" && e.detail == "by user"));
    assert!(events.iter().any(|e| e.kind.name() == "email_change_requested"));
    let hook = wait_for_webhook(&receiver, "user.email_changed").await;
    assert_eq!(hook["data"]["sub"], user.as_str());
    assert_eq!(hook["data"]["email"], "ann.new@example.org");

    // The link works once; the old address signs in to nothing of this account now.
    assert_eq!(app.get(&link).await.status(), StatusCode::GONE);
    app.clear_cookies();
    app.sign_in("ann@example.com").await;
    assert_ne!(app.user_id().await, user, "the old address still signs in to the account");
}

#[tokio::test]
async fn another_browser_finishes_with_the_code_and_every_session_of_the_account_ends() {
    let app = spawn_app().await;
    app.sign_in("bea@example.com").await;
    let user = app.user_id().await;
    let session = app.cookie("__Host-session").unwrap();
    let mail = ask_and_wait(&app, "bea@example.net", VERIFY).await;
    let code = crate::helpers::code_from(&mail);
    let link = link_in(&mail, "/account/email/verify");

    app.clear_cookies();
    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"code\"") && !html.contains("Change the address of your account from"));
    // Without the code nothing changes here; a wrong code spends a try.
    let (uid, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let bare = post(&app, "/account/email/verify", &[("user", &uid), ("token", &token)]).await;
    assert_eq!(bare.status(), StatusCode::GONE);
    let wrong = redeem(&app, &link, Some("AAAA-AAAA")).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("left"));
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "bea@example.com");

    let done = redeem(&app, &link, Some(&code)).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(!session_cookie_set(&done), "a browser with no session of the account got one");
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "bea@example.net");
    // The asking browser's session (its token carries the old address) ended.
    app.set_cookie("__Host-session", &session);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.store().list_sessions(&user).await.unwrap().is_empty());
}

#[tokio::test]
async fn codes_sent_with_a_forged_token_spend_none_of_the_owners_tries() {
    let app = spawn_app().await;
    app.sign_in("ida@example.com").await;
    let user = app.user_id().await;
    let mail = ask_and_wait(&app, "ida@example.net", VERIFY).await;
    let code = crate::helpers::code_from(&mail);
    let link = link_in(&mail, "/account/email/verify");

    // Someone who knows only the account's id (`sub`) sends codes with made-up tokens.
    app.clear_cookies();
    for _ in 0..6 {
        let forged = latchkey::domain::LinkToken::generate().unwrap();
        let fields = [("user", user.as_str()), ("token", forged.expose()), ("code", "AAAA-AAAA")];
        assert_eq!(post(&app, "/account/email/verify", &fields).await.status(), StatusCode::GONE);
    }
    // The owner's link and code still work.
    let done = redeem(&app, &link, Some(&code)).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "ida@example.net");
}

#[tokio::test]
async fn an_address_of_another_account_gets_the_same_answer_an_explaining_mail_and_no_change() {
    let app = spawn_app().await;
    app.sign_in("owner@example.com").await;
    let owner = app.user_id().await;
    app.clear_cookies();
    app.sign_in("cid@example.com").await;
    let user = app.user_id().await;

    let before = app.mail.received().len();
    let free = ask(&app, "cid.free@example.com").await;
    let taken = ask(&app, "owner@example.com").await;
    assert_eq!(free.status(), taken.status());
    let (free, taken) = (free.text().await.unwrap(), taken.text().await.unwrap());
    let strip = |page: &str, address: &str| {
        page.replace(address, "ADDRESS").lines().filter(|l| !l.contains("csrf")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(strip(&free, "cid.free@example.com"), strip(&taken, "owner@example.com"), "the answers differ");

    let mail = wait_for_notice(&app, before, TAKEN).await;
    assert_eq!(mail.to, ["owner@example.com"]);
    assert!(mail.text().contains("already has an account"));
    assert!(!mail.text().contains("/account/email/verify"), "the owner got a link that could move an account");
    // Nothing changed on either account.
    assert_eq!(app.store().find_user(&lookup_of("owner@example.com")).await.unwrap().unwrap().id, owner);
    assert_eq!(app.store().find_user(&lookup_of("cid@example.com")).await.unwrap().unwrap().id, user);
    assert_eq!(session_email(&app).await.as_deref(), Some("cid@example.com"));
}

#[tokio::test]
async fn this_wasnt_me_restores_the_old_address_and_ends_every_session_once() {
    let app = spawn_app().await;
    let before = app.mail.received().len();
    let user = change(&app, "dan@example.com", "dan@example.org").await;
    let notice = wait_for_notice(&app, before, NOTICE).await;
    let revert = link_in(&notice, "/account/email/revert");

    // A different browser (the owner's mailbox): the page first, then the button.
    app.clear_cookies();
    let page = app.get(&revert).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("dan@example.com") && html.contains("Restore my address"));
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "dan@example.org");
    let (uid, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let before = app.mail.received().len();
    let done = post(&app, "/account/email/revert", &[("user", &uid), ("token", &token)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "dan@example.com");
    assert_eq!(app.store().find_user(&lookup_of("dan@example.org")).await.unwrap(), None);
    assert!(app.store().list_sessions(&user).await.unwrap().is_empty(), "a session outlived \"this wasn't me\"");
    let restored = wait_for_notice(&app, before, RESTORED).await;
    assert_eq!(restored.to, ["dan@example.com"]);
    let events = app.store().user_events(&user, 30).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "email_changed" && e.detail == "reverted by user"));
    assert!(events.iter().any(|e| e.kind.name() == "sessions_revoked"));
    // Once.
    let again = post(&app, "/account/email/revert", &[("user", &uid), ("token", &token)]).await;
    assert_eq!(again.status(), StatusCode::GONE);
    // The old address signs in to the same account again.
    app.sign_in("dan@example.com").await;
    assert_eq!(app.user_id().await, user);
}

#[tokio::test]
async fn this_wasnt_me_after_a_second_change_restores_the_first_address_and_voids_the_other_links() {
    let app = spawn_app().await;
    let before = app.mail.received().len();
    let user = change(&app, "eve@example.com", "eve@example.org").await;
    let first = link_in(&wait_for_notice(&app, before, NOTICE).await, "/account/email/revert");
    let before = app.mail.received().len();
    let mail = ask_and_wait(&app, "eve@example.net", VERIFY).await;
    assert_eq!(redeem(&app, &link_in(&mail, "/account/email/verify"), None).await.status(), StatusCode::OK);
    let second = link_in(&wait_for_notice(&app, before, NOTICE).await, "/account/email/revert");
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "eve@example.net");

    app.clear_cookies();
    let html = app.get(&first).await.text().await.unwrap();
    let form = [("user", hidden_field(&html, "user").unwrap()), ("token", hidden_field(&html, "token").unwrap())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&app, "/account/email/revert", &form).await.status(), StatusCode::OK);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "eve@example.com");
    assert_eq!(app.store().find_user(&lookup_of("eve@example.net")).await.unwrap(), None);
    // The later change's link cannot move the account back to the address it was taken with.
    assert_eq!(app.get(&second).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_thief_using_the_revert_link_of_a_later_change_does_not_void_the_owners_link() {
    let app = spawn_app().await;
    // The thief, in a fresh session of the owner's, moves the account to a mailbox of theirs,
    // then on to another: the second notice (with its revert link) reaches the thief.
    let before = app.mail.received().len();
    let user = change(&app, "own@example.com", "thief@example.org").await;
    let owners = link_in(&wait_for_notice(&app, before, NOTICE).await, "/account/email/revert");
    let before = app.mail.received().len();
    let mail = ask_and_wait(&app, "thief@example.net", VERIFY).await;
    assert_eq!(redeem(&app, &link_in(&mail, "/account/email/verify"), None).await.status(), StatusCode::OK);
    let thiefs = link_in(&wait_for_notice(&app, before, NOTICE).await, "/account/email/revert");

    let use_link = |link: String| {
        let app = &app;
        async move {
            app.clear_cookies();
            let html = app.get(&link).await.text().await.unwrap();
            let (u, t) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
            post(app, "/account/email/revert", &[("user", u.as_str()), ("token", t.as_str())]).await.status()
        }
    };
    // The thief undoes their own second change first, hoping to void the owner's link.
    assert_eq!(use_link(thiefs).await, StatusCode::OK);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "thief@example.org");
    // The owner's link still works and gives the account back.
    assert_eq!(use_link(owners).await, StatusCode::OK);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "own@example.com");
    assert_eq!(app.store().find_user(&lookup_of("thief@example.org")).await.unwrap(), None);
}

#[tokio::test]
async fn this_wasnt_me_ends_every_session_but_keeps_an_old_address_another_account_took() {
    let app = spawn_app().await;
    let before = app.mail.received().len();
    let user = change(&app, "fay@example.com", "fay@example.org").await;
    let revert = link_in(&wait_for_notice(&app, before, NOTICE).await, "/account/email/revert");
    // Someone signs up with the freed address meanwhile.
    app.clear_cookies();
    app.sign_in("fay@example.com").await;
    let newcomer = app.user_id().await;
    assert_ne!(newcomer, user);

    app.clear_cookies();
    let html = app.get(&revert).await.text().await.unwrap();
    let (uid, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let done = post(&app, "/account/email/revert", &[("user", &uid), ("token", &token)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("belongs to another account"));
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "fay@example.org");
    assert_eq!(app.store().find_user(&lookup_of("fay@example.com")).await.unwrap().unwrap().id, newcomer);
    assert!(app.store().list_sessions(&user).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_redemptions_of_one_link_change_the_address_once() {
    let app = spawn_app().await;
    app.sign_in("gus@example.com").await;
    let user = app.user_id().await;
    let mail = ask_and_wait(&app, "gus@example.org", VERIFY).await;
    let html = app.get(&link_in(&mail, "/account/email/verify")).await.text().await.unwrap();
    let (uid, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let csrf = app.csrf_token().await;
    let cookies = format!(
        "__Host-csrf={}; __Host-email-change={}; __Host-session={}",
        app.cookie("__Host-csrf").unwrap(),
        app.cookie("__Host-email-change").unwrap(),
        app.cookie("__Host-session").unwrap()
    );
    let before = app.mail.received().len();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let request = app
                .client
                .post(format!("{}/account/email/verify", app.address))
                .header(COOKIE, &cookies)
                .form(&[("user", uid.as_str()), ("token", token.as_str()), ("csrf", csrf.as_str())]);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::GONE), "{statuses:?}");
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "gus@example.org");
    wait_for_notice(&app, before, NOTICE).await;
    app.outbox_settled().await;
    let notices = app.mail.received().into_iter().skip(before).filter(|m| m.subject() == NOTICE).count();
    assert_eq!(notices, 1, "the old address was told more than once");
    let events = app.store().user_events(&user, 50).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind.name() == "email_changed").count(), 1);
}

#[tokio::test]
async fn a_second_factor_not_used_lately_is_asked_for_before_a_change() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "hal@example.com").await;
    app.clock.advance(chrono::Duration::minutes(11));
    let page = app.get("/account/email").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("href=\"/account/confirm-factor\"") && !html.contains("name=\"email\""));
    let before = app.mail.received().len();
    let refused = ask(&app, "hal@example.org").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let confirmed = post(&app, "/account/confirm-factor", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let mail = ask_and_wait(&app, "hal@example.org", VERIFY).await;
    assert!(app.mail.received().iter().skip(before).filter(|m| m.subject() == VERIFY).count() == 1);
    assert!(mail.text().contains("/account/email/verify?"));
}

#[tokio::test]
async fn a_stale_email_only_session_and_bad_addresses_are_refused_naming_the_field() {
    let app = spawn_app_with(&[("SIGNUP_ALLOW", "example.com")]).await;
    app.sign_in("ida@example.com").await;
    for (typed, says) in [
        ("not an address", "name=\"email\""),
        ("ida@example.com", "already your address"),
        ("ida@elsewhere.org", "cannot be used here"),
    ] {
        let refused = ask(&app, typed).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{typed}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(says) && html.contains("aria-invalid=\"true\""), "{typed}: {html}");
    }
    app.clock.advance(chrono::Duration::minutes(11));
    let refused = ask(&app, "ida2@example.com").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("needs a sign-in within the last 10 minutes"));
    app.clear_cookies();
    let stranger = app.get("/account/email").await;
    assert_eq!(stranger.status(), StatusCode::SEE_OTHER);
}

/// The signup list is checked again when the new address confirms: one narrowed since the
/// change was asked for keeps the account where it is.
#[tokio::test]
async fn a_change_asked_for_before_the_signup_list_was_narrowed_moves_nothing() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    app.sign_in("lou@example.com").await;
    let user = app.user_id().await;
    let mail = ask_and_wait(&app, "lou@elsewhere.org", VERIFY).await;
    let url = format!("{}/api/v1/admin/policy", app.address);
    let mut policy: Value = app.client.get(&url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    policy["signup_allow"] = serde_json::json!(["example.com"]);
    assert_eq!(app.client.put(&url).bearer_auth(TOKEN).json(&policy).send().await.unwrap().status(), StatusCode::OK);

    let refused = redeem(&app, &link_in(&mail, "/account/email/verify"), None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("cannot be used here"));
    assert_eq!(session_email(&app).await.as_deref(), Some("lou@example.com"));
    app.clear_cookies();
    app.sign_in("lou@example.com").await;
    assert_eq!(app.user_id().await, user, "the account left its address");
}

#[tokio::test]
async fn parallel_requests_are_counted_per_account_before_any_mail() {
    let app = spawn_app_with(&[("RATE_LIMIT_EMAIL_CHANGE_USER", "2/1h")]).await;
    app.sign_in("jo@example.com").await;
    let csrf = app.csrf_token().await;
    let cookies = format!(
        "__Host-csrf={}; __Host-session={}",
        app.cookie("__Host-csrf").unwrap(),
        app.cookie("__Host-session").unwrap()
    );
    let before = app.mail.received().len();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let to = format!("jo{i}@example.org");
            let request = app
                .client
                .post(format!("{}/account/email", app.address))
                .header(COOKIE, &cookies)
                .form(&[("email", to.as_str()), ("csrf", csrf.as_str())]);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 4, "{statuses:?}");
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len() - before, 2);
}

fn admin(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.client.patch(format!("{}/api/v1/admin/users/{path}", app.address)).bearer_auth(TOKEN)
}

#[tokio::test]
async fn an_administrator_changes_an_address_without_a_link_and_both_addresses_are_told() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    app.sign_in("other@example.com").await;
    app.clear_cookies();
    app.sign_in("kim@example.com").await;
    let user = app.user_id().await;

    for (body, status) in [
        (serde_json::json!({}), StatusCode::BAD_REQUEST),
        (serde_json::json!({ "email": 7 }), StatusCode::BAD_REQUEST),
        (serde_json::json!({ "email": "not an address" }), StatusCode::BAD_REQUEST),
        (serde_json::json!({ "email": "other@example.com" }), StatusCode::CONFLICT),
    ] {
        let response = admin(&app, "kim@example.com").json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        assert!(response.text().await.unwrap().contains("email"), "{body}: the answer does not name the field");
    }
    let unknown = admin(&app, "nobody@example.com").json(&serde_json::json!({ "email": "x@example.com" })).send();
    assert_eq!(unknown.await.unwrap().status(), StatusCode::NOT_FOUND);
    let anonymous = app.client.patch(format!("{}/api/v1/admin/users/kim@example.com", app.address));
    let anonymous = anonymous.json(&serde_json::json!({ "email": "x@example.com" })).send().await.unwrap();
    // Without the token: refused as a cross-site change before anything is read.
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "kim@example.com");

    let before = app.mail.received().len();
    let changed = admin(&app, user.as_str()).json(&serde_json::json!({ "email": "kim@example.org" })).send();
    let changed = changed.await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["id"], user.as_str());
    assert_eq!(body["email"], "kim@example.org");
    assert_eq!(app.store().find_user(&lookup_of("kim@example.org")).await.unwrap().unwrap().id, user);
    assert_eq!(app.store().find_user(&lookup_of("kim@example.com")).await.unwrap(), None);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED, "a session kept the old address");
    let old = wait_for_notice(&app, before, NOTICE).await;
    assert_eq!(old.to, ["kim@example.com"]);
    assert!(old.text().contains("An administrator") && !old.text().contains("/account/email/revert"));
    let new = wait_for_notice(&app, before, ADMIN_NEW).await;
    assert_eq!(new.to, ["kim@example.org"]);
    let events = app.store().user_events(&user, 30).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "email_changed" && e.detail == "by api-token"));
    let global = app.store().global_events(None, 50).await.unwrap();
    assert!(global.iter().any(|e| e.kind.name() == "admin_action" && e.detail.contains("change-email")));
}

#[tokio::test]
async fn an_administrators_change_is_told_in_the_language_of_the_latest_sign_in_with_no_undo_and_no_admin_ip() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    let cases = [
        (
            "jan@example.com",
            "de",
            "Die Adresse Ihres Kontos wurde geändert",
            "Dies ist jetzt die Adresse Ihres Kontos",
            "Nur ein Administrator kann diese Änderung rückgängig machen",
        ),
        (
            "aki@example.com",
            "ja",
            "アカウントのアドレスが変更されました",
            "これがアカウントの新しいアドレスです",
            "この変更を元に戻せるのは管理者だけです",
        ),
    ];
    for (email, lang, old_subject, new_subject, undo) in cases {
        app.clear_cookies();
        let token = app.request_token(email).await;
        let csrf = app.csrf_token().await;
        let verify = app.client.post(format!("{}/login/verify", app.address)).header(ACCEPT_LANGUAGE, lang);
        let verify = app.send(verify.form(&[("token", token.as_str()), ("csrf", csrf.as_str())])).await;
        assert_eq!(verify.status(), StatusCode::SEE_OTHER);
        let user = app.user_id().await;
        let before = app.mail.received().len();
        let to = email.replace(".com", ".net");
        let changed = admin(&app, user.as_str()).json(&serde_json::json!({ "email": to })).send().await.unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        let old = wait_for_notice(&app, before, old_subject).await;
        assert_eq!(old.to, [email]);
        let text = old.text();
        assert!(text.contains(undo), "{lang}: {text}");
        // No undo link (only an administrator undoes it) and not the administrator's IP.
        assert!(!text.contains("/account/email/revert") && !text.contains("/account/not-me"), "{text}");
        assert!(!text.contains("127.0.0.1") && !old.html().contains("127.0.0.1"), "{text}");
        let new = wait_for_notice(&app, before, new_subject).await;
        assert_eq!(new.to, [to.as_str()]);
        assert!(!new.text().contains("127.0.0.1") && !new.text().contains("An administrator"), "{}", new.text());
    }
}

#[tokio::test]
async fn the_admin_page_changes_an_address_but_never_to_or_from_an_administrators_without_the_token() {
    let app =
        spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com,deputy@example.com")]).await;
    app.sign_in("lou@example.com").await;
    let member = app.user_id().await;
    app.clear_cookies();
    crate::admin::sign_in_admin(&app).await;
    let boss = app.user_id().await;

    let page = app.get("/admin/users?email=lou%40example.com").await.text().await.unwrap();
    assert!(page.contains("action=\"/admin/users/change-email\"") && page.contains("name=\"new_email\""), "{page}");
    let csrf = hidden_field(&page, "csrf").unwrap();
    let form = |new: &'static str, csrf: String| {
        vec![("csrf", csrf), ("email", "lou@example.com".into()), ("new_email", new.into())]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/admin/users/change-email", &fields).await
        }
    };
    assert_eq!(send(form("lou@example.org", "forged".into())).await.status(), StatusCode::FORBIDDEN);
    let bad = send(form("not an address", csrf.clone())).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("new_email"));
    // Making an account an administrator's takes the token.
    assert_eq!(send(form("deputy@example.com", csrf.clone())).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store().get_user(&member).await.unwrap().unwrap().email.as_str(), "lou@example.com");

    let before = app.mail.received().len();
    let done = send(form("lou@example.org", csrf.clone())).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Address changed"));
    assert_eq!(app.store().get_user(&member).await.unwrap().unwrap().email.as_str(), "lou@example.org");
    assert_eq!(wait_for_notice(&app, before, NOTICE).await.to, ["lou@example.com"]);
    assert_eq!(wait_for_notice(&app, before, ADMIN_NEW).await.to, ["lou@example.org"]);
    let events = app.store().user_events(&member, 30).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "email_changed" && e.detail == format!("by {boss}")));
    // An administrator's own address: not from a session.
    let fields = [("csrf", csrf.as_str()), ("email", "boss@example.com"), ("new_email", "boss@example.org")];
    assert_eq!(app.post_form("/admin/users/change-email", &fields).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store().get_user(&boss).await.unwrap().unwrap().email.as_str(), "boss@example.com");
}

#[tokio::test]
async fn a_link_asked_for_before_an_administrator_changed_the_address_moves_nothing() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    app.sign_in("max@example.com").await;
    let user = app.user_id().await;
    let mail = ask_and_wait(&app, "max@example.org", VERIFY).await;
    let html = app.get(&link_in(&mail, "/account/email/verify")).await.text().await.unwrap();
    let (uid, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let changed = admin(&app, user.as_str()).json(&serde_json::json!({ "email": "max@example.net" })).send();
    assert_eq!(changed.await.unwrap().status(), StatusCode::OK);

    let late = post(&app, "/account/email/verify", &[("user", &uid), ("token", &token)]).await;
    assert_eq!(late.status(), StatusCode::GONE);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "max@example.net");
    assert_eq!(app.store().find_user(&lookup_of("max@example.net")).await.unwrap().unwrap().id, user);
    assert_eq!(app.store().find_user(&lookup_of("max@example.org")).await.unwrap(), None);
}

/// The claims of a JWT, unverified (the test only reads what it says).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap())
        .unwrap()
}

#[tokio::test]
async fn apps_get_the_new_address_in_the_id_token_and_userinfo_after_the_change_and_the_old_tokens_end() {
    use crate::oidc::{WIKI_CB, WIKI_SECRET, code_for, exchange, spawn_provider};
    let (app, _) = spawn_provider().await;
    let tokens = |code: String| {
        let app = &app;
        async move {
            let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WIKI_CB)];
            let (status, tokens) = exchange(app, &form, Some(("wiki", WIKI_SECRET))).await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            tokens
        }
    };
    let before = tokens(code_for(&app, "wiki", WIKI_CB, None).await).await;
    let sub = claims_of(before["id_token"].as_str().unwrap())["sub"].clone();
    assert_eq!(claims_of(before["id_token"].as_str().unwrap())["email"], "attacked@example.com");
    let old_access = before["access_token"].as_str().unwrap().to_owned();
    let userinfo = |access: String| {
        let app = &app;
        async move { app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(access).send().await.unwrap() }
    };
    assert_eq!(userinfo(old_access.clone()).await.status(), StatusCode::OK);

    let mail = ask_and_wait(&app, "moved@example.org", VERIFY).await;
    assert_eq!(redeem(&app, &link_in(&mail, "/account/email/verify"), None).await.status(), StatusCode::OK);
    assert_eq!(userinfo(old_access).await.status(), StatusCode::UNAUTHORIZED, "a token with the old address lives on");

    let after = tokens(code_for(&app, "wiki", WIKI_CB, None).await).await;
    let claims = claims_of(after["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "moved@example.org");
    assert_eq!(claims["sub"], sub, "the account's id changed with its address");
    let info: Value = userinfo(after["access_token"].as_str().unwrap().to_owned()).await.json().await.unwrap();
    assert_eq!(info["email"], "moved@example.org");
    assert_eq!(info["sub"], sub);
}

#[tokio::test]
async fn requests_to_one_new_mailbox_share_its_sign_in_link_budget() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_EMAIL", "2/15m")]).await;
    app.sign_in("pia@example.com").await;
    // Two mails to one mailbox (`+tags` folded), then the budget is spent.
    assert_eq!(ask(&app, "target@example.org").await.status(), StatusCode::OK);
    assert_eq!(ask(&app, "target+again@example.org").await.status(), StatusCode::OK);
    let flooded = ask(&app, "target@example.org").await;
    assert_eq!(flooded.status(), StatusCode::TOO_MANY_REQUESTS);
    app.outbox_settled().await;
    let to_target = app.mail.received().into_iter().filter(|m| m.to.iter().any(|t| t.starts_with("target"))).count();
    assert_eq!(to_target, 2);
    // Another mailbox is not limited by it.
    assert_eq!(ask(&app, "other@example.org").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_code_guesses_get_no_more_checks_than_the_limit() {
    let app = spawn_app().await;
    app.sign_in("joe@example.com").await;
    let user = app.user_id().await;
    let mail = ask_and_wait(&app, "joe@example.net", VERIFY).await;
    let code = crate::helpers::code_from(&mail);
    let link = link_in(&mail, "/account/email/verify");

    // Another browser (no binding cookie) sends twelve wrong codes at once.
    app.clear_cookies();
    let html = app.get(&link).await.text().await.unwrap();
    let (uid, token) = (hidden_field(&html, "user").unwrap(), hidden_field(&html, "token").unwrap());
    let csrf = app.csrf_token().await;
    let cookies = format!("__Host-csrf={}", app.cookie("__Host-csrf").unwrap());
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let form =
                [("user", uid.as_str()), ("token", token.as_str()), ("csrf", csrf.as_str()), ("code", "AAAA-AAAA")];
            let request =
                app.client.post(format!("{}/account/email/verify", app.address)).header(COOKIE, &cookies).form(&form);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    // At most five guesses were checked (told "wrong"); the others found the change gone.
    let checked = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count();
    assert!(checked <= 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::BAD_REQUEST || *s == StatusCode::GONE), "{statuses:?}");
    // The change is gone: the right code no longer works.
    let form = [("user", uid.as_str()), ("token", token.as_str()), ("code", code.as_str())];
    assert_eq!(post(&app, "/account/email/verify", &form).await.status(), StatusCode::GONE);
    assert_eq!(app.store().get_user(&user).await.unwrap().unwrap().email.as_str(), "joe@example.com");
}
