//! `sluice check`: everything that can be known before running. Resolves
//! each step's plugin, checks params against `describe()`, intersects
//! declarations with the policy, and propagates column schemas through the
//! DAG so that a step reading a column nobody produces is reported here.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::graph::Dag;
use super::native;
use super::spec::{Pipeline, SourceKind, SpecError, StepAction, TrainSpec};
use sluice_core::ColumnType;
use sluice_core::Digest;
use sluice_core::contract::Params;
use sluice_data::{TableReader, accepts, data_type};
use sluice_runtime::policy::{EffectiveGrant, Policy};
use sluice_runtime::{Plugin, Runtime, RuntimeError};

/// A step ready to run.
#[derive(Debug)]
pub struct PlannedStep {
    pub name: String,
    pub work: StepWork,
    pub input: String,
    pub fit: Option<String>,
    /// Columns of the table this step produces.
    pub schema: SchemaRef,
}

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
}

impl PlannedStep {
    pub fn plugin(&self) -> Option<&Arc<Plugin>> {
        match &self.work {
            StepWork::Plugin { plugin, .. } => Some(plugin),
            _ => None,
        }
    }

    /// The plugin digest the store records for the step (none for native steps).
    pub fn plugin_digest(&self) -> Option<String> {
        self.plugin().map(|p| p.digest().to_string())
    }

    /// What `sluice check` and `sluice graph` call the step's work.
    pub fn describe_work(&self) -> String {
        match &self.work {
            StepWork::Plugin { plugin, .. } => format!(
                "{} {} ({})",
                plugin.name(),
                plugin.info().version,
                plugin.digest().short()
            ),
            StepWork::Train { spec, .. } => format!("train {} (native)", spec.algorithm),
            StepWork::Predict { model } => format!("predict with `{model}` (native)"),
        }
    }
}

/// A checked pipeline: every step resolved, every column accounted for.
#[derive(Debug)]
pub struct Plan {
    pub pipeline: Pipeline,
    pub dag: Dag,
    pub policy: Policy,
    /// Steps in dependency order.
    pub steps: Vec<PlannedStep>,
    /// Schemas of sources (files are opened; query sources are typed at run time).
    pub source_schemas: HashMap<String, SchemaRef>,
}

impl Plan {
    pub fn step(&self, name: &str) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// Loads the bytes behind a step's `plugin = "..."`: a `.wasm` path
/// (relative to the pipeline), a `sha256:` digest (embedded, or saved under
/// `<home>/plugins`), a policy entry with `path`, or an embedded plugin name.
/// Returns the bytes and the name to grant by.
pub fn resolve_plugin(
    reference: &str,
    pipeline: &Pipeline,
    policy: &Policy,
    home: &Path,
) -> Result<(Vec<u8>, String), String> {
    let base = pipeline.file.parent().unwrap_or(Path::new(""));
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    if reference.ends_with(".wasm") || reference.contains('/') {
        let path = base.join(reference);
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(reference)
            .replace('_', "-");
        return Ok((read(&path)?, name));
    }
    if reference.starts_with("sha256:") {
        let digest: Digest = reference.parse()?;
        return sluice_stdlib::plugin_by_digest(&digest, home);
    }
    if let Some(path) = policy.plugin_location(reference) {
        return Ok((read(path)?, reference.to_string()));
    }
    if let Some(embedded) = sluice_stdlib::get(reference) {
        return Ok((embedded.bytes.to_vec(), embedded.name.to_string()));
    }
    let known: Vec<&str> = sluice_stdlib::PLUGINS.iter().map(|p| p.name).collect();
    Err(format!(
        "unknown plugin `{reference}`: not a .wasm path, a digest, a policy entry with `path`, or an embedded plugin ({})",
        known.join(", ")
    ))
}

fn missing_column_message(column: &str, ty: ColumnType, node: &str, schema: &Schema) -> String {
    let have: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.data_type()))
        .collect();
    format!(
        "reads column `{column}` ({ty}), which `{node}` does not produce (it has: {})",
        have.join(", ")
    )
}

