//! `ftrl`: online logistic regression by linfa-ftrl (FTRL-proximal, as in
//! McMahan et al., "Ad Click Prediction: a View from the Trenches").
//!
//! The model is fitted one row at a time, in the order the rows come, so
//! [`FtrlModel::update`] on new rows continues exactly where fitting
//! stopped: a model fitted on rows A and updated with rows B is the model
//! fitted on A followed by B (byte for byte), without revisiting A. The
//! retraining loop can call it with feedback instead of refitting.
//!
//! linfa-ftrl has no intercept; with `fit_intercept` a constant 1 feature
//! is appended, whose weight is the intercept (penalised like the others).

use linfa::traits::{FitWith, Predict as _};
use linfa::{DatasetBase, ParamGuard};
use linfa_ftrl::Ftrl;
use ndarray::{Array1, Array2, s};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::data::check_fit_input;
use super::linear::{check_predict_input, class_codes};
use super::{
    Features, HyperParams, Learner, Model, Predict, Predictions, Target, Task, TrainError,
};

/// `ftrl`: `alpha` = 0.1 (learning rate, > 0), `beta` = 1.0 (learning-rate
/// smoothing, ≥ 0), `l1` = 0.0 and `l2` = 0.0 (penalties, in [0, 1] as
/// linfa-ftrl accepts), `epochs` = 1 (passes over the training rows),
/// `fit_intercept` = true. Binary classification; the seed draws linfa's
/// initial state.
pub fn ftrl(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let learner = FtrlLearner {
        alpha: p.float("alpha", 0.1)?,
        beta: p.float("beta", 1.0)?,
        l1: p.float("l1", 0.0)?,
        l2: p.float("l2", 0.0)?,
        epochs: p.int("epochs", 1)?,
        fit_intercept: p.bool("fit_intercept", true)?,
        seed,
    };
    HyperParams::in_range("alpha", learner.alpha, f64::MIN_POSITIVE, f64::MAX)?;
    HyperParams::in_range("beta", learner.beta, 0.0, f64::MAX)?;
    HyperParams::in_range("l1", learner.l1, 0.0, 1.0)?;
    HyperParams::in_range("l2", learner.l2, 0.0, 1.0)?;
    HyperParams::in_range("epochs", learner.epochs as f64, 1.0, 1e6)?;
    p.finish()?;
    Ok(Box::new(learner))
}

#[derive(Debug, Clone)]
pub struct FtrlLearner {
    pub alpha: f64,
    pub beta: f64,
    pub l1: f64,
    pub l2: f64,
    pub epochs: i64,
    pub fit_intercept: bool,
    pub seed: u64,
}

/// A fitted (and updatable) FTRL-proximal model: linfa's state (per
/// feature `z` and `n`) and the two class labels (positive = the larger).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FtrlModel {
    classes: Vec<i64>,
    n_features: usize,
    fit_intercept: bool,
    ftrl: Ftrl<f64>,
    /// Rows seen so far, fitting and updates.
    rows_seen: u64,
}

impl FtrlModel {
    /// The weights (the intercept last, when fitted).
    pub fn weights(&self) -> Array1<f64> {
        self.ftrl.get_weights()
    }

    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    /// `x` as linfa-ftrl reads it: dense, with the constant feature.
    fn design(&self, x: &Features) -> Result<Array2<f64>, TrainError> {
        let x = x.dense("ftrl")?;
        Ok(if self.fit_intercept {
            let mut with_bias = Array2::ones((x.nrows(), x.ncols() + 1));
            with_bias.slice_mut(s![.., ..x.ncols()]).assign(x);
            with_bias
        } else {
            x.to_owned()
        })
    }

    /// One FTRL step per row, in order.
    fn learn(&mut self, x: &Array2<f64>, positive: &Array1<bool>) -> Result<(), TrainError> {
        let params = Ftrl::<f64>::params()
            .check()
            .map_err(|e| TrainError::Fit(format!("ftrl: {e}")))?;
        for row in 0..x.nrows() {
            let dataset = DatasetBase::new(
                x.slice(s![row..row + 1, ..]),
                positive.slice(s![row..row + 1]),
            );
            // The state is the model's own; `params` only seeds new models.
            let state = std::mem::replace(&mut self.ftrl, Ftrl::new(params.clone(), 0));
            self.ftrl = params
                .fit_with(Some(state), &dataset)
                .map_err(|e| TrainError::Fit(format!("ftrl: {e}")))?;
        }
        self.rows_seen += x.nrows() as u64;
        Ok(())
    }

    /// Continues learning from new labelled rows (one step per row, in
    /// order) without revisiting the rows fitted before. Their labels must
    /// be the model's two classes.
    pub fn update(&mut self, x: &Features, y: &Target) -> Result<(), TrainError> {
        check_fit_input(x, Some(y))?;
        check_predict_input(x, self.n_features)?;
        let Target::Classes { classes, codes } = y else {
            return Err(TrainError::Data(
                "ftrl is a classifier: the target must be class labels, not real values".into(),
            ));
        };
        let mut positive = Array1::from_elem(codes.len(), false);
        for (slot, &code) in positive.iter_mut().zip(codes) {
            let label = classes[code];
            *slot = match self.classes.iter().position(|&c| c == label) {
                Some(index) => index == 1,
                None => {
                    return Err(TrainError::Data(format!(
                        "label {label} is not one of the model's classes {:?}",
                        self.classes
                    )));
                }
            };
        }
        let design = self.design(x)?;
        self.learn(&design, &positive)
    }
}

