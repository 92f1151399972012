//! What relying parties expect of a standard OpenID provider (OIDC Core 1.0, RFC 6750,
//! RFC 8414), as an app observes it: redirects and their parameters, statuses, headers, and
//! the id_token's claims.

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::helpers::hidden_field;
use crate::oidc::{
    WIKI_CB, WIKI_SECRET, browse_authorize, exchange, http_client, location, param, path_of, sha256_hex,
    spawn_provider, spawn_provider_with, urlenc, wiki_form,
};

/// `/oauth2/authorize` for `wiki` with `extra` query text appended.
fn wiki_authorize(extra: &str) -> String {
    format!("/oauth2/authorize?response_type=code&client_id=wiki&redirect_uri={}&state=st{extra}", urlenc(WIKI_CB))
}

/// Where the app is sent back to, as a URL (panics when latchkey did not redirect to it).
async fn back_at_app(app: &crate::helpers::TestApp, path: &str) -> Url {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
    let to = Url::parse(&location(&response)).unwrap_or_else(|_| panic!("{path} did not return to the app"));
    assert!(to.as_str().starts_with(WIKI_CB), "{to}");
    to
}

#[tokio::test]
async fn unknown_scopes_are_ignored_and_the_token_response_names_what_was_granted() {
    let narrow = format!(
        "\n[[client]]\nclient_id = \"narrow\"\nredirect_uris = [\"{WIKI_CB}\"]\nscopes = [\"openid\"]\ntype = \"confidential\"\nsecret_sha256 = \"{}\"\n",
        sha256_hex(WIKI_SECRET)
    );
    let (app, _) = spawn_provider_with(&narrow, &[]).await;
    app.sign_in("scoped@example.com").await;
    // The common default of OIDC libraries: `profile` is not offered here, and is left out.
    let to = back_at_app(&app, &wiki_authorize("&scope=openid%20profile%20email%20offline_access")).await;
    let code = param(&to, "code").unwrap_or_else(|| panic!("no code: {to}"));
    let (status, tokens) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid email");
    // A client registered for `openid` alone does not get `email` granted.
    let path = format!(
        "/oauth2/authorize?response_type=code&client_id=narrow&redirect_uri={}&scope=openid%20email",
        urlenc(WIKI_CB)
    );
    let to = back_at_app(&app, &path).await;
    let code = param(&to, "code").unwrap_or_else(|| panic!("no code: {to}"));
    let (status, tokens) = exchange(&app, &wiki_form(&code), Some(("narrow", WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid");
    // `openid` stays required.
    let to = back_at_app(&app, &wiki_authorize("&scope=profile%20email")).await;
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(&to, "state").as_deref(), Some("st"));
}

#[tokio::test]
async fn request_objects_are_refused_with_their_own_error_codes() {
    let (app, _) = spawn_provider().await;
    app.sign_in("objects@example.com").await;
    let to = back_at_app(&app, &wiki_authorize("&scope=openid&request=eyJhbGciOiJub25lIn0.e30.")).await;
    assert_eq!(param(&to, "error").as_deref(), Some("request_not_supported"));
    assert_eq!(param(&to, "state").as_deref(), Some("st"));
    assert!(param(&to, "code").is_none());
    let uri = urlenc("https://wiki.example.com/request.jwt");
    let to = back_at_app(&app, &wiki_authorize(&format!("&scope=openid&request_uri={uri}"))).await;
    assert_eq!(param(&to, "error").as_deref(), Some("request_uri_not_supported"));
    assert!(param(&to, "code").is_none());
    // Before the client and its redirect URI are known, nothing redirects.
    let unknown = format!("/oauth2/authorize?client_id=nope&redirect_uri={}&request=x", urlenc(WIKI_CB));
    let response = app.get(&unknown).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    let doc: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
}

/// The openidconnect client for `wiki`, from the discovery document.
async fn wiki_client(
    issuer: &str,
) -> openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
> {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http_client()).await.unwrap();
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("wiki".into()),
        Some(ClientSecret::new(WIKI_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(WIKI_CB.into()).unwrap())
}

#[tokio::test]
async fn max_age_and_prompt_login_send_an_older_session_through_the_sign_in_again() {
    use openidconnect::core::{CoreAuthPrompt, CoreJwsSigningAlgorithm, CoreResponseType};
    use openidconnect::{AuthenticationFlow, AuthorizationCode, CsrfToken, Nonce, TokenResponse};
    let (app, issuer) = spawn_provider().await;
    let client = wiki_client(&issuer).await;
    app.sign_in("aged@example.com").await;
    let session: Value = app.get_session().await.json().await.unwrap();
    let first_auth_time = session["auth_time"].as_i64().unwrap();
    app.clock.advance(chrono::Duration::seconds(40));

    for (max_age, prompt) in [(Some(5), None), (Some(0), None), (None, Some(CoreAuthPrompt::Login))] {
        let mut request = client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        if let Some(seconds) = max_age {
            request = request.set_max_age(std::time::Duration::from_secs(seconds));
        }
        if let Some(prompt) = prompt.clone() {
            request = request.add_prompt(prompt);
        }
        let (url, _, nonce) = request.url();
        let case = format!("max_age {max_age:?}, prompt {prompt:?}");
        // The live session is not enough: to the sign-in, and back with a fresh session.
        let first = app.get(&path_of(url.as_str())).await;
        assert!(location(&first).starts_with("/login?"), "{case}: {}", location(&first));
        let callback = browse_authorize(&app, url.as_str(), "aged@example.com").await;
        let code = param(&callback, "code").unwrap_or_else(|| panic!("{case}: no code in {callback}"));
        let tokens =
            client.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&http_client()).await.unwrap();
        let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
        let claims = tokens.id_token().unwrap().claims(&verifier, &nonce).unwrap();
        let auth_time = claims.auth_time().expect("no auth_time in the id_token").timestamp();
        assert!(auth_time > first_auth_time, "{case}: the old sign-in was used");
        app.clock.advance(chrono::Duration::seconds(40));
    }

    // prompt=none with a session too old for max_age: login_required, back to the app.
    let to = back_at_app(&app, &wiki_authorize("&scope=openid&prompt=none&max_age=5")).await;
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&to, "state").as_deref(), Some("st"));
    // A session young enough for max_age goes straight back.
    let to = back_at_app(&app, &wiki_authorize("&scope=openid&max_age=3600")).await;
    assert!(param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn authorize_and_userinfo_also_answer_a_post() {
    let (app, _) = spawn_provider().await;
    let form = [
        ("response_type", "code"),
        ("client_id", "wiki"),
        ("redirect_uri", WIKI_CB),
        ("scope", "openid email"),
        ("state", "posted state"),
        ("nonce", "n-1"),
    ];
    // Without a session: the same request as a GET, which goes on to the sign-in.
    let response = app.post_form("/oauth2/authorize", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let again = location(&response);
    assert!(again.starts_with("/oauth2/authorize?"), "{again}");
    assert!(location(&app.get(&again).await).starts_with("/login?"));
    // With one: back at the app with a code and the state.
    app.sign_in("poster@example.com").await;
    let again = location(&app.post_form("/oauth2/authorize", &form).await);
    let to = back_at_app(&app, &again).await;
    assert_eq!(param(&to, "state").as_deref(), Some("posted state"));
    let code = param(&to, "code").unwrap_or_else(|| panic!("no code: {to}"));
    let (_, tokens) = exchange(&app, &wiki_form(&code), Some(("wiki", WIKI_SECRET))).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    let userinfo = app.client.post(format!("{}/oauth2/userinfo", app.address));
    let by_header = userinfo.try_clone().unwrap().bearer_auth(&access).send().await.unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    let info: Value = by_header.json().await.unwrap();
    assert_eq!(info["email"], "poster@example.com");
    let by_form = userinfo.try_clone().unwrap().form(&[("access_token", access.as_str())]).send().await.unwrap();
    assert_eq!(by_form.status(), StatusCode::OK);
    assert_eq!(by_form.json::<Value>().await.unwrap()["sub"], info["sub"]);
    let both = userinfo.try_clone().unwrap().bearer_auth(&access).form(&[("access_token", access.as_str())]);
    let both = both.send().await.unwrap();
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
    assert_eq!(both.json::<Value>().await.unwrap()["error"], "invalid_request");
    let wrong = userinfo.form(&[("access_token", "not-a-token")]).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_with_a_client_id_and_no_hint_asks_first_then_returns_to_the_registered_page() {
    let (app, _) = spawn_provider().await;
    app.sign_in("leaving@example.com").await;
    let bye = urlenc("https://wiki.example.com/bye");
    let url = format!("/oauth2/logout?client_id=wiki&post_logout_redirect_uri={bye}&state=st%201");
    let page = app.get(&url).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out of latchkey?") && html.contains("Team wiki"), "{html}");
    assert_eq!(app.get_session().await.status(), StatusCode::OK, "signed out without asking");
    let german = app.send(app.client.get(format!("{}{url}", app.address)).header("accept-language", "de")).await;
    assert!(german.text().await.unwrap().contains("Von latchkey abmelden?"));
    // Only an address registered for that client.
    for bad in [
        format!("/oauth2/logout?client_id=wiki&post_logout_redirect_uri={}", urlenc("https://evil.example/bye")),
        format!("/oauth2/logout?client_id=spa&post_logout_redirect_uri={bye}"),
        format!("/oauth2/logout?client_id=nope&post_logout_redirect_uri={bye}"),
    ] {
        let response = app.get(&bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    }
    let field = |name: &str| hidden_field(&html, name).unwrap_or_else(|| panic!("no {name} field"));
    let (csrf, client_id, uri, state) =
        (field("csrf"), field("client_id"), field("post_logout_redirect_uri"), field("state"));
    // The confirmation is a CSRF-protected form, and its return address is checked again.
    let forged = app
        .post_form(
            "/oauth2/logout",
            &[("csrf", "forged"), ("client_id", &client_id), ("post_logout_redirect_uri", &uri)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let evil =
        [("csrf", csrf.as_str()), ("client_id", "wiki"), ("post_logout_redirect_uri", "https://evil.example/bye")];
    assert_eq!(app.post_form("/oauth2/logout", &evil).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
    let confirmed = app
        .post_form(
            "/oauth2/logout",
            &[("csrf", &csrf), ("client_id", &client_id), ("post_logout_redirect_uri", &uri), ("state", &state)],
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&confirmed), "https://wiki.example.com/bye?state=st+1");
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED, "the session outlived the sign-out");
}

#[tokio::test]
async fn response_modes_prompts_userinfo_challenges_and_server_metadata_follow_the_standards() {
    let (app, issuer) = spawn_provider().await;
    app.sign_in("standard@example.com").await;
    // Codes and errors only ever come back in the query.
    for mode in ["form_post", "fragment"] {
        let to = back_at_app(&app, &wiki_authorize(&format!("&scope=openid&response_mode={mode}"))).await;
        assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"), "{mode}");
        assert!(param(&to, "error_description").is_some_and(|d| d.contains("response_mode")), "{to}");
        assert!(param(&to, "code").is_none());
    }
    let to = back_at_app(&app, &wiki_authorize("&scope=openid&response_mode=query")).await;
    assert!(param(&to, "code").is_some(), "{to}");
    // No consent screen or account choice exists: those prompts change nothing.
    for prompt in ["consent", "select_account", "consent%20select_account"] {
        let to = back_at_app(&app, &wiki_authorize(&format!("&scope=openid&prompt={prompt}"))).await;
        assert!(param(&to, "code").is_some(), "{prompt}: {to}");
    }
    let to = back_at_app(&app, &wiki_authorize("&scope=openid&prompt=none%20login")).await;
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert!(param(&to, "code").is_none());

    // userinfo: no credentials is a bare challenge; a bad token says invalid_token.
    let userinfo = format!("{}/oauth2/userinfo", app.address);
    let bare = app.client.get(&userinfo).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let challenge = bare.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer realm=\"") && !challenge.contains("error="), "{challenge}");
    let bad = app.client.get(&userinfo).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let challenge = bad.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer realm=\"") && challenge.contains("error=\"invalid_token\""), "{challenge}");

    // RFC 8414 metadata, and what discovery says about response modes.
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status(), StatusCode::OK);
    let metadata: Value = response.json().await.unwrap();
    assert_eq!(metadata["issuer"], issuer);
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/oauth2/token"));
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["response_modes_supported"], serde_json::json!(["query"]));
}
