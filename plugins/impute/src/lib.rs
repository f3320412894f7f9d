//! `impute`: fills missing values of float64 columns with one value per
//! column, learnt in a fit pass and carried as state bytes so that serving
//! fills with exactly the training statistics.
//!
//! Semantics follow scikit-learn's `SimpleImputer(missing_values=np.nan)`:
//! - a row is *missing* when its validity bit is clear **or** its value is
//!   NaN (the host has no other way to say "no number", and NaN is
//!   scikit-learn's default missing marker);
//! - `mean` is `np.nanmean`, `median` is `np.nanmedian` (the mean of the two
//!   middle values for an even count), `most_frequent` picks the smallest of
//!   the tied values, `constant` uses `fill_value`;
//! - infinite training values are refused (scikit-learn raises on them too):
//!   they would make a mean meaningless and almost surely are a bug upstream.
//!
//! Memory during the fit pass: `mean` and `constant` keep O(1) per column;
//! `median` keeps every present value (8 bytes each, plus up to 2x while the
//! buffer grows), since an exact median needs them all; `most_frequent`
//! keeps one counter per distinct value (~40 bytes each). Under the default
//! 256 MiB grant, `median` therefore fits roughly 15 million values in
//! total; raise the policy's `memory` for more.

use std::collections::BTreeMap;

use sluice_metrics::stats::median;
use sluice_sdk::state::{State, StateReader, StateWriter, corrupt};
use sluice_sdk::*;

/// How the fill value of a column is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Mean,
    Median,
    MostFrequent,
    Constant,
}

