//! Native `transform` steps (`transform = "pca"`): a fitted transform from
//! [`sluice_train::reduction`] turns numeric feature columns into new
//! columns `<algorithm>_0`, `<algorithm>_1`, … appended to the input.
//!
//! The transform is fitted on the rows the step sees — its `fit` node, or
//! else its input, every row of it — and then applied to the input chunk by
//! chunk; the fitted transform is the step's state artifact. Upstream of a
//! `train` step this fit includes the rows the train step later holds out:
//! the held-out metrics are then not strictly unseen-data metrics (the same
//! leakage a fitted plugin upstream of a split has; see docs/TRAINING.md).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::native::{NativeError, features_of, native_err};
use sluice_core::{Chunk, Column, ColumnType, ColumnValues};
use sluice_data::accepts;
use sluice_train::HyperParams;
use sluice_train::reduction::{Transform, reducer};

/// A `transform` step as written in the pipeline file; serialised into
/// the step's cache key.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TransformSpec {
    pub algorithm: String,
    /// The numeric columns to transform (default: every numeric column).
    pub features: Option<Vec<String>>,
    pub hyper: std::collections::BTreeMap<String, sluice_train::HyperValue>,
}

/// The names of the columns a transform writes.
pub fn output_columns(spec: &TransformSpec, width: usize) -> Vec<String> {
    (0..width)
        .map(|i| format!("{}_{i}", spec.algorithm))
        .collect()
}

fn build(spec: &TransformSpec) -> Result<Box<dyn sluice_train::reduction::Reducer>, NativeError> {
    reducer(&spec.algorithm, &HyperParams::new(spec.hyper.clone()), 0)
        .map_err(|e| native_err("params", e.to_string()))
}

/// What `sluice check` knows of a transform step: the feature columns it
/// reads (checked in `input` and in `fit`, when given) and its output schema.
pub fn plan_transform(
    spec: &TransformSpec,
    input: &Schema,
    fit: Option<&Schema>,
) -> Result<(Vec<(String, ColumnType)>, SchemaRef), NativeError> {
    let reducer = build(spec)?;
    let names: Vec<String> = match &spec.features {
        Some(columns) if columns.is_empty() => {
            return Err(native_err("features", "names no column"));
        }
        Some(columns) => columns.clone(),
        None => input
            .fields()
            .iter()
            .filter(|f| {
                accepts(ColumnType::Float64, f.data_type()) || *f.data_type() == DataType::Boolean
            })
            .map(|f| f.name().clone())
            .collect(),
    };
    if names.is_empty() {
        return Err(native_err(
            "features",
            "the input has no numeric column to transform",
        ));
    }
    let mut features = Vec::with_capacity(names.len());
    for name in names {
        let mut ty = None;
        for (node, schema) in [("input", Some(input)), ("fit", fit)] {
            let Some(schema) = schema else { continue };
            let field = schema.field_with_name(&name).map_err(|_| {
                native_err(
                    "features",
                    format!("column `{name}` is not in the {node} table"),
                )
            })?;
            if accepts(ColumnType::Sparse, field.data_type()) {
                return Err(native_err(
                    "features",
                    format!(
                        "column `{name}` is a sparse vector; `{}` takes dense numeric columns only",
                        spec.algorithm
                    ),
                ));
            }
            ty = [ColumnType::Float64, ColumnType::Boolean]
                .into_iter()
                .find(|ty| accepts(*ty, field.data_type()));
            if ty.is_none() {
                return Err(native_err(
                    "features",
                    format!(
                        "column `{name}` of the {node} table is {}; `{}` reads numbers",
                        field.data_type(),
                        spec.algorithm
                    ),
                ));
            }
        }
        features.push((name, ty.expect("checked above")));
    }
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    for column in output_columns(spec, reducer.width()) {
        let field = Field::new(&column, DataType::Float64, true);
        match fields.iter_mut().find(|f| f.name() == &column) {
            Some(existing) => *existing = field,
            None => fields.push(field),
        }
    }
    Ok((features, Arc::new(Schema::new(fields))))
}

