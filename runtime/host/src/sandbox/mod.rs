//! Runs flavors: one engine, two linkers (with and without `wasi:http`),
//! precompiled components, and one fresh instance in a fresh store per call.
//!
//! Guards the host and every other call from a flavor: a call gets its own
//! instance (no state survives it), a deadline that covers everything done
//! for it (waiting for a slot, running, masking its output, committing), a
//! memory cap, fixed caps on what it can make the host hold
//! (`policy::caps`: data copied out of the guest per host call, live
//! resources and handles, staged writes, log records), and only the
//! capabilities granted; whatever it does wrong is classified into one
//! [`Violation`], its storage writes are rolled back, and the host carries
//! on.
//!
//! Writes are staged and committed in one short transaction at the end
//! (`store::staged`); a commit that finds the namespace changed by another
//! call reruns the call on fresh data while time is left, unless the call
//! reached the network (whose effects a rerun would repeat); then it fails
//! as a `conflict`, nothing written, blaming no flavor.
//!
//! Text from a call that handles secret values the host does not know (a
//! failed `get-secret`, a register or update that read what was stored)
//! after its flavor read stored or remote data is *secret-bearing*: its log
//! lines are withheld from the default output, and its error details are
//! replaced by what the host itself knows (see `secret_bearing`).

pub mod cache;
pub mod compile;
pub mod engine;
pub mod exports;
pub mod limiter;
pub mod linker;
pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTableError;
use wasmtime::{Engine, Store, Trap};

pub use cache::Source;
pub use exports::Export;
pub use state::CallState;

use crate::capabilities::log::{Level, LogRecord, Masker, Source as LogSource};
use crate::contract::bindings::{FlavorPre, WitError, flavorbox::secrets};
use crate::contract::{FlavorDescription, Operation, clip};
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::policy::{Capability, Limits, Policy, caps};
use crate::store::NamespaceAccess;
use crate::store::staged::Commit;
use cache::{CompileCache, one_line};

/// A flavor compiled, linked and ready to instantiate: without `wasi:http`
/// (linked when loaded, which is what checks its imports), and with it
/// (linked when a call granted `http` first needs it).
pub struct LoadedFlavor {
    component: wasmtime::component::Component,
    granted: OnceLock<FlavorPre<CallState>>,
    ungranted: FlavorPre<CallState>,
    pub digest: String,
}

impl LoadedFlavor {
    fn pre(&self, linkers: &linker::Linkers, policy: &Policy) -> Result<&FlavorPre<CallState>> {
        if !policy.grants.allows(Capability::Http) {
            return Ok(&self.ungranted);
        }
        get_or_try_init(&self.granted, || {
            link_flavor(linkers.granted()?, &self.component)
        })
    }
}

/// Links `component` as a flavor; refusals are `invalid`.
fn link_flavor(
    linker: &wasmtime::component::Linker<CallState>,
    component: &wasmtime::component::Component,
) -> Result<FlavorPre<CallState>> {
    // The outermost message names the import; its causes only restate it.
    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| Error::invalid(format!("the host cannot run this component: {e}")))?;
    FlavorPre::new(instance_pre).map_err(|e| {
        Error::invalid(format!(
            "this component is not a flavor (world flavorbox:secrets/flavor): {}",
            one_line(&e)
        ))
    })
}

/// What one call needs besides the request.
pub struct CallSetup<'a> {
    pub policy: &'a Policy,
    /// The manager's namespace, if the call has one.
    pub storage: Option<NamespaceAccess>,
    pub config: BTreeMap<String, String>,
    /// Further values to mask in the flavor's output: its secret config
    /// and the values config references resolved to.
    pub mask: Vec<String>,
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
    /// Whether the call's text may hold secret values the host never saw
    /// (see `secret_bearing` in this module), so its log lines are withheld
    /// from the default output (`capabilities::log::forward`) and its error
    /// details replaced by the host's own words.
    pub secret_bearing: bool,
    /// How many times the call ran (more than once when a commit found the
    /// namespace changed by another call).
    pub attempts: u32,
    /// The version of the manager's namespace the call read, if it read
    /// storage and wrote nothing (what a later call can be pinned to, see
    /// `NamespaceAccess::pinned_at`).
    pub storage_version: Option<u64>,
}