impl Strategy {
    const ALL: [Strategy; 4] = [
        Strategy::Mean,
        Strategy::Median,
        Strategy::MostFrequent,
        Strategy::Constant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Mean => "mean",
            Strategy::Median => "median",
            Strategy::MostFrequent => "most_frequent",
            Strategy::Constant => "constant",
        }
    }

    fn parse(name: &str) -> Result<Self, StepError> {
        Self::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            StepError::InvalidParams(format!(
                "param `strategy` must be one of mean, median, most_frequent, constant; got `{name}`"
            ))
        })
    }

    /// Byte stored in the state (stable: never renumber).
    fn code(self) -> u8 {
        match self {
            Strategy::Mean => 0,
            Strategy::Median => 1,
            Strategy::MostFrequent => 2,
            Strategy::Constant => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// What the fit pass accumulates for one column.
#[derive(Debug, Clone)]
enum Accumulator {
    /// Neumaier-compensated sum: the mean does not drift with row count.
    Mean {
        sum: f64,
        compensation: f64,
        count: u64,
    },
    /// Every present value: an exact median needs them all.
    Median(Vec<f64>),
    /// Count per value, keyed by [`order_key`] so iteration is ascending.
    MostFrequent(BTreeMap<u64, u64>),
    Constant,
}

impl Accumulator {
    fn new(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Mean => Accumulator::Mean {
                sum: 0.0,
                compensation: 0.0,
                count: 0,
            },
            Strategy::Median => Accumulator::Median(Vec::new()),
            Strategy::MostFrequent => Accumulator::MostFrequent(BTreeMap::new()),
            Strategy::Constant => Accumulator::Constant,
        }
    }

    fn push(&mut self, x: f64) {
        match self {
            Accumulator::Mean {
                sum,
                compensation,
                count,
            } => {
                let t = *sum + x;
                *compensation += if sum.abs() >= x.abs() {
                    (*sum - t) + x
                } else {
                    (x - t) + *sum
                };
                *sum = t;
                *count += 1;
            }
            Accumulator::Median(values) => values.push(x),
            Accumulator::MostFrequent(counts) => *counts.entry(order_key(x)).or_insert(0) += 1,
            Accumulator::Constant => {}
        }
    }

    fn count(&self) -> u64 {
        match self {
            Accumulator::Mean { count, .. } => *count,
            Accumulator::Median(values) => values.len() as u64,
            Accumulator::MostFrequent(counts) => counts.values().sum(),
            Accumulator::Constant => 0,
        }
    }

    /// The fill value, or `None` when no value was seen.
    fn finish(&mut self, fill_value: f64) -> Option<f64> {
        match self {
            Accumulator::Mean { count: 0, .. } => None,
            Accumulator::Mean {
                sum,
                compensation,
                count,
            } => Some((*sum + *compensation) / *count as f64),
            Accumulator::Median(values) => median(values),
            Accumulator::MostFrequent(counts) => {
                // Ascending keys and a strict `>` keep the smallest tied value.
                let mut best: Option<(u64, u64)> = None;
                for (&key, &count) in counts.iter() {
                    if best.is_none_or(|(_, c)| count > c) {
                        best = Some((key, count));
                    }
                }
                best.map(|(key, _)| from_order_key(key))
            }
            Accumulator::Constant => Some(fill_value),
        }
    }
}

/// Maps a non-NaN float to a u64 whose unsigned order is the numeric order;
/// -0.0 and 0.0 share a key (they compare equal, so they are one value).
fn order_key(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// Fitted state: the strategy it was fitted with and one fill value per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub strategy: Strategy,
    pub columns: Vec<(String, f64)>,
}

/// Little-endian: magic `SIMP`, version u8 (1), strategy u8 (0 mean,
/// 1 median, 2 most_frequent, 3 constant), column count u32, then per
/// column: name length u32, UTF-8 name, fill value f64.
impl State for Fitted {
    const MAGIC: &'static [u8] = b"SIMP";
    const VERSION: Option<u8> = Some(1);

    fn write(&self, out: &mut StateWriter) {
        out.u8(self.strategy.code()).u32(self.columns.len() as u32);
        for (name, fill) in &self.columns {
            out.str(name).f64(*fill);
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
        let code = r.u8()?;
        let strategy = Strategy::from_code(code)
            .ok_or_else(|| corrupt(&format!("unknown strategy code {code}")))?;
        let count = r.u32()? as usize;
        let mut columns = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let name = r.string()?;
            let fill = r.f64()?;
            if !fill.is_finite() {
                return Err(corrupt(&format!(
                    "fill value of column `{name}` is not finite"
                )));
            }
            columns.push((name, fill));
        }
        Ok(Fitted { strategy, columns })
    }
}

pub struct Impute {
    columns: Vec<String>,
    strategy: Strategy,
    fill_value: f64,
    accumulators: Vec<Accumulator>,
    /// Fill value per entry of `columns`, from the state.
    fills: Option<Vec<f64>>,
    imputed: u64,
}

impl Step for Impute {
    fn describe() -> StepInfo {
        StepInfo::new(
            "impute",
            env!("CARGO_PKG_VERSION"),
            StepKind::Cleaner,
            "Fills missing (and NaN) values of float64 columns with a fitted mean, median, most frequent value or a constant.",
        )
        .param(ParamSpec::text_list("columns", None, "float64 columns to fill (in place)"))
        .param(ParamSpec::text(
            "strategy",
            Some("mean"),
            "mean | median | most_frequent | constant (as scikit-learn's SimpleImputer)",
        ))
        .param(ParamSpec::float64("fill_value", Some(0.0), "the value `constant` fills with"))
        // Reads and writes only the listed columns: the same names, in place.
        .reads(ColumnSpec::float64("columns", "values to fill; missing and NaN rows are filled").named_by("columns"))
        .writes(ColumnSpec::float64("columns", "the same values with every missing or NaN row filled").named_by("columns"))
        .fitted()
    }

    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let columns = params.column_list("columns")?;
        let strategy = Strategy::parse(&params.text("strategy")?)?;
        let fill_value = params.float64("fill_value")?;
        if !fill_value.is_finite() {
            return Err(StepError::InvalidParams(format!(
                "param `fill_value` must be finite, got {fill_value}"
            )));
        }
        let fills = match state {
            None => None,
            Some(bytes) => Some(fills_from_state(
                &Fitted::decode(&bytes)?,
                &columns,
                strategy,
                fill_value,
            )?),
        };
        Ok(Impute {
            accumulators: vec![Accumulator::new(strategy); columns.len()],
            columns,
            strategy,
            fill_value,
            fills,
            imputed: 0,
        })
    }

    fn fit(&mut self, input: Chunk) -> Result<(), StepError> {
        for (column, acc) in self.columns.iter().zip(&mut self.accumulators) {
            // Also checks the column's presence and type for `constant`.
            let values = input.float64(column)?;
            if matches!(acc, Accumulator::Constant) {
                continue;
            }
            for (row, value) in values.iter().enumerate() {
                match value {
                    Some(x) if x.is_infinite() => {
                        return Err(StepError::InvalidInput(format!(
                            "column `{column}` holds {x} at row {row} of a training chunk; impute fits on finite values only"
                        )));
                    }
                    Some(x) if !x.is_nan() => acc.push(x),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        let mut columns = Vec::with_capacity(self.columns.len());
        for (name, acc) in self.columns.iter().zip(&mut self.accumulators) {
            let seen = acc.count();
            let fill = acc.finish(self.fill_value).ok_or_else(|| {
                StepError::InvalidInput(format!(
                    "column `{name}` has no values to fit strategy `{}` on (use strategy = \"constant\")",
                    self.strategy.name()
                ))
            })?;
            if !fill.is_finite() {
                return Err(StepError::InvalidInput(format!(
                    "the {} of column `{name}` overflows f64",
                    self.strategy.name()
                )));
            }
            let how = match self.strategy {
                Strategy::Constant => "constant".to_string(),
                other => format!("{} of {seen} values", other.name()),
            };
            log::info(&format!("column `{name}`: fill value {fill} ({how})"));
            columns.push((name.clone(), fill));
        }
        // Free the fit buffers (median keeps every value) before returning.
        self.accumulators.clear();
        Ok(Fitted {
            strategy: self.strategy,
            columns,
        }
        .encode())
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let fills = self.fills.as_ref().ok_or_else(|| {
            StepError::Failed("process needs fitted state: run the fit pass first".into())
        })?;
        let mut out = Chunk::new(input.rows);
        for (column, &fill) in self.columns.iter().zip(fills) {
            let values = input.float64(column)?;
            let mut filled = Float64Builder::with_capacity(values.len());
            for value in values.iter() {
                match value {
                    Some(x) if !x.is_nan() => filled.push(x),
                    _ => {
                        filled.push(fill);
                        self.imputed += 1;
                    }
                }
            }
            out.set(column, filled.finish());
        }
        log::metric("values_imputed", self.imputed as f64);
        Ok(out)
    }
}

/// The fill value for each of `columns`, checking that the state matches
/// the params it is opened with.
fn fills_from_state(
    fitted: &Fitted,
    columns: &[String],
    strategy: Strategy,
    fill_value: f64,
) -> Result<Vec<f64>, StepError> {
    if fitted.strategy != strategy {
        return Err(StepError::InvalidInput(format!(
            "fitted state was fitted with strategy `{}` but param `strategy` is `{}`",
            fitted.strategy.name(),
            strategy.name()
        )));
    }
    columns
        .iter()
        .map(|column| {
            let (_, fill) = fitted
                .columns
                .iter()
                .find(|(name, _)| name == column)
                .ok_or_else(|| StepError::InvalidInput(format!("fitted state has no fill value for column `{column}`")))?;
            if strategy == Strategy::Constant && *fill != fill_value {
                return Err(StepError::InvalidInput(format!(
                    "fitted state fills column `{column}` with {fill} but param `fill_value` is {fill_value}"
                )));
            }
            Ok(*fill)
        })
        .collect()
}

export_step!(Impute);

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

    fn two_columns(a: &[Option<f64>], b: &[Option<f64>]) -> Chunk {
        let mut chunk = float64_chunk("a", a);
        chunk.set("b", float64_chunk("b", b).take("b").unwrap());
        chunk
    }

    #[test]
    fn mean_is_fitted_over_all_chunks_and_fills_missing_and_nan() {
        // SimpleImputer(strategy="mean") on [1, 2, nan, nan, 6] -> 3.0
        let training = vec![
            float64_chunk("x", &[Some(1.0), Some(2.0), None]),
            float64_chunk("x", &[Some(f64::NAN), Some(6.0)]),
        ];
        let out = fit_process::<Impute>(
            &[("columns", cols(&["x"]))],
            training,
            float64_chunk("x", &[None, Some(5.0), Some(f64::NAN), Some(-1.0)]),
        )
        .unwrap();
        assert_eq!(
            floats(&out, "x"),
            vec![Some(3.0), Some(5.0), Some(3.0), Some(-1.0)]
        );
        // every row is present afterwards: no validity bitmap at all
        let ColumnValues::Float64(column) = out.column("x").unwrap() else {
            panic!()
        };
        assert!(column.valid.is_empty());
    }

    #[test]
    fn median_is_exact_across_chunks_like_numpy() {
        let params = [("columns", cols(&["x"])), ("strategy", "median".into())];
        // even count: np.median([1, 2, 3, 10]) = 2.5
        let training = vec![
            float64_chunk("x", &[Some(10.0), None, Some(1.0)]),
            float64_chunk("x", &[Some(3.0)]),
            float64_chunk("x", &[Some(2.0), Some(f64::NAN)]),
        ];
        let out = fit_process::<Impute>(&params, training, float64_chunk("x", &[None])).unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(2.5)]);
        // odd count: np.median([5, -1, 7]) = 5
        let training = vec![
            float64_chunk("x", &[Some(5.0), Some(-1.0)]),
            float64_chunk("x", &[Some(7.0)]),
        ];
        let out = fit_process::<Impute>(&params, training, float64_chunk("x", &[None])).unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(5.0)]);
    }

    #[test]
    fn most_frequent_breaks_ties_with_the_smallest_value_like_sklearn() {
        let params = [
            ("columns", cols(&["x"])),
            ("strategy", "most_frequent".into()),
        ];
        // 3 and -1 both appear twice: SimpleImputer picks the smallest, -1
        let training = vec![
            float64_chunk("x", &[Some(3.0), Some(-1.0), None]),
            float64_chunk("x", &[Some(3.0), Some(-1.0), Some(7.0)]),
        ];
        let out = fit_process::<Impute>(&params, training, float64_chunk("x", &[None, Some(1.0)]))
            .unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(-1.0), Some(1.0)]);
        // -0.0 and 0.0 are one value (three zeros beat two fives)
        let training = vec![float64_chunk(
            "x",
            &[Some(-0.0), Some(0.0), Some(0.0), Some(5.0), Some(5.0)],
        )];
        let out = fit_process::<Impute>(&params, training, float64_chunk("x", &[None])).unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(0.0)]);
    }

    #[test]
    fn order_key_is_monotonic_and_round_trips() {
        let xs = [
            f64::MIN,
            -1e300,
            -2.5,
            -1e-310,
            0.0,
            1e-310,
            1.0,
            2.5,
            f64::MAX,
        ];
        for w in xs.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(from_order_key(order_key(x)), x);
        }
        assert_eq!(order_key(-0.0), order_key(0.0));
    }

    #[test]
    fn constant_fills_with_fill_value_and_needs_no_values() {
        let params = [
            ("columns", cols(&["x"])),
            ("strategy", "constant".into()),
            ("fill_value", (-9i64).into()),
        ];
        let training = vec![float64_chunk("x", &[None, None])];
        let out = fit_process::<Impute>(&params, training, float64_chunk("x", &[None, Some(2.0)]))
            .unwrap();
        assert_eq!(floats(&out, "x"), vec![Some(-9.0), Some(2.0)]);
    }

    #[test]
    fn columns_are_fitted_independently_and_only_listed_ones_are_written() {
        let training = vec![two_columns(&[Some(1.0), Some(3.0)], &[Some(10.0), None])];
        let input = two_columns(&[None, Some(0.0)], &[None, None]);
        let out = fit_process::<Impute>(
            &[("columns", cols(&["a", "b"]))],
            training.clone(),
            input.clone(),
        )
        .unwrap();
        assert_eq!(floats(&out, "a"), vec![Some(2.0), Some(0.0)]);
        assert_eq!(floats(&out, "b"), vec![Some(10.0), Some(10.0)]);
        let out = fit_process::<Impute>(&[("columns", cols(&["b"]))], training, input).unwrap();
        assert_eq!(out.columns.len(), 1);
        assert_eq!(out.columns[0].name, "b");
    }

    #[test]
    fn state_is_deterministic_whatever_the_chunking() {
        for strategy in ["mean", "median", "most_frequent"] {
            let params = [("columns", cols(&["x"])), ("strategy", strategy.into())];
            let rows: Vec<Option<f64>> = (0..50)
                .map(|i| {
                    if i % 7 == 0 {
                        None
                    } else {
                        Some(((i * 13) % 17) as f64 / 3.0)
                    }
                })
                .collect();
            let whole = fit::<Impute>(&params, vec![float64_chunk("x", &rows)]).unwrap();
            let split = fit::<Impute>(
                &params,
                vec![
                    float64_chunk("x", &rows[..7]),
                    float64_chunk("x", &rows[7..31]),
                    float64_chunk("x", &rows[31..]),
                ],
            )
            .unwrap();
            assert_eq!(whole, split, "{strategy}");
        }
    }

    #[test]
    fn all_missing_column_cannot_be_fitted_except_with_constant() {
        let training = vec![float64_chunk("x", &[None, Some(f64::NAN)])];
        let err = fit::<Impute>(
            &[("columns", cols(&["x"])), ("strategy", "median".into())],
            training,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("column `x` has no values"),
            "{err}"
        );
    }

    #[test]
    fn infinite_training_values_are_refused_with_the_column_name() {
        let training = vec![float64_chunk("x", &[Some(1.0), Some(f64::INFINITY)])];
        let err = fit::<Impute>(&[("columns", cols(&["x"]))], training).unwrap_err();
        assert!(matches!(err, StepError::InvalidInput(_)));
        assert!(
            err.to_string().contains("column `x`") && err.to_string().contains("row 1"),
            "{err}"
        );
    }

    #[test]
    fn bad_params_name_the_param() {
        let input = || float64_chunk("x", &[Some(1.0)]);
        let err = fit::<Impute>(
            &[("columns", cols(&["x"])), ("strategy", "mode".into())],
            vec![input()],
        )
        .unwrap_err();
        assert!(
            matches!(&err, StepError::InvalidParams(m) if m.contains("`strategy`") && m.contains("`mode`")),
            "{err}"
        );
        let err = fit::<Impute>(&[("columns", cols(&[]))], vec![input()]).unwrap_err();
        assert!(err.to_string().contains("`columns`"), "{err}");
        let err = fit::<Impute>(&[("columns", cols(&["x", "x"]))], vec![input()]).unwrap_err();
        assert!(err.to_string().contains("`x` twice"), "{err}");
        let err = fit::<Impute>(
            &[("columns", cols(&["x"])), ("fill_value", f64::NAN.into())],
            vec![input()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("`fill_value`"), "{err}");
        let err = fit::<Impute>(&[], vec![input()]).unwrap_err();
        assert!(err.to_string().contains("`columns`"), "{err}");
    }

    #[test]
    fn wrong_column_type_or_absent_column_names_the_column() {
        let err = fit::<Impute>(
            &[("columns", cols(&["x"]))],
            vec![text_chunk("x", &[Some("1")])],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("column `x` should be float64"),
            "{err}"
        );
        let err = fit::<Impute>(
            &[("columns", cols(&["y"]))],
            vec![float64_chunk("x", &[Some(1.0)])],
        )
        .unwrap_err();
        assert!(err.to_string().contains("column `y`"), "{err}");
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let fitted = Fitted {
            strategy: Strategy::Median,
            columns: vec![("a".into(), 1.5), ("é".into(), -3.0)],
        };
        let bytes = sluice_sdk::testing::assert_state_round_trips(&fitted);
        let expected = [
            &b"SIMP\x01\x01"[..],
            &2u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            b"a",
            &1.5f64.to_le_bytes(),
            &2u32.to_le_bytes(),
            "é".as_bytes(),
            &(-3.0f64).to_le_bytes(),
        ]
        .concat();
        assert_eq!(bytes, expected, "the state format is stable");
        let err = |bytes: &[u8]| Fitted::decode(bytes).unwrap_err().to_string();
        let mut strategy = bytes.clone();
        strategy[5] = 42;
        assert!(err(&strategy).contains("strategy code 42"));
        let nan = Fitted {
            strategy: Strategy::Mean,
            columns: vec![("a".into(), f64::NAN)],
        };
        assert!(err(&nan.encode()).contains("not finite"));
    }

    #[test]
    fn open_checks_the_state_against_the_params() {
        let params =
            |strategy: &str| vec![("columns", cols(&["x"])), ("strategy", strategy.into())];
        let state =
            fit::<Impute>(&params("median"), vec![float64_chunk("x", &[Some(1.0)])]).unwrap();
        let open = |params: &[(&str, ParamValue)], state: Vec<u8>| {
            let given = params
                .iter()
                .map(|(n, v)| Param {
                    name: n.to_string(),
                    value: v.clone(),
                })
                .collect();
            Impute::open(
                Params::resolve(&Impute::describe().params, given).unwrap(),
                Some(state),
            )
            .err()
            .unwrap()
        };
        let err = open(&params("mean"), state.clone());
        assert!(
            err.to_string()
                .contains("strategy `median` but param `strategy` is `mean`"),
            "{err}"
        );
        let err = open(
            &[
                ("columns", cols(&["x", "y"])),
                ("strategy", "median".into()),
            ],
            state,
        );
        assert!(
            err.to_string().contains("no fill value for column `y`"),
            "{err}"
        );
        let constant = [
            ("columns", cols(&["x"])),
            ("strategy", "constant".into()),
            ("fill_value", 1.0.into()),
        ];
        let state = fit::<Impute>(&constant, vec![float64_chunk("x", &[None])]).unwrap();
        let err = open(
            &[
                ("columns", cols(&["x"])),
                ("strategy", "constant".into()),
                ("fill_value", 2.0.into()),
            ],
            state,
        );
        assert!(err.to_string().contains("param `fill_value` is 2"), "{err}");
        let err = open(&params("mean"), b"SIMP\x01".to_vec());
        assert!(
            err.to_string()
                .contains("fitted state is corrupt: truncated"),
            "{err}"
        );
    }

    #[test]
    fn process_without_state_is_an_error() {
        let err = process::<Impute>(&[("columns", cols(&["x"]))], float64_chunk("x", &[None]))
            .unwrap_err();
        assert!(err.to_string().contains("fit pass"), "{err}");
    }
}
