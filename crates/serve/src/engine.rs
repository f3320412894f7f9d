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

use sluice_pipeline::inference::VersionRef;
use sluice_store::{DeploymentMode, DeploymentRecord, DeploymentStatus};

use crate::ServeError;
use crate::breaker::{Admit, Breakers};
use crate::config::Config;
use crate::metrics::{Metrics, StepLabels};
use crate::rollout::{Agreement, Comparison, Verdict, is_candidate};

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

/// A built, warmed graph, the input schema requests are decoded into, and
/// its circuit breakers (one per plugin step; a new version starts with
/// closed ones, and a candidate's failures never open production's).
pub struct Served {
    pub graph: InferenceGraph,
    pub input: SchemaRef,
    pub breakers: Breakers,
}

impl Served {
    pub fn new(graph: InferenceGraph, breaker: &crate::config::Breaker) -> Served {
        let input = Arc::new(Schema::new(
            (graph.inputs().iter())
                .map(|c| Field::new(&c.name, data_type(c.ty), true))
                .collect::<Vec<_>>(),
        ));
        Served {
            graph,
            input,
            breakers: Breakers::new(breaker.failures, Duration::from_millis(breaker.cooldown_ms)),
        }
    }
}

/// A deployment this server follows: the candidate's graph next to
/// production's, and the comparison of the two.
pub struct Candidate {
    pub deployment: DeploymentRecord,
    pub served: Arc<Served>,
    pub comparison: Comparison,
    pub started: Instant,
    /// Shadow mode: mirrored rows waiting to be scored off the request path.
    shadow: Option<mpsc::Sender<(Mirror, Instant)>>,
}

/// A production answer to be scored again by the shadow.
struct Mirror {
    batch: RecordBatch,
    production_label: bool,
}

struct Job {
    batch: RecordBatch,
    model: Arc<Served>,
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
    /// The active deployment of the served model, when following `production`.
    pub candidate: arc_swap::ArcSwapOption<Candidate>,
    pub metrics: Metrics,
    pub runtime: Runtime,
    pub store: Store,
    pub home: std::path::PathBuf,
    queued: AtomicUsize,
    jobs: mpsc::Sender<Job>,
}

