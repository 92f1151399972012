//! `BIND_SOCKET`: the service on a Unix socket for a proxy on the same host. Who a request
//! through it comes from (127.0.0.1, so `TRUSTED_PROXIES` decides whether `X-Forwarded-For`
//! is believed), the socket file's mode, its lock, and what is found at its path before and
//! after.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latchkey::{Application, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::helpers::redis::free_port;
use crate::helpers::{TestApp, spawn_app_with};

/// A directory of the test's own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("latchkey-uds-{}", latchkey::crypto::random_token::<6>().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("latchkey.sock")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One HTTP/1.1 request through the socket; the status and the body.
async fn through(socket: &Path, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).await.expect("the socket takes connections");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("an HTTP status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `POST /api/v1/login` for `email` through the socket, as the client `forwarded` names.
async fn login(socket: PathBuf, email: String, forwarded: &'static str) -> u16 {
    let body = serde_json::json!({ "email": email }).to_string();
    let headers = [("Content-Type", "application/json"), ("X-Forwarded-For", forwarded)];
    through(&socket, "POST", "/api/v1/login", &headers, &body).await.0
}

/// Every request at once; their statuses, in order.
async fn burst(socket: &Path, requests: &[(&str, &'static str)]) -> Vec<u16> {
    let tasks: Vec<_> = requests
        .iter()
        .map(|(email, forwarded)| tokio::spawn(login(socket.to_owned(), (*email).to_owned(), forwarded)))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

async fn app_on(socket: &Path, trusted: &str) -> TestApp {
    spawn_app_with(&[
        ("BIND_SOCKET", socket.to_str().unwrap()),
        ("TRUSTED_PROXIES", trusted),
        ("RATE_LIMIT_LOGIN_IP", "2/15m"),
    ])
    .await
}

#[tokio::test]
async fn through_the_socket_a_trusted_loopback_proxy_names_each_client_and_each_keeps_its_own_budget() {
    let dir = Dir::new();
    let app = app_on(&dir.socket(), "127.0.0.1").await;
    let first = [
        ("s1@example.com", "198.51.100.7"),
        ("s2@example.com", "198.51.100.7"),
        ("s3@example.com", "198.51.100.7"),
        ("s4@example.com", "198.51.100.7"),
    ];
    let mut statuses = burst(&dir.socket(), &first).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 202, 429, 429], "one client's budget is 2");
    let other = [("t1@example.com", "198.51.100.8"), ("t2@example.com", "198.51.100.8")];
    assert_eq!(burst(&dir.socket(), &other).await, [202, 202], "another client has its own budget");
    let texts: Vec<String> = app.mail.wait_for(4).await.iter().map(|m| m.text()).collect();
    assert_eq!(texts.iter().filter(|t| t.contains("198.51.100.8")).count(), 2, "the mails name the client");
    assert!(texts.iter().all(|t| !t.contains("127.0.0.1")), "a mail names the proxy");
}

#[tokio::test]
async fn through_the_socket_without_a_trusted_proxy_every_caller_is_one_client() {
    let dir = Dir::new();
    let app = app_on(&dir.socket(), "").await;
    // What the callers claim is not believed: they share 127.0.0.1's budget.
    let claims =
        [("u1@example.com", "198.51.100.21"), ("u2@example.com", "198.51.100.22"), ("u3@example.com", "198.51.100.23")];
    let mut statuses = burst(&dir.socket(), &claims).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 202, 429]);
    let texts: Vec<String> = app.mail.wait_for(2).await.iter().map(|m| m.text()).collect();
    assert!(texts.iter().all(|t| t.contains("127.0.0.1") && !t.contains("198.51.100.")), "{texts:?}");
    // BIND_ADDR still serves, beside the socket.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn the_socket_opens_to_owner_and_group_and_replaces_a_stale_one() {
    let dir = Dir::new();
    // Left by an instance that ended without removing it: nothing listens.
    drop(std::os::unix::net::UnixListener::bind(dir.socket()).unwrap());
    assert!(std::fs::symlink_metadata(dir.socket()).unwrap().file_type().is_socket());
    let _app = app_on(&dir.socket(), "").await;
    let mode = std::fs::metadata(dir.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "{mode:o}");
    let (status, body) = through(&dir.socket(), "GET", "/healthz", &[], "").await;
    assert_eq!((status, body.contains("ok")), (200, true), "{body}");
    // A second instance on the same path does not take it from the first: the first holds
    // the path's lock.
    let Err(error) = build_on(&dir.socket()).await else { panic!("a second instance took a live socket") };
    assert!(format!("{error:#}").contains("BIND_SOCKET"), "{error:#}");
    assert!(format!("{error:#}").contains("lock"), "{error:#}");
    assert_eq!(through(&dir.socket(), "GET", "/healthz", &[], "").await.0, 200, "the first instance lost its socket");
    // BIND_SOCKET_MODE sets another mode.
    let other = Dir::new();
    let _private =
        spawn_app_with(&[("BIND_SOCKET", other.socket().to_str().unwrap()), ("BIND_SOCKET_MODE", "600")]).await;
    assert_eq!(std::fs::metadata(other.socket()).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn a_file_or_a_link_that_is_not_a_socket_is_left_alone_and_the_start_refused() {
    let dir = Dir::new();
    std::fs::write(dir.socket(), "someone's data").unwrap();
    let Err(error) = build_on(&dir.socket()).await else { panic!("the instance started over a file") };
    let error = format!("{error:#}");
    assert!(error.contains("BIND_SOCKET") && error.contains("not a socket"), "{error}");
    assert_eq!(std::fs::read_to_string(dir.socket()).unwrap(), "someone's data");
    // A symbolic link to a stale socket is not taken for the socket.
    let elsewhere = dir.0.join("elsewhere.sock");
    drop(std::os::unix::net::UnixListener::bind(&elsewhere).unwrap());
    let link = dir.0.join("link.sock");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let Err(error) = build_on(&link).await else { panic!("the instance started over a symbolic link") };
    assert!(format!("{error:#}").contains("not a socket"), "{error:#}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::symlink_metadata(&elsewhere).unwrap().file_type().is_socket(), "its target was removed");
}

#[tokio::test]
async fn a_relative_or_too_long_socket_path_or_a_mode_not_in_octal_is_refused_naming_its_variable() {
    let long = format!("/{}", "a".repeat(120));
    let cases = [
        ("BIND_SOCKET", "run/latchkey.sock"),
        ("BIND_SOCKET", long.as_str()),
        ("BIND_SOCKET_MODE", "rw-rw----"),
        ("BIND_SOCKET_MODE", "1777"),
        ("BIND_SOCKET_MODE", "+66"),
        ("BIND_SOCKET_MODE", "680"),
    ];
    for (var, value) in cases {
        let Err(problem) = Settings::from_lookup(|k| (k == var).then(|| value.to_owned())) else {
            panic!("{var}={value} was accepted")
        };
        assert!(problem.to_string().contains(&format!("{var}:")), "{var}={value}: {problem}");
    }
}

#[tokio::test]
async fn a_stopped_instance_removes_its_socket() {
    let dir = Dir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .env_clear()
        .env("BIND_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("BIND_SOCKET", dir.socket())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while through_ok(&dir.socket()).await.is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the instance exited");
        assert!(Instant::now() < deadline, "the socket never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the instance did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(!dir.socket().exists(), "the socket file outlived the instance");
}

/// `GET /healthz` through the socket, if something answers there.
async fn through_ok(socket: &Path) -> Option<u16> {
    UnixStream::connect(socket).await.ok()?;
    Some(through(socket, "GET", "/healthz", &[], "").await.0)
}

/// Builds an instance (memory store) listening on `socket`.
async fn build_on(socket: &Path) -> anyhow::Result<Application> {
    let socket = socket.to_str().unwrap().to_owned();
    let settings = Settings::from_lookup(|k| match k {
        "BIND_ADDR" => Some("127.0.0.1:0".to_owned()),
        "BIND_SOCKET" => Some(socket.clone()),
        _ => None,
    })?;
    Application::build(settings).await
}
