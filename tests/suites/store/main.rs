//! The store's contract, on both backends: every rule of the host's records
//! and the message it gives, namespaces (isolation, versions, usage, exact
//! prefix listings, bounded lock waits), staged commits that conflict,
//! sealing at rest, tokens (bound to their manager's id, revoked with it),
//! the audit log (its hash chain, pruning, verification) and named locks,
//! and stores of the current release's layouts brought up to date.
//!
//! Each test is written once, as a function of a [`Place`] that opens
//! stores of one kind, and `on_both_backends!` runs it against SQLite (a
//! temporary file) and PostgreSQL (a fresh database on the throwaway
//! cluster of `flavorbox_tests::postgres`). Missing PostgreSQL binaries fail
//! the PostgreSQL half with what to install; nothing is skipped.
//!
//! The tests are split by subject into `store/*.rs`; this file holds the
//! record rules and what they share; `rotation.rs` the master key's
//! rotation; `writes.rs` values bound to their write (older ones put back
//! are refused). `tls.rs` is PostgreSQL's alone: the
//! link to the database under each `sslmode`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use flavorbox::ErrorKind;
use flavorbox::contract::FlavorDescription;
use flavorbox::policy::{ManagerLimits, Policy};
use flavorbox::schema::Schema;
use flavorbox::store::sealed::{KeySource, MasterKey};
use flavorbox::store::{Database, FlavorRecord, Opened, PostgresDatabase, Rotated, SqliteDatabase};
use flavorbox_tests::postgres::Postgres;

/// Runs each named test (a `fn(&Place)` of the module it is invoked in)
/// once on a SQLite store and once on a PostgreSQL store.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $test() { super::$test(&crate::Place::sqlite()); } )*
        }
        mod on_postgres {
            $( #[test] fn $test() { super::$test(&crate::Place::postgres()); } )*
        }
    };
}

mod audit;
mod layouts;
mod namespaces;
mod rotation;
mod sealing_and_access;
mod tls;
mod tokens;
mod writes;

/// Where one test's store lives: a SQLite file, or a PostgreSQL database.
pub enum Place {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
    },
}

impl Place {
    pub fn sqlite() -> Place {
        let dir = tempfile::tempdir().unwrap();
        Place::Sqlite {
            path: dir.path().join("flavorbox.db"),
            _dir: dir,
        }
    }

    pub fn postgres() -> Place {
        Place::Postgres {
            url: Postgres::shared().database(),
        }
    }

    /// A new handle on the store, unsealed (creating or upgrading it).
    pub fn try_open(&self) -> flavorbox::Result<Opened> {
        Ok(match self {
            Place::Sqlite { path, .. } => SqliteDatabase::open(path)?.into(),
            Place::Postgres { url } => PostgresDatabase::open(url)?.into(),
        })
    }

    pub fn open(&self) -> Opened {
        self.try_open().expect("open the store")
    }

    /// A new handle on the store, sealed under `key`.
    pub fn sealed(&self, key: &MasterKey) -> flavorbox::Result<Arc<dyn Database>> {
        Ok(match self {
            Place::Sqlite { path, .. } => {
                Arc::new(SqliteDatabase::open(path)?.sealed(key.clone())?)
            }
            Place::Postgres { url } => Arc::new(PostgresDatabase::open(url)?.sealed(key.clone())?),
        })
    }

    /// Rotates the store from the master key `old` to `new`.
    pub fn rotate(&self, old: &MasterKey, new: &MasterKey) -> flavorbox::Result<Rotated> {
        match self {
            Place::Sqlite { path, .. } => SqliteDatabase::open(path)?.rotate_key(old, new),
            Place::Postgres { url } => PostgresDatabase::open(url)?.rotate_key(old, new),
        }
    }

    /// Runs `sql` on the store directly (past flavorbox).
    pub fn exec(&self, sql: &str) {
        match self {
            Place::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Place::Postgres { url } => {
                Postgres::shared().sql(database_of(url), sql);
            }
        }
    }

    /// The first column of the first row `sql` selects, as text.
    pub fn scalar(&self, sql: &str) -> String {
        match self {
            Place::Sqlite { path, .. } => {
                use rusqlite::types::Value;
                let value = rusqlite::Connection::open(path)
                    .unwrap()
                    .query_row(sql, [], |r| r.get::<_, Value>(0))
                    .unwrap();
                match value {
                    Value::Null => String::new(),
                    Value::Integer(i) => i.to_string(),
                    Value::Real(f) => f.to_string(),
                    Value::Text(t) => t,
                    Value::Blob(b) => format!("{b:?}"),
                }
            }
            Place::Postgres { url } => Postgres::shared().sql(database_of(url), sql),
        }
    }

