//! Secrets at rest, end to end through the binary: what the store file
//! holds, the master key (file or `FLAVORBOX_MASTER_KEY`), a missing or
//! changed key, values moved between keys, homes from before sealing, and
//! damaged, foreign, empty and read-only stores.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox_tests::cli::{run, tempdir_for, unprivileged};
use flavorbox_tests::{CliHome, Run, cli_command, guests, run_cli_env};

/// The CLI on `home`, with `key` as `FLAVORBOX_MASTER_KEY` if given.
fn cli(home: &Path, args: &[&str], key: Option<&str>) -> Run {
    let env: Vec<(&str, &str)> = key
        .map(|k| ("FLAVORBOX_MASTER_KEY", k))
        .into_iter()
        .collect();
    run_cli_env(Some(home), args, None, &env)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn store(home: &Path) -> PathBuf {
    home.join("flavorbox.db")
}

/// Every byte of the store and its WAL, as a thief would copy them.
fn raw_bytes(home: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(store(home)).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", store(home).display())) {
        bytes.extend(wal);
    }
    bytes
}

#[test]
fn the_store_holds_no_secret_value_or_credential_in_clear() {
    let cli_home = CliHome::new();
    let home = cli_home.path();
    cli_home.register_secret("db", &["password=PLAINTEXT-PASSWORD-1"]);
    cli_home
        .register_flavor(guests::KV_JSON, &["--grant", "storage"])
        .ok();
    cli_home.register_manager("kv", "kv_json", &[("label", "PLAINTEXT-CONFIG-2")], &[]);
    cli_home
        .on("kv", &["secret", "register", "other", "k=PLAINTEXT-KV-3"])
        .ok();
    // Keep a reader open so the WAL exists while the CLI writes.
    let reader = rusqlite::Connection::open(store(home)).unwrap();
    reader
        .query_row("SELECT count(*) FROM kv", [], |r| r.get::<_, i64>(0))
        .unwrap();
    cli(
        home,
        &["secret", "update", "db", "password=PLAINTEXT-PASSWORD-4"],
        None,
    )
    .ok();

    let bytes = raw_bytes(home);
    for plain in [
        "PLAINTEXT-PASSWORD-1",
        "PLAINTEXT-CONFIG-2",
        "PLAINTEXT-KV-3",
        "PLAINTEXT-PASSWORD-4",
        // The local flavor stores base64 values: not that either.
        &BASE64.encode("PLAINTEXT-PASSWORD-4"),
    ] {
        assert!(!contains(&bytes, plain), "{plain} is in the store in clear");
    }
    for file in [
        "flavorbox.db",
        "flavorbox.db-wal",
        "flavorbox.db-shm",
        "master.key",
    ] {
        assert_eq!(mode(&home.join(file)), 0o600, "{file}");
    }
    drop(reader);
    let got = cli(home, &["secret", "get", "db", "--key", "password"], None);
    assert_eq!(got.ok(), "PLAINTEXT-PASSWORD-4\n");
}

#[test]
fn a_missing_or_changed_key_is_one_clear_line_never_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    cli(home, &["secret", "register", "db", "k=value-1"], None).ok();
    let key_file = home.join("master.key");
    let key = std::fs::read_to_string(&key_file).unwrap();

    // Another key.
    let other = BASE64.encode([7u8; 32]);
    cli(home, &["secret", "get", "db"], Some(&other)).fails(
        1,
        "the master key from FLAVORBOX_MASTER_KEY does not open this store",
    );
    std::fs::write(&key_file, format!("{other}\n")).unwrap();
    cli(home, &["secret", "list"], None).fails(1, "does not open this store");
    std::fs::write(&key_file, "not a key").unwrap();
    cli(home, &["secret", "list"], None).fails(2, "is not 32 bytes of base64 or hex");

    // A key file others may read: refused, never tightened (the key may
    // already be copied); private again, it opens the store.
    std::fs::write(&key_file, &key).unwrap();
    let private = std::fs::metadata(&key_file).unwrap().permissions();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    cli(home, &["secret", "list"], None).fails(
        1,
        "may be read or written by others (mode 644); refusing to use it",
    );
    std::fs::set_permissions(&key_file, private).unwrap();
    cli(home, &["secret", "list"], None).ok();

    // No key at all: refused, and never re-created.
    std::fs::remove_file(&key_file).unwrap();
    cli(home, &["secret", "list"], None).fails(1, "master key is missing");
    assert!(!key_file.exists());

    // The same key from the environment (base64 or hex) opens it.
    let got = cli(
        home,
        &["secret", "get", "db", "--key", "k"],
        Some(key.trim()),
    );
    assert_eq!(got.ok(), "value-1\n");
    let bytes = BASE64.decode(key.trim()).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        cli(home, &["secret", "get", "db", "--key", "k"], Some(&hex)).ok(),
        "value-1\n"
    );
    assert!(!key_file.exists(), "an environment key writes no key file");
}

