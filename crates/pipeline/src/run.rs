//! Running a checked plan: a scheduler over the DAG (tokio; plugin work on
//! blocking threads), steps streaming chunk by chunk from their input table
//! to a content-addressed Parquet artifact, the step cache, and the run
//! record in the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::native;
use super::plan::{Plan, StepWork};
use super::spec::SourceKind;
use sluice_core::contract::Metric;
use sluice_core::contract::Params;
use sluice_core::{Digest, DigestWriter};
use sluice_data::blobs::{ArtifactDir, Spool, hash_file};
use sluice_data::{DataError, TableReader, TableWriter, batch_to_chunk, merge_into_batch};
use sluice_runtime::policy::EffectiveGrant;
use sluice_runtime::{Plugin, RuntimeError, SessionStats};
use sluice_store::{
    ArtifactKind, CacheEntry, NewArtifact, RunStatus, StepOutcome, StepStatus, Store, StoreError,
};

/// Attempts for a step whose failure was transient I/O (never for plugin errors).
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepSummary {
    pub name: String,
    pub status: StepStatus,
    pub cache_hit: bool,
    pub elapsed: Duration,
    pub stats: SessionStats,
    pub output: Option<String>,
    pub state: Option<String>,
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

/// A finished node's table: where it is and what it is, and where its
/// state (fitted plugin state or trained model) is, if it has one.
#[derive(Debug, Clone)]
struct NodeTable {
    digest: String,
    path: PathBuf,
    state: Option<(String, PathBuf)>,
}

/// Writes a step's table as a content-addressed Parquet artifact.
struct ArtifactWriter {
    spool: Option<Spool>,
    writer: Option<parquet::arrow::ArrowWriter<Spool>>,
}

impl ArtifactWriter {
    fn new(artifacts: &ArtifactDir) -> ArtifactWriter {
        ArtifactWriter {
            spool: Some(Spool::new(artifacts)),
            writer: None,
        }
    }

    fn write(&mut self, batch: &arrow::array::RecordBatch) -> Result<(), Failure> {
        if self.writer.is_none() {
            let spool = self.spool.take().expect("one writer per spool");
            self.writer = Some(
                parquet::arrow::ArrowWriter::try_new(spool, batch.schema(), None)
                    .map_err(|e| Failure::Fatal(format!("writing the output: {e}")))?,
            );
        }
        let writer = self.writer.as_mut().expect("created above");
        writer
            .write(batch)
            .map_err(|e| Failure::Transient(format!("writing the output: {e}")))
    }

    /// Digest, file name and size of the finished artifact.
    fn finish(mut self, artifacts: &ArtifactDir) -> Result<(String, String, u64), Failure> {
        let spool = match self.writer.take() {
            Some(writer) => writer
                .into_inner()
                .map_err(|e| Failure::Transient(format!("writing the output: {e}")))?,
            // no rows came: an empty file, as for an empty input
            None => self.spool.take().expect("unused spool"),
        };
        spool.finish(artifacts, "parquet").map_err(transient)
    }
}

/// Hash of every file under the granted directories (their content can
/// change a step's output, their host paths cannot).
fn dirs_digest(grant: &EffectiveGrant) -> String {
    let mut hasher = DigestWriter::new();
    for dir in &grant.grant.dirs {
        hasher.update(dir.guest.as_bytes());
        let mut files: Vec<PathBuf> = Vec::new();
        let mut stack = vec![dir.host.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path)
                } else {
                    files.push(path)
                }
            }
        }
        files.sort();
        for file in files {
            hasher.update(
                file.strip_prefix(&dir.host)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(std::fs::read(&file).unwrap_or_default());
        }
    }
    hasher.finish().hex()
}

