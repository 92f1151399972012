//! The durable outbox, end to end: an SMTP outage loses no mail, what keeps failing ends in the
//! dead letters (visible to admins, counted in metrics), instances share the queue, and a
//! killed or stopped instance's deliveries are sent by another.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use latchkey::store::{Keys, OutboxStore, RedisQueue, RedisStore};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    MailSink, PUBLIC_URL, TestApp, free_port, magic_link_from, redis_url, spawn_app_with, spawn_peer, token_from_link,
};

const TOKEN: &str = "outbox-test-admin-token-0123456789abcdef";

async fn api_login(app: &TestApp, email: &str) -> StatusCode {
    let url = format!("{}/api/v1/login", app.address);
    app.client.post(url).json(&serde_json::json!({ "email": email })).send().await.unwrap().status()
}

async fn admin_outbox(app: &TestApp) -> Value {
    let url = format!("{}/api/v1/admin/outbox", app.address);
    app.client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap()
}

/// Checks that every mail carries a live link for its own recipient, and returns the recipients.
async fn recipients_with_working_links(app: &TestApp, sink: &MailSink) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for mail in sink.received() {
        let to = mail.to.join(",");
        let page = app.get_verify(&token_from_link(&magic_link_from(&mail))).await;
        assert_eq!(page.status(), StatusCode::OK, "the link mailed to {to} does not work");
        let html = page.text().await.unwrap();
        assert!(html.contains(to.trim_matches(['<', '>'])), "the link mailed to {to} names someone else");
        seen.insert(to);
    }
    seen
}

#[tokio::test]
async fn two_hundred_links_asked_for_while_smtp_is_down_all_arrive_once_it_is_back() {
    let port = free_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&[
        ("SMTP_URL", &smtp),
        ("OUTBOX_RETRY_BASE", "100ms"),
        ("OUTBOX_MAX_TRIES", "40"),
        ("RATE_LIMIT_LOGIN_IP", "1000/1h"),
    ])
    .await;
    let addresses: Vec<String> = (0..200).map(|i| format!("outage{i}@example.com")).collect();
    for address in &addresses {
        assert_eq!(api_login(&app, address).await, StatusCode::ACCEPTED);
    }
    // Nothing is delivered yet, and nothing is lost: all 200 wait in the store.
    let stats = app.queue().outbox_stats().await.unwrap();
    assert_eq!(stats.ready + stats.in_flight + stats.scheduled, 200, "{stats:?}");
    assert_eq!(stats.dead, 0);
    // What waits is sealed: no link, no address in clear.
    let dump = app.dump_redis().await;
    let outbox: usize = dump.iter().filter(|(k, _)| k.contains("{outbox}")).map(|(_, v)| v.len()).sum();
    assert!(outbox > 200 * 100, "the outbox entries were not in the dump");
    for (key, value) in &dump {
        assert!(!value.contains("token="), "a link in clear under {key}");
        let in_outbox = key.contains("{outbox}");
        assert!(!(in_outbox && value.contains("outage7@example.com")), "an address in clear under {key}");
    }

    let sink = MailSink::start_on(port);
    sink.wait_for_within(200, Duration::from_secs(120)).await;
    let stats = app.outbox_settled().await;
    assert_eq!(stats.dead, 0);
    assert_eq!(sink.received().len(), 200, "a mail was sent twice");
    let recipients = recipients_with_working_links(&app, &sink).await;
    let expected: BTreeSet<String> = addresses.iter().map(|a| format!("<{a}>")).collect();
    let got: BTreeSet<String> = recipients.iter().map(|r| format!("<{}>", r.trim_matches(['<', '>']))).collect();
    assert_eq!(got, expected);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("latchkey_mail_total{outcome=\"retry\"}"), "no retries counted: {metrics}");
}

