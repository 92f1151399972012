//! `deploy/latchkey.service`: systemd accepts it without a warning, and it keeps every
//! hardening setting the deployment relies on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNIT: &str = include_str!("../../deploy/latchkey.service");
const EXEC_START: &str = "ExecStart=/usr/local/bin/latchkey serve";

/// A copy of the unit in a directory of its own, starting the binary this build made (systemd
/// checks that ExecStart's program exists); removed on drop.
struct UnitCopy {
    dir: PathBuf,
    path: PathBuf,
}

impl UnitCopy {
    fn new() -> Self {
        assert!(UNIT.lines().any(|l| l == EXEC_START), "the unit no longer has `{EXEC_START}`");
        let built = format!("ExecStart={} serve", env!("CARGO_BIN_EXE_latchkey"));
        let dir =
            std::env::temp_dir().join(format!("latchkey-unit-{}", latchkey::crypto::random_token::<6>().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latchkey.service");
        std::fs::write(&path, UNIT.replace(EXEC_START, &built)).unwrap();
        Self { dir, path }
    }
}

impl Drop for UnitCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn systemd_analyze(args: &[&str], unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("cannot run systemd-analyze: is it installed? (apt-get install systemd; scripts/test does this)")
}

/// The unit's `Key=value` lines in `section`, in order (a key may repeat).
fn settings(section: &str) -> Vec<(String, String)> {
    let mut current = "";
    let mut found = Vec::new();
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line;
        } else if current == section
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            found.push((key.to_owned(), value.to_owned()));
        }
    }
    found
}

#[test]
fn systemd_verifies_the_unit_without_a_warning() {
    let unit = UnitCopy::new();
    // Warnings about the unit name its file or its name; other units' are not ours to judge.
    let out = systemd_analyze(&["verify", "--man=no", "--recursive-errors=no"], &unit.path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("latchkey")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify warned about the unit:\n{}", ours.join("\n"));
}

#[test]
fn systemd_rates_the_units_exposure_below_two() {
    let unit = UnitCopy::new();
    // systemd rates exposure from 0.0 (locked down) to 10.0 and takes the threshold in tenths:
    // at most 1.9 (deploy/latchkey.service rates 1.2; without its Protect*, Private* and SystemCall*
    // lines, 4.6).
    let out = systemd_analyze(&["security", "--offline=yes", "--threshold=19", "--no-pager"], &unit.path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let overall = stdout.lines().find(|l| l.contains("Overall exposure level")).unwrap_or("(no overall level)");
    assert!(
        out.status.success(),
        "systemd-analyze security: {overall}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_unit_keeps_every_hardening_setting() {
    let service = settings("[Service]");
    let expected = [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("SystemCallArchitectures", "native"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
        ("EnvironmentFile", "/etc/latchkey/env"),
        // The signing key reaches the service as a credential, not as a file it could read.
        ("LoadCredential", "jwt-key.pem:/etc/latchkey/jwt-key.pem"),
        ("Environment", "JWT_KEYS=%d/jwt-key.pem"),
        ("Restart", "on-failure"),
    ];
    let missing: Vec<String> = expected
        .iter()
        .filter(|(key, value)| !service.iter().any(|(k, v)| k == key && v == value))
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    assert!(missing.is_empty(), "deploy/latchkey.service lacks: {}", missing.join(", "));
    // Nothing later in the file widens what the lines above allow.
    for key in ["CapabilityBoundingSet", "RestrictAddressFamilies", "AmbientCapabilities"] {
        let values: Vec<&str> = service.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect();
        assert!(values.len() <= 1, "{key} is set more than once: {values:?}");
    }

    let after: Vec<String> = settings("[Unit]")
        .into_iter()
        .filter(|(k, _)| k == "After")
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for unit in ["network-online.target", "redis-server.service"] {
        assert!(after.iter().any(|a| a == unit), "the unit does not start after {unit}: After={after:?}");
    }
}
