//! JWT attacks: every forged or bent session token is refused.
//!
//! Each test signs in for real on an app whose signing key it holds, reads the live claims,
//! and mints variants that differ from an acceptable token only in the property under attack.
//! A control (the same claims re-signed correctly) must be accepted first, or a refusal would
//! prove nothing. What is asserted is what an attacker sees: `GET /api/v1/session` answers 401
//! and `GET /account` sends them to the login page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey::session::SigningKey;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::helpers::{TestApp, jwt_key_file, spawn_app_with};

/// The session cookie.
const SESSION: &str = "__Host-session";

/// DESIGN allows at most this much clock skew on `exp`, `nbf` and `iat`.
const MAX_LEEWAY_SECS: i64 = 30;

/// base64url without padding, as JWTs use.
fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).expect("not base64url")
}

/// A compact JWS put together by hand, for what jsonwebtoken refuses to produce.
fn hand_made(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header.to_string()), b64(claims.to_string()), b64(signature))
}

/// The three dot-separated parts of a token.
fn parts(token: &str) -> [String; 3] {
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts.try_into().expect("not a compact JWS")
}

/// An EdDSA header naming `kid`.
fn eddsa_header(kid: Option<&str>) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = kid.map(str::to_owned);
    header
}

/// A key pair the attacker made, and the kid the service would give it.
struct AttackerKey {
    encoding: EncodingKey,
    kid: String,
    /// The public key as an OKP Ed25519 JWK.
    jwk: Jwk,
}

impl AttackerKey {
    fn generate() -> Self {
        let pem = SigningKey::generate_pem().unwrap();
        let key = SigningKey::from_pem(&pem).unwrap();
        let kid = key.kid().to_owned();
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
        let jwk = serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        Self { encoding, kid, jwk }
    }

    /// Signs `claims` under `header` with the attacker's key.
    fn sign(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }
}

/// A signed-in app whose JWT key the test holds.
struct Victim {
    app: TestApp,
    /// The service's signing key.
    encoding: EncodingKey,
    /// The service's private key as PKCS#8 PEM.
    pem: String,
    /// The kid the JWKS publishes.
    kid: String,
    /// The JWKS document as served.
    jwks_text: String,
    /// The real session token from the cookie.
    token: String,
    /// The claims `GET /api/v1/session` returned for it: a live `sub` and `sid`.
    claims: Value,
}

impl Victim {
    /// Starts an app on a key the test holds and signs `email` in through the real flow.
    async fn signed_in(email: &str) -> Self {
        let (path, pem) = jwt_key_file();
        let app = spawn_app_with(&[("JWT_KEYS", &path)]).await;
        app.sign_in(email).await;
        let token = app.cookie(SESSION).expect("no session cookie after sign-in");
        let response = app.get_session().await;
        assert_eq!(response.status(), StatusCode::OK);
        let claims: Value = response.json().await.unwrap();
        assert_eq!(claims["email"], email);

        let response = app.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        let jwks_text = response.text().await.unwrap();
        let jwks: Value = serde_json::from_str(&jwks_text).unwrap();
        let kid = jwks["keys"][0]["kid"].as_str().expect("JWKS key has no kid").to_owned();
        assert_eq!(kid, SigningKey::from_pem(&pem).unwrap().kid(), "the app is not signing with the test's key");
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
        Self { app, encoding, pem, kid, jwks_text, token, claims }
    }

    /// The app's "now": its clock stands still at start-up, when the session was issued.
    fn now(&self) -> i64 {
        self.claims["iat"].as_i64().expect("no iat")
    }

    /// The JWKS key (`{"kty":"OKP", "x": …}`).
    fn jwk(&self) -> Value {
        serde_json::from_str::<Value>(&self.jwks_text).unwrap()["keys"][0].clone()
    }

    /// The public key bytes (`x` from the JWKS).
    fn public_key(&self) -> Vec<u8> {
        unb64(self.jwk()["x"].as_str().unwrap())
    }

    /// The real claims with some replaced (`Value::Null` removes one).
    fn claims_with(&self, changes: &[(&str, Value)]) -> Value {
        let mut claims = self.claims.clone();
        let map = claims.as_object_mut().unwrap();
        for (name, value) in changes {
            if value.is_null() {
                map.remove(*name);
            } else {
                map.insert((*name).to_owned(), value.clone());
            }
        }
        claims
    }

