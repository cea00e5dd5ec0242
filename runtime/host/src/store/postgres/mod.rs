//! The store on PostgreSQL, shared by several `flavorbox serve` nodes: the
//! records, every namespace and its version, tokens and the audit log live
//! in one database, so a node holds nothing but its compile cache and can be
//! killed or added at any time. This part connects and pools connections;
//! `migrations`, `records`, `namespaces` and `access` run the statements of
//! the [`Backend`] interface. No rule is checked here.
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
//! Every connection is encrypted or not as the URL's `sslmode` says (see
//! `tls`: libpq's modes, `prefer` by default, `verify-full` to stop an
//! active attacker).
//!
//! The driver (`tokio-postgres`) runs its connections on a small runtime of
//! this store's own; the synchronous methods wait on it from any thread,
//! including from inside a flavor call.

mod access;
mod migrations;
mod namespaces;
mod records;
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::backend::Backend;
use super::rules::locked_past_deadline;
use super::{Store, TxnMode};
use crate::error::{Error, Result};

/// Advisory lock keys: migrating the layout, and writing host records.
const LAYOUT_LOCK: i64 = 0x666c_6176_6f72_0001;
const RECORDS_LOCK: i64 = 0x666c_6176_6f72_0002;

/// Idle connections kept per node.
const IDLE_CONNECTIONS: usize = 32;

/// How long opening a connection may take, unless the URL's
/// `connect_timeout` says otherwise: the TCP connection, the TLS handshake
/// and authentication together (a server that accepts and then stalls is
/// given up on too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Inner {
    runtime: Option<tokio::runtime::Runtime>,
    config: tokio_postgres::Config,
    /// Makes each connection's TLS as the URL's `sslmode` says.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The URL's `sslmode`, for messages.
    mode: tls::SslMode,
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

/// The shared backend: one PostgreSQL database (see
/// [`super::PostgresDatabase`]).
#[derive(Clone)]
pub struct PostgresBackend {
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

/// `err` and what caused it (a refused connection, the certificate the
/// TLS handshake rejected and why), on one line: the driver's own text
/// names only its step.
fn with_causes(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// Whether `err` is a lock or statement wait that ran out.
fn timed_out(err: &tokio_postgres::Error) -> bool {
    matches!(
        err.code(),
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::QUERY_CANCELED
    )
}

/// A lock wait that ran out is named as such.
fn lock_error(err: tokio_postgres::Error) -> Error {
    if timed_out(&err) {
        locked_past_deadline()
    } else {
        err.into()
    }
}

/// The host records on one pooled connection, inside a transaction or not
/// (see `records` and `access`); rolled back when dropped inside one.
pub struct PostgresRows {
    conn: Conn,
    in_transaction: bool,
}

impl Drop for PostgresRows {
    fn drop(&mut self) {
        if self.in_transaction {
            // A failed rollback leaves the connection out of the pool
            // (`clean` stays false); PostgreSQL rolls back when it closes.
            self.conn.clean = self.conn.batch("ROLLBACK").is_ok();
        }
    }
}

impl PostgresBackend {
    /// Connects to the database `url` (`postgres://USER@HOST:PORT/DB`,
    /// `?sslmode=...&sslrootcert=...` as libpq reads them) and brings its
    /// layout up to date.
    fn open(url: &str) -> Result<PostgresBackend> {
        let tls::Link {
            mut config,
            mode,
            tls,
        } = tls::link(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("flavorbox-postgres")
            .enable_all()
            .build()
            .map_err(|e| Error::host(format!("cannot start the store's runtime: {e}")))?;
        let backend = PostgresBackend {
            inner: Arc::new(Inner {
                label: describe(&config),
                runtime: Some(runtime),
                config,
                tls,
                mode,
                idle: Mutex::default(),
            }),
        };
        migrations::migrate(&mut backend.conn()?, backend.label())?;
        Ok(backend)
    }

    /// `postgres://HOST:PORT/DATABASE` (no user or password).
    fn label(&self) -> &str {
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
        let (config, tls) = (self.inner.config.clone(), self.inner.tls.clone());
        // The driver bounds only the TCP connection by it.
        let bound = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        let runtime = self.inner.runtime.as_ref().expect("runtime present");
        let connecting = runtime.spawn(async move {
            let (client, connection) = tokio::time::timeout(bound, config.connect(tls))
                .await
                .map_err(|_| None)?
                .map_err(Some)?;
            tokio::spawn(async move {
                // Ends when the client is dropped or the server goes away;
                // the client then reports itself closed.
                let _ = connection.await;
            });
            Ok::<_, Option<tokio_postgres::Error>>(client)
        });
        let unreachable = |why: String| {
            Error::host(format!(
                "cannot reach the store {} (sslmode={}): {why}",
                self.label(),
                self.inner.mode.name(),
            ))
        };
        let client = wait(connecting)
            .map_err(Error::host)?
            .map_err(|e| match e {
                Some(e) if e.as_db_error().is_some() => Error::from(e),
                Some(e) => unreachable(with_causes(&e)),
                None => unreachable(format!(
                    "no connection within {} ms (connect_timeout)",
                    bound.as_millis()
                )),
            })?;
        Ok(PgClient {
            client,
            statements: HashMap::new(),
        })
    }
}

impl Backend for PostgresBackend {
    type Rows = PostgresRows;
    type Namespace = namespaces::PostgresNamespace;
    type Held = access::PostgresLock;

    fn rows(&self) -> Result<PostgresRows> {
        Ok(PostgresRows {
            conn: self.conn()?,
            in_transaction: false,
        })
    }

    /// Serialized across nodes by the records advisory lock, taken in the
    /// transaction's first round trip.
    fn write(&self) -> Result<PostgresRows> {
        let mut rows = PostgresRows {
            conn: self.conn()?,
            in_transaction: true,
        };
        rows.conn.clean = false;
        rows.conn.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({RECORDS_LOCK})"
        ))?;
        Ok(rows)
    }

    fn namespace(&self, id: i64, mode: TxnMode) -> Result<namespaces::PostgresNamespace> {
        Ok(namespaces::PostgresNamespace::new(self.conn()?, id, mode))
    }

    fn lock(&self, key: &str, wait: Duration) -> Result<Option<access::PostgresLock>> {
        access::PostgresLock::take(self.conn()?, key, wait)
    }
}

impl Store<PostgresBackend> {
    /// Connects to the database `url` (`postgres://USER@HOST:PORT/DB`),
    /// brings its layout up to date, and opens it unsealed.
    pub fn open(url: &str) -> Result<Self> {
        Ok(Store::unsealed(PostgresBackend::open(url)?))
    }

    /// `postgres://HOST:PORT/DATABASE` (no user or password).
    pub fn label(&self) -> &str {
        self.backend.label()
    }

    /// One round trip of `SELECT 1` through a pooled connection: the
    /// baseline the benchmarks compare a served call to.
    pub fn ping(&self) -> Result<()> {
        self.backend.conn()?.row("SELECT 1", &[])?;
        Ok(())
    }
}
