//! Metrics kept with cache entries, and the model registry: versions, aliases
//! and the history of every alias move (each move also in the audit log).

use super::*;
use sluice_core::contract::Metric;

/// Serialises version numbering per store on PostgreSQL (SQLite's
/// `BEGIN IMMEDIATE` already does).
const PG_REGISTRY_LOCK: i64 = 0x736c_7569_6365_0002;

/// `SELECT <every model_versions column> FROM model_versions <tail>`.
macro_rules! select_versions {
    ($tail:literal) => {
        concat!(
            "SELECT name, version, model_digest, run_id, step, algorithm, params, metrics, lineage, gate, created_at \
             FROM model_versions ",
            $tail
        )
    };
}

fn check_model_name(what: &str, name: &str) -> Result<(), OpError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(OpError::Invalid(format!(
            "{what} `{name}` may hold only letters, digits, `-` and `_`"
        )));
    }
    Ok(())
}

impl Store {
    /// Metrics recorded with a cache entry, in the order they were reported.
    pub async fn step_metrics(&self, cache_key: &str) -> Result<Vec<Metric>, StoreError> {
        self.op("step_metrics", async {
            let rows: Vec<(String, Option<f64>, String)> = with_pool!(&self.backend, pool =>
                sqlx::query_as(
                    "SELECT name, value, labels FROM step_metrics WHERE cache_key = $1 ORDER BY position",
                )
                .bind(cache_key)
                .fetch_all(pool)
                .await?);
            rows.into_iter()
                .map(|(name, value, labels)| {
                    let labels = serde_json::from_str(&labels).map_err(|e| {
                        OpError::Invalid(format!("metric `{name}` of {cache_key} has bad labels: {e}"))
                    })?;
                    Ok(Metric {
                        name,
                        value: value.unwrap_or(f64::NAN),
                        labels,
                    })
                })
                .collect()
        })
        .await
    }

