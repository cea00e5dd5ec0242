//! One tenant cannot degrade the others: a manager whose flavor is slow,
//! driven at full load, leaves another manager's reads as fast as they were
//! unloaded (its own excess requests are answered `503` or `429` with
//! `Retry-After`); a client dribbling request bodies over many connections
//! is cut off at the body timeout, its token held to its requests in
//! flight and its address to its connection limit, while health checks
//! keep answering; and one address past its
//! connection limit is refused at once while another is served.
//!
//! Latencies are judged against a baseline measured in the same test
//! (medians, a generous factor plus a margin), never against a wall-clock
//! bound alone: the machine may be loaded. The second address is
//! 127.0.0.2, which Linux routes to loopback.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flavorbox_tests::guests;
use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::serve_node::{Node, call_port};
use serde_json::json;

use crate::{register_on, start_with, token};

/// The address the misbehaving client connects from.
const OTHER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// How many latency samples a median is taken over.
const SAMPLES: usize = 15;

/// A connection to the node on `port` from the local address `source`.
fn connect_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(socket.into())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The median time of [`SAMPLES`] runs of `request`, `pause` apart.
fn median_of(pause: Duration, request: impl Fn()) -> Duration {
    let samples = (0..SAMPLES)
        .map(|_| {
            std::thread::sleep(pause);
            let start = Instant::now();
            request();
            start.elapsed()
        })
        .collect();
    median(samples)
}

/// `loaded` is within noise of `unloaded`: at most 5 times it plus 100 ms.
#[track_caller]
fn assert_within_noise(what: &str, unloaded: Duration, loaded: Duration) {
    let bound = unloaded * 5 + Duration::from_millis(100);
    eprintln!("{what}: median {unloaded:?} unloaded, {loaded:?} loaded (bound {bound:?})");
    assert!(
        loaded <= bound,
        "{what}: median {loaded:?} under load, {unloaded:?} without (bound {bound:?})"
    );
}

