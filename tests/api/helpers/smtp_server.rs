//! An SMTP server for tests and the benchmark: the `mailin` protocol state machine, a thread
//! per connection, as a real server serves every client at once (a fixed pool of threads would
//! be held by the idle connections an app's SMTP pool keeps, and other connections would wait
//! unanswered). What arrives goes to the caller's `mailin::Handler`. Included by
//! `tests/api/helpers/smtp.rs` and by `bench/bench.rs` (`#[path]`): the standard library and
//! `mailin` only.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

use mailin::{Action, Handler, SessionBuilder};

/// Serves every connection to `listener` with a clone of `handler`, on threads of its own,
/// for as long as the process lives.
pub fn serve_forever<H: Handler + Clone + Send + 'static>(listener: TcpListener, name: &'static str, handler: H) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || converse(stream, name, handler));
        }
    });
}

/// One SMTP conversation, until the client quits or goes away.
fn converse<H: Handler>(stream: TcpStream, name: &str, handler: H) {
    let Ok(remote) = stream.peer_addr() else { return };
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut session = SessionBuilder::new(name).build(remote.ip(), handler);
    if session.greeting().buffer().and_then(|greeting| writer.write_all(&greeting)).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = session.process(&line);
        // A reply goes out in one write, as real servers send it: `Response::write_to` writes
        // its code, text and line end separately, and with Nagle's algorithm each part after
        // the first would wait for the client's delayed acknowledgement (40 ms).
        let Ok(bytes) = reply.buffer() else { return };
        match reply.action {
            Action::NoReply => continue,
            // No STARTTLS is offered, so no upgrade is ever asked for.
            Action::Reply | Action::UpgradeTls => {
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = writer.write_all(&bytes);
                return;
            }
        }
    }
}
