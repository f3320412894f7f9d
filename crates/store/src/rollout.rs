//! Deployments (a candidate version next to production: canary, A/B,
//! shadow) and feedback (verdicts on answers, reviews among them).
//!
//! Several processes share these rows (a CLI deploying, servers following,
//! a monitor deciding), so every state change is conditional: at most one
//! active deployment per model (a partial unique index), and ending one
//! only succeeds while it is still active; the loser gets a conflict
//! naming what happened instead of overwriting it.

use super::*;
use crate::types::{
    DeploymentMode, DeploymentRecord, DeploymentStatus, FeedbackRecord, NewDeployment, NewFeedback,
    PredictionRecord,
};

const SELECT_DEPLOYMENTS: &str = "SELECT id, model, version, baseline, mode, variant, percent, \
     status, created_at, created_by, ended_at, ended_by, reason, figures FROM deployments";
const SELECT_FEEDBACK: &str =
    "SELECT id, request_id, label, source, actor, action, at FROM feedback";
/// Bytes kept of a label, source, actor, action or reason.
const FIELD_LIMIT: usize = 256;

fn field(text: &str) -> String {
    text::clean_line(text, FIELD_LIMIT)
}

impl Store {
    /// Starts `new` as model's one active deployment, audited as
    /// `deployment.start` by `actor`. Fails with a conflict when the model
    /// already has an active one, and when the version does not exist.
    pub async fn start_deployment(
        &self,
        new: &NewDeployment,
        actor: &str,
    ) -> Result<DeploymentRecord, StoreError> {
        self.op("start_deployment", async {
            let percent_ok = match new.mode {
                DeploymentMode::Shadow => new.percent == 0.0,
                _ => new.percent > 0.0 && new.percent < 100.0,
            };
            if !percent_ok {
                return Err(OpError::Invalid(format!(
                    "a {} deployment's percent must be {}, got {}",
                    new.mode,
                    if new.mode == DeploymentMode::Shadow { "0" } else { "above 0 and below 100" },
                    new.percent
                )));
            }
            let variant = field(&new.variant);
            if variant.is_empty() || variant == "production" {
                return Err(OpError::Invalid(format!(
                    "a deployment's variant must be a name other than `production`, got `{variant}`"
                )));
            }
            let actor = field(actor);
            let now = now_ms();
            let record = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                let exists: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM model_versions WHERE name = $1 AND version = $2",
                )
                .bind(&new.model)
                .bind(new.version)
                .fetch_optional(&mut *tx)
                .await?;
                if exists.is_none() {
                    return Err(OpError::NotFound {
                        what: "model version",
                        key: format!("{} {}", new.model, new.version),
                    });
                }
                let active: Option<DeploymentRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT_DEPLOYMENTS} WHERE model = $1 AND status = 'active'"
                )))
                .bind(&new.model)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(active) = active {
                    return Err(OpError::Conflict(format!(
                        "model `{}` already has active deployment {} ({} of version {}, by {}); \
                         roll it back or promote it first",
                        new.model, active.id, active.mode, active.version, active.created_by
                    )));
                }
                let baseline: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM model_aliases WHERE name = $1 AND alias = 'production'",
                )
                .bind(&new.model)
                .fetch_optional(&mut *tx)
                .await?;
                if baseline == Some(new.version) {
                    return Err(OpError::Invalid(format!(
                        "version {} of `{}` is production already",
                        new.version, new.model
                    )));
                }
                // the unique index still guards a race the check above lost
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO deployments (model, version, baseline, mode, variant, percent, status, \
                     created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8) RETURNING id",
                )
                .bind(&new.model)
                .bind(new.version)
                .bind(baseline)
                .bind(new.mode.as_str())
                .bind(&variant)
                .bind(new.percent)
                .bind(now)
                .bind(&actor)
                .fetch_one(&mut *tx)
                .await?;
                let detail = canonical_json(&serde_json::json!({
                    "deployment": id,
                    "version": new.version,
                    "baseline": baseline,
                    "mode": new.mode,
                    "variant": variant,
                    "percent": new.percent,
                }));
                append_audit!(tx, now, &actor, "deployment.start", &new.model, &detail);
                DeploymentRecord {
                    id,
                    model: new.model.clone(),
                    version: new.version,
                    baseline,
                    mode: new.mode,
                    variant: variant.clone(),
                    percent: new.percent,
                    status: DeploymentStatus::Active,
                    created_at: now,
                    created_by: actor.clone(),
                    ended_at: None,
                    ended_by: None,
                    reason: None,
                    figures: None,
                }
            });
            tracing::info!(deployment = record.id, model = %record.model, version = record.version, mode = %record.mode, "deployment started");
            Ok(record)
        })
        .await
    }

    /// Ends active deployment `id` as `status` (promoted, rolled back or
    /// ended), with the reason and the comparator's figures, audited as
    /// `deployment.<status>` by `actor`. Only an active deployment can be
    /// ended: a second process ending it gets a conflict naming who did.
    pub async fn end_deployment(
        &self,
        id: i64,
        status: DeploymentStatus,
        actor: &str,
        reason: &str,
        figures: &serde_json::Value,
    ) -> Result<DeploymentRecord, StoreError> {
        self.op("end_deployment", async {
            if status == DeploymentStatus::Active {
                return Err(OpError::Invalid("a deployment cannot end as `active`".into()));
            }
            let actor = field(actor);
            let reason = text::clean_line(reason, 4096);
            let figures = canonical_json(figures);
            let now = now_ms();
            let record = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                let changed = sqlx::query(
                    "UPDATE deployments SET status = $1, ended_at = $2, ended_by = $3, reason = $4, \
                     figures = $5 WHERE id = $6 AND status = 'active'",
                )
                .bind(status.as_str())
                .bind(now)
                .bind(&actor)
                .bind(&reason)
                .bind(&figures)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let record: Option<DeploymentRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT_DEPLOYMENTS} WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(record) = record else {
                    return Err(OpError::NotFound { what: "deployment", key: id.to_string() });
                };
                if changed == 0 {
                    return Err(OpError::Conflict(format!(
                        "deployment {id} already ended: {} by {} ({})",
                        record.status,
                        record.ended_by.as_deref().unwrap_or("?"),
                        record.reason.as_deref().unwrap_or("no reason given")
                    )));
                }
                let detail = canonical_json(&serde_json::json!({
                    "deployment": id,
                    "version": record.version,
                    "baseline": record.baseline,
                    "mode": record.mode,
                    "reason": reason,
                    "figures": serde_json::from_str::<serde_json::Value>(&figures).unwrap_or_default(),
                }));
                let action = format!("deployment.{status}");
                append_audit!(tx, now, &actor, &action, &record.model, &detail);
                record
            });
            tracing::info!(deployment = id, status = %status, "deployment ended");
            Ok(record)
        })
        .await
    }

    /// The model's active deployment, if any.
    pub async fn active_deployment(
        &self,
        model: &str,
    ) -> Result<Option<DeploymentRecord>, StoreError> {
        self.op("active_deployment", async {
            Ok(with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT_DEPLOYMENTS} WHERE model = $1 AND status = 'active'"
                )))
                .bind(model)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// Deployments (of `model`, or every model), newest first.
    pub async fn deployments(
        &self,
        model: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.op("deployments", async {
            Ok(with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT_DEPLOYMENTS} WHERE ($1 IS NULL OR model = $1) ORDER BY id DESC LIMIT $2"
                )))
                .bind(model)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    /// Records a verdict on answer `request_id` (which must exist); a
    /// second verdict of the same source and actor replaces the first.
    pub async fn record_feedback(&self, new: &NewFeedback) -> Result<FeedbackRecord, StoreError> {
        self.op("record_feedback", async {
            let (label, source, actor) = (field(&new.label), field(&new.source), field(&new.actor));
            if label.is_empty() || source.is_empty() {
                return Err(OpError::Invalid(
                    "feedback needs a label and a source".into(),
                ));
            }
            let action = new.action.as_deref().map(field);
            let now = now_ms();
            let record = with_write_tx!(&self.backend, tx => {
                let known: Option<String> =
                    sqlx::query_scalar("SELECT request_id FROM predictions WHERE request_id = $1")
                        .bind(&new.request_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if known.is_none() {
                    return Err(OpError::NotFound {
                        what: "prediction",
                        key: field(&new.request_id),
                    });
                }
                let record: FeedbackRecord = sqlx::query_as(
                    "INSERT INTO feedback (request_id, label, source, actor, action, at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (request_id, source, actor) DO UPDATE SET label = excluded.label, \
                     action = excluded.action, at = excluded.at \
                     RETURNING id, request_id, label, source, actor, action, at",
                )
                .bind(&new.request_id)
                .bind(&label)
                .bind(&source)
                .bind(&actor)
                .bind(&action)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                record
            });
            Ok(record)
        })
        .await
    }

    /// Verdicts on `request_id`, oldest first.
    pub async fn feedback_for(&self, request_id: &str) -> Result<Vec<FeedbackRecord>, StoreError> {
        self.op("feedback_for", async {
            Ok(with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT_FEEDBACK} WHERE request_id = $1 ORDER BY at, id"
                )))
                .bind(request_id)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    /// Escalated answers of `model` no reviewer has decided yet, oldest
    /// first: what a person should look at next.
    pub async fn review_queue(
        &self,
        model: &str,
        limit: i64,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        self.op("review_queue", async {
            let sql = format!(
                "{} WHERE model = $1 AND action = 'escalate' AND NOT EXISTS \
                 (SELECT 1 FROM feedback f WHERE f.request_id = predictions.request_id \
                 AND f.source = 'review') ORDER BY at, request_id LIMIT $2",
                crate::predictions::SELECT_PREDICTIONS
            );
            let rows: Vec<crate::predictions::PredictionRow> = with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(model)
                    .bind(limit.max(0))
                    .fetch_all(pool)
                    .await?);
            rows.into_iter().map(PredictionRecord::try_from).collect()
        })
        .await
    }

    /// How many verdicts answers of `model` version `version` served as
    /// `variant` since `since` (unix ms) got, and how many agreed with the
    /// label answered: `(verdicts, agreed)`.
    pub async fn feedback_agreement(
        &self,
        model: &str,
        version: i64,
        variant: &str,
        since: i64,
    ) -> Result<(u64, u64), StoreError> {
        self.op("feedback_agreement", async {
            let (verdicts, agreed): (i64, i64) = with_pool!(&self.backend, pool =>
                sqlx::query_as(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN f.label = p.label THEN 1 ELSE 0 END), 0) \
                     FROM feedback f JOIN predictions p ON p.request_id = f.request_id \
                     WHERE p.model = $1 AND p.version = $2 AND p.variant = $3 AND p.at >= $4",
                )
                .bind(model)
                .bind(version)
                .bind(variant)
                .bind(since)
                .fetch_one(pool)
                .await?);
            Ok((verdicts.max(0) as u64, agreed.max(0) as u64))
        })
        .await
    }

    /// Per version of `model`: answers people reviewed, and how many of
    /// those they overturned (decided another label than the one answered).
    /// Newest version first.
    pub async fn review_counts(&self, model: &str) -> Result<Vec<ReviewCounts>, StoreError> {
        self.op("review_counts", async {
            let rows: Vec<(i64, i64, i64)> = with_pool!(&self.backend, pool =>
                sqlx::query_as(
                    "SELECT p.version, COUNT(*), \
                     COALESCE(SUM(CASE WHEN f.label <> p.label THEN 1 ELSE 0 END), 0) \
                     FROM feedback f JOIN predictions p ON p.request_id = f.request_id \
                     WHERE p.model = $1 AND f.source = 'review' \
                     GROUP BY p.version ORDER BY p.version DESC",
                )
                .bind(model)
                .fetch_all(pool)
                .await?);
            Ok(rows
                .into_iter()
                .map(|(version, reviewed, overturned)| ReviewCounts {
                    version,
                    reviewed: reviewed.max(0) as u64,
                    overturned: overturned.max(0) as u64,
                })
                .collect())
        })
        .await
    }
}

/// Reviews of one model version's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReviewCounts {
    pub version: i64,
    pub reviewed: u64,
    pub overturned: u64,
}
