//! The sandbox: the only crate that depends on wasmtime.
//!
//! One [`Runtime`] holds one `Engine` (pooling allocator, epoch
//! interruption, deterministic floats, no wasm threads) and one `Linker`.
//! [`Runtime::load`] turns bytes into a [`Plugin`]: size bound, digest,
//! policy pin check, compile (cached on disk, bounded in time), contract
//! version detection, import allow-list, `InstancePre`, `describe()`.
//! Everything that depends on the contract version lives in [`contract`].
//! [`Plugin::session`] instantiates into a fresh `Store` per session; a
//! session that trapped or failed is never used again.

mod cache;
pub mod capture;
mod contract;
pub mod policy;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
};

pub use cache::{Compiler, compile_child_main};
pub use capture::{Dropped, GuestOutput};
pub use contract::SUPPORTED_CONTRACTS;
use contract::{ContractPre, ContractSession, ContractVersion, GuestResult};
use state::{LimitHit, SleptPastBound, Stopped, StoreState};
pub use state::{LogLine, Stop};

use crate::policy::{EffectiveGrant, Grant, Policy, PolicyError};
use sluice_core::Digest;
use sluice_core::contract::{Metric, ParamError, Params, StepError, StepInfo};
use sluice_core::units::format_size;
use sluice_core::{Chunk, ColumnType};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("plugin `{plugin}`: {size} bytes is over the {limit}-byte limit for plugin files")]
    TooLarge {
        plugin: String,
        size: usize,
        limit: usize,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("plugin `{plugin}`: not a valid WebAssembly component: {message}")]
    Invalid { plugin: String, message: String },
    #[error("plugin `{plugin}`: refused at load: over a host limit: {message}")]
    HostLimit { plugin: String, message: String },
    #[error(
        "plugin `{plugin}`: the grant's `{field}` = {granted} is above what this host can give ({limit}); lower it in the policy"
    )]
    GrantOverHostLimit {
        plugin: String,
        field: &'static str,
        granted: String,
        limit: String,
    },
    #[error("plugin `{plugin}`: refused at load: its describe() {message}")]
    BadDescription { plugin: String, message: String },
    #[error("plugin `{plugin}`: compiling took longer than {limit:?}; refused")]
    CompileTimeout { plugin: String, limit: Duration },
    #[error(
        "plugin `{plugin}`: compiling could not start within {limit:?}: an earlier compile that outlived its bound still holds the host's compile slot"
    )]
    CompileBusy { plugin: String, limit: Duration },
    #[error(
        "plugin `{plugin}`: does not export `sluice:plugin/step` (exports: {exports}); is it a sluice plugin?"
    )]
    NotAPlugin { plugin: String, exports: String },
    #[error(
        "plugin `{plugin}`: built for plugin contract sluice:plugin@{found}; this host supports {supported}"
    )]
    UnsupportedVersion {
        plugin: String,
        found: String,
        supported: String,
    },
    #[error(
        "plugin `{plugin}`: refused at load: it imports what its grant does not allow: {imports}"
    )]
    ImportsRefused { plugin: String, imports: String },
    #[error("plugin `{plugin}`: CPU limit: `{call}` ran past its {budget:?} budget (policy `cpu`)")]
    CpuLimit {
        plugin: String,
        call: &'static str,
        budget: Duration,
    },
    #[error(
        "plugin `{plugin}`: `{call}` slept past its time bound: it asked to sleep {asked:?} after {slept:?} in this call, over the call's {budget:?} (policy `cpu`; sleeping is virtual and counts against it)"
    )]
    SleepLimit {
        plugin: String,
        call: &'static str,
        asked: Duration,
        slept: Duration,
        budget: Duration,
    },
    #[error("plugin `{plugin}`: stopped inside `{call}`: the run was cancelled")]
    Cancelled { plugin: String, call: &'static str },
    #[error(
        "plugin `{plugin}`: step timeout: stopped inside `{call}` at the step's deadline (policy `timeout`)"
    )]
    StepTimeout { plugin: String, call: &'static str },
    #[error(
        "plugin `{plugin}`: memory limit: `{call}` tried to grow linear memory to {desired}, the grant allows {limit} (policy `memory`)"
    )]
    MemoryLimit {
        plugin: String,
        call: &'static str,
        desired: String,
        limit: String,
    },
    #[error(
        "plugin `{plugin}`: table limit: `{call}` tried to grow a table to {desired} elements, the grant allows {limit} (policy `table_elements`)"
    )]
    TableLimit {
        plugin: String,
        call: &'static str,
        desired: usize,
        limit: u64,
    },
    #[error("plugin `{plugin}`: stack overflow in `{call}` (runaway recursion)")]
    StackOverflow { plugin: String, call: &'static str },
    #[error("plugin `{plugin}`: trapped in `{call}`: {message}{stderr}")]
    Trap {
        plugin: String,
        call: &'static str,
        message: String,
        stderr: String,
    },
    #[error("plugin `{plugin}`: `{call}` returned an error: {error}")]
    Step {
        plugin: String,
        call: &'static str,
        error: StepError,
    },
    #[error("plugin `{plugin}`: output rejected: {problem}")]
    BadOutput { plugin: String, problem: String },
    #[error("plugin `{plugin}`: output limit: {problem} (policy `{field}`)")]
    OutputLimit {
        plugin: String,
        problem: String,
        field: &'static str,
    },
    #[error("plugin `{plugin}`: this session failed earlier and cannot be used again")]
    Poisoned { plugin: String },
    #[error("plugin `{plugin}`: {error}")]
    Params { plugin: String, error: ParamError },
    #[error("plugin `{plugin}`: {message}")]
    Host { plugin: String, message: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// Tunables of a [`Runtime`]; the defaults suit the CLI and tests.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached (`None` = no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// Plugin files larger than this are refused before hashing.
    pub max_plugin_bytes: usize,
    /// Compiling one plugin may take at most this long.
    pub compile_timeout: Duration,
    /// Where compiles run: a thread of this process, or a child process
    /// that is killed at `compile_timeout` (what the `sluice` binary uses).
    pub compiler: Compiler,
    /// Epoch tick: the granularity of CPU budgets.
    pub epoch_tick: Duration,
    /// Live sessions (instances) at once.
    pub max_instances: u32,
    /// Largest linear memory any grant may allow.
    pub max_memory: u64,
    /// Largest table (elements) any grant may allow: the instance pool's
    /// table slots are this size.
    pub max_table_elements: u32,
    /// Enforce CPU budgets with epoch interruption. Turning this off removes
    /// the CPU limit entirely: it exists to measure the limit's overhead.
    pub epoch_interruption: bool,
    /// How the instance pool recycles slots (session start-up cost).
    pub pool: PoolTuning,
}

/// wasmtime's knobs for recycling pooled instance slots. The defaults are
/// what `cargo bench -p sluice --bench runtime -- pool` measured fastest
/// (docs/BENCHMARKS.md); the other values exist to measure them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTuning {
    /// Bytes of each linear memory reset in place (memset) rather than
    /// returned to the kernel when a slot is freed: a session's working
    /// set stays mapped, so the next one takes no page faults on it.
    pub memory_keep_resident: usize,
    /// The same for tables.
    pub table_keep_resident: usize,
    /// Reset only the pages the last session touched, found with Linux's
    /// `PAGEMAP_SCAN` (6.7+; ignored where unavailable).
    pub pagemap_scan: bool,
    /// Map a component's initial memory image copy-on-write instead of
    /// copying it in at every instantiation.
    pub memory_init_cow: bool,
    /// Fill function tables on first use instead of at instantiation.
    pub table_lazy_init: bool,
}

