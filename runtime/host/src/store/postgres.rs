//! The store on PostgreSQL, shared by several `flavorbox serve` nodes: the
//! records, every namespace and its version, tokens and the audit log live
//! in one database, so a node holds nothing but its compile cache and can be
//! killed or added at any time.
//!
//! The guarantees are the embedded store's, kept across nodes:
//! - a call's writes reach the database in one transaction, or not at all
//!   (a node killed mid-commit leaves an open transaction that PostgreSQL
//!   rolls back when the connection drops);
//! - no update is lost: a namespace's `Write` transaction locks the
//!   namespace's version row first (`SELECT ... FOR UPDATE`), so two nodes'
//!   commits on one namespace serialize, and a staged call's commit
//!   validates the version it read (see `store::staged`);
//! - no wait outlasts a call's deadline: its transactions set
//!   `lock_timeout` and `statement_timeout` to what is left of it, and a lock
//!   wait that runs out is a `conflict`, nothing written;
//! - host-record writes that check rules spanning records (one active
//!   manager, a flavor in use) serialize on one advisory lock, as SQLite's
//!   single writer does.
//!
//! The layout is applied by append-only steps, as the SQLite store's, under
//! an advisory lock so nodes starting together migrate once; a database
//! written by a newer flavorbox is refused untouched.
//!
//! The driver (`tokio-postgres`) runs its connections on a small runtime of
//! this store's own; the synchronous methods wait on it from any thread,
//! including from inside a flavor call.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::access::{AccessStore, AuditEntry, Role, TokenRecord, lock_timeout};
use super::sqlite::{from_json, to_json};
use super::{Database, FlavorRecord, ManagerRecord, NamespaceTxn, TxnMode, Usage};
use crate::error::{Error, Result};
use crate::policy::{ManagerLimits, Policy};
use crate::schema::Schema;

/// The layout, as steps applied in order, one transaction each; only ever
/// appended (see the SQLite store's `MIGRATIONS`).
const MIGRATIONS: &[&str] = &[FIRST_LAYOUT, SEALING];

