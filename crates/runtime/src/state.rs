//! Per-session store state: the WASI context built from the grant, the
//! resource limiter, and the log and metrics the host imports of every
//! contract version record into, within the session's output budget
//! (see [`crate::capture`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, UpdateDeadline};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
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
    /// The monotonic clock's reading in nanoseconds, shared with the WASI
    /// context's clock and advanced by virtual sleeps.
    clock: Arc<AtomicU64>,
    /// Time accounting of the guest call in progress.
    pub call: CallClock,
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
struct CountingClock(Arc<AtomicU64>);

/// Nanoseconds the monotonic clock advances per reading.
const CLOCK_STEP: u64 = 1_000;

impl HostMonotonicClock for CountingClock {
    fn resolution(&self) -> u64 {
        CLOCK_STEP
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(CLOCK_STEP, Ordering::Relaxed)
    }
}

/// What may stop a guest call besides its own CPU budget: the step's
/// deadline (policy `timeout`) and the run's cancellation flag. Checked
/// inside the call, at every epoch slice.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Stop {
    fn reason(&self) -> Option<Stopped> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Some(Stopped::Cancelled);
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Some(Stopped::Deadline),
            _ => None,
        }
    }
}

/// Why the host stopped a guest call from outside (the trap's payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    #[error("the run was cancelled")]
    Cancelled,
    #[error("the step's deadline passed")]
    Deadline,
}

/// A guest sleep that would carry the call past its time bound (the trap's
/// payload): sleeping is virtual, but it counts against the call's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("asked to sleep {asked:?} after sleeping {slept:?} in this call")]
pub struct SleptPastBound {
    pub asked: Duration,
    pub slept: Duration,
}

/// Epoch ticks between checks of [`Stop`] inside a guest call (with the
/// default 5 ms tick: every 100 ms).
pub const SLICE_TICKS: u64 = 20;

/// Time accounting of one guest call: the CPU ticks it has left (handed
/// out in slices so that [`Stop`] is checked in between), the virtual
/// time it slept, and what else may stop it.
#[derive(Debug, Clone, Default)]
pub struct CallClock {
    remaining_ticks: u64,
    granted_ticks: u64,
    /// The call's time bound (policy `cpu`), which virtual sleeps count against.
    pub budget: Duration,
    pub slept: Duration,
    pub stop: Stop,
}

impl CallClock {
    /// Starts a call with `ticks` of CPU and `budget` of time; returns the
    /// first epoch deadline (a slice).
    pub fn start(&mut self, ticks: u64, budget: Duration) -> u64 {
        self.remaining_ticks = ticks;
        self.budget = budget;
        self.slept = Duration::ZERO;
        self.grant_slice()
    }

    fn grant_slice(&mut self) -> u64 {
        self.granted_ticks = self.remaining_ticks.clamp(1, SLICE_TICKS);
        self.granted_ticks
    }

    /// The epoch deadline was reached: stop the call (cancelled, past the
    /// step's deadline, CPU budget spent) or hand out the next slice.
    pub fn on_deadline(&mut self) -> wasmtime::Result<UpdateDeadline> {
        if let Some(stopped) = self.stop.reason() {
            return Err(wasmtime::Error::new(stopped));
        }
        self.remaining_ticks = self.remaining_ticks.saturating_sub(self.granted_ticks);
        if self.remaining_ticks == 0 {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(self.grant_slice()))
    }
}

/// `wasi:clocks/monotonic-clock` as the host implements it: readings are
/// virtual (see [`CountingClock`]), and so is sleeping. A subscription
/// advances the virtual clock and is ready at once, so no guest ever waits
/// on the host's real clock outside its CPU budget; the time slept counts
/// against the call's bound instead ([`SleptPastBound`]).
pub struct VirtualClock;

impl HasData for VirtualClock {
    type Data<'a> = VirtualClockView<'a>;
}

pub struct VirtualClockView<'a> {
    clock: &'a AtomicU64,
    call: &'a mut CallClock,
    table: &'a mut ResourceTable,
}

/// A pollable that is always ready: the end of a virtual sleep.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

impl VirtualClockView<'_> {
    fn sleep(&mut self, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let asked = Duration::from_nanos(nanos);
        if self.call.slept.saturating_add(asked) > self.call.budget {
            return Err(wasmtime::Error::new(SleptPastBound {
                asked,
                slept: self.call.slept,
            }));
        }
        self.call.slept += asked;
        self.clock.fetch_add(nanos, Ordering::Relaxed);
        let ready = self.table.push(Ready)?;
        subscribe(self.table, ready)
    }
}

impl monotonic_clock::Host for VirtualClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.clock.fetch_add(CLOCK_STEP, Ordering::Relaxed))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(CLOCK_STEP)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.clock.load(Ordering::Relaxed);
        self.sleep(when.saturating_sub(now))
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.sleep(duration)
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
        let clock = Arc::new(AtomicU64::new(0));
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedWallClock)
            .monotonic_clock(CountingClock(clock.clone()))
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
            clock,
            call: CallClock::default(),
        })
    }

    /// The view the host's `wasi:clocks/monotonic-clock` works on.
    pub fn virtual_clock(&mut self) -> VirtualClockView<'_> {
        VirtualClockView {
            clock: &self.clock,
            call: &mut self.call,
            table: &mut self.table,
        }
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