impl Default for PoolTuning {
    fn default() -> Self {
        PoolTuning {
            memory_keep_resident: 256 << 10,
            table_keep_resident: 64 << 10,
            pagemap_scan: true,
            memory_init_cow: true,
            table_lazy_init: true,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_plugin_bytes: 32 << 20,
            compile_timeout: Duration::from_secs(60),
            compiler: Compiler::Thread,
            epoch_tick: Duration::from_millis(5),
            max_instances: 64,
            max_memory: 4 << 30,
            max_table_elements: 100_000,
            epoch_interruption: true,
            pool: PoolTuning::default(),
        }
    }
}

struct EpochTicker {
    stop: Arc<AtomicBool>,
    ticks: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU64::new(0));
        let (thread_stop, thread_ticks) = (stop.clone(), ticks.clone());
        let thread = std::thread::Builder::new()
            .name("sluice-epoch".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                    thread_ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("spawn epoch thread");
        EpochTicker {
            stop,
            ticks,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<StoreState>,
    config: RuntimeConfig,
    ticker: EpochTicker,
    compile_slot: Arc<cache::CompileSlot>,
}

/// The sandbox host. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runtime(Arc<Inner>);

/// Guest-supplied text (a declared name) as it may appear in messages:
/// control characters escaped, at most 64 characters.
pub fn guest_text(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut shown: String = text
        .chars()
        .take(MAX_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

fn host_error(plugin: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Host {
        plugin: plugin.to_string(),
        message: format!("{e:#}"),
    }
}

/// The most text a plugin's `describe()` may hold: the host keeps it for
/// as long as the plugin is loaded and shows it to people.
pub const DESCRIPTION_LIMIT: usize = 64 << 10;
/// The longest declared name, version, column or param name.
const NAME_LIMIT: usize = 128;

/// Refuses a description the host would have to keep or show unsafely:
/// names and version are short plain text (they reach the store and every
/// listing), and all of it together is bounded. Free text (summary, docs)
/// may hold anything; it is escaped wherever it is shown.
fn check_description(info: &StepInfo) -> Result<(), String> {
    let plain = |what: &str, text: &str, allowed: fn(char) -> bool| {
        if text.is_empty() || text.len() > NAME_LIMIT || !text.chars().all(allowed) {
            Err(format!(
                "{what} `{}` must be 1 to {NAME_LIMIT} bytes of letters, digits and `-_.`{}",
                guest_text(text),
                if what == "version" { "+" } else { "" }
            ))
        } else {
            Ok(())
        }
    };
    let identifier = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    plain("name", &info.name, identifier)?;
    plain("version", &info.version, |c| {
        c.is_ascii_alphanumeric() || "-_.+".contains(c)
    })?;
    let mut total = info.name.len() + info.version.len() + info.summary.len();
    for param in &info.params {
        if param.name.is_empty()
            || param.name.len() > NAME_LIMIT
            || param.name.contains(char::is_control)
        {
            return Err(format!(
                "param name `{}` is empty, too long or holds control characters",
                guest_text(&param.name)
            ));
        }
        total += param.name.len() + param.doc.len();
        total += param.default.as_ref().map_or(0, |d| d.to_string().len());
    }
    for column in info.reads.iter().chain(&info.writes) {
        if column.name.len() > NAME_LIMIT || column.name.contains(char::is_control) {
            return Err(format!(
                "column name `{}` is too long or holds control characters",
                guest_text(&column.name)
            ));
        }
        total += column.name.len() + column.doc.len();
        total += column.name_param.as_ref().map_or(0, String::len);
    }
    if total > DESCRIPTION_LIMIT {
        return Err(format!(
            "holds {} of text, over the {} the host keeps",
            format_size(total as u64),
            format_size(DESCRIPTION_LIMIT as u64)
        ));
    }
    Ok(())
}

/// The engine's settings that decide the compiled code. A compile child
/// uses exactly these (without the instance pool, which does not change
/// the code), so its artifacts load in the host's engine.
fn engine_config(config: &RuntimeConfig) -> Config {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .memory_init_cow(config.pool.memory_init_cow)
        .table_lazy_init(config.pool.table_lazy_init)
        .epoch_interruption(config.epoch_interruption)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        .concurrency_support(false)
        .parallel_compilation(true);
    wasm
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 4)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 4)
            .max_memory_size(config.max_memory as usize)
            .table_elements(config.max_table_elements as usize)
            .linear_memory_keep_resident(config.pool.memory_keep_resident)
            .table_keep_resident(config.pool.table_keep_resident)
            .pagemap_scan(match config.pool.pagemap_scan {
                true => Enabled::Auto,
                false => Enabled::No,
            });
        let mut wasm = engine_config(&config);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| host_error("<engine>", e))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| host_error("<linker>", e))?;
        // The monotonic clock is the host's own: virtual readings and
        // virtual sleeps (wasmtime-wasi's waits on the real clock, outside
        // any CPU budget).
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<
            StoreState,
            state::VirtualClock,
        >(&mut linker, StoreState::virtual_clock)
        .map_err(|e| host_error("<linker>", e))?;
        linker.allow_shadowing(false);
        contract::add_to_linker(&mut linker).map_err(|e| host_error("<linker>", e))?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick);
        Ok(Runtime(Arc::new(Inner {
            engine,
            linker,
            config,
            ticker,
            compile_slot: Default::default(),
        })))
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.0.config
    }

    /// Epoch ticks elapsed since the runtime started.
    fn ticks(&self) -> u64 {
        self.0.ticker.ticks.load(Ordering::Relaxed)
    }

    /// Reads a plugin file, refusing one over `max_plugin_bytes` before
    /// reading it: the size is checked on the metadata, and the read is
    /// bounded too (the file may grow, or not be a regular file).
    pub fn read_plugin_file(&self, path: &Path, plugin: &str) -> Result<Vec<u8>, RuntimeError> {
        let io = |e: std::io::Error| RuntimeError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let limit = self.0.config.max_plugin_bytes;
        let too_large = |size: u64| RuntimeError::TooLarge {
            plugin: plugin.to_string(),
            size: size as usize,
            limit,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > limit as u64 {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(file, limit as u64 + 1), &mut bytes)
            .map_err(io)?;
        if bytes.len() > limit {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }

    /// Loads a plugin file; without `name` it is known by its path.
    pub fn load_file(
        &self,
        path: &Path,
        name: Option<&str>,
        policy: &Policy,
    ) -> Result<Plugin, RuntimeError> {
        let label = name
            .map(str::to_string)
            .unwrap_or_else(|| path.display().to_string());
        let bytes = self.read_plugin_file(path, &label)?;
        self.load(&bytes, Some(&label), policy)
    }

    /// Loads a plugin from its bytes. `name` is what the pipeline or user
    /// calls it: the grant is the policy entry for that name (whose digest
    /// pin is checked before compiling) or for these bytes' digest, never
    /// the entry for the name the plugin declares itself (see
    /// docs/SECURITY.md, Identity). Only a plugin that passed every check
    /// is kept in the compile cache.
    pub fn load(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        policy: &Policy,
    ) -> Result<Plugin, RuntimeError> {
        if bytes.len() > self.0.config.max_plugin_bytes {
            return Err(RuntimeError::TooLarge {
                plugin: name.unwrap_or("<unnamed>").to_string(),
                size: bytes.len(),
                limit: self.0.config.max_plugin_bytes,
            });
        }
        let digest = Digest::of(bytes);
        // unnamed bytes are known by their digest, never by what they declare
        let label = name.map_or_else(|| digest.to_string(), str::to_string);
        let grant = policy.grant_for(name, &digest)?;
        self.load_granted(bytes, digest, label, grant, policy)
    }

    /// Loads a plugin under an explicit `grant` instead of a policy entry:
    /// the grant a registered model's plugin ran with at training, as its
    /// lineage recorded it (`sluice predict` without `--policy`). `name` is
    /// the name it was granted by then.
    pub fn load_with_grant(
        &self,
        bytes: &[u8],
        name: &str,
        grant: Grant,
    ) -> Result<Plugin, RuntimeError> {
        if bytes.len() > self.0.config.max_plugin_bytes {
            return Err(RuntimeError::TooLarge {
                plugin: name.to_string(),
                size: bytes.len(),
                limit: self.0.config.max_plugin_bytes,
            });
        }
        let digest = Digest::of(bytes);
        self.load_granted(bytes, digest, name.to_string(), grant, &Policy::deny_all())
    }

    /// Compiles, checks and describes `bytes` under `grant`; `policy` only
    /// supplies pins on the name the plugin declares.
    fn load_granted(
        &self,
        bytes: &[u8],
        digest: Digest,
        label: String,
        grant: Grant,
        policy: &Policy,
    ) -> Result<Plugin, RuntimeError> {
        self.check_grant_fits(&label, &grant)?;
        let started = Instant::now();
        let compiled = cache::compile(
            &self.0.engine,
            &self.0.config,
            &self.0.compile_slot,
            bytes,
            &digest,
            &label,
        )?;
        let compile_time = started.elapsed();

        let engine = &self.0.engine;
        let ty = compiled.component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let (version, step_export) = ContractVersion::detect(&label, &exports)?;
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let refused: Vec<String> = imports
            .iter()
            .filter(|i| !grant.allows_import(i))
            .map(|i| format!("`{i}` ({})", grant.import_refusal(i)))
            .collect();
        if !refused.is_empty() {
            return Err(RuntimeError::ImportsRefused {
                plugin: label,
                imports: refused.join(", "),
            });
        }

        let pre = self
            .0
            .linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| host_error(&label, e))?;
        let pre = ContractPre::new(version, pre).map_err(|e| host_error(&label, e))?;
        let mut plugin = Plugin {
            runtime: self.clone(),
            label,
            digest,
            info: None,
            grant,
            imports,
            contract: step_export,
            pre,
            compile_time,
            cache_hit: compiled.cache_hit,
        };
        let info = plugin.describe()?;
        if let Err(message) = check_description(&info) {
            compiled.discard();
            return Err(RuntimeError::BadDescription {
                plugin: plugin.label,
                message,
            });
        }
        // The declared name may only narrow: a pin on it still refuses other
        // bytes (renaming a file does not dodge it), but its grant is never
        // given. It is only known after compiling and `describe()`, so a
        // refusal also drops the compiled artifact from the cache.
        if plugin.label != info.name
            && let Err(e) = policy.check_declared_name(&plugin.label, &info.name, &digest)
        {
            compiled.discard();
            return Err(e.into());
        }
        plugin.info = Some(info);
        compiled.keep();
        Ok(plugin)
    }

    /// Refuses a grant the instance pool cannot honour (rather than letting
    /// the pool cap it silently).
    fn check_grant_fits(&self, plugin: &str, grant: &Grant) -> Result<(), RuntimeError> {
        let config = &self.0.config;
        let over = |field, granted: String, limit: String| {
            Err(RuntimeError::GrantOverHostLimit {
                plugin: plugin.to_string(),
                field,
                granted,
                limit,
            })
        };
        if grant.limits.table_elements > u64::from(config.max_table_elements) {
            return over(
                "table_elements",
                grant.limits.table_elements.to_string(),
                config.max_table_elements.to_string(),
            );
        }
        if grant.limits.memory > config.max_memory {
            return over(
                "memory",
                format_size(grant.limits.memory),
                format_size(config.max_memory),
            );
        }
        Ok(())
    }
}

