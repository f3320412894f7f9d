//! Linear models: logistic regression ([`logistic`]: binary or
//! multinomial, dense or sparse, own L-BFGS in [`lbfgs`]) and least-squares
//! regression ([`regression`]: OLS, ridge, elastic net; dense).
//!
//! Also home to the input helpers the other learners of this family
//! (naive Bayes, k-means) share: row-major dense access, predict-time
//! checks and class encoding.

mod lbfgs;
pub mod logistic;
pub mod regression;

use std::borrow::Cow;

use ndarray::Array2;

pub use logistic::{LogisticModel, LogisticRegression};
pub use regression::{LinearModel, LinearRegression, Penalty};

use super::{Features, HyperParams, Learner, Target, TrainError};

/// Dense rows as one row-major slice (copied only when `x` is not already
/// in standard layout), so row loops are plain slice loops.
pub(crate) struct DenseRows<'a> {
    data: Cow<'a, [f64]>,
    cols: usize,
}

impl<'a> DenseRows<'a> {
    pub(crate) fn new(x: &'a Array2<f64>) -> DenseRows<'a> {
        let data = match x.as_slice() {
            Some(slice) => Cow::Borrowed(slice),
            None => Cow::Owned(x.iter().copied().collect()),
        };
        DenseRows {
            data,
            cols: x.ncols(),
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.data.len().checked_div(self.cols).unwrap_or(0)
    }

    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Checks prediction input: the fitted feature count, finite values.
pub(crate) fn check_predict_input(x: &Features, n_features: usize) -> Result<(), TrainError> {
    if x.cols() != n_features {
        return Err(TrainError::Data(format!(
            "the model was fitted on {n_features} features but got {}",
            x.cols()
        )));
    }
    match x {
        Features::Dense(m) => {
            if let Some((pos, _)) = m.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(TrainError::Data(format!(
                    "feature {} of row {} is NaN or infinite (impute it first)",
                    pos.1, pos.0
                )));
            }
            Ok(())
        }
        Features::Sparse(m) => m.validate(),
    }
}

/// The labels present in `y` (sorted) and each row's index into them;
/// a class listed in `y` but without rows (e.g. after a split) is dropped,
/// as scikit-learn only knows the classes it saw.
pub(crate) fn class_codes(
    y: Option<&Target>,
    learner: &str,
) -> Result<(Vec<i64>, Vec<usize>), TrainError> {
    let (classes, codes) = match y {
        Some(Target::Classes { classes, codes }) => (classes, codes),
        Some(Target::Values(_)) => {
            return Err(TrainError::Data(format!(
                "{learner} is a classifier: the target must be class labels, not real values"
            )));
        }
        None => return Err(TrainError::Data(format!("{learner} needs a target column"))),
    };
    let mut seen = vec![false; classes.len()];
    for &c in codes {
        *seen
            .get_mut(c)
            .ok_or_else(|| TrainError::Data("a class code is out of range".into()))? = true;
    }
    let mut remap = vec![usize::MAX; classes.len()];
    let mut present = Vec::new();
    for (c, &label) in classes.iter().enumerate() {
        if seen[c] {
            remap[c] = present.len();
            present.push(label);
        }
    }
    if present.len() < 2 {
        return Err(TrainError::Data(format!(
            "{learner} needs at least two classes in the training rows, got {}",
            present.len()
        )));
    }
    Ok((present, codes.iter().map(|&c| remap[c]).collect()))
}

fn positive(name: &str, value: f64) -> Result<f64, TrainError> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(TrainError::Hyper {
            name: name.into(),
            message: format!("must be positive, got {value}"),
        })
    }
}

fn at_least_one(name: &str, value: i64) -> Result<usize, TrainError> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| TrainError::Hyper {
            name: name.into(),
            message: format!("must be at least 1, got {value}"),
        })
}

/// `logistic-regression`. Hyperparameters (defaults as scikit-learn's
/// `LogisticRegression`): `c` = 1.0 (inverse L2 strength, > 0),
/// `max_iter` = 100, `tol` = 1e-4 (on the max gradient component),
/// `fit_intercept` = true, `class_weight` = "none" | "balanced".
/// Deterministic; the seed is unused. Large fits (8M values and up) run
/// the loss pass on up to 4 threads; the model does not depend on that.
pub fn logistic_regression(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let learner = LogisticRegression {
        c: positive("c", p.float("c", 1.0)?)?,
        max_iter: at_least_one("max_iter", p.int("max_iter", 100)?)?,
        tol: positive("tol", p.float("tol", 1e-4)?)?,
        fit_intercept: p.bool("fit_intercept", true)?,
        balanced: p.choice("class_weight", &["none", "balanced"])? == "balanced",
    };
    p.finish()?;
    Ok(Box::new(learner))
}

/// `linear-regression`: ordinary least squares. `fit_intercept` = true.
pub fn linear_regression(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let learner = LinearRegression {
        penalty: Penalty::None,
        fit_intercept: p.bool("fit_intercept", true)?,
    };
    p.finish()?;
    Ok(Box::new(learner))
}

/// `ridge`: `‖y − Xw − b‖² + alpha·‖w‖²`. `alpha` = 1.0 (≥ 0),
/// `fit_intercept` = true.
pub fn ridge(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let alpha = p.float("alpha", 1.0)?;
    HyperParams::in_range("alpha", alpha, 0.0, f64::MAX)?;
    let learner = LinearRegression {
        penalty: Penalty::Ridge { alpha },
        fit_intercept: p.bool("fit_intercept", true)?,
    };
    p.finish()?;
    Ok(Box::new(learner))
}

/// `elastic-net`, scikit-learn's objective
/// `‖y − Xw − b‖² / (2n) + alpha·l1_ratio·‖w‖₁ + alpha·(1 − l1_ratio)·‖w‖² / 2`,
/// by cyclic coordinate descent with scikit-learn's duality-gap stop.
/// `alpha` = 1.0 (≥ 0), `l1_ratio` = 0.5 (in [0, 1]), `max_iter` = 1000,
/// `tol` = 1e-4, `fit_intercept` = true.
pub fn elastic_net(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let alpha = p.float("alpha", 1.0)?;
    HyperParams::in_range("alpha", alpha, 0.0, f64::MAX)?;
    let l1_ratio = p.float("l1_ratio", 0.5)?;
    HyperParams::in_range("l1_ratio", l1_ratio, 0.0, 1.0)?;
    let learner = LinearRegression {
        penalty: Penalty::ElasticNet {
            alpha,
            l1_ratio,
            max_iter: at_least_one("max_iter", p.int("max_iter", 1000)?)?,
            tol: positive("tol", p.float("tol", 1e-4)?)?,
        },
        fit_intercept: p.bool("fit_intercept", true)?,
    };
    p.finish()?;
    Ok(Box::new(learner))
}

#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;
