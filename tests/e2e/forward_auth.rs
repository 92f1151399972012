//! A real nginx runs `examples/nginx.conf` in front of a demo app, asking latchkey
//! (`auth_request` to `/auth/verify`) about every request: anonymous people go to the sign-in
//! page and come back to the page they wanted, and the app learns who they are.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::browser::Browser;
use crate::demo::protected_app;
use crate::helpers::{free_port, spawn_app_with};
use crate::nginx::Nginx;
use crate::site::{ask_for_link, assert_session_cookie, confirm_link, link_mail, text_of};
use crate::tools::{Tool, require};

#[tokio::test]
async fn nginx_sends_anonymous_people_to_sign_in_and_back_to_the_protected_page() {
    let test = "nginx";
    let Some(tools) = require(test, &[Tool::Chromium, Tool::Chromedriver, Tool::Nginx]) else { return };
    let upstream = protected_app();
    // nginx serves the app and latchkey on one origin, which is latchkey's PUBLIC_URL.
    let nginx_port = free_port();
    let origin = format!("http://localhost:{nginx_port}");
    let latchkey = spawn_app_with(&[("PUBLIC_URL", origin.as_str()), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let nginx = Nginx::start(&tools[2], nginx_port, &latchkey.address, &upstream.address).await;
    let protected = format!("{origin}/reports/q3");
    let email = "margaret@example.com";

    // Anonymous, even claiming to be someone: 303 to the sign-in page, which will come back.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let anonymous = http
        .get(format!("{protected}?tab=summary"))
        .header("X-Auth-Email", "mallory@example.com")
        .send()
        .await
        .unwrap_or_else(|e| panic!("nginx did not answer: {e}\n{}", nginx.error_log()));
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{}", nginx.error_log());
    assert_eq!(anonymous.headers()[LOCATION], "/login?return_to=/reports/q3");

    // In the browser: the protected page, the sign-in, and back.
    let browser = Browser::open(test, "a", &tools).await;
    browser.goto(&protected).await;
    let before = ask_for_link(&browser, &latchkey, email).await;
    let (link, _) = link_mail(&latchkey, before).await;
    assert!(link.starts_with(&format!("{origin}/login/verify?")), "the link should come through nginx: {link}");
    confirm_link(&browser, &link, email).await;
    browser.page("Protected report", "protected-page").await;
    let url = browser.url().await;
    assert_eq!((url.origin().ascii_serialization(), url.path()), (origin.clone(), "/reports/q3"));
    assert_eq!(text_of(&browser, "#email").await, email, "the app should get X-Auth-Email from nginx");
    assert!(!text_of(&browser, "#user").await.is_empty(), "the app should get X-Auth-User-Id");
    assert_session_cookie(&browser).await;
    // Chromium posts our forms with `Origin: null` (the pages say `Referrer-Policy:
    // no-referrer`) and `Sec-Fetch-Site: same-origin`: the case latchkey's CSRF check lets through.
    let posted = nginx.access_log();
    assert!(
        posted.contains("POST /login/verify origin=null site=same-origin status=303"),
        "how did Chromium post the confirm form?\n{posted}"
    );

    // What the browser sent for the app cannot be overridden by a header it adds.
    let session = browser.cookie("__Host-session").await.expect("session cookie");
    let spoofed = http
        .get(&protected)
        .header(COOKIE, format!("__Host-session={}", session.value()))
        .header("X-Auth-Email", "mallory@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), StatusCode::OK);
    let body = spoofed.text().await.unwrap();
    assert!(body.contains(email) && !body.contains("mallory"), "nginx must replace X-Auth-Email: {body}");

    // Signing out (latchkey's page, through nginx) closes the app again.
    browser.goto(&format!("{origin}/account")).await;
    browser.page("Your account", "account-through-nginx").await;
    crate::site::sign_out(&browser).await;
    browser.goto(&protected).await;
    browser.page("Sign in", "protected-after-sign-out").await;
    assert_eq!(browser.url().await.path(), "/login");
    // The old cookie, replayed, is dead: sign-out ended the session in latchkey, not only the
    // browser's cookie.
    let replayed =
        http.get(&protected).header(COOKIE, format!("__Host-session={}", session.value())).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);

    browser.close().await;
    upstream.stop().await;
}

/// The integration guide's nginx section points at the example file the test above runs (no
/// copy of it that could drift), and names the parts of it that the file really has.
#[test]
fn the_integration_guide_points_at_the_nginx_config_that_is_tested() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("examples/nginx.conf")).expect("examples/nginx.conf");
    let guide = std::fs::read_to_string(root.join("docs/integration.md")).expect("docs/integration.md");
    assert!(
        guide.contains("](../examples/nginx.conf)"),
        "docs/integration.md does not link examples/nginx.conf, the file the browser suite runs"
    );
    assert!(!guide.contains("```nginx"), "docs/integration.md copies an nginx config: link the tested file instead");
    for directive in [
        "auth_request /_latchkey_verify",
        "error_page 401",
        "auth_request_set $latchkey_email",
        "keepalive 32;",
        "proxy_pass http://latchkey/auth/verify;",
    ] {
        assert!(example.contains(directive), "examples/nginx.conf lost `{directive}`");
    }
}
