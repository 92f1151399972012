//! Signing in with a passkey at `/login` (discoverable credentials), with the software
//! authenticator of `passkeys.rs` answering as a resident key would (its user handle in the
//! answer): no mail, a session with `hwk`/`swk` and `mfa`, and what must be refused — a
//! replayed challenge, another origin or RP ID, another account's key under this account's
//! handle, a counter going back, a ceremony from another browser or past its five minutes, a
//! blocked account, an answer without user verification, a store that cannot vouch for itself.

use latchkey::store::prelude::*;
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Signer;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{PUBLIC_URL, TestApp, set_cookies, spawn_app_with};
use crate::passkeys::{PASSKEYS_ON, RP_ID, SoftPasskey, b64, start_options};
use crate::second_factor::post;

const REFUSED: &str = "That passkey did not sign you in.";

/// Signs `email` in by link and adds `passkey` from the account page; returns the WebAuthn
/// user handle the authenticator keeps (base64url), as a resident key does.
async fn register(app: &TestApp, email: &str, passkey: &SoftPasskey) -> String {
    app.clear_cookies();
    app.sign_in(email).await;
    let options = start_options(app, "/account/passkeys/register/start").await;
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "preferred",
        "registration does not ask for a discoverable credential"
    );
    let credential = passkey.create(&options, PUBLIC_URL, RP_ID);
    let response = post(app, "/account/passkeys/register/finish", &[("credential", &credential)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    options["publicKey"]["user"]["id"].as_str().unwrap().to_owned()
}

/// Signs out (the browser keeps its other cookies).
async fn sign_out(app: &TestApp) {
    assert_eq!(post(app, "/logout", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(app.cookie("__Host-session").is_none());
}

/// How the authenticator answers.
struct Answer<'a> {
    origin: &'a str,
    rp_id: &'a str,
    counter: u32,
    /// The UV flag.
    verified: bool,
}

impl Default for Answer<'_> {
    fn default() -> Self {
        Self { origin: PUBLIC_URL, rp_id: RP_ID, counter: 1, verified: true }
    }
}

/// A discoverable credential's answer to `options`: signed by `passkey`, naming `handle`.
fn answer(passkey: &SoftPasskey, options: &Value, handle: &str, how: Answer<'_>) -> String {
    let challenge = options["publicKey"]["challenge"].as_str().unwrap();
    let client_data =
        json!({"type": "webauthn.get", "challenge": challenge, "origin": how.origin, "crossOrigin": false})
            .to_string()
            .into_bytes();
    let mut auth_data = Sha256::digest(how.rp_id.as_bytes()).to_vec();
    // UP, UV when verified, BE and BS for a synced key.
    let backed_up = if passkey.synced { 0x18 } else { 0 };
    auth_data.push(if how.verified { 0x05 } else { 0x01 } | backed_up);
    auth_data.extend(how.counter.to_be_bytes());
    let signed = [auth_data.as_slice(), Sha256::digest(&client_data).as_slice()].concat();
    let signature: DerSignature = passkey.key.sign(&signed);
    json!({
        "id": b64(&passkey.id),
        "rawId": b64(&passkey.id),
        "type": "public-key",
        "extensions": {},
        "response": {
            "authenticatorData": b64(&auth_data),
            "clientDataJSON": b64(&client_data),
            "signature": b64(signature.as_bytes()),
            "userHandle": handle,
        },
    })
    .to_string()
}

/// `POST /login/passkey/start` from the login page (the button's request).
async fn begin(app: &TestApp) -> Value {
    start_options(app, "/login/passkey/start").await
}

async fn finish(app: &TestApp, credential: &str) -> reqwest::Response {
    post(app, "/login/passkey", &[("credential", credential)]).await
}

/// The passkey ceremonies waiting in the store.
async fn ceremonies(app: &TestApp) -> Vec<String> {
    let keys = app.dump_redis().await.into_iter().map(|(key, _)| key);
    keys.filter(|key| key.ends_with(":passkey-ceremony")).collect()
}

async fn events(app: &TestApp, kind: &str) -> Vec<latchkey::domain::AuditEvent> {
    let events = app.store().global_events(None, 100).await.unwrap();
    events.into_iter().filter(|e| e.kind.name() == kind).collect()
}

#[tokio::test]
async fn a_passkey_signs_in_at_login_without_a_mail() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "return@example.com", &passkey).await;
    let user = app.user_id().await;
    sign_out(&app).await;
    app.outbox_settled().await;
    let mails = app.mail.received().len();

    let page = app.get("/login").await.text().await.unwrap();
    assert!(page.contains(r#"action="/login/passkey""#) && page.contains("Sign in with a passkey"), "{page}");
    assert!(page.contains(r#"autocomplete="email webauthn""#), "no conditional UI on the address field");
    assert!(page.contains(r#"<script src="/static/passkey.js" defer></script>"#));
    let started = post(&app, "/login/passkey/start", &[]).await;
    assert_eq!(started.status(), StatusCode::OK);
    let cookie = set_cookies(&started).into_iter().find(|c| c.starts_with("__Host-passkey=")).expect("no cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(cookie.contains(attr), "the passkey cookie lacks {attr}: {cookie}");
    }
    let options: Value = started.json().await.unwrap();
    assert_eq!(options["publicKey"]["rpId"], RP_ID);
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty), "{options}");
    assert!(options.get("mediation").is_none(), "the button's request waits for autofill: {options}");

    let response = finish(&app, &answer(&passkey, &options, &handle, Answer::default())).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/account");
    let removed = set_cookies(&response).iter().any(|c| c.starts_with("__Host-passkey=") && c.contains("Max-Age=0"));
    assert!(removed, "the used ceremony's cookie stays");
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["amr"], json!(["hwk", "mfa"]), "a passkey with user verification is two factors");
    let used = events(&app, "passkey_used").await;
    assert!(used.iter().any(|e| e.detail == "sign_in" && e.user.as_ref() == Some(&user)), "{used:?}");

    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), mails, "a passkey sign-in sent mail");
    let stored = app.store().get_factors(&user).await.unwrap();
    assert!(stored.passkeys[0].last_used_at.is_some());
}

