//! Limits an attacker tries to get around or turn against someone: store work that tells
//! addresses apart, IPv6 address hopping, mailbox flooding and lock-out, forwarding headers
//! that are not UTF-8.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey::Settings;
use latchkey::domain::{Email, EventKind};
use latchkey::store::prelude::*;
use latchkey::store::{Keys, RedisStore};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{TestApp, spawn_app_with};

/// `POST /api/v1/login` for `email`, as the client behind the trusted proxy at `forwarded`.
fn api_login(app: &TestApp, email: &str, forwarded: HeaderValue) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}/api/v1/login", app.address))
        .header("X-Forwarded-For", forwarded)
        .json(&serde_json::json!({ "email": email }))
}

/// Sends every request at once and returns the statuses, in request order.
async fn burst(requests: Vec<reqwest::RequestBuilder>) -> Vec<StatusCode> {
    let tasks: Vec<_> =
        requests.into_iter().map(|r| tokio::spawn(async move { r.send().await.unwrap().status() })).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn ip(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap()
}

// ---- Store work: the same commands for every address -------------------------------------

/// `redis-cli MONITOR` on a private server: the command names it saw, split at markers.
struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
    conn: redis::aio::MultiplexedConnection,
    _child: tokio::process::Child,
    marks: usize,
}

