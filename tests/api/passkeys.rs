//! Passkeys over HTTP, with a software authenticator written here (P-256, attestation "none"):
//! adding one from the account page, using it at the second step, and what a relying party
//! must refuse — another origin, another RP ID, a replayed challenge, a counter going back,
//! another account's passkey.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey::store::prelude::*;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{PUBLIC_URL, TestApp, spawn_app_with};
use crate::second_factor::{link_step, post, recovery_codes};

pub(crate) const RP_ID: &str = "login.example.test";
pub(crate) const PASSKEYS_ON: &[(&str, &str)] = &[("SECOND_FACTOR_METHODS", "totp,passkey")];

/// A software passkey: one P-256 key, its credential id and signature counter.
pub(crate) struct SoftPasskey {
    pub(crate) key: SigningKey,
    pub(crate) id: Vec<u8>,
    pub(crate) counter: u32,
    /// Backup eligible and backed up (a synced passkey).
    pub(crate) synced: bool,
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A CBOR head: major type and argument.
fn cbor_head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => [vec![m | 25], (n as u16).to_be_bytes().to_vec()].concat(),
        _ => [vec![m | 26], (n as u32).to_be_bytes().to_vec()].concat(),
    }
}

fn cbor_int(v: i64) -> Vec<u8> {
    if v >= 0 { cbor_head(0, v as u64) } else { cbor_head(1, (-1 - v) as u64) }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    [cbor_head(2, b.len() as u64), b.to_vec()].concat()
}

fn cbor_text(s: &str) -> Vec<u8> {
    [cbor_head(3, s.len() as u64), s.as_bytes().to_vec()].concat()
}

impl SoftPasskey {
    pub(crate) fn new() -> Self {
        let seed: [u8; 32] = rand::random();
        let key = SigningKey::from_slice(&seed).expect("a P-256 key");
        Self { key, id: rand::random::<[u8; 16]>().to_vec(), counter: 0, synced: false }
    }

    pub(crate) fn synced() -> Self {
        Self { synced: true, ..Self::new() }
    }

    /// The public key as a COSE_Key (EC2, ES256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut map = cbor_head(5, 5);
        for (label, value) in [
            (1, cbor_int(2)),
            (3, cbor_int(-7)),
            (-1, cbor_int(1)),
            (-2, cbor_bytes(point.x().unwrap())),
            (-3, cbor_bytes(point.y().unwrap())),
        ] {
            map.extend(cbor_int(label));
            map.extend(value);
        }
        map
    }

    fn flags(&self, attested: bool) -> u8 {
        // UP, UV; BE and BS for a synced key; AT when credential data follows.
        let mut flags = 0x01 | 0x04;
        if self.synced {
            flags |= 0x08 | 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().expect("options without a challenge");
        json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false}).to_string().into_bytes()
    }

    /// The answer to `navigator.credentials.create(options)` on a page at `origin`, for `rp_id`.
    pub(crate) fn create(&self, options: &Value, origin: &str, rp_id: &str) -> String {
        let client_data = Self::client_data("webauthn.create", options, origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((self.id.len() as u16).to_be_bytes());
        auth_data.extend(&self.id);
        auth_data.extend(self.cose_key());
        let mut attestation = cbor_head(5, 3);
        attestation.extend(cbor_text("fmt"));
        attestation.extend(cbor_text("none"));
        attestation.extend(cbor_text("attStmt"));
        attestation.extend(cbor_head(5, 0));
        attestation.extend(cbor_text("authData"));
        attestation.extend(cbor_bytes(&auth_data));
        json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "extensions": {},
            "response": {"attestationObject": b64(&attestation), "clientDataJSON": b64(&client_data)},
        })
        .to_string()
    }

    /// The answer to `navigator.credentials.get(options)` on a page at `origin`, for `rp_id`,
    /// signed with counter `counter`.
    pub(crate) fn get_with(&self, options: &Value, origin: &str, rp_id: &str, counter: u32) -> String {
        let client_data = Self::client_data("webauthn.get", options, origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(false));
        auth_data.extend(counter.to_be_bytes());
        let signed = [auth_data.as_slice(), Sha256::digest(&client_data).as_slice()].concat();
        let signature: DerSignature = self.key.sign(&signed);
        json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_bytes()),
                "userHandle": null,
            },
        })
        .to_string()
    }

    /// The next answer, its counter one up.
    pub(crate) fn get(&mut self, options: &Value) -> String {
        self.counter += 1;
        self.get_with(options, PUBLIC_URL, RP_ID, self.counter)
    }
}

