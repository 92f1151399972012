//! A person signing in with Chromium: the link in the same browser, the code after opening
//! the link in another browser, an authenticator app, and signing out.

use latchkey::clock::Clock;

use crate::browser::{Browser, browser_tools};
use crate::site::{ask_for_link, assert_session_cookie, confirm_link, latchkey, link_mail, sign_in_with_link, text_of};

/// Signs out from the account page (which lands on the sign-in page) and checks the cookie
/// is gone and `/account` needs a sign-in again.
async fn sign_out(browser: &Browser, base: &str) {
    crate::site::sign_out(browser).await;
    browser.goto(&format!("{base}/account")).await;
    browser.page("Sign in", "account-after-sign-out").await;
    assert_eq!(browser.url().await.path(), "/login");
}

#[tokio::test]
async fn a_person_signs_in_with_the_link_in_the_same_browser_and_signs_out() {
    let test = "link-same-browser";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let email = "ada@example.com";

    browser.goto(&format!("{}/login", site.base)).await;
    let before = ask_for_link(&browser, &site.app, email).await;
    assert!(browser.cookie("__Host-attempt").await.is_some(), "asking should bind this browser");
    assert!(browser.cookie("__Host-session").await.is_none());
    let (link, _) = link_mail(&site.app, before).await;
    assert!(link.starts_with(&format!("{}/login/verify?token=", site.base)), "link not built from PUBLIC_URL: {link}");

    confirm_link(&browser, &link, email).await;
    let account = browser.page("Your account", "account").await;
    assert_eq!(browser.url().await.path(), "/account");
    assert!(account.contains(email));
    assert_session_cookie(&browser).await;

    sign_out(&browser, &site.base).await;
    browser.close().await;
}

#[tokio::test]
async fn a_link_opened_in_another_browser_is_finished_by_typing_the_code_in_the_browser_that_asked() {
    let test = "code-other-browser";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("CROSS_DEVICE", "code")]).await;
    let asking = Browser::open(test, "laptop", &tools).await;
    let other = Browser::open(test, "phone", &tools).await;
    let email = "grace@example.com";

    asking.goto(&format!("{}/login", site.base)).await;
    let before = ask_for_link(&asking, &site.app, email).await;
    let (link, code) = link_mail(&site.app, before).await;

    // The mail is opened on another device: the page names the account and asks for the code.
    other.goto(&link).await;
    let elsewhere = other.page(&format!("Sign in as {email}"), "link-elsewhere").await;
    assert!(elsewhere.contains("a different browser"), "the other browser should be told it is not the one that asked");
    assert!(!elsewhere.contains("action=\"/login/verify\""), "no one-click sign-in elsewhere under the default policy");

    // Back in the browser that asked, the code goes into its "Check your email" page.
    asking.fill("form[action='/login/code'] #code", &code).await;
    asking.submit("/login/code").await;
    let account = asking.page("Your account", "account").await;
    assert!(account.contains(email));
    assert_session_cookie(&asking).await;

    // The other profile got nothing.
    assert!(other.cookie("__Host-session").await.is_none(), "the other browser must not be signed in");
    other.goto(&format!("{}/account", site.base)).await;
    other.page("Sign in", "other-still-signed-out").await;

    other.close().await;
    asking.close().await;
}

/// The current code of the authenticator app holding `base32`, at latchkey's clock.
pub(crate) fn totp_code(base32: &str, at: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(base32).expect("the page shows base32");
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name("e2e")
        .build()
        .expect("a TOTP from the shown key");
    totp.generate(u64::try_from(at).expect("time after 1970")).to_string()
}

#[tokio::test]
async fn a_person_sets_up_an_authenticator_app_then_signs_in_with_its_code() {
    let test = "totp";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let email = "katherine@example.com";

    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.page("Your account", "account").await;
    browser.submit("/account/totp/enroll").await;
    browser.page("Set up an authenticator app", "enroll").await;
    assert!(browser.client.find(fantoccini::Locator::Css(".qr svg")).await.is_ok(), "no QR code on the page");
    let key = text_of(&browser, "code.secret").await;
    browser.fill("#code", &totp_code(&key, site.app.clock.now().timestamp())).await;
    browser.submit("/account/totp/confirm").await;
    browser.page("Save your recovery codes", "recovery-codes").await;
    browser.click("a.button").await;
    let account = browser.page("Your account", "account-with-app").await;
    assert!(account.contains("Authenticator app: <strong>on</strong>"), "the app should be on");

    crate::site::sign_out(&browser).await;

    // The next sign-in asks for the app's code. A code is accepted once: move latchkey's
    // clock to the next 30-second step rather than waiting for it.
    site.app.clock.advance(chrono::Duration::seconds(30));
    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.page("One more step", "second-factor").await;
    assert!(browser.cookie("__Host-session").await.is_none(), "no session before the second factor");
    browser.fill("#code", "000000").await;
    browser.submit("/login/2fa").await;
    browser.element("p.error[role=alert]", "second-factor-wrong-code").await;
    browser.fill("#code", &totp_code(&key, site.app.clock.now().timestamp())).await;
    browser.submit("/login/2fa").await;
    browser.page("Your account", "account-after-code").await;
    assert_session_cookie(&browser).await;

    browser.close().await;
}
