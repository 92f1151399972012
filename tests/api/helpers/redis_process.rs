//! A private `redis-server` that one test owns and can stop and start again on the same port,
//! to watch the service lose its store and get it back. By default it keeps nothing on disk,
//! so a restart comes back empty; [`RedisProcess::start_with`] runs it with a configuration
//! file and arguments of the test's choosing (a data folder, AOF, an eviction policy). Like the shared one in `redis.rs`, a shell watchdog stops it once the test
//! process is gone, so it never outlives `cargo test`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis::free_port;

/// A `redis-server` on a fixed loopback port, stopped when dropped.
pub struct RedisProcess {
    port: u16,
    /// What follows `redis-server`: a configuration file (optional) and arguments.
    conf: String,
    args: String,
    /// The running server: its process id and its watchdog shell; `None` while stopped.
    running: Option<(u32, Child)>,
}

impl RedisProcess {
    /// Starts a server on a free port and waits until it answers.
    pub async fn start() -> Self {
        Self::start_with(None, "--save '' --appendonly no").await
    }

    /// Starts `redis-server [conf] --port <free> --bind 127.0.0.1 <args>` and waits until it
    /// answers. `args` are shell words (quote empty values: `--save ''`).
    pub async fn start_with(conf: Option<&std::path::Path>, args: &str) -> Self {
        let conf = conf.map(|path| format!("'{}'", path.display())).unwrap_or_default();
        let mut redis = Self { port: free_port(), conf, args: args.to_owned(), running: None };
        redis.start_again().await;
        redis
    }

    /// A connection to this server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Whether a fresh connection gets an answer to `PING`.
    pub async fn answers(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        let connect = tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection());
        let Ok(Ok(mut conn)) = connect.await else { return false };
        redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
    }

    /// Starts the server again on the same port (empty, unless its arguments give it a data
    /// folder to load) and waits until it answers.
    pub async fn start_again(&mut self) {
        assert!(self.running.is_none(), "redis-server on port {} is already running", self.port);
        let (port, test_pid, conf, args) = (self.port, std::process::id(), &self.conf, &self.args);
        // The shell says the server's pid, then watches both processes.
        let script = format!(
            "redis-server {conf} --port {port} --bind 127.0.0.1 {args} --protected-mode yes --loglevel warning >/dev/null & \
             r=$!; echo $r; exec >/dev/null; \
             while kill -0 {test_pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; kill $r 2>/dev/null"
        );
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start redis-server: is it installed? (apt-get install redis-server)");
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let pid: u32 = line.trim().parse().expect("the watchdog did not report the redis-server pid");
        self.running = Some((pid, watchdog));
        self.wait_until(true).await;
    }

    /// Stops the server (SIGTERM to its pid; with no save configured it keeps nothing) and
    /// waits until the port is closed and its watchdog has exited.
    pub async fn stop(&mut self) {
        let Some((pid, mut watchdog)) = self.running.take() else { return };
        terminate(pid);
        self.wait_until(false).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while watchdog.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "the watchdog of redis-server on port {} did not exit", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_until(&self, up: bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.answers().await != up {
            let what = if up { "come up" } else { "stop" };
            assert!(Instant::now() < deadline, "redis-server on port {} did not {what}", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// SIGTERM to one process we started, by its id.
fn terminate(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).stderr(Stdio::null()).status();
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let Some((pid, mut watchdog)) = self.running.take() else { return };
        terminate(pid);
        // The watchdog notices within a second that the server is gone, and exits.
        let _ = watchdog.wait();
    }
}
