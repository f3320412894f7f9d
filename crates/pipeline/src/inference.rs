//! The inference graph of a registered model: the plugin steps that fed
//! its train step, in order, each with its exact bytes (by digest), its
//! params and its fitted state, then the model. One type behind the
//! pipeline's `predict = { model = ... }` step, `sluice predict` and
//! serving.
//!
//! Building it ([`InferenceGraph::build`]) checks every digest, compiles
//! and pre-instantiates every plugin and resolves its params and grant,
//! once. Running it ([`InferenceGraph::predict`]) opens a fresh sandboxed
//! session per plugin for each batch, so batches never share guest state,
//! and never fits anything: fitted steps run with their recorded state.
//!
//! Where the bytes come from is a [`ModelSource`]: a version in the store
//! (fetched once, asynchronously, so building needs no store) or a bundle
//! file read and checked in memory.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};

use super::native::{self, ModelFile};
use sluice_core::contract::{ParamValue, Params};
use sluice_core::{ColumnType, Digest, DigestWriter};
use sluice_data::blobs::ArtifactDir;
use sluice_data::{accepts, batch_to_chunk, data_type, merge_into_batch};
use sluice_registry::bundle::CheckedBundle;
use sluice_registry::{Lineage, LineageStep, RegistryError, version_lineage};
use sluice_runtime::policy::{ColumnSet, EffectiveGrant, Grant, Limits, Policy};
use sluice_runtime::{Plugin, Runtime, RuntimeError, SessionStats, Stop};
use sluice_store::{Store, StoreError};

/// Which version of a registered model: an alias or a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionRef {
    Number(i64),
    Alias(String),
}

/// A registered model as people name it: `chat-moderation@production`,
/// `chat-moderation@3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    pub name: String,
    pub version: VersionRef,
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            VersionRef::Number(n) => write!(f, "{}@{n}", self.name),
            VersionRef::Alias(alias) => write!(f, "{}@{alias}", self.name),
        }
    }
}

impl FromStr for ModelRef {
    type Err = InferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            InferenceError::Reference(format!(
                "`{text}`: {why} (write NAME@ALIAS or NAME@VERSION, e.g. chat-moderation@production or chat-moderation@3)"
            ))
        };
        let (name, version) = text
            .split_once('@')
            .ok_or_else(|| bad("names no version or alias"))?;
        if name.is_empty() || version.is_empty() {
            return Err(bad(
                "the model name and the version or alias must not be empty",
            ));
        }
        let version = match version.parse::<i64>() {
            Ok(n) if n >= 1 => VersionRef::Number(n),
            Ok(_) => return Err(bad("versions start at 1")),
            Err(_) => VersionRef::Alias(version.to_string()),
        };
        Ok(ModelRef {
            name: name.to_string(),
            version,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("model reference {0}")]
    Reference(String),
    #[error("no model `{name}` is registered ({known})")]
    NoModel { name: String, known: String },
    #[error("model `{name}` has no alias `{alias}` ({held})")]
    NoAlias {
        name: String,
        alias: String,
        held: String,
    },
    #[error("model `{name}` has no version {version} ({held})")]
    NoVersion {
        name: String,
        version: i64,
        held: String,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The graph cannot be built: a blob is missing or altered, a grant
    /// differs from training, a recorded step cannot be replayed.
    #[error("{model}: {message}")]
    Graph { model: String, message: String },
    #[error(
        "{model}: {input} has no column `{column}`, which {reader} reads (it has: {available})"
    )]
    MissingColumn {
        model: String,
        input: String,
        column: String,
        reader: String,
        available: String,
    },
    #[error(
        "{model}: column `{column}` of {input} is {found}, but {reader} reads it as {expected}"
    )]
    WrongType {
        model: String,
        input: String,
        column: String,
        found: String,
        reader: String,
        expected: ColumnType,
    },
    #[error("{model}: step `{step}`: {error}")]
    Plugin {
        model: String,
        step: String,
        error: Box<RuntimeError>,
    },
    #[error("{model}: {message}")]
    Data { model: String, message: String },
}

