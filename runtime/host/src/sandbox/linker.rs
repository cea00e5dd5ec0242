//! The imports a flavor is linked against: WASI (empty, see `state`), our
//! `storage`, `config` and `log` (of every contract version, `imports`),
//! and `wasi:http`, in two linkers.
//!
//! Guards against a flavor making the host hold what it was not granted or
//! more than a call may hold. A flavor without the `http` grant is linked
//! against `wasi:http` whose constructors (`fields`, `fields.from-list`,
//! `request-options`) stop the call as a `denied` breach: without them it
//! can obtain no `wasi:http` resource at all, so it can neither buffer
//! requests, headers and bodies it never sends nor reach the network. With
//! the grant, what a request may hold is capped where wasmtime does not cap
//! it (method and authority are otherwise unbounded; the path is capped
//! like them), headers by the fields size limit and bodies by the chunk
//! size (`state`, `capabilities::http`), and how many of each by the
//! resource table. In both, creating raw sockets (each one a file
//! descriptor of the host) is counted and stopped past
//! [`caps::SOCKETS`]; their first use is refused anyway.
//!
//! A shadowing function does its check and hands the call to the
//! implementation it shadows, so behaviour within the caps is wasmtime's.

use std::sync::OnceLock;

use wasmtime::component::{Linker, Resource};
use wasmtime::{Engine, StoreContextMut};
use wasmtime_wasi::p2::bindings::sockets as wasi_sockets;
use wasmtime_wasi::sockets::WasiSocketsView as _;
use wasmtime_wasi_http::p2::bindings::http::types as http_types;
use wasmtime_wasi_http::p2::types::HostOutgoingRequest;
use wasmtime_wasi_http::{FieldMap, RequestOptions, WasiHttpView as _};

use super::state::CallState;
use crate::capabilities::Ungranted;
use crate::error::{Error, Result, Violation};
use crate::policy::{Capability, caps};

/// The `wasi:http` and `wasi:sockets` instances as this wasmtime defines
/// them (a flavor's import of any 0.2.x version resolves to these).
const HTTP_TYPES: &str = "wasi:http/types@0.2.12";
const TCP_CREATE: &str = "wasi:sockets/tcp-create-socket@0.2.12";
const UDP_CREATE: &str = "wasi:sockets/udp-create-socket@0.2.12";

/// The two linkers: for flavors granted `http`, and for the others. Both
/// define the same imports (they differ only in what `wasi:http` does), and
/// each is made from the shared base the first time a flavor needs it, so a
/// command that runs only ungranted flavors never builds the other.
pub struct Linkers {
    base: Linker<CallState>,
    granted: OnceLock<Linker<CallState>>,
    ungranted: OnceLock<Linker<CallState>>,
}

fn link(e: wasmtime::Error) -> Error {
    Error::host(format!("linker: {e}"))
}

impl Linkers {
    pub fn new(engine: &Engine) -> Result<Linkers> {
        let mut base = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut base).map_err(link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut base).map_err(link)?;
        super::imports::link_all(&mut base).map_err(link)?;
        base.allow_shadowing(true);
        count_sockets(&mut base).map_err(link)?;
        Ok(Linkers {
            base,
            granted: OnceLock::new(),
            ungranted: OnceLock::new(),
        })
    }

    /// For flavors granted `http`: requests capped where wasmtime does not.
    pub fn granted(&self) -> Result<&Linker<CallState>> {
        self.derived(&self.granted, cap_requests)
    }

    /// For the others: `wasi:http`'s constructors stop the call.
    pub fn ungranted(&self) -> Result<&Linker<CallState>> {
        self.derived(&self.ungranted, deny_http)
    }

    fn derived<'a>(
        &'a self,
        cell: &'a OnceLock<Linker<CallState>>,
        shadow: fn(&mut Linker<CallState>) -> wasmtime::Result<()>,
    ) -> Result<&'a Linker<CallState>> {
        super::get_or_try_init(cell, || {
            let mut linker = self.base.clone();
            shadow(&mut linker).map_err(link)?;
            Ok(linker)
        })
    }
}

/// Records that the flavor used `wasi:http` without the grant, and stops
/// the call.
fn denied(store: &mut StoreContextMut<'_, CallState>, what: &str) -> wasmtime::Error {
    let detail =
        format!("the flavor used capability `http`, which was not granted (it called {what})");
    let findings = &store.data().http.findings;
    findings.mark_used();
    findings.refuse_ungranted(Ungranted::Capability(Capability::Http), detail.clone());
    wasmtime::Error::msg(detail)
}

