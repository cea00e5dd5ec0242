//! Compiled components, cached on disk.
//!
//! Compiling a Rust component takes about a third of a second, a Python or
//! JavaScript one (13-20 MB with its interpreter) tens of seconds; loading
//! compiled code takes a fraction of that, so every flavor is compiled once
//! per engine configuration and reused by every later command.
//!
//! Loading compiled code is `unsafe` in wasmtime: the bytes are native code,
//! trusted to be what wasmtime wrote, and run without re-validation. So a
//! cache file is loaded only if it cannot have been swapped:
//! - the cache directory is created 0700, and one that is not owned by this
//!   user or that others may write to is refused (one line naming it),
//!   wherever it is (inside the home, or elsewhere through
//!   `FLAVORBOX_CACHE_DIR`);
//! - what proves a file is ours is not in the file (a forger would rewrite
//!   it along): the home's store records the BLAKE3 hash of every file this
//!   home wrote (`Database::record_compiled`), and a file is loaded only if
//!   it hashes to its record. Any other file (truncated, damaged, foreign,
//!   written by another home, or recorded under the SHA-256 earlier versions
//!   used) is compiled again and replaced.
//!
//! A file is mapped, not read, and hashed once: checking the 1 MB `local`
//! entry on every CLI command costs about 0.2 ms with BLAKE3, where reading
//! it and hashing it with SHA-256 cost over 1 ms.
//!
//! Files are named by the component's digest and the engine's compatibility
//! hash, written to a temporary file (0600) and renamed into place.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::compile;
use super::engine::compatibility_tag;
use crate::error::{Error, Result};
use crate::policy::CompileLimits;
use crate::store::Database;

/// A compile the cache could not spare: a Python or JavaScript flavor
/// carries its language runtime (13-20 MB) and takes tens of seconds to
/// compile, so the CLI tells the user what is going on.
#[derive(Debug, Clone, Copy)]
pub enum CompileEvent {
    Started {
        wasm_bytes: usize,
    },
    Finished {
        wasm_bytes: usize,
        elapsed: Duration,
    },
}

pub struct CompileCache {
    dir: Option<PathBuf>,
    /// The binary untrusted components are compiled in (see `compile`).
    compiler: Option<PathBuf>,
    /// Told when a compile starts and ends.
    on_compile: Option<fn(&CompileEvent)>,
    tag: String,
    /// Whether the directory may be trusted, checked once.
    trusted: OnceLock<std::result::Result<(), String>>,
}

/// `sha256:<hex>` of `bytes`: how flavors are identified.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A component to load: its bytes and digest, and how to compile it.
pub struct Source<'a> {
    pub digest: &'a str,
    pub wasm: &'a [u8],
    /// Built into flavorbox (the `local` flavor): compiled in this process.
    /// Anything else is compiled in a bounded child process.
    pub builtin: bool,
    pub limits: CompileLimits,
}

impl CompileCache {
    /// A cache in `dir` (created 0700 on first write; `None` compiles
    /// every time), compiling untrusted components in `compiler` (see
    /// `compile::Job::compiler`) and telling `on_compile` of each compile.
    pub fn new(
        engine: &Engine,
        dir: Option<PathBuf>,
        compiler: Option<PathBuf>,
        on_compile: Option<fn(&CompileEvent)>,
    ) -> Self {
        CompileCache {
            dir,
            compiler,
            on_compile,
            tag: compatibility_tag(engine),
            trusted: OnceLock::new(),
        }
    }

    fn notify(&self, event: CompileEvent) {
        if let Some(observer) = self.on_compile {
            observer(&event);
        }
    }

    /// The cache directory, created if missing, if it may be trusted.
    fn dir(&self) -> Result<Option<&Path>> {
        let Some(dir) = self.dir.as_deref() else {
            return Ok(None);
        };
        self.trusted
            .get_or_init(|| trust_dir(dir))
            .clone()
            .map_err(Error::invalid)?;
        Ok(Some(dir))
    }

