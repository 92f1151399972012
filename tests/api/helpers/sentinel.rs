//! A private replicated Redis for one test: a master and one replica, and optionally three
//! Sentinels watching them (`redis-server --sentinel`) with short timeouts, all on free
//! loopback ports. Every process runs under a shell watchdog (as in `redis_process.rs`), so
//! none outlives the test process; dropping the set kills them all.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Value;

use super::redis::free_port;

/// The name the Sentinels monitor the master under.
pub const MASTER_NAME: &str = "latchkey-test";

static SHARED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `REDIS_SENTINEL_URLS` of a set (master, replica, three Sentinels) shared by the tests that
/// only need one that works (the store contract), started on first use and kept for the test
/// process's life (the watchdogs stop it after).
pub fn shared_sentinel_urls() -> String {
    SHARED
        .get_or_init(|| {
            std::thread::spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let set = runtime.block_on(Replicated::with_sentinels());
                let urls = set.sentinel_urls();
                std::mem::forget(set);
                urls
            })
            .join()
            .expect("the shared Sentinel set did not start")
        })
        .clone()
}

/// One server process: its port and pid, and its watchdog; for a data node, what it was
/// started with but `--replicaof` (to start it again).
struct Proc {
    port: u16,
    pid: u32,
    watchdog: Child,
    args: String,
}

/// A master, one replica and (for [`Replicated::with_sentinels`]) three Sentinels.
pub struct Replicated {
    servers: Vec<Proc>,
    sentinels: Vec<Proc>,
    dir: PathBuf,
    /// TLS only: the test CA's PEM file (next to the server certificate it signed).
    tls: Option<PathBuf>,
}

