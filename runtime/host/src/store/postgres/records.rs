//! The host's records on PostgreSQL: the statements behind [`RecordRows`],
//! and nothing else. Guards against a statement reaching past its record:
//! each is one parameterized statement on one table (a namespace's three
//! tables for `delete_namespace`), its values only ever bound, never
//! spliced; the rules that decide what to run are `store::rules`'.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresRows;
use crate::error::Result;
use crate::store::backend::{FlavorRow, ManagerRow, RecordRows};

fn flavor_row(row: &Row) -> FlavorRow {
    FlavorRow {
        name: row.get(0),
        digest: row.get(1),
        description: row.get(2),
        policy: row.get(3),
        bundled: row.get(4),
    }
}

/// A flavor's columns as the statements that write them number them
/// (`$1` name ... `$6` bundled).
fn flavor_columns<'a>(row: &'a FlavorRow, component: &'a &'a [u8]) -> [&'a (dyn ToSql + Sync); 6] {
    [
        &row.name,
        &row.digest,
        component,
        &row.description,
        &row.policy,
        &row.bundled,
    ]
}

fn manager_row(row: &Row) -> ManagerRow {
    ManagerRow {
        id: row.get(0),
        name: row.get(1),
        flavor: row.get(2),
        config: row.get(3),
        limits: row.get(4),
        active: row.get(5),
    }
}

impl RecordRows for PostgresRows {
    fn commit(mut self) -> Result<()> {
        if self.in_transaction {
            self.conn.batch("COMMIT")?;
            self.in_transaction = false;
            self.conn.clean = true;
        }
        Ok(())
    }

    fn flavors(&mut self) -> Result<Vec<FlavorRow>> {
        let rows = self.conn.query(
            "SELECT name, digest, info, policy, bundled FROM flavors ORDER BY name",
            &[],
        )?;
        Ok(rows.iter().map(flavor_row).collect())
    }

    fn flavor(&mut self, name: &str) -> Result<Option<FlavorRow>> {
        let row = self.conn.row(
            "SELECT name, digest, info, policy, bundled FROM flavors WHERE name = $1",
            &[&name],
        )?;
        Ok(row.as_ref().map(flavor_row))
    }

