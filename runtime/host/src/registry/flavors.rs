//! The flavor registry: the built-in `local` flavor plus every flavor an
//! operator registered from a `.wasm` file.
//!
//! Registration is where an untrusted component is judged before anything is
//! stored: it must be a component (not a core module), export the `flavor`
//! world, import nothing the host does not provide, describe itself sanely
//! through `info()` within the sandbox, and not claim a name that is taken.
//! Capabilities it declares are checked against what the operator grants
//! (declared but not granted is reported; used but not granted is refused at
//! run time).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::contract::FlavorDescription;
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::policy::{
    Capability, CompileLimits, Grants, Limits, MAX_COMPILE_MEMORY_MIB, MAX_COMPILE_TIMEOUT_SECS,
    MAX_HTTP_REQUESTS, MAX_MEMORY_MIB, MAX_TIMEOUT_SECS, Policy, check_origins,
};
use crate::sandbox::cache::digest;
use crate::sandbox::{LazySandbox, LoadedFlavor, Source};
use crate::store::{Database, FlavorRecord};

/// The built-in flavor's name.
pub const LOCAL: &str = "local";
/// The `local` flavor component, built from `guests/flavors/local` by `build.rs`.
pub const LOCAL_WASM: &[u8] = include_bytes!(env!("FLAVORBOX_LOCAL_WASM"));
/// `sha256:<hex>` of [`LOCAL_WASM`], computed at build time.
pub const LOCAL_DIGEST: &str = env!("FLAVORBOX_LOCAL_DIGEST");

/// A flavor as listed and described.
#[derive(Debug, Clone, Serialize)]
pub struct FlavorEntry {
    #[serde(flatten)]
    pub description: FlavorDescription,
    pub digest: String,
    pub builtin: bool,
    pub policy: Policy,
}

/// What the operator grants and limits when registering a flavor.
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    pub grants: BTreeSet<Capability>,
    /// Origins for HTTP (`scheme://host[:port]`); implies the `http` grant.
    pub allow_hosts: Vec<String>,
    pub memory_mib: Option<u64>,
    pub timeout_secs: Option<f64>,
    pub storage_quota_mib: Option<u64>,
    pub storage_quota_keys: Option<u64>,
    pub http_requests: Option<u32>,
    /// Wall time to compile the component, in seconds.
    pub compile_timeout_secs: Option<f64>,
    /// Memory of the compiler process, in MiB.
    pub compile_memory_mib: Option<u64>,
}

impl RegisterOptions {
    /// The policy these options describe, checked.
    pub fn policy(&self) -> Result<Policy> {
        self.apply(Policy::default())
    }

    /// `base` with the limits these options set replaced and the
    /// capabilities and origins they grant added, checked.
    pub fn apply(&self, base: Policy) -> Result<Policy> {
        let mut limits = base.limits;
        if let Some(mib) = self.memory_mib {
            if mib == 0 || mib > MAX_MEMORY_MIB {
                return Err(Error::invalid(format!(
                    "--memory must be 1-{MAX_MEMORY_MIB} MiB, not {mib}"
                )));
            }
            limits.memory_bytes = mib * 1024 * 1024;
        }
        if let Some(secs) = self.timeout_secs {
            if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS as f64) {
                return Err(Error::invalid(format!(
                    "--timeout must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
                )));
            }
            limits.timeout_ms = (secs * 1000.0).ceil() as u64;
        }
        if let Some(mib) = self.storage_quota_mib {
            if mib == 0 {
                return Err(Error::invalid("--storage-quota must be at least 1 MiB"));
            }
            limits.storage.bytes = mib.saturating_mul(1024 * 1024);
        }
        if let Some(keys) = self.storage_quota_keys {
            if keys == 0 {
                return Err(Error::invalid("--storage-keys must be at least 1"));
            }
            limits.storage.keys = keys;
        }
        if let Some(requests) = self.http_requests {
            if requests == 0 || requests > MAX_HTTP_REQUESTS {
                return Err(Error::invalid(format!(
                    "--http-requests must be 1-{MAX_HTTP_REQUESTS}, not {requests}"
                )));
            }
            limits.http_requests = requests;
        }
        if let Some(secs) = self.compile_timeout_secs {
            if !(secs > 0.0 && secs <= MAX_COMPILE_TIMEOUT_SECS as f64) {
                return Err(Error::invalid(format!(
                    "--compile-timeout must be more than 0 and at most \
                     {MAX_COMPILE_TIMEOUT_SECS} seconds"
                )));
            }
            limits.compile_timeout_ms = (secs * 1000.0).ceil() as u64;
        }
        if let Some(mib) = self.compile_memory_mib {
            if !(64..=MAX_COMPILE_MEMORY_MIB).contains(&mib) {
                return Err(Error::invalid(format!(
                    "--compile-memory must be 64-{MAX_COMPILE_MEMORY_MIB} MiB, not {mib}"
                )));
            }
            limits.compile_memory_bytes = mib * 1024 * 1024;
        }
        let mut grants = base.grants;
        grants
            .capabilities
            .extend(self.grants.iter().copied().filter(|c| !c.always_granted()));
        if !self.allow_hosts.is_empty() {
            grants.capabilities.insert(Capability::Http);
            for origin in &self.allow_hosts {
                if !grants.http_origins.contains(origin) {
                    grants.http_origins.push(origin.clone());
                }
            }
        }
        Ok(Policy { limits, grants })
    }

    /// Whether these options change anything.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
            && self.allow_hosts.is_empty()
            && self.memory_mib.is_none()
            && self.timeout_secs.is_none()
            && self.storage_quota_mib.is_none()
            && self.storage_quota_keys.is_none()
            && self.http_requests.is_none()
            && self.compile_timeout_secs.is_none()
            && self.compile_memory_mib.is_none()
    }
}

