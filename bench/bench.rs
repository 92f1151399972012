//! The benchmark harness (README, "Benchmarks"): starts a private Redis, an SMTP sink and
//! release latchkey instances with a production-like configuration — one that only queues
//! mail (`OUTBOX_WORKER=false`) for B0–B2, and a default one that also delivers, started
//! afterwards to send B2's backlog and to serve B3 and B2′ — and the store's floor for B2
//! (`bench/floor.rs`: a link request's Redis work alone), drives them with `wrk` at fixed
//! connection counts, runs full sign-ins itself and then the SMTP sink's own ceiling (raw SMTP
//! clients, so that the sink is shown not to be B3's limit), samples peak memory and who used the CPU,
//! runs `redis-benchmark` for the store's ceiling, and prints one Markdown table with each
//! row's ratio to the baseline (`GET /healthz`) measured in the same run, and the Redis
//! commands of one link request (through `redis-cli MONITOR`, before the rows).
//!
//! Run it with `bench/run.sh` (builds release first). Loopback only.

// A test or a benchmark that cannot go on should stop loudly: unwrap, expect and panic are
// how it reports (the lints against them are for the service's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Handler, response};
use tokio::sync::oneshot;

#[path = "../tests/e2e/nginx_site.rs"]
mod nginx_site;
#[path = "../tests/api/helpers/smtp_server.rs"]
mod smtp_server;

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<String>>>>;

/// The SMTP sink: counts every mail and hands sign-in tokens to whoever waits for that address.
#[derive(Clone)]
struct Sink {
    received: Arc<AtomicU64>,
    waiters: Waiters,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Sink {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> mailin::Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        self.received.fetch_add(1, Ordering::Relaxed);
        let to = self.to.first().map(|t| t.trim_matches(['<', '>']).to_ascii_lowercase()).unwrap_or_default();
        let waiter = self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&to);
        if let (Some(waiter), Some(token)) = (waiter, token_in(&self.data)) {
            let _ = waiter.send(token);
        }
        response::OK
    }
}

/// The sign-in token in a raw mail (quoted-printable soft breaks undone).
fn token_in(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw).replace("=\r\n", "").replace("=3D", "=");
    let start = text.find("/login/verify?token=")? + "/login/verify?token=".len();
    let token: String =
        text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (!token.is_empty()).then_some(token)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A child process that is killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx as Debian runs it (a master and `worker_processes auto`) with the shipped
/// examples/nginx.conf in front of latchkey at `latchkey` (`BIND_ADDR`), the app it protects
/// being a static file nginx serves itself; a second `server` serving the same file
/// with no check; and the example once more with an auth server that costs nothing (an nginx
/// `server` answering 200 at once, on a Unix socket too) in latchkey's place: the ceiling of
/// forward-auth through nginx on the machine; and the example with its commented `server` line,
/// latchkey through its Unix socket at `latchkey_socket` (`unix:` its `BIND_SOCKET`).
struct Nginx {
    process: Proc,
    /// The example in front of latchkey.
    front: u16,
    /// The static file, no check.
    app: u16,
    /// The example in front of the auth server that costs nothing.
    ceiling: u16,
    /// The example in front of latchkey through its Unix socket (its commented `server` line).
    front_socket: u16,
}