/// Where a source's blobs are: artifact files (a store's home) or the
/// checked contents of a bundle.
enum Blobs {
    Store {
        home: PathBuf,
        files: BTreeMap<Digest, PathBuf>,
    },
    Bundle(BTreeMap<Digest, Arc<Vec<u8>>>),
}

/// A registered model version: its lineage and where its model, fitted
/// states and plugins are.
pub struct ModelSource {
    /// As it was asked for (`chat-moderation@production`).
    pub reference: ModelRef,
    pub name: String,
    pub version: i64,
    pub model_digest: Digest,
    pub lineage: Lineage,
    blobs: Blobs,
}

impl std::fmt::Debug for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSource")
            .field("reference", &self.reference.to_string())
            .field("version", &self.version)
            .field("model_digest", &self.model_digest)
            .finish()
    }
}

/// What every aliased version of model `name` is, for errors.
async fn held_versions(store: &Store, name: &str) -> Result<String, StoreError> {
    let aliases = store.aliases(Some(name)).await?;
    let versions = store.model_versions(Some(name)).await?;
    let mut numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
    numbers.sort_unstable();
    let numbers: Vec<String> = numbers.iter().map(ToString::to_string).collect();
    let aliases: Vec<String> = aliases
        .iter()
        .map(|a| format!("{} -> {}", a.alias, a.version))
        .collect();
    Ok(format!(
        "versions: {}; aliases: {}",
        numbers.join(", "),
        if aliases.is_empty() {
            "none".to_string()
        } else {
            aliases.join(", ")
        }
    ))
}

impl ModelSource {
    /// Looks `reference` up in the registry: the version, its lineage and
    /// the artifact files of its model and fitted states. Errors name the
    /// model and list what it has.
    pub async fn fetch(
        store: &Store,
        home: &Path,
        reference: &ModelRef,
    ) -> Result<ModelSource, InferenceError> {
        let name = &reference.name;
        if store.model_versions(Some(name)).await?.is_empty() {
            let mut known: Vec<String> = (store.model_versions(None).await?.into_iter())
                .map(|v| v.name)
                .collect();
            known.dedup();
            return Err(InferenceError::NoModel {
                name: name.clone(),
                known: if known.is_empty() {
                    "none is".to_string()
                } else {
                    format!("registered: {}", known.join(", "))
                },
            });
        }
        let version = match &reference.version {
            VersionRef::Number(n) => *n,
            VersionRef::Alias(alias) => match store.alias_version(name, alias).await? {
                Some(version) => version,
                None => {
                    return Err(InferenceError::NoAlias {
                        name: name.clone(),
                        alias: alias.clone(),
                        held: held_versions(store, name).await?,
                    });
                }
            },
        };
        let Some(record) = store.model_version(name, version).await? else {
            return Err(InferenceError::NoVersion {
                name: name.clone(),
                version,
                held: held_versions(store, name).await?,
            });
        };
        let lineage = version_lineage(&record)?;
        let model = describe_model(name, version, Some(reference));
        let artifacts = ArtifactDir::new(home);
        let mut files = BTreeMap::new();
        let states = (lineage.steps.iter()).filter_map(|s| s.state_digest.map(|d| (d, &s.name)));
        for (digest, what) in std::iter::once((record.model_digest, &record.step)).chain(states) {
            let artifact = store
                .artifact(&digest)
                .await?
                .ok_or_else(|| InferenceError::Graph {
                    model: model.clone(),
                    message: format!("artifact {digest} (of step `{what}`) is not in the store"),
                })?;
            files.insert(digest, artifacts.path(&artifact.path));
        }
        Ok(ModelSource {
            reference: reference.clone(),
            name: name.clone(),
            version,
            model_digest: record.model_digest,
            lineage,
            blobs: Blobs::Store {
                home: home.to_path_buf(),
                files,
            },
        })
    }

    /// A bundle's model, served from the bundle's own (already checked)
    /// bytes, without a store.
    pub fn from_bundle(bundle: CheckedBundle) -> ModelSource {
        let manifest = bundle.manifest;
        let blobs = (manifest.blobs.iter())
            .zip(bundle.blobs)
            .map(|(blob, bytes)| (blob.digest, Arc::new(bytes)))
            .collect();
        ModelSource {
            reference: ModelRef {
                name: manifest.name.clone(),
                version: VersionRef::Number(manifest.version),
            },
            name: manifest.name,
            version: manifest.version,
            model_digest: manifest.model_digest,
            lineage: manifest.lineage,
            blobs: Blobs::Bundle(blobs),
        }
    }

