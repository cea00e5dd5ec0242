//! The flavor registry: the built-in `local` flavor plus every flavor an
//! operator registered from a `.wasm` file.
//!
//! Registration is where an untrusted component is judged before anything is
//! stored: it must be a component (not a core module), export the `flavor`
//! world, import nothing the host does not provide, describe itself sanely
//! through `info()` within the sandbox, and not claim a name that is taken.
//! Capabilities it declares are checked against what the operator grants.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bindings::FlavorInfo;
use crate::capabilities::Capability;
use crate::contract::{Request, Response, clip};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::sandbox::cache::digest;
use crate::sandbox::policy::{MAX_HTTP_REQUESTS, MAX_MEMORY_MIB, MAX_TIMEOUT_SECS};
use crate::sandbox::{Grants, Limits, Policy};
use crate::secret::{check_key, check_name};
use crate::store::FlavorRecord;

/// The built-in flavor's name.
pub const LOCAL: &str = "local";
/// The `local` flavor component, built from `guests/local` by `build.rs`.
pub const LOCAL_WASM: &[u8] = include_bytes!(env!("FLAVORBOX_LOCAL_WASM"));
/// `sha256:<hex>` of [`LOCAL_WASM`], computed at build time.
pub const LOCAL_DIGEST: &str = env!("FLAVORBOX_LOCAL_DIGEST");

/// One configuration key a flavor takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigField {
    pub name: String,
    pub description: String,
    pub required: bool,
    /// A credential: never printed back.
    pub secret: bool,
}

/// What a flavor says about itself, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorDescription {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config: Vec<ConfigField>,
    pub capabilities: BTreeSet<Capability>,
}

impl FlavorDescription {
    /// Checks a flavor's `info()`.
    pub fn from_wit(info: FlavorInfo) -> std::result::Result<Self, String> {
        check_name("flavor name", &info.name).map_err(|e| e.0)?;
        if info.version.is_empty() || info.version.len() > 64 {
            return Err("a version must be 1-64 bytes".to_string());
        }
        let mut names = BTreeSet::new();
        let config = info
            .config
            .into_iter()
            .map(|field| {
                check_key(&field.name).map_err(|e| format!("config {e}"))?;
                if !names.insert(field.name.clone()) {
                    return Err(format!("config key `{}` is listed twice", field.name));
                }
                Ok(ConfigField {
                    name: field.name,
                    description: clip(&field.description),
                    required: field.required,
                    secret: field.secret,
                })
            })
            .collect::<std::result::Result<_, String>>()?;
        let capabilities = info
            .capabilities
            .iter()
            .map(|c| c.parse::<Capability>())
            .collect::<std::result::Result<_, String>>()?;
        Ok(FlavorDescription {
            name: info.name,
            version: clip(&info.version),
            description: clip(&info.description),
            config,
            capabilities,
        })
    }
}

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
}

impl RegisterOptions {
    /// The policy these options describe, checked.
    pub fn policy(&self) -> Result<Policy> {
        let mut limits = Limits::default();
        if let Some(mib) = self.memory_mib {
            if mib == 0 || mib > MAX_MEMORY_MIB {
                return Err(Error::input(format!(
                    "--memory must be 1-{MAX_MEMORY_MIB} MiB, not {mib}"
                )));
            }
            limits.memory_bytes = mib * 1024 * 1024;
        }
        if let Some(secs) = self.timeout_secs {
            if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS as f64) {
                return Err(Error::input(format!(
                    "--timeout must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
                )));
            }
            limits.timeout_ms = (secs * 1000.0).ceil() as u64;
        }
        if let Some(mib) = self.storage_quota_mib {
            if mib == 0 {
                return Err(Error::input("--storage-quota must be at least 1 MiB"));
            }
            limits.storage.bytes = mib.saturating_mul(1024 * 1024);
        }
        if let Some(keys) = self.storage_quota_keys {
            if keys == 0 {
                return Err(Error::input("--storage-keys must be at least 1"));
            }
            limits.storage.keys = keys;
        }
        if let Some(requests) = self.http_requests {
            if requests == 0 || requests > MAX_HTTP_REQUESTS {
                return Err(Error::input(format!(
                    "--http-requests must be 1-{MAX_HTTP_REQUESTS}, not {requests}"
                )));
            }
            limits.http_requests = requests;
        }
        let mut grants = Grants {
            capabilities: self
                .grants
                .iter()
                .copied()
                .filter(|c| !c.always_granted())
                .collect(),
            http_origins: Vec::new(),
        };
        if !self.allow_hosts.is_empty() {
            grants.capabilities.insert(Capability::Http);
            grants.http_origins = self.allow_hosts.clone();
        }
        Ok(Policy { limits, grants })
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

/// Declared capabilities the policy does not grant.
pub fn ungranted(description: &FlavorDescription, policy: &Policy) -> Vec<Capability> {
    description
        .capabilities
        .iter()
        .copied()
        .filter(|c| !policy.grants.allows(*c))
        .collect()
}

/// The result of registering a flavor.
pub struct Registered {
    pub entry: FlavorEntry,
    /// Capabilities the flavor declares but was not granted; it will be
    /// refused when it uses them.
    pub ungranted: Vec<Capability>,
}

impl Home {
    /// The built-in `local` flavor.
    fn local_entry(&self) -> Result<FlavorEntry> {
        let description = self.describe_component(LOCAL_DIGEST, LOCAL_WASM)?;
        Ok(FlavorEntry {
            description,
            digest: LOCAL_DIGEST.to_string(),
            builtin: true,
            policy: local_policy(),
        })
    }

