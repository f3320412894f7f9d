//! Label-based classification metrics: accuracy, precision, recall, F1,
//! confusion matrix.

use crate::{MetricsError, Result, check_pair, divide};

/// `accuracy_score`: the fraction of rows where `predicted == actual`.
pub fn accuracy(actual: &[i64], predicted: &[i64]) -> Result<f64> {
    let n = check_pair(actual, predicted)?;
    let correct = actual.iter().zip(predicted).filter(|(a, p)| a == p).count();
    Ok(correct as f64 / n as f64)
}

/// Precision, recall and F1 of one class (or an average of them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    /// From one class's counts, with scikit-learn's zero-division default
    /// (0.0). F1 is `2·tp / (2·tp + fp + fn)`, as scikit-learn computes it
    /// since 1.3 (not the harmonic mean of two rounded ratios).
    fn from_counts(tp: u64, fp: u64, fn_: u64) -> Self {
        let (tp, fp, fn_) = (tp as f64, fp as f64, fn_ as f64);
        Prf {
            precision: divide(tp, tp + fp),
            recall: divide(tp, tp + fn_),
            f1: divide(2.0 * tp, 2.0 * tp + fp + fn_),
        }
    }
}

/// Binary classification counts and scores for the positive label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryScores {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
    pub scores: Prf,
    /// rows whose actual label is the positive one
    pub support: u64,
}

/// `precision_recall_fscore_support(average="binary", pos_label=positive)`.
///
/// Like scikit-learn: at most two distinct labels across both inputs
/// ([`MetricsError::NotBinary`] otherwise); with two, `positive` must be one
/// of them ([`MetricsError::UnknownPositive`]); with one, any `positive` is
/// accepted (its counts are then simply zero).
pub fn binary_scores(actual: &[i64], predicted: &[i64], positive: i64) -> Result<BinaryScores> {
    check_pair(actual, predicted)?;
    let labels = sorted_labels(actual, predicted);
    if labels.len() > 2 {
        return Err(MetricsError::NotBinary {
            classes: labels.len(),
        });
    }
    if labels.len() == 2 && !labels.contains(&positive) {
        return Err(MetricsError::UnknownPositive { positive });
    }
    let (mut tp, mut fp, mut fn_, mut tn) = (0u64, 0u64, 0u64, 0u64);
    for (&a, &p) in actual.iter().zip(predicted) {
        match (a == positive, p == positive) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    Ok(BinaryScores {
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        true_negatives: tn,
        scores: Prf::from_counts(tp, fp, fn_),
        support: tp + fn_,
    })
}

/// `precision_score(average="binary", pos_label=positive)`.
pub fn precision(actual: &[i64], predicted: &[i64], positive: i64) -> Result<f64> {
    Ok(binary_scores(actual, predicted, positive)?.scores.precision)
}

/// `recall_score(average="binary", pos_label=positive)`.
pub fn recall(actual: &[i64], predicted: &[i64], positive: i64) -> Result<f64> {
    Ok(binary_scores(actual, predicted, positive)?.scores.recall)
}

/// `f1_score(average="binary", pos_label=positive)`.
pub fn f1(actual: &[i64], predicted: &[i64], positive: i64) -> Result<f64> {
    Ok(binary_scores(actual, predicted, positive)?.scores.f1)
}

/// One class's scores in a multiclass report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScores {
    pub label: i64,
    pub scores: Prf,
    /// rows whose actual label is this class
    pub support: u64,
}

/// Per-class scores and their macro and weighted averages.
#[derive(Debug, Clone, PartialEq)]
pub struct MulticlassScores {
    /// one entry per label in the sorted union of actual and predicted
    pub per_class: Vec<ClassScores>,
    /// unweighted mean over `per_class` (`average="macro"`)
    pub macro_avg: Prf,
    /// mean weighted by support (`average="weighted"`); 0.0 when no class
    /// has support, which cannot happen for non-empty input
    pub weighted_avg: Prf,
}

