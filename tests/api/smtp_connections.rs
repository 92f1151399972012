//! The SMTP connections an instance keeps: mails sent one after another share one connection,
//! and a connection the server has closed is noticed before a mail is put on it (no mail
//! waits for a retry because of it).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A server that closes the connection after every mail it accepts (as servers with a limit of
/// messages per connection do), counting connections and mails.
struct HangingUp {
    url: String,
    connections: Arc<AtomicUsize>,
    mails: Arc<AtomicUsize>,
}

fn hanging_up_server() -> HangingUp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let connections = Arc::new(AtomicUsize::new(0));
    let mails = Arc::new(AtomicUsize::new(0));
    let (c, m) = (connections.clone(), mails.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            c.fetch_add(1, Ordering::SeqCst);
            let m = m.clone();
            std::thread::spawn(move || one_mail_then_hang_up(stream, &m));
        }
    });
    HangingUp { url, connections, mails }
}

fn one_mail_then_hang_up(stream: TcpStream, mails: &AtomicUsize) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut say = |line: &str| writer.write_all(line.as_bytes()).is_ok();
    if !say("220 hangup.test ESMTP\r\n") {
        return;
    }
    let mut line = String::new();
    let mut in_data = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply = match (in_data, line.as_str(), verb.as_str()) {
            (true, ".\r\n", _) => {
                mails.fetch_add(1, Ordering::SeqCst);
                // Accepted, and the connection is closed at once.
                let _ = say("250 queued\r\n");
                return;
            }
            (true, _, _) => continue,
            (false, _, "EHLO") => "250-hangup.test\r\n250 8BITMIME\r\n",
            (false, _, "DATA") => {
                in_data = true;
                "354 go ahead\r\n"
            }
            (false, _, "QUIT") => {
                let _ = say("221 bye\r\n");
                return;
            }
            (false, _, _) => "250 OK\r\n",
        };
        if !say(reply) {
            return;
        }
    }
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced_before_the_next_mail() {
    let server = hanging_up_server();
    // A failed delivery would be retried only after ten minutes: the mails arrive at once or not at all.
    let app = spawn_app_with(&[("SMTP_URL", &server.url), ("OUTBOX_RETRY_BASE", "10m")]).await;
    for i in 0..3 {
        ask_for_a_link(&app, &format!("hangup{i}@example.com")).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while server.mails.load(Ordering::SeqCst) < i + 1 {
            assert!(std::time::Instant::now() < deadline, "mail {} did not arrive", i + 1);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    let metrics = app.metrics_with("latchkey_mail_total{outcome=\"sent\"} 3").await;
    assert!(!metrics.contains("latchkey_mail_total{outcome=\"retry\"}"), "a mail waited for a retry:\n{metrics}");
}

/// A TLS SMTP server with the test CA's certificate for 127.0.0.1: implicit TLS (`smtps://`),
/// or STARTTLS, refusing every command but EHLO, STARTTLS and QUIT before it. Counts mails and
/// keeps their text.
struct TlsSmtp {
    port: u16,
    mails: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn tls_smtp_server(implicit: bool) -> TlsSmtp {
    tls_smtp_server_on("127.0.0.1", implicit).await
}

/// The same, listening on `ip` (the certificate names 127.0.0.1 and localhost only).
async fn tls_smtp_server_on(ip: &str, implicit: bool) -> TlsSmtp {
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, mails) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                if implicit {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        smtp_over(tls, true, &mails).await;
                    }
                } else if let Some(plain) = until_starttls(stream).await
                    && let Ok(tls) = acceptor.accept(plain).await
                {
                    // After STARTTLS the client starts again with EHLO, unprompted.
                    smtp_over(tls, false, &mails).await;
                }
            });
        }
    });
    TlsSmtp { port, mails }
}

/// The plaintext part of a STARTTLS session: the stream once the client asked for TLS.
async fn until_starttls(stream: tokio::net::TcpStream) -> Option<tokio::net::TcpStream> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::io::BufReader::new(stream);
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

/// SMTP over an encrypted stream, until QUIT or the end.
async fn smtp_over<S>(stream: S, greet: bool, mails: &std::sync::Mutex<Vec<String>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::io::BufReader::new(stream);
    if greet && stream.get_mut().write_all(b"220 tls.test ESMTP\r\n").await.is_err() {
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
            b"250 queued\r\n"
        } else {
            match line.get(..4).unwrap_or_default().to_ascii_uppercase().as_str() {
                "EHLO" => b"250-tls.test\r\n250 8BITMIME\r\n",
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
        if stream.get_mut().write_all(reply).await.is_err() || stream.get_mut().flush().await.is_err() {
            return;
        }
    }
}

/// Waits (bounded) for the first mail `server` receives, and returns its text.
async fn first_mail(server: &TlsSmtp) -> String {
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
async fn link_mail_arrives_over_tls(implicit: bool, url: &str) {
    let server = tls_smtp_server(implicit).await;
    let url = url.replace("{port}", &server.port.to_string());
    let app = spawn_app_with(&[("SMTP_URL", &url), ("SMTP_CA_FILE", &ca_file())]).await;
    ask_for_a_link(&app, "tls@example.com").await;
    assert!(first_mail(&server).await.contains("/login/verify?token="));
}

#[tokio::test]
async fn the_sign_in_mail_goes_out_over_implicit_tls_to_a_relay_with_a_private_ca() {
    link_mail_arrives_over_tls(true, "smtps://127.0.0.1:{port}").await;
}

#[tokio::test]
async fn the_sign_in_mail_goes_out_after_starttls_to_a_relay_with_a_private_ca() {
    link_mail_arrives_over_tls(false, "smtp://127.0.0.1:{port}?tls=required").await;
}

/// Asks for a link with `SMTP_URL` = `url` (`{port}`: `server`'s) and `extra` settings, and
/// checks that nothing reached `server` and the mail waits for a retry.
async fn link_mail_waits(server: &TlsSmtp, url: &str, extra: &[(&str, &str)]) {
    let url = url.replace("{port}", &server.port.to_string());
    let mut settings = vec![("SMTP_URL", url.as_str()), ("OUTBOX_RETRY_BASE", "10m")];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(&settings).await;
    ask_for_a_link(&app, "untrusted@example.com").await;
    app.metrics_with("latchkey_mail_total{outcome=\"retry\"} 1").await;
    assert!(server.mails.lock().unwrap().is_empty(), "a mail went to an untrusted server");
    assert_eq!(app.queue().outbox_stats().await.unwrap().scheduled, 1);
}

#[tokio::test]
async fn without_the_private_ca_the_relay_is_not_trusted_and_the_mail_waits() {
    // The public roots do not know the test CA: the handshake fails, the mail is kept for a
    // retry, and nothing goes out (the same servers with the CA given take mail, above).
    let server = tls_smtp_server(true).await;
    link_mail_waits(&server, "smtps://127.0.0.1:{port}", &[]).await;
    let server = tls_smtp_server(false).await;
    link_mail_waits(&server, "smtp://127.0.0.1:{port}?tls=required", &[]).await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_from_the_trusted_ca() {
    // The certificate names 127.0.0.1 and localhost; this server answers at 127.0.0.2.
    let ca = ca_file();
    let server = tls_smtp_server_on("127.0.0.2", true).await;
    link_mail_waits(&server, "smtps://127.0.0.2:{port}", &[("SMTP_CA_FILE", &ca)]).await;
    let server = tls_smtp_server_on("127.0.0.2", false).await;
    link_mail_waits(&server, "smtp://127.0.0.2:{port}?tls=required", &[("SMTP_CA_FILE", &ca)]).await;
}
