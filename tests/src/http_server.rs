//! A tiny HTTP/1.1 server on 127.0.0.1 for the `http` suite: one thread
//! accepts, one thread per connection answers one request and closes.
//!
//! Routes (anything else is 404):
//! - `/ok`: 200, body [`OK_BODY`];
//! - `/redirect`: 302 to `/secret-target` on the same server;
//! - `/secret-target`: 200 (a test asserts it is never fetched);
//! - `/huge`: 200 with [`HUGE_LEN`] bytes (above the 4 MiB response cap);
//! - `/slow`: waits [`SLOW_DELAY`] before answering;
//! - `/post`: reads the request body and answers 200.
//!
//! Every request is recorded (method, path and the body bytes that arrived)
//! so a test can tell what reached the server and what did not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const OK_BODY: &str = "hello from the test server";
pub const HUGE_LEN: usize = 5 * 1024 * 1024;
pub const SLOW_DELAY: Duration = Duration::from_secs(5);

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Body bytes received (only read for `/post`).
    pub body_len: usize,
}

/// A running server; it lives until the test process exits.
pub struct TestServer {
    pub port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    // A peer that gives up (a cap, a timeout) just ends the
                    // connection; that is expected, not a server failure.
                    let _ = handle(stream, &recorded);
                });
            }
        });
        TestServer { port, hits }
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request seen so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The paths requested so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.hits().into_iter().map(|h| h.path).collect()
    }
}

fn handle(stream: TcpStream, hits: &Mutex<Vec<Hit>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }

    let index = {
        let mut hits = hits.lock().unwrap();
        hits.push(Hit {
            method,
            path: path.clone(),
            body_len: 0,
        });
        hits.len() - 1
    };

    let mut out = stream;
    match path.as_str() {
        "/ok" | "/secret-target" => respond(&mut out, "200 OK", &[], OK_BODY.as_bytes()),
        "/redirect" => respond(
            &mut out,
            "302 Found",
            &["Location: /secret-target"],
            b"moved",
        ),
        "/huge" => respond(&mut out, "200 OK", &[], &vec![b'x'; HUGE_LEN]),
        "/slow" => {
            std::thread::sleep(SLOW_DELAY);
            respond(&mut out, "200 OK", &[], b"too late")
        }
        "/post" => {
            let mut received = 0usize;
            let mut buf = [0u8; 64 * 1024];
            while received < content_length {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        received += n;
                        hits.lock().unwrap()[index].body_len = received;
                    }
                }
            }
            respond(
                &mut out,
                "200 OK",
                &[],
                format!("got {received}").as_bytes(),
            )
        }
        _ => respond(&mut out, "404 Not Found", &[], b"no such path"),
    }
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n",
        body.len()
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}
