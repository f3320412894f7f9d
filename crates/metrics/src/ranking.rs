//! Score-based binary metrics: ROC and precision-recall curves, ROC-AUC,
//! average precision, trapezoidal AUC.

use crate::{
    MetricsError, Result, binarize, check_class_probabilities, check_finite, check_pair,
    class_column, divide,
};

/// Counts at each distinct score, highest first: scikit-learn's
/// `confusion_matrix_at_thresholds` (formerly `_binary_clf_curve`).
/// Entry `i` counts the rows with score ≥ `thresholds[i]`.
struct Thresholded {
    fps: Vec<f64>,
    tps: Vec<f64>,
    thresholds: Vec<f64>,
}

fn thresholded(actual: &[bool], scores: &[f64]) -> Result<Thresholded> {
    check_pair(actual, scores)?;
    check_finite(scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // descending; scores are finite so the comparison is total. The order
    // within ties does not matter: only the counts at the end of each run
    // of equal scores are kept.
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).expect("finite"));
    let mut out = Thresholded {
        fps: Vec::new(),
        tps: Vec::new(),
        thresholds: Vec::new(),
    };
    let mut tp = 0u64;
    for (i, &row) in order.iter().enumerate() {
        tp += u64::from(actual[row]);
        let last_of_run = order
            .get(i + 1)
            .is_none_or(|&next| scores[next] != scores[row]);
        if last_of_run {
            out.tps.push(tp as f64);
            out.fps.push((i as u64 + 1 - tp) as f64);
            out.thresholds.push(scores[row]);
        }
    }
    Ok(out)
}

