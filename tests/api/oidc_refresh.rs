//! Refresh tokens: a client registered for `offline_access` gets one, rotated on every use;
//! a spent one presented again revokes its family and ends its session; families end with
//! every session of their user, not with one logout. Driven by the independent `openidconnect`
//! client where a relying party would use it, and by plain requests for the attacks.

use std::time::Duration;

use latchkey::clock::Clock;
use openidconnect::core::{
    CoreClient, CoreErrorResponseType, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::helpers::{TestApp, hidden_field};
use crate::oidc::{
    ADMIN_TOKEN, WIKI_CB, WIKI_SECRET, browse_authorize, exchange, http_client, param, sha256_hex, spawn_provider_with,
};

const SYNC_CB: &str = "https://sync.example.com/cb";
const NATIVE_CB: &str = "com.example.sync:/cb";
const HOOK_SECRET: &str = "refresh-hook-secret-refresh-hook-secret";

/// The clients of these tests: `sync` (confidential) and `sync-native` (native), both allowed
/// `offline_access` with refresh tokens for an hour; `sync`'s events go to `webhook` if given.
fn offline_clients(webhook: Option<&str>) -> String {
    let hook = webhook
        .map(|url| format!("webhook_url = \"{url}/hook\"\nwebhook_secret = \"{HOOK_SECRET}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[[client]]
client_id = "sync"
name = "Sync"
redirect_uris = ["{SYNC_CB}"]
type = "confidential"
secret_sha256 = "{}"
scopes = ["openid", "email", "offline_access"]
refresh_token_ttl = "1h"
{hook}
[[client]]
client_id = "sync-native"
redirect_uris = ["{NATIVE_CB}"]
type = "native"
scopes = ["openid", "email", "offline_access"]
refresh_token_ttl = "1h"
"#,
        sha256_hex(WIKI_SECRET)
    )
}

async fn spawn_offline(webhook: Option<&str>) -> (TestApp, String) {
    spawn_provider_with(&offline_clients(webhook), &[]).await
}

/// The `sync` client, as a relying party configures it from discovery.
async fn sync_client(issuer: &str) -> SyncClient {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http_client()).await.unwrap();
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("sync".into()),
        Some(ClientSecret::new(WIKI_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(SYNC_CB.into()).unwrap())
}

type SyncClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Signs `email` in through `client` with `offline_access` and returns its token response.
async fn offline_tokens(
    app: &TestApp,
    client: &SyncClient,
    email: &str,
) -> (openidconnect::core::CoreTokenResponse, Nonce) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = browse_authorize(app, url.as_str(), email).await;
    let code = param(&callback, "code").expect("no code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http_client())
        .await
        .unwrap();
    (tokens, nonce)
}

/// `grant_type=refresh_token` for `sync` by Basic auth, with more fields.
async fn refresh(app: &TestApp, token: &str, more: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(more);
    exchange(app, &form, Some(("sync", WIKI_SECRET))).await
}

/// A code for `client` with `offline_access` (through a browser signed in as `email`), and
/// its PKCE verifier.
async fn offline_code(app: &TestApp, client: &str, redirect: &str, email: &str) -> (String, String) {
    let verifier = latchkey::crypto::random_token::<32>().unwrap();
    let challenge = latchkey::crypto::b64(&<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let mut url = Url::parse("http://x/oauth2/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid email offline_access")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let callback = browse_authorize(app, url.as_str(), email).await;
    (param(&callback, "code").expect("no code"), verifier)
}

/// The native client's tokens with `offline_access` for `email`.
async fn native_tokens(app: &TestApp, email: &str) -> Value {
    let (code, verifier) = offline_code(app, "sync-native", NATIVE_CB, email).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", NATIVE_CB),
        ("client_id", "sync-native"),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = exchange(app, &form, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// `grant_type=refresh_token` for the native client (no secret: its `client_id`).
async fn native_refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", "sync-native")];
    exchange(app, &form, None).await
}

fn refresh_token_of(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh_token in {tokens}")).to_owned()
}

fn assert_invalid_grant((status, body): &(StatusCode, Value)) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> StatusCode {
    let request = app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(access_token);
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn a_client_with_offline_access_refreshes_its_tokens_and_each_refresh_token_works_once() {
    let (app, issuer) = spawn_offline(None).await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["grant_types_supported"], serde_json::json!(["authorization_code", "refresh_token"]));
    assert!(discovery["scopes_supported"].as_array().unwrap().contains(&"offline_access".into()), "{discovery}");
    let metadata: Value = app.get("/.well-known/oauth-authorization-server").await.json().await.unwrap();
    assert_eq!(metadata["grant_types_supported"], discovery["grant_types_supported"]);

    let client = sync_client(&issuer).await;
    let (tokens, nonce) = offline_tokens(&app, &client, "offline@example.com").await;
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let first = tokens.id_token().unwrap().claims(&verifier, &nonce).unwrap().clone();
    let first_refresh = tokens.refresh_token().expect("no refresh token for a client granted offline_access").clone();
    assert!(tokens.scopes().unwrap().iter().any(|s| s.as_str() == "offline_access"));

    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .unwrap()
        .request_async(&http_client())
        .await
        .expect("the refresh failed");
    let second_refresh = refreshed.refresh_token().expect("a refresh must rotate the refresh token").clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
    // The new id_token: the same person, session and sign-in time; no nonce (none was sent).
    let no_nonce =
        |n: Option<&Nonce>| if n.is_none() { Ok(()) } else { Err("a refreshed id_token carries a nonce".into()) };
    let claims = refreshed.id_token().expect("no id_token on refresh").claims(&verifier, no_nonce).unwrap();
    assert_eq!(claims.subject(), first.subject());
    assert_eq!(claims.auth_time(), first.auth_time());
    let sid = |token: &openidconnect::core::CoreIdToken| {
        let payload = token.to_string().split('.').nth(1).unwrap().to_owned();
        let payload: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &payload).unwrap(),
        )
        .unwrap();
        payload["sid"].clone()
    };
    assert_eq!(sid(refreshed.id_token().unwrap()), sid(tokens.id_token().unwrap()));
    let info: CoreUserInfoClaims =
        client.user_info(refreshed.access_token().clone(), None).unwrap().request_async(&http_client()).await.unwrap();
    assert_eq!(info.subject(), first.subject());

    // The newest token keeps working; the tokens are not stored in the clear.
    let (status, third) = refresh(&app, second_refresh.secret(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let stored = app.dump_redis().await;
    for secret in [first_refresh.secret(), second_refresh.secret(), &refresh_token_of(&third)] {
        let secret_part = secret.rsplit('.').next().unwrap();
        assert!(!stored.iter().any(|(_, v)| v.contains(secret_part)), "a refresh token is stored in the clear");
    }
}

#[tokio::test]
async fn a_client_not_registered_for_offline_access_gets_no_refresh_token() {
    let (app, issuer) = spawn_offline(None).await;
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer).unwrap(), &http_client()).await.unwrap();
    let wiki = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("wiki".into()),
        Some(ClientSecret::new(WIKI_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(WIKI_CB.into()).unwrap());
    let (tokens, _) = offline_tokens(&app, &wiki, "plain@example.com").await;
    assert!(tokens.refresh_token().is_none(), "a client without offline_access got a refresh token");
    let scopes: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["openid", "email"], "offline_access should be left out of the granted scope");
    // And asking for it is what a registered client must do: no ask, no token.
    let code = crate::oidc::code_for(&app, "sync", SYNC_CB, None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", SYNC_CB)];
    let (status, tokens) = exchange(&app, &form, Some(("sync", WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_family_ends_its_session_and_is_reported() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let (app, issuer) = spawn_offline(Some(&receiver.uri())).await;
    let client = sync_client(&issuer).await;
    let (tokens, _) = offline_tokens(&app, &client, "stolen@example.com").await;
    let first = tokens.refresh_token().unwrap().secret().clone();
    let (status, rotated) = refresh(&app, &first, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let newest = refresh_token_of(&rotated);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);

    // Someone presents the spent first token (through the independent client too).
    let error = client
        .exchange_refresh_token(&RefreshToken::new(first.clone()))
        .unwrap()
        .request_async(&http_client())
        .await
        .expect_err("a spent refresh token was accepted");
    match error {
        RequestTokenError::ServerResponse(e) => assert_eq!(*e.error(), CoreErrorResponseType::InvalidGrant),
        other => panic!("{other:?}"),
    }
    // The whole family is gone: the newest token too, and what it issued.
    assert_invalid_grant(&refresh(&app, &newest, &[]).await);
    assert_eq!(userinfo_status(&app, rotated["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
    // The session it came from ended.
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    // Audited …
    let audit = app.client.get(format!("{}/api/v1/admin/audit?kind=refresh_token_reused", app.address));
    let audit: Value = audit.bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["detail"], "client sync");
    assert_eq!(events[0]["user"].as_str(), Some(rotated_sub(&rotated).as_str()));
    // … and the app was told, signed: the reuse, and that the session ended.
    let reused = webhook_event(&receiver, "user.refresh_token_reused").await;
    assert!(crate::oidc::signed_with(&reused.1, HOOK_SECRET), "the event's signature does not verify");
    assert_eq!(reused.0["data"]["client_id"], "sync");
    assert_eq!(reused.0["data"]["sub"].as_str(), Some(rotated_sub(&rotated).as_str()));
    let signed_out = webhook_event(&receiver, "user.signed_out").await;
    assert_eq!(signed_out.0["data"]["sid"], reused.0["data"]["sid"]);
    // The person sees it among their account's activity.
    app.sign_in("stolen@example.com").await;
    let page = app.get("/account").await.text().await.unwrap();
    assert!(page.contains("An app&#39;s access was revoked") || page.contains("An app's access was revoked"), "{page}");
}

/// The first event of type `kind` the receiver got (waiting for it, bounded).
async fn webhook_event(receiver: &wiremock::MockServer, kind: &str) -> (Value, wiremock::Request) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = receiver.received_requests().await.unwrap_or_default();
        let found = got.into_iter().find_map(|r| {
            let event: Value = serde_json::from_slice(&r.body).ok()?;
            (event["type"] == kind).then_some((event, r))
        });
        if let Some(found) = found {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "no {kind} event arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `sub` of a token response's id_token (read, not verified: the test verified one before).
fn rotated_sub(tokens: &Value) -> String {
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_give_exactly_one_set_of_tokens() {
    let (app, issuer) = spawn_offline(None).await;
    let client = sync_client(&issuer).await;
    let (tokens, _) = offline_tokens(&app, &client, "racer@example.com").await;
    let token = tokens.refresh_token().unwrap().secret().clone();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let form = [("grant_type", "refresh_token".to_owned()), ("refresh_token", token.clone())];
            let request =
                app.client.post(format!("{}/oauth2/token", app.address)).basic_auth("sync", Some(WIKI_SECRET));
            tokio::spawn(request.form(&form).send())
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap().unwrap().status());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST), "{statuses:?}");
}

#[tokio::test]
async fn signing_out_everywhere_ends_refresh_tokens_but_a_single_logout_does_not() {
    let (app, _) = spawn_offline(None).await;
    let tokens = native_tokens(&app, "offline-user@example.com").await;
    // One logout: the session ends, offline access stays (and its access tokens answer).
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED);
    let (status, after_logout) = native_refresh(&app, &refresh_token_of(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "{after_logout}");
    assert_eq!(userinfo_status(&app, after_logout["access_token"].as_str().unwrap()).await, StatusCode::OK);

    // Signed in again (a second family), then out everywhere: both families end.
    let second = native_tokens(&app, "offline-user@example.com").await;
    let csrf = app.csrf_token().await;
    assert_eq!(app.post_form("/logout/all", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_invalid_grant(&native_refresh(&app, &refresh_token_of(&after_logout)).await);
    assert_invalid_grant(&native_refresh(&app, &refresh_token_of(&second)).await);
    assert_eq!(userinfo_status(&app, after_logout["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
}

/// A session someone else holds (a phished code, a borrowed laptop) may have minted offline
/// access: ending it from the account page ends that too, and only that.
#[tokio::test]
async fn a_session_ended_from_the_account_page_takes_the_refresh_tokens_born_in_it() {
    let (app, _) = spawn_offline(None).await;
    let email = "two-devices@example.com";
    let stolen = native_tokens(&app, email).await;
    app.clear_cookies();
    let own = native_tokens(&app, email).await;
    let html = app.get("/account").await.text().await.unwrap();
    let sid = hidden_field(&html, "sid").expect("the other session is not listed");
    let csrf = app.csrf_token().await;
    let ended = app.post_form("/account/sessions/end", &[("csrf", &csrf), ("sid", &sid)]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_invalid_grant(&native_refresh(&app, &refresh_token_of(&stolen)).await);
    let (status, body) = native_refresh(&app, &refresh_token_of(&own)).await;
    assert_eq!(status, StatusCode::OK, "the refresh tokens of the session that stays went too: {body}");
}

/// RFC 6749 §4.1.2: a replayed code revokes what its first exchange issued, the refresh token
/// included (an injected code must not leave its thief a family).
#[tokio::test]
async fn a_replayed_code_revokes_the_refresh_token_its_first_exchange_started() {
    let (app, _) = spawn_offline(None).await;
    let (code, verifier) = offline_code(&app, "sync-native", NATIVE_CB, "replayed@example.com").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", NATIVE_CB),
        ("client_id", "sync-native"),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = exchange(&app, &form, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_invalid_grant(&exchange(&app, &form, None).await);
    assert_invalid_grant(&native_refresh(&app, &refresh_token_of(&tokens)).await);
    assert_eq!(userinfo_status(&app, tokens["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_administrators_block_ends_refresh_tokens() {
    let (app, issuer) = spawn_offline(None).await;
    let client = sync_client(&issuer).await;
    let (tokens, _) = offline_tokens(&app, &client, "blocked-later@example.com").await;
    let block = app.client.post(format!("{}/api/v1/admin/users/blocked-later%40example.com/block", app.address));
    assert!(block.bearer_auth(ADMIN_TOKEN).send().await.unwrap().status().is_success());
    assert_invalid_grant(&refresh(&app, tokens.refresh_token().unwrap().secret(), &[]).await);
}

#[tokio::test]
async fn a_refresh_token_works_only_for_the_client_it_was_issued_to() {
    let (app, _) = spawn_offline(None).await;
    let tokens = native_tokens(&app, "bound@example.com").await;
    let token = refresh_token_of(&tokens);
    // Another (authenticated) client cannot use it, nor burn it.
    assert_invalid_grant(&refresh(&app, &token, &[]).await);
    // A public client that is not the one it was issued to: refused.
    let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str()), ("client_id", "spa")];
    assert_invalid_grant(&exchange(&app, &form, None).await);
    // A confidential client must authenticate.
    let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str()), ("client_id", "sync")];
    let (status, body) = exchange(&app, &form, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // A token that is not one, or names nothing: refused; a missing one named.
    for bogus in ["", "x", "a.b.c", &format!("{token}x")] {
        let form = [("grant_type", "refresh_token"), ("refresh_token", bogus), ("client_id", "sync-native")];
        let (status, body) = exchange(&app, &form, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bogus}: {body}");
    }
    let (status, body) = exchange(&app, &[("grant_type", "refresh_token"), ("client_id", "sync-native")], None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    assert!(body["error_description"].as_str().unwrap().contains("refresh_token"), "{body}");
    // Still good for its own client.
    let (status, body) = native_refresh(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_refresh_token_expires_with_its_clients_refresh_token_ttl() {
    let (app, _) = spawn_offline(None).await;
    let tokens = native_tokens(&app, "expiring@example.com").await;
    app.clock.advance(chrono::Duration::minutes(50));
    let (status, refreshed) = native_refresh(&app, &refresh_token_of(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    // Rotation does not extend the family: an hour after the sign-in, it ends.
    app.clock.advance(chrono::Duration::minutes(11));
    let expired = native_refresh(&app, &refresh_token_of(&refreshed)).await;
    assert_invalid_grant(&expired);
    assert!(expired.1["error_description"].as_str().unwrap().contains("expired"), "{}", expired.1);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let (app, issuer) = spawn_offline(None).await;
    let client = sync_client(&issuer).await;
    let (tokens, _) = offline_tokens(&app, &client, "narrow@example.com").await;
    let (status, narrowed) = refresh(&app, tokens.refresh_token().unwrap().secret(), &[("scope", "openid")]).await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");
    let (status, wider) = refresh(&app, &refresh_token_of(&narrowed), &[("scope", "openid email profile")]).await;
    assert_eq!((status, wider["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{wider}");
    // The family keeps what it was granted: without `scope`, all of it again.
    let (status, whole) = refresh(&app, &refresh_token_of(&narrowed), &[]).await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(whole["scope"], "openid email offline_access");
}

#[tokio::test]
async fn a_refresh_token_from_before_a_restore_is_refused() {
    let (app, _) = spawn_offline(None).await;
    let tokens = native_tokens(&app, "restore@example.com").await;
    // `latchkey store restored` moves "not before" past the family's creation.
    let store = app.store();
    let mut identity = latchkey::store::IdentityStore::get_identity(&store).await.unwrap().unwrap();
    identity.not_before = app.clock.now().timestamp() + 1;
    latchkey::store::IdentityStore::put_identity(&store, &identity, false).await.unwrap();
    app.clock.advance(chrono::Duration::seconds(2));
    assert_invalid_grant(&native_refresh(&app, &refresh_token_of(&tokens)).await);
}

#[tokio::test]
async fn with_redis_stopped_a_refresh_gets_503_and_never_a_grant() {
    let mut redis = crate::helpers::redis_process::RedisProcess::start().await;
    let clients = offline_clients(None);
    let port = crate::helpers::free_port();
    let path = std::env::temp_dir().join(format!("latchkey-clients-{port}.toml"));
    std::fs::write(&path, clients).unwrap();
    let app = crate::helpers::spawn_app_with(&[
        ("REDIS_URL", &redis.url()),
        ("CLIENTS_FILE", path.to_str().unwrap()),
        ("BIND_ADDR", &format!("127.0.0.1:{port}")),
        ("PUBLIC_URL", &format!("http://127.0.0.1:{port}")),
    ])
    .await;
    let tokens = native_tokens(&app, "outage@example.com").await;
    redis.stop().await;
    let token = refresh_token_of(&tokens);
    let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str()), ("client_id", "sync-native")];
    let response = app.client.post(format!("{}/oauth2/token", app.address)).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn a_client_registered_through_the_api_with_offline_access_gets_refresh_tokens_until_it_is_not() {
    let (app, _) = spawn_offline(None).await;
    // The registration from docs/integration.md, "Refresh tokens".
    let draft = serde_json::json!({
        "client_id": "sync-api",
        "name": "Sync",
        "type": "confidential",
        "redirect_uris": ["https://sync.example.com/oidc/callback"],
        "scopes": ["openid", "email", "offline_access"],
        "refresh_token_ttl_secs": 2592000
    });
    let request = app.client.post(format!("{}/api/v1/admin/clients", app.address)).bearer_auth(ADMIN_TOKEN);
    let response = request.json(&draft).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let cb = "https://sync.example.com/oidc/callback";
    let (code, verifier) = offline_code(&app, "sync-api", cb, "api-offline@example.com").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = exchange(&app, &form, Some(("sync-api", &secret))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let form = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let (status, refreshed) = exchange(&app, &form, Some(("sync-api", &secret))).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let token = refresh_token_of(&refreshed);

    // Registered again without offline_access: its refresh tokens stop working.
    let update = serde_json::json!({ "redirect_uris": [cb] });
    let request = app.client.put(format!("{}/api/v1/admin/clients/sync-api", app.address)).bearer_auth(ADMIN_TOKEN);
    assert_eq!(request.json(&update).send().await.unwrap().status(), StatusCode::OK);
    let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
    assert_invalid_grant(&exchange(&app, &form, Some(("sync-api", &secret))).await);
    // Removed: no client to authenticate.
    let request = app.client.delete(format!("{}/api/v1/admin/clients/sync-api", app.address)).bearer_auth(ADMIN_TOKEN);
    assert_eq!(request.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let (status, body) = exchange(&app, &form, Some(("sync-api", &secret))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
}

/// `POST /oauth2/revoke` with `form`, by Basic auth when `basic` is given.
async fn revoke(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, String) {
    let mut request = app.client.post(format!("{}/oauth2/revoke", app.address)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_client_revokes_its_refresh_token_and_its_access_token_but_not_another_clients() {
    let (app, issuer) = spawn_offline(None).await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["revocation_endpoint"], format!("{issuer}/oauth2/revoke"));
    let client = sync_client(&issuer).await;
    let (tokens, _) = offline_tokens(&app, &client, "revoker@example.com").await;
    let (status, refreshed) = refresh(&app, tokens.refresh_token().unwrap().secret(), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let token = refresh_token_of(&refreshed);
    let native = native_tokens(&app, "revoker@example.com").await;
    let sync = Some(("sync", WIKI_SECRET));

    // Unauthenticated, or without a token: refused.
    assert_eq!(revoke(&app, &[("token", &token)], None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(revoke(&app, &[("token", &token)], Some(("sync", "wrong"))).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = revoke(&app, &[], sync).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("invalid_request") && body.contains("token"), "{body}");
    // Another client's token: 200 (RFC 7009 says nothing more), and it still works.
    assert_eq!(revoke(&app, &[("token", &refresh_token_of(&native))], sync).await.0, StatusCode::OK);
    assert_eq!(native_refresh(&app, &refresh_token_of(&native)).await.0, StatusCode::OK);
    // Its own refresh token: the family ends, with the access tokens it issued.
    let hint = [("token", token.as_str()), ("token_type_hint", "refresh_token")];
    assert_eq!(revoke(&app, &hint, sync).await, (StatusCode::OK, String::new()));
    assert_invalid_grant(&refresh(&app, &token, &[]).await);
    assert_eq!(userinfo_status(&app, refreshed["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
    // Again, or a token that never was: still 200.
    assert_eq!(revoke(&app, &hint, sync).await.0, StatusCode::OK);
    assert_eq!(revoke(&app, &[("token", "no-such-token")], sync).await.0, StatusCode::OK);
    // An access token of its own (the public client by its client_id).
    let access = native["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&app, access).await, StatusCode::OK);
    assert_eq!(revoke(&app, &[("token", access), ("client_id", "sync-native")], None).await.0, StatusCode::OK);
    assert_eq!(userinfo_status(&app, access).await, StatusCode::UNAUTHORIZED);
}
