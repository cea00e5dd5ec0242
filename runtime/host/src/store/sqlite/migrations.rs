//! Brings an SQLite store's layout up to date with the one history of
//! `store::layout`, recorded in `PRAGMA user_version`.
//!
//! Guards against a half-upgraded store and against two processes
//! upgrading one file at once: every step a store still needs is applied
//! in one `BEGIN IMMEDIATE` transaction, which re-reads the version after
//! taking the write lock (another process may have upgraded meanwhile), so
//! a store is at one whole layout or another.

use rusqlite::Connection;

use crate::store::layout::{LAYOUT_VERSION, STEPS};

/// The layout the store at `conn` records (0: a new, empty file).
pub(super) fn layout_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the steps the store still needs, all in one transaction. A
/// store of a newer layout is left alone (the caller refuses it).
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let applied = (|| {
        let version = layout_version(conn)?;
        let Some(pending) = usize::try_from(version).ok().and_then(|v| STEPS.get(v..)) else {
            return Ok(());
        };
        for step in pending {
            conn.execute_batch(step.sqlite)?;
        }
        conn.execute_batch(&format!("PRAGMA user_version = {LAYOUT_VERSION};"))
    })();
    match applied {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Database;
    use crate::store::SqliteDatabase;
    use std::path::Path;

    fn layout_of(path: &Path) -> i64 {
        layout_version(&Connection::open(path).unwrap()).unwrap()
    }

    #[test]
    fn a_new_store_gets_the_whole_layout_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        SqliteDatabase::open(&path).unwrap();
        SqliteDatabase::open(&path).unwrap();
        assert_eq!(layout_of(&path), LAYOUT_VERSION);
        let managers: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM managers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(managers, 1, "the default manager is created once");
    }

    #[test]
    fn a_layout_1_store_is_brought_up_to_date_keeping_its_managers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(STEPS[0].sqlite).unwrap();
            conn.execute_batch(
                "INSERT INTO managers (name, flavor, config) VALUES ('old', 'local', '{\"k\":\"v\"}');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let db = SqliteDatabase::open(&path).unwrap();
        assert_eq!(layout_of(&path), LAYOUT_VERSION);
        let old = db.manager("old").unwrap().unwrap();
        assert_eq!(old.config.get("k").map(String::as_str), Some("v"));
        assert!(old.limits.is_empty());
    }

    #[test]
    fn a_failing_step_leaves_the_store_at_its_old_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        {
            let conn = Connection::open(&path).unwrap();
            for step in &STEPS[..6] {
                conn.execute_batch(step.sqlite).unwrap();
            }
            // What the last step renames is gone: the step fails.
            conn.execute_batch("DROP TABLE compiled; PRAGMA user_version = 6;")
                .unwrap();
        }
        let err = SqliteDatabase::open(&path).err().unwrap();
        assert!(err.to_string().contains("not a flavorbox store"), "{err}");
        assert_eq!(layout_of(&path), 6);
    }

    #[test]
    fn a_store_from_a_newer_flavorbox_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        SqliteDatabase::open(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("PRAGMA user_version = {}", LAYOUT_VERSION + 1))
            .unwrap();
        let err = SqliteDatabase::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer flavorbox"), "{err}");
        assert_eq!(layout_of(&path), LAYOUT_VERSION + 1);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flavorbox.db");
        std::fs::write(
            &path,
            b"this is not sqlite, just some text that is long enough",
        )
        .unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = SqliteDatabase::open(&path).err().unwrap().to_string();
        assert!(err.contains("not a flavorbox store"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
