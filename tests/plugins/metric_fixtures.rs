//! The scikit-learn fixtures (tests/fixtures/metrics/*.json, made by
//! generate.py there) and helpers to run an evaluator over them through the
//! host. Shared by the evaluator plugins' modules.

use std::ops::Range;
use std::path::Path;

use serde_json::Value;
use sluice_core::contract::{Metric, ParamValue};
use sluice_core::{Chunk, ColumnValues};

pub const TOLERANCE: f64 = 1e-9;

/// Every fixture of `kind`, by name.
pub fn load(kind: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/metrics");
    let mut cases: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
        .filter(|case: &Value| case["kind"] == kind)
        .collect();
    cases.sort_by_key(|case| case["name"].as_str().unwrap().to_string());
    assert!(
        !cases.is_empty(),
        "no `{kind}` fixtures in {}",
        dir.display()
    );
    cases
}

/// A fixture number ("inf" strings for infinities).
pub fn num(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "inf" => f64::INFINITY,
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

pub fn ints(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

pub fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(num).collect()
}

pub fn int_column(values: &[i64]) -> ColumnValues {
    ColumnValues::Int64 {
        values: values.to_vec(),
        valid: vec![],
    }
}

pub fn float_column(values: &[f64]) -> ColumnValues {
    ColumnValues::Float64 {
        values: values.to_vec(),
        valid: vec![],
    }
}

pub fn text_column(values: &[&str]) -> ColumnValues {
    sluice_tests::text_chunk("x", values)
        .columns
        .remove(0)
        .values
}

/// `rows` split into three uneven chunks, so accumulation across chunks is
/// exercised.
pub fn chunk_ranges(rows: usize) -> Vec<Range<usize>> {
    let (a, b) = (rows / 5, rows / 2);
    vec![0..a, a..b, b..rows]
}

/// A named column, sliced to a row range on demand.
pub type ColumnSource<'a> = (&'a str, &'a dyn Fn(Range<usize>) -> ColumnValues);

/// Builds one chunk per range from whole columns.
pub fn chunks(columns: &[ColumnSource], rows: usize) -> Vec<Chunk> {
    chunk_ranges(rows)
        .into_iter()
        .map(|range| {
            let mut chunk = Chunk::new(range.len() as u32);
            for (name, column) in columns {
                chunk.set(name, column(range.clone()));
            }
            chunk
        })
        .collect()
}

/// Loads `plugin` under `policy`, runs every chunk through `process`
/// (checking it writes no column) and returns `finish`'s metrics.
pub fn evaluate(
    plugin: &str,
    policy: &str,
    given: &[(&str, ParamValue)],
    input: Vec<Chunk>,
) -> Result<Vec<Metric>, String> {
    let loaded = sluice_tests::load_stdlib(plugin, policy);
    let given: Vec<(String, ParamValue)> = given
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let (params, effective) = loaded.effective_grant(&given).unwrap();
    let mut session = loaded.session(&params, &effective, None).unwrap();
    for chunk in input {
        let rows = chunk.rows;
        let out = session.process(chunk).map_err(|e| e.to_string())?;
        assert_eq!(
            (out.rows, out.columns.len()),
            (rows, 0),
            "{plugin} writes no column"
        );
    }
    session.finish().map_err(|e| e.to_string())
}

/// The value of the metric called `name` with exactly `labels`.
pub fn metric(metrics: &[Metric], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Metric> = metrics
        .iter()
        .filter(|m| {
            m.name == name
                && m.labels.len() == labels.len()
                && m.labels
                    .iter()
                    .zip(labels)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        })
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?} returned twice");
    matching.first().map(|m| m.value)
}

/// Asserts the metric exists and is within [`TOLERANCE`] of `want`.
pub fn assert_metric(
    case: &str,
    metrics: &[Metric],
    name: &str,
    labels: &[(&str, &str)],
    want: f64,
) {
    let got = metric(metrics, name, labels)
        .unwrap_or_else(|| panic!("{case}: no metric {name} {labels:?}"));
    assert!(
        (got - want).abs() <= TOLERANCE,
        "{case}: {name} {labels:?} = {got}, scikit-learn says {want}"
    );
}

/// How many metrics are called `name`.
pub fn count(metrics: &[Metric], name: &str) -> usize {
    metrics.iter().filter(|m| m.name == name).count()
}
