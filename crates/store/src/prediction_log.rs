//! The prediction log's writer: a server hands it every answer without
//! waiting, a background task writes them to the store in batches, and
//! nothing is lost when the store is slow or down.
//!
//! Where an entry can be: in the bounded channel, in the batch being
//! written, in the spill file (JSON lines, appended), or in the store.
//! - [`PredictionLog::log`] never waits: it puts the entry in the channel,
//!   or, when the channel is full (the store fell behind) or the log was
//!   shut down, appends it to the spill file itself (one `write` of one
//!   line; the task `fsync`s it at its next tick).
//! - The task takes up to `batch_rows` entries or what came within
//!   `max_wait`, and appends them in one transaction bounded by
//!   `write_timeout`. A failure or timeout spills the batch (written and
//!   `fsync`ed as one) and marks the store down for `retry_every`; while it
//!   is down, batches go straight to the spill file.
//! - Replay: the spill file is renamed aside (`<spill>.replay`, so new
//!   spills start a fresh file), read back in batches and appended; only
//!   when every line is in the store is it removed. A replay cut short
//!   resumes where it stopped, and a crash during one replays the file from
//!   the start at the next [`PredictionLog::start`]: appends are idempotent
//!   on the request id, so a line stored twice is one row.
//!
//! Memory is bounded by the channel's capacity and one batch; the spill
//! file grows only while the store is unavailable.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{NewPrediction, Store};

/// How the writer batches, waits and retries.
#[derive(Debug, Clone)]
pub struct PredictionLogConfig {
    /// The append-only file entries go to when the store cannot take them;
    /// `<spill>.replay` beside it is used while replaying.
    pub spill_path: PathBuf,
    /// Entries waiting in memory at most; past that, callers spill.
    pub capacity: usize,
    /// Rows per transaction at most.
    pub batch_rows: usize,
    /// How long a batch waits to fill once its first entry arrived.
    pub max_wait: Duration,
    /// A store write taking longer than this counts as failed (SQLite
    /// would otherwise wait out its 30 s busy timeout under a lock).
    pub write_timeout: Duration,
    /// How long the store is left alone after a failure before the spill
    /// file is replayed.
    pub retry_every: Duration,
}

impl PredictionLogConfig {
    pub fn new(spill_path: impl Into<PathBuf>) -> Self {
        PredictionLogConfig {
            spill_path: spill_path.into(),
            capacity: 10_000,
            batch_rows: 500,
            max_wait: Duration::from_millis(50),
            write_timeout: Duration::from_secs(5),
            retry_every: Duration::from_secs(1),
        }
    }
}

/// Counts since [`PredictionLog::start`], for a server's `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PredictionLogStats {
    /// Entries handed to [`PredictionLog::log`].
    pub logged: u64,
    /// Entries the store holds (first written or replayed; a replayed
    /// entry that was already stored counts once).
    pub stored: u64,
    /// Entries written to the spill file.
    pub spilled: u64,
    /// Entries read back from the spill file into the store.
    pub replayed: u64,
    /// Store writes that failed or timed out.
    pub store_errors: u64,
    /// Spill-file lines that could not be read back (a line cut by a crash).
    pub unreadable: u64,
    /// Entries neither stored nor spilled (the spill file could not be
    /// written either): the only way to lose one.
    pub lost: u64,
    /// Entries waiting in the channel now.
    pub queue_depth: u64,
    /// Entries logged and not yet in the store (in memory or spilled).
    pub pending: u64,
    /// How long the log has had entries pending (0 when it is caught up).
    pub lag_ms: u64,
}

/// A prediction log that could not start.
#[derive(Debug, thiserror::Error)]
#[error("prediction log spill file {path}: {message}", path = path.display())]
pub struct PredictionLogError {
    pub path: PathBuf,
    pub message: String,
}

