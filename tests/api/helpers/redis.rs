//! A private `redis-server` for the test binary, started once on a free port and stopped when
//! the test process ends. `LATCHKEY_TEST_REDIS_URL` points the tests at an existing one instead.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static REDIS: OnceLock<String> = OnceLock::new();

/// The URL of the test Redis, starting it on first use.
pub fn redis_url() -> String {
    REDIS
        .get_or_init(|| match std::env::var("LATCHKEY_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => start_private_redis(),
        })
        .clone()
}

/// A port nobody is listening on right now, handed out once per test process.
///
/// It comes from 21000–32699, below Linux's ephemeral range (32768–60999): a port the kernel
/// picked for `bind(0)` can be taken by any outgoing connection before the test's server binds
/// it, one below that range only by another explicit bind. Each process starts at its own
/// offset, and ports are handed out in turn, so two tests never get the same one.
pub fn free_port() -> u16 {
    free_port_in(21_000, 32_700, |_| true)
}

/// A port in `low..high` that is free and for which `also` holds, handed out once per process.
pub fn free_port_in(low: u16, high: u16, also: impl Fn(u16) -> bool) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(high - low);
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span {
        let turn = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + u16::try_from((start + turn) % span).expect("span fits in u16");
        if also(port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// Starts `redis-server <args>` (in memory only, loopback, warnings only) under a small shell
/// watchdog that owns the server and stops it once this test process is gone, so no
/// redis-server outlives `cargo test`, whichever way the tests end.
pub fn spawn_watched_redis(args: &str) {
    let test_pid = std::process::id();
    let script = format!(
        "redis-server {args} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning & \
         r=$!; while kill -0 {test_pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; kill $r 2>/dev/null"
    );
    // The watchdog runs for the life of the test process; nobody waits for it by design.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start redis-server: is it installed? (apt-get install redis-server)");
}

fn start_private_redis() -> String {
    let port = free_port();
    spawn_watched_redis(&format!("--port {port} --protected-mode yes"));
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok();
        if ready {
            return url;
        }
        assert!(Instant::now() < deadline, "redis-server on port {port} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}
