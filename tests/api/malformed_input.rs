//! A malformed-input corpus — oversized, truncated, invalid UTF-8, NUL, wrong types, duplicate
//! fields, huge headers, odd path segments — sent to every route of the route table
//! (`src/routes/table.rs`), each as the caller it expects (anonymous, a signed-in admin's session with a
//! second factor, the admin API token), on a production-like instance: no answer is a 5xx, no
//! request kills its connection, and the service still answers afterwards.

use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, captured_logs, jwt_key_file, spawn_app_with};

const TOKEN: &str = "admin-api-token-admin-api-token-0123456789";

/// How a route takes its input.
#[derive(Clone, Copy, PartialEq)]
enum Takes {
    /// A query string only.
    Query,
    /// A web form.
    Form,
    /// A JSON body.
    Json,
}

/// Who calls it.
#[derive(Clone, Copy, PartialEq)]
enum Caller {
    /// Nobody in particular: no cookies.
    Anyone,
    /// The signed-in admin's browser (session with a second factor, CSRF cookie, same-origin).
    Browser,
    /// `Authorization: Bearer <ADMIN_API_TOKEN>`.
    Token,
}

/// Every route in `src/routes/table.rs`'s table; `{}` marks a path segment the corpus fills in.
const ROUTES: &[(&str, &str, Takes, Caller)] = &[
    ("GET", "/metrics", Takes::Query, Caller::Token),
    ("GET", "/", Takes::Query, Caller::Anyone),
    ("GET", "/login", Takes::Query, Caller::Anyone),
    ("POST", "/login", Takes::Form, Caller::Anyone),
    ("GET", "/login/verify", Takes::Query, Caller::Anyone),
    ("POST", "/login/verify", Takes::Form, Caller::Anyone),
    ("POST", "/login/code", Takes::Form, Caller::Anyone),
    ("GET", "/login/2fa", Takes::Query, Caller::Anyone),
    ("POST", "/login/2fa", Takes::Form, Caller::Anyone),
    ("POST", "/login/2fa/enroll", Takes::Form, Caller::Anyone),
    ("POST", "/login/2fa/sms", Takes::Form, Caller::Anyone),
    ("GET", "/account", Takes::Query, Caller::Browser),
    ("POST", "/account/totp/enroll", Takes::Form, Caller::Browser),
    ("POST", "/account/totp/confirm", Takes::Form, Caller::Browser),
    ("POST", "/account/totp/disable", Takes::Form, Caller::Browser),
    ("POST", "/account/recovery-codes", Takes::Form, Caller::Browser),
    ("POST", "/account/phone", Takes::Form, Caller::Browser),
    ("POST", "/account/phone/confirm", Takes::Form, Caller::Browser),
    ("POST", "/account/sessions/end", Takes::Form, Caller::Browser),
    ("GET", "/account/not-me", Takes::Query, Caller::Anyone),
    ("POST", "/account/not-me", Takes::Form, Caller::Anyone),
    ("POST", "/logout", Takes::Form, Caller::Anyone),
    ("POST", "/logout/all", Takes::Form, Caller::Anyone),
    ("POST", "/api/v1/login", Takes::Json, Caller::Anyone),
    ("POST", "/api/v1/login/code", Takes::Json, Caller::Anyone),
    ("GET", "/api/v1/session", Takes::Query, Caller::Browser),
    ("GET", "/api/v1/openapi.json", Takes::Query, Caller::Anyone),
    ("GET", "/admin", Takes::Query, Caller::Browser),
    ("POST", "/admin/policy", Takes::Form, Caller::Browser),
    ("GET", "/admin/users", Takes::Query, Caller::Browser),
    ("POST", "/admin/users/{}", Takes::Form, Caller::Browser),
    ("GET", "/api/v1/admin/policy", Takes::Query, Caller::Token),
    ("PUT", "/api/v1/admin/policy", Takes::Json, Caller::Token),
    ("PUT", "/api/v1/admin/policy", Takes::Json, Caller::Browser),
    ("GET", "/api/v1/admin/users/{}", Takes::Query, Caller::Token),
    ("POST", "/api/v1/admin/users/{}/revoke-sessions", Takes::Json, Caller::Token),
    ("DELETE", "/api/v1/admin/users/{}/second-factor", Takes::Json, Caller::Token),
    ("POST", "/api/v1/admin/users/nobody@example.com/{}", Takes::Json, Caller::Token),
    ("GET", "/.well-known/jwks.json", Takes::Query, Caller::Anyone),
    ("GET", "/.well-known/openid-configuration", Takes::Query, Caller::Anyone),
    ("GET", "/oauth2/authorize", Takes::Query, Caller::Browser),
    ("POST", "/oauth2/token", Takes::Form, Caller::Anyone),
    ("GET", "/oauth2/userinfo", Takes::Query, Caller::Anyone),
    ("GET", "/oauth2/logout", Takes::Query, Caller::Browser),
    ("POST", "/oauth2/logout", Takes::Form, Caller::Browser),
    ("GET", "/auth/verify", Takes::Query, Caller::Browser),
    ("GET", "/healthz", Takes::Query, Caller::Anyone),
    ("GET", "/readyz", Takes::Query, Caller::Anyone),
    ("GET", "/api/v1/admin/audit", Takes::Query, Caller::Token),
    ("GET", "/api/v1/admin/outbox", Takes::Query, Caller::Token),
    ("POST", "/api/v1/admin/outbox/dead/{}/retry", Takes::Json, Caller::Token),
    ("GET", "/api/v1/admin/clients", Takes::Query, Caller::Token),
    ("POST", "/api/v1/admin/clients", Takes::Json, Caller::Token),
    ("PUT", "/api/v1/admin/clients/{}", Takes::Json, Caller::Token),
    ("DELETE", "/api/v1/admin/clients/{}", Takes::Json, Caller::Token),
    ("POST", "/api/v1/admin/clients/{}/rotate-secret", Takes::Json, Caller::Token),
    ("GET", "/static/style.css", Takes::Query, Caller::Anyone),
    ("GET", "/no/such/route", Takes::Query, Caller::Anyone),
];

