//! A browser-only app (public client, no back end) on another origin finishes the code flow
//! itself: its page calls the token and userinfo endpoints with `fetch()`, which CORS lets it
//! read because its origin is registered. A page on an unregistered origin cannot.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use fantoccini::Locator;

use crate::browser::{Browser, browser_tools};
use crate::site::{ask_for_link, confirm_link, latchkey, link_mail, text_of};
use crate::tools::TempDir;

const CLIENT_ID: &str = "browser-notes";

/// The app's pages: `/` starts the flow (PKCE made with WebCrypto, kept in sessionStorage),
/// `/callback` exchanges the code and asks userinfo, `/probe` reads the discovery document.
fn page(issuer: &str, redirect: &str, title: &str, script: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}<p id=result></p><script>\
         const ISSUER = {issuer:?}; const REDIRECT = {redirect:?}; const CLIENT_ID = {CLIENT_ID:?};\
         const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))\
           .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');\
         const show = (id, text) => {{ const e = document.createElement('strong'); e.id = id;\
           e.textContent = text; document.getElementById('result').appendChild(e); }};\
         {script}</script></body></html>"
    )
}

const START: &str = "document.getElementById('signin').onclick = async () => {\
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));\
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));\
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));\
  sessionStorage.setItem('verifier', verifier); sessionStorage.setItem('state', state);\
  const url = new URL(ISSUER + '/oauth2/authorize');\
  url.search = new URLSearchParams({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT,\
    scope: 'openid email', state, code_challenge: challenge, code_challenge_method: 'S256' });\
  location.href = url; };";

const CALLBACK: &str = "(async () => { try {\
  const q = new URLSearchParams(location.search);\
  if (q.get('state') !== sessionStorage.getItem('state')) throw new Error('state does not match');\
  const answer = await fetch(ISSUER + '/oauth2/token', { method: 'POST', body: new URLSearchParams({\
    grant_type: 'authorization_code', code: q.get('code'), redirect_uri: REDIRECT, client_id: CLIENT_ID,\
    code_verifier: sessionStorage.getItem('verifier') }) });\
  const tokens = await answer.json();\
  if (!tokens.id_token) throw new Error('no id_token: ' + JSON.stringify(tokens));\
  const info = await fetch(ISSUER + '/oauth2/userinfo', { headers: { authorization: 'Bearer ' + tokens.access_token } });\
  show('email', (await info.json()).email);\
  } catch (e) { show('failed', String(e)); } })();";

const PROBE: &str = "fetch(ISSUER + '/.well-known/openid-configuration')\
  .then((r) => r.json()).then((d) => show('read', d.issuer)).catch((e) => show('blocked', String(e)));";

/// Serves the app on `listener` until the handle stops it.
fn serve(listener: TcpListener, issuer: String, redirect: String) -> actix_web::dev::ServerHandle {
    let pages = web::Data::new((issuer, redirect));
    let server = HttpServer::new(move || {
        let html = |body: String| HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body);
        App::new()
            .app_data(pages.clone())
            .route(
                "/",
                web::get().to(move |p: web::Data<(String, String)>| async move {
                    let button = "<button id=signin>Sign in with latchkey</button>";
                    html(page(&p.0, &p.1, "Browser Notes", START, button))
                }),
            )
            .route(
                "/callback",
                web::get().to(move |p: web::Data<(String, String)>| async move {
                    html(page(&p.0, &p.1, "Browser Notes callback", CALLBACK, ""))
                }),
            )
            .route(
                "/probe",
                web::get().to(move |p: web::Data<(String, String)>| async move {
                    html(page(&p.0, &p.1, "Probe", PROBE, ""))
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the app listens")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

#[tokio::test]
async fn a_browser_only_app_on_another_origin_finishes_the_code_flow_with_fetch() {
    let test = "spa";
    let Some(tools) = browser_tools(test) else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the app");
    let port = listener.local_addr().expect("the app's address").port();
    let origin = format!("http://127.0.0.1:{port}");
    let redirect = format!("{origin}/callback");
    let dir = TempDir::new("spa-clients");
    let clients = dir.0.join("clients.toml");
    let registration = format!(
        "[[client]]\nclient_id = \"{CLIENT_ID}\"\nname = \"Browser Notes\"\ntype = \"public\"\n\
         redirect_uris = [\"{redirect}\"]\nallowed_cors_origins = [\"{origin}\"]\n"
    );
    std::fs::write(&clients, registration).expect("write clients file");
    let site = latchkey(&[("CLIENTS_FILE", clients.to_str().expect("utf-8 path"))]).await;
    let app = serve(listener, site.base.clone(), redirect);
    let browser = Browser::open(test, "a", &tools).await;
    let email = "spa-user@example.com";

    browser.goto(&origin).await;
    browser.page("Browser Notes", "app-home").await;
    browser.click("#signin").await;
    let before = ask_for_link(&browser, &site.app, email).await;
    let (link, _) = link_mail(&site.app, before).await;
    confirm_link(&browser, &link, email).await;

    browser.element("#email, #failed", "app-signed-in").await;
    let failed = browser.client.find(Locator::Css("#failed")).await;
    if let Ok(failed) = failed {
        panic!("the page could not finish: {}", failed.text().await.unwrap_or_default());
    }
    assert_eq!(browser.url().await.origin().ascii_serialization(), origin);
    assert_eq!(text_of(&browser, "#email").await, email, "the page should read the email from userinfo");

    // The same page on an origin no client registered (another host name) reads nothing.
    browser.goto(&format!("http://localhost:{port}/probe")).await;
    browser.element("#read, #blocked", "unregistered-origin").await;
    assert!(browser.client.find(Locator::Css("#blocked")).await.is_ok(), "an unregistered origin read discovery");
    // And the registered one does.
    browser.goto(&format!("{origin}/probe")).await;
    browser.element("#read, #blocked", "registered-origin").await;
    assert_eq!(text_of(&browser, "#read").await, site.base);

    browser.close().await;
    app.stop(false).await;
}
