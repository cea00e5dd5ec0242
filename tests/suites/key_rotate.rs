//! `flavorbox key rotate` end to end through the binary: a home's values
//! re-sealed under a new key (file or `FLAVORBOX_MASTER_KEY`), the old key
//! refused afterwards with one line, nothing in clear in the store file,
//! and a rotation killed (`SIGKILL`) at many points resumed by running it
//! again, every value still there. The rotation's rules on both backends
//! are the store suite's (`store/rotation.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox::Home;
use flavorbox::store::TxnMode;
use flavorbox_tests::{CliHome, cli_command, guests};

/// `FLAVORBOX_MASTER_KEY` set to `key`.
fn keyed(key: &str) -> [(&'static str, &str); 1] {
    [("FLAVORBOX_MASTER_KEY", key)]
}

/// Whether the file `name` in `dir` is readable and writable by its owner
/// alone (0600).
fn private(dir: &Path, name: &str) -> bool {
    std::fs::metadata(dir.join(name))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
        == 0o600
}

fn read_key(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

const IN_PROGRESS: &str = "a key rotation is in progress; run `flavorbox key rotate` to finish it";

#[test]
fn rotating_a_home_keeps_every_value_and_retires_the_old_key() {
    let cli_home = CliHome::new();
    let home = cli_home.path();
    cli_home.register_secret("db", &["password=PLAINTEXT-PASSWORD-1"]);
    cli_home.register_secret("api", &["token=PLAINTEXT-TOKEN-2"]);
    cli_home
        .register_flavor(guests::KV_JSON, &["--grant", "storage"])
        .ok();
    cli_home.register_manager("kv", "kv_json", &[("label", "PLAINTEXT-CONFIG-3")], &[]);
    cli_home
        .on("kv", &["secret", "register", "other", "k=PLAINTEXT-KV-4"])
        .ok();
    let old = read_key(&home.join("master.key"));

    let rotated = cli_home.cli(&["key", "rotate"]);
    assert!(
        rotated
            .ok()
            .contains("values of 2 secrets managers re-sealed"),
        "{}",
        rotated.ok()
    );
    let new = read_key(&home.join("master.key"));
    assert_ne!(new, old);
    assert_eq!(read_key(&home.join("master.key.old")), old);
    assert!(!home.join("master.key.new").exists());
    for file in ["master.key", "master.key.old"] {
        assert!(private(home, file), "{file}");
    }

    let got = cli_home.cli(&["secret", "get", "db", "--key", "password"]);
    assert_eq!(got.ok(), "PLAINTEXT-PASSWORD-1\n");
    let got = cli_home.cli(&["secret", "get", "api", "--key", "token"]);
    assert_eq!(got.ok(), "PLAINTEXT-TOKEN-2\n");
    let got = cli_home.on("kv", &["secret", "get", "other", "--key", "k"]);
    assert_eq!(got.ok(), "PLAINTEXT-KV-4\n");
    let described = cli_home.cli(&["secrets-manager", "describe", "kv"]);
    assert!(described.ok().contains("label"), "{}", described.ok());

    // The old key opens nothing any more: one line.
    cli_home.cli_env(&["secret", "list"], &keyed(&old)).fails(
        1,
        "the master key from FLAVORBOX_MASTER_KEY does not open this store",
    );
    let mut bytes = std::fs::read(home.join("flavorbox.db")).unwrap();
    if let Ok(wal) = std::fs::read(home.join("flavorbox.db-wal")) {
        bytes.extend(wal);
    }
    for plain in [
        "PLAINTEXT-PASSWORD-1",
        "PLAINTEXT-TOKEN-2",
        "PLAINTEXT-CONFIG-3",
        "PLAINTEXT-KV-4",
    ] {
        let found = bytes.windows(plain.len()).any(|w| w == plain.as_bytes());
        assert!(!found, "{plain} is in the store in clear");
    }

    // Another rotation waits until the operator deleted the retired key.
    cli_home
        .cli(&["key", "rotate"])
        .fails(1, "holds the key from before the last rotation");
    std::fs::remove_file(home.join("master.key.old")).unwrap();
    cli_home.cli(&["key", "rotate"]).ok();
    let got = cli_home.cli(&["secret", "get", "db", "--key", "password"]);
    assert_eq!(got.ok(), "PLAINTEXT-PASSWORD-1\n");
}

#[test]
fn a_key_from_the_environment_rotates_into_the_file_named_and_is_never_printed() {
    let cli_home = CliHome::new();
    let home = cli_home.path();
    let dir = tempfile::tempdir().unwrap();
    let old = BASE64.encode([42u8; 32]);
    cli_home
        .cli_env(&["secret", "register", "s", "k=v-1"], &keyed(&old))
        .ok();

    cli_home
        .cli_env(&["key", "rotate"], &keyed(&old))
        .fails(2, "pass --new-key-file FILE");
    cli_home
        .cli(&["key", "rotate", "--new-key-file", "x"])
        .fails(
            2,
            "--new-key-file is for a key given in FLAVORBOX_MASTER_KEY",
        );

    let new_file = dir.path().join("new.key");
    let new_path = new_file.to_str().unwrap();
    let rotated = cli_home.cli_env(&["key", "rotate", "--new-key-file", new_path], &keyed(&old));
    let new = read_key(&new_file);
    assert!(private(dir.path(), "new.key"));
    assert!(!rotated.ok().contains(&new), "the new key was printed");
    assert!(!rotated.stderr.contains(&new), "the new key was printed");
    assert!(!home.join("master.key").exists());

    let got = cli_home.cli_env(&["secret", "get", "s", "--key", "k"], &keyed(&new));
    assert_eq!(got.ok(), "v-1\n");
    cli_home
        .cli_env(&["secret", "list"], &keyed(&old))
        .fails(1, "does not open this store");
    // Run again with the same file: finished already, nothing done.
    let again = cli_home.cli_env(&["key", "rotate", "--new-key-file", new_path], &keyed(&old));
    assert!(again.ok().contains("under the new master key already"));
}

/// Entries written straight into the `default` manager's namespace, beside
/// its secrets: enough that a rotation takes many batches.
const BULK: usize = 5_000;

fn bulk_value(i: usize) -> String {
    format!("bulk-value-{i}")
}

/// Every bulk entry and the secret `db`, read with the home's key file.
fn assert_everything_there(cli_home: &CliHome) {
    let home = cli_home.path();
    let opened = Home::builder(home).open().expect("open with the key file");
    let db = opened.db();
    let id = db.manager("default").unwrap().unwrap().id;
    let mut txn = db.namespace(id, TxnMode::Read).unwrap();
    assert_eq!(txn.list_keys("bulk/").unwrap().len(), BULK);
    for i in 0..BULK {
        let value = txn.get(&format!("bulk/{i:05}")).unwrap().unwrap();
        assert_eq!(value, bulk_value(i).as_bytes());
    }
    drop(txn);
    drop(opened);
    let got = cli_home.cli(&["secret", "get", "db", "--key", "password"]);
    assert_eq!(got.ok(), "PLAINTEXT-PASSWORD\n");
}

#[test]
fn a_rotation_killed_midway_is_finished_by_running_it_again_and_loses_nothing() {
    let cli_home = CliHome::new();
    let home = cli_home.path();
    cli_home.register_secret("db", &["password=PLAINTEXT-PASSWORD"]);
    {
        let opened = Home::builder(home).open().unwrap();
        let db = opened.db();
        let id = db.manager("default").unwrap().unwrap().id;
        let mut txn = db.namespace(id, TxnMode::Write).unwrap();
        for i in 0..BULK {
            txn.set(&format!("bulk/{i:05}"), bulk_value(i).as_bytes())
                .unwrap();
        }
        txn.commit().unwrap();
    }

    let mut killed_midway = 0;
    for delay_ms in [0, 2, 5, 10, 20, 40, 80, 160, 320] {
        let old = read_key(&home.join("master.key"));
        let mut child = cli_command(Some(home))
            .args(["key", "rotate"])
            .spawn()
            .unwrap();
        // The new key is on disk before the store is touched: wait for it,
        // then let the rotation run a little before killing it.
        let started = Instant::now();
        while !home.join("master.key.new").exists() && child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no rotation began"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        if home.join("master.key.new").exists() {
            let store = rusqlite::Connection::open(home.join("flavorbox.db")).unwrap();
            let recorded: i64 = store
                .query_row(
                    "SELECT count(*) FROM meta WHERE key = 'key-rotation'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            killed_midway += recorded;
            // Until it is finished, every other command refuses the home.
            cli_home.cli(&["secret", "list"]).fails(1, IN_PROGRESS);
            // (Killed between the store's last transaction and the key
            // files' move, it finds the store under the new key already.)
            let resumed = cli_home.cli(&["key", "rotate"]);
            let said = resumed.ok();
            assert!(
                said.contains("re-sealed") || said.contains("under the new master key already"),
                "{said}"
            );
        }
        assert!(!home.join("master.key.new").exists());
        assert_ne!(read_key(&home.join("master.key")), old, "at {delay_ms} ms");
        assert_eq!(read_key(&home.join("master.key.old")), old);
        cli_home
            .cli_env(&["secret", "list"], &keyed(&old))
            .fails(1, "does not open this store");
        assert_everything_there(&cli_home);
        std::fs::remove_file(home.join("master.key.old")).unwrap();
    }
    assert!(
        killed_midway >= 2,
        "only {killed_midway} kill(s) landed while values were being re-sealed"
    );
}
