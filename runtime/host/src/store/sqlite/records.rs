//! The host's records on SQLite: the statements behind [`RecordRows`], and
//! nothing else. Guards against a statement reaching past its record: each
//! is one parameterized statement on one table (a namespace's three tables
//! for `delete_namespace`), its values only ever bound, never spliced; the
//! rules that decide what to run are `store::rules`'.

use rusqlite::{OptionalExtension, Row, ToSql, params};

use super::SqliteRows;
use crate::error::Result;
use crate::store::backend::{FlavorRow, ManagerRow, RecordRows};
use crate::store::rules::unreadable_component;

fn flavor_row(row: &Row<'_>) -> rusqlite::Result<FlavorRow> {
    Ok(FlavorRow {
        name: row.get(0)?,
        digest: row.get(1)?,
        description: row.get(2)?,
        policy: row.get(3)?,
        bundled: row.get(4)?,
    })
}

/// A flavor's columns as the statements that write them number them
/// (`?1` name ... `?6` bundled).
fn flavor_columns<'a>(row: &'a FlavorRow, component: &'a &'a [u8]) -> [&'a dyn ToSql; 6] {
    [
        &row.name,
        &row.digest,
        component,
        &row.description,
        &row.policy,
        &row.bundled,
    ]
}

fn manager_row(row: &Row<'_>) -> rusqlite::Result<ManagerRow> {
    Ok(ManagerRow {
        id: row.get(0)?,
        name: row.get(1)?,
        flavor: row.get(2)?,
        config: row.get(3)?,
        limits: row.get(4)?,
        active: row.get(5)?,
    })
}

impl RecordRows for SqliteRows {
    fn commit(mut self) -> Result<()> {
        Ok(self.0.commit()?)
    }

    fn flavors(&mut self) -> Result<Vec<FlavorRow>> {
        self.all(
            "SELECT name, digest, info, policy, bundled FROM flavors ORDER BY name",
            [],
            flavor_row,
        )
    }

    fn flavor(&mut self, name: &str) -> Result<Option<FlavorRow>> {
        self.one(
            "SELECT name, digest, info, policy, bundled FROM flavors WHERE name = ?1",
            [name],
            flavor_row,
        )
    }

    fn flavor_component(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let component = self
            .0
            .prepare_cached("SELECT component FROM flavors WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional();
        match component {
            Err(
                rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..),
            ) => Err(unreadable_component(name)),
            other => Ok(other?),
        }
    }

    fn insert_flavor(&mut self, row: &FlavorRow, component: &[u8]) -> Result<bool> {
        let inserted = self.change(
            "INSERT INTO flavors (name, digest, component, info, policy, bundled)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
            flavor_columns(row, &component).as_slice(),
        )?;
        Ok(inserted == 1)
    }

    fn update_flavor(&mut self, row: &FlavorRow, component: &[u8]) -> Result<bool> {
        let updated = self.change(
            "UPDATE flavors SET digest = ?2, component = ?3, info = ?4, policy = ?5, bundled = ?6
             WHERE name = ?1",
            flavor_columns(row, &component).as_slice(),
        )?;
        Ok(updated != 0)
    }

    fn update_flavor_policy(&mut self, name: &str, policy: &str) -> Result<bool> {
        let updated = self.change(
            "UPDATE flavors SET policy = ?2 WHERE name = ?1",
            [name, policy],
        )?;
        Ok(updated != 0)
    }

    fn delete_flavor(&mut self, name: &str) -> Result<bool> {
        Ok(self.change("DELETE FROM flavors WHERE name = ?1", [name])? != 0)
    }

    fn managers(&mut self) -> Result<Vec<ManagerRow>> {
        self.all(
            "SELECT id, name, flavor, config, limits, active FROM managers ORDER BY name",
            [],
            manager_row,
        )
    }

    fn manager(&mut self, name: &str) -> Result<Option<ManagerRow>> {
        self.one(
            "SELECT id, name, flavor, config, limits, active FROM managers WHERE name = ?1",
            [name],
            manager_row,
        )
    }

