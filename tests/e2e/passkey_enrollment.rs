//! A passkey set up at the sign-in step that `SECOND_FACTOR=required` forces, in Chromium with
//! the WebDriver virtual authenticator, then used at the next sign-in's second step.

use serde_json::json;

use crate::browser::{Browser, browser_tools};
use crate::passkeys::{AddVirtualAuthenticator, SetUserVerified};
use crate::site::{latchkey, sign_in_with_link};

#[tokio::test]
async fn a_passkey_set_up_at_a_forced_step_passes_the_next_second_step_in_chromium() {
    let test = "passkey-forced-enrollment";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("SECOND_FACTOR", "required"), ("SECOND_FACTOR_METHODS", "totp,passkey")]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let authenticator = browser.client.issue_cmd(AddVirtualAuthenticator).await.expect("a virtual authenticator");
    let authenticator = authenticator.as_str().expect("an authenticator id").to_owned();
    let uv = |verified| SetUserVerified { authenticator: authenticator.clone(), verified };
    let email = "forced-passkey@example.com";

    // The forced step offers the app and, with the script, a passkey.
    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    let step = browser.page("Set up an authenticator app", "forced-step-offers-a-passkey").await;
    assert!(step.contains("Or set up a passkey instead"), "no passkey offered at the forced step");
    browser.click("form[data-passkey-start] button[type=submit]").await;
    let codes = browser.page("Save your recovery codes", "forced-step-passkey-recovery-codes").await;
    assert!(codes.contains("<code>"), "no recovery codes after the passkey");
    let session: serde_json::Value =
        browser.client.execute("return fetch('/api/v1/session').then(r => r.json())", vec![]).await.unwrap();
    assert_eq!(session["amr"], json!(["email", "hwk", "mfa"]));
    browser.goto(&format!("{}/account", site.base)).await;
    let account = browser.page("Your account", "account-with-forced-passkey").await;
    assert!(account.contains("Chrome on Linux"), "the passkey is not named after the browser");
    browser.click("details.rename summary").await;
    browser.fill("#passkey-rename-1", "Laptop key").await;
    browser.screenshot("account-renaming-passkey").await;
    crate::axe::check(&browser, "account-renaming-passkey").await;
    browser.submit("/account/passkeys/rename").await;
    // The account page again (the same heading): wait for the new name in the list.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !browser.client.source().await.unwrap_or_default().contains("<span>Laptop key<br>") {
        assert!(std::time::Instant::now() < deadline, "the passkey was not renamed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.page("Your account", "account-passkey-renamed").await;

    // Signed out and in again with the link: the passkey passes the second step. (The login
    // page's autofill would sign in with the passkey at once: the authenticator verifies nobody
    // until the second step.)
    browser.client.issue_cmd(uv(false)).await.expect("user verification off");
    crate::site::sign_out(&browser).await;
    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.page("One more step", "forced-passkey-second-step").await;
    browser.client.issue_cmd(uv(true)).await.expect("user verification on");
    browser.click("form[data-passkey-start] button[type=submit]").await;
    browser.page("Your account", "forced-passkey-signed-in").await;
    let session: serde_json::Value =
        browser.client.execute("return fetch('/api/v1/session').then(r => r.json())", vec![]).await.unwrap();
    assert_eq!(session["amr"], json!(["email", "hwk", "mfa"]));
    browser.close().await;
}

#[tokio::test]
async fn an_administrator_held_to_a_passkey_sets_one_up_at_the_step_in_chromium() {
    let test = "passkey-admin-phishing-resistant";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[
        ("SECOND_FACTOR_METHODS", "totp,passkey"),
        ("ADMIN_EMAILS", "boss@example.com"),
        ("ADMIN_PHISHING_RESISTANT", "true"),
    ])
    .await;
    let browser = Browser::open(test, "a", &tools).await;
    browser.client.issue_cmd(AddVirtualAuthenticator).await.expect("a virtual authenticator");

    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), "boss@example.com").await;
    let step = browser.page("Set up a passkey", "admin-step-passkey-only").await;
    assert!(step.contains("Administrator accounts sign in here with a passkey"), "no reason given");
    assert!(!step.contains("class=\"secret\""), "an authenticator app offered to an administrator");
    browser.click("form[data-passkey-start] button[type=submit]").await;
    browser.page("Save your recovery codes", "admin-passkey-recovery-codes").await;
    browser.goto(&format!("{}/admin", site.base)).await;
    browser.page("Administration", "admin-with-passkey").await;
    browser.close().await;
}
