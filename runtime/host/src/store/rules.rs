//! The rules of the host's records, tokens and locks, checked once above
//! every backend, and every message a broken rule gives the user.
//!
//! Guards against a rule holding on one backend and not the other: that a
//! flavor in use is not removed, that flavor names are unique regardless of
//! case, that exactly one manager is active and the active one is not
//! removed, that a manager still storing entries is removed only with
//! `--purge` (and then with its whole namespace), that a missing or
//! existing record is named the same way, that a token is made only for a
//! manager that exists and dies with it (bound to its id, revoked when it is
//! removed), that a revoked token keeps its first revocation time, that a
//! lock wait is bounded. Each write that
//! checks a rule runs in one [`Backend::write`] transaction, which
//! serializes with every other on the store (across processes and
//! `serve` nodes), so what was checked still holds when it commits.
//!
//! Records are encoded here (JSON) and, on a sealed store, config values
//! sealed here, so the backends store text and bytes they never interpret.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::access::{
    AccessStore, AuditEntry, AuditFilter, AuditLink, AuditRetention, AuditVerdict, TokenRecord,
};
use super::audit_chain::{append_chained, walk_chain};
use super::backend::{AccessRows, Backend, FlavorRow, ManagerRow, RecordRows};
use super::key::MasterKey;
use super::namespace::StoreNamespace;
use super::writes::WriteRecord;
use super::{Database, FlavorRecord, ManagerRecord, NamespaceTxn, TxnMode};
use crate::error::{Error, Result};
use crate::policy::{ManagerLimits, Policy};
use crate::schema::Schema;

/// A store: the rules over one backend, sealing what it stores when it is
/// [`Store::sealed`]. See [`super::SqliteDatabase`] and
/// [`super::PostgresDatabase`] for opening one.
#[derive(Clone)]
pub struct Store<B> {
    pub(super) backend: B,
    /// The master key, on a sealed store.
    pub(super) seal: Option<Arc<MasterKey>>,
}

impl<B: Backend> Store<B> {
    /// The store on `backend`, storing values as they come.
    pub(super) fn unsealed(backend: B) -> Self {
        Store {
            backend,
            seal: None,
        }
    }

    /// `config` as a manager's row stores it: JSON, each value sealed on a
    /// sealed store.
    fn config_column(&self, manager: &str, config: &BTreeMap<String, String>) -> Result<String> {
        match &self.seal {
            Some(seal) => to_json(
                &config
                    .iter()
                    .map(|(k, v)| (k, seal.seal_config(manager, k, v)))
                    .collect::<BTreeMap<_, _>>(),
            ),
            None => to_json(config),
        }
    }

    fn manager_record(&self, row: ManagerRow) -> Result<ManagerRecord> {
        let stored: BTreeMap<String, String> = from_json(&row.config)?;
        let config = match &self.seal {
            Some(seal) => stored
                .iter()
                .map(|(k, v)| Ok((k.clone(), seal.open_config(&row.name, k, v)?)))
                .collect::<Result<_>>()?,
            None => stored,
        };
        Ok(ManagerRecord {
            id: row.id,
            limits: from_json(&row.limits)?,
            active: row.active,
            config,
            name: row.name,
            flavor: row.flavor,
        })
    }
}

fn flavor_row(record: &FlavorRecord) -> Result<FlavorRow> {
    Ok(FlavorRow {
        name: record.name.clone(),
        digest: record.digest.clone(),
        description: to_json(&record.description)?,
        policy: to_json(&record.policy)?,
        bundled: record.bundled,
    })
}

