//! The native baselines: the work a flavorbox path does, done without wasm
//! (a `HashMap` with the `local` flavor's encoding, rusqlite with the
//! store's table and pragmas, the `info()` answer copied and checked).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox::Secret;
use flavorbox::contract::v0_1::{ConfigField, FlavorInfo};
use flavorbox::contract::{ContractVersion, FlavorDescription};
use rusqlite::{Connection, OptionalExtension, params};

use crate::PREFIX;

/// The key ZenML's local secrets manager keeps the schema name under.
const SCHEMA_KEY: &str = "zenml_schema_name";

/// What the `local` flavor stores, as JSON instead of YAML: every key mapped
/// to its base64 value, plus the schema name.
pub(crate) fn native_encode(secret: &Secret) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    for (key, value) in secret.values() {
        map.insert(key.clone(), BASE64.encode(value).into());
    }
    map.insert(SCHEMA_KEY.to_string(), secret.schema().into());
    serde_json::to_vec(&map).expect("a map encodes")
}

/// What the `local` flavor does on `get-secret` (decode, base64, UTF-8), and
/// the same validated `Secret` the host hands back.
pub(crate) fn native_decode(name: &str, bytes: &[u8]) -> Secret {
    let map: BTreeMap<String, String> = serde_json::from_slice(bytes).expect("stored JSON");
    let mut schema = None;
    let mut values = Vec::with_capacity(map.len());
    for (key, value) in map {
        if key == SCHEMA_KEY {
            schema = Some(value);
            continue;
        }
        let decoded = BASE64.decode(value.as_bytes()).expect("base64");
        values.push((key, String::from_utf8(decoded).expect("UTF-8")));
    }
    Secret::new(name, schema.expect("schema name"), values).expect("a valid secret")
}

pub(crate) fn native_get(map: &HashMap<String, Vec<u8>>, name: &str) -> Secret {
    let bytes = map.get(&format!("{PREFIX}{name}")).expect("stored");
    native_decode(name, bytes)
}

/// A local secrets manager on SQLite without the sandbox: the same table and
/// pragmas as the flavorbox store, and per operation the same transaction
/// shape (`BEGIN IMMEDIATE`, existence check, write, commit with fsync).
pub(crate) struct NativeSqlite {
    conn: Connection,
}

impl NativeSqlite {
    pub(crate) fn open(path: &Path) -> NativeSqlite {
        let conn = Connection::open(path).expect("open native db");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS kv (
                 namespace INTEGER NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (namespace, key)
             ) WITHOUT ROWID;",
        )
        .expect("native layout");
        NativeSqlite { conn }
    }

    pub(crate) fn register(&mut self, secret: &Secret) {
        let key = format!("{PREFIX}{}", secret.name());
        let value = native_encode(secret);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        let exists = tx
            .prepare_cached("SELECT 1 FROM kv WHERE namespace = ?1 AND key = ?2")
            .expect("prepare")
            .query_row(params![1, key], |_| Ok(()))
            .optional()
            .expect("select")
            .is_some();
        assert!(!exists, "secret already exists");
        tx.prepare_cached(
            "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
        )
        .expect("prepare")
        .execute(params![1, key, value])
        .expect("insert");
        tx.commit().expect("commit");
    }

    pub(crate) fn delete(&mut self, name: &str) {
        let key = format!("{PREFIX}{name}");
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        let n = tx
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")
            .expect("prepare")
            .execute(params![1, key])
            .expect("delete");
        assert_eq!(n, 1, "secret did not exist");
        tx.commit().expect("commit");
    }
}

/// The `info()` answer `described` came from, in its WIT form: what the
/// native baseline copies and checks.
pub(crate) fn wit_info(described: &FlavorDescription) -> FlavorInfo {
    FlavorInfo {
        name: described.name.clone(),
        version: described.version.clone(),
        description: described.description.clone(),
        config: described
            .config
            .iter()
            .map(|f| ConfigField {
                name: f.name.clone(),
                description: f.description.clone(),
                required: f.required,
                secret: f.secret,
            })
            .collect(),
        capabilities: described
            .capabilities
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
    }
}

/// What the host does with an `info()` answer of a flavor speaking
/// `contract`, without the sandbox: take a copy of the answer and check it.
pub(crate) fn native_info(answer: &FlavorInfo, contract: ContractVersion) -> FlavorDescription {
    FlavorDescription::from_wit(answer.clone(), contract).expect("a valid description")
}
