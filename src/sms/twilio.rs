//! The Twilio Messages API adapter (or any service that speaks it).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{SmsError, SmsSender};
use crate::config::is_messaging_service_sid;
use crate::domain::PhoneNumber;

/// How long one request to the provider may take, connection included.
const TWILIO_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends through Twilio's Messages API, or any service that speaks it.
pub struct TwilioSms {
    client: reqwest::Client,
    messages_url: Url,
    account_sid: String,
    auth_token: SecretString,
    /// The form field and value naming the sender: `From` for a number, or
    /// `MessagingServiceSid` for a Messaging Service (`MG…`).
    sender: (&'static str, String),
}

impl TwilioSms {
    /// Builds the adapter and its HTTP client (once; connections are pooled).
    /// `from` is an E.164 number or a Messaging Service SID (`MG…`).
    pub fn new(account_sid: &str, auth_token: SecretString, from: &str, base_url: &Url) -> anyhow::Result<Self> {
        let mut messages_url = base_url.clone();
        messages_url
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("TWILIO_BASE_URL {base_url} cannot hold a path"))?
            .pop_if_empty()
            .extend(["2010-04-01", "Accounts", account_sid, "Messages.json"]);
        let client = reqwest::Client::builder()
            .timeout(TWILIO_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let sender = if is_messaging_service_sid(from) { "MessagingServiceSid" } else { "From" };
        Ok(Self {
            client,
            messages_url,
            account_sid: account_sid.to_owned(),
            auth_token,
            sender: (sender, from.to_owned()),
        })
    }
}

/// Twilio's error document: `{"code": 21211, "message": "…", "status": 400, …}`.
#[derive(Debug, Default, Deserialize)]
struct TwilioFailure {
    code: Option<u32>,
    message: Option<String>,
}

/// The part of Twilio's answer to a sent message worth logging (not `to`, not `body`).
#[derive(Deserialize)]
struct TwilioAccepted {
    sid: Option<String>,
}

#[async_trait]
impl SmsSender for TwilioSms {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError> {
        let (sender_field, sender) = &self.sender;
        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&[("To", to.as_str()), (sender_field, sender), ("Body", body)])
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(anyhow::Error::new(e).context("cannot reach the SMS provider")))?;
        let status = response.status();
        let answer = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let sid = serde_json::from_slice::<TwilioAccepted>(&answer).ok().and_then(|a| a.sid);
            tracing::info!(to = %to.masked(), sid, "SMS accepted by the provider");
            return Ok(());
        }
        let failure: TwilioFailure = serde_json::from_slice(&answer).unwrap_or_default();
        // Twilio's messages quote the number ("The 'To' number +4420… is not valid").
        let message = failure.message.as_deref().map(|m| scrub(m, to));
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                tracing::error!(
                    to = %to.masked(), %status, code = failure.code, message,
                    "the SMS provider refused our credentials or URL: check TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_BASE_URL"
                );
                Err(SmsError::Unavailable(anyhow::anyhow!("the SMS provider answered {status}")))
            }
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                tracing::warn!(to = %to.masked(), %status, code = failure.code, message, "SMS provider busy");
                Err(SmsError::Unavailable(anyhow::anyhow!("the SMS provider answered {status}")))
            }
            s if s.is_client_error() => {
                tracing::warn!(to = %to.masked(), %status, code = failure.code, message, "SMS refused by the provider");
                Err(SmsError::Rejected(rejection_reason(failure.code).to_owned()))
            }
            _ => {
                tracing::warn!(to = %to.masked(), %status, code = failure.code, message, "SMS provider failed");
                Err(SmsError::Unavailable(anyhow::anyhow!("the SMS provider answered {status}")))
            }
        }
    }
}

/// What to tell the person when the provider refuses a number, by Twilio error code.
fn rejection_reason(code: Option<u32>) -> &'static str {
    match code {
        Some(21211) => "That phone number is not valid.",
        Some(21408 | 21612) => "We cannot send text messages to that country.",
        Some(21610) => "That number has opted out of our text messages (reply START to opt back in).",
        Some(21614) => "That number cannot receive text messages.",
        _ => "The SMS provider refused this number.",
    }
}

