//! `sluice check`: everything that can be known before running. Resolves
//! each step's plugin, checks params against `describe()`, intersects
//! declarations with the policy, and propagates column schemas through the
//! DAG so that a step reading a column nobody produces is reported here.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::graph::Dag;
use super::inference::{Grants, InferenceGraph, ModelRef, RegisteredModels};
use super::native;
use super::paths::{Access, PathRules};
use super::spec::{
    Pipeline, Source, SourceKind, SpecError, Step, StepAction, TrainSpec, TransformSpec,
};
pub use super::work::StepWork;
use sluice_core::ColumnType;
use sluice_core::{Digest, DigestError};
use sluice_data::{TableReader, accepts, data_type};
use sluice_runtime::policy::Policy;
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

impl PlannedStep {
    pub fn plugin(&self) -> Option<&Arc<Plugin>> {
        self.work.plugin()
    }

    /// The plugin digest the store records for the step (none for native steps).
    pub fn plugin_digest(&self) -> Option<Digest> {
        self.plugin().map(|p| *p.digest())
    }

    /// The node a step reads through its second slot: the fit table of a
    /// fitted plugin, or the train step whose model a predict step uses.
    pub fn second_input(&self) -> Option<&str> {
        self.work.model_step().or(self.fit.as_deref())
    }

    /// What `sluice check` and `sluice graph` call the step's work.
    pub fn describe_work(&self) -> String {
        self.work.describe()
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
    /// Fitted plugin steps fitted on a train step's training rows only.
    pub fit_splits: HashMap<String, FitSplit>,
    /// What `sluice check` and `sluice run` warn of: places where the
    /// pipeline cannot keep held-out rows out of a fit.
    pub warnings: Vec<String>,
}

/// A fitted step upstream of a train step is fitted on that step's
/// training rows only, as a scikit-learn `Pipeline` inside a train/test
/// split: its fit table has the train step's rows in the train step's
/// order (every step between keeps rows), so the train step's split,
/// computed from the same target column, seed and fraction, picks the
/// same rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FitSplit {
    /// The train step whose split this is.
    pub train_step: String,
    pub target: Option<String>,
    pub task: sluice_train::Task,
    pub test_fraction: f64,
    pub seed: u64,
}

impl FitSplit {
    fn of(step: &str, spec: &TrainSpec) -> FitSplit {
        FitSplit {
            train_step: step.to_string(),
            target: spec.target.clone(),
            task: native::task_of(&spec.algorithm),
            test_fraction: spec.test_fraction,
            seed: spec.seed,
        }
    }

