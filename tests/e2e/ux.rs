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