impl Monitor {
    async fn start(redis: &RedisProcess) -> Self {
        let port = redis.url().trim_end_matches('/').rsplit(':').next().unwrap().to_owned();
        let mut child = tokio::process::Command::new("redis-cli")
            .args(["-p", &port, "monitor"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-cli is needed (apt-get install redis-tools)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let mut monitor = Self { lines, conn, _child: child, marks: 0 };
        monitor.mark().await; // waits until MONITOR is listening
        monitor
    }

    /// Sends a marker through Redis and waits until MONITOR has shown it; returns the command
    /// names seen since the previous marker, leaving out reads of the shared policy (refreshed
    /// on a timer, and the same for every address).
    async fn mark(&mut self) -> Vec<String> {
        self.mark_commands().await.into_iter().map(|(name, _)| name).collect()
    }

    /// As [`Monitor::mark`], each name with whether a script ran it (MONITOR shows those as
    /// `[0 lua]`) rather than a client sending it.
    async fn mark_commands(&mut self) -> Vec<(String, bool)> {
        self.marks += 1;
        let marker = format!("latchkey-test-mark-{}", self.marks);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let _: String = redis::cmd("ECHO").arg(&marker).query_async(&mut self.conn).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut lines = self.lines.lock().unwrap();
            if let Some(at) = lines.iter().position(|l| l.contains(&marker)) {
                let seen: Vec<String> = lines.drain(..=at).collect();
                return seen
                    .iter()
                    .filter(|l| !l.contains("\"ECHO\"") && !l.contains("policy\""))
                    .filter_map(|l| {
                        let name = l.split("] \"").nth(1).and_then(|rest| rest.split('"').next())?;
                        Some((name.to_owned(), l.contains(" lua] ")))
                    })
                    .collect();
            }
            drop(lines);
            assert!(std::time::Instant::now() < deadline, "MONITOR never showed {marker}");
        }
    }
}

#[tokio::test]
async fn new_known_blocked_and_not_allowed_addresses_cost_the_same_redis_commands_limited_or_not() {
    let redis = RedisProcess::start().await;
    let url = redis.url();
    let prefix = "monitored:";
    // The address domain check on, against a DNS server on loopback: its lookup depends on the
    // domain alone and reads nothing from the store.
    let dns = crate::helpers::dns::DnsServer::start(&[
        ("example.com", crate::helpers::dns::Rr::Mx(10, "mx.example.com".into())),
        ("elsewhere.test", crate::helpers::dns::Rr::Mx(10, "mx.elsewhere.test".into())),
    ]);
    let resolver = dns.resolver();
    // No worker (nothing else talks to this Redis), one link per address and network.
    let app = spawn_app_with(&[
        ("REDIS_URL", &url),
        ("REDIS_KEY_PREFIX", prefix),
        ("OUTBOX_WORKER", "false"),
        ("SIGNUP_ALLOW", "example.com"),
        ("RATE_LIMIT_LOGIN_EMAIL_NETWORK", "1/15m"),
        ("MAIL_DOMAIN_CHECK", "refuse"),
        ("DNS_RESOLVER", &resolver),
    ])
    .await;
    let store = RedisStore::connect(&url, Keys::new(prefix.to_owned())).unwrap();
    let lookup = crate::helpers::lookup_of;
    for email in ["known@example.com", "blocked@example.com"] {
        store.find_or_create_user(&lookup(email), &Email::parse(email).unwrap(), chrono::Utc::now()).await.unwrap();
        store.set_blocked(&lookup(email), email.starts_with("blocked")).await.unwrap();
    }
    let cases = ["new@example.com", "known@example.com", "blocked@example.com", "outsider@elsewhere.test"];
    let mut monitor = Monitor::start(&redis).await;
    for (round, expected) in [(1, StatusCode::ACCEPTED), (2, StatusCode::TOO_MANY_REQUESTS)] {
        let mut seen = Vec::new();
        for email in cases {
            monitor.mark().await;
            let response = api_login(&app, email, ip("198.51.100.20")).send().await.unwrap();
            assert_eq!(response.status(), expected, "{email} in round {round}");
            seen.push((email, monitor.mark().await));
        }
        let (first, commands) = &seen[0];
        assert!(commands.len() >= 6, "round {round}: too little seen for {first}: {commands:?}");
        for (email, other) in &seen[1..] {
            assert_eq!(other, commands, "round {round}: {email} and {first} cost different Redis commands");
        }
        // Nothing of the account is read, even for a request that gets its link: the worker
        // decides whether the address gets the mail.
        assert!(!commands.iter().any(|c| c == "GET"), "round {round}: a link request read account data: {commands:?}");
        if round == 2 {
            assert!(!commands.iter().any(|c| c == "XADD"), "a refused request queued a mail: {commands:?}");
            // Refused by the (mailbox, network) limit, the second of three: the mailbox's
            // ceiling, after it, is not counted.
            let counted = commands.iter().filter(|c| *c == "INCR").count();
            assert_eq!(counted, 2, "a refused request counted the limits after its refusal: {commands:?}");
        }
    }
    assert!(dns.queries().iter().any(|q| q == "example.com MX"), "the domain check did not run: {:?}", dns.queries());
}

/// What one link request costs the store, by the JSON API and by the form: at most ten
/// commands sent (a script call is one; MONITOR also shows what the scripts run inside Redis).
#[tokio::test]
async fn a_link_request_sends_at_most_ten_redis_commands_by_the_api_and_by_the_form() {
    let redis = RedisProcess::start().await;
    let app = spawn_app_with(&[("REDIS_URL", &redis.url()), ("OUTBOX_WORKER", "false")]).await;
    let csrf = app.csrf_token().await;
    // The scripts were loaded at start-up: the first request sends no `SCRIPT LOAD` either.
    let mut monitor = Monitor::start(&redis).await;
    for (how, email) in [("api", "counted@example.com"), ("form", "formed@example.com")] {
        monitor.mark_commands().await;
        let status = if how == "api" {
            api_login(&app, email, ip("198.51.100.7")).send().await.unwrap().status()
        } else {
            app.post_form("/login", &[("email", email), ("csrf", &csrf)]).await.status()
        };
        assert!(status.is_success(), "{how}: {status}");
        let seen = monitor.mark_commands().await;
        let sent: Vec<_> = seen.iter().filter(|(_, by_script)| !by_script).map(|(name, _)| name.as_str()).collect();
        let run: Vec<_> = seen.iter().map(|(name, _)| name.as_str()).collect();
        println!("{how}: {} commands sent {sent:?}; {} run in Redis {run:?}", sent.len(), run.len());
        assert!(sent.len() <= 10, "{how}: a link request sent {} Redis commands: {sent:?}", sent.len());
        // What each does: the three limits (one script call), the link generation (a plain
        // write of a generation drawn by latchkey), the attempt and the outbox entry; no read of
        // the account (the worker makes it), no audit write.
        assert_eq!(sent.iter().filter(|c| c.eq_ignore_ascii_case("EVALSHA")).count(), 2, "{how}: {sent:?}");
        assert_eq!(sent.iter().filter(|c| c.eq_ignore_ascii_case("SETEX")).count(), 1, "{how}: {sent:?}");
        assert_eq!(sent.iter().filter(|c| c.eq_ignore_ascii_case("XADD")).count(), 1, "{how}: {sent:?}");
        assert_eq!(sent.len(), 4, "{how}: {sent:?}");
        let limits = ["INCR", "PEXPIRE"].repeat(3);
        assert_eq!(run[1..7], limits, "{how}: the limits are not counted in one script call: {run:?}");
    }
}

// ---- IPv6 clients count by network ---------------------------------------------------------

#[tokio::test]
async fn many_addresses_of_one_ipv6_64_share_one_budget_while_other_64s_keep_theirs() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("RATE_LIMIT_LOGIN_IP", "5/15m")]).await;
    let same_64: Vec<_> = (1..=12)
        .map(|i| api_login(&app, &format!("hop{i}@example.com"), ip(&format!("2001:db8:1:2::{i:x}"))))
        .collect();
    let statuses = burst(same_64).await;
    assert_eq!(count(&statuses, StatusCode::ACCEPTED), 5, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 7, "{statuses:?}");
    let other_64s: Vec<_> = (1..=12)
        .map(|i| api_login(&app, &format!("net{i}@example.com"), ip(&format!("2001:db8:2:{i:x}::1"))))
        .collect();
    let statuses = burst(other_64s).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::ACCEPTED), "{statuses:?}");
}

