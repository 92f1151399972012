//! `scripts/test`, the test command: a program the tests need that is missing and cannot be
//! installed stops it with the command that installs it, and it never skips the browser suite
//! or the openid-client tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `bash scripts/test --check-only` with LATCHKEY_NO_INSTALL=1 (nothing is ever installed
/// here), the e2e variables cleared, and `env` set on top.
fn check_only(env: &[(&str, &str)]) -> Output {
    check_only_in(Path::new(env!("CARGO_MANIFEST_DIR")), env)
}

/// [`check_only`] on the scripts/test of the checkout at `root`.
fn check_only_in(root: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("/bin/bash");
    command.arg(root.join("scripts/test")).arg("--check-only").current_dir(root).env("LATCHKEY_NO_INSTALL", "1");
    for var in [
        "LATCHKEY_E2E",
        "LATCHKEY_E2E_CHROMIUM",
        "LATCHKEY_E2E_CHROMEDRIVER",
        "LATCHKEY_E2E_NGINX",
        "LATCHKEY_OPENID_CLIENT",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().expect("cannot run bash")
}

#[test]
fn a_missing_program_stops_the_test_command_with_the_command_that_installs_it() {
    // A PATH with nothing on it, and nginx named where none is (as the browser suite reads it).
    let empty = std::env::temp_dir().join(format!("latchkey-path-{}", latchkey::crypto::random_token::<6>().unwrap()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = check_only(&[("PATH", empty.to_str().unwrap()), ("LATCHKEY_E2E_NGINX", "/nonexistent/nginx")]);
    let _ = std::fs::remove_dir_all(&empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("missing: ")
            && stderr.contains("nginx (package nginx; LATCHKEY_E2E_NGINX=/nonexistent/nginx names no file)"),
        "{stderr}"
    );
    assert!(stderr.contains("LATCHKEY_NO_INSTALL=1 is set"), "{stderr}");
    let install = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("apt-get update && apt-get install -y ") || l.starts_with("sudo apt-get update"))
        .unwrap_or_else(|| panic!("no install command in:\n{stderr}"));
    let packages: Vec<&str> = install.rsplit("install -y ").next().unwrap().split(' ').collect();
    for package in
        ["redis-server", "redis-tools", "openssl", "chromium", "chromium-driver", "nginx", "systemd", "nodejs", "npm"]
    {
        assert!(packages.contains(&package), "`{install}` does not install {package}");
    }
}

#[test]
fn the_test_command_finds_programs_where_the_browser_suite_looks() {
    // The browser suite's variables name the programs; the rest is on this PATH, which the
    // API tests need anyway.
    let bash = "/bin/bash";
    let out = check_only(&[
        ("LATCHKEY_E2E_CHROMIUM", bash),
        ("LATCHKEY_E2E_CHROMEDRIVER", bash),
        ("LATCHKEY_E2E_NGINX", bash),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("every program the tests need is here"), "{stderr}");
}

#[test]
fn the_test_command_refuses_to_skip_the_browser_suite() {
    let out = check_only(&[("LATCHKEY_E2E", "skip")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("LATCHKEY_E2E=skip is set"), "{stderr}");
}

#[test]
fn the_test_command_refuses_to_skip_the_openid_client_tests() {
    let out = check_only(&[("LATCHKEY_OPENID_CLIENT", "skip")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("LATCHKEY_OPENID_CLIENT=skip is set"), "{stderr}");
}

/// A directory on its own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("latchkey-{what}-{}", latchkey::crypto::random_token::<6>().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The e2e variables naming a file, so that only what a test changes can be missing.
const BROWSER_SUITE_FOUND: [(&str, &str); 3] = [
    ("LATCHKEY_E2E_CHROMIUM", "/bin/bash"),
    ("LATCHKEY_E2E_CHROMEDRIVER", "/bin/bash"),
    ("LATCHKEY_E2E_NGINX", "/bin/bash"),
];

#[test]
fn a_node_older_than_openid_client_needs_stops_the_test_command() {
    // A `node` that says it is Debian 12's, first on the PATH.
    let bin = Scratch::new("old-node");
    let node = bin.0.join("node");
    std::fs::write(&node, "#!/bin/sh\necho v18.20.4\n").unwrap();
    std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.0.display(), std::env::var("PATH").unwrap());
    let mut env = BROWSER_SUITE_FOUND.to_vec();
    env.push(("PATH", &path));
    let out = check_only(&env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("node is v18.20.4") && stderr.contains("need Node.js 20 or newer"), "{stderr}");
}

#[test]
fn node_packages_that_differ_from_the_lock_file_stop_the_test_command_with_npm_ci() {
    // A checkout holding scripts/test and the Node projects' lock files (the relying party's and
    // the browser suite's axe-core), every package installed as its lock pins.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = Scratch::new("stale-rp");
    std::fs::create_dir_all(copy.0.join("scripts")).unwrap();
    std::fs::copy(root.join("scripts/test"), copy.0.join("scripts/test")).unwrap();
    for project in ["tests/rp/openid-client", "tests/e2e/axe"] {
        let dir = copy.0.join(project);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(root.join(project).join("package-lock.json"), dir.join("package-lock.json")).unwrap();
        let lock: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("package-lock.json")).unwrap()).unwrap();
        let packages = lock["packages"].as_object().unwrap();
        for (path, entry) in packages.iter().filter(|(p, _)| p.starts_with("node_modules/")) {
            std::fs::create_dir_all(dir.join(path)).unwrap();
            let version = entry["version"].as_str().unwrap();
            std::fs::write(dir.join(path).join("package.json"), format!("{{\n  \"version\": \"{version}\"\n}}\n"))
                .unwrap();
        }
    }
    let rp = copy.0.join("tests/rp/openid-client");
    // As the lock says: nothing to do.
    let out = check_only_in(&copy.0, &BROWSER_SUITE_FOUND);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    std::fs::write(rp.join("node_modules/openid-client/package.json"), "{ \"version\": \"5.7.1\" }").unwrap();
    let out = check_only_in(&copy.0, &BROWSER_SUITE_FOUND);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not match its package-lock.json"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.trim() == "npm ci --prefix tests/rp/openid-client --no-audit --no-fund"),
        "{stderr}"
    );

    // The relying party as locked again; axe-core missing from the browser suite's project.
    let locked = root.join("tests/rp/openid-client/package-lock.json");
    let lock: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(locked).unwrap()).unwrap();
    let version = lock["packages"]["node_modules/openid-client"]["version"].as_str().unwrap();
    std::fs::write(rp.join("node_modules/openid-client/package.json"), format!("{{ \"version\": \"{version}\" }}"))
        .unwrap();
    std::fs::remove_dir_all(copy.0.join("tests/e2e/axe/node_modules/axe-core")).unwrap();
    let out = check_only_in(&copy.0, &BROWSER_SUITE_FOUND);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tests/e2e/axe/node_modules does not match"), "{stderr}");
    assert!(stderr.lines().any(|l| l.trim() == "npm ci --prefix tests/e2e/axe --no-audit --no-fund"), "{stderr}");
}
