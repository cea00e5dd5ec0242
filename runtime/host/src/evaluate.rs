//! `flavorbox evaluate`: judge an untrusted flavor before trusting it.
//!
//! The component is loaded into a throwaway home (a temporary directory,
//! never the user's), registered with only what it declares (plus what the
//! operator passes), and run through the conformance suite, the limit
//! probes and a latency sample. Everything the sandbox observed is reported:
//! breaches (every cap reached among them), truncated or secret-bearing
//! output, slow operations, capabilities used versus declared, peak memory
//! and p50 latencies. The verdict passes only when every check passes and
//! nothing was observed.
//!
//! Guards against a flavor that makes judging it endless: the whole
//! evaluation, its compile included, ends within a budget (60 s by
//! default); an operation that ran past its deadline is not run again, so a
//! flavor sleeping just under its deadline costs each operation once, not
//! each of hundreds of calls; what was not run is reported as skipped, and
//! a budget that ran out is a finding.
//!
//! [`record`] keeps a report in a home when the operator asks (`evaluate
//! --record`), bounded ([`MAX_RECORDED_BYTES`]), for the web console to
//! show beside the flavor registered with the same digest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::conformance::{Check, Suite, SuiteOptions};
use crate::contract::{FlavorDescription, Operation};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::policy::Capability;
use crate::registry::{LOCAL, LOCAL_DIGEST, RegisterOptions};
use crate::sandbox::SandboxConfig;
use crate::sandbox::cache::digest;

/// What the operator passes to an evaluation.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Config for the two managers under test.
    pub config: BTreeMap<String, String>,
    /// Grants beyond the declared ones, and limits.
    pub register: RegisterOptions,
    /// Calls timed per operation.
    pub latency_samples: usize,
    /// The whole evaluation ends within this.
    pub budget: Duration,
    /// An operation whose p50 is slower than this is a finding.
    pub slow: Duration,
    /// How the throwaway home's sandbox is set up (its compile cache
    /// defaults to the throwaway home, so nothing is kept).
    pub sandbox: SandboxConfig,
}

/// The default budget of a whole evaluation.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(60);
/// The default p50 past which an operation is slow.
pub const DEFAULT_SLOW: Duration = Duration::from_secs(1);

impl Default for EvaluateOptions {
    fn default() -> Self {
        EvaluateOptions {
            config: BTreeMap::new(),
            register: RegisterOptions::default(),
            latency_samples: 20,
            budget: DEFAULT_BUDGET,
            slow: DEFAULT_SLOW,
            sandbox: SandboxConfig::default(),
        }
    }
}

/// Something the sandbox saw the flavor do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// `deadline`, `memory`, `trap`, `quota`, `denied`, `garbage`, `limit`,
    /// `log-flood`, `secret-in-output`, `undeclared-capability`, `slow`,
    /// `budget`, `conflict` or `refused`.
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub path: String,
    /// `sha256:<hex>` of the component, as `flavor list` shows it.
    pub digest: String,
    /// The component's size, in bytes.
    pub size_bytes: u64,
    /// The contract the component was built against (the package of its
    /// [`crate::contract::ContractVersion`]): known once it loaded as a
    /// flavor, `None` when it was refused before.
    pub contract: Option<&'static str>,
    pub flavor: Option<FlavorDescription>,
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
    /// p50 wall time per operation, in microseconds.
    pub p50_micros: BTreeMap<Operation, u64>,
    pub peak_memory_bytes: usize,
    pub declared: BTreeSet<Capability>,
    pub used: BTreeSet<Capability>,
    pub passed: bool,
}

impl Evaluation {
    fn refused(path: &Path, wasm: &[u8], err: Error) -> Evaluation {
        Evaluation {
            path: path.display().to_string(),
            digest: digest(wasm),
            size_bytes: wasm.len() as u64,
            contract: None,
            flavor: None,
            checks: Vec::new(),
            findings: vec![Finding {
                kind: "refused".to_string(),
                detail: err.to_string(),
            }],
            p50_micros: BTreeMap::new(),
            peak_memory_bytes: 0,
            declared: BTreeSet::new(),
            used: BTreeSet::new(),
            passed: false,
        }
    }
}

/// Registers the component in the throwaway home with what it declares
/// (HTTP only to the origins the operator passed), its compile bounded by
/// what is left of the budget too. The built-in `local` component is
/// recognised by its digest and evaluated as the built-in.
fn register(
    home: &Home,
    path: &Path,
    wasm: &[u8],
    options: &EvaluateOptions,
    deadline: Instant,
) -> Result<FlavorDescription> {
    if digest(wasm) == LOCAL_DIGEST {
        return Ok(home.flavors().get(LOCAL)?.description);
    }
    let mut register = options.register.clone();
    let mut limits = register.policy()?.limits.compile();
    let left = deadline.saturating_duration_since(Instant::now());
    if left < limits.timeout {
        limits.timeout = left;
        register.compile_timeout_secs = Some(left.as_secs_f64().max(0.001));
    }
    let declared = home.flavors().inspect(path, limits)?;
    register.grants.extend(
        declared
            .capabilities
            .iter()
            .filter(|c| **c != Capability::Http),
    );
    Ok(home.flavors().register(path, &register)?.entry.description)
}