/// `POST path` with the page's CSRF token, expecting JSON options.
pub(crate) async fn start_options(app: &TestApp, path: &str) -> Value {
    let response = post(app, path, &[]).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// Signs in and adds `passkey` from the account page; returns the recovery codes shown.
pub(crate) async fn add_passkey(app: &TestApp, email: &str, passkey: &SoftPasskey) -> Vec<String> {
    app.sign_in(email).await;
    let options = start_options(app, "/account/passkeys/register/start").await;
    assert_eq!(options["publicKey"]["rp"]["id"], RP_ID);
    let credential = passkey.create(&options, PUBLIC_URL, RP_ID);
    let response =
        post(app, "/account/passkeys/register/finish", &[("credential", &credential), ("name", "Work laptop")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    recovery_codes(&response.text().await.unwrap())
}

/// Signs out and back in by link, up to the second step, and begins a passkey there.
pub(crate) async fn step_options(app: &TestApp, email: &str) -> Value {
    let response = link_step(app, email).await;
    assert_eq!(response.headers()[LOCATION], "/login/2fa");
    start_options(app, "/login/2fa/passkey/start").await
}

#[tokio::test]
async fn a_passkey_added_from_the_account_page_passes_the_second_step() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut passkey = SoftPasskey::new();
    let codes = add_passkey(&app, "pk@example.com", &passkey).await;
    assert_eq!(codes.len(), 10, "a first factor comes with recovery codes");
    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains("Work laptop"), "the passkey is not listed");
    assert!(account.contains(r#"<script src="/static/passkey.js" defer></script>"#));

    let options = step_options(&app, "pk@example.com").await;
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0]["id"], b64(&passkey.id));
    let response = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/account");
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], json!(["email", "hwk", "mfa"]));
}

#[tokio::test]
async fn a_synced_passkey_counts_as_a_software_key() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut passkey = SoftPasskey::synced();
    add_passkey(&app, "synced@example.com", &passkey).await;
    let options = step_options(&app, "synced@example.com").await;
    let response = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["amr"], json!(["email", "swk", "mfa"]));
}