/// Builds `source`'s graph with the grants recorded at training and
/// scores one row through it, so the first request pays no compile.
fn build_warm(
    source: &ModelSource,
    runtime: &Runtime,
    breaker: &crate::config::Breaker,
) -> Result<Served, InferenceError> {
    let graph = InferenceGraph::build(source, runtime, Grants::Recorded)?;
    let served = Served::new(graph, breaker);
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
            let breaker = config.breaker.clone();
            tokio::task::spawn_blocking(move || build_warm(&source, &runtime, &breaker))
                .await
                .map_err(|e| ServeError::Internal(e.to_string()))??
        };
        let (jobs, receiver) = mpsc::channel(config.limits.queue_depth);
        let metrics = Metrics::new();
        metrics.model_version.set(built.graph.version());
        let engine = Arc::new(Engine {
            config,
            reference,
            served: ArcSwap::from_pointee(built),
            candidate: Default::default(),
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
        tokio::spawn(judge(Arc::downgrade(&engine)));
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

    /// Scores `batch` (rows in `model`'s input schema) in the next
    /// micro-batch, as one job: its rows succeed or fail together.
    pub async fn score(&self, model: Arc<Served>, batch: RecordBatch) -> Outcome {
        match self.submit(model, batch).await {
            Ok(answer) => answered(answer).await,
            Err(failed) => Err(failed),
        }
    }

    /// Scores each row of `batch` as a job of its own (all queued at once,
    /// so they share micro-batches), so a poisoned message fails alone
    /// rather than taking its request's other messages with it.
    pub async fn score_rows(&self, rows: Vec<(Arc<Served>, RecordBatch)>) -> Vec<Outcome> {
        let mut answers = Vec::with_capacity(rows.len());
        for (model, row) in rows {
            answers.push(self.submit(model, row).await);
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

    async fn submit(
        &self,
        model: Arc<Served>,
        batch: RecordBatch,
    ) -> Result<oneshot::Receiver<Outcome>, Failure> {
        let (reply, answer) = oneshot::channel();
        match self
            .jobs
            .send(Job {
                batch,
                model,
                reply,
            })
            .await
        {
            Ok(()) => Ok(answer),
            Err(_) => Err(failure(None, "the server is shutting down")),
        }
    }

    fn record_breakers(&self, served: &Arc<Served>) {
        let family = if Arc::ptr_eq(served, &self.served.load()) {
            &self.metrics.breaker_state
        } else {
            &self.metrics.candidate_breaker_state
        };
        for (step, phase) in served.breakers.phases() {
            family
                .get_or_create(&StepLabels { step })
                .set(phase.gauge());
        }
    }

    /// Which graph answers a message from `user` (its user id, else its
    /// request id), and the variant it answers as: the candidate's for a
    /// canary or A/B deployment's share of users (sticky), else production.
    pub fn route(&self, user: &str) -> (Arc<Served>, String, Option<Arc<Candidate>>) {
        let production = self.served.load_full();
        let candidate = self.candidate.load_full();
        if let Some(c) = &candidate
            && c.deployment.mode != DeploymentMode::Shadow
            && is_candidate(user, c.deployment.percent)
        {
            return (c.served.clone(), c.deployment.variant.clone(), candidate);
        }
        (production, self.production_variant(), candidate)
    }

    /// The variant production answers as: the alias followed.
    pub fn production_variant(&self) -> String {
        match &self.reference.version {
            VersionRef::Alias(alias) => alias.clone(),
            VersionRef::Number(n) => format!("version-{n}"),
        }
    }

    /// Hands a production answer's rows to the shadow, if one runs; drops
    /// them when its queue is full (a shadow never slows production).
    pub fn mirror(&self, candidate: &Candidate, batch: RecordBatch, production_label: bool) {
        if let Some(shadow) = &candidate.shadow
            && shadow
                .try_send((
                    Mirror {
                        batch,
                        production_label,
                    },
                    Instant::now(),
                ))
                .is_err()
        {
            self.metrics.shadow_dropped.inc();
        }
    }

    /// One micro-batch on a blocking thread: every job's rows together,
    /// and when a plugin fails, each job alone, so one poisoned message
    /// does not take its batch-mates' answers with it. The retries share
    /// the micro-batch's one deadline: a guest that hangs costs the worker
    /// `limits.timeout_ms` once, not once per job.
    fn run_blocking(&self, mut jobs: Vec<Job>) {
        // one group per graph (production, a candidate), each with its own
        // deadline: a hanging candidate must not take production's time
        while !jobs.is_empty() {
            let model = jobs[0].model.clone();
            let (group, rest): (Vec<Job>, Vec<Job>) = jobs
                .into_iter()
                .partition(|j| Arc::ptr_eq(&j.model, &model));
            self.run_group(&model, group);
            jobs = rest;
        }
    }

    fn run_group(&self, served: &Arc<Served>, jobs: Vec<Job>) {
        let deadline = Instant::now() + self.config.limits.timeout();
        let served = served.clone();
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
        served: &Arc<Served>,
        batch: &RecordBatch,
        deadline: Instant,
    ) -> Result<RecordBatch, Failure> {
        if let Admit::Refuse(step) = served.breakers.admit() {
            self.record_breakers(served);
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
                served.breakers.succeeded();
                Ok(scored.batch)
            }
            Err(InferenceError::Plugin { step, error, .. }) => {
                self.metrics
                    .plugin_failures
                    .get_or_create(&StepLabels { step: step.clone() })
                    .inc();
                served.breakers.failed(&step);
                tracing::warn!("step `{step}` failed in the serving path: {error}");
                Err(failure(
                    Some(step.clone()),
                    &format!("step `{step}` failed"),
                ))
            }
            Err(other) => {
                // not a plugin's failure: a probe it was must not stay in flight
                served.breakers.abandoned();
                tracing::warn!("scoring failed: {other}");
                Err(failure(None, &other.to_string()))
            }
        };
        self.record_breakers(served);
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
        if let Err(error) = follow_deployment(&e).await {
            tracing::warn!("following deployments of {}: {error}", e.reference.name);
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
    let breaker = engine.config.breaker.clone();
    let built = tokio::task::spawn_blocking(move || build_warm(&source, &runtime, &breaker))
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

/// Follows the model's active deployment (only a server following
/// `production` takes part): builds and warms a new candidate off the
/// request path and swaps it in, or drops an ended one.
async fn follow_deployment(engine: &Arc<Engine>) -> Result<(), ServeError> {
    if !matches!(&engine.reference.version, VersionRef::Alias(a) if a == "production") {
        return Ok(());
    }
    let active = (engine.store)
        .active_deployment(&engine.reference.name)
        .await
        .map_err(InferenceError::from)?;
    let current = engine.candidate.load_full();
    let deployment = match (active, current) {
        (None, None) => return Ok(()),
        (None, Some(ended)) => {
            tracing::info!(
                "deployment {} of version {} ended: serving production only",
                ended.deployment.id,
                ended.deployment.version
            );
            engine.candidate.store(None);
            return Ok(());
        }
        (Some(d), Some(c)) if c.deployment.id == d.id => return Ok(()),
        (Some(d), _) => d,
    };
    let reference = ModelRef {
        name: deployment.model.clone(),
        version: VersionRef::Number(deployment.version),
    };
    let source = ModelSource::fetch(&engine.store, &engine.home, &reference).await?;
    let runtime = engine.runtime.clone();
    let breaker = engine.config.breaker.clone();
    let built = tokio::task::spawn_blocking(move || build_warm(&source, &runtime, &breaker))
        .await
        .map_err(|e| ServeError::Internal(e.to_string()))??;
    let served = Arc::new(built);
    let shadow = (deployment.mode == DeploymentMode::Shadow).then(|| {
        let (send, receive) = mpsc::channel(engine.config.rollout.shadow_queue);
        tokio::spawn(shadow_worker(
            Arc::downgrade(engine),
            served.clone(),
            receive,
        ));
        send
    });
    tracing::info!(
        "deployment {}: version {} as `{}` ({}, {} %)",
        deployment.id,
        deployment.version,
        deployment.variant,
        deployment.mode,
        deployment.percent
    );
    engine.candidate.store(Some(Arc::new(Candidate {
        deployment,
        served,
        comparison: Comparison::default(),
        started: Instant::now(),
        shadow,
    })));
    Ok(())
}

/// Scores mirrored production rows with the shadow's graph, one at a time
/// on a blocking thread of its own, and records them on the candidate's
/// side; ends when the deployment is dropped.
async fn shadow_worker(
    engine: std::sync::Weak<Engine>,
    served: Arc<Served>,
    mut mirrored: mpsc::Receiver<(Mirror, Instant)>,
) {
    while let Some((mirror, queued)) = mirrored.recv().await {
        let Some(e) = engine.upgrade() else { return };
        let graph = served.clone();
        let scored = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + e.config.limits.timeout();
            let outcome = e.predict(&graph, &mirror.batch, deadline);
            (e, outcome, mirror.production_label)
        })
        .await;
        let Ok((e, outcome, production_label)) = scored else {
            continue;
        };
        let Some(candidate) = e.candidate.load_full() else {
            continue;
        };
        if !Arc::ptr_eq(&candidate.served, &served) {
            return;
        }
        let (action, score, label, fail_safe) = match &outcome {
            Ok(batch) => {
                let (action, score, positive, _) = crate::api::judged(&e.config, batch, 0);
                (action, score, Some(positive), false)
            }
            Err(_) => (e.config.fail_safe.action, None, None, true),
        };
        candidate
            .comparison
            .record_candidate(action, score, queued.elapsed(), fail_safe);
        if let Some(label) = label {
            candidate.comparison.mirrored(label == production_label);
        }
    }
}

/// Every `rollout.check_ms`, judges the candidate against production and,
/// with `rollout.auto`, rolls it back or promotes it. Each server judges
/// on the traffic it saw; ending a deployment is conditional in the store,
/// so of several servers deciding at once one acts and the others follow.
async fn judge(engine: std::sync::Weak<Engine>) {
    loop {
        let Some(e) = engine.upgrade() else { return };
        let period = Duration::from_millis(e.config.rollout.check_ms);
        if e.config.rollout.auto
            && let Some(candidate) = e.candidate.load_full()
            && let Err(error) = judge_once(&e, &candidate).await
        {
            tracing::warn!("judging deployment {}: {error}", candidate.deployment.id);
        }
        drop(e);
        tokio::time::sleep(period).await;
    }
}

async fn judge_once(engine: &Arc<Engine>, candidate: &Candidate) -> Result<(), ServeError> {
    let d = &candidate.deployment;
    let agreement = |version: Option<i64>, variant: String| {
        let store = engine.store.clone();
        let model = d.model.clone();
        let since = d.created_at;
        async move {
            let Some(version) = version else {
                return Ok(Agreement::default());
            };
            let (verdicts, agreed) = store
                .feedback_agreement(&model, version, &variant, since)
                .await?;
            Ok::<_, sluice_store::StoreError>(Agreement { verdicts, agreed })
        }
    };
    let agreements = (
        agreement(d.baseline, engine.production_variant()).await?,
        agreement(Some(d.version), d.variant.clone()).await?,
    );
    let verdict = candidate.comparison.judge(
        &engine.config.rollout,
        agreements,
        candidate.started.elapsed(),
    );
    let figures = candidate.comparison.figures(agreements);
    let actor = format!("serve/{}", engine.config.service.name);
    let ended = match verdict {
        Verdict::Wait => return Ok(()),
        Verdict::Rollback { reason } => {
            tracing::warn!("deployment {}: rolling back: {reason}", d.id);
            engine
                .store
                .end_deployment(
                    d.id,
                    DeploymentStatus::RolledBack,
                    &actor,
                    &reason,
                    &figures,
                )
                .await
                .map(|_| ())
        }
        Verdict::Promote { reason } => {
            tracing::info!("deployment {}: promoting: {reason}", d.id);
            match sluice_registry::rollout::promote_deployment(
                &engine.store,
                d,
                &actor,
                &reason,
                &figures,
            )
            .await
            {
                Ok(_) => Ok(()),
                Err(sluice_registry::RegistryError::Store(e)) => Err(e),
                Err(refused) => {
                    tracing::warn!("deployment {}: {refused}", d.id);
                    Ok(())
                }
            }
        }
    };
    match ended {
        // another process ended it first: follow what the store says
        Err(e) if !e.is_conflict() => return Err(InferenceError::from(e).into()),
        _ => {}
    }
    engine.candidate.store(None);
    reload_once(engine).await
}