/// The result of one call, with the flavor's (masked) output.
pub struct Outcome<T> {
    pub result: Result<T>,
    pub logs: Vec<LogRecord>,
    pub report: CallReport,
}

impl<T> Outcome<T> {
    /// A call that failed before its flavor ran: no output, nothing to report.
    fn failed(err: Error) -> Self {
        Outcome {
            result: Err(err),
            logs: Vec::new(),
            report: CallReport::default(),
        }
    }
}

/// The value in `cell`, made by `init` if it is empty. (A failed `init`
/// leaves the cell empty, so the next caller tries again.)
fn get_or_try_init<T>(cell: &OnceLock<T>, init: impl FnOnce() -> Result<T>) -> Result<&T> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = init()?;
    Ok(cell.get_or_init(|| value))
}

/// `flavorbox:secrets/types` only defines types; its host trait is empty.
impl secrets::types::Host for CallState {}

/// How long past its deadline a call blocked in a host function (a sleep, a
/// stalled peer) may take before it is cut off; a call spinning in wasm is
/// stopped by the epoch deadline itself.
const HOST_WAIT_GRACE: Duration = Duration::from_millis(100);

pub struct Sandbox {
    engine: Engine,
    linkers: linker::Linkers,
    cache: CompileCache,
    loaded: Mutex<HashMap<String, Arc<LoadedFlavor>>>,
    /// One permit per pooled instance: a call waits for one no longer than
    /// its deadline, instead of failing on a full pool.
    slots: Arc<tokio::sync::Semaphore>,
    /// Drives calls for synchronous callers (the CLI).
    runtime: tokio::runtime::Runtime,
}

/// What a sandbox is set up for. Both keep every limit (each call's store
/// limiter caps its memory, tables and instances; a semaphore the calls
/// running at once; the epoch its deadline); they differ only in what is
/// set up before the first call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// A long-lived host (a library user, a server): instance slots reserved
    /// once and recycled between calls, and an I/O worker thread, so several
    /// threads can call at once.
    #[default]
    Service,
    /// One command's calls (the CLI): instances allocated on demand and I/O
    /// driven on the calling thread, so nothing is reserved that one call
    /// does not use. Calls from several threads take turns.
    OneShot,
}

/// How a sandbox is set up: read at the edge (the CLI, a library host) and
/// passed down; nothing below reads the environment.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Where compiled components are cached (`None`: compiled every time).
    pub cache_dir: Option<PathBuf>,
    pub profile: Profile,
    /// The `flavorbox` binary untrusted components are compiled in, bounded
    /// (see `compile`); `None`: one beside the running executable.
    pub compiler: Option<PathBuf>,
    /// Told when a component starts and ends compiling (the CLI shows
    /// progress for large ones).
    pub on_compile: Option<fn(&cache::CompileEvent)>,
}

impl SandboxConfig {
    /// A [`Profile::Service`] sandbox caching compiled components in `dir`.
    pub fn cached_in(dir: impl Into<PathBuf>) -> Self {
        SandboxConfig {
            cache_dir: Some(dir.into()),
            ..SandboxConfig::default()
        }
    }
}

