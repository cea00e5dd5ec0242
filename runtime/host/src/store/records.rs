//! The host's own records in the store: registered flavors, secrets
//! managers and user schemas. Each write is one transaction, and every rule
//! that spans records (a flavor in use cannot be removed, exactly one
//! manager is active, an active or non-empty manager is not removed by
//! accident) is checked inside it.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::sqlite::{from_json, to_json};
use super::{Database, FlavorRecord, ManagerRecord, NamespaceTxn, SqliteDatabase, TxnMode};
use crate::error::{Error, Result};
use crate::policy::{ManagerLimits, Policy};
use crate::schema::Schema;

impl Database for SqliteDatabase {
    // ----- flavors -------------------------------------------------------

    fn flavors(&self) -> Result<Vec<FlavorRecord>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT name, digest, info, policy FROM flavors ORDER BY name")?;
        let rows = stmt.query_map([], flavor_from_row)?;
        rows.map(|r| r?).collect()
    }

    fn flavor(&self, name: &str) -> Result<Option<FlavorRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached("SELECT name, digest, info, policy FROM flavors WHERE name = ?1")?
            .query_row([name], flavor_from_row)
            .optional()?
            .transpose()
    }

    fn flavor_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        conn.query_row(
            "SELECT component FROM flavors WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| match e {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..) => Error::host(format!(
                "the stored component of flavor `{name}` is unreadable; the store is corrupt"
            )),
            other => other.into(),
        })
    }

    fn insert_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        self.write(|tx| {
            // Names are unique without regard to case (a store written before
            // names had to be lowercase may hold `Local`).
            let twin: Option<String> = tx
                .query_row(
                    "SELECT name FROM flavors WHERE lower(name) = lower(?1)",
                    [&record.name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(twin) = twin {
                return Err(Error::already_exists(format!(
                    "flavor `{twin}` is registered already; remove it first"
                )));
            }
            let inserted = tx.execute(
                "INSERT INTO flavors (name, digest, component, info, policy)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![
                    record.name,
                    record.digest,
                    component,
                    to_json(&record.description)?,
                    to_json(&record.policy)?
                ],
            )?;
            if inserted == 0 {
                return Err(Error::already_exists(format!(
                    "flavor `{}` is registered already; remove it first",
                    record.name
                )));
            }
            Ok(())
        })
    }

    fn replace_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        self.write(|tx| {
            let updated = tx.execute(
                "UPDATE flavors SET digest = ?2, component = ?3, info = ?4, policy = ?5
                 WHERE name = ?1",
                params![
                    record.name,
                    record.digest,
                    component,
                    to_json(&record.description)?,
                    to_json(&record.policy)?
                ],
            )?;
            if updated == 0 {
                return Err(Error::not_found(format!(
                    "flavor `{}` is not registered; register it without --replace",
                    record.name
                )));
            }
            Ok(())
        })
    }

    fn set_flavor_policy(&self, name: &str, policy: &Policy) -> Result<()> {
        self.write(|tx| {
            let updated = tx.execute(
                "UPDATE flavors SET policy = ?2 WHERE name = ?1",
                params![name, to_json(policy)?],
            )?;
            if updated == 0 {
                return Err(Error::not_found(format!(
                    "flavor `{name}` is not registered"
                )));
            }
            Ok(())
        })
    }

    fn remove_flavor(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            let users: Vec<String> = tx
                .prepare("SELECT name FROM managers WHERE flavor = ?1 ORDER BY name")?
                .query_map([name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !users.is_empty() {
                return Err(Error::denied(format!(
                    "flavor `{name}` is used by secrets manager(s) {}; remove them first",
                    users.join(", ")
                )));
            }
            if tx.execute("DELETE FROM flavors WHERE name = ?1", [name])? == 0 {
                return Err(Error::not_found(format!(
                    "flavor `{name}` is not registered"
                )));
            }
            Ok(())
        })
    }

    // ----- secrets managers ----------------------------------------------

    fn managers(&self) -> Result<Vec<ManagerRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, flavor, config, active, limits FROM managers ORDER BY name",
        )?;
        let rows = stmt.query_map([], manager_from_row)?;
        rows.map(|r| r?).collect()
    }

    fn manager(&self, name: &str) -> Result<Option<ManagerRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "SELECT id, name, flavor, config, active, limits FROM managers WHERE name = ?1",
        )?
        .query_row([name], manager_from_row)
        .optional()?
        .transpose()
    }

    fn active_manager(&self) -> Result<Option<ManagerRecord>> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "SELECT id, name, flavor, config, active, limits FROM managers WHERE active = 1",
        )?
        .query_row([], manager_from_row)
        .optional()?
        .transpose()
    }

    fn insert_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &BTreeMap<String, String>,
        limits: &ManagerLimits,
        set_active: bool,
    ) -> Result<()> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM managers WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(Error::already_exists(format!(
                    "secrets manager `{name}` exists already"
                )));
            }
            let none_active: bool = tx.query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM managers WHERE active = 1)",
                [],
                |r| r.get(0),
            )?;
            let active = set_active || none_active;
            if active {
                tx.execute("UPDATE managers SET active = 0", [])?;
            }
            tx.execute(
                "INSERT INTO managers (name, flavor, config, active, limits)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, flavor, to_json(config)?, active, to_json(limits)?],
            )?;
            Ok(())
        })
    }

    fn update_manager_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()> {
        self.write(|tx| {
            let updated = tx.execute(
                "UPDATE managers SET config = ?2 WHERE name = ?1",
                params![name, to_json(config)?],
            )?;
            if updated == 0 {
                return Err(Error::not_found(format!(
                    "secrets manager `{name}` does not exist"
                )));
            }
            Ok(())
        })
    }

    fn set_active_manager(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM managers WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(Error::not_found(format!(
                    "secrets manager `{name}` does not exist"
                )));
            }
            tx.execute("UPDATE managers SET active = (name = ?1)", [name])?;
            Ok(())
        })
    }

    fn remove_manager(&self, name: &str, purge: bool) -> Result<()> {
        self.write(|tx| {
            let row: Option<(i64, bool)> = tx
                .query_row(
                    "SELECT id, active FROM managers WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, active)) = row else {
                return Err(Error::not_found(format!(
                    "secrets manager `{name}` does not exist"
                )));
            };
            if active {
                return Err(Error::denied(format!(
                    "secrets manager `{name}` is active; make another one active first"
                )));
            }
            let entries: i64 =
                tx.query_row("SELECT count(*) FROM kv WHERE namespace = ?1", [id], |r| {
                    r.get(0)
                })?;
            if entries > 0 && !purge {
                return Err(Error::denied(format!(
                    "secrets manager `{name}` still stores {entries} entr{} in this home; \
                     delete its secrets first or pass --purge",
                    if entries == 1 { "y" } else { "ies" }
                )));
            }
            tx.execute("DELETE FROM kv WHERE namespace = ?1", [id])?;
            tx.execute("DELETE FROM namespace_versions WHERE namespace = ?1", [id])?;
            tx.execute("DELETE FROM namespace_usage WHERE namespace = ?1", [id])?;
            tx.execute("DELETE FROM managers WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    // ----- user schemas ----------------------------------------------------

    fn schemas(&self) -> Result<Vec<Schema>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT definition FROM schemas ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json(&r?)).collect()
    }

    fn schema(&self, name: &str) -> Result<Option<Schema>> {
        let conn = self.conn()?;
        let text: Option<String> = conn
            .query_row(
                "SELECT definition FROM schemas WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| from_json(&t)).transpose()
    }

    fn insert_schema(&self, schema: &Schema) -> Result<()> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO schemas (name, definition) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![schema.name, to_json(schema)?],
            )?;
            if inserted == 0 {
                return Err(Error::already_exists(format!(
                    "schema `{}` is registered already",
                    schema.name
                )));
            }
            Ok(())
        })
    }

    fn remove_schema(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            if tx.execute("DELETE FROM schemas WHERE name = ?1", [name])? == 0 {
                return Err(Error::not_found(format!(
                    "schema `{name}` is not a registered user schema"
                )));
            }
            Ok(())
        })
    }

    // ----- metadata ----------------------------------------------------------

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    fn insert_meta(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, value],
            )? == 1)
        })
    }

    fn delete_meta(&self, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
            Ok(())
        })
    }

    fn namespace(&self, id: i64, mode: TxnMode) -> Result<Box<dyn NamespaceTxn>> {
        Ok(Box::new(self.sqlite_namespace(id, mode)?))
    }

    fn compiled_checksum(&self, entry: &str) -> Result<Option<String>> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached("SELECT sha256 FROM compiled WHERE entry = ?1")?
            .query_row([entry], |r| r.get(0))
            .optional()?)
    }

    fn record_compiled(&self, entry: &str, checksum: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO compiled (entry, sha256) VALUES (?1, ?2)
                 ON CONFLICT (entry) DO UPDATE SET sha256 = excluded.sha256",
                params![entry, checksum],
            )?;
            Ok(())
        })
    }
}

fn flavor_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<FlavorRecord>> {
    let info: String = row.get(2)?;
    let policy: String = row.get(3)?;
    Ok((|| {
        Ok(FlavorRecord {
            name: row.get(0)?,
            digest: row.get(1)?,
            description: from_json(&info)?,
            policy: from_json(&policy)?,
        })
    })())
}

fn manager_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ManagerRecord>> {
    let config: String = row.get(3)?;
    let id = row.get(0)?;
    let name = row.get(1)?;
    let flavor = row.get(2)?;
    let active = row.get(4)?;
    let limits: String = row.get(5)?;
    Ok((|| {
        Ok(ManagerRecord {
            id,
            name,
            flavor,
            config: from_json(&config)?,
            limits: from_json(&limits)?,
            active,
        })
    })())
}
