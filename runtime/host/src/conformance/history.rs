//! The conformance checks of contract 0.2, run on a flavor that speaks it
//! (a 0.1 flavor keeps one version and is not asked): versions after
//! updates, reading an older version, check-and-set conflicts that write
//! nothing, a rollback as a new version, soft delete then restore, destroy
//! (or its refusal by a backend that cannot erase one version),
//! labels that write no version, and metadata times that never go back.
//!
//! Guards against a flavor that claims history it does not keep: each
//! check reads back what it wrote (values key by key, version numbers,
//! states), so a flavor that answers "ok" without doing the work fails, and
//! a failure names versions and keys, never values.

use crate::contract::history::{Labels, SecretHistory, VersionState};
use crate::error::{ErrorKind, Result};
use crate::sandbox::exports::{
    DeleteSecret, DestroyVersions, GetMetadata, GetSecret, GetSecretVersion, ListVersions,
    PurgeSecret, RegisterSecret, RestoreSecret, SetLabels, UpdateSecretIf,
};
use crate::secret::Secret;

use super::Suite;
use super::checks::{describe, expect_error, same};

/// A check's failure when `got` is not version `expected`.
fn version_is(what: &str, got: u64, expected: u64) -> std::result::Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{what} is version {got}, expected {expected}"))
    }
}

/// The versions a history lists, each with its state.
fn states(history: &SecretHistory) -> Vec<(u64, VersionState)> {
    history
        .versions
        .iter()
        .map(|v| (v.version, v.state))
        .collect()
}

