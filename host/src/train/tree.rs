//! Decision trees and random forests. (Being written.)

use serde::{Deserialize, Serialize};

use super::{Features, HyperParams, Learner, Predict, Predictions, TrainError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TreeModel {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForestModel {}

impl Predict for TreeModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

impl Predict for ForestModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

pub fn decision_tree(_: &HyperParams, _: u64) -> Result<Box<dyn Learner>, TrainError> {
    Err(TrainError::Fit("not implemented yet".into()))
}
pub fn random_forest(_: &HyperParams, _: u64) -> Result<Box<dyn Learner>, TrainError> {
    Err(TrainError::Fit("not implemented yet".into()))
}
