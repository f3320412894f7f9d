//! `clip-outliers`: clips float64 columns, in place, to per-column bounds
//! learnt in a fit pass, so serving clips with exactly the training bounds.
//!
//! - `iqr`: `[Q1 - k*IQR, Q3 + k*IQR]` (Tukey's fences), with quartiles as
//!   `numpy.percentile(x, [25, 75])` (the default "linear" method, including
//!   numpy's two-sided interpolation formula), computed exactly over all
//!   training values;
//! - `zscore`: `[mean - k*sd, mean + k*sd]`, with the population standard
//!   deviation (`ddof = 0`, as `scipy.stats.zscore`).
//!
//! Only finite values are fitted on. At process time missing stays missing
//! and NaN stays NaN (it is not a number, so it is not an outlier either —
//! as `numpy.clip` leaves it; fill it with `impute`), while ±inf are
//! clipped to the bounds like any other too-large value.
//!
//! Memory during the fit pass: `iqr` keeps every finite training value
//! (8 bytes each, plus up to 2x while the buffer grows), as exact quartiles
//! need them all; `zscore` keeps three numbers per column.

use sluice_metrics::stats::{Moments, percentile};
use sluice_sdk::state::{State, StateReader, StateWriter, corrupt};
use sluice_sdk::*;

/// How a column's bounds are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Iqr,
    Zscore,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Iqr => "iqr",
            Method::Zscore => "zscore",
        }
    }

    fn parse(name: &str) -> Result<Self, StepError> {
        match name {
            "iqr" => Ok(Method::Iqr),
            "zscore" => Ok(Method::Zscore),
            other => Err(StepError::InvalidParams(format!(
                "param `method` must be `iqr` or `zscore`, got `{other}`"
            ))),
        }
    }

    /// `k` when the param is left at 0: Tukey's 1.5, the usual 3 sigma.
    pub fn default_k(self) -> f64 {
        match self {
            Method::Iqr => 1.5,
            Method::Zscore => 3.0,
        }
    }

    /// Byte stored in the state (stable: never renumber).
    fn code(self) -> u8 {
        match self {
            Method::Iqr => 0,
            Method::Zscore => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        [Method::Iqr, Method::Zscore]
            .into_iter()
            .find(|m| m.code() == code)
    }
}

/// Bounds of one column: `(lower, upper)`, never NaN, `lower <= upper`
/// (either may be infinite if the fit overflowed: no clipping on that side).
pub type Bounds = (f64, f64);

/// `lower <= upper`, and neither is NaN (NaN compares false).
fn is_ordered((lower, upper): Bounds) -> bool {
    lower <= upper
}

/// Clips one value; NaN stays NaN (it compares false both ways).
#[inline]
pub fn clip(x: f64, (lower, upper): Bounds) -> f64 {
    if x < lower {
        lower
    } else if x > upper {
        upper
    } else {
        x
    }
}

/// Fitted state: the method and `k` it was fitted with, bounds per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub method: Method,
    pub k: f64,
    pub columns: Vec<(String, Bounds)>,
}

/// Little-endian: magic `SCLP`, version u8 (1), method u8 (0 iqr,
/// 1 zscore), k f64, column count u32, then per column: name length u32,
/// UTF-8 name, lower f64, upper f64.
impl State for Fitted {
    const MAGIC: &'static [u8] = b"SCLP";
    const VERSION: Option<u8> = Some(1);

    fn write(&self, out: &mut StateWriter) {
        out.u8(self.method.code())
            .f64(self.k)
            .u32(self.columns.len() as u32);
        for (name, (lower, upper)) in &self.columns {
            out.str(name).f64(*lower).f64(*upper);
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
        let code = r.u8()?;
        let method = Method::from_code(code)
            .ok_or_else(|| corrupt(&format!("unknown method code {code}")))?;
        let k = r.f64()?;
        if !(k.is_finite() && k > 0.0) {
            return Err(corrupt(&format!("k = {k} is not a positive number")));
        }
        let count = r.u32()? as usize;
        let mut columns = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let name = r.string()?;
            let (lower, upper) = (r.f64()?, r.f64()?);
            // also refuses NaN, which would silently disable clipping
            if !is_ordered((lower, upper)) {
                return Err(corrupt(&format!(
                    "bounds of column `{name}` are not ordered: [{lower}, {upper}]"
                )));
            }
            columns.push((name, (lower, upper)));
        }
        Ok(Fitted { method, k, columns })
    }
}

