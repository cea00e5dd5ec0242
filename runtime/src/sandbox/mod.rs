//! Runs flavors: one engine, one linker, precompiled components, and one
//! fresh instance in a fresh store per call.
//!
//! Guards the host and every other call from a flavor: a call gets its own
//! instance (no state survives it), a deadline, a memory cap and only the
//! capabilities granted; whatever it does wrong is classified into one
//! [`Violation`], its storage writes are rolled back, and the host carries on.

pub mod cache;
pub mod engine;
pub mod limiter;
pub mod policy;
pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

pub use policy::{Grants, Limits, Policy};
pub use state::CallState;

use crate::bindings::{FlavorPre, WitError, flavorbox::secrets};
use crate::capabilities::Capability;
use crate::capabilities::log::{LogRecord, Masker};
use crate::contract::{Request, Response, clip};
use crate::error::{Error, Result, Violation};
use crate::store::NamespaceTxn;
use cache::{CompileCache, one_line};

/// A flavor compiled, linked and ready to instantiate.
pub struct LoadedFlavor {
    pre: FlavorPre<CallState>,
    pub digest: String,
}

/// What one call needs besides the request.
pub struct CallSetup<'a> {
    pub policy: &'a Policy,
    /// The manager's namespace, if the call has one.
    pub storage: Option<Box<dyn NamespaceTxn>>,
    pub config: BTreeMap<String, String>,
}

/// Facts about one call, for `evaluate` and diagnostics.
#[derive(Debug, Clone, Default)]
pub struct CallReport {
    pub elapsed: Duration,
    pub peak_memory: usize,
    pub used: BTreeSet<Capability>,
}

/// The result of one call, with the flavor's (masked) output.
pub struct CallOutcome {
    pub result: Result<Response>,
    pub logs: Vec<LogRecord>,
    pub report: CallReport,
}

/// `flavorbox:secrets/types` only defines types; its host trait is empty.
impl secrets::types::Host for CallState {}

pub struct Sandbox {
    engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    loaded: Mutex<HashMap<String, Arc<LoadedFlavor>>>,
}