/// The step's cache key: plugin digest, params, effective grant (columns,
/// directories' content, environment), input digests, chunk size and the
/// sluice version; for native steps the whole train spec and the model's
/// digest. Nothing incidental (paths, times, limits).
fn cache_key(work: &StepWork, input: &str, fit: Option<&str>, chunk_rows: usize) -> String {
    let work = match work {
        StepWork::Plugin {
            plugin,
            params,
            effective,
        } => serde_json::json!({
            "plugin": plugin.digest().to_string(),
            "params": params,
            "reads": effective.reads,
            "writes": effective.writes,
            "dirs": if effective.grant.dirs.is_empty() { String::new() } else { dirs_digest(effective) },
            "env": effective.grant.env,
        }),
        StepWork::Train { spec, features } => serde_json::json!({
            "train": spec,
            "features": features,
        }),
        StepWork::Predict { .. } => serde_json::json!({ "predict": true }),
    };
    let key = serde_json::json!({
        "v": 2,
        "sluice": env!("CARGO_PKG_VERSION"),
        "work": work,
        "input": input,
        "fit": fit,
        "chunk_rows": chunk_rows,
    });
    Digest::of(key.to_string().as_bytes()).to_string()
}

enum Failure {
    Cancelled,
    Transient(String),
    Fatal(String),
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        Failure::Fatal(e.to_string())
    }
}

impl From<DataError> for Failure {
    fn from(e: DataError) -> Self {
        Failure::Fatal(e.to_string())
    }
}

impl From<native::NativeError> for Failure {
    fn from(e: native::NativeError) -> Self {
        Failure::Fatal(format!("{}: {}", e.field, e.message))
    }
}

struct JobOutput {
    table: (String, String, u64, u64),
    /// Fitted plugin state or trained model: digest, file name, bytes.
    state: Option<(String, String, u64)>,
    state_kind: ArtifactKind,
    stats: SessionStats,
    metrics: Vec<Metric>,
}

struct Job {
    plan: Arc<Plan>,
    step: usize,
    input: NodeTable,
    fit: Option<NodeTable>,
    artifacts: ArtifactDir,
    cancel: Arc<AtomicBool>,
    observer: Arc<dyn Observer>,
}

fn transient(e: std::io::Error) -> Failure {
    Failure::Transient(e.to_string())
}

/// One attempt at a step, on a blocking thread.
fn run_job(job: &Job) -> Result<JobOutput, Failure> {
    std::fs::create_dir_all(job.artifacts.root()).map_err(transient)?;
    let step = &job.plan.steps[job.step];
    match &step.work {
        StepWork::Plugin {
            plugin,
            params,
            effective,
        } => run_plugin_job(job, plugin, params, effective),
        StepWork::Train { spec, features } => run_train_job(job, spec, features),
        StepWork::Predict { .. } => run_predict_job(job),
    }
}

/// Writes `bytes` as a content-addressed artifact with `extension`.
fn write_artifact(
    artifacts: &ArtifactDir,
    bytes: &[u8],
    extension: &str,
) -> Result<(String, String, u64), Failure> {
    let mut spool = Spool::new(artifacts);
    spool.write_all(bytes).map_err(transient)?;
    spool.finish(artifacts, extension).map_err(transient)
}

/// Native training: the whole input in memory, split, search, fit; the
/// held-out predictions become the step's table and the model its state.
fn run_train_job(
    job: &Job,
    spec: &super::spec::TrainSpec,
    features: &[(String, sluice_core::ColumnType)],
) -> Result<JobOutput, Failure> {
    let chunk_rows = job.plan.pipeline.chunk_rows;
    let reader = TableReader::open(&job.input.path, chunk_rows)?;
    let schema = reader.schema();
    let mut batches = Vec::new();
    for batch in reader {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(Failure::Cancelled);
        }
        batches.push(batch?);
    }
    let table = arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| Failure::Fatal(format!("reading the input: {e}")))?;
    drop(batches);
    let trained = native::train(spec, features, &table)?;
    let model = write_artifact(&job.artifacts, &trained.model.to_bytes(), "model")?;
    let mut writer = ArtifactWriter::new(&job.artifacts);
    writer.write(&trained.test_predictions)?;
    let (digest, name, bytes) = writer.finish(&job.artifacts)?;
    let rows = trained.test_predictions.num_rows() as u64;
    job.observer.event(Event::Rows {
        step: job.plan.steps[job.step].name.clone(),
        rows: trained.rows_in,
    });
    Ok(JobOutput {
        table: (digest, name, bytes, rows),
        state: Some(model),
        state_kind: ArtifactKind::Model,
        stats: SessionStats {
            rows_in: trained.rows_in,
            rows_out: rows,
            ..Default::default()
        },
        metrics: trained.metrics,
    })
}

