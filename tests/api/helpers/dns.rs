//! A DNS server on loopback (UDP, answers from a table the test fills), so DNS lookups are
//! tested without the network: the app's `DNS_RESOLVER` and the independent DKIM verifier
//! point at it. Names with no record at all get NXDOMAIN; names with records of other types
//! an empty NOERROR (NODATA). A silent server reads nothing and answers nothing; a held one
//! answers once the test releases it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// A record the server answers with.
#[derive(Debug, Clone)]
pub enum Rr {
    /// A TXT record of one or more strings (joined by readers).
    Txt(Vec<String>),
    /// An MX record: preference and exchange (`.` for RFC 7505's "no mail").
    Mx(u16, String),
    /// An A record.
    A(Ipv4Addr),
}

impl Rr {
    /// A TXT record of one string, split into 255-byte DNS strings when longer.
    pub fn txt(text: &str) -> Self {
        Self::Txt(text.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect())
    }

    fn record_type(&self) -> RecordType {
        match self {
            Self::Txt(_) => RecordType::TXT,
            Self::Mx(..) => RecordType::MX,
            Self::A(_) => RecordType::A,
        }
    }

    fn rdata(&self) -> RData {
        match self {
            Self::Txt(strings) => RData::TXT(TXT::new(strings.clone())),
            Self::Mx(preference, exchange) => {
                RData::MX(MX::new(*preference, Name::from_str(&fqdn(exchange)).expect("an MX exchange name")))
            }
            Self::A(ip) => RData::A(A(*ip)),
        }
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_ascii_lowercase() } else { format!("{}.", name.to_ascii_lowercase()) }
}

/// A running DNS server; records can be added while it runs.
#[derive(Clone)]
pub struct DnsServer {
    /// Where it listens (`127.0.0.1:<port>`), for `DNS_RESOLVER`.
    pub addr: SocketAddr,
    zone: Arc<Mutex<BTreeMap<String, Vec<Rr>>>>,
    queries: Arc<Mutex<Vec<String>>>,
    /// Open: answers go out (see [`DnsServer::held`]).
    gate: Arc<(Mutex<bool>, Condvar)>,
    _socket: Arc<UdpSocket>,
}

impl DnsServer {
    /// A server answering from `records` (name, record).
    pub fn start(records: &[(&str, Rr)]) -> Self {
        Self::serve(records, true)
    }

    /// A server answering from `records` once [`DnsServer::release`] is called. Until then it
    /// reads the first question (it is in [`DnsServer::queries`]) and holds its answer; the
    /// questions after it wait unread.
    pub fn held(records: &[(&str, Rr)]) -> Self {
        Self::serve(records, false)
    }

    /// Lets a held server answer, from now on at once.
    pub fn release(&self) {
        let (open, changed) = &*self.gate;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }

    fn serve(records: &[(&str, Rr)], open: bool) -> Self {
        let server = Self::bind();
        *server.gate.0.lock().unwrap() = open;
        for (name, rr) in records {
            server.add(name, rr.clone());
        }
        let (socket, zone, queries) = (server._socket.clone(), server.zone.clone(), server.queries.clone());
        let gate = server.gate.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                let response = answer(&query, &zone.lock().unwrap(), &queries);
                let (open, changed) = &*gate;
                drop(changed.wait_while(open.lock().unwrap(), |open| !*open).unwrap());
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer);
                }
            }
        });
        server
    }

    /// A server that never answers (a resolver that times out).
    pub fn silent() -> Self {
        Self::bind()
    }

    fn bind() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        Self {
            addr: socket.local_addr().unwrap(),
            zone: Arc::default(),
            queries: Arc::default(),
            gate: Arc::default(),
            _socket: Arc::new(socket),
        }
    }

    /// Adds a record.
    pub fn add(&self, name: &str, rr: Rr) {
        self.zone.lock().unwrap().entry(fqdn(name)).or_default().push(rr);
    }

    /// `DNS_RESOLVER`'s value for this server.
    pub fn resolver(&self) -> String {
        self.addr.to_string()
    }

    /// Every question asked so far, as `name TYPE`.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

fn answer(query: &Message, zone: &BTreeMap<String, Vec<Rr>>, log: &Mutex<Vec<String>>) -> Message {
    let mut response = Message::new();
    response
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let Some(question) = query.queries().first() else {
        response.set_response_code(ResponseCode::FormErr);
        return response;
    };
    response.add_query(question.clone());
    let name = question.name().to_ascii().to_ascii_lowercase();
    log.lock().unwrap().push(format!("{} {}", name.trim_end_matches('.'), question.query_type()));
    match zone.get(&name) {
        None => {
            response.set_response_code(ResponseCode::NXDomain);
        }
        Some(records) => {
            response.set_response_code(ResponseCode::NoError);
            for rr in records.iter().filter(|rr| rr.record_type() == question.query_type()) {
                response.add_answer(Record::from_rdata(question.name().clone(), 60, rr.rdata()));
            }
        }
    }
    response
}