fn flavor_record(row: FlavorRow) -> Result<FlavorRecord> {
    Ok(FlavorRecord {
        description: from_json(&row.description)?,
        policy: from_json(&row.policy)?,
        name: row.name,
        digest: row.digest,
        bundled: row.bundled,
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(Error::host)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::host(format!("store holds an unreadable record: {e}")))
}

fn flavor_registered(name: &str) -> Error {
    Error::already_exists(format!(
        "flavor `{name}` is registered already; remove it first"
    ))
}

fn flavor_not_registered(name: &str) -> Error {
    Error::not_found(format!("flavor `{name}` is not registered"))
}

fn no_such_manager(name: &str) -> Error {
    Error::not_found(format!("secrets manager `{name}` does not exist"))
}

/// Milliseconds since the Unix epoch, when a rule records a time itself.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A namespace statement's lock wait ran past the call's deadline (each
/// backend says when its driver reports one).
pub(super) fn locked_past_deadline() -> Error {
    Error::conflict(
        "the store stayed locked by another writer past the call's deadline; nothing was written",
    )
}

/// A stored flavor component that is not bytes.
pub(super) fn unreadable_component(name: &str) -> Error {
    Error::host(format!(
        "the stored component of flavor `{name}` is unreadable; the store is corrupt"
    ))
}

impl<B: Backend> Database for Store<B> {
    fn flavors(&self) -> Result<Vec<FlavorRecord>> {
        let rows = self.backend.rows()?.flavors()?;
        rows.into_iter().map(flavor_record).collect()
    }

    fn flavor(&self, name: &str) -> Result<Option<FlavorRecord>> {
        self.backend
            .rows()?
            .flavor(name)?
            .map(flavor_record)
            .transpose()
    }

    fn flavor_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.backend.rows()?.flavor_component(name)
    }

    fn insert_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        let row = flavor_row(record)?;
        let mut tx = self.backend.write()?;
        // Names are unique without regard to case (a store written before
        // names had to be lowercase may hold `Local`; names are ASCII).
        let registered = tx.flavors()?;
        if let Some(twin) = registered
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&record.name))
        {
            return Err(flavor_registered(&twin.name));
        }
        if !tx.insert_flavor(&row, component)? {
            return Err(flavor_registered(&record.name));
        }
        tx.commit()
    }

    fn replace_flavor(&self, record: &FlavorRecord, component: &[u8]) -> Result<()> {
        let row = flavor_row(record)?;
        let mut tx = self.backend.write()?;
        if !tx.update_flavor(&row, component)? {
            return Err(Error::not_found(format!(
                "flavor `{}` is not registered; register it without --replace",
                record.name
            )));
        }
        tx.commit()
    }

    fn set_flavor_policy(&self, name: &str, policy: &Policy) -> Result<()> {
        let policy = to_json(policy)?;
        let mut tx = self.backend.write()?;
        if !tx.update_flavor_policy(name, &policy)? {
            return Err(flavor_not_registered(name));
        }
        tx.commit()
    }

    fn remove_flavor(&self, name: &str) -> Result<()> {
        let mut tx = self.backend.write()?;
        let users = tx.managers_on(name)?;
        if !users.is_empty() {
            return Err(Error::denied(format!(
                "flavor `{name}` is used by secrets manager(s) {}; remove them first",
                users.join(", ")
            )));
        }
        if !tx.delete_flavor(name)? {
            return Err(flavor_not_registered(name));
        }
        tx.commit()
    }

    fn managers(&self) -> Result<Vec<ManagerRecord>> {
        let rows = self.backend.rows()?.managers()?;
        rows.into_iter()
            .map(|row| self.manager_record(row))
            .collect()
    }

    fn manager(&self, name: &str) -> Result<Option<ManagerRecord>> {
        let row = self.backend.rows()?.manager(name)?;
        row.map(|row| self.manager_record(row)).transpose()
    }

    fn active_manager(&self) -> Result<Option<ManagerRecord>> {
        let row = self.backend.rows()?.active_manager()?;
        row.map(|row| self.manager_record(row)).transpose()
    }

    fn insert_manager(
        &self,
        name: &str,
        flavor: &str,
        config: &BTreeMap<String, String>,
        limits: &ManagerLimits,
        set_active: bool,
    ) -> Result<()> {
        let config = self.config_column(name, config)?;
        let limits = to_json(limits)?;
        let mut tx = self.backend.write()?;
        if tx.manager(name)?.is_some() {
            return Err(Error::already_exists(format!(
                "secrets manager `{name}` exists already"
            )));
        }
        // The first manager, or one asked to, becomes the active one.
        let active = set_active || tx.active_manager()?.is_none();
        tx.insert_manager(name, flavor, &config, &limits)?;
        if active {
            tx.make_active(name)?;
        }
        tx.commit()
    }

    fn update_manager_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()> {
        let config = self.config_column(name, config)?;
        let mut tx = self.backend.write()?;
        if !tx.update_manager_config(name, &config)? {
            return Err(no_such_manager(name));
        }
        tx.commit()
    }

    fn set_active_manager(&self, name: &str) -> Result<()> {
        let mut tx = self.backend.write()?;
        if tx.manager(name)?.is_none() {
            return Err(no_such_manager(name));
        }
        tx.make_active(name)?;
        tx.commit()
    }

    fn remove_manager(&self, name: &str, purge: bool) -> Result<()> {
        let mut tx = self.backend.write()?;
        let Some(manager) = tx.manager(name)? else {
            return Err(no_such_manager(name));
        };
        if manager.active {
            return Err(Error::denied(format!(
                "secrets manager `{name}` is active; make another one active first"
            )));
        }
        let entries = tx.namespace_entries(manager.id)?;
        if entries > 0 && !purge {
            return Err(Error::denied(format!(
                "secrets manager `{name}` still stores {entries} entr{} in this home; \
                 delete its secrets first (soft-deleted ones too: `secret delete NAME \
                 --purge`) or pass --purge",
                if entries == 1 { "y" } else { "ies" }
            )));
        }
        tx.delete_namespace(manager.id)?;
        tx.delete_manager(manager.id)?;
        // Its tokens go with it: a later manager of the same name has
        // another id, and the tokens are listed as revoked.
        tx.revoke_tokens_of(manager.id, now_ms())?;
        tx.commit()
    }

    fn schemas(&self) -> Result<Vec<Schema>> {
        let definitions = self.backend.rows()?.schemas()?;
        definitions.iter().map(|text| from_json(text)).collect()
    }

    fn schema(&self, name: &str) -> Result<Option<Schema>> {
        let definition = self.backend.rows()?.schema(name)?;
        definition.map(|text| from_json(&text)).transpose()
    }

    fn insert_schema(&self, schema: &Schema) -> Result<()> {
        let definition = to_json(schema)?;
        let mut tx = self.backend.write()?;
        if !tx.insert_schema(&schema.name, &definition)? {
            return Err(Error::already_exists(format!(
                "schema `{}` is registered already",
                schema.name
            )));
        }
        tx.commit()
    }

    fn remove_schema(&self, name: &str) -> Result<()> {
        let mut tx = self.backend.write()?;
        if !tx.delete_schema(name)? {
            return Err(Error::not_found(format!(
                "schema `{name}` is not a registered user schema"
            )));
        }
        tx.commit()
    }

    fn layout_version(&self) -> Result<i64> {
        self.backend.rows()?.layout_version()
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.backend.rows()?.meta(key)
    }

    fn insert_meta(&self, key: &str, value: &[u8]) -> Result<bool> {
        self.backend.rows()?.insert_meta(key, value)
    }

    fn delete_meta(&self, key: &str) -> Result<()> {
        self.backend.rows()?.delete_meta(key)
    }

    fn namespace(&self, id: i64, mode: TxnMode) -> Result<Box<dyn NamespaceTxn>> {
        Ok(Box::new(StoreNamespace {
            rows: self.backend.namespace(id, mode)?,
            namespace: id,
            seal: self.seal.clone(),
            writes: WriteRecord::new(id),
            wrote: false,
        }))
    }

    fn compiled_checksum(&self, entry: &str) -> Result<Option<String>> {
        self.backend.rows()?.compiled_checksum(entry)
    }

    fn record_compiled(&self, entry: &str, checksum: &str) -> Result<()> {
        self.backend.rows()?.record_compiled(entry, checksum)
    }
}

