//! Metrics of predicted probabilities for binary truth: log loss, Brier
//! score, expected calibration error.

use crate::{MetricsError, Result, check_class_probabilities, check_pair, check_probabilities};

/// `log_loss(actual, prob, labels=[False, True])` in scikit-learn 1.9.1:
/// the mean of `−ln q` where `q` is the probability given to the actual
/// class (`prob` for a positive row, `1 − prob` for a negative one),
/// clipped to `[ε, 1 − ε]` with `ε = f64::EPSILON` (the dtype's machine
/// epsilon; 1.9 no longer takes an `eps` argument, and does not renormalise
/// binary probabilities). Probabilities outside [0, 1] are an error, as in
/// scikit-learn. The class labels are explicit, so a truth with one class
/// is accepted (scikit-learn needs `labels=` for that).
pub fn log_loss(actual: &[bool], prob: &[f64]) -> Result<f64> {
    let n = check_pair(actual, prob)?;
    check_probabilities(prob)?;
    let eps = f64::EPSILON;
    let total: f64 = actual
        .iter()
        .zip(prob)
        .map(|(&positive, &p)| {
            // the two-column form [1 − p, p] is clipped column-wise
            let q = if positive { p } else { 1.0 - p };
            -q.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    Ok(total / n as f64)
}

/// Log loss over several classes: the mean of `−ln q` where `q` is the
/// probability given to the row's actual class (0 when `labels` lacks it),
/// clipped to `[ε, 1 − ε]` as [`log_loss`] does. `proba` is row-major, one
/// column per entry of `labels`; rows are not renormalised and, unlike
/// [`log_loss`], probabilities are not range-checked (they come from the
/// host's own learners).
pub fn multiclass_log_loss(actual: &[i64], labels: &[i64], proba: &[f64]) -> Result<f64> {
    let n = check_class_probabilities(actual, labels, proba)?;
    let eps = f64::EPSILON;
    let total: f64 = actual
        .iter()
        .enumerate()
        .map(|(row, &label)| {
            let q = labels
                .iter()
                .position(|&l| l == label)
                .map_or(0.0, |k| proba[row * labels.len() + k]);
            -q.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    Ok(total / n as f64)
}

/// `brier_score_loss(actual, prob)` (binary): the mean of `(y − p)²` with
/// `y` 1 for a positive row and 0 otherwise. Computed in scikit-learn's
/// form (half the squared distance over both classes' columns), which
/// equals the plain mean up to rounding.
pub fn brier_score(actual: &[bool], prob: &[f64]) -> Result<f64> {
    let n = check_pair(actual, prob)?;
    check_probabilities(prob)?;
    let total: f64 = actual
        .iter()
        .zip(prob)
        .map(|(&positive, &p)| {
            let y = if positive { 1.0 } else { 0.0 };
            ((1.0 - y) - (1.0 - p)).powi(2) + (y - p).powi(2)
        })
        .sum();
    Ok(total / n as f64 * 0.5)
}

/// Expected calibration error, binary: `Σ_b (n_b / n) · |ȳ_b − p̄_b|` over
/// `bins` equal-width bins of the predicted probability of the positive
/// class, where `ȳ_b` is the fraction of positive rows in bin `b` (its
/// accuracy) and `p̄_b` the mean predicted probability (its confidence).
/// Empty bins contribute nothing.
///
/// The bins are `sklearn.calibration.calibration_curve(strategy="uniform")`'s:
/// edges `i / bins` (as `np.linspace(0, 1, bins + 1)`), a value on an
/// interior edge going to the lower bin (`np.searchsorted(edges[1:-1], p)`),
/// so bin 0 is `[0, 1/bins]` and bin `b > 0` is `(b/bins, (b+1)/bins]`.
/// scikit-learn has no ECE function; this definition is checked against a
/// numpy implementation over those bins.
pub fn expected_calibration_error(actual: &[bool], prob: &[f64], bins: usize) -> Result<f64> {
    let n = check_pair(actual, prob)?;
    check_probabilities(prob)?;
    if bins == 0 {
        return Err(MetricsError::InvalidArgument("bins must be at least 1"));
    }
    let step = 1.0 / bins as f64;
    let interior: Vec<f64> = (1..bins).map(|i| i as f64 * step).collect();
    let mut count = vec![0u64; bins];
    let mut positives = vec![0.0f64; bins];
    let mut confidence = vec![0.0f64; bins];
    for (&positive, &p) in actual.iter().zip(prob) {
        // number of interior edges strictly below p = searchsorted(side="left")
        let bin = interior.partition_point(|&edge| edge < p);
        count[bin] += 1;
        positives[bin] += if positive { 1.0 } else { 0.0 };
        confidence[bin] += p;
    }
    let mut ece = 0.0;
    for b in 0..bins {
        if count[b] > 0 {
            let c = count[b] as f64;
            ece += (c / n as f64) * (positives[b] / c - confidence[b] / c).abs();
        }
    }
    Ok(ece)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_loss_clips_certain_mistakes() {
        let loss = log_loss(&[true, false], &[0.0, 0.0]).unwrap();
        assert_eq!(loss, -(f64::EPSILON.ln()) / 2.0);
        assert!(matches!(
            log_loss(&[true], &[1.5]),
            Err(MetricsError::NotAProbability { index: 0, .. })
        ));
    }

    /// The train crate's cross-validation defined these numbers before they
    /// moved here; scikit-learn 1.9.1 gives 0.642544111934923.
    #[test]
    fn multiclass_log_loss_is_the_clipped_mean_of_the_true_class() {
        let labels = [0, 1, 2];
        let proba = [
            0.7, 0.2, 0.1, 0.2, 0.3, 0.5, 0.1, 0.2, 0.7, 0.2, 0.2, 0.6, 0.1, 0.8, 0.1, 0.3, 0.4,
            0.3,
        ];
        let actual = [0, 1, 2, 2, 1, 0];
        let loss = multiclass_log_loss(&actual, &labels, &proba).unwrap();
        let by_hand = [0.7f64, 0.3, 0.7, 0.6, 0.8, 0.3]
            .iter()
            .map(|q| -q.ln())
            .sum::<f64>()
            / 6.0;
        assert_eq!(loss, by_hand);
        assert!((loss - 0.642544111934923).abs() < 1e-12, "{loss}");
        // a class the model never saw gets probability 0, clipped to ε
        let unseen = multiclass_log_loss(&[5], &labels, &[0.2, 0.3, 0.5]).unwrap();
        assert_eq!(unseen, -(f64::EPSILON.ln()));
        assert!(matches!(
            multiclass_log_loss(&actual, &labels, &proba[..9]),
            Err(MetricsError::LengthMismatch { left: 18, right: 9 })
        ));
    }

    #[test]
    fn brier_of_perfect_and_worst() {
        assert_eq!(brier_score(&[true, false], &[1.0, 0.0]).unwrap(), 0.0);
        assert_eq!(brier_score(&[true, false], &[0.0, 1.0]).unwrap(), 1.0);
    }

    #[test]
    fn ece_bins_edges_to_the_lower_bin() {
        // 0.5 sits on the edge of 2 bins: it joins bin 0 with 0.1
        let ece = expected_calibration_error(&[true, false, true], &[0.1, 0.5, 0.9], 2).unwrap();
        let bin0 = (2.0 / 3.0) * (0.5f64 - 0.3).abs();
        let bin1 = (1.0 / 3.0) * (1.0f64 - 0.9).abs();
        assert!((ece - (bin0 + bin1)).abs() < 1e-15, "{ece}");
        assert!(expected_calibration_error(&[true], &[0.5], 0).is_err());
    }
}
