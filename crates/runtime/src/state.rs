//! Per-session store state: the WASI context built from the grant, the
//! resource limiter, and the log and metrics the host imports of every
//! contract version record into, within the session's output budget
//! (see [`crate::capture`]).

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::capture::{
    Dropped, ENTRY_OVERHEAD, GuestOutput, METRIC_NAME_LIMIT, OutputBudget, StdioCapture,
};
use crate::policy::{DirMode, Grant};
use sluice_core::Digest;
use sluice_core::text;

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

/// One log line from a plugin, its message escaped and bounded
/// ([`text::clean_line`]).
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
    pub metrics: Vec<(String, f64)>,
    /// Shared by the log, the metric names, stdout and stderr.
    budget: Arc<OutputBudget>,
    dropped_lines: u64,
    dropped_metrics: u64,
    pub stdout: StdioCapture,
    pub stderr: StdioCapture,
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
        let budget = OutputBudget::new(grant.limits.log_bytes as usize);
        let stdout = StdioCapture::stdout(&budget);
        let stderr = StdioCapture::stderr(&budget);
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
            metrics: Vec::new(),
            budget,
            dropped_lines: 0,
            dropped_metrics: 0,
            stdout,
            stderr,
        })
    }

    /// Keeps a guest log line (escaped, cut to [`text::MESSAGE_LIMIT`])
    /// if it and its [`ENTRY_OVERHEAD`] fit the budget; counts it as
    /// dropped otherwise.
    pub fn record_log(&mut self, level: &'static str, message: &str) {
        let message = text::clean_line(message, text::MESSAGE_LIMIT);
        if !self.budget.charge_all(message.len() + ENTRY_OVERHEAD) {
            self.dropped_lines += 1;
            return;
        }
        tracing::debug!(plugin = %self.plugin, level, "{message}");
        self.log.push(LogLine { level, message });
    }

    /// Records a guest metric: the last value under a name wins. A new
    /// name costs its length plus [`ENTRY_OVERHEAD`]; names over
    /// [`METRIC_NAME_LIMIT`], past 1024 names or past the budget are
    /// dropped and counted.
    pub fn record_metric(&mut self, name: &str, value: f64) {
        if name.len() > METRIC_NAME_LIMIT {
            self.dropped_metrics += 1;
            return;
        }
        let name = text::clean_line(name, usize::MAX);
        if let Some(entry) = self.metrics.iter_mut().find(|(n, _)| *n == name) {
            entry.1 = value;
            return;
        }
        let fits = self.metrics.len() < 1024 && self.budget.charge_all(name.len() + ENTRY_OVERHEAD);
        match fits {
            true => self.metrics.push((name, value)),
            false => self.dropped_metrics += 1,
        }
    }

    /// What did not fit the budget so far.
    pub fn dropped(&self) -> Dropped {
        Dropped {
            log_lines: self.dropped_lines,
            metrics: self.dropped_metrics,
            stdout_bytes: self.stdout.dropped(),
            stderr_bytes: self.stderr.dropped(),
        }
    }

    /// Everything the guest left with the host, for the step's record.
    pub fn output(&self) -> GuestOutput {
        GuestOutput {
            log: self.log.clone(),
            metrics: self.metrics.clone(),
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            dropped: self.dropped(),
            charged: self.budget.used() as u64,
        }
    }

    /// The end of what the guest wrote to stderr (e.g. a panic message),
    /// escaped, whatever the budget dropped.
    pub fn stderr_tail(&self) -> String {
        // half the message bound: the error quoting it must fit the bound too
        text::clean(self.stderr.tail().trim_end(), text::MESSAGE_LIMIT / 2)
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
