//! The conformance checks themselves: what a flavor must do, operation by
//! operation, for "conformant" to mean ZenML's semantics (see the module
//! comment of `conformance` for how they are run).
//!
//! `delete-secret` is checked in its 0.1 meaning, which a soft delete of
//! 0.2 keeps (the secret reads as missing); where a check means "gone"
//! (cleaning up, freeing a name to register again) it purges, which is a
//! 0.1 flavor's delete and a 0.2 flavor's `delete-secret(name, purge)`.
//!
//! Guards against a check that passes on a flavor that did nothing: every
//! check compares what came back with what was stored, key by key, or
//! expects a precise error kind, and a failure names keys, never values.

use crate::error::{Error, Result};
use crate::sandbox::exports::{
    DeleteAllSecrets, DeleteSecret, GetAllSecretKeys, GetSecret, PurgeSecret, RegisterSecret,
    UpdateSecret,
};
use crate::secret::{MAX_VALUES_BYTES, Secret};

use super::{Suite, SuiteOptions, tricky_values};

impl Suite<'_> {
    fn secret(&self, base: &str, schema: &str, values: Vec<(String, String)>) -> Secret {
        Secret::new(self.name(base), schema, values).expect("suite secrets are valid")
    }

    fn get(&mut self, on_b: bool, name: &str) -> Result<Secret> {
        self.call(on_b, &GetSecret(name))
    }

    fn list(&mut self, on_b: bool) -> Result<Vec<String>> {
        self.call(on_b, &GetAllSecretKeys)
    }

    /// How many of this run's secrets manager `a` lists.
    fn count_ours(&mut self) -> std::result::Result<usize, String> {
        let names = self.list(false).map_err(describe)?;
        Ok(names.iter().filter(|n| n.starts_with(&self.prefix)).count())
    }

    /// Whether `expected` reads back from manager `a` exactly, once
    /// `written` (the call that stored it) succeeded.
    fn reads_back<T>(
        &mut self,
        written: Result<T>,
        expected: &Secret,
    ) -> std::result::Result<(), String> {
        written
            .and_then(|_| self.get(false, expected.name()))
            .map_err(describe)
            .and_then(|got| same(&got, expected))
    }

    /// Runs every conformance check.
    pub fn run(&mut self, options: SuiteOptions) {
        let creds = self.secret(
            "db_creds",
            "arbitrary",
            vec![
                ("username".into(), "admin".into()),
                ("password".into(), "hunter2-pw".into()),
            ],
        );
        let registered = self.call(false, &RegisterSecret(&creds));
        self.record("register-secret creates a secret", expect_done(registered));

        let again = self.call(false, &RegisterSecret(&creds));
        self.record(
            "register-secret of a taken name is already-exists",
            expect_error(again, "already-exists"),
        );

        let got = self.get(false, creds.name());
        self.record(
            "get-secret returns the values and schema",
            got.map_err(describe).and_then(|s| same(&s, &creds)),
        );

        let tricky = self.secret("tricky", "arbitrary", tricky_values());
        let written = self.call(false, &RegisterSecret(&tricky));
        let round_trip = self.reads_back(written, &tricky);
        self.record("values round-trip exactly", round_trip);

        let aws = self.secret(
            "aws_keys",
            "aws",
            vec![
                ("aws_access_key_id".into(), "AKIDEXAMPLE".into()),
                (
                    "aws_secret_access_key".into(),
                    "wJalrXUtnFEMI/K7MDENG".into(),
                ),
            ],
        );
        let written = self.call(false, &RegisterSecret(&aws));
        let schema_kept = self.reads_back(written, &aws);
        self.record("the schema name is stored with the secret", schema_kept);

        let listed = self.list(false).map_err(describe).and_then(|names| {
            let mut ours: Vec<&String> = names
                .iter()
                .filter(|n| n.starts_with(&self.prefix))
                .collect();
            ours.sort();
            let mut expected = vec![aws.name(), creds.name(), tricky.name()];
            expected.sort();
            if ours.iter().map(|s| s.as_str()).eq(expected.iter().copied()) {
                Ok(())
            } else {
                Err(format!("listed {ours:?}, expected {expected:?}"))
            }
        });
        self.record("get-all-secret-keys lists every secret", listed);

        let replacement = self.secret(
            "db_creds",
            "basic_auth",
            vec![
                ("username".into(), "root".into()),
                ("password".into(), "new-password".into()),
            ],
        );
        let written = self.call(false, &UpdateSecret(&replacement));
        let replaced = self.reads_back(written, &replacement);
        self.record("update-secret replaces the values and schema", replaced);

        let ghost = self.secret("ghost", "arbitrary", vec![("k".into(), "v".into())]);
        let update_missing = self.call(false, &UpdateSecret(&ghost));
        self.record(
            "update-secret of a missing secret is not-found",
            expect_error(update_missing, "not-found"),
        );
        let get_missing = self.call(false, &GetSecret(ghost.name()));
        self.record(
            "get-secret of a missing secret is not-found",
            expect_error(get_missing, "not-found"),
        );

        let other_sees = self.list(true).map_err(describe).and_then(|names| {
            match names.iter().find(|n| n.starts_with(&self.prefix)) {
                Some(leak) => Err(format!(
                    "manager `{}` lists `{leak}` of manager `{}`",
                    self.b.name(),
                    self.a.name()
                )),
                None => Ok(()),
            }
        });
        let other_gets = self.call(true, &GetSecret(creds.name()));
        self.record(
            "secrets managers do not see each other's secrets",
            other_sees.and(expect_error(other_gets, "not-found")),
        );

        let deleted = self
            .call(false, &DeleteSecret(tricky.name()))
            .map_err(describe)
            .and_then(|_| expect_error(self.call(false, &GetSecret(tricky.name())), "not-found"));
        self.record("delete-secret removes the secret", deleted);
        // Soft-deleted on a 0.2 flavor: purged, so the run leaves nothing.
        let _ = self.call(false, &PurgeSecret(tricky.name()));
        let delete_missing = self.call(false, &DeleteSecret(ghost.name()));
        self.record(
            "delete-secret of a missing secret is not-found",
            expect_error(delete_missing, "not-found"),
        );

        self.run_history();

        let before = self.count_ours();
        let refused = self.call(false, &DeleteAllSecrets { force: false });
        let kept = before.and_then(|before| {
            let after = self.count_ours()?;
            match (before, after) {
                (0, _) => Err("no secret was stored to be kept (the registrations above \
                               failed), so nothing shows that it deletes nothing"
                    .to_string()),
                (before, after) if before == after => Ok(()),
                (before, after) => Err(format!(
                    "{after} of {before} secrets remain after the refused delete-all"
                )),
            }
        });
        self.record(
            "delete-all-secrets(force = false) is invalid and deletes nothing",
            expect_error(refused, "invalid").and(kept),
        );

        if options.delete_all {
            let emptied = self
                .call(false, &DeleteAllSecrets { force: true })
                .map_err(describe)
                .and_then(|_| self.list(false).map_err(describe))
                .and_then(|names| {
                    if names.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("{} secrets remain", names.len()))
                    }
                });
            self.record(
                "delete-all-secrets(force = true) deletes everything",
                emptied,
            );
        } else {
            for name in [creds.name(), aws.name()] {
                let _ = self.call(false, &PurgeSecret(name));
            }
            self.skip(
                "delete-all-secrets(force = true) deletes everything",
                "skipped: the backend may hold secrets that are not this run's",
            );
        }
    }

    /// Probes at the limits: the largest secret and a listing past one page.
    pub fn run_probes(&mut self) {
        let half = "x".repeat(MAX_VALUES_BYTES / 2);
        let biggest = self.secret(
            "largest",
            "arbitrary",
            vec![("a".into(), half.clone()), ("b".into(), half)],
        );
        let written = self.call(false, &RegisterSecret(&biggest));
        let round_trip = self.reads_back(written, &biggest);
        let _ = self.call(false, &PurgeSecret(biggest.name()));
        self.record("a secret of 64 KiB round-trips", round_trip);

        const MANY: usize = 150;
        let names: Vec<String> = (0..MANY)
            .map(|i| self.name(&format!("many{i:03}")))
            .collect();
        let mut stored = Ok(());
        for name in &names {
            let secret = Secret::new(
                name.clone(),
                "arbitrary",
                [("k".to_string(), "v".to_string())],
            )
            .expect("valid");
            if let Err(err) = self.call(false, &RegisterSecret(&secret)) {
                stored = Err(format!("storing secret {name} failed: {}", describe(err)));
                break;
            }
        }
        let listed = stored
            .and_then(|()| self.list(false).map_err(describe))
            .and_then(|listed| {
                let found = names.iter().filter(|n| listed.contains(n)).count();
                if found == MANY {
                    Ok(())
                } else {
                    Err(format!("listed {found} of {MANY} secrets"))
                }
            });
        for name in &names {
            let _ = self.call(false, &PurgeSecret(name));
        }
        self.record("150 secrets are all listed", listed);
    }

    /// Times each operation `samples` times, for p50 latencies.
    pub fn run_latency(&mut self, samples: usize) {
        for i in 0..samples {
            if self.budget_ran_out {
                break;
            }
            let secret = self.secret(
                &format!("timing{i}"),
                "basic_auth",
                vec![
                    ("username".into(), "user".into()),
                    ("password".into(), "timing-password".into()),
                ],
            );
            let _ = self.call(false, &RegisterSecret(&secret));
            let _ = self.call(false, &GetSecret(secret.name()));
            let _ = self.call(false, &GetAllSecretKeys);
            let _ = self.call(false, &UpdateSecret(&secret));
            let _ = self.call(false, &PurgeSecret(secret.name()));
        }
    }
}

