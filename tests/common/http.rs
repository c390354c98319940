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

/// What one host's load saw: how many answers were 200, the others, and
/// what answered (`key` of each 200 body), in the order each first did.
#[derive(Default)]
pub struct Seen {
    pub ok: usize,
    pub failed: Vec<String>,
    pub answers: Vec<String>,
}

/// Sequential GETs of `path` on `addr` until `stop`, at most about 200 a
/// second, so the load stays bounded on a shared machine.
pub fn load(
    addr: Ipv4Addr,
    path: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    key: fn(String) -> String,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut seen = Seen::default();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let started = Instant::now();
            match get(addr, path) {
                Ok(answer) if answer.status == 200 => {
                    seen.ok += 1;
                    let answered = key(answer.body);
                    if seen.answers.last() != Some(&answered) {
                        seen.answers.push(answered);
                    }
                }
                other => seen.failed.push(format!("{other:?}")),
            }
            if let Some(rest) = Duration::from_millis(5).checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        seen
    })
}
