//! One step's work on a blocking thread: a plugin driven over its input, a
//! model trained or applied, streamed chunk by chunk into a
//! content-addressed Parquet artifact; transient I/O failures retried.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::drive::{Driver, Pass, PluginRun, drive_plugin};
use super::inference::{InferenceError, InferenceGraph};
use super::native;
use super::plan::{FitSplit, Plan, PlannedStep, StepWork};
use super::run::{Event, Observer};
use super::spec::{TrainSpec, TransformSpec};
use super::transform;
use super::work::StepRecord;
use sluice_core::contract::{Metric, Params};
use sluice_core::{ColumnType, Digest};
use sluice_data::blobs::{ArtifactDir, Spool, StoredBlob, write_blob};
use sluice_data::{DataError, TableReader};
use sluice_runtime::policy::EffectiveGrant;
use sluice_runtime::{Plugin, RuntimeError, SessionStats, Stop};
use sluice_store::ArtifactKind;

/// Attempts for a step whose failure was transient I/O (never for plugin errors).
const MAX_ATTEMPTS: u32 = 3;

/// A finished node's table: where it is and what it is, and where its
/// state (fitted plugin state or trained model) is, if it has one.
#[derive(Debug, Clone)]
pub(crate) struct NodeTable {
    pub digest: Digest,
    pub path: PathBuf,
    pub state: Option<(Digest, PathBuf)>,
}

impl NodeTable {
    /// What `step` takes from this node through its second slot: the
    /// model (a predict step) or the fit table (a fitted plugin).
    pub fn second_digest(&self, step: &PlannedStep) -> Option<&Digest> {
        match step.work.model_step() {
            Some(_) => self.state.as_ref().map(|s| &s.0),
            None => Some(&self.digest),
        }
    }
}

/// The step's cache key: what the work is (see
/// [`StepWork::cache_material`]), its input digests, the chunk size and
/// the sluice version.
pub(crate) fn cache_key(
    work: &StepWork,
    input: &Digest,
    fit: Option<&Digest>,
    fit_split: Option<&FitSplit>,
    chunk_rows: usize,
) -> String {
    let key = serde_json::json!({
        "v": 2,
        "sluice": env!("CARGO_PKG_VERSION"),
        "work": work.cache_material(),
        "input": input,
        "fit": fit,
        "fit_split": fit_split,
        "chunk_rows": chunk_rows,
    });
    Digest::of(key.to_string().as_bytes()).to_string()
}

pub(crate) enum Failure {
    Cancelled,
    Transient(String),
    Fatal(String),
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Cancelled { .. } => Failure::Cancelled,
            e => Failure::Fatal(e.to_string()),
        }
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

fn transient(e: std::io::Error) -> Failure {
    Failure::Transient(e.to_string())
}

pub(crate) struct JobOutput {
    pub table: StoredBlob,
    pub rows: u64,
    /// Fitted plugin state or trained model.
    pub state: Option<StoredBlob>,
    pub state_kind: ArtifactKind,
    pub metrics: Vec<Metric>,
}

/// How a step's attempts ended: the last attempt's result and record, and
/// how many attempts were made.
pub(crate) struct Attempts {
    pub result: Result<JobOutput, Failure>,
    pub record: StepRecord,
    pub count: u32,
}

pub(crate) struct Job {
    pub plan: Arc<Plan>,
    pub step: usize,
    pub input: NodeTable,
    /// The fit table, or the model's node for a predict step.
    pub fit: Option<NodeTable>,
    pub artifacts: ArtifactDir,
    pub cancel: Arc<AtomicBool>,
    pub observer: Arc<dyn Observer>,
}

impl Job {
    fn step(&self) -> &PlannedStep {
        &self.plan.steps[self.step]
    }

    fn chunk_rows(&self) -> usize {
        self.plan.pipeline.chunk_rows
    }

    fn cancelled(&self) -> Result<(), Failure> {
        match self.cancel.load(Ordering::Relaxed) {
            true => Err(Failure::Cancelled),
            false => Ok(()),
        }
    }

    fn rows_done(&self, rows: u64) {
        self.observer.event(Event::Rows {
            step: self.step().name.clone(),
            rows,
        });
    }
}

/// Runs `job` with retries for transient I/O failures (never for plugin
/// errors: a trap is not retried blindly).
pub(crate) fn run_with_retries(job: &Job) -> Attempts {
    let mut attempt = 1;
    loop {
        let mut record = StepRecord::default();
        match run_job(job, &mut record) {
            Err(Failure::Transient(message)) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(step = %job.step().name, attempt, "transient failure, retrying: {message}");
                std::thread::sleep(Duration::from_millis(200 * 4u64.pow(attempt - 1)));
                attempt += 1;
            }
            result => {
                return Attempts {
                    result,
                    record,
                    count: attempt,
                };
            }
        }
    }
}

