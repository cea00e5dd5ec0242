//! The store's layout: one history of steps, each written once for both
//! backends.
//!
//! Guards against the backends' layouts drifting apart: a step is one
//! [`Step`] holding its SQLite and its PostgreSQL statements, so no step
//! can be added to one backend only, and a store of either kind at layout
//! `n` holds the same tables and columns. Steps are only ever appended:
//! every older store can be brought up to date, and a store written by a
//! newer flavorbox is recognised and refused untouched ([`pending`]).
//!
//! Each backend applies the steps a store still needs in one transaction
//! (`sqlite::migrations`, `postgres::migrations`), so a store is at one
//! whole layout or another, never between two. SQLite records the layout
//! in `PRAGMA user_version`, PostgreSQL in the table `flavorbox_layout`.
//! PostgreSQL stores written before this history (which counted their own
//! steps) are mapped into it by `postgres::migrations`.

use std::fmt::Display;

use crate::error::{Error, Result};

/// One layout step: what takes a store from layout `i` to `i + 1`.
pub struct Step {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// The history; step `i` takes a store from layout `i` to `i + 1`.
pub const STEPS: &[Step] = &[
    FIRST_LAYOUT,
    MANAGER_LIMITS,
    VERSIONS_AND_COMPILED,
    SEALING,
    NAMESPACE_USAGE,
    TOKENS_AND_AUDIT,
    CHECKSUM_COLUMN,
    TOKENS_BY_MANAGER_ID,
    AUDIT_CHAIN,
    WRITE_RECORDS,
    BUNDLED_FLAVORS,
    TOKEN_NAMES_AND_LAST_USE,
];

/// The layout version this build writes.
pub const LAYOUT_VERSION: i64 = STEPS.len() as i64;

/// The steps a store at `version` still needs; a store of a newer layout
/// (written by a newer flavorbox) is refused, naming `store`.
pub fn pending(store: &dyn Display, version: i64) -> Result<&'static [Step]> {
    if version > LAYOUT_VERSION {
        return Err(Error::host(format!(
            "store {store} was written by a newer flavorbox (layout {version}, this one knows {LAYOUT_VERSION})"
        )));
    }
    Ok(&STEPS[usize::try_from(version).unwrap_or(0)..])
}