    /// The layout version the store records.
    pub fn layout(&self) -> i64 {
        let sql = match self {
            Place::Sqlite { .. } => "PRAGMA user_version",
            Place::Postgres { .. } => "SELECT max(version) FROM flavorbox_layout",
        };
        self.scalar(sql).parse().unwrap()
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Place::Postgres { .. })
    }
}

fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// The layout this flavorbox writes.
pub const LAYOUT: i64 = 12;

pub fn test_key() -> MasterKey {
    MasterKey::generate(KeySource::Given("test".to_string()))
}

/// Asserts `result` failed with `kind` and exactly `detail`.
#[track_caller]
pub fn fails<T: std::fmt::Debug>(result: flavorbox::Result<T>, kind: ErrorKind, detail: &str) {
    let err = result.expect_err("the store refused");
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.detail(), detail);
}

pub fn flavor(name: &str) -> FlavorRecord {
    FlavorRecord {
        name: name.to_string(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        description: FlavorDescription {
            contract: Default::default(),
            name: name.to_string(),
            version: "1.0.0".to_string(),
            description: "a test flavor".to_string(),
            config: Vec::new(),
            capabilities: Default::default(),
        },
        policy: Policy::default(),
        bundled: false,
    }
}

pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Adds an inactive manager on `flavor`.
pub fn add_manager(db: &dyn Database, name: &str, flavor: &str) {
    db.insert_manager(name, flavor, &config(&[]), &ManagerLimits::default(), false)
        .unwrap();
}

/// The names of the active managers.
fn active(db: &dyn Database) -> Vec<String> {
    let managers = db.managers().unwrap();
    managers
        .into_iter()
        .filter(|m| m.active)
        .map(|m| m.name)
        .collect()
}

fn schema(name: &str) -> Schema {
    Schema {
        name: name.to_string(),
        description: "an API key".to_string(),
        required: vec!["key".to_string()],
        optional: vec!["url".to_string()],
        allow_other_keys: false,
        builtin: false,
    }
}

on_both_backends!(
    a_new_store_has_one_active_default_manager_on_local,
    flavor_names_are_unique_regardless_of_case,
    a_flavor_is_replaced_and_its_policy_changed_only_if_registered,
    a_flavor_in_use_is_not_removed,
    exactly_one_manager_is_active,
    a_manager_config_is_replaced_only_if_the_manager_exists,
    the_active_or_a_non_empty_manager_is_not_removed_by_accident,
    user_schemas_are_registered_once_and_removed_by_name,
    metadata_is_recorded_once,
    compile_cache_checksums_are_recorded_and_replaced,
);

fn a_new_store_has_one_active_default_manager_on_local(place: &Place) {
    let db = place.open().db;
    let managers = db.managers().unwrap();
    assert_eq!(managers.len(), 1, "{managers:?}");
    assert_eq!(
        (managers[0].name.as_str(), managers[0].flavor.as_str()),
        ("default", "local")
    );
    assert!(managers[0].active && managers[0].config.is_empty());
    assert_eq!(db.active_manager().unwrap().unwrap(), managers[0]);
    assert!(db.flavors().unwrap().is_empty());
    assert!(db.schemas().unwrap().is_empty());
    // A second open neither adds a manager nor changes the layout.
    let again = place.open().db;
    assert_eq!(again.managers().unwrap(), managers);
    assert_eq!(place.layout(), LAYOUT);
}

fn flavor_names_are_unique_regardless_of_case(place: &Place) {
    let db = place.open().db;
    db.insert_flavor(&flavor("kv"), b"component").unwrap();
    let registered = "flavor `kv` is registered already; remove it first";
    fails(
        db.insert_flavor(&flavor("kv"), b"other"),
        ErrorKind::AlreadyExists,
        registered,
    );
    // A name that differs only in case names the one registered.
    fails(
        db.insert_flavor(&flavor("KV"), b"other"),
        ErrorKind::AlreadyExists,
        registered,
    );
    assert_eq!(db.flavors().unwrap(), [flavor("kv")]);
    assert_eq!(db.flavor("kv").unwrap(), Some(flavor("kv")));
    assert_eq!(db.flavor("KV").unwrap(), None, "lookups are exact");
    assert_eq!(db.flavor_component("kv").unwrap().unwrap(), b"component");
    assert_eq!(db.flavor_component("none").unwrap(), None);
}

fn a_flavor_is_replaced_and_its_policy_changed_only_if_registered(place: &Place) {
    let db = place.open().db;
    fails(
        db.replace_flavor(&flavor("kv"), b"new"),
        ErrorKind::NotFound,
        "flavor `kv` is not registered; register it without --replace",
    );
    fails(
        db.set_flavor_policy("kv", &Policy::default()),
        ErrorKind::NotFound,
        "flavor `kv` is not registered",
    );
    db.insert_flavor(&flavor("kv"), b"old").unwrap();
    add_manager(db.as_ref(), "user", "kv");
    let mut replaced = flavor("kv");
    replaced.digest = format!("sha256:{}", "cd".repeat(32));
    replaced.description.version = "2.0.0".to_string();
    db.replace_flavor(&replaced, b"new").unwrap();
    assert_eq!(db.flavor("kv").unwrap(), Some(replaced.clone()));
    assert_eq!(db.flavor_component("kv").unwrap().unwrap(), b"new");
    assert!(db.manager("user").unwrap().is_some(), "its managers stay");
    let mut policy = Policy::default();
    policy
        .grants
        .http_origins
        .push("https://example.com:443".to_string());
    db.set_flavor_policy("kv", &policy).unwrap();
    assert_eq!(db.flavor("kv").unwrap().unwrap().policy, policy);
}

fn a_flavor_in_use_is_not_removed(place: &Place) {
    let db = place.open().db;
    fails(
        db.remove_flavor("kv"),
        ErrorKind::NotFound,
        "flavor `kv` is not registered",
    );
    db.insert_flavor(&flavor("kv"), b"c").unwrap();
    add_manager(db.as_ref(), "second", "kv");
    add_manager(db.as_ref(), "first", "kv");
    fails(
        db.remove_flavor("kv"),
        ErrorKind::Denied,
        "flavor `kv` is used by secrets manager(s) first, second; remove them first",
    );
    db.remove_manager("first", false).unwrap();
    db.remove_manager("second", false).unwrap();
    db.remove_flavor("kv").unwrap();
    assert_eq!(db.flavor("kv").unwrap(), None);
    assert_eq!(db.flavor_component("kv").unwrap(), None);
}

fn exactly_one_manager_is_active(place: &Place) {
    let db = place.open().db;
    fails(
        db.set_active_manager("nope"),
        ErrorKind::NotFound,
        "secrets manager `nope` does not exist",
    );
    add_manager(db.as_ref(), "quiet", "local");
    assert_eq!(
        active(db.as_ref()),
        ["default"],
        "one not asked to stays inactive"
    );
    db.insert_manager(
        "loud",
        "local",
        &config(&[]),
        &ManagerLimits::default(),
        true,
    )
    .unwrap();
    assert_eq!(active(db.as_ref()), ["loud"], "one asked to takes over");
    fails(
        db.insert_manager(
            "loud",
            "other",
            &config(&[]),
            &ManagerLimits::default(),
            true,
        ),
        ErrorKind::AlreadyExists,
        "secrets manager `loud` exists already",
    );
    assert_eq!(db.manager("loud").unwrap().unwrap().flavor, "local");
    db.set_active_manager("quiet").unwrap();
    assert_eq!(active(db.as_ref()), ["quiet"]);
    assert_eq!(db.active_manager().unwrap().unwrap().name, "quiet");
    let names: Vec<String> = db.managers().unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["default", "loud", "quiet"], "listed by name");
}

