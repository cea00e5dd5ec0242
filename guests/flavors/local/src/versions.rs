//! One secret's record in the `local` flavor: its versions, times, labels and
//! soft-deleted state, and every rule that changes them. Pure: no storage, no
//! clock (the caller passes `now`), no bindings; `store.rs` reads and writes
//! records, `codec.rs` encodes them.
//!
//! Guards against: a version number reused (numbers come from `current + 1`
//! and the current version is never trimmed or destroyed, so the highest
//! number ever written is always kept); a check-and-set write landing on a
//! secret that moved on (`conflict`, decided before anything changes); the
//! history growing without bound (at most `max_versions` kept, oldest dropped
//! first); a destroyed version read back (its values are gone, only its number
//! and time remain); times going backwards when the clock does (every time is
//! at least the record's last `updated`); a request that is half invalid
//! being half applied (every number is checked before any is destroyed).

use serde::{Deserialize, Serialize};

/// A version number: 1 for the first write, one more for each write after.
pub type Version = u64;
/// Milliseconds since the Unix epoch, UTC; 0 where unknown (a secret written
/// by the 0.1 `local`, which kept no times).
pub type Timestamp = u64;
/// Key-value labels on a secret (checked by the host both ways).
pub type Labels = Vec<(String, String)>;

/// Why an operation failed, as the contract's `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    NotFound(String),
    AlreadyExists(String),
    Invalid(String),
    Denied(String),
    Backend(String),
    Conflict(String),
}

/// Where a version stands, as the contract's `version-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Current,
    Previous,
    /// The version that was current when the secret was soft-deleted (the
    /// others stay `Previous` or `Destroyed`).
    Deleted,
    Destroyed,
}

/// One line of `list-versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: Version,
    pub created: Timestamp,
    pub state: State,
}

/// What a secret is, without its values or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub schema: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub current: Version,
    pub deleted: bool,
    pub labels: Labels,
}

/// A version the record still lists. Its values live in their own storage
/// entry (none once `destroyed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub number: Version,
    pub created: Timestamp,
    pub schema: String,
    pub destroyed: bool,
}

/// One secret's record. `kept` is oldest first, numbers strictly increasing,
/// never empty, and its last entry is the current version (never destroyed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub created: Timestamp,
    pub updated: Timestamp,
    pub labels: Labels,
    pub kept: Vec<Kept>,
    /// Soft-deleted. Not encoded: the storage key says it (`store.rs`).
    #[serde(skip)]
    pub deleted: bool,
}

/// What a write of values did: the number written and the versions trimmed
/// from the history whose values entries must go (destroyed ones had none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub number: Version,
    pub dropped_values: Vec<Version>,
}

impl Record {
    /// A new secret: version 1, written `now`.
    pub fn new(schema: &str, labels: Labels, now: Timestamp) -> Record {
        Record {
            created: now,
            updated: now,
            labels,
            kept: vec![Kept {
                number: 1,
                created: now,
                schema: schema.to_string(),
                destroyed: false,
            }],
            deleted: false,
        }
    }

    /// A secret the 0.1 `local` stored: version 1 with unknown times, no
    /// labels, no history.
    pub fn legacy(schema: &str) -> Record {
        Record::new(schema, Labels::new(), 0)
    }

    /// Checks the invariants a decoded record must hold (a corrupt entry is
    /// reported, never guessed at).
    pub fn check(&self) -> Result<(), String> {
        let Some(last) = self.kept.last() else {
            return Err("it lists no version".to_string());
        };
        if last.destroyed {
            return Err("its current version is destroyed".to_string());
        }
        if self.kept.first().is_some_and(|first| first.number == 0)
            || self.kept.windows(2).any(|w| w[0].number >= w[1].number)
        {
            return Err("its version numbers are not increasing from 1".to_string());
        }
        if self.created > self.updated {
            return Err("it was updated before it was created".to_string());
        }
        Ok(())
    }

    pub fn current(&self) -> &Kept {
        self.kept
            .last()
            .expect("a record lists its current version")
    }

    /// The next time to record: `now`, or the last change's time if the clock
    /// went backwards since.
    fn stamp(&self, now: Timestamp) -> Timestamp {
        now.max(self.updated)
    }

    fn live(&self, name: &str) -> Result<(), Error> {
        if self.deleted {
            Err(Error::NotFound(format!("secret `{name}` is deleted")))
        } else {
            Ok(())
        }
    }