    /// Runs `info()` of a component in the sandbox, without grants (once per
    /// component and process).
    fn describe_component(&self, digest: &str, wasm: &[u8]) -> Result<FlavorDescription> {
        let loaded = self.sandbox()?.load(digest, wasm)?;
        if let Some(description) = loaded.description.get() {
            return Ok(description.clone());
        }
        let description = match self.run(
            &loaded,
            &Policy::default(),
            None,
            Default::default(),
            &Request::Info,
        )? {
            Response::Info(description) => description,
            _ => unreachable!("info answers with a description"),
        };
        Ok(loaded.description.get_or_init(|| description).clone())
    }

    pub fn flavors(&self) -> Result<Vec<FlavorEntry>> {
        let mut entries = vec![self.local_entry()?];
        entries.extend(self.store().flavors()?.into_iter().map(entry_from_record));
        Ok(entries)
    }

    pub fn flavor(&self, name: &str) -> Result<FlavorEntry> {
        if name == LOCAL {
            return self.local_entry();
        }
        self.store()
            .flavor(name)?
            .map(entry_from_record)
            .ok_or_else(|| Error::NotFound(format!("flavor `{name}` is not registered")))
    }

    /// Loads the component at `path` and returns its checked description,
    /// without registering it.
    pub fn inspect_flavor(&self, path: &Path) -> Result<FlavorDescription> {
        self.read_flavor(path)
            .map(|(_, _, description)| description)
    }

    /// Reads, loads and describes a component, refusing one that claims the
    /// built-in name.
    fn read_flavor(&self, path: &Path) -> Result<(Vec<u8>, String, FlavorDescription)> {
        let wasm = std::fs::read(path)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
        let digest = digest(&wasm);
        let description = self
            .describe_component(&digest, &wasm)
            .map_err(|e| match e {
                Error::Input(why) => Error::input(format!("{}: {why}", path.display())),
                other => other,
            })?;
        if description.name == LOCAL {
            return Err(Error::input(format!(
                "{}: flavor claims the name `{LOCAL}`, which is built in",
                path.display()
            )));
        }
        Ok((wasm, digest, description))
    }

    /// Registers the flavor in the component at `path`.
    pub fn register_flavor(&self, path: &Path, options: &RegisterOptions) -> Result<Registered> {
        let policy = options.policy()?;
        crate::capabilities::http::check_origins(&policy.grants.http_origins)?;
        let (wasm, digest, description) = self.read_flavor(path)?;
        let record = FlavorRecord {
            name: description.name.clone(),
            digest,
            info: description,
            policy,
        };
        self.store().insert_flavor(&record, &wasm)?;
        let entry = entry_from_record(record);
        let ungranted = ungranted(&entry.description, &entry.policy);
        Ok(Registered { entry, ungranted })
    }

    pub fn remove_flavor(&self, name: &str) -> Result<()> {
        if name == LOCAL {
            return Err(Error::Denied(format!(
                "flavor `{LOCAL}` is built in and cannot be removed"
            )));
        }
        self.store().remove_flavor(name)
    }
}

fn entry_from_record(record: FlavorRecord) -> FlavorEntry {
    FlavorEntry {
        description: record.info,
        digest: record.digest,
        builtin: false,
        policy: record.policy,
    }
}
