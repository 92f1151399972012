//! A person changes their address in Chromium: asks on the account page, opens the link from
//! the new mailbox in the same browser, confirms, and the account page shows the new address.
//! Every page state on the way is checked by axe-core.

use std::time::{Duration, Instant};

use crate::browser::{Browser, browser_tools};
use crate::helpers::TestApp;
use crate::site::{assert_session_cookie, latchkey, sign_in_with_link};

/// The link in the first mail to `to` with `subject` after `before` (bounded wait).
async fn link_to(app: &TestApp, before: usize, to: &str, subject: &str, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail = app.mail.received().into_iter().skip(before).find(|m| m.subject() == subject && m.to == [to]);
        if let Some(mail) = mail {
            let text = mail.text();
            return text.split_whitespace().find(|w| w.contains(path)).expect("no link in the mail").to_owned();
        }
        assert!(Instant::now() < deadline, "no mail \"{subject}\" to {to}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_person_changes_their_address_with_the_link_from_the_new_mailbox_in_the_same_browser() {
    let test = "email-change";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let (old, new) = ("nora@example.com", "nora.new@example.org");
    sign_in_with_link(&browser, &site.app, &format!("{}/account", site.base), old).await;
    browser.page("Your account", "account").await;

    browser.click("a[href='/account/email']").await;
    browser.page("Change your address", "email-form").await;
    // The current address is refused, naming the field.
    browser.fill("#email", old).await;
    browser.submit("/account/email").await;
    let refused = browser.element("#form-error", "email-form-error").await;
    assert!(refused.contains("already your address") && refused.contains("aria-invalid=\"true\""));

    let before = site.app.mail.received().len();
    browser.fill("#email", new).await;
    browser.submit("/account/email").await;
    let sent = browser.page("Check your new mailbox", "email-sent").await;
    assert!(sent.contains(new), "the page should name the new address");
    assert!(browser.cookie("__Host-email-change").await.is_some(), "asking should bind this browser");

    let link = link_to(&site.app, before, new, "Confirm your new address", "/account/email/verify?").await;
    assert!(link.starts_with(&format!("{}/account/email/verify?", site.base)), "link not built from PUBLIC_URL");
    browser.goto(&link).await;
    let confirm = browser.page("Confirm your new address", "email-confirm").await;
    assert!(!confirm.contains("name=\"code\""), "the asking browser was not recognised");
    browser.submit("/account/email/verify").await;
    let done = browser.page("Your address was changed", "email-changed").await;
    assert!(done.contains(new));

    browser.goto(&format!("{}/account", site.base)).await;
    let account = browser.page("Your account", "account-new-address").await;
    assert!(account.contains(new) && !account.contains(old), "the account page does not show the new address");
    assert_session_cookie(&browser).await;

    // The old mailbox's "this wasn't me" page (its confirm step only).
    let revert =
        link_to(&site.app, before, old, "The address of your account was changed", "/account/email/revert?").await;
    browser.goto(&revert).await;
    browser.page("This wasn't me", "email-revert-confirm").await;
    browser.close().await;
}
