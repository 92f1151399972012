//! The SMTP connections an instance keeps: mails sent one after another share one connection,
//! a connection the server has closed is noticed before a mail is put on it (no mail waits for
//! a retry because of it), and TLS (implicit or STARTTLS) to a relay trusted through
//! `SMTP_CA_FILE`, with nothing sent to one that is not trusted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use latchkey::store::OutboxStore;
use reqwest::StatusCode;

use crate::helpers::{MailSink, TestApp, spawn_app_with};

async fn ask_for_a_link(app: &TestApp, email: &str) {
    let url = format!("{}/api/v1/login", app.address);
    let status = app.client.post(url).json(&serde_json::json!({ "email": email })).send().await.unwrap().status();
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn mails_sent_one_after_another_share_one_smtp_connection() {
    let sink = MailSink::start();
    let app = spawn_app_with(&[("SMTP_URL", &sink.url)]).await;
    for i in 0..5 {
        ask_for_a_link(&app, &format!("reuse{i}@example.com")).await;
        sink.wait_for(i + 1).await;
        // The delivery is over (and its connection back in the pool) once the outbox is empty.
        app.outbox_settled().await;
    }
    assert_eq!(sink.sessions(), 1, "each mail opened a connection of its own");
}

/// How the test server below speaks.
#[derive(Clone, Copy)]
enum Mode {
    /// Plaintext, closing the connection after every mail it accepts (as servers with a limit
    /// of messages per connection do).
    HangUpAfterEachMail,
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
    /// STARTTLS, refusing every command but EHLO, STARTTLS and QUIT before it.
    StartTls,
}

/// An SMTP server on `ip` that counts connections and keeps the text of each mail; its TLS
/// certificate (the test CA's) names 127.0.0.1 and localhost.
struct TestSmtp {
    port: u16,
    connections: Arc<AtomicUsize>,
    mails: Arc<Mutex<Vec<String>>>,
}

async fn smtp_server(ip: &str, mode: Mode) -> TestSmtp {
    let acceptor = tls_acceptor();
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (connections, mails) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let (counted, kept) = (connections.clone(), mails.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let (acceptor, mails) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                match mode {
                    Mode::HangUpAfterEachMail => converse(stream, true, &mails, true).await,
                    Mode::ImplicitTls => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            converse(tls, true, &mails, false).await;
                        }
                    }
                    Mode::StartTls => {
                        if let Some(plain) = until_starttls(stream).await
                            && let Ok(tls) = acceptor.accept(plain).await
                        {
                            // After STARTTLS the client starts again with EHLO, unprompted.
                            converse(tls, false, &mails, false).await;
                        }
                    }
                }
            });
        }
    });
    TestSmtp { port, connections, mails }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = &crate::helpers::tls::test_certificates().dir;
    let chain = CertificateDer::pem_file_iter(dir.join("server.crt")).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// The plaintext part of a STARTTLS session: the stream once the client asked for TLS.
async fn until_starttls(stream: TcpStream) -> Option<TcpStream> {
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(b"220 starttls.test ESMTP\r\n").await.ok()?;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let reply: &[u8] = match line.get(..4).unwrap_or_default().to_ascii_uppercase().as_str() {
            "EHLO" => b"250-starttls.test\r\n250 STARTTLS\r\n",
            "STAR" => {
                stream.get_mut().write_all(b"220 go ahead\r\n").await.ok()?;
                return Some(stream.into_inner());
            }
            "QUIT" => return None,
            _ => b"530 issue STARTTLS first\r\n",
        };
        stream.get_mut().write_all(reply).await.ok()?;
    }
}

