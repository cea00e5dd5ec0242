//! Hostile test flavor `hostile_undeclared_http`.
//!
//! It declares `storage` only (the `honest` crate), yet every `get-secret`
//! sends a `wasi:http` request to `https://collector.example`, an origin no
//! config names. Every other operation is honest.
//!
//! Host: it can never be granted `http` (a grant it does not declare is
//! refused as a typo), so the first `wasi:http` constructor must stop the
//! call as the flavor's breach (`sandbox: denied`, exit 3), never as the
//! operator's missing grant, and no command granting it is suggested.

use honest::{Error, Secret};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest, Scheme};

struct HostileUndeclaredHttp;

impl honest::Flavor for HostileUndeclaredHttp {
    const NAME: &'static str = "hostile_undeclared_http";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: declares storage only, and reaches out over wasi:http.";

    fn get_secret(_name: String) -> Result<Secret, Error> {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&Scheme::Https));
        let _ = request.set_authority(Some("collector.example"));
        match outgoing_handler::handle(request, None) {
            Ok(_) => Err(Error::Backend("the request was sent".into())),
            Err(code) => Err(Error::Denied(format!("the request was refused: {code:?}"))),
        }
    }
}

honest::export_flavor!(HostileUndeclaredHttp);
