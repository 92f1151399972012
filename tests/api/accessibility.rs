//! What assistive technology is told: a wrong code marks its own field invalid and points at
//! the error, the QR code is hidden (the key beside it says the same), and the account page's
//! sign-out buttons have names that tell them apart. (axe-core checks every page in the
//! browser suite, tests/e2e/axe.rs.)

use reqwest::StatusCode;

use crate::helpers::{hidden_field, spawn_app, spawn_app_with};
use crate::second_factor::{code, enroll, link_step, post, shown_secret};

/// The start tag of the element with `id` in `html`.
fn tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    &html[start..at + html[at..].find('>').unwrap() + 1]
}

/// Asserts that `#field` is marked invalid and described by the element `#error`, which
/// holds the error message, and that no other field is marked.
fn assert_tied(html: &str, field: &str, error: &str) {
    let input = tag(html, field);
    assert!(input.contains("aria-invalid=\"true\""), "#{field} not marked invalid: {input}");
    assert!(input.contains(&format!("aria-describedby=\"{error}\"")), "#{field} not described by #{error}: {input}");
    assert!(tag(html, error).contains("role=\"alert\""), "the error is not announced");
    assert_eq!(html.matches("aria-invalid").count(), 1, "another field is marked invalid too");
}

#[tokio::test]
async fn a_wrong_code_in_the_second_step_marks_the_field_it_was_typed_in() {
    let app = spawn_app().await;
    let (secret, _) = enroll(&app, "aria@example.com").await;
    link_step(&app, "aria@example.com").await;
    let fresh = app.get("/login/2fa").await.text().await.unwrap();
    assert!(!fresh.contains("aria-invalid"), "nothing is invalid before a code is typed");
    let wrong = if code(&app, &secret, 0) == "000000" { "111111" } else { "000000" };

    let response = post(&app, "/login/2fa", &[("code", wrong)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_tied(&response.text().await.unwrap(), "code", "factor-error");

    let response = post(&app, "/login/2fa", &[("recovery_code", "aaaa-bbbb")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert_tied(&html, "recovery_code", "factor-error");
    assert!(html.contains("<details open>"), "the recovery form with the error stays open");
}

#[tokio::test]
async fn a_wrong_code_when_confirming_it_is_you_marks_the_code_field() {
    let app = spawn_app().await;
    enroll(&app, "confirm-aria@example.com").await;
    let response = post(&app, "/account/confirm-factor", &[("code", "000000")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_tied(&response.text().await.unwrap(), "code", "factor-error");
}

#[tokio::test]
async fn a_wrong_code_on_the_set_up_page_marks_the_code_field_and_the_qr_code_is_hidden() {
    let app = spawn_app_with(&[("SECOND_FACTOR", "required")]).await;
    let token = app.request_token("setup-aria@example.com").await;
    app.post_verify(&token).await;
    let html = app.get("/login/2fa").await.text().await.unwrap();
    assert!(!html.contains("aria-invalid"), "nothing is invalid before a code is typed");
    assert!(html.contains("<div class=\"qr\" aria-hidden=\"true\"><svg"), "the QR code is exposed to screen readers");
    let secret = shown_secret(&html);
    let wrong = if code(&app, &secret, 0) == "000000" { "111111" } else { "000000" };
    let response = post(&app, "/login/2fa/enroll", &[("code", wrong)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_tied(&response.text().await.unwrap(), "code", "code-error");

    // The same page from the account: the QR code hidden there too.
    let app = spawn_app().await;
    app.sign_in("account-qr@example.com").await;
    let html = post(&app, "/account/totp/enroll", &[]).await.text().await.unwrap();
    assert!(html.contains("<div class=\"qr\" aria-hidden=\"true\"><svg"), "{html}");
}

#[tokio::test]
async fn the_account_pages_sign_out_buttons_are_named_apart() {
    let app = spawn_app().await;
    app.sign_in("two-buttons@example.com").await;
    app.clear_cookies();
    app.sign_in("two-buttons@example.com").await;
    let html = app.get("/account").await.text().await.unwrap();
    assert!(hidden_field(&html, "sid").is_some(), "no other session listed");

    // This browser's button says so; the other browser's is named after it and where it is.
    assert!(html.contains(">Sign out this browser</button>"), "{html}");
    let other = &html[html.find("action=\"/account/sessions/end\"").unwrap()..];
    let button = &other[other.find("<button").unwrap()..other.find("</button>").unwrap()];
    let label = button.split("aria-label=\"").nth(1).expect("the other browser's button has no name").split('"').next();
    let label = label.unwrap();
    assert!(label.starts_with("Sign out ") && label.contains(" from "), "{label}");
    assert!(button.ends_with(">Sign out"), "the visible text is part of the name: {button}");
    assert_ne!(label, "Sign out this browser");
}