    fn describe(&self) -> String {
        describe_model(&self.name, self.version, Some(&self.reference))
    }

    fn graph_error(&self, message: impl Into<String>) -> InferenceError {
        InferenceError::Graph {
            model: self.describe(),
            message: message.into(),
        }
    }

    /// A model or state blob, checked against its digest.
    fn blob(&self, digest: &Digest, what: &str) -> Result<Vec<u8>, InferenceError> {
        let bytes = match &self.blobs {
            Blobs::Store { files, .. } => {
                let path = files
                    .get(digest)
                    .ok_or_else(|| self.graph_error(format!("{what} {digest} was not fetched")))?;
                std::fs::read(path).map_err(|e| {
                    self.graph_error(format!("{what}: cannot read {}: {e}", path.display()))
                })?
            }
            Blobs::Bundle(blobs) => blobs
                .get(digest)
                .map(|b| b.as_ref().clone())
                .ok_or_else(|| self.graph_error(format!("{what} {digest} is not in the bundle")))?,
        };
        check_digest(&bytes, digest).map_err(|actual| {
            self.graph_error(format!(
                "{what} {digest} does not match its digest (its content hashes to {actual}); refused"
            ))
        })?;
        Ok(bytes)
    }

    /// A plugin's exact bytes, checked against its digest.
    fn plugin_bytes(&self, digest: &Digest, step: &str) -> Result<Vec<u8>, InferenceError> {
        let bytes = match &self.blobs {
            Blobs::Store { home, .. } => {
                sluice_stdlib::plugin_by_digest(digest, home)
                    .map_err(|e| self.graph_error(format!("step `{step}`: {e}")))?
                    .0
            }
            Blobs::Bundle(blobs) => {
                blobs
                    .get(digest)
                    .map(|b| b.as_ref().clone())
                    .ok_or_else(|| {
                        self.graph_error(format!(
                            "step `{step}`: plugin {digest} is not in the bundle"
                        ))
                    })?
            }
        };
        check_digest(&bytes, digest).map_err(|actual| {
            self.graph_error(format!(
                "step `{step}`: plugin {digest} does not match its digest (its content hashes to {actual}); refused"
            ))
        })?;
        Ok(bytes)
    }
}

fn check_digest(bytes: &[u8], expected: &Digest) -> Result<(), Digest> {
    let actual = Digest::of(bytes);
    if actual == *expected {
        Ok(())
    } else {
        Err(actual)
    }
}

fn describe_model(name: &str, version: i64, asked: Option<&ModelRef>) -> String {
    match asked {
        Some(reference) if matches!(reference.version, VersionRef::Alias(_)) => {
            format!("model `{name}` version {version} (`{reference}`)")
        }
        _ => format!("model `{name}` version {version}"),
    }
}

/// Whose grants the graph's plugins run under.
#[derive(Debug, Clone, Copy)]
pub enum Grants<'a> {
    /// An operator's policy (a pipeline's own, or `sluice predict
    /// --policy`): each plugin gets the entry for the name its lineage
    /// recorded (whose digest pin must hold), else the entry for its
    /// digest, never one chosen by what the plugin declares itself.
    Policy(&'a Policy),
    /// The grant each plugin ran with at training, as its lineage recorded
    /// it (columns, limits, environment; never directories).
    Recorded,
}

/// A column the graph needs from its input, and who reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequiredColumn {
    pub name: String,
    pub ty: ColumnType,
    /// `step `clean` (clean-text)` or `the model`.
    pub reader: String,
}

/// One plugin step of the graph, ready to open sessions.
struct InferenceStep {
    name: String,
    plugin: Plugin,
    params: Params,
    effective: EffectiveGrant,
    state: Option<Vec<u8>>,
}