/// Path segments for `{}`.
fn segments() -> Vec<String> {
    [
        "nobody@example.com",
        "%FF%FE",
        "a%00b",
        "%",
        "..%2F..%2Fetc%2Fpasswd",
        "1-0",
        "99999999999999999999999-0",
        "-1",
        "block",
        "%E2%80%AE",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("{}@example.com", "a".repeat(3000))])
    .collect()
}

/// Query strings for every route.
fn queries() -> Vec<String> {
    let names = [
        "email",
        "token",
        "return_to",
        "limit",
        "before",
        "user",
        "kind",
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "id_token_hint",
        "prompt",
    ];
    let mut out =
        vec!["%".to_owned(), "%%%=%%%".to_owned(), "a=%FF%FE%00".to_owned(), format!("token={}", "A".repeat(7000))];
    for name in names {
        out.push(format!("{name}=%FF%FE"));
        out.push(format!("{name}=a%00b"));
        out.push(format!("{name}=1&{name}=2"));
        out.push(format!("{name}=-1"));
        out.push(format!("{name}[]=x&{name}[a]=y"));
    }
    out.push("limit=99999999999999999999999999&before=zzz".to_owned());
    // A registered client, so authorize and logout get past the client lookup.
    let client = "client_id=corpus&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code";
    out.push(format!("{client}&scope=openid&state=%00&nonce=%FF&code_challenge=%FF&code_challenge_method=S256"));
    out.push(format!("{client}&scope=openid%00email&code_challenge_method=plain&prompt=none&max_age=-1"));
    out.push(format!("{client}&scope=openid&response_mode=%ZZ&code_challenge={}", "a".repeat(5000)));
    out.push("id_token_hint=e30.e30.e30&post_logout_redirect_uri=%FF&client_id=corpus".to_owned());
    out.push("client_id=x&redirect_uri=%ZZ&response_type=code&scope=openid".to_owned());
    out
}

