//! A CA and a server certificate for 127.0.0.1 made with the `openssl` CLI at test time (for
//! the `rediss://` tests and the SMTP TLS tests), and a private TLS-only Redis, a
//! `redis-server --tls-port` that accepts no plaintext. Each made once per test process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the TLS test Redis listens and the CA that signed its certificate.
#[derive(Debug, Clone)]
pub struct TlsRedis {
    /// `rediss://127.0.0.1:<port>/`.
    pub url: String,
    /// The test CA (PEM), for `REDIS_CA_FILE`.
    pub ca_file: PathBuf,
}

static TLS_REDIS: OnceLock<TlsRedis> = OnceLock::new();

/// The TLS test Redis, starting it on first use.
pub fn tls_redis() -> TlsRedis {
    TLS_REDIS.get_or_init(start_tls_redis).clone()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run openssl: is it installed? (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost, in one folder.
#[derive(Debug)]
pub struct TestCertificates {
    /// The folder: `ca.crt`, `server.crt`, `server.key`.
    pub dir: PathBuf,
}

static CERTIFICATES: OnceLock<TestCertificates> = OnceLock::new();

/// The test certificates, made on first use (once per test process).
pub fn test_certificates() -> &'static TestCertificates {
    CERTIFICATES.get_or_init(make_certificates)
}

fn make_certificates() -> TestCertificates {
    let dir = std::env::temp_dir().join(format!("latchkey-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create the TLS test folder");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.crt"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-subj",
        "/CN=latchkey test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&dir, &ca);
    let mut csr = vec!["req", "-new", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"];
    csr.extend_from_slice(&ec);
    openssl(&dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("cannot write server.ext");
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
    );
    TestCertificates { dir }
}

fn start_tls_redis() -> TlsRedis {
    let dir = test_certificates().dir.clone();
    let port = super::free_port();
    // TLS only (--port 0), under the same watchdog as the plain test Redis.
    super::redis::spawn_watched_redis(&format!(
        "--port 0 --tls-port {port} --tls-cert-file '{d}/server.crt' --tls-key-file '{d}/server.key' \
         --tls-ca-cert-file '{d}/ca.crt' --tls-auth-clients no",
        d = dir.display()
    ));
    let ca_file = dir.join("ca.crt");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pong = Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(&ca_file)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "PING"])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG");
        if pong {
            break;
        }
        assert!(Instant::now() < deadline, "TLS redis-server on port {port} did not answer PING within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    TlsRedis { url: format!("rediss://127.0.0.1:{port}/"), ca_file }
}
