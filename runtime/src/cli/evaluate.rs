//! `flavorbox evaluate PATH.wasm`

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use flavorbox::conformance::Status;
use flavorbox::evaluate::{EvaluateOptions, Evaluation, evaluate};
use flavorbox::policy::Capability;
use flavorbox::registry::RegisterOptions;
use flavorbox::{Error, Result};

use super::output::json;
use super::{OutputFormat, input, split_pair};

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
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs the evaluation; the process fails unless the verdict is a pass.
pub fn run(args: EvaluateArgs) -> Result<()> {
    let mut config = BTreeMap::new();
    for pair in &args.config {
        let (key, value) = split_pair(pair, "--config")?;
        let value = input::config_value(&key, value)?;
        config.insert(key, value);
    }
    let options = EvaluateOptions {
        config,
        register: RegisterOptions {
            allow_hosts: args.allow_hosts,
            memory_mib: args.memory,
            timeout_secs: args.timeout,
            http_requests: args.http_requests,
            ..RegisterOptions::default()
        },
        latency_samples: args.samples,
    };
    let evaluation = evaluate(&args.path, &options)?;
    if args.output == OutputFormat::Json {
        json(&evaluation)?;
    } else {
        print_text(&evaluation);
    }
    if evaluation.passed {
        Ok(())
    } else {
        let failed = evaluation.checks.iter().filter(|c| c.failed()).count();
        Err(Error::Verdict(format!(
            "{}: {failed} check(s) failed, {} finding(s)",
            evaluation.path,
            evaluation.findings.len()
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
        Some(f) => println!("flavor {} {} ({})", f.name, f.version, e.path),
        None => println!("component {}", e.path),
    }
    if !e.checks.is_empty() {
        println!("\nchecks:");
        for check in &e.checks {
            let mark = match check.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            if check.detail.is_empty() {
                println!("  {mark}  {}", check.name);
            } else {
                println!("  {mark}  {} — {}", check.name, check.detail);
            }
        }
    }
    println!("\nfindings:");
    if e.findings.is_empty() {
        println!("  none");
    }
    for finding in &e.findings {
        println!("  {}: {}", finding.kind, finding.detail);
    }
    if !e.p50_micros.is_empty() {
        println!("\np50 latency per operation:");
        for (op, micros) in &e.p50_micros {
            println!("  {op:<22} {:>9.3} ms", *micros as f64 / 1000.0);
        }
    }
    println!(
        "\npeak memory:  {:.1} MiB",
        e.peak_memory_bytes as f64 / (1024.0 * 1024.0)
    );
    println!("declared:     {}", names(&e.declared));
    println!("used:         {}", names(&e.used));
    println!("\nverdict: {}", if e.passed { "PASS" } else { "FAIL" });
}
