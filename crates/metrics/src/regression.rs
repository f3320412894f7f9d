//! Regression metrics: MAE, MSE, RMSE, R², max error.

use crate::{MetricsError, Result, check_finite, check_pair};

fn checked(actual: &[f64], predicted: &[f64]) -> Result<usize> {
    let n = check_pair(actual, predicted)?;
    check_finite(actual)?;
    check_finite(predicted)?;
    Ok(n)
}

/// `mean_absolute_error`: mean of `|actual − predicted|`.
pub fn mean_absolute_error(actual: &[f64], predicted: &[f64]) -> Result<f64> {
    let n = checked(actual, predicted)?;
    let sum: f64 = actual
        .iter()
        .zip(predicted)
        .map(|(a, p)| (a - p).abs())
        .sum();
    Ok(sum / n as f64)
}

/// `mean_squared_error`: mean of `(actual − predicted)²`.
pub fn mean_squared_error(actual: &[f64], predicted: &[f64]) -> Result<f64> {
    let n = checked(actual, predicted)?;
    let sum: f64 = actual
        .iter()
        .zip(predicted)
        .map(|(a, p)| (a - p).powi(2))
        .sum();
    Ok(sum / n as f64)
}

/// `root_mean_squared_error`: the square root of [`mean_squared_error`].
pub fn root_mean_squared_error(actual: &[f64], predicted: &[f64]) -> Result<f64> {
    Ok(mean_squared_error(actual, predicted)?.sqrt())
}

/// `r2_score` with its default `force_finite=True`:
/// `1 − Σ(y − ŷ)² / Σ(y − ȳ)²`; a constant `actual` gives 1.0 for a perfect
/// prediction and 0.0 otherwise. Fewer than two samples is
/// [`MetricsError::TooFewSamples`] (scikit-learn returns NaN with a warning).
pub fn r2(actual: &[f64], predicted: &[f64]) -> Result<f64> {
    let n = checked(actual, predicted)?;
    if n < 2 {
        return Err(MetricsError::TooFewSamples { needed: 2, got: n });
    }
    let mean = actual.iter().sum::<f64>() / n as f64;
    let residual: f64 = actual
        .iter()
        .zip(predicted)
        .map(|(a, p)| (a - p).powi(2))
        .sum();
    let total: f64 = actual.iter().map(|a| (a - mean).powi(2)).sum();
    Ok(match (residual == 0.0, total == 0.0) {
        (true, _) => 1.0,
        (false, true) => 0.0,
        (false, false) => 1.0 - residual / total,
    })
}

/// `max_error`: the largest `|actual − predicted|`.
pub fn max_error(actual: &[f64], predicted: &[f64]) -> Result<f64> {
    checked(actual, predicted)?;
    Ok(actual
        .iter()
        .zip(predicted)
        .map(|(a, p)| (a - p).abs())
        .fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_of_constant_truth_is_finite() {
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0]).unwrap(), 1.0);
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 3.0]).unwrap(), 0.0);
        assert_eq!(
            r2(&[1.0], &[1.0]),
            Err(MetricsError::TooFewSamples { needed: 2, got: 1 })
        );
    }

    #[test]
    fn basic_errors() {
        let (a, p) = ([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]);
        assert_eq!(mean_absolute_error(&a, &p).unwrap(), 0.5);
        assert_eq!(mean_squared_error(&a, &p).unwrap(), 0.375);
        assert_eq!(max_error(&a, &p).unwrap(), 1.0);
        assert!((r2(&a, &p).unwrap() - 0.9486081370449679).abs() < 1e-15);
        assert_eq!(
            mean_absolute_error(&[f64::NAN], &[1.0]),
            Err(MetricsError::NotFinite { index: 0 })
        );
    }
}
