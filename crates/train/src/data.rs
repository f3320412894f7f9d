//! What learners consume and produce.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::TrainError;

/// Sparse rows in CSR form (the layout of a sluice sparse column): row `i`
/// holds `indices[row_offsets[i]..row_offsets[i + 1]]` with the matching
/// `values`; every index is below `dim`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseMatrix {
    pub dim: usize,
    pub row_offsets: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseMatrix {
    pub fn rows(&self) -> usize {
        self.row_offsets.len().saturating_sub(1)
    }

    /// The entries of row `i` as (index, value) slices.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.row_offsets[i]..self.row_offsets[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// Checks the CSR invariants; learners may then index without checks.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Data(format!("sparse features: {m}")));
        if self.row_offsets.first() != Some(&0) {
            return bad("row offsets must start at 0");
        }
        if self.row_offsets.windows(2).any(|w| w[0] > w[1]) {
            return bad("row offsets must not decrease");
        }
        if *self.row_offsets.last().unwrap() != self.indices.len()
            || self.indices.len() != self.values.len()
        {
            return bad("offsets, indices and values disagree in length");
        }
        if self.indices.iter().any(|&i| i as usize >= self.dim) {
            return bad("an index is not below the dimension");
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return bad("a value is NaN or infinite");
        }
        Ok(())
    }

    /// The rows at `rows`, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> SparseMatrix {
        let mut out = SparseMatrix {
            dim: self.dim,
            row_offsets: Vec::with_capacity(rows.len() + 1),
            ..Default::default()
        };
        out.row_offsets.push(0);
        for &r in rows {
            let (idx, val) = self.row(r);
            out.indices.extend_from_slice(idx);
            out.values.extend_from_slice(val);
            out.row_offsets.push(out.indices.len());
        }
        out
    }
}

/// Model inputs: a dense matrix (rows × features) or sparse rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    Dense(Array2<f64>),
    Sparse(SparseMatrix),
}

impl Features {
    pub fn rows(&self) -> usize {
        match self {
            Features::Dense(x) => x.nrows(),
            Features::Sparse(x) => x.rows(),
        }
    }

    /// The number of features (the dimension, for sparse rows).
    pub fn cols(&self) -> usize {
        match self {
            Features::Dense(x) => x.ncols(),
            Features::Sparse(x) => x.dim,
        }
    }

    /// The dense matrix, or an error saying `algorithm` takes dense
    /// features only (the pipeline names the sparse column at plan time).
    pub fn dense(&self, algorithm: &str) -> Result<&Array2<f64>, TrainError> {
        match self {
            Features::Dense(x) => Ok(x),
            Features::Sparse(_) => Err(TrainError::Data(format!(
                "{algorithm} takes dense features only, not a sparse vector column"
            ))),
        }
    }

    pub fn select_rows(&self, rows: &[usize]) -> Features {
        match self {
            Features::Dense(x) => Features::Dense(x.select(ndarray::Axis(0), rows)),
            Features::Sparse(x) => Features::Sparse(x.select_rows(rows)),
        }
    }
}

/// What a supervised learner is fitted against.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Class labels: `classes` sorted and distinct, `codes[i]` the index
    /// into `classes` of row `i`'s label.
    Classes {
        classes: Vec<i64>,
        codes: Vec<usize>,
    },
    /// Real values, for regression.
    Values(Vec<f64>),
}

impl Target {
    /// Encodes raw class labels (sorted, so the encoding is deterministic).
    pub fn classes(labels: &[i64]) -> Target {
        let mut classes = labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        let codes = labels
            .iter()
            .map(|l| classes.binary_search(l).expect("label is a class"))
            .collect();
        Target::Classes { classes, codes }
    }

    pub fn len(&self) -> usize {
        match self {
            Target::Classes { codes, .. } => codes.len(),
            Target::Values(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn select_rows(&self, rows: &[usize]) -> Target {
        match self {
            Target::Classes { classes, codes } => Target::Classes {
                classes: classes.clone(),
                codes: rows.iter().map(|&r| codes[r]).collect(),
            },
            Target::Values(v) => Target::Values(rows.iter().map(|&r| v[r]).collect()),
        }
    }
}

/// What a fitted model says about each row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predictions {
    /// `predicted[i]` is a value of `classes`; `proba`, when the model
    /// gives probabilities, is rows × classes in the order of `classes`.
    Classes {
        classes: Vec<i64>,
        predicted: Vec<i64>,
        proba: Option<Array2<f64>>,
    },
    Values(Vec<f64>),
    /// Cluster index per row and the distance to its centroid.
    Clusters {
        cluster: Vec<i64>,
        distance: Vec<f64>,
    },
}

impl Predictions {
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Classes { predicted, .. } => predicted.len(),
            Predictions::Values(v) => v.len(),
            Predictions::Clusters { cluster, .. } => cluster.len(),
        }
    }
}

/// Checks that `x` and `y` describe the same rows and that dense features
/// are finite; every learner calls this first.
pub fn check_fit_input(x: &Features, y: Option<&Target>) -> Result<(), TrainError> {
    if x.rows() == 0 {
        return Err(TrainError::Data("no training rows".into()));
    }
    if let Some(y) = y
        && y.len() != x.rows()
    {
        return Err(TrainError::Data(format!(
            "{} feature rows but {} target values",
            x.rows(),
            y.len()
        )));
    }
    match x {
        Features::Dense(m) => {
            if let Some((pos, _)) = m.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(TrainError::Data(format!(
                    "feature {} of row {} is NaN or infinite (impute it first)",
                    pos.1, pos.0
                )));
            }
        }
        Features::Sparse(m) => m.validate()?,
    }
    Ok(())
}