/// The built-in flavor's policy: its own storage, default limits.
pub fn local_policy() -> Policy {
    Policy {
        limits: Limits::default(),
        grants: Grants {
            capabilities: BTreeSet::from([Capability::Storage]),
            http_origins: Vec::new(),
        },
    }
}

/// The result of registering a flavor.
pub struct Registered {
    pub entry: FlavorEntry,
    /// Capabilities the flavor declares but was not granted; it will be
    /// refused when it uses them.
    pub ungranted: Vec<Capability>,
}

/// The result of replacing a flavor's component.
pub struct Replaced {
    pub before: FlavorEntry,
    pub after: Registered,
}

/// What running a flavor takes: its compiled component, its policy, and
/// which config keys hold credentials.
pub struct Runnable {
    pub loaded: Arc<LoadedFlavor>,
    pub policy: Policy,
    pub secret_config_keys: BTreeSet<String>,
}

/// The flavors of one home.
pub struct Flavors {
    db: Arc<dyn Database>,
    sandbox: Arc<LazySandbox>,
    /// `info()` answers by component digest: a component's description does
    /// not change, so it is asked once per registry.
    described: Mutex<HashMap<String, FlavorDescription>>,
}

impl Flavors {
    pub fn new(db: Arc<dyn Database>, sandbox: Arc<LazySandbox>) -> Self {
        Flavors {
            db,
            sandbox,
            described: Mutex::default(),
        }
    }

    /// The built-in `local` flavor.
    fn local_entry(&self) -> Result<FlavorEntry> {
        let description = self.describe_component(&local_source())?;
        Ok(FlavorEntry {
            description,
            digest: LOCAL_DIGEST.to_string(),
            builtin: true,
            policy: local_policy(),
        })
    }

    /// Runs `info()` of a component in the sandbox, without grants. A
    /// component that breaks the sandbox while describing itself is bad
    /// input (`invalid`), as it is being judged here.
    fn describe_component(&self, source: &Source<'_>) -> Result<FlavorDescription> {
        if let Some(description) = self.lock_described().get(source.digest) {
            return Ok(description.clone());
        }
        let sandbox = self.sandbox.get()?;
        let loaded = sandbox.load(source, self.db.as_ref())?;
        let outcome = sandbox.info(&loaded);
        crate::capabilities::log::forward(&outcome.logs, outcome.report.secret_bearing);
        let description = outcome.result.map_err(|e| match e.violation() {
            Some(_) => Error::invalid(format!("info() {e}")),
            None => e,
        })?;
        self.lock_described()
            .insert(source.digest.to_string(), description.clone());
        Ok(description)
    }

    fn lock_described(&self) -> std::sync::MutexGuard<'_, HashMap<String, FlavorDescription>> {
        self.described.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every flavor, the built-in first.
    pub fn list(&self) -> Result<Vec<FlavorEntry>> {
        let mut entries = vec![self.local_entry()?];
        entries.extend(self.db.flavors()?.into_iter().map(entry_from_record));
        Ok(entries)
    }

    pub fn get(&self, name: &str) -> Result<FlavorEntry> {
        if name == LOCAL {
            return self.local_entry();
        }
        self.db
            .flavor(name)?
            .map(entry_from_record)
            .ok_or_else(|| Error::not_found(format!("flavor `{name}` is not registered")))
    }

