//! The shipped `examples/nginx.conf` with only its addresses changed and TLS left out: what
//! the browser suite runs (tests/e2e/nginx.rs) and what the benchmark puts in front of
//! latchkey (bench/bench.rs includes this file).

use std::path::Path;

/// The example, with the addresses of this test's latchkey (`unix:/path` of its `BIND_SOCKET`,
/// or `http://host:port`) and app, and TLS left out.
/// Fails if the example no longer has a line the test expects to replace, so the file the
/// README shows is the file that was tested.
pub fn site_config(port: u16, latchkey: &str, app: &str) -> String {
    let example_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nginx.conf");
    let example = std::fs::read_to_string(&example_path).expect("examples/nginx.conf");
    let mut out = String::new();
    let mut replaced = [false; 4];
    for line in example.lines() {
        let trimmed = line.trim_start();
        let line = if trimmed.starts_with("listen 443 ssl;") {
            replaced[0] = true;
            format!("    listen 127.0.0.1:{port};")
        } else if trimmed.starts_with("ssl_certificate") {
            replaced[1] = true;
            continue;
        } else if trimmed.starts_with("server 127.0.0.1:8080;") {
            replaced[2] = true;
            line.replace("127.0.0.1:8080", &upstream_server(latchkey))
        } else if trimmed.starts_with("server 127.0.0.1:3000;") {
            replaced[3] = true;
            line.replace("127.0.0.1:3000", host_port(app))
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(
        replaced, [true; 4],
        "examples/nginx.conf changed shape: the test replaces `listen 443 ssl;`, the `ssl_certificate*` lines, \
         `server 127.0.0.1:8080;` (latchkey) and `server 127.0.0.1:3000;` (the app), in its `upstream` blocks"
    );
    out
}

/// An `upstream` block's `server` for `address`: `unix:/path` as it is, `127.0.0.1:1234` of
/// `http://127.0.0.1:1234` (it takes no scheme).
fn upstream_server(address: &str) -> String {
    if address.starts_with("unix:") { address.to_owned() } else { host_port(address).to_owned() }
}

/// `127.0.0.1:1234` of `http://127.0.0.1:1234`.
fn host_port(address: &str) -> &str {
    let address = address.trim_end_matches('/');
    address.split_once("://").map_or(address, |(_, rest)| rest)
}
