//! A throwaway home for one test, driven through the CLI or the library,
//! and the steps every suite repeats on it: registering a guest flavor and
//! a manager, listing and revealing secrets, and reading a manager's raw
//! storage to prove a failed call changed nothing.
//!
//! What it guards against: a test leaving a home behind (the directory is
//! deleted on drop) or sharing one with another test, and each suite
//! growing its own slightly different copy of these steps.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use flavorbox::Home;
use flavorbox::policy::Capability;
use flavorbox::registry::RegisterOptions;
use flavorbox::sandbox::{Export, Outcome, Sandbox, SandboxConfig};
use flavorbox::store::TxnMode;
use serde_json::Value;

use crate::cli::{Run, cache_dir, run_cli_env};
use crate::guests::Guest;

/// One engine and compiled flavors for all library-level tests of a binary.
pub fn shared_sandbox() -> Arc<Sandbox> {
    static SANDBOX: OnceLock<Arc<Sandbox>> = OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            Arc::new(Sandbox::new(SandboxConfig::cached_in(cache_dir())).expect("sandbox"))
        })
        .clone()
}

/// `args` followed by `--manager MANAGER` when a manager is given.
pub fn with_manager<'a>(args: &[&'a str], manager: Option<&'a str>) -> Vec<&'a str> {
    let mut args = args.to_vec();
    if let Some(manager) = manager {
        args.extend(["--manager", manager]);
    }
    args
}

/// A manager's configuration from `(key, value)` pairs, for the library.
pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The password of the secret [`CliHome::register_login`] registers.
pub const LOGIN_PASSWORD: &str = "hunter2-pw";

/// A home in a temporary directory driven only through the CLI (this
/// process opens nothing in it), deleted on drop.
pub struct CliHome {
    pub dir: tempfile::TempDir,
}

impl CliHome {
    /// A private (0700) directory, as `flavorbox init` makes one: a home
    /// others may enter is tightened with a warning on first use.
    pub fn new() -> CliHome {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("make the home private");
        CliHome { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the CLI on this home.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        run_cli_env(Some(self.path()), args, stdin, &[])
    }

    /// Runs the CLI on this home with extra environment variables.
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_cli_env(Some(self.path()), args, None, env)
    }

    /// Runs `args` on the secrets manager `manager`.
    pub fn on(&self, manager: &str, args: &[&str]) -> Run {
        self.cli(&with_manager(args, Some(manager)))
    }

    /// The names `secret list` prints for `manager` (the active one if
    /// `None`).
    #[track_caller]
    pub fn secret_names(&self, manager: Option<&str>) -> Vec<String> {
        let args = with_manager(&["secret", "list", "--output", "json"], manager);
        serde_json::from_value(self.cli(&args).json()).expect("a list of names")
    }

    /// `secret get NAME --reveal --output json` on `manager` (the active
    /// one if `None`).
    #[track_caller]
    pub fn revealed(&self, name: &str, manager: Option<&str>) -> Value {
        let args = with_manager(
            &["secret", "get", name, "--reveal", "--output", "json"],
            manager,
        );
        self.cli(&args).json()
    }

    /// The value of `key` of the secret `name` on the active manager, at
    /// `version` (the current one if `None`): `secret get --key`.
    #[track_caller]
    pub fn secret_value(&self, name: &str, key: &str, version: Option<&str>) -> String {
        let mut args = vec!["secret", "get", name, "--key", key];
        if let Some(version) = version {
            args.extend(["--version", version]);
        }
        self.cli(&args).ok().trim_end().to_string()
    }

    /// `secret register NAME ARGS...` on the active manager (`args`: the
    /// `KEY=VALUE` pairs and flags such as `--schema`); must succeed.
    #[track_caller]
    pub fn register_secret(&self, name: &str, args: &[&str]) {
        let mut all = vec!["secret", "register", name];
        all.extend_from_slice(args);
        self.cli(&all).ok();
    }

    /// Registers the secret `name` of schema `basic_auth` (`username=admin`,
    /// `password=`[`LOGIN_PASSWORD`]) on the active manager, and checks that
    /// `secret get` shows the password only as `***` and `--reveal` shows
    /// both values and the schema.
    #[track_caller]
    pub fn register_login(&self, name: &str) {
        let password = format!("password={LOGIN_PASSWORD}");
        self.cli(&[
            "secret",
            "register",
            name,
            "--schema",
            "basic_auth",
            "username=admin",
            &password,
        ])
        .ok();
        let masked = self.cli(&["secret", "get", name]);
        assert!(masked.ok().contains("password  ***"), "{masked:?}");
        assert!(!masked.stdout.contains(LOGIN_PASSWORD), "{masked:?}");
        let secret = self.revealed(name, None);
        assert_eq!(secret["schema"], "basic_auth", "{secret:#}");
        assert_eq!(secret["values"]["username"], "admin", "{secret:#}");
        assert_eq!(secret["values"]["password"], LOGIN_PASSWORD, "{secret:#}");
    }

    /// Deletes the secret `name` of the active manager, checks it is not
    /// found any more, and that the secrets `left` are all that remain.
    #[track_caller]
    pub fn delete_secret(&self, name: &str, left: &[&str]) {
        self.cli(&["secret", "delete", name, "--yes"]).ok();
        self.cli(&["secret", "get", name]).fails(1, "not found");
        assert_eq!(self.secret_names(None), left);
    }

