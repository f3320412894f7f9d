//! `classification-metrics`: an evaluator that accumulates actual and
//! predicted class labels (and optionally a positive-class probability)
//! over every chunk, and returns scikit-learn-equivalent metrics from
//! `finish` (definitions in the `sluice-metrics` crate and the README).

use sluice_metrics as metrics;
use sluice_metrics::names::{self, label};
use sluice_sdk::*;

pub struct ClassificationMetrics {
    actual_column: String,
    predicted_column: String,
    score_column: String,
    positive: i64,
    bins: usize,
    curves: bool,
    actual: Vec<i64>,
    predicted: Vec<i64>,
    score: Vec<f64>,
    /// whether the score column was in the input; fixed by the first chunk
    has_score: Option<bool>,
}

/// The error for a missing value, naming the column and the row (0-based,
/// counted across all chunks of the pass).
fn missing(column: &str, row: usize) -> StepError {
    StepError::InvalidInput(format!(
        "column `{column}` has a missing value at row {row} (0-based, across chunks)"
    ))
}

/// Appends every row of int64 column `column`; a missing row is an error.
fn push_labels(
    input: &Chunk,
    column: &str,
    first_row: usize,
    out: &mut Vec<i64>,
) -> Result<(), StepError> {
    for (i, value) in input.int64(column)?.iter().enumerate() {
        out.push(value.ok_or_else(|| missing(column, first_row + i))?);
    }
    Ok(())
}

/// Appends every row of float64 column `column`, each a probability in
/// [0, 1]; a missing, non-finite or out-of-range row is an error.
fn push_probabilities(
    input: &Chunk,
    column: &str,
    first_row: usize,
    out: &mut Vec<f64>,
) -> Result<(), StepError> {
    for (i, value) in input.float64(column)?.iter().enumerate() {
        let row = first_row + i;
        let value = value.ok_or_else(|| missing(column, row))?;
        if !(0.0..=1.0).contains(&value) {
            return Err(StepError::InvalidInput(format!(
                "column `{column}` row {row} (0-based, across chunks): {value} is not a probability in [0, 1]"
            )));
        }
        out.push(value);
    }
    Ok(())
}

/// Whether the optional column is in this chunk, checking that every
/// chunk agrees with the first (a column cannot come and go mid-pass).
fn optional_present(
    input: &Chunk,
    column: &str,
    seen: &mut Option<bool>,
) -> Result<bool, StepError> {
    let present = input.column(column).is_ok();
    match *seen {
        None => *seen = Some(present),
        Some(before) if before != present => {
            return Err(StepError::InvalidInput(format!(
                "column `{column}` is in some chunks and not in others"
            )));
        }
        Some(_) => {}
    }
    Ok(present)
}

fn metrics_error(error: metrics::MetricsError) -> StepError {
    StepError::InvalidInput(error.to_string())
}

