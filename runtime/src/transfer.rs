//! `secret export`, `secret import` and `import-zenml`: moving secrets in
//! and out of a manager.
//!
//! Guards against a partial or surprising import (every secret of a file
//! is parsed and checked by the same rules as any other input, every taken
//! name found and named, and `local`'s quota held, before the first one is
//! written; `--dry-run` stops there; a failure midway puts back what the
//! import wrote, see `flavorbox::managers::Manager::register_all`) and
//! against an export that leaks by accident (it needs `--reveal`, as it
//! holds every value in clear; `-o FILE` is created 0600 and never
//! replaces a file).
//!
//! The export file: `{"flavorbox_export": 1, "manager": NAME, "secrets":
//! [{"name", "schema", "values": {KEY: VALUE}}]}`; each entry is what
//! `secret get --output json` prints, plus, where the flavor keeps history,
//! `"labels": {KEY: VALUE}` if it has any and with `--history` `"history":
//! [{"version", "created", "schema", "values"}]` (earlier versions, oldest
//! first; see `carried.rs`). It is JSON read strictly (a key given
//! twice is refused) with serde_json's nesting bound (128 levels). ZenML's
//! `LocalSecretsManager` file (`secrets.yaml`) is read by `zenml_file.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use flavorbox::managers::{ImportPlan, ImportReport, OnConflict, SecretsApi};
use flavorbox::text::escape;
use flavorbox::{Error, Home, Result, Secret};
use serde::Serialize;

use zeroize::Zeroizing;

use super::output::{json, out};
use super::{carried, encrypted, input, zenml_file};

/// Largest file an import reads.
const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;
const FORMAT_VERSION: u64 = 1;

#[derive(Args)]
pub struct ImportZenmlArgs {
    /// ZenML's secrets.yaml (in its local stores path, one per secrets manager)
    path: PathBuf,
    /// Import into this secrets manager instead of the active one
    #[arg(short, long, value_name = "NAME")]
    manager: Option<String>,
    #[command(flatten)]
    how: ImportArgs,
}

/// How an export is encrypted (with none of them: in clear, which needs
/// `--reveal`).
#[derive(Args)]
pub struct EncryptArgs {
    /// Encrypt the export to this age recipient (age1...; e.g. from
    /// `age-keygen`); repeatable. No --reveal needed
    #[arg(long, value_name = "RECIPIENT", conflicts_with_all = ["passphrase", "passphrase_file"])]
    encrypt_to: Vec<String>,
    /// Encrypt the export with a passphrase typed at a hidden prompt (twice)
    #[arg(long, conflicts_with = "passphrase_file")]
    passphrase: bool,
    /// Encrypt the export with the passphrase on this file's first line
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

impl EncryptArgs {
    fn seal_with(&self) -> Result<Option<encrypted::SealWith>> {
        Ok(if !self.encrypt_to.is_empty() {
            Some(encrypted::SealWith::Recipients(encrypted::recipients(
                &self.encrypt_to,
            )?))
        } else {
            encrypted::passphrase(self.passphrase_file.as_deref(), self.passphrase, true)?
                .map(encrypted::SealWith::Passphrase)
        })
    }
}

/// How an encrypted export file is opened.
#[derive(Args)]
pub struct DecryptArgs {
    /// Open an export encrypted to a recipient with this age identity file
    #[arg(long, value_name = "FILE", conflicts_with_all = ["passphrase", "passphrase_file"])]
    identity: Option<PathBuf>,
    /// Open an export encrypted with a passphrase, typed at a hidden prompt
    #[arg(long, conflicts_with = "passphrase_file")]
    passphrase: bool,
    /// Open an export encrypted with the passphrase on this file's first line
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

impl DecryptArgs {
    fn open_with(&self) -> Result<Option<encrypted::OpenWith>> {
        Ok(if let Some(path) = &self.identity {
            Some(encrypted::OpenWith::Identities(encrypted::identities(
                path,
            )?))
        } else {
            encrypted::passphrase(self.passphrase_file.as_deref(), self.passphrase, false)?
                .map(encrypted::OpenWith::Passphrase)
        })
    }
}

/// How an import treats names already taken, and whether it writes.
#[derive(Args, Clone, Copy)]
pub struct ImportArgs {
    /// Check everything and say what would be imported; write nothing
    #[arg(long)]
    dry_run: bool,
    /// Leave the secrets whose names are taken as they are, import the rest
    #[arg(long, conflicts_with = "overwrite")]
    skip_existing: bool,
    /// Replace the secrets whose names are taken (put back if the import
    /// fails)
    #[arg(long)]
    overwrite: bool,
    /// Import each secret's current values alone, leaving out the labels
    /// and history the file carries (needed where the flavor keeps one
    /// version)
    #[arg(long)]
    values_only: bool,
}

impl ImportArgs {
    fn plan(self) -> ImportPlan {
        ImportPlan {
            on_conflict: if self.skip_existing {
                OnConflict::Skip
            } else if self.overwrite {
                OnConflict::Overwrite
            } else {
                OnConflict::Refuse
            },
            dry_run: self.dry_run,
        }
    }
}

/// Operations over this many secrets show a progress bar (on a terminal).
const PROGRESS_FROM: usize = 100;

/// A live line on stderr, drawn only on a terminal and cleared when
/// dropped: a progress bar, made when first told of an operation of
/// [`PROGRESS_FROM`] steps or more, or (told what is being done) that
/// step's text in place of the one before.
pub struct ProgressLine {
    what: &'static str,
    bar: std::cell::OnceCell<indicatif::ProgressBar>,
}

impl ProgressLine {
    pub fn new(what: &'static str) -> Self {
        ProgressLine {
            what,
            bar: std::cell::OnceCell::new(),
        }
    }