#[test]
fn a_home_keyed_from_the_environment_has_no_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let key = BASE64.encode([42u8; 32]);
    cli(home, &["secret", "register", "s", "k=v"], Some(&key)).ok();
    assert!(!home.join("master.key").exists());
    cli(home, &["secret", "list"], None).fails(1, "master key is missing");
    cli(home, &["secret", "list"], Some("short")).fails(2, "FLAVORBOX_MASTER_KEY is not 32 bytes");
    assert_eq!(cli(home, &["secret", "list"], Some(&key)).ok(), "s\n");
}

#[test]
fn a_value_moved_to_another_secret_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    cli(home, &["secret", "register", "mine", "k=mine"], None).ok();
    cli(home, &["secret", "register", "theirs", "k=theirs"], None).ok();
    let conn = rusqlite::Connection::open(store(home)).unwrap();
    conn.execute_batch(
        "UPDATE kv SET value = (SELECT value FROM kv WHERE key = 'secrets/theirs')
         WHERE key = 'secrets/mine'",
    )
    .unwrap();
    drop(conn);
    cli(home, &["secret", "get", "mine", "--reveal"], None).fails(
        1,
        "stored entry `secrets/mine` is not the value last written there with the master key",
    );
    assert_eq!(
        cli(home, &["secret", "get", "theirs", "--key", "k"], None).ok(),
        "theirs\n"
    );
}

#[test]
fn an_older_or_deleted_value_put_back_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    cli(home, &["secret", "register", "db", "password=old"], None).ok();
    cli(home, &["secret", "register", "gone", "token=revoked"], None).ok();
    let sql = |statements: &str| {
        rusqlite::Connection::open(store(home))
            .unwrap()
            .execute_batch(statements)
            .unwrap();
    };
    sql("CREATE TABLE kv_then AS SELECT * FROM kv;");
    cli(home, &["secret", "update", "db", "password=new"], None).ok();
    cli(home, &["secret", "delete", "gone", "--yes"], None).ok();
    // Someone with the store file puts the older rows back.
    sql(
        "UPDATE kv SET value = (SELECT value FROM kv_then WHERE key = 'secrets/db')
         WHERE key = 'secrets/db';
         INSERT INTO kv SELECT * FROM kv_then WHERE key = 'secrets/gone';",
    );
    cli(home, &["secret", "get", "db", "--key", "password"], None).fails(
        1,
        "stored entry `secrets/db` is not the value last written there with the master key",
    );
    cli(home, &["secret", "get", "gone", "--key", "token"], None).fails(
        1,
        "stored entry `secrets/gone` was never written there by flavorbox",
    );
    // What is refused cannot be soft-deleted (that reads it), but it is
    // purged (which reads nothing) and written again through flavorbox.
    cli(home, &["secret", "delete", "db", "--yes"], None).fails(
        1,
        "stored entry `secrets/db` is not the value last written there with the master key",
    );
    cli(home, &["secret", "delete", "db", "--yes", "--purge"], None).ok();
    cli(home, &["secret", "register", "db", "password=newest"], None).ok();
    assert_eq!(
        cli(home, &["secret", "get", "db", "--key", "password"], None).ok(),
        "newest\n"
    );
}

/// Layout 1, as flavorbox wrote it before sealing: values and config in
/// clear.
const LAYOUT_1: &str = "
CREATE TABLE flavors (name TEXT PRIMARY KEY, digest TEXT NOT NULL, component BLOB NOT NULL,
    info TEXT NOT NULL, policy TEXT NOT NULL);