/// A compiled, checked plugin ready to open sessions.
pub struct Plugin {
    runtime: Runtime,
    label: String,
    digest: Digest,
    info: Option<StepInfo>,
    grant: Grant,
    imports: Vec<String>,
    contract: String,
    pre: ContractPre,
    compile_time: Duration,
    cache_hit: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.label)
            .field("digest", &self.digest)
            .field("contract", &self.contract)
            .finish()
    }
}

/// Resource use of one session, for run reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SessionStats {
    pub calls: u64,
    pub guest_time: Duration,
    /// Epoch ticks observed during guest calls (CPU budget accounting).
    pub epochs: u64,
    pub peak_memory: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Log lines and metrics that did not fit the `log` budget.
    pub log_dropped: u64,
    /// Bytes of stdout and stderr that did not fit the `log` budget.
    pub stdio_dropped: u64,
}

impl Plugin {
    /// The name the plugin was loaded under (the pipeline's `plugin`, the
    /// file, `--name`, or its digest): the name it is granted and shown by.
    pub fn name(&self) -> &str {
        &self.label
    }

    /// The name the plugin gives itself in `describe()`: a claim, not an
    /// identity.
    pub fn declared_name(&self) -> &str {
        &self.info().name
    }

    /// How to show the plugin: its name, and what it declares itself when
    /// that differs (escaped and bounded: it is guest text).
    pub fn display_name(&self) -> String {
        if self.declared_name() == self.label {
            self.label.clone()
        } else {
            format!(
                "{} (declares `{}`)",
                self.label,
                guest_text(self.declared_name())
            )
        }
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn info(&self) -> &StepInfo {
        self.info.as_ref().expect("described at load")
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Every import of the component, e.g. `wasi:io/streams@0.2.6`.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The contract export, e.g. `sluice:plugin/step@0.1.0`.
    pub fn contract(&self) -> &str {
        &self.contract
    }

    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Checks params against `describe()` and intersects the declaration
    /// with the grant.
    pub fn effective_grant(
        &self,
        given: &[(String, sluice_core::contract::ParamValue)],
    ) -> Result<(Params, EffectiveGrant), RuntimeError> {
        let params = self
            .info()
            .resolve_params(given)
            .map_err(|error| RuntimeError::Params {
                plugin: self.label.clone(),
                error,
            })?;
        let effective = EffectiveGrant::new(&self.label, self.info(), &params, &self.grant)?;
        Ok((params, effective))
    }

    fn new_store(&self) -> Result<Store<StoreState>, RuntimeError> {
        let state = StoreState::new(&self.label, &self.digest, &self.grant)
            .map_err(|e| host_error(&self.label, e))?;
        let mut store = Store::new(&self.runtime.0.engine, state);
        store.limiter(|state| &mut state.limiter);
        // the CPU budget is handed out in slices, so that cancellation and
        // the step's deadline stop a guest inside a call too
        store.epoch_deadline_callback(|mut store| store.data_mut().call.on_deadline());
        // wasmtime charges every lift (a returned chunk, a log line's string)
        // against this many bytes: the output bound holds before the host
        // allocates anything, with a little room for offsets and names
        store
            .set_hostcall_fuel(self.grant.limits.max_output_bytes.saturating_add(1 << 20) as usize);
        Ok(store)
    }

    /// The grant's CPU budget in epoch ticks.
    fn cpu_ticks(&self) -> u64 {
        let tick = self.runtime.0.config.epoch_tick.as_nanos();
        self.grant.limits.cpu.as_nanos().div_ceil(tick).max(1) as u64
    }

    fn describe(&self) -> Result<StepInfo, RuntimeError> {
        let mut store = self.new_store()?;
        let mut call = GuestCall::new(self, &mut store);
        let instance = call.run("instantiate", |store| self.pre.instantiate(store).map(Ok))?;
        call.run("describe", |store| instance.describe(store).map(Ok))
    }

    /// A fresh store and instance, without calling into the guest: what
    /// opening a session costs before the plugin's own `open` runs
    /// (benchmarks measure the two apart). The pool slot is held until
    /// the returned value is dropped.
    pub fn instantiate(&self) -> Result<Instantiated, RuntimeError> {
        let mut store = self.new_store()?;
        GuestCall::new(self, &mut store)
            .run("instantiate", |store| self.pre.instantiate(store).map(Ok))?;
        Ok(Instantiated { _store: store })
    }

    /// Opens a session in a fresh store: `state` is fitted state from an
    /// earlier [`Session::finish_fit`].
    pub fn session(
        &self,
        params: &Params,
        effective: &EffectiveGrant,
        state: Option<&[u8]>,
    ) -> Result<Session<'_>, RuntimeError> {
        self.session_until(params, effective, state, Stop::default())
    }

    /// [`Plugin::session`] whose every call (`open` included) also stops
    /// at `stop`'s deadline or cancellation, inside the guest.
    pub fn session_until(
        &self,
        params: &Params,
        effective: &EffectiveGrant,
        state: Option<&[u8]>,
        stop: Stop,
    ) -> Result<Session<'_>, RuntimeError> {
        let mut store = self.new_store()?;
        store.data_mut().call.stop = stop;
        let instance = GuestCall::new(self, &mut store)
            .run("instantiate", |store| self.pre.instantiate(store).map(Ok))?;
        let mut stats = SessionStats::default();
        let contract = {
            let mut call = GuestCall::new(self, &mut store);
            let contract = call.run("open", |store| instance.open(store, params, state));
            stats.absorb(&call);
            contract?
        };
        Ok(Session {
            plugin: self,
            store,
            contract,
            effective: effective.clone(),
            stats,
            poisoned: false,
        })
    }
}