/// One attempt at a step, on a blocking thread; `record` gets what the
/// attempt used and captured, however it ends.
fn run_job(job: &Job, record: &mut StepRecord) -> Result<JobOutput, Failure> {
    std::fs::create_dir_all(job.artifacts.root()).map_err(transient)?;
    match &job.step().work {
        StepWork::Plugin {
            plugin,
            params,
            effective,
        } => run_plugin_job(job, plugin, params, effective, record),
        StepWork::Train { spec, features } => run_train_job(job, spec, features, record),
        StepWork::Predict { .. } => run_predict_job(job, record),
        StepWork::PredictRegistered { graph } => run_registered_predict_job(job, graph, record),
        StepWork::Transform { spec, features } => run_transform_job(job, spec, features, record),
    }
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
                sluice_data::parquet_writer(spool, batch.schema())
                    .map_err(|e| Failure::Fatal(format!("writing the output: {e}")))?,
            );
        }
        let writer = self.writer.as_mut().expect("created above");
        writer
            .write(batch)
            .map_err(|e| Failure::Transient(format!("writing the output: {e}")))
    }

    /// Digest, file name and size of the finished artifact.
    fn finish(mut self) -> Result<StoredBlob, Failure> {
        let spool = match self.writer.take() {
            Some(writer) => writer
                .into_inner()
                .map_err(|e| Failure::Transient(format!("writing the output: {e}")))?,
            // every writer is given at least one (possibly empty) batch
            None => {
                return Err(Failure::Fatal(
                    "the step produced no table (not even an empty one)".into(),
                ));
            }
        };
        spool.finish("parquet").map_err(transient)
    }
}

/// A CSV source with declared `types`, read once with them into a Parquet
/// artifact: a cell that is not its declared type fails the source (file,
/// line and column) before any step runs, and every step then reads the
/// declared types, not the ones inferred from the file's first rows.
pub(crate) fn typed_source(
    path: &Path,
    types: &BTreeMap<String, ColumnType>,
    artifacts: &ArtifactDir,
    chunk_rows: usize,
) -> Result<StoredBlob, String> {
    let message = |failure: Failure| match failure {
        Failure::Cancelled => "cancelled".to_string(),
        Failure::Transient(m) | Failure::Fatal(m) => m,
    };
    std::fs::create_dir_all(artifacts.root()).map_err(|e| e.to_string())?;
    let mut writer = ArtifactWriter::new(artifacts);
    let reader =
        TableReader::open_with_types(path, chunk_rows, types).map_err(|e| e.to_string())?;
    for batch in reader.at_least_one_batch() {
        writer
            .write(&batch.map_err(|e| e.to_string())?)
            .map_err(message)?;
    }
    writer.finish().map_err(message)
}

/// Writes `bytes` as a content-addressed artifact with `extension`.
fn write_artifact(
    artifacts: &ArtifactDir,
    bytes: &[u8],
    extension: &str,
) -> Result<StoredBlob, Failure> {
    write_blob(artifacts, bytes, extension).map_err(transient)
}

/// A plugin step: the shared drive into a Parquet artifact, stopping
/// between chunks when the run is cancelled or the policy's time is up.
fn run_plugin_job(
    job: &Job,
    plugin: &Plugin,
    params: &Params,
    effective: &EffectiveGrant,
    record: &mut StepRecord,
) -> Result<JobOutput, Failure> {
    let started = Instant::now();
    let timeout = effective.grant.limits.timeout;
    let mut driver = StepDriver {
        job,
        started,
        timeout,
        writer: ArtifactWriter::new(&job.artifacts),
        state: None,
    };
    let run = PluginRun {
        plugin,
        params,
        effective,
        chunk_rows: job.chunk_rows(),
        stop: Stop {
            deadline: started.checked_add(timeout),
            cancel: Some(job.cancel.clone()),
        },
        fit_rows: None,
    };
    let input = &job.input.path;
    let fit_input = job.fit.as_ref().map_or(input, |f| &f.path);
    let fit_rows = match job.plan.fit_splits.get(&job.step().name) {
        Some(split) if plugin.info().fits => Some(training_rows(fit_input, split, job)?),
        _ => None,
    };
    let run = PluginRun {
        fit_rows: fit_rows.as_deref(),
        ..run
    };
    let drive = drive_plugin(&run, input, fit_input, &mut driver);
    let driven = drive.driven;
    record.stats = driven.stats;
    record.output = driven.output;
    drive.result?;
    // the fitted state becomes an artifact only now that the step
    // succeeded: a failed step leaves no file that no record names
    let state = driver
        .state
        .as_deref()
        .map(|state| write_artifact(&job.artifacts, state, "state"))
        .transpose()?;
    Ok(JobOutput {
        table: driver.writer.finish()?,
        rows: driven.rows,
        state,
        state_kind: ArtifactKind::State,
        metrics: driven.metrics,
    })
}

