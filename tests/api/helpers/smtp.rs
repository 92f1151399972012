//! A real SMTP server in the test process that keeps what it receives
//! ([`super::smtp_server`]: a thread per connection).

use std::net::IpAddr;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Handler, response};

use super::smtp_server::serve_forever;

/// One received message.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The raw message as it arrived.
    pub raw: Vec<u8>,
}

impl ReceivedMail {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("unparseable mail")
    }

    /// The subject line.
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_owned()
    }

    /// The text/plain part, decoded.
    pub fn text(&self) -> String {
        let msg = self.parsed();
        assert!(!msg.text_body.is_empty(), "no text/plain part");
        msg.body_text(0).map(|b| b.into_owned()).unwrap_or_default()
    }

    /// The text/html part, decoded.
    pub fn html(&self) -> String {
        let msg = self.parsed();
        assert!(!msg.html_body.is_empty(), "no text/html part");
        msg.body_html(0).map(|b| b.into_owned()).unwrap_or_default()
    }

    /// True when the text and HTML parts are separate parts of a multipart/alternative.
    pub fn is_multipart_alternative(&self) -> bool {
        let msg = self.parsed();
        String::from_utf8_lossy(&self.raw).to_ascii_lowercase().contains("multipart/alternative")
            && msg.text_body.first() != msg.html_body.first()
    }
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    greetings: Arc<AtomicUsize>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    // One EHLO per connection (the sink offers no STARTTLS, after which a client would say it again).
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> mailin::Response {
        self.greetings.fetch_add(1, Ordering::SeqCst);
        response::OK
    }

    // Addresses that always fail, for the outbox's retry and dead-letter tests.
    fn rcpt(&mut self, to: &str) -> mailin::Response {
        if to.contains("bounce-temp") {
            response::INTERNAL_ERROR
        } else if to.contains("bounce-perm") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> mailin::Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        let mail = ReceivedMail { to: std::mem::take(&mut self.to), raw: std::mem::take(&mut self.data) };
        self.inbox.lock().unwrap().push(mail);
        response::OK
    }
}

/// A running SMTP sink. Clones share the inbox (instances sharing one outbox share a sink).
/// Mail to an address containing `bounce-temp` gets a 451 (try later), `bounce-perm` a 550.
#[derive(Clone)]
pub struct MailSink {
    /// `smtp://127.0.0.1:<port>` (plaintext is allowed to loopback).
    pub url: String,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    greetings: Arc<AtomicUsize>,
}

impl MailSink {
    /// Starts a sink on a free loopback port.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts a sink on `port` (0: any free one); e.g. where an app was told an SMTP server
    /// would be, to play a server that comes back after an outage.
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let greetings = Arc::new(AtomicUsize::new(0));
        let collector =
            Collector { inbox: inbox.clone(), greetings: greetings.clone(), to: Vec::new(), data: Vec::new() };
        serve_forever(listener, "sink.test", collector);
        Self { url, inbox, greetings }
    }

    /// How many SMTP sessions clients have opened (EHLOs seen).
    pub fn sessions(&self) -> usize {
        self.greetings.load(Ordering::SeqCst)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits (bounded) for the first sign-in mail (one with a link) after the first `skip`
    /// mails; other mails (new-device notices …) in between are passed over.
    pub async fn wait_for_link_mail(&self, skip: usize) -> ReceivedMail {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.received().into_iter().skip(skip).find(|m| m.text().contains("/login/verify?token="));
            if let Some(mail) = found {
                return mail;
            }
            assert!(Instant::now() < deadline, "no sign-in mail after the first {skip}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (bounded) until `n` mails have arrived, and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        self.wait_for_within(n, Duration::from_secs(20)).await
    }

    /// Waits until `n` mails have arrived, for at most `limit`.
    pub async fn wait_for_within(&self, n: usize, limit: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + limit;
        loop {
            let mails = self.received();
            if mails.len() >= n {
                return mails;
            }
            assert!(Instant::now() < deadline, "expected {n} mail(s), got {}", mails.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
