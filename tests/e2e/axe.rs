//! axe-core over every latchkey page the suite reaches: [`Browser::page`] and
//! [`Browser::element`] call [`check`] once a page shows what a test waits for. axe-core comes
//! from the npm registry, pinned by `tests/e2e/axe/package-lock.json` (scripts/test installs it
//! with `npm ci`), and is injected through WebDriver's execute script, which the page's
//! Content-Security-Policy does not govern. Each page state is checked once per test binary, in
//! light and in dark mode (`prefers-color-scheme` emulated through chromedriver's CDP bridge),
//! against WCAG 2.0, 2.1 and 2.2 A and AA and axe's best practices; any violation fails the test
//! with the rules and elements axe names.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use crate::browser::Browser;

/// The axe-core tags checked: WCAG 2.0–2.2 A and AA, and best practices.
pub const TAGS: [&str; 7] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"];

/// How to install axe-core when it is missing.
const INSTALL: &str = "npm ci --prefix tests/e2e/axe (scripts/test does this)";

/// Page states already checked in this test binary (`<step> <path>`).
static CHECKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// `axe.min.js`, read once.
fn source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/axe/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("the browser suite needs axe-core at {}: {e} — install it with {INSTALL}", path.display())
        })
    })
}

/// A colour scheme the page is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `prefers-color-scheme: light`.
    Light,
    /// `prefers-color-scheme: dark`.
    Dark,
}

/// One violated rule: its id, impact, help text and the elements that break it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// axe's rule id (`label`, `color-contrast` …).
    pub id: String,
    /// `minor` … `critical`.
    pub impact: String,
    /// What the rule asks.
    pub help: String,
    /// Each failing element's CSS path and what is wrong with it.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "- {} ({}): {}", self.id, self.impact, self.help)?;
        for node in &self.nodes {
            writeln!(f, "    {}", node.replace('\n', "\n    "))?;
        }
        Ok(())
    }
}

/// chromedriver's bridge to the DevTools protocol: `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

/// Emulates the CSS media features `features` (`[("prefers-color-scheme", "dark")]`) in the
/// browser's page until changed; an empty value stops emulating that feature.
pub async fn emulate(client: &Client, features: &[(&str, &str)]) {
    let features: Vec<Value> = features.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect();
    client
        .issue_cmd(Cdp { cmd: "Emulation.setEmulatedMedia", params: json!({ "features": features }) })
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not emulate {features:?}: {e}"));
}

/// Shows the page in `scheme`, checking that the page sees it.
pub async fn show_in(client: &Client, scheme: Scheme) {
    let value = if scheme == Scheme::Dark { "dark" } else { "light" };
    emulate(client, &[("prefers-color-scheme", value)]).await;
    let seen = client
        .execute(&format!("return matchMedia('(prefers-color-scheme: {value})').matches;"), vec![])
        .await
        .expect("ask the page for its colour scheme");
    assert_eq!(seen, Value::Bool(true), "the page does not see prefers-color-scheme: {value}");
}

/// What axe-core finds on the current page as it is shown now.
pub async fn violations(client: &Client) -> Vec<Violation> {
    let loaded = client.execute("return typeof window.axe === 'object';", vec![]).await.expect("look for axe");
    if loaded != Value::Bool(true) {
        let script = format!("{}\nreturn typeof window.axe;", source());
        let kind = client.execute(&script, vec![]).await.expect("inject axe-core");
        assert_eq!(kind, "object", "axe-core did not load into the page");
    }
    let run = "return axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })\
               .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact || '', help: v.help,\
               nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '')) })));";
    let found = client.execute(run, vec![json!(TAGS)]).await.unwrap_or_else(|e| panic!("axe-core did not run: {e}"));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    found
        .as_array()
        .expect("axe returns a list")
        .iter()
        .map(|v| Violation {
            id: text(&v["id"]),
            impact: text(&v["impact"]),
            help: text(&v["help"]),
            nodes: v["nodes"].as_array().map(|n| n.iter().map(text).collect()).unwrap_or_default(),
        })
        .collect()
}

/// Whether the page is one of latchkey's (it links latchkey's stylesheet), not a test's web app.
async fn is_latchkey_page(client: &Client) -> bool {
    let script = "return document.querySelector('link[rel=stylesheet][href=\"/static/style.css\"]') !== null;";
    client.execute(script, vec![]).await.is_ok_and(|v| v == Value::Bool(true))
}

/// Runs axe-core on the current page in light and in dark mode, the first time the suite
/// reaches this page state (`step` at this path), and fails with every violation found. Pages of the tests' own web apps are left alone.
pub async fn check(browser: &Browser, step: &str) {
    let client = &browser.client;
    if !is_latchkey_page(client).await {
        return;
    }
    let path = client.current_url().await.map(|u| u.path().to_owned()).unwrap_or_default();
    let state = format!("{step} {path}");
    if !CHECKED.lock().expect("axe bookkeeping").get_or_insert_with(HashSet::new).insert(state) {
        return;
    }
    let mut report = String::new();
    for scheme in [Scheme::Light, Scheme::Dark] {
        show_in(client, scheme).await;
        let found = violations(client).await;
        if !found.is_empty() {
            report.push_str(&format!("in {scheme:?} mode:\n"));
            found.iter().for_each(|v| report.push_str(&v.to_string()));
        }
    }
    // Back to the browser's own scheme, as the screenshots were taken.
    emulate(client, &[("prefers-color-scheme", "")]).await;
    if !report.is_empty() {
        browser.screenshot(&format!("{step}-AXE-FAILED")).await;
        panic!("step `{step}` at {path}: axe-core ({}) found violations {report}", TAGS.join(", "));
    }
}