impl Nginx {
    fn start(dir: &std::path::Path, latchkey: &str, latchkey_socket: &str) -> Self {
        let binary = ["nginx", "/usr/sbin/nginx", "/sbin/nginx"]
            .into_iter()
            .find(|b| Command::new(b).arg("-v").stderr(Stdio::null()).status().is_ok())
            .expect("nginx is not installed (apt-get install nginx)");
        let dir = dir.join("nginx");
        let root = dir.join("static");
        std::fs::create_dir_all(&root).expect("nginx dir");
        std::fs::write(root.join("index.html"), "<!doctype html><title>app</title><p>Hello from the app.\n")
            .expect("static file");
        let (front, app, ceiling, front_socket) = (free_port(), free_port(), free_port(), free_port());
        let site = dir.join("site.conf");
        let app_url = format!("http://127.0.0.1:{app}");
        // The protected content is the static file itself (nginx serves it once latchkey said
        // yes), so the two rows differ by the check alone.
        let site_for = |port: u16, auth: &str| {
            let config = nginx_site::site_config(port, auth, &app_url);
            assert!(config.contains("proxy_pass http://protected_app;"), "examples/nginx.conf changed shape");
            config.replace("proxy_pass http://protected_app;", &format!("root {};", root.display()))
        };
        // A second copy of the example: its own upstream names (nginx refuses two blocks of one
        // name), without the first copy's `map` (one variable cannot be defined twice).
        let copy = |port: u16, auth: &str, name: &str| {
            let site = site_for(port, auth);
            let map_start = site.find("\nmap ").expect("examples/nginx.conf has its map");
            let map_end = map_start + site[map_start..].find("\n}\n").expect("the map's end") + 3;
            format!("{}{}", &site[..map_start], &site[map_end..])
                .replace("upstream latchkey ", &format!("upstream {name}_auth "))
                .replace("http://latchkey", &format!("http://{name}_auth"))
                .replace("upstream protected_app ", &format!("upstream {name}_app "))
        };
        let yes = dir.join("yes.sock");
        let ceiling_site = copy(ceiling, &format!("unix:{}", yes.display()), "ceiling");
        // The example's commented `server` line: latchkey through its Unix socket.
        let socket_site = copy(front_socket, latchkey_socket, "socket");
        std::fs::write(&site, site_for(front, latchkey) + &ceiling_site + &socket_site).expect("site.conf");
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n  \
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 include {site};\n  server {{ listen 127.0.0.1:{app}; root {root}; }}\n  \
                 server {{ listen unix:{yes}; location / {{ return 200; }} }}\n}}\n",
                site = site.display(),
                root = root.display(),
                yes = yes.display(),
            ),
        )
        .expect("nginx.conf");
        let process = Proc(
            Command::new(binary)
                .args(["-p", &d.to_string(), "-e", &format!("{d}/error.log"), "-c", &conf.display().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start nginx"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { process, front, app, ceiling, front_socket }
    }
}

impl Drop for Nginx {
    /// A fast shutdown of the master, which ends its workers (a SIGKILL would leave them).
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.process.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && self.process.0.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One measured row.
struct Row {
    name: String,
    connections: u32,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    note: String,
    cpu: String,
}

impl Row {
    /// One row of two equally long measurements of the same thing: the mean rate and median,
    /// the worse p99, both notes and both CPU shares.
    fn and(self, other: Row) -> Row {
        let note = [self.note, other.note].into_iter().filter(|n| !n.is_empty()).collect::<Vec<_>>().join("; ");
        Row {
            rps: (self.rps + other.rps) / 2.0,
            p50_ms: (self.p50_ms + other.p50_ms) / 2.0,
            p99_ms: self.p99_ms.max(other.p99_ms),
            note,
            cpu: format!("{} | {}", self.cpu, other.cpu),
            ..self
        }
    }
}

/// CPU time (user + system, in clock ticks) a process has used so far, all its threads.
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// The SMTP sink's ceiling: `concurrency` clients on connections of their own (`TCP_NODELAY`),
/// each sending 4 KB mails in one write per step and waiting for every
/// reply, for `seconds`. Mails per second, the clients' own work included (they share the
/// machine with the sink, so this is a lower bound for the sink alone).
async fn sink_ceiling(port: u16, concurrency: usize, seconds: u32) -> f64 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // One reply, its continuation lines ("250-…") included; false at the end of the stream.
    async fn reply(reader: &mut BufReader<tokio::net::TcpStream>, line: &mut String) -> bool {
        loop {
            line.clear();
            match reader.read_line(line).await {
                Ok(n) if n > 3 && line.as_bytes()[3] == b'-' => continue,
                Ok(n) => return n > 0,
                Err(_) => return false,
            }
        }
    }
    // A 4 KB mail (a sign-in mail, text and HTML, is of that order), its closing dot included.
    let body = format!("Subject: ceiling\r\n\r\n{}.\r\n", format!("{}\r\n", "x".repeat(76)).repeat(52));
    let sent = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(u64::from(seconds));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let (sent, body) = (sent.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return };
            let _ = stream.set_nodelay(true);
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            if !reply(&mut stream, &mut line).await {
                return;
            }
            let _ = stream.get_mut().write_all(b"EHLO ceiling.bench\r\n").await;
            reply(&mut stream, &mut line).await;
            while Instant::now() < stop_at {
                for step in [
                    "MAIL FROM:<ceiling@bench.test>\r\n".to_owned(),
                    format!("RCPT TO:<ceiling-{i}@bench.test>\r\n"),
                    "DATA\r\n".to_owned(),
                    body.clone(),
                ] {
                    if stream.get_mut().write_all(step.as_bytes()).await.is_err()
                        || !reply(&mut stream, &mut line).await
                    {
                        return;
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    sent.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Busy clock ticks of the whole machine so far (everything but idle and iowait).
fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().take(8).sum();
    total - values.get(3).copied().unwrap_or(0) - values.get(4).copied().unwrap_or(0)
}

/// Who used the machine's CPU during a measurement, in cores: the server measured (latchkey, or
/// the floor program), Redis, this harness (the SMTP sink and the B3 clients) and the rest (wrk,
/// the kernel's softirqs, the host).
struct CpuShare {
    pids: [u32; 3],
    start: [u64; 3],
    busy: u64,
    at: Instant,
}

impl CpuShare {
    fn start(server: u32, redis: u32) -> Self {
        let pids = [server, redis, std::process::id()];
        Self { pids, start: Self::ticks(pids), busy: machine_busy_ticks(), at: Instant::now() }
    }

    /// Each process's ticks; the second's with its children's (nginx's workers, in the nginx
    /// rows; Redis has none).
    fn ticks(pids: [u32; 3]) -> [u64; 3] {
        let [server, second, harness] = pids;
        let children = std::fs::read_to_string(format!("/proc/{second}/task/{second}/children")).unwrap_or_default();
        let children: u64 = children.split_whitespace().filter_map(|c| c.parse().ok()).map(process_ticks).sum();
        [process_ticks(server), process_ticks(second) + children, process_ticks(harness)]
    }

    /// "server 1.21 · redis 0.48 · harness 0.00 · the rest 0.31 cores".
    fn finish(self) -> String {
        // Both /proc files count in clock ticks, 100 a second on Linux.
        let ticks = self.at.elapsed().as_secs_f64().max(0.001) * 100.0;
        let busy = machine_busy_ticks().saturating_sub(self.busy) as f64;
        let used: Vec<f64> = Self::ticks(self.pids)
            .iter()
            .zip(self.start)
            .map(|(now, start)| now.saturating_sub(start) as f64)
            .collect();
        let rest = (busy - used.iter().sum::<f64>()).max(0.0);
        let cores = |v: f64| v / ticks;
        format!(
            "server {:.2} · redis {:.2} · harness {:.2} · the rest {:.2} cores",
            cores(used[0]),
            cores(used[1]),
            cores(used[2]),
            cores(rest)
        )
    }
}

/// Parses wrk's `--latency` output: requests/s, p50 and p99 in ms, and the errors (non-2xx
/// answers and socket errors).
fn parse_wrk(out: &str) -> (f64, f64, f64, u64) {
    let ms = |v: &str| -> f64 {
        let v = v.trim();
        let (num, factor) = if let Some(n) = v.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (v, 1.0)
        };
        num.parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    let mut rps = f64::NAN;
    let (mut p50, mut p99, mut errors) = (f64::NAN, f64::NAN, 0);
    for line in out.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["Requests/sec:", v] => rps = v.parse().unwrap_or(f64::NAN),
            ["50%", v] => p50 = ms(v),
            ["99%", v] => p99 = ms(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(0),
            // "Socket errors: connect 0, read 0, write 0, timeout 0"
            ["Socket", "errors:", rest @ ..] => {
                errors += rest.iter().filter_map(|v| v.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>()
            }
            _ => {}
        }
    }
    (rps, p50, p99, errors)
}

fn wrk(url: &str, connections: u32, seconds: u32, extra: &[&str], script_args: &[&str]) -> (f64, f64, f64, u64) {
    let threads = 2.min(connections).to_string();
    let mut args = vec!["-t", &threads];
    let c = connections.to_string();
    let d = format!("{seconds}s");
    args.extend(["-c", &c, "-d", &d, "--latency", "--timeout", "10s"]);
    args.extend(extra);
    args.push(url);
    if !script_args.is_empty() {
        args.push("--");
        args.extend(script_args);
    }
    let out = Command::new("wrk").args(&args).output().expect("wrk is not installed (apt-get install wrk)");
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

/// One `wrk` run against `url` as a table row, with who used the CPU meanwhile (`pids`: the
/// server's — latchkey or the floor — and Redis's).
fn measure(
    name: &str,
    pids: (u32, u32),
    url: &str,
    connections: u32,
    seconds: u32,
    extra: &[&str],
    args: &[&str],
) -> Row {
    let cpu = CpuShare::start(pids.0, pids.1);
    let (rps, p50_ms, p99_ms, errors) = wrk(url, connections, seconds, extra, args);
    Row { name: name.to_owned(), connections, rps, p50_ms, p99_ms, note: errors_note(errors), cpu: cpu.finish() }
}

/// Peak resident memory of a process so far (VmHWM), in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The value of `name=` in a response's Set-Cookie headers.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(reqwest::header::SET_COOKIE).iter().find_map(|v| {
        let first = v.to_str().ok()?.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k.trim() == name && !v.is_empty()).then(|| v.trim().to_owned())
    })
}

/// `perf record` of one process, with call graphs through DWARF (the release build keeps no
/// frame pointers); stopped as perf expects, by SIGINT, so that it writes its file.
struct Profile(std::process::Child);

impl Profile {
    fn start(pid: u32, out: &str) -> Self {
        let perf = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,32768", "-o", out, "-p", &pid.to_string()])
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start perf (Debian's linux-perf): {e}"));
        // perf takes a moment to attach; the row must not start before it does.
        std::thread::sleep(Duration::from_millis(500));
        Self(perf)
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// One full sign-in: link requested, mail received, confirm page, redemption. The session
/// cookie's value.
async fn sign_in(client: &reqwest::Client, base: &str, waiters: &Waiters, email: &str) -> Result<String, String> {
    let (tx, rx) = oneshot::channel();
    waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(email.to_owned(), tx);
    let asked = client
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if asked.status() != reqwest::StatusCode::ACCEPTED {
        return Err(format!("login: {}", asked.status()));
    }
    let attempt = cookie(&asked, "__Host-attempt").ok_or("no attempt cookie")?;
    let token =
        tokio::time::timeout(Duration::from_secs(30), rx).await.map_err(|_| "no mail")?.map_err(|e| e.to_string())?;
    let page = client
        .get(format!("{base}/login/verify"))
        .query(&[("token", &token)])
        .header("Cookie", format!("__Host-attempt={attempt}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let csrf_cookie = cookie(&page, "__Host-csrf").ok_or("no csrf cookie")?;
    let html = page.text().await.map_err(|e| e.to_string())?;
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).ok_or("no csrf field")? + marker.len();
    let csrf = html[start..].split('"').next().unwrap_or_default().replace("&#38;", "&");
    let redeemed = client
        .post(format!("{base}/login/verify"))
        .header("Cookie", format!("__Host-attempt={attempt}; __Host-csrf={csrf_cookie}"))
        .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match cookie(&redeemed, "__Host-session") {
        Some(session) => Ok(session),
        None => {
            let status = redeemed.status();
            let body = redeemed.text().await.unwrap_or_default();
            let title = body.split("<h1>").nth(1).and_then(|t| t.split("</h1>").next()).unwrap_or("").to_owned();
            Err(format!("no session: {status} {title}"))
        }
    }
}

/// Waits until the outbox holds nothing (so one phase's mail does not load the next).
async fn drain(redis_url: &str, prefix: &str) {
    use latchkey::store::{Keys, OutboxStore, RedisQueue, RedisStore};
    let store = RedisStore::connect(redis_url, Keys::new(prefix)).expect("the bench Redis URL");
    let queue = RedisQueue::new(store.connection(), store.connection(), Keys::new(prefix));
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        match queue.outbox_stats().await {
            Ok(stats) if stats.ready + stats.in_flight + stats.scheduled == 0 => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    // A backlog left behind would be counted in the next figures: stop rather than mislead.
    panic!("the outbox did not drain within 300 s");
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seconds: u32 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let conns: Vec<u32> = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 256]);
    let signin_concurrency: usize =
        std::env::var("BENCH_SIGNIN_CONCURRENCY").ok().and_then(|s| s.parse().ok()).unwrap_or(128);
    let binary = std::env::var("LATCHKEY_BIN").unwrap_or_else(|_| "target/release/latchkey".to_owned());
    let floor_binary = std::env::var("FLOOR_BIN").unwrap_or_else(|_| "target/release/examples/floor".to_owned());
    let dir = std::env::temp_dir().join(format!("latchkey-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // Redis, private and in memory only.
    let redis_port = free_port();
    let _redis = Proc(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is not installed"),
    );
    let redis_pid = _redis.0.id();
    let redis_url = format!("redis://127.0.0.1:{redis_port}/");

    // The SMTP sink.
    let smtp_port = free_port();
    let received = Arc::new(AtomicU64::new(0));
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let sink = Sink { received: received.clone(), waiters: waiters.clone(), to: Vec::new(), data: Vec::new() };
    let listener = TcpListener::bind(("127.0.0.1", smtp_port)).expect("smtp port");
    smtp_server::serve_forever(listener, "sink.bench", sink);

    // latchkey, production-like, limits raised for the run: a "web" instance that only queues
    // mail (OUTBOX_WORKER=false), measured in B0–B2, and a default instance (it serves and
    // delivers) started when mail is to be delivered — so B2 measures what a link request
    // costs (store writes and the outbox entry), and delivery is measured on its own.
    let key = dir.join("jwt.pem");
    std::fs::write(&key, latchkey::session::SigningKey::generate_pem().expect("keygen")).expect("key file");
    let prefix = "bench:";
    // The starting policy, limits raised for the run: `store init` seeds it into the store, and
    // from then on the stored policy is the one in force (the instances' environment is only
    // a starting point), so init gets it too.
    let limit = "100000000/1m";
    let policy = [
        ("NEW_DEVICE_NOTICE", "false"),
        ("RATE_LIMIT_LOGIN_EMAIL", limit),
        ("RATE_LIMIT_LOGIN_IP", limit),
        ("RATE_LIMIT_REDEEM_FAILURES_IP", limit),
    ];
    // The store's identity, as a deployment's `latchkey store init` makes it (STORE_ID).
    let init = Command::new(&binary)
        .args(["store", "init"])
        .env_clear()
        .env("REDIS_URL", &redis_url)
        .env("REDIS_KEY_PREFIX", prefix)
        .envs(policy)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary} store init: {e}"));
    let init = String::from_utf8_lossy(&init.stdout).into_owned();
    let store_id = init.lines().find_map(|l| l.strip_prefix("STORE_ID=")).expect("store init printed no STORE_ID");
    let start = |deliver: bool| {
        let port = free_port();
        // A Unix socket too, for the row through it (examples/nginx.conf's commented line).
        let socket = dir.join(format!("latchkey-{port}.sock"));
        let child = Command::new(&binary)
            .env_clear()
            .env("APP_ENV", "production")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("BIND_SOCKET", &socket)
            // nginx's workers run as another user (`nobody`), in no group of the harness's.
            .env("BIND_SOCKET_MODE", "666")
            .env("PUBLIC_URL", "https://login.bench.test")
            .env("REDIS_URL", &redis_url)
            .env("REDIS_KEY_PREFIX", prefix)
            .env("STORE_ID", store_id)
            // The bench's Redis keeps nothing on disk (as before: the figures are comparable);
            // declared, as a managed Redis would be.
            .env("REDIS_DURABILITY", "managed")
            .env("MAIL_TRANSPORT", "smtp")
            .env("SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
            .env("MAIL_FROM", "latchkey <login@bench.test>")
            .env("SECRET_KEY", "bench-secret-key-bench-secret-key-bench-secret")
            .env("JWT_KEYS", &key)
            .envs(policy)
            .env("OUTBOX_WORKER", deliver.to_string())
            // Deliveries in flight at once, each on an SMTP connection of its own.
            .env("OUTBOX_CONCURRENCY", std::env::var("BENCH_OUTBOX_CONCURRENCY").unwrap_or_else(|_| "128".to_owned()))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".to_owned()))
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e} (run bench/run.sh, which builds it)"));
        (Proc(child), format!("http://127.0.0.1:{port}"), format!("unix:{}", socket.display()))
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    // Waits until `url` answers 2xx (a server's readiness or health check).
    let ready = |url: String| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                assert!(Instant::now() < deadline, "{url} did not answer in 30 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let (latchkey, base, socket) = start(false);
    let pid = latchkey.0.id();
    ready(format!("{base}/readyz")).await;
    let (courier, courier_base, _) = start(true);
    ready(format!("{courier_base}/readyz")).await;

    let session = sign_in(&client, &base, &waiters, "bench-first@bench.test").await.expect("a first sign-in");
    if let Ok(secs) = std::env::var("BENCH_HOLD") {
        // For profiling: leave everything running for a while, and say where.
        println!("latchkey pid {pid} at {base}; session cookie __Host-session={session}");
        tokio::time::sleep(Duration::from_secs(secs.parse().unwrap_or(120))).await;
        return;
    }
    drain(&redis_url, prefix).await;
    drop(courier);
    let cookie_header = format!("Cookie: __Host-session={session}");
    let script = dir.join("login.lua");
    std::fs::write(
        &script,
        r#"local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) counter = 0; tag = args[1] or "x" end
function request()
  counter = counter + 1
  local body = string.format('{"email":"b2-%s-%d-%d@bench.test"}', tag, tid, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"#,
    )
    .expect("wrk script");
    let script = script.to_string_lossy().into_owned();

    let command_count = commands_per_link_request(&client, &base, redis_port).await;
    let mut rows: Vec<Row> = Vec::new();
    let mut baseline: HashMap<u32, f64> = HashMap::new();
    let mut rss = Vec::new();
    let web = (pid, redis_pid);
    // B0 and B1 alternate, each in two halves in the order B0 B1 B1 B0, so that a change of
    // the host's speed during the run weighs on both alike (their ratio is the target).
    let mut verify_rows = Vec::new();
    for &c in &conns {
        let health = format!("{base}/healthz");
        let verify = format!("{base}/auth/verify");
        let half = seconds.div_ceil(2);
        let b0 = measure("B0 GET /healthz", web, &health, c, half, &[], &[]);
        let b1 = measure("B1 GET /auth/verify", web, &verify, c, half, &["-H", &cookie_header], &[]);
        let b1 = b1.and(measure("B1 GET /auth/verify", web, &verify, c, half, &["-H", &cookie_header], &[]));
        let b0 = b0.and(measure("B0 GET /healthz", web, &health, c, half, &[], &[]));
        baseline.insert(c, b0.rps);
        rows.push(b0);
        verify_rows.push(b1);
    }
    rows.extend(verify_rows);
    rss.push(("of the web instance after B1", peak_rss_mb(pid)));
    // Forward-auth as users run it: nginx with the shipped examples/nginx.conf in front of
    // latchkey, what it protects a static file; beside it, the same file with no check.
    let nginx_rows = {
        let nginx = Nginx::start(&dir, &base, &socket);
        let pids = (pid, nginx.process.0.id());
        let mut rows = Vec::new();
        for &c in &conns {
            let name = "N0 nginx: a static file";
            rows.push(measure(name, pids, &format!("http://127.0.0.1:{}/", nginx.app), c, seconds, &[], &[]));
        }
        for &c in &conns {
            let name = "N1 nginx: the same file behind auth_request → /auth/verify";
            let url = format!("http://127.0.0.1:{}/", nginx.front);
            rows.push(measure(name, pids, &url, c, seconds, &["-H", &cookie_header], &[]));
        }
        for &c in &conns {
            let name = "N1′ the same, latchkey through its Unix socket (the example's commented `server` line)";
            let url = format!("http://127.0.0.1:{}/", nginx.front_socket);
            rows.push(measure(name, pids, &url, c, seconds, &["-H", &cookie_header], &[]));
        }
        for &c in &conns {
            let name = "N2 ceiling: the same, an auth server that costs nothing (nginx `return 200`)";
            let url = format!("http://127.0.0.1:{}/", nginx.ceiling);
            rows.push(measure(name, pids, &url, c, seconds, &["-H", &cookie_header], &[]));
        }
        rows
    };
    rss.push(("of the web instance after N1", peak_rss_mb(pid)));
    for &c in &conns {
        let login = format!("{base}/api/v1/login");
        rows.push(measure("B2 POST /api/v1/login", web, &login, c, seconds, &["-s", &script], &[&format!("c{c}")]));
    }
    rss.push(("of the web instance after B2", peak_rss_mb(pid)));
    drop(latchkey);

    // The store's floor for B2 (bench/floor.rs): the same stack and latchkey's own store calls
    // for a link request with nothing else, then the same writes in a single round trip.
    let floor_port = free_port();
    let floor = Proc(
        Command::new(&floor_binary)
            .env_clear()
            .env("BIND_ADDR", format!("127.0.0.1:{floor_port}"))
            .env("REDIS_URL", &redis_url)
            .env("REDIS_KEY_PREFIX", "floor:")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {floor_binary}: {e} (run bench/run.sh, which builds it)")),
    );
    let floor_base = format!("http://127.0.0.1:{floor_port}");
    ready(format!("{floor_base}/healthz")).await;
    let floor_pids = (floor.0.id(), redis_pid);
    for (name, path) in [
        ("B2 floor: the store calls of a link request alone", "floor/store"),
        ("B2 floor: the same writes in one round trip", "floor/one-trip"),
    ] {
        for &c in &conns {
            let url = format!("{floor_base}/{path}");
            rows.push(measure(name, floor_pids, &url, c, seconds, &["-s", &script], &[&format!("f{c}")]));
        }
    }
    drop(floor);

    // Delivery: a default instance starts and sends B2's backlog.
    let backlog = received.load(Ordering::Relaxed);
    let (courier, courier_base, _) = start(true);
    let courier_pid = courier.0.id();
    let cpu = CpuShare::start(courier_pid, redis_pid);
    let started = Instant::now();
    drain(&redis_url, prefix).await;
    let drain_secs = started.elapsed().as_secs_f64();
    let delivered = received.load(Ordering::Relaxed) - backlog;
    let delivery = format!(
        "B2's backlog delivered by one default instance: {delivered} mails in {drain_secs:.1} s, {:.0} mails/s",
        delivered as f64 / drain_secs
    );
    let delivery_cpu = cpu.finish();
    ready(format!("{courier_base}/readyz")).await;
    let base = courier_base;
    let pid = courier_pid;

    // B3: whole sign-ins, each its own address, `signin_concurrency` at a time.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let profile = std::env::var("BENCH_PROFILE_B3").ok().map(|out| Profile::start(pid, &out));
    let cpu = CpuShare::start(pid, redis_pid);
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(u64::from(seconds));
    let mut tasks = Vec::new();
    for worker in 0..signin_concurrency {
        let (client, base, waiters) = (client.clone(), base.clone(), waiters.clone());
        let (done, failed, latencies) = (done.clone(), failed.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < stop_at {
                i += 1;
                let t = Instant::now();
                match sign_in(&client, &base, &waiters, &format!("b3-{worker}-{i}@bench.test")).await {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        latencies.lock().unwrap_or_else(|e| e.into_inner()).push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("sign-in failed: {e}");
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(profile) = profile {
        profile.stop();
    }
    let mut lat = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    let failed = failed.load(Ordering::Relaxed);
    rows.push(Row {
        name: "B3 full sign-ins (request → mail → redeem → session)".into(),
        connections: signin_concurrency as u32,
        rps: done.load(Ordering::Relaxed) as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        note: if failed > 0 { format!("{failed} failed") } else { String::new() },
        cpu: cpu.finish(),
    });
    rss.push(("of the delivering instance after its deliveries and B3", peak_rss_mb(pid)));

    // The sink's own ceiling beside B3: it must not be what limits B3.
    // No server in this row: the sink and its clients are the harness.
    let cpu = CpuShare::start(0, redis_pid);
    let ceiling = sink_ceiling(smtp_port, signin_concurrency, seconds).await;
    rows.push(Row {
        name: "SMTP sink ceiling: raw SMTP clients in the harness, a mail per exchange".into(),
        connections: signin_concurrency as u32,
        rps: ceiling,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        note: "mails/s, the clients' own work included".into(),
        cpu: cpu.finish(),
    });

    // For comparison: B2 on the instance that also delivers, the mail sent as it is queued.
    let name = "B2′ POST /api/v1/login, on an instance that also delivers";
    let login = format!("{base}/api/v1/login");
    rows.push(measure(name, (pid, redis_pid), &login, conns[0], seconds, &["-s", &script], &["mixed"]));
    drain(&redis_url, prefix).await;
    drop(courier);

    // The store's ceiling for the same kinds of command.
    let redis_bench = Command::new("redis-benchmark")
        .args(["-p", &redis_port.to_string(), "-q", "-n", "200000", "-c", "64", "-t", "get,set,incr,hset,xadd"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("redis-benchmark failed: {e}"));

    println!("| scenario | connections | requests/s | p50 ms | p99 ms | ratio to B0 | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for row in &rows {
        let ratio = baseline.get(&row.connections).map_or(String::from("–"), |b0| format!("{:.2}", row.rps / b0));
        let ratio = if row.name.starts_with("B3") || row.name.starts_with("SMTP") { "–".to_owned() } else { ratio };
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            row.name, row.connections, row.rps, row.p50_ms, row.p99_ms, ratio, row.note
        );
    }
    println!();
    println!("| nginx | connections | requests/s | p50 ms | p99 ms | ratio to N0 | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for row in &nginx_rows {
        let n0 = nginx_rows.iter().find(|r| r.name.starts_with("N0") && r.connections == row.connections);
        let ratio = n0.map_or(String::from("–"), |n0| format!("{:.2}", row.rps / n0.rps));
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            row.name, row.connections, row.rps, row.p50_ms, row.p99_ms, ratio, row.note
        );
    }
    for n1 in nginx_rows.iter().filter(|r| r.name.starts_with("N1")) {
        let n2 = nginx_rows.iter().find(|r| r.name.starts_with("N2") && r.connections == n1.connections);
        if let Some(n2) = n2 {
            println!(
                "{} / N2 @ {}: {:.2} (latchkey's check against one that costs nothing)",
                n1.name.split(' ').next().unwrap_or("N1"),
                n1.connections,
                n1.rps / n2.rps
            );
        }
    }
    println!();
    println!(
        "Where the CPU went during each row (cores in use, of {}):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for row in rows.iter().chain(&nginx_rows) {
        println!("    {} @ {}: {}", row.name, row.connections, row.cpu);
    }
    println!("    (in the nginx rows the second figure, \"redis\", is nginx, its workers included)");
    println!();
    for (when, mb) in rss {
        println!("peak RSS of latchkey {when}: {mb:.1} MB");
    }
    println!("{delivery}");
    println!("    CPU while delivering: {delivery_cpu}");
    println!("mails received by the sink: {}", received.load(Ordering::Relaxed));
    println!("{command_count}");
    println!();
    println!("redis-benchmark -c 64 -n 200000 (requests/s):");
    for line in redis_bench.lines().filter(|l| !l.trim().is_empty()) {
        println!("    {}", line.trim().rsplit('\r').next().unwrap_or(line).trim());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Redis commands one link request costs on the instance at `base`, seen through
/// `redis-cli MONITOR` between two markers: the commands latchkey sent (a script call is one)
/// and all the commands Redis ran (the scripts' own too). Reads of the shared policy and of
/// the store's identity (every 2 s at most, not per request) are left out. A line for the
/// results.
async fn commands_per_link_request(client: &reqwest::Client, base: &str, redis_port: u16) -> String {
    use std::io::BufRead;
    let port = redis_port.to_string();
    let mut monitor = Proc(
        Command::new("redis-cli")
            .args(["-p", &port, "monitor"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli (redis-tools) is not installed"),
    );
    let stdout = monitor.0.stdout.take().expect("MONITOR's output");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Sends `marker` until MONITOR shows it; returns the lines before it.
    let mark = |marker: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = Vec::new();
        loop {
            let _ = Command::new("redis-cli").args(["-p", &port, "ECHO", marker]).output();
            while let Ok(line) = seen.recv_timeout(Duration::from_millis(100)) {
                if line.contains(marker) {
                    return before;
                }
                before.push(line);
            }
            assert!(Instant::now() < deadline, "MONITOR never showed {marker}");
        }
    };
    mark("bench-count-start");
    let response = client
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({ "email": "counted@bench.test" }))
        .send()
        .await
        .expect("a counted link request");
    assert!(response.status().is_success(), "the counted link request got {}", response.status());
    let commands: Vec<(String, bool)> = mark("bench-count-end")
        .iter()
        .filter(|l| !l.contains("\"ECHO\"") && !l.contains("policy\"") && !l.contains(":store\""))
        .filter_map(|l| {
            let name = l.split("] \"").nth(1)?.split('"').next()?;
            Some((name.to_uppercase(), l.contains(" lua] ")))
        })
        .collect();
    drop(monitor);
    let sent: Vec<&str> = commands.iter().filter(|(_, lua)| !lua).map(|(name, _)| name.as_str()).collect();
    format!(
        "Redis commands per link request (POST /api/v1/login, through MONITOR): {} sent ({}); {} run in Redis, the \
         scripts' own included",
        sent.len(),
        sent.join(" "),
        commands.len()
    )
}

fn errors_note(errors: u64) -> String {
    if errors > 0 { format!("{errors} errors (non-2xx or socket)") } else { String::new() }
}
