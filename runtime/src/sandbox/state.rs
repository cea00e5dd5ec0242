//! The state of one call: everything a flavor's instance can reach.
//!
//! Each call builds a fresh `CallState` and a fresh instance, so nothing a
//! flavor does survives into the next call. WASI is linked but empty:
//! clocks and random numbers work, there are no arguments, environment
//! variables or preopened directories, stdin is empty, stdout and stderr
//! go to the call's log, and every socket address and name lookup is refused.

use std::collections::BTreeMap;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limiter::CallLimiter;
use super::policy::Policy;
use crate::capabilities::config::ConfigCapability;
use crate::capabilities::log::{LogSink, Source};
use crate::capabilities::storage::StorageCapability;
use crate::capabilities::{Capability, Findings};
use crate::store::NamespaceTxn;

pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub storage: StorageCapability,
    pub config: ConfigCapability,
    pub log: LogSink,
    pub limiter: CallLimiter,
}

impl CallState {
    pub fn new(
        policy: &Policy,
        storage: Option<Box<dyn NamespaceTxn>>,
        config: BTreeMap<String, String>,
    ) -> Self {
        let log = LogSink::new(policy.limits.log_bytes as usize);
        let wasi = WasiCtxBuilder::new()
            .stdout(log.stream(Source::Stdout))
            .stderr(log.stream(Source::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let storage = storage.filter(|_| policy.grants.allows(Capability::Storage));
        CallState {
            wasi,
            table: ResourceTable::new(),
            storage: StorageCapability::new(storage, policy.limits.storage),
            config: ConfigCapability::new(config),
            log,
            limiter: CallLimiter::new(policy.limits.memory_bytes),
        }
    }

    /// What each capability observed during the call.
    pub fn findings(&self) -> Vec<(Capability, &Findings)> {
        vec![
            (Capability::Storage, &self.storage.findings),
            (Capability::Config, &self.config.findings),
        ]
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