/// Which rows of `table` are the training rows of `split`'s train step:
/// the same split function over the same target column. Only the target
/// column is kept in memory.
fn training_rows(table: &Path, split: &FitSplit, job: &Job) -> Result<Vec<bool>, Failure> {
    let failed = |message: String| {
        Failure::Fatal(format!(
            "fit on the training rows of train step `{}`: {message}",
            split.train_step
        ))
    };
    let reader = TableReader::open(table, job.chunk_rows())?;
    let column = match &split.target {
        Some(target) => Some(reader.schema().index_of(target).map_err(|_| {
            failed(format!(
                "the target column `{target}` is not in the fit table"
            ))
        })?),
        None => None,
    };
    let mut rows = 0usize;
    let mut targets = Vec::new();
    for batch in reader {
        job.cancelled()?;
        let batch = batch?;
        rows += batch.num_rows();
        if let Some(column) = column {
            targets.push(
                batch
                    .project(&[column])
                    .map_err(|e| failed(e.to_string()))?,
            );
        }
    }
    let target = match (&split.target, targets.first()) {
        (Some(name), Some(first)) => {
            let batch = arrow::compute::concat_batches(&first.schema(), &targets)
                .map_err(|e| failed(e.to_string()))?;
            let target = native::target_of(&batch, name, split.task)
                .map_err(|e| failed(format!("{}: {}", e.field, e.message)))?;
            Some(target)
        }
        _ => None,
    };
    let mut keep = vec![false; rows];
    if rows > 0 {
        let chosen = native::split_rows(target.as_ref(), rows, split.test_fraction, split.seed)
            .map_err(|e| failed(e.message))?;
        for row in chosen.train {
            keep[row] = true;
        }
    }
    Ok(keep)
}

/// A plugin step's side of the drive.
struct StepDriver<'a> {
    job: &'a Job,
    started: Instant,
    timeout: Duration,
    writer: ArtifactWriter,
    /// The fitted state, once the fit pass is over (bounded by the grant's
    /// `max_output_bytes`); written as an artifact when the step succeeds.
    state: Option<Vec<u8>>,
}

impl Driver for StepDriver<'_> {
    type Error = Failure;

    fn check(&mut self, pass: Pass) -> Result<(), Failure> {
        self.job.cancelled()?;
        if self.started.elapsed() > self.timeout {
            return Err(Failure::Fatal(format!(
                "step timeout: {} ran past {:?} (policy `timeout`)",
                pass.as_str(),
                self.timeout
            )));
        }
        Ok(())
    }

    fn rows(&mut self, pass: Pass, rows: u64) {
        if pass == Pass::Process {
            self.job.rows_done(rows);
        }
    }

    fn fitted(&mut self, state: &[u8], _: &SessionStats) -> Result<(), Failure> {
        self.state = Some(state.to_vec());
        Ok(())
    }

    fn write(&mut self, batch: &arrow::array::RecordBatch) -> Result<(), Failure> {
        self.writer.write(batch)
    }
}

/// Native training: the whole input in memory, split, search, fit; the
/// held-out predictions become the step's table and the model its state.
fn run_train_job(
    job: &Job,
    spec: &TrainSpec,
    features: &[(String, ColumnType)],
    record: &mut StepRecord,
) -> Result<JobOutput, Failure> {
    let table = read_table(job, &job.input.path)?;
    let step = &job.step().name;
    let progress = |message: String| {
        job.observer.event(Event::Progress {
            step: step.clone(),
            message,
        })
    };
    let trained = native::train(spec, features, &table, &progress)?;
    let model = write_artifact(&job.artifacts, &trained.model.to_bytes(), "model")?;
    let mut writer = ArtifactWriter::new(&job.artifacts);
    writer.write(&trained.test_predictions)?;
    let stored = writer.finish()?;
    let rows = trained.test_predictions.num_rows() as u64;
    job.rows_done(trained.rows_in);
    record.stats = SessionStats {
        rows_in: trained.rows_in,
        rows_out: rows,
        ..Default::default()
    };
    Ok(JobOutput {
        table: stored,
        rows,
        state: Some(model),
        state_kind: ArtifactKind::Model,
        metrics: trained.metrics,
    })
}

