//! Accessibility in the browser: the pages no other browser test reaches, checked by axe-core
//! (every page of the other tests is checked as they go, tests/e2e/axe.rs); a check that axe
//! does fail a broken page; placeholders that keep their contrast; buttons that keep a border
//! in forced colours (Windows high contrast).

use fantoccini::Locator;
use latchkey::clock::Clock;
use serde_json::Value;

use crate::axe::{Scheme, emulate, show_in, violations};
use crate::browser::{Browser, browser_tools};
use crate::signin::totp_code;
use crate::site::{ask_for_link, latchkey, link_mail, text_of};

/// Runs `script` in the page and returns what it returns.
async fn eval(browser: &Browser, script: &str) -> Value {
    browser.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

#[tokio::test]
async fn the_admin_pages_the_factor_set_up_and_the_error_pages_pass_axe_core_in_light_and_dark_mode() {
    let test = "a11y-pages";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let browser = Browser::open(test, "a", &tools).await;
    let email = "boss@example.com";

    // A sign-in page that refused the address.
    browser.goto(&format!("{}/login", site.base)).await;
    browser.page("Sign in", "login").await;
    browser.fill("#email", "not an address").await;
    browser.submit("/login").await;
    browser.element("#email[aria-invalid=true]", "login-bad-address").await;

    // An administrator must set up an authenticator app in the sign-in itself.
    let before = ask_for_link(&browser, &site.app, email).await;
    let (link, _) = link_mail(&site.app, before).await;
    crate::site::confirm_link(&browser, &link, email).await;
    browser.page("Set up an authenticator app", "enroll-in-step").await;
    let key = text_of(&browser, "code.secret").await;
    browser.fill("#code", "000000").await;
    browser.submit("/login/2fa/enroll").await;
    browser.element("#code[aria-invalid=true][aria-describedby=code-error]", "enroll-wrong-code").await;
    let now = site.app.clock.now().timestamp();
    browser.fill("#code", &totp_code(&key, now)).await;
    browser.submit("/login/2fa/enroll").await;
    browser.page("Save your recovery codes", "recovery-codes").await;
    browser.click("a.button").await;
    browser.page("Your account", "account-admin").await;

    // The admin pages.
    browser.goto(&format!("{}/admin", site.base)).await;
    browser.page("Administration", "admin").await;
    browser.goto(&format!("{}/admin/users?email={email}", site.base)).await;
    browser.page(email, "admin-user").await;

    // "Confirm it's you", then a wrong code there.
    browser.goto(&format!("{}/account/confirm-factor", site.base)).await;
    browser.page("Confirm it's you", "confirm-factor").await;
    browser.fill("#code", "000000").await;
    browser.submit("/account/confirm-factor").await;
    browser.element("#code[aria-invalid=true][aria-describedby=factor-error]", "confirm-factor-wrong-code").await;

    // Error pages: a link that is not one, and an address with nothing there.
    browser.goto(&format!("{}/login/verify?token=not-a-link", site.base)).await;
    browser.element("main h1", "link-problem").await;
    browser.goto(&format!("{}/no-such-page", site.base)).await;
    browser.element("main h1", "not-found").await;

    // Signing out through the OpenID Connect logout endpoint asks first.
    browser.goto(&format!("{}/oauth2/logout", site.base)).await;
    browser.page("Sign out of latchkey?", "logout-confirm").await;
    browser.submit("/logout").await;
    browser.page("Sign in", "after-logout").await;
    browser.close().await;
}

#[tokio::test]
async fn axe_core_fails_a_page_whose_field_lost_its_label() {
    let test = "a11y-broken";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[]).await;
    let browser = Browser::open(test, "a", &tools).await;
    browser.goto(&format!("{}/login", site.base)).await;
    browser.page("Sign in", "login").await;
    assert!(violations(&browser.client).await.is_empty(), "the sign-in page should pass as served");

    // The page's CSP (`default-src 'none'`) keeps the page's own scripts from running, but not
    // WebDriver's: axe ran above, while a script element added to the page does not run.
    let csp = eval(
        &browser,
        "const s = document.createElement('script'); s.textContent = 'window.ranInline = true;';\
         document.body.appendChild(s); return window.ranInline === true;",
    )
    .await;
    assert_eq!(csp, false, "the page's CSP should block its own inline scripts");

    // Now break the page: its field loses its label.
    eval(&browser, "document.querySelector('label[for=email]').remove(); return null;").await;
    for scheme in [Scheme::Light, Scheme::Dark] {
        show_in(&browser.client, scheme).await;
        let found = violations(&browser.client).await;
        let label = found.iter().find(|v| v.id == "label").unwrap_or_else(|| panic!("no `label` violation: {found:?}"));
        assert!(label.nodes.iter().any(|n| n.starts_with("#email")), "{label}");
    }
    browser.close().await;
}

