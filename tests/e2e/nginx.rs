//! A real nginx running the shipped `examples/nginx.conf`, with only its addresses changed.

use std::path::Path;

use crate::nginx_site::site_config;
use crate::tools::{Guarded, TempDir, wait_for_port};

/// A running nginx (plain http on 127.0.0.1: TLS is the one thing the test leaves out);
/// stopped on drop.
pub struct Nginx {
    _process: Guarded,
    /// Where its config and logs are.
    pub dir: TempDir,
}

impl Nginx {
    /// Starts `nginx` (single process, in the foreground, everything under a temp dir) with
    /// [`site_config`] included in its `http` block, listening on `port`.
    pub async fn start(nginx: &Path, port: u16, latchkey: &str, app: &str) -> Self {
        let dir = TempDir::new("nginx");
        let site = dir.0.join("site.conf");
        std::fs::write(&site, site_config(port, latchkey, app)).expect("write site.conf");
        let d = dir.0.display();
        let main = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  log_format e2e '$request_method $uri origin=$http_origin site=$http_sec_fetch_site status=$status';\n  \
             access_log {d}/access.log e2e;\n  client_body_temp_path {d}/client_body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
             scgi_temp_path {d}/scgi;\n  include {site};\n}}\n",
            site = site.display()
        );
        let conf = dir.0.join("nginx.conf");
        std::fs::write(&conf, main).expect("write nginx.conf");
        let log = dir.0.join("stderr.log");
        let args: Vec<String> =
            ["-p", &d.to_string(), "-e", &format!("{d}/error.log"), "-c", &conf.display().to_string()]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let mut process = Guarded::spawn(nginx, &args, &log);
        wait_for_port(port, "nginx", &mut process, &dir.0.join("error.log")).await;
        Self { _process: process, dir }
    }

    /// nginx's access log so far: `METHOD /path origin=… site=… status=…` per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("access.log")).unwrap_or_default()
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("error.log")).unwrap_or_default()
    }
}
