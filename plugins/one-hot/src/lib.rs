//! `one-hot`: one-hot encodes a text column into one sparse column, with
//! categories learnt in a fit pass and carried as state bytes, so serving
//! encodes with exactly the training mapping.
//!
//! Columns must be declared statically, so instead of one column per
//! category the step writes a single sparse column (the contract's vector
//! type) whose dimension is fixed by the fitted state. With `n` fitted
//! categories, row vectors have `dim = n + 2` and exactly one entry, 1.0:
//! - index `0..n`: the fitted categories, most frequent first, ties broken
//!   by the value's byte order (so the mapping does not depend on the order
//!   or chunking of the training rows);
//! - index `n`: `__unknown__`, for values not seen in training *and* for
//!   values dropped as rare (beyond `max_categories`, or seen fewer than
//!   `min_frequency` times) — like scikit-learn's
//!   `OneHotEncoder(handle_unknown="infrequent_if_exist")` bucket;
//! - index `n + 1`: `__missing__`, for missing rows. An explicit bucket
//!   rather than an all-zero row, so a model can learn from missingness,
//!   and so that every row has exactly one 1.0.
//!
//! The empty string is an ordinary category. The mapping is logged at
//! `finish_fit`; the state bytes hold it too.
//!
//! Memory during the fit pass: one counter per distinct value (the value's
//! bytes plus ~50 bytes); a column of unique ids needs as much memory as the
//! ids themselves. Processing keeps only the fitted categories.

use std::collections::BTreeMap;

use sluice_sdk::state::{State, StateReader, StateWriter, corrupt};
use sluice_sdk::*;

/// Label of the bucket for unseen and rare values.
pub const UNKNOWN: &str = "__unknown__";
/// Label of the bucket for missing rows.
pub const MISSING: &str = "__missing__";
/// Categories listed in the `finish_fit` log line (the state has them all).
const MAX_LOGGED: usize = 200;

/// Fitted state: the column it was fitted on and its categories, in index order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub column: String,
    pub categories: Vec<String>,
}

impl Fitted {
    /// Index of the unknown bucket; the missing bucket is the next one.
    pub fn unknown_index(&self) -> u32 {
        self.categories.len() as u32
    }

    pub fn dim(&self) -> u32 {
        self.categories.len() as u32 + 2
    }

    /// `<column>=<value>` for every index, buckets included.
    pub fn labels(&self) -> Vec<String> {
        self.categories
            .iter()
            .map(String::as_str)
            .chain([UNKNOWN, MISSING])
            .map(|value| format!("{}={value}", self.column))
            .collect()
    }
}

/// Little-endian: magic `SOHE`, version u8 (1), column name length u32,
/// UTF-8 column name, category count u32, then per category (index order):
/// length u32, UTF-8 value.
impl State for Fitted {
    const MAGIC: &'static [u8] = b"SOHE";
    const VERSION: Option<u8> = Some(1);

    fn write(&self, out: &mut StateWriter) {
        out.str(&self.column).u32(self.categories.len() as u32);
        for category in &self.categories {
            out.str(category);
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
        let column = r.string()?;
        let count = r.u32()? as usize;
        if count == 0 {
            return Err(corrupt("no categories"));
        }
        // n + 2 must fit the sparse column's u32 dim
        if count > (u32::MAX - 2) as usize {
            return Err(corrupt(&format!("{count} categories is too many")));
        }
        let mut categories = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            categories.push(r.string()?);
        }
        let mut sorted: Vec<&String> = categories.iter().collect();
        sorted.sort();
        if let Some(pair) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(corrupt(&format!("category `{}` appears twice", pair[0])));
        }
        Ok(Fitted { column, categories })
    }
}

