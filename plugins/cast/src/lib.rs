//! `cast`: parses a text column into float64, int64, boolean or a date,
//! with no silent failure: a value that does not parse becomes missing in
//! the output *and* gets a message in a text errors column. Empty or
//! whitespace-only strings and missing rows become missing without an
//! error (there is nothing to parse).
//!
//! The output's type depends on the target, but a step declares its
//! columns and their types statically (`describe` cannot depend on
//! params). So the target is chosen by *which* output param names a
//! column: `to_float64`, `to_int64`, `to_boolean` or `to_date`. Each is a
//! text-list that is empty by default, and an empty list declares no
//! column, so the step asks for (and is granted) exactly the one output it
//! writes, plus the errors column.
//!
//! Parsing rules (after trimming surrounding whitespace):
//! - float64: Rust's `f64` syntax (`1.5`, `-2e3`, `.5`, `+1`); finite only —
//!   `NaN`, `inf` and values that overflow (`1e999`) are errors, so no NaN
//!   is ever produced; no thousands separators;
//! - int64: optional sign and decimal digits only (`5.0` and `1e3` are
//!   errors, not truncated); out-of-range values are errors;
//! - boolean: `true/false`, `yes/no`, `t/f`, `1/0`, ASCII case-insensitive;
//! - date: ISO 8601 calendar date `YYYY-MM-DD` exactly (years 0000-9999,
//!   proleptic Gregorian calendar), written as int64 days since 1970-01-01
//!   (the contract has no date type; this is Arrow's `date32` value).

use sluice_sdk::*;

/// What a column is cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Float64,
    Int64,
    Boolean,
    Date,
}

impl Target {
    const ALL: [Target; 4] = [
        Target::Float64,
        Target::Int64,
        Target::Boolean,
        Target::Date,
    ];

    /// The param that names this target's output column.
    pub fn param(self) -> &'static str {
        match self {
            Target::Float64 => "to_float64",
            Target::Int64 => "to_int64",
            Target::Boolean => "to_boolean",
            Target::Date => "to_date",
        }
    }
}

/// Longest value (in characters) quoted in an error message.
const MAX_QUOTED: usize = 40;

/// The value as quoted in messages, cut to [`MAX_QUOTED`] characters.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("`{}…`", &s[..end]),
        None => format!("`{s}`"),
    }
}

/// Parses a finite float64 (`s` is already trimmed and non-empty).
pub fn parse_float64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        // `1e999` parses to inf: it was a number, just too large
        Ok(_) if s.bytes().any(|b| b.is_ascii_digit()) => {
            Err(format!("{} is out of float64 range", quoted(s)))
        }
        Ok(_) => Err(format!("{} is not a finite number", quoted(s))),
        Err(_) => Err(format!("{} is not a number", quoted(s))),
    }
}

/// Parses an int64: optional sign, decimal digits.
pub fn parse_int64(s: &str) -> Result<i64, String> {
    use std::num::IntErrorKind;
    s.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            format!("{} is out of int64 range", quoted(s))
        }
        _ => format!("{} is not an integer", quoted(s)),
    })
}