/// What the fit pass accumulates for one column.
#[derive(Debug, Clone)]
enum Accumulator {
    Values(Vec<f64>),
    Moments(Moments),
}

pub struct ClipOutliers {
    columns: Vec<String>,
    method: Method,
    k: f64,
    accumulators: Vec<Accumulator>,
    /// Bounds per entry of `columns`, from the state.
    bounds: Option<Vec<Bounds>>,
    clipped: u64,
}

impl Step for ClipOutliers {
    fn describe() -> StepInfo {
        StepInfo::new(
            "clip-outliers",
            env!("CARGO_PKG_VERSION"),
            StepKind::Cleaner,
            "Clips float64 columns to bounds fitted on training data: Tukey's IQR fences or mean ± k standard deviations.",
        )
        .param(ParamSpec::text_list("columns", None, "float64 columns to clip (in place)"))
        .param(ParamSpec::text(
            "method",
            Some("iqr"),
            "iqr: [Q1 - k*IQR, Q3 + k*IQR]; zscore: [mean - k*sd, mean + k*sd]",
        ))
        .param(ParamSpec::float64(
            "k",
            Some(0.0),
            "width multiplier, > 0; 0 = the method's default (1.5 for iqr, 3.0 for zscore)",
        ))
        // Reads and writes only the listed columns: the same names, in place.
        .reads(ColumnSpec::float64("columns", "values to clip").named_by("columns"))
        .writes(
            ColumnSpec::float64("columns", "clipped values; missing stays missing, NaN stays NaN")
                .named_by("columns"),
        )
        .fitted()
    }

    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let columns = params.column_list("columns")?;
        let method = Method::parse(&params.text("method")?)?;
        let k = params.float64("k")?;
        if !(k.is_finite() && k >= 0.0) {
            return Err(StepError::InvalidParams(format!(
                "param `k` must be a finite number >= 0, got {k}"
            )));
        }
        let k = if k == 0.0 { method.default_k() } else { k };
        let bounds = match state {
            None => None,
            Some(bytes) => Some(bounds_from_state(
                &Fitted::decode(&bytes)?,
                &columns,
                method,
                k,
            )?),
        };
        let accumulator = match method {
            Method::Iqr => Accumulator::Values(Vec::new()),
            Method::Zscore => Accumulator::Moments(Moments::default()),
        };
        Ok(ClipOutliers {
            accumulators: vec![accumulator; columns.len()],
            columns,
            method,
            k,
            bounds,
            clipped: 0,
        })
    }

    fn fit(&mut self, input: Chunk) -> Result<(), StepError> {
        for (column, acc) in self.columns.iter().zip(&mut self.accumulators) {
            let values = input.float64(column)?;
            let finite = values.iter().flatten().filter(|x| x.is_finite());
            match acc {
                Accumulator::Values(values) => values.extend(finite),
                Accumulator::Moments(moments) => finite.for_each(|x| moments.push(x)),
            }
        }
        Ok(())
    }

    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        let k = self.k;
        let mut columns = Vec::with_capacity(self.columns.len());
        for (name, acc) in self.columns.iter().zip(&mut self.accumulators) {
            let no_values = || {
                StepError::InvalidInput(format!("column `{name}` has no finite values to fit on"))
            };
            let (bounds, detail) = match acc {
                Accumulator::Values(values) => {
                    if values.is_empty() {
                        return Err(no_values());
                    }
                    values.sort_unstable_by(f64::total_cmp);
                    let (q1, q3) = (percentile(values, 0.25), percentile(values, 0.75));
                    let iqr = q3 - q1;
                    (
                        (q1 - k * iqr, q3 + k * iqr),
                        format!("q1 = {q1}, q3 = {q3}, n = {}", values.len()),
                    )
                }
                Accumulator::Moments(m) => {
                    if m.count == 0 {
                        return Err(no_values());
                    }
                    let (mean, sd) = (m.mean, m.sd());
                    (
                        (mean - k * sd, mean + k * sd),
                        format!("mean = {mean}, sd = {sd}, n = {}", m.count),
                    )
                }
            };
            if !is_ordered(bounds) {
                return Err(StepError::InvalidInput(format!(
                    "column `{name}`: bounds overflow f64 ({}); are the values sane?",
                    detail
                )));
            }
            log::info(&format!(
                "column `{name}`: clip to [{}, {}] ({}, k = {k}, {detail})",
                bounds.0,
                bounds.1,
                self.method.name()
            ));
            columns.push((name.clone(), bounds));
        }
        // Free the fit buffers (iqr keeps every value) before returning.
        self.accumulators.clear();
        Ok(Fitted {
            method: self.method,
            k,
            columns,
        }
        .encode())
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let bounds = self.bounds.as_ref().ok_or_else(|| {
            StepError::Failed("process needs fitted state: run the fit pass first".into())
        })?;
        let mut out = Chunk::new(input.rows);
        for (column, &b) in self.columns.iter().zip(bounds) {
            let values = input.float64(column)?;
            let mut clipped = Float64Builder::with_capacity(values.len());
            for value in values.iter() {
                clipped.push_option(value.map(|x| {
                    let y = clip(x, b);
                    if y != x && !x.is_nan() {
                        self.clipped += 1;
                    }
                    y
                }));
            }
            out.set(column, clipped.finish());
        }
        log::metric("values_clipped", self.clipped as f64);
        Ok(out)
    }
}

