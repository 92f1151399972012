//! Policy `approve` with two Chromium profiles: the laptop asks, the phone opens the link and
//! types the number the laptop shows, and the laptop signs in by itself.

use crate::browser::{Browser, browser_tools};
use crate::site::{ask_for_link, assert_session_cookie, latchkey, link_mail, text_of};

/// A number that is not `shown`.
fn other_than(shown: &str) -> String {
    let n: u8 = shown.parse().expect("the page shows a number");
    (if n == 99 { 10 } else { n + 1 }).to_string()
}

#[tokio::test]
async fn the_phone_types_the_number_the_laptop_shows_and_the_laptop_signs_in_by_itself() {
    let test = "approve";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("CROSS_DEVICE", "approve")]).await;
    let laptop = Browser::open(test, "laptop", &tools).await;
    let phone = Browser::open(test, "phone", &tools).await;
    phone.client.set_window_size(375, 740).await.expect("resize the window");
    let email = "hedy@gmail.com";

    laptop.goto(&format!("{}/login", site.base)).await;
    let before = ask_for_link(&laptop, &site.app, email).await;
    let number = text_of(&laptop, ".match-number").await;
    assert_eq!(number.len(), 2, "the laptop shows a two-digit number: {number:?}");
    let waiting = laptop.element("a[href^='https://mail.google.com/']", "waiting-number-and-gmail").await;
    assert!(waiting.contains("Open Gmail"), "no Gmail button for a gmail.com address");
    // With script the page polls instead of reloading: the reload in <noscript> is inert.
    let reload = laptop
        .client
        .execute("return document.querySelector('meta[http-equiv=refresh]') === null;", vec![])
        .await
        .expect("look for a reload");
    assert_eq!(reload, serde_json::Value::Bool(true), "the waiting page reloads itself although script runs");
    let (link, _) = link_mail(&site.app, before).await;

    // The phone: who asked, and a box to type the number into.
    phone.goto(&link).await;
    let ask = phone.page(&format!("Sign in as {email}"), "approve-ask").await;
    assert!(ask.contains("Type the number shown on that screen"), "{ask}");
    let focused = phone.client.active_element().await.expect("focused element");
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("number"), "the number field should have focus");
    let widths = phone
        .client
        .execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![])
        .await
        .expect("measure the page");
    let (page, view) = (widths[0].as_f64().expect("scrollWidth"), widths[1].as_f64().expect("innerWidth"));
    assert!(page <= view, "the approve page is wider than the phone: {widths}");
    phone.fill("#number", &number).await;
    phone.submit("/login/approve").await;
    phone.page("Approved", "approve-done").await;

    // The laptop gets there with no typing: its page reloads and signs it in.
    let account = laptop.page("Your account", "approve-laptop-signed-in").await;
    assert!(account.contains(email));
    assert_session_cookie(&laptop).await;
    assert!(phone.cookie("__Host-session").await.is_none(), "the approving phone must not be signed in");

    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn a_wrong_number_on_the_phone_stops_the_sign_in_on_the_laptop_too() {
    let test = "approve-wrong";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("CROSS_DEVICE", "approve")]).await;
    let laptop = Browser::open(test, "laptop", &tools).await;
    let phone = Browser::open(test, "phone", &tools).await;
    let email = "mallory-target@example.com";

    laptop.goto(&format!("{}/login", site.base)).await;
    let before = ask_for_link(&laptop, &site.app, email).await;
    let number = text_of(&laptop, ".match-number").await;
    let (link, _) = link_mail(&site.app, before).await;

    phone.goto(&link).await;
    phone.page(&format!("Sign in as {email}"), "approve-wrong-ask").await;
    phone.fill("#number", &other_than(&number)).await;
    phone.submit("/login/approve").await;
    phone.page("That was not the number", "approve-wrong-phone").await;

    let stopped = laptop.page("This sign-in was stopped", "approve-wrong-laptop").await;
    assert!(stopped.contains("action=\"/login\""), "the stopped page offers a new link");
    assert!(laptop.cookie("__Host-session").await.is_none());
    assert!(phone.cookie("__Host-session").await.is_none());

    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn the_waiting_laptop_says_so_by_itself_when_its_mail_is_refused() {
    let test = "approve-undeliverable";
    let Some(tools) = browser_tools(test) else { return };
    let site = latchkey(&[("CROSS_DEVICE", "approve")]).await;
    let laptop = Browser::open(test, "laptop", &tools).await;
    // The test mail server refuses this mailbox for good (550).
    let email = "bounce-perm@example.com";

    laptop.goto(&format!("{}/login", site.base)).await;
    ask_for_link(&laptop, &site.app, email).await;
    // No typing, no reload by hand: the waiting page's own look at /login/status tells.
    let told = laptop.page("We could not deliver the mail", "undeliverable").await;
    assert!(told.contains(&format!("We could not deliver mail to {email}: check the address.")), "{told}");
    assert!(told.contains("action=\"/login\""), "the page offers to ask again");
    assert!(laptop.cookie("__Host-session").await.is_none());
    laptop.close().await;
}
