//! `flavorbox evaluate` on every guest: honest flavors pass, each hostile one
//! fails with its named finding, and the evaluation never touches the
//! user's home.

use std::path::Path;
use std::time::{Duration, Instant};

use flavorbox::conformance::Status;
use flavorbox::contract::Operation;
use flavorbox::evaluate::{EvaluateOptions, Evaluation, evaluate};
use flavorbox::registry::RegisterOptions;
use flavorbox_tests::conformance::{MIN_CHECKS, check_statuses};
use flavorbox_tests::{Guest, Run, guests, run_cli};

/// The budget of each evaluation here.
const BUDGET: Duration = Duration::from_secs(20);

/// Short deadlines and few latency samples, so hostile flavors that burn
/// their deadline on every call stay quick to judge.
fn options() -> EvaluateOptions {
    EvaluateOptions {
        register: RegisterOptions {
            timeout_secs: Some(0.3),
            storage_quota_mib: Some(1),
            memory_mib: Some(32),
            compile_timeout_secs: Some(10.0),
            ..Default::default()
        },
        latency_samples: 2,
        budget: BUDGET,
        ..Default::default()
    }
}

/// Evaluates `guest` with [`options`], checking it ends within its budget
/// (plus the time to set up and compile `local`).
fn judge(guest: Guest) -> Evaluation {
    let name = guest.name();
    let options = options();
    let started = Instant::now();
    let evaluation = evaluate(&guest.path(), &options).expect("evaluation runs");
    assert!(
        started.elapsed() < options.budget + Duration::from_secs(5),
        "{name}: took {:?} of a {:?} budget",
        started.elapsed(),
        options.budget
    );
    evaluation
}

#[track_caller]
fn fails_with(guest: Guest, kind: &str) -> Evaluation {
    let name = guest.name();
    let evaluation = judge(guest);
    assert!(!evaluation.passed, "{name} passed: {evaluation:#?}");
    assert!(
        evaluation.findings.iter().any(|f| f.kind == kind),
        "{name}: expected a `{kind}` finding, got {:#?}",
        evaluation.findings
    );
    evaluation
}

