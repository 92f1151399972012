//! Managing passkeys over HTTP: names (from the browser, renamed), what the account page and
//! the admin see, an administrator removing them (the owner told), the events of their use,
//! passkeys at a forced enrollment, and the policy that makes administrators use one.

use latchkey::store::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, USER_AGENT};
use serde_json::{Value, json};

use crate::factor_changes::{clients_file, wait_for_notice, wait_for_webhook};
use crate::helpers::{TestApp, spawn_app_with};
use crate::passkeys::{PASSKEYS_ON, RP_ID, SoftPasskey, add_passkey, b64, start_options, step_options};
use crate::second_factor::{code, link_step, post, recovery_codes, shown_secret};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
const CHROME_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHANGED: &str = "The way you sign in has changed";

/// `POST path` with the page's CSRF token and `user_agent`.
async fn post_as(app: &TestApp, user_agent: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    app.send(app.client.post(format!("{}{path}", app.address)).header(USER_AGENT, user_agent).form(&form)).await
}

async fn admin_api(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::Response {
    app.send(app.client.request(method, format!("{}/api/v1/admin{path}", app.address)).bearer_auth(TOKEN)).await
}

/// Waits for a notice of a change mailed to `to` after the first `skip` mails.
async fn notice_to(app: &TestApp, skip: usize, to: &str) -> crate::helpers::ReceivedMail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mails = app.mail.received().into_iter().skip(skip);
        if let Some(mail) = mails.into_iter().find(|m| m.subject() == CHANGED && m.to == vec![to.to_owned()]) {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no notice to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits for a `user.second_factor_changed` webhook with `change`.
async fn factor_webhook(receiver: &wiremock::MockServer, change: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = receiver.received_requests().await.unwrap_or_default();
        let mut events = got.iter().map(|r| serde_json::from_slice::<Value>(&r.body).unwrap());
        if events.any(|e| e["type"] == "user.second_factor_changed" && e["data"]["change"] == change) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no {change} webhook");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_passkey_is_named_after_its_browser_shown_with_its_flags_and_renamed() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    app.sign_in("names@example.com").await;
    let synced = SoftPasskey::synced();
    let options = start_options(&app, "/account/passkeys/register/start").await;
    let credential = synced.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    let added = post_as(&app, CHROME_LINUX, "/account/passkeys/register/finish", &[("credential", &credential)]).await;
    assert_eq!(added.status(), StatusCode::OK);
    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains("Chrome on Linux"), "not named after the browser: {account}");
    assert!(account.contains("can sync to your other devices, backed up"), "flags not shown: {account}");
    assert!(account.contains(r#"action="/account/passkeys/rename""#));

    let id = b64(&synced.id);
    let renamed = post(&app, "/account/passkeys/rename", &[("id", &id), ("name", "  Phone  ")]).await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    let user = app.user_id().await;
    assert_eq!(app.store().get_factors(&user).await.unwrap().passkeys[0].name, "Phone");
    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains(r#"value="Phone""#) && !account.contains(r#"value="Chrome on Linux""#), "{account}");

    // A name is plain text on one line, not empty, at most 64 characters; a wrong id is named.
    let long = "x".repeat(65);
    for (field, name, bad_id) in
        [("name", long.as_str(), false), ("name", "two\nlines", false), ("name", "   ", false), ("id", "Laptop", true)]
    {
        let which = if bad_id { "not-a-passkey" } else { id.as_str() };
        let refused = post(&app, "/account/passkeys/rename", &[("id", which), ("name", name)]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert!(refused.text().await.unwrap().contains(&format!("{field}:")), "{name:?} not named");
    }
    assert_eq!(app.store().get_factors(&user).await.unwrap().passkeys[0].name, "Phone");

    // A browser the guess does not know: "Passkey 1"; a device-bound key says so.
    app.clear_cookies();
    app.sign_in("plain@example.com").await;
    let bound = SoftPasskey::new();
    let options = start_options(&app, "/account/passkeys/register/start").await;
    let credential = bound.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    assert_eq!(
        post(&app, "/account/passkeys/register/finish", &[("credential", &credential)]).await.status(),
        StatusCode::OK
    );
    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains("Passkey 1") && account.contains("stays on one device"), "{account}");
}

#[tokio::test]
async fn an_admin_sees_and_removes_a_users_passkeys_and_the_owner_and_apps_are_told() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let clients = clients_file(&receiver);
    let app = spawn_app_with(&[
        ("SECOND_FACTOR_METHODS", "totp,passkey"),
        ("ADMIN_API_TOKEN", TOKEN),
        ("ADMIN_EMAILS", "boss@example.com"),
        ("CLIENTS_FILE", &clients),
    ])
    .await;
    let mut first = SoftPasskey::new();
    add_passkey(&app, "owner@example.com", &first).await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "hooked").await.unwrap();

    // Used at the second step: audited, and the user's apps hear of it.
    let options = step_options(&app, "owner@example.com").await;
    assert_eq!(post(&app, "/login/2fa", &[("credential", &first.get(&options))]).await.status(), StatusCode::SEE_OTHER);
    let used = wait_for_webhook(&receiver, "user.passkey_used").await;
    assert_eq!(used["data"], json!({ "sub": user.as_str(), "method": "hwk" }));
    let events = app.store().user_events(&user, 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "second_factor_passed" && e.detail == "hwk"), "{events:?}");

    // A second passkey, from the fresh session.
    let second = SoftPasskey::synced();
    let options = start_options(&app, "/account/passkeys/register/start").await;
    let credential = second.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    let added =
        post(&app, "/account/passkeys/register/finish", &[("credential", &credential), ("name", "Tablet")]).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);

    // The admin API lists them, without their credentials.
    let report = admin_api(&app, reqwest::Method::GET, "/users/owner@example.com").await;
    assert_eq!(report.status(), StatusCode::OK);
    let report: Value = report.json().await.unwrap();
    let listed = report["second_factor"]["passkeys"].as_array().expect("no passkeys in the report");
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0]["name"].as_str(), listed[0]["id"].as_str()), (Some("Work laptop"), Some(&*b64(&first.id))));
    assert!(listed[0]["last_used_at"].is_string() && listed[1]["last_used_at"].is_null());
    assert_eq!((listed[1]["backup_eligible"].as_bool(), listed[1]["backed_up"].as_bool()), (Some(true), Some(true)));
    assert!(!report.to_string().contains("sealed"), "the report carries the credential: {report}");

    // The admin page lists them and removes one; the owner is mailed, the change audited and
    // sent to the owner's apps.
    app.clear_cookies();
    crate::admin::sign_in_admin(&app).await;
    let page = app.get("/admin/users?email=owner%40example.com").await.text().await.unwrap();
    assert!(page.contains("Work laptop") && page.contains("Tablet"), "{page}");
    assert!(page.contains(r#"action="/admin/users/remove-passkey""#), "{page}");
    let csrf = crate::helpers::hidden_field(&page, "csrf").unwrap();
    let before = app.mail.received().len();
    let form = [("csrf", csrf.as_str()), ("email", "owner@example.com"), ("id", &b64(&first.id))];
    let removed = app.post_form("/admin/users/remove-passkey", &form).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert!(removed.text().await.unwrap().contains("1 passkey removed."));
    let left = app.store().get_factors(&user).await.unwrap().passkeys;
    assert_eq!(left.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["Tablet"]);
    let notice = notice_to(&app, before, "owner@example.com").await;
    assert!(notice.text().contains("A passkey was removed"), "{}", notice.text());
    factor_webhook(&receiver, "passkey_removed").await;
    let events = app.store().user_events(&user, 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind.name() == "factor_changed" && e.detail == "passkey_removed"));
    assert!(events.iter().any(|e| e.kind.name() == "admin_action" && e.detail.starts_with("remove-passkey by ")));

    // The API: an unknown id is a 404; "all" removes the rest, and the recovery codes with them.
    let unknown = admin_api(&app, reqwest::Method::DELETE, "/users/owner@example.com/passkeys/nope").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let before = app.mail.received().len();
    let all = admin_api(&app, reqwest::Method::DELETE, "/users/owner@example.com/passkeys").await;
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(all.json::<Value>().await.unwrap(), json!({ "removed": 1 }));
    assert!(app.store().get_factors(&user).await.unwrap().passkeys.is_empty());
    assert_eq!(app.store().recovery_codes_left(&user).await.unwrap(), 0);
    notice_to(&app, before, "owner@example.com").await;
    let none = admin_api(&app, reqwest::Method::DELETE, "/users/nobody@example.com/passkeys").await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);

    // An administrator's passkeys go only with the API token, not from an admin's session.
    let page = app.get("/admin/users?email=boss%40example.com").await.text().await.unwrap();
    let csrf = crate::helpers::hidden_field(&page, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("email", "boss@example.com")];
    assert_eq!(app.post_form("/admin/users/remove-passkeys", &form).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_passkey_an_administrator_removes_stays_removed_whatever_its_owner_writes_at_the_same_time() {
    let app = spawn_app_with(&[("SECOND_FACTOR_METHODS", "totp,passkey"), ("ADMIN_API_TOKEN", TOKEN)]).await;
    for round in 0..4 {
        let email = format!("renamer-{round}@example.com");
        let passkey = SoftPasskey::new();
        app.clear_cookies();
        add_passkey(&app, &email, &passkey).await;
        let user = app.user_id().await;
        let (id, csrf) = (b64(&passkey.id), app.csrf_token().await);
        let cookies = app.cookie_header().unwrap();
        // Forty-eight renames by the owner and the administrator's removal, at once: each rename
        // reads the passkeys and writes them back. A rename may give way (503); the removal
        // may not.
        let mut requests: Vec<reqwest::RequestBuilder> = (0..48)
            .map(|i| {
                let form = [("csrf", csrf.clone()), ("id", id.clone()), ("name", format!("Laptop {i}"))];
                let url = format!("{}/account/passkeys/rename", app.address);
                app.client.post(url).header(reqwest::header::COOKIE, &cookies).form(&form)
            })
            .collect();
        let removal = format!("{}/api/v1/admin/users/{email}/passkeys", app.address);
        requests.insert(8, app.client.delete(removal).bearer_auth(TOKEN));
        let statuses = crate::helpers::statuses_at_once(requests).await;
        assert_eq!(statuses[8], StatusCode::OK, "round {round}: {statuses:?}");
        let left = app.store().get_factors(&user).await.unwrap().passkeys;
        assert!(left.is_empty(), "round {round}: a removed passkey came back: {left:?} after {statuses:?}");
        notice_to(&app, 0, &email).await;
    }
}

#[tokio::test]
async fn a_passkey_removed_while_its_second_step_waits_does_not_pass_it_nor_come_back() {
    let app = spawn_app_with(&[("SECOND_FACTOR_METHODS", "totp,passkey"), ("ADMIN_API_TOKEN", TOKEN)]).await;
    let mut passkey = SoftPasskey::new();
    add_passkey(&app, "removed-midway@example.com", &passkey).await;
    let user = app.user_id().await;
    let options = step_options(&app, "removed-midway@example.com").await;
    let removal = admin_api(&app, reqwest::Method::DELETE, "/users/removed-midway@example.com/passkeys").await;
    assert_eq!(removal.status(), StatusCode::OK);
    // The browser answers the ceremony it was given before the removal.
    let answer = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "a removed passkey signed in");
    assert!(app.store().get_factors(&user).await.unwrap().passkeys.is_empty(), "the removed passkey came back");
}

