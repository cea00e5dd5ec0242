//! `flavorbox evaluate PATH.wasm`

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use flavorbox::conformance::Status;
use flavorbox::evaluate::{EvaluateOptions, Evaluation, evaluate_with_progress};
use flavorbox::policy::Capability;
use flavorbox::registry::RegisterOptions;
use flavorbox::{Error, Home, Result};

use super::output::out;
use super::transfer::ProgressLine;
use super::{OutputFormat, input};
use flavorbox::text::escape;

#[derive(Args)]
pub struct EvaluateArgs {
    /// The component (.wasm) to evaluate
    path: PathBuf,
    /// Config for the managers under test (`KEY=@FILE` reads a file);
    /// repeatable
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Grant HTTP to this origin for the evaluation; repeatable
    #[arg(long = "allow-host", value_name = "URL")]
    allow_hosts: Vec<String>,
    /// Linear memory per call, in MiB
    #[arg(long, value_name = "MiB")]
    memory: Option<u64>,
    /// Wall time per call, in seconds
    #[arg(long, value_name = "SEC")]
    timeout: Option<f64>,
    /// HTTP requests per call
    #[arg(long = "http-requests", value_name = "N")]
    http_requests: Option<u32>,
    /// Calls timed per operation for the latency figures
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// The whole evaluation ends within this many seconds
    #[arg(long, value_name = "SEC", default_value_t = 60.0)]
    budget: f64,
    /// A p50 latency past this many seconds is a finding
    #[arg(long, value_name = "SEC", default_value_t = 1.0)]
    slow: f64,
    /// Wall time to compile the component to native code, in seconds
    #[arg(long = "compile-timeout", value_name = "SEC")]
    compile_timeout: Option<f64>,
    /// Memory of the process compiling the component, in MiB
    #[arg(long = "compile-memory", value_name = "MiB")]
    compile_memory: Option<u64>,
    /// Keep this report in the home, as the last one of the component's
    /// digest (the console shows it for the flavor registered with that
    /// digest); without it, evaluate never touches the home
    #[arg(long)]
    record: bool,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Seconds given on the command line, checked.
fn seconds(what: &str, secs: f64) -> Result<std::time::Duration> {
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(Error::invalid(format!(
            "{what} must be more than 0 and at most 86400 seconds"
        )));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Runs the evaluation; the process fails unless the verdict is a pass.
/// What it does is shown as it goes on a terminal (stderr). With
/// `--record`, the report is kept in the home `home` opens, whatever the
/// verdict.
pub fn run(args: EvaluateArgs, home: impl FnOnce() -> Result<Home>) -> Result<()> {
    let budget = seconds("--budget", args.budget)?;
    let slow = seconds("--slow", args.slow)?;
    let config = input::config(&args.config)?;
    let options = EvaluateOptions {
        config,
        register: RegisterOptions {
            allow_hosts: args.allow_hosts,
            memory_mib: args.memory,
            timeout_secs: args.timeout,
            http_requests: args.http_requests,
            compile_timeout_secs: args.compile_timeout,
            compile_memory_mib: args.compile_memory,
            ..RegisterOptions::default()
        },
        latency_samples: args.samples,
        budget,
        slow,
        sandbox: super::sandbox_config(flavorbox::sandbox::Profile::Service),
    };
    // Each step as a live line on a terminal; nothing in a pipe or a log,
    // where the report below lists every check already.
    let line = ProgressLine::new("evaluate");
    let evaluation =
        evaluate_with_progress(&args.path, &options, &mut |now| line.say(&escape(now)));
    drop(line);
    let evaluation = evaluation?;
    if args.record {
        flavorbox::evaluate::record(&home()?, &evaluation)?;
    }
    match super::output::structured(args.output, &evaluation) {
        Some(printed) => printed?,
        None => print_text(&evaluation),
    }
    if evaluation.passed {
        Ok(())
    } else {
        let failed = evaluation.checks.iter().filter(|c| c.failed()).count();
        let skipped = evaluation
            .checks
            .iter()
            .filter(|c| c.status == Status::Skip)
            .count();
        let kinds: BTreeSet<&str> = evaluation
            .findings
            .iter()
            .map(|f| f.kind.as_str())
            .collect();
        Err(Error::verdict(format!(
            "{}: {failed} check(s) failed, {skipped} skipped, {} finding(s){}",
            evaluation.path,
            evaluation.findings.len(),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.into_iter().collect::<Vec<_>>().join(", "))
            }
        )))
    }
}

fn names(set: &std::collections::BTreeSet<Capability>) -> String {
    if set.is_empty() {
        "-".to_string()
    } else {
        set.iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn print_text(e: &Evaluation) {
    match &e.flavor {
        Some(f) => out!(
            "flavor {} {} ({})",
            f.name,
            escape(&f.version),
            escape(&e.path)
        ),
        None => out!("component {}", escape(&e.path)),
    }
    out!("digest:       {}", e.digest);
    out!("size:         {} bytes", e.size_bytes);
    out!(
        "contract:     {}",
        e.contract.unwrap_or("unknown (refused before it loaded)")
    );
    if !e.checks.is_empty() {
        out!("\nchecks:");
        for check in &e.checks {
            let mark = match check.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            if check.detail.is_empty() {
                out!("  {mark}  {}", check.name);
            } else {
                out!("  {mark}  {} — {}", check.name, escape(&check.detail));
            }
        }
    }
    out!("\nfindings:");
    if e.findings.is_empty() {
        out!("  none");
    }
    for finding in &e.findings {
        out!("  {}: {}", finding.kind, escape(&finding.detail));
    }
    if !e.p50_micros.is_empty() {
        out!("\np50 latency per operation:");
        for (op, micros) in &e.p50_micros {
            out!(
                "  {:<22} {:>9.3} ms",
                op.to_string(),
                *micros as f64 / 1000.0
            );
        }
    }
    out!(
        "\npeak memory:  {:.1} MiB",
        e.peak_memory_bytes as f64 / (1024.0 * 1024.0)
    );
    out!("declared:     {}", names(&e.declared));
    out!("used:         {}", names(&e.used));
    out!("\nverdict: {}", if e.passed { "PASS" } else { "FAIL" });
}