/// A batch through the graph: the scored rows and what the plugins used.
#[derive(Debug)]
pub struct Scored {
    /// The input's columns, every column the plugins wrote except the
    /// model's features, then `prediction` (and `score`): the columns of
    /// the train step's `test_predictions`.
    pub batch: RecordBatch,
    pub stats: SessionStats,
}

/// A registered model ready to score batches; build once, predict often
/// (it is `Send + Sync`: share it behind an `Arc`).
pub struct InferenceGraph {
    name: String,
    version: i64,
    /// How errors name the model.
    label: String,
    model_digest: Digest,
    steps: Vec<InferenceStep>,
    model: ModelFile,
    inputs: Vec<RequiredColumn>,
    identity: Digest,
}

impl std::fmt::Debug for InferenceGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceGraph")
            .field("model", &self.label)
            .field(
                "steps",
                &self.steps.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("identity", &self.identity)
            .finish()
    }
}

/// The lineage steps the train step's input went through, source first:
/// the chain of `input`s back from the training table. Steps that only fed
/// a `fit` are not in it (their effect is in the fitted state).
fn input_chain(lineage: &Lineage) -> Result<Vec<&LineageStep>, String> {
    let by_name = |name: &str| lineage.steps.iter().find(|s| s.name == name);
    let mut node = match &lineage.training_input {
        Some(input) => by_name(input),
        // lineage from before `training_input` was kept: the last step
        // whose table was the training data
        None => (lineage.steps.iter().rev()).find(|s| s.output_digest == lineage.training_data),
    };
    let mut chain = Vec::new();
    while let Some(step) = node {
        if chain.len() > lineage.steps.len() {
            return Err("the recorded steps form a cycle".into());
        }
        chain.push(step);
        node = by_name(&step.input);
    }
    chain.reverse();
    Ok(chain)
}

/// Recorded params (JSON, as the lineage wrote them) as given params; the
/// plugin's `describe()` then checks and completes them.
fn recorded_params(params: &serde_json::Value) -> Result<Vec<(String, ParamValue)>, String> {
    let pairs = params
        .as_array()
        .ok_or_else(|| format!("recorded params are not a list of pairs: {params}"))?;
    let value = |v: &serde_json::Value| -> Option<ParamValue> {
        Some(match v {
            serde_json::Value::Bool(b) => ParamValue::Boolean(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => ParamValue::Int64(i),
                _ => ParamValue::Float64(n.as_f64()?),
            },
            serde_json::Value::String(s) => ParamValue::Text(s.clone()),
            serde_json::Value::Array(items) if items.iter().all(|i| i.is_string()) => {
                ParamValue::TextList(
                    items
                        .iter()
                        .map(|i| i.as_str().unwrap_or_default().to_string())
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                ParamValue::Float64List(items.iter().map(|i| i.as_f64()).collect::<Option<_>>()?)
            }
            _ => return None,
        })
    };
    pairs
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([serde_json::Value::String(name), v]) => value(v)
                .map(|v| (name.clone(), v))
                .ok_or_else(|| format!("recorded param `{name}` = {v} is not a param value")),
            _ => Err(format!("recorded param {pair} is not a (name, value) pair")),
        })
        .collect()
}

fn column_names(columns: &[(String, ColumnType)]) -> Vec<String> {
    columns.iter().map(|(n, _)| n.clone()).collect()
}

