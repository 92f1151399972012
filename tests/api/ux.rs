//! What a person reads: the language picked from `Accept-Language`, the wording of every
//! error, and a sign-in mail whose text and HTML parts say the same.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_LANGUAGE, RETRY_AFTER, USER_AGENT};

use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{
    TestApp, code_from, hidden_field, magic_link_from, request, spawn_app, spawn_app_with, token_from_link,
};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// `GET path` from a browser that prefers `languages`.
async fn get_in(app: &TestApp, path: &str, languages: &str) -> reqwest::Response {
    app.send(app.client.get(format!("{}{path}", app.address)).header(ACCEPT_LANGUAGE, languages)).await
}

/// `POST /login` from a browser that prefers `languages`, as its login page would send it.
async fn post_login_in(app: &TestApp, email: &str, languages: &str) -> reqwest::Response {
    let page = get_in(app, "/login", languages).await.text().await.unwrap();
    let csrf = hidden_field(&page, "csrf").unwrap();
    let request = app.client.post(format!("{}/login", app.address)).header(ACCEPT_LANGUAGE, languages);
    app.send(request.header(USER_AGENT, FIREFOX).form(&[("email", email), ("csrf", &csrf)])).await
}

/// Signs `email` in from a browser that prefers `languages`, through the mail and the confirm page.
async fn sign_in_in(app: &TestApp, email: &str, languages: &str) {
    let before = app.mail.received().len();
    assert_eq!(post_login_in(app, email, languages).await.status(), StatusCode::OK);
    let token = token_from_link(&magic_link_from(&app.mail.wait_for_link_mail(before).await));
    let confirm = get_in(app, &format!("/login/verify?token={token}"), languages).await.text().await.unwrap();
    let csrf = hidden_field(&confirm, "csrf").unwrap();
    let request = app.client.post(format!("{}/login/verify", app.address)).header(ACCEPT_LANGUAGE, languages);
    let signed_in = app.send(request.form(&[("token", token.as_str()), ("csrf", csrf.as_str())])).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
}

