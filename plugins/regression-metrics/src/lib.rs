//! `regression-metrics`: an evaluator that accumulates actual and predicted
//! float64 values over every chunk and returns scikit-learn-equivalent
//! regression metrics from `finish`.

use sluice_metrics as metrics;
use sluice_metrics::names;
use sluice_sdk::*;

pub struct RegressionMetrics {
    actual_column: String,
    predicted_column: String,
    actual: Vec<f64>,
    predicted: Vec<f64>,
}

/// Appends every row of float64 column `column`; a missing or non-finite
/// row is an error naming the column and the row (0-based, across chunks).
fn push_values(
    input: &Chunk,
    column: &str,
    first_row: usize,
    out: &mut Vec<f64>,
) -> Result<(), StepError> {
    for (i, value) in input.float64(column)?.iter().enumerate() {
        let row = first_row + i;
        match value {
            Some(v) if v.is_finite() => out.push(v),
            Some(v) => {
                return Err(StepError::InvalidInput(format!(
                    "column `{column}` row {row} (0-based, across chunks): {v} is not finite"
                )));
            }
            None => {
                return Err(StepError::InvalidInput(format!(
                    "column `{column}` has a missing value at row {row} (0-based, across chunks)"
                )));
            }
        }
    }
    Ok(())
}

fn metrics_error(error: metrics::MetricsError) -> StepError {
    StepError::InvalidInput(error.to_string())
}

impl Step for RegressionMetrics {
    fn describe() -> StepInfo {
        StepInfo::new("regression-metrics", env!("CARGO_PKG_VERSION"), StepKind::Evaluator,
            "Evaluates numeric predictions: MAE, MSE, RMSE, R² and max error (scikit-learn's definitions).")
            .param(ParamSpec::text("actual", Some("label"), "float64 column holding the true value"))
            .param(ParamSpec::text("predicted", Some("prediction"), "float64 column holding the predicted value"))
            .reads(ColumnSpec::float64("label", "true value").named_by("actual"))
            .reads(ColumnSpec::float64("prediction", "predicted value").named_by("predicted"))
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(RegressionMetrics {
            actual_column: params.text("actual")?,
            predicted_column: params.text("predicted")?,
            actual: Vec::new(),
            predicted: Vec::new(),
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let first_row = self.actual.len();
        push_values(&input, &self.actual_column, first_row, &mut self.actual)?;
        push_values(
            &input,
            &self.predicted_column,
            first_row,
            &mut self.predicted,
        )?;
        // an evaluator writes no columns
        Ok(Chunk::new(input.rows))
    }

    fn finish(&mut self) -> Result<Vec<Metric>, StepError> {
        let (a, p) = (&self.actual, &self.predicted);
        if a.is_empty() {
            return Err(StepError::InvalidInput("no rows to evaluate".into()));
        }
        let mut out = vec![
            Metric::new(
                names::MAE,
                metrics::mean_absolute_error(a, p).map_err(metrics_error)?,
            ),
            Metric::new(
                names::MSE,
                metrics::mean_squared_error(a, p).map_err(metrics_error)?,
            ),
            Metric::new(
                names::RMSE,
                metrics::root_mean_squared_error(a, p).map_err(metrics_error)?,
            ),
        ];
        match metrics::r2(a, p) {
            Ok(r2) => out.push(Metric::new(names::R2, r2)),
            // undefined for one row (scikit-learn: NaN and a warning)
            Err(metrics::MetricsError::TooFewSamples { .. }) => {
                log::info("r2 omitted: it needs at least two rows")
            }
            Err(e) => return Err(metrics_error(e)),
        }
        out.push(Metric::new(
            names::MAX_ERROR,
            metrics::max_error(a, p).map_err(metrics_error)?,
        ));
        out.push(Metric::new(names::SUPPORT, a.len() as f64));
        Ok(out)
    }
}

export_step!(RegressionMetrics);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing;

    fn chunk(actual: &[Option<f64>], predicted: &[Option<f64>]) -> Chunk {
        let mut chunk = testing::float64_chunk("label", actual);
        let other = testing::float64_chunk("prediction", predicted);
        chunk.columns.extend(other.columns);
        chunk
    }

    fn value(metrics: &[Metric], name: &str) -> Option<f64> {
        metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    #[test]
    fn accumulates_over_chunks() {
        let m = testing::evaluate::<RegressionMetrics>(
            &[],
            vec![
                chunk(&[Some(3.0), Some(-0.5)], &[Some(2.5), Some(0.0)]),
                chunk(&[Some(2.0), Some(7.0)], &[Some(2.0), Some(8.0)]),
            ],
        )
        .unwrap();
        assert_eq!(value(&m, "mae"), Some(0.5));
        assert_eq!(value(&m, "mse"), Some(0.375));
        assert_eq!(value(&m, "rmse"), Some(0.375f64.sqrt()));
        assert_eq!(value(&m, "max_error"), Some(1.0));
        assert_eq!(value(&m, "support"), Some(4.0));
        assert!((value(&m, "r2").unwrap() - 0.9486081370449679).abs() < 1e-15);
    }

    #[test]
    fn one_row_has_no_r2_and_missing_is_an_error() {
        let m =
            testing::evaluate::<RegressionMetrics>(&[], vec![chunk(&[Some(1.0)], &[Some(2.0)])])
                .unwrap();
        assert_eq!(value(&m, "r2"), None);
        assert_eq!(value(&m, "mae"), Some(1.0));
        let err = testing::evaluate::<RegressionMetrics>(
            &[("predicted", "p".into())],
            vec![{
                let mut c = testing::float64_chunk("label", &[Some(1.0), Some(2.0)]);
                c.columns
                    .extend(testing::float64_chunk("p", &[Some(1.0), None]).columns);
                c
            }],
        )
        .unwrap_err();
        assert_eq!(
            err,
            StepError::InvalidInput(
                "column `p` has a missing value at row 1 (0-based, across chunks)".into()
            )
        );
        let err = testing::evaluate::<RegressionMetrics>(
            &[],
            vec![chunk(&[Some(f64::NAN)], &[Some(1.0)])],
        )
        .unwrap_err();
        assert!(err.to_string().contains("`label` row 0"), "{err}");
    }
}