/// Picks the categories from training counts: at least `min_frequency`
/// occurrences, most frequent first, ties by byte order, at most
/// `max_categories`.
pub fn select_categories(
    counts: &BTreeMap<String, u64>,
    max_categories: usize,
    min_frequency: u64,
) -> Vec<(String, u64)> {
    // BTreeMap iterates in byte order and the sort is stable: ties stay ordered by value.
    let mut kept: Vec<(String, u64)> = counts
        .iter()
        .filter(|&(_, &n)| n >= min_frequency)
        .map(|(v, &n)| (v.clone(), n))
        .collect();
    kept.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    kept.truncate(max_categories);
    kept
}

pub struct OneHot {
    column: String,
    output: String,
    max_categories: usize,
    min_frequency: u64,
    counts: BTreeMap<String, u64>,
    missing_seen: u64,
    /// From the state: category -> index, the unknown index, and the dim.
    mapping: Option<(BTreeMap<String, u32>, u32, u32)>,
    unknown: u64,
}

impl Step for OneHot {
    fn describe() -> StepInfo {
        StepInfo::new(
            "one-hot",
            env!("CARGO_PKG_VERSION"),
            StepKind::Featurizer,
            "One-hot encodes a text column into a sparse column: fitted categories (most frequent first), then an unknown and a missing bucket.",
        )
        .param(ParamSpec::text("column", None, "text column to encode"))
        .param(ParamSpec::text("output", Some("onehot"), "sparse column to write"))
        .param(ParamSpec::int64(
            "max_categories",
            Some(20),
            "keep at most this many categories (most frequent first); the rest go to __unknown__",
        ))
        .param(ParamSpec::int64(
            "min_frequency",
            Some(1),
            "values seen fewer times than this in training go to __unknown__",
        ))
        .reads(ColumnSpec::text("column", "categories; missing rows go to the __missing__ bucket").named_by("column"))
        .writes(
            ColumnSpec::sparse(
                "onehot",
                "one 1.0 per row: index of the category, then __unknown__ (n), then __missing__ (n + 1); dim n + 2",
            )
            .named_by("output"),
        )
        .fitted()
    }

    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let column = params.text("column")?;
        let output = params.text("output")?;
        for (param, name) in [("column", &column), ("output", &output)] {
            if name.is_empty() {
                return Err(StepError::InvalidParams(format!(
                    "param `{param}` must not be empty"
                )));
            }
        }
        let max_categories = params.int64("max_categories")?;
        if !(1..=i64::from(u32::MAX - 2)).contains(&max_categories) {
            return Err(StepError::InvalidParams(format!(
                "param `max_categories` must be between 1 and {}, got {max_categories}",
                u32::MAX - 2
            )));
        }
        let min_frequency = params.int64("min_frequency")?;
        if min_frequency < 1 {
            return Err(StepError::InvalidParams(format!(
                "param `min_frequency` must be at least 1, got {min_frequency}"
            )));
        }
        let mapping = match state {
            None => None,
            Some(bytes) => {
                let fitted = Fitted::decode(&bytes)?;
                if fitted.column != column {
                    return Err(StepError::InvalidInput(format!(
                        "fitted state is for column `{}` but param `column` is `{column}`",
                        fitted.column
                    )));
                }
                let index = fitted
                    .categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i as u32))
                    .collect();
                Some((index, fitted.unknown_index(), fitted.dim()))
            }
        };
        Ok(OneHot {
            column,
            output,
            max_categories: max_categories as usize,
            min_frequency: min_frequency as u64,
            counts: BTreeMap::new(),
            missing_seen: 0,
            mapping,
            unknown: 0,
        })
    }

    fn fit(&mut self, input: Chunk) -> Result<(), StepError> {
        for value in input.text(&self.column)?.iter() {
            match value {
                // allocate a key only for a value not seen before
                Some(v) => match self.counts.get_mut(v) {
                    Some(n) => *n += 1,
                    None => {
                        self.counts.insert(v.to_string(), 1);
                    }
                },
                None => self.missing_seen += 1,
            }
        }
        Ok(())
    }

    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        if self.counts.is_empty() {
            return Err(StepError::InvalidInput(format!(
                "column `{}` has no values to fit on",
                self.column
            )));
        }
        let kept = select_categories(&self.counts, self.max_categories, self.min_frequency);
        if kept.is_empty() {
            return Err(StepError::InvalidInput(format!(
                "no value of column `{}` appears at least min_frequency = {} times",
                self.column, self.min_frequency
            )));
        }
        let total: u64 = self.counts.values().sum();
        let rare = total - kept.iter().map(|(_, n)| n).sum::<u64>();
        let fitted = Fitted {
            column: self.column.clone(),
            categories: kept.iter().map(|(v, _)| v.clone()).collect(),
        };
        log_mapping(
            &fitted,
            &kept,
            rare,
            self.missing_seen,
            self.counts.len(),
            &self.output,
        );
        log::metric("categories", kept.len() as f64);
        self.counts.clear();
        Ok(fitted.encode())
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let (index, unknown, dim) = self.mapping.as_ref().ok_or_else(|| {
            StepError::Failed("process needs fitted state: run the fit pass first".into())
        })?;
        let text = input.text(&self.column)?;
        let mut out = SparseBuilder::new(*dim, text.len());
        for value in text.iter() {
            let i = match value {
                None => unknown + 1,
                Some(v) => index.get(v).copied().unwrap_or_else(|| {
                    self.unknown += 1;
                    *unknown
                }),
            };
            out.push_row([(i, 1.0)]);
        }
        log::metric("unknown_values", self.unknown as f64);
        Ok(Chunk::new(input.rows).with(&self.output, out.finish()))
    }
}

