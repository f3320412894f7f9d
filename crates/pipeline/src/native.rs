//! Native `train` and `predict` steps: tables in, [`crate::train`] models
//! out. Training reads its whole input table into memory (a model needs
//! every row, and the split and the search revisit them); prediction
//! streams chunk by chunk like a plugin step.
//!
//! A train step's table is its held-out rows (`<step>.test_predictions`):
//! every input column that is not a feature, plus `prediction` and, for
//! classifiers, `score` (the probability of the larger class label when
//! there are two classes, of the predicted class otherwise). Its fitted
//! model is a `model` artifact: a [`ModelFile`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::spec::TrainSpec;
use sluice_core::contract::Metric;
use sluice_core::{Chunk, Column, ColumnType, ColumnValues, is_valid};
use sluice_data::{accepts, batch_to_chunk, data_type};
use sluice_train::{
    Features, HyperParams, HyperValue, Model, Predictions, SparseMatrix, Target, Task,
};

pub const PREDICTION: &str = "prediction";
pub const SCORE: &str = "score";

/// Version of the [`ModelFile`] encoding.
const MODEL_FILE_FORMAT: u32 = 1;

/// One input column of a model, in feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    pub name: String,
    /// How the column is read (sparse, float64 or boolean).
    pub ty: ColumnType,
    /// `Some(dim)` for a sparse column, `None` for a numeric one.
    pub sparse_dim: Option<u32>,
}

/// A fitted model with what it takes to use it on new tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: u32,
    pub algorithm: String,
    pub task: Task,
    pub target: Option<String>,
    pub features: Vec<FeatureColumn>,
    /// The hyperparameters the model was fitted with (after any search).
    pub hyper: BTreeMap<String, HyperValue>,
    pub model: Model,
}

impl ModelFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("model files serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile, String> {
        let file: ModelFile =
            postcard::from_bytes(bytes).map_err(|e| format!("not a sluice model file: {e}"))?;
        if file.format != MODEL_FILE_FORMAT {
            return Err(format!(
                "model file format {} is not supported (this sluice reads {MODEL_FILE_FORMAT})",
                file.format
            ));
        }
        Ok(file)
    }
}

/// A problem found while planning or running a native step: the field of
/// the step it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeError {
    pub field: &'static str,
    pub message: String,
}

pub(crate) fn native_err(field: &'static str, message: impl Into<String>) -> NativeError {
    NativeError {
        field,
        message: message.into(),
    }
}

/// The column type a feature column is read as, if it can be a feature.
fn feature_type(dt: &DataType) -> Option<ColumnType> {
    if *dt == DataType::Null {
        return None;
    }
    [ColumnType::Sparse, ColumnType::Float64, ColumnType::Boolean]
        .into_iter()
        .find(|ty| accepts(*ty, dt))
}

pub(crate) fn task_of(algorithm: &str) -> Task {
    sluice_train::ALGORITHMS
        .iter()
        .find(|a| a.name == algorithm)
        .map_or(Task::Classification, |a| a.task)
}

/// Builds the learner for `hyper`, reporting unknown or bad hyperparameters.
fn build_learner(
    algorithm: &str,
    hyper: &BTreeMap<String, HyperValue>,
    seed: u64,
) -> Result<Box<dyn sluice_train::Learner>, sluice_train::TrainError> {
    let params = HyperParams::new(hyper.clone());
    let learner = sluice_train::learner(algorithm, &params, seed)?;
    params.finish()?;
    Ok(learner)
}

/// What `sluice check` knows of a train step: its feature columns (names
/// and read types) and the schema of its `test_predictions` table.
pub struct TrainPlan {
    pub features: Vec<(String, ColumnType)>,
    pub schema: SchemaRef,
}