/// Bodies for a web form (content type included).
fn form_bodies(csrf: &str) -> Vec<(&'static str, Vec<u8>)> {
    let form = "application/x-www-form-urlencoded";
    let mut out = vec![
        (form, format!("csrf={csrf}&email={}", "a".repeat(64 * 1024)).into_bytes()),
        (form, format!("csrf={csrf}&email=a%").into_bytes()),
        (form, format!("csrf={csrf}&email=").into_bytes()[..10].to_vec()),
        (form, [format!("csrf={csrf}&email=").as_bytes(), b"\xff\xfe\xc3"].concat()),
        (form, b"\xff\xfe=\xff\xfe".to_vec()),
        (form, format!("csrf={csrf}&email=a%00b%40example.com&code=%00&token=%00").into_bytes()),
        (form, format!("csrf={csrf}&csrf={csrf}&email=a@example.com&email=b@example.com").into_bytes()),
        (form, format!("csrf={csrf}&code=1&code=2&token=a&token=b&sid=1&sid=2").into_bytes()),
        (form, format!("csrf={csrf}&link_ttl_minutes=-5&session_ttl_hours=999999999999999999999").into_bytes()),
        (form, format!("csrf={csrf}&email[]=a&email[x]=b").into_bytes()),
        (form, format!("csrf={csrf}&grant_type=authorization_code&code=%FF&redirect_uri=%ZZ").into_bytes()),
        (form, b"grant_type=authorization_code&code=x&client_id=corpus&client_secret=%FF&code_verifier=%00".to_vec()),
        (form, b"".to_vec()),
        (form, b"&&&==&=".to_vec()),
        ("application/json", br#"{"email":"a@example.com"}"#.to_vec()),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--".to_vec()),
        ("text/plain", b"\x00\x00\x00".to_vec()),
    ];
    out.push((form, format!("csrf={csrf}&{}", "a=b&".repeat(4000)).into_bytes()));
    out
}

/// Bodies for a JSON route (content type included).
fn json_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let json = "application/json";
    let mut out: Vec<(&'static str, Vec<u8>)> = [
        r#"{"email":"a@example.com""#,
        r#"{"email": 5}"#,
        r#"{"email": null}"#,
        r#"{"email": {"x": 1}}"#,
        r#"[1, 2, 3]"#,
        r#""just a string""#,
        r#"null"#,
        r#"{"email":"a@example.com","email":"b@example.com"}"#,
        r#"{"email":"a\u0000b@example.com"}"#,
        r#"{"link_ttl_secs": -5, "session_ttl_secs": 1e400, "methods": "all", "rate_limits": {"login-email": "3/500ms"}}"#,
        r#"{"link_ttl_secs": 900, "link_ttl_secs": 60}"#,
        r#"{"client_id": 7, "redirect_uris": "x", "max_session_age_secs": -1, "webhook_url": ["x"]}"#,
        r#"{"redirect_uris": ["https://[64:ff9b::a00:1]/"], "webhook_url": "https://localhost./h"}"#,
        r#"{"version": 18446744073709551616}"#,
        r#"{}"#,
        "",
    ]
    .into_iter()
    .map(|body| (json, body.as_bytes().to_vec()))
    .collect();
    out.push((json, b"{\"email\":\"\xff\xfe\"}".to_vec()));
    out.push((json, [b"{\"email\":\"".as_slice(), "a".repeat(64 * 1024).as_bytes(), b"\"}"].concat()));
    out.push((json, format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()));
    out.push(("application/x-www-form-urlencoded", b"email=a@example.com".to_vec()));
    out.push(("application/json; charset=utf-16", b"\xff\xfe{\x00}\x00".to_vec()));
    out
}

/// Headers no route expects, each on an otherwise ordinary request.
fn header_sets() -> Vec<Vec<(&'static str, String)>> {
    vec![
        vec![("X-Huge", "x".repeat(30 * 1024))],
        vec![("Cookie", format!("__Host-session={}; __Host-csrf={}", "e".repeat(8000), "c".repeat(8000)))],
        vec![("Authorization", format!("Bearer {}", "t".repeat(16 * 1024)))],
        vec![("Authorization", "Bearer".to_owned())],
        vec![("Authorization", "Basic %%%%".to_owned())],
        vec![("Authorization", "Basic Y29ycHVzOg==".to_owned())],
        vec![("Authorization", "Basic //79/w==".to_owned())],
        vec![("Accept-Language", format!("{};q=0.5", "de-".repeat(3000)))],
        vec![("Accept-Language", "*;q=NaN, de;q=-1, en;q=1e999".to_owned())],
        vec![("X-Forwarded-For", "999.1.1.1, ::ffff:zz, ".repeat(200))],
        vec![("Origin", "null".to_owned()), ("Sec-Fetch-Site", "cross-site".to_owned())],
        vec![("Content-Type", "application/json; charset=\u{0}".replace('\u{0}', "x"))],
        vec![("Cookie", "__Host-session=; __Host-session=x; =; ;;".to_owned())],
    ]
}

/// The admin's browser: signed in with an authenticator app.
pub(crate) async fn admin_browser(app: &TestApp) {
    let token = app.request_token("boss@example.com").await;
    app.post_verify(&token).await;
    let html = app.get("/login/2fa").await.text().await.unwrap();
    let secret = crate::second_factor::shown_secret(&html);
    let csrf = app.csrf_token().await;
    let code = crate::second_factor::code(app, &secret, 0);
    let enrolled = app.post_form("/login/2fa/enroll", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(enrolled.status(), StatusCode::OK);
}

struct Corpus<'a> {
    app: &'a TestApp,
    cookies: String,
    sent: usize,
    failures: Vec<String>,
}

