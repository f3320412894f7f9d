//! The request path behind the handlers: a bounded queue, dynamic
//! micro-batching onto blocking threads, the circuit breakers, and the
//! served graph, swapped whole when its alias moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use sluice_data::data_type;
use sluice_pipeline::{Grants, InferenceError, InferenceGraph, ModelRef, ModelSource};
use sluice_runtime::{Runtime, Stop};
use sluice_store::Store;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::ServeError;
use crate::breaker::{Admit, Breakers};
use crate::config::Config;
use crate::metrics::{Metrics, StepLabels};

/// Why a message got the fail-safe answer.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The plugin step that failed or whose breaker is open, if one did.
    pub step: Option<String>,
    pub message: String,
}

/// What a job gets back: its rows scored, or the reason they could not be.
pub type Outcome = Result<Scored, Failure>;

/// A job's rows through the graph, and which graph scored them.
#[derive(Clone)]
pub struct Scored {
    pub batch: RecordBatch,
    pub model: Arc<Served>,
}

/// A built, warmed graph and the input schema requests are decoded into.
pub struct Served {
    pub graph: InferenceGraph,
    pub input: SchemaRef,
}

impl Served {
    pub fn new(graph: InferenceGraph) -> Served {
        let input = Arc::new(Schema::new(
            (graph.inputs().iter())
                .map(|c| Field::new(&c.name, data_type(c.ty), true))
                .collect::<Vec<_>>(),
        ));
        Served { graph, input }
    }
}

struct Job {
    batch: RecordBatch,
    reply: oneshot::Sender<Outcome>,
}

/// Counts a request from admission to its answer (the queue-depth bound).
pub struct Admitted {
    engine: Arc<Engine>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.engine.queued.fetch_sub(1, Ordering::AcqRel);
        self.engine.metrics.queue_depth.dec();
    }
}

pub struct Engine {
    pub config: Config,
    pub reference: ModelRef,
    pub served: ArcSwap<Served>,
    pub metrics: Metrics,
    pub breakers: Breakers,
    pub runtime: Runtime,
    pub store: Store,
    pub home: std::path::PathBuf,
    queued: AtomicUsize,
    jobs: mpsc::Sender<Job>,
}

/// Builds `source`'s graph with the grants recorded at training and
/// scores one row through it, so the first request pays no compile.
fn build_warm(source: &ModelSource, runtime: &Runtime) -> Result<Served, InferenceError> {
    let graph = InferenceGraph::build(source, runtime, Grants::Recorded)?;
    let served = Served::new(graph);
    let warm = RecordBatch::new_empty(served.input.clone());
    // a plugin that fails on no rows is the breakers' business, not startup's
    if let Err(e) = served.graph.predict(&warm, &Stop::default()) {
        tracing::warn!("warming {}: {e}", source.reference);
    }
    Ok(served)
}

impl Engine {
    /// Fetches and builds the configured model and starts the batchers.
    pub async fn start(
        config: Config,
        store: Store,
        home: std::path::PathBuf,
        runtime: Runtime,
    ) -> Result<Arc<Engine>, ServeError> {
        let reference = config.model_ref()?;
        let source = ModelSource::fetch(&store, &home, &reference).await?;
        let built = {
            let runtime = runtime.clone();
            tokio::task::spawn_blocking(move || build_warm(&source, &runtime))
                .await
                .map_err(|e| ServeError::Internal(e.to_string()))??
        };
        let (jobs, receiver) = mpsc::channel(config.limits.queue_depth);
        let metrics = Metrics::new();
        metrics.model_version.set(built.graph.version());
        let engine = Arc::new(Engine {
            breakers: Breakers::new(
                config.breaker.failures,
                Duration::from_millis(config.breaker.cooldown_ms),
            ),
            config,
            reference,
            served: ArcSwap::from_pointee(built),
            metrics,
            runtime,
            store,
            home,
            queued: AtomicUsize::new(0),
            jobs,
        });
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..engine.config.limits.workers {
            tokio::spawn(batcher(Arc::downgrade(&engine), receiver.clone()));
        }
        tokio::spawn(follow_alias(Arc::downgrade(&engine)));
        Ok(engine)
    }

