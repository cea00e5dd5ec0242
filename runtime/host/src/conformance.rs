//! The CRUD conformance suite: ZenML's secrets-manager semantics, checked
//! through a real flavor in the sandbox. `evaluate` runs it on untrusted
//! flavors and the tests run it on every shipped one, so "conformant" means
//! the same thing everywhere.
//!
//! The suite talks to two secrets managers on the same flavor (to check
//! they are isolated) and only touches secrets whose names carry a random
//! per-run prefix, except for `delete-all-secrets(force = true)`, which the
//! caller may skip for backends shared with real data.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::contract::Operation;
use crate::error::{Error, Result, Violation};
use crate::home::Home;
use crate::managers::Manager;
use crate::sandbox::exports::{
    DeleteAllSecrets, DeleteSecret, GetAllSecretKeys, GetSecret, RegisterSecret, UpdateSecret,
};
use crate::sandbox::{CallReport, Export};
use crate::secret::{MAX_VALUES_BYTES, Secret};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not run; the detail says why. Never counted as a pass.
    Skip,
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// Why it failed, or why it was skipped.
    pub detail: String,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

/// One call the suite made and what the sandbox observed about it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub operation: Operation,
    pub report: CallReport,
    /// How the flavor broke the sandbox in this call, if it did.
    pub breach: Option<(Violation, String)>,
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct SuiteOptions {
    /// Run `delete-all-secrets(force = true)` (it removes every secret the
    /// managers can see).
    pub delete_all: bool,
}

/// Runs the suite; `a` and `b` are two managers on the flavor under test.
///
/// An operation that ran past its deadline is not run again: every later
/// call of it is skipped, and so are the checks that needed it (reported as
/// skipped, never passed). With a budget ([`Suite::set_budget`]), a call
/// that might not end before it is skipped the same way.
pub struct Suite<'h> {
    a: Manager<'h>,
    b: Manager<'h>,
    prefix: String,
    pub observations: Vec<Observation>,
    pub checks: Vec<Check>,
    /// Operations that ran past their deadline.
    timed_out: BTreeSet<Operation>,
    budget: Option<Instant>,
    /// Why a call since the last recorded check was not run.
    skipped: Option<String>,
    /// Whether a call was skipped because the budget ran out.
    pub budget_ran_out: bool,
    progress: Option<Progress<'h>>,
}

/// Told of every check as it is recorded.
type Progress<'h> = Box<dyn FnMut(&str) + 'h>;

/// How long past its deadline a call may take before it is cut off (the
/// sandbox's grace for a host wait, plus its commit).
const CALL_GRACE: Duration = Duration::from_millis(250);

fn run_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or_default();
    format!("c{:08x}{:04x}", nanos, std::process::id() & 0xffff)
}

