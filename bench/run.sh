#!/usr/bin/env bash
# The benchmark harness: builds release, then runs bench/bench.rs, which starts a private Redis,
# an SMTP sink and latchkey (production-like), drives it with wrk and prints one table, and the
# Redis commands one link request costs (seen through redis-cli MONITOR). Forward-auth is also
# measured through nginx running examples/nginx.conf, beside nginx serving a static file, beside
# the same configuration reaching latchkey through its Unix socket (the example's commented
# `server` line), and beside it in front of an auth server that costs nothing (nginx answering
# 200 itself), the ceiling of forward-auth through nginx on the machine. B0 and B1 alternate
# (halves in the order B0 B1 B1 B0), so that a change of the host's speed weighs on both alike.
# Options (environment): BENCH_SECONDS (10), BENCH_CONNECTIONS (64,256),
# BENCH_SIGNIN_CONCURRENCY (128), BENCH_OUTBOX_CONCURRENCY (128), BENCH_RUST_LOG (warn),
# BENCH_HOLD=<secs> (set everything up, print the address, wait: for profiling),
# BENCH_PROFILE_B3=<file> (perf record of the serving instance during B3, into <file>).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The binary measured is built on its own, as `cargo build --release` builds it for a deployment:
# built in one invocation with the examples, it would get the features the dev-dependencies turn
# on in shared crates (rustls's aws-lc-rs provider, hickory's DNSSEC and TLS, hyper's server and
# HTTP/2 among them), 1.4 MB more code than the binary people run.
cargo build --release --bin latchkey
cargo build --release --example bench --example floor
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
LATCHKEY_BIN=target/release/latchkey FLOOR_BIN=target/release/examples/floor target/release/examples/bench