/// The layout version this build writes.
const LAYOUT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Layout 1: everything the SQLite store's layout 4 holds. Keys sort
/// bytewise (`COLLATE "C"`), as the storage capability promises.
const FIRST_LAYOUT: &str = r#"
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
    active BOOLEAN NOT NULL DEFAULT FALSE,
    limits TEXT NOT NULL DEFAULT '{}'
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
CREATE TABLE namespace_versions (
    namespace BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE compiled (
    entry TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    manager TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked_ms BIGINT
);
CREATE TABLE audit (
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
INSERT INTO managers (name, flavor, config, active) VALUES ('default', 'local', '{}', TRUE);
"#;

/// Layout 2: the store's own metadata (the master key check; see
/// `store::sealed`), as the SQLite store's layout 4. A database that already
/// holds data is marked `unsealed`, so the first open seals it in place.
const SEALING: &str = r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
INSERT INTO meta (key, value) SELECT 'unsealed', decode('01', 'hex')
WHERE EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM managers WHERE config <> '{}');
"#;

/// Advisory lock keys: migrating the layout, and writing host records.
const LAYOUT_LOCK: i64 = 0x666c_6176_6f72_0001;
const RECORDS_LOCK: i64 = 0x666c_6176_6f72_0002;

/// Idle connections kept per node.
const IDLE_CONNECTIONS: usize = 32;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Inner {
    runtime: Option<tokio::runtime::Runtime>,
    config: tokio_postgres::Config,
    idle: Mutex<Vec<PgClient>>,
    /// `host:port/database`, for messages (never the password).
    label: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Safe to drop from any thread, async or not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The shared store: one PostgreSQL database.
#[derive(Clone)]
pub struct PostgresDatabase {
    inner: Arc<Inner>,
}

/// Waits for `future` on this thread; the connection it talks to is driven
/// by the store's runtime, so this works inside or outside any runtime.
fn wait<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// A connection and the statements it has prepared.
struct PgClient {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl PgClient {
    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = wait(self.client.prepare(sql))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(wait(self.client.query(&statement, params))?)
    }

    fn row(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let statement = self.statement(sql)?;
        Ok(wait(self.client.execute(&statement, params))?)
    }

    fn batch(&self, sql: &str) -> std::result::Result<(), tokio_postgres::Error> {
        wait(self.client.batch_execute(sql))
    }
}

/// A connection borrowed from the pool; returned when dropped, unless it
/// may be inside a transaction (`clean` false) or is closed.
struct Conn {
    client: Option<PgClient>,
    inner: Arc<Inner>,
    clean: bool,
}

impl std::ops::Deref for Conn {
    type Target = PgClient;
    fn deref(&self) -> &PgClient {
        self.client.as_ref().expect("client present until drop")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgClient {
        self.client.as_mut().expect("client present until drop")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.clean
            && !client.client.is_closed()
            && let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < IDLE_CONNECTIONS
        {
            idle.push(client);
        }
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres://{host}:{port}/{db}")
}

/// PostgreSQL's failures as the host's: the server's message and detail (a
/// constraint, a missing table), on one line. Statements carry values only
/// as parameters, which PostgreSQL does not echo.
impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        let text = match err.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => err.to_string(),
        };
        Error::host(format!("store: {}", text.replace('\n', " ")))
    }
}

/// Whether `err` is a lock or statement wait that ran out.
fn timed_out(err: &tokio_postgres::Error) -> bool {
    matches!(
        err.code(),
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::QUERY_CANCELED
    )
}

fn lock_error(err: tokio_postgres::Error) -> Error {
    if timed_out(&err) {
        Error::conflict(
            "the store stayed locked by another writer past the call's deadline; \
             nothing was written"
                .to_string(),
        )
    } else {
        err.into()
    }
}

impl PostgresDatabase {
    /// Connects to the database `url` (`postgres://USER@HOST:PORT/DB`) and
    /// brings its layout up to date.
    pub fn open(url: &str) -> Result<PostgresDatabase> {
        // The parser's message may quote the URL, password included.
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| Error::invalid("the store URL is not a PostgreSQL connection URL"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("flavorbox-postgres")
            .enable_all()
            .build()
            .map_err(|e| Error::host(format!("cannot start the store's runtime: {e}")))?;
        let db = PostgresDatabase {
            inner: Arc::new(Inner {
                label: describe(&config),
                runtime: Some(runtime),
                config,
                idle: Mutex::default(),
            }),
        };
        db.migrate()?;
        Ok(db)
    }

    /// `postgres://HOST:PORT/DATABASE` (no user or password).
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    fn conn(&self) -> Result<Conn> {
        let idle = self.inner.idle.lock().ok().and_then(|mut idle| idle.pop());
        let client = match idle {
            Some(client) if !client.client.is_closed() => client,
            _ => self.connect()?,
        };
        Ok(Conn {
            client: Some(client),
            inner: self.inner.clone(),
            clean: true,
        })
    }

    fn connect(&self) -> Result<PgClient> {
        let config = self.inner.config.clone();
        let runtime = self.inner.runtime.as_ref().expect("runtime present");
        let connecting = runtime.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                // Ends when the client is dropped or the server goes away;
                // the client then reports itself closed.
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(Error::host)?
            .map_err(|e| match e.as_db_error() {
                Some(_) => Error::from(e),
                None => Error::host(format!("cannot reach the store {}: {e}", self.label())),
            })?;
        Ok(PgClient {
            client,
            statements: HashMap::new(),
        })
    }

    /// Runs `f` in one transaction holding the records lock.
    fn write<T>(&self, f: impl FnOnce(&mut PgClient) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        conn.clean = false;
        conn.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({RECORDS_LOCK})"
        ))?;
        match f(&mut conn) {
            Ok(value) => {
                conn.batch("COMMIT")?;
                conn.clean = true;
                Ok(value)
            }
            Err(err) => {
                conn.clean = conn.batch("ROLLBACK").is_ok();
                Err(err)
            }
        }
    }

    /// Brings the layout up to date, one step per transaction, under the
    /// layout lock so that nodes starting together migrate once.
    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn()?;
        conn.clean = false;
        loop {
            conn.batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({LAYOUT_LOCK});
                 CREATE TABLE IF NOT EXISTS flavorbox_layout (version BIGINT NOT NULL);
                 INSERT INTO flavorbox_layout
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM flavorbox_layout);"
            ))?;
            let version: i64 = conn
                .row("SELECT max(version) FROM flavorbox_layout", &[])?
                .map(|r| r.get::<_, Option<i64>>(0).unwrap_or(0))
                .unwrap_or(0);
            if version > LAYOUT_VERSION {
                conn.batch("ROLLBACK")?;
                return Err(Error::host(format!(
                    "store {} was written by a newer flavorbox (layout {version}, this one knows {LAYOUT_VERSION})",
                    self.label()
                )));
            }
            let Some(step) = MIGRATIONS.get(version as usize) else {
                conn.batch("COMMIT")?;
                conn.clean = true;
                return Ok(());
            };
            let applied = conn.batch(&format!(
                "{step}\nUPDATE flavorbox_layout SET version = {};",
                version + 1
            ));
            match applied {
                Ok(()) => conn.batch("COMMIT")?,
                Err(err) => {
                    conn.clean = conn.batch("ROLLBACK").is_ok();
                    return Err(Error::host(format!(
                        "store {} is not a flavorbox store or cannot be migrated ({})",
                        self.label(),
                        Error::from(err)
                    )));
                }
            }
        }
    }

    /// A transaction on the namespace of the manager with `id`; it begins
    /// at first use.
    pub fn postgres_namespace(&self, id: i64, mode: TxnMode) -> Result<PostgresNamespace> {
        Ok(PostgresNamespace {
            conn: self.conn()?,
            namespace: id,
            mode,
            open: false,
            wrote: false,
            deadline: None,
            locked_version: None,
        })
    }

    /// One round trip of `SELECT 1` through a pooled connection: the
    /// baseline the benchmarks compare a served call to.
    pub fn ping(&self) -> Result<()> {
        let mut conn = self.conn()?;
        conn.row("SELECT 1", &[])?;
        Ok(())
    }
}