#[tokio::test]
async fn a_passkey_created_for_another_origin_or_rp_id_is_not_added() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    app.sign_in("origin@example.com").await;
    for (origin, rp_id) in [("https://evil.example", RP_ID), (PUBLIC_URL, "evil.example"), (PUBLIC_URL, "example.test")]
    {
        let options = start_options(&app, "/account/passkeys/register/start").await;
        let credential = passkey.create(&options, origin, rp_id);
        let response = post(&app, "/account/passkeys/register/finish", &[("credential", &credential)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{origin} {rp_id}");
    }
    let stored = app.store().get_factors(&app.user_id().await).await.unwrap();
    assert!(stored.passkeys.is_empty(), "a passkey for another site was stored");
}

#[tokio::test]
async fn a_passkey_answer_for_another_origin_or_rp_id_fails_the_second_step() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let passkey = SoftPasskey::new();
    add_passkey(&app, "phish@example.com", &passkey).await;
    for (origin, rp_id) in [("https://login.example.test.evil.example", RP_ID), (PUBLIC_URL, "evil.example")] {
        let options = step_options(&app, "phish@example.com").await;
        let credential = passkey.get_with(&options, origin, rp_id, 7);
        let response = post(&app, "/login/2fa", &[("credential", &credential)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{origin} {rp_id}");
        assert!(app.cookie("__Host-session").is_none(), "signed in with a phished answer");
    }
}

#[tokio::test]
async fn a_passkey_challenge_is_answered_once() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut passkey = SoftPasskey::new();
    app.sign_in("replay@example.com").await;
    // Registration: a challenge answered (wrongly) once takes no second answer.
    let options = start_options(&app, "/account/passkeys/register/start").await;
    let wrong = passkey.create(&options, "https://evil.example", RP_ID);
    let first = post(&app, "/account/passkeys/register/finish", &[("credential", &wrong)]).await;
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let credential = passkey.create(&options, PUBLIC_URL, RP_ID);
    let again = post(&app, "/account/passkeys/register/finish", &[("credential", &credential)]).await;
    assert_eq!(again.status(), StatusCode::GONE, "a registration challenge was answered twice");
    assert!(app.store().get_factors(&app.user_id().await).await.unwrap().passkeys.is_empty());
    let options = start_options(&app, "/account/passkeys/register/start").await;
    let credential = passkey.create(&options, PUBLIC_URL, RP_ID);
    let added = post(&app, "/account/passkeys/register/finish", &[("credential", &credential)]).await;
    assert_eq!(added.status(), StatusCode::OK);

    // Second step: a second answer to one challenge (even with a higher counter) is refused.
    let options = step_options(&app, "replay@example.com").await;
    let answer = passkey.get(&options);
    let replay = passkey.get_with(&options, PUBLIC_URL, RP_ID, passkey.counter + 1);
    let other_browser = app.cookie("__Host-pending").unwrap();
    assert_eq!(post(&app, "/login/2fa", &[("credential", &answer)]).await.status(), StatusCode::SEE_OTHER);
    app.clear_cookies();
    app.set_cookie("__Host-pending", &other_browser);
    assert_eq!(post(&app, "/login/2fa", &[("credential", &replay)]).await.status(), StatusCode::GONE);

    // A new step, an answer to the old challenge: no ceremony waits for it.
    let _ = step_options(&app, "replay@example.com").await;
    let stale = passkey.get_with(&options, PUBLIC_URL, RP_ID, passkey.counter + 5);
    let response = post(&app, "/login/2fa", &[("credential", &stale)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "an answer to an old challenge was accepted");
    assert!(app.cookie("__Host-session").is_none());
}

#[tokio::test]
async fn a_passkey_whose_counter_goes_back_is_refused_and_audited() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut passkey = SoftPasskey::new();
    add_passkey(&app, "clone@example.com", &passkey).await;
    let options = step_options(&app, "clone@example.com").await;
    passkey.counter = 10;
    let response = post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // A copy of the key, behind the original: counter 5 after 11.
    let options = step_options(&app, "clone@example.com").await;
    let clone = passkey.get_with(&options, PUBLIC_URL, RP_ID, 5);
    let response = post(&app, "/login/2fa", &[("credential", &clone)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("may have been copied"));
    assert!(app.cookie("__Host-session").is_none(), "a cloned key signed in");
    let events = app.store().global_events(None, 50).await.unwrap();
    assert!(
        events.iter().any(|e| e.detail == "passkey counter went back"),
        "the rollback is not in the audit log: {events:?}"
    );
}

#[tokio::test]
async fn another_accounts_passkey_does_not_pass_the_second_step() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut mallory = SoftPasskey::new();
    add_passkey(&app, "mallory@example.com", &mallory).await;
    let alice = SoftPasskey::new();
    app.clear_cookies();
    add_passkey(&app, "alice@example.com", &alice).await;

    let options = step_options(&app, "alice@example.com").await;
    let response = post(&app, "/login/2fa", &[("credential", &mallory.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.cookie("__Host-session").is_none(), "another account's passkey signed in");
}

#[tokio::test]
async fn a_passkey_is_removed_with_a_fresh_factor_and_the_owner_is_told() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut passkey = SoftPasskey::new();
    add_passkey(&app, "remove@example.com", &passkey).await;
    let id = b64(&passkey.id);
    // The session that added it used no second factor: "confirm it's you".
    let response = post(&app, "/account/passkeys/remove", &[("id", &id)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store().get_factors(&app.user_id().await).await.unwrap().passkeys.len(), 1);

    let options = step_options(&app, "remove@example.com").await;
    assert_eq!(
        post(&app, "/login/2fa", &[("credential", &passkey.get(&options))]).await.status(),
        StatusCode::SEE_OTHER
    );
    let before = app.mail.received().len();
    let response = post(&app, "/account/passkeys/remove", &[("id", &id)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(app.store().get_factors(&app.user_id().await).await.unwrap().passkeys.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !app.mail.received().iter().skip(before).any(|m| m.text().contains("A passkey was removed")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no notice mailed: {:?}",
            app.mail.received().last().map(|m| m.text())
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_passkey_confirms_it_is_you_before_a_factor_change() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let mut passkey = SoftPasskey::new();
    add_passkey(&app, "confirm@example.com", &passkey).await;
    let page = app.get("/account/confirm-factor").await.text().await.unwrap();
    assert!(page.contains("/account/confirm-factor/passkey/start"), "no passkey on the confirm page");
    // Another account's passkey, or a wrong origin, does not confirm.
    let options = start_options(&app, "/account/confirm-factor/passkey/start").await;
    let phished = passkey.get_with(&options, "https://evil.example", RP_ID, 50);
    let response = post(&app, "/account/confirm-factor", &[("credential", &phished)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        post(&app, "/account/passkeys/remove", &[("id", &b64(&passkey.id))]).await.status(),
        StatusCode::FORBIDDEN
    );

    let options = start_options(&app, "/account/confirm-factor/passkey/start").await;
    let response = post(&app, "/account/confirm-factor", &[("credential", &passkey.get(&options))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        post(&app, "/account/passkeys/remove", &[("id", &b64(&passkey.id))]).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn passkeys_are_refused_unless_the_policy_allows_them() {
    let app = spawn_app_with(&[]).await;
    app.sign_in("policy@example.com").await;
    let response = post(&app, "/account/passkeys/register/start", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!app.get("/account").await.text().await.unwrap().contains("passkey.js"));
}

#[tokio::test]
async fn a_malformed_passkey_answer_is_a_400_naming_the_field() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    app.sign_in("malformed@example.com").await;
    let _ = start_options(&app, "/account/passkeys/register/start").await;
    let response = post(&app, "/account/passkeys/register/finish", &[("credential", r#"{"id": 5}"#)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("credential"));
}

#[tokio::test]
async fn the_passkey_script_is_served_and_allowed_by_the_csp() {
    let app = spawn_app_with(PASSKEYS_ON).await;
    let response = app.get("/static/passkey.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(response.text().await.unwrap().contains("navigator.credentials.create"));
}
