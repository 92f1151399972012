//! One headless Chromium profile driven over WebDriver: its own chromedriver on a free port,
//! its own `--user-data-dir`, a screenshot of every page it is asked to wait for.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::free_port;
use crate::tools::{Guarded, TempDir, Tool, running_as_root, wait_for_port};

/// Browsers open at once across the test binary (the machines have two cores). Each profile
/// takes one permit as it opens, so while only one test opens two profiles, no test can wait
/// forever for its second; a second such test would need `acquire_many` instead.
static BROWSERS: Semaphore = Semaphore::const_new(3);

/// How long any one page may take to show what a test waits for.
const PAGE_WAIT: Duration = Duration::from_secs(20);

/// Where screenshots go: `target/e2e-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("e2e-screenshots")
}

/// A browser profile (a WebDriver session) for one test.
pub struct Browser {
    /// The WebDriver client, for anything the helpers below do not cover.
    pub client: Client,
    test: String,
    profile: String,
    shots: AtomicUsize,
    // Field order is drop order: the session's client, then chromedriver and the browser,
    // then the profile directory, then the permit.
    _driver: Guarded,
    _dir: TempDir,
    _permit: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium profile named `profile` for `test`.
    pub async fn open(test: &str, profile: &str, tools: &[PathBuf]) -> Self {
        let (chromium, chromedriver) = (&tools[0], &tools[1]);
        let permit = BROWSERS.acquire().await.expect("semaphore closed");
        let dir = TempDir::new(&format!("{test}-{profile}"));
        let port = free_port();
        let log = dir.0.join("chromedriver.log");
        let mut driver = Guarded::spawn(chromedriver, &[format!("--port={port}")], &log);
        wait_for_port(port, "chromedriver", &mut driver, &log).await;

        let mut args = vec![
            "--headless=new".to_owned(),
            format!("--user-data-dir={}", dir.0.join("profile").display()),
            "--window-size=1024,900".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-crash-reporter".to_owned(),
        ];
        if running_as_root() {
            args.push("--no-sandbox".to_owned());
        }
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!() };
        let connect = async {
            ClientBuilder::rustls()
                .expect("TLS roots for the WebDriver client")
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
        };
        let client = tokio::time::timeout(Duration::from_secs(60), connect)
            .await
            .unwrap_or_else(|_| panic!("Chromium did not start within 60 s:\n{}", read(&log)))
            .unwrap_or_else(|e| panic!("chromedriver refused a session: {e}\n{}", read(&log)));
        let timeouts = fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(10)),
            Some(PAGE_WAIT),
            Some(Duration::from_secs(0)),
        );
        client.update_timeouts(timeouts).await.expect("set WebDriver timeouts");
        Self {
            client,
            test: test.to_owned(),
            profile: profile.to_owned(),
            shots: AtomicUsize::new(0),
            _driver: driver,
            _dir: dir,
            _permit: permit,
        }
    }

    /// Navigates to `url` (as if typed or clicked in a mail).
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("[{}] cannot open {url}: {e}", self.profile));
    }

    /// The address the browser shows.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// Waits (bounded) until the page's `<h1>` contains `heading`, saves a screenshot named
    /// `step`, checks the page with axe-core ([`crate::axe::check`]), and returns its HTML.
    pub async fn page(&self, heading: &str, step: &str) -> String {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            if let Ok(h1) = self.client.find(Locator::Css("h1")).await
                && let Ok(text) = h1.text().await
                && text.contains(heading)
            {
                self.screenshot(step).await;
                crate::axe::check(self, step).await;
                return self.client.source().await.expect("page source");
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("{step}-FAILED")).await;
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let body = match self.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(e) => format!("<no body: {e}>"),
                };
                panic!(
                    "[{}] step `{step}`: no <h1> with {heading:?} at {url} within {PAGE_WAIT:?}; the page says:\n{body}",
                    self.profile
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (bounded) until an element matching `css` is on the page, saves a screenshot
    /// named `step`, checks it with axe-core, and returns the page's HTML (for a page whose
    /// heading does not change).
    ///
    /// Any error short of the deadline counts as "not there yet": a query sent while a form
    /// submission navigates is answered "aborted by navigation", which fantoccini's own wait
    /// gives up on.
    pub async fn element(&self, css: &str, step: &str) -> String {
        let deadline = Instant::now() + PAGE_WAIT;
        while let Err(e) = self.client.find(Locator::Css(css)).await {
            if Instant::now() > deadline {
                self.screenshot(&format!("{step}-FAILED")).await;
                panic!("[{}] step `{step}`: no {css} within {PAGE_WAIT:?}: {e}", self.profile);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.screenshot(step).await;
        crate::axe::check(self, step).await;
        self.client.source().await.expect("page source")
    }

    /// Saves a screenshot of the viewport as `<test>-<nn>-<profile>-<step>.png`.
    pub async fn screenshot(&self, step: &str) {
        let n = self.shots.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = screenshot_dir();
        let _ = std::fs::create_dir_all(&dir);
        match self.client.screenshot().await {
            Ok(png) => {
                let path = dir.join(format!("{}-{n:02}-{}-{step}.png", self.test, self.profile));
                std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot save {}: {e}", path.display()));
            }
            Err(e) => eprintln!("[{}] screenshot `{step}` failed: {e}", self.profile),
        }
    }

    /// Types `text` into the field matched by `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no field {css}: {e}"));
        field.clear().await.expect("clear field");
        field.send_keys(text).await.expect("type into field");
    }

    /// Clicks the element matched by `css`, as a person would.
    pub async fn click(&self, css: &str) {
        let element =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("nothing to click at {css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// The submit button of the form posting to `action`, clicked.
    pub async fn submit(&self, action: &str) {
        self.click(&format!("form[action='{action}'] button[type=submit]")).await;
    }

    /// A cookie from the browser's own jar (WebDriver sees HttpOnly cookies too), if set for
    /// the current page's host.
    pub async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.client.get_all_cookies().await.expect("read cookies").into_iter().find(|c| c.name() == name)
    }

    /// Ends the WebDriver session (the browser quits); chromedriver goes on drop.
    pub async fn close(self) {
        let Self { client, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The tools a browser test needs, or `None` (after a loud notice) when skipping on purpose.
pub fn browser_tools(test: &str) -> Option<Vec<PathBuf>> {
    crate::tools::require(test, &[Tool::Chromium, Tool::Chromedriver])
}
