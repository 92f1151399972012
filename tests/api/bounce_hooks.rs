//! The providers' bounce webhooks, each with a real signature computed here over keys made
//! here: a hard bounce or a complaint puts the address on the suppression list; a soft bounce
//! does nothing; a forged, tampered, stale or replayed request is a 401; an unreadable one a
//! 400 naming the field; a provider without its secret configured is a 404.

use std::process::Command;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const TOKEN: &str = "bounce-hooks-admin-token-0123456789abcdef";
const MAILGUN_KEY: &str = "key-mailgun-signing-0123456789abcdef";
const POSTMARK: &str = "postmark:hook-password-0123456789";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:latchkey-bounces";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn post(app: &TestApp, provider: &str, body: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let url = format!("{}/hooks/bounces/{provider}", app.address);
    let mut request = app.client.post(url).header("content-type", "application/json").body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn suppression(app: &TestApp, email: &str) -> Value {
    let url = format!("{}/api/v1/admin/suppressions", app.address);
    let response = app.client.get(url).query(&[("email", email)]).bearer_auth(TOKEN).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    body["suppression"].clone()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_provider_without_its_secret_is_not_found() {
    let app = spawn_app().await;
    for provider in ["ses", "postmark", "sendgrid", "mailgun", "other"] {
        let (status, _) = post(&app, provider, "{}", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{provider}");
    }
}

fn mailgun(timestamp: i64, token: &str, event: Value) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
    mac.update(timestamp.to_string().as_bytes());
    mac.update(token.as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "signature": { "timestamp": timestamp.to_string(), "token": token, "signature": signature },
        "event-data": event,
    })
    .to_string()
}

#[tokio::test]
async fn mailgun_permanent_failures_and_complaints_suppress_with_a_fresh_unused_signed_token() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("BOUNCE_MAILGUN_SIGNING_KEY", MAILGUN_KEY)]).await;
    let failed = json!({ "event": "failed", "severity": "permanent", "recipient": "gone@example.com" });
    let body = mailgun(now(), "token-1-0123456789abcdef0123456789", failed.clone());
    assert_eq!(post(&app, "mailgun", &body, &[]).await.0, StatusCode::OK);
    let entry = suppression(&app, "gone@example.com").await;
    assert_eq!((entry["reason"].as_str(), entry["source"].as_str()), (Some("bounce"), Some("mailgun")), "{entry}");

    // The same request again: a replay.
    assert_eq!(post(&app, "mailgun", &body, &[]).await.0, StatusCode::UNAUTHORIZED);
    // Tampered: the signature no longer matches its timestamp and token.
    let tampered = body.replace("token-1-", "token-2-");
    assert_eq!(post(&app, "mailgun", &tampered, &[]).await.0, StatusCode::UNAUTHORIZED);
    // Signed, but an hour old.
    let stale = mailgun(now() - 3600, "token-3-0123456789abcdef0123456789", failed);
    assert_eq!(post(&app, "mailgun", &stale, &[]).await.0, StatusCode::UNAUTHORIZED);

    // A temporary failure is ignored; a complaint suppresses.
    let soft = json!({ "event": "failed", "severity": "temporary", "recipient": "full@example.com" });
    let body = mailgun(now(), "token-4-0123456789abcdef0123456789", soft);
    assert_eq!(post(&app, "mailgun", &body, &[]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "full@example.com").await, Value::Null);
    let complaint = json!({ "event": "complained", "recipient": "Annoyed@Example.com" });
    let body = mailgun(now(), "token-5-0123456789abcdef0123456789", complaint);
    assert_eq!(post(&app, "mailgun", &body, &[]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "annoyed@example.com").await["reason"], "complaint");

    // Unreadable: a 400 naming the field.
    let body = mailgun(now(), "token-6-0123456789abcdef0123456789", json!({ "event": "failed" }));
    let (status, error) = post(&app, "mailgun", &body, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "event-data.recipient", "{error}");
    assert!(error["message"].as_str().unwrap().contains("recipient"), "{error}");
    let bad = json!({ "event": "complained", "recipient": "not an address" });
    let (status, error) = post(&app, "mailgun", &mailgun(now(), "token-7-0123456789abcdef0123456789", bad), &[]).await;
    assert_eq!((status, error["field"].as_str()), (StatusCode::BAD_REQUEST, Some("event-data.recipient")));
    assert_eq!(post(&app, "mailgun", "not json", &[]).await.0, StatusCode::BAD_REQUEST);

    // The suppressed address gets no mail.
    let url = format!("{}/api/v1/login", app.address);
    let sent = app.client.post(url).json(&json!({ "email": "gone@example.com" })).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED, "the request is answered as for anyone");
    assert_eq!(app.outbox_settled().await.dead, 1);
    assert!(app.mail.received().is_empty());
}