    /// Admits a request, or refuses it when the queue is full.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        self.metrics.queue_depth.inc();
        let admitted = Admitted {
            engine: self.clone(),
        };
        (before < self.config.limits.queue_depth).then_some(admitted)
    }

    /// Scores `batch` (rows in the served graph's input schema) in the next
    /// micro-batch, as one job: its rows succeed or fail together.
    pub async fn score(&self, batch: RecordBatch) -> Outcome {
        match self.submit(batch).await {
            Ok(answer) => answered(answer).await,
            Err(failed) => Err(failed),
        }
    }

    /// Scores each row of `batch` as a job of its own (all queued at once,
    /// so they share micro-batches), so a poisoned message fails alone
    /// rather than taking its request's other messages with it.
    pub async fn score_rows(&self, batch: RecordBatch) -> Vec<Outcome> {
        let mut answers = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            answers.push(self.submit(batch.slice(row, 1)).await);
        }
        let mut outcomes = Vec::with_capacity(answers.len());
        for answer in answers {
            outcomes.push(match answer {
                Ok(answer) => answered(answer).await,
                Err(failed) => Err(failed),
            });
        }
        outcomes
    }

    async fn submit(&self, batch: RecordBatch) -> Result<oneshot::Receiver<Outcome>, Failure> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.send(Job { batch, reply }).await {
            Ok(()) => Ok(answer),
            Err(_) => Err(failure(None, "the server is shutting down")),
        }
    }

    fn record_breakers(&self) {
        for (step, phase) in self.breakers.phases() {
            self.metrics
                .breaker_state
                .get_or_create(&StepLabels { step })
                .set(phase.gauge());
        }
    }

    /// One micro-batch on a blocking thread: every job's rows together,
    /// and when a plugin fails, each job alone, so one poisoned message
    /// does not take its batch-mates' answers with it. The retries share
    /// the micro-batch's one deadline: a guest that hangs costs the worker
    /// `limits.timeout_ms` once, not once per job.
    fn run_blocking(&self, jobs: Vec<Job>) {
        let deadline = Instant::now() + self.config.limits.timeout();
        let served = self.served.load_full();
        let rows: usize = jobs.iter().map(|j| j.batch.num_rows()).sum();
        self.metrics.batch_rows.observe(rows as f64);
        let together = if jobs.len() == 1 {
            None
        } else {
            let batches: Vec<&RecordBatch> = jobs.iter().map(|j| &j.batch).collect();
            arrow::compute::concat_batches(&served.input, batches).ok()
        };
        let mut failed_step = None;
        if let Some(batch) = together {
            match self.predict(&served, &batch, deadline) {
                Ok(scored) => {
                    let mut offset = 0;
                    for job in jobs {
                        let n = job.batch.num_rows();
                        let _ = job.reply.send(Ok(Scored {
                            batch: scored.slice(offset, n),
                            model: served.clone(),
                        }));
                        offset += n;
                    }
                    return;
                }
                Err(failed) => failed_step = failed.step,
            }
        }
        for job in jobs {
            let outcome = if Instant::now() < deadline {
                self.predict(&served, &job.batch, deadline)
                    .map(|batch| Scored {
                        batch,
                        model: served.clone(),
                    })
            } else {
                // the batch's time went to a hung guest: no run, no breaker count
                Err(failure(
                    failed_step.clone(),
                    "the micro-batch's deadline passed before this message could be retried alone",
                ))
            };
            let _ = job.reply.send(outcome);
        }
    }

    fn predict(
        &self,
        served: &Served,
        batch: &RecordBatch,
        deadline: Instant,
    ) -> Result<RecordBatch, Failure> {
        if let Admit::Refuse(step) = self.breakers.admit() {
            self.record_breakers();
            return Err(failure(
                Some(step.clone()),
                &format!("the circuit breaker of step `{step}` is open"),
            ));
        }
        let stop = Stop {
            deadline: Some(deadline),
            cancel: None,
        };
        let result = served.graph.predict(batch, &stop);
        let outcome = match result {
            Ok(scored) => {
                self.breakers.succeeded();
                Ok(scored.batch)
            }
            Err(InferenceError::Plugin { step, error, .. }) => {
                self.metrics
                    .plugin_failures
                    .get_or_create(&StepLabels { step: step.clone() })
                    .inc();
                self.breakers.failed(&step);
                tracing::warn!("step `{step}` failed in the serving path: {error}");
                Err(failure(
                    Some(step.clone()),
                    &format!("step `{step}` failed"),
                ))
            }
            Err(other) => {
                // not a plugin's failure: a probe it was must not stay in flight
                self.breakers.abandoned();
                tracing::warn!("scoring failed: {other}");
                Err(failure(None, &other.to_string()))
            }
        };
        self.record_breakers();
        outcome
    }
}

