//! `flavorbox evaluate` on every guest: honest flavors pass, each hostile one
//! fails with its named finding, and the evaluation never touches the
//! user's home.

use std::path::Path;
use std::time::{Duration, Instant};

use flavorbox::conformance::Status;
use flavorbox::contract::Operation;
use flavorbox::evaluate::{EvaluateOptions, Evaluation, evaluate};
use flavorbox::registry::RegisterOptions;
use flavorbox_tests::{guest, run_cli};

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

/// Evaluates the guest `name` with `options`, checking it ends within
/// its budget (plus the time to set up and compile `local`).
fn judge_with(name: &str, options: &EvaluateOptions) -> Evaluation {
    let started = Instant::now();
    let evaluation = evaluate(&guest(name), options).expect("evaluation runs");
    assert!(
        started.elapsed() < options.budget + Duration::from_secs(5),
        "{name}: took {:?} of a {:?} budget",
        started.elapsed(),
        options.budget
    );
    evaluation
}

fn judge(name: &str) -> Evaluation {
    judge_with(name, &options())
}

#[track_caller]
fn fails_with(name: &str, kind: &str) -> Evaluation {
    fails_with_options(name, kind, &options())
}

#[track_caller]
fn fails_with_options(name: &str, kind: &str, options: &EvaluateOptions) -> Evaluation {
    let evaluation = judge_with(name, options);
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
    let run = run_cli(
        Some(home.path()),
        &[
            "evaluate",
            guest("local").to_str().unwrap(),
            "--samples",
            "5",
        ],
        None,
    );
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
    for name in ["local", "kv_json"] {
        let evaluation = judge(name);
        assert!(evaluation.passed, "{name}: {evaluation:#?}");
        assert!(evaluation.checks.len() >= 15);
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
    let run = run_cli(
        Some(home.path()),
        &[
            "evaluate",
            guest("hostile_garbage").to_str().unwrap(),
            "--samples",
            "1",
            "--output",
            "json",
        ],
        None,
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
    let run = run_cli(
        Some(home.path()),
        &[
            "evaluate",
            guest("local").to_str().unwrap(),
            "--budget",
            "0",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn hostile_flavors_fail_with_their_named_finding() {
    fails_with("hostile_loop", "deadline");
    fails_with("hostile_call_storm", "deadline");
    fails_with("hostile_sleep", "deadline");
    fails_with("hostile_memory", "memory");
    fails_with("hostile_recursion", "trap");
    fails_with("hostile_storage_flood", "quota");
    fails_with("hostile_namespace_escape", "denied");
    fails_with("hostile_log_flood", "log-flood");
    fails_with("hostile_log_secret", "secret-in-output");
    fails_with("hostile_panic", "trap");
    fails_with("hostile_garbage", "garbage");
    let probe = fails_with("hostile_wasi_probe", "denied");
    assert!(
        probe
            .findings
            .iter()
            .any(|f| f.detail.contains("raw TCP socket")),
        "{:#?}",
        probe.findings
    );
}

/// `flavorbox evaluate` of the guest `name` with `flags` and a 20 s budget,
/// through the CLI: the run, and its JSON report.
fn evaluate_cli(name: &str, flags: &[&str]) -> (flavorbox_tests::Run, serde_json::Value) {
    let home = tempfile::tempdir().unwrap();
    let wasm = guest(name);
    let mut args = vec![
        "evaluate",
        wasm.to_str().unwrap(),
        "--timeout",
        "0.3",
        "--samples",
        "2",
        "--budget",
        "20",
        "--output",
        "json",
    ];
    args.extend_from_slice(flags);
    if !flags.contains(&"--memory") {
        args.extend(["--memory", "32"]);
    }
    let run = run_cli(Some(home.path()), &args, None);
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

/// Asserts the CLI's evaluation of `name` fails with a `kind` finding,
/// named on the verdict line too.
#[track_caller]
fn cli_fails_with(name: &str, kind: &str, flags: &[&str]) -> serde_json::Value {
    let (run, report) = evaluate_cli(name, flags);
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
    cli_fails_with("hostile_log_empty", "log-flood", &[]);
    cli_fails_with("hostile_mask_bomb", "log-flood", &[]);
    let hoard = cli_fails_with("hostile_http_hoard", "denied", &[]);
    assert!(
        hoard["used"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "http"),
        "{hoard:#}"
    );
    cli_fails_with("hostile_huge_answer", "limit", &[]);
    cli_fails_with("hostile_lock_holder", "deadline", &[]);
    cli_fails_with("hostile_big_memory", "memory", &["--memory", "16"]);
    // Their breach is of the contract (what they leak or forge is masked or
    // escaped): the checks say so.
    for name in ["hostile_spoof", "hostile_swallow", "hostile_secret_error"] {
        let (_, report) = evaluate_cli(name, &[]);
        assert!(
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["status"] == "fail"),
            "{name}: {report:#}"
        );
    }
    for (name, needle, flags) in [
        (
            "hostile_shouts_local",
            "must start with a lowercase letter",
            &[][..],
        ),
        ("hostile_big_table", "instance limits", &[]),
        ("hostile_big_info", "more than the", &[]),
        ("hostile_info_hoard", "capability `http`", &[]),
        (
            "hostile_compile_bomb",
            "took longer than 1 s",
            &["--compile-timeout", "1"],
        ),
    ] {
        let report = cli_fails_with(name, "refused", flags);
        let detail = report["findings"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{name}: {detail}");
    }
}

#[test]
fn an_operation_past_its_deadline_is_not_run_again() {
    let evaluation = fails_with("hostile_sleep", "deadline");
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
    let run = run_cli(
        Some(home.path()),
        &[
            "evaluate",
            guest("hostile_slow").to_str().unwrap(),
            "--timeout",
            "0.5",
            "--budget",
            "6",
            "--slow",
            "0.3",
            "--samples",
            "20",
        ],
        None,
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
    assert!(run.stderr.contains("evaluate: check pass"), "{run:#?}");
    let last = run.stderr.lines().last().unwrap();
    assert!(last.starts_with("flavorbox: verdict: FAIL"), "{last}");
    assert!(last.contains("budget"), "{last}");
}

#[test]
fn components_the_host_cannot_run_are_refused_by_name() {
    for (name, needle) in [
        ("hostile_unknown_import", "evil:escape/backdoor"),
        ("hostile_claims_local", "claims the name `local`"),
        ("not_a_flavor", "not a flavor"),
    ] {
        let evaluation = fails_with(name, "refused");
        assert!(
            evaluation.findings[0].detail.contains(needle),
            "{name}: {evaluation:#?}"
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
