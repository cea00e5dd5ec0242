//! Hostile test flavor `hostile_info_hoard`.
//!
//! Its `info()`, which the host runs at `flavor register` and `evaluate`
//! before anything else, logs 200,000 empty lines and then builds
//! `wasi:http` requests with 8 KiB headers and 2 MiB bodies it never sends,
//! without end. Every other operation is honest (the `honest` crate).
//!
//! Host: `info()` runs with no grant, so the first `wasi:http` constructor
//! must stop it as `sandbox: denied`; the component is refused at
//! registration (exit 2) and by `evaluate`, with host memory bounded
//! throughout.

use honest::FlavorInfo;
use wasi::http::types::{Fields, OutgoingRequest};

struct HostileInfoHoard;

impl honest::Flavor for HostileInfoHoard {
    const NAME: &'static str = "hostile_info_hoard";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: floods the log and hoards wasi:http resources inside info().";

    fn info() -> FlavorInfo {
        for _ in 0..200_000 {
            honest::log::log(honest::log::Level::Info, "");
        }
        let header = vec![b'a'; 8 * 1024];
        let body = vec![0u8; 2 << 20];
        let mut kept = Vec::new();
        loop {
            let headers = Fields::new();
            let _ = headers.append("x-pad", &header);
            let request = OutgoingRequest::new(headers);
            if let Ok(outgoing) = request.body()
                && let Ok(stream) = outgoing.write()
            {
                let _ = stream.write(&body);
                kept.push((request, outgoing, stream));
            }
        }
    }
}

honest::export_flavor!(HostileInfoHoard);
