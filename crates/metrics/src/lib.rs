//! # sluice-metrics
//!
//! Evaluation metrics with scikit-learn 1.9.1's exact definitions, in pure
//! Rust with no dependencies (builds for `wasm32-wasip2` and natively).
//! Plain API: slices in, `f64` or small structs out, [`MetricsError`] for
//! input no metric can be computed from.
//!
//! | here | scikit-learn |
//! | --- | --- |
//! | [`accuracy`] | `accuracy_score` |
//! | [`binary_scores`], [`precision`], [`recall`], [`f1`] | `precision_recall_fscore_support(average="binary", pos_label=…)` |
//! | [`multiclass_scores`] | `precision_recall_fscore_support(average=None / "macro" / "weighted")` |
//! | [`confusion_matrix`] | `confusion_matrix` (labels = sorted union of both inputs) |
//! | [`roc_curve`] | `roc_curve(drop_intermediate=True)` |
//! | [`roc_auc`] | `roc_auc_score` (binary) |
//! | [`roc_auc_ovr`] | `roc_auc_score(multi_class="ovr", average="macro")` |
//! | [`precision_recall_curve`] | `precision_recall_curve(drop_intermediate=False)` |
//! | [`average_precision`] | `average_precision_score` (step-wise, not trapezoidal) |
//! | [`pr_auc_trapezoid`] | `auc(recall, precision)` from `precision_recall_curve` |
//! | [`auc`] | `auc` |
//! | [`log_loss`] | `log_loss(y, p, labels=[False, True])` |
//! | [`multiclass_log_loss`] | `log_loss(y, P)` with `P` not renormalised |
//! | [`stats`] | numpy's `mean`, `std`, `percentile`, `median` |
//! | [`names`] | the metric names evaluators report |
//! | [`brier_score`] | `brier_score_loss` (binary) |
//! | [`expected_calibration_error`] | none in scikit-learn: see its docs |
//! | [`mean_absolute_error`], [`mean_squared_error`], [`root_mean_squared_error`], [`r2`], [`max_error`] | same names |
//!
//! **Zero division** follows scikit-learn's default (`zero_division="warn"`,
//! which returns 0): precision with no predicted positives, recall with no
//! actual positives and F1 with neither are 0.0, and so are the macro and
//! weighted averages' terms for such classes.
//!
//! Binary score-based metrics take the truth as `&[bool]` (true = positive
//! class); [`binarize`] turns integer labels into that form.

mod classification;
pub mod names;
mod probabilistic;
mod ranking;
mod regression;
pub mod stats;

pub use classification::{
    BinaryScores, ClassScores, ConfusionMatrix, MulticlassScores, Prf, accuracy, binary_scores,
    confusion_matrix, f1, multiclass_scores, precision, recall,
};
pub use probabilistic::{brier_score, expected_calibration_error, log_loss, multiclass_log_loss};
pub use ranking::{
    PrCurve, RocCurve, auc, average_precision, pr_auc_trapezoid, precision_recall_curve, roc_auc,
    roc_auc_ovr, roc_curve,
};
pub use regression::{
    max_error, mean_absolute_error, mean_squared_error, r2, root_mean_squared_error,
};

/// Why a metric cannot be computed from the given input.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsError {
    /// no samples at all
    Empty,
    /// two inputs that must be row-aligned have different lengths
    LengthMismatch { left: usize, right: usize },
    /// the metric needs both classes in the truth (e.g. ROC-AUC)
    SingleClass,
    /// fewer samples than the metric is defined for (R² needs two)
    TooFewSamples { needed: usize, got: usize },
    /// a score, probability or value is NaN or infinite (at this index)
    NotFinite { index: usize },
    /// a probability outside [0, 1] (at this index)
    NotAProbability { index: usize, value: f64 },
    /// a binary metric was given more than two distinct labels
    NotBinary { classes: usize },
    /// the positive label is not one of the two labels present
    UnknownPositive { positive: i64 },
    /// an argument outside its domain, e.g. zero calibration bins
    InvalidArgument(&'static str),
}

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricsError::Empty => f.write_str("no samples"),
            MetricsError::LengthMismatch { left, right } => {
                write!(f, "inputs have different lengths ({left} vs {right})")
            }
            MetricsError::SingleClass => {
                f.write_str("only one class is present in the truth; the metric is undefined")
            }
            MetricsError::TooFewSamples { needed, got } => {
                write!(f, "needs at least {needed} samples, got {got}")
            }
            MetricsError::NotFinite { index } => write!(f, "value at index {index} is not finite"),
            MetricsError::NotAProbability { index, value } => {
                write!(
                    f,
                    "value {value} at index {index} is not a probability in [0, 1]"
                )
            }
            MetricsError::NotBinary { classes } => {
                write!(
                    f,
                    "{classes} distinct labels where a binary metric needs at most 2"
                )
            }
            MetricsError::UnknownPositive { positive } => {
                write!(
                    f,
                    "positive label {positive} is not one of the labels present"
                )
            }
            MetricsError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for MetricsError {}

pub type Result<T> = std::result::Result<T, MetricsError>;

/// `actual == positive` per row: the truth form the score-based metrics take.
pub fn binarize(actual: &[i64], positive: i64) -> Vec<bool> {
    actual.iter().map(|&a| a == positive).collect()
}

/// Per-class probabilities, row-major: `proba[row * labels.len() + k]` is
/// the probability of `labels[k]`. Checks the shape; returns the row count.
fn check_class_probabilities(actual: &[i64], labels: &[i64], proba: &[f64]) -> Result<usize> {
    if actual.is_empty() {
        return Err(MetricsError::Empty);
    }
    if actual.len() * labels.len() != proba.len() {
        return Err(MetricsError::LengthMismatch {
            left: actual.len() * labels.len(),
            right: proba.len(),
        });
    }
    Ok(actual.len())
}

/// The probabilities of `label` per row (0 for a label the model does not
/// know, which therefore never ranks above anything).
fn class_column(labels: &[i64], proba: &[f64], label: i64, rows: usize) -> Vec<f64> {
    match labels.iter().position(|&l| l == label) {
        Some(k) => proba
            .iter()
            .skip(k)
            .step_by(labels.len())
            .copied()
            .collect(),
        None => vec![0.0; rows],
    }
}

/// Non-empty and the same length.
fn check_pair<A, B>(left: &[A], right: &[B]) -> Result<usize> {
    if left.len() != right.len() {
        return Err(MetricsError::LengthMismatch {
            left: left.len(),
            right: right.len(),
        });
    }
    if left.is_empty() {
        return Err(MetricsError::Empty);
    }
    Ok(left.len())
}

fn check_finite(values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricsError::NotFinite { index }),
        None => Ok(()),
    }
}

fn check_probabilities(values: &[f64]) -> Result<()> {
    check_finite(values)?;
    match values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(index) => Err(MetricsError::NotAProbability {
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// `num / den`, or 0.0 when `den` is 0 (scikit-learn's default zero division).
fn divide(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}
