//! A third relying party: openid-client (Node, from the npm registry), the strict client many
//! Node apps use, run as an ordinary app would (tests/rp/openid-client/rp.mjs): discovery, an
//! authorization URL with PKCE, state, nonce and `openid profile email`, the code grant with the
//! id_token's signature checked against the JWKS, userinfo, and RP-initiated logout.
//!
//! It needs `node` and the project's locked packages (`npm ci --prefix tests/rp/openid-client`,
//! which `scripts/test` runs). Without them a test fails saying so, unless
//! `LATCHKEY_OPENID_CLIENT=skip` is set, where it passes after a loud notice.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use url::Url;

use crate::helpers::TestApp;
use crate::oidc::{WIKI_CB, WIKI_SECRET, browse_authorize, location, path_of, spawn_provider};
use crate::oidc_rs256::provider_with_both_keys;

/// Where the Node project lives, from the crate root.
const PROJECT: &str = "tests/rp/openid-client";
/// How to install what these tests need (Debian; `scripts/test` does it).
const INSTALL: &str = "install Node.js 20 or newer with npm (`apt-get install -y nodejs npm` on Debian 13) and \
                       the locked packages with `npm ci --prefix tests/rp/openid-client` (scripts/test does both)";
const NOTES_CB: &str = "https://notes.example.com/cb";

/// A public client `notes` that asks for RS256 id_tokens.
fn notes_client() -> String {
    format!(
        "\n[[client]]\nclient_id = \"notes\"\nredirect_uris = [\"{NOTES_CB}\"]\ntype = \"public\"\nid_token_signed_response_alg = \"RS256\"\n"
    )
}

