//! Registering a trained model: the version with its metrics and lineage,
//! and the `candidate` alias for a new one.

use serde::Serialize;
use sluice_core::Digest;
use sluice_store::{NewModelVersion, RunLease, Store};

use crate::{CANDIDATE, Lineage, ModelMetric, RegistryError};

/// A trained model as a run hands it to the registry.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The registry name the model is recorded under.
    pub name: String,
    /// The `model` artifact.
    pub model_digest: Digest,
    pub run_id: i64,
    /// The train step that fitted it.
    pub step: String,
    pub algorithm: String,
    /// The train step as written.
    pub params: serde_json::Value,
    /// The train step's metrics and those of the evaluators that scored
    /// its held-out predictions.
    pub metrics: Vec<ModelMetric>,
    pub lineage: Lineage,
    /// The promotion gate the pipeline declared.
    pub gate: Option<String>,
    /// The lease of the run registering it (none for an import): checked
    /// in the registering transaction.
    pub lease: Option<RunLease>,
}

/// Registers `model`; a new version becomes the `candidate`. Returns the
/// version and whether it is new (false when this exact model was
/// registered before under the name).
pub async fn register_model(
    store: &Store,
    model: &Registration,
) -> Result<(i64, bool), RegistryError> {
    let (version, created) = store
        .register_model(
            &NewModelVersion {
                name: model.name.clone(),
                model_digest: model.model_digest,
                run_id: model.run_id,
                step: model.step.clone(),
                algorithm: model.algorithm.clone(),
                params: model.params.clone(),
                metrics: to_json(&model.name, "metrics", &model.metrics)?,
                lineage: to_json(&model.name, "lineage", &model.lineage)?,
                gate: model.gate.clone(),
            },
            model.lease.as_ref(),
        )
        .await?;
    if created {
        store
            .set_alias(
                &model.name,
                CANDIDATE,
                version,
                "sluice",
                &serde_json::json!({ "run": model.run_id, "step": model.step }),
            )
            .await?;
    }
    Ok((version, created))
}

/// `value` as JSON for the store; a value JSON cannot hold (a map with
/// non-text keys, say) is an error naming the model and the field.
pub(crate) fn to_json(
    name: &str,
    what: &'static str,
    value: &impl Serialize,
) -> Result<serde_json::Value, RegistryError> {
    serde_json::to_value(value).map_err(|e| RegistryError::Unencodable {
        name: name.to_string(),
        what,
        error: e.to_string(),
    })
}