fn a_manager_config_is_replaced_only_if_the_manager_exists(place: &Place) {
    let db = place.open().db;
    fails(
        db.update_manager_config("nope", &config(&[("k", "v")])),
        ErrorKind::NotFound,
        "secrets manager `nope` does not exist",
    );
    let limits = ManagerLimits {
        http_requests: Some(3),
    };
    db.insert_manager("m", "local", &config(&[("a", "1")]), &limits, false)
        .unwrap();
    db.update_manager_config("m", &config(&[("b", "2")]))
        .unwrap();
    let m = db.manager("m").unwrap().unwrap();
    assert_eq!(m.config, config(&[("b", "2")]));
    assert_eq!(m.limits, limits);
}

fn the_active_or_a_non_empty_manager_is_not_removed_by_accident(place: &Place) {
    use flavorbox::store::TxnMode;
    let db = place.open().db;
    fails(
        db.remove_manager("nope", true),
        ErrorKind::NotFound,
        "secrets manager `nope` does not exist",
    );
    fails(
        db.remove_manager("default", true),
        ErrorKind::Denied,
        "secrets manager `default` is active; make another one active first",
    );
    add_manager(db.as_ref(), "full", "local");
    let id = db.manager("full").unwrap().unwrap().id;
    let write = |entries: &[&str]| {
        let mut txn = db.namespace(id, TxnMode::Write).unwrap();
        for key in entries {
            txn.set(key, b"value").unwrap();
        }
        txn.commit().unwrap();
    };
    write(&["secrets/a"]);
    fails(
        db.remove_manager("full", false),
        ErrorKind::Denied,
        "secrets manager `full` still stores 1 entry in this home; \
         delete its secrets first (soft-deleted ones too: `secret delete NAME \
         --purge`) or pass --purge",
    );
    write(&["secrets/b"]);
    fails(
        db.remove_manager("full", false),
        ErrorKind::Denied,
        "secrets manager `full` still stores 2 entries in this home; \
         delete its secrets first (soft-deleted ones too: `secret delete NAME \
         --purge`) or pass --purge",
    );
    db.remove_manager("full", true).unwrap();
    assert_eq!(db.manager("full").unwrap(), None);
    // The namespace went with it: entries, version and usage.
    let mut gone = db.namespace(id, TxnMode::Read).unwrap();
    assert!(gone.list_keys("").unwrap().is_empty());
    assert_eq!(gone.version().unwrap(), 0);
    assert_eq!(gone.usage().unwrap().keys, 0);
    drop(gone);
    // A new manager of that name gets a new, empty namespace.
    add_manager(db.as_ref(), "full", "local");
    let again = db.manager("full").unwrap().unwrap().id;
    assert_ne!(again, id, "ids are never reused");
    // An empty, inactive manager goes without --purge.
    db.remove_manager("full", false).unwrap();
}

