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
//! This module holds what the layers above use ([`Sandbox`], [`CallSetup`],
//! [`Outcome`], [`CallReport`]) and what a flavor must be to be loaded; the
//! rest is split by what it guards against:
//!
//! | module | guards against |
//! |---|---|
//! | [`engine`], [`limiter`] | a flavor monopolising the host: epoch deadlines, memory, tables, instances |
//! | [`cache`], [`compile`] | a compile bomb (compiled in a bounded child process), and a swapped compile cache |
//! | [`linker`], [`state`] | a flavor reaching or making the host hold what it was not granted |
//! | `call` | calls crowding the host, and lost updates: slots, one deadline, reruns on a changed namespace |
//! | `run` | a run holding the host past what a call may: every cap on the store before the guest runs |
//! | `classify` | a misbehaving flavor reported as something else: one [`Violation`] per failure |
//! | `withhold` | a flavor's text carrying secret values: masking, and what a *secret-bearing* call withholds |
//! | `commit` | half-done work: writes staged, committed only when the call succeeded |
//! | [`exports`] | an answer of the wrong shape: one type per export, each checked |

pub mod cache;
mod call;
mod classify;
mod commit;
pub mod compile;
pub mod engine;
pub mod exports;
mod imports;
pub mod limiter;
pub mod linker;
mod run;
pub mod state;
mod withhold;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::Engine;

pub use cache::Source;
pub use exports::Export;
pub use state::CallState;

use crate::capabilities::Ungranted;
use crate::capabilities::log::LogRecord;
use crate::contract::{ContractVersion, FlavorDescription, v0_1, v0_2};
use crate::error::{Error, Result, Violation};
use crate::policy::{Capability, Policy, caps};
use crate::store::NamespaceAccess;
use cache::{CompileCache, one_line};

/// A flavor compiled, linked and ready to instantiate: without `wasi:http`
/// (linked when loaded, which is what checks its imports), and with it
/// (linked when a call granted `http` first needs it).
pub struct LoadedFlavor {
    component: wasmtime::component::Component,
    granted: OnceLock<FlavorPre>,
    ungranted: FlavorPre,
    pub digest: String,
    /// The contract version the component's world belongs to.
    pub contract: ContractVersion,
}

impl LoadedFlavor {
    fn pre(&self, linkers: &linker::Linkers, policy: &Policy) -> Result<&FlavorPre> {
        if !policy.grants.allows(Capability::Http) {
            return Ok(&self.ungranted);
        }
        get_or_try_init(&self.granted, || {
            link_flavor(linkers.granted()?, &self.component, self.contract)
        })
    }
}

/// A flavor linked for its contract version.
pub(crate) enum FlavorPre {
    V0_1(v0_1::FlavorPre<CallState>),
    V0_2(v0_2::FlavorPre<CallState>),
}

/// A flavor instance of either contract version; `exports` calls it.
pub enum FlavorInstance {
    V0_1(v0_1::Flavor),
    V0_2(v0_2::Flavor),
}

impl FlavorPre {
    async fn instantiate(
        &self,
        store: &mut wasmtime::Store<CallState>,
    ) -> wasmtime::Result<FlavorInstance> {
        Ok(match self {
            FlavorPre::V0_1(pre) => FlavorInstance::V0_1(pre.instantiate_async(store).await?),
            FlavorPre::V0_2(pre) => FlavorInstance::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// The contract version `component` was built against, told by the
/// `secrets-manager` interface it exports. A component exporting neither
/// is taken for 0.1, whose linking then says what it lacks.
fn contract_of(engine: &Engine, component: &wasmtime::component::Component) -> ContractVersion {
    let ty = component.component_type();
    let exported = |version: ContractVersion| {
        ty.exports(engine)
            .any(|(name, _)| name == version.secrets_manager_export())
    };
    ContractVersion::ALL
        .into_iter()
        .rev()
        .find(|&v| exported(v))
        .unwrap_or(ContractVersion::V0_1)
}

/// Links `component` as a flavor of `contract`; refusals are `invalid`.
fn link_flavor(
    linker: &wasmtime::component::Linker<CallState>,
    component: &wasmtime::component::Component,
    contract: ContractVersion,
) -> Result<FlavorPre> {
    // The outermost message names the import; its causes only restate it.
    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| Error::invalid(format!("the host cannot run this component: {e}")))?;
    let not_a_flavor = |e: wasmtime::Error| {
        Error::invalid(format!(
            "this component is not a flavor (world flavorbox:secrets/flavor), taken for one \
             of {contract}: {}",
            one_line(&e)
        ))
    };
    Ok(match contract {
        ContractVersion::V0_1 => {
            FlavorPre::V0_1(v0_1::FlavorPre::new(instance_pre).map_err(not_a_flavor)?)
        }
        ContractVersion::V0_2 => {
            FlavorPre::V0_2(v0_2::FlavorPre::new(instance_pre).map_err(not_a_flavor)?)
        }
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
    /// Who can lift a refusal for want of a grant, for a call through a
    /// registered flavor's secrets manager; `None` (a component being
    /// judged, a config check): every refusal is the flavor's breach.
    pub grantee: Option<Grantee<'a>>,
}

/// A registered flavor the operator can grant more: a refusal for want of
/// a grant it declared (a capability, or an origin the manager's config
/// names) is the operator's omission, told with the command that grants it
/// (see `classify`).
#[derive(Debug, Clone, Copy)]
pub struct Grantee<'a> {
    pub flavor: &'a str,
    pub declared: &'a BTreeSet<Capability>,
    /// The component is one this binary carries (built by this project,
    /// known by its digest): the origin it asks for is the one its config
    /// implies (e.g. `aws`'s regional endpoint), named in the command that
    /// grants it, where an untrusted flavor's choice of origin is never
    /// offered for granting.
    pub trusted: bool,
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
    /// (see `secret_bearing` in `sandbox/withhold.rs`), so its log lines
    /// are withheld from the default output (`capabilities::log::forward`)
    /// and its error details replaced by the host's own words.
    pub secret_bearing: bool,
    /// How many times the call ran (more than once when a commit found the
    /// namespace changed by another call).
    pub attempts: u32,
    /// The version of the manager's namespace the call read, if it read
    /// storage and wrote nothing (what a later call can be pinned to, see
    /// `NamespaceAccess::pinned_at`).
    pub storage_version: Option<u64>,
    /// Whether the call's storage writes were committed (a successful call
    /// that staged writes).
    pub stored: bool,
    /// What the operator did not grant, when that is all the call was
    /// refused (see `CallState::ungranted`).
    pub ungranted: Option<Ungranted>,
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
        let contract = contract_of(&self.engine, &component);
        let loaded = Arc::new(LoadedFlavor {
            ungranted: link_flavor(self.linkers.ungranted()?, &component, contract)?,
            contract,
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
            grantee: None,
        };
        self.call(flavor, setup, &exports::Info)
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
