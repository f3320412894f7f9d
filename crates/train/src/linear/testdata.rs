//! The real data sets under `crates/train/tests/data/tabular/` (provenance in its
//! README), compiled in so the tests need no working-directory setup.

use ndarray::Array2;

use super::super::{Features, Target};

fn csv(name: &str) -> &'static str {
    match name {
        "breast_cancer" => include_str!("../../tests/data/tabular/sklearn_breast_cancer.csv"),
        "wine" => include_str!("../../tests/data/tabular/sklearn_wine.csv"),
        "digits" => include_str!("../../tests/data/tabular/sklearn_digits.csv"),
        "diabetes" => include_str!("../../tests/data/tabular/sklearn_diabetes.csv"),
        other => panic!("no test data set {other}"),
    }
}

/// Features and the last column, `target`, as raw numbers.
fn load(name: &str) -> (Array2<f64>, Vec<f64>) {
    let mut lines = csv(name).lines();
    let columns = lines.next().expect("header").split(',').count();
    let (mut values, mut target) = (Vec::new(), Vec::new());
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<f64> = line
            .split(',')
            .map(|f| f.parse().expect("number"))
            .collect();
        assert_eq!(fields.len(), columns);
        values.extend_from_slice(&fields[..columns - 1]);
        target.push(fields[columns - 1]);
    }
    let rows = target.len();
    (
        Array2::from_shape_vec((rows, columns - 1), values).expect("shape"),
        target,
    )
}

pub(crate) fn classification(name: &str) -> (Features, Target) {
    let (x, target) = load(name);
    let labels: Vec<i64> = target.iter().map(|&v| v as i64).collect();
    (Features::Dense(x), Target::classes(&labels))
}

pub(crate) fn regression(name: &str) -> (Features, Target) {
    let (x, target) = load(name);
    (Features::Dense(x), Target::Values(target))
}

/// Standardises columns with the training rows' mean and deviation, as
/// scikit-learn's `StandardScaler` (constant columns are left centred).
pub(crate) fn standardise(train: &Features, test: &Features) -> (Features, Features) {
    let (Features::Dense(a), Features::Dense(b)) = (train, test) else {
        panic!("dense only")
    };
    let mean = a.mean_axis(ndarray::Axis(0)).expect("rows");
    let std = a
        .std_axis(ndarray::Axis(0), 0.0)
        .mapv(|s| if s > 0.0 { s } else { 1.0 });
    (
        Features::Dense((a - &mean) / &std),
        Features::Dense((b - &mean) / &std),
    )
}
