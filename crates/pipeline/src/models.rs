//! What a succeeded run hands the registry: the model of every train step
//! with the metrics that scored it and the lineage of everything before it.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::job::NodeTable;
use super::plan::{Plan, PlannedStep};
use super::run::{RegisteredModel, RunError, StepSummary};
use sluice_registry::{Lineage, LineageStep, ModelMetric, Registration};
use sluice_store::{RunLease, Store};

/// Registers the model of every train step that left one; a new version
/// becomes the `candidate`.
pub(crate) async fn register_models(
    store: &Store,
    plan: &Plan,
    tables: &HashMap<String, NodeTable>,
    summaries: &BTreeMap<String, StepSummary>,
    lease: &RunLease,
) -> Result<Vec<RegisteredModel>, RunError> {
    let run_id = lease.run();
    let mut registered = Vec::new();
    for step in &plan.steps {
        let Some(spec) = step.work.train_spec() else {
            continue;
        };
        let Some((model_digest, _)) = tables.get(&step.name).and_then(|t| t.state.as_ref()) else {
            continue;
        };
        let registration = Registration {
            name: spec.model_name.clone(),
            model_digest: *model_digest,
            run_id,
            step: step.name.clone(),
            algorithm: spec.algorithm.clone(),
            params: step.work.params().to_json(),
            metrics: model_metrics(plan, summaries, &step.name),
            lineage: lineage(plan, tables, step),
            gate: spec.gate.clone(),
            lease: Some(lease.clone()),
        };
        let (version, created) = sluice_registry::register_model(store, &registration).await?;
        registered.push(RegisteredModel {
            name: registration.name,
            version,
            step: registration.step,
            created,
        });
    }
    Ok(registered)
}

/// The train step's own metrics, then those of the steps that read its
/// held-out predictions (the evaluators that scored it).
fn model_metrics(
    plan: &Plan,
    summaries: &BTreeMap<String, StepSummary>,
    train_step: &str,
) -> Vec<ModelMetric> {
    let scorers = plan.steps.iter().filter(|s| s.input == train_step);
    std::iter::once(train_step)
        .chain(scorers.map(|s| s.name.as_str()))
        .filter_map(|name| summaries.get(name).map(|summary| (name, summary)))
        .flat_map(|(name, summary)| {
            summary
                .metrics
                .iter()
                .map(move |m| ModelMetric::new(name, m))
        })
        .collect()
}

/// Every node the model depends on: its training table, the sources, and
/// the steps before it in plan order.
fn lineage(plan: &Plan, tables: &HashMap<String, NodeTable>, train_step: &PlannedStep) -> Lineage {
    let upstream = plan.dag.ancestors(&train_step.name);
    let ancestors: HashSet<&str> = upstream.iter().map(String::as_str).collect();
    Lineage {
        training_data: tables[&train_step.input].digest,
        sources: (plan.pipeline.sources.iter())
            .filter(|s| ancestors.contains(s.name.as_str()))
            .map(|s| (s.name.clone(), tables[&s.name].digest))
            .collect(),
        steps: (plan.steps.iter())
            .filter(|s| ancestors.contains(s.name.as_str()))
            .map(|s| lineage_step(s, &tables[&s.name]))
            .collect(),
        training_input: Some(train_step.input.clone()),
    }
}

fn lineage_step(step: &PlannedStep, table: &NodeTable) -> LineageStep {
    let (reads, writes) = step.work.granted_columns();
    LineageStep {
        name: step.name.clone(),
        input: step.input.clone(),
        plugin_digest: step.plugin_digest(),
        params: step.work.params().to_json(),
        reads,
        writes,
        output_digest: table.digest,
        state_digest: table.state.as_ref().map(|s| s.0),
        plugin_name: step.plugin().map(|p| p.name().to_string()),
        grant: step.work.recorded_grant(),
    }
}
