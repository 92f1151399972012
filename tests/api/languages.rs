//! The language picker: a link in every page's footer remembers a language in `__Host-lang`,
//! which then wins over `Accept-Language` for the pages and the mail they cause.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_LANGUAGE, LOCATION, REFERER};

use crate::helpers::{PUBLIC_URL, TestApp, hidden_field, set_cookies, spawn_app};

/// `GET /language/{tag}` as a click on the footer link of `from` (a path on this service).
async fn pick(app: &TestApp, tag: &str, from: &str) -> reqwest::Response {
    let request =
        app.client.get(format!("{}/language/{tag}", app.address)).header(REFERER, format!("{PUBLIC_URL}{from}"));
    app.send(request.header("sec-fetch-site", "same-origin")).await
}

/// `GET path` from a browser whose `Accept-Language` says German.
async fn get_german_browser(app: &TestApp, path: &str) -> reqwest::Response {
    app.send(app.client.get(format!("{}{path}", app.address)).header(ACCEPT_LANGUAGE, "de-DE,de;q=0.9")).await
}

fn content_language(response: &reqwest::Response) -> String {
    response.headers().get(CONTENT_LANGUAGE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn every_page_offers_each_language_by_its_own_name() {
    let app = spawn_app().await;
    let html = get_german_browser(&app, "/login").await.text().await.unwrap();
    assert!(html.contains(r#"<nav class="languages" aria-label="Sprache">"#), "{html}");
    assert!(html.contains(r#"<span lang="de" dir="ltr" aria-current="true">Deutsch</span>"#), "{html}");
    for (tag, name) in [("en", "English"), ("fr", "Français"), ("es", "Español"), ("ar", "العربية")] {
        assert!(html.contains(&format!(r#"<a href="/language/{tag}" hreflang="{tag}" lang="{tag}""#)), "{tag}: {html}");
        assert!(html.contains(&format!(">{name}</a>")), "{name}: {html}");
    }
    // Error pages carry it too.
    let missing = get_german_browser(&app, "/no-such-page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains(r#"href="/language/fr""#));
}

#[tokio::test]
async fn picking_french_sets_a_cookie_and_the_next_page_is_french_whatever_accept_language_says() {
    let app = spawn_app().await;
    let response = pick(&app, "fr", "/login?return_to=/account").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?return_to=/account");
    let cookie = set_cookies(&response).into_iter().find(|c| c.starts_with("__Host-lang=")).expect("no cookie");
    assert!(cookie.starts_with("__Host-lang=fr;"), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=34560000"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");

    let page = get_german_browser(&app, "/login").await;
    assert_eq!(content_language(&page), "fr");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<html lang="fr">"#), "{html}");
    assert!(html.contains("<h1>Se connecter</h1>") && !html.contains("Anmelden"), "{html}");
}

#[tokio::test]
async fn a_mail_asked_for_from_a_french_page_is_french() {
    let app = spawn_app().await;
    pick(&app, "fr", "/login").await;
    let page = get_german_browser(&app, "/login").await.text().await.unwrap();
    let csrf = hidden_field(&page, "csrf").unwrap();
    let request = app.client.post(format!("{}/login", app.address)).header(ACCEPT_LANGUAGE, "de");
    let sent = app.send(request.form(&[("email", "marie@example.com"), ("csrf", csrf.as_str())])).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert_eq!(content_language(&sent), "fr");
    assert!(sent.text().await.unwrap().contains("expire dans <strong>15</strong> minutes"));

    let mail = &app.mail.wait_for(1).await[0];
    assert_eq!(mail.subject(), "Votre lien de connexion");
    assert!(mail.text().contains("Le lien expire dans 15 minutes"), "{}", mail.text());
    assert!(mail.html().contains(r#"<html lang="fr">"#));
}

#[tokio::test]
async fn arabic_pages_and_mails_are_right_to_left() {
    let app = spawn_app().await;
    pick(&app, "ar", "/login").await;
    let page = get_german_browser(&app, "/login").await;
    assert_eq!(content_language(&page), "ar");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
    assert!(html.contains("تسجيل الدخول"), "{html}");

    let csrf = hidden_field(&html, "csrf").unwrap();
    app.post_form("/login", &[("email", "layla@example.com"), ("csrf", &csrf)]).await;
    let mail = &app.mail.wait_for(1).await[0];
    assert!(mail.html().contains(r#"<html lang="ar" dir="rtl">"#));
    // 15 is in Arabic's `many` category: "15 دقيقة", not the `few` form "دقائق".
    assert!(mail.text().contains("بعد 15 دقيقة"), "{}", mail.text());
}

#[tokio::test]
async fn an_unknown_language_is_a_404_and_remembers_nothing() {
    let app = spawn_app().await;
    for tag in ["xx", "fr-CA", "..%2F", "EN;q=1"] {
        let response = pick(&app, tag, "/login").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{tag}");
        assert!(!set_cookies(&response).iter().any(|c| c.starts_with("__Host-lang")), "{tag}");
    }
}

#[tokio::test]
async fn another_site_cannot_switch_the_language() {
    let app = spawn_app().await;
    let request = app.client.get(format!("{}/language/ar", app.address)).header("sec-fetch-site", "cross-site");
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!set_cookies(&response).iter().any(|c| c.starts_with("__Host-lang")));
    assert_eq!(app.cookie("__Host-lang"), None);
}

#[tokio::test]
async fn the_picker_only_goes_back_to_a_page_of_this_service() {
    let app = spawn_app().await;
    for referer in [
        "https://evil.example/login",
        "https://login.example.test.evil.example/x",
        "https://login.example.test//evil.example",
    ] {
        let request = app.client.get(format!("{}/language/es", app.address)).header(REFERER, referer);
        let response = app.send(request).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{referer}");
        assert_eq!(response.headers()[LOCATION], "/", "{referer}");
    }
    // Without a Referer (a browser that sends none), it goes to the start.
    let response = app.send(app.client.get(format!("{}/language/es", app.address))).await;
    assert_eq!(response.headers()[LOCATION], "/");
    assert_eq!(app.cookie("__Host-lang").as_deref(), Some("es"));
}

#[tokio::test]
async fn a_cookie_naming_no_language_we_have_falls_back_to_accept_language() {
    let app = spawn_app().await;
    app.set_cookie("__Host-lang", "klingon");
    let page = get_german_browser(&app, "/login").await;
    assert_eq!(content_language(&page), "de");
}

#[tokio::test]
async fn a_text_asked_for_from_a_spanish_page_is_spanish_and_keeps_the_one_time_code_line() {
    use crate::second_factor_sms::{app_with, ok_provider, wait_sent};
    let server = ok_provider().await;
    let app = app_with(&server, &[]).await;
    app.sign_in("sms-es@example.com").await;
    pick(&app, "es", "/account").await;
    let csrf = app.csrf_token().await;
    let page = app.post_form("/account/phone", &[("csrf", csrf.as_str()), ("phone", "+44 7700 900123")]).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(content_language(&page), "es");
    let body = wait_sent(&server, 1).await[0]["Body"].clone();
    let code = body.split_whitespace().next().unwrap().to_owned();
    assert!(body.starts_with(&format!("{code} es tu código de ")), "{body}");
    assert!(body.contains("Caduca en 5 minutos"), "{body}");
    assert!(body.ends_with(&format!(" #{code}")) && body.contains("\n\n@"), "{body}");
}

#[tokio::test]
async fn json_errors_keep_their_english_code_and_say_the_message_in_the_readers_language() {
    let app = spawn_app().await;
    let english = app.get("/api/v1/session").await;
    assert_eq!(english.status(), StatusCode::UNAUTHORIZED);
    let english: serde_json::Value = english.json().await.unwrap();

    let response = get_german_browser(&app, "/api/v1/session").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(content_language(&response), "de");
    let german: serde_json::Value = response.json().await.unwrap();
    assert_eq!(german["error"], english["error"]);
    assert_eq!(german["message"], "Bitte melden Sie sich zuerst an.");

    pick(&app, "fr", "/login").await;
    let french: serde_json::Value = get_german_browser(&app, "/api/v1/session").await.json().await.unwrap();
    assert_eq!(french["error"], english["error"]);
    assert_eq!(french["message"], "Veuillez d’abord vous connecter.");
}

#[tokio::test]
async fn a_refused_form_says_why_in_the_readers_language() {
    let app = spawn_app().await;
    app.sign_in("ines@example.com").await;
    pick(&app, "es", "/account").await;
    let csrf = app.csrf_token().await;
    let response =
        app.post_form("/account/sessions/end", &[("csrf", csrf.as_str()), ("sid", "not a session id")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_language(&response), "es");
    let html = response.text().await.unwrap();
    assert!(html.contains("No existe esa sesión.") && !html.contains("No such session"), "{html}");
}

#[tokio::test]
async fn the_json_sign_in_says_what_is_wrong_with_an_address_in_the_readers_language() {
    let app = spawn_app().await;
    let request = app.client.post(format!("{}/api/v1/login", app.address)).header(ACCEPT_LANGUAGE, "fr-FR");
    let response = app.send(request.json(&serde_json::json!({ "email": "no-at-sign.example.com" }))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_language(&response), "fr");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert_eq!(body["message"], "Cela ne ressemble pas à une adresse e-mail (nom@exemple.fr).");
}

#[tokio::test]
async fn the_account_page_names_how_this_session_signed_in_in_the_readers_language() {
    let app = spawn_app().await;
    app.sign_in("amelie@example.com").await;
    pick(&app, "fr", "/account").await;
    let html = app.get("/account").await.text().await.unwrap();
    assert!(html.contains(" avec un lien de la boîte mail</dd>"), "{html}");
    assert!(!html.contains("with email"), "{html}");
}

/// Posts `fields` with the page's CSRF token.
async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_form(path, &form).await
}

#[tokio::test]
async fn a_refused_phone_number_says_why_in_german_and_in_arabic() {
    let server = crate::second_factor_sms::ok_provider().await;
    let app = crate::second_factor_sms::app_with(&server, &[]).await;
    app.sign_in("telefon@example.com").await;
    pick(&app, "de", "/account").await;
    let response = post_form(&app, "/account/phone", &[("phone", "+44 20 +7946 0958")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_language(&response), "de");
    let html = response.text().await.unwrap();
    assert!(html.contains("Das sieht nicht wie eine Telefonnummer aus."), "{html}");
    assert!(!html.contains("does not look like a phone number"), "{html}");

    pick(&app, "ar", "/account").await;
    let response = post_form(&app, "/account/phone", &[("phone", "0207 946 0958")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_language(&response), "ar");
    let html = response.text().await.unwrap();
    assert!(html.contains("ابدأ بعلامة + ورمز بلدك"), "{html}");
    assert!(!html.contains("country code"), "{html}");
}

#[tokio::test]
async fn a_refused_passkey_name_or_id_says_why_in_german_and_in_arabic() {
    let app = crate::helpers::spawn_app_with(crate::passkeys::PASSKEYS_ON).await;
    app.sign_in("schluessel@example.com").await;
    pick(&app, "de", "/account").await;
    let response = post_form(&app, "/account/passkeys/rename", &[("id", "not-a-passkey"), ("name", "Laptop")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_language(&response), "de");
    let html = response.text().await.unwrap();
    assert!(html.contains("id: Dieses Konto hat keinen solchen Passkey"), "{html}");
    assert!(!html.contains("no such passkey"), "{html}");

    pick(&app, "ar", "/account").await;
    let long = "x".repeat(65);
    let response = post_form(&app, "/account/passkeys/rename", &[("id", "not-a-passkey"), ("name", &long)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_language(&response), "ar");
    let html = response.text().await.unwrap();
    assert!(html.contains("name: 64 حرفًا على الأكثر"), "{html}");
    assert!(!html.contains("at most 64 characters"), "{html}");
}

#[tokio::test]
async fn the_admin_address_change_says_what_is_wrong_with_the_body_in_the_readers_language() {
    const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
    let app = crate::helpers::spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN)]).await;
    app.sign_in("kunde@example.com").await;
    app.sign_in("andere@example.com").await;
    let url = format!("{}/api/v1/admin/users/kunde@example.com", app.address);
    for (body, status, message) in [
        (serde_json::json!({}), StatusCode::BAD_REQUEST, "email: ist erforderlich"),
        (serde_json::json!({ "email": 5 }), StatusCode::BAD_REQUEST, "email: muss eine Zeichenkette sein"),
        (
            serde_json::json!({ "email": "andere@example.com" }),
            StatusCode::CONFLICT,
            "email: gehört zu einem anderen Konto",
        ),
    ] {
        let request = app.client.patch(&url).bearer_auth(TOKEN).header(ACCEPT_LANGUAGE, "de-DE").json(&body);
        let response = app.send(request).await;
        assert_eq!(response.status(), status, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["message"], message, "{body}");
    }
}
