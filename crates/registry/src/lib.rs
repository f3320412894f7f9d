//! The model registry on top of the store: what a trained model is
//! registered with, promotion through a gate, and bundles.
//!
//! - [`register`]: recording a trained model as a new version;
//! - [`gate`]: promotion gate expressions (`f1 >= production.f1 - 0.01`);
//! - [`bundle`]: one file holding a model and everything that feeds it.

pub mod bundle;
pub mod gate;
pub mod register;
pub mod rollout;

pub use register::{Registration, register_model};

use serde::{Deserialize, Serialize};

use gate::{Gate, GateError, GateOutcome, Lookup};
use sluice_core::Digest;
use sluice_core::contract::Metric;
use sluice_store::{ModelVersionRecord, Store, StoreError};

/// Aliases a gate may refer to (`production.f1`). Any alias name can be
/// set; these are the ones gates know.
pub const GATE_ALIASES: &[&str] = &["production", "candidate", "canary", "staging"];

/// The alias every newly registered version takes.
pub const CANDIDATE: &str = "candidate";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model `{name}` has no version {version} (see `sluice models {name}`)")]
    NoVersion { name: String, version: i64 },
    #[error("model `{name}` version {version}: its gate `{gate}` cannot be checked: {error}")]
    Gate {
        name: String,
        version: i64,
        gate: String,
        error: GateError,
    },
    #[error(
        "refused: model `{name}` version {version} does not pass its gate for `{alias}`: {failed}\n{outcome}"
    )]
    GateFailed {
        name: String,
        version: i64,
        alias: String,
        /// The first failing term with its values.
        failed: String,
        outcome: String,
    },
    #[error("stored {what} of model `{name}` version {version} are unreadable: {error}")]
    Corrupt {
        name: String,
        version: i64,
        what: &'static str,
        error: String,
    },
    #[error("model `{name}`: its {what} cannot be written as JSON: {error}")]
    Unencodable {
        name: String,
        what: &'static str,
        error: String,
    },
    #[error("bundle {path}: {message}")]
    Bundle { path: String, message: String },
    #[error(
        "model `{name}` has no active deployment and no earlier `production` version to roll back to"
    )]
    NothingToRollBack { name: String },
}

/// A metric as registered with a model version: which step reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetric {
    pub step: String,
    pub name: String,
    pub value: f64,
    pub labels: Vec<(String, String)>,
}

impl ModelMetric {
    pub fn new(step: &str, metric: &Metric) -> ModelMetric {
        ModelMetric {
            step: step.to_string(),
            name: metric.name.clone(),
            value: metric.value,
            labels: metric.labels.clone(),
        }
    }
}

/// One step before a model, as its lineage records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageStep {
    pub name: String,
    /// The node this step read.
    pub input: String,
    /// `None` for native steps.
    pub plugin_digest: Option<Digest>,
    /// The plugin's params (JSON, as resolved), or the native step's spec.
    pub params: serde_json::Value,
    /// Columns the plugin was granted to read and write.
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    pub output_digest: Digest,
    /// The fitted state the step ran with, if it fits.
    pub state_digest: Option<Digest>,
    /// The name the pipeline referred to the plugin by: the policy entry
    /// its grant came from (absent for native steps and in lineage
    /// recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    /// The rest of the grant the plugin ran with (absent as above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<RecordedGrant>,
}

/// What a plugin was granted at training besides its columns: enough to
/// grant it the same again when a registered model predicts without a
/// policy file (see docs/SECURITY.md, Predicting with a registered model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedGrant {
    /// The runtime's limits (`cpu`, `memory`, ...) as JSON.
    pub limits: serde_json::Value,
    /// Granted environment variables.
    pub env: std::collections::BTreeMap<String, String>,
    /// Digest of the content of the granted directories; `None` without
    /// directories. Directories are never granted from a record: a model
    /// whose plugins read them predicts only under a policy granting the
    /// same content.
    pub dirs: Option<String>,
}

/// Where a model came from: its training table, the sources, and every
/// step before it in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// Digest of the table the model was trained on (before the split).
    pub training_data: Digest,
    /// Sources upstream of the model: name and content digest.
    pub sources: Vec<(String, Digest)>,
    pub steps: Vec<LineageStep>,
    /// The node the train step read (a step among `steps` or a source);
    /// absent in lineage recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_input: Option<String>,
}

/// Parses a gate as a train step declares it, against the aliases gates know.
pub fn parse_gate(source: &str) -> Result<Gate, GateError> {
    Gate::parse(source, GATE_ALIASES)
}

