//! Per-session store state: the WASI context built from the grant, the
//! resource limiter, and the bounded log and metrics the host imports of
//! every contract version record into.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::policy::{DirMode, Grant};
use sluice_core::Digest;

/// Which limit stopped a guest, recorded by the limiter so that the trap
/// that follows can be reported as what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Memory { desired: usize },
    Table { desired: usize },
}

pub struct Limiter {
    memory_limit: usize,
    table_limit: usize,
    pub peak_memory: usize,
    pub hit: Option<LimitHit>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.hit = Some(LimitHit::Memory { desired });
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_limit {
            self.hit = Some(LimitHit::Table { desired });
            return Ok(false);
        }
        Ok(true)
    }
}

/// One log line from a plugin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    pub plugin: String,
    pub log: Vec<LogLine>,
    log_bytes: usize,
    log_limit: usize,
    pub log_dropped: usize,
    pub metrics: Vec<(String, f64)>,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

/// A wall clock stopped at 2024-01-01T00:00:00Z: plugins see a time, never
/// the host's time, so outputs do not depend on when a step ran.
struct FixedWallClock;

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(1_704_067_200)
    }
}

/// A monotonic clock that advances 1 µs per reading: durations measured by
/// a plugin are deterministic (and meaningless, by design).
#[derive(Default)]
struct CountingClock(std::sync::atomic::AtomicU64);

impl HostMonotonicClock for CountingClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0
            .fetch_add(1_000, std::sync::atomic::Ordering::Relaxed)
    }
}

impl StoreState {
    /// WASI exactly as granted: no env (unless listed), no args, no
    /// preopens (unless granted), no network, stdio captured, fixed clocks,
    /// randomness seeded from the plugin digest.
    pub fn new(plugin: &str, digest: &Digest, grant: &Grant) -> Result<Self, String> {
        let stdout = MemoryOutputPipe::new(grant.limits.log_bytes as usize);
        let stderr = MemoryOutputPipe::new(grant.limits.log_bytes as usize);
        let seed = u64::from_le_bytes(digest.0[..8].try_into().expect("32-byte digest"));
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedWallClock)
            .monotonic_clock(CountingClock::default())
            .secure_random(StdRng::seed_from_u64(seed))
            .insecure_random(StdRng::seed_from_u64(seed.rotate_left(17)))
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (key, value) in &grant.env {
            builder.env(key, value);
        }
        for dir in &grant.dirs {
            let perms = match dir.mode {
                DirMode::ReadOnly => FsPerms::ReadOnly,
                DirMode::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    format!("cannot open granted directory {}: {e}", dir.host.display())
                })?;
        }
        Ok(StoreState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_limit: grant.limits.memory as usize,
                table_limit: grant.limits.table_elements as usize,
                peak_memory: 0,
                hit: None,
            },
            plugin: plugin.to_string(),
            log: Vec::new(),
            log_bytes: 0,
            log_limit: grant.limits.log_bytes as usize,
            log_dropped: 0,
            metrics: Vec::new(),
            stdout,
            stderr,
        })
    }

    /// Keeps a guest log line unless the session's log bound is reached,
    /// in which case the line is counted as dropped.
    pub fn record_log(&mut self, level: &'static str, message: String) {
        if self.log_bytes + message.len() > self.log_limit {
            self.log_dropped += 1;
            return;
        }
        self.log_bytes += message.len();
        tracing::debug!(plugin = %self.plugin, level, "{message}");
        self.log.push(LogLine { level, message });
    }

    /// Records a guest metric: the last value under a name wins, and at
    /// most 1024 names are kept (more count as dropped).
    pub fn record_metric(&mut self, name: String, value: f64) {
        if let Some(entry) = self.metrics.iter_mut().find(|(n, _)| *n == name) {
            entry.1 = value;
        } else if self.metrics.len() < 1024 {
            self.metrics.push((name, value));
        } else {
            self.log_dropped += 1;
        }
    }

    /// What the guest wrote to stderr (e.g. a panic message), lossy UTF-8.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim_end()
            .to_string()
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
