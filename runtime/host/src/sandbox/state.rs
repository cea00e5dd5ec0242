//! The state of one call: everything a flavor's instance can reach.
//!
//! Each call builds a fresh `CallState` and a fresh instance, so nothing a
//! flavor does survives into the next call. WASI is linked but empty:
//! clocks and random numbers work, there are no arguments, environment
//! variables or preopened directories, stdin is empty, stdout and stderr
//! go to the call's log, and every socket address and name lookup is refused.
//! HTTP goes only through `wasi:http`, gated by the `http` capability.
//!
//! Everything a call can make the host hold is capped here (see
//! `policy::caps`): live host resources (the resource table), the size of a
//! `wasi:http` fields resource, random bytes per request, the log; the store
//! caps what one host call may copy out of the guest and the handles it may
//! hold (`Sandbox::call`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limiter::CallLimiter;
use crate::capabilities::config::ConfigCapability;
use crate::capabilities::http::{HttpCapability, HttpPolicy};
use crate::capabilities::log::{LogCaps, LogSink, Source};
use crate::capabilities::storage::StorageCapability;
use crate::capabilities::{Findings, SharedFindings, Ungranted};
use crate::error::Violation;
use crate::policy::{Capability, Policy, caps};
use crate::store::Staged;

pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    pub http: HttpCapability,
    pub storage: StorageCapability,
    pub config: ConfigCapability,
    pub log: LogSink,
    pub limiter: CallLimiter,
    /// Raw socket attempts (always refused).
    pub sockets: SharedFindings,
    /// Raw sockets created so far (`policy::caps::SOCKETS`).
    pub sockets_created: u32,
    /// What the sandbox refused at its own gates (`wasi:http` without the
    /// grant, the caps on shadowed `wasi:*` functions).
    pub gates: Findings,
}

impl CallState {
    pub fn new(
        policy: &Policy,
        storage: Option<Staged>,
        config: BTreeMap<String, String>,
        deadline: Instant,
    ) -> Self {
        let log = LogSink::new(LogCaps {
            bytes: usize::try_from(policy.limits.log_bytes).unwrap_or(usize::MAX),
            records: usize::try_from(policy.limits.log_records).unwrap_or(usize::MAX),
        });
        let sockets = SharedFindings::default();
        let socket_attempts = sockets.clone();
        let wasi = WasiCtxBuilder::new()
            .stdout(log.stream(Source::Stdout))
            .stderr(log.stream(Source::Stderr))
            .allow_ip_name_lookup(false)
            .max_random_size(caps::RANDOM_BYTES)
            // TCP and UDP sockets can be created, so that every address a
            // flavor tries is seen here, recorded and refused.
            .allow_tcp(true)
            .allow_udp(true)
            .socket_addr_check(move |addr, used_for| {
                let what = match used_for {
                    SocketAddrUse::TcpBind => "bind a raw TCP socket to",
                    SocketAddrUse::TcpListen => "listen on a raw TCP socket at",
                    SocketAddrUse::TcpAccept => "accept a raw TCP connection from",
                    SocketAddrUse::TcpConnect => "connect a raw TCP socket to",
                    SocketAddrUse::UdpBind => "bind a raw UDP socket to",
                    SocketAddrUse::UdpSend => "send a raw UDP datagram to",
                    SocketAddrUse::UdpReceive => "receive a raw UDP datagram from",
                };
                socket_attempts.breach_quoting(
                    Violation::Denied,
                    format!(
                        "the flavor tried to {what} {addr}; only wasi:http to granted \
                         origins is available"
                    ),
                );
                Box::pin(async { false })
            })
            .build();
        let storage = storage.filter(|_| policy.grants.allows(Capability::Storage));
        let http = HttpPolicy {
            granted: policy.grants.allows(Capability::Http),
            origins: policy.grants.origins(),
            max_requests: policy.limits.http_requests,
            max_request_bytes: policy.limits.http_request_bytes,
            max_response_bytes: policy.limits.http_response_bytes,
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(caps::HOST_RESOURCES);
        let mut http_ctx = WasiHttpCtx::new();
        http_ctx.set_field_size_limit(caps::HTTP_FIELDS_BYTES);
        CallState {
            wasi,
            table,
            http_ctx,
            http: HttpCapability::new(http, deadline),
            storage: StorageCapability::new(storage, policy.limits.storage),
            config: ConfigCapability::new(config),
            log,
            limiter: CallLimiter::new(policy.limits.memory_bytes),
            sockets,
            sockets_created: 0,
            gates: Findings::default(),
        }
    }

    /// What each capability observed during the call.
    fn findings(&self) -> [(Capability, Findings); 3] {
        [
            (Capability::Storage, self.storage.findings.clone()),
            (Capability::Http, self.http.findings.snapshot()),
            (Capability::Config, self.config.findings.clone()),
        ]
    }

    /// Whether data came back to the flavor from outside the call (stored
    /// values or keys, HTTP responses): then its text may carry secret
    /// values the host never saw.
    pub fn read_data(&self) -> bool {
        self.findings().iter().any(|(_, f)| f.read_data)
    }

    /// The capabilities the flavor used (`log` is judged from its output).
    pub fn used(&self) -> BTreeSet<Capability> {
        self.findings()
            .into_iter()
            .filter(|(_, f)| f.used)
            .map(|(c, _)| c)
            .collect()
    }

    /// The first way the flavor broke its policy, if any, and whether its
    /// detail quotes text the flavor chose.
    pub fn violation(&self) -> Option<(Violation, String, bool)> {
        self.breaches()
            .into_iter()
            .find_map(|f| f.violation.map(|(kind, detail)| (kind, detail, f.quoting)))
    }

    /// What the operator did not grant, when every breach the call
    /// recorded is a refusal for want of a grant; any other breach (a
    /// socket, a cap, a malformed key) makes the call the flavor's breach.
    pub fn ungranted(&self) -> Option<Ungranted> {
        let breaches = self.breaches();
        if breaches.iter().any(|f| f.ungranted.is_none()) {
            return None;
        }
        breaches.into_iter().find_map(|f| f.ungranted)
    }

    /// The findings that recorded a breach, in the order they are told.
    fn breaches(&self) -> Vec<Findings> {
        [self.gates.clone()]
            .into_iter()
            .chain(self.findings().into_iter().map(|(_, f)| f))
            .chain([self.sockets.snapshot()])
            .filter(|f| f.violation.is_some())
            .collect()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}
