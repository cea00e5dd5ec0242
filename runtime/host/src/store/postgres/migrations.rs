//! Brings a PostgreSQL store's layout up to date with the one history of
//! `store::layout`, recorded in the table `flavorbox_layout`.
//!
//! Guards against nodes starting together migrating twice (the steps run
//! under an advisory lock, in one transaction that re-reads the version),
//! against a half-upgraded database (all the steps a store needs commit
//! together, or none does), and against a database written by a newer
//! flavorbox or holding another program's tables (refused, nothing
//! written).
//!
//! Stores written before the one history counted PostgreSQL's steps on
//! their own: their layout 1 held this history's steps 1 to 3 plus the
//! tokens and audit log of step 6, and their layout 2 added step 4's
//! metadata. [`in_one_history`] maps those two versions into it. No store
//! of this history ever records 1 or 2, since every step it needs is
//! applied in one transaction and the history has more than 2 steps, so the
//! mapping can never mistake one of its stores for an older one.

use super::{Conn, LAYOUT_LOCK};
use crate::error::{Error, Result};
use crate::store::layout::{LAYOUT_VERSION, pending};

// The mapping relies on this history never recording 1 or 2.
const _: () = assert!(LAYOUT_VERSION > 2);

/// The layout of the one history that a recorded version stands for.
fn in_one_history(recorded: i64) -> i64 {
    match recorded {
        1 => 3,
        2 => 4,
        version => version,
    }
}

/// Applies every step the database still needs, under the layout lock, in
/// one transaction.
pub(super) fn migrate(conn: &mut Conn, label: &str) -> Result<()> {
    conn.clean = false;
    conn.batch(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({LAYOUT_LOCK});
         CREATE TABLE IF NOT EXISTS flavorbox_layout (version BIGINT NOT NULL);
         INSERT INTO flavorbox_layout
         SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM flavorbox_layout);"
    ))?;
    let recorded: i64 = conn
        .row("SELECT max(version) FROM flavorbox_layout", &[])?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .unwrap_or(0);
    let steps = match pending(&label, in_one_history(recorded)) {
        Ok(steps) => steps,
        Err(err) => {
            conn.clean = conn.batch("ROLLBACK").is_ok();
            return Err(err);
        }
    };
    let mut sql: String = steps.iter().map(|step| step.postgres).collect();
    sql.push_str(&format!(
        "\nUPDATE flavorbox_layout SET version = {LAYOUT_VERSION};\nCOMMIT;"
    ));
    if steps.is_empty() {
        sql = "COMMIT".to_string();
    }
    if let Err(err) = conn.batch(&sql) {
        conn.clean = conn.batch("ROLLBACK").is_ok();
        return Err(Error::host(format!(
            "store {label} is not a flavorbox store or cannot be migrated ({})",
            Error::from(err)
        )));
    }
    conn.clean = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::STEPS;

    #[test]
    fn versions_from_before_the_one_history_map_to_the_steps_they_held() {
        assert_eq!(in_one_history(0), 0);
        assert_eq!(in_one_history(1), 3);
        assert_eq!(in_one_history(2), 4);
        assert_eq!(in_one_history(LAYOUT_VERSION), LAYOUT_VERSION);
        assert!(
            STEPS[5]
                .postgres
                .contains("CREATE TABLE IF NOT EXISTS tokens")
        );
        assert!(
            STEPS[5]
                .postgres
                .contains("CREATE TABLE IF NOT EXISTS audit")
        );
    }
}