/// Native prediction, streamed chunk by chunk.
fn run_predict_job(job: &Job) -> Result<JobOutput, Failure> {
    let step = &job.plan.steps[job.step];
    let model_path = job
        .fit
        .as_ref()
        .and_then(|m| m.state.as_ref())
        .ok_or_else(|| Failure::Fatal("the model step left no model".into()))?;
    let bytes = std::fs::read(&model_path.1).map_err(transient)?;
    let model = native::ModelFile::from_bytes(&bytes).map_err(Failure::Fatal)?;
    let mut writer = ArtifactWriter::new(&job.artifacts);
    let mut rows = 0u64;
    for batch in TableReader::open(&job.input.path, job.plan.pipeline.chunk_rows)? {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(Failure::Cancelled);
        }
        let batch = batch?;
        writer.write(&native::predict_batch(&model, &batch)?)?;
        rows += batch.num_rows() as u64;
        job.observer.event(Event::Rows {
            step: step.name.clone(),
            rows: batch.num_rows() as u64,
        });
    }
    let (digest, name, bytes) = writer.finish(&job.artifacts)?;
    Ok(JobOutput {
        table: (digest, name, bytes, rows),
        state: None,
        state_kind: ArtifactKind::State,
        stats: SessionStats {
            rows_in: rows,
            rows_out: rows,
            ..Default::default()
        },
        metrics: Vec::new(),
    })
}

/// A plugin step: fit pass (if fitted), then stream the input through
/// `process` into a Parquet artifact.
fn run_plugin_job(
    job: &Job,
    plugin: &Plugin,
    params: &Params,
    effective: &EffectiveGrant,
) -> Result<JobOutput, Failure> {
    let step = &job.plan.steps[job.step];
    let chunk_rows = job.plan.pipeline.chunk_rows;
    let started = Instant::now();
    let timeout = effective.grant.limits.timeout;
    let check = |what: &str| -> Result<(), Failure> {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(Failure::Cancelled);
        }
        if started.elapsed() > timeout {
            return Err(Failure::Fatal(format!(
                "step timeout: {what} ran past {timeout:?} (policy `timeout`)"
            )));
        }
        Ok(())
    };
    let mut stats = SessionStats::default();
    let state = if plugin.info().fits {
        let source = job.fit.as_ref().unwrap_or(&job.input);
        let mut session = plugin.session(params, effective, None)?;
        for batch in TableReader::open(&source.path, chunk_rows)? {
            check("fit")?;
            session.fit(batch_to_chunk(&batch?, &effective.reads)?)?;
        }
        let bytes = session.finish_fit()?;
        stats.add(session.stats());
        let (digest, name, size) = write_artifact(&job.artifacts, &bytes, "state")?;
        Some((digest, name, size, bytes))
    } else {
        None
    };

    let mut session = plugin.session(params, effective, state.as_ref().map(|s| s.3.as_slice()))?;
    let mut writer = ArtifactWriter::new(&job.artifacts);
    let mut rows = 0u64;
    for batch in TableReader::open(&job.input.path, chunk_rows)? {
        check("process")?;
        let batch = batch?;
        let output = session.process(batch_to_chunk(&batch, &effective.reads)?)?;
        writer.write(&merge_into_batch(&batch, &output)?)?;
        rows += batch.num_rows() as u64;
        job.observer.event(Event::Rows {
            step: step.name.clone(),
            rows: batch.num_rows() as u64,
        });
    }
    let metrics = session.finish()?;
    stats.add(session.stats());
    let (digest, name, bytes) = writer.finish(&job.artifacts)?;
    Ok(JobOutput {
        table: (digest, name, bytes, rows),
        state: state.map(|(d, n, s, _)| (d, n, s)),
        state_kind: ArtifactKind::State,
        stats,
        metrics,
    })
}