    /// The compiled component and policy of the flavor `name`, ready to run.
    /// A stored component that cannot be loaded within the sandbox's limits
    /// (a compile past its bounds, instance limits) is the flavor's fault.
    pub fn runnable(&self, name: &str) -> Result<Runnable> {
        let sandbox = self.sandbox.get()?;
        if name == LOCAL {
            return Ok(Runnable {
                loaded: sandbox.load(&local_source(), self.db.as_ref())?,
                policy: local_policy(),
                secret_config_keys: BTreeSet::new(),
            });
        }
        let record = self
            .db
            .flavor(name)?
            .ok_or_else(|| Error::not_found(format!("flavor `{name}` is not registered")))?;
        // Loaded (and checked against its digest) earlier in this process:
        // not read again, which a server on a remote store would otherwise
        // do for every request.
        if let Some(loaded) = sandbox.loaded(&record.digest) {
            return Ok(Runnable {
                loaded,
                secret_config_keys: record
                    .description
                    .secret_config_keys()
                    .map(str::to_string)
                    .collect(),
                policy: record.policy,
            });
        }
        let wasm = self
            .db
            .flavor_component(name)?
            .ok_or_else(|| Error::not_found(format!("flavor `{name}` is not registered")))?;
        // The compile cache is keyed by digest: a damaged component must
        // never borrow the compiled code of the one registered.
        if digest(&wasm) != record.digest {
            return Err(Error::host(format!(
                "the stored component of flavor `{name}` does not match its digest; \
                 the store is corrupt"
            )));
        }
        let source = Source {
            digest: &record.digest,
            wasm: &wasm,
            builtin: false,
            limits: record.policy.limits.compile(),
        };
        let loaded = sandbox
            .load(&source, self.db.as_ref())
            .map_err(|e| match e.kind() {
                ErrorKind::Invalid => Error::sandbox(
                    Violation::Limit,
                    format!("flavor `{name}` cannot be loaded: {}", e.detail()),
                ),
                _ => e,
            })?;
        Ok(Runnable {
            loaded,
            secret_config_keys: record
                .description
                .secret_config_keys()
                .map(str::to_string)
                .collect(),
            policy: record.policy,
        })
    }

    /// Loads the component at `path` (compiling it within `limits`) and
    /// returns its checked description, without registering it.
    pub fn inspect(&self, path: &Path, limits: CompileLimits) -> Result<FlavorDescription> {
        self.read_flavor(path, limits)
            .map(|(_, _, description)| description)
    }

