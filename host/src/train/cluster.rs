//! Clustering. (Being written: k-means.)

use serde::{Deserialize, Serialize};

use super::{Features, HyperParams, Learner, Predict, Predictions, TrainError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeansModel {}

impl Predict for KMeansModel {
    fn predict(&self, _x: &Features) -> Result<Predictions, TrainError> {
        Err(TrainError::Fit("not implemented yet".into()))
    }
}

pub fn k_means(_: &HyperParams, _: u64) -> Result<Box<dyn Learner>, TrainError> {
    Err(TrainError::Fit("not implemented yet".into()))
}