/// A live instance without a session (see [`Plugin::instantiate`]); its
/// pool slot is freed on drop.
pub struct Instantiated {
    _store: Store<StoreState>,
}

/// Bookkeeping around one guest call: CPU deadline, timing, and turning
/// traps into errors that name the plugin and the limit.
struct GuestCall<'a> {
    plugin: &'a Plugin,
    store: &'a mut Store<StoreState>,
    elapsed: Duration,
    epochs: u64,
}

impl<'a> GuestCall<'a> {
    fn new(plugin: &'a Plugin, store: &'a mut Store<StoreState>) -> Self {
        GuestCall {
            plugin,
            store,
            elapsed: Duration::ZERO,
            epochs: 0,
        }
    }

    fn run<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Store<StoreState>) -> GuestResult<R>,
    ) -> Result<R, RuntimeError> {
        let runtime = &self.plugin.runtime;
        let budget = self.plugin.grant.limits.cpu;
        let first_slice = self
            .store
            .data_mut()
            .call
            .start(self.plugin.cpu_ticks(), budget);
        if runtime.0.config.epoch_interruption {
            self.store.set_epoch_deadline(first_slice);
        }
        let (start, start_ticks) = (Instant::now(), runtime.ticks());
        let result = f(self.store);
        self.elapsed += start.elapsed();
        self.epochs += runtime.ticks() - start_ticks;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(RuntimeError::Step {
                plugin: self.plugin.label.clone(),
                call,
                error,
            }),
            Err(error) => Err(self.classify_trap(call, budget, error)),
        }
    }

    fn classify_trap(
        &self,
        call: &'static str,
        budget: Duration,
        error: wasmtime::Error,
    ) -> RuntimeError {
        let plugin = self.plugin.label.clone();
        let state = self.store.data();
        match state.limiter.hit {
            Some(LimitHit::Memory { desired }) => {
                return RuntimeError::MemoryLimit {
                    plugin,
                    call,
                    desired: format_size(desired as u64),
                    limit: format_size(self.plugin.grant.limits.memory),
                };
            }
            Some(LimitHit::Table { desired }) => {
                return RuntimeError::TableLimit {
                    plugin,
                    call,
                    desired,
                    limit: self.plugin.grant.limits.table_elements,
                };
            }
            None => {}
        }
        if let Some(slept) = error.downcast_ref::<SleptPastBound>() {
            return RuntimeError::SleepLimit {
                plugin,
                call,
                asked: slept.asked,
                slept: slept.slept,
                budget,
            };
        }
        match error.downcast_ref::<Stopped>() {
            Some(Stopped::Cancelled) => return RuntimeError::Cancelled { plugin, call },
            Some(Stopped::Deadline) => return RuntimeError::StepTimeout { plugin, call },
            None => {}
        }
        // wasmtime reports exhausted hostcall fuel as a plain error message
        if format!("{error:#}").contains("fuel allocated for hostcalls has been exhausted") {
            return RuntimeError::OutputLimit {
                plugin,
                problem: format!(
                    "`{call}` returned more than {}",
                    format_size(self.plugin.grant.limits.max_output_bytes)
                ),
                field: "max_output_bytes",
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => RuntimeError::CpuLimit {
                plugin,
                call,
                budget,
            },
            Some(Trap::StackOverflow) => RuntimeError::StackOverflow { plugin, call },
            _ => {
                let tail = state.stderr_tail();
                let stderr = match tail.is_empty() {
                    true => String::new(),
                    false => format!("\nplugin stderr:\n{tail}"),
                };
                let message = match error.downcast_ref::<Trap>() {
                    Some(trap) => trap.to_string(),
                    None => format!("{error:#}"),
                };
                RuntimeError::Trap {
                    plugin,
                    call,
                    message,
                    stderr,
                }
            }
        }
    }
}

