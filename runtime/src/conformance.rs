//! The CRUD conformance suite: ZenML's secrets-manager semantics, checked
//! through a real flavor in the sandbox. `evaluate` runs it on untrusted
//! flavors and the tests run it on every shipped one, so "conformant" means
//! the same thing everywhere.
//!
//! The suite talks to two secrets managers on the same flavor (to check
//! they are isolated) and only touches secrets whose names carry a random
//! per-run prefix, except for `delete-all-secrets(force = true)`, which the
//! caller may skip for backends shared with real data.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::contract::{Request, Response};
use crate::error::{Error, Violation};
use crate::home::Home;
use crate::sandbox::CallReport;
use crate::secret::{MAX_VALUES_BYTES, Secret};

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// Why it failed, or a note when it was skipped.
    pub detail: String,
    pub skipped: bool,
}

/// One call the suite made and what the sandbox observed about it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub operation: &'static str,
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
pub struct Suite<'h> {
    home: &'h Home,
    a: String,
    b: String,
    prefix: String,
    pub observations: Vec<Observation>,
    pub checks: Vec<Check>,
}

type Outcome = Result<Response, Error>;

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
    pub fn new(home: &'h Home, a: &str, b: &str) -> Self {
        Suite {
            home,
            a: a.to_string(),
            b: b.to_string(),
            prefix: run_prefix(),
            observations: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// A name unique to this run.
    pub fn name(&self, base: &str) -> String {
        format!("{}-{base}", self.prefix)
    }

    /// Sends `request` to manager `a` (or `b`) and records the observation.
    pub fn call(&mut self, on_b: bool, request: Request) -> Outcome {
        let manager = if on_b { self.b.clone() } else { self.a.clone() };
        let outcome = self.home.request(Some(&manager), &request)?;
        let breach = match &outcome.result {
            Err(Error::Sandbox { kind, detail }) => Some((*kind, detail.clone())),
            _ => outcome.report.violation.clone(),
        };
        self.observations.push(Observation {
            operation: request.operation(),
            report: outcome.report,
            breach,
        });
        outcome.result
    }

    fn record(&mut self, name: &'static str, result: Result<(), String>) {
        let (passed, detail) = match result {
            Ok(()) => (true, String::new()),
            Err(detail) => (false, detail),
        };
        self.checks.push(Check {
            name,
            passed,
            detail,
            skipped: false,
        });
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        self.checks.push(Check {
            name,
            passed: true,
            detail: why.to_string(),
            skipped: true,
        });
    }

    fn secret(&self, base: &str, schema: &str, values: Vec<(String, String)>) -> Secret {
        Secret::new(self.name(base), schema, values).expect("suite secrets are valid")
    }

    fn get(&mut self, on_b: bool, name: &str) -> Result<Secret, Error> {
        match self.call(on_b, Request::Get(name.to_string()))? {
            Response::Secret(secret) => Ok(secret),
            _ => unreachable!("get-secret answers with a secret"),
        }
    }

    fn list(&mut self, on_b: bool) -> Result<Vec<String>, Error> {
        match self.call(on_b, Request::List)? {
            Response::Names(names) => Ok(names),
            _ => unreachable!("get-all-secret-keys answers with names"),
        }
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
        let registered = self.call(false, Request::Register(creds.clone()));
        let created = registered.is_ok();
        self.record("register-secret creates a secret", expect_done(registered));

        let again = self.call(false, Request::Register(creds.clone()));
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
            .call(false, Request::Register(tricky.clone()))
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
            .call(false, Request::Register(aws.clone()))
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
            .call(false, Request::Update(replacement.clone()))
            .and_then(|_| self.get(false, creds.name()))
            .map_err(describe)
            .and_then(|s| same(&s, &replacement));
        self.record("update-secret replaces the values and schema", replaced);

        let ghost = self.secret("ghost", "arbitrary", vec![("k".into(), "v".into())]);
        let update_missing = self.call(false, Request::Update(ghost.clone()));
        self.record(
            "update-secret of a missing secret is not-found",
            expect_error(update_missing, "not-found"),
        );
        let get_missing = self.call(false, Request::Get(ghost.name().to_string()));
        self.record(
            "get-secret of a missing secret is not-found",
            expect_error(get_missing, "not-found"),
        );

        let other_sees = self.list(true).map_err(describe).and_then(|names| {
            match names.iter().find(|n| n.starts_with(&self.prefix)) {
                Some(leak) => Err(format!(
                    "manager `{}` lists `{leak}` of manager `{}`",
                    self.b, self.a
                )),
                None => Ok(()),
            }
        });
        let other_gets = self.call(true, Request::Get(creds.name().to_string()));
        self.record(
            "secrets managers do not see each other's secrets",
            other_sees.and(expect_error(other_gets, "not-found")),
        );

        let deleted = self
            .call(false, Request::Delete(tricky.name().to_string()))
            .map_err(describe)
            .and_then(|_| {
                expect_error(
                    self.call(false, Request::Get(tricky.name().to_string())),
                    "not-found",
                )
            });
        self.record("delete-secret removes the secret", deleted);
        let delete_missing = self.call(false, Request::Delete(ghost.name().to_string()));
        self.record(
            "delete-secret of a missing secret is not-found",
            expect_error(delete_missing, "not-found"),
        );

        let refused = self.call(false, Request::DeleteAll { force: false });
        let kept = self.list(false).map_err(describe).and_then(|names| {
            let ours = names.iter().filter(|n| n.starts_with(&self.prefix)).count();
            if ours == 2 || !created {
                Ok(())
            } else {
                Err(format!(
                    "{ours} of 2 secrets remain after the refused delete-all"
                ))
            }
        });
        self.record(
            "delete-all-secrets(force = false) is invalid and deletes nothing",
            expect_error(refused, "invalid").and(kept),
        );

        if options.delete_all {
            let emptied = self
                .call(false, Request::DeleteAll { force: true })
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
                let _ = self.call(false, Request::Delete(name.to_string()));
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
            .call(false, Request::Register(biggest.clone()))
            .and_then(|_| self.get(false, biggest.name()))
            .map_err(describe)
            .and_then(|s| same(&s, &biggest));
        let _ = self.call(false, Request::Delete(biggest.name().to_string()));
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
            if let Err(err) = self.call(false, Request::Register(secret)) {
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
            let _ = self.call(false, Request::Delete(name.clone()));
        }
        self.record("150 secrets are all listed", listed);
    }

    /// Times each operation `samples` times, for p50 latencies.
    pub fn run_latency(&mut self, samples: usize) {
        for i in 0..samples {
            let secret = self.secret(
                &format!("timing{i}"),
                "basic_auth",
                vec![
                    ("username".into(), "user".into()),
                    ("password".into(), "timing-password".into()),
                ],
            );
            let _ = self.call(false, Request::Register(secret.clone()));
            let _ = self.call(false, Request::Get(secret.name().to_string()));
            let _ = self.call(false, Request::List);
            let _ = self.call(false, Request::Update(secret.clone()));
            let _ = self.call(false, Request::Delete(secret.name().to_string()));
        }
    }

    /// p50 of each operation's wall time, in microseconds.
    pub fn p50_micros(&self) -> BTreeMap<&'static str, u64> {
        let mut by_op: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
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
    format!("{} ({})", err, err.kind())
}

fn expect_done(outcome: Outcome) -> Result<(), String> {
    outcome.map(drop).map_err(describe)
}

fn expect_error(outcome: Outcome, kind: &str) -> Result<(), String> {
    match outcome {
        Err(err) if err.kind() == kind => Ok(()),
        Err(err) => Err(format!("expected {kind}, got {}", describe(err))),
        Ok(_) => Err(format!("expected {kind}, but it succeeded")),
    }
}

/// Compares a returned secret with the expected one, naming keys, never
/// values.
fn same(got: &Secret, expected: &Secret) -> Result<(), String> {
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