fn user_schemas_are_registered_once_and_removed_by_name(place: &Place) {
    let db = place.open().db;
    db.insert_schema(&schema("zeta")).unwrap();
    db.insert_schema(&schema("api_key")).unwrap();
    fails(
        db.insert_schema(&schema("api_key")),
        ErrorKind::AlreadyExists,
        "schema `api_key` is registered already",
    );
    let names: Vec<String> = db.schemas().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["api_key", "zeta"]);
    assert_eq!(db.schema("api_key").unwrap(), Some(schema("api_key")));
    assert_eq!(db.schema("nope").unwrap(), None);
    fails(
        db.remove_schema("nope"),
        ErrorKind::NotFound,
        "schema `nope` is not a registered user schema",
    );
    db.remove_schema("api_key").unwrap();
    assert_eq!(db.schema("api_key").unwrap(), None);
}

fn metadata_is_recorded_once(place: &Place) {
    let db = place.open().db;
    assert_eq!(db.meta("mark").unwrap(), None);
    assert!(db.insert_meta("mark", b"first").unwrap());
    assert!(!db.insert_meta("mark", b"second").unwrap());
    assert_eq!(db.meta("mark").unwrap().unwrap(), b"first");
    db.delete_meta("mark").unwrap();
    db.delete_meta("mark").unwrap();
    assert_eq!(db.meta("mark").unwrap(), None);
}

fn compile_cache_checksums_are_recorded_and_replaced(place: &Place) {
    let db = place.open().db;
    assert_eq!(db.compiled_checksum("entry.cwasm").unwrap(), None);
    db.record_compiled("entry.cwasm", "blake3:01").unwrap();
    db.record_compiled("entry.cwasm", "blake3:02").unwrap();
    assert_eq!(
        db.compiled_checksum("entry.cwasm").unwrap().as_deref(),
        Some("blake3:02")
    );
    assert_eq!(
        place.scalar("SELECT checksum FROM compiled WHERE entry = 'entry.cwasm'"),
        "blake3:02",
        "the column says what it holds"
    );
}