    /// `claims` signed the way the service signs: its key, EdDSA, its kid.
    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&eddsa_header(Some(&self.kid)), claims)
    }

    /// `claims` signed with the service's key under any header.
    fn sign_as(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }

    /// Status of `GET /api/v1/session` with `token` as the session cookie.
    async fn session_status(&self, token: &str) -> StatusCode {
        self.app.set_cookie(SESSION, token);
        self.app.get_session().await.status()
    }

    /// The control: the real claims, re-signed correctly, are accepted by cookie and Bearer.
    /// Without it, the refusals in a test could come from anything.
    async fn assert_control_accepted(&self) {
        let token = self.sign(&self.claims);
        self.assert_accepted(&token, "control: the real claims re-signed correctly").await;
        let response = self.bearer("/api/v1/session", &token).await;
        assert_eq!(response.status(), StatusCode::OK, "control: as a Bearer token");
    }

    /// `token` as the session cookie opens the session API and the account page.
    async fn assert_accepted(&self, token: &str, what: &str) {
        assert_eq!(self.session_status(token).await, StatusCode::OK, "{what}: refused");
        let claims: Value = self.app.get_session().await.json().await.unwrap();
        assert_eq!(claims["sid"], self.claims["sid"], "{what}");
        assert_eq!(self.app.get("/account").await.status(), StatusCode::OK, "{what}: no account page");
    }

    /// `token` as the session cookie gets a 401 from the session API and the login page
    /// instead of the account page.
    async fn assert_refused(&self, token: &str, what: &str) {
        let status = self.session_status(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: GET /api/v1/session answered {status}");
        let response = self.app.get("/account").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what}: GET /account was not redirected");
        let location = response.headers()[LOCATION].to_str().unwrap();
        assert!(location.starts_with("/login"), "{what}: GET /account redirected to {location}");
    }

    /// `GET path` with `token` as `Authorization: Bearer` and no cookies at all.
    async fn bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.app.client.get(format!("{}{path}", self.app.address)).bearer_auth(token).send().await.unwrap()
    }

    /// `token` as a Bearer token gets the same answers as a refused cookie.
    async fn assert_bearer_refused(&self, token: &str, what: &str) {
        let status = self.bearer("/api/v1/session", token).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} (Bearer): GET /api/v1/session answered {status}");
        let response = self.bearer("/account", token).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what} (Bearer): GET /account was not redirected");
    }
}

#[tokio::test]
async fn alg_none_is_refused_in_every_casing_with_or_without_a_signature() {
    let v = Victim::signed_in("none@example.com").await;
    v.assert_control_accepted().await;
    let original_signature = unb64(&parts(&v.token)[2]);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": v.kid });
        v.assert_refused(&hand_made(&header, &v.claims, &[]), &format!("alg {alg}, empty signature")).await;
        v.assert_refused(&hand_made(&header, &v.claims, &original_signature), &format!("alg {alg}, signature kept"))
            .await;
    }
}

#[tokio::test]
async fn a_token_with_its_signature_removed_or_zeroed_is_refused() {
    let v = Victim::signed_in("nullsig@example.com").await;
    v.assert_control_accepted().await;
    let [header, payload, _] = parts(&v.sign(&v.claims));
    v.assert_refused(&format!("{header}.{payload}."), "signature removed").await;
    v.assert_refused(&format!("{header}.{payload}"), "signature part missing").await;
    v.assert_refused(&format!("{header}.{payload}.{}", b64([0u8; 64])), "64 zero bytes as signature").await;
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let v = Victim::signed_in("confusion@example.com").await;
    v.assert_control_accepted().await;
    let x = v.jwk()["x"].as_str().unwrap().to_owned();
    let spki_pem = {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&v.pem).unwrap();
        key.verifying_key().to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap()
    };
    let secrets: [(&str, Vec<u8>); 5] = [
        ("the raw 32-byte public key", v.public_key()),
        ("the base64url x", x.into_bytes()),
        ("the JWKS text as served", v.jwks_text.clone().into_bytes()),
        ("the JWK text", v.jwk().to_string().into_bytes()),
        ("the public key PEM", spki_pem.into_bytes()),
    ];
    for (alg, name) in [(Algorithm::HS256, "HS256"), (Algorithm::HS384, "HS384"), (Algorithm::HS512, "HS512")] {
        let mut header = Header::new(alg);
        header.kid = Some(v.kid.clone());
        for (what, secret) in &secrets {
            let token = jsonwebtoken::encode(&header, &v.claims, &EncodingKey::from_secret(secret)).unwrap();
            v.assert_refused(&token, &format!("{name} keyed with {what}")).await;
        }
    }
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused_whatever_its_kid() {
    let v = Victim::signed_in("unknown-kid@example.com").await;
    v.assert_control_accepted().await;
    let attacker = AttackerKey::generate();
    let own_kid = attacker.sign(&eddsa_header(Some(&attacker.kid)), &v.claims);
    v.assert_refused(&own_kid, "attacker key, its own thumbprint as kid").await;
    let server_kid = attacker.sign(&eddsa_header(Some(&v.kid)), &v.claims);
    v.assert_refused(&server_kid, "attacker key, the server's kid").await;
    let no_kid = attacker.sign(&eddsa_header(None), &v.claims);
    v.assert_refused(&no_kid, "attacker key, no kid").await;
}