#[tokio::test]
async fn the_apps_a_person_signed_in_to_hear_of_a_passkey_sign_in() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let clients = crate::factor_changes::clients_file(&receiver);
    let mut vars = PASSKEYS_ON.to_vec();
    vars.push(("CLIENTS_FILE", &clients));
    let app = spawn_app_with(&vars).await;
    let passkey = SoftPasskey::synced();
    let handle = register(&app, "hooked-login@example.com", &passkey).await;
    let user = app.user_id().await;
    app.store().add_user_app(&user, "hooked").await.unwrap();
    sign_out(&app).await;
    let options = begin(&app).await;
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer::default())).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let event = crate::factor_changes::wait_for_webhook(&receiver, "user.passkey_used").await;
    assert_eq!(event["data"], json!({"sub": user.as_str(), "method": "swk"}));
}

#[tokio::test]
async fn the_address_field_offers_passkeys_in_autofill_and_the_sign_in_resumes_an_authorization() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::synced();
    let handle = register(&app, "oidc-return@example.com", &passkey).await;
    sign_out(&app).await;
    let back = "/oauth2/authorize?client_id=some-app&state=xyz";
    let page = app.get(&format!("/login?return_to={}&second_factor=required", crate::oidc::urlenc(back))).await;
    let page = page.text().await.unwrap();
    let form = &page[page.find(r#"action="/login/passkey""#).unwrap()..];
    assert!(form.contains(r#"name="return_to" value="/oauth2/authorize?client_id=some-app&#38;state=xyz""#), "{form}");

    let autofill = post(&app, "/login/passkey/start", &[("conditional", "true")]).await;
    let options: Value = autofill.json().await.unwrap();
    assert_eq!(options["mediation"], "conditional");
    let credential = answer(&passkey, &options, &handle, Answer::default());
    let response = post(&app, "/login/passkey", &[("credential", &credential), ("return_to", back)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], back);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], json!(["swk", "mfa"]));
}

#[tokio::test]
async fn an_app_that_requires_a_second_factor_gets_its_code_after_a_passkey_sign_in() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    crate::oidc::register_in_store(&app, "payroll", true, None).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "payroll-clerk@example.com", &passkey).await;
    sign_out(&app).await;
    let to = crate::oidc::location(&app.get(&crate::oidc::authorize_path("payroll")).await);
    assert!(to.starts_with("/login?") && to.contains("second_factor=required"), "{to}");
    let page = app.get(&to).await.text().await.unwrap();
    let form = &page[page.find(r#"action="/login/passkey""#).expect("no passkey form on the app's sign-in")..];
    let return_to = crate::helpers::hidden_field(form, "return_to").expect("the passkey form lost return_to");
    assert_eq!(crate::helpers::hidden_field(form, "second_factor").as_deref(), Some("required"));

    let options = begin(&app).await;
    let credential = answer(&passkey, &options, &handle, Answer::default());
    let response = post(
        &app,
        "/login/passkey",
        &[("credential", &credential), ("return_to", &return_to), ("second_factor", "required")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let next = crate::oidc::location(&response);
    assert!(next.starts_with("/oauth2/authorize?"), "after the passkey went to {next}");
    // No second step: user verification made the passkey both factors, which the app accepts.
    let callback = url::Url::parse(&crate::oidc::location(&app.get(&next).await)).unwrap();
    assert!(callback.as_str().starts_with(crate::oidc::SPA_CB), "{callback}");
    assert!(crate::oidc::param(&callback, "code").is_some(), "no code after a passkey sign-in: {callback}");
}

#[tokio::test]
async fn a_passkey_sign_in_challenge_is_answered_once() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "replay-login@example.com", &passkey).await;
    sign_out(&app).await;
    let options = begin(&app).await;
    let browser = app.cookie("__Host-passkey").unwrap();
    let first = answer(&passkey, &options, &handle, Answer { counter: 3, ..Answer::default() });
    let again = answer(&passkey, &options, &handle, Answer { counter: 4, ..Answer::default() });
    assert_eq!(finish(&app, &first).await.status(), StatusCode::SEE_OTHER);
    sign_out(&app).await;
    app.set_cookie("__Host-passkey", &browser);
    let response = finish(&app, &again).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains(REFUSED));
    assert!(app.cookie("__Host-session").is_none(), "a challenge was answered twice");
    assert!(events(&app, "passkey_failed").await.iter().any(|e| e.detail == "no_ceremony"));
}