/// `node` and the script, when Node.js 20 or newer and the locked packages are installed. When
/// not, the test fails with how to install them — unless `LATCHKEY_OPENID_CLIENT=skip`, where
/// this returns `None` after a loud notice and the test returns early.
fn require_node(test: &str) -> Option<(PathBuf, PathBuf)> {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join(PROJECT);
    let problem = match which("node") {
        None => "`node` is not on PATH".to_owned(),
        Some(node) => match node_major(&node) {
            None => format!("`{} --version` does not say a version", node.display()),
            Some(major) if major < 20 => format!("node is version {major}; openid-client needs 20 or newer"),
            Some(_) => match lock_mismatch(&project) {
                None => return Some((node, project.join("rp.mjs"))),
                Some(mismatch) => mismatch,
            },
        },
    };
    if std::env::var("LATCHKEY_OPENID_CLIENT").as_deref() == Ok("skip") {
        let line = "!".repeat(78);
        let notice = format!(
            "\n{line}\n!! SKIPPED openid-client test `{test}`: {problem}.\n!! LATCHKEY_OPENID_CLIENT=skip is set, so \
             this counts as a pass although NOTHING WAS TESTED.\n!! To run it, {INSTALL}.\n{line}\n"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests.
        use std::io::Write;
        let _ = std::io::stderr().write_all(notice.as_bytes());
        return None;
    }
    panic!(
        "openid-client test `{test}` cannot run: {problem} — {INSTALL}, or set LATCHKEY_OPENID_CLIENT=skip to skip \
         these tests on purpose"
    );
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The major version `node --version` reports (`v20.20.2` → 20).
fn node_major(node: &Path) -> Option<u32> {
    let out = std::process::Command::new(node).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// What in node_modules differs from package-lock.json (a package missing or at another
/// version), if anything.
fn lock_mismatch(project: &Path) -> Option<String> {
    let read = |path: PathBuf| -> Value {
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
    };
    let lock = read(project.join("package-lock.json"));
    let packages = lock["packages"].as_object().expect("package-lock.json lists no packages");
    packages.iter().filter_map(|(path, entry)| Some((path.strip_prefix("node_modules/")?, entry))).find_map(
        |(name, entry)| {
            let installed = read(project.join("node_modules").join(name).join("package.json"));
            let (locked, installed) = (&entry["version"], &installed["version"]);
            (installed != locked).then(|| match installed {
                Value::Null => format!("{PROJECT}/node_modules has no {name} (the lock file pins {locked})"),
                _ => format!("{PROJECT}/node_modules has {name} {installed}, the lock file pins {locked}"),
            })
        },
    )
}

/// The relying party script, running; killed when dropped.
struct NodeRp {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl NodeRp {
    /// Starts `node rp.mjs args…`.
    fn start(node: &Path, script: &Path, args: &[(&str, &str)]) -> Self {
        let mut command = Command::new(node);
        command.arg(script);
        for (name, value) in args {
            command.arg(format!("--{name}")).arg(value);
        }
        let mut child = command
            .current_dir(script.parent().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", node.display()));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdin, stdout }
    }

    /// The next JSON line the script prints (within 30 s).
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line()).await;
        match line {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
            Ok(Ok(None)) => panic!("rp.mjs ended without a line; stderr:\n{}", self.stderr().await),
            Ok(Err(e)) => panic!("cannot read rp.mjs's output: {e}"),
            Err(_) => panic!("rp.mjs printed nothing within 30 s; stderr:\n{}", self.stderr().await),
        }
    }

    /// The next line, which must not be an error.
    async fn next_ok(&mut self) -> Value {
        let value = self.next().await;
        assert!(value.get("error").is_none(), "openid-client refused: {value}\nstderr:\n{}", self.stderr().await);
        value
    }

    /// Sends the callback URL the browser was redirected to.
    async fn callback(&mut self, url: &Url) {
        self.stdin.write_all(format!("{url}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// What the script wrote on stderr, after ending it.
    async fn stderr(&mut self) -> String {
        let _ = self.child.start_kill();
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut text)).await;
        }
        text
    }
}

/// Runs the script for one sign-in of `email` through `app`: returns the authorization URL it
/// built and its final output.
async fn sign_in_with_openid_client(
    app: &TestApp,
    node: &(PathBuf, PathBuf),
    args: &[(&str, &str)],
    email: &str,
) -> (Url, Value) {
    let mut rp = NodeRp::start(&node.0, &node.1, args);
    let first = rp.next_ok().await;
    let authorize = Url::parse(first["authorization_url"].as_str().expect("no authorization_url")).unwrap();
    let callback = browse_authorize(app, authorize.as_str(), email).await;
    rp.callback(&callback).await;
    (authorize, rp.next().await)
}

/// A query parameter of `url`.
fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn openid_client_signs_a_person_in_to_a_confidential_eddsa_app_and_logs_out() {
    let Some(node) = require_node("openid_client_signs_a_person_in_to_a_confidential_eddsa_app_and_logs_out") else {
        return;
    };
    let (app, issuer) = spawn_provider().await;
    let args = [
        ("issuer", issuer.as_str()),
        ("client-id", "wiki"),
        ("client-secret", WIKI_SECRET),
        ("redirect-uri", WIKI_CB),
        ("alg", "EdDSA"),
        ("post-logout-redirect-uri", "https://wiki.example.com/bye"),
    ];
    let (authorize, out) = sign_in_with_openid_client(&app, &node, &args, "node-wiki@example.com").await;
    assert!(out.get("error").is_none(), "openid-client refused: {out}");

    // What an ordinary app asks for.
    assert!(authorize.as_str().starts_with(&format!("{issuer}/oauth2/authorize?")), "{authorize}");
    assert_eq!(query(&authorize, "scope").as_deref(), Some("openid profile email"));
    assert_eq!(query(&authorize, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query(&authorize, "state").is_some() && query(&authorize, "nonce").is_some(), "{authorize}");

    // openid-client accepted the id_token (signature, alg, iss, aud, nonce) and userinfo.
    let session: Value = app.get_session().await.json().await.unwrap();
    let claims = &out["id_token_claims"];
    assert_eq!(out["id_token_header"]["alg"], "EdDSA", "{out}");
    assert_eq!((&claims["iss"], &claims["aud"]), (&Value::from(issuer.as_str()), &Value::from("wiki")));
    assert_eq!(claims["sub"], session["sub"], "the id_token names someone else");
    assert_eq!(claims["email"], "node-wiki@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(out["scope"], "openid email", "profile is not offered, so not granted");
    assert_eq!(out["userinfo"]["sub"], claims["sub"]);
    assert_eq!(out["userinfo"]["email"], "node-wiki@example.com");

    // The logout URL openid-client builds ends the session and returns to the app.
    let logout = out["end_session_url"].as_str().expect("no end_session_url");
    assert!(logout.starts_with(&format!("{issuer}/oauth2/logout?")), "{logout}");
    let response = app.get(&path_of(logout)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{logout}");
    assert_eq!(location(&response), "https://wiki.example.com/bye?state=bye");
    assert_eq!(app.get_session().await.status(), StatusCode::UNAUTHORIZED, "still signed in");
}

#[tokio::test]
async fn openid_client_signs_a_person_in_to_a_public_app_registered_for_rs256() {
    let Some(node) = require_node("openid_client_signs_a_person_in_to_a_public_app_registered_for_rs256") else {
        return;
    };
    let (app, issuer, _, rsa_kid) = provider_with_both_keys(&notes_client()).await;
    let args = [("issuer", issuer.as_str()), ("client-id", "notes"), ("redirect-uri", NOTES_CB), ("alg", "RS256")];
    let (_, out) = sign_in_with_openid_client(&app, &node, &args, "node-notes@example.com").await;
    assert!(out.get("error").is_none(), "openid-client refused: {out}");
    assert_eq!(out["id_token_header"]["alg"], "RS256", "{out}");
    assert_eq!(out["id_token_header"]["kid"], rsa_kid.as_str(), "not signed by the RSA key of JWT_KEYS");
    let claims = &out["id_token_claims"];
    assert_eq!((&claims["iss"], &claims["aud"]), (&Value::from(issuer.as_str()), &Value::from("notes")));
    assert_eq!(claims["email"], "node-notes@example.com");
    assert_eq!(out["userinfo"]["sub"], claims["sub"]);
    assert_eq!(out["userinfo"]["email"], "node-notes@example.com");
}

#[tokio::test]
async fn openid_client_refuses_an_id_token_signed_with_another_algorithm_than_the_app_expects() {
    let Some(node) =
        require_node("openid_client_refuses_an_id_token_signed_with_another_algorithm_than_the_app_expects")
    else {
        return;
    };
    // `wiki` gets EdDSA id_tokens; an app configured for RS256 must refuse them, as it would
    // refuse EdDSA from a provider that cannot sign RS256.
    let (app, issuer, _, _) = provider_with_both_keys("").await;
    let args = [
        ("issuer", issuer.as_str()),
        ("client-id", "wiki"),
        ("client-secret", WIKI_SECRET),
        ("redirect-uri", WIKI_CB),
        ("alg", "RS256"),
    ];
    let (_, out) = sign_in_with_openid_client(&app, &node, &args, "node-mismatch@example.com").await;
    let refusal = &out["error"]["cause"];
    assert_eq!(refusal["message"], "unexpected JWT \"alg\" header parameter", "accepted: {out}");
    assert_eq!(refusal["cause"]["header"]["alg"], "EdDSA", "{out}");
    assert_eq!(refusal["cause"]["expected"], "RS256", "{out}");
}

#[tokio::test]
async fn openid_client_asking_for_max_age_zero_sends_a_signed_in_person_through_the_sign_in_again() {
    let Some(node) =
        require_node("openid_client_asking_for_max_age_zero_sends_a_signed_in_person_through_the_sign_in_again")
    else {
        return;
    };
    let (app, issuer) = spawn_provider().await;
    app.sign_in("node-again@example.com").await;
    let mails = app.mail.received().len();
    let args = [
        ("issuer", issuer.as_str()),
        ("client-id", "wiki"),
        ("client-secret", WIKI_SECRET),
        ("redirect-uri", WIKI_CB),
        ("alg", "EdDSA"),
        ("max-age", "0"),
    ];
    let (authorize, out) = sign_in_with_openid_client(&app, &node, &args, "node-again@example.com").await;
    assert_eq!(query(&authorize, "max_age").as_deref(), Some("0"));
    // openid-client checked auth_time against max_age; the person got a new link to sign in.
    assert!(out.get("error").is_none(), "openid-client refused: {out}");
    assert_eq!(app.mail.received().len(), mails + 1, "the live session was used without a new sign-in");
    assert!(out["id_token_claims"]["auth_time"].is_u64(), "{out}");
    assert_eq!(out["id_token_claims"]["email"], "node-again@example.com");
}