impl Sandbox {
    /// A sandbox whose compiled components are cached in `cache_dir`.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Sandbox> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        let link = |e: wasmtime::Error| Error::host(format!("linker: {e}"));
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link)?;
        secrets::types::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s).map_err(link)?;
        secrets::storage::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut CallState| {
            &mut s.storage
        })
        .map_err(link)?;
        secrets::config::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut CallState| {
            &mut s.config
        })
        .map_err(link)?;
        secrets::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut CallState| &mut s.log)
            .map_err(link)?;
        let cache = CompileCache::new(&engine, cache_dir);
        Ok(Sandbox {
            engine,
            linker,
            cache,
            loaded: Mutex::default(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from cache) and links the component `wasm`, whose
    /// digest is `digest`. Refuses, with the reason, anything that is not a
    /// component of the `flavor` world the host can satisfy.
    pub fn load(&self, digest: &str, wasm: &[u8]) -> Result<Arc<LoadedFlavor>> {
        if let Some(loaded) = self.lock_loaded().get(digest) {
            return Ok(loaded.clone());
        }
        if wasmparser::Parser::is_core_wasm(wasm) {
            return Err(Error::input(
                "this is a core wasm module, not a component; build the flavor for \
                 wasm32-wasip2 or wrap it with `wasm-tools component new`",
            ));
        }
        if !wasmparser::Parser::is_component(wasm) {
            return Err(Error::input("this is not a wasm component (bad header)"));
        }
        let component = self.cache.load(&self.engine, digest, wasm)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            Error::input(format!(
                "the host cannot run this component: {}",
                one_line(&e)
            ))
        })?;
        let pre = FlavorPre::new(instance_pre).map_err(|e| {
            Error::input(format!(
                "this component is not a flavor (world flavorbox:secrets/flavor): {}",
                one_line(&e)
            ))
        })?;
        let loaded = Arc::new(LoadedFlavor {
            pre,
            digest: digest.to_string(),
        });
        self.lock_loaded()
            .insert(digest.to_string(), loaded.clone());
        Ok(loaded)
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedFlavor>>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `request` in a fresh instance of `flavor`. Storage writes are
    /// committed only if the call succeeds and its answer passes the checks.
    pub fn call(
        &self,
        flavor: &LoadedFlavor,
        setup: CallSetup<'_>,
        request: &Request,
    ) -> CallOutcome {
        let started = Instant::now();
        let limits = setup.policy.limits;
        let state = CallState::new(setup.policy, setup.storage, setup.config);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(engine::deadline_ticks(limits.timeout()));
        store.epoch_deadline_trap();

        let raw = flavor
            .pre
            .instantiate(&mut store)
            .and_then(|instance| request.invoke(&instance, &mut store));
        let state = store.into_data();

        // Decide the outcome; flavor text is masked below, once every value
        // the call handled is known.
        let outcome: std::result::Result<Response, Failure> = match raw {
            Err(err) => Err(Failure::Host(classify_trap(&err, &state, &limits, request))),
            Ok(Err(wit)) => Err(match breach(&state) {
                Some(err) => Failure::Host(err),
                None => Failure::Flavor(wit),
            }),
            Ok(Ok(raw)) => request.check(raw).map_err(Failure::Host),
        };
        let mut known_values = request.values();
        if let Ok(response) = &outcome {
            known_values.extend(response.values());
        }
        let masker = Masker::new(known_values);
        let logs = state.log.finish(&masker);

        let mut report = CallReport {
            elapsed: Duration::ZERO,
            peak_memory: state.limiter.peak_memory,
            used: state
                .findings()
                .into_iter()
                .filter(|(_, f)| f.used)
                .map(|(c, _)| c)
                .collect(),
        };
        if logs
            .iter()
            .any(|r| r.source != crate::capabilities::log::Source::Host)
        {
            report.used.insert(Capability::Log);
        }

        let result = match outcome {
            Ok(response) => match state.storage.into_txn() {
                Some(txn) => txn.commit().map(|()| response),
                None => Ok(response),
            },
            Err(Failure::Host(err)) => Err(mask_error(err, &masker)),
            Err(Failure::Flavor(wit)) => Err(from_wit(wit, &masker)),
        };
        report.elapsed = started.elapsed();
        CallOutcome {
            result,
            logs,
            report,
        }
    }
}

enum Failure {
    Host(Error),
    Flavor(WitError),
}

/// The first sandbox breach a capability recorded, as an error.
fn breach(state: &CallState) -> Option<Error> {
    state
        .findings()
        .into_iter()
        .find_map(|(_, f)| f.violation.clone())
        .map(|(kind, detail)| Error::sandbox(kind, detail))
}

fn classify_trap(
    err: &wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    request: &Request,
) -> Error {
    let op = request.operation();
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return Error::sandbox(
            Violation::Deadline,
            format!(
                "{op} ran past its {} ms deadline and was stopped",
                limits.timeout_ms
            ),
        );
    }
    if let Some(asked) = state.limiter.memory_refused {
        return Error::sandbox(
            Violation::Memory,
            format!(
                "{op} asked for {} MiB of linear memory, more than the {} MiB allowed",
                asked.div_ceil(1024 * 1024),
                state.limiter.memory_cap() / (1024 * 1024)
            ),
        );
    }
    if let Some(err) = breach(state) {
        return err;
    }
    let what = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => one_line(err),
    };
    Error::sandbox(Violation::Trap, format!("{op} trapped: {what}"))
}

/// Masks and clips an error's text (it may quote the flavor).
fn mask_error(err: Error, masker: &Masker) -> Error {
    let fix = |text: String| clip(&masker.mask(&text));
    match err {
        Error::Sandbox { kind, detail } => Error::Sandbox {
            kind,
            detail: fix(detail),
        },
        other => other,
    }
}

fn from_wit(err: WitError, masker: &Masker) -> Error {
    let fix = |text: String| clip(&masker.mask(&text));
    match err {
        WitError::NotFound(m) => Error::NotFound(fix(m)),
        WitError::AlreadyExists(m) => Error::AlreadyExists(fix(m)),
        WitError::Invalid(m) => Error::Invalid(fix(m)),
        WitError::Denied(m) => Error::Denied(fix(m)),
        WitError::Backend(m) => Error::Backend(fix(m)),
    }
}
