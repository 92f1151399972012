//! Rotating the JWT signing key as the README describes: add the new key second, move it
//! first, remove the old one — each step a restart on the same Redis — while a session signed
//! before the rotation keeps working until its key is removed.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::helpers::{PUBLIC_URL, TestApp, jwt_key_file, spawn_app_with, spawn_peer};

/// A key file and its kid.
struct Key {
    path: String,
    kid: String,
}

fn new_key() -> Key {
    let (path, pem) = jwt_key_file();
    let kid = latchkey::session::SigningKey::from_pem(&pem).unwrap().kid().to_owned();
    Key { path, kid }
}

/// `JWT_KEYS` naming these files, in this order.
fn key_list(keys: &[&Key]) -> String {
    keys.iter().map(|k| k.path.as_str()).collect::<Vec<_>>().join(",")
}

/// latchkey restarted as `first`'s deployment (same store, outbox and SMTP server) with
/// `JWT_KEYS` = these files, in this order.
async fn restart(first: &TestApp, keys: &[&Key]) -> TestApp {
    spawn_peer(first, &[("JWT_KEYS", &key_list(keys))]).await
}

async fn jwks(app: &TestApp) -> JwkSet {
    app.get("/.well-known/jwks.json").await.json().await.unwrap()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    jwks(app).await.keys.into_iter().map(|k| k.common.key_id.unwrap()).collect()
}

/// Whether an app holding only this JWKS (offline verification) accepts the JWT.
fn verifies_with(jwks: &JwkSet, jwt: &str) -> bool {
    let Some(jwk) = jwks.find(&kid_of(jwt)) else { return false };
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[PUBLIC_URL]);
    validation.set_audience(&[PUBLIC_URL]);
    jsonwebtoken::decode::<serde_json::Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

/// The status `app` answers for a request carrying this session JWT.
async fn session_status(app: &TestApp, jwt: &str) -> StatusCode {
    let request =
        app.client.get(format!("{}/api/v1/session", app.address)).header(COOKIE, format!("__Host-session={jwt}"));
    request.send().await.unwrap().status()
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

/// Signs a fresh browser in on `app`; returns the session JWT.
async fn sign_in(app: &TestApp, email: &str) -> String {
    app.clear_cookies();
    app.sign_in(email).await;
    app.cookie("__Host-session").unwrap()
}

#[tokio::test]
async fn a_session_signed_before_a_key_rotation_stays_valid_until_its_key_is_removed() {
    let (old, new) = (new_key(), new_key());
    let before = spawn_app_with(&[("JWT_KEYS", &key_list(&[&old]))]).await;
    let old_session = sign_in(&before, "rotate@example.com").await;
    assert_eq!(kid_of(&old_session), old.kid);

    // Step 1: the new key goes second. It is published; the old one still signs.
    let step1 = restart(&before, &[&old, &new]).await;
    assert_eq!(published_kids(&step1).await, vec![old.kid.clone(), new.kid.clone()]);
    assert_eq!(session_status(&step1, &old_session).await, StatusCode::OK);
    assert_eq!(kid_of(&sign_in(&step1, "during@example.com").await), old.kid);

    // Step 2: the new key goes first. It signs; sessions signed with the old one still verify.
    let step2 = restart(&before, &[&new, &old]).await;
    assert_eq!(published_kids(&step2).await, vec![new.kid.clone(), old.kid.clone()]);
    assert_eq!(session_status(&step2, &old_session).await, StatusCode::OK);
    let new_session = sign_in(&step2, "after@example.com").await;
    assert_eq!(kid_of(&new_session), new.kid);
    // An app verifying offline with the published JWKS accepts both.
    let published = jwks(&step2).await;
    assert!(verifies_with(&published, &old_session) && verifies_with(&published, &new_session));

    // Step 3: the old key is removed. Too early (the old session has not expired yet), and its
    // sessions end: that is why the README says to wait out the longest session TTL.
    let step3 = restart(&before, &[&new]).await;
    assert_eq!(published_kids(&step3).await, vec![new.kid.clone()]);
    assert_eq!(session_status(&step3, &old_session).await, StatusCode::UNAUTHORIZED);
    assert_eq!(session_status(&step3, &new_session).await, StatusCode::OK);
    assert!(!verifies_with(&jwks(&step3).await, &old_session));
}

/// An RSA key file, its kid and its PEM.
fn new_rsa_key() -> (Key, String) {
    let (path, pem) = crate::helpers::rsa_key_file();
    let kid = latchkey::session::SigningKey::from_pem(&pem).unwrap().kid().to_owned();
    (Key { path, kid }, pem)
}

/// An RS256 id_token-like JWT signed with `pem`, as the service would have signed it.
fn rs256_token(pem: &str, kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = serde_json::json!({ "iss": PUBLIC_URL, "aud": PUBLIC_URL, "sub": "u", "exp": 4_000_000_000_i64 });
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
}

/// Whether the JWKS verifies an RS256 JWT (what a relying party does offline).
fn rs256_verifies_with(jwks: &JwkSet, jwt: &str) -> bool {
    let Some(jwk) = jwks.find(&kid_of(jwt)) else { return false };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[PUBLIC_URL]);
    validation.set_audience(&[PUBLIC_URL]);
    jsonwebtoken::decode::<serde_json::Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

#[tokio::test]
async fn an_old_rsa_key_stays_published_until_it_is_removed() {
    let ed = new_key();
    let ((old, old_pem), (new, _)) = (new_rsa_key(), new_rsa_key());
    let before = spawn_app_with(&[("JWT_KEYS", &key_list(&[&ed, &old]))]).await;
    let old_token = rs256_token(&old_pem, &old.kid);
    assert!(rs256_verifies_with(&jwks(&before).await, &old_token), "control: the RSA key verifies its tokens");

    // The new RSA key goes first among the RSA keys; the old one is still published.
    let rotated = restart(&before, &[&ed, &new, &old]).await;
    assert_eq!(published_kids(&rotated).await, vec![ed.kid.clone(), new.kid.clone(), old.kid.clone()]);
    assert!(rs256_verifies_with(&jwks(&rotated).await, &old_token), "an id_token of the old key stopped verifying");

    // Once its id_tokens have expired, the old key is removed.
    let after = restart(&before, &[&ed, &new]).await;
    assert_eq!(published_kids(&after).await, vec![ed.kid.clone(), new.kid.clone()]);
    assert!(!rs256_verifies_with(&jwks(&after).await, &old_token));
}