    /// The same rows whichever train step asks (the step name aside).
    fn same_rows(&self, other: &FitSplit) -> bool {
        (&self.target, self.task, self.test_fraction, self.seed)
            == (&other.target, other.task, other.test_fraction, other.seed)
    }
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
    runtime: &Runtime,
    home: &Path,
) -> Result<(Vec<u8>, String), String> {
    let base = pipeline.file.parent().unwrap_or(Path::new(""));
    // bounded by the runtime's plugin size limit before anything is read
    let read = |path: &Path, name: &str| {
        runtime
            .read_plugin_file(path, name)
            .map_err(|e| e.to_string())
    };
    if reference.ends_with(".wasm") || reference.contains('/') {
        let path = base.join(reference);
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(reference)
            .replace('_', "-");
        return Ok((read(&path, &name)?, name));
    }
    if reference.starts_with(sluice_core::DIGEST_PREFIX) {
        let digest: Digest = reference.parse().map_err(|e: DigestError| e.to_string())?;
        return sluice_stdlib::plugin_by_digest(&digest, home);
    }
    if let Some(path) = policy.plugin_location(reference) {
        return Ok((read(path, reference)?, reference.to_string()));
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

/// Everything `sluice check` found wrong, in file order; `Display` gives
/// one error per line.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckErrors(pub Vec<SpecError>);

impl std::fmt::Display for CheckErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CheckErrors {}

impl From<SpecError> for CheckErrors {
    fn from(error: SpecError) -> Self {
        CheckErrors(vec![error])
    }
}

/// What the user allows a pipeline beyond its own file.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Folders besides the project root that sources, outputs and granted
    /// dirs may be in (`--allow-path`).
    pub allow_paths: Vec<PathBuf>,
    /// The registered models its `predict = { model = ... }` steps name,
    /// looked up beforehand ([`crate::inference::fetch_models`]).
    pub models: RegisteredModels,
}

/// Checks `pipeline` completely, loading (and compiling) its plugins.
pub fn plan(pipeline: Pipeline, runtime: &Runtime, home: &Path) -> Result<Plan, CheckErrors> {
    plan_with(pipeline, runtime, home, &PlanOptions::default())
}

/// [`plan`] with what the user allows. Reports every error it can find,
/// not only the first; a step whose input failed is not checked further
/// (its columns are unknown), so one mistake is reported once.
pub fn plan_with(
    mut pipeline: Pipeline,
    runtime: &Runtime,
    home: &Path,
    options: &PlanOptions,
) -> Result<Plan, CheckErrors> {
    let project = pipeline
        .file
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let rules = PathRules::new(&project, &options.allow_paths)
        .map_err(|m| SpecError::new(&pipeline.file, "", m))?;
    let mut errors = Vec::new();
    let mut failed = HashSet::new();
    confine_paths(&mut pipeline, &rules, &mut errors, &mut failed);
    let policy = match &pipeline.policy {
        // without its policy no step can be checked
        _ if failed.contains(POLICY_NODE) => return Err(CheckErrors(errors)),
        Some(path) => match Policy::load(path) {
            Ok(policy) => policy,
            Err(e) => {
                errors.push(SpecError::new(&pipeline.file, POLICY_NODE, e.to_string()));
                return Err(CheckErrors(errors));
            }
        },
        None => Policy::deny_all(),
    };
    let dag = Dag::build(&pipeline).map_err(|e| {
        errors.push(e);
        CheckErrors(errors.clone())
    })?;
    let mut planner = Planner {
        pipeline: &pipeline,
        policy: &policy,
        runtime,
        home,
        rules: &rules,
        models: &options.models,
        schemas: HashMap::new(),
        loaded: HashMap::new(),
        steps: Vec::new(),
    };
    for source in &pipeline.sources {
        if failed.contains(&source.name) {
            continue;
        }
        if let Err(e) = planner.source(source) {
            errors.push(e);
            failed.insert(source.name.clone());
        }
    }
    let source_schemas = planner.schemas.clone();
    for name in dag.topological_steps() {
        let step = pipeline.step(&name).expect("dag nodes are steps");
        let model = match &step.action {
            StepAction::Predict { model } => Some(model),
            _ => None,
        };
        let upstream_failed = [Some(&step.input), step.fit.as_ref(), model]
            .into_iter()
            .flatten()
            .any(|node| failed.contains(node));
        if upstream_failed {
            failed.insert(name);
            continue;
        }
        let planned = match &step.action {
            StepAction::Plugin(reference) => planner.plugin_step(step, reference),
            StepAction::Train(spec) => planner.train_step(step, spec),
            StepAction::Predict { model } => planner.predict_step(step, model),
            StepAction::PredictRegistered(model) => planner.registered_predict_step(step, model),
            StepAction::Transform(spec) => planner.transform_step(step, spec),
        };
        match planned {
            Ok(planned) => {
                planner
                    .schemas
                    .insert(planned.name.clone(), planned.schema.clone());
                planner.steps.push(planned);
            }
            Err(e) => {
                errors.push(e);
                failed.insert(name);
            }
        }
    }
    if !errors.is_empty() {
        return Err(CheckErrors(errors));
    }
    let steps = planner.steps;
    let (fit_splits, warnings) = fit_splits(&steps, &source_schemas);
    Ok(Plan {
        pipeline,
        dag,
        policy,
        steps,
        source_schemas,
        fit_splits,
        warnings,
    })
}

/// Which fitted plugin steps can be fitted on the training rows of the
/// train step they feed, and warnings where that cannot be guaranteed.
/// Walks back from each train step along `input` (plugin and predict steps
/// keep their rows in order; another train step's table is its held-out
/// rows, so the walk stops there).
fn fit_splits(
    steps: &[PlannedStep],
    sources: &HashMap<String, SchemaRef>,
) -> (HashMap<String, FitSplit>, Vec<String>) {
    let by_name: HashMap<&str, &PlannedStep> = steps.iter().map(|s| (s.name.as_str(), s)).collect();
    let schema_of = |node: &str| {
        by_name
            .get(node)
            .map(|s| s.schema.clone())
            .or_else(|| sources.get(node).cloned())
    };
    let mut warnings = Vec::new();
    // fitted step -> the splits of the train steps it feeds, in plan order
    let mut claims: Vec<(&str, Vec<FitSplit>)> = Vec::new();
    let mut searched: HashSet<&str> = HashSet::new();
    for train in steps {
        let StepWork::Train { spec, .. } = &train.work else {
            continue;
        };
        let split = FitSplit::of(&train.name, spec);
        let mut writers_after: Vec<&PlannedStep> = Vec::new();
        let mut node = train.input.as_str();
        while let Some(&step) = by_name.get(node) {
            let StepWork::Plugin { plugin, .. } = &step.work else {
                if step.work.train_spec().is_some() {
                    break;
                }
                node = &step.input;
                continue;
            };
            writers_after.push(step);
            if plugin.info().fits {
                let at = format!("[step.{}]", step.name);
                let fit_node = step.fit.as_deref().unwrap_or(&step.input);
                let rewritten = spec.target.as_ref().and_then(|target| {
                    writers_after.iter().find(|w| match &w.work {
                        StepWork::Plugin { effective, .. } => {
                            effective.writes.iter().any(|(n, _)| n == target)
                        }
                        _ => false,
                    })
                });
                let has_target = spec.target.as_ref().is_none_or(|target| {
                    schema_of(&step.input)
                        .is_none_or(|schema| schema.field_with_name(target).is_ok())
                });
                let why_not = if fit_node != step.input {
                    Some(format!(
                        "it is fitted on `{fit_node}`, whose rows sluice cannot match with the split"
                    ))
                } else if let Some(writer) = rewritten {
                    Some(format!(
                        "`{}` rewrites the target column between them",
                        writer.name
                    ))
                } else if !has_target {
                    Some(format!(
                        "the target column `{}` is not in its input",
                        spec.target.as_deref().unwrap_or_default()
                    ))
                } else {
                    None
                };
                match why_not {
                    Some(why) => warnings.push(format!(
                        "{at} is fitted on all its rows, held-out rows of train step `{}` included: {why}",
                        train.name
                    )),
                    None => {
                        if spec.search.is_some() {
                            searched.insert(step.name.as_str());
                        }
                        match claims.iter_mut().find(|(name, _)| *name == step.name) {
                            Some((_, splits)) => splits.push(split.clone()),
                            None => claims.push((step.name.as_str(), vec![split.clone()])),
                        }
                    }
                }
            }
            node = &step.input;
        }
    }
    let mut fit_splits = HashMap::new();
    for (name, splits) in claims {
        let at = format!("[step.{name}]");
        if splits.iter().any(|s| !s.same_rows(&splits[0])) {
            let names: Vec<String> = splits
                .iter()
                .map(|s| format!("`{}`", s.train_step))
                .collect();
            warnings.push(format!(
                "{at} is fitted on all its rows: it feeds train steps {} whose splits differ, so no one set of training rows exists",
                names.join(" and ")
            ));
            continue;
        }
        if searched.contains(name) {
            warnings.push(format!(
                "{at} is fitted on the training rows of `{}`, but not refitted per cross-validation fold: the search's fold scores see statistics that include each fold's validation rows (sluice does not refit plugin steps per fold yet; the held-out metrics are unaffected)",
                splits[0].train_step
            ));
        }
        fit_splits.insert(name.to_string(), splits[0].clone());
    }
    (fit_splits, warnings)
}

/// How the policy file is named in errors and failures (no node is).
const POLICY_NODE: &str = "[pipeline] policy";

/// Replaces the policy, source and output paths by their confined form, or
/// records why one is refused (the node then counts as failed).
fn confine_paths(
    pipeline: &mut Pipeline,
    rules: &PathRules,
    errors: &mut Vec<SpecError>,
    failed: &mut HashSet<String>,
) {
    let file = pipeline.file.clone();
    let mut confine = |path: &mut PathBuf, access, location: String, node: String| match rules
        .confine(path, access)
    {
        Ok(confined) => *path = confined,
        Err(message) => {
            errors.push(SpecError::new(&file, location, message));
            failed.insert(node);
        }
    };
    if let Some(policy) = &mut pipeline.policy {
        confine(
            policy,
            Access::ReadFile,
            POLICY_NODE.into(),
            POLICY_NODE.into(),
        );
    }
    for source in &mut pipeline.sources {
        if let SourceKind::File(path) = &mut source.kind {
            confine(
                path,
                Access::ReadFile,
                format!("[source.{}] path", source.name),
                source.name.clone(),
            );
        }
    }
    for output in &mut pipeline.outputs {
        confine(
            &mut output.path,
            Access::Write,
            format!("[output.{}] path", output.name),
            format!("[output.{}]", output.name),
        );
    }
}

/// Planning state: the schema of every node planned so far, the plugins
/// loaded (by reference) and the planned steps. One method per source or
/// step kind.
struct Planner<'a> {
    pipeline: &'a Pipeline,
    policy: &'a Policy,
    runtime: &'a Runtime,
    home: &'a Path,
    rules: &'a PathRules,
    models: &'a RegisteredModels,
    /// Known schemas by node (query sources are typed at run time: absent).
    schemas: HashMap<String, SchemaRef>,
    loaded: HashMap<String, Arc<Plugin>>,
    steps: Vec<PlannedStep>,
}

