//! Compiling plugins: bounded in time, cached on disk by digest and engine
//! fingerprint (deserialising a cached artifact takes microseconds where
//! compiling takes tens of milliseconds or more).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
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

/// Where compiles run. Cranelift has no cancellation point, so only a
/// compile in another process can be stopped at its bound.
#[derive(Debug, Clone, Default)]
pub enum Compiler {
    /// A worker thread of this process (libraries and their tests). A
    /// compile over its bound runs on to its end, holding the one compile
    /// slot, so compiles cannot pile up but one can keep the cores busy.
    #[default]
    Thread,
    /// A child process, killed at the bound: `program args…` must run
    /// [`compile_child_main`] (the `sluice` binary does, as the hidden
    /// `compile-plugin` command).
    ChildProcess {
        program: PathBuf,
        args: Vec<std::ffi::OsString>,
    },
}

/// The host's one compile slot (for [`Compiler::Thread`]). A compile that
/// outlives its bound cannot be cancelled and keeps its slot until it ends,
/// so a hostile component can keep one compile (which Cranelift spreads
/// over the cores) busy, but cannot pile up compiles by being loaded again
/// and again.
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

/// Why compiling failed, before it is put in the plugin's words.
enum CompileFailure {
    /// wasmtime refused the bytes (or the compiled artifact).
    Refused(String),
    TimedOut,
    Busy,
    /// The host could not run the compile (spawn, pipes, a crashed child).
    Host(String),
}

/// Cranelift is not bounded by wasmtime's threat model (compile-time
/// resource use is not a vulnerability there), so the host bounds it in
/// time (and, in a child process, in memory).
fn compile_bounded(
    engine: &Engine,
    config: &RuntimeConfig,
    slot: &Arc<CompileSlot>,
    bytes: &[u8],
    plugin: &str,
) -> Result<Component, RuntimeError> {
    let result = match &config.compiler {
        Compiler::Thread => compile_on_thread(engine, config.compile_timeout, slot, bytes),
        Compiler::ChildProcess { program, args } => {
            compile_in_child(engine, config, program, args, bytes)
        }
    };
    let plugin = plugin.to_string();
    match result {
        Ok(component) => Ok(component),
        // the instance pool validates a component's tables and memories
        // as it is compiled or loaded: over one of its bounds is a limit,
        // not a malformed binary
        Err(CompileFailure::Refused(message)) if message.contains("pooling allocator") => {
            Err(RuntimeError::HostLimit {
                plugin,
                message: format!(
                    "{message} (the host's per-instance bounds: RuntimeConfig `max_table_elements` = {} table elements, `max_memory` = {} bytes)",
                    config.max_table_elements, config.max_memory
                ),
            })
        }
        Err(CompileFailure::Refused(message)) => Err(RuntimeError::Invalid { plugin, message }),
        Err(CompileFailure::TimedOut) => Err(RuntimeError::CompileTimeout {
            plugin,
            limit: config.compile_timeout,
        }),
        Err(CompileFailure::Busy) => Err(RuntimeError::CompileBusy {
            plugin,
            limit: config.compile_timeout,
        }),
        Err(CompileFailure::Host(message)) => Err(RuntimeError::Host { plugin, message }),
    }
}

fn compile_on_thread(
    engine: &Engine,
    limit: Duration,
    slot: &Arc<CompileSlot>,
    bytes: &[u8],
) -> Result<Component, CompileFailure> {
    let held = slot.acquire(limit).ok_or(CompileFailure::Busy)?;
    let (sender, receiver) = mpsc::channel();
    let (engine, bytes) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("sluice-compile".into())
        .spawn(move || {
            let _ = sender.send(Component::new(&engine, &bytes));
            drop(held);
        })
        .map_err(|e| CompileFailure::Host(e.to_string()))?;
    match receiver.recv_timeout(limit) {
        Ok(Ok(component)) => Ok(component),
        Ok(Err(e)) => Err(CompileFailure::Refused(format!("{e:#}"))),
        Err(_) => Err(CompileFailure::TimedOut),
    }
}

/// What a compile child may say on stderr that the host keeps.
const CHILD_STDERR_LIMIT: u64 = 4 << 10;
/// The compile child's address-space bound: Cranelift's working memory for
/// the largest plugin file the host accepts, with room to spare.
const CHILD_ADDRESS_SPACE: u64 = 8 << 30;
/// The compiled artifact may be this many times the component's size
/// (real plugins compile to 1–4×).
const COMPILED_GROWTH_LIMIT: u64 = 32;