    /// Registers a model version under `model.name`, numbered one past the
    /// latest. A model digest already registered under that name returns
    /// its existing version. Returns `(version, newly created)`. A run
    /// registers under its `lease`: a run another process took over (its
    /// lease expired) registers nothing.
    pub async fn register_model(
        &self,
        model: &NewModelVersion,
        lease: Option<&RunLease>,
    ) -> Result<(i64, bool), StoreError> {
        self.op("register_model", async {
            check_model_name("model name", &model.name)?;
            let now = now_ms();
            let out = with_write_tx!(&self.backend, tx, lock = Some(PG_REGISTRY_LOCK) => {
                if let Some(lease) = lease {
                    hold_lease!(tx, &self.backend, lease);
                }
                let existing: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM model_versions WHERE name = $1 AND model_digest = $2",
                )
                .bind(&model.name)
                .bind(model.model_digest)
                .fetch_optional(&mut *tx)
                .await?;
                match existing {
                    Some(version) => (version, false),
                    None => {
                        let latest: Option<i64> = sqlx::query_scalar(
                            "SELECT MAX(version) FROM model_versions WHERE name = $1",
                        )
                        .bind(&model.name)
                        .fetch_one(&mut *tx)
                        .await?;
                        let version = latest.unwrap_or(0) + 1;
                        sqlx::query(
                            "INSERT INTO model_versions (name, version, model_digest, run_id, step, algorithm, \
                             params, metrics, lineage, gate, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        )
                        .bind(&model.name)
                        .bind(version)
                        .bind(model.model_digest)
                        .bind(model.run_id)
                        .bind(&model.step)
                        .bind(&model.algorithm)
                        .bind(model.params.to_string())
                        .bind(model.metrics.to_string())
                        .bind(model.lineage.to_string())
                        .bind(model.gate.as_deref())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| missing_parent(e, "model artifact or run", model.model_digest.to_string()))?;
                        (version, true)
                    }
                }
            });
            if out.1 {
                tracing::info!(model = %model.name, version = out.0, "model version registered");
            }
            Ok(out)
        })
        .await
    }

    /// Every version of `name` (or of every model), newest first.
    pub async fn model_versions(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<ModelVersionRecord>, StoreError> {
        self.op("model_versions", async {
            Ok(match name {
                Some(name) => with_pool!(&self.backend, pool => sqlx::query_as(
                    select_versions!("WHERE name = $1 ORDER BY version DESC"))
                    .bind(name)
                    .fetch_all(pool)
                    .await?),
                None => with_pool!(&self.backend, pool => sqlx::query_as(
                    select_versions!("ORDER BY name, version DESC"))
                    .fetch_all(pool)
                    .await?),
            })
        })
        .await
    }

    /// The versions a run registered (first registrations only).
    pub async fn model_versions_of_run(
        &self,
        run: i64,
    ) -> Result<Vec<ModelVersionRecord>, StoreError> {
        self.op("model_versions_of_run", async {
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(
                select_versions!("WHERE run_id = $1 ORDER BY name, version"))
                .bind(run)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    pub async fn model_version(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Option<ModelVersionRecord>, StoreError> {
        self.op("model_version", async {
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(
                select_versions!("WHERE name = $1 AND version = $2"))
                .bind(name)
                .bind(version)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// The aliases of `name` (or of every model).
    pub async fn aliases(&self, name: Option<&str>) -> Result<Vec<AliasRecord>, StoreError> {
        self.op("aliases", async {
            Ok(match name {
                Some(name) => with_pool!(&self.backend, pool => sqlx::query_as(
                    "SELECT name, alias, version, updated_at FROM model_aliases WHERE name = $1 ORDER BY alias")
                    .bind(name)
                    .fetch_all(pool)
                    .await?),
                None => with_pool!(&self.backend, pool => sqlx::query_as(
                    "SELECT name, alias, version, updated_at FROM model_aliases ORDER BY name, alias")
                    .fetch_all(pool)
                    .await?),
            })
        })
        .await
    }

    /// The version `alias` points at, if any.
    pub async fn alias_version(&self, name: &str, alias: &str) -> Result<Option<i64>, StoreError> {
        self.op("alias_version", async {
            Ok(with_pool!(&self.backend, pool => sqlx::query_scalar(
                "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2")
                .bind(name)
                .bind(alias)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// Points `alias` of `name` at `version`, recording the move in the
    /// alias history and the audit log in the same transaction (`detail`
    /// goes into the audit row, e.g. the gate outcome). Returns the version
    /// the alias pointed at before.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        actor: &str,
        detail: &serde_json::Value,
    ) -> Result<Option<i64>, StoreError> {
        self.op("set_alias", async {
            check_model_name("model name", name)?;
            check_model_name("alias", alias)?;
            let now = now_ms();
            let previous = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                let exists: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM model_versions WHERE name = $1 AND version = $2",
                )
                .bind(name)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
                if exists.is_none() {
                    return Err(OpError::NotFound {
                        what: "model version",
                        key: format!("{name} {version}"),
                    });
                }
                let previous: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2",
                )
                .bind(name)
                .bind(alias)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, \
                     updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(alias)
                .bind(version)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO model_alias_history (name, alias, version, previous_version, actor, at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(name)
                .bind(alias)
                .bind(version)
                .bind(previous)
                .bind(actor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let mut audit_detail = serde_json::json!({
                    "alias": alias,
                    "version": version,
                    "previous": previous,
                });
                if let (Some(target), Some(extra)) = (audit_detail.as_object_mut(), detail.as_object()) {
                    for (k, v) in extra {
                        target.entry(k.clone()).or_insert(v.clone());
                    }
                }
                let audit_detail = canonical_json(&audit_detail);
                append_audit!(tx, now, actor, "model.alias", name, &audit_detail);
                previous
            });
            tracing::info!(model = name, alias, version, ?previous, "alias moved");
            Ok(previous)
        })
        .await
    }

    /// Every move of the aliases of `name`, oldest first.
    pub async fn alias_history(&self, name: &str) -> Result<Vec<AliasChange>, StoreError> {
        self.op("alias_history", async {
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(
                "SELECT id, name, alias, version, previous_version, actor, at FROM model_alias_history \
                 WHERE name = $1 ORDER BY id")
                .bind(name)
                .fetch_all(pool)
                .await?))
        })
        .await
    }
}
