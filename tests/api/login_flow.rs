//! The whole sign-in over HTTP: request → mail → confirm → session → sign-out.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::helpers::{PUBLIC_URL, code_from, hidden_field, magic_link_from, set_cookies, spawn_app, token_from_link};

#[tokio::test]
async fn a_person_signs_in_with_the_mailed_link_and_out_again() {
    let app = spawn_app().await;

    // Ask for a link: the same "check your email" page, and a mail on its way.
    let response = app.post_login("Jane.Doe@Example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("Check your email"), "{body}");

    // The mail reached the SMTP server, addressed to the normalised address, text and HTML.
    let mails = app.mail.wait_for(1).await;
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["jane.doe@example.com".to_owned()]);
    assert_eq!(mail.subject(), "Your sign-in link");
    assert!(mail.is_multipart_alternative());
    let link = magic_link_from(mail);
    assert!(link.starts_with(&format!("{PUBLIC_URL}/login/verify?token=")), "{link}");
    assert!(mail.html().contains(&link.replace('&', "&amp;")), "HTML part lacks the link");
    assert!(mail.text().contains("expires in 15 minutes"));
    assert!(code_from(mail).len() == 9, "no code in the mail");
    assert!(mail.text().contains("127.0.0.1"), "mail does not say where the request came from");
    let token = token_from_link(&link);

    // The confirm page names the address and does not consume the token.
    for _ in 0..2 {
        let page = app.get_verify(&token).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("Sign in as jane.doe@example.com?"), "{html}");
        assert_eq!(hidden_field(&html, "token").as_deref(), Some(token.as_str()));
        assert!(app.cookie("__Host-session").is_none());
    }

    // Pressing the button: 303 to /account with the session cookie, exact attributes.
    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/account");
    let cookie =
        set_cookies(&response).into_iter().find(|c| c.starts_with("__Host-session=")).expect("no session cookie");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for expected in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=43200"] {
        assert!(attributes.contains(&expected), "cookie lacks {expected}: {cookie}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "a __Host- cookie must not name a domain");
    let jwt = app.cookie("__Host-session").unwrap();
    assert_eq!(jwt.split('.').count(), 3, "session cookie is not a JWT");

    // The session API returns the verified claims.
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(claims["email"], "jane.doe@example.com");
    assert_eq!(claims["iss"], PUBLIC_URL);
    assert_eq!(claims["aud"], PUBLIC_URL);
    assert_eq!(claims["amr"], serde_json::json!(["email"]));
    let sub = claims["sub"].as_str().unwrap();
    assert!(!sub.contains('@'), "sub must be a stable id, not the address");
    for claim in ["iat", "nbf", "exp", "jti", "sid", "auth_time"] {
        assert!(!claims[claim].is_null(), "missing claim {claim}");
    }
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 43_200);

    // The account page shows who is signed in.
    let account = app.get("/account").await;
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("jane.doe@example.com"));

    // Signing out ends the session and clears the cookie; the old token is dead too.
    let csrf = app.csrf_token().await;
    let response = app.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&response).iter().any(|c| c.starts_with("__Host-session=;") && c.contains("Max-Age=0")));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    app.set_cookie("__Host-session", &jwt);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED, "token still accepted after logout");
    assert_eq!(app.get("/account").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_same_address_gets_the_same_user_id_on_every_sign_in() {
    let app = spawn_app().await;
    app.sign_in("kim@example.com").await;
    let first: Value = app.get_session().await.json().await.unwrap();
    app.clear_cookies();
    app.sign_in("KIM@example.com").await;
    let second: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(first["sub"], second["sub"]);
    assert_ne!(first["sid"], second["sid"]);
    app.clear_cookies();
    app.sign_in("other@example.com").await;
    let third: Value = app.get_session().await.json().await.unwrap();
    assert_ne!(first["sub"], third["sub"]);
}

#[tokio::test]
async fn return_to_is_followed_when_local_and_ignored_otherwise() {
    let app = spawn_app().await;
    for (asked, expected) in [("/account?tab=security", "/account?tab=security"), ("//evil.example", "/account")] {
        let csrf = app.csrf_token().await;
        let before = app.mail.received().len();
        let response =
            app.post_form("/login", &[("email", "r@example.com"), ("csrf", &csrf), ("return_to", asked)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let token = token_from_link(&magic_link_from(&app.mail.wait_for_link_mail(before).await));
        let response = app.post_verify(&token).await;
        assert_eq!(response.headers()[LOCATION], expected, "return_to {asked}");
    }
}

#[tokio::test]
async fn the_json_api_requests_a_link_and_rejects_malformed_addresses() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/login", app.address);
    let response = app.client.post(&url).json(&serde_json::json!({ "email": "api@example.com" })).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(body["status"], "sent");
    assert!(body["number"].is_u64(), "policy `approve` (the default) answers the number: {body}");
    let mails = app.mail.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["api@example.com".to_owned()]);

    let response = app.client.post(&url).json(&serde_json::json!({ "email": "not an address" })).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_request");
}

#[tokio::test]
async fn a_malformed_address_gets_the_form_back_with_a_400_and_no_mail() {
    let app = spawn_app().await;
    for bad in ["not-an-address", "a@b.com\r\nBcc: victim@example.com", &"x".repeat(10_000)] {
        let response = app.post_login(bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("name=\"email\""), "form not re-shown");
        assert!(html.contains("role=\"alert\""));
    }
    app.outbox_settled().await;
    assert!(app.mail.received().is_empty());
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = spawn_app().await;
    app.csrf_token().await;
    let response = app.post_form("/login", &[("email", "a@example.com")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app.post_form("/login", &[("email", "a@example.com"), ("csrf", "forged")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let csrf = app.csrf_token().await;
    let response = app
        .send(
            app.client
                .post(format!("{}/login", app.address))
                .header("Origin", "https://evil.example")
                .form(&[("email", "a@example.com"), ("csrf", &csrf)]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    app.outbox_settled().await;
    assert!(app.mail.received().is_empty(), "a refused form still sent mail");
}

#[tokio::test]
async fn the_mailed_link_uses_public_url_whatever_the_request_headers_say() {
    let app = spawn_app().await;
    let csrf = app.csrf_token().await;
    let response = app
        .send(
            app.client
                .post(format!("{}/login", app.address))
                .header("Host", "evil.example")
                .header("X-Forwarded-Host", "evil.example")
                .header("X-Forwarded-Proto", "http")
                .form(&[("email", "h@example.com"), ("csrf", &csrf)]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let link = magic_link_from(&app.mail.wait_for(1).await[0]);
    assert!(link.starts_with(&format!("{PUBLIC_URL}/login/verify?token=")), "{link}");
    assert!(!app.mail.received()[0].html().contains("evil.example"));
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let app = spawn_app().await;
    let response = app.get("/login").await;
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'") && !csp.contains("unsafe-inline")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("strict-transport-security").is_none(), "HSTS is for production");
}

#[tokio::test]
async fn health_and_readiness_report_on_the_store() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_redis_unreachable_requests_fail_closed_with_503() {
    let dead = format!("redis://127.0.0.1:{}/", crate::helpers::free_port());
    let app = crate::helpers::spawn_app_with(&[("REDIS_URL", &dead)]).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = app.post_login("down@example.com").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body = response.text().await.unwrap();
    assert!(body.contains("Reference:"), "503 page shows no reference id");
    let token = "A".repeat(43);
    let response = app.post_verify(&token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(&response).iter().all(|c| !c.starts_with("__Host-session")));
}

#[tokio::test]
async fn tokens_never_reach_the_logs_even_when_requests_fail() {
    let dead = format!("redis://127.0.0.1:{}/", crate::helpers::free_port());
    let app = crate::helpers::spawn_app_with(&[("REDIS_URL", &dead)]).await;
    let token = latchkey::crypto::random_token::<32>().unwrap();
    // Failing requests log a warning inside the request's span (path, request id …).
    assert_eq!(app.get_verify(&token).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let logs = crate::helpers::captured_logs();
    assert!(logs.contains("/login/verify"), "the failing request was not logged at all");
    assert!(!logs.contains(&token), "a sign-in token reached the logs");
}

#[tokio::test]
async fn production_adds_hsts() {
    let (key, _) = crate::helpers::jwt_key_file();
    let app = crate::helpers::spawn_app_with(&[("APP_ENV", "production"), ("JWT_KEYS", &key)]).await;
    let response = app.get("/login").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
}
