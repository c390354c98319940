//! HTTP GETs from the machine to a test host, as a browser would make them:
//! what nginx and the app answer is what a user sees.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET path` on port 80 of `addr`, HTTP/1.0 so the server closes when done.
pub fn get(addr: Ipv4Addr, path: &str) -> std::io::Result<Response> {
    get_at(addr, 80, path)
}

/// `GET path` on `port` of `addr`.
pub fn get_at(addr: Ipv4Addr, port: u16, path: &str) -> std::io::Result<Response> {
    get_host(addr, port, path, &addr.to_string())
}

/// The first 200 answer within `limit` (an app takes a moment to boot);
/// fails the test with the last answer otherwise.
pub fn get_ok(addr: Ipv4Addr, path: &str, limit: Duration) -> Response {
    let deadline = Instant::now() + limit;
    loop {
        let answer = get(addr, path);
        match answer {
            Ok(response) if response.status == 200 => return response,
            _ if Instant::now() > deadline => panic!("GET http://{addr}{path}: {answer:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `GET path` on `port` of `addr` with `host` as the Host header: what a
/// browser asks a name-based site (or an app that checks ALLOWED_HOSTS).
pub fn get_host(addr: Ipv4Addr, port: u16, path: &str, host: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Response {
        status,
        body: body.to_string(),
    })
}