/// The asynchronous writer; see the module docs. `Send + Sync`: share it
/// behind an `Arc`.
pub struct PredictionLog {
    tx: mpsc::Sender<NewPrediction>,
    shared: Arc<Shared>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("spill", &self.shared.config.spill_path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Shared {
    store: Store,
    config: PredictionLogConfig,
    replay_path: PathBuf,
    spill: Mutex<SpillFile>,
    /// Set by every spill; the task replays while it is set.
    spill_waiting: AtomicBool,
    started: Instant,
    /// ms since `started` when the log last had nothing pending.
    caught_up_at: AtomicU64,
    logged: AtomicU64,
    stored: AtomicU64,
    spilled: AtomicU64,
    replayed: AtomicU64,
    store_errors: AtomicU64,
    unreadable: AtomicU64,
    lost: AtomicU64,
}

#[derive(Default)]
struct SpillFile {
    file: Option<File>,
    /// Written since the last `fsync`.
    dirty: bool,
}

impl PredictionLog {
    /// Starts the writer on the current tokio runtime. Entries left in the
    /// spill file by an earlier process are replayed first.
    pub fn start(
        store: Store,
        config: PredictionLogConfig,
    ) -> Result<PredictionLog, PredictionLogError> {
        let error = |message: String| PredictionLogError {
            path: config.spill_path.clone(),
            message,
        };
        if config.capacity == 0 || config.batch_rows == 0 {
            return Err(error("capacity and batch_rows must be at least 1".into()));
        }
        if let Some(parent) = config
            .spill_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| error(format!("creating its directory: {e}")))?;
        }
        // opened now so a path that cannot be written fails at start, not
        // in the middle of an outage
        let file = open_append(&config.spill_path).map_err(|e| error(e.to_string()))?;
        let leftover = file.metadata().map(|m| m.len() > 0).unwrap_or(true)
            || replay_path(&config.spill_path).exists();
        let (tx, rx) = mpsc::channel(config.capacity);
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            store,
            replay_path: replay_path(&config.spill_path),
            config,
            spill: Mutex::new(SpillFile {
                file: Some(file),
                dirty: false,
            }),
            spill_waiting: AtomicBool::new(leftover),
            started: Instant::now(),
            caught_up_at: AtomicU64::new(0),
            logged: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        if leftover {
            tracing::info!(spill = %shared.config.spill_path.display(), "replaying predictions spilled by an earlier process");
        }
        let task = tokio::spawn(run(Arc::clone(&shared), rx, stop_rx));
        Ok(PredictionLog {
            tx,
            shared,
            stop: Mutex::new(Some(stop_tx)),
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// Hands `entry` to the writer; never waits for the store.
    pub fn log(&self, entry: NewPrediction) {
        let shared = &self.shared;
        let before = shared.logged.fetch_add(1, Ordering::Relaxed);
        if before == shared.settled() {
            shared
                .caught_up_at
                .store(shared.elapsed_ms(), Ordering::Relaxed);
        }
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(entry)) => shared.spill(&[entry], false),
            // after shutdown no task will fsync: do it now
            Err(mpsc::error::TrySendError::Closed(entry)) => shared.spill(&[entry], true),
        }
    }

    pub fn stats(&self) -> PredictionLogStats {
        let s = &self.shared;
        let logged = s.logged.load(Ordering::Relaxed);
        let pending = logged.saturating_sub(s.settled());
        let lag_ms = if pending == 0 {
            0
        } else {
            s.elapsed_ms()
                .saturating_sub(s.caught_up_at.load(Ordering::Relaxed))
        };
        PredictionLogStats {
            logged,
            stored: s.stored.load(Ordering::Relaxed),
            spilled: s.spilled.load(Ordering::Relaxed),
            replayed: s.replayed.load(Ordering::Relaxed),
            store_errors: s.store_errors.load(Ordering::Relaxed),
            unreadable: s.unreadable.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            queue_depth: (self.tx.max_capacity() - self.tx.capacity()) as u64,
            pending,
            lag_ms,
        }
    }

    /// Writes what is queued, replays the spill file once more, and stops
    /// the task. What the store still refuses stays in the spill file for
    /// the next [`PredictionLog::start`]. Entries logged afterwards go to
    /// the spill file.
    pub async fn shutdown(&self) -> PredictionLogStats {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.lock().await.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the prediction log's writer task failed");
        }
        self.stats()
    }
}

