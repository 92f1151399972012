//! Fail closed: with Redis gone, every request that needs the store gets a 503 with
//! `Retry-After` (a page, or JSON under `/api/v1`), nothing is ever accepted, `/healthz` stays
//! up and `/readyz` says not ready; when Redis is back the same process serves again.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use sha2::Digest;

use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{
    TestApp, captured_logs, code_from, magic_link_from, set_cookies, spawn_app_with, token_from_link,
};

const ADMIN_TOKEN: &str = "admin-api-token-admin-api-token-0123456789";
const SPA_CB: &str = "http://127.0.0.1:9999/cb";

/// What a request must get while the store is down.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// 503, `Retry-After`, an HTML page.
    Page,
    /// 503, `Retry-After`, a JSON body.
    Json,
    /// The route needs no store: its usual 200.
    Served,
}

/// One request of the stream.
struct Probe {
    name: &'static str,
    expect: Expect,
    request: RequestBuilder,
}

/// Secrets a signed-in user, a pending link and an OIDC app hold when Redis goes away.
struct Held {
    session: String,
    csrf_cookie: String,
    csrf: String,
    token: String,
    code: String,
    attempt: String,
    access_token: String,
    oidc_code: String,
    verifier: String,
    policy: serde_json::Value,
}

async fn spawn_on(redis: &RedisProcess) -> TestApp {
    let clients = format!("[[client]]\nclient_id = \"spa\"\nredirect_uris = [\"{SPA_CB}\"]\ntype = \"public\"\n");
    let path =
        std::env::temp_dir().join(format!("latchkey-clients-{}.toml", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::write(&path, clients).unwrap();
    spawn_app_with(&[
        ("REDIS_URL", &redis.url()),
        ("ADMIN_API_TOKEN", ADMIN_TOKEN),
        ("CLIENTS_FILE", path.to_str().unwrap()),
        ("SESSION_CACHE_TTL", "1s"),
    ])
    .await
}

/// Runs `/oauth2/authorize` for the public client with this app's session; returns (code, verifier).
async fn authorize(app: &TestApp) -> (String, String) {
    let verifier = latchkey::crypto::random_token::<32>().unwrap();
    let challenge = latchkey::crypto::b64(&sha2::Sha256::digest(verifier.as_bytes()));
    let query = [
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", SPA_CB),
        ("scope", "openid email"),
        ("state", "s"),
        ("nonce", "n"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let response = app.send(app.client.get(format!("{}/oauth2/authorize", app.address)).query(&query)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap();
    (code, verifier)
}

async fn exchange(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", SPA_CB),
        ("client_id", "spa"),
        ("code_verifier", verifier),
    ];
    app.client.post(format!("{}/oauth2/token", app.address)).form(&form).send().await.unwrap()
}

/// Signs a user in, gets OIDC tokens for them, and requests a second link, all while Redis is up.
async fn hold_secrets(app: &TestApp) -> Held {
    app.sign_in("steady@example.com").await;
    let session = app.cookie("__Host-session").unwrap();
    let (code, verifier) = authorize(app).await;
    let tokens: serde_json::Value = exchange(app, &code, &verifier).await.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let (oidc_code, verifier) = authorize(app).await;
    let url = format!("{}/api/v1/admin/policy", app.address);
    let mut policy: serde_json::Value =
        app.client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    policy["link_ttl_secs"] = 120.into();
    let before = app.mail.received().len();
    assert_eq!(app.post_login("pending@example.com").await.status(), StatusCode::OK);
    let mail = app.mail.wait_for_link_mail(before).await;
    Held {
        session,
        csrf_cookie: app.cookie("__Host-csrf").unwrap(),
        csrf: app.csrf_token().await,
        token: token_from_link(&magic_link_from(&mail)),
        code: code_from(&mail),
        attempt: app.cookie("__Host-attempt").unwrap(),
        access_token,
        oidc_code,
        verifier,
        policy,
    }
}

/// Every kind of request that needs the store, each with what a real client would send.
fn probes(app: &TestApp, held: &Held) -> Vec<Probe> {
    let url = |path: &str| format!("{}{path}", app.address);
    let browser = format!("__Host-csrf={}; __Host-attempt={}", held.csrf_cookie, held.attempt);
    let signed_in = format!("__Host-csrf={}; __Host-session={}", held.csrf_cookie, held.session);
    let c = &app.client;
    let admin =
        |method: Method, path: &str| c.request(method, url(&format!("/api/v1/admin{path}"))).bearer_auth(ADMIN_TOKEN);
    let probe = |name, expect, request| Probe { name, expect, request };
    vec![
        probe("GET /login", Expect::Served, c.get(url("/login")).header(COOKIE, &browser)),
        probe("GET /.well-known/jwks.json", Expect::Served, c.get(url("/.well-known/jwks.json"))),
        probe("GET /.well-known/openid-configuration", Expect::Served, c.get(url("/.well-known/openid-configuration"))),
        probe("GET /static/style.css", Expect::Served, c.get(url("/static/style.css"))),
        probe(
            "POST /login",
            Expect::Page,
            c.post(url("/login")).header(COOKIE, &browser).form(&[("email", "new@example.com"), ("csrf", &held.csrf)]),
        ),
        probe(
            "POST /api/v1/login",
            Expect::Json,
            c.post(url("/api/v1/login")).json(&serde_json::json!({ "email": "new@example.com" })),
        ),
        probe(
            "GET /login/verify",
            Expect::Page,
            c.get(url("/login/verify")).header(COOKIE, &browser).query(&[("token", &held.token)]),
        ),
        probe(
            "POST /login/verify",
            Expect::Page,
            c.post(url("/login/verify")).header(COOKIE, &browser).form(&[("token", &held.token), ("csrf", &held.csrf)]),
        ),
        probe(
            "POST /login/code (asking browser)",
            Expect::Page,
            c.post(url("/login/code")).header(COOKIE, &browser).form(&[("code", &held.code), ("csrf", &held.csrf)]),
        ),
        probe(
            "POST /login/code (other device)",
            Expect::Page,
            c.post(url("/login/code")).header(COOKIE, format!("__Host-csrf={}", held.csrf_cookie)).form(&[
                ("code", &held.code),
                ("token", &held.token),
                ("csrf", &held.csrf),
            ]),
        ),
        probe("GET /account", Expect::Page, c.get(url("/account")).header(COOKIE, &signed_in)),
        probe("GET /admin", Expect::Page, c.get(url("/admin")).header(COOKIE, &signed_in)),
        probe(
            "GET /oauth2/authorize",
            Expect::Page,
            c.get(url("/oauth2/authorize")).header(COOKIE, &signed_in).query(&[
                ("response_type", "code"),
                ("client_id", "spa"),
                ("redirect_uri", SPA_CB),
                ("scope", "openid"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "S256"),
            ]),
        ),
        probe("GET /api/v1/session", Expect::Json, c.get(url("/api/v1/session")).header(COOKIE, &signed_in)),
        probe("GET /auth/verify", Expect::Page, c.get(url("/auth/verify")).header(COOKIE, &signed_in)),
        probe(
            "POST /logout/all",
            Expect::Page,
            c.post(url("/logout/all")).header(COOKIE, &signed_in).form(&[("csrf", &held.csrf)]),
        ),
        probe(
            "POST /oauth2/token",
            Expect::Json,
            c.post(url("/oauth2/token")).form(&[
                ("grant_type", "authorization_code"),
                ("code", &held.oidc_code),
                ("redirect_uri", SPA_CB),
                ("client_id", "spa"),
                ("code_verifier", &held.verifier),
            ]),
        ),
        probe("GET /oauth2/userinfo", Expect::Json, c.get(url("/oauth2/userinfo")).bearer_auth(&held.access_token)),
        probe("GET /api/v1/admin/users/…", Expect::Json, admin(Method::GET, "/users/steady@example.com")),
        probe("GET /api/v1/admin/audit", Expect::Json, admin(Method::GET, "/audit")),
        probe("GET /api/v1/admin/clients", Expect::Json, admin(Method::GET, "/clients")),
        probe("PUT /api/v1/admin/policy", Expect::Json, admin(Method::PUT, "/policy").json(&held.policy)),
        probe(
            "POST /api/v1/admin/users/…/revoke-sessions",
            Expect::Json,
            admin(Method::POST, "/users/steady@example.com/revoke-sessions"),
        ),
        probe("GET /readyz", Expect::Json, c.get(url("/readyz"))),
    ]
}

/// What is wrong with one response of the stream, by what fail-closed means for it.
async fn problems(name: &str, expect: Expect, response: reqwest::Response) -> Vec<String> {
    let mut problems = Vec::new();
    let status = response.status();
    let session_cookies: Vec<String> =
        set_cookies(&response).into_iter().filter(|c| c.starts_with("__Host-session")).collect();
    // A browser asked to sign out is signed out, whatever the store said; nothing else may
    // touch the session cookie.
    let removed = !session_cookies.is_empty() && session_cookies.iter().all(|c| c.contains("Max-Age=0"));
    let as_it_should = if name.starts_with("POST /logout") { removed } else { session_cookies.is_empty() };
    if !as_it_should {
        problems.push(format!("{name}: Set-Cookie {session_cookies:?}"));
    }
    let header = |h| response.headers().get(h).map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned());
    let (content_type, retry_after) = (header(CONTENT_TYPE).unwrap_or_default(), header(RETRY_AFTER));
    match expect {
        Expect::Served if status != StatusCode::OK => problems.push(format!("{name}: {status}, not 200")),
        Expect::Served => {}
        Expect::Page | Expect::Json => {
            let wanted = if expect == Expect::Page { "text/html" } else { "application/json" };
            if status != StatusCode::SERVICE_UNAVAILABLE {
                problems.push(format!("{name}: {status}, not 503"));
            }
            if retry_after.as_deref() != Some("5") {
                problems.push(format!("{name}: Retry-After {retry_after:?}"));
            }
            if !content_type.starts_with(wanted) {
                problems.push(format!("{name}: {content_type}, not {wanted}"));
            }
        }
    }
    problems
}

/// Waits (bounded) until `/readyz` answers 200.
async fn wait_until_ready(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/readyz").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "latchkey did not become ready after Redis came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_redis_stopped_every_request_that_needs_it_gets_503_and_recovery_needs_no_restart() {
    let mut redis = RedisProcess::start().await;
    let app = spawn_on(&redis).await;
    let held = hold_secrets(&app).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let store = |url: &str| latchkey::store::RedisStore::connect(url, latchkey::store::Keys::new(app.prefix.clone()));
    let identity = latchkey::store::IdentityStore::get_identity(&store(&redis.url()).unwrap()).await.unwrap().unwrap();

    // A client keeps asking about the session while Redis goes away: it must see the session
    // or a 503, never a 500 and never "signed out" (401) because of the outage.
    let (stop_asking, mut asking_stopped) = tokio::sync::watch::channel(false);
    let asking = {
        let request = app.client.get(format!("{}/api/v1/session", app.address));
        let request = request.header(COOKIE, format!("__Host-session={}", held.session));
        tokio::spawn(async move {
            let mut statuses = std::collections::BTreeSet::new();
            while !*asking_stopped.borrow_and_update() {
                statuses.insert(request.try_clone().unwrap().send().await.unwrap().status());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        })
    };
    redis.stop().await;
    // A session the store confirmed less than SESSION_CACHE_TTL (1 s here) ago is taken on trust
    // that long (README, "Sessions on the hot path"): the stream starts once that has passed.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // A stream of requests, concurrent within each round, for longer than the policy cache
    // lives, so both the cached and the unreadable policy are exercised.
    let stopped = Instant::now();
    let (mut rounds, mut seen) = (0, std::collections::BTreeSet::new());
    while rounds < 3 || stopped.elapsed() < latchkey::policy::REFRESH + Duration::from_secs(1) {
        let tasks: Vec<_> = probes(&app, &held)
            .into_iter()
            .map(|p| tokio::spawn(async move { (p.name, p.expect, p.request.send().await.unwrap()) }))
            .collect();
        for task in tasks {
            let (name, expect, response) = task.await.unwrap();
            seen.extend(problems(name, expect, response).await);
        }
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK, "/healthz fell over with the store");
        rounds += 1;
    }
    assert!(seen.is_empty(), "with Redis stopped:\n{}", seen.into_iter().collect::<Vec<_>>().join("\n"));
    stop_asking.send(true).unwrap();
    let statuses = asking.await.unwrap();
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE), "{statuses:?}");
    assert!(statuses.iter().all(|s| [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(s)), "{statuses:?}");

    // No secret reached the logs through the failures.
    let logs = captured_logs();
    for (what, secret) in [
        ("session", &held.session),
        ("link token", &held.token),
        ("code", &held.code),
        ("access token", &held.access_token),
        ("authorization code", &held.oidc_code),
        ("admin token", &ADMIN_TOKEN.to_owned()),
    ] {
        assert!(!logs.contains(secret.as_str()), "the {what} reached the logs");
    }
    assert!(logs.contains("failing closed"), "the outage was not logged");

    // Redis comes back empty (it keeps nothing on disk): the accounts, factors and policy are
    // gone, so the instance refuses until an operator adopts the store; then the same process
    // serves again.
    redis.start_again().await;
    // Each worker's connection comes back on its own: one may still answer `unreachable` once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = ready.json().await.unwrap();
        if body["store"] != "unreachable" || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["store"], "empty");
    let policy = latchkey::Settings::for_store_commands(|_| None).unwrap().policy;
    let adopted_at = chrono::Utc::now();
    latchkey::store_tools::adopt(&store(&redis.url()).unwrap(), &identity.id, &policy, "test", adopted_at)
        .await
        .unwrap();
    // Sessions issued from here must be past the new "not before", whatever time the outage
    // stream took on this instance's manual clock.
    crate::store_identity::past_not_before(&app, adopted_at);
    wait_until_ready(&app).await;
    // The old session is gone with the data: signed out, never revived, never a 500.
    let old = app
        .client
        .get(format!("{}/api/v1/session", app.address))
        .header(COOKIE, format!("__Host-session={}", held.session));
    assert_eq!(old.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    app.clear_cookies();
    app.sign_in("steady@example.com").await;
    let session = app.get_session().await;
    assert_eq!(session.status(), StatusCode::OK);
    assert_eq!(session.json::<serde_json::Value>().await.unwrap()["email"], "steady@example.com");
}