#[tokio::test]
async fn an_answer_for_another_origin_or_rp_id_does_not_sign_in() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "phish-login@example.com", &passkey).await;
    sign_out(&app).await;
    let phished = [("https://login.example.test.evil.example", RP_ID), (PUBLIC_URL, "evil.example")];
    for (counter, (origin, rp_id)) in (2..).zip(phished) {
        let options = begin(&app).await;
        let response =
            finish(&app, &answer(&passkey, &options, &handle, Answer { origin, rp_id, counter, verified: true })).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{origin} {rp_id}");
        assert!(app.cookie("__Host-session").is_none(), "signed in with a phished answer");
    }
    // The same key, answering for this site: signed in.
    let options = begin(&app).await;
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer { counter: 9, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn another_accounts_passkey_under_this_accounts_handle_is_refused() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mallory = SoftPasskey::new();
    let mallory_handle = register(&app, "mallory-login@example.com", &mallory).await;
    let alice = SoftPasskey::new();
    let alice_handle = register(&app, "alice-login@example.com", &alice).await;
    let alice_id = app.user_id().await;
    sign_out(&app).await;

    let options = begin(&app).await;
    let response = finish(&app, &answer(&mallory, &options, &alice_handle, Answer::default())).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "another account's passkey signed in");
    let failed = events(&app, "passkey_failed").await;
    assert!(
        failed.iter().any(|e| e.detail == "unknown_credential" && e.user.as_ref() == Some(&alice_id)),
        "{failed:?}"
    );
    // Mallory's key under its own handle signs Mallory in, not Alice.
    let options = begin(&app).await;
    let response =
        finish(&app, &answer(&mallory, &options, &mallory_handle, Answer { counter: 2, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["email"], "mallory-login@example.com");
}

#[tokio::test]
async fn a_passkey_whose_counter_goes_back_does_not_sign_in_and_is_audited() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "clone-login@example.com", &passkey).await;
    sign_out(&app).await;
    let options = begin(&app).await;
    let response =
        finish(&app, &answer(&passkey, &options, &handle, Answer { counter: 10, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    sign_out(&app).await;

    let options = begin(&app).await;
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer { counter: 5, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("it may have been copied"));
    assert!(app.cookie("__Host-session").is_none(), "a cloned key signed in");
    assert!(events(&app, "passkey_failed").await.iter().any(|e| e.detail == "counter_went_back"));
}

#[tokio::test]
async fn a_ceremony_is_bound_to_the_browser_that_began_it_and_expires() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "bound-login@example.com", &passkey).await;
    sign_out(&app).await;
    let options = begin(&app).await;
    let credential = answer(&passkey, &options, &handle, Answer::default());
    let ours = app.cookie("__Host-passkey").unwrap();
    // Another browser: no cookie, then a cookie of its own.
    app.clear_cookies();
    assert_eq!(finish(&app, &credential).await.status(), StatusCode::BAD_REQUEST);
    let _ = begin(&app).await;
    assert_ne!(app.cookie("__Host-passkey").unwrap(), ours);
    assert_eq!(finish(&app, &credential).await.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "another browser finished the ceremony");
    // The browser that began it still can.
    app.set_cookie("__Host-passkey", &ours);
    assert_eq!(finish(&app, &credential).await.status(), StatusCode::SEE_OTHER);
    sign_out(&app).await;

    // A ceremony lives five minutes in the store; past them, its answer is refused.
    let before = ceremonies(&app).await;
    let options = begin(&app).await;
    let keys: Vec<String> = ceremonies(&app).await.into_iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut conn = app.store().connection();
    let ttl: i64 = ::redis::cmd("TTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!((1..=300).contains(&ttl), "the ceremony lives {ttl} s");
    let _: i64 = ::redis::cmd("PEXPIRE").arg(&keys[0]).arg(1).query_async(&mut conn).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer { counter: 2, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "an expired ceremony signed in");
}

#[tokio::test]
async fn a_blocked_account_does_not_sign_in_with_its_passkey() {
    let token = "admin-api-token-admin-api-token-0123456789";
    let mut vars = PASSKEYS_ON.to_vec();
    vars.push(("ADMIN_API_TOKEN", token));
    let app = spawn_app_with(&vars).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "blocked-login@example.com", &passkey).await;
    sign_out(&app).await;
    let block = app
        .client
        .post(format!("{}/api/v1/admin/users/blocked-login%40example.com/block", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(block.status().is_success(), "{}", block.status());
    let options = begin(&app).await;
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer::default())).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "a blocked account signed in");
    assert!(events(&app, "passkey_failed").await.iter().any(|e| e.detail == "blocked"));
}