    fn active_manager(&mut self) -> Result<Option<ManagerRow>> {
        self.one(
            "SELECT id, name, flavor, config, limits, active FROM managers WHERE active = 1",
            [],
            manager_row,
        )
    }

    fn managers_on(&mut self, flavor: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT name FROM managers WHERE flavor = ?1 ORDER BY name",
            [flavor],
            |r| r.get(0),
        )
    }

    fn insert_manager(
        &mut self,
        name: &str,
        flavor: &str,
        config: &str,
        limits: &str,
    ) -> Result<()> {
        self.change(
            "INSERT INTO managers (name, flavor, config, limits, active)
             VALUES (?1, ?2, ?3, ?4, 0)",
            [name, flavor, config, limits],
        )?;
        Ok(())
    }

    fn update_manager_config(&mut self, name: &str, config: &str) -> Result<bool> {
        let updated = self.change(
            "UPDATE managers SET config = ?2 WHERE name = ?1",
            [name, config],
        )?;
        Ok(updated != 0)
    }

    fn make_active(&mut self, name: &str) -> Result<()> {
        self.change(
            "UPDATE managers SET active = (name = ?1) WHERE active OR name = ?1",
            [name],
        )?;
        Ok(())
    }

    fn delete_manager(&mut self, id: i64) -> Result<()> {
        self.change("DELETE FROM managers WHERE id = ?1", [id])?;
        Ok(())
    }

    fn namespace_entries(&mut self, id: i64) -> Result<u64> {
        let entries: Option<i64> =
            self.one("SELECT count(*) FROM kv WHERE namespace = ?1", [id], |r| {
                r.get(0)
            })?;
        Ok(entries.unwrap_or(0) as u64)
    }

    fn delete_namespace(&mut self, id: i64) -> Result<()> {
        self.change("DELETE FROM kv WHERE namespace = ?1", [id])?;
        self.change("DELETE FROM namespace_versions WHERE namespace = ?1", [id])?;
        self.change("DELETE FROM namespace_usage WHERE namespace = ?1", [id])?;
        self.change("DELETE FROM namespace_writes WHERE namespace = ?1", [id])?;
        Ok(())
    }

    fn schemas(&mut self) -> Result<Vec<String>> {
        self.all("SELECT definition FROM schemas ORDER BY name", [], |r| {
            r.get(0)
        })
    }

    fn schema(&mut self, name: &str) -> Result<Option<String>> {
        self.one(
            "SELECT definition FROM schemas WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
    }

    fn insert_schema(&mut self, name: &str, definition: &str) -> Result<bool> {
        let inserted = self.change(
            "INSERT INTO schemas (name, definition) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            [name, definition],
        )?;
        Ok(inserted == 1)
    }

    fn delete_schema(&mut self, name: &str) -> Result<bool> {
        Ok(self.change("DELETE FROM schemas WHERE name = ?1", [name])? != 0)
    }

    fn layout_version(&mut self) -> Result<i64> {
        Ok(super::migrations::layout_version(&self.0)?)
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        self.one("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
    }

    fn insert_meta(&mut self, key: &str, value: &[u8]) -> Result<bool> {
        let inserted = self.change(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, value],
        )?;
        Ok(inserted == 1)
    }

    fn delete_meta(&mut self, key: &str) -> Result<()> {
        self.change("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    fn compiled_checksum(&mut self, entry: &str) -> Result<Option<String>> {
        self.one(
            "SELECT checksum FROM compiled WHERE entry = ?1",
            [entry],
            |r| r.get(0),
        )
    }

    fn record_compiled(&mut self, entry: &str, checksum: &str) -> Result<()> {
        self.change(
            "INSERT INTO compiled (entry, checksum) VALUES (?1, ?2)
             ON CONFLICT (entry) DO UPDATE SET checksum = excluded.checksum",
            [entry, checksum],
        )?;
        Ok(())
    }
}
