//! Seeded train/test splits and k-fold partitions.
//!
//! Classification targets are stratified: every class keeps (as nearly as
//! rounding allows) its share in each part, so a rare class is never
//! missing from training. Regression targets are shuffled plainly. The
//! same target and seed always give the same indices (ChaCha-based
//! `StdRng` of the pinned rand version).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Target, TrainError};

/// Row indices of one split; each list is in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// The rows of each class, in row order.
fn rows_by_class(classes: &[i64], codes: &[usize]) -> Vec<Vec<usize>> {
    let mut by_class = vec![Vec::new(); classes.len()];
    for (row, &code) in codes.iter().enumerate() {
        by_class[code].push(row);
    }
    by_class
}

/// Splits rows into train and test, `test` being the test fraction (in
/// (0, 1)). Classes are stratified and each needs at least two rows (one
/// per side); regression rows are shuffled.
pub fn train_test_split(y: &Target, test: f64, seed: u64) -> Result<Split, TrainError> {
    if !(test > 0.0 && test < 1.0) {
        return Err(TrainError::Data(format!(
            "the test fraction must be in (0, 1), got {test}"
        )));
    }
    let n = y.len();
    if n < 2 {
        return Err(TrainError::Data(format!(
            "cannot split {n} rows into train and test"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    match y {
        Target::Classes { classes, codes } => {
            for (class, mut rows) in classes.iter().zip(rows_by_class(classes, codes)) {
                if rows.is_empty() {
                    continue;
                }
                if rows.len() < 2 {
                    return Err(TrainError::Data(format!(
                        "class {class} has {} row(s); a stratified split needs at least 2",
                        rows.len()
                    )));
                }
                rows.shuffle(&mut rng);
                let n_test = ((rows.len() as f64 * test).round() as usize).clamp(1, rows.len() - 1);
                split.test.extend_from_slice(&rows[..n_test]);
                split.train.extend_from_slice(&rows[n_test..]);
            }
        }
        Target::Values(_) => {
            let mut rows: Vec<usize> = (0..n).collect();
            rows.shuffle(&mut rng);
            // At least one row each side, as scikit-learn's ceil(test · n).
            let n_test = ((n as f64 * test).ceil() as usize).clamp(1, n - 1);
            split.test.extend_from_slice(&rows[..n_test]);
            split.train.extend_from_slice(&rows[n_test..]);
        }
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

/// Partitions rows into `k` folds (k ≥ 2); fold `i`'s test rows are the
/// i-th part, its train rows all others. Classes are stratified and each
/// needs at least `k` rows so that every fold tests it; regression rows
/// are shuffled and dealt into near-equal parts.
pub fn k_fold(y: &Target, k: usize, seed: u64) -> Result<Vec<Split>, TrainError> {
    let n = y.len();
    if k < 2 {
        return Err(TrainError::Data(format!("k-fold needs k >= 2, got {k}")));
    }
    if n < k {
        return Err(TrainError::Data(format!(
            "cannot make {k} folds of {n} rows"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; n];
    match y {
        Target::Classes { classes, codes } => {
            // Deal each class's shuffled rows round-robin, continuing the
            // count across classes so fold sizes differ by at most one.
            let mut next = 0usize;
            for (class, mut rows) in classes.iter().zip(rows_by_class(classes, codes)) {
                if rows.is_empty() {
                    continue;
                }
                if rows.len() < k {
                    return Err(TrainError::Data(format!(
                        "class {class} has {} row(s); stratified {k}-fold needs at least {k}",
                        rows.len()
                    )));
                }
                rows.shuffle(&mut rng);
                for row in rows {
                    fold_of[row] = next % k;
                    next += 1;
                }
            }
        }
        Target::Values(_) => {
            let mut rows: Vec<usize> = (0..n).collect();
            rows.shuffle(&mut rng);
            for (position, row) in rows.into_iter().enumerate() {
                fold_of[row] = position * k / n;
            }
        }
    }
    Ok((0..k)
        .map(|fold| {
            let (test, train) = (0..n).partition(|&row| fold_of[row] == fold);
            Split { train, test }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::linear::testdata;
    use super::*;

    #[test]
    fn stratified_split_keeps_class_shares_and_is_deterministic() {
        let (_, y) = testdata::classification("wine");
        let split = train_test_split(&y, 0.25, 7).unwrap();
        assert_eq!(split, train_test_split(&y, 0.25, 7).unwrap());
        assert_ne!(split, train_test_split(&y, 0.25, 8).unwrap());
        assert_eq!(split.train.len() + split.test.len(), y.len());
        let Target::Classes { codes, .. } = &y else {
            unreachable!()
        };
        for class in 0..3 {
            let total = codes.iter().filter(|&&c| c == class).count() as f64;
            let in_test = split.test.iter().filter(|&&r| codes[r] == class).count() as f64;
            assert!(
                (in_test / total - 0.25).abs() < 0.02,
                "class {class}: {in_test}/{total}"
            );
        }
        let mut all: Vec<usize> = split.train.iter().chain(&split.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..y.len()).collect::<Vec<_>>());
    }

    #[test]
    fn regression_split_sizes_like_scikit_learn() {
        let y = Target::Values((0..442).map(f64::from).collect());
        let split = train_test_split(&y, 0.2, 1).unwrap();
        assert_eq!(split.test.len(), 89);
        assert_eq!(split.train.len(), 353);
    }

    #[test]
    fn rejects_classes_too_small_to_split() {
        let y = Target::classes(&[0, 0, 0, 1]);
        let err = train_test_split(&y, 0.5, 0).unwrap_err().to_string();
        assert!(err.contains("class 1 has 1 row"), "{err}");
        let y = Target::classes(&[0, 0, 0, 0, 1, 1]);
        let err = k_fold(&y, 3, 0).unwrap_err().to_string();
        assert!(
            err.contains("class 1 has 2 row(s); stratified 3-fold"),
            "{err}"
        );
        assert!(train_test_split(&y, 1.0, 0).is_err());
    }

    #[test]
    fn k_fold_partitions_every_row_once_and_balances_classes() {
        let (_, y) = testdata::classification("breast_cancer");
        let folds = k_fold(&y, 5, 3).unwrap();
        assert_eq!(folds, k_fold(&y, 5, 3).unwrap());
        let Target::Classes { codes, .. } = &y else {
            unreachable!()
        };
        let mut tested = vec![0; y.len()];
        for fold in &folds {
            assert_eq!(fold.train.len() + fold.test.len(), y.len());
            assert!(fold.test.len().abs_diff(y.len() / 5) <= 1);
            fold.test.iter().for_each(|&r| tested[r] += 1);
            let positives = fold.test.iter().filter(|&&r| codes[r] == 1).count();
            assert!(positives.abs_diff(357 / 5) <= 1, "{positives}");
        }
        assert!(tested.iter().all(|&t| t == 1));

        let values = Target::Values(vec![0.0; 10]);
        let sizes: Vec<usize> = k_fold(&values, 3, 0)
            .unwrap()
            .iter()
            .map(|f| f.test.len())
            .collect();
        assert_eq!(sizes, [4, 3, 3]);
    }
}