/// The bounds for each of `columns`, checking that the state matches the
/// params it is opened with.
fn bounds_from_state(
    fitted: &Fitted,
    columns: &[String],
    method: Method,
    k: f64,
) -> Result<Vec<Bounds>, StepError> {
    if fitted.method != method || fitted.k != k {
        return Err(StepError::InvalidInput(format!(
            "fitted state was fitted with method `{}`, k = {} but params give method `{}`, k = {k}",
            fitted.method.name(),
            fitted.k,
            method.name()
        )));
    }
    columns
        .iter()
        .map(|column| {
            fitted
                .columns
                .iter()
                .find(|(name, _)| name == column)
                .map(|(_, bounds)| *bounds)
                .ok_or_else(|| {
                    StepError::InvalidInput(format!(
                        "fitted state has no bounds for column `{column}`"
                    ))
                })
        })
        .collect()
}

export_step!(ClipOutliers);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing::{fit, fit_process, float64_chunk, process, text_chunk};

    fn cols(names: &[&str]) -> ParamValue {
        names.into()
    }

    fn floats(out: &Chunk, name: &str) -> Vec<Option<f64>> {
        out.float64(name).unwrap().iter().collect()
    }

    fn fitted(params: &[(&str, ParamValue)], training: Vec<Chunk>) -> Fitted {
        Fitted::decode(&fit::<ClipOutliers>(params, training).unwrap()).unwrap()
    }

    #[test]
    fn iqr_bounds_are_fitted_over_all_chunks() {
        let params = [("columns", cols(&["x"]))];
        // [1..8, 100]: Q1 = 3, Q3 = 7, IQR = 4 -> [3 - 6, 7 + 6]
        let training = vec![
            float64_chunk("x", &[Some(100.0), Some(1.0), None, Some(2.0)]),
            float64_chunk("x", &[Some(8.0), Some(f64::NAN), Some(3.0), Some(4.0)]),
            float64_chunk("x", &[Some(5.0), Some(6.0), Some(f64::INFINITY), Some(7.0)]),
        ];
        let state = fitted(&params, training.clone());
        assert_eq!((state.method, state.k), (Method::Iqr, 1.5));
        assert_eq!(state.columns, vec![("x".to_string(), (-3.0, 13.0))]);
        let out = fit_process::<ClipOutliers>(
            &params,
            training,
            float64_chunk(
                "x",
                &[Some(100.0), Some(-50.0), Some(5.0), Some(13.0), Some(-3.0)],
            ),
        )
        .unwrap();
        assert_eq!(
            floats(&out, "x"),
            vec![Some(13.0), Some(-3.0), Some(5.0), Some(13.0), Some(-3.0)]
        );
    }

    #[test]
    fn zscore_uses_population_sd_and_k() {
        // mean 5, population sd 2 (scipy.stats.zscore, ddof = 0)
        let rows = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].map(Some);
        let training = || {
            vec![
                float64_chunk("x", &rows[..3]),
                float64_chunk("x", &rows[3..]),
            ]
        };
        let k1 = [
            ("columns", cols(&["x"])),
            ("method", "zscore".into()),
            ("k", 1.0.into()),
        ];
        assert_eq!(
            fitted(&k1, training()).columns,
            vec![("x".to_string(), (3.0, 7.0))]
        );
        let out = fit_process::<ClipOutliers>(
            &k1,
            training(),
            float64_chunk("x", &[Some(0.0), Some(10.0), Some(6.0)]),
        )
        .unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(3.0), Some(7.0), Some(6.0)]);
        // default k for zscore is 3
        let default = [("columns", cols(&["x"])), ("method", "zscore".into())];
        let state = fitted(&default, training());
        assert_eq!((state.k, &state.columns[0].1), (3.0, &(-1.0, 11.0)));
    }

    #[test]
    fn missing_stays_missing_nan_stays_nan_and_infinity_is_clipped() {
        let training = vec![float64_chunk(
            "x",
            &[Some(1.0), Some(2.0), Some(3.0), Some(4.0)],
        )];
        let input = float64_chunk(
            "x",
            &[
                None,
                Some(f64::NAN),
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
                Some(2.0),
            ],
        );
        let out =
            fit_process::<ClipOutliers>(&[("columns", cols(&["x"]))], training, input).unwrap();
        // bounds: [1.75 - 2.25, 3.25 + 2.25]
        let got = floats(&out, "x");
        assert_eq!(got[0], None);
        assert!(got[1].unwrap().is_nan());
        assert_eq!(&got[2..], &[Some(5.5), Some(-0.5), Some(2.0)]);
    }

    #[test]
    fn constant_column_clips_everything_to_the_constant() {
        let training = vec![float64_chunk("x", &[Some(4.0), Some(4.0), Some(4.0)])];
        let out = fit_process::<ClipOutliers>(
            &[("columns", cols(&["x"]))],
            training,
            float64_chunk("x", &[Some(1.0), Some(9.0)]),
        )
        .unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(4.0), Some(4.0)]);
    }

    #[test]
    fn columns_are_independent_and_only_listed_ones_are_written() {
        let mut training = float64_chunk("a", &[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]);
        training.set(
            "b",
            float64_chunk("b", &[Some(10.0), Some(20.0), Some(30.0), Some(40.0)])
                .take("b")
                .unwrap(),
        );
        let state = fitted(&[("columns", cols(&["a", "b"]))], vec![training.clone()]);
        assert_eq!(
            state.columns,
            vec![
                ("a".to_string(), (-0.5, 5.5)),
                ("b".to_string(), (-5.0, 55.0))
            ]
        );
        let out = fit_process::<ClipOutliers>(
            &[("columns", cols(&["b"]))],
            vec![training.clone()],
            training,
        )
        .unwrap();
        assert_eq!(out.columns.len(), 1);
        assert_eq!(
            floats(&out, "b"),
            vec![Some(10.0), Some(20.0), Some(30.0), Some(40.0)]
        );
    }

    #[test]
    fn state_is_deterministic_whatever_the_chunking() {
        let rows: Vec<Option<f64>> = (0..60)
            .map(|i| {
                if i % 9 == 0 {
                    None
                } else {
                    Some(((i * 29) % 31) as f64 / 7.0)
                }
            })
            .collect();
        for method in ["iqr", "zscore"] {
            let params = [("columns", cols(&["x"])), ("method", method.into())];
            let whole = fit::<ClipOutliers>(&params, vec![float64_chunk("x", &rows)]).unwrap();
            let split = fit::<ClipOutliers>(
                &params,
                vec![
                    float64_chunk("x", &rows[..11]),
                    float64_chunk("x", &rows[11..40]),
                    float64_chunk("x", &rows[40..]),
                ],
            )
            .unwrap();
            assert_eq!(whole, split, "{method}");
        }
    }

    #[test]
    fn no_finite_values_is_an_error_naming_the_column() {
        for method in ["iqr", "zscore"] {
            let training = vec![float64_chunk(
                "x",
                &[None, Some(f64::NAN), Some(f64::INFINITY)],
            )];
            let err = fit::<ClipOutliers>(
                &[("columns", cols(&["x"])), ("method", method.into())],
                training,
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("column `x` has no finite values"),
                "{method}: {err}"
            );
        }
    }

    #[test]
    fn bad_params_name_the_param() {
        let input = || vec![float64_chunk("x", &[Some(1.0)])];
        let run = |params: &[(&str, ParamValue)]| {
            fit::<ClipOutliers>(params, input())
                .unwrap_err()
                .to_string()
        };
        let err = run(&[("columns", cols(&["x"])), ("method", "mad".into())]);
        assert!(
            err.contains("param `method`") && err.contains("`mad`"),
            "{err}"
        );
        let err = run(&[("columns", cols(&["x"])), ("k", (-1.0).into())]);
        assert!(err.contains("param `k`"), "{err}");
        let err = run(&[("columns", cols(&["x"])), ("k", f64::INFINITY.into())]);
        assert!(err.contains("param `k`"), "{err}");
        let err = run(&[("columns", cols(&[]))]);
        assert!(err.contains("param `columns`"), "{err}");
        let err = run(&[("columns", cols(&["x", "x"]))]);
        assert!(err.contains("`x` twice"), "{err}");
        let err = fit::<ClipOutliers>(
            &[("columns", cols(&["x"]))],
            vec![text_chunk("x", &[Some("1")])],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("column `x` should be float64"),
            "{err}"
        );
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let state = Fitted {
            method: Method::Zscore,
            k: 2.5,
            columns: vec![
                ("a".into(), (-1.0, 1.0)),
                ("b".into(), (f64::NEG_INFINITY, 3.0)),
            ],
        };
        let bytes = sluice_sdk::testing::assert_state_round_trips(&state);
        let column = |name: &str, lower: f64, upper: f64| {
            [
                &(name.len() as u32).to_le_bytes()[..],
                name.as_bytes(),
                &lower.to_le_bytes(),
                &upper.to_le_bytes(),
            ]
            .concat()
        };
        let expected = [
            &b"SCLP\x01\x01"[..],
            &2.5f64.to_le_bytes(),
            &2u32.to_le_bytes(),
            &column("a", -1.0, 1.0),
            &column("b", f64::NEG_INFINITY, 3.0),
        ]
        .concat();
        assert_eq!(bytes, expected, "the state format is stable");
        let err = |bytes: &[u8]| Fitted::decode(bytes).unwrap_err().to_string();
        let mut method = bytes.clone();
        method[5] = 7;
        assert!(err(&method).contains("method code 7"));
        let swapped = Fitted {
            columns: vec![("a".into(), (1.0, -1.0))],
            ..state.clone()
        };
        assert!(err(&swapped.encode()).contains("not ordered"));
        let nan = Fitted {
            columns: vec![("a".into(), (f64::NAN, 1.0))],
            ..state.clone()
        };
        assert!(err(&nan.encode()).contains("not ordered"));
        let bad_k = Fitted { k: -1.0, ..state };
        assert!(err(&bad_k.encode()).contains("k = -1"));
    }

    #[test]
    fn open_checks_the_state_against_the_params() {
        let open = |params: &[(&str, ParamValue)], state: Vec<u8>| {
            let given = params
                .iter()
                .map(|(n, v)| Param {
                    name: n.to_string(),
                    value: v.clone(),
                })
                .collect();
            ClipOutliers::open(
                Params::resolve(&ClipOutliers::describe().params, given).unwrap(),
                Some(state),
            )
            .err()
            .unwrap()
            .to_string()
        };
        let state = fit::<ClipOutliers>(
            &[("columns", cols(&["x"]))],
            vec![float64_chunk("x", &[Some(1.0)])],
        )
        .unwrap();
        let err = open(
            &[("columns", cols(&["x"])), ("method", "zscore".into())],
            state.clone(),
        );
        assert!(
            err.contains("method `iqr`, k = 1.5 but params give method `zscore`, k = 3"),
            "{err}"
        );
        let err = open(
            &[("columns", cols(&["x"])), ("k", 2.0.into())],
            state.clone(),
        );
        assert!(err.contains("k = 2"), "{err}");
        let err = open(&[("columns", cols(&["y"]))], state);
        assert!(err.contains("no bounds for column `y`"), "{err}");
        let err = open(&[("columns", cols(&["x"]))], b"nope".to_vec());
        assert!(err.contains("fitted state is corrupt"), "{err}");
    }

    #[test]
    fn process_without_state_is_an_error() {
        let err = process::<ClipOutliers>(
            &[("columns", cols(&["x"]))],
            float64_chunk("x", &[Some(1.0)]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("fit pass"), "{err}");
    }
}
