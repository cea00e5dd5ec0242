//! One verdict for "this flavor conforms", used by every suite that runs
//! the shared conformance suite (`local` on SQLite and on PostgreSQL,
//! `kv_json`, `aws` on moto, `vault` on OpenBao, the GCP flavor on its
//! fake) and by every suite that has a flavor evaluated through the CLI.
//!
//! What it guards against: suites pasting the same assertions with drifting
//! thresholds, and a run that made only a few checks (a suite cut short)
//! counting as a pass.

use std::path::Path;

use flavorbox::Home;
use flavorbox::conformance::{Suite, SuiteOptions};
use serde_json::Value;

use crate::cli::run_cli;

/// The checks a full run of the conformance suite with `delete-all` and
/// the probes makes at the least; fewer means it was cut short.
pub const MIN_CHECKS: usize = 16;

/// Runs the conformance suite with `delete-all` and the probes on managers
/// `a` and `b` of `home`, and asserts that it ran in full, that every check
/// passed (a skipped check is not a pass) and that no call broke the
/// sandbox. Returns the suite, for checks particular to one flavor.
#[track_caller]
pub fn assert_conforms<'h>(home: &'h Home, a: &str, b: &str) -> Suite<'h> {
    let mut suite = Suite::new(home, a, b).expect("set up the conformance suite");
    suite.run(SuiteOptions { delete_all: true });
    suite.run_probes();
    let not_passed: Vec<_> = suite.checks.iter().filter(|c| !c.passed()).collect();
    assert!(
        not_passed.is_empty(),
        "conformance checks that did not pass: {not_passed:#?}"
    );
    assert!(
        suite.checks.len() >= MIN_CHECKS,
        "only {} conformance checks ran, fewer than {MIN_CHECKS}: {:#?}",
        suite.checks.len(),
        suite.checks
    );
    for observation in &suite.observations {
        assert!(observation.report.violation.is_none(), "{observation:#?}");
    }
    suite
}

/// The `status` of every check in an `evaluate --output json` report.
pub fn check_statuses(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .expect("the report lists its checks")
        .iter()
        .map(|check| check["status"].as_str().unwrap_or("(none)"))
        .collect()
}

/// Asserts an `evaluate --output json` report passed, every check with it.
#[track_caller]
pub fn assert_evaluation_passed(report: &Value) {
    assert_eq!(report["passed"], true, "{report:#}");
    let statuses = check_statuses(report);
    assert!(
        statuses.len() >= MIN_CHECKS && statuses.iter().all(|s| *s == "pass"),
        "{report:#}"
    );
}

/// Runs `flavorbox evaluate WASM --output json` (no home) with `config` as
/// `--config KEY=VALUE` and `flags` (`--allow-host`, `--samples`), and
/// asserts the evaluation passed, every check with it.
#[track_caller]
pub fn assert_evaluate_passes(wasm: &Path, config: &[(&str, &str)], flags: &[&str]) {
    let wasm = wasm.to_str().expect("a UTF-8 path");
    let pairs: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["evaluate", wasm, "--output", "json"];
    for pair in &pairs {
        args.extend(["--config", pair.as_str()]);
    }
    args.extend_from_slice(flags);
    assert_evaluation_passed(&run_cli(None, &args, None).json());
}
