//! The native floor of a CLI `secret get`: a small Rust process that opens a
//! flavorbox store the way the CLI does (SQLite, WAL, the same pragmas) and
//! prints one row of a manager's namespace. The `scale` bench runs it next to
//! `flavorbox secret get` on the same store: what no sandbox, no wasm, no
//! decryption and no argument parsing cost together.
//!
//! Usage: `native-floor STORE NAMESPACE KEY` (prints the stored bytes).

use std::io::Write;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, namespace, key] = args.as_slice() else {
        eprintln!("usage: native-floor STORE NAMESPACE KEY");
        return std::process::ExitCode::from(2);
    };
    let Ok(namespace) = namespace.parse::<i64>() else {
        eprintln!("native-floor: NAMESPACE is a number");
        return std::process::ExitCode::from(2);
    };
    let row =
        Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_WRITE).and_then(|conn| {
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.query_row(
                "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                rusqlite::params![namespace, key],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
        });
    match row {
        Ok(Some(value)) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&value).and_then(|()| out.write_all(b"\n"));
            std::process::ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("native-floor: no such row");
            std::process::ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("native-floor: {err}");
            std::process::ExitCode::from(1)
        }
    }
}
