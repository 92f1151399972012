//! Native apps (RFC 8252): loopback and private-use scheme redirects with PKCE, and the JSON
//! sign-in that answers an attempt handle and then the app's tokens.

use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{TestApp, code_from};
use crate::oidc::{ADMIN_TOKEN, browse_authorize, exchange, http_client, location, param, spawn_provider_with, urlenc};

const APP: &str = "com.example.app";
const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-to-be-valid-0123456789";

fn challenge_of(verifier: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, {
        use sha2::Digest;
        sha2::Sha256::digest(verifier.as_bytes())
    })
}

/// A provider with the native app [`APP`] (loopback and private-use scheme redirects) and a
/// native app that requires a second factor.
async fn spawn(env: &[(&str, &str)]) -> (TestApp, String) {
    let clients = format!(
        r#"
[[client]]
client_id = "{APP}"
name = "Example app"
redirect_uris = ["http://127.0.0.1/cb", "com.example.app:/cb"]
type = "native"

[[client]]
client_id = "com.example.strict"
redirect_uris = ["com.example.strict:/cb"]
type = "native"
require_second_factor = true
"#
    );
    spawn_provider_with(&clients, env).await
}

fn authorize_url(redirect: &str, pkce: bool) -> String {
    let mut url = format!(
        "http://x/oauth2/authorize?response_type=code&client_id={APP}&redirect_uri={}&scope=openid%20email&state=n1",
        urlenc(redirect)
    );
    if pkce {
        url.push_str(&format!("&code_challenge={}&code_challenge_method=S256", challenge_of(VERIFIER)));
    }
    url
}

#[tokio::test]
async fn a_native_app_gets_its_code_on_any_loopback_port_and_at_its_private_use_scheme() {
    let (app, _) = spawn(&[]).await;
    // The app listens on whatever port it got; `http://127.0.0.1/cb` is registered.
    let loopback = "http://127.0.0.1:53117/cb";
    let callback = browse_authorize(&app, &authorize_url(loopback, true), "native@example.com").await;
    assert_eq!((callback.host_str(), callback.port(), callback.path()), (Some("127.0.0.1"), Some(53117), "/cb"));
    assert_eq!(param(&callback, "state").as_deref(), Some("n1"));
    let code = param(&callback, "code").expect("no code at the loopback redirect");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", loopback),
        ("code_verifier", VERIFIER),
        ("client_id", APP),
    ];
    let (status, tokens) = exchange(&app, &form, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    // The private-use scheme, exactly as registered (the session is live: straight back).
    let callback = browse_authorize(&app, &authorize_url("com.example.app:/cb", true), "native@example.com").await;
    assert_eq!((callback.scheme(), callback.path()), ("com.example.app", "/cb"));
    assert!(param(&callback, "code").is_some(), "no code at the custom scheme: {callback}");
}

#[tokio::test]
async fn a_native_app_may_not_use_localhost_another_scheme_path_or_skip_pkce() {
    let (app, _) = spawn(&[]).await;
    for refused in [
        "http://localhost:53117/cb",
        "http://localhost/cb",
        "http://127.0.0.1:53117/other",
        "https://127.0.0.1:53117/cb",
        "com.example.app:/other",
        "com.example.evil:/cb",
    ] {
        let response = app.get(&crate::oidc::path_of(&authorize_url(refused, true))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{refused} was accepted");
        assert!(!response.headers().contains_key("location"), "{refused}: redirected");
    }
    // Without PKCE: an error back to the (valid) redirect, never a code.
    let response = app.get(&crate::oidc::path_of(&authorize_url("http://127.0.0.1:53117/cb", false))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = Url::parse(&location(&response)).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&back, "code"), None);
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client.post(format!("{}{path}", app.address)).json(body).send().await.unwrap()
}

fn login_body(email: &str, client_id: &str, verifier: &str) -> Value {
    json!({
        "email": email, "client_id": client_id,
        "code_challenge": challenge_of(verifier), "code_challenge_method": "S256",
    })
}

/// `POST /api/v1/login` for the app: the handle, and that no cookie was set.
async fn request_handle(app: &TestApp, email: &str, verifier: &str) -> String {
    let response = post_json(app, "/api/v1/login", &login_body(email, APP, verifier)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.headers().get_all("set-cookie").iter().next().is_none(), "a cookie for an app");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "sent");
    body["handle"].as_str().expect("no handle").to_owned()
}

async fn redeem(app: &TestApp, handle: &str, code: &str, verifier: &str) -> reqwest::Response {
    let body = json!({ "handle": handle, "code": code, "client_id": APP, "code_verifier": verifier });
    post_json(app, "/api/v1/login/code", &body).await
}