/// Reads a whole table into one batch (native fits need every row).
fn read_table(job: &Job, path: &Path) -> Result<arrow::array::RecordBatch, Failure> {
    let reader = TableReader::open(path, job.chunk_rows())?;
    let schema = reader.schema();
    let mut batches = Vec::new();
    for batch in reader {
        job.cancelled()?;
        batches.push(batch?);
    }
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| Failure::Fatal(format!("reading the input: {e}")))
}

/// A native fitted transform: fitted on the whole fit table (its `fit`
/// node, else its input) in memory, then applied to the input chunk by
/// chunk; the fitted transform is the step's state.
fn run_transform_job(
    job: &Job,
    spec: &TransformSpec,
    features: &[(String, ColumnType)],
    record: &mut StepRecord,
) -> Result<JobOutput, Failure> {
    let fit_path = job.fit.as_ref().map_or(&job.input.path, |f| &f.path);
    let fitted = transform::fit(spec, features, &read_table(job, fit_path)?)?;
    let state = write_artifact(&job.artifacts, &fitted.to_bytes(), "state")?;
    let mut writer = ArtifactWriter::new(&job.artifacts);
    let mut rows = 0u64;
    for batch in TableReader::open(&job.input.path, job.chunk_rows())?.at_least_one_batch() {
        job.cancelled()?;
        let batch = batch?;
        writer.write(&transform::apply_batch(spec, &fitted, features, &batch)?)?;
        rows += batch.num_rows() as u64;
        job.rows_done(batch.num_rows() as u64);
    }
    record.stats = SessionStats {
        rows_in: rows,
        rows_out: rows,
        ..Default::default()
    };
    Ok(JobOutput {
        table: writer.finish()?,
        rows,
        state: Some(state),
        state_kind: ArtifactKind::State,
        metrics: Vec::new(),
    })
}

/// Native prediction, streamed chunk by chunk.
fn run_predict_job(job: &Job, record: &mut StepRecord) -> Result<JobOutput, Failure> {
    let model_path = job
        .fit
        .as_ref()
        .and_then(|m| m.state.as_ref())
        .ok_or_else(|| Failure::Fatal("the model step left no model".into()))?;
    let bytes = std::fs::read(&model_path.1).map_err(transient)?;
    let model = native::ModelFile::from_bytes(&bytes).map_err(Failure::Fatal)?;
    let mut writer = ArtifactWriter::new(&job.artifacts);
    let mut rows = 0u64;
    for batch in TableReader::open(&job.input.path, job.chunk_rows())?.at_least_one_batch() {
        job.cancelled()?;
        let batch = batch?;
        writer.write(&native::predict_batch(&model, &batch)?)?;
        rows += batch.num_rows() as u64;
        job.rows_done(batch.num_rows() as u64);
    }
    record.stats = SessionStats {
        rows_in: rows,
        rows_out: rows,
        ..Default::default()
    };
    Ok(JobOutput {
        table: writer.finish()?,
        rows,
        state: None,
        state_kind: ArtifactKind::State,
        metrics: Vec::new(),
    })
}

impl From<InferenceError> for Failure {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::Plugin { error, .. }
                if matches!(*error, RuntimeError::Cancelled { .. }) =>
            {
                Failure::Cancelled
            }
            e => Failure::Fatal(e.to_string()),
        }
    }
}

/// A registered model's inference graph over the input, chunk by chunk:
/// fresh plugin sessions per chunk, nothing fitted.
fn run_registered_predict_job(
    job: &Job,
    graph: &InferenceGraph,
    record: &mut StepRecord,
) -> Result<JobOutput, Failure> {
    let stop = Stop {
        deadline: None,
        cancel: Some(job.cancel.clone()),
    };
    let mut writer = ArtifactWriter::new(&job.artifacts);
    let mut rows = 0u64;
    for batch in TableReader::open(&job.input.path, job.chunk_rows())?.at_least_one_batch() {
        job.cancelled()?;
        let batch = batch?;
        let scored = graph.predict(&batch, &stop);
        if let Ok(scored) = &scored {
            record.stats.add(&scored.stats);
        }
        writer.write(&scored?.batch)?;
        rows += batch.num_rows() as u64;
        job.rows_done(batch.num_rows() as u64);
    }
    Ok(JobOutput {
        table: writer.finish()?,
        rows,
        state: None,
        state_kind: ArtifactKind::State,
        metrics: Vec::new(),
    })
}
