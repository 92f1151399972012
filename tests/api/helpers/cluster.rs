//! A private Redis Cluster for the tests: three masters (no replicas) on free ports, started
//! once per test process. `LATCHKEY_TEST_REDIS_CLUSTER_URLS` points the tests at an existing
//! cluster instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::redis::free_port_in;

static CLUSTER: OnceLock<Vec<String>> = OnceLock::new();

/// The seed URLs of the test cluster (all three masters), starting it on first use.
pub fn cluster_urls() -> Vec<String> {
    CLUSTER
        .get_or_init(|| match std::env::var("LATCHKEY_TEST_REDIS_CLUSTER_URLS") {
            Ok(urls) if !urls.is_empty() => urls.split(',').map(str::to_owned).collect(),
            _ => start_private_cluster(),
        })
        .clone()
}

/// `REDIS_CLUSTER_URLS` for the test cluster.
pub fn cluster_urls_var() -> String {
    cluster_urls().join(",")
}

/// A port that is free, and whose cluster bus port (port + 10000) is free too: nodes take
/// 10000–10999, so their buses (20000–20999) lie below both `free_port`'s range and the
/// kernel's ephemeral ports.
fn free_cluster_port() -> u16 {
    free_port_in(10_000, 11_000, |port| TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok())
}

fn start_private_cluster() -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("latchkey-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create the cluster's temporary folder");
    let mut ports = Vec::new();
    for _ in 0..3 {
        let port = free_cluster_port();
        ports.push(port);
    }
    for port in &ports {
        start_node(&dir, *port);
    }
    for port in &ports {
        wait_until(Duration::from_secs(15), &format!("cluster node on port {port} did not answer PING"), || {
            redis_cli(*port, &["PING"]).is_some_and(|out| out.trim() == "PONG")
        });
    }
    let mut create = Command::new("redis-cli");
    create.arg("--cluster").arg("create");
    for port in &ports {
        create.arg(format!("127.0.0.1:{port}"));
    }
    let out = create
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run redis-cli: is it installed? (apt-get install redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli --cluster create failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for port in &ports {
        wait_until(
            Duration::from_secs(30),
            &format!("cluster node on port {port} never reported cluster_state:ok"),
            || redis_cli(*port, &["CLUSTER", "INFO"]).is_some_and(|out| out.contains("cluster_state:ok")),
        );
    }
    ports.iter().map(|port| format!("redis://127.0.0.1:{port}/")).collect()
}

/// Starts one cluster node under a shell watchdog that stops it once the test process is gone.
fn start_node(dir: &Path, port: u16) {
    let conf: PathBuf = dir.join(format!("nodes-{port}.conf"));
    super::redis::spawn_watched_redis(&format!(
        "--cluster-enabled yes --cluster-config-file '{conf}' --dir '{dir}' --port {port} --protected-mode yes",
        conf = conf.display(),
        dir = dir.display(),
    ));
}

/// `redis-cli -p port args…`'s output, if it ran and succeeded.
pub fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port.to_string()]).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `ready` every 50 ms until it holds; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ports of the cluster's nodes.
pub fn cluster_ports() -> Vec<u16> {
    cluster_urls().iter().filter_map(|u| url::Url::parse(u).ok().and_then(|u| u.port())).collect()
}

/// How many keys matching `pattern` each node holds (by port).
pub fn keys_per_node(pattern: &str) -> Vec<(u16, usize)> {
    cluster_ports()
        .into_iter()
        .map(|port| {
            let out = redis_cli(port, &["--scan", "--pattern", pattern]).unwrap_or_default();
            (port, out.lines().filter(|l| !l.is_empty()).count())
        })
        .collect()
}

/// A store on the test cluster under `prefix`, to inspect what an app wrote there.
pub fn cluster_store(prefix: &str) -> latchkey::store::RedisStore {
    let connector = latchkey::store::RedisConnector::cluster(&cluster_urls(), None).expect("cluster URLs");
    latchkey::store::RedisStore::new(connector, latchkey::store::Keys::new(prefix)).expect("cluster store")
}

/// The hash slot of `key`, as the cluster computes it.
pub fn key_slot(key: &str) -> u16 {
    let port = cluster_ports()[0];
    redis_cli(port, &["CLUSTER", "KEYSLOT", key])
        .and_then(|out| out.trim().parse().ok())
        .expect("CLUSTER KEYSLOT failed")
}