impl InferenceGraph {
    /// Builds the graph of `source`'s model: checks every blob against its
    /// digest, loads (compiles, pre-instantiates, describes) every plugin
    /// under `grants`, resolves its recorded params and refuses any grant
    /// that differs from the one it was trained with.
    pub fn build(
        source: &ModelSource,
        runtime: &Runtime,
        grants: Grants<'_>,
    ) -> Result<InferenceGraph, InferenceError> {
        let chain = input_chain(&source.lineage).map_err(|m| source.graph_error(m))?;
        let mut identity = DigestWriter::new();
        identity.update(source.model_digest.to_string());
        let mut steps = Vec::with_capacity(chain.len());
        for recorded in chain {
            let step = load_step(source, runtime, grants, recorded)?;
            identity.update(
                serde_json::json!({
                    "step": step.name,
                    "plugin": step.plugin.digest().to_string(),
                    "params": step.params,
                    "reads": step.effective.reads,
                    "writes": step.effective.writes,
                    "env": step.effective.grant.env,
                    "dirs": recorded.grant.as_ref().and_then(|g| g.dirs.clone()),
                    "state": recorded.state_digest.map(|d| d.to_string()),
                })
                .to_string(),
            );
            steps.push(step);
        }
        let model_bytes = source.blob(&source.model_digest, "the model")?;
        let model = ModelFile::from_bytes(&model_bytes)
            .map_err(|m| source.graph_error(format!("the model: {m}")))?;
        let mut inputs: Vec<RequiredColumn> = Vec::new();
        let mut produced: HashSet<&str> = HashSet::new();
        let mut need =
            |name: &str, ty: ColumnType, reader: &dyn Fn() -> String, produced: &HashSet<&str>| {
                if !produced.contains(name) && !inputs.iter().any(|c| c.name == name) {
                    inputs.push(RequiredColumn {
                        name: name.to_string(),
                        ty,
                        reader: reader(),
                    });
                }
            };
        for step in &steps {
            let reader = || format!("step `{}` ({})", step.name, step.plugin.name());
            for (column, ty) in &step.effective.reads {
                need(column, *ty, &reader, &produced);
            }
            produced.extend(step.effective.writes.iter().map(|(n, _)| n.as_str()));
        }
        for feature in &model.features {
            need(
                &feature.name,
                feature.ty,
                &|| "the model".to_string(),
                &produced,
            );
        }
        Ok(InferenceGraph {
            name: source.name.clone(),
            version: source.version,
            label: source.describe(),
            model_digest: source.model_digest,
            steps,
            model,
            inputs,
            identity: identity.finish(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn model_digest(&self) -> &Digest {
        &self.model_digest
    }

    /// The plugin steps, in the order they run, with their plugins.
    pub fn steps(&self) -> impl Iterator<Item = (&str, &Plugin)> {
        self.steps.iter().map(|s| (s.name.as_str(), &s.plugin))
    }

    /// The columns the graph needs from its input, with who reads them.
    pub fn inputs(&self) -> &[RequiredColumn] {
        &self.inputs
    }

    /// A digest of everything that decides the graph's output: the model,
    /// and every step's plugin, params, grant (columns, environment,
    /// directories' content) and state. Equal identities score alike.
    pub fn identity(&self) -> &Digest {
        &self.identity
    }

    /// Checks that a table with `schema` (called `input` in errors: a
    /// file, a node) has every column the graph reads, with a usable type.
    pub fn check_input(&self, schema: &Schema, input: &str) -> Result<(), InferenceError> {
        for required in &self.inputs {
            match schema.field_with_name(&required.name) {
                Ok(field) if accepts(required.ty, field.data_type()) => {}
                Ok(field) => {
                    return Err(InferenceError::WrongType {
                        model: self.label.clone(),
                        input: input.to_string(),
                        column: required.name.clone(),
                        found: field.data_type().to_string(),
                        reader: required.reader.clone(),
                        expected: required.ty,
                    });
                }
                Err(_) => {
                    return Err(InferenceError::MissingColumn {
                        model: self.label.clone(),
                        input: input.to_string(),
                        column: required.name.clone(),
                        reader: required.reader.clone(),
                        available: (schema.fields().iter())
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// The schema of what [`InferenceGraph::predict`] returns for an input
    /// with `schema` (checked with [`InferenceGraph::check_input`] first).
    pub fn output_schema(&self, schema: &Schema) -> Result<SchemaRef, InferenceError> {
        self.check_input(schema, "the input")?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for (column, ty) in self.steps.iter().flat_map(|s| &s.effective.writes) {
            let field = Field::new(column, data_type(*ty), true);
            match fields.iter_mut().find(|f| f.name() == column) {
                Some(existing) => *existing = field,
                None => fields.push(field),
            }
        }
        let with_features = Schema::new(fields);
        let scored = native::plan_predict(
            &native::model_features(&self.model),
            self.model.task,
            &with_features,
        )
        .map_err(|e| self.data_error(e.message))?;
        Ok(self.without_features(scored.as_ref()))
    }

    fn without_features(&self, schema: &Schema) -> SchemaRef {
        Arc::new(Schema::new(
            (schema.fields().iter())
                .filter(|f| !self.model.features.iter().any(|c| c.name == *f.name()))
                .map(|f| f.as_ref().clone())
                .collect::<Vec<_>>(),
        ))
    }

    fn data_error(&self, message: impl Into<String>) -> InferenceError {
        InferenceError::Data {
            model: self.label.clone(),
            message: message.into(),
        }
    }

    /// Scores one batch: each plugin in a fresh session opened with its
    /// recorded state (stopped at `stop`'s deadline or cancellation, and by
    /// its grant's CPU bound), then the model. Nothing is fitted.
    pub fn predict(&self, batch: &RecordBatch, stop: &Stop) -> Result<Scored, InferenceError> {
        let mut stats = SessionStats::default();
        let mut table = batch.clone();
        for step in &self.steps {
            let chunk = batch_to_chunk(&table, &step.effective.reads)
                .map_err(|e| self.data_error(format!("step `{}`: {e}", step.name)))?;
            let plugin_error = |error: RuntimeError| InferenceError::Plugin {
                model: self.label.clone(),
                step: step.name.clone(),
                error: Box::new(error),
            };
            let mut session = step
                .plugin
                .session_until(
                    &step.params,
                    &step.effective,
                    step.state.as_deref(),
                    stop.clone(),
                )
                .map_err(plugin_error)?;
            let output = session
                .process(chunk)
                .and_then(|output| session.finish().map(|_| output));
            stats.add(session.stats());
            table = merge_into_batch(&table, &output.map_err(plugin_error)?)
                .map_err(|e| self.data_error(format!("step `{}`: {e}", step.name)))?;
        }
        let scored = native::predict_batch(&self.model, &table)
            .map_err(|e| self.data_error(format!("{}: {}", e.field, e.message)))?;
        let keep: Vec<usize> = (scored.schema().fields().iter().enumerate())
            .filter(|(_, f)| !self.model.features.iter().any(|c| c.name == *f.name()))
            .map(|(i, _)| i)
            .collect();
        let batch = scored
            .project(&keep)
            .map_err(|e| self.data_error(e.to_string()))?;
        Ok(Scored { batch, stats })
    }
}

/// Loads one recorded plugin step: bytes by digest, grant, params, state.
fn load_step(
    source: &ModelSource,
    runtime: &Runtime,
    grants: Grants<'_>,
    recorded: &LineageStep,
) -> Result<InferenceStep, InferenceError> {
    let step = &recorded.name;
    let fail = |message: String| source.graph_error(format!("step `{step}`: {message}"));
    let digest = recorded.plugin_digest.ok_or_else(|| {
        fail("a native step; an inference graph replays plugin steps only".into())
    })?;
    let bytes = source.plugin_bytes(&digest, step)?;
    // the name it was granted by at training, never what it declares
    let name = (recorded.plugin_name.clone()).unwrap_or_else(|| digest.to_string());
    let loaded = match grants {
        Grants::Policy(policy) => runtime.load(&bytes, Some(name.as_str()), policy),
        Grants::Recorded => {
            let grant = recorded_grant(recorded).map_err(fail)?;
            runtime.load_with_grant(&bytes, &name, grant)
        }
    };
    let plugin = loaded.map_err(|e| fail(e.to_string()))?;
    if *plugin.digest() != digest {
        return Err(fail(format!(
            "loaded plugin {} where the lineage recorded {digest}; refused",
            plugin.digest()
        )));
    }
    let given = recorded_params(&recorded.params).map_err(&fail)?;
    let (params, effective) = plugin
        .effective_grant(&given)
        .map_err(|e| fail(e.to_string()))?;
    if serde_json::to_value(&params).ok().as_ref() != Some(&recorded.params) {
        return Err(fail(format!(
            "its params resolve to {} now, {} at training; refused",
            serde_json::to_value(&params).unwrap_or_default(),
            recorded.params
        )));
    }
    let (reads, writes) = (
        column_names(&effective.reads),
        column_names(&effective.writes),
    );
    if reads != recorded.reads || writes != recorded.writes {
        return Err(fail(format!(
            "the grant gives it columns read {reads:?} / write {writes:?}, at training it had read {:?} / write {:?}: the model would see other features; refused (grant it the training columns)",
            recorded.reads, recorded.writes
        )));
    }
    if let (Grants::Policy(_), Some(trained)) = (grants, &recorded.grant) {
        let now = (!effective.grant.dirs.is_empty()).then(|| super::work::dirs_digest(&effective));
        if now != trained.dirs {
            return Err(fail(
                "the directories its grant gives it do not hold what they held at training; refused"
                    .into(),
            ));
        }
    }
    let state = match recorded.state_digest {
        Some(state) => Some(source.blob(&state, &format!("the fitted state of step `{step}`"))?),
        None if plugin.info().fits => {
            return Err(fail(
                "a fitted plugin, but the lineage recorded no state".into(),
            ));
        }
        None => None,
    };
    Ok(InferenceStep {
        name: step.clone(),
        plugin,
        params,
        effective,
        state,
    })
}

/// The grant a plugin ran with at training, from its lineage.
fn recorded_grant(recorded: &LineageStep) -> Result<Grant, String> {
    let kept = recorded
        .grant
        .as_ref()
        .ok_or("its lineage predates recorded grants: name a policy that grants it (`--policy`)")?;
    if kept.dirs.is_some() {
        return Err(
            "it was granted directories at training, which are never granted from a record: name a policy that grants them (`--policy`)"
                .into(),
        );
    }
    let limits: Limits = serde_json::from_value(kept.limits.clone())
        .map_err(|e| format!("its recorded limits are unreadable: {e}"))?;
    Ok(Grant {
        entry: Some(format!("recorded grant of step `{}`", recorded.name)),
        read: ColumnSet(recorded.reads.clone()),
        write: ColumnSet(recorded.writes.clone()),
        dirs: Vec::new(),
        env: kept.env.clone(),
        limits,
    })
}

/// Every registered model a pipeline's `predict = { model = ... }` steps
/// name, looked up before planning (planning has no store); a lookup that
/// failed is kept as its message, for `check` to report at the step.
pub type RegisteredModels = BTreeMap<ModelRef, Result<Arc<ModelSource>, String>>;

/// Looks up every registered model `pipeline` predicts with.
pub async fn fetch_models(
    pipeline: &super::spec::Pipeline,
    store: &Store,
    home: &Path,
) -> RegisteredModels {
    let mut models = RegisteredModels::new();
    for reference in pipeline.registered_models() {
        if models.contains_key(reference) {
            continue;
        }
        let fetched = ModelSource::fetch(store, home, reference).await;
        models.insert(
            reference.clone(),
            fetched.map(Arc::new).map_err(|e| e.to_string()),
        );
    }
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_references_parse_and_print() {
        let r: ModelRef = "chat-moderation@production".parse().unwrap();
        assert_eq!(r.version, VersionRef::Alias("production".into()));
        assert_eq!(r.to_string(), "chat-moderation@production");
        let r: ModelRef = "chat-moderation@3".parse().unwrap();
        assert_eq!(r.version, VersionRef::Number(3));
        for bad in ["chat-moderation", "@3", "m@", "m@0"] {
            let e = bad.parse::<ModelRef>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("NAME@ALIAS"), "{e}");
        }
    }

    #[test]
    fn recorded_params_round_trip_through_json() {
        let params: Params = vec![
            ("column".into(), ParamValue::Text("text".into())),
            ("n".into(), ParamValue::Int64(16)),
            ("c".into(), ParamValue::Float64(16.0)),
            ("on".into(), ParamValue::Boolean(true)),
            ("cols".into(), ParamValue::TextList(vec!["a".into()])),
            ("xs".into(), ParamValue::Float64List(vec![0.5, 2.0])),
        ];
        let json = serde_json::to_value(&params).unwrap();
        assert_eq!(recorded_params(&json).unwrap(), params);
        let e = recorded_params(&serde_json::json!([["x", null]])).unwrap_err();
        assert!(e.contains("`x`"), "{e}");
    }
}