#[tokio::test]
async fn mail_that_keeps_failing_ends_in_the_dead_letters_after_the_configured_tries() {
    let app = spawn_app_with(&[
        ("OUTBOX_RETRY_BASE", "20ms"),
        ("OUTBOX_MAX_TRIES", "3"),
        ("ADMIN_API_TOKEN", TOKEN),
        ("RATE_LIMIT_LOGIN_IP", "100/1h"),
    ])
    .await;
    assert_eq!(api_login(&app, "bounce-temp@example.com").await, StatusCode::ACCEPTED);
    assert_eq!(api_login(&app, "bounce-perm@example.com").await, StatusCode::ACCEPTED);
    let stats = app.outbox_settled().await;
    assert_eq!(stats.dead, 2);
    assert!(app.mail.received().is_empty());

    let outbox = admin_outbox(&app).await;
    assert_eq!(outbox["dead"], 2);
    let letters = outbox["dead_letters"].as_array().unwrap();
    let temp = letters.iter().find(|d| d["reason"].as_str().unwrap().contains("451")).expect("no 451 letter");
    assert_eq!(temp["kind"], "mail");
    assert_eq!(temp["tries"], 3, "a temporary failure is retried up to OUTBOX_MAX_TRIES");
    assert!(temp["reason"].as_str().unwrap().starts_with("gave up after 3 tries"), "{temp}");
    let perm = letters.iter().find(|d| d["reason"].as_str().unwrap().contains("550")).expect("no 550 letter");
    assert_eq!(perm["tries"], 1, "a permanent refusal is not retried");
    let shown = outbox.to_string();
    assert!(!shown.contains("bounce-temp@example.com") && !shown.contains("token="), "{shown}");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("latchkey_mail_total{outcome=\"dead\"} 2"), "{metrics}");
    assert!(metrics.contains("latchkey_mail_total{outcome=\"retry\"} 2"), "{metrics}");
    assert!(metrics.contains("latchkey_outbox_entries{state=\"dead\"} 2"), "{metrics}");

    // An admin can send one again (once); an unknown id is a 404.
    let retry = |id: String| {
        let url = format!("{}/api/v1/admin/outbox/dead/{id}/retry", app.address);
        app.client.post(url).bearer_auth(TOKEN).send()
    };
    let id = perm["id"].as_str().unwrap().to_owned();
    assert_eq!(retry(id.clone()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(retry(id.clone()).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(retry("1-1".into()).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(retry("junk".into()).await.unwrap().status(), StatusCode::NOT_FOUND);
    app.outbox_settled().await;
    let outbox = admin_outbox(&app).await;
    assert_eq!(outbox["dead"], 2, "it failed again, and only once more");
    assert!(outbox["dead_letters"].as_array().unwrap().iter().all(|d| d["id"] != id.as_str()));
}

#[tokio::test]
async fn instances_share_one_outbox_and_send_each_mail_once() {
    let a = spawn_app_with(&[("RATE_LIMIT_LOGIN_IP", "1000/1h")]).await;
    let b = spawn_peer(&a, &[("RATE_LIMIT_LOGIN_IP", "1000/1h")]).await;
    for i in 0..60 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(api_login(app, &format!("shared{i}@example.com")).await, StatusCode::ACCEPTED);
    }
    // Sixty mails through one SMTP sink while the rest of the suite runs: a delivery the busy
    // sink fails is retried with backoff (2 s, 4 s, 8 s …), so the bound is generous.
    a.mail.wait_for_within(60, Duration::from_secs(60)).await;
    a.outbox_settled().await;
    assert_eq!(a.mail.received().len(), 60);
    assert_eq!(recipients_with_working_links(&b, &a.mail).await.len(), 60);
}

/// Accepts SMTP connections and never answers: a delivery to it hangs until cut off.
fn black_hole() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    (url, thread)
}

/// The real binary, as a child process, on the test Redis under `prefix`.
struct Instance {
    child: Child,
    address: String,
}

impl Instance {
    async fn start(prefix: &str, smtp: &str, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        command
            .env_clear()
            .env("APP_ENV", "development")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", PUBLIC_URL)
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", prefix)
            .env("MAIL_TRANSPORT", "smtp")
            .env("SMTP_URL", smtp)
            .env("MAIL_FROM", "Latchkey Test <login@example.test>")
            .env("SECRET_KEY", "test-secret-key-test-secret-key-test-secret-key")
            .env("RATE_LIMIT_LOGIN_IP", "1000/1h")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command.spawn().expect("cannot start the latchkey binary");
        let address = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while !client.get(format!("{address}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the latchkey binary did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, address }
    }

    async fn request_links(&self, n: usize, tag: &str) -> Vec<String> {
        let client = reqwest::Client::new();
        let mut addresses = Vec::new();
        for i in 0..n {
            let email = format!("{tag}{i}@example.com");
            let response = client
                .post(format!("{}/api/v1/login", self.address))
                .json(&serde_json::json!({ "email": email }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            addresses.push(email);
        }
        addresses
    }

    /// Waits (bounded) for the child to exit by itself; its status.
    async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the instance did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The outbox under `prefix`, watched without running a worker on it.
fn queue_at(prefix: &str) -> RedisQueue<latchkey::store::RedisConnection> {
    let conn = RedisStore::connect(&redis_url(), Keys::new(prefix)).unwrap().connection();
    RedisQueue::new(conn.clone(), conn, Keys::new(prefix))
}

/// A Redis prefix of the test's own.
fn fresh_prefix() -> String {
    format!("test:{}:", latchkey::crypto::random_token::<9>().unwrap())
}

/// Waits (bounded) until the outbox under `prefix` shows `n` deliveries held by a worker.
async fn until_in_flight(prefix: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = queue_at(prefix).outbox_stats().await.unwrap();
        if stats.in_flight == n {
            return;
        }
        assert!(Instant::now() < deadline, "expected {n} held deliveries: {stats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deliveries_held_by_a_killed_instance_are_taken_over_and_sent_by_another() {
    // A is the real binary, sending into a black hole; B runs in this process on the same store.
    let (smtp, _hole) = black_hole();
    let prefix = fresh_prefix();
    let mut a = Instance::start(&prefix, &smtp, &[("OUTBOX_LEASE", "60s")]).await;
    let addresses = a.request_links(5, "killed").await;
    until_in_flight(&prefix, 5).await;
    a.child.kill().unwrap();
    a.exited().await;

    let b = spawn_app_with(&[("REDIS_KEY_PREFIX", &prefix), ("OUTBOX_LEASE", "4s")]).await;
    let mails = b.mail.wait_for(5).await;
    b.outbox_settled().await;
    assert_eq!(b.mail.received().len(), 5);
    let got: BTreeSet<String> = mails.iter().map(|m| m.to.join(",").trim_matches(['<', '>']).to_owned()).collect();
    assert_eq!(got, addresses.into_iter().collect());
    assert_eq!(recipients_with_working_links(&b, &b.mail).await.len(), 5);
}

#[tokio::test]
async fn a_stopped_instance_finishes_within_its_timeout_and_releases_what_it_holds() {
    let (smtp, _hole) = black_hole();
    let prefix = fresh_prefix();
    let mut a = Instance::start(&prefix, &smtp, &[("SHUTDOWN_TIMEOUT", "2s")]).await;
    a.request_links(3, "stopped").await;
    until_in_flight(&prefix, 3).await;
    let pid = a.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(a.exited().await.success(), "a SIGTERM stop should exit cleanly");
    // Released, not held: any instance sends them now, without waiting out the 60 s lease.
    let stats = queue_at(&prefix).outbox_stats().await.unwrap();
    assert_eq!((stats.in_flight, stats.scheduled + stats.ready), (0, 3), "{stats:?}");
    // Cut off at the deadline, not waited for: a send that had run on to the mail server's
    // 15 s timeout would have come back as a failed try.
    let store = RedisStore::connect(&redis_url(), Keys::new(prefix.as_str())).unwrap();
    let scheduled: Vec<String> = redis::cmd("ZRANGE")
        .arg(store.keys().outbox_scheduled())
        .arg(0)
        .arg(-1)
        .query_async(&mut store.connection())
        .await
        .unwrap();
    assert_eq!(scheduled.len(), 3);
    for raw in scheduled {
        let job: latchkey::store::QueuedJob = serde_json::from_str(&raw).unwrap();
        assert_eq!((job.tries, job.last_error.as_deref()), (0, None), "released after a try instead of cut off");
    }

    let b = spawn_app_with(&[("REDIS_KEY_PREFIX", &prefix)]).await;
    b.mail.wait_for(3).await;
    b.outbox_settled().await;
    assert_eq!(b.mail.received().len(), 3);
}

#[tokio::test]
async fn without_redis_the_in_process_outbox_delivers_and_retries_the_same_way() {
    let app = spawn_app_with(&[("REDIS_URL", ""), ("OUTBOX_RETRY_BASE", "20ms"), ("OUTBOX_MAX_TRIES", "2")]).await;
    let response = app.sign_in("memory@example.com").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_session().await.status(), StatusCode::OK);
    assert_eq!(api_login(&app, "bounce-temp@example.com").await, StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("latchkey_outbox_entries{state=\"dead\"} 1") {
            assert!(metrics.contains("latchkey_mail_total{outcome=\"retry\"} 1"), "{metrics}");
            break;
        }
        assert!(Instant::now() < deadline, "the failing mail never reached the dead letters: {metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