fn flavor_from_row(row: &Row) -> Result<FlavorRecord> {
    Ok(FlavorRecord {
        name: row.get(0),
        digest: row.get(1),
        description: from_json(row.get(2))?,
        policy: from_json(row.get(3))?,
    })
}

fn manager_from_row(row: &Row) -> Result<ManagerRecord> {
    Ok(ManagerRecord {
        id: row.get(0),
        name: row.get(1),
        flavor: row.get(2),
        config: from_json(row.get(3))?,
        active: row.get(4),
        limits: from_json(row.get(5))?,
    })
}

impl Database for PostgresDatabase {
    fn flavors(&self) -> Result<Vec<FlavorRecord>> {
        let rows = self.conn()?.query(
            "SELECT name, digest, info, policy FROM flavors ORDER BY name",
            &[],
        )?;
        rows.iter().map(flavor_from_row).collect()
    }

    fn flavor(&self, name: &str) -> Result<Option<FlavorRecord>> {
        self.conn()?
            .row(
                "SELECT name, digest, info, policy FROM flavors WHERE name = $1",
                &[&name],
            )?
            .as_ref()
            .map(flavor_from_row)
            .transpose()
    }

    fn flavor_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()?
            .row("SELECT component FROM flavors WHERE name = $1", &[&name])?
            .map(|r| r.get(0)))
    }

    fn insert_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        let info = to_json(&record.description)?;
        let policy = to_json(&record.policy)?;
        self.write(|c| {
            if let Some(twin) = c.row(
                "SELECT name FROM flavors WHERE lower(name) = lower($1)",
                &[&record.name],
            )? {
                return Err(Error::already_exists(format!(
                    "flavor `{}` is registered already; remove it first",
                    twin.get::<_, String>(0)
                )));
            }
            c.execute(
                "INSERT INTO flavors (name, digest, component, info, policy)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&record.name, &record.digest, &component, &info, &policy],
            )?;
            Ok(())
        })
    }

    fn replace_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        let info = to_json(&record.description)?;
        let policy = to_json(&record.policy)?;
        self.write(|c| {
            let updated = c.execute(
                "UPDATE flavors SET digest = $2, component = $3, info = $4, policy = $5
                 WHERE name = $1",
                &[&record.name, &record.digest, &component, &info, &policy],
            )?;
            if updated == 0 {
                return Err(Error::not_found(format!(
                    "flavor `{}` is not registered; register it without --replace",
                    record.name
                )));
            }
            Ok(())
        })
    }

    fn set_flavor_policy(&self, name: &str, policy: &Policy) -> Result<()> {
        let policy = to_json(policy)?;
        self.write(|c| {
            if c.execute(
                "UPDATE flavors SET policy = $2 WHERE name = $1",
                &[&name, &policy],
            )? == 0
            {
                return Err(Error::not_found(format!(
                    "flavor `{name}` is not registered"
                )));
            }
            Ok(())
        })
    }

    fn remove_flavor(&self, name: &str) -> Result<()> {
        self.write(|c| {
            let users: Vec<String> = c
                .query(
                    "SELECT name FROM managers WHERE flavor = $1 ORDER BY name",
                    &[&name],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if !users.is_empty() {
                return Err(Error::denied(format!(
                    "flavor `{name}` is used by secrets manager(s) {}; remove them first",
                    users.join(", ")
                )));
            }
            if c.execute("DELETE FROM flavors WHERE name = $1", &[&name])? == 0 {
                return Err(Error::not_found(format!(
                    "flavor `{name}` is not registered"
                )));
            }
            Ok(())
        })
    }

    fn managers(&self) -> Result<Vec<ManagerRecord>> {
        let rows = self.conn()?.query(
            "SELECT id, name, flavor, config, active, limits FROM managers ORDER BY name",
            &[],
        )?;
        rows.iter().map(manager_from_row).collect()
    }

    fn manager(&self, name: &str) -> Result<Option<ManagerRecord>> {
        self.conn()?
            .row(
                "SELECT id, name, flavor, config, active, limits FROM managers WHERE name = $1",
                &[&name],
            )?
            .as_ref()
            .map(manager_from_row)
            .transpose()
    }

    fn active_manager(&self) -> Result<Option<ManagerRecord>> {
        self.conn()?
            .row(
                "SELECT id, name, flavor, config, active, limits FROM managers WHERE active",
                &[],
            )?
            .as_ref()
            .map(manager_from_row)
            .transpose()
    }

    fn insert_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &BTreeMap<String, String>,
        limits: &ManagerLimits,
        set_active: bool,
    ) -> Result<()> {
        let config = to_json(config)?;
        let limits = to_json(limits)?;
        self.write(|c| {
            if c.row("SELECT 1 FROM managers WHERE name = $1", &[&name])?
                .is_some()
            {
                return Err(Error::already_exists(format!(
                    "secrets manager `{name}` exists already"
                )));
            }
            let none_active = c.row("SELECT 1 FROM managers WHERE active", &[])?.is_none();
            let active = set_active || none_active;
            if active {
                c.execute("UPDATE managers SET active = FALSE WHERE active", &[])?;
            }
            c.execute(
                "INSERT INTO managers (name, flavor, config, active, limits)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&name, &flavor, &config, &active, &limits],
            )?;
            Ok(())
        })
    }

    fn update_manager_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()> {
        let config = to_json(config)?;
        self.write(|c| {
            if c.execute(
                "UPDATE managers SET config = $2 WHERE name = $1",
                &[&name, &config],
            )? == 0
            {
                return Err(Error::not_found(format!(
                    "secrets manager `{name}` does not exist"
                )));
            }
            Ok(())
        })
    }

    fn set_active_manager(&self, name: &str) -> Result<()> {
        self.write(|c| {
            if c.row("SELECT 1 FROM managers WHERE name = $1", &[&name])?
                .is_none()
            {
                return Err(Error::not_found(format!(
                    "secrets manager `{name}` does not exist"
                )));
            }
            c.execute("UPDATE managers SET active = (name = $1)", &[&name])?;
            Ok(())
        })
    }

    fn remove_manager(&self, name: &str, purge: bool) -> Result<()> {
        self.write(|c| {
            let Some(row) = c.row("SELECT id, active FROM managers WHERE name = $1", &[&name])?
            else {
                return Err(Error::not_found(format!(
                    "secrets manager `{name}` does not exist"
                )));
            };
            let (id, active): (i64, bool) = (row.get(0), row.get(1));
            if active {
                return Err(Error::denied(format!(
                    "secrets manager `{name}` is active; make another one active first"
                )));
            }
            let entries: i64 = c
                .row("SELECT count(*) FROM kv WHERE namespace = $1", &[&id])?
                .map_or(0, |r| r.get(0));
            if entries > 0 && !purge {
                return Err(Error::denied(format!(
                    "secrets manager `{name}` still stores {entries} entr{} in this home; \
                     delete its secrets first or pass --purge",
                    if entries == 1 { "y" } else { "ies" }
                )));
            }
            c.execute("DELETE FROM kv WHERE namespace = $1", &[&id])?;
            c.execute(
                "DELETE FROM namespace_versions WHERE namespace = $1",
                &[&id],
            )?;
            c.execute("DELETE FROM managers WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn schemas(&self) -> Result<Vec<Schema>> {
        let rows = self
            .conn()?
            .query("SELECT definition FROM schemas ORDER BY name", &[])?;
        rows.iter().map(|r| from_json(r.get(0))).collect()
    }

    fn schema(&self, name: &str) -> Result<Option<Schema>> {
        self.conn()?
            .row("SELECT definition FROM schemas WHERE name = $1", &[&name])?
            .map(|r| from_json(r.get(0)))
            .transpose()
    }

    fn insert_schema(&self, schema: &Schema) -> Result<()> {
        let definition = to_json(schema)?;
        self.write(|c| {
            let inserted = c.execute(
                "INSERT INTO schemas (name, definition) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING",
                &[&schema.name, &definition],
            )?;
            if inserted == 0 {
                return Err(Error::already_exists(format!(
                    "schema `{}` is registered already",
                    schema.name
                )));
            }
            Ok(())
        })
    }

    fn remove_schema(&self, name: &str) -> Result<()> {
        self.write(|c| {
            if c.execute("DELETE FROM schemas WHERE name = $1", &[&name])? == 0 {
                return Err(Error::not_found(format!(
                    "schema `{name}` is not a registered user schema"
                )));
            }
            Ok(())
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()?
            .row("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0)))
    }

    fn insert_meta(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.write(|c| {
            Ok(c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )? == 1)
        })
    }

    fn delete_meta(&self, key: &str) -> Result<()> {
        self.write(|c| {
            c.execute("DELETE FROM meta WHERE key = $1", &[&key])?;
            Ok(())
        })
    }

    fn namespace(&self, id: i64, mode: TxnMode) -> Result<Box<dyn NamespaceTxn>> {
        Ok(Box::new(self.postgres_namespace(id, mode)?))
    }

    fn compiled_checksum(&self, entry: &str) -> Result<Option<String>> {
        Ok(self
            .conn()?
            .row("SELECT sha256 FROM compiled WHERE entry = $1", &[&entry])?
            .map(|r| r.get(0)))
    }

    fn record_compiled(&self, entry: &str, checksum: &str) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO compiled (entry, sha256) VALUES ($1, $2)
             ON CONFLICT (entry) DO UPDATE SET sha256 = excluded.sha256",
            &[&entry, &checksum],
        )?;
        Ok(())
    }
}

/// One namespace inside one PostgreSQL transaction; see [`NamespaceTxn`]
/// and the module documentation.
pub struct PostgresNamespace {
    conn: Conn,
    namespace: i64,
    mode: TxnMode,
    open: bool,
    wrote: bool,
    deadline: Option<Instant>,
    /// The version read at begin: a `Write` transaction's under its row
    /// lock, a `Read` transaction's in its snapshot.
    locked_version: Option<u64>,
}

impl PostgresNamespace {
    /// `SET LOCAL`s bounding every wait of this transaction by its deadline.
    fn bounds(&self) -> String {
        match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Zero would mean "no limit" to PostgreSQL.
                let ms = left.as_millis().max(1);
                format!("SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms};")
            }
            None => String::new(),
        }
    }

    fn begin(&mut self) -> Result<&mut PgClient> {
        if !self.open {
            self.conn.clean = false;
            let ns = self.namespace;
            match self.mode {
                TxnMode::Read => {
                    // The snapshot's version comes with its first round trip
                    // (a call reads it first thing).
                    let sql = format!(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {}
                         SELECT version FROM namespace_versions WHERE namespace = {ns}",
                        self.bounds()
                    );
                    let client = &self
                        .conn
                        .client
                        .as_ref()
                        .expect("client present until drop")
                        .client;
                    let messages = wait(client.simple_query(&sql)).map_err(lock_error)?;
                    let version = messages.iter().find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
                        _ => None,
                    });
                    let version = match version {
                        Some(text) => text.parse::<u64>().map_err(|_| {
                            Error::host(format!(
                                "store: a namespace version is not a number: {text}"
                            ))
                        })?,
                        None => 0,
                    };
                    self.locked_version = Some(version);
                }
                TxnMode::Write => {
                    let sql = format!("BEGIN; {}", self.bounds());
                    self.conn.batch(&sql).map_err(lock_error)?;
                    self.open = true;
                    let lock =
                        |c: &mut PgClient| -> std::result::Result<i64, tokio_postgres::Error> {
                            let insert = "INSERT INTO namespace_versions (namespace, version)
                                      VALUES ($1, 0) ON CONFLICT (namespace) DO NOTHING";
                            wait(c.client.execute(insert, &[&ns]))?;
                            let row = wait(c.client.query_one(
                            "SELECT version FROM namespace_versions WHERE namespace = $1 FOR UPDATE",
                            &[&ns],
                        ))?;
                            Ok(row.get(0))
                        };
                    let version = lock(&mut self.conn).map_err(lock_error)?;
                    self.locked_version = Some(version as u64);
                }
            }
            self.open = true;
        }
        Ok(&mut self.conn)
    }
}