impl Planner<'_> {
    fn err(&self, location: String, message: String) -> SpecError {
        SpecError::new(&self.pipeline.file, location, message)
    }

    /// A file source is opened for its schema; a query source is typed at run time.
    fn source(&mut self, source: &Source) -> Result<(), SpecError> {
        let at = format!("[source.{}]", source.name);
        match &source.kind {
            SourceKind::File(path) => {
                if !path.exists() {
                    return Err(self.err(
                        format!("{at} path"),
                        format!("{} does not exist", path.display()),
                    ));
                }
                let reader = TableReader::open_with_types(path, 1, &source.types)
                    .map_err(|e| self.err(at.clone(), e.to_string()))?;
                self.schemas.insert(source.name.clone(), reader.schema());
            }
            SourceKind::Query(_) => {
                if !source.types.is_empty() {
                    return Err(self.err(
                        format!("{at} types"),
                        "type overrides apply to CSV files only".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn train_step(&self, step: &Step, spec: &TrainSpec) -> Result<PlannedStep, SpecError> {
        let at = format!("[step.{}]", step.name);
        let Some(input) = self.schemas.get(&step.input) else {
            return Err(self.err(
                format!("{at} input"),
                "a train step cannot read a SQL query source directly (its columns are only known at run time); put a step in between".into(),
            ));
        };
        let planned = native::plan_train(spec, input)
            .map_err(|e| self.err(format!("{at} {}", e.field), e.message))?;
        Ok(PlannedStep {
            name: step.name.clone(),
            work: StepWork::Train {
                spec: spec.clone(),
                features: planned.features,
            },
            input: step.input.clone(),
            fit: None,
            schema: planned.schema,
        })
    }

    fn transform_step(&self, step: &Step, spec: &TransformSpec) -> Result<PlannedStep, SpecError> {
        let at = format!("[step.{}]", step.name);
        let known = |node: &String, field: &str| {
            self.schemas.get(node).ok_or_else(|| {
                self.err(
                    format!("{at} {field}"),
                    "a transform step cannot read a SQL query source directly (its columns are only known at run time); put a step in between".into(),
                )
            })
        };
        let input = known(&step.input, "input")?;
        let fit = step.fit.as_ref().map(|f| known(f, "fit")).transpose()?;
        let (features, schema) =
            super::transform::plan_transform(spec, input, fit.map(|f| f.as_ref()))
                .map_err(|e| self.err(format!("{at} {}", e.field), e.message))?;
        Ok(PlannedStep {
            name: step.name.clone(),
            work: StepWork::Transform {
                spec: spec.clone(),
                features,
            },
            input: step.input.clone(),
            fit: step.fit.clone(),
            schema,
        })
    }

    fn predict_step(&self, step: &Step, model: &str) -> Result<PlannedStep, SpecError> {
        let at = format!("[step.{}]", step.name);
        let Some(StepWork::Train { spec, features }) =
            self.steps.iter().find(|s| s.name == model).map(|s| &s.work)
        else {
            return Err(self.err(
                format!("{at} predict"),
                format!("`{model}` is not a train step of this pipeline"),
            ));
        };
        let Some(input) = self.schemas.get(&step.input) else {
            return Err(self.err(
                format!("{at} input"),
                "a predict step cannot read a SQL query source directly; put a step in between"
                    .into(),
            ));
        };
        let task = sluice_train::ALGORITHMS
            .iter()
            .find(|a| a.name == spec.algorithm)
            .map(|a| a.task)
            .expect("checked when parsed");
        let schema = native::plan_predict(features, task, input)
            .map_err(|e| self.err(format!("{at} {}", e.field), e.message))?;
        Ok(PlannedStep {
            name: step.name.clone(),
            work: StepWork::Predict {
                model: model.to_string(),
            },
            input: step.input.clone(),
            fit: None,
            schema,
        })
    }

    /// A registered model's inference graph, built under this pipeline's
    /// policy: its plugins must be granted the columns they had at training.
    fn registered_predict_step(
        &self,
        step: &Step,
        model: &ModelRef,
    ) -> Result<PlannedStep, SpecError> {
        let at = format!("[step.{}]", step.name);
        let source = match self.models.get(model) {
            Some(Ok(source)) => source,
            Some(Err(message)) => return Err(self.err(format!("{at} predict"), message.clone())),
            None => {
                return Err(self.err(
                    format!("{at} predict"),
                    format!("model `{model}` was not looked up in the registry before planning"),
                ));
            }
        };
        let graph = InferenceGraph::build(source, self.runtime, Grants::Policy(self.policy))
            .map_err(|e| self.err(format!("{at} predict"), e.to_string()))?;
        for (_, plugin) in graph.steps() {
            for dir in &plugin.grant().dirs {
                self.rules
                    .confine(&dir.host, Access::ReadDir)
                    .map_err(|m| self.err(format!("{at} policy dirs"), m))?;
            }
        }
        let Some(input) = self.schemas.get(&step.input) else {
            return Err(self.err(
                format!("{at} input"),
                "a predict step cannot read a SQL query source directly; put a step in between"
                    .into(),
            ));
        };
        let schema = graph
            .check_input(input, &format!("`{}`", step.input))
            .and_then(|()| graph.output_schema(input))
            .map_err(|e| self.err(format!("{at} input"), e.to_string()))?;
        Ok(PlannedStep {
            name: step.name.clone(),
            work: StepWork::PredictRegistered {
                graph: Arc::new(graph),
            },
            input: step.input.clone(),
            fit: None,
            schema,
        })
    }

    fn plugin_step(&mut self, step: &Step, reference: &str) -> Result<PlannedStep, SpecError> {
        let at = format!("[step.{}]", step.name);
        let plugin = self.load_plugin(&at, reference)?;
        let (params, effective) = plugin.effective_grant(&step.params).map_err(|e| match e {
            RuntimeError::Params { error, .. } => {
                self.err(format!("{at} params"), error.to_string())
            }
            other => self.err(at.clone(), other.to_string()),
        })?;
        let mut read_from = vec![(&step.input, "input")];
        if let Some(fit) = &step.fit {
            if !plugin.info().fits {
                return Err(self.err(
                    format!("{at} fit"),
                    format!("`{}` has no fit pass", plugin.display_name()),
                ));
            }
            read_from.push((fit, "fit"));
        }
        for (node, field) in read_from {
            self.check_reads(&format!("{at} {field}"), node, &effective.reads)?;
        }
        for dir in &effective.grant.dirs {
            self.rules
                .confine(&dir.host, Access::ReadDir)
                .map_err(|m| self.err(format!("{at} policy dirs"), m))?;
        }
        let schema = match self.schemas.get(&step.input) {
            Some(input) => with_columns(input, &effective.writes),
            None => Arc::new(Schema::new(Vec::<Field>::new())),
        };
        Ok(PlannedStep {
            name: step.name.clone(),
            work: StepWork::Plugin {
                plugin,
                params,
                effective,
            },
            input: step.input.clone(),
            fit: step.fit.clone(),
            schema,
        })
    }

    /// The plugin behind `reference`, loaded once per pipeline; its bytes
    /// are kept by digest so runs and lineage can name them later.
    fn load_plugin(&mut self, at: &str, reference: &str) -> Result<Arc<Plugin>, SpecError> {
        if let Some(plugin) = self.loaded.get(reference) {
            return Ok(plugin.clone());
        }
        let (bytes, grant_name) = resolve_plugin(
            reference,
            self.pipeline,
            self.policy,
            self.runtime,
            self.home,
        )
        .map_err(|m| self.err(format!("{at} plugin"), m))?;
        let plugin = self
            .runtime
            .load(&bytes, Some(&grant_name), self.policy)
            .map_err(|e| self.err(format!("{at} plugin"), e.to_string()))?;
        let saved = sluice_stdlib::plugin_store_path(self.home, plugin.digest());
        if !saved.exists() {
            let _ = std::fs::create_dir_all(saved.parent().unwrap())
                .and_then(|_| std::fs::write(&saved, &bytes));
        }
        let plugin = Arc::new(plugin);
        self.loaded.insert(reference.to_string(), plugin.clone());
        Ok(plugin)
    }

    /// Every column the step reads is in `node`'s table, with a type the
    /// step accepts (unknown until run time for a query source).
    fn check_reads(
        &self,
        location: &str,
        node: &str,
        reads: &[(String, ColumnType)],
    ) -> Result<(), SpecError> {
        let Some(schema) = self.schemas.get(node) else {
            return Ok(());
        };
        for (column, ty) in reads {
            match schema.field_with_name(column) {
                Ok(f) if accepts(*ty, f.data_type()) => {}
                Ok(f) => {
                    return Err(self.err(
                        location.to_string(),
                        format!(
                            "column `{column}` of `{node}` is {}, the step reads it as {ty}",
                            f.data_type()
                        ),
                    ));
                }
                Err(_) => {
                    return Err(self.err(
                        location.to_string(),
                        missing_column_message(column, *ty, node, schema),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `input` with `writes` replacing same-named columns or appended.
fn with_columns(input: &Schema, writes: &[(String, ColumnType)]) -> SchemaRef {
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (column, ty) in writes {
        let field = Field::new(column, data_type(*ty), true);
        match fields.iter_mut().find(|f| f.name() == column) {
            Some(existing) => *existing = field,
            None => fields.push(field),
        }
    }
    Arc::new(Schema::new(fields))
}

/// Summary lines for `sluice check`.
pub fn describe_plan(plan: &Plan) -> String {
    let mut out = String::new();
    for step in &plan.steps {
        out.push_str(&format!(
            "  {:<14} {}  {}\n",
            step.name,
            step.describe_work(),
            step.work.describe_columns()
        ));
    }
    out
}