/// Runs `job` with retries for transient I/O failures (never for plugin
/// errors: a trap is not retried blindly).
fn run_with_retries(job: &Job) -> (Result<JobOutput, Failure>, u32) {
    let mut attempt = 1;
    loop {
        match run_job(job) {
            Err(Failure::Transient(message)) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(step = %job.plan.steps[job.step].name, attempt, "transient failure, retrying: {message}");
                std::thread::sleep(Duration::from_millis(200 * 4u64.pow(attempt - 1)));
                attempt += 1;
            }
            result => return (result, attempt),
        }
    }
}

/// A finished step task: which step, its cache key, when it began, and
/// the attempt result with the attempt count (or the thread's panic
/// message).
struct Finished {
    position: usize,
    key: String,
    begun: Instant,
    result: Result<(Result<JobOutput, Failure>, u32), String>,
}

/// Registers the model of every train step with the metrics of the
/// evaluators that scored its held-out predictions and the lineage of
/// everything before it; a new version becomes the `candidate`.
async fn register_models(
    store: &Store,
    plan: &Plan,
    tables: &HashMap<String, NodeTable>,
    summaries: &BTreeMap<String, StepSummary>,
    run_id: i64,
) -> Result<Vec<RegisteredModel>, RunError> {
    use sluice_registry::{Lineage, LineageStep, ModelMetric};
    let mut registered = Vec::new();
    for step in &plan.steps {
        let StepWork::Train { spec, .. } = &step.work else {
            continue;
        };
        let Some(model_digest) = tables.get(&step.name).and_then(|t| t.state.as_ref()) else {
            continue;
        };
        let mut metrics: Vec<ModelMetric> = summaries[&step.name]
            .metrics
            .iter()
            .map(|m| ModelMetric::new(&step.name, m))
            .collect();
        for scorer in plan.steps.iter().filter(|s| s.input == step.name) {
            if let Some(summary) = summaries.get(&scorer.name) {
                metrics.extend(
                    summary
                        .metrics
                        .iter()
                        .map(|m| ModelMetric::new(&scorer.name, m)),
                );
            }
        }
        // every node the model depends on (lineage lists them in plan order)
        let upstream = plan.dag.ancestors(&step.name);
        let ancestors: HashSet<&str> = upstream.iter().map(String::as_str).collect();
        let lineage = Lineage {
            training_data: tables[&step.input].digest.clone(),
            sources: plan
                .pipeline
                .sources
                .iter()
                .filter(|s| ancestors.contains(s.name.as_str()))
                .map(|s| (s.name.clone(), tables[&s.name].digest.clone()))
                .collect(),
            steps: plan
                .steps
                .iter()
                .filter(|s| ancestors.contains(s.name.as_str()))
                .map(|s| {
                    let (params, reads, writes) = match &s.work {
                        StepWork::Plugin {
                            params, effective, ..
                        } => (
                            serde_json::to_value(params).unwrap_or_default(),
                            effective.reads.iter().map(|(n, _)| n.clone()).collect(),
                            effective.writes.iter().map(|(n, _)| n.clone()).collect(),
                        ),
                        StepWork::Train { spec, .. } => (
                            serde_json::to_value(spec).unwrap_or_default(),
                            Vec::new(),
                            Vec::new(),
                        ),
                        StepWork::Predict { model } => (
                            serde_json::json!({ "model": model }),
                            Vec::new(),
                            Vec::new(),
                        ),
                    };
                    LineageStep {
                        name: s.name.clone(),
                        input: s.input.clone(),
                        plugin_digest: s.plugin_digest(),
                        params,
                        reads,
                        writes,
                        output_digest: tables[&s.name].digest.clone(),
                        state_digest: tables[&s.name].state.as_ref().map(|st| st.0.clone()),
                    }
                })
                .collect(),
        };
        let (version, created) = store
            .register_model(&sluice_store::NewModelVersion {
                name: spec.model_name.clone(),
                model_digest: model_digest.0.clone(),
                run_id,
                step: step.name.clone(),
                algorithm: spec.algorithm.clone(),
                params: serde_json::to_string(spec).unwrap_or_default(),
                metrics: serde_json::to_string(&metrics).unwrap_or_default(),
                lineage: serde_json::to_string(&lineage).unwrap_or_default(),
                gate: spec.gate.clone(),
            })
            .await?;
        if created {
            store
                .set_alias(
                    &spec.model_name,
                    sluice_registry::CANDIDATE,
                    version,
                    "sluice",
                    &serde_json::json!({ "run": run_id, "step": step.name }),
                )
                .await?;
        }
        registered.push(RegisteredModel {
            name: spec.model_name.clone(),
            version,
            step: step.name.clone(),
            created,
        });
    }
    Ok(registered)
}

