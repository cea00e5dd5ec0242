//! The link to PostgreSQL under each `sslmode`, against the throwaway
//! cluster (TLS on; its certificate, for `localhost` and 127.0.0.1, signed
//! by a CA of its own): `verify-full` with that CA works and is encrypted
//! (the server's pg_stat_ssl says so); another CA, or a host name the
//! certificate does not hold, is refused in one line that shows neither the
//! password nor a certificate; `verify-ca` checks the chain but not the
//! name; `require` and the default (`prefer`) encrypt; `disable` does not;
//! a server that accepts and never answers the TLS request is given up on
//! at the connect timeout.
//! PostgreSQL only: SQLite has no link.

use flavorbox::store::{Database, PostgresDatabase, TxnMode};
use flavorbox_tests::postgres::{Postgres, TestCa, USER};

use crate::{database_of, test_key};

/// A fresh database's name, and its URL with `host` and `query`.
fn database(host: &str, query: &str) -> (String, String) {
    let pg = Postgres::shared();
    let name = database_of(&pg.database()).to_string();
    let url = format!("postgres://{USER}@{host}:{}/{name}?{query}", pg.port);
    (name, url)
}

fn verified_by(ca: &std::path::Path, mode: &str) -> String {
    format!("sslmode={mode}&sslrootcert={}", ca.display())
}

/// Whether each connection the server holds to `database` is encrypted.
fn encrypted(database: &str) -> Vec<bool> {
    let answer = Postgres::shared().sql(
        "postgres",
        &format!(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{database}'"
        ),
    );
    answer.lines().map(|line| line == "t").collect()
}

/// Opens `url` sealed, writes a value, reads it back through a second
/// handle, and keeps that handle (its pooled connections stay open).
fn round_trip(url: &str) -> std::sync::Arc<dyn Database> {
    let key = test_key();
    let db = PostgresDatabase::open(url)
        .and_then(|store| store.sealed(key.clone()))
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    let mut txn = db.namespace(1, TxnMode::Write).unwrap();
    txn.set("token", b"s3cret").unwrap();
    txn.commit().unwrap();
    let again: std::sync::Arc<dyn Database> =
        std::sync::Arc::new(PostgresDatabase::open(url).unwrap().sealed(key).unwrap());
    let mut txn = again.namespace(1, TxnMode::Read).unwrap();
    assert_eq!(txn.get("token").unwrap().as_deref(), Some(&b"s3cret"[..]));
    drop(txn);
    again
}

/// The message opening `url` fails with: one line, without the password
/// (`hunter2` in these URLs) or a certificate.
fn refusal(url: &str) -> String {
    let err = PostgresDatabase::open(url)
        .err()
        .unwrap_or_else(|| panic!("{url} opened"));
    let message = err.to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        !message.contains("hunter2"),
        "the password shows: {message}"
    );
    assert!(!message.contains("BEGIN"), "a certificate shows: {message}");
    message
}

#[test]
fn verify_full_with_the_servers_ca_works_and_is_encrypted() {
    let ca = Postgres::shared().ca_file();
    for host in ["127.0.0.1", "localhost"] {
        let (name, url) = database(host, &verified_by(&ca, "verify-full"));
        let _held = round_trip(&url);
        let links = encrypted(&name);
        assert!(!links.is_empty(), "no connection to {name} seen");
        assert!(links.iter().all(|&ssl| ssl), "{host}: {links:?}");
    }
}

#[test]
fn a_ca_that_did_not_sign_the_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&stranger, TestCa::new("a stranger's CA").pem).unwrap();
    for mode in ["verify-full", "verify-ca", "require"] {
        let (_, url) = database("127.0.0.1", &verified_by(&stranger, mode));
        let url = url.replacen(USER, &format!("{USER}:hunter2"), 1);
        let message = refusal(&url);
        assert!(
            message.contains(&format!("(sslmode={mode})"))
                && message.contains("invalid peer certificate: UnknownIssuer"),
            "{mode}: {message}"
        );
    }
}

#[test]
fn verify_full_refuses_a_host_name_the_certificate_does_not_hold() {
    let ca = Postgres::shared().ca_file();
    // The TCP connection goes to 127.0.0.1; the name checked is the host's.
    let query = format!("hostaddr=127.0.0.1&{}", verified_by(&ca, "verify-full"));
    let (_, url) = database("not-this-server.test", &query);
    let message = refusal(&url.replacen(USER, &format!("{USER}:hunter2"), 1));
    assert!(
        message.contains("certificate not valid for name \"not-this-server.test\""),
        "{message}"
    );
    // verify-ca checks the chain only: the same server is accepted.
    let query = format!("hostaddr=127.0.0.1&{}", verified_by(&ca, "verify-ca"));
    let (name, url) = database("not-this-server.test", &query);
    let _held = round_trip(&url);
    assert!(encrypted(&name).iter().all(|&ssl| ssl));
}

#[test]
fn require_and_the_default_encrypt_without_a_ca() {
    for query in ["sslmode=require", "", "sslmode=prefer"] {
        let (name, url) = database("127.0.0.1", query);
        let _held = round_trip(&url);
        let links = encrypted(&name);
        assert!(
            !links.is_empty() && links.iter().all(|&ssl| ssl),
            "{query:?}: {links:?}"
        );
    }
}

#[test]
fn disable_talks_plaintext() {
    let (name, url) = database("127.0.0.1", "sslmode=disable");
    let _held = round_trip(&url);
    let links = encrypted(&name);
    assert!(
        !links.is_empty() && links.iter().all(|&ssl| !ssl),
        "{links:?}"
    );
}

#[test]
fn a_verifying_mode_without_roots_is_refused_before_connecting() {
    let (_, url) = database("127.0.0.1", "sslmode=verify-full");
    let message = refusal(&url.replacen(USER, &format!("{USER}:hunter2"), 1));
    assert!(message.contains("needs sslrootcert=PATH"), "{message}");
}

#[test]
fn a_server_that_never_answers_the_tls_request_is_given_up_on() {
    // Connections queue on the listener and are never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url =
        format!("postgres://{USER}:hunter2@127.0.0.1:{port}/db?sslmode=require&connect_timeout=1");
    let started = std::time::Instant::now();
    let message = refusal(&url);
    let waited = started.elapsed();
    assert!(
        message.contains("(sslmode=require): no connection within 1000 ms"),
        "{message}"
    );
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
}
