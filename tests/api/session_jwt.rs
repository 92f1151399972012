//! The session JWT as an app would see it: verifiable with the published JWKS alone.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PUBLIC_URL, spawn_app};

#[tokio::test]
async fn a_session_jwt_verifies_with_the_published_jwks_alone() {
    let app = spawn_app().await;
    app.sign_in("jwks@example.com").await;
    let jwt = app.cookie("__Host-session").unwrap();

    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: JwkSet = response.json().await.unwrap();
    assert_eq!(jwks.keys.len(), 2, "the Ed25519 key and the development RSA key");

    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("no kid");
    let jwk = jwks.find(&kid).expect("kid not in the JWKS");

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[PUBLIC_URL]);
    validation.set_audience(&[PUBLIC_URL]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let claims: Value = jsonwebtoken::decode(&jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims;
    assert_eq!(claims["email"], "jwks@example.com");

    // The kid is the RFC 7638 thumbprint of the published key.
    let x = serde_json::to_value(jwk).unwrap()["x"].as_str().unwrap().to_owned();
    assert_eq!(latchkey::session::okp_thumbprint(&x), kid);
}

#[tokio::test]
async fn a_tampered_session_token_is_refused() {
    let app = spawn_app().await;
    app.sign_in("tamper@example.com").await;
    let jwt = app.cookie("__Host-session").unwrap();
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &parts[1]).unwrap(),
    )
    .unwrap();
    payload["email"] = "admin@example.com".into();
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload.to_string());
    app.set_cookie("__Host-session", &parts.join("."));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
}
