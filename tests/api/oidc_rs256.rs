//! RS256 id_tokens: a client that asks for them gets them, signed by the RSA key the JWKS
//! publishes under its RFC 7638 thumbprint, and an independent OIDC client library (whose
//! default, like many relying parties', is RS256 only) accepts them.

use latchkey::crypto::sha256_hex;
use latchkey::session::{SigningKey, okp_thumbprint, rsa_thumbprint};
use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, jwt_key_file, rsa_key_file};
use crate::oidc::{ADMIN_TOKEN, browse_authorize, code_for, exchange, http_client, param, spawn_provider_with};

const LEGACY_CB: &str = "https://legacy.example.com/cb";
const LEGACY_SECRET: &str = "legacy-secret-legacy-secret-legacy-secret";

/// A confidential client `legacy` that asks for RS256 id_tokens.
fn legacy_client() -> String {
    format!(
        "\n[[client]]\nclient_id = \"legacy\"\nredirect_uris = [\"{LEGACY_CB}\"]\ntype = \"confidential\"\nsecret_sha256 = \"{}\"\nid_token_signed_response_alg = \"RS256\"\n",
        sha256_hex(LEGACY_SECRET)
    )
}

/// A provider with an Ed25519 and an RSA key the test holds; returns the RSA key's kid.
pub(crate) async fn provider_with_both_keys(extra_clients: &str) -> (TestApp, String, String, String) {
    let (ed_path, ed_pem) = jwt_key_file();
    let (rsa_path, rsa_pem) = rsa_key_file();
    let keys = format!("{ed_path},{rsa_path}");
    let (app, issuer) = spawn_provider_with(extra_clients, &[("JWT_KEYS", &keys)]).await;
    let ed_kid = SigningKey::from_pem(&ed_pem).unwrap().kid().to_owned();
    let rsa_kid = SigningKey::from_pem(&rsa_pem).unwrap().kid().to_owned();
    (app, issuer, ed_kid, rsa_kid)
}

/// The header of a compact JWT.
fn header_of(jwt: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(jwt).unwrap()
}

#[tokio::test]
async fn a_client_that_asks_for_rs256_gets_an_id_token_an_rs256_relying_party_verifies() {
    let (app, issuer, _, rsa_kid) = provider_with_both_keys(&legacy_client()).await;
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("legacy".into()),
        Some(ClientSecret::new(LEGACY_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(LEGACY_CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, _, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let callback = browse_authorize(&app, authorize_url.as_str(), "legacy-user@example.com").await;
    let code = param(&callback, "code").expect("no code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("no id_token");

    // The library's default verifier allows RS256 only and takes the key from the JWKS.
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the RS256 id_token does not verify");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("legacy-user@example.com"));
    assert_eq!(claims.audiences()[0].as_str(), "legacy");
    let header = header_of(&id_token.to_string());
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(rsa_kid.as_str()), "not signed by the RSA key of JWT_KEYS");

    // It really is RS256: a relying party that allows EdDSA only refuses it.
    let eddsa_only = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    assert!(id_token.claims(&eddsa_only, &nonce).is_err(), "an RS256 id_token passed as EdDSA");
}

#[tokio::test]
async fn clients_that_do_not_ask_keep_getting_eddsa_id_tokens() {
    let (app, _, ed_kid, _) = provider_with_both_keys("").await;
    let code = code_for(&app, "wiki", crate::oidc::WIKI_CB, None).await;
    let (status, body) = exchange(&app, &crate::oidc::wiki_form(&code), Some(("wiki", crate::oidc::WIKI_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let header = header_of(body["id_token"].as_str().unwrap());
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::EdDSA, Some(ed_kid.as_str())));
}

#[tokio::test]
async fn the_jwks_publishes_both_keys_under_their_thumbprints_and_discovery_both_algorithms() {
    let (app, _, ed_kid, rsa_kid) = provider_with_both_keys("").await;
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{jwks}");
    let okp = keys.iter().find(|k| k["kty"] == "OKP").expect("no Ed25519 key");
    assert_eq!(okp["kid"], okp_thumbprint(okp["x"].as_str().unwrap()).as_str());
    assert_eq!(okp["kid"], ed_kid.as_str());
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").expect("no RSA key");
    assert_eq!((&rsa["alg"], &rsa["use"], &rsa["e"]), (&json!("RS256"), &json!("sig"), &json!("AQAB")));
    assert_eq!(rsa["kid"], rsa_thumbprint(rsa["n"].as_str().unwrap(), "AQAB").as_str());
    assert_eq!(rsa["kid"], rsa_kid.as_str());
    assert!(rsa.get("d").is_none() && rsa.get("p").is_none(), "private parts published: {rsa}");

    let doc: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["EdDSA", "RS256"]));
}

#[tokio::test]
async fn without_an_rsa_key_rs256_is_neither_advertised_nor_registrable() {
    let (ed_path, _) = jwt_key_file();
    let (app, _) = spawn_provider_with("", &[("JWT_KEYS", &ed_path)]).await;
    let doc: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["EdDSA"]));
    let draft = json!({
        "client_id": "crm", "type": "confidential", "redirect_uris": ["https://crm.example.com/cb"],
        "id_token_signed_response_alg": "RS256",
    });
    let (status, body) = admin_post(&app, draft).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("needs an RSA key in JWT_KEYS"), "{body}");
}

async fn admin_post(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/admin/clients", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_admin_registers_an_rs256_client_that_then_gets_rs256_id_tokens() {
    let (app, _, _, rsa_kid) = provider_with_both_keys("").await;
    let bad = json!({ "client_id": "crm", "type": "public", "redirect_uris": ["https://crm.example.com/cb"],
                      "id_token_signed_response_alg": "HS256" });
    let (status, body) = admin_post(&app, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "HS256 accepted: {body}");

    let draft = json!({ "client_id": "crm", "type": "confidential", "redirect_uris": ["https://crm.example.com/cb"],
                        "id_token_signed_response_alg": "RS256" });
    let (status, body) = admin_post(&app, draft).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["client"]["id_token_signed_response_alg"], "RS256");
    let secret = body["client_secret"].as_str().unwrap().to_owned();

    let code = code_for(&app, "crm", "https://crm.example.com/cb", None).await;
    let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://crm.example.com/cb")];
    let (status, tokens) = exchange(&app, &form, Some(("crm", &secret))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let header = header_of(tokens["id_token"].as_str().unwrap());
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some(rsa_kid.as_str())));
}
