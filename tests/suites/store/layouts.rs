//! Stores written by the release before the one layout history (SQLite at
//! layout 6, PostgreSQL at its own layouts 1 and 2) are built here table by
//! table, as that release wrote them, filled with one of everything, and
//! opened: each must come up at the current layout with every record,
//! entry, version, usage count, checksum, token and audit entry kept, each
//! token bound to the id of the manager its name names (and revoked if it
//! names none, and when that manager is removed), and the audit chain
//! starting after the entries it found (counted apart by verification,
//! pruned first by retention). A store from a newer
//! flavorbox is refused untouched.

use flavorbox::ErrorKind;
use flavorbox::policy::ManagerLimits;
use flavorbox::store::{
    AccessStore, AuditRetention, AuditVerdict, Role, TokenRecord, TokenState, TxnMode, Usage,
};

use crate::{LAYOUT, Place, config, flavor};

/// The SQLite layout 6 the release before the one history wrote.
const SQLITE_LAYOUT_6: &str = "
CREATE TABLE flavors (name TEXT PRIMARY KEY, digest TEXT NOT NULL, component BLOB NOT NULL,
    info TEXT NOT NULL, policy TEXT NOT NULL);
CREATE TABLE managers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    flavor TEXT NOT NULL, config TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0,
    limits TEXT NOT NULL DEFAULT '{}');
