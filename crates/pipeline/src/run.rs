//! Running a checked plan: a scheduler over the DAG (tokio; step work on
//! blocking threads, see [`crate::job`]), the step cache, and the run
//! record in the store. A [`Run`] holds a run's state; its methods are the
//! run's phases.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::fingerprints;
use super::job::{self, Attempts, Failure, Job, JobOutput, NodeTable, run_with_retries};
use super::models::register_models;
use super::plan::{Plan, PlannedStep};
use super::spec::{Source, SourceKind};
use super::work::StepRecord;
use sluice_core::Digest;
use sluice_core::contract::Metric;
use sluice_data::blobs::{ArtifactDir, BlobProblem, StoredBlob};
use sluice_data::{DataError, TableReader, TableWriter};
use sluice_registry::RegistryError;
use sluice_runtime::SessionStats;
use sluice_store::{
    CacheEntry, CacheHit, FileRecord, Heartbeat, NewArtifact, NewStepLog, RunLease, RunStatus,
    StepOutcome, StepStatus, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Artifacts(#[from] crate::artifacts::ArtifactsError),
    #[error("{0}")]
    Io(String),
}

/// What observers (the CLI's progress bars) are told while a run goes on.
#[derive(Debug, Clone)]
pub enum Event {
    StepStarted {
        step: String,
    },
    Rows {
        step: String,
        rows: u64,
    },
    /// Where a long native step is (cross-validation candidate and fold,
    /// the final fits), as a short line.
    Progress {
        step: String,
        message: String,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        cache_hit: bool,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// An observer that ignores everything (library use, tests).
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event) {}
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Re-run every step, ignoring (and refreshing) the cache.
    pub no_cache: bool,
    /// Steps at once (default: the pipeline's `concurrency`).
    pub concurrency: Option<usize>,
    /// Hash every recorded artifact before running; damaged ones are
    /// removed, so their steps run again (see [`crate::verify_artifacts`]).
    pub verify: bool,
    /// How long the run's lease holds without a heartbeat before another
    /// process may take the run for crashed and cancel it (default:
    /// [`sluice_store::DEFAULT_RUN_LEASE`]).
    pub lease: Option<Duration>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepSummary {
    pub name: String,
    pub status: StepStatus,
    pub cache_hit: bool,
    pub elapsed: Duration,
    pub stats: SessionStats,
    pub output: Option<Digest>,
    pub state: Option<Digest>,
    pub metrics: Vec<Metric>,
    pub attempts: u32,
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub elapsed: Duration,
    pub steps: Vec<StepSummary>,
    /// Why the run did not succeed: a source's error, a failed export, or
    /// the error of the step that failed first (the root cause, never a
    /// step skipped because of it).
    pub error: Option<String>,
    /// Model versions the run's train steps registered (or found).
    pub models: Vec<RegisteredModel>,
}

/// A model version a train step registered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegisteredModel {
    pub name: String,
    pub version: i64,
    pub step: String,
    /// False when this exact model was already registered.
    pub created: bool,
}

/// A finished step task: which step, its cache key, when it began, and
/// its attempts (or the thread's panic message).
struct Finished {
    position: usize,
    key: String,
    begun: Instant,
    result: Result<Attempts, String>,
}

/// A step that ran, however it ended.
struct Ended {
    position: usize,
    step_run: i64,
    key: String,
    elapsed: Duration,
    attempts: u32,
}

/// A succeeded step's store writes, made after the next launches.
struct Completion {
    step_run: i64,
    outcome: StepOutcome,
    records: Vec<NewArtifact>,
    cache: CacheEntry,
    logs: Vec<NewStepLog>,
    /// Fingerprints of the files written, taken right after writing.
    files: Vec<FileRecord>,
}

/// Where a pending step stands.
enum Readiness {
    /// An upstream node (named) failed: the step cannot run.
    Blocked(String),
    /// Upstream tables are still coming (or the run is cancelled).
    Waiting,
    Ready,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `plan` to completion (or failure, or cancellation), recording
/// everything in `store`. Step failures are in the summary, not errors:
/// an error here means the store or the file system failed.
pub async fn execute(
    plan: Arc<Plan>,
    store: &Store,
    home: &Path,
    options: &RunOptions,
    observer: Arc<dyn Observer>,
    cancel: Arc<AtomicBool>,
) -> Result<RunSummary, RunError> {
    prepare_artifacts(store, home, options).await?;
    let mut run = Run::start(plan, store, home, options, observer, cancel).await?;
    run.resolve_sources().await;
    if let Some(error) = run.source_error.clone() {
        run.skip_all(&error).await?;
    }
    run.schedule().await?;
    run.cancel_unstarted().await?;
    run.finish().await
}

/// Sweeps temporaries killed processes left behind (never a live one's)
/// and, with `--verify`, checks every recorded artifact.
async fn prepare_artifacts(
    store: &Store,
    home: &Path,
    options: &RunOptions,
) -> Result<(), RunError> {
    if let Err(e) = ArtifactDir::new(home).sweep_temporaries(false) {
        tracing::warn!("sweeping stale temporary files: {e}");
    }
    if options.verify {
        let verification = crate::verify_artifacts(store, home).await?;
        for (record, problem) in &verification.problems {
            tracing::warn!(digest = %record.digest, %problem, "artifact damaged; its step runs again");
        }
    }
    Ok(())
}

/// One run of a plan: what is known so far and what is still to do.
struct Run<'a> {
    plan: Arc<Plan>,
    store: &'a Store,
    options: &'a RunOptions,
    observer: Arc<dyn Observer>,
    cancel: Arc<AtomicBool>,
    artifacts: ArtifactDir,
    started: Instant,
    run_id: i64,
    /// Every change to the run record goes through the lease.
    lease: RunLease,
    /// Renews the lease while the run is alive (stops when the run is dropped).
    _heartbeat: Heartbeat,
    concurrency: usize,
    /// Tables of finished nodes (sources and steps), by name.
    tables: HashMap<String, NodeTable>,
    summaries: BTreeMap<String, StepSummary>,
    /// Nodes whose dependents cannot run.
    failed: HashSet<String>,
    /// Plan positions of steps not started yet.
    pending: Vec<usize>,
    join: JoinSet<Finished>,
    /// Step-run ids of started steps, by plan position.
    step_runs: HashMap<usize, i64>,
    /// Finished steps not yet written to the store (see [`Run::schedule`]).
    deferred: Vec<Completion>,
    source_error: Option<String>,
    /// The error of the first step to fail, in time: the run's root cause.
    root_cause: Option<String>,
}

impl<'a> Run<'a> {
    /// Creates the run record, audits the start and records the plugins.
    async fn start(
        plan: Arc<Plan>,
        store: &'a Store,
        home: &Path,
        options: &'a RunOptions,
        observer: Arc<dyn Observer>,
        cancel: Arc<AtomicBool>,
    ) -> Result<Run<'a>, RunError> {
        let started = Instant::now();
        let pipeline = &plan.pipeline;
        let ttl = options.lease.unwrap_or(sluice_store::DEFAULT_RUN_LEASE);
        let lease = store
            .create_run(&pipeline.name, &pipeline.digest, ttl)
            .await?;
        // A lost lease means another process took the run for crashed and
        // cancelled it: stop the steps; the next change fails naming why.
        let on_lost = cancel.clone();
        let heartbeat = store.keep_alive(&lease, move |_| on_lost.store(true, Ordering::Relaxed));
        let run = Run {
            concurrency: options.concurrency.unwrap_or(pipeline.concurrency).max(1),
            pending: (0..plan.steps.len()).collect(),
            plan,
            store,
            options,
            observer,
            cancel,
            artifacts: ArtifactDir::new(home),
            started,
            run_id: lease.run(),
            lease,
            _heartbeat: heartbeat,
            tables: HashMap::new(),
            summaries: BTreeMap::new(),
            failed: HashSet::new(),
            join: JoinSet::new(),
            step_runs: HashMap::new(),
            deferred: Vec::new(),
            source_error: None,
            root_cause: None,
        };
        run.audit_start().await?;
        run.record_plugins().await?;
        Ok(run)
    }

    /// Audits `run.start`, preceded by `grant.change` when the policy is
    /// not the one the pipeline's previous run ran under.
    async fn audit_start(&self) -> Result<(), RunError> {
        let pipeline = &self.plan.pipeline;
        let fingerprint = self.plan.policy.fingerprint();
        let previous = self
            .store
            .record_run_policy(&self.lease, &fingerprint)
            .await?;
        if previous.as_deref().is_some_and(|p| p != fingerprint) {
            let detail = serde_json::json!({
                "policy": fingerprint,
                "previous": previous,
                "file": self.plan.policy.path().display().to_string(),
            });
            self.store
                .audit("sluice", "grant.change", &pipeline.name, &detail)
                .await?;
        }
        let detail = serde_json::json!({
            "run": self.run_id,
            "pipeline": pipeline.digest.to_string(),
            "policy": fingerprint,
        });
        self.store
            .audit("sluice", "run.start", &pipeline.name, &detail)
            .await?;
        Ok(())
    }

    /// Notes every plugin the plan uses as seen.
    async fn record_plugins(&self) -> Result<(), RunError> {
        let mut recorded = HashSet::new();
        for plugin in self.plan.steps.iter().filter_map(PlannedStep::plugin) {
            if !recorded.insert(plugin.digest()) {
                continue;
            }
            let info = plugin.info();
            self.store
                .record_plugin(
                    plugin.digest(),
                    &info.name,
                    &info.version,
                    plugin.contract(),
                )
                .await?;
        }
        Ok(())
    }

    /// Hashes file sources and runs query sources into artifacts. A source
    /// that fails is the run's error (the last one, if several fail).
    async fn resolve_sources(&mut self) {
        let plan = self.plan.clone();
        for source in &plan.pipeline.sources {
            match self.source_table(source).await {
                Ok(table) => {
                    self.tables.insert(source.name.clone(), table);
                }
                Err(error) => self.source_error = Some(error),
            }
        }
    }

    async fn source_table(&self, source: &Source) -> Result<NodeTable, String> {
        let (digest, path) = match &source.kind {
            SourceKind::File(path) if !source.types.is_empty() => {
                let (file, types) = (path.clone(), source.types.clone());
                let (artifacts, chunk_rows) =
                    (self.artifacts.clone(), self.plan.pipeline.chunk_rows);
                let stored = tokio::task::spawn_blocking(move || {
                    job::typed_source(&file, &types, &artifacts, chunk_rows)
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|converted| converted)
                .map_err(|e| format!("[source.{}] {e}", source.name))?;
                (stored.digest, self.artifacts.path(&stored.file_name))
            }
            SourceKind::File(path) => {
                let digest = fingerprints::file_digest(self.store, path, self.options.verify)
                    .await
                    .map_err(|e| format!("[source.{}] {e}", source.name))?;
                (digest, path.clone())
            }
            SourceKind::Query(sql) => {
                let chunk_rows = self.plan.pipeline.chunk_rows;
                let temp = self
                    .store
                    .query_to_parquet(sql, &self.artifacts, chunk_rows)
                    .await
                    .map_err(|e| format!("[source.{}] query: {e}", source.name))?;
                let stored = self
                    .artifacts
                    .adopt(&temp, "parquet")
                    .map_err(|e| format!("[source.{}]: {e}", source.name))?;
                (stored.digest, self.artifacts.path(&stored.file_name))
            }
        };
        Ok(NodeTable {
            digest,
            path,
            state: None,
        })
    }

    /// Without its sources no step runs: every one is skipped.
    async fn skip_all(&mut self, error: &str) -> Result<(), RunError> {
        for position in std::mem::take(&mut self.pending) {
            self.record_not_run(position, StepStatus::Skipped, error)
                .await?;
        }
        Ok(())
    }

    /// Launches ready steps until every step has finished. A completion is
    /// recorded only after the launches it allows, so the store round
    /// trips overlap with the work of the steps it made ready.
    async fn schedule(&mut self) -> Result<(), RunError> {
        loop {
            self.launch_ready().await?;
            self.record_completions().await?;
            let Some(finished) = self.join.join_next().await else {
                return Ok(());
            };
            let finished = finished.map_err(|e| RunError::Io(e.to_string()))?;
            self.complete(finished).await?;
        }
    }

    /// Launches every ready step (up to the concurrency limit), reusing
    /// cached results and skipping steps whose upstream failed.
    async fn launch_ready(&mut self) -> Result<(), RunError> {
        let mut index = 0;
        while index < self.pending.len() {
            let position = self.pending[index];
            match self.readiness(position) {
                Readiness::Blocked(upstream) => {
                    self.pending.remove(index);
                    self.skip_blocked(position, &upstream).await?;
                }
                Readiness::Waiting => index += 1,
                Readiness::Ready => {
                    let key = self.cache_key(position);
                    if self.reuse_cached(position, &key).await? {
                        self.pending.remove(index);
                        index = 0; // a hit can make earlier-listed steps ready
                    } else if self.join.len() >= self.concurrency {
                        break;
                    } else {
                        self.pending.remove(index);
                        self.launch(position, key).await?;
                    }
                }
            }
        }
        Ok(())
    }

    fn readiness(&self, position: usize) -> Readiness {
        let step = &self.plan.steps[position];
        let upstream: Vec<&str> = std::iter::once(step.input.as_str())
            .chain(step.second_input())
            .collect();
        if let Some(bad) = upstream.iter().find(|u| self.failed.contains(**u)) {
            return Readiness::Blocked(bad.to_string());
        }
        if !upstream.iter().all(|u| self.tables.contains_key(*u))
            || self.cancel.load(Ordering::Relaxed)
        {
            return Readiness::Waiting;
        }
        Readiness::Ready
    }

    /// The cache key of a ready step (its upstream tables are known).
    fn cache_key(&self, position: usize) -> String {
        let step = &self.plan.steps[position];
        let second = step
            .second_input()
            .and_then(|node| self.tables[node].second_digest(step));
        job::cache_key(
            &step.work,
            &self.tables[&step.input].digest,
            second,
            self.plan.fit_splits.get(&step.name),
            self.plan.pipeline.chunk_rows,
        )
    }

    /// Finishes the step from the cache when its key has an entry whose
    /// artifacts are still on disk (unless the run ignores the cache).
    async fn reuse_cached(&mut self, position: usize, key: &str) -> Result<bool, RunError> {
        if self.options.no_cache {
            return Ok(false);
        }
        let Some(hit) = self.store.cache_lookup(key).await? else {
            return Ok(false);
        };
        let plan = self.plan.clone();
        let step = &plan.steps[position];
        if !self.cached_files_intact(&step.name, &hit).await? {
            return Ok(false);
        }
        let id = self
            .store
            .start_step(&self.lease, &step.name, step.plugin_digest().as_ref(), key)
            .await?;
        // only steps that report metrics pay for the extra query
        let metrics = match step.work.reports_metrics() {
            true => self.store.step_metrics(key).await?,
            false => Vec::new(),
        };
        let mut done = outcome(StepStatus::Succeeded, true, None, 1, None);
        done.rows_out = hit.rows;
        done.output_digest = Some(hit.output_digest);
        self.store.finish_step(&self.lease, id, &done).await?;
        self.observer.event(Event::StepFinished {
            step: step.name.clone(),
            status: StepStatus::Succeeded,
            cache_hit: true,
        });
        let table = NodeTable {
            digest: hit.output_digest,
            path: self.artifacts.path(&hit.path),
            state: hit
                .state_digest
                .zip(hit.state_path.as_deref().map(|p| self.artifacts.path(p))),
        };
        self.tables.insert(step.name.clone(), table);
        let summary = cached_summary(&step.name, hit, metrics);
        self.summaries.insert(step.name.clone(), summary);
        Ok(true)
    }

    /// Whether a cache hit's files are there and intact: their size and
    /// recorded fingerprint, or else their size and content (see
    /// [`crate::fingerprints`]). A damaged file is never served; the step
    /// runs again and rewrites it.
    async fn cached_files_intact(&self, step: &str, hit: &CacheHit) -> Result<bool, RunError> {
        let mut blobs = vec![StoredBlob {
            digest: hit.output_digest,
            file_name: hit.path.clone(),
            bytes: u64::try_from(hit.bytes).unwrap_or(u64::MAX),
        }];
        if let (Some(digest), Some(file_name)) = (hit.state_digest, &hit.state_path) {
            blobs.push(StoredBlob {
                digest,
                file_name: file_name.clone(),
                bytes: hit
                    .state_bytes
                    .and_then(|b| u64::try_from(b).ok())
                    .unwrap_or(u64::MAX),
            });
        }
        for blob in &blobs {
            let problem = fingerprints::check_artifact(self.store, &self.artifacts, blob)
                .await
                .map_err(|e| {
                    RunError::Io(format!("[step.{step}] checking {}: {e}", blob.file_name))
                })?;
            match problem {
                None => continue,
                Some(BlobProblem::Missing) => {}
                Some(problem) => tracing::warn!(
                    step,
                    file = %self.artifacts.path(&blob.file_name).display(),
                    %problem,
                    "cached artifact is damaged: running the step again"
                ),
            }
            return Ok(false);
        }
        Ok(true)
    }

    /// Starts a ready step's job on a blocking thread.
    async fn launch(&mut self, position: usize, key: String) -> Result<(), RunError> {
        let plan = self.plan.clone();
        let step = &plan.steps[position];
        self.observer.event(Event::StepStarted {
            step: step.name.clone(),
        });
        let job = Job {
            plan: plan.clone(),
            step: position,
            input: self.tables[&step.input].clone(),
            fit: step.second_input().map(|node| self.tables[node].clone()),
            artifacts: self.artifacts.clone(),
            cancel: self.cancel.clone(),
            observer: self.observer.clone(),
        };
        // The job starts first; recording its start overlaps with it.
        let job_key = key.clone();
        self.join.spawn(async move {
            let begun = Instant::now();
            let result = tokio::task::spawn_blocking(move || run_with_retries(&job))
                .await
                .map_err(|e| e.to_string());
            Finished {
                position,
                key: job_key,
                begun,
                result,
            }
        });
        let id = self
            .store
            .start_step(&self.lease, &step.name, step.plugin_digest().as_ref(), &key)
            .await?;
        self.step_runs.insert(position, id);
        Ok(())
    }

    /// Writes the deferred completions (artifacts, cache entry, outcome).
    async fn record_completions(&mut self) -> Result<(), RunError> {
        for completion in self.deferred.drain(..) {
            self.store
                .complete_step_with_files(
                    &self.lease,
                    completion.step_run,
                    &completion.outcome,
                    &completion.records,
                    Some(&completion.cache),
                    &completion.files,
                )
                .await?;
            record_logs(self.store, completion.step_run, &completion.logs).await?;
        }
        Ok(())
    }

    /// Takes in a finished job: its output, or its failure.
    async fn complete(&mut self, finished: Finished) -> Result<(), RunError> {
        let attempts = finished.result.unwrap_or_else(|panic| Attempts {
            result: Err(Failure::Fatal(format!("step thread failed: {panic}"))),
            record: StepRecord::default(),
            count: 1,
        });
        let ended = Ended {
            position: finished.position,
            step_run: self.step_runs[&finished.position],
            key: finished.key,
            elapsed: finished.begun.elapsed(),
            attempts: attempts.count,
        };
        match attempts.result {
            Ok(output) => self.succeeded(ended, output, attempts.record),
            Err(failure) => self.failed(ended, failure, attempts.record).await?,
        }
        Ok(())
    }

    /// A step's output becomes a table for its dependents; its store
    /// writes wait for the next launches (see [`Run::schedule`]).
    fn succeeded(&mut self, ended: Ended, output: JobOutput, record: StepRecord) {
        let plan = self.plan.clone();
        let step = &plan.steps[ended.position];
        let records = self.artifact_records(step, &output);
        let files = std::iter::once(&output.table)
            .chain(&output.state)
            .filter_map(|blob| {
                fingerprints::record(&self.artifacts.path(&blob.file_name), blob.digest)
            })
            .collect();
        let digest = output.table.digest;
        let state_digest = output.state.as_ref().map(|s| s.digest);
        let cache = CacheEntry {
            cache_key: ended.key,
            output_digest: digest,
            state_digest,
            created_at: now_ms(),
            metrics: output.metrics.clone(),
        };
        let mut done = outcome(
            StepStatus::Succeeded,
            false,
            Some(&record.stats),
            ended.attempts,
            None,
        );
        done.rows_out = Some(output.rows as i64);
        done.output_digest = Some(digest);
        self.deferred.push(Completion {
            step_run: ended.step_run,
            outcome: done,
            records,
            cache,
            logs: record.logs(),
            files,
        });
        self.observer.event(Event::StepFinished {
            step: step.name.clone(),
            status: StepStatus::Succeeded,
            cache_hit: false,
        });
        let table = NodeTable {
            digest,
            path: self.artifacts.path(&output.table.file_name),
            state: (output.state.as_ref()).map(|s| (s.digest, self.artifacts.path(&s.file_name))),
        };
        self.tables.insert(step.name.clone(), table);
        let summary = StepSummary {
            name: step.name.clone(),
            status: StepStatus::Succeeded,
            cache_hit: false,
            elapsed: ended.elapsed,
            stats: record.stats,
            output: Some(digest),
            state: state_digest,
            metrics: output.metrics,
            attempts: ended.attempts,
            error: None,
        };
        self.summaries.insert(step.name.clone(), summary);
    }

    /// The artifacts a step made, with their lineage: the state (fitted
    /// plugin state or model) comes from the step's second input, the table
    /// from its input, its second input and its state.
    fn artifact_records(&self, step: &PlannedStep, output: &JobOutput) -> Vec<NewArtifact> {
        // lineage: the input table, then the fit table (fitted plugins) or
        // the model (predict steps)
        let second = step
            .second_input()
            .and_then(|node| self.tables[node].second_digest(step))
            .copied();
        let inputs: Vec<Digest> = std::iter::once(self.tables[&step.input].digest)
            .chain(second)
            .collect();
        let params = step.work.params().to_json();
        let artifact = |stored: &StoredBlob, kind, rows, inputs| NewArtifact {
            digest: stored.digest,
            kind,
            path: stored.file_name.clone(),
            rows,
            bytes: stored.bytes as i64,
            created_by_run: self.run_id,
            created_by_step: step.name.clone(),
            plugin_digest: step.plugin_digest(),
            params: params.clone(),
            inputs,
        };
        let mut records = Vec::with_capacity(2);
        if let Some(state) = &output.state {
            let from = inputs[inputs.len() - 1..].to_vec();
            records.push(artifact(state, output.state_kind, None, from));
        }
        let mut table_inputs = inputs;
        table_inputs.extend(output.state.as_ref().map(|s| s.digest));
        let rows = Some(output.rows as i64);
        records.push(artifact(
            &output.table,
            sluice_store::ArtifactKind::Table,
            rows,
            table_inputs,
        ));
        records
    }

    /// A step that failed (or was cancelled while running).
    /// Its record (resources used up to the failure, what the plugin
    /// logged) is kept as for a step that succeeded.
    async fn failed(
        &mut self,
        ended: Ended,
        failure: Failure,
        record: StepRecord,
    ) -> Result<(), RunError> {
        let plan = self.plan.clone();
        let step = &plan.steps[ended.position];
        let (status, message) = match failure {
            Failure::Cancelled => (StepStatus::Cancelled, "cancelled".to_string()),
            Failure::Transient(m) => (
                StepStatus::Failed,
                format!(
                    "[step.{}] {m} (after {} attempts)",
                    step.name, ended.attempts
                ),
            ),
            Failure::Fatal(m) => (StepStatus::Failed, format!("[step.{}] {m}", step.name)),
        };
        if status == StepStatus::Failed && self.root_cause.is_none() {
            // steps are taken in as they end: the first here failed first
            self.root_cause = Some(message.clone());
        }
        let ran = outcome(
            status,
            false,
            Some(&record.stats),
            ended.attempts,
            Some(message.clone()),
        );
        self.store
            .finish_step(&self.lease, ended.step_run, &ran)
            .await?;
        record_logs(self.store, ended.step_run, &record.logs()).await?;
        self.observer.event(Event::StepFinished {
            step: step.name.clone(),
            status,
            cache_hit: false,
        });
        self.failed.insert(step.name.clone());
        let mut summary = not_run(&step.name, status, &message);
        summary.elapsed = ended.elapsed;
        summary.attempts = ended.attempts;
        summary.stats = record.stats;
        self.summaries.insert(step.name.clone(), summary);
        Ok(())
    }

    /// A step whose upstream node did not succeed is skipped.
    async fn skip_blocked(&mut self, position: usize, upstream: &str) -> Result<(), RunError> {
        let message = format!("not run: upstream `{upstream}` did not succeed");
        self.record_not_run(position, StepStatus::Skipped, &message)
            .await?;
        self.observer.event(Event::StepFinished {
            step: self.plan.steps[position].name.clone(),
            status: StepStatus::Skipped,
            cache_hit: false,
        });
        Ok(())
    }

    /// Steps never started because the run was cancelled.
    async fn cancel_unstarted(&mut self) -> Result<(), RunError> {
        for position in std::mem::take(&mut self.pending) {
            self.record_not_run(
                position,
                StepStatus::Cancelled,
                "cancelled before it started",
            )
            .await?;
        }
        Ok(())
    }

    /// The bookkeeping of a step that does not run: a step run ended with
    /// `status` and `reason`, its summary, and its dependents blocked.
    async fn record_not_run(
        &mut self,
        position: usize,
        status: StepStatus,
        reason: &str,
    ) -> Result<(), RunError> {
        let plan = self.plan.clone();
        let step = &plan.steps[position];
        self.failed.insert(step.name.clone());
        let id = self
            .store
            .start_step(&self.lease, &step.name, step.plugin_digest().as_ref(), "")
            .await?;
        let ended = outcome(status, false, None, 1, Some(reason.to_string()));
        self.store.finish_step(&self.lease, id, &ended).await?;
        self.summaries
            .insert(step.name.clone(), not_run(&step.name, status, reason));
        Ok(())
    }

    /// Exports the outputs and registers the models of a run whose every
    /// step succeeded, then ends the run record and audits its end.
    async fn finish(mut self) -> Result<RunSummary, RunError> {
        let cancelled = self.cancel.load(Ordering::Relaxed);
        let all_ok = self.source_error.is_none()
            && (self.summaries.values()).all(|s| s.status == StepStatus::Succeeded);
        let error = self.export_outputs_or_error(all_ok);
        let succeeded = all_ok && error.is_none();
        let models = match succeeded && !cancelled {
            true => {
                let plan = &self.plan;
                register_models(self.store, plan, &self.tables, &self.summaries, &self.lease)
                    .await?
            }
            false => Vec::new(),
        };
        let status = if cancelled {
            RunStatus::Cancelled
        } else if succeeded {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        self.store
            .finish_run(&self.lease, status, error.as_deref())
            .await?;
        let mut steps = Vec::new();
        for name in self.plan.dag.topological_steps() {
            steps.extend(self.summaries.remove(&name));
        }
        Ok(RunSummary {
            run_id: self.run_id,
            status,
            elapsed: self.started.elapsed(),
            steps,
            error,
            models,
        })
    }

    /// Exports the outputs when every step succeeded. The run's error: a
    /// source's, else a failed export, else the root cause (the step that
    /// failed first), else the first step in DAG order that did not
    /// succeed, skipped steps last (they only echo an upstream failure).
    fn export_outputs_or_error(&self, all_ok: bool) -> Option<String> {
        if !all_ok {
            let first_not_skipped = || {
                let order = self.plan.dag.topological_steps();
                let errors = || order.iter().filter_map(|name| self.summaries.get(name));
                errors()
                    .filter(|s| s.status != StepStatus::Skipped)
                    .chain(errors().filter(|s| s.status == StepStatus::Skipped))
                    .find_map(|s| s.error.clone())
            };
            return self
                .source_error
                .clone()
                .or_else(|| self.root_cause.clone())
                .or_else(first_not_skipped);
        }
        let mut error = None;
        for output in &self.plan.pipeline.outputs {
            if let Err(e) = export(&self.tables[&output.step].path, &output.path) {
                error = Some(format!("[output.{}] {e}", output.name));
            }
        }
        error
    }
}

/// What a step's plugin left with the host, if anything.
async fn record_logs(store: &Store, step_run: i64, logs: &[NewStepLog]) -> Result<(), RunError> {
    if !logs.is_empty() {
        store.record_step_logs(step_run, logs).await?;
    }
    Ok(())
}

/// The summary of a step that did not run (or ended without output).
fn not_run(name: &str, status: StepStatus, message: &str) -> StepSummary {
    StepSummary {
        name: name.to_string(),
        status,
        cache_hit: false,
        elapsed: Duration::ZERO,
        stats: SessionStats::default(),
        output: None,
        state: None,
        metrics: Vec::new(),
        attempts: 0,
        error: Some(message.to_string()),
    }
}

fn cached_summary(name: &str, hit: CacheHit, metrics: Vec<Metric>) -> StepSummary {
    StepSummary {
        name: name.to_string(),
        status: StepStatus::Succeeded,
        cache_hit: true,
        elapsed: Duration::ZERO,
        stats: SessionStats {
            rows_out: hit.rows.unwrap_or(0) as u64,
            ..Default::default()
        },
        output: Some(hit.output_digest),
        state: hit.state_digest,
        metrics,
        attempts: 0,
        error: None,
    }
}

fn outcome(
    status: StepStatus,
    cache_hit: bool,
    stats: Option<&SessionStats>,
    attempts: u32,
    error: Option<String>,
) -> StepOutcome {
    StepOutcome {
        status,
        cache_hit,
        cpu_ms: stats.map(|s| s.guest_time.as_millis() as i64),
        peak_memory: stats.map(|s| s.peak_memory as i64),
        rows_in: stats.map(|s| s.rows_in as i64),
        rows_out: stats.map(|s| s.rows_out as i64),
        attempts: i64::from(attempts),
        error,
        output_digest: None,
    }
}

/// Copies a table artifact to a file of any supported format.
pub fn export(artifact: &Path, out: &Path) -> Result<(), DataError> {
    let mut writer = TableWriter::create(out)?;
    for batch in TableReader::open(artifact, 8192)?.at_least_one_batch() {
        writer.write(&batch?)?;
    }
    writer.finish()
}
