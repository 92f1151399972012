//! Malformed input to the admin API: a 400 naming the parameter or field, never a 5xx.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

async fn spawn_admin_app() -> TestApp {
    spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("ADMIN_EMAILS", "boss@example.com")]).await
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}/api/v1/admin{path}", app.address)).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")))
}

/// The 400 names `field`: in `field`/`fields`, or at the start of the message.
fn assert_names(path: &str, (status, body): &(StatusCode, Value), field: &str) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{path}: {body}");
    let named = body["field"] == field
        || body["fields"].get(field).is_some()
        || body["message"].as_str().is_some_and(|m| m.starts_with(&format!("{field}:")));
    assert!(named, "{path}: `{field}` not named in {body}");
}

#[tokio::test]
async fn malformed_admin_query_and_path_parameters_are_a_400_naming_the_parameter() {
    let app = spawn_admin_app().await;
    for (method, path, field) in [
        (Method::GET, "/audit?before=zzz", "before"),
        (Method::GET, "/audit?before=99999999999999999999999-0", "before"),
        (Method::GET, "/audit?limit=abc", "limit"),
        (Method::GET, "/audit?limit=-1", "limit"),
        (Method::GET, "/audit?user=not-an-address", "user"),
        (Method::GET, "/outbox?limit=lots", "limit"),
        (Method::GET, "/users/not-an-address", "email"),
        (Method::POST, "/users/a%25b@example.com/revoke-sessions", "email"),
        (Method::DELETE, "/users/@example.com/second-factor", "email"),
        (Method::POST, "/users/x@-bad-/block", "email"),
    ] {
        assert_names(path, &call(&app, method, path, None).await, field);
    }
    // Dead-letter ids are opaque: one that is no store's id is no letter (404), never a 5xx.
    for id in ["zzz", "99999999999999999999999-0", "1-99999999999999999999999", "-", "1-0"] {
        let (status, body) = call(&app, Method::POST, &format!("/outbox/dead/{id}/retry"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
    }
    // Well-formed ones still work.
    assert_eq!(call(&app, Method::GET, "/audit?before=1-0&limit=5", None).await.0, StatusCode::OK);
    assert_eq!(call(&app, Method::GET, "/outbox?limit=5", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_type_error_in_a_policy_or_client_field_is_a_400_naming_the_field() {
    let app = spawn_admin_app().await;
    let (_, policy) = call(&app, Method::GET, "/policy", None).await;
    for (field, value, named) in [
        ("link_ttl_secs", serde_json::json!(-5), "link_ttl_secs"),
        ("session_ttl_secs", serde_json::json!("12h"), "session_ttl_secs"),
        ("methods", serde_json::json!({ "totp": "yes", "sms": true }), "methods.totp"),
        ("rate_limits", serde_json::json!(42), "rate_limits"),
        ("signup_allow", serde_json::json!([1, 2]), "signup_allow[0]"),
        ("cross_device", serde_json::json!("sometimes"), "cross_device"),
    ] {
        let mut bad = policy.clone();
        bad[field] = value;
        assert_names(field, &call(&app, Method::PUT, "/policy", Some(&bad)).await, named);
    }
    let client = |field: &str, value: Value| {
        let mut draft = serde_json::json!({
            "client_id": "app", "type": "public", "redirect_uris": ["https://app.example.com/cb"]
        });
        draft[field] = value;
        draft
    };
    for (field, value) in [
        ("max_session_age_secs", serde_json::json!("1h")),
        ("redirect_uris", serde_json::json!("https://app.example.com/cb")),
        ("require_second_factor", serde_json::json!("yes")),
    ] {
        let draft = client(field, value);
        assert_names(field, &call(&app, Method::POST, "/clients", Some(&draft)).await, field);
        assert_names(field, &call(&app, Method::PUT, "/clients/app", Some(&draft)).await, field);
    }
}

#[tokio::test]
async fn malformed_input_to_the_admin_pages_is_a_400_naming_the_field() {
    let app = spawn_admin_app().await;
    crate::malformed_input::admin_browser(&app).await;
    let page = app.get("/admin/users?email=not-an-address").await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("email: That does not look like an email address"));
    let csrf = app.csrf_token().await;
    let acted = app.post_form("/admin/users/block", &[("csrf", &csrf), ("email", "a%b@example.com")]).await;
    assert_eq!(acted.status(), StatusCode::BAD_REQUEST);
    assert!(acted.text().await.unwrap().contains("email: Addresses with %"));
    let twice = app.post_form("/admin/policy", &[("csrf", &csrf), ("csrf", &csrf), ("link_ttl_minutes", "15")]).await;
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    let html = twice.text().await.unwrap();
    assert!(html.contains("duplicate field") && html.contains("csrf"), "{html}");
}