    fn flavor_component(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .conn
            .row("SELECT component FROM flavors WHERE name = $1", &[&name])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_flavor(&mut self, row: &FlavorRow, component: &[u8]) -> Result<bool> {
        let inserted = self.conn.execute(
            "INSERT INTO flavors (name, digest, component, info, policy, bundled)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
            &flavor_columns(row, &component),
        )?;
        Ok(inserted == 1)
    }

    fn update_flavor(&mut self, row: &FlavorRow, component: &[u8]) -> Result<bool> {
        let updated = self.conn.execute(
            "UPDATE flavors SET digest = $2, component = $3, info = $4, policy = $5, bundled = $6
             WHERE name = $1",
            &flavor_columns(row, &component),
        )?;
        Ok(updated != 0)
    }

    fn update_flavor_policy(&mut self, name: &str, policy: &str) -> Result<bool> {
        let updated = self.conn.execute(
            "UPDATE flavors SET policy = $2 WHERE name = $1",
            &[&name, &policy],
        )?;
        Ok(updated != 0)
    }

    fn delete_flavor(&mut self, name: &str) -> Result<bool> {
        let deleted = self
            .conn
            .execute("DELETE FROM flavors WHERE name = $1", &[&name])?;
        Ok(deleted != 0)
    }

    fn managers(&mut self) -> Result<Vec<ManagerRow>> {
        let rows = self.conn.query(
            "SELECT id, name, flavor, config, limits, active FROM managers ORDER BY name",
            &[],
        )?;
        Ok(rows.iter().map(manager_row).collect())
    }

    fn manager(&mut self, name: &str) -> Result<Option<ManagerRow>> {
        let row = self.conn.row(
            "SELECT id, name, flavor, config, limits, active FROM managers WHERE name = $1",
            &[&name],
        )?;
        Ok(row.as_ref().map(manager_row))
    }

    fn active_manager(&mut self) -> Result<Option<ManagerRow>> {
        let row = self.conn.row(
            "SELECT id, name, flavor, config, limits, active FROM managers WHERE active",
            &[],
        )?;
        Ok(row.as_ref().map(manager_row))
    }

    fn managers_on(&mut self, flavor: &str) -> Result<Vec<String>> {
        let rows = self.conn.query(
            "SELECT name FROM managers WHERE flavor = $1 ORDER BY name",
            &[&flavor],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn insert_manager(
        &mut self,
        name: &str,
        flavor: &str,
        config: &str,
        limits: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO managers (name, flavor, config, limits, active)
             VALUES ($1, $2, $3, $4, FALSE)",
            &[&name, &flavor, &config, &limits],
        )?;
        Ok(())
    }

    fn update_manager_config(&mut self, name: &str, config: &str) -> Result<bool> {
        let updated = self.conn.execute(
            "UPDATE managers SET config = $2 WHERE name = $1",
            &[&name, &config],
        )?;
        Ok(updated != 0)
    }

    fn make_active(&mut self, name: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE managers SET active = (name = $1) WHERE active OR name = $1",
            &[&name],
        )?;
        Ok(())
    }

    fn delete_manager(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM managers WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn namespace_entries(&mut self, id: i64) -> Result<u64> {
        let entries: i64 = self
            .conn
            .row("SELECT count(*) FROM kv WHERE namespace = $1", &[&id])?
            .map_or(0, |r| r.get(0));
        Ok(entries as u64)
    }

    fn delete_namespace(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM kv WHERE namespace = $1", &[&id])?;
        self.conn.execute(
            "DELETE FROM namespace_versions WHERE namespace = $1",
            &[&id],
        )?;
        self.conn
            .execute("DELETE FROM namespace_usage WHERE namespace = $1", &[&id])?;
        self.conn
            .execute("DELETE FROM namespace_writes WHERE namespace = $1", &[&id])?;
        Ok(())
    }

    fn schemas(&mut self) -> Result<Vec<String>> {
        let rows = self
            .conn
            .query("SELECT definition FROM schemas ORDER BY name", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn schema(&mut self, name: &str) -> Result<Option<String>> {
        let row = self
            .conn
            .row("SELECT definition FROM schemas WHERE name = $1", &[&name])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_schema(&mut self, name: &str, definition: &str) -> Result<bool> {
        let inserted = self.conn.execute(
            "INSERT INTO schemas (name, definition) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &definition],
        )?;
        Ok(inserted == 1)
    }

    fn delete_schema(&mut self, name: &str) -> Result<bool> {
        let deleted = self
            .conn
            .execute("DELETE FROM schemas WHERE name = $1", &[&name])?;
        Ok(deleted != 0)
    }

    fn layout_version(&mut self) -> Result<i64> {
        let row = self
            .conn
            .row("SELECT max(version) FROM flavorbox_layout", &[])?;
        Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)).unwrap_or(0))
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .conn
            .row("SELECT value FROM meta WHERE key = $1", &[&key])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn insert_meta(&mut self, key: &str, value: &[u8]) -> Result<bool> {
        let inserted = self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )?;
        Ok(inserted == 1)
    }

    fn delete_meta(&mut self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM meta WHERE key = $1", &[&key])?;
        Ok(())
    }

    fn compiled_checksum(&mut self, entry: &str) -> Result<Option<String>> {
        let row = self
            .conn
            .row("SELECT checksum FROM compiled WHERE entry = $1", &[&entry])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn record_compiled(&mut self, entry: &str, checksum: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO compiled (entry, checksum) VALUES ($1, $2)
             ON CONFLICT (entry) DO UPDATE SET checksum = excluded.checksum",
            &[&entry, &checksum],
        )?;
        Ok(())
    }
}