#[tokio::test]
async fn a_token_without_a_kid_is_refused_even_when_signed_by_the_server_key() {
    let v = Victim::signed_in("no-kid@example.com").await;
    v.assert_control_accepted().await;
    v.assert_refused(&v.sign_as(&eddsa_header(None), &v.claims), "the server's key, no kid").await;
}

#[tokio::test]
async fn kid_injection_payloads_are_refused_without_a_server_error() {
    let v = Victim::signed_in("kid-injection@example.com").await;
    v.assert_control_accepted().await;
    let attacker = AttackerKey::generate();
    let long = "k".repeat(10_000);
    for kid in ["../../../../dev/null", "' OR '1'='1", "\u{0}", "", &long, "*", &format!("{}\u{0}", v.kid)] {
        let what = format!("kid {:?}", kid.chars().take(40).collect::<String>());
        v.assert_refused(&attacker.sign(&eddsa_header(Some(kid)), &v.claims), &what).await;
    }
}

#[tokio::test]
async fn a_public_key_inlined_as_jwk_is_not_trusted() {
    let v = Victim::signed_in("inline-jwk@example.com").await;
    v.assert_control_accepted().await;
    let attacker = AttackerKey::generate();
    for (kid, what) in
        [(Some(attacker.kid.as_str()), "its own kid"), (Some(v.kid.as_str()), "the server's kid"), (None, "no kid")]
    {
        let mut header = eddsa_header(kid);
        header.jwk = Some(attacker.jwk.clone());
        v.assert_refused(&attacker.sign(&header, &v.claims), &format!("attacker key inlined as jwk, {what}")).await;
    }
    // Refused outright, not merely ignored: even the server's own key, inlined and signing.
    let mut header = eddsa_header(Some(&v.kid));
    header.jwk = Some(serde_json::from_value(v.jwk()).unwrap());
    v.assert_refused(&v.sign_as(&header, &v.claims), "the server's key inlined as jwk").await;
}

#[tokio::test]
async fn jku_and_x5u_headers_are_refused_and_never_fetched() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let v = Victim::signed_in("jku@example.com").await;
    v.assert_control_accepted().await;
    let attacker = AttackerKey::generate();
    // The attacker's server would serve the attacker's key, if anyone asked.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": [attacker.jwk] })))
        .mount(&server)
        .await;
    let jku = format!("{}/.well-known/jwks.json", server.uri());
    let x5u = format!("{}/cert.pem", server.uri());

    for kid in [attacker.kid.as_str(), v.kid.as_str()] {
        let mut header = eddsa_header(Some(kid));
        header.jku = Some(jku.clone());
        v.assert_refused(&attacker.sign(&header, &v.claims), "jku at the attacker's JWKS").await;
        v.assert_bearer_refused(&attacker.sign(&header, &v.claims), "jku at the attacker's JWKS").await;
        let mut header = eddsa_header(Some(kid));
        header.x5u = Some(x5u.clone());
        v.assert_refused(&attacker.sign(&header, &v.claims), "x5u at the attacker's server").await;
    }
    // Refused outright, not merely ignored: even on a token the server's key signed.
    let mut header = eddsa_header(Some(&v.kid));
    header.jku = Some(jku.clone());
    v.assert_refused(&v.sign_as(&header, &v.claims), "jku on a token signed by the server's key").await;
    let mut header = eddsa_header(Some(&v.kid));
    header.x5u = Some(x5u.clone());
    v.assert_refused(&v.sign_as(&header, &v.claims), "x5u on a token signed by the server's key").await;

    let requests = server.received_requests().await.expect("request recording is off");
    assert!(
        requests.is_empty(),
        "the service fetched {:?}",
        requests.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let v = Victim::signed_in("times@example.com").await;
    v.assert_control_accepted().await;
    let now = v.now();
    let beyond = MAX_LEEWAY_SECS + 1;
    let cases = [
        ("exp just beyond the leeway", vec![("exp", json!(now - beyond))]),
        ("exp an hour ago", vec![("iat", json!(now - 7200)), ("nbf", json!(now - 7200)), ("exp", json!(now - 3600))]),
        ("nbf in the future", vec![("nbf", json!(now + beyond))]),
        ("iat in the future", vec![("iat", json!(now + beyond))]),
        (
            "iat and nbf a day ahead",
            vec![("iat", json!(now + 86_400)), ("nbf", json!(now + 86_400)), ("exp", json!(now + 2 * 86_400))],
        ),
        ("no exp", vec![("exp", Value::Null)]),
        ("no nbf", vec![("nbf", Value::Null)]),
        ("no iat", vec![("iat", Value::Null)]),
    ];
    for (what, changes) in cases {
        v.assert_refused(&v.sign(&v.claims_with(&changes)), what).await;
    }
}

