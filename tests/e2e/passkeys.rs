//! Passkeys in Chromium, with the WebDriver virtual authenticator standing in for a device:
//! added from the account page through `/static/passkey.js`, then used at the second step.

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::json;

use crate::browser::{Browser, browser_tools};
use crate::site::{latchkey, sign_in_with_link};

/// W3C WebAuthn "Add Virtual Authenticator": a CTAP2 platform authenticator with resident keys
/// and user verification, that always verifies the user.
#[derive(Debug)]
pub(crate) struct AddVirtualAuthenticator;

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

/// W3C WebAuthn "Set User Verified": whether the virtual authenticator verifies the user from
/// now on.
#[derive(Debug)]
pub(crate) struct SetUserVerified {
    pub(crate) authenticator: String,
    pub(crate) verified: bool,
}

impl WebDriverCompatibleCommand for SetUserVerified {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/webauthn/authenticator/{}/uv", self.authenticator))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "isUserVerified": self.verified }).to_string()))
    }
}

#[tokio::test]
async fn a_passkey_added_on_the_account_page_passes_the_second_step_in_chromium() {
    let test = "passkey-second-factor";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("SECOND_FACTOR_METHODS", "totp,passkey")]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let authenticator = browser.client.issue_cmd(AddVirtualAuthenticator).await.expect("a virtual authenticator");
    let authenticator = authenticator.as_str().expect("an authenticator id").to_owned();
    let uv = |verified| SetUserVerified { authenticator: authenticator.clone(), verified };
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

    // The login page's autofill would sign in with the passkey at once: the authenticator
    // verifies nobody until the second step, so the email link is used.
    browser.client.issue_cmd(uv(false)).await.expect("user verification off");
    crate::site::sign_out(&browser).await;
    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.page("One more step", "second-step").await;
    browser.client.issue_cmd(uv(true)).await.expect("user verification on");
    browser.click("form[data-passkey-start] button[type=submit]").await;
    browser.page("Your account", "signed-in-with-passkey").await;
    let session: serde_json::Value =
        browser.client.execute("return fetch('/api/v1/session').then(r => r.json())", vec![]).await.unwrap();
    assert_eq!(session["amr"], json!(["email", "hwk", "mfa"]));
    browser.close().await;
}

#[tokio::test]
async fn a_passkey_offered_after_an_email_sign_in_signs_back_in_at_login_without_a_mail_in_chromium() {
    let test = "passkey-sign-in";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("SECOND_FACTOR_METHODS", "totp,passkey")]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let authenticator = browser.client.issue_cmd(AddVirtualAuthenticator).await.expect("a virtual authenticator");
    let authenticator = authenticator.as_str().expect("an authenticator id").to_owned();
    let email = "return@example.com";

    // After the email sign-in, the account page offers a passkey (the script shows it).
    sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.element("section[data-passkey-offer]:not([hidden]) button", "account-passkey-offer").await;
    browser.click("section[data-passkey-offer] button[type=submit]").await;
    browser.page("Save your recovery codes", "offer-accepted-recovery-codes").await;
    browser.goto(&format!("{}/account", site.base)).await;
    let account = browser.page("Your account", "account-after-offer").await;
    assert!(!account.contains("data-passkey-offer="), "the offer is shown again");
    assert!(browser.cookie("__Host-passkey-offered").await.is_some(), "the offer was not remembered");

    // Signed out: the address field's autofill (conditional UI) offers the passkey, which the
    // virtual authenticator accepts at once, and the browser is signed in again, with no mail.
    site.app.outbox_settled().await;
    let mails = site.app.mail.received().len();
    browser.click("form[action='/logout'] button[type=submit]").await;
    browser.page("Your account", "signed-in-again-by-autofill").await;
    let session: serde_json::Value =
        browser.client.execute("return fetch('/api/v1/session').then(r => r.json())", vec![]).await.unwrap();
    assert_eq!(session["amr"], json!(["hwk", "mfa"]));

    // With the authenticator not verifying the user, the autofill does not sign in; signed out,
    // the login page shows "Sign in with a passkey", and the button signs in once it does.
    let uv = |verified| SetUserVerified { authenticator: authenticator.clone(), verified };
    browser.client.issue_cmd(uv(false)).await.expect("user verification off");
    crate::site::sign_out(&browser).await;
    browser.element("form[action='/login/passkey']:not([hidden]) button", "login-with-passkey-button").await;
    browser.client.issue_cmd(uv(true)).await.expect("user verification on");
    browser.click("form[action='/login/passkey'] button[type=submit]").await;
    browser.page("Your account", "signed-in-with-passkey-button").await;
    let session: serde_json::Value =
        browser.client.execute("return fetch('/api/v1/session').then(r => r.json())", vec![]).await.unwrap();
    assert_eq!(session["amr"], json!(["hwk", "mfa"]));
    site.app.outbox_settled().await;
    assert_eq!(site.app.mail.received().len(), mails, "a passkey sign-in sent mail");
    browser.close().await;
}
