//! `spawn_app()` and `TestApp`: a real latchkey on a free port, with its own Redis key prefix,
//! a real SMTP sink, and an HTTP client that keeps its own cookie jar (reqwest's drops
//! `Secure` cookies over plain http, which a TLS-terminating proxy would not).

pub mod cluster;
pub mod dns;
pub mod redis;
pub mod redis_process;
pub mod sentinel;
pub mod smtp;
pub mod smtp_server;
pub mod tls;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Once};

use latchkey::clock::ManualClock;
use latchkey::store::{Keys, OutboxStats, OutboxStore, RedisQueue, RedisStore};
use latchkey::{Application, Settings};
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};

pub use self::cluster::{cluster_urls, cluster_urls_var};
pub use self::redis::{free_port, redis_url};
pub use self::smtp::{MailSink, ReceivedMail};

/// What links in mail are built from. Deliberately not the address the tests connect to.
pub const PUBLIC_URL: &str = "https://login.example.test";

static INIT: Once = Once::new();
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Collects every log line of the test process (and echoes it with `TEST_LOG=1`).
struct LogCapture;

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        if std::env::var("TEST_LOG").is_ok() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Process-wide set-up: the rustls crypto provider and log capture. Idempotent.
pub fn init_process() {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(|| LogCapture)
            .try_init();
    });
}

/// Everything logged so far by any test in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// A running app and what the test needs to drive and inspect it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The SMTP server its mail goes to.
    pub mail: MailSink,
    /// The clock the app reads; tests move it forward.
    pub clock: Arc<ManualClock>,
    /// This test's Redis key prefix.
    pub prefix: String,
    /// The client: no redirects followed.
    pub client: reqwest::Client,
    /// Cookie name → value, kept by hand.
    jar: Mutex<BTreeMap<String, String>>,
}

/// The test apps' `SECRET_KEY`.
pub const SECRET_KEY: &str = "test-secret-key-test-secret-key-test-secret-key";

/// The store's key for an address (its keyed hash under [`SECRET_KEY`]).
pub fn lookup_of(email: &str) -> String {
    latchkey::domain::Email::parse(email)
        .unwrap()
        .lookup_key(&latchkey::crypto::SecretKey::new(SECRET_KEY.as_bytes().to_vec()).derive())
}

/// Starts an app on Redis and SMTP with test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts an app with extra or overriding settings (`("LINK_TTL", "2m")` …).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_with_sink(overrides, MailSink::start()).await
}

/// Starts another instance of `peer`'s deployment: the same Redis prefix (so the same store
/// and outbox) and the same SMTP server.
pub async fn spawn_peer(peer: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("REDIS_KEY_PREFIX", peer.prefix.as_str())];
    vars.extend_from_slice(overrides);
    spawn_with_sink(&vars, peer.mail.clone()).await
}