fn replay_path(spill: &Path) -> PathBuf {
    let mut name = spill.as_os_str().to_owned();
    name.push(".replay");
    PathBuf::from(name)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Makes a rename or removal in `path`'s directory durable.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

impl Shared {
    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Entries that will not be pending again: stored or lost.
    fn settled(&self) -> u64 {
        self.stored.load(Ordering::Relaxed) + self.lost.load(Ordering::Relaxed)
    }

    /// Appends `entries` to the spill file as one write, `fsync`ed when
    /// `sync`; otherwise the task syncs at its next tick.
    fn spill(&self, entries: &[NewPrediction], sync: bool) {
        let mut lines = Vec::with_capacity(entries.len() * 256);
        for entry in entries {
            serde_json::to_writer(&mut lines, entry).expect("a prediction serialises");
            lines.push(b'\n');
        }
        let mut spill = self.spill.lock().unwrap_or_else(|p| p.into_inner());
        let written = (|| {
            if spill.file.is_none() {
                spill.file = Some(open_append(&self.config.spill_path)?);
            }
            let file = spill.file.as_mut().expect("opened above");
            file.write_all(&lines)?;
            if sync {
                file.sync_data()?;
            }
            Ok::<_, std::io::Error>(())
        })();
        match written {
            Ok(()) => {
                spill.dirty = !sync;
                self.spilled
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                self.spill_waiting.store(true, Ordering::Release);
            }
            Err(e) => {
                // a partial line is skipped as unreadable at replay
                self.lost.fetch_add(entries.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    spill = %self.config.spill_path.display(), error = %e, entries = entries.len(),
                    "predictions lost: neither the store nor the spill file took them"
                );
            }
        }
    }

    fn sync_spill(&self) {
        let mut spill = self.spill.lock().unwrap_or_else(|p| p.into_inner());
        if spill.dirty
            && let Some(file) = &spill.file
        {
            if let Err(e) = file.sync_data() {
                tracing::warn!(spill = %self.config.spill_path.display(), error = %e, "syncing the spill file");
            }
            spill.dirty = false;
        }
    }

    /// Appends `batch` to the store within the write timeout.
    async fn store_batch(&self, batch: &[NewPrediction]) -> Result<(), String> {
        match tokio::time::timeout(
            self.config.write_timeout,
            self.store.append_predictions(batch),
        )
        .await
        {
            Ok(Ok(_added)) => {
                self.stored.fetch_add(batch.len() as u64, Ordering::Relaxed);
                if self.logged.load(Ordering::Relaxed) <= self.settled() {
                    self.caught_up_at
                        .store(self.elapsed_ms(), Ordering::Relaxed);
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the store took longer than {:?}",
                self.config.write_timeout
            )),
        }
    }

    /// Moves the spill file aside for replay (unless a replay file is
    /// already waiting); `false` when there is nothing to replay.
    fn take_spill(&self) -> std::io::Result<bool> {
        if self.replay_path.exists() {
            return Ok(true);
        }
        let mut spill = self.spill.lock().unwrap_or_else(|p| p.into_inner());
        // cleared under the lock: a spill after this sets it again
        self.spill_waiting.store(false, Ordering::Release);
        let len = match std::fs::metadata(&self.config.spill_path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if len == 0 {
            return Ok(false);
        }
        if let Some(file) = spill.file.take() {
            file.sync_data()?;
        }
        spill.dirty = false;
        std::fs::rename(&self.config.spill_path, &self.replay_path)?;
        sync_dir(&self.replay_path);
        Ok(true)
    }
}

/// A spill file being read back in batches.
struct Replay {
    reader: BufReader<File>,
    /// Byte offset of the first line not yet in the store.
    offset: u64,
}

/// Reads up to `rows` entries from `replay`, with the offset after them.
fn read_batch(
    mut replay: Replay,
    rows: usize,
    unreadable: &AtomicU64,
) -> std::io::Result<(Replay, Vec<NewPrediction>, u64)> {
    let mut batch = Vec::with_capacity(rows);
    let mut end = replay.offset;
    let mut line = String::new();
    while batch.len() < rows {
        line.clear();
        let n = replay.reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        end += n as u64;
        match serde_json::from_str::<NewPrediction>(line.trim_end()) {
            Ok(entry) => batch.push(entry),
            Err(e) if !line.trim().is_empty() => {
                unreadable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, offset = end - n as u64, "skipping an unreadable spill-file line");
            }
            Err(_) => {}
        }
    }
    Ok((replay, batch, end))
}

/// Replays the spill file into the store: `Ok(true)` when it is all in,
/// `Ok(false)` when the store failed (the rest stays for the next try).
async fn replay(shared: &Arc<Shared>, resume_at: &mut u64) -> std::io::Result<bool> {
    loop {
        let take = Arc::clone(shared);
        if !tokio::task::spawn_blocking(move || take.take_spill())
            .await
            .map_err(std::io::Error::other)??
        {
            return Ok(true);
        }
        let path = shared.replay_path.clone();
        let offset = *resume_at;
        let mut replay = tokio::task::spawn_blocking(move || {
            let mut file = File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok::<_, std::io::Error>(Replay {
                reader: BufReader::new(file),
                offset,
            })
        })
        .await
        .map_err(std::io::Error::other)??;
        loop {
            let reading = Arc::clone(shared);
            let rows = shared.config.batch_rows;
            let (back, batch, end) =
                tokio::task::spawn_blocking(move || read_batch(replay, rows, &reading.unreadable))
                    .await
                    .map_err(std::io::Error::other)??;
            replay = back;
            if batch.is_empty() && end == replay.offset {
                break;
            }
            if !batch.is_empty() {
                if let Err(e) = shared.store_batch(&batch).await {
                    shared.store_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "replaying spilled predictions failed; retrying later");
                    return Ok(false);
                }
                shared
                    .replayed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            replay.offset = end;
            *resume_at = end;
        }
        let path = shared.replay_path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::remove_file(&path)?;
            sync_dir(&path);
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(std::io::Error::other)??;
        *resume_at = 0;
        tracing::info!("spilled predictions replayed into the store");
    }
}

/// The writer task.
async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<NewPrediction>,
    mut stop: oneshot::Receiver<()>,
) {
    let config = shared.config.clone();
    let mut batch = Vec::with_capacity(config.batch_rows);
    let mut tick = tokio::time::interval(config.max_wait.max(Duration::from_millis(5)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut down_until: Option<Instant> = None;
    let mut resume_at = 0u64;
    let mut stopping = false;
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, config.batch_rows) => {
                if received == 0 {
                    break; // closed by shutdown and drained
                }
                let deadline = tokio::time::Instant::now() + config.max_wait;
                while batch.len() < config.batch_rows {
                    let room = config.batch_rows - batch.len();
                    match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let down = down_until.is_some_and(|until| Instant::now() < until);
                let failed = if down {
                    true
                } else {
                    match shared.store_batch(&batch).await {
                        Ok(()) => false,
                        Err(e) => {
                            shared.store_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, rows = batch.len(), "writing predictions failed; spilling them");
                            down_until = Some(Instant::now() + config.retry_every);
                            true
                        }
                    }
                };
                if failed {
                    let spilling = Arc::clone(&shared);
                    let entries = std::mem::take(&mut batch);
                    let _ = tokio::task::spawn_blocking(move || spilling.spill(&entries, true)).await;
                    batch = Vec::with_capacity(config.batch_rows);
                } else {
                    batch.clear();
                }
            }
            _ = tick.tick() => {}
            _ = &mut stop, if !stopping => {
                stopping = true;
                // new entries now spill; the queued ones are still received
                rx.close();
            }
        }
        let syncing = Arc::clone(&shared);
        let _ = tokio::task::spawn_blocking(move || syncing.sync_spill()).await;
        let may_retry = down_until.is_none_or(|until| Instant::now() >= until);
        if may_retry && shared.spill_waiting_or_replay() {
            match replay(&shared, &mut resume_at).await {
                Ok(true) => down_until = None,
                Ok(false) => down_until = Some(Instant::now() + config.retry_every),
                Err(e) => {
                    tracing::error!(error = %e, "reading the prediction spill file");
                    down_until = Some(Instant::now() + config.retry_every);
                }
            }
        }
    }
    // one last replay so a clean shutdown leaves nothing behind when the store is up
    if shared.spill_waiting_or_replay()
        && let Err(e) = replay(&shared, &mut resume_at).await
    {
        tracing::error!(error = %e, "reading the prediction spill file");
    }
    let syncing = Arc::clone(&shared);
    let _ = tokio::task::spawn_blocking(move || syncing.sync_spill()).await;
}

impl Shared {
    fn spill_waiting_or_replay(&self) -> bool {
        self.spill_waiting.load(Ordering::Acquire) || self.replay_path.exists()
    }
}
