//! Local parts some relays read as a route (`%`, `!`, `=?…?=`): with them an address "at" an
//! allowed domain could be delivered elsewhere, so they are refused with a clear message.

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app_with};

const REROUTED: [&str; 3] = [
    "victim%evil.example@allowed.example",
    "evil.example!victim@allowed.example",
    "=?utf-8?q?victim=40evil.example?=@allowed.example",
];

async fn post_login_in(app: &TestApp, email: &str, lang: &str) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    let request = app
        .client
        .post(format!("{}/login", app.address))
        .header("Accept-Language", lang)
        .form(&[("email", email), ("csrf", csrf.as_str())]);
    app.send(request).await
}

#[tokio::test]
async fn addresses_that_relays_reroute_are_refused_in_english_and_german_and_mail_nobody() {
    let app = spawn_app_with(&[("SIGNUP_ALLOW", "allowed.example")]).await;
    for email in REROUTED {
        let english = post_login_in(&app, email, "en").await;
        assert_eq!(english.status(), StatusCode::BAD_REQUEST, "{email}");
        let html = english.text().await.unwrap();
        assert!(html.contains("Addresses with %, ! or =?…?= before the @ are not accepted"), "{email}: {html}");
        let german = post_login_in(&app, email, "de").await;
        assert_eq!(german.status(), StatusCode::BAD_REQUEST, "{email}");
        let html = german.text().await.unwrap();
        assert!(html.contains("Adressen mit %, ! oder =?…?= vor dem @ werden nicht angenommen"), "{email}: {html}");
        let api = app
            .client
            .post(format!("{}/api/v1/login", app.address))
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::BAD_REQUEST, "{email}");
        assert!(api.text().await.unwrap().contains("=?…?="), "{email}");
    }
    // An ordinary address at the allowed domain still gets its link.
    assert_eq!(app.post_login("person@allowed.example").await.status(), StatusCode::OK);
    app.outbox_settled().await;
    let received = app.mail.received();
    assert_eq!(received.len(), 1, "mail went to a rerouted address");
}
