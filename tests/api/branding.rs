//! Branding per app: the pages and the mail of a sign-in for a registered OIDC client name
//! it (logo, home page, privacy policy), escaped; the app comes only from the registry, by the
//! authorization request the sign-in resumes; plain sign-ins are unchanged.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION};
use url::Url;

use crate::helpers::{TestApp, hidden_field, magic_link_from, token_from_link};
use crate::oidc::spawn_provider_with;
use crate::second_factor::{code, recovery_codes, shown_secret};

const NOTES_CB: &str = "https://notes.example.com/cb";
const EVIL_CB: &str = "https://evil.example.com/cb";
const CLIENTS: &str = r#"
[[client]]
client_id = "notes"
name = "Team notes"
redirect_uris = ["https://notes.example.com/cb"]
type = "public"
require_second_factor = true
logo_uri = "https://cdn.example.com/notes.png"
client_uri = "https://notes.example.com/"
policy_uri = "https://notes.example.com/privacy"

[[client]]
client_id = "evil"
name = "<script>alert(1)</script>"
redirect_uris = ["https://evil.example.com/cb"]
type = "public"
"#;
const DEFAULT_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";
const NOTES_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data: https://cdn.example.com; base-uri 'none'; frame-ancestors 'none'";
const NOTES_HEADER: &str = "<a href=\"https://notes.example.com/\" rel=\"noopener noreferrer\">Team notes</a>";

async fn spawn() -> (TestApp, String) {
    spawn_provider_with(CLIENTS, &[]).await
}