async fn answered(answer: oneshot::Receiver<Outcome>) -> Outcome {
    answer
        .await
        .unwrap_or_else(|_| Err(failure(None, "the batch was dropped")))
}

fn failure(step: Option<String>, message: &str) -> Failure {
    Failure {
        step,
        message: message.to_string(),
    }
}

/// Takes the next job, then more until `max_rows` or `max_wait`, and
/// scores them together on a blocking thread. Ends with the engine.
async fn batcher(engine: std::sync::Weak<Engine>, receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let (max_rows, max_wait) = match engine.upgrade() {
            Some(e) => (e.config.limits.max_rows, e.config.limits.max_wait()),
            None => return,
        };
        let jobs = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut rows = first.batch.num_rows();
            let mut jobs = vec![first];
            let until = tokio::time::Instant::now() + max_wait;
            while rows < max_rows {
                match tokio::time::timeout_at(until, receiver.recv()).await {
                    Ok(Some(job)) => {
                        rows += job.batch.num_rows();
                        jobs.push(job);
                    }
                    _ => break,
                }
            }
            jobs
        };
        let Some(engine) = engine.upgrade() else {
            return;
        };
        // inference never runs on the reactor
        let _ = tokio::task::spawn_blocking(move || engine.run_blocking(jobs)).await;
    }
}

/// Polls the alias; when it names another version, fetches, builds and
/// warms that version off the request path and swaps it in whole.
async fn follow_alias(engine: std::sync::Weak<Engine>) {
    loop {
        let Some(e) = engine.upgrade() else { return };
        let period = Duration::from_millis(e.config.service.reload_ms);
        if let Err(error) = reload_once(&e).await {
            tracing::warn!("reloading {}: {error}", e.reference);
        }
        drop(e);
        tokio::time::sleep(period).await;
    }
}

/// Checks the followed alias once and swaps in the version it names, if
/// another.
pub async fn reload_once(engine: &Arc<Engine>) -> Result<(), ServeError> {
    let sluice_pipeline::inference::VersionRef::Alias(alias) = &engine.reference.version else {
        return Ok(());
    };
    let current = engine.served.load().graph.version();
    let now = engine
        .store
        .alias_version(&engine.reference.name, alias)
        .await
        .map_err(InferenceError::from)?;
    if now.is_none_or(|v| v == current) {
        return Ok(());
    }
    let source = ModelSource::fetch(&engine.store, &engine.home, &engine.reference).await?;
    let runtime = engine.runtime.clone();
    let built = tokio::task::spawn_blocking(move || build_warm(&source, &runtime))
        .await
        .map_err(|e| ServeError::Internal(e.to_string()))??;
    tracing::info!(
        "serving {} version {} (was {current})",
        engine.reference,
        built.graph.version()
    );
    engine.metrics.model_version.set(built.graph.version());
    engine.metrics.reloads.inc();
    engine.served.store(Arc::new(built));
    Ok(())
}
