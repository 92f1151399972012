//! OpenID Connect Back-Channel Logout: an app registered with a `backchannel_logout_uri` (a
//! wiremock receiver here) is posted a signed logout token when a session it got tokens in
//! ends, however it ends; the token verifies against the JWKS and says who and which session.

use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::TestApp;
use crate::oidc::{
    ADMIN_TOKEN, WIKI_CB, WIKI_SECRET, browse_authorize, code_for, exchange, http_client, location, param, sha256_hex,
    spawn_provider_with, urlenc, wiki_form,
};

const BCL_CB: &str = "https://bcl.example.com/cb";
const BCL_BYE: &str = "https://bcl.example.com/bye";
const BCL_SECRET: &str = "bcl-secret-bcl-secret-bcl-secret-0123";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A provider with the clients of `oidc.rs` (`wiki` has no `backchannel_logout_uri`) and a
/// confidential client `bcl` whose logout tokens go to `receiver`'s `/bcl`.
async fn provider_with_receiver(receiver: &MockServer) -> (TestApp, String) {
    provider_with_receiver_and(receiver, "", &[]).await
}

/// [`provider_with_receiver`] with more lines for `bcl` and more environment.
async fn provider_with_receiver_and(receiver: &MockServer, more: &str, env: &[(&str, &str)]) -> (TestApp, String) {
    let bcl = format!(
        "\n[[client]]\nclient_id = \"bcl\"\nname = \"Back-channel app\"\nredirect_uris = [\"{BCL_CB}\"]\npost_logout_redirect_uris = [\"{BCL_BYE}\"]\ntype = \"confidential\"\nsecret_sha256 = \"{}\"\nbackchannel_logout_uri = \"{}/bcl\"\n{more}",
        sha256_hex(BCL_SECRET),
        receiver.uri()
    );
    spawn_provider_with(&bcl, env).await
}

/// A receiver answering every logout token with `status`.
async fn receiver_answering(status: u16) -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).and(path("/bcl")).respond_with(ResponseTemplate::new(status)).mount(&receiver).await;
    receiver
}

/// The claims of a JWT, read without verifying it (the test verified it, or its issuer did).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A code for `bcl` through this browser (signing in as `email` when needed), exchanged:
/// the id_token's claims.
async fn bcl_id_token(app: &TestApp) -> Value {
    let code = code_for(app, "bcl", BCL_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", BCL_CB)];
    let (status, tokens) = exchange(app, &form, Some(("bcl", BCL_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    payload(tokens["id_token"].as_str().unwrap())
}

/// Every logout token `receiver` got, once the outbox has nothing left to deliver; checks
/// that each came as the spec says (a form `POST` with one `logout_token`).
async fn delivered_tokens(app: &TestApp, receiver: &MockServer) -> Vec<String> {
    app.outbox_settled().await;
    let mut tokens = Vec::new();
    for request in receiver.received_requests().await.unwrap_or_default() {
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.headers["content-type"], "application/x-www-form-urlencoded");
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        assert_eq!(form.len(), 1, "{form:?}");
        assert_eq!(form[0].0, "logout_token");
        tokens.push(form[0].1.clone());
    }
    tokens
}

/// Verifies a logout token as an app should (Back-Channel Logout §2.6): the signature with
/// the JWKS key its `kid` names, `typ`, `iss`, `aud`, `iat`/`exp`, the event, a `jti`, a
/// `sid`, and no `nonce`. Returns its claims.
async fn verified_logout_token(app: &TestApp, issuer: &str, token: &str, aud: &str) -> Value {
    verified_logout_token_as(app, issuer, token, aud, jsonwebtoken::Algorithm::EdDSA).await
}

/// [`verified_logout_token`] for a token signed with `alg`.
async fn verified_logout_token_as(
    app: &TestApp,
    issuer: &str,
    token: &str,
    aud: &str,
    alg: jsonwebtoken::Algorithm,
) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, alg, "signed as the client's id_tokens are");
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().expect("no kid")).expect("the kid is not in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[aud]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    validation.leeway = 0;
    let claims =
        jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the logout token does not verify").claims;
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }), "{claims}");
    assert!(claims.get("nonce").is_none(), "a logout token must not carry a nonce: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
    assert!(claims["sid"].is_string(), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 120, "iat {iat}, exp {exp}");
    claims
}

