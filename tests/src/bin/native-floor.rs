//! The native floor of a CLI `secret get`: a small Rust process that opens a
//! flavorbox store the way the CLI does (SQLite, WAL kept between processes,
//! the same pragmas) and
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
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA journal_size_limit = 8388608;",
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            // The CLI keeps the log between processes (persistent WAL); so
            // does its floor.
            let mut persist: std::os::raw::c_int = 1;
            // SAFETY: an open connection, a NUL-terminated name, and one
            // `int` behind the pointer for the length of the call.
            unsafe {
                rusqlite::ffi::sqlite3_file_control(
                    conn.handle(),
                    c"main".as_ptr(),
                    rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
                    (&raw mut persist).cast(),
                );
            }
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