#[tokio::test]
async fn tokens_for_another_audience_or_issuer_are_refused() {
    let v = Victim::signed_in("aud@example.com").await;
    v.assert_control_accepted().await;
    // The same key will sign id_tokens for OIDC clients (aud = client_id): never a session.
    let cases = [
        ("aud another client", vec![("aud", json!("some-client-id"))]),
        ("aud another origin", vec![("aud", json!("https://evil.example"))]),
        ("aud an array of a wrong value only", vec![("aud", json!(["https://evil.example"]))]),
        ("no aud", vec![("aud", Value::Null)]),
        ("iss another issuer", vec![("iss", json!("https://evil.example"))]),
        ("iss with a trailing slash", vec![("iss", json!(format!("{}/", v.claims["iss"].as_str().unwrap())))]),
        ("no iss", vec![("iss", Value::Null)]),
    ];
    for (what, changes) in cases {
        v.assert_refused(&v.sign(&v.claims_with(&changes)), what).await;
    }
}

#[tokio::test]
async fn a_flipped_signature_byte_is_refused() {
    let v = Victim::signed_in("flip@example.com").await;
    v.assert_control_accepted().await;
    let [header, payload, signature] = parts(&v.token);
    for index in [0, 31, 32, 63] {
        let mut bytes = unb64(&signature);
        bytes[index] ^= 0x01;
        v.assert_refused(&format!("{header}.{payload}.{}", b64(&bytes)), &format!("signature byte {index} flipped"))
            .await;
    }
}

#[tokio::test]
async fn a_payload_changed_under_a_kept_signature_is_refused() {
    let v = Victim::signed_in("payload@example.com").await;
    v.assert_control_accepted().await;
    let [header, _, signature] = parts(&v.token);
    let cases = [
        ("email changed", vec![("email", json!("admin@example.com"))]),
        ("exp pushed a year out", vec![("exp", json!(v.now() + 365 * 86_400))]),
        ("amr claims a second factor", vec![("amr", json!(["email", "otp"]))]),
    ];
    for (what, changes) in cases {
        let payload = b64(v.claims_with(&changes).to_string());
        v.assert_refused(&format!("{header}.{payload}.{signature}"), what).await;
    }
}

#[tokio::test]
async fn a_critical_header_extension_is_refused() {
    let v = Victim::signed_in("crit@example.com").await;
    v.assert_control_accepted().await;
    // RFC 7515 §4.1.11: a `crit` extension the verifier does not understand makes the token invalid.
    let mut header = eddsa_header(Some(&v.kid));
    header.crit = Some(vec!["b64".to_owned()]);
    header.extras.insert("b64", false);
    v.assert_refused(&v.sign_as(&header, &v.claims), "crit b64=false, signed by the server's key").await;
}

/// `POST path` with a fresh CSRF token, as the account page's buttons send it.
async fn post_signed_out(app: &TestApp, path: &str) {
    let csrf = app.csrf_token().await;
    let response = app.post_form(path, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path}");
    assert!(app.cookie(SESSION).is_none(), "POST {path} left the session cookie");
}

#[tokio::test]
async fn a_session_token_is_refused_after_logout() {
    let v = Victim::signed_in("logout@example.com").await;
    v.assert_control_accepted().await;
    v.app.set_cookie(SESSION, &v.token);
    post_signed_out(&v.app, "/logout").await;
    v.assert_refused(&v.token, "the cookie kept from before logout").await;
    v.assert_bearer_refused(&v.token, "the cookie kept from before logout").await;
    // Its sid is gone from the allow-list: a correctly signed, fresh token for it is dead too.
    v.assert_refused(&v.sign(&v.claims), "the ended sid re-signed with valid times").await;
}