/// Points of the ROC curve, as `roc_curve(drop_intermediate=True)` returns
/// them: `thresholds[0]` is `+∞` (the (0, 0) start), then the distinct
/// scores in decreasing order, collinear points dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `roc_curve(actual, scores)` with scikit-learn's default
/// `drop_intermediate=True`. Where scikit-learn returns NaN rates with a
/// warning (only one class in `actual`), this is [`MetricsError::SingleClass`].
pub fn roc_curve(actual: &[bool], scores: &[f64]) -> Result<RocCurve> {
    let t = thresholded(actual, scores)?;
    let n = t.fps.len();
    let (last_fp, last_tp) = (t.fps[n - 1], t.tps[n - 1]);
    if last_fp == 0.0 || last_tp == 0.0 {
        return Err(MetricsError::SingleClass);
    }
    // keep the ends and every point where the curve bends (a non-zero
    // second difference in either count), as scikit-learn does
    let keep = |i: usize| {
        n <= 2
            || i == 0
            || i == n - 1
            || (t.fps[i + 1] - t.fps[i]) - (t.fps[i] - t.fps[i - 1]) != 0.0
            || (t.tps[i + 1] - t.tps[i]) - (t.tps[i] - t.tps[i - 1]) != 0.0
    };
    let mut curve = RocCurve {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    for i in (0..n).filter(|&i| keep(i)) {
        curve.fpr.push(t.fps[i] / last_fp);
        curve.tpr.push(t.tps[i] / last_tp);
        curve.thresholds.push(t.thresholds[i]);
    }
    Ok(curve)
}

/// `roc_auc_score` for binary truth: the trapezoidal area under
/// [`roc_curve`]. Tied scores form one diagonal step, so a tie between a
/// positive and a negative counts one half, as in scikit-learn. Only one
/// class in `actual` is [`MetricsError::SingleClass`] (scikit-learn returns
/// NaN with a warning).
pub fn roc_auc(actual: &[bool], scores: &[f64]) -> Result<f64> {
    let curve = roc_curve(actual, scores)?;
    auc(&curve.fpr, &curve.tpr)
}

/// ROC-AUC over several classes, one-vs-rest and macro-averaged over the
/// classes present in `actual` (scikit-learn's `multi_class="ovr"`); with
/// exactly two present it is the binary [`roc_auc`] of the greater label.
/// `proba` is row-major, one column per entry of `labels`; a present class
/// missing from `labels` scores 0 on every row. Fewer than two present
/// classes is [`MetricsError::SingleClass`].
pub fn roc_auc_ovr(actual: &[i64], labels: &[i64], proba: &[f64]) -> Result<f64> {
    let rows = check_class_probabilities(actual, labels, proba)?;
    let mut present = actual.to_vec();
    present.sort_unstable();
    present.dedup();
    let auc_of = |label: i64| {
        roc_auc(
            &binarize(actual, label),
            &class_column(labels, proba, label, rows),
        )
    };
    match present.as_slice() {
        [] | [_] => Err(MetricsError::SingleClass),
        [_, positive] => auc_of(*positive),
        _ => {
            let mut sum = 0.0;
            for &label in &present {
                sum += auc_of(label)?;
            }
            Ok(sum / present.len() as f64)
        }
    }
}

/// Points of the precision-recall curve, as `precision_recall_curve`
/// returns them: recall decreasing, ending at (recall 0, precision 1), which
/// has no threshold (`thresholds` is one shorter and increasing).
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `precision_recall_curve(actual, scores)` (default
/// `drop_intermediate=False`). Precision at a threshold with no predicted
/// positives is 0; with no positive in `actual` recall is 1 at every
/// threshold, as in scikit-learn.
pub fn precision_recall_curve(actual: &[bool], scores: &[f64]) -> Result<PrCurve> {
    let t = thresholded(actual, scores)?;
    let last_tp = *t.tps.last().expect("non-empty");
    let mut curve = PrCurve {
        precision: Vec::with_capacity(t.tps.len() + 1),
        recall: Vec::with_capacity(t.tps.len() + 1),
        thresholds: Vec::with_capacity(t.tps.len()),
    };
    for i in (0..t.tps.len()).rev() {
        curve.precision.push(divide(t.tps[i], t.tps[i] + t.fps[i]));
        curve.recall.push(if last_tp == 0.0 {
            1.0
        } else {
            t.tps[i] / last_tp
        });
        curve.thresholds.push(t.thresholds[i]);
    }
    curve.precision.push(1.0);
    curve.recall.push(0.0);
    Ok(curve)
}

/// `average_precision_score` (binary): `Σₙ (Rₙ − Rₙ₋₁) · Pₙ` over
/// [`precision_recall_curve`], a step-wise sum with no interpolation.
/// This is what scikit-learn means by PR-AUC; for the trapezoidal area see
/// [`pr_auc_trapezoid`]. No positive in `actual` gives 0.0, as in
/// scikit-learn.
pub fn average_precision(actual: &[bool], scores: &[f64]) -> Result<f64> {
    let curve = precision_recall_curve(actual, scores)?;
    let sum: f64 = curve
        .recall
        .windows(2)
        .zip(&curve.precision)
        .map(|(r, p)| (r[1] - r[0]) * p)
        .sum();
    // the sum can be -0.0 by rounding; scikit-learn clips at 0 likewise
    Ok((-sum).max(0.0))
}

/// `auc(recall, precision)` over [`precision_recall_curve`]: the
/// trapezoidal PR area, which is optimistic compared with
/// [`average_precision`] (linear interpolation between PR points is not
/// achievable). Named apart so the two are never confused.
pub fn pr_auc_trapezoid(actual: &[bool], scores: &[f64]) -> Result<f64> {
    let curve = precision_recall_curve(actual, scores)?;
    auc(&curve.recall, &curve.precision)
}

/// `auc(x, y)`: trapezoidal area under the points, `x` monotonic
/// (increasing or decreasing; a decreasing `x` gives the area with a
/// positive sign, as in scikit-learn). Needs at least two points.
pub fn auc(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y)?;
    if x.len() < 2 {
        return Err(MetricsError::TooFewSamples {
            needed: 2,
            got: x.len(),
        });
    }
    check_finite(x)?;
    check_finite(y)?;
    let decreasing = x.windows(2).any(|w| w[1] < w[0]);
    if decreasing && !x.windows(2).all(|w| w[1] <= w[0]) {
        return Err(MetricsError::InvalidArgument(
            "x is neither increasing nor decreasing",
        ));
    }
    // numpy's trapezoid: Σ dx · (y₁ + y₀) / 2, in that order of operations
    let area: f64 = x
        .windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[1] + ys[0]) / 2.0)
        .sum();
    Ok(if decreasing { -area } else { area })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // one positive and one negative tied: AUC 0.5
        assert_eq!(roc_auc(&[true, false], &[0.3, 0.3]).unwrap(), 0.5);
        let actual = [false, false, true, true];
        let scores = [0.1, 0.4, 0.35, 0.8];
        assert_eq!(roc_auc(&actual, &scores).unwrap(), 0.75);
        assert_eq!(
            roc_auc(&[true, true], &[0.1, 0.2]),
            Err(MetricsError::SingleClass)
        );
    }

    #[test]
    fn roc_curve_matches_the_sklearn_docstring() {
        let c = roc_curve(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert_eq!(c.fpr, [0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(c.tpr, [0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(c.thresholds, [f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
    }

    #[test]
    fn precision_recall_curve_matches_the_sklearn_docstring() {
        let c =
            precision_recall_curve(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert_eq!(c.precision, [0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
        assert_eq!(c.recall, [1.0, 1.0, 0.5, 0.5, 0.0]);
        assert_eq!(c.thresholds, [0.1, 0.35, 0.4, 0.8]);
        let ap = average_precision(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((ap - 0.8333333333333333).abs() < 1e-15, "{ap}");
    }

    /// The train crate's cross-validation defined these numbers before they
    /// moved here; scikit-learn 1.9.1 gives 0.9583333333333334.
    #[test]
    fn roc_auc_ovr_macro_averages_the_present_classes() {
        let labels = [0, 1, 2];
        let proba = [
            0.7, 0.2, 0.1, 0.2, 0.3, 0.5, 0.1, 0.2, 0.7, 0.2, 0.2, 0.6, 0.1, 0.8, 0.1, 0.3, 0.4,
            0.3,
        ];
        let actual = [0, 1, 2, 2, 1, 0];
        let auc = roc_auc_ovr(&actual, &labels, &proba).unwrap();
        let column = |k: usize| proba.iter().skip(k).step_by(3).copied().collect::<Vec<_>>();
        let by_class: f64 = (0..3)
            .map(|k| roc_auc(&binarize(&actual, labels[k]), &column(k)).unwrap())
            .sum();
        assert_eq!(auc, by_class / 3.0);
        assert!((auc - 0.9583333333333334).abs() < 1e-12, "{auc}");
        // two present classes: the binary AUC of the greater one
        let two = roc_auc_ovr(&[0, 2, 2, 0], &labels, &proba[..12]).unwrap();
        let binary = roc_auc(&[false, true, true, false], &column(2)[..4]).unwrap();
        assert_eq!(two, binary);
        assert_eq!(
            roc_auc_ovr(&[1, 1], &labels, &proba[..6]),
            Err(MetricsError::SingleClass)
        );
    }

    #[test]
    fn auc_rejects_non_monotonic_x() {
        assert!(matches!(
            auc(&[0.0, 1.0, 0.5], &[0.0, 1.0, 1.0]),
            Err(MetricsError::InvalidArgument(_))
        ));
        assert_eq!(auc(&[1.0, 0.0], &[1.0, 1.0]).unwrap(), 1.0);
    }
}