/// Values that break naive encodings (YAML, JSON, base64, shell quoting).
pub fn tricky_values() -> Vec<(String, String)> {
    [
        ("plain", "s3cr3t-value"),
        ("unicode", "pässwörd ✓ 秘密"),
        ("multiline", "line one\nline two\r\n\ttabbed"),
        (
            "yaml",
            "key: value # not a comment\n- item\n'quoted' \"double\"",
        ),
        ("json", "{\"a\": [1, 2]}"),
        ("spaces", "  leading and trailing  "),
        ("at", "@not-a-file"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl<'h> Suite<'h> {
    /// A suite on the managers `a` and `b` of `home`.
    pub fn new(home: &'h Home, a: &str, b: &str) -> Result<Self> {
        Ok(Suite {
            a: home.manager(Some(a))?,
            b: home.manager(Some(b))?,
            prefix: run_prefix(),
            observations: Vec::new(),
            checks: Vec::new(),
            timed_out: BTreeSet::new(),
            budget: None,
            skipped: None,
            budget_ran_out: false,
            progress: None,
        })
    }

    /// No call starts that might end after `deadline`.
    pub fn set_budget(&mut self, deadline: Instant) {
        self.budget = Some(deadline);
    }

    /// `report` is told of every check as it is recorded.
    pub fn set_progress(&mut self, report: impl FnMut(&str) + 'h) {
        self.progress = Some(Box::new(report));
    }

    /// Why a call of `operation` on `manager` is not run, if it is not.
    fn skip_reason(&mut self, operation: Operation, timeout: Duration) -> Option<String> {
        if self.timed_out.contains(&operation) {
            return Some(format!(
                "skipped: {operation} ran past its deadline in an earlier check and is not \
                 run again"
            ));
        }
        if let Some(budget) = self.budget
            && Instant::now() + timeout + CALL_GRACE > budget
        {
            self.budget_ran_out = true;
            return Some("skipped: the evaluation's budget ran out".to_string());
        }
        None
    }

    /// A name unique to this run.
    pub fn name(&self, base: &str) -> String {
        format!("{}-{base}", self.prefix)
    }

    /// Runs `export` on manager `a` (or `b`) and records the observation;
    /// or, for an operation that ran past its deadline before or when the
    /// budget is spent, does not run it and says why.
    pub fn call<E: Export>(&mut self, on_b: bool, export: &E) -> Result<E::Answer> {
        let timeout = if on_b { &self.b } else { &self.a }.timeout();
        if let Some(why) = self.skip_reason(E::OPERATION, timeout) {
            self.skipped.get_or_insert_with(|| why.clone());
            return Err(Error::conflict(why));
        }
        let manager = if on_b { &self.b } else { &self.a };
        let outcome = manager.call_contract(export)?;
        let breach = match &outcome.result {
            Err(err) if err.violation().is_some() => {
                err.violation().map(|kind| (kind, err.detail().to_string()))
            }
            _ => outcome.report.violation.clone(),
        };
        if matches!(breach, Some((Violation::Deadline, _))) {
            self.timed_out.insert(E::OPERATION);
        }
        self.observations.push(Observation {
            operation: E::OPERATION,
            report: outcome.report,
            breach,
        });
        outcome.result
    }

    fn record(&mut self, name: &'static str, result: std::result::Result<(), String>) {
        let skipped = self.skipped.take();
        let (status, detail) = match (result, skipped) {
            // A check that needed a call that was not run is not judged.
            (_, Some(why)) => (Status::Skip, why),
            (Ok(()), None) => (Status::Pass, String::new()),
            (Err(detail), None) => (Status::Fail, detail),
        };
        self.push(Check {
            name,
            status,
            detail,
        });
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        self.skipped = None;
        self.push(Check {
            name,
            status: Status::Skip,
            detail: why.to_string(),
        });
    }

    fn push(&mut self, check: Check) {
        if let Some(report) = self.progress.as_mut() {
            let mark = match check.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            report(&format!("{mark}  {}", check.name));
        }
        self.checks.push(check);
    }

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
        let round_trip = self
            .call(false, &RegisterSecret(&tricky))
            .and_then(|_| self.get(false, tricky.name()))
            .map_err(describe)
            .and_then(|s| same(&s, &tricky));
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
        let schema_kept = self
            .call(false, &RegisterSecret(&aws))
            .and_then(|_| self.get(false, aws.name()))
            .map_err(describe)
            .and_then(|s| same(&s, &aws));
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
        let replaced = self
            .call(false, &UpdateSecret(&replacement))
            .and_then(|_| self.get(false, creds.name()))
            .map_err(describe)
            .and_then(|s| same(&s, &replacement));
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
        let delete_missing = self.call(false, &DeleteSecret(ghost.name()));
        self.record(
            "delete-secret of a missing secret is not-found",
            expect_error(delete_missing, "not-found"),
        );

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
                let _ = self.call(false, &DeleteSecret(name));
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
        let round_trip = self
            .call(false, &RegisterSecret(&biggest))
            .and_then(|_| self.get(false, biggest.name()))
            .map_err(describe)
            .and_then(|s| same(&s, &biggest));
        let _ = self.call(false, &DeleteSecret(biggest.name()));
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
            let _ = self.call(false, &DeleteSecret(name));
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
            let _ = self.call(false, &DeleteSecret(secret.name()));
        }
    }

    /// p50 of each operation's wall time, in microseconds.
    pub fn p50_micros(&self) -> BTreeMap<Operation, u64> {
        let mut by_op: BTreeMap<Operation, Vec<u64>> = BTreeMap::new();
        for o in &self.observations {
            by_op
                .entry(o.operation)
                .or_default()
                .push(o.report.elapsed.as_micros() as u64);
        }
        by_op
            .into_iter()
            .map(|(op, mut times)| {
                times.sort_unstable();
                (op, times[times.len() / 2])
            })
            .collect()
    }
}

fn describe(err: Error) -> String {
    format!("{} ({})", err, err.kind().as_str())
}

fn expect_done<T>(outcome: Result<T>) -> std::result::Result<(), String> {
    outcome.map(drop).map_err(describe)
}

fn expect_error<T>(outcome: Result<T>, kind: &str) -> std::result::Result<(), String> {
    match outcome {
        Err(err) if err.kind().as_str() == kind => Ok(()),
        Err(err) => Err(format!("expected {kind}, got {}", describe(err))),
        Ok(_) => Err(format!("expected {kind}, but it succeeded")),
    }
}

/// Compares a returned secret with the expected one, naming keys, never
/// values.
fn same(got: &Secret, expected: &Secret) -> std::result::Result<(), String> {
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
