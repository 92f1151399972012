//! The verified-session cache on the hot path: the instance that ends a session forgets it at
//! once; another instance sees the end within `SESSION_CACHE_TTL`; `0s` takes nothing on trust;
//! a token verified before is checked again for its times.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, jwt_key_file, spawn_app_with, spawn_peer};

const TOKEN: &str = "cache-test-admin-token-0123456789abcdef";

async fn verify(app: &TestApp, session: &str) -> StatusCode {
    let request = app.client.get(format!("{}/auth/verify", app.address));
    request.header("Cookie", format!("__Host-session={session}")).send().await.unwrap().status()
}

/// Two instances of one deployment, B with this cache TTL.
async fn pair(ttl: &str) -> (TestApp, TestApp) {
    let (key, _) = jwt_key_file();
    let a = spawn_app_with(&[("JWT_KEYS", &key), ("ADMIN_API_TOKEN", TOKEN), ("SESSION_CACHE_TTL", "10s")]).await;
    let b = spawn_peer(&a, &[("JWT_KEYS", &key), ("ADMIN_API_TOKEN", TOKEN), ("SESSION_CACHE_TTL", ttl)]).await;
    (a, b)
}

#[tokio::test]
async fn the_instance_that_ends_a_session_forgets_it_at_once() {
    let (a, _) = pair("10s").await;
    a.sign_in("here@example.com").await;
    let session = a.cookie("__Host-session").unwrap();
    assert_eq!(verify(&a, &session).await, StatusCode::OK, "now cached for 10 s");
    let csrf = a.csrf_token().await;
    assert_eq!(a.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(verify(&a, &session).await, StatusCode::UNAUTHORIZED);

    // An admin's revocation on this instance, too.
    a.sign_in("revoked@example.com").await;
    let session = a.cookie("__Host-session").unwrap();
    assert_eq!(verify(&a, &session).await, StatusCode::OK);
    let url = format!("{}/api/v1/admin/users/revoked%40example.com/revoke-sessions", a.address);
    assert_eq!(a.client.post(url).bearer_auth(TOKEN).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(verify(&a, &session).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_instance_trusts_a_session_it_confirmed_within_its_cache_ttl() {
    let (a, b) = pair("10s").await;
    a.sign_in("there@example.com").await;
    let session = a.cookie("__Host-session").unwrap();
    assert_eq!(verify(&b, &session).await, StatusCode::OK, "B has confirmed it with the store");
    let csrf = a.csrf_token().await;
    assert_eq!(a.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(verify(&a, &session).await, StatusCode::UNAUTHORIZED);
    // The documented window: B confirmed it well under 10 s ago.
    assert_eq!(verify(&b, &session).await, StatusCode::OK);
}

#[tokio::test]
async fn a_logout_on_one_instance_reaches_another_within_its_cache_ttl() {
    let (a, b) = pair("1s").await;
    a.sign_in("soon@example.com").await;
    let session = a.cookie("__Host-session").unwrap();
    assert_eq!(verify(&b, &session).await, StatusCode::OK);
    let csrf = a.csrf_token().await;
    assert_eq!(a.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    let deadline = Instant::now() + Duration::from_secs(15);
    while verify(&b, &session).await != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "B still accepts an ended session");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_the_cache_off_another_instance_sees_a_logout_at_once() {
    let (a, b) = pair("0s").await;
    a.sign_in("strict@example.com").await;
    let session = a.cookie("__Host-session").unwrap();
    assert_eq!(verify(&b, &session).await, StatusCode::OK);
    let csrf = a.csrf_token().await;
    assert_eq!(a.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(verify(&b, &session).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_an_instance_verified_before_is_refused_there_before_its_time_and_once_expired() {
    // B keeps what a token verified to (with a 0 s TTL too: the store is still asked every
    // time); its time claims are checked again at every use. The store's record outlives the
    // token here (the store's clock is not the instances'), so only that check refuses it.
    for ttl in ["0s", "10s"] {
        let (a, b) = pair(ttl).await;
        a.sign_in("expiring@example.com").await;
        let session = a.cookie("__Host-session").unwrap();
        assert_eq!(verify(&b, &session).await, StatusCode::OK, "{ttl}: B verified it");
        // B's clock an hour behind: the token is issued in its future.
        b.clock.advance(chrono::Duration::hours(-1));
        assert_eq!(verify(&b, &session).await, StatusCode::UNAUTHORIZED, "{ttl}: B took a token from its future");
        b.clock.advance(chrono::Duration::hours(1));
        assert_eq!(verify(&b, &session).await, StatusCode::OK, "{ttl}: control: back in time");
        b.clock.advance(chrono::Duration::hours(13));
        assert_eq!(verify(&b, &session).await, StatusCode::UNAUTHORIZED, "{ttl}: B took an expired session");
        assert_eq!(verify(&a, &session).await, StatusCode::OK, "{ttl}: control: for A it has not expired");
    }
}