#[tokio::test]
async fn a_native_app_signs_a_person_in_with_the_mailed_code_and_gets_verifiable_tokens() {
    let (app, issuer) = spawn(&[]).await;
    let before = app.mail.received().len();
    let handle = request_handle(&app, "phone-user@example.com", VERIFIER).await;
    let mail = app.mail.wait_for_link_mail(before).await;
    assert_eq!(mail.subject(), "Your sign-in link for Example app", "the mail should name the app asking");
    let code = code_from(&mail);

    let response = redeem(&app, &handle, &code, VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(tokens["scope"], "openid email");

    // The id_token verifies against the JWKS with an independent client library.
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http).await.unwrap();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(APP.into()),
        IssuerUrl::new(issuer).unwrap(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let id_token: CoreIdToken = serde_json::from_value(tokens["id_token"].clone()).unwrap();
    let claims = id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())).expect("id_token does not verify");
    assert_eq!(claims.audiences()[0].as_str(), APP);
    assert_eq!(claims.email().map(|e| e.as_str()), Some("phone-user@example.com"));

    // The access token works, until the person signs out everywhere (a session like any other).
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = || app.client.get(format!("{}/oauth2/userinfo", app.address)).bearer_auth(access).send();
    let info: Value = userinfo().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"].as_str(), Some(claims.subject().as_str()));
    let revoke = app
        .client
        .post(format!("{}/api/v1/admin/users/phone-user@example.com/revoke-sessions", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_eq!(revoke.json::<Value>().await.unwrap()["revoked"], 1, "no session recorded for the app");
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED, "the app's token outlived its session");

    // The code worked once.
    let again = redeem(&app, &handle, &code, VERIFIER).await;
    assert_eq!(again.status(), StatusCode::GONE);
}

#[tokio::test]
async fn an_address_that_may_not_sign_up_gets_the_same_answer_and_no_mail() {
    let (app, _) = spawn(&[("SIGNUP_ALLOW", "example.com")]).await;
    let before = app.mail.received().len();
    let refused = post_json(&app, "/api/v1/login", &login_body("stranger@elsewhere.example", APP, VERIFIER)).await;
    let allowed = post_json(&app, "/api/v1/login", &login_body("member@example.com", APP, VERIFIER)).await;
    assert_eq!(refused.status(), allowed.status());
    let (refused, allowed): (Value, Value) = (refused.json().await.unwrap(), allowed.json().await.unwrap());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&refused), keys(&allowed));
    assert_eq!(refused["status"], "sent");
    assert_eq!(refused["handle"].as_str().unwrap().len(), allowed["handle"].as_str().unwrap().len());
    app.mail.wait_for(before + 1).await;
    app.outbox_settled().await;
    let mails = app.mail.received();
    assert_eq!(mails.len(), before + 1, "exactly one mail: the allowed address's");
    assert!(mails.iter().all(|m| !m.text().contains("stranger@elsewhere.example")));
}

