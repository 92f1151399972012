//! latchkey served where a browser reaches it, and the steps people take on it.

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::{TestApp, code_from, free_port, magic_link_from, spawn_app_with};

/// A latchkey whose PUBLIC_URL is the address the browser uses: `http://localhost:<port>`
/// (browsers treat loopback as a secure context and keep `Secure`/`__Host-` cookies on it).
pub struct Site {
    /// The app and its mail sink.
    pub app: TestApp,
    /// `http://localhost:<port>`: what the browser types, and PUBLIC_URL.
    pub base: String,
}

/// Starts latchkey on a free port with PUBLIC_URL = `http://localhost:<port>`.
pub async fn latchkey(extra: &[(&str, &str)]) -> Site {
    let port = free_port();
    let base = format!("http://localhost:{port}");
    let bind = format!("127.0.0.1:{port}");
    let mut env = vec![("BIND_ADDR", bind.as_str()), ("PUBLIC_URL", base.as_str())];
    env.extend_from_slice(extra);
    Site { app: spawn_app_with(&env).await, base }
}

/// On the sign-in page: types `email`, asks for the link, and waits for "Check your email".
/// Returns how many mails had arrived before, for [`link_mail`].
pub async fn ask_for_link(browser: &Browser, app: &TestApp, email: &str) -> usize {
    browser.page("Sign in", "login").await;
    let before = app.mail.received().len();
    browser.fill("#email", email).await;
    browser.submit("/login").await;
    let sent = browser.page("Check your email", "check-email").await;
    assert!(sent.contains(email), "the page should name the address");
    before
}

/// The link and code of the first sign-in mail after `before`.
pub async fn link_mail(app: &TestApp, before: usize) -> (String, String) {
    let mail = app.mail.wait_for_link_mail(before).await;
    (magic_link_from(&mail), code_from(&mail))
}

/// Opens `link` in the browser that asked, checks the confirm page, and presses Sign in.
pub async fn confirm_link(browser: &Browser, link: &str, email: &str) {
    browser.goto(link).await;
    let confirm = browser.page(&format!("Sign in as {email}"), "confirm").await;
    assert!(!confirm.contains("not the browser that asked"), "the asking browser was not recognised");
    browser.submit("/login/verify").await;
}

/// The whole link sign-in from `start` (a page that leads to the sign-in form).
pub async fn sign_in_with_link(browser: &Browser, app: &TestApp, start: &str, email: &str) {
    browser.goto(start).await;
    let before = ask_for_link(browser, app, email).await;
    let (link, _) = link_mail(app, before).await;
    confirm_link(browser, &link, email).await;
}

/// Checks, in the browser's own cookie jar, that the session cookie is there and is what
/// DESIGN promises: HttpOnly, Secure, SameSite=Lax, Path=/, host-only.
pub async fn assert_session_cookie(browser: &Browser) {
    let cookie = browser.cookie("__Host-session").await.expect("no __Host-session cookie in the browser");
    assert_eq!(cookie.http_only(), Some(true), "__Host-session must be HttpOnly: {cookie:?}");
    assert_eq!(cookie.secure(), Some(true), "__Host-session must be Secure: {cookie:?}");
    assert_eq!(cookie.same_site().map(|s| s.to_string()).as_deref(), Some("Lax"), "{cookie:?}");
    assert_eq!(cookie.path(), Some("/"), "{cookie:?}");
    assert!(cookie.domain().is_none_or(|d| !d.starts_with('.')), "a __Host- cookie is host-only: {cookie:?}");
    assert!(!cookie.value().is_empty());
}

/// The text of the element matched by `css`.
pub async fn text_of(browser: &Browser, css: &str) -> String {
    let element = browser.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    element.text().await.expect("element text")
}

/// Presses "Sign out" on the account page: back at the sign-in page, the cookie gone.
pub async fn sign_out(browser: &Browser) {
    browser.click("form[action='/logout'] button[type=submit]").await;
    browser.page("Sign in", "signed-out").await;
    assert_eq!(browser.url().await.path(), "/login", "sign-out should land on the sign-in page");
    assert!(browser.cookie("__Host-session").await.is_none(), "the session cookie outlived sign-out");
}
