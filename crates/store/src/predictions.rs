//! The prediction log's table: every answer a server gave, appended in
//! batches (idempotent on the request id), read back by time or id, and
//! its texts purged past their retention.

use super::*;
use crate::types::{NewPrediction, PredictionRecord};

/// Rows per INSERT statement: 15 values each stays far below SQLite's
/// bound-parameter limit.
const ROWS_PER_STATEMENT: usize = 200;
/// Bytes kept of a rule id, model, variant, label, action, channel or
/// language: they come from requests and detector plugins.
const FIELD_LIMIT: usize = 256;
/// Bytes kept of a message text (a server bounds it before this).
pub const PREDICTION_TEXT_LIMIT: usize = 64 * 1024;

pub(crate) const SELECT_PREDICTIONS: &str = "SELECT request_id, at, model, version, variant, score, label, \
     action, rules, latency_us, text_hash, text, user_hash, channel, lang FROM predictions";

fn field(text: &str) -> String {
    text::clean_line(text, FIELD_LIMIT)
}

fn check_prediction(p: &NewPrediction) -> Result<(), OpError> {
    if p.request_id.is_empty() || p.request_id.len() > FIELD_LIMIT {
        return Err(OpError::Invalid(format!(
            "prediction request_id must be 1 to {FIELD_LIMIT} bytes, got {}",
            p.request_id.len()
        )));
    }
    if p.latency_us < 0 {
        return Err(OpError::Invalid(format!(
            "prediction `{}`: latency_us must not be negative",
            text::clean_line(&p.request_id, FIELD_LIMIT)
        )));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct PredictionRow {
    request_id: String,
    at: i64,
    model: String,
    version: i64,
    variant: String,
    score: Option<f64>,
    label: Option<String>,
    action: String,
    rules: String,
    latency_us: i64,
    text_hash: String,
    text: Option<String>,
    user_hash: Option<String>,
    channel: Option<String>,
    lang: Option<String>,
}

impl TryFrom<PredictionRow> for PredictionRecord {
    type Error = OpError;

    fn try_from(row: PredictionRow) -> Result<Self, OpError> {
        let rules = serde_json::from_str(&row.rules).map_err(|e| {
            OpError::Invalid(format!(
                "prediction `{}` has malformed rules: {e}",
                row.request_id
            ))
        })?;
        Ok(PredictionRecord {
            request_id: row.request_id,
            at: row.at,
            model: row.model,
            version: row.version,
            variant: row.variant,
            score: row.score,
            label: row.label,
            action: row.action,
            rules,
            latency_us: row.latency_us,
            text_hash: row.text_hash,
            text: row.text,
            user_hash: row.user_hash,
            channel: row.channel,
            lang: row.lang,
        })
    }
}

impl Store {
    /// Appends `predictions` in one transaction; a request id already
    /// stored (a replay) is skipped, so appending twice adds each row once.
    /// Text fields are bounded and escaped. Returns the rows added.
    pub async fn append_predictions(
        &self,
        predictions: &[NewPrediction],
    ) -> Result<u64, StoreError> {
        self.op("append_predictions", async {
            if predictions.is_empty() {
                return Ok(0);
            }
            for p in predictions {
                check_prediction(p)?;
            }
            let added = with_write_tx!(&self.backend, tx => {
                let mut added = 0;
                for rows in predictions.chunks(ROWS_PER_STATEMENT) {
                    let mut sql = String::from(
                        "INSERT INTO predictions (request_id, at, model, version, variant, score, label, \
                         action, rules, latency_us, text_hash, text, user_hash, channel, lang) VALUES ",
                    );
                    for i in 0..rows.len() {
                        let base = 1 + 15 * i;
                        let sep = if i == 0 { "" } else { ", " };
                        let values: Vec<String> = (base..base + 15).map(|n| format!("${n}")).collect();
                        sql.push_str(&format!("{sep}({})", values.join(", ")));
                    }
                    sql.push_str(" ON CONFLICT (request_id) DO NOTHING");
                    // the SQL is built from placeholders only; every value is bound
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for p in rows {
                        let rules: Vec<String> = p.rules.iter().map(|r| field(r)).collect();
                        let rules = serde_json::Value::from(rules).to_string();
                        query = query
                            .bind(&p.request_id)
                            .bind(p.at)
                            .bind(field(&p.model))
                            .bind(p.version)
                            .bind(field(&p.variant))
                            .bind(p.score)
                            .bind(p.label.as_deref().map(field))
                            .bind(field(&p.action))
                            .bind(rules)
                            .bind(p.latency_us)
                            .bind(field(&p.text_hash))
                            .bind(p.text.as_deref().map(|t| text::clean(t, PREDICTION_TEXT_LIMIT)))
                            .bind(p.user_hash.as_deref().map(field))
                            .bind(p.channel.as_deref().map(field))
                            .bind(p.lang.as_deref().map(field));
                    }
                    added += query.execute(&mut *tx).await?.rows_affected();
                }
                added
            });
            tracing::debug!(added, offered = predictions.len(), "predictions appended");
            Ok(added)
        })
        .await
    }

    /// Up to `limit` predictions made at or after `since` (unix ms), oldest
    /// first (ties by request id).
    pub async fn predictions_since(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        self.op("predictions_since", async {
            check_limit(limit)?;
            let sql =
                format!("{SELECT_PREDICTIONS} WHERE at >= $1 ORDER BY at, request_id LIMIT $2");
            let rows: Vec<PredictionRow> = with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(since)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?);
            rows.into_iter().map(PredictionRecord::try_from).collect()
        })
        .await
    }

    pub async fn prediction(
        &self,
        request_id: &str,
    ) -> Result<Option<PredictionRecord>, StoreError> {
        self.op("prediction", async {
            let sql = format!("{SELECT_PREDICTIONS} WHERE request_id = $1");
            let row: Option<PredictionRow> = with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(request_id)
                    .fetch_optional(pool)
                    .await?);
            row.map(PredictionRecord::try_from).transpose()
        })
        .await
    }

    /// How many predictions are stored.
    pub async fn prediction_count(&self) -> Result<i64, StoreError> {
        self.op("prediction_count", async {
            Ok(with_pool!(&self.backend, pool =>
                sqlx::query_scalar("SELECT COUNT(*) FROM predictions")
                    .fetch_one(pool)
                    .await?))
        })
        .await
    }

    /// Nulls the text of every prediction (of `model`, or of every model)
    /// made more than `retention` ago; hash, score and decision stay.
    /// Returns the rows changed.
    pub async fn purge_prediction_texts(
        &self,
        retention: Duration,
        model: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.op("purge_prediction_texts", async {
            let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            let cutoff = now_ms().saturating_sub(retention_ms);
            let purged = with_pool!(&self.backend, pool =>
                sqlx::query(
                    "UPDATE predictions SET text = NULL \
                     WHERE at < $1 AND text IS NOT NULL AND ($2 IS NULL OR model = $2)",
                )
                    .bind(cutoff)
                    .bind(model)
                    .execute(pool)
                    .await?
                    .rows_affected());
            if purged > 0 {
                tracing::info!(purged, cutoff, "prediction texts purged past retention");
            }
            Ok(purged)
        })
        .await
    }
}