    /// `done` of `total` steps are done.
    pub fn tell(&self, done: usize, total: usize) {
        if total < PROGRESS_FROM {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar =
                crate::output::live_line(Some(total as u64), "{msg} {bar:30} {pos}/{len} ({eta})");
            bar.set_message(self.what);
            bar
        });
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }

    /// `now` is being done (text already escaped), in place of what was
    /// said before; cut to the terminal's width.
    pub fn say(&self, now: &str) {
        let bar = self.bar.get_or_init(|| {
            let bar = crate::output::live_line(None, "{prefix}: {wide_msg}");
            bar.set_prefix(self.what);
            bar
        });
        bar.set_message(now.to_string());
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

#[derive(Serialize)]
struct ExportFile<'a> {
    flavorbox_export: u64,
    manager: &'a str,
    secrets: Vec<ExportedSecret<'a>>,
}

#[derive(Serialize)]
struct ExportedSecret<'a> {
    name: &'a str,
    schema: &'a str,
    values: &'a std::collections::BTreeMap<String, String>,
    /// Where the flavor keeps history: the secret's labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<std::collections::BTreeMap<&'a str, &'a str>>,
    /// With `--history`: its earlier versions, oldest first.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    history: &'a [carried::PastVersion],
}

/// Writes the export of `names` (all if empty) to `file`, or stdout, in
/// clear (`reveal`) or encrypted as `encrypt` says.
pub fn export(
    manager: &dyn SecretsApi,
    names: &[String],
    reveal: bool,
    history: bool,
    encrypt: &EncryptArgs,
    file: Option<&Path>,
) -> Result<()> {
    let seal = encrypt.seal_with()?;
    if !reveal && seal.is_none() {
        return Err(Error::invalid(
            "an export holds every value in clear; pass --reveal, or encrypt it with \
             --encrypt-to, --passphrase or --passphrase-file",
        ));
    }
    // The file is made (0600, never over another) before anything is read.
    let target = file.map(ExportTarget::create).transpose()?;
    let line = ProgressLine::new("exporting");
    let secrets = manager.export_secrets(names, &|done, total| line.tell(done, total))?;
    drop(line);
    let carried = carried::gather(manager, &secrets, history)?;
    let export = ExportFile {
        flavorbox_export: FORMAT_VERSION,
        manager: manager.manager_name(),
        secrets: secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let carried = carried.as_ref().map(|all| &all[i]);
                ExportedSecret {
                    name: s.name(),
                    schema: s.schema(),
                    values: s.values(),
                    labels: carried.filter(|c| !c.labels.is_empty()).map(|c| {
                        c.labels
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect()
                    }),
                    history: carried.map_or(&[], |c| c.history.as_slice()),
                }
            })
            .collect(),
    };
    let bytes = match &seal {
        None if target.is_none() => return json(&export),
        None => Zeroizing::new(serde_json::to_vec_pretty(&export).map_err(Error::host)?),
        Some(seal) => {
            let plain = Zeroizing::new(serde_json::to_vec(&export).map_err(Error::host)?);
            Zeroizing::new(encrypted::seal(&plain, seal)?)
        }
    };
    match target {
        None => {
            crate::output::raw(&bytes);
            Ok(())
        }
        Some(target) => {
            let path = target.path.clone();
            target.write(&bytes)?;
            crate::output::err_line(format_args!(
                "exported {} secret{} of secrets manager `{}` to {}",
                secrets.len(),
                if secrets.len() == 1 { "" } else { "s" },
                escape(manager.manager_name()),
                escape(&path.display().to_string())
            ));
            Ok(())
        }
    }
}

