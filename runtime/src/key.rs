//! `flavorbox key rotate`: re-seals every value under a new master key.
//!
//! Guards against a rotation losing its new key: the new key is written to
//! a file (0600, linked into place complete) before the store is touched,
//! and read back from it when an interrupted rotation is run again, so
//! every value sealed under it can be opened. It is never printed, nor
//! taken from or put in argv. With the home's key file, the new key waits
//! in `master.key.new` and then replaces `master.key`, the old one kept as
//! `master.key.old` until the operator deletes it; with
//! `FLAVORBOX_MASTER_KEY`, the operator names the file (`--new-key-file`)
//! and switches the variable once the rotation is done. What happens in
//! the store is `flavorbox::store::rotate`'s.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use flavorbox::home::{KEY_FILE, STORE_FILE};
use flavorbox::store::rotate::{pending_key_file, promote_pending_key, retired_key_file};
use flavorbox::store::sealed::{MasterKey, load_key_file};
use flavorbox::store::{self, Rotated, SqliteDatabase};
use flavorbox::{Error, Result};

use super::environment;
use super::output::out;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Re-seal every value under a new master key (run it again to finish
    /// one that was interrupted)
    Rotate(RotateArgs),
}

#[derive(Args)]
pub struct RotateArgs {
    /// With FLAVORBOX_MASTER_KEY: the file the new key is written to (0600;
    /// an existing one is the key of an interrupted rotation, resumed)
    #[arg(long, value_name = "FILE")]
    new_key_file: Option<PathBuf>,
}

/// The line other commands refuse a home with while its key file is being
/// rotated.
pub fn rotation_in_progress(home: &Path) -> Option<Error> {
    pending_key_file(&home.join(KEY_FILE))
        .exists()
        .then(store::rotate::rotation_in_progress)
}

pub fn run(home: &Path, store: Option<&str>, cmd: KeyCommand) -> Result<()> {
    let KeyCommand::Rotate(args) = cmd;
    let rotate = |old: &MasterKey, new: &MasterKey| match store {
        Some(spec) => store::rotate_key(spec, old, new),
        None => {
            let path = home.join(STORE_FILE);
            if !path.exists() {
                return Err(Error::not_found(format!(
                    "there is no store at {}; nothing to rotate",
                    path.display()
                )));
            }
            SqliteDatabase::open(&path)?.rotate_key(old, new)
        }
    };
    match environment::master_key()? {
        Some(old) => {
            let Some(new_file) = args.new_key_file else {
                return Err(Error::invalid(format!(
                    "with {} set, pass --new-key-file FILE: the new key is written there \
                     (0600) before the store is touched, and never printed",
                    environment::MASTER_KEY
                )));
            };
            let new = load_key_file(&new_file, false)?;
            let rotated = rotate(&old, &new)?;
            report(&rotated);
            out!(
                "set {} to the key in {} (on every node sharing the store), then delete \
                 that file",
                environment::MASTER_KEY,
                new_file.display()
            );
        }
        None => {
            if args.new_key_file.is_some() {
                return Err(Error::invalid(format!(
                    "--new-key-file is for a key given in {}; the home's {KEY_FILE} is \
                     rotated in place",
                    environment::MASTER_KEY
                )));
            }
            let key_file = home.join(KEY_FILE);
            let pending = pending_key_file(&key_file);
            let retired = retired_key_file(&key_file);
            if !pending.exists() && retired.exists() {
                return Err(Error::denied(format!(
                    "{} holds the key from before the last rotation; delete it (once no \
                     backup of the store needs it) before rotating again",
                    retired.display()
                )));
            }
            let old = load_key_file(&key_file, true)?;
            let new = load_key_file(&pending, false)?;
            let rotated = rotate(&old, &new)?;
            promote_pending_key(&key_file)?;
            report(&rotated);
            out!(
                "{} holds the new key; the old one is kept in {} until you delete it \
                 (backups of the store from before need it)",
                key_file.display(),
                retired.display()
            );
        }
    }
    Ok(())
}

fn report(rotated: &Rotated) {
    if rotated.finished_before {
        out!("the store is under the new master key already (an earlier run finished)");
        return;
    }
    out!(
        "{} the key rotation: {} value{} of {} secrets manager{} re-sealed under the new \
         master key",
        if rotated.resumed {
            "resumed and finished"
        } else {
            "finished"
        },
        rotated.values,
        if rotated.values == 1 { "" } else { "s" },
        rotated.managers,
        if rotated.managers == 1 { "" } else { "s" },
    );
}
