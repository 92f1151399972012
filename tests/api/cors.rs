//! CORS for browser-only apps: the token, userinfo, discovery and JWKS endpoints let a
//! registered origin read their answers, and no other.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::oidc::{ADMIN_TOKEN, browse_authorize, param, spawn_provider_with, urlenc};

const APP_ORIGIN: &str = "http://127.0.0.1:5173";
const APP_CB: &str = "http://127.0.0.1:5173/cb";
const OTHER_ORIGIN: &str = "https://other.example";
const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-to-be-valid-0123456789";

/// A provider with two browser apps: `browser-app` at [`APP_ORIGIN`] and `other-spa` at
/// [`OTHER_ORIGIN`].
async fn spawn() -> TestApp {
    let clients = format!(
        r#"
[[client]]
client_id = "browser-app"
redirect_uris = ["{APP_CB}"]
type = "public"
allowed_cors_origins = ["{APP_ORIGIN}"]

[[client]]
client_id = "other-spa"
redirect_uris = ["https://other.example/cb"]
type = "public"
allowed_cors_origins = ["{OTHER_ORIGIN}"]
"#
    );
    spawn_provider_with(&clients, &[]).await.0
}

async fn call(app: &TestApp, method: Method, path: &str, origin: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(origin) = origin {
        request = request.header("Origin", origin).header("Access-Control-Request-Method", "POST");
    }
    request.send().await.unwrap()
}

fn allow_origin(response: &reqwest::Response) -> Option<String> {
    response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned())
}

fn varies_by_origin(response: &reqwest::Response) -> bool {
    response.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Origin"))
}

const READABLE: [&str; 4] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
    "/oauth2/userinfo",
];

#[tokio::test]
async fn discovery_jwks_and_userinfo_let_a_registered_origin_read_them_and_no_other() {
    let app = spawn().await;
    for path in READABLE {
        for origin in [APP_ORIGIN, OTHER_ORIGIN] {
            let response = call(&app, Method::GET, path, Some(origin)).await;
            assert_eq!(allow_origin(&response).as_deref(), Some(origin), "{path} from {origin}");
            assert!(varies_by_origin(&response), "{path}: no Vary: Origin");
            assert!(!response.headers().contains_key("access-control-allow-credentials"), "{path}");
        }
        for origin in ["https://evil.example", "http://127.0.0.1:5174", "http://127.0.0.1:5173/", "null"] {
            let response = call(&app, Method::GET, path, Some(origin)).await;
            assert_eq!(allow_origin(&response), None, "{path} let {origin} read it");
            assert!(varies_by_origin(&response), "{path}: no Vary: Origin");
        }
        let server_side = call(&app, Method::GET, path, None).await;
        assert_eq!(allow_origin(&server_side), None, "{path}");
    }
    // The answers themselves are unchanged.
    let discovery = call(&app, Method::GET, READABLE[0], Some(APP_ORIGIN)).await;
    assert_eq!(discovery.status(), StatusCode::OK);
    assert!(discovery.json::<Value>().await.unwrap()["token_endpoint"].is_string());
}

#[tokio::test]
async fn a_preflight_is_answered_for_a_registered_origin_and_refused_without_cors_headers_otherwise() {
    let app = spawn().await;
    for path in ["/oauth2/token", "/oauth2/userinfo", "/.well-known/jwks.json", "/.well-known/openid-configuration"] {
        let allowed = call(&app, Method::OPTIONS, path, Some(APP_ORIGIN)).await;
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(allow_origin(&allowed).as_deref(), Some(APP_ORIGIN), "{path}");
        let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains("GET") && methods.contains("POST"), "{methods}");
        let headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");
        assert!(allowed.headers().contains_key("access-control-max-age"));
        assert!(!allowed.headers().contains_key("access-control-allow-credentials"));
        assert!(varies_by_origin(&allowed));

        let refused = call(&app, Method::OPTIONS, path, Some("https://evil.example")).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        for name in ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"] {
            assert!(!refused.headers().contains_key(name), "{path}: {name} for an unregistered origin");
        }
    }
    // Not a CORS path: no preflight answer.
    let login = call(&app, Method::OPTIONS, "/api/v1/login", Some(APP_ORIGIN)).await;
    assert_eq!(allow_origin(&login), None);
}