/// Fits the transform on `table` (the fit rows, in memory).
pub fn fit(
    spec: &TransformSpec,
    features: &[(String, ColumnType)],
    table: &RecordBatch,
) -> Result<Transform, NativeError> {
    let (x, _) = features_of(table, features, None)?;
    build(spec)?
        .fit(&x)
        .map_err(|e| native_err("transform", e.to_string()))
}

/// Appends the transform's columns to one chunk of rows.
pub fn apply_batch(
    spec: &TransformSpec,
    fitted: &Transform,
    features: &[(String, ColumnType)],
    batch: &RecordBatch,
) -> Result<RecordBatch, NativeError> {
    let (x, _) = features_of(batch, features, None)?;
    let values = fitted
        .apply(&x)
        .map_err(|e| native_err("transform", e.to_string()))?;
    let mut chunk = Chunk::new(batch.num_rows() as u32);
    for (name, column) in output_columns(spec, fitted.width())
        .into_iter()
        .zip(values.columns())
    {
        chunk.columns.push(Column {
            name,
            values: ColumnValues::Float64 {
                values: column.to_vec(),
                valid: Vec::new(),
            },
        });
    }
    sluice_data::merge_into_batch(batch, &chunk).map_err(|e| native_err("transform", e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::native::plan_train;
    use super::super::spec::TrainSpec;
    use super::*;
    use sluice_train::HyperValue;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("words", sluice_data::data_type(ColumnType::Sparse), true),
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Float64, true),
            Field::new("label", DataType::Int64, true),
        ])
    }

    fn pca(features: Option<&[&str]>) -> TransformSpec {
        TransformSpec {
            algorithm: "pca".into(),
            features: features.map(|f| f.iter().map(|s| s.to_string()).collect()),
            hyper: BTreeMap::from([("n_components".to_string(), HyperValue::Int(2))]),
        }
    }

    #[test]
    fn plans_columns_and_refuses_sparse_input() {
        let (features, out) = plan_transform(&pca(Some(&["x", "y"])), &schema(), None).unwrap();
        assert_eq!(features.len(), 2);
        let names: Vec<&str> = out.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["words", "x", "y", "label", "pca_0", "pca_1"]);
        let err = plan_transform(&pca(Some(&["words", "x"])), &schema(), None).unwrap_err();
        assert_eq!(err.field, "features");
        assert!(
            err.message.contains("`words` is a sparse vector"),
            "{}",
            err.message
        );
        // by default every numeric column, never the sparse one
        let (features, _) = plan_transform(&pca(None), &schema(), None).unwrap();
        assert!(features.iter().all(|(name, _)| name != "words"));
        // the fit table must have the columns too
        let fit = Schema::new(vec![Field::new("x", DataType::Float64, true)]);
        let err = plan_transform(&pca(Some(&["x", "y"])), &schema(), Some(&fit)).unwrap_err();
        assert!(
            err.message.contains("`y` is not in the fit table"),
            "{}",
            err.message
        );
    }

    #[test]
    fn dense_only_learners_name_the_sparse_column() {
        let spec = TrainSpec {
            algorithm: "svm".into(),
            target: Some("label".into()),
            features: None,
            hyper: BTreeMap::new(),
            test_fraction: 0.2,
            seed: 0,
            search: None,
            model_name: "m".into(),
            gate: None,
            refit: true,
        };
        let err = plan_train(&spec, &schema()).err().unwrap();
        assert_eq!(err.field, "features");
        assert!(
            err.message.contains("`words`") && err.message.contains("dense features only"),
            "{}",
            err.message
        );
        let sparse_ok = TrainSpec {
            algorithm: "logistic-regression".into(),
            ..spec
        };
        assert!(plan_train(&sparse_ok, &schema()).is_ok());
    }
}