/// A new export file, private to its owner; removed again if the export
/// does not finish.
struct ExportTarget {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl ExportTarget {
    fn create(path: &Path) -> Result<ExportTarget> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                let shown = escape(&path.display().to_string()).into_owned();
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::already_exists(format!(
                        "{shown} exists; an export never replaces a file (nothing was written)"
                    ))
                } else {
                    Error::invalid(format!("cannot create {shown}: {e}"))
                }
            })?;
        Ok(ExportTarget {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    fn write(mut self, bytes: &[u8]) -> Result<()> {
        let mut file = self.file.take().expect("written once");
        file.write_all(bytes)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::host(format!("cannot write {}: {e}", self.path.display())))?;
        // Finished: kept.
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for ExportTarget {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Prints what an import did (or, dry, would do): one line per outcome
/// that happened, naming the secrets.
fn report(manager: &str, report: &ImportReport, dry_run: bool) {
    let count = |n: usize| format!("{n} secret{}", if n == 1 { "" } else { "s" });
    let names = |names: &[String]| {
        names
            .iter()
            .map(|n| escape(n).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (import, overwrite, skip) = if dry_run {
        ("would import", "would overwrite", "would skip")
    } else {
        ("imported", "overwrote", "skipped")
    };
    let manager = escape(manager);
    out!(
        "{import} {} into secrets manager `{manager}`{}{}",
        count(report.created.len()),
        if report.created.is_empty() { "" } else { ": " },
        names(&report.created)
    );
    if !report.overwritten.is_empty() {
        out!(
            "{overwrite} {}: {}",
            count(report.overwritten.len()),
            names(&report.overwritten)
        );
    }
    if !report.skipped.is_empty() {
        out!(
            "{skip} {} (their names are taken): {}",
            count(report.skipped.len()),
            names(&report.skipped)
        );
    }
    if dry_run {
        out!("dry run: nothing was written");
    }
}

/// Imports `secrets` into `manager` as `how` says, with a progress bar;
/// then what they carry (`carried`, one per secret, or none) is put back.
fn import_into(
    manager: &dyn SecretsApi,
    secrets: &[Secret],
    carried: Option<&[carried::Carried]>,
    how: ImportArgs,
) -> Result<()> {
    let plan = how.plan();
    let carried = carried.filter(|_| !how.values_only);
    let first = match carried {
        Some(carried) => carried::first_writes(manager, secrets, carried, how.overwrite)?,
        None => secrets.to_vec(),
    };
    let line = ProgressLine::new("importing");
    let done = manager.import_secrets(&first, plan, &|done, total| line.tell(done, total));
    drop(line);
    let done = done?;
    let replayed = match carried {
        Some(carried) if !plan.dry_run => {
            carried::put_back(manager, secrets, carried, &done.created, &done.overwritten)?
        }
        _ => 0,
    };
    report(manager.manager_name(), &done, plan.dry_run);
    if replayed > 0 {
        out!(
            "put back {replayed} later version{} over the earliest ones the file carries",
            if replayed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Parses an export file into checked secrets, each with what it carries.
fn parse_export(text: &str, shown: &str) -> Result<(Vec<Secret>, Vec<carried::Carried>)> {
    use serde_json::Value;
    let bad = |why: String| Error::invalid(format!("{shown}: {why}"));
    let Value::Object(mut file) = input::strict_json(text, shown)? else {
        return Err(bad("not a flavorbox export (not a JSON object)".into()));
    };
    if file.get("flavorbox_export").and_then(Value::as_u64) != Some(FORMAT_VERSION) {
        return Err(bad(format!(
            "not a flavorbox export (no \"flavorbox_export\": {FORMAT_VERSION})"
        )));
    }
    let Some(Value::Array(entries)) = file.remove("secrets") else {
        return Err(bad("`secrets` is not a list".into()));
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| -> Result<(Secret, carried::Carried)> {
            let Value::Object(mut entry) = entry else {
                return Err(bad(format!("secret #{} is not an object", i + 1)));
            };
            let field =
                |entry: &mut serde_json::Map<String, Value>, name: &str| match entry.remove(name) {
                    Some(Value::String(s)) => Ok(s),
                    _ => Err(bad(format!("secret #{}: `{name}` is not a string", i + 1))),
                };
            let name = field(&mut entry, "name")?;
            let schema = field(&mut entry, "schema")?;
            let Some(Value::Object(values)) = entry.remove("values") else {
                return Err(bad(format!("secret `{name}`: `values` is not an object")));
            };
            let pairs = input::string_pairs(values, &format!("{shown}: secret `{name}`"))?;
            flavorbox::secret::check_input(&pairs)
                .map_err(|e| bad(format!("secret `{name}`: {e}")))?;
            let carried = carried::parse(&mut entry, &name, &bad)?;
            let secret = Secret::new(name.clone(), schema, pairs)
                .map_err(|e| bad(format!("secret `{name}`: {e}")))?;
            Ok((secret, carried))
        })
        .collect::<Result<Vec<_>>>()
        .map(|parsed| parsed.into_iter().unzip())
}

pub fn import(
    manager: &dyn SecretsApi,
    file: &Path,
    how: ImportArgs,
    decrypt: &DecryptArgs,
) -> Result<()> {
    let shown = escape(&file.display().to_string()).into_owned();
    let mut bytes = Zeroizing::new(input::read_bytes(file, "export file", MAX_IMPORT_BYTES)?);
    if encrypted::is_encrypted(&bytes) {
        let Some(key) = decrypt.open_with()? else {
            return Err(Error::invalid(format!(
                "{shown} is encrypted: pass --identity FILE, --passphrase or --passphrase-file"
            )));
        };
        bytes = encrypted::open(&bytes, &key, MAX_IMPORT_BYTES, &shown)?;
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::invalid(format!("{shown} is not valid UTF-8")))?;
    let (secrets, carried) = parse_export(text, &shown)?;
    import_into(manager, &secrets, Some(&carried), how)
}

pub fn import_zenml(home: &Home, args: ImportZenmlArgs) -> Result<()> {
    let text = input::read_text(&args.path, "ZenML secrets file", MAX_IMPORT_BYTES)?;
    let secrets = zenml_file::parse(&text, &args.path.display().to_string())?;
    let manager = home.manager(args.manager.as_deref())?;
    import_into(&manager, &secrets, None, args.how)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_files_refuse_duplicates_and_other_formats() {
        let good = r#"{"flavorbox_export":1,"manager":"m","secrets":[{"name":"a","schema":"arbitrary","values":{"k":"v"}}]}"#;
        assert_eq!(parse_export(good, "f").unwrap().0.len(), 1);
        for bad in [
            r#"{"flavorbox_export":1,"secrets":[{"name":"a","schema":"arbitrary","values":{"k":"v","k":"w"}}]}"#,
            r#"{"secrets":[]}"#,
            r#"{"flavorbox_export":1,"secrets":[{"name":"a","schema":"arbitrary","values":{"zenml_schema_name":"v"}}]}"#,
        ] {
            assert!(parse_export(bad, "f").is_err(), "{bad}");
        }
    }
}
