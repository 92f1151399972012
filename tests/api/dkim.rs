//! DKIM signing in-process: what reaches the SMTP server verifies with an independent verifier
//! (`mail-auth`) against the TXT record `latchkey dkim-keygen` says to publish, served by a DNS
//! server on loopback; an altered body does not.

use latchkey::crypto::dkim::{DkimAlgorithm, DkimKey};
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::xfer::Protocol;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use secrecy::ExposeSecret;

use crate::helpers::dns::{DnsServer, Rr};
use crate::helpers::{ReceivedMail, spawn_app_with};

/// A new key of `algorithm` in a temporary PEM file: (path, key).
fn key_file(algorithm: DkimAlgorithm) -> (String, DkimKey) {
    let key = DkimKey::generate(algorithm).unwrap();
    let path =
        std::env::temp_dir().join(format!("latchkey-dkim-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, key.to_pem().unwrap().expose_secret()).unwrap();
    (path.to_string_lossy().into_owned(), key)
}

/// The DKIM results of `raw`, fetching keys from `dns` only.
async fn verify(dns: &DnsServer, raw: &[u8]) -> Vec<DkimResult> {
    let mut config = ResolverConfig::new();
    config.add_name_server(NameServerConfig::new(dns.addr, Protocol::Udp));
    let authenticator = MessageAuthenticator::new(config, ResolverOpts::default()).unwrap();
    let message = AuthenticatedMessage::parse(raw).expect("a parseable mail");
    authenticator.verify_dkim(&message).await.iter().map(|output| output.result().clone()).collect()
}

/// The mail with one character of its text part's link changed (what a tampering relay does).
fn tampered(mail: &ReceivedMail) -> Vec<u8> {
    let raw = String::from_utf8(mail.raw.clone()).unwrap();
    let at = raw.find("/login/verify?token=").expect("the link in the raw mail") + "/login/verify?token=".len();
    let mut bytes = raw.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    bytes
}

#[tokio::test]
async fn every_mail_verifies_against_the_published_record_and_a_changed_body_does_not() {
    for algorithm in [DkimAlgorithm::Ed25519, DkimAlgorithm::Rsa] {
        let (path, key) = key_file(algorithm);
        let dns = DnsServer::start(&[("lk2026._domainkey.example.test", Rr::txt(&key.dns_record()))]);
        let app = spawn_app_with(&[
            ("DKIM_SELECTOR", "lk2026"),
            ("DKIM_DOMAIN", "example.test"),
            ("DKIM_PRIVATE_KEY", &path),
        ])
        .await;
        // A sign-in mail, then (a second browser) a new-device notice: two kinds of mail.
        app.sign_in("signed@example.com").await;
        app.clear_cookies();
        app.sign_in("signed@example.com").await;
        app.outbox_settled().await;
        let mails = app.mail.wait_for(3).await;
        let subjects: Vec<String> = mails.iter().map(ReceivedMail::subject).collect();
        assert!(subjects.iter().any(|s| s == "New sign-in to your account"), "{subjects:?}");
        for mail in &mails {
            let header = String::from_utf8_lossy(&mail.raw).to_string();
            assert!(header.contains("DKIM-Signature:"), "{algorithm:?}: unsigned mail {}", mail.subject());
            assert_eq!(verify(&dns, &mail.raw).await, [DkimResult::Pass], "{algorithm:?}: {}", mail.subject());
        }
        let signature = String::from_utf8_lossy(&mails[0].raw).to_string();
        assert!(signature.contains("d=example.test") && signature.contains("s=lk2026"), "{signature}");
        assert!(signature.contains(&format!("a={}-sha256", algorithm.tag())), "{signature}");

        // The same mail with one character of its link changed fails.
        // (mail-auth calls a body that no longer matches its hash "neutral": it fails DMARC.)
        let results = verify(&dns, &tampered(&mails[0])).await;
        assert_eq!(results, [DkimResult::Neutral(mail_auth::Error::FailedBodyHashMatch)], "{algorithm:?}");
        // And the right mail against another key fails too: the verifier did read the record.
        let other = DkimKey::generate(algorithm).unwrap();
        let wrong = DnsServer::start(&[("lk2026._domainkey.example.test", Rr::txt(&other.dns_record()))]);
        let results = verify(&wrong, &mails[0].raw).await;
        assert!(matches!(results.as_slice(), [DkimResult::Fail(_)]), "{algorithm:?}: {results:?}");
        // Without the record, nothing passes either.
        let results = verify(&DnsServer::start(&[]), &mails[0].raw).await;
        assert!(!results.contains(&DkimResult::Pass), "{algorithm:?}: {results:?}");
        assert!(dns.queries().iter().any(|q| q == "lk2026._domainkey.example.test TXT"), "{:?}", dns.queries());
    }
}

#[tokio::test]
async fn without_dkim_settings_mail_is_not_signed() {
    let app = spawn_app_with(&[]).await;
    app.request_token("plain@example.com").await;
    let mail = &app.mail.received()[0];
    assert!(!String::from_utf8_lossy(&mail.raw).contains("DKIM-Signature"));
}

#[tokio::test]
async fn dkim_settings_are_all_or_nothing_and_a_bad_key_file_is_named() {
    let read = |vars: &'static [(&'static str, &'static str)]| {
        latchkey::Settings::from_lookup(move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
    };
    let e = read(&[("DKIM_SELECTOR", "s"), ("DKIM_DOMAIN", "example.com")]).unwrap_err();
    assert!(e.mentions("DKIM_PRIVATE_KEY"), "{e}");
    let e = read(&[("DKIM_SELECTOR", "s"), ("DKIM_DOMAIN", "example.com"), ("DKIM_PRIVATE_KEY", "/nonexistent.pem")])
        .unwrap_err();
    assert!(e.mentions("DKIM_PRIVATE_KEY") && e.to_string().contains("/nonexistent.pem"), "{e}");
    assert!(read(&[]).unwrap().mail_dns.dkim.is_none());
}

#[tokio::test]
async fn dkim_keygen_prints_a_key_that_loads_and_the_record_that_publishes_it() {
    let binary = env!("CARGO_BIN_EXE_latchkey");
    for rsa in [false, true] {
        let mut command = std::process::Command::new(binary);
        command.args(["dkim-keygen", "--selector", "mail1", "--domain", "Example.COM"]);
        if rsa {
            command.arg("--rsa");
        }
        let output = command.env_remove("DKIM_DOMAIN").env_remove("MAIL_FROM").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let pem = String::from_utf8(output.stdout).unwrap();
        let key = DkimKey::from_pem(&pem).expect("stdout is the key alone");
        let instructions = String::from_utf8(output.stderr).unwrap();
        assert!(instructions.contains(&format!("value: {}", key.dns_record())), "{instructions}");
        assert!(instructions.contains("name:  mail1._domainkey.example.com"), "{instructions}");
        assert!(instructions.contains("DKIM_SELECTOR=mail1\nDKIM_DOMAIN=example.com"), "{instructions}");
        assert_eq!(key.algorithm(), if rsa { DkimAlgorithm::Rsa } else { DkimAlgorithm::Ed25519 });
    }
    let output = std::process::Command::new(binary)
        .args(["dkim-keygen"])
        .env_remove("DKIM_DOMAIN")
        .env_remove("MAIL_FROM")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "no domain to sign for: {output:?}");
}
