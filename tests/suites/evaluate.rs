//! `flavorbox evaluate` on every guest: honest flavors pass, each hostile one
//! fails with its named finding, and the evaluation never touches the
//! user's home.

use std::path::Path;

use flavorbox::contract::Operation;
use flavorbox::evaluate::{EvaluateOptions, Evaluation, evaluate};
use flavorbox::registry::RegisterOptions;
use flavorbox_tests::{guest, run_cli};

/// Evaluates with short deadlines and few latency samples, so hostile
/// flavors that burn their deadline on every call stay quick to judge.
fn judge(name: &str) -> Evaluation {
    let options = EvaluateOptions {
        register: RegisterOptions {
            timeout_secs: Some(0.3),
            storage_quota_mib: Some(1),
            memory_mib: Some(32),
            ..Default::default()
        },
        latency_samples: 2,
        ..Default::default()
    };
    evaluate(&guest(name), &options).expect("evaluation runs")
}

#[track_caller]
fn fails_with(name: &str, kind: &str) -> Evaluation {
    let evaluation = judge(name);
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
    let missing = evaluate(Path::new("/no/such.wasm"), &EvaluateOptions::default()).unwrap();
    assert!(!missing.passed);
    assert!(missing.findings[0].detail.contains("cannot read"));
}