/// Parses true/false, yes/no, t/f, 1/0 (ASCII case-insensitive).
pub fn parse_boolean(s: &str) -> Result<bool, String> {
    const TRUE: [&str; 4] = ["true", "yes", "t", "1"];
    const FALSE: [&str; 4] = ["false", "no", "f", "0"];
    if TRUE.iter().any(|t| s.eq_ignore_ascii_case(t)) {
        Ok(true)
    } else if FALSE.iter().any(|f| s.eq_ignore_ascii_case(f)) {
        Ok(false)
    } else {
        Err(format!(
            "{} is not a boolean (expected true/false, yes/no, t/f or 1/0)",
            quoted(s)
        ))
    }
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let shape_ok = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let (Some(year), Some(month), Some(day)) = (
        shape_ok.then(|| digits(0..4)).flatten(),
        shape_ok.then(|| digits(5..7)).flatten(),
        shape_ok.then(|| digits(8..10)).flatten(),
    ) else {
        return Err(format!(
            "{} is not an ISO date (expected YYYY-MM-DD)",
            quoted(s)
        ));
    };
    if !(1..=12).contains(&month) {
        return Err(format!(
            "{} is not a valid date: there is no month {month}",
            quoted(s)
        ));
    }
    let days_in_month = days_in_month(year, month);
    if !(1..=days_in_month).contains(&day) {
        return Err(format!(
            "{} is not a valid date: {year:04}-{month:02} has {days_in_month} days",
            quoted(s)
        ));
    }
    Ok(days_from_civil(i64::from(year), month, day))
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`: years counted from March so leap days come last).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub struct Cast {
    column: String,
    target: Target,
    output: String,
    errors: String,
    failures: u64,
}

impl Step for Cast {
    fn describe() -> StepInfo {
        let none: &[&str] = &[];
        StepInfo::new(
            "cast",
            env!("CARGO_PKG_VERSION"),
            StepKind::Cleaner,
            "Parses a text column into float64, int64, boolean or a date (days since 1970-01-01); values that do not parse are missing and explained in an errors column.",
        )
        .param(ParamSpec::text("column", None, "text column to parse"))
        .param(ParamSpec::text_list(
            "to_float64",
            Some(none),
            "name of the float64 output column (set exactly one of the to_* params)",
        ))
        .param(ParamSpec::text_list("to_int64", Some(none), "name of the int64 output column"))
        .param(ParamSpec::text_list("to_boolean", Some(none), "name of the boolean output column"))
        .param(ParamSpec::text_list(
            "to_date",
            Some(none),
            "name of the int64 output column for YYYY-MM-DD dates, as days since 1970-01-01",
        ))
        .param(ParamSpec::text(
            "errors",
            Some("cast_errors"),
            "text column for one message per row that failed to parse",
        ))
        .reads(ColumnSpec::text("column", "values to parse").named_by("column"))
        // One spec per target, each named by its own (empty by default)
        // text-list param: only the output actually asked for is declared.
        .writes(
            ColumnSpec::float64("to_float64", "parsed numbers; missing where empty or unparseable")
                .named_by("to_float64"),
        )
        .writes(
            ColumnSpec::int64("to_int64", "parsed integers; missing where empty or unparseable").named_by("to_int64"),
        )
        .writes(
            ColumnSpec::boolean("to_boolean", "parsed booleans; missing where empty or unparseable")
                .named_by("to_boolean"),
        )
        .writes(
            ColumnSpec::int64("to_date", "days since 1970-01-01; missing where empty or unparseable")
                .named_by("to_date"),
        )
        .writes(
            ColumnSpec::text("cast_errors", "why the row did not parse; missing where it parsed or was empty")
                .named_by("errors"),
        )
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let column = params.text("column")?;
        let errors = params.text("errors")?;
        let mut chosen = Vec::new();
        for target in Target::ALL {
            let names = params.text_list(target.param())?;
            if names.len() > 1 {
                return Err(StepError::InvalidParams(format!(
                    "param `{}` must name one output column, got {}",
                    target.param(),
                    names.len()
                )));
            }
            chosen.extend(names.into_iter().map(|name| (target, name)));
        }
        let (target, output) = match chosen.len() {
            1 => chosen.remove(0),
            0 => {
                return Err(StepError::InvalidParams(
                    "set one of the params `to_float64`, `to_int64`, `to_boolean`, `to_date` to the output column's name"
                        .into(),
                ));
            }
            _ => {
                let set: Vec<String> = chosen
                    .iter()
                    .map(|(t, _)| format!("`{}`", t.param()))
                    .collect();
                return Err(StepError::InvalidParams(format!(
                    "set only one of the params `to_float64`, `to_int64`, `to_boolean`, `to_date` (got {})",
                    set.join(", ")
                )));
            }
        };
        for (param, name) in [
            ("column", &column),
            (target.param(), &output),
            ("errors", &errors),
        ] {
            if name.is_empty() {
                return Err(StepError::InvalidParams(format!(
                    "param `{param}` must not be empty"
                )));
            }
        }
        if errors == output {
            return Err(StepError::InvalidParams(format!(
                "param `errors` and param `{}` both name column `{output}`",
                target.param()
            )));
        }
        if errors == column {
            return Err(StepError::InvalidParams(format!(
                "param `errors` names the input column `{column}`: the messages would overwrite the values they explain"
            )));
        }
        Ok(Cast {
            column,
            target,
            output,
            errors,
            failures: 0,
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.column)?;
        let mut errors = TextBuilder::with_capacity(text.len(), 0);
        let before = self.failures;
        let values = match self.target {
            Target::Float64 => {
                let mut out = Float64Builder::with_capacity(text.len());
                self.cast_rows(text, &mut errors, parse_float64, |v| out.push_option(v));
                out.finish()
            }
            Target::Int64 => {
                let mut out = Int64Builder::with_capacity(text.len());
                self.cast_rows(text, &mut errors, parse_int64, |v| out.push_option(v));
                out.finish()
            }
            Target::Boolean => {
                let mut out = BoolBuilder::with_capacity(text.len());
                self.cast_rows(text, &mut errors, parse_boolean, |v| out.push_option(v));
                out.finish()
            }
            Target::Date => {
                let mut out = Int64Builder::with_capacity(text.len());
                self.cast_rows(text, &mut errors, parse_date, |v| out.push_option(v));
                out.finish()
            }
        };
        if before == 0 && self.failures > 0 {
            log::warn(&format!(
                "column `{}` has values that do not parse as {}; see column `{}`",
                self.column,
                self.target.param().trim_start_matches("to_"),
                self.errors
            ));
        }
        log::metric("parse_errors", self.failures as f64);
        Ok(Chunk::new(input.rows)
            .with(&self.output, values)
            .with(&self.errors, errors.finish()))
    }
}

impl Cast {
    /// Parses every row: `push` gets the value (or `None`), `errors` a
    /// message for each present, non-blank row that failed.
    fn cast_rows<T>(
        &mut self,
        text: TextRef<'_>,
        errors: &mut TextBuilder,
        parse: fn(&str) -> Result<T, String>,
        mut push: impl FnMut(Option<T>),
    ) {
        for row in text.iter() {
            let value = row.map(str::trim).filter(|s| !s.is_empty());
            match value.map(parse) {
                None => {
                    push(None);
                    errors.push_missing();
                }
                Some(Ok(v)) => {
                    push(Some(v));
                    errors.push_missing();
                }
                Some(Err(message)) => {
                    push(None);
                    errors.push(&message);
                    self.failures += 1;
                }
            }
        }
    }
}

export_step!(Cast);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing::{float64_chunk, process, text_chunk};

    fn to(target: &str, output: &str) -> (String, ParamValue) {
        (
            format!("to_{target}"),
            ParamValue::TextList(vec![output.to_string()]),
        )
    }

    /// Runs `cast` on a column `raw` holding `rows`, writing `out`.
    fn run(target: &str, rows: &[Option<&str>]) -> Chunk {
        let (name, value) = to(target, "out");
        process::<Cast>(
            &[("column", "raw".into()), (&name, value)],
            text_chunk("raw", rows),
        )
        .unwrap()
    }

    fn errors(out: &Chunk) -> Vec<Option<String>> {
        out.text("cast_errors")
            .unwrap()
            .iter()
            .map(|r| r.map(str::to_string))
            .collect()
    }

    fn err(message: &str) -> Option<String> {
        Some(message.to_string())
    }

    #[test]
    fn float64_parses_numbers_and_explains_failures() {
        let out = run(
            "float64",
            &[
                Some("1.5"),
                Some(" -2e3 "),
                Some("+.5"),
                Some("abc"),
                Some(""),
                None,
                Some("NaN"),
                Some("1e999"),
                Some("1,000"),
            ],
        );
        let values: Vec<_> = out.float64("out").unwrap().iter().collect();
        assert_eq!(
            values,
            vec![
                Some(1.5),
                Some(-2000.0),
                Some(0.5),
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(
            errors(&out),
            vec![
                None,
                None,
                None,
                err("`abc` is not a number"),
                None,
                None,
                err("`NaN` is not a finite number"),
                err("`1e999` is out of float64 range"),
                err("`1,000` is not a number"),
            ]
        );
        assert_eq!(
            out.columns.len(),
            2,
            "writes the output and the errors column, nothing else"
        );
    }

    #[test]
    fn int64_is_strict_about_integers_and_range() {
        let out = run(
            "int64",
            &[
                Some("42"),
                Some("-7"),
                Some("+3"),
                Some("5.0"),
                Some("9223372036854775807"),
                Some("9223372036854775808"),
                Some("-9223372036854775809"),
                Some("0x10"),
                Some("   "),
            ],
        );
        let values: Vec<_> = out.int64("out").unwrap().iter().collect();
        assert_eq!(
            values,
            vec![
                Some(42),
                Some(-7),
                Some(3),
                None,
                Some(i64::MAX),
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(
            errors(&out),
            vec![
                None,
                None,
                None,
                err("`5.0` is not an integer"),
                None,
                err("`9223372036854775808` is out of int64 range"),
                err("`-9223372036854775809` is out of int64 range"),
                err("`0x10` is not an integer"),
                None,
            ]
        );
    }

    #[test]
    fn boolean_accepts_the_documented_spellings_in_any_case() {
        let rows = [
            "TRUE", "Yes", "t", "1", "false", "NO", "F", "0", "maybe", "y",
        ];
        let rows: Vec<Option<&str>> = rows
            .iter()
            .map(|s| Some(*s))
            .chain([None, Some("")])
            .collect();
        let out = run("boolean", &rows);
        let values: Vec<_> = out.boolean("out").unwrap().iter().collect();
        let t = Some(true);
        let f = Some(false);
        assert_eq!(values, vec![t, t, t, t, f, f, f, f, None, None, None, None]);
        let errs = errors(&out);
        assert_eq!(
            errs[8],
            err("`maybe` is not a boolean (expected true/false, yes/no, t/f or 1/0)")
        );
        assert!(
            errs[9].is_some(),
            "`y` is not one of the accepted spellings"
        );
        assert!(errs[..8].iter().chain(&errs[10..]).all(Option::is_none));
    }

    #[test]
    fn dates_become_days_since_the_unix_epoch() {
        let out = run(
            "date",
            &[
                Some("1970-01-01"),
                Some("2024-02-29"),
                Some("1969-12-31"),
                Some("9999-12-31"),
                Some("0000-03-01"),
                Some("2023-02-29"),
                Some("2023-13-01"),
                Some("2023-1-01"),
                Some("01/02/2023"),
                Some("2023-01-01T00:00"),
                None,
            ],
        );
        let values: Vec<_> = out.int64("out").unwrap().iter().collect();
        // Python: (date(2024, 2, 29) - date(1970, 1, 1)).days == 19782, etc.
        assert_eq!(
            values,
            vec![
                Some(0),
                Some(19_782),
                Some(-1),
                Some(2_932_896),
                Some(-719_468),
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
        let errs = errors(&out);
        assert_eq!(
            errs[5],
            err("`2023-02-29` is not a valid date: 2023-02 has 28 days")
        );
        assert_eq!(
            errs[6],
            err("`2023-13-01` is not a valid date: there is no month 13")
        );
        for e in &errs[7..10] {
            assert!(
                e.as_deref()
                    .unwrap()
                    .contains("is not an ISO date (expected YYYY-MM-DD)"),
                "{e:?}"
            );
        }
        assert_eq!(errs[10], None);
    }

    #[test]
    fn days_from_civil_counts_every_day_once() {
        // walk 1899-01-01 .. 2101-12-31 day by day: consecutive numbers
        let mut expected = days_from_civil(1899, 1, 1);
        assert_eq!(expected, -25_932);
        for year in 1899..=2101 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(i64::from(year), month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1900, 1, 1), -25_567);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(100);
        let out = run("float64", &[Some(&long)]);
        let message = errors(&out)[0].clone().unwrap();
        assert_eq!(message, format!("`{}…` is not a number", "x".repeat(40)));
        // cut on a character boundary
        assert_eq!(quoted(&"é".repeat(50)), format!("`{}…`", "é".repeat(40)));
    }

    #[test]
    fn output_may_replace_the_input_column_and_errors_may_be_renamed() {
        let (name, value) = to("int64", "n");
        let out = process::<Cast>(
            &[
                ("column", "n".into()),
                (&name, value),
                ("errors", "n_why".into()),
            ],
            text_chunk("n", &[Some("1"), Some("x")]),
        )
        .unwrap();
        assert_eq!(
            out.int64("n").unwrap().iter().collect::<Vec<_>>(),
            vec![Some(1), None]
        );
        assert_eq!(
            out.text("n_why").unwrap().get(1),
            Some("`x` is not an integer")
        );
        // same input, same output
        let (name, value) = to("int64", "n");
        let again = process::<Cast>(
            &[
                ("column", "n".into()),
                (&name, value),
                ("errors", "n_why".into()),
            ],
            text_chunk("n", &[Some("1"), Some("x")]),
        )
        .unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn exactly_one_target_with_one_name_is_required() {
        let input = || text_chunk("raw", &[Some("1")]);
        let run = |params: &[(&str, ParamValue)]| {
            process::<Cast>(params, input()).unwrap_err().to_string()
        };
        let column = ("column", ParamValue::from("raw"));
        let err = run(std::slice::from_ref(&column));
        assert!(err.contains("set one of the params `to_float64`"), "{err}");
        let (f, fv) = to("float64", "a");
        let (i, iv) = to("int64", "b");
        let err = run(&[column.clone(), (&f, fv.clone()), (&i, iv)]);
        assert!(
            err.contains("set only one") && err.contains("`to_float64`, `to_int64`"),
            "{err}"
        );
        let two: &[&str] = &["a", "b"];
        let err = run(&[column.clone(), ("to_date", two.into())]);
        assert!(
            err.contains("param `to_date` must name one output column, got 2"),
            "{err}"
        );
        let err = run(&[column.clone(), (&f, fv.clone()), ("errors", "a".into())]);
        assert!(
            err.contains("param `errors` and param `to_float64` both name column `a`"),
            "{err}"
        );
        let err = run(&[column.clone(), (&f, fv.clone()), ("errors", "raw".into())]);
        assert!(
            err.contains("param `errors` names the input column `raw`"),
            "{err}"
        );
        let err = run(&[column, (&f, ParamValue::TextList(vec![String::new()]))]);
        assert!(
            err.contains("param `to_float64` must not be empty"),
            "{err}"
        );
        let err = run(&[(&f, fv)]);
        assert!(
            err.contains("param `column`") && err.contains("required"),
            "{err}"
        );
    }

    #[test]
    fn absent_or_non_text_column_is_an_error_naming_it() {
        let (f, fv) = to("float64", "out");
        let err = process::<Cast>(
            &[("column", "raw".into()), (&f, fv.clone())],
            text_chunk("other", &[Some("1")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("column `raw`"), "{err}");
        let err = process::<Cast>(
            &[("column", "raw".into()), (&f, fv)],
            float64_chunk("raw", &[Some(1.0)]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("column `raw` should be text, got float64"),
            "{err}"
        );
    }

    #[test]
    fn describe_declares_one_write_per_target_each_named_by_its_own_param() {
        let info = Cast::describe();
        assert!(!info.fits);
        assert_eq!(info.reads.len(), 1);
        let writes: Vec<_> = info
            .writes
            .iter()
            .map(|w| (w.name_param.as_deref(), w.type_))
            .collect();
        assert_eq!(
            writes,
            vec![
                (Some("to_float64"), ColumnType::Float64),
                (Some("to_int64"), ColumnType::Int64),
                (Some("to_boolean"), ColumnType::Boolean),
                (Some("to_date"), ColumnType::Int64),
                (Some("errors"), ColumnType::Text),
            ]
        );
        // the to_* params default to no column at all
        for target in Target::ALL {
            let spec = info
                .params
                .iter()
                .find(|p| p.name == target.param())
                .unwrap();
            assert_eq!(spec.default, Some(ParamValue::TextList(vec![])));
        }
    }
}