/// WCAG contrast of the placeholder of `css` against its field, as the page shows it now.
async fn placeholder_contrast(browser: &Browser, css: &str) -> f64 {
    let script = format!(
        "const e = document.querySelector({css:?});\
         const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);\
         const lum = (c) => {{ const [r, g, b] = rgb(c).map((v) => {{ v /= 255;\
           return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }});\
           return 0.2126 * r + 0.7152 * g + 0.0722 * b; }};\
         const fg = getComputedStyle(e, '::placeholder').color;\
         let bg = getComputedStyle(e).backgroundColor;\
         if (bg === 'rgba(0, 0, 0, 0)') bg = getComputedStyle(document.body).backgroundColor;\
         const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);\
         return (a + 0.05) / (b + 0.05);"
    );
    eval(browser, &script).await.as_f64().expect("a contrast ratio")
}

#[tokio::test]
async fn placeholders_keep_their_contrast_and_buttons_and_the_typo_hint_keep_a_border_in_forced_colours() {
    let test = "a11y-contrast";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("CROSS_DEVICE", "code")]).await;
    let browser = Browser::open(test, "a", &tools).await;

    // A near miss of a common domain: the login form asks "Did you mean …?" (axe checks it in
    // light and dark mode), and the notice keeps its border in forced colours.
    browser.goto(&format!("{}/login", site.base)).await;
    browser.fill("#email", "ida@gmial.com").await;
    browser.submit("/login").await;
    let html = browser.element(".typo-hint[role=status] #email-hint", "login-typo-hint").await;
    assert!(html.contains("Did you mean ida@gmail.com?"), "{html}");
    emulate(&browser.client, &[("prefers-color-scheme", ""), ("forced-colors", "active")]).await;
    let hint = eval(
        &browser,
        "const s = getComputedStyle(document.querySelector('.typo-hint'));\
         return [s.borderTopStyle, s.borderTopWidth, s.borderTopColor, s.backgroundColor];",
    )
    .await;
    assert_eq!(hint[0], "solid", "no border on the typo hint in forced colours: {hint}");
    assert_ne!(hint[1], "0px", "{hint}");
    assert_ne!(hint[2], hint[3], "the border is the colour of the box: {hint}");
    browser.screenshot("typo-hint-forced-colours").await;
    emulate(&browser.client, &[("forced-colors", "")]).await;

    browser.goto(&format!("{}/login", site.base)).await;
    ask_for_link(&browser, &site.app, "ida@example.com").await;
    let field = "form[action='/login/code'] #code";
    assert!(browser.client.find(Locator::Css(field)).await.is_ok(), "no code field on the waiting page");

    for scheme in [Scheme::Light, Scheme::Dark] {
        show_in(&browser.client, scheme).await;
        let ratio = placeholder_contrast(&browser, field).await;
        assert!(ratio >= 4.5, "the placeholder has {ratio:.2}:1 against its field in {scheme:?} mode");
    }

    // Forced colours drop the button's background: its border is what is left to see.
    emulate(&browser.client, &[("prefers-color-scheme", ""), ("forced-colors", "active")]).await;
    assert_eq!(eval(&browser, "return matchMedia('(forced-colors: active)').matches;").await, true);
    let border = eval(
        &browser,
        "const s = getComputedStyle(document.querySelector('form[action=\"/login/code\"] button[type=submit]'));\
         return [s.borderTopStyle, s.borderTopWidth, s.borderTopColor, s.backgroundColor];",
    )
    .await;
    assert_eq!(border[0], "solid", "no border on the button in forced colours: {border}");
    assert_ne!(border[1], "0px", "{border}");
    assert_ne!(border[2], border[3], "the border is the colour of the button: {border}");
    browser.screenshot("forced-colours").await;
    emulate(&browser.client, &[("forced-colors", "")]).await;
    browser.close().await;
}

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// A stand-in for Twilio that accepts every text.
async fn sms_provider() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")))
        .respond_with(
            wiremock::ResponseTemplate::new(201)
                .set_body_raw(r#"{"sid":"SM0123","status":"queued"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    server
}

/// Waits (bounded) for the provider's `n`th text and returns its code, with a code that is not it.
async fn texted_code(server: &wiremock::MockServer, n: usize) -> (String, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let texts = server.received_requests().await.unwrap_or_default();
        if let Some(text) = texts.get(n - 1) {
            let body: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&text.body).into_owned().collect();
            let code = body["Body"].split_whitespace().next().expect("a code in the text").to_owned();
            let wrong = if code == "000000" { "111111" } else { "000000" };
            return (code, wrong.to_owned());
        }
        assert!(std::time::Instant::now() < deadline, "the provider got {} of {n} texts", texts.len());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_phone_set_up_and_the_texted_second_step_pass_axe_core_and_mark_a_wrong_code() {
    let test = "a11y-sms";
    let Some(tools) = browser_tools(test) else { return };
    let provider = sms_provider().await;
    let uri = provider.uri();
    let site = latchkey(&[
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_ACCOUNT_SID", TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", "test-auth-token"),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_BASE_URL", uri.as_str()),
        ("SMS_ALLOWED_COUNTRIES", "GB"),
    ])
    .await;
    let browser = Browser::open(test, "a", &tools).await;
    let email = "phone-owner@example.com";

    crate::site::sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.element("#phone[placeholder]", "account-phone-field").await;
    browser.fill("#phone", "+44 7700 900123").await;
    browser.submit("/account/phone").await;
    browser.page("Confirm your phone", "phone-confirm").await;
    let (code, wrong) = texted_code(&provider, 1).await;
    browser.fill("#code", &wrong).await;
    browser.submit("/account/phone/confirm").await;
    browser.element("#code[aria-invalid=true][aria-describedby=code-error]", "phone-confirm-wrong-code").await;
    browser.fill("#code", &code).await;
    browser.submit("/account/phone/confirm").await;
    browser.page("Save your recovery codes", "recovery-codes-after-phone").await;
    browser.click("a.button").await;
    browser.page("Your account", "account-with-phone").await;
    crate::site::sign_out(&browser).await;

    // The next sign-in texts a code; a wrong one marks the texted code's field.
    crate::site::sign_in_with_link(&browser, &site.app, &format!("{}/login", site.base), email).await;
    browser.page("One more step", "second-factor-sms").await;
    browser.submit("/login/2fa/sms").await;
    browser.element("#sms_code", "second-factor-sms-sent").await;
    let (code, wrong) = texted_code(&provider, 2).await;
    browser.fill("#sms_code", &wrong).await;
    browser.click("form[action='/login/2fa'] button[type=submit]").await;
    browser
        .element("#sms_code[aria-invalid=true][aria-describedby=factor-error]", "second-factor-sms-wrong-code")
        .await;
    browser.fill("#sms_code", &code).await;
    browser.click("form[action='/login/2fa'] button[type=submit]").await;
    browser.page("Your account", "account-after-sms").await;
    browser.close().await;
}
