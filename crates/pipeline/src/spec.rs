//! `pipeline.toml`: parsing and the first, file-local checks. Every error
//! names the file and the step (or source) and field it is about.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::inference::{ModelRef, VersionRef};
use sluice_core::contract::ParamValue;
use sluice_core::{ColumnType, Digest};

/// Why a pipeline file is wrong. `Display` names file, step and field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {location}{message}")]
pub struct SpecError {
    pub file: PathBuf,
    /// e.g. "[step.clean] params: " (empty for file-level errors)
    pub location: String,
    pub message: String,
}

impl SpecError {
    pub fn new(file: &Path, location: impl Into<String>, message: impl Into<String>) -> Self {
        let location = location.into();
        SpecError {
            file: file.to_path_buf(),
            location: if location.is_empty() {
                location
            } else {
                format!("{location}: ")
            },
            message: message.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pipeline: PipelineSection,
    #[serde(default)]
    source: BTreeMap<String, SourceFile>,
    #[serde(default)]
    step: BTreeMap<String, StepFile>,
    #[serde(default)]
    output: BTreeMap<String, OutputFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineSection {
    name: String,
    policy: Option<PathBuf>,
    chunk_rows: Option<usize>,
    concurrency: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    path: Option<PathBuf>,
    query: Option<String>,
    #[serde(default)]
    types: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    plugin: Option<String>,
    train: Option<String>,
    /// a train step's name, or `{ model = "NAME", alias = "..." }` /
    /// `{ model = "NAME", version = N }` for a registered model
    predict: Option<toml::Value>,
    /// a native fitted transform (`pca`)
    transform: Option<String>,
    input: String,
    fit: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    target: Option<String>,
    /// train: feature columns (default: every numeric and sparse column
    /// except the target)
    features: Option<Vec<String>>,
    /// train: held-out split
    split: Option<SplitFile>,
    /// train: cross-validated hyperparameter search
    search: Option<SearchFile>,
    /// train: the registry name the fitted model is recorded under
    /// (default: the pipeline's name)
    model: Option<String>,
    /// train: the condition `sluice promote` checks before moving an alias
    gate: Option<String>,
    /// train: refit the chosen configuration on every labelled row (default true)
    refit: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitFile {
    test: Option<f64>,
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchFile {
    metric: String,
    folds: Option<usize>,
    /// candidate values per hyperparameter
    grid: BTreeMap<String, Vec<toml::Value>>,
    /// sample this many candidates from the grid instead of trying all
    random: Option<usize>,
    /// most values tried past the edge of a numeric grid whose best value
    /// is on that edge (default 3; 0 = never)
    extend: Option<usize>,
    /// alternative feature sets, each a subset of the step's `features`
    features: Option<Vec<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputFile {
    step: String,
    path: PathBuf,
}

/// Where a source's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// A CSV, Parquet or JSON Lines file (path resolved against the pipeline file).
    File(PathBuf),
    /// A SQL query against the store's database.
    Query(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    /// CSV type overrides per column.
    pub types: BTreeMap<String, ColumnType>,
}

const EXACTLY_ONE_ACTION: &str = "needs exactly one of `plugin`, `train`, `predict` or `transform`";

/// What a step runs.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// A Wasm plugin: an embedded name, a policy entry name, a `.wasm` path
    /// or a `sha256:` digest.
    Plugin(String),
    /// Native training (see [`crate::train`]).
    Train(Box<TrainSpec>),
    /// Native prediction with the model a `train` step of this pipeline fits.
    Predict {
        /// The train step's name.
        model: String,
    },
    /// A registered model's inference graph (its plugins, states and
    /// model; see [`crate::inference`]).
    PredictRegistered(ModelRef),
    /// A native fitted transform (see [`crate::transform`]).
    Transform(Box<TransformSpec>),
}

pub use crate::transform::TransformSpec;

/// A `train` step, as written in the pipeline file. Serialised into the
/// step's cache key, so every field that changes the model is here.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainSpec {
    pub algorithm: String,
    /// The label (classification) or value (regression) column; `None`
    /// only for clustering.
    pub target: Option<String>,
    pub features: Option<Vec<String>>,
    pub hyper: BTreeMap<String, sluice_train::HyperValue>,
    /// Fraction of rows held out for `test_predictions` (stratified).
    pub test_fraction: f64,
    pub seed: u64,
    pub search: Option<SearchSpec>,
    /// Registry name of the model.
    pub model_name: String,
    pub gate: Option<String>,
    /// Whether the registered model is refitted on every labelled row once
    /// the configuration is chosen (scikit-learn's `refit`); the held-out
    /// metrics stay those of the model fitted on the training split.
    pub refit: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchSpec {
    pub metric: String,
    pub folds: usize,
    pub grid: BTreeMap<String, Vec<sluice_train::HyperValue>>,
    pub random: Option<usize>,
    /// Most values a grid search adds past the edge of its grid.
    pub extend: usize,
    /// Feature sets the search chooses among (empty: the step's features).
    pub feature_sets: Vec<Vec<String>>,
}

pub const DEFAULT_TEST_FRACTION: f64 = 0.2;
pub const DEFAULT_FOLDS: usize = 5;
/// Values a grid search may add past an edge unless `search.extend` says.
pub const DEFAULT_EXTEND: usize = 3;
/// Bound on `search.extend`: each extension costs `folds` fits.
pub const MAX_EXTEND: usize = 10;

/// The named output of a train step: its held-out rows with predictions.
pub const TEST_PREDICTIONS: &str = "test_predictions";

fn hyper_value(value: &toml::Value) -> Result<sluice_train::HyperValue, String> {
    use sluice_train::HyperValue;
    Ok(match value {
        toml::Value::Boolean(v) => HyperValue::Bool(*v),
        toml::Value::Integer(v) => HyperValue::Int(*v),
        toml::Value::Float(v) => HyperValue::Float(*v),
        toml::Value::String(v) => HyperValue::Text(v.clone()),
        other => {
            return Err(format!(
                "unsupported value type {} (use a bool, number or string)",
                other.type_str()
            ));
        }
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub action: StepAction,
    /// The node (source or step) whose table this step reads.
    pub input: String,
    /// For fitted steps: the node to fit on (default: `input`).
    pub fit: Option<String>,
    pub params: Vec<(String, ParamValue)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub step: String,
    pub path: PathBuf,
}

/// A parsed pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub file: PathBuf,
    /// Digest of the text that was parsed: what a run records it ran.
    pub digest: Digest,
    pub name: String,
    pub policy: Option<PathBuf>,
    pub chunk_rows: usize,
    pub concurrency: usize,
    pub sources: Vec<Source>,
    pub steps: Vec<Step>,
    pub outputs: Vec<Output>,
}

pub const DEFAULT_CHUNK_ROWS: usize = 4096;

fn column_type(name: &str) -> Option<ColumnType> {
    Some(match name {
        "float64" | "float" | "double" => ColumnType::Float64,
        "int64" | "int" | "integer" => ColumnType::Int64,
        "boolean" | "bool" => ColumnType::Boolean,
        "text" | "string" | "utf8" => ColumnType::Text,
        _ => return None,
    })
}

/// Converts a TOML param value; lists must be all strings or all numbers.
fn param_value(value: &toml::Value) -> Result<ParamValue, String> {
    Ok(match value {
        toml::Value::Boolean(v) => ParamValue::Boolean(*v),
        toml::Value::Integer(v) => ParamValue::Int64(*v),
        toml::Value::Float(v) => ParamValue::Float64(*v),
        toml::Value::String(v) => ParamValue::Text(v.clone()),
        toml::Value::Array(items) if items.iter().all(|i| i.is_str()) => ParamValue::TextList(
            items
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect(),
        ),
        toml::Value::Array(items) if items.iter().all(|i| i.is_integer() || i.is_float()) => {
            ParamValue::Float64List(
                items
                    .iter()
                    .map(|i| {
                        i.as_float()
                            .or_else(|| i.as_integer().map(|v| v as f64))
                            .unwrap()
                    })
                    .collect(),
            )
        }
        toml::Value::Array(_) => return Err("a list must hold only strings or only numbers".into()),
        other => {
            return Err(format!(
                "unsupported value type {} (use a bool, number, string or list)",
                other.type_str()
            ));
        }
    })
}

impl Pipeline {
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| SpecError::new(path, "", e.to_string()))?;
        Self::parse(&text, path)
    }

    /// Parses pipeline text; relative paths resolve against `file`'s folder.
    pub fn parse(text: &str, file: &Path) -> Result<Self, SpecError> {
        let raw: File = toml::from_str(text)
            .map_err(|e| SpecError::new(file, "", e.to_string().trim_end().to_string()))?;
        let at = FileContext {
            file,
            base: file.parent().unwrap_or(Path::new("")),
        };
        let sources = raw
            .source
            .into_iter()
            .map(|(name, source)| at.source(name, source))
            .collect::<Result<Vec<_>, _>>()?;
        let mut steps = Vec::new();
        for (name, step) in raw.step {
            steps.push(at.step(name, step, &sources, &raw.pipeline.name)?);
        }
        if steps.is_empty() {
            return Err(at.err(
                String::new(),
                "the pipeline has no steps (add a [step.NAME] table)".into(),
            ));
        }
        at.resolve_named_outputs(&mut steps)?;
        let outputs = raw
            .output
            .into_iter()
            .map(|(name, output)| at.output(name, output, &steps))
            .collect::<Result<Vec<_>, _>>()?;
        let (chunk_rows, concurrency) = at.settings(&raw.pipeline)?;
        Ok(Pipeline {
            file: file.to_path_buf(),
            digest: Digest::of(text.as_bytes()),
            name: raw.pipeline.name,
            policy: raw.pipeline.policy.map(|p| at.base.join(p)),
            chunk_rows,
            concurrency,
            sources,
            steps,
            outputs,
        })
    }

    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The registered models the pipeline's predict steps name.
    pub fn registered_models(&self) -> Vec<&ModelRef> {
        (self.steps.iter())
            .filter_map(|s| match &s.action {
                StepAction::PredictRegistered(model) => Some(model),
                _ => None,
            })
            .collect()
    }
}

/// The file being parsed: where its errors point and what its relative
/// paths resolve against. One method per section of the file.
struct FileContext<'a> {
    file: &'a Path,
    base: &'a Path,
}

impl FileContext<'_> {
    fn err(&self, location: String, message: String) -> SpecError {
        SpecError::new(self.file, location, message)
    }

    fn check_name(&self, kind: &str, name: &str) -> Result<(), SpecError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err(
                format!("[{kind}.{name}]"),
                "names may hold only letters, digits, `-` and `_`".into(),
            ));
        }
        Ok(())
    }

    /// `[pipeline]`: chunk size and concurrency (with their defaults).
    fn settings(&self, section: &PipelineSection) -> Result<(usize, usize), SpecError> {
        let chunk_rows = section.chunk_rows.unwrap_or(DEFAULT_CHUNK_ROWS);
        if chunk_rows == 0 {
            return Err(self.err("[pipeline] chunk_rows".into(), "must be at least 1".into()));
        }
        let concurrency = section
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        if concurrency == 0 {
            return Err(self.err("[pipeline] concurrency".into(), "must be at least 1".into()));
        }
        Ok((chunk_rows, concurrency))
    }

    /// `[source.NAME]`.
    fn source(&self, name: String, source: SourceFile) -> Result<Source, SpecError> {
        self.check_name("source", &name)?;
        let at = format!("[source.{name}]");
        let kind = match (source.path, source.query) {
            (Some(path), None) => {
                let path = self.base.join(path);
                sluice_data::Format::from_path(&path)
                    .map_err(|e| self.err(format!("{at} path"), e.to_string()))?;
                SourceKind::File(path)
            }
            (None, Some(query)) => SourceKind::Query(query),
            (Some(_), Some(_)) => {
                return Err(self.err(at, "give either `path` or `query`, not both".into()));
            }
            (None, None) => {
                return Err(self.err(
                    at,
                    "needs `path` (a .csv, .parquet or .jsonl file) or `query` (SQL)".into(),
                ));
            }
        };
        let mut types = BTreeMap::new();
        for (column, ty) in source.types {
            let parsed = column_type(&ty).ok_or_else(|| {
                self.err(
                    format!("{at} types.{column}"),
                    format!("unknown type `{ty}` (use float64, int64, boolean or text)"),
                )
            })?;
            types.insert(column, parsed);
        }
        Ok(Source { name, kind, types })
    }

    /// `[step.NAME]`: its action, then the fields that depend on it.
    fn step(
        &self,
        name: String,
        step: StepFile,
        sources: &[Source],
        pipeline_name: &str,
    ) -> Result<Step, SpecError> {
        self.check_name("step", &name)?;
        let at = format!("[step.{name}]");
        if sources.iter().any(|s| s.name == name) {
            return Err(self.err(
                at,
                "a source has the same name; inputs would be ambiguous".into(),
            ));
        }
        let action = self.action(&at, &step, pipeline_name)?;
        if !matches!(action, StepAction::Plugin(_) | StepAction::Transform(_)) && step.fit.is_some()
        {
            return Err(self.err(
                format!("{at} fit"),
                "only plugin and transform steps take `fit`".into(),
            ));
        }
        let params = match action {
            // train and transform params are hyperparameters, in their spec
            StepAction::Train(_) | StepAction::Transform(_) => Vec::new(),
            StepAction::Predict { .. } | StepAction::PredictRegistered(_)
                if !step.params.is_empty() =>
            {
                return Err(self.err(
                    format!("{at} params"),
                    "a predict step takes no params (its model was fitted with them)".into(),
                ));
            }
            _ => self.plugin_params(&at, &step.params)?,
        };
        Ok(Step {
            name,
            action,
            input: step.input,
            fit: step.fit,
            params,
        })
    }

    /// What the step runs: exactly one of `plugin`, `train` or `predict`.
    fn action(
        &self,
        at: &str,
        step: &StepFile,
        pipeline_name: &str,
    ) -> Result<StepAction, SpecError> {
        let (plugin, train, predict) = (&step.plugin, &step.train, &step.predict);
        if let Some(algorithm) = &step.transform {
            if plugin.is_some() || train.is_some() || predict.is_some() {
                return Err(self.err(at.to_string(), EXACTLY_ONE_ACTION.into()));
            }
            return Ok(StepAction::Transform(Box::new(
                self.transform_spec(at, algorithm, step)?,
            )));
        }
        match (plugin, train, predict) {
            (Some(plugin), None, None) => {
                self.refuse_train_fields(at, step, "only `train` steps take this field")?;
                Ok(StepAction::Plugin(plugin.clone()))
            }
            (None, Some(algorithm), None) => {
                let spec = self.train_spec(at, algorithm.clone(), step, pipeline_name)?;
                Ok(StepAction::Train(Box::new(spec)))
            }
            (None, None, Some(predict)) => {
                self.refuse_train_fields(
                    at,
                    step,
                    "only `train` steps take this field (a predict step uses its model's)",
                )?;
                match predict {
                    toml::Value::String(model) => Ok(StepAction::Predict {
                        model: model.clone(),
                    }),
                    toml::Value::Table(table) => Ok(StepAction::PredictRegistered(
                        self.registered_model(at, table)?,
                    )),
                    other => Err(self.err(
                        format!("{at} predict"),
                        format!(
                            "is a {}: name a train step of this pipeline (`predict = \"model\"`) or a registered model (`predict = {{ model = \"NAME\", alias = \"production\" }}` or `version = N`)",
                            other.type_str()
                        ),
                    )),
                }
            }
            _ => Err(self.err(at.to_string(), EXACTLY_ONE_ACTION.into())),
        }
    }

    /// `predict = { model = "NAME", alias = "ALIAS" }` or `version = N`.
    fn registered_model(
        &self,
        at: &str,
        table: &toml::map::Map<String, toml::Value>,
    ) -> Result<ModelRef, SpecError> {
        let field = |key: &str| format!("{at} predict.{key}");
        if let Some(key) = table
            .keys()
            .find(|k| !["model", "alias", "version"].contains(&k.as_str()))
        {
            return Err(self.err(
                field(key),
                "unknown field (a registered model is `model` with `alias` or `version`)".into(),
            ));
        }
        let name = match table.get("model") {
            Some(toml::Value::String(name)) => name.clone(),
            Some(_) => return Err(self.err(field("model"), "must be a model name".into())),
            None => {
                return Err(self.err(
                    format!("{at} predict"),
                    "names no `model` (`predict = { model = \"NAME\", alias = \"production\" }`)"
                        .into(),
                ));
            }
        };
        self.check_name("model", &name)?;
        let version = match (table.get("alias"), table.get("version")) {
            (Some(toml::Value::String(alias)), None) if !alias.is_empty() => {
                VersionRef::Alias(alias.clone())
            }
            (Some(_), None) => {
                return Err(self.err(field("alias"), "must be an alias name".into()));
            }
            (None, Some(toml::Value::Integer(n))) if *n >= 1 => VersionRef::Number(*n),
            (None, Some(_)) => {
                return Err(self.err(
                    field("version"),
                    "must be a version number (1 or more)".into(),
                ));
            }
            _ => {
                return Err(self.err(
                    format!("{at} predict"),
                    "give exactly one of `alias` or `version`".into(),
                ));
            }
        };
        Ok(ModelRef { name, version })
    }

    /// A `transform = "..."` step: algorithm, feature columns, hyperparameters.
    fn transform_spec(
        &self,
        at: &str,
        algorithm: &str,
        step: &StepFile,
    ) -> Result<TransformSpec, SpecError> {
        let transforms = sluice_train::reduction::TRANSFORMS;
        if !transforms.iter().any(|t| t.name == algorithm) {
            let known: Vec<&str> = transforms.iter().map(|t| t.name).collect();
            return Err(self.err(
                format!("{at} transform"),
                format!(
                    "unknown transform `{algorithm}` (known: {})",
                    known.join(", ")
                ),
            ));
        }
        let train_only = [
            ("split", step.split.is_some()),
            ("search", step.search.is_some()),
            ("model", step.model.is_some()),
            ("gate", step.gate.is_some()),
            ("target", step.target.is_some()),
        ];
        if let Some((field, _)) = train_only.iter().find(|(_, set)| *set) {
            return Err(self.err(
                format!("{at} {field}"),
                "only `train` steps take this field".into(),
            ));
        }
        let mut hyper = BTreeMap::new();
        for (key, value) in &step.params {
            hyper.insert(
                key.clone(),
                hyper_value(value).map_err(|m| self.err(format!("{at} params.{key}"), m))?,
            );
        }
        Ok(TransformSpec {
            algorithm: algorithm.to_string(),
            features: step.features.clone(),
            hyper,
        })
    }

    /// Fields only a train step takes are refused, naming the first given.
    fn refuse_train_fields(
        &self,
        at: &str,
        step: &StepFile,
        message: &str,
    ) -> Result<(), SpecError> {
        let train_only = [
            ("features", step.features.is_some()),
            ("split", step.split.is_some()),
            ("search", step.search.is_some()),
            ("model", step.model.is_some()),
            ("gate", step.gate.is_some()),
            ("refit", step.refit.is_some()),
            ("target", step.target.is_some()),
        ];
        match train_only.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(self.err(format!("{at} {field}"), message.into())),
            None => Ok(()),
        }
    }

    fn plugin_params(
        &self,
        at: &str,
        given: &BTreeMap<String, toml::Value>,
    ) -> Result<Vec<(String, ParamValue)>, SpecError> {
        given
            .iter()
            .map(|(key, value)| {
                let value =
                    param_value(value).map_err(|m| self.err(format!("{at} params.{key}"), m))?;
                Ok((key.clone(), value))
            })
            .collect()
    }

    /// A `train = "..."` step: algorithm, hyperparameters, split, search, model name.
    fn train_spec(
        &self,
        at: &str,
        algorithm: String,
        step: &StepFile,
        pipeline_name: &str,
    ) -> Result<TrainSpec, SpecError> {
        let train_at = |field: &str| format!("{at} {field}");
        if !sluice_train::ALGORITHMS.iter().any(|a| a.name == algorithm) {
            let known: Vec<&str> = sluice_train::ALGORITHMS.iter().map(|a| a.name).collect();
            return Err(self.err(
                train_at("train"),
                format!(
                    "unknown algorithm `{algorithm}` (known: {})",
                    known.join(", ")
                ),
            ));
        }
        let mut hyper = BTreeMap::new();
        for (key, value) in &step.params {
            hyper.insert(
                key.clone(),
                hyper_value(value).map_err(|m| self.err(train_at(&format!("params.{key}")), m))?,
            );
        }
        let (test, seed) = step
            .split
            .as_ref()
            .map_or((None, None), |s| (s.test, s.seed));
        let test_fraction = test.unwrap_or(DEFAULT_TEST_FRACTION);
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(self.err(
                train_at("split.test"),
                format!("{test_fraction} is not a fraction between 0 and 1"),
            ));
        }
        let search = match &step.search {
            None => None,
            Some(search) => Some(self.search_spec(at, search)?),
        };
        if let Some(model) = &step.model {
            self.check_name("model", model)?;
        }
        Ok(TrainSpec {
            algorithm,
            target: step.target.clone(),
            features: step.features.clone(),
            hyper,
            test_fraction,
            seed: seed.unwrap_or(0),
            search,
            model_name: step
                .model
                .clone()
                .unwrap_or_else(|| pipeline_name.to_string()),
            gate: step.gate.clone(),
            refit: step.refit.unwrap_or(true),
        })
    }

    /// A train step's `search` table.
    fn search_spec(&self, at: &str, search: &SearchFile) -> Result<SearchSpec, SpecError> {
        let mut grid = BTreeMap::new();
        for (key, values) in &search.grid {
            let at = format!("{at} search.grid.{key}");
            if values.is_empty() {
                return Err(self.err(at, "needs at least one value".into()));
            }
            let values = values
                .iter()
                .map(hyper_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| self.err(at.clone(), m))?;
            grid.insert(key.clone(), values);
        }
        let folds = search.folds.unwrap_or(DEFAULT_FOLDS);
        if folds < 2 {
            return Err(self.err(
                format!("{at} search.folds"),
                "needs at least 2 folds".into(),
            ));
        }
        if search.random == Some(0) {
            return Err(self.err(
                format!("{at} search.random"),
                "must sample at least 1 candidate".into(),
            ));
        }
        let extend = search.extend.unwrap_or(DEFAULT_EXTEND);
        if extend > MAX_EXTEND {
            return Err(self.err(
                format!("{at} search.extend"),
                format!("at most {MAX_EXTEND}, got {extend}"),
            ));
        }
        let feature_sets = search.features.clone().unwrap_or_default();
        if feature_sets.iter().any(Vec::is_empty) {
            return Err(self.err(
                format!("{at} search.features"),
                "a feature set names no column".into(),
            ));
        }
        Ok(SearchSpec {
            metric: search.metric.clone(),
            folds,
            grid,
            random: search.random,
            extend,
            feature_sets,
        })
    }

    /// `model.test_predictions` names a train step's held-out predictions,
    /// which are that step's table: inputs and fits naming it point at the
    /// step. A predict step's model must be a train step.
    fn resolve_named_outputs(&self, steps: &mut [Step]) -> Result<(), SpecError> {
        let train_steps: Vec<String> = steps
            .iter()
            .filter(|s| matches!(s.action, StepAction::Train(_)))
            .map(|s| s.name.clone())
            .collect();
        for step in steps {
            let at = format!("[step.{}]", step.name);
            for (field, input) in [("input", Some(&mut step.input)), ("fit", step.fit.as_mut())] {
                let Some(input) = input else { continue };
                let Some((node, port)) = input.split_once('.') else {
                    continue;
                };
                if !train_steps.iter().any(|t| t == node) {
                    return Err(self.err(
                        format!("{at} {field}"),
                        format!(
                            "`{input}`: only train steps have named outputs, and `{node}` is not one"
                        ),
                    ));
                }
                if port != TEST_PREDICTIONS {
                    return Err(self.err(
                        format!("{at} {field}"),
                        format!("`{input}`: a train step's output is `{node}.{TEST_PREDICTIONS}`"),
                    ));
                }
                *input = node.to_string();
            }
            if let StepAction::Predict { model } = &step.action
                && !train_steps.contains(model)
            {
                return Err(self.err(
                    format!("{at} predict"),
                    format!("`{model}` is not a train step of this pipeline"),
                ));
            }
        }
        Ok(())
    }

    /// `[output.NAME]`.
    fn output(
        &self,
        name: String,
        output: OutputFile,
        steps: &[Step],
    ) -> Result<Output, SpecError> {
        let at = format!("[output.{name}]");
        if !steps.iter().any(|s| s.name == output.step) {
            return Err(self.err(
                format!("{at} step"),
                format!("no step is called `{}`", output.step),
            ));
        }
        let path = self.base.join(&output.path);
        sluice_data::Format::from_path(&path)
            .map_err(|e| self.err(format!("{at} path"), e.to_string()))?;
        Ok(Output {
            name,
            step: output.step,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipeline, SpecError> {
        Pipeline::parse(text, Path::new("dir/pipeline.toml"))
    }

    #[test]
    fn parses_sources_steps_params_and_outputs() {
        let p = parse(
            r#"
[pipeline]
name = "demo"
policy = "policy.toml"
[source.messages]
path = "data/m.csv"
types = { label = "int64" }
[step.clean]
plugin = "clean-text"
input = "messages"
params = { column = "text", lowercase = true, max_repeat = 2, cols = ["a", "b"] }
[output.cleaned]
step = "clean"
path = "out/clean.parquet"
"#,
        )
        .unwrap();
        assert_eq!(p.policy, Some(PathBuf::from("dir/policy.toml")));
        assert_eq!(
            p.sources[0].kind,
            SourceKind::File(PathBuf::from("dir/data/m.csv"))
        );
        assert_eq!(p.sources[0].types["label"], ColumnType::Int64);
        assert!(
            p.steps[0]
                .params
                .contains(&("max_repeat".into(), ParamValue::Int64(2)))
        );
        assert!(p.steps[0].params.contains(&(
            "cols".into(),
            ParamValue::TextList(vec!["a".into(), "b".into()])
        )));
        assert_eq!(p.outputs[0].path, PathBuf::from("dir/out/clean.parquet"));
    }

    #[test]
    fn predict_names_a_train_step_or_a_registered_model() {
        let step = |predict: &str| {
            parse(&format!(
                "[pipeline]\nname = \"x\"\n[source.s]\npath = \"a.csv\"\n[step.p]\npredict = {predict}\ninput = \"s\"\n"
            ))
        };
        let p = step(r#"{ model = "chat-moderation", alias = "production" }"#).unwrap();
        assert_eq!(
            p.steps[0].action,
            StepAction::PredictRegistered(ModelRef {
                name: "chat-moderation".into(),
                version: VersionRef::Alias("production".into()),
            })
        );
        assert_eq!(p.registered_models().len(), 1);
        let p = step(r#"{ model = "m", version = 3 }"#).unwrap();
        assert_eq!(
            p.steps[0].action,
            StepAction::PredictRegistered(ModelRef {
                name: "m".into(),
                version: VersionRef::Number(3),
            })
        );
        for (predict, expected) in [
            (
                r#"{ model = "m" }"#,
                "[step.p] predict: give exactly one of `alias` or `version`",
            ),
            (
                r#"{ model = "m", alias = "a", version = 1 }"#,
                "exactly one of",
            ),
            (
                r#"{ model = "m", version = 0 }"#,
                "[step.p] predict.version: must be a version number",
            ),
            (
                r#"{ model = "m", alias = 2 }"#,
                "[step.p] predict.alias: must be an alias name",
            ),
            (r#"{ alias = "a" }"#, "[step.p] predict: names no `model`"),
            (
                r#"{ model = "m", alias = "a", colour = 1 }"#,
                "[step.p] predict.colour: unknown field",
            ),
            ("3", "[step.p] predict: is a integer"),
        ] {
            let e = step(predict).unwrap_err().to_string();
            assert!(e.contains(expected), "{predict}: {e}");
        }
        let e = parse("[pipeline]\nname = \"x\"\n[step.p]\npredict = { model = \"m\", version = 1 }\ninput = \"s\"\nparams = { a = 1 }\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[step.p] params: a predict step takes no params"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_step_and_field() {
        let e = parse(
            "[pipeline]\nname = \"x\"\n[step.a]\nplugin = \"p\"\ninput = \"s\"\ncolour = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("dir/pipeline.toml:") && e.contains("colour"),
            "{e}"
        );
        let e = parse(
            "[pipeline]\nname = \"x\"\n[step.a]\nplugin = \"p\"\ntrain = \"lr\"\ninput = \"s\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[step.a]") && e.contains("exactly one of"),
            "{e}"
        );
        let e = parse("[pipeline]\nname = \"x\"\n[source.s]\npath = \"a.xlsx\"\n[step.a]\nplugin = \"p\"\ninput = \"s\"\n").unwrap_err().to_string();
        assert!(e.contains("[source.s] path") && e.contains("a.xlsx"), "{e}");
        let e = parse("[pipeline]\nname = \"x\"\n[source.s]\npath = \"a.csv\"\ntypes = { n = \"decimal\" }\n[step.a]\nplugin = \"p\"\ninput = \"s\"\n").unwrap_err().to_string();
        assert!(
            e.contains("[source.s] types.n") && e.contains("decimal"),
            "{e}"
        );
        let e = parse("[pipeline]\nname = \"x\"\n[step.a]\nplugin = \"p\"\ninput = \"s\"\nparams = { x = [1, \"a\"] }\n").unwrap_err().to_string();
        assert!(e.contains("[step.a] params.x"), "{e}");
        let e = parse("[pipeline]\nname = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("no steps"), "{e}");
    }
}
