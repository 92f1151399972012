//! Delegation: a web app signs people in through latchkey with OpenID Connect (code + PKCE),
//! driven by an independent client library; attacks on the flow; forward-auth.

use openidconnect::core::{
    CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use url::Url;

use crate::helpers::{TestApp, free_port, hidden_field, spawn_app_with};

pub(crate) const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
pub(crate) const WIKI_SECRET: &str = "wiki-secret-wiki-secret-wiki-secret";
pub(crate) const WIKI_CB: &str = "https://wiki.example.com/oidc/callback";
pub(crate) const SPA_CB: &str = "http://127.0.0.1:9999/cb";

pub(crate) fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// An app whose PUBLIC_URL is the address tests reach it at (OIDC clients check the issuer),
/// with a confidential client `wiki` and a public client `spa`.
pub(crate) async fn spawn_provider() -> (TestApp, String) {
    spawn_provider_with("", &[]).await
}

/// [`spawn_provider`] with more clients-file text.
pub(crate) async fn spawn_provider_with(extra_clients: &str, extra_env: &[(&str, &str)]) -> (TestApp, String) {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let clients = format!(
        r#"
[[client]]
client_id = "wiki"
name = "Team wiki"
redirect_uris = ["{WIKI_CB}"]
post_logout_redirect_uris = ["https://wiki.example.com/bye"]
type = "confidential"
secret_sha256 = "{}"

[[client]]
client_id = "spa"
redirect_uris = ["{SPA_CB}"]
type = "public"
"#,
        sha256_hex(WIKI_SECRET)
    ) + extra_clients;
    let path = std::env::temp_dir().join(format!("latchkey-clients-{port}.toml"));
    std::fs::write(&path, clients).unwrap();
    let bind = format!("127.0.0.1:{port}");
    let mut env = vec![
        ("BIND_ADDR", bind.as_str()),
        ("PUBLIC_URL", issuer.as_str()),
        ("CLIENTS_FILE", path.to_str().unwrap()),
        ("ADMIN_API_TOKEN", ADMIN_TOKEN),
    ];
    env.extend_from_slice(extra_env);
    let app = spawn_app_with(&env).await;
    (app, issuer)
}

pub(crate) fn path_of(url: &str) -> String {
    let url = Url::parse(url).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).expect("no Location").to_str().unwrap().to_owned()
}

