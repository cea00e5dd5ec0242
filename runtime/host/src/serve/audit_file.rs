//! The audit log's JSON-lines file: appended to, private to its owner,
//! and rotated at a size.
//!
//! Guards against the file filling the disk: before a write would take it
//! past its size, `FILE` is renamed `FILE.1`, `FILE.1` `FILE.2`, and so
//! on, the oldest beyond the number kept replaced, so at most that many
//! plus one files exist. Only a regular file is rotated: a device or pipe
//! given as the file is written as it is, never renamed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The open file and how far it may grow.
pub(super) struct AuditFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_bytes: u64,
    keep: u32,
    rotates: bool,
}

impl AuditFile {
    /// Opens (creating, readable by its owner only) the file at `path`,
    /// to be rotated before it grows past `max_bytes`, keeping `keep`
    /// rotated files.
    pub(super) fn open(path: &Path, max_bytes: u64, keep: u32) -> Result<AuditFile> {
        let file = open_private(path)?;
        let meta = file.metadata().map_err(|e| cannot_open(path, &e))?;
        Ok(AuditFile {
            path: path.to_path_buf(),
            file,
            size: meta.len(),
            max_bytes,
            keep,
            rotates: meta.is_file(),
        })
    }

    /// Appends `lines` (whole lines), rotating first if they would take
    /// the file past its size.
    pub(super) fn write(&mut self, lines: &[u8]) -> std::io::Result<()> {
        let len = lines.len() as u64;
        if self.rotates && self.size > 0 && self.size.saturating_add(len) > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(lines)?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        for n in (1..self.keep).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = open_private(&self.path).map_err(std::io::Error::other)?;
        self.size = 0;
        Ok(())
    }
}

fn cannot_open(path: &Path, err: &dyn std::fmt::Display) -> Error {
    Error::invalid(format!("cannot open audit file {}: {err}", path.display()))
}

/// Opens `path` for appending, creating it readable by its owner only. An
/// existing file others may read is made private, with a warning (as a
/// home is; the audit log names peers, tokens and secrets).
fn open_private(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| cannot_open(path, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata().map_err(|e| cannot_open(path, &e))?;
        let mode = meta.permissions().mode();
        if meta.is_file() && mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| cannot_open(path, &e))?;
            tracing::warn!(
                "audit file {} was open to others (mode {:o}); made private (0600)",
                path.display(),
                mode & 0o7777
            );
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn an_existing_file_open_to_others_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        AuditFile::open(&path, 100, 2).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_file_is_rotated_at_its_size_keeping_a_bounded_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut file = AuditFile::open(&path, 100, 2).unwrap();
        for n in 0..10 {
            file.write(format!("{n:039}\n").as_bytes()).unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]);
        for name in &names {
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() <= 100);
        }
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.ends_with(&format!("{:039}\n", 9)), "{newest}");
    }
}