impl Replicated {
    /// A master and a replica that has finished its first sync.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// With `tls` (the test CA's file, beside `server.crt` and `server.key`), every process
    /// takes TLS only, replication and Sentinels included.
    async fn start_with(tls: Option<PathBuf>) -> Self {
        super::init_process(); // the rustls provider, for the TLS set's own checks
        let dir = std::env::temp_dir().join(format!(
            "latchkey-sentinel-{}-{}",
            std::process::id(),
            latchkey::crypto::random_token::<6>().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let master_port = free_port();
        // `--dir`: a replica's first sync writes an RDB file there.
        let common = format!("--bind 127.0.0.1 --save '' --appendonly no --dir {}", dir.display());
        let listen = |port: u16| match &tls {
            None => format!("--port {port}"),
            Some(ca) => format!("--port 0 --tls-port {port} {}", tls_args(ca)),
        };
        let master_args = format!("{} {common}", listen(master_port));
        let master = spawn(&master_args);
        let replica_port = free_port();
        let replica_args = format!("{} {common}", listen(replica_port));
        let replica = spawn(&format!("{replica_args} --replicaof 127.0.0.1 {master_port}"));
        let set = Self {
            servers: vec![
                Proc { port: master_port, args: master_args, ..master },
                Proc { port: replica_port, args: replica_args, ..replica },
            ],
            sentinels: Vec::new(),
            dir,
            tls,
        };
        until("the replica did not finish its sync", || async {
            set.info(master_port, "replication").await.is_some_and(|i| i.contains("state=online"))
        })
        .await;
        set
    }

    /// A master, a replica and three Sentinels that all know both (failover needs that).
    pub async fn with_sentinels() -> Self {
        Self::sentinels_with(None).await
    }

    /// As [`Replicated::with_sentinels`], every process TLS only, with certificates from the
    /// test CA (`ca_file`; see `tls.rs`).
    pub async fn with_sentinels_over_tls(ca_file: PathBuf) -> Self {
        Self::sentinels_with(Some(ca_file)).await
    }

    async fn sentinels_with(tls: Option<PathBuf>) -> Self {
        let mut set = Self::start_with(tls).await;
        let master_port = set.servers[0].port;
        for _ in 0..3 {
            let port = free_port();
            let conf = set.dir.join(format!("sentinel-{port}.conf"));
            let listen = match &set.tls {
                None => format!("port {port}\n"),
                // The same options as on the command line, one a line.
                Some(ca) => {
                    format!("port 0\ntls-port {port}\n{}\n", tls_args(ca).replace(" --", "\n").replace("--", ""))
                }
            };
            std::fs::write(
                &conf,
                format!(
                    "{listen}bind 127.0.0.1\ndaemonize no\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 4000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n"
                ),
            )
            .unwrap();
            let proc = spawn(&format!("{} --sentinel", conf.display()));
            set.sentinels.push(Proc { port, ..proc });
        }
        for sentinel in set.sentinels.iter().map(|s| s.port).collect::<Vec<_>>() {
            let set = &set;
            until("a Sentinel never saw the replica and the other Sentinels", || async move {
                let replicas = set.query(sentinel, redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER_NAME)).await;
                let master = set.query(sentinel, redis::cmd("SENTINEL").arg("MASTER").arg(MASTER_NAME)).await;
                let others = master.as_ref().and_then(|m| field(m, "num-other-sentinels"));
                matches!(replicas, Some(Value::Array(r)) if !r.is_empty()) && others.as_deref() == Some("2")
            })
            .await;
        }
        set
    }

    /// `redis://` of the server the set started as master.
    pub fn first_master_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.servers[0].port)
    }

    /// `REDIS_SENTINEL_URLS` for the three Sentinels.
    pub fn sentinel_urls(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        self.sentinels.iter().map(|s| format!("{scheme}://127.0.0.1:{}/", s.port)).collect::<Vec<_>>().join(",")
    }

    /// One command on a fresh connection to `port` (over TLS for a TLS set); `None` if it
    /// could not be asked (down, slow).
    pub async fn query(&self, port: u16, cmd: &redis::Cmd) -> Option<Value> {
        let client = match &self.tls {
            None => redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?,
            Some(ca) => redis::Client::build_with_tls(
                format!("rediss://127.0.0.1:{port}/"),
                redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(ca).ok()?) },
            )
            .ok()?,
        };
        let ask = async {
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            cmd.query_async::<Value>(&mut conn).await.ok()
        };
        tokio::time::timeout(Duration::from_secs(1), ask).await.ok().flatten()
    }

    /// `INFO <section>` of the server on `port`.
    async fn info(&self, port: u16, section: &str) -> Option<String> {
        redis::from_redis_value(self.query(port, redis::cmd("INFO").arg(section)).await?).ok()
    }

    /// `SENTINEL FAILOVER`: promotes the replica without the master failing.
    pub async fn sentinel_failover(&self) {
        let reply = self.query(self.sentinels[0].port, redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER_NAME)).await;
        assert!(matches!(reply, Some(Value::Okay)), "SENTINEL FAILOVER was refused: {reply:?}");
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the server on `port`.
    pub fn signal(&self, port: u16, signal: &str) {
        let proc = self.servers.iter().find(|p| p.port == port).expect("no server on that port");
        let status = Command::new("kill").arg(format!("-{signal}")).arg(proc.pid.to_string()).status().unwrap();
        assert!(status.success(), "kill -{signal} {} failed", proc.pid);
    }

    /// The port of the server started as replica.
    pub fn first_replica_port(&self) -> u16 {
        self.servers[1].port
    }

    /// The port of the server started as master.
    pub fn first_master_port(&self) -> u16 {
        self.servers[0].port
    }

    /// Waits (bounded) until every Sentinel names a master other than `old` and that server
    /// says it is a master; returns its port.
    pub async fn wait_for_new_master(&self, old: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut named = Vec::new();
            for sentinel in &self.sentinels {
                let reply = self
                    .query(sentinel.port, redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(MASTER_NAME))
                    .await;
                let port = reply
                    .and_then(|r| redis::from_redis_value::<(String, String)>(r).ok())
                    .and_then(|(_, p)| p.parse::<u16>().ok());
                named.push(port);
            }
            if let Some(Some(new)) = named.first().copied()
                && new != old
                && named.iter().all(|p| *p == Some(new))
                && self.info(new, "replication").await.is_some_and(|i| i.contains("role:master"))
            {
                return new;
            }
            assert!(Instant::now() < deadline, "no new master within 30 s (Sentinels name {named:?})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Replicated {
    /// Waits (bounded) until a replica of the master on `port` acknowledged everything the
    /// master held when this was called (replicas acknowledge about once a second).
    pub async fn wait_until_caught_up(&self, port: u16) {
        let role =
            || async move { self.query(port, &redis::cmd("ROLE")).await.and_then(|r| redis::from_redis_value(r).ok()) };
        let Some(redis::Role::Primary { replication_offset: target, .. }) = role().await else {
            panic!("the server on port {port} is not a master");
        };
        until("no replica caught up with the master", || async move {
            matches!(role().await, Some(redis::Role::Primary { replicas, .. })
                if replicas.iter().any(|r| r.replication_offset >= target as i64))
        })
        .await;
    }

    /// Starts the server on `port` again (after a `KILL`: it comes back empty) as a replica
    /// of the master on `master`, and waits (bounded) until that master lists it online.
    pub async fn restart_as_replica(&mut self, port: u16, master: u16) {
        let proc = self.servers.iter_mut().find(|p| p.port == port).expect("no server on that port");
        // The watchdog ends with its server.
        let _ = proc.watchdog.wait();
        let again = spawn(&format!("{} --replicaof 127.0.0.1 {master}", proc.args));
        (proc.pid, proc.watchdog) = (again.pid, again.watchdog);
        self.wait_until_replica_online(master).await;
    }

    /// Waits (bounded) until the master on `port` lists a replica online (in sync).
    pub async fn wait_until_replica_online(&self, port: u16) {
        until("the master has no replica online", || async move {
            self.info(port, "replication").await.is_some_and(|i| i.contains("state=online"))
        })
        .await;
    }

    /// Waits (bounded) until the master on `port` has no replica connected (one was killed).
    pub async fn wait_until_no_replica(&self, port: u16) {
        until("the master still lists a replica", || async move {
            self.info(port, "replication").await.is_some_and(|i| i.contains("connected_slaves:0"))
        })
        .await;
    }

    /// Waits (bounded) until the server on `port` reports itself a replica (the Sentinels
    /// demote a replaced master that still runs once it has reported itself master for 8 s,
    /// which they ask every 10 s: 10 to 20 s after the failover).
    pub async fn wait_until_replica(&self, port: u16) {
        until("the replaced master was not demoted to replica", || async move {
            self.info(port, "replication").await.is_some_and(|i| i.contains("role:slave"))
        })
        .await;
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for proc in self.servers.iter_mut().chain(self.sentinels.iter_mut()) {
            let _ = Command::new("kill").arg("-KILL").arg(proc.pid.to_string()).stderr(Stdio::null()).status();
            let _ = proc.watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `redis-server <args>` under a watchdog; returns its pid (port filled in by the caller).
fn spawn(args: &str) -> Proc {
    let test_pid = std::process::id();
    let script = format!(
        "redis-server {args} --loglevel warning >/dev/null & r=$!; echo $r; exec >/dev/null; \
         while kill -0 {test_pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; kill -9 $r 2>/dev/null"
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
    let pid = line.trim().parse().expect("the watchdog did not report the redis-server pid");
    Proc { port: 0, pid, watchdog, args: String::new() }
}

/// The TLS options of a server or Sentinel with the test CA's certificates: TLS to its
/// clients and to the servers it replicates from or watches.
fn tls_args(ca: &std::path::Path) -> String {
    let d = ca.parent().unwrap().display();
    format!(
        "--tls-cert-file {d}/server.crt --tls-key-file {d}/server.key --tls-ca-cert-file {d}/ca.crt \
         --tls-auth-clients no --tls-replication yes"
    )
}

/// A field of a `SENTINEL MASTER` reply (a flat list or a map, by protocol).
fn field(reply: &Value, name: &str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = redis::from_redis_value_ref(reply).ok()?;
    map.get(name).cloned()
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // A bound well past the slowest step (a demotion, up to 20 s), for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