#[tokio::test]
async fn rp_initiated_logout_posts_a_signed_logout_token_to_the_app_and_to_no_other() {
    let receiver = receiver_answering(200).await;
    let (app, issuer) = provider_with_receiver(&receiver).await;
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("bcl".into()),
        Some(ClientSecret::new(BCL_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(BCL_CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, _, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let callback = browse_authorize(&app, authorize_url.as_str(), "bcl-user@example.com").await;
    let code = param(&callback, "code").expect("no code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("no id_token");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    id_token.claims(&verifier, &nonce).expect("id_token does not verify");
    let id_claims = payload(&id_token.to_string());
    // `wiki` (no backchannel_logout_uri) gets tokens in the same session.
    let wiki_code = code_for(&app, "wiki", WIKI_CB, None).await;
    assert_eq!(exchange(&app, &wiki_form(&wiki_code), Some(("wiki", WIKI_SECRET))).await.0, StatusCode::OK);
    assert!(delivered_tokens(&app, &receiver).await.is_empty(), "a logout token before any logout");

    let url =
        format!("/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}&state=st", id_token, urlenc(BCL_BYE));
    assert_eq!(location(&app.get(&url).await), format!("{BCL_BYE}?state=st"));
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);

    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 1, "one logout, one app with a back-channel URI: one token");
    let claims = verified_logout_token(&app, &issuer, &delivered[0], "bcl").await;
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], "bcl");
    // Nothing is left to tell about that session, to this app or to `wiki`.
    let left: Vec<String> =
        app.dump_redis().await.into_iter().map(|(k, _)| k).filter(|k| k.contains(":session-clients:")).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn an_app_learns_only_of_the_sessions_it_got_tokens_in() {
    let receiver = receiver_answering(200).await;
    let (app, _) = provider_with_receiver(&receiver).await;
    // A session in which `bcl` got a code but never exchanged it, and `wiki` got tokens.
    let _unused = code_for(&app, "bcl", BCL_CB, None).await;
    let wiki_code = code_for(&app, "wiki", WIKI_CB, None).await;
    assert_eq!(exchange(&app, &wiki_form(&wiki_code), Some(("wiki", WIKI_SECRET))).await.0, StatusCode::OK);
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    // A plain sign-in to latchkey, no app at all.
    app.sign_in("attacked@example.com").await;
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout/all", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert!(delivered_tokens(&app, &receiver).await.is_empty(), "told of a session it had no tokens in");
    // The same app, once it has tokens in a session, is told when it ends.
    let id_claims = bcl_id_token(&app).await;
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(payload(&delivered[0])["sid"], id_claims["sid"]);
}

#[tokio::test]
async fn signing_out_everywhere_tells_the_app_about_each_session() {
    let receiver = receiver_answering(200).await;
    let (app, issuer) = provider_with_receiver(&receiver).await;
    let first = bcl_id_token(&app).await;
    app.clear_cookies();
    let second = bcl_id_token(&app).await;
    assert_ne!(first["sid"], second["sid"], "two browsers, two sessions");
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout/all", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 2, "one token per session");
    let mut sids = Vec::new();
    for token in &delivered {
        let claims = verified_logout_token(&app, &issuer, token, "bcl").await;
        assert_eq!(claims["sub"], first["sub"]);
        sids.push(claims["sid"].as_str().unwrap().to_owned());
    }
    sids.sort();
    let mut expected = vec![first["sid"].as_str().unwrap().to_owned(), second["sid"].as_str().unwrap().to_owned()];
    expected.sort();
    assert_eq!(sids, expected);
}

#[tokio::test]
async fn a_this_wasnt_me_link_pressed_many_times_at_once_ends_each_session_once() {
    let receiver = receiver_answering(200).await;
    let (app, _) = provider_with_receiver(&receiver).await;
    bcl_id_token(&app).await;
    app.clear_cookies();
    bcl_id_token(&app).await; // a new browser: its notice carries a "this wasn't me" link
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let notice = loop {
        if let Some(mail) = app.mail.received().into_iter().find(|m| m.subject() == "New sign-in to your account") {
            break mail;
        }
        assert!(std::time::Instant::now() < deadline, "no new-device notice");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let link = notice.text().split_whitespace().find(|w| w.contains("/account/not-me?token=")).unwrap().to_owned();
    let token = crate::helpers::token_from_link(&link);
    let csrf = app.csrf_token().await;
    let cookies = app.cookie_header().unwrap();
    let form = [("csrf", csrf), ("token", token)];
    let press = || app.client.post(format!("{}/account/not-me", app.address)).header("cookie", &cookies).form(&form);
    let statuses = crate::helpers::statuses_at_once((0..8).map(|_| press()).collect()).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::GONE).count(), 7, "{statuses:?}");
    // Both sessions end, and the app hears of each once.
    assert_eq!(delivered_tokens(&app, &receiver).await.len(), 2);
}

#[tokio::test]
async fn an_admin_revocation_tells_the_app() {
    let receiver = receiver_answering(200).await;
    let (app, issuer) = provider_with_receiver(&receiver).await;
    let id_claims = bcl_id_token(&app).await;
    let revoked = app
        .client
        .post(format!("{}/api/v1/admin/users/attacked@example.com/revoke-sessions", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 1);
    let claims = verified_logout_token(&app, &issuer, &delivered[0], "bcl").await;
    assert_eq!((&claims["sub"], &claims["sid"]), (&id_claims["sub"], &id_claims["sid"]));
}

#[tokio::test]
async fn a_logout_token_the_app_refused_is_sent_again() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bcl"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/bcl"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let (app, issuer) = provider_with_receiver(&receiver).await;
    let id_claims = bcl_id_token(&app).await;
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 2, "answered 500, then 200: sent twice, then done");
    for token in &delivered {
        let claims = verified_logout_token(&app, &issuer, token, "bcl").await;
        assert_eq!(claims["sid"], id_claims["sid"]);
    }
    assert_ne!(payload(&delivered[0])["jti"], payload(&delivered[1])["jti"], "each token has its own jti");
    let stats = app.outbox_settled().await;
    assert_eq!(stats.dead, 0, "{stats:?}");
}