    /// The file name of the entry for `digest`.
    fn entry(&self, digest: &str) -> Option<String> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(format!("{hex}-{}.cwasm", self.tag))
    }

    /// The compiled component of `source`, from the cache if this home
    /// recorded the file there, else compiled (and cached and recorded).
    pub fn load(
        &self,
        engine: &Engine,
        source: &Source<'_>,
        records: &dyn Database,
    ) -> Result<Component> {
        let dir = self.dir()?;
        let entry = self.entry(source.digest);
        if let (Some(dir), Some(entry)) = (dir, entry.as_deref())
            && let Some(component) = load_recorded(engine, dir, entry, records)?
        {
            return Ok(component);
        }
        self.notify(CompileEvent::Started {
            wasm_bytes: source.wasm.len(),
        });
        let started = Instant::now();
        let compiled = if source.builtin {
            engine
                .precompile_component(source.wasm)
                .map_err(|e| Error::invalid(format!("not a valid component: {}", one_line(&e))))?
        } else {
            compile::compile(&compile::Job {
                wasm: source.wasm,
                limits: source.limits,
                compiler: self.compiler.as_deref(),
            })?
        };
        self.notify(CompileEvent::Finished {
            wasm_bytes: source.wasm.len(),
            elapsed: started.elapsed(),
        });
        // SAFETY: `compiled` was produced an instant ago by
        // `Engine::precompile_component`, in this process or in the compiler
        // child on an engine of the same settings.
        let component = unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| {
            Error::invalid(format!(
                "the component does not fit the sandbox's instance limits: {}",
                one_line(&e)
            ))
        })?;
        if let (Some(dir), Some(entry)) = (dir, entry.as_deref()) {
            // A cache that cannot be written only costs time.
            if let Err(err) = store_recorded(dir, entry, &compiled, records) {
                tracing::warn!("cannot write compile cache {}: {err}", dir.display());
            }
        }
        Ok(component)
    }
}