impl Corpus<'_> {
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        caller: Caller,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, String)],
        what: &str,
    ) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.app.client.request(method.clone(), format!("{}{path}", self.app.address));
        match caller {
            Caller::Anyone => {}
            Caller::Browser => {
                request = request.header("Cookie", &self.cookies).header("Sec-Fetch-Site", "same-origin");
            }
            Caller::Token => request = request.bearer_auth(TOKEN),
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("Content-Type", content_type).body(bytes);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.sent += 1;
        match request.send().await {
            Ok(response) if response.status().is_server_error() => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                self.failures.push(format!("{method} {path} [{what}] → {status}: {}", &text[..text.len().min(300)]));
            }
            Ok(response) => {
                let _ = response.bytes().await;
            }
            // A header block over the server's limit may be refused by closing; anything else
            // that ends the connection is a failure.
            Err(_) if what.starts_with("header") && headers.iter().any(|(_, v)| v.len() > 16 * 1024) => {}
            Err(e) => self.failures.push(format!("{method} {path} [{what}] → connection error: {e}")),
        }
    }
}

#[tokio::test]
async fn every_route_survives_the_malformed_input_corpus_without_a_5xx() {
    let (key, _) = jwt_key_file();
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("JWT_KEYS", &key),
        ("ADMIN_API_TOKEN", TOKEN),
        ("ADMIN_EMAILS", "boss@example.com"),
    ])
    .await;
    admin_browser(&app).await;
    let csrf = app.csrf_token().await;
    let cookies = ["__Host-session", "__Host-csrf"]
        .iter()
        .filter_map(|name| app.cookie(name).map(|value| format!("{name}={value}")))
        .collect::<Vec<_>>()
        .join("; ");
    let client = serde_json::json!({
        "client_id": "corpus", "type": "confidential", "redirect_uris": ["https://app.example.com/cb"],
        "post_logout_redirect_uris": ["https://app.example.com/bye"]
    });
    let registered = app.client.post(format!("{}/api/v1/admin/clients", app.address)).bearer_auth(TOKEN).json(&client);
    assert_eq!(registered.send().await.unwrap().status(), StatusCode::CREATED);
    // The browser caller really is the signed-in admin.
    for page in ["/account", "/admin"] {
        let request = app.client.get(format!("{}{page}", app.address)).header("Cookie", &cookies);
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK, "{page}");
    }
    let mut corpus = Corpus { app: &app, cookies, sent: 0, failures: Vec::new() };
    let (queries, forms, jsons, headers) = (queries(), form_bodies(&csrf), json_bodies(), header_sets());

    for (method, template, takes, caller) in ROUTES {
        let paths: Vec<String> = if template.contains("{}") {
            segments().iter().map(|s| template.replace("{}", s)).collect()
        } else {
            vec![(*template).to_owned()]
        };
        for path in &paths {
            corpus.send(method, path, *caller, None, &[], "plain").await;
        }
        let path = &paths[0];
        for query in &queries {
            corpus.send(method, &format!("{path}?{query}"), *caller, None, &[], "query").await;
        }
        let bodies = match takes {
            Takes::Query => Vec::new(),
            Takes::Form => forms.clone(),
            Takes::Json => jsons.clone(),
        };
        for (i, body) in bodies.into_iter().enumerate() {
            corpus.send(method, path, *caller, Some(body), &[], &format!("body {i}")).await;
        }
        for (i, set) in headers.iter().enumerate() {
            corpus.send(method, path, *caller, None, set, &format!("header set {i}")).await;
        }
    }

    assert!(
        corpus.failures.is_empty(),
        "{} of {} requests failed:\n{}",
        corpus.failures.len(),
        corpus.sent,
        corpus.failures.join("\n")
    );
    assert!(!captured_logs().contains("panicked"), "a handler panicked");
    // Still answering, and still signing people in.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
}

/// `bytes` as a gzip member of stored (uncompressed) deflate blocks: a valid gzip body
/// without a compressor.
fn gzip_stored(bytes: &[u8]) -> Vec<u8> {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    let len = u16::try_from(bytes.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // the last block, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_le_bytes());
    out
}

#[tokio::test]
async fn a_compressed_body_is_read_as_sent_and_refused_naming_the_body() {
    let app = spawn_app_with(&[]).await;
    let json = br#"{"email":"ann@example.com"}"#;
    let sent = app
        .client
        .post(format!("{}/api/v1/login", app.address))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gzip_stored(json))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = sent.json().await.unwrap();
    assert_eq!(body["error"], "invalid_body", "{body}");
    // The same JSON uncompressed is taken: only the encoding was refused.
    let plain = app
        .client
        .post(format!("{}/api/v1/login", app.address))
        .json(&serde_json::json!({ "email": "ann@example.com" }));
    assert_eq!(plain.send().await.unwrap().status(), StatusCode::ACCEPTED);
    app.outbox_settled().await;
    assert_eq!(app.mail.received().len(), 1, "one mail, for the uncompressed request");
}