/// The browser part: open the authorize URL, sign in through the mailed link if needed, and
/// return where latchkey finally sends the browser (the app's redirect URI).
pub(crate) async fn browse_authorize(app: &TestApp, authorize_url: &str, email: &str) -> Url {
    let mut response = app.get(&path_of(authorize_url)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mut next = location(&response);
    if next.starts_with("/login") {
        let page = app.get(&next).await.text().await.unwrap();
        let return_to = hidden_field(&page, "return_to").expect("login page lost return_to");
        let csrf = hidden_field(&page, "csrf").unwrap();
        let before = app.mail.received().len();
        app.post_form("/login", &[("email", email), ("csrf", &csrf), ("return_to", &return_to)]).await;
        let mail = app.mail.wait_for_link_mail(before).await;
        let token = crate::helpers::token_from_link(&crate::helpers::magic_link_from(&mail));
        response = app.post_verify(&token).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", response.text().await.unwrap());
        next = location(&response);
        assert!(next.starts_with("/oauth2/authorize?"), "after sign-in went to {next}");
        response = app.get(&next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next}: {}", response.text().await.unwrap());
        next = location(&response);
    }
    Url::parse(&next).expect("not redirected to the app")
}

pub(crate) fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub(crate) fn http_client() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_web_app_signs_a_person_in_with_a_standard_oidc_client() {
    let (app, issuer) = spawn_provider().await;
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("wiki".into()),
        Some(ClientSecret::new(WIKI_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(WIKI_CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let callback = browse_authorize(&app, authorize_url.as_str(), "wiki-user@example.com").await;
    assert_eq!(format!("{}://{}{}", callback.scheme(), callback.host_str().unwrap(), callback.path()), WIKI_CB);
    assert_eq!(param(&callback, "state").as_deref(), Some(state.secret().as_str()), "state not echoed unchanged");
    let code = param(&callback, "code").expect("no code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("no id_token");
    let id_verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let claims = id_token.claims(&id_verifier, &nonce).expect("id_token does not verify");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("wiki-user@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.audiences()[0].as_str(), "wiki");
    assert_eq!(claims.issuer().as_str(), issuer);

    let info: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.unwrap();
    assert_eq!(info.subject().as_str(), claims.subject().as_str());

    // A second authorization with the session alive skips the sign-in entirely.
    let (again, _, _) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let response = app.get(&path_of(again.as_str())).await;
    assert!(location(&response).starts_with(WIKI_CB), "a live session should go straight back");
}

/// A code for `client` (PKCE challenge of `verifier` when given) through a signed-in browser.
pub(crate) async fn code_for(app: &TestApp, client: &str, redirect: &str, verifier: Option<&str>) -> String {
    let mut url = Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid email")
        .append_pair("state", "s-1");
    if let Some(v) = verifier {
        let challenge = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, {
            use sha2::Digest;
            sha2::Sha256::digest(v.as_bytes())
        });
        url.query_pairs_mut().append_pair("code_challenge", &challenge).append_pair("code_challenge_method", "S256");
    }
    let callback = browse_authorize(app, url.as_str(), "attacked@example.com").await;
    param(&callback, "code").expect("no code")
}

pub(crate) async fn exchange(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut request = app.client.post(format!("{}/oauth2/token", app.address)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-to-be-valid-0123456789";

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_token_it_issued() {
    let (app, _) = spawn_provider().await;
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WIKI_CB)];
    let (status, first) = exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap().to_owned();
    let userinfo = || app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(&access).send();
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);
    let (status, second) = exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await;
    assert_eq!((status, second["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED, "replay did not revoke the token");
}

#[tokio::test]
async fn signing_out_ends_the_access_tokens_of_that_session() {
    let (app, _) = spawn_provider().await;
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WIKI_CB)];
    let (_, tokens) = exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = || app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(&access).send();
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED, "token outlived its session");
}

#[tokio::test]
async fn pkce_and_client_authentication_are_enforced() {
    let (app, _) = spawn_provider().await;
    // Public client: wrong or missing verifier.
    for verifier in [Some("a-different-verifier-that-is-long-enough-0123456789-xyz"), None] {
        let code = code_for(&app, "spa", SPA_CB, Some(VERIFIER)).await;
        let mut form =
            vec![("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", SPA_CB), ("client_id", "spa")];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let (status, body) = exchange(&app, &form, None).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{verifier:?}");
    }
    // The right verifier works.
    let code = code_for(&app, "spa", SPA_CB, Some(VERIFIER)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", SPA_CB),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(exchange(&app, &form, None).await.0, StatusCode::OK);
    // A public client cannot start without PKCE.
    let url =
        format!("/oauth2/authorize?response_type=code&client_id=spa&redirect_uri={}&scope=openid", urlenc(SPA_CB));
    let to = location(&app.get(&url).await);
    assert!(to.starts_with(SPA_CB) && to.contains("error=invalid_request"), "{to}");

    // Confidential client: wrong secret, secret by POST, no secret.
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WIKI_CB)];
    let (status, body) = exchange(&app, &form, Some(("wiki", "wrong"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let mut post_form = form.to_vec();
    post_form.push(("client_id", "wiki"));
    assert_eq!(exchange(&app, &post_form, None).await.0, StatusCode::UNAUTHORIZED, "no secret accepted");
    post_form.push(("client_secret", WIKI_SECRET));
    assert_eq!(exchange(&app, &post_form, None).await.0, StatusCode::OK, "client_secret_post refused");
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_redirect_uri_and_sixty_seconds() {
    let (app, _) = spawn_provider().await;
    // Another client presents wiki's code.
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let form =
        [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", SPA_CB), ("client_id", "spa")];
    let (status, body) = exchange(&app, &form, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // Another redirect_uri at the token endpoint.
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://wiki.example.com/other"),
    ];
    assert_eq!(exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await.1["error"], "invalid_grant");
    // Too late.
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    app.clock.advance(chrono::Duration::seconds(61));
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WIKI_CB)];
    assert_eq!(exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await.1["error"], "invalid_grant");
    // Made up.
    let form = [("grant_type", "authorization_code"), ("code", "made-up"), ("redirect_uri", WIKI_CB)];
    assert_eq!(exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await.1["error"], "invalid_grant");
}

pub(crate) fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn redirect_uris_must_match_exactly_or_nothing_redirects() {
    let (app, _) = spawn_provider().await;
    app.sign_in("someone@example.com").await;
    for evil in [
        "https://wiki.example.com/oidc/callback/extra",
        "https://wiki.example.com/oidc/callback?x=1",
        "https://wiki.example.com/oidc/callback#frag",
        "https://evil.example/oidc/callback",
        "http://wiki.example.com/oidc/callback",
        "https://wiki.example.com@evil.example/oidc/callback",
        "https://WIKI.example.com/oidc/callback",
    ] {
        let url = format!(
            "/oauth2/authorize?response_type=code&client_id=wiki&redirect_uri={}&scope=openid&state=x",
            urlenc(evil)
        );
        let response = app.get(&url).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{evil}");
        assert!(response.headers().get(LOCATION).is_none(), "{evil} redirected");
    }
    let unknown =
        format!("/oauth2/authorize?response_type=code&client_id=nope&redirect_uri={}&scope=openid", urlenc(WIKI_CB));
    assert_eq!(app.get(&unknown).await.status(), StatusCode::BAD_REQUEST);
    // After the redirect URI is trusted, errors go back to the app with the state.
    let bad_scope = format!(
        "/oauth2/authorize?response_type=code&client_id=wiki&redirect_uri={}&scope=profile&state=keep%20me",
        urlenc(WIKI_CB)
    );
    let to = Url::parse(&location(&app.get(&bad_scope).await)).unwrap();
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(&to, "state").as_deref(), Some("keep me"));
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let (app, _) = spawn_provider().await;
    let url = format!(
        "/oauth2/authorize?response_type=code&client_id=wiki&redirect_uri={}&scope=openid&prompt=none&state=p",
        urlenc(WIKI_CB)
    );
    let to = Url::parse(&location(&app.get(&url).await)).unwrap();
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn forged_id_tokens_are_rejected_by_the_client_library() {
    // The test holds the provider's signing key, so a forged claim can carry a valid signature.
    let (key_path, pem) = crate::helpers::jwt_key_file();
    let (app, issuer) = spawn_provider_with("", &[("JWT_KEYS", &key_path)]).await;
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("wiki".into()),
        Some(ClientSecret::new(WIKI_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(WIKI_CB.into()).unwrap());
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let tokens = client.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&http).await.unwrap();
    let raw = tokens.id_token().unwrap().to_string();
    let parts: Vec<&str> = raw.split('.').collect();
    let b64 = |v: &Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let decode = |s: &str| -> Value {
        serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s).unwrap())
            .unwrap()
    };
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let nonce_ok = |_: Option<&Nonce>| Ok::<(), String>(());
    // The genuine token verifies (control).
    let genuine: openidconnect::core::CoreIdToken = raw.parse().unwrap();
    assert!(genuine.claims(&verifier, nonce_ok).is_ok());
    // alg: none.
    let none = format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), parts[1]);
    if let Ok(token) = none.parse::<openidconnect::core::CoreIdToken>() {
        assert!(token.claims(&verifier, nonce_ok).is_err(), "alg none accepted");
    }
    // Re-signed with the provider's own key: the same claims verify (control), another
    // audience does not — only the audience check can refuse it.
    let header: jsonwebtoken::Header = serde_json::from_value(decode(parts[0])).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let sign = |claims: &Value| jsonwebtoken::encode(&header, claims, &key).unwrap();
    let payload = decode(parts[1]);
    let resigned: openidconnect::core::CoreIdToken = sign(&payload).parse().unwrap();
    assert!(resigned.claims(&verifier, nonce_ok).is_ok(), "a correctly re-signed token was refused");
    let mut other = payload.clone();
    other["aud"] = "someone-else".into();
    let wrong_aud: openidconnect::core::CoreIdToken = sign(&other).parse().unwrap();
    assert!(wrong_aud.claims(&verifier, nonce_ok).is_err(), "wrong aud accepted");
    // A tampered payload under the original signature is refused too.
    let tampered = format!("{}.{}.{}", parts[0], b64(&other), parts[2]);
    let tampered: openidconnect::core::CoreIdToken = tampered.parse().unwrap();
    assert!(tampered.claims(&verifier, nonce_ok).is_err(), "tampered payload accepted");
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_and_returns_to_a_registered_page() {
    let (app, _) = spawn_provider().await;
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WIKI_CB)];
    let (_, tokens) = exchange(&app, &form, Some(("wiki", WIKI_SECRET))).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let unregistered =
        format!("/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}", urlenc("https://evil.example/bye"));
    assert_eq!(app.get(&unregistered).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
    let url = format!(
        "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=st",
        urlenc("https://wiki.example.com/bye")
    );
    let response = app.get(&url).await;
    assert_eq!(location(&response), "https://wiki.example.com/bye?state=st");
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    // Someone else's hint only gets the question; this browser's session stays.
    app.sign_in("victim@example.com").await;
    let url = format!(
        "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
        urlenc("https://wiki.example.com/bye")
    );
    let response = app.get(&url).await;
    assert_eq!(response.status(), StatusCode::OK, "redirected on someone else's hint");
    assert_eq!(app.get_session().await.status(), StatusCode::OK, "the victim was signed out");
    // Without a hint nothing happens without asking.
    app.sign_in("again@example.com").await;
    let page = app.get("/oauth2/logout").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn discovery_tells_a_client_everything_it_needs() {
    let (app, issuer) = spawn_provider().await;
    let doc: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["EdDSA", "RS256"]));
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
}

#[tokio::test]
async fn forward_auth_answers_200_with_headers_for_a_live_session_and_401_otherwise() {
    let (app, _) = spawn_provider().await;
    assert_eq!(app.get("/auth/verify").await.status(), StatusCode::UNAUTHORIZED);
    app.sign_in("proxy@example.com").await;
    let response = app.get("/auth/verify").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-auth-email"], "proxy@example.com");
    let claims: Value = app.get_session().await.json().await.unwrap();
    assert_eq!(response.headers()["x-auth-user-id"], claims["sub"].as_str().unwrap());
    let cookie = app.cookie("__Host-session").unwrap();
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    app.set_cookie("__Host-session", &cookie);
    assert_eq!(app.get("/auth/verify").await.status(), StatusCode::UNAUTHORIZED, "revoked session accepted");
    app.clock.advance(chrono::Duration::hours(13));
    app.sign_in("later@example.com").await;
    let expired = app.cookie("__Host-session").unwrap();
    app.clock.advance(chrono::Duration::hours(13));
    app.set_cookie("__Host-session", &expired);
    assert_eq!(app.get("/auth/verify").await.status(), StatusCode::UNAUTHORIZED, "expired session accepted");
}

/// Registers a public client in the store (as the admin API will), with overrides.
pub(crate) async fn register_in_store(app: &TestApp, id: &str, require_second_factor: bool, max_age: Option<u64>) {
    use latchkey::store::prelude::*;
    let client = latchkey::domain::Client {
        id: id.to_owned(),
        name: id.to_owned(),
        redirect_uris: vec![SPA_CB.to_owned()],
        post_logout_redirect_uris: vec![],
        kind: latchkey::domain::ClientKind::Public,
        scopes: vec!["openid".into(), "email".into()],
        require_second_factor,
        require_phishing_resistant: false,
        max_session_age_secs: max_age,
        webhook_url: None,
        id_token_signed_response_alg: latchkey::session::SigningAlg::EdDsa,
        refresh_token_ttl_secs: None,
        backchannel_logout_uri: None,
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        allowed_cors_origins: Vec::new(),
        webhook_secret: None,
        webhook_secret_sealed: None,
    };
    app.store().put_client(&client).await.unwrap();
}

pub(crate) fn authorize_path(client: &str) -> String {
    format!(
        "/oauth2/authorize?response_type=code&client_id={client}&redirect_uri={}&scope=openid&state=z&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        urlenc(SPA_CB)
    )
}

#[tokio::test]
async fn an_app_that_requires_a_second_factor_gets_one_even_from_an_email_only_session() {
    let (app, _) = spawn_provider().await;
    register_in_store(&app, "payroll", true, None).await;
    app.sign_in("clerk@example.com").await;
    // The email-only session is not enough for this app: back through the sign-in.
    let to = location(&app.get(&authorize_path("payroll")).await);
    assert!(to.starts_with("/login?") && to.contains("second_factor=required"), "{to}");
    let page = app.get(&to).await.text().await.unwrap();
    let return_to = hidden_field(&page, "return_to").unwrap();
    let csrf = hidden_field(&page, "csrf").unwrap();
    assert_eq!(hidden_field(&page, "second_factor").as_deref(), Some("required"));
    let before = app.mail.received().len();
    app.post_form(
        "/login",
        &[("email", "clerk@example.com"), ("csrf", &csrf), ("return_to", &return_to), ("second_factor", "required")],
    )
    .await;
    let mail = app.mail.wait_for_link_mail(before).await;
    let token = crate::helpers::token_from_link(&crate::helpers::magic_link_from(&mail));
    // No factor yet: the sign-in insists on setting one up before any session.
    assert_eq!(location(&app.post_verify(&token).await), "/login/2fa");
    let html = app.get("/login/2fa").await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    let done = app
        .post_form("/login/2fa/enroll", &[("csrf", &csrf), ("code", &crate::second_factor::code(&app, &secret, 0))])
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let html = done.text().await.unwrap();
    let start = html.find("class=\"button\" href=\"").unwrap() + "class=\"button\" href=\"".len();
    let next = html[start..start + html[start..].find('"').unwrap()].replace("&#38;", "&").replace("&amp;", "&");
    assert!(next.starts_with("/oauth2/authorize?"), "{next}");
    let callback = Url::parse(&location(&app.get(&next).await)).unwrap();
    assert!(param(&callback, "code").is_some(), "no code after the second factor: {callback}");
}

#[tokio::test]
async fn an_app_with_a_maximum_session_age_makes_older_sessions_sign_in_again() {
    let (app, _) = spawn_provider().await;
    register_in_store(&app, "bank", false, Some(3600)).await;
    app.sign_in("saver@example.com").await;
    assert!(location(&app.get(&authorize_path("bank")).await).starts_with(SPA_CB), "a fresh session should pass");
    app.clock.advance(chrono::Duration::hours(2));
    assert!(location(&app.get(&authorize_path("bank")).await).starts_with("/login?"), "an old session passed");
    // Other apps still accept it.
    register_in_store(&app, "blog", false, None).await;
    assert!(location(&app.get(&authorize_path("blog")).await).starts_with(SPA_CB));
}

async fn admin_call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request =
        app.client.request(method, format!("{}/api/v1/admin/clients{path}", app.address)).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_admin_registers_a_client_that_then_signs_people_in() {
    let (app, _) = spawn_provider().await;
    let draft = serde_json::json!({
        "client_id": "crm", "name": "CRM", "type": "confidential",
        "redirect_uris": ["https://crm.example.com/cb"]
    });
    let (status, created) = admin_call(&app, reqwest::Method::POST, "", Some(draft)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["client_secret"].as_str().expect("no secret shown").to_owned();
    let code = code_for(&app, "crm", "https://crm.example.com/cb", None).await;
    let form =
        [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", "https://crm.example.com/cb")];
    assert_eq!(exchange(&app, &form, Some(("crm", &secret))).await.0, StatusCode::OK);

    // The list shows it, and the file's clients, without secrets.
    let (_, list) = admin_call(&app, reqwest::Method::GET, "", None).await;
    let text = list.to_string();
    assert!(text.contains("\"crm\"") && text.contains("\"wiki\"") && !text.contains("secret"), "{text}");

    // Rotating the secret retires the old one.
    let (_, rotated) = admin_call(&app, reqwest::Method::POST, "/crm/rotate-secret", None).await;
    let fresh = rotated["client_secret"].as_str().unwrap().to_owned();
    let code = code_for(&app, "crm", "https://crm.example.com/cb", None).await;
    let form =
        [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", "https://crm.example.com/cb")];
    assert_eq!(exchange(&app, &form, Some(("crm", &secret))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(exchange(&app, &form, Some(("crm", &fresh))).await.0, StatusCode::OK);

    // New redirect URIs replace the old ones; deletion ends it.
    let update = serde_json::json!({ "redirect_uris": ["https://crm.example.com/new-cb"] });
    assert_eq!(admin_call(&app, reqwest::Method::PUT, "/crm", Some(update)).await.0, StatusCode::OK);
    let old = format!(
        "/oauth2/authorize?response_type=code&client_id=crm&redirect_uri={}&scope=openid",
        urlenc("https://crm.example.com/cb")
    );
    assert_eq!(app.get(&old).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(admin_call(&app, reqwest::Method::DELETE, "/crm", None).await.0, StatusCode::NO_CONTENT);
    let new = format!(
        "/oauth2/authorize?response_type=code&client_id=crm&redirect_uri={}&scope=openid",
        urlenc("https://crm.example.com/new-cb")
    );
    assert_eq!(app.get(&new).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_client_changes_are_refused_with_reasons() {
    let (app, _) = spawn_provider().await;
    let bad =
        serde_json::json!({ "client_id": "a b", "type": "public", "redirect_uris": ["https://x.example/cb#frag"] });
    let (status, body) = admin_call(&app, reqwest::Method::POST, "", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["problems"].as_array().unwrap().len(), 2, "{body}");
    let dup = serde_json::json!({ "client_id": "wiki", "type": "public", "redirect_uris": ["https://x.example/cb"] });
    assert_eq!(admin_call(&app, reqwest::Method::POST, "", Some(dup)).await.0, StatusCode::CONFLICT);
    let edit = serde_json::json!({ "redirect_uris": ["https://evil.example/cb"] });
    assert_eq!(
        admin_call(&app, reqwest::Method::PUT, "/wiki", Some(edit)).await.0,
        StatusCode::CONFLICT,
        "a file client was edited"
    );
    assert_eq!(admin_call(&app, reqwest::Method::DELETE, "/nope", None).await.0, StatusCode::NOT_FOUND);
    let no_auth = app.client.get(format!("{}/api/v1/admin/clients", app.address)).send().await.unwrap();
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
}

const HOOK_SECRET: &str = "webhook-secret-webhook-secret-0123456789";

/// Checks a delivery the way a receiver should: recompute the HMAC over "t.body".
fn signature_valid(request: &wiremock::Request) -> bool {
    signed_with(request, HOOK_SECRET)
}

pub(crate) fn signed_with(request: &wiremock::Request, secret: &str) -> bool {
    use hmac::Mac;
    let header = request.headers.get("latchkey-signature").unwrap().to_str().unwrap().to_owned();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.trim_start_matches("t=");
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", String::from_utf8_lossy(&request.body)).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == v1
}

#[tokio::test]
async fn apps_get_signed_webhooks_retried_after_a_failure() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    // The first delivery fails; the retry succeeds.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let hooked = format!(
        "\n[[client]]\nclient_id = \"hooked\"\nredirect_uris = [\"https://hooked.example.com/cb\"]\ntype = \"confidential\"\nsecret_sha256 = \"{}\"\nwebhook_url = \"{}/hook\"\nwebhook_secret = \"{HOOK_SECRET}\"\n",
        sha256_hex(WIKI_SECRET),
        receiver.uri()
    );
    let (app, _) = spawn_provider_with(&hooked, &[]).await;
    let code = code_for(&app, "hooked", "https://hooked.example.com/cb", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://hooked.example.com/cb"),
    ];
    assert_eq!(exchange(&app, &form, Some(("hooked", WIKI_SECRET))).await.0, StatusCode::OK);

    let wait_for = |n: usize| {
        let receiver = &receiver;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            loop {
                let got = receiver.received_requests().await.unwrap_or_default();
                if got.len() >= n {
                    return got;
                }
                assert!(std::time::Instant::now() < deadline, "{} of {n} deliveries arrived", got.len());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let got = wait_for(2).await;
    assert_eq!(got[0].body, got[1].body, "a retry must carry the same event");
    let event: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(event["type"], "user.signed_in");
    assert_eq!(event["data"]["client_id"], "hooked");
    assert!(got.iter().all(signature_valid), "a delivery with a bad signature");
    assert_eq!(got[0].headers.get("latchkey-event-id"), got[1].headers.get("latchkey-event-id"));

    // Signing out tells the app too.
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    let got = wait_for(3).await;
    let event: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(event["type"], "user.signed_out");
    assert!(signature_valid(&got[2]));
}

#[tokio::test]
async fn a_client_registered_through_the_api_gets_webhooks_with_a_sealed_secret() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let (app, _) = spawn_provider().await;
    let draft = serde_json::json!({
        "client_id": "hooked-api", "type": "confidential",
        "redirect_uris": ["https://hooked.example.com/cb"], "webhook_url": format!("{}/events", receiver.uri())
    });
    let (status, created) = admin_call(&app, reqwest::Method::POST, "", Some(draft)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let client_secret = created["client_secret"].as_str().unwrap().to_owned();
    let hook_secret = created["webhook_secret"].as_str().expect("no webhook secret shown").to_owned();
    for (key, value) in app.dump_redis().await {
        assert!(!value.contains(&hook_secret), "webhook secret in clear under {key}");
    }
    let code = code_for(&app, "hooked-api", "https://hooked.example.com/cb", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://hooked.example.com/cb"),
    ];
    assert_eq!(exchange(&app, &form, Some(("hooked-api", &client_secret))).await.0, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let got = loop {
        let got = receiver.received_requests().await.unwrap_or_default();
        if !got.is_empty() {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(signed_with(&got[0], &hook_secret), "not signed with the secret shown at creation");
    assert!(!signed_with(&got[0], &client_secret));
}

/// The token form for a `wiki` code.
pub(crate) fn wiki_form(code: &str) -> [(&str, &str); 3] {
    [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", WIKI_CB)]
}

#[tokio::test]
async fn a_code_exchanged_after_its_session_signed_out_gets_invalid_grant() {
    let (app, _) = spawn_provider().await;
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    let (status, body) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert!(body.get("id_token").is_none() && body.get("access_token").is_none());
    // The same flow without the sign-out still works.
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let (status, body) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn a_code_exchanged_after_an_admin_blocked_the_user_gets_invalid_grant() {
    let (app, _) = spawn_provider().await;
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let blocked = app
        .client
        .post(format!("{}/api/v1/admin/users/attacked@example.com/block", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::OK);
    let (status, body) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert!(body.get("id_token").is_none());
}

#[tokio::test]
async fn a_code_is_refused_for_a_blocked_account_even_while_its_session_still_stands() {
    // A block written by another instance whose ending of the sessions has not landed yet.
    let (app, _) = spawn_provider().await;
    let code = code_for(&app, "wiki", WIKI_CB, None).await;
    let mut conn = app.store().connection();
    let records: Vec<(String, String)> =
        app.dump_redis().await.into_iter().filter(|(key, _)| key.ends_with("}:user")).collect();
    assert_eq!(records.len(), 1, "one user record expected");
    let (key, json) = &records[0];
    let mut user: Value = serde_json::from_str(json).unwrap();
    user["blocked"] = Value::Bool(true);
    let () = ::redis::cmd("SET").arg(key).arg(user.to_string()).query_async(&mut conn).await.unwrap();
    assert_eq!(app.get_session().await.status(), StatusCode::OK, "the session should still stand here");
    let (status, body) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
}
