//! Encrypted exports: an export file sealed with age (to X25519
//! recipients, or to a passphrase), and opened again by `secret import`.
//!
//! Guards against an export that is readable by whoever copies it (a backup
//! disk, a ticket attachment), and against an encrypted file handed over for
//! import costing more than a plain one: the ciphertext is read under the
//! import's byte bound, the plaintext is bounded the same, and the scrypt
//! work factor of a passphrase file is bounded ([`MAX_WORK_FACTOR`], 256 MiB
//! and a few seconds), so a file crafted with a huge factor is refused, not
//! ground through. Passphrases never come from argv: they are typed at a
//! hidden prompt or read from a file; plaintext held here is wiped when
//! dropped.

use std::io::{BufReader, Write};
use std::path::Path;

use age::secrecy::SecretString;
use flavorbox::text::escape;
use flavorbox::{Error, Result};
use zeroize::Zeroizing;

use super::{input, terminal};

/// scrypt work factor (log2 N) of the passphrase exports this writes:
/// 64 MiB of memory to try one passphrase.
const WORK_FACTOR: u8 = 16;
/// The largest scrypt work factor an import accepts: 256 MiB.
const MAX_WORK_FACTOR: u8 = 18;
/// Largest passphrase or identity file read.
const MAX_KEY_FILE_BYTES: usize = 64 * 1024;

/// How an export is sealed.
pub enum SealWith {
    /// X25519 recipients (`age1...`).
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

/// How an import is opened.
pub enum OpenWith {
    /// The identities of an age identity file.
    Identities(Vec<Box<dyn age::Identity + Send + Sync>>),
    Passphrase(SecretString),
}

/// Whether `bytes` is an age file (binary or armored).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(b"age-encryption.org/v1\n")
        || bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

/// Parses `--encrypt-to` recipients.
pub fn recipients(texts: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    texts
        .iter()
        .map(|text| {
            text.parse().map_err(|_| {
                Error::invalid(format!(
                    "--encrypt-to `{}` is not an age recipient (age1...)",
                    escape(&flavorbox::text::clip(text, 80))
                ))
            })
        })
        .collect()
}

/// Reads a small file a key or passphrase is kept in.
fn read_key_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    input::read_bytes(path, what, MAX_KEY_FILE_BYTES).map(Zeroizing::new)
}

/// The passphrase the options give: the first line of `file`, or typed at
/// a hidden prompt if `prompt` (twice if `confirm`, as when sealing); `None`
/// when neither is given.
pub fn passphrase(
    file: Option<&Path>,
    prompt: bool,
    confirm: bool,
) -> Result<Option<SecretString>> {
    match file {
        Some(path) => passphrase_from_file(path).map(Some),
        None if prompt => passphrase_prompt(confirm).map(Some),
        None => Ok(None),
    }
}

/// The passphrase in the first line of `path`.
fn passphrase_from_file(path: &Path) -> Result<SecretString> {
    let bytes = read_key_file(path, "passphrase file")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::invalid("the passphrase file is not UTF-8"))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::invalid("the passphrase file's first line is empty"));
    }
    Ok(SecretString::from(line.to_string()))
}

/// A passphrase typed twice at a hidden prompt (to seal) or once (to open).
fn passphrase_prompt(confirm: bool) -> Result<SecretString> {
    let first = Zeroizing::new(terminal::read_hidden("passphrase: ")?);
    if first.is_empty() {
        return Err(Error::invalid("the passphrase is empty"));
    }
    if confirm {
        let again = Zeroizing::new(terminal::read_hidden("passphrase again: ")?);
        if *again != *first {
            return Err(Error::invalid(
                "the passphrases differ; nothing was written",
            ));
        }
    }
    Ok(SecretString::from(first.to_string()))
}

/// The identities of an age identity file (`AGE-SECRET-KEY-1...` lines).
pub fn identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let bytes = read_key_file(path, "identity file")?;
    let bad = || {
        Error::invalid(format!(
            "{} is not an age identity file (AGE-SECRET-KEY-1... lines)",
            escape(&path.display().to_string())
        ))
    };
    age::IdentityFile::from_buffer(BufReader::new(&bytes[..]))
        .map_err(|_| bad())?
        .into_identities()
        .map_err(|_| bad())
}

/// `plain` sealed as an ASCII-armored age file.
pub fn seal(plain: &[u8], key: &SealWith) -> Result<Vec<u8>> {
    let failed = |e: &dyn std::fmt::Display| Error::host(format!("cannot encrypt: {e}"));
    let encryptor = match key {
        SealWith::Recipients(recipients) => {
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| failed(&e))?
        }
        SealWith::Passphrase(passphrase) => {
            let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
            recipient.set_work_factor(WORK_FACTOR);
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| failed(&e))?
        }
    };
    let mut out = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| failed(&e))?;
    let mut writer = encryptor.wrap_output(armored).map_err(|e| failed(&e))?;
    writer.write_all(plain).map_err(|e| failed(&e))?;
    writer
        .finish()
        .and_then(|armored| armored.finish())
        .map_err(|e| failed(&e))?;
    Ok(out)
}

/// Opens the age file `sealed` with `key`; the plaintext is at most
/// `limit` bytes.
pub fn open(
    sealed: &[u8],
    key: &OpenWith,
    limit: usize,
    shown: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let refused = |why: String| Error::invalid(format!("{shown}: {why}"));
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(sealed))
        .map_err(|e| refused(format!("not a readable age file ({e})")))?;
    let reader = match key {
        OpenWith::Passphrase(passphrase) => {
            if !decryptor.is_scrypt() {
                return Err(refused(
                    "it was encrypted to recipients, not a passphrase: pass --identity FILE".into(),
                ));
            }
            let mut identity = age::scrypt::Identity::new(passphrase.clone());
            identity.set_max_work_factor(MAX_WORK_FACTOR);
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
        OpenWith::Identities(identities) => {
            if decryptor.is_scrypt() {
                return Err(refused(
                    "it was encrypted to a passphrase: pass --passphrase or --passphrase-file"
                        .into(),
                ));
            }
            decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        }
    };
    let reader = reader.map_err(|e| match e {
        age::DecryptError::ExcessiveWork { required, .. } => refused(format!(
            "its passphrase costs scrypt work factor {required}, more than the \
             {MAX_WORK_FACTOR} an import accepts"
        )),
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
            refused("the passphrase or identity does not open it".into())
        }
        other => refused(format!("cannot decrypt it ({other})")),
    })?;
    input::read_limited(reader, &format!("{shown} (decrypted)"), limit).map(Zeroizing::new)
}
