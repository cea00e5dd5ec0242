//! `flavorbox secret history`, `rollback`, `restore`, `label` and the
//! metadata of `secret list --long` / `--label`: a secret's history on a
//! flavor that keeps one (contract 0.2), here or behind `--server`, through
//! `SecretsApi` as every `secret` command is.
//!
//! Guards against a label filter or a name pattern read loosely: a filter
//! is `KEY=VALUE` with a key checked as any key (a filter that can match
//! nothing is refused, not answered with an empty list), and a pattern is a
//! glob (`*`, `?`, `[...]`) matched against the whole name. Everything a
//! flavor or a server said (authors, labels) is escaped before it is
//! printed, as every table cell is.

use clap::Subcommand;
use flavorbox::contract::history::{SecretHistory, SecretMetadata, VersionState};
use flavorbox::managers::{LabelChange, SecretsApi};
use flavorbox::serve::audit::format_time;
use flavorbox::text::escape;
use flavorbox::{Error, Result};

use super::OutputFormat;
use super::output::{out, structured, table};

/// The subcommands of `secret` that need a flavor keeping history.
#[derive(Subcommand)]
pub(super) enum HistoryCommand {
    /// Show a secret's versions: number, state, when and by whom each was
    /// written (a soft-deleted secret's too)
    History {
        /// The secret's name
        name: String,
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Make an older version current again, as a new version holding its
    /// values (history is never rewritten); refused, nothing written, if
    /// the secret changes meanwhile
    Rollback {
        /// The secret's name
        name: String,
        /// The version whose values to bring back
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        to: u64,
    },
    /// Bring back a soft-deleted secret with its versions and labels
    Restore {
        /// The secret's name
        name: String,
    },
    /// Set (KEY=VALUE) or remove (KEY-) labels of a secret; labels write
    /// no version
    Label {
        /// The secret's name
        name: String,
        /// KEY=VALUE to set a label, KEY- to remove one
        #[arg(value_name = "KEY=VALUE|KEY-", required = true)]
        changes: Vec<String>,
    },
}

/// Runs a history subcommand on `api`.
pub(super) fn run(api: &dyn SecretsApi, command: HistoryCommand) -> Result<()> {
    match command {
        HistoryCommand::History { name, output } => {
            let history = api.secret_history(&name)?;
            if let Some(printed) = structured(output, &history) {
                return printed;
            }
            print_history(&history);
            Ok(())
        }
        HistoryCommand::Rollback { name, to } => {
            let written = api.rollback_secret(&name, to)?;
            out!("rolled back secret `{name}` to version {to}'s values, as version {written}");
            Ok(())
        }
        HistoryCommand::Restore { name } => {
            api.restore_secret(&name)?;
            out!("restored secret `{name}`");
            Ok(())
        }
        HistoryCommand::Label { name, changes } => {
            let labels = api.label_secret(&name, &label_change(&changes)?)?;
            let shown = labels
                .pairs()
                .iter()
                .map(|(key, value)| format!("{key}={}", escape(value)))
                .collect::<Vec<_>>();
            out!(
                "secret `{name}` has labels: {}",
                if shown.is_empty() {
                    "none".to_string()
                } else {
                    shown.join(", ")
                }
            );
            Ok(())
        }
    }
}

/// `KEY=VALUE` (set) and `KEY-` (remove) arguments as a change.
fn label_change(changes: &[String]) -> Result<LabelChange> {
    let mut change = LabelChange::default();
    for given in changes {
        if let Some((key, value)) = given.split_once('=') {
            change.set.push((key.to_string(), value.to_string()));
        } else if let Some(key) = given.strip_suffix('-') {
            change.remove.push(key.to_string());
        } else {
            return Err(Error::invalid(format!(
                "`{}` is neither KEY=VALUE (set a label) nor KEY- (remove one)",
                flavorbox::text::clip(given, 60)
            )));
        }
    }
    Ok(change)
}

fn print_history(history: &SecretHistory) {
    let meta = &history.metadata;
    out!(
        "secret: {} (schema {}), version {}{}",
        meta.name,
        meta.schema,
        meta.current_version,
        if meta.deleted { ", soft-deleted" } else { "" }
    );
    out!(
        "created {}, updated {}",
        shown_time(meta.created),
        shown_time(meta.updated)
    );
    if !meta.labels.pairs().is_empty() {
        out!("labels: {}", escape(&shown_labels(meta)));
    }
    let rows = history
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                state_name(v.state).to_string(),
                shown_time(v.created),
                v.author.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect::<Vec<_>>();
    table(&["VERSION", "STATE", "CREATED", "AUTHOR"], &rows);
}

fn state_name(state: VersionState) -> &'static str {
    match state {
        VersionState::Current => "current",
        VersionState::Previous => "previous",
        VersionState::Deleted => "deleted",
        VersionState::Destroyed => "destroyed",
    }
}

