//! Hostile test flavor `hostile_wasi_probe`.
//!
//! Every `get-secret` probes the WASI environment; `get-secret("attack")`
//! returns what it found as the secret `attack` (schema `arbitrary`), one
//! value per probe (any other name is answered honestly):
//! - `args`: the number of `std::env::args()`;
//! - `env`: the number of `std::env::vars()`;
//! - `preopens`: the number of preopened directories;
//! - `read_root`: `ok` or `denied` for `std::fs::read_dir("/")`;
//! - `open_passwd`: `ok` or `denied` for `std::fs::read("/etc/passwd")`;
//! - `tcp`: `ok` or `denied: <error>` for a TCP connect to 127.0.0.1:22;
//! - `dns`: `ok` or `denied: <error>` for resolving `example.com`.
//!
//! Every other operation is honest (the `honest` crate).
//!
//! Host: links WASI p2 empty, so the expected answer is `args=0 env=0
//! preopens=0 read_root=denied open_passwd=denied tcp=denied: ...
//! dns=denied: ...`.

use honest::{Error, Secret};
use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasi::sockets::{instance_network, ip_name_lookup, tcp_create_socket};

struct HostileWasiProbe;

/// How many times a probe waits for a pending socket operation.
const MAX_WAITS: usize = 100;

fn ok_or_denied<T, E>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(_) => "denied".to_string(),
    }
}

fn ok_or_denied_with(result: Result<(), ErrorCode>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(error) => format!("denied: {error:?}"),
    }
}

/// Connects to 127.0.0.1:22 over TCP.
fn probe_tcp() -> Result<(), ErrorCode> {
    let network = instance_network::instance_network();
    let socket = tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)?;
    let address = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: 22,
        address: (127, 0, 0, 1),
    });
    socket.start_connect(&network, address)?;
    let pollable = socket.subscribe();
    for _ in 0..MAX_WAITS {
        pollable.block();
        match socket.finish_connect() {
            Ok(_streams) => return Ok(()),
            Err(ErrorCode::WouldBlock) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ErrorCode::Timeout)
}

/// Resolves `example.com` to the end of its address stream.
fn probe_dns() -> Result<(), ErrorCode> {
    let network = instance_network::instance_network();
    let stream = ip_name_lookup::resolve_addresses(&network, "example.com")?;
    let pollable = stream.subscribe();
    for _ in 0..MAX_WAITS {
        match stream.resolve_next_address() {
            Ok(Some(_)) => continue,
            Ok(None) => return Ok(()),
            Err(ErrorCode::WouldBlock) => pollable.block(),
            Err(error) => return Err(error),
        }
    }
    Err(ErrorCode::Timeout)
}

fn findings() -> Vec<(String, String)> {
    let preopens = wasi::filesystem::preopens::get_directories();
    [
        ("args", std::env::args().count().to_string()),
        ("env", std::env::vars().count().to_string()),
        ("preopens", preopens.len().to_string()),
        ("read_root", ok_or_denied(std::fs::read_dir("/"))),
        ("open_passwd", ok_or_denied(std::fs::read("/etc/passwd"))),
        ("tcp", ok_or_denied_with(probe_tcp())),
        ("dns", ok_or_denied_with(probe_dns())),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect()
}

impl honest::Flavor for HostileWasiProbe {
    const NAME: &'static str = "hostile_wasi_probe";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: every get-secret probes what WASI lets it reach.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        let findings = findings();
        if name == "attack" {
            return Ok(honest::arbitrary(name, findings));
        }
        honest::get_secret(name)
    }
}

honest::export_flavor!(HostileWasiProbe);