#[tokio::test]
async fn a_stolen_handle_and_code_without_the_apps_verifier_get_nothing_and_spend_no_try() {
    let (app, _) = spawn(&[]).await;
    let before = app.mail.received().len();
    let handle = request_handle(&app, "victim@example.com", VERIFIER).await;
    let code = code_from(&app.mail.wait_for_link_mail(before).await);
    let thief = "another-verifier-that-is-long-enough-to-be-valid-000000000000";
    for _ in 0..6 {
        let response = redeem(&app, &handle, &code, thief).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["error"].as_str(), body["field"].as_str()), (Some("invalid_grant"), Some("code_verifier")));
    }
    // A forged handle, or one for another app, is refused the same way.
    let forged = redeem(&app, &format!("{handle}x"), &code, VERIFIER).await;
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["field"], "handle");
    let other_app =
        json!({ "handle": handle, "code": code, "client_id": "com.example.strict", "code_verifier": VERIFIER });
    let body: Value = post_json(&app, "/api/v1/login/code", &other_app).await.json().await.unwrap();
    assert_eq!(body["field"], "handle");
    // None of that spent one of the attempt's tries: the app still finishes.
    assert_eq!(redeem(&app, &handle, &code, VERIFIER).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_wrong_codes_is_counted_before_checking_and_then_the_attempt_is_dead() {
    let (app, _) = spawn(&[("RATE_LIMIT_REDEEM_FAILURES_IP", "1000/1h")]).await;
    let before = app.mail.received().len();
    let handle = request_handle(&app, "burst@example.com", VERIFIER).await;
    let code = code_from(&app.mail.wait_for_link_mail(before).await);
    let wrong = if code.starts_with("AAAA") { "BBBB-BBBB" } else { "AAAA-AAAA" };
    let body = json!({ "handle": handle, "code": wrong, "client_id": APP, "code_verifier": VERIFIER });
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = app.client.post(format!("{}/api/v1/login/code", app.address)).json(&body);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut wrong_code = 0;
    for task in tasks {
        let response = task.await.unwrap();
        match response.status() {
            StatusCode::BAD_REQUEST => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "wrong_code", "{body}");
                wrong_code += 1;
            }
            StatusCode::GONE => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Five tries: four wrong answers, the fifth ends the attempt; nothing beyond is checked.
    assert_eq!(wrong_code, latchkey::signin::MAX_CODE_TRIES - 1);
    let right = redeem(&app, &handle, &code, VERIFIER).await;
    assert_eq!(right.status(), StatusCode::GONE, "the right code after the attempt died");
    assert_eq!(right.json::<Value>().await.unwrap()["error"], "attempt_ended");
}

#[tokio::test]
async fn only_a_native_client_with_pkce_may_use_the_json_sign_in_and_each_refusal_names_its_field() {
    let (app, _) = spawn(&[]).await;
    let before = app.mail.received().len();
    let field_of = |body: &Value| body["field"].as_str().map(str::to_owned);
    let cases = [
        (login_body("a@example.com", "spa", VERIFIER), "client_id"),
        (login_body("a@example.com", "wiki", VERIFIER), "client_id"),
        (login_body("a@example.com", "no-such-app", VERIFIER), "client_id"),
        (json!({ "email": "a@example.com", "client_id": APP }), "code_challenge"),
        (
            json!({ "email": "a@example.com", "client_id": APP, "code_challenge": "short", "code_challenge_method": "S256" }),
            "code_challenge",
        ),
        (
            json!({ "email": "a@example.com", "client_id": APP, "code_challenge": challenge_of(VERIFIER), "code_challenge_method": "plain" }),
            "code_challenge_method",
        ),
        (json!({ "email": 5, "client_id": APP }), "email"),
        (json!({ "email": "a@example.com", "client_id": ["x"] }), "client_id"),
        (login_body("not an address", APP, VERIFIER), "email"),
    ];
    for (body, field) in cases {
        let response = post_json(&app, "/api/v1/login", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(field_of(&answer).as_deref(), Some(field), "{body}: {answer}");
    }
    let code_cases = [
        (json!({ "handle": "h", "code": 5, "client_id": APP, "code_verifier": VERIFIER }), "code"),
        (json!({ "handle": "h", "code": "AAAA-AAAA", "client_id": "spa", "code_verifier": VERIFIER }), "client_id"),
        (json!({ "handle": "h", "code": "AAAA-AAAA", "client_id": APP, "code_verifier": VERIFIER }), "handle"),
    ];
    for (body, field) in code_cases {
        let response = post_json(&app, "/api/v1/login/code", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(field_of(&answer).as_deref(), Some(field), "{body}: {answer}");
    }
    let missing = post_json(&app, "/api/v1/login/code", &json!({ "handle": "h" })).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("code"));
    let not_json = app.client.post(format!("{}/api/v1/login/code", app.address)).body("{").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), before, "a refused request sent mail");
}

#[tokio::test]
async fn a_second_factor_stops_the_json_sign_in_with_a_clear_answer_and_no_tokens() {
    let (app, _) = spawn(&[("SECOND_FACTOR", "required")]).await;
    // An app that requires one is refused before any mail.
    let strict = post_json(&app, "/api/v1/login", &login_body("a@example.com", "com.example.strict", VERIFIER)).await;
    assert_eq!(strict.status(), StatusCode::FORBIDDEN);
    assert_eq!(strict.json::<Value>().await.unwrap()["error"], "second_factor_required");
    // The policy requires one for every account: known only once the code is right.
    let before = app.mail.received().len();
    let handle = request_handle(&app, "careful@example.com", VERIFIER).await;
    let code = code_from(&app.mail.wait_for_link_mail(before).await);
    let response = redeem(&app, &handle, &code, VERIFIER).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "second_factor_required");
    assert!(body.get("access_token").is_none() && body.get("id_token").is_none());
}

