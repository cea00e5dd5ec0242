//! `flavorbox flavor ...`: registering, upgrading (`register --replace`),
//! granting and revoking in place, describing and removing flavors.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use flavorbox::policy::{self, Capability};
use flavorbox::registry::{FlavorEntry, RegisterOptions};
use flavorbox::{Home, Result};

use super::OutputFormat;
use super::output::{err_line, out, structured, table};
use super::scaffold;
use super::terminal::confirm;
use flavorbox::text::escape;

/// Grants and limits, as given at registration and to `flavor grant`.
#[derive(Args)]
pub struct PolicyArgs {
    /// Grant HTTP to this origin (http(s)://host[:port]), or to every
    /// subdomain of a domain (https://*.example.com); repeatable
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
}

impl PolicyArgs {
    fn options(self) -> RegisterOptions {
        RegisterOptions {
            grants: self.grants.into_iter().collect(),
            allow_hosts: self.allow_hosts,
            memory_mib: self.memory,
            timeout_secs: self.timeout,
            storage_quota_mib: self.storage_quota,
            storage_quota_keys: self.storage_keys,
            http_requests: self.http_requests,
            compile_timeout_secs: self.compile_timeout,
            compile_memory_mib: self.compile_memory,
        }
    }
}

#[derive(Subcommand)]
pub enum FlavorCommand {
    /// List the flavors: built in, bundled with flavorbox (registered the
    /// first time a secrets manager or a grant needs them), and registered
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Register a flavor from a wasm component
    Register {
        /// The component (.wasm) to register
        path: PathBuf,
        /// Upgrade the registered flavor NAME to this component (which must
        /// describe itself as NAME), keeping its managers, secrets, grants
        /// and limits (options given here change them). What changes is
        /// shown first; a change that reaches further (a capability, a
        /// grant, an origin) or unmarks a secret config field needs
        /// confirmation or --yes
        #[arg(long, value_name = "NAME")]
        replace: Option<String>,
        /// Approve a widening --replace without asking
        #[arg(long, requires = "replace")]
        yes: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Show a flavor's description, capabilities and limits
    #[command(visible_alias = "show")]
    Describe {
        /// The flavor's name
        name: String,
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Grant capabilities or origins to a registered flavor, or change its
    /// limits, in place
    Grant {
        /// The flavor's name
        name: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Revoke capabilities or origins of a registered flavor in place
    Revoke {
        /// The flavor's name
        name: String,
        /// Revoke this capability (storage, http: all origins); repeatable
        #[arg(long = "capability", value_name = "CAPABILITY")]
        capabilities: Vec<Capability>,
        /// Revoke this origin; repeatable
        #[arg(long = "allow-host", value_name = "URL")]
        origins: Vec<String>,
    },
    /// Remove a registered flavor no secrets manager uses
    #[command(visible_alias = "rm")]
    Remove {
        /// The flavor's name
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
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

fn warn_ungranted(name: &str, ungranted: &[Capability]) {
    for capability in ungranted {
        err_line(format_args!(
            "flavorbox: warning: flavor `{name}` declares capability `{capability}`, which was \
             not granted; calls that use it will be refused (grant it with `flavorbox flavor \
             grant {name} {}`)",
            grant_flag(*capability)
        ));
    }
}

/// Brings the flavors `home` registered from a bundle up to this binary's
/// (see `Flavors::upgrade_bundled`), saying on stderr what was replaced,
/// digests before and after, or why it was kept. A failure is told and
/// leaves the registered flavors as they were; the command goes on.
pub fn upgrade_bundled(home: &Home) {
    let upgrades = match home.flavors().upgrade_bundled() {
        Ok(upgrades) => upgrades,
        Err(err) => {
            err_line(format_args!(
                "flavorbox: warning: the bundled flavors could not be upgraded: {err}"
            ));
            return;
        }
    };
    for upgrade in upgrades {
        let (before, after) = (&upgrade.before, &upgrade.after);
        // The digest registered before comes from the store: escaped like
        // every stored text.
        let versions = format!(
            "{} ({}) -> {} ({})",
            escape(&before.0),
            escape(&before.1),
            escape(&after.0),
            after.1
        );
        match &upgrade.kept {
            None => {
                err_line(format_args!(
                    "flavorbox: upgraded bundled flavor `{}`: {versions}; grants, limits, \
                     secrets managers and secrets are kept",
                    upgrade.name
                ));
                for line in &upgrade.changes {
                    err_line(format_args!("flavorbox:   {line}"));
                }
            }
            Some(why) => err_line(format_args!(
                "flavorbox: warning: bundled flavor `{}` was not upgraded ({versions}): {why}",
                upgrade.name
            )),
        }
    }
}

pub fn run(home: &Home, command: FlavorCommand) -> Result<()> {
    match command {
        FlavorCommand::List { output } => {
            let flavors = home.flavors().list()?;
            if let Some(printed) = structured(output, &flavors) {
                return printed;
            }
            let rows = flavors
                .iter()
                .map(|f| {
                    vec![
                        f.description.name.clone(),
                        f.description.version.clone(),
                        source(f).to_string(),
                        short_digest(&f.digest).to_string(),
                        f.description.description.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &["FLAVOR", "VERSION", "SOURCE", "DIGEST", "DESCRIPTION"],
                &rows,
            );
            Ok(())
        }
        FlavorCommand::Register {
            path,
            replace,
            yes,
            policy,
        } => {
            let options = policy.options();
            if let Some(name) = replace {
                let replaced = home.flavors().replace(&name, &path, &options, |change| {
                    let lines = change.lines();
                    if lines.is_empty() {
                        out!("flavor `{name}`: no change in capabilities, grants or config fields");
                    } else {
                        out!("flavor `{name}` changes:");
                        for line in &lines {
                            out!("  {line}");
                        }
                    }
                    if change.widens() {
                        confirm(
                            &format!(
                                "the new version of flavor `{name}` reaches further or shows what \
                                 was secret; replace it?"
                            ),
                            yes,
                            "--yes",
                        )?;
                    }
                    Ok(())
                })?;
                let (before, after) = (&replaced.before, &replaced.after.entry);
                out!(
                    "replaced flavor `{}`: {} ({}) -> {} ({}); its secrets managers and \
                     secrets are kept",
                    after.description.name,
                    escape(&before.description.version),
                    before.digest,
                    escape(&after.description.version),
                    after.digest
                );
                warn_ungranted(&after.description.name, &replaced.after.ungranted);
                return Ok(());
            }
            let registered = home.flavors().register(&path, &options)?;
            let d = &registered.entry.description;
            out!(
                "registered flavor `{}` {} ({})",
                d.name,
                escape(&d.version),
                registered.entry.digest
            );
            warn_ungranted(&d.name, &registered.ungranted);
            Ok(())
        }
        FlavorCommand::Describe { name, output } => {
            let entry = home.flavors().get(&name)?;
            if let Some(printed) = structured(output, &entry) {
                return printed;
            }
            describe(&entry);
            Ok(())
        }
        FlavorCommand::Grant { name, policy } => {
            let entry = home.flavors().grant(&name, &policy.options())?;
            out!("updated grants and limits of flavor `{name}`");
            describe(&entry);
            Ok(())
        }
        FlavorCommand::Revoke {
            name,
            capabilities,
            origins,
        } => {
            let entry = home.flavors().revoke(&name, &capabilities, &origins)?;
            out!("revoked from flavor `{name}`");
            describe(&entry);
            Ok(())
        }
        FlavorCommand::Remove { name, yes } => {
            let entry = home.flavors().get(&name)?;
            // Refusals first: only a removal that would happen is asked about.
            let users: Vec<String> = home
                .managers()
                .list()?
                .into_iter()
                .filter(|m| m.flavor == name)
                .map(|m| m.name)
                .collect();
            if entry.builtin || !users.is_empty() {
                return home.flavors().remove(&name);
            }
            confirm(&format!("remove flavor `{name}`?"), yes, "--yes")?;
            home.flavors().remove(&name)?;
            out!("removed flavor `{}`", escape(&name));
            Ok(())
        }
        FlavorCommand::New(args) => scaffold::new(args),
        FlavorCommand::Build(args) => scaffold::build(args),
    }
}

fn grant_flag(capability: Capability) -> String {
    flavorbox::capabilities::Ungranted::Capability(capability).grant_flag()
}

/// Where a flavor comes from, as listed.
fn source(entry: &FlavorEntry) -> &'static str {
    match (entry.builtin, entry.bundled, entry.registered) {
        (true, _, _) => "built-in",
        (false, true, true) => "bundled",
        (false, true, false) => "bundled, not registered",
        (false, false, _) => "registered",
    }
}

/// A digest as a table shows it: `sha256:` and its first 12 hex digits
/// (`flavor describe` and `-o json` show it whole).
fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn describe(entry: &FlavorEntry) {
    let d = &entry.description;
    let limits = &entry.policy.limits;
    let grants = &entry.policy.grants;
    out!("flavor:       {} {}", d.name, escape(&d.version));
    out!("source:       {}", source(entry));
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
         compile {} s / {}",
        limits.timeout_ms,
        limits.memory_bytes / (1024 * 1024),
        limits.storage.bytes / (1024 * 1024),
        limits.storage.keys,
        limits.http_requests,
        limits.http_response_bytes / (1024 * 1024),
        limits.log_bytes / 1024,
        limits.log_records,
        limits.compile_timeout_ms as f64 / 1000.0,
        match limits.compile_memory_bytes {
            Some(bytes) => format!("{} MiB", bytes / (1024 * 1024)),
            None => format!(
                "{} MiB + {} B per component byte (at most {} MiB)",
                policy::COMPILE_MEMORY_BASE_BYTES / (1024 * 1024),
                policy::COMPILE_MEMORY_PER_COMPONENT_BYTE,
                policy::COMPILE_MEMORY_DEFAULT_CAP_BYTES / (1024 * 1024)
            ),
        }
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
