//! Passkeys in Chromium, with the WebDriver virtual authenticator standing in for a device:
//! added from the account page through `/static/passkey.js`, then used at the second step.

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::json;

use crate::browser::{Browser, browser_tools};
use crate::site::{latchkey, sign_in_with_link};

/// W3C WebAuthn "Add Virtual Authenticator": a CTAP2 platform authenticator with resident keys
/// and user verification, that always verifies the user.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/webauthn/authenticator", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "isUserConsenting": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

#[tokio::test]
async fn a_passkey_added_on_the_account_page_passes_the_second_step_in_chromium() {
    let test = "passkey-second-factor";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("SECOND_FACTOR_METHODS", "totp,passkey")]).await;
    let browser = Browser::open(test, "a", &tools).await;
    browser.client.issue_cmd(AddVirtualAuthenticator).await.expect("a virtual authenticator");
    let email = "passkey@example.com";

    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.goto(&format!("{}/account", site.base)).await;
    browser.page("Your account", "account-before").await;
    browser.fill("#passkey-name", "Virtual key").await;
    browser.click("#passkeys ~ form[data-passkey-start] button[type=submit]").await;
    let codes = browser.page("Save your recovery codes", "passkey-added-recovery-codes").await;
    assert!(codes.contains("<code>"), "no recovery codes after the first factor");
    browser.goto(&format!("{}/account", site.base)).await;
    let account = browser.page("Your account", "account-with-passkey").await;
    assert!(account.contains("Virtual key"), "the passkey is not listed");

    crate::site::sign_out(&browser).await;
    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.page("One more step", "second-step").await;
    browser.click("form[data-passkey-start] button[type=submit]").await;
    browser.page("Your account", "signed-in-with-passkey").await;
    let session: serde_json::Value =
        browser.client.execute("return fetch('/api/v1/session').then(r => r.json())", vec![]).await.unwrap();
    assert_eq!(session["amr"], json!(["email", "hwk", "mfa"]));
    browser.close().await;
}
