//! Two small web apps the browser meets: one behind nginx that shows who nginx says is signed
//! in, and one that delegates its login to latchkey with OpenID Connect (code + PKCE).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};

/// A running demo app.
pub struct DemoApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    handle: actix_web::dev::ServerHandle,
}

impl DemoApp {
    /// Stops it.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn html(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1>{body}</body></html>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Serves an actix `App` factory on `listener` in the background (a macro: the factory's type
/// is unnameable).
macro_rules! serve {
    ($listener:expr, $factory:expr) => {{
        let listener: TcpListener = $listener;
        let address = format!("http://{}", listener.local_addr().expect("demo address"));
        let server =
            HttpServer::new($factory).workers(1).disable_signals().listen(listener).expect("demo app listens").run();
        let handle = server.handle();
        tokio::spawn(server);
        DemoApp { address, handle }
    }};
}

/// The app nginx protects: every path answers with the identity headers nginx passed on.
pub fn protected_app() -> DemoApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind demo app");
    serve!(listener, || {
        App::new().default_service(web::to(|req: HttpRequest| async move {
            let header = |name: &str| {
                req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default()
            };
            let body = format!(
                "<p>Path: <code id=\"path\">{}</code></p><p>X-Auth-Email: <strong id=\"email\">{}</strong></p>\
                 <p>X-Auth-User-Id: <code id=\"user\">{}</code></p>",
                escape(req.path()),
                escape(&header("x-auth-email")),
                escape(&header("x-auth-user-id")),
            );
            html(actix_web::http::StatusCode::OK, "Protected report", &body)
        }))
    })
}

/// A web app that signs people in through latchkey (public client, PKCE): `/` has a sign-in
/// button, `/start` sends the browser to `/oauth2/authorize`, `/callback` exchanges the code
/// with an independent OIDC library and shows the email from the verified id_token.
pub struct OidcDemo {
    listener: TcpListener,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
}

/// The client id the demo app registers as.
pub const DEMO_CLIENT_ID: &str = "demo-notes";

struct OidcState {
    metadata: CoreProviderMetadata,
    redirect_uri: RedirectUrl,
    http: openidconnect::reqwest::Client,
    pending: Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>,
}

/// The openidconnect client for the demo app (its type is long; building it is cheap).
macro_rules! oidc_client {
    ($state:expr) => {
        CoreClient::from_provider_metadata($state.metadata.clone(), ClientId::new(DEMO_CLIENT_ID.into()), None)
            .set_redirect_uri($state.redirect_uri.clone())
    };
}

impl OidcDemo {
    /// Binds the app's port, so its redirect URI can be registered before latchkey starts.
    pub fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind demo app");
        let address = format!("http://{}", listener.local_addr().expect("demo address"));
        Self { listener, address }
    }

    /// Where latchkey sends the browser back.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.address)
    }

    /// Discovers the provider at `issuer` and starts serving.
    pub async fn run(self, issuer: &str) -> DemoApp {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let issuer = IssuerUrl::new(issuer.to_owned()).expect("issuer URL");
        let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("OIDC discovery");
        let state = web::Data::new(OidcState {
            metadata,
            redirect_uri: RedirectUrl::new(self.redirect_uri()).expect("redirect URI"),
            http,
            pending: Mutex::new(HashMap::new()),
        });
        serve!(self.listener, move || {
            App::new()
                .app_data(state.clone())
                .route("/", web::get().to(home))
                .route("/start", web::get().to(start))
                .route("/callback", web::get().to(callback))
        })
    }
}

async fn home() -> HttpResponse {
    html(
        actix_web::http::StatusCode::OK,
        "Demo Notes",
        "<p>Your notes, behind your company login.</p><p><a id=\"signin\" href=\"/start\">Sign in with latchkey</a></p>",
    )
}

async fn start(state: web::Data<OidcState>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = oidc_client!(state)
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    state.pending.lock().expect("pending").insert(csrf.secret().clone(), (verifier, nonce));
    HttpResponse::Found().insert_header(("Location", url.as_str())).finish()
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(state: web::Data<OidcState>, query: web::Query<Callback>) -> HttpResponse {
    let fail =
        |why: String| html(actix_web::http::StatusCode::BAD_REQUEST, "Demo Notes: sign-in failed", &escape(&why));
    if let Some(error) = &query.error {
        return fail(format!("the provider said {error}"));
    }
    let Some(pending) = query.state.as_ref().and_then(|s| state.pending.lock().expect("pending").remove(s)) else {
        return fail("unknown or missing state".into());
    };
    let Some(code) = query.code.clone() else { return fail("no code".into()) };
    let (verifier, nonce) = pending;
    let client = oidc_client!(state);
    let exchange = match client.exchange_code(AuthorizationCode::new(code)) {
        Ok(request) => request.set_pkce_verifier(verifier).request_async(&state.http).await,
        Err(e) => return fail(format!("cannot exchange: {e}")),
    };
    let tokens = match exchange {
        Ok(tokens) => tokens,
        Err(e) => return fail(format!("token endpoint: {e:?}")),
    };
    let Some(id_token) = tokens.id_token() else { return fail("no id_token".into()) };
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    match id_token.claims(&verifier, &nonce) {
        Ok(claims) => {
            let email = claims.email().map(|e| e.as_str().to_owned()).unwrap_or_default();
            html(
                actix_web::http::StatusCode::OK,
                "Demo Notes",
                &format!("<p>Signed in as <strong id=\"email\">{}</strong></p>", escape(&email)),
            )
        }
        Err(e) => fail(format!("id_token does not verify: {e}")),
    }
}
