//! The sign-in page on a phone-sized screen and from the keyboard.

use fantoccini::key::Key;
use serde_json::Value;

use crate::browser::{Browser, browser_tools};
use crate::site::latchkey;

/// Runs `script` in the page and returns what it returns.
async fn eval(browser: &Browser, script: &str) -> Value {
    browser.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

/// `id`, `type` and outline style of the focused element.
async fn focused(browser: &Browser) -> Value {
    eval(
        browser,
        "const e = document.activeElement; \
         return [e.id, e.type || '', getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth];",
    )
    .await
}

#[tokio::test]
async fn the_sign_in_page_fits_a_phone_and_the_keyboard_reaches_the_field_then_the_button() {
    let test = "phone-keyboard";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[]).await;
    let browser = Browser::open(test, "phone", &tools).await;
    browser.client.set_window_size(375, 740).await.expect("resize the window");
    browser.goto(&format!("{}/login", site.base)).await;
    browser.page("Sign in", "login-phone").await;

    // Nothing wider than the screen: no sideways scrolling on a phone.
    let fits = eval(&browser, "return [document.documentElement.scrollWidth, window.innerWidth];").await;
    let (content, screen) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
    assert!(screen <= 400, "the window did not shrink to phone width: {screen}px");
    assert!(content <= screen, "the page is {content}px wide on a {screen}px screen");

    // The email field has focus on arrival; Tab goes to the button, with a visible ring.
    assert_eq!(focused(&browser).await[0], "email", "the email field should have focus first");
    browser.client.active_element().await.expect("focused element").send_keys(&Key::Tab.to_string()).await.unwrap();
    let button = focused(&browser).await;
    assert_eq!(button[1], "submit", "Tab should reach the submit button next: {button}");
    assert_ne!(button[2], "none", "the focused button shows no outline: {button}");
    browser.screenshot("login-phone-button-focused").await;
    browser.close().await;
}

#[tokio::test]
async fn the_sign_in_page_in_arabic_reads_right_to_left_after_picking_it_in_the_footer() {
    let test = "arabic-rtl";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[]).await;
    let browser = Browser::open(test, "laptop", &tools).await;
    browser.goto(&format!("{}/login", site.base)).await;
    browser.page("Sign in", "login-english").await;

    // The footer link switches the language and comes back to the same page.
    browser.click("nav.languages a[hreflang=ar]").await;
    browser.page("تسجيل الدخول", "login-arabic-rtl").await;
    assert_eq!(browser.url().await.path(), "/login");
    let cookie = browser.cookie("__Host-lang").await.expect("the picked language is remembered");
    assert_eq!(cookie.value(), "ar");

    let page = eval(
        &browser,
        "const html = document.documentElement, card = document.querySelector('main').getBoundingClientRect(); \
         const text = document.createRange(); text.selectNodeContents(document.querySelector('label[for=email]')); \
         const label = text.getBoundingClientRect(); \
         return [html.lang, html.dir, getComputedStyle(document.body).direction, \
                 Math.round(card.right - label.right), Math.round(label.left - card.left), \
                 html.scrollWidth <= window.innerWidth];",
    )
    .await;
    assert_eq!(page[0], "ar", "{page}");
    assert_eq!(page[1], "rtl", "{page}");
    assert_eq!(page[2], "rtl", "{page}");
    // The label's text starts at the card's right edge (its padding away), not at the left.
    let (from_right, from_left) = (page[3].as_i64().unwrap(), page[4].as_i64().unwrap());
    assert!(from_right < from_left, "the label is not on the right: {page}");
    assert_eq!(page[5], true, "the page scrolls sideways: {page}");

    // Another page keeps the language.
    browser.goto(&format!("{}/no-such-page", site.base)).await;
    browser.page("غير موجود", "not-found-arabic").await;
    browser.close().await;
}