impl NamespaceTxn for PostgresNamespace {
    fn version(&mut self) -> Result<u64> {
        self.begin()?;
        Ok(self.locked_version.unwrap_or(0))
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let ns = self.namespace;
        Ok(self
            .begin()?
            .row(
                "SELECT value FROM kv WHERE namespace = $1 AND key = $2",
                &[&ns, &key],
            )?
            .map(|r| r.get(0)))
    }

    fn value_len(&mut self, key: &str) -> Result<Option<u64>> {
        let ns = self.namespace;
        Ok(self
            .begin()?
            .row(
                "SELECT octet_length(value) FROM kv WHERE namespace = $1 AND key = $2",
                &[&ns, &key],
            )?
            .map(|r| r.get::<_, i32>(0) as u64))
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let ns = self.namespace;
        self.wrote = true;
        self.begin()?.execute(
            "INSERT INTO kv (namespace, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            &[&ns, &key, &value],
        )?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let ns = self.namespace;
        self.wrote = true;
        let n = self.begin()?.execute(
            "DELETE FROM kv WHERE namespace = $1 AND key = $2",
            &[&ns, &key],
        )?;
        Ok(n > 0)
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>> {
        let ns = self.namespace;
        let end = format!("{prefix}\u{7f}");
        let rows = self.begin()?.query(
            "SELECT key FROM kv WHERE namespace = $1 AND key >= $2 AND key < $3 ORDER BY key",
            &[&ns, &prefix, &end],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn usage(&mut self) -> Result<Usage> {
        let ns = self.namespace;
        let row = self.begin()?.row(
            "SELECT count(*), coalesce(sum(octet_length(key) + octet_length(value)), 0)::BIGINT
             FROM kv WHERE namespace = $1",
            &[&ns],
        )?;
        let (keys, bytes): (i64, i64) = row.map_or((0, 0), |r| (r.get(0), r.get(1)));
        Ok(Usage {
            keys: keys as u64,
            bytes: bytes as u64,
        })
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.open {
            if self.wrote {
                let ns = self.namespace;
                self.conn.execute(
                    "UPDATE namespace_versions SET version = version + 1 WHERE namespace = $1",
                    &[&ns],
                )?;
            }
            self.conn.batch("COMMIT").map_err(lock_error)?;
            self.open = false;
            self.conn.clean = true;
        }
        Ok(())
    }
}

impl Drop for PostgresNamespace {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves the connection out of the pool
            // (`clean` stays false); PostgreSQL rolls back when it closes.
            self.conn.clean = self.conn.batch("ROLLBACK").is_ok();
        }
    }
}

fn token_from_row(row: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0),
        manager: row.get(1),
        role: Role::parse(row.get(2))?,
        created_ms: row.get(3),
        expires_ms: row.get(4),
        revoked_ms: row.get(5),
    })
}

