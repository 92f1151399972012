//! The programs the suite drives (Chromium, chromedriver, nginx): finding them, failing
//! loudly when they are missing, and running them so that none outlives the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A program the suite needs.
#[derive(Debug, Clone, Copy)]
pub enum Tool {
    /// The browser (`LATCHKEY_E2E_CHROMIUM`, default `/usr/bin/chromium`).
    Chromium,
    /// Its WebDriver server (`LATCHKEY_E2E_CHROMEDRIVER`, default `chromedriver` on `PATH`).
    Chromedriver,
    /// The proxy (`LATCHKEY_E2E_NGINX`, default `nginx` on `PATH` or `/usr/sbin/nginx`).
    Nginx,
}

impl Tool {
    fn env(self) -> &'static str {
        match self {
            Tool::Chromium => "LATCHKEY_E2E_CHROMIUM",
            Tool::Chromedriver => "LATCHKEY_E2E_CHROMEDRIVER",
            Tool::Nginx => "LATCHKEY_E2E_NGINX",
        }
    }

    fn candidates(self) -> &'static [&'static str] {
        match self {
            Tool::Chromium => &["chromium", "/usr/bin/chromium", "chromium-browser"],
            Tool::Chromedriver => &["chromedriver", "/usr/bin/chromedriver"],
            Tool::Nginx => &["nginx", "/usr/sbin/nginx"],
        }
    }

    /// Where the program is, if it is installed.
    pub fn find(self) -> Option<PathBuf> {
        if let Ok(path) = std::env::var(self.env())
            && !path.is_empty()
        {
            return Path::new(&path).is_file().then(|| PathBuf::from(path));
        }
        self.candidates().iter().find_map(|name| which(name))
    }
}

fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The paths of `needed`, in order. When one is missing the test fails with how to install
/// it — unless `LATCHKEY_E2E=skip`, where it returns `None` after a loud notice and the test
/// returns early.
pub fn require(test: &str, needed: &[Tool]) -> Option<Vec<PathBuf>> {
    let found: Vec<_> = needed.iter().map(|t| (*t, t.find())).collect();
    let missing: Vec<String> =
        found.iter().filter(|(_, p)| p.is_none()).map(|(t, _)| format!("{t:?} (or set {})", t.env())).collect();
    if missing.is_empty() {
        return Some(found.into_iter().filter_map(|(_, p)| p).collect());
    }
    let how = "install them with `apt-get install -y chromium chromium-driver nginx` (Debian; scripts/test does this)";
    if std::env::var("LATCHKEY_E2E").as_deref() == Ok("skip") {
        let line = "!".repeat(78);
        let notice = format!(
            "\n{line}\n!! SKIPPED end-to-end test `{test}`: missing {}.\n!! LATCHKEY_E2E=skip is set, so this \
             counts as a pass although NOTHING WAS TESTED.\n!! To run it, {how}.\n{line}\n",
            missing.join(", ")
        );
        // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests.
        use std::io::Write;
        let _ = std::io::stderr().write_all(notice.as_bytes());
        return None;
    }
    panic!(
        "end-to-end test `{test}` needs {} — {how}, or set LATCHKEY_E2E=skip to skip the browser tests on purpose",
        missing.join(", ")
    );
}

/// A program running in a process group of its own, with a watchdog that ends the group when
/// the test process goes away; dropping it ends the group (the program and every child it
/// started, such as the browsers chromedriver launches).
pub struct Guarded {
    child: Child,
}

impl Guarded {
    /// Starts `program args…`, its output going to `log`.
    pub fn spawn(program: &Path, args: &[String], log: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let quoted: Vec<String> =
            std::iter::once(program.to_string_lossy().into_owned()).chain(args.iter().cloned()).map(quote).collect();
        let test_pid = std::process::id();
        // `kill 0` signals the whole group: the program, its children and this shell.
        let script = format!(
            "{} & p=$!; while kill -0 {test_pid} 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 1; done; kill 0",
            quoted.join(" ")
        );
        let log_file = std::fs::File::create(log).expect("cannot create a log file");
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Self { child }
    }

    /// True while the watchdog (and so the program) runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // The group's id is the shell's pid (process_group(0)); this ends only what we started.
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| Command::new("kill").arg(sig).arg("--").arg(&group).stderr(Stdio::null()).status();
        let _ = signal("-TERM");
        let _ = self.child.wait();
        // Wait (bounded) for the rest of the group, so its files can be removed after this.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while signal("-0").is_ok_and(|s| s.success()) {
            if std::time::Instant::now() > deadline {
                let _ = signal("-KILL");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn quote(s: String) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Makes `latchkey-e2e-<what>-<random>`.
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir()
            .join(format!("latchkey-e2e-{what}-{}", latchkey::crypto::random_token::<6>().expect("random")));
        std::fs::create_dir_all(&dir).expect("cannot create a temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether this process runs as root (Chromium then needs `--no-sandbox`).
pub fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Waits (bounded) until something accepts TCP connections on `port`.
pub async fn wait_for_port(port: u16, what: &str, guard: &mut Guarded, log: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        let log_text = || std::fs::read_to_string(log).unwrap_or_default();
        assert!(guard.running(), "{what} exited at start:\n{}", log_text());
        assert!(std::time::Instant::now() < deadline, "{what} did not listen on {port} within 20 s:\n{}", log_text());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
