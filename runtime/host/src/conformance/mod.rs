//! The CRUD conformance suite: ZenML's secrets-manager semantics, checked
//! through a real flavor in the sandbox. `evaluate` runs it on untrusted
//! flavors and the tests run it on every shipped one, so "conformant" means
//! the same thing everywhere.
//!
//! The suite talks to two secrets managers on the same flavor (to check
//! they are isolated) and only touches secrets whose names carry a random
//! per-run prefix, except for `delete-all-secrets(force = true)`, which the
//! caller may skip for backends shared with real data.
//!
//! This file runs the suite: it makes each call, records what the sandbox
//! observed, and keeps an operation that ran past its deadline (or a spent
//! budget) from costing more; `checks.rs` holds the checks, `history.rs`
//! those of contract 0.2 (run on a flavor that speaks it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::contract::Operation;
use crate::error::{Error, Result, Violation};
use crate::home::Home;
use crate::managers::Manager;
use crate::sandbox::{CallReport, Export};

mod checks;
mod history;

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
