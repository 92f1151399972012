//! Where webhooks may go: never to an address in an IANA special-purpose range (NAT64, 6to4,
//! Teredo and IPv4-mapped forms included), never to a trailing-dot or local name, and never
//! through a proxy named by the environment's proxy variables (only `WEBHOOK_PROXY`).

use std::process::Command;
use std::sync::Arc;

use latchkey::webhooks::WebhookCall;
use latchkey::webhooks::WebhookSender;
use reqwest::StatusCode;
use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{jwt_key_file, spawn_app_with};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

#[tokio::test]
async fn registering_a_webhook_in_a_special_purpose_range_or_at_a_local_name_is_refused_naming_the_field() {
    let (key, _) = jwt_key_file();
    let app = spawn_app_with(&[("APP_ENV", "production"), ("JWT_KEYS", &key), ("ADMIN_API_TOKEN", TOKEN)]).await;
    let url = format!("{}/api/v1/admin/clients", app.address);
    let draft = |id: &str, hook: &str| {
        serde_json::json!({
            "client_id": id, "type": "public", "redirect_uris": ["https://app.example.com/cb"], "webhook_url": hook
        })
    };
    for hook in [
        "https://[64:ff9b::a9fe:a9fe]/latest",                 // NAT64 of 169.254.169.254
        "https://[64:ff9b::a00:1]/hook",                       // NAT64 of 10.0.0.1
        "https://[2002:a00:1::1]/hook",                        // 6to4 of 10.0.0.1
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook", // Teredo
        "https://[::ffff:7f00:1]/hook",                        // IPv4-mapped 127.0.0.1
        "https://[::ffff:8.8.8.8]/hook",                       // IPv4-mapped, even of a public address
        "https://100.64.0.1/hook",
        "https://198.18.0.1/hook",
        "https://240.0.0.1/hook",
        "https://224.0.0.1/hook",
        "https://[ff02::1]/hook",
        "https://192.0.0.170/hook",
        "https://localhost./hook",
        "https://hooks.example.com./hook",
        "https://app.localhost/hook",
        "https://metadata.internal/hook",
        "https://metadata/hook",
    ] {
        let response = app.client.post(&url).bearer_auth(TOKEN).json(&draft("hooked", hook)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hook} accepted");
        let body: Value = response.json().await.unwrap();
        let problems = body["problems"].to_string();
        assert!(problems.contains("webhook_url"), "{hook}: the field is not named: {body}");
    }
    // An update cannot bring one in either; a public host is fine.
    let created = app.client.post(&url).bearer_auth(TOKEN).json(&draft("app", "https://hooks.example.com/h")).send();
    assert_eq!(created.await.unwrap().status(), StatusCode::CREATED);
    let update = app
        .client
        .put(format!("{url}/app"))
        .bearer_auth(TOKEN)
        .json(&draft("app", "https://[64:ff9b::7f00:1]/hook"))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), StatusCode::BAD_REQUEST);
    assert!(update.text().await.unwrap().contains("webhook_url"));
}

const CHILD: &str = "webhook_egress::one_delivery_in_a_process_of_its_own";

/// Runs [`one_delivery_in_a_process_of_its_own`] in a child process with these variables (the
/// proxy variables are process-wide; the child keeps them away from every other test).
fn deliver_in_child(receiver: &str, vars: &[(&str, String)]) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([CHILD, "--exact", "--ignored", "--test-threads=1"]);
    for var in
        ["NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    {
        command.env_remove(var);
    }
    command.env("LATCHKEY_TEST_WEBHOOK_RECEIVER", receiver);
    for (k, v) in vars {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("1 passed"), "the child failed:\n{stdout}");
}

/// Not a test by itself: the child half of the proxy test (it does nothing unless that test
/// starts it).
#[tokio::test]
#[ignore = "run by webhook_deliveries_ignore_proxy_variables_and_go_through_webhook_proxy_only"]
async fn one_delivery_in_a_process_of_its_own() {
    let Ok(receiver) = std::env::var("LATCHKEY_TEST_WEBHOOK_RECEIVER") else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = std::env::var("LATCHKEY_TEST_WEBHOOK_PROXY").ok();
    let sender = WebhookSender::new(Arc::new(latchkey::clock::SystemClock), false, proxy.as_deref()).unwrap();
    let call = WebhookCall {
        url: format!("{receiver}/hook"),
        secret: "s".repeat(32),
        event_id: "evt".into(),
        body: "{}".into(),
    };
    assert_eq!(sender.deliver(&call).await, Ok(()));
}

#[tokio::test]
async fn webhook_deliveries_ignore_proxy_variables_and_go_through_webhook_proxy_only() {
    let receiver = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    // A "proxy" that answers 200 to anything, so a delivery through it would count as sent.
    let proxy = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200)).mount(&proxy).await;
    let environment: Vec<(&str, String)> =
        ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .into_iter()
            .map(|var| (var, proxy.uri()))
            .collect();

    deliver_in_child(&receiver.uri(), &environment);
    assert_eq!(proxy.received_requests().await.unwrap().len(), 0, "a proxy variable was honoured");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1, "the receiver was not called directly");

    let mut on_purpose = environment.clone();
    on_purpose.push(("LATCHKEY_TEST_WEBHOOK_PROXY", proxy.uri()));
    deliver_in_child(&receiver.uri(), &on_purpose);
    assert_eq!(proxy.received_requests().await.unwrap().len(), 1, "WEBHOOK_PROXY was not used");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_webhook_proxy_that_is_not_an_http_proxy_url_stops_start_up_naming_it() {
    for bad in ["socks5://127.0.0.1:1080", "not a url", "file:///etc/passwd"] {
        let vars = [("WEBHOOK_PROXY", bad)];
        let err = latchkey::Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
            .expect_err("a bad WEBHOOK_PROXY was accepted");
        assert!(err.mentions("WEBHOOK_PROXY"), "{err}");
    }
    let vars = [("WEBHOOK_PROXY", "http://user:secret-pass@egress.example.com:3128")];
    let settings =
        latchkey::Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())).unwrap();
    assert!(!format!("{settings:?}").contains("secret-pass"), "the proxy's password reached Debug");
}
