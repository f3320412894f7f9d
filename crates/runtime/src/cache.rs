//! Compiling plugins: bounded in time, cached on disk by digest and engine
//! fingerprint (deserialising a cached artifact takes microseconds where
//! compiling takes tens of milliseconds or more).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

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

/// A compiled component, not yet in the cache: [`Compiled::keep`] stores
/// it once the plugin passed every check, [`Compiled::discard`] makes sure
/// refused bytes leave nothing behind.
pub struct Compiled {
    pub component: Component,
    pub cache_hit: bool,
    path: Option<PathBuf>,
}

impl Compiled {
    pub fn keep(self) {
        if let (Some(path), false) = (&self.path, self.cache_hit) {
            store(&self.component, path);
        }
    }

    pub fn discard(self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The compiled component, from the cache or compiled now.
pub fn compile(
    engine: &Engine,
    config: &RuntimeConfig,
    slot: &Arc<CompileSlot>,
    bytes: &[u8],
    digest: &Digest,
    plugin: &str,
) -> Result<Compiled, RuntimeError> {
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
            Ok(component) => {
                return Ok(Compiled {
                    component,
                    cache_hit: true,
                    path: Some(path.clone()),
                });
            }
            Err(e) => {
                tracing::warn!(plugin, path = %path.display(), "discarding unusable compiled artifact: {e:#}");
                let _ = std::fs::remove_file(path);
            }
        }
    }
    let component = compile_bounded(engine, config, slot, bytes, plugin)?;
    Ok(Compiled {
        component,
        cache_hit: false,
        path,
    })
}

/// The host's one compile slot. A compile that outlives its bound cannot be
/// cancelled (Cranelift has no cancellation point) and keeps its slot until
/// it ends, so a hostile component can keep one compile (which Cranelift
/// spreads over the cores) busy, but cannot pile up compiles by being
/// loaded again and again.
#[derive(Default)]
pub struct CompileSlot {
    busy: Mutex<bool>,
    freed: Condvar,
}

/// Holds the slot; released when dropped (by the compile thread).
struct SlotHeld(Arc<CompileSlot>);

impl CompileSlot {
    /// Waits up to `wait` for the slot.
    fn acquire(self: &Arc<Self>, wait: Duration) -> Option<SlotHeld> {
        let deadline = Instant::now() + wait;
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            let left = deadline.checked_duration_since(Instant::now())?;
            busy = self
                .freed
                .wait_timeout(busy, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *busy = true;
        Some(SlotHeld(self.clone()))
    }
}

impl Drop for SlotHeld {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.0.freed.notify_one();
    }
}

/// Cranelift is not bounded by wasmtime's threat model (compile-time
/// resource use is not a vulnerability there), so the host bounds it:
/// compile on a worker thread and give up after the timeout.
fn compile_bounded(
    engine: &Engine,
    config: &RuntimeConfig,
    slot: &Arc<CompileSlot>,
    bytes: &[u8],
    plugin: &str,
) -> Result<Component, RuntimeError> {
    let Some(held) = slot.acquire(config.compile_timeout) else {
        return Err(RuntimeError::CompileBusy {
            plugin: plugin.to_string(),
            limit: config.compile_timeout,
        });
    };
    let (sender, receiver) = mpsc::channel();
    let (engine, bytes) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("sluice-compile".into())
        .spawn(move || {
            let _ = sender.send(Component::new(&engine, &bytes));
            drop(held);
        })
        .map_err(|e| RuntimeError::Host {
            plugin: plugin.to_string(),
            message: e.to_string(),
        })?;
    match receiver.recv_timeout(config.compile_timeout) {
        Ok(Ok(component)) => Ok(component),
        // the instance pool validates a component's tables and memories
        // as it is compiled: over one of its bounds is a limit, not a
        // malformed binary
        Ok(Err(e)) if format!("{e:#}").contains("pooling allocator") => {
            Err(RuntimeError::HostLimit {
                plugin: plugin.to_string(),
                message: format!(
                    "{e:#} (the host's per-instance bounds: RuntimeConfig `max_table_elements` = {} table elements, `max_memory` = {} bytes)",
                    config.max_table_elements, config.max_memory
                ),
            })
        }
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