pub fn plan_train(spec: &TrainSpec, input: &Schema) -> Result<TrainPlan, NativeError> {
    let task = task_of(&spec.algorithm);
    build_learner(&spec.algorithm, &spec.hyper, spec.seed)
        .map_err(|e| native_err("params", e.to_string()))?;
    if let Some(search) = &spec.search {
        let mut first = spec.hyper.clone();
        for (key, values) in &search.grid {
            first.insert(key.clone(), values[0].clone());
        }
        build_learner(&spec.algorithm, &first, spec.seed)
            .map_err(|e| native_err("search.grid", e.to_string()))?;
        let metric = sluice_train::search::Metric::parse(&search.metric)
            .map_err(|e| native_err("search.metric", e.to_string()))?;
        let for_classes = !matches!(
            metric,
            sluice_train::search::Metric::R2 | sluice_train::search::Metric::Rmse
        );
        if task == Task::Clustering || for_classes != (task == Task::Classification) {
            return Err(native_err(
                "search.metric",
                format!(
                    "`{}` cannot score `{}` models",
                    search.metric, spec.algorithm
                ),
            ));
        }
    }
    if let Some(gate) = &spec.gate {
        sluice_registry::parse_gate(gate).map_err(|e| native_err("gate", e.to_string()))?;
    }
    match (&spec.target, task) {
        (None, Task::Clustering) => {}
        (None, _) => {
            return Err(native_err(
                "target",
                format!("`{}` learns from a target column: name it", spec.algorithm),
            ));
        }
        (Some(_), Task::Clustering) => {
            return Err(native_err(
                "target",
                format!("`{}` is clustering and takes no target", spec.algorithm),
            ));
        }
        (Some(target), task) => {
            let field = input.field_with_name(target).map_err(|_| {
                native_err(
                    "target",
                    format!("column `{target}` is not in the input ({})", names(input)),
                )
            })?;
            let ok = match task {
                Task::Classification => accepts(ColumnType::Int64, field.data_type()),
                _ => accepts(ColumnType::Float64, field.data_type()),
            };
            if !ok {
                return Err(native_err(
                    "target",
                    format!(
                        "column `{target}` is {}; {} needs {} (convert it with the `cast` plugin)",
                        field.data_type(),
                        spec.algorithm,
                        if task == Task::Classification {
                            "integer class labels"
                        } else {
                            "numbers"
                        }
                    ),
                ));
            }
        }
    }
    let mut features = Vec::new();
    match &spec.features {
        Some(columns) => {
            if columns.is_empty() {
                return Err(native_err("features", "names no column"));
            }
            for name in columns {
                let field = input.field_with_name(name).map_err(|_| {
                    native_err(
                        "features",
                        format!("column `{name}` is not in the input ({})", names(input)),
                    )
                })?;
                if Some(name) == spec.target.as_ref() {
                    return Err(native_err(
                        "features",
                        format!("`{name}` is the target; a model must not see it as a feature"),
                    ));
                }
                let ty = feature_type(field.data_type()).ok_or_else(|| {
                    native_err(
                        "features",
                        format!(
                            "column `{name}` is {}; features are numbers, booleans or sparse vectors",
                            field.data_type()
                        ),
                    )
                })?;
                features.push((name.clone(), ty));
            }
        }
        None => {
            for field in input.fields() {
                if Some(field.name()) == spec.target.as_ref() {
                    continue;
                }
                if let Some(ty) = feature_type(field.data_type()) {
                    features.push((field.name().clone(), ty));
                }
            }
            if features.is_empty() {
                return Err(native_err(
                    "features",
                    format!(
                        "the input has no numeric or sparse column to learn from ({})",
                        names(input)
                    ),
                ));
            }
        }
    }
    if let Some(search) = &spec.search {
        for set in &search.feature_sets {
            feature_subset(&features, set)?;
        }
    }
    let dense_only = sluice_train::ALGORITHMS
        .iter()
        .any(|a| a.name == spec.algorithm && !a.sparse);
    if let Some((name, _)) = features
        .iter()
        .find(|(_, ty)| dense_only && *ty == ColumnType::Sparse)
    {
        return Err(native_err(
            "features",
            format!(
                "column `{name}` is a sparse vector; `{}` takes dense features only (list numeric columns in `features`)",
                spec.algorithm
            ),
        ));
    }
    let schema = output_schema(input, &features, task, true);
    Ok(TrainPlan { features, schema })
}