#[tokio::test]
async fn discovery_advertises_back_channel_logout_with_sessions() {
    let receiver = receiver_answering(200).await;
    let (app, _) = provider_with_receiver(&receiver).await;
    let doc: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn an_app_with_rs256_id_tokens_gets_rs256_logout_tokens() {
    let receiver = receiver_answering(200).await;
    let (ed_path, _) = crate::helpers::jwt_key_file();
    let (rsa_path, _) = crate::helpers::rsa_key_file();
    let keys = format!("{ed_path},{rsa_path}");
    let (app, issuer) =
        provider_with_receiver_and(&receiver, "id_token_signed_response_alg = \"RS256\"\n", &[("JWT_KEYS", &keys)])
            .await;
    let id_claims = bcl_id_token(&app).await;
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 1);
    let claims = verified_logout_token_as(&app, &issuer, &delivered[0], "bcl", jsonwebtoken::Algorithm::RS256).await;
    assert_eq!(claims["sid"], id_claims["sid"]);
}

#[tokio::test]
async fn an_app_registered_through_the_admin_api_is_told_when_its_user_is_blocked() {
    let receiver = receiver_answering(200).await;
    let (app, issuer) = spawn_provider_with("", &[]).await;
    // The registration of docs/integration.md, with the receiver as the URI.
    let draft = serde_json::json!({
        "client_id": "wiki-api",
        "name": "Team wiki",
        "type": "confidential",
        "redirect_uris": [BCL_CB],
        "backchannel_logout_uri": format!("{}/bcl", receiver.uri())
    });
    let created = app
        .client
        .post(format!("{}/api/v1/admin/clients", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["client"]["backchannel_logout_uri"], draft["backchannel_logout_uri"], "{created}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let code = code_for(&app, "wiki-api", BCL_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", BCL_CB)];
    let (status, tokens) = exchange(&app, &form, Some(("wiki-api", &secret))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_claims = payload(tokens["id_token"].as_str().unwrap());
    let blocked = app
        .client
        .post(format!("{}/api/v1/admin/users/attacked@example.com/block", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::OK);
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 1);
    let claims = verified_logout_token(&app, &issuer, &delivered[0], "wiki-api").await;
    assert_eq!((&claims["sub"], &claims["sid"]), (&id_claims["sub"], &id_claims["sid"]));
}

#[tokio::test]
async fn a_logout_token_passes_neither_for_an_id_token_hint_nor_for_a_session() {
    let receiver = receiver_answering(200).await;
    let (app, _) = provider_with_receiver(&receiver).await;
    bcl_id_token(&app).await;
    let csrf = app.csrf_token().await;
    app.post_form("/logout", &[("csrf", &csrf)]).await;
    let delivered = delivered_tokens(&app, &receiver).await;
    let logout_token = delivered.first().expect("no logout token");
    // The same person signs in again; someone replays the logout token.
    app.sign_in("attacked@example.com").await;
    let response = app.get(&format!("/oauth2/logout?id_token_hint={logout_token}")).await;
    assert_eq!(response.status(), StatusCode::OK, "taken as an id_token hint");
    let url = format!("/oauth2/logout?id_token_hint={logout_token}&post_logout_redirect_uri={}", urlenc(BCL_BYE));
    let response = app.get(&url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "returned to the app on a logout token");
    assert_eq!(app.get_session().await.status(), StatusCode::OK, "a logout token ended a session");
    let as_session =
        app.client.get(format!("{}/api/v1/session", app.address)).bearer_auth(logout_token).send().await.unwrap();
    assert_eq!(as_session.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_an_account_tells_the_app_by_back_channel_logout_and_ends_its_tokens() {
    let receiver = receiver_answering(200).await;
    let (app, issuer) = provider_with_receiver(&receiver).await;
    let code = code_for(&app, "bcl", BCL_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", BCL_CB)];
    let (status, tokens) = exchange(&app, &form, Some(("bcl", BCL_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_claims = payload(tokens["id_token"].as_str().unwrap());
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| {
        let request = app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(userinfo(access.clone()).await, StatusCode::OK);

    let sub = id_claims["sub"].as_str().unwrap();
    let deleted = app
        .client
        .delete(format!("{}/api/v1/admin/users/{sub}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let delivered = delivered_tokens(&app, &receiver).await;
    assert_eq!(delivered.len(), 1);
    let claims = verified_logout_token(&app, &issuer, &delivered[0], "bcl").await;
    assert_eq!((&claims["sub"], &claims["sid"]), (&id_claims["sub"], &id_claims["sid"]));
    assert_eq!(userinfo(access).await, StatusCode::UNAUTHORIZED);
    let left: Vec<String> = app.dump_redis().await.into_iter().map(|(k, _)| k).filter(|k| k.contains(sub)).collect();
    assert_eq!(left, Vec::<String>::new(), "keys of the deleted user");
}