impl Suite<'_> {
    fn values(&self, base: &str, password: &str) -> Secret {
        Secret::new(
            self.name(base),
            "arbitrary",
            [
                ("user".to_string(), "app".to_string()),
                ("password".to_string(), password.to_string()),
            ],
        )
        .expect("suite secrets are valid")
    }

    fn write(&mut self, secret: &Secret, expected: Option<u64>) -> Result<u64> {
        self.call(false, &UpdateSecretIf { secret, expected })
    }

    /// Runs the checks of contract 0.2 on manager `a`, if its flavor
    /// speaks it; leaves nothing behind.
    pub fn run_history(&mut self) {
        if !self.a.keeps_history() {
            return;
        }
        let first = self.values("history", "version-one");
        let second = self.values("history", "version-two");
        let third = self.values("history", "version-three");
        let name = first.name().to_string();

        let registered = self.call(false, &RegisterSecret(&first));
        let written = registered.and_then(|()| {
            let two = self.write(&second, None)?;
            let three = self.write(&third, None)?;
            Ok((two, three))
        });
        let history =
            written.and_then(|written| Ok((written, self.call(false, &ListVersions(&name))?)));
        let listed = history
            .map_err(describe)
            .and_then(|((two, three), history)| {
                if !(1 < two && two < three) {
                    return Err(format!(
                        "two updates wrote versions {two} and {three} after 1"
                    ));
                }
                let expected = vec![
                    (1, VersionState::Previous),
                    (two, VersionState::Previous),
                    (three, VersionState::Current),
                ];
                let listed = states(&history);
                if listed != expected {
                    return Err(format!(
                        "versions listed as {listed:?}, expected {expected:?}"
                    ));
                }
                version_is(
                    "the metadata's current version",
                    history.metadata.current_version,
                    three,
                )?;
                times_never_go_back(&history)?;
                Ok(three)
            });
        let current = listed.clone().ok();
        self.record(
            "update-secret writes a new version each time, listed with times that never go back",
            listed.map(drop),
        );

        let old = self.call(
            false,
            &GetSecretVersion {
                name: &name,
                version: 1,
            },
        );
        self.record(
            "get-secret of version 1 returns version 1's values",
            old.map_err(describe).and_then(|got| same(&got, &first)),
        );

        let Some(current) = current else {
            self.skip_history_rest("skipped: the secret's versions were not written");
            let _ = self.call(false, &PurgeSecret(&name));
            return;
        };
        let late = self.values("history", "late-writer");
        let stale = self.write(&late, Some(1));
        let unchanged = self.call(false, &GetSecret(&name));
        self.record(
            "update-secret against a stale version is a conflict and writes nothing",
            expect_error(stale, "conflict").and(
                unchanged
                    .map_err(describe)
                    .and_then(|got| same(&got, &third)),
            ),
        );

        // A rollback: version 1's values, written as the next version only
        // if the secret is still at the version read.
        let rolled = self.write(&first, Some(current));
        let rolled_back = rolled.map_err(describe).and_then(|written| {
            if written <= current {
                return Err(format!(
                    "the write after version {current} was version {written}"
                ));
            }
            let got = self.call(false, &GetSecret(&name)).map_err(describe)?;
            same(&got, &first)?;
            Ok(written)
        });
        let head = rolled_back.clone().unwrap_or(current);
        self.record(
            "update-secret against the current version writes the next one",
            rolled_back.map(drop),
        );

        let labels = Labels::new(vec![("team".to_string(), "conformance".to_string())])
            .expect("valid labels");
        let labelled = self.call(
            false,
            &SetLabels {
                name: &name,
                labels: &labels,
            },
        );
        let meta = labelled.and_then(|()| self.call(false, &GetMetadata(&name)));
        self.record(
            "set-labels replaces the labels and writes no version",
            meta.map_err(describe).and_then(|meta| {
                if meta.labels != labels {
                    return Err(format!("labels read back as {:?}", meta.labels.pairs()));
                }
                version_is("after set-labels, the secret", meta.current_version, head)
            }),
        );

        let deleted = self.call(false, &DeleteSecret(&name));
        let hidden = deleted.and_then(|()| {
            let gone = expect_error(self.call(false, &GetSecret(&name)), "not-found");
            let meta = self.call(false, &GetMetadata(&name))?;
            Ok(gone.and(if meta.deleted {
                Ok(())
            } else {
                Err("the metadata of a soft-deleted secret says it is not deleted".to_string())
            }))
        });
        let restored = self.call(false, &RestoreSecret(&name));
        let back = restored.and_then(|()| self.call(false, &GetSecret(&name)));
        self.record(
            "delete-secret is soft and restore-secret brings the secret back",
            hidden
                .map_err(describe)
                .and_then(|hidden| hidden)
                .and(back.map_err(describe).and_then(|got| same(&got, &first))),
        );

        let destroyed =
            DestroyVersions::new(&name, [1]).and_then(|destroy| self.call(false, &destroy));
        let erased = match destroyed {
            // A backend that cannot erase one version refuses, erasing
            // nothing: version 1 must still read as it was.
            Err(refused) if refused.is(ErrorKind::Invalid) => {
                let first_version = GetSecretVersion {
                    name: &name,
                    version: 1,
                };
                self.call(false, &first_version)
                    .map_err(|err| format!("refused as invalid, yet {}", describe(err)))
                    .and_then(|got| same(&got, &first))
            }
            destroyed => {
                let after = destroyed.and_then(|()| self.call(false, &ListVersions(&name)));
                after.map_err(describe).and_then(|history| {
                    match history.versions.iter().find(|v| v.version == 1) {
                        Some(v) if v.state != VersionState::Destroyed => Err(format!(
                            "version 1 is listed as {:?} after it was destroyed",
                            v.state
                        )),
                        _ => expect_error(
                            self.call(
                                false,
                                &GetSecretVersion {
                                    name: &name,
                                    version: 1,
                                },
                            ),
                            "not-found",
                        ),
                    }
                })
            }
        };
        self.record(
            "destroy-versions erases a version's values, or refuses (invalid) erasing nothing",
            erased,
        );

        let purged = self.call(false, &PurgeSecret(&name));
        let gone = purged
            .map_err(describe)
            .and_then(|()| expect_error(self.call(false, &ListVersions(&name)), "not-found"));
        self.record(
            "delete-secret with purge removes the secret with its history",
            gone,
        );
    }

    fn skip_history_rest(&mut self, why: &str) {
        for name in [
            "update-secret against a stale version is a conflict and writes nothing",
            "update-secret against the current version writes the next one",
            "set-labels replaces the labels and writes no version",
            "delete-secret is soft and restore-secret brings the secret back",
            "destroy-versions erases a version's values, or refuses (invalid) erasing nothing",
            "delete-secret with purge removes the secret with its history",
        ] {
            self.skip(name, why);
        }
    }
}

/// Versions created in order, and the secret updated no earlier than it
/// was created or than its newest version.
fn times_never_go_back(history: &SecretHistory) -> std::result::Result<(), String> {
    let meta = &history.metadata;
    if let Some(pair) = history
        .versions
        .windows(2)
        .find(|w| w[1].created < w[0].created)
    {
        return Err(format!(
            "version {} was created before version {}",
            pair[1].version, pair[0].version
        ));
    }
    let newest = history
        .versions
        .iter()
        .map(|v| v.created)
        .max()
        .unwrap_or(0);
    if meta.updated < meta.created || meta.updated < newest {
        return Err(format!(
            "updated at {} ms, before it was created ({} ms) or its newest version ({newest} ms)",
            meta.updated, meta.created
        ));
    }
    Ok(())
}