/// Compiles in a child process that is killed at the deadline, so a
/// compile over its bound stops using the machine at once.
fn compile_in_child(
    engine: &Engine,
    config: &RuntimeConfig,
    program: &Path,
    args: &[std::ffi::OsString],
    bytes: &[u8],
) -> Result<Component, CompileFailure> {
    use std::io::{Read, Seek, Write};
    use std::process::{Command, Stdio};

    let deadline = Instant::now() + config.compile_timeout;
    let host = |what: &str, e: std::io::Error| {
        CompileFailure::Host(format!(
            "compile process `{}`: {what}: {e}",
            program.display()
        ))
    };
    // The component goes in through an unlinked file rather than a pipe:
    // a child that dies early would make a pipe write raise SIGPIPE, which
    // the `sluice` binary leaves at its default action (end the process).
    let mut input = tempfile::tempfile().map_err(|e| host("cannot buffer the component", e))?;
    input
        .write_all(bytes)
        .and_then(|()| input.seek(std::io::SeekFrom::Start(0)).map(drop))
        .map_err(|e| host("cannot buffer the component", e))?;
    let mut child = Command::new(program)
        .args(args)
        .args(child_args(config))
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| host("cannot start", e))?;
    let output_limit = (bytes.len() as u64)
        .saturating_mul(COMPILED_GROWTH_LIMIT)
        .max(64 << 20);
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut compiled = Vec::new();
        let read = (&mut stdout)
            .take(output_limit + 1)
            .read_to_end(&mut compiled);
        // drain the rest so that an oversized artifact ends the child
        // (and is reported as such) instead of blocking it on a full pipe
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        read.map(|_| compiled)
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let error_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut stderr)
            .take(CHILD_STDERR_LIMIT)
            .read_to_end(&mut text);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&text).trim().to_string()
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| host("wait", e))? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let compiled = reader.join().unwrap_or_else(|_| Ok(Vec::new()));
    let message = error_reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(CompileFailure::TimedOut);
    };
    if !status.success() {
        return Err(match status.code() {
            Some(CHILD_REFUSED) => CompileFailure::Refused(message),
            _ => CompileFailure::Host(format!(
                "compile process `{}` ended with {status}: {message}",
                program.display()
            )),
        });
    }
    let compiled = compiled.map_err(|e| host("read its output", e))?;
    if compiled.len() as u64 > output_limit {
        return Err(CompileFailure::Host(format!(
            "compile process `{}` wrote more than {output_limit} bytes",
            program.display()
        )));
    }
    // SAFETY: the bytes come from our own compile process (the binary the
    // host was configured with), as trusted as the on-disk cache: wasmtime
    // still checks the header and engine compatibility.
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(|e| CompileFailure::Refused(format!("{e:#}")))
}

/// What a compile child must know of the host's configuration: the
/// settings [`super::engine_config`] turns into compiled code, and the size
/// bound.
fn child_args(config: &RuntimeConfig) -> Vec<String> {
    vec![
        format!("--epoch-interruption={}", config.epoch_interruption),
        format!("--memory-init-cow={}", config.pool.memory_init_cow),
        format!("--table-lazy-init={}", config.pool.table_lazy_init),
        format!("--max-bytes={}", config.max_plugin_bytes),
    ]
}

/// The configuration [`child_args`] describes; `None` for anything else.
fn parse_child_args(args: &[String]) -> Option<RuntimeConfig> {
    let mut config = RuntimeConfig::default();
    let [epoch, cow, lazy, max_bytes] = args else {
        return None;
    };
    config.epoch_interruption = epoch.strip_prefix("--epoch-interruption=")?.parse().ok()?;
    config.pool.memory_init_cow = cow.strip_prefix("--memory-init-cow=")?.parse().ok()?;
    config.pool.table_lazy_init = lazy.strip_prefix("--table-lazy-init=")?.parse().ok()?;
    config.max_plugin_bytes = max_bytes.strip_prefix("--max-bytes=")?.parse().ok()?;
    Some(config)
}

/// Exit code of a compile child for bytes wasmtime refused.
const CHILD_REFUSED: i32 = 3;

/// The compile child: component bytes on stdin, the precompiled artifact
/// on stdout, a refusal on stderr with exit code 3. `args` are what
/// [`Compiler::ChildProcess`] appends ([`child_args`]). It dies with its parent and is bounded in
/// address space.
pub fn compile_child_main(args: &[String]) -> i32 {
    use std::io::{Read, Write};

    let bound = libc::rlimit {
        rlim_cur: CHILD_ADDRESS_SPACE,
        rlim_max: CHILD_ADDRESS_SPACE,
    };
    // SAFETY: plain system calls on this process's own attributes, with a
    // valid pointer to a local: die with the parent (a killed or crashed
    // host leaves no compile behind) and bound the address space.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::setrlimit(libc::RLIMIT_AS, &bound);
    }
    let Some(config) = parse_child_args(args) else {
        eprintln!(
            "usage: compile-plugin --epoch-interruption=BOOL --memory-init-cow=BOOL --table-lazy-init=BOOL --max-bytes=N < component.wasm > compiled"
        );
        return 2;
    };
    let engine = match Engine::new(&super::engine_config(&config)) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("cannot create the engine: {e:#}");
            return 1;
        }
    };
    let mut bytes = Vec::new();
    let limit = config.max_plugin_bytes as u64;
    if let Err(e) = std::io::stdin().take(limit + 1).read_to_end(&mut bytes) {
        eprintln!("cannot read the component: {e}");
        return 1;
    }
    if bytes.len() as u64 > limit {
        eprintln!("component over the {limit}-byte limit");
        return CHILD_REFUSED;
    }
    match engine.precompile_component(&bytes) {
        Ok(compiled) => match std::io::stdout().lock().write_all(&compiled) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("cannot write the compiled component: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            CHILD_REFUSED
        }
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
