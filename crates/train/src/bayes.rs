//! Naive Bayes: Gaussian (dense) and multinomial (dense or sparse).
//!
//! Both are one counting pass, written here directly (as scikit-learn's
//! `GaussianNB` / `MultinomialNB` define them) rather than through
//! linfa-bayes, whose multinomial model takes dense `Array2` only: the
//! hashed text features it is meant for are sparse.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::data::check_fit_input;
use super::linear::{DenseRows, check_predict_input, class_codes};
use super::{
    Features, HyperParams, Learner, Model, Predict, Predictions, Target, Task, TrainError,
};

/// `gaussian-nb`: `var_smoothing` = 1e-9 (≥ 0), added to every variance
/// as a fraction of the largest feature variance.
pub fn gaussian_nb(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let var_smoothing = p.float("var_smoothing", 1e-9)?;
    HyperParams::in_range("var_smoothing", var_smoothing, 0.0, f64::MAX)?;
    p.finish()?;
    Ok(Box::new(GaussianNb { var_smoothing }))
}

/// `multinomial-nb`: `alpha` = 1.0 (additive smoothing, ≥ 0; scikit-learn
/// clamps to 1e-10 and so do we). Features must be non-negative.
pub fn multinomial_nb(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let alpha = p.float("alpha", 1.0)?;
    HyperParams::in_range("alpha", alpha, 0.0, f64::MAX)?;
    p.finish()?;
    Ok(Box::new(MultinomialNb {
        alpha: alpha.max(1e-10),
    }))
}

#[derive(Debug, Clone)]
pub struct GaussianNb {
    pub var_smoothing: f64,
}

#[derive(Debug, Clone)]
pub struct MultinomialNb {
    pub alpha: f64,
}

/// Per class: prior, feature means and (smoothed) variances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GaussianNbModel {
    classes: Vec<i64>,
    log_prior: Vec<f64>,
    /// classes × features
    mean: Array2<f64>,
    variance: Array2<f64>,
}

/// Per class: log prior and log feature probabilities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MultinomialNbModel {
    classes: Vec<i64>,
    log_prior: Vec<f64>,
    /// classes × features
    log_prob: Array2<f64>,
}

fn class_priors(codes: &[usize], n_classes: usize) -> (Vec<f64>, Vec<f64>) {
    let mut counts = vec![0.0; n_classes];
    codes.iter().for_each(|&c| counts[c] += 1.0);
    let n = codes.len() as f64;
    let log_prior = counts.iter().map(|c| (c / n).ln()).collect();
    (counts, log_prior)
}

/// Class predictions from joint log-likelihoods (rows × classes), turned
/// into probabilities in place by a log-sum-exp per row.
fn from_log_likelihood(classes: &[i64], mut joint: Array2<f64>) -> Predictions {
    let mut predicted = Vec::with_capacity(joint.nrows());
    for mut row in joint.outer_iter_mut() {
        let mut best = 0;
        for k in 1..row.len() {
            if row[k] > row[best] {
                best = k;
            }
        }
        let max = row[best];
        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
        row.mapv_inplace(|v| (v - max).exp() / sum);
        predicted.push(classes[best]);
    }
    Predictions::Classes {
        classes: classes.to_vec(),
        predicted,
        proba: Some(joint),
    }
}

impl Learner for GaussianNb {
    fn algorithm(&self) -> &'static str {
        "gaussian-nb"
    }

    fn task(&self) -> Task {
        Task::Classification
    }

    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, y)?;
        let (classes, codes) = class_codes(y, "gaussian-nb")?;
        let Features::Dense(x) = x else {
            return Err(TrainError::Data(
                "gaussian-nb takes dense features; for sparse counts or tf-idf use multinomial-nb"
                    .into(),
            ));
        };
        let (k, d) = (classes.len(), x.ncols());
        let (counts, log_prior) = class_priors(&codes, k);
        let rows = DenseRows::new(x);
        let mut mean = Array2::<f64>::zeros((k, d));
        for (i, &c) in codes.iter().enumerate() {
            for (m, v) in mean.row_mut(c).iter_mut().zip(rows.row(i)) {
                *m += v;
            }
        }
        for (c, mut row) in mean.outer_iter_mut().enumerate() {
            row.mapv_inplace(|v| v / counts[c]);
        }
        // Two-pass variance (sum of squared deviations): stable.
        let mut variance = Array2::<f64>::zeros((k, d));
        for (i, &c) in codes.iter().enumerate() {
            let centre = mean.row(c);
            for ((s, v), m) in variance.row_mut(c).iter_mut().zip(rows.row(i)).zip(centre) {
                *s += (v - m) * (v - m);
            }
        }
        for (c, mut row) in variance.outer_iter_mut().enumerate() {
            row.mapv_inplace(|v| v / counts[c]);
        }
        let largest_variance = x
            .var_axis(ndarray::Axis(0), 0.0)
            .fold(0.0f64, |m, v| m.max(*v));
        let epsilon = self.var_smoothing * largest_variance;
        variance.mapv_inplace(|v| v + epsilon);
        if variance.iter().any(|&v| v <= 0.0) {
            return Err(TrainError::Data(
                "gaussian-nb: a feature is constant within a class and var_smoothing is 0; set var_smoothing > 0"
                    .into(),
            ));
        }
        Ok(Model::GaussianNb(GaussianNbModel {
            classes,
            log_prior,
            mean,
            variance,
        }))
    }
}

