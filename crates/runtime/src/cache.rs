//! Compiling plugins: bounded in time, cached on disk by digest and engine
//! fingerprint (deserialising a cached artifact takes microseconds where
//! compiling takes tens of milliseconds or more).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::mpsc;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::{RuntimeConfig, RuntimeError};
use sluice_core::Digest;

/// Identifies the engine build and configuration: artifacts compiled under
/// another fingerprint are never loaded.
fn fingerprint(engine: &Engine) -> u64 {
    let mut hasher = DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

fn cache_path(config: &RuntimeConfig, engine: &Engine, digest: &Digest) -> Option<PathBuf> {
    let dir = config.cache_dir.as_ref()?;
    Some(dir.join(format!(
        "{}-{:016x}.cwasm",
        digest.hex(),
        fingerprint(engine)
    )))
}

/// Returns the compiled component and whether it came from the cache.
pub fn compile(
    engine: &Engine,
    config: &RuntimeConfig,
    bytes: &[u8],
    digest: &Digest,
    plugin: &str,
) -> Result<(Component, bool), RuntimeError> {
    let path = cache_path(config, engine, digest);
    if let Some(path) = &path
        && path.exists()
    {
        // Read into memory rather than mmap (`deserialize_file`): a cache
        // file truncated underneath a running process would otherwise SIGBUS.
        let bytes = std::fs::read(path).unwrap_or_default();
        // SAFETY: the cache directory holds only artifacts this host wrote
        // (atomically, named by digest and engine fingerprint); it must be
        // as trusted as the sluice binary itself (see docs/SECURITY.md).
        // wasmtime still checks the header and engine compatibility.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => return Ok((component, true)),
            Err(e) => {
                tracing::warn!(plugin, path = %path.display(), "discarding unusable compiled artifact: {e:#}");
                let _ = std::fs::remove_file(path);
            }
        }
    }
    let component = compile_bounded(engine, config, bytes, plugin)?;
    if let Some(path) = path {
        store(&component, &path);
    }
    Ok((component, false))
}

/// Cranelift is not bounded by wasmtime's threat model (compile-time
/// resource use is not a vulnerability there), so the host bounds it:
/// compile on a worker thread and give up after the timeout.
fn compile_bounded(
    engine: &Engine,
    config: &RuntimeConfig,
    bytes: &[u8],
    plugin: &str,
) -> Result<Component, RuntimeError> {
    let (sender, receiver) = mpsc::channel();
    let (engine, bytes) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("sluice-compile".into())
        .spawn(move || {
            let _ = sender.send(Component::new(&engine, &bytes));
        })
        .map_err(|e| RuntimeError::Host {
            plugin: plugin.to_string(),
            message: e.to_string(),
        })?;
    match receiver.recv_timeout(config.compile_timeout) {
        Ok(Ok(component)) => Ok(component),
        Ok(Err(e)) => Err(RuntimeError::Invalid {
            plugin: plugin.to_string(),
            message: format!("{e:#}"),
        }),
        Err(_) => Err(RuntimeError::CompileTimeout {
            plugin: plugin.to_string(),
            limit: config.compile_timeout,
        }),
    }
}

fn store(component: &Component, path: &PathBuf) {
    let result = (|| -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        let dir = path.parent().expect("cache path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut temp, &bytes).map_err(|e| e.to_string())?;
        temp.persist(path).map_err(|e| e.to_string())?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), "could not cache compiled plugin: {e}");
    }
}