impl Sandbox {
    /// A sandbox set up as `config` says.
    pub fn new(config: SandboxConfig) -> Result<Sandbox> {
        let SandboxConfig {
            cache_dir,
            profile,
            compiler,
            on_compile,
        } = config;
        let engine = engine::new_engine(profile == Profile::Service)?;
        let linkers = linker::Linkers::new(&engine)?;
        let cache = CompileCache::new(&engine, cache_dir, compiler, on_compile);
        let runtime = match profile {
            // One worker drives timers and I/O, so several threads can block
            // on calls at once while each runs its own flavor.
            Profile::Service => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("flavorbox-io")
                .enable_all()
                .build(),
            Profile::OneShot => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        }
        .map_err(|e| Error::host(format!("cannot start the async runtime: {e}")))?;
        Ok(Sandbox {
            engine,
            linkers,
            cache,
            loaded: Mutex::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(caps::CONCURRENT_CALLS)),
            runtime,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (bounded, or loads from the cache this home recorded) and
    /// links the component of `source`. Refuses, with the reason, anything
    /// that is not a component of the `flavor` world the host can satisfy
    /// within the sandbox's limits; those refusals are `invalid`.
    pub fn load(
        &self,
        source: &Source<'_>,
        records: &dyn crate::store::Database,
    ) -> Result<Arc<LoadedFlavor>> {
        if let Some(loaded) = self.lock_loaded().get(source.digest) {
            return Ok(loaded.clone());
        }
        let wasm = source.wasm;
        if wasmparser::Parser::is_core_wasm(wasm) {
            return Err(Error::invalid(
                "this is a core wasm module, not a component; build the flavor for \
                 wasm32-wasip2 or wrap it with `wasm-tools component new`",
            ));
        }
        if !wasmparser::Parser::is_component(wasm) {
            return Err(Error::invalid("this is not a wasm component (bad header)"));
        }
        let component = self.cache.load(&self.engine, source, records)?;
        let loaded = Arc::new(LoadedFlavor {
            ungranted: link_flavor(self.linkers.ungranted()?, &component)?,
            granted: OnceLock::new(),
            component,
            digest: source.digest.to_string(),
        });
        self.lock_loaded()
            .insert(source.digest.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// The flavor this sandbox loaded from the component with `digest`, if
    /// any (its bytes were checked against the digest when it was loaded).
    pub fn loaded(&self, digest: &str) -> Option<Arc<LoadedFlavor>> {
        self.lock_loaded().get(digest).cloned()
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
            mask: Vec::new(),
        };
        self.call(flavor, setup, &exports::Info)
    }

    async fn call_async<E: Export>(
        &self,
        flavor: &LoadedFlavor,
        setup: CallSetup<'_>,
        export: &E,
    ) -> Outcome<E::Answer> {
        let started = Instant::now();
        let limits = setup.policy.limits;
        let deadline = started + limits.timeout();
        let permit = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            self.slots.clone().acquire_owned(),
        );
        let Ok(Ok(_permit)) = permit.await else {
            return Outcome::failed(Error::conflict(format!(
                "all {} call slots of this process stayed busy past the {} ms deadline; \
                 nothing ran",
                caps::CONCURRENT_CALLS,
                limits.timeout_ms
            )));
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let run = self.attempt(flavor, &setup, export, deadline).await;
            let again = run.changed && !run.reached_network && Instant::now() < deadline;
            if again {
                continue;
            }
            let mut outcome = run.outcome;
            outcome.report.attempts = attempts;
            outcome.report.elapsed = started.elapsed();
            if run.changed {
                outcome.result = Err(Error::conflict(format!(
                    "another call changed this secrets manager's storage while {} ran{}; \
                     nothing was written, try again",
                    E::OPERATION,
                    if run.reached_network {
                        " (not run again: it reached the network)"
                    } else {
                        ""
                    }
                )));
            }
            return outcome;
        }
    }

    /// One run of a call: a fresh instance, its output, and its commit.
    async fn attempt<E: Export>(
        &self,
        flavor: &LoadedFlavor,
        setup: &CallSetup<'_>,
        export: &E,
        deadline: Instant,
    ) -> Attempt<E::Answer> {
        let operation = E::OPERATION;
        let limits = setup.policy.limits;
        let left = deadline.saturating_duration_since(Instant::now());
        let staged = setup.storage.as_ref().map(|access| access.stage(deadline));
        let state = CallState::new(setup.policy, staged, setup.config.clone(), deadline);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(engine::deadline_ticks(left));
        store.epoch_deadline_trap();
        store.set_hostcall_fuel(caps::TRANSFER_BYTES);
        store.set_max_component_handles(caps::COMPONENT_HANDLES);

        let pre = match flavor.pre(&self.linkers, setup.policy) {
            Ok(pre) => pre,
            Err(err) => {
                return Attempt {
                    outcome: Outcome::failed(err),
                    changed: false,
                    reached_network: false,
                };
            }
        };
        let run = async {
            let instance = pre
                .instantiate_async(&mut store)
                .await
                .map_err(RunError::Instantiate)?;
            Ok::<_, RunError>(export.invoke(&instance, &mut store).await?)
        };
        let raw = tokio::time::timeout(left + HOST_WAIT_GRACE, run).await;
        let state = store.into_data();

        // Decide the outcome; flavor text is masked below, once every value
        // the call handled is known.
        // A refused memory growth stops the call even if the flavor caught
        // it (a Python or JavaScript runtime turns it into an exception the
        // flavor may answer with, where a Rust flavor aborts).
        let mut memory = memory_breach(&state, operation);
        let outcome: std::result::Result<E::Answer, Failure> = match raw {
            Err(_elapsed) => Err(Failure::Host(deadline_error(&limits, operation))),
            Ok(Err(RunError::Instantiate(err))) => Err(Failure::Host(classify_instantiation(
                &err, &state, operation,
            ))),
            Ok(Err(RunError::Trap(err))) => Err(Failure::Host(classify_trap(
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
        let secret_bearing = secret_bearing(operation, outcome.is_ok(), &state);
        let recorded = state.violation();
        // Whether an error's detail quotes text the flavor chose: answers
        // that break the contract, and breaches recorded as quoting.
        let quoting = |err: &Error| match err.violation() {
            Some(Violation::Garbage) => true,
            Some(kind) => recorded
                .as_ref()
                .is_some_and(|(k, d, quotes)| *quotes && *k == kind && d == err.detail()),
            None => false,
        };
        let mut known_values = export.given_values();
        if let Ok(answer) = &outcome {
            known_values.extend(E::answer_values(answer));
        }
        known_values.extend(setup.mask.iter().map(String::as_str));
        let masker = Masker::new(known_values);
        let output = state.log.finish(&masker);

        let mut report = CallReport {
            elapsed: Duration::ZERO,
            peak_memory: state.limiter.peak_memory,
            used: state.used(),
            violation: recorded.as_ref().map(|(kind, detail, quotes)| {
                let detail = if secret_bearing && *quotes {
                    withheld_breach(*kind, operation)
                } else {
                    masker.mask(&clip(detail))
                };
                (*kind, detail)
            }),
            masked_lines: output.masked,
            log_truncated: output.truncated,
            secret_bearing,
            attempts: 1,
            storage_version: state.storage.version_seen(),
        };
        if output.records.iter().any(|r| r.source != LogSource::Host) {
            report.used.insert(Capability::Log);
        }
        let mut logs = output.records;
        let reached_network = state.used().contains(&Capability::Http);
        let storage_failure = state.storage.host_failure.is_some();

        let mut changed = false;
        let result = match outcome {
            Ok(answer) => match state.storage.into_staged() {
                Some(staged) => match staged.commit() {
                    Ok(Commit::Applied) => Ok(answer),
                    Ok(Commit::Changed) => {
                        changed = true;
                        Err(Error::conflict(String::new()))
                    }
                    Err(err) => Err(err),
                },
                None => Ok(answer),
            },
            Err(Failure::Host(err)) if storage_failure => Err(err),
            Err(Failure::Host(err)) if secret_bearing && quoting(&err) => {
                Err(withhold_host(err, operation))
            }
            Err(Failure::Host(err)) => Err(mask_error(err, &masker)),
            Err(Failure::Breach(err, wit)) if secret_bearing => {
                // The breach, told as a secret-bearing call's; what the
                // flavor reported after it goes to the withheld log.
                let (_, said) = withhold_flavor(wit, export, &masker);
                logs.push(LogRecord {
                    level: Level::Error,
                    source: LogSource::Error,
                    message: said,
                });
                Err(if quoting(&err) {
                    withhold_host(err, operation)
                } else {
                    mask_error(err, &masker)
                })
            }
            Err(Failure::Breach(err, wit)) => Err(with_report(
                mask_error(err, &masker),
                &from_wit(wit, &masker),
            )),
            Err(Failure::Flavor(wit)) => Err(if secret_bearing {
                let (error, said) = withhold_flavor(wit, export, &masker);
                logs.push(LogRecord {
                    level: Level::Error,
                    source: LogSource::Error,
                    message: said,
                });
                error
            } else {
                from_wit(wit, &masker)
            }),
        };
        Attempt {
            outcome: Outcome {
                result,
                logs,
                report,
            },
            changed,
            reached_network,
        }
    }
}

/// One run of a call and what decides whether it runs again.
struct Attempt<T> {
    outcome: Outcome<T>,
    /// The commit found the namespace changed by another call.
    changed: bool,
    /// The flavor used HTTP: a rerun would repeat what it sent.
    reached_network: bool,
}

/// Why a run ended in an error: its instance could not be created, or the
/// call trapped.
enum RunError {
    Instantiate(wasmtime::Error),
    Trap(wasmtime::Error),
}

impl From<wasmtime::Error> for RunError {
    fn from(err: wasmtime::Error) -> Self {
        RunError::Trap(err)
    }
}

/// A sandbox created on first use, so commands that never run a flavor
/// never pay for an engine; or one shared with other homes.
pub struct LazySandbox {
    config: SandboxConfig,
    cell: OnceLock<Arc<Sandbox>>,
}

impl LazySandbox {
    /// A sandbox set up as `config` says, made when first asked for.
    pub fn new(config: SandboxConfig) -> Self {
        LazySandbox {
            config,
            cell: OnceLock::new(),
        }
    }

    /// An existing sandbox (its engine and compiled flavors are shared).
    pub fn shared(sandbox: Arc<Sandbox>) -> Self {
        LazySandbox {
            config: SandboxConfig::default(),
            cell: OnceLock::from(sandbox),
        }
    }

    pub fn get(&self) -> Result<&Arc<Sandbox>> {
        if let Some(sandbox) = self.cell.get() {
            return Ok(sandbox);
        }
        let sandbox = Arc::new(Sandbox::new(self.config.clone())?);
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
    breach.map_detail(|detail| format!("{detail}; the flavor then reported {report}"))
}

/// The first sandbox breach a capability recorded, as an error.
fn breach(state: &CallState) -> Option<Error> {
    state
        .violation()
        .map(|(kind, detail, _)| Error::sandbox(kind, detail))
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

/// Whether a fixed cap of the store ended the call: more data copied out
/// of the guest than one host call may carry, or too many live resources or
/// handles.
fn cap_reached(err: &wasmtime::Error, op: Operation) -> Option<Error> {
    let limit = |detail: String| Some(Error::sandbox(Violation::Limit, detail));
    for cause in err.chain() {
        if let Some(ResourceTableError::Full) = cause.downcast_ref::<ResourceTableError>() {
            return limit(format!(
                "{op} held more than {} host resources (streams, pollables, wasi:http \
                 requests, fields or bodies, sockets) at once",
                caps::HOST_RESOURCES
            ));
        }
        let text = cause.to_string();
        if text.contains("fuel allocated for hostcalls has been exhausted") {
            return limit(format!(
                "{op} handed the host more than {} MiB in one host call or answer",
                caps::TRANSFER_BYTES / (1024 * 1024)
            ));
        }
        if text.contains("store handle limit exceeded") {
            return limit(format!(
                "{op} held more than {} component handles at once",
                caps::COMPONENT_HANDLES
            ));
        }
    }
    None
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
    match &state.storage.host_failure {
        // A lock another writer held past the deadline: nobody's fault.
        Some(failure) if failure.is(ErrorKind::Conflict) => {
            return Error::conflict(format!("{op} stopped: {}", failure.detail()));
        }
        Some(failure) => {
            return Error::host(format!(
                "{op} stopped: the host's store failed ({failure}); nothing was written"
            ));
        }
        None => {}
    }
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return deadline_error(limits, op);
    }
    if let Some(err) = memory_breach(state, op) {
        return err;
    }
    if let Some(err) = breach(state) {
        return err;
    }
    if let Some(err) = cap_reached(err, op) {
        return err;
    }
    let what = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => one_line(err),
    };
    Error::sandbox(Violation::Trap, format!("{op} trapped: {what}"))
}

/// A component that cannot be instantiated within the sandbox's limits
/// (tables, memories, instances, a start function that traps) is the
/// flavor's fault.
fn classify_instantiation(err: &wasmtime::Error, state: &CallState, op: Operation) -> Error {
    if let Some(asked) = state.limiter.memory_refused {
        return Error::sandbox(
            Violation::Memory,
            format!(
                "instantiating the flavor for {op} asked for {} MiB of linear memory, more \
                 than the {} MiB allowed",
                asked.div_ceil(1024 * 1024),
                state.limiter.memory_cap() / (1024 * 1024)
            ),
        );
    }
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return Error::sandbox(
            Violation::Deadline,
            format!("instantiating the flavor for {op} ran past its deadline"),
        );
    }
    let kind = if err.downcast_ref::<Trap>().is_some() {
        Violation::Trap
    } else {
        Violation::Limit
    };
    Error::sandbox(
        kind,
        format!(
            "the flavor could not be instantiated for {op} within the sandbox's limits: {}",
            one_line(err)
        ),
    )
}

/// Masks and clips an error's text (it may quote the flavor).
fn mask_error(err: Error, masker: &Masker) -> Error {
    if err.violation().is_none() {
        return err;
    }
    err.map_detail(|text| masker.mask(&clip(&text)))
}

fn from_wit(err: WitError, masker: &Masker) -> Error {
    let fix = |text: String| masker.mask(&clip(&text));
    match err {
        WitError::NotFound(m) => Error::not_found(fix(m)),
        WitError::AlreadyExists(m) => Error::already_exists(fix(m)),
        WitError::Invalid(m) => Error::invalid(fix(m)),
        WitError::Denied(m) => Error::denied(fix(m)),
        WitError::Backend(m) => Error::backend(fix(m)),
    }
}

/// Whether the call's text may carry secret values the host cannot mask:
/// it is one of the operations that handle values (`get-secret`,
/// `register-secret`, `update-secret`), its flavor read data the host never
/// saw (a stored value or key, a successful HTTP response), and the host
/// does not know the values the call handled: a `get-secret` that failed
/// (its values never reached the host), a register or update (what was
/// stored before is not what the host gave). Backends' refusals (HTTP
/// errors) are not such data, so their messages reach the user.
fn secret_bearing(operation: Operation, succeeded: bool, state: &CallState) -> bool {
    let unknown_values = match operation {
        Operation::GetSecret => !succeeded,
        Operation::RegisterSecret | Operation::UpdateSecret => true,
        Operation::GetAllSecretKeys
        | Operation::DeleteSecret
        | Operation::DeleteAllSecrets
        | Operation::Info => false,
    };
    unknown_values && state.read_data()
}

/// Where a withheld message can be seen.
const WITHHELD_HINT: &str = "FLAVORBOX_LOG=secret_bearing=info shows it";

/// The detail of a breach in a secret-bearing call: the kind and operation
/// only, as the full detail may quote what the flavor chose (a key, a host
/// name, an address) after reading data the host cannot mask.
fn withheld_breach(kind: Violation, op: Operation) -> String {
    format!(
        "{op} broke the sandbox ({kind}) after reading stored or remote data; the detail is \
         withheld as it may carry secret values"
    )
}

/// A sandbox breach of a secret-bearing call whose detail quotes the
/// flavor, told without the flavor's words.
fn withhold_host(err: Error, op: Operation) -> Error {
    match err.violation() {
        Some(kind) => Error::sandbox(kind, withheld_breach(kind, op)),
        None => err,
    }
}

/// The error of a secret-bearing call, in the host's words: what the kind
/// means for this operation and secret. The flavor's own (masked) words go
/// to the withheld log.
fn withhold_flavor<E: Export>(err: WitError, export: &E, masker: &Masker) -> (Error, String) {
    let op = E::OPERATION;
    let (said, kind) = match &err {
        WitError::NotFound(m) => (m, "not-found"),
        WitError::AlreadyExists(m) => (m, "already-exists"),
        WitError::Invalid(m) => (m, "invalid"),
        WitError::Denied(m) => (m, "denied"),
        WitError::Backend(m) => (m, "backend"),
    };
    let said = format!("{op} failed ({kind}): {}", masker.mask(&clip(said)));
    let withheld = |what: &str| {
        format!(
            "{op} {what} after the flavor read stored or remote data; its message is \
             withheld as it may carry secret values ({WITHHELD_HINT})"
        )
    };
    let error = match (err, export.subject()) {
        (WitError::NotFound(_), Some(name)) => {
            Error::not_found(format!("secret `{name}` does not exist"))
        }
        (WitError::AlreadyExists(_), Some(name)) => {
            Error::already_exists(format!("secret `{name}` already exists"))
        }
        (WitError::NotFound(_), None) => Error::not_found(withheld("found nothing")),
        (WitError::AlreadyExists(_), None) => Error::already_exists(withheld("found a twin")),
        (WitError::Invalid(_), _) => Error::invalid(withheld("was refused as invalid")),
        (WitError::Denied(_), _) => Error::denied(withheld("was denied")),
        (WitError::Backend(_), _) => Error::backend(withheld("failed in the backend")),
    };
    (error, said)
}
