//! What happens to links that cannot be used, and what the store keeps of them.

use reqwest::StatusCode;

use crate::helpers::{hidden_field, set_cookies, spawn_app};

fn no_session_cookie(response: &reqwest::Response) -> bool {
    set_cookies(response).iter().all(|c| !c.starts_with("__Host-session"))
}

#[tokio::test]
async fn a_link_works_once_and_then_shows_the_used_page() {
    let app = spawn_app().await;
    let token = app.request_token("once@example.com").await;
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);

    app.clear_cookies();
    let again = app.post_verify(&token).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(no_session_cookie(&again));
    let html = again.text().await.unwrap();
    assert!(html.contains("already used"), "{html}");
    assert!(html.contains("Send a new link"));
    assert!(hidden_field(&html, "csrf").is_some());

    let page = app.get_verify(&token).await;
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.unwrap().contains("already used"));
}

#[tokio::test]
async fn an_expired_link_shows_the_expired_page_and_signs_nobody_in() {
    let app = spawn_app().await;
    let token = app.request_token("late@example.com").await;
    app.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));

    let page = app.get_verify(&token).await;
    assert_eq!(page.status(), StatusCode::GONE);
    let html = page.text().await.unwrap();
    assert!(html.contains("expired"), "{html}");
    assert!(html.contains("value=\"late@example.com\""), "the new-link form is not prefilled");

    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(no_session_cookie(&response));
    assert!(app.cookie("__Host-session").is_none());
}

#[tokio::test]
async fn a_link_just_inside_its_ttl_still_works() {
    let app = spawn_app_ttl("2m").await;
    let token = app.request_token("edge@example.com").await;
    app.clock.advance(chrono::Duration::seconds(119));
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
}

async fn spawn_app_ttl(ttl: &str) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(&[("LINK_TTL", ttl)]).await
}

#[tokio::test]
async fn made_up_and_malformed_tokens_get_the_unknown_link_page() {
    let app = spawn_app().await;
    let made_up = latchkey::crypto::random_token::<32>().unwrap();
    for token in [made_up.as_str(), "short", "../../etc/passwd", "}{a:x}", ""] {
        let page = app.get_verify(token).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{token:?}");
        assert!(page.text().await.unwrap().contains("This link does not work"));
        let response = app.post_verify(token).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{token:?}");
        assert!(no_session_cookie(&response));
    }
}

#[tokio::test]
async fn the_raw_token_is_nowhere_in_redis() {
    let app = spawn_app().await;
    let token = app.request_token("hidden@example.com").await;
    let dump = app.dump_redis().await;
    assert!(!dump.is_empty(), "nothing in Redis under {}", app.prefix);
    assert!(dump.iter().any(|(k, _)| k.contains("{a:")), "no attempt key: {dump:?}");
    for (key, value) in &dump {
        assert!(!key.contains(&token) && !value.contains(&token), "token found in {key}");
    }
    // Nor after it is used, nor does any key name carry the address.
    app.post_verify(&token).await;
    for (key, value) in app.dump_redis().await {
        assert!(!key.contains(&token) && !value.contains(&token), "token found in {key}");
        assert!(!key.contains("hidden@example.com"), "address in key name {key}");
    }
}

#[tokio::test]
async fn attempts_expire_from_redis_on_their_own() {
    let app = spawn_app().await;
    app.request_token("ttl@example.com").await;
    let mut conn = app.store().connection();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*{{a:*", app.prefix)).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 1);
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!(ttl > 15 * 60 && ttl <= 75 * 60, "attempt TTL is {ttl}s");
}

#[tokio::test]
async fn the_mail_file_transport_writes_eml_files() {
    let dir = std::env::temp_dir().join(format!("latchkey-mail-{}", latchkey::crypto::random_token::<6>().unwrap()));
    let app = crate::helpers::spawn_app_with(&[("MAIL_TRANSPORT", "file"), ("MAIL_DIR", dir.to_str().unwrap())]).await;
    assert_eq!(app.post_login("file@example.com").await.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let written = loop {
        let files: Vec<_> = std::fs::read_dir(&dir).map(|d| d.flatten().collect()).unwrap_or_default();
        if let Some(f) = files.iter().find(|f| f.path().extension().is_some_and(|e| e == "eml")) {
            break std::fs::read_to_string(f.path()).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no .eml file in {}", dir.display());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(written.contains("file@example.com"));
    assert!(written.contains("/login/verify?token="));
    let _ = std::fs::remove_dir_all(dir);
}
