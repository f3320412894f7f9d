//! What a guest can make the host keep — log lines, metric names, stdout
//! and stderr — charged against one byte budget per session (the grant's
//! `log`). Each kept line or metric also costs [`ENTRY_OVERHEAD`], so empty
//! messages are not free; what does not fit is dropped and counted, never
//! kept and never a trap.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes charged per kept log line or metric on top of its text: about
/// what the host spends to keep one (string header, level, vector slot).
pub const ENTRY_OVERHEAD: usize = 64;

/// Longest metric name kept; longer names are dropped, not cut (two cut
/// names could collide).
pub const METRIC_NAME_LIMIT: usize = 256;

/// The last bytes a guest wrote to stderr, kept outside the budget: the
/// panic message that explains a trap must survive a flood of output.
pub const STDERR_TAIL: usize = 2048;

/// Most bytes one stdio write may carry (what `check-write` permits).
const WRITE_PERMIT: usize = 64 << 10;

/// The session's byte budget for everything in this module.
#[derive(Debug)]
pub struct OutputBudget {
    limit: usize,
    used: AtomicUsize,
}

impl OutputBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(OutputBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Charges as many of `bytes` as fit (all or part) and returns how many.
    fn charge_up_to(&self, bytes: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                granted = bytes.min(self.limit.saturating_sub(used));
                Some(used + granted)
            });
        granted
    }

    /// Charges `bytes` only if all of them fit; nothing otherwise.
    pub fn charge_all(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used.checked_add(bytes)? <= self.limit).then_some(used + bytes)
            })
            .is_ok()
    }

    /// Bytes charged so far.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// One captured stdio stream: the bytes that fit the budget, a count of
/// those that did not, and (stderr) the last [`STDERR_TAIL`] bytes.
#[derive(Clone)]
pub struct StdioCapture {
    budget: Arc<OutputBudget>,
    kept: Arc<Mutex<Vec<u8>>>,
    dropped: Arc<AtomicU64>,
    tail: Option<Arc<Mutex<VecDeque<u8>>>>,
}

impl StdioCapture {
    pub fn stdout(budget: &Arc<OutputBudget>) -> Self {
        StdioCapture {
            budget: budget.clone(),
            kept: Arc::default(),
            dropped: Arc::default(),
            tail: None,
        }
    }

    pub fn stderr(budget: &Arc<OutputBudget>) -> Self {
        StdioCapture {
            tail: Some(Arc::default()),
            ..StdioCapture::stdout(budget)
        }
    }

    fn keep(&self, bytes: &[u8]) {
        let fits = self.budget.charge_up_to(bytes.len());
        if fits > 0 {
            let mut kept = self.kept.lock().expect("capture lock");
            kept.extend_from_slice(&bytes[..fits]);
        }
        let over = (bytes.len() - fits) as u64;
        if over > 0 {
            self.dropped.fetch_add(over, Ordering::Relaxed);
        }
        if let Some(tail) = &self.tail {
            let mut tail = tail.lock().expect("capture lock");
            let keep_from = bytes.len().saturating_sub(STDERR_TAIL);
            tail.extend(&bytes[keep_from..]);
            let excess = tail.len().saturating_sub(STDERR_TAIL);
            tail.drain(..excess);
        }
    }

    /// The kept bytes, lossy UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept.lock().expect("capture lock")).into_owned()
    }

    /// Bytes written past the budget.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The last bytes written (stderr only), lossy UTF-8.
    pub fn tail(&self) -> String {
        match &self.tail {
            Some(tail) => {
                let tail = tail.lock().expect("capture lock");
                String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>()).into_owned()
            }
            None => String::new(),
        }
    }
}

impl IsTerminal for StdioCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for StdioCapture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    // Always writable: past the budget, writes are dropped and counted
    // rather than refused, so a chatty guest is not turned into a trap.
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StdioCapture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StdioCapture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.keep(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// What one session's guest left with the host, all within its `log`
/// budget, and what it dropped.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GuestOutput {
    pub log: Vec<crate::LogLine>,
    /// Metrics from the host `metric` import: the last value per name.
    pub metrics: Vec<(String, f64)>,
    pub stdout: String,
    pub stderr: String,
    pub dropped: Dropped,
    /// Bytes charged against the budget (text plus per-entry overhead).
    pub charged: u64,
}

/// What did not fit a session's `log` budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub log_lines: u64,
    pub metrics: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

impl Dropped {
    pub fn any(&self) -> bool {
        *self != Dropped::default()
    }

    pub fn add(&mut self, other: &Dropped) {
        self.log_lines += other.log_lines;
        self.metrics += other.metrics;
        self.stdout_bytes += other.stdout_bytes;
        self.stderr_bytes += other.stderr_bytes;
    }
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} log lines, {} metrics, {} bytes of stdout and {} bytes of stderr dropped (policy `log`)",
            self.log_lines, self.metrics, self.stdout_bytes, self.stderr_bytes
        )
    }
}

impl GuestOutput {
    /// Appends a later session's output (a fitted step's process pass after
    /// its fit pass) within `limit` bytes in all, charged as the sessions
    /// charged them; what does not fit is counted as dropped.
    pub fn append(&mut self, later: GuestOutput, limit: u64) {
        let budget = OutputBudget::new(limit as usize);
        budget.charge_up_to(self.charged as usize);
        self.dropped.add(&later.dropped);
        for line in later.log {
            match budget.charge_all(line.message.len() + ENTRY_OVERHEAD) {
                true => self.log.push(line),
                false => self.dropped.log_lines += 1,
            }
        }
        for (name, value) in later.metrics {
            if let Some(entry) = self.metrics.iter_mut().find(|(n, _)| *n == name) {
                entry.1 = value;
            } else if budget.charge_all(name.len() + ENTRY_OVERHEAD) {
                self.metrics.push((name, value));
            } else {
                self.dropped.metrics += 1;
            }
        }
        for (kept, text, dropped) in [
            (
                &mut self.stdout,
                later.stdout,
                &mut self.dropped.stdout_bytes,
            ),
            (
                &mut self.stderr,
                later.stderr,
                &mut self.dropped.stderr_bytes,
            ),
        ] {
            let mut fits = budget.charge_up_to(text.len());
            while !text.is_char_boundary(fits) {
                fits -= 1;
            }
            kept.push_str(&text[..fits]);
            *dropped += (text.len() - fits) as u64;
        }
        self.charged = budget.used() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_never_overdrawn() {
        let budget = OutputBudget::new(100);
        let stdout = StdioCapture::stdout(&budget);
        let stderr = StdioCapture::stderr(&budget);
        assert!(budget.charge_all(60));
        stdout.keep(&[b'o'; 30]);
        stderr.keep(&[b'e'; 30]);
        assert_eq!(budget.used(), 100);
        assert_eq!((stdout.text().len(), stdout.dropped()), (30, 0));
        assert_eq!((stderr.text().len(), stderr.dropped()), (10, 20));
        assert!(!budget.charge_all(1));
        // the stderr tail is kept whatever the budget says
        assert_eq!(stderr.tail(), "e".repeat(30));
    }

    #[test]
    fn the_stderr_tail_is_bounded() {
        let budget = OutputBudget::new(0);
        let stderr = StdioCapture::stderr(&budget);
        for _ in 0..10 {
            stderr.keep(&[b'x'; 1000]);
        }
        stderr.keep(b"panic!");
        let tail = stderr.tail();
        assert_eq!(tail.len(), STDERR_TAIL);
        assert!(tail.ends_with("panic!"));
        assert_eq!(stderr.dropped(), 10_006);
    }
}