/// Layout 1: host records, namespaces, and an active `default` manager on
/// `local`. Keys sort bytewise on both (`COLLATE "C"` on PostgreSQL), as
/// the storage capability promises. On PostgreSQL the tables are created
/// without `IF NOT EXISTS`: a database holding another program's `flavors`
/// is refused, not adopted (SQLite refuses such a file before any step).
const FIRST_LAYOUT: Step = Step {
    sqlite: "
CREATE TABLE IF NOT EXISTS flavors (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    component BLOB NOT NULL,
    info TEXT NOT NULL,
    policy TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS managers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    flavor TEXT NOT NULL,
    config TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS schemas (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    namespace INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
INSERT INTO managers (name, flavor, config, active)
SELECT 'default', 'local', '{}', 1 WHERE NOT EXISTS (SELECT 1 FROM managers);
",
    postgres: r#"
CREATE TABLE flavors (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    component BYTEA NOT NULL,
    info TEXT NOT NULL,
    policy TEXT NOT NULL
);
CREATE TABLE managers (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    flavor TEXT NOT NULL,
    config TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE schemas (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
CREATE TABLE kv (
    namespace BIGINT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (namespace, key)
);
INSERT INTO managers (name, flavor, config, active)
SELECT 'default', 'local', '{}', TRUE WHERE NOT EXISTS (SELECT 1 FROM managers);
"#,
};

/// Layout 2: per-manager limits (`ManagerLimits` as JSON), overriding the
/// flavor's; existing managers keep their flavor's limits.
const MANAGER_LIMITS: Step = Step {
    sqlite: "ALTER TABLE managers ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';",
    postgres: "ALTER TABLE managers ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';",
};

/// Layout 3: a version per namespace, bumped by every commit that writes to
/// it (what a call's commit validates against, see `store::staged`), and a
/// checksum of every compiled component this home wrote to its compile
/// cache (what proves a cache file is ours, see `sandbox::cache`).
const VERSIONS_AND_COMPILED: Step = Step {
    sqlite: "
CREATE TABLE IF NOT EXISTS namespace_versions (
    namespace INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS compiled (
    entry TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
",
    postgres: "
CREATE TABLE IF NOT EXISTS namespace_versions (
    namespace BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS compiled (
    entry TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
",
};

/// Layout 4: the store's own metadata. A store that already holds data is
/// marked `unsealed`, so the first open with a master key seals its values
/// in place (`store::sealed`).
const SEALING: Step = Step {
    sqlite: "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
INSERT INTO meta (key, value) SELECT 'unsealed', x'01'
WHERE EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM managers WHERE config <> '{}');
",
    postgres: "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
INSERT INTO meta (key, value) SELECT 'unsealed', decode('01', 'hex')
WHERE EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM managers WHERE config <> '{}');
",
};

/// Layout 5: each namespace's usage (keys; key plus value bytes), kept by
/// triggers on `kv` in the transaction that writes, so a quota check reads
/// one row instead of summing the namespace: a write costs the same at 100
/// secrets as at 100,000. Existing namespaces are counted once here. On
/// PostgreSQL the trigger is created first: it locks `kv` against writers
/// of other nodes until the count is committed, so none is missed.
const NAMESPACE_USAGE: Step = Step {
    sqlite: "
CREATE TABLE IF NOT EXISTS namespace_usage (
    namespace INTEGER PRIMARY KEY,
    keys INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT INTO namespace_usage (namespace, keys, bytes)
SELECT namespace, count(*), sum(length(CAST(key AS BLOB)) + length(value))
FROM kv GROUP BY namespace;
CREATE TRIGGER IF NOT EXISTS kv_usage_insert AFTER INSERT ON kv BEGIN
    INSERT OR IGNORE INTO namespace_usage (namespace, keys, bytes) VALUES (NEW.namespace, 0, 0);
    UPDATE namespace_usage
    SET keys = keys + 1, bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
    WHERE namespace = NEW.namespace;
END;
CREATE TRIGGER IF NOT EXISTS kv_usage_update AFTER UPDATE OF value ON kv BEGIN
    UPDATE namespace_usage
    SET bytes = bytes - length(OLD.value) + length(NEW.value)
    WHERE namespace = NEW.namespace;
END;
CREATE TRIGGER IF NOT EXISTS kv_usage_delete AFTER DELETE ON kv BEGIN
    UPDATE namespace_usage
    SET keys = keys - 1, bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value)
    WHERE namespace = OLD.namespace;
END;
",
    postgres: "
CREATE TABLE IF NOT EXISTS namespace_usage (
    namespace BIGINT PRIMARY KEY,
    keys BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE OR REPLACE FUNCTION flavorbox_kv_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO namespace_usage AS u (namespace, keys, bytes)
        VALUES (NEW.namespace, 1, octet_length(NEW.key) + octet_length(NEW.value))
        ON CONFLICT (namespace) DO UPDATE
        SET keys = u.keys + 1, bytes = u.bytes + excluded.bytes;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE namespace_usage
        SET bytes = bytes - octet_length(OLD.value) + octet_length(NEW.value)
        WHERE namespace = NEW.namespace;
    ELSE
        UPDATE namespace_usage
        SET keys = keys - 1, bytes = bytes - octet_length(OLD.key) - octet_length(OLD.value)
        WHERE namespace = OLD.namespace;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kv_usage AFTER INSERT OR UPDATE OF value OR DELETE ON kv
FOR EACH ROW EXECUTE FUNCTION flavorbox_kv_usage();
INSERT INTO namespace_usage (namespace, keys, bytes)
SELECT namespace, count(*), sum(octet_length(key) + octet_length(value))
FROM kv GROUP BY namespace;
",
};

/// Layout 6: API tokens (by the SHA-256 of their text) and the audit log of
/// `flavorbox serve` (see `store::access`). `IF NOT EXISTS` on PostgreSQL
/// too: its stores from before this history made these tables in their
/// first step (see `postgres::migrations`).
const TOKENS_AND_AUDIT: Step = Step {
    sqlite: "
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    manager TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    peer TEXT NOT NULL,
    token TEXT,
    manager TEXT,
    operation TEXT NOT NULL,
    secret TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL
);
",
    postgres: "
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    manager TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked_ms BIGINT
);
CREATE TABLE IF NOT EXISTS audit (
    seq BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    peer TEXT NOT NULL,
    token TEXT,
    manager TEXT,
    operation TEXT NOT NULL,
    secret TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL
);
",
};

/// Layout 7: the compile cache's column says what it holds: a checksum
/// (`blake3:<hex>` since the cache checks files with BLAKE3), not the
/// SHA-256 its old name promised.
const CHECKSUM_COLUMN: Step = Step {
    sqlite: "ALTER TABLE compiled RENAME COLUMN sha256 TO checksum;",
    postgres: "ALTER TABLE compiled RENAME COLUMN sha256 TO checksum;",
};

/// Layout 8: a token is bound to its manager's id, which is never reused,
/// not to its name, which a new manager may take (see `store::access`).
/// Existing tokens get the id of the manager their name names now; a token
/// naming no existing manager is left with none and revoked (now), so it is
/// listed as revoked and opens nothing.
const TOKENS_BY_MANAGER_ID: Step = Step {
    sqlite: "
ALTER TABLE tokens ADD COLUMN manager_id INTEGER;
UPDATE tokens SET manager_id = (SELECT id FROM managers WHERE managers.name = tokens.manager);
UPDATE tokens SET revoked_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000
WHERE manager_id IS NULL AND revoked_ms IS NULL;
CREATE INDEX IF NOT EXISTS tokens_by_manager ON tokens (manager_id);
",
    postgres: "
ALTER TABLE tokens ADD COLUMN manager_id BIGINT;
UPDATE tokens SET manager_id = (SELECT id FROM managers WHERE managers.name = tokens.manager);
UPDATE tokens SET revoked_ms = (extract(epoch FROM now()) * 1000)::BIGINT
WHERE manager_id IS NULL AND revoked_ms IS NULL;
CREATE INDEX IF NOT EXISTS tokens_by_manager ON tokens (manager_id);
",
};

/// Layout 9: the audit log as a hash chain (see `store::access`). A record
/// counts the requests it stands for (refused authentications of one
/// address are counted together) between `at_ms` and `last_ms`, and
/// carries its link; `audit_chain` keeps where the chain starts (moved by
/// pruning) and its head. Records from before this layout get no link: the
/// chain starts after them (`pruned_through` is the last of them, its
/// start the origin link), so `flavorbox audit verify` counts them apart
/// and retention prunes them first.
const AUDIT_CHAIN: Step = Step {
    sqlite: "
ALTER TABLE audit ADD COLUMN last_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN hash TEXT;
UPDATE audit SET last_ms = at_ms;
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at_ms);
CREATE TABLE IF NOT EXISTS audit_chain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL,
    pruned_hash TEXT NOT NULL,
    head_seq INTEGER NOT NULL,
    head_hash TEXT NOT NULL
);
INSERT INTO audit_chain (id, pruned_through, pruned_hash, head_seq, head_hash)
SELECT 1, coalesce(max(seq), 0), printf('%064d', 0), coalesce(max(seq), 0), printf('%064d', 0)
FROM audit;
",
    postgres: "
ALTER TABLE audit ADD COLUMN last_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN hash TEXT;
UPDATE audit SET last_ms = at_ms;
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at_ms);
CREATE TABLE IF NOT EXISTS audit_chain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL,
    pruned_hash TEXT NOT NULL,
    head_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);
INSERT INTO audit_chain (id, pruned_through, pruned_hash, head_seq, head_hash)
SELECT 1, coalesce(max(seq), 0), repeat('0', 64), coalesce(max(seq), 0), repeat('0', 64)
FROM audit;
",
};

/// Layout 10: each namespace's sealed record of the write that last set
/// each key (`store::writes`): pages of `namespace_writes`, page 0 the
/// root. A store that already holds values is marked `unrecorded`, so the
/// first open with a master key re-seals each of its values bound to a
/// write and records it (`store::sealed`).
const WRITE_RECORDS: Step = Step {
    sqlite: "
CREATE TABLE IF NOT EXISTS namespace_writes (
    namespace INTEGER NOT NULL,
    page INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (namespace, page)
);
INSERT INTO meta (key, value) SELECT 'unrecorded', x'01' WHERE EXISTS (SELECT 1 FROM kv);
",
    postgres: "
CREATE TABLE IF NOT EXISTS namespace_writes (
    namespace BIGINT NOT NULL,
    page INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (namespace, page)
);
INSERT INTO meta (key, value) SELECT 'unrecorded', decode('01', 'hex')
WHERE EXISTS (SELECT 1 FROM kv);
",
};

/// Layout 11: whether a registered flavor came from the component bundled
/// with the binary (and so is upgraded with it) or from a file. Flavors
/// registered before are from files.
const BUNDLED_FLAVORS: Step = Step {
    sqlite: "ALTER TABLE flavors ADD COLUMN bundled INTEGER NOT NULL DEFAULT 0;",
    postgres: "ALTER TABLE flavors ADD COLUMN bundled BOOLEAN NOT NULL DEFAULT FALSE;",
};

/// Layout 12: tokens get the name `token create --name` gives them (none for older
/// ones) and the time they were last used (recorded at most once a
/// minute per token, see `serve::tokens`).
const TOKEN_NAMES_AND_LAST_USE: Step = Step {
    sqlite: "
ALTER TABLE tokens ADD COLUMN name TEXT;
ALTER TABLE tokens ADD COLUMN last_used_ms INTEGER;
",
    postgres: "
ALTER TABLE tokens ADD COLUMN name TEXT;
ALTER TABLE tokens ADD COLUMN last_used_ms BIGINT;
",
};
