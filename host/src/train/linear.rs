//! Linear models. (Being written: logistic regression, linear / ridge /
//! elastic-net regression.)

use serde::{Deserialize, Serialize};

use super::{Features, HyperParams, Learner, Predict, Predictions, TrainError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogisticModel {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearModel {}

impl Predict for LogisticModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

impl Predict for LinearModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

fn todo(_: &HyperParams, _: u64) -> Result<Box<dyn Learner>, TrainError> {
    Err(TrainError::Fit("not implemented yet".into()))
}

pub fn logistic_regression(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    todo(p, seed)
}
pub fn linear_regression(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    todo(p, seed)
}
pub fn ridge(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    todo(p, seed)
}
pub fn elastic_net(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    todo(p, seed)
}