impl Learner for FtrlLearner {
    fn algorithm(&self) -> &'static str {
        "ftrl"
    }

    fn task(&self) -> Task {
        Task::Classification
    }

    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, y)?;
        let (classes, codes) = class_codes(y, "ftrl")?;
        if classes.len() != 2 {
            return Err(TrainError::Data(format!(
                "ftrl is a binary classifier; the training rows have {} classes",
                classes.len()
            )));
        }
        let n_features = x.dense("ftrl")?.ncols();
        let params = Ftrl::params_with_rng(Xoshiro256Plus::seed_from_u64(self.seed))
            .alpha(self.alpha)
            .beta(self.beta)
            .l1_ratio(self.l1)
            .l2_ratio(self.l2)
            .check()
            .map_err(|e| TrainError::Fit(format!("ftrl: {e}")))?;
        let width = n_features + usize::from(self.fit_intercept);
        let mut model = FtrlModel {
            classes,
            n_features,
            fit_intercept: self.fit_intercept,
            ftrl: Ftrl::new(params, width),
            rows_seen: 0,
        };
        let design = model.design(x)?;
        let positive: Array1<bool> = codes.iter().map(|&c| c == 1).collect();
        for _ in 0..self.epochs {
            model.learn(&design, &positive)?;
        }
        Ok(Model::Ftrl(model))
    }
}

impl Predict for FtrlModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.n_features)?;
        let design = self.design(x)?;
        let p: Array1<linfa::dataset::Pr> = self.ftrl.predict(&design);
        let p = p.mapv(|p| f64::from(*p));
        let mut proba = Array2::zeros((design.nrows(), 2));
        proba.column_mut(1).assign(&p);
        proba.column_mut(0).assign(&p.mapv(|p| 1.0 - p));
        let predicted = p
            .iter()
            .map(|&p| self.classes[usize::from(p >= 0.5)])
            .collect();
        Ok(Predictions::Classes {
            classes: self.classes.clone(),
            predicted,
            proba: Some(proba),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::linear::testdata;
    use super::super::split::train_test_split;
    use super::super::{HyperValue, learner};
    use super::*;

    fn fit(x: &Features, y: &Target) -> Model {
        learner("ftrl", &HyperParams::default(), 7)
            .unwrap()
            .fit(x, Some(y))
            .unwrap()
    }

    fn accuracy(model: &Model, x: &Features, y: &Target) -> f64 {
        let Predictions::Classes {
            classes, predicted, ..
        } = model.predict(x).unwrap()
        else {
            panic!()
        };
        let Target::Classes { codes, .. } = y else {
            panic!()
        };
        let right = predicted
            .iter()
            .zip(codes)
            .filter(|(p, c)| **p == classes[**c])
            .count();
        right as f64 / codes.len() as f64
    }

    fn breast_cancer() -> (Features, Target, Features, Target) {
        let (x, y) = testdata::classification("breast_cancer");
        let split = train_test_split(&y, 0.25, 0).unwrap();
        let (train, test) =
            testdata::standardise(&x.select_rows(&split.train), &x.select_rows(&split.test));
        (
            train,
            y.select_rows(&split.train),
            test,
            y.select_rows(&split.test),
        )
    }

    #[test]
    fn learns_breast_cancer_deterministically() {
        let (train, y_train, test, y_test) = breast_cancer();
        let model = fit(&train, &y_train);
        let held_out = accuracy(&model, &test, &y_test);
        assert!(held_out > 0.93, "{held_out}");
        assert_eq!(model.to_bytes(), fit(&train, &y_train).to_bytes());
        let back = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(back.predict(&test).unwrap(), model.predict(&test).unwrap());
    }

    #[test]
    fn update_moves_the_model_and_equals_fitting_in_sequence() {
        let (train, y_train, test, _) = breast_cancer();
        let n = train.rows();
        let (a, b): (Vec<usize>, Vec<usize>) = ((0..n / 2).collect(), (n / 2..n).collect());
        let mut updated = fit(&train.select_rows(&a), &y_train.select_rows(&a));
        let before = updated.clone();
        updated
            .update(&train.select_rows(&b), &y_train.select_rows(&b))
            .unwrap();
        let (Model::Ftrl(old), Model::Ftrl(new)) = (&before, &updated) else {
            panic!()
        };
        assert_ne!(old.weights(), new.weights(), "update moved nothing");
        assert_eq!(new.rows_seen(), n as u64);
        assert_ne!(
            before.predict(&test).unwrap(),
            updated.predict(&test).unwrap()
        );
        // A then B is A + B, in FTRL's sequential sense: byte-identical.
        let whole = fit(&train, &y_train);
        assert_eq!(updated.to_bytes(), whole.to_bytes());
    }

    #[test]
    fn update_refuses_unknown_labels_and_other_models() {
        let (train, y_train, _, _) = breast_cancer();
        let mut model = fit(&train, &y_train);
        let rows: Vec<usize> = (0..3).collect();
        let err = model
            .update(&train.select_rows(&rows), &Target::classes(&[0, 1, 5]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("label 5"), "{err}");
        let params = HyperParams::new(BTreeMap::from([("l1".to_string(), HyperValue::Float(2.0))]));
        let err = learner("ftrl", &params, 0).err().unwrap().to_string();
        assert!(err.contains("`l1`"), "{err}");
        let mut other = learner("gaussian-nb", &HyperParams::default(), 0)
            .unwrap()
            .fit(&train, Some(&y_train))
            .unwrap();
        let err = other.update(&train, &y_train).err().unwrap().to_string();
        assert!(err.contains("cannot be updated"), "{err}");
    }
}