CREATE TABLE managers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    flavor TEXT NOT NULL, config TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0);
CREATE TABLE schemas (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE kv (namespace INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID;
INSERT INTO managers (name, flavor, config, active) VALUES ('default', 'local', '{}', 1);
PRAGMA user_version = 1;
";

#[test]
fn a_home_from_before_sealing_is_sealed_in_place_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let conn = rusqlite::Connection::open(store(home)).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(LAYOUT_1).unwrap();
    // The local flavor's entry: ZenML YAML with base64 values.
    let yaml = format!(
        "password: {}\nusername: {}\nzenml_schema_name: arbitrary\n",
        BASE64.encode("legacy-password"),
        BASE64.encode("legacy-user")
    );
    conn.execute(
        "INSERT INTO kv (namespace, key, value) VALUES (1, 'secrets/old', ?1)",
        [yaml.as_bytes()],
    )
    .unwrap();
    drop(conn);
    std::fs::set_permissions(store(home), std::fs::Permissions::from_mode(0o644)).unwrap();

    let got = cli(
        home,
        &["secret", "get", "old", "--reveal", "--output", "json"],
        None,
    );
    let secret: serde_json::Value = serde_json::from_str(got.ok()).unwrap();
    assert_eq!(secret["values"]["password"], "legacy-password");
    assert_eq!(secret["values"]["username"], "legacy-user");

    let conn = rusqlite::Connection::open(store(home)).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    // Layout 1 went through every later step: manager limits (2), namespace
    // versions (3), the sealing mark (4), namespace usage (5), tokens and the
    // audit log (6), the compile cache's checksum column (7), tokens bound
    // to their manager's id (8), the audit log's hash chain (9), and any
    // since (the store suite tests each step on both backends).
    assert_eq!(version, flavorbox::store::LAYOUT_VERSION);
    let unsealed: i64 = conn
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'unsealed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unsealed, 0, "the conversion finished");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    assert!(!contains(
        &raw_bytes(home),
        &BASE64.encode("legacy-password")
    ));
    assert_eq!(mode(&store(home)), 0o600, "permissions tightened");
    cli(home, &["secret", "update", "old", "password=new"], None).ok();
    assert_eq!(
        cli(home, &["secret", "get", "old", "--key", "password"], None).ok(),
        "new\n"
    );
}

#[test]
fn empty_truncated_damaged_and_foreign_stores_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    for i in 0..20 {
        let big = format!("k=value-{i}-{}", "x".repeat(3000));
        cli(home, &["secret", "register", &format!("s{i}"), &big], None).ok();
    }
    let path = store(home);
    let whole = std::fs::read(&path).unwrap();
    assert!(whole.len() > 16 * 4096, "{}", whole.len());

    std::fs::write(&path, b"").unwrap();
    cli(home, &["secret", "list"], None).fails(1, "is empty (0 bytes)");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "not re-created");

    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    cli(home, &["secret", "list"], None).fails(1, "truncated or damaged");

    let mut damaged = whole.clone();
    for byte in &mut damaged[4096..whole.len()] {
        *byte = 0x5a;
    }
    std::fs::write(&path, &damaged).unwrap();
    let run = cli(home, &["secret", "list"], None);
    run.fails(1, "damaged");
    assert_eq!(std::fs::read(&path).unwrap(), damaged);

    std::fs::remove_file(&path).unwrap();
    let foreign = rusqlite::Connection::open(&path).unwrap();
    foreign
        .execute_batch("CREATE TABLE photos (id INTEGER);")
        .unwrap();
    drop(foreign);
    cli(home, &["secret", "list"], None).fails(1, "an SQLite database of another program");
}

#[test]
fn a_read_only_home_serves_reads_and_says_it_is_not_writable() {
    // Root may write whatever the permissions say: as root, the CLI runs as
    // `nobody` in a home and compile cache `nobody` owns, so the read-only
    // home binds it (were it root, the writes below would succeed and the
    // test fail).
    let user = unprivileged();
    let dir = tempdir_for(user, "flavorbox-read-only");
    let home = dir.path().join("home");
    let cache = dir.path().join("cache");
    let cli = |args: &[&str]| {
        let mut cmd = cli_command(Some(&home));
        cmd.args(args).env("FLAVORBOX_CACHE_DIR", &cache);
        if let Some(user) = user {
            user.apply(&mut cmd);
        }
        run(cmd, None)
    };
    cli(&["init"]).ok();
    cli(&["secret", "register", "db", "k=readable"]).ok();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o500)).unwrap();

    assert_eq!(
        cli(&["secret", "get", "db", "--key", "k"]).ok(),
        "readable\n"
    );
    assert_eq!(cli(&["secret", "list"]).ok(), "db\n");
    cli(&["secret", "register", "new", "k=v"]).fails(1, "not writable");
    cli(&["secret", "delete", "db", "--yes"]).fails(1, "not writable");
    assert_eq!(cli(&["secret", "list"]).ok(), "db\n");
}

/// A home others may enter is made private, with a warning (a key file
/// others may read is refused instead: see
/// `a_missing_or_changed_key_is_one_clear_line_never_garbage`).
#[test]
fn a_home_open_to_others_is_made_private_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    cli(home, &["secret", "register", "db", "k=value-1"], None).ok();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = cli(home, &["secret", "list"], None);
    assert_eq!(run.ok(), "db\n");
    assert!(
        run.stderr
            .contains("was open to others (mode 755); made private (0700)"),
        "{run:#?}"
    );
    let mode = std::fs::metadata(home).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let again = cli(home, &["secret", "list"], None);
    assert!(again.stderr.is_empty(), "{again:#?}");
}
