//! What a planned step does, and what each kind of work means to the step
//! cache, the artifact records, the lineage and `sluice check`: the one
//! place that tells plugin, train and predict steps apart.

use std::path::PathBuf;
use std::sync::Arc;

use super::inference::InferenceGraph;
use super::spec::{TrainSpec, TransformSpec};
use sluice_core::contract::{Params, StepKind};
use sluice_core::{ColumnType, DigestWriter};
use sluice_runtime::policy::EffectiveGrant;
use sluice_runtime::{GuestOutput, Plugin, SessionStats};
use sluice_store::{NewStepLog, StepLogKind};

/// What a planned step does.
#[derive(Debug)]
pub enum StepWork {
    /// A sandboxed plugin with its resolved params and effective grant.
    Plugin {
        plugin: Arc<Plugin>,
        params: Params,
        effective: EffectiveGrant,
    },
    /// Native training; `features` are the columns the model reads.
    Train {
        spec: TrainSpec,
        features: Vec<(String, ColumnType)>,
    },
    /// Native prediction with the model of train step `model`.
    Predict { model: String },
    /// A registered model's inference graph: its plugins with their
    /// recorded states, then the model.
    PredictRegistered { graph: Arc<InferenceGraph> },
    /// A native fitted transform; `features` are the columns it reads.
    Transform {
        spec: TransformSpec,
        features: Vec<(String, ColumnType)>,
    },
}

