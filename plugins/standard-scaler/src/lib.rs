//! `standard-scaler`: `(x - mean) / sd` per float64 column, with mean and
//! population standard deviation (as scikit-learn's `StandardScaler`)
//! learnt in a fit pass and carried as state bytes, so serving applies the
//! exact training statistics.

use sluice_metrics::stats::Moments;
use sluice_sdk::state::{State, StateReader, StateWriter};
use sluice_sdk::*;

/// Fitted state: one (name, mean, sd) per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub columns: Vec<(String, f64, f64)>,
}

/// Little-endian: magic `SSC1` (the version is in the magic), column
/// count u32, then per column: name length u32, UTF-8 name, mean f64, sd f64.
impl State for Fitted {
    const MAGIC: &'static [u8] = b"SSC1";
    const VERSION: Option<u8> = None;

    fn write(&self, out: &mut StateWriter) {
        out.u32(self.columns.len() as u32);
        for (name, mean, sd) in &self.columns {
            out.str(name).f64(*mean).f64(*sd);
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
        let count = r.u32()? as usize;
        let mut columns = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            columns.push((r.string()?, r.f64()?, r.f64()?));
        }
        Ok(Fitted { columns })
    }
}

pub struct StandardScaler {
    columns: Vec<String>,
    with_mean: bool,
    with_std: bool,
    moments: Vec<Moments>,
    fitted: Option<Fitted>,
}

impl Step for StandardScaler {
    fn describe() -> StepInfo {
        StepInfo::new("standard-scaler", env!("CARGO_PKG_VERSION"), StepKind::Featurizer,
            "Standardises float64 columns to zero mean and unit variance with statistics fitted on training data.")
            .param(ParamSpec::text_list("columns", None, "float64 columns to scale (in place)"))
            .param(ParamSpec::boolean("with_mean", Some(true), "subtract the fitted mean"))
            .param(ParamSpec::boolean("with_std", Some(true), "divide by the fitted standard deviation"))
            .reads(ColumnSpec::float64("columns", "values to scale").named_by("columns"))
            .writes(ColumnSpec::float64("columns", "scaled values; missing stays missing").named_by("columns"))
            .fitted()
    }

    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let columns = params.column_list("columns")?;
        let fitted = state.as_deref().map(Fitted::decode).transpose()?;
        if let Some(fitted) = &fitted {
            for column in &columns {
                if !fitted.columns.iter().any(|(name, _, _)| name == column) {
                    return Err(StepError::InvalidInput(format!(
                        "fitted state has no statistics for column `{column}`"
                    )));
                }
            }
        }
        Ok(StandardScaler {
            moments: vec![Moments::default(); columns.len()],
            columns,
            with_mean: params.boolean("with_mean")?,
            with_std: params.boolean("with_std")?,
            fitted,
        })
    }

    fn fit(&mut self, input: Chunk) -> Result<(), StepError> {
        for (column, moments) in self.columns.iter().zip(&mut self.moments) {
            for value in input.float64(column)?.iter().flatten() {
                if value.is_finite() {
                    moments.push(value);
                }
            }
        }
        Ok(())
    }

    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        let mut columns = Vec::with_capacity(self.columns.len());
        for (name, moments) in self.columns.iter().zip(&self.moments) {
            if moments.count == 0 {
                return Err(StepError::InvalidInput(format!(
                    "column `{name}` has no finite values to fit on"
                )));
            }
            columns.push((name.clone(), moments.mean, moments.sd()));
        }
        Ok(Fitted { columns }.encode())
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let fitted = self.fitted.as_ref().ok_or_else(|| {
            StepError::Failed("process needs fitted state: run the fit pass first".into())
        })?;
        let mut out = Chunk::new(input.rows);
        for column in &self.columns {
            let (_, mean, sd) = fitted
                .columns
                .iter()
                .find(|(name, _, _)| name == column)
                .expect("checked at open");
            let shift = if self.with_mean { *mean } else { 0.0 };
            // a constant column keeps scale 1, as scikit-learn does
            let scale = if self.with_std && *sd > 0.0 { *sd } else { 1.0 };
            let values = input.float64(column)?;
            let mut scaled = Float64Builder::with_capacity(values.len());
            for value in values.iter() {
                scaled.push_option(value.map(|x| (x - shift) / scale));
            }
            out.set(column, scaled.finish());
        }
        Ok(out)
    }
}

export_step!(StandardScaler);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing;

    #[test]
    fn fits_across_chunks_and_scales_like_sklearn() {
        let columns: &[&str] = &["x"];
        let training = vec![
            testing::float64_chunk("x", &[Some(1.0), Some(2.0), None]),
            testing::float64_chunk("x", &[Some(3.0), Some(4.0)]),
        ];
        let out = testing::fit_process::<StandardScaler>(
            &[("columns", columns.into())],
            training,
            testing::float64_chunk("x", &[Some(1.0), None, Some(2.5)]),
        )
        .unwrap();
        let sd = (1.25f64).sqrt();
        let got: Vec<_> = out.float64("x").unwrap().iter().collect();
        assert_eq!(got, vec![Some((1.0 - 2.5) / sd), None, Some(0.0)]);
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let fitted = Fitted {
            columns: vec![("a".into(), 1.5, 2.0), ("b".into(), -3.0, 0.0)],
        };
        let bytes = testing::assert_state_round_trips(&fitted);
        let column = |name: &str, mean: f64, sd: f64| {
            [
                &(name.len() as u32).to_le_bytes()[..],
                name.as_bytes(),
                &mean.to_le_bytes(),
                &sd.to_le_bytes(),
            ]
            .concat()
        };
        let expected = [
            &b"SSC1"[..],
            &2u32.to_le_bytes(),
            &column("a", 1.5, 2.0),
            &column("b", -3.0, 0.0),
        ]
        .concat();
        assert_eq!(bytes, expected, "the state format is stable");
    }

    #[test]
    fn process_without_state_is_an_error() {
        let columns: &[&str] = &["x"];
        let err = testing::process::<StandardScaler>(
            &[("columns", columns.into())],
            testing::float64_chunk("x", &[Some(1.0)]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("fit"), "{err}");
    }
}
