//! The summary printed after a `cargo bench` run: the median of each
//! flavorbox path next to its baseline's and their ratio, read from
//! criterion's results of this run, also written to
//! `<target>/criterion/flavorbox-summary.txt`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flavorbox_tests::bench::human;

/// Where criterion writes its results: as criterion decides, except that the
/// target dir comes from the build (`CARGO_TARGET_TMPDIR` is `<target>/tmp`)
/// instead of asking `cargo metadata`.
pub(crate) fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|target| target.join("criterion"))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The median (ns) of `group/function`, if it was measured in this run.
pub(crate) fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    let fresh = std::fs::metadata(&path).ok()?.modified().ok()? >= since;
    if !fresh {
        return None;
    }
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

pub(crate) struct Pair {
    what: &'static str,
    group: &'static str,
    /// The slower path (flavorbox, or the cold start).
    subject: &'static str,
    baseline: &'static str,
}

pub(crate) const PAIRS: &[Pair] = &[
    Pair {
        what: "get-secret (Home, local, 2 keys) vs HashMap+serde_json+base64",
        group: "get-secret",
        subject: "flavorbox-home",
        baseline: "native-hashmap-json",
    },
    Pair {
        what: "  breakdown: one sandbox get call (no Home::bind) vs native",
        group: "get-secret",
        subject: "flavorbox-sandbox-call",
        baseline: "native-hashmap-json",
    },
    Pair {
        what: "register+delete (Home) vs rusqlite (WAL, sync=FULL)",
        group: "register-delete",
        subject: "flavorbox-home",
        baseline: "native-rusqlite",
    },
    Pair {
        what: "  breakdown: two sandbox calls (no Home::bind) vs rusqlite",
        group: "register-delete",
        subject: "flavorbox-sandbox-call",
        baseline: "native-rusqlite",
    },
    Pair {
        what: "get-secret (aws flavor, moto on loopback) vs one HTTP round trip",
        group: "aws-get",
        subject: "flavorbox-home",
        baseline: "native-http",
    },
    Pair {
        what: "get-secret (Home, Python flavor examples/pykv) vs native",
        group: "python-get",
        subject: "flavorbox-python",
        baseline: "native-hashmap-json",
    },
    Pair {
        what: "  the same vs the Rust `local` flavor (Home)",
        group: "python-get",
        subject: "flavorbox-python",
        baseline: "flavorbox-local",
    },
    Pair {
        what: "raw sandbox call (info, no storage) vs native info()",
        group: "raw-call",
        subject: "flavorbox-info",
        baseline: "native-info",
    },
    Pair {
        what: "masking 1 MiB of output against 1,000 values vs a plain copy",
        group: "masking",
        subject: "flavorbox-mask",
        baseline: "native-copy",
    },
    Pair {
        what: "cold start (new + compile) vs warm (new + cache)",
        group: "load",
        subject: "compile",
        baseline: "warm-cache",
    },
    Pair {
        what: "  breakdown: compile vs cache read only (same engine)",
        group: "load",
        subject: "compile",
        baseline: "cache-read-only",
    },
];

/// Context rows: a label, a criterion group and benchmark; a median with no
/// baseline of its own.
pub(crate) const SINGLES: &[(&str, &str, &str)] = &[
    (
        "Home::manager(None) (active manager lookup, in every Home op)",
        "get-secret",
        "manager-lookup",
    ),
    (
        "cache read only (checksum + deserialize)",
        "load",
        "cache-read-only",
    ),
    (
        "Sandbox::new only (engine, linker, runtime)",
        "load",
        "sandbox-new-only",
    ),
];

pub(crate) fn summary(since: SystemTime, notes: &[String]) -> String {
    let dir = criterion_dir();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flavorbox benchmark summary (medians; ratio = subject / baseline)\n"
    );
    let _ = writeln!(
        out,
        "{:<66} {:>12} {:>12} {:>9}",
        "comparison", "subject", "baseline", "ratio"
    );
    for pair in PAIRS {
        let subject = median_ns(&dir, pair.group, pair.subject, since);
        let baseline = median_ns(&dir, pair.group, pair.baseline, since);
        let (Some(subject), Some(baseline)) = (subject, baseline) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{:<66} {:>12} {:>12} {:>8.1}x",
            pair.what,
            human(subject),
            human(baseline),
            subject / baseline,
        );
    }
    for (what, group, function) in SINGLES {
        let Some(ns) = median_ns(&dir, group, function, since) else {
            continue;
        };
        let _ = writeln!(out, "{:<66} {:>12}", what, human(ns));
    }
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
    let path = dir.join("flavorbox-summary.txt");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &out)) {
        Ok(()) => {
            let _ = writeln!(out, "(written to {})", path.display());
        }
        Err(err) => {
            let _ = writeln!(out, "(cannot write {}: {err})", path.display());
        }
    }
    out
}