/// One info line with the index mapping (the first [`MAX_LOGGED`]
/// categories, then the buckets).
fn log_mapping(
    fitted: &Fitted,
    kept: &[(String, u64)],
    rare: u64,
    missing: u64,
    distinct: usize,
    output: &str,
) {
    let labels = fitted.labels();
    let mut line = format!(
        "`{}` -> sparse `{output}` (dim {}; {} of {distinct} distinct values kept):",
        fitted.column,
        fitted.dim(),
        kept.len()
    );
    for (i, (label, (_, count))) in labels.iter().zip(kept).enumerate().take(MAX_LOGGED) {
        line.push_str(&format!(" {i} `{label}` ({count});"));
    }
    if kept.len() > MAX_LOGGED {
        line.push_str(&format!(
            " … {} more (all in the fitted state);",
            kept.len() - MAX_LOGGED
        ));
    }
    let n = fitted.unknown_index();
    line.push_str(&format!(
        " {n} `{}` ({rare} rare values in training); {} `{}` ({missing} in training)",
        labels[n as usize],
        n + 1,
        labels[n as usize + 1]
    ));
    log::info(&line);
}

export_step!(OneHot);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing::{fit, fit_process, float64_chunk, process, text_chunk};

    fn params(extra: &[(&'static str, ParamValue)]) -> Vec<(&'static str, ParamValue)> {
        let mut p = vec![("column", ParamValue::from("color"))];
        p.extend(extra.iter().cloned());
        p
    }

    fn fitted(extra: &[(&'static str, ParamValue)], training: Vec<Chunk>) -> Fitted {
        Fitted::decode(&fit::<OneHot>(&params(extra), training).unwrap()).unwrap()
    }

    fn chunk(rows: &[Option<&str>]) -> Chunk {
        text_chunk("color", rows)
    }

    /// The single index of each row (asserting one 1.0 per row).
    fn indices(out: &Chunk, name: &str) -> (u32, Vec<u32>) {
        let sparse = out.sparse(name).unwrap();
        let rows = (0..sparse.len())
            .map(|row| {
                let (i, v) = sparse.get(row).unwrap();
                assert_eq!((i.len(), v), (1, &[1.0f32][..]), "row {row}");
                i[0]
            })
            .collect();
        (sparse.dim(), rows)
    }

    #[test]
    fn categories_are_most_frequent_first_over_all_chunks() {
        let training = vec![
            chunk(&[Some("red"), Some("blue"), None, Some("green")]),
            chunk(&[Some("blue"), Some("red"), Some("blue")]),
        ];
        let state = fitted(&[], training.clone());
        // blue 3, then red 2, then green 1
        assert_eq!(state.categories, vec!["blue", "red", "green"]);
        assert_eq!(
            state.labels(),
            vec![
                "color=blue",
                "color=red",
                "color=green",
                "color=__unknown__",
                "color=__missing__"
            ]
        );
        let input = chunk(&[
            Some("green"),
            Some("purple"),
            None,
            Some("blue"),
            Some("Red"),
        ]);
        let out = fit_process::<OneHot>(&params(&[]), training, input).unwrap();
        assert_eq!(out.columns.len(), 1);
        // unseen `purple` and `Red` (case matters) -> 3, missing -> 4
        assert_eq!(indices(&out, "onehot"), (5, vec![2, 3, 4, 0, 3]));
    }

    #[test]
    fn ties_are_broken_by_value_so_row_order_does_not_matter() {
        let rows = [
            Some("b"),
            Some("c"),
            Some("a"),
            Some("c"),
            Some("a"),
            Some("b"),
            Some("d"),
        ];
        let forward = fit::<OneHot>(&params(&[]), vec![chunk(&rows)]).unwrap();
        let mut reversed_rows = rows;
        reversed_rows.reverse();
        let reversed = fit::<OneHot>(
            &params(&[]),
            vec![chunk(&reversed_rows[..3]), chunk(&reversed_rows[3..])],
        )
        .unwrap();
        assert_eq!(
            forward, reversed,
            "same state bytes whatever the row order and chunking"
        );
        assert_eq!(
            Fitted::decode(&forward).unwrap().categories,
            vec!["a", "b", "c", "d"]
        );
    }

    #[test]
    fn max_categories_and_min_frequency_send_rare_values_to_unknown() {
        let rows = [
            Some("a"),
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("d"),
        ];
        let top2 = fitted(&[("max_categories", 2i64.into())], vec![chunk(&rows)]);
        assert_eq!(top2.categories, vec!["a", "b"]);
        let frequent = fitted(&[("min_frequency", 2i64.into())], vec![chunk(&rows)]);
        assert_eq!(frequent.categories, vec!["a", "b"]);
        let out = fit_process::<OneHot>(
            &params(&[
                ("max_categories", 2i64.into()),
                ("output", "color_vec".into()),
            ]),
            vec![chunk(&rows)],
            chunk(&[Some("c"), Some("a"), Some("b"), Some("zzz")]),
        )
        .unwrap();
        // `c` was seen but is rare: it shares the unknown bucket with unseen `zzz`
        assert_eq!(indices(&out, "color_vec"), (4, vec![2, 0, 1, 2]));
    }

    #[test]
    fn empty_string_is_a_category_and_missing_has_its_own_bucket() {
        let training = vec![chunk(&[Some(""), Some(""), Some("x"), None, None, None])];
        let state = fitted(&[], training.clone());
        assert_eq!(
            state.categories,
            vec!["", "x"],
            "missing rows are never a category"
        );
        let out =
            fit_process::<OneHot>(&params(&[]), training, chunk(&[None, Some(""), Some("x")]))
                .unwrap();
        assert_eq!(indices(&out, "onehot"), (4, vec![3, 0, 1]));
    }

    #[test]
    fn sparse_output_is_well_formed_csr() {
        let training = vec![chunk(&[Some("a"), Some("b")])];
        let out =
            fit_process::<OneHot>(&params(&[]), training, chunk(&[Some("b"), None, Some("q")]))
                .unwrap();
        let ColumnValues::Sparse(column) = out.column("onehot").unwrap() else {
            panic!("sparse")
        };
        assert_eq!(
            (
                column.dim,
                &column.row_offsets[..],
                &column.indices[..],
                &column.values[..]
            ),
            (
                4,
                &[0, 1, 2, 3][..],
                &[1, 3, 2][..],
                &[1.0f32, 1.0, 1.0][..]
            )
        );
    }

    #[test]
    fn fit_with_no_present_value_or_no_frequent_value_is_an_error() {
        let err = fit::<OneHot>(&params(&[]), vec![chunk(&[None, None])]).unwrap_err();
        assert!(
            err.to_string().contains("column `color` has no values"),
            "{err}"
        );
        let err = fit::<OneHot>(
            &params(&[("min_frequency", 3i64.into())]),
            vec![chunk(&[Some("a"), Some("b")])],
        )
        .unwrap_err();
        assert!(err.to_string().contains("min_frequency = 3"), "{err}");
    }

    #[test]
    fn bad_params_name_the_param() {
        let run = |extra: &[(&'static str, ParamValue)]| {
            fit::<OneHot>(&params(extra), vec![chunk(&[Some("a")])])
                .unwrap_err()
                .to_string()
        };
        assert!(run(&[("max_categories", 0i64.into())]).contains("param `max_categories`"));
        assert!(run(&[("max_categories", (-5i64).into())]).contains("param `max_categories`"));
        assert!(run(&[("min_frequency", 0i64.into())]).contains("param `min_frequency`"));
        assert!(run(&[("output", "".into())]).contains("param `output`"));
        assert!(
            run(&[("max_categories", "many".into())])
                .contains("param `max_categories` should be int64")
        );
        let err = fit::<OneHot>(&[], vec![chunk(&[Some("a")])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("param `column`") && err.contains("required"),
            "{err}"
        );
    }

    #[test]
    fn wrong_column_type_or_absent_column_names_the_column() {
        let err =
            fit::<OneHot>(&params(&[]), vec![float64_chunk("color", &[Some(1.0)])]).unwrap_err();
        assert!(
            err.to_string().contains("column `color` should be text"),
            "{err}"
        );
        let err =
            fit::<OneHot>(&params(&[]), vec![text_chunk("colour", &[Some("a")])]).unwrap_err();
        assert!(err.to_string().contains("column `color`"), "{err}");
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let state = Fitted {
            column: "c".into(),
            categories: vec!["x".into(), "".into(), "ü".into()],
        };
        let bytes = sluice_sdk::testing::assert_state_round_trips(&state);
        let text = |s: &str| [&(s.len() as u32).to_le_bytes()[..], s.as_bytes()].concat();
        let expected = [
            &b"SOHE\x01"[..],
            &text("c"),
            &3u32.to_le_bytes(),
            &text("x"),
            &text(""),
            &text("ü"),
        ]
        .concat();
        assert_eq!(bytes, expected, "the state format is stable");
        let err = |bytes: &[u8]| Fitted::decode(bytes).unwrap_err().to_string();
        let dup = Fitted {
            column: "c".into(),
            categories: vec!["x".into(), "y".into(), "x".into()],
        };
        assert!(err(&dup.encode()).contains("category `x` appears twice"));
        let empty = Fitted {
            column: "c".into(),
            categories: vec![],
        };
        assert!(err(&empty.encode()).contains("no categories"));
        let mut not_utf8 = bytes.clone();
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert!(err(&not_utf8).contains("not UTF-8"));
    }

    #[test]
    fn open_checks_the_state_is_for_this_column() {
        let state = fit::<OneHot>(&params(&[]), vec![chunk(&[Some("a")])]).unwrap();
        let given = vec![Param {
            name: "column".into(),
            value: "colour".into(),
        }];
        let err = OneHot::open(
            Params::resolve(&OneHot::describe().params, given).unwrap(),
            Some(state),
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("fitted state is for column `color` but param `column` is `colour`"),
            "{err}"
        );
    }

    #[test]
    fn process_without_state_is_an_error() {
        let err = process::<OneHot>(&params(&[]), chunk(&[Some("a")])).unwrap_err();
        assert!(err.to_string().contains("fit pass"), "{err}");
    }
}
