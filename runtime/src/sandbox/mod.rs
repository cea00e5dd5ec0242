//! Runs flavors: one engine, one linker, precompiled components, and one
//! fresh instance in a fresh store per call.
//!
//! Guards the host and every other call from a flavor: a call gets its own
//! instance (no state survives it), a deadline, a memory cap and only the
//! capabilities granted; whatever it does wrong is classified into one
//! [`Violation`], its storage writes are rolled back, and the host carries on.

pub mod cache;
pub mod engine;
pub mod exports;
pub mod limiter;
pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

pub use exports::Export;
pub use state::CallState;

use crate::capabilities::log::{LogRecord, Masker, Source};
use crate::contract::bindings::{FlavorPre, WitError, flavorbox::secrets};
use crate::contract::{FlavorDescription, Operation, clip};
use crate::error::{Error, Result, Violation};
use crate::policy::{Capability, Limits, Policy};
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
    /// The first policy breach, even if the flavor recovered from it.
    pub violation: Option<(Violation, String)>,
    /// Output lines in which a secret value was masked.
    pub masked_lines: usize,
    /// Whether the flavor's output went past its cap.
    pub log_truncated: bool,
}

/// The result of one call, with the flavor's (masked) output.
pub struct Outcome<T> {
    pub result: Result<T>,
    pub logs: Vec<LogRecord>,
    pub report: CallReport,
}

/// `flavorbox:secrets/types` only defines types; its host trait is empty.
impl secrets::types::Host for CallState {}

/// How long past its deadline a call blocked in a host function (a sleep, a
/// stalled peer) may take before it is cut off; a call spinning in wasm is
/// stopped by the epoch deadline itself.
const HOST_WAIT_GRACE: Duration = Duration::from_millis(100);

pub struct Sandbox {
    engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    loaded: Mutex<HashMap<String, Arc<LoadedFlavor>>>,
    /// Drives calls for synchronous callers (the CLI).
    runtime: tokio::runtime::Runtime,
}

