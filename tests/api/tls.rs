//! `rediss://`: the store over TLS to a Redis whose certificate comes from a private CA
//! (`REDIS_CA_FILE`).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app_with;
use crate::helpers::tls::tls_redis;

#[tokio::test]
async fn a_person_signs_in_with_the_store_behind_tls() {
    let redis = tls_redis();
    let ca = redis.ca_file.to_string_lossy().into_owned();
    let app = spawn_app_with(&[("REDIS_URL", &redis.url), ("REDIS_CA_FILE", &ca)]).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.sign_in("tls@example.com").await;
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["email"], "tls@example.com");
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout/all", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_the_private_ca_the_store_is_not_trusted() {
    // The system roots do not know the test CA: the TLS handshake fails, so the store is
    // unavailable — never reached in plaintext.
    let redis = tls_redis();
    let app = spawn_app_with(&[("REDIS_URL", &redis.url)]).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let plain = redis.url.replacen("rediss://", "redis://", 1);
    let app = spawn_app_with(&[("REDIS_URL", &plain)]).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
}