/// The first line of an error and its causes, for one-line messages.
pub fn one_line(err: &wasmtime::Error) -> String {
    format!("{err:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What the store records for a cache file: `blake3:<hex>`.
fn checksum(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

/// Creates `dir` (0700) if missing; refuses one this user does not own or
/// others may write to.
fn trust_dir(dir: &Path) -> std::result::Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create compile cache {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir)
            .map_err(|e| format!("cannot read compile cache {}: {e}", dir.display()))?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(format!(
                "compile cache {} is owned by another user (uid {}); compiled code there could \
                 be swapped, so it is not used",
                dir.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "compile cache {} may be written by others (mode {:o}); compiled code there \
                 could be swapped, so it is not used (chmod go-w it)",
                dir.display(),
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// The cached component `entry`, if its file hashes to what this home
/// recorded for it.
fn load_recorded(
    engine: &Engine,
    dir: &Path,
    entry: &str,
    records: &dyn Database,
) -> Result<Option<Component>> {
    let Some(recorded) = records.compiled_checksum(entry)? else {
        return Ok(None);
    };
    if !recorded.starts_with("blake3:") {
        // Recorded by an earlier version (SHA-256): compiled once more.
        return Ok(None);
    }
    let path = dir.join(entry);
    let Ok(file) = std::fs::File::open(&path) else {
        return Ok(None);
    };
    if let Some(why) = untrusted_entry(&file) {
        tracing::warn!(
            "ignoring compile cache entry {}: {why}; it is compiled again",
            path.display()
        );
        return Ok(None);
    }
    // SAFETY: a private, read-only mapping of a file in a directory only
    // this user may write, whose entries are only ever replaced by rename,
    // never written in place.
    let Ok(mapped) = (unsafe { memmap2::Mmap::map(&file) }) else {
        return Ok(None);
    };
    if checksum(&mapped) != recorded {
        tracing::warn!(
            "ignoring compile cache entry {}: it is not the file this home wrote",
            path.display()
        );
        return Ok(None);
    }
    // wasmtime maps the file itself (no copy of the code), through our open
    // descriptor, so what it maps is the very file just checked even if the
    // entry was renamed over meanwhile; where no such path exists (no
    // `/proc`), it copies the checked bytes.
    #[cfg(target_os = "linux")]
    let by_descriptor = {
        use std::os::fd::AsRawFd;
        Some(PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())))
    };
    #[cfg(not(target_os = "linux"))]
    let by_descriptor: Option<PathBuf> = None;
    // SAFETY (both): these are the very bytes this home wrote (their hash is
    // recorded in its store, not in the file), which came from
    // `Engine::precompile_component` on an engine with the same
    // compatibility hash (it is part of the file name); entries are never
    // modified in place, only replaced by rename.
    let mapped_by_wasmtime = by_descriptor
        .filter(|path| path.exists())
        .and_then(|path| unsafe { Component::deserialize_file(engine, &path) }.ok());
    Ok(mapped_by_wasmtime.or_else(|| unsafe { Component::deserialize(engine, &mapped[..]) }.ok()))
}

/// Why the open entry `file` is not used whatever its hash: a file another
/// user owns, or one others may write (this home writes its entries 0600),
/// could be changed between the check and the use. Checked on the open
/// descriptor, so it is the very file that is then mapped.
fn untrusted_entry(file: &std::fs::File) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().ok()?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Some(format!("it is owned by another user (uid {})", meta.uid()));
        }
        if meta.mode() & 0o022 != 0 {
            return Some(format!(
                "others may write it (mode {:o})",
                meta.mode() & 0o7777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    None
}

/// Writes `compiled` as `entry` (0600, atomically) and records its hash.
fn store_recorded(dir: &Path, entry: &str, compiled: &[u8], records: &dyn Database) -> Result<()> {
    let path = dir.join(entry);
    let tmp = dir.join(format!(".{entry}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&tmp)?, compiled)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::host(e)
    })?;
    records.record_compiled(entry, &checksum(compiled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteDatabase;

    // The built-in flavor's component, as the runtime embeds it (the
    // registry, which owns it, is a layer above); the bundled ones are
    // not used here.
    #[allow(dead_code)]
    mod embedded {
        include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
    }
    use embedded::{LOCAL_DIGEST, LOCAL_WASM};

    fn entries(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect()
    }

    fn local() -> Source<'static> {
        Source {
            digest: LOCAL_DIGEST,
            wasm: LOCAL_WASM,
            builtin: true,
            limits: CompileLimits::default(),
        }
    }

    #[test]
    fn only_files_this_home_recorded_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        let db = SqliteDatabase::open(&dir.path().join("db")).unwrap();
        let engine = super::super::engine::new_engine(true).unwrap();
        let cache = CompileCache::new(&engine, Some(cache_dir.clone()), None, None);
        cache.load(&engine, &local(), &db).unwrap();
        let [entry] = entries(&cache_dir).try_into().unwrap();
        let name = entry.file_name().unwrap().to_str().unwrap().to_string();
        let good = std::fs::read(&entry).unwrap();
        assert!(
            load_recorded(&engine, &cache_dir, &name, &db)
                .unwrap()
                .is_some()
        );

        // A flipped byte, a truncated file, an empty one: none is loaded,
        // and the next load writes the good file back.
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        for damaged in [flipped, good[..good.len() / 3].to_vec(), Vec::new()] {
            std::fs::write(&entry, &damaged).unwrap();
            assert!(
                load_recorded(&engine, &cache_dir, &name, &db)
                    .unwrap()
                    .is_none()
            );
            cache.load(&engine, &local(), &db).unwrap();
            assert_eq!(std::fs::read(&entry).unwrap(), good, "rewritten");
        }

        // The good file, but writable by others: not trusted whatever its
        // hash, and written back private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
            assert!(
                load_recorded(&engine, &cache_dir, &name, &db)
                    .unwrap()
                    .is_none()
            );
            cache.load(&engine, &local(), &db).unwrap();
            let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert!(
                load_recorded(&engine, &cache_dir, &name, &db)
                    .unwrap()
                    .is_some()
            );
        }

        // Another home's store has no record of the file: not loaded.
        let other = SqliteDatabase::open(&dir.path().join("other-db")).unwrap();
        assert!(
            load_recorded(&engine, &cache_dir, &name, &other)
                .unwrap()
                .is_none()
        );

        // A record an earlier version wrote (the SHA-256 hex of the very
        // same file) is not trusted as a BLAKE3 one: compiled once more,
        // and recorded anew.
        let sha256 = format!("{:x}", Sha256::digest(&good));
        db.record_compiled(&name, &sha256).unwrap();
        assert!(
            load_recorded(&engine, &cache_dir, &name, &db)
                .unwrap()
                .is_none()
        );
        cache.load(&engine, &local(), &db).unwrap();
        assert_eq!(db.compiled_checksum(&name).unwrap(), Some(checksum(&good)));
        assert!(
            load_recorded(&engine, &cache_dir, &name, &db)
                .unwrap()
                .is_some()
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_cache_directory_is_private_and_one_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("a/b/cache");
        trust_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = trust_dir(&fresh).unwrap_err();
        assert!(err.contains("may be written by others"), "{err}");
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        trust_dir(&fresh).unwrap();
    }

    #[test]
    fn digests_that_are_not_sha256_never_name_a_file() {
        let engine = super::super::engine::new_engine(true).unwrap();
        let cache = CompileCache::new(&engine, Some(PathBuf::from("/tmp")), None, None);
        assert!(cache.entry("sha256:../../etc/passwd").is_none());
        assert!(cache.entry("md5:abc").is_none());
        assert!(cache.entry(LOCAL_DIGEST).is_some());
    }

    #[test]
    fn code_compiled_without_the_pool_loads_into_the_pooled_engine() {
        let unpooled =
            Engine::new(&super::super::engine::config(false)).expect("an on-demand engine");
        let pooled = super::super::engine::new_engine(true).unwrap();
        let compiled = unpooled.precompile_component(LOCAL_WASM).unwrap();
        // SAFETY: compiled by wasmtime just above.
        assert!(unsafe { Component::deserialize(&pooled, &compiled) }.is_ok());
        assert_eq!(compatibility_tag(&unpooled), compatibility_tag(&pooled));
    }
}
