//! The PostgreSQL store as `serve` uses it: the conformance suite on it
//! (the store's own rules, on both backends, are the store suite's), a
//! database of another program refused, a transaction whose connection
//! dies leaving nothing, a flavor's component kept in the database and
//! served by every node, and the CLI on a link verified with `verify-full`
//! (every `sslmode` is the store suite's, `store/tls.rs`).

use flavorbox::Home;
use flavorbox::store::{Database, PostgresDatabase, TxnMode};
use flavorbox_tests::conformance::assert_conforms;
use flavorbox_tests::postgres::{Postgres, TestCa};
use flavorbox_tests::{guests, shared_sandbox};
use serde_json::json;

use crate::{cli_on, keyed_home, register_on, start, token};

fn pg_home(url: &str) -> (tempfile::TempDir, Home) {
    let dir = keyed_home();
    let home = Home::builder(dir.path())
        .store(url)
        .shared_sandbox(shared_sandbox())
        .open()
        .unwrap();
    (dir, home)
}

#[test]
fn the_local_flavor_on_postgres_passes_the_conformance_suite() {
    let url = Postgres::shared().database();
    let (_dir, home) = pg_home(&url);
    home.managers()
        .register("other", "local", Default::default(), false)
        .unwrap();
    assert_conforms(&home, "default", "other");
}

/// (A store of a newer flavorbox is refused by the store suite, on both
/// backends.)
#[test]
fn a_database_of_another_program_or_out_of_reach_is_refused() {
    let pg = Postgres::shared();
    let other = pg.database();
    let other_name = other.rsplit('/').next().unwrap();
    pg.sql(other_name, "CREATE TABLE flavors (id int)");
    let run = cli_on(&other, &["secret", "list"]);
    run.fails(1, "not a flavorbox store");
    assert_eq!(pg.sql(other_name, "SELECT count(*) FROM flavors"), "0");

    let run = cli_on("postgres://nobody@127.0.0.1:1/none", &["secret", "list"]);
    run.fails(1, "cannot reach the store postgres://127.0.0.1:1/none");
    let run = cli_on("mysql://x", &["secret", "list"]);
    run.fails(2, "a store is `sqlite:PATH` or `postgres://");
}

#[test]
fn the_cli_on_a_verified_tls_link_works_and_a_wrong_ca_fails_in_one_line() {
    let pg = Postgres::shared();
    let url = pg.database();
    let verified =
        |ca: &std::path::Path| format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    cli_on(&verified(&pg.ca_file()), &["secret", "list"]).ok();

    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&stranger, TestCa::new("a stranger's CA").pem).unwrap();
    let run = cli_on(&verified(&stranger), &["secret", "list"]);
    let line = run.fails(
        1,
        "(sslmode=verify-full): error performing TLS handshake: invalid peer certificate",
    );
    assert!(!line.contains("BEGIN CERTIFICATE"), "{line}");
}

#[test]
fn a_registered_flavor_lives_in_postgres_and_serves_from_every_node() {
    let pg = Postgres::shared();
    let url = pg.database();
    register_on(&url, guests::KV_JSON, "kv", &[]);
    // The component's bytes are in the database, whole.
    let name = url.rsplit('/').next().unwrap();
    let stored = pg.sql(
        name,
        "SELECT octet_length(component) FROM flavors WHERE name = 'kv_json'",
    );
    assert_eq!(stored, guests::KV_JSON.bytes().len().to_string());

    let write = token(&url, "kv", "write", &[]);
    let nodes = [start(&url), start(&url)];
    let created = nodes[0].call(
        "POST",
        "/v1/managers/kv/secrets",
        Some(&write),
        Some(json!({ "name": "s", "values": { "k": "v1" } })),
    );
    assert_eq!(created.status, 201, "{created:?}");
    for round in 0..3 {
        for node in &nodes {
            let read = node.call("GET", "/v1/managers/kv/secrets/s", Some(&write), None);
            assert_eq!(read.status, 200, "round {round}: {read:?}");
            assert_eq!(read.body["values"]["k"], "v1");
        }
    }
    // Removing the flavor while a manager uses it is refused, as on SQLite.
    cli_on(&url, &["flavor", "remove", "kv_json"]).fails(1, "used by secrets manager");
}

#[test]
fn a_transaction_whose_connection_dies_before_commit_leaves_nothing() {
    let pg = Postgres::shared();
    let url = pg.database();
    let name = url.rsplit('/').next().unwrap().to_string();
    let db = PostgresDatabase::open(&url).unwrap();
    let mut txn = db.namespace(3, TxnMode::Write).unwrap();
    for i in 0..100 {
        txn.set(&format!("secrets/k{i}"), b"value").unwrap();
    }
    // What a node killed mid-call leaves: a transaction whose connection
    // is gone. PostgreSQL ends the backend; the commit cannot happen.
    let ended = pg.sql(
        &name,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    );
    assert_eq!(ended, "1");
    let err = txn.commit().unwrap_err();
    assert_eq!(err.kind().as_str(), "host", "{err}");
    let mut read = db.namespace(3, TxnMode::Read).unwrap();
    assert!(read.list_keys("").unwrap().is_empty());
    assert_eq!(read.version().unwrap(), 0);
}