impl AccessStore for PostgresDatabase {
    fn insert_token(&self, record: &TokenRecord, sha256: &str) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO tokens (id, sha256, manager, role, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &record.id,
                &sha256,
                &record.manager,
                &record.role.as_str(),
                &record.created_ms,
                &record.expires_ms,
            ],
        )?;
        Ok(())
    }

    fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>> {
        self.conn()?
            .row(
                "SELECT id, manager, role, created_ms, expires_ms, revoked_ms FROM tokens
                 WHERE sha256 = $1",
                &[&sha256],
            )?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = self.conn()?.query(
            "SELECT id, manager, role, created_ms, expires_ms, revoked_ms FROM tokens
             ORDER BY created_ms, id",
            &[],
        )?;
        rows.iter().map(token_from_row).collect()
    }

    fn revoke_token(&self, id: &str, now_ms: i64) -> Result<()> {
        let found = self.conn()?.execute(
            "UPDATE tokens SET revoked_ms = coalesce(revoked_ms, $2) WHERE id = $1",
            &[&id, &now_ms],
        )?;
        if found == 0 {
            return Err(Error::not_found(format!("token `{id}` does not exist")));
        }
        Ok(())
    }

    /// One statement for the whole batch (arrays unnested), so a batch
    /// costs one round trip.
    fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let column = |f: fn(&AuditEntry) -> Option<String>| -> Vec<Option<String>> {
            entries.iter().map(f).collect()
        };
        let at: Vec<i64> = entries.iter().map(|e| e.at_ms).collect();
        let status: Vec<i32> = entries.iter().map(|e| i32::from(e.status)).collect();
        let peer = column(|e| Some(e.peer.clone()));
        let token = column(|e| e.token.clone());
        let manager = column(|e| e.manager.clone());
        let operation = column(|e| Some(e.operation.clone()));
        let secret = column(|e| e.secret.clone());
        let outcome = column(|e| Some(e.outcome.clone()));
        self.conn()?.execute(
            "INSERT INTO audit (at_ms, peer, token, manager, operation, secret, outcome, status)
             SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[],
                                  $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::INTEGER[])",
            &[
                &at, &peer, &token, &manager, &operation, &secret, &outcome, &status,
            ],
        )?;
        Ok(())
    }

    fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let limit = i64::from(limit);
        let rows = self.conn()?.query(
            "SELECT at_ms, peer, token, manager, operation, secret, outcome, status FROM
             (SELECT * FROM audit ORDER BY seq DESC LIMIT $1) AS latest ORDER BY seq",
            &[&limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at_ms: r.get(0),
                peer: r.get(1),
                token: r.get(2),
                manager: r.get(3),
                operation: r.get(4),
                secret: r.get(5),
                outcome: r.get(6),
                status: r.get::<_, i32>(7) as u16,
            })
            .collect())
    }

    /// A session-level advisory lock on one connection: held across the
    /// calls `f` makes on other connections, and released by PostgreSQL if
    /// this node dies holding it.
    fn with_lock(
        &self,
        key: &str,
        wait: Duration,
        f: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(format!("flavorbox-lock/{key}").as_bytes());
        let id = i64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
        let ms = wait.as_millis().max(1);
        let mut conn = self.conn()?;
        conn.clean = false;
        conn.batch(&format!(
            "SET lock_timeout = {ms}; SELECT pg_advisory_lock({id}); SET lock_timeout = 0"
        ))
        .map_err(|e| {
            if timed_out(&e) {
                lock_timeout()
            } else {
                e.into()
            }
        })?;
        let result = f();
        conn.clean = conn
            .batch(&format!("SELECT pg_advisory_unlock({id})"))
            .is_ok();
        result
    }
}