/// Parses a version's stored metrics.
pub fn version_metrics(record: &ModelVersionRecord) -> Result<Vec<ModelMetric>, RegistryError> {
    serde_json::from_str(&record.metrics).map_err(|e| RegistryError::Corrupt {
        name: record.name.clone(),
        version: record.version,
        what: "metrics",
        error: e.to_string(),
    })
}

pub fn version_lineage(record: &ModelVersionRecord) -> Result<Lineage, RegistryError> {
    serde_json::from_str(&record.lineage).map_err(|e| RegistryError::Corrupt {
        name: record.name.clone(),
        version: record.version,
        what: "lineage",
        error: e.to_string(),
    })
}

/// The value of metric `name` among `metrics`: the one without labels, or
/// the only one of that name (e.g. `gap.f1`, labelled with its groups).
/// Per-class and per-group metrics are reached by their own names.
pub fn metric_value(metrics: &[ModelMetric], name: &str) -> Option<f64> {
    let named: Vec<&ModelMetric> = metrics.iter().filter(|m| m.name == name).collect();
    named
        .iter()
        .find(|m| m.labels.is_empty())
        .or(if named.len() == 1 {
            named.first()
        } else {
            None
        })
        .map(|m| m.value)
}

/// Evaluates `record`'s gate for promotion to `alias`. `None` when the
/// version has no gate.
pub async fn check_gate(
    store: &Store,
    record: &ModelVersionRecord,
) -> Result<Option<GateOutcome>, RegistryError> {
    let Some(source) = &record.gate else {
        return Ok(None);
    };
    let gate_error = |error| RegistryError::Gate {
        name: record.name.clone(),
        version: record.version,
        gate: source.clone(),
        error,
    };
    let gate = parse_gate(source).map_err(gate_error)?;
    let candidate = version_metrics(record)?;
    // metrics of every alias the gate refers to, fetched up front
    let mut held: Vec<(String, Option<Vec<ModelMetric>>)> = Vec::new();
    for reference in gate.referenced_metrics() {
        let Some(alias) = reference.alias.as_deref() else {
            continue;
        };
        if held.iter().any(|(a, _)| a == alias) {
            continue;
        }
        let metrics = match store.alias_version(&record.name, alias).await? {
            None => None,
            Some(version) => {
                let other = store
                    .model_version(&record.name, version)
                    .await?
                    .ok_or_else(|| RegistryError::NoVersion {
                        name: record.name.clone(),
                        version,
                    })?;
                Some(version_metrics(&other)?)
            }
        };
        held.push((alias.to_string(), metrics));
    }
    let lookup = |alias: Option<&str>, metric: &str| -> Lookup {
        let metrics = match alias {
            None => Some(&candidate),
            Some(alias) => match held.iter().find(|(a, _)| a == alias) {
                Some((_, Some(metrics))) => Some(metrics),
                _ => return Lookup::NoSuchAlias,
            },
        };
        match metrics.and_then(|m| metric_value(m, metric)) {
            Some(value) => Lookup::Value(value),
            None => Lookup::NoSuchMetric,
        }
    };
    gate.evaluate(&lookup).map(Some).map_err(gate_error)
}

/// Points `alias` of model `name` at `version` after its gate passes.
/// A refusal is recorded in the audit log too. Returns the version the
/// alias pointed at before and the gate outcome, if there was a gate.
pub async fn promote(
    store: &Store,
    name: &str,
    version: i64,
    alias: &str,
    actor: &str,
) -> Result<(Option<i64>, Option<GateOutcome>), RegistryError> {
    let record =
        store
            .model_version(name, version)
            .await?
            .ok_or_else(|| RegistryError::NoVersion {
                name: name.to_string(),
                version,
            })?;
    let outcome = check_gate(store, &record).await?;
    if let Some(outcome) = &outcome
        && !outcome.passed()
    {
        let failed = outcome
            .first_failure()
            .map(ToString::to_string)
            .unwrap_or_default();
        store
            .audit(
                actor,
                "model.promote.refused",
                name,
                &serde_json::json!({
                    "version": version,
                    "alias": alias,
                    "gate": record.gate,
                    "failed": failed,
                }),
            )
            .await?;
        return Err(RegistryError::GateFailed {
            name: name.to_string(),
            version,
            alias: alias.to_string(),
            failed,
            outcome: outcome.to_string(),
        });
    }
    let previous = store
        .set_alias(
            name,
            alias,
            version,
            actor,
            &serde_json::json!({
                "gate": record.gate,
                "outcome": outcome.as_ref().map(ToString::to_string),
            }),
        )
        .await?;
    Ok((previous, outcome))
}