impl SessionStats {
    /// Adds another session's figures (peak memory: the larger).
    pub fn add(&mut self, other: &SessionStats) {
        self.calls += other.calls;
        self.guest_time += other.guest_time;
        self.epochs += other.epochs;
        self.peak_memory = self.peak_memory.max(other.peak_memory);
        self.rows_in += other.rows_in;
        self.rows_out += other.rows_out;
        self.log_dropped += other.log_dropped;
        self.stdio_dropped += other.stdio_dropped;
    }

    fn absorb(&mut self, call: &GuestCall<'_>) {
        self.calls += 1;
        self.guest_time += call.elapsed;
        self.epochs += call.epochs;
        let state = call.store.data();
        self.peak_memory = self.peak_memory.max(state.limiter.peak_memory as u64);
        let dropped = state.dropped();
        self.log_dropped = dropped.log_lines + dropped.metrics;
        self.stdio_dropped = dropped.stdout_bytes + dropped.stderr_bytes;
    }
}

/// One use of a plugin, in its own `Store`.
pub struct Session<'p> {
    plugin: &'p Plugin,
    store: Store<StoreState>,
    contract: ContractSession,
    effective: EffectiveGrant,
    stats: SessionStats,
    poisoned: bool,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("plugin", &self.plugin.label)
            .field("stats", &self.stats)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl Session<'_> {
    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Store<StoreState>, &ContractSession) -> GuestResult<R>,
    ) -> Result<R, RuntimeError> {
        if self.poisoned {
            return Err(RuntimeError::Poisoned {
                plugin: self.plugin.label.clone(),
            });
        }
        let contract = &self.contract;
        let mut guest = GuestCall::new(self.plugin, &mut self.store);
        let result = guest.run(call, |store| f(store, contract));
        self.stats.absorb(&guest);
        // A trap leaves the store in an unknown state, and the contract says
        // a session that returned an error is done: never call it again.
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Keeps only the columns the step may see (declared ∩ granted).
    fn restrict_input(&self, mut input: Chunk) -> Chunk {
        input
            .columns
            .retain(|c| self.effective.reads.iter().any(|(name, _)| *name == c.name));
        input
    }

    pub fn fit(&mut self, input: Chunk) -> Result<(), RuntimeError> {
        let input = self.restrict_input(input);
        self.stats.rows_in += u64::from(input.rows);
        self.call("fit", |store, session| session.fit(store, input))
    }

    pub fn finish_fit(&mut self) -> Result<Vec<u8>, RuntimeError> {
        let state = self.call("finish-fit", |store, session| session.finish_fit(store))?;
        if state.len() as u64 > self.plugin.grant.limits.max_output_bytes {
            self.poisoned = true;
            return Err(RuntimeError::OutputLimit {
                plugin: self.plugin.label.clone(),
                problem: format!(
                    "fitted state is {}, over {}",
                    format_size(state.len() as u64),
                    format_size(self.plugin.grant.limits.max_output_bytes)
                ),
                field: "max_output_bytes",
            });
        }
        Ok(state)
    }

    /// Runs `process` on one chunk and validates the result against the
    /// grant, the declaration, the types and the row count.
    pub fn process(&mut self, input: Chunk) -> Result<Chunk, RuntimeError> {
        let rows = input.rows;
        let input = self.restrict_input(input);
        self.stats.rows_in += u64::from(rows);
        let output = self.call("process", |store, session| session.process(store, input))?;
        if let Err(error) = self.check_output(rows, &output) {
            self.poisoned = true;
            return Err(error);
        }
        self.stats.rows_out += u64::from(output.rows);
        Ok(output)
    }

    fn check_output(&self, rows: u32, output: &Chunk) -> Result<(), RuntimeError> {
        let plugin = self.plugin.label.clone();
        let limits = &self.plugin.grant.limits;
        if u64::from(output.rows) > limits.max_output_rows {
            return Err(RuntimeError::OutputLimit {
                plugin,
                problem: format!(
                    "returned {} rows, over {}",
                    output.rows, limits.max_output_rows
                ),
                field: "max_output_rows",
            });
        }
        let bytes = output.byte_size() as u64;
        if bytes > limits.max_output_bytes {
            return Err(RuntimeError::OutputLimit {
                plugin,
                problem: format!(
                    "returned {} in one chunk, over {}",
                    format_size(bytes),
                    format_size(limits.max_output_bytes)
                ),
                field: "max_output_bytes",
            });
        }
        let bad = |problem: String| RuntimeError::BadOutput {
            plugin: plugin.clone(),
            problem,
        };
        if output.rows != rows {
            return Err(bad(format!(
                "returned {} rows for a {rows}-row chunk (process must be row-aligned)",
                output.rows
            )));
        }
        for column in &output.columns {
            let Some((_, ty)) = self
                .effective
                .writes
                .iter()
                .find(|(name, _)| *name == column.name)
            else {
                let declared = StepInfo::resolve_columns(&self.plugin.info().writes, &Vec::new())
                    .iter()
                    .any(|(n, _)| *n == column.name);
                return Err(bad(format!(
                    "wrote column `{}`, which it {}",
                    column.name,
                    if declared {
                        "is not granted (policy `write`)"
                    } else {
                        "did not declare in describe().writes"
                    }
                )));
            };
            let found: ColumnType = column.values.column_type();
            if found != *ty {
                return Err(bad(format!(
                    "column `{}` is {found}, declared {ty}",
                    column.name
                )));
            }
        }
        if let Some((missing, _)) = self
            .effective
            .writes
            .iter()
            .find(|(name, _)| output.column(name).is_none())
        {
            return Err(bad(format!("did not return declared column `{missing}`")));
        }
        output.validate().map_err(|e| bad(e.to_string()))
    }

    /// Ends the session; evaluators return metrics.
    pub fn finish(&mut self) -> Result<Vec<Metric>, RuntimeError> {
        self.call("finish", |store, session| session.finish(store))
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Log lines the plugin wrote through the host `log` import.
    pub fn log(&self) -> &[LogLine] {
        &self.store.data().log
    }

    /// Metrics the plugin recorded through the host `metric` import.
    pub fn metrics(&self) -> &[(String, f64)] {
        &self.store.data().metrics
    }

    /// Captured stdout and stderr (what fit the `log` budget).
    pub fn stdio(&self) -> (String, String) {
        let state = self.store.data();
        (state.stdout.text(), state.stderr.text())
    }

    /// Everything the guest left with the host so far — log, metrics,
    /// stdout, stderr — and what it dropped: the step's record. Still
    /// available after a failed call.
    pub fn output(&self) -> GuestOutput {
        self.store.data().output()
    }
}