/// Checks `pipeline` completely, loading (and compiling) its plugins.
pub fn plan(pipeline: Pipeline, runtime: &Runtime, home: &Path) -> Result<Plan, SpecError> {
    let file = pipeline.file.clone();
    let err = |location: String, message: String| SpecError::new(&file, location, message);
    let policy = match &pipeline.policy {
        Some(path) => {
            Policy::load(path).map_err(|e| err("[pipeline] policy".into(), e.to_string()))?
        }
        None => Policy::deny_all(),
    };
    let dag = Dag::build(&pipeline)?;

    let mut schemas: HashMap<String, SchemaRef> = HashMap::new();
    for source in &pipeline.sources {
        let at = format!("[source.{}]", source.name);
        match &source.kind {
            SourceKind::File(path) => {
                if !path.exists() {
                    return Err(err(
                        format!("{at} path"),
                        format!("{} does not exist", path.display()),
                    ));
                }
                let reader = TableReader::open_with_types(path, 1, &source.types)
                    .map_err(|e| err(at.clone(), e.to_string()))?;
                schemas.insert(source.name.clone(), reader.schema());
            }
            SourceKind::Query(_) => {
                if !source.types.is_empty() {
                    return Err(err(
                        format!("{at} types"),
                        "type overrides apply to CSV files only".into(),
                    ));
                }
            }
        }
    }
    let source_schemas = schemas.clone();

    let mut loaded: HashMap<String, Arc<Plugin>> = HashMap::new();
    let mut steps = Vec::new();
    for name in dag.topological_steps() {
        let step = pipeline.step(&name).expect("dag nodes are steps");
        let at = format!("[step.{name}]");
        let input_schema = schemas.get(&step.input).cloned();
        let reference = match &step.action {
            StepAction::Plugin(reference) => reference,
            StepAction::Train(spec) => {
                let Some(input) = input_schema else {
                    return Err(err(
                        format!("{at} input"),
                        "a train step cannot read a SQL query source directly (its columns are only known at run time); put a step in between".into(),
                    ));
                };
                let planned = native::plan_train(spec, &input)
                    .map_err(|e| err(format!("{at} {}", e.field), e.message))?;
                schemas.insert(name.clone(), planned.schema.clone());
                steps.push(PlannedStep {
                    name: name.clone(),
                    work: StepWork::Train {
                        spec: spec.as_ref().clone(),
                        features: planned.features,
                    },
                    input: step.input.clone(),
                    fit: None,
                    schema: planned.schema,
                });
                continue;
            }
            StepAction::Predict { model } => {
                let Some(StepWork::Train { spec, features }) = steps
                    .iter()
                    .find(|s: &&PlannedStep| &s.name == model)
                    .map(|s| &s.work)
                else {
                    return Err(err(
                        format!("{at} predict"),
                        format!("`{model}` is not a train step of this pipeline"),
                    ));
                };
                let Some(input) = input_schema else {
                    return Err(err(
                        format!("{at} input"),
                        "a predict step cannot read a SQL query source directly; put a step in between".into(),
                    ));
                };
                let task = sluice_train::ALGORITHMS
                    .iter()
                    .find(|a| a.name == spec.algorithm)
                    .map(|a| a.task)
                    .expect("checked when parsed");
                let schema = native::plan_predict(features, task, &input)
                    .map_err(|e| err(format!("{at} {}", e.field), e.message))?;
                schemas.insert(name.clone(), schema.clone());
                steps.push(PlannedStep {
                    name: name.clone(),
                    work: StepWork::Predict {
                        model: model.clone(),
                    },
                    input: step.input.clone(),
                    fit: None,
                    schema,
                });
                continue;
            }
        };
        let plugin = match loaded.get(reference) {
            Some(plugin) => plugin.clone(),
            None => {
                let (bytes, grant_name) = resolve_plugin(reference, &pipeline, &policy, home)
                    .map_err(|m| err(format!("{at} plugin"), m))?;
                let plugin = runtime
                    .load(&bytes, Some(&grant_name), &policy)
                    .map_err(|e| err(format!("{at} plugin"), e.to_string()))?;
                let saved = sluice_stdlib::plugin_store_path(home, plugin.digest());
                if !saved.exists() {
                    // keep the bytes by digest: runs and lineage can name them later
                    let _ = std::fs::create_dir_all(saved.parent().unwrap())
                        .and_then(|_| std::fs::write(&saved, &bytes));
                }
                let plugin = Arc::new(plugin);
                loaded.insert(reference.clone(), plugin.clone());
                plugin
            }
        };
        let (params, effective) = plugin.effective_grant(&step.params).map_err(|e| match e {
            RuntimeError::Params { error, .. } => err(format!("{at} params"), error.to_string()),
            other => err(at.clone(), other.to_string()),
        })?;
        let mut fit_schema_check = vec![(&step.input, "input")];
        if let Some(fit) = &step.fit {
            if !plugin.info().fits {
                return Err(err(
                    format!("{at} fit"),
                    format!("`{}` has no fit pass", plugin.name()),
                ));
            }
            fit_schema_check.push((fit, "fit"));
        }
        for (node, field) in fit_schema_check {
            let Some(schema) = schemas.get(node) else {
                continue;
            }; // query source: typed at run time
            for (column, ty) in &effective.reads {
                match schema.field_with_name(column) {
                    Ok(f) if accepts(*ty, f.data_type()) => {}
                    Ok(f) => {
                        return Err(err(
                            format!("{at} {field}"),
                            format!(
                                "column `{column}` of `{node}` is {}, the step reads it as {ty}",
                                f.data_type()
                            ),
                        ));
                    }
                    Err(_) => {
                        return Err(err(
                            format!("{at} {field}"),
                            missing_column_message(column, *ty, node, schema),
                        ));
                    }
                }
            }
        }
        let schema = match schemas.get(&step.input) {
            Some(input) => {
                let mut fields: Vec<Field> =
                    input.fields().iter().map(|f| f.as_ref().clone()).collect();
                for (column, ty) in &effective.writes {
                    let field = Field::new(column, data_type(*ty), true);
                    match fields.iter_mut().find(|f| f.name() == column) {
                        Some(existing) => *existing = field,
                        None => fields.push(field),
                    }
                }
                Arc::new(Schema::new(fields))
            }
            None => Arc::new(Schema::new(Vec::<Field>::new())),
        };
        schemas.insert(name.clone(), schema.clone());
        steps.push(PlannedStep {
            name: name.clone(),
            work: StepWork::Plugin {
                plugin,
                params,
                effective,
            },
            input: step.input.clone(),
            fit: step.fit.clone(),
            schema,
        });
    }
    Ok(Plan {
        pipeline,
        dag,
        policy,
        steps,
        source_schemas,
    })
}

/// Summary lines for `sluice check`.
pub fn describe_plan(plan: &Plan) -> String {
    let mut out = String::new();
    for step in &plan.steps {
        let detail = match &step.work {
            StepWork::Plugin {
                plugin, effective, ..
            } => {
                let names = |columns: &[(String, ColumnType)]| {
                    columns
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "reads [{}]  writes [{}]{}",
                    names(&effective.reads),
                    names(&effective.writes),
                    if plugin.info().fits { "  fitted" } else { "" }
                )
            }
            StepWork::Train { spec, features } => format!(
                "target {}  features [{}]  model `{}`",
                spec.target.as_deref().unwrap_or("(none)"),
                features
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.model_name
            ),
            StepWork::Predict { .. } => "writes [prediction, score]".to_string(),
        };
        out.push_str(&format!(
            "  {:<14} {}  {detail}\n",
            step.name,
            step.describe_work()
        ));
    }
    out
}