#[tokio::test]
async fn every_session_token_of_a_user_is_refused_after_logout_everywhere() {
    let v = Victim::signed_in("everywhere@example.com").await;
    let laptop = v.token.clone();
    // A second device of the same person, and somebody else who must stay signed in.
    v.app.clear_cookies();
    v.app.sign_in("everywhere@example.com").await;
    let phone = v.app.cookie(SESSION).unwrap();
    let phone_claims: Value = v.app.get_session().await.json().await.unwrap();
    assert_ne!(phone_claims["sid"], v.claims["sid"]);
    v.app.clear_cookies();
    v.app.sign_in("bystander@example.com").await;
    let bystander = v.app.cookie(SESSION).unwrap();
    v.assert_accepted(&laptop, "control: the first device before logout everywhere").await;
    assert_eq!(v.session_status(&phone).await, StatusCode::OK, "control: the second device");

    // Logging out everywhere from the phone ends the laptop's session as well.
    v.app.set_cookie(SESSION, &phone);
    post_signed_out(&v.app, "/logout/all").await;
    v.assert_refused(&phone, "the device that logged out everywhere").await;
    v.assert_refused(&laptop, "the other device").await;
    v.assert_bearer_refused(&laptop, "the other device").await;
    v.assert_refused(&v.sign(&v.claims), "the other device's sid re-signed with valid times").await;
    assert_eq!(v.session_status(&bystander).await, StatusCode::OK, "another user's session was ended");
}

#[tokio::test]
async fn forged_tokens_are_refused_as_bearer_tokens_too() {
    let v = Victim::signed_in("bearer@example.com").await;
    v.assert_control_accepted().await;
    assert_eq!(v.bearer("/account", &v.sign(&v.claims)).await.status(), StatusCode::OK, "control: Bearer /account");
    let attacker = AttackerKey::generate();
    let [header, payload, signature] = parts(&v.sign(&v.claims));
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(v.kid.clone());
    let mut flipped = unb64(&signature);
    flipped[7] ^= 0x80;
    let forged = [
        ("alg none", hand_made(&json!({ "alg": "none", "typ": "JWT", "kid": v.kid }), &v.claims, &[])),
        ("signature removed", format!("{header}.{payload}.")),
        (
            "HS256 keyed with the public key",
            jsonwebtoken::encode(&hs256, &v.claims, &EncodingKey::from_secret(&v.public_key())).unwrap(),
        ),
        ("attacker key, the server's kid", attacker.sign(&eddsa_header(Some(&v.kid)), &v.claims)),
        ("kid path traversal", attacker.sign(&eddsa_header(Some("../../../../dev/null")), &v.claims)),
        ("expired", v.sign(&v.claims_with(&[("exp", json!(v.now() - MAX_LEEWAY_SECS - 1))]))),
        ("wrong aud", v.sign(&v.claims_with(&[("aud", json!("some-client-id"))]))),
        ("flipped signature byte", format!("{header}.{payload}.{}", b64(&flipped))),
        (
            "email changed",
            format!(
                "{header}.{}.{signature}",
                b64(v.claims_with(&[("email", json!("admin@example.com"))]).to_string())
            ),
        ),
    ];
    for (what, token) in &forged {
        v.assert_bearer_refused(token, what).await;
    }
}

#[tokio::test]
async fn an_rs256_token_signed_by_the_services_own_rsa_key_is_refused_as_a_session() {
    let (ed_path, ed_pem) = jwt_key_file();
    let (rsa_path, rsa_pem) = crate::helpers::rsa_key_file();
    let app = spawn_app_with(&[("JWT_KEYS", &format!("{ed_path},{rsa_path}"))]).await;
    app.sign_in("rs256@example.com").await;
    let claims: Value = app.get_session().await.json().await.unwrap();
    let ed_kid = SigningKey::from_pem(&ed_pem).unwrap().kid().to_owned();
    let rsa_kid = SigningKey::from_pem(&rsa_pem).unwrap().kid().to_owned();
    let rsa = EncodingKey::from_rsa_pem(rsa_pem.as_bytes()).unwrap();
    let status = |token: String| {
        app.set_cookie(SESSION, &token);
        app.get_session()
    };

    let control = jsonwebtoken::encode(
        &eddsa_header(Some(&ed_kid)),
        &claims,
        &EncodingKey::from_ed_pem(ed_pem.as_bytes()).unwrap(),
    );
    assert_eq!(status(control.unwrap()).await.status(), StatusCode::OK, "control: the claims re-signed as a session");
    for kid in [&rsa_kid, &ed_kid] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &rsa).unwrap();
        assert_eq!(status(token.clone()).await.status(), StatusCode::UNAUTHORIZED, "RS256 session with kid {kid}");
        let response =
            app.client.get(format!("{}/api/v1/session", app.address)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "RS256 Bearer with kid {kid}");
    }
}