const MANAGER_A: &str = "evaluate-a";
const MANAGER_B: &str = "evaluate-b";

/// Evaluates the component at `path`. Problems of the flavor are part of
/// the returned evaluation; `Err` means bad input (a file that cannot be
/// read, options out of range) or a failure of the host itself.
pub fn evaluate(path: &Path, options: &EvaluateOptions) -> Result<Evaluation> {
    evaluate_with_progress(path, options, &mut |_| {})
}

/// [`evaluate`], telling `progress` what it does as it goes.
pub fn evaluate_with_progress(
    path: &Path,
    options: &EvaluateOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Evaluation> {
    let started = Instant::now();
    let deadline = started + options.budget;
    options.register.policy()?;
    let wasm = std::fs::read(path)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    // Private from the start, as a home must be (else opening it warns).
    #[cfg(unix)]
    let private = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o700)
    };
    let dir = tempfile::Builder::new()
        .prefix("flavorbox-evaluate-")
        .permissions(private)
        .tempdir()
        .map_err(|e| Error::host(format!("cannot create a throwaway home: {e}")))?;
    let home = Home::builder(dir.path())
        .sandbox(options.sandbox.clone())
        .open()?;

    progress(&format!(
        "compiling and registering {} (budget {} s)",
        path.display(),
        options.budget.as_secs_f64()
    ));
    let flavor = match register(&home, path, &wasm, options, deadline) {
        Ok(flavor) => flavor,
        Err(err) => return Ok(Evaluation::refused(path, &wasm, err)),
    };

    // Two managers; where the flavor takes a namespace, each gets its own, so
    // a shared backend keeps them (and real data) apart.
    let takes_namespace = flavor.config.iter().any(|f| f.name == "namespace");
    for (manager, suffix) in [(MANAGER_A, "a"), (MANAGER_B, "b")] {
        let mut config = options.config.clone();
        if takes_namespace && !config.contains_key("namespace") {
            config.insert(
                "namespace".to_string(),
                format!("flavorbox-evaluate-{suffix}"),
            );
        } else if let Some(ns) = config.get_mut("namespace") {
            ns.push('-');
            ns.push_str(suffix);
        }
        if let Err(err) = home
            .managers()
            .register(manager, &flavor.name, config, false)
        {
            return Ok(Evaluation::refused(path, &wasm, err));
        }
    }

    let mut suite = match Suite::new(&home, MANAGER_A, MANAGER_B) {
        Ok(suite) => suite,
        Err(err) => return Ok(Evaluation::refused(path, &wasm, err)),
    };
    suite.set_budget(deadline);
    suite.set_progress(|line| progress(&format!("check {line}")));
    // Only a backend this home owns (or a namespaced one) may be emptied.
    let delete_all = !flavor.capabilities.contains(&Capability::Http) || takes_namespace;
    suite.run(SuiteOptions { delete_all });
    suite.run_probes();
    suite.run_latency(options.latency_samples);

    let mut findings = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut peak = 0;
    for observation in &suite.observations {
        let report = &observation.report;
        peak = peak.max(report.peak_memory);
        used.extend(report.used.iter().copied());
        if let Some((kind, detail)) = &observation.breach {
            findings.insert(Finding {
                kind: kind.to_string(),
                detail: format!("{}: {detail}", observation.operation),
            });
        }
        if report.log_truncated {
            findings.insert(Finding {
                kind: "log-flood".to_string(),
                detail: format!(
                    "{}: output went past the per-call cap",
                    observation.operation
                ),
            });
        }
        if report.masked_lines > 0 {
            findings.insert(Finding {
                kind: "secret-in-output".to_string(),
                detail: format!(
                    "{}: the flavor wrote secret values to its output (masked)",
                    observation.operation
                ),
            });
        }
    }
    let p50_micros = suite.p50_micros();
    for (operation, micros) in &p50_micros {
        if Duration::from_micros(*micros) > options.slow {
            findings.insert(Finding {
                kind: "slow".to_string(),
                detail: format!(
                    "{operation}: p50 {} ms, slower than {} ms",
                    micros / 1000,
                    options.slow.as_millis()
                ),
            });
        }
    }
    if suite.budget_ran_out {
        findings.insert(Finding {
            kind: "budget".to_string(),
            detail: format!(
                "the evaluation's {} s budget ran out; the checks not run are skipped",
                options.budget.as_secs_f64()
            ),
        });
    }
    for capability in &used {
        if !capability.always_granted() && !flavor.capabilities.contains(capability) {
            findings.insert(Finding {
                kind: "undeclared-capability".to_string(),
                detail: format!("the flavor used `{capability}` without declaring it"),
            });
        }
    }
    // A skipped check is neither a pass nor a failure: it is reported as
    // skipped, with why.
    let passed = findings.is_empty() && !suite.checks.iter().any(Check::failed);
    Ok(Evaluation {
        path: path.display().to_string(),
        digest: digest(&wasm),
        size_bytes: wasm.len() as u64,
        contract: Some(flavor.contract.package()),
        declared: flavor.capabilities.clone(),
        flavor: Some(flavor),
        checks: std::mem::take(&mut suite.checks),
        findings: findings.into_iter().collect(),
        p50_micros,
        peak_memory_bytes: peak,
        used,
        passed,
    })
}