/// `wasi:http` resources cannot be created without the grant.
fn deny_http(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    let mut types = linker.instance(HTTP_TYPES)?;
    types.func_wrap(
        "[constructor]fields",
        |mut store: StoreContextMut<'_, CallState>,
         (): ()|
         -> wasmtime::Result<(Resource<FieldMap>,)> {
            Err(denied(&mut store, "`wasi:http/types.fields`"))
        },
    )?;
    types.func_wrap(
        "[static]fields.from-list",
        |mut store: StoreContextMut<'_, CallState>,
         (_entries,): (Vec<(String, Vec<u8>)>,)|
         -> wasmtime::Result<(Result<Resource<FieldMap>, http_types::HeaderError>,)> {
            Err(denied(&mut store, "`wasi:http/types.fields.from-list`"))
        },
    )?;
    types.func_wrap(
        "[constructor]request-options",
        |mut store: StoreContextMut<'_, CallState>,
         (): ()|
         -> wasmtime::Result<(Resource<RequestOptions>,)> {
            Err(denied(&mut store, "`wasi:http/types.request-options`"))
        },
    )?;
    Ok(())
}

/// Refuses (as the function's own `result` error) request text past
/// [`caps::HTTP_REQUEST_TEXT`], recording it; the host would otherwise keep
/// it, however long, for as long as the request lives.
fn request_text(store: &mut StoreContextMut<'_, CallState>, what: &str, len: usize) -> bool {
    if len <= caps::HTTP_REQUEST_TEXT {
        return true;
    }
    store.data_mut().gates.breach(
        Violation::Limit,
        format!(
            "an HTTP request's {what} of {len} bytes, more than the {} a request may hold",
            caps::HTTP_REQUEST_TEXT
        ),
    );
    false
}

/// Caps what an outgoing request holds.
fn cap_requests(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use http_types::HostOutgoingRequest as _;
    let mut types = linker.instance(HTTP_TYPES)?;
    types.func_wrap(
        "[method]outgoing-request.set-method",
        |mut store: StoreContextMut<'_, CallState>,
         (request, method): (Resource<HostOutgoingRequest>, http_types::Method)|
         -> wasmtime::Result<(Result<(), ()>,)> {
            let len = match &method {
                http_types::Method::Other(text) => text.len(),
                _ => 0,
            };
            if !request_text(&mut store, "method", len) {
                return Ok((Err(()),));
            }
            Ok((store.data_mut().http().set_method(request, method)?,))
        },
    )?;
    types.func_wrap(
        "[method]outgoing-request.set-authority",
        |mut store: StoreContextMut<'_, CallState>,
         (request, authority): (Resource<HostOutgoingRequest>, Option<String>)|
         -> wasmtime::Result<(Result<(), ()>,)> {
            let len = authority.as_ref().map_or(0, String::len);
            if !request_text(&mut store, "authority", len) {
                return Ok((Err(()),));
            }
            Ok((store.data_mut().http().set_authority(request, authority)?,))
        },
    )?;
    types.func_wrap(
        "[method]outgoing-request.set-path-with-query",
        |mut store: StoreContextMut<'_, CallState>,
         (request, path): (Resource<HostOutgoingRequest>, Option<String>)|
         -> wasmtime::Result<(Result<(), ()>,)> {
            let len = path.as_ref().map_or(0, String::len);
            if !request_text(&mut store, "path", len) {
                return Ok((Err(()),));
            }
            Ok((store.data_mut().http().set_path_with_query(request, path)?,))
        },
    )?;
    Ok(())
}

/// Counts raw sockets; past the cap the call stops.
fn socket_slot(store: &mut StoreContextMut<'_, CallState>, kind: &str) -> wasmtime::Result<()> {
    let state = store.data_mut();
    state.sockets.mark_used();
    if state.sockets_created >= caps::SOCKETS {
        let detail = format!(
            "the flavor created more than {} raw sockets in one call ({kind}); only wasi:http \
             to granted origins is available",
            caps::SOCKETS
        );
        state.gates.breach(Violation::Limit, detail.clone());
        return Err(wasmtime::Error::msg(detail));
    }
    state.sockets_created += 1;
    Ok(())
}

fn count_sockets(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use wasi_sockets::network::{ErrorCode, Host as _, IpAddressFamily};
    linker.instance(TCP_CREATE)?.func_wrap(
        "create-tcp-socket",
        |mut store: StoreContextMut<'_, CallState>,
         (family,): (IpAddressFamily,)|
         -> wasmtime::Result<(Result<Resource<wasmtime_wasi::p2::TcpSocket>, ErrorCode>,)> {
            use wasi_sockets::tcp_create_socket::Host as _;
            socket_slot(&mut store, "TCP")?;
            let mut view = store.data_mut().sockets();
            let created = match view.create_tcp_socket(family) {
                Ok(socket) => Ok(socket),
                Err(err) => Err(view.convert_error_code(err)?),
            };
            Ok((created,))
        },
    )?;
    linker.instance(UDP_CREATE)?.func_wrap_async(
        "create-udp-socket",
        |mut store: StoreContextMut<'_, CallState>, (family,): (IpAddressFamily,)| {
            Box::new(async move {
                use wasi_sockets::udp_create_socket::Host as _;
                socket_slot(&mut store, "UDP")?;
                let mut view = store.data_mut().sockets();
                let created: Result<Resource<wasmtime_wasi::p2::UdpSocket>, ErrorCode> =
                    match view.create_udp_socket(family).await {
                        Ok(socket) => Ok(socket),
                        Err(err) => Err(view.convert_error_code(err)?),
                    };
                Ok((created,))
            })
        },
    )?;
    Ok(())
}