    /// The version whose values a read returns: the current one, or
    /// `version`.
    pub fn readable(&self, name: &str, version: Option<Version>) -> Result<&Kept, Error> {
        self.live(name)?;
        let Some(number) = version else {
            return Ok(self.current());
        };
        match self.kept.iter().find(|kept| kept.number == number) {
            Some(kept) if !kept.destroyed => Ok(kept),
            Some(_) => Err(Error::NotFound(format!(
                "version {number} of secret `{name}` was destroyed"
            ))),
            None => Err(Error::NotFound(format!(
                "secret `{name}` has no version {number}"
            ))),
        }
    }

    /// Adds a version holding values of `schema`, if the secret is live and
    /// at version `expected` (when given), then trims the history to
    /// `max_versions` (at least 1).
    pub fn add_version(
        &mut self,
        name: &str,
        schema: &str,
        expected: Option<Version>,
        now: Timestamp,
        max_versions: usize,
    ) -> Result<Written, Error> {
        self.live(name)?;
        let current = self.current().number;
        if let Some(expected) = expected.filter(|expected| *expected != current) {
            return Err(Error::Conflict(format!(
                "secret `{name}` is at version {current}, not {expected}"
            )));
        }
        let number = current + 1;
        let time = self.stamp(now);
        self.kept.push(Kept {
            number,
            created: time,
            schema: schema.to_string(),
            destroyed: false,
        });
        self.updated = time;
        let excess = self.kept.len().saturating_sub(max_versions.max(1));
        let dropped_values = self
            .kept
            .drain(..excess)
            .filter(|kept| !kept.destroyed)
            .map(|kept| kept.number)
            .collect();
        Ok(Written {
            number,
            dropped_values,
        })
    }

    pub fn soft_delete(&mut self, name: &str, now: Timestamp) -> Result<(), Error> {
        self.live(name)?;
        self.deleted = true;
        self.updated = self.stamp(now);
        Ok(())
    }

    pub fn restore(&mut self, name: &str, now: Timestamp) -> Result<(), Error> {
        if !self.deleted {
            return Err(Error::Invalid(format!("secret `{name}` is not deleted")));
        }
        self.deleted = false;
        self.updated = self.stamp(now);
        Ok(())
    }

    /// Replaces the labels; labels make no version.
    pub fn set_labels(&mut self, name: &str, labels: Labels, now: Timestamp) -> Result<(), Error> {
        self.live(name)?;
        self.labels = labels;
        self.updated = self.stamp(now);
        Ok(())
    }

    /// Destroys the values of `versions`, all or none: `invalid` for the
    /// current (or, soft-deleted, the deleted) version or a number the
    /// secret never had. A version already destroyed, or trimmed from the
    /// history, has no values left and is passed over. Returns the versions
    /// whose values entries must go; if there are any, the secret changed
    /// `now`. Allowed on a soft-deleted secret too, as Vault allows it.
    pub fn destroy(
        &mut self,
        name: &str,
        versions: &[Version],
        now: Timestamp,
    ) -> Result<Vec<Version>, Error> {
        let current = self.current().number;
        for &number in versions {
            if number == current {
                return Err(Error::Invalid(format!(
                    "version {number} is the current version of secret `{name}`: \
                     update or delete the secret instead"
                )));
            }
            if number == 0 || number > current {
                return Err(Error::Invalid(format!(
                    "secret `{name}` never had a version {number}"
                )));
            }
        }
        let mut destroyed = Vec::new();
        for kept in &mut self.kept {
            if !kept.destroyed && versions.contains(&kept.number) {
                kept.destroyed = true;
                destroyed.push(kept.number);
            }
        }
        if !destroyed.is_empty() {
            self.updated = self.stamp(now);
        }
        Ok(destroyed)
    }

    /// The versions kept, oldest first, and where each stands.
    pub fn list_versions(&self) -> Vec<VersionInfo> {
        let current = self.current().number;
        self.kept
            .iter()
            .map(|kept| VersionInfo {
                version: kept.number,
                created: kept.created,
                state: match () {
                    _ if kept.destroyed => State::Destroyed,
                    _ if kept.number != current => State::Previous,
                    _ if self.deleted => State::Deleted,
                    _ => State::Current,
                },
            })
            .collect()
    }

    /// The versions whose values entries exist.
    pub fn stored_values(&self) -> impl Iterator<Item = Version> + '_ {
        self.kept
            .iter()
            .filter(|kept| !kept.destroyed)
            .map(|kept| kept.number)
    }

    pub fn metadata(&self) -> Metadata {
        Metadata {
            schema: self.current().schema.clone(),
            created: self.created,
            updated: self.updated,
            current: self.current().number,
            deleted: self.deleted,
            labels: self.labels.clone(),
        }
    }
}

#[cfg(test)]
#[path = "versions_tests.rs"]
mod tests;