#[tokio::test]
async fn the_ipv6_prefix_is_configurable() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_LOGIN_IP", "3/15m"),
        ("RATE_LIMIT_IPV6_PREFIX", "48"),
    ])
    .await;
    let one_48: Vec<_> =
        (1..=6).map(|i| api_login(&app, &format!("p{i}@example.com"), ip(&format!("2001:db8:7:{i:x}::1")))).collect();
    let statuses = burst(one_48).await;
    assert_eq!(count(&statuses, StatusCode::ACCEPTED), 3, "{statuses:?}");
    let lookup = |k: &str| (k == "RATE_LIMIT_IPV6_PREFIX").then(|| "16".to_owned());
    let Err(problem) = Settings::from_lookup(lookup) else { panic!("a /16 was accepted") };
    let problem = problem.to_string();
    assert!(problem.contains("RATE_LIMIT_IPV6_PREFIX"), "{problem}");
}

#[tokio::test]
async fn guessing_links_from_many_addresses_of_one_ipv6_64_is_cut_off() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("RATE_LIMIT_REDEEM_FAILURES_IP", "3/15m")]).await;
    let csrf = app.csrf_token().await;
    let cookie = format!("__Host-csrf={}", app.cookie("__Host-csrf").unwrap());
    let guess = |i: u32| {
        let token = format!("{:0>43}", i);
        app.client
            .post(format!("{}/login/verify", app.address))
            .header("X-Forwarded-For", ip(&format!("2001:db8:9:9::{i:x}")))
            .header("Cookie", &cookie)
            .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
    };
    let statuses = burst((1..=6).map(guess).collect()).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::NOT_FOUND || *s == StatusCode::TOO_MANY_REQUESTS));
    // Yet another address in the same /64 is already over the limit.
    assert_eq!(guess(100).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Another /64 is not.
    let other = app
        .client
        .post(format!("{}/login/verify", app.address))
        .header("X-Forwarded-For", ip("2001:db8:9:a::1"))
        .header("Cookie", &cookie)
        .form(&[("token", format!("{:0>43}", 7).as_str()), ("csrf", csrf.as_str())]);
    assert_eq!(other.send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_ipv4_mapped_client_counts_as_ipv4_and_is_logged_as_ipv4() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("RATE_LIMIT_LOGIN_IP", "2/15m")]).await;
    let requests = vec![
        api_login(&app, "m1@example.com", ip("::ffff:203.0.113.9")),
        api_login(&app, "m2@example.com", ip("203.0.113.9")),
        api_login(&app, "m3@example.com", ip("::ffff:203.0.113.9")),
    ];
    let statuses = burst(requests).await;
    assert_eq!(count(&statuses, StatusCode::ACCEPTED), 2, "{statuses:?}");
    // A link request leaves no audit event; a failed sign-in from the mapped address does,
    // and it names the client as IPv4.
    let csrf = app.csrf_token().await;
    let cookie = format!("__Host-csrf={}", app.cookie("__Host-csrf").unwrap());
    let failed = app
        .client
        .post(format!("{}/login/verify", app.address))
        .header("X-Forwarded-For", ip("::ffff:203.0.113.9"))
        .header("Cookie", &cookie)
        .form(&[("token", format!("{:0>43}", 9).as_str()), ("csrf", csrf.as_str())]);
    assert_eq!(failed.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let events = app.store().global_events(None, 50).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert!(!kinds.iter().any(|k| matches!(k, EventKind::LinkRequested | EventKind::LinkRefused)), "{kinds:?}");
    let failed: Vec<_> = events.iter().filter(|e| e.kind == EventKind::LinkFailed).collect();
    assert_eq!(failed.len(), 1, "{kinds:?}");
    assert_eq!(failed[0].ip, "203.0.113.9");
}

