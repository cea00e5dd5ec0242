//! `flavorbox secrets-manager ...`

use std::collections::BTreeMap;

use clap::Subcommand;
use flavorbox::policy::ManagerLimits;
use flavorbox::{Error, Home, Result};
use serde::Serialize;

use super::output::{json, out, table};
use super::{OutputFormat, input, split_pair};

#[derive(Subcommand)]
pub enum ManagerCommand {
    /// Configure a secrets manager on a flavor
    Register {
        name: String,
        #[arg(long)]
        flavor: String,
        /// A config value the flavor takes (`KEY=@FILE` reads a file);
        /// repeatable
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
    List {
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Make a secrets manager the one `secret` commands use
    SetActive { name: String },
    /// Remove a secrets manager
    Remove {
        name: String,
        /// Also delete what it stores in this home
        #[arg(long)]
        purge: bool,
    },
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

pub fn run(home: &Home, command: ManagerCommand) -> Result<()> {
    match command {
        ManagerCommand::Register {
            name,
            flavor,
            config,
            set_active,
            http_requests,
        } => {
            let mut values = BTreeMap::new();
            for pair in &config {
                let (key, value) = split_pair(pair, "--config")?;
                let value = input::config_value(&key, value)?;
                if values.insert(key.clone(), value).is_some() {
                    return Err(Error::invalid(format!(
                        "--config key `{key}` is given more than once"
                    )));
                }
            }
            let limits = ManagerLimits { http_requests };
            home.managers()
                .register_limited(&name, &flavor, values, limits, set_active)?;
            let active = home.managers().record(None).is_ok_and(|m| m.name == name);
            out!(
                "registered secrets manager `{name}` on flavor `{flavor}`{}",
                if active { " (active)" } else { "" }
            );
            Ok(())
        }
        ManagerCommand::List { output } => {
            let mut views = Vec::new();
            for record in home.managers().list()? {
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
                        let shown = if secret_keys.contains(&k) {
                            "***".to_string()
                        } else {
                            v
                        };
                        (k, shown)
                    })
                    .collect();
                views.push(ManagerView {
                    name: record.name,
                    flavor: record.flavor,
                    active: record.active,
                    config,
                    limits: record.limits,
                });
            }
            if output == OutputFormat::Json {
                return json(&views);
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
        ManagerCommand::SetActive { name } => {
            home.managers().set_active(&name)?;
            out!("secrets manager `{name}` is now active");
            Ok(())
        }
        ManagerCommand::Remove { name, purge } => {
            home.managers().remove(&name, purge)?;
            out!("removed secrets manager `{name}`");
            Ok(())
        }
    }
}