CREATE TABLE schemas (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE kv (namespace INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID;
CREATE TABLE namespace_versions (namespace INTEGER PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE compiled (entry TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE namespace_usage (namespace INTEGER PRIMARY KEY, keys INTEGER NOT NULL,
    bytes INTEGER NOT NULL);
CREATE TRIGGER kv_usage_insert AFTER INSERT ON kv BEGIN
    INSERT OR IGNORE INTO namespace_usage (namespace, keys, bytes) VALUES (NEW.namespace, 0, 0);
    UPDATE namespace_usage
    SET keys = keys + 1, bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
    WHERE namespace = NEW.namespace;
END;
CREATE TRIGGER kv_usage_update AFTER UPDATE OF value ON kv BEGIN
    UPDATE namespace_usage SET bytes = bytes - length(OLD.value) + length(NEW.value)
    WHERE namespace = NEW.namespace;
END;
CREATE TRIGGER kv_usage_delete AFTER DELETE ON kv BEGIN
    UPDATE namespace_usage
    SET keys = keys - 1, bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value)
    WHERE namespace = OLD.namespace;
END;
CREATE TABLE tokens (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, manager TEXT NOT NULL,
    role TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked_ms INTEGER);
CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,
    peer TEXT NOT NULL, token TEXT, manager TEXT, operation TEXT NOT NULL, secret TEXT,
    outcome TEXT NOT NULL, status INTEGER NOT NULL);
INSERT INTO managers (name, flavor, config, active) VALUES ('default', 'local', '{}', 1);
PRAGMA user_version = 6;
";

/// The PostgreSQL layout 1 the release before the one history wrote (its
/// own numbering).
const POSTGRES_LAYOUT_1: &str = r#"
CREATE TABLE flavors (name TEXT PRIMARY KEY, digest TEXT NOT NULL, component BYTEA NOT NULL,
    info TEXT NOT NULL, policy TEXT NOT NULL);
CREATE TABLE managers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    flavor TEXT NOT NULL, config TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT FALSE,
    limits TEXT NOT NULL DEFAULT '{}');
CREATE TABLE schemas (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE kv (namespace BIGINT NOT NULL, key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL, PRIMARY KEY (namespace, key));
CREATE TABLE namespace_versions (namespace BIGINT PRIMARY KEY, version BIGINT NOT NULL);
CREATE TABLE compiled (entry TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE TABLE tokens (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, manager TEXT NOT NULL,
    role TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT, revoked_ms BIGINT);
CREATE TABLE audit (seq BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, peer TEXT NOT NULL,
    token TEXT, manager TEXT, operation TEXT NOT NULL, secret TEXT, outcome TEXT NOT NULL,
    status INTEGER NOT NULL);
INSERT INTO managers (name, flavor, config, active) VALUES ('default', 'local', '{}', TRUE);
CREATE TABLE flavorbox_layout (version BIGINT NOT NULL);
INSERT INTO flavorbox_layout VALUES (1);
"#;

/// What the release's PostgreSQL layout 2 added.
const POSTGRES_LAYOUT_2: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
INSERT INTO meta (key, value) SELECT 'unsealed', decode('01', 'hex')
WHERE EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM managers WHERE config <> '{}');
UPDATE flavorbox_layout SET version = 2;
";

/// One of every record, as the old store holds them (config in clear: a
/// store is sealed above the layout, see the sealing tests).
fn fill(place: &Place, with_meta: bool) {
    let info = serde_json::to_string(&flavor("kv").description).unwrap();
    let policy = serde_json::to_string(&flavor("kv").policy).unwrap();
    let (blob, inactive) = if place.is_postgres() {
        ("decode('00ff', 'hex')", "FALSE")
    } else {
        ("x'00ff'", "0")
    };
    place.exec(&format!(
        "INSERT INTO flavors VALUES ('kv', '{digest}', {blob}, '{info}', '{policy}');
         INSERT INTO managers (name, flavor, config, active, limits)
         VALUES ('old', 'kv', '{{\"k\":\"v\"}}', {inactive}, '{{\"http_requests\":3}}');
         INSERT INTO kv VALUES (2, 'secrets/a', {blob}), (2, 'secrets/bb', {blob});
         INSERT INTO namespace_versions VALUES (2, 3);
         INSERT INTO compiled VALUES ('entry.cwasm', 'blake3:00');
         INSERT INTO tokens VALUES ('tok', 'h1', 'old', 'write', 10, NULL, NULL);
         INSERT INTO tokens VALUES ('gone', 'h2', 'removed-before', 'admin', 12, NULL, NULL);
         INSERT INTO tokens VALUES ('dead', 'h3', 'removed-before', 'read', 13, NULL, 14);
         INSERT INTO audit (at_ms, peer, token, manager, operation, secret, outcome, status)
         VALUES (11, '127.0.0.1', 'tok', 'old', 'get-secret', 'a', 'ok', 200);",
        digest = flavor("kv").digest,
    ));
    if with_meta {
        place.exec(&format!(
            "INSERT INTO meta VALUES ('key-check', {blob}) ON CONFLICT (key) DO NOTHING;"
        ));
    }
}

/// What every upgraded store must still hold, and do.
fn kept_everything(place: &Place) {
    let opened = place.open();
    assert_eq!(place.layout(), LAYOUT);
    let db = opened.db;
    assert_eq!(db.flavors().unwrap(), [flavor("kv")]);
    assert_eq!(db.flavor_component("kv").unwrap().unwrap(), [0x00, 0xff]);
    let old = db.manager("old").unwrap().unwrap();
    assert_eq!(
        (old.id, old.active, &old.config),
        (2, false, &config(&[("k", "v")]))
    );
    assert_eq!(
        old.limits,
        ManagerLimits {
            http_requests: Some(3)
        }
    );
    assert_eq!(db.active_manager().unwrap().unwrap().name, "default");
    let mut txn = db.namespace(2, TxnMode::Read).unwrap();
    assert_eq!(txn.version().unwrap(), 3);
    assert_eq!(
        txn.list_keys("secrets/").unwrap(),
        ["secrets/a", "secrets/bb"]
    );
    assert_eq!(
        txn.usage().unwrap(),
        Usage {
            keys: 2,
            bytes: 9 + 2 + 10 + 2
        }
    );
    drop(txn);
    assert_eq!(
        db.compiled_checksum("entry.cwasm").unwrap().as_deref(),
        Some("blake3:00")
    );
    let access = opened.access;
    let tok = TokenRecord {
        id: "tok".to_string(),
        manager_id: Some(old.id),
        manager: "old".to_string(),
        role: Role::Write,
        created_ms: 10,
        expires_ms: None,
        revoked_ms: None,
        name: None,
        last_used_ms: None,
    };
    assert_eq!(access.token_by_hash("h1").unwrap().as_ref(), Some(&tok));
    // A token naming no manager is bound to none, and revoked (now, or
    // when it was revoked already).
    let gone = access.token_by_hash("h2").unwrap().unwrap();
    assert_eq!(
        (gone.manager_id, gone.state_at(0)),
        (None, TokenState::Revoked)
    );
    assert!(gone.revoked_ms.unwrap() > 1_600_000_000_000, "{gone:?}");
    let dead = access.token_by_hash("h3").unwrap().unwrap();
    assert_eq!((dead.manager_id, dead.revoked_ms), (None, Some(14)));
    // The audit entry from before the chain is kept, counted apart, and
    // the chain starts after it.
    let legacy = &access.audit(10).unwrap()[0];
    assert_eq!(
        (
            legacy.token.as_deref(),
            legacy.at_ms,
            legacy.last_ms,
            legacy.count
        ),
        (Some("tok"), 11, 11, 1)
    );
    let chain = |access: &dyn AccessStore| match access.verify_audit().unwrap() {
        AuditVerdict::Intact {
            records,
            before_chain,
            pruned_through,
            head,
        } => (records, before_chain, pruned_through, head.seq),
        broken => panic!("{broken:?}"),
    };
    assert_eq!(chain(access.as_ref()), (0, 1, 1, 1));
    let mut appended = legacy.clone();
    appended.at_ms = 20;
    appended.last_ms = 20;
    let links = access.append_audit(&[appended.clone(), appended]).unwrap();
    assert_eq!(links[0].seq, 2);
    assert_eq!(chain(access.as_ref()), (2, 1, 1, 3));
    // Retention prunes the older entry first, then the chain's.
    let keep_one = AuditRetention {
        max_age: None,
        max_records: Some(1),
    };
    assert_eq!(access.prune_audit(&keep_one, 30).unwrap(), 3);
    assert_eq!(chain(access.as_ref()), (1, 0, 3, 4));
    // The upgraded store keeps usage as it writes, and every rule holds.
    let mut txn = db.namespace(2, TxnMode::Write).unwrap();
    txn.set("secrets/c", b"123").unwrap();
    assert!(txn.delete("secrets/a").unwrap());
    txn.commit().unwrap();
    let mut txn = db.namespace(2, TxnMode::Read).unwrap();
    assert_eq!(
        txn.usage().unwrap(),
        Usage {
            keys: 2,
            bytes: 10 + 2 + 9 + 3
        }
    );
    assert_eq!(txn.version().unwrap(), 4);
    drop(txn);
    let refused = db.remove_flavor("kv").unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Denied);
    db.remove_manager("old", true).unwrap();
    let revoked = access.token_by_hash("h1").unwrap().unwrap();
    assert_eq!(
        (revoked.manager_id, revoked.state_at(0)),
        (Some(old.id), TokenState::Revoked),
        "removing its manager revokes an upgraded token"
    );
    db.remove_flavor("kv").unwrap();
    // Opening again changes nothing.
    place.open();
    assert_eq!(place.layout(), LAYOUT);
}

#[test]
fn a_sqlite_store_at_layout_6_is_brought_up_to_date() {
    let place = Place::sqlite();
    place.exec(SQLITE_LAYOUT_6);
    fill(&place, true);
    kept_everything(&place);
    assert_eq!(
        place.scalar("SELECT count(*) FROM meta WHERE key = 'unsealed'"),
        "0"
    );
}

#[test]
fn a_postgres_store_at_its_layout_2_is_brought_up_to_date() {
    let place = Place::postgres();
    place.exec(POSTGRES_LAYOUT_1);
    place.exec(POSTGRES_LAYOUT_2);
    fill(&place, true);
    kept_everything(&place);
}

#[test]
fn a_postgres_store_at_its_layout_1_is_brought_up_to_date_and_marked_for_sealing() {
    let place = Place::postgres();
    place.exec(POSTGRES_LAYOUT_1);
    fill(&place, false);
    kept_everything(&place);
    // It held data before sealing existed: the first sealed open seals it.
    assert_eq!(
        place.scalar("SELECT count(*) FROM meta WHERE key = 'unsealed'"),
        "1"
    );
}

on_both_backends!(a_store_from_a_newer_flavorbox_is_refused_untouched);

fn a_store_from_a_newer_flavorbox_is_refused_untouched(place: &Place) {
    place.open();
    let newer = LAYOUT + 1;
    place.exec(&if place.is_postgres() {
        format!("UPDATE flavorbox_layout SET version = {newer}")
    } else {
        format!("PRAGMA user_version = {newer}")
    });
    let err = place.try_open().err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Host, "{err}");
    assert!(err.detail().starts_with("store "), "{err}");
    assert!(
        err.detail().ends_with(&format!(
            "was written by a newer flavorbox (layout {newer}, this one knows {LAYOUT})"
        )),
        "{err}"
    );
    assert_eq!(place.layout(), newer);
}