impl<B: Backend> AccessStore for Store<B> {
    fn insert_token(&self, record: &TokenRecord, sha256: &str) -> Result<()> {
        let mut tx = self.backend.write()?;
        // Checked in the transaction that inserts: a manager removed
        // meanwhile (its tokens revoked) gets no token that escaped that.
        let exists = tx.manager(&record.manager)?.map(|m| m.id);
        if exists.is_none() || exists != record.manager_id {
            return Err(no_such_manager(&record.manager));
        }
        tx.insert_token(record, sha256)?;
        tx.commit()
    }

    fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>> {
        self.backend.rows()?.token_by_hash(sha256)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.backend.rows()?.tokens()
    }

    fn token_used(&self, id: &str, now_ms: i64) -> Result<()> {
        self.backend.rows()?.set_token_used(id, now_ms)
    }

    fn revoke_token(&self, id: &str, now_ms: i64) -> Result<()> {
        let mut tx = self.backend.write()?;
        let Some(token) = tx.token(id)? else {
            return Err(Error::not_found(format!("token `{id}` does not exist")));
        };
        // Revoking again keeps the first time.
        if token.revoked_ms.is_none() {
            tx.set_token_revoked(id, now_ms)?;
        }
        tx.commit()
    }

    fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<AuditLink>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // One write transaction: appends from every node of the store take
        // turns, so the chain never forks.
        let mut tx = self.backend.write()?;
        let head = tx.audit_chain()?.head;
        let links = append_chained(&mut tx, head, entries)?;
        tx.commit()?;
        Ok(links)
    }

    fn audit_matching(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
        self.backend.rows()?.audit(filter, limit)
    }

    fn prune_audit(&self, retention: &AuditRetention, now_ms: i64) -> Result<u64> {
        let mut tx = self.backend.write()?;
        let chain = tx.audit_chain()?;
        let mut through = chain.pruned.seq;
        if let Some(age) = retention.max_age {
            let cutoff = now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
            through = through.max(tx.audit_newest_before(cutoff)?.unwrap_or(0));
        }
        if let Some(max) = retention.max_records {
            // Past `max`, down to a tenth below it (so the next appends do
            // not prune again at once), the prune record appended below
            // among the records kept.
            let max = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
            if chain.head.seq - chain.pruned.seq > max {
                let keep = (max - max / 10).max(1);
                through = through.max(chain.head.seq - (keep - 1));
            }
        }
        through = through.min(chain.head.seq);
        // The chain goes on from the last linked record pruned (one deleted
        // by hand stays missing, and walking the chain says so).
        let Some(pruned) = tx.audit_link_through(chain.pruned.seq, through)? else {
            return Ok(0);
        };
        let deleted = tx.delete_audit_through(pruned.seq)?;
        tx.set_audit_pruned(&pruned)?;
        let record = AuditEntry {
            at_ms: now_ms,
            last_ms: now_ms,
            count: deleted,
            peer: "local".to_string(),
            token: None,
            manager: None,
            operation: "prune-audit".to_string(),
            secret: None,
            outcome: "ok".to_string(),
            status: 200,
        };
        append_chained(&mut tx, chain.head, &[record])?;
        tx.commit()?;
        Ok(deleted)
    }

    fn verify_audit(&self) -> Result<AuditVerdict> {
        // A prune between reading the chain's start and its records looks
        // like records missing from its start: walked again then.
        let mut attempts = 0;
        loop {
            let (verdict, walked) = walk_chain(&mut self.backend.rows()?)?;
            attempts += 1;
            let moved = self.backend.rows()?.audit_chain()?.pruned != walked.pruned;
            if matches!(verdict, AuditVerdict::Intact { .. }) || !moved || attempts == 3 {
                return Ok(verdict);
            }
        }
    }

    fn with_lock(
        &self,
        key: &str,
        wait: Duration,
        f: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        let Some(_held) = self.backend.lock(key, wait)? else {
            return Err(Error::conflict(
                "another request held this secret past the deadline; nothing was written, try again",
            ));
        };
        f()
    }
}