/// An SMTP session until QUIT, the end, or (`hang_up`) the first mail accepted.
async fn converse<S>(stream: S, greet: bool, mails: &Mutex<Vec<String>>, hang_up: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    if greet && stream.get_mut().write_all(b"220 test.smtp ESMTP\r\n").await.is_err() {
        return;
    }
    let (mut line, mut data, mut in_data) = (String::new(), String::new(), false);
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let reply: &[u8] = if in_data {
            if line != ".\r\n" {
                data.push_str(&line);
                continue;
            }
            in_data = false;
            mails.lock().unwrap().push(std::mem::take(&mut data));
            if hang_up {
                // Accepted, and the connection is closed at once.
                let _ = stream.get_mut().write_all(b"250 queued\r\n").await;
                return;
            }
            b"250 queued\r\n"
        } else {
            match line.get(..4).unwrap_or_default().to_ascii_uppercase().as_str() {
                "EHLO" => b"250-test.smtp\r\n250 8BITMIME\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go ahead\r\n"
                }
                "QUIT" => {
                    let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                    return;
                }
                _ => b"250 OK\r\n",
            }
        };
        if stream.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced_before_the_next_mail() {
    let server = smtp_server("127.0.0.1", Mode::HangUpAfterEachMail).await;
    let url = format!("smtp://127.0.0.1:{}", server.port);
    // A failed delivery would be retried only after ten minutes: the mails arrive at once or not at all.
    let app = spawn_app_with(&[("SMTP_URL", &url), ("OUTBOX_RETRY_BASE", "10m")]).await;
    for i in 0..3 {
        ask_for_a_link(&app, &format!("hangup{i}@example.com")).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while server.mails.lock().unwrap().len() < i + 1 {
            assert!(std::time::Instant::now() < deadline, "mail {} did not arrive", i + 1);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    let metrics = app.metrics_with("latchkey_mail_total{outcome=\"sent\"} 3").await;
    assert!(!metrics.contains("latchkey_mail_total{outcome=\"retry\"}"), "a mail waited for a retry:\n{metrics}");
}

/// Waits (bounded) for the first mail `server` receives, and returns its text.
async fn first_mail(server: &TestSmtp) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(mail) = server.mails.lock().unwrap().first() {
            return mail.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no mail arrived over TLS");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

fn ca_file() -> String {
    crate::helpers::tls::test_certificates().dir.join("ca.crt").to_string_lossy().into_owned()
}

/// Asks for a link with `SMTP_URL` = `url` (its `{port}` that of a TLS server trusting the
/// test CA through `SMTP_CA_FILE`), and checks the sign-in mail arrived there.
async fn link_mail_arrives_over_tls(mode: Mode, url: &str) {
    let server = smtp_server("127.0.0.1", mode).await;
    let url = url.replace("{port}", &server.port.to_string());
    let app = spawn_app_with(&[("SMTP_URL", &url), ("SMTP_CA_FILE", &ca_file())]).await;
    ask_for_a_link(&app, "tls@example.com").await;
    assert!(first_mail(&server).await.contains("/login/verify?token="));
}

#[tokio::test]
async fn the_sign_in_mail_goes_out_over_implicit_tls_to_a_relay_with_a_private_ca() {
    link_mail_arrives_over_tls(Mode::ImplicitTls, "smtps://127.0.0.1:{port}").await;
}

#[tokio::test]
async fn the_sign_in_mail_goes_out_after_starttls_to_a_relay_with_a_private_ca() {
    link_mail_arrives_over_tls(Mode::StartTls, "smtp://127.0.0.1:{port}?tls=required").await;
}

/// Asks for a link with `SMTP_URL` = `url` (`{port}`: `server`'s) and `extra` settings, and
/// checks that no mail reached `server` and the mail waits for a retry.
async fn link_mail_waits(server: &TestSmtp, url: &str, extra: &[(&str, &str)]) {
    let url = url.replace("{port}", &server.port.to_string());
    let mut settings = vec![("SMTP_URL", url.as_str()), ("OUTBOX_RETRY_BASE", "10m")];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(&settings).await;
    ask_for_a_link(&app, "untrusted@example.com").await;
    app.metrics_with("latchkey_mail_total{outcome=\"retry\"} 1").await;
    // The server was reached (so what failed was the TLS handshake), and got no mail.
    assert!(server.connections.load(Ordering::SeqCst) >= 1, "the server was never reached");
    assert!(server.mails.lock().unwrap().is_empty(), "a mail went to an untrusted server");
    assert_eq!(app.queue().outbox_stats().await.unwrap().scheduled, 1);
}

#[tokio::test]
async fn without_the_private_ca_the_relay_is_not_trusted_and_the_mail_waits() {
    // The public roots do not know the test CA: the handshake fails, the mail is kept for a
    // retry, and nothing goes out (the same servers with the CA given take mail, above).
    let server = smtp_server("127.0.0.1", Mode::ImplicitTls).await;
    link_mail_waits(&server, "smtps://127.0.0.1:{port}", &[]).await;
    let server = smtp_server("127.0.0.1", Mode::StartTls).await;
    link_mail_waits(&server, "smtp://127.0.0.1:{port}?tls=required", &[]).await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_from_the_trusted_ca() {
    // The certificate names 127.0.0.1 and localhost; this server answers at 127.0.0.2.
    let ca = ca_file();
    let server = smtp_server("127.0.0.2", Mode::ImplicitTls).await;
    link_mail_waits(&server, "smtps://127.0.0.2:{port}", &[("SMTP_CA_FILE", &ca)]).await;
    let server = smtp_server("127.0.0.2", Mode::StartTls).await;
    link_mail_waits(&server, "smtp://127.0.0.2:{port}?tls=required", &[("SMTP_CA_FILE", &ca)]).await;
}