fn content_language(response: &reqwest::Response) -> String {
    response.headers().get(CONTENT_LANGUAGE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

// ---- Languages ---------------------------------------------------------------------------

#[tokio::test]
async fn a_german_browser_gets_german_pages_and_a_german_mail() {
    let app = spawn_app().await;
    let response = get_in(&app, "/login", "de-DE,de;q=0.9,en;q=0.8").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_language(&response), "de");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<html lang="de">"#), "{html}");
    assert!(html.contains("<h1>Anmelden</h1>") && html.contains("E-Mail-Adresse"), "{html}");
    assert!(!html.contains("Email me a sign-in link"), "{html}");

    let response = post_login_in(&app, "hans@example.com", "de").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_language(&response), "de");
    let html = response.text().await.unwrap();
    assert!(html.contains("Sehen Sie in Ihr Postfach") && html.contains("<strong>hans@example.com</strong>"), "{html}");

    // The mail is in the language of the request that asked for it.
    let mail = &app.mail.wait_for(1).await[0];
    assert_eq!(mail.subject(), "Ihr Anmeldelink");
    assert!(mail.text().contains("Der Link läuft in 15 Minuten ab"), "{}", mail.text());
    assert!(mail.html().contains(r#"<html lang="de">"#) && mail.html().contains("Der Link läuft in 15 Minuten ab"));

    // The confirm page the link opens, and an error page, follow the browser's language too.
    let token = token_from_link(&magic_link_from(mail));
    let confirm = app
        .send(
            app.client
                .get(format!("{}/login/verify", app.address))
                .query(&[("token", token.as_str())])
                .header(ACCEPT_LANGUAGE, "de"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("Als hans@example.com anmelden?"), "{confirm}");
    let refused = app
        .send(
            app.client.post(format!("{}/login", app.address)).header(ACCEPT_LANGUAGE, "de").form(&[("email", "x@y.z")]),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(content_language(&refused), "de");
    let html = refused.text().await.unwrap();
    assert!(html.contains(r#"<html lang="de">"#) && html.contains("Dieses Formular ist abgelaufen"), "{html}");
}

#[tokio::test]
async fn a_german_browser_gets_its_account_page_in_german_after_signing_in() {
    let app = spawn_app().await;
    sign_in_in(&app, "greta@example.com", "de").await;

    let response = get_in(&app, "/account", "de-DE,de;q=0.9,en;q=0.8").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_language(&response), "de");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<html lang="de">"#) && html.contains("<h1>Ihr Konto</h1>"), "{html}");
    assert!(html.contains("greta@example.com") && html.contains("Überall abmelden"), "{html}");
    assert!(html.contains("Letzte Aktivitäten") && html.contains("Angemeldet"), "{html}");
    assert!(!html.contains("Your account") && !html.contains("Sign out everywhere"), "{html}");

    // Setting up an authenticator app from there is German too.
    let csrf = hidden_field(&html, "csrf").unwrap();
    let request = app.client.post(format!("{}/account/totp/enroll", app.address)).header(ACCEPT_LANGUAGE, "de");
    let enroll = app.send(request.form(&[("csrf", csrf.as_str())])).await;
    assert_eq!(content_language(&enroll), "de");
    let html = enroll.text().await.unwrap();
    assert!(html.contains("<h1>Authenticator-App einrichten</h1>") && html.contains("Einschalten"), "{html}");

    // The same session from an English browser reads English.
    let html = get_in(&app, "/account", "en").await.text().await.unwrap();
    assert!(html.contains(r#"<html lang="en">"#) && html.contains("<h1>Your account</h1>"), "{html}");
}

#[tokio::test]
async fn the_new_device_mail_is_in_the_language_of_the_browser_that_signed_in() {
    let app = spawn_app_with(&[("PRODUCT_NAME", "Acme Login"), ("SUPPORT_EMAIL", "help@acme.example")]).await;
    sign_in_in(&app, "lena@example.com", "en").await;
    app.clear_cookies();
    sign_in_in(&app, "lena@example.com", "de-AT,de;q=0.9").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let notice = loop {
        let notice = app
            .mail
            .received()
            .into_iter()
            .find(|m| !m.subject().contains("Anmeldelink") && !m.subject().contains("sign-in link"));
        if let Some(notice) = notice {
            break notice;
        }
        assert!(std::time::Instant::now() < deadline, "no new-device notice");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(notice.subject(), "Neue Anmeldung bei Ihrem Konto");
    for part in [notice.text(), notice.html()] {
        assert!(part.contains("Wenn Sie das waren, ist nichts zu tun."), "{part}");
        assert!(part.contains("/account/not-me?token="), "{part}");
        assert!(part.contains("Acme Login") && part.contains("Fragen? Schreiben Sie an help@acme.example."), "{part}");
    }
    assert!(notice.html().contains(r#"<html lang="de">"#) && notice.html().contains("Das war ich nicht"));
}

#[tokio::test]
async fn a_language_we_do_not_speak_falls_back_to_english() {
    let app = spawn_app().await;
    let response = get_in(&app, "/login", "fi-FI, fi;q=0.9, *;q=0.5").await;
    assert_eq!(content_language(&response), "en");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<html lang="en">"#) && html.contains("Email me a sign-in link"), "{html}");

    assert_eq!(post_login_in(&app, "aino@example.com", "fi").await.status(), StatusCode::OK);
    let mail = &app.mail.wait_for(1).await[0];
    assert_eq!(mail.subject(), "Your sign-in link");
    assert!(mail.html().contains(r#"<html lang="en">"#));
}

// ---- Error wording -----------------------------------------------------------------------

#[tokio::test]
async fn an_expired_link_says_so_and_offers_a_new_one_for_the_same_address() {
    let app = spawn_app().await;
    let (token, _) = request(&app, "late@example.com").await;
    app.clock.advance(chrono::Duration::minutes(16));
    let response = app.get_verify(&token).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let html = response.text().await.unwrap();
    assert!(html.contains("This link has expired") && html.contains("Ask for a new one"), "{html}");
    assert!(html.contains(r#"value="late@example.com""#) && html.contains("Send a new link"), "{html}");
}

#[tokio::test]
async fn a_used_link_says_it_was_used_and_what_to_do_if_that_was_not_you() {
    let app = spawn_app().await;
    let (token, _) = request(&app, "twice@example.com").await;
    assert_eq!(app.post_verify(&token).await.status(), StatusCode::SEE_OTHER);
    let response = app.get_verify(&token).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let html = response.text().await.unwrap();
    assert!(html.contains("This link was already used") && html.contains("If that was not you"), "{html}");
}

#[tokio::test]
async fn a_wrong_code_says_how_many_tries_are_left_and_the_last_one_ends_the_attempt() {
    let app = spawn_app().await;
    let (token, code) = request(&app, "typo@example.com").await;
    let wrong = if code.starts_with('A') { "BBBB-BBBB" } else { "AAAA-AAAA" };
    let csrf = app.csrf_token().await;
    let form = [("token", token.as_str()), ("code", wrong), ("csrf", csrf.as_str())];
    let post = || app.post_form("/login/code", &form);
    let response = post().await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("That code is not right. 4 tries left."), "{html}");
    assert!(html.contains(r#"aria-describedby="code-error""#), "the error is not tied to the field: {html}");
    for _ in 0..4 {
        post().await;
    }
    let response = post().await;
    assert_eq!(response.status(), StatusCode::GONE);
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many wrong codes") && html.contains("Ask for a new one"), "{html}");
}

#[tokio::test]
async fn too_many_requests_say_how_many_minutes_to_wait_as_retry_after_does() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.post_login("eager@example.com").await.status(), StatusCode::OK);
    }
    for languages in ["en", "de"] {
        let response = post_login_in(&app, "eager@example.com", languages).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = response.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!(retry_after > 120, "a 15-minute window: {retry_after}");
        let minutes = retry_after.div_ceil(60);
        let html = response.text().await.unwrap();
        let expected = match languages {
            "en" => format!("Too many attempts. Please wait {minutes} minutes and try again."),
            _ => format!("Zu viele Versuche. Bitte warten Sie {minutes} Minuten und versuchen Sie es dann erneut."),
        };
        assert!(html.contains(&expected), "expected {expected:?} in {html}");
    }
}

#[tokio::test]
async fn with_the_store_down_the_page_says_nothing_changed_and_to_try_again() {
    let mut redis = RedisProcess::start().await;
    let app = spawn_app_with(&[("REDIS_URL", &redis.url())]).await;
    let (token, _) = request(&app, "outage@example.com").await;
    redis.stop().await;
    let response = app.get_verify(&token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "5");
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Service Unavailable</h1>"), "{html}");
    assert!(html.contains("temporarily unavailable. Nothing was changed; please try again in a moment."), "{html}");
    assert!(html.contains("Reference:"), "{html}");
}

// ---- The sign-in mail --------------------------------------------------------------------

#[tokio::test]
async fn the_mail_carries_the_product_name_and_support_address_from_settings() {
    let app = spawn_app_with(&[("PRODUCT_NAME", "Acme Login"), ("SUPPORT_EMAIL", "help@acme.example")]).await;
    assert_eq!(post_login_in(&app, "brand@example.com", "de").await.status(), StatusCode::OK);
    let mail = &app.mail.wait_for(1).await[0];
    for part in [mail.text(), mail.html()] {
        assert!(part.contains("Acme Login"), "{part}");
        assert!(part.contains("Fragen? Schreiben Sie an help@acme.example."), "{part}");
    }
}

#[tokio::test]
async fn the_mail_says_the_same_in_its_text_and_html_parts() {
    let app = spawn_app().await;
    assert_eq!(post_login_in(&app, "both@example.com", "en").await.status(), StatusCode::OK);
    let mail = &app.mail.wait_for(1).await[0];
    assert!(mail.is_multipart_alternative());
    let (text, html) = (mail.text(), mail.html());
    let link = magic_link_from(mail);
    let code = code_from(mail);
    for (what, in_text, in_html) in [
        ("link", link.clone(), link.replace('&', "&amp;")),
        ("code", code.clone(), code.clone()),
        ("expiry", "expires in 15 minutes".to_owned(), "expires in 15 minutes".to_owned()),
        ("IP", "from 127.0.0.1".to_owned(), "from 127.0.0.1".to_owned()),
        ("browser", "(Firefox on Linux)".to_owned(), "(Firefox on Linux)".to_owned()),
        (
            "not you",
            "If that was not you, ignore this mail".to_owned(),
            "If that was not you, ignore this mail".to_owned(),
        ),
    ] {
        assert!(text.contains(&in_text), "text part lacks the {what}: {text}");
        assert!(html.contains(&in_html), "HTML part lacks the {what}: {html}");
    }
    // No images: clients that block them show the whole mail. The code stands out.
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("font: 700 1.8rem ui-monospace, Menlo, Consolas, monospace"), "{html}");
}