/// The most a recorded report takes in the store: findings past it are
/// left out (counted under `findings_left_out`), so a flavor that makes
/// thousands of findings cannot make its report fill the store.
pub const MAX_RECORDED_BYTES: usize = 256 * 1024;

/// Where the report for a component digest is kept in the store's
/// metadata.
fn recorded_key(digest: &str) -> String {
    format!("evaluation:{digest}")
}

/// Keeps `evaluation` in `home` as the last report for its component (by
/// digest), replacing the one before; what the console shows for the
/// flavor registered with that digest. At most [`MAX_RECORDED_BYTES`].
pub fn record(home: &Home, evaluation: &Evaluation) -> Result<()> {
    let mut report = serde_json::to_value(evaluation).map_err(Error::host)?;
    let mut kept = evaluation.findings.len();
    let mut encoded = serde_json::to_vec(&report).map_err(Error::host)?;
    while encoded.len() > MAX_RECORDED_BYTES && kept > 0 {
        kept /= 2;
        report["findings"] =
            serde_json::to_value(&evaluation.findings[..kept]).map_err(Error::host)?;
        report["findings_left_out"] = (evaluation.findings.len() - kept).into();
        encoded = serde_json::to_vec(&report).map_err(Error::host)?;
    }
    if encoded.len() > MAX_RECORDED_BYTES {
        return Err(Error::invalid(format!(
            "the report of {} is larger than {MAX_RECORDED_BYTES} bytes even without its findings; not recorded",
            evaluation.digest
        )));
    }
    let key = recorded_key(&evaluation.digest);
    home.db().delete_meta(&key)?;
    home.db().insert_meta(&key, &encoded)?;
    Ok(())
}

/// Whether [`record`] kept a report for the component with `digest`
/// (without parsing it).
pub fn is_recorded(home: &Home, digest: &str) -> Result<bool> {
    Ok(home.db().meta(&recorded_key(digest))?.is_some())
}

/// The last report [`record`] kept for the component with `digest`, if any.
pub fn recorded(home: &Home, digest: &str) -> Result<Option<serde_json::Value>> {
    let Some(encoded) = home.db().meta(&recorded_key(digest))? else {
        return Ok(None);
    };
    serde_json::from_slice(&encoded).map(Some).map_err(|e| {
        Error::host(format!(
            "the recorded report of {digest} does not parse: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::builder(dir.path()).open().unwrap();
        (dir, home)
    }

    fn report(findings: usize, detail_bytes: usize) -> Evaluation {
        let finding = Finding {
            kind: "garbage".to_string(),
            detail: "x".repeat(detail_bytes),
        };
        let mut evaluation =
            Evaluation::refused(Path::new("f.wasm"), b"\0asm", Error::invalid("no"));
        evaluation.findings = vec![finding; findings];
        evaluation
    }

    #[test]
    fn a_report_is_kept_by_digest_and_the_next_one_replaces_it() {
        let (_dir, home) = home();
        let first = report(1, 10);
        assert_eq!(recorded(&home, &first.digest).unwrap(), None);
        assert!(!is_recorded(&home, &first.digest).unwrap());
        record(&home, &first).unwrap();
        assert!(is_recorded(&home, &first.digest).unwrap());
        let kept = recorded(&home, &first.digest).unwrap().unwrap();
        assert_eq!(kept["findings"].as_array().unwrap().len(), 1);
        record(&home, &report(3, 10)).unwrap();
        let kept = recorded(&home, &first.digest).unwrap().unwrap();
        assert_eq!(kept["findings"].as_array().unwrap().len(), 3);
        assert!(kept.get("findings_left_out").is_none());
    }

    #[test]
    fn a_flood_of_findings_is_cut_to_the_bound_and_counted() {
        let (_dir, home) = home();
        let flood = report(10_000, 2_000);
        record(&home, &flood).unwrap();
        let encoded = home
            .db()
            .meta(&recorded_key(&flood.digest))
            .unwrap()
            .unwrap();
        assert!(
            encoded.len() <= MAX_RECORDED_BYTES,
            "{} bytes",
            encoded.len()
        );
        let kept: serde_json::Value = serde_json::from_slice(&encoded).unwrap();
        let shown = kept["findings"].as_array().unwrap().len();
        assert!(shown > 0 && shown < 10_000);
        assert_eq!(kept["findings_left_out"], 10_000 - shown);
    }
}
