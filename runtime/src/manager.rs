//! `flavorbox secrets-manager ...`

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use flavorbox::managers::MissingGrant;
use flavorbox::policy::ManagerLimits;
use flavorbox::store::ManagerRecord;
use flavorbox::text::escape;
use flavorbox::{Home, Result};
use serde::Serialize;

use super::OutputFormat;
use super::input;
use super::output::{err_line, out, structured, table};
use super::terminal::confirm;

#[derive(Subcommand)]
pub enum ManagerCommand {
    /// Configure a secrets manager on a flavor
    Register {
        /// The secrets manager's name
        name: String,
        /// The flavor it runs
        #[arg(long)]
        flavor: String,
        /// A config value the flavor takes: KEY=- (stdin), KEY=@FILE, or
        /// KEY=VALUE (on the command line, which local users can read
        /// while it runs: use it for what is not secret)
        /// or KEY={{name.key}} (a reference to a secret in another manager,
        /// read at each call); repeatable
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Make it the active secrets manager
        #[arg(long)]
        set_active: bool,
        /// HTTP requests per call through this manager, instead of its
        /// flavor's cap
        #[arg(long, value_name = "N")]
        http_requests: Option<u32>,
    },
    /// List secrets managers (secret config values are masked)
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show a secrets manager: flavor, config (secret values masked), state
    #[command(visible_alias = "show")]
    Describe {
        /// The secrets manager's name
        name: String,
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Change a secrets manager's config in place (e.g. rotate credentials)
    Update(UpdateArgs),
    /// Make a secrets manager the one `secret` commands use
    SetActive {
        /// The secrets manager's name
        name: String,
    },
    /// Remove a secrets manager
    #[command(visible_alias = "rm")]
    Remove {
        /// The secrets manager's name
        name: String,
        /// Also delete what it stores in this home
        #[arg(long)]
        purge: bool,
        /// Do not ask for confirmation before --purge
        #[arg(long, short)]
        yes: bool,
    },
}

/// `secrets-manager update`: every change to a manager's settings goes
/// through these arguments.
#[derive(Args)]
pub struct UpdateArgs {
    /// The secrets manager's name
    name: String,
    /// Set a config value (KEY=VALUE, KEY=@FILE, KEY=-, KEY={{name.key}});
    /// repeatable
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Remove a config key; repeatable
    #[arg(long = "unset", value_name = "KEY")]
    unset: Vec<String>,
}

#[derive(Serialize)]
struct ManagerView {
    name: String,
    flavor: String,
    active: bool,
    config: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "ManagerLimits::is_empty")]
    limits: ManagerLimits,
}

/// The record as shown: config values of secret fields masked (references
/// are shown, as they name a secret but hold none).
fn view(home: &Home, record: ManagerRecord) -> ManagerView {
    let secret_keys: Vec<String> = home
        .flavors()
        .get(&record.flavor)
        .map(|f| {
            f.description
                .config
                .into_iter()
                .filter(|c| c.secret)
                .map(|c| c.name)
                .collect()
        })
        .unwrap_or_default();
    let config = record
        .config
        .into_iter()
        .map(|(k, v)| {
            let is_reference = flavorbox::reference::Reference::parse_whole(&v).is_some();
            let shown = if secret_keys.contains(&k) && !is_reference {
                "***".to_string()
            } else {
                v
            };
            (k, shown)
        })
        .collect();
    ManagerView {
        name: record.name,
        flavor: record.flavor,
        active: record.active,
        config,
        limits: record.limits,
    }
}

/// Tells the operator (on stderr) the one command that grants what a
/// manager's flavor needs for its config, if it needs one.
fn tell_missing_grant(missing: Option<&MissingGrant>) {
    if let Some(missing) = missing {
        err_line(format_args!(
            "flavorbox: flavor `{}` {}, which is not granted; grant it with: {}",
            missing.flavor,
            escape(&missing.what()),
            escape(&missing.command())
        ));
    }
}

pub fn run(home: &Home, command: ManagerCommand) -> Result<()> {
    match command {
        ManagerCommand::Register {
            name,
            flavor,
            config,
            set_active,
            http_requests,
        } => {
            let values = input::config(&config)?;
            let limits = ManagerLimits { http_requests };
            let unregistered = home.flavors().get(&flavor).ok().filter(|f| !f.registered);
            let missing = home
                .managers()
                .register_limited(&name, &flavor, values, limits, set_active)?;
            if let Some(bundled) = unregistered {
                out!(
                    "registered bundled flavor `{flavor}` {} ({}), nothing granted",
                    escape(&bundled.description.version),
                    bundled.digest
                );
            }
            let active = home.managers().record(None).is_ok_and(|m| m.name == name);
            out!(
                "registered secrets manager `{name}` on flavor `{flavor}`{}",
                if active { " (active)" } else { "" }
            );
            tell_missing_grant(missing.as_ref());
            Ok(())
        }
        ManagerCommand::List { output } => {
            let views: Vec<ManagerView> = home
                .managers()
                .list()?
                .into_iter()
                .map(|r| view(home, r))
                .collect();
            if let Some(printed) = structured(output, &views) {
                return printed;
            }
            let rows = views
                .iter()
                .map(|v| {
                    let mut config: Vec<String> =
                        v.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    if let Some(n) = v.limits.http_requests {
                        config.push(format!("(http-requests {n})"));
                    }
                    vec![
                        if v.active { "*" } else { "" }.to_string(),
                        v.name.clone(),
                        v.flavor.clone(),
                        config.join(" "),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["ACTIVE", "NAME", "FLAVOR", "CONFIG"], &rows);
            Ok(())
        }
        ManagerCommand::Describe { name, output } => {
            let record = home.managers().record(Some(&name))?;
            let view = view(home, record);
            if let Some(printed) = structured(output, &view) {
                return printed;
            }
            let flavor = home.flavors().get(&view.flavor).ok();
            out!("secrets manager: {}", view.name);
            out!(
                "flavor:          {}{}",
                view.flavor,
                flavor
                    .as_ref()
                    .map(|f| format!(" {} ({})", f.description.version, f.digest))
                    .unwrap_or_default()
            );
            out!(
                "active:          {}",
                if view.active { "yes" } else { "no" }
            );
            if view.config.is_empty() {
                out!("config:          -");
            } else {
                out!("config:");
                let rows = view
                    .config
                    .iter()
                    .map(|(k, v)| vec![format!("  {k}"), v.clone()])
                    .collect::<Vec<_>>();
                table(&["  KEY", "VALUE"], &rows);
            }
            Ok(())
        }
        ManagerCommand::Update(args) => {
            let set = input::config(&args.config)?;
            let keys: Vec<String> = set.keys().chain(&args.unset).cloned().collect();
            let (_, missing) = home
                .managers()
                .update_config(&args.name, set, &args.unset)?;
            out!(
                "updated secrets manager `{}` (config {})",
                args.name,
                keys.join(", ")
            );
            tell_missing_grant(missing.as_ref());
            Ok(())
        }
        ManagerCommand::SetActive { name } => {
            home.managers().set_active(&name)?;
            out!("secrets manager `{name}` is now active");
            Ok(())
        }
        ManagerCommand::Remove { name, purge, yes } => {
            let record = home.managers().record(Some(&name))?;
            if purge && !record.active {
                confirm(
                    &format!(
                        "remove secrets manager `{name}` and delete everything it stores in \
                         this home?"
                    ),
                    yes,
                    "--yes",
                )?;
            }
            home.managers().remove(&name, purge)?;
            out!("removed secrets manager `{name}`");
            Ok(())
        }
    }
}