impl Predict for GaussianNbModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.mean.ncols())?;
        let Features::Dense(x) = x else {
            return Err(TrainError::Data("gaussian-nb takes dense features".into()));
        };
        let rows = DenseRows::new(x);
        let k = self.classes.len();
        // Per class: log prior − ½ Σ ln(2π σ²), then − ½ Σ (x − μ)² / σ².
        let constant: Vec<f64> = (0..k)
            .map(|c| {
                self.log_prior[c]
                    - 0.5
                        * self
                            .variance
                            .row(c)
                            .iter()
                            .map(|v| (std::f64::consts::TAU * v).ln())
                            .sum::<f64>()
            })
            .collect();
        let mut joint = Array2::<f64>::zeros((rows.rows(), k));
        for (i, mut out) in joint.outer_iter_mut().enumerate() {
            let row = rows.row(i);
            for c in 0..k {
                let distance: f64 = row
                    .iter()
                    .zip(self.mean.row(c))
                    .zip(self.variance.row(c))
                    .map(|((v, m), s)| (v - m) * (v - m) / s)
                    .sum();
                out[c] = constant[c] - 0.5 * distance;
            }
        }
        Ok(from_log_likelihood(&self.classes, joint))
    }
}

fn negative_feature(row: usize, feature: usize) -> TrainError {
    TrainError::Data(format!(
        "multinomial-nb needs non-negative features (counts or tf-idf), but feature {feature} of row {row} is \
         negative (signed hashing? turn alternate signs off)"
    ))
}

impl Learner for MultinomialNb {
    fn algorithm(&self) -> &'static str {
        "multinomial-nb"
    }

    fn task(&self) -> Task {
        Task::Classification
    }

    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, y)?;
        let (classes, codes) = class_codes(y, "multinomial-nb")?;
        let (k, d) = (classes.len(), x.cols());
        let (_, log_prior) = class_priors(&codes, k);
        let mut feature_count = Array2::<f64>::zeros((k, d));
        match x {
            Features::Dense(m) => {
                let rows = DenseRows::new(m);
                for (i, &c) in codes.iter().enumerate() {
                    for (j, (f, &v)) in feature_count
                        .row_mut(c)
                        .iter_mut()
                        .zip(rows.row(i))
                        .enumerate()
                    {
                        if v < 0.0 {
                            return Err(negative_feature(i, j));
                        }
                        *f += v;
                    }
                }
            }
            Features::Sparse(m) => {
                for (i, &c) in codes.iter().enumerate() {
                    let (idx, val) = m.row(i);
                    let mut counts = feature_count.row_mut(c);
                    for (&j, &v) in idx.iter().zip(val) {
                        if v < 0.0 {
                            return Err(negative_feature(i, j as usize));
                        }
                        counts[j as usize] += f64::from(v);
                    }
                }
            }
        }
        let mut log_prob = feature_count;
        for mut row in log_prob.outer_iter_mut() {
            let total = row.sum() + self.alpha * d as f64;
            let log_total = total.ln();
            row.mapv_inplace(|v| (v + self.alpha).ln() - log_total);
        }
        Ok(Model::MultinomialNb(MultinomialNbModel {
            classes,
            log_prior,
            log_prob,
        }))
    }
}

