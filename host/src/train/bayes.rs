//! Naive Bayes. (Being written.)

use serde::{Deserialize, Serialize};

use super::{Features, HyperParams, Learner, Predict, Predictions, TrainError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GaussianNbModel {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MultinomialNbModel {}

impl Predict for GaussianNbModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

impl Predict for MultinomialNbModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

pub fn gaussian_nb(_: &HyperParams, _: u64) -> Result<Box<dyn Learner>, TrainError> {
    Err(TrainError::Fit("not implemented yet".into()))
}
pub fn multinomial_nb(_: &HyperParams, _: u64) -> Result<Box<dyn Learner>, TrainError> {
    Err(TrainError::Fit("not implemented yet".into()))
}
