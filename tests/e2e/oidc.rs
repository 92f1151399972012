//! A web app delegates its login to latchkey with OpenID Connect, in a real browser: from the
//! app's sign-in button, through latchkey's sign-in, back in the app with the person's email.

use crate::browser::{Browser, browser_tools};
use crate::demo::{DEMO_CLIENT_ID, OidcDemo};
use crate::site::{ask_for_link, assert_session_cookie, confirm_link, latchkey, link_mail, text_of};
use crate::tools::TempDir;

#[tokio::test]
async fn an_app_delegates_its_login_and_gets_the_persons_email_back() {
    let test = "oidc";
    let Some(tools) = browser_tools(test) else { return };
    let demo = OidcDemo::bind();
    let dir = TempDir::new("oidc-clients");
    let clients = dir.0.join("clients.toml");
    let registration = format!(
        "[[client]]\nclient_id = \"{DEMO_CLIENT_ID}\"\nname = \"Demo Notes\"\nredirect_uris = [\"{}\"]\ntype = \"public\"\nclient_uri = \"{}/\"\n",
        demo.redirect_uri(),
        demo.address
    );
    std::fs::write(&clients, registration).expect("write clients file");
    let site = latchkey(&[("CLIENTS_FILE", clients.to_str().expect("utf-8 path"))]).await;
    let demo_address = demo.address.clone();
    let app = demo.run(&site.base).await;
    let browser = Browser::open(test, "a", &tools).await;
    let email = "barbara@example.com";

    browser.goto(&demo_address).await;
    browser.page("Demo Notes", "app-home").await;
    browser.click("#signin").await;
    // latchkey's sign-in page names the app, from its registration, linked to its home page.
    browser.page("Sign in to Demo Notes", "app-sign-in").await;
    assert_eq!(text_of(&browser, "#app a").await, "Demo Notes");
    let before = ask_for_link(&browser, &site.app, email).await;
    assert_eq!(browser.url().await.origin().ascii_serialization(), site.base, "the sign-in should be latchkey's");
    let (link, _) = link_mail(&site.app, before).await;
    confirm_link(&browser, &link, email).await;

    browser.element("#email", "app-signed-in").await;
    let back = browser.url().await;
    assert_eq!(back.origin().ascii_serialization(), demo_address, "should end back in the app, at {back}");
    assert_eq!(back.path(), "/callback");
    assert_eq!(text_of(&browser, "#email").await, email, "the app should show the email from the id_token");
    // latchkey's own session is in the browser too, so the next app sign-in skips the form.
    browser.goto(&site.base).await;
    assert_session_cookie(&browser).await;
    browser.goto(&demo_address).await;
    browser.page("Demo Notes", "app-home-again").await;
    browser.click("#signin").await;
    browser.element("#email", "app-signed-in-again").await;
    assert_eq!(text_of(&browser, "#email").await, email);

    browser.close().await;
    app.stop().await;
}