/// The schema of a predict step's output: its input plus the prediction.
pub fn plan_predict(
    features: &[(String, ColumnType)],
    task: Task,
    input: &Schema,
) -> Result<SchemaRef, NativeError> {
    for (name, ty) in features {
        match input.field_with_name(name) {
            Ok(f) if accepts(*ty, f.data_type()) => {}
            Ok(f) => {
                return Err(native_err(
                    "input",
                    format!(
                        "feature column `{name}` is {}, the model was trained on {ty}",
                        f.data_type()
                    ),
                ));
            }
            Err(_) => {
                return Err(native_err(
                    "input",
                    format!(
                        "feature column `{name}` is not in the input ({})",
                        names(input)
                    ),
                ));
            }
        }
    }
    Ok(output_schema(input, features, task, false))
}

fn names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn prediction_columns(task: Task) -> Vec<(&'static str, ColumnType)> {
    match task {
        Task::Regression => vec![(PREDICTION, ColumnType::Float64)],
        Task::Classification | Task::Clustering => vec![
            (PREDICTION, ColumnType::Int64),
            (SCORE, ColumnType::Float64),
        ],
    }
}

/// `input` without the feature columns (when `drop_features`), then the
/// prediction columns (replacing same-named ones).
fn output_schema(
    input: &Schema,
    features: &[(String, ColumnType)],
    task: Task,
    drop_features: bool,
) -> SchemaRef {
    let mut fields: Vec<Field> = input
        .fields()
        .iter()
        .filter(|f| !(drop_features && features.iter().any(|(n, _)| n == f.name())))
        .map(|f| f.as_ref().clone())
        .collect();
    for (name, ty) in prediction_columns(task) {
        let field = Field::new(name, data_type(ty), true);
        match fields.iter_mut().find(|f| f.name() == name) {
            Some(existing) => *existing = field,
            None => fields.push(field),
        }
    }
    Arc::new(Schema::new(fields))
}

/// Reads the feature columns of `batch` into a model input. With a sparse
/// column among them every feature goes into one sparse row (dense values
/// appended after the sparse dimensions); otherwise a dense matrix.
/// `layout`, when given, is the model's: dimensions must match it.
pub(crate) fn features_of(
    batch: &RecordBatch,
    features: &[(String, ColumnType)],
    layout: Option<&[FeatureColumn]>,
) -> Result<(Features, Vec<FeatureColumn>), NativeError> {
    let chunk =
        batch_to_chunk(batch, features).map_err(|e| native_err("features", e.to_string()))?;
    let rows = chunk.rows as usize;
    let mut columns = Vec::with_capacity(features.len());
    for (i, column) in chunk.columns.iter().enumerate() {
        let sparse_dim = match &column.values {
            ColumnValues::Sparse { dim, .. } => Some(*dim),
            _ => None,
        };
        if let Some(expected) = layout.map(|l| &l[i])
            && expected.sparse_dim != sparse_dim
        {
            return Err(native_err(
                "features",
                format!(
                    "column `{}` has dimension {:?}, the model was trained on {:?}",
                    column.name, sparse_dim, expected.sparse_dim
                ),
            ));
        }
        columns.push(FeatureColumn {
            name: column.name.clone(),
            ty: features[i].1,
            sparse_dim,
        });
    }
    let missing = |column: &Column, row: usize| {
        native_err(
            "features",
            format!(
                "column `{}` has no value at row {} (impute it first)",
                column.name,
                row + 1
            ),
        )
    };
    let dense_value = |column: &Column, row: usize| -> Result<f64, NativeError> {
        match &column.values {
            ColumnValues::Float64 { values, valid } if is_valid(valid, row) => Ok(values[row]),
            ColumnValues::Int64 { values, valid } if is_valid(valid, row) => Ok(values[row] as f64),
            ColumnValues::Boolean { values, valid } if is_valid(valid, row) => {
                Ok(f64::from(u8::from(values[row] != 0)))
            }
            _ => Err(missing(column, row)),
        }
    };
    let sparse_width: usize = columns
        .iter()
        .filter_map(|c| c.sparse_dim)
        .map(|d| d as usize)
        .sum();
    if columns.iter().any(|c| c.sparse_dim.is_some()) {
        let dense_count = columns.iter().filter(|c| c.sparse_dim.is_none()).count();
        let mut matrix = SparseMatrix {
            dim: sparse_width + dense_count,
            row_offsets: Vec::with_capacity(rows + 1),
            ..Default::default()
        };
        matrix.row_offsets.push(0);
        for row in 0..rows {
            let mut offset = 0usize;
            let mut dense_index = sparse_width;
            for column in &chunk.columns {
                match &column.values {
                    ColumnValues::Sparse {
                        dim,
                        row_offsets,
                        indices,
                        values,
                    } => {
                        let range = row_offsets[row] as usize..row_offsets[row + 1] as usize;
                        matrix.indices.extend(
                            indices[range.clone()]
                                .iter()
                                .map(|i| (*i as usize + offset) as u32),
                        );
                        matrix.values.extend_from_slice(&values[range]);
                        offset += *dim as usize;
                    }
                    _ => {
                        let value = dense_value(column, row)?;
                        if value != 0.0 {
                            matrix.indices.push(dense_index as u32);
                            matrix.values.push(value as f32);
                        }
                        dense_index += 1;
                    }
                }
            }
            matrix.row_offsets.push(matrix.indices.len());
        }
        return Ok((Features::Sparse(matrix), columns));
    }
    let mut matrix = Array2::<f64>::zeros((rows, columns.len()));
    for (j, column) in chunk.columns.iter().enumerate() {
        for row in 0..rows {
            matrix[[row, j]] = dense_value(column, row)?;
        }
    }
    Ok((Features::Dense(matrix), columns))
}

