//! Registering a trained model: the version with its metrics and lineage,
//! and the `candidate` alias for a new one.

use sluice_store::{NewModelVersion, Store};

use crate::{CANDIDATE, Lineage, ModelMetric, RegistryError};

/// A trained model as a run hands it to the registry.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The registry name the model is recorded under.
    pub name: String,
    /// The `model` artifact.
    pub model_digest: String,
    pub run_id: i64,
    /// The train step that fitted it.
    pub step: String,
    pub algorithm: String,
    /// The train step as written, as JSON text.
    pub params: String,
    /// The train step's metrics and those of the evaluators that scored
    /// its held-out predictions.
    pub metrics: Vec<ModelMetric>,
    pub lineage: Lineage,
    /// The promotion gate the pipeline declared.
    pub gate: Option<String>,
}

/// Registers `model`; a new version becomes the `candidate`. Returns the
/// version and whether it is new (false when this exact model was
/// registered before under the name).
pub async fn register_model(
    store: &Store,
    model: &Registration,
) -> Result<(i64, bool), RegistryError> {
    let (version, created) = store
        .register_model(&NewModelVersion {
            name: model.name.clone(),
            model_digest: model.model_digest.clone(),
            run_id: model.run_id,
            step: model.step.clone(),
            algorithm: model.algorithm.clone(),
            params: model.params.clone(),
            metrics: serde_json::to_string(&model.metrics).unwrap_or_default(),
            lineage: serde_json::to_string(&model.lineage).unwrap_or_default(),
            gate: model.gate.clone(),
        })
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