/// `precision_recall_fscore_support` with `average=None`, `"macro"` and
/// `"weighted"`, over the labels scikit-learn uses by default: the sorted
/// union of the labels in `actual` and `predicted`. Works for any number of
/// classes (two included: then both classes are reported).
pub fn multiclass_scores(actual: &[i64], predicted: &[i64]) -> Result<MulticlassScores> {
    let matrix = confusion_matrix(actual, predicted)?;
    let k = matrix.labels.len();
    let mut per_class = Vec::with_capacity(k);
    for (i, &label) in matrix.labels.iter().enumerate() {
        let tp = matrix.counts[i][i];
        let actual_total: u64 = matrix.counts[i].iter().sum();
        let predicted_total: u64 = matrix.counts.iter().map(|row| row[i]).sum();
        per_class.push(ClassScores {
            label,
            scores: Prf::from_counts(tp, predicted_total - tp, actual_total - tp),
            support: actual_total,
        });
    }
    let average = |weight: &dyn Fn(&ClassScores) -> f64| -> Prf {
        let total: f64 = per_class.iter().map(weight).sum();
        let mean = |field: fn(&Prf) -> f64| {
            divide(
                per_class.iter().map(|c| field(&c.scores) * weight(c)).sum(),
                total,
            )
        };
        Prf {
            precision: mean(|s| s.precision),
            recall: mean(|s| s.recall),
            f1: mean(|s| s.f1),
        }
    };
    let macro_avg = average(&|_| 1.0);
    let weighted_avg = average(&|c| c.support as f64);
    Ok(MulticlassScores {
        per_class,
        macro_avg,
        weighted_avg,
    })
}

/// `confusion_matrix`: `counts[i][j]` is the number of rows whose actual
/// label is `labels[i]` and predicted label is `labels[j]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// sorted union of the labels in actual and predicted
    pub labels: Vec<i64>,
    pub counts: Vec<Vec<u64>>,
}

/// `confusion_matrix(actual, predicted)` with scikit-learn's default labels.
pub fn confusion_matrix(actual: &[i64], predicted: &[i64]) -> Result<ConfusionMatrix> {
    check_pair(actual, predicted)?;
    let labels = sorted_labels(actual, predicted);
    let k = labels.len();
    let mut counts = vec![vec![0u64; k]; k];
    let index = |label: i64| labels.binary_search(&label).expect("label is in the union");
    for (&a, &p) in actual.iter().zip(predicted) {
        counts[index(a)][index(p)] += 1;
    }
    Ok(ConfusionMatrix { labels, counts })
}

fn sorted_labels(actual: &[i64], predicted: &[i64]) -> Vec<i64> {
    let mut labels: Vec<i64> = actual.iter().chain(predicted).copied().collect();
    labels.sort_unstable();
    labels.dedup();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_counts_and_zero_division() {
        let s = binary_scores(&[1, 0, 1, 1, 0], &[1, 1, 0, 1, 0], 1).unwrap();
        assert_eq!(
            (
                s.true_positives,
                s.false_positives,
                s.false_negatives,
                s.true_negatives
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(s.scores.precision, 2.0 / 3.0);
        assert_eq!(s.scores.f1, 4.0 / 6.0);
        // nothing predicted positive: precision and F1 are 0, not NaN
        let s = binary_scores(&[1, 0], &[0, 0], 1).unwrap();
        assert_eq!(
            (s.scores.precision, s.scores.recall, s.scores.f1),
            (0.0, 0.0, 0.0)
        );
        // no positives anywhere: all three 0 (sklearn's "warn" default)
        let s = binary_scores(&[0, 0], &[0, 0], 1).unwrap();
        assert_eq!(
            (s.scores.precision, s.scores.recall, s.scores.f1),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn binary_rejects_what_sklearn_rejects() {
        assert_eq!(
            binary_scores(&[0, 1, 2], &[0, 1, 2], 1),
            Err(MetricsError::NotBinary { classes: 3 })
        );
        assert_eq!(
            binary_scores(&[0, 2], &[0, 2], 1),
            Err(MetricsError::UnknownPositive { positive: 1 })
        );
        assert_eq!(accuracy(&[], &[]), Err(MetricsError::Empty));
        assert_eq!(
            accuracy(&[1], &[1, 2]),
            Err(MetricsError::LengthMismatch { left: 1, right: 2 })
        );
    }

    #[test]
    fn multiclass_averages() {
        let m = multiclass_scores(&[0, 1, 2, 2], &[0, 2, 2, 3]).unwrap();
        assert_eq!(
            m.per_class.iter().map(|c| c.label).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        // class 3 is only predicted: precision 0, recall 0 (no support)
        assert_eq!(
            m.per_class[3].scores,
            Prf {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0
            }
        );
        assert_eq!(m.macro_avg.recall, (1.0 + 0.0 + 0.5 + 0.0) / 4.0);
        assert_eq!(m.weighted_avg.recall, (1.0 + 0.0 + 2.0 * 0.5) / 4.0);
        let cm = confusion_matrix(&[0, 1, 2, 2], &[0, 2, 2, 3]).unwrap();
        assert_eq!(cm.counts[2], vec![0, 0, 1, 1]);
    }
}
