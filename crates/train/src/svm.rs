//! `svm`: support-vector classification by linfa-svm (SMO, C-SVC with an
//! RBF or linear kernel). Two classes give one machine; more give one
//! machine per class (one-vs-rest).
//!
//! The prediction is the sign of the decision value (one-vs-rest: the
//! largest decision value); the `score` is linfa's Platt-calibrated
//! probability (a sigmoid of the decision value fitted on the training
//! rows), as scikit-learn's `SVC(probability=True)` keeps `predict` on the
//! decision value and `predict_proba` on Platt scaling.

use linfa::dataset::Pr;
use linfa::traits::{Fit, Predict as _};
use linfa_svm::Svm;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::data::check_fit_input;
use super::linear::{check_predict_input, class_codes};
use super::{
    Features, HyperParams, Learner, Model, Predict, Predictions, Target, Task, TrainError,
};

/// linfa-svm computes the whole kernel matrix (rows² × 8 bytes): 20,000
/// training rows are 3.2 GB. Beyond that a linear model is the tool.
pub const MAX_ROWS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kernel {
    Rbf,
    Linear,
}

/// `svm`: `c` = 1.0 (> 0), `kernel` = `rbf` | `linear`, `gamma` (RBF
/// width, > 0; default scikit-learn's `scale`: 1 / (features × variance of
/// the training values)), `tol` = 1e-3 (SMO stopping threshold, > 0).
/// Deterministic; the seed is unused.
pub fn svm(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let kernel = match p.choice("kernel", &["rbf", "linear"])? {
        "rbf" => Kernel::Rbf,
        _ => Kernel::Linear,
    };
    let learner = SvmLearner {
        c: p.float("c", 1.0)?,
        kernel,
        gamma: p.optional_float("gamma")?,
        tol: p.float("tol", 1e-3)?,
    };
    HyperParams::in_range("c", learner.c, f64::MIN_POSITIVE, f64::MAX)?;
    HyperParams::in_range("tol", learner.tol, f64::MIN_POSITIVE, f64::MAX)?;
    if let Some(gamma) = learner.gamma {
        HyperParams::in_range("gamma", gamma, f64::MIN_POSITIVE, f64::MAX)?;
    }
    p.finish()?;
    Ok(Box::new(learner))
}

#[derive(Debug, Clone)]
pub struct SvmLearner {
    pub c: f64,
    pub kernel: Kernel,
    pub gamma: Option<f64>,
    pub tol: f64,
}

/// The fitted machines: one for two classes (positive = the larger
/// label), else one per class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SvmModel {
    classes: Vec<i64>,
    n_features: usize,
    machines: Vec<Svm<f64, Pr>>,
}

impl SvmModel {
    /// Support vectors per machine.
    pub fn support_vectors(&self) -> Vec<usize> {
        self.machines.iter().map(|m| m.nsupport()).collect()
    }
}

/// scikit-learn's `gamma="scale"`: 1 / (features × variance of all values).
fn scale_gamma(x: &Array2<f64>) -> f64 {
    let variance = x.var(0.0);
    if variance > 0.0 {
        1.0 / (x.ncols() as f64 * variance)
    } else {
        1.0
    }
}

impl Learner for SvmLearner {
    fn algorithm(&self) -> &'static str {
        "svm"
    }

    fn task(&self) -> Task {
        Task::Classification
    }

    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, y)?;
        let x = x.dense("svm")?;
        if x.nrows() > MAX_ROWS {
            return Err(TrainError::Data(format!(
                "svm keeps a kernel matrix of rows²: {} training rows is over its bound of {MAX_ROWS}",
                x.nrows()
            )));
        }
        let (classes, codes) = class_codes(y, "svm")?;
        let params = Svm::<f64, Pr>::params()
            .pos_neg_weights(self.c, self.c)
            .eps(self.tol);
        let params = match self.kernel {
            // linfa's Gaussian kernel is exp(-|a - b|² / eps): eps = 1 / gamma
            Kernel::Rbf => {
                params.gaussian_kernel(1.0 / self.gamma.unwrap_or_else(|| scale_gamma(x)))
            }
            Kernel::Linear => params.linear_kernel(),
        };
        let positives: Vec<usize> = if classes.len() == 2 {
            vec![1]
        } else {
            (0..classes.len()).collect()
        };
        let mut machines = Vec::with_capacity(positives.len());
        for positive in positives {
            let targets: Array1<bool> = codes.iter().map(|&c| c == positive).collect();
            let dataset = linfa::DatasetBase::new(x.view(), targets.view());
            let machine = params
                .fit(&dataset)
                .map_err(|e| TrainError::Fit(format!("svm: {e}")))?;
            machines.push(machine);
        }
        tracing::debug!(machines = machines.len(), "svm fitted");
        Ok(Model::Svm(SvmModel {
            classes,
            n_features: x.ncols(),
            machines,
        }))
    }
}