async fn spawn_with_sink(overrides: &[(&str, &str)], mail: MailSink) -> TestApp {
    init_process();
    // Two apps given the same REDIS_KEY_PREFIX share state, like two instances.
    let prefix = overrides
        .iter()
        .find(|(k, _)| *k == "REDIS_KEY_PREFIX")
        .map(|(_, v)| (*v).to_owned())
        .unwrap_or_else(|| format!("test:{}:", latchkey::crypto::random_token::<9>().unwrap()));
    let mut vars: HashMap<String, String> = [
        ("APP_ENV", "development"),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("PUBLIC_URL", PUBLIC_URL),
        ("MAIL_TRANSPORT", "smtp"),
        ("MAIL_FROM", "Latchkey Test <login@example.test>"),
        ("SECRET_KEY", SECRET_KEY),
        // No lookup leaves the test process unless a test points DNS_RESOLVER at its own
        // server (tests/api/helpers/dns.rs) and turns these on.
        ("MAIL_DOMAIN_CHECK", "off"),
        ("MAIL_DNS_CHECK", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert("REDIS_URL".into(), redis_url());
    vars.insert("REDIS_KEY_PREFIX".into(), prefix.clone());
    vars.insert("SMTP_URL".into(), mail.url.clone());
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    vars.retain(|_, v| !v.is_empty());
    if vars.get("APP_ENV").map(String::as_str) == Some("production") {
        production_store(&mut vars).await;
    }
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings invalid");
    let clock = Arc::new(ManualClock::default());
    let app = Application::build_with_clock(settings, clock.clone()).await.expect("app failed to build");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { address, mail, clock, prefix, client, jar: Mutex::new(BTreeMap::new()) }
}

/// A production instance needs a store with an identity (`STORE_ID`) and one that keeps what
/// it is given: unless the test sets them, its prefix is initialised as `latchkey store init`
/// would, and — the shared test Redis keeps nothing on disk — `REDIS_DURABILITY=managed`
/// declares it durable (tests/api/durability.rs checks the real settings).
async fn production_store(vars: &mut HashMap<String, String>) {
    vars.entry("REDIS_DURABILITY".into()).or_insert_with(|| "managed".into());
    if vars.contains_key("STORE_ID") || !vars.contains_key("REDIS_URL") {
        return;
    }
    let settings = Settings::for_store_commands(|k| vars.get(k).cloned()).expect("test settings invalid");
    let store = latchkey::store_tools::open_store(&settings).unwrap();
    let init = latchkey::store_tools::init(&store, &settings.policy, chrono::Utc::now()).await.unwrap();
    vars.insert("STORE_ID".into(), init.identity.id);
}

impl TestApp {
    /// The cookies to send, as one `Cookie` header.
    pub fn cookie_header(&self) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        (!jar.is_empty()).then(|| jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    /// Keeps what the response's `Set-Cookie` headers say.
    fn absorb_cookies(&self, headers: &HeaderMap) {
        let mut jar = self.jar.lock().unwrap();
        for raw in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let first = raw.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else { continue };
            let removed = raw.to_ascii_lowercase().contains("max-age=0");
            if removed || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    /// Sends a request with the jar's cookies and keeps the cookies it sets.
    pub async fn send(&self, mut request: reqwest::RequestBuilder) -> Response {
        if let Some(cookies) = self.cookie_header() {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.expect("request failed");
        self.absorb_cookies(response.headers());
        response
    }

    /// A cookie's current value in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    /// Sets or replaces a cookie in the jar.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.to_owned(), value.to_owned());
    }

    /// Forgets every cookie (a different browser).
    pub fn clear_cookies(&self) {
        self.jar.lock().unwrap().clear();
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.send(self.client.get(format!("{}{}", self.address, path))).await
    }

    /// `POST path` with a form body.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.send(self.client.post(format!("{}{}", self.address, path)).form(form)).await
    }

    /// A CSRF token for forms, from the login page (setting the CSRF cookie if needed).
    pub async fn csrf_token(&self) -> String {
        let body = self.get("/login").await.text().await.unwrap();
        hidden_field(&body, "csrf").expect("login page has no csrf field")
    }

    /// `POST /login` as the login page would send it.
    pub async fn post_login(&self, email: &str) -> Response {
        let csrf = self.csrf_token().await;
        self.post_form("/login", &[("email", email), ("csrf", &csrf)]).await
    }

    /// `GET /login/verify?token=…`.
    pub async fn get_verify(&self, token: &str) -> Response {
        self.send(self.client.get(format!("{}/login/verify", self.address)).query(&[("token", token)])).await
    }

    /// `POST /login/verify` as the confirm page would send it.
    pub async fn post_verify(&self, token: &str) -> Response {
        let csrf = self.csrf_token().await;
        self.post_form("/login/verify", &[("token", token), ("csrf", &csrf)]).await
    }

    /// `GET /api/v1/session`.
    pub async fn get_session(&self) -> Response {
        self.get("/api/v1/session").await
    }

    /// The signed-in user's id (`sub` of `GET /api/v1/session`).
    pub async fn user_id(&self) -> latchkey::domain::UserId {
        let claims: serde_json::Value = self.get_session().await.json().await.unwrap();
        latchkey::domain::UserId::parse(claims["sub"].as_str().unwrap()).unwrap()
    }

    /// Requests a link for `email` and returns the token from the mail that arrives.
    pub async fn request_token(&self, email: &str) -> String {
        let before = self.mail.received().len();
        let response = self.post_login(email).await;
        assert_eq!(response.status(), StatusCode::OK);
        token_from_link(&magic_link_from(&self.mail.wait_for_link_mail(before).await))
    }

    /// Signs `email` in through the whole flow; the jar then holds the session cookie.
    pub async fn sign_in(&self, email: &str) -> Response {
        let token = self.request_token(email).await;
        let response = self.post_verify(&token).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        response
    }

    /// The outbox queue on this test's prefix, for inspecting what waits there.
    pub fn queue(&self) -> RedisQueue<latchkey::store::RedisConnection> {
        let conn = self.store().connection();
        RedisQueue::new(conn.clone(), conn, Keys::new(self.prefix.clone()))
    }

    /// Waits (bounded) until `/metrics` has the sample `line` (e.g.
    /// `latchkey_mail_total{outcome="sent"} 1`; a worker counts a delivery just after the
    /// store has settled it); returns the whole text then.
    pub async fn metrics_with(&self, line: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let metrics = self.get("/metrics").await.text().await.unwrap();
            if metrics.lines().any(|l| l == line) {
                return metrics;
            }
            assert!(std::time::Instant::now() < deadline, "no `{line}` in the metrics: {metrics}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until the outbox holds nothing ready, in flight or scheduled; returns
    /// its counts then.
    pub async fn outbox_settled(&self) -> OutboxStats {
        outbox_settled(&self.queue()).await
    }

    /// A Redis store on this test's prefix, for inspecting what the app wrote.
    pub fn store(&self) -> RedisStore {
        RedisStore::connect(&redis_url(), Keys::new(self.prefix.clone())).unwrap()
    }

    /// Every key under this test's prefix with its value(s) rendered as text.
    pub async fn dump_redis(&self) -> Vec<(String, String)> {
        let mut conn = self.store().connection();
        let keys: Vec<String> =
            ::redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut conn).await.unwrap();
        let mut out = Vec::new();
        for key in keys {
            let kind: String = ::redis::cmd("TYPE").arg(&key).query_async(&mut conn).await.unwrap();
            let value = match kind.as_str() {
                "string" => ::redis::cmd("GET").arg(&key).query_async::<String>(&mut conn).await.unwrap(),
                "hash" => format!(
                    "{:?}",
                    ::redis::cmd("HGETALL").arg(&key).query_async::<Vec<String>>(&mut conn).await.unwrap()
                ),
                "set" => format!(
                    "{:?}",
                    ::redis::cmd("SMEMBERS").arg(&key).query_async::<Vec<String>>(&mut conn).await.unwrap()
                ),
                "stream" => format!(
                    "{:?}",
                    ::redis::cmd("XRANGE")
                        .arg(&key)
                        .arg("-")
                        .arg("+")
                        .query_async::<::redis::Value>(&mut conn)
                        .await
                        .unwrap()
                ),
                "zset" => format!(
                    "{:?}",
                    ::redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async::<Vec<String>>(&mut conn)
                        .await
                        .unwrap()
                ),
                other => format!("<{other}>"),
            };
            out.push((key, value));
        }
        out
    }
}

/// The value of `<input … name="NAME" value="…">` in a page, HTML entities decoded as a
/// browser would.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html_unescape(&html[start..start + end]))
}

fn html_unescape(s: &str) -> String {
    [("&#38;", "&"), ("&amp;", "&"), ("&#34;", "\""), ("&quot;", "\""), ("&#39;", "'"), ("&lt;", "<"), ("&gt;", ">")]
        .iter()
        .fold(s.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

/// Sends every request at once (each on its own task) and returns their statuses, in order.
pub async fn statuses_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<StatusCode> {
    let tasks: Vec<_> =
        requests.into_iter().map(|request| tokio::spawn(async move { request.send().await.unwrap() })).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status());
    }
    statuses
}

/// The sign-in link in a mail's text part.
pub fn magic_link_from(mail: &ReceivedMail) -> String {
    let text = mail.text();
    text.split_whitespace()
        .find(|w| w.contains("/login/verify?token="))
        .expect("no sign-in link in the mail")
        .to_owned()
}

/// The token in a sign-in link.
pub fn token_from_link(link: &str) -> String {
    let url = url::Url::parse(link).expect("link is not a URL");
    url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("link has no token")
}

/// True when a response sets a session cookie (not one that clears it).
pub fn session_cookie_set(response: &Response) -> bool {
    set_cookies(response).iter().any(|c| c.starts_with("__Host-session=") && !c.contains("Max-Age=0"))
}

/// Requests a link in `app`'s browser; returns (token, code) from the mail.
pub async fn request(app: &TestApp, email: &str) -> (String, String) {
    let before = app.mail.received().len();
    assert_eq!(app.post_login(email).await.status(), StatusCode::OK);
    let mail = app.mail.wait_for_link_mail(before).await;
    (token_from_link(&magic_link_from(&mail)), code_from(&mail))
}

/// Races `n` concurrent redemptions of `token` (asked for in the first app's browser), spread
/// over the instances `apps`, with that browser's cookies. Every loser must get the used-link
/// page and no session; returns the winners (responses that set a session).
pub async fn race_redemptions(apps: &[&TestApp], token: &str, n: usize) -> Vec<Response> {
    let asker = apps[0];
    let csrf = asker.csrf_token().await;
    let cookies = format!(
        "__Host-csrf={}; __Host-attempt={}",
        asker.cookie("__Host-csrf").unwrap(),
        asker.cookie("__Host-attempt").unwrap()
    );
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = apps[i % apps.len()];
            let request = app
                .client
                .post(format!("{}/login/verify", app.address))
                .header(COOKIE, &cookies)
                .form(&[("token", token), ("csrf", &csrf)]);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        if session_cookie_set(&response) {
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            winners.push(response);
        } else {
            assert_eq!(response.status(), StatusCode::GONE, "a loser got neither a session nor the used-link page");
        }
    }
    winners
}

/// Every `Set-Cookie` header of a response, raw.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect()
}

/// The short code in a sign-in mail (`K7PM-2QXR`).
pub fn code_from(mail: &ReceivedMail) -> String {
    let text = mail.text();
    text.split_whitespace()
        .find(|w| w.len() == 9 && w.as_bytes()[4] == b'-' && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .expect("no code in the mail")
        .to_owned()
}

/// A fresh Ed25519 key in a temporary PEM file, for `JWT_KEYS` (tests that mint tokens).
pub fn jwt_key_file() -> (String, String) {
    let pem = latchkey::session::SigningKey::generate_pem().unwrap();
    let path =
        std::env::temp_dir().join(format!("latchkey-test-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, &pem).unwrap();
    (path.to_string_lossy().into_owned(), pem)
}

/// A fresh RSA-2048 key in a temporary PEM file, for `JWT_KEYS` (RS256 id_tokens).
pub fn rsa_key_file() -> (String, String) {
    let pem = latchkey::session::SigningKey::generate_rsa_pem().unwrap();
    let path =
        std::env::temp_dir().join(format!("latchkey-test-rsa-{}.pem", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, &pem).unwrap();
    (path.to_string_lossy().into_owned(), pem)
}

/// Waits (bounded) until `queue` holds nothing ready, in flight or scheduled; returns its
/// counts then.
pub async fn outbox_settled(queue: &RedisQueue<latchkey::store::RedisConnection>) -> OutboxStats {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stats = queue.outbox_stats().await.unwrap();
        if stats.ready == 0 && stats.in_flight == 0 && stats.scheduled == 0 {
            return stats;
        }
        assert!(std::time::Instant::now() < deadline, "the outbox did not settle: {stats:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