#[tokio::test]
async fn an_answer_without_user_verification_does_not_sign_in() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "no-uv@example.com", &passkey).await;
    sign_out(&app).await;
    let options = begin(&app).await;
    let response =
        finish(&app, &answer(&passkey, &options, &handle, Answer { verified: false, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "a passkey without user verification signed in");
    let options = begin(&app).await;
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer { counter: 2, ..Answer::default() })).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn passkey_answers_are_counted_per_network_before_they_are_checked() {
    let mut vars = PASSKEYS_ON.to_vec();
    vars.push(("RATE_LIMIT_PASSKEY_IP", "3/15m"));
    let app = spawn_app_with(&vars).await;
    let csrf = app.csrf_token().await;
    let cookie = format!("__Host-csrf={}", app.cookie("__Host-csrf").unwrap());
    let garbage = json!({"id": "x", "rawId": "eA", "type": "public-key", "response": {}}).to_string();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let request = app
                .client
                .post(format!("{}/login/passkey", app.address))
                .header(reqwest::header::COOKIE, &cookie)
                .form(&[("csrf", csrf.as_str()), ("credential", garbage.as_str())]);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(limited, 3, "{statuses:?}");
}

#[tokio::test]
async fn a_store_that_cannot_vouch_for_itself_signs_nobody_in_with_a_passkey() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    let handle = register(&app, "wiped-login@example.com", &passkey).await;
    sign_out(&app).await;
    let options = begin(&app).await;
    let mut conn = app.store().connection();
    let identity = latchkey::store::Keys::new(app.prefix.clone()).store_identity();
    let _: () = ::redis::cmd("DEL").arg(identity).query_async(&mut conn).await.unwrap();
    let response = finish(&app, &answer(&passkey, &options, &handle, Answer::default())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(app.cookie("__Host-session").is_none(), "a store without its identity signed someone in");
}

#[tokio::test]
async fn after_an_email_sign_in_the_account_page_offers_a_passkey_once_per_browser() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    app.sign_in("offer@example.com").await;
    let page = app.get("/account").await.text().await.unwrap();
    assert!(page.contains(r#"data-passkey-offer="__Host-passkey-offered""#), "no offer after an email sign-in");
    assert!(page.contains("Sign in faster next time with a passkey"));
    assert!(page.contains("data-passkey-only hidden"), "the passkeys section does not offer one");
    // The script shows it and sets the cookie; then it is not offered again in this browser.
    app.set_cookie("__Host-passkey-offered", "1");
    let page = app.get("/account").await.text().await.unwrap();
    assert!(!page.contains("data-passkey-offer="), "offered twice");
    assert!(page.contains("data-passkey-only hidden"), "the account page stops offering one");

    // An account with a passkey is not offered another.
    let other = spawn_app_with(PASSKEYS_ON).await;
    register(&other, "has-one@example.com", &SoftPasskey::new()).await;
    let page = other.get("/account").await.text().await.unwrap();
    assert!(!page.contains("data-passkey-offer=") && !page.contains("data-passkey-only"));
    // Nor where the policy does not allow passkeys.
    let off = spawn_app_with(&[]).await;
    off.sign_in("off@example.com").await;
    let page = off.get("/account").await.text().await.unwrap();
    assert!(!page.contains("data-passkey-offer=") && !page.contains("Sign in faster"));
    let login = off.get("/login").await.text().await.unwrap();
    assert!(!login.contains("/login/passkey") && login.contains(r#"autocomplete="email""#));
    assert_eq!(post(&off, "/login/passkey/start", &[]).await.status(), StatusCode::BAD_REQUEST);
}
