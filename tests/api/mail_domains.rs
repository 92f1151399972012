//! Mail that can arrive: the address's domain checked at link request (`MAIL_DOMAIN_CHECK`)
//! against a DNS server on loopback, "Did you mean …?" for near misses of common domains, and
//! the sender domain's SPF, DKIM and DMARC records checked at start-up (`MAIL_DNS_CHECK`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use latchkey::crypto::dkim::{DkimAlgorithm, DkimKey};
use reqwest::StatusCode;
use secrecy::ExposeSecret;

use crate::helpers::dns::{DnsServer, Rr};
use crate::helpers::{TestApp, hidden_field, spawn_app_with};

/// A zone with a domain of each kind.
fn zone() -> DnsServer {
    DnsServer::start(&[
        ("mx.example.test", Rr::Mx(10, "mail.mx.example.test".into())),
        ("a-only.example.test", Rr::A(Ipv4Addr::new(192, 0, 2, 10))),
        ("null-mx.example.test", Rr::Mx(0, ".".into())),
        ("txt-only.example.test", Rr::txt("hello")),
    ])
}

fn api_login(app: &TestApp, email: &str) -> reqwest::RequestBuilder {
    app.client.post(format!("{}/api/v1/login", app.address)).json(&serde_json::json!({ "email": email }))
}

/// The value of one sample of `/metrics` (0 when absent).
async fn metric(app: &TestApp, sample: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines().find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test]
async fn under_refuse_a_domain_without_mail_is_refused_naming_the_field_and_nothing_is_sent() {
    let dns = zone();
    let app = spawn_app_with(&[("MAIL_DOMAIN_CHECK", "refuse"), ("DNS_RESOLVER", &dns.resolver())]).await;
    for address in ["ann@nowhere.example.test", "ann@null-mx.example.test", "ann@txt-only.example.test"] {
        let page = app.post_login(address).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{address}");
        let body = page.text().await.unwrap();
        assert!(body.contains("its domain (the part after the @) receives no mail"), "{address}: {body}");
        assert!(body.contains("aria-invalid=\"true\""), "{body}");
        assert!(body.contains(&format!("value=\"{address}\"")), "the form keeps what was typed: {body}");
    }
    // The JSON sign-in names the field, in the reader's language.
    let refused = api_login(&app, "bob@nowhere.example.test").header("Accept-Language", "de").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["field"], "email", "{body}");
    assert!(body["fields"]["email"].as_str().unwrap().contains("Tippfehler"), "{body}");
    // Domains with MX, or with only an address, get their mail.
    for address in ["ann@mx.example.test", "ann@a-only.example.test"] {
        assert_eq!(app.post_login(address).await.status(), StatusCode::OK, "{address}");
    }
    assert_eq!(api_login(&app, "bob@mx.example.test").send().await.unwrap().status(), StatusCode::ACCEPTED);
    app.outbox_settled().await;
    let sent: Vec<String> = app.mail.received().iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|to| to.contains("@mx.example.test") || to.contains("@a-only.example.test")), "{sent:?}");
    assert_eq!(metric(&app, "latchkey_mail_domain_checks_total{result=\"no_mail\"}").await, 4.0);
    // Asked once per domain: the verdicts are cached.
    let asked = dns.queries();
    assert_eq!(asked.iter().filter(|q| *q == "nowhere.example.test MX").count(), 1, "{asked:?}");
}