    /// Reads, loads and describes a component, refusing one that claims the
    /// built-in name.
    fn read_flavor(
        &self,
        path: &Path,
        limits: CompileLimits,
    ) -> Result<(Vec<u8>, String, FlavorDescription)> {
        let wasm = std::fs::read(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        let digest = digest(&wasm);
        let source = Source {
            digest: &digest,
            wasm: &wasm,
            builtin: digest == LOCAL_DIGEST,
            limits,
        };
        let description = self
            .describe_component(&source)
            .map_err(|e| match e.kind() {
                ErrorKind::Invalid => e.map_detail(|why| format!("{}: {why}", path.display())),
                _ => e,
            })?;
        if description.name == LOCAL {
            return Err(Error::invalid(format!(
                "{}: flavor claims the name `{LOCAL}`, which is built in",
                path.display()
            )));
        }
        Ok((wasm, digest, description))
    }

    /// Registers the flavor in the component at `path`.
    pub fn register(&self, path: &Path, options: &RegisterOptions) -> Result<Registered> {
        let policy = options.policy()?;
        check_origins(&policy.grants.http_origins)?;
        let (wasm, digest, description) = self.read_flavor(path, policy.limits.compile())?;
        let record = FlavorRecord {
            name: description.name.clone(),
            digest,
            description,
            policy,
        };
        self.db.insert_flavor(&record, &wasm)?;
        let entry = entry_from_record(record);
        let ungranted = entry.policy.ungranted(&entry.description.capabilities);
        Ok(Registered { entry, ungranted })
    }

    /// Upgrades the registered flavor the component at `path` describes to
    /// that component, keeping its managers (and so their secrets) and its
    /// grants and limits (changed by `options` where they say so). Refused
    /// if a manager's config no longer fits the new version.
    pub fn replace(&self, path: &Path, options: &RegisterOptions) -> Result<Replaced> {
        // The new component is compiled within the default bounds, or the
        // ones `options` set: which flavor it replaces is known only once it
        // has described itself.
        let compile = options.policy()?.limits.compile();
        let (wasm, digest, description) = self.read_flavor(path, compile)?;
        let before = self
            .db
            .flavor(&description.name)?
            .map(entry_from_record)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "flavor `{}` is not registered; register it without --replace",
                    description.name
                ))
            })?;
        let policy = options.apply(before.policy.clone())?;
        check_origins(&policy.grants.http_origins)?;
        for manager in self.db.managers()? {
            if manager.flavor != description.name {
                continue;
            }
            let fits = manager
                .config
                .keys()
                .find(|k| !description.config.iter().any(|f| &f.name == *k));
            if let Some(key) = fits {
                return Err(Error::invalid(format!(
                    "secrets manager `{}` has config key `{key}`, which version {} of flavor \
                     `{}` no longer takes; update the manager first",
                    manager.name, description.version, description.name
                )));
            }
            if let Some(missing) = description
                .config
                .iter()
                .find(|f| f.required && !manager.config.contains_key(&f.name))
            {
                return Err(Error::invalid(format!(
                    "version {} of flavor `{}` requires config key `{}`, which secrets manager \
                     `{}` does not have; add it with `secrets-manager update`",
                    description.version, description.name, missing.name, manager.name
                )));
            }
        }
        let record = FlavorRecord {
            name: description.name.clone(),
            digest,
            description,
            policy,
        };
        self.db.replace_flavor(&record, &wasm)?;
        let entry = entry_from_record(record);
        let ungranted = entry.policy.ungranted(&entry.description.capabilities);
        Ok(Replaced {
            before,
            after: Registered { entry, ungranted },
        })
    }

    /// Grants capabilities and origins and changes limits of a registered
    /// flavor in place.
    pub fn grant(&self, name: &str, options: &RegisterOptions) -> Result<FlavorEntry> {
        let entry = self.registered(name)?;
        if options.is_empty() {
            return Err(Error::invalid(
                "nothing to grant: give --grant, --allow-host or a limit",
            ));
        }
        let policy = options.apply(entry.policy)?;
        check_origins(&policy.grants.http_origins)?;
        self.db.set_flavor_policy(name, &policy)?;
        self.get(name)
    }

    /// Revokes capabilities and origins of a registered flavor in place.
    /// Revoking `http` drops every origin; dropping the last origin revokes
    /// `http`.
    pub fn revoke(
        &self,
        name: &str,
        capabilities: &[Capability],
        origins: &[String],
    ) -> Result<FlavorEntry> {
        let entry = self.registered(name)?;
        if capabilities.is_empty() && origins.is_empty() {
            return Err(Error::invalid(
                "nothing to revoke: give --capability or --allow-host",
            ));
        }
        let mut grants = entry.policy.grants.clone();
        for capability in capabilities {
            if capability.always_granted() {
                return Err(Error::invalid(format!(
                    "capability `{capability}` is always granted"
                )));
            }
            if !grants.capabilities.remove(capability) {
                return Err(Error::invalid(format!(
                    "flavor `{name}` was not granted `{capability}`"
                )));
            }
            if *capability == Capability::Http {
                grants.http_origins.clear();
            }
        }
        for origin in origins {
            let before = grants.http_origins.len();
            grants.http_origins.retain(|o| o != origin);
            if grants.http_origins.len() == before {
                return Err(Error::invalid(format!(
                    "flavor `{name}` was not granted origin `{origin}`"
                )));
            }
            if grants.http_origins.is_empty() {
                grants.capabilities.remove(&Capability::Http);
            }
        }
        let policy = Policy {
            limits: entry.policy.limits,
            grants,
        };
        self.db.set_flavor_policy(name, &policy)?;
        self.get(name)
    }

    /// A registered (not built-in) flavor.
    fn registered(&self, name: &str) -> Result<FlavorEntry> {
        if name == LOCAL {
            return Err(Error::denied(format!(
                "flavor `{LOCAL}` is built in; its grants and limits are fixed"
            )));
        }
        self.get(name)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        if name == LOCAL {
            return Err(Error::denied(format!(
                "flavor `{LOCAL}` is built in and cannot be removed"
            )));
        }
        self.db.remove_flavor(name)
    }
}

/// The built-in component, trusted: compiled in process.
pub fn local_source() -> Source<'static> {
    Source {
        digest: LOCAL_DIGEST,
        wasm: LOCAL_WASM,
        builtin: true,
        limits: CompileLimits::default(),
    }
}

fn entry_from_record(record: FlavorRecord) -> FlavorEntry {
    FlavorEntry {
        description: record.description,
        digest: record.digest,
        builtin: false,
        policy: record.policy,
    }
}