/// The target column as a model target.
pub(crate) fn target_of(
    batch: &RecordBatch,
    name: &str,
    task: Task,
) -> Result<Target, NativeError> {
    let ty = if task == Task::Classification {
        ColumnType::Int64
    } else {
        ColumnType::Float64
    };
    let chunk = batch_to_chunk(batch, &[(name.to_string(), ty)])
        .map_err(|e| native_err("target", e.to_string()))?;
    let absent = |row: usize| {
        native_err(
            "target",
            format!("column `{name}` has no value at row {}", row + 1),
        )
    };
    match &chunk.columns[0].values {
        ColumnValues::Int64 { values, valid } => {
            if let Some(row) = (0..values.len()).find(|r| !is_valid(valid, *r)) {
                return Err(absent(row));
            }
            Ok(Target::classes(values))
        }
        ColumnValues::Float64 { values, valid } => {
            if let Some(row) =
                (0..values.len()).find(|r| !is_valid(valid, *r) || !values[*r].is_finite())
            {
                return Err(absent(row));
            }
            Ok(Target::Values(values.clone()))
        }
        _ => unreachable!("read as int64 or float64"),
    }
}

/// The prediction columns for `predictions`.
fn prediction_chunk(predictions: &Predictions) -> Chunk {
    let rows = predictions.rows();
    let mut chunk = Chunk::new(rows as u32);
    match predictions {
        Predictions::Classes {
            classes,
            predicted,
            proba,
        } => {
            chunk.columns.push(Column {
                name: PREDICTION.into(),
                values: ColumnValues::Int64 {
                    values: predicted.clone(),
                    valid: Vec::new(),
                },
            });
            let (values, valid) = match proba {
                Some(proba) => {
                    let values = (0..rows)
                        .map(|r| {
                            if classes.len() == 2 {
                                proba[[r, 1]]
                            } else {
                                let k = classes.binary_search(&predicted[r]).unwrap_or(0);
                                proba[[r, k]]
                            }
                        })
                        .collect();
                    (values, Vec::new())
                }
                None => (vec![0.0; rows], vec![0u8; rows.div_ceil(8)]),
            };
            chunk.columns.push(Column {
                name: SCORE.into(),
                values: ColumnValues::Float64 { values, valid },
            });
        }
        Predictions::Values(values) => chunk.columns.push(Column {
            name: PREDICTION.into(),
            values: ColumnValues::Float64 {
                values: values.clone(),
                valid: Vec::new(),
            },
        }),
        Predictions::Clusters { cluster, distance } => {
            chunk.columns.push(Column {
                name: PREDICTION.into(),
                values: ColumnValues::Int64 {
                    values: cluster.clone(),
                    valid: Vec::new(),
                },
            });
            chunk.columns.push(Column {
                name: SCORE.into(),
                values: ColumnValues::Float64 {
                    values: distance.clone(),
                    valid: Vec::new(),
                },
            });
        }
    }
    chunk
}