/// `/oauth2/authorize?…` for `client` (with a PKCE challenge, as public clients need).
fn authorize_path(client: &str, redirect: &str) -> String {
    let mut url = Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid email")
        .append_pair("state", "s-1")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSWHYyAK")
        .append_pair("code_challenge_method", "S256");
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// The sign-in page an authorization request sends a stranger to.
async fn login_page_for(app: &TestApp, client: &str, redirect: &str) -> reqwest::Response {
    let response = app.get(&authorize_path(client, redirect)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(login.starts_with("/login?"), "{login}");
    app.get(&login).await
}

/// Asks for a link from a login page's form; the "check your email" response and the mail.
async fn ask(app: &TestApp, login_page: &str, email: &str) -> (reqwest::Response, crate::helpers::ReceivedMail) {
    let csrf = hidden_field(login_page, "csrf").unwrap();
    let mut form = vec![("email", email), ("csrf", csrf.as_str())];
    let return_to = hidden_field(login_page, "return_to");
    if let Some(path) = &return_to {
        form.push(("return_to", path));
    }
    let second_factor = login_page.contains("name=\"second_factor\" value=\"required\"");
    if second_factor {
        form.push(("second_factor", "required"));
    }
    let before = app.mail.received().len();
    let sent = app.post_form("/login", &form).await;
    assert_eq!(sent.status(), StatusCode::OK);
    (sent, app.mail.wait_for_link_mail(before).await)
}

fn csp(response: &reqwest::Response) -> String {
    response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned()
}

fn assert_notes_branded(body: &str, page: &str) {
    assert!(
        body.contains("<img class=\"app-logo\" src=\"https://cdn.example.com/notes.png\" alt=\"\""),
        "{page}: no logo\n{body}"
    );
    assert!(body.contains(NOTES_HEADER), "{page}: the name should link to the app's home page\n{body}");
    assert!(
        body.contains("<a class=\"muted\" href=\"https://notes.example.com/privacy\" rel=\"noopener noreferrer\">Privacy policy of Team notes</a>"),
        "{page}: no privacy policy link\n{body}"
    );
}

fn assert_plain(body: &str, page: &str) {
    assert!(!body.contains("class=\"app"), "{page}: should name no app\n{body}");
}

#[tokio::test]
async fn every_page_of_an_apps_sign_in_shows_its_name_logo_and_links() {
    let (app, issuer) = spawn().await;
    let email = "nora@example.com";

    let login = login_page_for(&app, "notes", NOTES_CB).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(csp(&login), NOTES_CSP, "the logo's origin, and only it, may load");
    let body = login.text().await.unwrap();
    assert!(body.contains("<h1>Sign in to Team notes</h1>"), "{body}");
    assert!(body.contains("<title>Sign in to Team notes · latchkey</title>"), "{body}");
    assert_notes_branded(&body, "sign-in");

    let (sent, mail) = ask(&app, &body, email).await;
    assert_eq!(csp(&sent), NOTES_CSP);
    let sent = sent.text().await.unwrap();
    assert!(sent.contains("Check your email"), "{sent}");
    assert!(sent.contains("You are signing in to <a href=\"https://notes.example.com/\""), "{sent}");
    assert_notes_branded(&sent, "check your email");

    assert_eq!(mail.subject(), "Your sign-in link for Team notes");
    let host = Url::parse(&issuer).unwrap();
    let site = host.host_str().unwrap();
    assert!(
        mail.text().contains(&format!("Use this link to sign in to Team notes (through {site}):")),
        "{}",
        mail.text()
    );
    assert!(
        mail.html().contains(&format!("Use this button to sign in to Team notes (through {site}):")),
        "{}",
        mail.html()
    );
    let link = magic_link_from(&mail);
    assert!(link.starts_with(&format!("{issuer}/login/verify?token=")), "the link comes from PUBLIC_URL: {link}");

    let token = token_from_link(&link);
    let confirm = app.get_verify(&token).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert_eq!(csp(&confirm), NOTES_CSP);
    let confirm = confirm.text().await.unwrap();
    assert!(confirm.contains(&format!("Sign in as {email}?")), "{confirm}");
    assert_notes_branded(&confirm, "confirm");

    // The app requires a second factor and the account has none: it sets one up first.
    let step = app.post_verify(&token).await;
    assert_eq!(step.headers()[LOCATION], "/login/2fa");
    let enroll = app.get("/login/2fa").await;
    assert_eq!(csp(&enroll), NOTES_CSP);
    let enroll = enroll.text().await.unwrap();
    assert_notes_branded(&enroll, "second step: enrollment");
    let secret = shown_secret(&enroll);
    let csrf = hidden_field(&enroll, "csrf").unwrap();
    let codes = app.post_form("/login/2fa/enroll", &[("csrf", &csrf), ("code", &code(&app, &secret, 0))]).await;
    assert_eq!(codes.status(), StatusCode::OK);
    let codes = codes.text().await.unwrap();
    assert_eq!(recovery_codes(&codes).len(), 10);
    assert_notes_branded(&codes, "second step: recovery codes");

    // Next time, the second step asks for the code — on a page naming the app too.
    app.clear_cookies();
    let login = login_page_for(&app, "notes", NOTES_CB).await.text().await.unwrap();
    let (_, mail) = ask(&app, &login, email).await;
    let step = app.post_verify(&token_from_link(&magic_link_from(&mail))).await;
    assert_eq!(step.headers()[LOCATION], "/login/2fa");
    let second = app.get("/login/2fa").await;
    assert_eq!(csp(&second), NOTES_CSP);
    let second = second.text().await.unwrap();
    assert!(second.contains("One more step"), "{second}");
    assert_notes_branded(&second, "second step: code");
}

#[tokio::test]
async fn the_code_page_in_another_browser_names_the_app() {
    let (app, _) = spawn_provider_with(CLIENTS, &[("CROSS_DEVICE", "code")]).await;
    let login = login_page_for(&app, "notes", NOTES_CB).await.text().await.unwrap();
    let (_, mail) = ask(&app, &login, "otto@example.com").await;
    // Another browser (no attempt cookie) opens the link: the code page, for the same app.
    app.clear_cookies();
    let page = app.get_verify(&token_from_link(&magic_link_from(&mail))).await;
    let body = page.text().await.unwrap();
    assert!(body.contains("id=\"code\""), "{body}");
    assert_notes_branded(&body, "code page");
}

#[tokio::test]
async fn an_app_name_is_escaped_on_the_pages_and_in_the_mail() {
    let (app, _) = spawn().await;
    let login = login_page_for(&app, "evil", EVIL_CB).await;
    assert_eq!(csp(&login), DEFAULT_CSP, "an app without a logo adds no image source");
    let body = login.text().await.unwrap();
    assert!(!body.contains("<script>"), "the name reached the page unescaped:\n{body}");
    assert!(body.contains("<h1>Sign in to &#60;script&#62;alert(1)&#60;/script&#62;</h1>"), "{body}");
    assert!(body.contains("<strong>&#60;script&#62;alert(1)&#60;/script&#62;</strong>"), "{body}");

    let (sent, mail) = ask(&app, &body, "eve@example.com").await;
    let sent = sent.text().await.unwrap();
    assert!(!sent.contains("<script>"), "{sent}");
    assert!(sent.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{sent}");
    let html = mail.html();
    assert!(!html.contains("<script>"), "the mail's HTML part carries the name unescaped:\n{html}");
    assert!(html.contains("sign in to &#60;script&#62;alert(1)&#60;/script&#62; (through"), "{html}");
    // The plain-text part and the subject are text: the name as registered.
    assert_eq!(mail.subject(), "Your sign-in link for <script>alert(1)</script>");
    assert!(mail.text().contains("sign in to <script>alert(1)</script> (through"));
}

#[tokio::test]
async fn a_return_to_the_app_cannot_vouch_for_shows_the_plain_pages() {
    let (app, _) = spawn().await;
    let csrf = app.csrf_token().await;
    let unknown = authorize_path("nobody", NOTES_CB);
    let wrong_redirect = authorize_path("notes", "https://attacker.example/cb");
    let twice = format!("{}&client_id=evil", authorize_path("notes", NOTES_CB));
    let elsewhere = authorize_path("notes", NOTES_CB).replace("/oauth2/authorize", "/account");
    for return_to in [unknown, wrong_redirect, twice, elsewhere] {
        let query: String =
            url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", &return_to).finish();
        let login = app.get(&format!("/login?{query}")).await;
        assert_eq!(csp(&login), DEFAULT_CSP, "{return_to}");
        let body = login.text().await.unwrap();
        assert!(body.contains("<h1>Sign in</h1>"), "{return_to}\n{body}");
        assert_plain(&body, &return_to);
        assert!(!body.contains("Team notes"), "{return_to}");

        let before = app.mail.received().len();
        let sent =
            app.post_form("/login", &[("email", "pat@example.com"), ("csrf", &csrf), ("return_to", &return_to)]).await;
        assert_eq!(sent.status(), StatusCode::OK);
        assert_plain(&sent.text().await.unwrap(), &return_to);
        let mail = app.mail.wait_for_link_mail(before).await;
        assert_eq!(mail.subject(), "Your sign-in link", "{return_to}");
        assert!(!mail.html().contains("Team notes"));
    }
}

#[tokio::test]
async fn the_plain_sign_in_names_no_app() {
    let (app, _) = spawn().await;
    let login = app.get("/login").await;
    assert_eq!(csp(&login), DEFAULT_CSP);
    let body = login.text().await.unwrap();
    assert!(body.contains("<h1>Sign in</h1>"), "{body}");
    assert_plain(&body, "sign-in");
    let (sent, mail) = ask(&app, &body, "plain@example.com").await;
    assert_eq!(csp(&sent), DEFAULT_CSP);
    assert_plain(&sent.text().await.unwrap(), "check your email");
    assert_eq!(mail.subject(), "Your sign-in link");
    let confirm = app.get_verify(&token_from_link(&magic_link_from(&mail))).await.text().await.unwrap();
    assert_plain(&confirm, "confirm");
}

#[tokio::test]
async fn the_app_is_named_in_german_too() {
    let (app, _) = spawn().await;
    let response = app.get(&authorize_path("notes", NOTES_CB)).await;
    let login = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let page = app.send(app.client.get(format!("{}{login}", app.address)).header("Accept-Language", "de")).await;
    let body = page.text().await.unwrap();
    assert!(body.contains("<h1>Bei Team notes anmelden</h1>"), "{body}");
    assert!(body.contains(">Datenschutzerklärung von Team notes</a>"), "{body}");
}

#[tokio::test]
async fn the_refusal_in_another_browser_under_deny_names_the_app() {
    let (app, _) = spawn_provider_with(CLIENTS, &[("CROSS_DEVICE", "deny")]).await;
    let login = login_page_for(&app, "notes", NOTES_CB).await.text().await.unwrap();
    let (_, mail) = ask(&app, &login, "dora@example.com").await;
    app.clear_cookies();
    let page = app.get_verify(&token_from_link(&magic_link_from(&mail))).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert_eq!(csp(&page), NOTES_CSP);
    assert_notes_branded(&page.text().await.unwrap(), "other browser, deny");
}