impl Predict for MultinomialNbModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.log_prob.ncols())?;
        let k = self.classes.len();
        let mut joint = Array2::<f64>::zeros((x.rows(), k));
        for (i, mut out) in joint.outer_iter_mut().enumerate() {
            for c in 0..k {
                let log_prob = self.log_prob.row(c);
                out[c] = self.log_prior[c]
                    + match x {
                        Features::Dense(m) => m
                            .row(i)
                            .iter()
                            .zip(log_prob)
                            .map(|(v, l)| v * l)
                            .sum::<f64>(),
                        Features::Sparse(m) => {
                            let (idx, val) = m.row(i);
                            idx.iter()
                                .zip(val)
                                .map(|(&j, &v)| f64::from(v) * log_prob[j as usize])
                                .sum::<f64>()
                        }
                    };
            }
        }
        Ok(from_log_likelihood(&self.classes, joint))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::linear::testdata;
    use super::super::split::train_test_split;
    use super::super::{SparseMatrix, learner};
    use super::*;

    fn accuracy(y: &Target, p: &Predictions) -> f64 {
        super::super::search::score("accuracy", y, p).unwrap()
    }

    fn held_out(name: &str) -> (Features, Target, Features, Target) {
        let (x, y) = testdata::classification(name);
        let split = train_test_split(&y, 0.25, 0).unwrap();
        (
            x.select_rows(&split.train),
            y.select_rows(&split.train),
            x.select_rows(&split.test),
            y.select_rows(&split.test),
        )
    }

    fn fit(name: &str, x: &Features, y: &Target) -> Model {
        learner(name, &HyperParams::default(), 0)
            .unwrap()
            .fit(x, Some(y))
            .unwrap()
    }

    // References: scikit-learn 1.9.1 on the same split, raw features.
    #[test]
    fn gaussian_nb_matches_scikit_learn() {
        for (name, want) in [
            ("breast_cancer", 0.9225352112676056),
            ("wine", 0.9111111111111111),
            ("digits", 0.8159645232815964),
        ] {
            let (x, y, x_test, y_test) = held_out(name);
            let model = fit("gaussian-nb", &x, &y);
            let got = accuracy(&y_test, &model.predict(&x_test).unwrap());
            assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
            assert_eq!(model.to_bytes(), fit("gaussian-nb", &x, &y).to_bytes());
        }
    }

    #[test]
    fn multinomial_nb_matches_scikit_learn_and_takes_sparse_input() {
        let (x, y, x_test, y_test) = held_out("digits");
        let dense = fit("multinomial-nb", &x, &y);
        let got = accuracy(&y_test, &dense.predict(&x_test).unwrap());
        assert!((got - 0.88470066518847).abs() < 1e-9, "{got}");

        let to_sparse = |x: &Features| {
            let Features::Dense(m) = x else {
                unreachable!()
            };
            let mut s = SparseMatrix {
                dim: m.ncols(),
                row_offsets: vec![0],
                ..Default::default()
            };
            for row in m.outer_iter() {
                for (j, &v) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                    s.indices.push(j as u32);
                    s.values.push(v as f32);
                }
                s.row_offsets.push(s.indices.len());
            }
            Features::Sparse(s)
        };
        let sparse = fit("multinomial-nb", &to_sparse(&x), &y);
        assert_eq!(dense.to_bytes(), sparse.to_bytes());
        assert_eq!(
            dense.predict(&x_test).unwrap(),
            sparse.predict(&to_sparse(&x_test)).unwrap()
        );
    }

    #[test]
    fn bad_input_is_rejected() {
        let (x, y, _, _) = held_out("wine");
        let Features::Dense(mut m) = x.clone() else {
            unreachable!()
        };
        m[[3, 2]] = -1.0;
        let err = fit_err("multinomial-nb", &Features::Dense(m), &y);
        assert!(err.contains("feature 2 of row 3 is negative"), "{err}");
        let sparse = Features::Sparse(SparseMatrix {
            dim: 2,
            row_offsets: vec![0, 0, 0],
            ..Default::default()
        });
        assert!(fit_err("gaussian-nb", &sparse, &Target::classes(&[0, 1])).contains("dense"));
        let params = HyperParams::new(BTreeMap::from([(
            "var_smooting".to_string(),
            super::super::HyperValue::Float(1.0),
        )]));
        assert!(learner("gaussian-nb", &params, 0).is_err());
    }

    fn fit_err(name: &str, x: &Features, y: &Target) -> String {
        learner(name, &HyperParams::default(), 0)
            .unwrap()
            .fit(x, Some(y))
            .err()
            .unwrap()
            .to_string()
    }
}