impl Step for ClassificationMetrics {
    fn describe() -> StepInfo {
        StepInfo::new("classification-metrics", env!("CARGO_PKG_VERSION"), StepKind::Evaluator,
            "Evaluates class predictions: accuracy, precision, recall, F1, confusion matrix and, with a probability score, ROC-AUC, average precision, log loss, Brier score, ECE and curves (scikit-learn's definitions).")
            .param(ParamSpec::text("actual", Some("label"), "int64 column holding the true class"))
            .param(ParamSpec::text("predicted", Some("prediction"), "int64 column holding the predicted class"))
            .param(ParamSpec::text("score", Some("score"), "float64 column holding the probability of the positive class (optional)"))
            .param(ParamSpec::int64("positive", Some(1), "label of the positive class (binary tasks)"))
            .param(ParamSpec::int64("bins", Some(10), "equal-width probability bins for the expected calibration error"))
            .param(ParamSpec::boolean("curves", Some(true), "also return the ROC and precision-recall curve points"))
            .reads(ColumnSpec::int64("label", "true class").named_by("actual"))
            .reads(ColumnSpec::int64("prediction", "predicted class").named_by("predicted"))
            .reads(ColumnSpec::float64("score", "probability of the positive class, in [0, 1]").named_by("score").optional())
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let bins = params.int64("bins")?;
        if !(1..=10_000).contains(&bins) {
            return Err(StepError::InvalidParams(format!(
                "param `bins` must be between 1 and 10000, got {bins}"
            )));
        }
        Ok(ClassificationMetrics {
            actual_column: params.text("actual")?,
            predicted_column: params.text("predicted")?,
            score_column: params.text("score")?,
            positive: params.int64("positive")?,
            bins: bins as usize,
            curves: params.boolean("curves")?,
            actual: Vec::new(),
            predicted: Vec::new(),
            score: Vec::new(),
            has_score: None,
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let first_row = self.actual.len();
        push_labels(&input, &self.actual_column, first_row, &mut self.actual)?;
        push_labels(
            &input,
            &self.predicted_column,
            first_row,
            &mut self.predicted,
        )?;
        if optional_present(&input, &self.score_column, &mut self.has_score)? {
            push_probabilities(&input, &self.score_column, first_row, &mut self.score)?;
        }
        // an evaluator writes no columns
        Ok(Chunk::new(input.rows))
    }

    fn finish(&mut self) -> Result<Vec<Metric>, StepError> {
        let (actual, predicted) = (&self.actual, &self.predicted);
        if actual.is_empty() {
            return Err(StepError::InvalidInput("no rows to evaluate".into()));
        }
        let matrix = metrics::confusion_matrix(actual, predicted).map_err(metrics_error)?;
        let labels = &matrix.labels;
        let mut out = vec![
            Metric::new(
                names::ACCURACY,
                metrics::accuracy(actual, predicted).map_err(metrics_error)?,
            ),
            Metric::new(names::SUPPORT, actual.len() as f64),
        ];
        for (i, a) in labels.iter().enumerate() {
            let support: u64 = matrix.counts[i].iter().sum();
            out.push(
                Metric::new(names::SUPPORT, support as f64).label(label::CLASS, &a.to_string()),
            );
            for (j, p) in labels.iter().enumerate() {
                out.push(
                    Metric::new(names::CONFUSION, matrix.counts[i][j] as f64)
                        .label(label::ACTUAL, &a.to_string())
                        .label(label::PREDICTED, &p.to_string()),
                );
            }
        }
        let binary = labels.len() <= 2;
        if binary {
            let scores = metrics::binary_scores(actual, predicted, self.positive).map_err(|e| {
                StepError::InvalidInput(format!(
                    "{e} (labels present: {labels:?}; set param `positive`)"
                ))
            })?;
            out.push(Metric::new(names::PRECISION, scores.scores.precision));
            out.push(Metric::new(names::RECALL, scores.scores.recall));
            out.push(Metric::new(names::F1, scores.scores.f1));
        } else {
            let report = metrics::multiclass_scores(actual, predicted).map_err(metrics_error)?;
            for (average, prf) in [
                ("macro", report.macro_avg),
                ("weighted", report.weighted_avg),
            ] {
                out.push(
                    Metric::new(names::PRECISION, prf.precision).label(label::AVERAGE, average),
                );
                out.push(Metric::new(names::RECALL, prf.recall).label(label::AVERAGE, average));
                out.push(Metric::new(names::F1, prf.f1).label(label::AVERAGE, average));
            }
            for class in &report.per_class {
                let label = class.label.to_string();
                out.push(
                    Metric::new(names::PRECISION, class.scores.precision)
                        .label(label::CLASS, &label),
                );
                out.push(
                    Metric::new(names::RECALL, class.scores.recall).label(label::CLASS, &label),
                );
                out.push(Metric::new(names::F1, class.scores.f1).label(label::CLASS, &label));
            }
        }
        if self.has_score == Some(true) {
            if binary {
                let truth = metrics::binarize(actual, self.positive);
                out.extend(score_metrics(&truth, &self.score, self.bins, self.curves)?);
            } else {
                log::info("score column ignored: score-based metrics are for binary tasks only");
            }
        }
        Ok(out)
    }
}

/// ROC-AUC (when both classes are present), average precision as
/// `pr_auc`, log loss, Brier score, ECE and, if asked, the curve points.
fn score_metrics(
    truth: &[bool],
    score: &[f64],
    bins: usize,
    curves: bool,
) -> Result<Vec<Metric>, StepError> {
    let mut out = Vec::new();
    match metrics::roc_auc(truth, score) {
        Ok(auc) => out.push(Metric::new(names::ROC_AUC, auc)),
        // undefined with one class (scikit-learn: NaN and a warning)
        Err(metrics::MetricsError::SingleClass) => {
            log::info("roc_auc omitted: only one class in the actual labels")
        }
        Err(e) => return Err(metrics_error(e)),
    }
    out.push(Metric::new(
        names::PR_AUC,
        metrics::average_precision(truth, score).map_err(metrics_error)?,
    ));
    out.push(Metric::new(
        names::LOG_LOSS,
        metrics::log_loss(truth, score).map_err(metrics_error)?,
    ));
    out.push(Metric::new(
        names::BRIER,
        metrics::brier_score(truth, score).map_err(metrics_error)?,
    ));
    out.push(Metric::new(
        names::ECE,
        metrics::expected_calibration_error(truth, score, bins).map_err(metrics_error)?,
    ));
    if !curves {
        return Ok(out);
    }
    if let Ok(roc) = metrics::roc_curve(truth, score) {
        for (i, ((fpr, tpr), threshold)) in roc
            .fpr
            .iter()
            .zip(&roc.tpr)
            .zip(&roc.thresholds)
            .enumerate()
        {
            let point = i.to_string();
            out.push(Metric::new(names::ROC_FPR, *fpr).label(label::POINT, &point));
            out.push(Metric::new(names::ROC_TPR, *tpr).label(label::POINT, &point));
            // point 0's threshold is +inf (the (0, 0) start): not a number
            // a report can store, so it is left out
            if threshold.is_finite() {
                out.push(Metric::new(names::ROC_THRESHOLD, *threshold).label(label::POINT, &point));
            }
        }
    }
    let pr = metrics::precision_recall_curve(truth, score).map_err(metrics_error)?;
    for (i, (precision, recall)) in pr.precision.iter().zip(&pr.recall).enumerate() {
        let point = i.to_string();
        out.push(Metric::new(names::PR_PRECISION, *precision).label(label::POINT, &point));
        out.push(Metric::new(names::PR_RECALL, *recall).label(label::POINT, &point));
        // the last point (recall 0, precision 1) has no threshold
        if let Some(threshold) = pr.thresholds.get(i) {
            out.push(Metric::new(names::PR_THRESHOLD, *threshold).label(label::POINT, &point));
        }
    }
    Ok(out)
}

export_step!(ClassificationMetrics);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing;

    fn chunk(actual: &[Option<i64>], predicted: &[Option<i64>], score: Option<&[f64]>) -> Chunk {
        let column = |rows: &[Option<i64>]| {
            let mut b = Int64Builder::with_capacity(rows.len());
            rows.iter().for_each(|r| b.push_option(*r));
            b.finish()
        };
        let mut chunk = Chunk::new(actual.len() as u32)
            .with("label", column(actual))
            .with("prediction", column(predicted));
        if let Some(score) = score {
            let mut b = Float64Builder::with_capacity(score.len());
            score.iter().for_each(|s| b.push(*s));
            chunk.set("score", b.finish());
        }
        chunk
    }

    fn get<'a>(metrics: &'a [Metric], name: &str, labels: &[(&str, &str)]) -> Option<&'a Metric> {
        metrics.iter().find(|m| {
            m.name == name
                && m.labels.len() == labels.len()
                && m.labels
                    .iter()
                    .zip(labels)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        })
    }

    #[test]
    fn accumulates_over_chunks_and_writes_nothing() {
        let a = chunk(&[Some(1), Some(0)], &[Some(1), Some(1)], Some(&[0.9, 0.6]));
        let b = chunk(&[Some(1), Some(0)], &[Some(0), Some(0)], Some(&[0.4, 0.1]));
        let out = testing::process::<ClassificationMetrics>(&[], a.clone()).unwrap();
        assert_eq!((out.rows, out.columns.len()), (2, 0));
        let m = testing::evaluate::<ClassificationMetrics>(&[], vec![a, b]).unwrap();
        assert_eq!(get(&m, "accuracy", &[]).unwrap().value, 0.5);
        assert_eq!(get(&m, "precision", &[]).unwrap().value, 0.5);
        assert_eq!(get(&m, "recall", &[]).unwrap().value, 0.5);
        assert_eq!(get(&m, "support", &[]).unwrap().value, 4.0);
        assert_eq!(
            get(&m, "confusion", &[("actual", "1"), ("predicted", "0")])
                .unwrap()
                .value,
            1.0
        );
        // positives 0.9, 0.4 vs negatives 0.6, 0.1: 3 of 4 pairs ordered
        assert_eq!(get(&m, "roc_auc", &[]).unwrap().value, 0.75);
        assert_eq!(get(&m, "roc.fpr", &[("point", "0")]).unwrap().value, 0.0);
        assert!(get(&m, "roc.threshold", &[("point", "0")]).is_none());
        assert_eq!(get(&m, "pr.recall", &[("point", "0")]).unwrap().value, 1.0);
        for name in ["pr_auc", "log_loss", "brier", "ece"] {
            assert!(get(&m, name, &[]).is_some(), "{name}");
        }
    }

    #[test]
    fn without_score_only_label_metrics() {
        let m = testing::evaluate::<ClassificationMetrics>(
            &[],
            vec![chunk(&[Some(1), Some(0)], &[Some(1), Some(0)], None)],
        )
        .unwrap();
        assert_eq!(get(&m, "f1", &[]).unwrap().value, 1.0);
        assert!(m.iter().all(|m| {
            !["roc_auc", "pr_auc", "log_loss", "brier", "ece"].contains(&m.name.as_str())
        }));
    }

    #[test]
    fn multiclass_reports_averages_and_classes_and_ignores_score() {
        let m = testing::evaluate::<ClassificationMetrics>(
            &[],
            vec![chunk(
                &[Some(0), Some(1), Some(2), Some(2)],
                &[Some(0), Some(2), Some(2), Some(3)],
                Some(&[0.1, 0.2, 0.3, 0.4]),
            )],
        )
        .unwrap();
        assert_eq!(
            get(&m, "recall", &[("average", "macro")]).unwrap().value,
            0.375
        );
        assert_eq!(get(&m, "recall", &[("class", "2")]).unwrap().value, 0.5);
        assert_eq!(get(&m, "support", &[("class", "3")]).unwrap().value, 0.0);
        assert!(get(&m, "precision", &[]).is_none());
        assert!(get(&m, "roc_auc", &[]).is_none());
        assert_eq!(m.iter().filter(|m| m.name == "confusion").count(), 16);
    }

    #[test]
    fn missing_values_name_column_and_row() {
        let mut step = ClassificationMetrics::open(
            Params::resolve(&ClassificationMetrics::describe().params, vec![]).unwrap(),
            None,
        )
        .unwrap();
        step.process(chunk(&[Some(1), Some(0)], &[Some(1), Some(0)], None))
            .unwrap();
        let err = step
            .process(chunk(&[Some(1), Some(0)], &[Some(1), None], None))
            .unwrap_err();
        assert_eq!(
            err,
            StepError::InvalidInput(
                "column `prediction` has a missing value at row 3 (0-based, across chunks)".into()
            )
        );
    }

    #[test]
    fn bad_scores_and_labels_are_input_errors() {
        let err = testing::evaluate::<ClassificationMetrics>(
            &[],
            vec![chunk(&[Some(1)], &[Some(1)], Some(&[1.5]))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("`score` row 0"), "{err}");
        let err = testing::evaluate::<ClassificationMetrics>(
            &[],
            vec![chunk(&[Some(3), Some(7)], &[Some(3), Some(7)], None)],
        )
        .unwrap_err();
        assert!(err.to_string().contains("positive label 1"), "{err}");
        let ok = testing::evaluate::<ClassificationMetrics>(
            &[("positive", 7i64.into())],
            vec![chunk(&[Some(3), Some(7)], &[Some(3), Some(7)], None)],
        )
        .unwrap();
        assert_eq!(get(&ok, "f1", &[]).unwrap().value, 1.0);
        assert!(testing::evaluate::<ClassificationMetrics>(&[], vec![]).is_err());
    }

    #[test]
    fn score_column_cannot_come_and_go() {
        let err = testing::evaluate::<ClassificationMetrics>(
            &[],
            vec![
                chunk(&[Some(1)], &[Some(1)], Some(&[0.5])),
                chunk(&[Some(1)], &[Some(1)], None),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("some chunks"), "{err}");
    }
}