#[test]
fn the_local_flavor_passes_through_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let run = run_evaluate(home.path(), guests::LOCAL, &["--samples", "5"]);
    let out = run.ok();
    assert!(out.contains("verdict: PASS"), "{out}");
    assert!(out.contains("p50 latency per operation:"), "{out}");
    assert!(out.contains("get-secret"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    // The user's home was never created.
    assert!(std::fs::read_dir(home.path()).unwrap().next().is_none());
}

#[test]
fn honest_flavors_pass_every_check() {
    for guest in [guests::LOCAL, guests::KV_JSON] {
        let name = guest.name();
        let evaluation = judge(guest);
        assert!(evaluation.passed, "{name}: {evaluation:#?}");
        assert!(
            evaluation.checks.len() >= MIN_CHECKS,
            "{name}: {evaluation:#?}"
        );
        assert!(evaluation.findings.is_empty());
        assert!(
            evaluation
                .used
                .contains(&flavorbox::policy::Capability::Storage)
        );
        assert!(evaluation.peak_memory_bytes > 0);
        for op in [
            Operation::RegisterSecret,
            Operation::GetSecret,
            Operation::GetAllSecretKeys,
            Operation::UpdateSecret,
            Operation::DeleteSecret,
        ] {
            assert!(
                evaluation.p50_micros.contains_key(&op),
                "{name}: no p50 for {op}"
            );
        }
    }
}

#[test]
fn the_json_report_is_machine_readable_and_the_exit_code_follows_the_verdict() {
    let home = tempfile::tempdir().unwrap();
    let run = run_evaluate(
        home.path(),
        guests::HOSTILE_GARBAGE,
        &["--samples", "1", "--output", "json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["flavor"]["name"], "hostile_garbage");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "garbage")
    );
    assert!(run.stderr.contains("flavorbox: verdict: FAIL"), "{run:?}");
    // Bad usage is not a verdict.
    let run = run_evaluate(home.path(), guests::LOCAL, &["--budget", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn hostile_flavors_fail_with_their_named_finding() {
    fails_with(guests::HOSTILE_LOOP, "deadline");
    fails_with(guests::HOSTILE_CALL_STORM, "deadline");
    fails_with(guests::HOSTILE_SLEEP, "deadline");
    fails_with(guests::HOSTILE_MEMORY, "memory");
    fails_with(guests::HOSTILE_RECURSION, "trap");
    fails_with(guests::HOSTILE_STORAGE_FLOOD, "quota");
    fails_with(guests::HOSTILE_NAMESPACE_ESCAPE, "denied");
    fails_with(guests::HOSTILE_LOG_FLOOD, "log-flood");
    fails_with(guests::HOSTILE_LOG_SECRET, "secret-in-output");
    fails_with(guests::HOSTILE_PANIC, "trap");
    fails_with(guests::HOSTILE_GARBAGE, "garbage");
    let probe = fails_with(guests::HOSTILE_WASI_PROBE, "denied");
    assert!(
        probe
            .findings
            .iter()
            .any(|f| f.detail.contains("raw TCP socket")),
        "{:#?}",
        probe.findings
    );
}

/// `flavorbox --home HOME evaluate GUEST FLAGS`.
fn run_evaluate(home: &Path, guest: Guest, flags: &[&str]) -> Run {
    let wasm = guest.arg();
    let mut args = vec!["evaluate", wasm.as_str()];
    args.extend_from_slice(flags);
    run_cli(Some(home), &args, None)
}

/// `flavorbox evaluate` of `guest` with `flags` and a 20 s budget (a 0.3 s
/// deadline and 32 MiB of memory unless `flags` say otherwise), through the
/// CLI: the run, and its JSON report.
fn evaluate_cli(guest: Guest, flags: &[&str]) -> (Run, serde_json::Value) {
    let name = guest.name();
    let home = tempfile::tempdir().unwrap();
    let mut args = vec!["--samples", "2", "--budget", "20", "--output", "json"];
    args.extend_from_slice(flags);
    for (flag, default) in [("--timeout", "0.3"), ("--memory", "32")] {
        if !flags.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    let run = run_evaluate(home.path(), guest, &args);
    assert_eq!(run.code, 1, "{name}: {run:#?}");
    // Within the budget, with time to start and compile `local`.
    assert!(
        run.elapsed < BUDGET + Duration::from_secs(5),
        "{name}: {run:#?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("flavorbox: verdict: FAIL"),
        "{name}: {run:#?}"
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["passed"], false, "{name}");
    (run, report)
}

/// Asserts the CLI's evaluation of `guest` fails with a `kind` finding,
/// named on the verdict line too.
#[track_caller]
fn cli_fails_with(guest: Guest, kind: &str, flags: &[&str]) -> serde_json::Value {
    let name = guest.name();
    let (run, report) = evaluate_cli(guest, flags);
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] == kind),
        "{name}: expected a `{kind}` finding, got {findings:#?}"
    );
    let last = run.stderr.lines().last().unwrap();
    assert!(last.contains(kind), "{name}: {last}");
    report
}

#[test]
fn the_hardening_guests_fail_with_their_named_finding() {
    cli_fails_with(guests::HOSTILE_LOG_EMPTY, "log-flood", &[]);
    cli_fails_with(guests::HOSTILE_MASK_BOMB, "log-flood", &[]);
    let hoard = cli_fails_with(guests::HOSTILE_HTTP_HOARD, "denied", &[]);
    assert!(
        hoard["used"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "http"),
        "{hoard:#}"
    );
    // Its answers are refused at the cap, not at the deadline: 300 ms is
    // too short to produce 500,000 names on a loaded two-core machine.
    cli_fails_with(guests::HOSTILE_HUGE_ANSWER, "limit", &["--timeout", "5"]);
    cli_fails_with(guests::HOSTILE_LOCK_HOLDER, "deadline", &[]);
    cli_fails_with(guests::HOSTILE_BIG_MEMORY, "memory", &["--memory", "16"]);
    // Their breach is of the contract (what they leak or forge is masked or
    // escaped): the checks say so.
    for guest in [
        guests::HOSTILE_SPOOF,
        guests::HOSTILE_SWALLOW,
        guests::HOSTILE_SECRET_ERROR,
    ] {
        let (_, report) = evaluate_cli(guest, &[]);
        assert!(
            check_statuses(&report).contains(&"fail"),
            "{}: {report:#}",
            guest.name()
        );
    }
    for (guest, needle, flags) in [
        (
            guests::HOSTILE_SHOUTS_LOCAL,
            "must start with a lowercase letter",
            &[][..],
        ),
        (guests::HOSTILE_BIG_TABLE, "instance limits", &[]),
        (guests::HOSTILE_BIG_INFO, "more than the", &[]),
        (guests::HOSTILE_INFO_HOARD, "capability `http`", &[]),
        (
            guests::HOSTILE_COMPILE_BOMB,
            "took longer than 1 s",
            &["--compile-timeout", "1", "--compile-memory", "4096"],
        ),
    ] {
        let report = cli_fails_with(guest, "refused", flags);
        let detail = report["findings"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{}: {detail}", guest.name());
    }
}

#[test]
fn an_operation_past_its_deadline_is_not_run_again() {
    let evaluation = fails_with(guests::HOSTILE_SLEEP, "deadline");
    let skipped: Vec<_> = evaluation
        .checks
        .iter()
        .filter(|c| c.status == Status::Skip)
        .collect();
    assert!(
        skipped.iter().any(|c| c
            .detail
            .contains("get-secret ran past its deadline in an earlier check")),
        "{:#?}",
        evaluation.checks
    );
    assert!(
        !evaluation
            .checks
            .iter()
            .any(|c| c.passed() && c.name.contains("get-secret returns")),
        "{:#?}",
        evaluation.checks
    );
}

#[test]
fn evaluate_ends_within_its_budget_and_reports_what_it_did_not_run() {
    let home = tempfile::tempdir().unwrap();
    let run = run_evaluate(
        home.path(),
        guests::HOSTILE_SLOW,
        &[
            "--timeout",
            "0.5",
            "--budget",
            "6",
            "--slow",
            "0.3",
            "--samples",
            "20",
        ],
    );
    assert_eq!(run.code, 1, "{run:#?}");
    // Hundreds of 400 ms calls would take minutes.
    assert!(run.elapsed < Duration::from_secs(6 + 5), "{run:#?}");
    assert!(run.stdout.contains("verdict: FAIL"), "{run:#?}");
    assert!(
        run.stdout
            .contains("budget: the evaluation's 6 s budget ran out"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("slow: "), "{run:#?}");
    assert!(run.stdout.contains("skip  "), "{run:#?}");
    // stderr is a pipe: no progress line, the verdict last.
    assert!(!run.stderr.contains("evaluate: "), "{run:#?}");
    let last = run.stderr.lines().last().unwrap();
    assert!(last.starts_with("flavorbox: verdict: FAIL"), "{last}");
    assert!(last.contains("budget"), "{last}");
}

#[test]
fn components_the_host_cannot_run_are_refused_by_name() {
    for (guest, needle) in [
        (guests::HOSTILE_UNKNOWN_IMPORT, "evil:escape/backdoor"),
        (guests::HOSTILE_CLAIMS_LOCAL, "claims the name `local`"),
        (guests::NOT_A_FLAVOR, "not a flavor"),
    ] {
        let evaluation = fails_with(guest, "refused");
        assert!(
            evaluation.findings[0].detail.contains(needle),
            "{}: {evaluation:#?}",
            guest.name()
        );
        assert!(evaluation.checks.is_empty());
    }
    // A file that is not there is a usage error, not a verdict.
    let missing = evaluate(Path::new("/no/such.wasm"), &EvaluateOptions::default()).unwrap_err();
    assert_eq!(missing.exit_code(), 2, "{missing}");
    assert!(missing.to_string().contains("cannot read"), "{missing}");
    let run = run_cli(None, &["evaluate", "/no/such.wasm"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("flavorbox: invalid: cannot read /no/such.wasm")
    );
}