#[tokio::test]
async fn a_forced_enrollment_offers_a_passkey_and_the_passkey_passes_the_next_step() {
    let app = spawn_app_with(&[("SECOND_FACTOR", "required"), ("SECOND_FACTOR_METHODS", "totp,passkey")]).await;
    let response = link_step(&app, "forced@example.com").await;
    assert_eq!(response.headers()[LOCATION], "/login/2fa");
    let page = app.get("/login/2fa").await.text().await.unwrap();
    assert!(page.contains("<svg"), "the authenticator app is no longer offered");
    assert!(page.contains(r#"data-passkey-start="/login/2fa/enroll/passkey/start""#), "no passkey offered: {page}");
    assert!(page.contains("Or set up a passkey instead"));
    assert!(page.contains(r#"<script src="/static/passkey.js" defer></script>"#));

    let mut passkey = SoftPasskey::new();
    let options = start_options(&app, "/login/2fa/enroll/passkey/start").await;
    // An answer for another site spends a try and adds nothing.
    let phished = passkey.create(&options, "https://evil.example", RP_ID);
    let refused = post(&app, "/login/2fa/enroll/passkey", &[("credential", &phished)]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none());
    let options = start_options(&app, "/login/2fa/enroll/passkey/start").await;
    let before = app.mail.received().len();
    let credential = passkey.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    let enrolled = post(&app, "/login/2fa/enroll/passkey", &[("credential", &credential)]).await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    assert_eq!(recovery_codes(&enrolled.text().await.unwrap()).len(), 10);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], json!(["email", "hwk", "mfa"]));
    let notice = wait_for_notice(&app, before, CHANGED).await;
    assert!(notice.text().contains("A passkey was added"), "{}", notice.text());
    // The step is used up: no second enrollment from it.
    assert_eq!(post(&app, "/login/2fa/enroll/passkey/start", &[]).await.status(), StatusCode::GONE);

    // Signed out and in again: the passkey passes the second step; no enrollment is offered.
    let options = step_options(&app, "forced@example.com").await;
    assert!(!app.get("/login/2fa").await.text().await.unwrap().contains("/login/2fa/enroll/passkey"));
    assert_eq!(post(&app, "/login/2fa/enroll/passkey/start", &[]).await.status(), StatusCode::GONE);
    let response = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], json!(["email", "hwk", "mfa"]));
}

