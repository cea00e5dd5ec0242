//! What the benches share: a `local` namespace driven by sandbox calls
//! without `Home` around them, and how figures are summarized.
//!
//! What it guards against: two benches measuring "one sandbox call" in two
//! slightly different ways, and their summaries rounding differently.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flavorbox::Home;
use flavorbox::policy::Policy;
use flavorbox::registry::local_source;
use flavorbox::sandbox::{CallSetup, Export, LoadedFlavor, Sandbox};
use flavorbox::store::{Database, NamespaceAccess};

/// One manager's namespace on the `local` flavor, called straight through
/// the sandbox with `policy` (no manager lookup, no schema or name checks).
pub struct LocalNamespace {
    pub sandbox: Arc<Sandbox>,
    pub local: Arc<LoadedFlavor>,
    pub db: Arc<dyn Database>,
    pub id: i64,
    pub policy: Policy,
}

impl LocalNamespace {
    /// The namespace of `manager` (the active one if `None`) of `home`,
    /// with `local` loaded in the home's sandbox.
    pub fn of(home: &Home, manager: Option<&str>, policy: Policy) -> LocalNamespace {
        let id = home.manager(manager).expect("the manager").record().id;
        let sandbox = home.sandbox().expect("sandbox").clone();
        let local = sandbox
            .load(&local_source(), home.db())
            .expect("load local");
        LocalNamespace {
            sandbox,
            local,
            db: home.shared_db(),
            id,
            policy,
        }
    }

    /// One call of `export`, which must succeed.
    pub fn call<E: Export>(&self, export: &E) -> E::Answer {
        let setup = CallSetup {
            policy: &self.policy,
            storage: Some(NamespaceAccess::new(self.db.clone(), self.id)),
            config: BTreeMap::new(),
            mask: Vec::new(),
            grantee: None,
        };
        self.sandbox
            .call(&self.local, setup, export)
            .result
            .expect("call succeeds")
    }
}

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `ns` nanoseconds for people: `1.234 ms`.
pub fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