/// A step's params as its artifacts and lineage record them: the plugin's
/// resolved params, the train spec, or the model a predict step uses.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum StepParams<'a> {
    Plugin(&'a Params),
    Train(&'a TrainSpec),
    Predict { model: &'a str },
    Registered { model: &'a str, version: i64 },
    Transform(&'a TransformSpec),
}

impl StepParams<'_> {
    /// As JSON, for artifact records and lineage. Cannot fail: params are
    /// plain values and string-keyed maps (a non-finite float becomes null).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("step params are string-keyed JSON values")
    }
}

impl StepWork {
    pub fn plugin(&self) -> Option<&Arc<Plugin>> {
        match self {
            StepWork::Plugin { plugin, .. } => Some(plugin),
            _ => None,
        }
    }

    pub fn train_spec(&self) -> Option<&TrainSpec> {
        match self {
            StepWork::Train { spec, .. } => Some(spec),
            _ => None,
        }
    }

    /// The train step whose model a predict step uses. The model reaches
    /// the step through its second (`fit`) slot.
    pub fn model_step(&self) -> Option<&str> {
        match self {
            StepWork::Predict { model } => Some(model),
            _ => None,
        }
    }

    pub fn params(&self) -> StepParams<'_> {
        match self {
            StepWork::Plugin { params, .. } => StepParams::Plugin(params),
            StepWork::Train { spec, .. } => StepParams::Train(spec),
            StepWork::Predict { model } => StepParams::Predict { model },
            StepWork::PredictRegistered { graph } => StepParams::Registered {
                model: graph.name(),
                version: graph.version(),
            },
            StepWork::Transform { spec, .. } => StepParams::Transform(spec),
        }
    }

    /// Names of the columns the step was granted to read and to write
    /// (native steps are not granted columns).
    pub fn granted_columns(&self) -> (Vec<String>, Vec<String>) {
        let names =
            |columns: &[(String, ColumnType)]| columns.iter().map(|(n, _)| n.clone()).collect();
        match self {
            StepWork::Plugin { effective, .. } => {
                (names(&effective.reads), names(&effective.writes))
            }
            _ => (Vec::new(), Vec::new()),
        }
    }

    /// Everything besides its inputs that decides the step's output, for
    /// its cache key: plugin digest, params and effective grant (columns,
    /// directories' content, environment); for a train step the whole spec.
    /// Nothing incidental (paths, times, limits).
    pub fn cache_material(&self) -> serde_json::Value {
        match self {
            StepWork::Plugin {
                plugin,
                params,
                effective,
            } => serde_json::json!({
                "plugin": plugin.digest().to_string(),
                "params": params,
                "reads": effective.reads,
                "writes": effective.writes,
                "dirs": if effective.grant.dirs.is_empty() { String::new() } else { dirs_digest(effective) },
                "env": effective.grant.env,
            }),
            StepWork::Train { spec, features } => serde_json::json!({
                "train": spec,
                "features": features,
            }),
            StepWork::Predict { .. } => serde_json::json!({ "predict": true }),
            StepWork::PredictRegistered { graph } => {
                serde_json::json!({ "inference": graph.identity().to_string() })
            }
            StepWork::Transform { spec, features } => serde_json::json!({
                "transform": spec,
                "features": features,
            }),
        }
    }

    /// What a model's lineage keeps of a plugin step's grant besides its
    /// columns (`None` for native steps).
    pub fn recorded_grant(&self) -> Option<sluice_registry::RecordedGrant> {
        let StepWork::Plugin { effective, .. } = self else {
            return None;
        };
        let grant = &effective.grant;
        Some(sluice_registry::RecordedGrant {
            limits: serde_json::to_value(&grant.limits).expect("limits are plain values"),
            env: grant.env.clone(),
            dirs: (!grant.dirs.is_empty()).then(|| dirs_digest(effective)),
        })
    }

    /// Whether the step reports metrics (so a cache hit fetches them).
    pub fn reports_metrics(&self) -> bool {
        match self {
            StepWork::Plugin { plugin, .. } => plugin.info().kind == StepKind::Evaluator,
            StepWork::Train { .. } => true,
            StepWork::Predict { .. }
            | StepWork::PredictRegistered { .. }
            | StepWork::Transform { .. } => false,
        }
    }

    /// What `sluice check` and `sluice graph` call the work.
    pub fn describe(&self) -> String {
        match self {
            StepWork::Plugin { plugin, .. } => format!(
                "{} {} ({})",
                plugin.display_name(),
                plugin.info().version,
                plugin.digest().short()
            ),
            StepWork::Train { spec, .. } => format!("train {} (native)", spec.algorithm),
            StepWork::Predict { model } => format!("predict with `{model}` (native)"),
            StepWork::PredictRegistered { graph } => format!(
                "predict with model `{}` version {} ({} plugin steps, then the model)",
                graph.name(),
                graph.version(),
                graph.steps().count()
            ),
            StepWork::Transform { spec, .. } => format!("transform {} (native)", spec.algorithm),
        }
    }

    /// The columns the work reads and writes, as `sluice check` lists them.
    pub fn describe_columns(&self) -> String {
        let names = |columns: &[(String, ColumnType)]| {
            columns
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            StepWork::Plugin {
                plugin, effective, ..
            } => format!(
                "reads [{}]  writes [{}]{}",
                names(&effective.reads),
                names(&effective.writes),
                if plugin.info().fits { "  fitted" } else { "" }
            ),
            StepWork::Train { spec, features } => format!(
                "target {}  features [{}]  model `{}`",
                spec.target.as_deref().unwrap_or("(none)"),
                names(features),
                spec.model_name
            ),
            StepWork::Predict { .. } => "writes [prediction, score]".to_string(),
            StepWork::PredictRegistered { graph } => format!(
                "reads [{}]  writes [prediction, score]",
                (graph.inputs().iter())
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            StepWork::Transform { spec, features } => format!(
                "reads [{}]  writes [{}_0, …]  fitted",
                names(features),
                spec.algorithm
            ),
        }
    }
}

/// What a step run records besides its artifacts, whether it succeeded or
/// failed: the resources its work used (up to a failure) and what its
/// plugin logged, measured and printed, within the plugin's `log` grant.
#[derive(Debug, Clone, Default)]
pub struct StepRecord {
    pub stats: SessionStats,
    pub output: GuestOutput,
}

impl StepRecord {
    /// The record's step log rows, in the order `sluice show --logs` prints
    /// them: log lines, metrics, stdout, stderr, then what was dropped.
    pub fn logs(&self) -> Vec<NewStepLog> {
        let output = &self.output;
        let row = |kind, level: Option<&str>, message: &str, value| NewStepLog {
            kind,
            level: level.map(str::to_string),
            message: message.to_string(),
            value,
        };
        let mut rows: Vec<NewStepLog> = (output.log.iter())
            .map(|line| row(StepLogKind::Log, Some(line.level), &line.message, None))
            .collect();
        rows.extend(
            (output.metrics.iter())
                .map(|(name, value)| row(StepLogKind::Metric, None, name, Some(*value))),
        );
        for (kind, text) in [
            (StepLogKind::Stdout, &output.stdout),
            (StepLogKind::Stderr, &output.stderr),
        ] {
            if !text.is_empty() {
                rows.push(row(kind, None, text, None));
            }
        }
        if output.dropped.any() {
            rows.push(row(
                StepLogKind::Dropped,
                None,
                &output.dropped.to_string(),
                None,
            ));
        }
        rows
    }
}

/// Hash of every file under the granted directories (their content can
/// change a step's output, their host paths cannot).
pub(crate) fn dirs_digest(grant: &EffectiveGrant) -> String {
    let mut hasher = DigestWriter::new();
    for dir in &grant.grant.dirs {
        hasher.update(dir.guest.as_bytes());
        let mut files: Vec<PathBuf> = Vec::new();
        let mut stack = vec![dir.host.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path)
                } else {
                    files.push(path)
                }
            }
        }
        files.sort();
        for file in files {
            hasher.update(
                file.strip_prefix(&dir.host)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(std::fs::read(&file).unwrap_or_default());
        }
    }
    hasher.finish().hex()
}