impl Predict for SvmModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.n_features)?;
        let x = x.dense("svm")?;
        let k = self.classes.len();
        let mut proba = Array2::zeros((x.nrows(), k));
        let mut predicted = Vec::with_capacity(x.nrows());
        for (r, row) in x.outer_iter().enumerate() {
            let decision = |m: &Svm<f64, Pr>| m.weighted_sum(&row) - m.rho;
            let probability = |m: &Svm<f64, Pr>| f64::from(*m.predict(row.view()));
            if let [machine] = self.machines.as_slice() {
                let p = probability(machine);
                proba[[r, 0]] = 1.0 - p;
                proba[[r, 1]] = p;
                predicted.push(self.classes[usize::from(decision(machine) >= 0.0)]);
            } else {
                let mut best = (0, f64::NEG_INFINITY);
                for (c, machine) in self.machines.iter().enumerate() {
                    proba[[r, c]] = probability(machine);
                    let d = decision(machine);
                    if d > best.1 {
                        best = (c, d);
                    }
                }
                let total: f64 = proba.row(r).sum();
                if total > 0.0 {
                    proba.row_mut(r).mapv_inplace(|p| p / total);
                }
                predicted.push(self.classes[best.0]);
            }
        }
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

    fn fit(params: &[(&str, HyperValue)], x: &Features, y: &Target) -> Model {
        let params = HyperParams::new(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        );
        learner("svm", &params, 0).unwrap().fit(x, Some(y)).unwrap()
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

    #[test]
    fn separates_breast_cancer_and_round_trips() {
        let (x, y) = testdata::classification("breast_cancer");
        let split = train_test_split(&y, 0.25, 0).unwrap();
        let (train, test) =
            testdata::standardise(&x.select_rows(&split.train), &x.select_rows(&split.test));
        let (y_train, y_test) = (y.select_rows(&split.train), y.select_rows(&split.test));
        let model = fit(&[], &train, &y_train);
        // scikit-learn's SVC() reaches about 0.97 on this split too.
        let held_out = accuracy(&model, &test, &y_test);
        assert!(held_out > 0.95, "{held_out}");
        let bytes = model.to_bytes();
        assert_eq!(bytes, fit(&[], &train, &y_train).to_bytes());
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back.predict(&test).unwrap(), model.predict(&test).unwrap());
        let linear = fit(
            &[("kernel", HyperValue::Text("linear".into()))],
            &train,
            &y_train,
        );
        assert!(accuracy(&linear, &test, &y_test) > 0.94);
        // Platt probabilities agree with the decision on most rows.
        let Predictions::Classes {
            predicted, proba, ..
        } = model.predict(&test).unwrap()
        else {
            panic!()
        };
        let proba = proba.unwrap();
        let agree = predicted
            .iter()
            .enumerate()
            .filter(|(r, p)| (proba[[*r, 1]] >= 0.5) == (**p == 1))
            .count();
        assert!(agree as f64 / predicted.len() as f64 > 0.95);
    }

    #[test]
    fn one_vs_rest_for_three_classes() {
        let (x, y) = testdata::classification("wine");
        let (x, _) = testdata::standardise(&x, &x);
        let model = fit(&[("c", HyperValue::Float(10.0))], &x, &y);
        assert!(accuracy(&model, &x, &y) > 0.97);
        let Predictions::Classes { proba, .. } = model.predict(&x).unwrap() else {
            panic!()
        };
        for row in proba.unwrap().outer_iter() {
            assert!((row.sum() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn rejects_bad_settings_and_sparse_input() {
        let bad = |key: &str, value: HyperValue| {
            let params = HyperParams::new(BTreeMap::from([(key.to_string(), value)]));
            learner("svm", &params, 0).err().unwrap().to_string()
        };
        assert!(bad("c", HyperValue::Float(0.0)).contains("`c`"));
        assert!(bad("gamma", HyperValue::Float(-1.0)).contains("`gamma`"));
        assert!(bad("kernel", HyperValue::Text("sigmoid".into())).contains("`kernel`"));
        assert!(bad("kernel", HyperValue::Int(1)).contains("`kernel`"));
        assert!(bad("degree", HyperValue::Int(3)).contains("`degree`"));
        let sparse = Features::Sparse(crate::SparseMatrix {
            dim: 2,
            row_offsets: vec![0, 1, 2],
            indices: vec![0, 1],
            values: vec![1.0, 1.0],
        });
        let err = learner("svm", &HyperParams::default(), 0)
            .unwrap()
            .fit(&sparse, Some(&Target::classes(&[0, 1])))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("dense features only"), "{err}");
    }
}
