//! The names of the metrics the first-party evaluator plugins report, and
//! of the labels that qualify them. The evaluators emit these, the run
//! report reads them (curves, confusion matrices, group comparisons), and
//! promotion gates and `train.metric` refer to them: a plugin that reports
//! the same quantity should use the same name, so reports and gates work
//! with it unchanged.
//!
//! A metric is `(name, value, labels)`; an unlabelled metric is the
//! headline value, labels split it (per class, per averaging, per group,
//! per curve point).

// classification (`classification-metrics`, `group-metrics`)
/// Fraction of correct predictions.
pub const ACCURACY: &str = "accuracy";
/// Of the positive class (binary), or labelled by `average` or `class`.
pub const PRECISION: &str = "precision";
/// Of the positive class (binary), or labelled by `average` or `class`.
pub const RECALL: &str = "recall";
/// Of the positive class (binary), or labelled by `average` or `class`.
pub const F1: &str = "f1";
/// Number of rows evaluated (labelled by `class` or `group` for a subset).
pub const SUPPORT: &str = "support";
/// One cell of the confusion matrix, labelled by `actual` and `predicted`.
pub const CONFUSION: &str = "confusion";
/// Area under the ROC curve, from scores.
pub const ROC_AUC: &str = "roc_auc";
/// Average precision (area under the precision-recall curve, step-wise).
pub const PR_AUC: &str = "pr_auc";
/// Logistic loss of the scores (lower is better).
pub const LOG_LOSS: &str = "log_loss";
/// Brier score of the scores (lower is better).
pub const BRIER: &str = "brier";
/// Expected calibration error of the scores (lower is better).
pub const ECE: &str = "ece";
/// Fraction of rows predicted positive (`group-metrics`).
pub const SELECTION_RATE: &str = "selection_rate";

// curve points, each labelled by `point` (its index along the curve)
pub const ROC_FPR: &str = "roc.fpr";
pub const ROC_TPR: &str = "roc.tpr";
pub const ROC_THRESHOLD: &str = "roc.threshold";
pub const PR_PRECISION: &str = "pr.precision";
pub const PR_RECALL: &str = "pr.recall";
pub const PR_THRESHOLD: &str = "pr.threshold";

// regression (`regression-metrics`)
pub const MAE: &str = "mae";
pub const MSE: &str = "mse";
/// Root mean squared error (lower is better).
pub const RMSE: &str = "rmse";
/// Coefficient of determination.
pub const R2: &str = "r2";
pub const MAX_ERROR: &str = "max_error";

/// The largest minus the smallest value of `metric` across groups
/// (`gap.f1`), labelled by `max_group` and `min_group`.
pub fn gap(metric: &str) -> String {
    format!("gap.{metric}")
}

/// Label keys.
pub mod label {
    /// A class label, for per-class values and supports.
    pub const CLASS: &str = "class";
    /// `macro` or `weighted`, for averaged multiclass scores.
    pub const AVERAGE: &str = "average";
    /// The true class of a confusion cell.
    pub const ACTUAL: &str = "actual";
    /// The predicted class of a confusion cell.
    pub const PREDICTED: &str = "predicted";
    /// The index of a curve point.
    pub const POINT: &str = "point";
    /// The group of a per-group value.
    pub const GROUP: &str = "group";
    /// The groups holding the extremes of a `gap.*` metric.
    pub const MAX_GROUP: &str = "max_group";
    pub const MIN_GROUP: &str = "min_group";
}