#[tokio::test]
async fn the_json_sign_in_answers_as_the_openapi_document_says() {
    use crate::openapi::{as_documented, served};
    let (app, _) = spawn(&[]).await;
    let doc = served(&app).await;
    let login = |body: Value| {
        let doc = &doc;
        let app = &app;
        async move { as_documented(doc, "POST", "/api/v1/login", post_json(app, "/api/v1/login", &body).await).await }
    };
    let redeem_documented = |handle: String, code: String| {
        let doc = &doc;
        let app = &app;
        async move { as_documented(doc, "POST", "/api/v1/login/code", redeem(app, &handle, &code, VERIFIER).await).await }
    };
    let before = app.mail.received().len();
    let sent = login(login_body("documented@example.com", APP, VERIFIER)).await;
    let handle = sent["handle"].as_str().unwrap().to_owned();
    assert_eq!(login(login_body("a@example.com", "spa", VERIFIER)).await["field"], "client_id");
    let strict = login(login_body("a@example.com", "com.example.strict", VERIFIER)).await;
    assert_eq!(strict["error"], "second_factor_required");
    let code = code_from(&app.mail.wait_for_link_mail(before).await);
    let wrong = if code.starts_with("AAAA") { "BBBB-BBBB" } else { "AAAA-AAAA" };
    assert_eq!(redeem_documented(handle.clone(), wrong.to_owned()).await["tries_left"], 4);
    assert!(redeem_documented(handle.clone(), code.clone()).await["id_token"].is_string());
    assert_eq!(redeem_documented(handle, code).await["error"], "attempt_ended");
}

/// The new-device notices among the mails received.
fn notices(app: &TestApp) -> usize {
    app.mail.received().iter().filter(|m| m.subject() == "New sign-in to your account").count()
}

/// The whole JSON sign-in for `email`; the tokens.
async fn app_sign_in(app: &TestApp, email: &str) -> Value {
    let before = app.mail.received().len();
    let handle = request_handle(app, email, VERIFIER).await;
    let code = code_from(&app.mail.wait_for_link_mail(before).await);
    let response = redeem(app, &handle, &code, VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_first_sign_in_of_an_app_to_an_account_is_mailed_to_the_person_like_a_new_browser() {
    let (app, _) = spawn(&[]).await;
    app.sign_in("owner@example.com").await;
    app.outbox_settled().await;
    assert_eq!(notices(&app), 0, "the account's first browser is no news");
    app_sign_in(&app, "owner@example.com").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while notices(&app) == 0 {
        assert!(std::time::Instant::now() < deadline, "no notice for the app's first sign-in");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The same app again is no news.
    app_sign_in(&app, "owner@example.com").await;
    app.outbox_settled().await;
    assert_eq!(notices(&app), 1);
}

#[tokio::test]
async fn under_policy_approve_a_native_apps_link_opened_elsewhere_asks_for_the_code_not_a_number() {
    let (app, _) = spawn(&[("CROSS_DEVICE", "approve")]).await;
    let before = app.mail.received().len();
    let response = post_json(&app, "/api/v1/login", &login_body("native-approve@example.com", APP, VERIFIER)).await;
    let body: Value = response.json().await.unwrap();
    assert!(body.get("number").is_none(), "a number the app cannot use: {body}");
    let handle = body["handle"].as_str().unwrap().to_owned();
    let mail = app.mail.wait_for_link_mail(before).await;

    // The phone's browser (no attempt cookie: the app has none) is asked for the code.
    let token = crate::helpers::token_from_link(&crate::helpers::magic_link_from(&mail));
    let page = app.get_verify(&token).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(!html.contains("name=\"number\""), "a number nobody shows: {html}");
    assert!(html.contains("action=\"/login/code\""), "{html}");
    assert_eq!(redeem(&app, &handle, &code_from(&mail), VERIFIER).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_json_sign_ins_messages_follow_accept_language_and_its_error_codes_stay_english() {
    let (app, _) = spawn(&[]).await;
    let url = format!("{}/api/v1/login", app.address);
    let mut body = login_body("sprache@example.com", APP, VERIFIER);
    body["code_challenge_method"] = "plain".into();
    let refused = app.client.post(&url).header("accept-language", "de").json(&body).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(
        (refused["error"].as_str(), refused["field"].as_str()),
        (Some("invalid_body"), Some("code_challenge_method"))
    );
    assert_eq!(refused["message"], "code_challenge_method: muss S256 sein", "{refused}");

    let before = app.mail.received().len();
    let handle = request_handle(&app, "sprache@example.com", VERIFIER).await;
    let code = code_from(&app.mail.wait_for_link_mail(before).await);
    let wrong: String = code
        .chars()
        .map(|c| {
            if c == '-' {
                c
            } else if c == '7' {
                '8'
            } else {
                '7'
            }
        })
        .collect();
    let body = json!({ "handle": handle, "code": wrong, "client_id": APP, "code_verifier": VERIFIER });
    let answer =
        app.client.post(format!("{url}/code")).header("accept-language", "de").json(&body).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        (answer["error"].as_str(), answer["message"].as_str()),
        (Some("wrong_code"), Some("der Code ist falsch"))
    );
}