pub(super) fn describe(err: Error) -> String {
    format!("{} ({})", err, err.kind().as_str())
}

fn expect_done<T>(outcome: Result<T>) -> std::result::Result<(), String> {
    outcome.map(drop).map_err(describe)
}

pub(super) fn expect_error<T>(outcome: Result<T>, kind: &str) -> std::result::Result<(), String> {
    match outcome {
        Err(err) if err.kind().as_str() == kind => Ok(()),
        Err(err) => Err(format!("expected {kind}, got {}", describe(err))),
        Ok(_) => Err(format!("expected {kind}, but it succeeded")),
    }
}

/// Compares a returned secret with the expected one, naming keys, never
/// values.
pub(super) fn same(got: &Secret, expected: &Secret) -> std::result::Result<(), String> {
    if got.schema() != expected.schema() {
        return Err(format!(
            "schema `{}` came back as `{}`",
            expected.schema(),
            got.schema()
        ));
    }
    let got_keys: Vec<&str> = got.keys().collect();
    let expected_keys: Vec<&str> = expected.keys().collect();
    if got_keys != expected_keys {
        return Err(format!("keys {expected_keys:?} came back as {got_keys:?}"));
    }
    match expected
        .values()
        .iter()
        .find(|(k, v)| got.values().get(*k) != Some(v))
    {
        Some((key, _)) => Err(format!("the value of `{key}` changed")),
        None => Ok(()),
    }
}