#[tokio::test]
async fn administrators_under_the_phishing_resistant_policy_pass_only_with_a_passkey() {
    let app = spawn_app_with(&[
        ("SECOND_FACTOR_METHODS", "totp,passkey"),
        ("ADMIN_EMAILS", "boss@example.com"),
        ("ADMIN_API_TOKEN", TOKEN),
        ("ADMIN_PHISHING_RESISTANT", "true"),
    ])
    .await;
    // An administrator without a factor: only a passkey is offered to set up.
    link_step(&app, "boss@example.com").await;
    let page = app.get("/login/2fa").await.text().await.unwrap();
    assert!(!page.contains("<svg") && !page.contains(r#"class="secret""#), "an app offered to an admin: {page}");
    assert!(page.contains("Administrator accounts sign in here with a passkey"), "{page}");
    assert!(page.contains("/login/2fa/enroll/passkey/start"));
    let refused = post(&app, "/login/2fa/enroll", &[("code", "123456")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let mut passkey = SoftPasskey::new();
    let options = start_options(&app, "/login/2fa/enroll/passkey/start").await;
    let credential = passkey.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    let enrolled = post(&app, "/login/2fa/enroll/passkey", &[("credential", &credential)]).await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    let codes = recovery_codes(&enrolled.text().await.unwrap());

    // An authenticator app added later does not pass the step, nor does a recovery code.
    let html = post(&app, "/account/totp/enroll", &[]).await.text().await.unwrap();
    let secret = shown_secret(&html);
    assert_eq!(
        post(&app, "/account/totp/confirm", &[("code", &code(&app, &secret, 0))]).await.status(),
        StatusCode::OK
    );
    let options = step_options(&app, "boss@example.com").await;
    let page = app.get("/login/2fa").await.text().await.unwrap();
    assert!(!page.contains(r#"id="code""#) && !page.contains(r#"id="recovery_code""#), "codes offered: {page}");
    assert!(page.contains("Administrator accounts sign in here with a passkey"));
    app.clock.advance(chrono::Duration::seconds(30));
    for field in [("code", code(&app, &secret, 0)), ("recovery_code", codes[0].clone())] {
        let response = post(&app, "/login/2fa", &[(field.0, &field.1)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{}", field.0);
        assert!(response.text().await.unwrap().contains("Codes are not accepted for this sign-in"));
        assert!(app.cookie("__Host-session").is_none(), "an admin signed in with a {}", field.0);
    }
    let response = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/admin/policy").await.status(), StatusCode::OK);
    assert_eq!(app.get("/admin").await.status(), StatusCode::OK);

    // An administrator's session that began with a code while the knob was off loses its
    // admin access when the knob is turned on.
    let url = format!("{}/api/v1/admin/policy", app.address);
    let mut policy: Value = admin_api(&app, reqwest::Method::GET, "/policy").await.json().await.unwrap();
    policy["admin_phishing_resistant"] = false.into();
    let off = app.send(app.client.put(&url).bearer_auth(TOKEN).json(&policy)).await;
    assert_eq!(off.status(), StatusCode::OK);
    link_step(&app, "boss@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/admin").await.status(), StatusCode::OK);
    let mut policy: Value = admin_api(&app, reqwest::Method::GET, "/policy").await.json().await.unwrap();
    policy["admin_phishing_resistant"] = true.into();
    let on = app.send(app.client.put(&url).bearer_auth(TOKEN).json(&policy)).await;
    assert_eq!(on.status(), StatusCode::OK);
    assert_eq!(app.get("/admin").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/admin/policy").await.status(), StatusCode::FORBIDDEN);

    // Other people still use their codes.
    let (secret, _) = crate::second_factor::enroll(&app, "staff@example.com").await;
    link_step(&app, "staff@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::SEE_OTHER);

    // The knob needs passkeys among the methods.
    let mut policy: Value = admin_api(&app, reqwest::Method::GET, "/policy").await.json().await.unwrap();
    assert_eq!(policy["admin_phishing_resistant"], true);
    policy["methods"]["passkey"] = false.into();
    let response = app.send(app.client.put(url).bearer_auth(TOKEN).json(&policy)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["fields"]["admin_phishing_resistant"].is_string(), "{body}");
}

const VAULT_CB: &str = "http://127.0.0.1:9999/cb";

/// A clients file with `vault`, an app that requires a phishing-resistant factor.
fn vault_clients() -> String {
    let clients = format!(
        "[[client]]\nclient_id = \"vault\"\nredirect_uris = [\"{VAULT_CB}\"]\ntype = \"public\"\nrequire_second_factor = true\nrequire_phishing_resistant = true\n"
    );
    let name = format!("latchkey-vault-clients-{}.toml", latchkey::crypto::random_token::<9>().unwrap());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, clients).unwrap();
    path.to_string_lossy().into_owned()
}

fn vault_authorize(extra: &str) -> String {
    let redirect: String = url::form_urlencoded::byte_serialize(VAULT_CB.as_bytes()).collect();
    format!(
        "/oauth2/authorize?response_type=code&client_id=vault&redirect_uri={redirect}&scope=openid&state=z&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256{extra}"
    )
}

#[tokio::test]
async fn an_app_requiring_a_phishing_resistant_factor_steps_a_code_session_up_with_a_passkey() {
    let app = spawn_app_with(&[("SECOND_FACTOR_METHODS", "totp,passkey"), ("CLIENTS_FILE", &vault_clients())]).await;
    let (secret, _) = crate::second_factor::enroll(&app, "vault@example.com").await;
    // A passkey besides the app, from a session that just confirmed a factor.
    app.clock.advance(chrono::Duration::seconds(30));
    let confirmed = post(&app, "/account/confirm-factor", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let mut passkey = SoftPasskey::new();
    let options = start_options(&app, "/account/passkeys/register/start").await;
    let credential = passkey.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    assert_eq!(
        post(&app, "/account/passkeys/register/finish", &[("credential", &credential)]).await.status(),
        StatusCode::SEE_OTHER
    );

    // Signed in with the authenticator app: not enough for this app; a step-up with the passkey.
    link_step(&app, "vault@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await.status(), StatusCode::SEE_OTHER);
    let none = app.get(&vault_authorize("&prompt=none")).await;
    let to = crate::oidc::location(&none);
    assert!(to.starts_with(VAULT_CB) && to.contains("error=interaction_required"), "{to}");
    let response = app.get(&vault_authorize("")).await;
    assert_eq!(crate::oidc::location(&response), "/login/2fa");
    let page = app.get("/login/2fa").await.text().await.unwrap();
    assert!(page.contains("This app asks for a passkey"), "{page}");
    assert!(!page.contains(r#"id="code""#) && !page.contains(r#"id="recovery_code""#), "codes offered: {page}");
    app.clock.advance(chrono::Duration::seconds(30));
    let refused = post(&app, "/login/2fa", &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let options = start_options(&app, "/login/2fa/passkey/start").await;
    let response = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = crate::oidc::location(&response);
    assert!(back.starts_with("/oauth2/authorize?") && back.contains("client_id=vault"), "{back}");
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], json!(["email", "hwk", "mfa"]));
    let to = crate::oidc::location(&app.get(&back).await);
    assert!(to.starts_with(VAULT_CB) && to.contains("code="), "no code after the step-up: {to}");

    // Someone without a passkey is told what to do instead of being offered codes.
    let (other, _) = crate::second_factor::enroll(&app, "nopasskey@example.com").await;
    link_step(&app, "nopasskey@example.com").await;
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(post(&app, "/login/2fa", &[("code", &code(&app, &other, 0))]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::oidc::location(&app.get(&vault_authorize("")).await), "/login/2fa");
    let page = app.get("/login/2fa").await.text().await.unwrap();
    assert!(page.contains("This sign-in needs a passkey, and your account has none"), "{page}");
    assert!(!page.contains(r#"id="code""#) && !page.contains("data-passkey-start"), "{page}");
}

#[tokio::test]
async fn parallel_answers_to_one_forced_passkey_enrollment_add_one_passkey_and_one_session() {
    // Four answers (within the step's five tries) to one challenge: the ceremony is taken once.
    let app = spawn_app_with(&[("SECOND_FACTOR", "required"), ("SECOND_FACTOR_METHODS", "totp,passkey")]).await;
    link_step(&app, "race@example.com").await;
    let passkey = SoftPasskey::new();
    let options = start_options(&app, "/login/2fa/enroll/passkey/start").await;
    let credential = passkey.create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    let csrf = app.csrf_token().await;
    let cookies = ["__Host-csrf", "__Host-pending"]
        .iter()
        .filter_map(|name| app.cookie(name).map(|value| format!("{name}={value}")))
        .collect::<Vec<_>>()
        .join("; ");
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let form = [("csrf", csrf.clone()), ("credential", credential.clone())];
            let request = app
                .client
                .post(format!("{}/login/2fa/enroll/passkey", app.address))
                .header(reqwest::header::COOKIE, cookies.clone())
                .form(&form);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut session = None;
    for task in tasks {
        let response = task.await.unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::OK {
            session = crate::helpers::set_cookies(&response).into_iter().find(|c| c.starts_with("__Host-session="));
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    let session = session.expect("no session cookie from the enrollment");
    let value = session["__Host-session=".len()..].split(';').next().unwrap();
    app.set_cookie("__Host-session", value);
    let user = app.user_id().await;
    assert_eq!(app.store().get_factors(&user).await.unwrap().passkeys.len(), 1);
    let sessions = app.store().list_sessions(&user).await.unwrap();
    assert_eq!(sessions.len(), 1, "one enrollment, one session");

    // More answers than the step has tries: the step may end before any is kept, but a passkey
    // is kept only with a session (and its notice), never alone.
    app.clear_cookies();
    link_step(&app, "race2@example.com").await;
    let options = start_options(&app, "/login/2fa/enroll/passkey/start").await;
    let credential = SoftPasskey::new().create(&options, crate::helpers::PUBLIC_URL, RP_ID);
    let csrf = app.csrf_token().await;
    let cookies = ["__Host-csrf", "__Host-pending"]
        .iter()
        .filter_map(|name| app.cookie(name).map(|value| format!("{name}={value}")))
        .collect::<Vec<_>>()
        .join("; ");
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let form = [("csrf", csrf.clone()), ("credential", credential.clone())];
            let request = app
                .client
                .post(format!("{}/login/2fa/enroll/passkey", app.address))
                .header(reqwest::header::COOKIE, cookies.clone())
                .form(&form);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut sessions = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        if response.status() == StatusCode::OK {
            sessions.extend(
                crate::helpers::set_cookies(&response).into_iter().filter(|c| c.starts_with("__Host-session=")),
            );
        }
    }
    assert!(sessions.len() <= 1, "{} enrollments from one step", sessions.len());
    match sessions.first() {
        Some(session) => {
            let value = session["__Host-session=".len()..].split(';').next().unwrap();
            app.set_cookie("__Host-session", value);
            let user = app.user_id().await;
            assert_eq!(app.store().get_factors(&user).await.unwrap().passkeys.len(), 1);
        }
        None => {
            // No session: no passkey kept either, so the next sign-in must set one up again.
            link_step(&app, "race2@example.com").await;
            let page = app.get("/login/2fa").await.text().await.unwrap();
            assert!(page.contains("/login/2fa/enroll/passkey/start"), "a passkey was kept without a session");
        }
    }
}

#[tokio::test]
async fn a_step_that_takes_only_a_passkey_texts_no_code() {
    use crate::second_factor_sms::{add_phone, app_with, code_in, ok_provider, wait_sent};
    let server = ok_provider().await;
    let clients = vault_clients();
    let app = app_with(&server, &[("SECOND_FACTOR_METHODS", "totp,sms,passkey"), ("CLIENTS_FILE", &clients)]).await;
    add_phone(&app, &server, "texted@example.com").await;
    // Signed in with a texted code; the app that requires a passkey steps the session up.
    link_step(&app, "texted@example.com").await;
    let before = server.received_requests().await.unwrap_or_default().len();
    assert_eq!(post(&app, "/login/2fa/sms", &[]).await.status(), StatusCode::OK);
    let texted = code_in(wait_sent(&server, before + 1).await.last().unwrap());
    assert_eq!(post(&app, "/login/2fa", &[("sms_code", &texted)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::oidc::location(&app.get(&vault_authorize("")).await), "/login/2fa");
    let page = app.get("/login/2fa").await.text().await.unwrap();
    assert!(!page.contains(r#"action="/login/2fa/sms""#), "a text offered at a passkey-only step: {page}");
    let asked = post(&app, "/login/2fa/sms", &[]).await;
    assert_eq!(asked.status(), StatusCode::FORBIDDEN);
    assert!(asked.text().await.unwrap().contains("Codes are not accepted for this sign-in"));
    app.outbox_settled().await;
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), before + 1, "a code was texted");
}