#[tokio::test]
async fn postmark_hard_bounces_and_spam_complaints_suppress_behind_basic_authentication() {
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("BOUNCE_POSTMARK_CREDENTIALS", POSTMARK)]).await;
    let auth = format!("Basic {}", b64(POSTMARK.as_bytes()));
    let hard = json!({ "RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "Email": "gone@example.com" });
    assert_eq!(post(&app, "postmark", &hard.to_string(), &[("authorization", &auth)]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "gone@example.com").await["source"], "postmark");

    let wrong = format!("Basic {}", b64(b"postmark:hook-password-0123456780"));
    let other = json!({ "RecordType": "Bounce", "Type": "HardBounce", "Email": "victim@example.com" }).to_string();
    let url = format!("{}/hooks/bounces/postmark", app.address);
    let refused = app.client.post(url).header("authorization", wrong).body(other.clone()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));
    assert_eq!(post(&app, "postmark", &other, &[]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(suppression(&app, "victim@example.com").await, Value::Null);

    let soft = json!({ "RecordType": "Bounce", "Type": "SoftBounce", "Email": "full@example.com" });
    assert_eq!(post(&app, "postmark", &soft.to_string(), &[("authorization", &auth)]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "full@example.com").await, Value::Null);
    let spam = json!({ "RecordType": "SpamComplaint", "Type": "SpamComplaint", "Email": "annoyed@example.com" });
    assert_eq!(post(&app, "postmark", &spam.to_string(), &[("authorization", &auth)]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "annoyed@example.com").await["reason"], "complaint");

    let (status, error) = post(&app, "postmark", r#"{"RecordType":"Bounce"}"#, &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "Email", "{error}");
}

#[tokio::test]
async fn sendgrid_signed_events_suppress_and_a_tampered_batch_is_refused() {
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;
    let seed: [u8; 32] = rand::random();
    let key = p256::ecdsa::SigningKey::from_slice(&seed).unwrap();
    let public = b64(key.verifying_key().to_public_key_der().unwrap().as_bytes());
    let app = spawn_app_with(&[("ADMIN_API_TOKEN", TOKEN), ("BOUNCE_SENDGRID_PUBLIC_KEY", &public)]).await;
    let sign = |timestamp: &str, body: &str| {
        let signature: p256::ecdsa::Signature = key.sign(format!("{timestamp}{body}").as_bytes());
        b64(signature.to_der().as_bytes())
    };
    let body = json!([
        { "email": "gone@example.com", "event": "bounce", "type": "bounce", "sg_event_id": "a" },
        { "email": "annoyed@example.com", "event": "spamreport", "sg_event_id": "b" },
        { "email": "busy@example.com", "event": "bounce", "type": "blocked", "sg_event_id": "c" },
        { "email": "late@example.com", "event": "deferred", "sg_event_id": "d" },
    ])
    .to_string();
    let timestamp = now().to_string();
    let headers = |signature: &str, timestamp: &str| {
        vec![
            ("x-twilio-email-event-webhook-signature".to_owned(), signature.to_owned()),
            ("x-twilio-email-event-webhook-timestamp".to_owned(), timestamp.to_owned()),
        ]
    };
    async fn sendgrid(app: &TestApp, body: String, h: Vec<(String, String)>) -> (StatusCode, Value) {
        let refs: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        post(app, "sendgrid", &body, &refs).await
    }

    // Tampered: an address swapped after signing.
    let signature = sign(&timestamp, &body);
    let tampered = body.replace("gone@example.com", "victim@example.com");
    assert_eq!(sendgrid(&app, tampered, headers(&signature, &timestamp)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(sendgrid(&app, body.clone(), headers(&signature, "1")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(sendgrid(&app, body.clone(), vec![]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(suppression(&app, "victim@example.com").await, Value::Null);
    // Signed, but an hour old.
    let stale = (now() - 3600).to_string();
    assert_eq!(sendgrid(&app, body.clone(), headers(&sign(&stale, &body), &stale)).await.0, StatusCode::UNAUTHORIZED);

    let (status, answer) = sendgrid(&app, body.clone(), headers(&signature, &timestamp)).await;
    assert_eq!((status, answer["reports"].as_u64()), (StatusCode::OK, Some(2)), "{answer}");
    assert_eq!(suppression(&app, "gone@example.com").await["reason"], "bounce");
    assert_eq!(suppression(&app, "annoyed@example.com").await["reason"], "complaint");
    assert_eq!(suppression(&app, "busy@example.com").await, Value::Null);
    assert_eq!(suppression(&app, "late@example.com").await, Value::Null);

    // A batch larger than other routes' bodies (16 KiB) is taken.
    let many: Vec<Value> =
        (0..400).map(|i| json!({ "email": format!("late{i}@example.com"), "event": "deferred" })).collect();
    let batch = Value::Array(many).to_string();
    assert!(batch.len() > 16 * 1024);
    assert_eq!(sendgrid(&app, batch.clone(), headers(&sign(&timestamp, &batch), &timestamp)).await.0, StatusCode::OK);

    let bad = json!([{ "event": "bounce" }]).to_string();
    let (status, error) = sendgrid(&app, bad.clone(), headers(&sign(&timestamp, &bad), &timestamp)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "[0].email", "{error}");
}

/// A key and a self-signed certificate made with `openssl`, and a signer over that key.
struct SnsKey {
    dir: std::path::PathBuf,
}

impl SnsKey {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("latchkey-sns-{}", latchkey::crypto::random_token::<6>().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sns.test"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        Self { dir }
    }

    fn cert(&self) -> String {
        std::fs::read_to_string(self.dir.join("cert.pem")).unwrap()
    }

    fn sign(&self, digest: &str, data: &str) -> String {
        let file = self.dir.join(format!("data-{}", latchkey::crypto::random_token::<6>().unwrap()));
        std::fs::write(&file, data).unwrap();
        let signed = Command::new("openssl")
            .args(["dgst", digest, "-sign"])
            .arg(self.dir.join("key.pem"))
            .arg(&file)
            .output()
            .unwrap();
        assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
        b64(&signed.stdout)
    }
}

impl Drop for SnsKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An SNS notification carrying `message`, signed as SignatureVersion `version`, sent now
/// (with a message id of its own).
fn sns_notification(key: &SnsKey, cert_url: &str, topic: &str, message: &Value, version: &str) -> Value {
    let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    sns_notification_at(key, cert_url, topic, message, version, &at)
}

/// An SNS notification as [`sns_notification`], stamped `at`.
fn sns_notification_at(key: &SnsKey, cert_url: &str, topic: &str, message: &Value, version: &str, at: &str) -> Value {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let message = message.to_string();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!("b9b5f6d4-0000-4000-8000-{n:012}");
    let canonical =
        format!("Message\n{message}\nMessageId\n{id}\nTimestamp\n{at}\nTopicArn\n{topic}\nType\nNotification\n");
    let digest = if version == "1" { "-sha1" } else { "-sha256" };
    json!({
        "Type": "Notification",
        "MessageId": id,
        "TopicArn": topic,
        "Message": message,
        "Timestamp": at,
        "SignatureVersion": version,
        "Signature": key.sign(digest, &canonical),
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    })
}

fn ses_bounce(kind: &str, to: &str) -> Value {
    json!({
        "notificationType": "Bounce",
        "bounce": { "bounceType": kind, "bouncedRecipients": [{ "emailAddress": to }] },
        "mail": { "source": "login@example.test" },
    })
}

#[tokio::test]
async fn ses_notifications_signed_over_sns_suppress_with_either_signature_version() {
    let key = SnsKey::new();
    let sns = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/SimpleNotificationService-test.pem"))
        .respond_with(ResponseTemplate::new(200).set_body_string(key.cert()))
        .mount(&sns)
        .await;
    Mock::given(method("GET"))
        .and(path("/confirm"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&sns)
        .await;
    let prefix = format!("{}/", sns.uri());
    let app = spawn_app_with(&[
        ("ADMIN_API_TOKEN", TOKEN),
        ("BOUNCE_SES_TOPIC_ARN", TOPIC),
        ("BOUNCE_SES_CERT_URL_PREFIX", &prefix),
    ])
    .await;
    let cert_url = format!("{prefix}SimpleNotificationService-test.pem");

    let v1 = sns_notification(&key, &cert_url, TOPIC, &ses_bounce("Permanent", "gone@example.com"), "1");
    assert_eq!(post(&app, "ses", &v1.to_string(), &[]).await.0, StatusCode::OK);
    let entry = suppression(&app, "gone@example.com").await;
    assert_eq!((entry["reason"].as_str(), entry["source"].as_str()), (Some("bounce"), Some("ses")), "{entry}");

    let complaint = json!({
        "notificationType": "Complaint",
        "complaint": { "complainedRecipients": [{ "emailAddress": "annoyed@example.com" }] },
    });
    let v2 = sns_notification(&key, &cert_url, TOPIC, &complaint, "2");
    assert_eq!(post(&app, "ses", &v2.to_string(), &[]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "annoyed@example.com").await["reason"], "complaint");

    // A transient bounce is ignored.
    let soft = sns_notification(&key, &cert_url, TOPIC, &ses_bounce("Transient", "full@example.com"), "2");
    assert_eq!(post(&app, "ses", &soft.to_string(), &[]).await.0, StatusCode::OK);
    assert_eq!(suppression(&app, "full@example.com").await, Value::Null);

    // Tampered after signing; another topic; a certificate from elsewhere.
    let mut tampered = sns_notification(&key, &cert_url, TOPIC, &ses_bounce("Permanent", "ok@example.com"), "2");
    tampered["Message"] = json!(ses_bounce("Permanent", "victim@example.com").to_string());
    assert_eq!(post(&app, "ses", &tampered.to_string(), &[]).await.0, StatusCode::UNAUTHORIZED);
    let other = "arn:aws:sns:eu-west-1:999999999999:someone-else";
    let foreign = sns_notification(&key, &cert_url, other, &ses_bounce("Permanent", "victim@example.com"), "2");
    assert_eq!(post(&app, "ses", &foreign.to_string(), &[]).await.0, StatusCode::UNAUTHORIZED);
    let elsewhere = "https://sns.example.com/SimpleNotificationService-test.pem";
    let forged = sns_notification(&key, elsewhere, TOPIC, &ses_bounce("Permanent", "victim@example.com"), "2");
    assert_eq!(post(&app, "ses", &forged.to_string(), &[]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(suppression(&app, "victim@example.com").await, Value::Null);

    // Unreadable: named.
    let mut unsigned = v1.clone();
    unsigned.as_object_mut().unwrap().remove("Signature");
    let (status, error) = post(&app, "ses", &unsigned.to_string(), &[]).await;
    assert_eq!((status, error["field"].as_str()), (StatusCode::BAD_REQUEST, Some("Signature")), "{error}");

    // A subscription confirmation, signed, is confirmed by fetching its URL (once).
    let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let (id, token) = ("c0ffee00-0000-4000-8000-000000000002", "tok");
    let subscribe = format!("{}/confirm", sns.uri());
    let message = "You have chosen to subscribe to the topic.";
    let canonical = format!(
        "Message\n{message}\nMessageId\n{id}\nSubscribeURL\n{subscribe}\nTimestamp\n{at}\nToken\n{token}\nTopicArn\n{TOPIC}\nType\nSubscriptionConfirmation\n"
    );
    let confirmation = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": id,
        "Token": token,
        "TopicArn": TOPIC,
        "Message": message,
        "SubscribeURL": subscribe,
        "Timestamp": at,
        "SignatureVersion": "2",
        "Signature": key.sign("-sha256", &canonical),
        "SigningCertURL": cert_url,
    });
    assert_eq!(post(&app, "ses", &confirmation.to_string(), &[]).await.0, StatusCode::OK);
    sns.verify().await;
}

#[tokio::test]
async fn a_replayed_or_stale_sns_notification_suppresses_nothing() {
    let key = SnsKey::new();
    let sns = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/SimpleNotificationService-test.pem"))
        .respond_with(ResponseTemplate::new(200).set_body_string(key.cert()))
        .mount(&sns)
        .await;
    let prefix = format!("{}/", sns.uri());
    let app = spawn_app_with(&[
        ("ADMIN_API_TOKEN", TOKEN),
        ("BOUNCE_SES_TOPIC_ARN", TOPIC),
        ("BOUNCE_SES_CERT_URL_PREFIX", &prefix),
    ])
    .await;
    let cert_url = format!("{prefix}SimpleNotificationService-test.pem");

    let fresh = sns_notification(&key, &cert_url, TOPIC, &ses_bounce("Permanent", "once@example.com"), "2");
    assert_eq!(post(&app, "ses", &fresh.to_string(), &[]).await.0, StatusCode::OK);
    // Taken off the list by an administrator, then the captured message is sent again.
    let url = format!("{}/api/v1/admin/suppressions", app.address);
    let cleared = app.client.delete(url).query(&[("email", "once@example.com")]).bearer_auth(TOKEN).send().await;
    assert!(cleared.unwrap().status().is_success());
    assert_eq!(suppression(&app, "once@example.com").await, Value::Null);
    let (status, body) = post(&app, "ses", &fresh.to_string(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(suppression(&app, "once@example.com").await, Value::Null);

    // Signed two hours ago (a message captured long ago): refused.
    let at = (chrono::Utc::now() - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let old = sns_notification_at(&key, &cert_url, TOPIC, &ses_bounce("Permanent", "old@example.com"), "2", &at);
    let (status, body) = post(&app, "ses", &old.to_string(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(suppression(&app, "old@example.com").await, Value::Null);
    // An unreadable timestamp is named.
    let bad =
        sns_notification_at(&key, &cert_url, TOPIC, &ses_bounce("Permanent", "bad@example.com"), "2", "yesterday");
    let (status, body) = post(&app, "ses", &bad.to_string(), &[]).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("Timestamp")), "{body}");
}