/// `GET /v1/health` on `node`, which must answer `200`.
fn health(node: &Node) {
    let answer = node.call("GET", "/v1/health", None, None);
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[test]
fn a_slow_manager_at_full_load_leaves_another_managers_reads_fast() {
    let url = Postgres::shared().database();
    // Every operation of `hostile_slow` sleeps 400 ms, under its deadline.
    register_on(&url, guests::HOSTILE_SLOW, "slow", &["--timeout", "5"]);
    let slow = token(&url, "slow", "write", &[]);
    let other = token(&url, "default", "write", &[]);
    // A call slot not free within 300 ms (less than one slow call) is
    // `503`; a token's 17th request in flight `429`.
    let flags = ["--call-wait-ms", "300", "--token-requests", "16"];
    let node = start_with(&url, &flags);
    for (manager, token) in [("slow", &slow), ("default", &other)] {
        let created = node.call(
            "POST",
            &format!("/v1/managers/{manager}/secrets"),
            Some(token),
            Some(json!({ "name": "s", "values": { "k": "v" } })),
        );
        assert_eq!(created.status, 201, "{created:?}");
    }
    let read_other = || {
        let answer = node.call("GET", "/v1/managers/default/secrets/s", Some(&other), None);
        assert_eq!(answer.status, 200, "{answer:?}");
    };
    read_other();
    let unloaded = median_of(Duration::from_millis(20), read_other);

    // 40 clients of the slow manager, each asking again as soon as it is
    // answered (a refused one after 200 ms).
    let stop = AtomicBool::new(false);
    let (served, busy, token_busy) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let wrong = Mutex::new(Vec::new());
    let port = node.port;
    let loaded = std::thread::scope(|s| {
        for _ in 0..40 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let answer =
                        call_port(port, "GET", "/v1/managers/slow/secrets/s", Some(&slow), "");
                    let counter = match answer.status {
                        200 => &served,
                        503 => &busy,
                        429 => &token_busy,
                        _ => {
                            wrong.lock().unwrap().push(format!("{answer:?}"));
                            return;
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if answer.status != 200 {
                        if answer.header("retry-after") != Some("1") {
                            wrong
                                .lock()
                                .unwrap()
                                .push(format!("no Retry-After: {answer:?}"));
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            });
        }
        // Let the load fill the slow manager's slots, then measure.
        std::thread::sleep(Duration::from_secs(1));
        let busy_before = busy.load(Ordering::Relaxed);
        let loaded = median_of(Duration::from_millis(50), read_other);
        let busy_during = busy.load(Ordering::Relaxed) - busy_before;
        stop.store(true, Ordering::Relaxed);
        eprintln!("{busy_during} requests of the slow manager answered 503 while measuring");
        loaded
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(wrong.is_empty(), "unexpected answers: {wrong:?}");
    let (served, busy, token_busy) = (
        served.into_inner(),
        busy.into_inner(),
        token_busy.into_inner(),
    );
    eprintln!("slow manager: {served} served, {busy} answered 503, {token_busy} answered 429");
    assert_within_noise("another manager's GET", unloaded, loaded);
    assert!(served > 0, "the slow manager was served too");
    assert!(
        busy > 0,
        "its excess calls found no slot and were answered 503"
    );
    assert!(
        token_busy > 0,
        "its token's excess requests were answered 429"
    );
}

/// What became of one connection that dribbled a request body.
struct Dribbled {
    /// From connecting to the connection's end.
    lasted: Duration,
    /// What the node sent before closing (a `408`, or nothing).
    answer: Vec<u8>,
}

/// Connects from [`OTHER_ADDRESS`], sends the headers of a `POST` of a
/// 4 KiB body with `token`, then the body one byte per 300 ms until the
/// node closes the connection or `give_up` passes.
fn dribble(port: u16, token: &str, give_up: Duration) -> Dribbled {
    let start = Instant::now();
    let ended = |answer| Dribbled {
        lasted: start.elapsed(),
        answer,
    };
    let Ok(mut stream) = connect_from(OTHER_ADDRESS, port) else {
        return ended(Vec::new());
    };
    let head = format!(
        "POST /v1/managers/default/secrets HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 4096\r\n\r\n{{"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return ended(Vec::new());
    }
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while start.elapsed() < give_up {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stream.write_all(b" ").is_err() {
                    break;
                }
            }
            // Reset: closed.
            Err(_) => break,
        }
    }
    ended(answer)
}

#[test]
fn a_client_dribbling_bodies_is_cut_off_and_health_keeps_answering() {
    let url = Postgres::shared().database();
    let write = token(&url, "default", "write", &[]);
    let flags = [
        "--body-timeout",
        "2",
        "--peer-connections",
        "32",
        "--token-requests",
        "16",
    ];
    let node = start_with(&url, &flags);
    health(&node);
    let unloaded = median_of(Duration::from_millis(20), || health(&node));

    // 80 connections from one address, each dribbling a body; the test
    // gives up on one after 30 s (before the bound, the node held one 70 s).
    let give_up = Duration::from_secs(30);
    let port = node.port;
    let (loaded, dribbled) = std::thread::scope(|s| {
        let dribblers: Vec<_> = (0..80)
            .map(|_| s.spawn(|| dribble(port, &write, give_up)))
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let loaded = median_of(Duration::from_millis(50), || health(&node));
        let dribbled: Vec<Dribbled> = dribblers.into_iter().map(|d| d.join().unwrap()).collect();
        (loaded, dribbled)
    });
    assert_within_noise("GET /v1/health", unloaded, loaded);

    let body_timeout = Duration::from_secs(2);
    let answered = |status: &[u8]| -> Vec<&Dribbled> {
        dribbled
            .iter()
            .filter(|d| d.answer.starts_with(status))
            .collect()
    };
    let (cut_off, token_busy) = (answered(b"HTTP/1.1 408"), answered(b"HTTP/1.1 429"));
    let closed_unread = dribbled
        .iter()
        .filter(|d| d.answer.is_empty() && d.lasted < body_timeout)
        .count();
    let slowest = dribbled.iter().map(|d| d.lasted).max().unwrap();
    eprintln!(
        "80 dribbling connections: {} answered 408, {} answered 429, {closed_unread} closed \
         unread; the last closed after {slowest:?}",
        cut_off.len(),
        token_busy.len()
    );
    assert!(
        slowest < give_up / 2,
        "every dribbling connection is closed soon after the body timeout; one lasted {slowest:?}"
    );
    assert_eq!(
        cut_off.len() + token_busy.len() + dribbled.iter().filter(|d| d.answer.is_empty()).count(),
        dribbled.len(),
        "each dribbler is answered 408 or 429, or closed unanswered"
    );
    // The body bound: a request whose body is still arriving after it is
    // answered 408, and its connection closed.
    assert!(!cut_off.is_empty(), "the node answers a late body 408");
    for d in &cut_off {
        assert!(
            d.lasted >= body_timeout,
            "cut off before the bound: {:?}",
            d.lasted
        );
        let text = String::from_utf8_lossy(&d.answer).to_ascii_lowercase();
        assert!(text.contains("connection: close"), "{text}");
    }
    // The token's bound: at most its 16 requests were in flight; the
    // others it sent were answered 429 at once.
    assert!(
        cut_off.len() <= 16,
        "{} requests of one token in flight",
        cut_off.len()
    );
    for d in &token_busy {
        let text = String::from_utf8_lossy(&d.answer).to_ascii_lowercase();
        assert!(text.contains("retry-after: 1"), "{text}");
    }
    // The address's bound: at most its 32 connections were served; the
    // rest were closed as soon as they were accepted.
    assert!(
        closed_unread >= 80 - 32,
        "only {closed_unread} of 80 connections were refused past the limit of 32"
    );
}

/// Sends `GET /v1/health` on `stream` (kept alive) and reads the answer's
/// head and its `Content-Length` body; the status, or `None` if the
/// connection ended first.
fn health_on(stream: &mut TcpStream) -> Option<u16> {
    let request = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    stream.write_all(request).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse().ok())
            .expect("the health answer has a Content-Length");
        if body.len() >= length {
            return head.split_whitespace().nth(1)?.parse().ok();
        }
    }
}

#[test]
fn an_address_past_its_connection_limit_is_refused_while_another_is_served() {
    let url = Postgres::shared().database();
    let node = start_with(&url, &["--peer-connections", "4"]);
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = connect_from(OTHER_ADDRESS, node.port).unwrap();
            assert_eq!(health_on(&mut stream), Some(200));
            stream
        })
        .collect();

    // A fifth connection from that address is closed unanswered, at once.
    let refused_at = Instant::now();
    let mut fifth = connect_from(OTHER_ADDRESS, node.port).unwrap();
    assert_eq!(
        health_on(&mut fifth),
        None,
        "the fifth connection is refused"
    );
    let refused_in = refused_at.elapsed();
    assert!(
        refused_in < Duration::from_secs(10),
        "refused in {refused_in:?}"
    );

    // Meanwhile another address is served, and so are the four held.
    health(&node);
    for stream in &mut held {
        assert_eq!(health_on(stream), Some(200));
    }

    // One of the four closed: that address gets a connection again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = connect_from(OTHER_ADDRESS, node.port).unwrap();
        if health_on(&mut again) == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection from the address after one of its four closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