/// A time as UTC, to the millisecond.
fn shown_time(ms: u64) -> String {
    format_time(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn shown_labels(meta: &SecretMetadata) -> String {
    meta.labels
        .pairs()
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// How `secret list` narrows and shows its listing.
pub(super) struct Listing {
    /// A glob the whole name must match.
    pub(super) pattern: Option<glob::Pattern>,
    /// Labels each listed secret must carry, with these values.
    pub(super) labels: Vec<(String, String)>,
    /// Show each secret's metadata, not only its name.
    pub(super) long: bool,
}

impl Listing {
    pub(super) fn new(pattern: Option<&str>, labels: &[String], long: bool) -> Result<Listing> {
        let pattern = pattern
            .map(|glob| {
                glob::Pattern::new(glob).map_err(|e| {
                    Error::invalid(format!(
                        "`{}` is not a name pattern: {e}",
                        flavorbox::text::clip(glob, 60)
                    ))
                })
            })
            .transpose()?;
        let labels = labels
            .iter()
            .map(|given| {
                let (key, value) = given.split_once('=').ok_or_else(|| {
                    Error::invalid(format!(
                        "--label takes KEY=VALUE, not `{}`",
                        flavorbox::text::clip(given, 60)
                    ))
                })?;
                flavorbox::secret::check_key(key)
                    .map_err(|e| Error::invalid(format!("--label: {e}")))?;
                Ok((key.to_string(), value.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Listing {
            pattern,
            labels,
            long,
        })
    }

    fn named(&self, name: &str) -> bool {
        self.pattern.as_ref().is_none_or(|glob| glob.matches(name))
    }

    /// Lists the secrets of `api` as asked, in `output`'s format.
    pub(super) fn print(&self, api: &dyn SecretsApi, output: OutputFormat) -> Result<()> {
        if !self.long && self.labels.is_empty() {
            let names: Vec<String> = api
                .list_secrets()?
                .into_iter()
                .filter(|name| self.named(name))
                .collect();
            if let Some(printed) = structured(output, &names) {
                return printed;
            }
            for name in names {
                out!("{}", escape(&name));
            }
            return Ok(());
        }
        let listing: Vec<SecretMetadata> = api
            .list_metadata()?
            .into_iter()
            .filter(|meta| self.named(&meta.name))
            .filter(|meta| {
                self.labels.iter().all(|(key, value)| {
                    meta.labels
                        .pairs()
                        .iter()
                        .any(|(k, v)| k == key && v == value)
                })
            })
            .collect();
        if !self.long {
            let names: Vec<&str> = listing.iter().map(|meta| meta.name.as_str()).collect();
            if let Some(printed) = structured(output, &names) {
                return printed;
            }
            for name in names {
                out!("{}", escape(name));
            }
            return Ok(());
        }
        if let Some(printed) = structured(output, &listing) {
            return printed;
        }
        let rows = listing
            .iter()
            .map(|meta| {
                vec![
                    meta.name.clone(),
                    meta.schema.clone(),
                    meta.current_version.to_string(),
                    shown_time(meta.updated),
                    shown_labels(meta),
                ]
            })
            .collect::<Vec<_>>();
        table(&["NAME", "SCHEMA", "VERSION", "UPDATED", "LABELS"], &rows);
        Ok(())
    }
}