#[tokio::test]
async fn a_burst_of_link_requests_for_a_domain_not_yet_known_looks_it_up_once() {
    let dns = DnsServer::held(&[("burst.example.test", Rr::Mx(10, "mail.burst.example.test".into()))]);
    // A timeout well past the hold, so the held answer counts.
    let app =
        spawn_app_with(&[("MAIL_DOMAIN_CHECK", "refuse"), ("DNS_RESOLVER", &dns.resolver()), ("DNS_TIMEOUT", "10s")])
            .await;
    let burst: Vec<_> =
        (0..8).map(|i| tokio::spawn(api_login(&app, &format!("ann{i}@burst.example.test")).send())).collect();
    // The first question has come; the server holds its answer a moment for the others. (On a
    // machine so slow that some arrive after the release, they find the verdict cached: the
    // test then passes having shown less, but does not fail.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while dns.queries().is_empty() {
        assert!(Instant::now() < deadline, "no lookup was made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    dns.release();
    for request in burst {
        assert_eq!(request.await.unwrap().unwrap().status(), StatusCode::ACCEPTED);
    }
    let asked = dns.queries();
    assert_eq!(asked.iter().filter(|q| *q == "burst.example.test MX").count(), 1, "{asked:?}");
    assert_eq!(metric(&app, "latchkey_mail_domain_checks_total{result=\"deliverable\"}").await, 8.0);
}

#[tokio::test]
async fn under_warn_the_mail_goes_and_the_domain_is_counted() {
    let dns = zone();
    let app = spawn_app_with(&[("MAIL_DOMAIN_CHECK", "warn"), ("DNS_RESOLVER", &dns.resolver())]).await;
    assert_eq!(app.post_login("ann@nowhere.example.test").await.status(), StatusCode::OK);
    app.mail.wait_for_link_mail(0).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&app, "latchkey_mail_domain_checks_total{result=\"no_mail\"}").await < 1.0 {
        assert!(Instant::now() < deadline, "the domain without mail was not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&app, "latchkey_mail_domain_checks_total{result=\"deliverable\"}").await, 0.0);
    let logs = crate::helpers::captured_logs();
    assert!(logs.lines().any(|l| l.contains("receives no mail") && l.contains("nowhere.example.test")), "{logs}");
}

#[tokio::test]
async fn a_resolver_that_does_not_answer_refuses_nothing() {
    let silent = DnsServer::silent();
    let app = spawn_app_with(&[
        ("MAIL_DOMAIN_CHECK", "refuse"),
        ("DNS_RESOLVER", &silent.resolver()),
        ("DNS_TIMEOUT", "300ms"),
    ])
    .await;
    assert_eq!(app.post_login("ann@nowhere.example.test").await.status(), StatusCode::OK);
    app.mail.wait_for_link_mail(0).await;
    assert_eq!(metric(&app, "latchkey_mail_domain_checks_total{result=\"unknown\"}").await, 1.0);
}

#[tokio::test]
async fn off_looks_nothing_up() {
    let dns = zone();
    let app = spawn_app_with(&[("MAIL_DOMAIN_CHECK", "off"), ("DNS_RESOLVER", &dns.resolver())]).await;
    assert_eq!(app.post_login("ann@nowhere.example.test").await.status(), StatusCode::OK);
    app.mail.wait_for_link_mail(0).await;
    assert!(dns.queries().is_empty(), "{:?}", dns.queries());
}

// ---- "Did you mean …?" ------------------------------------------------------------------------

#[tokio::test]
async fn a_near_miss_of_a_common_domain_asks_before_anything_is_sent() {
    let app = spawn_app_with(&[]).await;
    let page = app.post_login("Ann@gmial.com").await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(body.contains("Did you mean ann@gmail.com?"), "{body}");
    assert!(body.contains("name=\"email\" value=\"ann@gmail.com\""), "{body}");
    assert!(body.contains("name=\"email\" value=\"ann@gmial.com\""), "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.mail.received().is_empty(), "a mail went to a typo without a second click");

    // "Use ann@gmail.com": the corrected address gets the link.
    let csrf = hidden_field(&body, "csrf").unwrap();
    let sent = app.post_form("/login", &[("csrf", &csrf), ("typo_checked", "1"), ("email", "ann@gmail.com")]).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(sent.text().await.unwrap().contains("ann@gmail.com"));
    let mail = app.mail.wait_for_link_mail(0).await;
    assert_eq!(mail.to, ["ann@gmail.com"]);

    // "No, send to what I typed": no second question.
    let csrf = app.csrf_token().await;
    let kept = app.post_form("/login", &[("csrf", &csrf), ("typo_checked", "1"), ("email", "ann@gmial.com")]).await;
    assert_eq!(kept.status(), StatusCode::OK);
    assert!(!kept.text().await.unwrap().contains("Did you mean"));
    let mail = app.mail.wait_for_link_mail(1).await;
    assert_eq!(mail.to, ["ann@gmial.com"]);

    // An exact common domain is never questioned; the hint is in the reader's language.
    let csrf = app.csrf_token().await;
    let exact = app.post_form("/login", &[("csrf", &csrf), ("email", "bob@gmail.com")]).await;
    assert!(!exact.text().await.unwrap().contains("Did you mean"));
    let csrf = app.csrf_token().await;
    let german = app
        .send(
            app.client
                .post(format!("{}/login", app.address))
                .header("Accept-Language", "de")
                .form(&[("csrf", csrf.as_str()), ("email", "bob@hotmial.com")]),
        )
        .await;
    assert!(german.text().await.unwrap().contains("Meinten Sie bob@hotmail.com?"));
}

#[tokio::test]
async fn the_json_sign_in_sends_and_names_the_likely_address() {
    let app = spawn_app_with(&[]).await;
    let response = api_login(&app, "ann@gmial.com").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["suggestion"], "ann@gmail.com", "{body}");
    let exact: serde_json::Value = api_login(&app, "ann@gmail.com").send().await.unwrap().json().await.unwrap();
    assert!(exact.get("suggestion").is_none(), "{exact}");
}

// ---- The sender domain's records at start-up ---------------------------------------------------

fn key_file() -> (String, DkimKey) {
    let key = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
    let path =
        std::env::temp_dir().join(format!("latchkey-dkim-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, key.to_pem().unwrap().expose_secret()).unwrap();
    (path.to_string_lossy().into_owned(), key)
}

#[tokio::test]
async fn readyz_shows_what_the_sender_domains_records_say() {
    let (path, key) = key_file();
    let dns = DnsServer::start(&[
        ("example.test", Rr::txt("v=spf1 ip4:127.0.0.0/8 include:relay.example -all")),
        ("_dmarc.example.test", Rr::txt("v=DMARC1; p=reject")),
        ("lk._domainkey.example.test", Rr::txt(&key.dns_record())),
    ]);
    let resolver = dns.resolver();
    let good = [
        ("MAIL_DNS_CHECK", "strict"),
        ("DNS_RESOLVER", resolver.as_str()),
        ("DKIM_SELECTOR", "lk"),
        ("DKIM_DOMAIN", "example.test"),
        ("DKIM_PRIVATE_KEY", path.as_str()),
    ];
    let app = spawn_app_with(&good).await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let report = &ready["mail_dns"];
    assert_eq!(report["domain"], "example.test", "{ready}");
    // The sink is on loopback: the relay is this machine, which SPF cannot be checked for.
    assert_eq!(report["spf"]["status"], "relay_unchecked", "{ready}");
    assert_eq!(report["dkim"]["status"], "ok", "{ready}");
    assert_eq!(report["dmarc"]["status"], "ok", "{ready}");

    // Another key in DNS, no DMARC: warnings under warn, in the log and /readyz.
    let other = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
    let stale = DnsServer::start(&[
        ("example.test", Rr::txt("v=spf1 include:relay.example -all")),
        ("lk._domainkey.example.test", Rr::txt(&other.dns_record())),
    ]);
    let stale_resolver = stale.resolver();
    let mut warn = good.to_vec();
    warn[0] = ("MAIL_DNS_CHECK", "warn");
    warn[1] = ("DNS_RESOLVER", stale_resolver.as_str());
    let app = spawn_app_with(&warn).await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "warnings are not refusals");
    assert_eq!(ready["mail_dns"]["dkim"]["status"], "mismatch", "{ready}");
    assert_eq!(ready["mail_dns"]["dmarc"]["status"], "missing", "{ready}");
    assert!(crate::helpers::captured_logs().contains("is not the public half of DKIM_PRIVATE_KEY"));

    // The same under strict stops start-up, naming each problem.
    warn[0] = ("MAIL_DNS_CHECK", "strict");
    let settings = latchkey::Settings::from_lookup(|k| test_vars(&warn, k)).unwrap();
    let Err(e) = latchkey::Application::build(settings).await else { panic!("strict started with bad records") };
    let e = format!("{e:#}");
    assert!(e.contains("MAIL_DNS_CHECK=strict") && e.contains("DKIM:") && e.contains("DMARC:"), "{e}");
}

#[tokio::test]
async fn spf_must_name_the_relay() {
    let dns = DnsServer::start(&[
        ("example.test", Rr::txt("v=spf1 include:_spf.mailgun.org ~all")),
        ("_dmarc.example.test", Rr::txt("v=DMARC1; p=none")),
    ]);
    let resolver = dns.resolver();
    for (smtp, status) in
        [("smtps://user:pass@smtp.eu.mailgun.org", "ok"), ("smtps://user:pass@smtp.sendgrid.net", "relay_not_named")]
    {
        let vars = [("MAIL_DNS_CHECK", "warn"), ("DNS_RESOLVER", resolver.as_str()), ("SMTP_URL", smtp)];
        let app = spawn_app_with(&vars).await;
        let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
        assert_eq!(ready["mail_dns"]["spf"]["status"], status, "{smtp}: {ready}");
        assert_eq!(ready["mail_dns"]["dkim"]["status"], "not_configured", "{ready}");
    }
    let empty = DnsServer::start(&[]).resolver();
    let vars = [("MAIL_DNS_CHECK", "warn"), ("DNS_RESOLVER", empty.as_str())];
    let ready: serde_json::Value = spawn_app_with(&vars).await.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["mail_dns"]["spf"]["status"], "missing", "{ready}");
}

/// The test harness's settings with `vars` on top, for building an app by hand.
fn test_vars(vars: &[(&str, &str)], name: &str) -> Option<String> {
    if let Some((_, v)) = vars.iter().find(|(k, _)| *k == name) {
        return Some((*v).to_owned());
    }
    match name {
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "PUBLIC_URL" => Some(crate::helpers::PUBLIC_URL.into()),
        "MAIL_FROM" => Some("Latchkey Test <login@example.test>".into()),
        "SECRET_KEY" => Some("test-secret-key-test-secret-key-test-secret-key".into()),
        _ => None,
    }
}

#[tokio::test]
async fn a_custom_domain_hosted_by_a_known_provider_gets_its_webmail_button() {
    let dns = DnsServer::start(&[
        ("workspace.example.test", Rr::Mx(1, "aspmx.l.google.com".into())),
        ("selfhosted.example.test", Rr::Mx(10, "mx.selfhosted.example.test".into())),
    ]);
    let app = spawn_app_with(&[("MAIL_DOMAIN_CHECK", "refuse"), ("DNS_RESOLVER", &dns.resolver())]).await;
    let page = app.post_login("ann@workspace.example.test").await.text().await.unwrap();
    assert!(page.contains("https://mail.google.com/mail/u/0/#search/"), "{page}");
    let page = app.post_login("ann@selfhosted.example.test").await.text().await.unwrap();
    assert!(!page.contains("mail.google.com"), "{page}");
}
