//! Secrets managers (configured instances of a flavor) and the secret
//! operations that run through them.
//!
//! This is where user input is judged before any flavor sees it: names and
//! keys against the SPEC's rules, values against the size limit, key sets
//! against the schema, configuration against what the flavor declares. What
//! comes back has already been checked by the sandbox (see `contract`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::contract::{Request, Response};
use crate::error::{Error, Result};
use crate::flavors::{FlavorEntry, LOCAL, LOCAL_DIGEST, LOCAL_WASM};
use crate::home::Home;
use crate::sandbox::cache::digest;
use crate::sandbox::{CallOutcome, LoadedFlavor};
use crate::schema::{self, Schema};
use crate::secret::{Secret, check_name};
use crate::store::ManagerRecord;

/// A secrets manager ready to take calls.
struct Bound {
    record: ManagerRecord,
    flavor: FlavorEntry,
    loaded: Arc<LoadedFlavor>,
}

impl Home {
    // ----- secrets managers ------------------------------------------------

    pub fn managers(&self) -> Result<Vec<ManagerRecord>> {
        self.store().managers()
    }

    /// Registers a secrets manager on `flavor`, checking `config` against
    /// the keys the flavor declares.
    pub fn register_manager(
        &self,
        name: &str,
        flavor: &str,
        config: BTreeMap<String, String>,
        set_active: bool,
    ) -> Result<()> {
        check_name("secrets manager name", name)?;
        let entry = self.flavor(flavor)?;
        for key in config.keys() {
            if !entry.description.config.iter().any(|f| &f.name == key) {
                let known: Vec<&str> = entry
                    .description
                    .config
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect();
                return Err(Error::input(format!(
                    "flavor `{flavor}` takes no config key `{key}` (it takes: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        if let Some(missing) = entry
            .description
            .config
            .iter()
            .find(|f| f.required && !config.contains_key(&f.name))
        {
            return Err(Error::input(format!(
                "flavor `{flavor}` requires config key `{}` ({})",
                missing.name, missing.description
            )));
        }
        self.store()
            .insert_manager(name, flavor, &config, set_active)
    }

    pub fn set_active_manager(&self, name: &str) -> Result<()> {
        self.store().set_active_manager(name)
    }

    pub fn remove_manager(&self, name: &str, purge: bool) -> Result<()> {
        self.store().remove_manager(name, purge)
    }

    /// The named manager, or the active one.
    pub fn manager(&self, name: Option<&str>) -> Result<ManagerRecord> {
        match name {
            Some(name) => self
                .store()
                .manager(name)?
                .ok_or_else(|| Error::NotFound(format!("secrets manager `{name}` does not exist"))),
            None => self.store().active_manager()?.ok_or_else(|| {
                Error::NotFound(
                    "no secrets manager is active; run `flavorbox secrets-manager set-active NAME`"
                        .to_string(),
                )
            }),
        }
    }

    fn bind(&self, manager: Option<&str>) -> Result<Bound> {
        let record = self.manager(manager)?;
        let flavor = self.flavor(&record.flavor)?;
        let loaded = if record.flavor == LOCAL {
            self.sandbox()?.load(LOCAL_DIGEST, LOCAL_WASM)?
        } else {
            let wasm = self
                .store()
                .flavor_component(&record.flavor)?
                .ok_or_else(|| {
                    Error::NotFound(format!("flavor `{}` is not registered", record.flavor))
                })?;
            // The compile cache is keyed by digest: a damaged component must
            // never borrow the compiled code of the one registered.
            if digest(&wasm) != flavor.digest {
                return Err(Error::Host(format!(
                    "the stored component of flavor `{}` does not match its digest; \
                     the store is corrupt",
                    record.flavor
                )));
            }
            self.sandbox()?.load(&flavor.digest, &wasm)?
        };
        Ok(Bound {
            record,
            flavor,
            loaded,
        })
    }

    fn call(&self, bound: &Bound, request: Request) -> Result<Response> {
        self.outcome(bound, &request)?.result
    }

    fn outcome(&self, bound: &Bound, request: &Request) -> Result<CallOutcome> {
        let storage = self
            .store()
            .namespace(bound.record.id, request.txn_mode())?;
        self.run_outcome(
            &bound.loaded,
            &bound.flavor.policy,
            Some(Box::new(storage)),
            bound.record.config.clone(),
            request,
        )
    }

    /// Sends one request, unchecked by schemas, to a secrets manager and
    /// returns the whole outcome. This is the contract as a flavor sees it
    /// (e.g. `update-secret` replaces values); the conformance suite and
    /// `evaluate` use it.
    pub fn request(&self, manager: Option<&str>, request: &Request) -> Result<CallOutcome> {
        let bound = self.bind(manager)?;
        self.outcome(&bound, request)
    }

    // ----- schemas ------------------------------------------------------------

    /// A built-in or user schema.
    pub fn schema(&self, name: &str) -> Result<Schema> {
        if let Some(schema) = schema::find_builtin(name) {
            return Ok(schema);
        }
        self.store().schema(name)?.ok_or_else(|| {
            Error::input(format!(
                "unknown schema `{name}`; `flavorbox schema list` shows the known ones"
            ))
        })
    }

    pub fn schemas(&self) -> Result<Vec<Schema>> {
        let mut all = schema::builtins();
        all.extend(self.store().schemas()?);
        Ok(all)
    }

    pub fn register_schema(&self, schema: &Schema) -> Result<()> {
        schema.check()?;
        self.store().insert_schema(schema)
    }

    // ----- secrets --------------------------------------------------------------

    /// Creates a secret after checking it against its schema.
    pub fn register_secret(&self, manager: Option<&str>, secret: Secret) -> Result<()> {
        self.schema(secret.schema())?.validate(&secret)?;
        let bound = self.bind(manager)?;
        self.call(&bound, Request::Register(secret)).map(drop)
    }

    pub fn get_secret(&self, manager: Option<&str>, name: &str) -> Result<Secret> {
        check_name("secret name", name)?;
        let bound = self.bind(manager)?;
        match self.call(&bound, Request::Get(name.to_string()))? {
            Response::Secret(secret) => Ok(secret),
            _ => unreachable!("get-secret answers with a secret"),
        }
    }

    /// The names of all secrets, sorted.
    pub fn list_secrets(&self, manager: Option<&str>) -> Result<Vec<String>> {
        let bound = self.bind(manager)?;
        match self.call(&bound, Request::List)? {
            Response::Names(mut names) => {
                names.sort();
                Ok(names)
            }
            _ => unreachable!("get-all-secret-keys answers with names"),
        }
    }

    /// Merges `changes` into the stored values of `name` (and switches its
    /// schema if asked), re-validates, and stores the result.
    pub fn update_secret(
        &self,
        manager: Option<&str>,
        name: &str,
        changes: Vec<(String, String)>,
        schema: Option<&str>,
    ) -> Result<Secret> {
        check_name("secret name", name)?;
        // Check the changes on their own first, so a bad key or a repeated
        // key is reported as such and not as a merge artefact.
        if !changes.is_empty() {
            Secret::new(name, schema.unwrap_or("arbitrary"), changes.clone())?;
        } else if schema.is_none() {
            return Err(Error::input(
                "nothing to update: give KEY=VALUE pairs or --schema",
            ));
        }
        let bound = self.bind(manager)?;
        let current = match self.call(&bound, Request::Get(name.to_string()))? {
            Response::Secret(secret) => secret,
            _ => unreachable!("get-secret answers with a secret"),
        };
        let mut values = current.values().clone();
        values.extend(changes);
        let updated = Secret::new(name, schema.unwrap_or(current.schema()), values)?;
        self.schema(updated.schema())?.validate(&updated)?;
        self.call(&bound, Request::Update(updated.clone()))?;
        Ok(updated)
    }

    pub fn delete_secret(&self, manager: Option<&str>, name: &str) -> Result<()> {
        check_name("secret name", name)?;
        let bound = self.bind(manager)?;
        self.call(&bound, Request::Delete(name.to_string()))
            .map(drop)
    }

    pub fn delete_all_secrets(&self, manager: Option<&str>, force: bool) -> Result<()> {
        let bound = self.bind(manager)?;
        self.call(&bound, Request::DeleteAll { force }).map(drop)
    }
}