/// What a finished train step hands back to the scheduler.
pub struct Trained {
    /// The held-out rows with predictions.
    pub test_predictions: RecordBatch,
    pub model: ModelFile,
    /// Split sizes and, after a search, every candidate's score.
    pub metrics: Vec<Metric>,
    pub rows_in: u64,
}

fn metric(name: &str, value: f64, labels: &[(&str, String)]) -> Metric {
    Metric {
        name: name.into(),
        value,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// The feature columns of `features` named by `set`, in `set`'s order.
fn feature_subset(
    features: &[(String, ColumnType)],
    set: &[String],
) -> Result<Vec<(String, ColumnType)>, NativeError> {
    set.iter()
        .map(|name| {
            features
                .iter()
                .find(|(n, _)| n == name)
                .cloned()
                .ok_or_else(|| {
                    native_err(
                        "search.features",
                        format!("column `{name}` is not one of the step's features"),
                    )
                })
        })
        .collect()
}

/// One feature set's search: its columns, its inputs and the outcome.
struct SetSearch {
    features: Vec<(String, ColumnType)>,
    x: Features,
    layout: Vec<FeatureColumn>,
    outcome: Option<sluice_train::search::SearchOutcome>,
}

/// Fits `spec` on `table` (the whole input, in memory). `progress` hears
/// where a long fit is (search candidates and folds, the final fits).
pub fn train(
    spec: &TrainSpec,
    features: &[(String, ColumnType)],
    table: &RecordBatch,
    progress: &dyn Fn(String),
) -> Result<Trained, NativeError> {
    let task = task_of(&spec.algorithm);
    let target = match &spec.target {
        Some(name) => Some(target_of(table, name, task)?),
        None => None,
    };
    let fit_err = |e: sluice_train::TrainError| native_err("train", e.to_string());
    let sluice_train::split::Split {
        train: train_rows,
        test: test_rows,
    } = split_rows(
        target.as_ref(),
        table.num_rows(),
        spec.test_fraction,
        spec.seed,
    )?;
    let y_train = target.as_ref().map(|t| t.select_rows(&train_rows));
    let mut metrics = vec![
        metric("train_rows", train_rows.len() as f64, &[]),
        metric("test_rows", test_rows.len() as f64, &[]),
    ];

    // one search per feature set (the step's features when none are listed)
    let sets: Vec<Vec<(String, ColumnType)>> = match &spec.search {
        Some(search) if !search.feature_sets.is_empty() => search
            .feature_sets
            .iter()
            .map(|set| feature_subset(features, set))
            .collect::<Result<_, _>>()?,
        _ => vec![features.to_vec()],
    };
    let several = sets.len() > 1;
    let mut searched = Vec::with_capacity(sets.len());
    for (set_index, set) in sets.into_iter().enumerate() {
        let (x, layout) = features_of(table, &set, None)?;
        let mut entry = SetSearch {
            features: set,
            x,
            layout,
            outcome: None,
        };
        if let (Some(search), Some(y)) = (&spec.search, y_train.as_ref()) {
            use sluice_train::search::{
                CvSettings, Distribution, Metric as CvMetric, SearchOptions, SearchProgress,
                grid_search_with, random_search_with,
            };
            let cv = CvSettings {
                folds: search.folds,
                seed: spec.seed,
                metric: CvMetric::parse(&search.metric)
                    .map_err(|e| native_err("search.metric", e.to_string()))?,
            };
            let set_label = match several {
                true => format!("features {}/{}, ", set_index + 1, spec_sets(spec)),
                false => String::new(),
            };
            let report = |p: SearchProgress| {
                progress(format!(
                    "cv {set_label}candidate {}/{} fold {}/{}",
                    p.candidate, p.candidates, p.fold, p.folds
                ))
            };
            let x_train = entry.x.select_rows(&train_rows);
            let outcome = match search.random {
                None => grid_search_with(
                    &spec.algorithm,
                    &spec.hyper,
                    &search.grid,
                    &x_train,
                    y,
                    &cv,
                    &SearchOptions {
                        extend: search.extend,
                        progress: &report,
                    },
                ),
                Some(n_iter) => {
                    let space = search
                        .grid
                        .iter()
                        .map(|(k, v)| (k.clone(), Distribution::Choice(v.clone())))
                        .collect();
                    random_search_with(
                        &spec.algorithm,
                        &spec.hyper,
                        &space,
                        n_iter,
                        &x_train,
                        y,
                        &cv,
                        &report,
                    )
                }
            }
            .map_err(|e| native_err("search", e.to_string()))?;
            entry.outcome = Some(outcome);
        }
        searched.push(entry);
    }

    // the best set by its best cross-validated score (ties: the earlier)
    let mut chosen = 0;
    if let Some(search) = &spec.search {
        let cv_metric = sluice_train::search::Metric::parse(&search.metric)
            .map_err(|e| native_err("search.metric", e.to_string()))?;
        let best_of = |e: &SetSearch| e.outcome.as_ref().map(|o| o.best_score.mean);
        for (i, entry) in searched.iter().enumerate() {
            let label = set_name(&entry.features);
            let Some(outcome) = &entry.outcome else {
                continue;
            };
            let first_extended = outcome.candidates.len() - outcome.extended.len();
            for (rank, candidate) in outcome.candidates.iter().enumerate() {
                let mut labels = vec![("candidate".to_string(), rank.to_string())];
                if several {
                    labels.push(("features".to_string(), label.clone()));
                }
                if rank >= first_extended {
                    labels.push(("extended".to_string(), "true".to_string()));
                }
                labels.extend(
                    candidate
                        .params
                        .iter()
                        .map(|(k, v)| (format!("param.{k}"), v.to_string())),
                );
                metrics.push(Metric {
                    name: format!("cv.{}", search.metric),
                    value: candidate.score.mean,
                    labels,
                });
            }
            if let (Some(a), Some(b)) = (best_of(entry), best_of(&searched[chosen])) {
                let beats = match cv_metric.greater_is_better() {
                    true => a > b,
                    false => a < b,
                };
                if i > 0 && beats {
                    chosen = i;
                }
            }
        }
    }
    let SetSearch {
        features: chosen_features,
        x,
        layout,
        outcome,
    } = searched.swap_remove(chosen);
    let mut hyper = spec.hyper.clone();
    if let (Some(search), Some(outcome)) = (&spec.search, outcome) {
        metrics.push(metric(
            &format!("cv.{}", search.metric),
            outcome.best_score.mean,
            &[],
        ));
        // what was tried past the grid's edge, so the record says so
        metrics.push(metric(
            "search.extended",
            outcome.extended.len() as f64,
            &[],
        ));
        for (key, value) in &outcome.extended {
            progress(format!("grid extended: {key} = {value}"));
            metrics.push(metric(
                "search.extended",
                1.0,
                &[(format!("param.{key}").as_str(), value.to_string())],
            ));
        }
        hyper = outcome.best;
        // the chosen configuration, for the run summary and the record
        let mut labels: Vec<(String, String)> = hyper
            .iter()
            .map(|(k, v)| (format!("param.{k}"), v.to_string()))
            .collect();
        if several {
            labels.push(("features".to_string(), set_name(&chosen_features)));
        }
        metrics.push(Metric {
            name: CHOSEN.into(),
            value: outcome.best_score.mean,
            labels: labels.into_iter().collect(),
        });
    }
    let learner = build_learner(&spec.algorithm, &hyper, spec.seed).map_err(fit_err)?;
    progress(format!("fitting on {} training rows", train_rows.len()));
    let x_train = x.select_rows(&train_rows);
    let split_model = learner.fit(&x_train, y_train.as_ref()).map_err(fit_err)?;
    drop(x_train);
    let x_test = x.select_rows(&test_rows);
    let predictions = split_model.predict(&x_test).map_err(fit_err)?;
    // scikit-learn's `refit`: the registered model sees every labelled
    // row; the held-out metrics stay those of the split model above
    let model = if spec.refit {
        progress(format!("refitting on all {} rows", x.rows()));
        learner.fit(&x, target.as_ref()).map_err(fit_err)?
    } else {
        split_model
    };
    let fit_rows = if spec.refit {
        x.rows()
    } else {
        train_rows.len()
    };
    metrics.push(metric("fit_rows", fit_rows as f64, &[]));

    let keep: Vec<usize> = table
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !features.iter().any(|(n, _)| n == f.name()))
        .map(|(i, _)| i)
        .collect();
    let held_out = table
        .project(&keep)
        .and_then(|t| {
            let indices =
                UInt32Array::from(test_rows.iter().map(|r| *r as u32).collect::<Vec<_>>());
            let columns: Vec<ArrayRef> = t
                .columns()
                .iter()
                .map(|c| arrow::compute::take(c.as_ref(), &indices, None))
                .collect::<Result<_, _>>()?;
            RecordBatch::try_new(t.schema(), columns)
        })
        .map_err(|e| native_err("train", format!("selecting held-out rows: {e}")))?;
    let test_predictions =
        sluice_data::merge_into_batch(&held_out, &prediction_chunk(&predictions))
            .map_err(|e| native_err("train", e.to_string()))?;
    Ok(Trained {
        test_predictions,
        model: ModelFile {
            format: MODEL_FILE_FORMAT,
            algorithm: spec.algorithm.clone(),
            task,
            target: spec.target.clone(),
            features: layout,
            hyper,
            model,
        },
        metrics,
        rows_in: table.num_rows() as u64,
    })
}

/// The metric naming a search's chosen configuration: its value is the
/// best cross-validated score, its labels `param.<name>` the values (and
/// `features`, the chosen feature set, when the search chose among sets).
pub const CHOSEN: &str = "chosen";

fn spec_sets(spec: &TrainSpec) -> usize {
    spec.search
        .as_ref()
        .map_or(1, |s| s.feature_sets.len().max(1))
}

fn set_name(features: &[(String, ColumnType)]) -> String {
    features
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// The train step's held-out split of a table of `rows` rows: stratified
/// by `target`'s classes, shuffled for values or without a target
/// (clustering), seeded by the step. The one definition, so that a fitted
/// step upstream can be fitted on exactly the training rows.
pub fn split_rows(
    target: Option<&Target>,
    rows: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<sluice_train::split::Split, NativeError> {
    let unlabelled;
    let split_by = match target {
        Some(target) => target,
        None => {
            unlabelled = Target::Values(vec![0.0; rows]);
            &unlabelled
        }
    };
    sluice_train::split::train_test_split(split_by, test_fraction, seed)
        .map_err(|e| native_err("split", e.to_string()))
}

/// The feature columns of a model, with the types to read them as.
pub fn model_features(model: &ModelFile) -> Vec<(String, ColumnType)> {
    model
        .features
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect()
}

/// Appends the model's predictions for one chunk of rows.
pub fn predict_batch(model: &ModelFile, batch: &RecordBatch) -> Result<RecordBatch, NativeError> {
    let (x, _) = features_of(batch, &model_features(model), Some(&model.features))?;
    let predictions = model
        .model
        .predict(&x)
        .map_err(|e| native_err("predict", e.to_string()))?;
    sluice_data::merge_into_batch(batch, &prediction_chunk(&predictions))
        .map_err(|e| native_err("predict", e.to_string()))
}