/// A provider message made fit for the log: the number masked, the length bounded.
fn scrub(message: &str, to: &PhoneNumber) -> String {
    let masked = to.masked();
    let scrubbed = message.replace(to.as_str(), &masked).replace(&to.as_str()[1..], &masked);
    scrubbed.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    #[test]
    fn provider_messages_are_logged_without_the_number() {
        let to = number("+442079460958");
        let scrubbed = scrub("The 'To' number +442079460958 (442079460958) is not valid.", &to);
        assert!(!scrubbed.contains("2079460958"), "{scrubbed}");
        assert!(scrub(&"x".repeat(5_000), &to).chars().count() <= 200);
    }

    /// The adapter against a stand-in Twilio.
    mod twilio_http {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        use super::*;

        const SID: &str = "AC0123456789abcdef0123456789abcdef";
        const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

        async fn twilio_answering(response: ResponseTemplate) -> (MockServer, TwilioSms) {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let server = MockServer::start().await;
            Mock::given(method("POST")).and(path(MESSAGES_PATH)).respond_with(response).mount(&server).await;
            let base = Url::parse(&server.uri()).unwrap();
            let sms = TwilioSms::new(SID, SecretString::from("s3cr3t-t0ken"), "+14155552671", &base).unwrap();
            (server, sms)
        }

        fn form_of(request: &wiremock::Request) -> Vec<(String, String)> {
            url::form_urlencoded::parse(&request.body).into_owned().collect()
        }

        #[tokio::test]
        async fn sends_a_form_post_with_basic_auth() {
            let (server, sms) =
                twilio_answering(ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM123"}))).await;
            sms.send(&number("+44 20 7946 0958"), "Your latchkey code is 123456").await.unwrap();

            let requests = server.received_requests().await.unwrap();
            assert_eq!(requests.len(), 1);
            let request = &requests[0];
            assert_eq!(request.url.path(), MESSAGES_PATH);
            assert_eq!(
                request.headers.get("authorization").unwrap(),
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpzM2NyM3QtdDBrZW4="
            );
            assert_eq!(request.headers.get("content-type").unwrap(), "application/x-www-form-urlencoded");
            let expected =
                [("To", "+442079460958"), ("From", "+14155552671"), ("Body", "Your latchkey code is 123456")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(form_of(request), expected);
        }

        #[tokio::test]
        async fn a_messaging_service_is_named_as_such() {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let server = MockServer::start().await;
            Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).mount(&server).await;
            let base = Url::parse(&format!("{}/proxy/", server.uri())).unwrap();
            let service = "MG0123456789abcdef0123456789abcdef";
            let sms = TwilioSms::new(SID, SecretString::from("t"), service, &base).unwrap();
            sms.send(&number("+14155552671"), "hi").await.unwrap();

            let request = &server.received_requests().await.unwrap()[0];
            assert_eq!(request.url.path(), format!("/proxy{MESSAGES_PATH}"));
            let form = form_of(request);
            assert!(form.contains(&("MessagingServiceSid".to_owned(), service.to_owned())), "{form:?}");
            assert!(!form.iter().any(|(k, _)| k == "From"), "{form:?}");
        }

        #[tokio::test]
        async fn a_400_is_a_rejection_with_a_reason_safe_to_show() {
            let answer = serde_json::json!({
                "code": 21211, "status": 400,
                "message": "The 'To' number +442079460958 is not a valid phone number.",
            });
            let (_server, sms) = twilio_answering(ResponseTemplate::new(400).set_body_json(answer)).await;
            match sms.send(&number("+442079460958"), "code 123456").await {
                Err(SmsError::Rejected(reason)) => {
                    assert_eq!(reason, "That phone number is not valid.");
                }
                other => panic!("expected a rejection, got {other:?}"),
            }

            let (_server, sms) = twilio_answering(ResponseTemplate::new(400).set_body_string("not json")).await;
            match sms.send(&number("+442079460958"), "code 123456").await {
                Err(SmsError::Rejected(reason)) => assert_eq!(reason, "The SMS provider refused this number."),
                other => panic!("expected a rejection, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn a_500_is_worth_retrying() {
            let (_server, sms) = twilio_answering(ResponseTemplate::new(500)).await;
            let result = sms.send(&number("+442079460958"), "code 123456").await;
            assert!(matches!(result, Err(SmsError::Unavailable(_))), "{result:?}");
        }

        #[tokio::test]
        async fn bad_credentials_and_throttling_are_not_the_numbers_fault() {
            for status in [401, 404, 429] {
                let (_server, sms) = twilio_answering(ResponseTemplate::new(status)).await;
                let result = sms.send(&number("+442079460958"), "code 123456").await;
                assert!(matches!(result, Err(SmsError::Unavailable(_))), "{status}: {result:?}");
            }
        }

        #[tokio::test]
        async fn an_unreachable_provider_is_worth_retrying() {
            let _ = rustls::crypto::ring::default_provider().install_default();
            // A port that was free a moment ago: nothing listens there.
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
            let sms = TwilioSms::new(SID, SecretString::from("t"), "+14155552671", &base).unwrap();
            let result = sms.send(&number("+442079460958"), "code 123456").await;
            assert!(matches!(result, Err(SmsError::Unavailable(_))), "{result:?}");
        }
    }
}
