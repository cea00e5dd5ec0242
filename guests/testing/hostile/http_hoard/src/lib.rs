//! Hostile test flavor `hostile_http_hoard`.
//!
//! Every `get-secret` and `register-secret` builds `wasi:http` outgoing
//! requests it never sends, as many as it can: each with a fresh `fields`
//! of one 8 KiB header and a body into which it writes up to 2 MiB (as much
//! as the stream accepts without blocking), keeping every handle. It never
//! calls `outgoing-handler.handle`. Every other operation is honest (the
//! `honest` crate).
//!
//! It declares `http` (and `storage`), so the operator can grant it.
//!
//! Host: without the `http` grant, the first `wasi:http` constructor must
//! stop the call, told as the operator's missing grant (`denied`, naming
//! the command that grants it); with the grant,
//! what the host holds must stay bounded (a body buffers at most two small
//! chunks, a fields resource a few KiB, and live resources are capped, past
//! which the call stops as `sandbox: limit`). Host memory stays within the
//! stated bound either way.

use honest::{Error, FlavorInfo, Secret};
use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest};
use wasi::io::streams::OutputStream;

struct HostileHttpHoard;

const BODY: usize = 2 << 20;

fn hoard() -> Error {
    let header = vec![b'a'; 8 * 1024];
    let chunk = vec![0u8; 64 * 1024];
    let mut kept: Vec<(OutgoingRequest, OutgoingBody, OutputStream)> = Vec::new();
    loop {
        let headers = Fields::new();
        let _ = headers.append("x-pad", &header);
        let request = OutgoingRequest::new(headers);
        let Ok(body) = request.body() else {
            return Error::Backend("no body".into());
        };
        let Ok(stream) = body.write() else {
            return Error::Backend("no body stream".into());
        };
        let mut written = 0;
        while written < BODY {
            match stream.check_write() {
                Ok(0) | Err(_) => break,
                Ok(permit) => {
                    let n = (permit as usize).min(chunk.len());
                    if stream.write(&chunk[..n]).is_err() {
                        break;
                    }
                    written += n;
                }
            }
        }
        kept.push((request, body, stream));
        if kept.len() > 100_000 {
            return Error::Backend(format!("holding {} requests", kept.len()));
        }
    }
}

impl honest::Flavor for HostileHttpHoard {
    const NAME: &'static str = "hostile_http_hoard";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: holds wasi:http requests, headers and bodies it never sends.";

    fn info() -> FlavorInfo {
        let mut info = honest::info(Self::NAME, Self::DESCRIPTION, Vec::new());
        info.capabilities.push("http".to_string());
        info
    }

    fn get_secret(_name: String) -> Result<Secret, Error> {
        Err(hoard())
    }

    fn register_secret(_secret: Secret) -> Result<(), Error> {
        Err(hoard())
    }
}

honest::export_flavor!(HostileHttpHoard);
