//! Compiled components, cached on disk.
//!
//! Compiling a Rust component takes about a third of a second, a Python or
//! JavaScript one (13-20 MB with its interpreter) tens of seconds; loading
//! compiled code takes a fraction of that, so every flavor is compiled once
//! per engine configuration and reused by every later command.
//!
//! Loading compiled code is `unsafe` in wasmtime: the bytes are trusted to be
//! what wasmtime wrote. The cache therefore only ever loads files it wrote
//! itself: each file is named by the component's digest and the engine's
//! compatibility hash, written to a temporary file and renamed into place,
//! and carries a SHA-256 of its contents that is checked before loading. A
//! truncated, corrupted or foreign file is ignored and replaced.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::engine::compatibility_tag;
use crate::error::{Error, Result};

const CHECKSUM_LEN: usize = 32;

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

static OBSERVER: OnceLock<fn(&CompileEvent)> = OnceLock::new();

/// Installs the process's compile observer (the CLI's progress lines); the
/// first one installed stays.
pub fn observe_compiles(observer: fn(&CompileEvent)) {
    let _ = OBSERVER.set(observer);
}

fn notify(event: CompileEvent) {
    if let Some(observer) = OBSERVER.get() {
        observer(&event);
    }
}

pub struct CompileCache {
    dir: Option<PathBuf>,
    tag: String,
}

/// `sha256:<hex>` of `bytes`: how flavors are identified.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

impl CompileCache {
    /// A cache in `dir` (created on first write); `None` compiles every time.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        CompileCache {
            dir,
            tag: compatibility_tag(engine),
        }
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.dir.as_ref()?.join(format!("{hex}-{}.cwasm", self.tag)))
    }

    /// The compiled component with `digest`, from the cache or compiled from
    /// `wasm` (which must hash to `digest`).
    pub fn load(&self, engine: &Engine, digest: &str, wasm: &[u8]) -> Result<Component> {
        let path = self.path(digest);
        if let Some(component) = path.as_deref().and_then(|p| load_cached(engine, p)) {
            return Ok(component);
        }
        notify(CompileEvent::Started {
            wasm_bytes: wasm.len(),
        });
        let started = Instant::now();
        let compiled = compile(engine, wasm)?;
        notify(CompileEvent::Finished {
            wasm_bytes: wasm.len(),
            elapsed: started.elapsed(),
        });
        if let Some(path) = path {
            // A cache that cannot be written only costs time.
            if let Err(err) = store_cached(&path, &compiled) {
                tracing::warn!("cannot write compile cache {}: {err}", path.display());
            }
        }
        // SAFETY: `compiled` was produced by `Engine::precompile_component`
        // on this very engine an instant ago.
        unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| Error::host(format!("cannot load compiled component: {e}")))
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Vec<u8>> {
    engine
        .precompile_component(wasm)
        .map_err(|e| Error::invalid(format!("not a valid component: {}", one_line(&e))))
}

/// The first line of an error and its causes, for one-line messages.
pub fn one_line(err: &wasmtime::Error) -> String {
    format!("{err:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn load_cached(engine: &Engine, path: &Path) -> Option<Component> {
    let file = std::fs::read(path).ok()?;
    if file.len() <= CHECKSUM_LEN {
        return None;
    }
    let (checksum, compiled) = file.split_at(CHECKSUM_LEN);
    if Sha256::digest(compiled).as_slice() != checksum {
        tracing::warn!("ignoring corrupt compile cache entry {}", path.display());
        return None;
    }
    // SAFETY: the checksum proves these are the bytes `store_cached` wrote,
    // which came from `Engine::precompile_component` on an engine with the
    // same compatibility hash (it is part of the file name).
    unsafe { Component::deserialize(engine, compiled) }.ok()
}

fn store_cached(path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a directory");
    std::fs::create_dir_all(dir)?;
    let mut contents = Vec::with_capacity(CHECKSUM_LEN + compiled.len());
    contents.extend_from_slice(&Sha256::digest(compiled));
    contents.extend_from_slice(compiled);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(&tmp, &contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The built-in flavor's component, as the runtime embeds it.
    const LOCAL_WASM: &[u8] = include_bytes!(env!("FLAVORBOX_LOCAL_WASM"));
    const LOCAL_DIGEST: &str = env!("FLAVORBOX_LOCAL_DIGEST");

    fn entries(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect()
    }

    #[test]
    fn a_damaged_entry_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = super::super::engine::new_engine().unwrap();
        let cache = CompileCache::new(&engine, Some(dir.path().to_path_buf()));
        cache.load(&engine, LOCAL_DIGEST, LOCAL_WASM).unwrap();
        let [entry] = entries(dir.path()).try_into().unwrap();
        let good = std::fs::read(&entry).unwrap();
        assert!(load_cached(&engine, &entry).is_some());

        // A flipped byte and a truncated file both fail the checksum.
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        for damaged in [flipped, good[..good.len() / 3].to_vec(), Vec::new()] {
            std::fs::write(&entry, &damaged).unwrap();
            assert!(load_cached(&engine, &entry).is_none());
            cache.load(&engine, LOCAL_DIGEST, LOCAL_WASM).unwrap();
            assert_eq!(
                std::fs::read(&entry).unwrap(),
                good,
                "the entry was rewritten"
            );
        }
    }

    #[test]
    fn digests_that_are_not_sha256_never_name_a_file() {
        let engine = super::super::engine::new_engine().unwrap();
        let cache = CompileCache::new(&engine, Some(PathBuf::from("/tmp")));
        assert!(cache.path("sha256:../../etc/passwd").is_none());
        assert!(cache.path("md5:abc").is_none());
        assert!(cache.path(LOCAL_DIGEST).is_some());
    }
}
