//! `scripts/test`, the test command: a program the tests need that is missing and cannot be
//! installed stops it with the command that installs it, and it never skips the browser suite.

use std::path::Path;
use std::process::{Command, Output};

/// `bash scripts/test --check-only` with LATCHKEY_NO_INSTALL=1 (nothing is ever installed
/// here), the e2e variables cleared, and `env` set on top.
fn check_only(env: &[(&str, &str)]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new("/bin/bash");
    command.arg(root.join("scripts/test")).arg("--check-only").current_dir(root).env("LATCHKEY_NO_INSTALL", "1");
    for var in ["LATCHKEY_E2E", "LATCHKEY_E2E_CHROMIUM", "LATCHKEY_E2E_CHROMEDRIVER", "LATCHKEY_E2E_NGINX"] {
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
    for package in ["redis-server", "redis-tools", "openssl", "chromium", "chromium-driver", "nginx", "systemd"] {
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