/// A code for `browser-app` through a signed-in browser, with [`VERIFIER`]'s challenge.
async fn browser_app_code(app: &TestApp) -> String {
    let challenge = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, {
        use sha2::Digest;
        sha2::Sha256::digest(VERIFIER.as_bytes())
    });
    let url = format!(
        "/oauth2/authorize?response_type=code&client_id=browser-app&redirect_uri={}&scope=openid%20email&state=s\
         &code_challenge={challenge}&code_challenge_method=S256",
        urlenc(APP_CB)
    );
    let callback = browse_authorize(app, &format!("http://x{url}"), "spa-user@example.com").await;
    param(&callback, "code").expect("no code")
}

async fn token_request(app: &TestApp, code: &str, origin: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", APP_CB),
        ("code_verifier", VERIFIER),
        ("client_id", "browser-app"),
    ];
    app.client.post(format!("{}/oauth2/token", app.address)).header("Origin", origin).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn the_token_endpoint_lets_only_the_requesting_clients_own_origin_read_the_tokens() {
    let app = spawn().await;
    // Registered by another client: the exchange happens, but that page cannot read the answer.
    let code = browser_app_code(&app).await;
    let elsewhere = token_request(&app, &code, OTHER_ORIGIN).await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert_eq!(allow_origin(&elsewhere), None, "another client's origin read browser-app's tokens");
    assert!(varies_by_origin(&elsewhere));

    let code = browser_app_code(&app).await;
    let own = token_request(&app, &code, APP_ORIGIN).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(allow_origin(&own).as_deref(), Some(APP_ORIGIN));
    assert!(!own.headers().contains_key("access-control-allow-credentials"));
    let tokens: Value = own.json().await.unwrap();
    assert!(tokens["id_token"].is_string());

    // The access token works from that origin.
    let access = tokens["access_token"].as_str().unwrap();
    let info = app
        .client
        .get(format!("{}/oauth2/userinfo", app.address))
        .header("Origin", APP_ORIGIN)
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    assert_eq!(allow_origin(&info).as_deref(), Some(APP_ORIGIN));

    // Its errors are readable too (the app has to learn why; a replay also revokes the access token), by its own origin only.
    let replay = token_request(&app, &code, APP_ORIGIN).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(allow_origin(&replay).as_deref(), Some(APP_ORIGIN));
    let unknown_client = app
        .client
        .post(format!("{}/oauth2/token", app.address))
        .header("Origin", APP_ORIGIN)
        .form(&[("grant_type", "authorization_code"), ("code", "x"), ("client_id", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&unknown_client), None);
}

#[tokio::test]
async fn an_origin_registered_through_the_admin_api_counts_at_once_and_stops_when_removed() {
    let app = spawn().await;
    let store_origin = "https://store-app.example";
    let before = call(&app, Method::GET, READABLE[0], Some(store_origin)).await;
    assert_eq!(allow_origin(&before), None);
    let draft = json!({
        "client_id": "store-spa", "type": "public", "redirect_uris": ["https://store-app.example/cb"],
        "allowed_cors_origins": [store_origin],
    });
    let admin = |method: Method, path: &str| {
        app.client.request(method, format!("{}/api/v1/admin/clients{path}", app.address)).bearer_auth(ADMIN_TOKEN)
    };
    let created = admin(Method::POST, "").json(&draft).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    for path in READABLE {
        let response = call(&app, Method::GET, path, Some(store_origin)).await;
        assert_eq!(allow_origin(&response).as_deref(), Some(store_origin), "{path}");
    }
    let preflight = call(&app, Method::OPTIONS, "/oauth2/token", Some(store_origin)).await;
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);

    assert_eq!(admin(Method::DELETE, "/store-spa").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let after = call(&app, Method::GET, READABLE[0], Some(store_origin)).await;
    assert_eq!(allow_origin(&after), None, "a removed client's origin still reads");
}
