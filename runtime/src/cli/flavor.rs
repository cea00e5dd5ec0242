//! `flavorbox flavor ...`

use std::path::PathBuf;

use clap::Subcommand;
use flavorbox::policy::Capability;
use flavorbox::registry::{FlavorEntry, RegisterOptions};
use flavorbox::{Home, Result};

use super::OutputFormat;
use super::output::{err_line, json, out, table};
use super::scaffold;
use flavorbox::text::escape;

#[derive(Subcommand)]
pub enum FlavorCommand {
    /// List the built-in and registered flavors
    List {
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Register a flavor from a wasm component
    Register {
        /// The component (.wasm) to register
        path: PathBuf,
        /// Grant HTTP to this origin (scheme://host[:port]); repeatable
        #[arg(long = "allow-host", value_name = "URL")]
        allow_hosts: Vec<String>,
        /// Grant a capability (storage, http); repeatable
        #[arg(long = "grant", value_name = "CAPABILITY")]
        grants: Vec<Capability>,
        /// Linear memory per call, in MiB [default: 64]
        #[arg(long, value_name = "MiB")]
        memory: Option<u64>,
        /// Wall time per call, in seconds [default: 5]
        #[arg(long, value_name = "SEC")]
        timeout: Option<f64>,
        /// Storage per secrets manager, in MiB [default: 16]
        #[arg(long = "storage-quota", value_name = "MiB")]
        storage_quota: Option<u64>,
        /// Storage keys per secrets manager [default: 10000]
        #[arg(long = "storage-keys", value_name = "N")]
        storage_keys: Option<u64>,
        /// HTTP requests per call [default: 32]
        #[arg(long = "http-requests", value_name = "N")]
        http_requests: Option<u32>,
        /// Wall time to compile the component to native code, in seconds
        /// [default: 120]
        #[arg(long = "compile-timeout", value_name = "SEC")]
        compile_timeout: Option<f64>,
        /// Memory of the process compiling the component, in MiB
        /// [default: 4096]
        #[arg(long = "compile-memory", value_name = "MiB")]
        compile_memory: Option<u64>,
    },
    /// Show a flavor's description, capabilities and limits
    Describe {
        name: String,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Remove a registered flavor no secrets manager uses
    Remove { name: String },
    /// Create a flavor project (Rust, Python or JavaScript) that builds and
    /// passes `evaluate` as generated
    New(scaffold::NewArgs),
    /// Build a flavor project into a component (.wasm)
    Build(scaffold::BuildArgs),
}

impl FlavorCommand {
    /// Runs the commands that work on files only and never open a home;
    /// hands every other command back.
    pub fn without_home(self) -> std::result::Result<Result<()>, Box<FlavorCommand>> {
        match self {
            FlavorCommand::New(args) => Ok(scaffold::new(args)),
            FlavorCommand::Build(args) => Ok(scaffold::build(args)),
            other => Err(Box::new(other)),
        }
    }
}

pub fn run(home: &Home, command: FlavorCommand) -> Result<()> {
    match command {
        FlavorCommand::List { output } => {
            let flavors = home.flavors().list()?;
            if output == OutputFormat::Json {
                return json(&flavors);
            }
            let rows = flavors
                .iter()
                .map(|f| {
                    vec![
                        f.description.name.clone(),
                        f.description.version.clone(),
                        if f.builtin { "built-in" } else { "registered" }.to_string(),
                        f.description.description.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["FLAVOR", "VERSION", "SOURCE", "DESCRIPTION"], &rows);
            Ok(())
        }
        FlavorCommand::Register {
            path,
            allow_hosts,
            grants,
            memory,
            timeout,
            storage_quota,
            storage_keys,
            http_requests,
            compile_timeout,
            compile_memory,
        } => {
            let options = RegisterOptions {
                grants: grants.into_iter().collect(),
                allow_hosts,
                memory_mib: memory,
                timeout_secs: timeout,
                storage_quota_mib: storage_quota,
                storage_quota_keys: storage_keys,
                http_requests,
                compile_timeout_secs: compile_timeout,
                compile_memory_mib: compile_memory,
            };
            let registered = home.flavors().register(&path, &options)?;
            let d = &registered.entry.description;
            out!(
                "registered flavor `{}` {} ({})",
                d.name,
                escape(&d.version),
                registered.entry.digest
            );
            for capability in registered.ungranted {
                err_line(format_args!(
                    "flavorbox: warning: flavor `{}` declares capability `{capability}`, which was \
                     not granted; calls that use it will be refused ({})",
                    d.name,
                    grant_hint(capability)
                ));
            }
            Ok(())
        }
        FlavorCommand::Describe { name, output } => {
            let entry = home.flavors().get(&name)?;
            if output == OutputFormat::Json {
                return json(&entry);
            }
            describe(&entry);
            Ok(())
        }
        FlavorCommand::Remove { name } => {
            home.flavors().remove(&name)?;
            out!("removed flavor `{}`", escape(&name));
            Ok(())
        }
        FlavorCommand::New(args) => scaffold::new(args),
        FlavorCommand::Build(args) => scaffold::build(args),
    }
}

fn grant_hint(capability: Capability) -> &'static str {
    match capability {
        Capability::Http => "grant origins with --allow-host URL",
        _ => "grant it with --grant",
    }
}

fn describe(entry: &FlavorEntry) {
    let d = &entry.description;
    let limits = &entry.policy.limits;
    let grants = &entry.policy.grants;
    out!("flavor:       {} {}", d.name, escape(&d.version));
    out!(
        "source:       {}",
        if entry.builtin {
            "built-in"
        } else {
            "registered"
        }
    );
    out!("digest:       {}", entry.digest);
    out!("description:  {}", escape(&d.description));
    let declared: Vec<&str> = d.capabilities.iter().map(|c| c.as_str()).collect();
    out!(
        "declares:     {}",
        if declared.is_empty() {
            "-".to_string()
        } else {
            declared.join(", ")
        }
    );
    let granted: Vec<&str> = grants.capabilities.iter().map(|c| c.as_str()).collect();
    out!(
        "granted:      {}",
        if granted.is_empty() {
            "-".to_string()
        } else {
            granted.join(", ")
        }
    );
    if !grants.http_origins.is_empty() {
        out!("http origins: {}", escape(&grants.http_origins.join(", ")));
    }
    out!(
        "limits:       timeout {} ms, memory {} MiB, storage {} MiB / {} keys, \
         {} HTTP requests per call, HTTP response {} MiB, log {} KiB / {} records per call, \
         compile {} s / {} MiB",
        limits.timeout_ms,
        limits.memory_bytes / (1024 * 1024),
        limits.storage.bytes / (1024 * 1024),
        limits.storage.keys,
        limits.http_requests,
        limits.http_response_bytes / (1024 * 1024),
        limits.log_bytes / 1024,
        limits.log_records,
        limits.compile_timeout_ms as f64 / 1000.0,
        limits.compile_memory_bytes / (1024 * 1024)
    );
    if d.config.is_empty() {
        out!("config:       -");
    } else {
        out!("config:");
        let rows = d
            .config
            .iter()
            .map(|f| {
                let mut flags = vec![if f.required { "required" } else { "optional" }];
                if f.secret {
                    flags.push("secret");
                }
                vec![
                    format!("  {}", f.name),
                    flags.join(", "),
                    f.description.clone(),
                ]
            })
            .collect::<Vec<_>>();
        table(&["  KEY", "", "DESCRIPTION"], &rows);
    }
}