    /// `flavor register` of `guest` with `flags`; the run, unchecked (a
    /// test may expect a warning, or a refusal).
    pub fn register_flavor(&self, guest: Guest, flags: &[&str]) -> Run {
        let wasm = guest.arg();
        let mut args = vec!["flavor", "register", wasm.as_str()];
        args.extend_from_slice(flags);
        self.cli(&args)
    }

    /// `secrets-manager register NAME --flavor FLAVOR` with `config` as
    /// `--config KEY=VALUE` and `flags` (e.g. `--set-active`); must succeed.
    #[track_caller]
    pub fn register_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &[(&str, &str)],
        flags: &[&str],
    ) {
        let pairs: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["secrets-manager", "register", name, "--flavor", flavor];
        for pair in &pairs {
            args.extend(["--config", pair.as_str()]);
        }
        args.extend_from_slice(flags);
        self.cli(&args).ok();
    }

    /// Registers the test flavor `guest` through the CLI with the `storage`
    /// grant and `flags` (e.g. `--timeout 1`), and the secrets manager
    /// `manager` on it (made active if `set_active`).
    #[track_caller]
    pub fn cli_register(&self, guest: Guest, manager: &str, flags: &[&str], set_active: bool) {
        let mut grant = vec!["--grant", "storage"];
        grant.extend_from_slice(flags);
        self.register_flavor(guest, &grant).ok();
        let active: &[&str] = if set_active { &["--set-active"] } else { &[] };
        self.register_manager(manager, guest.name(), &[], active);
    }
}

impl Default for CliHome {
    fn default() -> Self {
        Self::new()
    }
}

/// A home in a temporary directory, open in this process through the
/// library (`home`) and driven through the CLI too (every [`CliHome`]
/// method); deleted on drop.
pub struct TestHome {
    // Closed before its directory is deleted.
    pub home: Home,
    cli: CliHome,
}

impl Deref for TestHome {
    type Target = CliHome;

    fn deref(&self) -> &CliHome {
        &self.cli
    }
}

impl TestHome {
    pub fn new() -> TestHome {
        let cli = CliHome::new();
        let home = Home::builder(cli.path())
            .shared_sandbox(shared_sandbox())
            .open()
            .expect("open home");
        TestHome { home, cli }
    }

    /// Registers `guest` through the library with `options`, and secrets
    /// managers `managers` on it, each configured with `config`; returns
    /// the flavor's name.
    pub fn register_in_library(
        &self,
        guest: Guest,
        options: &RegisterOptions,
        managers: &[(&str, BTreeMap<String, String>)],
    ) -> String {
        let flavor = self
            .home
            .flavors()
            .register(&guest.path(), options)
            .unwrap_or_else(|e| panic!("register the flavor {}: {e}", guest.name()))
            .entry
            .description
            .name;
        for (manager, config) in managers {
            self.home
                .managers()
                .register(manager, &flavor, config.clone(), false)
                .unwrap_or_else(|e| panic!("register the manager {manager}: {e}"));
        }
        flavor
    }

    /// Registers `guest` through the library with the `storage` grant, and
    /// secrets managers `managers` on its flavor with no config.
    pub fn register_with_storage(&self, guest: Guest, managers: &[&str]) {
        let options = RegisterOptions {
            grants: [Capability::Storage].into(),
            ..Default::default()
        };
        let managers: Vec<_> = managers.iter().map(|m| (*m, BTreeMap::new())).collect();
        self.register_in_library(guest, &options, &managers);
    }

    /// One call of `export` on `manager` (the active one if `None`) through
    /// the library: what it answered and what the sandbox recorded.
    #[track_caller]
    pub fn call<E: Export>(&self, manager: Option<&str>, export: &E) -> Outcome<E::Answer> {
        self.home
            .manager(manager)
            .and_then(|manager| manager.call_contract(export))
            .unwrap_or_else(|e| panic!("bind the manager {manager:?}: {e}"))
    }

    /// Every key and value in `manager`'s storage namespace, read directly
    /// from the store.
    pub fn raw_storage(&self, manager: &str) -> BTreeMap<String, Vec<u8>> {
        let db = self.home.db();
        let id = db
            .manager(manager)
            .expect("read manager")
            .unwrap_or_else(|| panic!("no manager {manager}"))
            .id;
        let mut txn = db.namespace(id, TxnMode::Read).expect("namespace");
        txn.list_keys("")
            .expect("list")
            .into_iter()
            .map(|key| {
                let value = txn.get(&key).expect("get").expect("listed key exists");
                (key, value)
            })
            .collect()
    }

    /// Writes raw entries into `manager`'s namespace (test fixtures).
    pub fn put_raw(&self, manager: &str, entries: &[(&str, &[u8])]) {
        let db = self.home.db();
        let id = db.manager(manager).unwrap().unwrap().id;
        let mut txn = db.namespace(id, TxnMode::Write).unwrap();
        for (key, value) in entries {
            txn.set(key, value).unwrap();
        }
        txn.commit().unwrap();
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}