/// A succeeded step's store writes, made after the next launches.
struct Completion {
    step_run: i64,
    outcome: StepOutcome,
    records: Vec<NewArtifact>,
    cache: CacheEntry,
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
    let started = Instant::now();
    let pipeline = &plan.pipeline;
    let text = std::fs::read(&pipeline.file).unwrap_or_default();
    let pipeline_digest = Digest::of(&text).to_string();
    let run_id = store.create_run(&pipeline.name, &pipeline_digest).await?;
    let policy_fingerprint = plan.policy.fingerprint();
    let previous = store
        .audit_log(200)
        .await?
        .into_iter()
        .find(|a| a.action == "run.start" && a.subject == pipeline.name)
        .and_then(|a| serde_json::from_str::<serde_json::Value>(&a.detail).ok())
        .and_then(|d| d["policy"].as_str().map(str::to_string));
    if previous.as_deref().is_some_and(|p| p != policy_fingerprint) {
        store
            .audit("sluice", "grant.change", &pipeline.name, &serde_json::json!({"policy": policy_fingerprint, "previous": previous, "file": plan.policy.path().display().to_string()}))
            .await?;
    }
    store
        .audit("sluice", "run.start", &pipeline.name, &serde_json::json!({"run": run_id, "pipeline": pipeline_digest, "policy": policy_fingerprint}))
        .await?;
    let mut recorded = HashSet::new();
    for step in &plan.steps {
        let Some(plugin) = step.plugin() else {
            continue;
        };
        if !recorded.insert(plugin.digest()) {
            continue;
        }
        let info = plugin.info();
        store
            .record_plugin(
                &plugin.digest().to_string(),
                &info.name,
                &info.version,
                plugin.contract(),
            )
            .await?;
    }

    let artifacts = ArtifactDir::new(home);
    let mut tables: HashMap<String, NodeTable> = HashMap::new();
    let mut summaries: BTreeMap<String, StepSummary> = BTreeMap::new();
    let mut source_error = None;
    for source in &pipeline.sources {
        match &source.kind {
            SourceKind::File(path) => match hash_file(path) {
                Ok(digest) => {
                    tables.insert(
                        source.name.clone(),
                        NodeTable {
                            digest,
                            path: path.clone(),
                            state: None,
                        },
                    );
                }
                Err(e) => {
                    source_error = Some(format!("[source.{}] {}: {e}", source.name, path.display()))
                }
            },
            SourceKind::Query(sql) => match store
                .query_to_parquet(sql, artifacts.root(), pipeline.chunk_rows)
                .await
            {
                Ok(temp) => match artifacts.adopt(&temp, "parquet") {
                    Ok((digest, name, _)) => {
                        tables.insert(
                            source.name.clone(),
                            NodeTable {
                                digest,
                                path: artifacts.path(&name),
                                state: None,
                            },
                        );
                    }
                    Err(e) => source_error = Some(format!("[source.{}]: {e}", source.name)),
                },
                Err(e) => source_error = Some(format!("[source.{}] query: {e}", source.name)),
            },
        }
    }