// ---- Mailbox flooding and lock-out ---------------------------------------------------------

#[tokio::test]
async fn plus_tags_of_one_mailbox_share_its_budget() {
    let app = spawn_app_with(&[]).await;
    let tagged: Vec<_> =
        (1..=8).map(|i| api_login(&app, &format!("victim+{i}@example.com"), ip("198.51.100.1"))).collect();
    let statuses = burst(tagged).await;
    assert_eq!(count(&statuses, StatusCode::ACCEPTED), 5, "{statuses:?}");
    app.mail.wait_for(5).await;
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), 5, "the mailbox got more than its budget");
    // The account is still the address as typed: each mail goes to its tagged address.
    let to: Vec<String> = app.mail.received().iter().flat_map(|m| m.to.clone()).collect();
    assert!(to.iter().all(|t| t.starts_with("victim+")), "{to:?}");
}

#[tokio::test]
async fn a_flood_from_one_network_leaves_the_person_a_link_from_their_own() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let flood: Vec<_> = (0..25).map(|_| api_login(&app, "victim@example.com", ip("198.51.100.66"))).collect();
    let statuses = burst(flood).await;
    assert_eq!(count(&statuses, StatusCode::ACCEPTED), 5, "{statuses:?}");
    // The person, from home, still gets a link.
    let response = api_login(&app, "victim@example.com", ip("203.0.113.5")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mails = app.mail.wait_for(6).await;
    assert!(mails.iter().any(|m| m.text().contains("203.0.113.5")), "no link for the person's own request");
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), 6);
}

#[tokio::test]
async fn a_mailbox_gets_no_more_than_its_ceiling_from_many_networks() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("RATE_LIMIT_LOGIN_EMAIL", "6/15m")]).await;
    let spread: Vec<_> =
        (1..=10).map(|i| api_login(&app, &format!("ceiling+{i}@example.com"), ip(&format!("192.0.2.{i}")))).collect();
    let statuses = burst(spread).await;
    assert_eq!(count(&statuses, StatusCode::ACCEPTED), 6, "{statuses:?}");
    app.mail.wait_for(6).await;
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), 6);
}

// ---- X-Forwarded-For that is not UTF-8 -----------------------------------------------------

#[tokio::test]
async fn a_forwarded_header_with_junk_bytes_still_names_each_client() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("RATE_LIMIT_LOGIN_IP", "2/15m")]).await;
    // What the client wrote (junk, not UTF-8) is left of its address, which the proxy added.
    let junk = |client: u8| {
        let mut bytes = b"\xff\xfe\x80 junk, ".to_vec();
        bytes.extend_from_slice(format!("198.51.100.{client}").as_bytes());
        HeaderValue::from_bytes(&bytes).unwrap()
    };
    let requests: Vec<_> = (1..=3)
        .flat_map(|c| (0..2).map(move |n| (c, n)))
        .map(|(c, n)| api_login(&app, &format!("x{c}-{n}@example.com"), junk(c)))
        .collect();
    let statuses = burst(requests).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::ACCEPTED), "clients were lumped together: {statuses:?}");
    let texts: Vec<String> = app.mail.wait_for(6).await.iter().map(|m| m.text()).collect();
    for client in 1..=3 {
        assert!(texts.iter().any(|t| t.contains(&format!("198.51.100.{client}"))), "no mail names client {client}");
    }
    assert!(texts.iter().all(|t| !t.contains("127.0.0.1")), "a mail names the proxy");
    // Each client's own budget still holds.
    let third = api_login(&app, "x1-2@example.com", junk(1)).send().await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_mail_of_a_refused_address_is_not_sent_nor_dead_lettered() {
    let app = spawn_app_with(&[("SIGNUP_ALLOW", "example.com")]).await;
    let response = api_login(&app, "stranger@elsewhere.test", ip("198.51.100.1")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let settled = app.outbox_settled().await;
    assert_eq!(settled.dead, 0, "the withheld mail went to the dead letters");
    assert!(app.mail.received().is_empty(), "a refused address got mail");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("latchkey_mail_total"), "the withheld mail counted as mail: {metrics}");
}