impl Sandbox {
    /// A sandbox whose compiled components are cached in `cache_dir`.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Sandbox> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        let link = |e: wasmtime::Error| Error::host(format!("linker: {e}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
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
        // One worker drives timers and I/O, so several threads can block on
        // calls at once while each runs its own flavor.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("flavorbox-io")
            .enable_all()
            .build()
            .map_err(|e| Error::host(format!("cannot start the async runtime: {e}")))?;
        Ok(Sandbox {
            engine,
            linker,
            cache,
            loaded: Mutex::default(),
            runtime,
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
            return Err(Error::invalid(
                "this is a core wasm module, not a component; build the flavor for \
                 wasm32-wasip2 or wrap it with `wasm-tools component new`",
            ));
        }
        if !wasmparser::Parser::is_component(wasm) {
            return Err(Error::invalid("this is not a wasm component (bad header)"));
        }
        let component = self.cache.load(&self.engine, digest, wasm)?;
        // The outermost message names the import; its causes only restate it.
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| Error::invalid(format!("the host cannot run this component: {e}")))?;
        let pre = FlavorPre::new(instance_pre).map_err(|e| {
            Error::invalid(format!(
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

    /// Runs `export` in a fresh instance of `flavor`, blocking until it
    /// ends. Storage writes are committed only if the call succeeds and its
    /// answer passes the checks. Must not be called from within an async
    /// runtime.
    pub fn call<E: Export>(
        &self,
        flavor: &LoadedFlavor,
        setup: CallSetup<'_>,
        export: &E,
    ) -> Outcome<E::Answer> {
        self.runtime
            .block_on(self.call_async(flavor, setup, export))
    }

    /// Asks a flavor to describe itself, with no grants and default limits.
    pub fn info(&self, flavor: &LoadedFlavor) -> Outcome<FlavorDescription> {
        let setup = CallSetup {
            policy: &Policy::default(),
            storage: None,
            config: BTreeMap::new(),
        };
        self.call(flavor, setup, &exports::Info)
    }

    async fn call_async<E: Export>(
        &self,
        flavor: &LoadedFlavor,
        setup: CallSetup<'_>,
        export: &E,
    ) -> Outcome<E::Answer> {
        let operation = E::OPERATION;
        let started = Instant::now();
        let limits = setup.policy.limits;
        let deadline = started + limits.timeout();
        let state = CallState::new(setup.policy, setup.storage, setup.config, deadline);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(engine::deadline_ticks(limits.timeout()));
        store.epoch_deadline_trap();

        let run = async {
            let instance = flavor.pre.instantiate_async(&mut store).await?;
            export.invoke(&instance, &mut store).await
        };
        let raw = tokio::time::timeout(limits.timeout() + HOST_WAIT_GRACE, run).await;
        let state = store.into_data();

        // Decide the outcome; flavor text is masked below, once every value
        // the call handled is known.
        // A refused memory growth stops the call even if the flavor caught
        // it (a Python or JavaScript runtime turns it into an exception the
        // flavor may answer with, where a Rust flavor aborts).
        let mut memory = memory_breach(&state, operation);
        let outcome: std::result::Result<E::Answer, Failure> = match raw {
            Err(_elapsed) => Err(Failure::Host(deadline_error(&limits, operation))),
            Ok(Err(err)) => Err(Failure::Host(classify_trap(
                &err, &state, &limits, operation,
            ))),
            Ok(Ok(_)) if memory.is_some() => {
                Err(Failure::Host(memory.take().expect("checked above")))
            }
            Ok(Ok(Err(wit))) => Err(match breach(&state) {
                Some(err) => Failure::Breach(err, wit),
                None => Failure::Flavor(wit),
            }),
            Ok(Ok(Ok(raw))) => export.check(raw).map_err(Failure::Host),
        };
        let mut known_values = export.given_values();
        if let Ok(answer) = &outcome {
            known_values.extend(E::answer_values(answer));
        }
        let masker = Masker::new(known_values);
        let output = state.log.finish(&masker);

        let mut report = CallReport {
            elapsed: Duration::ZERO,
            peak_memory: state.limiter.peak_memory,
            used: state.used(),
            violation: state
                .violation()
                .map(|(kind, detail)| (kind, clip(&masker.mask(&detail)))),
            masked_lines: output.masked,
            log_truncated: output.truncated,
        };
        if output.records.iter().any(|r| r.source != Source::Host) {
            report.used.insert(Capability::Log);
        }
        let logs = output.records;

        let result = match outcome {
            Ok(answer) => match state.storage.into_txn() {
                Some(txn) => txn.commit().map(|()| answer),
                None => Ok(answer),
            },
            Err(Failure::Host(err)) => Err(mask_error(err, &masker)),
            Err(Failure::Breach(err, wit)) => Err(with_report(
                mask_error(err, &masker),
                &from_wit(wit, &masker),
            )),
            Err(Failure::Flavor(wit)) => Err(from_wit(wit, &masker)),
        };
        report.elapsed = started.elapsed();
        Outcome {
            result,
            logs,
            report,
        }
    }
}

/// A sandbox created on first use, so commands that never run a flavor
/// never pay for an engine; or one shared with other homes.
pub struct LazySandbox {
    cache_dir: Option<PathBuf>,
    cell: OnceLock<Arc<Sandbox>>,
}

impl LazySandbox {
    /// A sandbox caching compiled components in `cache_dir`, made when first
    /// asked for.
    pub fn new(cache_dir: Option<PathBuf>) -> Self {
        LazySandbox {
            cache_dir,
            cell: OnceLock::new(),
        }
    }

    /// An existing sandbox (its engine and compiled flavors are shared).
    pub fn shared(sandbox: Arc<Sandbox>) -> Self {
        LazySandbox {
            cache_dir: None,
            cell: OnceLock::from(sandbox),
        }
    }

    pub fn get(&self) -> Result<&Arc<Sandbox>> {
        if let Some(sandbox) = self.cell.get() {
            return Ok(sandbox);
        }
        let sandbox = Arc::new(Sandbox::new(self.cache_dir.clone())?);
        Ok(self.cell.get_or_init(|| sandbox))
    }
}

enum Failure {
    Host(Error),
    Flavor(WitError),
    /// The flavor broke the sandbox, noticed, and returned an error saying
    /// what it had done by then (e.g. how far a bulk deletion got).
    Breach(Error, WitError),
}

/// A breach, followed by what the flavor reported after it: the breach
/// decides the error's kind, the report tells the user what was done.
fn with_report(breach: Error, report: &Error) -> Error {
    match breach {
        Error::Sandbox { kind, detail } => Error::Sandbox {
            kind,
            detail: format!("{detail}; the flavor then reported {report}"),
        },
        other => other,
    }
}

/// The first sandbox breach a capability recorded, as an error.
fn breach(state: &CallState) -> Option<Error> {
    state
        .violation()
        .map(|(kind, detail)| Error::sandbox(kind, detail))
}

fn deadline_error(limits: &Limits, operation: Operation) -> Error {
    Error::sandbox(
        Violation::Deadline,
        format!(
            "{operation} ran past its {} ms deadline and was stopped",
            limits.timeout_ms
        ),
    )
}

/// The call's refused memory growth, if there was one.
fn memory_breach(state: &CallState, op: Operation) -> Option<Error> {
    let asked = state.limiter.memory_refused?;
    Some(Error::sandbox(
        Violation::Memory,
        format!(
            "{op} asked for {} MiB of linear memory, more than the {} MiB allowed",
            asked.div_ceil(1024 * 1024),
            state.limiter.memory_cap() / (1024 * 1024)
        ),
    ))
}

fn classify_trap(
    err: &wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    op: Operation,
) -> Error {
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return deadline_error(limits, op);
    }
    if let Some(err) = memory_breach(state, op) {
        return err;
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