    let concurrency = options.concurrency.unwrap_or(pipeline.concurrency).max(1);
    let mut pending: Vec<usize> = (0..plan.steps.len()).collect();
    let mut failed: HashSet<String> = HashSet::new();
    let mut join: JoinSet<Finished> = JoinSet::new();
    // step-run ids of started steps, by plan position
    let mut step_runs: HashMap<usize, i64> = HashMap::new();
    // finished steps not yet written to the store (see the launch loop)
    let mut deferred: Vec<Completion> = Vec::new();
    if let Some(error) = &source_error {
        for step in &plan.steps {
            failed.insert(step.name.clone());
            let id = store
                .start_step(run_id, &step.name, step.plugin_digest().as_deref(), "")
                .await?;
            store
                .finish_step(
                    id,
                    &outcome(StepStatus::Skipped, false, None, 1, Some(error.clone())),
                )
                .await?;
            summaries.insert(step.name.clone(), skipped(&step.name, error));
        }
        pending.clear();
    }

    loop {
        // launch every ready step, up to the concurrency limit
        let mut index = 0;
        while index < pending.len() {
            let step = &plan.steps[pending[index]];
            // a predict step's model arrives through the `fit` slot
            let model_node = match &step.work {
                StepWork::Predict { model } => Some(model),
                _ => step.fit.as_ref(),
            };
            let upstream: Vec<&String> = std::iter::once(&step.input).chain(model_node).collect();
            if let Some(bad) = upstream.iter().find(|u| failed.contains(**u)) {
                let message = format!("not run: upstream `{bad}` did not succeed");
                let id = store
                    .start_step(run_id, &step.name, step.plugin_digest().as_deref(), "")
                    .await?;
                store
                    .finish_step(
                        id,
                        &outcome(StepStatus::Skipped, false, None, 1, Some(message.clone())),
                    )
                    .await?;
                observer.event(Event::StepFinished {
                    step: step.name.clone(),
                    status: StepStatus::Skipped,
                    cache_hit: false,
                });
                summaries.insert(step.name.clone(), skipped(&step.name, &message));
                failed.insert(step.name.clone());
                pending.remove(index);
                continue;
            }
            if !upstream.iter().all(|u| tables.contains_key(*u)) || cancel.load(Ordering::Relaxed) {
                index += 1;
                continue;
            }
            let input = tables[&step.input].clone();
            let fit = model_node.map(|f| tables[f].clone());
            let fit_digest = match &step.work {
                StepWork::Predict { .. } => fit
                    .as_ref()
                    .and_then(|f| f.state.as_ref())
                    .map(|s| s.0.as_str()),
                _ => fit.as_ref().map(|f| f.digest.as_str()),
            };
            let key = cache_key(&step.work, &input.digest, fit_digest, pipeline.chunk_rows);
            if !options.no_cache
                && let Some(hit) = store.cache_lookup(&key).await?
                && artifacts.path(&hit.path).exists()
                && hit
                    .state_path
                    .as_ref()
                    .is_none_or(|p| artifacts.path(p).exists())
            {
                let id = store
                    .start_step(run_id, &step.name, step.plugin_digest().as_deref(), &key)
                    .await?;
                // only steps that report metrics pay for the extra query
                let reports_metrics = match &step.work {
                    StepWork::Plugin { plugin, .. } => {
                        plugin.info().kind == sluice_core::contract::StepKind::Evaluator
                    }
                    StepWork::Train { .. } => true,
                    StepWork::Predict { .. } => false,
                };
                let metrics = if reports_metrics {
                    store.step_metrics(&key).await?
                } else {
                    Vec::new()
                };
                let mut done = outcome(StepStatus::Succeeded, true, None, 1, None);
                done.rows_out = hit.rows;
                done.output_digest = Some(hit.output_digest.clone());
                store.finish_step(id, &done).await?;
                observer.event(Event::StepFinished {
                    step: step.name.clone(),
                    status: StepStatus::Succeeded,
                    cache_hit: true,
                });
                tables.insert(
                    step.name.clone(),
                    NodeTable {
                        digest: hit.output_digest.clone(),
                        path: artifacts.path(&hit.path),
                        state: hit
                            .state_digest
                            .clone()
                            .zip(hit.state_path.as_deref().map(|p| artifacts.path(p))),
                    },
                );
                summaries.insert(
                    step.name.clone(),
                    StepSummary {
                        name: step.name.clone(),
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
                    },
                );
                pending.remove(index);
                index = 0; // a hit can make earlier-listed steps ready
                continue;
            }
            if join.len() >= concurrency {
                break;
            }
            observer.event(Event::StepStarted {
                step: step.name.clone(),
            });
            let job = Job {
                plan: plan.clone(),
                step: pending[index],
                input,
                fit,
                artifacts: artifacts.clone(),
                cancel: cancel.clone(),
                observer: observer.clone(),
            };
            let position = pending.remove(index);
            let name = step.name.clone();
            let plugin_digest = step.plugin_digest();
            // The job starts first; recording its start overlaps with it.
            let job_key = key.clone();
            join.spawn(async move {
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
            let id = store
                .start_step(run_id, &name, plugin_digest.as_deref(), &key)
                .await?;
            step_runs.insert(position, id);
        }
        // Record the previous completion only now, while the steps it made
        // ready already run: the store round trips overlap with their work.
        for completion in deferred.drain(..) {
            store
                .complete_step(
                    completion.step_run,
                    &completion.outcome,
                    &completion.records,
                    Some(&completion.cache),
                )
                .await?;
        }
        let Some(finished) = join.join_next().await else {
            break;
        };
        let Finished {
            position,
            key,
            begun,
            result,
        } = finished.map_err(|e| RunError::Io(e.to_string()))?;
        let id = step_runs[&position];
        let step = &plan.steps[position];
        let (result, attempts) = match result {
            Ok(r) => r,
            Err(panic) => (
                Err(Failure::Fatal(format!("step thread failed: {panic}"))),
                1,
            ),
        };
        match result {
            Ok(output) => {
                // lineage: the input table, then the fit table (fitted
                // plugins) or the model (predict steps)
                let second = match &step.work {
                    StepWork::Predict { model } => {
                        tables[model].state.as_ref().map(|s| s.0.clone())
                    }
                    _ => step.fit.as_ref().map(|f| tables[f].digest.clone()),
                };
                let inputs: Vec<String> = std::iter::once(tables[&step.input].digest.clone())
                    .chain(second)
                    .collect();
                let params = match &step.work {
                    StepWork::Plugin { params, .. } => serde_json::to_string(params),
                    StepWork::Train { spec, .. } => serde_json::to_string(spec),
                    StepWork::Predict { model } => {
                        serde_json::to_string(&serde_json::json!({ "model": model }))
                    }
                }
                .unwrap_or_default();
                let plugin_digest = step.plugin_digest();
                let mut records = Vec::with_capacity(2);
                if let Some((digest, name, bytes)) = &output.state {
                    records.push(NewArtifact {
                        digest: digest.clone(),
                        kind: output.state_kind,
                        path: name.clone(),
                        rows: None,
                        bytes: *bytes as i64,
                        created_by_run: run_id,
                        created_by_step: step.name.clone(),
                        plugin_digest: plugin_digest.clone(),
                        params: params.clone(),
                        inputs: inputs[inputs.len() - 1..].to_vec(),
                    });
                }
                let (digest, name, bytes, rows) = &output.table;
                let mut table_inputs = inputs.clone();
                table_inputs.extend(output.state.as_ref().map(|s| s.0.clone()));
                records.push(NewArtifact {
                    digest: digest.clone(),
                    kind: ArtifactKind::Table,
                    path: name.clone(),
                    rows: Some(*rows as i64),
                    bytes: *bytes as i64,
                    created_by_run: run_id,
                    created_by_step: step.name.clone(),
                    plugin_digest,
                    params,
                    inputs: table_inputs,
                });
                let cache = CacheEntry {
                    cache_key: key,
                    output_digest: digest.clone(),
                    state_digest: output.state.as_ref().map(|s| s.0.clone()),
                    created_at: now_ms(),
                    metrics: output.metrics.clone(),
                };
                let mut done = outcome(
                    StepStatus::Succeeded,
                    false,
                    Some(&output.stats),
                    attempts,
                    None,
                );
                done.rows_out = Some(*rows as i64);
                done.output_digest = Some(digest.clone());
                deferred.push(Completion {
                    step_run: id,
                    outcome: done,
                    records,
                    cache,
                });
                observer.event(Event::StepFinished {
                    step: step.name.clone(),
                    status: StepStatus::Succeeded,
                    cache_hit: false,
                });
                tables.insert(
                    step.name.clone(),
                    NodeTable {
                        digest: digest.clone(),
                        path: artifacts.path(name),
                        state: output
                            .state
                            .as_ref()
                            .map(|(d, n, _)| (d.clone(), artifacts.path(n))),
                    },
                );
                summaries.insert(
                    step.name.clone(),
                    StepSummary {
                        name: step.name.clone(),
                        status: StepStatus::Succeeded,
                        cache_hit: false,
                        elapsed: begun.elapsed(),
                        stats: output.stats,
                        output: Some(digest.clone()),
                        state: output.state.map(|s| s.0),
                        metrics: output.metrics,
                        attempts,
                        error: None,
                    },
                );
            }
            Err(failure) => {
                let (status, message) = match failure {
                    Failure::Cancelled => (StepStatus::Cancelled, "cancelled".to_string()),
                    Failure::Transient(m) => (
                        StepStatus::Failed,
                        format!("[step.{}] {m} (after {attempts} attempts)", step.name),
                    ),
                    Failure::Fatal(m) => (StepStatus::Failed, format!("[step.{}] {m}", step.name)),
                };
                store
                    .finish_step(
                        id,
                        &outcome(status, false, None, attempts, Some(message.clone())),
                    )
                    .await?;
                observer.event(Event::StepFinished {
                    step: step.name.clone(),
                    status,
                    cache_hit: false,
                });
                failed.insert(step.name.clone());
                let mut summary = skipped(&step.name, &message);
                summary.status = status;
                summary.elapsed = begun.elapsed();
                summary.attempts = attempts;
                summaries.insert(step.name.clone(), summary);
            }
        }
    }
    // steps never started because of cancellation
    for position in pending {
        let step = &plan.steps[position];
        let id = store
            .start_step(run_id, &step.name, step.plugin_digest().as_deref(), "")
            .await?;
        store
            .finish_step(
                id,
                &outcome(
                    StepStatus::Cancelled,
                    false,
                    None,
                    1,
                    Some("cancelled before it started".into()),
                ),
            )
            .await?;
        let mut summary = skipped(&step.name, "cancelled before it started");
        summary.status = StepStatus::Cancelled;
        summaries.insert(step.name.clone(), summary);
    }

    let cancelled = cancel.load(Ordering::Relaxed);
    let all_ok = summaries
        .values()
        .all(|s| s.status == StepStatus::Succeeded)
        && source_error.is_none();
    let mut error = source_error.clone();
    if all_ok {
        for output in &pipeline.outputs {
            if let Err(e) = export(&tables[&output.step].path, &output.path) {
                error = Some(format!("[output.{}] {e}", output.name));
            }
        }
    } else if error.is_none() {
        error = summaries.values().find_map(|s| s.error.clone());
    }
    let mut models = Vec::new();
    if all_ok && error.is_none() && !cancelled {
        models = register_models(store, &plan, &tables, &summaries, run_id).await?;
    }
    let status = if cancelled {
        RunStatus::Cancelled
    } else if all_ok && error.is_none() {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    store.finish_run(run_id, status, error.as_deref()).await?;
    store
        .audit(
            "sluice",
            "run.finish",
            &pipeline.name,
            &serde_json::json!({"run": run_id, "status": status.to_string()}),
        )
        .await?;
    let order = plan.dag.topological_steps();
    let mut steps: Vec<StepSummary> = Vec::new();
    for name in order {
        if let Some(s) = summaries.remove(&name) {
            steps.push(s);
        }
    }
    Ok(RunSummary {
        run_id,
        status,
        elapsed: started.elapsed(),
        steps,
        models,
    })
}

fn skipped(name: &str, message: &str) -> StepSummary {
    StepSummary {
        name: name.to_string(),
        status: StepStatus::Skipped,
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
    for batch in TableReader::open(artifact, 8192)? {
        writer.write(&batch?)?;
    }
    writer.finish()
}
